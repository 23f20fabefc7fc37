/*
 * upgrade.c: replace the supervisor's binary in place, keeping its pid,
 * its workers (its children) and every socket.
 *
 * The old image, from the top of its loop (no callback on the stack):
 * blocks HUP, TERM, INT, USR2 and CHLD (the mask survives execve; their
 * default actions would kill the process before the new image handles
 * them) and runs the loop once more so that a signal caught just before
 * is handled; writes the whole state (state.c) into a sealed memfd; runs
 * `NEWBIN upgrade-check --state-fd N`, which must read the state and the
 * config in force and say so (UPGRADE_CHECK_OK); opens its own binary
 * (/proc/self/exe) for an exec back; closes its other control clients in
 * order (each told to ask again, its answer sent for a bounded time);
 * clears CLOEXEC on the fds the state names and execs
 * `NEWBIN run --state-fd N ARGS...`. If any of that fails, nothing
 * changed: the client hears why.
 *
 * The new image parses the same arguments, takes the config in force from
 * the state (not from the file, which may have changed), takes the
 * sockets back, remakes the listeners, programs, generations and workers,
 * reaps what exited meanwhile, marks the fds CLOEXEC again, unblocks the
 * signals and answers the client on its inherited connection. A restore
 * that fails execs the old image back (fexecve) with the same state and
 * the reason, which it tells the client.
 *
 * Test hook: HANDOFF_TEST_FAIL_RESTORE set in a new image's environment
 * makes its restore fail (the exec back is then seen); HANDOFF_TEST_VERSION
 * makes an image report that version (version.c).
 */
#include "autoconf.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "acceptq.h"
#include "cause.h"
#include "config.h"
#include "control.h"
#include "descendants.h"
#include "drain_report.h"
#include "fdstore.h"
#include "generation.h"
#include "guard.h"
#include "health.h"
#include "listener.h"
#include "log.h"
#include "notify.h"
#include "program.h"
#include "reap.h"
#include "reuseport.h"
#include "sdsocket.h"
#include "spawn.h"
#include "state.h"
#include "supervisor.h"
#include "upgrade.h"
#include "version.h"

extern char **environ;

#define UPGRADE_CHECK_TIMEOUT_MS	10000
#define UPGRADE_MAX_FDS			65536

/*
 * What a pre-flight that read the state prints, with the number of its
 * records: an exit status of 0 alone does not prove that the binary is a
 * handoff that can take over (/bin/true exits 0 too).
 */
#define UPGRADE_CHECK_OK		"handoff upgrade-check: state read, %zu records"

/* The run arguments after ours, kept for the exec; the state; the reason. */
static int upgrade_argc;
static char **upgrade_argv;
static int upgrade_state_fd = -1;
static const char *upgrade_failed_why;
static struct state upgrade_state;
static bool upgrade_restoring;

/* The signals that must survive the exec. */
static void
upgrade_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGHUP);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGUSR2);
	sigaddset(set, SIGCHLD);
}

/* Block the signals that must survive the exec. */
static void
upgrade_block(sigset_t *old)
{
	sigset_t set;

	upgrade_signals(&set);
	sigprocmask(SIG_BLOCK, &set, old);
}

/* Set or clear CLOEXEC on n fds. */
static void
upgrade_cloexec(const int *fds, size_t n, bool on)
{
	size_t i;

	for (i = 0; i < n; i++)
		(void)fcntl(fds[i], F_SETFD, on ? FD_CLOEXEC : 0);
}

/*
 * `handoff run --state-fd N [--upgrade-failed WHY] ARGS...`: take our
 * options off the front of run's arguments (argv[0] is "run") and read
 * the state. 0 (also with none), or 2 with the error printed.
 */
int
upgrade_args(int *argcp, char ***argvp)
{
	char **argv = *argvp, *end, *cause = NULL;
	int argc = *argcp;
	long fd;

	upgrade_argc = argc;
	upgrade_argv = argv;
	if (argc < 3 || strcmp(argv[1], "--state-fd") != 0)
		return 0;
	errno = 0;
	fd = strtol(argv[2], &end, 10);
	if (errno != 0 || *end != '\0' || fd < 3 || fd > INT_MAX) {
		fprintf(stderr, "handoff run: --state-fd %s: not an fd\n", argv[2]);
		return 2;
	}
	upgrade_state_fd = (int)fd;
	argv += 2;
	argc -= 2;
	if (argc >= 3 && strcmp(argv[1], "--upgrade-failed") == 0) {
		upgrade_failed_why = argv[2];
		argv += 2;
		argc -= 2;
	}
	argv[0] = (*argvp)[0];
	upgrade_argc = argc;
	upgrade_argv = argv;
	*argcp = argc;
	*argvp = argv;
	if (state_read_fd(upgrade_state_fd, &upgrade_state, &cause) == -1) {
		fprintf(stderr, "handoff run: the upgrade's state: %s\n",
		    cause_text(cause));
		free(cause);
		return 2;
	}
	upgrade_restoring = true;
	return 0;
}

/* The first record of kind in st, or NULL. */
static const struct state_rec *
upgrade_find(const struct state *st, const char *kind)
{
	size_t i;

	for (i = 0; i < st->nrecs; i++)
		if (strcmp(st->recs[i].kind, kind) == 0)
			return &st->recs[i];
	return NULL;
}

/* The config in force from a state (its text), printing errors; or NULL. */
static struct config *
upgrade_state_config(const struct state *st, const char *path, bool *has)
{
	const struct state_rec *r = upgrade_find(st, "config");
	struct config_msgs msgs;
	struct config *conf;
	const char *text;
	size_t i;

	*has = r != NULL && (text = state_get(r, "text")) != NULL;
	if (!*has)
		return NULL;
	text = state_get(r, "text");
	if (path == NULL)
		path = state_get(r, "path") != NULL ? state_get(r, "path") :
		    "(config in force)";
	config_msgs_init(&msgs);
	conf = config_load_text(path, text, strlen(text), &msgs);
	for (i = 0; i < msgs.count; i++)
		if (msgs.is_error[i])
			fprintf(stderr, "%s\n", msgs.lines[i]);
	config_msgs_free(&msgs);
	return conf;
}

/*
 * Restoring: the config in force, from the state rather than the file at
 * path. NULL when not restoring or the state carries none (a command
 * line's config is built from the same arguments).
 */
struct config *
upgrade_config(const char *path)
{
	bool has;

	if (!upgrade_restoring)
		return NULL;
	return upgrade_state_config(&upgrade_state, path, &has);
}

/* A per-slot listener's reuseport group, as the record of it has it. */
struct upgrade_group {
	long long	 committed;
	long long	*slot;		/* each socket record's slot */
	long long	*index;		/* and its index in the group */
	size_t		 n;
};

/*
 * The group of the listener record r, named name, from the socket records
 * of st (committed: that of r, else dflt). -1 without memory.
 */
static int
upgrade_group_of(const struct state *st, const struct state_rec *r,
    const char *name, long long dflt, struct upgrade_group *g)
{
	const struct state_rec *s;
	const char *of;
	size_t i, n = 0;

	memset(g, 0, sizeof(*g));
	g->committed = state_get_int(r, "committed", dflt);
	for (i = 0; i < st->nrecs; i++)
		if (strcmp(st->recs[i].kind, "socket") == 0 &&
		    (of = state_get(&st->recs[i], "listener")) != NULL &&
		    strcmp(of, name) == 0)
			n++;
	if ((g->slot = calloc(n + 1, sizeof(*g->slot))) == NULL ||
	    (g->index = calloc(n + 1, sizeof(*g->index))) == NULL) {
		free(g->slot);
		g->slot = NULL;
		return -1;
	}
	for (i = 0; i < st->nrecs; i++) {
		s = &st->recs[i];
		if (strcmp(s->kind, "socket") != 0 ||
		    (of = state_get(s, "listener")) == NULL ||
		    strcmp(of, name) != 0)
			continue;
		g->slot[g->n] = state_get_int(s, "slot", -1);
		g->index[g->n++] = state_get_int(s, "group_index", -1);
	}
	return 0;
}

/* Free what upgrade_group_of made. */
static void
upgrade_group_free(struct upgrade_group *g)
{
	free(g->slot);
	free(g->index);
}

/*
 * The pre-flight: the group record of every per-slot listener fits the
 * sockets the config in force gives it (listener_group_record_check), so
 * that the new image never refuses it after the exec. -1 with *cause.
 */
static int
upgrade_check_groups(const struct state *st, const struct config *conf,
    char **cause)
{
	const struct listener_conf *lc;
	struct upgrade_group g;
	const char *name;
	size_t i;
	int rc;

	for (i = 0; i < st->nrecs; i++) {
		if (strcmp(st->recs[i].kind, "listener") != 0 ||
		    (name = state_get(&st->recs[i], "name")) == NULL ||
		    (lc = config_find_listener(conf, name)) == NULL ||
		    !lc->opts.per_slot)
			continue;
		if (upgrade_group_of(st, &st->recs[i], name, lc->slots, &g) == -1) {
			*cause = strdup("out of memory");
			return -1;
		}
		rc = listener_group_record_check(name, (size_t)lc->slots,
		    g.committed, g.slot, g.index, g.n, cause);
		upgrade_group_free(&g);
		if (rc == -1)
			return -1;
	}
	return 0;
}

/* `handoff upgrade-check --state-fd N`: a new binary's pre-flight. */
int
upgrade_check_main(int argc, char **argv)
{
	struct config *conf;
	struct state st;
	char *cause = NULL, *end;
	bool has;
	long fd;

	if (argc != 3 || strcmp(argv[1], "--state-fd") != 0) {
		fprintf(stderr, "usage: handoff upgrade-check --state-fd N\n");
		return 2;
	}
	fd = strtol(argv[2], &end, 10);
	if (*end != '\0' || fd < 0 || fd > INT_MAX) {
		fprintf(stderr, "--state-fd %s: not an fd\n", argv[2]);
		return 2;
	}
	if (state_read_fd((int)fd, &st, &cause) == -1) {
		fprintf(stderr, "%s\n", cause_text(cause));
		free(cause);
		return 1;
	}
	conf = upgrade_state_config(&st, NULL, &has);
	if (has && conf == NULL) {
		state_free(&st);
		fprintf(stderr, "the config in force has errors for this "
		    "version\n");
		return 1;
	}
	if (conf != NULL && upgrade_check_groups(&st, conf, &cause) == -1) {
		fprintf(stderr, "%s\n", cause_text(cause));
		free(cause);
		config_unref(conf);
		state_free(&st);
		return 1;
	}
	config_unref(conf);
	printf(UPGRADE_CHECK_OK "\n", st.nrecs);
	state_free(&st);
	return fflush(stdout) == 0 ? 0 : 1;
}

/* ---- the old image: state, pre-flight, exec --------------------------- */

/* Write a listener and its sockets as records. */
static void
upgrade_save_listener(const struct listener *l, struct state_writer *w)
{
	size_t i;

	state_rec(w, "listener");
	state_str(w, "name", l->name);
	state_int(w, "committed", (long long)l->committed);
	for (i = 0; i < listener_nsockets(l); i++) {
		if (listener_socket_fd(l, i) == -1)
			continue;
		state_rec(w, "socket");
		state_str(w, "listener", l->name);
		state_int(w, "slot", (long long)i);
		state_fd(w, "fd", listener_socket_fd(l, i));
		state_int(w, "origin", listener_socket_origin(l, i));
		state_int(w, "group_index", listener_slot_group_index(l, i));
	}
}

/* Write the whole state; -1 with *cause. */
static int
upgrade_save(struct supervisor *sup, int oldexe, int *fdp, char **cause)
{
	struct state_writer w;
	struct program *prog;
	struct generation *gen;
	size_t i;
	int rc;

	if (state_writer_open(&w) == -1) {
		*cause = strdup("out of memory");
		return -1;
	}
	state_rec(&w, "supervisor");
	state_str(&w, "version", version_text());
	state_time(&w, "started", &sup->started);
	state_int(&w, "reload_seq", sup->reload_seq);
	state_fd(&w, "oldexe_fd", oldexe);
	if (desc_cgroup_dir() != NULL)
		state_str(&w, "cgroup", desc_cgroup_dir());
	if (sup->last_reload.done) {
		state_rec(&w, "last_reload");
		state_int(&w, "ok", sup->last_reload.ok);
		state_int(&w, "when", (long long)sup->last_reload.when);
		/* ms for an image before us was kept. */
		state_int(&w, "ms", (long long)(sup->last_reload.duration_us /
		    1000));
		state_int(&w, "us", (long long)sup->last_reload.duration_us);
		state_int(&w, "config_us",
		    (long long)sup->last_reload.config_us);
		state_str(&w, "message", sup->last_reload.message);
	}
	if (sup->conf->text != NULL) {
		state_rec(&w, "config");
		state_str(&w, "path", sup->config_path);
		state_mem(&w, "text", sup->conf->text, sup->conf->text_len);
	}
	control_save(sup->control, &w);
	notify_save(sup->notify, &w);
	sdsocket_save(&w);
	fdstore_save(&w);
	acceptq_save(sup->acceptq, &w);
	for (i = 0; i < sup->listeners.count; i++)
		upgrade_save_listener(sup->listeners.items[i], &w);
	TAILQ_FOREACH(prog, &sup->programs, entry) {
		state_rec(&w, "program");
		state_str(&w, "name", prog->name);
		state_int(&w, "next_number", prog->next_number);
		drain_history_save(&prog->drained, &w);
		TAILQ_FOREACH(gen, &prog->gens, entry)
			gen_save(gen, &w);
	}
	rc = state_writer_seal(&w, fdp, cause);
	state_writer_free(&w);
	return rc;
}

/*
 * Run `bin upgrade-check --state-fd N` on a state of nrecs records: 0 if
 * it exits 0 saying it read them all, else -1 with *cause saying how it
 * failed and what it printed.
 */
static int
upgrade_preflight(const char *bin, int statefd, size_t nrecs, char **cause)
{
	char out[512] = "", arg[16], ok[128], *nl;
	struct pollfd pfd;
	struct timespec start, now;
	size_t len = 0;
	ssize_t n;
	int p[2], status, ms;
	pid_t pid;
	sigset_t none;

	if (pipe2(p, O_CLOEXEC) == -1) {
		cause_set(cause, "cannot run the pre-flight: %s", strerror(errno));
		return -1;
	}
	snprintf(arg, sizeof(arg), "%d", statefd);
	if ((pid = fork()) == -1) {
		cause_set(cause, "cannot run the pre-flight: %s", strerror(errno));
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0) {
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		dup2(p[1], 1);
		dup2(p[1], 2);
		(void)fcntl(statefd, F_SETFD, 0);
		execl(bin, bin, "upgrade-check", "--state-fd", arg, (char *)NULL);
		dprintf(2, "cannot run %s: %s\n", bin, strerror(errno));
		_exit(127);
	}
	close(p[1]);
	clock_gettime(CLOCK_MONOTONIC, &start);
	pfd.fd = p[0];
	pfd.events = POLLIN;
	for (;;) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		ms = UPGRADE_CHECK_TIMEOUT_MS - (int)((now.tv_sec - start.tv_sec) *
		    1000 + (now.tv_nsec - start.tv_nsec) / 1000000);
		if (ms <= 0) {
			kill(pid, SIGKILL);
			snprintf(out, sizeof(out), "no answer in %ds",
			    UPGRADE_CHECK_TIMEOUT_MS / 1000);
			len = strlen(out);
			break;
		}
		if (poll(&pfd, 1, ms) == -1 && errno != EINTR)
			break;
		n = read(p[0], out + len, sizeof(out) - 1 - len);
		if (n == -1 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		if (len == sizeof(out) - 1)
			break;
	}
	out[len] = '\0';
	close(p[0]);
	while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
		;
	snprintf(ok, sizeof(ok), UPGRADE_CHECK_OK "\n", nrecs);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
	    strstr(out, ok) != NULL)
		return 0;
	if ((nl = strchr(out, '\n')) != NULL)
		*nl = '\0';
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		cause_set(cause, "%s failed the pre-flight check (it exited 0 "
		    "without saying it read the state: not a handoff that can "
		    "take over)%s%s", bin, out[0] ? ": " : "", out);
	else if (WIFEXITED(status))
		cause_set(cause, "%s failed the pre-flight check (exit status "
		    "%d)%s%s", bin, WEXITSTATUS(status), out[0] ? ": " : "", out);
	else
		cause_set(cause, "%s failed the pre-flight check (killed by "
		    "signal %d)%s%s", bin, WTERMSIG(status), out[0] ? ": " : "",
		    out);
	return -1;
}

/* Build argv: bin run --state-fd N [--upgrade-failed WHY] ARGS...; NULL if no memory. */
static char **
upgrade_exec_argv(const char *bin, int statefd, const char *why, char *fdtext,
    size_t fdlen)
{
	char **argv;
	int i, n = 0;

	if ((argv = calloc((size_t)upgrade_argc + 8, sizeof(*argv))) == NULL)
		return NULL;
	snprintf(fdtext, fdlen, "%d", statefd);
	argv[n++] = (char *)bin;
	argv[n++] = (char *)"run";
	argv[n++] = (char *)"--state-fd";
	argv[n++] = fdtext;
	if (why != NULL) {
		argv[n++] = (char *)"--upgrade-failed";
		argv[n++] = (char *)why;
	}
	for (i = 1; i < upgrade_argc; i++)
		argv[n++] = upgrade_argv[i];
	argv[n] = NULL;
	return argv;
}

/* The upgrade did not happen: tell the client, run on. */
static void
upgrade_refuse(struct supervisor *sup, const sigset_t *old, const char *why)
{
	log_errorx("upgrade to %s failed: %s; this image runs on",
	    sup->upgrade_to, why);
	control_upgrade_end(sup->control, false, "upgrade failed: %s; the "
	    "running supervisor (pid %d, handoff %s) runs on unchanged", why,
	    (int)getpid(), version_text());
	sigprocmask(SIG_SETMASK, old, NULL);
}

/* Exec sup->upgrade_to with the state; returns if it did not happen. */
static void
upgrade_exec(struct supervisor *sup)
{
	char *cause = NULL, fdtext[16], **argv;
	int statefd = -1, oldexe = -1, *fds;
	size_t nfds;
	sigset_t old;
	struct state st;

	upgrade_block(&old);
	/* A signal caught just before the block is handled now. */
	event_base_loop(sup->base, EVLOOP_NONBLOCK);
	if (sup->stopping) {
		upgrade_refuse(sup, &old, "the supervisor is stopping");
		return;
	}
	if (supervisor_busy(sup, &cause)) {
		upgrade_refuse(sup, &old, cause_text(cause));
		free(cause);
		return;
	}
	/* No child may still be on its way to exec in this image's memory. */
	spawn_settle_all();
	/* Nor a message taken from the notify socket wait in it unhandled. */
	notify_handle_taken(sup->notify);
	log_info("upgrading to %s", sup->upgrade_to);
	control_upgrade_progress(sup->control, "checking %s", sup->upgrade_to);
	if (access(sup->upgrade_to, X_OK) == -1) {
		cause_set(&cause, "cannot run %s: %s", sup->upgrade_to,
		    strerror(errno));
		goto fail;
	}
	if ((oldexe = open("/proc/self/exe", O_RDONLY | O_CLOEXEC)) == -1) {
		cause_set(&cause, "cannot open this image's binary for an exec "
		    "back: %s", strerror(errno));
		goto fail;
	}
	if (upgrade_save(sup, oldexe, &statefd, &cause) == -1 ||
	    state_read_fd(statefd, &st, &cause) == -1)
		goto fail;
	if (upgrade_preflight(sup->upgrade_to, statefd, st.nrecs,
	    &cause) == -1) {
		state_free(&st);
		goto fail;
	}
	control_upgrade_progress(sup->control, "pre-flight passed; handing "
	    "over to %s", sup->upgrade_to);
	if ((fds = calloc(UPGRADE_MAX_FDS, sizeof(*fds))) == NULL) {
		state_free(&st);
		cause = strdup("out of memory");
		goto fail;
	}
	nfds = state_fds(&st, fds, UPGRADE_MAX_FDS - 1);
	state_free(&st);
	fds[nfds++] = statefd;
	if ((argv = upgrade_exec_argv(sup->upgrade_to, statefd, NULL, fdtext,
	    sizeof(fdtext))) == NULL) {
		free(fds);
		cause = strdup("out of memory");
		goto fail;
	}
	/* The other control clients end in order, not cut by the exec. */
	control_upgrade_close_others(sup->control);
	log_info("exec %s (pid %d stays)", sup->upgrade_to, (int)getpid());
	/* From here the fds the state names cross the exec. */
	upgrade_cloexec(fds, nfds, false);
	execve(sup->upgrade_to, argv, environ);
	cause_set(&cause, "cannot exec %s: %s", sup->upgrade_to, strerror(errno));
	upgrade_cloexec(fds, nfds, true);
	free(fds);
	free(argv);
fail:
	if (statefd != -1)
		close(statefd);
	if (oldexe != -1)
		close(oldexe);
	upgrade_refuse(sup, &old, cause_text(cause));
	free(cause);
}

/* ---- the new image: restore ------------------------------------------ */

/* The control and notify sockets, back from the state. */
static int
upgrade_restore_sockets(struct supervisor *sup, const struct control_ops *ops,
    notify_cb on_notify, char **cause)
{
	const struct state_rec *r = upgrade_find(&upgrade_state, "supervisor");

	/* The workers' cgroup is taken back, not made anew (desc_init). */
	if (r != NULL && desc_adopt(state_get(r, "cgroup")) == -1) {
		*cause = strdup("out of memory");
		return -1;
	}
	if ((r = upgrade_find(&upgrade_state, "control")) == NULL) {
		*cause = strdup("the state has no control socket");
		return -1;
	}
	if ((sup->control = control_restore(sup->base, r, ops, sup,
	    cause)) == NULL)
		return -1;
	if ((sup->notify = notify_restore(sup->base, &upgrade_state,
	    on_notify, sup, cause)) == NULL)
		return -1;
	return 0;
}

/*
 * Give each per-slot listener its committed slots and group order back
 * from the state: -1 with *cause if a record does not fit.
 */
static int
upgrade_restore_groups(struct supervisor *sup, char **cause)
{
	struct upgrade_group g;
	struct listener *l;
	const char *name;
	size_t i;
	int rc;

	for (i = 0; i < upgrade_state.nrecs; i++) {
		if (strcmp(upgrade_state.recs[i].kind, "listener") != 0 ||
		    (name = state_get(&upgrade_state.recs[i], "name")) == NULL ||
		    (l = listener_set_find(&sup->listeners, name)) == NULL ||
		    !listener_per_slot(l))
			continue;
		if (upgrade_group_of(&upgrade_state, &upgrade_state.recs[i], name,
		    (long long)l->committed, &g) == -1) {
			*cause = strdup("out of memory");
			return -1;
		}
		rc = listener_group_restore(l, g.committed, g.slot, g.index, g.n,
		    cause);
		upgrade_group_free(&g);
		if (rc == -1)
			return -1;
	}
	return 0;
}

/* A generation back from its record; -1 with *cause. */
static int
upgrade_restore_gen(struct supervisor *sup, const struct state_rec *r,
    char **cause)
{
	struct listener *ls[MAX_LISTENERS_PER_PROGRAM];
	const char *name = state_get(r, "program");
	struct program_conf *pc;
	struct program *prog;
	struct generation *gen;
	size_t i;

	if (name == NULL || (pc = config_find_program(sup->conf, name)) == NULL) {
		cause_set(cause, "program %s of the state is not in the config",
		    name != NULL ? name : "(none)");
		return -1;
	}
	for (i = 0; i < pc->nlisteners; i++)
		ls[i] = listener_set_for(&sup->listeners, sup->conf,
		    pc->listeners[i]);
	if ((prog = program_get(&sup->programs, name)) == NULL ||
	    (gen = gen_new(sup->base, sup->conf, pc, ls,
	    (unsigned int)state_get_int(r, "number", 0),
	    sup->reload_env.notify_path(sup, reload_worker_uid(pc)),
	    sup->reload_env.ops, sup->pids, sup->groups,
	    sup->reload_env.gen_cb, sup)) == NULL) {
		*cause = strdup("out of memory");
		return -1;
	}
	TAILQ_INSERT_TAIL(&prog->gens, gen, entry);
	gen->prog = prog;
	prog->current = gen;
	return gen_restore(gen, r, &upgrade_state, cause);
}

/* The listeners, programs, generations and workers, back. */
static int
upgrade_restore_state(struct supervisor *sup, char **cause)
{
	struct listener_set none = { NULL, 0, NULL };
	const struct state_rec *r;
	struct program *prog = NULL;
	size_t i;

	if ((r = upgrade_find(&upgrade_state, "supervisor")) != NULL) {
		(void)state_get_time(r, "started", &sup->started);
		sup->reload_seq = (unsigned int)state_get_int(r, "reload_seq", 0);
	}
	if ((r = upgrade_find(&upgrade_state, "last_reload")) != NULL) {
		sup->last_reload.done = true;
		sup->last_reload.ok = state_get_int(r, "ok", 0) != 0;
		sup->last_reload.when = (time_t)state_get_int(r, "when", 0);
		sup->last_reload.duration_us = state_get(r, "us") != NULL ?
		    (uint64_t)state_get_int(r, "us", 0) :
		    (uint64_t)state_get_int(r, "ms", 0) * 1000;
		sup->last_reload.config_us =
		    (uint64_t)state_get_int(r, "config_us", 0);
		snprintf(sup->last_reload.message,
		    sizeof(sup->last_reload.message), "%s",
		    state_get(r, "message") ? state_get(r, "message") : "");
	}
	for (i = 0; i < upgrade_state.nrecs; i++) {
		r = &upgrade_state.recs[i];
		if (strcmp(r->kind, "sdsocket") == 0 &&
		    sdsocket_inherit_passed((int)state_get_int(r, "fd", -1),
		    state_get(r, "name") ? state_get(r, "name") : "",
		    state_get_int(r, "taken", 0) != 0, cause) == -1)
			return -1;
		if (strcmp(r->kind, "socket") == 0 && state_get(r,
		    "listener") != NULL && sdsocket_inherit((int)state_get_int(r,
		    "fd", -1), state_get(r, "listener"),
		    (size_t)state_get_int(r, "slot", 0),
		    (enum sdsocket_origin)state_get_int(r, "origin", 0),
		    cause) == -1)
			return -1;
	}
	if (listener_set_update(&none, sup->conf, &sup->listeners, cause) == -1)
		return -1;
	listener_set_commit(&sup->listeners, sup->conf);
	if (upgrade_restore_groups(sup, cause) == -1)
		return -1;
	for (i = 0; i < upgrade_state.nrecs; i++) {
		r = &upgrade_state.recs[i];
		if (strcmp(r->kind, "program") == 0 && state_get(r, "name") &&
		    (prog = program_get(&sup->programs, state_get(r, "name"))))
			prog->next_number = (unsigned int)state_get_int(r,
			    "next_number", 1);
		/* A program's drain reports follow its record. */
		if (strcmp(r->kind, "drained") == 0 && prog != NULL)
			drain_history_restore(&prog->drained, &upgrade_state, &i);
		if (strcmp(r->kind, "gen") == 0 &&
		    upgrade_restore_gen(sup, r, cause) == -1)
			return -1;
	}
	fdstore_restore(&upgrade_state);
	acceptq_restore(sup->acceptq, &upgrade_state);
	if (upgrade_failed_why == NULL &&
	    getenv("HANDOFF_TEST_FAIL_RESTORE") != NULL) {
		*cause = strdup("HANDOFF_TEST_FAIL_RESTORE is set (a test hook)");
		return -1;
	}
	health_watch(sup->health, &sup->listeners);
	guard_check(sup->guard);
	reuseport_changed(sup->reuseport);
	return 0;
}

/* The restore failed: exec the old image back with the same state. */
static void
upgrade_restore_failed(struct supervisor *sup, const char *why)
{
	const struct state_rec *r = upgrade_find(&upgrade_state, "supervisor");
	int oldexe = r != NULL ? (int)state_get_int(r, "oldexe_fd", -1) : -1;
	char fdtext[16], **argv, reason[600];
	int *fds;
	size_t nfds;

	(void)sup;
	if (upgrade_failed_why != NULL || oldexe < 0)
		fatalx("cannot restore after an upgrade: %s", why);
	log_errorx("cannot take over: %s; going back to the old image", why);
	snprintf(reason, sizeof(reason), "%s", why);
	if ((fds = calloc(UPGRADE_MAX_FDS, sizeof(*fds))) == NULL)
		fatalx("cannot restore after an upgrade: out of memory");
	nfds = state_fds(&upgrade_state, fds, UPGRADE_MAX_FDS - 1);
	fds[nfds++] = upgrade_state_fd;
	upgrade_cloexec(fds, nfds, false);
	unsetenv("HANDOFF_TEST_FAIL_RESTORE");
	unsetenv("HANDOFF_TEST_VERSION");
	if ((argv = upgrade_exec_argv("handoff", upgrade_state_fd, reason,
	    fdtext, sizeof(fdtext))) != NULL)
		fexecve(oldexe, argv, environ);
	fatal("cannot exec the old image back");
}

/* Restored: CLOEXEC again, signals unblocked, the client told. */
static void
upgrade_restore_done(struct supervisor *sup)
{
	const struct state_rec *r = upgrade_find(&upgrade_state, "supervisor");
	int oldexe = r != NULL ? (int)state_get_int(r, "oldexe_fd", -1) : -1;
	int *fds;
	size_t nfds;
	sigset_t set;

	if ((fds = calloc(UPGRADE_MAX_FDS, sizeof(*fds))) != NULL) {
		nfds = state_fds(&upgrade_state, fds, UPGRADE_MAX_FDS);
		upgrade_cloexec(fds, nfds, true);
		free(fds);
	}
	if (oldexe >= 0)
		close(oldexe);
	close(upgrade_state_fd);
	upgrade_state_fd = -1;
	if (upgrade_failed_why != NULL) {
		log_errorx("upgrade failed: %s; the old image runs on",
		    upgrade_failed_why);
		control_upgrade_end(sup->control, false, "upgrade failed while "
		    "restoring: %s; the supervisor (pid %d) went back to handoff "
		    "%s and runs on unchanged", upgrade_failed_why, (int)getpid(),
		    version_text());
	} else {
		log_info("upgraded in place to handoff %s (pid %d)",
		    version_text(), (int)getpid());
		control_upgrade_end(sup->control, true, "upgraded to handoff %s "
		    "(pid %d)", version_text(), (int)getpid());
	}
	state_free(&upgrade_state);
	upgrade_restoring = false;
	/* SIGCHLD stays blocked while a signalfd reads it (reap.c). */
	upgrade_signals(&set);
	if (reap_reads_sigchld())
		sigdelset(&set, SIGCHLD);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
}

static const struct supervisor_upgrade upgrade_ops = {
	.restore = &upgrade_state,
	.restore_sockets = upgrade_restore_sockets,
	.restore_state = upgrade_restore_state,
	.restore_failed = upgrade_restore_failed,
	.restore_done = upgrade_restore_done,
	.exec = upgrade_exec,
};

static const struct supervisor_upgrade upgrade_ops_fresh = {
	.restore = NULL,
	.restore_sockets = upgrade_restore_sockets,
	.restore_state = upgrade_restore_state,
	.restore_failed = upgrade_restore_failed,
	.restore_done = upgrade_restore_done,
	.exec = upgrade_exec,
};

/* The hooks supervisor_run takes: restoring, or not. */
const struct supervisor_upgrade *
upgrade_hooks(void)
{
	return upgrade_restoring ? &upgrade_ops : &upgrade_ops_fresh;
}
