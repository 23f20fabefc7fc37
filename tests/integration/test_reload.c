/*
 * test_reload.c: what a reload changes and what it must leave alone, as an
 * operator sees it: a listener renamed in place, `handoff reload PROGRAM`
 * changing that program only, `[supervisor]` keys a reload cannot change,
 * `--no-wait` on a reload that failed at once, commands found through an
 * empty PATH element, a generation killed at stop, status text that is not
 * UTF-8, and the orphans a stop must kill however many there are.
 */
#include "autoconf.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

/* Replace the supervisor's config with text (the [supervisor] part added). */
static void
rl_write(struct sup *s, const char *programs)
{
	char *text;

	text = tc_printf("[supervisor]\nname = ctltest\ncontrol = %s\n"
	    "pidfile = %s/handoff.pid\n\n%s", s->sock, s->dir, programs);
	free(support_write_file(s->dir, "handoff.ini", text));
	free(text);
}

/*
 * The usual config: [listener NAME] on the test's port, [program app]
 * running the test server with args, and extra program keys.
 */
static void
rl_write_app(struct sup *s, const char *name, const char *args,
    const char *keys)
{
	char *text;

	text = tc_printf("[listener %s]\nlisten = 127.0.0.1:%d\n\n"
	    "[program app]\ncommand = %s%s%s\nlisteners = %s\n%s", name, s->port,
	    support_env("HANDOFF_TESTSERVER"), *args ? " " : "", args, name, keys);
	rl_write(s, text);
	free(text);
}

/* `handoff reload ARGS... -s SOCK`: its exit code; res keeps the output. */
static int
rl_reload(struct sup *s, struct run_result *res, const char *a, const char *b)
{
	if (a == NULL)
		return support_handoff_cmd(res, "reload", "-s", s->sock, NULL);
	if (b == NULL)
		return support_handoff_cmd(res, "reload", a, "-s", s->sock, NULL);
	return support_handoff_cmd(res, "reload", a, b, "-s", s->sock, NULL);
}

/* The listener named name in a status document, or NULL. */
static json_object *
rl_listener(json_object *root, const char *name)
{
	return tc_json_named(root, "listeners", name);
}

/* The program named name in a status document, or NULL. */
static json_object *
rl_program(json_object *root, const char *name)
{
	return tc_json_named(root, "programs", name);
}

/* A program's current generation number in status, -1 if none. */
static int64_t
rl_current(json_object *root, const char *program)
{
	return tc_json_int(tc_json_at(rl_program(root, program),
	    "current_generation", NULL));
}

/* GET path from 127.0.0.1:port; the body, or NULL if it failed. */
static char *
rl_get(int port, const char *path)
{
	char *body = NULL;

	if (support_http_get(port, path, &body) != SUPPORT_HTTP_OK) {
		free(body);
		return NULL;
	}
	return body;
}

/* The generation that answered on port: 0 if nothing answered. */
static int
rl_gen_on(int port)
{
	char *body = rl_get(port, "/");
	int gen = 0;

	if (body != NULL && sscanf(body, "gen=%d", &gen) != 1)
		gen = 0;
	free(body);
	return gen;
}

TestSuite(reload, .fini = tc_fini, .timeout = 120);

/*
 * Renaming a listener section (same address) keeps its socket, passes the
 * new name to the new generation and shows it in status.
 */
Test(reload, renamed_listener_keeps_its_socket)
{
	struct sup *s = tc_new("", "");
	struct run_result res;
	json_object *root;
	char *env;

	rl_write_app(s, "web", "", "");
	tc_start(s);
	cr_assert_eq(rl_gen_on(s->port), 1);

	rl_write_app(s, "www", "", "");
	cr_assert_eq(rl_reload(s, &res, NULL, NULL), 0, "reload: %s%s",
	    res.out, res.err);
	support_result_free(&res);
	cr_expect_eq(rl_gen_on(s->port), 2);
	env = rl_get(s->port, "/env");
	cr_assert(env != NULL);
	cr_expect(strstr(env, "LISTEN_FDNAMES=www\n") != NULL, "%s", env);
	free(env);
	root = tc_status_json(s);
	cr_expect(rl_listener(root, "www") != NULL, "status has no listener www");
	cr_expect(rl_listener(root, "web") == NULL, "status still has web");
	json_object_put(root);
	tc_stop(s);
}

/* Two programs, each on a listener of its own, and one they share. */
static void
rl_write_two(struct sup *s, int pa, int pb, int pshared, int backlog,
    const char *extra_b, int workers_a)
{
	char *text;

	text = tc_printf(
	    "[listener a]\nlisten = 127.0.0.1:%d\n\n"
	    "[listener b]\nlisten = 127.0.0.1:%d\n\n"
	    "[listener shared]\nlisten = 127.0.0.1:%d\nbacklog = %d\n\n"
	    "%s"
	    "[program A]\ncommand = %s\nlisteners = a shared\nworkers = %d\n\n"
	    "[program B]\ncommand = %s\nlisteners = b shared%s\n",
	    pa, pb, pshared, backlog,
	    extra_b != NULL ? extra_b : "",
	    support_env("HANDOFF_TESTSERVER"), workers_a,
	    support_env("HANDOFF_TESTSERVER"), extra_b != NULL ? " c" : "");
	rl_write(s, text);
	free(text);
}

/*
 * `handoff reload A` changes program A and nothing else: B's new listener
 * is not bound, B keeps its generation, a listener B shares keeps its
 * options; status shows the merge in force. A full reload then applies
 * the rest.
 */
Test(reload, partial_reload_changes_only_that_program)
{
	struct sup *s = tc_new("", "");
	int pa = s->port, pb = support_free_port(), pshared = support_free_port();
	int pc = support_free_port();
	struct run_result res;
	json_object *root;
	char *extra;

	rl_write_two(s, pa, pb, pshared, 100, NULL, 1);
	tc_start(s);
	cr_assert_eq(rl_gen_on(pa), 1);
	cr_assert_eq(rl_gen_on(pb), 1);

	/* The file now gives A two workers, B a new listener, shared a new backlog. */
	extra = tc_printf("[listener c]\nlisten = 127.0.0.1:%d\n\n", pc);
	rl_write_two(s, pa, pb, pshared, 200, extra, 2);
	cr_assert_eq(rl_reload(s, &res, "A", NULL), 0, "reload A: %s%s",
	    res.out, res.err);
	support_result_free(&res);

	root = tc_status_json(s);
	cr_expect_eq(rl_current(root, "A"), 2);
	cr_expect_eq(rl_current(root, "B"), 1, "B was reloaded too");
	cr_expect_eq(tc_json_int(tc_json_at(rl_program(root, "A"), "workers",
	    NULL)), 2, "A's new workers are not in force");
	cr_expect_eq(json_object_array_length(tc_json_at(rl_program(root, "B"),
	    "listeners", NULL)), 2, "B's new listener is in force");
	cr_expect(rl_listener(root, "c") == NULL, "listener c was bound");
	cr_expect_eq(tc_json_int(tc_json_at(rl_listener(root, "shared"),
	    "backlog", NULL)), 100, "the shared listener's backlog changed");
	json_object_put(root);
	cr_expect_eq(rl_gen_on(pc), 0, "port %d of B's new listener answers", pc);
	cr_expect_eq(rl_gen_on(pa), 2);
	cr_expect_eq(rl_gen_on(pb), 1);

	/* The whole file, now. */
	cr_assert_eq(rl_reload(s, &res, NULL, NULL), 0, "reload: %s%s",
	    res.out, res.err);
	support_result_free(&res);
	root = tc_status_json(s);
	cr_expect_eq(rl_current(root, "B"), 2);
	cr_expect(rl_listener(root, "c") != NULL);
	cr_expect_eq(tc_json_int(tc_json_at(rl_listener(root, "shared"),
	    "backlog", NULL)), 200);
	json_object_put(root);
	cr_expect_eq(rl_gen_on(pc), 2);
	free(extra);
	tc_stop(s);
}

/*
 * Reloads of programs asked for while another runs wait for it, then run
 * one after the other, each followed by the client that asked for it: a
 * program nobody asked for keeps its generation, and one asked for twice
 * reloads once.
 */
Test(reload, reloads_of_programs_asked_for_during_one_run_in_turn)
{
	struct sup *s = tc_new("", "");
	const char *names[] = { "A", "B", "C", "B" };
	char *text, *answer[4];
	json_object *root;
	bool closed;
	int fd[4], i;

	/* A takes its time to be ready: its reload is in progress a while. */
	text = tc_printf(
	    "[listener a]\nlisten = 127.0.0.1:0\n\n"
	    "[listener b]\nlisten = 127.0.0.1:0\n\n"
	    "[listener c]\nlisten = 127.0.0.1:0\n\n"
	    "[listener d]\nlisten = 127.0.0.1:0\n\n"
	    "[program A]\ncommand = %s --ready-after 1s\nlisteners = a\n\n"
	    "[program B]\ncommand = %s\nlisteners = b\n\n"
	    "[program C]\ncommand = %s\nlisteners = c\n\n"
	    "[program D]\ncommand = %s\nlisteners = d\n",
	    support_env("HANDOFF_TESTSERVER"), support_env("HANDOFF_TESTSERVER"),
	    support_env("HANDOFF_TESTSERVER"), support_env("HANDOFF_TESTSERVER"));
	rl_write(s, text);
	free(text);
	tc_start(s);

	for (i = 0; i < 4; i++) {
		fd[i] = tc_connect_unix(s->sock);
		cr_assert(fd[i] != -1, "connect: %s", strerror(errno));
		text = tc_printf("HANDOFF/1 reload %s\n", names[i]);
		cr_assert_eq(tc_send_all(fd[i], text, strlen(text)), 0);
		free(text);
		/* The others ask once A's reload is under way. */
		if (i == 0)
			tc_expect_log(s, "reloading program A", 1);
	}
	for (i = 0; i < 4; i++) {
		answer[i] = tc_read_all(fd[i], DEADLINE_MS, &closed);
		close(fd[i]);
		cr_assert(closed, "reload %s: no end of answer: %s", names[i],
		    answer[i]);
		cr_expect(strstr(answer[i], "ok done in") != NULL,
		    "reload %s: %s", names[i], answer[i]);
	}
	/* Each heard of its own program's reload, and of no other's. */
	cr_expect(strstr(answer[0], "A gen 2") != NULL, "%s", answer[0]);
	cr_expect(strstr(answer[1], "B gen 2") != NULL, "%s", answer[1]);
	cr_expect(strstr(answer[1], "C gen") == NULL, "%s", answer[1]);
	cr_expect(strstr(answer[2], "C gen 2") != NULL, "%s", answer[2]);
	cr_expect(strstr(answer[2], "B gen") == NULL, "%s", answer[2]);
	cr_expect_str_eq(answer[3], answer[1]);
	for (i = 0; i < 4; i++)
		free(answer[i]);

	root = tc_status_json(s);
	cr_expect_eq(rl_current(root, "A"), 2);
	cr_expect_eq(rl_current(root, "B"), 2, "B reloaded more than once");
	cr_expect_eq(rl_current(root, "C"), 2);
	cr_expect_eq(rl_current(root, "D"), 1, "D was reloaded, unasked");
	json_object_put(root);
	cr_expect_eq(tc_log_count(s, "reloading every program"), 0);
	tc_stop(s);
}

/* A reload of one program may not move a listener other programs use. */
Test(reload, partial_reload_cannot_move_a_shared_listener)
{
	struct sup *s = tc_new("", "");
	int pa = s->port, pb = support_free_port(), pshared = support_free_port();
	struct run_result res;

	rl_write_two(s, pa, pb, pshared, 100, NULL, 1);
	tc_start(s);
	rl_write_two(s, pa, pb, support_free_port(), 100, NULL, 1);
	cr_assert_eq(rl_reload(s, &res, "A", NULL), 1, "reload A: %s%s",
	    res.out, res.err);
	cr_expect(strstr(res.out, "listener shared is also used by other "
	    "programs") != NULL || strstr(res.err, "listener shared is also "
	    "used by other programs") != NULL, "%s%s", res.out, res.err);
	support_result_free(&res);
	cr_expect_eq(rl_gen_on(pshared), 1);
	tc_stop(s);
}

/* The control socket, pidfile and name change only at a restart. */
Test(reload, supervisor_keys_that_need_a_restart)
{
	struct sup *s = tc_new("", "");
	struct run_result res;
	json_object *root;
	char *text, *moved;

	tc_start(s);
	moved = tc_printf("%s/moved.sock", s->dir);
	text = tc_printf("[supervisor]\nname = ctltest\ncontrol = %s\n"
	    "pidfile = %s/handoff.pid\n\n[listener web]\nlisten = 127.0.0.1:%d\n\n"
	    "[program app]\ncommand = %s\nlisteners = web\n", moved, s->dir,
	    s->port, support_env("HANDOFF_TESTSERVER"));
	free(support_write_file(s->dir, "handoff.ini", text));
	free(text);
	cr_assert_eq(rl_reload(s, &res, NULL, NULL), 1, "reload: %s%s", res.out,
	    res.err);
	cr_expect(strstr(res.err, "[supervisor] control changed from") != NULL,
	    "%s%s", res.out, res.err);
	support_result_free(&res);
	cr_expect_eq(access(moved, F_OK), -1, "a socket appeared at %s", moved);
	/* Status, through the socket where it is, says where it is. */
	cr_assert_eq(support_handoff_cmd(&res, "status", "--json", "-s", s->sock,
	    NULL), 0, "%s", res.err);
	root = json_tokener_parse(res.out);
	support_result_free(&res);
	cr_expect_str_eq(tc_json_str(tc_json_at(root, "supervisor", "control",
	    NULL)), s->sock);
	cr_expect_eq(tc_json_at(root, "last_reload", "ok", NULL) != NULL &&
	    !json_object_get_boolean(tc_json_at(root, "last_reload", "ok", NULL)),
	    1, "the refused reload is not shown as failed");
	json_object_put(root);
	cr_expect_eq(rl_gen_on(s->port), 1);
	free(moved);
	tc_stop(s);
}

/* `reload --no-wait` says so when the reload failed before it returned. */
Test(reload, nowait_reports_a_reload_that_failed_at_once)
{
	struct sup *s = tc_new("", "");
	struct run_result res;
	char *text;

	tc_start(s);
	text = tc_printf("[listener web]\nlisten = 127.0.0.1:%d\n\n"
	    "[program app]\ncommand = %s/no-such-server\nlisteners = web\n",
	    s->port, s->dir);
	rl_write(s, text);
	free(text);
	cr_assert_eq(rl_reload(s, &res, "--no-wait", NULL), 1, "%s%s", res.out,
	    res.err);
	cr_expect(strstr(res.err, "no-such-server") != NULL, "%s%s", res.out,
	    res.err);
	cr_expect(strstr(res.out, "reload started") == NULL, "%s", res.out);
	support_result_free(&res);
	cr_expect_eq(rl_gen_on(s->port), 1);
	tc_stop(s);
}

/* An empty PATH element is the worker's directory, as in a shell. */
Test(reload, empty_path_element_is_the_current_directory)
{
	struct sup *s = tc_new("", "");
	char *copy, *text, *cmd;
	struct run_result res;
	const char *argv[4];

	copy = tc_printf("%s/myserver", s->dir);
	argv[0] = "/bin/cp";
	argv[1] = support_env("HANDOFF_TESTSERVER");
	argv[2] = copy;
	argv[3] = NULL;
	cr_assert_eq(support_run(argv, &res), 0, "cp: %s", res.err);
	support_result_free(&res);
	cmd = tc_printf("myserver");
	text = tc_printf("[listener web]\nlisten = 127.0.0.1:%d\n\n"
	    "[program app]\ncommand = %s\nlisteners = web\ndirectory = %s\n"
	    "env = PATH=/nonexistent::/usr/bin\n", s->port, cmd, s->dir);
	rl_write(s, text);
	tc_start(s);
	cr_expect_eq(rl_gen_on(s->port), 1);
	tc_stop(s);
	free(text);
	free(cmd);
	free(copy);
}

/*
 * The state of generation number of the first program in a status JSON
 * (by its number: older generations may be gone already), or "".
 */
static const char *
rl_gen_state(json_object *root, int number)
{
	json_object *gens = tc_json_at(root, "programs", "0", "generations",
	    NULL), *gen;
	const char *state;
	size_t i;

	for (i = 0; gens != NULL && i < json_object_array_length(gens); i++) {
		gen = json_object_array_get_idx(gens, i);
		if (tc_json_int(tc_json_at(gen, "number", NULL)) != number)
			continue;
		state = tc_json_str(tc_json_at(gen, "state", NULL));
		return state != NULL ? state : "";
	}
	return "";
}

/*
 * A generation a graceful stop ends (here: one a reload was starting) is
 * draining, not failed: nothing went wrong with it, and its workers are
 * told to stop with stop_signal, not killed (one that became ready may be
 * serving connections it accepted). The test traces its worker, so that
 * the signal is held until status was read.
 */
Test(reload, generation_stopped_while_starting_drains_and_is_not_failed)
{
	struct sup *s = tc_new("", "");
	struct run_result res;
	json_object *root;
	siginfo_t info;
	pid_t pid;
	int status;

	rl_write_app(s, "web", "", "");
	tc_start(s);
	rl_write_app(s, "web", "--never-ready", "");
	cr_assert_eq(rl_reload(s, &res, "--no-wait", NULL), 0, "%s%s", res.out,
	    res.err);
	support_result_free(&res);
	tc_expect_log(s, "app gen 2: starting", 1);
	root = tc_status_json(s);
	pid = (pid_t)tc_json_int(tc_json_at(root, "programs", "0", "generations",
	    "1", "workers", "0", "pid", NULL));
	json_object_put(root);
	cr_assert_gt(pid, 0);
	cr_assert_eq(ptrace(PTRACE_SEIZE, pid, NULL, NULL), 0,
	    "cannot trace the worker: %s", strerror(errno));
	kill(s->hp.pid, SIGTERM);
	/*
	 * Told to stop: the signal stops the traced worker, ours to hold
	 * (another signal on its way is let through).
	 */
	for (;;) {
		cr_assert_eq(waitid(P_PID, (id_t)pid, &info, WSTOPPED | WEXITED),
		    0, "waitid: %s", strerror(errno));
		if (info.si_code != CLD_TRAPPED || info.si_status == SIGTERM)
			break;
		cr_assert_eq(ptrace(PTRACE_CONT, pid, NULL,
		    (void *)(long)info.si_status), 0);
	}
	cr_assert_eq(info.si_code, CLD_TRAPPED, "the worker ended (code %d, "
	    "status %d) instead of being told to stop", info.si_code,
	    info.si_status);
	cr_expect_eq(info.si_status, SIGTERM, "the worker got signal %d",
	    info.si_status);
	root = tc_status_json(s);
	cr_expect_str_eq(rl_gen_state(root, 2), "draining");
	json_object_put(root);
	/* Let the signal through: the worker stops, the supervisor exits. */
	cr_assert_eq(ptrace(PTRACE_DETACH, pid, NULL, (void *)(long)SIGTERM), 0,
	    "ptrace detach: %s", strerror(errno));
	(void)status;
	cr_expect_eq(tc_wait_exit(s, DEADLINE_MS), 0);
	tc_expect_all_gone(s);
}

/*
 * The pid of the test server whose --print-ready line is the nth ("ready
 * pid=N gen=G") in the supervisor's log.
 */
static pid_t
rl_ready_pid(struct sup *s, int nth)
{
	char *log, *at;
	long pid = 0;
	int i;

	tc_expect_log(s, "ready pid=", nth);
	log = tc_log_text(s);
	at = log;
	for (i = 0; i < nth && at != NULL; i++)
		if ((at = strstr(at, "ready pid=")) != NULL)
			at += strlen("ready pid=");
	if (at != NULL)
		pid = strtol(at, NULL, 10);
	free(log);
	cr_assert_gt(pid, 0, "no pid in ready line %d", nth);
	return (pid_t)pid;
}

/*
 * A reload that fails lets the workers of its new generation that became
 * ready finish what they accepted: in inherit mode they accept from the
 * socket every generation shares as soon as they are ready, so a SIGKILL
 * at the failure would cut requests the old generation never saw. Here
 * the old worker is slow to accept (one connection a minute), so the new
 * generation's first worker, ready at once, takes the request; its second
 * worker then exits before ready. The request is answered, whole, by the
 * failed generation, whose worker is told to stop (not killed) and exits
 * once it has answered; the old generation keeps serving.
 */
Test(reload, a_failed_reload_lets_its_ready_workers_finish_what_they_accepted)
{
	struct sup *s = tc_new("", "");
	struct run_result res;
	json_object *root;
	char *fifo, *text, *answer, *killed;
	long long deadline;
	pid_t old, fresh;
	int gen, fd, hold, end, fds;

	rl_write_app(s, "web", "--accept-delay 60s", "");
	tc_start(s);
	/* The old worker answers one, then accepts no more for a minute. */
	cr_assert_eq(tc_http_get(s->port, &gen, &old), SUPPORT_HTTP_OK);
	cr_assert_eq(gen, 1);
	fifo = tc_printf("%s/go", s->dir);
	cr_assert_eq(mkfifo(fifo, 0600), 0);
	cr_assert_geq(hold = open(fifo, O_RDWR | O_NONBLOCK | O_CLOEXEC), 0);
	text = tc_printf("[listener web]\nlisten = 127.0.0.1:%d\n\n"
	    "[program app]\ncommand = /bin/sh -c 'if [ \"$HANDOFF_WORKER\" = 1 ]; "
	    "then read x < %s; exit 3; fi; exec %s --delay-response 1s "
	    "--print-ready'\nlisteners = web\nworkers = 2\n", s->port, fifo,
	    support_env("HANDOFF_TESTSERVER"));
	rl_write(s, text);
	free(text);
	cr_assert_eq(rl_reload(s, &res, "--no-wait", NULL), 0, "%s%s", res.out,
	    res.err);
	support_result_free(&res);
	fresh = rl_ready_pid(s, 1);
	fds = support_fd_count(fresh);
	fd = tc_connect_tcp(s->port);
	cr_assert_geq(fd, 0);
	cr_assert_eq(tc_send_all(fd, "GET / HTTP/1.0\r\n\r\n", 18), 0);
	/* The new worker takes it (one more fd): the old one does not. */
	deadline = support_now_ms() + DEADLINE_MS;
	while (support_fd_count(fresh) <= fds && tc_left(deadline) > 0)
		usleep(2 * 1000);
	cr_assert_gt(support_fd_count(fresh), fds, "the new worker pid %d "
	    "never accepted the connection", (int)fresh);
	/* Now the other new worker fails the reload. */
	cr_assert_eq(write(hold, "x\n", 2), 2);
	tc_expect_log(s, "reload failed", 1);
	answer = tc_read_to_end(fd, DEADLINE_MS, &end);
	cr_expect_eq(end, 0, "the connection ended with %s after \"%s\"",
	    strerror(end), answer);
	cr_expect(strncmp(answer, "HTTP/1.0 200 OK\r\n", 17) == 0 &&
	    strstr(answer, "gen=2 ") != NULL, "the request was not answered "
	    "whole by the failed generation: \"%s\"", answer);
	free(answer);
	close(fd);
	text = tc_printf("app gen 2 worker 0 pid %d: exited with status 0",
	    (int)fresh);
	tc_expect_log(s, text, 1);
	killed = tc_printf("pid %d: was killed by signal 9", (int)fresh);
	cr_expect_eq(tc_log_count(s, killed), 0, "%s", tc_log_text(s));
	free(killed);
	free(text);
	close(hold);
	free(fifo);
	/* The old generation is the one running. */
	root = tc_status_json(s);
	cr_expect_eq(rl_current(root, "app"), 1);
	json_object_put(root);
	tc_stop(s);
}

/* Status text that is not well-formed UTF-8 is shown with '?' for it. */
Test(reload, status_text_is_always_utf8)
{
	struct sup *s = tc_new("", "");
	json_object *root;

	rl_write_app(s, "web", "--notify-raw 'STATUS=\\xe0\\x80\\xaf ok"
	    "\\xed\\xa0\\x80 \\xf5\\x80\\x80\\x80 \\xf4\\x90\\x80\\x80 "
	    "\\xc2\\x9b \\xc3\\xa9'", "");
	tc_start(s);
	root = tc_status_json(s);
	cr_expect_str_eq(tc_json_str(tc_json_at(root, "programs", "0",
	    "generations", "0", "workers", "0", "status", NULL)),
	    "??? ok??? ???? ???? ?? \xc3\xa9");
	json_object_put(root);
	tc_stop(s);
}

/*
 * Orphans a stop must kill: far more than fit in one line buffer of
 * /proc's children list. Every one is gone after the stop. They belong to
 * their generation, which drains until they are gone: they outlive the
 * stop signal, so drain_timeout kills them.
 */
Test(reload, stop_kills_every_orphan)
{
	struct sup *s = tc_new("", "");

	/* 900 pids of up to 5 digits and a space: more than 4096 bytes. */
	rl_write_app(s, "web", "--orphans 900", "drain_timeout = 1s\n");
	tc_start(s);
	cr_expect_eq(rl_gen_on(s->port), 1);
	tc_stop(s);
}

/*
 * A config path that is a FIFO or a device is refused by check, run and
 * reload, without reading it: the supervisor never blocks on it, and what
 * runs keeps running.
 */
Test(reload, config_that_is_not_a_regular_file)
{
	struct sup *s = tc_new("", "");
	struct run_result res;
	char *fifo, *link;

	fifo = tc_printf("%s/fifo.ini", s->dir);
	link = tc_printf("%s/zero.ini", s->dir);
	cr_assert_eq(mkfifo(fifo, 0600), 0, "mkfifo: %s", strerror(errno));
	cr_assert_eq(symlink("/dev/zero", link), 0);
	cr_expect_eq(support_handoff_cmd(&res, "check", "-c", fifo, NULL), 2);
	cr_expect(strstr(res.err, "is a FIFO, not a regular file") != NULL,
	    "%s", res.err);
	support_result_free(&res);
	cr_expect_eq(support_handoff_cmd(&res, "run", "-c", link, NULL), 2);
	cr_expect(strstr(res.err, "is a device, not a regular file") != NULL,
	    "%s", res.err);
	support_result_free(&res);

	tc_start(s);
	cr_assert_eq(rename(fifo, s->config), 0);
	cr_expect_eq(rl_reload(s, &res, NULL, NULL), 1);
	cr_expect(strstr(res.out, "is a FIFO, not a regular file") != NULL,
	    "%s%s", res.out, res.err);
	support_result_free(&res);
	cr_assert_eq(rename(link, s->config), 0);
	cr_expect_eq(rl_reload(s, &res, NULL, NULL), 1);
	cr_expect(strstr(res.out, "is a device, not a regular file") != NULL,
	    "%s%s", res.out, res.err);
	support_result_free(&res);
	cr_expect_eq(rl_gen_on(s->port), 1);
	free(fifo);
	free(link);
	tc_stop(s);
}

/* The usual config, debug logs, its listener's fd_name mark. */
static char *
rl_marked_text(struct sup *s, const char *mark, const char *extra)
{
	return tc_printf("[supervisor]\nname = ctltest\ncontrol = %s\n"
	    "pidfile = %s/handoff.pid\nlog_level = debug\n\n"
	    "[listener web]\nlisten = 127.0.0.1:%d\nfd_name = %s\n\n"
	    "[program app]\ncommand = %s\nlisteners = web\n%s",
	    s->sock, s->dir, s->port, mark, support_env("HANDOFF_TESTSERVER"),
	    extra);
}

/* Write the marked config (rl_marked_text) to dir/name. */
static void
rl_write_marked(struct sup *s, const char *dir, const char *name,
    const char *mark, const char *extra)
{
	char *text = rl_marked_text(s, mark, extra);

	free(support_write_file(dir, name, text));
	free(text);
}

/* Tell whether the workers on the test's port know their socket as mark. */
static bool
rl_marked(struct sup *s, const char *mark)
{
	char *env = rl_get(s->port, "/env");
	char *want = tc_printf("LISTEN_FDNAMES=%s\n", mark);
	bool found = env != NULL && strstr(env, want) != NULL;

	free(env);
	free(want);
	return found;
}

/*
 * The supervisor reads its config file as soon as it is written (closed
 * after writing, or renamed into place), ahead of the reload: the reload
 * takes what was read only while the file still holds that text. Written
 * again since (here, still open for writing, so not yet said to be
 * written), the file is read again at the reload; a file with errors is
 * said to have them by the reload, and nothing changes.
 */
Test(reload, a_config_read_when_written_is_taken_only_while_the_file_holds_it)
{
	struct sup *s = tc_new("", "");
	struct run_result res;
	char *text, *tmp;
	int fd, ready = 0;

	rl_write_marked(s, s->dir, "handoff.ini", "a", "");
	tc_start(s);
	cr_assert(rl_marked(s, "a"));

	/* Written: read ahead, and the reload takes it. */
	rl_write_marked(s, s->dir, "handoff.ini", "b", "");
	tc_expect_log(s, "written: read and checked", ++ready);
	cr_assert_eq(rl_reload(s, &res, NULL, NULL), 0, "%s%s", res.out, res.err);
	support_result_free(&res);
	tc_expect_log(s, "is as it was read when written: that config is taken", 1);
	cr_expect(rl_marked(s, "b"));

	/* Read ahead as c, then changed to d before the reload. */
	rl_write_marked(s, s->dir, "handoff.ini", "c", "");
	tc_expect_log(s, "written: read and checked", ++ready);
	cr_assert((fd = open(s->config, O_WRONLY | O_TRUNC | O_CLOEXEC)) >= 0);
	text = rl_marked_text(s, "d", "");
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	free(text);
	cr_assert_eq(rl_reload(s, &res, NULL, NULL), 0, "%s%s", res.out, res.err);
	support_result_free(&res);
	close(fd);
	cr_expect(rl_marked(s, "d"), "the config read ahead was taken, not "
	    "what the file held at the reload");
	cr_expect_eq(tc_log_count(s, "that config is taken"), 1);

	/* Renamed into place with an error: the reload says it. */
	tmp = tc_printf("%s/handoff.ini.new", s->dir);
	rl_write_marked(s, s->dir, "handoff.ini.new", "e", "workers = 0\n");
	cr_assert_eq(rename(tmp, s->config), 0);
	tc_expect_log(s, "written: it has errors (a reload says them)", 1);
	cr_expect_eq(rl_reload(s, &res, NULL, NULL), 1);
	cr_expect(strstr(res.out, "workers = 0") != NULL, "%s%s", res.out,
	    res.err);
	support_result_free(&res);
	cr_expect(rl_marked(s, "d"));

	/* Renamed into place, good: read ahead and taken. */
	rl_write_marked(s, s->dir, "handoff.ini.new", "f", "");
	cr_assert_eq(rename(tmp, s->config), 0);
	tc_expect_log(s, "written: read and checked", ++ready);
	cr_assert_eq(rl_reload(s, &res, NULL, NULL), 0, "%s%s", res.out, res.err);
	support_result_free(&res);
	tc_expect_log(s, "is as it was read when written: that config is taken", 2);
	cr_expect(rl_marked(s, "f"));
	free(tmp);
	tc_stop(s);
}

/* The supervisor's voluntary context switches (its wakeups), or -1. */
static long
rl_wakeups(pid_t pid)
{
	char path[64], line[256];
	long n = -1;
	FILE *fp;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((fp = fopen(path, "re")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), fp) != NULL)
		if (sscanf(line, "voluntary_ctxt_switches: %ld", &n) == 1)
			break;
	fclose(fp);
	return n;
}

/*
 * Another program writing its own files in the config's directory (a
 * shared or world-writable one) as fast as it can, for a second: the
 * supervisor reads those events in batches rather than waking for each
 * (it woke some 100000 times a second), and still reads the config
 * ahead when it is written among them.
 */
Test(reload, a_busy_config_directory_does_not_keep_the_supervisor_awake)
{
	struct sup *s = tc_new("", "");
	struct run_result res;
	struct timespec began, now;
	char *names[2];
	long before, after;
	pid_t pid;
	int i, fd;

	rl_write_marked(s, s->dir, "handoff.ini", "a", "");
	tc_start(s);
	names[0] = tc_printf("%s/other.0", s->dir);
	names[1] = tc_printf("%s/other.1", s->dir);
	before = rl_wakeups(s->hp.pid);
	cr_assert_geq(before, 0);
	cr_assert((pid = fork()) >= 0);
	if (pid == 0) {
		clock_gettime(CLOCK_MONOTONIC, &began);
		now = began;
		for (i = 1; (now.tv_sec - began.tv_sec) * 1000 +
		    (now.tv_nsec - began.tv_nsec) / 1000000 < 1000; i++) {
			if ((fd = open(names[i & 1], O_WRONLY | O_CREAT |
			    O_CLOEXEC, 0600)) != -1)
				close(fd);
			if ((i & 1023) == 0)
				clock_gettime(CLOCK_MONOTONIC, &now);
		}
		_exit(0);
	}
	/* Written among them: read ahead all the same. */
	rl_write_marked(s, s->dir, "handoff.ini", "b", "");
	cr_assert_eq(waitpid(pid, NULL, 0), pid);
	after = rl_wakeups(s->hp.pid);
	cr_log_info("woke %ld times in a busy second", after - before);
	cr_expect_lt(after - before, 2000, "the supervisor woke %ld times in a "
	    "second of another program's writes", after - before);
	tc_expect_log(s, "written: read and checked", 1);
	cr_assert_eq(rl_reload(s, &res, NULL, NULL), 0, "%s%s", res.out, res.err);
	support_result_free(&res);
	tc_expect_log(s, "is as it was read when written: that config is taken", 1);
	cr_expect(rl_marked(s, "b"));
	free(names[0]);
	free(names[1]);
	tc_stop(s);
}

/*
 * A config path that is a symlink is read through the link at each
 * reload, as the path given names it then: the link replaced (ln -sf, a
 * Kubernetes ConfigMap's ..data swapped) is followed to its new target,
 * which a reload must not take for the file the supervisor started from.
 */
Test(reload, a_config_path_that_is_a_symlink_is_followed_at_each_reload)
{
	struct sup *s = tc_new("", "");
	struct run_result res;
	json_object *root;
	char *tmp;

	rl_write_marked(s, s->dir, "a.ini", "a", "");
	rl_write_marked(s, s->dir, "b.ini", "b", "");
	cr_assert_eq(unlink(s->config), 0);
	cr_assert_eq(symlink("a.ini", s->config), 0);
	tc_start(s);
	cr_assert(rl_marked(s, "a"));
	root = tc_status_json(s);
	cr_expect_str_eq(tc_json_str(tc_json_at(root, "supervisor", "config",
	    NULL)), s->config, "the path given, not its target");
	json_object_put(root);

	/* The link replaced, as ln -sf does: read ahead, and taken. */
	tmp = tc_printf("%s/handoff.ini.tmp", s->dir);
	cr_assert_eq(symlink("b.ini", tmp), 0);
	cr_assert_eq(rename(tmp, s->config), 0);
	tc_expect_log(s, "written: read and checked", 1);
	cr_assert_eq(rl_reload(s, &res, NULL, NULL), 0, "%s%s", res.out, res.err);
	support_result_free(&res);
	cr_expect(rl_marked(s, "b"), "the reload read the link's old target");

	/* Its target written in place: the reload reads it. */
	rl_write_marked(s, s->dir, "b.ini", "c", "");
	cr_assert_eq(rl_reload(s, &res, NULL, NULL), 0, "%s%s", res.out, res.err);
	support_result_free(&res);
	cr_expect(rl_marked(s, "c"));

	/* Its old target gone: nothing reads it. */
	free(tmp);
	tmp = tc_printf("%s/a.ini", s->dir);
	cr_assert_eq(unlink(tmp), 0);
	cr_assert_eq(rl_reload(s, &res, NULL, NULL), 0, "%s%s", res.out, res.err);
	support_result_free(&res);
	cr_expect(rl_marked(s, "c"));
	free(tmp);
	tc_stop(s);
}

/*
 * The config's directory renamed away and made again: the watch on the
 * old one is dropped, the next reload reads the file itself and watches
 * the new directory, whose writes are read ahead again.
 */
Test(reload, a_config_directory_made_again_is_watched_from_the_next_reload)
{
	struct sup *s = tc_new("", "");
	struct run_result res;
	char *dir, *old;

	dir = tc_printf("%s/conf", s->dir);
	old = tc_printf("%s/conf.old", s->dir);
	cr_assert_eq(mkdir(dir, 0700), 0);
	free(s->config);
	s->config = tc_printf("%s/handoff.ini", dir);
	rl_write_marked(s, dir, "handoff.ini", "a", "");
	tc_start(s);

	cr_assert_eq(rename(dir, old), 0);
	cr_assert_eq(mkdir(dir, 0700), 0);
	rl_write_marked(s, dir, "handoff.ini", "b", "");
	/* Written in the old directory: nothing the supervisor reads. */
	rl_write_marked(s, old, "handoff.ini", "b", "");
	cr_assert_eq(rl_reload(s, &res, NULL, NULL), 0, "%s%s", res.out, res.err);
	support_result_free(&res);
	cr_expect(rl_marked(s, "b"));
	cr_expect_eq(tc_log_count(s, "written: read and checked"), 0);

	rl_write_marked(s, dir, "handoff.ini", "c", "");
	tc_expect_log(s, "written: read and checked", 1);
	cr_assert_eq(rl_reload(s, &res, NULL, NULL), 0, "%s%s", res.out, res.err);
	support_result_free(&res);
	tc_expect_log(s, "is as it was read when written: that config is taken", 1);
	cr_expect(rl_marked(s, "c"));
	tc_stop(s);
	free(dir);
	free(old);
}

/* The marked config, its listener at localhost rather than 127.0.0.1. */
static void
rl_write_marked_at_localhost(struct sup *s, const char *mark)
{
	char *text = rl_marked_text(s, mark, ""), *at;

	cr_assert_not_null(at = strstr(text, "listen = 127.0.0.1:"));
	memcpy(at + strlen("listen = "), "localhost", 9);
	free(support_write_file(s->dir, "handoff.ini", text));
	free(text);
}

/*
 * A config in force that names a host is not read ahead when the file is
 * written (each parse looks the name up, which may wait on a name
 * server, and such a config is read again by the reload anyway); the
 * reload reads it.
 */
Test(reload, a_config_naming_a_host_is_read_by_the_reload_not_ahead)
{
	struct sup *s = tc_new("", "");
	struct run_result res;
	json_object *root;

	rl_write_marked_at_localhost(s, "a");
	tc_start(s);
	rl_write_marked_at_localhost(s, "b");
	tc_expect_log(s, "written: not read ahead (the config in force names "
	    "a host, looked up at the reload)", 1);
	cr_assert_eq(rl_reload(s, &res, NULL, NULL), 0, "%s%s", res.out, res.err);
	support_result_free(&res);
	cr_expect_eq(tc_log_count(s, "read and checked in"), 0);
	cr_expect_eq(tc_log_count(s, "that config is taken"), 0);
	root = tc_status_json(s);
	cr_expect_str_eq(tc_json_str(tc_json_at(rl_listener(root, "web"),
	    "fd_name", NULL)), "b", "%s", json_object_to_json_string(root));
	json_object_put(root);
	tc_stop(s);
}
