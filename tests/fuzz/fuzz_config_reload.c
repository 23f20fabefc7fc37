/*
 * fuzz_config_reload.c: differential libFuzzer target for config_reload.
 * The input is two config files, A and B, split at the first "@@@@". A is
 * written to a memfd and loaded as the config in force (an input whose A
 * has an error or a warning is passed over: config_reload takes nothing
 * from such a config); then B is written over it, and config_reload of B
 * with A in force, which takes A's unchanged listener sections rather
 * than parsing them, must give what a fresh config_load of B gives: the
 * same messages in the same order, no config or the same config, field by
 * field. So must a reload of B with that config in force, and a reload
 * of A again with it in force. The same is then done the other way round
 * (B in force, A read), when B loads without a warning.
 */
#include "autoconf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_SPLIT	"@@@@"

/* Stop here with a message: libFuzzer saves the input as a crash. */
static void
fuzz_fail(const char *what, const char *name)
{
	fprintf(stderr, "fuzz_config_reload: %s%s%s\n", what,
	    name != NULL ? ": " : "", name != NULL ? name : "");
	abort();
}

/* Make the memfd hold exactly len bytes of text. */
static void
fuzz_write(int fd, const uint8_t *text, size_t len)
{
	size_t off = 0;
	ssize_t n;

	if (ftruncate(fd, 0) == -1 || lseek(fd, 0, SEEK_SET) == -1)
		fuzz_fail("cannot empty the memfd", NULL);
	while (off < len) {
		if ((n = write(fd, text + off, len - off)) <= 0)
			fuzz_fail("cannot write the memfd", NULL);
		off += (size_t)n;
	}
}

/* Tell whether two strings, either maybe NULL, are equal. */
static bool
fuzz_str_eq(const char *a, const char *b)
{
	return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* Tell whether two NULL-terminated vectors, either maybe NULL, are equal. */
static bool
fuzz_vec_eq(char **a, char **b)
{
	size_t i;

	if (a == NULL || b == NULL)
		return a == b;
	for (i = 0; a[i] != NULL && b[i] != NULL; i++)
		if (strcmp(a[i], b[i]) != 0)
			return false;
	return a[i] == NULL && b[i] == NULL;
}

/* Compare two message lists: the same lines, as errors or not, in order. */
static void
fuzz_msgs_compare(const struct config_msgs *a, const struct config_msgs *b)
{
	size_t i;

	if (a->count != b->count || a->nerrors != b->nerrors ||
	    a->nwarnings != b->nwarnings) {
		for (i = 0; i < a->count; i++)
			fprintf(stderr, "reload: %s\n", a->lines[i]);
		for (i = 0; i < b->count; i++)
			fprintf(stderr, "load:   %s\n", b->lines[i]);
		fuzz_fail("not as many messages", NULL);
	}
	for (i = 0; i < a->count; i++)
		if (strcmp(a->lines[i], b->lines[i]) != 0 ||
		    a->is_error[i] != b->is_error[i])
			fuzz_fail("another message", a->lines[i]);
}

/* Compare two listeners of configs read from the same text. */
static void
fuzz_listener_compare(const struct config *ca, const struct listener_conf *a,
    const struct config *cb, const struct listener_conf *b)
{
	const struct listener_opts *x = &a->opts, *y = &b->opts;

	if (strcmp(a->name, b->name) != 0)
		fuzz_fail("another listener", a->name);
	if (!fuzz_str_eq(a->fd_name, b->fd_name) ||
	    (a->fd_name == a->name) != (b->fd_name == b->name))
		fuzz_fail("listener fd_name", a->name);
	if (!fuzz_str_eq(a->listen, b->listen) || a->has_listen != b->has_listen)
		fuzz_fail("listener listen", a->name);
	if (a->line != b->line || a->in_force != b->in_force ||
	    a->text_at != b->text_at || a->text_len != b->text_len)
		fuzz_fail("listener line or text", a->name);
	if (a->index != b->index || a->self != b->self)
		fuzz_fail("listener index or self", a->name);
	if (a->addr.kind != b->addr.kind || a->addr.len != b->addr.len ||
	    a->addr.named != b->addr.named ||
	    memcmp(&a->addr.ss, &b->addr.ss, sizeof(a->addr.ss)) != 0)
		fuzz_fail("listener address", a->name);
	if (x->backlog != y->backlog || x->reuseport != y->reuseport ||
	    x->v6only != y->v6only || x->freebind != y->freebind ||
	    x->defer_accept != y->defer_accept || x->nodelay != y->nodelay ||
	    memcmp(x->interface, y->interface, sizeof(x->interface)) != 0 ||
	    x->mode != y->mode || x->owner != y->owner ||
	    x->group != y->group || x->per_slot != y->per_slot)
		fuzz_fail("listener options", a->name);
	if (a->users != b->users || a->slots != b->slots ||
	    !fuzz_str_eq(a->slot_program, b->slot_program))
		fuzz_fail("listener users or slots", a->name);
	if (config_find_listener(ca, a->name) != a ||
	    config_find_listener(cb, b->name) != b)
		fuzz_fail("listener not found by its name", a->name);
}

/* Compare two programs of configs read from the same text. */
static void
fuzz_program_compare(const struct config *ca, const struct program_conf *a,
    const struct config *cb, const struct program_conf *b)
{
	size_t i;

	if (strcmp(a->name, b->name) != 0)
		fuzz_fail("another program", a->name);
	if (a->line != b->line || a->text_at != b->text_at ||
	    a->text_len != b->text_len)
		fuzz_fail("program line or text", a->name);
	if (!fuzz_str_eq(a->command, b->command) || !fuzz_vec_eq(a->argv, b->argv))
		fuzz_fail("program command", a->name);
	if (!fuzz_vec_eq(a->listener_names, b->listener_names) ||
	    a->listeners_line != b->listeners_line ||
	    a->listeners_lost != b->listeners_lost ||
	    a->nlisteners != b->nlisteners ||
	    (a->listeners == NULL) != (b->listeners == NULL))
		fuzz_fail("program listeners", a->name);
	for (i = 0; a->listeners != NULL && i < a->nlisteners; i++)
		if ((a->listeners[i] == NULL) != (b->listeners[i] == NULL) ||
		    (a->listeners[i] != NULL &&
		    a->listeners[i]->index != b->listeners[i]->index))
			fuzz_fail("program listener resolved", a->name);
	if (a->workers != b->workers || a->handoff != b->handoff ||
	    a->ready != b->ready || a->ready_delay_ms != b->ready_delay_ms ||
	    !fuzz_str_eq(a->ready_log, b->ready_log) ||
	    (a->ready_log_re == NULL) != (b->ready_log_re == NULL) ||
	    a->ready_timeout_ms != b->ready_timeout_ms ||
	    a->stop_signal != b->stop_signal ||
	    a->drain_timeout_ms != b->drain_timeout_ms ||
	    a->probation_ms != b->probation_ms || a->restart != b->restart)
		fuzz_fail("program settings", a->name);
	if (!fuzz_str_eq(a->user, b->user) || a->uid != b->uid ||
	    a->user_gid != b->user_gid || !fuzz_str_eq(a->group, b->group) ||
	    a->gid != b->gid)
		fuzz_fail("program user or group", a->name);
	if (!fuzz_str_eq(a->directory, b->directory) || a->nenv != b->nenv ||
	    !fuzz_vec_eq(a->env, b->env) || a->expand != b->expand ||
	    a->preload != b->preload || a->output != b->output)
		fuzz_fail("program directory, env or output", a->name);
	if (config_find_program(ca, a->name) != a ||
	    config_find_program(cb, b->name) != b)
		fuzz_fail("program not found by its name", a->name);
}

/*
 * Compare a config a reload made (a) with the one a fresh load of the
 * same file made (b), both maybe NULL. The users and groups a reload
 * notes as looked up may be more (those of the config in force): each
 * of the fresh load's must be among them, found the same.
 */
static void
fuzz_config_compare(const struct config *a, const struct config *b)
{
	const struct listener_conf *la, *lb;
	const struct program_conf *pa, *pb;
	size_t i, j;

	if (a == NULL || b == NULL) {
		if (a != b)
			fuzz_fail("a config from only one of reload and load",
			    NULL);
		return;
	}
	if (strcmp(a->path, b->path) != 0 || a->text_len != b->text_len ||
	    (a->text == NULL) != (b->text == NULL) ||
	    (a->text != NULL && memcmp(a->text, b->text, a->text_len) != 0))
		fuzz_fail("config path or text", NULL);
	if (a->reusable != b->reusable || a->file_dev != b->file_dev ||
	    a->file_ino != b->file_ino || a->file_uid != b->file_uid ||
	    a->file_gid != b->file_gid || a->file_mode != b->file_mode)
		fuzz_fail("config reusable or file", NULL);
	if (!fuzz_str_eq(a->supervisor.name, b->supervisor.name) ||
	    !fuzz_str_eq(a->supervisor.control, b->supervisor.control) ||
	    !fuzz_str_eq(a->supervisor.pidfile, b->supervisor.pidfile) ||
	    a->supervisor.log_level != b->supervisor.log_level ||
	    a->supervisor.text_at != b->supervisor.text_at ||
	    a->supervisor.text_len != b->supervisor.text_len)
		fuzz_fail("supervisor section", NULL);
	if (a->nlisteners != b->nlisteners || a->nprograms != b->nprograms)
		fuzz_fail("not as many listeners or programs", NULL);
	for (la = TAILQ_FIRST(&a->listeners), lb = TAILQ_FIRST(&b->listeners);
	    la != NULL && lb != NULL; la = TAILQ_NEXT(la, entry),
	    lb = TAILQ_NEXT(lb, entry))
		fuzz_listener_compare(a, la, b, lb);
	if (la != NULL || lb != NULL)
		fuzz_fail("listener lists of other lengths", NULL);
	for (pa = TAILQ_FIRST(&a->programs), pb = TAILQ_FIRST(&b->programs);
	    pa != NULL && pb != NULL; pa = TAILQ_NEXT(pa, entry),
	    pb = TAILQ_NEXT(pb, entry))
		fuzz_program_compare(a, pa, b, pb);
	if (pa != NULL || pb != NULL)
		fuzz_fail("program lists of other lengths", NULL);
	for (i = 0; i < b->nlookups; i++) {
		for (j = 0; j < a->nlookups; j++)
			if (strcmp(a->lookups[j].name, b->lookups[i].name) == 0 &&
			    a->lookups[j].group == b->lookups[i].group)
				break;
		if (j == a->nlookups || a->lookups[j].uid != b->lookups[i].uid ||
		    a->lookups[j].gid != b->lookups[i].gid)
			fuzz_fail("a user or group not noted as looked up",
			    b->lookups[i].name);
	}
}

/*
 * Reload the file at path (now holding text) with running in force, and
 * load it afresh: both must agree. Returns the reload's config.
 */
static struct config *
fuzz_reload_check(const char *path, struct config *running)
{
	struct config_msgs m1, m2;
	struct config *reloaded, *fresh;

	config_msgs_init(&m1);
	config_msgs_init(&m2);
	reloaded = config_reload(path, running, NULL, &m1);
	fresh = config_load(path, &m2);
	fuzz_msgs_compare(&m1, &m2);
	fuzz_config_compare(reloaded, fresh);
	config_msgs_free(&m1);
	config_msgs_free(&m2);
	config_unref(fresh);
	return reloaded;
}

/*
 * Load old from the memfd as the config in force, then reload new with
 * it in force, new again with that config in force, and old with it.
 */
static void
fuzz_pair(int fd, const char *path, const uint8_t *old, size_t oldlen,
    const uint8_t *new, size_t newlen)
{
	struct config_msgs msgs;
	struct config *running, *conf, *again;

	fuzz_write(fd, old, oldlen);
	config_msgs_init(&msgs);
	running = config_load(path, &msgs);
	if (running == NULL || msgs.count != 0 || !running->reusable) {
		config_msgs_free(&msgs);
		config_unref(running);
		return;
	}
	config_msgs_free(&msgs);
	fuzz_write(fd, new, newlen);
	conf = fuzz_reload_check(path, running);
	if (conf != NULL) {
		config_unref(fuzz_reload_check(path, conf));
		fuzz_write(fd, old, oldlen);
		if ((again = fuzz_reload_check(path, conf)) == NULL)
			fuzz_fail("the config in force is refused now", NULL);
		config_unref(again);
	}
	config_unref(conf);
	config_unref(running);
}

/* One input: A, "@@@@", B. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *split;
	char path[64];
	size_t alen;
	int fd;

	if ((split = memmem(data, size, FUZZ_SPLIT, strlen(FUZZ_SPLIT))) ==
	    NULL)
		return 0;
	alen = (size_t)(split - data);
	/* Only its owner may write it: a file others can write is warned of. */
	if ((fd = memfd_create("handoff-fuzz.ini", MFD_CLOEXEC)) == -1 ||
	    fchmod(fd, 0600) == -1)
		fuzz_fail("memfd_create failed", NULL);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	fuzz_pair(fd, path, data, alen, split + strlen(FUZZ_SPLIT),
	    size - alen - strlen(FUZZ_SPLIT));
	fuzz_pair(fd, path, split + strlen(FUZZ_SPLIT),
	    size - alen - strlen(FUZZ_SPLIT), data, alen);
	close(fd);
	return 0;
}
