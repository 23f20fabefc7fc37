/*
 * test_guard.c: the port-hijack guard's look after a reload commits
 * (guard_check_soon), which runs on the next turn of the event loop, once
 * however often it was asked for, and not at all once the guard stopped.
 *
 * The guard watches one TCP listener whose SO_REUSEPORT the test turns on,
 * as a worker would: a look warns about it, and at log level debug says
 * what it saw, on a captured stderr.
 */
#include "autoconf.h"

#include <sys/socket.h>

#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "addr.h"
#include "config.h"
#include "guard.h"
#include "listener.h"
#include "log.h"
#include "pidmap.h"
#include "program.h"
#include "support.h"

#define WARNING	"SO_REUSEPORT was turned on by a process holding it"
#define LOOKED	"port-hijack guard: 1 listener, 1 socket on their addresses"

static int capture_fd = -1;
static struct event_base *base;
static struct config *conf;
static struct listener *web;
static struct listener *items[1];
static struct listener_set set;
static struct program_list programs = TAILQ_HEAD_INITIALIZER(programs);
static struct pidmap *pids;
static struct guard *guard;

/* How many lines logged so far have needle. */
static int
logged(const char *needle)
{
	char *text = support_captured(capture_fd);
	int n;

	cr_assert_not_null(text);
	n = support_count_lines(text, needle);
	free(text);
	return n;
}

/*
 * A guard (no timer) of a listener on 127.0.0.1 whose SO_REUSEPORT a
 * "worker" turned on, logging at debug to a captured stderr.
 */
static void
setup(void)
{
	struct listener_conf *lc;
	const char *why;
	char *cause = NULL;
	int on = 1;

	capture_fd = support_capture_stderr();
	cr_assert_geq(capture_fd, 0, "capture stderr: %s", strerror(errno));
	log_init("handoff", LOG_LEVEL_DEBUG, LOG_TO_STDERR);

	cr_assert_not_null(base = event_base_new());
	conf = config_new("test.ini");
	lc = config_add_listener(conf, "web", 10);
	lc->listen = strdup("127.0.0.1:0");
	lc->has_listen = true;
	cr_assert_eq(addr_parse(lc->listen, &lc->addr, &why), 0, "%s", why);
	cr_assert_eq(listener_bind(lc, &web, &cause), 0, "%s", cause);
	cr_assert_eq(setsockopt(listener_fd(web), SOL_SOCKET, SO_REUSEPORT, &on,
	    sizeof(on)), 0);
	items[0] = web;
	set.items = items;
	set.count = 1;
	cr_assert_not_null(pids = pidmap_new());
	guard = guard_new(base, &set, &programs, pids, "0", &cause);
	cr_assert_not_null(guard, "%s", cause);
}

/* Free all the guard and the test hold. */
static void
teardown(void)
{
	guard_free(guard);
	pidmap_free(pids);
	listener_unref(web);
	config_free(conf);
	event_base_free(base);
}

TestSuite(guard, .init = setup, .fini = teardown);

/*
 * Asked for after a commit, the look is not made there and then but on
 * the next turn of the loop, once for two asks.
 */
Test(guard, look_after_a_commit_comes_on_the_next_turn)
{
	guard_check_soon(guard);
	guard_check_soon(guard);
	cr_expect_eq(logged(LOOKED), 0, "looked before the loop turned");
	cr_assert_neq(event_base_loop(base, EVLOOP_NONBLOCK), -1);
	cr_expect_eq(logged(LOOKED), 1);
	cr_expect_eq(logged(WARNING), 1);
	/* Nothing more pending. */
	cr_assert_neq(event_base_loop(base, EVLOOP_NONBLOCK), -1);
	cr_expect_eq(logged(LOOKED), 1);
}

/* A guard stopped before the loop turns (the supervisor stops) never looks. */
Test(guard, stop_before_the_next_turn_cancels_the_look)
{
	guard_check_soon(guard);
	guard_stop(guard);
	guard_check_soon(guard);
	cr_assert_neq(event_base_loop(base, EVLOOP_NONBLOCK), -1);
	cr_expect_eq(logged(LOOKED), 0);
	cr_expect_eq(logged(WARNING), 0);
}

/*
 * A look asked for within a while (after a reload's commit) is not made
 * on the next turn, nor does it put off one asked for sooner; hurried
 * (the reload is done), it is made on the next turn, once.
 */
Test(guard, look_within_a_while_waits_unless_hurried)
{
	guard_check_within(guard, 60 * 1000);
	cr_assert_neq(event_base_loop(base, EVLOOP_NONBLOCK), -1);
	cr_expect_eq(logged(LOOKED), 0, "looked before it was due");
	guard_check_hurry(guard);
	cr_assert_neq(event_base_loop(base, EVLOOP_NONBLOCK), -1);
	cr_expect_eq(logged(LOOKED), 1);
	cr_expect_eq(logged(WARNING), 1);
	/* Nothing pending: hurrying asks for no look. */
	guard_check_hurry(guard);
	cr_assert_neq(event_base_loop(base, EVLOOP_NONBLOCK), -1);
	cr_expect_eq(logged(LOOKED), 1);

	/* A look due on the next turn stays so. */
	guard_check_soon(guard);
	guard_check_within(guard, 60 * 1000);
	cr_assert_neq(event_base_loop(base, EVLOOP_NONBLOCK), -1);
	cr_expect_eq(logged(LOOKED), 2);
}

/* guard_check still looks there and then (start, restore after upgrade). */
Test(guard, check_looks_at_once)
{
	guard_check(guard);
	cr_expect_eq(logged(LOOKED), 1);
	cr_expect_eq(logged(WARNING), 1);
}
