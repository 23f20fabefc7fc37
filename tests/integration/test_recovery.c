/*
 * test_recovery.c: a supervisor killed with SIGKILL leaves its workers
 * serving; `handoff run` on the same config takes their listeners over
 * from its record (CONTROL.workers), starts its own generation on them
 * and drains the orphans, with no connection refused: in inherit and
 * reuseport modes, in self mode (the supervisor holds no socket of theirs)
 * and with preload = yes (the shim moved the sockets). A record that does
 * not hold (a pid reused since, a file others may write, an fd that is
 * not the recorded socket) is not trusted: a socket held by another
 * process still gives "held by pid N". Without the right to copy their
 * fds (pidfd_getfd), the start fails naming the pids and the orphans
 * serve on.
 */
#include "autoconf.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "load.h"

#define CLIENTS		16
#define WORKERS		2
/*
 * Resets the self-mode recovery accepts: the kernel resets a few
 * connections per thousand socket closes under load (README, Self mode);
 * its orphans close 2 sockets, so more than 1 means something else.
 */
#define TR_CLOSE_RACE_RESETS	1

/* The running test's load; stopped before its supervisors are. */
static struct load ld;

/* After each test: the load first, then the supervisors. */
static void
tr_fini(void)
{
	load_stop(&ld);
	memset(&ld, 0, sizeof(ld));
	tc_fini();
}

TestSuite(recovery, .fini = tr_fini, .timeout = 240);

/* Run the rest of the test in a network namespace of its own, or skip it. */
static void
tr_netns(void)
{
	char why[256];

	if (load_netns_enter(why, sizeof(why)) == 0)
		return;
	if (errno == EPERM)
		cr_skip_test("%s", why);
	cr_assert_fail("%s", why);
}

/* The load's summary, for a message (one buffer: one call per message). */
static const char *
tr_summary(void)
{
	static char buf[2048];

	return load_summary(&ld, buf, sizeof(buf));
}

/* The pids of the n workers of s's running generation of app. */
static void
tr_worker_pids(struct sup *s, pid_t *pids, int n)
{
	json_object *root = tc_status_json(s), *w;
	char idx[16];
	int i;

	for (i = 0; i < n; i++) {
		snprintf(idx, sizeof(idx), "%d", i);
		w = tc_json_at(tc_json_named(root, "programs", "app"),
		    "generations", "0", "workers", idx, "pid", NULL);
		cr_assert_not_null(w, "no worker %d in %s", i,
		    json_object_to_json_string(root));
		pids[i] = (pid_t)tc_json_int(w);
		cr_assert_gt(pids[i], 0);
		tc_saw_worker(s, pids[i]);
	}
	json_object_put(root);
}

/* Tell whether the record's text names each of the n pids as a process. */
static bool
tr_record_names(const char *text, const pid_t *pids, int n)
{
	char line[32];
	int i;

	for (i = 0; i < n; i++) {
		snprintf(line, sizeof(line), "\nproc %d ", (int)pids[i]);
		if (text == NULL || strstr(text, line) == NULL)
			return false;
	}
	return true;
}

/*
 * Wait until the record of the workers (CONTROL.workers, rewritten by a
 * rename a little after a worker starts) names the n workers, so that a
 * crash now leaves them all to be taken over. inotify says when a new
 * record is renamed into place.
 */
static void
tr_wait_recorded(struct sup *s, const pid_t *pids, int n)
{
	char *record = tc_printf("%s.workers", s->sock), *text = NULL;
	char *dir = strdup(s->sock), *slash;
	long long deadline = support_now_ms() + DEADLINE_MS;
	char events[sizeof(struct inotify_event) + NAME_MAX + 1];
	struct pollfd pfd;
	int ino;

	cr_assert_not_null(dir);
	if ((slash = strrchr(dir, '/')) != NULL)
		*slash = '\0';
	cr_assert_geq(ino = inotify_init1(IN_CLOEXEC | IN_NONBLOCK), 0);
	cr_assert_geq(inotify_add_watch(ino, dir, IN_MOVED_TO |
	    IN_CLOSE_WRITE), 0);
	for (;;) {
		free(text);
		text = support_read_file(record);
		if (tr_record_names(text, pids, n))
			break;
		cr_assert_lt(support_now_ms(), deadline, "the record %s does not "
		    "name every worker:\n%s", record, text ? text : "(none)");
		pfd.fd = ino;
		pfd.events = POLLIN;
		(void)poll(&pfd, 1, (int)(deadline - support_now_ms()));
		while (read(ino, events, sizeof(events)) > 0)
			continue;
	}
	close(ino);
	free(text);
	free(dir);
	free(record);
}

/* Kill s's supervisor with SIGKILL and reap it; its workers serve on. */
static void
tr_crash(struct sup *s)
{
	cr_assert_eq(kill(s->hp.pid, SIGKILL), 0);
	cr_assert_eq(tc_wait_exit(s, DEADLINE_MS), 128 + SIGKILL);
}

/* Tell whether pid is one of the n in pids. */
static bool
tr_among(pid_t pid, const pid_t *pids, int n)
{
	int i;

	for (i = 0; i < n; i++)
		if (pids[i] == pid)
			return true;
	return false;
}

/* The origin of listener name's socket in s's status. */
static char *
tr_origin(struct sup *s, const char *name)
{
	json_object *root = tc_status_json(s);
	const char *origin = tc_json_str(tc_json_at(tc_json_named(root,
	    "listeners", name), "origin", NULL));
	char *copy = strdup(origin != NULL ? origin : "(none)");

	json_object_put(root);
	return copy;
}

/*
 * The crash and the restart under load: the orphans (n, their pids
 * filled in) serve between the two, the new supervisor takes over, the
 * orphans drain and are gone, no request fails, new workers answer. In
 * self mode, where the orphans close their own sockets under load, up to
 * close_race_resets requests may be reset by the kernel's close race
 * (README, Self mode), and nothing else may fail.
 */
static void
tr_crash_and_recover_but_close_races(struct sup *s, pid_t *orphans, int n,
    long close_race_resets)
{
	long resets;
	pid_t pid;
	int i;

	tr_worker_pids(s, orphans, n);
	tr_wait_recorded(s, orphans, n);
	cr_assert_eq(load_start_tcp(&ld, "127.0.0.1", s->port, CLIENTS), 0);
	cr_assert_eq(load_wait_progress(&ld, CLIENTS), 0, "%s", tr_summary());
	tr_crash(s);
	/* The orphans serve alone. */
	cr_assert_eq(load_wait_progress(&ld, CLIENTS * 4), 0, "%s",
	    tr_summary());
	tc_start(s);
	tc_expect_log(s, "orphaned workers of the dead supervisor pid", 1);
	tc_expect_log(s, "are gone", 1);
	for (i = 0; i < n; i++)
		cr_assert(!support_pid_alive(orphans[i]), "orphan %d lives on:\n"
		    "%s", (int)orphans[i], tc_log_text(s));
	cr_assert_eq(load_wait_progress(&ld, CLIENTS * 4), 0, "%s",
	    tr_summary());
	load_stop(&ld);
	resets = load_count(&ld, LOAD_RESET);
	cr_assert_leq(resets, close_race_resets, "more requests reset than the "
	    "kernel's close race may reset: %s\n%s", tr_summary(),
	    tc_log_text(s));
	cr_assert_eq(load_failures(&ld) - resets, 0, "requests failed across "
	    "the crash and the restart: %s\n%s", tr_summary(), tc_log_text(s));
	(void)tc_get(s, &pid);
	cr_assert(!tr_among(pid, orphans, n), "an orphan answered after the "
	    "drain");
}

/* The crash and the restart under load: no request may fail at all. */
static void
tr_crash_and_recover(struct sup *s, pid_t *orphans, int n)
{
	tr_crash_and_recover_but_close_races(s, orphans, n, 0);
}

Test(recovery, kill_9_under_load_then_run_takes_over)
{
	struct sup *s;
	pid_t orphans[WORKERS];
	struct stat sb;
	char *record, *origin;

	tr_netns();
	s = tc_new("", "drain_timeout = 10s\n");
	tc_start(s);
	/* The record: ours alone. */
	record = tc_printf("%s.workers", s->sock);
	cr_assert_eq(stat(record, &sb), 0, "no record %s", record);
	cr_assert_eq(sb.st_uid, geteuid());
	cr_assert_eq(sb.st_mode & 077, 0, "record mode %o", sb.st_mode);
	tr_crash_and_recover(s, orphans, WORKERS);
	origin = tr_origin(s, "web");
	cr_assert_str_eq(origin, "recovered");
	free(origin);
	tc_stop(s);
	/* A clean stop leaves no record, nor its text before the last. */
	cr_assert_eq(stat(record, &sb), -1);
	free(record);
	record = tc_printf("%s.workers.tmp", s->sock);
	cr_assert_eq(stat(record, &sb), -1, "%s is left", record);
	free(record);
}

Test(recovery, reuseport_slots_across_a_crash)
{
	struct sup *s;
	pid_t orphans[WORKERS];
	char *origin;

	tr_netns();
	s = tc_new("", "handoff = reuseport\ndrain_timeout = 10s\n");
	tc_start(s);
	tr_crash_and_recover(s, orphans, WORKERS);
	origin = tr_origin(s, "web");
	cr_assert_str_eq(origin, "recovered");
	free(origin);
	/* Each slot's socket came from the orphan of that slot. */
	tc_expect_log(s, "listener web worker slot 1, from orphaned worker", 1);
	/* And the next reload hands over as ever. */
	cr_assert_eq(kill(s->hp.pid, SIGHUP), 0);
	tc_expect_log(s, "reload done", 1);
	tc_stop(s);
}

/*
 * Self mode: the workers bind their own sockets (SO_REUSEPORT), the
 * supervisor holds none. The orphans are recognised all the same, the new
 * workers bind beside them, and they are drained once those are ready.
 */
Test(recovery, self_mode_orphans_drain_beside_the_new_workers)
{
	struct sup *s;
	pid_t orphans[WORKERS];
	char *args;

	tr_netns();
	s = tc_new("", "");
	args = tc_printf("--listen 127.0.0.1:%d", s->port);
	tc_write_config(s, args, "handoff = self\nready = listening\n"
	    "drain_timeout = 10s\n");
	free(args);
	tc_start(s);
	tr_crash_and_recover_but_close_races(s, orphans, WORKERS,
	    TR_CLOSE_RACE_RESETS);
	tc_expect_log(s, "2 orphaned workers of the dead supervisor pid", 1);
	/* Nothing was copied: the supervisor holds no socket of theirs. */
	cr_assert_eq(tc_log_count(s, "from orphaned worker"), 0, "%s",
	    tc_log_text(s));
	tc_stop(s);
}

/*
 * preload = yes: the shim moved each worker's inherited socket to an fd
 * of its own, and the app's bind() made its fd that socket. The new
 * supervisor finds the socket by its inode in /proc/PID/fd.
 */
Test(recovery, preload_workers_sockets_are_found_where_the_shim_moved_them)
{
	struct sup *s;
	pid_t orphans[WORKERS];
	char *text, *origin;

	tr_netns();
	s = tc_new("", "");
	text = tc_printf("[supervisor]\nname = ctltest\ncontrol = %s\n"
	    "pidfile = %s/handoff.pid\n\n[listener web]\n"
	    "listen = 127.0.0.1:%d\n\n[program app]\ncommand = %s --listen "
	    "127.0.0.1:%d\nlisteners = web\npreload = yes\nworkers = %d\n"
	    "ready = listening\ndrain_timeout = 10s\n", s->sock, s->dir,
	    s->port, support_env("HANDOFF_BINDSERVER"), s->port, WORKERS);
	free(support_write_file(s->dir, "handoff.ini", text));
	free(text);
	tc_start(s);
	tr_crash_and_recover(s, orphans, WORKERS);
	origin = tr_origin(s, "web");
	cr_assert_str_eq(origin, "recovered");
	free(origin);
	tc_expect_log(s, "listener web worker slot 0, from orphaned worker", 1);
	tc_stop(s);
}

/*
 * A server started as root that switches to another user itself (here
 * setpriv, as `memcached -u` or `named -u` do) is still the process the
 * record names, by pid and start time: it is taken over and drained, not
 * reported as a stranger holding the address.
 */
Test(recovery, a_worker_that_switched_user_itself_is_taken_over)
{
	struct sup *s;
	pid_t orphans[WORKERS];
	char *text;

	if (geteuid() != 0 || access("/usr/bin/setpriv", X_OK) != 0)
		cr_skip_test("needs root and /usr/bin/setpriv");
	tr_netns();
	s = tc_new("", "");
	text = tc_printf("[supervisor]\nname = ctltest\ncontrol = %s\n"
	    "pidfile = %s/handoff.pid\n\n[listener web]\n"
	    "listen = 127.0.0.1:%d\n\n[program app]\ncommand = "
	    "/usr/bin/setpriv --reuid=65534 --regid=65534 --clear-groups %s\n"
	    "listeners = web\nworkers = %d\nready = delay:200ms\n"
	    "drain_timeout = 10s\n", s->sock, s->dir, s->port,
	    support_env("HANDOFF_TESTSERVER"), WORKERS);
	free(support_write_file(s->dir, "handoff.ini", text));
	free(text);
	tc_start(s);
	tr_crash_and_recover_but_close_races(s, orphans, WORKERS,
	    TR_CLOSE_RACE_RESETS);
	tc_expect_log(s, "2 orphaned workers of the dead supervisor pid", 1);
	tc_stop(s);
}

/* The start time (/proc/PID/stat field 22) of pid. */
static unsigned long long
tr_start_time(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long start = 0;
	FILE *fp;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	cr_assert_not_null(fp = fopen(path, "re"));
	cr_assert_not_null(fgets(buf, sizeof(buf), fp));
	fclose(fp);
	cr_assert_not_null(p = strrchr(buf, ')'));
	cr_assert_eq(sscanf(p + 1, " %*c %*d %*d %*d %*s %*s %*s %*s %*s %*s "
	    "%*s %*s %*s %*s %*s %*s %*s %*s %*s %llu", &start), 1);
	return start;
}

/*
 * A stranger (not a worker) listens on s's port; a record at mode names
 * it with start time start (0: its own) and inode ino at fd 3. The start
 * is refused with "held by pid" and the stranger keeps its socket.
 */
static void
tr_untrusted(const char *why_logged, mode_t mode, long long start_delta,
    unsigned long long ino)
{
	struct sup *s = tc_new("", "");
	char *address = tc_printf("127.0.0.1:%d", s->port), *text, *path;
	char *held;
	pid_t stranger = tc_start_stranger(s, address);

	text = tc_printf("handoff-workers 1\nsupervisor 999999 1\n"
	    "proc %d %llu %u 1 0 app\nfd 3 %llu 0 web %s\n", (int)stranger,
	    tr_start_time(stranger) + (unsigned long long)start_delta,
	    (unsigned)geteuid(), ino, address);
	path = tc_printf("%s.workers", s->sock);
	free(support_write_file(s->dir, "ctl.sock.workers", text));
	cr_assert_eq(chmod(path, mode), 0);
	held = tc_printf("listener web: %s: address already in use (held by "
	    "pid %d", address, (int)stranger);
	tc_expect_start_refused(s, held);
	if (why_logged != NULL)
		cr_assert_eq(tc_log_count(s, why_logged), 1, "%s",
		    tc_log_text(s));
	cr_assert_eq(tc_log_count(s, "took 127.0.0.1"), 0, "%s",
	    tc_log_text(s));
	cr_assert(support_pid_alive(stranger));
	tc_stop_stranger(&stranger);
	free(held);
	free(path);
	free(text);
	free(address);
}

Test(recovery, a_record_of_a_reused_pid_is_not_trusted)
{
	tr_untrusted("that pid is another process now", 0600, 1, 1);
}

Test(recovery, a_record_others_may_write_is_not_trusted)
{
	tr_untrusted("the record of the workers is not trusted", 0666, 0, 1);
}

/*
 * A FIFO where the record goes is not a record: the supervisor says so and
 * starts, rather than waiting forever for a writer to open it.
 */
Test(recovery, a_fifo_in_place_of_the_record_is_not_trusted)
{
	struct sup *s = tc_new("", "");
	char *path = tc_printf("%s.workers", s->sock);

	cr_assert_eq(mkfifo(path, 0600), 0);
	tc_start(s);
	cr_assert_eq(tc_log_count(s, "the record of the workers is not "
	    "trusted"), 1, "%s", tc_log_text(s));
	cr_assert_eq(tc_log_count(s, "not a regular file"), 1, "%s",
	    tc_log_text(s));
	tc_stop(s);
	free(path);
}

/*
 * A record grown huge (a process with millions of fd lines, each held in
 * memory hundreds of bytes wide) is refused at once, not read for minutes
 * into gigabytes: a process of a record has at most as many sockets as a
 * program has listeners.
 */
Test(recovery, a_huge_record_is_refused_at_once)
{
	struct sup *s = tc_new("", "");
	char *path = tc_printf("%s.workers", s->sock);
	FILE *fp;
	long i;

	cr_assert_not_null(fp = fopen(path, "we"));
	fprintf(fp, "handoff-workers 1\nsupervisor 999999 1\n"
	    "proc 999998 1 %u 1 0 app\n", (unsigned)geteuid());
	for (i = 0; i < 2000000; i++)
		fputs("fd 3 1 0 web x\n", fp);
	cr_assert_eq(fclose(fp), 0);
	tc_start(s);
	cr_assert_eq(tc_log_count(s, "the record of the workers is not "
	    "trusted"), 1, "%s", tc_log_text(s));
	tc_stop(s);
	free(path);
}

Test(recovery, a_recorded_fd_that_is_not_the_recorded_socket_is_not_taken)
{
	tr_untrusted(NULL, 0600, 0, 1);
}

Test(recovery, a_socket_held_by_a_process_not_recorded_is_held_by_pid)
{
	struct sup *s = tc_new("", "");
	char *address = tc_printf("127.0.0.1:%d", s->port), *held;
	pid_t stranger = tc_start_stranger(s, address);

	held = tc_printf("listener web: %s: address already in use (held by "
	    "pid %d", address, (int)stranger);
	tc_expect_start_refused(s, held);
	tc_stop_stranger(&stranger);
	free(held);
	free(address);
}

Test(recovery, without_the_right_to_copy_their_fds_the_error_names_the_pids)
{
	struct sup *s;
	pid_t orphans[WORKERS], pid;
	const char *args[16];
	char *server, *bin, *line, *log;
	int i = 0;

	if (geteuid() != 0 || access("/usr/bin/setpriv", X_OK) != 0)
		cr_skip_test("needs root and setpriv: the workers run as nobody, "
		    "the new supervisor as root without CAP_SYS_PTRACE");
	s = tc_new("", "");
	/* The server copied where nobody may run it. */
	server = support_copy_executable(support_env("HANDOFF_TESTSERVER"),
	    s->dir);
	cr_assert_eq(chmod(s->dir, 0755), 0);
	setenv("HANDOFF_TESTSERVER", server, 1);
	tc_write_config(s, "", "user = nobody\n");
	tc_start(s);
	tr_worker_pids(s, orphans, WORKERS);
	tr_wait_recorded(s, orphans, WORKERS);
	tr_crash(s);

	bin = support_copy_handoff(s->dir);
	args[i++] = "--inh-caps=-sys_ptrace";
	args[i++] = "--bounding-set=-sys_ptrace";
	args[i++] = "--";
	args[i++] = bin;
	args[i++] = "run";
	args[i++] = "-c";
	args[i++] = s->config;
	args[i] = NULL;
	setenv("HANDOFF_BIN", "/usr/bin/setpriv", 1);
	support_handoff_free(&s->hp);
	cr_assert_eq(support_handoff_start_args(&s->hp, args, s->log, NULL), 0);
	cr_assert_eq(tc_wait_exit(s, DEADLINE_MS), 1, "%s", tc_log_text(s));
	line = tc_printf("pidfd_getfd cannot take them over: Operation not "
	    "permitted");
	cr_assert_eq(tc_log_count(s, line), 1, "%s", tc_log_text(s));
	free(line);
	log = tc_log_text(s);
	for (i = 0; i < WORKERS; i++) {
		line = tc_printf("%d", (int)orphans[i]);
		cr_assert(strstr(log, line) != NULL, "pid %s not named:\n%s",
		    line, log);
		free(line);
		/* Nothing changed: they serve on. */
		cr_assert(support_pid_alive(orphans[i]));
	}
	(void)tc_get(s, &pid);
	cr_assert(tr_among(pid, orphans, WORKERS));

	/* A supervisor that may takes over as ever. */
	setenv("HANDOFF_BIN", bin, 1);
	tc_start(s);
	tc_expect_log(s, "are gone", 1);
	(void)tc_get(s, &pid);
	cr_assert(!tr_among(pid, orphans, WORKERS));
	tc_stop(s);
	free(log);
	free(bin);
	free(server);
}
