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

#include "support.h"

#define DEADLINE_MS	SUPPORT_DEADLINE_MS
#define OTHER_UID	12345	/* a local user with nothing to do with handoff */
#define MAX_PIDS	64

/* The test's supervisor and its private directory. */
struct hx {
	char	*dir;		/* mode 0711: workers running as nobody pass */
	char	*config;	/* dir/handoff.ini */
	char	*sock;		/* the control socket the config names */
	char	*log;		/* dir/handoff.log */
	int	 port;		/* listener web, program app (root) */
	int	 port2;		/* listener web2, program nob (user nobody) */
	struct handoff_proc hp;
};

static struct hx hx;

/*
 * Write the config: control socket at control, program app (COMMAND, or
 * the test server with ARGS; 2 workers on web) and the extra text MORE
 * (more keys of app, then more sections).
 */
static void
hx_write_config_full(const char *control, const char *command,
    const char *args, const char *more)
{
	char *text, *path;

	text = support_printf(
	    "[supervisor]\n"
	    "name = hostile\n"
	    "control = %s\n"
	    "pidfile = %s/handoff.pid\n"
	    "log_level = debug\n"
	    "\n"
	    "[listener web]\n"
	    "listen = 127.0.0.1:%d\n"
	    "\n"
	    "[program app]\n"
	    "command = %s%s%s\n"
	    "listeners = web\n"
	    "workers = 2\n"
	    "ready_timeout = 5m\n"
	    "%s",
	    control, hx.dir, hx.port, command != NULL ? command :
	    support_env("HANDOFF_TESTSERVER"), *args ? " " : "", args, more);
	path = support_write_file(hx.dir, "handoff.ini", text);
	free(path);
	free(text);
}

/* Write the config with the test server (see hx_write_config_full). */
static void
hx_write_config(const char *control, const char *args, const char *more)
{
	hx_write_config_full(control, NULL, args, more);
}

/* Before each test: a private directory others may pass but not list. */
static void
hx_init(void)
{
	memset(&hx, 0, sizeof(hx));
	hx.dir = support_tmpdir();
	cr_assert_eq(chmod(hx.dir, 0711), 0);
	hx.config = support_printf("%s/handoff.ini", hx.dir);
	hx.sock = support_printf("%s/ctl.sock", hx.dir);
	hx.log = support_printf("%s/handoff.log", hx.dir);
	hx.port = support_free_port();
	hx.port2 = support_free_port();
	hx.hp.pid = -1;
	hx.hp.pidfd = -1;
	hx.hp.exit_code = -1;
	hx_write_config(hx.sock, "", "");
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

/* After each test: stop what still runs, remove the directory. */
static void
hx_fini(void)
{
	if (hx.hp.pid > 0 && hx.hp.exit_code == -1)
		support_handoff_stop(&hx.hp, SIGTERM);
	if (hx.hp.tag != NULL)
		hx_kill_tagged(hx.hp.tag);
	support_handoff_free(&hx.hp);
	support_rmtree(hx.dir);
	free(hx.dir);
	free(hx.config);
	free(hx.sock);
	free(hx.log);
}

/* The supervisor's log so far. */
static char *
hx_log_text(const char *path)
{
	char *text = support_read_file(path);

	return text != NULL ? text : strdup("");
}

/* Wait for count log lines with needle; fail with the log if they never come. */
static void
hx_expect_log(struct handoff_proc *hp, const char *needle, int count)
{
	char *text;

	if (support_handoff_wait_log(hp, needle, count) == 0)
		return;
	text = hx_log_text(hp->log_path);
	cr_assert_fail("the log never had %d line(s) with \"%s\":\n%s", count,
	    needle, text);
}

/* How many "started: " lines the log has: one per supervisor started. */
static int
hx_started(void)
{
	char *text = hx_log_text(hx.log);
	int n = support_count_lines(text, "started: ");

	free(text);
	return n;
}

/* Start `handoff run -c CONFIG` and wait until its programs started. */
static void
hx_start(void)
{
	int started = hx_started();

	support_handoff_free(&hx.hp);
	cr_assert_eq(support_handoff_start(&hx.hp, hx.config, hx.log), 0);
	hx_expect_log(&hx.hp, "started: ", started + 1);
}

/* Stop the supervisor with SIGTERM: it must exit 0. */
static void
hx_stop(void)
{
	cr_expect_eq(support_handoff_stop(&hx.hp, SIGTERM), 0,
	    "the supervisor did not stop cleanly");
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

/* The config of the notify tests: app as root, nob as nobody. */
static void
hx_two_users_config(void)
{
	char *more;

	if (getpwnam("nobody") == NULL)
		cr_skip_test("no user nobody here");
	more = support_printf(
	    "\n[listener web2]\n"
	    "listen = 127.0.0.1:%d\n"
	    "\n[program nob]\n"
	    "command = %s\n"
	    "listeners = web2\n"
	    "user = nobody\n",
	    hx.port2, support_env("HANDOFF_TESTSERVER"));
	hx_write_config(hx.sock, "", more);
	free(more);
}

Test(hostile, notify_socket_out_of_other_users_reach, .init = hx_init,
    .fini = hx_fini)
{
	struct sender flood = { .text = "READY=1", .flood = true };
	char *root_path, *nob_path, *report, *want;
	struct run_result res;
	struct other o;

	if (geteuid() != 0)
		cr_skip_test("acting as another user needs root");
	hx_two_users_config();
	hx_start();
	root_path = hx_worker_notify_socket(hx.port, NULL);
	nob_path = hx_worker_notify_socket(hx.port2, NULL);
	/* A file beside the control socket, which clients such as Ruby's can use. */
	want = support_printf("%s.notify/", hx.sock);
	cr_expect(strncmp(root_path, want, strlen(want)) == 0,
	    "NOTIFY_SOCKET of app is %s", root_path);
	cr_expect(strncmp(nob_path, want, strlen(want)) == 0,
	    "NOTIFY_SOCKET of nob is %s", nob_path);
	free(want);

	/* Another user floods both during a reload: it cannot send at all. */
	flood.paths[0] = root_path;
	flood.paths[1] = nob_path;
	hx_other_start(&o, hx_send_notify, &flood, false, 0);
	cr_expect_eq(support_handoff_cmd(&res, "reload", "-c", hx.config, NULL),
	    0, "the reload failed under the flood: %s%s", res.out, res.err);
	support_result_free(&res);
	report = hx_other_finish(&o);
	want = support_printf("%s: sent 0, last error: Permission denied\n",
	    root_path);
	cr_expect(strstr(report, want) != NULL, "%s", report);
	free(want);
	want = support_printf("%s: sent 0, last error: Permission denied\n", nob_path);
	cr_expect(strstr(report, want) != NULL, "%s", report);
	free(want);
	free(report);

	/* The workers, root's and nobody's, still tell when they are ready. */
	hx_expect_log(&hx.hp, "app gen 2: ready 2/2", 1);
	hx_expect_log(&hx.hp, "nob gen 2: ready 1/1", 1);
	free(root_path);
	free(nob_path);
	hx_stop();
	/* Nothing is left beside the control socket. */
	want = support_printf("%s.notify", hx.sock);
	cr_expect_eq(access(want, F_OK), -1, "%s is still there", want);
	free(want);
}

Test(hostile, notify_ignores_other_users_past_the_directory, .init = hx_init,
    .fini = hx_fini)
{
	struct sender forge = { .text = "STATUS=forged by another user" };
	struct run_result res;
	char *path, *report, *needle;
	struct other o;
	pid_t worker;

	if (geteuid() != 0)
		cr_skip_test("acting as another user needs root");
	hx_start();
	path = hx_worker_notify_socket(hx.port, &worker);
	/*
	 * A process of another user, in the worker's process group (where a
	 * worker's helpers speak for it), with CAP_DAC_OVERRIDE to get past
	 * the directories: its message arrives, and counts for nothing.
	 */
	forge.paths[0] = path;
	hx_other_start(&o, hx_send_notify, &forge, true, worker);
	report = hx_other_finish(&o);
	needle = support_printf("%s: sent 1, last error: none", path);
	cr_assert(strstr(report, needle) != NULL, "%s", report);
	free(needle);
	free(report);
	needle = support_printf("ignored: uid %d runs no worker", OTHER_UID);
	hx_expect_log(&hx.hp, needle, 1);
	free(needle);
	cr_assert_eq(support_handoff_cmd(&res, "status", "-c", hx.config, NULL),
	    0, "%s", res.err);
	cr_expect(strstr(res.out, "forged") == NULL, "%s", res.out);
	support_result_free(&res);
	free(path);
	hx_stop();
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
		if (fd == -1 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
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

/* Each of status, reload and stop must refuse the impostor, naming it. */
static void
hx_expect_cli_refuses(const char *path, const char *why)
{
	static const char *const cmds[] = { "status", "reload", "stop" };
	struct run_result res;
	size_t i;

	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		cr_expect_eq(support_handoff_cmd(&res, cmds[i], "-c", hx.config,
		    NULL), 1, "handoff %s believed the impostor (exit %d): %s%s",
		    cmds[i], res.exit_code, res.out, res.err);
		cr_expect(strstr(res.err, path) != NULL &&
		    strstr(res.err, why) != NULL, "handoff %s: no \"%s\" about "
		    "%s in: %s", cmds[i], why, path, res.err);
		cr_expect(strstr(res.out, "impostor") == NULL,
		    "handoff %s printed the impostor's answer: %s", cmds[i],
		    res.out);
		support_result_free(&res);
	}
}

Test(hostile, cli_refuses_a_socket_another_user_made, .init = hx_init,
    .fini = hx_fini)
{
	struct impostor im = { NULL, -1 };
	char *shared, *path, line[256], *report, *text, *why;
	struct other o;
	int code;

	if (geteuid() != 0)
		cr_skip_test("acting as another user needs root");
	/* A directory anyone may write, like /tmp, where the config points. */
	shared = support_printf("%s/shared", hx.dir);
	cr_assert_eq(mkdir(shared, 0700), 0);
	cr_assert_eq(chmod(shared, 01777), 0);
	path = support_printf("%s/ctl.sock", shared);
	hx_write_config(path, "", "");

	/* Another user got there first and answers as if it were handoff. */
	im.path = path;
	hx_other_start(&o, hx_impostor, &im, false, 0);
	hx_other_line(&o, line, sizeof(line));
	cr_assert_str_eq(line, "listening");
	why = support_printf("belongs to uid %d", OTHER_UID);
	hx_expect_cli_refuses(path, why);
	free(why);

	/* The supervisor will not run where anyone could take its name. */
	cr_assert_eq(support_handoff_start(&hx.hp, hx.config, hx.log), 0);
	code = support_handoff_wait_exit(&hx.hp, DEADLINE_MS);
	text = hx_log_text(hx.log);
	cr_expect_eq(code, 1, "exit %d:\n%s", code, text);
	cr_expect(strstr(text, "writable by others") != NULL, "%s", text);
	free(text);
	report = hx_other_finish(&o);
	free(report);
	free(path);
	free(shared);
}

Test(hostile, cli_checks_who_serves_the_socket, .init = hx_init,
    .fini = hx_fini)
{
	struct impostor im = { NULL, -1 };
	struct sockaddr_un sun;
	char line[256], *report, *why;
	struct other o;

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
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", hx.sock);
	cr_assert_eq(bind(im.fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	hx_other_start(&o, hx_impostor, &im, false, 0);
	close(im.fd);
	hx_other_line(&o, line, sizeof(line));
	cr_assert_str_eq(line, "listening");
	why = support_printf("is served by pid %d of uid %d", (int)o.pid, OTHER_UID);
	hx_expect_cli_refuses(hx.sock, why);
	free(why);
	report = hx_other_finish(&o);
	free(report);
}

/* ---- idle control clients never lock the operator out ---------------- */

/* n clients that send half a request and then nothing: fds, malloc'd. */
static int *
hx_idle_crowd(int n)
{
	int *crowd = calloc((size_t)n, sizeof(*crowd)), i;

	cr_assert_not_null(crowd);
	for (i = 0; i < n; i++) {
		crowd[i] = support_connect_unix(hx.sock);
		cr_assert_neq(crowd[i], -1, "client %d: connect: %s", i,
		    strerror(errno));
		cr_assert_eq(send(crowd[i], "HANDOFF/1 sta", 13, MSG_NOSIGNAL), 13);
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

/* What fd received until the peer closed, within the deadline. */
static char *
hx_read_answer(int fd)
{
	struct timeval tv = { DEADLINE_MS / 1000, 0 };
	char *buf = calloc(1, 4096);
	size_t off = 0;
	ssize_t n;

	cr_assert_not_null(buf);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	while (off + 1 < 4096 && (n = recv(fd, buf + off, 4096 - 1 - off, 0)) > 0)
		off += (size_t)n;
	return buf;
}

/* status and reload both work; the reload's new generation serves. */
static void
hx_expect_operator_served(void)
{
	struct run_result res;

	cr_expect_eq(support_handoff_cmd(&res, "status", "-c", hx.config, NULL),
	    0, "status: %s", res.err);
	cr_expect(strstr(res.out, "supervisor hostile") != NULL, "%s", res.out);
	support_result_free(&res);
	cr_expect_eq(support_handoff_cmd(&res, "reload", "-c", hx.config, NULL),
	    0, "reload: %s%s", res.out, res.err);
	cr_expect(strstr(res.out, "done in") != NULL, "%s", res.out);
	support_result_free(&res);
}

#define NCROWD	1000	/* as many clients as the supervisor serves at once */

Test(hostile, idle_clients_do_not_lock_out_the_operator, .init = hx_init,
    .fini = hx_fini)
{
	struct rlimit rl;
	char *answer;
	int *crowd;

	/* The crowd, and the supervisor (which inherits the limit), need fds. */
	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < NCROWD + 200)
		cr_skip_test("RLIMIT_NOFILE hard limit %llu is too low",
		    (unsigned long long)rl.rlim_max);
	rl.rlim_cur = rl.rlim_max;
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	hx_start();
	crowd = hx_idle_crowd(NCROWD);
	hx_expect_operator_served();
	/* The oldest idle client made room, and was told why. */
	answer = hx_read_answer(crowd[0]);
	cr_expect_str_eq(answer, "error 1 closed to make room for another "
	    "client: this one sent no request\n");
	free(answer);
	hx_close_crowd(crowd, NCROWD);
	hx_stop();
}

/*
 * Make HANDOFF_BIN a shell that runs the line before and then execs
 * handoff (same pid, same arguments). Returns the real HANDOFF_BIN, for
 * hx_unwrap_bin.
 */
static char *
hx_wrap_bin(const char *before)
{
	char *real = strdup(support_env("HANDOFF_BIN")), *text, *wrapper;

	cr_assert_not_null(real);
	text = support_printf("#!/bin/sh\n%s\nexec '%s' \"$@\"\n", before, real);
	wrapper = support_write_file(hx.dir, "handoff-wrapper", text);
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
 * Start the supervisor under `ulimit -n 64` (soft and hard limit): it
 * serves 16 control clients at once.
 */
static void
hx_start_with_64_fds(void)
{
	char *real = hx_wrap_bin("ulimit -n 64 || exit 126");

	hx_start();
	hx_unwrap_bin(real);
}

Test(hostile, idle_clients_under_a_small_fd_limit, .init = hx_init,
    .fini = hx_fini)
{
	int *crowd;

	hx_start_with_64_fds();
	crowd = hx_idle_crowd(20);
	hx_expect_operator_served();
	hx_expect_operator_served();
	hx_close_crowd(crowd, 20);
	hx_stop();
}

#define NBUSY	16	/* every slot under a limit of 64 fds */

Test(hostile, busy_clients_keep_their_slots, .init = hx_init,
    .fini = hx_fini)
{
	static const char req[] = "HANDOFF/1 reload\n";
	struct run_result res;
	char *answer;
	int busy[NBUSY], i;

	hx_start_with_64_fds();
	/* A reload that never ends, and 16 clients following it. */
	hx_write_config(hx.sock, "--never-ready", "");
	for (i = 0; i < NBUSY; i++) {
		busy[i] = support_connect_unix(hx.sock);
		cr_assert_neq(busy[i], -1, "connect: %s", strerror(errno));
		cr_assert_eq(send(busy[i], req, sizeof(req) - 1, MSG_NOSIGNAL),
		    (ssize_t)sizeof(req) - 1);
		hx_expect_log(&hx.hp, "asks: reload", i + 1);
	}
	/* They asked for something: none is closed for a newcomer. */
	cr_expect_eq(support_handoff_cmd(&res, "status", "-c", hx.config, NULL),
	    1);
	cr_expect(strstr(res.err, "too many control clients") != NULL, "%s",
	    res.err);
	support_result_free(&res);
	/* Each hears how its reload ended when the supervisor stops. */
	hx_stop();
	for (i = 0; i < NBUSY; i++) {
		answer = hx_read_answer(busy[i]);
		cr_expect(strstr(answer, "error 1 ") != NULL,
		    "client %d: %s", i, answer);
		free(answer);
		close(busy[i]);
	}
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
		poll(pfd, 2, (int)(deadline - support_now_ms()));
	}
	return -1;
}

/* One round: both start, exactly one runs and answers; it then stops. */
static void
hx_race_round(int round)
{
	struct handoff_proc two[2];
	struct run_result res;
	char *logs[2], *text, *needle, *lock, *real;
	json_object *root, *pid;
	int loser, winner, i, status;

	/* Both stop before exec; both go on at once. */
	real = hx_wrap_bin("kill -STOP $$");
	for (i = 0; i < 2; i++) {
		logs[i] = support_printf("%s/race-%d-%c.log", hx.dir, round, 'a' + i);
		cr_assert_eq(support_handoff_start(&two[i], hx.config, logs[i]), 0);
	}
	hx_unwrap_bin(real);
	for (i = 0; i < 2; i++)
		cr_assert(waitpid(two[i].pid, &status, WUNTRACED) == two[i].pid &&
		    WIFSTOPPED(status));
	for (i = 0; i < 2; i++)
		kill(two[i].pid, SIGCONT);
	loser = hx_first_exit(two);
	cr_assert_neq(loser, -1, "round %d: neither supervisor exited", round);
	winner = 1 - loser;
	text = hx_log_text(logs[loser]);
	cr_expect_eq(two[loser].exit_code, 1, "round %d: exit %d:\n%s", round,
	    two[loser].exit_code, text);
	lock = support_printf("%s.lock", hx.sock);
	needle = support_printf("another supervisor is running there (pid %d holds "
	    "%s)", (int)two[winner].pid, lock);
	cr_expect(strstr(text, needle) != NULL, "round %d: no \"%s\" in:\n%s",
	    round, needle, text);
	free(needle);
	free(text);

	hx_expect_log(&two[winner], "started: ", 1);
	cr_expect_eq(support_handoff_cmd(&res, "status", "--json", "-c",
	    hx.config, NULL), 0, "round %d: status: %s", round, res.err);
	root = json_tokener_parse(res.out);
	cr_expect(root != NULL && json_object_object_get_ex(root, "supervisor",
	    &pid) && json_object_object_get_ex(pid, "pid", &pid) &&
	    json_object_get_int(pid) == two[winner].pid,
	    "round %d: status is not the running supervisor's (pid %d): %s",
	    round, (int)two[winner].pid, res.out);
	json_object_put(root);
	support_result_free(&res);
	cr_expect_eq(support_handoff_stop(&two[winner], SIGTERM), 0);
	cr_expect_eq(access(hx.sock, F_OK), -1, "round %d: %s is left", round,
	    hx.sock);
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
    .init = hx_init, .fini = hx_fini)
{
	int round;

	/* Workers that start and stop at once: the race is the supervisors'. */
	hx_write_config_full(hx.sock, "/bin/sleep 3600", "", "ready = delay:1ms\n");

	for (round = 0; round < NROUNDS; round++)
		hx_race_round(round);
}

Test(hostile, a_killed_supervisor_leaves_nothing_in_the_way, .init = hx_init,
    .fini = hx_fini)
{
	struct run_result res;
	char *before, *after;

	hx_start();
	before = hx_worker_notify_socket(hx.port, NULL);
	/* Killed: its socket, lock file and notify directory stay behind. */
	support_handoff_stop(&hx.hp, SIGKILL);
	hx_kill_tagged(hx.hp.tag);
	cr_assert_eq(access(before, F_OK), 0);
	hx_start();
	cr_assert_eq(support_handoff_cmd(&res, "status", "-c", hx.config, NULL),
	    0, "%s", res.err);
	support_result_free(&res);
	after = hx_worker_notify_socket(hx.port, NULL);
	cr_expect_str_eq(after, before);
	free(before);
	free(after);
	hx_stop();
}
