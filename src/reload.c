/*
 * reload.c: a reload's steps (see reload.h). The supervisor runs them in
 * order: reload_config (what config the reload runs), reload_new,
 * reload_bind (which listeners to keep), reload_start (a new generation
 * of each program), then reload_commit or reload_abort: reload_owns
 * and reload_gen_ready say which, as the generations' events come
 * (reload_cancel ends it when the supervisor stops meanwhile). The
 * supervisor says what happened to control clients and to systemd; these
 * steps change only the programs, their generations and the reload's own
 * state. A reload asked for meanwhile waits in a reload_queue.
 */
#include "autoconf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cause.h"
#include "config.h"
#include "confpath.h"
#include "fitline.h"
#include "generation.h"
#include "hashmap.h"
#include "listener.h"
#include "log.h"
#include "loopstat.h"
#include "merge.h"
#include "program.h"
#include "reload.h"
#include "spawn.h"

/* Tell whether two optional strings are equal. */
static bool
reload_same_string(const char *a, const char *b)
{
	return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/*
 * The most a sentence naming [supervisor] keys takes: the note of a
 * reload of one program goes in a progress line, the refusal of a full
 * reload in the status's last reload message, 512 bytes each with the
 * NUL. Values are cut to fit, never the keys.
 */
#define RELOAD_KEYS_TEXT_MAX	511

/* A [supervisor] key whose value differs between two configs. */
struct reload_key_change {
	const char	*key;
	const char	*was;		/* in force; NULL: not set */
	const char	*is;		/* in the file; NULL: not set */
};

/*
 * Tell whether the control socket (control) or the pidfile, in force and
 * in the file, is each the default of its config's name: then it moves
 * because the name does, and is not a key of its own that changed.
 */
static bool
reload_path_follows_name(const struct supervisor_conf *now,
    const struct supervisor_conf *next, bool control)
{
	const char *now_path = control ? now->control : now->pidfile;
	const char *next_path = control ? next->control : next->pidfile;
	char *now_default = NULL, *next_default = NULL;
	bool follows = false;

	if (now->name == NULL || next->name == NULL)
		return false;
	config_default_paths(now->name, control ? &now_default : NULL,
	    control ? NULL : &now_default);
	config_default_paths(next->name, control ? &next_default : NULL,
	    control ? NULL : &next_default);
	if (now_default != NULL && next_default != NULL)
		follows = reload_same_string(now_path, now_default) &&
		    reload_same_string(next_path, next_default);
	free(now_default);
	free(next_default);
	return follows;
}

/*
 * Find the [supervisor] keys that next sets otherwise than now, in ch (4
 * at most), and count them: those only a restart may change (the name a
 * running supervisor answers and is found by, the control socket, the
 * pidfile; a path that follows the name is not counted apart from it),
 * then, with any_key, log_level, unless --log-level holds it (no reload
 * changes it then).
 */
static size_t
reload_supervisor_changes(const struct supervisor_conf *now,
    const struct supervisor_conf *next, bool any_key,
    struct reload_key_change *ch)
{
	size_t n = 0;

	if (!reload_same_string(now->name, next->name))
		ch[n++] = (struct reload_key_change){ "name", now->name,
		    next->name };
	if (!reload_same_string(now->control, next->control) &&
	    !reload_path_follows_name(now, next, true))
		ch[n++] = (struct reload_key_change){ "control", now->control,
		    next->control };
	if (!reload_same_string(now->pidfile, next->pidfile) &&
	    !reload_path_follows_name(now, next, false))
		ch[n++] = (struct reload_key_change){ "pidfile", now->pidfile,
		    next->pidfile };
	if (any_key && !log_level_pinned() &&
	    now->log_level != next->log_level)
		ch[n++] = (struct reload_key_change){ "log_level",
		    log_level_name(now->log_level),
		    log_level_name(next->log_level) };
	return n;
}

/* Add to fl the keys of ch[0..n) as a list: "a", "a and b", "a, b and c". */
static void
reload_key_list(struct fitline *fl, const struct reload_key_change *ch,
    size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (i > 0)
			fitline_word(fl, i + 1 < n ? ", " : " and ");
		fitline_word(fl, ch[i].key);
	}
}

/*
 * Add to fl "[supervisor] " and each key of ch[0..n) with its two values,
 * "; " between keys: the key, words[0], one value, words[1], the other,
 * words[2]; the file's value first with file_first, else the one in
 * force.
 */
static void
reload_key_values(struct fitline *fl, const struct reload_key_change *ch,
    size_t n, const char *const words[3], bool file_first)
{
	const char *first, *second;
	size_t i;

	fitline_word(fl, "[supervisor] ");
	for (i = 0; i < n; i++) {
		first = file_first ? ch[i].is : ch[i].was;
		second = file_first ? ch[i].was : ch[i].is;
		if (i > 0)
			fitline_word(fl, "; ");
		fitline_word(fl, ch[i].key);
		fitline_word(fl, words[0]);
		fitline_value(fl, first, second);
		fitline_word(fl, words[1]);
		fitline_value(fl, second, first);
		fitline_word(fl, words[2]);
	}
}

/*
 * The note of a reload of program only, which keeps [supervisor] as in
 * force while the file changes the n keys of ch: each with its two
 * values, then what applies them. NULL without memory.
 */
static char *
reload_note(const struct reload_key_change *ch, size_t n, const char *only)
{
	static const char *const note_words[] = { " is ", " in the file, ",
	    " in force" };
	struct fitline fl = { .n = 0 };
	bool log_level = strcmp(ch[n - 1].key, "log_level") == 0;

	reload_key_values(&fl, ch, n, note_words, true);
	fitline_word(&fl, ": a reload of program ");
	fitline_word(&fl, only);
	fitline_word(&fl, " keeps [supervisor] as it is (");
	if (n == 1 && log_level)
		fitline_word(&fl, "handoff reload without a program name "
		    "applies it)");
	else if (!log_level)
		fitline_word(&fl, n == 1 ? "a restart of handoff applies it)" :
		    "a restart of handoff applies them)");
	else {
		fitline_word(&fl, "a restart of handoff applies ");
		reload_key_list(&fl, ch, n - 1);
		fitline_word(&fl, ", handoff reload without a program name "
		    "applies log_level)");
	}
	return fitline_join(&fl, RELOAD_KEYS_TEXT_MAX);
}

/*
 * Why a full reload is refused when the file changes the n keys of ch,
 * which only a restart changes. NULL without memory.
 */
static char *
reload_refusal(const struct reload_key_change *ch, size_t n)
{
	static const char *const refusal_words[] = { " changed from ", " to ",
	    "" };
	struct fitline fl = { .n = 0 };

	reload_key_values(&fl, ch, n, refusal_words, false);
	fitline_word(&fl, n == 1 ? ": it changes" : ": they change");
	fitline_word(&fl, " only when handoff restarts (stop and start it); "
	    "a reload may change log_level, listeners and programs");
	return fitline_join(&fl, RELOAD_KEYS_TEXT_MAX);
}

/*
 * Turn the config just loaded into the one a reload runs: for a reload of
 * one program, the config in force (now) with that program's part
 * replaced; for a full reload, the file's, unless it changes a
 * [supervisor] key that only a restart may change. Takes the reference
 * *conf holds and replaces it; -1 with *cause (and *conf released) if the
 * reload must be refused, naming every such key. A reload of one program
 * keeps [supervisor] as in force: when the file sets keys of it
 * otherwise, *note says which and what would apply them (else it is
 * NULL); the caller frees it.
 */
int
reload_config(const struct config *now_conf, struct config **conf,
    const char *only, char **note, char **cause)
{
	const struct supervisor_conf *now = &now_conf->supervisor;
	const struct supervisor_conf *next = &(*conf)->supervisor;
	struct reload_key_change ch[4];
	struct config *merged;
	size_t n;

	*note = NULL;
	if (only != NULL) {
		if ((n = reload_supervisor_changes(now, next, true, ch)) > 0)
			*note = reload_note(ch, n, only);
		merged = merge_program(now_conf, *conf, only, cause);
		config_unref(*conf);
		*conf = merged;
		if (merged != NULL)
			return 0;
		free(*note);
		*note = NULL;
		return -1;
	}
	if ((n = reload_supervisor_changes(now, next, false, ch)) == 0)
		return 0;
	*cause = reload_refusal(ch, n);
	config_unref(*conf);
	*conf = NULL;
	return -1;
}

/* A reload of conf (its reference is taken), or NULL without memory. */
struct reload *
reload_new(struct config *conf, const char *only, bool initial,
    unsigned int id)
{
	struct reload *r;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	if (only != NULL && (r->only = strdup(only)) == NULL) {
		free(r);
		return NULL;
	}
	r->conf = conf;
	r->initial = initial;
	r->id = id;
	clock_gettime(CLOCK_MONOTONIC, &r->started);
	return r;
}

/* Free a finished reload's leftovers (the new state it did not commit). */
void
reload_free(struct reload *r)
{
	if (r == NULL)
		return;
	free(r->only);
	listener_set_clear(&r->listeners);
	config_unref(r->conf);
	free(r);
}

/* Append l to set (no reference taken). */
static int
reload_add_known(struct listener_set *set, size_t *space, struct listener *l)
{
	struct listener **grown;

	if (set->count == *space) {
		grown = reallocarray(set->items, *space * 2 + 16, sizeof(*grown));
		if (grown == NULL)
			return -1;
		set->items = grown;
		*space = *space * 2 + 16;
	}
	set->items[set->count++] = l;
	return 0;
}

/*
 * Every listener still open: the set in force's, and those only draining
 * generations hold (some more than once: listener_set_update takes that). A reload may take any of them back (a
 * listener removed and added again while its old generation drains keeps
 * its socket, where binding anew would find the address in use by
 * ourselves). The set holds no references: free its items only.
 */
static int
reload_known_listeners(const struct listener_set *now,
    struct program_list *progs, struct listener_set *set)
{
	struct program *prog;
	struct generation *gen;
	size_t i, space = 0;

	set->items = NULL;
	set->count = 0;
	for (i = 0; i < now->count; i++)
		if (reload_add_known(set, &space, now->items[i]) == -1)
			return -1;
	TAILQ_FOREACH(prog, progs, entry)
		TAILQ_FOREACH(gen, &prog->gens, entry)
			for (i = 0; i < gen->nlisteners; i++)
				if (reload_add_known(set, &space,
				    gen->listeners[i]) == -1)
					return -1;
	return 0;
}

/*
 * Decide the reload's listeners: those of its config that are open
 * already (same address and options) are kept, socket and all; the rest
 * are bound. -1 with *cause if one cannot be bound: nothing changed.
 */
int
reload_bind(struct reload *r, const struct listener_set *now,
    struct program_list *progs, char **cause)
{
	struct listener_set known = { NULL, 0, NULL };
	int rc = -1;

	/*
	 * The common case, without matching each listener by its keys (out
	 * of memory there, the general way says so).
	 */
	if (listener_set_same(now, r->conf, &r->listeners) == 1) {
		r->listeners_unchanged = true;
		return 0;
	}
	if (reload_known_listeners(now, progs, &known) == -1)
		*cause = strdup("out of memory");
	else
		rc = listener_set_update(&known, r->conf, &r->listeners, cause);
	free(known.items);
	return rc;
}

/* The uid a program's workers run as. */
uid_t
reload_worker_uid(const struct program_conf *pc)
{
	return pc->user != NULL ? pc->uid : geteuid();
}

/*
 * Fds a reload takes besides its workers' starts (spawn_fds_needed): a
 * new generation's descendants cgroup (its directory and cgroup.procs,
 * descendants.c), and a few the supervisor opens for a moment meanwhile
 * (the workers' record, a file of /proc, a sock_diag socket).
 */
#define RELOAD_FDS_PER_GEN	2
#define RELOAD_FDS_SLACK	8

/*
 * The fds reload r takes, at most, beyond those open before it starts
 * (its listeners are bound by then: reload_bind); *nworkers: how many
 * workers it starts. The old generations keep theirs while they drain.
 */
long
reload_fds_needed(const struct reload *r, long *nworkers)
{
	const struct program_conf *pc;
	long out = 0, gens = 0;

	*nworkers = 0;
	TAILQ_FOREACH(pc, &r->conf->programs, entry) {
		if (r->only != NULL && strcmp(pc->name, r->only) != 0)
			continue;
		gens++;
		*nworkers += pc->workers;
		if (pc->output != OUTPUT_DISCARD)
			out += pc->workers;
	}
	if (gens == 0)
		return 0;
	return spawn_fds_needed(out) + gens * RELOAD_FDS_PER_GEN +
	    RELOAD_FDS_SLACK;
}

/* Tell those following the reload. */
static void
reload_progress(const struct reload_env *env, unsigned int id,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void
reload_progress(const struct reload_env *env, unsigned int id,
    const char *fmt, ...)
{
	char line[512];
	va_list ap;

	if (env->progress == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	env->progress(env->arg, id, line);
}

/* Forget the generations a reload made but did not start (no memory). */
static void
reload_unmake(struct program_list *progs)
{
	struct program *prog;
	struct generation *gen;

	TAILQ_FOREACH(prog, progs, entry) {
		if ((gen = prog->starting) == NULL)
			continue;
		prog->starting = NULL;
		TAILQ_REMOVE(&prog->gens, gen, entry);
		gen_free(gen);
	}
}

/* Make a new generation of every program the reload starts. */
static int
reload_make(struct reload *r, struct program_list *progs,
    const struct reload_env *env, char **cause)
{
	struct listener *ls[MAX_LISTENERS_PER_PROGRAM];
	struct program_conf *pc;
	struct program *prog;
	struct generation *gen;
	struct hashmap *index;
	size_t i;

	/* Without memory for it, each lookup walks the list. */
	index = r->only == NULL ? program_index(progs) : NULL;
	TAILQ_FOREACH(pc, &r->conf->programs, entry) {
		if (r->only != NULL && strcmp(pc->name, r->only) != 0)
			continue;
		for (i = 0; i < pc->nlisteners; i++)
			ls[i] = listener_set_for(&r->listeners, r->conf,
			    pc->listeners[i]);
		if ((prog = program_get_indexed(progs, index,
		    pc->name)) == NULL ||
		    (gen = gen_new(env->base, r->conf, pc, ls,
		    prog->next_number, env->notify_path(env->arg,
		    reload_worker_uid(pc)), env->ops, env->pids, env->groups,
		    env->gen_cb, env->arg)) == NULL) {
			*cause = strdup("out of memory");
			hashmap_free(index);
			reload_unmake(progs);
			return -1;
		}
		prog->next_number++;
		TAILQ_INSERT_TAIL(&prog->gens, gen, entry);
		gen->prog = prog;
		prog->starting = gen;
		r->pending++;
	}
	hashmap_free(index);
	return 0;
}

/*
 * Make a new generation of every program the reload starts, then start
 * them. -1 with *cause ("PROGRAM gen N: why") if one cannot start: the
 * caller aborts the reload.
 */
int
reload_start(struct reload *r, struct program_list *progs,
    const struct reload_env *env, char **cause)
{
	struct program *prog;
	struct generation *gen;
	char *why = NULL;

	if (reload_make(r, progs, env, cause) == -1)
		return -1;
	TAILQ_FOREACH(prog, progs, entry) {
		if ((gen = prog->starting) == NULL)
			continue;
		reload_progress(env, r->id, "%s gen %u starting %d worker%s",
		    gen->program, gen->number, gen->nworkers,
		    gen->nworkers == 1 ? "" : "s");
		if (gen_start(gen, &why) == -1) {
			cause_set(cause, "%s gen %u: %s", gen->program,
			    gen->number, cause_text(why));
			free(why);
			return -1;
		}
	}
	return 0;
}

/*
 * Tell whether gen is one the reload r (NULL: none in progress) started
 * and has not committed or aborted: its events decide the reload. A
 * generation of an earlier reload, a running or draining one, is not.
 */
bool
reload_owns(const struct reload *r, const struct generation *gen)
{
	return r != NULL && gen->prog != NULL && gen->prog->starting == gen;
}

/*
 * Count the reload's generation gen ready (one that is not the reload's
 * does not count); true when it was the last one not ready: the caller
 * commits the reload.
 */
bool
reload_gen_ready(struct reload *r, const struct generation *gen)
{
	if (!reload_owns(r, gen))
		return false;
	return --r->pending == 0;
}

/*
 * Every new generation is ready: they take over and the ones they
 * replace (and those of programs the config removed) drain. All take
 * over first, and those following the reload are told (env->took_over)
 * before any old generation is: telling one to drain signals each of its
 * workers, which takes time (some 15 us a worker) and wakes them all.
 * Fills summary ("a gen 2, b gen 3"); returns how many generations drain.
 */
int
reload_commit(struct reload *r, struct program_list *progs,
    const struct reload_env *env, char *summary, size_t len)
{
	struct program *prog;
	struct generation *old;
	uint64_t ms = elapsed_ms(&r->started);
	size_t n;
	int draining = 0;

	summary[0] = '\0';
	if (!r->listeners_unchanged)
		listener_set_commit(&r->listeners, r->conf);
	TAILQ_FOREACH(prog, progs, entry) {
		old = prog->current;
		if (prog->starting != NULL) {
			gen_promote(prog->starting);
			prog->current = prog->starting;
			prog->starting = NULL;
			n = strlen(summary);
			snprintf(summary + n, len - n, "%s%s gen %u",
			    n ? ", " : "", prog->name, prog->current->number);
			reload_progress(env, r->id, "%s gen %u took over in "
			    "%llums", prog->name, prog->current->number,
			    (unsigned long long)ms);
		} else if (r->only == NULL &&
		    config_find_program(r->conf, prog->name) == NULL) {
			prog->current = NULL;
			if (old != NULL)
				log_info("%s: removed from the config", prog->name);
		} else
			continue;
		prog->replaced = old;
	}
	if (env->took_over != NULL)
		env->took_over(env->arg, r->id);
	TAILQ_FOREACH(prog, progs, entry) {
		if ((old = prog->replaced) == NULL)
			continue;
		prog->replaced = NULL;
		log_info("%s gen %u: draining (%d worker%s)", old->program,
		    old->number, gen_live_processes(old),
		    gen_live_processes(old) == 1 ? "" : "s");
		reload_progress(env, r->id, "%s gen %u draining (%d left)",
		    old->program, old->number, gen_live_processes(old));
		old->drained_by = r->id;
		old->drained_by_started = r->started;
		draining++;
		loopstat_mark("drain");
		if (env->drain != NULL)
			env->drain(env->arg, old, prog->current);
		else
			gen_drain(old);
	}
	return draining;
}

/*
 * After reload_commit: the reload's listeners become the set in force
 * (in_force, which drops the listeners the reload removed). A reload of
 * the same listeners (r->listeners_unchanged) leaves that set as it is,
 * name index and all (made now if an earlier commit had no memory for
 * it). True if the set changed: its health watches must follow
 * (health_watch).
 */
bool
reload_take_listeners(struct reload *r, struct listener_set *in_force)
{
	if (r->listeners_unchanged) {
		listener_set_clear(&r->listeners);
		if (in_force->by_name == NULL)
			listener_set_commit(in_force, r->conf);
		return false;
	}
	listener_set_move(in_force, &r->listeners);
	return true;
}

/*
 * A new generation failed: every new one stops (the failed one already
 * does), as a drain does, so that none cuts the connections its ready
 * workers accepted; what ran keeps running.
 */
void
reload_abort(struct reload *r, struct program_list *progs)
{
	struct program *prog;
	struct generation *gen;

	(void)r;
	TAILQ_FOREACH(prog, progs, entry) {
		if ((gen = prog->starting) == NULL)
			continue;
		prog->starting = NULL;
		gen_abandon(gen);
	}
}

/*
 * The supervisor stops during the reload: its new generations are no
 * longer its own (their events decide nothing) and none takes over, but
 * they are left as they are, for the stop to kill or drain with every
 * other generation. Unlike reload_abort, nothing failed and nothing is
 * killed here.
 */
void
reload_cancel(struct reload *r, struct program_list *progs)
{
	struct program *prog;

	(void)r;
	TAILQ_FOREACH(prog, progs, entry)
		prog->starting = NULL;
}

/* Drop the programs queued, one by one, for a reload of every program. */
static void
reload_queue_widen(struct reload_queue *q)
{
	size_t i;

	for (i = 0; i < q->nprograms; i++)
		free(q->programs[i]);
	free(q->programs);
	q->programs = NULL;
	q->nprograms = 0;
	q->all = true;
}

/*
 * Queue a reload (of program only, or of every program if NULL) asked for
 * while one is in progress: a reload of every program covers all that is
 * queued; a program not queued yet gets a reload of its own after those
 * queued before it. Without memory for a name, every program reloads.
 * Returns whether the queue was empty before (the first request since the
 * last reload began).
 */
bool
reload_queue_add(struct reload_queue *q, const char *only)
{
	bool first = !q->queued;
	char **grown, *name;
	size_t i;

	q->queued = true;
	if (q->all)
		return first;
	if (only == NULL) {
		reload_queue_widen(q);
		return first;
	}
	for (i = 0; i < q->nprograms; i++)
		if (strcmp(q->programs[i], only) == 0)
			return first;
	if ((name = strdup(only)) == NULL || (grown = reallocarray(q->programs,
	    q->nprograms + 1, sizeof(*grown))) == NULL) {
		free(name);
		reload_queue_widen(q);
		return first;
	}
	q->programs = grown;
	q->programs[q->nprograms++] = name;
	return first;
}

/*
 * Take the next queued reload, if there is one: *only is its program (the
 * caller frees it) or NULL for every program. What else is queued stays.
 */
bool
reload_queue_take(struct reload_queue *q, char **only)
{
	if (!q->queued)
		return false;
	if (q->all) {
		*only = NULL;
		q->all = false;
	} else {
		*only = q->programs[0];
		memmove(q->programs, q->programs + 1,
		    --q->nprograms * sizeof(*q->programs));
	}
	q->queued = q->all || q->nprograms > 0;
	if (!q->queued) {
		free(q->programs);
		q->programs = NULL;
	}
	return true;
}

/* Forget what is queued. */
void
reload_queue_clear(struct reload_queue *q)
{
	reload_queue_widen(q);
	q->all = false;
	q->queued = false;
}
