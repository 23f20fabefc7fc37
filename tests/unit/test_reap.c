/*
 * test_reap.c: reaping children from the loop. A walk of them all that
 * finds many exited (a generation's drain) reaps for a slice of time per
 * turn of the loop, and the rest in the turns after; each child is told
 * once, and the walk that finds none left says they are done.
 */
#include "autoconf.h"

#include <criterion/criterion.h>
#include <event2/event.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "reap.h"
#include "support.h"

#define CHILDREN	120

/* What the reaper told. */
static struct {
	int	 reaped, done;
	pid_t	 pids[CHILDREN];
} told;

/* reap_fn: note the child, taking 100 µs over it. */
static void
on_reaped(pid_t pid, int status, void *arg)
{
	(void)arg;
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 7,
	    "pid %d: status %d", (int)pid, status);
	cr_assert_lt(told.reaped, CHILDREN, "more children than started");
	told.pids[told.reaped++] = pid;
	support_spin_us(100);
}

/* reap_done_fn. */
static void
on_done(void *arg)
{
	(void)arg;
	told.done++;
}

/* Whether pid is a child of ours that was not waited for yet. */
static bool
unreaped(pid_t pid)
{
	siginfo_t si;

	si.si_pid = 0;
	return waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == 0;
}

/*
 * 120 children exit at once: 12 ms of reaping at 100 µs each. One turn
 * of the loop reaps for some 2 ms, not all of them; the turns after reap
 * the rest, each once.
 */
Test(reap, a_walk_from_the_loop_reaps_a_slice_per_turn)
{
	struct event_base *base;
	pid_t pids[CHILDREN];
	char *cause = NULL;
	int i, k, turns = 0, first;

	cr_assert_not_null(base = event_base_new());
	cr_assert_eq(reap_open(base, on_reaped, NULL, on_done, NULL, &cause),
	    0, "%s", cause);
	for (i = 0; i < CHILDREN; i++) {
		cr_assert_geq(pids[i] = fork(), 0);
		if (pids[i] == 0)
			_exit(7);
	}
	/* Every one exited (waited for, not reaped: WNOWAIT). */
	for (i = 0; i < CHILDREN; i++) {
		siginfo_t si;

		si.si_pid = 0;
		cr_assert_eq(waitid(P_PID, (id_t)pids[i], &si, WEXITED |
		    WNOWAIT), 0);
		cr_assert_eq(si.si_pid, pids[i]);
	}
	event_base_loop(base, EVLOOP_ONCE);
	first = told.reaped;
	cr_assert_gt(first, 0, "the SIGCHLD reaped nothing");
	cr_assert_lt(first, CHILDREN, "all %d reaped in one turn", CHILDREN);
	while (told.reaped < CHILDREN) {
		cr_assert_lt(++turns, 1000, "%d of %d reaped", told.reaped,
		    CHILDREN);
		event_base_loop(base, EVLOOP_ONCE);
	}
	cr_assert_gt(turns, 0);
	cr_assert_gt(told.done, 1, "done told %d times", told.done);
	for (i = 0; i < CHILDREN; i++) {
		cr_expect_not(unreaped(pids[i]), "pid %d not reaped",
		    (int)pids[i]);
		for (k = 0; k < told.reaped && told.pids[k] != pids[i]; k++)
			continue;
		cr_expect_lt(k, told.reaped, "pid %d not told", (int)pids[i]);
	}
	reap_close();
	event_base_free(base);
}
