/*
 * test_ebpf.c: the SK_REUSEPORT program, on real groups of SO_REUSEPORT
 * sockets: connections and datagrams land on the slots its table names,
 * and the queue of a socket that closes moves to a serving slot even
 * with net.ipv4.tcp_migrate_req off. Loading it needs CAP_BPF: as root,
 * each test runs in a network namespace of its own (where the sysctl is
 * 0); without the right to load it, the tests say so and skip.
 */
#include "autoconf.h"

#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cause.h"
#include "ebpf.h"

#define NSOCKS		4
#define NCONNS		40

/* A network namespace of the test's own, lo up, and the right to load. */
static void
te_setup(void)
{
	struct ifreq ifr;
	char *why = NULL;
	int fd;

	if (geteuid() != 0)
		cr_skip_test("needs root (CAP_BPF, and a network namespace)");
	cr_assert_eq(unshare(CLONE_NEWNET), 0, "unshare: %s", strerror(errno));
	cr_assert_neq(fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), -1);
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	cr_assert_eq(ioctl(fd, SIOCGIFFLAGS, &ifr), 0);
	ifr.ifr_flags |= IFF_UP;
	cr_assert_eq(ioctl(fd, SIOCSIFFLAGS, &ifr), 0);
	close(fd);
	cr_assert_eq(ebpf_probe(&why), 0, "%s", cause_text(why));
}

/* A group of NSOCKS sockets of type on one loopback port; the port. */
static int
te_group(int type, int fds[NSOCKS])
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int i, on = 1;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (i = 0; i < NSOCKS; i++) {
		cr_assert_neq(fds[i] = socket(AF_INET, type | SOCK_NONBLOCK, 0),
		    -1);
		cr_assert_eq(setsockopt(fds[i], SOL_SOCKET, SO_REUSEPORT, &on,
		    sizeof(on)), 0);
		cr_assert_eq(bind(fds[i], (struct sockaddr *)&sin, sizeof(sin)),
		    0);
		if (type == SOCK_STREAM)
			cr_assert_eq(listen(fds[i], NCONNS), 0);
		if (i == 0)
			cr_assert_eq(getsockname(fds[0], (struct sockaddr *)&sin,
			    &len), 0);
	}
	return ntohs(sin.sin_port);
}

/* Send NCONNS connections or datagrams, each from a new port. */
static void
te_send(int type, int port, int clients[NCONNS])
{
	struct sockaddr_in sin;
	int i;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)port);
	for (i = 0; i < NCONNS; i++) {
		cr_assert_neq(clients[i] = socket(AF_INET, type, 0), -1);
		if (type == SOCK_STREAM)
			cr_assert_eq(connect(clients[i], (struct sockaddr *)&sin,
			    sizeof(sin)), 0, "connect: %s", strerror(errno));
		else
			cr_assert_eq(sendto(clients[i], "x", 1, 0,
			    (struct sockaddr *)&sin, sizeof(sin)), 1);
	}
}

/* How many connections or datagrams wait on fd; they are taken. */
static int
te_take(int type, int fd)
{
	char buf[8];
	int n = 0, c;

	for (;;) {
		if (type == SOCK_STREAM) {
			if ((c = accept(fd, NULL, NULL)) == -1)
				break;
			close(c);
		} else if (recv(fd, buf, sizeof(buf), 0) == -1)
			break;
		n++;
	}
	return n;
}

/* Steer a group of type by slot tables, and check where things land. */
static void
te_steering(int type)
{
	static const unsigned int one[] = { 2 }, two[] = { 3, 1 };
	struct ebpf_steer *es;
	int fds[NSOCKS], clients[NCONNS], port, i, counts[NSOCKS];
	char *why = NULL;

	port = te_group(type, fds);
	cr_assert_not_null(es = ebpf_steer_new(NSOCKS, &why), "%s",
	    cause_text(why));
	cr_assert_eq(ebpf_steer_attach(es, fds[0]), 0, "%s", strerror(errno));
	/* The sockarray is keyed by slot: registered out of order. */
	for (i = NSOCKS; i-- > 0;)
		cr_assert_eq(ebpf_steer_socket(es, (unsigned int)i, fds[i]), 0,
		    "slot %d: %s", i, strerror(errno));

	cr_assert_eq(ebpf_steer_table(es, one, 1), 0);
	te_send(type, port, clients);
	for (i = 0; i < NSOCKS; i++)
		counts[i] = te_take(type, fds[i]);
	cr_assert_eq(counts[2], NCONNS, "%d %d %d %d", counts[0], counts[1],
	    counts[2], counts[3]);
	for (i = 0; i < NCONNS; i++)
		close(clients[i]);

	cr_assert_eq(ebpf_steer_table(es, two, 2), 0);
	te_send(type, port, clients);
	for (i = 0; i < NSOCKS; i++)
		counts[i] = te_take(type, fds[i]);
	cr_assert(counts[0] == 0 && counts[2] == 0 && counts[1] > 0 &&
	    counts[3] > 0, "%d %d %d %d", counts[0], counts[1], counts[2],
	    counts[3]);
	for (i = 0; i < NCONNS; i++)
		close(clients[i]);
	for (i = 0; i < NSOCKS; i++)
		close(fds[i]);
	ebpf_steer_free(es);
}

Test(ebpf, tcp_connections_land_on_the_slots_named, .init = te_setup)
{
	te_steering(SOCK_STREAM);
}

Test(ebpf, udp_datagrams_land_on_the_slots_named, .init = te_setup)
{
	te_steering(SOCK_DGRAM);
}

Test(ebpf, a_closing_sockets_queue_moves_to_a_serving_slot, .init = te_setup)
{
	static const unsigned int first[] = { 0 }, second[] = { 3 };
	struct ebpf_steer *es;
	int fds[NSOCKS], clients[NCONNS], port, i, moved;
	char *why = NULL, buf[4];
	FILE *f;

	f = fopen("/proc/sys/net/ipv4/tcp_migrate_req", "r");
	cr_assert(f != NULL && fgets(buf, sizeof(buf), f) != NULL);
	fclose(f);
	cr_assert_eq(buf[0], '0', "the namespace has migration on already");
	port = te_group(SOCK_STREAM, fds);
	cr_assert_not_null(es = ebpf_steer_new(NSOCKS, &why), "%s",
	    cause_text(why));
	cr_assert_eq(ebpf_steer_attach(es, fds[1]), 0);
	for (i = 0; i < NSOCKS; i++)
		cr_assert_eq(ebpf_steer_socket(es, (unsigned int)i, fds[i]), 0);
	cr_assert_eq(ebpf_steer_table(es, first, 1), 0);
	te_send(SOCK_STREAM, port, clients);
	/* Slot 3 serves now; slot 0 closes with every connection queued. */
	cr_assert_eq(ebpf_steer_table(es, second, 1), 0);
	close(fds[0]);
	moved = te_take(SOCK_STREAM, fds[3]);
	cr_assert_eq(moved, NCONNS, "%d of %d moved to slot 3", moved, NCONNS);
	cr_assert_eq(te_take(SOCK_STREAM, fds[1]) + te_take(SOCK_STREAM,
	    fds[2]), 0);
	for (i = 0; i < NCONNS; i++)
		close(clients[i]);
	for (i = 1; i < NSOCKS; i++)
		close(fds[i]);
	ebpf_steer_free(es);
}
