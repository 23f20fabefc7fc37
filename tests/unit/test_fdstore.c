/*
 * test_fdstore.c: keeping the listeners' sockets in the service manager's
 * fd store, as a receiver on NOTIFY_SOCKET sees it: each socket stored
 * once under LISTENER#SLOT, out again (before any new one goes in) when
 * the set loses it or renames it, a socket unit's never stored (but the
 * sockets a reuseport listener binds beside it are), nothing with
 * FDSTORE=0.
 */
#include "autoconf.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "addr.h"
#include "config.h"
#include "fdpass.h"
#include "fdstore.h"
#include "listener.h"
#include "log.h"
#include "sdnotify.h"
#include "support.h"

static char dir[64];
static int rx = -1;
static struct config *conf;

/* A receiver on NOTIFY_SOCKET, and the store on. */
static void
setup(void)
{
	log_set_level(LOG_LEVEL_WARN);
	rx = support_notify_receiver("fdstore", dir, sizeof(dir));
	cr_assert(rx != -1, "%s", strerror(errno));
	unsetenv("FDSTORE");
	sdnotify_init();
	fdstore_init();
	conf = config_new("test.ini");
}

/* Remove the receiver; forget the store. */
static void
teardown(void)
{
	fdstore_free();
	config_free(conf);
	support_notify_receiver_remove(dir, rx);
}

/* A TCP listener named name on 127.0.0.1, port 0. */
static struct listener *
bind_tcp(const char *name)
{
	struct listener_conf *lc = config_add_listener(conf, name, 1);
	struct listener *l = NULL;
	const char *why;
	char *cause = NULL;

	lc->has_listen = true;
	cr_assert_eq(addr_parse("127.0.0.1:0", &lc->addr, &why), 0);
	cr_assert_eq(listener_bind(lc, &l, &cause), 0, "%s", cause);
	return l;
}

/* The next message, or "" if none is waiting; *fd its fd or -1. */
static void
next(char *buf, size_t len, int *fd)
{
	struct fdpass_in in;
	struct iovec iov = { buf, len - 1 };
	int fds[2];
	ssize_t n;

	memset(&in, 0, sizeof(in));
	in.fds = fds;
	in.maxfds = 2;
	n = fdpass_recv(rx, &iov, 1, &in, MSG_DONTWAIT);
	buf[n < 0 ? 0 : n] = '\0';
	*fd = in.nfds == 1 ? fds[0] : -1;
}

/* The next message must be text, carrying l's socket (if l). */
static void
expect(const char *text, const struct listener *l)
{
	struct stat a, b;
	char buf[256];
	int fd;

	next(buf, sizeof(buf), &fd);
	cr_expect_str_eq(buf, text);
	if (l == NULL) {
		cr_expect_eq(fd, -1, "an fd came with %s", text);
		return;
	}
	cr_assert(fd != -1, "no fd with %s", text);
	cr_assert(fstat(fd, &a) == 0 && fstat(listener_fd(l), &b) == 0);
	cr_expect_eq(a.st_ino, b.st_ino, "%s carried another socket", text);
	close(fd);
}

Test(fdstore, stores_each_socket_once_and_takes_out_what_goes, .init = setup,
    .fini = teardown)
{
	struct listener *web = bind_tcp("web"), *api = bind_tcp("api");
	struct listener *items[2] = { web, api };
	struct listener_set set = { items, 2, NULL };

	cr_assert(fdstore_enabled());
	fdstore_sync(&set);
	expect("FDSTORE=1\nFDNAME=web#0\nFDPOLL=0", web);
	expect("FDSTORE=1\nFDNAME=api#0\nFDPOLL=0", api);
	expect("", NULL);

	/* Nothing changed: nothing sent. */
	fdstore_sync(&set);
	expect("", NULL);

	/* Renamed: out under the old name first, then in under the new. */
	free(web->name);
	web->name = strdup("www");
	fdstore_sync(&set);
	expect("FDSTOREREMOVE=1\nFDNAME=web#0", NULL);
	expect("FDSTORE=1\nFDNAME=www#0\nFDPOLL=0", web);
	expect("", NULL);

	/* A set without api: api leaves the store. */
	set.count = 1;
	fdstore_sync(&set);
	expect("FDSTOREREMOVE=1\nFDNAME=api#0", NULL);
	expect("", NULL);
	listener_unref(web);
	listener_unref(api);
}

Test(fdstore, a_socket_units_socket_is_not_stored, .init = setup,
    .fini = teardown)
{
	struct listener *web = bind_tcp("web");
	struct listener *items[1] = { web };
	struct listener_set set = { items, 1, NULL };

	web->sockets[0].origin = SDSOCKET_PASSED;
	fdstore_sync(&set);
	expect("", NULL);
	listener_unref(web);
}

/*
 * A reuseport listener whose slot 0 a socket unit passed: the sockets it
 * bound for the other slots are its own, and stored, each under its slot.
 */
Test(fdstore, the_slots_a_socket_units_listener_binds_are_stored,
    .init = setup, .fini = teardown)
{
	struct listener_conf *lc = config_add_listener(conf, "web", 1);
	struct listener *web = NULL;
	struct listener *items[1];
	struct listener_set set = { items, 1, NULL };
	struct stat a, b;
	char buf[256], *cause = NULL;
	const char *why;
	int fd;

	lc->has_listen = true;
	lc->opts.per_slot = true;
	lc->slots = 2;
	cr_assert_eq(addr_parse("127.0.0.1:0", &lc->addr, &why), 0);
	cr_assert_eq(listener_bind(lc, &web, &cause), 0, "%s", cause);
	cr_assert_eq(listener_nsockets(web), 2);
	items[0] = web;
	web->sockets[0].origin = SDSOCKET_PASSED;
	fdstore_sync(&set);
	next(buf, sizeof(buf), &fd);
	cr_expect_str_eq(buf, "FDSTORE=1\nFDNAME=web#1\nFDPOLL=0");
	cr_assert(fd != -1, "no fd with %s", buf);
	cr_assert(fstat(fd, &a) == 0 &&
	    fstat(listener_socket_fd(web, 1), &b) == 0);
	cr_expect_eq(a.st_ino, b.st_ino, "web#1 carried another socket");
	close(fd);
	expect("", NULL);
	listener_unref(web);
}

Test(fdstore, fdstore_0_stores_nothing, .init = setup, .fini = teardown)
{
	struct listener *web = bind_tcp("web");
	struct listener *items[1] = { web };
	struct listener_set set = { items, 1, NULL };

	fdstore_free();
	cr_assert_eq(setenv("FDSTORE", "0", 1), 0);
	fdstore_init();
	cr_expect(!fdstore_enabled());
	fdstore_sync(&set);
	expect("", NULL);
	listener_unref(web);
}
