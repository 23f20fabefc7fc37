/*
 * floor: the least a supervisor can do to start N workers, for
 * tests/bench/run-scale.
 *
 *	floor N TIMEOUT_MS COMMAND [ARG...]
 *
 * Binds a TCP listener on 127.0.0.1:0 (FLOOR_LISTENERS=K in the environment:
 * K of them, at most MAX_LISTENERS) and a NOTIFY_SOCKET datagram socket (an
 * abstract name), then forks N children, each of which puts itself in its
 * own process group, takes the listeners at fds 3.., /dev/null at fds 0-2,
 * and execs COMMAND with the socket variables of the three protocols a
 * handoff worker gets (LISTEN_FDS=K, LISTEN_PID=its pid, LISTEN_FDNAMES from
 * FLOOR_FDNAMES or l0:l1:..., SERVER_STARTER_PORT, EINHORN_FD_COUNT and
 * EINHORN_FD_<i>), built once before the first fork. It reads READY=1 datagrams
 * as they arrive, between forks too, with the socket's default queue length
 * and buffer, and prints the milliseconds from the first fork to the Nth
 * READY=1 on stdout. Then it sends SIGTERM to every child's process group,
 * SIGKILL to those still there after 5 s, and reaps them all.
 *
 * Exits 0 with the time, 1 if a child could not be started or N READY=1 did
 * not come within TIMEOUT_MS (no time printed), 2 on bad arguments.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE	/* SOCK_CLOEXEC, setenv, execvpe, kill under -std=c11 */
#endif

#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_CHILDREN	100000
#define MAX_LISTENERS	1000
#define STOP_GRACE_MS	5000

static pid_t	*children;
static int	 nchildren;

/* Milliseconds on the monotonic clock. */
static double
floor_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

/* Prints a message and errno's text to stderr. */
static void
floor_warn(const char *what)
{
	fprintf(stderr, "floor: %s: %s\n", what, strerror(errno));
}

/* A non-blocking TCP listener on 127.0.0.1, kernel-chosen port. */
static int
floor_listener(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	int fd;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(fd, 1024) == -1) {
		floor_warn("listener");
		exit(1);
	}
	return fd;
}

/* The NOTIFY_SOCKET: an abstract datagram socket; its "@name" in name. */
static int
floor_notify_socket(char *name, size_t size)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	socklen_t len;
	int fd;

	snprintf(name, size, "@handoff-floor-%d", (int)getpid());
	memcpy(sun.sun_path + 1, name + 1, strlen(name) - 1);
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(name));
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1 || bind(fd, (struct sockaddr *)&sun, len) == -1) {
		floor_warn("notify socket");
		exit(1);
	}
	return fd;
}

/* Room for LISTEN_PID=PID in the environment. */
#define LISTEN_PID_LEN	32

extern char **environ;

/* Appends the entry fmt makes to envp (at *n); exits if out of memory. */
static void
floor_env_add(char **envp, int *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void
floor_env_add(char **envp, int *n, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = vasprintf(&envp[*n], fmt, ap);
	va_end(ap);
	if (rc == -1) {
		floor_warn("vasprintf");
		exit(1);
	}
	(*n)++;
}

/*
 * The workers' environment, built once: ours, and the socket variables
 * of the systemd, Server::Starter and einhorn protocols for the
 * listeners. The LISTEN_PID entry (*pid_slot) has room for the pid,
 * which each child writes into its own copy.
 */
static char **
floor_env(const int *listeners, int nlisteners, int *pid_slot)
{
	const char *names = getenv("FLOOR_FDNAMES");
	struct sockaddr_in sin;
	socklen_t len;
	char **envp, *text;
	size_t size;
	int n = 0, i, count = 0;
	FILE *fp;

	for (i = 0; environ[i] != NULL; i++)
		count++;
	if ((envp = calloc((size_t)count + (size_t)nlisteners + 8,
	    sizeof(*envp))) == NULL) {
		floor_warn("calloc");
		exit(1);
	}
	for (i = 0; i < count; i++)
		if (strncmp(environ[i], "FLOOR_", 6) != 0)
			envp[n++] = environ[i];
	floor_env_add(envp, &n, "LISTEN_FDS=%d", nlisteners);
	*pid_slot = n;
	floor_env_add(envp, &n, "%-*s", LISTEN_PID_LEN, "LISTEN_PID=");
	if ((fp = open_memstream(&text, &size)) == NULL) {
		floor_warn("open_memstream");
		exit(1);
	}
	fputs("LISTEN_FDNAMES=", fp);
	if (names != NULL)
		fputs(names, fp);
	else
		for (i = 0; i < nlisteners; i++)
			fprintf(fp, "%sl%d", i ? ":" : "", i);
	fputc('\0', fp);
	fputs("SERVER_STARTER_PORT=", fp);
	for (i = 0; i < nlisteners; i++) {
		len = sizeof(sin);
		if (getsockname(listeners[i], (struct sockaddr *)&sin,
		    &len) == -1) {
			floor_warn("getsockname");
			exit(1);
		}
		fprintf(fp, "%s127.0.0.1:%d=%d", i ? ";" : "",
		    ntohs(sin.sin_port), 3 + i);
	}
	if (fclose(fp) != 0) {
		floor_warn("open_memstream");
		exit(1);
	}
	envp[n++] = text;
	envp[n++] = text + strlen(text) + 1;
	floor_env_add(envp, &n, "EINHORN_FD_COUNT=%d", nlisteners);
	for (i = 0; i < nlisteners; i++)
		floor_env_add(envp, &n, "EINHORN_FD_%d=%d", i, 3 + i);
	envp[n] = NULL;
	return envp;
}

/* In the child: own process group, fds 0-2 and the listeners in place, its
   pid in LISTEN_PID, exec. Never returns. */
static void
floor_child(const int *listeners, int nlisteners, char **envp, int pid_slot,
    char **argv)
{
	int null, i;

	(void)setpgid(0, 0);
	if ((null = open("/dev/null", O_RDWR | O_CLOEXEC)) == -1 ||
	    dup2(null, 0) == -1 || dup2(null, 1) == -1 || dup2(null, 2) == -1)
		_exit(127);
	/*
	 * Listener i at fd 3 + i without CLOEXEC; dup2(3, 3) would keep it.
	 * They were made in ascending order, each at 3 + i or above, so a
	 * dup2 only replaces one already in place.
	 */
	for (i = 0; i < nlisteners; i++)
		if (listeners[i] == 3 + i ? fcntl(3 + i, F_SETFD, 0) == -1 :
		    dup2(listeners[i], 3 + i) == -1)
			_exit(127);
	snprintf(envp[pid_slot], LISTEN_PID_LEN + 1, "LISTEN_PID=%d",
	    (int)getpid());
	execvpe(argv[0], argv, envp);
	_exit(127);
}

/* Reads every datagram queued now; returns how many said READY=1. */
static int
floor_read_ready(int fd)
{
	char buf[4096], *line, *save;
	ssize_t n;
	int ready = 0;

	while ((n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT)) >= 0) {
		buf[n] = '\0';
		for (line = strtok_r(buf, "\n", &save); line != NULL;
		    line = strtok_r(NULL, "\n", &save))
			if (strcmp(line, "READY=1") == 0) {
				ready++;
				break;
			}
	}
	return ready;
}

/* Reaps exited children without blocking; returns how many are left. */
static int
floor_reap(int left)
{
	pid_t pid;

	while (left > 0 && (pid = waitpid(-1, NULL, WNOHANG)) > 0)
		left--;
	return left;
}

/* SIGTERM to every child's group, SIGKILL after a grace period; reaps all.
   Keeps reading the notify socket: a stopping child's STOPPING=1 would
   block it on a full queue. */
static void
floor_stop(int notify)
{
	double deadline = floor_now_ms() + STOP_GRACE_MS;
	struct timespec tick = { 0, 1000000 };
	int i, left = nchildren;

	for (i = 0; i < nchildren; i++)
		(void)kill(-children[i], SIGTERM);
	while ((left = floor_reap(left)) > 0 && floor_now_ms() < deadline) {
		(void)floor_read_ready(notify);
		nanosleep(&tick, NULL);
	}
	if (left > 0) {
		fprintf(stderr, "floor: %d children still there after %d ms; "
		    "killing them\n", left, STOP_GRACE_MS);
		for (i = 0; i < nchildren; i++) {
			(void)kill(-children[i], SIGKILL);
			(void)kill(children[i], SIGKILL);
		}
		while (left > 0 && waitpid(-1, NULL, 0) > 0)
			left--;
	}
}

/* floor N TIMEOUT_MS COMMAND [ARG...] */
int
main(int argc, char **argv)
{
	char name[64], *end;
	const char *k = getenv("FLOOR_LISTENERS");
	struct pollfd pfd;
	double t0, elapsed, deadline;
	long n, timeout, nlisteners = 1;
	int listeners[MAX_LISTENERS], notify, ready = 0, i, rc, pid_slot;
	char **envp;
	pid_t pid;

	if (argc < 4 || (n = strtol(argv[1], &end, 10)) < 1 || *end != '\0' ||
	    n > MAX_CHILDREN || (timeout = strtol(argv[2], &end, 10)) < 1 ||
	    *end != '\0') {
		fprintf(stderr, "usage: floor N TIMEOUT_MS COMMAND [ARG...]\n");
		return 2;
	}
	if (k != NULL && ((nlisteners = strtol(k, &end, 10)) < 1 ||
	    *end != '\0' || nlisteners > MAX_LISTENERS)) {
		fprintf(stderr, "floor: FLOOR_LISTENERS=%s: give 1 to %d\n", k,
		    MAX_LISTENERS);
		return 2;
	}
	if ((children = calloc((size_t)n, sizeof(*children))) == NULL) {
		floor_warn("calloc");
		return 1;
	}
	for (i = 0; i < nlisteners; i++)
		listeners[i] = floor_listener();
	notify = floor_notify_socket(name, sizeof(name));
	setenv("NOTIFY_SOCKET", name, 1);
	envp = floor_env(listeners, (int)nlisteners, &pid_slot);

	t0 = floor_now_ms();
	deadline = t0 + (double)timeout;
	for (i = 0; i < n; i++) {
		if ((pid = fork()) == -1) {
			floor_warn("fork");
			floor_stop(notify);
			return 1;
		}
		if (pid == 0)
			floor_child(listeners, (int)nlisteners, envp, pid_slot,
			    argv + 3);
		(void)setpgid(pid, pid);	/* no race with kill(-pid) */
		children[nchildren++] = pid;
		ready += floor_read_ready(notify);
	}
	pfd.fd = notify;
	pfd.events = POLLIN;
	while (ready < n && floor_now_ms() < deadline) {
		rc = poll(&pfd, 1, (int)(deadline - floor_now_ms()) + 1);
		if (rc == -1 && errno != EINTR) {
			floor_warn("poll");
			break;
		}
		ready += floor_read_ready(notify);
	}
	elapsed = floor_now_ms() - t0;
	if (ready < n)
		fprintf(stderr, "floor: %d of %ld READY=1 in %ld ms\n", ready, n,
		    timeout);
	else {
		printf("%.3f\n", elapsed);
		fflush(stdout);
	}
	floor_stop(notify);
	return ready < n ? 1 : 0;
}
