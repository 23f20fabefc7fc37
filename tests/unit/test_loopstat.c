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
 * One turn of t after those before it: a mark (what, at the poll's return
 * polled ms and at mark), its end at end, and the line it logs.
 */
static void
expect_turn(struct loopstat_turn *t, const char *what, uint64_t polled,
    struct loopstat_time mark, struct loopstat_time end, const char *want)
{
	char line[256];

	loopstat_turn_mark(t, what, polled * 1000, mark);
	cr_assert(loopstat_turn_end(t, end, 0, line, sizeof(line)), "%s", what);
	cr_assert_str_eq(line, want, "%s", what);
}

/*
 * The part before a turn's first mark (from the poll's return) is charged
 * the CPU time and the wait for a CPU since the last turn's end, the wait
 * only up to what of the part the CPU does not account for: the rest was
 * the wait to be woken from the poll, before the turn began.
 */
Test(loopstat, before_the_first_mark_the_time_since_the_last_turn_counts)
{
	struct loopstat_turn t;
	char line[256];

	memset(&t, 0, sizeof(t));
	/* A turn without a mark: not measured, but where the next begins. */
	cr_assert(!loopstat_turn_end(&t, at(100, 20, 30), 0, line,
	    sizeof(line)));
	/*
	 * Asleep in the poll until 190, woken at 185 (5ms waiting for a CPU
	 * then); from the poll's return at 190 to the first mark at 200,
	 * 2ms on the CPU and 8ms waiting: 13ms of wait since the end, 8 of
	 * them in the turn.
	 */
	expect_turn(&t, "notify", 190, at(200, 22, 43), at(203, 25, 43),
	    "loop: turn of 13ms (5ms on the CPU, 8ms waiting for it); longest "
	    "part 10ms (2ms on the CPU, 8ms waiting for it) in unmarked");
	/* A wait all before the poll returned: none of it in the turn. */
	expect_turn(&t, "SIGCHLD", 303, at(304, 26, 60), at(310, 31, 60),
	    "loop: turn of 7ms (6ms on the CPU, 0ms waiting for it); longest "
	    "part 6ms (5ms on the CPU, 0ms waiting for it) in SIGCHLD");
	/* A last end after the poll's return (a clock stepped): the mark's. */
	expect_turn(&t, "guard", 305, at(320, 40, 70), at(330, 45, 72),
	    "loop: turn of 25ms (5ms on the CPU, 2ms waiting for it); longest "
	    "part 15ms (0ms on the CPU, 0ms waiting for it) in unmarked");
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
