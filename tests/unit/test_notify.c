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
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fdpass.h"
#include "notify.h"
#include "state.h"
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
	pid_t	 group;		/* the sender's, when its message was read */
	int	 ready;
};

/* notify_cb: count READY=1 and remember who sent it. */
static void
heard_line(pid_t sender, pid_t group, const char *key, const char *value,
    void *arg)
{
	struct heard *h = arg;

	h->pid = sender;
	h->group = group;
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

/* Event: the deadline of turn_until is over. */
static void
turn_deadline(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	*(bool *)arg = true;
}

/*
 * Turn base's loop, each turn waiting for an event, until *count is want
 * or more; fails the test, saying what, after SUPPORT_DEADLINE_MS.
 */
static void
turn_until(struct event_base *base, const int *count, int want,
    const char *what)
{
	struct timeval limit = { SUPPORT_DEADLINE_MS / 1000,
	    (SUPPORT_DEADLINE_MS % 1000) * 1000 };
	struct event *deadline;
	bool over = false;

	cr_assert_not_null(deadline = evtimer_new(base, turn_deadline, &over));
	cr_assert_eq(evtimer_add(deadline, &limit), 0);
	while (*count < want && !over)
		event_base_loop(base, EVLOOP_ONCE);
	event_free(deadline);
	cr_assert_geq(*count, want, "%s: %d of %d handled", what, *count,
	    want);
}

Test(notify, fds_sent_along_never_reach_the_supervisor)
{
	struct heard h = { 0, 0, 0 };
	struct iovec iov = { "READY=1", 7 };
	struct bench b;
	int fds[3], before, i;

	bench_open(&b, heard_line, &h);
	for (i = 0; i < 3; i++)
		cr_assert_geq(fds[i] = open("/dev/null", O_RDONLY | O_CLOEXEC), 0);
	before = support_fd_count(getpid());
	cr_assert_eq(fdpass_send(b.tx, &iov, 1, fds, 3, 0), 7);
	turn_until(b.base, &h.ready, 1, "READY=1");
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
heard_status(pid_t sender, pid_t group, const char *key, const char *value,
    void *arg)
{
	struct order *o = arg;

	(void)sender;
	(void)group;
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

	turn_until(b.base, &o.count, 2 * full, "the stash and what came after");
	for (i = 0; i < 2 * full; i++)
		cr_expect_eq(o.values[i], i, "message %d handled as number %d",
		    o.values[i], i);
	bench_close(&b);
}

/* What the lanes handed on: each STATUS= value, in the order handled. */
struct lanes_heard {
	int	 count;
	int	 values[NOTIFY_LANES * 64];
};

/* notify_cb: note each STATUS= value. */
static void
heard_lane_status(pid_t sender, pid_t group, const char *key,
    const char *value, void *arg)
{
	struct lanes_heard *h = arg;

	(void)sender;
	(void)group;
	if (strcmp(key, "STATUS") == 0 &&
	    h->count < (int)(sizeof(h->values) / sizeof(h->values[0])))
		h->values[h->count++] = atoi(value);
}

/* A sender connected to path. */
static int
connect_sender(const char *path)
{
	struct sockaddr_un sun;
	socklen_t len;
	const char *why;
	int tx;

	cr_assert_eq(unixaddr_make(path, UNIXADDR_FILE, &sun, &len, &why), 0,
	    "%s: %s", path, why);
	cr_assert_geq(tx = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0), 0);
	cr_assert_eq(connect(tx, (struct sockaddr *)&sun, len), 0, "%s: %s",
	    path, strerror(errno));
	return tx;
}

/*
 * Worker i sends to lane i % NOTIFY_LANES, a socket of its own beside
 * lane 0 (the NOTIFY_SOCKET path workers had before): workers that start
 * together fill as many queues. Each lane's queue holds as much as lane
 * 0's; all of it is handled, and each lane's messages in the order sent.
 */
Test(notify, each_lane_holds_a_queue_of_its_own)
{
	static struct lanes_heard h;
	char path[NOTIFY_LANES][256], want[256];
	int tx[NOTIFY_LANES], sent[NOTIFY_LANES], last[NOTIFY_LANES];
	const char *base;
	struct bench b;
	int lane, total = 0, i, v;

	bench_open(&b, heard_lane_status, &h);
	base = notify_socket_path(b.n, geteuid());
	cr_assert_str_eq(notify_lane_path(base, 0, path[0], sizeof(path[0])),
	    base, "worker 0 does not send to lane 0");
	for (lane = 0; lane < NOTIFY_LANES; lane++) {
		const char *p = notify_lane_path(base, lane, path[lane],
		    sizeof(path[lane]));
		char again[256];

		if (p != path[lane])
			snprintf(path[lane], sizeof(path[lane]), "%s", p);
		cr_assert_str_eq(notify_lane_path(base, lane + NOTIFY_LANES,
		    again, sizeof(again)), path[lane],
		    "workers %d and %d send to different lanes", lane,
		    lane + NOTIFY_LANES);
		if (lane > 0) {
			snprintf(want, sizeof(want), "%.*s/lane%d",
			    (int)(strrchr(base, '/') - base), base, lane);
			cr_assert_str_eq(path[lane], want);
		}
		tx[lane] = connect_sender(path[lane]);
		for (sent[lane] = 0; send_status(tx[lane],
		    lane * 1000 + sent[lane]) == 0; sent[lane]++)
			cr_assert_lt(sent[lane], 64, "lane %d never filled",
			    lane);
		cr_assert_eq(errno, EAGAIN, "send: %s", strerror(errno));
		cr_assert_eq(sent[lane], sent[0], "lane %d holds %d, lane 0 "
		    "%d", lane, sent[lane], sent[0]);
		total += sent[lane];
	}
	cr_assert_eq(h.count, 0);

	turn_until(b.base, &h.count, total, "every lane");
	for (lane = 0; lane < NOTIFY_LANES; lane++)
		last[lane] = -1;
	for (i = 0; i < total; i++) {
		v = h.values[i];
		lane = v / 1000;
		cr_assert(lane >= 0 && lane < NOTIFY_LANES, "value %d", v);
		cr_expect_eq(v % 1000, last[lane] + 1, "lane %d: message %d "
		    "after %d", lane, v % 1000, last[lane]);
		last[lane] = v % 1000;
	}
	for (lane = 0; lane < NOTIFY_LANES; lane++)
		close(tx[lane]);
	bench_close(&b);
}

/*
 * What a supervisor with one notify socket left (an upgrade from it): its
 * directory, and the socket bound at DIR/EUID/notify. The state's text
 * naming it, in text; the socket's fd.
 */
static int
one_socket_state(const char *dir, char *text, size_t size,
    const char *extra)
{
	struct sockaddr_un sun;
	struct stat st;
	socklen_t len;
	const char *why;
	char sub[256], path[300];
	int fd, one = 1;

	cr_assert_eq(mkdir(dir, 0711), 0);
	snprintf(sub, sizeof(sub), "%s/%u", dir, (unsigned)geteuid());
	cr_assert_eq(mkdir(sub, 0700), 0);
	snprintf(path, sizeof(path), "%s/notify", sub);
	cr_assert_eq(unixaddr_make(path, UNIXADDR_FILE, &sun, &len, &why), 0);
	cr_assert_geq(fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC |
	    SOCK_NONBLOCK, 0), 0);
	cr_assert_eq(setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one,
	    sizeof(one)), 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sun, len), 0);
	cr_assert_eq(chmod(path, 0666), 0);
	cr_assert_eq(stat(dir, &st), 0);
	snprintf(text, size, "HANDOFF-STATE 1\nnotify fd=%d dir=%s path=%s "
	    "dev=%llu ino=%llu\n%send\n", fd, dir, path,
	    (unsigned long long)st.st_dev, (unsigned long long)st.st_ino,
	    extra);
	return fd;
}

/* The notify sockets of the state in text, served on evb, telling h. */
static struct notify *
restore_text(struct event_base *evb, const char *text, struct lanes_heard *h)
{
	struct state st;
	struct notify *n;
	char *cause = NULL;

	cr_assert_eq(state_parse(text, strlen(text), &st, &cause), 0, "%s",
	    cause);
	n = notify_restore(evb, &st, heard_lane_status, h, &cause);
	cr_assert_not_null(n, "notify_restore: %s", cause);
	state_free(&st);
	return n;
}

/*
 * A state from a supervisor that had only lane 0: it is served as it
 * was, and the other lanes are made beside it, so that the workers the
 * new supervisor starts reach theirs.
 */
Test(notify, the_lanes_a_state_has_not_are_made_at_its_restore)
{
	struct lanes_heard *h = calloc(1, sizeof(*h));
	char text[1024], dir[256], lane5[256];
	const char *base, *p;
	struct event_base *evb;
	struct notify *n;
	char *tmp;
	int fd, tx0, tx5;

	cr_assert_not_null(h);
	tmp = support_tmpdir();
	snprintf(dir, sizeof(dir), "%s/notify", tmp);
	fd = one_socket_state(dir, text, sizeof(text), "");
	cr_assert_not_null(evb = event_base_new());
	n = restore_text(evb, text, h);
	base = notify_socket_path(n, geteuid());
	p = notify_lane_path(base, 5, lane5, sizeof(lane5));
	tx0 = connect_sender(base);
	tx5 = connect_sender(p);
	cr_assert_eq(send_status(tx0, 7), 0);
	cr_assert_eq(send_status(tx5, 5005), 0);
	turn_until(evb, &h->count, 2, "lanes 0 and 5");
	cr_expect(h->values[0] + h->values[1] == 5012, "heard %d and %d",
	    h->values[0], h->values[1]);
	cr_expect_eq(notify_fd(n) != fd, true);
	close(tx0);
	close(tx5);
	notify_close(n);
	cr_expect_eq(fcntl(fd, F_GETFD), -1, "lane 0 was not closed with it");
	event_base_free(evb);
	support_rmtree(tmp);
	free(tmp);
	free(h);
}

/*
 * A restore that made the lanes and then failed (the old image exec'd
 * back: the lanes' fds closed by the exec, their files left) does not
 * keep the next restore of the same state from making them again.
 */
Test(notify, lanes_a_failed_restore_left_are_made_again)
{
	struct lanes_heard *h = calloc(1, sizeof(*h));
	char text[1024], dir[256], path[300], lane7[256];
	struct sockaddr_un sun;
	struct event_base *evb;
	struct notify *n;
	const char *why, *p;
	char *tmp;
	socklen_t len;
	int fd, stale, lane, tx;

	cr_assert_not_null(h);
	tmp = support_tmpdir();
	snprintf(dir, sizeof(dir), "%s/notify", tmp);
	fd = one_socket_state(dir, text, sizeof(text), "");
	/* What the failed restore left: every lane bound, nobody reading. */
	for (lane = 1; lane < NOTIFY_LANES; lane++) {
		snprintf(path, sizeof(path), "%s/%u/lane%d", dir,
		    (unsigned)geteuid(), lane);
		cr_assert_eq(unixaddr_make(path, UNIXADDR_FILE, &sun, &len,
		    &why), 0);
		cr_assert_geq(stale = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC,
		    0), 0);
		cr_assert_eq(bind(stale, (struct sockaddr *)&sun, len), 0);
		close(stale);
	}
	cr_assert_not_null(evb = event_base_new());
	n = restore_text(evb, text, h);
	p = notify_lane_path(notify_socket_path(n, geteuid()), 7, lane7,
	    sizeof(lane7));
	tx = connect_sender(p);
	cr_assert_eq(send_status(tx, 7007), 0);
	turn_until(evb, &h->count, 1, "lane 7");
	cr_expect_eq(h->values[0], 7007);
	close(tx);
	notify_close(n);
	cr_expect_eq(fcntl(fd, F_GETFD), -1, "lane 0 was not closed with it");
	event_base_free(evb);
	support_rmtree(tmp);
	free(tmp);
	free(h);
}

/*
 * A state whose lanes do not fit (a lane out of range, or given twice) is
 * refused, naming why, and the sockets it names stay open for whoever
 * restores them next.
 */
Test(notify, a_state_whose_lanes_do_not_fit_is_refused)
{
	static const struct {
		int	 lane, times;
	} bad[] = { { 16, 1 }, { 0, 1 }, { 3, 2 } };
	char text[1024], extra[256], dir[256], *tmp, *cause;
	struct event_base *evb;
	struct state st;
	size_t i;
	int fd, spare;

	cr_assert_not_null(evb = event_base_new());
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		tmp = support_tmpdir();
		snprintf(dir, sizeof(dir), "%s/notify", tmp);
		cr_assert_geq(spare = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC,
		    0), 0);
		snprintf(extra, sizeof(extra), "notify_lane lane=%d fd=%d\n",
		    bad[i].lane, spare);
		if (bad[i].times == 2)
			snprintf(extra + strlen(extra), sizeof(extra) -
			    strlen(extra), "notify_lane lane=%d fd=%d\n",
			    bad[i].lane, spare);
		fd = one_socket_state(dir, text, sizeof(text), extra);
		cause = NULL;
		cr_assert_eq(state_parse(text, strlen(text), &st, &cause), 0,
		    "%s", cause);
		cr_expect_null(notify_restore(evb, &st, heard_lane_status, NULL,
		    &cause), "%s restored", extra);
		cr_expect(cause != NULL && strstr(cause, "notify lanes do not "
		    "fit") != NULL, "%s: %s", extra, cause);
		free(cause);
		state_free(&st);
		cr_expect_neq(fcntl(fd, F_GETFD), -1, "lane 0 closed");
		cr_expect_neq(fcntl(spare, F_GETFD), -1, "a lane closed");
		close(fd);
		close(spare);
		support_rmtree(tmp);
		free(tmp);
	}
	event_base_free(evb);
}

/*
 * A helper that speaks for its worker sends READY=1, then BARRIER=1 with
 * an fd, and waits until that fd is dropped (what systemd-notify does),
 * then exits: its message is handled after it is gone, and still names
 * the process group it was in when the message was read.
 */
Test(notify, a_sender_gone_before_its_message_is_handled_keeps_its_group)
{
	struct heard h = { 0, 0, 0 };
	struct iovec iov = { "BARRIER=1", 9 };
	struct bench b;
	struct pollfd pfd;
	int barrier[2], sent[2], status;
	pid_t pid;
	char c;

	bench_open(&b, heard_line, &h);
	cr_assert_eq(pipe2(sent, O_CLOEXEC), 0);
	cr_assert_geq(pid = fork(), 0);
	if (pid == 0) {
		/* Its own process group, as a worker's helper is in its. */
		if (setpgid(0, 0) == -1 || pipe(barrier) == -1 ||
		    send(b.tx, "READY=1", 7, 0) != 7 ||
		    fdpass_send(b.tx, &iov, 1, &barrier[1], 1, 0) != 9)
			_exit(1);
		close(barrier[1]);
		(void)write(sent[1], "s", 1);
		pfd.fd = barrier[0];
		pfd.events = POLLIN;
		_exit(poll(&pfd, 1, 30000) == 1 ? 0 : 2);
	}
	close(sent[1]);
	cr_assert_eq(read(sent[0], &c, 1), 1, "the helper sent nothing");
	close(sent[0]);
	/* Both read: the barrier's fd is dropped, and the helper exits. */
	cr_assert_eq(notify_stash(b.n), 2);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "the helper: status %d", status);
	cr_assert_eq(h.ready, 0);
	turn_until(b.base, &h.ready, 1, "READY=1");
	cr_expect_eq(h.pid, pid);
	cr_expect_eq(h.group, pid, "the sender's group: %d", (int)h.group);
	bench_close(&b);
}

/* notify_cb: note each STATUS= value, taking 300 µs over each. */
static void
heard_status_slowly(pid_t sender, pid_t group, const char *key,
    const char *value, void *arg)
{
	support_spin_us(300);
	heard_status(sender, group, key, value, arg);
}

/*
 * A turn of the loop handles messages for a slice of time (2 ms), not as
 * many as keep coming: the rest wait, in order, for the next turns, even
 * with the socket's queue empty (all of it taken into memory already).
 */
Test(notify, a_turn_handles_messages_for_a_slice_and_the_rest_after)
{
	struct order o = { 0, { 0 } };
	struct bench b;
	int full, turns = 0, i;

	bench_open(&b, heard_status_slowly, &o);
	for (full = 0; send_status(b.tx, full) == 0; full++)
		cr_assert_lt(full, 32, "the queue never filled");
	cr_assert_eq(notify_stash(b.n), full);
	event_base_loop(b.base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	cr_assert_gt(o.count, 0, "nothing handled in the first turn");
	cr_assert_lt(o.count, full, "all %d handled in one turn of 300 µs "
	    "each", full);
	while (o.count < full) {
		cr_assert_lt(++turns, 100, "%d of %d handled", o.count, full);
		event_base_loop(b.base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	}
	for (i = 0; i < full; i++)
		cr_expect_eq(o.values[i], i, "message %d handled as number %d",
		    o.values[i], i);
	bench_close(&b);
}
