/*
 * test_sdnotify.c: the supervisor under a service manager, without
 * systemd. A receiver of the test's own on NOTIFY_SOCKET sees what the
 * supervisor says: FDSTORE=1 with each listener's socket and its name,
 * READY=1, RELOADING=1 with MONOTONIC_USEC, READY=1 after a reload that
 * took over or failed, FDSTOREREMOVE=1 when a reload removes a listener,
 * STOPPING=1. Sockets passed the way systemd passes them (LISTEN_FDS, by
 * systemd-socket-activate or by the test as the fd store would) are
 * adopted: never bound again, kept across reloads, back at their worker
 * slots. `handoff reload --takeover` returns once the new generation took
 * over, while the old one drains on. A NOTIFY_SOCKET it cannot use is
 * named in the log; a passed fd that is no socket is a start error. A
 * listener shut down twice by its holders (stored, or in force) answers
 * again once it listens again.
 */
#include "autoconf.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "fdpass.h"
#include "harness.h"

/* The test's own NOTIFY_SOCKET: what a service manager would receive. */
struct rx {
	int	 fd;
	char	*path;
	char	 seen[16384];	/* every message so far, for failures */
	size_t	 len;
};

static struct rx rx = { .fd = -1 };

/* After each test: the supervisors, the receiver. */
static void
fini(void)
{
	tc_fini();
	if (rx.fd != -1)
		close(rx.fd);
	free(rx.path);
	memset(&rx, 0, sizeof(rx));
	rx.fd = -1;
}

/* Bind the receiver in s's directory and make it the NOTIFY_SOCKET. */
static void
rx_open(struct sup *s)
{
	rx.path = tc_printf("%s/notify", s->dir);
	rx.fd = support_dgram_socket(rx.path);
	cr_assert(rx.fd != -1, "cannot bind %s: %s", rx.path, strerror(errno));
	cr_assert_eq(setenv("NOTIFY_SOCKET", rx.path, 1), 0);
}

/*
 * The next message within the deadline (malloc'd, NUL-terminated), with
 * the fd it carried in *fd (-1 if none: more than one fails the test);
 * NULL if none came.
 */
static char *
rx_next(long long deadline, int *fd)
{
	struct pollfd pfd = { .fd = rx.fd, .events = POLLIN };
	struct fdpass_in in;
	struct iovec iov;
	char buf[4096], *text;
	int fds[4];
	ssize_t n;

	*fd = -1;
	if (poll(&pfd, 1, tc_left(deadline)) != 1)
		return NULL;
	memset(&in, 0, sizeof(in));
	in.fds = fds;
	in.maxfds = 4;
	iov.iov_base = buf;
	iov.iov_len = sizeof(buf) - 1;
	n = fdpass_recv(rx.fd, &iov, 1, &in, MSG_DONTWAIT);
	cr_assert(n >= 0, "recvmsg: %s", strerror(errno));
	buf[n] = '\0';
	cr_assert(in.nfds <= 1 && !in.truncated, "%zu fds came with %s",
	    in.nfds, buf);
	if (in.nfds == 1)
		*fd = fds[0];
	rx.len += (size_t)snprintf(rx.seen + rx.len, sizeof(rx.seen) - rx.len,
	    "[%s]%s\n", buf, in.nfds ? " +fd" : "");
	if (rx.len >= sizeof(rx.seen))
		rx.len = sizeof(rx.seen) - 1;
	cr_assert((text = strdup(buf)) != NULL);
	return text;
}

/*
 * Read messages until one starts with prefix: it (malloc'd), and in *fd
 * (unless NULL) the fd it carried. Fails naming every message seen.
 */
static char *
rx_until(const char *prefix, int *fd)
{
	long long deadline = support_now_ms() + DEADLINE_MS;
	char *text;
	int got;

	for (;;) {
		text = rx_next(deadline, &got);
		cr_assert(text != NULL, "no \"%s\" on NOTIFY_SOCKET; it got:\n%s",
		    prefix, rx.seen);
		if (strncmp(text, prefix, strlen(prefix)) == 0) {
			if (fd != NULL)
				*fd = got;
			else if (got != -1)
				close(got);
			return text;
		}
		if (got != -1)
			close(got);
		free(text);
	}
}

/* Tell whether a message containing needle came after mark (rx.len). */
static bool
rx_seen_since(size_t mark, const char *needle)
{
	return strstr(rx.seen + mark, needle) != NULL;
}

/*
 * Tell whether a listener's socket was stored after mark: an FDSTORE=1
 * whose name is not a worker's output pipe ("output.PID").
 */
static bool
rx_socket_stored_since(size_t mark)
{
	const char *at = rx.seen + mark, *name;

	while ((at = strstr(at, "FDSTORE=1\nFDNAME=")) != NULL) {
		name = at + strlen("FDSTORE=1\nFDNAME=");
		if (strncmp(name, "output.", strlen("output.")) != 0)
			return true;
		at = name;
	}
	return false;
}

/* CLOCK_MONOTONIC in microseconds, as MONOTONIC_USEC= counts. */
static unsigned long long
mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (unsigned long long)ts.tv_sec * 1000000ULL +
	    (unsigned long long)ts.tv_nsec / 1000ULL;
}

/*
 * s's config: listener web on 127.0.0.1:PORT with LISTENER_KEYS, with
 * admin (a unix socket in s's directory, the program's second listener),
 * and program app of two testservers with ARGS and KEYS.
 */
static void
write_config(struct sup *s, bool admin, const char *listener_keys,
    const char *args, const char *keys)
{
	char *text;

	text = tc_printf("[supervisor]\nname = sdn\ncontrol = %s\n"
	    "pidfile = %s/handoff.pid\n\n"
	    "[listener web]\nlisten = 127.0.0.1:%d\n%s\n"
	    "%s%s%s"
	    "[program app]\ncommand = %s %s\nlisteners = web%s\nworkers = 2\n"
	    "ready_timeout = 20s\n%s",
	    s->sock, s->dir, s->port, listener_keys,
	    admin ? "[listener admin]\nlisten = unix:" : "",
	    admin ? s->dir : "", admin ? "/admin.sock\n\n" : "",
	    support_env("HANDOFF_TESTSERVER"), args, admin ? ", admin" : "",
	    keys);
	free(support_write_file(s->dir, "handoff.ini", text));
	free(text);
}

/* Start s with fds passed as a service manager does, names fdnames. */
static void
launch(struct sup *s, const int *fds, size_t nfds, const char *fdnames,
    const char *const *prefix)
{
	const char *args[] = { "run", "-c", s->config, NULL };
	struct support_launch how;

	memset(&how, 0, sizeof(how));
	how.prefix = prefix;
	how.args = args;
	how.log_path = s->log;
	how.fds = fds;
	how.nfds = nfds;
	how.fdnames = fdnames;
	support_handoff_free(&s->hp);
	cr_assert_eq(support_handoff_launch(&s->hp, &how), 0);
}

/* A listening TCP socket of the test's on 127.0.0.1:port (0: any). */
static int
tcp_listener(int port, bool reuseport, int type)
{
	struct sockaddr_in sin;
	int fd = socket(AF_INET, type | SOCK_CLOEXEC, 0), one = 1;

	cr_assert(fd != -1);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (reuseport)
		setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)port);
	cr_assert(bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0,
	    "bind 127.0.0.1:%d: %s", port, strerror(errno));
	cr_assert(type != SOCK_STREAM || listen(fd, 64) == 0);
	return fd;
}

/* A listener's member (origin, inode) in status, or of one of its slots. */
static json_object *
listener_json(json_object *root, const char *name, int slot, const char *key)
{
	json_object *l = tc_json_named(root, "listeners", name);
	char idx[16];

	cr_assert(l != NULL, "no listener %s in status", name);
	if (slot < 0)
		return tc_json_at(l, key, NULL);
	snprintf(idx, sizeof(idx), "%d", slot);
	return tc_json_at(l, "slots", idx, key, NULL);
}

/* How many TCP sockets listen on 127.0.0.1:port (/proc/net/tcp). */
static int
tcp_listening_on(int port)
{
	char *text = support_read_file("/proc/net/tcp"), *line, *save = NULL;
	char want[32];
	int count = 0;

	cr_assert(text != NULL);
	/* local_address 0100007F:PORT in hex, st 0A (LISTEN). */
	snprintf(want, sizeof(want), "0100007F:%04X 00000000:0000 0A", port);
	for (line = strtok_r(text, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save))
		if (strstr(line, want) != NULL)
			count++;
	free(text);
	return count;
}

/* Wait until pid (not our child) has exited. */
static void
wait_gone(pid_t pid)
{
	struct pollfd pfd = { .events = POLLIN };

	if ((pfd.fd = (int)syscall(SYS_pidfd_open, pid, 0)) == -1)
		return;		/* gone already */
	cr_expect_eq(poll(&pfd, 1, DEADLINE_MS), 1, "pid %d lives on",
	    (int)pid);
	close(pfd.fd);
}

/* `handoff reload -c CONFIG [EXTRA]`: its exit code; *out its output. */
static int
reload(struct sup *s, const char *extra, char **out)
{
	struct run_result res;
	int code;

	code = extra != NULL ? support_handoff_cmd(&res, "reload", extra, "-c",
	    s->config, NULL) : support_handoff_cmd(&res, "reload", "-c",
	    s->config, NULL);
	if (out != NULL)
		*out = tc_printf("%s%s", res.out, res.err);
	support_result_free(&res);
	return code;
}

Test(sdnotify, says_ready_reloading_stopping_and_stores_sockets, .fini = fini)
{
	struct sup *s = tc_new("", "");
	unsigned long long t0, t1, usec;
	json_object *st;
	size_t mark;
	char *m, *want, *out, *at;
	int fd, on = 0, i, n;
	socklen_t len = sizeof(on);
	pid_t pids[MAX_PIDS];

	write_config(s, true, "", "", "");
	rx_open(s);
	tc_start(s);

	/* Each listener's socket, stored before READY=1. */
	free(rx_until("FDSTORE=1\nFDNAME=web#0", &fd));
	cr_assert(fd != -1, "FDSTORE=1 for web came without its socket");
	st = tc_status_json(s);
	cr_expect_eq((int64_t)support_fd_inode(fd), tc_json_int(
	    listener_json(st, "web", -1, "inode")), "not web's socket");
	cr_expect_str_eq(tc_json_str(listener_json(st, "web", -1, "origin")),
	    "bound");
	cr_expect_eq(support_local_port(fd), s->port);
	cr_expect(getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &len) == 0 &&
	    on, "the stored socket does not listen");
	close(fd);
	json_object_put(st);
	free(rx_until("FDSTORE=1\nFDNAME=admin#0", &fd));
	cr_assert(fd != -1);
	close(fd);
	m = rx_until("READY=1", NULL);
	want = tc_printf("MAINPID=%d\n", (int)s->hp.pid);
	cr_expect(strstr(m, want) != NULL, "READY=1 without %s: %s", want, m);
	cr_expect(strstr(m, "STATUS=running: app gen 1") != NULL, "%s", m);
	free(want);
	free(m);
	/* Each worker's output pipe, stored as it started (status saw
	   the workers of gen 1). */
	n = s->nworkers;
	cr_assert_eq(n, 2);
	for (i = 0; i < n; i++) {
		pids[i] = s->workers[i];
		want = tc_printf("FDSTORE=1\nFDNAME=output.%d", (int)pids[i]);
		cr_expect(strstr(rx.seen, want) != NULL, "no %s:\n%s", want,
		    rx.seen);
		free(want);
	}

	/* A reload: RELOADING=1 as it begins, READY=1 once it took over. */
	t0 = mono_us();
	cr_assert_eq(reload(s, NULL, NULL), 0);
	t1 = mono_us();
	m = rx_until("RELOADING=1", NULL);
	at = strstr(m, "MONOTONIC_USEC=");
	cr_assert(at != NULL, "RELOADING=1 without MONOTONIC_USEC: %s", m);
	usec = strtoull(at + strlen("MONOTONIC_USEC="), NULL, 10);
	cr_expect(usec >= t0 && usec <= t1, "MONOTONIC_USEC=%llu is not "
	    "CLOCK_MONOTONIC during the reload (%llu to %llu)", usec, t0, t1);
	free(m);
	mark = rx.len;
	m = rx_until("READY=1", NULL);
	cr_expect(strstr(m, "STATUS=running: app gen 2") != NULL, "%s", m);
	cr_expect(!rx_socket_stored_since(mark), "kept sockets stored "
	    "again:\n%s", rx.seen);
	free(m);
	/* The old workers' pipes leave the store once they are gone. */
	for (i = 0; i < n; i++) {
		want = tc_printf("FDSTOREREMOVE=1\nFDNAME=output.%d",
		    (int)pids[i]);
		if (strstr(rx.seen, want) == NULL)
			free(rx_until(want, NULL));
		free(want);
	}

	/* A reload that fails: READY=1 all the same, saying so. */
	write_config(s, true, "", "--exit-before-ready 3", "");
	cr_assert_eq(reload(s, NULL, NULL), 1);
	free(rx_until("RELOADING=1", NULL));
	m = rx_until("READY=1", NULL);
	cr_expect(strstr(m, "the last reload failed") != NULL, "%s", m);
	free(m);

	/* A reload that removes a listener takes its socket out first. */
	write_config(s, false, "", "", "");
	cr_assert_eq(reload(s, NULL, &out), 0, "%s", out);
	free(out);
	free(rx_until("RELOADING=1", NULL));
	mark = rx.len;
	free(rx_until("FDSTOREREMOVE=1\nFDNAME=admin#0", NULL));
	free(rx_until("READY=1", NULL));
	cr_expect(!rx_seen_since(mark, "FDNAME=web"), "web left the store:\n%s",
	    rx.seen);

	tc_stop(s);
	free(rx_until("STOPPING=1", NULL));
}

Test(sdnotify, stored_sockets_come_back_at_their_slots, .fini = fini)
{
	struct sup *s;
	int fds[3], fd, i, gen;
	int64_t inode[3];
	pid_t pids[MAX_PIDS];
	json_object *st;
	const char *req = "GET / HTTP/1.0\r\n\r\n";
	struct sockaddr_in sin;
	char *answer, *text, *path;
	bool closed;
	size_t mark;
	pid_t pid;
	int n, port;

	/* Reuseport mode turns net.ipv4.tcp_migrate_req on: in a netns of
	 * the test's own, not the host's. */
	tc_own_netns();
	s = tc_new("", "");
	write_config(s, true, "", "", "handoff = reuseport\n");
	rx_open(s);
	tc_start(s);
	free(rx_until("FDSTORE=1\nFDNAME=web#0", &fds[0]));
	free(rx_until("FDSTORE=1\nFDNAME=web#1", &fds[1]));
	free(rx_until("FDSTORE=1\nFDNAME=admin#0", &fds[2]));
	free(rx_until("READY=1", NULL));
	st = tc_status_json(s);
	inode[0] = tc_json_int(listener_json(st, "web", 0, "inode"));
	inode[1] = tc_json_int(listener_json(st, "web", 1, "inode"));
	inode[2] = tc_json_int(listener_json(st, "admin", -1, "inode"));
	for (i = 0; i < 3; i++)
		cr_assert_eq((int64_t)support_fd_inode(fds[i]), inode[i],
		    "stored socket %d is not the listener's", i);
	json_object_put(st);

	/* The supervisor crashes; its workers are killed (KillMode=mixed). */
	kill(s->hp.pid, SIGKILL);
	cr_assert_eq(support_handoff_wait_exit(&s->hp, DEADLINE_MS), 128 + SIGKILL);
	n = support_tagged_pids(s->hp.tag, pids, MAX_PIDS);
	for (i = 0; i < n; i++)
		kill(pids[i], SIGKILL);
	for (i = 0; i < n; i++)
		wait_gone(pids[i]);

	/* A client meanwhile waits in the stored sockets' backlog. */
	port = s->port;
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)port);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert(connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0,
	    "refused while no supervisor runs: %s", strerror(errno));
	cr_assert_eq(tc_send_all(fd, req, strlen(req)), 0);

	mark = rx.len;
	launch(s, fds, 3, "web#0:web#1:admin#0", NULL);
	/* The log goes on from the first run: its own "started:" is the 2nd. */
	tc_expect_log(s, "started: ", 2);
	answer = tc_read_all(fd, DEADLINE_MS, &closed);
	close(fd);
	text = strstr(answer, "gen=");
	cr_assert(text != NULL && sscanf(text, "gen=%d pid=%d", &gen, &pid) == 2,
	    "the waiting client got: %s", answer);
	cr_expect_eq(gen, 1, "answered by gen %d", gen);
	tc_saw_worker(s, pid);
	free(answer);

	st = tc_status_json(s);
	for (i = 0; i < 2; i++) {
		cr_expect_str_eq(tc_json_str(listener_json(st, "web", i,
		    "origin")), "stored", "slot %d", i);
		cr_expect_eq(tc_json_int(listener_json(st, "web", i, "inode")),
		    inode[i], "slot %d has another socket", i);
	}
	cr_expect_str_eq(tc_json_str(listener_json(st, "admin", -1, "origin")),
	    "stored");
	cr_expect_eq(tc_json_int(listener_json(st, "admin", -1, "inode")),
	    inode[2]);
	json_object_put(st);
	free(rx_until("READY=1", NULL));
	cr_expect(!rx_socket_stored_since(mark), "stored again:\n%s",
	    rx.seen);
	path = tc_printf("%s/admin.sock", s->dir);
	text = NULL;
	cr_expect_eq(support_http_get_unix(path, "/", &text), SUPPORT_HTTP_OK);
	free(text);
	free(path);
	tc_stop(s);
	for (i = 0; i < 3; i++)
		close(fds[i]);
}

Test(sdnotify, one_socket_passed_twice_is_one_socket, .fini = fini)
{
	struct sup *s = tc_new("", "");
	int fd, fds[2];
	json_object *st;

	write_config(s, false, "", "", "");
	rx_open(s);
	fd = tcp_listener(s->port, false, SOCK_STREAM);
	fds[0] = fds[1] = fd;
	/* A socket unit's socket that a store also gave back. */
	launch(s, fds, 2, "web:web#0", NULL);
	tc_expect_log(s, "started: ", 1);
	cr_expect_eq(tc_log_count(s, "twice, as web and web#0: one socket"), 1,
	    "%s", tc_log_text(s));
	free(rx_until("FDSTOREREMOVE=1\nFDNAME=web#0", NULL));
	free(rx_until("READY=1", NULL));
	cr_expect(!rx_socket_stored_since(0), "a socket unit's "
	    "socket was stored:\n%s", rx.seen);
	st = tc_status_json(s);
	cr_expect_str_eq(tc_json_str(listener_json(st, "web", -1, "origin")),
	    "passed");
	cr_expect_eq(tc_json_int(listener_json(st, "web", -1, "inode")),
	    (int64_t)support_fd_inode(fd));
	json_object_put(st);
	tc_get(s, NULL);
	tc_stop(s);
	close(fd);
}

Test(sdnotify, stored_socket_of_no_listener_leaves_the_store, .fini = fini)
{
	struct sup *s = tc_new("", "");
	int fds[2];

	write_config(s, false, "", "", "");
	rx_open(s);
	fds[0] = tcp_listener(s->port, false, SOCK_STREAM);
	fds[1] = tcp_listener(0, false, SOCK_STREAM);
	/* A listener the config no longer has: its socket is let go. */
	launch(s, fds, 2, "web:gone#0", NULL);
	tc_expect_log(s, "started: ", 1);
	free(rx_until("FDSTOREREMOVE=1\nFDNAME=gone#0", NULL));
	cr_expect_eq(tc_log_count(s, "fd store: gone#0 (127.0.0.1:"), 1, "%s",
	    tc_log_text(s));
	tc_get(s, NULL);
	tc_stop(s);
	close(fds[0]);
	close(fds[1]);
}

Test(sdnotify, stored_socket_a_worker_shut_down_serves_again, .fini = fini)
{
	struct sup *s = tc_new("", "");
	int fd, i;

	write_config(s, false, "", "", "");
	rx_open(s);
	/*
	 * Workers of the dead supervisor shut it down as they stopped, two
	 * of them: the first stops it listening, the second (ENOTCONN)
	 * leaves it shut for reading, which a connection accepted once it
	 * listens again would inherit.
	 */
	fd = tcp_listener(s->port, false, SOCK_STREAM);
	cr_assert_eq(shutdown(fd, SHUT_RD), 0);
	cr_assert_eq(shutdown(fd, SHUT_RD), -1);
	launch(s, &fd, 1, "web#0", NULL);
	tc_expect_log(s, "started: ", 1);
	for (i = 0; i < 4; i++)
		tc_get(s, NULL);
	tc_stop(s);
	close(fd);
}

Test(sdnotify, stored_listener_shut_down_twice_serves_again, .fini = fini)
{
	struct sup *s = tc_new("", "");
	const char *req = "GET / HTTP/1.0\r\n\r\n";
	char line[256], *answer;
	int fd, i, slow;
	bool closed;

	write_config(s, false, "", "", "");
	rx_open(s);
	tc_start(s);
	free(rx_until("READY=1", NULL));
	/*
	 * Two old workers shut the listener down as they stop, both before
	 * the supervisor repairs it (held still meanwhile): the second marks
	 * it shut for reading, which a connection accepted once it listens
	 * again would inherit.
	 */
	cr_assert_eq(tc_request_fds(s, "web", line, sizeof(line), &fd, 1), 1,
	    "%s", line);
	cr_assert_eq(kill(s->hp.pid, SIGSTOP), 0);
	cr_expect_eq(shutdown(fd, SHUT_RD), 0);
	cr_expect_eq(shutdown(fd, SHUT_RD), -1);
	cr_assert_eq(kill(s->hp.pid, SIGCONT), 0);
	tc_expect_log(s, "listening again", 1);
	/* A client slow to send: accepted before its request comes. */
	slow = tc_connect_tcp(s->port);
	cr_assert(slow != -1);
	for (i = 0; i < 4; i++)
		tc_get(s, NULL);
	cr_assert_eq(tc_send_all(slow, req, strlen(req)), 0);
	answer = tc_read_all(slow, DEADLINE_MS, &closed);
	cr_expect(strstr(answer, "gen=1") != NULL, "the slow client got: "
	    "\"%s\"", answer);
	free(answer);
	close(slow);
	tc_stop(s);
	close(fd);
}

/* Start s with fds named names; it must exit 1 saying why. */
static void
expect_refused(struct sup *s, const int *fds, size_t nfds, const char *names,
    const char *why)
{
	char *line = tc_printf("cannot start: %s", why);

	launch(s, fds, nfds, names, NULL);
	cr_assert_eq(tc_wait_exit(s, DEADLINE_MS), 1, "the supervisor did not "
	    "refuse to start (%s):\n%s", why, tc_log_text(s));
	cr_expect_eq(tc_log_count(s, line), 1, "%s", tc_log_text(s));
	cr_expect_eq(tc_log_count(s, ": starting "), 0, "%s", tc_log_text(s));
	free(line);
}

Test(sdnotify, passed_socket_of_no_listener_is_a_start_error, .fini = fini)
{
	struct sup *s = tc_new("", "");
	int fds[2], port;
	char *why;

	unsetenv("NOTIFY_SOCKET");
	write_config(s, false, "", "", "");
	fds[0] = tcp_listener(s->port, false, SOCK_STREAM);
	fds[1] = tcp_listener(0, false, SOCK_STREAM);
	port = support_local_port(fds[1]);
	why = tc_printf("the service manager passed 127.0.0.1:%d as extra, and "
	    "no listener of the config takes it", port);
	expect_refused(s, fds, 2, "web:extra", why);
	free(why);
	close(fds[0]);
	close(fds[1]);
}

Test(sdnotify, a_notify_socket_it_cannot_use_is_named, .fini = fini)
{
	struct sup *s = tc_new("", "");
	char *path = tc_printf("%s/%0120d", s->dir, 0);

	/* Longer than a unix socket's path may be: told, then run on. */
	cr_assert_eq(setenv("NOTIFY_SOCKET", path, 1), 0);
	write_config(s, false, "", "", "");
	tc_start(s);
	cr_expect_eq(tc_log_count(s, "NOTIFY_SOCKET: unix socket path too long "
	    "(at most 107 bytes): the service manager is not told"), 1, "%s",
	    tc_log_text(s));
	tc_get(s, NULL);
	tc_stop(s);
	free(path);
}

Test(sdnotify, passed_fd_that_is_no_socket_is_a_clean_start_error,
    .fini = fini)
{
	struct sup *s = tc_new("", "");
	int fds[2];

	unsetenv("NOTIFY_SOCKET");
	write_config(s, false, "", "", "");
	cr_assert(pipe(fds) == 0);
	expect_refused(s, fds, 1, "", "fd 3 passed by the service manager as "
	    "(no name) is not a socket");
	/* It exits having freed what it took (ASan would say otherwise). */
	cr_expect_eq(tc_log_count(s, "Sanitizer"), 0, "%s", tc_log_text(s));
	close(fds[0]);
	close(fds[1]);
}

Test(sdnotify, passed_socket_that_cannot_be_the_listener_is_refused,
    .fini = fini)
{
	struct sup *s = tc_new("", "");
	int fd;
	char *why;

	unsetenv("NOTIFY_SOCKET");
	/* reuseport cannot be turned on for a bound socket. */
	write_config(s, false, "reuseport = yes\n", "", "");
	fd = tcp_listener(s->port, false, SOCK_STREAM);
	why = tc_printf("listener web: 127.0.0.1:%d: the socket passed by the "
	    "service manager as web has SO_REUSEPORT off, the listener asks for "
	    "reuseport", s->port);
	expect_refused(s, &fd, 1, "web", why);
	free(why);
	close(fd);

	/* A datagram socket named for a TCP listener. */
	write_config(s, false, "", "", "");
	fd = tcp_listener(s->port, false, SOCK_DGRAM);
	why = tc_printf("listener web: 127.0.0.1:%d: the socket passed by the "
	    "service manager as web is a datagram socket on 127.0.0.1:%d",
	    s->port, s->port);
	expect_refused(s, &fd, 1, "web", why);
	free(why);
	close(fd);
}

Test(sdnotify, socket_activate_sockets_are_adopted_and_kept, .fini = fini)
{
	struct sup *s = tc_new("", "");
	char *listen_web = tc_printf("127.0.0.1:%d", s->port);
	char *admin = tc_printf("%s/admin.sock", s->dir), *body = NULL, *out;
	const char *prefix[] = { "/usr/bin/systemd-socket-activate", "-l",
	    listen_web, "-l", admin, "--fdname=web:admin", NULL };
	json_object *st;
	int64_t admin_inode;

	if (access(prefix[0], X_OK) != 0)
		cr_skip_test("%s is missing (Debian's systemd package has it)",
		    prefix[0]);
	unsetenv("NOTIFY_SOCKET");
	write_config(s, true, "", "", "");
	launch(s, NULL, 0, NULL, prefix);
	/* It binds both, then runs handoff at the first connection. */
	cr_assert_eq(support_handoff_wait_log(&s->hp, "Listening on", 2), 0,
	    "%s", tc_log_text(s));
	cr_expect_eq(tc_get(s, NULL), 1, "the first connection was not "
	    "answered by a worker");
	tc_expect_log(s, "started: ", 1);
	st = tc_status_json(s);
	cr_expect_str_eq(tc_json_str(listener_json(st, "web", -1, "origin")),
	    "passed");
	cr_expect_str_eq(tc_json_str(listener_json(st, "admin", -1, "origin")),
	    "passed");
	admin_inode = tc_json_int(listener_json(st, "admin", -1, "inode"));
	json_object_put(st);
	/* Nothing bound twice: one socket listens on the port. */
	cr_expect_eq(tcp_listening_on(s->port), 1);

	/* A reload keeps them; one that removes and adds admin takes it again. */
	write_config(s, false, "", "", "");
	cr_assert_eq(reload(s, NULL, &out), 0, "%s", out);
	free(out);
	write_config(s, true, "", "", "");
	cr_assert_eq(reload(s, NULL, &out), 0, "%s", out);
	free(out);
	st = tc_status_json(s);
	cr_expect_str_eq(tc_json_str(listener_json(st, "admin", -1, "origin")),
	    "passed");
	cr_expect_eq(tc_json_int(listener_json(st, "admin", -1, "inode")),
	    admin_inode, "admin was bound anew");
	json_object_put(st);
	cr_expect_eq(support_http_get_unix(admin, "/", &body), SUPPORT_HTTP_OK);
	free(body);
	cr_expect_eq(tc_get(s, NULL), 3);
	cr_expect_eq(tcp_listening_on(s->port), 1);
	tc_stop(s);
	free(listen_web);
	free(admin);
}

Test(sdnotify, reload_takeover_returns_before_the_drain, .fini = fini)
{
	struct sup *s = tc_new("", "");
	struct run_result res;
	json_object *st;
	char *out;

	unsetenv("NOTIFY_SOCKET");
	/* The old generation takes a minute to drain. */
	write_config(s, false, "", "--drain-delay 60s", "drain_timeout = 90s\n");
	tc_start(s);
	cr_assert_eq(reload(s, "--takeover", &out), 0, "%s", out);
	cr_expect(strstr(out, "took over in ") != NULL, "%s", out);
	cr_expect(strstr(out, "the old generations drain on") != NULL, "%s",
	    out);
	free(out);
	st = tc_status_json(s);
	cr_expect_eq(tc_json_int(tc_json_at(tc_json_named(st, "programs", "app"),
	    "current_generation", NULL)), 2);
	cr_expect_str_eq(tc_json_str(tc_json_at(tc_json_named(st, "programs",
	    "app"), "generations", "0", "state", NULL)), "draining",
	    "gen 1 is no longer draining: the reload waited for it");
	json_object_put(st);

	/* A new generation that fails: exit 1, the running one serves on. */
	write_config(s, false, "", "--exit-before-ready 3",
	    "drain_timeout = 90s\n");
	cr_expect_eq(reload(s, "--takeover", &out), 1, "%s", out);
	free(out);
	cr_expect_eq(tc_get(s, NULL), 2);
	cr_expect_eq(support_handoff_cmd(&res, "reload", "--no-wait",
	    "--takeover", "-c", s->config, NULL), 2, "%s", res.err);
	support_result_free(&res);

	/* Twice SIGINT: stop now, without waiting a minute. */
	kill(s->hp.pid, SIGINT);
	tc_expect_log(s, "SIGINT: stopping gracefully", 1);
	kill(s->hp.pid, SIGINT);
	cr_expect_eq(tc_wait_exit(s, DEADLINE_MS), 0);
	tc_expect_all_gone(s);
}
