/* parse.c: parsers for durations, signals, booleans, integers, modes, words; duration arithmetic. */
#include "autoconf.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

#include "parse.h"

/* Longest duration accepted: a week, far beyond any sane timeout. */
#define DURATION_MAX_MS (7ULL * 24 * 3600 * 1000)

/*
 * Parse "250ms", "30s", "5m", "1h" (or a sum such as "1m30s") into
 * milliseconds. A bare number is refused: the unit must be said.
 */
int
parse_duration_ms(const char *text, uint64_t *ms, const char **error)
{
	const char *p = text;
	uint64_t total = 0, n, scale;
	char *end;

	if (*p == '\0') {
		*error = "empty duration (write it as 500ms, 30s, 5m or 1h)";
		return -1;
	}
	while (*p != '\0') {
		if (!isdigit((unsigned char)*p)) {
			*error = "bad duration (write it as 500ms, 30s, 5m or 1h)";
			return -1;
		}
		errno = 0;
		n = strtoull(p, &end, 10);
		if (errno == ERANGE || n > DURATION_MAX_MS) {
			*error = "duration too long (at most 168h)";
			return -1;
		}
		if (strncmp(end, "ms", 2) == 0) {
			scale = 1;
			end += 2;
		} else if (*end == 's') {
			scale = 1000;
			end++;
		} else if (*end == 'm') {
			scale = 60 * 1000;
			end++;
		} else if (*end == 'h') {
			scale = 3600 * 1000;
			end++;
		} else if (*end == '\0') {
			*error = "duration needs a unit (ms, s, m or h), as in 30s";
			return -1;
		} else {
			*error = "bad duration unit (use ms, s, m or h)";
			return -1;
		}
		total += n * scale;
		if (total > DURATION_MAX_MS) {
			*error = "duration too long (at most 168h)";
			return -1;
		}
		p = end;
	}
	*ms = total;
	return 0;
}

/* Format milliseconds the way parse_duration_ms reads them. */
void
format_duration(uint64_t ms, char *buf, size_t len)
{
	if (ms % 3600000 == 0 && ms != 0)
		snprintf(buf, len, "%" PRIu64 "h", ms / 3600000);
	else if (ms % 60000 == 0 && ms != 0)
		snprintf(buf, len, "%" PRIu64 "m", ms / 60000);
	else if (ms % 1000 == 0)
		snprintf(buf, len, "%" PRIu64 "s", ms / 1000);
	else
		snprintf(buf, len, "%" PRIu64 "ms", ms);
}

static const struct {
	const char	*name;
	int		 signo;
} signal_table[] = {
	{ "HUP", SIGHUP }, { "INT", SIGINT }, { "QUIT", SIGQUIT },
	{ "KILL", SIGKILL }, { "USR1", SIGUSR1 }, { "USR2", SIGUSR2 },
	{ "TERM", SIGTERM }, { "CONT", SIGCONT }, { "STOP", SIGSTOP },
	{ "TSTP", SIGTSTP }, { "WINCH", SIGWINCH }, { "ALRM", SIGALRM },
	{ "PWR", SIGPWR }, { "ABRT", SIGABRT },
};

/* Parse a signal as "TERM", "SIGTERM" (any case) or its number "15". */
int
parse_signal(const char *text, int *signo, const char **error)
{
	const char *name = text;
	long n;
	size_t i;

	if (isdigit((unsigned char)text[0])) {
		if (parse_int_range(text, 1, SIGRTMAX, &n, error) == -1) {
			*error = "bad signal number";
			return -1;
		}
		*signo = (int)n;
		return 0;
	}
	if (strncasecmp(name, "SIG", 3) == 0)
		name += 3;
	for (i = 0; i < sizeof(signal_table) / sizeof(signal_table[0]); i++) {
		if (strcasecmp(name, signal_table[i].name) == 0) {
			*signo = signal_table[i].signo;
			return 0;
		}
	}
	*error = "unknown signal (use a name such as TERM, INT, QUIT, USR1 or a number)";
	return -1;
}

/* The short name of a signal ("TERM"), or "?" for one not in the table. */
const char *
signal_name(int signo)
{
	size_t i;

	for (i = 0; i < sizeof(signal_table) / sizeof(signal_table[0]); i++)
		if (signal_table[i].signo == signo)
			return signal_table[i].name;
	return "?";
}

/* Parse yes/no, true/false, on/off, 1/0 (any case). */
int
parse_bool(const char *text, bool *value, const char **error)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(text, yes[i]) == 0) {
			*value = true;
			return 0;
		}
		if (strcasecmp(text, no[i]) == 0) {
			*value = false;
			return 0;
		}
	}
	*error = "bad boolean (use yes or no)";
	return -1;
}

/* Parse a decimal integer within [min, max]. */
int
parse_int_range(const char *text, long min, long max, long *value,
    const char **error)
{
	char *end;
	long n;

	if (*text == '\0' || isspace((unsigned char)*text)) {
		*error = "bad number";
		return -1;
	}
	errno = 0;
	n = strtol(text, &end, 10);
	if (*end != '\0') {
		*error = "bad number";
		return -1;
	}
	if (errno == ERANGE || n < min || n > max) {
		*error = "number out of range";
		return -1;
	}
	*value = n;
	return 0;
}

/* Parse an octal permission mode such as 0660 or 660. */
int
parse_mode(const char *text, mode_t *mode, const char **error)
{
	const char *p;
	unsigned long n;

	if (*text == '\0') {
		*error = "bad mode (use octal, as in 0660)";
		return -1;
	}
	for (p = text; *p != '\0'; p++) {
		if (*p < '0' || *p > '7') {
			*error = "bad mode (use octal, as in 0660)";
			return -1;
		}
	}
	n = strtoul(text, NULL, 8);
	if (n > 07777) {
		*error = "mode out of range (at most 07777)";
		return -1;
	}
	*mode = (mode_t)n;
	return 0;
}

/* Free an array from argv_split. */
void
argv_free(char **argv)
{
	size_t i;

	if (argv == NULL)
		return;
	for (i = 0; argv[i] != NULL; i++)
		free(argv[i]);
	free(argv);
}

/* Number of words in a NULL-terminated array. */
size_t
argv_count(char *const *argv)
{
	size_t n = 0;

	while (argv != NULL && argv[n] != NULL)
		n++;
	return n;
}

/* Split text into words; see parse.h. */
char **
argv_split(const char *text, const char **error)
{
	size_t len = strlen(text), nwords = 0, wlen;
	char **argv, *word;
	const char *p = text;
	char quote;

	/* At most len/2+1 words; one buffer per word of at most len bytes. */
	argv = calloc(len / 2 + 2, sizeof(*argv));
	if (argv == NULL) {
		*error = "out of memory";
		return NULL;
	}
	for (;;) {
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p == '\0')
			break;
		word = malloc(len + 1);
		if (word == NULL) {
			*error = "out of memory";
			goto fail;
		}
		argv[nwords++] = word;
		wlen = 0;
		quote = '\0';
		while (*p != '\0' && (quote != '\0' || (*p != ' ' && *p != '\t'))) {
			if (quote == '\0' && (*p == '\'' || *p == '"')) {
				quote = *p++;
			} else if (quote != '\0' && *p == quote) {
				quote = '\0';
				p++;
			} else if (*p == '\\' && quote != '\'') {
				p++;
				if (*p == '\0') {
					*error = "command ends with a lone backslash";
					goto fail;
				}
				word[wlen++] = *p++;
			} else
				word[wlen++] = *p++;
		}
		if (quote != '\0') {
			*error = quote == '"' ? "unterminated \" in command" :
			    "unterminated ' in command";
			goto fail;
		}
		word[wlen] = '\0';
	}
	argv[nwords] = NULL;
	return argv;
fail:
	argv_free(argv);
	return NULL;
}

/*
 * Replace each c inside quotes in text by mark, reading quotes and
 * backslashes as argv_split does; *quote is the quote open before text
 * ('\0' for none) and is left as the one open after it. Stops at a c
 * outside quotes that follows white space (where inih starts a comment:
 * any isspace() byte, a form feed too) and returns it; NULL if none.
 */
char *
argv_mark_quoted(char *text, char c, char mark, char *quote)
{
	char *p;

	for (p = text; *p != '\0'; p++) {
		if (*p == '\\' && *quote != '\'') {
			if (p[1] == '\0')
				break;
			p++;
		} else if (*quote == '\0' && (*p == '\'' || *p == '"'))
			*quote = *p;
		else if (*quote != '\0' && *p == *quote)
			*quote = '\0';
		else if (*quote != '\0' && *p == c)
			*p = mark;
		else if (*p == c && p > text && isspace((unsigned char)p[-1]))
			return p;
	}
	return NULL;
}

/* Microseconds from one point of a clock to a later one (0 if earlier). */
uint64_t
timespec_diff_us(const struct timespec *from, const struct timespec *to)
{
	int64_t us;

	us = (int64_t)(to->tv_sec - from->tv_sec) * 1000000 +
	    (to->tv_nsec - from->tv_nsec) / 1000;
	return us < 0 ? 0 : (uint64_t)us;
}

/* Microseconds since a point on the monotonic clock. */
uint64_t
elapsed_us(const struct timespec *since)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return timespec_diff_us(since, &now);
}

/* Milliseconds since a point on the monotonic clock. */
uint64_t
elapsed_ms(const struct timespec *since)
{
	return elapsed_us(since) / 1000;
}

/* Move ts (CLOCK_MONOTONIC) ms milliseconds later. */
void
timespec_add_ms(struct timespec *ts, uint64_t ms)
{
	ts->tv_sec += (time_t)(ms / 1000);
	ts->tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts->tv_nsec >= 1000000000) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000;
	}
}

/* Milliseconds from now until at (CLOCK_MONOTONIC), 0 if it has passed. */
uint64_t
ms_until(const struct timespec *at)
{
	struct timespec now;
	int64_t ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (int64_t)(at->tv_sec - now.tv_sec) * 1000 +
	    (at->tv_nsec - now.tv_nsec) / 1000000;
	return ms < 0 ? 0 : (uint64_t)ms;
}

/* A timeval for an event timer of ms milliseconds. */
struct timeval
timeval_ms(uint64_t ms)
{
	struct timeval tv;

	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	return tv;
}
