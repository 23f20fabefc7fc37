/*
 * test_control.c: the control server on its own, with a fake owner behind
 * its table of operations: each request reaches the right operation with
 * its arguments, and the answers (status lines, a reload followed to its
 * end, refusals, a listener's fds, stop) reach the client. No supervisor
 * is involved: the server knows its owner only through struct control_ops.
 */
#include "autoconf.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

	f->statuses++;
	f->json = json;
	evbuffer_add_printf(out, "data %s\n", json ? "{}" : "a table");
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

/* Connect to the server and send one request line. */
static int
client(const char *request)
{
	struct sockaddr_un sun;
	socklen_t len;
	const char *why;
	char line[256];
	int fd, n;

	cr_assert_eq(unixaddr_make(path, UNIXADDR_FILE, &sun, &len, &why), 0);
	cr_assert_geq(fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), 0);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sun, len), 0, "%s",
	    strerror(errno));
	n = snprintf(line, sizeof(line), "%s %s\n", CONTROL_PROTOCOL, request);
	cr_assert_eq(send(fd, line, (size_t)n, MSG_NOSIGNAL), n);
	return fd;
}

/* Run the loop until *flag is set. */
static void
pump_until(const int *flag)
{
	long long deadline = support_now_ms() + SUPPORT_DEADLINE_MS;

	while (!*flag) {
		cr_assert_lt(support_now_ms(), deadline, "nothing happened");
		event_base_loop(base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		poll(NULL, 0, 1);
	}
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
	cr_expect_eq(recv(fd, &c, 1, MSG_DONTWAIT), -1, "%s heard of a "
	    "reload not its own", who);
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
