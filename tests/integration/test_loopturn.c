/*
 * test_loopturn.c: HANDOFF_DEBUG_LOOP, which logs the turns of the
 * supervisor's event loop that took long and what took longest in them;
 * a value that is not a number of milliseconds is refused at start.
 */
#include "autoconf.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/* After each test: the supervisor, and the variable for the next one. */
static void
tl_fini(void)
{
	unsetenv("HANDOFF_DEBUG_LOOP");
	tc_fini();
}

Test(loopturn, every_turn_is_logged_from_zero_ms, .fini = tl_fini)
{
	struct sup *s = tc_new("", "");
	char *status, *text;

	setenv("HANDOFF_DEBUG_LOOP", "0", 1);
	tc_start(s);
	status = tc_request(s, "HANDOFF/1 status\n", 17);
	cr_assert_not_null(strstr(status, "\nok status\n"), "%s", status);
	free(status);
	/* The turns that started the workers and answered, at least. */
	tc_expect_log(s, "loop: turn of ", 2);
	text = tc_log_text(s);
	cr_assert(tc_in_order(text, "loop: turn of ", "ms on the CPU, ",
	    "ms waiting for it); longest part ", "ms on the CPU, ",
	    "ms waiting for it) in ", NULL), "%s", text);
	free(text);
	tc_stop(s);
	tc_expect_all_gone(s);
}

Test(loopturn, nothing_is_logged_without_it, .fini = tl_fini)
{
	struct sup *s = tc_new("", "");
	char *status;

	unsetenv("HANDOFF_DEBUG_LOOP");
	tc_start(s);
	status = tc_request(s, "HANDOFF/1 status\n", 17);
	free(status);
	tc_stop(s);
	cr_assert_eq(tc_log_count(s, "loop: "), 0, "%s", tc_log_text(s));
	tc_expect_all_gone(s);
}

Test(loopturn, a_bad_value_is_refused_at_start, .fini = tl_fini)
{
	struct sup *s = tc_new("", "");

	setenv("HANDOFF_DEBUG_LOOP", "soon", 1);
	tc_expect_start_refused(s, "HANDOFF_DEBUG_LOOP=soon: bad number; give "
	    "the milliseconds from which a turn of the event loop is logged (0: "
	    "every turn)");
}
