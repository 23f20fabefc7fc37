/*
 * test_cbpf.c: the reuseport steering program, attached to real groups
 * of SO_REUSEPORT sockets on the loopback: connections and datagrams
 * land only on the sockets its table names, spread over all of them,
 * and an empty table leaves the choice to the kernel.
 */
#include "autoconf.h"

#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cbpf.h"

#define NSOCKS		4
#define NCONNS		80

/* A group of NSOCKS sockets of type on one loopback port, in order. */
static int
group_open(int type, int fds[NSOCKS])
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int i, on = 1;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (i = 0; i < NSOCKS; i++) {
		fds[i] = socket(AF_INET, type | SOCK_NONBLOCK, 0);
		cr_assert_geq(fds[i], 0);
		cr_assert_eq(setsockopt(fds[i], SOL_SOCKET, SO_REUSEPORT, &on,
		    sizeof(on)), 0);
		cr_assert_eq(bind(fds[i], (struct sockaddr *)&sin, sizeof(sin)),
		    0, "bind: %s", strerror(errno));
		if (type == SOCK_STREAM)
			cr_assert_eq(listen(fds[i], NCONNS), 0);
		if (i == 0)
			cr_assert_eq(getsockname(fds[0], (struct sockaddr *)&sin,
			    &len), 0);
	}
	return ntohs(sin.sin_port);
}

/* Count what each socket of the group received: connections or datagrams. */
static void
group_count(int type, const int fds[NSOCKS], int counts[NSOCKS])
{
	char buf[16];
	int i, fd;

	for (i = 0; i < NSOCKS; i++) {
		counts[i] = 0;
		for (;;) {
			if (type == SOCK_STREAM) {
				if ((fd = accept(fds[i], NULL, NULL)) == -1)
					break;
				close(fd);
			} else if (recv(fds[i], buf, sizeof(buf), 0) == -1)
				break;
			counts[i]++;
		}
	}
}

/* Make NCONNS connections (or datagrams) to port, each from a new port. */
static void
group_send(int type, int port, const int fds[NSOCKS], int counts[NSOCKS])
{
	struct sockaddr_in sin;
	int clients[NCONNS], i, total = 0;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)port);
	for (i = 0; i < NCONNS; i++) {
		clients[i] = socket(AF_INET, type, 0);
		cr_assert_geq(clients[i], 0);
		if (type == SOCK_STREAM)
			cr_assert_eq(connect(clients[i], (struct sockaddr *)&sin,
			    sizeof(sin)), 0, "connect: %s", strerror(errno));
		else
			cr_assert_eq(sendto(clients[i], "x", 1, 0,
			    (struct sockaddr *)&sin, sizeof(sin)), 1);
	}
	/* A connected TCP client is in an accept queue already; a datagram
	   on the loopback is queued before sendto() returns. */
	group_count(type, fds, counts);
	for (i = 0; i < NSOCKS; i++)
		total += counts[i];
	cr_assert_eq(total, NCONNS, "%d of %d arrived", total, NCONNS);
	for (i = 0; i < NCONNS; i++)
		close(clients[i]);
}

static void
group_close(int fds[NSOCKS])
{
	int i;

	for (i = 0; i < NSOCKS; i++)
		close(fds[i]);
}

/* Steer a group of type by table and check where things landed. */
static void
check_steering(int type)
{
	static const unsigned int one[] = { 2 }, two[] = { 3, 1 },
	    all[] = { 0, 1, 2, 3 };
	int fds[NSOCKS], counts[NSOCKS], port, i;

	port = group_open(type, fds);

	cr_assert_eq(cbpf_steer_attach(fds[0], one, 1), 0, "attach: %s",
	    strerror(errno));
	group_send(type, port, fds, counts);
	cr_assert_eq(counts[2], NCONNS, "socket 2 got %d of %d", counts[2],
	    NCONNS);

	/* Attached through another member: it replaces the group's program. */
	cr_assert_eq(cbpf_steer_attach(fds[3], two, 2), 0);
	group_send(type, port, fds, counts);
	cr_assert_eq(counts[0] + counts[2], 0, "unlisted sockets got %d, %d",
	    counts[0], counts[2]);
	cr_assert_gt(counts[1], 0, "socket 1 got nothing");
	cr_assert_gt(counts[3], 0, "socket 3 got nothing");

	cr_assert_eq(cbpf_steer_attach(fds[1], all, NSOCKS), 0);
	group_send(type, port, fds, counts);
	for (i = 0; i < NSOCKS; i++)
		cr_assert_gt(counts[i], 0, "socket %d got nothing: %d %d %d %d",
		    i, counts[0], counts[1], counts[2], counts[3]);

	/* No socket serves: the kernel chooses, among all of them. */
	cr_assert_eq(cbpf_steer_attach(fds[0], NULL, 0), 0);
	group_send(type, port, fds, counts);
	for (i = 0; i < NSOCKS; i++)
		cr_assert_gt(counts[i], 0, "fallback: socket %d got nothing", i);
	group_close(fds);
}

Test(cbpf, tcp_connections_land_on_the_table)
{
	check_steering(SOCK_STREAM);
}

Test(cbpf, udp_datagrams_land_on_the_table)
{
	check_steering(SOCK_DGRAM);
}

Test(cbpf, program_sizes_and_limits)
{
	static unsigned int table[CBPF_MAX_TABLE + 1];
	struct sock_filter insns[CBPF_MAX_INSNS];
	size_t j;

	for (j = 0; j <= CBPF_MAX_TABLE; j++)
		table[j] = (unsigned int)(CBPF_MAX_TABLE - j);
	cr_assert_eq(cbpf_steer_build(NULL, 0, insns, CBPF_MAX_INSNS), 1);
	cr_assert_eq(insns[0].k, CBPF_FALLBACK);
	/* 0..n-1 in order: "return A", whatever n. */
	for (j = 0; j < 8; j++)
		table[j] = (unsigned int)j;
	cr_assert_eq(cbpf_steer_build(table, 8, insns, CBPF_MAX_INSNS), 13);
	table[0] = 5;
	cr_assert_eq(cbpf_steer_build(table, 8, insns, CBPF_MAX_INSNS),
	    13 + 2 * 8);
	cr_assert_eq(cbpf_steer_build(table, CBPF_MAX_TABLE, insns,
	    CBPF_MAX_INSNS), CBPF_MAX_INSNS);
	cr_assert_eq(cbpf_steer_build(table, CBPF_MAX_TABLE + 1, insns,
	    CBPF_MAX_INSNS), 0);
	cr_assert_eq(cbpf_steer_build(table, 8, insns, 12), 0);
	/* The largest program is one the kernel takes. */
	{
		int fds[NSOCKS];

		group_open(SOCK_STREAM, fds);
		for (j = 0; j < CBPF_MAX_TABLE; j++)
			table[j] = (unsigned int)(j % NSOCKS) + (j == 0);
		cr_assert_eq(cbpf_steer_attach(fds[0], table, CBPF_MAX_TABLE),
		    0, "attach: %s", strerror(errno));
		group_close(fds);
	}
}
