/*
 * test_generation.c: the generation and worker state machines, driven by
 * a fake spawner: no process is started or signalled. Fake processes are
 * pids from 1000000 up; a test makes them send READY=1, exit, or fail to
 * exec, and looks at what the generation reports and does.
 */
#include "autoconf.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cause.h"
#include "config.h"
#include "config_text.h"
#include "generation.h"
#include "pidmap.h"
#include "state.h"
#include "support.h"
#include "worker.h"

#define FAKE_PID_BASE	1000000
#define FAKE_MAX	4096

/* The fake processes and what was done to them. */
static struct {
	bool		 alive[FAKE_MAX];
	int		 last_signal[FAKE_MAX];	/* to the process or its group */
	pid_t		 pgid[FAKE_MAX];	/* 0: it leads its own group */
	int		 spawned;
	int		 fail_spawn_at;	/* the nth spawn fails (1-based), 0 never */
	bool		 exec_fails_next;
	bool		 exec_fails_late;	/* in flight, told at its settle */
	int		 exec_later;	/* settles say "on its way" this often */
	int		 settles;	/* settles asked for */
	bool		 in_flight[FAKE_MAX];
	long		 spawn_spin_us;	/* each spawn takes this long */
	long		 signal_spin_us;	/* each signal sent takes this long */
	int		 signals[FAKE_MAX];	/* sent to the process itself */
	int		 group_probes;	/* kill(-pgid, 0): is a group alive? */
	int		 slots;		/* with fake_spawn_ready: starts that
					   would not wait now */
	int		 ready_asks;	/* spawn_ready calls */
	void		 (*wake)(void *);	/* told once a start would not wait */
	void		*wake_arg;
} fake;

/* The fake process operations (spawn_ready set by the tests of it). */
static int	fake_spawn(struct worker *, struct worker_proc *, char **);
static int	fake_kill(pid_t, int);
static pid_t	fake_getpgid(pid_t);
static bool	fake_settle(pid_t);
static struct proc_ops fake_ops = {
	.spawn = fake_spawn,
	.kill = fake_kill,
	.getpgid = fake_getpgid,
	.track = NULL,
	.settle = fake_settle,
	.spawn_ready = NULL,
};

/* What the generation reported. */
static struct {
	int		 ready, failed, gone, worker_ready, worker_exited, serving;
	char		 why[512];
} seen;

static struct event_base *base;
static struct pidmap *pids;
static struct pidmap *groups;
static struct config *conf;

/* The index of a fake pid, or -1 if it is not one. */
static int
fake_index(pid_t pid)
{
	if (pid < 0)
		pid = -pid;
	if (pid < FAKE_PID_BASE || pid >= FAKE_PID_BASE + FAKE_MAX)
		return -1;
	return pid - FAKE_PID_BASE;
}

/* Fake spawn: a new live pid, or the failure the test asked for. */
static int
fake_spawn(struct worker *w, struct worker_proc *proc, char **cause)
{
	int i;

	(void)w;
	support_spin_us(fake.spawn_spin_us);
	if (fake.fail_spawn_at != 0 && fake.spawned + 1 == fake.fail_spawn_at) {
		fake.fail_spawn_at = 0;
		*cause = strdup("fork: Resource temporarily unavailable");
		return -1;
	}
	cr_assert_lt(fake.spawned, FAKE_MAX);
	i = fake.spawned++;
	proc->pid = FAKE_PID_BASE + i;
	proc->output_fd = -1;
	if (fake.exec_fails_next) {
		/* A clone whose exec failed: reaped already. */
		proc->wait_status = 127 << 8;
		*cause = strdup("cannot run /bin/app: exec: No such file or "
		    "directory");
		return WORKER_CANNOT_RUN;
	}
	fake.alive[i] = true;
	fake.in_flight[i] = fake.exec_fails_late || fake.exec_later > 0;
	if (fake_ops.spawn_ready != NULL) {
		cr_assert_gt(fake.slots, 0, "a start that would have waited");
		fake.slots--;
	}
	return 0;
}

/*
 * Fake spawn_ready: a start would not wait while a slot is left; else
 * wake is kept, for fake_slot_free.
 */
static bool
fake_spawn_ready(void (*wake)(void *), void *arg)
{
	fake.ready_asks++;
	if (fake.slots > 0)
		return true;
	fake.wake = wake;
	fake.wake_arg = arg;
	return false;
}

/* An earlier start is done: its slot is free, and the waiter is told. */
static void
fake_slot_free(void)
{
	void (*wake)(void *) = fake.wake;

	fake.slots++;
	fake.wake = NULL;
	if (wake != NULL)
		wake(fake.wake_arg);
}

/* The cause a start in flight that cannot exec is told with. */
#define LATE_CAUSE	"cannot run /bin/app: exec: Permission denied"

/*
 * Fake settle: a start in flight is still on its way to exec while
 * exec_later says so; then it settles, and one whose exec fails is told
 * now, as spawn.c tells the supervisor, which notes it on the worker.
 */
static bool
fake_settle(pid_t pid)
{
	int i = fake_index(pid);

	fake.settles++;
	if (i == -1 || !fake.in_flight[i])
		return true;
	if (fake.exec_later > 0) {
		fake.exec_later--;
		return false;
	}
	fake.in_flight[i] = false;
	if (fake.exec_fails_late)
		worker_note_cannot_run(pidmap_get(pids, pid), LATE_CAUSE);
	return true;
}

/* Fake getpgid(2). */
static pid_t
fake_getpgid(pid_t pid)
{
	int i = fake_index(pid);

	if (i == -1 || !fake.alive[i]) {
		errno = ESRCH;
		return -1;
	}
	return fake.pgid[i] != 0 ? fake.pgid[i] : pid;
}

/*
 * Fake kill(2): records the signal (to a group: on its leader); a live
 * fake process, or a group with one, "exists".
 */
static int
fake_kill(pid_t pid, int sig)
{
	int i = fake_index(pid), k;
	bool found = false;

	cr_assert_geq(i, 0, "a real pid %d was signalled", (int)pid);
	if (pid < 0 && sig == 0)
		fake.group_probes++;
	if (sig != 0) {
		support_spin_us(fake.signal_spin_us);
		fake.last_signal[i] = sig;
		if (pid > 0)
			fake.signals[i]++;
	}
	if (pid > 0)
		found = fake.alive[i];
	for (k = 0; pid < 0 && k < fake.spawned; k++)
		if (fake.alive[k] && fake_getpgid(FAKE_PID_BASE + k) == -pid)
			found = true;
	if (found)
		return 0;
	errno = ESRCH;
	return -1;
}


/* Record generation events. */
static void
on_event(struct generation *gen, enum gen_event ev, const char *why, void *arg)
{
	(void)gen;
	(void)arg;
	switch (ev) {
	case GEN_EVENT_READY: seen.ready++; break;
	case GEN_EVENT_FAILED:
		seen.failed++;
		snprintf(seen.why, sizeof(seen.why), "%s", why);
		break;
	case GEN_EVENT_GONE: seen.gone++; break;
	case GEN_EVENT_WORKER_READY: seen.worker_ready++; break;
	case GEN_EVENT_WORKER_EXITED: seen.worker_exited++; break;
	case GEN_EVENT_PROBATION: break;
	case GEN_EVENT_SERVING: seen.serving++; break;
	}
}


/* A generation of program app with these extra keys, not started. */
static struct generation *
make_gen(int workers, const char *keys)
{
	char text[1024];
	struct program_conf *pc;

	/* ready = notify unless keys say otherwise. */
	snprintf(text, sizeof(text), "[program app]\ncommand = /bin/app\n"
	    "workers = %d\n%s%s", workers, strstr(keys, "ready =") != NULL ?
	    "" : "ready = notify\n", keys);
	conf = config_from_text(text);
	pc = config_find_program(conf, "app");
	return gen_new(base, conf, pc, NULL, 1, "/tmp/notify", &fake_ops, pids,
	    groups, on_event, NULL);
}

static void
setup(void)
{
	memset(&fake, 0, sizeof(fake));
	memset(&seen, 0, sizeof(seen));
	fake_ops.spawn_ready = NULL;
	cr_assert_not_null(base = event_base_new());
	cr_assert_not_null(pids = pidmap_new());
	cr_assert_not_null(groups = pidmap_new());
}

static void
teardown(void)
{
	config_unref(conf);
	conf = NULL;
	pidmap_free(pids);
	pidmap_free(groups);
	event_base_free(base);
}

/* Make a fake process exit as a real one would be reaped. */
static void
fake_exit(struct generation *gen, pid_t pid, int status)
{
	struct worker *w = pidmap_get(pids, pid);

	cr_assert_not_null(w, "pid %d is no worker's", (int)pid);
	fake.alive[fake_index(pid)] = false;
	gen_worker_exited(gen, w, status);
}

/* A fake process in process group pgid that its worker did not wait for. */
static pid_t
fake_member(pid_t pgid)
{
	int i = fake.spawned++;

	cr_assert_lt(i, FAKE_MAX);
	fake.alive[i] = true;
	fake.pgid[i] = pgid;
	return FAKE_PID_BASE + i;
}

/* Make a worker's group member exit as a reaped descendant would. */
static bool
fake_member_exit(pid_t pid)
{
	pid_t pgid = fake_getpgid(pid);

	fake.alive[fake_index(pid)] = false;
	return gen_group_member_exited(groups, pgid);
}

/* Kill a generation and reap every fake process it has: it is gone. */
static void
kill_and_reap(struct generation *gen)
{
	int i;

	gen_kill(gen);
	for (i = 0; i < gen->nworkers; i++)
		if (gen->workers[i].pid != 0)
			fake_exit(gen, gen->workers[i].pid, SIGKILL);
	cr_assert_eq(gen->state, GEN_GONE);
}

/*
 * The generation's counts of workers with a process and with only a
 * group left agree with its workers, and are procs and groups.
 */
static void
assert_counts(const struct generation *gen, int nprocs, int ngroups)
{
	int i, p = 0, g = 0;

	for (i = 0; i < gen->nworkers; i++) {
		if (gen->workers[i].pid != 0)
			p++;
		else if (gen->workers[i].pgid != 0)
			g++;
	}
	cr_assert_eq(gen->count.procs, p, "counted %d with a process, %d have "
	    "one", gen->count.procs, p);
	cr_assert_eq(gen->count.groups, g, "counted %d with only a group, %d "
	    "have one", gen->count.groups, g);
	cr_assert_eq(p, nprocs, "%d with a process, not %d", p, nprocs);
	cr_assert_eq(g, ngroups, "%d with only a group, not %d", g, ngroups);
	cr_assert_eq(gen_live_processes(gen), nprocs + ngroups);
}

/* Run the loop until cond holds (each turn waits for an event). */
#define RUN_UNTIL(cond) do {						\
	int turns_ = 0;							\
	while (!(cond)) {						\
		cr_assert_lt(turns_++, 100000, "never: %s", #cond);	\
		event_base_loop(base, EVLOOP_ONCE);			\
	}								\
} while (0)

/*
 * A started generation whose every worker (started in slices, if there
 * are many) is ready, promoted: running.
 */
static struct generation *
running_gen(int workers, const char *keys)
{
	struct generation *gen = make_gen(workers, keys);
	char *cause = NULL;
	int i;

	cr_assert_eq(gen_start(gen, &cause), 0, "%s", cause_text(cause));
	RUN_UNTIL(gen->nspawned == workers);
	for (i = 0; i < workers; i++)
		gen_notify(gen, &gen->workers[i], "READY", "1");
	cr_assert_eq(seen.ready, 1);
	gen_promote(gen);
	return gen;
}

/*
 * An upgrade: gen saved as records, and the new image's generation made
 * (with no process counted) and restored from them.
 */
static struct generation *
upgraded_gen(struct generation *gen)
{
	struct generation *again;
	struct state_writer w;
	struct state st;
	char *cause = NULL;
	int fd;

	cr_assert_eq(state_writer_open(&w), 0);
	gen_save(gen, &w);
	cr_assert_eq(state_writer_seal(&w, &fd, &cause), 0, "%s",
	    cause_text(cause));
	cr_assert_eq(state_read_fd(fd, &st, &cause), 0, "%s",
	    cause_text(cause));
	close(fd);
	cr_assert_gt(st.nrecs, 0);
	cr_assert_str_eq(st.recs[0].kind, "gen");
	again = gen_new(base, conf, config_find_program(conf, "app"), NULL, 1,
	    "/tmp/notify", &fake_ops, pids, groups, on_event, NULL);
	cr_assert_not_null(again);
	assert_counts(again, 0, 0);
	cr_assert_eq(gen_restore(again, &st.recs[0], &st, &cause), 0, "%s",
	    cause_text(cause));
	state_free(&st);
	state_writer_free(&w);
	return again;
}

TestSuite(generation, .init = setup, .fini = teardown);

Test(generation, ready_once_every_worker_is)
{
	struct generation *gen = make_gen(3, "");
	char *cause = NULL;
	int i;

	cr_assert_eq(gen_start(gen, &cause), 0, "%s", cause);
	/* The first slice may run out of time on a loaded machine. */
	RUN_UNTIL(gen->nspawned == 3);
	cr_assert_eq(fake.spawned, 3);
	for (i = 0; i < 3; i++) {
		cr_assert_eq(gen->workers[i].state, WORKER_STARTING);
		cr_assert_eq(pidmap_get(pids, gen->workers[i].pid),
		    &gen->workers[i]);
	}
	gen_notify(gen, &gen->workers[0], "READY", "1");
	gen_notify(gen, &gen->workers[0], "READY", "1");	/* twice: once */
	gen_notify(gen, &gen->workers[2], "READY", "1");
	cr_assert_eq(seen.worker_ready, 2);
	cr_assert_eq(seen.ready, 0);
	gen_notify(gen, &gen->workers[1], "READY", "1");
	cr_assert_eq(seen.ready, 1);
	cr_assert_eq(gen->nready, 3);
	kill_and_reap(gen);
	cr_assert_eq(seen.gone, 1);
	gen_free(gen);
	cr_assert_eq(pidmap_count(pids), 0, "pids left in the map");
}

/*
 * A worker that exits before every worker is ready fails the generation;
 * the others are told to stop with stop_signal, as in a drain, not killed:
 * one that became ready may be serving connections it accepted from the
 * shared sockets. One that was ready itself is said to have been.
 */
Test(generation, a_worker_exiting_before_ready_fails_it_and_stops_the_rest)
{
	struct generation *gen = make_gen(3, "stop_signal = SIGQUIT\n");
	char *cause = NULL;
	pid_t p1, p0, p2;

	cr_assert_eq(gen_start(gen, &cause), 0);
	RUN_UNTIL(gen->nspawned == 3);
	p0 = gen->workers[0].pid;
	p1 = gen->workers[1].pid;
	p2 = gen->workers[2].pid;
	gen_notify(gen, &gen->workers[0], "READY", "1");
	fake_exit(gen, p1, 3 << 8);
	cr_assert_eq(seen.failed, 1);
	cr_assert_str_eq(seen.why, "worker 1 pid 1000001 exited with status 3 "
	    "before ready");
	/* The slot that exited holds no process, and is not in the map. */
	cr_assert_eq(gen->workers[1].pid, 0);
	cr_assert_null(pidmap_get(pids, p1));
	cr_assert_eq(gen->state, GEN_FAILED);
	RUN_UNTIL(fake.last_signal[fake_index(p2)] != 0);
	cr_assert_eq(fake.last_signal[fake_index(p0)], SIGQUIT, "the ready "
	    "worker got signal %d", fake.last_signal[fake_index(p0)]);
	cr_assert_eq(fake.last_signal[fake_index(p2)], SIGQUIT);
	cr_assert_eq(gen->workers[0].state, WORKER_STOPPING);
	fake_exit(gen, p0, 0);
	cr_assert_eq(seen.gone, 0, "gone with a process left");
	fake_exit(gen, p2, SIGQUIT);
	cr_assert_eq(seen.gone, 1);
	cr_assert_eq(seen.failed, 1, "a failure is reported once");
	gen_free(gen);
}

/* A ready worker that exits while others are not ready yet fails it too. */
Test(generation, a_ready_worker_exiting_before_the_others_fails_it_saying_so)
{
	struct generation *gen = make_gen(2, "");
	char *cause = NULL;

	cr_assert_eq(gen_start(gen, &cause), 0);
	RUN_UNTIL(gen->nspawned == 2);
	gen_notify(gen, &gen->workers[1], "READY", "1");
	fake_exit(gen, gen->workers[1].pid, 3 << 8);
	cr_assert_eq(seen.failed, 1);
	cr_assert_str_eq(seen.why, "worker 1 pid 1000001 exited with status 3 "
	    "after it was ready, before every worker was");
	kill_and_reap(gen);
	gen_free(gen);
}

/*
 * What a failed generation leaves running after drain_timeout is killed
 * (SIGKILL to each worker's group), as a drain's is; then it is gone.
 */
Test(generation, a_failed_generation_is_killed_after_drain_timeout)
{
	struct generation *gen = make_gen(2, "drain_timeout = 20ms\n");
	char *cause = NULL;
	pid_t p0;

	cr_assert_eq(gen_start(gen, &cause), 0);
	RUN_UNTIL(gen->nspawned == 2);
	p0 = gen->workers[0].pid;
	gen_notify(gen, &gen->workers[0], "READY", "1");
	fake_exit(gen, gen->workers[1].pid, 1 << 8);
	cr_assert_eq(seen.failed, 1);
	RUN_UNTIL(fake.last_signal[fake_index(p0)] != 0);
	cr_assert_eq(fake.last_signal[fake_index(p0)], SIGTERM);
	RUN_UNTIL(fake.last_signal[fake_index(p0)] == SIGKILL);
	cr_assert_eq(seen.gone, 0);
	fake_exit(gen, p0, SIGKILL);
	cr_assert_eq(seen.gone, 1);
	gen_free(gen);
}

Test(generation, an_exec_failure_fails_a_starting_generation_with_the_reason)
{
	struct generation *gen = make_gen(1, "");
	char *cause = NULL;

	fake.exec_fails_next = true;
	cr_assert_eq(gen_start(gen, &cause), -1);
	cr_assert_str_eq(cause, "cannot run /bin/app: exec: No such file or "
	    "directory");
	free(cause);
	cr_assert_eq(seen.failed, 1);
	cr_assert_str_eq(seen.why, "cannot run /bin/app: exec: No such file "
	    "or directory");
	cr_assert_eq(gen->workers[0].state, WORKER_FAILED);
	cr_assert_eq(gen->state, GEN_GONE);
	gen_free(gen);
}

Test(generation, a_crashed_worker_of_a_running_generation_restarts_after_backoff)
{
	struct generation *gen = make_gen(2, "");
	char *cause = NULL;
	pid_t first;

	cr_assert_eq(gen_start(gen, &cause), 0);
	RUN_UNTIL(gen->nspawned == 2);
	gen_notify(gen, &gen->workers[0], "READY", "1");
	gen_notify(gen, &gen->workers[1], "READY", "1");
	cr_assert_eq(seen.ready, 1);
	gen_promote(gen);
	first = gen->workers[1].pid;
	fake_exit(gen, first, SIGSEGV);
	cr_assert_eq(gen->workers[1].state, WORKER_BACKOFF);
	cr_assert_eq(gen->workers[1].pid, 0);
	cr_assert_eq(gen->nready, 1);
	cr_assert_leq(worker_restart_in_ms(&gen->workers[1]), BACKOFF_INITIAL_MS);
	cr_assert_null(pidmap_get(pids, first));
	RUN_UNTIL(gen->workers[1].state == WORKER_STARTING);
	cr_assert_neq(gen->workers[1].pid, first);
	cr_assert_eq(gen->workers[1].restarts, 1);
	gen_notify(gen, &gen->workers[1], "READY", "1");
	cr_assert_eq(gen->nready, 2);
	cr_assert_eq(seen.ready, 1, "a restart is not a new generation");
	kill_and_reap(gen);
	cr_assert_eq(seen.gone, 1);
	gen_free(gen);
}

Test(generation, restart_never_leaves_an_exited_worker_down)
{
	struct generation *gen = running_gen(1, "restart = never\n");

	fake_exit(gen, gen->workers[0].pid, 0);
	cr_assert_eq(gen->workers[0].state, WORKER_EXITED);
	cr_assert_eq(gen->workers[0].pid, 0, "no process in an exited slot");
	cr_assert_eq(worker_restart_in_ms(&gen->workers[0]), -1);
	cr_assert_eq(gen->state, GEN_RUNNING);
	gen_drain(gen);
	cr_assert_eq(gen->state, GEN_GONE);
	gen_free(gen);
}

/*
 * A start in flight whose exec fails: the failure is told when the start
 * settles, and the exit with 127 follows. Readiness by delay may come
 * first; it waits for the settle, so the worker never counts as ready and
 * the generation fails with the reason, as a start that waited does.
 */
Test(generation, a_late_exec_failure_fails_a_starting_generation_with_the_reason)
{
	struct generation *gen = make_gen(2, "ready = delay:0ms\n");
	char *cause = NULL;
	pid_t p1;

	fake.exec_fails_late = true;
	cr_assert_eq(gen_start(gen, &cause), 0, "%s", cause_text(cause));
	RUN_UNTIL(gen->nspawned == 2);
	p1 = gen->workers[1].pid;
	/* The delay is over at the next turn: no worker becomes ready. */
	RUN_UNTIL(gen->workers[0].cannot_run != NULL &&
	    gen->workers[1].cannot_run != NULL);
	cr_assert_eq(gen->nready, 0);
	cr_assert_eq(seen.worker_ready, 0);
	cr_assert_eq(gen->workers[1].state, WORKER_STARTING);
	fake_exit(gen, p1, 127 << 8);
	cr_assert_eq(seen.failed, 1);
	cr_assert_str_eq(seen.why, LATE_CAUSE);
	cr_assert_eq(seen.ready, 0);
	cr_assert_eq(gen->workers[1].state, WORKER_FAILED);
	cr_assert_null(gen->workers[1].cannot_run);
	cr_assert_eq(gen->state, GEN_FAILED);
	fake_exit(gen, gen->workers[0].pid, 127 << 8);
	cr_assert_eq(gen->state, GEN_GONE);
	cr_assert_eq(seen.failed, 1, "a failure is reported once");
	gen_free(gen);
}

/*
 * Ready by delay before its process reached exec (its start in flight):
 * the loop does not wait for the exec; the worker is looked at again
 * until the start settles, and is ready then.
 */
Test(generation, ready_by_delay_waits_for_the_exec_without_blocking)
{
	struct generation *gen = make_gen(1, "ready = delay:0ms\n");
	char *cause = NULL;

	fake.exec_later = 3;
	cr_assert_eq(gen_start(gen, &cause), 0, "%s", cause_text(cause));
	RUN_UNTIL(fake.settles >= 1);
	cr_assert_eq(gen->workers[0].state, WORKER_STARTING);
	cr_assert_eq(seen.worker_ready, 0);
	RUN_UNTIL(gen->workers[0].state == WORKER_READY);
	cr_assert_eq(fake.settles, 4, "looked at %d times", fake.settles);
	cr_assert_eq(fake.exec_later, 0);
	cr_assert_eq(seen.ready, 1);
	kill_and_reap(gen);
	gen_free(gen);
}

/*
 * Kill worker 0 of a running generation: its restart goes in flight, and
 * its exec fails (told at its settle). The restarted process's pid; its
 * exit is the caller's to make.
 */
static pid_t
restart_failing_late(struct generation *gen)
{
	pid_t pid;

	fake.exec_fails_late = true;
	fake_exit(gen, gen->workers[0].pid, SIGKILL);
	RUN_UNTIL(gen->workers[0].state == WORKER_STARTING);
	pid = gen->workers[0].pid;
	fake_settle(pid);
	return pid;
}

/*
 * A running generation's worker restarted in flight whose exec fails:
 * its exit backs the restart off with the reason (start_failures,
 * last_error), as a restart that waited for the exec; and in a draining
 * generation the exit counts as the worker's exit.
 */
Test(generation, a_late_exec_failure_on_restart_backs_off_with_the_reason)
{
	struct generation *gen = running_gen(2, "");
	pid_t pid = restart_failing_late(gen);

	fake_exit(gen, pid, 127 << 8);
	cr_assert_eq(gen->workers[0].state, WORKER_BACKOFF);
	cr_assert_eq(gen->workers[0].pid, 0);
	cr_assert_eq(gen->workers[0].start_failures, 1);
	cr_assert_str_eq(gen->workers[0].last_error, LATE_CAUSE);
	cr_assert_eq(gen->nready, 1);
	cr_assert_eq(seen.failed, 0);

	/* Restarted again, in flight as the generation drains. */
	RUN_UNTIL(gen->workers[0].state == WORKER_STARTING);
	pid = gen->workers[0].pid;
	gen_drain(gen);
	fake_settle(pid);
	fake_exit(gen, pid, 127 << 8);
	cr_assert_eq(seen.worker_exited, 1);
	cr_assert_eq(gen->workers[0].state, WORKER_EXITED);
	cr_assert_eq(gen->workers[0].pid, 0);
	fake_exit(gen, gen->workers[1].pid, 0);
	cr_assert_eq(gen->state, GEN_GONE);
	gen_free(gen);
}

/*
 * An upgrade's exec between a restart in flight's failed exec (told when
 * the upgrade settles every start) and the exit that follows it: the new
 * image's generation backs the restart off with the reason, as the old
 * one would have, rather than taking the exit for a crash.
 */
Test(generation, a_late_exec_failure_crosses_an_upgrade)
{
	struct generation *gen = running_gen(1, ""), *again;
	pid_t pid = restart_failing_late(gen);

	cr_assert_not_null(gen->workers[0].cannot_run);

	again = upgraded_gen(gen);
	cr_assert_eq(pidmap_get(pids, pid), &again->workers[0]);
	cr_assert_eq(again->workers[0].state, WORKER_STARTING);

	fake_exit(again, pid, 127 << 8);
	cr_assert_eq(again->workers[0].state, WORKER_BACKOFF);
	cr_assert_eq(again->workers[0].start_failures, 1);
	cr_assert_not_null(again->workers[0].last_error);
	cr_assert_str_eq(again->workers[0].last_error, LATE_CAUSE);
	cr_assert_eq(seen.failed, 0);
	kill_and_reap(again);
	gen_free(again);
	gen->workers[0].pid = 0;	/* the old image's: gone with its exec */
	gen_free(gen);
}

Test(generation, an_exec_failure_on_restart_is_retried_and_shown)
{
	struct generation *gen = running_gen(1, "");

	fake.exec_fails_next = true;
	fake_exit(gen, gen->workers[0].pid, SIGKILL);
	RUN_UNTIL(gen->workers[0].start_failures == 1);
	cr_assert_eq(gen->workers[0].state, WORKER_BACKOFF);
	cr_assert_eq(gen->workers[0].pid, 0);
	cr_assert_not_null(gen->workers[0].last_error);
	cr_assert_str_eq(gen->workers[0].last_error, "cannot run /bin/app: "
	    "exec: No such file or directory");
	cr_assert_eq(gen->workers[0].start_failures, 1);
	fake.exec_fails_next = false;
	RUN_UNTIL(gen->workers[0].state == WORKER_STARTING);
	gen_notify(gen, &gen->workers[0], "READY", "1");
	cr_assert_eq(gen->workers[0].state, WORKER_READY);
	cr_assert_null(gen->workers[0].last_error, "cleared once it runs");
	cr_assert_eq(gen->workers[0].start_failures, 0);
	kill_and_reap(gen);
	gen_free(gen);
}

Test(generation, draining_signals_every_worker_and_ends_gone)
{
	struct generation *gen = running_gen(3, "stop_signal = SIGQUIT\n");
	pid_t first;
	int i;

	gen_drain(gen);
	cr_assert_eq(gen->state, GEN_DRAINING);
	for (i = 0; i < 3; i++) {
		cr_assert_eq(gen->workers[i].state, WORKER_STOPPING);
		cr_assert_eq(fake.last_signal[i], SIGQUIT);
	}
	first = gen->workers[0].pid;
	fake_exit(gen, first, 0);
	cr_assert_eq(gen->workers[0].state, WORKER_EXITED);
	cr_assert_eq(gen->workers[0].pid, 0);
	cr_assert_null(pidmap_get(pids, first));
	fake_exit(gen, gen->workers[1].pid, 0);
	cr_assert_eq(seen.worker_exited, 2);
	cr_assert_eq(seen.gone, 0);
	fake_exit(gen, gen->workers[2].pid, 0);
	cr_assert_eq(seen.gone, 1);
	cr_assert_eq(gen->state, GEN_GONE);
	gen_free(gen);
}

Test(generation, a_drain_holding_workers_back_tells_them_later)
{
	struct generation *gen = running_gen(4, "stop_signal = SIGQUIT\n");
	int i;

	gen_drain_holding(gen, 2);
	cr_assert_eq(gen->state, GEN_DRAINING);
	for (i = 0; i < 4; i++) {
		cr_assert_eq(gen->workers[i].state, i < 2 ? WORKER_STOPPING :
		    WORKER_READY, "worker %d", i);
		cr_assert_eq(fake.last_signal[i], i < 2 ? SIGQUIT : 0);
	}
	/* The held workers are not what keeps it from being gone. */
	fake_exit(gen, gen->workers[0].pid, 0);
	fake_exit(gen, gen->workers[1].pid, 0);
	cr_assert_eq(seen.gone, 0);
	gen_drain(gen);
	for (i = 2; i < 4; i++) {
		cr_assert_eq(gen->workers[i].state, WORKER_STOPPING);
		cr_assert_eq(fake.last_signal[i], SIGQUIT);
	}
	/* Said once: a second drain signals nobody again. */
	fake.last_signal[2] = 0;
	gen_drain(gen);
	cr_assert_eq(fake.last_signal[2], 0);
	fake_exit(gen, gen->workers[2].pid, 0);
	fake_exit(gen, gen->workers[3].pid, 0);
	cr_assert_eq(seen.gone, 1);
	gen_free(gen);
}

Test(generation, serving_changes_are_told)
{
	struct generation *gen = running_gen(2, "");

	/* Each worker that became ready. */
	cr_assert_eq(seen.serving, 2);
	/* A ready worker that exits: before it restarts. */
	fake_exit(gen, gen->workers[1].pid, 1 << 8);
	cr_assert_eq(seen.serving, 3);
	cr_assert_eq(gen->workers[1].state, WORKER_BACKOFF);
	RUN_UNTIL(gen->workers[1].pid != 0);
	cr_assert_eq(seen.serving, 3);
	gen_notify(gen, &gen->workers[1], "READY", "1");
	cr_assert_eq(seen.serving, 4);
	kill_and_reap(gen);
	gen_free(gen);
}

Test(generation, not_ready_within_ready_timeout_fails)
{
	struct generation *gen = make_gen(2, "ready_timeout = 50ms\n");
	char *cause = NULL;

	cr_assert_eq(gen_start(gen, &cause), 0);
	RUN_UNTIL(gen->nspawned == 2);
	gen_notify(gen, &gen->workers[0], "READY", "1");
	RUN_UNTIL(seen.failed == 1);
	cr_assert_str_eq(seen.why, "not ready within ready_timeout 50ms "
	    "(1/2 workers ready)");
	/* Told to stop, the ready one too: it may be serving. */
	RUN_UNTIL(fake.last_signal[1] != 0);
	cr_assert_eq(fake.last_signal[0], SIGTERM);
	cr_assert_eq(fake.last_signal[1], SIGTERM);
	fake_exit(gen, gen->workers[0].pid, 0);
	fake_exit(gen, gen->workers[1].pid, SIGTERM);
	cr_assert_eq(seen.gone, 1);
	gen_free(gen);
}

/*
 * Starting many workers yields to the event loop between slices: READY=1
 * of the first workers is handled before the last ones are started.
 */
Test(generation, workers_start_in_slices_and_the_loop_runs_between)
{
	struct generation *gen = make_gen(400, "");
	char *cause = NULL;
	int turns = 0;

	fake.spawn_spin_us = 100;	/* 400 workers: 40 ms of spawning */
	cr_assert_eq(gen_start(gen, &cause), 0);
	cr_assert_lt(fake.spawned, 400, "every worker started in one go");
	cr_assert_gt(fake.spawned, 0);
	gen_notify(gen, &gen->workers[0], "READY", "1");
	cr_assert_eq(seen.worker_ready, 1);
	while (fake.spawned < 400) {
		cr_assert_lt(turns++, 10000);
		event_base_loop(base, EVLOOP_ONCE);
	}
	cr_assert_gt(turns, 1, "the rest started in one slice");
	cr_assert_eq(gen->state, GEN_STARTING);
	kill_and_reap(gen);
	cr_assert_eq(seen.gone, 1);
	gen_free(gen);
}

/*
 * Two generations starting at once share one slice per turn of the loop:
 * with spawns of 100us and slices of 5ms, no turn starts more than about
 * 50 workers of both together (fewer on a slow machine, never more).
 */
Test(generation, generations_starting_together_share_the_slice)
{
	struct generation *a = make_gen(300, ""), *b;
	struct config *conf_a = conf;
	char *cause = NULL;
	int before, most = 0;

	b = make_gen(300, "");
	fake.spawn_spin_us = 100;
	cr_assert_eq(gen_start(a, &cause), 0);
	cr_assert_eq(gen_start(b, &cause), 0);
	while (fake.spawned < 600) {
		before = fake.spawned;
		event_base_loop(base, EVLOOP_ONCE);
		if (fake.spawned - before > most)
			most = fake.spawned - before;
	}
	cr_assert_leq(most, 5000 / 100 + 10, "%d workers started in one turn",
	    most);
	kill_and_reap(a);
	kill_and_reap(b);
	gen_free(a);
	gen_free(b);
	config_unref(conf_a);
}

/*
 * Turn the loop until total workers are started, none of its turns
 * starting more than one.
 */
static void
start_one_per_turn_until(int total)
{
	int before, turns = 0;

	while (fake.spawned < total) {
		cr_assert_lt(turns++, 10000);
		before = fake.spawned;
		event_base_loop(base, EVLOOP_ONCE);
		cr_assert_leq(fake.spawned - before, 1,
		    "%d workers started in one turn", fake.spawned - before);
	}
}

/*
 * A slice starts no worker it has no time left for: with starts of 3 ms
 * and slices of 5 ms, each turn of the loop starts one, so that a control
 * request waits for one start at most, not for two.
 */
Test(generation, a_slice_starts_no_worker_it_has_no_time_left_for)
{
	struct generation *gen = make_gen(4, "");
	char *cause = NULL;

	fake.spawn_spin_us = 3000;
	cr_assert_eq(gen_start(gen, &cause), 0);
	cr_assert_eq(fake.spawned, 1, "%d workers started in the first turn",
	    fake.spawned);
	start_one_per_turn_until(4);
	kill_and_reap(gen);
	gen_free(gen);
}

/*
 * A start that would wait for an earlier one (every spawn slot in flight)
 * is not made: the slice ends, the loop turns without asking again (no
 * spinning), and the next slice starts in the turn after a slot is free.
 */
Test(generation, a_start_that_would_wait_ends_the_slice_until_a_slot_is_free)
{
	struct generation *gen;
	char *cause = NULL;
	int turns, asks;

	fake_ops.spawn_ready = fake_spawn_ready;
	fake.slots = 2;
	gen = make_gen(5, "");
	cr_assert_eq(gen_start(gen, &cause), 0);
	/* A slow machine's turn may end after one start: turn until it waits. */
	for (turns = 0; fake.wake == NULL; turns++) {
		cr_assert_lt(turns, 100, "nobody waits for a free slot");
		event_base_loop(base, EVLOOP_NONBLOCK);
	}
	cr_assert_eq(fake.spawned, 2, "%d workers started", fake.spawned);
	asks = fake.ready_asks;
	for (turns = 0; turns < 5; turns++)
		event_base_loop(base, EVLOOP_NONBLOCK);
	cr_assert_eq(fake.spawned, 2);
	cr_assert_eq(fake.ready_asks, asks, "asked again without a free slot");
	gen_notify(gen, &gen->workers[0], "READY", "1");
	cr_assert_eq(seen.worker_ready, 1, "the loop is not free meanwhile");
	fake_slot_free();
	cr_assert_eq(fake.spawned, 2, "started before the loop turned");
	event_base_loop(base, EVLOOP_NONBLOCK);
	cr_assert_eq(fake.spawned, 3);
	fake_slot_free();
	fake_slot_free();
	event_base_loop(base, EVLOOP_NONBLOCK);
	cr_assert_eq(fake.spawned, 5);
	cr_assert_eq(gen->nspawned, 5);
	kill_and_reap(gen);
	gen_free(gen);
}

/*
 * Every generation waiting for a free slot goes on when one is; one
 * stopped, or freed, while it waits starts nothing more.
 */
Test(generation, every_generation_waiting_for_a_slot_goes_on_but_a_stopped_one)
{
	struct generation *a, *b, *c;
	struct config *conf_a, *conf_b;
	char *cause = NULL;
	int turns;

	fake_ops.spawn_ready = fake_spawn_ready;
	fake.slots = 1;
	a = make_gen(2, "");
	conf_a = conf;
	b = make_gen(2, "");
	conf_b = conf;
	c = make_gen(2, "");
	cr_assert_eq(gen_start(a, &cause), 0);
	cr_assert_eq(gen_start(b, &cause), 0);
	cr_assert_eq(gen_start(c, &cause), 0);
	/* A slow machine's turn may end before one asks: turn until all do. */
	for (turns = 0; !a->awaits_spawn || !b->awaits_spawn ||
	    !c->awaits_spawn; turns++) {
		cr_assert_lt(turns, 100, "not every generation waits");
		event_base_loop(base, EVLOOP_NONBLOCK);
	}
	cr_assert_eq(fake.spawned, 1, "%d workers started", fake.spawned);
	cr_assert_not_null(fake.wake);
	kill_and_reap(b);
	gen_free(c);
	fake.slots = 3;
	fake.wake(fake.wake_arg);
	event_base_loop(base, EVLOOP_NONBLOCK);
	cr_assert_eq(a->nspawned, 2);
	cr_assert_eq(b->nspawned, 0, "a killed generation started a worker");
	cr_assert_eq(fake.spawned, 2);
	kill_and_reap(a);
	gen_free(a);
	gen_free(b);
	config_unref(conf_a);
	config_unref(conf_b);
}

/*
 * A READY=1 said for a worker not started yet (its slice is to come) does
 * not make it ready: only a worker with a process can be.
 */
Test(generation, a_worker_not_started_yet_cannot_be_ready)
{
	struct generation *gen = make_gen(2, "");
	char *cause = NULL;

	fake.spawn_spin_us = 6000;
	cr_assert_eq(gen_start(gen, &cause), 0);
	cr_assert_eq(fake.spawned, 1);
	cr_assert_eq(gen->workers[1].pid, 0);
	gen_notify(gen, &gen->workers[0], "READY", "1");
	gen_notify(gen, &gen->workers[1], "READY", "1");
	cr_assert_eq(seen.worker_ready, 1);
	cr_assert_eq(seen.ready, 0, "ready with a worker not started");
	cr_assert_eq(gen->workers[1].state, WORKER_STARTING);
	start_one_per_turn_until(2);
	gen_notify(gen, &gen->workers[1], "READY", "1");
	cr_assert_eq(seen.ready, 1);
	kill_and_reap(gen);
	gen_free(gen);
}

/*
 * The turn's time is shared by every generation: a reload of two programs
 * whose starts take 3 ms starts one worker in the turn it begins (not one
 * per program), and one per turn after it, whichever program it is for.
 */
Test(generation, generations_share_the_turn_of_the_loop)
{
	struct generation *a = make_gen(3, ""), *b;
	char *cause = NULL;

	b = gen_new(base, conf, config_find_program(conf, "app"), NULL, 2,
	    "/tmp/notify", &fake_ops, pids, groups, on_event, NULL);
	cr_assert_not_null(b);
	fake.spawn_spin_us = 3000;
	cr_assert_eq(gen_start(a, &cause), 0);
	cr_assert_eq(gen_start(b, &cause), 0);
	cr_assert_eq(fake.spawned, 1, "%d workers started in the turn the "
	    "two generations began", fake.spawned);
	start_one_per_turn_until(6);
	cr_assert_eq(a->nspawned, 3);
	cr_assert_eq(b->nspawned, 3);
	kill_and_reap(a);
	kill_and_reap(b);
	gen_free(a);
	gen_free(b);
}

Test(generation, a_worker_that_cannot_start_in_a_later_slice_fails_it)
{
	struct generation *gen = make_gen(400, "");
	char *cause = NULL;
	int started;

	fake.spawn_spin_us = 100;
	fake.fail_spawn_at = 300;
	cr_assert_eq(gen_start(gen, &cause), 0);
	RUN_UNTIL(seen.failed == 1);
	cr_assert_str_eq(seen.why, "worker 299 could not start: fork: "
	    "Resource temporarily unavailable");
	cr_assert_eq(gen->state, GEN_FAILED);
	started = fake.spawned;
	cr_assert_eq(started, 299);
	RUN_UNTIL(fake.last_signal[started - 1] != 0);
	for (int i = 0; i < started; i++) {
		cr_assert_eq(fake.last_signal[i], SIGTERM);
		fake_exit(gen, gen->workers[i].pid, SIGTERM);
	}
	cr_assert_eq(seen.gone, 1);
	/* Stopping ended the starts: nothing more is started. */
	event_base_loop(base, EVLOOP_NONBLOCK);
	cr_assert_eq(fake.spawned, started);
	gen_free(gen);
}

Test(generation, stopping_while_starting_stops_the_slices)
{
	struct generation *gen = make_gen(400, "");
	char *cause = NULL;
	int started;

	fake.spawn_spin_us = 100;
	cr_assert_eq(gen_start(gen, &cause), 0);
	started = fake.spawned;
	cr_assert_lt(started, 400);
	kill_and_reap(gen);
	event_base_loop(base, EVLOOP_NONBLOCK);
	cr_assert_eq(fake.spawned, started);
	gen_free(gen);
}

/*
 * A running generation of 400 workers, on which each signal takes 100us:
 * 40 ms to tell them all, more than a slice.
 */
static struct generation *
slow_to_signal_gen(const char *keys)
{
	struct generation *gen = running_gen(400, keys);

	fake.signal_spin_us = 100;
	return gen;
}

/* How many of the first n fake processes were sent sig last. */
static int
count_signalled(int n, int sig)
{
	int i, k = 0;

	for (i = 0; i < n; i++)
		if (fake.last_signal[i] == sig)
			k++;
	return k;
}

/*
 * Telling many workers to stop yields to the event loop between slices,
 * as starting them does: an exit (or a control request) is handled
 * before the last ones are told, and each is told once.
 */
Test(generation, workers_are_told_to_stop_in_slices)
{
	struct generation *gen = slow_to_signal_gen("stop_signal = SIGQUIT\n");
	int turns = 0, i, told, most;

	gen_drain(gen);
	cr_assert_eq(gen->state, GEN_DRAINING);
	most = count_signalled(400, SIGQUIT);
	cr_assert_gt(most, 0);
	cr_assert_lt(most, 400, "every worker told in one go");
	cr_assert_eq(gen->workers[0].state, WORKER_STOPPING);
	fake_exit(gen, gen->workers[0].pid, 0);
	cr_assert_eq(seen.worker_exited, 1);
	while ((told = count_signalled(400, SIGQUIT)) < 400) {
		cr_assert_lt(turns++, 10000);
		event_base_loop(base, EVLOOP_ONCE);
		if (count_signalled(400, SIGQUIT) - told > most)
			most = count_signalled(400, SIGQUIT) - told;
	}
	cr_assert_gt(turns, 1, "the rest told in one slice");
	cr_assert_leq(most, GEN_STOP_SLICE_MAX, "%d workers told in one turn",
	    most);
	for (i = 0; i < 400; i++)
		cr_assert_eq(fake.signals[i], 1, "worker %d told %d times", i,
		    fake.signals[i]);
	for (i = 1; i < 400; i++) {
		cr_assert_eq(gen->workers[i].state, WORKER_STOPPING);
		fake_exit(gen, gen->workers[i].pid, 0);
	}
	cr_assert_eq(seen.gone, 1);
	gen_free(gen);
}

/* Workers held back, then told: in slices too, each once. */
Test(generation, workers_held_back_are_told_in_slices_once)
{
	struct generation *gen = slow_to_signal_gen("stop_signal = SIGQUIT\n");
	int i;

	gen_drain_holding(gen, 200);
	RUN_UNTIL(count_signalled(400, SIGQUIT) == 200);
	event_base_loop(base, EVLOOP_NONBLOCK);
	for (i = 0; i < 400; i++)
		cr_assert_eq(fake.signals[i], i < 200, "worker %d", i);
	gen_drain(gen);
	cr_assert_lt(count_signalled(400, SIGQUIT), 400);
	RUN_UNTIL(count_signalled(400, SIGQUIT) == 400);
	for (i = 0; i < 400; i++)
		cr_assert_eq(fake.signals[i], 1, "worker %d", i);
	kill_and_reap(gen);
	gen_free(gen);
}

/*
 * drain_timeout passing while workers are still being told: all are
 * killed, and none is told to stop after that.
 */
Test(generation, drain_timeout_while_telling_kills_the_rest)
{
	struct generation *gen = slow_to_signal_gen("stop_signal = SIGQUIT\n"
	    "drain_timeout = 1ms\n");
	int i;

	gen_drain(gen);
	cr_assert_lt(count_signalled(400, SIGQUIT), 400);
	RUN_UNTIL(count_signalled(400, SIGKILL) == 400);
	cr_assert_lt(fake.signals[399], 2);
	for (i = 0; i < 20; i++)
		event_base_loop(base, EVLOOP_NONBLOCK);
	cr_assert_eq(count_signalled(400, SIGKILL), 400,
	    "told to stop after it was killed");
	for (i = 0; i < 400; i++)
		fake_exit(gen, gen->workers[i].pid, SIGKILL);
	cr_assert_eq(seen.gone, 1);
	gen_free(gen);
}

Test(generation, mainpid_carries_on_after_the_wrapper_exits)
{
	struct generation *gen = make_gen(1, "");
	char *cause = NULL;
	pid_t wrapper, server, stranger;
	char buf[32];

	cr_assert_eq(gen_start(gen, &cause), 0);
	wrapper = gen->workers[0].pid;
	/* The server the wrapper started, in its group; and a stranger. */
	server = FAKE_PID_BASE + fake.spawned++;
	fake.alive[fake_index(server)] = true;
	fake.pgid[fake_index(server)] = wrapper;
	stranger = FAKE_PID_BASE + fake.spawned++;
	fake.alive[fake_index(stranger)] = true;
	snprintf(buf, sizeof(buf), "%d", (int)stranger);
	gen_notify(gen, &gen->workers[0], "MAINPID", buf);
	cr_assert_eq(gen->workers[0].mainpid, 0, "a pid of another group");
	snprintf(buf, sizeof(buf), "%d", (int)server);
	gen_notify(gen, &gen->workers[0], "MAINPID", buf);
	cr_assert_eq(gen->workers[0].mainpid, server);
	cr_assert_eq(pidmap_get(pids, server), &gen->workers[0]);
	gen_notify(gen, &gen->workers[0], "READY", "1");
	gen_promote(gen);
	fake_exit(gen, wrapper, 0);
	cr_assert_eq(gen->workers[0].pid, server, "the server is the worker");
	cr_assert_eq(gen->workers[0].state, WORKER_READY);
	cr_assert_null(pidmap_get(pids, wrapper));
	fake_exit(gen, server, SIGKILL);
	cr_assert_eq(gen->workers[0].state, WORKER_BACKOFF);
	gen_kill(gen);
	cr_assert_eq(gen->state, GEN_GONE);
	gen_free(gen);
	cr_assert_eq(pidmap_count(pids), 0);
}

/*
 * Workers that leave a process of their group behind as they exit: each
 * exit looks at its own worker's group, not at every group left (that made
 * a drain of N such workers cost N^2/2 kill(-pgid, 0)); a group is looked
 * at again as its members are reaped, and the generation is gone with the
 * last.
 */
Test(generation, a_drain_looks_at_each_group_as_its_processes_exit)
{
	enum { N = 64 };
	struct generation *gen = running_gen(N, "");
	pid_t leader[N], member[N], extra;
	int i;

	for (i = 0; i < N; i++) {
		leader[i] = gen->workers[i].pid;
		member[i] = fake_member(leader[i]);
	}
	extra = fake_member(leader[0]);
	gen_drain(gen);
	fake.group_probes = 0;
	for (i = 0; i < N; i++)
		fake_exit(gen, leader[i], 0);
	cr_assert_eq(seen.worker_exited, N);
	cr_assert_eq(gen_live_processes(gen), N, "every group is left");
	cr_assert_leq(fake.group_probes, N, "%d looks at groups for %d exits",
	    fake.group_probes, N);

	fake.group_probes = 0;
	cr_assert(fake_member_exit(member[0]));
	cr_assert_eq(gen->workers[0].pgid, leader[0], "one of its two is left");
	for (i = 1; i < N; i++)
		cr_assert(fake_member_exit(member[i]));
	cr_assert_eq(gen_live_processes(gen), 1);
	cr_assert_eq(seen.gone, 0);
	cr_assert(fake_member_exit(extra));
	cr_assert_eq(gen_live_processes(gen), 0);
	cr_assert_eq(seen.gone, 1);
	cr_assert_eq(gen->state, GEN_GONE);
	cr_assert_leq(fake.group_probes, N + 1, "%d looks at groups for %d "
	    "exits", fake.group_probes, N + 1);
	gen_free(gen);
	cr_assert_eq(pidmap_count(groups), 0);
}

/*
 * A drain: the generation counts its workers with a process and those with
 * only a group left as they exit and their groups empty, and is gone
 * exactly when its last process and its last group are.
 */
Test(generation, a_drain_counts_processes_and_groups_and_ends_with_the_last)
{
	struct generation *gen = running_gen(4, "");
	pid_t leader[4], member0, member1;
	int i;

	assert_counts(gen, 4, 0);
	for (i = 0; i < 4; i++)
		leader[i] = gen->workers[i].pid;
	member0 = fake_member(leader[0]);
	member1 = fake_member(leader[1]);
	gen_drain(gen);
	assert_counts(gen, 4, 0);
	fake_exit(gen, leader[0], 0);
	assert_counts(gen, 3, 1);
	fake_exit(gen, leader[1], 0);
	assert_counts(gen, 2, 2);
	fake_exit(gen, leader[2], 0);
	assert_counts(gen, 1, 2);	/* its group emptied with it */
	fake_exit(gen, leader[3], 0);
	assert_counts(gen, 0, 2);
	cr_assert_eq(gen->state, GEN_DRAINING);
	cr_assert_eq(seen.gone, 0);
	cr_assert(fake_member_exit(member1));
	assert_counts(gen, 0, 1);
	cr_assert_eq(gen->state, GEN_DRAINING, "a group is left");
	cr_assert_eq(seen.gone, 0);
	cr_assert(fake_member_exit(member0));
	assert_counts(gen, 0, 0);
	cr_assert_eq(gen->state, GEN_GONE);
	cr_assert_eq(seen.gone, 1);
	gen_free(gen);
	cr_assert_eq(pidmap_count(pids), 0);
	cr_assert_eq(pidmap_count(groups), 0);
}

/*
 * Reversed: the groups empty while the workers run, then the workers
 * exit; the generation is gone with the last worker, not before.
 */
Test(generation, a_drain_ends_with_the_last_process_when_groups_went_first)
{
	struct generation *gen = running_gen(3, "");
	pid_t member = fake_member(gen->workers[2].pid);

	gen_drain(gen);
	cr_assert(fake_member_exit(member));
	assert_counts(gen, 3, 0);
	fake_exit(gen, gen->workers[0].pid, 0);
	fake_exit(gen, gen->workers[2].pid, 0);
	assert_counts(gen, 1, 0);
	cr_assert_eq(seen.gone, 0);
	fake_exit(gen, gen->workers[1].pid, SIGTERM);
	assert_counts(gen, 0, 0);
	cr_assert_eq(seen.gone, 1);
	cr_assert_eq(gen->state, GEN_GONE);
	gen_free(gen);
}

/*
 * The counts follow a running generation's workers through a crash and
 * its restart, a MAINPID that carries on after its wrapper, an exec that
 * fails, an upgrade's save and restore, and a kill.
 */
Test(generation, the_counts_follow_restarts_mainpid_and_a_restore)
{
	struct generation *gen = running_gen(3, ""), *again;
	char buf[32];
	pid_t wrapper, server, member;
	int i;

	assert_counts(gen, 3, 0);
	/* A crash leaving a member of its group behind, and the restart. */
	member = fake_member(gen->workers[1].pid);
	fake_exit(gen, gen->workers[1].pid, SIGSEGV);
	cr_assert_eq(gen->workers[1].state, WORKER_BACKOFF);
	assert_counts(gen, 2, 1);
	cr_assert(fake_member_exit(member));
	assert_counts(gen, 2, 0);
	RUN_UNTIL(gen->workers[1].state == WORKER_STARTING);
	assert_counts(gen, 3, 0);
	gen_notify(gen, &gen->workers[1], "READY", "1");

	/* A wrapper's server carries on as the worker. */
	wrapper = gen->workers[0].pid;
	server = fake_member(wrapper);
	snprintf(buf, sizeof(buf), "%d", (int)server);
	gen_notify(gen, &gen->workers[0], "MAINPID", buf);
	cr_assert_eq(gen->workers[0].mainpid, server);
	fake_exit(gen, wrapper, 0);
	cr_assert_eq(gen->workers[0].pid, server);
	assert_counts(gen, 3, 0);

	/* A restart that cannot exec has no process. */
	fake.exec_fails_next = true;
	fake_exit(gen, gen->workers[2].pid, SIGKILL);
	RUN_UNTIL(gen->workers[2].start_failures == 1);
	assert_counts(gen, 2, 0);
	fake.exec_fails_next = false;
	RUN_UNTIL(gen->workers[2].state == WORKER_STARTING);
	assert_counts(gen, 3, 0);

	/* An upgrade: the new image's generation counts what it takes back. */
	again = upgraded_gen(gen);
	assert_counts(again, 3, 0);

	kill_and_reap(again);
	assert_counts(again, 0, 0);
	cr_assert_eq(seen.gone, 1);
	gen_free(again);
	/* The old image's: gone with its exec, and no longer in the maps. */
	for (i = 0; i < 3; i++)
		cr_assert_null(pidmap_get(pids, gen->workers[i].pid));
	gen_free(gen);
}

/*
 * The worker a helper in its process group speaks for is found by the
 * group, while the worker runs; a process in no remembered group is
 * nobody's, and a group is forgotten once empty.
 */
Test(generation, a_worker_is_found_by_its_process_group)
{
	struct generation *gen = running_gen(3, "");
	struct worker *w = &gen->workers[1];
	pid_t leader = w->pid, helper = fake_member(leader);

	cr_assert_eq(worker_of_group(groups, fake_getpgid(helper)), w);
	cr_assert_null(worker_of_group(groups, fake_member(0)));
	cr_assert_not(gen_group_member_exited(groups, leader + 1000));
	gen_drain(gen);
	fake_exit(gen, leader, 0);
	cr_assert_eq(worker_of_group(groups, leader), w, "its group is left");
	cr_assert_eq(w->pid, 0);
	cr_assert(fake_member_exit(helper));
	cr_assert_null(worker_of_group(groups, leader));
	kill_and_reap(gen);
	gen_free(gen);
	cr_assert_eq(pidmap_count(groups), 0);
}

/* The pid map against a plain array, through many puts and deletes. */
Test(pidmap, agrees_with_a_plain_array)
{
	static void *want[20000];
	struct pidmap *m = pidmap_new();
	unsigned int seed = 1;
	size_t count = 0;
	int i, pid;

	cr_assert_not_null(m);
	for (i = 0; i < 200000; i++) {
		pid = 1 + (int)(rand_r(&seed) % 20000);
		if (pid >= 20000)
			continue;
		if (rand_r(&seed) % 3 == 0) {
			if (want[pid] != NULL)
				count--;
			want[pid] = NULL;
			pidmap_del(m, pid, NULL);
		} else {
			if (want[pid] == NULL)
				count++;
			want[pid] = &want[pid];
			cr_assert_eq(pidmap_put(m, pid, &want[pid]), 0);
		}
	}
	cr_assert_eq(pidmap_count(m), count);
	for (pid = 1; pid < 20000; pid++)
		cr_assert_eq(pidmap_get(m, pid), want[pid], "pid %d", pid);
	/* A delete naming another value leaves the entry. */
	cr_assert_eq(pidmap_put(m, 7, &want[8]), 0);
	pidmap_del(m, 7, &want[7]);
	cr_assert_eq(pidmap_get(m, 7), &want[8]);
	cr_assert_null(pidmap_get(m, 0));
	cr_assert_eq(pidmap_put(m, 0, &want[1]), -1);
	cr_assert_eq(pidmap_incomplete(m), 0);
	pidmap_free(m);
}

/*
 * A map that two generations of workers doubled shrinks back to the size
 * the workers left need when asked (pidmap_fit), and keeps every entry;
 * it never shrinks by itself.
 */
Test(pidmap, fits_its_count_when_asked_and_keeps_every_entry)
{
	static void *want[8192];
	struct pidmap *m = pidmap_new(), *fresh = pidmap_new();
	unsigned int seed = 7;
	size_t at_rest, count = 0, round;
	int pid;

	cr_assert_not_null(m);
	cr_assert_not_null(fresh);
	for (pid = 1; pid <= 1000; pid++) {
		cr_assert_eq(pidmap_put(m, pid, &want[pid]), 0);
		cr_assert_eq(pidmap_put(fresh, pid, &want[pid]), 0);
		want[pid] = &want[pid];
	}
	at_rest = pidmap_slots(m);
	cr_assert_eq(at_rest, 2048);
	for (round = 0; round < 3; round++) {
		/* A new generation's 1000 pids, then the old one's go. */
		int first = 1 + (int)((round + 1) * 1000) % 8000;
		for (pid = first; pid < first + 1000; pid++) {
			cr_assert_eq(pidmap_put(m, pid, &want[pid]), 0);
			want[pid] = &want[pid];
		}
		cr_assert_eq(pidmap_slots(m), 4096, "two generations doubled it");
		for (pid = 1; pid < 8192; pid++) {
			if (want[pid] != NULL && (pid < first || pid >= first + 1000)) {
				want[pid] = NULL;
				pidmap_del(m, pid, NULL);
			}
		}
		cr_assert_eq(pidmap_slots(m), 4096, "no shrink by itself");
		pidmap_fit(m);
		cr_assert_eq(pidmap_slots(m), at_rest, "fit: %zu slots, not %zu",
		    pidmap_slots(m), at_rest);
		for (pid = 1, count = 0; pid < 8192; pid++) {
			cr_assert_eq(pidmap_get(m, pid), want[pid], "pid %d", pid);
			count += want[pid] != NULL;
		}
		cr_assert_eq(pidmap_count(m), count);
	}
	/* Random puts and deletes between fits: it agrees with the array. */
	for (round = 0; round < 50000; round++) {
		pid = 1 + (int)(rand_r(&seed) % 8191);
		if (rand_r(&seed) % 2 == 0) {
			want[pid] = NULL;
			pidmap_del(m, pid, NULL);
		} else {
			want[pid] = &want[pid];
			cr_assert_eq(pidmap_put(m, pid, &want[pid]), 0);
		}
		if (rand_r(&seed) % 500 == 0)
			pidmap_fit(m);
	}
	for (pid = 1, count = 0; pid < 8192; pid++) {
		cr_assert_eq(pidmap_get(m, pid), want[pid], "pid %d", pid);
		count += want[pid] != NULL;
	}
	cr_assert_eq(pidmap_count(m), count);
	/* Emptied, it fits the initial size; a fit map grows again. */
	for (pid = 1; pid < 8192; pid++)
		pidmap_del(m, pid, NULL);
	pidmap_fit(m);
	cr_assert_eq(pidmap_slots(m), 64);
	pidmap_fit(fresh);
	cr_assert_eq(pidmap_slots(fresh), 2048, "a fresh map is fit already");
	for (pid = 1; pid <= 100; pid++)
		cr_assert_eq(pidmap_put(m, pid, &want[0]), 0);
	cr_assert_eq(pidmap_slots(m), 256);
	cr_assert_eq(pidmap_get(m, 100), &want[0]);
	cr_assert_eq(pidmap_incomplete(m), 0);
	pidmap_free(m);
	pidmap_free(fresh);
}
