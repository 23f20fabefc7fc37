/*
 * test_sockdiag.c: sock_diag finds the sockets this test opens (TCP over
 * IPv4 and IPv6, UDP, unix by path and abstract name), with their inode,
 * owner and accept queue; matches addresses the way bind() overlaps them;
 * keeps no more than it is allowed; names the connections waiting in an
 * accept queue; and /proc names the processes that hold them.
 */
#include "autoconf.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "addr.h"
#include "procfs.h"
#include "sockdiag.h"
#include "support.h"

#define NCLIENTS	5	/* connected, never accepted */
#define BACKLOG		7

/* A private temporary directory for unix sockets. */
static char tmpdir[64];

/* Create the temporary directory. */
static void
setup(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/handoff-sockdiag-XXXXXX");
	cr_assert_not_null(mkdtemp(tmpdir), "mkdtemp: %s", strerror(errno));
}

/* Remove the temporary directory and the socket files in it. */
static void
teardown(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", tmpdir);
}

TestSuite(sockdiag, .init = setup, .fini = teardown);

/* Parse an address the way the config does. */
static struct sockdiag_want
want_of(const char *text, bool v6only)
{
	struct sockdiag_want w;
	const char *cause;

	memset(&w, 0, sizeof(w));
	cr_assert_eq(addr_parse(text, &w.addr, &cause), 0, "%s: %s", text,
	    cause);
	w.v6only = v6only;
	return w;
}

/*
 * A socket bound to text (port 0: any) and, for a stream socket, listening
 * with BACKLOG; -1 with errno if it cannot be bound (no IPv6, say).
 */
static int
open_socket(const char *text, bool reuseport, int v6only)
{
	struct addr addr;
	const char *cause;
	int fd, type, on = 1;

	cr_assert_eq(addr_parse(text, &addr, &cause), 0, "%s: %s", text, cause);
	type = addr_socktype(&addr);
	fd = socket(addr.ss.ss_family, type | SOCK_CLOEXEC, 0);
	cr_assert_neq(fd, -1, "socket: %s", strerror(errno));
	if (reuseport)
		cr_assert_eq(setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on,
		    sizeof(on)), 0);
	if (v6only >= 0)
		cr_assert_eq(setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only,
		    sizeof(v6only)), 0);
	if (bind(fd, (struct sockaddr *)&addr.ss, addr.len) == -1) {
		int saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	if (type == SOCK_STREAM)
		cr_assert_eq(listen(fd, BACKLOG), 0);
	return fd;
}

/* Like open_socket, but the test fails if it cannot be bound. */
static int
must_open(const char *text, bool reuseport, int v6only)
{
	int fd = open_socket(text, reuseport, v6only);

	cr_assert_neq(fd, -1, "bind %s: %s", text, strerror(errno));
	return fd;
}

/* Skip the test where there is no IPv6 loopback. */
static void
need_ipv6(void)
{
	int fd = open_socket("[::1]:0", false, -1);

	if (fd == -1)
		cr_skip_test("no IPv6 loopback here");
	close(fd);
}

/* The port a socket is bound to. */
static int
port_of(int fd)
{
	int port = support_local_port(fd);

	cr_assert_gt(port, 0);
	return port;
}

/* The inode of an fd, as sock_diag names its socket. */
static ino_t
inode_of(int fd)
{
	ino_t inode = support_fd_inode(fd);

	cr_assert_neq(inode, 0);
	return inode;
}

/* List the sockets on the wanted addresses; the test fails on an error. */
static void
list_of(const struct sockdiag_want *wants, size_t n, struct sockdiag_list *out)
{
	char *cause = NULL;

	cr_assert_eq(sockdiag_listeners(wants, n, out, &cause), 0, "%s",
	    cause ? cause : "(no cause)");
}

/* The socket of a list with this inode, or NULL. */
static const struct sockdiag_sock *
find(const struct sockdiag_list *list, ino_t inode)
{
	size_t i;

	for (i = 0; i < list->count; i++)
		if (list->socks[i].inode == inode)
			return &list->socks[i];
	return NULL;
}

/* Connect n clients to a stream socket address; their fds into fds. */
static void
connect_clients(const struct sockaddr *sa, socklen_t len, int *fds, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		fds[i] = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		cr_assert_neq(fds[i], -1);
		cr_assert_eq(connect(fds[i], sa, len), 0, "connect: %s",
		    strerror(errno));
	}
}

/*
 * The accept queue of the socket with this inode on want, once it reached
 * at least n (the kernel queues a loopback connection as the handshake's
 * last ACK arrives), or what it is after a deadline.
 */
static uint32_t
queue_depth(const struct sockdiag_want *want, ino_t inode, uint32_t n)
{
	struct sockdiag_list list = { .socks = NULL };
	struct timespec pause = { 0, 1000 * 1000 };
	const struct sockdiag_sock *s;
	uint32_t depth = 0;
	int tries;

	for (tries = 0; tries < 5000; tries++) {
		list_of(want, 1, &list);
		cr_assert_not_null(s = find(&list, inode));
		depth = s->rqueue;
		if (depth >= n)
			break;
		nanosleep(&pause, NULL);
	}
	sockdiag_list_free(&list);
	return depth;
}

/* Check a TCP listener bound to text: found as itself, with its queue. */
static void
check_tcp_listener(const char *any, const char *host, int family)
{
	struct sockdiag_list list = { .socks = NULL };
	const struct sockdiag_sock *s;
	struct sockdiag_want want;
	char text[64];
	int fd, port, clients[NCLIENTS], i;

	fd = must_open(any, false, -1);
	port = port_of(fd);
	snprintf(text, sizeof(text), "%s:%d", host, port);
	want = want_of(text, false);
	list_of(&want, 1, &list);
	cr_assert_eq(list.count, 1, "%zu sockets on %s", list.count, text);
	cr_assert_not_null(s = find(&list, inode_of(fd)), "not found: %s", text);
	cr_assert_eq(s->family, family);
	cr_assert_eq(s->type, SOCK_STREAM);
	cr_assert_eq(s->uid, getuid());
	cr_assert_eq(s->want, 0);
	cr_assert_eq(s->rqueue, 0);
	cr_assert_eq(s->wqueue, BACKLOG);
	cr_assert(!list.truncated);
	sockdiag_list_free(&list);

	connect_clients((const struct sockaddr *)&want.addr.ss, want.addr.len,
	    clients, NCLIENTS);
	cr_assert_eq(queue_depth(&want, inode_of(fd), NCLIENTS), NCLIENTS);
	for (i = 0; i < NCLIENTS; i++)
		close(clients[i]);
	close(fd);
}

Test(sockdiag, tcp_ipv4_listener_inode_owner_and_queue)
{
	check_tcp_listener("127.0.0.1:0", "127.0.0.1", AF_INET);
}

Test(sockdiag, tcp_ipv6_listener_inode_owner_and_queue)
{
	need_ipv6();
	check_tcp_listener("[::1]:0", "[::1]", AF_INET6);
}

/* Check a unix stream listener found through want_text, with its queue. */
static void
check_unix_listener(const char *text)
{
	struct sockdiag_list list = { .socks = NULL };
	const struct sockdiag_sock *s;
	struct sockdiag_want want = want_of(text, false);
	int fd, clients[NCLIENTS], i;

	fd = must_open(text, false, -1);
	list_of(&want, 1, &list);
	cr_assert_eq(list.count, 1, "%zu sockets on %s", list.count, text);
	cr_assert_not_null(s = find(&list, inode_of(fd)));
	cr_assert_eq(s->family, AF_UNIX);
	cr_assert_eq(s->type, SOCK_STREAM);
	cr_assert_eq(s->uid, getuid());
	cr_assert_eq(s->rqueue, 0);
	cr_assert_eq(s->wqueue, BACKLOG);
	sockdiag_list_free(&list);

	/* A unix connection is queued when connect() returns. */
	connect_clients((const struct sockaddr *)&want.addr.ss, want.addr.len,
	    clients, NCLIENTS);
	list_of(&want, 1, &list);
	cr_assert_not_null(s = find(&list, inode_of(fd)));
	cr_assert_eq(s->rqueue, NCLIENTS);
	sockdiag_list_free(&list);
	for (i = 0; i < NCLIENTS; i++)
		close(clients[i]);
	close(fd);
}

Test(sockdiag, unix_path_listener_inode_owner_and_queue)
{
	char text[PATH_MAX];

	snprintf(text, sizeof(text), "unix:%s/app.sock", tmpdir);
	check_unix_listener(text);
}

Test(sockdiag, unix_abstract_listener_inode_owner_and_queue)
{
	char text[64];

	snprintf(text, sizeof(text), "unix:@handoff-sockdiag-%d", (int)getpid());
	check_unix_listener(text);
}

Test(sockdiag, unix_path_reaches_the_socket_whose_file_is_there)
{
	struct sockdiag_list list = { .socks = NULL };
	struct sockdiag_want want;
	char text[PATH_MAX];
	int first, second;

	snprintf(text, sizeof(text), "unix:%s/app.sock", tmpdir);
	want = want_of(text, false);
	first = must_open(text, false, -1);
	/* Someone removes the file and binds a socket of their own there. */
	cr_assert_eq(unlink(text + 5), 0);
	second = must_open(text, false, -1);
	list_of(&want, 1, &list);
	cr_assert_eq(list.count, 1);
	cr_assert_eq(list.socks[0].inode, inode_of(second));
	sockdiag_list_free(&list);

	/* Without a file, the path reaches nothing. */
	cr_assert_eq(unlink(text + 5), 0);
	list_of(&want, 1, &list);
	cr_assert_eq(list.count, 0);
	close(first);
	close(second);
}

/*
 * The connections waiting in listener fd's accept queue, once n wait (a
 * TCP one waits when the handshake's last ACK arrives); the test fails if
 * the kernel does not name them.
 */
static void
waiting_of(int fd, bool tcp, size_t n, struct sockdiag_waiting *w)
{
	struct timespec pause = { 0, 1000 * 1000 };
	unsigned int queued, backlog;
	int tries;

	for (tries = 0; tries < 5000; tries++) {
		w->still = w->noldest = 0;
		if (tcp)
			cr_assert_eq(sockdiag_tcp_waiting(fd, w), 0);
		else
			cr_assert_eq(sockdiag_unix_queue(fd, &queued, &backlog,
			    w), 0);
		cr_assert(w->named);
		if (w->noldest >= n)
			break;
		nanosleep(&pause, NULL);
	}
	cr_assert_eq(w->noldest, n);
}

/*
 * Connections waiting in a listener's queue are named; once one is accepted
 * (and held) it waits no more, and the others still do. A unix queue names
 * them in its order, the oldest first: the one accepted is the first named.
 */
static void
check_waiting(const char *text, bool tcp)
{
	struct sockdiag_want want = want_of(text, false);
	struct sockdiag_waiting before, after;
	uint64_t known[NCLIENTS], id = 0;
	socklen_t idlen = sizeof(id);
	int fd, accepted, clients[NCLIENTS], i;
	char bound[64];

	fd = must_open(text, false, -1);
	if (tcp) {
		snprintf(bound, sizeof(bound), "127.0.0.1:%d", port_of(fd));
		want = want_of(bound, false);
	}
	memset(&before, 0, sizeof(before));
	waiting_of(fd, tcp, 0, &before);
	connect_clients((const struct sockaddr *)&want.addr.ss, want.addr.len,
	    clients, NCLIENTS);
	waiting_of(fd, tcp, NCLIENTS, &before);
	if (!tcp)
		for (i = 0; i < NCLIENTS; i++)
			cr_expect_eq(before.oldest[i],
			    (uint64_t)inode_of(clients[i]));
	memcpy(known, before.oldest, sizeof(known));

	/* The one accepted: a TCP socket's cookie, a unix client's inode. */
	cr_assert_neq(accepted = accept(fd, NULL, NULL), -1);
	if (tcp)
		cr_assert_eq(getsockopt(accepted, SOL_SOCKET, SO_COOKIE, &id,
		    &idlen), 0, "SO_COOKIE: %s", strerror(errno));
	else
		id = (uint64_t)inode_of(clients[0]);
	for (i = 0; i < NCLIENTS && known[i] != id; i++)
		continue;
	cr_expect_lt(i, NCLIENTS, "the connection accepted was not named");
	memset(&after, 0, sizeof(after));
	after.known = known;
	after.nknown = NCLIENTS;
	waiting_of(fd, tcp, NCLIENTS - 1, &after);
	cr_expect_eq(after.still, NCLIENTS - 1);
	for (i = 0; i < (int)after.noldest; i++)
		cr_expect_neq(after.oldest[i], id, "accepted, still named");
	if (!tcp)
		cr_expect_eq(after.oldest[0], known[1]);
	close(accepted);
	for (i = 0; i < NCLIENTS; i++)
		close(clients[i]);
	close(fd);
}

Test(sockdiag, tcp_waiting_connections_are_named_until_accepted)
{
	check_waiting("127.0.0.1:0", true);
}

Test(sockdiag, unix_waiting_connections_are_named_until_accepted)
{
	char text[PATH_MAX];

	snprintf(text, sizeof(text), "unix:%s/app.sock", tmpdir);
	check_waiting(text, false);
}

Test(sockdiag, datagram_sockets_are_found_when_bound)
{
	struct sockdiag_list list = { .socks = NULL };
	struct sockdiag_want wants[2];
	char udp[64], dgram[PATH_MAX];
	int ufd, dfd;

	ufd = must_open("udp:127.0.0.1:0", false, -1);
	snprintf(udp, sizeof(udp), "udp:127.0.0.1:%d", port_of(ufd));
	snprintf(dgram, sizeof(dgram), "unixgram:%s/log.dgram", tmpdir);
	dfd = must_open(dgram, false, -1);
	wants[0] = want_of(udp, false);
	wants[1] = want_of(dgram, false);
	list_of(wants, 2, &list);
	cr_assert_eq(list.count, 2);
	cr_assert_not_null(find(&list, inode_of(ufd)));
	cr_assert_eq(find(&list, inode_of(ufd))->want, 0);
	cr_assert_eq(find(&list, inode_of(ufd))->type, SOCK_DGRAM);
	cr_assert_not_null(find(&list, inode_of(dfd)));
	cr_assert_eq(find(&list, inode_of(dfd))->want, 1);
	sockdiag_list_free(&list);
	close(ufd);
	close(dfd);
}

/* How many sockets are on text (v6only for an IPv6 wildcard want). */
static size_t
count_on(const char *text, bool v6only)
{
	struct sockdiag_list list = { .socks = NULL };
	struct sockdiag_want want = want_of(text, v6only);
	size_t n;

	list_of(&want, 1, &list);
	n = list.count;
	sockdiag_list_free(&list);
	return n;
}

Test(sockdiag, addresses_overlap_as_bind_sees_them)
{
	char text[64];
	int wild4, dual, only6, port;

	/* 0.0.0.0 takes 127.0.0.1; UDP on the port is not TCP. */
	wild4 = must_open("0.0.0.0:0", false, -1);
	port = port_of(wild4);
	snprintf(text, sizeof(text), "127.0.0.1:%d", port);
	cr_assert_eq(count_on(text, false), 1);
	snprintf(text, sizeof(text), "0.0.0.0:%d", port);
	cr_assert_eq(count_on(text, false), 1);
	snprintf(text, sizeof(text), "udp:127.0.0.1:%d", port);
	cr_assert_eq(count_on(text, false), 0);
	snprintf(text, sizeof(text), "127.0.0.1:%d", port == 65535 ? 1 : port + 1);
	cr_assert_eq(count_on(text, false), 0);
	close(wild4);

	/* A dual-stack [::] takes IPv4; a v6only one does not. */
	need_ipv6();
	dual = must_open("[::]:0", false, 0);
	snprintf(text, sizeof(text), "127.0.0.1:%d", port_of(dual));
	cr_assert_eq(count_on(text, false), 1);
	close(dual);
	only6 = must_open("[::]:0", false, 1);
	snprintf(text, sizeof(text), "127.0.0.1:%d", port_of(only6));
	cr_assert_eq(count_on(text, false), 0);
	snprintf(text, sizeof(text), "[::1]:%d", port_of(only6));
	cr_assert_eq(count_on(text, false), 1);
	close(only6);

	/* Our own [::] wildcard takes IPv4 sockets unless it is v6only. */
	wild4 = must_open("127.0.0.1:0", false, -1);
	snprintf(text, sizeof(text), "[::]:%d", port_of(wild4));
	cr_assert_eq(count_on(text, false), 1);
	cr_assert_eq(count_on(text, true), 0);
	close(wild4);
}

Test(sockdiag, v6only_is_reported)
{
	struct sockdiag_list list = { .socks = NULL };
	struct sockdiag_want want;
	char text[64];
	int fd;

	need_ipv6();
	fd = must_open("[::]:0", false, 1);
	snprintf(text, sizeof(text), "[::]:%d", port_of(fd));
	want = want_of(text, true);
	list_of(&want, 1, &list);
	cr_assert_eq(list.count, 1);
	cr_assert(list.socks[0].v6only);
	sockdiag_list_free(&list);
	close(fd);
}

Test(sockdiag, several_ports_in_one_lookup)
{
	struct sockdiag_list list = { .socks = NULL };
	struct sockdiag_want wants[3 + 300];
	char text[64];
	int fds[4], i, n;

	for (i = 0; i < 4; i++)
		fds[i] = must_open("127.0.0.1:0", false, -1);
	/* The first three wanted, in reverse order; the fourth not. */
	for (i = 0; i < 3; i++) {
		snprintf(text, sizeof(text), "127.0.0.1:%d", port_of(fds[2 - i]));
		wants[i] = want_of(text, false);
	}
	list_of(wants, 3, &list);
	cr_assert_eq(list.count, 3);
	for (i = 0; i < 3; i++)
		cr_assert_eq(find(&list, inode_of(fds[2 - i]))->want, (size_t)i);
	cr_assert_null(find(&list, inode_of(fds[3])));

	/* Many more ports: the same answer. */
	for (n = 3, i = 1; n < 3 + 300; i++) {
		if (i == port_of(fds[0]) || i == port_of(fds[1]) ||
		    i == port_of(fds[2]) || i == port_of(fds[3]))
			continue;
		snprintf(text, sizeof(text), "198.51.100.1:%d", i);
		wants[n++] = want_of(text, false);
	}
	list_of(wants, (size_t)n, &list);
	cr_assert_eq(list.count, 3);
	cr_assert_null(find(&list, inode_of(fds[3])));
	sockdiag_list_free(&list);
	for (i = 0; i < 4; i++)
		close(fds[i]);
}

/*
 * With many ports wanted the kernel still filters by port: it sends the
 * sockets on them and none of the others. Past what its filter takes, the
 * lookup reads every socket and gives the same answer.
 */
Test(sockdiag, many_ports_are_filtered_by_the_kernel)
{
	enum { N = 300, EXTRA = 3, MANY = 2100 };
	struct sockdiag_list list = { .socks = NULL };
	static struct sockdiag_want wants[N + MANY];
	static int fds[N + EXTRA];
	char text[64];
	int i, n;

	for (i = 0; i < N + EXTRA; i++)
		fds[i] = must_open("127.0.0.1:0", false, -1);
	/* The first N wanted, the last EXTRA not. */
	for (i = 0; i < N; i++) {
		snprintf(text, sizeof(text), "127.0.0.1:%d", port_of(fds[i]));
		wants[i] = want_of(text, false);
	}
	list_of(wants, N, &list);
	cr_assert_eq(list.count, (size_t)N);
	for (i = 0; i < N; i++)
		cr_assert_eq(find(&list, inode_of(fds[i]))->want, (size_t)i);
	for (i = N; i < N + EXTRA; i++)
		cr_assert_null(find(&list, inode_of(fds[i])));
	/* Bound to port 0, no other socket shares their ports. */
	cr_expect_eq(list.dumped, (size_t)N, "the kernel sent %zu sockets",
	    list.dumped);

	/* More ports than the filter takes: the same answer. */
	for (n = N, i = 1; n < N + MANY; i++) {
		snprintf(text, sizeof(text), "198.51.100.1:%d", i);
		wants[n++] = want_of(text, false);
	}
	sockdiag_list_free(&list);
	list_of(wants, (size_t)n, &list);
	/* (A wildcard listener of the host's may be on one of those ports.) */
	for (i = 0; i < N; i++)
		cr_assert_eq(find(&list, inode_of(fds[i]))->want, (size_t)i);
	for (i = N; i < N + EXTRA; i++)
		cr_assert_null(find(&list, inode_of(fds[i])));
	cr_expect_geq(list.dumped, (size_t)(N + EXTRA));
	sockdiag_list_free(&list);
	for (i = 0; i < N + EXTRA; i++)
		close(fds[i]);
}

/* The want a socket of the list was reported with; it must be there. */
static size_t
want_index(const struct sockdiag_list *list, int fd)
{
	const struct sockdiag_sock *s = find(list, inode_of(fd));

	cr_assert_not_null(s, "the socket on port %d is not listed",
	    port_of(fd));
	return s->want;
}

/*
 * A socket is reported with the first want it matches, whether that want
 * names its port or takes any port, and wants on its port that do not
 * overlap its address are passed over.
 */
Test(sockdiag, the_first_want_a_socket_matches_is_the_one_reported)
{
	struct sockdiag_list list = { .socks = NULL };
	struct sockdiag_want wants[4];
	char text[64];
	int a, b, c;

	a = must_open("127.0.0.1:0", false, -1);
	b = must_open("127.0.0.1:0", false, -1);
	c = must_open("127.0.0.1:0", false, -1);
	snprintf(text, sizeof(text), "127.0.0.1:%d", port_of(b));
	wants[0] = want_of(text, false);
	wants[1] = want_of("127.0.0.1:0", false);	/* any port */
	snprintf(text, sizeof(text), "127.0.0.1:%d", port_of(a));
	wants[2] = want_of(text, false);
	list_of(wants, 3, &list);
	cr_assert_eq(want_index(&list, b), 0);
	cr_assert_eq(want_index(&list, a), 1);
	cr_assert_eq(want_index(&list, c), 1);

	snprintf(text, sizeof(text), "127.0.0.2:%d", port_of(c));
	wants[0] = want_of(text, false);	/* its port, not its address */
	snprintf(text, sizeof(text), "0.0.0.0:%d", port_of(c));
	wants[1] = want_of(text, false);
	snprintf(text, sizeof(text), "127.0.0.1:%d", port_of(c));
	wants[2] = want_of(text, false);
	wants[3] = want_of("127.0.0.1:0", false);
	list_of(wants, 4, &list);
	cr_assert_eq(want_index(&list, c), 1);
	cr_assert_eq(want_index(&list, a), 3);
	sockdiag_list_free(&list);
	close(a);
	close(b);
	close(c);
}

Test(sockdiag, keeps_no_more_than_max)
{
	struct sockdiag_list list = { .max = 1 };
	struct sockdiag_want want;
	char text[64];
	int a, b;

	a = must_open("127.0.0.1:0", true, -1);
	snprintf(text, sizeof(text), "127.0.0.1:%d", port_of(a));
	b = must_open(text, true, -1);
	want = want_of(text, false);
	list_of(&want, 1, &list);
	cr_assert_eq(list.count, 1);
	cr_assert(list.truncated);
	list.max = 0;
	list_of(&want, 1, &list);
	cr_assert_eq(list.count, 2);
	cr_assert(!list.truncated);
	sockdiag_list_free(&list);
	close(a);
	close(b);
}

/* Tell whether inode is the one arg points to (a list's skip). */
static bool
is_inode(ino_t inode, const void *arg)
{
	return inode == *(const ino_t *)arg;
}

/*
 * A socket the list skips is counted, not kept, and takes no room: with
 * room for one, the other socket on the port is still kept.
 */
Test(sockdiag, skipped_sockets_are_counted_not_kept)
{
	struct sockdiag_list list = { .max = 1, .skip = is_inode };
	struct sockdiag_want want;
	char text[64];
	ino_t mine;
	int a, b;

	a = must_open("127.0.0.1:0", true, -1);
	snprintf(text, sizeof(text), "127.0.0.1:%d", port_of(a));
	b = must_open(text, true, -1);
	mine = inode_of(a);
	list.skip_arg = &mine;
	want = want_of(text, false);
	list_of(&want, 1, &list);
	cr_assert_eq(list.count, 1);
	cr_assert_eq(list.skipped, 1);
	cr_assert(!list.truncated);
	cr_assert_null(find(&list, mine));
	cr_assert_not_null(find(&list, inode_of(b)));
	/* Counted afresh by each listing. */
	list_of(&want, 1, &list);
	cr_assert_eq(list.skipped, 1);
	sockdiag_list_free(&list);
	close(a);
	close(b);
}

Test(sockdiag, nothing_wanted_nothing_found)
{
	struct sockdiag_list list = { .socks = NULL };
	struct sockdiag_want want;
	char text[64];
	int fd, port;

	list_of(NULL, 0, &list);
	cr_assert_eq(list.count, 0);
	/* A port nobody listens on (it was ours a moment ago). */
	fd = must_open("127.0.0.1:0", false, -1);
	port = port_of(fd);
	close(fd);
	snprintf(text, sizeof(text), "127.0.0.1:%d", port);
	want = want_of(text, false);
	list_of(&want, 1, &list);
	cr_assert_eq(list.count, 0);
	sockdiag_list_free(&list);
}

Test(sockdiag, holders_are_this_process_and_its_child)
{
	struct sockdiag_holders holders;
	int fd, pipefd[2];
	bool self = false, child = false;
	char *cause = NULL, c;
	ino_t inode;
	pid_t pid, init = 1;
	size_t i;

	fd = must_open("127.0.0.1:0", false, -1);
	inode = inode_of(fd);
	cr_assert_eq(pipe(pipefd), 0);
	if ((pid = fork()) == 0) {
		/* Holds the listener (inherited) until the pipe closes. */
		close(pipefd[1]);
		_exit(read(pipefd[0], &c, 1) == -1);
	}
	cr_assert_gt(pid, 0);
	close(pipefd[0]);
	cr_assert_eq(sockdiag_holders(&inode, 1, NULL, 0, &holders, &cause), 0,
	    "%s", cause);
	for (i = 0; i < holders.count; i++) {
		cr_assert_eq(holders.items[i].inode, inode);
		self = self || holders.items[i].pid == getpid();
		child = child || holders.items[i].pid == pid;
	}
	cr_assert(self, "this process is not among the holders");
	cr_assert(child, "the child is not among the holders");
	cr_assert(!holders.truncated);
	sockdiag_holders_free(&holders);

	/* Among given processes only: the child; init holds none of it. */
	cr_assert_eq(sockdiag_holders(&inode, 1, &pid, 1, &holders, &cause), 0);
	cr_assert_eq(holders.count, 1);
	cr_assert_eq(holders.items[0].pid, pid);
	sockdiag_holders_free(&holders);
	cr_assert_eq(sockdiag_holders(&inode, 1, &init, 1, &holders, &cause), 0);
	cr_assert_eq(holders.count, 0);
	sockdiag_holders_free(&holders);
	close(pipefd[1]);
	cr_assert_eq(waitpid(pid, NULL, 0), pid);
	close(fd);
}

Test(sockdiag, owners_name_the_process)
{
	struct sockdiag_owner owners[4];
	struct sockdiag_want want;
	char text[64], comm[16], line[256], expect[128];
	char *cause = NULL;
	int fd, n;

	fd = must_open("127.0.0.1:0", false, -1);
	snprintf(text, sizeof(text), "127.0.0.1:%d", port_of(fd));
	want = want_of(text, false);
	n = sockdiag_owners(&want, 0, owners, 4, &cause);
	cr_assert_eq(n, 1, "%d: %s", n, cause ? cause : "");
	cr_assert_eq(owners[0].pid, getpid());
	cr_assert_eq(owners[0].inode, inode_of(fd));
	cr_assert_eq(owners[0].uid, getuid());
	procfs_comm(getpid(), comm, sizeof(comm));
	cr_assert_str_eq(owners[0].comm, comm);
	sockdiag_format_owners(owners, 1, line, sizeof(line));
	snprintf(expect, sizeof(expect), "pid %d (%s, uid %u)", (int)getpid(),
	    comm, (unsigned int)getuid());
	cr_assert_str_eq(line, expect);

	/* The socket excepted is not an owner. */
	cr_assert_eq(sockdiag_owners(&want, inode_of(fd), owners, 4, &cause), 0);
	close(fd);
}
