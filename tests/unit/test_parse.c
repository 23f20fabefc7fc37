/* test_parse.c: the value parsers of the config and the command line. */
#include "autoconf.h"

#include <criterion/criterion.h>
#include <time.h>
#include <criterion/parameterized.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

#include "parse.h"

#define NITEMS(a) (sizeof(a) / sizeof((a)[0]))

/* Causes the parsers give, as a user reads them after "key = value: ". */
#define C_DUR_EMPTY	"empty duration (write it as 500ms, 30s, 5m or 1h)"
#define C_DUR_BAD	"bad duration (write it as 500ms, 30s, 5m or 1h)"
#define C_DUR_NOUNIT	"duration needs a unit (ms, s, m or h), as in 30s"
#define C_DUR_UNIT	"bad duration unit (use ms, s, m or h)"
#define C_DUR_LONG	"duration too long (at most 168h)"
#define C_SIG_NUM	"bad signal number"
#define C_SIG_NAME	"unknown signal (use a name such as TERM, INT, QUIT, USR1 or a number)"
#define C_BOOL		"bad boolean (use yes or no)"
#define C_NUM		"bad number"
#define C_RANGE		"number out of range"
#define C_MODE		"bad mode (use octal, as in 0660)"
#define C_MODE_RANGE	"mode out of range (at most 07777)"

/* ---- durations ------------------------------------------------------- */

/*
 * Parameters are copied into each test's process by Criterion, where
 * pointers into this binary need not be valid: tables hold text in arrays.
 * An empty cause means the text must be accepted.
 */
struct duration_case {
	char		 text[32];
	uint64_t	 ms;
	char		 cause[80];
};

ParameterizedTestParameters(parse, duration)
{
	static struct duration_case cases[] = {
		{ "250ms", 250, "" },
		{ "500ms", 500, "" },
		{ "30s", 30000, "" },
		{ "5m", 300000, "" },
		{ "1h", 3600000, "" },
		{ "1m30s", 90000, "" },
		{ "1h2m3s4ms", 3723004, "" },
		{ "0s", 0, "" },
		{ "0ms", 0, "" },
		{ "168h", 168ULL * 3600000, "" },
		{ "10080m", 168ULL * 3600000, "" },
		{ "", 0, C_DUR_EMPTY },
		{ "30", 0, C_DUR_NOUNIT },
		{ "1m30", 0, C_DUR_NOUNIT },
		{ "5x", 0, C_DUR_UNIT },
		{ "1.5s", 0, C_DUR_UNIT },
		{ "5 s", 0, C_DUR_UNIT },
		{ "-1s", 0, C_DUR_BAD },
		{ "s", 0, C_DUR_BAD },
		{ " 5s", 0, C_DUR_BAD },
		{ "1h 30m", 0, C_DUR_BAD },
		{ "169h", 0, C_DUR_LONG },
		{ "168h1ms", 0, C_DUR_LONG },
		{ "604800001ms", 0, C_DUR_LONG },
		{ "99999999999999999999999s", 0, C_DUR_LONG },
		{ "100000h", 0, C_DUR_LONG },
	};

	return cr_make_param_array(struct duration_case, cases, NITEMS(cases));
}

ParameterizedTest(struct duration_case *c, parse, duration)
{
	const char *cause = NULL;
	uint64_t ms = 12345;
	int rc;

	rc = parse_duration_ms(c->text, &ms, &cause);
	if (c->cause[0] == '\0') {
		cr_assert_eq(rc, 0, "\"%s\" refused: %s", c->text,
		    cause ? cause : "(no cause)");
		cr_assert_eq(ms, c->ms, "\"%s\" gave %llu ms, want %llu", c->text,
		    (unsigned long long)ms, (unsigned long long)c->ms);
	} else {
		cr_assert_eq(rc, -1, "\"%s\" accepted as %llu ms", c->text,
		    (unsigned long long)ms);
		cr_assert_not_null(cause);
		cr_assert_str_eq(cause, c->cause, "\"%s\": cause \"%s\"",
		    c->text, cause);
		cr_assert_eq(ms, 12345, "\"%s\": value changed on error", c->text);
	}
}

struct format_case {
	uint64_t	 ms;
	char		 text[16];
};

ParameterizedTestParameters(parse, format_duration)
{
	static struct format_case cases[] = {
		{ 0, "0s" },
		{ 1, "1ms" },
		{ 250, "250ms" },
		{ 1500, "1500ms" },
		{ 1000, "1s" },
		{ 30000, "30s" },
		{ 90000, "90s" },
		{ 60000, "1m" },
		{ 300000, "5m" },
		{ 5400000, "90m" },
		{ 3600000, "1h" },
		{ 168ULL * 3600000, "168h" },
	};

	return cr_make_param_array(struct format_case, cases, NITEMS(cases));
}

ParameterizedTest(struct format_case *c, parse, format_duration)
{
	char buf[32];
	const char *cause = NULL;
	uint64_t back = 12345;

	format_duration(c->ms, buf, sizeof(buf));
	cr_assert_str_eq(buf, c->text, "%llu ms printed as \"%s\"",
	    (unsigned long long)c->ms, buf);
	/* What is printed reads back as the same duration. */
	cr_assert_eq(parse_duration_ms(buf, &back, &cause), 0, "\"%s\": %s",
	    buf, cause ? cause : "");
	cr_assert_eq(back, c->ms);
}

Test(parse, format_duration_round_trip_many)
{
	static const uint64_t values[] = {
		0, 1, 7, 999, 1000, 1001, 59999, 60000, 61000, 3599999,
		3600000, 3600001, 7200000, 86400000, 604800000,
	};
	char buf[32];
	const char *cause;
	uint64_t back;
	size_t i;

	for (i = 0; i < NITEMS(values); i++) {
		cause = NULL;
		back = 12345;
		format_duration(values[i], buf, sizeof(buf));
		cr_assert_eq(parse_duration_ms(buf, &back, &cause), 0,
		    "%llu -> \"%s\": %s", (unsigned long long)values[i], buf,
		    cause ? cause : "");
		cr_assert_eq(back, values[i], "%llu -> \"%s\" -> %llu",
		    (unsigned long long)values[i], buf, (unsigned long long)back);
	}
}

Test(parse, format_duration_truncates_safely)
{
	char buf[3];

	memset(buf, 'x', sizeof(buf));
	format_duration(250, buf, sizeof(buf));
	cr_assert_str_eq(buf, "25");
}

/* ---- signals --------------------------------------------------------- */

struct signal_case {
	char		 text[32];
	int		 signo;
	char		 cause[80];
};

ParameterizedTestParameters(parse, signal)
{
	static struct signal_case cases[] = {
		{ "TERM", SIGTERM, "" },
		{ "SIGTERM", SIGTERM, "" },
		{ "sigterm", SIGTERM, "" },
		{ "term", SIGTERM, "" },
		{ "SigTerm", SIGTERM, "" },
		{ "15", SIGTERM, "" },
		{ "HUP", SIGHUP, "" },
		{ "INT", SIGINT, "" },
		{ "QUIT", SIGQUIT, "" },
		{ "USR1", SIGUSR1, "" },
		{ "USR2", SIGUSR2, "" },
		{ "SIGUSR2", SIGUSR2, "" },
		{ "KILL", SIGKILL, "" },
		{ "9", SIGKILL, "" },
		{ "1", SIGHUP, "" },
		{ "WINCH", SIGWINCH, "" },
		{ "CONT", SIGCONT, "" },
		{ "ALRM", SIGALRM, "" },
		{ "PWR", SIGPWR, "" },
		{ "ABRT", SIGABRT, "" },
		{ "STOP", SIGSTOP, "" },
		{ "TSTP", SIGTSTP, "" },
		{ "FOO", 0, C_SIG_NAME },
		{ "SIG", 0, C_SIG_NAME },
		{ "SIGFOO", 0, C_SIG_NAME },
		{ "TERM ", 0, C_SIG_NAME },
		{ "-15", 0, C_SIG_NAME },
		{ "", 0, C_SIG_NAME },
		{ "0", 0, C_SIG_NUM },
		{ "99999", 0, C_SIG_NUM },
		{ "15x", 0, C_SIG_NUM },
		{ "99999999999999999999999", 0, C_SIG_NUM },
	};

	return cr_make_param_array(struct signal_case, cases, NITEMS(cases));
}

ParameterizedTest(struct signal_case *c, parse, signal)
{
	const char *cause = NULL;
	int signo = -7;
	int rc;

	rc = parse_signal(c->text, &signo, &cause);
	if (c->cause[0] == '\0') {
		cr_assert_eq(rc, 0, "\"%s\" refused: %s", c->text,
		    cause ? cause : "(no cause)");
		cr_assert_eq(signo, c->signo, "\"%s\" gave %d, want %d", c->text,
		    signo, c->signo);
	} else {
		cr_assert_eq(rc, -1, "\"%s\" accepted as %d", c->text, signo);
		cr_assert_not_null(cause);
		cr_assert_str_eq(cause, c->cause, "\"%s\": cause \"%s\"", c->text,
		    cause);
		cr_assert_eq(signo, -7, "\"%s\": value changed on error", c->text);
	}
}

Test(parse, signal_largest_number)
{
	const char *cause = NULL;
	char text[16];
	int signo = 0;

	snprintf(text, sizeof(text), "%d", SIGRTMAX);
	cr_assert_eq(parse_signal(text, &signo, &cause), 0);
	cr_assert_eq(signo, SIGRTMAX);
	snprintf(text, sizeof(text), "%d", SIGRTMAX + 1);
	cr_assert_eq(parse_signal(text, &signo, &cause), -1);
	cr_assert_str_eq(cause, C_SIG_NUM);
}

Test(parse, signal_name)
{
	cr_assert_str_eq(signal_name(SIGTERM), "TERM");
	cr_assert_str_eq(signal_name(SIGHUP), "HUP");
	cr_assert_str_eq(signal_name(SIGINT), "INT");
	cr_assert_str_eq(signal_name(SIGQUIT), "QUIT");
	cr_assert_str_eq(signal_name(SIGKILL), "KILL");
	cr_assert_str_eq(signal_name(SIGUSR1), "USR1");
	cr_assert_str_eq(signal_name(SIGUSR2), "USR2");
	cr_assert_str_eq(signal_name(SIGWINCH), "WINCH");
	cr_assert_str_eq(signal_name(0), "?");
	cr_assert_str_eq(signal_name(SIGRTMIN), "?");
	cr_assert_str_eq(signal_name(-1), "?");
}

Test(parse, signal_name_round_trips)
{
	static const int signals[] = {
		SIGHUP, SIGINT, SIGQUIT, SIGKILL, SIGUSR1, SIGUSR2, SIGTERM,
		SIGCONT, SIGSTOP, SIGTSTP, SIGWINCH, SIGALRM, SIGPWR, SIGABRT,
	};
	const char *cause;
	char prefixed[32];
	size_t i;
	int signo;

	for (i = 0; i < NITEMS(signals); i++) {
		const char *name = signal_name(signals[i]);

		cr_assert_str_neq(name, "?", "signal %d has no name", signals[i]);
		signo = 0;
		cause = NULL;
		cr_assert_eq(parse_signal(name, &signo, &cause), 0, "%s", name);
		cr_assert_eq(signo, signals[i], "%s", name);
		snprintf(prefixed, sizeof(prefixed), "SIG%s", name);
		signo = 0;
		cr_assert_eq(parse_signal(prefixed, &signo, &cause), 0, "%s",
		    prefixed);
		cr_assert_eq(signo, signals[i], "%s", prefixed);
	}
}

/* ---- booleans -------------------------------------------------------- */

struct bool_case {
	char		 text[16];
	int		 value;		/* 1, 0, or -1 for an error */
};

ParameterizedTestParameters(parse, boolean)
{
	static struct bool_case cases[] = {
		{ "yes", 1 }, { "YES", 1 }, { "Yes", 1 }, { "true", 1 },
		{ "True", 1 }, { "on", 1 }, { "ON", 1 }, { "1", 1 },
		{ "no", 0 }, { "NO", 0 }, { "false", 0 }, { "FALSE", 0 },
		{ "off", 0 }, { "Off", 0 }, { "0", 0 },
		{ "", -1 }, { "y", -1 }, { "n", -1 }, { "2", -1 },
		{ "yes ", -1 }, { " no", -1 }, { "maybe", -1 }, { "enable", -1 },
		{ "00", -1 }, { "nope", -1 },
	};

	return cr_make_param_array(struct bool_case, cases, NITEMS(cases));
}

ParameterizedTest(struct bool_case *c, parse, boolean)
{
	const char *cause = NULL;
	bool value = c->value != 1;	/* the opposite of what is expected */
	int rc;

	rc = parse_bool(c->text, &value, &cause);
	if (c->value == -1) {
		cr_assert_eq(rc, -1, "\"%s\" accepted", c->text);
		cr_assert_str_eq(cause, C_BOOL);
	} else {
		cr_assert_eq(rc, 0, "\"%s\" refused", c->text);
		cr_assert_eq(value, c->value == 1, "\"%s\" gave %d", c->text,
		    value);
	}
}

/* ---- integers -------------------------------------------------------- */

struct int_case {
	char		 text[32];
	long		 min, max;
	long		 value;
	char		 cause[32];
};

ParameterizedTestParameters(parse, int_range)
{
	static struct int_case cases[] = {
		{ "1", 1, 1024, 1, "" },
		{ "1024", 1, 1024, 1024, "" },
		{ "4", 1, 1024, 4, "" },
		{ "0", 0, 65535, 0, "" },
		{ "65535", 0, 65535, 65535, "" },
		{ "-5", -10, 10, -5, "" },
		{ "+7", 0, 10, 7, "" },
		{ "007", 0, 10, 7, "" },
		{ "0", 1, 1024, 0, C_RANGE },
		{ "1025", 1, 1024, 0, C_RANGE },
		{ "2000", 1, 1024, 0, C_RANGE },
		{ "-1", 0, 10, 0, C_RANGE },
		{ "65536", 0, 65535, 0, C_RANGE },
		{ "99999999999999999999999", 0, 10, 0, C_RANGE },
		{ "-99999999999999999999999", -10, 10, 0, C_RANGE },
		{ "", 0, 10, 0, C_NUM },
		{ " 5", 0, 10, 0, C_NUM },
		{ "5 ", 0, 10, 0, C_NUM },
		{ "5x", 0, 10, 0, C_NUM },
		{ "x5", 0, 10, 0, C_NUM },
		{ "1.5", 0, 10, 0, C_NUM },
		{ "0x10", 0, 100, 0, C_NUM },
		{ "-", 0, 10, 0, C_NUM },
	};

	return cr_make_param_array(struct int_case, cases, NITEMS(cases));
}

ParameterizedTest(struct int_case *c, parse, int_range)
{
	const char *cause = NULL;
	long value = 4242;
	int rc;

	rc = parse_int_range(c->text, c->min, c->max, &value, &cause);
	if (c->cause[0] == '\0') {
		cr_assert_eq(rc, 0, "\"%s\" in [%ld, %ld] refused: %s", c->text,
		    c->min, c->max, cause ? cause : "(no cause)");
		cr_assert_eq(value, c->value, "\"%s\" gave %ld", c->text, value);
	} else {
		cr_assert_eq(rc, -1, "\"%s\" in [%ld, %ld] accepted as %ld",
		    c->text, c->min, c->max, value);
		cr_assert_str_eq(cause, c->cause, "\"%s\": cause \"%s\"", c->text,
		    cause);
		cr_assert_eq(value, 4242, "\"%s\": value changed on error",
		    c->text);
	}
}

/* ---- modes ----------------------------------------------------------- */

struct mode_case {
	char		 text[32];
	mode_t		 mode;
	char		 cause[48];
};

ParameterizedTestParameters(parse, mode)
{
	static struct mode_case cases[] = {
		{ "0660", 0660, "" },
		{ "660", 0660, "" },
		{ "0600", 0600, "" },
		{ "0777", 0777, "" },
		{ "07777", 07777, "" },
		{ "0", 0, "" },
		{ "0000", 0, "" },
		{ "1777", 01777, "" },
		{ "0800", 0, C_MODE },
		{ "99999", 0, C_MODE },
		{ "", 0, C_MODE },
		{ "rw-rw----", 0, C_MODE },
		{ "0x1ff", 0, C_MODE },
		{ "-660", 0, C_MODE },
		{ " 660", 0, C_MODE },
		{ "660 ", 0, C_MODE },
		{ "17777", 0, C_MODE_RANGE },
		{ "77777", 0, C_MODE_RANGE },
		{ "7777777777777777777777777777", 0, C_MODE_RANGE },
	};

	return cr_make_param_array(struct mode_case, cases, NITEMS(cases));
}

ParameterizedTest(struct mode_case *c, parse, mode)
{
	const char *cause = NULL;
	mode_t mode = 0123;
	int rc;

	rc = parse_mode(c->text, &mode, &cause);
	if (c->cause[0] == '\0') {
		cr_assert_eq(rc, 0, "\"%s\" refused: %s", c->text,
		    cause ? cause : "(no cause)");
		cr_assert_eq(mode, c->mode, "\"%s\" gave %o, want %o", c->text,
		    (unsigned)mode, (unsigned)c->mode);
	} else {
		cr_assert_eq(rc, -1, "\"%s\" accepted as %o", c->text,
		    (unsigned)mode);
		cr_assert_str_eq(cause, c->cause, "\"%s\": cause \"%s\"", c->text,
		    cause);
		cr_assert_eq(mode, 0123, "\"%s\": value changed on error",
		    c->text);
	}
}

/* ---- argv_split ------------------------------------------------------ */

#define MAXWORDS 8

struct argv_case {
	char		 text[64];
	char		 words[MAXWORDS][32];	/* up to the first "" */
	int		 nwords;
	char		 cause[48];
};

ParameterizedTestParameters(parse, argv_split)
{
	static struct argv_case cases[] = {
		{ "/bin/server", { "/bin/server" }, 1, "" },
		{ "/srv/shop/bin/server --config /srv/shop/server.toml",
		  { "/srv/shop/bin/server", "--config", "/srv/shop/server.toml" },
		  3, "" },
		{ "  a   b\tc  ", { "a", "b", "c" }, 3, "" },
		{ "\ta\t", { "a" }, 1, "" },
		{ "", { "" }, 0, "" },
		{ "   ", { "" }, 0, "" },
		{ "\t \t", { "" }, 0, "" },
		{ "echo 'hello world'", { "echo", "hello world" }, 2, "" },
		{ "echo \"hello world\"", { "echo", "hello world" }, 2, "" },
		{ "echo \"it's\"", { "echo", "it's" }, 2, "" },
		{ "echo 'say \"hi\"'", { "echo", "say \"hi\"" }, 2, "" },
		{ "a'b c'd", { "ab cd" }, 1, "" },
		{ "'a''b'", { "ab" }, 1, "" },
		{ "x '' y", { "x", "", "y" }, 3, "" },
		{ "\"\"", { "" }, 1, "" },
		{ "a\\ b", { "a b" }, 1, "" },
		{ "a\\\\b", { "a\\b" }, 1, "" },
		{ "\\'quoted\\'", { "'quoted'" }, 1, "" },
		{ "\"a \\\" b\"", { "a \" b" }, 1, "" },
		{ "'a \\ b'", { "a \\ b" }, 1, "" },
		{ "'a\\'", { "a\\" }, 1, "" },
		{ "sh -c 'exec \"$0\" \"$@\"'", { "sh", "-c", "exec \"$0\" \"$@\"" },
		  3, "" },
		{ "a b c d e f g", { "a", "b", "c", "d", "e", "f", "g" }, 7, "" },
		{ "echo 'unterminated", { "" }, 0, "unterminated ' in command" },
		{ "echo \"unterminated", { "" }, 0, "unterminated \" in command" },
		{ "'", { "" }, 0, "unterminated ' in command" },
		{ "\"", { "" }, 0, "unterminated \" in command" },
		{ "a \"b' c", { "" }, 0, "unterminated \" in command" },
		{ "echo \\", { "" }, 0, "command ends with a lone backslash" },
		{ "\"a\\", { "" }, 0, "command ends with a lone backslash" },
	};

	return cr_make_param_array(struct argv_case, cases, NITEMS(cases));
}

ParameterizedTest(struct argv_case *c, parse, argv_split)
{
	const char *cause = NULL;
	char **argv;
	size_t i, n = (size_t)c->nwords;

	argv = argv_split(c->text, &cause);
	if (c->cause[0] != '\0') {
		cr_assert_null(argv, "\"%s\" split", c->text);
		cr_assert_not_null(cause);
		cr_assert_str_eq(cause, c->cause, "\"%s\": cause \"%s\"", c->text,
		    cause);
		return;
	}
	cr_assert_not_null(argv, "\"%s\" refused: %s", c->text,
	    cause ? cause : "(no cause)");
	cr_assert_eq(argv_count(argv), n, "\"%s\": %zu words, want %zu",
	    c->text, argv_count(argv), n);
	for (i = 0; i < n; i++)
		cr_assert_str_eq(argv[i], c->words[i], "\"%s\" word %zu: \"%s\"",
		    c->text, i, argv[i]);
	cr_assert_null(argv[n]);
	argv_free(argv);
}

Test(parse, argv_helpers)
{
	char *empty[] = { NULL };
	char *two[] = { "a", "b", NULL };

	cr_assert_eq(argv_count(NULL), 0);
	cr_assert_eq(argv_count(empty), 0);
	cr_assert_eq(argv_count(two), 2);
	argv_free(NULL);	/* must not crash */
}

Test(parse, argv_split_many_words)
{
	char text[512];
	const char *cause = NULL;
	char **argv;
	size_t i, len = 0;

	/* The densest command: one-letter words, one blank apart. */
	for (i = 0; i < 200; i++)
		len += (size_t)snprintf(text + len, sizeof(text) - len, "%s%c",
		    i ? " " : "", (char)('a' + i % 26));
	argv = argv_split(text, &cause);
	cr_assert_not_null(argv);
	cr_assert_eq(argv_count(argv), 200);
	for (i = 0; i < 200; i++) {
		cr_assert_eq(strlen(argv[i]), 1);
		cr_assert_eq(argv[i][0], (char)('a' + i % 26));
	}
	argv_free(argv);

	/* Empty quoted words are the densest of all: '' '' ''. */
	argv = argv_split("'' '' '' ''", &cause);
	cr_assert_not_null(argv);
	cr_assert_eq(argv_count(argv), 4);
	argv_free(argv);
	argv = argv_split("''", &cause);
	cr_assert_not_null(argv);
	cr_assert_eq(argv_count(argv), 1);
	cr_assert_str_eq(argv[0], "");
	argv_free(argv);
}

/* A monotonic deadline ms later carries nanoseconds into seconds. */
Test(parse, deadlines_add_milliseconds)
{
	struct timespec ts = { 5, 999999999 }, past = { 0, 0 }, soon;

	timespec_add_ms(&ts, 1999);
	cr_expect_eq(ts.tv_sec, 7);
	cr_expect_eq(ts.tv_nsec, 998999999);
	cr_expect_eq(ms_until(&past), 0);
	clock_gettime(CLOCK_MONOTONIC, &soon);
	timespec_add_ms(&soon, 60000);
	cr_expect(ms_until(&soon) > 59000 && ms_until(&soon) <= 60000);
}
