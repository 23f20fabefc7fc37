/*
 * test_guard.c: the port-hijack guard.
 *
 * A process that is neither the supervisor nor one of its workers, and
 * listens on one of its addresses, takes connections meant for the
 * service: with SO_REUSEPORT on the supervisor's socket (a worker turned it
 * on, or the config asked for it) any process of the same uid can join the
 * port, and anyone who may write a unix socket's directory can put a
 * socket of their own in its place. The supervisor notices at start, after
 * each reload and every HANDOFF_GUARD_INTERVAL, logs the process by pid,
 * command and uid, and lists it in status (`foreign`); `handoff check
 * --bind` names it and exits 1. The supervisor's own workers, also those
 * binding sockets of their own on the port, are never reported.
 *
 * The foreign process is the test server run by the test itself (not by
 * the supervisor) with --listen, which binds with SO_REUSEPORT (and, for a
 * unix path, replaces the socket file there). Supervisors come from the
 * harness; the guard looks every 100ms here, so that a test waits on log
 * lines rather than on the default 10s.
 */
#include "autoconf.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <json.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <netinet/in.h>
#include <unistd.h>

#include "harness.h"

#define GUARD_INTERVAL	"100ms"

/* The foreign listener of the running test, and its output. */
static pid_t foreign = -1;

/* After each test: the foreign process first, then the supervisors. */
static void
tg_fini(void)
{
	tc_stop_stranger(&foreign);
	unsetenv("HANDOFF_GUARD_INTERVAL");
	tc_fini();
}

TestSuite(guard, .fini = tg_fini);

/*
 * Start the test server outside the supervisor, listening on address
 * (with SO_REUSEPORT), its output in s->dir/foreign.out; return once it
 * listens.
 */
static void
tg_foreign_start(struct sup *s, const char *address)
{
	foreign = tc_start_stranger(s, address);
}

/* The length of a listener's "foreign" array; the test fails without one. */
static size_t
tg_foreign_count(json_object *listener)
{
	json_object *list = tc_json_at(listener, "foreign", NULL);

	cr_assert(list != NULL && json_object_is_type(list, json_type_array),
	    "no \"foreign\" array in %s", json_object_to_json_string(listener));
	return json_object_array_length(list);
}

/* Check that status lists the foreign process on listener name. */
static void
tg_expect_foreign(struct sup *s, const char *name)
{
	json_object *root = tc_status_json(s), *l, *f;

	cr_assert_not_null(l = tc_json_named(root, "listeners", name));
	cr_assert_eq(tg_foreign_count(l), 1, "%s",
	    json_object_to_json_string(l));
	f = tc_json_at(l, "foreign", "0", NULL);
	cr_expect_eq(tc_json_int(tc_json_at(f, "pid", NULL)), foreign);
	cr_expect_str_eq(tc_json_str(tc_json_at(f, "comm", NULL)), "testserver");
	cr_expect_eq(tc_json_int(tc_json_at(f, "uid", NULL)), (int64_t)getuid());
	cr_expect_gt(tc_json_int(tc_json_at(f, "inode", NULL)), 0);
	json_object_put(root);
}

/* Wait for the warning about the foreign process on listener name. */
static void
tg_expect_foreign_log(struct sup *s, const char *name)
{
	char *needle = tc_printf("pid %d (testserver, uid %u) listens on its "
	    "address too", (int)foreign, (unsigned int)getuid());
	char *line = support_handoff_wait_line(&s->hp, needle, 1);
	char *prefix = tc_printf("listener %s ", name);

	cr_assert_not_null(line, "no warning \"%s\":\n%s", needle, tc_log_text(s));
	cr_expect(strstr(line, prefix) != NULL, "%s", line);
	cr_expect(strstr(line, "neither the supervisor nor one of its workers")
	    != NULL, "%s", line);
	free(line);
	free(prefix);
	free(needle);
}

/* Start s with the guard looking every GUARD_INTERVAL. */
static void
tg_start(struct sup *s)
{
	setenv("HANDOFF_GUARD_INTERVAL", GUARD_INTERVAL, 1);
	tc_start(s);
}

/*
 * A worker turns SO_REUSEPORT on, on the socket every worker shares: the
 * supervisor warns once and shows it; then a process of the same uid joins
 * the port, and is reported by pid, command and uid until it goes.
 */
Test(guard, worker_turns_reuseport_on_then_a_stranger_joins)
{
	struct sup *s = tc_new("", "");
	json_object *root, *l;
	char *address, *text, *want;

	tc_write_config_full(s, "log_level = debug\n", "",
	    "--reuseport-inherited", "");
	tg_start(s);
	tc_expect_log(s, "SO_REUSEPORT was turned on by a process holding it "
	    "(a worker of app)", 1);
	root = tc_status_json(s);
	l = tc_json_named(root, "listeners", "web");
	cr_assert(json_object_get_boolean(tc_json_at(l, "so_reuseport", NULL)),
	    "%s", json_object_to_json_string(l));
	cr_assert_eq(tg_foreign_count(l), 0);
	json_object_put(root);
	text = tc_status_text(s);
	cr_expect(strstr(text, "warning: SO_REUSEPORT turned on by a worker")
	    != NULL, "%s", text);
	free(text);

	address = tc_printf("127.0.0.1:%d", s->port);
	tg_foreign_start(s, address);
	tg_expect_foreign_log(s, "web");
	tg_expect_foreign(s, "web");
	text = tc_status_text(s);
	want = tc_printf("warning: foreign listener pid %d (testserver, uid %u)",
	    (int)foreign, (unsigned int)getuid());
	cr_expect(strstr(text, want) != NULL, "want \"%s\" in:\n%s", want, text);
	free(text);
	free(want);

	/* Said once each, however many looks: wait for ten more. */
	tc_expect_log(s, "port-hijack guard: 1 listener, 2 sockets on their "
	    "addresses, 1 not the supervisor's, 1 foreign holder", 10);
	cr_expect_eq(tc_log_count(s, "SO_REUSEPORT was turned on"), 1);
	cr_expect_eq(tc_log_count(s, "listens on its address too"), 1);
	/* Only the first look read all of /proc: later ones its holder's fds. */
	cr_expect_eq(tc_log_count(s, "(read all of /proc)"), 1, "%s",
	    tc_log_text(s));

	/* Gone: said, and no longer shown. */
	tc_stop_stranger(&foreign);
	tc_expect_log(s, "(testserver) no longer listens on its address", 1);
	root = tc_status_json(s);
	cr_expect_eq(tg_foreign_count(tc_json_named(root, "listeners", "web")), 0);
	json_object_put(root);
	free(address);
}

/*
 * A listening socket on the port whose only copy is in flight, in an
 * SCM_RIGHTS message nobody received: no process holds it, yet it takes
 * connections. Reported (pid and comm null) once it is still there at a
 * second look, without reading all of /proc at every look after.
 */
Test(guard, socket_nobody_holds_is_reported)
{
	struct sup *s = tc_new("", "");
	union {
		struct cmsghdr hdr;
		char buf[CMSG_SPACE(sizeof(int))];
	} control;
	struct sockaddr_in sin;
	struct msghdr msg;
	struct iovec iov;
	json_object *root, *f;
	char byte = 0, *needle;
	int fd, sv[2], on = 1, walks;

	tc_write_config_full(s, "log_level = debug\n", "",
	    "--reuseport-inherited", "");
	tg_start(s);
	tc_expect_log(s, "SO_REUSEPORT was turned on", 1);

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)s->port);
	cr_assert_neq(fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), -1);
	cr_assert_eq(setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)), 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0, "%s",
	    strerror(errno));
	cr_assert_eq(listen(fd, 8), 0);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv), 0);
	memset(&msg, 0, sizeof(msg));
	memset(&control, 0, sizeof(control));
	iov.iov_base = &byte;
	iov.iov_len = 1;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = control.buf;
	msg.msg_controllen = sizeof(control.buf);
	CMSG_FIRSTHDR(&msg)->cmsg_level = SOL_SOCKET;
	CMSG_FIRSTHDR(&msg)->cmsg_type = SCM_RIGHTS;
	CMSG_FIRSTHDR(&msg)->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(CMSG_FIRSTHDR(&msg)), &fd, sizeof(int));
	cr_assert_eq(sendmsg(sv[0], &msg, 0), 1, "%s", strerror(errno));
	close(fd);

	needle = tc_printf("a socket of uid %u (inode", (unsigned int)getuid());
	tc_expect_log(s, needle, 1);
	free(needle);
	root = tc_status_json(s);
	f = tc_json_at(tc_json_named(root, "listeners", "web"), "foreign", "0",
	    NULL);
	cr_assert_not_null(f, "%s", json_object_to_json_string(root));
	cr_expect(json_object_is_type(tc_json_at(f, "pid", NULL), json_type_null));
	cr_expect(json_object_is_type(tc_json_at(f, "comm", NULL),
	    json_type_null));
	cr_expect_eq(tc_json_int(tc_json_at(f, "uid", NULL)), (int64_t)getuid());
	json_object_put(root);

	/* Two looks read all of /proc for it; the next ten do not. */
	tc_expect_log(s, "1 not the supervisor's, 1 foreign holder",
	    tc_log_count(s, "1 not the supervisor's, 1 foreign holder") + 10);
	walks = tc_log_count(s, "(read all of /proc)");
	cr_expect_eq(walks, 2, "%d looks read all of /proc:\n%s", walks,
	    tc_log_text(s));

	/* Its last copy closed with the socket pair: said to be gone. */
	close(sv[0]);
	close(sv[1]);
	tc_expect_log(s, "no longer listens on its address", 1);
}

/*
 * `handoff check --bind` names whoever listens on a listener's address:
 * sharing it through SO_REUSEPORT (the probe itself binds), or holding it
 * outright (the probe cannot bind); exit 1 either way, 0 once it is gone.
 */
Test(guard, check_bind_names_the_foreign_listener)
{
	struct sup *s = tc_new("", "");
	struct run_result res;
	char *address, *want;
	int code;

	/* The config's listener allows SO_REUSEPORT: the probe binds too. */
	tc_write_config_full(s, "", "reuseport = yes\n", "", "");
	address = tc_printf("127.0.0.1:%d", s->port);
	tg_foreign_start(s, address);
	code = support_handoff_cmd(&res, "check", "-c", s->config, "--bind",
	    NULL);
	want = tc_printf("listener web: %s: pid %d (testserver, uid %u) already "
	    "listens on this address with SO_REUSEPORT", address, (int)foreign,
	    (unsigned int)getuid());
	cr_expect_eq(code, 1, "exit %d:\n%s%s", code, res.out, res.err);
	cr_expect(strstr(res.err, want) != NULL, "want \"%s\" in:\n%s", want,
	    res.err);
	cr_expect(strstr(res.err, "1 listener cannot be bound") != NULL, "%s",
	    res.err);
	support_result_free(&res);
	free(want);

	/* Without SO_REUSEPORT on our side the probe cannot bind at all. */
	tc_write_config_full(s, "", "", "", "");
	code = support_handoff_cmd(&res, "check", "-c", s->config, "--bind",
	    NULL);
	want = tc_printf("listener web: %s: address already in use (held by "
	    "pid %d, testserver)", address, (int)foreign);
	cr_expect_eq(code, 1, "exit %d:\n%s%s", code, res.out, res.err);
	cr_expect(strstr(res.err, want) != NULL, "want \"%s\" in:\n%s", want,
	    res.err);
	support_result_free(&res);
	free(want);

	tc_stop_stranger(&foreign);
	tc_write_config_full(s, "", "reuseport = yes\n", "", "");
	code = support_handoff_cmd(&res, "check", "-c", s->config, "--bind",
	    NULL);
	cr_expect_eq(code, 0, "exit %d:\n%s%s", code, res.out, res.err);
	support_result_free(&res);
	free(address);
}

/* Sum the "N not the supervisor's" counts of the guard's debug lines. */
static int
tg_unknown_seen(struct sup *s, int *looks)
{
	char *text = tc_log_text(s), *p, *q;
	unsigned int n;
	int total = 0;

	*looks = 0;
	for (p = text; (p = strstr(p, "port-hijack guard: ")) != NULL; p++) {
		if ((q = strstr(p, " on their addresses, ")) == NULL)
			break;
		if (sscanf(q, " on their addresses, %u not the", &n) == 1) {
			total += (int)n;
			(*looks)++;
		}
	}
	free(text);
	return total;
}

/*
 * Workers that bind sockets of their own on the listener's port (as in
 * self mode), across reloads where two generations overlap: the guard
 * looks at them all (in the fds of the supervisor's processes, as their
 * inodes are not the supervisor's) and reports none. A stranger is still
 * caught afterwards.
 */
Test(guard, own_workers_are_never_foreign_across_reloads)
{
	struct sup *s = tc_new("", "");
	struct run_result res;
	char *args, *address, *log;
	int looks, unknown, i;

	address = tc_printf("127.0.0.1:%d", s->port);
	args = tc_printf("--listen %s --ready-after 300ms", address);
	tc_write_config_full(s, "log_level = debug\n", "reuseport = yes\n", args,
	    "");
	tg_start(s);
	for (i = 0; i < 2; i++) {
		cr_assert_eq(support_handoff_cmd(&res, "reload", "-c", s->config,
		    NULL), 0, "reload %d:\n%s%s", i + 1, res.out, res.err);
		support_result_free(&res);
	}
	/* A few more looks after the last reload. */
	tc_expect_log(s, "port-hijack guard: ", tc_log_count(s,
	    "port-hijack guard: ") + 3);

	unknown = tg_unknown_seen(s, &looks);
	cr_expect_gt(looks, 5, "the guard looked only %d times", looks);
	cr_expect_gt(unknown, looks, "the workers' own sockets were seen only "
	    "%d times in %d looks", unknown, looks);
	cr_expect_eq(tc_log_count(s, "listens on its address too"), 0, "%s",
	    tc_log_text(s));
	/*
	 * Settled by the fds of the supervisor's own processes: all of /proc
	 * is read at most when a worker's socket closes in the middle of a
	 * look, not look after look.
	 */
	cr_expect_lt(tc_log_count(s, "(read all of /proc)"), looks / 4, "%s",
	    tc_log_text(s));
	cr_expect_eq(tc_log_count(s, "SO_REUSEPORT was turned on"), 0);
	/* Both counts from one reading: the guard looks on meanwhile. */
	log = tc_log_text(s);
	cr_expect_eq(support_count_lines(log, "foreign holder") -
	    support_count_lines(log, " 0 foreign holders"), 0, "%s", log);
	free(log);

	tg_foreign_start(s, address);
	tg_expect_foreign_log(s, "web");
	tg_expect_foreign(s, "web");
	free(args);
	free(address);
}

/*
 * Someone removes a unix listener's socket file and binds a socket of
 * their own at the path: connections to it go to them. Reported.
 */
Test(guard, stranger_in_place_of_a_unix_socket)
{
	struct sup *s = tc_new("", "");
	char *text, *path, *address;

	path = tc_printf("%s/admin.sock", s->dir);
	text = tc_printf(
	    "[supervisor]\n"
	    "name = guardtest\n"
	    "control = %s\n"
	    "\n"
	    "[listener web]\n"
	    "listen = 127.0.0.1:%d\n"
	    "\n"
	    "[listener admin]\n"
	    "listen = unix:%s\n"
	    "\n"
	    "[program app]\n"
	    "command = %s\n"
	    "listeners = web, admin\n"
	    "workers = 2\n",
	    s->sock, s->port, path, support_env("HANDOFF_TESTSERVER"));
	free(support_write_file(s->dir, "handoff.ini", text));
	tg_start(s);

	/* The test server replaces a socket file it finds at its path. */
	address = tc_printf("unix:%s", path);
	tg_foreign_start(s, address);
	tg_expect_foreign_log(s, "admin");
	tg_expect_foreign(s, "admin");
	free(text);
	free(path);
	free(address);
}

/*
 * HANDOFF_GUARD_INTERVAL=0: no timer; the guard looks once at start and
 * once after each reload, once the reload is done: after its commit and
 * after the generation it replaced is gone, so that the look delays
 * neither.
 */
Test(guard, interval_zero_looks_at_start_and_after_reloads)
{
	struct sup *s = tc_new("", "");
	struct run_result res;
	char *log, *done;

	tc_write_config_full(s, "log_level = debug\n", "", "", "");
	setenv("HANDOFF_GUARD_INTERVAL", "0", 1);
	tc_start(s);
	tc_expect_log(s, "port-hijack guard: 1 listener", 1);
	cr_assert_eq(support_handoff_cmd(&res, "reload", "-c", s->config, NULL),
	    0, "%s%s", res.out, res.err);
	support_result_free(&res);
	tc_expect_log(s, "port-hijack guard: 1 listener", 2);
	cr_expect_eq(tc_log_count(s, "port-hijack guard: 1 listener"), 2, "%s",
	    tc_log_text(s));
	/* The look waits for the commit's answers: it follows "reload done". */
	log = tc_log_text(s);
	done = strstr(log, "reload done in ");
	cr_assert_not_null(done, "%s", log);
	cr_expect_not_null(strstr(done, "port-hijack guard: 1 listener"), "%s",
	    log);
	/* And for the old generation to be gone. */
	done = strstr(log, "app gen 1: gone");
	cr_assert_not_null(done, "%s", log);
	cr_expect_not_null(strstr(done, "port-hijack guard: 1 listener"), "%s",
	    log);
	free(log);
}

/* A bad HANDOFF_GUARD_INTERVAL: the supervisor refuses to start, saying why. */
Test(guard, bad_interval_is_refused)
{
	struct sup *s = tc_new("", "");
	char *log;
	int code;

	setenv("HANDOFF_GUARD_INTERVAL", "soon", 1);
	cr_assert_eq(support_handoff_start(&s->hp, s->config, s->log), 0);
	code = tc_wait_exit(s, DEADLINE_MS);
	log = tc_log_text(s);
	cr_expect_eq(code, 1, "exit %d:\n%s", code, log);
	cr_expect(strstr(log, "cannot start: HANDOFF_GUARD_INTERVAL=soon: ") !=
	    NULL, "%s", log);
	free(log);
}
