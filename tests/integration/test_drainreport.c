/*
 * test_drainreport.c: how the old workers of a reload ended, in the log,
 * in `handoff reload`'s last lines and in status; the misconfigurations a
 * new user hits caught and named: a server that binds its listener's
 * address itself, one that never accepts from the socket it was given
 * (and not one too busy to empty its queue), one that lowers its
 * listener's backlog with its own listen().
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "load.h"

TestSuite(drainreport, .fini = tc_fini, .timeout = 120);

/*
 * Write s's config: one program "app" running command, with extra keys,
 * on listener web at listen (NULL: 127.0.0.1 on s's port).
 */
static void
td_config_at(struct sup *s, const char *listen, const char *command,
    const char *keys)
{
	char *tcp = tc_printf("127.0.0.1:%d", s->port);
	char *text = tc_printf(
	    "[supervisor]\n"
	    "name = drainreport\n"
	    "control = %s\n"
	    "pidfile = %s/handoff.pid\n"
	    "\n"
	    "[listener web]\n"
	    "listen = %s\n"
	    "\n"
	    "[program app]\n"
	    "command = %s\n"
	    "listeners = web\n"
	    "workers = 1\n"
	    "%s", s->sock, s->dir, listen != NULL ? listen : tcp, command,
	    keys);

	free(support_write_file(s->dir, "handoff.ini", text));
	free(text);
	free(tcp);
}

/* Write s's config: one program "app" running command, with extra keys. */
static void
td_config(struct sup *s, const char *command, const char *keys)
{
	td_config_at(s, NULL, command, keys);
}

/* A supervisor running command as app's one worker, started. */
static struct sup *
td_start(const char *command, const char *keys)
{
	struct sup *s = tc_new("", "");

	td_config(s, command, keys);
	tc_start(s);
	return s;
}

/* `handoff reload`: it exits 0; what it printed (to free). */
static char *
td_reload_ok(struct sup *s)
{
	struct run_result res;
	char *out;

	cr_assert_eq(support_handoff_cmd(&res, "reload", "-c", s->config, NULL),
	    0, "%s%s", res.out, res.err);
	out = tc_printf("%s", res.out);
	support_result_free(&res);
	cr_assert(out != NULL);
	return out;
}

/* The drain report of app's gone generation number, from status. */
static json_object *
td_drained(json_object *root, int number)
{
	json_object *list = tc_json_at(root, "programs", "0", "drained", NULL);
	json_object *r;
	size_t i;

	cr_assert(list != NULL, "no \"drained\" in status");
	for (i = 0; i < json_object_array_length(list); i++) {
		r = json_object_array_get_idx(list, i);
		if (tc_json_int(tc_json_at(r, "generation", NULL)) == number)
			return r;
	}
	cr_assert_fail("no drain report of generation %d", number);
	return NULL;
}

/*
 * Reload a program whose one worker ended as want_end: reload's lines say
 * so (summary_text) before "done", with a warning naming fix (NULL: no
 * warning); so do the log and status --json, where the worker's key
 * ("status", "signal") is value.
 */
static void
td_expect_drain(struct sup *s, const char *summary_text, const char *fix,
    const char *want_end, const char *key, const char *value)
{
	json_object *root, *w;
	char *out, *text, *summary;

	out = td_reload_ok(s);
	summary = tc_printf("app gen 1 drained: 1 worker %s", summary_text);
	cr_expect(tc_in_order(out, "app gen 2 took over", summary, "done in",
	    NULL), "%s", out);
	if (fix != NULL)
		cr_expect(tc_in_order(out, summary, "warning: app gen 1: 1 of 1 "
		    "worker", fix, "done in", NULL), "%s", out);
	else
		cr_expect(strstr(out, "warning:") == NULL, "%s", out);
	text = tc_log_text(s);
	cr_expect(strstr(text, summary) != NULL, "%s", text);
	free(text);

	root = tc_status_json(s);
	w = tc_json_at(td_drained(root, 1), "workers", "0", NULL);
	cr_expect_str_eq(tc_json_str(tc_json_at(w, "end", NULL)), want_end);
	cr_expect_str_eq(json_object_get_string(tc_json_at(w, key, NULL)),
	    value);
	cr_expect_eq(json_object_get_boolean(tc_json_at(w, "clean", NULL)),
	    fix == NULL);
	cr_expect_eq(json_object_get_boolean(tc_json_at(td_drained(root, 1),
	    "clean", NULL)), fix == NULL);
	json_object_put(root);
	free(summary);
	free(out);
}

/* A server that stops cleanly exits 0: said, and no warning. */
Test(drainreport, a_clean_stop_is_exited_0)
{
	struct sup *s = td_start(support_env("HANDOFF_TESTSERVER"), "");

	td_expect_drain(s, "exited 0", NULL, "exited", "status", "0");
	tc_stop(s);
}

/* A server that ignores TERM is SIGKILLed at drain_timeout. */
Test(drainreport, a_worker_killed_at_drain_timeout)
{
	char *cmd = tc_printf("%s --ignore-term",
	    support_env("HANDOFF_TESTSERVER"));
	struct sup *s = td_start(cmd, "drain_timeout = 1s\n");

	td_expect_drain(s, "SIGKILLed at drain_timeout 1s", "stop_signal = ",
	    "drain_timeout", "signal", "KILL");
	free(cmd);
	tc_stop(s);
}

/* A server with no handler for TERM dies of it: try its graceful signal. */
Test(drainreport, a_worker_that_dies_of_its_stop_signal)
{
	struct sup *s = td_start("/bin/sleep 1000", "ready = delay:50ms\n");
	char *text;

	td_expect_drain(s, "died of its stop signal SIGTERM",
	    "no graceful handler for SIGTERM", "stop_signal", "signal", "TERM");
	text = tc_log_text(s);
	cr_expect(strstr(text, "QUIT for nginx, INT for lighttpd") != NULL,
	    "%s", text);
	free(text);
	tc_stop(s);
}

/* A server that exits 3 on TERM: the status is named. */
Test(drainreport, a_worker_that_exits_3)
{
	struct sup *s = td_start("/bin/sh -c 'trap \"exit 3\" TERM; "
	    "while :; do sleep 0.05; done'", "ready = delay:50ms\n");

	td_expect_drain(s, "exited with status 3", "failed as it stopped",
	    "exited", "status", "3");
	tc_stop(s);
}

/*
 * A worker that exits 0 on TERM but leaves a process behind that ignores
 * it: that process is SIGKILLed at drain_timeout, and the drain is not
 * clean, in reload's lines, the log and status. The worker itself must
 * exit within drain_timeout: 5s leaves a loaded machine time for that.
 */
Test(drainreport, processes_left_behind_killed_at_drain_timeout)
{
	char *cmd = tc_printf("/bin/sh -c '(trap \"\" TERM; exec sleep 1000) & "
	    "exec %s'", support_env("HANDOFF_TESTSERVER"));
	struct sup *s = td_start(cmd, "drain_timeout = 5s\n");
	const char *left = "; processes left behind SIGKILLed at drain_timeout "
	    "5s";
	json_object *root, *r;
	char *out, *text;

	out = td_reload_ok(s);
	cr_expect(tc_in_order(out, "app gen 1 drained: 1 worker exited 0", left,
	    "warning: app gen 1: processes its workers left behind did not "
	    "stop within drain_timeout 5s", "done in", NULL), "%s", out);
	text = tc_log_text(s);
	cr_expect(strstr(text, left) != NULL, "%s", text);
	root = tc_status_json(s);
	r = td_drained(root, 1);
	cr_expect_not(json_object_get_boolean(tc_json_at(r, "clean", NULL)));
	cr_expect(json_object_get_boolean(tc_json_at(r, "left_behind_killed",
	    NULL)));
	cr_expect(json_object_get_boolean(tc_json_at(r, "workers", "0",
	    "clean", NULL)));
	json_object_put(root);
	free(text);
	free(out);
	free(cmd);
	tc_stop(s);
}

/*
 * While a reload drains the old generation, status --json shows its report
 * as "drain", naming that reload as the drained report will.
 */
Test(drainreport, a_draining_report_names_its_reload)
{
	char *cmd = tc_printf("%s --ignore-term",
	    support_env("HANDOFF_TESTSERVER"));
	struct sup *s = td_start(cmd, "drain_timeout = 2s\n");
	struct run_result res;
	json_object *root, *gens, *d = NULL;
	size_t i;

	cr_assert_eq(support_handoff_cmd(&res, "reload", "--no-wait", "-c",
	    s->config, NULL), 0, "%s%s", res.out, res.err);
	support_result_free(&res);
	tc_expect_log(s, "app gen 1: draining", 1);
	root = tc_status_json(s);
	gens = tc_json_at(root, "programs", "0", "generations", NULL);
	for (i = 0; gens != NULL && i < json_object_array_length(gens); i++)
		if (tc_json_int(tc_json_at(json_object_array_get_idx(gens, i),
		    "number", NULL)) == 1)
			d = tc_json_at(json_object_array_get_idx(gens, i),
			    "drain", NULL);
	cr_assert(d != NULL, "no drain report of generation 1");
	cr_expect_eq(tc_json_int(tc_json_at(d, "reload", NULL)), 2, "%s",
	    json_object_to_json_string(d));
	json_object_put(root);
	tc_expect_log(s, "app gen 1: gone", 1);
	root = tc_status_json(s);
	cr_expect_eq(tc_json_int(tc_json_at(td_drained(root, 1), "reload",
	    NULL)), 2);
	json_object_put(root);
	free(cmd);
	tc_stop(s);
}

/*
 * Status keeps the reports of the last two drained generations only, and
 * shows them as text too.
 */
Test(drainreport, status_keeps_the_last_drains)
{
	struct sup *s = td_start(support_env("HANDOFF_TESTSERVER"), "");
	json_object *root, *list;
	char *text;
	int i;

	for (i = 0; i < 4; i++)
		free(td_reload_ok(s));
	root = tc_status_json(s);
	list = tc_json_at(root, "programs", "0", "drained", NULL);
	cr_assert(list != NULL);
	cr_expect_eq(json_object_array_length(list), 2);
	cr_expect_eq(tc_json_int(tc_json_at(list, "0", "generation", NULL)), 3);
	cr_expect_eq(tc_json_int(tc_json_at(list, "1", "generation", NULL)), 4);
	cr_expect_eq(tc_json_int(tc_json_at(list, "1", "reload", NULL)), 5);
	json_object_put(root);
	text = tc_status_text(s);
	cr_expect(tc_in_order(text, "last drains:", "app gen 3 drained: 1 "
	    "worker exited 0", "app gen 4 drained: 1 worker exited 0", NULL),
	    "%s", text);
	free(text);
	tc_stop(s);
}

/*
 * A new generation whose server binds its listener's address itself
 * exits before ready with "Address already in use": the reload fails
 * naming the listener and preload = yes, which the shim can serve here.
 */
Test(drainreport, address_in_use_names_the_listener_and_preload)
{
	struct sup *s = td_start(support_env("HANDOFF_TESTSERVER"), "");
	struct run_result res;
	char *cmd, *want;

	cmd = tc_printf("/usr/bin/python3 -c \"import socket; "
	    "socket.socket().bind(('127.0.0.1', %d))\"", s->port);
	td_config(s, cmd, "");
	cr_assert_eq(support_handoff_cmd(&res, "reload", "-c", s->config, NULL),
	    1, "%s%s", res.out, res.err);
	want = tc_printf("its output says \"address already in use\": it binds "
	    "the address of listener web 127.0.0.1:%d itself", s->port);
	cr_expect(strstr(res.err, want) != NULL, "%s", res.err);
	cr_expect(strstr(res.err, "set preload = yes") != NULL, "%s", res.err);
	support_result_free(&res);
	cr_expect_eq(tc_log_count(s, want), 2, "%s", tc_log_text(s));
	cr_expect_eq(tc_get(s, NULL), 1, "generation 1 keeps serving");
	free(want);
	free(cmd);
	tc_stop(s);
}

/* Any case; a program under the shim already is told to look at it. */
Test(drainreport, address_in_use_in_any_case)
{
	struct sup *s = tc_new("", "");

	td_config(s, "/bin/sh -c 'echo \"bind: ADDRESS ALREADY IN USE\" >&2; "
	    "exit 1'", "");
	cr_assert_eq(support_handoff_start(&s->hp, s->config, s->log), 0);
	cr_assert_eq(tc_wait_exit(s, DEADLINE_MS), 1, "%s", tc_log_text(s));
	cr_expect_eq(tc_log_count(s, "exited with status 1 before ready; its "
	    "output says \"address already in use\": it binds the address of "
	    "listener web"), 2, "%s", tc_log_text(s));
}

/*
 * What the hint suggests depends on the binary: a statically linked
 * server, which the bind() shim cannot reach, is told preload = yes would
 * not help; a program under the shim already is sent to the shim's lines.
 */
Test(drainreport, address_in_use_hint_suits_the_binary)
{
	const char *server = support_env("HANDOFF_BINDSERVER_STATIC");
	struct sup *s = tc_new("", "");
	char *cmd, *want;

	cmd = tc_printf("%s --listen 127.0.0.1:%d", server, s->port);
	td_config(s, cmd, "");
	cr_assert_eq(support_handoff_start(&s->hp, s->config, s->log), 0);
	cr_assert_eq(tc_wait_exit(s, DEADLINE_MS), 1, "%s", tc_log_text(s));
	want = tc_printf("it binds the address of listener web 127.0.0.1:%d "
	    "itself instead of using the socket it was given (LISTEN_FDS); the "
	    "bind() shim cannot reach this binary, so preload = yes would not "
	    "help", s->port);
	cr_expect_eq(tc_log_count(s, want), 2, "%s", tc_log_text(s));
	cr_expect_eq(tc_log_count(s, "set preload = yes"), 0, "%s",
	    tc_log_text(s));
	free(want);
	tc_fini();

	/* Under the shim, binding an address another process holds. */
	s = tc_new("", "");
	td_config(s, "/bin/sh -c 'echo \"bind: Address already in use\" >&2; "
	    "exit 1'", "preload = yes\n");
	cr_assert_eq(support_handoff_start(&s->hp, s->config, s->log), 0);
	cr_assert_eq(tc_wait_exit(s, DEADLINE_MS), 1, "%s", tc_log_text(s));
	want = tc_printf("it binds the address of listener web 127.0.0.1:%d "
	    "itself, and the bind() shim did not hand it the socket: see the "
	    "shim's lines above", s->port);
	cr_expect_eq(tc_log_count(s, want), 2, "%s", tc_log_text(s));
	free(want);
	free(cmd);
}

/*
 * A server ready by delay that then fails to bind its listener's address
 * exits after ready: its restart line is followed by the same hint.
 */
Test(drainreport, address_in_use_after_ready_delay_gets_the_hint)
{
	struct sup *s = tc_new("", "");

	td_config(s, "/bin/sh -c 'sleep 0.2; echo \"bind: Address already in "
	    "use\" >&2; exit 1'", "ready = delay:50ms\n");
	tc_start(s);
	cr_assert_eq(support_handoff_wait_log(&s->hp, "exited with status 1 "
	    "after", 1), 0, "%s", tc_log_text(s));
	cr_expect_eq(support_handoff_wait_log(&s->hp, "its output says "
	    "\"address already in use\": it binds the address of listener web",
	    1), 0, "%s", tc_log_text(s));
	tc_stop(s);
}

/* The warnings of status --json's listener web, one string (to free). */
static char *
td_listener_warnings(struct sup *s, int *queued, int *backlog)
{
	json_object *root = tc_status_json(s);
	json_object *l = tc_json_named(root, "listeners", "web");
	char *text;

	cr_assert(l != NULL);
	*queued = (int)tc_json_int(tc_json_at(l, "accept_queue", NULL));
	*backlog = (int)tc_json_int(tc_json_at(l, "kernel_backlog", NULL));
	text = tc_printf("%s", json_object_to_json_string(tc_json_at(l,
	    "warnings", NULL)));
	json_object_put(root);
	return text;
}

/*
 * A server that is ready by its own account but never accepts from the
 * socket it was given (sleep, ready by delay): its queue fills; a few
 * seconds after the takeover, once, the log and status say so. On a unix
 * stream listener at path, or (NULL) a TCP one.
 */
static void
td_unserved(const char *path)
{
	struct sup *s = tc_new("", "");
	char *listen = path != NULL ? tc_printf("unix:%s/%s", s->dir, path) :
	    NULL, *warnings, *text;
	int fds[5], i, queued, backlog;

	td_config_at(s, listen, "/bin/sleep 1000", "ready = delay:50ms\n");
	tc_start(s);
	for (i = 0; i < 5; i++)
		cr_assert((fds[i] = listen != NULL ? tc_connect_unix(listen +
		    strlen("unix:")) : tc_connect_tcp(s->port)) != -1);
	free(td_reload_ok(s));
	cr_assert_eq(support_handoff_wait_log(&s->hp, "web: 5 connections "
	    "queued, none accepted in 3s: does the server use the socket it "
	    "was given?", 1), 0, "%s", tc_log_text(s));
	warnings = td_listener_warnings(s, &queued, &backlog);
	cr_expect_eq(queued, 5);
	cr_expect(strstr(warnings, "web: 5 connections queued, none accepted "
	    "in 3s") != NULL, "%s", warnings);
	free(warnings);
	text = tc_status_text(s);
	cr_expect(tc_in_order(text, "web", "accept queue 5, backlog",
	    "warning: web: 5 connections queued", NULL), "%s", text);
	free(text);
	for (i = 0; i < 5; i++)
		close(fds[i]);
	free(listen);
	tc_stop(s);
}

Test(drainreport, an_unserved_accept_queue_is_warned_about)
{
	td_unserved(NULL);
}

Test(drainreport, an_unserved_unix_accept_queue_is_warned_about)
{
	td_unserved("web.sock");
}

/*
 * A busy server keeps its accept queue full, yet serves it: 30 clients,
 * each asking again as soon as it is answered, of workers that accept one
 * connection each 20ms. The queue stays full across a reload, but the
 * connections waiting at the takeover were accepted since: the check
 * says so (in the debug log) and warns of nothing, in the log or in
 * status.
 */
Test(drainreport, a_busy_server_with_a_full_queue_is_not_warned_about)
{
	static struct load ld;
	struct sup *s = tc_new("", "");
	long long deadline = support_now_ms() + SUPPORT_DEADLINE_MS;
	char *warnings, *text, summary[2048];
	int queued, backlog;

	tc_write_config_full(s, "log_level = debug\n", "",
	    "--accept-delay 20ms", "");
	tc_start(s);
	cr_assert_eq(load_start_tcp(&ld, "127.0.0.1", s->port, 30), 0,
	    "cannot start the clients: %s", strerror(errno));
	while (tc_left(deadline) > 0 && load_listen_queue(s->port) < 10)
		cr_assert_eq(load_wait_progress(&ld, 1), 0, "%s",
		    load_summary(&ld, summary, sizeof(summary)));
	cr_assert_geq(load_listen_queue(s->port), 10, "the queue never "
	    "filled: %s", load_summary(&ld, summary, sizeof(summary)));
	free(td_reload_ok(s));
	cr_assert_eq(support_handoff_wait_log(&s->hp, "connections waiting "
	    "longest at the takeover were accepted since: served", 1), 0,
	    "%s", tc_log_text(s));
	cr_expect_gt(load_listen_queue(s->port), 0, "the queue emptied: %s",
	    load_summary(&ld, summary, sizeof(summary)));
	text = tc_log_text(s);
	cr_expect(strstr(text, "none accepted") == NULL, "%s", text);
	free(text);
	warnings = td_listener_warnings(s, &queued, &backlog);
	cr_expect(strstr(warnings, "none accepted") == NULL, "%s", warnings);
	free(warnings);
	load_stop(&ld);
	cr_expect_eq(load_failures(&ld), 0, "%s",
	    load_summary(&ld, summary, sizeof(summary)));
	tc_stop(s);
}

/*
 * The check after a takeover is not lost to an upgrade right after the
 * reload: the new image looks when the old one would have.
 */
Test(drainreport, the_accept_queue_check_crosses_an_upgrade)
{
	struct sup *s = td_start("/bin/sleep 1000", "ready = delay:50ms\n");
	struct run_result res;
	int fds[3], i;

	for (i = 0; i < 3; i++)
		cr_assert((fds[i] = tc_connect_tcp(s->port)) != -1);
	free(td_reload_ok(s));
	cr_assert_eq(support_handoff_cmd(&res, "upgrade", "-s", s->sock, NULL),
	    0, "%s%s", res.out, res.err);
	support_result_free(&res);
	cr_assert_eq(support_handoff_wait_log(&s->hp, "web: 3 connections "
	    "queued, none accepted in 3s", 1), 0, "%s", tc_log_text(s));
	cr_expect_eq(tc_log_count(s, "upgraded in place to handoff"), 1, "%s",
	    tc_log_text(s));
	for (i = 0; i < 3; i++)
		close(fds[i]);
	tc_stop(s);
}

/*
 * A server that calls listen(fd, 16) on the socket it inherited lowers
 * its backlog: status shows the real one and warns; so does the log. On
 * a unix stream listener at path, or (NULL) a TCP one.
 */
static void
td_lowered_backlog(const char *path)
{
	struct sup *s = tc_new("", "");
	char *listen = path != NULL ? tc_printf("unix:%s/%s", s->dir, path) :
	    NULL, *warnings;
	int queued, backlog;

	td_config_at(s, listen, "/usr/bin/python3 -c \"import socket, time; "
	    "socket.socket(fileno=3).listen(16); print('listening', "
	    "flush=True); time.sleep(1000)\"", "ready = log:^listening\n");
	tc_start(s);
	warnings = td_listener_warnings(s, &queued, &backlog);
	cr_expect_eq(queued, 0);
	cr_expect_eq(backlog, 16);
	cr_expect(tc_in_order(warnings, "web: backlog 16, not ", " as "
	    "configured: a worker called listen()", NULL), "%s", warnings);
	free(warnings);
	cr_expect_eq(support_handoff_wait_log(&s->hp, "web: backlog 16, not ",
	    1), 0, "%s", tc_log_text(s));
	free(listen);
	tc_stop(s);
}

Test(drainreport, a_backlog_lowered_by_a_worker_is_warned_about)
{
	td_lowered_backlog(NULL);
}

Test(drainreport, a_unix_backlog_lowered_by_a_worker_is_warned_about)
{
	td_lowered_backlog("web.sock");
}
