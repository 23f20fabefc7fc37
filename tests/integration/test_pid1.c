/*
 * test_pid1.c: the supervisor as PID 1 of a PID namespace, as in a
 * container (`unshare --pid --fork --mount-proc` stands for one): it reaps
 * every orphan that comes to it, its workers' and those a `docker exec`
 * leaves; `handoff reload` works from inside the namespace (nsenter, as
 * docker exec enters it) through the control socket; SIGTERM and SIGINT
 * stop it gracefully with exit 0; a start that fails exits non-zero.
 */
#include "autoconf.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define UNSHARE	"/usr/bin/unshare"
#define NSENTER	"/usr/bin/nsenter"

/* Skip unless a PID namespace can be made here (root, unshare). */
static void
need_pidns(void)
{
	const char *const argv[] = { UNSHARE, "--pid", "--fork",
	    "--mount-proc", "/bin/true", NULL };
	struct run_result res;
	int code;

	if (access(UNSHARE, X_OK) != 0 || access(NSENTER, X_OK) != 0)
		cr_skip_test("%s and %s (util-linux) are needed", UNSHARE, NSENTER);
	code = support_run(argv, &res);
	support_result_free(&res);
	if (code != 0)
		cr_skip_test("cannot make a PID namespace here (unshare --pid "
		    "needs root or a user namespace): exit %d", code);
}

/*
 * GET / answered by generation gen (the worker's pid in the answer is the
 * namespace's, not one the test may look for).
 */
static void
expect_served_by(struct sup *s, int want)
{
	pid_t pid;
	int gen = -1, rc;

	rc = tc_http_get(s->port, &gen, &pid);
	cr_expect_eq(rc, SUPPORT_HTTP_OK, "GET /: %s", support_http_name(rc));
	cr_expect_eq(gen, want, "answered by gen %d", gen);
}

/*
 * Start s under `unshare --pid --fork --mount-proc`; the supervisor's pid
 * (as seen from here) once it runs, or -1.
 */
static pid_t
start_in_pidns(struct sup *s)
{
	const char *prefix[] = { UNSHARE, "--pid", "--fork", "--mount-proc",
	    "--kill-child", NULL };
	const char *args[] = { "run", "-c", s->config, NULL };
	long long deadline = support_now_ms() + DEADLINE_MS;
	struct support_launch how;
	pid_t kids[4];

	memset(&how, 0, sizeof(how));
	how.prefix = prefix;
	how.args = args;
	how.log_path = s->log;
	cr_assert_eq(support_handoff_launch(&s->hp, &how), 0);
	/* unshare forks the supervisor as PID 1 of the namespace. */
	while (support_children(s->hp.pid, 0, kids, 4) < 1) {
		if (tc_left(deadline) == 0 || tc_wait_exit(s, 10) != -1)
			return -1;
	}
	return kids[0];
}

/* The pid a process has in its own namespace (NSpid's last), or -1. */
static long
ns_pid(pid_t pid)
{
	char *path = tc_printf("/proc/%d/status", (int)pid);
	char *text = support_read_file(path), *line, *last;
	long nspid = -1;

	free(path);
	if (text != NULL && (line = strstr(text, "\nNSpid:")) != NULL) {
		line[strcspn(line + 1, "\n") + 1] = '\0';
		last = strrchr(line, '\t');
		nspid = last != NULL ? strtol(last + 1, NULL, 10) : -1;
	}
	free(text);
	return nspid;
}

/* Tell whether /proc still has pid, a zombie too. */
static bool
pid_exists(pid_t pid)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d", (int)pid);
	return access(path, F_OK) == 0;
}

/* Wait until pid is reaped (gone from /proc altogether). */
static void
expect_reaped(pid_t pid, const char *what)
{
	long long deadline = support_now_ms() + DEADLINE_MS;
	struct timespec tick = { 0, 10 * 1000 * 1000 };

	/* Nothing to wait on for another's child: look until the deadline. */
	while (pid_exists(pid) && tc_left(deadline) > 0)
		nanosleep(&tick, NULL);
	cr_expect(!pid_exists(pid), "%s pid %d was never reaped (a zombie "
	    "of PID 1)", what, (int)pid);
}

/* The children of ppid whose command is comm. */
static int
children_named(pid_t ppid, const char *comm, pid_t *out, int max)
{
	pid_t kids[MAX_PIDS];
	char *path, *name;
	int n, i, k = 0;

	n = support_children(ppid, 0, kids, MAX_PIDS);
	for (i = 0; i < n && i < MAX_PIDS && k < max; i++) {
		path = tc_printf("/proc/%d/comm", (int)kids[i]);
		name = support_read_file(path);
		if (name != NULL && strncmp(name, comm, strlen(comm)) == 0 &&
		    name[strlen(comm)] == '\n')
			out[k++] = kids[i];
		free(name);
		free(path);
	}
	return k;
}

/* Run `nsenter -t PID -p -m ARGV...`, as docker exec enters a container. */
static int
exec_in(pid_t pid, const char *const *argv, struct run_result *res)
{
	const char *full[16];
	char *target = tc_printf("%d", (int)pid);
	size_t i, k = 0;
	int code;

	full[k++] = NSENTER;
	full[k++] = "-t";
	full[k++] = target;
	full[k++] = "-p";
	full[k++] = "-m";
	full[k++] = "--";
	for (i = 0; argv[i] != NULL && k < 15; i++)
		full[k++] = argv[i];
	full[k] = NULL;
	code = support_run(full, res);
	free(target);
	return code;
}

Test(pid1, reaps_orphans_and_stops_on_sigterm, .fini = tc_fini)
{
	struct sup *s;
	struct run_result res;
	pid_t sup, old[MAX_PIDS], orphan[2];
	int nold, i;
	const char *reload[] = { support_env("HANDOFF_BIN"), "reload", "-c",
	    NULL, NULL };
	const char *orphan_maker[] = { "/bin/sh", "-c",
	    "/bin/sleep 300 </dev/null >/dev/null 2>&1 & exit 0", NULL };

	need_pidns();
	/* Each worker leaves two children that setsid and wait. */
	s = tc_new("--orphans 2", "drain_timeout = 1s\n");
	sup = start_in_pidns(s);
	cr_assert(sup > 0, "unshare did not start the supervisor:\n%s",
	    tc_log_text(s));
	tc_expect_log(s, "started: ", 1);
	cr_assert_eq(ns_pid(sup), 1, "the supervisor is not PID 1 of its "
	    "namespace");
	expect_served_by(s, 1);
	tc_expect_log(s, "spawned 2 children", 2);

	/* gen 1's workers and orphans, as this namespace sees them. */
	nold = support_tagged_pids(s->hp.tag, old, MAX_PIDS);

	/* A reload from inside, as through docker exec. */
	reload[3] = s->config;
	cr_assert_eq(exec_in(sup, reload, &res), 0, "handoff reload inside the "
	    "namespace: %s%s", res.out, res.err);
	support_result_free(&res);
	tc_expect_log(s, "app gen 1: gone", 1);
	expect_served_by(s, 2);
	for (i = 0; i < nold; i++)
		if (old[i] != s->hp.pid && old[i] != sup &&
		    ns_pid(old[i]) != 1)
			expect_reaped(old[i], "a process of gen 1");

	/* What a docker exec leaves behind comes to PID 1, which reaps it. */
	cr_assert_eq(exec_in(sup, orphan_maker, &res), 0, "%s", res.err);
	support_result_free(&res);
	cr_assert_eq(children_named(sup, "sleep", orphan, 2), 1,
	    "the orphaned sleep is not the supervisor's child");
	kill(orphan[0], SIGKILL);
	expect_reaped(orphan[0], "an orphan of docker exec");

	/* docker stop: SIGTERM to PID 1, a graceful stop, exit 0. */
	kill(sup, SIGTERM);
	tc_expect_log(s, "SIGTERM: stopping gracefully", 1);
	cr_expect_eq(tc_wait_exit(s, DEADLINE_MS), 0, "%s", tc_log_text(s));
	tc_expect_log(s, "stopped", 1);
	tc_expect_all_gone(s);
}

Test(pid1, sigint_stops_gracefully, .fini = tc_fini)
{
	struct sup *s;
	pid_t sup;

	need_pidns();
	s = tc_new("", "");
	sup = start_in_pidns(s);
	cr_assert(sup > 0, "%s", tc_log_text(s));
	tc_expect_log(s, "started: ", 1);
	expect_served_by(s, 1);
	kill(sup, SIGINT);
	tc_expect_log(s, "SIGINT: stopping gracefully", 1);
	cr_expect_eq(tc_wait_exit(s, DEADLINE_MS), 0, "%s", tc_log_text(s));
	tc_expect_all_gone(s);
}

Test(pid1, a_start_that_fails_exits_non_zero, .fini = tc_fini)
{
	struct sockaddr_in sin;
	struct sup *s;
	int fd, one = 1;
	char *why;

	need_pidns();
	s = tc_new("", "");
	/* Someone else has the port. */
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)s->port);
	cr_assert(bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
	    listen(fd, 8) == 0, "%s", strerror(errno));
	(void)start_in_pidns(s);
	cr_expect_eq(tc_wait_exit(s, DEADLINE_MS), 1, "%s", tc_log_text(s));
	why = tc_printf("cannot start: listener web: 127.0.0.1:%d: address "
	    "already in use", s->port);
	cr_expect_eq(tc_log_count(s, why), 1, "%s", tc_log_text(s));
	free(why);
	tc_expect_all_gone(s);
	close(fd);
}
