/*
 * test_hostile.c: what another local user, or a crowd of clients, must not
 * be able to do to a supervisor and its operator:
 *
 *	- reach the notify socket (flood it, or forge a worker's STATUS=),
 *	- pose as the supervisor to root's `handoff status/reload/stop`,
 *	- lock the operator out with idle control connections;
 *
 * and two supervisors started at once on one control socket, of which
 * exactly one must run, reachable.
 *
 * Another user is a child of the test that drops to OTHER_UID, so most
 * tests need root (CI runs as root). Every test runs the real `handoff
 * run` with a private directory, waits on log lines and exits (never on
 * a fixed time), and stops every process it started.
 */
#include "autoconf.h"

#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <json.h>
#include <linux/capability.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define OTHER_UID	12345	/* a local user with nothing to do with handoff */

/*
 * Write s's config: program app is the test server with ARGS (2 workers
 * on web, no ready_timeout to speak of), log_level debug, then MORE
 * (more sections).
 */
static void
hx_write_config(struct sup *s, const char *args, const char *more)
{
	char *keys = tc_printf("ready_timeout = 5m\n%s", more);

	tc_write_config_full(s, "log_level = debug\n", "", args, keys);
	free(keys);
}

/* A supervisor (not started) in a directory others may pass, not list. */
static struct sup *
hx_new(void)
{
	struct sup *s = tc_new("", "");

	cr_assert_eq(chmod(s->dir, 0711), 0);
	hx_write_config(s, "", "");
	return s;
}

/* Kill every process a supervisor tagged tag started, and wait till gone. */
static void
hx_kill_tagged(const char *tag)
{
	pid_t left[MAX_PIDS];
	struct pollfd pfd;
	int i, n;

	n = support_tagged_pids(tag, left, MAX_PIDS);
	for (i = 0; i < n && i < MAX_PIDS; i++) {
		pfd.fd = (int)syscall(SYS_pidfd_open, left[i], 0);
		kill(left[i], SIGKILL);
		if (pfd.fd == -1)
			continue;
		pfd.events = POLLIN;
		poll(&pfd, 1, DEADLINE_MS);
		close(pfd.fd);
	}
}

/* A line of a report ("NAME=value"), malloc'd; NULL if absent. */
static char *
hx_report_line(const char *report, const char *name)
{
	const char *at = report;
	size_t len = strlen(name);

	while (at != NULL && *at != '\0') {
		if (strncmp(at, name, len) == 0)
			return strndup(at + len, strcspn(at + len, "\n"));
		at = strchr(at, '\n');
		if (at != NULL)
			at++;
	}
	return NULL;
}

/* GET /env from the worker on port: its NOTIFY_SOCKET (malloc'd). */
static char *
hx_worker_notify_socket(int port, pid_t *pid)
{
	char *body = NULL, *value, *pidtext;
	int rc;

	rc = support_http_get(port, "/env", &body);
	cr_assert_eq(rc, SUPPORT_HTTP_OK, "GET /env on port %d: %s", port,
	    support_http_name(rc));
	value = hx_report_line(body, "NOTIFY_SOCKET=");
	cr_assert_not_null(value, "no NOTIFY_SOCKET in:\n%s", body);
	if (pid != NULL) {
		pidtext = hx_report_line(body, "pid=");
		cr_assert_not_null(pidtext);
		*pid = (pid_t)atoi(pidtext);
		free(pidtext);
	}
	free(body);
	return value;
}

/* ---- another local user, in a child of the test ----------------------- */

/* A child running as OTHER_UID; it reports on a pipe, stops when told. */
struct other {
	pid_t	 pid;
	int	 report;	/* read end of what it reports */
	int	 stop;		/* write end: closing it tells it to stop */
};

/* What the child does: arg, the report fd, the fd that says "stop". */
typedef void (*other_fn)(void *arg, int report, int stop);

/*
 * Fork a child that becomes OTHER_UID (keeping CAP_DAC_OVERRIDE, which
 * lets it past file modes, if dac) and runs fn. Setup (setpgid into
 * join_pgid, when not 0) happens as root, before the uid changes.
 */
static void
hx_other_start(struct other *o, other_fn fn, void *arg, bool dac,
    pid_t join_pgid)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2];
	int rep[2], stp[2];

	cr_assert_eq(pipe2(rep, O_CLOEXEC), 0);
	cr_assert_eq(pipe2(stp, O_CLOEXEC), 0);
	o->pid = fork();
	cr_assert_neq(o->pid, -1);
	if (o->pid == 0) {
		close(rep[0]);
		close(stp[1]);
		if ((join_pgid != 0 && setpgid(0, join_pgid) == -1) ||
		    setgroups(0, NULL) == -1 ||
		    prctl(PR_SET_KEEPCAPS, dac ? 1 : 0) == -1 ||
		    setgid(OTHER_UID) == -1 || setuid(OTHER_UID) == -1) {
			dprintf(rep[1], "setup failed: %s\n", strerror(errno));
			_exit(1);
		}
		memset(data, 0, sizeof(data));
		data[0].effective = data[0].permitted = 1u << CAP_DAC_OVERRIDE;
		if (dac && syscall(SYS_capset, &hdr, data) == -1) {
			dprintf(rep[1], "capset failed: %s\n", strerror(errno));
			_exit(1);
		}
		fn(arg, rep[1], stp[0]);
		_exit(0);
	}
	close(rep[1]);
	close(stp[0]);
	o->report = rep[0];
	o->stop = stp[1];
}

/* Read one line of the child's report into buf (without the newline). */
static void
hx_other_line(struct other *o, char *buf, size_t len)
{
	size_t off = 0;
	char c;

	while (off + 1 < len && read(o->report, &c, 1) == 1 && c != '\n')
		buf[off++] = c;
	buf[off] = '\0';
}

/* Tell the child to stop; the rest of its report, once it exited 0. */
static char *
hx_other_finish(struct other *o)
{
	char *buf = calloc(1, 4096);
	size_t off = 0;
	ssize_t n;
	int status;

	cr_assert_not_null(buf);
	close(o->stop);
	while (off + 1 < 4096 &&
	    (n = read(o->report, buf + off, 4096 - 1 - off)) > 0)
		off += (size_t)n;
	close(o->report);
	cr_assert_eq(waitpid(o->pid, &status, 0), o->pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "the uid %d child failed: %s", OTHER_UID, buf);
	return buf;
}

/* Whether the stop fd says stop (the parent closed its end). */
static bool
hx_told_to_stop(int stop)
{
	struct pollfd pfd = { .fd = stop, .events = POLLIN };

	return poll(&pfd, 1, 0) != 0;
}

/* A sockaddr_un for a NOTIFY_SOCKET value: a path or an '@' name. */
static socklen_t
hx_notify_addr(const char *name, struct sockaddr_un *sun)
{
	size_t len = strlen(name);

	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path, name, len);
	if (name[0] == '@')
		sun->sun_path[0] = '\0';
	else
		len++;
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
}

/* What a notify sender sends to, and what. */
struct sender {
	const char	*paths[2];
	const char	*text;
	bool		 flood;		/* until told to stop, else once each */
};

/* Child: send text to each path (as fast as it can, if flood); report. */
static void
hx_send_notify(void *arg, int report, int stop)
{
	struct sender *s = arg;
	struct sockaddr_un sun;
	long sent[2] = { 0, 0 }, tries = 0;
	int fd, err[2] = { 0, 0 }, i;
	socklen_t len;

	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	do {
		for (i = 0; i < 2 && s->paths[i] != NULL; i++) {
			len = hx_notify_addr(s->paths[i], &sun);
			if (sendto(fd, s->text, strlen(s->text), MSG_NOSIGNAL,
			    (struct sockaddr *)&sun, len) == -1)
				err[i] = errno;
			else
				sent[i]++;
		}
	} while (s->flood && (++tries % 256 != 0 || !hx_told_to_stop(stop)));
	for (i = 0; i < 2 && s->paths[i] != NULL; i++)
		dprintf(report, "%s: sent %ld, last error: %s\n", s->paths[i],
		    sent[i], err[i] ? strerror(err[i]) : "none");
	close(fd);
}

/* ---- the notify socket: only the supervisor's and workers' uids ------- */

/*
 * A supervisor with two programs: app as root on web, nob as nobody on a
 * listener of its own (port in *port2).
 */
static struct sup *
hx_new_two_users(int *port2)
{
	struct sup *s;
	char *more, *server;

	if (getpwnam("nobody") == NULL)
		cr_skip_test("no user nobody here");
	s = hx_new();
	*port2 = support_free_port();
	/* nobody runs its own copy: the checkout may be closed to others. */
	server = support_copy_executable(support_env("HANDOFF_TESTSERVER"),
	    s->dir);
	more = tc_printf(
	    "\n[listener web2]\n"
	    "listen = 127.0.0.1:%d\n"
	    "\n[program nob]\n"
	    "command = %s\n"
	    "listeners = web2\n"
	    "user = nobody\n",
	    *port2, server);
	hx_write_config(s, "", more);
	free(more);
	free(server);
	return s;
}

/* The report must say that path got nothing: sends refused, EACCES. */
static void
hx_expect_unreachable(const char *report, const char *path)
{
	char *want = tc_printf("%s: sent 0, last error: Permission denied\n",
	    path);

	cr_expect(strstr(report, want) != NULL, "%s", report);
	free(want);
}

Test(hostile, notify_socket_out_of_other_users_reach, .fini = tc_fini)
{
	struct sender flood = { .text = "READY=1", .flood = true };
	char *root_path, *nob_path, *report, *want;
	struct run_result res;
	struct other o;
	struct sup *s;
	int port2;

	if (geteuid() != 0)
		cr_skip_test("acting as another user needs root");
	s = hx_new_two_users(&port2);
	tc_start(s);
	root_path = hx_worker_notify_socket(s->port, NULL);
	nob_path = hx_worker_notify_socket(port2, NULL);
	/* A file beside the control socket, which clients such as Ruby's can use. */
	want = tc_printf("%s.notify/", s->sock);
	cr_expect(strncmp(root_path, want, strlen(want)) == 0,
	    "NOTIFY_SOCKET of app is %s", root_path);
	cr_expect(strncmp(nob_path, want, strlen(want)) == 0,
	    "NOTIFY_SOCKET of nob is %s", nob_path);
	free(want);

	/* Another user floods both during a reload: it cannot send at all. */
	flood.paths[0] = root_path;
	flood.paths[1] = nob_path;
	hx_other_start(&o, hx_send_notify, &flood, false, 0);
	cr_expect_eq(support_handoff_cmd(&res, "reload", "-c", s->config, NULL),
	    0, "the reload failed under the flood: %s%s", res.out, res.err);
	support_result_free(&res);
	report = hx_other_finish(&o);
	hx_expect_unreachable(report, root_path);
	hx_expect_unreachable(report, nob_path);
	free(report);

	/* The workers, root's and nobody's, still tell when they are ready. */
	tc_expect_log(s, "app gen 2: ready 2/2", 1);
	tc_expect_log(s, "nob gen 2: ready 1/1", 1);
	free(root_path);
	free(nob_path);
	tc_stop(s);
	/* Nothing is left beside the control socket. */
	want = tc_printf("%s.notify", s->sock);
	cr_expect_eq(access(want, F_OK), -1, "%s is still there", want);
	free(want);
}

Test(hostile, notify_ignores_other_users_past_the_directory, .fini = tc_fini)
{
	struct sender forge = { .text = "STATUS=forged by another user" };
	struct sup *s = hx_new();
	struct run_result res;
	char *path, *report, *needle;
	struct other o;
	pid_t worker;

	if (geteuid() != 0)
		cr_skip_test("acting as another user needs root");
	tc_start(s);
	path = hx_worker_notify_socket(s->port, &worker);
	/*
	 * A process of another user, in the worker's process group (where a
	 * worker's helpers speak for it), with CAP_DAC_OVERRIDE to get past
	 * the directories: its message arrives, and counts for nothing.
	 */
	forge.paths[0] = path;
	hx_other_start(&o, hx_send_notify, &forge, true, worker);
	report = hx_other_finish(&o);
	needle = tc_printf("%s: sent 1, last error: none", path);
	cr_assert(strstr(report, needle) != NULL, "%s", report);
	free(needle);
	free(report);
	needle = tc_printf("ignored: uid %d runs no worker", OTHER_UID);
	tc_expect_log(s, needle, 1);
	free(needle);
	cr_assert_eq(support_handoff_cmd(&res, "status", "-c", s->config, NULL),
	    0, "%s", res.err);
	cr_expect(strstr(res.out, "forged") == NULL, "%s", res.out);
	support_result_free(&res);
	free(path);
	tc_stop(s);
}

/* ---- the CLI believes only root's or its own user's supervisor ------- */

/* A fake supervisor: bind path (or use fd), answer "ok" to anything. */
struct impostor {
	const char	*path;
	int		 fd;		/* -1: bind a new socket at path */
};

/* Child: serve as an impostor until told to stop. */
static void
hx_impostor(void *arg, int report, int stop)
{
	static const char answer[] = "data supervisor impostor pid 1, up 1d, "
	    "running\nprogress impostor gen 9 took over\nok done in 1ms\n";
	struct impostor *im = arg;
	struct sockaddr_un sun;
	struct pollfd pfd[2];
	char request[512];
	int fd = im->fd, c;

	if (fd == -1) {
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		memset(&sun, 0, sizeof(sun));
		sun.sun_family = AF_UNIX;
		snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", im->path);
		if (fd == -1 ||
		    bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
			dprintf(report, "bind %s: %s\n", im->path, strerror(errno));
			_exit(1);
		}
	}
	if (listen(fd, 16) == -1) {
		dprintf(report, "listen: %s\n", strerror(errno));
		_exit(1);
	}
	dprintf(report, "listening\n");
	pfd[0].fd = fd;
	pfd[0].events = POLLIN;
	pfd[1].fd = stop;
	pfd[1].events = POLLIN;
	while (poll(pfd, 2, -1) > 0 && pfd[1].revents == 0) {
		if ((c = accept4(fd, NULL, NULL, SOCK_CLOEXEC)) == -1)
			continue;
		(void)!read(c, request, sizeof(request));
		(void)!send(c, answer, sizeof(answer) - 1, MSG_NOSIGNAL);
		close(c);
	}
	close(fd);
}

/* Start an impostor as another user; wait until it listens. */
static void
hx_impostor_start(struct other *o, struct impostor *im)
{
	char line[256];

	hx_other_start(o, hx_impostor, im, false, 0);
	hx_other_line(o, line, sizeof(line));
	cr_assert_str_eq(line, "listening");
}

/* Each of status, reload and stop must refuse the impostor, naming it. */
static void
hx_expect_cli_refuses(struct sup *s, const char *why)
{
	static const char *const cmds[] = { "status", "reload", "stop" };
	struct run_result res;
	size_t i;

	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		cr_expect_eq(support_handoff_cmd(&res, cmds[i], "-c", s->config,
		    NULL), 1, "handoff %s believed the impostor (exit %d): %s%s",
		    cmds[i], res.exit_code, res.out, res.err);
		cr_expect(strstr(res.err, s->sock) != NULL &&
		    strstr(res.err, why) != NULL, "handoff %s: no \"%s\" about "
		    "%s in: %s", cmds[i], why, s->sock, res.err);
		cr_expect(strstr(res.out, "impostor") == NULL,
		    "handoff %s printed the impostor's answer: %s", cmds[i],
		    res.out);
		support_result_free(&res);
	}
}

Test(hostile, cli_refuses_a_socket_another_user_made, .fini = tc_fini)
{
	struct impostor im = { NULL, -1 };
	struct sup *s = hx_new();
	char *shared, *text, *why;
	struct other o;
	int code;

	if (geteuid() != 0)
		cr_skip_test("acting as another user needs root");
	/* A directory anyone may write, like /tmp, where the config points. */
	shared = tc_printf("%s/shared", s->dir);
	cr_assert_eq(mkdir(shared, 0700), 0);
	cr_assert_eq(chmod(shared, 01777), 0);
	free(s->sock);
	s->sock = tc_printf("%s/ctl.sock", shared);
	hx_write_config(s, "", "");

	/* Another user got there first and answers as if it were handoff. */
	im.path = s->sock;
	hx_impostor_start(&o, &im);
	why = tc_printf("belongs to uid %d", OTHER_UID);
	hx_expect_cli_refuses(s, why);
	free(why);

	/* The supervisor will not run where anyone could take its name. */
	cr_assert_eq(support_handoff_start(&s->hp, s->config, s->log), 0);
	code = tc_wait_exit(s, DEADLINE_MS);
	text = tc_log_text(s);
	cr_expect_eq(code, 1, "exit %d:\n%s", code, text);
	cr_expect(strstr(text, "writable by others") != NULL, "%s", text);
	free(text);
	free(hx_other_finish(&o));
	free(shared);
}

Test(hostile, cli_checks_who_serves_the_socket, .fini = tc_fini)
{
	struct impostor im = { NULL, -1 };
	struct sup *s = hx_new();
	struct sockaddr_un sun;
	struct other o;
	char *why;

	if (geteuid() != 0)
		cr_skip_test("acting as another user needs root");
	/*
	 * The socket file is root's, in root's directory, but the process
	 * that listens on it is another user's: SO_PEERCRED tells.
	 */
	im.fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_neq(im.fd, -1);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", s->sock);
	cr_assert_eq(bind(im.fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	hx_impostor_start(&o, &im);
	close(im.fd);
	why = tc_printf("is served by pid %d of uid %d", (int)o.pid, OTHER_UID);
	hx_expect_cli_refuses(s, why);
	free(why);
	free(hx_other_finish(&o));
}

/* ---- idle control clients never lock the operator out ---------------- */

/* n clients that send half a request and then nothing: fds, malloc'd. */
static int *
hx_idle_crowd(struct sup *s, int n)
{
	int *crowd = calloc((size_t)n, sizeof(*crowd)), i;

	cr_assert_not_null(crowd);
	for (i = 0; i < n; i++) {
		crowd[i] = tc_connect_unix(s->sock);
		cr_assert_neq(crowd[i], -1, "client %d: connect: %s", i,
		    strerror(errno));
		cr_assert_eq(tc_send_all(crowd[i], "HANDOFF/1 sta", 13), 0);
	}
	return crowd;
}

/* Close n clients' fds and free the array. */
static void
hx_close_crowd(int *crowd, int n)
{
	int i;

	for (i = 0; i < n; i++)
		close(crowd[i]);
	free(crowd);
}

/* status and reload both work; the reload's new generation serves. */
static void
hx_expect_operator_served(struct sup *s)
{
	struct run_result res;

	cr_expect_eq(support_handoff_cmd(&res, "status", "-c", s->config, NULL),
	    0, "status: %s", res.err);
	cr_expect(strstr(res.out, "supervisor ctltest") != NULL, "%s", res.out);
	support_result_free(&res);
	cr_expect_eq(support_handoff_cmd(&res, "reload", "-c", s->config, NULL),
	    0, "reload: %s%s", res.out, res.err);
	cr_expect(strstr(res.out, "done in") != NULL, "%s", res.out);
	support_result_free(&res);
}

#define NCROWD	1000	/* as many clients as the supervisor serves at once */

Test(hostile, idle_clients_do_not_lock_out_the_operator, .fini = tc_fini)
{
	struct sup *s = hx_new();
	struct rlimit rl;
	char *answer;
	bool closed;
	int *crowd;

	/* The crowd, and the supervisor (which inherits the limit), need fds. */
	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < NCROWD + 200)
		cr_skip_test("RLIMIT_NOFILE hard limit %llu is too low",
		    (unsigned long long)rl.rlim_max);
	rl.rlim_cur = rl.rlim_max;
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	tc_start(s);
	crowd = hx_idle_crowd(s, NCROWD);
	hx_expect_operator_served(s);
	/* The oldest idle client made room, and was told why. */
	answer = tc_read_all(crowd[0], DEADLINE_MS, &closed);
	cr_expect(closed);
	cr_expect_str_eq(answer, "error 1 closed to make room for another "
	    "client: this one sent no request\n");
	free(answer);
	hx_close_crowd(crowd, NCROWD);
	tc_stop(s);
}

/*
 * Make HANDOFF_BIN a shell that runs the line before and then execs
 * handoff (same pid, same arguments), written in dir. Returns the real
 * HANDOFF_BIN, for hx_unwrap_bin.
 */
static char *
hx_wrap_bin(const char *dir, const char *before)
{
	char *real = strdup(support_env("HANDOFF_BIN")), *text, *wrapper;

	cr_assert_not_null(real);
	text = tc_printf("#!/bin/sh\n%s\nexec '%s' \"$@\"\n", before, real);
	wrapper = support_write_file(dir, "handoff-wrapper", text);
	cr_assert_eq(chmod(wrapper, 0755), 0);
	cr_assert_eq(setenv("HANDOFF_BIN", wrapper, 1), 0);
	free(text);
	free(wrapper);
	return real;
}

/* HANDOFF_BIN is the real one again; frees real. */
static void
hx_unwrap_bin(char *real)
{
	cr_assert_eq(setenv("HANDOFF_BIN", real, 1), 0);
	free(real);
}

/*
 * Start the supervisor under `ulimit -n NOFILE` (soft and hard limit): it
 * serves NOFILE / 4 control clients at once.
 */
static void
hx_start_with_fds(struct sup *s, int nofile)
{
	char *line = tc_printf("ulimit -n %d || exit 126", nofile);
	char *real = hx_wrap_bin(s->dir, line);

	tc_start(s);
	hx_unwrap_bin(real);
	free(line);
}

/* Start the supervisor under `ulimit -n 64`: 16 control clients at once. */
static void
hx_start_with_64_fds(struct sup *s)
{
	hx_start_with_fds(s, 64);
}

Test(hostile, idle_clients_under_a_small_fd_limit, .fini = tc_fini)
{
	struct sup *s = hx_new();
	int *crowd;

	hx_start_with_64_fds(s);
	crowd = hx_idle_crowd(s, 20);
	hx_expect_operator_served(s);
	hx_expect_operator_served(s);
	hx_close_crowd(crowd, 20);
	tc_stop(s);
}

#define NBUSY	16	/* every slot under a limit of 64 fds */

Test(hostile, busy_clients_keep_their_slots, .fini = tc_fini)
{
	static const char req[] = "HANDOFF/1 reload\n";
	struct sup *s = hx_new();
	struct run_result res;
	int busy[NBUSY], i;
	char *answer;
	bool closed;

	hx_start_with_64_fds(s);
	/* A reload that never ends, and 16 clients following it. */
	hx_write_config(s, "--never-ready", "");
	for (i = 0; i < NBUSY; i++) {
		busy[i] = tc_connect_unix(s->sock);
		cr_assert_neq(busy[i], -1, "connect: %s", strerror(errno));
		cr_assert_eq(tc_send_all(busy[i], req, sizeof(req) - 1), 0);
		tc_expect_log(s, "asks: reload", i + 1);
	}
	/* They asked for something: none is closed for a newcomer. */
	cr_expect_eq(support_handoff_cmd(&res, "status", "-c", s->config, NULL),
	    1);
	cr_expect(strstr(res.err, "too many control clients") != NULL, "%s",
	    res.err);
	support_result_free(&res);
	/* Each hears how its reload ended when the supervisor stops. */
	tc_stop(s);
	for (i = 0; i < NBUSY; i++) {
		answer = tc_read_all(busy[i], DEADLINE_MS, &closed);
		cr_expect(closed && strstr(answer, "error 1 ") != NULL,
		    "client %d: %s", i, answer);
		free(answer);
		close(busy[i]);
	}
}

/* ---- idle control clients never take the fds a reload needs ---------- */

/*
 * Program app's 2 workers, and a program bulk of n more (sleep, each an
 * output pipe of the supervisor's like app's).
 */
static void
hx_write_bulk_config(struct sup *s, int n)
{
	char *more = tc_printf("\n[program bulk]\ncommand = /bin/sleep 3600\n"
	    "workers = %d\nready = delay:1ms\n", n);

	hx_write_config(s, "", more);
	free(more);
}

#define ROOM_FDS	144	/* the supervisor's fd limit: beside its own
				   (some 40, 16 of them notify lanes), 32
				   clients */
#define ROOM_CROWD	32
#define ROOM_BULK	35	/* 37 workers: with 32 clients, not room for
				   37 more */

/*
 * Under a fd limit with room for a reload's workers only without the
 * idle clients: the reload closes idle clients, oldest first, as many as
 * it needs, tells them why, and its workers start.
 */
Test(hostile, idle_clients_make_room_for_a_reloads_workers, .fini = tc_fini)
{
	static const char told[] = "error 1 closed to make room for workers: "
	    "this one sent no request\n";
	struct sup *s = hx_new();
	struct run_result res;
	char *answer;
	bool closed;
	int *crowd;

	hx_write_bulk_config(s, ROOM_BULK);
	hx_start_with_fds(s, ROOM_FDS);
	crowd = hx_idle_crowd(s, ROOM_CROWD);
	cr_expect_eq(support_handoff_cmd(&res, "reload", "-c", s->config, NULL),
	    0, "reload: %s%s", res.out, res.err);
	cr_expect(strstr(res.out, "done in") != NULL, "%s", res.out);
	support_result_free(&res);
	tc_expect_log(s, "idle control clients: the 37 workers to start need "
	    "the fds", 1);
	cr_expect_eq(tc_log_count(s, "could not start"), 0);
	/* crowd[0] made room for the reload's client; the next, for workers. */
	answer = tc_read_all(crowd[1], DEADLINE_MS, &closed);
	cr_expect(closed);
	cr_expect_str_eq(answer, told);
	free(answer);
	hx_close_crowd(crowd, ROOM_CROWD);
	tc_stop(s);
}

#define SHORT_BULK	60	/* 62 workers: 2 x 62 fds and more, of 144 */
#define SHORT_CROWD	2

/*
 * Under a fd limit too low for a reload's workers beside the running
 * ones, whatever idle clients are closed: the reload is refused before
 * any worker starts, naming the limit; nothing running changes, and no
 * idle client is closed for nothing.
 */
Test(hostile, a_reload_short_of_fds_is_refused_up_front, .fini = tc_fini)
{
	struct sup *s = hx_new();
	struct run_result res;
	char buf[8];
	int *crowd, i;

	hx_write_bulk_config(s, SHORT_BULK);
	hx_start_with_fds(s, ROOM_FDS);
	crowd = hx_idle_crowd(s, SHORT_CROWD);
	cr_expect_eq(support_handoff_cmd(&res, "reload", "-c", s->config, NULL),
	    1, "reload: %s%s", res.out, res.err);
	cr_expect(strstr(res.err, "the fd limit is too low: starting 62 "
	    "workers needs about ") != NULL, "%s", res.err);
	cr_expect(strstr(res.err, "the limit is 144 with ") != NULL, "%s",
	    res.err);
	support_result_free(&res);
	cr_expect_eq(tc_log_count(s, "gen 2: starting"), 0);
	cr_expect_eq(tc_log_count(s, "could not start"), 0);
	cr_expect_eq(support_handoff_cmd(&res, "status", "-c", s->config, NULL),
	    0, "status: %s", res.err);
	cr_expect(strstr(res.out, "the fd limit is too low") != NULL, "%s",
	    res.out);
	support_result_free(&res);
	for (i = 0; i < SHORT_CROWD; i++)
		cr_expect(recv(crowd[i], buf, sizeof(buf), MSG_DONTWAIT) == -1 &&
		    errno == EAGAIN, "idle client %d was closed", i);
	hx_close_crowd(crowd, SHORT_CROWD);
	tc_stop(s);
}

/* ---- two supervisors started at once on one config ------------------- */

#define NROUNDS	50

/* Wait until one of two supervisors exits; which one (0 or 1), or -1. */
static int
hx_first_exit(struct handoff_proc *two)
{
	long long deadline = support_now_ms() + DEADLINE_MS;
	struct pollfd pfd[2];
	int i;

	while (support_now_ms() < deadline) {
		for (i = 0; i < 2; i++)
			if (support_handoff_wait_exit(&two[i], 0) != -1)
				return i;
		for (i = 0; i < 2; i++) {
			pfd[i].fd = two[i].pidfd;
			pfd[i].events = POLLIN;
		}
		poll(pfd, 2, tc_left(deadline));
	}
	return -1;
}

/*
 * Start two supervisors on s's config at the same instant: both stop
 * before exec, and go on together.
 */
static void
hx_start_two(struct sup *s, struct handoff_proc *two, char **logs)
{
	char *real = hx_wrap_bin(s->dir, "kill -STOP $$");
	int i, status;

	for (i = 0; i < 2; i++)
		cr_assert_eq(support_handoff_start(&two[i], s->config, logs[i]),
		    0);
	hx_unwrap_bin(real);
	for (i = 0; i < 2; i++)
		cr_assert(waitpid(two[i].pid, &status, WUNTRACED) == two[i].pid &&
		    WIFSTOPPED(status));
	for (i = 0; i < 2; i++)
		kill(two[i].pid, SIGCONT);
}

/* One round: both start, exactly one runs and answers; it then stops. */
static void
hx_race_round(struct sup *s, int round)
{
	struct handoff_proc two[2];
	struct run_result res;
	char *logs[2], *text, *needle, *lock;
	json_object *root;
	int loser, winner, i;

	for (i = 0; i < 2; i++)
		logs[i] = tc_printf("%s/race-%d-%c.log", s->dir, round, 'a' + i);
	hx_start_two(s, two, logs);
	loser = hx_first_exit(two);
	cr_assert_neq(loser, -1, "round %d: neither supervisor exited", round);
	winner = 1 - loser;
	text = support_read_file(logs[loser]);
	cr_expect_eq(two[loser].exit_code, 1, "round %d: exit %d:\n%s", round,
	    two[loser].exit_code, text);
	lock = tc_printf("%s.lock", s->sock);
	needle = tc_printf("another supervisor is running there (pid %d holds "
	    "%s)", (int)two[winner].pid, lock);
	cr_expect(text != NULL && strstr(text, needle) != NULL,
	    "round %d: no \"%s\" in:\n%s", round, needle, text);
	free(needle);
	free(text);

	cr_assert_eq(support_handoff_wait_log(&two[winner], "started: ", 1), 0,
	    "round %d: the other supervisor did not start", round);
	cr_expect_eq(support_handoff_cmd(&res, "status", "--json", "-c",
	    s->config, NULL), 0, "round %d: status: %s", round, res.err);
	root = json_tokener_parse(res.out);
	cr_expect_eq(tc_json_int(tc_json_at(root, "supervisor", "pid", NULL)),
	    two[winner].pid, "round %d: status is not the running "
	    "supervisor's (pid %d): %s", round, (int)two[winner].pid, res.out);
	json_object_put(root);
	support_result_free(&res);
	cr_expect_eq(support_handoff_stop(&two[winner], SIGTERM), 0);
	cr_expect_eq(access(s->sock, F_OK), -1, "round %d: %s is left", round,
	    s->sock);
	cr_expect_eq(access(lock, F_OK), -1, "round %d: %s is left", round,
	    lock);
	free(lock);
	for (i = 0; i < 2; i++) {
		hx_kill_tagged(two[i].tag);
		support_handoff_free(&two[i]);
		unlink(logs[i]);
		free(logs[i]);
	}
}

Test(hostile, two_supervisors_at_once_leave_one_with_its_socket,
    .fini = tc_fini)
{
	struct sup *s = hx_new();
	char *text, *path;
	int round;

	/* Workers that start and stop at once: the race is the supervisors'. */
	text = tc_printf("[supervisor]\ncontrol = %s\n\n[listener web]\n"
	    "listen = 127.0.0.1:%d\n\n[program app]\ncommand = /bin/sleep 3600\n"
	    "listeners = web\nready = delay:1ms\n", s->sock, s->port);
	path = support_write_file(s->dir, "handoff.ini", text);
	free(path);
	free(text);
	for (round = 0; round < NROUNDS; round++)
		hx_race_round(s, round);
}

Test(hostile, a_killed_supervisor_leaves_nothing_in_the_way, .fini = tc_fini)
{
	struct sup *s = hx_new();
	struct run_result res;
	char *before, *after;

	tc_start(s);
	before = hx_worker_notify_socket(s->port, NULL);
	/* Killed: its socket, lock file and notify directory stay behind. */
	support_handoff_stop(&s->hp, SIGKILL);
	hx_kill_tagged(s->hp.tag);
	cr_assert_eq(access(before, F_OK), 0);
	tc_start(s);
	cr_assert_eq(support_handoff_cmd(&res, "status", "-c", s->config, NULL),
	    0, "%s", res.err);
	support_result_free(&res);
	after = hx_worker_notify_socket(s->port, NULL);
	/* The same directory (a worker's lane is its own: 0 or 1 here). */
	*strrchr(before, '/') = '\0';
	*strrchr(after, '/') = '\0';
	cr_expect_str_eq(after, before);
	free(before);
	free(after);
	tc_stop(s);
}
