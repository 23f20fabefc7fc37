/*
 * test_signals.c: signals to the supervisor at awkward moments: a second
 * SIGINT while draining, SIGHUP while stopping, SIGTERM in the middle of a
 * reload; many workers' SIGCHLDs at once. Each must end with every process
 * gone and exit 0.
 */
#include "autoconf.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "support.h"

static struct handoff_proc hp = { .pid = -1, .pidfd = -1, .exit_code = -1 };
static char *dir, *config, *logpath;

/* Kill what a failed test left behind; remove its directory. */
static void
fini(void)
{
	support_handoff_kill_all(&hp);
	if (dir != NULL)
		support_rmtree(dir);
	free(dir);
	free(config);
	free(logpath);
}

/* Write the config: one program of n test servers with ARGS. */
static void
write_config_n(const char *args, const char *drain, int n)
{
	char *text;

	cr_assert(asprintf(&text,
	    "[supervisor]\nname = sig\ncontrol = %s/ctl.sock\npidfile = %s/pid\n\n"
	    "[listener web]\nlisten = 127.0.0.1:0\n\n"
	    "[program app]\ncommand = %s %s\nlisteners = web\nworkers = %d\n"
	    "ready_timeout = 20s\ndrain_timeout = %s\n",
	    dir, dir, support_env("HANDOFF_TESTSERVER"), args, n, drain) != -1);
	free(support_write_file(dir, "handoff.ini", text));
	free(text);
}

/* Write the config: one program of two test servers with ARGS. */
static void
write_config(const char *args, const char *drain)
{
	write_config_n(args, drain, 2);
}

/*
 * Start the supervisor, with the signals of ignore (0-terminated, or NULL)
 * ignored, on a config of n workers; wait until it serves.
 */
static void
start_n_ignoring(const char *args, const char *drain, int n,
    const int *ignore)
{
	dir = support_tmpdir();
	cr_assert(asprintf(&config, "%s/handoff.ini", dir) != -1);
	cr_assert(asprintf(&logpath, "%s/handoff.log", dir) != -1);
	write_config_n(args, drain, n);
	cr_assert_eq(support_handoff_start_ignoring(&hp, config, logpath,
	    ignore), 0);
	cr_assert_eq(support_handoff_wait_log(&hp, "started: app gen 1 ready", 1),
	    0, "never started");
}

/* Start the supervisor on a config of n workers; wait until it serves. */
static void
start_n(const char *args, const char *drain, int n)
{
	start_n_ignoring(args, drain, n, NULL);
}

/* Start the supervisor on the config and wait until it serves. */
static void
start(const char *args, const char *drain)
{
	start_n(args, drain, 2);
}

/* Nothing the test started is left: supervisor, workers, their children. */
static void
expect_nothing_left(void)
{
	pid_t pids[64];

	cr_expect_eq(support_tagged_pids(hp.tag, pids, 64), 0,
	    "processes left behind, the first pid %d", (int)pids[0]);
}

Test(signals, second_sigint_stops_at_once, .fini = fini)
{
	start("--ignore-term", "60s");
	kill(hp.pid, SIGINT);
	cr_assert_eq(support_handoff_wait_log(&hp, "SIGINT: stopping gracefully",
	    1), 0);
	/* The workers ignore their stop signal; the drain would take 60s. */
	kill(hp.pid, SIGINT);
	cr_assert_eq(support_handoff_wait_exit(&hp, SUPPORT_DEADLINE_MS), 0,
	    "the supervisor did not exit with 0 after a second SIGINT");
	cr_expect_eq(support_handoff_wait_log(&hp, "second SIGINT: stopping now",
	    1), 0);
	cr_expect_eq(support_handoff_wait_log(&hp, "info: stopped", 1), 0);
	expect_nothing_left();
}

Test(signals, sighup_while_stopping_is_ignored, .fini = fini)
{
	start("--ignore-term", "60s");
	kill(hp.pid, SIGTERM);
	cr_assert_eq(support_handoff_wait_log(&hp, "SIGTERM: stopping gracefully",
	    1), 0);
	kill(hp.pid, SIGHUP);
	cr_assert_eq(support_handoff_wait_log(&hp, "reload ignored: stopping", 1),
	    0);
	/* A second SIGTERM does not hurry it; a SIGINT after it does. */
	kill(hp.pid, SIGTERM);
	cr_assert_eq(support_handoff_wait_log(&hp, "already stopping", 1), 0);
	kill(hp.pid, SIGINT);
	cr_assert_eq(support_handoff_wait_exit(&hp, SUPPORT_DEADLINE_MS), 0);
	cr_expect_eq(support_handoff_wait_log(&hp, "gen 2", 1), -1,
	    "a generation was started while stopping");
	expect_nothing_left();
}

Test(signals, sigterm_during_a_reload_stops_both_generations, .fini = fini)
{
	start("", "5s");
	/* The new generation takes long to be ready... */
	write_config("--ready-after 20s", "5s");
	kill(hp.pid, SIGHUP);
	cr_assert_eq(support_handoff_wait_log(&hp, "app gen 2: starting", 1), 0);
	/* ...and the supervisor is stopped meanwhile. */
	cr_assert_eq(support_handoff_stop(&hp, SIGTERM), 0);
	cr_expect_eq(support_handoff_wait_log(&hp, "took over", 1), -1,
	    "the new generation took over while stopping");
	cr_expect_eq(support_handoff_wait_log(&hp, "app gen 1: gone", 1), 0);
	cr_expect_eq(support_handoff_wait_log(&hp, "app gen 2: gone", 1), 0);
	expect_nothing_left();
}

Test(signals, stop_kills_descendants_that_left_the_process_group, .fini = fini)
{
	char *text;

	dir = support_tmpdir();
	cr_assert(asprintf(&config, "%s/handoff.ini", dir) != -1);
	cr_assert(asprintf(&logpath, "%s/handoff.log", dir) != -1);
	/* The worker starts a daemon in a session of its own, then serves. */
	cr_assert(asprintf(&text,
	    "[supervisor]\nname = sig\ncontrol = %s/ctl.sock\npidfile = %s/pid\n\n"
	    "[listener web]\nlisten = 127.0.0.1:0\n\n"
	    "[program app]\ncommand = /bin/sh -c 'setsid sleep 300 & exec %s'\n"
	    "listeners = web\nready_timeout = 20s\ndrain_timeout = 5s\n",
	    dir, dir, support_env("HANDOFF_TESTSERVER")) != -1);
	free(support_write_file(dir, "handoff.ini", text));
	free(text);
	cr_assert_eq(support_handoff_start(&hp, config, logpath), 0);
	cr_assert_eq(support_handoff_wait_log(&hp, "started: app gen 1 ready", 1),
	    0, "never started");
	cr_assert_eq(support_handoff_stop(&hp, SIGTERM), 0);
	/* Drained with its generation: nothing was left for the exit sweep. */
	cr_expect_eq(support_handoff_wait_log(&hp, "app gen 1: gone", 1), 0);
	text = support_read_file(logpath);
	cr_assert(text != NULL);
	cr_expect_eq(support_count_lines(text, "left by workers outside their "
	    "process groups"), 0, "%s", text);
	free(text);
	expect_nothing_left();
}

/*
 * Many workers killed at once: SIGCHLD is not queued, so most of their
 * exits come without a signal of their own. Every one is still reaped,
 * logged and restarted, and a stop leaves nothing behind.
 */
Test(signals, many_workers_killed_at_once_are_all_restarted, .fini = fini)
{
	enum { MANY = 40 };
	pid_t pids[MANY];
	char path[64], needle[64], *text, *p, *end;
	long v;
	int i, n = 0;

	start_n("", "5s", MANY);
	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)hp.pid,
	    (int)hp.pid);
	cr_assert_not_null(text = support_read_file(path));
	for (p = text; n < MANY && (v = strtol(p, &end, 10)) > 0; p = end)
		pids[n++] = (pid_t)v;
	free(text);
	cr_assert_eq(n, MANY, "the supervisor has %d children, not %d", n, MANY);
	for (i = 0; i < n; i++)
		cr_assert_eq(kill(pids[i], SIGKILL), 0);
	cr_assert_eq(support_handoff_wait_log(&hp, "ready again after restart 1",
	    MANY), 0, "not every worker was restarted");
	text = support_read_file(logpath);
	cr_assert_not_null(text);
	for (i = 0; i < n; i++) {
		snprintf(needle, sizeof(needle), " pid %d: was killed by signal 9",
		    (int)pids[i]);
		cr_expect_eq(support_count_lines(text, needle), 1, "%s: %s",
		    needle, text);
	}
	free(text);
	cr_assert_eq(support_handoff_stop(&hp, SIGTERM), 0);
	expect_nothing_left();
}

/*
 * A supervisor started with SIGCHLD ignored, as a parent may leave it (an
 * ignored signal stays ignored across execve): were it left so, the
 * kernel would reap the workers itself and send no SIGCHLD, and no exit
 * would be seen. A worker killed is reaped, logged and restarted, and a
 * stop leaves nothing behind.
 */
Test(signals, a_worker_killed_is_restarted_though_sigchld_was_ignored,
    .fini = fini)
{
	static const int ignore[] = { SIGCHLD, 0 };
	char path[64], needle[64], *text;
	pid_t pid;

	start_n_ignoring("", "5s", 2, ignore);
	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", (int)hp.pid,
	    (int)hp.pid);
	cr_assert_not_null(text = support_read_file(path));
	pid = (pid_t)strtol(text, NULL, 10);
	free(text);
	cr_assert_gt(pid, 0, "the supervisor has no children");
	cr_assert_eq(kill(pid, SIGKILL), 0);
	snprintf(needle, sizeof(needle), " pid %d: was killed by signal 9",
	    (int)pid);
	cr_assert_eq(support_handoff_wait_log(&hp, needle, 1), 0, "the exit of "
	    "worker pid %d was never seen", (int)pid);
	cr_assert_eq(support_handoff_wait_log(&hp, "ready again after restart 1",
	    1), 0, "the worker was not restarted");
	cr_assert_eq(support_handoff_stop(&hp, SIGTERM), 0);
	expect_nothing_left();
}
