/*
 * test_listening.c: which workers listen on their program's addresses.
 * The test process plays the worker (its pid is the worker's), binding
 * sockets of its own on a free port: a socket counts for an address when
 * it takes that address's connections, held by the worker; the other
 * generations' sockets (held by nobody here) never count.
 */
#include "autoconf.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "addr.h"
#include "config.h"
#include "listening.h"
#include "worker.h"

/* A program with one listener on listen, and its one worker (this process). */
struct fixture {
	struct config		*conf;
	struct program_conf	*pc;
	struct worker_env	 env;
	struct worker		 worker;
	int			 port;
};

/* Set up fx for a program whose one listener is on address listen. */
static void
fixture_init(struct fixture *fx, const char *listen)
{
	struct listener_conf *lc;
	const char *why;

	memset(fx, 0, sizeof(*fx));
	cr_assert_not_null(fx->conf = config_new("test.ini"));
	cr_assert_not_null(lc = config_add_listener(fx->conf, "web", 1));
	cr_assert_not_null(lc->listen = strdup(listen));
	lc->has_listen = true;
	cr_assert_eq(addr_parse(listen, &lc->addr, &why), 0, "%s", why);
	cr_assert_not_null(fx->pc = config_add_program(fx->conf, "app", 3));
	cr_assert_not_null(fx->pc->listeners = calloc(2, sizeof(lc)));
	fx->pc->listeners[0] = lc;
	fx->pc->nlisteners = 1;
	fx->env.program = "app";
	fx->env.number = 1;
	fx->env.pc = fx->pc;
	worker_init(&fx->worker, &fx->env, 0);
	fx->worker.pid = getpid();
	fx->worker.pgid = getpid();
	fx->worker.state = WORKER_STARTING;
}

/* Free what fixture_init made. */
static void
fixture_free(struct fixture *fx)
{
	config_free(fx->conf);
}

/* A free TCP port on 127.0.0.1. */
static int
free_port(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int fd, port;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_neq(fd = socket(AF_INET, SOCK_STREAM, 0), -1);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	port = ntohs(sin.sin_port);
	close(fd);
	return port;
}

/* A SO_REUSEPORT socket of type on ip:port, listening if a stream one. */
static int
own_socket(int type, const char *ip, int port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	int fd, on = 1;

	sin.sin_port = htons((uint16_t)port);
	cr_assert_eq(inet_pton(AF_INET, ip, &sin.sin_addr), 1);
	cr_assert_neq(fd = socket(AF_INET, type | SOCK_CLOEXEC, 0), -1);
	cr_assert_eq(setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)),
	    0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0,
	    "bind %s:%d: %s", ip, port, strerror(errno));
	if (type == SOCK_STREAM)
		cr_assert_eq(listen(fd, 16), 0);
	return fd;
}

/*
 * Set up fx for a listener on KIND WANT:PORT, PORT a free one, and, unless
 * bound is NULL, bind this process's socket of type on bound:PORT: its fd
 * (-1 if none).
 */
static int
fixture_with_socket(struct fixture *fx, const char *kind, const char *want,
    int type, const char *bound)
{
	char listen[64];
	int port = free_port();

	snprintf(listen, sizeof(listen), "%s%s:%d", kind, want, port);
	fixture_init(fx, listen);
	fx->port = port;
	return bound == NULL ? -1 : own_socket(type, bound, port);
}

/* The inode of the socket at fd. */
static ino_t
inode_of(int fd)
{
	struct stat sb;

	cr_assert_eq(fstat(fd, &sb), 0);
	return sb.st_ino;
}

/* Scan fx: how many sockets it finds (the list is left in list). */
static size_t
scan(struct fixture *fx, bool starting_only, struct listening_list *list)
{
	char *cause = NULL;

	cr_assert_eq(listening_scan(&fx->env, &fx->worker, 1, starting_only,
	    list, &cause), 0, "%s", cause);
	return list->count;
}

/* The worker's own listening socket is found, with its inode and queue. */
Test(listening, finds_the_workers_own_socket)
{
	struct fixture fx;
	struct listening_list list;
	int fd;

	fixture_with_socket(&fx, "", "127.0.0.1", SOCK_STREAM, NULL);
	cr_expect_eq(scan(&fx, true, &list), 0, "nothing listens yet");
	listening_list_free(&list);

	fd = own_socket(SOCK_STREAM, "127.0.0.1", fx.port);
	cr_assert_eq(scan(&fx, true, &list), 1);
	cr_expect_eq(list.socks[0].worker, 0);
	cr_expect_eq(list.socks[0].listener, 0);
	cr_expect_eq(list.socks[0].pid, getpid());
	cr_expect_eq(list.socks[0].inode, inode_of(fd));
	cr_expect_eq(list.socks[0].type, SOCK_STREAM);
	cr_expect_eq(list.socks[0].backlog, 16);
	cr_expect_eq(list.socks[0].queued, 0);
	listening_list_free(&list);

	/* A worker no longer starting is not looked for, unless asked. */
	fx.worker.state = WORKER_READY;
	cr_expect_eq(scan(&fx, true, &list), 0);
	listening_list_free(&list);
	cr_expect_eq(scan(&fx, false, &list), 1);
	listening_list_free(&list);
	close(fd);
	fixture_free(&fx);
}

/* A socket nobody of the worker holds does not count (another generation's). */
Test(listening, ignores_sockets_the_worker_does_not_hold)
{
	struct fixture fx;
	struct listening_list list;
	int fd;

	fd = fixture_with_socket(&fx, "", "127.0.0.1", SOCK_STREAM, "127.0.0.1");
	fx.worker.pid = getppid();	/* not the holder, nor its parent */
	fx.worker.pgid = getppid();
	cr_expect_eq(scan(&fx, true, &list), 0);
	listening_list_free(&list);
	close(fd);
	fixture_free(&fx);
}

/*
 * Which socket takes a wanted address's connections: the address itself
 * or a wildcard over it; a wanted wildcard only a wildcard.
 */
Test(listening, a_socket_counts_where_it_takes_the_connections)
{
	static const struct {
		const char	*want;	/* host of the listener */
		const char	*bound;	/* the socket's */
		size_t		 found;
	} cases[] = {
		{ "127.0.0.1", "127.0.0.1", 1 },
		{ "127.0.0.1", "0.0.0.0", 1 },
		{ "0.0.0.0", "0.0.0.0", 1 },
		{ "0.0.0.0", "127.0.0.1", 0 },
		{ "127.0.0.2", "127.0.0.1", 0 },
	};
	struct fixture fx;
	struct listening_list list;
	size_t i;
	int fd;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		fd = fixture_with_socket(&fx, "", cases[i].want, SOCK_STREAM,
		    cases[i].bound);
		cr_expect_eq(scan(&fx, true, &list), cases[i].found,
		    "want %s, bound %s", cases[i].want, cases[i].bound);
		listening_list_free(&list);
		close(fd);
		fixture_free(&fx);
	}
}

/* A UDP listener is served by a bound datagram socket; it has no queue. */
Test(listening, udp_socket_counts_once_bound)
{
	struct fixture fx;
	struct listening_list list;
	int fd;

	fd = fixture_with_socket(&fx, "udp:", "127.0.0.1", SOCK_DGRAM,
	    "127.0.0.1");
	cr_assert_eq(scan(&fx, true, &list), 1);
	cr_expect_eq(list.socks[0].type, SOCK_DGRAM);
	cr_expect_eq(list.socks[0].inode, inode_of(fd));
	listening_list_free(&list);
	close(fd);
	fixture_free(&fx);
}

/* Without a probe, describing what it lacks says nothing. */
Test(listening, no_probe_describes_nothing)
{
	char buf[32] = "x";

	listening_describe(NULL, buf, sizeof(buf));
	cr_expect_str_eq(buf, "");
	listening_watch(NULL);
	listening_free(NULL);
}
