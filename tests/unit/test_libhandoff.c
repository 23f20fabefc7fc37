/*
 * test_libhandoff.c: libhandoff (src/lib), the server side of LISTEN_FDS
 * and NOTIFY_SOCKET. handoff_listen_fds as sd_listen_fds(0): LISTEN_PID
 * checked, malformed variables refused, passed fds marked close-on-exec;
 * handoff_listener_fd by LISTEN_FDNAMES; the notify calls to a path and
 * to an abstract socket, 0 when NOTIFY_SOCKET is unset, and each way a
 * message cannot be sent.
 *
 * A case that needs fds 3, 4, ... runs in a child of its own (in_child),
 * where they can be replaced without touching the test runner's own.
 */
#include "autoconf.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "handoff.h"
#include "handoff-internal.h"
#include "support.h"

#define MAX_RESULTS	8
#define REPORT_FD	100	/* the child's end of the pipe, above 3, 4, ... */

/* What a child case found: values the parent asserts on. */
struct results {
	int	 n;
	int	 v[MAX_RESULTS];
};

/* Set LISTEN_PID to pid, or unset it when pid is 0. */
static void
set_listen_pid(pid_t pid)
{
	char text[32];

	if (pid == 0) {
		cr_assert_eq(unsetenv("LISTEN_PID"), 0);
		return;
	}
	snprintf(text, sizeof(text), "%d", (int)pid);
	cr_assert_eq(setenv("LISTEN_PID", text, 1), 0);
}

/*
 * Run fn in a child whose fds 3 .. 3+nfds-1 are fresh sockets without
 * FD_CLOEXEC (fd 3+closed is left closed when closed >= 0) and whose
 * LISTEN_PID is its own pid; return the values fn recorded.
 */
static struct results
in_child(int nfds, int closed, void (*fn)(struct results *))
{
	struct results r = { 0 };
	int pipefd[2], status, i;
	pid_t pid;
	ssize_t got;

	cr_assert_eq(pipe(pipefd), 0);
	pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0) {
		if (dup2(pipefd[1], REPORT_FD) == -1)
			_exit(2);
		/* Every fd from 3 closed: each socket takes the lowest. */
		for (i = 3; i < REPORT_FD; i++)
			close(i);
		for (i = 0; i < nfds; i++)
			if (socket(AF_UNIX, SOCK_DGRAM, 0) != 3 + i)
				_exit(2);
		if (closed >= 0)
			close(3 + closed);
		set_listen_pid(getpid());
		fn(&r);
		_exit(write(REPORT_FD, &r, sizeof(r)) == (ssize_t)sizeof(r) ? 0 : 2);
	}
	close(pipefd[1]);
	got = read(pipefd[0], &r, sizeof(r));
	close(pipefd[0]);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "the child case failed (status %#x)", status);
	cr_assert_eq(got, (ssize_t)sizeof(r));
	return r;
}

/* Record one value of a child case. */
static void
record(struct results *r, int value)
{
	if (r->n < MAX_RESULTS)
		r->v[r->n++] = value;
}

/* ---- handoff_listen_fds -------------------------------------------------- */

Test(listen_fds, zero_without_listen_pid)
{
	set_listen_pid(0);
	setenv("LISTEN_FDS", "2", 1);
	cr_expect_eq(handoff_listen_fds(), 0);
}

Test(listen_fds, zero_when_listen_pid_is_another_process)
{
	set_listen_pid(getppid());
	setenv("LISTEN_FDS", "2", 1);
	cr_expect_eq(handoff_listen_fds(), 0, "sockets meant for our parent");
	/* The environment is left as it was (sd_listen_fds(0)). */
	cr_expect_str_eq(getenv("LISTEN_FDS"), "2");
}

Test(listen_fds, zero_without_listen_fds)
{
	set_listen_pid(getpid());
	unsetenv("LISTEN_FDS");
	cr_expect_eq(handoff_listen_fds(), 0);
}

Test(listen_fds, malformed_variables_are_einval)
{
	static const char *const pids[] = { "", "x", "12x", "-1", "+5", " 5" };
	static const char *const counts[] = { "", "two", "-1", "1x", "+1",
	    " 1", "0", "2147483647" };
	static const char *const far_pids[] = { "0", "2147483648",
	    "99999999999999999999" };
	size_t i;

	setenv("LISTEN_FDS", "1", 1);
	for (i = 0; i < sizeof(pids) / sizeof(pids[0]); i++) {
		setenv("LISTEN_PID", pids[i], 1);
		cr_expect_eq(handoff_listen_fds(), -EINVAL, "LISTEN_PID=\"%s\"",
		    pids[i]);
	}
	/* As sd_listen_fds: no pid at all is out of range. */
	for (i = 0; i < sizeof(far_pids) / sizeof(far_pids[0]); i++) {
		setenv("LISTEN_PID", far_pids[i], 1);
		cr_expect_eq(handoff_listen_fds(), -ERANGE, "LISTEN_PID=\"%s\"",
		    far_pids[i]);
	}
	set_listen_pid(getpid());
	for (i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		setenv("LISTEN_FDS", counts[i], 1);
		cr_expect_eq(handoff_listen_fds(), -EINVAL, "LISTEN_FDS=\"%s\"",
		    counts[i]);
	}
	setenv("LISTEN_FDS", "99999999999999999999", 1);
	cr_expect_eq(handoff_listen_fds(), -ERANGE);
}

/* Two passed fds, not close-on-exec: counted, then close-on-exec. */
static void
count_two(struct results *r)
{
	setenv("LISTEN_FDS", "2", 1);
	record(r, handoff_listen_fds());
	record(r, fcntl(3, F_GETFD) & FD_CLOEXEC);
	record(r, fcntl(4, F_GETFD) & FD_CLOEXEC);
	record(r, handoff_listen_fds());	/* again: the same answer */
}

Test(listen_fds, counts_passed_fds_and_marks_them_cloexec)
{
	struct results r = in_child(2, -1, count_two);

	cr_expect_eq(r.v[0], 2);
	cr_expect_neq(r.v[1], 0, "fd 3 is not close-on-exec");
	cr_expect_neq(r.v[2], 0, "fd 4 is not close-on-exec");
	cr_expect_eq(r.v[3], 2);
}

Test(listen_fds, a_counted_fd_that_is_not_open_is_ebadf)
{
	struct results r = in_child(2, 1, count_two);

	cr_expect_eq(r.v[0], -EBADF);
}

/* ---- handoff_listener_fd ------------------------------------------------- */

/* Three fds named admin:web:web; ask for each name and a few others. */
static void
by_name(struct results *r)
{
	setenv("LISTEN_FDS", "3", 1);
	setenv("LISTEN_FDNAMES", "admin:web:web", 1);
	record(r, handoff_listener_fd("web"));
	record(r, handoff_listener_fd("admin"));
	record(r, handoff_listener_fd("metrics"));
	record(r, handoff_listener_fd("we"));
	record(r, handoff_listener_fd("web:web"));
	record(r, handoff_listener_fd(""));
	record(r, fcntl(5, F_GETFD) & FD_CLOEXEC);
}

Test(listener_fd, finds_the_fd_by_its_name)
{
	struct results r = in_child(3, -1, by_name);

	cr_expect_eq(r.v[0], 4, "web: the first fd of that name");
	cr_expect_eq(r.v[1], 3, "admin");
	cr_expect_eq(r.v[2], -ENOENT, "a name no fd has");
	cr_expect_eq(r.v[3], -ENOENT, "a prefix of a name");
	cr_expect_eq(r.v[4], -EINVAL, "a name with ':'");
	cr_expect_eq(r.v[5], -EINVAL, "an empty name");
	cr_expect_neq(r.v[6], 0, "every passed fd is close-on-exec");
}

/* LISTEN_FDNAMES missing, or with a name too many or too few. */
static void
names_not_matching(struct results *r)
{
	setenv("LISTEN_FDS", "2", 1);
	unsetenv("LISTEN_FDNAMES");
	record(r, handoff_listener_fd("web"));
	setenv("LISTEN_FDNAMES", "web", 1);
	record(r, handoff_listener_fd("web"));
	setenv("LISTEN_FDNAMES", "web:admin:other", 1);
	record(r, handoff_listener_fd("web"));
	setenv("LISTEN_FDS", "x", 1);
	record(r, handoff_listener_fd("web"));
	setenv("LISTEN_FDS", "2", 1);
	setenv("LISTEN_FDNAMES", "web:", 1);
	record(r, handoff_listener_fd("web"));
}

Test(listener_fd, names_that_do_not_match_the_fds)
{
	struct results r = in_child(2, -1, names_not_matching);

	cr_expect_eq(r.v[0], -ENOENT, "no LISTEN_FDNAMES: no fd has a name");
	cr_expect_eq(r.v[1], -EINVAL, "one name for two fds");
	cr_expect_eq(r.v[2], -EINVAL, "three names for two fds");
	cr_expect_eq(r.v[3], -EINVAL, "a bad LISTEN_FDS is handed on");
	cr_expect_eq(r.v[4], 3, "an empty second name still names fd 4");
}

Test(listener_fd, enoent_when_the_sockets_are_not_ours)
{
	set_listen_pid(getppid());
	setenv("LISTEN_FDS", "1", 1);
	setenv("LISTEN_FDNAMES", "web", 1);
	cr_expect_eq(handoff_listener_fd("web"), -ENOENT);
	set_listen_pid(0);
	cr_expect_eq(handoff_listener_fd("web"), -ENOENT);
	cr_expect_eq(handoff_listener_fd(NULL), -EINVAL);
}

/* ---- the notify calls ---------------------------------------------------- */

/* A datagram socket bound where NOTIFY_SOCKET will say: a path in a fresh
   directory, or an abstract name. Returns its fd; *dir to remove, or NULL. */
static int
notify_listener(int abstract, char **dir)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	socklen_t len;
	char name[96];
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	cr_assert(fd != -1);
	*dir = NULL;
	if (abstract) {
		snprintf(name, sizeof(name), "@handoff-test-%d-%ld", (int)getpid(),
		    (long)support_now_ms());
		memcpy(sun.sun_path, name, strlen(name));
		sun.sun_path[0] = '\0';
		len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
		    strlen(name));
	} else {
		*dir = support_tmpdir();
		snprintf(name, sizeof(name), "%s/notify", *dir);
		cr_assert_lt(strlen(name), sizeof(sun.sun_path));
		memcpy(sun.sun_path, name, strlen(name) + 1);
		len = (socklen_t)sizeof(sun);
	}
	cr_assert_eq(bind(fd, (struct sockaddr *)&sun, len), 0, "bind %s: %s",
	    name, strerror(errno));
	cr_assert_eq(setenv("NOTIFY_SOCKET", name, 1), 0);
	return fd;
}

/* The datagram waiting on fd, NUL-terminated, its length in *lenp; NULL if
   none is. */
static char *
received(int fd, ssize_t *lenp)
{
	static char buf[HANDOFF_NOTIFY_MAX * 2];
	ssize_t n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);

	*lenp = n;
	if (n < 0)
		return NULL;
	buf[n] = '\0';
	return buf;
}

/* The three calls deliver their messages to a socket bound as abstract
   says, returning 1 for each. */
static void
expect_delivered(int abstract)
{
	char *dir, *msg;
	ssize_t len;
	int fd = notify_listener(abstract, &dir);

	cr_expect_eq(handoff_ready(), 1);
	msg = received(fd, &len);
	cr_expect(msg != NULL && strcmp(msg, "READY=1") == 0, "got %s",
	    msg ? msg : "nothing");
	cr_expect_eq(handoff_status("%d workers, gen %s", 3, "7"), 1);
	msg = received(fd, &len);
	cr_expect(msg != NULL && strcmp(msg, "STATUS=3 workers, gen 7") == 0,
	    "got %s", msg ? msg : "nothing");
	cr_expect_eq(handoff_stopping(), 1);
	msg = received(fd, &len);
	cr_expect(msg != NULL && strcmp(msg, "STOPPING=1") == 0, "got %s",
	    msg ? msg : "nothing");
	close(fd);
	if (dir != NULL)
		support_rmtree(dir);
	free(dir);
}

Test(notify, to_a_path)
{
	expect_delivered(0);
}

Test(notify, to_an_abstract_socket)
{
	expect_delivered(1);
}

Test(notify, zero_when_notify_socket_is_unset_or_empty)
{
	unsetenv("NOTIFY_SOCKET");
	cr_expect_eq(handoff_ready(), 0);
	cr_expect_eq(handoff_status("x"), 0);
	cr_expect_eq(handoff_stopping(), 0);
	setenv("NOTIFY_SOCKET", "", 1);
	cr_expect_eq(handoff_ready(), 0);
	cr_expect_eq(handoff_status("x"), 0);
	cr_expect_eq(handoff_stopping(), 0);
}

Test(notify, addresses_that_cannot_be_a_unix_socket)
{
	char long_path[200];

	setenv("NOTIFY_SOCKET", "relative/notify", 1);
	cr_expect_eq(handoff_ready(), -EAFNOSUPPORT);
	setenv("NOTIFY_SOCKET", "vsock:2:1234", 1);
	cr_expect_eq(handoff_stopping(), -EAFNOSUPPORT);
	setenv("NOTIFY_SOCKET", "@", 1);
	errno = 0;
	cr_expect_eq(handoff_ready(), -EINVAL);
	cr_expect_eq(errno, 0, "errno changed to %d", errno);
	memset(long_path, 'x', sizeof(long_path) - 1);
	long_path[0] = '/';
	long_path[sizeof(long_path) - 1] = '\0';
	setenv("NOTIFY_SOCKET", long_path, 1);
	errno = 0;
	cr_expect_eq(handoff_ready(), -ENAMETOOLONG);
	cr_expect_eq(errno, 0, "errno changed to %d", errno);
	long_path[0] = '@';
	setenv("NOTIFY_SOCKET", long_path, 1);
	cr_expect_eq(handoff_ready(), -ENAMETOOLONG);
	/* Relative and too long: relative first. */
	long_path[0] = 'x';
	setenv("NOTIFY_SOCKET", long_path, 1);
	cr_expect_eq(handoff_ready(), -EAFNOSUPPORT);
}

/* NOTIFY_SOCKET of lead and 'n's: at 107 bytes, the longest address (with
   its NUL, sun_path's size), sent to where nobody is (-absent); one byte
   more is too long. */
static void
notify_at_most_107(const char *lead, int absent)
{
	char text[109];
	size_t n = strlen(lead);

	cr_assert_lt(n, 100);
	memcpy(text, lead, n);
	memset(text + n, 'n', sizeof(text) - 1 - n);
	text[107] = '\0';
	setenv("NOTIFY_SOCKET", text, 1);
	cr_expect_eq(handoff_ready(), -absent, "%s", text);
	text[107] = 'n';
	text[108] = '\0';
	setenv("NOTIFY_SOCKET", text, 1);
	cr_expect_eq(handoff_ready(), -ENAMETOOLONG, "%s", text);
}

Test(notify, longest_addresses_are_tried_one_more_byte_is_too_long)
{
	char *dir = support_tmpdir(), lead[128];

	snprintf(lead, sizeof(lead), "%s/", dir);
	notify_at_most_107(lead, ENOENT);
	snprintf(lead, sizeof(lead), "@handoff-test-nobody-%d-", (int)getpid());
	notify_at_most_107(lead, ECONNREFUSED);
	support_rmtree(dir);
	free(dir);
}

Test(notify, nothing_listening_is_an_error)
{
	char *dir = support_tmpdir(), path[256];

	snprintf(path, sizeof(path), "%s/absent", dir);
	setenv("NOTIFY_SOCKET", path, 1);
	cr_expect_eq(handoff_ready(), -ENOENT);
	snprintf(path, sizeof(path), "@handoff-test-nobody-%d", (int)getpid());
	setenv("NOTIFY_SOCKET", path, 1);
	cr_expect_eq(handoff_ready(), -ECONNREFUSED);
	support_rmtree(dir);
	free(dir);
}

Test(notify, status_text_longer_than_a_message_is_emsgsize)
{
	char *dir, *msg, text[HANDOFF_NOTIFY_MAX + 1];
	size_t room = HANDOFF_NOTIFY_MAX - strlen("STATUS=");
	ssize_t len;
	int fd = notify_listener(0, &dir);

	/* Exactly the longest message: sent whole. */
	memset(text, 'a', room);
	text[room] = '\0';
	cr_expect_eq(handoff_status("%s", text), 1);
	msg = received(fd, &len);
	cr_expect_eq(len, HANDOFF_NOTIFY_MAX);
	cr_expect(msg != NULL && strncmp(msg, "STATUS=aaa", 10) == 0);
	/* One byte more: refused, nothing sent. */
	cr_expect_eq(handoff_status("%sb", text), -EMSGSIZE);
	cr_expect_eq(handoff_status("%s%s%s", text, text, text), -EMSGSIZE);
	cr_expect(received(fd, &len) == NULL, "a message was sent anyway");
	close(fd);
	support_rmtree(dir);
	free(dir);
}

Test(notify, status_text_of_more_than_one_line_is_einval)
{
	char *dir;
	ssize_t len;
	int fd = notify_listener(1, &dir);

	cr_expect_eq(handoff_status("two\nlines"), -EINVAL);
	cr_expect_eq(handoff_status("READY=1\nSTATUS=%s", "x"), -EINVAL);
	cr_expect_eq(handoff_status("a%cb", 0), -EINVAL, "a NUL byte");
	cr_expect_eq(handoff_status(NULL), -EINVAL);
	cr_expect(received(fd, &len) == NULL, "a message was sent anyway");
	cr_expect_eq(handoff_status("%s", ""), 1, "an empty status is one");
	close(fd);
}

/* The test server's --notify-raw: any bytes, verbatim, as one datagram. */
Test(notify, raw_messages_are_sent_verbatim)
{
	static const char raw[] = "STATUS=a\0b\nno equals\xff";
	char *dir, *msg;
	ssize_t len;
	int fd = notify_listener(0, &dir);

	cr_expect_eq(handoff_notify_send(raw, sizeof(raw) - 1), 1);
	msg = received(fd, &len);
	cr_assert_eq(len, (ssize_t)sizeof(raw) - 1);
	cr_expect_eq(memcmp(msg, raw, sizeof(raw) - 1), 0);
	close(fd);
	support_rmtree(dir);
	free(dir);
}
