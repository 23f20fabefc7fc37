/*
 * test_sdnotify.c: the supervisor's messages to its service manager, as a
 * receiver on NOTIFY_SOCKET gets them: READY=1 (with MAINPID= the first
 * time) and STATUS=, RELOADING=1 with MONOTONIC_USEC=, STOPPING=1, an fd
 * attached; nothing without NOTIFY_SOCKET.
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
#include <time.h>
#include <unistd.h>

#include "fdpass.h"
#include "sdnotify.h"
#include "support.h"

static char dir[64];
static int rx = -1;

/* A receiver bound in a temporary directory, made the NOTIFY_SOCKET. */
static void
setup(void)
{
	rx = support_notify_receiver("sdnotify", dir, sizeof(dir));
	cr_assert(rx != -1, "%s", strerror(errno));
	sdnotify_init();
}

/* Remove the receiver. */
static void
teardown(void)
{
	support_notify_receiver_remove(dir, rx);
}

/* The next message (into buf) and the fd it carried (-1: none). */
static int
next(char *buf, size_t len)
{
	struct pollfd pfd = { .fd = rx, .events = POLLIN };
	struct fdpass_in in;
	struct iovec iov = { buf, len - 1 };
	int fds[2];
	ssize_t n;

	cr_assert_eq(poll(&pfd, 1, 5000), 1, "no message");
	memset(&in, 0, sizeof(in));
	in.fds = fds;
	in.maxfds = 2;
	n = fdpass_recv(rx, &iov, 1, &in, 0);
	cr_assert(n >= 0);
	buf[n] = '\0';
	return in.nfds == 1 ? fds[0] : -1;
}

Test(sdnotify, ready_says_mainpid_the_first_time, .init = setup,
    .fini = teardown)
{
	char buf[512], *want;

	cr_assert(sdnotify_active());
	sdnotify_ready(true, "running: %s", "app gen 1");
	cr_assert_eq(next(buf, sizeof(buf)), -1);
	cr_assert(asprintf(&want, "READY=1\nMAINPID=%d\nSTATUS=running: app "
	    "gen 1", (int)getpid()) != -1);
	cr_expect_str_eq(buf, want);
	free(want);
	sdnotify_ready(false, "running; the last reload failed: %s",
	    "a\nsecond line");
	next(buf, sizeof(buf));
	/* A line break would end STATUS= early: the rest goes. */
	cr_expect_str_eq(buf, "READY=1\nSTATUS=running; the last reload "
	    "failed: a");
	sdnotify_stopping();
	next(buf, sizeof(buf));
	cr_expect_str_eq(buf, "STOPPING=1\nSTATUS=stopping");
}

Test(sdnotify, reloading_carries_monotonic_usec, .init = setup,
    .fini = teardown)
{
	struct timespec ts;
	unsigned long long before, after, usec;
	char buf[512];

	clock_gettime(CLOCK_MONOTONIC, &ts);
	before = (unsigned long long)ts.tv_sec * 1000000ULL +
	    (unsigned long long)ts.tv_nsec / 1000ULL;
	sdnotify_reloading();
	clock_gettime(CLOCK_MONOTONIC, &ts);
	after = (unsigned long long)ts.tv_sec * 1000000ULL +
	    (unsigned long long)ts.tv_nsec / 1000ULL;
	next(buf, sizeof(buf));
	cr_assert_eq(sscanf(buf, "RELOADING=1\nSTATUS=reloading\n"
	    "MONOTONIC_USEC=%llu", &usec), 1, "%s", buf);
	cr_expect(usec >= before && usec <= after, "%llu not in [%llu, %llu]",
	    usec, before, after);
}

Test(sdnotify, an_fd_goes_along, .init = setup, .fini = teardown)
{
	struct stat a, b;
	char buf[512];
	int fds[2], got;

	cr_assert_eq(pipe(fds), 0);
	cr_assert_eq(sdnotify_send("FDSTORE=1\nFDNAME=x#0", fds[0]), 0);
	got = next(buf, sizeof(buf));
	cr_expect_str_eq(buf, "FDSTORE=1\nFDNAME=x#0");
	cr_assert(got != -1, "no fd came");
	cr_assert(fstat(got, &a) == 0 && fstat(fds[0], &b) == 0);
	cr_expect_eq(a.st_ino, b.st_ino);
	close(got);
	close(fds[0]);
	close(fds[1]);
}

Test(sdnotify, nothing_without_notify_socket)
{
	unsetenv("NOTIFY_SOCKET");
	sdnotify_init();
	cr_expect(!sdnotify_active());
	errno = 0;
	cr_expect_eq(sdnotify_send("READY=1", -1), -1);
	cr_expect_eq(errno, ENOTCONN);
	sdnotify_ready(true, "running");	/* a no-op, and no crash */
}
