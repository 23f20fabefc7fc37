/*
 * loopstat.c: how long the turns of the event loop take.
 *
 * With HANDOFF_DEBUG_LOOP=MS in its environment, the supervisor logs each
 * turn of its event loop (from the poll's return to the next poll) that
 * took MS milliseconds or more, and the longest part of it:
 *
 *	loop: turn of 35ms (4ms on the CPU, 1ms waiting for it); longest
 *	part 30ms (2ms on the CPU, 0ms waiting for it) in reload commit
 *
 * On the CPU: the supervisor's CPU time. Waiting for it: the time it could
 * have run but the kernel ran other processes (its run delay, from
 * /proc/thread-self/schedstat), as on a machine busy with the workers
 * starting; the rest of a turn it spent blocked in a system call.
 *
 * Callbacks worth watching call loopstat_mark("what") as they begin, and
 * long steps inside them mark too: the time from one mark to the next is
 * charged to the first; time before the first mark of a turn is charged to
 * "unmarked" (libevent's own work, callbacks that do not mark). A turn
 * with no mark at all is not measured. Off (the default), a mark costs a
 * test and the loop is plain event_base_dispatch.
 *
 * Nothing can be read at the poll's return itself (libevent only caches
 * the time, on the precise monotonic clock: see supervisor_base_new), so
 * the CPU and waiting time of "unmarked" are worked out at the first mark
 * from the last turn's end: the CPU time since then, and of the time
 * waiting for a CPU since then, what cannot have come before the poll
 * returned (more than the time from the end to the return), up to what of
 * the part the CPU does not account for. So a wait to be woken from the
 * poll is never counted in the turn, and time asleep in an unmarked
 * callback never taken for a wait. A turn begins at the last one's end at
 * the earliest. A wall clock stepped back or forward is not corrected.
 */
#include "autoconf.h"

#include <event2/event.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "cause.h"
#include "log.h"
#include "loopstat.h"
#include "parse.h"

static struct {
	bool		 enabled;
	uint64_t	 slow_us;	/* log turns this long or longer */
	int		 schedstat;	/* /proc/thread-self/schedstat, or -1 */
	uint64_t	 run_delay_us;	/* as last read from it */
	struct event_base *base;
	struct loopstat_turn turn;
} loopstat = { .schedstat = -1 };

/* Microseconds of a timeval. */
static uint64_t
loopstat_us(const struct timeval *tv)
{
	return (uint64_t)tv->tv_sec * 1000000 + (uint64_t)tv->tv_usec;
}

/*
 * The supervisor's run delay so far (us); as last read if it cannot be
 * read now (no wait is counted across a failed read), 0 if never read.
 */
static uint64_t
loopstat_run_delay(void)
{
	unsigned long long run_ns, delay_ns;
	char buf[128];
	ssize_t n;

	if (loopstat.schedstat == -1 ||
	    (n = pread(loopstat.schedstat, buf, sizeof(buf) - 1, 0)) <= 0)
		return loopstat.run_delay_us;
	buf[n] = '\0';
	if (sscanf(buf, "%llu %llu", &run_ns, &delay_ns) != 2)
		return loopstat.run_delay_us;
	return loopstat.run_delay_us = (uint64_t)delay_ns / 1000;
}

/*
 * Now: the wall clock (the clock libevent's cached time is on), the CPU
 * time the supervisor used and the time it waited for a CPU. The kernel
 * may make the supervisor wait for a CPU on the way out of a system call,
 * and the run delay grows by that wait only once the supervisor runs
 * again. So: the CPU time (a system call), then the wall clock (none),
 * then the run delay (a system call) last. A wait on the way out of the
 * first is in both the wall clock and the run delay read after it; one on
 * the way out of the last is in neither, and goes to the next reading.
 */
static struct loopstat_time
loopstat_now(void)
{
	struct loopstat_time now;
	struct timespec cpu;
	struct timeval tv;

	if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &cpu) == -1)
		now.cpu_us = 0;
	else
		now.cpu_us = (uint64_t)cpu.tv_sec * 1000000 +
		    (uint64_t)cpu.tv_nsec / 1000;
	gettimeofday(&tv, NULL);
	now.wall_us = loopstat_us(&tv);
	now.wait_us = loopstat_run_delay();
	return now;
}

/*
 * Turn measuring on from HANDOFF_DEBUG_LOOP's value (NULL or empty: off):
 * the least milliseconds of a turn that is logged. -1 with *cause if it
 * is not a number.
 */
int
loopstat_init(const char *setting, char **cause)
{
	const char *error;
	long ms;

	loopstat.enabled = false;
	if (setting == NULL || *setting == '\0')
		return 0;
	if (parse_int_range(setting, 0, 3600 * 1000, &ms, &error) == -1) {
		cause_set(cause, "HANDOFF_DEBUG_LOOP=%s: %s; give the "
		    "milliseconds from which a turn of the event loop is logged "
		    "(0: every turn)", setting, error);
		return -1;
	}
	loopstat.enabled = true;
	loopstat.slow_us = (uint64_t)ms * 1000;
	if (loopstat.schedstat == -1)
		loopstat.schedstat = open("/proc/thread-self/schedstat",
		    O_RDONLY | O_CLOEXEC);
	memset(&loopstat.turn, 0, sizeof(loopstat.turn));
	return 0;
}

/* Tell whether turns are measured. */
bool
loopstat_enabled(void)
{
	return loopstat.enabled;
}

/* b - a, or 0 if the clock stepped back. */
static uint64_t
loopstat_diff(uint64_t a, uint64_t b)
{
	return b > a ? b - a : 0;
}

/* The smaller of a and b. */
static uint64_t
loopstat_min(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/*
 * Where turn t began, now being its first mark and polled_us the poll's
 * return: the wall clock then (the last turn's end at the earliest), and
 * the CPU and waiting times as they were then, worked out from the last
 * turn's end (see the top of this file). Without a last end, or with one
 * after now (a clock that stepped back), from this mark.
 */
static struct loopstat_time
loopstat_turn_began(const struct loopstat_turn *t, uint64_t polled_us,
    struct loopstat_time now)
{
	struct loopstat_time began = now;
	uint64_t gap, cpu, wait, before;

	began.wall_us = loopstat_min(polled_us, now.wall_us);
	if (!t->ended_once || t->ended.wall_us > now.wall_us ||
	    t->ended.cpu_us > now.cpu_us || t->ended.wait_us > now.wait_us)
		return began;
	if (began.wall_us < t->ended.wall_us)
		began.wall_us = t->ended.wall_us;
	gap = now.wall_us - began.wall_us;
	cpu = loopstat_min(now.cpu_us - t->ended.cpu_us, gap);
	/* What of the wait since the end the time before the poll's return
	   cannot hold. */
	before = began.wall_us - t->ended.wall_us;
	wait = now.wait_us - t->ended.wait_us;
	wait = loopstat_min(wait > before ? wait - before : 0, gap - cpu);
	began.cpu_us -= cpu;
	began.wait_us -= wait;
	return began;
}

/*
 * End the current part of turn t at now; the next part is charged to
 * what. The first mark of a turn opens it: it began when the poll
 * returned (polled_us); what came before this mark is "unmarked".
 */
void
loopstat_turn_mark(struct loopstat_turn *t, const char *what,
    uint64_t polled_us, struct loopstat_time now)
{
	if (!t->open) {
		t->open = true;
		t->start = loopstat_turn_began(t, polled_us, now);
		t->part = t->start;
		t->what = "unmarked";
		t->longest.wall_us = t->longest.cpu_us = 0;
		t->longest.wait_us = 0;
		t->longest_what = NULL;
	}
	if (t->longest_what == NULL || loopstat_diff(t->part.wall_us,
	    now.wall_us) > t->longest.wall_us) {
		t->longest.wall_us = loopstat_diff(t->part.wall_us, now.wall_us);
		t->longest.cpu_us = loopstat_diff(t->part.cpu_us, now.cpu_us);
		t->longest.wait_us = loopstat_diff(t->part.wait_us,
		    now.wait_us);
		t->longest_what = t->what;
	}
	t->part = now;
	t->what = what;
}

/*
 * End turn t at now (kept for the next turn's start, marked or not). If
 * it took slow_us or more, fill line with what to log and return true.
 * The next mark opens a new turn.
 */
bool
loopstat_turn_end(struct loopstat_turn *t, struct loopstat_time now,
    uint64_t slow_us, char *line, size_t len)
{
	uint64_t wall, cpu, wait;

	t->ended = now;
	t->ended_once = true;
	if (!t->open)
		return false;
	loopstat_turn_mark(t, NULL, t->start.wall_us, now);
	t->open = false;
	wall = loopstat_diff(t->start.wall_us, now.wall_us);
	cpu = loopstat_diff(t->start.cpu_us, now.cpu_us);
	wait = loopstat_diff(t->start.wait_us, now.wait_us);
	if (wall < slow_us)
		return false;
	snprintf(line, len, "loop: turn of %llums (%llums on the CPU, %llums "
	    "waiting for it); longest part %llums (%llums on the CPU, %llums "
	    "waiting for it) in %s",
	    (unsigned long long)(wall / 1000), (unsigned long long)(cpu / 1000),
	    (unsigned long long)(wait / 1000),
	    (unsigned long long)(t->longest.wall_us / 1000),
	    (unsigned long long)(t->longest.cpu_us / 1000),
	    (unsigned long long)(t->longest.wait_us / 1000), t->longest_what);
	return true;
}

/* From here on, this turn's time is spent in what (a static string). */
void
loopstat_mark(const char *what)
{
	struct loopstat_time now;
	struct timeval polled;

	if (!loopstat.enabled || loopstat.base == NULL)
		return;
	now = loopstat_now();
	/* The time libevent cached when its poll returned: the turn's start. */
	if (event_base_gettimeofday_cached(loopstat.base, &polled) == -1)
		loopstat_turn_mark(&loopstat.turn, what, now.wall_us, now);
	else
		loopstat_turn_mark(&loopstat.turn, what, loopstat_us(&polled),
		    now);
}

/*
 * Run the event loop until it is asked to exit, as event_base_dispatch
 * does (and returns), measuring each turn if asked to.
 */
int
loopstat_dispatch(struct event_base *base)
{
	char line[256];
	int rc;

	if (!loopstat.enabled)
		return event_base_dispatch(base);
	loopstat.base = base;
	loopstat.turn.ended_once = false;
	for (;;) {
		rc = event_base_loop(base, EVLOOP_ONCE);
		if (loopstat_turn_end(&loopstat.turn, loopstat_now(),
		    loopstat.slow_us, line, sizeof(line))) {
			log_info("%s", line);
			/* The line's writing is in neither turn. */
			loopstat.turn.ended = loopstat_now();
		}
		if (rc != 0 || event_base_got_exit(base) ||
		    event_base_got_break(base))
			break;
	}
	loopstat.base = NULL;
	return rc;
}
