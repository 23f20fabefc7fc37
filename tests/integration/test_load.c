/*
 * test_load.c: the load library (tests/load.h) on inherit mode, and the
 * assertions that loss tests build on it.
 *
 * Under saturating load (the test server accepts one connection every 2ms
 * per worker, slower than 32 clients connect, with no more clients than the
 * backlog) and across reloads, no request fails, the kernel's
 * ListenOverflows counter stays put, connections really queue, and every
 * worker answers some; UDP datagrams at a steady rate are all answered
 * across reloads. Each such test runs in a network namespace of its own,
 * so the kernel's counters count its traffic only (it is skipped, saying
 * why, where the test may not make one). The other tests show that the
 * library sees what it must: a backlog overflowed, connections refused,
 * a datagram lost and its late reply.
 */
#include "autoconf.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "load.h"

#define CLIENTS		32	/* no more than the backlog */
#define BACKLOG		64
#define RELOADS		3
#define SENDERS		4
#define RATE		100	/* datagrams a second per sender */

/* The running test's load; stopped before its supervisors are. */
static struct load ld;

/* After each test: the load first, then the supervisors. */
static void
tl_fini(void)
{
	load_stop(&ld);
	memset(&ld, 0, sizeof(ld));
	tc_fini();
}

TestSuite(load, .fini = tl_fini, .timeout = 240);

/* Run the rest of the test in a network namespace of its own, or skip it. */
static void
tl_netns(void)
{
	char why[256];

	if (load_netns_enter(why, sizeof(why)) == 0)
		return;
	if (errno == EPERM)
		cr_skip_test("%s", why);
	cr_assert_fail("%s", why);
}

/* A counter of the test's namespace, which this kernel must have. */
static long long
tl_netstat(const char *name)
{
	long long value = load_netstat(name);

	cr_assert_neq(value, -1, "no counter %s in /proc/net/{netstat,snmp}",
	    name);
	return value;
}

/* The load's summary, for a message (one buffer: one call per message). */
static const char *
tl_summary(void)
{
	static char buf[2048];

	return load_summary(&ld, buf, sizeof(buf));
}

/* The counter name must still be at its value before the load. */
static void
tl_expect_unchanged(const char *name, long long before)
{
	long long now = tl_netstat(name);

	cr_assert_eq(now, before, "%s went from %lld to %lld under the load: %s",
	    name, before, now, tl_summary());
}

/* Wait until the accept queues on port hold at least n connections. */
static void
tl_expect_queue(int port, int n)
{
	long long deadline = support_now_ms() + DEADLINE_MS;
	int queued = -1;

	/* Look again after each result: the queue changes with them. */
	while (tc_left(deadline) > 0 && (queued = load_listen_queue(port)) < n)
		cr_assert_eq(load_wait_progress(&ld, 1), 0, "%s", tl_summary());
	cr_assert_geq(queued, n, "connections never queued on port %d (%d "
	    "waiting, wanted %d): the server is not slower than its clients",
	    port, queued, n);
}

Test(load, saturating_tcp_load_loses_nothing_across_reloads)
{
	long long overflows, drops;
	struct sup *s;
	char *backlog;
	int k;

	tl_netns();
	s = tc_new("", "");
	backlog = tc_printf("backlog = %d\n", BACKLOG);
	tc_write_config_full(s, "", backlog, "--accept-delay 2ms", "");
	free(backlog);
	tc_start(s);
	overflows = tl_netstat("ListenOverflows");
	drops = tl_netstat("ListenDrops");

	cr_assert_eq(load_start_tcp(&ld, "127.0.0.1", s->port, CLIENTS), 0,
	    "cannot start the clients: %s", strerror(errno));
	tl_expect_queue(s->port, CLIENTS / 4);
	for (k = 1; k <= RELOADS; k++)
		tc_reload_under_load(s, &ld, "app", k, CLIENTS);
	load_stop(&ld);

	cr_assert_eq(load_failures(&ld), 0, "%s", tl_summary());
	cr_assert_gt(load_total(&ld), (long)CLIENTS * (2 * RELOADS + 1), "%s",
	    tl_summary());
	tl_expect_unchanged("ListenOverflows", overflows);
	tl_expect_unchanged("ListenDrops", drops);
	/* Both workers accepted: neither can keep up alone. */
	cr_assert_eq(load_workers_answering(&ld), 2, "%s", tl_summary());
	cr_assert_gt(load_worker_answers(&ld, 0), 0, "%s", tl_summary());
	cr_assert_gt(load_worker_answers(&ld, 1), 0, "%s", tl_summary());
	cr_log_info("%s", tl_summary());
	tc_stop(s);
}

Test(load, steady_udp_load_loses_no_datagram_across_reloads)
{
	long long errors, rcvbuf, noports;
	struct sup *s;
	char *keys;
	int k;

	tl_netns();
	s = tc_new("", "");
	/* A second program, on a UDP listener of its own (same port number). */
	keys = tc_printf(
	    "\n[listener dns]\n"
	    "listen = udp:127.0.0.1:%d\n"
	    "\n[program echo]\n"
	    "command = %s\n"
	    "listeners = dns\n"
	    "workers = 2\n",
	    s->port, support_env("HANDOFF_TESTSERVER"));
	tc_write_config(s, "", keys);
	free(keys);
	tc_start(s);
	errors = tl_netstat("Udp:InErrors");
	rcvbuf = tl_netstat("Udp:RcvbufErrors");
	noports = tl_netstat("Udp:NoPorts");

	cr_assert_eq(load_start_udp(&ld, "127.0.0.1", s->port, SENDERS, RATE),
	    0, "cannot start the senders: %s", strerror(errno));
	for (k = 1; k <= RELOADS; k++)
		tc_reload_under_load(s, &ld, "echo", k, SENDERS);
	load_stop(&ld);

	cr_assert_eq(load_count(&ld, LOAD_LOST), 0, "%s", tl_summary());
	cr_assert_eq(load_failures(&ld), 0, "%s", tl_summary());
	cr_assert_eq(load_late(&ld), 0, "%s", tl_summary());
	cr_assert_gt(load_total(&ld), (long)SENDERS * (2 * RELOADS + 1), "%s",
	    tl_summary());
	tl_expect_unchanged("Udp:InErrors", errors);
	tl_expect_unchanged("Udp:RcvbufErrors", rcvbuf);
	tl_expect_unchanged("Udp:NoPorts", noports);
	cr_log_info("%s", tl_summary());
	tc_stop(s);
}

/*
 * --accept-delay: once a test server accepted one connection, it accepts
 * no other for the delay (an hour here: 60m), yet answers the one it has; the
 * others wait in the accept queue. Two workers, four clients: two are
 * answered, two wait.
 */
Test(load, accept_delay_holds_accepts_back_and_serves_the_accepted)
{
	long long deadline = support_now_ms() + DEADLINE_MS;
	struct pollfd pfd[4];
	int i, answered = 0;
	char *answer;
	struct sup *s;
	bool closed;

	s = tc_new("--accept-delay 60m", "");
	tc_start(s);
	for (i = 0; i < 4; i++) {
		pfd[i].fd = tc_connect_tcp(s->port);
		pfd[i].events = POLLIN;
		cr_assert_eq(tc_send_all(pfd[i].fd, "GET / HTTP/1.0\r\n\r\n",
		    18), 0);
	}
	while (answered < 2 && poll(pfd, 4, tc_left(deadline)) > 0) {
		for (i = 0; i < 4; i++) {
			if (pfd[i].revents == 0)
				continue;
			answer = tc_read_all(pfd[i].fd, DEADLINE_MS, &closed);
			cr_assert(closed && strstr(answer, "\r\n\r\ngen=1 pid=")
			    != NULL, "%s", answer);
			free(answer);
			close(pfd[i].fd);
			pfd[i].fd = -1;		/* answered: not polled again */
			answered++;
		}
	}
	cr_assert_eq(answered, 2, "%d of 4 clients answered", answered);
	/* The others were not accepted: still queued, unanswered. */
	cr_assert_eq(load_listen_queue(s->port), 2, "%d connections queued, "
	    "not the 2 left", load_listen_queue(s->port));
	cr_assert_eq(poll(pfd, 4, 0), 0);
	for (i = 0; i < 4; i++)
		if (pfd[i].fd != -1)
			close(pfd[i].fd);
	tc_stop(s);
}

/* More clients than the backlog: ListenOverflows counts what is dropped. */
Test(load, clients_beyond_the_backlog_overflow_it)
{
	long long deadline = support_now_ms() + DEADLINE_MS, overflows;
	struct sup *s;

	tl_netns();
	s = tc_new("", "");
	tc_write_config_full(s, "", "backlog = 2\n", "--accept-delay 2ms", "");
	tc_start(s);
	overflows = tl_netstat("ListenOverflows");
	cr_assert_eq(load_start_tcp(&ld, "127.0.0.1", s->port, CLIENTS), 0);
	/* Look again after each result: an overflow delays one a while. */
	while (tc_left(deadline) > 0 &&
	    tl_netstat("ListenOverflows") == overflows)
		cr_assert_eq(load_wait_progress(&ld, 1), 0, "%s", tl_summary());
	cr_assert_gt(tl_netstat("ListenOverflows"), overflows,
	    "%d clients never overflowed a backlog of 2: %s", CLIENTS,
	    tl_summary());
	/* The supervisor first: clients retrying a dropped SYN are refused
	   at once, instead of after the kernel's backoff. */
	tc_stop(s);
	load_stop(&ld);
}

/* Counters by name: a bare name must be in one table only. */
Test(load, netstat_reads_counters_by_table_and_name)
{
	cr_assert_geq(load_netstat("ListenOverflows"), 0);
	cr_assert_eq(load_netstat("TcpExt:ListenOverflows"),
	    load_netstat("ListenOverflows"));
	cr_assert_geq(load_netstat("Udp:RcvbufErrors"), 0);
	/* In Icmp, Udp and UdpLite: which one is meant? */
	cr_assert_eq(load_netstat("InErrors"), -1);
	cr_assert_eq(load_netstat("Tcp:ListenOverflows"), -1);
	cr_assert_eq(load_netstat("NoSuchCounter"), -1);
}

/* Nothing listens: every request is refused, and the summary says so. */
Test(load, requests_to_a_closed_port_are_refused)
{
	char summary[1024];
	int port = support_free_port();

	cr_assert_eq(load_start_tcp(&ld, "127.0.0.1", port, 2), 0);
	cr_assert_eq(load_wait_progress(&ld, 10), 0);
	load_stop(&ld);
	cr_assert_eq(load_count(&ld, LOAD_REFUSED), load_total(&ld), "%s",
	    tl_summary());
	cr_assert_eq(load_workers_answering(&ld), 0);
	load_summary(&ld, summary, sizeof(summary));
	cr_assert(strstr(summary, "first failure: client ") != NULL &&
	    strstr(summary, "connection refused") != NULL, "%s", summary);
	/* A summary cut short is still a string. */
	cr_assert_eq(strlen(load_summary(&ld, summary, 16)), 15);
}

/* Receive the next datagram on fd: it must be want; its sender in *peer. */
static void
tl_receive(int fd, struct sockaddr_in *peer, const char *want)
{
	socklen_t len = sizeof(*peer);
	char datagram[64];
	ssize_t n;

	n = recvfrom(fd, datagram, sizeof(datagram) - 1, 0,
	    (struct sockaddr *)peer, &len);
	cr_assert_gt(n, 0, "recvfrom: %s", strerror(errno));
	datagram[n] = '\0';
	cr_assert_str_eq(datagram, want);
}

/* Answer datagram text on fd (whose sender is peer) as a worker would. */
static void
tl_answer(int fd, const struct sockaddr_in *peer, const char *token)
{
	char *reply = tc_printf("gen=1 pid=%d worker=0 seq=%s\n", (int)getpid(),
	    token);

	cr_assert_eq(sendto(fd, reply, strlen(reply), 0,
	    (const struct sockaddr *)peer, sizeof(*peer)),
	    (ssize_t)strlen(reply));
	free(reply);
}

/*
 * A server of the test's own that does not answer a datagram in time: it
 * is lost, until its reply comes later: then it is late, not lost, and
 * its reply not taken for the answer to the next datagram, which is
 * answered. The sender is connected: replies
 * must come from the address it sends to.
 */
Test(load, unanswered_datagram_is_lost_until_its_late_reply_comes)
{
	struct sockaddr_in sin = { .sin_family = AF_INET }, peer;
	socklen_t len = sizeof(sin);
	int fd;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	cr_assert_neq(fd, -1);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	cr_assert_eq(load_start_udp(&ld, "127.0.0.1", ntohs(sin.sin_port), 1,
	    10), 0);

	tl_receive(fd, &peer, "seq=0-1\n");
	/* Not answered: lost once its deadline passed. */
	cr_assert_eq(load_wait_total(&ld, 1), 0);
	cr_assert_eq(load_count(&ld, LOAD_LOST), 1, "%s", tl_summary());

	tl_receive(fd, &peer, "seq=0-2\n");
	tl_answer(fd, &peer, "0-1");
	tl_answer(fd, &peer, "0-2");
	cr_assert_eq(load_wait_total(&ld, 2), 0);
	/* Answered too, so that stopping waits for nothing. */
	tl_receive(fd, &peer, "seq=0-3\n");
	tl_answer(fd, &peer, "0-3");
	cr_assert_eq(load_wait_total(&ld, 3), 0);
	load_stop(&ld);

	cr_assert_eq(load_count(&ld, LOAD_OK), 3, "%s", tl_summary());
	cr_assert_eq(load_count(&ld, LOAD_LOST), 0, "%s", tl_summary());
	cr_assert_eq(load_total(&ld), 3, "%s", tl_summary());
	cr_assert_eq(load_late(&ld), 1, "%s", tl_summary());
	cr_assert_eq(load_worker_answers(&ld, 0), 3, "%s", tl_summary());
	cr_assert(strstr(tl_summary(), "datagram seq=0-1 lost") != NULL, "%s",
	    tl_summary());
	close(fd);
}
