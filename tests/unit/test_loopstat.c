/*
 * test_loopstat.c: how a turn of the event loop is measured: marks cut it
 * into parts, each charged to the mark it began at; a turn is logged once
 * it takes the threshold or more, with its longest part; HANDOFF_DEBUG_LOOP
 * is a number of milliseconds or refused; the measuring loop runs and
 * stops as event_base_dispatch does.
 */
#include "autoconf.h"

#include <criterion/criterion.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "loopstat.h"

/*
 * A mark passed in a turn: when the poll returned, and now (ms): wall
 * clock, CPU time, time spent waiting for a CPU.
 */
struct mark {
	const char	*what;
	uint64_t	 polled, wall, cpu, wait;
};

/* A turn: its marks, its end (ms), the threshold, what is logged. */
static const struct {
	const char	*name;
	struct mark	 marks[4];
	uint64_t	 end_wall, end_cpu, end_wait, slow;
	const char	*line;		/* NULL: nothing */
} turns[] = {
	{ "no mark: not measured", { { NULL, 0, 0, 0, 0 } }, 500, 10, 0, 0,
	  NULL },
	/* 40ms from the poll, CPU from the first mark, 30ms in the slice. */
	{ "parts charged to the mark they began at",
	  { { "notify", 100, 102, 1, 0 }, { "spawn slice", 100, 105, 3, 0 },
	    { "control request", 100, 135, 4, 0 }, { NULL, 0, 0, 0, 0 } },
	  140, 9, 0, 10, "loop: turn of 40ms (8ms on the CPU, 0ms waiting for "
	  "it); longest part 30ms (1ms on the CPU, 0ms waiting for it) in "
	  "spawn slice" },
	/* Waiting for a CPU is counted from the first mark, as the CPU. */
	{ "the time waiting for a CPU, by turn and by part",
	  { { "notify", 500, 501, 10, 40 }, { "stop slice", 500, 503, 12, 41 },
	    { "SIGCHLD", 500, 515, 13, 52 }, { NULL, 0, 0, 0, 0 } },
	  516, 13, 52, 10, "loop: turn of 16ms (3ms on the CPU, 12ms waiting "
	  "for it); longest part 12ms (1ms on the CPU, 11ms waiting for it) "
	  "in stop slice" },
	{ "before the first mark: unmarked",
	  { { "cleanup", 0, 50, 7, 3 }, { NULL, 0, 0, 0, 0 } }, 51, 7, 3, 0,
	  "loop: turn of 51ms (0ms on the CPU, 0ms waiting for it); longest "
	  "part 50ms (0ms on the CPU, 0ms waiting for it) in unmarked" },
	{ "shorter than the threshold: not logged",
	  { { "notify", 1000, 1000, 0, 0 }, { NULL, 0, 0, 0, 0 } }, 1009, 2,
	  0, 10, NULL },
	{ "as long as the threshold: logged",
	  { { "SIGCHLD", 2000, 2000, 2, 0 }, { NULL, 0, 0, 0, 0 } }, 2010, 3,
	  0, 10, "loop: turn of 10ms (1ms on the CPU, 0ms waiting for it); "
	  "longest part 10ms (1ms on the CPU, 0ms waiting for it) in SIGCHLD" },
	/* The cached poll time after the mark: the turn starts at the mark. */
	{ "a clock that steps back counts nothing",
	  { { "notify", 300, 200, 5, 9 }, { "guard", 300, 150, 4, 8 },
	    { NULL, 0, 0, 0, 0 } }, 100, 3, 7, 0,
	  "loop: turn of 0ms (0ms on the CPU, 0ms waiting for it); longest "
	  "part 0ms (0ms on the CPU, 0ms waiting for it) in unmarked" },
};

/* A point in a turn, from milliseconds. */
static struct loopstat_time
at(uint64_t wall_ms, uint64_t cpu_ms, uint64_t wait_ms)
{
	struct loopstat_time t = { wall_ms * 1000, cpu_ms * 1000,
	    wait_ms * 1000 };

	return t;
}

/* Each turn on its own, the first the loop measures. */
Test(loopstat, turns_are_cut_into_parts_at_each_mark)
{
	struct loopstat_turn t;
	const struct mark *m;
	char line[256];
	size_t i;
	bool logged;

	for (i = 0; i < sizeof(turns) / sizeof(turns[0]); i++) {
		memset(&t, 0, sizeof(t));
		for (m = turns[i].marks; m->what != NULL; m++)
			loopstat_turn_mark(&t, m->what, m->polled * 1000,
			    at(m->wall, m->cpu, m->wait));
		logged = loopstat_turn_end(&t, at(turns[i].end_wall,
		    turns[i].end_cpu, turns[i].end_wait), turns[i].slow * 1000,
		    line, sizeof(line));
		cr_assert_eq(logged, turns[i].line != NULL, "%s", turns[i].name);
		if (logged)
			cr_assert_str_eq(line, turns[i].line, "%s",
			    turns[i].name);
	}
}

/*
 * Turns one after another, each a mark (at the poll's return, in ms, and
 * at the mark) and an end: what the part before the mark is charged.
 */
static const struct {
	const char	*name;
	uint64_t	 polled, wall, cpu, wait;	/* the mark */
	uint64_t	 end_wall, end_cpu, end_wait;
	const char	*line;
} after[] = {
	/*
	 * The poll returned at once (101, the last end at 100); to the first
	 * mark at 110, 2ms on the CPU and 7ms of wait since the end, of which
	 * at most 1ms came before the poll returned: 6ms in the turn.
	 */
	{ "busy", 101, 110, 22, 37, 113, 25, 37,
	  "loop: turn of 12ms (5ms on the CPU, 6ms waiting for it); longest "
	  "part 9ms (2ms on the CPU, 6ms waiting for it) in unmarked" },
	/*
	 * The poll slept until 200; 8ms of wait since the end, all of which
	 * may have been the wait to be woken: none in the turn, and the 8ms
	 * to the first mark, on no CPU, stay held (asleep in a callback).
	 */
	{ "slept", 200, 208, 25, 45, 211, 28, 45,
	  "loop: turn of 11ms (3ms on the CPU, 0ms waiting for it); longest "
	  "part 8ms (0ms on the CPU, 0ms waiting for it) in unmarked" },
	/* A poll's return before the last end (205 < 211): from the end. */
	{ "returned before the end", 205, 215, 30, 46, 220, 33, 48,
	  "loop: turn of 9ms (5ms on the CPU, 3ms waiting for it); longest "
	  "part 5ms (3ms on the CPU, 2ms waiting for it) in returned before "
	  "the end" },
	/* A last end after now (a clock stepped back): from the mark. */
	{ "stepped back", 100, 105, 35, 50, 110, 36, 50,
	  "loop: turn of 10ms (1ms on the CPU, 0ms waiting for it); longest "
	  "part 5ms (0ms on the CPU, 0ms waiting for it) in unmarked" },
};

/*
 * The part before a turn's first mark (from the poll's return) is charged
 * the CPU time since the last turn's end, and of the wait for a CPU since
 * then what cannot have come before the poll returned, up to what of the
 * part the CPU does not account for: a wait to be woken is never counted,
 * nor time asleep taken for a wait. A turn begins at the last one's end at
 * the earliest.
 */
Test(loopstat, before_the_first_mark_the_time_since_the_last_turn_counts)
{
	struct loopstat_turn t;
	char line[256];
	size_t i;

	memset(&t, 0, sizeof(t));
	/* A turn without a mark: not measured, but where the next begins. */
	cr_assert(!loopstat_turn_end(&t, at(100, 20, 30), 0, line,
	    sizeof(line)));
	for (i = 0; i < sizeof(after) / sizeof(after[0]); i++) {
		loopstat_turn_mark(&t, after[i].name, after[i].polled * 1000,
		    at(after[i].wall, after[i].cpu, after[i].wait));
		cr_assert(loopstat_turn_end(&t, at(after[i].end_wall,
		    after[i].end_cpu, after[i].end_wait), 0, line,
		    sizeof(line)), "%s", after[i].name);
		cr_expect_str_eq(line, after[i].line, "%s", after[i].name);
	}
}

Test(loopstat, the_setting_is_milliseconds_or_refused)
{
	char *cause = NULL;

	cr_assert_eq(loopstat_init(NULL, &cause), 0);
	cr_assert_not(loopstat_enabled());
	cr_assert_eq(loopstat_init("", &cause), 0);
	cr_assert_not(loopstat_enabled());
	cr_assert_eq(loopstat_init("10", &cause), 0);
	cr_assert(loopstat_enabled());
	cr_assert_eq(loopstat_init("0", &cause), 0);
	cr_assert(loopstat_enabled());
	cr_assert_eq(loopstat_init("10ms", &cause), -1);
	cr_assert_str_eq(cause, "HANDOFF_DEBUG_LOOP=10ms: bad number; give the "
	    "milliseconds from which a turn of the event loop is logged (0: "
	    "every turn)");
	cr_assert_not(loopstat_enabled());
	free(cause);
	cause = NULL;
	cr_assert_eq(loopstat_init("-1", &cause), -1);
	free(cause);
}

/* Timer: mark, and stop the loop on the third time. */
static void
tick(evutil_socket_t fd, short what, void *arg)
{
	static int ticks;
	struct event_base *b = arg;
	struct timeval zero = { 0, 0 };

	(void)fd;
	(void)what;
	loopstat_mark("tick");
	if (++ticks == 3)
		event_base_loopexit(b, NULL);
	else
		event_base_once(b, -1, EV_TIMEOUT, tick, b, &zero);
}

Test(loopstat, the_measuring_loop_runs_until_asked_to_exit)
{
	struct event_base *b;
	struct timeval zero = { 0, 0 };
	char *cause = NULL;

	cr_assert_not_null(b = event_base_new());
	cr_assert_eq(loopstat_init("1000", &cause), 0);
	cr_assert_eq(event_base_once(b, -1, EV_TIMEOUT, tick, b, &zero), 0);
	cr_assert_eq(loopstat_dispatch(b), 0);
	cr_assert(event_base_got_exit(b));
	/* With nothing left to wait for, it returns as dispatch does. */
	cr_assert_eq(loopstat_dispatch(b), 1);
	event_base_free(b);
}
