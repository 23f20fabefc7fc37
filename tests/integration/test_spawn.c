/*
 * test_spawn.c: what a running worker costs the supervisor in fds: its
 * output pipe and nothing else (none with output = discard), however many
 * workers and reloads; and a worker that cannot start for the fd limit is
 * said to, with the limit's value.
 */
#include "autoconf.h"

#include <criterion/criterion.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "harness.h"

/* Write s's config: one program of `workers` test servers, extra keys. */
static void
write_config(struct sup *s, int workers, const char *keys)
{
	char *text;

	text = tc_printf(
	    "[supervisor]\nname = spawn\ncontrol = %s\npidfile = %s/pid\n\n"
	    "[listener web]\nlisten = 127.0.0.1:%d\n\n"
	    "[program app]\ncommand = %s\nlisteners = web\nworkers = %d\n"
	    "ready = notify\nready_timeout = 20s\ndrain_timeout = 20s\n%s",
	    s->sock, s->dir, s->port, support_env("HANDOFF_TESTSERVER"),
	    workers, keys);
	free(support_write_file(s->dir, "handoff.ini", text));
	free(text);
}

/* Reload s to generation gen and wait until the one before it is gone. */
static void
reload_to(struct sup *s, unsigned int gen)
{
	struct run_result res;
	char *gone;

	cr_assert_eq(support_handoff_cmd(&res, "reload", "-c", s->config, NULL),
	    0, "reload: %s%s", res.out, res.err);
	support_result_free(&res);
	gone = tc_printf("app gen %u: gone", gen - 1);
	tc_expect_log(s, gone, 1);
	free(gone);
}

/*
 * Wait until the supervisor holds want fds (a control connection may take
 * a moment to close); fail with what it holds if it never does.
 */
static void
expect_fds(struct sup *s, int want, const char *when)
{
	long long deadline = support_now_ms() + DEADLINE_MS;
	int n;

	while ((n = support_fd_count(s->hp.pid)) != want &&
	    support_now_ms() < deadline)
		usleep(10 * 1000);
	cr_assert_eq(n, want, "%s: the supervisor holds %d fds, not %d", when,
	    n, want);
}

/* The supervisor's fds with 1 worker, then with 9: what 8 workers cost. */
static void
expect_fds_per_worker(const char *keys, int per_worker)
{
	struct sup *s = tc_new("", "");
	int one;

	write_config(s, 1, keys);
	tc_start(s);
	one = support_fd_count(s->hp.pid);
	cr_assert_gt(one, 0);
	write_config(s, 9, keys);
	reload_to(s, 2);
	expect_fds(s, one + 8 * per_worker, "9 workers");
	/* Another reload leaves nothing behind. */
	reload_to(s, 3);
	expect_fds(s, one + 8 * per_worker, "9 workers, reloaded");
	tc_stop(s);
}

Test(spawn, a_worker_holds_one_fd_its_output, .fini = tc_fini)
{
	expect_fds_per_worker("", 1);
}

Test(spawn, a_worker_whose_output_is_discarded_holds_none, .fini = tc_fini)
{
	expect_fds_per_worker("output = discard\n", 0);
}

/*
 * Under an fd limit of 64 (soft and hard: the supervisor raises its soft
 * limit to the hard one), 60 workers cannot all have their output pipe:
 * the start is refused before any worker starts, and the error names the
 * limit, its value and how many fds are in use, not only "Too many open
 * files". The limit is set in the test's own process (each test runs in
 * one of its own), which the supervisor inherits; unlike RLIMIT_NPROC it
 * binds root too.
 */
Test(spawn, a_start_past_the_fd_limit_names_the_limit, .fini = tc_fini)
{
	struct rlimit rl = { 64, 64 };
	struct sup *s = tc_new("", "");
	regmatch_t m;
	regex_t re;
	char *text;

	write_config(s, 60, "");
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	cr_assert_eq(support_handoff_start(&s->hp, s->config, s->log), 0);
	cr_assert_eq(tc_wait_exit(s, DEADLINE_MS), 1, "the start was not "
	    "refused:\n%s", tc_log_text(s));
	text = tc_log_text(s);
	cr_assert_eq(regcomp(&re, "cannot start: the fd limit is too low: "
	    "starting 60 workers needs about [0-9]+ more fds; the limit is 64 "
	    "with [0-9]+ in use \\(raise LimitNOFILE= or ulimit -n\\)$",
	    REG_EXTENDED | REG_NEWLINE), 0);
	cr_assert_eq(regexec(&re, text, 1, &m, 0), 0, "the limit is not "
	    "named:\n%s", text);
	cr_expect_eq(support_count_lines(text, "could not start"), 0, "a "
	    "worker was started:\n%s", text);
	regfree(&re);
	free(text);
}
