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
 * Supervisors come from the harness (tc_new, tc_start), two workers each.
 */
#include "autoconf.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

#define NDAEMONS	2	/* one per worker */

/* Daemons the running test saw: their environment no longer tags them. */
static pid_t daemons[4 * NDAEMONS];
static int ndaemons;

/* After each test: the daemons first (they would hold up a stop). */
static void
td_fini(void)
{
	int i;

	for (i = 0; i < ndaemons; i++)
		if (support_pid_alive(daemons[i]))
			kill(daemons[i], SIGKILL);
	ndaemons = 0;
	tc_fini();
}

/* Start s with HANDOFF_DESCENDANTS=method (NULL: unset). */
static void
td_start(struct sup *s, const char *method)
{
	if (method != NULL)
		setenv("HANDOFF_DESCENDANTS", method, 1);
	else
		unsetenv("HANDOFF_DESCENDANTS");
	tc_start(s);
}

/*
 * The daemons generation gen spawned, one per worker, from the workers'
 * "spawned daemon pid D" lines (gen 1's come first); noted for td_fini.
 */
static void
td_daemons(struct sup *s, int gen, pid_t *pids)
{
	static const char marker[] = "spawned daemon pid ";
	char prefix[64], *line;
	int k;

	snprintf(prefix, sizeof(prefix), "app gen %d pid ", gen);
	for (k = 0; k < NDAEMONS; k++) {
		line = support_handoff_wait_line(&s->hp, marker,
		    (gen - 1) * NDAEMONS + k + 1);
		cr_assert(line != NULL && strstr(line, prefix) != NULL,
		    "no daemon of gen %d:\n%s", gen, tc_log_text(s));
		pids[k] = (pid_t)atoi(strstr(line, marker) + strlen(marker));
		free(line);
		cr_assert_gt(pids[k], 0);
		cr_assert(ndaemons < (int)(sizeof(daemons) / sizeof(daemons[0])));
		daemons[ndaemons++] = pids[k];
	}
}

/* Generation number of program "app" in a status, or NULL. */
static json_object *
td_gen(json_object *root, int number)
{
	json_object *gens = tc_json_at(root, "programs", "0", "generations",
	    NULL);
	size_t i;

	for (i = 0; gens != NULL && i < json_object_array_length(gens); i++)
		if (tc_json_int(tc_json_at(json_object_array_get_idx(gens, i),
		    "number", NULL)) == number)
			return json_object_array_get_idx(gens, i);
	return NULL;
}

/* Tell whether a generation's descendant_pids lists pid. */
static bool
td_lists(json_object *gen, pid_t pid)
{
	json_object *pids = tc_json_at(gen, "descendant_pids", NULL);
	size_t i;

	for (i = 0; pids != NULL && i < json_object_array_length(pids); i++)
		if (tc_json_int(json_object_array_get_idx(pids, i)) == pid)
			return true;
	return false;
}

/* GET / until a response comes from pid (the daemon serves too). */
static void
td_expect_served_by(struct sup *s, pid_t pid)
{
	long long deadline = support_now_ms() + DEADLINE_MS;
	int gen;
	pid_t from;

	while (support_now_ms() < deadline) {
		cr_assert_eq(tc_http_get(s->port, &gen, &from), SUPPORT_HTTP_OK);
		if (from == pid)
			return;
	}
	cr_assert_fail("pid %d never answered on port %d", (int)pid, s->port);
}

/* Tell whether pid has an fd open on target ("socket:[123]"). */
static bool
td_holds(pid_t pid, const char *target)
{
	char path[320], link[128];
	struct dirent *de;
	bool found = false;
	ssize_t n;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	if ((dir = opendir(path)) == NULL)
		return false;
	while (!found && (de = readdir(dir)) != NULL) {
		snprintf(path, sizeof(path), "/proc/%d/fd/%s", (int)pid,
		    de->d_name);
		if ((n = readlink(path, link, sizeof(link) - 1)) > 0) {
			link[n] = '\0';
			found = strcmp(link, target) == 0;
		}
	}
	closedir(dir);
	return found;
}

/* What pid's fd 3, the listener a worker gets, is: "socket:[123]". */
static char *
td_listener_of(pid_t pid)
{
	char path[64], link[128];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/fd/3", (int)pid);
	n = readlink(path, link, sizeof(link) - 1);
	cr_assert(n > 0, "%s: %s", path, strerror(errno));
	link[n] = '\0';
	cr_assert(strncmp(link, "socket:[", 8) == 0, "%s is %s", path, link);
	return tc_printf("%s", link);
}

/* Wait until pid no longer holds the listener: it was told to stop. */
static void
td_expect_closed(pid_t pid, const char *listener)
{
	long long deadline = support_now_ms() + DEADLINE_MS;

	while (td_holds(pid, listener)) {
		cr_assert(support_now_ms() < deadline, "pid %d still holds the "
		    "listener %s: it was not told to stop", (int)pid, listener);
		usleep(10 * 1000);	/* the poll's interval */
	}
}

/* The status table (`handoff status`) has a descendant row for pid of gen. */
static bool
td_table_shows(struct sup *s, int gen, pid_t pid)
{
	struct run_result res;
	bool found = false;
	char *line, *save;

	cr_assert_eq(support_handoff_cmd(&res, "status", "-c", s->config, NULL),
	    0, "handoff status failed: %s", res.err);
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

/* ---- daemons that left their worker's session ------------------------ */

/*
 * After a reload, the old generation's daemons are told to stop with it
 * (no answer comes from them once they closed their listener), status
 * shows them while they linger, and the generation is gone only once they
 * are.
 */
static void
td_daemons_drain_with_their_generation(const char *method)
{
	struct sup *s = tc_new("--spawn-daemon", "drain_timeout = 60s\n");
	pid_t old[NDAEMONS], new[NDAEMONS];
	json_object *root, *gen;
	char *cgroup = NULL, *gen_cgroup = NULL, *listener;
	int i, k, g;
	struct stat st;
	pid_t from;

	td_start(s, method);
	td_daemons(s, 1, old);
	root = tc_status_json(s);
	cr_assert_str_eq(tc_json_str(tc_json_at(root, "supervisor",
	    "descendant_tracking", NULL)), method, "status: %s",
	    json_object_to_json_string(root));
	gen = td_gen(root, 1);
	cr_assert_eq(tc_json_int(tc_json_at(gen, "descendants", NULL)), NDAEMONS,
	    "%s", json_object_to_json_string(gen));
	for (k = 0; k < NDAEMONS; k++)
		cr_assert(td_lists(gen, old[k]), "gen 1 does not list daemon pid "
		    "%d: %s", (int)old[k], json_object_to_json_string(gen));
	if (strcmp(method, "cgroup") == 0) {
		cgroup = strdup(tc_json_str(tc_json_at(root, "supervisor",
		    "cgroup", NULL)));
		cr_assert(cgroup != NULL && *cgroup == '/', "no cgroup in status");
		gen_cgroup = tc_printf("%s/gen1.app", cgroup);
		cr_assert(stat(gen_cgroup, &st) == 0, "%s: %s", gen_cgroup,
		    strerror(errno));
	}
	json_object_put(root);
	for (k = 0; k < NDAEMONS; k++)
		td_expect_served_by(s, old[k]);
	listener = td_listener_of(old[0]);

	kill(s->hp.pid, SIGHUP);
	tc_expect_log(s, "app gen 2 took over", 1);
	td_daemons(s, 2, new);
	tc_expect_log(s, "app gen 1 worker 0 pid", 1);	/* it exited */
	tc_expect_log(s, "app gen 1 worker 1 pid", 1);

	/* Its workers exited; its daemons were told to stop as well. */
	for (k = 0; k < NDAEMONS; k++)
		td_expect_closed(old[k], listener);
	for (i = 0; i < 40; i++) {
		cr_assert_eq(tc_http_get(s->port, &g, &from), SUPPORT_HTTP_OK);
		cr_assert_eq(g, 2, "request %d answered by pid %d of gen %d after "
		    "the reload", i, (int)from, g);
	}
	root = tc_status_json(s);
	gen = td_gen(root, 1);
	cr_assert(gen != NULL, "gen 1 is not in status while its daemons live: "
	    "%s", json_object_to_json_string(root));
	cr_assert_str_eq(tc_json_str(tc_json_at(gen, "state", NULL)), "draining");
	for (k = 0; k < NDAEMONS; k++) {
		cr_assert(support_pid_alive(old[k]), "daemon pid %d exited early",
		    (int)old[k]);
		cr_assert(td_lists(gen, old[k]), "gen 1 does not list daemon pid "
		    "%d: %s", (int)old[k], json_object_to_json_string(gen));
		cr_assert(td_table_shows(s, 1, old[k]), "the status table shows no "
		    "row for daemon pid %d", (int)old[k]);
	}
	json_object_put(root);

	/* The generation is gone once the last daemon is, not before. */
	kill(old[0], SIGUSR2);
	root = tc_status_json(s);
	cr_assert(td_gen(root, 1) != NULL, "gen 1 gone while daemon pid %d "
	    "lives", (int)old[1]);
	json_object_put(root);
	cr_assert_eq(tc_log_count(s, "app gen 1: gone"), 0,
	    "gen 1 reported gone while its daemon pid %d lives:\n%s",
	    (int)old[1], tc_log_text(s));
	kill(old[1], SIGUSR2);
	tc_expect_log(s, "app gen 1: gone", 1);
	for (k = 0; k < NDAEMONS; k++)
		cr_assert(!support_pid_alive(old[k]), "gen 1 reported gone while "
		    "its daemon pid %d lives", (int)old[k]);
	root = tc_status_json(s);	/* answered once gen 1 is freed */
	cr_assert(td_gen(root, 1) == NULL, "gone gen 1 is still in status");
	json_object_put(root);
	if (gen_cgroup != NULL)
		cr_assert(stat(gen_cgroup, &st) == -1 && errno == ENOENT,
		    "the cgroup %s of gone gen 1 is still there", gen_cgroup);

	/* Stopping drains gen 2 and its daemons the same way. */
	kill(s->hp.pid, SIGTERM);
	tc_expect_log(s, "SIGTERM: stopping gracefully", 1);
	for (k = 0; k < NDAEMONS; k++)
		kill(new[k], SIGUSR2);
	cr_assert_eq(tc_wait_exit(s, DEADLINE_MS), 0, "the supervisor did not "
	    "stop cleanly:\n%s", tc_log_text(s));
	for (k = 0; k < NDAEMONS; k++)
		cr_assert(!support_pid_alive(new[k]));
	if (cgroup != NULL)
		cr_assert(stat(cgroup, &st) == -1 && errno == ENOENT,
		    "the supervisor's cgroup %s is still there", cgroup);
	tc_expect_all_gone(s);
	free(cgroup);
	free(gen_cgroup);
	free(listener);
}

Test(descendants, cgroup_daemons_drain_with_their_generation, .fini = td_fini)
{
	td_daemons_drain_with_their_generation("cgroup");
}

Test(descendants, proc_daemons_drain_with_their_generation, .fini = td_fini)
{
	td_daemons_drain_with_their_generation("proc");
}

Test(descendants, subreaper_daemons_drain_with_their_generation,
    .fini = td_fini)
{
	td_daemons_drain_with_their_generation("subreaper");
}

/* Daemons that ignore the stop signal die at drain_timeout. */
static void
td_stubborn_daemons_killed_at_drain_timeout(const char *method)
{
	struct sup *s = tc_new("--spawn-daemon --daemon-ignore-term",
	    "drain_timeout = 1s\n");
	pid_t old[NDAEMONS], new[NDAEMONS];
	char *line, *text;
	int k;

	td_start(s, method);
	td_daemons(s, 1, old);
	kill(s->hp.pid, SIGHUP);
	td_daemons(s, 2, new);
	tc_expect_log(s, "app gen 1: gone", 1);
	for (k = 0; k < NDAEMONS; k++)
		cr_assert(!support_pid_alive(old[k]), "daemon pid %d outlived its "
		    "generation", (int)old[k]);
	text = tc_log_text(s);
	cr_assert(tc_in_order(text, "app gen 1: still running after "
	    "drain_timeout 1s", "app gen 1: gone", NULL), "gen 1 was gone "
	    "before its daemons were killed at drain_timeout:\n%s", text);
	free(text);
	/* Its workers have most likely exited on SIGTERM; the daemons have not. */
	line = support_handoff_wait_line(&s->hp, "app gen 1: still running", 1);
	cr_assert(line != NULL && strstr(line, " and 2 processes outside them") !=
	    NULL, "drain_timeout did not count the daemons: %s", line);
	free(line);
	tc_stop(s);
}

Test(descendants, cgroup_stubborn_daemons_killed_at_drain_timeout,
    .fini = td_fini)
{
	td_stubborn_daemons_killed_at_drain_timeout("cgroup");
}

Test(descendants, proc_stubborn_daemons_killed_at_drain_timeout,
    .fini = td_fini)
{
	td_stubborn_daemons_killed_at_drain_timeout("proc");
}

Test(descendants, subreaper_stubborn_daemons_killed_at_drain_timeout,
    .fini = td_fini)
{
	td_stubborn_daemons_killed_at_drain_timeout("subreaper");
}

Test(descendants, unknown_method_refused, .fini = td_fini)
{
	struct sup *s = tc_new("", "");

	setenv("HANDOFF_DESCENDANTS", "cgroups", 1);
	tc_expect_start_refused(s, "HANDOFF_DESCENDANTS=cgroups: unknown way to "
	    "track worker descendants (use auto, cgroup, proc or subreaper)");
}

/* ---- crash storms ------------------------------------------------------ */

/* Poll status until fn(gen 1) says yes; return that status. */
static json_object *
td_status_until(struct sup *s, bool (*fn)(json_object *gen, void *arg),
    void *arg, const char *what)
{
	long long deadline = support_now_ms() + DEADLINE_MS;
	json_object *root;

	for (;;) {
		root = tc_status_json(s);
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
	return tc_json_int(tc_json_at(gen, "workers_ready", NULL)) == 2;
}

/* The worker whose pid was *arg has been reaped. */
static bool
td_worker_gone(json_object *gen, void *arg)
{
	json_object *workers = tc_json_at(gen, "workers", NULL);
	pid_t pid = *(pid_t *)arg;
	size_t i;

	for (i = 0; workers != NULL && i < json_object_array_length(workers); i++)
		if (tc_json_int(tc_json_at(json_object_array_get_idx(workers, i),
		    "pid", NULL)) == pid)
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
	struct sup *s = tc_new("", "restart = always\n");
	json_object *root, *w;
	pid_t pids[2];
	int64_t backoff, restart_in, longest = 0;
	int round, k;
	char *state;

	td_start(s, NULL);
	for (round = 0; round < 20 && longest < 1600; round++) {
		root = td_status_until(s, td_all_ready, NULL, "2 workers ready");
		for (k = 0; k < 2; k++) {
			pids[k] = (pid_t)tc_json_int(tc_json_at(td_gen(root, 1),
			    "workers", k ? "1" : "0", "pid", NULL));
			cr_assert_gt(pids[k], 0);
		}
		json_object_put(root);
		/* One down, one ready: the first waits its whole backoff. */
		kill(pids[0], SIGKILL);
		json_object_put(td_status_until(s, td_worker_gone, &pids[0],
		    "worker 0 reaped"));
		kill(pids[1], SIGKILL);
		root = td_status_until(s, td_worker_gone, &pids[1],
		    "worker 1 reaped");
		/* Early rounds may have restarted one already. */
		for (k = 0; tc_json_int(tc_json_at(td_gen(root, 1), "workers_ready",
		    NULL)) == 0 && k < 2; k++) {
			w = tc_json_at(td_gen(root, 1), "workers", k ? "1" : "0",
			    NULL);
			state = strdup(tc_json_str(tc_json_at(w, "state", NULL)));
			backoff = tc_json_int(tc_json_at(w, "backoff_ms", NULL));
			restart_in = tc_json_int(tc_json_at(w, "restart_in_ms", NULL));
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
	json_object_put(td_status_until(s, td_all_ready, NULL,
	    "2 workers ready after the storm"));
	tc_stop(s);
}
