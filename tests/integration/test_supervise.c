/*
 * test_supervise.c: `handoff run -c FILE` supervising the test server, as a
 * user sees it: every request served across reloads under load, reloads
 * that fail and change nothing, draining and killing old generations,
 * restarts with backoff, what a worker inherits, stopping, worker output
 * and start-up failures.
 *
 * Each test has its own temp dir (config, log, unix sockets) and port. The
 * supervisor's stdout and stderr go to DIR/handoff.log; tests wait for its
 * lines (inotify, no sleeps) with a generous deadline, so that slow
 * sanitizer builds pass. Every test ends by stopping the supervisor and
 * checking that no process it started is left; the suite's fini stops and
 * kills what a test that failed half-way left behind.
 */
#include "autoconf.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "load.h"
#include "support.h"

#define MAX_PIDS	4096

/* One test's world. Criterion runs each test in its own process. */
static struct {
	char			*dir;
	char			*log;		/* DIR/handoff.log */
	char			*config;	/* DIR/handoff.ini */
	int			 port;		/* the web listener's */
	struct handoff_proc	 sup;
	int			 markers;	/* barriers passed */
	pid_t			 stray;		/* a process the test started */
} fx;

/* Make the test's temp dir and pick its port. */
static void
fx_init(void)
{
	memset(&fx, 0, sizeof(fx));
	fx.sup.pid = -1;
	fx.sup.pidfd = -1;
	fx.sup.exit_code = -1;
	fx.dir = support_tmpdir();
	if (asprintf(&fx.log, "%s/handoff.log", fx.dir) == -1 ||
	    asprintf(&fx.config, "%s/handoff.ini", fx.dir) == -1)
		abort();
	fx.port = support_free_port();
}

/* Stop what still runs (a failed test's), kill leftovers, remove the dir. */
static void
fx_fini(void)
{
	pid_t left[MAX_PIDS];
	int n, i;

	if (fx.sup.pid > 0 && fx.sup.exit_code == -1)
		support_handoff_stop(&fx.sup, SIGTERM);
	support_handoff_free(&fx.sup);
	if (fx.stray > 0) {
		kill(fx.stray, SIGKILL);
		waitpid(fx.stray, NULL, 0);
	}
	n = support_tagged_pids(fx.log, left, MAX_PIDS);
	for (i = 0; i < n && i < MAX_PIDS; i++)
		kill(left[i], SIGKILL);
	/* HANDOFF_TEST_KEEP=1 keeps the config and log, to look into a failure. */
	if (getenv("HANDOFF_TEST_KEEP") != NULL)
		fprintf(stderr, "kept %s\n", fx.dir);
	else
		support_rmtree(fx.dir);
	free(fx.dir);
	free(fx.log);
	free(fx.config);
}

TestSuite(supervise, .init = fx_init, .fini = fx_fini, .timeout = 240);

/* Print the end of the supervisor's log, to explain a failure. */
static void
dump_log(void)
{
	char *text = support_read_file(fx.log), *p;
	int lines = 0;

	if (text == NULL)
		return;
	for (p = text + strlen(text); p > text; p--)
		if (p[-1] == '\n' && ++lines > 60)
			break;
	fprintf(stderr, "---- end of %s ----\n%s---- (supervisor pid %d, exit "
	    "code %d) ----\n", fx.log, p, (int)fx.sup.pid, fx.sup.exit_code);
	free(text);
}

/* Wait for the count-th log line containing needle; fail the test if none. */
static char *
expect_line(const char *needle, int count)
{
	char *line = support_handoff_wait_line(&fx.sup, needle, count);

	if (line == NULL) {
		support_handoff_wait_exit(&fx.sup, 0);
		dump_log();
		cr_assert_fail("no log line #%d with \"%s\" within %ds (%s)",
		    count, needle, SUPPORT_DEADLINE_MS / 1000,
		    fx.sup.exit_code == -1 ? "supervisor still running" :
		    "supervisor exited");
	}
	return line;
}

/* expect_line, for when the line itself does not matter. */
static void
expect_log(const char *needle, int count)
{
	free(expect_line(needle, count));
}

/* How many lines of the log (as it is now) contain needle. */
static int
log_count(const char *needle)
{
	char *text = support_read_file(fx.log);
	int n;

	cr_assert_not_null(text, "cannot read %s", fx.log);
	n = support_count_lines(text, needle);
	free(text);
	return n;
}

/* The offset of the first occurrence of needle in the log; -1 if none. */
static long
log_offset(const char *needle)
{
	char *text = support_read_file(fx.log), *at;
	long off;

	cr_assert_not_null(text, "cannot read %s", fx.log);
	at = strstr(text, needle);
	off = at == NULL ? -1 : at - text;
	free(text);
	return off;
}

/* The number right after needle in text (a pid); fails the test if none. */
static pid_t
number_after(const char *text, const char *needle)
{
	const char *at = strstr(text, needle);
	long n;

	cr_assert_not_null(at, "no \"%s\" in \"%s\"", needle, text);
	n = strtol(at + strlen(needle), NULL, 10);
	cr_assert_gt(n, 0, "no number after \"%s\" in \"%s\"", needle, text);
	return (pid_t)n;
}

/* Send the supervisor a signal. */
static void
signal_supervisor(int sig)
{
	cr_assert_eq(kill(fx.sup.pid, sig), 0, "kill %d: %s", (int)fx.sup.pid,
	    strerror(errno));
}

/*
 * A barrier: a `handoff status` asked for now is answered after the events
 * before it (the signals sent earlier, the callback that wrote the last
 * line seen), so once it answers, whatever the supervisor did before is
 * complete (say, closing a listener after logging "gone"). SIGUSR2, which
 * served here once, now upgrades the supervisor in place.
 */
static void
marker(void)
{
	struct run_result res;
	char *sock;

	cr_assert_neq(asprintf(&sock, "%s/control.sock", fx.dir), -1);
	cr_assert_eq(support_handoff_cmd(&res, "status", "-s", sock,
	    (char *)NULL), 0, "marker: status: %s", res.err);
	support_result_free(&res);
	free(sock);
	fx.markers++;
}

/* What a test may change in the standard config. */
struct app {
	const char	*command;	/* default: the test server with args */
	const char	*args;		/* the test server's arguments */
	int		 workers;	/* default 1 */
	const char	*ready_timeout;	/* default 5s */
	const char	*drain_timeout;	/* default 2s */
	const char	*listeners;	/* default "web" */
	const char	*more;		/* more lines of [program app] */
	const char	*sections;	/* more sections, before [program app] */
	const char	*log_level;	/* default info */
};

/*
 * The standard config: listener web on 127.0.0.1:PORT and program app
 * running the test server, with app's changes. Returns the text.
 */
static char *
config_text(const struct app *app)
{
	char *text;

	if (asprintf(&text,
	    "[supervisor]\n"
	    "name = test\n"
	    "pidfile = %s/handoff.pid\n"
	    "control = %s/control.sock\n"
	    "log_level = %s\n"
	    "\n"
	    "[listener web]\n"
	    "listen = 127.0.0.1:%d\n"
	    "\n"
	    "%s"
	    "[program app]\n"
	    "command = %s%s%s\n"
	    "listeners = %s\n"
	    "workers = %d\n"
	    "ready_timeout = %s\n"
	    "drain_timeout = %s\n"
	    "%s",
	    fx.dir, fx.dir, app->log_level ? app->log_level : "info", fx.port,
	    app->sections ? app->sections : "",
	    app->command ? app->command : support_env("HANDOFF_TESTSERVER"),
	    app->args ? " " : "", app->args ? app->args : "",
	    app->listeners ? app->listeners : "web",
	    app->workers ? app->workers : 1,
	    app->ready_timeout ? app->ready_timeout : "5s",
	    app->drain_timeout ? app->drain_timeout : "2s",
	    app->more ? app->more : "") == -1)
		abort();
	return text;
}

/* Write DIR/handoff.ini from text. */
static void
write_config_text(const char *text)
{
	free(support_write_file(fx.dir, "handoff.ini", text));
}

/* Write the standard config with app's changes. */
static void
write_config(const struct app *app)
{
	char *text = config_text(app);

	write_config_text(text);
	free(text);
}

/* Start the supervisor on DIR/handoff.ini, with these signals ignored. */
static void
start_ignoring(const int *ignore)
{
	cr_assert_eq(support_handoff_start_ignoring(&fx.sup, fx.config, fx.log,
	    ignore), 0, "cannot start %s", support_env("HANDOFF_BIN"));
}

/* Start the supervisor on DIR/handoff.ini. */
static void
start_only(void)
{
	start_ignoring(NULL);
}

/* Start the supervisor and wait until its first generation is ready. */
static void
start(void)
{
	start_only();
	expect_log("started: ", 1);
}

/* GET path from port; fails the test unless it was served. */
static char *
get(int port, const char *path)
{
	char *body;
	int rc = support_http_get(port, path, &body);

	cr_assert_eq(rc, SUPPORT_HTTP_OK, "GET %s on port %d: %s", path, port,
	    support_http_name(rc));
	return body;
}

/* GET / from port: the pid that answered, and its generation in *gen. */
static pid_t
serve(int port, unsigned int *gen)
{
	char *body = get(port, "/");
	int pid = 0, n;

	n = sscanf(body, "gen=%u pid=%d worker=", gen, &pid);
	cr_assert_eq(n, 2, "unexpected answer \"%s\"", body);
	free(body);
	return (pid_t)pid;
}

/* A line "NAME=value" or "NAME: value" of a /env report; NULL if none. */
static char *
env_line(const char *report, const char *name)
{
	size_t len = strlen(name);
	const char *line;

	for (line = report; *line != '\0'; line += strcspn(line, "\n") + 1) {
		if (strncmp(line, name, len) == 0)
			return strndup(line + len, strcspn(line + len, "\n"));
		if (line[strcspn(line, "\n")] == '\0')
			break;
	}
	return NULL;
}

/* Assert a /env report has NAME (with its separator) exactly equal to want. */
static void
expect_env(const char *report, const char *name, const char *want)
{
	char *got = env_line(report, name);

	cr_expect_not_null(got, "no %s in the report:\n%s", name, report);
	if (got != NULL)
		cr_expect_str_eq(got, want, "%s is \"%s\", not \"%s\"", name, got,
		    want);
	free(got);
}

/* Tell whether pid is a live process started by this test's supervisor. */
static bool
ours(pid_t pid)
{
	pid_t pids[MAX_PIDS];
	int n, i;

	if (!support_pid_alive(pid))
		return false;
	n = support_tagged_pids(fx.log, pids, MAX_PIDS);
	for (i = 0; i < n && i < MAX_PIDS; i++)
		if (pids[i] == pid)
			return true;
	return false;
}

/* Every pid the log names ("pid 123", "pid=123"); returns how many. */
static int
log_pids(pid_t *pids, int max)
{
	char *text = support_read_file(fx.log), *line, *end, *p;
	static char one[8192];
	int n = 0, i;
	long pid;

	cr_assert_not_null(text);
	/* A line at a time: sanitizers make strstr cost the whole string. */
	for (line = text; *line != '\0'; line = *end ? end + 1 : end) {
		end = line + strcspn(line, "\n");
		snprintf(one, sizeof(one), "%.*s", (int)(end - line), line);
		for (p = one; (p = strstr(p, "pid")) != NULL; ) {
			p += 3;
			if (*p != ' ' && *p != '=')
				continue;
			if ((pid = strtol(p + 1, &p, 10)) <= 0)
				continue;
			for (i = 0; i < n && pids[i] != pid; i++)
				;
			if (i == n && n < max)
				pids[n++] = (pid_t)pid;
		}
	}
	free(text);
	return n;
}

/*
 * Nothing the supervisor started is alive: no pid the log names, and no
 * process carrying this test's tag (which every descendant inherits).
 */
static void
expect_nothing_left(void)
{
	pid_t named[MAX_PIDS], tagged[MAX_PIDS];
	int nnamed = log_pids(named, MAX_PIDS), ntagged, i, j;

	ntagged = support_tagged_pids(fx.log, tagged, MAX_PIDS);
	cr_expect_gt(nnamed, 0, "the log names no pid at all");
	for (i = 0; i < nnamed; i++)
		for (j = 0; j < ntagged && j < MAX_PIDS; j++)
			cr_expect_neq(named[i], tagged[j], "pid %d, named in the "
			    "log, is still alive", (int)named[i]);
	if (ntagged > 0)
		dump_log();
	cr_assert_eq(ntagged, 0, "%d processes of this test are still alive "
	    "(the first is pid %d)", ntagged, ntagged ? (int)tagged[0] : 0);
}

/* Stop the supervisor with SIGTERM: exit 0, "stopped", nothing left. */
static void
finish(void)
{
	int code = support_handoff_stop(&fx.sup, SIGTERM);

	if (code != 0)
		dump_log();
	cr_assert_eq(code, 0, "SIGTERM: the supervisor %s %d", code == -1 ?
	    "did not exit within" : "exited with", code == -1 ?
	    SUPPORT_DEADLINE_MS / 1000 : code);
	expect_log("info: stopped", 1);
	expect_nothing_left();
}

/* ---- 1. reloads under load ------------------------------------------ */

#define LOAD_THREADS	8
#define LOAD_RELOADS	20

Test(supervise, reloads_under_load_lose_no_request)
{
	static struct load ld;
	unsigned int gen;
	char needle[64], summary[1024];
	int k;

	write_config(&(struct app){ 0 });
	start();
	cr_assert_eq(load_start_tcp(&ld, "127.0.0.1", fx.port, LOAD_THREADS), 0,
	    "cannot start the clients: %s", strerror(errno));

	for (k = 1; k <= LOAD_RELOADS; k++) {
		/* Requests flow before every reload, not only at the start. */
		cr_assert_eq(load_wait_progress(&ld, LOAD_THREADS), 0,
		    "the clients made no progress before reload %d", k);
		signal_supervisor(SIGHUP);
		expect_log("reload done", k);
		snprintf(needle, sizeof(needle), "app gen %d: gone", k);
		expect_log(needle, 1);
		/* The old generation is gone: the new one answers. */
		serve(fx.port, &gen);
		cr_assert_eq(gen, (unsigned int)k + 1, "after reload %d, gen %u "
		    "answered", k, gen);
	}
	cr_assert_eq(load_wait_progress(&ld, LOAD_THREADS), 0);
	load_stop(&ld);

	cr_assert_eq(load_failures(&ld), 0, "%ld of %ld requests failed: %s",
	    load_failures(&ld), load_total(&ld),
	    load_summary(&ld, summary, sizeof(summary)));
	/* The load really ran through the reloads. */
	cr_assert_gt(load_total(&ld), 4L * LOAD_RELOADS * LOAD_THREADS,
	    "only %ld requests", load_total(&ld));
	cr_log_info("%ld requests over %d reloads, none failed",
	    load_total(&ld), LOAD_RELOADS);
	cr_assert_eq(log_count("reload failed"), 0);
	finish();
}

/* ---- 2. a new generation that fails before ready --------------------- */

Test(supervise, reload_exiting_before_ready_keeps_old_generation)
{
	unsigned int gen;
	pid_t old, failed, now;
	char *line;

	write_config(&(struct app){ 0 });
	start();
	old = serve(fx.port, &gen);
	cr_assert_eq(gen, 1);

	write_config(&(struct app){ .args = "--exit-before-ready 3" });
	signal_supervisor(SIGHUP);
	line = expect_line("reload failed", 1);
	cr_assert(strstr(line, "exited with status 3 before ready") != NULL,
	    "reload failed, but not saying why: %s", line);
	cr_assert(strstr(line, "keep serving") != NULL, "%s", line);
	failed = number_after(line, "worker 0 pid ");
	free(line);
	expect_log("app gen 2: gone", 1);
	cr_assert(!ours(failed), "the failed worker pid %d is alive", (int)failed);

	now = serve(fx.port, &gen);
	cr_assert_eq(gen, 1, "gen %u answers after a failed reload", gen);
	cr_assert_eq(now, old, "pid %d answers, not the old %d", (int)now,
	    (int)old);
	cr_assert(ours(old));
	cr_assert_eq(log_count("reload done"), 0);
	finish();
}

Test(supervise, reload_never_ready_keeps_old_generation)
{
	unsigned int gen;
	pid_t old, failed, now;
	char *line;

	write_config(&(struct app){ 0 });
	start();
	old = serve(fx.port, &gen);

	/* --noise 1: a line that names the new worker's pid. */
	write_config(&(struct app){ .args = "--never-ready --noise 1",
	    .ready_timeout = "1s" });
	signal_supervisor(SIGHUP);
	line = expect_line("app gen 2 pid ", 1);
	failed = number_after(line, "app gen 2 pid ");
	free(line);
	line = expect_line("reload failed", 1);
	cr_assert(strstr(line, "not ready within ready_timeout") != NULL,
	    "reload failed, but not saying why: %s", line);
	free(line);
	expect_log("app gen 2: gone", 1);
	cr_assert(!ours(failed), "the worker that never became ready (pid %d) "
	    "is alive", (int)failed);

	now = serve(fx.port, &gen);
	cr_assert_eq(gen, 1, "gen %u answers after a failed reload", gen);
	cr_assert_eq(now, old, "pid %d answers, not the old %d", (int)now,
	    (int)old);
	finish();
}

/* ---- 3. a bad config on reload --------------------------------------- */

Test(supervise, reload_with_bad_config_changes_nothing)
{
	char *good, *bad, needle[PATH_MAX + 64];
	unsigned int gen;
	pid_t old, now;
	int line = 1;
	const char *p;

	write_config(&(struct app){ 0 });
	start();
	old = serve(fx.port, &gen);

	/* An unknown key as the last line of [program app]. */
	good = config_text(&(struct app){ 0 });
	for (p = good; *p != '\0'; p++)
		line += *p == '\n';
	if (asprintf(&bad, "%scolour = blue\n", good) == -1)
		abort();
	write_config_text(bad);
	signal_supervisor(SIGHUP);
	snprintf(needle, sizeof(needle), "%s:%d: unknown key 'colour'",
	    fx.config, line);
	expect_log(needle, 1);
	expect_log("reload failed: the config has errors", 1);
	marker();
	now = serve(fx.port, &gen);
	cr_assert_eq(gen, 1);
	cr_assert_eq(now, old, "pid %d answers, not the old %d", (int)now,
	    (int)old);
	cr_assert_eq(log_count("gen 2"), 0, "a bad config started a generation");

	/* Fixed, the next reload works. */
	write_config_text(good);
	signal_supervisor(SIGHUP);
	expect_log("reload done", 1);
	expect_log("app gen 1: gone", 1);
	serve(fx.port, &gen);
	cr_assert_eq(gen, 2);
	free(good);
	free(bad);
	finish();
}

/* ---- 4. an old generation that will not stop -------------------------- */

Test(supervise, stubborn_old_generation_is_killed_after_drain_timeout)
{
	pid_t worker, child, served;
	unsigned int gen;
	char *line;
	long still, gone;

	write_config(&(struct app){ .args = "--ignore-term --spawn-child",
	    .drain_timeout = "1s" });
	start();
	line = expect_line("spawned child pid", 1);
	worker = number_after(line, "app gen 1 pid ");
	child = number_after(line, "spawned child pid ");
	free(line);
	served = serve(fx.port, &gen);
	cr_assert_eq(served, worker);
	cr_assert(ours(worker) && ours(child));

	signal_supervisor(SIGHUP);
	expect_log("reload done", 1);
	expect_log("app gen 1: still running after drain_timeout 1s", 1);
	expect_log("app gen 1: gone", 1);
	still = log_offset("app gen 1: still running after drain_timeout");
	gone = log_offset("app gen 1: gone");
	cr_assert_lt(still, gone, "gen 1 was gone before drain_timeout passed");
	cr_assert(!ours(worker), "the old worker pid %d is alive", (int)worker);
	cr_assert(!ours(child), "the old worker's child pid %d is alive",
	    (int)child);
	serve(fx.port, &gen);
	cr_assert_eq(gen, 2);
	finish();
}

/* ---- 5. crashing workers ---------------------------------------------- */

/*
 * The worker crashes 200ms after it starts: late enough that the first
 * start is surely ready before (a crash before ready fails the start), and
 * each restart crashes again.
 */
Test(supervise, crashing_worker_restarts_with_backoff)
{
	long long cpu0, cpu1, t0, t1;
	char *line;

	write_config(&(struct app){ .args = "--crash-after 200ms",
	    .more = "restart = always\n" });
	start();
	cpu0 = support_cpu_ms(fx.sup.pid);
	t0 = support_now_ms();
	line = expect_line("restarting in 100ms (restart 1)", 1);
	cr_assert(strstr(line, "exited with status 3") != NULL, "%s", line);
	free(line);
	expect_log("restarting in 200ms (restart 2)", 1);
	expect_log("restarting in 400ms (restart 3)", 1);
	cpu1 = support_cpu_ms(fx.sup.pid);
	t1 = support_now_ms();
	/* A resource bound: a crash loop does not make the supervisor spin. */
	cr_assert(cpu0 >= 0 && cpu1 >= 0);
	cr_assert_lt((cpu1 - cpu0) * 4, t1 - t0, "the supervisor used %lldms "
	    "of CPU in %lldms of crash loop", cpu1 - cpu0, t1 - t0);
	cr_log_info("crash loop: %lldms CPU in %lldms", cpu1 - cpu0, t1 - t0);
	finish();
}

Test(supervise, crashing_worker_with_restart_never_stays_down)
{
	char *line;
	pid_t worker;

	write_config(&(struct app){ .args = "--crash-after 200ms",
	    .more = "restart = never\n" });
	start();
	line = expect_line("not restarted (restart = never)", 1);
	cr_assert(strstr(line, "exited with status 3") != NULL, "%s", line);
	worker = number_after(line, "worker 0 pid ");
	free(line);
	marker();
	cr_assert(!ours(worker));
	cr_assert_eq(log_count("restarting in"), 0);
	cr_assert_eq(log_count("app gen 1 worker 0 pid"), 1,
	    "the worker was started again");
	cr_assert_eq(support_handoff_wait_exit(&fx.sup, 0), -1,
	    "the supervisor exited when its only worker did");
	finish();
}

/* ---- 6. what a worker inherits ---------------------------------------- */


/* Assert a /env report has NAME (with its separator) starting with want. */
static void
expect_env_prefix(const char *report, const char *name, const char *want)
{
	char *got = env_line(report, name);

	cr_expect_not_null(got, "no %s in the report:\n%s", name, report);
	if (got != NULL)
		cr_expect(strncmp(got, want, strlen(want)) == 0, "%s is \"%s\", "
		    "not \"%s...\"", name, got, want);
	free(got);
}

/* How many lines of text start with prefix. */
static int
count_prefixed(const char *text, const char *prefix)
{
	const char *line;
	int n = 0;

	for (line = text; *line != '\0'; line += strcspn(line, "\n")) {
		if (*line == '\n')
			line++;
		if (strncmp(line, prefix, strlen(prefix)) == 0)
			n++;
	}
	return n;
}

Test(supervise, worker_gets_exactly_its_listeners_and_environment)
{
	char dir[PATH_MAX], sock[PATH_MAX + 16], path[64], *text, *report;
	char *want, *body, *var, *out;
	static char environ_text[65536];
	unsigned int gen;
	size_t len;
	FILE *fp;
	bool foo = false;
	pid_t pid;
	int rc, ignore[6];

	cr_assert_not_null(realpath(fx.dir, dir));
	snprintf(sock, sizeof(sock), "%s/admin.sock", dir);
	/*
	 * Start the supervisor with a soft fd limit below the hard one: it
	 * raises its own, and the worker must get the one it was started with.
	 */
	{
		struct rlimit nofile;
		cr_assert(getrlimit(RLIMIT_NOFILE, &nofile) == 0);
		if (nofile.rlim_max > 64) {
			nofile.rlim_cur = nofile.rlim_max > 1024 ? 1024 :
			    nofile.rlim_max - 1;
			cr_assert(setrlimit(RLIMIT_NOFILE, &nofile) == 0);
		}
	}
	/* fd_name gives LISTEN_FDNAMES, whatever the sections are called. */
	if (asprintf(&text,
	    "[supervisor]\n"
	    "name = test\n"
	    "pidfile = %s/handoff.pid\n"
	    "control = %s/control.sock\n"
	    "\n"
	    "[listener public]\n"
	    "listen = 127.0.0.1:%d\n"
	    "fd_name = web\n"
	    "\n"
	    "[listener private]\n"
	    "listen = unix:%s\n"
	    "fd_name = admin\n"
	    "\n"
	    "[program app]\n"
	    "command = %s\n"
	    "listeners = public, private\n"
	    "directory = %s\n"
	    "env = FOO=bar\n"
	    "ready_timeout = 5s\n"
	    "drain_timeout = 2s\n",
	    dir, dir, fx.port, sock, support_env("HANDOFF_TESTSERVER"),
	    dir) == -1)
		abort();
	write_config_text(text);
	free(text);
	/* Ignored in the supervisor, as a shell or a runner may leave them:
	   the worker must get them back at their defaults. */
	ignore[0] = SIGUSR1;
	ignore[1] = SIGQUIT;
	ignore[2] = SIGALRM;
	ignore[3] = SIGWINCH;
	ignore[4] = SIGRTMIN + 2;
	ignore[5] = 0;
	start_ignoring(ignore);
	expect_log("started: ", 1);

	report = get(fx.port, "/env");
	pid = number_after(report, "\npid=");
	cr_expect_eq(count_prefixed(report, "fd "), 5, "not exactly fds 0-4:\n%s",
	    report);
	expect_env(report, "fd 0: ", "/dev/null");
	expect_env_prefix(report, "fd 1: ", "pipe:[");
	/* stdout and stderr: one pipe to the supervisor's log. */
	out = env_line(report, "fd 1: ");
	expect_env(report, "fd 2: ", out ? out : "?");
	free(out);
	expect_env_prefix(report, "fd 3: ", "socket:[");
	expect_env_prefix(report, "fd 4: ", "socket:[");
	expect_env(report, "LISTEN_FDS=", "2");
	if (asprintf(&want, "%d", (int)pid) == -1)
		abort();
	expect_env(report, "LISTEN_PID=", want);
	free(want);
	expect_env(report, "LISTEN_FDNAMES=", "web:admin");
	if (asprintf(&want, "127.0.0.1:%d=3;%s=4", fx.port, sock) == -1)
		abort();
	expect_env(report, "SERVER_STARTER_PORT=", want);
	free(want);
	expect_env(report, "EINHORN_FD_COUNT=", "2");
	expect_env(report, "EINHORN_FD_0=", "3");
	expect_env(report, "EINHORN_FD_1=", "4");
	cr_expect_null(env_line(report, "EINHORN_FD_2="));
	expect_env(report, "HANDOFF_GENERATION=", "1");
	expect_env(report, "HANDOFF_WORKER=", "0");
	/* A file beside the control socket, in a directory of the worker's uid. */
	if (asprintf(&want, "%s/control.sock.notify/%u/notify", fx.dir,
	    (unsigned)geteuid()) == -1)
		abort();
	expect_env(report, "NOTIFY_SOCKET=", want);
	free(want);
	expect_env(report, "sigmask=", "0000000000000000");
	expect_env(report, "sigign=", "0000000000000000");
	/* The supervisor raises its own fd limit, not its workers'. */
	{
		struct rlimit nofile;
		char soft[32];
		cr_assert(getrlimit(RLIMIT_NOFILE, &nofile) == 0);
		snprintf(soft, sizeof(soft), "%llu",
		    (unsigned long long)nofile.rlim_cur);
		expect_env(report, "nofile=", soft);
	}
	expect_env(report, "cwd=", dir);
	free(report);

	/* env = FOO=bar reached the worker's environment. */
	snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
	cr_assert_not_null(fp = fopen(path, "re"));
	len = fread(environ_text, 1, sizeof(environ_text) - 1, fp);
	fclose(fp);
	environ_text[len] = '\0';
	for (var = environ_text; var < environ_text + len; var += strlen(var) + 1)
		if (strcmp(var, "FOO=bar") == 0)
			foo = true;
	cr_expect(foo, "FOO=bar is not in the worker's environment");

	/* The unix listener serves too. */
	rc = support_http_get_unix(sock, "/", &body);
	cr_assert_eq(rc, SUPPORT_HTTP_OK, "GET over %s: %s", sock,
	    support_http_name(rc));
	cr_assert_eq(sscanf(body, "gen=%u", &gen), 1, "%s", body);
	cr_assert_eq(gen, 1);
	cr_assert_eq(number_after(body, "pid="), pid);
	free(body);
	finish();
}

/* Compare gids, for qsort. */
static int
gid_cmp(const void *a, const void *b)
{
	gid_t x = *(const gid_t *)a, y = *(const gid_t *)b;

	return x < y ? -1 : x > y;
}

Test(supervise, worker_runs_as_its_user_and_group)
{
	gid_t groups[256];
	char expected[4096] = "", *report, number[32], *server;
	uid_t uid;
	gid_t gid;
	int n = 256, i;
	struct passwd *pw;
	struct group *gr;

	if (geteuid() != 0)
		cr_skip_test("changing users needs root");
	if ((pw = getpwnam("nobody")) == NULL || (gr = getgrnam("nogroup")) == NULL)
		cr_skip_test("no user nobody or no group nogroup here");
	uid = pw->pw_uid;
	gid = gr->gr_gid;
	/* What the worker's groups must be: nobody's, per the group file. */
	cr_assert_neq(getgrouplist("nobody", gid, groups, &n), -1);
	qsort(groups, (size_t)n, sizeof(groups[0]), gid_cmp);
	for (i = 0; i < n; i++) {
		if (i > 0 && groups[i] == groups[i - 1])
			continue;
		snprintf(number, sizeof(number), "%s%d", expected[0] ? "," : "",
		    (int)groups[i]);
		strcat(expected, number);
	}

	/*
	 * nobody must pass the directory to reach the notify socket in it,
	 * and run a server it can reach wherever the checkout is.
	 */
	cr_assert_eq(chmod(fx.dir, 0711), 0);
	server = support_copy_executable(support_env("HANDOFF_TESTSERVER"),
	    fx.dir);
	write_config(&(struct app){ .command = server,
	    .more = "user = nobody\ngroup = nogroup\n" });
	start();
	report = get(fx.port, "/env");
	snprintf(number, sizeof(number), "%d", (int)uid);
	expect_env(report, "uid=", number);
	snprintf(number, sizeof(number), "%d", (int)gid);
	expect_env(report, "gid=", number);
	expect_env(report, "groups=", expected);
	free(report);
	finish();
	free(server);
}

/* ---- 7. listeners added and removed on reload ------------------------- */

Test(supervise, reload_adds_and_removes_listeners_keeping_the_others)
{
	int port2 = support_free_port(), rc;
	char sections[128], *report, *inode, *body;
	unsigned int gen;

	write_config(&(struct app){ 0 });
	start();
	report = get(fx.port, "/env");
	inode = env_line(report, "fd 3: ");
	cr_assert_not_null(inode);
	cr_assert(strncmp(inode, "socket:[", 8) == 0, "fd 3 is %s", inode);
	cr_assert_null(env_line(report, "fd 4: "), "%s", report);
	free(report);

	/* Gen 2 gets the new listener as fd 4, and serves on it. */
	snprintf(sections, sizeof(sections),
	    "[listener extra]\nlisten = 127.0.0.1:%d\n\n", port2);
	write_config(&(struct app){ .sections = sections,
	    .listeners = "web, extra" });
	signal_supervisor(SIGHUP);
	expect_log("reload done", 1);
	expect_log("app gen 1: gone", 1);
	report = get(fx.port, "/env");
	expect_env(report, "HANDOFF_GENERATION=", "2");
	expect_env(report, "fd 3: ", inode);	/* the same socket */
	expect_env_prefix(report, "fd 4: ", "socket:[");
	expect_env(report, "LISTEN_FDS=", "2");
	free(report);
	serve(port2, &gen);
	cr_assert_eq(gen, 2);

	/* Gen 3 has no fd 4; once gen 2 is gone, the port is closed. */
	write_config(&(struct app){ 0 });
	signal_supervisor(SIGHUP);
	expect_log("reload done", 2);
	expect_log("app gen 2: gone", 1);
	marker();
	rc = support_http_get(port2, "/", &body);
	free(body);
	cr_assert_eq(rc, SUPPORT_HTTP_REFUSED, "GET on the removed listener's "
	    "port: %s", support_http_name(rc));
	report = get(fx.port, "/env");
	expect_env(report, "HANDOFF_GENERATION=", "3");
	expect_env(report, "fd 3: ", inode);
	cr_expect_null(env_line(report, "fd 4: "), "%s", report);
	expect_env(report, "LISTEN_FDS=", "1");
	free(report);
	free(inode);
	finish();
}

/* ---- 8. a storm of reloads -------------------------------------------- */

/* Log line counts of reloads and generations. */
struct settle {
	int	reloads;	/* "reloading": reloads begun */
	int	done;		/* "reload done" */
	int	failed;		/* "reload failed" */
	int	gone;		/* generations gone */
	int	started;	/* generations started */
};

/* Tell whether every reload begun has finished and every old gen is gone. */
static int
settled(const char *log, void *arg)
{
	struct settle *s = arg;

	s->reloads = support_count_lines(log, "info: reloading ");
	s->done = support_count_lines(log, "reload done");
	s->failed = support_count_lines(log, "reload failed");
	s->gone = support_count_lines(log, ": gone");
	s->started = support_count_lines(log, ": starting 1 worker");
	return s->done + s->failed == s->reloads &&
	    s->started == s->reloads + 1 && s->gone == s->started - 1;
}

/*
 * 100 SIGHUPs 10ms apart. A generation takes 100ms to become ready, so a
 * reload is in progress at almost every SIGHUP: they must coalesce.
 */
Test(supervise, reload_storm_is_coalesced)
{
	struct timespec gap = { 0, 10 * 1000 * 1000 };
	pid_t live[16], zombies[16], served;
	struct settle s;
	unsigned int gen;
	int fds, nlive, nzombies, i;

	write_config(&(struct app){ .args = "--ready-after 100ms" });
	start();
	marker();
	fds = support_fd_count(fx.sup.pid);
	cr_assert_gt(fds, 0);

	for (i = 0; i < 100; i++) {
		signal_supervisor(SIGHUP);
		nanosleep(&gap, NULL);	/* the workload, not a wait */
	}
	/* Handled after every SIGHUP before it. */
	marker();
	if (support_handoff_wait_until(&fx.sup, settled, &s) == -1) {
		dump_log();
		cr_assert_fail("never settled: %d reloads begun, %d done, %d "
		    "failed, %d generations started, %d gone", s.reloads, s.done,
		    s.failed, s.started, s.gone);
	}
	/* Whatever the supervisor does after logging "gone" is done too. */
	marker();
	cr_log_info("100 SIGHUPs ran %d reloads", s.reloads);
	cr_assert_eq(s.failed, 0);
	cr_assert_geq(s.reloads, 2);
	cr_assert_lt(s.reloads, 50, "%d reloads for 100 SIGHUPs: not coalesced",
	    s.reloads);
	cr_assert_geq(log_count("reload queued"), 1);

	nlive = support_children(fx.sup.pid, 0, live, 16);
	cr_assert_eq(nlive, 1, "%d workers alive, not 1", nlive);
	served = serve(fx.port, &gen);
	cr_assert_eq(served, live[0], "pid %d answers, not the live worker %d",
	    (int)served, (int)live[0]);
	cr_assert_eq(gen, (unsigned int)s.started, "gen %u answers, not the "
	    "latest %d", gen, s.started);
	nzombies = support_children(fx.sup.pid, 1, zombies, 16);
	cr_assert_eq(nzombies, 0, "%d zombie children (pid %d)", nzombies,
	    nzombies ? (int)zombies[0] : 0);
	cr_assert_eq(support_fd_count(fx.sup.pid), fds, "the supervisor has %d "
	    "fds open, %d after start", support_fd_count(fx.sup.pid), fds);
	finish();
}

/* ---- 9. stopping ------------------------------------------------------ */

Test(supervise, sigterm_kills_what_will_not_stop)
{
	pid_t pids[4];
	char *line;
	int i;

	write_config(&(struct app){ .args = "--ignore-term --spawn-child",
	    .workers = 2, .drain_timeout = "1s" });
	start();
	for (i = 0; i < 2; i++) {
		line = expect_line("spawned child pid", i + 1);
		pids[2 * i] = number_after(line, "app gen 1 pid ");
		pids[2 * i + 1] = number_after(line, "spawned child pid ");
		free(line);
	}
	for (i = 0; i < 4; i++)
		cr_assert(ours(pids[i]), "pid %d is not running", (int)pids[i]);
	finish();
	cr_assert_eq(log_count("SIGTERM: stopping gracefully"), 1);
	cr_assert_eq(log_count("app gen 1: still running after drain_timeout 1s; "
	    "killed the process groups of 2 workers"), 1);
	for (i = 0; i < 4; i++)
		cr_assert(!ours(pids[i]), "pid %d survived", (int)pids[i]);
}

Test(supervise, sigterm_stops_gracefully)
{
	write_config(&(struct app){ .workers = 2, .drain_timeout = "20s" });
	start();
	finish();
	/* Done long before drain_timeout: nothing needed killing. */
	cr_assert_eq(log_count("still running after drain_timeout"), 0);
	cr_assert_eq(log_count("exited with status 0"), 2);
}

/* ---- 10. worker output ------------------------------------------------ */

Test(supervise, worker_output_is_logged_line_by_line_with_a_prefix)
{
	char needle[128], *line;
	unsigned int gen;
	pid_t pid;
	int k;

	write_config(&(struct app){ .args = "--noise 5" });
	start();
	pid = serve(fx.port, &gen);
	for (k = 1; k <= 5; k++) {
		snprintf(needle, sizeof(needle), "app gen 1 pid %d: noise %d/5 "
		    "from pid %d gen 1", (int)pid, k, (int)pid);
		line = expect_line(needle, 1);
		cr_assert_str_eq(line + strlen(line) - strlen(needle), needle,
		    "\"%s\" has more after the worker's line", line);
		free(line);
		cr_assert_eq(log_count(needle), 1);
	}
	cr_assert_eq(log_count("noise "), 5);
	finish();
}

#define FLOOD_LINES	200000

/*
 * Gen 1 writes 200000 lines, and is ready (ready = delay) while it still
 * writes them. A reload goes through meanwhile; every line is logged once,
 * whole, in order, or counted as dropped over the output budget.
 */
Test(supervise, flooding_worker_does_not_stall_a_reload)
{
	char args[64], one[256], *text, *line, *end, *at, c;
	long last = 0, logged = 0, dropped = 0, k, total;
	unsigned int gen;
	int wpid, from, g;

	snprintf(args, sizeof(args), "--noise %d", FLOOD_LINES);
	write_config(&(struct app){ .args = args, .drain_timeout = "20s",
	    .more = "ready = delay:100ms\n" });
	start();
	write_config(&(struct app){ .drain_timeout = "20s" });
	signal_supervisor(SIGHUP);
	expect_log("reload done", 1);
	cr_log_info("reload done with %d of %d flood lines logged",
	    log_count(": noise "), FLOOD_LINES);
	expect_log("app gen 1: gone", 1);
	serve(fx.port, &gen);
	cr_assert_eq(gen, 2);
	finish();

	text = support_read_file(fx.log);
	cr_assert_not_null(text);
	for (line = text; *line != '\0'; line = *end ? end + 1 : end) {
		end = line + strcspn(line, "\n");
		/* sscanf takes strlen of its input: give it the line alone. */
		snprintf(one, sizeof(one), "%.*s", (int)(end - line), line);
		if ((at = strstr(one, ": dropped ")) != NULL &&
		    strstr(one, " lines of output (over the budget") != NULL) {
			cr_assert_eq(sscanf(at, ": dropped %ld", &k), 1, "%s", one);
			dropped += k;
			continue;
		}
		if (memmem(line, (size_t)(end - line), ": noise ", 8) == NULL)
			continue;
		at = strstr(one, "app gen 1 pid ");
		cr_assert(at != NULL && sscanf(at, "app gen 1 pid %d: noise %ld/%ld "
		    "from pid %d gen %d%c", &wpid, &k, &total, &from, &g, &c) == 5,
		    "a broken line: %s", one);
		cr_assert_gt(k, last, "line %ld after line %ld", k, last);
		cr_assert_eq(wpid, from);
		cr_assert_eq(total, FLOOD_LINES);
		cr_assert_eq(g, 1);
		last = k;
		logged++;
	}
	cr_assert_eq(logged + dropped, FLOOD_LINES, "%ld lines logged and %ld "
	    "dropped of %d", logged, dropped, FLOOD_LINES);
	free(text);
}

/* ---- 11. start-up failures -------------------------------------------- */

/* Start with command, which cannot run: exit 1, nothing left running. */
static void
expect_start_failure(const char *command)
{
	int code;

	write_config(&(struct app){ .command = command });
	start_only();
	code = support_handoff_wait_exit(&fx.sup, SUPPORT_DEADLINE_MS);
	if (code != 1)
		dump_log();
	cr_assert_eq(code, 1, "exit code %d, not 1", code);
	expect_log("cannot start: ", 1);
	cr_assert_eq(log_count("info: stopped"), 0);
	expect_nothing_left();
}

Test(supervise, missing_command_fails_the_start)
{
	char command[PATH_MAX + 32];

	snprintf(command, sizeof(command), "%s/does-not-exist", fx.dir);
	expect_start_failure(command);
	expect_log("cannot run", 1);
	expect_log("No such file or directory", 1);
}

Test(supervise, command_not_executable_fails_the_start_once)
{
	char *path, *line;
	bool says_why, names_it;

	path = support_write_file(fx.dir, "not-executable", "#!/bin/sh\nexit 0\n");
	cr_assert_eq(chmod(path, 0644), 0);
	expect_start_failure(path);
	line = expect_line("cannot start: ", 1);
	says_why = strstr(line, "Permission denied") != NULL;
	names_it = strstr(line, path) != NULL;
	free(path);
	cr_assert(says_why && names_it, "%s", line);
	free(line);
	cr_assert_eq(log_count("Permission denied"), 1, "the error is reported "
	    "%d times", log_count("Permission denied"));
}

/* ---- 12. a command line instead of a config file ---------------------- */

Test(supervise, command_line_mode_serves_reloads_and_stops)
{
	char listen[64], name[64], needle[128], *report;
	const char *base = strrchr(fx.dir, '/'), *args[16];
	unsigned int gen;
	int n = 0;

	/*
	 * Its own name (so its own default control socket): the temp dir's
	 * random suffix, so that concurrent runs of the suite do not meet.
	 */
	snprintf(name, sizeof(name), "ht-%s", strrchr(base, '.') + 1);
	snprintf(listen, sizeof(listen), "127.0.0.1:%d=web", fx.port);
	args[n++] = "run";
	args[n++] = "--name";
	args[n++] = name;
	args[n++] = "--listen";
	args[n++] = listen;
	args[n++] = "--workers";
	args[n++] = "2";
	args[n++] = "--ready";
	args[n++] = "notify";
	args[n++] = "--";
	args[n++] = support_env("HANDOFF_TESTSERVER");
	args[n] = NULL;
	cr_assert_eq(support_handoff_start_args(&fx.sup, args, fx.log, NULL), 0);
	expect_log("started: ", 1);
	snprintf(needle, sizeof(needle), "%s gen 1: ready 2/2", name);
	expect_log(needle, 1);

	report = get(fx.port, "/env");
	expect_env(report, "LISTEN_FDS=", "1");
	expect_env(report, "LISTEN_FDNAMES=", "web");
	expect_env(report, "HANDOFF_GENERATION=", "1");
	expect_env_prefix(report, "NOTIFY_SOCKET=", "/");
	free(report);
	serve(fx.port, &gen);
	cr_assert_eq(gen, 1);

	signal_supervisor(SIGHUP);
	expect_log("reload done", 1);
	snprintf(needle, sizeof(needle), "%s gen 2: ready 2/2", name);
	expect_log(needle, 1);
	snprintf(needle, sizeof(needle), "%s gen 1: gone", name);
	expect_log(needle, 1);
	serve(fx.port, &gen);
	cr_assert_eq(gen, 2, "gen %u answers after the reload", gen);
	finish();
}

/* ---- 13. a listener taken back from a draining generation ------------- */


/* Copy a /env report's line "NAME=value" or "NAME: value" into buf ("" if
   none): a value on the stack, not leaked when an assertion fails. */
static void
env_copy(const char *report, const char *name, char *buf, size_t len)
{
	char *value = env_line(report, name);

	snprintf(buf, len, "%s", value != NULL ? value : "");
	free(value);
}

/* A command's stdout and stderr into buf, and res freed: text on the stack,
   not leaked when an assertion on it fails. */
static void
result_text(struct run_result *res, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s", res->out != NULL ? res->out : "",
	    res->err != NULL ? res->err : "");
	support_result_free(res);
}

/*
 * Gen 1 holds listener extra and drains for long (--drain-delay: on its
 * stop signal it stops accepting at once, then lingers). A reload drops
 * extra; the next one brings it back while gen 1 still drains: the same
 * socket comes back, where binding the port anew would find it in use by
 * the supervisor itself (gen 1's generation holds it).
 *
 * Gen 1 must not accept on extra any more when gen 3 is asked: two
 * processes accepting on one socket share its connections as the
 * scheduler pleases, so no number of requests is sure to reach the new
 * one (with a gen 1 that ignored SIGTERM, 500 did not, under load). It
 * says STOPPING=1 (logged at debug) before it closes its listeners, and
 * accepts nothing after: then gen 3 is the only process accepting on extra.
 */
Test(supervise, listener_removed_and_added_back_while_draining_keeps_its_socket)
{
	struct app with = { .args = "--drain-delay 10m", .drain_timeout = "10m",
	    .listeners = "web, extra", .log_level = "debug" };
	struct app without = { .drain_timeout = "10m", .log_level = "debug" };
	int port2 = support_free_port(), code;
	char sections[128], needle[128], inode[64], got[64], value[64], fds[16];
	char why[1024], *report;
	struct run_result res;
	pid_t gen1;

	snprintf(sections, sizeof(sections),
	    "[listener extra]\nlisten = 127.0.0.1:%d\n\n", port2);
	with.sections = sections;
	write_config(&with);
	start();
	/* Gen 1 is the only process accepting on extra. */
	report = get(port2, "/env");
	env_copy(report, "HANDOFF_GENERATION=", value, sizeof(value));
	env_copy(report, "fd 4: ", inode, sizeof(inode));
	env_copy(report, "pid=", got, sizeof(got));
	free(report);
	cr_assert_str_eq(value, "1", "gen \"%s\" answers on extra", value);
	cr_assert(strncmp(inode, "socket:[", 8) == 0, "extra is not fd 4 but "
	    "\"%s\"", inode);
	gen1 = (pid_t)strtol(got, NULL, 10);
	cr_assert_gt(gen1, 0, "gen 1 has no pid in its report: \"%s\"", got);

	/*
	 * Gen 2 without extra; gen 1 drains, its generation still holding it.
	 * (--no-wait: a waiting reload follows the drain to its end. A reload
	 * refused at once, as for a listener that cannot be bound, still
	 * fails.)
	 */
	write_config(&without);
	code = support_handoff_cmd(&res, "reload", "--no-wait", "-c", fx.config,
	    NULL);
	result_text(&res, why, sizeof(why));
	cr_assert_eq(code, 0, "the reload without extra failed: %s", why);
	expect_log("reload done", 1);
	expect_log("app gen 1: draining", 1);
	snprintf(needle, sizeof(needle), "app gen 1 worker 0 pid %d: stopping",
	    (int)gen1);
	expect_log(needle, 1);
	cr_assert(ours(gen1), "gen 1 (pid %d) is not draining any more",
	    (int)gen1);

	/* Extra back, for gen 3. */
	write_config(&with);
	code = support_handoff_cmd(&res, "reload", "--no-wait", "-c", fx.config, NULL);
	result_text(&res, why, sizeof(why));
	if (code != 0)
		dump_log();
	cr_assert_eq(code, 0, "the reload taking extra back failed: %s", why);
	cr_expect(strstr(why, "address already in use") == NULL, "%s", why);
	expect_log("reload done", 2);
	cr_assert_eq(log_count("reload failed"), 0);
	/* The case under test: gen 1 still drained meanwhile. */
	cr_assert(ours(gen1), "gen 1 (pid %d) was gone before the reload",
	    (int)gen1);
	cr_assert_eq(log_count("app gen 1: gone"), 0);

	/* Gen 3 answers on extra: fd 4 of gen 3 is the very socket of gen 1. */
	report = get(port2, "/env");
	env_copy(report, "HANDOFF_GENERATION=", value, sizeof(value));
	env_copy(report, "fd 4: ", got, sizeof(got));
	env_copy(report, "LISTEN_FDS=", fds, sizeof(fds));
	free(report);
	cr_assert_str_eq(value, "3", "gen \"%s\" answers on extra, not gen 3",
	    value);
	cr_expect_str_eq(got, inode, "gen 3's extra is \"%s\", gen 1's was %s: "
	    "not the same socket", got, inode);
	cr_expect_str_eq(fds, "2", "gen 3 has LISTEN_FDS=\"%s\"", fds);

	/* Gen 1 and gen 3 still draining die at the stop's timeout. */
	code = support_handoff_cmd(&res, "stop", "--timeout", "1s", "-c",
	    fx.config, NULL);
	result_text(&res, why, sizeof(why));
	cr_assert_eq(code, 0, "handoff stop: %s", why);
	code = support_handoff_wait_exit(&fx.sup, SUPPORT_DEADLINE_MS);
	cr_assert_eq(code, 0, "the supervisor exited with %d", code);
	expect_log("info: stopped", 1);
	expect_nothing_left();
}

/* ---- 14. MAINPID ------------------------------------------------------ */

/*
 * A worker announcing MAINPID of a process that is not its own (here one
 * the test started): ignored, so the drain never signals that process.
 */
Test(supervise, mainpid_of_another_process_is_ignored)
{
	char args[64], needle[128];
	unsigned int gen;
	siginfo_t si;

	fx.stray = fork();
	cr_assert_neq(fx.stray, -1, "fork: %s", strerror(errno));
	if (fx.stray == 0) {
		execl("/bin/sleep", "sleep", "60", (char *)NULL);
		_exit(127);
	}
	snprintf(args, sizeof(args), "--notify-mainpid %d", (int)fx.stray);
	write_config(&(struct app){ .args = args, .log_level = "debug" });
	start();
	snprintf(needle, sizeof(needle), "app gen 1 worker 0: MAINPID=%d is not "
	    "a process of this worker", (int)fx.stray);
	expect_log(needle, 1);

	write_config(&(struct app){ .log_level = "debug" });
	signal_supervisor(SIGHUP);
	expect_log("reload done", 1);
	expect_log("app gen 1: gone", 1);
	marker();
	serve(fx.port, &gen);
	cr_assert_eq(gen, 2);

	/* Still running: not even a zombie of ours. */
	memset(&si, 0, sizeof(si));
	cr_assert_eq(waitid(P_PID, (id_t)fx.stray, &si, WEXITED | WNOHANG |
	    WNOWAIT), 0, "waitid: %s", strerror(errno));
	cr_assert_eq(si.si_pid, 0, "the test's sleep (pid %d) was killed by "
	    "signal %d", (int)fx.stray, si.si_status);
	finish();
	cr_assert(support_pid_alive(fx.stray));
}

/* ---- 15. long output lines ------------------------------------------ */

/* How many x's the pieces of the long line in log hold so far. */
static long
long_line_xs(const char *log, const char *prefix)
{
	const char *line, *end, *at;
	long xs = 0;

	for (line = log; *line != '\0'; line = *end ? end + 1 : end) {
		end = line + strcspn(line, "\n");
		at = memmem(line, (size_t)(end - line), prefix, strlen(prefix));
		if (at == NULL)
			continue;
		for (at += strlen(prefix); at < end; at++)
			xs += *at == 'x';
	}
	return xs;
}

struct long_wait {
	const char	*prefix;
	long		 want;
};

/* support_handoff_wait_until: every x of the long line is logged. */
static int
long_line_logged(const char *log, void *arg)
{
	struct long_wait *lw = arg;

	return long_line_xs(log, lw->prefix) >= lw->want;
}

#define LONG_LINE	10000

/*
 * One line of 10000 characters: logged in pieces, each a whole log line
 * with the worker's prefix, marked with "..." where it was split, and
 * together every character of it.
 */
Test(supervise, long_output_line_is_logged_whole_in_pieces)
{
	char args[64], prefix[64], *text, *line, *end, *at, *piece;
	struct long_wait lw;
	int pieces = 0, long_lines = 0;
	unsigned int gen;
	long xs = 0, len;
	bool first, last, ended = false;
	pid_t pid;

	snprintf(args, sizeof(args), "--long-line %d", LONG_LINE);
	write_config(&(struct app){ .args = args });
	start();
	pid = serve(fx.port, &gen);
	snprintf(prefix, sizeof(prefix), "app gen 1 pid %d: ", (int)pid);
	lw.prefix = prefix;
	lw.want = LONG_LINE;
	if (support_handoff_wait_until(&fx.sup, long_line_logged, &lw) == -1) {
		dump_log();
		cr_assert_fail("the log never held %d x's after \"%s\"", LONG_LINE,
		    prefix);
	}
	finish();

	text = support_read_file(fx.log);
	cr_assert_not_null(text);
	for (line = text; *line != '\0'; line = *end ? end + 1 : end) {
		end = line + strcspn(line, "\n");
		if (memmem(line, (size_t)(end - line), "xxxxxxxxxx", 10) == NULL)
			continue;
		long_lines++;
		cr_assert(!ended, "a piece after the last one: %.80s...", line);
		at = memmem(line, (size_t)(end - line), prefix, strlen(prefix));
		cr_assert_not_null(at, "a piece without the prefix \"%s\": %.80s...",
		    prefix, line);
		piece = at + strlen(prefix);
		len = end - piece;
		first = strncmp(piece, "...", 3) != 0;
		last = len < 3 || strncmp(end - 3, "...", 3) != 0;
		cr_assert_eq(first, pieces == 0, "piece %d %s with \"...\"",
		    pieces + 1, first ? "does not start" : "starts");
		if (!first) {
			piece += 3;
			len -= 3;
		}
		if (!last)
			len -= 3;
		cr_assert_gt(len, 0, "piece %d is empty", pieces + 1);
		cr_assert_eq((long)strspn(piece, "x"), len, "piece %d holds more "
		    "than x's: %.*s", pieces + 1, (int)len, piece);
		xs += len;
		pieces++;
		ended = last;
	}
	cr_assert(ended, "the last piece ends with \"...\"");
	cr_log_info("%d characters in %d pieces", LONG_LINE, pieces);
	cr_assert_gt(pieces, 1, "not split");
	cr_assert_eq(xs, LONG_LINE, "%ld of %d characters logged", xs, LONG_LINE);
	cr_assert_eq(long_lines, pieces, "%d lines of x's, %d pieces", long_lines,
	    pieces);
	free(text);
}
