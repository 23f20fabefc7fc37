/*
 * test_fdpass.c: messages with fds attached over a socketpair, stream and
 * datagram: several fds, none, more than the receiver takes (every one
 * closed, none leaked), CLOEXEC on arrival, the sender's credentials.
 */
#include "autoconf.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fdpass.h"
#include "support.h"

static const int socktypes[] = { SOCK_STREAM, SOCK_DGRAM };
#define NTYPES	(sizeof(socktypes) / sizeof(socktypes[0]))

/* A connected socketpair of type; sv[0] sends, sv[1] receives. */
static void
pair(int type, int sv[2])
{
	cr_assert_eq(socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, sv), 0,
	    "socketpair: %s", strerror(errno));
}

/* n fds open on /dev/null, without CLOEXEC (as the receiver gets none). */
static void
open_null(int *fds, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		cr_assert_geq(fds[i] = open("/dev/null", O_RDONLY), 0);
}

/* Tell whether two fds are the same open file. */
static bool
same_file(int a, int b)
{
	struct stat sa, sb;

	cr_assert_eq(fstat(a, &sa), 0);
	cr_assert_eq(fstat(b, &sb), 0);
	return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* Send text with n fds on sv[0]; it must all go. */
static void
send_text(int sock, const char *text, const int *fds, size_t n)
{
	struct iovec iov = { (void *)text, strlen(text) };

	cr_assert_eq(fdpass_send(sock, &iov, 1, fds, n, 0),
	    (ssize_t)strlen(text), "fdpass_send: %s", strerror(errno));
}

/* Receive into buf (NUL-terminated) with room for max fds. */
static ssize_t
recv_text(int sock, char *buf, size_t len, struct fdpass_in *in, int *fds,
    size_t max)
{
	struct iovec iov = { buf, len - 1 };
	ssize_t n;

	memset(in, 0, sizeof(*in));
	in->fds = fds;
	in->maxfds = max;
	n = fdpass_recv(sock, &iov, 1, in, 0);
	cr_assert_geq(n, 0, "fdpass_recv: %s", strerror(errno));
	buf[n] = '\0';
	return n;
}

Test(fdpass, several_fds_arrive_cloexec_and_stay_the_senders)
{
	int sv[2], sent[3], got[8];
	struct fdpass_in in;
	char buf[64];
	size_t t, i;

	for (t = 0; t < NTYPES; t++) {
		pair(socktypes[t], sv);
		open_null(sent, 3);
		send_text(sv[0], "ok 3 fds", sent, 3);
		recv_text(sv[1], buf, sizeof(buf), &in, got, 8);
		cr_expect_str_eq(buf, "ok 3 fds");
		cr_assert_eq(in.nfds, 3, "type %d: %zu fds", socktypes[t], in.nfds);
		cr_expect_not(in.truncated);
		for (i = 0; i < 3; i++) {
			cr_expect_neq(got[i], sent[i]);
			cr_expect(same_file(got[i], sent[i]));
			cr_expect(fcntl(got[i], F_GETFD) & FD_CLOEXEC,
			    "fd %zu arrived without CLOEXEC", i);
			/* The sender still holds its own. */
			cr_expect_neq(fcntl(sent[i], F_GETFD), -1);
		}
		fdpass_close(got, in.nfds);
		fdpass_close(sent, 3);
		close(sv[0]);
		close(sv[1]);
	}
}

Test(fdpass, a_message_without_fds)
{
	int sv[2], got[4] = { -1, -1, -1, -1 };
	struct fdpass_in in;
	char buf[64];
	size_t t;

	for (t = 0; t < NTYPES; t++) {
		pair(socktypes[t], sv);
		send_text(sv[0], "no fds", NULL, 0);
		recv_text(sv[1], buf, sizeof(buf), &in, got, 4);
		cr_expect_str_eq(buf, "no fds");
		cr_expect_eq(in.nfds, 0);
		cr_expect_not(in.truncated);
		cr_expect_eq(in.closed, 0);
		cr_expect_eq(got[0], -1);
		/* A receiver that takes none reads plain messages the same. */
		send_text(sv[0], "again", NULL, 0);
		recv_text(sv[1], buf, sizeof(buf), &in, NULL, 0);
		cr_expect_str_eq(buf, "again");
		cr_expect_not(in.truncated);
		close(sv[0]);
		close(sv[1]);
	}
}

/*
 * More fds than the receiver takes: 2 for room for 1 (which the kernel
 * delivers whole, CMSG_SPACE rounding up), 3 for room for 2 (MSG_CTRUNC),
 * 3 for room for none. The data arrives, every fd is closed.
 */
Test(fdpass, more_fds_than_room_are_all_closed)
{
	static const struct { size_t sent, room; } cases[] = {
		{ 2, 1 }, { 3, 2 }, { 3, 0 }, { 40, 7 },
	};
	int sv[2], sent[40], got[8];
	struct fdpass_in in;
	char buf[64];
	size_t t, c;
	int before;

	for (t = 0; t < NTYPES; t++) {
		for (c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
			pair(socktypes[t], sv);
			open_null(sent, cases[c].sent);
			send_text(sv[0], "too many", sent, cases[c].sent);
			before = support_fd_count(getpid());
			recv_text(sv[1], buf, sizeof(buf), &in, got,
			    cases[c].room);
			cr_expect_str_eq(buf, "too many");
			cr_expect(in.truncated, "type %d, %zu for room %zu: "
			    "not truncated", socktypes[t], cases[c].sent,
			    cases[c].room);
			cr_expect_eq(in.nfds, 0);
			cr_expect_leq(in.closed, cases[c].sent);
			cr_expect_eq(support_fd_count(getpid()), before,
			    "type %d, %zu for room %zu: fds leaked",
			    socktypes[t], cases[c].sent, cases[c].room);
			fdpass_close(sent, cases[c].sent);
			close(sv[0]);
			close(sv[1]);
		}
	}
}

Test(fdpass, exactly_as_many_as_room)
{
	int sv[2], sent[2], got[2];
	struct fdpass_in in;
	char buf[64];

	pair(SOCK_DGRAM, sv);
	open_null(sent, 2);
	send_text(sv[0], "two", sent, 2);
	recv_text(sv[1], buf, sizeof(buf), &in, got, 2);
	cr_expect_eq(in.nfds, 2);
	cr_expect_not(in.truncated);
	fdpass_close(got, in.nfds);
	fdpass_close(sent, 2);
	close(sv[0]);
	close(sv[1]);
}

Test(fdpass, credentials_with_so_passcred)
{
	int sv[2], one = 1, sent[1], got[1];
	struct fdpass_in in;
	char buf[64];

	pair(SOCK_DGRAM, sv);
	cr_assert_eq(setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &one,
	    sizeof(one)), 0);
	open_null(sent, 1);
	send_text(sv[0], "READY=1", sent, 1);
	memset(&in, 0, sizeof(in));
	in.fds = got;
	in.maxfds = 1;
	in.want_cred = true;
	{
		struct iovec iov = { buf, sizeof(buf) - 1 };
		cr_assert_eq(fdpass_recv(sv[1], &iov, 1, &in, 0), 7);
	}
	cr_expect(in.has_cred);
	cr_expect_eq(in.cred.pid, getpid());
	cr_expect_eq(in.cred.uid, geteuid());
	cr_expect_eq(in.nfds, 1);
	fdpass_close(got, in.nfds);
	fdpass_close(sent, 1);
	close(sv[0]);
	close(sv[1]);
}

Test(fdpass, datagram_longer_than_the_buffer_is_flagged)
{
	int sv[2];
	struct fdpass_in in;
	char buf[4];

	pair(SOCK_DGRAM, sv);
	send_text(sv[0], "longer than four", NULL, 0);
	recv_text(sv[1], buf, sizeof(buf), &in, NULL, 0);
	cr_expect(in.msg_flags & MSG_TRUNC);
	close(sv[0]);
	close(sv[1]);
}

Test(fdpass, end_of_stream_and_bad_arguments)
{
	int sv[2], fds[FDPASS_MAX + 1];
	struct fdpass_in in;
	struct iovec iov;
	char buf[8];

	pair(SOCK_STREAM, sv);
	close(sv[0]);
	memset(&in, 0, sizeof(in));
	iov.iov_base = buf;
	iov.iov_len = sizeof(buf);
	cr_expect_eq(fdpass_recv(sv[1], &iov, 1, &in, 0), 0);
	/* Too many to send, or room promised but not given. */
	memset(fds, 0, sizeof(fds));
	cr_expect_eq(fdpass_send(sv[1], &iov, 1, fds, FDPASS_MAX + 1, 0), -1);
	cr_expect_eq(errno, EINVAL);
	in.maxfds = 1;
	cr_expect_eq(fdpass_recv(sv[1], &iov, 1, &in, 0), -1);
	cr_expect_eq(errno, EINVAL);
	close(sv[1]);
}
