/*
 * test_reload_steps.c: a reload's steps (reload.c) over programs whose
 * workers come from a fake spawner: which listeners a reload keeps, the
 * generations it starts, which generation events are its own, the commit
 * decided by the last one ready, the switch-over on commit, an abort
 * that leaves what ran untouched, a stop that cancels one, and how
 * reloads asked for during one coalesce. No process is started or
 * signalled.
 */
#include "autoconf.h"

#include <criterion/criterion.h>
#include <ctype.h>
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
#include "hashmap.h"
#include "listener.h"
#include "log.h"
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
static struct reload *current_reload;	/* in progress, as sup->reload */
static struct reload *aborted;		/* aborted by a failed generation */
static unsigned int last_id;		/* of the last reload begun */
static int failures;
static int commits;		/* times reload_gen_ready said to commit */
static char committed_by[64];	/* the generation whose READY said so */
static char abort_why[640];	/* why the last abort was decided */
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

/*
 * Generation events: decide like the supervisor does. The last of the
 * reload's generations ready decides the commit (done by the test); one
 * of them failing aborts the reload at once.
 */
static void
on_gen_event(struct generation *gen, enum gen_event ev, const char *why,
    void *arg)
{
	(void)arg;
	if (ev == GEN_EVENT_READY && reload_gen_ready(current_reload, gen)) {
		commits++;
		snprintf(committed_by, sizeof(committed_by), "%s gen %u",
		    gen->program, gen->number);
	} else if (ev == GEN_EVENT_FAILED) {
		failures++;
		if (!reload_owns(current_reload, gen))
			return;
		snprintf(abort_why, sizeof(abort_why), "%s gen %u: %s",
		    gen->program, gen->number, why);
		aborted = current_reload;
		current_reload = NULL;
		reload_abort(aborted, &progs);
	}
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

/* What the took_over hook saw: the progress then, and old workers told. */
static struct {
	unsigned int	 id;		/* 0: not called */
	char		 progress[8192];
	int		 signalled;
} at_takeover;

/* How many fake processes were sent a signal (0 checks nothing). */
static int
fake_signalled(void)
{
	int i, n = 0;

	for (i = 0; i < fake.spawned; i++)
		if (fake.last_signal[i] != 0)
			n++;
	return n;
}

/*
 * text with each "in Nms" as "in Xms" (into buf of len bytes): a
 * took-over line without its time, which a slow run makes more than 0.
 */
static const char *
without_ms(const char *text, char *buf, size_t len)
{
	const char *p = text, *digits;
	size_t used = 0;

	while (*p != '\0' && used + 8 < len) {
		if (strncmp(p, " in ", 4) == 0 && isdigit((unsigned char)p[4])) {
			for (digits = p + 4; isdigit((unsigned char)*digits);
			    digits++)
				continue;
			if (strncmp(digits, "ms", 2) == 0) {
				used += (size_t)snprintf(buf + used, len - used,
				    " in Xms");
				p = digits + 2;
				continue;
			}
		}
		buf[used++] = *p++;
	}
	buf[used] = '\0';
	return buf;
}

/* The took_over hook: what has happened by the time it is called. */
static void
on_took_over(void *arg, unsigned int id)
{
	(void)arg;
	at_takeover.id = id;
	snprintf(at_takeover.progress, sizeof(at_takeover.progress), "%s",
	    progress);
	at_takeover.signalled = fake_signalled();
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

/*
 * Turn the loop until every worker of a stopping generation was told to
 * stop: it is told in slices of a turn's time too.
 */
static void
tell_all(struct generation *gen)
{
	int turns = 0;

	while (gen->ntold < gen->held_from) {
		cr_assert_lt(turns++, 100000, "the workers were never all told");
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
 * Make the next reload, of text (only: one program), with its listeners
 * decided: the one in progress from now on.
 */
static struct reload *
reload_open(const char *text, const char *only)
{
	struct reload *r;
	char *cause = NULL;

	last_id++;
	r = reload_new(config_from_text(text), only, last_id == 1, last_id);
	cr_assert_not_null(r);
	cr_assert_eq(reload_bind(r, &in_force, &progs, &cause), 0, "%s", cause);
	current_reload = r;
	return r;
}

/* Begin a reload of text (only: one program): all its workers started. */
static struct reload *
reload_begin(const char *text, const char *only)
{
	struct reload *r = reload_open(text, only);
	char *cause = NULL;

	cr_assert_eq(reload_start(r, &progs, &env, &cause), 0, "%s", cause);
	start_all();
	return r;
}

/*
 * Commit the reload in progress, once the readiness of its generations
 * decided it: returns how many generations drain.
 */
static int
reload_finish(struct reload *r, int commits_before, char *summary,
    size_t len)
{
	int draining;

	cr_assert_eq(current_reload, r, "the reload was aborted: %s",
	    abort_why);
	cr_assert_eq(commits, commits_before + 1,
	    "the reload's commit was decided %d times",
	    commits - commits_before);
	draining = reload_commit(r, &progs, &env, summary, len);
	(void)reload_take_listeners(r, &in_force);
	reload_free(r);
	current_reload = NULL;
	return draining;
}

/*
 * Run a reload of text (only: one program) to its commit: returns how
 * many generations drain, or -1 if it failed to start.
 */
static int
reload_to_commit(const char *text, const char *only, char *summary,
    size_t len)
{
	struct reload *r = reload_open(text, only);
	char *cause = NULL;
	int before = commits;

	if (reload_start(r, &progs, &env, &cause) == -1) {
		cr_assert_not_null(cause);
		snprintf(summary, len, "%s", cause);
		free(cause);
		/* A generation that failed may have aborted it already. */
		if (current_reload == r) {
			reload_abort(r, &progs);
			reload_free(r);
			current_reload = NULL;
		}
		return -1;
	}
	start_all();
	all_ready();
	return reload_finish(r, before, summary, len);
}

static void
setup(void)
{
	memset(&fake, 0, sizeof(fake));
	progress[0] = '\0';
	memset(&at_takeover, 0, sizeof(at_takeover));
	env.took_over = NULL;
	failures = 0;
	commits = 0;
	committed_by[0] = abort_why[0] = '\0';
	current_reload = aborted = NULL;
	last_id = 0;
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
			gen_kill(gen);
			exit_all(gen);
		}
	while ((prog = TAILQ_FIRST(&progs)) != NULL)
		program_free(&progs, prog);
	reload_free(current_reload);
	reload_free(aborted);
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
 * A commit has every new generation take over, and those following the
 * reload told so (took_over), before any old generation is told to drain:
 * stopping one signals each of its workers, which takes time, and `handoff
 * reload` says "took over" when the line reaches it. A program the config
 * removed drains after that too.
 */
Test(reload_steps, the_takeover_is_told_before_any_old_generation_drains)
{
	char summary[256], lines[1024];

	cr_assert_eq(reload_to_commit(TWO_PROGRAMS, NULL, summary,
	    sizeof(summary)), 0);
	env.took_over = on_took_over;
	progress[0] = '\0';
	cr_assert_eq(reload_to_commit(TWO_PROGRAMS, NULL, summary,
	    sizeof(summary)), 2);
	cr_assert_eq(at_takeover.id, 2, "took_over was told of reload %u",
	    at_takeover.id);
	cr_expect_str_eq(without_ms(at_takeover.progress, lines,
	    sizeof(lines)), "2 a gen 2 starting 2 workers\n"
	    "2 b gen 2 starting 1 worker\n2 a gen 2 took over in Xms\n"
	    "2 b gen 2 took over in Xms\n");
	cr_expect_eq(at_takeover.signalled, 0, "%d old workers were told to "
	    "stop before the takeover was told", at_takeover.signalled);
	cr_expect_str_eq(progress + strlen(at_takeover.progress),
	    "2 a gen 1 draining (2 left)\n2 b gen 1 draining (1 left)\n");
	cr_expect_eq(fake_signalled(), 3, "the old workers are told to stop");

	/* b leaves the config. */
	memset(&at_takeover, 0, sizeof(at_takeover));
	progress[0] = '\0';
	cr_assert_eq(reload_to_commit(
	    "[listener web]\nlisten = 127.0.0.1:0\n"
	    "[program a]\ncommand = /bin/a\nworkers = 2\nlisteners = web\n",
	    NULL, summary, sizeof(summary)), 2);
	cr_assert_eq(at_takeover.id, 3);
	cr_expect_null(strstr(at_takeover.progress, "draining"), "%s",
	    at_takeover.progress);
	cr_expect_eq(at_takeover.signalled, 3, "only the workers of the "
	    "reload before were told to stop by then");
	cr_expect_str_eq(progress + strlen(at_takeover.progress),
	    "3 a gen 2 draining (2 left)\n3 b gen 2 draining (1 left)\n");
	cr_expect_eq(fake_signalled(), 6);
}

/*
 * A reload looks its programs up in an index by name: each running one is
 * found (the same program, not a second of that name), and one added is
 * in the list and found through the index from then on.
 */
Test(reload_steps, programs_are_found_by_name_through_an_index)
{
	struct program_list list = TAILQ_HEAD_INITIALIZER(list);
	struct program *p[300], *added;
	struct hashmap *index;
	char name[16];
	int i, n = 0;

	for (i = 0; i < 300; i++) {
		snprintf(name, sizeof(name), "p%d", i);
		cr_assert_not_null(p[i] = program_get(&list, name));
	}
	cr_assert_not_null(index = program_index(&list));
	for (i = 299; i >= 0; i--) {
		snprintf(name, sizeof(name), "p%d", i);
		cr_assert_eq(program_get_indexed(&list, index, name), p[i],
		    "%s", name);
	}
	cr_assert_not_null(added = program_get_indexed(&list, index, "new"));
	cr_assert_eq(program_get_indexed(&list, index, "new"), added);
	cr_assert_eq(program_find(&list, "new"), added);
	TAILQ_FOREACH(added, &list, entry)
		n++;
	cr_assert_eq(n, 301, "a program was added twice");
	hashmap_free(index);
	while ((added = TAILQ_FIRST(&list)) != NULL)
		program_free(&list, added);
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

/*
 * A reload of the same listeners (the common case) keeps the set in force
 * as it is, without matching each listener by its keys; one that changes
 * a listener's fd_name goes the general way, keeps the socket and renames
 * it at the commit.
 */
Test(reload_steps, a_reload_of_the_same_listeners_keeps_the_set_in_force)
{
	char summary[256];
	struct reload *r;
	struct listener *admin, **items;
	struct hashmap *index;
	int web_fd, admin_fd, before;

	cr_assert_eq(reload_to_commit(TWO_PROGRAMS, NULL, summary,
	    sizeof(summary)), 0);
	web_fd = listener_fd(listener_set_find(&in_force, "web"));
	admin_fd = listener_fd(listener_set_find(&in_force, "admin"));
	items = in_force.items;
	index = in_force.by_name;

	before = commits;
	r = reload_begin(TWO_PROGRAMS, NULL);
	cr_assert(r->listeners_unchanged);
	all_ready();
	cr_assert_eq(reload_finish(r, before, summary, sizeof(summary)), 2);
	cr_assert_str_eq(summary, "a gen 2, b gen 2");
	/* The very set in force (a new one is made while the old lives). */
	cr_assert_eq(in_force.items, items);
	cr_assert_eq(in_force.by_name, index);
	cr_assert_eq(in_force.count, 2);
	cr_assert_eq(listener_fd(listener_set_find(&in_force, "web")), web_fd);
	cr_assert_eq(listener_fd(listener_set_find(&in_force, "admin")),
	    admin_fd);

	before = commits;
	r = reload_begin(
	    "[listener web]\nlisten = 127.0.0.1:0\n"
	    "[listener admin]\nlisten = 127.0.0.2:0\nfd_name = adm\n"
	    "[program a]\ncommand = /bin/a\nworkers = 2\nlisteners = web\n"
	    "[program b]\ncommand = /bin/b\nlisteners = web admin\n", NULL);
	cr_assert_not(r->listeners_unchanged);
	all_ready();
	cr_assert_eq(reload_finish(r, before, summary, sizeof(summary)), 2);
	cr_assert_str_eq(summary, "a gen 3, b gen 3");
	cr_assert_neq(in_force.items, items);
	cr_assert_not_null(admin = listener_set_find(&in_force, "admin"));
	cr_assert_eq(listener_fd(admin), admin_fd);
	cr_assert_str_eq(admin->fd_name, "adm");
	cr_assert_eq(listener_fd(listener_set_find(&in_force, "web")), web_fd);
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

/*
 * An abort stops the new generations as a drain does (stop_signal, not
 * SIGKILL: a ready worker may be serving) and keeps what ran.
 */
Test(reload_steps, an_abort_stops_the_new_and_keeps_what_ran)
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
	tell_all(a2);
	cr_assert_eq(fake.last_signal[a2->workers[0].pid - FAKE_PID_BASE],
	    SIGTERM);
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

/* A full reload from now_text to next_text is refused: why is want. */
static void
expect_refused(const char *now_text, const char *next_text, const char *want)
{
	struct config *now = config_from_text(now_text);
	struct config *next = config_from_text(next_text);
	char *cause = NULL, *note = NULL;

	cr_assert_eq(reload_config(now, &next, NULL, &note, &cause), -1);
	cr_assert_null(note);
	cr_assert_null(next);
	cr_assert_str_eq(cause, want);
	free(cause);
	config_unref(now);
}

Test(reload_steps, a_reload_may_not_change_the_control_socket)
{
	expect_refused("[supervisor]\ncontrol = /run/x.sock\n"
	    "[program a]\ncommand = /bin/a\n",
	    "[supervisor]\ncontrol = /run/y.sock\n"
	    "[program a]\ncommand = /bin/a\n",
	    "[supervisor] control changed from /run/x.sock to /run/y.sock: it "
	    "changes only when handoff restarts (stop and start it); a reload "
	    "may change log_level, listeners and programs");
}

/*
 * Reload program only of now from next_text: it goes on, keeping now's
 * [supervisor]. Its note, or NULL; the caller frees it.
 */
static char *
note_of(const struct config *now, const char *next_text, const char *only)
{
	struct config *next = config_from_text(next_text);
	char *cause = NULL, *note = NULL;

	cr_assert_eq(reload_config(now, &next, only, &note, &cause), 0, "%s",
	    cause);
	cr_expect_str_eq(next->supervisor.name, now->supervisor.name);
	cr_expect_str_eq(next->supervisor.control, now->supervisor.control);
	cr_expect_str_eq(next->supervisor.pidfile, now->supervisor.pidfile);
	cr_expect_eq(next->supervisor.log_level, now->supervisor.log_level);
	config_unref(next);
	return note;
}

/*
 * Reload program a of now from next_text: it goes on, keeping now's
 * [supervisor]; its note is want (NULL: none).
 */
static void
expect_note(const struct config *now, const char *next_text, const char *want)
{
	char *note = note_of(now, next_text, "a");

	if (want == NULL)
		cr_expect_null(note, "a note with nothing to say: %s", note);
	else
		cr_expect_str_eq(note != NULL ? note : "(none)", want);
	free(note);
}

/*
 * A reload of one program keeps [supervisor] as in force: when the file
 * sets one of its keys otherwise, the reload goes on and its note says
 * which key, both values and what would apply it; with [supervisor] as
 * in force, there is no note.
 */
Test(reload_steps, a_reload_of_one_program_notes_the_supervisor_it_keeps)
{
	struct config *now = config_from_text("[supervisor]\n"
	    "control = /run/x.sock\nlog_level = info\n"
	    "[program a]\ncommand = /bin/a\n");

	expect_note(now, "[supervisor]\ncontrol = /run/x.sock\n"
	    "log_level = debug\n[program a]\ncommand = /bin/a\n",
	    "[supervisor] log_level is debug in the file, info in force: a "
	    "reload of program a keeps [supervisor] as it is (handoff reload "
	    "without a program name applies it)");
	expect_note(now, "[supervisor]\ncontrol = /run/y.sock\n"
	    "log_level = info\n[program a]\ncommand = /bin/a\n",
	    "[supervisor] control is /run/y.sock in the file, /run/x.sock in "
	    "force: a reload of program a keeps [supervisor] as it is (a "
	    "restart of handoff applies it)");
	expect_note(now, "[supervisor]\ncontrol = /run/x.sock\n"
	    "log_level = info\n[program a]\ncommand = /bin/a2\n", NULL);
	config_unref(now);
}

/*
 * With handoff run --log-level, log_level is the command line's until a
 * restart: no reload applies the file's, so a reload of one program does
 * not say that a reload of every program would.
 */
Test(reload_steps, a_reload_of_one_program_says_nothing_of_a_pinned_log_level)
{
	struct config *now = config_from_text("[supervisor]\n"
	    "control = /run/x.sock\nlog_level = debug\n"
	    "[program a]\ncommand = /bin/a\n");

	log_pin_level(LOG_LEVEL_DEBUG);
	expect_note(now, "[supervisor]\ncontrol = /run/x.sock\n"
	    "[program a]\ncommand = /bin/a\n", NULL);
	config_unref(now);
}

/*
 * A new name without control = or pidfile = moves the control socket and
 * the pidfile, which follow it: the refusal, and the note of a reload of
 * one program, name the key the file changed, not the paths that follow.
 */
Test(reload_steps, a_new_name_is_named_as_a_name_not_as_its_paths)
{
	static const char two[] = "[supervisor]\nname = two\n"
	    "[program a]\ncommand = /bin/a\n";
	struct config *now = config_from_text("[supervisor]\nname = one\n"
	    "[program a]\ncommand = /bin/a\n");

	expect_refused("[supervisor]\nname = one\n[program a]\ncommand = "
	    "/bin/a\n", two, "[supervisor] name changed from one to two: it "
	    "changes only when handoff restarts (stop and start it); a reload "
	    "may change log_level, listeners and programs");
	expect_note(now, two, "[supervisor] name is two in the file, one in "
	    "force: a reload of program a keeps [supervisor] as it is (a "
	    "restart of handoff applies it)");
	config_unref(now);
}


/* A config of program a with this [supervisor]; the caller frees it. */
static char *
supervisor_text(const char *name, const char *control, const char *pidfile,
    const char *log_level)
{
	char *text;

	cr_assert_neq(asprintf(&text, "[supervisor]\nname = %s\ncontrol = %s\n"
	    "pidfile = %s\nlog_level = %s\n[program a]\ncommand = /bin/a\n",
	    name, control, pidfile, log_level), -1);
	return text;
}

/* A config of program a with this [supervisor]. */
static struct config *
config_of_keys(const char *name, const char *control, const char *pidfile,
    const char *log_level)
{
	char *text = supervisor_text(name, control, pidfile, log_level);
	struct config *conf = config_from_text(text);

	free(text);
	return conf;
}

/* Reload program a of now from [supervisor] keys: expect_note. */
static void
expect_note_of_keys(const struct config *now, const char *name,
    const char *control, const char *pidfile, const char *log_level,
    const char *want)
{
	char *text = supervisor_text(name, control, pidfile, log_level);

	expect_note(now, text, want);
	free(text);
}

/*
 * When the file changes several [supervisor] keys, the note of a reload
 * of one program names each, with both values, in one line, and says
 * what applies each: a restart for name, control and pidfile, a reload
 * of every program for log_level.
 */
Test(reload_steps, a_reload_of_one_program_notes_each_supervisor_key_it_keeps)
{
	struct config *now = config_of_keys("one", "/run/x.sock",
	    "/run/x.pid", "info");

	expect_note_of_keys(now, "one", "/run/y.sock", "/run/x.pid", "debug",
	    "[supervisor] control is /run/y.sock in the file, /run/x.sock in "
	    "force; log_level is debug in the file, info in force: a reload of "
	    "program a keeps [supervisor] as it is (a restart of handoff "
	    "applies control, handoff reload without a program name applies "
	    "log_level)");
	expect_note_of_keys(now, "one", "/run/y.sock", "/run/y.pid", "info",
	    "[supervisor] control is /run/y.sock in the file, /run/x.sock in "
	    "force; pidfile is /run/y.pid in the file, /run/x.pid in force: a "
	    "reload of program a keeps [supervisor] as it is (a restart of "
	    "handoff applies them)");
	expect_note_of_keys(now, "two", "/run/x.sock", "/run/y.pid", "debug",
	    "[supervisor] name is two in the file, one in force; pidfile is "
	    "/run/y.pid in the file, /run/x.pid in force; log_level is debug "
	    "in the file, info in force: a reload of program a keeps "
	    "[supervisor] as it is (a restart of handoff applies name and "
	    "pidfile, handoff reload without a program name applies "
	    "log_level)");
	expect_note_of_keys(now, "two", "/run/y.sock", "/run/y.pid", "warn",
	    "[supervisor] name is two in the file, one in force; control is "
	    "/run/y.sock in the file, /run/x.sock in force; pidfile is "
	    "/run/y.pid in the file, /run/x.pid in force; log_level is warn in "
	    "the file, info in force: a reload of program a keeps [supervisor] "
	    "as it is (a restart of handoff applies name, control and pidfile, "
	    "handoff reload without a program name applies log_level)");
	config_unref(now);
}

/* With --log-level, the note of other keys leaves log_level out. */
Test(reload_steps, a_pinned_log_level_is_left_out_of_a_note_of_other_keys)
{
	struct config *now = config_of_keys("one", "/run/x.sock",
	    "/run/x.pid", "info");

	log_pin_level(LOG_LEVEL_INFO);
	expect_note_of_keys(now, "one", "/run/y.sock", "/run/y.pid", "debug",
	    "[supervisor] control is /run/y.sock in the file, /run/x.sock in "
	    "force; pidfile is /run/y.pid in the file, /run/x.pid in force: a "
	    "reload of program a keeps [supervisor] as it is (a restart of "
	    "handoff applies them)");
	config_unref(now);
}

/*
 * A new name with a control socket of its own: both are named, by the
 * refusal and by the note, but not the default pidfile that follows the
 * name.
 */
Test(reload_steps, a_new_name_and_a_path_of_its_own_are_each_named)
{
	static const char one[] = "[supervisor]\nname = one\n"
	    "control = /run/one.sock\n[program a]\ncommand = /bin/a\n";
	static const char two[] = "[supervisor]\nname = two\n"
	    "control = /run/two.sock\n[program a]\ncommand = /bin/a\n";
	struct config *now = config_from_text(one);

	expect_refused(one, two, "[supervisor] name changed from one to two; "
	    "control changed from /run/one.sock to /run/two.sock: they change "
	    "only when handoff restarts (stop and start it); a reload may "
	    "change log_level, listeners and programs");
	expect_note(now, two, "[supervisor] name is two in the file, one in "
	    "force; control is /run/two.sock in the file, /run/one.sock in "
	    "force: a reload of program a keeps [supervisor] as it is (a "
	    "restart of handoff applies them)");
	config_unref(now);
}

/*
 * A full reload is refused naming each key that only a restart changes,
 * and not log_level, which it would have applied.
 */
Test(reload_steps, a_refused_reload_names_each_key_a_restart_changes)
{
	char *now_text = supervisor_text("one", "/run/x.sock", "/run/x.pid",
	    "info");
	char *next_text = supervisor_text("two", "/run/y.sock", "/run/y.pid",
	    "debug");

	expect_refused(now_text, next_text, "[supervisor] name changed from "
	    "one to two; control changed from /run/x.sock to /run/y.sock; "
	    "pidfile changed from /run/x.pid to /run/y.pid: they change only "
	    "when handoff restarts (stop and start it); a reload may change "
	    "log_level, listeners and programs");
	free(now_text);
	free(next_text);
}

/*
 * A pidfile path over several lines ("/var/lib/AGE-" and 0123456789
 * repeated, "/handoff.pid"): 297 bytes, joined with spaces.
 */
static char *
long_pidfile(const char *age)
{
	static const char digits[] = "0123456789012345678901234567890123456789"
	    "01234567890123456789012345678901234567890123456789";
	char *line;

	cr_assert_neq(asprintf(&line, "/var/lib/%s-%s\n  %s\n  %s/handoff.pid",
	    age, digits, digits, digits), -1);
	return line;
}

/*
 * A config whose [supervisor] keys are all long, named after age ("old",
 * "new"), and its program too.
 */
static char *
long_config(const char *age, const char *log_level)
{
	char *pidfile = long_pidfile(age), *text;

	cr_assert_neq(asprintf(&text, "[supervisor]\nname = %s-name-"
	    "56789012345678901234567890123456789012345678901234\n"
	    "control = /run/%s-control-901234567890123456789012345678901234"
	    "567890123456789012345678.sock\npidfile = %s\nlog_level = %s\n"
	    "[program "
	    "p123456789012345678901234567890123456789012345678901234567890123]"
	    "\ncommand = /bin/a\n", age, age, pidfile, log_level), -1);
	free(pidfile);
	return text;
}

/* Tell whether s ends with end. */
static bool
ends_with(const char *s, const char *end)
{
	size_t len = strlen(s), n = strlen(end);

	return len >= n && strcmp(s + len - n, end) == 0;
}

/* Tell whether s is whole UTF-8: no character cut short. */
static bool
whole_utf8(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	int more;

	while (*p != '\0') {
		more = *p < 0x80 ? 0 : *p >= 0xf0 ? 3 : *p >= 0xe0 ? 2 :
		    *p >= 0xc0 ? 1 : -1;
		if (more < 0)
			return false;
		for (p++; more > 0; more--, p++)
			if ((*p & 0xc0) != 0x80)
				return false;
	}
	return true;
}

/*
 * The note and the refusal fit in a progress line (511 bytes): values
 * too long for that are cut in the middle, the longest first, keeping
 * where the file's and the one in force differ in view, and every key
 * stays named, with what applies it. Here every key changes, to names of
 * 64 bytes, control sockets of 82 (the most) and pidfiles of 297, for a
 * program of a name of 64 bytes.
 */
Test(reload_steps, long_values_are_cut_in_a_note_never_the_keys)
{
	char *now_text = long_config("old", "info");
	char *next_text = long_config("new", "debug");
	char *note, *cause = NULL;
	struct config *now, *next;

	now = config_from_text(now_text);
	cr_assert_eq(strlen(now->supervisor.control), 82);
	note = note_of(now, next_text,
	    "p123456789012345678901234567890123456789012345678901234567890123");
	cr_expect_str_eq(note, "[supervisor] name is new-name...678901234 in "
	    "the file, old-name...678901234 in force; control is "
	    "/run/new...5678.sock in the file, /run/old...5678.sock in force; "
	    "pidfile is ...lib/new...off.pid in the file, ...lib/old...off.pid "
	    "in force; log_level is debug in the file, info in force: a reload "
	    "of program "
	    "p123456789012345678901234567890123456789012345678901234567890123 "
	    "keeps [supervisor] as it is (a restart of handoff applies name, "
	    "control and pidfile, handoff reload without a program name "
	    "applies log_level)");
	cr_expect_leq(strlen(note), 511, "%zu bytes: %s", strlen(note), note);
	free(note);

	next = config_from_text(next_text);
	cr_assert_eq(reload_config(now, &next, NULL, &note, &cause), -1);
	cr_expect_str_eq(cause, "[supervisor] name changed from "
	    "old-name-567890123456789...123456789012345678901234 to "
	    "new-name-567890123456789...123456789012345678901234; control "
	    "changed from /run/old-control-9012345...0123456789012345678.sock "
	    "to /run/new-control-9012345...0123456789012345678.sock; pidfile "
	    "changed from /var/lib/old-01234567890...890123456789/handoff.pid "
	    "to /var/lib/new-01234567890...890123456789/handoff.pid: they "
	    "change only when handoff restarts (stop and start it); a reload "
	    "may change log_level, listeners and programs");
	cr_expect_leq(strlen(cause), 511, "%zu bytes: %s", strlen(cause),
	    cause);
	free(cause);
	free(now_text);
	free(next_text);
	config_unref(now);
}

/*
 * One long value alone is cut too, so that the note still ends with what
 * applies it; a path of characters of 3 bytes ("€") is cut between them.
 */
Test(reload_steps, a_long_value_is_cut_between_its_characters)
{
	char euros[50 * 3 + 1] = "", *next_text, *note;
	struct config *now = config_from_text("[supervisor]\n"
	    "pidfile = /srv/old.pid\n[program a]\ncommand = /bin/a\n");
	int i;

	for (i = 0; i < 50; i++)
		strcat(euros, "\xe2\x82\xac");
	cr_assert_neq(asprintf(&next_text, "[supervisor]\npidfile = /srv/%s\n"
	    "  %s\n  %s.pid\n[program a]\ncommand = /bin/a\n", euros, euros,
	    euros), -1);
	note = note_of(now, next_text, "a");
	cr_expect(strncmp(note, "[supervisor] pidfile is /srv/\xe2\x82\xac", 32)
	    == 0, "%s", note);
	cr_expect(strstr(note, "\xe2\x82\xac...\xe2\x82\xac") != NULL, "%s",
	    note);
	cr_expect(ends_with(note, ".pid in the file, /srv/old.pid in "
	    "force: a reload of program a keeps [supervisor] as it is (a "
	    "restart of handoff applies it)"), "%s", note);
	cr_expect_leq(strlen(note), 511, "%zu bytes: %s", strlen(note), note);
	cr_expect(whole_utf8(note), "a character cut short: %s", note);
	free(note);
	free(next_text);
	config_unref(now);
}

/* Worker i of gen says READY=1. */
static void
say_ready(struct generation *gen, int i)
{
	gen_notify(gen, &gen->workers[i], "READY", "1");
}

/* Start TWO_PROGRAMS from nothing: *a and *b are its programs. */
static void
start_two_programs(struct program **a, struct program **b)
{
	char summary[256];

	cr_assert_eq(reload_to_commit(TWO_PROGRAMS, NULL, summary,
	    sizeof(summary)), 0);
	cr_assert_not_null(*a = program_find(&progs, "a"));
	cr_assert_not_null(*b = program_find(&progs, "b"));
}

/*
 * The commit waits for every new generation: not a's two workers, not
 * a's generation whole; b's, the last, decides it, once.
 */
Test(reload_steps, the_last_generation_ready_decides_the_commit)
{
	char summary[256];
	struct program *a, *b;
	struct generation *a2, *b2;
	struct reload *r;

	start_two_programs(&a, &b);
	r = reload_begin(TWO_PROGRAMS, NULL);
	a2 = a->starting;
	b2 = b->starting;
	say_ready(a2, 0);
	cr_assert_eq(commits, 1, "committed with a worker of a ready");
	say_ready(a2, 1);
	cr_assert_eq(a2->nready, 2);
	cr_assert_eq(commits, 1, "committed with a ready, b not");
	say_ready(b2, 0);
	cr_assert_eq(commits, 2, "b, the last one, is ready: no commit");
	cr_assert_str_eq(committed_by, "b gen 2");
	cr_assert_eq(reload_finish(r, 1, summary, sizeof(summary)), 2);
	cr_assert_str_eq(summary, "a gen 2, b gen 2");
	cr_assert_eq(a->current, a2);
	cr_assert_eq(b->current, b2);
}

/*
 * A new generation that fails aborts the reload: every new one is told to
 * stop (the other program's, fully ready and serving, too: stop_signal,
 * not SIGKILL), nothing commits, what ran keeps running, and the failure
 * is named.
 */
Test(reload_steps, a_generation_that_fails_aborts_the_reload)
{
	struct program *a, *b;
	struct generation *a1, *b1, *a2, *b2;

	start_two_programs(&a, &b);
	a1 = a->current;
	b1 = b->current;
	reload_begin(TWO_PROGRAMS, NULL);
	a2 = a->starting;
	b2 = b->starting;
	say_ready(b2, 0);
	say_ready(a2, 0);
	cr_assert_null(aborted);
	fake.alive[a2->workers[1].pid - FAKE_PID_BASE] = false;
	gen_worker_exited(a2, &a2->workers[1], 3 << 8);
	cr_assert_not_null(aborted, "a failed generation did not abort");
	cr_assert_null(current_reload);
	cr_assert_eq(strncmp(abort_why, "a gen 2: worker 1 pid ", 22), 0,
	    "%s", abort_why);
	cr_assert_not_null(strstr(abort_why, "before ready"), "%s", abort_why);
	cr_assert_eq(commits, 1, "the aborted reload committed");
	cr_assert_null(a->starting);
	cr_assert_null(b->starting);
	cr_assert_eq(a2->state, GEN_FAILED);
	cr_assert_eq(b2->state, GEN_FAILED);
	tell_all(a2);
	tell_all(b2);
	cr_assert_eq(fake.last_signal[a2->workers[0].pid - FAKE_PID_BASE],
	    SIGTERM);
	cr_assert_eq(fake.last_signal[b2->workers[0].pid - FAKE_PID_BASE],
	    SIGTERM);
	cr_assert_eq(a->current, a1);
	cr_assert_eq(b->current, b1);
	cr_assert_eq(a1->state, GEN_RUNNING);
	cr_assert_eq(b1->state, GEN_RUNNING);
}

/*
 * Stop every generation as the supervisor's stop does: kill every one
 * with now, else drain them all (those still starting too).
 */
static void
stop_all(bool now)
{
	struct program *prog;
	struct generation *gen;

	TAILQ_FOREACH(prog, &progs, entry)
		TAILQ_FOREACH(gen, &prog->gens, entry)
			if (now)
				gen_kill(gen);
			else
				gen_drain(gen);
}

/*
 * A stop during a reload cancels it: no program is left starting, the
 * new generations' events decide nothing and none takes over; the stop
 * drains them (not as failed: stop_signal, as the running ones get).
 */
Test(reload_steps, a_stop_during_a_reload_cancels_it)
{
	struct program *a, *b;
	struct generation *a1, *b1, *a2, *b2;
	struct reload *r;
	int i;

	start_two_programs(&a, &b);
	a1 = a->current;
	b1 = b->current;
	r = reload_begin(TWO_PROGRAMS, NULL);
	a2 = a->starting;
	b2 = b->starting;
	say_ready(b2, 0);
	current_reload = NULL;
	reload_cancel(r, &progs);
	cr_assert_null(a->starting);
	cr_assert_null(b->starting);
	cr_assert_not(reload_owns(r, a2), "a cancelled reload's is its own");
	cr_assert_not(reload_owns(r, b2), "a cancelled reload's is its own");
	reload_free(r);
	say_ready(a2, 0);
	say_ready(a2, 1);
	cr_assert_eq(commits, 1, "a cancelled reload committed");
	stop_all(false);
	cr_assert_eq(a->current, a1);
	cr_assert_eq(b->current, b1);
	cr_assert_eq(a2->state, GEN_DRAINING);
	cr_assert_eq(b2->state, GEN_DRAINING);
	tell_all(a2);
	tell_all(b2);
	for (i = 0; i < a2->nworkers; i++)
		cr_assert_eq(fake.last_signal[a2->workers[i].pid -
		    FAKE_PID_BASE], SIGTERM);
	cr_assert_eq(fake.last_signal[b2->workers[0].pid - FAKE_PID_BASE],
	    SIGTERM);
	cr_assert_eq(fake.last_signal[a1->workers[0].pid - FAKE_PID_BASE],
	    SIGTERM);
	cr_assert_eq(fake.last_signal[b1->workers[0].pid - FAKE_PID_BASE],
	    SIGTERM);
	exit_all(a2);
	exit_all(b2);
	cr_assert_eq(a2->state, GEN_GONE);
	cr_assert_eq(failures, 0, "a generation the stop killed failed");
}

/*
 * Only the generations the reload in progress started are its own: not
 * those of an earlier, aborted reload, not the running ones, not those
 * draining (of a program the config removed, too); and their readiness
 * does not count towards its commit.
 */
Test(reload_steps, only_the_reloads_own_generations_decide_it)
{
	char summary[256];
	struct program *a, *b;
	struct generation *a1, *b1, *a2, *a3, *b2, *a4;
	struct reload *r3, *r4;
	int i;

	start_two_programs(&a, &b);
	a1 = a->current;
	b1 = b->current;
	/* b leaves the config: a1 and b1 drain. */
	cr_assert_eq(reload_to_commit(
	    "[listener web]\nlisten = 127.0.0.1:0\n"
	    "[program a]\ncommand = /bin/a\nworkers = 2\nlisteners = web\n",
	    NULL, summary, sizeof(summary)), 2);
	a2 = a->current;
	cr_assert_eq(b1->state, GEN_DRAINING);
	/* b comes back in a reload that is aborted. */
	r3 = reload_begin(TWO_PROGRAMS, NULL);
	a3 = a->starting;
	b2 = b->starting;
	cr_assert(reload_owns(r3, a3));
	cr_assert(reload_owns(r3, b2));
	reload_abort(r3, &progs);
	reload_free(r3);
	current_reload = NULL;
	/* Then a reload of a alone. */
	r4 = reload_begin(TWO_PROGRAMS, "a");
	a4 = a->starting;
	cr_assert_null(b->starting);
	cr_assert(reload_owns(r4, a4));
	cr_assert_not(reload_owns(NULL, a4), "no reload in progress owns it");
	cr_assert_not(reload_owns(r4, a3), "an aborted reload's is its own");
	cr_assert_not(reload_owns(r4, b2), "an aborted reload's is its own");
	cr_assert_not(reload_owns(r4, a2), "the running one is its own");
	cr_assert_not(reload_owns(r4, a1), "a draining one is its own");
	cr_assert_not(reload_owns(r4, b1), "a removed program's is its own");
	/* Events of those, had they any, count for nothing. */
	cr_assert_not(reload_gen_ready(r4, a3));
	cr_assert_not(reload_gen_ready(r4, b2));
	cr_assert_not(reload_gen_ready(r4, a2));
	cr_assert_not(reload_gen_ready(r4, a1));
	cr_assert_not(reload_gen_ready(r4, b1));
	cr_assert_eq(commits, 2);
	say_ready(a4, 0);
	cr_assert_eq(commits, 2, "committed with one worker of two ready");
	say_ready(a4, 1);
	cr_assert_eq(commits, 3);
	cr_assert_str_eq(committed_by, "a gen 4");
	cr_assert_eq(reload_finish(r4, 2, summary, sizeof(summary)), 1);
	cr_assert_str_eq(summary, "a gen 4");
	for (i = 0; i < a2->nworkers; i++)
		cr_assert_eq(fake.last_signal[a2->workers[i].pid -
		    FAKE_PID_BASE], SIGTERM);
}

/*
 * Ask for reloads (NULL: of every program) while one is in progress,
 * then run those queued, one after the other, once it is done: returns
 * what each covered (its commit's summary), joined by "; ".
 */
static const char *
queued_reloads_cover(const char *const *asked, size_t n)
{
	static char covered[512];
	struct reload_queue q = { 0 };
	struct reload *r;
	char summary[256], *only = NULL;
	size_t i, len = 0;

	cr_assert_eq(reload_to_commit(TWO_PROGRAMS, NULL, summary,
	    sizeof(summary)), 0);
	r = reload_begin(TWO_PROGRAMS, NULL);
	for (i = 0; i < n; i++)
		cr_assert_eq(reload_queue_add(&q, asked[i]), i == 0,
		    "request %zu: %s as the first one queued", i,
		    i == 0 ? "not taken" : "taken");
	all_ready();
	cr_assert_eq(reload_finish(r, 1, summary, sizeof(summary)), 2);
	covered[0] = '\0';
	for (i = 0; reload_queue_take(&q, &only); i++) {
		cr_assert_lt(i, n, "more reloads ran than were asked for");
		cr_assert_geq(reload_to_commit(TWO_PROGRAMS, only, summary,
		    sizeof(summary)), 1);
		len += (size_t)snprintf(covered + len, sizeof(covered) - len,
		    "%s%s", i > 0 ? "; " : "", summary);
		free(only);
	}
	cr_assert_not(q.queued);
	cr_assert_null(q.programs);
	return covered;
}

Test(reload_steps, a_reload_asked_for_during_one_runs_after_it)
{
	const char *asked[] = { "b" };

	cr_assert_str_eq(queued_reloads_cover(asked, 1), "b gen 3");
}

Test(reload_steps, two_reloads_of_a_program_during_one_run_once)
{
	const char *asked[] = { "b", "b" };

	cr_assert_str_eq(queued_reloads_cover(asked, 2), "b gen 3");
}

Test(reload_steps, reloads_of_two_programs_during_one_run_one_after_the_other)
{
	const char *asked[] = { "b", "a" };

	cr_assert_str_eq(queued_reloads_cover(asked, 2), "b gen 3; a gen 3");
}

Test(reload_steps, a_full_reload_after_one_of_a_program_reloads_every_program)
{
	const char *asked[] = { "b", NULL };

	cr_assert_str_eq(queued_reloads_cover(asked, 2), "a gen 3, b gen 3");
}

Test(reload_steps, a_reload_of_a_program_after_a_full_one_reloads_every_program)
{
	const char *asked[] = { NULL, "b" };

	cr_assert_str_eq(queued_reloads_cover(asked, 2), "a gen 3, b gen 3");
}

Test(reload_steps, a_program_asked_for_again_waits_in_its_place)
{
	const char *asked[] = { "a", "b", "a", "a" };

	cr_assert_str_eq(queued_reloads_cover(asked, 4), "a gen 3; b gen 3");
}

Test(reload_steps, nothing_queued_runs_nothing)
{
	struct reload_queue q = { 0 };
	char *only = NULL;

	cr_assert_not(reload_queue_take(&q, &only));
	cr_assert(reload_queue_add(&q, "a"));
	cr_assert_not(reload_queue_add(&q, "b"));
	reload_queue_clear(&q);
	cr_assert_not(reload_queue_take(&q, &only), "cleared, yet queued");
	cr_assert_null(only);
}
