#ifdef HAVE_CONFIG_H
#include "autoconf.h"
#endif
/*
 * testserver: the server the integration tests run under handoff.
 *
 * It takes its sockets the way a worker does (LISTEN_FDS/LISTEN_PID, through
 * libhandoff, else SERVER_STARTER_PORT), says READY=1, STATUS= and STOPPING=1
 * through libhandoff too, and binds any --listen address itself (with
 * SO_REUSEPORT, as in handoff's "self" mode). Every TCP or unix stream
 * request is answered with "gen=G pid=PID worker=W"; GET /env describes what
 * the process inherited (fds, environment, credentials, signal mask). UDP
 * and unix datagrams get "gen=G pid=PID worker=W" back, followed by
 * " seq=TOKEN" when the datagram starts with "seq=TOKEN" (TOKEN: up to 64
 * bytes before a blank), so that a sender can match each reply to its
 * datagram. Options make it slow, never ready, crashing or stubborn, so that
 * tests can drive every path of a handoff.
 *
 * --accept-delay DUR makes it slow to accept: after each connection it
 * accepts, it leaves its stream listeners alone for DUR (a deadline in the
 * loop, not a sleep), while it goes on serving the clients it has, so that
 * connections queue in the listener's backlog and every accepted one is
 * answered.
 *
 * It accepts only once it is ready: until then (and forever with --never-ready)
 * it leaves the shared sockets to the other generation and does not bind its
 * --listen addresses, so "not ready" really means "not serving".
 *
 * On SIGTERM (or SIGINT) it says STOPPING=1, closes its listeners and exits 0
 * once every client in flight is answered and --drain-delay has passed; a
 * client that never sends a request keeps it draining, as it would a real
 * server, until the supervisor's drain_timeout.
 *
 * --spawn-daemon double-forks, once ready, a daemon that leaves our process
 * group and session (setsid) and keeps serving our sockets, answering with
 * its own pid: what a server's helper that daemonizes does. It overwrites
 * its environment, as setproctitle does. On SIGTERM it stops accepting and
 * lingers until SIGUSR2 (--daemon-ignore-term: it ignores SIGTERM and
 * serves on); SIGUSR2 makes it exit at once.
 *
 * Single-threaded: one ppoll() loop over listeners and non-blocking clients,
 * with a deadline per client for --delay-response. SIGTERM and SIGINT are
 * blocked except inside ppoll(), so they never interrupt a request.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE	/* accept4, ppoll */
#endif

#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "handoff.h"		/* libhandoff: LISTEN_FDS, NOTIFY_SOCKET */
#include "handoff-internal.h"	/* handoff_notify_send, for --notify-raw */

#define MAX_LISTENERS	64
#define REQUEST_MAX	4096		/* bytes of a request we read at most */
#define ACCEPT_BURST	64		/* accepts or datagrams per wakeup */
#define LINGER_MS	2000		/* wait for the client's close this long */
#define NEVER		-1LL

enum client_state {
	CLIENT_READING,		/* reading the request */
	CLIENT_DELAYING,	/* --delay-response: waiting for the deadline */
	CLIENT_WRITING,		/* sending the response */
	CLIENT_LINGERING,	/* response sent, write side shut, waiting for EOF */
	CLIENT_CLOSED		/* fd closed; removed at the end of the round */
};

struct client {
	int			 fd;
	enum client_state	 state;
	long long		 deadline;	/* ms, for DELAYING and LINGERING */
	char			 request[REQUEST_MAX + 1];
	size_t			 request_len;
	char			*response;
	size_t			 response_len;
	size_t			 response_sent;
};

struct listener {
	int	fd;
	int	type;		/* SOCK_STREAM or SOCK_DGRAM */
};

struct options {
	long long	 ready_after;		/* ms */
	int		 never_ready;
	int		 ready_on_usr1;		/* ready once SIGUSR1 comes */
	int		 ready_nonblocking;	/* READY=1 sent once, not waiting */
	int		 exit_before_ready;	/* exit code, or -1 */
	long long	 crash_after;		/* ms, or NEVER */
	int		 ignore_term;
	int		 spawn_child;
	long		 orphans;		/* --orphans N: setsid'd children */
	int		 spawn_daemon;
	int		 daemon_ignore_term;
	int		 reuseport_inherited;	/* SO_REUSEPORT on inherited sockets */
	long long	 drain_delay;		/* ms */
	long long	 delay_response;	/* ms */
	long long	 accept_delay;		/* ms between two accepts */
	int		 print_ready;
	long		 noise;
	long		 long_line;		/* 'x's of one line at start */
	const char	*print;			/* --print: written to stdout at start */
	const char	*print_on_stop;		/* written to stdout on stop */
	long		 repeat;		/* --print this many times */
	int		 flood;			/* a child floods stdout */
	int		 shutdown_how;		/* shutdown() listeners on stop, or -1 */
	const char	*status;
	const char	*notify[MAX_LISTENERS];	/* --notify-raw, --notify-mainpid */
	int		 notify_count;
	const char	*listen[MAX_LISTENERS];
	int		 listen_count;
};

/* A growing string, for response bodies. */
struct buffer {
	char	*data;
	size_t	 len;
	size_t	 size;
};

static struct options options = {
	.exit_before_ready = -1, .crash_after = NEVER, .shutdown_how = -1,
};
static struct listener listeners[MAX_LISTENERS];
static int listener_count;
static struct client **clients;
static size_t client_count, client_space;

static const char *generation = "-", *worker = "-";
static char start_sigblk[32] = "?", start_sigign[32] = "?";
static unsigned long long start_nofile;	/* soft fd limit as started */
static volatile sig_atomic_t stop_requested, exit_requested, ready_requested;
static int is_daemon;		/* the --spawn-daemon process */

/* Says what went wrong, prefixed with our name, and exits with code. */
__attribute__((format(printf, 2, 3), noreturn))
static void die(int code, const char *fmt, ...)
{
	va_list ap;

	fputs("testserver: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(code);
}

/* Says what went wrong, prefixed with our name, and carries on. */
__attribute__((format(printf, 1, 2)))
static void warn(const char *fmt, ...)
{
	va_list ap;

	fputs("testserver: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Returns memory or exits: a test server out of memory has nothing to test. */
static void *xrealloc(void *old, size_t size)
{
	void *new = realloc(old, size);

	if (new == NULL)
		die(1, "out of memory");
	return new;
}

/* Appends formatted text to buf, growing it as needed. */
__attribute__((format(printf, 2, 3)))
static void buffer_printf(struct buffer *buf, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (buf->len + (size_t)n + 1 > buf->size) {
		buf->size = (buf->len + (size_t)n + 1) * 2;
		buf->data = xrealloc(buf->data, buf->size);
	}
	va_start(ap, fmt);
	vsnprintf(buf->data + buf->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	buf->len += (size_t)n;
}

/* Returns the monotonic clock in milliseconds. */
static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Parses a whole decimal number in [min, max] into *value; -1 if it is not one. */
static int parse_number(const char *s, long min, long max, long *value)
{
	char *end;

	errno = 0;
	*value = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno != 0 || *value < min || *value > max)
		return -1;
	return 0;
}

/* Parses "500ms", "2s" or "5m" (or a bare "0") into milliseconds; -1 if bad. */
static int parse_duration(const char *s, long long *ms)
{
	char *unit;
	long long n;

	errno = 0;
	n = strtoll(s, &unit, 10);
	if (unit == s || errno != 0 || n < 0 || n > 86400000LL)
		return -1;
	if (strcmp(unit, "ms") == 0 || (*unit == '\0' && n == 0))
		*ms = n;
	else if (strcmp(unit, "s") == 0)
		*ms = n * 1000;
	else if (strcmp(unit, "m") == 0)
		*ms = n * 60000;
	else
		return -1;
	return 0;
}

/* Prints how to call us and exits with code. */
__attribute__((noreturn))
static void usage(int code)
{
	fprintf(code ? stderr : stdout,
	    "usage: testserver [--listen HOST:PORT|udp:HOST:PORT|unix:/PATH]...\n"
	    "                  [--ready-after DUR] [--never-ready] [--exit-before-ready CODE]\n"
	    "                  [--crash-after DUR] [--ignore-term] [--spawn-child]\n"
	    "                  [--spawn-daemon] [--daemon-ignore-term]\n"
	    "                  [--drain-delay DUR] [--delay-response DUR] [--print-ready]\n"
	    "                  [--accept-delay DUR] [--ready-on-usr1] [--ready-nonblocking]\n"
	    "                  [--noise N] [--long-line N] [--status TEXT]\n"
	    "                  [--notify-raw TEXT] [--notify-mainpid PID] [--orphans N]\n"
	    "                  [--print TEXT [--repeat N]] [--print-on-stop TEXT] [--flood]\n"
	    "                  [--shutdown-on-stop rd|wr|rdwr] [--reuseport-inherited]\n"
	    "--notify-raw sends TEXT (with \\n, \\\\ and \\xHH escapes) to NOTIFY_SOCKET\n"
	    "at start, after --status; --notify-mainpid PID sends MAINPID=PID; both\n"
	    "repeatable, sent in order, before READY=1.\n"
	    "--long-line N writes one line of N 'x' characters to stdout at start.\n"
	    "--print TEXT writes TEXT (with the same escapes) to stdout at start,\n"
	    "N times with --repeat N (default 1, in one write).\n"
	    "--print-on-stop TEXT writes TEXT (same escapes) to stdout as it begins\n"
	    "to stop (a closed stdout kills it with SIGPIPE).\n"
	    "--flood forks a child that writes lines to stdout as fast as it can\n"
	    "until we exit.\n"
	    "--orphans N starts N children that leave the process group (setsid)\n"
	    "and wait for a signal.\n"
	    "--shutdown-on-stop calls shutdown() on each stream listener before\n"
	    "closing it on stop, as servers do to wake threads blocked in accept(),\n"
	    "and says so on stdout.\n"
	    "--reuseport-inherited turns SO_REUSEPORT on for each inherited TCP or\n"
	    "UDP socket (the supervisor's own: it lets others join the port).\n"
	    "--accept-delay DUR waits DUR after each accepted connection before the\n"
	    "next accept, still serving the clients it has.\n"
	    "--ready-on-usr1 becomes ready only once it gets SIGUSR1.\n"
	    "--ready-nonblocking sends READY=1 once from a non-blocking socket, as\n"
	    "some servers do: if the supervisor's queue is full it is lost (said\n"
	    "on stderr) and never sent again.\n");
	exit(code);
}

/* Fills the global options from argv; exits 2 on anything it does not know. */
static void parse_options(int argc, char **argv)
{
	const char *name, *value;
	char *equals;
	long number;
	int i;

	for (i = 1; i < argc; i++) {
		name = argv[i];
		value = NULL;
		if (strcmp(name, "--help") == 0)
			usage(0);
		if (strncmp(name, "--", 2) != 0)
			die(2, "unexpected argument %s (try --help)", name);
		/* Options taking a value accept "--opt VALUE" and "--opt=VALUE". */
		if ((equals = strchr(argv[i], '=')) != NULL) {
			*equals = '\0';
			value = equals + 1;
		}
		if (strcmp(name, "--never-ready") == 0 ||
		    strcmp(name, "--ignore-term") == 0 ||
		    strcmp(name, "--spawn-child") == 0 ||
		    strcmp(name, "--flood") == 0 ||
		    strcmp(name, "--spawn-daemon") == 0 ||
		    strcmp(name, "--daemon-ignore-term") == 0 ||
		    strcmp(name, "--reuseport-inherited") == 0 ||
		    strcmp(name, "--ready-on-usr1") == 0 ||
		    strcmp(name, "--ready-nonblocking") == 0 ||
		    strcmp(name, "--print-ready") == 0) {
			if (value != NULL)
				die(2, "%s takes no value", name);
			if (strcmp(name, "--never-ready") == 0)
				options.never_ready = 1;
			else if (strcmp(name, "--ignore-term") == 0)
				options.ignore_term = 1;
			else if (strcmp(name, "--spawn-child") == 0)
				options.spawn_child = 1;
			else if (strcmp(name, "--flood") == 0)
				options.flood = 1;
			else if (strcmp(name, "--spawn-daemon") == 0)
				options.spawn_daemon = 1;
			else if (strcmp(name, "--daemon-ignore-term") == 0)
				options.daemon_ignore_term = 1;
			else if (strcmp(name, "--reuseport-inherited") == 0)
				options.reuseport_inherited = 1;
			else if (strcmp(name, "--ready-on-usr1") == 0)
				options.ready_on_usr1 = 1;
			else if (strcmp(name, "--ready-nonblocking") == 0)
				options.ready_nonblocking = 1;
			else
				options.print_ready = 1;
			continue;
		}
		if (strcmp(name, "--ready-after") != 0 &&
		    strcmp(name, "--crash-after") != 0 &&
		    strcmp(name, "--drain-delay") != 0 &&
		    strcmp(name, "--delay-response") != 0 &&
		    strcmp(name, "--accept-delay") != 0 &&
		    strcmp(name, "--exit-before-ready") != 0 &&
		    strcmp(name, "--noise") != 0 &&
		    strcmp(name, "--status") != 0 &&
		    strcmp(name, "--long-line") != 0 &&
		    strcmp(name, "--orphans") != 0 &&
		    strcmp(name, "--print") != 0 &&
		    strcmp(name, "--print-on-stop") != 0 &&
		    strcmp(name, "--repeat") != 0 &&
		    strcmp(name, "--notify-raw") != 0 &&
		    strcmp(name, "--notify-mainpid") != 0 &&
		    strcmp(name, "--shutdown-on-stop") != 0 &&
		    strcmp(name, "--listen") != 0)
			die(2, "unknown option %s (try --help)", name);
		if (value == NULL && i + 1 < argc)
			value = argv[++i];
		if (value == NULL)
			die(2, "%s needs a value (try --help)", name);

		if (strcmp(name, "--ready-after") == 0) {
			if (parse_duration(value, &options.ready_after) == -1)
				die(2, "--ready-after %s: expected a duration like 200ms", value);
		} else if (strcmp(name, "--crash-after") == 0) {
			if (parse_duration(value, &options.crash_after) == -1)
				die(2, "--crash-after %s: expected a duration like 200ms", value);
		} else if (strcmp(name, "--drain-delay") == 0) {
			if (parse_duration(value, &options.drain_delay) == -1)
				die(2, "--drain-delay %s: expected a duration like 200ms", value);
		} else if (strcmp(name, "--delay-response") == 0) {
			if (parse_duration(value, &options.delay_response) == -1)
				die(2, "--delay-response %s: expected a duration like 200ms", value);
		} else if (strcmp(name, "--accept-delay") == 0) {
			if (parse_duration(value, &options.accept_delay) == -1)
				die(2, "--accept-delay %s: expected a duration like 2ms", value);
		} else if (strcmp(name, "--exit-before-ready") == 0) {
			if (parse_number(value, 0, 255, &number) == -1)
				die(2, "--exit-before-ready %s: expected an exit code 0-255", value);
			options.exit_before_ready = (int)number;
		} else if (strcmp(name, "--noise") == 0) {
			if (parse_number(value, 0, 100000000, &number) == -1)
				die(2, "--noise %s: expected a number of lines", value);
			options.noise = number;
		} else if (strcmp(name, "--long-line") == 0) {
			if (parse_number(value, 0, 100000000, &number) == -1)
				die(2, "--long-line %s: expected a number of characters",
				    value);
			options.long_line = number;
		} else if (strcmp(name, "--orphans") == 0) {
			if (parse_number(value, 0, 10000, &number) == -1)
				die(2, "--orphans %s: expected a number of processes",
				    value);
			options.orphans = number;
		} else if (strcmp(name, "--shutdown-on-stop") == 0) {
			if (strcmp(value, "rd") == 0)
				options.shutdown_how = SHUT_RD;
			else if (strcmp(value, "wr") == 0)
				options.shutdown_how = SHUT_WR;
			else if (strcmp(value, "rdwr") == 0)
				options.shutdown_how = SHUT_RDWR;
			else
				die(2, "--shutdown-on-stop %s: expected rd, wr or rdwr",
				    value);
		} else if (strcmp(name, "--status") == 0) {
			options.status = value;
		} else if (strcmp(name, "--print") == 0) {
			options.print = value;
		} else if (strcmp(name, "--print-on-stop") == 0) {
			options.print_on_stop = value;
		} else if (strcmp(name, "--repeat") == 0) {
			if (parse_number(value, 1, 1000000, &number) == -1)
				die(2, "--repeat %s: expected a count", value);
			options.repeat = number;
		} else if (strcmp(name, "--notify-raw") == 0 ||
		    strcmp(name, "--notify-mainpid") == 0) {
			if (options.notify_count == MAX_LISTENERS)
				die(2, "too many notify messages (at most %d)",
				    MAX_LISTENERS);
			if (strcmp(name, "--notify-mainpid") == 0) {
				char *text;
				if (parse_number(value, 1, INT_MAX, &number) == -1)
					die(2, "--notify-mainpid %s: expected a pid", value);
				text = xrealloc(NULL, 32);
				snprintf(text, 32, "MAINPID=%ld", number);
				value = text;
			}
			options.notify[options.notify_count++] = value;
		} else if (strcmp(name, "--listen") == 0) {
			if (options.listen_count == MAX_LISTENERS)
				die(2, "too many --listen (at most %d)", MAX_LISTENERS);
			options.listen[options.listen_count++] = value;
		}
	}
}

/* Copies the SigBlk and SigIgn we were started with, before we change either:
   /env reports what the supervisor gave us, not what we did since. */
static void save_start_signals(void)
{
	char line[256];
	FILE *f;

	if ((f = fopen("/proc/self/status", "re")) == NULL)
		return;
	while (fgets(line, sizeof line, f) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if (strncmp(line, "SigBlk:", 7) == 0)
			snprintf(start_sigblk, sizeof start_sigblk, "%s",
			    line + 7 + strspn(line + 7, " \t"));
		else if (strncmp(line, "SigIgn:", 7) == 0)
			snprintf(start_sigign, sizeof start_sigign, "%s",
			    line + 7 + strspn(line + 7, " \t"));
	}
	fclose(f);
}

/* Says so if libhandoff could not send what to NOTIFY_SOCKET (r < 0). */
static void notify_said(const char *what, int r)
{
	if (r < 0)
		warn("cannot send %s to NOTIFY_SOCKET %s: %s", what,
		    getenv("NOTIFY_SOCKET"), strerror(-r));
}

/* Returns text with the escapes \n, \\ and \xHH (any byte, even one that
   is not UTF-8) replaced, and its length in *lenp. */
static char *unescape(const char *text, size_t *lenp)
{
	char *out = xrealloc(NULL, strlen(text) + 1), hex[3] = "";
	size_t len = 0;
	const char *p;

	for (p = text; *p != '\0'; p++) {
		if (*p != '\\' || p[1] == '\0') {
			out[len++] = *p;
		} else if (p[1] == 'n') {
			out[len++] = '\n';
			p++;
		} else if (p[1] == '\\') {
			out[len++] = '\\';
			p++;
		} else if (p[1] == 'x' && isxdigit((unsigned char)p[2]) &&
		    isxdigit((unsigned char)p[3])) {
			hex[0] = p[2];
			hex[1] = p[3];
			out[len++] = (char)strtol(hex, NULL, 16);
			p += 3;
		} else
			out[len++] = *p;
	}
	*lenp = len;
	return out;
}

/* Sends text to NOTIFY_SOCKET verbatim, except for the escapes of unescape. */
static void notify_raw(const char *text)
{
	size_t len;
	char *out = unescape(text, &len);

	notify_said(text, handoff_notify_send(out, len));
	free(out);
}

/* Writes text to stdout times times in one write, verbatim except for the
   escapes of unescape. */
static void print_raw(const char *text, long times)
{
	size_t len, i;
	char *out = unescape(text, &len), *all;

	all = xrealloc(NULL, len * (size_t)times + 1);
	for (i = 0; i < (size_t)times; i++)
		memcpy(all + i * len, out, len);
	fflush(stdout);
	if (write(STDOUT_FILENO, all, len * (size_t)times) !=
	    (ssize_t)(len * (size_t)times))
		warn("--print: short write to stdout");
	free(all);
	free(out);
}

/* Makes fd non-blocking; other processes accept from the same sockets, so a
   wakeup may find the queue already empty. */
static void set_nonblocking(int fd)
{
	int flags = fcntl(fd, F_GETFL);

	if (flags == -1 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1)
		die(1, "fd %d: cannot make it non-blocking: %s", fd, strerror(errno));
}

/* --reuseport-inherited: SO_REUSEPORT on an inherited TCP or UDP socket. */
static void reuseport_on(int fd, const char *from)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	int on = 1;

	if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1)
		die(1, "%s: fd %d: getsockname: %s", from, fd, strerror(errno));
	if (ss.ss_family != AF_INET && ss.ss_family != AF_INET6)
		return;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) == -1)
		die(1, "%s: fd %d: cannot turn SO_REUSEPORT on: %s", from, fd,
		    strerror(errno));
}

/* Adds an inherited fd to the listeners after checking it is one. */
static void add_inherited(int fd, const char *from)
{
	int type, listening = 0;
	socklen_t len = sizeof type;

	if (listener_count == MAX_LISTENERS)
		die(1, "%s passes more than %d sockets", from, MAX_LISTENERS);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == -1)
		die(1, "%s: fd %d is not a socket: %s", from, fd, strerror(errno));
	if (type == SOCK_STREAM || type == SOCK_SEQPACKET) {
		len = sizeof listening;
		getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len);
		if (!listening)
			die(1, "%s: fd %d is a stream socket that is not listening",
			    from, fd);
		type = SOCK_STREAM;
	} else if (type != SOCK_DGRAM)
		die(1, "%s: fd %d has socket type %d, neither stream nor datagram",
		    from, fd, type);
	if (options.reuseport_inherited)
		reuseport_on(fd, from);
	set_nonblocking(fd);
	listeners[listener_count++] = (struct listener){ .fd = fd, .type = type };
}

/* Takes the sockets the supervisor passed: LISTEN_FDS (fds 3.., for the pid in
   LISTEN_PID), else the fd numbers in SERVER_STARTER_PORT. */
static void take_inherited_sockets(void)
{
	const char *count = getenv("LISTEN_FDS"), *pid = getenv("LISTEN_PID");
	const char *ports = getenv("SERVER_STARTER_PORT");
	char *copy, *item, *save, *equals;
	long number;
	int n;

	if ((n = handoff_listen_fds()) < 0)
		die(1, "LISTEN_FDS %s, LISTEN_PID %s: %s", count ? count : "unset",
		    pid ? pid : "unset", strerror(-n));
	/* Strict, to catch a supervisor that passes sockets to another pid. */
	if (n == 0 && count != NULL)
		die(1, "LISTEN_PID is %s, not our pid %d: the sockets in "
		    "LISTEN_FDS are not meant for us", pid ? pid : "unset",
		    (int)getpid());
	if (n > 0) {
		for (number = 0; number < n; number++)
			add_inherited(HANDOFF_LISTEN_FDS_START + (int)number,
			    "LISTEN_FDS");
		return;
	}
	if (ports == NULL)
		return;
	/* "127.0.0.1:8080=3;/run/s.sock=4": the number after the last '='. */
	copy = xrealloc(NULL, strlen(ports) + 1);
	memcpy(copy, ports, strlen(ports) + 1);
	for (item = strtok_r(copy, ";", &save); item != NULL;
	    item = strtok_r(NULL, ";", &save)) {
		if ((equals = strrchr(item, '=')) == NULL ||
		    parse_number(equals + 1, 0, INT_MAX, &number) == -1)
			die(1, "SERVER_STARTER_PORT %s: expected ADDR=FD;ADDR=FD", ports);
		add_inherited((int)number, "SERVER_STARTER_PORT");
	}
	free(copy);
}

/* Binds one --listen address (HOST:PORT, udp:HOST:PORT or unix:/PATH) and adds
   it to the listeners; exits 1 if it cannot. */
static void bind_address(const char *address)
{
	struct addrinfo hints = { .ai_flags = AI_PASSIVE | AI_NUMERICSERV }, *res;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	const char *rest = address, *colon;
	char host[256];
	struct stat st;
	int fd, on = 1, error;

	if (listener_count == MAX_LISTENERS)
		die(1, "too many sockets (at most %d)", MAX_LISTENERS);
	if (strncmp(address, "unix:", 5) == 0) {
		if (strlen(address + 5) >= sizeof sun.sun_path || address[5] == '\0')
			die(1, "%s: bad unix socket path", address);
		strcpy(sun.sun_path, address + 5);
		/* Replace a stale socket file (a previous run's), never anything else. */
		if (lstat(sun.sun_path, &st) == 0 && S_ISSOCK(st.st_mode))
			unlink(sun.sun_path);
		if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
		    bind(fd, (struct sockaddr *)&sun, sizeof sun) == -1 ||
		    listen(fd, 1024) == -1)
			die(1, "%s: %s", address, strerror(errno));
		set_nonblocking(fd);
		listeners[listener_count++] = (struct listener){ fd, SOCK_STREAM };
		return;
	}
	hints.ai_socktype = SOCK_STREAM;
	if (strncmp(address, "udp:", 4) == 0) {
		hints.ai_socktype = SOCK_DGRAM;
		rest = address + 4;
	}
	if ((colon = strrchr(rest, ':')) == NULL || (size_t)(colon - rest) >= sizeof host)
		die(1, "%s: expected HOST:PORT, udp:HOST:PORT or unix:/PATH", address);
	memcpy(host, rest, (size_t)(colon - rest));
	host[colon - rest] = '\0';
	if (host[0] == '[' && colon[-1] == ']') {	/* [::1]:8080 */
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	}
	if ((error = getaddrinfo(host[0] ? host : NULL, colon + 1, &hints, &res)) != 0)
		die(1, "%s: %s", address, gai_strerror(error));
	/* SO_REUSEPORT so that two generations can bind together ("self" mode). */
	if ((fd = socket(res->ai_family, hints.ai_socktype | SOCK_CLOEXEC, 0)) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) == -1 ||
	    bind(fd, res->ai_addr, res->ai_addrlen) == -1 ||
	    (hints.ai_socktype == SOCK_STREAM && listen(fd, 1024) == -1))
		die(1, "%s: %s", address, strerror(errno));
	freeaddrinfo(res);
	set_nonblocking(fd);
	listeners[listener_count++] = (struct listener){ fd, hints.ai_socktype };
}

/* Lets us hold as many clients as the hard limit allows. */
static void raise_fd_limit(void)
{
	struct rlimit limit;

	if (getrlimit(RLIMIT_NOFILE, &limit) == 0)
		start_nofile = (unsigned long long)limit.rlim_cur;
	if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
		limit.rlim_cur = limit.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &limit) == -1)
			warn("cannot raise the open files limit: %s", strerror(errno));
	}
}

/* Remembers that SIGTERM or SIGINT (or, in the daemon, SIGUSR2) arrived;
   the main loop does the rest. */
static void on_stop_signal(int signo)
{
	if (signo == SIGUSR2)
		exit_requested = 1;
	else if (signo == SIGUSR1)
		ready_requested = 1;
	else
		stop_requested = 1;
}

/* Overwrites the environment block that /proc/PID/environ shows, as
   setproctitle does, and empties environ. */
static void clobber_environment(void)
{
	extern char **environ;
	char *start, *end;
	size_t i;

	if (environ == NULL || environ[0] == NULL)
		return;
	start = end = environ[0];
	for (i = 0; environ[i] != NULL && environ[i] == end; i++)
		end = environ[i] + strlen(environ[i]) + 1;
	clearenv();
	memset(start, 0, (size_t)(end - start));
	snprintf(start, (size_t)(end - start), "testserver: daemon");
}

/* Double-forks a daemon outside our process group and session that keeps
   serving our sockets; returns 1 in the daemon, 0 in the worker once the
   daemon runs (reparented: its parent has exited). */
static int spawn_daemon(void)
{
	pid_t middle, pid = 0;
	int fds[2];

	fflush(NULL);
	if (pipe(fds) == -1 || (middle = fork()) == -1)
		die(1, "spawn daemon: %s", strerror(errno));
	if (middle == 0) {
		close(fds[0]);
		if (setsid() == -1 || (pid = fork()) == -1)
			_exit(1);
		if (pid > 0) {
			if (write(fds[1], &pid, sizeof pid) != (ssize_t)sizeof pid)
				_exit(1);
			_exit(0);
		}
		close(fds[1]);
		is_daemon = 1;
		clobber_environment();
		if (options.daemon_ignore_term)
			signal(SIGTERM, SIG_IGN);
		return 1;
	}
	close(fds[1]);
	if (read(fds[0], &pid, sizeof pid) != (ssize_t)sizeof pid)
		die(1, "spawn daemon: it did not start");
	close(fds[0]);
	waitpid(middle, NULL, 0);
	warn("spawned daemon pid %d (own session)", (int)pid);
	return 0;
}

/* Forks a grandchild that ignores SIGTERM and sleeps forever in our process
   group: only a supervisor that kills the whole group gets rid of it. Like a
   real stray child it keeps stdout and stderr (the supervisor's log pipes). */
static void spawn_stubborn_child(void)
{
	sigset_t none;
	pid_t pid;
	int i;

	fflush(NULL);
	if ((pid = fork()) == -1)
		die(1, "fork: %s", strerror(errno));
	if (pid > 0) {
		warn("spawned child pid %d (ignores SIGTERM)", (int)pid);
		return;
	}
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	for (i = 0; i < listener_count; i++)	/* it holds no socket, only the group */
		close(listeners[i].fd);
	for (;;)
		pause();
}

/* Starts n children in sessions of their own, which wait to be killed. */
static void spawn_orphans(long n)
{
	sigset_t none;
	pid_t pid;
	long k;
	int i;

	fflush(NULL);
	for (k = 0; k < n; k++) {
		if ((pid = fork()) == -1)
			die(1, "fork: %s", strerror(errno));
		if (pid > 0)
			continue;
		setsid();
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		for (i = 0; i < listener_count; i++)
			close(listeners[i].fd);
		for (;;)
			pause();
	}
	warn("spawned %ld children in sessions of their own", n);
}

/* Forks a child that writes lines to stdout as fast as it can, in our
   process group, and dies with us (or when nobody reads its pipe). */
static void spawn_flooder(void)
{
	static char lines[64 * 1024];
	pid_t parent = getpid(), pid;
	size_t len = 0;
	sigset_t none;
	int i;

	fflush(NULL);
	if ((pid = fork()) == -1)
		die(1, "fork: %s", strerror(errno));
	if (pid > 0)
		return;
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) == -1 || getppid() != parent)
		_exit(0);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	for (i = 0; i < listener_count; i++)	/* it holds no socket */
		close(listeners[i].fd);
	while (len + 64 < sizeof lines)
		len += (size_t)snprintf(lines + len, sizeof lines - len,
		    "flood from pid %d: the quick brown fox jumps\n", (int)getpid());
	for (;;)
		if (write(STDOUT_FILENO, lines, len) == -1 && errno != EINTR)
			_exit(1);
}

/* Appends the /env report to body: what this process was started with. */
static void describe_environment(struct buffer *body)
{
	static const char *names[] = {
		"LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "SERVER_STARTER_PORT",
		"EINHORN_FD_COUNT", "EINHORN_FD_0", "EINHORN_FD_1", "EINHORN_FD_2",
		"EINHORN_FD_3", "EINHORN_FD_4", "EINHORN_FD_5", "EINHORN_FD_6",
		"EINHORN_FD_7", "HANDOFF_GENERATION", "HANDOFF_WORKER", "NOTIFY_SOCKET",
		"TEST_TAG",
	};
	char path[64], target[PATH_MAX], cwd[PATH_MAX];
	struct dirent *entry;
	gid_t *groups;
	size_t i;
	long fd;
	int ngroups, own, n;
	DIR *dir;

	/* Open fds in ascending order, except the directory's own fd and our
	   client connections: what remains is what we inherited or bound. */
	if ((dir = opendir("/proc/self/fd")) != NULL) {
		long max = -1;
		while ((entry = readdir(dir)) != NULL)
			if (parse_number(entry->d_name, 0, INT_MAX, &fd) == 0 && fd > max)
				max = fd;
		for (fd = 0; fd <= max; fd++) {
			if (fd == dirfd(dir) || fcntl((int)fd, F_GETFD) == -1)
				continue;
			for (own = 0, i = 0; i < client_count; i++)
				if (clients[i]->fd == fd)
					own = 1;
			if (own)
				continue;
			snprintf(path, sizeof path, "/proc/self/fd/%ld", fd);
			if ((n = (int)readlink(path, target, sizeof target - 1)) < 0)
				n = 0;
			target[n] = '\0';
			buffer_printf(body, "fd %ld: %s\n", fd, target);
		}
		closedir(dir);
	}
	for (i = 0; i < sizeof names / sizeof names[0]; i++)
		if (getenv(names[i]) != NULL)
			buffer_printf(body, "%s=%s\n", names[i], getenv(names[i]));
	buffer_printf(body, "pid=%d\nuid=%d\ngid=%d\ngroups=", (int)getpid(),
	    (int)getuid(), (int)getgid());
	if ((ngroups = getgroups(0, NULL)) > 0) {
		groups = xrealloc(NULL, sizeof *groups * (size_t)ngroups);
		ngroups = getgroups(ngroups, groups);
		for (n = 0; n < ngroups; n++)
			buffer_printf(body, "%s%d", n ? "," : "", (int)groups[n]);
		free(groups);
	}
	buffer_printf(body, "\nsigmask=%s\nsigign=%s\nnofile=%llu\ncwd=%s\n",
	    start_sigblk, start_sigign, start_nofile,
	    getcwd(cwd, sizeof cwd) ? cwd : "?");
}

/* Builds the HTTP response to the request client has read. */
static void prepare_response(struct client *client)
{
	struct buffer body = { 0 }, response = { 0 };
	const char *path = strchr(client->request, ' ');
	size_t path_len = 0;

	if (path != NULL) {
		path++;
		path_len = strcspn(path, " \r\n?");
	}
	if (path_len == 4 && strncmp(path, "/env", 4) == 0)
		describe_environment(&body);
	else
		buffer_printf(&body, "gen=%s pid=%d worker=%s\n", generation,
		    (int)getpid(), worker);
	buffer_printf(&response, "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n"
	    "Content-Length: %zu\r\nConnection: close\r\n\r\n%s", body.len, body.data);
	free(body.data);
	client->response = response.data;
	client->response_len = response.len;
	client->response_sent = 0;
	client->state = CLIENT_WRITING;
}

/* Closes a client's fd; it leaves the table at the end of the round. */
static void close_client(struct client *client)
{
	close(client->fd);
	client->fd = -1;
	client->state = CLIENT_CLOSED;
}

/* The request is complete: answer now, or after --delay-response. */
static void request_complete(struct client *client, long long now)
{
	if (options.delay_response > 0) {
		client->state = CLIENT_DELAYING;
		client->deadline = now + options.delay_response;
	} else
		prepare_response(client);
}

/* Reads what the client sent, until the end of the head, EOF or 4 KiB. */
static void client_read(struct client *client, long long now)
{
	ssize_t got;

	for (;;) {
		got = read(client->fd, client->request + client->request_len,
		    REQUEST_MAX - client->request_len);
		if (got == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (got == -1 || (got == 0 && client->request_len == 0)) {
			close_client(client);	/* reset, or closed without asking */
			return;
		}
		client->request_len += (size_t)got;
		client->request[client->request_len] = '\0';
		if (got == 0 || client->request_len == REQUEST_MAX ||
		    strstr(client->request, "\r\n\r\n") != NULL) {
			request_complete(client, now);
			return;
		}
	}
}

/* Sends what is left of the response; then shuts our side and lingers until
   the client closes, so that unread input cannot turn our close into a reset. */
static void client_write(struct client *client, long long now)
{
	ssize_t sent;

	while (client->response_sent < client->response_len) {
		sent = send(client->fd, client->response + client->response_sent,
		    client->response_len - client->response_sent,
		    MSG_NOSIGNAL | MSG_DONTWAIT);
		if (sent == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (sent == -1) {
			close_client(client);
			return;
		}
		client->response_sent += (size_t)sent;
	}
	shutdown(client->fd, SHUT_WR);
	client->state = CLIENT_LINGERING;
	client->deadline = now + LINGER_MS;
}

/* Discards input after the response until the client closes. */
static void client_linger(struct client *client)
{
	char scratch[4096];
	ssize_t got;

	while ((got = read(client->fd, scratch, sizeof scratch)) > 0)
		;
	if (got == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
		close_client(client);
}

/* Accepts up to max connections a stream listener has queued; EAGAIN means
   another process took them. Returns how many it accepted, or -1 if we ran
   out of fds (accepting pauses a moment). */
static int accept_clients(int listen_fd, int max)
{
	struct client *client;
	int fd, i, accepted = 0;

	for (i = 0; i < max; i++) {
		fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				warn("accept: %s; pausing accepts", strerror(errno));
				return -1;
			}
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return accepted;
			continue;	/* ECONNABORTED, EINTR, EPROTO...: the next one */
		}
		if (client_count == client_space) {
			client_space = client_space ? client_space * 2 : 64;
			clients = xrealloc(clients, client_space * sizeof *clients);
		}
		client = xrealloc(NULL, sizeof *client);
		memset(client, 0, sizeof *client);
		client->fd = fd;
		client->state = CLIENT_READING;
		clients[client_count++] = client;
		accepted++;
	}
	return accepted;
}

/* Answers the datagrams a datagram listener has queued with "gen=G pid=PID
   worker=W", and " seq=TOKEN" if the datagram starts with "seq=TOKEN". */
static void answer_datagrams(int fd)
{
	struct sockaddr_storage peer;
	socklen_t peer_len;
	char datagram[65536], reply[256];
	size_t token;
	ssize_t got;
	int i, n;

	for (i = 0; i < ACCEPT_BURST; i++) {
		peer_len = sizeof peer;
		if ((got = recvfrom(fd, datagram, sizeof datagram - 1, MSG_DONTWAIT,
		    (struct sockaddr *)&peer, &peer_len)) == -1)
			return;
		datagram[got] = '\0';
		token = strncmp(datagram, "seq=", 4) == 0 ?
		    strcspn(datagram + 4, " \t\r\n") : 0;
		n = snprintf(reply, sizeof reply, "gen=%s pid=%d worker=%s%s%.*s\n",
		    generation, (int)getpid(), worker, token ? " seq=" : "",
		    (int)(token < 64 ? token : 64), datagram + 4);
		if (n < 0 || (size_t)n >= sizeof reply)
			n = (int)sizeof reply - 1;	/* cut short: still an answer */
		/* An unbound unix datagram sender has no address to answer. */
		if (peer_len > sizeof(sa_family_t))
			sendto(fd, reply, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL,
			    (struct sockaddr *)&peer, peer_len);
	}
}

/* Sends READY=1 once without waiting for room in NOTIFY_SOCKET's queue:
   EAGAIN when the supervisor has not read the datagrams before it. */
static void ready_nonblocking(void)
{
	const char *path = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sun;
	int fd;

	if (path == NULL || (path[0] != '/' && path[0] != '@') ||
	    strlen(path) >= sizeof(sun.sun_path)) {
		warn("--ready-nonblocking: NOTIFY_SOCKET %s is no socket path",
		    path ? path : "(unset)");
		return;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path));
	if (path[0] == '@')
		sun.sun_path[0] = '\0';
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0)) == -1 || sendto(fd, "READY=1", 7, MSG_NOSIGNAL,
	    (struct sockaddr *)&sun, (socklen_t)(offsetof(struct sockaddr_un,
	    sun_path) + strlen(path))) == -1)
		warn("cannot send READY=1 to NOTIFY_SOCKET %s without waiting: %s",
		    path, strerror(errno));
	if (fd != -1)
		close(fd);
}

/* Becomes ready: binds the --listen addresses, starts accepting and says so. */
static void become_ready(void)
{
	int i;

	if (options.exit_before_ready >= 0) {
		warn("exiting with %d before ready, as asked", options.exit_before_ready);
		exit(options.exit_before_ready);
	}
	for (i = 0; i < options.listen_count; i++)
		bind_address(options.listen[i]);
	if (options.spawn_daemon && spawn_daemon())
		return;		/* the daemon serves; it is nobody's worker */
	if (options.ready_nonblocking)
		ready_nonblocking();
	else
		notify_said("READY=1", handoff_ready());
	if (options.print_ready) {
		printf("ready pid=%d gen=%s\n", (int)getpid(), generation);
		fflush(stdout);
	}
}

/* Starts draining: says STOPPING=1 and closes the listeners (shutting
   stream ones down first with --shutdown-on-stop); clients in flight are
   still served. */
static void begin_stop(void)
{
	int i, shut = 0;

	notify_said("STOPPING=1", handoff_stopping());
	if (options.print_on_stop != NULL)
		print_raw(options.print_on_stop, 1);
	for (i = 0; i < listener_count; i++) {
		if (options.shutdown_how != -1 && listeners[i].type == SOCK_STREAM) {
			if (shutdown(listeners[i].fd, options.shutdown_how) == 0)
				shut++;
			else
				warn("shutdown of fd %d: %s", listeners[i].fd,
				    strerror(errno));
		}
		close(listeners[i].fd);
	}
	if (options.shutdown_how != -1) {
		printf("shut down %d listener(s) pid=%d gen=%s\n", shut,
		    (int)getpid(), generation);
		fflush(stdout);
	}
	listener_count = 0;
}

/* Returns the earlier of two deadlines, NEVER being the latest. */
static long long earliest(long long a, long long b)
{
	if (a == NEVER)
		return b;
	if (b == NEVER)
		return a;
	return a < b ? a : b;
}

int main(int argc, char **argv)
{
	struct sigaction action = { .sa_handler = on_stop_signal };
	sigset_t handled, while_waiting;
	struct pollfd *polls = NULL;
	size_t poll_space = 0, polled, i, kept;
	long long start, now, ready_at, crash_at, drain_until = NEVER;
	long long accept_paused_until = NEVER, next;
	long long accept_delayed_until = NEVER;	/* --accept-delay */
	struct timespec timeout;
	int ready = 0, stopping = 0, n, accepted;
	long line;

	save_start_signals();		/* first: before we touch the mask */
	parse_options(argc, argv);
	/* Copies: a daemon overwrites the environment. */
	if (getenv("HANDOFF_GENERATION") != NULL &&
	    (generation = strdup(getenv("HANDOFF_GENERATION"))) == NULL)
		die(1, "out of memory");
	if (getenv("HANDOFF_WORKER") != NULL &&
	    (worker = strdup(getenv("HANDOFF_WORKER"))) == NULL)
		die(1, "out of memory");
	raise_fd_limit();

	sigemptyset(&handled);
	if (!options.ignore_term)
		sigaddset(&handled, SIGTERM);
	sigaddset(&handled, SIGINT);
	if (options.spawn_daemon)
		sigaddset(&handled, SIGUSR2);
	if (options.ready_on_usr1)
		sigaddset(&handled, SIGUSR1);
	sigprocmask(SIG_BLOCK, &handled, &while_waiting);
	sigdelset(&while_waiting, SIGTERM);
	sigdelset(&while_waiting, SIGINT);
	sigdelset(&while_waiting, SIGUSR2);
	sigdelset(&while_waiting, SIGUSR1);
	sigaction(SIGINT, &action, NULL);
	if (options.ready_on_usr1)
		sigaction(SIGUSR1, &action, NULL);
	if (options.spawn_daemon)
		sigaction(SIGUSR2, &action, NULL);
	if (options.ignore_term)
		signal(SIGTERM, SIG_IGN);
	else
		sigaction(SIGTERM, &action, NULL);

	take_inherited_sockets();
	for (line = 1; line <= options.noise; line++)
		printf("noise %ld/%ld from pid %d gen %s\n", line, options.noise,
		    (int)getpid(), generation);
	fflush(stdout);
	if (options.status != NULL)
		notify_said("STATUS=", handoff_status("%s", options.status));
	for (n = 0; n < options.notify_count; n++)
		notify_raw(options.notify[n]);
	if (options.long_line > 0) {
		for (line = 0; line < options.long_line; line++)
			putchar('x');
		putchar('\n');
		fflush(stdout);
	}
	if (options.print != NULL)
		print_raw(options.print, options.repeat > 0 ? options.repeat : 1);
	if (options.spawn_child)
		spawn_stubborn_child();
	if (options.orphans > 0)
		spawn_orphans(options.orphans);
	if (options.flood)
		spawn_flooder();

	start = now_ms();
	ready_at = options.never_ready || options.ready_on_usr1 ? NEVER :
	    start + options.ready_after;
	crash_at = options.crash_after == NEVER ? NEVER : start + options.crash_after;

	for (;;) {
		now = now_ms();
		if (is_daemon && exit_requested) {
			for (i = 0; i < client_count; i++) {
				close(clients[i]->fd);
				free(clients[i]->response);
				free(clients[i]);
			}
			free(polls);
			free(clients);
			return 0;
		}
		if (stop_requested && !stopping) {
			stopping = 1;
			begin_stop();
			drain_until = now + options.drain_delay;
		}
		if (!ready && !stopping && ((ready_at != NEVER && now >= ready_at) ||
		    ready_requested)) {
			ready = 1;
			become_ready();
		}
		if (crash_at != NEVER && now >= crash_at)
			die(3, "crashing after %lld ms, as asked", options.crash_after);
		if (accept_paused_until != NEVER && now >= accept_paused_until)
			accept_paused_until = NEVER;
		if (accept_delayed_until != NEVER && now >= accept_delayed_until)
			accept_delayed_until = NEVER;

		/* Client timers: responses due, lingering clients given up on. */
		next = earliest(stopping ? NEVER : (ready ? NEVER : ready_at), crash_at);
		next = earliest(next, accept_paused_until);
		next = earliest(next, accept_delayed_until);
		for (i = 0; i < client_count; i++) {
			struct client *client = clients[i];
			if (client->state == CLIENT_DELAYING && now >= client->deadline)
				prepare_response(client);
			else if (client->state == CLIENT_LINGERING && now >= client->deadline)
				close_client(client);
			else if (client->state == CLIENT_DELAYING ||
			    client->state == CLIENT_LINGERING)
				next = earliest(next, client->deadline);
		}
		for (i = kept = 0; i < client_count; i++) {
			if (clients[i]->state == CLIENT_CLOSED) {
				free(clients[i]->response);
				free(clients[i]);
			} else
				clients[kept++] = clients[i];
		}
		client_count = kept;

		/* A daemon lingers once stopped, until SIGUSR2. */
		if (stopping && client_count == 0 && !is_daemon) {
			if (now >= drain_until) {
				free(polls);
				free(clients);
				return 0;
			}
			next = earliest(next, drain_until);
		}

		/* Listeners first, then one entry per client (fd -1: not watched). */
		if (poll_space < (size_t)listener_count + client_count) {
			poll_space = ((size_t)listener_count + client_count) * 2;
			polls = xrealloc(polls, poll_space * sizeof *polls);
		}
		for (n = 0; n < listener_count; n++) {
			polls[n].fd = ready && accept_paused_until == NEVER &&
			    (listeners[n].type == SOCK_DGRAM ||
			    accept_delayed_until == NEVER) ? listeners[n].fd : -1;
			polls[n].events = POLLIN | POLLRDHUP;
		}
		for (i = 0; i < client_count; i++) {
			struct pollfd *p = &polls[(size_t)listener_count + i];
			p->fd = clients[i]->fd;
			p->events = clients[i]->state == CLIENT_WRITING ? POLLOUT : POLLIN;
			if (clients[i]->state == CLIENT_DELAYING)
				p->fd = -1;
		}
		if (next != NEVER) {
			next = next > now ? next - now : 0;
			timeout.tv_sec = next / 1000;
			timeout.tv_nsec = (next % 1000) * 1000000;
		}
		/* Clients accepted below join the table after these. */
		polled = client_count;
		if (ppoll(polls, (size_t)listener_count + polled,
		    next == NEVER ? NULL : &timeout, &while_waiting) == -1) {
			if (errno == EINTR)
				continue;
			die(1, "poll: %s", strerror(errno));
		}

		now = now_ms();
		for (n = 0; n < listener_count; n++) {
			if (polls[n].fd == -1 || polls[n].revents == 0)
				continue;
			/*
			 * Shut down by another process holding it: accept()
			 * fails while poll() says ready, for ever (and ppoll
			 * would never let SIGTERM in). Pause a moment: the
			 * supervisor may make it listen again.
			 */
			if (listeners[n].type == SOCK_STREAM &&
			    (polls[n].revents & (POLLHUP | POLLRDHUP)))
				accept_paused_until = now + 100;
			else if (listeners[n].type == SOCK_DGRAM)
				answer_datagrams(listeners[n].fd);
			else if (accept_delayed_until != NEVER)
				continue;	/* accepted on another listener */
			else if ((accepted = accept_clients(listeners[n].fd,
			    options.accept_delay > 0 ? 1 : ACCEPT_BURST)) == -1)
				accept_paused_until = now + 100;
			else if (accepted > 0 && options.accept_delay > 0)
				accept_delayed_until = now + options.accept_delay;
		}
		for (i = 0; i < polled; i++) {
			struct pollfd *p = &polls[(size_t)listener_count + i];
			if (p->fd == -1 || p->revents == 0)
				continue;
			if (clients[i]->state == CLIENT_READING)
				client_read(clients[i], now);
			if (clients[i]->state == CLIENT_WRITING)
				client_write(clients[i], now);
			else if (clients[i]->state == CLIENT_LINGERING)
				client_linger(clients[i]);
		}
	}
}
