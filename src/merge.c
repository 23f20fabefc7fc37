/*
 * merge.c: the config in force after a reload of one program.
 *
 * `handoff reload PROGRAM` changes that program and nothing else: its
 * settings and listeners come from the file, every other program and the
 * [supervisor] section stay as they are in force. The result is a config
 * that no file holds; the supervisor keeps it in memory and status shows
 * it. A listener that other programs also use keeps the options in force
 * until a reload that includes them.
 */
#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cause.h"
#include "config.h"
#include "hashmap.h"
#include "merge.h"
#include "parse.h"

/* Copy a NULL-terminated string vector; NULL if out of memory. */
static char **
merge_copy_argv(char *const *argv)
{
	char **copy;
	size_t n = 0, i;

	while (argv != NULL && argv[n] != NULL)
		n++;
	if ((copy = calloc(n + 1, sizeof(*copy))) == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		if ((copy[i] = strdup(argv[i])) == NULL) {
			argv_free(copy);
			return NULL;
		}
	}
	return copy;
}

/* Duplicate a string that may be NULL; false if out of memory. */
static bool
merge_copy_string(char **dst, const char *src)
{
	*dst = NULL;
	return src == NULL || (*dst = strdup(src)) != NULL;
}

/*
 * The text of the merged config, made of the sections it takes from the
 * configs merged, in its order, so that it reads back as the same config
 * (an upgrade carries the config in force as text). None when a config
 * merged has no text.
 */
struct merge_text {
	char	*text;
	size_t	 len;
	size_t	 cap;
	bool	 none;
	/* The file read now: only its sections keep their line numbers. */
	const struct config *file;
};

/*
 * Append the section of from's text at at, len bytes long, ending it with
 * a newline if it has none; *new_at and *new_len say where it is in the
 * merged text. -1 if out of memory.
 */
static int
merge_text_add(struct merge_text *mt, const struct config *from, size_t at,
    size_t len, size_t *new_at, size_t *new_len)
{
	bool newline;
	size_t need;
	char *grown;

	*new_at = *new_len = 0;
	if (mt->none || from->text == NULL || at > from->text_len ||
	    len > from->text_len - at) {
		mt->none = true;
		return 0;
	}
	newline = len > 0 && from->text[at + len - 1] != '\n';
	need = mt->len + len + newline + 1;
	if (need > mt->cap) {
		if ((grown = realloc(mt->text, need * 2)) == NULL)
			return -1;
		mt->text = grown;
		mt->cap = need * 2;
	}
	memcpy(mt->text + mt->len, from->text + at, len);
	if (newline)
		mt->text[mt->len + len] = '\n';
	*new_at = mt->len;
	*new_len = len + newline;
	mt->len += *new_len;
	mt->text[mt->len] = '\0';
	return 0;
}

/*
 * Append a copy of lc, a listener of from, to conf and its section to mt
 * (users counted again by config_finish).
 */
static int
merge_add_listener(struct config *conf, struct merge_text *mt,
    const struct config *from, const struct listener_conf *lc)
{
	struct listener_conf *copy;

	if ((copy = calloc(1, sizeof(*copy))) == NULL)
		return -1;
	*copy = *lc;
	copy->users = 0;
	/* A section in force has no line in the file read now. */
	if (from != mt->file) {
		copy->line = 0;
		copy->in_force = true;
	}
	/* Not lc's strings: a failed copy frees only its own. */
	copy->name = copy->fd_name = copy->listen = NULL;
	if (!merge_copy_string(&copy->name, lc->name) ||
	    !merge_copy_string(&copy->fd_name, lc->fd_name) ||
	    !merge_copy_string(&copy->listen, lc->listen)) {
		free(copy->name);
		free(copy->fd_name);
		free(copy->listen);
		free(copy);
		return -1;
	}
	if (merge_text_add(mt, from, lc->text_at, lc->text_len,
	    &copy->text_at, &copy->text_len) == -1) {
		free(copy->name);
		free(copy->fd_name);
		free(copy->listen);
		free(copy);
		return -1;
	}
	config_append_listener(conf, copy);
	return 0;
}

/*
 * Compile pc's ready = log: pattern again into copy, which must not share
 * pc's: each config frees its own. 0, or -1 if out of memory.
 */
static int
merge_copy_ready_log(struct program_conf *copy, const struct program_conf *pc)
{
	char *words, *cause = NULL;
	int rc;

	if (pc->ready != READY_LOG || pc->ready_log == NULL)
		return 0;
	if (asprintf(&words, "log:%s", pc->ready_log) == -1)
		return -1;
	/* It compiled once: only memory can fail it now. */
	rc = program_conf_set_ready(copy, words, &cause);
	free(words);
	free(cause);
	return rc;
}

/*
 * Append a copy of pc, a program of from, to conf and its section to mt.
 * Every scalar setting is copied as it is; the strings, vectors and the
 * compiled ready = log: pattern are made again, and the resolved
 * listeners are left for config_finish to find in conf. The copy is
 * indexed by name once whole (it is in the list before it has a name).
 */
static int
merge_add_program(struct config *conf, struct merge_text *mt,
    const struct config *from, const struct program_conf *pc)
{
	struct program_conf *copy;

	if ((copy = calloc(1, sizeof(*copy))) == NULL)
		return -1;
	*copy = *pc;
	/* A section in force has no line in the file read now. */
	if (from != mt->file)
		copy->line = copy->listeners_line = 0;
	copy->listeners = NULL;
	copy->name = copy->command = copy->user = copy->group = NULL;
	copy->directory = NULL;
	copy->argv = copy->listener_names = copy->env = NULL;
	copy->ready_log = NULL;
	copy->ready_log_re = NULL;
	/* In the list first, so that config_free releases a partial copy. */
	TAILQ_INSERT_TAIL(&conf->programs, copy, entry);
	conf->nprograms++;
	if (!merge_copy_string(&copy->name, pc->name) ||
	    !merge_copy_string(&copy->command, pc->command) ||
	    !merge_copy_string(&copy->user, pc->user) ||
	    !merge_copy_string(&copy->group, pc->group) ||
	    !merge_copy_string(&copy->directory, pc->directory) ||
	    (copy->argv = merge_copy_argv(pc->argv)) == NULL ||
	    (copy->listener_names = merge_copy_argv(pc->listener_names)) == NULL ||
	    (copy->env = merge_copy_argv(pc->env)) == NULL ||
	    merge_copy_ready_log(copy, pc) == -1 ||
	    merge_text_add(mt, from, pc->text_at, pc->text_len,
	    &copy->text_at, &copy->text_len) == -1)
		return -1;
	config_index_program(conf, copy);
	return 0;
}

/*
 * The names of the listeners that the programs of conf other than except
 * use, as a table; NULL if out of memory.
 */
static struct hashmap *
merge_names_of_others(const struct config *conf, const char *except)
{
	const struct program_conf *pc;
	struct hashmap *names;
	size_t i;

	if ((names = hashmap_new(conf->nlisteners)) == NULL)
		return NULL;
	TAILQ_FOREACH(pc, &conf->programs, entry) {
		if (strcmp(pc->name, except) == 0)
			continue;
		for (i = 0; i < pc->nlisteners; i++) {
			if (hashmap_add(names, pc->listener_names[i],
			    strlen(pc->listener_names[i]), (void *)pc) == -1) {
				hashmap_free(names);
				return NULL;
			}
		}
	}
	return names;
}

/* Tell whether listener name is in a table of merge_names_of_others. */
static bool
merge_used_by_others(const struct hashmap *others, const char *name)
{
	return hashmap_get(others, name, strlen(name)) != NULL;
}

/* Tell whether program pc names listener name. */
static bool
merge_program_uses(const struct program_conf *pc, const char *name)
{
	size_t i;

	for (i = 0; i < pc->nlisteners; i++)
		if (strcmp(pc->listener_names[i], name) == 0)
			return true;
	return false;
}

/*
 * The config in force after reloading only program `name` from `fresh`:
 * `current` with that program's section, and the listeners only it uses,
 * taken from `fresh`. Returns NULL with *cause set if the two cannot be
 * merged (the program is missing from either, or it changes the address
 * of a listener that other programs use too) or if the result does not
 * hold together (an address conflict); nothing is changed either way.
 */
struct config *
merge_program(const struct config *current, const struct config *fresh,
    const char *name, char **cause)
{
	const struct program_conf *pc, *fresh_pc, *cur_pc;
	const struct listener_conf *lc, *kept, *fresh_lc;
	struct config_msgs msgs;
	struct merge_text mt = { NULL, 0, 0, false, fresh };
	struct config *merged = NULL;
	struct hashmap *others;
	char where[ADDR_STRLEN], was[ADDR_STRLEN];
	size_t i;
	bool uses_fresh;

	*cause = NULL;
	cur_pc = config_find_program(current, name);
	if ((fresh_pc = config_find_program(fresh, name)) == NULL || cur_pc == NULL) {
		cause_set(cause, "program %s is not in the %s config", name,
		    fresh_pc == NULL ? "new" : "running");
		return NULL;
	}
	if ((others = merge_names_of_others(current, name)) == NULL)
		goto nomem;
	/* A shared listener may not move under the other programs' feet. */
	for (i = 0; i < fresh_pc->nlisteners; i++) {
		lc = fresh_pc->listeners[i];
		if (!merge_used_by_others(others, lc->name) ||
		    (kept = config_find_listener(current, lc->name)) == NULL ||
		    addr_equal(&kept->addr, &lc->addr))
			continue;
		addr_format(&kept->addr, was, sizeof(was));
		addr_format(&lc->addr, where, sizeof(where));
		cause_set(cause, "listener %s is also used by other programs: "
		    "moving it from %s to %s needs a reload of every program "
		    "(handoff reload without a program name)", lc->name, was,
		    where);
		hashmap_free(others);
		return NULL;
	}

	if ((merged = config_new(fresh->path)) == NULL)
		goto nomem;
	merged->supervisor.log_level = current->supervisor.log_level;
	if (!merge_copy_string(&merged->supervisor.name, current->supervisor.name) ||
	    !merge_copy_string(&merged->supervisor.control,
	    current->supervisor.control) ||
	    !merge_copy_string(&merged->supervisor.pidfile,
	    current->supervisor.pidfile) ||
	    merge_text_add(&mt, current, current->supervisor.text_at,
	    current->supervisor.text_len, &merged->supervisor.text_at,
	    &merged->supervisor.text_len) == -1)
		goto nomem;
	/*
	 * Listeners, in the order in force: those that are not the program's
	 * alone, as they are; the program's own as the file has them now
	 * (gone if it dropped them); then its new ones. The order kept, a
	 * reload that changes no listener is seen to change none
	 * (listener_set_same).
	 */
	TAILQ_FOREACH(lc, &current->listeners, entry) {
		uses_fresh = merge_program_uses(fresh_pc, lc->name);
		if ((merge_program_uses(cur_pc, lc->name) || uses_fresh) &&
		    !merge_used_by_others(others, lc->name)) {
			if (uses_fresh && (fresh_lc = config_find_listener(fresh,
			    lc->name)) != NULL &&
			    merge_add_listener(merged, &mt, fresh, fresh_lc) == -1)
				goto nomem;
			continue;
		}
		if (merge_add_listener(merged, &mt, current, lc) == -1)
			goto nomem;
	}
	for (i = 0; i < fresh_pc->nlisteners; i++) {
		lc = fresh_pc->listeners[i];
		if (config_find_listener(merged, lc->name) == NULL &&
		    merge_add_listener(merged, &mt, fresh, lc) == -1)
			goto nomem;
	}
	TAILQ_FOREACH(pc, &current->programs, entry) {
		if (strcmp(pc->name, name) == 0 ?
		    merge_add_program(merged, &mt, fresh, fresh_pc) == -1 :
		    merge_add_program(merged, &mt, current, pc) == -1)
			goto nomem;
	}
	/* The text in force, for an upgrade to read back. */
	if (!mt.none) {
		merged->text = mt.text;
		merged->text_len = mt.len;
		mt.text = NULL;
	}
	free(mt.text);

	hashmap_free(others);
	others = NULL;
	config_msgs_init(&msgs);
	if (config_finish(merged, &msgs) == -1) {
		for (i = 0; i < msgs.count; i++)
			if (msgs.is_error[i])
				break;
		cause_set(cause, "reloading only program %s: %s", name,
		    i < msgs.count ? msgs.lines[i] : "the result does not hold "
		    "together");
		config_msgs_free(&msgs);
		config_free(merged);
		return NULL;
	}
	config_msgs_free(&msgs);
	return merged;

nomem:
	hashmap_free(others);
	free(mt.text);
	config_free(merged);
	*cause = strdup("out of memory");
	return NULL;
}
