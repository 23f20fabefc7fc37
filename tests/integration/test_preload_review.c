/*
 * test_preload_review.c: `preload = yes` (libhandoff-preload.so) against
 * the less common ways servers use their sockets and processes: exec
 * after vfork() (as Python's subprocess does), recvmmsg()/sendmmsg() on a
 * blocking UDP socket, and SO_RCVTIMEO on a listening socket. The server
 * is the test's bindserver, which binds its own port.
 */
#include "autoconf.h"

#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

TestSuite(preload_review, .fini = tc_fini, .timeout = 120);

/*
 * Write s's config: listener web on listen, program app running
 * bindserver with args under preload = yes, with the program keys.
 */
static void
tr_config(struct sup *s, const char *listen, const char *args,
    const char *keys)
{
	char *text = tc_printf(
	    "[supervisor]\nname = ctltest\ncontrol = %s\npidfile = %s/handoff.pid\n"
	    "\n[listener web]\nlisten = %s\n"
	    "\n[program app]\ncommand = %s %s\nlisteners = web\npreload = yes\n"
	    "drain_timeout = 10s\n%s", s->sock, s->dir, listen,
	    support_env("HANDOFF_BINDSERVER"), args, keys);

	free(support_write_file(s->dir, "handoff.ini", text));
	free(text);
}

/* The number after needle in s's log (its first line with it). */
static long
tr_log_number(struct sup *s, const char *needle)
{
	char *log = tc_log_text(s), *at = strstr(log, needle);
	long v;

	cr_assert_not_null(at, "no \"%s\" in the log:\n%s", needle, log);
	v = strtol(at + strlen(needle), NULL, 10);
	free(log);
	return v;
}

/*
 * A server that runs programs by vfork() and exec (Python's subprocess,
 * a CGI server) does not grow with each one: the environment the shim
 * makes for an exec lives on the stack the vfork child borrows, not in
 * a mapping that stays behind in the parent. 200 runs, well under 1 MB.
 */
Test(preload_review, exec_after_vfork_leaves_nothing_behind)
{
	struct sup *s = tc_new("", "");
	char *listen = tc_printf("127.0.0.1:%d", s->port);
	char *args = tc_printf("--listen %s --vfork-exec 200", listen);
	long grew;
	pid_t pid;

	tr_config(s, listen, args, "workers = 1\nready = listening\n");
	tc_start(s);
	tc_expect_log(s, "vfork-exec 200: VmSize grew by ", 1);
	grew = tr_log_number(s, "vfork-exec 200: VmSize grew by ");
	cr_expect_lt(grew, 1024, "200 execs after vfork() grew the server "
	    "by %ld kB", grew);
	cr_expect_eq(tc_get(s, &pid), 1);
	tc_stop(s);
	free(listen);
	free(args);
}

/*
 * Send "seq=N" to 127.0.0.1:port by UDP and wait (5s at most) for the
 * answer; the answer, or NULL if none came.
 */
static char *
tr_udp_ask(int port, int n)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	char buf[512];
	struct pollfd pfd;
	ssize_t got;
	int fd;

	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	cr_assert_neq(fd, -1);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	snprintf(buf, sizeof(buf), "seq=%d", n);
	cr_assert_eq(send(fd, buf, strlen(buf), 0), (ssize_t)strlen(buf));
	pfd = (struct pollfd){ .fd = fd, .events = POLLIN };
	got = poll(&pfd, 1, 5000) == 1 ? recv(fd, buf, sizeof(buf) - 1, 0) : -1;
	close(fd);
	if (got <= 0)
		return NULL;
	buf[got] = '\0';
	return strdup(buf);
}

/*
 * A UDP server that receives with a blocking recvmmsg() and answers with
 * sendmmsg() (as DNS servers do) keeps blocking on the supervisor's
 * socket, which is non-blocking: every datagram is answered and the
 * worker never sees EAGAIN (it would exit, and restart).
 */
Test(preload_review, udp_server_using_recvmmsg_blocks)
{
	struct sup *s = tc_new("", "");
	char *listen = tc_printf("udp:127.0.0.1:%d", s->port);
	char *args = tc_printf("--listen %s --mmsg", listen);
	char *answer, *seq;
	int k;

	tr_config(s, listen, args, "workers = 1\nready = listening\n");
	tc_start(s);
	for (k = 0; k < 20; k++) {
		answer = tr_udp_ask(s->port, k);
		seq = tc_printf(" seq=%d\n", k);
		cr_expect(answer != NULL && strstr(answer, seq) != NULL,
		    "datagram %d: %s\n%s", k, answer ? answer : "no answer",
		    tc_log_text(s));
		free(answer);
		free(seq);
	}
	cr_expect_eq(tc_log_count(s, "Resource temporarily unavailable"), 0,
	    "%s", tc_log_text(s));
	cr_expect_eq(tc_log_count(s, "restarting"), 0, "%s", tc_log_text(s));
	tc_stop(s);
	free(listen);
	free(args);
}

/*
 * Start bindserver with SO_RCVTIMEO 100 ms (and extra options), 1 worker:
 * the app sees its timeout and its accept() times out as asked.
 */
static struct sup *
tr_start_rcvtimeo(const char *extra)
{
	struct sup *s = tc_new("", "");
	char *listen = tc_printf("127.0.0.1:%d", s->port);
	char *args = tc_printf("--listen %s --rcvtimeo 100 %s", listen, extra);

	tr_config(s, listen, args, "workers = 1\nready = listening\n");
	tc_start(s);
	tc_expect_log(s, "nonblock=0 rcvtimeo=100", 1);
	tc_expect_log(s, "accept timed out after 100 ms", 1);
	free(listen);
	free(args);
	return s;
}

/*
 * SO_RCVTIMEO set before bind() stays the app's: the supervisor's socket
 * replaces the app's at bind(), and the app's timeout goes with it. The
 * app sees it (getsockopt) and its blocking accept() times out with
 * EAGAIN as it would anywhere, and still serves.
 */
Test(preload_review, rcvtimeo_set_before_bind_is_kept)
{
	struct sup *s = tr_start_rcvtimeo("");
	pid_t pid;

	cr_expect_eq(tc_get(s, &pid), 1);
	cr_expect_eq(tc_log_count(s, "restarting"), 0, "%s", tc_log_text(s));
	tc_stop(s);
}

/*
 * SO_RCVTIMEO set after bind() is the app fd's own, not the shared
 * socket's: a next generation that sets none sees none (its blocking
 * accept() would otherwise fail with EAGAIN), while the first one's
 * accept() times out as asked.
 */
Test(preload_review, rcvtimeo_set_after_bind_stays_off_the_shared_socket)
{
	struct sup *s = tr_start_rcvtimeo("--timeo-after");
	char *listen = tc_printf("127.0.0.1:%d", s->port);
	char *plain = tc_printf("--listen %s", listen);
	struct run_result res;
	pid_t pid;

	tr_config(s, listen, plain, "workers = 1\nready = listening\n");
	cr_assert_eq(support_handoff_cmd(&res, "reload", "-s", s->sock, NULL),
	    0, "%s%s\n%s", res.out, res.err, tc_log_text(s));
	support_result_free(&res);
	tc_expect_log(s, "app gen 1: gone", 1);
	tc_expect_log(s, "nonblock=0 rcvtimeo=0", 1);
	cr_expect_eq(tc_get(s, &pid), 2);
	cr_expect_eq(tc_log_count(s, "Resource temporarily unavailable"), 0,
	    "%s", tc_log_text(s));
	tc_stop(s);
	free(listen);
	free(plain);
}
