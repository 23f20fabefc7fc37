/*
 * test_outstore.c: the workers' output pipes in the service manager's fd
 * store, as a receiver on NOTIFY_SOCKET sees it: each pipe stored as
 * output.PID with the pipe itself attached, taken out by name, nothing
 * sent with the store off; pipes passed back kept for the orphan of that
 * pid, and the rest taken out and closed.
 */
#include "autoconf.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fdpass.h"
#include "log.h"
#include "outstore.h"
#include "sdnotify.h"
#include "support.h"

static char dir[64];
static int rx = -1;

/* A receiver on NOTIFY_SOCKET. */
static void
setup(void)
{
	log_set_level(LOG_LEVEL_WARN);
	rx = support_notify_receiver("outstore", dir, sizeof(dir));
	cr_assert(rx != -1, "%s", strerror(errno));
	sdnotify_init();
	outstore_enable(true);
}

/* Remove the receiver; forget what was adopted. */
static void
teardown(void)
{
	outstore_enable(false);
	support_notify_receiver_remove(dir, rx);
}

/* The next message must be text; with want_fd, carrying fd's pipe. */
static void
expect(const char *text, int fd)
{
	struct fdpass_in in;
	char buf[256];
	struct iovec iov = { buf, sizeof(buf) - 1 };
	struct stat a, b;
	int fds[2];
	ssize_t n;

	memset(&in, 0, sizeof(in));
	in.fds = fds;
	in.maxfds = 2;
	n = fdpass_recv(rx, &iov, 1, &in, MSG_DONTWAIT);
	buf[n < 0 ? 0 : n] = '\0';
	cr_expect_str_eq(buf, text);
	if (fd == -1) {
		cr_expect_eq(in.nfds, 0, "an fd came with %s", text);
		return;
	}
	cr_assert_eq(in.nfds, 1, "no fd with %s", text);
	cr_assert(fstat(fds[0], &a) == 0 && fstat(fd, &b) == 0);
	cr_expect(S_ISFIFO(a.st_mode));
	cr_expect_eq(a.st_ino, b.st_ino, "%s carried another pipe", text);
	close(fds[0]);
}

Test(outstore, stores_a_pipe_by_pid_and_takes_it_out, .init = setup,
    .fini = teardown)
{
	int p[2];

	cr_assert_eq(pipe(p), 0);
	outstore_put(4121, p[0]);
	expect("FDSTORE=1\nFDNAME=output.4121", p[0]);
	outstore_remove(4121);
	expect("FDSTOREREMOVE=1\nFDNAME=output.4121", -1);
	expect("", -1);
	/* The caller's fd stays open. */
	cr_expect_neq(fcntl(p[0], F_GETFD), -1);
	close(p[0]);
	close(p[1]);
}

Test(outstore, sends_nothing_with_the_store_off, .init = setup,
    .fini = teardown)
{
	int p[2];

	cr_assert_eq(pipe(p), 0);
	outstore_enable(false);
	outstore_put(4121, p[0]);
	outstore_remove(4121);
	expect("", -1);
	close(p[0]);
	close(p[1]);
}

Test(outstore, names_are_output_and_a_pid)
{
	const char *bad[] = { "output.", "output.0", "output.012", "output.12a",
	    "output.-1", "output.+1", "output.999999999999", "web#0", "output",
	    "Output.12", "" };
	size_t i;
	pid_t pid = 0;

	cr_expect(outstore_parse_name("output.4121", &pid));
	cr_expect_eq(pid, 4121);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect(!outstore_parse_name(bad[i], &pid), "%s taken for a "
		    "name", bad[i]);
}

Test(outstore, a_pipe_passed_back_goes_to_its_pid_and_the_rest_out,
    .init = setup, .fini = teardown)
{
	int kept[2], stale[2], fd;

	cr_assert_eq(pipe(kept), 0);
	cr_assert_eq(pipe(stale), 0);
	cr_assert_eq(outstore_adopt(kept[0], 100), 0);
	cr_assert_eq(outstore_adopt(stale[0], 200), 0);
	cr_expect_eq(outstore_pending(), 2);
	cr_expect(fcntl(kept[0], F_GETFL) & O_NONBLOCK);
	cr_expect(fcntl(kept[0], F_GETFD) & FD_CLOEXEC);
	cr_expect_eq(outstore_take(300), -1);
	fd = outstore_take(100);
	cr_expect_eq(fd, kept[0]);
	cr_expect_eq(outstore_take(100), -1, "taken twice");
	cr_expect_eq(outstore_pending(), 1);
	outstore_finish();
	expect("FDSTOREREMOVE=1\nFDNAME=output.200", -1);
	cr_expect_eq(fcntl(stale[0], F_GETFD), -1, "a stale pipe left open");
	cr_expect_eq(outstore_pending(), 0);
	/* Its worker's pipe is still the caller's. */
	cr_expect_neq(fcntl(kept[0], F_GETFD), -1);
	close(kept[0]);
	close(kept[1]);
	close(stale[1]);
}
