/*
 * test_descendants.c: processes that leave their worker's process group
 * belong to its generation all the same, and a crash storm does not leave
 * a program with nothing accepting for a whole backoff.
 *
 * The descendants tests run once per way of tracking them, forced with
 * HANDOFF_DESCENDANTS (cgroup, proc, subreaper), and check in status that
 * the way asked for is the one in use. The test server's --spawn-daemon
 * double-forks a daemon into a session of its own that keeps serving the
 * listener and overwrites its environment, as setproctitle does; it
 * lingers after SIGTERM until SIGUSR2, so a test decides when it goes.
 *
 * Every test runs the real `handoff run` in the background with a private
 * directory, on a free port; it waits for log lines or polls status with a
 * deadline, never for a fixed time, and kills every process it started.
 */
#include "autoconf.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <json.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "support.h"
#include "support_json.h"

#define DEADLINE_MS	SUPPORT_DEADLINE_MS
#define MAX_PIDS	16

#define td_printf	support_printf		/* asprintf that cannot fail */
#define td_at		support_json_at		/* a member at a path of keys */
#define td_int		support_json_int	/* an integer member, or -1 */
#define td_str		support_json_str	/* a string member, or "" */

/* The supervisor of the running test and what the test learnt about it. */
static struct {
	char	*dir;		/* private directory, removed at the end */
	char	*config;
	char	*log;
	int	 port;
	struct handoff_proc hp;
	pid_t	 pids[MAX_PIDS];	/* daemons and workers seen, killed at the end */
	int	 npids;
} t = { .hp = { .pid = -1, .pidfd = -1, .exit_code = -1 } };

/* The supervisor's log so far. */
static char *
td_log_text(void)
{
	char *text = support_read_file(t.log);

	return text != NULL ? text : td_printf("%s", "");
}

/* Wait for count log lines with needle; fail with the log if not. */
static void
td_expect_log(const char *needle, int count)
{
	if (support_handoff_wait_log(&t.hp, needle, count) == 0)
		return;
	cr_assert_fail("the log never had %d line(s) with \"%s\":\n%s", count,
	    needle, td_log_text());
}

/* How many lines of the log contain needle. */
static int
td_log_count(const char *needle)
{
	char *text = td_log_text();
	int n = support_count_lines(text, needle);

	free(text);
	return n;
}

/* Where needle first is in the log, -1 if nowhere. */
static long
td_log_offset(const char *needle)
{
	char *text = td_log_text(), *at = strstr(text, needle);
	long offset = at != NULL ? at - text : -1;

	free(text);
	return offset;
}

/* Remember a pid to kill at the end, whatever happens. */
static void
td_saw(pid_t pid)
{
	int i;

	for (i = 0; i < t.npids; i++)
		if (t.pids[i] == pid)
			return;
	if (t.npids < MAX_PIDS)
		t.pids[t.npids++] = pid;
}

/*
 * Write the config (testserver ARGS, extra [program] KEYS) and start the
 * supervisor with HANDOFF_DESCENDANTS=method (NULL: unset).
 */
static void
td_launch(const char *method, const char *args, const char *keys)
{
	char *text, *path;

	t.dir = support_tmpdir();
	t.config = td_printf("%s/handoff.ini", t.dir);
	t.log = td_printf("%s/handoff.log", t.dir);
	t.port = support_free_port();
	text = td_printf(
	    "[supervisor]\n"
	    "control = %s/ctl.sock\n"
	    "log_level = debug\n"
	    "\n"
	    "[listener web]\n"
	    "listen = 127.0.0.1:%d\n"
	    "\n"
	    "[program app]\n"
	    "command = %s %s\n"
	    "listeners = web\n"
	    "ready_timeout = 20s\n"
	    "%s",
	    t.dir, t.port, support_env("HANDOFF_TESTSERVER"), args, keys);
	path = support_write_file(t.dir, "handoff.ini", text);
	free(path);
	free(text);
	if (method != NULL)
		setenv("HANDOFF_DESCENDANTS", method, 1);
	else
		unsetenv("HANDOFF_DESCENDANTS");
	cr_assert_eq(support_handoff_start(&t.hp, t.config, t.log), 0,
	    "cannot start handoff run -c %s", t.config);
}

/* td_launch, then wait until the supervisor started. */
static void
td_start(const char *method, const char *args, const char *keys)
{
	td_launch(method, args, keys);
	td_expect_log("started: ", 1);
}

/* After each test: stop what still runs, kill what it left, remove files. */
static void
td_fini(void)
{
	pid_t left[64];
	int i, n;

	for (i = 0; i < t.npids; i++)
		if (support_pid_alive(t.pids[i]))
			kill(t.pids[i], SIGKILL);
	if (t.hp.pid > 0 && t.hp.exit_code == -1)
		support_handoff_stop(&t.hp, SIGKILL);
	if (t.hp.tag != NULL) {
		n = support_tagged_pids(t.hp.tag, left, 64);
		for (i = 0; i < n && i < 64; i++)
			kill(left[i], SIGKILL);
	}
	support_handoff_free(&t.hp);
	if (t.dir != NULL)
		support_rmtree(t.dir);
	free(t.dir);
	free(t.config);
	free(t.log);
}

/* `handoff status --json`, parsed. */
static json_object *
td_status(void)
{
	struct run_result res;
	json_object *root;

	cr_assert_eq(support_handoff_cmd(&res, "status", "--json", "-c", t.config,
	    NULL), 0, "handoff status --json failed: %s", res.err);
	root = json_tokener_parse(res.out);
	cr_assert(root != NULL, "handoff status --json is not JSON: %s", res.out);
	support_result_free(&res);
	return root;
}

/* Generation number of program "app" in a status, or NULL. */
static json_object *
td_gen(json_object *root, int number)
{
	json_object *gens = td_at(root, "programs", "0", "generations", NULL);
	size_t i;

	for (i = 0; gens != NULL && i < json_object_array_length(gens); i++)
		if (td_int(td_at(json_object_array_get_idx(gens, i), "number",
		    NULL)) == number)
			return json_object_array_get_idx(gens, i);
	return NULL;
}

/* Tell whether a generation's descendant_pids lists pid. */
static bool
td_lists(json_object *gen, pid_t pid)
{
	json_object *pids = td_at(gen, "descendant_pids", NULL);
	size_t i;

	for (i = 0; pids != NULL && i < json_object_array_length(pids); i++)
		if (td_int(json_object_array_get_idx(pids, i)) == pid)
			return true;
	return false;
}

/* The pid after marker in the first log line with both needle and marker. */
static pid_t
td_log_pid(const char *needle, const char *marker)
{
	char *line = support_handoff_wait_line(&t.hp, needle, 1), *at;
	pid_t pid;

	cr_assert(line != NULL, "no log line with \"%s\":\n%s", needle,
	    td_log_text());
	at = strstr(line, marker);
	cr_assert(at != NULL, "no \"%s\" in: %s", marker, line);
	pid = (pid_t)atoi(at + strlen(marker));
	free(line);
	cr_assert_gt(pid, 0);
	return pid;
}

/* GET / until a response comes from pid (the daemon serves too). */
static void
td_expect_served_by(pid_t pid)
{
	long long deadline = support_now_ms() + DEADLINE_MS;
	char *body, want[64];
	int rc;

	snprintf(want, sizeof(want), "pid=%d ", (int)pid);
	while (support_now_ms() < deadline) {
		body = NULL;
		rc = support_http_get(t.port, "/", &body);
		cr_assert_eq(rc, SUPPORT_HTTP_OK, "GET /: %s", support_http_name(rc));
		if (strstr(body, want) != NULL) {
			free(body);
			return;
		}
		free(body);
	}
	cr_assert_fail("pid %d never answered on port %d", (int)pid, t.port);
}

/* Wait until pid has fewer than fds open: it closed its listener. */
static void
td_expect_fewer_fds(pid_t pid, int fds)
{
	long long deadline = support_now_ms() + DEADLINE_MS;
	int n;

	while ((n = support_fd_count(pid)) >= fds) {
		cr_assert(support_now_ms() < deadline, "pid %d still has %d fds "
		    "open (%d before it was told to stop)", (int)pid, n, fds);
		usleep(10 * 1000);	/* the poll's interval */
	}
}

/* The status table (`handoff status`) has a descendant row for pid of gen. */
static bool
td_table_shows(int gen, pid_t pid)
{
	struct run_result res;
	bool found = false;
	char *line, *save;

	cr_assert_eq(support_handoff_cmd(&res, "status", "-c", t.config, NULL), 0,
	    "handoff status failed: %s", res.err);
	for (line = strtok_r(res.out, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		char prog[64], state[32], worker[16], dstate[32];
		int g, p;
		if (sscanf(line, "%63s %d %31s %15s %d %31s", prog, &g, state,
		    worker, &p, dstate) == 6 && strcmp(prog, "app") == 0 &&
		    g == gen && p == pid && strcmp(worker, "-") == 0 &&
		    strcmp(dstate, "descendant") == 0)
			found = true;
	}
	support_result_free(&res);
	return found;
}

/* ---- a daemon that left its worker's session ------------------------ */

/*
 * After a reload, the old generation's daemon is told to stop with it (no
 * answer comes from it once its worker has exited), status shows it while
 * it lingers, and the generation is gone only once it is.
 */
static void
td_daemon_drains_with_its_generation(const char *method)
{
	json_object *root, *gen;
	pid_t worker, daemon1, daemon2;
	char needle[128], *cgroup = NULL, *gen_cgroup = NULL;
	int i, rc, fds;
	struct stat st;

	td_start(method, "--spawn-daemon", "drain_timeout = 60s\n");
	daemon1 = td_log_pid("app gen 1 pid", "spawned daemon pid ");
	worker = td_log_pid("app gen 1 pid", "app gen 1 pid ");
	td_saw(daemon1);
	td_saw(worker);
	cr_assert_neq(worker, daemon1);

	root = td_status();
	cr_assert_str_eq(td_str(td_at(root, "supervisor",
	    "descendant_tracking", NULL)),
	    method, "status: %s", json_object_to_json_string(root));
	gen = td_gen(root, 1);
	cr_assert(td_lists(gen, daemon1), "gen 1 does not list daemon pid %d: %s",
	    (int)daemon1, json_object_to_json_string(gen));
	cr_assert_eq(td_int(td_at(gen, "descendants", NULL)), 1, "%s",
	    json_object_to_json_string(gen));
	if (strcmp(method, "cgroup") == 0) {
		cgroup = strdup(td_str(td_at(root, "supervisor", "cgroup", NULL)));
		cr_assert(cgroup != NULL && *cgroup == '/', "no cgroup in status");
		gen_cgroup = td_printf("%s/gen1.app", cgroup);
		cr_assert(stat(gen_cgroup, &st) == 0, "%s: %s", gen_cgroup,
		    strerror(errno));
	}
	json_object_put(root);
	td_expect_served_by(daemon1);
	fds = support_fd_count(daemon1);

	kill(t.hp.pid, SIGHUP);
	td_expect_log("app gen 2 took over", 1);
	daemon2 = td_log_pid("app gen 2 pid", "spawned daemon pid ");
	td_saw(daemon2);
	snprintf(needle, sizeof(needle), "app gen 1 worker 0 pid %d: exited",
	    (int)worker);
	td_expect_log(needle, 1);

	/* Its worker is gone; its daemon was told to stop as well. */
	td_expect_fewer_fds(daemon1, fds);
	for (i = 0; i < 40; i++) {
		char *body = NULL;
		rc = support_http_get(t.port, "/", &body);
		cr_assert_eq(rc, SUPPORT_HTTP_OK, "GET /: %s", support_http_name(rc));
		cr_assert(strncmp(body, "gen=2 ", 6) == 0, "request %d answered "
		    "by the old generation after the reload: %s", i, body);
		free(body);
	}
	cr_assert(support_pid_alive(daemon1), "daemon pid %d exited early",
	    (int)daemon1);
	root = td_status();
	gen = td_gen(root, 1);
	cr_assert(gen != NULL, "gen 1 is not in status while its daemon lives: %s",
	    json_object_to_json_string(root));
	cr_assert_str_eq(td_str(td_at(gen, "state", NULL)), "draining");
	cr_assert(td_lists(gen, daemon1), "gen 1 does not list daemon pid %d: %s",
	    (int)daemon1, json_object_to_json_string(gen));
	json_object_put(root);
	cr_assert(td_table_shows(1, daemon1), "the status table shows no row for "
	    "daemon pid %d", (int)daemon1);
	cr_assert_eq(td_log_count("app gen 1: gone"), 0,
	    "gen 1 reported gone while its daemon pid %d lives:\n%s",
	    (int)daemon1, td_log_text());

	/* Once the daemon goes, so does its generation. */
	kill(daemon1, SIGUSR2);
	td_expect_log("app gen 1: gone", 1);
	cr_assert(!support_pid_alive(daemon1), "gen 1 reported gone while its "
	    "daemon pid %d lives", (int)daemon1);
	root = td_status();	/* answered once gen 1 is freed */
	cr_assert(td_gen(root, 1) == NULL, "gone gen 1 is still in status");
	json_object_put(root);
	if (gen_cgroup != NULL)
		cr_assert(stat(gen_cgroup, &st) == -1 && errno == ENOENT,
		    "the cgroup %s of gone gen 1 is still there", gen_cgroup);

	/* Stopping drains gen 2 and its daemon the same way. */
	kill(t.hp.pid, SIGTERM);
	td_expect_log("SIGTERM: stopping gracefully", 1);
	kill(daemon2, SIGUSR2);
	cr_assert_eq(support_handoff_wait_exit(&t.hp, DEADLINE_MS), 0,
	    "the supervisor did not stop cleanly:\n%s", td_log_text());
	cr_assert(!support_pid_alive(daemon2));
	if (cgroup != NULL)
		cr_assert(stat(cgroup, &st) == -1 && errno == ENOENT,
		    "the supervisor's cgroup %s is still there", cgroup);
	free(cgroup);
	free(gen_cgroup);
}

Test(descendants, cgroup_daemon_drains_with_its_generation, .fini = td_fini)
{
	td_daemon_drains_with_its_generation("cgroup");
}

Test(descendants, proc_daemon_drains_with_its_generation, .fini = td_fini)
{
	td_daemon_drains_with_its_generation("proc");
}

Test(descendants, subreaper_daemon_drains_with_its_generation, .fini = td_fini)
{
	td_daemon_drains_with_its_generation("subreaper");
}

/* A daemon that ignores the stop signal dies at drain_timeout. */
static void
td_stubborn_daemon_killed_at_drain_timeout(const char *method)
{
	pid_t daemon1;
	long killed, gone;
	char *line;

	td_start(method, "--spawn-daemon --daemon-ignore-term",
	    "drain_timeout = 1s\n");
	daemon1 = td_log_pid("app gen 1 pid", "spawned daemon pid ");
	td_saw(daemon1);
	kill(t.hp.pid, SIGHUP);
	td_saw(td_log_pid("app gen 2 pid", "spawned daemon pid "));
	td_expect_log("app gen 1: gone", 1);
	cr_assert(!support_pid_alive(daemon1), "daemon pid %d outlived its "
	    "generation", (int)daemon1);
	/* Its worker has most likely exited on SIGTERM; the daemon has not. */
	killed = td_log_offset("app gen 1: still running after drain_timeout 1s");
	gone = td_log_offset("app gen 1: gone");
	cr_assert(killed != -1 && killed < gone, "gen 1 was gone before its "
	    "daemon was killed at drain_timeout:\n%s", td_log_text());
	line = support_handoff_wait_line(&t.hp, "app gen 1: still running", 1);
	cr_assert(line != NULL && strstr(line, " and 1 process outside them") !=
	    NULL, "drain_timeout did not count the daemon: %s", line);
	free(line);
}

Test(descendants, cgroup_stubborn_daemon_killed_at_drain_timeout,
    .fini = td_fini)
{
	td_stubborn_daemon_killed_at_drain_timeout("cgroup");
}

Test(descendants, proc_stubborn_daemon_killed_at_drain_timeout,
    .fini = td_fini)
{
	td_stubborn_daemon_killed_at_drain_timeout("proc");
}

Test(descendants, subreaper_stubborn_daemon_killed_at_drain_timeout,
    .fini = td_fini)
{
	td_stubborn_daemon_killed_at_drain_timeout("subreaper");
}

Test(descendants, unknown_method_refused, .fini = td_fini)
{
	td_launch("cgroups", "", "");
	cr_assert_eq(support_handoff_wait_exit(&t.hp, DEADLINE_MS), 1,
	    "the supervisor did not refuse HANDOFF_DESCENDANTS=cgroups:\n%s",
	    td_log_text());
	cr_assert_eq(td_log_count("cannot start: HANDOFF_DESCENDANTS=cgroups: "
	    "unknown way to track worker descendants (use auto, cgroup, proc or "
	    "subreaper)"), 1, "%s", td_log_text());
	cr_assert_eq(td_log_count("starting 1 worker"), 0, "%s", td_log_text());
}

/* ---- crash storms ------------------------------------------------------ */

/* Poll status until fn(gen 1) says yes; return that status. */
static json_object *
td_status_until(bool (*fn)(json_object *gen, void *arg), void *arg,
    const char *what)
{
	long long deadline = support_now_ms() + DEADLINE_MS;
	json_object *root;

	for (;;) {
		root = td_status();
		if (fn(td_gen(root, 1), arg))
			return root;
		if (support_now_ms() > deadline)
			cr_assert_fail("status never showed %s: %s", what,
			    json_object_to_json_string(root));
		json_object_put(root);
	}
}

/* Every worker of the generation is ready. */
static bool
td_all_ready(json_object *gen, void *arg)
{
	(void)arg;
	return td_int(td_at(gen, "workers_ready", NULL)) == 2;
}

/* The worker whose pid was *arg has been reaped. */
static bool
td_worker_gone(json_object *gen, void *arg)
{
	json_object *workers = td_at(gen, "workers", NULL);
	pid_t pid = *(pid_t *)arg;
	size_t i;

	for (i = 0; workers != NULL && i < json_object_array_length(workers); i++)
		if (td_int(td_at(json_object_array_get_idx(workers, i), "pid",
		    NULL)) == pid)
			return false;
	return true;
}

/*
 * kill -9 every worker, again and again, so that their backoff grows past
 * a second: while none is ready, each restart is due within about a
 * second, and the backoff itself keeps growing.
 */
Test(backoff, restart_within_a_second_while_no_worker_is_ready,
    .fini = td_fini)
{
	json_object *root, *w;
	pid_t pids[2];
	int64_t backoff, restart_in, longest = 0;
	int round, k;
	char *state;

	td_start(NULL, "", "workers = 2\nrestart = always\n");
	for (round = 0; round < 20 && longest < 1600; round++) {
		root = td_status_until(td_all_ready, NULL, "2 workers ready");
		for (k = 0; k < 2; k++) {
			pids[k] = (pid_t)td_int(td_at(td_gen(root, 1), "workers",
			    k ? "1" : "0", "pid", NULL));
			cr_assert_gt(pids[k], 0);
			td_saw(pids[k]);
		}
		json_object_put(root);
		/* One down, one ready: the first waits its whole backoff. */
		kill(pids[0], SIGKILL);
		json_object_put(td_status_until(td_worker_gone, &pids[0],
		    "worker 0 reaped"));
		kill(pids[1], SIGKILL);
		root = td_status_until(td_worker_gone, &pids[1], "worker 1 reaped");
		/* Early rounds may have restarted one already. */
		for (k = 0; td_int(td_at(td_gen(root, 1), "workers_ready",
		    NULL)) == 0 && k < 2; k++) {
			w = td_at(td_gen(root, 1), "workers", k ? "1" : "0", NULL);
			state = strdup(td_str(td_at(w, "state", NULL)));
			backoff = td_int(td_at(w, "backoff_ms", NULL));
			restart_in = td_int(td_at(w, "restart_in_ms", NULL));
			cr_assert_gt(backoff, 0, "no backoff_ms: %s",
			    json_object_to_json_string(w));
			if (strcmp(state, "backoff") == 0) {
				cr_assert(restart_in >= 0 && restart_in <= 1000,
				    "round %d: worker %d waits %lldms (backoff "
				    "%lldms) while no worker is ready: %s", round, k,
				    (long long)restart_in, (long long)backoff,
				    json_object_to_json_string(root));
				if (backoff > longest)
					longest = backoff;
			}
			free(state);
		}
		json_object_put(root);
	}
	cr_assert_geq(longest, 1600, "the backoff never grew past a second");
	json_object_put(td_status_until(td_all_ready, NULL,
	    "2 workers ready after the storm"));
}
