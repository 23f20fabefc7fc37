/*
 * test_control.c: the control server on its own, with a fake owner behind
 * its table of operations: each request reaches the right operation with
 * its arguments, and the answers (status lines, a reload followed to its
 * end, refusals, a listener's fds, stop) reach the client, and the other
 * clients are closed in order before an upgrade's exec. No supervisor
 * is involved: the server knows its owner only through struct control_ops.
 */
#include "autoconf.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "control.h"
#include "ctllock.h"
#include "fdpass.h"
#include "support.h"
#include "unixaddr.h"

/* The fake owner: what it was asked, and what it answers. */
struct fake {
	struct control	*ctl;
	int		 reloads;
	char		 program[64];	/* "" for every program */
	int		 refuse;	/* reload refused at once */
	unsigned int	 begin_id;	/* reload begins at once with this id */
	int		 stops;
	int64_t		 stop_ms;
	int		 statuses;
	bool		 json;
	size_t		 status_lines;	/* of 1 KiB each; 0: one line */
	int		 upgrades;
	int		 fds[2];	/* listener "web" */
};

/* control_ops.reload */
static int
fake_reload(void *arg, const char *program, char **cause)
{
	struct fake *f = arg;

	f->reloads++;
	snprintf(f->program, sizeof(f->program), "%s", program ? program : "");
	if (f->refuse) {
		*cause = strdup("unknown program nope (see handoff status)");
		return -1;
	}
	if (f->begin_id != 0)
		control_reload_begin(f->ctl, f->begin_id, program);
	return 0;
}

/* control_ops.stop */
static void
fake_stop(void *arg, int64_t ms)
{
	struct fake *f = arg;

	f->stops++;
	f->stop_ms = ms;
}

/* control_ops.status */
static void
fake_status(void *arg, bool json, struct evbuffer *out)
{
	struct fake *f = arg;

	char line[1024];
	size_t i;

	f->statuses++;
	f->json = json;
	if (f->status_lines == 0) {
		evbuffer_add_printf(out, "data %s\n", json ? "{}" : "a table");
		return;
	}
	memset(line, 'x', sizeof(line));
	memcpy(line, "data ", 5);
	line[sizeof(line) - 1] = '\n';
	for (i = 0; i < f->status_lines; i++)
		evbuffer_add(out, line, sizeof(line));
}

/* control_ops.upgrade: taken; the test tells how it ends. */
static int
fake_upgrade(void *arg, const char *path, char **cause)
{
	struct fake *f = arg;

	(void)path;
	(void)cause;
	f->upgrades++;
	return 0;
}

/* control_ops.listener_fds: only "web", with two sockets. */
static int
fake_listener_fds(void *arg, const char *name, struct control_fds *out)
{
	struct fake *f = arg;

	if (strcmp(name, "web") != 0)
		return -1;
	out->name = "web";
	out->bound = "127.0.0.1:8080";
	out->fds = f->fds;
	out->nfds = 2;
	return 0;
}

static const struct control_ops fake_ops = {
	.reload = fake_reload,
	.stop = fake_stop,
	.status = fake_status,
	.listener_fds = fake_listener_fds,
	.upgrade = fake_upgrade,
};

static struct event_base *base;
static struct fake fake;
static char *dir, path[256];
static int fds_before;

/* A control server in a private directory, with the fake behind it. */
static void
setup(void)
{
	char *cause = NULL;

	fds_before = support_fd_count(getpid());
	dir = support_tmpdir();
	snprintf(path, sizeof(path), "%s/ctl.sock", dir);
	cr_assert_not_null(base = event_base_new());
	memset(&fake, 0, sizeof(fake));
	cr_assert_eq(pipe2(fake.fds, O_CLOEXEC), 0);
	fake.ctl = control_open(base, path, &fake_ops, &fake, &cause);
	cr_assert_not_null(fake.ctl, "control_open: %s", cause);
}

/* Close everything: no fd of the server may be left. */
static void
teardown(void)
{
	control_close(fake.ctl);
	event_base_free(base);
	close(fake.fds[0]);
	close(fake.fds[1]);
	cr_expect_eq(support_fd_count(getpid()), fds_before, "fds leaked");
	support_rmtree(dir);
	free(dir);
}

TestSuite(control, .init = setup, .fini = teardown);

/* Connect to the server, sending nothing; rcvbuf: SO_RCVBUF, or 0. */
static int
client_connect(int rcvbuf)
{
	struct sockaddr_un sun;
	socklen_t len;
	const char *why;
	int fd;

	cr_assert_eq(unixaddr_make(path, UNIXADDR_FILE, &sun, &len, &why), 0);
	cr_assert_geq(fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), 0);
	if (rcvbuf > 0)
		cr_assert_eq(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf,
		    sizeof(rcvbuf)), 0);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sun, len), 0, "%s",
	    strerror(errno));
	return fd;
}

/* Connect to the server, sending nothing. */
static int
client_no_request(void)
{
	return client_connect(0);
}

/* Send one request line on fd; returns fd. */
static int
client_ask(int fd, const char *request)
{
	char line[256];
	int n;

	n = snprintf(line, sizeof(line), "%s %s\n", CONTROL_PROTOCOL, request);
	cr_assert_eq(send(fd, line, (size_t)n, MSG_NOSIGNAL), n);
	return fd;
}

/* Connect to the server and send one request line. */
static int
client(const char *request)
{
	return client_ask(client_no_request(), request);
}

/* A client that sends request and never reads, with a small SO_RCVBUF. */
static int
client_deaf(const char *request)
{
	return client_ask(client_connect(4096), request);
}

/* Run the loop until *count reaches n. */
static void
pump_until_count(const int *count, int n)
{
	long long deadline = support_now_ms() + SUPPORT_DEADLINE_MS;

	while (*count < n) {
		cr_assert_lt(support_now_ms(), deadline, "nothing happened");
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		poll(NULL, 0, 1);
	}
}

/* Run the loop until *flag is set. */
static void
pump_until(const int *flag)
{
	pump_until_count(flag, 1);
}

/*
 * Run the loop until the server closes fd; the whole answer into buf and
 * the fds that came with it into fds (up to max). Closes fd.
 */
static size_t
answer(int fd, char *buf, size_t len, int *fds, size_t max)
{
	long long deadline = support_now_ms() + SUPPORT_DEADLINE_MS;
	struct pollfd pfd = { fd, POLLIN, 0 };
	struct fdpass_in in;
	struct iovec iov;
	size_t used = 0, nfds = 0;
	ssize_t n;

	for (;;) {
		cr_assert_lt(support_now_ms(), deadline, "no end of answer: "
		    "%.*s", (int)used, buf);
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		if (poll(&pfd, 1, 1) != 1)
			continue;
		memset(&in, 0, sizeof(in));
		in.fds = fds != NULL ? fds + nfds : NULL;
		in.maxfds = max - nfds;
		iov.iov_base = buf + used;
		iov.iov_len = len - 1 - used;
		n = fdpass_recv(fd, &iov, 1, &in, MSG_DONTWAIT);
		if (n == -1 && errno == EAGAIN)
			continue;
		cr_assert_geq(n, 0, "recv: %s", strerror(errno));
		cr_assert_not(in.truncated);
		nfds += in.nfds;
		used += (size_t)n;
		if (n == 0)
			break;
	}
	buf[used] = '\0';
	close(fd);
	return nfds;
}

Test(control, status_comes_from_the_status_operation)
{
	char buf[256];

	answer(client("status json"), buf, sizeof(buf), NULL, 0);
	cr_expect_str_eq(buf, "data {}\nok status\n");
	cr_expect_eq(fake.statuses, 1);
	cr_expect(fake.json);
	answer(client("status"), buf, sizeof(buf), NULL, 0);
	cr_expect_str_eq(buf, "data a table\nok status\n");
	cr_expect_not(fake.json);
}

/*
 * A request the client sent before the server accepted it is answered,
 * and its connection closed, in the one turn of the loop that accepts it:
 * a loop busy with other work between turns keeps it waiting one turn,
 * not three.
 */
Test(control, a_request_is_answered_in_the_turn_that_accepts_it)
{
	char buf[256];
	size_t used = 0;
	ssize_t n;
	int fd;

	fd = client("status");
	event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	cr_assert_eq(fake.statuses, 1, "not accepted and read in one turn");
	for (;;) {
		n = recv(fd, buf + used, sizeof(buf) - 1 - used, MSG_DONTWAIT);
		cr_assert_neq(n, -1, "after one turn, the answer is not whole "
		    "or the connection is open: %s (%.*s)", strerror(errno),
		    (int)used, buf);
		if (n == 0)
			break;
		used += (size_t)n;
	}
	buf[used] = '\0';
	cr_expect_str_eq(buf, "data a table\nok status\n");
	close(fd);
}

Test(control, a_reload_is_followed_to_its_end)
{
	char buf[256];
	int fd;

	fd = client("reload shop");
	pump_until(&fake.reloads);
	cr_expect_str_eq(fake.program, "shop");
	control_reload_begin(fake.ctl, 7, "shop");
	control_progress(fake.ctl, 7, "shop gen %u starting", 2);
	control_progress(fake.ctl, 8, "another reload's progress");
	control_reload_end(fake.ctl, 7, true, "done in %dms", 12);
	answer(fd, buf, sizeof(buf), NULL, 0);
	cr_expect_str_eq(buf, "progress shop gen 2 starting\nok done in 12ms\n");
}

/* What fd holds now, without waiting or running the loop ("" if nothing). */
static const char *
waiting_now(int fd, char *buf, size_t len)
{
	ssize_t n = recv(fd, buf, len - 1, MSG_DONTWAIT);

	cr_assert(n >= 0 || errno == EAGAIN, "recv: %s", strerror(errno));
	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

/*
 * What is queued for the clients following a reload is written when the
 * reload's commit flushes it, before the loop turns again (the commit
 * goes on to tell the old generations to drain): once, and only theirs.
 */
Test(control, a_flush_writes_a_reloads_progress_before_the_loop_turns)
{
	char buf[256];
	int fd, other;

	fd = client("reload shop");
	pump_until(&fake.reloads);
	other = client("reload web");
	pump_until_count(&fake.reloads, 2);
	control_reload_begin(fake.ctl, 7, "shop");
	control_reload_begin(fake.ctl, 8, "web");
	event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	control_progress(fake.ctl, 7, "shop gen 2 took over in %dms", 3);
	control_progress(fake.ctl, 8, "web gen 2 starting");
	cr_assert_str_eq(waiting_now(fd, buf, sizeof(buf)), "",
	    "a line is written before the loop turns or a flush");
	control_flush(fake.ctl, 7);
	cr_expect_str_eq(waiting_now(fd, buf, sizeof(buf)),
	    "progress shop gen 2 took over in 3ms\n");
	cr_expect_str_eq(waiting_now(other, buf, sizeof(buf)), "",
	    "another reload's follower was flushed too");
	control_progress(fake.ctl, 7, "shop gen 1 draining (1 left)");
	control_reload_end(fake.ctl, 7, true, "done in %dms", 5);
	answer(fd, buf, sizeof(buf), NULL, 0);
	cr_expect_str_eq(buf, "progress shop gen 1 draining (1 left)\n"
	    "ok done in 5ms\n", "what was flushed came again, or the rest "
	    "did not come");
	control_reload_end(fake.ctl, 8, true, "done in %dms", 6);
	answer(other, buf, sizeof(buf), NULL, 0);
	cr_expect_str_eq(buf, "progress web gen 2 starting\nok done in 6ms\n");
}

/*
 * A follower gone before the flush: what the flush could not send stays
 * for the bufferevent, which meets the error at its next write and frees
 * the client, with no other line queued after it.
 */
Test(control, a_follower_gone_before_a_flush_is_freed)
{
	long long deadline = support_now_ms() + SUPPORT_DEADLINE_MS;
	int fd, open_fds;

	/* As the supervisor does: a write to a client gone is EPIPE. */
	signal(SIGPIPE, SIG_IGN);
	fd = client("reload shop");
	pump_until(&fake.reloads);
	control_reload_begin(fake.ctl, 7, "shop");
	event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	close(fd);
	open_fds = support_fd_count(getpid());
	control_progress(fake.ctl, 7, "shop gen 2 took over in %dms", 3);
	control_flush(fake.ctl, 7);
	while (support_fd_count(getpid()) == open_fds) {
		cr_assert_lt(support_now_ms(), deadline, "the client gone is "
		    "still there");
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		poll(NULL, 0, 1);
	}
	cr_expect_eq(support_fd_count(getpid()), open_fds - 1);
}

Test(control, a_reload_refused_at_once_or_later)
{
	char *details[] = { "handoff.ini:3: bad port" };
	char buf[256];
	int fd;

	fake.refuse = 1;
	answer(client("reload nope"), buf, sizeof(buf), NULL, 0);
	cr_expect_str_eq(buf, "error 1 unknown program nope (see handoff status)\n");
	fake.refuse = 0;
	fake.reloads = 0;
	fd = client("reload");
	pump_until(&fake.reloads);
	cr_expect_str_eq(fake.program, "");
	control_reload_refused(fake.ctl, NULL, "the config has errors", details,
	    1);
	answer(fd, buf, sizeof(buf), NULL, 0);
	cr_expect_str_eq(buf, "progress handoff.ini:3: bad port\n"
	    "error 1 the config has errors\n");
}

/* Assert that nothing came on fd yet, the loop having run. */
static void
expect_no_answer_yet(int fd, const char *who)
{
	char c;
	int i;

	for (i = 0; i < 10; i++)
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	cr_expect_eq(recv(fd, &c, 1, MSG_DONTWAIT), -1, "%s heard what was "
	    "not its own", who);
	cr_expect_eq(errno, EAGAIN);
}

/*
 * Reloads asked for during another wait for their own: a client of one
 * program follows the reload of that program (or of every program), not
 * the reload of another that begins first, nor hears of its refusal.
 */
Test(control, each_waiting_client_follows_the_reload_it_asked_for)
{
	char buf[256];
	int web, api, all, web2;

	web = client("reload web");
	pump_until(&fake.reloads);
	fake.reloads = 0;
	api = client("reload api");
	pump_until(&fake.reloads);
	fake.reloads = 0;
	all = client("reload");
	pump_until(&fake.reloads);

	control_reload_begin(fake.ctl, 4, "web");
	control_progress(fake.ctl, 4, "web gen 2 starting");
	control_reload_end(fake.ctl, 4, true, "done in 3ms");
	answer(web, buf, sizeof(buf), NULL, 0);
	cr_expect_str_eq(buf, "progress web gen 2 starting\nok done in 3ms\n");
	expect_no_answer_yet(api, "reload api");
	expect_no_answer_yet(all, "reload");

	/* A refused reload of web is not api's either. */
	fake.reloads = 0;
	web2 = client("reload web");
	pump_until(&fake.reloads);
	control_reload_refused(fake.ctl, "web", "the config has errors", NULL,
	    0);
	answer(web2, buf, sizeof(buf), NULL, 0);
	cr_expect_str_eq(buf, "error 1 the config has errors\n");
	expect_no_answer_yet(api, "reload api");

	/* A reload of every program is what both wait for. */
	control_reload_begin(fake.ctl, 5, NULL);
	control_reload_end(fake.ctl, 5, true, "done in 9ms");
	answer(api, buf, sizeof(buf), NULL, 0);
	cr_expect_str_eq(buf, "ok done in 9ms\n");
	answer(all, buf, sizeof(buf), NULL, 0);
	cr_expect_str_eq(buf, "ok done in 9ms\n");
}

Test(control, reload_nowait_says_started_or_queued)
{
	char buf[256];

	fake.begin_id = 3;
	answer(client("reload nowait"), buf, sizeof(buf), NULL, 0);
	cr_expect_str_eq(buf, "ok reload started\n");
	fake.begin_id = 0;
	answer(client("reload nowait"), buf, sizeof(buf), NULL, 0);
	cr_expect_str_eq(buf, "ok reload queued\n");
	cr_expect_eq(fake.reloads, 2);
}

Test(control, a_listeners_fds_are_handed_over)
{
	struct stat got, want;
	char buf[256];
	int fds[4];
	size_t n, i;

	n = answer(client("fds web"), buf, sizeof(buf), fds, 4);
	cr_expect_str_eq(buf, "ok 2 web 127.0.0.1:8080\n");
	cr_assert_eq(n, 2);
	for (i = 0; i < n; i++) {
		cr_assert_eq(fstat(fds[i], &got), 0);
		cr_assert_eq(fstat(fake.fds[i], &want), 0);
		cr_expect(got.st_ino == want.st_ino, "fd %zu is another file", i);
	}
	fdpass_close(fds, n);
	/* The owner keeps its own. */
	cr_expect_neq(fcntl(fake.fds[0], F_GETFD), -1);
	answer(client("fds nope"), buf, sizeof(buf), fds, 4);
	cr_expect_str_eq(buf, "error 1 no such listener (see handoff status)\n");
}

Test(control, stop_waits_until_the_server_closes)
{
	char buf[256];
	int fd;

	fd = client("stop 1m30s");
	pump_until(&fake.stops);
	cr_expect_eq(fake.stop_ms, 90000);
	control_close(fake.ctl);
	fake.ctl = NULL;
	answer(fd, buf, sizeof(buf), NULL, 0);
	cr_expect_str_eq(buf, "ok stopped\n");
}

/*
 * The server holds the lock beside its socket while it runs (ctllock.c,
 * tested on its own in test_ctllock.c), and lets it go when closed.
 */
Test(control, holds_the_lock_while_open)
{
	cr_expect_eq(ctllock_running(path), getpid());
	control_close(fake.ctl);
	fake.ctl = NULL;
	cr_expect_eq(ctllock_running(path), -1);
}

/* A client reading its answer to the end, in a thread of its own. */
struct reader {
	pthread_t	 thread;
	int		 fd;
	size_t		 len;		/* bytes read */
	char		 tail[16];	/* the last of them */
	int		 end;		/* 0: end-of-file, else the errno
					   (ETIMEDOUT: not closed in time) */
};

/*
 * The reader's thread: read until end-of-file, an error, or
 * SUPPORT_DEADLINE_MS.
 */
static void *
reader_run(void *arg)
{
	long long deadline = support_now_ms() + SUPPORT_DEADLINE_MS;
	struct reader *r = arg;
	struct pollfd pfd = { r->fd, POLLIN, 0 };
	char buf[65536];
	size_t keep;
	ssize_t n;
	int left;

	for (;;) {
		left = (int)(deadline - support_now_ms());
		if (left <= 0 || poll(&pfd, 1, left) == 0) {
			r->end = ETIMEDOUT;
			return NULL;
		}
		n = recv(r->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == -1 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0) {
			r->end = n == 0 ? 0 : errno;
			return NULL;
		}
		r->len += (size_t)n;
		keep = (size_t)n < sizeof(r->tail) - 1 ? (size_t)n :
		    sizeof(r->tail) - 1;
		memmove(r->tail, r->tail + keep, sizeof(r->tail) - 1 - keep);
		memcpy(r->tail + sizeof(r->tail) - 1 - keep, buf + n - keep, keep);
	}
}

/* Read fd to its end. */
static void
read_closed(int fd, struct reader *r)
{
	memset(r, 0, sizeof(*r));
	r->fd = fd;
	reader_run(r);
	close(fd);
}

/*
 * Before an upgrade's exec, every client but the upgrade's is closed in
 * order: one that sent no request is told the supervisor is upgrading
 * itself and to ask again; a long answer (a 4 MiB status) goes whole to
 * a client that reads it; a client that reads nothing, with 64 KiB it
 * sent after its request unread, holds the exec back a bounded time and
 * gets the start of its answer and a clean end-of-file, not a reset. The
 * upgrade's client hears nothing yet and keeps its connection for the
 * answer.
 */
Test(control, other_clients_are_closed_in_order_before_an_upgrades_exec)
{
	static const char expected[] = "error 3 the supervisor is upgrading "
	    "itself in place; this request was not served: ask again\n";
	struct reader quick, deaf_end;
	char buf[256], *out;
	int silent, deaf, up, fast, rc;
	long long took;
	size_t full, len;

	fake.status_lines = 4096;
	full = fake.status_lines * 1024 + strlen("ok status\n");
	silent = client_no_request();
	len = 17 + 64 * 1024;
	cr_assert_not_null(out = malloc(len));
	memcpy(out, "HANDOFF/1 status\n", 17);
	memset(out + 17, 'x', len - 17);
	deaf = client_no_request();
	cr_assert_eq(send(deaf, out, len, MSG_NOSIGNAL), (ssize_t)len);
	free(out);
	pump_until(&fake.statuses);
	fast = client("status");
	pump_until_count(&fake.statuses, 2);
	up = client("upgrade");
	pump_until(&fake.upgrades);

	memset(&quick, 0, sizeof(quick));
	quick.fd = fast;
	cr_assert_eq(pthread_create(&quick.thread, NULL, reader_run, &quick), 0);
	took = support_now_ms();
	control_upgrade_close_others(fake.ctl);
	took = support_now_ms() - took;
	pthread_join(quick.thread, NULL);
	close(fast);
	cr_expect_lt(took, 5000, "a client that does not read held the exec "
	    "back %lld ms", took);

	cr_expect_eq(quick.end, 0, "the reading client: %s", strerror(quick.end));
	cr_expect_eq(quick.len, full, "the reading client got %zu bytes of %zu",
	    quick.len, full);
	cr_expect_str_eq(quick.tail + sizeof(quick.tail) - 11, "ok status\n");

	read_closed(deaf, &deaf_end);
	cr_expect_eq(deaf_end.end, 0, "the deaf client's connection ended with "
	    "%s", strerror(deaf_end.end));
	cr_expect(deaf_end.len > 0 && deaf_end.len < full, "the deaf client "
	    "got %zu bytes of %zu", deaf_end.len, full);

	rc = (int)recv(silent, buf, sizeof(buf) - 1, MSG_DONTWAIT);
	cr_assert_gt(rc, 0, "the silent client heard nothing: %s",
	    strerror(errno));
	buf[rc] = '\0';
	cr_expect_str_eq(buf, expected);
	cr_expect_eq(recv(silent, buf, 1, MSG_DONTWAIT), 0, "no end-of-file "
	    "after the line");
	close(silent);

	expect_no_answer_yet(up, "the upgrade's client");
	control_upgrade_end(fake.ctl, true, "upgraded to handoff %s", "9.9.1");
	answer(up, buf, sizeof(buf), NULL, 0);
	cr_expect_str_eq(buf, "ok upgraded to handoff 9.9.1\n");
}

/*
 * Serve with the soft fd limit at nofile: a quarter of it is the number of
 * clients served at once (the server reads the limit when it opens).
 */
static void
reopen_with_fd_limit(rlim_t nofile)
{
	struct rlimit rl;
	char *cause = NULL;

	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	cr_assert_geq(rl.rlim_max, nofile);
	rl.rlim_cur = nofile;
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	control_close(fake.ctl);
	fake.ctl = control_open(base, path, &fake_ops, &fake, &cause);
	cr_assert_not_null(fake.ctl, "control_open: %s", cause);
}

/* The soft fd limit back at the hard one. */
static void
restore_fd_limit(void)
{
	struct rlimit rl;

	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	rl.rlim_cur = rl.rlim_max;
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
}

/* Ask for a status on a new client and expect all of it (full bytes). */
static void
expect_whole_status(size_t full, const char *who)
{
	char *buf = malloc(full + 2);

	cr_assert_not_null(buf);
	answer(client("status"), buf, full + 2, NULL, 0);
	cr_expect_eq(strlen(buf), full, "%s got %zu bytes of %zu: %.80s", who,
	    strlen(buf), full, buf);
	cr_expect(strlen(buf) >= 10 &&
	    strcmp(buf + strlen(buf) - 10, "ok status\n") == 0, "%s: no ok",
	    who);
	free(buf);
}

#define NDEAF	16	/* deaf clients, besides 4 others, in 20 slots */

/*
 * With every slot taken by clients that sent a request, a new client
 * closes the oldest one that does not read its answer (a reload's
 * progress piling up, a status), cutting that answer short; one with no
 * request goes first, and a client following a reload that reads what
 * it is sent, and the upgrade's, are never closed for another.
 */
Test(control, clients_that_do_not_read_their_answers_make_room)
{
	static const char idle_line[] = "error 1 closed to make room for "
	    "another client: this one sent no request\n";
	int up, follower, flood, idle, deaf[NDEAF + 2], i;
	size_t full;
	struct reader cut;
	char buf[256];
	ssize_t n;

	reopen_with_fd_limit(80);
	fake.status_lines = 1024;	/* 1 MiB: more than a socket holds */
	full = fake.status_lines * 1024 + strlen("ok status\n");
	up = client("upgrade");
	pump_until(&fake.upgrades);
	follower = client("reload a");
	pump_until_count(&fake.reloads, 1);
	flood = client("reload b");
	pump_until_count(&fake.reloads, 2);
	control_reload_begin(fake.ctl, 7, "a");
	control_reload_begin(fake.ctl, 8, "b");
	control_progress(fake.ctl, 7, "a gen 2 starting");
	for (i = 0; i < 4096; i++)
		control_progress(fake.ctl, 8, "b %0400d", i);
	idle = client_no_request();
	for (i = 0; i < NDEAF; i++) {
		deaf[i] = client_deaf("status");
		pump_until_count(&fake.statuses, i + 1);
	}

	/* The client with no request goes first, told why. */
	expect_whole_status(full, "the first newcomer");
	n = recv(idle, buf, sizeof(buf) - 1, MSG_DONTWAIT);
	cr_assert_gt(n, 0, "the idle client heard nothing: %s", strerror(errno));
	buf[n] = '\0';
	cr_expect_str_eq(buf, idle_line);
	close(idle);
	/* Every slot taken again (the newcomer is gone, answered). */
	deaf[NDEAF] = client_deaf("status");
	pump_until_count(&fake.statuses, NDEAF + 2);

	/* Then the oldest that does not read: the reload's flooded follower. */
	expect_whole_status(full, "the second newcomer");
	read_closed(flood, &cut);
	cr_expect_eq(cut.end, 0, "flood: %s", strerror(cut.end));
	cr_expect(cut.len > 0 && strstr(cut.tail, "ok ") == NULL,
	    "flood got %zu bytes ending %s", cut.len, cut.tail);
	deaf[NDEAF + 1] = client_deaf("status");
	pump_until_count(&fake.statuses, NDEAF + 4);

	/* Then the oldest deaf status client, its answer cut short. */
	expect_whole_status(full, "the third newcomer");
	read_closed(deaf[0], &cut);
	cr_expect_eq(cut.end, 0, "deaf: %s", strerror(cut.end));
	cr_expect(cut.len > 0 && cut.len < full, "the deaf client got %zu "
	    "bytes of %zu", cut.len, full);

	/* The follower that reads, and the upgrade's client, are still open. */
	n = recv(follower, buf, sizeof(buf) - 1, MSG_DONTWAIT);
	cr_assert_gt(n, 0, "the follower: %s", n == 0 ? "closed" :
	    strerror(errno));
	buf[n] = '\0';
	cr_expect_str_eq(buf, "progress a gen 2 starting\n");
	cr_expect_eq(recv(follower, buf, 1, MSG_DONTWAIT), -1, "the follower "
	    "was closed");
	expect_no_answer_yet(up, "the upgrade's client");
	for (i = 1; i < NDEAF + 2; i++)
		close(deaf[i]);
	close(follower);
	close(up);
	restore_fd_limit();
}

#define NBIG	8	/* 9 MiB answers: the eighth passes 64 MiB */

/*
 * Answers queued and not read are held to 64 MiB in all: past it the
 * oldest client that does not read is cut; the rest, and the newest
 * answer, go whole to clients that read them later.
 */
Test(control, answers_queued_past_the_cap_cut_the_oldest)
{
	int deaf[NBIG], i;
	size_t full;
	char *buf;

	fake.status_lines = 9 * 1024;
	full = fake.status_lines * 1024 + strlen("ok status\n");
	cr_assert_not_null(buf = malloc(full + 2));
	for (i = 0; i < NBIG; i++) {
		deaf[i] = client_deaf("status");
		pump_until_count(&fake.statuses, i + 1);
	}
	for (i = 0; i < NBIG; i++) {
		answer(deaf[i], buf, full + 2, NULL, 0);
		if (i == 0)
			cr_expect_lt(strlen(buf), full, "the oldest got its "
			    "whole answer");
		else
			cr_expect_eq(strlen(buf), full, "client %d got %zu "
			    "bytes of %zu", i, strlen(buf), full);
	}
	free(buf);
}
