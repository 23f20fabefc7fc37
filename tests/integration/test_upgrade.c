/*
 * test_upgrade.c: `handoff upgrade` replaces the supervisor's binary in
 * place: same pid, same workers, nothing lost under load; a binary that
 * is missing, fails its pre-flight or fails while restoring leaves the
 * old image in charge; other control clients connected at the exec are
 * told to ask again and end cleanly, not reset.
 */
#include "autoconf.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "load.h"

#define CLIENTS		8
#define UPGRADES	5

static struct load ld;

/* After each test: the load first, then the supervisors. */
static void
tu_fini(void)
{
	load_stop(&ld);
	memset(&ld, 0, sizeof(ld));
	tc_fini();
}

TestSuite(upgrade, .fini = tu_fini, .timeout = 240);

/*
 * A wrapper "binary" that runs handoff with env set (a test's new
 * version). As the new image (its first argument is "run"; the pid is
 * the supervisor's) it first runs sigs: kill is the shell's builtin, so
 * nothing is forked or waited for and the signals the supervisor blocked
 * for the exec stay pending across it.
 */
static char *
tu_wrapper_sigs(struct sup *s, const char *name, const char *env,
    const char *sigs)
{
	char *text, *path;

	text = tc_printf("#!/bin/sh\ncase \"$1\" in run) %s;; esac\n"
	    "%s exec %s \"$@\"\n", *sigs ? sigs : ":", env,
	    support_env("HANDOFF_BIN"));
	path = support_write_file(s->dir, name, text);
	cr_assert_eq(chmod(path, 0755), 0);
	free(text);
	return path;
}

/* A wrapper "binary" that runs handoff with env set. */
static char *
tu_wrapper(struct sup *s, const char *name, const char *env)
{
	return tu_wrapper_sigs(s, name, env, "");
}

/* The cgroup of pid, from /proc/PID/cgroup (the caller frees it). */
static char *
tu_cgroup_of(pid_t pid)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
	return support_read_file(path);
}

/*
 * How many cgroup directories beside top (the supervisor's, from status)
 * are named for pid: handoff.PID and handoff.PID.N; 1 without cgroup.
 */
static int
tu_cgroup_dirs(pid_t pid, const char *top)
{
	char *parent, prefix[32];
	struct dirent *de;
	size_t len;
	DIR *d;
	int n = 0;

	if (top == NULL || *top == '\0')
		return 1;
	cr_assert_not_null(parent = strdup(top));
	*strrchr(parent, '/') = '\0';
	len = (size_t)snprintf(prefix, sizeof(prefix), "handoff.%d", (int)pid);
	cr_assert_not_null(d = opendir(parent));
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, prefix, len) == 0 &&
		    (de->d_name[len] == '\0' || de->d_name[len] == '.'))
			n++;
	closedir(d);
	free(parent);
	return n;
}

/* Drop "version", every "uptime_ms" and live queue figures, recursively. */
static void
tu_strip(json_object *o)
{
	struct json_object_iterator it, end;
	size_t i;

	if (json_object_is_type(o, json_type_array)) {
		for (i = 0; i < json_object_array_length(o); i++)
			tu_strip(json_object_array_get_idx(o, i));
		return;
	}
	if (!json_object_is_type(o, json_type_object))
		return;
	json_object_object_del(o, "version");
	json_object_object_del(o, "uptime_ms");
	/*
	 * A listener's accept queue right now, and the warnings read from
	 * it (an unserved queue): they move with the load.
	 */
	json_object_object_del(o, "accept_queue");
	json_object_object_del(o, "warnings");
	it = json_object_iter_begin(o);
	end = json_object_iter_end(o);
	while (!json_object_iter_equal(&it, &end)) {
		tu_strip(json_object_iter_peek_value(&it));
		json_object_iter_next(&it);
	}
}

/* The status as text without version and uptimes. */
static char *
tu_status(struct sup *s, char *version, size_t len)
{
	json_object *st = tc_status_json(s);
	char *text;

	snprintf(version, len, "%s", tc_json_str(tc_json_at(st, "version",
	    NULL)));
	tu_strip(st);
	text = strdup(json_object_to_json_string(st));
	json_object_put(st);
	return text;
}

/* `handoff upgrade --binary bin`: its exit code, stdout and stderr. */
static int
tu_upgrade(struct sup *s, const char *bin, struct run_result *res)
{
	return support_handoff_cmd(res, "upgrade", "-s", s->sock, "--binary",
	    bin, NULL);
}

/*
 * The supervisor's fds at rest: the fewest of a few counts 20 ms apart.
 * A look of the port-hijack guard (a sock_diag socket), a write of the
 * record of the workers (its temporary file) or a walk of /proc holds an
 * fd for a moment, at any time.
 */
static int
tu_fds_at_rest(pid_t pid)
{
	int i, n, fewest = -1;

	for (i = 0; i < 5; i++) {
		n = support_fd_count(pid);
		if (fewest == -1 || (n != -1 && n < fewest))
			fewest = n;
		usleep(20 * 1000);
	}
	return fewest;
}

/* Wait until pid holds want fds again; fail saying how many it holds. */
static void
tu_expect_fds(pid_t pid, int want, int upgrade)
{
	long long deadline = support_now_ms() + DEADLINE_MS;
	int n;

	while ((n = support_fd_count(pid)) != want && tc_left(deadline) > 0)
		usleep(10 * 1000);
	cr_assert_eq(n, want, "after upgrade %d the supervisor holds %d fds, "
	    "not %d", upgrade, n, want);
}

/*
 * 5 upgrades in a row under load, after a reload: every one exits 0 and
 * the new image answers with its version; the pid, the workers and the fd
 * count stay; status (the last reload's drain report too) is the same
 * apart from version and uptimes; no request fails.
 */
Test(upgrade, five_upgrades_under_load_lose_nothing)
{
	struct run_result res;
	char *before, *after, *bin, *env, *name, version[64], *wcgroup, *cgroup;
	char *answer;
	const char *top;
	json_object *st;
	pid_t pid, worker;
	int fds, k;

	struct sup *s = tc_new("", "");
	tc_start(s);
	pid = s->hp.pid;
	/* A reload first: how gen 1 drained is part of the status kept. */
	cr_assert_eq(support_handoff_cmd(&res, "reload", "-s", s->sock, NULL),
	    0, "%s", res.err);
	support_result_free(&res);
	cr_assert_eq(load_start_tcp(&ld, "127.0.0.1", s->port, CLIENTS), 0);
	cr_assert_eq(load_wait_progress(&ld, 50), 0);
	before = tu_status(s, version, sizeof(version));
	cr_assert(strstr(before, "\"drained\"") != NULL, "no drain report in "
	    "%s", before);
	fds = tu_fds_at_rest(pid);
	st = tc_status_json(s);
	top = tc_json_str(tc_json_at(st, "supervisor", "cgroup", NULL));
	worker = (pid_t)tc_json_int(tc_json_at(st, "programs", "0",
	    "generations", "0", "workers", "0", "pid", NULL));
	wcgroup = tu_cgroup_of(worker);
	for (k = 1; k <= UPGRADES; k++) {
		env = tc_printf("HANDOFF_TEST_VERSION=9.9.%d", k);
		name = tc_printf("handoff-9.9.%d", k);
		bin = tu_wrapper(s, name, env);
		cr_assert_eq(tu_upgrade(s, bin, &res), 0, "upgrade %d: %s", k,
		    res.err);
		cr_assert(strstr(res.out, "pre-flight passed") != NULL, "%s",
		    res.out);
		cr_assert(strstr(res.out, "upgraded to handoff 9.9.") != NULL,
		    "%s", res.out);
		support_result_free(&res);
		after = tu_status(s, version, sizeof(version));
		cr_assert_str_eq(version, env + strlen("HANDOFF_TEST_VERSION="));
		/* The control socket's version request says the same. */
		answer = tc_request(s, "HANDOFF/1 version\n", 18);
		cr_assert(strstr(answer, version) != NULL, "%s", answer);
		free(answer);
		cr_assert_str_eq(after, before, "status changed by upgrade %d",
		    k);
		tu_expect_fds(pid, fds, k);
		cr_assert_eq(tu_cgroup_dirs(pid, top), 1, "a cgroup directory "
		    "left beside %s after upgrade %d", top, k);
		cgroup = tu_cgroup_of(worker);
		cr_assert_str_eq(cgroup, wcgroup, "worker moved by upgrade %d", k);
		free(cgroup);
		cr_assert_eq(load_wait_progress(&ld, 20), 0);
		free(after);
		free(bin);
		free(env);
		free(name);
	}
	load_stop(&ld);
	cr_assert_eq(load_failures(&ld), 0, "%ld of %ld requests failed",
	    load_failures(&ld), load_total(&ld));
	cr_assert_eq(s->hp.pid, pid);
	cr_assert(support_pid_alive(pid));
	free(before);
	free(wcgroup);
	json_object_put(st);
	tc_stop(s);
}

/*
 * A missing binary, one that fails its pre-flight, and one that fails
 * while restoring (the test hook): exit 1 with the reason; the old image
 * still reloads and stops.
 */
Test(upgrade, failed_upgrades_leave_the_old_image_in_charge)
{
	struct run_result res;
	char *bin, *before, *after, version[64];
	struct sup *s = tc_new("", "");

	tc_start(s);
	before = tu_status(s, version, sizeof(version));
	cr_assert_eq(tu_upgrade(s, "/nonexistent/handoff", &res), 1);
	cr_assert(strstr(res.err, "cannot run /nonexistent/handoff") != NULL,
	    "%s", res.err);
	support_result_free(&res);
	cr_assert_eq(tu_upgrade(s, "/bin/false", &res), 1);
	cr_assert(strstr(res.err, "/bin/false failed the pre-flight check") !=
	    NULL, "%s", res.err);
	support_result_free(&res);
	bin = tu_wrapper(s, "handoff-broken", "HANDOFF_TEST_FAIL_RESTORE=1 "
	    "HANDOFF_TEST_VERSION=6.6.6");
	cr_assert_eq(tu_upgrade(s, bin, &res), 1);
	cr_assert(strstr(res.err, "failed while restoring") != NULL, "%s",
	    res.err);
	support_result_free(&res);
	after = tu_status(s, version, sizeof(version));
	cr_assert_str_eq(version, PACKAGE_VERSION);
	cr_assert_str_eq(after, before);
	cr_assert_eq(support_handoff_cmd(&res, "reload", "-s", s->sock, NULL),
	    0, "%s", res.err);
	support_result_free(&res);
	free(before);
	free(after);
	free(bin);
	tc_stop(s);
}

/*
 * A binary that exits 0 whatever it is asked (/bin/true) has not read the
 * state: it fails the pre-flight, and the supervisor runs on.
 */
Test(upgrade, a_binary_that_is_not_handoff_fails_the_preflight)
{
	struct run_result res;
	char *before, *after, version[64];
	struct sup *s = tc_new("", "");

	tc_start(s);
	before = tu_status(s, version, sizeof(version));
	cr_assert_eq(tu_upgrade(s, "/bin/true", &res), 1, "%s%s", res.out,
	    res.err);
	cr_assert(strstr(res.err, "/bin/true failed the pre-flight check") !=
	    NULL, "%s", res.err);
	cr_assert(strstr(res.err, "runs on unchanged") != NULL, "%s", res.err);
	support_result_free(&res);
	cr_assert(support_pid_alive(s->hp.pid));
	after = tu_status(s, version, sizeof(version));
	cr_assert_str_eq(after, before);
	free(before);
	free(after);
	tc_stop(s);
}

/*
 * How the last reload failed, and how long it took to the microsecond,
 * is the same after an upgrade.
 */
Test(upgrade, a_failed_reload_s_outcome_is_kept)
{
	struct run_result res;
	json_object *st;
	char *before, *after, *bin;
	long long us;
	struct sup *s = tc_new("", "");

	tc_start(s);
	tc_write_config(s, "--never-ready", "ready_timeout = 200ms\n");
	cr_assert_eq(support_handoff_cmd(&res, "reload", "-c", s->config,
	    NULL), 1, "%s%s", res.out, res.err);
	support_result_free(&res);
	st = tc_status_json(s);
	us = (long long)tc_json_int(tc_json_at(st, "last_reload",
	    "duration_us", NULL));
	/* About ready_timeout: its timer and this clock start apart. */
	cr_assert(us >= 100000 && us / 1000 == tc_json_int(tc_json_at(st,
	    "last_reload", "duration_ms", NULL)), "%s",
	    json_object_to_json_string(st));
	cr_assert_not_null(before = strdup(json_object_to_json_string(
	    tc_json_at(st, "last_reload", NULL))));
	json_object_put(st);
	bin = tu_wrapper(s, "handoff-9.9.9", "HANDOFF_TEST_VERSION=9.9.9");
	cr_assert_eq(tu_upgrade(s, bin, &res), 0, "%s", res.err);
	support_result_free(&res);
	st = tc_status_json(s);
	cr_assert_str_eq(tc_json_str(tc_json_at(st, "version", NULL)), "9.9.9");
	after = strdup(json_object_to_json_string(tc_json_at(st,
	    "last_reload", NULL)));
	cr_assert_str_eq(after, before);
	json_object_put(st);
	free(before);
	free(after);
	free(bin);
	tc_stop(s);
}

/*
 * A relative --binary is made absolute with the working directory; where
 * that has a blank, the request could not name it: the client says so
 * (as for a --binary with a blank) rather than pass the supervisor a
 * request it reads as a usage error.
 */
Test(upgrade, a_relative_binary_under_a_directory_with_a_blank_is_refused_clearly)
{
	struct run_result res;
	char *dir;
	struct sup *s = tc_new("", "");

	tc_start(s);
	dir = tc_printf("%s/with blank", s->dir);
	cr_assert_eq(mkdir(dir, 0700), 0);
	cr_assert_eq(chdir(dir), 0);
	cr_assert_eq(tu_upgrade(s, "handoff", &res), 2, "%s%s", res.out,
	    res.err);
	cr_assert(strstr(res.err, "give a path without blanks") != NULL, "%s",
	    res.err);
	cr_assert(strstr(res.err, "with blank/handoff") != NULL, "%s", res.err);
	support_result_free(&res);
	cr_assert_eq(chdir("/"), 0);
	cr_assert_eq(rmdir(dir), 0);
	free(dir);
	tc_stop(s);
}

/* SIGCHLD sent to the supervisor in a loop, from a thread. */
struct tu_flood {
	pthread_t	 thread;
	pid_t		 pid;
	volatile bool	 stop;
	long		 sent;
};

/* The flood's thread: a SIGCHLD about every millisecond until stopped. */
static void *
tu_flood_run(void *arg)
{
	struct tu_flood *f = arg;
	const struct timespec ms = { 0, 1000000 };

	while (!f->stop && kill(f->pid, SIGCHLD) == 0) {
		f->sent++;
		nanosleep(&ms, NULL);
	}
	return NULL;
}

/*
 * Wait until program app runs generation gen alone (a reload is done):
 * polls status up to the deadline.
 */
static void
tu_wait_settled(struct sup *s, int gen)
{
	long long deadline = support_now_ms() + DEADLINE_MS;
	json_object *st, *gens;
	int cur = 0;
	size_t n = 0;

	while (tc_left(deadline) > 0) {
		st = tc_status_json(s);
		gens = tc_json_at(st, "programs", "0", "generations", NULL);
		n = gens != NULL ? json_object_array_length(gens) : 0;
		cur = (int)tc_json_int(tc_json_at(st, "programs", "0",
		    "current_generation", NULL));
		json_object_put(st);
		if (cur == gen && n == 1)
			return;
		poll(NULL, 0, 10);	/* status polled: no event to wait on */
	}
	cr_assert_fail("app never ran gen %d alone (gen %d, %zu generations):"
	    "\n%s", gen, cur, n, tc_log_text(s));
}

/*
 * HUP and CHLD sent to the supervisor during each of 5 upgrades (while
 * it execs) and SIGCHLD in a loop throughout: every upgrade succeeds,
 * each HUP is a reload done by the new image, no request fails; a TERM
 * during a sixth upgrade stops the new image gracefully, every worker
 * gone.
 */
Test(upgrade, signals_during_upgrades_are_kept)
{
	struct tu_flood flood;
	struct run_result res;
	char *bin, *env, *name, version[64], *text;
	json_object *st;
	pid_t pid;
	int k, i;

	struct sup *s = tc_new("", "");
	tc_start(s);
	pid = s->hp.pid;
	memset(&flood, 0, sizeof(flood));
	flood.pid = pid;
	cr_assert_eq(pthread_create(&flood.thread, NULL, tu_flood_run, &flood),
	    0);
	cr_assert_eq(load_start_tcp(&ld, "127.0.0.1", s->port, CLIENTS), 0);
	cr_assert_eq(load_wait_progress(&ld, 50), 0);
	for (k = 1; k <= UPGRADES; k++) {
		env = tc_printf("HANDOFF_TEST_VERSION=9.9.%d", k);
		name = tc_printf("handoff-9.9.%d", k);
		bin = tu_wrapper_sigs(s, name, env, "kill -HUP $$; kill -CHLD $$");
		cr_assert_eq(tu_upgrade(s, bin, &res), 0, "upgrade %d: %s%s", k,
		    res.out, res.err);
		support_result_free(&res);
		/* The HUP sent during the exec: a reload, by the new image. */
		tu_wait_settled(s, k + 1);
		text = tu_status(s, version, sizeof(version));
		cr_assert_str_eq(version, env + strlen("HANDOFF_TEST_VERSION="));
		free(text);
		cr_assert_eq(load_wait_progress(&ld, 20), 0);
		free(bin);
		free(env);
		free(name);
	}
	load_stop(&ld);
	cr_assert_eq(load_failures(&ld), 0, "%ld of %ld requests failed",
	    load_failures(&ld), load_total(&ld));
	cr_assert_eq(tc_log_count(s, "reloading every program"), UPGRADES, "%s",
	    tc_log_text(s));
	/* The workers running now must be gone after the stop. */
	st = tc_status_json(s);
	for (i = 0; i < 2; i++)
		tc_saw_worker(s, (pid_t)tc_json_int(tc_json_at(st, "programs",
		    "0", "generations", "0", "workers", i == 0 ? "0" : "1",
		    "pid", NULL)));
	json_object_put(st);
	/* A TERM during the exec: the new image answers, then stops. */
	bin = tu_wrapper_sigs(s, "handoff-9.9.9", "HANDOFF_TEST_VERSION=9.9.9",
	    "kill -TERM $$; kill -CHLD $$");
	cr_assert_eq(tu_upgrade(s, bin, &res), 0, "%s%s", res.out, res.err);
	cr_assert(strstr(res.out, "upgraded to handoff 9.9.9") != NULL, "%s",
	    res.out);
	support_result_free(&res);
	cr_assert_eq(tc_wait_exit(s, DEADLINE_MS), 0, "%s", tc_log_text(s));
	flood.stop = true;
	pthread_join(flood.thread, NULL);
	cr_assert_gt(flood.sent, 0);
	cr_assert_eq(s->hp.pid, pid);
	tc_expect_all_gone(s);
	free(bin);
}

/* The pid of worker i of the first generation, from status. */
static pid_t
tu_worker_pid(struct sup *s, const char *i)
{
	json_object *st = tc_status_json(s);
	pid_t pid;

	pid = (pid_t)tc_json_int(tc_json_at(st, "programs", "0", "generations",
	    "0", "workers", i, "pid", NULL));
	json_object_put(st);
	cr_assert_gt(pid, 0);
	return pid;
}

/*
 * A worker that exits while the supervisor execs its new image (killed by
 * the wrapper, which runs as the supervisor's pid before it execs
 * handoff) is reaped and restarted by the new image; and a worker that
 * exits after the upgrade is seen too (SIGCHLD, blocked across the exec,
 * is read again). Then a stop leaves nothing behind.
 */
Test(upgrade, a_worker_exiting_during_the_upgrade_is_reaped_by_the_new_image)
{
	struct run_result res;
	char *bin, *sigs, needle[80];
	pid_t w0, w1;

	struct sup *s = tc_new("", "");
	tc_start(s);
	w0 = tu_worker_pid(s, "0");
	w1 = tu_worker_pid(s, "1");
	tc_saw_worker(s, w0);
	tc_saw_worker(s, w1);
	sigs = tc_printf("kill -KILL %d", (int)w0);
	bin = tu_wrapper_sigs(s, "handoff-9.9.1", "HANDOFF_TEST_VERSION=9.9.1",
	    sigs);
	cr_assert_eq(tu_upgrade(s, bin, &res), 0, "%s%s", res.out, res.err);
	cr_assert(strstr(res.out, "upgraded to handoff 9.9.1") != NULL, "%s",
	    res.out);
	support_result_free(&res);
	snprintf(needle, sizeof(needle), "worker 0 pid %d: was killed by "
	    "signal 9", (int)w0);
	tc_expect_log(s, needle, 1);
	tc_expect_log(s, "ready again after restart 1", 1);
	/* The new image sees the next exit too. */
	cr_assert_eq(kill(w1, SIGKILL), 0);
	snprintf(needle, sizeof(needle), "worker 1 pid %d: was killed by "
	    "signal 9", (int)w1);
	tc_expect_log(s, needle, 1);
	tc_expect_log(s, "ready again after restart 1", 2);
	tc_saw_worker(s, tu_worker_pid(s, "0"));
	tc_saw_worker(s, tu_worker_pid(s, "1"));
	tc_stop(s);
	tc_expect_all_gone(s);
	free(sigs);
	free(bin);
}

/*
 * An upgrade asked for while a reload is in flight (its new generation
 * is slow to get ready) is refused, by `handoff upgrade` (exit 1) and by
 * SIGUSR2 (logged), and changes nothing; once the reload is done it is
 * accepted.
 */
Test(upgrade, an_upgrade_during_a_reload_is_refused)
{
	struct run_result res;
	char *bin, version[64], *text;
	json_object *st, *w;
	long long deadline;
	pid_t pid, wpid;
	size_t n = 0;
	int i;

	struct sup *s = tc_new("", "");
	tc_start(s);
	pid = s->hp.pid;
	bin = tu_wrapper(s, "handoff-9.9.1", "HANDOFF_TEST_VERSION=9.9.1");
	tc_write_config(s, "--ready-on-usr1", "");
	cr_assert_eq(kill(pid, SIGHUP), 0);
	deadline = support_now_ms() + DEADLINE_MS;
	while (n < 2 && tc_left(deadline) > 0) {
		st = tc_status_json(s);
		n = json_object_array_length(tc_json_at(st, "programs", "0",
		    "generations", NULL));
		json_object_put(st);
		if (n < 2)
			poll(NULL, 0, 10);	/* status polled: no event to wait on */
	}
	cr_assert_eq(n, 2, "gen 2 never started:\n%s", tc_log_text(s));

	cr_assert_eq(tu_upgrade(s, bin, &res), 1, "%s%s", res.out, res.err);
	cr_assert(strstr(res.err, "a reload is in progress") != NULL, "%s",
	    res.err);
	support_result_free(&res);
	cr_assert_eq(kill(pid, SIGUSR2), 0);
	tc_expect_log(s, "SIGUSR2: upgrade refused: a reload is in progress",
	    1);
	text = tu_status(s, version, sizeof(version));
	cr_assert_str_eq(version, PACKAGE_VERSION);
	free(text);
	cr_assert_eq(tc_log_count(s, "upgrading to"), 0);

	/* Gen 2 gets ready: the reload ends, and the upgrade is accepted. */
	st = tc_status_json(s);
	for (i = 0; i < 2; i++) {
		w = tc_json_at(st, "programs", "0", "generations", "1",
		    "workers", i == 0 ? "0" : "1", "pid", NULL);
		cr_assert_not_null(w, "%s", json_object_to_json_string(st));
		wpid = (pid_t)tc_json_int(w);
		cr_assert_eq(kill(wpid, SIGUSR1), 0);
	}
	json_object_put(st);
	tu_wait_settled(s, 2);
	cr_assert_eq(tu_upgrade(s, bin, &res), 0, "%s%s", res.out, res.err);
	support_result_free(&res);
	text = tu_status(s, version, sizeof(version));
	cr_assert_str_eq(version, "9.9.1");
	free(text);
	cr_assert_eq(s->hp.pid, pid);
	free(bin);
	tc_stop(s);
}

/* The command status says program name runs with. */
static char *
tu_command_of(struct sup *s, const char *name)
{
	json_object *st = tc_status_json(s), *prog;
	char *command;

	prog = tc_json_named(st, "programs", name);
	cr_assert_not_null(prog, "%s", json_object_to_json_string(st));
	command = strdup(tc_json_str(tc_json_at(prog, "command", NULL)));
	json_object_put(st);
	return command;
}

/*
 * After `handoff reload other`, the config in force is a merge no file
 * holds: app as it was, other as the file has it. An upgrade carries that
 * config, not the file, whose change to app was never applied: status
 * shows app's command in force before and after it, and the next reload
 * of every program takes the file's.
 */
Test(upgrade, a_reload_of_one_program_keeps_its_merge_across_an_upgrade)
{
	struct run_result res;
	char *keys, *bin, *command, *running;

	keys = tc_printf("\n[program other]\ncommand = %s\nlisteners = web\n",
	    support_env("HANDOFF_TESTSERVER"));
	struct sup *s = tc_new("", keys);
	tc_start(s);
	running = tu_command_of(s, "app");
	tc_write_config(s, "--status changed", keys);
	cr_assert_eq(support_handoff_cmd(&res, "reload", "other", "-s", s->sock,
	    NULL), 0, "%s%s", res.out, res.err);
	support_result_free(&res);
	command = tu_command_of(s, "app");
	cr_assert_str_eq(command, running);
	free(command);

	bin = tu_wrapper(s, "handoff-9.9.1", "HANDOFF_TEST_VERSION=9.9.1");
	cr_assert_eq(tu_upgrade(s, bin, &res), 0, "%s%s", res.out, res.err);
	support_result_free(&res);
	command = tu_command_of(s, "app");
	cr_expect_str_eq(command, running, "the upgrade read the file");
	free(command);

	cr_assert_eq(support_handoff_cmd(&res, "reload", "-s", s->sock, NULL),
	    0, "%s%s", res.out, res.err);
	support_result_free(&res);
	command = tu_command_of(s, "app");
	cr_expect(strstr(command, "--status changed") != NULL, "%s", command);
	free(command);
	free(running);
	free(bin);
	free(keys);
	tc_stop(s);
}

/* The inodes of the sockets the supervisor holds for listener name. */
static int
tu_listener_inodes(struct sup *s, const char *name, ino_t *inodes, int max)
{
	char line[256];
	int fds[8], n, i;

	n = tc_request_fds(s, name, line, sizeof(line), fds, max);
	cr_assert_gt(n, 0, "fds %s: %s", name, line);
	for (i = 0; i < n; i++) {
		inodes[i] = support_fd_inode(fds[i]);
		close(fds[i]);
	}
	return n;
}

/* GET / n times from web: every worker of generation gen answers some. */
static void
tu_expect_both_slots(struct sup *s, int gen)
{
	int counts[2] = { 0, 0 }, i, g, w, rc;
	char *body;
	pid_t wpid;

	for (i = 0; i < 100; i++) {
		rc = support_http_get(s->port, "/", &body);
		cr_assert_eq(rc, SUPPORT_HTTP_OK, "GET %d: %s", i,
		    support_http_name(rc));
		cr_assert_eq(sscanf(body, "gen=%d pid=%d worker=%d", &g, &wpid,
		    &w), 3, "answer: %s", body);
		cr_assert_eq(g, gen, "%s", body);
		cr_assert(w == 0 || w == 1, "%s", body);
		counts[w]++;
		free(body);
	}
	cr_assert(counts[0] > 0 && counts[1] > 0, "slot answers: %d %d",
	    counts[0], counts[1]);
}

/*
 * A reuseport program and a unix listener cross an upgrade: the slots
 * keep their sockets and both answer, before and after a reload; the
 * unix socket file stays and serves.
 */
Test(upgrade, reuseport_slots_and_a_unix_listener_cross_an_upgrade)
{
	struct run_result res;
	ino_t slots[8], after[8], unixino[1], unixafter[1];
	char *text, *path, *sockpath, *body, *bin;
	struct stat sb, sb2;
	int n, i;

	/* Reuseport mode turns net.ipv4.tcp_migrate_req on: in a netns of
	 * the test's own, not the host's. */
	tc_own_netns();
	struct sup *s = tc_new("", "");
	sockpath = tc_printf("%s/app.sock", s->dir);
	text = tc_printf("[supervisor]\nname = uptest\ncontrol = %s\n"
	    "pidfile = %s/handoff.pid\n\n"
	    "[listener web]\nlisten = 127.0.0.1:%d\n\n"
	    "[listener sock]\nlisten = unix:%s\n\n"
	    "[program app]\ncommand = %s\nlisteners = web\nworkers = 2\n"
	    "handoff = reuseport\n\n"
	    "[program api]\ncommand = %s\nlisteners = sock\nworkers = 1\n",
	    s->sock, s->dir, s->port, sockpath,
	    support_env("HANDOFF_TESTSERVER"), support_env("HANDOFF_TESTSERVER"));
	path = support_write_file(s->dir, "handoff.ini", text);
	free(path);
	free(text);
	tc_start(s);
	tu_expect_both_slots(s, 1);
	n = tu_listener_inodes(s, "web", slots, 8);
	cr_assert_eq(n, 2);
	cr_assert_eq(tu_listener_inodes(s, "sock", unixino, 1), 1);
	cr_assert_eq(stat(sockpath, &sb), 0);

	bin = tu_wrapper(s, "handoff-9.9.1", "HANDOFF_TEST_VERSION=9.9.1");
	cr_assert_eq(tu_upgrade(s, bin, &res), 0, "%s%s", res.out, res.err);
	support_result_free(&res);
	cr_assert_eq(tu_listener_inodes(s, "web", after, 8), n);
	for (i = 0; i < n; i++)
		cr_assert_eq(after[i], slots[i], "slot %d's socket changed", i);
	cr_assert_eq(tu_listener_inodes(s, "sock", unixafter, 1), 1);
	cr_assert_eq(unixafter[0], unixino[0]);
	cr_assert_eq(stat(sockpath, &sb2), 0, "%s is gone", sockpath);
	cr_assert_eq(sb2.st_ino, sb.st_ino);
	tu_expect_both_slots(s, 1);
	cr_assert_eq(support_http_get_unix(sockpath, "/", &body),
	    SUPPORT_HTTP_OK);
	free(body);

	/* The new image reloads onto the same slots. */
	cr_assert_eq(support_handoff_cmd(&res, "reload", "-s", s->sock, NULL),
	    0, "%s%s", res.out, res.err);
	support_result_free(&res);
	tu_expect_both_slots(s, 2);
	cr_assert_eq(tu_listener_inodes(s, "web", after, 8), n);
	for (i = 0; i < n; i++)
		cr_assert_eq(after[i], slots[i], "slot %d's socket changed", i);
	cr_assert_eq(support_http_get_unix(sockpath, "/", &body),
	    SUPPORT_HTTP_OK);
	free(body);
	free(bin);
	free(sockpath);
	tc_stop(s);
}

/*
 * An upgrade held in its pre-flight: the new binary (a wrapper of
 * handoff at version 9.9.1), when asked for `upgrade-check`, says so on
 * held and waits for a line on go. While it waits, the old image runs no
 * loop: what clients send then is still unread when it execs.
 */
struct tu_held {
	struct sup	*s;
	char		*bin;
	int		 held;		/* fifo, read by the test */
	int		 go;		/* fifo, written by the test */
	pthread_t	 thread;
	struct run_result res;
	int		 code;
};

/* The thread of a held upgrade: `handoff upgrade --binary bin`. */
static void *
tu_held_run(void *arg)
{
	struct tu_held *h = arg;

	h->code = tu_upgrade(h->s, h->bin, &h->res);
	return NULL;
}

/* A fifo at dir/name, opened for reading and writing, not blocking. */
static int
tu_fifo(const char *dir, const char *name, char **path)
{
	int fd;

	*path = tc_printf("%s/%s", dir, name);
	cr_assert_eq(mkfifo(*path, 0600), 0, "mkfifo %s", *path);
	cr_assert_geq(fd = open(*path, O_RDWR | O_NONBLOCK | O_CLOEXEC), 0);
	return fd;
}

/* Start an upgrade of s and wait until its pre-flight is held. */
static void
tu_hold_upgrade(struct sup *s, struct tu_held *h)
{
	struct pollfd pfd;
	char *held, *go, *text, line[16];

	memset(h, 0, sizeof(*h));
	h->s = s;
	h->held = tu_fifo(s->dir, "held.fifo", &held);
	h->go = tu_fifo(s->dir, "go.fifo", &go);
	text = tc_printf("#!/bin/sh\ncase \"$1\" in upgrade-check) "
	    "echo held > %s; read go < %s;; esac\n"
	    "HANDOFF_TEST_VERSION=9.9.1 exec %s \"$@\"\n", held, go,
	    support_env("HANDOFF_BIN"));
	h->bin = support_write_file(s->dir, "handoff-held", text);
	cr_assert_eq(chmod(h->bin, 0755), 0);
	free(text);
	free(held);
	free(go);
	cr_assert_eq(pthread_create(&h->thread, NULL, tu_held_run, h), 0);
	pfd.fd = h->held;
	pfd.events = POLLIN;
	cr_assert_eq(poll(&pfd, 1, DEADLINE_MS), 1, "the pre-flight never "
	    "ran:\n%s", tc_log_text(s));
	cr_assert_gt(read(h->held, line, sizeof(line)), 0);
}

/* Let the held pre-flight go on; the upgrade must then succeed. */
static void
tu_release_upgrade(struct tu_held *h)
{
	cr_assert_eq(write(h->go, "go\n", 3), 3);
	pthread_join(h->thread, NULL);
	cr_assert_eq(h->code, 0, "%s%s", h->res.out, h->res.err);
	cr_assert(strstr(h->res.out, "upgraded to handoff 9.9.1") != NULL,
	    "%s", h->res.out);
	support_result_free(&h->res);
	close(h->held);
	close(h->go);
	free(h->bin);
}

/*
 * Connect a raw control client and return once the supervisor accepted
 * it: a request on a later connection is answered only after every
 * connection queued before it was accepted.
 */
static int
tu_accepted_client(struct sup *s, const char *first)
{
	char *answer;
	int fd;

	fd = tc_connect_unix(s->sock);
	cr_assert(fd != -1, "connect %s: %s", s->sock, strerror(errno));
	if (*first != '\0')
		cr_assert_eq(tc_send_all(fd, first, strlen(first)), 0);
	answer = tc_request(s, "HANDOFF/1 version\n", 18);
	cr_assert(strncmp(answer, "ok ", 3) == 0, "%s", answer);
	free(answer);
	return fd;
}

/* What a client not served before the exec is told, whole. */
#define TU_UPGRADING	"error 3 the supervisor is upgrading itself in " \
	"place; this request was not served: ask again\n"

/* Read fd to its end: the answer must be TU_UPGRADING, then end-of-file. */
static void
tu_expect_told_to_ask_again(int fd, const char *who)
{
	char *answer;
	int end;

	answer = tc_read_to_end(fd, DEADLINE_MS, &end);
	cr_expect_eq(end, 0, "%s: the connection ended with %s, not an end "
	    "of file, after: \"%s\"", who, strerror(end), answer);
	cr_expect_str_eq(answer, TU_UPGRADING, "%s was told: \"%s\"", who,
	    answer);
	free(answer);
	close(fd);
}

/*
 * A raw client connected (and accepted) before an upgrade, which sends a
 * request followed by 64 KiB more while the old image is in its
 * pre-flight, is neither reset nor left without a word by the exec: it
 * reads one error line saying to ask again, then a clean end-of-file. The
 * upgrade succeeds, and asking again is answered by the new image.
 */
Test(upgrade, a_raw_client_with_bytes_unread_at_the_exec_gets_an_answer_not_a_reset)
{
	struct tu_held h;
	char *out, *answer;
	size_t len;
	int fd;

	struct sup *s = tc_new("", "");
	tc_start(s);
	fd = tu_accepted_client(s, "");
	tu_hold_upgrade(s, &h);
	len = 17 + 64 * 1024;
	cr_assert_not_null(out = malloc(len));
	memcpy(out, "HANDOFF/1 status\n", 17);
	memset(out + 17, 'x', len - 17);
	cr_assert_eq(tc_send_all(fd, out, len), 0, "send: %s", strerror(errno));
	free(out);
	tu_release_upgrade(&h);
	tu_expect_told_to_ask_again(fd, "the client with trailing bytes");
	answer = tc_request(s, "HANDOFF/1 version\n", 18);
	cr_expect_str_eq(answer, "ok 9.9.1\n");
	free(answer);
	tc_stop(s);
}

/*
 * Clients connected before an upgrade whose request was not served (one
 * that sent nothing, one that sent half a status request before and the
 * rest during the pre-flight) are told, each, that the supervisor is
 * upgrading itself and to ask again, in the protocol's error form, and
 * their connection ends cleanly; the upgrade succeeds, and `handoff
 * status` then shows the new version.
 */
Test(upgrade, clients_not_yet_served_are_told_to_ask_again)
{
	struct tu_held h;
	char version[64], *text;
	int silent, half;

	struct sup *s = tc_new("", "");
	tc_start(s);
	silent = tu_accepted_client(s, "");
	half = tu_accepted_client(s, "HANDOFF/1 sta");
	tu_hold_upgrade(s, &h);
	cr_assert_eq(tc_send_all(half, "tus\n", 4), 0);
	tu_release_upgrade(&h);
	tu_expect_told_to_ask_again(silent, "the client that sent nothing");
	tu_expect_told_to_ask_again(half, "the status client");
	text = tu_status(s, version, sizeof(version));
	cr_expect_str_eq(version, "9.9.1");
	free(text);
	tc_stop(s);
}
