/*
 * test_reload_steps.c: a reload's steps (reload.c) over programs whose
 * workers come from a fake spawner: which listeners a reload keeps, the
 * generations it starts, the switch-over on commit, and an abort that
 * leaves what ran untouched. No process is started or signalled.
 */
#include "autoconf.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "config_text.h"
#include "generation.h"
#include "listener.h"
#include "pidmap.h"
#include "program.h"
#include "reload.h"
#include "support.h"

#define FAKE_PID_BASE	2000000
#define FAKE_MAX	1024

static struct {
	bool		 alive[FAKE_MAX];
	int		 last_signal[FAKE_MAX];
	int		 spawned;
	bool		 fail_spawn;
	long		 spawn_spin_us;	/* CPU each start takes */
} fake;

static struct event_base *base;
static struct pidmap *pids;
static struct pidmap *groups;
static struct program_list progs;
static struct listener_set in_force;
static struct reload *current_reload;
static int failures;
static char progress[8192];

/* Fake spawn: a new live pid. */
static int
fake_spawn(struct worker *w, struct worker_proc *proc, char **cause)
{
	(void)w;
	support_spin_us(fake.spawn_spin_us);
	if (fake.fail_spawn) {
		*cause = strdup("fork: Cannot allocate memory");
		return WORKER_NOT_STARTED;
	}
	cr_assert_lt(fake.spawned, FAKE_MAX);
	fake.alive[fake.spawned] = true;
	proc->pid = FAKE_PID_BASE + fake.spawned++;
	proc->output_fd = -1;
	return 0;
}

/* Fake kill(2): records the signal; nothing is delivered. */
static int
fake_kill(pid_t pid, int sig)
{
	int i = (pid < 0 ? -pid : pid) - FAKE_PID_BASE;

	cr_assert(i >= 0 && i < FAKE_MAX, "a real pid %d was signalled",
	    (int)pid);
	if (sig != 0)
		fake.last_signal[i] = sig;
	if (fake.alive[i])
		return 0;
	errno = ESRCH;
	return -1;
}

/* Fake getpgid(2): each process leads its own group. */
static pid_t
fake_getpgid(pid_t pid)
{
	return pid;
}

static const struct proc_ops fake_ops = {
	.spawn = fake_spawn,
	.kill = fake_kill,
	.getpgid = fake_getpgid,
};

/* Generation events: count readiness down like the supervisor does. */
static void
on_gen_event(struct generation *gen, enum gen_event ev, const char *why,
    void *arg)
{
	(void)gen;
	(void)why;
	(void)arg;
	if (ev == GEN_EVENT_READY && current_reload != NULL)
		current_reload->pending--;
	else if (ev == GEN_EVENT_FAILED)
		failures++;
}

static const char *
notify_path(void *arg, uid_t uid)
{
	(void)arg;
	(void)uid;
	return "/tmp/notify";
}

static void
on_progress(void *arg, unsigned int id, const char *line)
{
	size_t n = strlen(progress);

	(void)arg;
	snprintf(progress + n, sizeof(progress) - n, "%u %s\n", id, line);
}

static struct reload_env env = {
	.ops = &fake_ops,
	.notify_path = notify_path,
	.progress = on_progress,
	.gen_cb = on_gen_event,
};


/* Tell whether every starting generation has started all its workers. */
static bool
all_started(void)
{
	struct program *prog;

	TAILQ_FOREACH(prog, &progs, entry)
		if (prog->starting != NULL &&
		    prog->starting->nspawned < prog->starting->nworkers)
			return false;
	return true;
}

/*
 * Turn the loop until every worker of the starting generations is
 * started: starts go in slices of a turn's time, shared by all.
 */
static void
start_all(void)
{
	int turns = 0;

	while (!all_started()) {
		cr_assert_lt(turns++, 100000, "the workers never all started");
		event_base_loop(base, EVLOOP_ONCE);
	}
}

/* Every worker of every starting generation says READY=1. */
static void
all_ready(void)
{
	struct program *prog;
	int i;

	TAILQ_FOREACH(prog, &progs, entry)
		for (i = 0; prog->starting && i < prog->starting->nworkers; i++)
			gen_notify(prog->starting, &prog->starting->workers[i],
			    "READY", "1");
}

/* Exit every fake process a generation has, as if reaped. */
static void
exit_all(struct generation *gen)
{
	int i;

	for (i = 0; i < gen->nworkers; i++) {
		if (gen->workers[i].pid == 0)
			continue;
		fake.alive[gen->workers[i].pid - FAKE_PID_BASE] = false;
		gen_worker_exited(gen, &gen->workers[i], SIGTERM);
	}
}

/*
 * Run a reload of text (only: one program) to its commit: returns how
 * many generations drain, or -1 if it failed to start.
 */
static int
reload_to_commit(const char *text, const char *only, char *summary,
    size_t len)
{
	static unsigned int id;
	struct config *conf = config_from_text(text);
	struct reload *r;
	char *cause = NULL;
	int draining;

	id++;
	r = reload_new(conf, only, id == 1, id);
	cr_assert_not_null(r);
	cr_assert_eq(reload_bind(r, &in_force, &progs, &cause), 0, "%s", cause);
	current_reload = r;
	if (reload_start(r, &progs, &env, &cause) == -1) {
		cr_assert_not_null(cause);
		snprintf(summary, len, "%s", cause);
		free(cause);
		reload_abort(r, &progs);
		reload_free(r);
		current_reload = NULL;
		return -1;
	}
	start_all();
	all_ready();
	cr_assert_eq(r->pending, 0, "not every generation is ready");
	draining = reload_commit(r, &progs, &env, summary, len);
	listener_set_move(&in_force, &r->listeners);
	reload_free(r);
	current_reload = NULL;
	return draining;
}

static void
setup(void)
{
	memset(&fake, 0, sizeof(fake));
	progress[0] = '\0';
	failures = 0;
	cr_assert_not_null(base = event_base_new());
	cr_assert_not_null(pids = pidmap_new());
	env.base = base;
	env.pids = pids;
	cr_assert_not_null(groups = pidmap_new());
	env.groups = groups;
	TAILQ_INIT(&progs);
	memset(&in_force, 0, sizeof(in_force));
}

static void
teardown(void)
{
	struct program *prog;
	struct generation *gen;

	TAILQ_FOREACH(prog, &progs, entry)
		TAILQ_FOREACH(gen, &prog->gens, entry) {
			gen_kill(gen, false);
			exit_all(gen);
		}
	while ((prog = TAILQ_FIRST(&progs)) != NULL)
		program_free(&progs, prog);
	listener_set_clear(&in_force);
	pidmap_free(pids);
	pidmap_free(groups);
	event_base_free(base);
}

TestSuite(reload_steps, .init = setup, .fini = teardown);

#define TWO_PROGRAMS \
	"[listener web]\nlisten = 127.0.0.1:0\n" \
	"[listener admin]\nlisten = 127.0.0.2:0\n" \
	"[program a]\ncommand = /bin/a\nworkers = 2\nlisteners = web\n" \
	"[program b]\ncommand = /bin/b\nlisteners = web admin\n"

Test(reload_steps, first_start_makes_a_generation_of_each_program)
{
	char summary[256];
	struct program *a, *b;

	cr_assert_eq(reload_to_commit(TWO_PROGRAMS, NULL, summary,
	    sizeof(summary)), 0);
	cr_assert_str_eq(summary, "a gen 1, b gen 1");
	cr_assert_not_null(a = program_find(&progs, "a"));
	cr_assert_not_null(b = program_find(&progs, "b"));
	cr_assert_eq(a->current->state, GEN_RUNNING);
	cr_assert_eq(a->current->nworkers, 2);
	cr_assert_null(a->starting);
	cr_assert_eq(in_force.count, 2);
	cr_assert_eq(fake.spawned, 3);
	cr_assert_not_null(strstr(progress, "1 a gen 1 starting 2 workers\n"));
	cr_assert_not_null(strstr(progress, "1 b gen 1 took over in "));
}

/*
 * Starts slower than a turn's time go one per turn of the loop: each
 * reload still starts every worker, and commits once all are ready.
 */
Test(reload_steps, starts_slower_than_a_turn_all_happen)
{
	char summary[256];
	struct program *a;

	fake.spawn_spin_us = 6000;
	cr_assert_eq(reload_to_commit(TWO_PROGRAMS, NULL, summary,
	    sizeof(summary)), 0);
	cr_assert_eq(fake.spawned, 3);
	cr_assert_eq(reload_to_commit(TWO_PROGRAMS, NULL, summary,
	    sizeof(summary)), 2);
	cr_assert_str_eq(summary, "a gen 2, b gen 2");
	cr_assert_eq(fake.spawned, 6);
	a = program_find(&progs, "a");
	cr_assert_eq(a->current->state, GEN_RUNNING);
	cr_assert_eq(a->current->nready, 2);
}

Test(reload_steps, a_reload_keeps_unchanged_sockets_and_drains_the_old)
{
	char summary[256];
	struct program *a;
	struct generation *old;
	int web_fd, admin_fd;

	cr_assert_eq(reload_to_commit(TWO_PROGRAMS, NULL, summary,
	    sizeof(summary)), 0);
	a = program_find(&progs, "a");
	old = a->current;
	web_fd = listener_fd(listener_set_find(&in_force, "web"));
	admin_fd = listener_fd(listener_set_find(&in_force, "admin"));
	/* admin moves: a new socket; web's backlog changes on its socket. */
	cr_assert_eq(reload_to_commit(
	    "[listener web]\nlisten = 127.0.0.1:0\nbacklog = 128\n"
	    "[listener admin]\nlisten = 127.0.0.3:0\n"
	    "[program a]\ncommand = /bin/a\nworkers = 2\nlisteners = web\n"
	    "[program b]\ncommand = /bin/b\nlisteners = web admin\n", NULL,
	    summary, sizeof(summary)), 2);
	cr_assert_str_eq(summary, "a gen 2, b gen 2");
	cr_assert_eq(listener_fd(listener_set_find(&in_force, "web")), web_fd);
	cr_assert_neq(listener_fd(listener_set_find(&in_force, "admin")), admin_fd);
	cr_assert_eq(a->current->number, 2);
	cr_assert_eq(old->state, GEN_DRAINING);
	cr_assert_eq(old->drained_by, 2);
	cr_assert_eq(fake.last_signal[old->workers[0].pid - FAKE_PID_BASE],
	    SIGTERM);
	exit_all(old);
	cr_assert_eq(old->state, GEN_GONE);
}

Test(reload_steps, a_listener_removed_while_its_generation_drains_is_taken_back)
{
	char summary[256];
	int admin_fd;

	cr_assert_eq(reload_to_commit(TWO_PROGRAMS, NULL, summary,
	    sizeof(summary)), 0);
	admin_fd = listener_fd(listener_set_find(&in_force, "admin"));
	/* admin goes; b's old generation still holds it while it drains. */
	cr_assert_eq(reload_to_commit(
	    "[listener web]\nlisten = 127.0.0.1:0\n"
	    "[program a]\ncommand = /bin/a\nworkers = 2\nlisteners = web\n"
	    "[program b]\ncommand = /bin/b\nlisteners = web\n", NULL,
	    summary, sizeof(summary)), 2);
	cr_assert_null(listener_set_find(&in_force, "admin"));
	/* It comes back: the same socket, not one bound anew. */
	cr_assert_eq(reload_to_commit(TWO_PROGRAMS, NULL, summary,
	    sizeof(summary)), 2);
	cr_assert_eq(listener_fd(listener_set_find(&in_force, "admin")), admin_fd);
}

Test(reload_steps, a_reload_of_one_program_leaves_the_others)
{
	char summary[256];
	struct program *a, *b;
	struct generation *b1;

	cr_assert_eq(reload_to_commit(TWO_PROGRAMS, NULL, summary,
	    sizeof(summary)), 0);
	b = program_find(&progs, "b");
	b1 = b->current;
	cr_assert_eq(reload_to_commit(TWO_PROGRAMS, "a", summary,
	    sizeof(summary)), 1);
	cr_assert_str_eq(summary, "a gen 2");
	a = program_find(&progs, "a");
	cr_assert_eq(a->current->number, 2);
	cr_assert_eq(b->current, b1, "b was reloaded too");
	cr_assert_eq(b1->state, GEN_RUNNING);
}

Test(reload_steps, a_program_removed_from_the_config_drains)
{
	char summary[256];
	struct program *b;
	struct generation *b1;

	cr_assert_eq(reload_to_commit(TWO_PROGRAMS, NULL, summary,
	    sizeof(summary)), 0);
	b = program_find(&progs, "b");
	b1 = b->current;
	cr_assert_eq(reload_to_commit(
	    "[listener web]\nlisten = 127.0.0.1:0\n"
	    "[program a]\ncommand = /bin/a\nworkers = 2\nlisteners = web\n",
	    NULL, summary, sizeof(summary)), 2);
	cr_assert_str_eq(summary, "a gen 2");
	cr_assert_null(b->current);
	cr_assert_eq(b1->state, GEN_DRAINING);
}

Test(reload_steps, an_abort_kills_the_new_and_keeps_what_ran)
{
	char summary[256], *cause = NULL;
	struct program *a;
	struct generation *a1, *a2;
	struct reload *r;
	int web_fd;

	cr_assert_eq(reload_to_commit(TWO_PROGRAMS, NULL, summary,
	    sizeof(summary)), 0);
	a = program_find(&progs, "a");
	a1 = a->current;
	web_fd = listener_fd(listener_set_find(&in_force, "web"));
	r = reload_new(config_from_text(TWO_PROGRAMS), NULL, false, 7);
	cr_assert_eq(reload_bind(r, &in_force, &progs, &cause), 0);
	cr_assert_eq(reload_start(r, &progs, &env, &cause), 0);
	start_all();
	a2 = a->starting;
	cr_assert_not_null(a2);
	reload_abort(r, &progs);
	reload_free(r);
	cr_assert_null(a->starting);
	cr_assert_eq(a->current, a1);
	cr_assert_eq(a1->state, GEN_RUNNING);
	cr_assert_eq(a2->state, GEN_FAILED);
	cr_assert_eq(fake.last_signal[a2->workers[0].pid - FAKE_PID_BASE],
	    SIGKILL);
	cr_assert_eq(fake.last_signal[a1->workers[0].pid - FAKE_PID_BASE], 0,
	    "the running generation was signalled");
	cr_assert_eq(listener_fd(listener_set_find(&in_force, "web")), web_fd);
}

Test(reload_steps, a_generation_that_cannot_start_is_named)
{
	char summary[256];

	cr_assert_eq(reload_to_commit(TWO_PROGRAMS, NULL, summary,
	    sizeof(summary)), 0);
	fake.fail_spawn = true;
	cr_assert_eq(reload_to_commit(TWO_PROGRAMS, NULL, summary,
	    sizeof(summary)), -1);
	cr_assert_str_eq(summary, "a gen 2: fork: Cannot allocate memory");
	cr_assert_eq(program_find(&progs, "a")->current->number, 1);
	cr_assert_eq(program_find(&progs, "b")->current->number, 1);
}

Test(reload_steps, a_reload_may_not_change_the_control_socket)
{
	struct config *now = config_from_text("[supervisor]\ncontrol = /run/x.sock\n"
	    "[program a]\ncommand = /bin/a\n");
	struct config *next = config_from_text("[supervisor]\ncontrol = /run/y.sock\n"
	    "[program a]\ncommand = /bin/a\n");
	char *cause = NULL;

	cr_assert_eq(reload_config(now, &next, NULL, &cause), -1);
	cr_assert_null(next);
	cr_assert_str_eq(cause, "[supervisor] control changed from "
	    "/run/x.sock to /run/y.sock: it changes only when handoff restarts "
	    "(stop and start it); a reload may change log_level, listeners and "
	    "programs");
	free(cause);
	config_unref(now);
}
