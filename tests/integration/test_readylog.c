/*
 * test_readylog.c: ready = log:REGEX, readiness by a line of the worker's
 * output, for servers that cannot send READY=1.
 */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

TestSuite(readylog, .fini = tc_fini, .timeout = 120);

/*
 * The test server prints "ready pid=N gen=G" once it serves (--print-ready)
 * and never sends READY=1 (no NOTIFY_SOCKET outside ready = notify): the
 * workers are ready only by that line, which comes after its other output.
 */
Test(readylog, a_matching_line_makes_the_worker_ready)
{
	struct sup *s = tc_new("--print 'starting up\\n' --ready-after 300ms "
	    "--print-ready", "ready = log:^ready pid=[0-9]+ gen=\n");
	json_object *root;
	char *text;

	tc_start(s);
	text = tc_log_text(s);
	/* Each worker became ready on its own line, not on the first one. */
	cr_expect(tc_in_order(text, "starting up", "ready pid=",
	    "app gen 1: ready 2/2", NULL), "%s", text);
	free(text);
	root = tc_status_json(s);
	cr_expect_str_eq(tc_json_str(tc_json_at(root, "programs", "0", "ready",
	    NULL)), "log");
	cr_expect_str_eq(tc_json_str(tc_json_at(root, "programs", "0",
	    "ready_pattern", NULL)), "^ready pid=[0-9]+ gen=");
	json_object_put(root);
	cr_expect_eq(tc_get(s, NULL), 1, "a worker answers");
	tc_stop(s);
}

/* A reload's new generation takes over once its lines match. */
Test(readylog, a_reload_takes_over_on_the_line)
{
	struct sup *s = tc_new("--print-ready", "ready = log:^ready pid=\n");
	struct run_result res;

	tc_start(s);
	cr_assert_eq(support_handoff_cmd(&res, "reload", "-c", s->config, NULL),
	    0, "%s%s", res.out, res.err);
	cr_expect(strstr(res.out, "took over") != NULL, "%s", res.out);
	support_result_free(&res);
	cr_expect_eq(tc_get(s, NULL), 2, "the new generation answers");
	tc_stop(s);
}

/*
 * `handoff reload PROGRAM` merges the program's part of the file into the
 * config in force: the merged config matches with a pattern of its own,
 * after the file's config it came from is freed, and again at the next
 * reload of every program.
 */
Test(readylog, a_reload_of_the_program_alone_takes_over_on_the_line)
{
	struct sup *s = tc_new("--print-ready", "ready = log:^ready pid=\n");
	struct run_result res;
	int round;

	tc_start(s);
	for (round = 0; round < 2; round++) {
		cr_assert_eq(support_handoff_cmd(&res, "reload", "-c",
		    s->config, round == 0 ? "app" : NULL, NULL), 0, "%s%s",
		    res.out, res.err);
		cr_expect(strstr(res.out, "took over") != NULL, "%s", res.out);
		support_result_free(&res);
		cr_expect_eq(tc_get(s, NULL), 2 + round,
		    "generation %d answers", 2 + round);
	}
	tc_stop(s);
}

/* Output that never matches: the generation fails at ready_timeout. */
Test(readylog, output_that_never_matches_is_not_ready)
{
	struct sup *s = tc_new("--print 'listening soon\\n' --print-ready",
	    "ready = log:^Listening at:\nready_timeout = 1s\n");

	cr_assert_eq(support_handoff_start(&s->hp, s->config, s->log), 0);
	cr_assert_eq(tc_wait_exit(s, DEADLINE_MS), 1, "%s", tc_log_text(s));
	cr_expect_eq(tc_log_count(s, "not ready within ready_timeout 1s "
	    "(0/2 workers ready"), 1, "%s", tc_log_text(s));
}

/* A pattern that is no regular expression is a config error. */
Test(readylog, a_bad_pattern_is_refused_by_check)
{
	struct sup *s = tc_new("", "ready = log:([a-z\n");
	struct run_result res;

	cr_assert_eq(support_handoff_cmd(&res, "check", "-c", s->config, NULL),
	    2, "%s%s", res.out, res.err);
	cr_expect(strstr(res.err, "bad log pattern (a POSIX extended regular "
	    "expression)") != NULL, "%s", res.err);
	support_result_free(&res);

	tc_write_config(s, "", "ready = log:\n");
	cr_assert_eq(support_handoff_cmd(&res, "check", "-c", s->config, NULL),
	    2, "%s%s", res.out, res.err);
	cr_expect(strstr(res.err, "empty log pattern") != NULL, "%s", res.err);
	support_result_free(&res);
}

/* handoff run --ready log:REGEX, and its error. */
Test(readylog, run_takes_ready_log)
{
	struct run_result res;

	cr_assert_eq(support_handoff_cmd(&res, "run", "--listen",
	    "127.0.0.1:0", "--ready", "log:(", "--", "true", NULL), 2,
	    "%s%s", res.out, res.err);
	cr_expect(strstr(res.err, "--ready") != NULL &&
	    strstr(res.err, "bad log pattern") != NULL, "%s", res.err);
	support_result_free(&res);
}
