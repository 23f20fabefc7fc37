/*
 * log.c: the supervisor's log.
 *
 * Lines go to stderr or to syslog. On stderr each line carries a timestamp
 * and the level, except when JOURNAL_STREAM says stderr is the journal, which
 * stamps lines itself: then lines carry a "<N>" syslog priority prefix that
 * journald understands. log_warn and log_error append strerror(errno); the
 * "x" variants do not.
 */
#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define LOG_MSG_MAX	8192		/* a message, without stamp and level */
#define LOG_LINE_MAX	(LOG_MSG_MAX + 128)	/* a whole line */

static enum log_level	log_level = LOG_LEVEL_INFO;
static enum log_target	log_target = LOG_TO_STDERR;
static int		log_journal;	/* stderr is connected to journald */
static int		log_pinned;	/* the command line chose the level */
static unsigned long	log_dropped;	/* lines a slow reader lost */
static char		log_pending[LOG_LINE_MAX];	/* rest of a line */
static size_t		log_pending_len;	/* a reader took only part of */
static const char	*log_ident = "handoff";

static const char *const log_level_names[] = {
	[LOG_LEVEL_ERROR] = "error",
	[LOG_LEVEL_WARN] = "warn",
	[LOG_LEVEL_INFO] = "info",
	[LOG_LEVEL_DEBUG] = "debug",
};

static const int log_syslog_priorities[] = {
	[LOG_LEVEL_ERROR] = LOG_ERR,
	[LOG_LEVEL_WARN] = LOG_WARNING,
	[LOG_LEVEL_INFO] = LOG_INFO,
	[LOG_LEVEL_DEBUG] = LOG_DEBUG,
};

/* Tell whether stderr is the stream JOURNAL_STREAM ("dev:ino") names. */
static int
log_stderr_is_journal(void)
{
	const char *env = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat st;

	if (env == NULL || sscanf(env, "%llu:%llu", &dev, &ino) != 2)
		return 0;
	if (fstat(STDERR_FILENO, &st) == -1)
		return 0;
	return (unsigned long long)st.st_dev == dev &&
	    (unsigned long long)st.st_ino == ino;
}

/* Set up logging: the name lines carry, the lowest level shown, the target. */
void
log_init(const char *ident, enum log_level level, enum log_target target)
{
	struct stat st;

	log_ident = ident;
	log_level = level;
	log_target = target;
	log_journal = log_stderr_is_journal();
	log_dropped = 0;
	log_pending_len = 0;
	/*
	 * A pipe or socket reader may stall: never wait for it. Only the
	 * supervisor writes to its stderr (workers get pipes of their own),
	 * so the flag changes nobody else's writes. Terminals and files are
	 * left as they are.
	 */
	if (fstat(STDERR_FILENO, &st) == 0 &&
	    (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode)))
		(void)fcntl(STDERR_FILENO, F_SETFL,
		    fcntl(STDERR_FILENO, F_GETFL) | O_NONBLOCK);
	if (target == LOG_TO_SYSLOG)
		openlog(ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

/* Change the lowest level shown (a reload may change log_level). */
void
log_set_level(enum log_level level)
{
	if (!log_pinned)
		log_level = level;
}

/* Set the level for good: a reload's log_level no longer changes it. */
void
log_pin_level(enum log_level level)
{
	log_level = level;
	log_pinned = 1;
}

/* Whether the command line set the level for good (log_pin_level). */
bool
log_level_pinned(void)
{
	return log_pinned != 0;
}

/* The lowest level currently shown. */
enum log_level
log_get_level(void)
{
	return log_level;
}

/* Parse "error", "warn", "info" or "debug"; -1 if text is none of them. */
int
log_level_parse(const char *text, enum log_level *level)
{
	size_t i;

	for (i = 0; i < sizeof(log_level_names) / sizeof(log_level_names[0]); i++) {
		if (strcmp(text, log_level_names[i]) == 0) {
			*level = (enum log_level)i;
			return 0;
		}
	}
	if (strcmp(text, "warning") == 0) {
		*level = LOG_LEVEL_WARN;
		return 0;
	}
	return -1;
}

/* The config spelling of a level. */
const char *
log_level_name(enum log_level level)
{
	return log_level_names[level];
}

/* Format a whole stderr line for msg: stamped, or "<N>" under journald. */
static size_t
log_format_line(enum log_level level, const char *msg, char *line, size_t len)
{
	char stamp[64];
	struct timespec ts;
	struct tm tm;
	int n;

	if (log_journal)
		n = snprintf(line, len, "<%d>%s\n", log_syslog_priorities[level],
		    msg);
	else {
		clock_gettime(CLOCK_REALTIME, &ts);
		localtime_r(&ts.tv_sec, &tm);
		strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S", &tm);
		n = snprintf(line, len, "%s.%03ld %s %s: %s\n", stamp,
		    ts.tv_nsec / 1000000L, log_ident, log_level_names[level], msg);
	}
	if (n < 0)
		return 0;
	if ((size_t)n >= len) {
		line[len - 2] = '\n';
		return len - 1;
	}
	return (size_t)n;
}

/*
 * Write a whole line to stderr, or as much as the reader takes and keep the
 * rest for later; false if none of it could be written.
 */
static bool
log_write_line(const char *line, size_t len)
{
	ssize_t n;

	n = write(STDERR_FILENO, line, len);
	if (n <= 0)
		return false;
	if ((size_t)n < len) {
		log_pending_len = len - (size_t)n;
		memcpy(log_pending, line + n, log_pending_len);
	}
	return true;
}

/* Finish a line the reader took only part of; false while some is left. */
static bool
log_flush_pending(void)
{
	ssize_t n;

	if (log_pending_len == 0)
		return true;
	n = write(STDERR_FILENO, log_pending, log_pending_len);
	if (n <= 0)
		return false;
	log_pending_len -= (size_t)n;
	memmove(log_pending, log_pending + n, log_pending_len);
	return log_pending_len == 0;
}

/*
 * Write a line to stderr. When stderr is a pipe or socket it is
 * non-blocking (see log_init): a reader too slow to keep up loses lines,
 * counted and reported once it keeps up again, but never stalls the
 * supervisor. A line the reader took only part of is finished before any
 * other is written, so lines are never cut and run together.
 */
static void
log_write(enum log_level level, const char *msg)
{
	char line[LOG_LINE_MAX], note[160];
	size_t len;

	if (log_dropped > 0 && log_flush_pending()) {
		snprintf(note, sizeof(note), "%lu log line%s dropped: the log "
		    "reader was too slow", log_dropped, log_dropped == 1 ? "" :
		    "s");
		len = log_format_line(LOG_LEVEL_WARN, note, line, sizeof(line));
		if (log_write_line(line, len))
			log_dropped = 0;
	}
	if (!log_flush_pending()) {
		log_dropped++;
		return;
	}
	len = log_format_line(level, msg, line, sizeof(line));
	if (!log_write_line(line, len))
		log_dropped++;
}

/* Send a formatted message to the log target, whatever log_level says. */
static void
log_send(enum log_level level, const char *msg)
{
	if (log_target == LOG_TO_SYSLOG)
		syslog(log_syslog_priorities[level], "%s", msg);
	else
		log_write(level, msg);
}

/* Write one formatted line at the given level, adding ": strerror" if err. */
static void
log_emit(enum log_level level, int err, const char *fmt, va_list ap)
{
	char msg[LOG_MSG_MAX];
	size_t len;

	if (level > log_level)
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	if (err != 0) {
		len = strlen(msg);
		snprintf(msg + len, sizeof(msg) - len, ": %s", strerror(err));
	}
	log_send(level, msg);
}

/*
 * Log a line of a worker's output, at info priority, whatever log_level
 * says: log_level is about what the supervisor says of itself.
 */
void
log_output(const char *fmt, ...)
{
	char msg[LOG_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_send(LOG_LEVEL_INFO, msg);
}

/* Log at a level, without errno. */
void
log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	log_emit(level, 0, fmt, ap);
}

#define LOG_FUNCTION(name, level, with_errno)			\
	void name(const char *fmt, ...)				\
	{							\
		int saved_errno = errno;			\
		va_list ap;					\
		va_start(ap, fmt);				\
		log_emit(level, with_errno ? saved_errno : 0, fmt, ap); \
		va_end(ap);					\
		errno = saved_errno;				\
	}

/* log_error/log_warn add strerror(errno); the x variants do not. */
LOG_FUNCTION(log_error, LOG_LEVEL_ERROR, 1)
LOG_FUNCTION(log_errorx, LOG_LEVEL_ERROR, 0)
LOG_FUNCTION(log_warn, LOG_LEVEL_WARN, 1)
LOG_FUNCTION(log_warnx, LOG_LEVEL_WARN, 0)
LOG_FUNCTION(log_info, LOG_LEVEL_INFO, 0)
LOG_FUNCTION(log_debug, LOG_LEVEL_DEBUG, 0)

/* Log an error with strerror(errno) and exit 1: start-up failures only. */
void
fatal(const char *fmt, ...)
{
	int saved_errno = errno;
	va_list ap;

	va_start(ap, fmt);
	log_emit(LOG_LEVEL_ERROR, saved_errno, fmt, ap);
	va_end(ap);
	exit(1);
}

/* Log an error and exit 1: start-up failures and broken invariants only. */
void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_emit(LOG_LEVEL_ERROR, 0, fmt, ap);
	va_end(ap);
	exit(1);
}
