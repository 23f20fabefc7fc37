/*
 * test_notify.c: notify_parse, which splits an sd_notify datagram into
 * KEY=VALUE lines. A message with any bad line is rejected whole, before
 * any line is handed on. And the socket itself: fds sent along with a
 * message never reach the supervisor. What notify_stash takes while the
 * loop does not turn makes room in the socket's queue, and is handled at
 * the loop's next turn, in order.
 */
#include "autoconf.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fdpass.h"
#include "notify.h"
#include "support.h"
#include "unixaddr.h"

#define MAX_LINES	8

/* The lines notify_parse handed on. */
struct seen {
	int	 count;
	char	*keys[MAX_LINES];
	char	*values[MAX_LINES];
};

static void
record(const char *key, const char *value, void *arg)
{
	struct seen *s = arg;

	cr_assert_lt(s->count, MAX_LINES, "too many lines");
	s->keys[s->count] = strdup(key);
	s->values[s->count] = strdup(value);
	cr_assert(s->keys[s->count] != NULL && s->values[s->count] != NULL);
	s->count++;
}

static void
seen_free(struct seen *s)
{
	int i;

	for (i = 0; i < s->count; i++) {
		free(s->keys[i]);
		free(s->values[i]);
	}
	memset(s, 0, sizeof(*s));
}

/* Parse len bytes of msg; the return value, the lines in *s. */
static int
parse(const char *msg, size_t len, struct seen *s)
{
	memset(s, 0, sizeof(*s));
	return notify_parse(msg, len, record, s);
}

/* msg (len bytes) must be rejected, with no line handed on. */
static void
expect_rejected(const char *what, const char *msg, size_t len)
{
	struct seen s;

	cr_expect_eq(parse(msg, len, &s), -1, "%s: accepted", what);
	cr_expect_eq(s.count, 0, "%s: %d lines handed on before the bad one",
	    what, s.count);
	seen_free(&s);
}

/* The lines s holds are exactly these key, value pairs. */
static void
expect_lines(const struct seen *s, int n, const char *const *pairs)
{
	int i;

	cr_assert_eq(s->count, n, "%d lines, not %d", s->count, n);
	for (i = 0; i < n; i++) {
		cr_expect_str_eq(s->keys[i], pairs[2 * i], "line %d", i);
		cr_expect_str_eq(s->values[i], pairs[2 * i + 1], "line %d", i);
	}
}

Test(notify, splits_lines_into_keys_and_values)
{
	static const char msg[] = "READY=1\nSTATUS=x y\n";
	static const char *const want[] = { "READY", "1", "STATUS", "x y" };
	struct seen s;

	cr_assert_eq(parse(msg, sizeof(msg) - 1, &s), 0);
	expect_lines(&s, 2, want);
	seen_free(&s);
}

Test(notify, value_keeps_everything_after_the_first_equals_sign)
{
	static const char msg[] = "STATUS=a=b  c\nMAINPID=42";
	static const char *const want[] = { "STATUS", "a=b  c", "MAINPID", "42" };
	struct seen s;

	cr_assert_eq(parse(msg, sizeof(msg) - 1, &s), 0);
	expect_lines(&s, 2, want);
	seen_free(&s);
}

Test(notify, empty_value_is_a_line)
{
	static const char msg[] = "STATUS=";
	static const char *const want[] = { "STATUS", "" };
	struct seen s;

	cr_assert_eq(parse(msg, sizeof(msg) - 1, &s), 0);
	expect_lines(&s, 1, want);
	seen_free(&s);
}

Test(notify, trailing_newline_and_blank_lines_are_accepted)
{
	static const char msg[] = "\nREADY=1\n\n\nSTATUS=ok\n\n";
	static const char *const want[] = { "READY", "1", "STATUS", "ok" };
	struct seen s;

	cr_assert_eq(parse(msg, sizeof(msg) - 1, &s), 0);
	expect_lines(&s, 2, want);
	seen_free(&s);
	/* Without a trailing newline, the same. */
	cr_assert_eq(parse(msg, sizeof(msg) - 3, &s), 0);
	expect_lines(&s, 2, want);
	seen_free(&s);
}

Test(notify, only_len_bytes_are_read)
{
	static const char msg[] = "READY=1\nSTATUS=cut here";
	static const char *const want[] = { "READY", "1", "STATUS", "cut" };
	struct seen s;

	cr_assert_eq(parse(msg, strlen("READY=1\nSTATUS=cut"), &s), 0);
	expect_lines(&s, 2, want);
	seen_free(&s);
}

Test(notify, line_without_equals_rejects_the_whole_message)
{
	static const char first[] = "READY\nSTATUS=x";
	static const char last[] = "READY=1\nSTATUS=x\ngarbage";
	static const char middle[] = "READY=1\nno equals sign\nSTATUS=x\n";

	expect_rejected("first line", first, sizeof(first) - 1);
	expect_rejected("last line", last, sizeof(last) - 1);
	expect_rejected("middle line", middle, sizeof(middle) - 1);
	expect_rejected("only line", "garbage", 7);
}

Test(notify, line_starting_with_equals_rejects_the_whole_message)
{
	static const char msg[] = "READY=1\n=1\n";

	expect_rejected("=1", "=1", 2);
	expect_rejected("READY=1 then =1", msg, sizeof(msg) - 1);
	expect_rejected("=", "=", 1);
}

Test(notify, nul_byte_rejects_the_whole_message)
{
	static const char msg[] = "READY=1\nSTATUS=a\0b";
	static const char trailing[] = "READY=1\n\0";

	expect_rejected("NUL in a value", msg, sizeof(msg) - 1);
	expect_rejected("NUL at the end", trailing, sizeof(trailing) - 1);
}

Test(notify, empty_message_is_rejected)
{
	expect_rejected("empty", "", 0);
}

Test(notify, message_over_4096_bytes_is_rejected)
{
	char *msg = malloc(8192);
	struct seen s;

	cr_assert_not_null(msg);
	/* STATUS=xxx... of exactly 4096 bytes: accepted. */
	memcpy(msg, "STATUS=", 7);
	memset(msg + 7, 'x', 8192 - 7);
	cr_assert_eq(parse(msg, 4096, &s), 0, "4096 bytes rejected");
	cr_assert_eq(s.count, 1);
	cr_expect_str_eq(s.keys[0], "STATUS");
	cr_expect_eq(strlen(s.values[0]), 4096 - 7);
	seen_free(&s);
	/* One more byte: rejected. */
	expect_rejected("4097 bytes", msg, 4097);
	expect_rejected("8192 bytes", msg, 8192);
	free(msg);
}

/* What the notify socket handed on. */
struct heard {
	pid_t	 pid;
	int	 ready;
};

/* notify_cb: count READY=1 and remember who sent it. */
static void
heard_line(pid_t sender, const char *key, const char *value, void *arg)
{
	struct heard *h = arg;

	h->pid = sender;
	if (strcmp(key, "READY") == 0 && strcmp(value, "1") == 0)
		h->ready++;
}

/* A notify socket on a loop of its own, and a sender connected to it. */
struct bench {
	struct event_base *base;
	struct notify	*n;
	char		*dir;
	int		 tx;
};

/* Open b's notify socket (telling cb, with arg) and connect its sender. */
static void
bench_open(struct bench *b, notify_cb cb, void *arg)
{
	struct sockaddr_un sun;
	socklen_t len;
	const char *why;
	char sub[256], *cause = NULL;

	b->dir = support_tmpdir();
	snprintf(sub, sizeof(sub), "%s/notify", b->dir);
	cr_assert_not_null(b->base = event_base_new());
	b->n = notify_open(b->base, sub, cb, arg, &cause);
	cr_assert_not_null(b->n, "notify_open: %s", cause);
	cr_assert_eq(unixaddr_make(notify_socket_path(b->n, geteuid()),
	    UNIXADDR_FILE, &sun, &len, &why), 0, "%s", why);
	cr_assert_geq(b->tx = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0), 0);
	cr_assert_eq(connect(b->tx, (struct sockaddr *)&sun, len), 0);
}

/* Close all of b. */
static void
bench_close(struct bench *b)
{
	close(b->tx);
	notify_close(b->n);
	event_base_free(b->base);
	support_rmtree(b->dir);
	free(b->dir);
}

Test(notify, fds_sent_along_never_reach_the_supervisor)
{
	struct heard h = { 0, 0 };
	struct iovec iov = { "READY=1", 7 };
	struct bench b;
	long long deadline;
	int fds[3], before, i;

	bench_open(&b, heard_line, &h);
	for (i = 0; i < 3; i++)
		cr_assert_geq(fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC), 0);
	before = support_fd_count(getpid());
	cr_assert_eq(fdpass_send(b.tx, &iov, 1, fds, 3, 0), 7);
	deadline = support_now_ms() + SUPPORT_DEADLINE_MS;
	while (h.ready == 0) {
		cr_assert_lt(support_now_ms(), deadline, "READY=1 not heard");
		event_base_loop(b.base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		poll(NULL, 0, 1);
	}
	cr_expect_eq(h.pid, getpid());
	cr_expect_eq(support_fd_count(getpid()), before,
	    "fds sent along were received");
	fdpass_close(fds, 3);
	bench_close(&b);
}

/* What the notify socket handed on: each STATUS= value, in order. */
struct order {
	int	 count;
	int	 values[64];
};

/* notify_cb: note each STATUS= value. */
static void
heard_status(pid_t sender, const char *key, const char *value, void *arg)
{
	struct order *o = arg;

	(void)sender;
	if (strcmp(key, "STATUS") == 0 && o->count < 64)
		o->values[o->count++] = atoi(value);
}

/* Send STATUS=i on tx without waiting; -1 and errno if the queue is full. */
static int
send_status(int tx, int i)
{
	char msg[32];
	int len = snprintf(msg, sizeof(msg), "STATUS=%d", i);

	return send(tx, msg, (size_t)len, MSG_DONTWAIT) == len ? 0 : -1;
}

/*
 * The socket's queue holds net.unix.max_dgram_qlen datagrams: a sender
 * that does not wait loses what it sends past that (EAGAIN). What
 * notify_stash takes makes room again at once, and nothing is handled
 * until the loop turns: then all of it is, in the order sent, and what
 * came after it.
 */
Test(notify, what_is_taken_while_the_loop_waits_is_handled_in_order)
{
	struct order o = { 0, { 0 } };
	struct bench b;
	long long deadline;
	int full, i;

	bench_open(&b, heard_status, &o);
	for (full = 0; send_status(b.tx, full) == 0; full++)
		cr_assert_lt(full, 32, "the queue never filled");
	cr_assert_eq(errno, EAGAIN, "send: %s", strerror(errno));
	cr_assert_gt(full, 0);
	cr_expect_eq(notify_stash(b.n), full, "not all of the queue was taken");
	cr_expect_eq(o.count, 0, "handled before the loop turned");
	for (i = full; i < 2 * full; i++)
		cr_assert_eq(send_status(b.tx, i), 0, "no room after the stash "
		    "for message %d: %s", i, strerror(errno));

	deadline = support_now_ms() + SUPPORT_DEADLINE_MS;
	while (o.count < 2 * full) {
		cr_assert_lt(support_now_ms(), deadline, "%d of %d handled",
		    o.count, 2 * full);
		event_base_loop(b.base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		poll(NULL, 0, 1);
	}
	for (i = 0; i < 2 * full; i++)
		cr_expect_eq(o.values[i], i, "message %d handled as number %d",
		    o.values[i], i);
	bench_close(&b);
}
