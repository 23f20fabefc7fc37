/*
 * test_self.c: handoff = self with ready = listening, as an operator sees
 * it. The program binds its own SO_REUSEPORT sockets (the test server's
 * --listen, nginx's `listen ... reuseport`); the supervisor binds none,
 * passes no LISTEN_FDS, calls a worker ready once a socket of its own
 * listens on each of its addresses, and shows those sockets in status. A
 * reload starts the new generation beside the old one; the old one gets
 * its stop signal once every new worker listens and closes its own
 * sockets, whose queued connections the kernel moves to the new ones
 * (net.ipv4.tcp_migrate_req, which the supervisor turns on as root).
 *
 * As root, each test runs in a network namespace of its own (unshare,
 * then lo up), so that the supervisor's sysctl changes nothing outside;
 * the tests that need migration or nginx skip, saying why, without it.
 */
#include "autoconf.h"

#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <errno.h>
#include <json.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define TS_CLIENTS	8	/* closed-loop clients of the load tests */
#define TS_RELOADS	10
/*
 * Resets a load test of self mode accepts: the kernel's close race (README,
 * Self mode) resets a few connections per thousand socket closes under
 * load; these tests close some 20 sockets, so more than 2 means something
 * else (no migration resets a few per reload).
 */
#define TS_CLOSE_RACE_RESETS	2

TestSuite(self, .fini = tc_fini, .timeout = 240);

/*
 * Give the test a network namespace of its own (root only), with lo up:
 * the supervisor's tcp_migrate_req then changes nothing outside it. Not
 * root: skip if required (naming why), else stay where we are.
 */
static void
ts_private_net(bool required, const char *why)
{
	if (geteuid() != 0 && required)
		cr_skip_test("needs root (a network namespace of its own, %s)",
		    why);
	tc_own_netns();
}

/*
 * The config of a self-mode program: 2 test servers binding
 * 127.0.0.1:port themselves (--listen) with extra ARGS, ready once they
 * listen, and extra program KEYS.
 */
static void
ts_config(struct sup *s, const char *args, const char *keys)
{
	char *full_args = tc_printf("--listen 127.0.0.1:%d%s%s", s->port,
	    *args ? " " : "", args);
	char *full_keys = tc_printf("handoff = self\nready = listening\n%s",
	    keys);

	tc_write_config(s, full_args, full_keys);
	free(full_args);
	free(full_keys);
}

/* A supervisor of a self-mode program (see ts_config), not started. */
static struct sup *
ts_new(const char *args, const char *keys)
{
	struct sup *s = tc_new("", "");

	ts_config(s, args, keys);
	return s;
}

/* Write the supervisor's config: program app running command in self mode. */
static void
ts_write_command(struct sup *s, const char *command, const char *keys)
{
	char *text = tc_printf(
	    "[supervisor]\nname = ctltest\ncontrol = %s\npidfile = %s/handoff.pid\n"
	    "\n[listener web]\nlisten = 127.0.0.1:%d\n"
	    "\n[program app]\ncommand = %s\nlisteners = web\n"
	    "handoff = self\nready = listening\n%s", s->sock, s->dir, s->port,
	    command, keys);

	free(support_write_file(s->dir, "handoff.ini", text));
	free(text);
}

/* `handoff reload -s SOCK`: its exit code; res keeps what it printed. */
static int
ts_reload(struct sup *s, struct run_result *res)
{
	return support_handoff_cmd(res, "reload", "-s", s->sock, NULL);
}

/* The program app in a status document. */
static json_object *
ts_app(json_object *root)
{
	json_object *app = tc_json_named(root, "programs", "app");

	cr_assert_not_null(app, "no program app in status: %s",
	    json_object_to_json_string(root));
	return app;
}

/* The generation that answers GET / on port (0: none did), and its pid. */
static int
ts_gen_on(int port, pid_t *pid)
{
	int gen = 0;

	if (tc_http_get(port, &gen, pid) != SUPPORT_HTTP_OK)
		return 0;
	return gen;
}

/*
 * Socket i of app's self_sockets in status, which must hold one per worker
 * of its 2 in generation 1; *wpid is the pid of the worker it belongs to.
 */
static json_object *
ts_worker_socket(json_object *app, size_t i, pid_t *wpid)
{
	json_object *socks = tc_json_at(app, "self_sockets", NULL), *sock;
	int k;

	cr_assert_not_null(socks);
	cr_assert_eq(json_object_array_length(socks), 2, "%s",
	    json_object_to_json_string(socks));
	sock = json_object_array_get_idx(socks, i);
	k = (int)tc_json_int(tc_json_at(sock, "worker", NULL));
	cr_assert(k == 0 || k == 1, "%s", json_object_to_json_string(sock));
	*wpid = (pid_t)tc_json_int(tc_json_at(app, "generations", "0",
	    "workers", k ? "1" : "0", "pid", NULL));
	return sock;
}

/* Tell whether /proc/PID/fd holds the socket of inode. */
static bool
ts_holds_socket(pid_t pid, long long inode)
{
	char dir[64], path[128], link[64], want[64];
	int fd;
	ssize_t n;

	snprintf(want, sizeof(want), "socket:[%lld]", inode);
	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	for (fd = 0; fd < 256; fd++) {
		snprintf(path, sizeof(path), "%s/%d", dir, fd);
		if ((n = readlink(path, link, sizeof(link) - 1)) <= 0)
			continue;
		link[n] = '\0';
		if (strcmp(link, want) == 0)
			return true;
	}
	return false;
}

/* A counter of /proc/net/netstat (this network namespace's), or -1. */
static long long
ts_netstat(const char *name)
{
	char *text = support_read_file("/proc/net/netstat"), *head, *vals;
	char *hs, *vs, *h, *v;
	long long value = -1;

	if (text == NULL)
		return -1;
	if ((head = strstr(text, "TcpExt: ")) == NULL ||
	    (vals = strchr(head, '\n')) == NULL) {
		free(text);
		return -1;
	}
	*vals++ = '\0';
	if (strchr(vals, '\n') != NULL)
		*strchr(vals, '\n') = '\0';
	h = strtok_r(head, " ", &hs);
	v = strtok_r(vals, " ", &vs);
	while ((h = strtok_r(NULL, " ", &hs)) != NULL &&
	    (v = strtok_r(NULL, " ", &vs)) != NULL)
		if (strcmp(h, name) == 0)
			value = strtoll(v, NULL, 10);
	free(text);
	return value;
}

/* The time of day in ms, to find a moment in the supervisor's log. */
static long long
ts_realtime_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Closed-loop clients: each sends GET / again as soon as it is answered. */
struct ts_load {
	int		 port;
	pthread_t	 threads[TS_CLIENTS];
	atomic_bool	 stop;
	atomic_long	 results[SUPPORT_HTTP_ERROR + 1];
	atomic_llong	 first_failure_ms;	/* CLOCK_REALTIME; 0: none */
};

/* A client of the load: one request after the other until told to stop. */
static void *
ts_client(void *arg)
{
	struct ts_load *load = arg;
	char *body;
	int rc;

	while (!atomic_load(&load->stop)) {
		body = NULL;
		rc = support_http_get(load->port, "/", &body);
		free(body);
		if (rc >= 0 && rc <= SUPPORT_HTTP_ERROR)
			atomic_fetch_add(&load->results[rc], 1);
		if (rc != SUPPORT_HTTP_OK) {
			long long none = 0;

			(void)atomic_compare_exchange_strong(
			    &load->first_failure_ms, &none, ts_realtime_ms());
		}
	}
	return NULL;
}

/* Start TS_CLIENTS clients on 127.0.0.1:port. */
static void
ts_load_start(struct ts_load *load, int port)
{
	int i;

	memset(load, 0, sizeof(*load));
	load->port = port;
	for (i = 0; i < TS_CLIENTS; i++)
		cr_assert_eq(pthread_create(&load->threads[i], NULL, ts_client,
		    load), 0);
}

/* Stop the clients; log what they saw, and return how many failed. */
static long
ts_load_stop(struct ts_load *load, const char *what)
{
	long failed = 0, n;
	int i;

	atomic_store(&load->stop, true);
	for (i = 0; i < TS_CLIENTS; i++)
		pthread_join(load->threads[i], NULL);
	for (i = SUPPORT_HTTP_OK; i <= SUPPORT_HTTP_ERROR; i++) {
		n = atomic_load(&load->results[i]);
		if (i != SUPPORT_HTTP_OK)
			failed += n;
		if (n > 0 || i == SUPPORT_HTTP_OK)
			cr_log_info("%s: %ld %s", what, n, support_http_name(i));
	}
	cr_assert_gt(atomic_load(&load->results[SUPPORT_HTTP_OK]), 0,
	    "%s: no request was answered", what);
	return failed;
}

/*
 * Check that the clients lost nothing: no refusal, reset or timeout, but
 * for at most TS_CLOSE_RACE_RESETS resets where the program's own sockets
 * close under load (README, Self mode: the kernel resets a connection whose
 * handshake completes as an old socket closes, which connection migration
 * does not cover; a few per thousand closes).
 */
static void
ts_expect_no_loss_but_close_races(struct sup *s, struct ts_load *load,
    const char *what, long close_race_resets)
{
	long long at;
	time_t sec;
	struct tm tm;
	char when[32] = "(none failed)";
	bool lost = false;
	long n;
	int i;

	(void)ts_load_stop(load, what);
	for (i = SUPPORT_HTTP_OK + 1; i <= SUPPORT_HTTP_ERROR; i++) {
		n = atomic_load(&load->results[i]);
		if (i == SUPPORT_HTTP_RESET) {
			cr_expect_leq(n, close_race_resets, "%s: %ld request(s) "
			    "reset, more than the %ld the kernel's close race "
			    "may reset", what, n, close_race_resets);
			lost = lost || n > close_race_resets;
		} else {
			cr_expect_eq(n, 0, "%s: %ld request(s) %s", what, n,
			    support_http_name(i));
			lost = lost || n != 0;
		}
	}
	/* What the supervisor saw, and when the first request failed. */
	if (lost) {
		char *log = tc_log_text(s);

		at = atomic_load(&load->first_failure_ms);
		sec = (time_t)(at / 1000);
		if (at != 0 && localtime_r(&sec, &tm) != NULL)
			snprintf(when, sizeof(when), "%02d:%02d:%02d.%03lld",
			    tm.tm_hour, tm.tm_min, tm.tm_sec, at % 1000);
		cr_log_error("%s: the first failed request ended at %s; the "
		    "supervisor's log:\n%s", what, when, log);
		free(log);
	}
}


/*
 * A self-mode program serves on the sockets it binds itself: the
 * supervisor binds nothing and passes no LISTEN_FDS; a worker is ready
 * only once its own socket listens (not before --ready-after has passed),
 * and status shows each worker's socket, the one in its fds.
 */
Test(self, serves_on_its_own_sockets_once_listening)
{
	struct sup *s;
	json_object *root, *app, *sock;
	char *line, *body = NULL, *needle;
	struct run_result res;
	long long inode;
	pid_t pid, wpid;
	size_t i;
	int ms = -1;

	ts_private_net(false, NULL);
	s = ts_new("--ready-after 500ms", "");
	tc_start(s);
	line = support_handoff_wait_line(&s->hp, "app gen 1: ready 2/2 in ", 1);
	cr_assert_not_null(line);
	cr_assert_eq(sscanf(strstr(line, " in ") + 4, "%dms", &ms), 1, "%s",
	    line);
	/* The test servers bind 500ms after they start, not before. */
	cr_expect_geq(ms, 500, "ready before the workers listened: %s", line);
	free(line);

	cr_assert_eq(ts_gen_on(s->port, &pid), 1);
	cr_assert_eq(support_http_get(s->port, "/env", &body), SUPPORT_HTTP_OK);
	cr_expect(strstr(body, "LISTEN_FDS=") == NULL, "%s", body);
	cr_expect(strstr(body, "SERVER_STARTER_PORT=") == NULL, "%s", body);
	cr_expect(strstr(body, "HANDOFF_GENERATION=1") != NULL, "%s", body);
	free(body);

	root = tc_status_json(s);
	cr_expect_eq(json_object_array_length(tc_json_at(root, "listeners",
	    NULL)), 0, "the supervisor holds a socket: %s",
	    json_object_to_json_string(root));
	app = ts_app(root);
	cr_expect_str_eq(tc_json_str(tc_json_at(app, "handoff", NULL)), "self");
	cr_expect_str_eq(tc_json_str(tc_json_at(app, "ready", NULL)),
	    "listening");
	cr_expect(json_object_is_type(tc_json_at(app, "self_sockets_error",
	    NULL), json_type_null));
	for (i = 0; i < 2; i++) {
		sock = ts_worker_socket(app, i, &wpid);
		tc_saw_worker(s, wpid);
		cr_expect_eq(tc_json_int(tc_json_at(sock, "pid", NULL)), wpid);
		cr_expect_eq(tc_json_int(tc_json_at(sock, "generation", NULL)), 1);
		cr_expect_str_eq(tc_json_str(tc_json_at(sock, "listener", NULL)),
		    "web");
		needle = tc_printf("127.0.0.1:%d", s->port);
		cr_expect_str_eq(tc_json_str(tc_json_at(sock, "address", NULL)),
		    needle);
		cr_expect_str_eq(tc_json_str(tc_json_at(sock, "bound", NULL)),
		    needle);
		free(needle);
		inode = tc_json_int(tc_json_at(sock, "inode", NULL));
		cr_expect(ts_holds_socket(wpid, inode), "worker pid %d holds "
		    "no socket of inode %lld", (int)wpid, inode);
		cr_expect_geq(tc_json_int(tc_json_at(sock, "backlog", NULL)), 1);
	}
	json_object_put(root);

	cr_assert_eq(support_handoff_cmd(&res, "status", "-s", s->sock, NULL), 0);
	needle = tc_printf("127.0.0.1:%d", s->port);
	cr_expect(strstr(res.out, "SELF-BOUND BY") != NULL, "%s", res.out);
	cr_expect(strstr(res.out, needle) != NULL, "%s", res.out);
	free(needle);
	support_result_free(&res);
	tc_stop(s);
}

/*
 * A worker of a running self-mode generation that dies is restarted and
 * ready again once its new process listens; status shows its new socket.
 */
Test(self, restarted_worker_is_ready_again_once_listening)
{
	struct sup *s;
	json_object *root, *socks, *sock;
	pid_t old, now, holder;
	size_t i;
	bool seen = false;

	ts_private_net(false, NULL);
	s = ts_new("--ready-after 200ms", "");
	tc_start(s);
	cr_assert_eq(ts_gen_on(s->port, &old), 1);
	tc_saw_worker(s, old);
	cr_assert_eq(kill(old, SIGKILL), 0);
	tc_expect_log(s, "ready again after restart 1", 1);
	root = tc_status_json(s);
	socks = tc_json_at(ts_app(root), "self_sockets", NULL);
	cr_assert_not_null(socks);
	cr_expect_eq(json_object_array_length(socks), 2, "%s",
	    json_object_to_json_string(socks));
	for (i = 0; i < json_object_array_length(socks); i++) {
		sock = json_object_array_get_idx(socks, i);
		holder = (pid_t)tc_json_int(tc_json_at(sock, "pid", NULL));
		cr_expect_neq(holder, old, "the dead worker's socket is shown");
		tc_saw_worker(s, holder);
	}
	json_object_put(root);
	/* The restarted worker answers too, sooner or later. */
	for (i = 0; i < 1000 && !seen; i++)
		seen = ts_gen_on(s->port, &now) == 1 && now != old &&
		    ts_gen_on(s->port, &holder) == 1 && holder != now;
	cr_expect(seen, "the two workers do not both answer");
	tc_stop(s);
}

/*
 * A worker that does not listen itself but whose child does (a shell
 * running the server) is ready once the child listens; status names the
 * child as the socket's holder.
 */
Test(self, worker_ready_when_its_child_listens)
{
	struct sup *s;
	json_object *root, *app, *sock;
	char *command;
	pid_t holder, wpid;
	size_t i;

	ts_private_net(false, NULL);
	s = tc_new("", "");
	command = tc_printf("/bin/sh -c '%s --listen 127.0.0.1:%d && true'",
	    support_env("HANDOFF_TESTSERVER"), s->port);
	ts_write_command(s, command, "workers = 2\ndrain_timeout = 1s\n");
	free(command);
	tc_start(s);
	cr_assert_eq(ts_gen_on(s->port, &holder), 1);
	root = tc_status_json(s);
	app = ts_app(root);
	for (i = 0; i < 2; i++) {
		sock = ts_worker_socket(app, i, &wpid);
		holder = (pid_t)tc_json_int(tc_json_at(sock, "pid", NULL));
		tc_saw_worker(s, wpid);
		tc_saw_worker(s, holder);
		cr_expect_neq(holder, wpid, "the shell holds the socket");
		cr_expect(ts_holds_socket(holder, tc_json_int(tc_json_at(sock,
		    "inode", NULL))), "pid %d holds no such socket", (int)holder);
	}
	json_object_put(root);
	tc_stop(s);
}

/*
 * Item (b): a test server that binds its own SO_REUSEPORT socket after a
 * slow start loses nothing across 10 reloads under load: the supervisor
 * turns connection migration on in its network namespace, each new
 * generation takes over only once it listens, and the connections queued
 * on the old sockets as they close move to the new ones (all but what the
 * kernel's close race may reset: TS_CLOSE_RACE_RESETS).
 */
Test(self, zero_loss_across_reloads_under_load)
{
	struct sup *s;
	struct ts_load load;
	struct run_result res;
	json_object *root;
	long long failures;
	pid_t pid;
	int i;

	ts_private_net(true, "where the supervisor may turn connection "
	    "migration on");
	s = ts_new("--ready-after 200ms", "");
	tc_start(s);
	tc_expect_log(s, "set net.ipv4.tcp_migrate_req = 1", 1);
	root = tc_status_json(s);
	cr_expect_str_eq(tc_json_str(tc_json_at(root, "supervisor", "migration",
	    NULL)), "enabled");
	json_object_put(root);
	failures = ts_netstat("TCPMigrateReqFailure");

	ts_load_start(&load, s->port);
	for (i = 0; i < TS_RELOADS; i++) {
		cr_assert_eq(ts_reload(s, &res), 0, "reload %d: %s%s", i + 1,
		    res.out, res.err);
		support_result_free(&res);
		cr_expect_eq(ts_gen_on(s->port, &pid), i + 2);
	}
	ts_expect_no_loss_but_close_races(s, &load, "10 reloads",
	    TS_CLOSE_RACE_RESETS);
	/*
	 * Failed migrations are not the loss: the kernel counts some that
	 * reset a connection (counted by the load above) and some that lose
	 * nothing (README, Self mode).
	 */
	cr_log_info("connections migrated: %lld, migrations failed: %lld",
	    ts_netstat("TCPMigrateReqSuccess"),
	    ts_netstat("TCPMigrateReqFailure") - failures);
	tc_stop(s);
}

/*
 * Without connection migration (the sysctl cannot be set here: a
 * read-only file over it in a mount namespace of the test's own) the
 * supervisor says at start what self mode then loses; reloads still work,
 * and what the clients lost is reported as it is.
 */
Test(self, without_migration_warns_at_start_and_reports_loss)
{
	struct sup *s;
	struct ts_load load;
	struct run_result res;
	json_object *root;
	char *zero, *dir;
	long lost;
	int i;

	ts_private_net(true, "and a mount namespace where the sysctl cannot "
	    "be set");
	cr_assert_eq(unshare(CLONE_NEWNS), 0, "unshare(CLONE_NEWNS): %s",
	    strerror(errno));
	cr_assert_eq(mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL), 0);
	dir = support_tmpdir();
	zero = support_write_file(dir, "zero", "0\n");
	cr_assert_eq(mount(zero, "/proc/sys/net/ipv4/tcp_migrate_req", NULL,
	    MS_BIND, NULL), 0, "%s", strerror(errno));
	cr_assert_eq(mount(NULL, "/proc/sys/net/ipv4/tcp_migrate_req", NULL,
	    MS_REMOUNT | MS_BIND | MS_RDONLY, NULL), 0, "%s", strerror(errno));

	s = ts_new("--ready-after 200ms", "");
	tc_start(s);
	tc_expect_log(s, "connection migration is unavailable: "
	    "net.ipv4.tcp_migrate_req is 0 and cannot be set", 1);
	tc_expect_log(s, "with handoff = self, on every reload (the old "
	    "generation closes its own sockets)", 1);
	root = tc_status_json(s);
	cr_expect_str_eq(tc_json_str(tc_json_at(root, "supervisor", "migration",
	    NULL)), "off");
	json_object_put(root);

	ts_load_start(&load, s->port);
	for (i = 0; i < TS_RELOADS; i++) {
		cr_assert_eq(ts_reload(s, &res), 0, "reload %d: %s%s", i + 1,
		    res.out, res.err);
		support_result_free(&res);
	}
	/*
	 * Only connections queued on a closing socket can be lost (reset),
	 * none refused: the new sockets listen before the old ones close.
	 * This server accepts as fast as the clients connect, so few or none
	 * are queued when it closes: the count is reported, not asserted.
	 */
	lost = ts_load_stop(&load, "10 reloads without migration");
	cr_log_info("without migration, 10 reloads lost %ld request(s), %ld "
	    "of them reset", lost,
	    atomic_load(&load.results[SUPPORT_HTTP_RESET]));
	cr_expect_eq(atomic_load(&load.results[SUPPORT_HTTP_REFUSED]), 0);
	tc_stop(s);
	umount("/proc/sys/net/ipv4/tcp_migrate_req");
	support_rmtree(dir);
	free(zero);
	free(dir);
}

/* The nginx binary, or NULL if it is not installed. */
static const char *
ts_nginx(void)
{
	static const char *const paths[] = { "/usr/sbin/nginx",
	    "/usr/local/sbin/nginx", "/usr/bin/nginx", "/usr/local/bin/nginx" };
	size_t i;

	for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		if (access(paths[i], X_OK) == 0)
			return paths[i];
	return NULL;
}

/* nginx's config: in the foreground, 2 workers, answering "conf=V". */
static void
ts_nginx_conf(struct sup *s, int version)
{
	char *text = tc_printf(
	    "daemon off;\n"
	    "master_process on;\n"
	    "worker_processes 2;\n"
	    "pid %s/nginx.pid;\n"
	    "error_log stderr notice;\n"
	    "events { worker_connections 512; }\n"
	    "http {\n"
	    "    access_log off;\n"
	    "    client_body_temp_path %s/body;\n"
	    "    server {\n"
	    "        listen 127.0.0.1:%d reuseport;\n"
	    "        location / { return 200 \"conf=%d\\n\"; }\n"
	    "    }\n"
	    "}\n", s->dir, s->dir, s->port, version);

	free(support_write_file(s->dir, "nginx.conf", text));
	free(text);
}

/* The config version nginx answers with on port, 0 if it did not answer. */
static int
ts_nginx_version(int port)
{
	char *body = NULL;
	int version = 0;

	if (support_http_get(port, "/", &body) != SUPPORT_HTTP_OK ||
	    sscanf(body, "conf=%d", &version) != 1)
		version = 0;
	free(body);
	return version;
}

/*
 * Item (c): nginx with `listen ... reuseport` under handoff = self: its
 * master process is the worker (it binds the sockets; its own workers are
 * descendants), QUIT stops it gracefully, and 10 reloads under load lose
 * nothing, each new nginx answering with the config it was started with.
 */
Test(self, nginx_reuseport_zero_loss_across_reloads)
{
	const char *nginx = ts_nginx();
	struct sup *s;
	struct ts_load load;
	struct run_result res;
	char *command;
	int i;

	if (nginx == NULL)
		cr_skip_test("nginx is not installed (apt-get install "
		    "nginx-light): nothing to run under handoff = self");
	ts_private_net(true, "where the supervisor may turn connection "
	    "migration on");
	s = tc_new("", "");
	ts_nginx_conf(s, 1);
	command = tc_printf("%s -p %s -c %s/nginx.conf -e stderr", nginx, s->dir,
	    s->dir);
	ts_write_command(s, command, "workers = 1\nstop_signal = QUIT\n");
	free(command);
	tc_start(s);
	cr_assert_eq(ts_nginx_version(s->port), 1, "nginx does not answer:\n%s",
	    tc_log_text(s));

	ts_load_start(&load, s->port);
	for (i = 2; i <= TS_RELOADS + 1; i++) {
		ts_nginx_conf(s, i);
		cr_assert_eq(ts_reload(s, &res), 0, "reload %d: %s%s\n%s", i - 1,
		    res.out, res.err, tc_log_text(s));
		support_result_free(&res);
		cr_expect_eq(ts_nginx_version(s->port), i);
	}
	ts_expect_no_loss_but_close_races(s, &load, "nginx, 10 reloads",
	    TS_CLOSE_RACE_RESETS);
	cr_log_info("connections migrated: %lld",
	    ts_netstat("TCPMigrateReqSuccess"));
	tc_stop(s);
}

/* `handoff check -c` of a config: expect exit 2 and a line with needle. */
static void
ts_expect_check_error(const char *dir, const char *config, const char *needle)
{
	struct run_result res;
	char *path = support_write_file(dir, "bad.ini", config);
	char *line = tc_printf("%s:%s", path, needle);

	cr_expect_eq(support_handoff_cmd(&res, "check", "-c", path, NULL), 2,
	    "%s", res.err);
	cr_expect(strstr(res.err, line) != NULL, "no \"%s\" in:\n%s", line,
	    res.err);
	support_result_free(&res);
	free(line);
	free(path);
}

/*
 * Item (d): configs self mode cannot run are errors naming FILE:LINE: a
 * listener shared with a program of another mode, a unix listener, a
 * port left to the kernel, ready = listening outside self mode. handoff
 * run refuses them too and starts nothing.
 */
Test(self, config_errors)
{
	char *dir = support_tmpdir(), *text, *path;
	struct run_result res;
	int port = support_free_port();

	text = tc_printf("[listener web]\nlisten = 127.0.0.1:%d\n\n"
	    "[program a]\ncommand = /bin/true\nlisteners = web\nhandoff = self\n"
	    "ready = listening\n\n"
	    "[program b]\ncommand = /bin/true\nlisteners = web\n", port);
	ts_expect_check_error(dir, text, "12: program b: listener web is bound "
	    "by program a itself (handoff = self): the supervisor has no socket "
	    "of it for program b (handoff = inherit)");
	path = support_write_file(dir, "shared.ini", text);
	cr_expect_eq(support_handoff_cmd(&res, "run", "-c", path, NULL), 2);
	cr_expect(strstr(res.err, "is bound by program a itself") != NULL, "%s",
	    res.err);
	support_result_free(&res);
	free(path);
	free(text);

	text = tc_printf("[listener sock]\nlisten = unix:%s/app.sock\n\n"
	    "[program a]\ncommand = /bin/true\nlisteners = sock\n"
	    "handoff = self\n", dir);
	ts_expect_check_error(dir, text, "6: program a: handoff = self needs "
	    "TCP or UDP listeners, and sock is a unix socket");
	free(text);

	ts_expect_check_error(dir, "[listener web]\nlisten = 127.0.0.1:0\n\n"
	    "[program a]\ncommand = /bin/true\nlisteners = web\n"
	    "handoff = self\n", "6: program a: handoff = self needs a fixed "
	    "port on listener web");

	text = tc_printf("[listener web]\nlisten = 127.0.0.1:%d\n\n"
	    "[program a]\ncommand = /bin/true\nlisteners = web\n"
	    "ready = listening\n", port);
	ts_expect_check_error(dir, text, "7: program a: ready = listening "
	    "needs handoff = self");
	free(text);
	support_rmtree(dir);
	free(dir);
}

/*
 * An address cannot move between a self-mode program and the supervisor's
 * own socket by a reload (the two cannot listen side by side): the reload
 * is refused, saying so, and the running generation keeps serving.
 */
Test(self, reload_cannot_move_an_address_between_modes)
{
	struct sup *s;
	struct run_result res;
	pid_t pid;

	ts_private_net(false, NULL);
	s = ts_new("", "");
	tc_start(s);
	cr_assert_eq(ts_gen_on(s->port, &pid), 1);
	tc_write_config(s, "", "");	/* the same address, handoff = inherit */
	cr_expect_eq(ts_reload(s, &res), 1);
	cr_expect(strstr(res.err, "listener web: 127.0.0.1:") != NULL &&
	    strstr(res.err, "would move from a program's own sockets (handoff "
	    "= self) to the supervisor's socket") != NULL &&
	    strstr(res.err, "needs a stop and start") != NULL, "%s%s", res.out,
	    res.err);
	support_result_free(&res);
	cr_expect_eq(ts_gen_on(s->port, &pid), 1);
	tc_stop(s);
}

/*
 * Item (e): a new generation whose workers never listen times out after
 * ready_timeout, saying which worker does not listen where; the old
 * generation keeps serving.
 */
Test(self, never_listening_generation_times_out)
{
	struct sup *s;
	struct run_result res;
	json_object *root;
	char *needle, *all;
	pid_t pid;

	ts_private_net(false, NULL);
	/* The first start may take its time on a busy machine. */
	s = ts_new("", "ready_timeout = 30s\n");
	tc_start(s);
	cr_assert_eq(ts_gen_on(s->port, &pid), 1);
	ts_config(s, "--never-ready", "ready_timeout = 1s\n");
	cr_expect_eq(ts_reload(s, &res), 1);
	all = tc_printf("%s%s", res.out, res.err);
	needle = tc_printf("does not listen on 127.0.0.1:%d (listener web), nor "
	    "1 more worker", s->port);
	cr_expect(strstr(all, "app gen 2: not ready within ready_timeout 1s "
	    "(0/2 workers ready; worker ") != NULL, "%s", all);
	cr_expect(strstr(all, needle) != NULL, "no \"%s\" in %s", needle, all);
	free(needle);
	free(all);
	support_result_free(&res);
	cr_expect_eq(ts_gen_on(s->port, &pid), 1);
	root = tc_status_json(s);
	cr_expect_eq(tc_json_int(tc_json_at(ts_app(root), "current_generation",
	    NULL)), 1);
	cr_expect(!json_object_get_boolean(tc_json_at(root, "last_reload", "ok",
	    NULL)));
	json_object_put(root);
	tc_stop(s);
}
