/*
 * test_health.c: a service that stays up when its own workers misbehave.
 *
 * A worker that calls shutdown() on its inherited listener as it stops (as
 * servers do to wake their threads blocked in accept) must not leave the
 * port dead for the generations after it: the supervisor notices at once,
 * repairs the listener (a TCP one listens again; a unix one gets a fresh
 * socket and a new generation), warns, and shows it in status.
 *
 * A new generation that becomes ready and then crashes within its
 * `probation` must not replace the one serving: the reload fails (exit 1,
 * with the reason) and the old generation keeps serving.
 *
 * Every test runs the real `handoff run` in the background with a private
 * directory, on a free port, with the test server as its program; it waits
 * for log lines or commands, never for a fixed time, and stops every
 * process it started.
 */
#include "autoconf.h"

#include <criterion/criterion.h>
#include <json.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "support.h"

#define MAX_PIDS	64

/* A supervisor started by a test. */
struct hc {
	char	*dir;		/* private directory, removed at the end */
	char	 config[PATH_MAX];
	char	 log[PATH_MAX];
	char	 unix_path[108];	/* the listener if unix, else "" */
	int	 port;		/* the listener if TCP */
	struct handoff_proc hp;
};

/* The supervisor of the running test, for hc_fini. */
static struct hc *current;

/* Wait for count log lines with needle; fail with the log if they never come. */
static void
hc_expect_log(struct hc *c, const char *needle, int count)
{
	char *text;

	if (support_handoff_wait_log(&c->hp, needle, count) == 0)
		return;
	text = support_handoff_log(&c->hp);
	cr_assert_fail("the log never had %d line(s) with \"%s\":\n%s", count,
	    needle, text);
}

/* Write the config: listener web, program app running testserver ARGS. */
static void
hc_write_config(struct hc *c, int workers, const char *args, const char *keys)
{
	char listen[160], text[4096], *path;

	if (c->unix_path[0] != '\0')
		snprintf(listen, sizeof(listen), "unix:%s", c->unix_path);
	else
		snprintf(listen, sizeof(listen), "127.0.0.1:%d", c->port);
	cr_assert((size_t)snprintf(text, sizeof(text),
	    "[supervisor]\n"
	    "name = healthtest\n"
	    "control = %s/ctl.sock\n"
	    "pidfile = %s/handoff.pid\n"
	    "\n"
	    "[listener web]\n"
	    "listen = %s\n"
	    "\n"
	    "[program app]\n"
	    "command = %s %s\n"
	    "listeners = web\n"
	    "workers = %d\n"
	    "%s",
	    c->dir, c->dir, listen, support_env("HANDOFF_TESTSERVER"), args,
	    workers, keys) < sizeof(text));
	path = support_write_file(c->dir, "handoff.ini", text);
	free(path);
}

/* A supervisor's directory and config, on TCP or on a unix socket. */
static struct hc *
hc_new(bool on_unix, int workers, const char *args, const char *keys)
{
	struct hc *c = calloc(1, sizeof(*c));

	cr_assert(c != NULL);
	c->dir = support_tmpdir();
	snprintf(c->config, sizeof(c->config), "%s/handoff.ini", c->dir);
	snprintf(c->log, sizeof(c->log), "%s/handoff.log", c->dir);
	if (on_unix)
		cr_assert((size_t)snprintf(c->unix_path, sizeof(c->unix_path),
		    "%s/app.sock", c->dir) < sizeof(c->unix_path));
	else
		c->port = support_free_port();
	c->hp.pid = -1;
	c->hp.pidfd = -1;
	c->hp.exit_code = -1;
	hc_write_config(c, workers, args, keys);
	current = c;
	return c;
}

/* Start `handoff run -c CONFIG`; wait until its first generation is ready. */
static void
hc_start(struct hc *c)
{
	cr_assert_eq(support_handoff_start(&c->hp, c->config, c->log), 0,
	    "cannot start handoff run -c %s", c->config);
	hc_expect_log(c, "started: ", 1);
}

/* `handoff CMD ARGS... -c CONFIG` (up to three args); its exit code. */
static int
hc_cmd(struct hc *c, struct run_result *res, const char *cmd, const char *a1,
    const char *a2)
{
	if (a1 == NULL)
		return support_handoff_cmd(res, cmd, "-c", c->config, NULL);
	if (a2 == NULL)
		return support_handoff_cmd(res, cmd, a1, "-c", c->config, NULL);
	return support_handoff_cmd(res, cmd, a1, a2, "-c", c->config, NULL);
}

/* GET / on the listener: the support_http result; *body the answer. */
static int
hc_get(struct hc *c, char **body)
{
	if (c->unix_path[0] != '\0')
		return support_http_get_unix(c->unix_path, "/", body);
	return support_http_get(c->port, "/", body);
}

/* n requests in a row, every one served by generation gen. */
static void
hc_expect_served_by(struct hc *c, int gen, int n)
{
	char *body, want[32];
	int i, rc;

	snprintf(want, sizeof(want), "gen=%d ", gen);
	for (i = 0; i < n; i++) {
		body = NULL;
		rc = hc_get(c, &body);
		cr_assert_eq(rc, SUPPORT_HTTP_OK, "request %d of %d: %s", i + 1, n,
		    support_http_name(rc));
		cr_assert(body != NULL && strstr(body, want) != NULL,
		    "request %d of %d: answered \"%s\", not by generation %d",
		    i + 1, n, body ? body : "", gen);
		free(body);
	}
}

/*
 * Wait (up to the deadline) until a request is served by generation gen:
 * after a listener was shut down, until the supervisor repaired it.
 */
static void
hc_wait_served_by(struct hc *c, int gen)
{
	long long deadline = support_now_ms() + SUPPORT_DEADLINE_MS;
	char *body, want[32];
	int rc;

	snprintf(want, sizeof(want), "gen=%d ", gen);
	for (;;) {
		body = NULL;
		rc = hc_get(c, &body);
		if (rc == SUPPORT_HTTP_OK && body != NULL &&
		    strstr(body, want) != NULL) {
			free(body);
			return;
		}
		free(body);
		cr_assert(support_now_ms() < deadline, "no request served by "
		    "generation %d for %d ms after the listener was shut down "
		    "(last: %s)", gen, SUPPORT_DEADLINE_MS, support_http_name(rc));
		/* Polling, with a deadline: the repair is not an event here. */
		usleep(20 * 1000);
	}
}

/* `handoff status --json`, parsed. */
static json_object *
hc_status_json(struct hc *c)
{
	struct run_result res;
	json_object *root;

	cr_assert_eq(hc_cmd(c, &res, "status", "--json", NULL), 0,
	    "handoff status --json failed: %s", res.err);
	root = json_tokener_parse(res.out);
	cr_assert(root != NULL, "handoff status --json is not JSON: %s", res.out);
	support_result_free(&res);
	return root;
}

/* obj[key], which must be there. */
static json_object *
hc_get_key(json_object *obj, const char *key)
{
	json_object *val;

	cr_assert(json_object_object_get_ex(obj, key, &val), "no \"%s\" in %s",
	    key, json_object_to_json_string(obj));
	return val;
}

/* The element of array whose key has the string or int value; NULL if none. */
static json_object *
hc_find(json_object *array, const char *key, const char *str, int num)
{
	json_object *item, *val;
	size_t i;

	for (i = 0; i < json_object_array_length(array); i++) {
		item = json_object_array_get_idx(array, i);
		if (!json_object_object_get_ex(item, key, &val))
			continue;
		if (str != NULL ? strcmp(json_object_get_string(val), str) == 0 :
		    json_object_get_int(val) == num)
			return item;
	}
	return NULL;
}

/* Status JSON of program app. */
static json_object *
hc_program(json_object *root)
{
	json_object *prog = hc_find(hc_get_key(root, "programs"), "name", "app", 0);

	cr_assert(prog != NULL, "no program app in %s",
	    json_object_to_json_string(root));
	return prog;
}

/* Status JSON of generation number of program app, which must be there. */
static json_object *
hc_generation(json_object *root, int number)
{
	json_object *gen = hc_find(hc_get_key(hc_program(root), "generations"),
	    "number", NULL, number);

	cr_assert(gen != NULL, "no generation %d in %s", number,
	    json_object_to_json_string(root));
	return gen;
}

/* A string field of obj. */
static const char *
hc_str(json_object *obj, const char *key)
{
	return json_object_get_string(hc_get_key(obj, key));
}

/* Generation number of app is its current one, and running. */
static void
hc_expect_current(json_object *root, int number)
{
	cr_expect_eq(json_object_get_int(hc_get_key(hc_program(root),
	    "current_generation")), number);
	cr_expect_str_eq(hc_str(hc_generation(root, number), "state"),
	    "running");
}

/* The `handoff status` table shows needle. */
static void
hc_expect_table(struct hc *c, const char *needle)
{
	struct run_result res;

	cr_assert_eq(hc_cmd(c, &res, "status", NULL, NULL), 0);
	cr_expect(strstr(res.out, needle) != NULL, "the status table does not "
	    "show \"%s\":\n%s", needle, res.out);
	support_result_free(&res);
}

/*
 * Stop the supervisor (`handoff stop --timeout 1s`: old generations that
 * drain for minutes are killed); it must exit 0 and leave nothing.
 */
static void
hc_stop(struct hc *c)
{
	struct run_result res;
	pid_t left[MAX_PIDS];
	int i, n, code;

	code = hc_cmd(c, &res, "stop", "--timeout", "1s");
	cr_expect_eq(code, 0, "handoff stop exited %d: %s", code, res.err);
	support_result_free(&res);
	cr_expect_eq(support_handoff_wait_exit(&c->hp, SUPPORT_DEADLINE_MS), 0,
	    "the supervisor did not exit 0");
	n = support_tagged_pids(c->hp.tag, left, MAX_PIDS);
	for (i = 0; i < n && i < MAX_PIDS; i++)
		cr_expect_fail("pid %d, started by the supervisor, is still alive",
		    (int)left[i]);
}

/* After each test: stop what still runs, kill what it left, remove files. */
static void
hc_fini(void)
{
	struct hc *c = current;
	pid_t left[MAX_PIDS];
	int i, n;

	if (c == NULL)
		return;
	current = NULL;
	if (c->hp.pid > 0 && c->hp.exit_code == -1)
		support_handoff_stop(&c->hp, SIGINT);
	if (c->hp.tag != NULL) {
		n = support_tagged_pids(c->hp.tag, left, MAX_PIDS);
		for (i = 0; i < n && i < MAX_PIDS; i++)
			kill(left[i], SIGKILL);
	}
	support_handoff_free(&c->hp);
	support_rmtree(c->dir);
	free(c->dir);
	free(c);
}

TestSuite(health, .fini = hc_fini, .timeout = 120);

/*
 * The old generation's worker shuts the listener down (how: rd or rdwr) as
 * it stops, and stays alive draining. The supervisor notices at once (not
 * when the worker exits) and repairs the listener: a TCP one listens again
 * and generation 2 serves on; a unix one cannot, so a fresh socket is bound
 * at the path and generation 3 started on it, while 2, holding the dead
 * socket, drains. A warning names listener and program; status shows the
 * repair.
 */
static void
hc_listener_shut_down(bool on_unix, const char *how)
{
	int serving = on_unix ? 3 : 2, code;
	struct run_result res;
	json_object *root, *l;
	char args[64], *text;
	struct hc *c;

	snprintf(args, sizeof(args), "--shutdown-on-stop %s --drain-delay 10m",
	    how);
	c = hc_new(on_unix, 1, args, "drain_timeout = 10m\n");
	hc_start(c);
	hc_expect_served_by(c, 1, 1);
	/* reload waits for the old generation to be gone: not here. */
	code = hc_cmd(c, &res, "reload", "--no-wait", NULL);
	cr_assert_eq(code, 0, "handoff reload --no-wait exited %d: %s", code,
	    res.err);
	support_result_free(&res);
	hc_expect_log(c, "app gen 2 took over", 1);
	/* The old worker shut its listener down, and drains on. */
	hc_expect_log(c, "shut down 1 listener(s)", 1);
	hc_wait_served_by(c, serving);
	hc_expect_served_by(c, serving, 10);
	hc_expect_log(c, on_unix ? "bound a fresh socket" : "listening again", 1);

	text = support_handoff_log(&c->hp);
	cr_expect(strstr(text, "listener web ") != NULL &&
	    strstr(text, "(program app): shut down by a process holding it") !=
	    NULL, "the warning names neither listener nor program:\n%s", text);
	free(text);

	root = hc_status_json(c);
	hc_expect_current(root, serving);
	cr_expect_str_eq(hc_str(hc_generation(root, 1), "state"), "draining",
	    "the old generation is still draining after the repair");
	if (on_unix)
		cr_expect_str_eq(hc_str(hc_generation(root, 2), "state"),
		    "draining", "generation 2 held the dead socket");
	l = hc_find(hc_get_key(root, "listeners"), "name", "web", 0);
	cr_assert(l != NULL);
	cr_expect_str_eq(hc_str(l, "health"), "repaired");
	cr_expect_eq(json_object_get_int(hc_get_key(l, "repairs")), 1);
	json_object_put(root);

	hc_expect_table(c, "repaired 1 time");
	hc_stop(c);
}

/* A TCP listener shut down (SHUT_RDWR: EPOLLHUP) listens again. */
Test(health, tcp_listener_shut_down_by_a_worker_listens_again)
{
	hc_listener_shut_down(false, "rdwr");
}

/* A unix listener shut down (SHUT_RD: EPOLLRDHUP only) gets a fresh socket. */
Test(health, unix_listener_shut_down_by_a_worker_gets_a_fresh_socket)
{
	hc_listener_shut_down(true, "rd");
}

/*
 * A new generation becomes ready, then crashes 200ms later, within its
 * probation of 2s: the reload fails with the reason, and the old
 * generation still serves and is still the current one.
 */
Test(health, crash_on_probation_fails_the_reload)
{
	struct hc *c = hc_new(false, 1, "", "probation = 2s\n");
	struct run_result res;
	json_object *root, *last;
	int code;

	hc_start(c);
	hc_expect_served_by(c, 1, 1);
	hc_write_config(c, 1, "--crash-after 200ms", "probation = 2s\n");
	code = hc_cmd(c, &res, "reload", NULL, NULL);
	cr_expect_eq(code, 1, "handoff reload exited %d (want 1):\n%s%s", code,
	    res.out, res.err);
	cr_expect(strstr(res.out, "app gen 2 ready 1/1, on probation for 2s") !=
	    NULL, "no progress line for the probation:\n%s", res.out);
	cr_expect(strstr(res.err, "after ready, within its probation of 2s") !=
	    NULL && strstr(res.err, "exited with status 3") != NULL,
	    "the failure does not say why:\n%s", res.err);
	support_result_free(&res);

	hc_expect_served_by(c, 1, 10);
	root = hc_status_json(c);
	hc_expect_current(root, 1);
	cr_expect_eq(json_object_get_int(hc_get_key(hc_generation(root, 1),
	    "probation_ms")), 2000);
	last = hc_get_key(root, "last_reload");
	cr_expect(!json_object_get_boolean(hc_get_key(last, "ok")));
	json_object_put(root);
	hc_stop(c);
}

/*
 * A new generation that stays up through its probation takes over: the
 * reload shows the probation and exits 0; the new generation serves.
 */
Test(health, probation_passed_takes_over)
{
	struct hc *c = hc_new(false, 2, "", "probation = 300ms\n");
	struct run_result res;
	json_object *root;
	int code;

	hc_start(c);
	hc_expect_served_by(c, 1, 1);
	code = hc_cmd(c, &res, "reload", NULL, NULL);
	cr_expect_eq(code, 0, "handoff reload exited %d:\n%s%s", code, res.out,
	    res.err);
	cr_expect(strstr(res.out, "app gen 2 ready 2/2, on probation for 300ms") !=
	    NULL && strstr(res.out, "app gen 2 passed its probation") != NULL &&
	    strstr(res.out, "app gen 2 took over") != NULL,
	    "the progress does not show the probation:\n%s", res.out);
	support_result_free(&res);

	hc_expect_served_by(c, 2, 10);
	root = hc_status_json(c);
	hc_expect_current(root, 2);
	cr_expect(!json_object_get_boolean(hc_get_key(hc_generation(root, 2),
	    "on_probation")));
	json_object_put(root);
	hc_stop(c);
}

/*
 * While a new generation is on probation, status says so; the old one is
 * still the current one.
 */
Test(health, status_shows_a_generation_on_probation)
{
	struct hc *c = hc_new(false, 1, "", "probation = 1h\n");
	struct run_result res;
	json_object *root, *gen;
	int code;

	hc_start(c);
	code = hc_cmd(c, &res, "reload", "--no-wait", NULL);
	cr_assert_eq(code, 0, "handoff reload --no-wait exited %d: %s", code,
	    res.err);
	support_result_free(&res);
	hc_expect_log(c, "app gen 2: ready 1/1 in ", 1);

	root = hc_status_json(c);
	gen = hc_generation(root, 2);
	cr_expect_str_eq(hc_str(gen, "state"), "starting");
	cr_expect(json_object_get_boolean(hc_get_key(gen, "on_probation")));
	cr_expect_eq(json_object_get_int64(hc_get_key(gen, "probation_ms")),
	    3600000);
	cr_expect_eq(json_object_get_int(hc_get_key(hc_program(root),
	    "current_generation")), 1);
	json_object_put(root);

	hc_expect_table(c, "probation");
	hc_stop(c);
}
