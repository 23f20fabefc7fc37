/*
 * test_descendants.c: the subreaper way of tracking a generation's
 * processes (descendants.c) walks /proc once per turn of the event loop
 * for every group, a view reuses a recent walk, and what acts on the
 * members (a kill) or asks whether a group is empty still sees a process
 * started after the view's walk.
 *
 * A walk reads a single-threaded member's own children file only: its
 * stat's thread count is read right.
 *
 * The test process is the subreaper of "workers" it forks; a worker forks
 * a stray in a session of its own when asked ('f'), and exits ('q'). The
 * turns of the loop and the clocks are the test's own (desc_set_clock),
 * except where a real turn of libevent's loop is what is tested.
 */
#include "autoconf.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <event2/event.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "descendants.h"
#include "procfs.h"

#define TD_MAX_PIDS	16

/* A worker and the pipes it is told what to do on and answers on. */
struct td_worker {
	pid_t	pid;
	int	cmd;
	int	ans;
};

static struct event_base *base;
static pid_t started[TD_MAX_PIDS];	/* killed after each test */
static int nstarted;

/* The test's clocks: the turn, and a walk takes 5 ms of CPU. */
static struct {
	struct timeval	turn;
	struct timespec	mono;
	long long	cpu_ns;
} clk;

/* desc_clock_fn: the test's turn and clocks. */
static void
td_clock(struct timeval *turn, struct timespec *mono, struct timespec *cpu)
{
	*turn = clk.turn;
	*mono = clk.mono;
	clk.cpu_ns += 5000000;	/* 5 ms of CPU between two looks */
	cpu->tv_sec = (time_t)(clk.cpu_ns / 1000000000LL);
	cpu->tv_nsec = (long)(clk.cpu_ns % 1000000000LL);
}

/* A new turn of the loop, ms milliseconds later. */
static void
td_next_turn(long ms)
{
	clk.turn.tv_usec++;
	clk.mono.tv_sec += ms / 1000;
	clk.mono.tv_nsec += (ms % 1000) * 1000000L;
	if (clk.mono.tv_nsec >= 1000000000L) {
		clk.mono.tv_sec++;
		clk.mono.tv_nsec -= 1000000000L;
	}
}

/* Each test: the subreaper way, on a loop of its own, with the test's clocks. */
static void
td_init(void)
{
	char *cause = NULL;

	cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	cr_assert_not_null(base = event_base_new());
	cr_assert_eq(desc_init(base, "subreaper", &cause), 0, "%s",
	    cause ? cause : "");
	memset(&clk, 0, sizeof(clk));
	clk.turn.tv_sec = 1;
	desc_set_clock(td_clock);
	nstarted = 0;
}

/* After each test: kill what it started and reap everything. */
static void
td_fini(void)
{
	int i;

	for (i = 0; i < nstarted; i++)
		kill(started[i], SIGKILL);
	while (waitpid(-1, NULL, 0) > 0 || errno == EINTR)
		continue;
	desc_set_clock(NULL);
	desc_shutdown();
	event_base_free(base);
}

TestSuite(descendants, .init = td_init, .fini = td_fini);

/* Note a process to kill after the test. */
static void
td_started(pid_t pid)
{
	cr_assert_lt(nstarted, TD_MAX_PIDS);
	started[nstarted++] = pid;
}

/* Start a worker, a member of g. */
static void
td_worker_start(struct td_worker *w, struct desc_group *g)
{
	int cmd[2], ans[2];
	pid_t stray;
	char c;

	cr_assert_eq(pipe(cmd), 0);
	cr_assert_eq(pipe(ans), 0);
	cr_assert_neq(w->pid = fork(), -1);
	if (w->pid == 0) {
		close(cmd[1]);
		close(ans[0]);
		while (read(cmd[0], &c, 1) == 1 && c == 'f') {
			if ((stray = fork()) == 0) {
				setsid();
				for (;;)
					pause();
			}
			if (write(ans[1], &stray, sizeof(stray)) !=
			    (ssize_t)sizeof(stray))
				_exit(1);
		}
		_exit(0);
	}
	close(cmd[0]);
	close(ans[1]);
	w->cmd = cmd[1];
	w->ans = ans[0];
	td_started(w->pid);
	desc_group_add(g, w->pid);
}

/* Have the worker fork a stray in a session of its own: its pid. */
static pid_t
td_stray(struct td_worker *w)
{
	pid_t stray = 0;

	cr_assert_eq(write(w->cmd, "f", 1), 1);
	cr_assert_eq(read(w->ans, &stray, sizeof(stray)), (ssize_t)sizeof(stray));
	cr_assert_gt(stray, 0);
	td_started(stray);
	return stray;
}

/* Have the worker exit (its strays stay), and reap it. */
static void
td_worker_quit(struct td_worker *w)
{
	int status;

	cr_assert_eq(write(w->cmd, "q", 1), 1);
	cr_assert_eq(waitpid(w->pid, &status, 0), w->pid);
	close(w->cmd);
	close(w->ans);
}

/* Tell whether the group's members (as need asks) include pid. */
static bool
td_lists(struct desc_group *g, enum desc_need need, pid_t pid)
{
	pid_t pids[TD_MAX_PIDS];
	size_t n, i;

	n = desc_group_pids(g, need, pids, TD_MAX_PIDS);
	for (i = 0; i < n && i < TD_MAX_PIDS; i++)
		if (pids[i] == pid)
			return true;
	return false;
}

/* A group, with no callback. */
static struct desc_group *
td_group(unsigned int number)
{
	struct desc_group *g;
	char *cause = NULL;

	g = desc_group_new("app", number, NULL, NULL, &cause);
	cr_assert_not_null(g, "%s", cause ? cause : "");
	return g;
}

/* What the loop turn of a_turn_walks_proc_once_for_every_group does. */
static struct {
	struct desc_group *g[2];
	pid_t		 worker[2];
	unsigned long	 walks;
	bool		 listed[2];
} turn;

/* One callback of a real turn: both groups looked at, one twice. */
static void
td_in_turn(evutil_socket_t fd, short what, void *arg)
{
	unsigned long before = desc_scans();

	(void)fd;
	(void)what;
	(void)arg;
	turn.listed[0] = td_lists(turn.g[0], DESC_FRESH, turn.worker[0]);
	turn.listed[1] = td_lists(turn.g[1], DESC_FRESH, turn.worker[1]);
	(void)td_lists(turn.g[0], DESC_RECENT, turn.worker[0]);
	turn.walks = desc_scans() - before;
}

Test(descendants, a_turn_walks_proc_once_for_every_group)
{
	struct timeval now = { 0, 0 };
	struct td_worker w[2];
	int i;

	desc_set_clock(NULL);	/* libevent's turns */
	for (i = 0; i < 2; i++) {
		turn.g[i] = td_group((unsigned int)i + 1);
		td_worker_start(&w[i], turn.g[i]);
		turn.worker[i] = w[i].pid;
	}
	cr_assert_eq(event_base_once(base, -1, EV_TIMEOUT, td_in_turn, NULL,
	    &now), 0);
	cr_assert_eq(event_base_loop(base, EVLOOP_ONCE), 0);
	cr_assert(turn.listed[0] && turn.listed[1], "a worker is not listed");
	cr_assert_eq(turn.walks, 1, "%lu walks of /proc in one turn",
	    turn.walks);
	for (i = 0; i < 2; i++) {
		td_worker_quit(&w[i]);
		desc_group_free(turn.g[i]);
	}
}

Test(descendants, a_view_reuses_a_recent_walk_a_kill_finds_a_later_stray)
{
	struct desc_group *g = td_group(1);
	struct td_worker w;
	pid_t stray, later;
	int status;

	td_worker_start(&w, g);
	td_next_turn(0);
	cr_assert(td_lists(g, DESC_RECENT, w.pid));
	stray = td_stray(&w);

	/* A walk took 5 ms: a view 1 ms later reuses it. */
	td_next_turn(1);
	cr_assert(!td_lists(g, DESC_RECENT, stray), "a view walked /proc "
	    "again 1 ms after a walk of 5 ms");
	/* What acts walks again: in a new turn, at once. */
	td_next_turn(0);
	cr_assert(td_lists(g, DESC_FRESH, stray), "the stray is not found");
	/* 45 ms after a walk of 5 ms, a view walks again. */
	later = td_stray(&w);
	td_next_turn(50);
	cr_assert(td_lists(g, DESC_RECENT, later), "a view reused a walk "
	    "older than 9 times what it took");

	/* A stray started after a view's walk is killed all the same. */
	td_next_turn(1);
	cr_assert(td_lists(g, DESC_RECENT, w.pid));
	later = td_stray(&w);
	td_next_turn(1);
	desc_group_kill(g);
	cr_assert_eq(waitpid(w.pid, &status, 0), w.pid);
	cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	/* The stray, an orphan now, is the test's to reap. */
	cr_assert_eq(waitpid(later, &status, 0), later);
	cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
	    "the stray started after the view's walk was not killed");
	desc_group_free(g);
}

Test(descendants, empty_only_when_the_last_stray_is_gone)
{
	struct desc_group *g = td_group(1);
	struct td_worker w[2];
	pid_t stray;
	int status;

	td_worker_start(&w[0], g);
	td_worker_start(&w[1], g);
	td_next_turn(0);
	cr_assert(!desc_group_empty(g), "empty with two workers");

	/* In the turn of a walk: a worker starts a stray and exits. */
	td_next_turn(0);
	cr_assert(td_lists(g, DESC_FRESH, w[0].pid));
	stray = td_stray(&w[0]);
	td_worker_quit(&w[0]);
	td_worker_quit(&w[1]);
	cr_assert(!desc_group_empty(g), "empty while a stray of an exited "
	    "worker lives");
	cr_assert(td_lists(g, DESC_RECENT, stray));

	td_next_turn(0);
	kill(stray, SIGKILL);
	cr_assert_eq(waitpid(stray, &status, 0), stray);
	cr_assert(desc_group_empty(g), "not empty once the stray is gone");
	desc_group_free(g);
}

/* A thread that waits to be cancelled. */
static void *
td_thread(void *arg)
{
	(void)arg;
	for (;;)
		pause();
	return NULL;
}

Test(descendants, stat_counts_threads)
{
	struct desc_group *g = td_group(1);
	struct procfs_stat st;
	struct td_worker w;
	pthread_t thread;

	td_worker_start(&w, g);
	cr_assert_eq(procfs_stat(w.pid, &st), 0);
	cr_assert_eq(st.threads, 1, "a single-threaded worker has %ld threads",
	    st.threads);
	cr_assert_eq(pthread_create(&thread, NULL, td_thread, NULL), 0);
	cr_assert_eq(procfs_stat(getpid(), &st), 0);
	cr_assert_geq(st.threads, 2);
	cr_assert_eq(pthread_cancel(thread), 0);
	cr_assert_eq(pthread_join(thread, NULL), 0);
	td_worker_quit(&w);
	desc_group_free(g);
}

Test(descendants, a_pid_left_in_an_older_group_stays_known_in_the_newer)
{
	struct desc_group *old = td_group(1), *g = td_group(2);
	pid_t pids[TD_MAX_PIDS];
	struct td_worker w;
	int status;

	/* A pid reused: still a member of the old group, and of the new. */
	td_worker_start(&w, old);
	desc_group_add(g, w.pid);
	desc_group_free(old);
	/* A walk does not take the worker for an orphan of its own. */
	td_next_turn(0);
	cr_assert_eq(desc_group_pids(g, DESC_FRESH, pids, TD_MAX_PIDS), 1,
	    "the worker is listed more than once");
	cr_assert_eq(pids[0], w.pid);
	kill(w.pid, SIGKILL);
	cr_assert_eq(waitpid(w.pid, &status, 0), w.pid);
	close(w.cmd);
	close(w.ans);
	td_next_turn(0);
	cr_assert(desc_group_empty(g));
	desc_group_free(g);
}

/* What the turns of each_turn_of_libevent_walks_afresh do. */
static struct {
	struct desc_group *g;
	struct td_worker *w;
	pid_t		 stray;
	bool		 listed;
} next;

/* The second turn: what acts looks for the stray the first one started. */
static void
td_second_turn(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	next.listed = td_lists(next.g, DESC_FRESH, next.stray);
}

/* The first turn: a walk, then a stray; the second turn is the next one. */
static void
td_first_turn(evutil_socket_t fd, short what, void *arg)
{
	struct timeval now = { 0, 0 };

	(void)fd;
	(void)what;
	(void)arg;
	(void)td_lists(next.g, DESC_FRESH, next.w->pid);
	next.stray = td_stray(next.w);
	cr_assert_eq(event_base_once(base, -1, EV_TIMEOUT, td_second_turn,
	    NULL, &now), 0);
}

Test(descendants, each_turn_of_libevent_walks_afresh)
{
	struct timeval now = { 0, 0 };
	struct td_worker w;
	int i;

	desc_set_clock(NULL);	/* libevent's turns */
	next.g = td_group(1);
	next.w = &w;
	td_worker_start(&w, next.g);
	/* Turns closer together than libevent's clock ticks (some ms). */
	for (i = 0; i < 10; i++) {
		cr_assert_eq(event_base_once(base, -1, EV_TIMEOUT,
		    td_first_turn, NULL, &now), 0);
		cr_assert_eq(event_base_dispatch(base), 1);
		cr_assert(next.listed, "round %d: a stray started after the "
		    "walk of the turn before is missed by what acts in the "
		    "next turn", i);
		kill(next.stray, SIGKILL);
		nstarted--;
	}
	td_worker_quit(&w);
	desc_group_free(next.g);
}
