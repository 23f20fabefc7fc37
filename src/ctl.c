/*
 * ctl.c: `handoff reload`, `handoff status`, `handoff stop`: connect to a
 * running supervisor's control socket, send one request, print what comes
 * back. The socket is found from -s PATH, or from the [supervisor] section
 * of the config (-c FILE, or the default config path).
 */
#include "autoconf.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "cause.h"
#include "confpath.h"
#include "control.h"
#include "ctl.h"
#include "ctllock.h"
#include "parse.h"
#include "unixaddr.h"

#define CTL_AGAIN_TRIES	3	/* requests sent, the supervisor saying to
				   ask again, before giving up */
#define CTL_ASK_AGAIN	(-2)	/* ctl_answer: told to ask again */

/* Options every control command takes. */
struct ctl_target {
	const char	*config;
	const char	*socket;
};

/*
 * Believe the server connected on fd only if root or we run it: the
 * socket file, its directory and the server's credentials (SO_PEERCRED)
 * must all be root's or ours, and nobody else may write to the directory.
 * Otherwise another user could be posing as the supervisor. Says why not
 * and returns -1; stores the server's pid in *peer.
 */
static int
ctl_trust(int fd, const char *path, const char *cmd, pid_t *peer)
{
	uid_t me = geteuid();
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct stat st;
	char *cause = NULL;

	if (lstat(path, &st) == 0 && st.st_uid != me && st.st_uid != 0) {
		fprintf(stderr, "handoff %s: %s belongs to uid %u, neither you "
		    "(uid %u) nor root: not trusting it (another user may be "
		    "posing as the supervisor)\n", cmd, path,
		    (unsigned)st.st_uid, (unsigned)me);
		return -1;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1) {
		fprintf(stderr, "handoff %s: %s: cannot tell who serves it: %s\n",
		    cmd, path, strerror(errno));
		return -1;
	}
	if (cred.uid != me && cred.uid != 0) {
		fprintf(stderr, "handoff %s: %s is served by pid %d of uid %u, "
		    "neither you (uid %u) nor root: not trusting it (another "
		    "user may be posing as the supervisor)\n", cmd, path,
		    (int)cred.pid, (unsigned)cred.uid, (unsigned)me);
		return -1;
	}
	if (ctllock_dir_trusted(path, me, &cause) == -1) {
		fprintf(stderr, "handoff %s: not trusting %s: %s\n", cmd, path,
		    cause_text(cause));
		free(cause);
		return -1;
	}
	*peer = cred.pid;
	return 0;
}

/*
 * Connect to the supervisor; on failure say why and return -1 (*code is
 * then the exit code: 2 for a config that cannot be read, 1 otherwise).
 * The supervisor's pid is stored in *peer.
 */
static int
ctl_connect(const struct ctl_target *t, const char *cmd, pid_t *peer,
    int *code)
{
	struct sockaddr_un sun;
	socklen_t sunlen;
	char *path = NULL, *cause = NULL;
	const char *config = t->config ? t->config : config_default_path();
	const char *why = "out of memory";
	int fd;

	if (t->socket != NULL)
		path = strdup(t->socket);
	else if (config_peek_control(config, &path, &cause) == -1) {
		fprintf(stderr, "handoff %s: %s\n", cmd, cause_text(cause));
		free(cause);
		*code = 2;
		return -1;
	}
	*code = 1;
	if (path == NULL ||
	    unixaddr_make(path, UNIXADDR_FILE, &sun, &sunlen, &why) == -1) {
		fprintf(stderr, "handoff %s: control socket %s: %s\n", cmd,
		    path != NULL ? path : "", why);
		free(path);
		return -1;
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    connect(fd, (struct sockaddr *)&sun, sunlen) == -1) {
		if ((errno == ENOENT || errno == ECONNREFUSED) && t->socket != NULL)
			fprintf(stderr, "handoff %s: no supervisor is running on "
			    "%s\n", cmd, path);
		else if (errno == ENOENT || errno == ECONNREFUSED)
			fprintf(stderr, "handoff %s: no supervisor is running on "
			    "%s (start one with: handoff run -c %s)\n", cmd, path,
			    config);
		else
			fprintf(stderr, "handoff %s: cannot connect to %s: %s\n",
			    cmd, path, strerror(errno));
		if (fd != -1)
			close(fd);
		free(path);
		return -1;
	}
	if (ctl_trust(fd, path, cmd, peer) == -1) {
		close(fd);
		free(path);
		return -1;
	}
	free(path);
	return fd;
}

/*
 * Wait (at most timeout_ms) for a process that is not our child to exit:
 * a pidfd becomes readable when it does.
 */
static int
ctl_wait_exit(pid_t pid, int timeout_ms)
{
	struct pollfd pfd;
	int fd, rc;

	fd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (fd == -1)
		return errno == ESRCH ? 0 : -1;
	pfd.fd = fd;
	pfd.events = POLLIN;
	do
		rc = poll(&pfd, 1, timeout_ms);
	while (rc == -1 && errno == EINTR);
	close(fd);
	return rc == 1 ? 0 : -1;
}

/* Send the request line. */
static int
ctl_send(int fd, const char *request, const char *cmd)
{
	char line[CONTROL_REQUEST_MAX];
	size_t len, off = 0;
	ssize_t n;

	len = (size_t)snprintf(line, sizeof(line), "%s %s\n", CONTROL_PROTOCOL,
	    request);
	while (off < len) {
		n = send(fd, line + off, len - off, MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		/*
		 * A supervisor that refuses us (too many clients, another
		 * uid) answers and closes at once: read why, not EPIPE.
		 */
		if (n == -1 && (errno == EPIPE || errno == ECONNRESET))
			return 0;
		if (n == -1) {
			fprintf(stderr, "handoff %s: cannot send the request: %s\n",
			    cmd, strerror(errno));
			return -1;
		}
		off += (size_t)n;
	}
	return 0;
}

/*
 * Read one answer line (without its newline): its kind, and in *text what
 * it says (NULL for a bare "ok"); for an error, *code is the exit code (2
 * for a bad request, 1 otherwise). An error of code
 * CONTROL_ERROR_AGAIN is CTL_ANSWER_AGAIN.
 */
enum ctl_answer
ctl_parse_answer(const char *line, const char **text, int *code)
{
	char *end;
	long n;

	*text = NULL;
	*code = 1;
	if (strncmp(line, "data", 4) == 0 && (line[4] == ' ' || line[4] == '\0')) {
		*text = line[4] ? line + 5 : "";
		return CTL_ANSWER_DATA;
	}
	if (strncmp(line, "progress ", 9) == 0) {
		*text = line + 9;
		return CTL_ANSWER_PROGRESS;
	}
	if (strncmp(line, "ok", 2) == 0 && (line[2] == ' ' || line[2] == '\0')) {
		*text = line[2] ? line + 3 : NULL;
		return CTL_ANSWER_OK;
	}
	if (strncmp(line, "error ", 6) == 0) {
		n = strtol(line + 6, &end, 10);
		*code = n == CONTROL_ERROR_REQUEST ? 2 : 1;
		*text = *end == ' ' ? end + 1 : end;
		return n == CONTROL_ERROR_AGAIN ? CTL_ANSWER_AGAIN :
		    CTL_ANSWER_ERROR;
	}
	*text = line;
	return CTL_ANSWER_UNKNOWN;
}

/*
 * Say that the answer did not come whole: the connection ended (or its
 * read failed with err, 0 if it did not) after lines lines, before the
 * last one.
 */
static void
ctl_say_cut(const char *cmd, size_t lines, int err)
{
	if (lines == 0)
		fprintf(stderr, "handoff %s: the supervisor closed the connection "
		    "without an answer%s%s\n", cmd, err != 0 ? ": " : "",
		    err != 0 ? strerror(err) : "");
	else
		fprintf(stderr, "handoff %s: the answer was cut short: the "
		    "connection ended before its last line%s%s\n", cmd,
		    err != 0 ? ": " : "", err != 0 ? strerror(err) : "");
}

/*
 * Read the answer line by line: "progress" lines to stdout as they come,
 * "data" lines (a status) held until the final "ok" and then printed, so
 * that an answer cut short never looks whole; a last line without its
 * newline is cut too. Returns the exit code: 0 ok, 1 failed, 2 bad
 * request; or CTL_ASK_AGAIN, having said nothing, when the supervisor
 * says to ask again and again_ok is set (when it is not, that is an
 * error like any other). Closes fd.
 */
static int
ctl_answer(int fd, const char *cmd, int quiet_ok, int again_ok)
{
	FILE *fp = fdopen(fd, "r"), *held;
	char *line = NULL, *data = NULL;
	const char *text;
	size_t cap = 0, datalen = 0, lines = 0;
	ssize_t len;
	int code = -1, error_code, err = 0;

	if (fp == NULL) {
		close(fd);
		return 1;
	}
	/* Without memory to hold them, data lines go out as they come. */
	if ((held = open_memstream(&data, &datalen)) == NULL)
		held = stdout;
	while (code == -1 && (len = getline(&line, &cap, fp)) != -1) {
		if (line[len - 1] != '\n')
			break;		/* cut in the middle of a line */
		line[--len] = '\0';
		lines++;
		switch (ctl_parse_answer(line, &text, &error_code)) {
		case CTL_ANSWER_DATA:
			fprintf(held, "%s\n", text);
			break;
		case CTL_ANSWER_PROGRESS:
			printf("%s\n", text);
			fflush(stdout);
			break;
		case CTL_ANSWER_OK:
			if (held != stdout && fclose(held) == 0)
				fwrite(data, 1, datalen, stdout);
			held = stdout;
			if (!quiet_ok && text != NULL)
				printf("%s\n", text);
			code = 0;
			break;
		case CTL_ANSWER_AGAIN:
			if (again_ok) {
				code = CTL_ASK_AGAIN;
				break;
			}
			/* FALLTHROUGH */
		case CTL_ANSWER_ERROR:
			fprintf(stderr, "handoff %s: %s\n", cmd, text);
			code = error_code;
			break;
		case CTL_ANSWER_UNKNOWN:
			fprintf(stderr, "handoff %s: unexpected answer: %s\n", cmd,
			    text);
			code = 1;
			break;
		}
	}
	if (code == -1 && ferror(fp))
		err = errno;
	if (code == -1 && (err == EAGAIN || err == EWOULDBLOCK)) {
		fprintf(stderr, "handoff %s: no answer from the supervisor in time "
		    "(is it stopped or stuck? see its pid in the pidfile)\n", cmd);
		code = 1;
	} else if (code == -1) {
		ctl_say_cut(cmd, lines, err);
		code = 1;
	}
	if (held != stdout)
		fclose(held);
	fflush(stdout);
	free(data);
	free(line);
	fclose(fp);
	return code;
}

/* One request of a command, for ctl_ask. */
struct ctl_request {
	const char	*cmd;		/* the command, for messages */
	const char	*line;		/* the request, after "HANDOFF/1 " */
	int		 quiet_ok;	/* do not print the "ok" line's text */
	int		 again;		/* ask again when told to */
	int		 timeout_s;	/* for each read of the answer; 0: none */
};

/*
 * Connect to the supervisor, send the request and print its answer (see
 * ctl_answer). A request the supervisor did not serve because it was
 * upgrading itself in place is sent again, at once (the new image answers
 * it), up to CTL_AGAIN_TRIES times in all, when r->again allows. Returns
 * the exit code; the supervisor's pid in *peer.
 */
static int
ctl_ask(const struct ctl_target *t, const struct ctl_request *r, pid_t *peer)
{
	struct timeval timeout = { r->timeout_s, 0 };
	int fd, code, tries;

	for (tries = 1;; tries++) {
		if ((fd = ctl_connect(t, r->cmd, peer, &code)) == -1)
			return code;
		if (r->timeout_s > 0)
			(void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout,
			    sizeof(timeout));
		if (ctl_send(fd, r->line, r->cmd) == -1) {
			close(fd);
			return 1;
		}
		code = ctl_answer(fd, r->cmd, r->quiet_ok,
		    r->again && tries < CTL_AGAIN_TRIES);
		if (code != CTL_ASK_AGAIN)
			return code;
		fprintf(stderr, "handoff %s: the supervisor was upgrading "
		    "itself in place and did not serve the request; asking "
		    "again\n", r->cmd);
	}
}

/* Parse -c/-s and the command's own options; see each command. */
static int
ctl_getopt(int argc, char **argv, const char *optstring,
    const struct option *longopts, struct ctl_target *t, int (*own)(int, void *),
    void *arg, void (*usage)(FILE *))
{
	int ch;

	optind = 1;
	while ((ch = getopt_long(argc, argv, optstring, longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			t->config = optarg;
			break;
		case 's':
			t->socket = optarg;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			if (own == NULL || own(ch, arg) == -1) {
				usage(stderr);
				return -1;
			}
		}
	}
	return 0;
}

/* Usage of `handoff reload`. */
static void
ctl_reload_usage(FILE *fp)
{
	fprintf(fp,
	    "usage: handoff reload [PROGRAM] [--no-wait | --takeover] [-c FILE | -s SOCKET]\n"
	    "\n"
	    "Start a new generation (of PROGRAM, or of every program) and show the\n"
	    "handoff's progress. The new config is read and checked first; the old\n"
	    "generation drains only once the new one is ready.\n"
	    "\n"
	    "  -c, --config FILE   find the supervisor from FILE (default %s)\n"
	    "  -s, --socket PATH   the supervisor's control socket\n"
	    "  -n, --no-wait       return once the reload is asked for\n"
	    "  -t, --takeover      return once the new generation took over, while\n"
	    "                      the old one drains on (systemd's ExecReload=)\n"
	    "  -h, --help          show this help\n"
	    "\n"
	    "Exit status: 0 the new generation took over, 1 the reload failed (the\n"
	    "old generation keeps serving) or no supervisor runs, 2 usage error.\n",
	    config_default_path());
}

/* A flag without argument: -n or -t for reload, -j for status. */
static int
ctl_flag_opt(int ch, void *arg)
{
	int *flag = arg;

	if (ch != 'n' && ch != 'j' && ch != 't')
		return -1;
	/* reload: --no-wait and --takeover exclude each other. */
	if (*flag != 0 && *flag != ch) {
		fprintf(stderr, "handoff reload: --no-wait and --takeover "
		    "exclude each other\n");
		return -1;
	}
	*flag = ch;
	return 0;
}

/* `handoff reload [PROGRAM] [--no-wait]` */
int
ctl_reload_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "socket", required_argument, NULL, 's' },
		{ "no-wait", no_argument, NULL, 'n' },
		{ "takeover", no_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ctl_target t = { NULL, NULL };
	struct ctl_request r = { .cmd = "reload", .again = 1 };
	char request[256];
	const char *program = NULL;
	int until = 0;
	pid_t peer;

	if (ctl_getopt(argc, argv, "c:s:nth", longopts, &t, ctl_flag_opt,
	    &until, ctl_reload_usage) == -1)
		return 2;
	if (optind < argc)
		program = argv[optind++];
	if (optind < argc) {
		fprintf(stderr, "handoff reload: unexpected argument '%s'\n",
		    argv[optind]);
		return 2;
	}
	if (program != NULL && (strlen(program) > 64 ||
	    strpbrk(program, " \t\n") != NULL)) {
		fprintf(stderr, "handoff reload: bad program name '%s'\n", program);
		return 2;
	}
	snprintf(request, sizeof(request), "reload%s%s%s", until == 'n' ?
	    " nowait" : until == 't' ? " takeover" : "", program ? " " : "",
	    program ? program : "");
	r.line = request;
	return ctl_ask(&t, &r, &peer);
}

/* Usage of `handoff status`. */
static void
ctl_status_usage(FILE *fp)
{
	fprintf(fp,
	    "usage: handoff status [--json] [-c FILE | -s SOCKET]\n"
	    "\n"
	    "Show programs, generations, workers (pid, state, uptime, restarts),\n"
	    "listeners and the last reload's outcome.\n"
	    "\n"
	    "  -j, --json          one JSON object (schema in README.md)\n"
	    "  -c, --config FILE   find the supervisor from FILE (default %s)\n"
	    "  -s, --socket PATH   the supervisor's control socket\n"
	    "  -h, --help          show this help\n",
	    config_default_path());
}

/* `handoff status [--json]` */
int
ctl_status_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ctl_target t = { NULL, NULL };
	/* A status comes at once; a stopped (SIGSTOP) supervisor never answers. */
	struct ctl_request r = { .cmd = "status", .quiet_ok = 1, .again = 1,
	    .timeout_s = 30 };
	int json = 0;
	pid_t peer;

	if (ctl_getopt(argc, argv, "c:s:jh", longopts, &t, ctl_flag_opt,
	    &json, ctl_status_usage) == -1)
		return 2;
	if (optind < argc) {
		fprintf(stderr, "handoff status: unexpected argument '%s'\n",
		    argv[optind]);
		return 2;
	}
	r.line = json ? "status json" : "status";
	return ctl_ask(&t, &r, &peer);
}

/* Usage of `handoff stop`. */
static void
ctl_stop_usage(FILE *fp)
{
	fprintf(fp,
	    "usage: handoff stop [--timeout DUR] [-c FILE | -s SOCKET]\n"
	    "\n"
	    "Stop gracefully: every worker gets its stop_signal, and SIGKILL after\n"
	    "its drain_timeout (or after DUR, if given). Waits until the supervisor\n"
	    "has exited.\n"
	    "\n"
	    "  -t, --timeout DUR   kill what is left after DUR (as in 10s)\n"
	    "  -c, --config FILE   find the supervisor from FILE (default %s)\n"
	    "  -s, --socket PATH   the supervisor's control socket\n"
	    "  -h, --help          show this help\n",
	    config_default_path());
}

/* -t DUR for stop. */
static int
ctl_stop_opt(int ch, void *arg)
{
	if (ch != 't')
		return -1;
	*(const char **)arg = optarg;
	return 0;
}

/* `handoff stop [--timeout DUR]` */
int
ctl_stop_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "socket", required_argument, NULL, 's' },
		{ "timeout", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ctl_target t = { NULL, NULL };
	struct ctl_request r = { .cmd = "stop", .again = 1 };
	const char *timeout = NULL, *cause;
	char request[64];
	uint64_t ms;
	int code;
	pid_t peer;

	if (ctl_getopt(argc, argv, "c:s:t:h", longopts, &t, ctl_stop_opt,
	    &timeout, ctl_stop_usage) == -1)
		return 2;
	if (optind < argc) {
		fprintf(stderr, "handoff stop: unexpected argument '%s'\n",
		    argv[optind]);
		return 2;
	}
	if (timeout != NULL && parse_duration_ms(timeout, &ms, &cause) == -1) {
		fprintf(stderr, "handoff stop: --timeout %s: %s\n", timeout, cause);
		return 2;
	}
	snprintf(request, sizeof(request), "stop%s%s", timeout ? " " : "",
	    timeout ? timeout : "");
	r.line = request;
	if ((code = ctl_ask(&t, &r, &peer)) != 0)
		return code;
	/* "stopped" comes just before the supervisor exits: wait for that. */
	if (ctl_wait_exit(peer, 30000) == -1) {
		fprintf(stderr, "handoff stop: supervisor pid %d has not exited\n",
		    (int)peer);
		return 1;
	}
	return 0;
}

/* Usage of `handoff upgrade`. */
static void
ctl_upgrade_usage(FILE *fp)
{
	fprintf(fp,
	    "usage: handoff upgrade [--binary PATH] [-c FILE | -s SOCKET]\n"
	    "\n"
	    "Replace the running supervisor's binary in place: same pid, the\n"
	    "workers keep serving. The new binary (by default the supervisor's\n"
	    "program, handoffd, as its path names it now; else a handoffd, or a\n"
	    "handoff with its handoffd beside it) must pass a pre-flight check first;\n"
	    "if anything fails, the running supervisor runs on unchanged and\n"
	    "this exits 1 with the reason. Refused while a reload is in\n"
	    "progress (until its old generations are gone).\n"
	    "\n"
	    "  -b, --binary PATH   the new binary\n"
	    "  -c, --config FILE   find the supervisor from FILE (default %s)\n"
	    "  -s, --socket PATH   the supervisor's control socket\n"
	    "  -h, --help          show this help\n",
	    config_default_path());
}

/* -b PATH for upgrade. */
static int
ctl_upgrade_opt(int ch, void *arg)
{
	if (ch != 'b')
		return -1;
	*(const char **)arg = optarg;
	return 0;
}

/* `handoff upgrade [--binary PATH]` */
int
ctl_upgrade_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "socket", required_argument, NULL, 's' },
		{ "binary", required_argument, NULL, 'b' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ctl_target t = { NULL, NULL };
	/*
	 * Not asked again when told to: the upgrade that was running may be
	 * the one this asks for, or another the operator should see first.
	 */
	struct ctl_request r = { .cmd = "upgrade", .again = 0 };
	const char *binary = NULL;
	char request[PATH_MAX + 16], cwd[PATH_MAX];
	pid_t peer;

	if (ctl_getopt(argc, argv, "c:s:b:h", longopts, &t, ctl_upgrade_opt,
	    &binary, ctl_upgrade_usage) == -1)
		return 2;
	if (optind < argc) {
		fprintf(stderr, "handoff upgrade: unexpected argument '%s'\n",
		    argv[optind]);
		return 2;
	}
	if (binary != NULL && binary[0] == '\0') {
		fprintf(stderr, "handoff upgrade: --binary '': give a path\n");
		return 2;
	}
	if (binary == NULL)
		snprintf(request, sizeof(request), "upgrade");
	else if (binary[0] == '/')
		snprintf(request, sizeof(request), "upgrade %s", binary);
	else if (getcwd(cwd, sizeof(cwd)) == NULL ||
	    (size_t)snprintf(request, sizeof(request), "upgrade %s/%s", cwd,
	    binary) >= sizeof(request)) {
		fprintf(stderr, "handoff upgrade: --binary %s: path too long\n",
		    binary);
		return 2;
	}
	/* The request's words are split at blanks: the path may have none. */
	if (binary != NULL && strpbrk(request + strlen("upgrade "),
	    " \t\r\n") != NULL) {
		fprintf(stderr, "handoff upgrade: --binary '%s': give a path "
		    "without blanks\n", request + strlen("upgrade "));
		return 2;
	}
	r.line = request;
	return ctl_ask(&t, &r, &peer);
}
