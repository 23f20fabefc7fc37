/*
 * test_log.c: the supervisor's log as a user reads it on stderr.
 *
 * Each test captures stderr in an unlinked temp file (Criterion runs every
 * test in its own process, so replacing fd 2 touches no other test).
 */
#include "autoconf.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static int capture_fd = -1;

/* Send stderr to a fresh unlinked temp file; return its fd. */
static int
capture_stderr(void)
{
	char path[] = "/tmp/handoff-test-log-XXXXXX";
	int fd;

	fd = mkstemp(path);
	cr_assert_geq(fd, 0, "mkstemp: %s", strerror(errno));
	cr_assert_eq(unlink(path), 0);
	fflush(stderr);
	cr_assert_eq(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	capture_fd = fd;
	return fd;
}

/* Everything written to the captured stderr so far (caller frees). */
static char *
captured(void)
{
	struct stat st;
	char *text;
	ssize_t n;

	fflush(stderr);
	cr_assert_eq(fstat(capture_fd, &st), 0);
	text = calloc(1, (size_t)st.st_size + 1);
	cr_assert_not_null(text);
	n = pread(capture_fd, text, (size_t)st.st_size, 0);
	cr_assert_eq(n, st.st_size);
	return text;
}

/* Set JOURNAL_STREAM to the dev:ino of the file stderr now writes to. */
static void
pretend_journal(void)
{
	char value[64];
	struct stat st;

	cr_assert_eq(fstat(STDERR_FILENO, &st), 0);
	snprintf(value, sizeof(value), "%llu:%llu",
	    (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
	cr_assert_eq(setenv("JOURNAL_STREAM", value, 1), 0);
}

/* Assert that text matches an extended regular expression. */
static void
assert_matches(const char *text, const char *pattern)
{
	regex_t re;
	int rc;

	cr_assert_eq(regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB), 0,
	    "bad pattern %s", pattern);
	rc = regexec(&re, text, 0, NULL, 0);
	regfree(&re);
	cr_assert_eq(rc, 0, "log output:\n%s\ndoes not match:\n%s", text,
	    pattern);
}

/* A fresh log on stderr, not under journald. */
static void
setup_plain(void)
{
	unsetenv("JOURNAL_STREAM");
	capture_stderr();
}

#define STAMP "[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}"

/* ---- levels ---------------------------------------------------------- */

Test(log, level_parse)
{
	static const struct {
		const char	*text;
		enum log_level	 level;
	} good[] = {
		{ "error", LOG_LEVEL_ERROR }, { "warn", LOG_LEVEL_WARN },
		{ "warning", LOG_LEVEL_WARN }, { "info", LOG_LEVEL_INFO },
		{ "debug", LOG_LEVEL_DEBUG },
	};
	static const char *const bad[] = {
		"", "Info", "INFO", "err", "verbose", "trace", "info ", " info",
		"0", "3", "notice",
	};
	enum log_level level;
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		level = (enum log_level)99;
		cr_assert_eq(log_level_parse(good[i].text, &level), 0, "%s",
		    good[i].text);
		cr_assert_eq(level, good[i].level, "%s", good[i].text);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		level = (enum log_level)99;
		cr_assert_eq(log_level_parse(bad[i], &level), -1, "\"%s\"",
		    bad[i]);
		cr_assert_eq(level, (enum log_level)99, "\"%s\"", bad[i]);
	}
}

Test(log, level_name)
{
	enum log_level level, back;

	cr_assert_str_eq(log_level_name(LOG_LEVEL_ERROR), "error");
	cr_assert_str_eq(log_level_name(LOG_LEVEL_WARN), "warn");
	cr_assert_str_eq(log_level_name(LOG_LEVEL_INFO), "info");
	cr_assert_str_eq(log_level_name(LOG_LEVEL_DEBUG), "debug");
	for (level = LOG_LEVEL_ERROR; level <= LOG_LEVEL_DEBUG; level++) {
		cr_assert_eq(log_level_parse(log_level_name(level), &back), 0);
		cr_assert_eq(back, level);
	}
}

Test(log, set_and_get_level)
{
	setup_plain();
	log_init("t", LOG_LEVEL_WARN, LOG_TO_STDERR);
	cr_assert_eq(log_get_level(), LOG_LEVEL_WARN);
	log_set_level(LOG_LEVEL_DEBUG);
	cr_assert_eq(log_get_level(), LOG_LEVEL_DEBUG);
	log_set_level(LOG_LEVEL_ERROR);
	cr_assert_eq(log_get_level(), LOG_LEVEL_ERROR);
}

/* ---- plain stderr ---------------------------------------------------- */

Test(log, plain_line_format)
{
	char *out;

	setup_plain();
	log_init("handoff-test", LOG_LEVEL_INFO, LOG_TO_STDERR);
	log_info("listener %s: bound %s", "web", "127.0.0.1:8080");
	out = captured();
	assert_matches(out, "^" STAMP " handoff-test info: listener web: "
	    "bound 127\\.0\\.0\\.1:8080\n$");
	free(out);
}

Test(log, plain_timestamp_is_now)
{
	struct tm tm;
	time_t before, after, stamped;
	char *out, *rest;
	int ms;

	setup_plain();
	log_init("handoff", LOG_LEVEL_INFO, LOG_TO_STDERR);
	before = time(NULL);
	log_info("tick");
	after = time(NULL);
	out = captured();
	memset(&tm, 0, sizeof(tm));
	rest = strptime(out, "%Y-%m-%d %H:%M:%S", &tm);
	cr_assert_not_null(rest, "no timestamp in: %s", out);
	tm.tm_isdst = -1;
	stamped = mktime(&tm);
	cr_assert(stamped >= before - 1 && stamped <= after + 1,
	    "timestamp %s is not now", out);
	cr_assert_eq(sscanf(rest, ".%3d", &ms), 1);
	cr_assert(ms >= 0 && ms <= 999);
	cr_assert_str_eq(rest + 4, " handoff info: tick\n");
	free(out);
}

Test(log, plain_every_level)
{
	char *out;

	setup_plain();
	log_init("sup", LOG_LEVEL_DEBUG, LOG_TO_STDERR);
	log_errorx("one");
	log_warnx("two");
	log_info("three");
	log_debug("four");
	out = captured();
	assert_matches(out,
	    "^" STAMP " sup error: one\n"
	    STAMP " sup warn: two\n"
	    STAMP " sup info: three\n"
	    STAMP " sup debug: four\n$");
	free(out);
}

/* A variadic wrapper, as other modules build on log_vmsg. */
static void vmsg_wrapper(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void
vmsg_wrapper(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}

Test(log, vmsg)
{
	char *out;

	setup_plain();
	log_init("sup", LOG_LEVEL_INFO, LOG_TO_STDERR);
	errno = ENOENT;
	vmsg_wrapper(LOG_LEVEL_WARN, "shop gen %d pid %d: %s", 7, 4121,
	    "exited with status 3 before ready");
	vmsg_wrapper(LOG_LEVEL_DEBUG, "hidden");
	out = captured();
	/* log_vmsg never adds strerror. */
	assert_matches(out, "^" STAMP " sup warn: shop gen 7 pid 4121: "
	    "exited with status 3 before ready\n$");
	free(out);
}

/* ---- journald -------------------------------------------------------- */

Test(log, journal_priority_prefix)
{
	char *out;

	unsetenv("JOURNAL_STREAM");
	capture_stderr();
	pretend_journal();
	log_init("handoff", LOG_LEVEL_DEBUG, LOG_TO_STDERR);
	log_errorx("failed to bind");
	log_warnx("listener web is not used");
	log_info("gen 1 ready");
	log_debug("details");
	out = captured();
	cr_assert_str_eq(out,
	    "<3>failed to bind\n"
	    "<4>listener web is not used\n"
	    "<6>gen 1 ready\n"
	    "<7>details\n");
	free(out);
}

Test(log, journal_with_errno)
{
	char *out;

	unsetenv("JOURNAL_STREAM");
	capture_stderr();
	pretend_journal();
	log_init("handoff", LOG_LEVEL_INFO, LOG_TO_STDERR);
	errno = EACCES;
	log_warn("cannot open %s", "/etc/x");
	out = captured();
	cr_assert_str_eq(out, "<4>cannot open /etc/x: Permission denied\n");
	free(out);
}

Test(log, journal_stream_of_another_file_is_ignored)
{
	char *out;

	setup_plain();
	cr_assert_eq(setenv("JOURNAL_STREAM", "1:1", 1), 0);
	log_init("handoff", LOG_LEVEL_INFO, LOG_TO_STDERR);
	log_info("hello");
	out = captured();
	assert_matches(out, "^" STAMP " handoff info: hello\n$");
	free(out);
}

Test(log, journal_stream_garbage_is_ignored)
{
	char *out;

	setup_plain();
	cr_assert_eq(setenv("JOURNAL_STREAM", "nonsense", 1), 0);
	log_init("handoff", LOG_LEVEL_INFO, LOG_TO_STDERR);
	log_info("hello");
	out = captured();
	assert_matches(out, "^" STAMP " handoff info: hello\n$");
	free(out);
}

/* ---- filtering ------------------------------------------------------- */

Test(log, debug_hidden_at_info)
{
	char *out;

	setup_plain();
	log_init("handoff", LOG_LEVEL_INFO, LOG_TO_STDERR);
	log_debug("hidden");
	log_info("shown");
	log_debug("hidden too");
	out = captured();
	assert_matches(out, "^" STAMP " handoff info: shown\n$");
	free(out);
}

Test(log, only_errors_at_error)
{
	char *out;

	setup_plain();
	log_init("handoff", LOG_LEVEL_ERROR, LOG_TO_STDERR);
	errno = ENOENT;
	log_debug("d");
	log_info("i");
	log_warn("w");
	log_warnx("wx");
	log_errorx("e");
	out = captured();
	assert_matches(out, "^" STAMP " handoff error: e\n$");
	free(out);
}

Test(log, warn_level_hides_info)
{
	char *out;

	setup_plain();
	log_init("handoff", LOG_LEVEL_WARN, LOG_TO_STDERR);
	log_info("i");
	log_warnx("w");
	log_errorx("e");
	out = captured();
	assert_matches(out, "^" STAMP " handoff warn: w\n" STAMP
	    " handoff error: e\n$");
	free(out);
}

Test(log, worker_output_shows_at_every_level)
{
	char *out;

	setup_plain();
	log_init("handoff", LOG_LEVEL_ERROR, LOG_TO_STDERR);
	log_info("i");
	log_output("app gen 1 pid 2: %s", "hello");
	out = captured();
	assert_matches(out, "^" STAMP " handoff info: app gen 1 pid 2: hello\n$");
	free(out);
}

Test(log, level_change_takes_effect)
{
	char *out;

	unsetenv("JOURNAL_STREAM");
	capture_stderr();
	pretend_journal();
	log_init("handoff", LOG_LEVEL_INFO, LOG_TO_STDERR);
	log_debug("before");
	log_set_level(LOG_LEVEL_DEBUG);
	log_debug("after");
	log_set_level(LOG_LEVEL_ERROR);
	log_info("quiet");
	out = captured();
	cr_assert_str_eq(out, "<7>after\n");
	free(out);
}

/* ---- errno ----------------------------------------------------------- */

Test(log, warn_appends_strerror)
{
	char *out;

	setup_plain();
	log_init("handoff", LOG_LEVEL_INFO, LOG_TO_STDERR);
	errno = ENOENT;
	log_warn("cannot open %s", "/etc/handoff/handoff.ini");
	cr_assert_eq(errno, ENOENT, "log_warn changed errno");
	out = captured();
	assert_matches(out, "^" STAMP " handoff warn: cannot open "
	    "/etc/handoff/handoff\\.ini: No such file or directory\n$");
	free(out);
}

Test(log, error_appends_strerror_x_variants_do_not)
{
	char *out;

	unsetenv("JOURNAL_STREAM");
	capture_stderr();
	pretend_journal();
	log_init("handoff", LOG_LEVEL_INFO, LOG_TO_STDERR);
	errno = EADDRINUSE;
	log_error("bind 0.0.0.0:80");
	cr_assert_eq(errno, EADDRINUSE);
	log_errorx("plain error");
	log_warnx("plain warning");
	cr_assert_eq(errno, EADDRINUSE);
	out = captured();
	cr_assert_str_eq(out,
	    "<3>bind 0.0.0.0:80: Address already in use\n"
	    "<3>plain error\n"
	    "<4>plain warning\n");
	free(out);
}

Test(log, errno_survives_logging)
{
	setup_plain();
	log_init("handoff", LOG_LEVEL_DEBUG, LOG_TO_STDERR);
	errno = EINTR;
	log_info("a");
	cr_assert_eq(errno, EINTR);
	log_debug("b");
	cr_assert_eq(errno, EINTR);
	log_errorx("c");
	cr_assert_eq(errno, EINTR);
}

Test(log, long_message_is_cut_not_overflowed)
{
	char *big, *out;
	size_t len;

	unsetenv("JOURNAL_STREAM");
	capture_stderr();
	pretend_journal();
	log_init("handoff", LOG_LEVEL_INFO, LOG_TO_STDERR);
	big = malloc(10000);
	cr_assert_not_null(big);
	memset(big, 'x', 9999);
	big[9999] = '\0';
	errno = ENOENT;
	log_warn("%s", big);
	log_info("next");
	out = captured();
	len = strcspn(out, "\n");
	cr_assert_lt(len, 8200, "line of %zu bytes", len);
	cr_assert_gt(len, 8000);
	cr_assert_eq(strncmp(out, "<4>xxxx", 7), 0);
	cr_assert_str_eq(out + len, "\n<6>next\n");
	free(out);
	free(big);
}

/* Read what a pipe holds now (it is non-blocking); caller frees. */
static char *
read_pipe(int fd)
{
	char *text = calloc(1, 1 << 16);
	ssize_t n;
	size_t len = 0;

	cr_assert_not_null(text);
	while ((n = read(fd, text + len, (1 << 16) - 1 - len)) > 0)
		len += (size_t)n;
	return text;
}

Test(log, line_half_taken_by_a_pipe_is_finished_before_the_next)
{
	char *big, *out, *rest, *all;
	int p[2];

	unsetenv("JOURNAL_STREAM");
	cr_assert_eq(pipe2(p, O_NONBLOCK), 0);
	cr_assert_eq(fcntl(p[1], F_SETPIPE_SZ, 4096), 4096);
	cr_assert_eq(dup2(p[1], STDERR_FILENO), STDERR_FILENO);
	log_init("handoff", LOG_LEVEL_INFO, LOG_TO_STDERR);
	big = malloc(6001);
	cr_assert_not_null(big);
	memset(big, 'x', 6000);
	big[6000] = '\0';
	/* The pipe takes 4096 bytes of the line; the next line must wait. */
	log_info("%s", big);
	log_info("second");
	out = read_pipe(p[0]);
	cr_assert_eq(strlen(out), 4096);
	cr_assert_null(strchr(out, '\n'), "a cut line was ended: %s", out);
	/* Room again: the rest of the first line comes, then the count. */
	log_info("third");
	rest = read_pipe(p[0]);
	cr_assert(asprintf(&all, "%s%s", out, rest) != -1);
	assert_matches(all, "^" STAMP " handoff info: x+\n" STAMP " handoff "
	    "warn: 1 log line dropped: the log reader was too slow\n" STAMP
	    " handoff info: third\n$");
	cr_assert_eq(strspn(strchr(all, 'x'), "x"), 6000);
	free(all);
	free(rest);
	free(out);
	free(big);
	close(p[0]);
	close(p[1]);
}

/* ---- fatal ----------------------------------------------------------- */

/*
 * Remove the lines a sanitizer adds when a forked child exits ("==PID==...")
 * from captured text, in place.
 */
static char *
strip_sanitizer_lines(char *text)
{
	char *line = text, *out = text, *nl;
	size_t len;

	while (*line != '\0') {
		nl = strchr(line, '\n');
		len = nl != NULL ? (size_t)(nl - line) + 1 : strlen(line);
		if (strncmp(line, "==", 2) != 0) {
			memmove(out, line, len);
			out += len;
		}
		line += len;
	}
	*out = '\0';
	return text;
}

/* Run fn in a child with stderr captured; return its exit status. */
static int
run_child(void (*fn)(void))
{
	pid_t pid;
	int status;

	fflush(NULL);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		fn();
		_exit(99);
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status), "child did not exit normally");
	return WEXITSTATUS(status);
}

static void
call_fatal(void)
{
	log_init("handoff", LOG_LEVEL_INFO, LOG_TO_STDERR);
	errno = EACCES;
	fatal("cannot write pidfile %s", "/run/x.pid");
}

static void
call_fatalx(void)
{
	log_init("handoff", LOG_LEVEL_INFO, LOG_TO_STDERR);
	errno = EACCES;
	fatalx("broken invariant: %d", 7);
}

Test(log, fatal_logs_and_exits_1)
{
	char *out;

	unsetenv("JOURNAL_STREAM");
	capture_stderr();
	pretend_journal();
	cr_assert_eq(run_child(call_fatal), 1);
	out = strip_sanitizer_lines(captured());
	cr_assert_str_eq(out,
	    "<3>cannot write pidfile /run/x.pid: Permission denied\n");
	free(out);
}

Test(log, fatalx_logs_and_exits_1)
{
	char *out;

	setup_plain();
	cr_assert_eq(run_child(call_fatalx), 1);
	out = strip_sanitizer_lines(captured());
	assert_matches(out, "^" STAMP " handoff error: broken invariant: 7\n$");
	free(out);
}

Test(log, pinned_level_survives_set_level)
{
	/* `handoff run --log-level debug` must hold across reloads. */
	log_init("pin", LOG_LEVEL_INFO, LOG_TO_STDERR);
	log_pin_level(LOG_LEVEL_DEBUG);
	log_set_level(LOG_LEVEL_ERROR);
	cr_assert_eq(log_get_level(), LOG_LEVEL_DEBUG);
}
