/*
 * test_control.c: the control socket as its users see it: `handoff status`
 * (table and JSON), `handoff reload` and its progress, reloads that fail,
 * `handoff stop`, who may connect, bad requests, many clients at once, a
 * listener's fd handed over SCM_RIGHTS, and an answer cut short.
 *
 * Every test runs the real `handoff run` in the background with a private
 * directory for its config, control socket, pidfile and log, on a free
 * port, with the test server as its program. It waits for log lines
 * (inotify) or for commands to finish, never for a fixed time, and stops
 * every supervisor it started, checking that it and its workers are gone.
 */
#include "autoconf.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <json.h>
#include <linux/capability.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
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

/* The line of text whose first word is word and that contains needle. */
static bool
tc_has_row(const char *text, const char *word, const char *needle)
{
	const char *line = text, *end;
	size_t wlen = strlen(word);
	bool found = false;
	char *copy;

	while (!found && *line != '\0') {
		end = strchrnul(line, '\n');
		copy = strndup(line, (size_t)(end - line));
		cr_assert(copy != NULL);
		found = strncmp(copy, word, wlen) == 0 && copy[wlen] == ' ' &&
		    strstr(copy, needle) != NULL;
		free(copy);
		line = *end ? end + 1 : end;
	}
	return found;
}

/*
 * Whether the status table has a worker row: program, generation, pid,
 * worker state (PROGRAM GEN STATE WORKER PID STATE UPTIME RESTARTS).
 */
static bool
tc_has_worker_row(const char *text, const char *program, int gen, pid_t pid,
    const char *state)
{
	char prog[64], gstate[32], wstate[32];
	const char *line = text, *end;
	int g, w, p;
	char *copy;
	bool found = false;

	while (!found && *line != '\0') {
		end = strchrnul(line, '\n');
		copy = strndup(line, (size_t)(end - line));
		cr_assert(copy != NULL);
		found = sscanf(copy, "%63s %d %31s %d %d %31s", prog, &g, gstate,
		    &w, &p, wstate) == 6 && strcmp(prog, program) == 0 &&
		    g == gen && p == pid && strcmp(wstate, state) == 0;
		free(copy);
		line = *end ? end + 1 : end;
	}
	return found;
}

Test(control, status_text_and_json, .fini = tc_fini)
{
	struct sup *s = tc_new("", "");
	struct run_result res;
	json_object *root, *workers, *w, *lr;
	pid_t pids[2], pid;
	char needle[64], address[64];
	long long us, ms;
	size_t i;
	int k;

	tc_start(s);
	snprintf(address, sizeof(address), "127.0.0.1:%d", s->port);

	/* JSON first: the pids of the workers. */
	root = tc_status_json(s);
	cr_assert_eq(tc_json_int(tc_json_at(root, "schema", NULL)), 1);
	cr_expect_str_eq(tc_json_str(tc_json_at(root, "supervisor", "name", NULL)),
	    "ctltest");
	cr_expect_eq(tc_json_int(tc_json_at(root, "supervisor", "pid", NULL)),
	    s->hp.pid);
	cr_expect_str_eq(tc_json_str(tc_json_at(root, "supervisor", "state",
	    NULL)), "running");
	cr_expect_str_eq(tc_json_str(tc_json_at(root, "listeners", "0", "name",
	    NULL)), "web");
	cr_expect_str_eq(tc_json_str(tc_json_at(root, "listeners", "0", "kind",
	    NULL)), "tcp");
	cr_expect_str_eq(tc_json_str(tc_json_at(root, "listeners", "0",
	    "address", NULL)), address);
	cr_expect_str_eq(tc_json_str(tc_json_at(root, "listeners", "0", "bound",
	    NULL)), address);
	cr_expect_str_eq(tc_json_str(tc_json_at(root, "programs", "0", "name",
	    NULL)), "app");
	cr_expect_eq(tc_json_int(tc_json_at(root, "programs", "0",
	    "current_generation", NULL)), 1);
	cr_expect_eq(tc_json_int(tc_json_at(root, "programs", "0", "generations",
	    "0", "number", NULL)), 1);
	lr = tc_json_at(root, "last_reload", NULL);
	cr_expect(lr == NULL && json_object_object_get_ex(root, "last_reload",
	    NULL), "last_reload is not null before any reload");
	workers = tc_json_at(root, "programs", "0", "generations", "0", "workers",
	    NULL);
	cr_assert(workers != NULL && json_object_is_type(workers, json_type_array));
	cr_assert_eq(json_object_array_length(workers), 2);
	for (i = 0; i < 2; i++) {
		w = json_object_array_get_idx(workers, i);
		pids[i] = (pid_t)tc_json_int(tc_json_at(w, "pid", NULL));
		cr_expect_gt(pids[i], 0);
		cr_expect_str_eq(tc_json_str(tc_json_at(w, "state", NULL)), "ready");
		cr_expect_eq(tc_json_int(tc_json_at(w, "restarts", NULL)), 0);
	}
	cr_expect_neq(pids[0], pids[1]);
	json_object_put(root);

	/* Whoever answers HTTP is one of those workers. */
	for (k = 0; k < 20; k++) {
		cr_assert_eq(tc_get(s, &pid), 1);
		cr_expect(pid == pids[0] || pid == pids[1], "pid %d answered, "
		    "but status shows workers %d and %d", (int)pid,
		    (int)pids[0], (int)pids[1]);
	}

	/* The table. */
	cr_assert_eq(support_handoff_cmd(&res, "status", "-c", s->config, NULL), 0,
	    "handoff status failed: %s", res.err);
	snprintf(needle, sizeof(needle), "supervisor ctltest pid %d,", (int)s->hp.pid);
	cr_expect(strstr(res.out, needle) != NULL, "no \"%s\" in:\n%s", needle,
	    res.out);
	cr_expect(tc_has_row(res.out, "supervisor", ", running,"),
	    "not running:\n%s", res.out);
	cr_expect(tc_has_row(res.out, "web", address), "no listener row:\n%s",
	    res.out);
	cr_expect_eq(support_count_lines(res.out, "app "), 2,
	    "not one row per worker:\n%s", res.out);
	for (i = 0; i < 2; i++)
		cr_expect(tc_has_worker_row(res.out, "app", 1, pids[i], "ready"),
		    "no ready row for pid %d:\n%s", (int)pids[i], res.out);
	cr_expect(strstr(res.out, "last reload: none") != NULL, "%s", res.out);
	support_result_free(&res);

	/* After a reload, its outcome. */
	cr_assert_eq(support_handoff_cmd(&res, "reload", "-c", s->config, NULL), 0,
	    "handoff reload failed: %s%s", res.out, res.err);
	support_result_free(&res);
	root = tc_status_json(s);
	lr = tc_json_at(root, "last_reload", NULL);
	cr_assert(lr != NULL && json_object_is_type(lr, json_type_object),
	    "last_reload is not an object after a reload: %s",
	    json_object_to_json_string(root));
	cr_expect(json_object_get_boolean(tc_json_at(lr, "ok", NULL)) &&
	    json_object_is_type(tc_json_at(lr, "ok", NULL), json_type_boolean),
	    "last_reload.ok is not true: %s", json_object_to_json_string(lr));
	/* Its duration in microseconds, the milliseconds of it beside. */
	us = (long long)tc_json_int(tc_json_at(lr, "duration_us", NULL));
	ms = (long long)tc_json_int(tc_json_at(lr, "duration_ms", NULL));
	cr_expect(us > 0 && us / 1000 == ms, "duration_us %lld does not "
	    "match duration_ms %lld: %s", us, ms,
	    json_object_to_json_string(lr));
	/* And what reading the config took before it, in microseconds. */
	cr_expect(json_object_is_type(tc_json_at(lr, "config_us", NULL),
	    json_type_int) && tc_json_int(tc_json_at(lr, "config_us", NULL)) >
	    0, "last_reload.config_us: %s", json_object_to_json_string(lr));
	cr_expect_eq(tc_json_int(tc_json_at(root, "programs", "0",
	    "current_generation", NULL)), 2);
	json_object_put(root);
	cr_assert_eq(support_handoff_cmd(&res, "status", "-c", s->config, NULL), 0);
	cr_expect(strstr(res.out, "last reload: ok") != NULL, "%s", res.out);
	support_result_free(&res);

	tc_stop(s);
}

Test(control, reload_shows_progress, .fini = tc_fini)
{
	struct sup *s = tc_new("", "");
	struct run_result res;
	int k, done;

	tc_start(s);
	cr_assert_eq(tc_get(s, NULL), 1);
	cr_assert_eq(support_handoff_cmd(&res, "reload", "-c", s->config, NULL), 0,
	    "handoff reload failed: %s%s", res.out, res.err);
	cr_expect(tc_in_order(res.out, "app gen 2 starting 2 workers\n",
	    "app gen 2 ready 2/2\n", "app gen 2 took over", "app gen 1 draining",
	    "done in", NULL), "unexpected progress:\n%s", res.out);
	support_result_free(&res);
	for (k = 0; k < 10; k++)
		cr_expect_eq(tc_get(s, NULL), 2);

	/*
	 * --no-wait returns before the new generation is even ready (it takes
	 * 2s here): no progress, just "reload started".
	 */
	tc_write_config(s, "--ready-after 2s", "");
	done = tc_log_count(s, "reload done in");
	cr_assert_eq(support_handoff_cmd(&res, "reload", "--no-wait", "-c", s->config,
	    NULL), 0, "handoff reload --no-wait failed: %s", res.err);
	cr_expect_str_eq(res.out, "reload started\n");
	support_result_free(&res);
	tc_expect_log(s, "reload done in", done + 1);
	/* Gen 2 may accept until it stops: ask once it is gone. */
	tc_expect_log(s, "app gen 2: gone", 1);
	cr_expect_eq(tc_get(s, NULL), 3);

	cr_assert_eq(support_handoff_cmd(&res, "reload", "nosuch", "-c", s->config, NULL),
	    1);
	cr_expect(strstr(res.err, "unknown program nosuch") != NULL, "%s", res.err);
	support_result_free(&res);
	cr_expect_eq(tc_get(s, NULL), 3);

	tc_stop(s);
}

Test(control, failed_reload_changes_nothing, .fini = tc_fini)
{
	struct sup *s = tc_new("", "");
	struct run_result res;
	json_object *root, *lr;
	pid_t pids[2], pid;
	char *bad, needle[256];
	long long us, ms;
	int k;

	tc_start(s);
	root = tc_status_json(s);
	pids[0] = (pid_t)tc_json_int(tc_json_at(root, "programs", "0",
	    "generations", "0", "workers", "0", "pid", NULL));
	pids[1] = (pid_t)tc_json_int(tc_json_at(root, "programs", "0",
	    "generations", "0", "workers", "1", "pid", NULL));
	json_object_put(root);

	/* A new generation that never becomes ready. */
	tc_write_config(s, "--never-ready", "ready_timeout = 1s\n");
	cr_assert_eq(support_handoff_cmd(&res, "reload", "-c", s->config, NULL), 1,
	    "handoff reload did not fail: %s%s", res.out, res.err);
	cr_expect(strstr(res.err, "reload failed") != NULL, "%s", res.err);
	cr_expect(strstr(res.err, "not ready within ready_timeout") != NULL, "%s",
	    res.err);
	cr_expect(strstr(res.out, "app gen 2 starting 2 workers") != NULL, "%s",
	    res.out);
	support_result_free(&res);
	tc_expect_log(s, "app gen 2: gone", 1);
	for (k = 0; k < 10; k++) {
		cr_assert_eq(tc_get(s, &pid), 1);
		cr_expect(pid == pids[0] || pid == pids[1], "pid %d answered, not "
		    "one of the old workers %d and %d", (int)pid, (int)pids[0],
		    (int)pids[1]);
	}
	root = tc_status_json(s);
	lr = tc_json_at(root, "last_reload", NULL);
	cr_assert(lr != NULL && json_object_is_type(tc_json_at(lr, "ok", NULL),
	    json_type_boolean), "no last_reload.ok: %s",
	    json_object_to_json_string(root));
	cr_expect(!json_object_get_boolean(tc_json_at(lr, "ok", NULL)));
	cr_expect(strstr(tc_json_str(tc_json_at(lr, "message", NULL)),
	    "not ready within ready_timeout") != NULL, "%s",
	    json_object_to_json_string(lr));
	/* It failed at its ready_timeout (whose timer starts apart from this
	 * clock): about so long, in both units. */
	us = (long long)tc_json_int(tc_json_at(lr, "duration_us", NULL));
	ms = (long long)tc_json_int(tc_json_at(lr, "duration_ms", NULL));
	cr_expect(us >= 500000 && us / 1000 == ms, "duration_us %lld, "
	    "duration_ms %lld: %s", us, ms, json_object_to_json_string(lr));
	cr_expect_eq(tc_json_int(tc_json_at(root, "programs", "0",
	    "current_generation", NULL)), 1);
	cr_expect_eq(tc_json_int(tc_json_at(root, "programs", "0", "generations",
	    "0", "workers", "0", "pid", NULL)), pids[0]);
	cr_expect_eq(tc_json_int(tc_json_at(root, "programs", "0", "generations",
	    "0", "workers", "1", "pid", NULL)), pids[1]);
	json_object_put(root);

	/* A config with a syntax error on line 3: the client is told where. */
	bad = tc_printf("[supervisor]\ncontrol = %s\nthis line is not ini\n",
	    s->sock);
	free(support_write_file(s->dir, "handoff.ini", bad));
	free(bad);
	cr_assert_eq(support_handoff_cmd(&res, "reload", "-c", s->config, NULL), 1,
	    "handoff reload did not fail: %s%s", res.out, res.err);
	snprintf(needle, sizeof(needle), "%s:3:", s->config);
	cr_expect(strstr(res.out, needle) != NULL || strstr(res.err, needle) !=
	    NULL, "no %s in what handoff reload showed:\n%s%s", needle, res.out,
	    res.err);
	cr_expect(strstr(res.err, "the config has errors") != NULL, "%s", res.err);
	support_result_free(&res);
	for (k = 0; k < 10; k++) {
		cr_assert_eq(tc_get(s, &pid), 1);
		cr_expect(pid == pids[0] || pid == pids[1]);
	}
	root = tc_status_json(s);
	lr = tc_json_at(root, "last_reload", NULL);
	cr_expect(!json_object_get_boolean(tc_json_at(lr, "ok", NULL)));
	/* Refused before it started: it took no time. */
	cr_expect(tc_json_at(lr, "duration_us", NULL) != NULL &&
	    tc_json_int(tc_json_at(lr, "duration_us", NULL)) == 0 &&
	    tc_json_int(tc_json_at(lr, "config_us", NULL)) == 0 &&
	    tc_json_int(tc_json_at(lr, "duration_ms", NULL)) == 0, "%s",
	    json_object_to_json_string(lr));
	json_object_put(root);

	tc_stop(s);
}

Test(control, stop, .fini = tc_fini)
{
	struct sup *s = tc_new("", "");
	struct run_result res;
	struct stat st;

	tc_start(s);
	json_object_put(tc_status_json(s));
	cr_assert_eq(s->nworkers, 2);
	cr_assert_eq(support_handoff_cmd(&res, "stop", "-c", s->config, NULL), 0,
	    "handoff stop failed: %s", res.err);
	cr_expect(strstr(res.out, "stopped") != NULL, "%s", res.out);
	support_result_free(&res);
	cr_assert_eq(tc_wait_exit(s, DEADLINE_MS), 0,
	    "the supervisor did not exit with 0");
	tc_expect_all_gone(s);
	cr_expect(lstat(s->sock, &st) == -1 && errno == ENOENT,
	    "the control socket %s is still there", s->sock);
}

Test(control, stop_timeout_kills_stubborn_workers, .fini = tc_fini)
{
	struct sup *s = tc_new("--ignore-term", "drain_timeout = 30s\n");
	struct run_result res;
	long long began;

	tc_start(s);
	json_object_put(tc_status_json(s));
	cr_assert_eq(s->nworkers, 2);
	began = support_now_ms();
	cr_assert_eq(support_handoff_cmd(&res, "stop", "--timeout", "500ms", "-c",
	    s->config, NULL), 0, "handoff stop failed: %s", res.err);
	cr_expect(strstr(res.out, "stopped") != NULL, "%s", res.out);
	support_result_free(&res);
	cr_assert_neq(tc_wait_exit(s, DEADLINE_MS), -1,
	    "the supervisor did not exit");
	cr_expect_lt(support_now_ms() - began, 20000, "stop --timeout 500ms waited "
	    "for the 30s drain_timeout");
	cr_expect_eq(s->hp.exit_code, 0, "the supervisor exited with %d",
	    s->hp.exit_code);
	tc_expect_all_gone(s);
}

Test(control, no_supervisor_running, .fini = tc_fini)
{
	struct sup *s = tc_new("", "");
	struct run_result res;
	char *needle;
	const char *cmd;
	int i;

	needle = tc_printf("no supervisor is running on %s", s->sock);
	for (i = 0; i < 3; i++) {
		cmd = i == 0 ? "status" : i == 1 ? "reload" : "stop";
		cr_expect_eq(support_handoff_cmd(&res, cmd, "-c", s->config, NULL), 1,
		    "handoff %s", cmd);
		cr_expect(strstr(res.err, needle) != NULL, "handoff %s: %s", cmd,
		    res.err);
		support_result_free(&res);
	}
	free(needle);
}

Test(control, second_supervisor_refused, .fini = tc_fini)
{
	struct sup *s = tc_new("", "");
	const char *argv[5];
	struct run_result res;
	struct stat before, after;
	char *text, *second;

	tc_start(s);
	cr_assert_eq(lstat(s->sock, &before), 0);
	text = tc_printf("[supervisor]\nname = second\ncontrol = %s\n"
	    "pidfile = %s/second.pid\n[listener web]\nlisten = 127.0.0.1:%d\n"
	    "[program app]\ncommand = %s\nlisteners = web\n", s->sock, s->dir,
	    support_free_port(), support_env("HANDOFF_TESTSERVER"));
	second = support_write_file(s->dir, "second.ini", text);
	free(text);
	argv[0] = support_env("HANDOFF_BIN");
	argv[1] = "run";
	argv[2] = "-c";
	argv[3] = second;
	argv[4] = NULL;
	cr_expect_eq(support_run(argv, &res), 1, "a second supervisor ran: %s",
	    res.err);
	cr_expect(strstr(res.err, "another supervisor is running") != NULL, "%s",
	    res.err);
	support_result_free(&res);
	free(second);

	/* The first one goes on, on the same socket file. */
	cr_assert_eq(lstat(s->sock, &after), 0);
	cr_expect(before.st_ino == after.st_ino, "the control socket was replaced");
	cr_expect_eq(tc_get(s, NULL), 1);
	cr_expect_eq(support_handoff_cmd(&res, "status", "-c", s->config, NULL), 0);
	support_result_free(&res);
	tc_stop(s);
}

Test(control, stale_socket_replaced, .fini = tc_fini)
{
	struct sup *s = tc_new("", "");
	struct sockaddr_un sun;
	struct run_result res;
	struct stat st;
	int fd;

	/* A socket file nobody listens on, as a crashed supervisor leaves. */
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", s->sock);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert(fd != -1);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0,
	    "bind %s: %s", s->sock, strerror(errno));
	close(fd);
	cr_assert(lstat(s->sock, &st) == 0 && S_ISSOCK(st.st_mode));

	tc_start(s);
	cr_expect_eq(tc_log_count(s, "replacing stale socket"), 1);
	cr_assert_eq(lstat(s->sock, &st), 0);
	cr_expect(S_ISSOCK(st.st_mode));
	cr_expect_eq(st.st_mode & 07777, 0600, "the control socket has mode %o",
	    (unsigned)(st.st_mode & 07777));
	cr_expect_eq(st.st_uid, geteuid());
	cr_expect_eq(support_handoff_cmd(&res, "status", "-c", s->config, NULL), 0,
	    "%s", res.err);
	support_result_free(&res);
	tc_stop(s);
}

/* Read what fd has until EOF into buf (at most len - 1 bytes). */
static void
tc_read_pipe(int fd, char *buf, size_t len)
{
	size_t off = 0;
	ssize_t n;

	while (off + 1 < len) {
		n = read(fd, buf + off, len - 1 - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		off += (size_t)n;
	}
	buf[off] = '\0';
}

/*
 * In a child: become uid/gid 65534 and report on fd what happens when it
 * connects to path: first plainly, then with CAP_DAC_OVERRIDE (which lets
 * it past the socket's mode) and the request "HANDOFF/1 status".
 */
static void __attribute__((noreturn))
tc_other_uid_child(const char *path, int fd)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2];
	static const char req[] = "HANDOFF/1 status\n";
	char *answer;
	bool closed;
	int c;

	if (setgroups(0, NULL) == -1 || prctl(PR_SET_KEEPCAPS, 1) == -1 ||
	    setgid(65534) == -1 || setuid(65534) == -1) {
		dprintf(fd, "setuid failed: %s", strerror(errno));
		_exit(1);
	}
	if ((c = tc_connect_unix(path)) != -1) {
		dprintf(fd, "plain connect: ok\n");
		close(c);
	} else
		dprintf(fd, "plain connect: %s\n", strerror(errno));
	memset(data, 0, sizeof(data));
	data[0].effective = data[0].permitted = 1u << CAP_DAC_OVERRIDE;
	if (syscall(SYS_capset, &hdr, data) == -1) {
		dprintf(fd, "capset failed: %s", strerror(errno));
		_exit(1);
	}
	if ((c = tc_connect_unix(path)) == -1) {
		dprintf(fd, "connect failed: %s", strerror(errno));
		_exit(1);
	}
	if (tc_send_all(c, req, sizeof(req) - 1) == -1 && errno != EPIPE &&
	    errno != ECONNRESET) {
		dprintf(fd, "send failed: %s", strerror(errno));
		_exit(1);
	}
	answer = tc_read_all(c, DEADLINE_MS, &closed);
	dprintf(fd, "answer: %s", answer);
	_exit(closed ? 0 : 1);
}

Test(control, other_uid_refused, .fini = tc_fini)
{
	struct sup *s;
	struct run_result res;
	char report[2048], *needle;
	int pipefd[2], status;
	pid_t child;

	if (geteuid() != 0)
		cr_skip_test("only root can act as another uid");
	s = tc_new("", "");
	tc_start(s);
	cr_assert_eq(pipe2(pipefd, O_CLOEXEC), 0);
	child = fork();
	cr_assert(child != -1);
	if (child == 0) {
		close(pipefd[0]);
		tc_other_uid_child(s->sock, pipefd[1]);
	}
	close(pipefd[1]);
	tc_read_pipe(pipefd[0], report, sizeof(report));
	close(pipefd[0]);
	cr_assert_eq(waitpid(child, &status, 0), child);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "the uid 65534 child failed: %s", report);
	/* The socket's mode keeps it out... */
	cr_expect(strstr(report, "plain connect: Permission denied\n") != NULL,
	    "%s", report);
	/* ...and past the mode, SO_PEERCRED does. */
	cr_expect(strstr(report, "answer: error 1 permission denied: uid 65534 ")
	    != NULL, "%s", report);
	needle = tc_printf("refused pid %d of uid 65534", (int)child);
	tc_expect_log(s, needle, 1);
	free(needle);

	cr_expect_eq(support_handoff_cmd(&res, "status", "-c", s->config, NULL), 0,
	    "%s", res.err);
	cr_expect(strstr(res.out, "supervisor ctltest") != NULL);
	support_result_free(&res);
	tc_stop(s);
}

/* A raw request must get exactly an error with code 2 starting with text. */
static void
tc_expect_error2(struct sup *s, const void *req, size_t len, const char *text)
{
	char *answer = tc_request(s, req, len), *want;

	want = tc_printf("error 2 %s", text);
	cr_expect(strncmp(answer, want, strlen(want)) == 0,
	    "request \"%.40s\": expected \"%s...\", got \"%s\"", (const char *)req,
	    want, answer);
	cr_expect_eq(support_count_lines(answer, ""), 1, "more than one line: %s",
	    answer);
	free(want);
	free(answer);
}

Test(control, bad_requests, .fini = tc_fini)
{
	static const char nul[] = "HANDOFF/1 sta\0tus\n";
	struct sup *s = tc_new("", "");
	struct run_result res;
	char *big, *answer;

	tc_start(s);
	tc_expect_error2(s, "hello\n", 6, "bad request");
	tc_expect_error2(s, "HANDOFF/1 frobnicate\n", 21, "unknown command");
	tc_expect_error2(s, "HANDOFF/1\n", 10, "bad request");
	tc_expect_error2(s, "HANDOFF/1 status yaml\n", 22, "usage: status");
	tc_expect_error2(s, nul, sizeof(nul) - 1, "bad request");
	big = malloc(10000);
	cr_assert(big != NULL);
	memset(big, 'x', 10000);
	memcpy(big, "HANDOFF/1 status ", 17);
	tc_expect_error2(s, big, 10000, "request too long");
	big[9999] = '\n';
	tc_expect_error2(s, big, 10000, "request too long");
	free(big);

	/* It still works, and says which version it is. */
	answer = tc_request(s, "HANDOFF/1 version\n", 18);
	cr_expect_str_eq(answer, "ok " PACKAGE_VERSION "\n");
	free(answer);
	cr_expect_eq(support_handoff_cmd(&res, "status", "-c", s->config, NULL), 0);
	support_result_free(&res);
	tc_stop(s);
}

Test(control, slow_clients_do_not_block_others, .fini = tc_fini)
{
	static const char req[] = "HANDOFF/1 status json\n";
	struct sup *s = tc_new("", "");
	struct run_result res;
	int silent, deaf[20], i;
	char *answer;
	bool closed;

	tc_start(s);
	/* A client that starts a request and never ends it... */
	silent = tc_connect_unix(s->sock);
	cr_assert(silent != -1);
	cr_assert_eq(tc_send_all(silent, "HANDOFF/1 sta", 13), 0);
	/* ...and clients that ask and never read the answer. */
	for (i = 0; i < 20; i++) {
		deaf[i] = tc_connect_unix(s->sock);
		cr_assert(deaf[i] != -1);
		cr_assert_eq(tc_send_all(deaf[i], req, sizeof(req) - 1), 0);
	}
	/* Meanwhile others are served. */
	for (i = 0; i < 3; i++) {
		cr_expect_eq(support_handoff_cmd(&res, "status", "-c", s->config, NULL), 0,
		    "%s", res.err);
		cr_expect(strstr(res.out, "supervisor ctltest") != NULL);
		support_result_free(&res);
	}
	cr_expect_eq(support_handoff_cmd(&res, "reload", "-c", s->config, NULL), 0,
	    "%s", res.err);
	support_result_free(&res);
	cr_expect_eq(tc_get(s, NULL), 2);
	/* The silent one is told off after the read timeout (10s). */
	answer = tc_read_all(silent, DEADLINE_MS, &closed);
	cr_expect(closed, "the silent client was never closed");
	cr_expect_str_eq(answer, "error 2 timed out waiting for a request\n");
	free(answer);
	close(silent);
	for (i = 0; i < 20; i++)
		close(deaf[i]);
	cr_expect_eq(support_handoff_cmd(&res, "status", "-c", s->config, NULL), 0);
	support_result_free(&res);
	tc_stop(s);
}

#define NSTATUS		200
#define NLOAD		4

/* One of the concurrent status clients. */
struct status_client {
	pthread_t	 thread;
	const char	*sock;
	pthread_barrier_t *go;
	char		*answer;
	int		 error;		/* errno of a failed connect or send */
	bool		 closed;
};

static void *
status_client_main(void *arg)
{
	static const char req[] = "HANDOFF/1 status\n";
	struct status_client *c = arg;
	int fd;

	pthread_barrier_wait(c->go);
	if ((fd = tc_connect_unix(c->sock)) == -1) {
		c->error = errno;
		return NULL;
	}
	if (tc_send_all(fd, req, sizeof(req) - 1) == -1)
		c->error = errno;
	else
		c->answer = tc_read_all(fd, 2 * DEADLINE_MS, &c->closed);
	close(fd);
	return NULL;
}

/* HTTP clients that GET in a loop until told to stop, counting failures. */
struct http_load {
	pthread_t	 thread;
	int		 port;
	volatile int	*stop;
	int		 ok;
	int		 failed;
	int		 why;		/* SUPPORT_HTTP_* of the first failure */
};

static void *
http_load_main(void *arg)
{
	struct http_load *l = arg;
	pid_t pid;
	int gen, rc;

	while (!__atomic_load_n(l->stop, __ATOMIC_ACQUIRE)) {
		if ((rc = tc_http_get(l->port, &gen, &pid)) == SUPPORT_HTTP_OK)
			l->ok++;
		else if (l->failed++ == 0)
			l->why = rc;
	}
	return NULL;
}

/* `handoff reload -c CONFIG` in a thread. */
struct reload_run {
	pthread_t	 thread;
	const char	*config;
	struct run_result res;
};

static void *
reload_main(void *arg)
{
	struct reload_run *r = arg;
	const char *argv[] = { support_env("HANDOFF_BIN"), "reload", "-c",
	    r->config, NULL };

	support_run(argv, &r->res);
	return NULL;
}

Test(control, many_clients_during_reload_and_load, .fini = tc_fini)
{
	struct sup *s = tc_new("--ready-after 500ms", "");
	struct status_client *clients;
	struct http_load load[NLOAD];
	struct reload_run reload;
	pthread_barrier_t go;
	pthread_attr_t attr;
	volatile int stop = 0;
	int i, complete = 0, reloading = 0;

	tc_start(s);
	cr_assert_eq(pthread_attr_init(&attr), 0);
	cr_assert_eq(pthread_attr_setstacksize(&attr, 256 * 1024), 0);

	for (i = 0; i < NLOAD; i++) {
		memset(&load[i], 0, sizeof(load[i]));
		load[i].port = s->port;
		load[i].stop = &stop;
		cr_assert_eq(pthread_create(&load[i].thread, &attr, http_load_main,
		    &load[i]), 0);
	}
	clients = calloc(NSTATUS, sizeof(*clients));
	cr_assert(clients != NULL);
	cr_assert_eq(pthread_barrier_init(&go, NULL, NSTATUS + 1), 0);
	for (i = 0; i < NSTATUS; i++) {
		clients[i].sock = s->sock;
		clients[i].go = &go;
		cr_assert_eq(pthread_create(&clients[i].thread, &attr,
		    status_client_main, &clients[i]), 0);
	}

	/* The reload starts; its new generation needs 500ms to be ready. */
	memset(&reload, 0, sizeof(reload));
	reload.config = s->config;
	cr_assert_eq(pthread_create(&reload.thread, &attr, reload_main, &reload),
	    0);
	tc_expect_log(s, "app gen 2: starting", 1);
	pthread_barrier_wait(&go);
	for (i = 0; i < NSTATUS; i++)
		pthread_join(clients[i].thread, NULL);
	pthread_join(reload.thread, NULL);
	__atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
	for (i = 0; i < NLOAD; i++)
		pthread_join(load[i].thread, NULL);
	pthread_barrier_destroy(&go);
	pthread_attr_destroy(&attr);

	for (i = 0; i < NSTATUS; i++) {
		struct status_client *c = &clients[i];
		size_t len = c->answer ? strlen(c->answer) : 0;
		if (c->error != 0)
			cr_expect_fail("status client %d: %s", i, strerror(c->error));
		else if (!c->closed || len < 10 ||
		    strncmp(c->answer, "data supervisor ctltest", 23) != 0 ||
		    strcmp(c->answer + len - 10, "ok status\n") != 0)
			cr_expect_fail("status client %d got an incomplete answer "
			    "(closed %d): %s", i, c->closed, c->answer);
		else
			complete++;
		if (c->answer != NULL && strstr(c->answer, ", reloading,") != NULL)
			reloading++;
		free(c->answer);
	}
	free(clients);
	cr_log_info("%d status answers complete, %d during the reload", complete,
	    reloading);
	cr_expect_eq(complete, NSTATUS);

	cr_expect_eq(reload.res.exit_code, 0, "the reload failed: %s%s",
	    reload.res.out, reload.res.err);
	cr_expect(strstr(reload.res.out, "done in") != NULL, "%s",
	    reload.res.out);
	support_result_free(&reload.res);
	for (i = 0; i < NLOAD; i++) {
		cr_expect_eq(load[i].failed, 0, "HTTP client %d: %d of %d requests "
		    "failed, first: %s", i, load[i].failed, load[i].ok +
		    load[i].failed, support_http_name(load[i].why));
		cr_expect_gt(load[i].ok, 0);
	}
	cr_expect_eq(tc_get(s, NULL), 2);
	json_object_put(tc_status_json(s));
	tc_stop(s);
}

/* The fds of listener name; the answer line in line; the first fd. */
static int
tc_request_fd(struct sup *s, const char *name, char *line, size_t linelen,
    int *nfds)
{
	int fds[4];

	*nfds = tc_request_fds(s, name, line, linelen, fds, 4);
	return *nfds > 0 ? fds[0] : -1;
}

Test(control, fds_hands_over_the_listener, .fini = tc_fini)
{
	struct sup *s = tc_new("", "");
	struct sockaddr_in sin, want, peer, mine;
	struct pollfd pfd[2];
	socklen_t len;
	char line[512], *expected, *answer;
	int lfd = -1, nfds = 0, on = 0, type = 0, flags, tries, c, a;
	bool accepted = false;

	tc_start(s);
	lfd = tc_request_fd(s, "web", line, sizeof(line), &nfds);
	expected = tc_printf("ok 1 web 127.0.0.1:%d\n", s->port);
	cr_expect_str_eq(line, expected);
	free(expected);
	cr_assert_eq(nfds, 1, "%d fds came with the answer", nfds);

	/* A listening TCP socket on the listener's address, close-on-exec. */
	len = sizeof(on);
	cr_assert_eq(getsockopt(lfd, SOL_SOCKET, SO_ACCEPTCONN, &on, &len), 0);
	cr_expect_eq(on, 1, "the fd is not listening");
	len = sizeof(type);
	cr_assert_eq(getsockopt(lfd, SOL_SOCKET, SO_TYPE, &type, &len), 0);
	cr_expect_eq(type, SOCK_STREAM);
	len = sizeof(sin);
	cr_assert_eq(getsockname(lfd, (struct sockaddr *)&sin, &len), 0);
	memset(&want, 0, sizeof(want));
	want.sin_family = AF_INET;
	want.sin_port = htons((uint16_t)s->port);
	want.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_expect(sin.sin_family == AF_INET && sin.sin_port == want.sin_port &&
	    sin.sin_addr.s_addr == want.sin_addr.s_addr,
	    "the fd is bound to %s:%d", inet_ntoa(sin.sin_addr),
	    ntohs(sin.sin_port));
	flags = fcntl(lfd, F_GETFD);
	cr_expect(flags != -1 && (flags & FD_CLOEXEC), "no FD_CLOEXEC");

	/*
	 * It accepts: the workers take from the same queue, so connect until
	 * this process wins one (a worker's answer on the client means it lost).
	 */
	for (tries = 0; tries < 500 && !accepted; tries++) {
		c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		cr_assert(c != -1);
		cr_assert_eq(connect(c, (struct sockaddr *)&want, sizeof(want)), 0,
		    "connect: %s", strerror(errno));
		cr_assert_eq(tc_send_all(c, "GET / HTTP/1.0\r\n\r\n", 18), 0);
		len = sizeof(mine);
		cr_assert_eq(getsockname(c, (struct sockaddr *)&mine, &len), 0);
		pfd[0].fd = lfd;
		pfd[0].events = POLLIN;
		pfd[1].fd = c;
		pfd[1].events = POLLIN;
		pfd[0].revents = pfd[1].revents = 0;
		cr_assert_gt(poll(pfd, 2, DEADLINE_MS), 0,
		    "neither this process nor a worker accepted");
		while (pfd[0].revents & POLLIN) {
			a = accept4(lfd, (struct sockaddr *)&peer,
			    &(socklen_t){ sizeof(peer) }, SOCK_NONBLOCK | SOCK_CLOEXEC);
			if (a == -1)
				break;
			/* Ours, or one a worker left from an earlier try. */
			if (peer.sin_port == mine.sin_port)
				accepted = true;
			close(a);
		}
		close(c);
	}
	cr_log_info("accepted from the handed fd after %d tries", tries);
	cr_expect(accepted, "never accepted a connection on the handed fd in %d "
	    "tries", tries);
	close(lfd);

	answer = tc_request(s, "HANDOFF/1 fds nosuch\n", 21);
	cr_expect(strncmp(answer, "error 1 no such listener", 24) == 0, "%s",
	    answer);
	free(answer);
	cr_expect_eq(tc_get(s, NULL), 1);
	tc_stop(s);
}

Test(control, socket_option_instead_of_config, .fini = tc_fini)
{
	struct sup *s = tc_new("", "");
	struct run_result res;
	json_object *root;
	char *needle;

	tc_start(s);
	cr_assert_eq(support_handoff_cmd(&res, "status", "-s", s->sock, NULL), 0, "%s",
	    res.err);
	needle = tc_printf("supervisor ctltest pid %d,", (int)s->hp.pid);
	cr_expect(strstr(res.out, needle) != NULL, "%s", res.out);
	free(needle);
	support_result_free(&res);

	cr_assert_eq(support_handoff_cmd(&res, "status", "--json", "-s", s->sock, NULL), 0,
	    "%s", res.err);
	root = json_tokener_parse(res.out);
	cr_assert(root != NULL, "not JSON: %s", res.out);
	cr_expect_eq(tc_json_int(tc_json_at(root, "supervisor", "pid", NULL)),
	    s->hp.pid);
	json_object_put(root);
	support_result_free(&res);

	cr_assert_eq(support_handoff_cmd(&res, "reload", "-s", s->sock, NULL), 0, "%s%s",
	    res.out, res.err);
	cr_expect(tc_in_order(res.out, "app gen 2 starting 2 workers",
	    "app gen 2 took over", "done in", NULL), "%s", res.out);
	support_result_free(&res);
	cr_expect_eq(tc_get(s, NULL), 2);

	cr_assert_eq(support_handoff_cmd(&res, "reload", "--no-wait", "-s", s->sock, NULL),
	    0, "%s", res.err);
	cr_expect_str_eq(res.out, "reload started\n");
	support_result_free(&res);
	tc_expect_log(s, "reload done in", 2);
	cr_expect_eq(tc_get(s, NULL), 3);

	json_object_put(tc_status_json(s));
	cr_assert_eq(support_handoff_cmd(&res, "stop", "-s", s->sock, NULL), 0, "%s",
	    res.err);
	support_result_free(&res);
	cr_assert_eq(tc_wait_exit(s, DEADLINE_MS), 0,
	    "the supervisor did not exit with 0");
	tc_stop(s);
}

/* ---- kept sockets and failed reloads ---------------------------------- */

/*
 * The listening fd of listener name, through `fds`: the supervisor's own
 * socket (the same open file description), -1 if none came.
 */
static int
tc_fetch_fd(struct sup *s, const char *name)
{
	char line[512];
	int nfds, lfd;

	lfd = tc_request_fd(s, name, line, sizeof(line), &nfds);
	cr_assert(lfd != -1, "no fd came with \"%s\"", line);
	return lfd;
}

/*
 * The backlog of listener name as the kernel has it: for a listening
 * socket, TCP_INFO's tcpi_sacked is its sk_max_ack_backlog.
 */
static int
tc_backlog(struct sup *s, const char *name)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	int fd = tc_fetch_fd(s, name);

	memset(&ti, 0, sizeof(ti));
	cr_assert_eq(getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len), 0,
	    "TCP_INFO: %s", strerror(errno));
	close(fd);
	cr_assert_eq(ti.tcpi_state, TCP_LISTEN);
	return (int)ti.tcpi_sacked;
}

/* The listener's fd_name, as `handoff status --json` shows it. */
static char *
tc_fd_name(struct sup *s)
{
	json_object *root = tc_status_json(s);
	char *name;

	cr_assert_str_eq(tc_json_str(tc_json_at(root, "listeners", "0", "name",
	    NULL)), "web");
	name = strdup(tc_json_str(tc_json_at(root, "listeners", "0", "fd_name",
	    NULL)));
	json_object_put(root);
	cr_assert(name != NULL);
	return name;
}

/*
 * A reload that changes a kept listener's fd_name and backlog, and whose
 * new generation exits before ready: it fails, and the socket the old
 * generation serves from is as it was. The same change in a reload that
 * works does reach the socket and the new workers.
 */
Test(control, failed_reload_changes_no_kept_socket, .fini = tc_fini)
{
	static const char *renamed = "fd_name = renamed\nbacklog = 10\n";
	struct sup *s = tc_new("", "");
	struct run_result res;
	char *name;
	int backlog;

	tc_write_config_full(s, "", "fd_name = web\n", "", "");
	tc_start(s);
	name = tc_fd_name(s);
	cr_expect_str_eq(name, "web");
	free(name);
	backlog = tc_backlog(s, "web");
	cr_assert_neq(backlog, 10, "the default backlog is 10?");

	tc_write_config_full(s, "", renamed, "--exit-before-ready 3", "");
	cr_assert_eq(support_handoff_cmd(&res, "reload", "-c", s->config, NULL), 1,
	    "handoff reload did not fail: %s%s", res.out, res.err);
	cr_expect(strstr(res.err, "exited with status 3 before ready") != NULL,
	    "%s", res.err);
	support_result_free(&res);
	tc_expect_log(s, "app gen 2: gone", 1);
	name = tc_fd_name(s);
	cr_expect_str_eq(name, "web", "a failed reload renamed the socket to "
	    "%s", name);
	free(name);
	cr_expect_eq(tc_backlog(s, "web"), backlog, "a failed reload changed "
	    "the backlog from %d to %d", backlog, tc_backlog(s, "web"));
	cr_expect_eq(tc_get(s, NULL), 1);

	/* The same change, with a generation that works. */
	tc_write_config_full(s, "", renamed, "", "");
	cr_assert_eq(support_handoff_cmd(&res, "reload", "-c", s->config, NULL), 0,
	    "handoff reload failed: %s%s", res.out, res.err);
	support_result_free(&res);
	tc_expect_log(s, "app gen 1: gone", 1);
	name = tc_fd_name(s);
	cr_expect_str_eq(name, "renamed");
	free(name);
	cr_expect_eq(tc_backlog(s, "web"), 10);
	cr_expect_eq(tc_get(s, NULL), 3);
	json_object_put(tc_status_json(s));
	tc_stop(s);
}

/*
 * A reload that renames a kept listener (fd_name) gives the new name to the
 * generation it starts, although the socket itself takes the name only when
 * the reload commits.
 */
Test(control, reload_gives_the_new_generation_its_new_fd_name,
    .fini = tc_fini)
{
	struct sup *s = tc_new("", "");
	struct run_result res;
	char *name, *body;
	int rc;

	tc_write_config_full(s, "", "fd_name = web\n", "", "");
	tc_start(s);
	tc_write_config_full(s, "", "fd_name = renamed\n", "", "");
	cr_assert_eq(support_handoff_cmd(&res, "reload", "-c", s->config, NULL), 0,
	    "handoff reload failed: %s%s", res.out, res.err);
	support_result_free(&res);
	tc_expect_log(s, "app gen 1: gone", 1);
	name = tc_fd_name(s);
	cr_expect_str_eq(name, "renamed");
	free(name);
	rc = support_http_get(s->port, "/env", &body);
	cr_assert_eq(rc, SUPPORT_HTTP_OK, "GET /env: %s", support_http_name(rc));
	cr_expect(strstr(body, "\nHANDOFF_GENERATION=2\n") != NULL, "%s", body);
	cr_expect(strstr(body, "\nLISTEN_FDNAMES=renamed\n") != NULL,
	    "gen 2 was not given the fd_name its reload set:\n%s", body);
	free(body);
	json_object_put(tc_status_json(s));
	tc_stop(s);
}

/* ---- what workers say over NOTIFY_SOCKET ------------------------------ */

/* Every worker of generation 1 in status --json has status want. */
static void
tc_expect_worker_status(struct sup *s, const char *want)
{
	json_object *root = tc_status_json(s), *st;
	int i;

	for (i = 0; i < 2; i++) {
		st = tc_json_at(root, "programs", "0", "generations", "0",
		    "workers", i == 0 ? "0" : "1", "status", NULL);
		cr_expect(st != NULL && json_object_is_type(st, json_type_string),
		    "worker %d has no status string: %s", i,
		    json_object_to_json_string(root));
		cr_expect_str_eq(tc_json_str(st), want, "worker %d", i);
	}
	json_object_put(root);
}

/*
 * Datagrams that are not KEY=VALUE lines are dropped whole (the STATUS
 * line of a message with a bad line too); STATUS=hello shows in status.
 */
Test(control, garbage_notify_ignored_and_status_shown, .fini = tc_fini)
{
	struct sup *s = tc_new("", "");
	struct run_result res;
	int i;

	tc_write_config_full(s, "log_level = debug\n", "",
	    "--status hello --notify-raw 'STATUS=wrong\\nno equals sign' "
	    "--notify-raw 'no equals sign' --notify-raw '=1'", "");
	tc_start(s);
	/* Sent before READY=1: all handled by now. */
	cr_expect_eq(tc_log_count(s, "malformed message from pid"), 6, "not 3 "
	    "malformed messages per worker");
	tc_expect_worker_status(s, "hello");
	cr_assert_eq(support_handoff_cmd(&res, "status", "-c", s->config, NULL), 0,
	    "%s", res.err);
	for (i = 0; i < s->nworkers; i++)
		cr_expect(tc_has_worker_row(res.out, "app", 1, s->workers[i],
		    "ready"), "no ready row for pid %d:\n%s", (int)s->workers[i],
		    res.out);
	cr_expect_eq(support_count_lines(res.out, "  hello"), 2, "%s", res.out);
	cr_expect(strstr(res.out, "wrong") == NULL, "%s", res.out);
	support_result_free(&res);
	tc_stop(s);
}

/* STATUS= with an escape and a byte that is not UTF-8 shows as "a?b?". */
Test(control, status_text_is_made_safe, .fini = tc_fini)
{
	struct sup *s = tc_new("--notify-raw 'STATUS=a\\x1bb\\xff'", "");
	struct run_result res;

	tc_start(s);
	tc_expect_worker_status(s, "a?b?");
	cr_assert_eq(support_handoff_cmd(&res, "status", "-c", s->config, NULL), 0,
	    "%s", res.err);
	cr_expect_eq(support_count_lines(res.out, "  a?b?"), 2, "%s", res.out);
	cr_expect(strchr(res.out, '\x1b') == NULL, "an escape in the table");
	cr_expect(strchr(res.out, '\xff') == NULL, "a 0xff byte in the table");
	support_result_free(&res);
	/* The JSON parses (tc_status_json asserts it), with the same text. */
	cr_assert_eq(support_handoff_cmd(&res, "status", "--json", "-c", s->config, NULL),
	    0, "%s", res.err);
	cr_expect(strchr(res.out, '\xff') == NULL, "a 0xff byte in the JSON");
	support_result_free(&res);
	tc_stop(s);
}

/* ---- clients that half-close ------------------------------------------ */

/* Send req, shut down the write side, and read the whole answer. */
static char *
tc_request_half_closed(struct sup *s, const char *req)
{
	bool closed;
	char *answer;
	int fd;

	fd = tc_connect_unix(s->sock);
	cr_assert(fd != -1, "connect %s: %s", s->sock, strerror(errno));
	cr_assert_eq(tc_send_all(fd, req, strlen(req)), 0, "send: %s",
	    strerror(errno));
	cr_assert_eq(shutdown(fd, SHUT_WR), 0);
	answer = tc_read_all(fd, DEADLINE_MS, &closed);
	close(fd);
	cr_assert(closed, "the supervisor did not close the connection; got "
	    "so far: %s", answer);
	return answer;
}

Test(control, half_closed_clients_get_their_answer, .fini = tc_fini)
{
	struct sup *s = tc_new("--ready-after 200ms", "");
	char *answer;
	size_t len;

	tc_start(s);
	answer = tc_request_half_closed(s, "HANDOFF/1 status\n");
	len = strlen(answer);
	cr_expect(strncmp(answer, "data supervisor ctltest", 23) == 0 &&
	    len > 10 && strcmp(answer + len - 10, "ok status\n") == 0,
	    "incomplete status answer: %s", answer);
	free(answer);

	/* A reload takes 200ms: the answer comes long after the EOF. */
	answer = tc_request_half_closed(s, "HANDOFF/1 reload\n");
	cr_expect(tc_in_order(answer, "progress app gen 2 starting 2 workers\n",
	    "progress app gen 2 took over", "ok done in", NULL),
	    "incomplete reload answer: %s", answer);
	free(answer);
	cr_expect_eq(tc_get(s, NULL), 2);

	answer = tc_request_half_closed(s, "HANDOFF/1 sta");
	cr_expect(strncmp(answer, "error 2 incomplete request", 26) == 0,
	    "%s", answer);
	cr_expect_eq(support_count_lines(answer, ""), 1, "%s", answer);
	free(answer);

	json_object_put(tc_status_json(s));
	tc_stop(s);
}

/* Bytes a client sends after its request line in the test below. */
#define TC_TRAILER_LEN	(64 * 1024)

/*
 * Send the request line req followed by TC_TRAILER_LEN more bytes (a
 * blank line, then filler: more than the supervisor reads at once, so
 * that some are still unread when it answers), in one write, and read the
 * whole answer; *end is 0 when it ended with end-of-file, else the errno
 * of the read that failed.
 */
static char *
tc_request_with_trailer(struct sup *s, const char *req, int *end)
{
	size_t reqlen = strlen(req);
	char *out = malloc(reqlen + TC_TRAILER_LEN), *answer;
	int fd;

	cr_assert(out != NULL);
	memcpy(out, req, reqlen);
	out[reqlen] = '\n';
	memset(out + reqlen + 1, 'x', TC_TRAILER_LEN - 1);
	fd = tc_connect_unix(s->sock);
	cr_assert(fd != -1, "connect %s: %s", s->sock, strerror(errno));
	cr_assert_eq(tc_send_all(fd, out, reqlen + TC_TRAILER_LEN), 0,
	    "send: %s", strerror(errno));
	free(out);
	answer = tc_read_to_end(fd, DEADLINE_MS, end);
	close(fd);
	return answer;
}

/*
 * A client that writes more than its request line (a blank line after it,
 * a second request) gets its answer and then a clean end-of-file, not a
 * connection reset: what it sent after the line is read and dropped.
 */
Test(control, bytes_after_the_request_line_do_not_reset_the_connection,
    .fini = tc_fini)
{
	struct sup *s = tc_new("", "");
	char *answer;
	int err;

	tc_start(s);
	answer = tc_request_with_trailer(s, "HANDOFF/1 version\n", &err);
	cr_expect_str_eq(answer, "ok " PACKAGE_VERSION "\n");
	cr_expect_eq(err, 0, "the version answer ended with: %s",
	    strerror(err));
	free(answer);

	/* A streamed answer, with the trailer read while it streams. */
	answer = tc_request_with_trailer(s, "HANDOFF/1 reload\n", &err);
	cr_expect(tc_in_order(answer, "progress app gen 2 took over",
	    "ok done in", NULL), "incomplete reload answer: %s", answer);
	cr_expect_eq(err, 0, "the reload answer ended with: %s",
	    strerror(err));
	free(answer);

	answer = tc_request_with_trailer(s, "HANDOFF/1 frobnicate\n", &err);
	cr_expect(strncmp(answer, "error 2 unknown command", 23) == 0, "%s",
	    answer);
	cr_expect_eq(err, 0, "the error ended with: %s", strerror(err));
	free(answer);
	cr_expect_eq(tc_get(s, NULL), 2);
	tc_stop(s);
}

/*
 * `handoff reload PROGRAM` keeps [supervisor] as in force: when the file
 * changed it, the reload still runs and its output (and the log) says
 * which key it left and what applies it; a full reload applies it, after
 * which a reload of the program has nothing to say.
 */
Test(control, a_reload_of_one_program_says_what_it_keeps_of_supervisor,
    .fini = tc_fini)
{
	static const char note[] = "[supervisor] log_level is debug in the "
	    "file, info in force: a reload of program app keeps [supervisor] "
	    "as it is (handoff reload without a program name applies it)";
	struct sup *s = tc_new("", "");
	struct run_result res;

	tc_write_config_full(s, "log_level = info\n", "", "", "");
	tc_start(s);
	tc_write_config_full(s, "log_level = debug\n", "", "", "");
	cr_assert_eq(support_handoff_cmd(&res, "reload", "-c", s->config,
	    "app", NULL), 0, "%s%s", res.out, res.err);
	cr_expect(tc_in_order(res.out, note, "app gen 2 took over", NULL),
	    "no note before the takeover: %s", res.out);
	support_result_free(&res);
	tc_expect_log(s, note, 1);
	cr_expect_eq(tc_get(s, NULL), 2);

	cr_assert_eq(support_handoff_cmd(&res, "reload", "-c", s->config,
	    NULL), 0, "%s%s", res.out, res.err);
	support_result_free(&res);
	cr_assert_eq(support_handoff_cmd(&res, "reload", "-c", s->config,
	    "app", NULL), 0, "%s%s", res.out, res.err);
	cr_expect(strstr(res.out, "[supervisor]") == NULL,
	    "a note after the full reload applied it: %s", res.out);
	support_result_free(&res);
	cr_expect_eq(tc_get(s, NULL), 4);
	tc_expect_log(s, note, 1);
	tc_stop(s);
}

Test(control, reload_nowait_reports_a_bad_config, .fini = tc_fini)
{
	struct sup *s = tc_new("", "");
	struct run_result res;
	char *bad, *needle;

	tc_start(s);
	bad = tc_printf("[supervisor]\ncontrol = %s\nthis line is not ini\n",
	    s->sock);
	free(support_write_file(s->dir, "handoff.ini", bad));
	free(bad);
	cr_assert_eq(support_handoff_cmd(&res, "reload", "--no-wait", "-c", s->config,
	    NULL), 1, "handoff reload --no-wait did not fail: %s%s", res.out,
	    res.err);
	needle = tc_printf("%s:3:", s->config);
	cr_expect(strstr(res.out, needle) != NULL || strstr(res.err, needle) !=
	    NULL, "no %s in what handoff reload showed:\n%s%s", needle, res.out,
	    res.err);
	free(needle);
	cr_expect(strstr(res.out, "reload started") == NULL, "%s", res.out);
	support_result_free(&res);
	cr_expect_eq(tc_get(s, NULL), 1);
	json_object_put(tc_status_json(s));
	tc_stop(s);
}

/* ---- where the control socket may live -------------------------------- */

/*
 * Put the control socket in dir (made with mode and owner uid): the
 * supervisor must refuse to start, exit 1, and say why.
 */
static void
tc_expect_bad_control_dir(struct sup *s, mode_t mode, uid_t uid,
    const char *why)
{
	char *dir = tc_printf("%s/ctl", s->dir), *text;
	int code;

	cr_assert_eq(mkdir(dir, 0700), 0, "mkdir %s: %s", dir, strerror(errno));
	cr_assert_eq(chmod(dir, mode), 0);
	if (uid != geteuid())
		cr_assert_eq(chown(dir, uid, uid), 0, "chown %s: %s", dir,
		    strerror(errno));
	free(s->sock);
	s->sock = tc_printf("%s/ctl.sock", dir);
	tc_write_config(s, "", "");
	cr_assert_eq(support_handoff_start(&s->hp, s->config, s->log), 0);
	code = tc_wait_exit(s, DEADLINE_MS);
	text = tc_log_text(s);
	cr_expect_eq(code, 1, "exit code %d, not 1:\n%s", code, text);
	cr_expect(strstr(text, why) != NULL, "no \"%s\" in the log:\n%s", why,
	    text);
	cr_expect(strstr(text, "started: ") == NULL, "%s", text);
	free(text);
	cr_expect(access(s->sock, F_OK) == -1, "%s was made", s->sock);
	free(dir);
	tc_expect_all_gone(s);
}

Test(control, control_dir_writable_by_others_refused, .fini = tc_fini)
{
	struct sup *s = tc_new("", "");

	tc_expect_bad_control_dir(s, 0777, geteuid(), "writable by others");
}

Test(control, control_dir_of_another_user_refused, .fini = tc_fini)
{
	struct sup *s;

	if (geteuid() != 0)
		cr_skip_test("only root can give a directory to uid 65534");
	s = tc_new("", "");
	tc_expect_bad_control_dir(s, 0755, 65534, "belongs to uid 65534");
}

/* `handoff stop` returns only once the supervisor has exited. */
Test(control, stop_returns_after_the_supervisor_exited, .fini = tc_fini)
{
	struct sup *s = tc_new("", "");
	struct run_result res;
	siginfo_t si;

	tc_start(s);
	json_object_put(tc_status_json(s));
	cr_assert_eq(support_handoff_cmd(&res, "stop", "-c", s->config, NULL), 0,
	    "handoff stop failed: %s", res.err);
	support_result_free(&res);
	/* At once: no waiting. WNOWAIT leaves it for tc_wait_exit. */
	memset(&si, 0, sizeof(si));
	cr_assert_eq(waitid(P_PID, (id_t)s->hp.pid, &si, WEXITED | WNOHANG |
	    WNOWAIT), 0, "waitid: %s", strerror(errno));
	cr_expect_eq(si.si_pid, s->hp.pid, "handoff stop returned while the "
	    "supervisor (pid %d) still ran", (int)s->hp.pid);
	cr_assert_eq(tc_wait_exit(s, DEADLINE_MS), 0,
	    "the supervisor did not exit with 0");
	tc_expect_all_gone(s);
}

/*
 * A stand-in for the supervisor on a socket of ours: for each connection,
 * in turn, it reads the request line (keeping the first FAKE_SEEN_MAX
 * bytes of each of the first FAKE_SEEN), writes the next of answers as it
 * is (cut short, say) and closes.
 */
#define FAKE_SEEN	8
#define FAKE_SEEN_MAX	64
struct fake_server {
	pthread_t	 thread;
	int		 fd;
	const char *const *answers;
	size_t		 n;
	size_t		 served;	/* connections answered */
	char		 seen[FAKE_SEEN][FAKE_SEEN_MAX + 1];
};

/* The stand-in's thread. */
static void *
fake_server_run(void *arg)
{
	struct fake_server *f = arg;
	struct pollfd pfd = { f->fd, POLLIN, 0 };
	char c;
	size_t i, len;
	int conn;

	for (i = 0; i < f->n; i++) {
		if (poll(&pfd, 1, DEADLINE_MS) != 1 ||
		    (conn = accept4(f->fd, NULL, NULL, SOCK_CLOEXEC)) == -1)
			return NULL;
		len = 0;
		while (recv(conn, &c, 1, 0) == 1 && c != '\n')
			if (i < FAKE_SEEN && len < FAKE_SEEN_MAX)
				f->seen[i][len++] = c;
		(void)tc_send_all(conn, f->answers[i], strlen(f->answers[i]));
		close(conn);
		f->served = i + 1;
	}
	return NULL;
}

/* Start f's thread on a new socket at DIR/ctl.sock; returns its path. */
static char *
fake_server_start(struct fake_server *f, const char *dir)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	char *sock = tc_printf("%s/ctl.sock", dir);

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", sock);
	cr_assert_geq(f->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), 0);
	cr_assert_eq(bind(f->fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	cr_assert_eq(listen(f->fd, 4), 0);
	cr_assert_eq(pthread_create(&f->thread, NULL, fake_server_run, f), 0);
	return sock;
}

/* Wait for f's thread (it has served every answer) and close its socket. */
static void
fake_server_join(struct fake_server *f)
{
	pthread_join(f->thread, NULL);
	close(f->fd);
	cr_expect_eq(f->served, f->n, "%zu of the stand-in's %zu answers were "
	    "asked for", f->served, f->n);
}

/*
 * An answer that ends before its last line (the supervisor closed the
 * connection: it stopped, or a status client too slow to read was cut
 * when it upgraded itself) is never shown as if whole: `handoff status`
 * prints none of its data, says the answer was cut short, and exits 1,
 * also when the cut falls inside the last line ("ok sta"). A whole answer
 * is printed as before.
 */
Test(control, a_status_answer_cut_short_is_not_printed_as_if_whole)
{
	static const char *const answers[] = {
		"data supervisor x pid 1\ndata   web 127.0.0.1:80\ndata   app g",
		"data supervisor x pid 1\ndata   web 127.0.0.1:80\n",
		"data supervisor x pid 1\nok sta",
		"data supervisor x pid 1\nok status\n",
	};
	struct fake_server f = { .answers = answers, .n = 4 };
	struct run_result res;
	char *dir = support_tmpdir(), *sock;
	size_t i;

	sock = fake_server_start(&f, dir);
	for (i = 0; i < 3; i++) {
		cr_expect_eq(support_handoff_cmd(&res, "status", "-s", sock,
		    NULL), 1, "answer %zu: exit %d", i, res.exit_code);
		cr_expect_str_eq(res.out, "", "answer %zu printed as if whole",
		    i);
		cr_expect(strstr(res.err, "handoff status: the answer was cut "
		    "short") != NULL, "answer %zu: %s", i, res.err);
		support_result_free(&res);
	}
	cr_expect_eq(support_handoff_cmd(&res, "status", "-s", sock, NULL), 0,
	    "%s", res.err);
	cr_expect_str_eq(res.out, "supervisor x pid 1\n");
	support_result_free(&res);
	fake_server_join(&f);
	support_rmtree(dir);
	free(sock);
	free(dir);
}

#define TC_AGAIN	"error 3 the supervisor is upgrading itself in place; " \
	"this request was not served: ask again\n"
#define TC_ASKING	"the supervisor was upgrading itself in place and did " \
	"not serve the request; asking again"

/*
 * A request the supervisor did not serve because it was upgrading itself
 * in place ("error 3 ... ask again") is sent again, the same, by `handoff
 * status` and `handoff reload`, which say so on stderr and then print the
 * answer as usual: a status asked during an upgrade is the new image's.
 * After three such answers in a row they give up with the supervisor's
 * words and exit 1. `handoff upgrade` does not ask again (the upgrade that
 * was running may be the one it asks for): it exits 1 at once.
 */
Test(control, a_request_not_served_during_an_upgrade_is_sent_again)
{
	static const char *const answers[] = {
		TC_AGAIN,
		"data supervisor x pid 1\nok status\n",
		TC_AGAIN,
		"progress x gen 2: starting 1 worker\nok x gen 2 took over\n",
		TC_AGAIN, TC_AGAIN, TC_AGAIN,
		TC_AGAIN,
		"data supervisor y pid 1\nok status\n",
	};
	struct fake_server f = { .answers = answers,
	    .n = sizeof(answers) / sizeof(answers[0]) };
	struct run_result res;
	char *dir = support_tmpdir(), *sock;

	sock = fake_server_start(&f, dir);
	cr_expect_eq(support_handoff_cmd(&res, "status", "--json", "-s", sock,
	    NULL), 0, "%s", res.err);
	cr_expect_str_eq(res.out, "supervisor x pid 1\n");
	cr_expect_eq(support_count_lines(res.err, "handoff status: "
	    TC_ASKING), 1, "stderr: %s", res.err);
	support_result_free(&res);
	cr_expect_str_eq(f.seen[0], "HANDOFF/1 status json");
	cr_expect_str_eq(f.seen[1], "HANDOFF/1 status json");

	cr_expect_eq(support_handoff_cmd(&res, "reload", "-s", sock, "web",
	    NULL), 0, "%s", res.err);
	cr_expect_str_eq(res.out, "x gen 2: starting 1 worker\n"
	    "x gen 2 took over\n");
	cr_expect_eq(support_count_lines(res.err, "handoff reload: "
	    TC_ASKING), 1, "stderr: %s", res.err);
	support_result_free(&res);
	cr_expect_str_eq(f.seen[2], "HANDOFF/1 reload web");
	cr_expect_str_eq(f.seen[3], "HANDOFF/1 reload web");

	cr_expect_eq(support_handoff_cmd(&res, "status", "-s", sock, NULL), 1);
	cr_expect_str_eq(res.out, "");
	cr_expect_eq(support_count_lines(res.err, TC_ASKING), 2, "stderr: %s",
	    res.err);
	cr_expect(strstr(res.err, "handoff status: the supervisor is "
	    "upgrading itself in place; this request was not served: ask "
	    "again\n") != NULL, "stderr: %s", res.err);
	support_result_free(&res);

	cr_expect_eq(support_handoff_cmd(&res, "upgrade", "-s", sock, NULL), 1);
	cr_expect_eq(support_count_lines(res.err, TC_ASKING), 0, "stderr: %s",
	    res.err);
	cr_expect(strstr(res.err, "handoff upgrade: the supervisor is "
	    "upgrading itself in place") != NULL, "stderr: %s", res.err);
	support_result_free(&res);
	/* The next answer goes to the next command, not to the upgrade. */
	cr_expect_eq(support_handoff_cmd(&res, "status", "-s", sock, NULL), 0,
	    "%s", res.err);
	cr_expect_str_eq(res.out, "supervisor y pid 1\n");
	support_result_free(&res);
	fake_server_join(&f);
	support_rmtree(dir);
	free(sock);
	free(dir);
}
