/*
 * test_preload.c: `preload = yes`, the bind() shim (libhandoff-preload.so),
 * as an operator sees it. The servers here bind their own port and know
 * nothing of LISTEN_FDS: the test's bindserver (blocking accept(), a unix
 * path unlinked before bind(), options that play a hostile app) and
 * Python's http.server. Under the shim their bind() gets the supervisor's
 * socket (the same inode in both processes' fd tables), `ready =
 * listening` waits until they listen, and reloads lose nothing under load
 * (inherit and reuseport modes on any kernel; self mode, where the shim
 * sets SO_REUSEPORT, with connection migration, in a network namespace of
 * the test's own). `handoff check` and `run` refuse a command the shim
 * cannot reach (static, set-user-ID), warn for Go, and say which shim
 * they use. The shim announces to its notify socket only when its
 * address is whole.
 *
 * bindserver is built without sanitizers: ASan's runtime must be the
 * first library of a process, and the shim comes first in LD_PRELOAD.
 */
#include "autoconf.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <json.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "load.h"
#include "preload/match.h"
#include "unixaddr.h"

#define TP_CLIENTS	16	/* closed-loop clients of the loss tests */
#define TP_RELOADS	20
/*
 * Resets a load test of self mode accepts: the kernel's close race (README,
 * Self mode) resets a few connections per thousand socket closes under
 * load; 20 reloads of 2 workers close 40 sockets, so more than 2 means
 * something else (no migration resets a few per reload).
 */
#define TP_CLOSE_RACE_RESETS	2

/* The running test's load; stopped before its supervisors are. */
static struct load ld;

static void	tp_unix_load_stop(void);

/* After each test: the loads first, then the supervisors. */
static void
tp_fini(void)
{
	load_stop(&ld);
	memset(&ld, 0, sizeof(ld));
	tp_unix_load_stop();
	tc_fini();
}

TestSuite(preload, .fini = tp_fini, .timeout = 300);

/* What bindserver answers: "gen=G pid=P worker=W fd=F inode=I exec=N". */
struct tp_answer {
	int			 gen;
	pid_t			 pid;
	int			 worker;
	int			 fd;
	unsigned long long	 inode;
	int			 exec;
};

/*
 * Write s's config: listener web on listen; program app (at line 9)
 * running command with preload = yes and the program keys. Takes
 * ownership of listen and command (tc_printf's).
 */
static void
tp_config(struct sup *s, char *listen, char *command, const char *keys)
{
	char *text = tc_printf(
	    "[supervisor]\nname = ctltest\ncontrol = %s\npidfile = %s/handoff.pid\n"
	    "\n[listener web]\nlisten = %s\n"
	    "\n[program app]\ncommand = %s\nlisteners = web\npreload = yes\n"
	    "drain_timeout = 10s\n%s", s->sock, s->dir, listen, command, keys);

	free(support_write_file(s->dir, "handoff.ini", text));
	free(text);
	free(listen);
	free(command);
}

/* A bindserver command line: the binary, then ARGS (printf-style). */
static char *
tp_bindserver(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *
tp_bindserver(const char *fmt, ...)
{
	char *args, *command;
	va_list ap;

	va_start(ap, fmt);
	cr_assert(vasprintf(&args, fmt, ap) != -1);
	va_end(ap);
	command = tc_printf("%s %s", support_env("HANDOFF_BINDSERVER"), args);
	free(args);
	return command;
}

/*
 * A supervisor (not started) of bindserver listening on 127.0.0.1:PORT
 * itself, with ARGS, under preload = yes with program KEYS.
 */
static struct sup *
tp_new_tcp(const char *args, const char *keys)
{
	struct sup *s = tc_new("", "");

	tp_config(s, tc_printf("127.0.0.1:%d", s->port),
	    tp_bindserver("--listen 127.0.0.1:%d %s", s->port, args), keys);
	return s;
}

/* Parse bindserver's answer; -1 if body is none. */
static int
tp_parse(const char *body, struct tp_answer *a)
{
	int pid;

	memset(a, 0, sizeof(*a));
	if (body == NULL || sscanf(body, "gen=%d pid=%d worker=%d fd=%d "
	    "inode=%llu exec=%d", &a->gen, &pid, &a->worker, &a->fd, &a->inode,
	    &a->exec) != 6)
		return -1;
	a->pid = pid;
	return 0;
}

/* GET / from sa: it must be answered by bindserver; its answer. */
static struct tp_answer
tp_ask(struct sup *s, const struct sockaddr *sa, socklen_t len)
{
	struct tp_answer a;
	char *body = NULL;
	int rc;

	rc = support_http_request(sa, len, "/", &body);
	cr_assert_eq(rc, SUPPORT_HTTP_OK, "GET /: %s\n%s", support_http_name(rc),
	    tc_log_text(s));
	cr_assert_eq(tp_parse(body, &a), 0, "not bindserver's answer: %s", body);
	free(body);
	tc_saw_worker(s, a.pid);
	return a;
}

/* GET / from 127.0.0.1:port. */
static struct tp_answer
tp_ask_port(struct sup *s, int port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };

	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return tp_ask(s, (struct sockaddr *)&sin, sizeof(sin));
}

/* A unix socket address for path. */
static struct sockaddr_un
tp_unix_addr(const char *path)
{
	struct sockaddr_un sun;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	cr_assert_lt(strlen(path), sizeof(sun.sun_path));
	strcpy(sun.sun_path, path);
	return sun;
}

/* The fd of pid whose link is socket:[inode], or -1. */
static int
tp_fd_of(pid_t pid, unsigned long long inode)
{
	char dir[64], path[384], link[64], want[64];
	struct dirent *e;
	DIR *d;
	ssize_t n;
	int fd = -1;

	snprintf(want, sizeof(want), "socket:[%llu]", inode);
	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	if ((d = opendir(dir)) == NULL)
		return -1;
	while (fd == -1 && (e = readdir(d)) != NULL) {
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if ((n = readlink(path, link, sizeof(link) - 1)) <= 0)
			continue;
		link[n] = '\0';
		if (strcmp(link, want) == 0)
			fd = atoi(e->d_name);
	}
	closedir(d);
	return fd;
}

/* The inode of the socket at fd of pid, or 0. */
static unsigned long long
tp_inode_at(pid_t pid, int fd)
{
	char path[64], link[64];
	unsigned long long inode = 0;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)pid, fd);
	if ((n = readlink(path, link, sizeof(link) - 1)) <= 0)
		return 0;
	link[n] = '\0';
	if (sscanf(link, "socket:[%llu]", &inode) != 1)
		return 0;
	return inode;
}

/*
 * The socket that served a is the supervisor's: the fd bindserver bound
 * is, in its fd table, the socket of an fd in the supervisor's.
 */
static void
tp_expect_supervisors(struct sup *s, const struct tp_answer *a)
{
	unsigned long long inode = tp_inode_at(a->pid, a->fd);

	cr_expect_eq(inode, a->inode, "pid %d fd %d is socket %llu, it says "
	    "%llu", (int)a->pid, a->fd, inode, a->inode);
	cr_expect_neq(tp_fd_of(s->hp.pid, inode), -1, "the socket pid %d binds "
	    "at fd %d (inode %llu) is not in the supervisor's fd table",
	    (int)a->pid, a->fd, inode);
}

/* The file status flags of pid's fd (/proc/PID/fdinfo), or -1. */
static int
tp_fd_flags(pid_t pid, int fd)
{
	char path[64], *text, *at;
	int flags = -1;

	snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", (int)pid, fd);
	if ((text = support_read_file(path)) == NULL)
		return -1;
	if ((at = strstr(text, "flags:")) != NULL)
		flags = (int)strtol(at + 6, NULL, 8);
	free(text);
	return flags;
}

/* The sum of the restarts of every worker of program app in status. */
static int64_t
tp_restarts(struct sup *s)
{
	json_object *root = tc_status_json(s), *gens, *workers;
	int64_t sum = 0;
	size_t i, k;

	gens = tc_json_at(tc_json_named(root, "programs", "app"), "generations",
	    NULL);
	for (i = 0; gens != NULL && i < json_object_array_length(gens); i++) {
		workers = tc_json_at(json_object_array_get_idx(gens, i),
		    "workers", NULL);
		for (k = 0; workers != NULL &&
		    k < json_object_array_length(workers); k++)
			sum += tc_json_int(tc_json_at(json_object_array_get_idx(
			    workers, k), "restarts", NULL));
	}
	json_object_put(root);
	return sum;
}

/* `handoff reload -s SOCK` must take over; the next generation's number. */
static void
tp_reload(struct sup *s, int k)
{
	struct run_result res;
	char *gone = tc_printf("app gen %d: gone", k);

	cr_assert_eq(support_handoff_cmd(&res, "reload", "-s", s->sock, NULL), 0,
	    "reload %d: %s%s\n%s", k, res.out, res.err, tc_log_text(s));
	support_result_free(&res);
	tc_expect_log(s, gone, 1);
	free(gone);
}

/* The load's summary, for a message (one buffer: one call per message). */
static const char *
tp_summary(void)
{
	static char buf[2048];

	return load_summary(&ld, buf, sizeof(buf));
}

/*
 * Reload k (1, 2, ...) once the load made progress; wait until generation
 * k is gone and generation k + 1 answered (each thread has at most one
 * request in flight: of nthreads + 1 results one came after the drain).
 */
static void
tp_reload_under_load(struct sup *s, int k, int nthreads)
{
	cr_assert_eq(load_wait_progress(&ld, nthreads), 0, "the load made no "
	    "progress before reload %d: %s", k, tp_summary());
	tp_reload(s, k);
	cr_assert_eq(load_wait_progress(&ld, nthreads + 1), 0, "the load made "
	    "no progress after reload %d: %s", k, tp_summary());
	cr_assert_gt(load_gen_answers(&ld, k + 1), 0, "gen %d never answered: "
	    "%s", k + 1, tp_summary());
}

/*
 * Stop the load: nothing may have failed but for at most close_race_resets
 * resets (self mode: README, the kernel's close race); every worker
 * answered some.
 */
static void
tp_expect_no_loss_but_close_races(const char *what, int nworkers,
    long close_race_resets)
{
	long resets;
	int i;

	load_stop(&ld);
	cr_log_info("%s: %s", what, tp_summary());
	cr_expect_gt(load_total(&ld), 0, "%s: no request at all", what);
	resets = load_count(&ld, LOAD_RESET);
	cr_expect_leq(resets, close_race_resets, "%s: more resets than the %ld "
	    "the kernel's close race may reset: %s", what, close_race_resets,
	    tp_summary());
	cr_expect_eq(load_failures(&ld) - resets, 0, "%s: %s", what,
	    tp_summary());
	for (i = 0; i < nworkers; i++)
		cr_expect_gt(load_worker_answers(&ld, i), 0, "%s: worker %d "
		    "never answered: %s", what, i, tp_summary());
}

/* Stop the load: nothing may have failed, every worker answered some. */
static void
tp_expect_no_loss(const char *what, int nworkers)
{
	tp_expect_no_loss_but_close_races(what, nworkers, 0);
}

/* Give the test a network namespace of its own (root), else stay. */
static void
tp_netns(bool required, const char *why)
{
	char text[256];

	if (load_netns_enter(text, sizeof(text)) == 0)
		return;
	if (required)
		cr_skip_test("%s (%s)", text, why);
}

/*
 * Item 1: a server that binds its own TCP port and blocks in accept(),
 * two workers, gets the supervisor's socket (the same inode in both fd
 * tables: the app's bind() made its fd that socket) and loses nothing
 * across 20 reloads under load. Its blocking accept() keeps blocking
 * although the shared socket is non-blocking (an EAGAIN would make it
 * exit, and a worker restart): none restarts.
 */
Test(preload, tcp_server_loses_nothing_across_20_reloads)
{
	struct tp_answer a;
	struct sup *s;
	int k;

	tp_netns(false, NULL);
	s = tp_new_tcp("", "workers = 2\nready = listening\n");
	tc_start(s);
	/* What the app says of itself comes through its output. */
	tc_expect_log(s, "reuseport=0 nonblock=0", 2);
	tc_expect_log(s, "sees LISTEN_FDS=- LISTEN_PID=- SERVER_STARTER_PORT=- "
	    "EINHORN_FD_COUNT=-", 2);
	for (k = 0; k < 4; k++) {
		a = tp_ask_port(s, s->port);
		cr_expect_eq(a.gen, 1);
		tp_expect_supervisors(s, &a);
	}

	cr_assert_eq(load_start_tcp(&ld, "127.0.0.1", s->port, TP_CLIENTS), 0);
	for (k = 1; k <= TP_RELOADS; k++)
		tp_reload_under_load(s, k, TP_CLIENTS);
	tp_expect_no_loss("20 reloads under preload = yes", 2);
	cr_expect_eq(tp_restarts(s), 0, "a worker restarted:\n%s",
	    tc_log_text(s));
	cr_expect_eq(tc_log_count(s, "accept:"), 0, "%s", tc_log_text(s));
	a = tp_ask_port(s, s->port);
	cr_expect_eq(a.gen, TP_RELOADS + 1);
	tp_expect_supervisors(s, &a);
	tc_stop(s);
}

/*
 * reuseport mode: worker i's bind() gets slot i's socket (the same
 * inode as the supervisor's slot), and a reload under load loses nothing.
 */
Test(preload, reuseport_workers_get_their_slots_and_lose_nothing)
{
	struct tp_answer a;
	struct sup *s;
	bool seen[2] = { false, false };
	unsigned long long inodes[2] = { 0, 0 };
	int k;

	tp_netns(false, NULL);
	s = tp_new_tcp("", "workers = 2\nready = listening\n"
	    "handoff = reuseport\n");
	tc_start(s);
	for (k = 0; k < 400 && !(seen[0] && seen[1]); k++) {
		a = tp_ask_port(s, s->port);
		cr_assert(a.worker == 0 || a.worker == 1);
		tp_expect_supervisors(s, &a);
		if (seen[a.worker])
			cr_expect_eq(inodes[a.worker], a.inode);
		seen[a.worker] = true;
		inodes[a.worker] = a.inode;
	}
	cr_expect(seen[0] && seen[1], "both workers never answered");
	cr_expect_neq(inodes[0], inodes[1], "the two slots are one socket");

	cr_assert_eq(load_start_tcp(&ld, "127.0.0.1", s->port, TP_CLIENTS), 0);
	for (k = 1; k <= 10; k++)
		tp_reload_under_load(s, k, TP_CLIENTS);
	tp_expect_no_loss("10 reloads in reuseport mode", 2);
	cr_expect_eq(tp_restarts(s), 0, "%s", tc_log_text(s));
	tc_stop(s);
}

/* Closed-loop clients of a unix stream socket (load.c knows TCP and UDP). */
static struct {
	char		 path[108];
	pthread_t	 threads[TP_CLIENTS];
	int		 nthreads;
	atomic_bool	 stop;
	pthread_mutex_t	 lock;
	pthread_cond_t	 progress;
	long		 ok, failed, total;
	char		 first_failure[256];
} tu;

/* A client: GET / on a new connection to the path until told to stop. */
static void *
tp_unix_client(void *arg)
{
	struct tp_answer a;
	char *body;
	int rc;

	(void)arg;
	while (!atomic_load(&tu.stop)) {
		body = NULL;
		rc = support_http_get_unix(tu.path, "/", &body);
		pthread_mutex_lock(&tu.lock);
		if (rc == SUPPORT_HTTP_OK && tp_parse(body, &a) == 0)
			tu.ok++;
		else if (tu.failed++ == 0)
			snprintf(tu.first_failure, sizeof(tu.first_failure),
			    "%s (%.80s)", support_http_name(rc), body ? body : "");
		tu.total++;
		pthread_cond_broadcast(&tu.progress);
		pthread_mutex_unlock(&tu.lock);
		free(body);
	}
	return NULL;
}

/* Start TP_CLIENTS clients of the unix socket at path. */
static void
tp_unix_load_start(const char *path)
{
	int i;

	memset(&tu, 0, sizeof(tu));
	snprintf(tu.path, sizeof(tu.path), "%s", path);
	pthread_mutex_init(&tu.lock, NULL);
	pthread_cond_init(&tu.progress, NULL);
	for (i = 0; i < TP_CLIENTS; i++) {
		cr_assert_eq(pthread_create(&tu.threads[i], NULL,
		    tp_unix_client, NULL), 0);
		tu.nthreads++;
	}
}

/* Wait until n more requests ended (at most DEADLINE_MS); 0 if they did. */
static int
tp_unix_load_wait(long n)
{
	struct timespec until;
	long want;
	int rc = 0;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += DEADLINE_MS / 1000;
	pthread_mutex_lock(&tu.lock);
	want = tu.total + n;
	while (rc == 0 && tu.total < want)
		rc = pthread_cond_timedwait(&tu.progress, &tu.lock, &until);
	pthread_mutex_unlock(&tu.lock);
	return tu.total >= want ? 0 : -1;
}

/* Stop the unix clients, if any run. */
static void
tp_unix_load_stop(void)
{
	int i;

	atomic_store(&tu.stop, true);
	for (i = 0; i < tu.nthreads; i++)
		pthread_join(tu.threads[i], NULL);
	tu.nthreads = 0;
}

/*
 * Item 2: a unix stream server that unlinks its path before binding (and
 * again as it exits, as servers do) gets the supervisor's socket, and
 * its path survives every reload (the same file, the supervisor's
 * socket's); nothing is lost across 20 reloads under load.
 */
Test(preload, unix_socket_path_survives_every_reload)
{
	struct sockaddr_un sun;
	struct tp_answer a;
	struct stat first, now;
	struct sup *s;
	char *path;
	int k;

	s = tc_new("", "");
	path = tc_printf("%s/app.sock", s->dir);
	tp_config(s, tc_printf("unix:%s", path), tp_bindserver("--listen "
	    "unix:%s", path), "workers = 2\nready = listening\n");
	tc_start(s);
	cr_assert_eq(stat(path, &first), 0, "%s: %s", path, strerror(errno));
	sun = tp_unix_addr(path);
	for (k = 0; k < 4; k++) {
		a = tp_ask(s, (struct sockaddr *)&sun, sizeof(sun));
		tp_expect_supervisors(s, &a);
	}

	tp_unix_load_start(path);
	for (k = 1; k <= TP_RELOADS; k++) {
		cr_assert_eq(tp_unix_load_wait(TP_CLIENTS), 0, "no progress "
		    "before reload %d", k);
		tp_reload(s, k);
		cr_assert_eq(stat(path, &now), 0, "after reload %d, %s is gone: "
		    "%s", k, path, strerror(errno));
		cr_expect(S_ISSOCK(now.st_mode) && now.st_ino == first.st_ino &&
		    now.st_dev == first.st_dev, "after reload %d, %s is another "
		    "file", k, path);
		cr_assert_eq(tp_unix_load_wait(TP_CLIENTS + 1), 0, "no progress "
		    "after reload %d", k);
	}
	tp_unix_load_stop();
	cr_log_info("unix socket, 20 reloads: %ld answered, %ld failed", tu.ok,
	    tu.failed);
	cr_expect_gt(tu.ok, 0);
	cr_expect_eq(tu.failed, 0, "%ld of %ld requests failed, the first: %s",
	    tu.failed, tu.total, tu.first_failure);
	a = tp_ask(s, (struct sockaddr *)&sun, sizeof(sun));
	cr_expect_eq(a.gen, TP_RELOADS + 1);
	tp_expect_supervisors(s, &a);
	cr_expect_eq(tp_restarts(s), 0, "%s", tc_log_text(s));
	tc_stop(s);
	free(path);
}

/* The first socket in pid's fd table that the supervisor holds too, or 0. */
static unsigned long long
tp_shared_socket(struct sup *s, pid_t pid)
{
	unsigned long long inode;
	int fd;

	for (fd = 0; fd < 64; fd++)
		if ((inode = tp_inode_at(pid, fd)) != 0 &&
		    tp_fd_of(s->hp.pid, inode) != -1)
			return inode;
	return 0;
}

/* The pid of worker index of generation gen of app in status, or 0. */
static pid_t
tp_worker_pid(struct sup *s, int gen, int index)
{
	json_object *root = tc_status_json(s), *gens, *g;
	pid_t pid = 0;
	size_t i;

	gens = tc_json_at(tc_json_named(root, "programs", "app"), "generations",
	    NULL);
	for (i = 0; gens != NULL && i < json_object_array_length(gens); i++) {
		g = json_object_array_get_idx(gens, i);
		if (tc_json_int(tc_json_at(g, "number", NULL)) != gen)
			continue;
		pid = (pid_t)tc_json_int(tc_json_at(g, "workers",
		    index ? "1" : "0", "pid", NULL));
	}
	json_object_put(root);
	return pid > 0 ? pid : 0;
}

/*
 * Item 3: `python3 -m http.server PORT --bind 127.0.0.1` under preload =
 * yes starts (ready once it listens), serves from the supervisor's
 * socket, and hands over on reload. (It dies on SIGTERM mid-request, as
 * it does anywhere: this test does not load it during the reload.)
 */
Test(preload, python_http_server_starts_serves_and_hands_over)
{
	struct sup *s;
	char *keys, *body = NULL;
	pid_t pid;
	int i, rc;

	if (access("/usr/bin/python3", X_OK) != 0)
		cr_skip_test("no /usr/bin/python3");
	tp_netns(false, NULL);
	s = tc_new("", "");
	keys = tc_printf("workers = 2\nready = listening\ndirectory = %s\n",
	    s->dir);
	tp_config(s, tc_printf("127.0.0.1:%d", s->port), tc_printf(
	    "/usr/bin/python3 -m http.server %d --bind 127.0.0.1", s->port),
	    keys);
	free(keys);
	tc_start(s);
	rc = support_http_get(s->port, "/", &body);
	cr_assert_eq(rc, SUPPORT_HTTP_OK, "%s\n%s", support_http_name(rc),
	    tc_log_text(s));
	cr_expect(strstr(body, "Directory listing") != NULL, "%s", body);
	free(body);
	for (i = 0; i < 2; i++) {
		pid = tp_worker_pid(s, 1, i);
		cr_assert_neq(pid, 0);
		cr_expect_neq(tp_shared_socket(s, pid), 0, "python pid %d holds "
		    "no socket of the supervisor's", (int)pid);
	}

	tp_reload(s, 1);
	body = NULL;
	rc = support_http_get(s->port, "/handoff.ini", &body);
	cr_assert_eq(rc, SUPPORT_HTTP_OK, "%s", support_http_name(rc));
	cr_expect(strstr(body, "[program app]") != NULL, "%s", body);
	free(body);
	pid = tp_worker_pid(s, 2, 0);
	cr_assert_neq(pid, 0);
	cr_expect_neq(tp_shared_socket(s, pid), 0);
	cr_expect_eq(tc_log_count(s, "Address already in use"), 0, "%s",
	    tc_log_text(s));
	tc_stop(s);
}

/*
 * A program whose worker the test expects to fail before it is ready: a
 * delay long enough that the worker's failure, however slow the machine,
 * comes first (with delay:100ms a worker slower than that to fail was
 * ready first, and restarted instead).
 */
#define TP_FAILS_BEFORE_READY	"workers = 1\nready = delay:60s\n"

/* A counter of this network namespace's /proc/net/netstat, or -1. */
static long long
tp_netstat(const char *name)
{
	return load_netstat(name);
}

/*
 * Item 4: self mode. bindserver binds its own port without SO_REUSEPORT;
 * the shim sets it on a bind() to the program's address, so two
 * generations overlap on the port, and with connection migration (the
 * supervisor turns it on in the test's network namespace) nothing is
 * lost across reloads under load but what the kernel's close race may
 * reset (TP_CLOSE_RACE_RESETS). Readiness: once each worker listens.
 */
Test(preload, self_mode_generations_overlap_with_zero_loss)
{
	struct sup *s;
	long long failures;
	json_object *root;
	int k;

	if (geteuid() != 0)
		cr_skip_test("needs root (a network namespace of its own, where "
		    "the supervisor may turn connection migration on)");
	tp_netns(true, "connection migration");
	s = tp_new_tcp("", "workers = 2\nready = listening\nhandoff = self\n");
	tc_start(s);
	tc_expect_log(s, "set net.ipv4.tcp_migrate_req = 1", 1);
	tc_expect_log(s, "reuseport=1", 2);
	root = tc_status_json(s);
	cr_expect_eq(json_object_array_length(tc_json_at(tc_json_named(root,
	    "programs", "app"), "self_sockets", NULL)), 2, "%s",
	    json_object_to_json_string(root));
	json_object_put(root);
	failures = tp_netstat("TCPMigrateReqFailure");

	cr_assert_eq(load_start_tcp(&ld, "127.0.0.1", s->port, TP_CLIENTS), 0);
	for (k = 1; k <= TP_RELOADS; k++)
		tp_reload_under_load(s, k, TP_CLIENTS);
	tp_expect_no_loss_but_close_races("20 self-mode reloads under "
	    "preload = yes", 2, TP_CLOSE_RACE_RESETS);
	/*
	 * Failed migrations are not the loss: the kernel counts some that
	 * reset a connection (counted by the load above) and some that lose
	 * nothing (README, Self mode).
	 */
	cr_log_info("connections migrated: %lld, migrations failed: %lld",
	    tp_netstat("TCPMigrateReqSuccess"),
	    tp_netstat("TCPMigrateReqFailure") - failures);
	cr_expect_eq(tp_restarts(s), 0, "%s", tc_log_text(s));
	tc_stop(s);
}

/*
 * Self mode sets SO_REUSEPORT on a bind() to one of the program's
 * addresses only: another address the server binds gets no reuse option
 * (no other process can join it).
 */
Test(preload, self_mode_reuseport_only_on_the_programs_addresses)
{
	struct sup *s;
	char *own, *line, *log;
	int other;

	tp_netns(false, NULL);
	s = tc_new("", "");
	other = support_free_port();
	tp_config(s, tc_printf("127.0.0.1:%d", s->port), tp_bindserver(
	    "--listen 127.0.0.1:%d --also 127.0.0.1:%d", s->port, other),
	    "workers = 1\nready = listening\nhandoff = self\n");
	tc_start(s);
	own = tc_printf("bound 127.0.0.1:%d fd=", s->port);
	line = tc_printf("bound 127.0.0.1:%d fd=", other);
	tc_expect_log(s, line, 1);
	log = tc_log_text(s);
	cr_expect(tc_in_order(log, own, "reuseport=1", line, "reuseport=0",
	    NULL), "%s", log);
	cr_expect_eq(tp_ask_port(s, s->port).gen, 1);
	tc_stop(s);
	free(log);
	free(own);
	free(line);
}

/*
 * Item 5: a statically linked server cannot load the shim: `handoff
 * check` exits 2 naming why, and `handoff run` refuses to start. So does
 * a set-user-ID one; a Go program gets a warning; and check says which
 * shim a program gets, one that needs nothing but libc.
 */
Test(preload, commands_the_shim_cannot_reach_are_refused)
{
	struct run_result res;
	struct sup *s;
	char *copy, *go, *expected, *cmd, *section;
	const char *argv[8];

	s = tc_new("", "");
	tp_config(s, tc_printf("127.0.0.1:%d", s->port), tc_printf("%s "
	    "--listen 127.0.0.1:%d", support_env("HANDOFF_BINDSERVER_STATIC"),
	    s->port), "ready = listening\n");
	cr_assert_eq(support_handoff_cmd(&res, "check", "-c", s->config, NULL),
	    2, "%s%s", res.out, res.err);
	expected = tc_printf("%s:9: program app: preload = yes cannot reach "
	    "its command: %s is statically linked (it has no program "
	    "interpreter, so nothing loads libhandoff-preload.so into it): "
	    "give it its sockets through LISTEN_FDS, or link it dynamically\n",
	    s->config, support_env("HANDOFF_BINDSERVER_STATIC"));
	cr_expect(strstr(res.err, expected) != NULL, "%s", res.err);
	cr_expect(strstr(res.err, "1 program cannot load the bind() shim") !=
	    NULL, "%s", res.err);
	support_result_free(&res);
	free(expected);
	tc_expect_start_refused(s, "");
	cr_expect_eq(tc_log_count(s, "is statically linked"), 1, "%s",
	    tc_log_text(s));

	/* Set-user-ID: the dynamic loader ignores LD_PRELOAD. */
	copy = support_copy_executable(support_env("HANDOFF_BINDSERVER"),
	    s->dir);
	cr_assert_eq(chmod(copy, 04755), 0);
	tp_config(s, tc_printf("127.0.0.1:1"), tc_printf("%s", copy), "");
	cr_assert_eq(support_handoff_cmd(&res, "check", "-c", s->config, NULL),
	    2);
	cr_expect(strstr(res.err, "is set-user-ID (the dynamic loader ignores "
	    "LD_PRELOAD for it)") != NULL, "%s", res.err);
	support_result_free(&res);

	/* Go (a .go.buildinfo section): a warning, and the shim it gets. */
	go = tc_printf("%s/goserver", s->dir);
	cmd = tc_printf("%s/buildinfo", s->dir);
	free(support_write_file(s->dir, "buildinfo", "\xff Go buildinf:"));
	argv[0] = "/usr/bin/objcopy";
	argv[1] = "--add-section";
	argv[2] = section = tc_printf(".go.buildinfo=%s", cmd);
	argv[3] = support_env("HANDOFF_BINDSERVER");
	argv[4] = go;
	argv[5] = NULL;
	if (support_run(argv, &res) != 0)
		cr_skip_test("objcopy cannot add a section: %s", res.err);
	support_result_free(&res);
	tp_config(s, tc_printf("127.0.0.1:1"), tc_printf("%s", go), "");
	cr_assert_eq(support_handoff_cmd(&res, "check", "-c", s->config, NULL),
	    0, "%s", res.err);
	cr_expect(strstr(res.err, "warning: program app: preload = yes may not "
	    "work: ") != NULL, "%s", res.err);
	cr_expect(strstr(res.err, "is a Go program: Go binds with raw system "
	    "calls") != NULL, "%s", res.err);
	expected = tc_printf("program app: preload = yes: the shim is %s\n",
	    support_env("HANDOFF_SHIM"));
	cr_expect(strstr(res.out, expected) != NULL, "%s", res.out);
	support_result_free(&res);
	free(expected);

	/* The shim needs nothing but libc. */
	argv[0] = "/usr/bin/readelf";
	argv[1] = "-d";
	argv[2] = support_env("HANDOFF_SHIM");
	argv[3] = NULL;
	cr_assert_eq(support_run(argv, &res), 0, "%s", res.err);
	cr_expect_eq(support_count_lines(res.out, "(NEEDED)"), 1, "%s", res.out);
	cr_expect_eq(support_count_lines(res.out, "[libc.so.6]"), 1, "%s",
	    res.out);
	support_result_free(&res);
	free(copy);
	free(go);
	free(cmd);
	free(section);
}

/*
 * Item 6: a bind() to an address no listener has passes through: it
 * works as it would without the shim (the server serves that port on a
 * socket of its own, not the supervisor's), or fails as it would (an
 * address another process holds: the server's own error, and the start
 * fails; where the listener holds the port at another address, the shim
 * says which address the listener should name).
 */
Test(preload, bind_to_another_address_passes_through)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct tp_answer a;
	struct sup *s;
	char *line;
	int other, fd;

	tp_netns(false, NULL);
	s = tc_new("", "");
	other = support_free_port();
	tp_config(s, tc_printf("127.0.0.1:%d", s->port), tp_bindserver(
	    "--listen 127.0.0.1:%d", other), "workers = 1\nready = delay:100ms\n");
	tc_start(s);
	a = tp_ask_port(s, other);
	cr_expect_eq(a.gen, 1);
	cr_expect_eq(tp_inode_at(a.pid, a.fd), a.inode);
	cr_expect_eq(tp_fd_of(s->hp.pid, a.inode), -1, "the server's own "
	    "socket is the supervisor's");
	tc_stop(s);
	tc_fini();

	/* Held by someone else: EADDRINUSE, as anywhere. */
	s = tc_new("", "");
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_neq(fd, -1);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	cr_assert_eq(listen(fd, 8), 0);
	other = support_local_port(fd);
	tp_config(s, tc_printf("127.0.0.1:%d", s->port), tp_bindserver(
	    "--listen 127.0.0.1:%d", other), TP_FAILS_BEFORE_READY);
	cr_assert_eq(support_handoff_start(&s->hp, s->config, s->log), 0);
	line = tc_printf("bind 127.0.0.1:%d: Address already in use", other);
	tc_expect_log(s, line, 1);
	tc_expect_log(s, "exited with status 1 before ready", 1);
	close(fd);
	free(line);
	tc_fini();

	/*
	 * The listener's port at another address: the bind() fails (the
	 * listener holds the port), and the shim says which address to name.
	 */
	s = tc_new("", "");
	tp_config(s, tc_printf("127.0.0.1:%d", s->port), tp_bindserver(
	    "--listen 0.0.0.0:%d", s->port), TP_FAILS_BEFORE_READY);
	cr_assert_eq(support_handoff_start(&s->hp, s->config, s->log), 0);
	line = tc_printf("libhandoff-preload.so: bind() to 0.0.0.0:%d failed "
	    "(address in use): the program's listener on that port is "
	    "127.0.0.1:%d, another address; give the listener the address the "
	    "program binds, 0.0.0.0:%d", s->port, s->port, s->port);
	tc_expect_log(s, line, 1);
	tc_expect_log(s, "exited with status 1 before ready", 1);
	free(line);
}

/*
 * Holding the inherited socket from exec is not readiness: a worker that
 * binds some other address never listens on its program's, and ready =
 * listening times out saying which worker does not listen where.
 */
Test(preload, holding_the_inherited_socket_is_not_ready)
{
	struct sup *s;
	char *needle;
	int other;

	tp_netns(false, NULL);
	s = tc_new("", "");
	other = support_free_port();
	tp_config(s, tc_printf("127.0.0.1:%d", s->port), tp_bindserver(
	    "--listen 127.0.0.1:%d", other),
	    "workers = 1\nready = listening\nready_timeout = 1s\n");
	cr_assert_eq(support_handoff_start(&s->hp, s->config, s->log), 0);
	needle = tc_printf("not ready within ready_timeout 1s (0/1 workers "
	    "ready; worker 0 pid ");
	tc_expect_log(s, needle, 1);
	free(needle);
	needle = tc_printf(" has not listened on 127.0.0.1:%d (listener web))",
	    s->port);
	cr_expect_eq(tc_log_count(s, needle), 1, "%s", tc_log_text(s));
	free(needle);
}

/*
 * Item 7: an IPv6 server on [::1] gets the supervisor's socket the same
 * way.
 */
Test(preload, ipv6_server_gets_the_supervisors_socket)
{
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6 };
	struct tp_answer a;
	struct sup *s;
	int fd;

	tp_netns(false, NULL);
	fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	sin6.sin6_addr = in6addr_loopback;
	if (fd == -1 || bind(fd, (struct sockaddr *)&sin6, sizeof(sin6)) == -1)
		cr_skip_test("no IPv6 loopback here: %s", strerror(errno));
	close(fd);
	s = tc_new("", "");
	tp_config(s, tc_printf("[::1]:%d", s->port), tp_bindserver(
	    "--listen [::1]:%d", s->port), "workers = 2\nready = listening\n");
	tc_start(s);
	sin6.sin6_port = htons((uint16_t)s->port);
	a = tp_ask(s, (struct sockaddr *)&sin6, sizeof(sin6));
	tp_expect_supervisors(s, &a);
	tp_reload(s, 1);
	a = tp_ask(s, (struct sockaddr *)&sin6, sizeof(sin6));
	cr_expect_eq(a.gen, 2);
	tp_expect_supervisors(s, &a);
	tc_stop(s);
}

/*
 * Item 7: a UDP server gets the supervisor's socket (ready once bound)
 * and its blocking recvfrom() keeps blocking; steady datagrams across
 * reloads are all answered.
 */
Test(preload, udp_server_gets_the_supervisors_socket_and_loses_nothing)
{
	struct sup *s;
	char *line;
	int k;

	tp_netns(false, NULL);
	s = tc_new("", "");
	tp_config(s, tc_printf("udp:127.0.0.1:%d", s->port), tp_bindserver(
	    "--listen udp:127.0.0.1:%d", s->port),
	    "workers = 2\nready = listening\n");
	tc_start(s);
	line = tc_printf("bound udp:127.0.0.1:%d fd=", s->port);
	tc_expect_log(s, line, 2);
	free(line);
	cr_assert_eq(load_start_udp(&ld, "127.0.0.1", s->port, 4, 100), 0);
	for (k = 1; k <= 5; k++)
		tp_reload_under_load(s, k, 4);
	tp_expect_no_loss("UDP, 5 reloads", 2);
	cr_expect_eq(load_count(&ld, LOAD_LOST), 0);
	cr_expect_eq(tp_restarts(s), 0, "%s", tc_log_text(s));
	tc_stop(s);
}

/*
 * Item 7: a server that forks its workers after bind(): its children
 * accept on the supervisor's socket (blocking, as they expect) and a
 * reload hands over.
 */
Test(preload, server_forking_after_bind_works)
{
	struct tp_answer a;
	struct sup *s;
	pid_t worker;
	int k, children = 0;

	tp_netns(false, NULL);
	s = tp_new_tcp("--fork 3", "workers = 1\nready = listening\n");
	tc_start(s);
	worker = tp_worker_pid(s, 1, 0);
	for (k = 0; k < 30; k++) {
		a = tp_ask_port(s, s->port);
		cr_expect_neq(a.pid, worker, "the parent accepted");
		children += a.pid != worker;
		tp_expect_supervisors(s, &a);
	}
	cr_expect_eq(children, 30);
	tp_reload(s, 1);
	a = tp_ask_port(s, s->port);
	cr_expect_eq(a.gen, 2);
	tp_expect_supervisors(s, &a);
	tc_stop(s);
}

/*
 * A hostile app (bindserver ARGS, 2 workers): it gets the supervisor's
 * socket, serves, hands over on reload, and no worker restarts. Returns
 * the first answer.
 */
static struct tp_answer
tp_hostile(struct sup *s)
{
	struct tp_answer a, first;
	int k;

	tc_start(s);
	first = tp_ask_port(s, s->port);
	tp_expect_supervisors(s, &first);
	for (k = 0; k < 20; k++) {
		a = tp_ask_port(s, s->port);
		cr_expect_eq(a.gen, 1);
		tp_expect_supervisors(s, &a);
	}
	tp_reload(s, 1);
	for (k = 0; k < 10; k++) {
		a = tp_ask_port(s, s->port);
		cr_expect_eq(a.gen, 2);
		tp_expect_supervisors(s, &a);
	}
	cr_expect_eq(tp_restarts(s), 0, "%s", tc_log_text(s));
	cr_expect_eq(tc_log_count(s, "before ready"), 0, "%s", tc_log_text(s));
	return first;
}

/*
 * Run bindserver ARGS as a hostile app with 2 workers (tp_hostile);
 * the running supervisor in *sp, the first answer.
 */
static struct tp_answer
tp_hostile_start(const char *args, struct sup **sp)
{
	tp_netns(false, NULL);
	*sp = tp_new_tcp(args, "workers = 2\nready = listening\n");
	return tp_hostile(*sp);
}

/* Run bindserver ARGS as a hostile app (tp_hostile_start), then stop. */
static void
tp_hostile_run(const char *args)
{
	struct sup *s;

	tp_hostile_start(args, &s);
	tc_stop(s);
}

/* close_range(3, ~0U, 0) at start spares the shim's fds. */
Test(preload, app_closing_every_fd_with_close_range)
{
	tp_hostile_run("--close-range");
}

/* close() of every fd from 3 to 1023 at start spares them too. */
Test(preload, app_closing_every_fd_one_by_one)
{
	tp_hostile_run("--close-all");
}

/* dup2() over every fd from 256 to 1023 (the stash's too), then close. */
Test(preload, app_dup2_over_every_high_fd)
{
	tp_hostile_run("--dup2-high");
}

/* bind(), listen(), close(), then bind() again: the socket again. */
Test(preload, app_closing_its_socket_and_binding_again)
{
	tp_hostile_run("--rebind");
}

/* An app that re-executes itself finds its socket again. */
Test(preload, app_reexecuting_itself)
{
	struct tp_answer a;
	struct sup *s;

	a = tp_hostile_start("--reexec", &s);
	cr_expect_eq(a.exec, 1, "the answer came before the re-exec");
	cr_expect_eq(tc_log_count(s, "Address already in use"), 0, "%s",
	    tc_log_text(s));
	tc_stop(s);
}

/* A worker that forks and execs the app itself: the child binds. */
Test(preload, app_fork_and_exec_of_itself)
{
	struct tp_answer a;
	struct sup *s;

	a = tp_hostile_start("--spawn-self", &s);
	cr_expect_neq(a.pid, tp_worker_pid(s, 2, 0));
	cr_expect_neq(a.pid, tp_worker_pid(s, 2, 1));
	tc_stop(s);
}

/*
 * The app's own O_NONBLOCK, by fcntl or FIONBIO, is honoured: accept()
 * on an empty queue says EAGAIN at once, poll()/epoll() users serve as
 * they would.
 */
Test(preload, app_nonblocking_by_fcntl_or_ioctl)
{
	static const char *const args[] = {
		"--nonblock fcntl --probe-empty",
		"--nonblock ioctl --probe-empty",
		"--nonblock socket --wait epoll --accept4-nonblock",
	};
	struct sup *s;
	size_t i;

	for (i = 0; i < sizeof(args) / sizeof(args[0]); i++) {
		tp_hostile_start(args[i], &s);
		tc_expect_log(s, "nonblock=1", 4);
		if (i < 2)
			tc_expect_log(s, "accept on an empty queue: Resource "
			    "temporarily unavailable", 4);
		tc_stop(s);
		tc_fini();
	}
}

/*
 * An app that makes its socket blocking again (fcntl or FIONBIO) blocks
 * in accept(), and the shared file description stays non-blocking for
 * every other worker: the supervisor's fd says O_NONBLOCK.
 */
Test(preload, app_clearing_o_nonblock_leaves_the_shared_socket_alone)
{
	static const char *const args[] = {
		"--nonblock socket --unblock fcntl",
		"--nonblock fcntl --unblock ioctl",
	};
	struct tp_answer a;
	struct sup *s;
	size_t i;
	int fd;

	for (i = 0; i < sizeof(args) / sizeof(args[0]); i++) {
		a = tp_hostile_start(args[i], &s);
		tc_expect_log(s, "nonblock=0", 4);
		fd = tp_fd_of(s->hp.pid, a.inode);
		cr_assert_neq(fd, -1);
		cr_expect(tp_fd_flags(s->hp.pid, fd) & O_NONBLOCK, "%s: the "
		    "supervisor's socket is blocking", args[i]);
		tc_stop(s);
		tc_fini();
	}
}

/*
 * A worker's user must be able to read the shim: ld.so would run the
 * program without it. As root, a copy of handoff whose shim (.libs/
 * beside it) only root can read: `handoff check` and `run` say so for
 * user = nobody.
 */
Test(preload, shim_unreadable_by_the_workers_user_is_refused)
{
	struct run_result res;
	struct sup *s;
	char *bin, *libs, *shim, *expected;

	if (geteuid() != 0)
		cr_skip_test("needs root (user = nobody)");
	s = tc_new("", "");
	bin = support_copy_handoff(s->dir);
	libs = tc_printf("%s/.libs", s->dir);
	cr_assert_eq(mkdir(libs, 0700), 0);
	shim = support_copy_executable(support_env("HANDOFF_SHIM"), libs);
	cr_assert_eq(chmod(s->dir, 0700), 0);
	setenv("HANDOFF_BIN", bin, 1);
	tp_config(s, tc_printf("127.0.0.1:%d", s->port), tp_bindserver(
	    "--listen 127.0.0.1:%d", s->port),
	    "workers = 1\nready = delay:100ms\nuser = nobody\n");
	cr_assert_eq(support_handoff_cmd(&res, "check", "-c", s->config, NULL),
	    2, "%s%s", res.out, res.err);
	expected = tc_printf("program app: preload = yes: user nobody (uid "
	    "65534) cannot read the shim %s, and the dynamic loader would run "
	    "the program without it", shim);
	cr_expect(strstr(res.err, expected) != NULL, "%s", res.err);
	support_result_free(&res);
	free(expected);

	cr_assert_eq(support_handoff_start(&s->hp, s->config, s->log), 0);
	expected = tc_printf("uid 65534 cannot read the preload shim %s", shim);
	tc_expect_log(s, expected, 1);
	free(expected);
	free(bin);
	free(libs);
	free(shim);
}

/*
 * A shim that is gone by the time a worker restarts (a package upgrade
 * moved it) is said to be, not silently left out by the dynamic loader:
 * the restart fails, with the reason, until it is back. A copy of
 * handoff with its own .libs/ plays the installation.
 */
Test(preload, shim_gone_when_a_worker_restarts_is_reported)
{
	struct tp_answer a;
	struct sup *s;
	char *bin, *libs, *shim, *moved, *expected, *installed;

	installed = tc_printf("%s/libhandoff-preload.so",
	    support_env("HANDOFF_PKGLIBDIR"));
	if (access(installed, F_OK) == 0)
		cr_skip_test("%s is installed: a handoff without a shim of "
		    "its own finds that one", installed);
	free(installed);
	tp_netns(false, NULL);
	s = tc_new("", "");
	bin = support_copy_handoff(s->dir);
	libs = tc_printf("%s/.libs", s->dir);
	cr_assert_eq(mkdir(libs, 0755), 0);
	shim = support_copy_executable(support_env("HANDOFF_SHIM"), libs);
	moved = tc_printf("%s.moved", shim);
	setenv("HANDOFF_BIN", bin, 1);
	tp_config(s, tc_printf("127.0.0.1:%d", s->port), tp_bindserver(
	    "--listen 127.0.0.1:%d", s->port), "workers = 1\nready = listening\n");
	tc_start(s);
	a = tp_ask_port(s, s->port);
	tp_expect_supervisors(s, &a);

	cr_assert_eq(rename(shim, moved), 0);
	cr_assert_eq(kill(a.pid, SIGKILL), 0);
	expected = tc_printf("app gen 1 worker 0: cannot restart: the shim "
	    "libhandoff-preload.so is not installed, or cannot be read "
	    "(looked for %s and ", shim);
	tc_expect_log(s, expected, 1);
	free(expected);

	/* Back in place: the next try runs it, with the shim. */
	cr_assert_eq(rename(moved, shim), 0);
	tc_expect_log(s, "runs again after ", 1);
	tc_expect_log(s, "ready again after restart", 1);
	a = tp_ask_port(s, s->port);
	tp_expect_supervisors(s, &a);
	tc_stop(s);
	free(bin);
	free(libs);
	free(shim);
	free(moved);
}

/*
 * A library the user preloads (env = LD_PRELOAD=...) stays, before the
 * shim, which still works.
 */
Test(preload, users_ld_preload_is_kept_first)
{
	struct tp_answer a;
	struct sup *s;
	char *environ_text, *expected, *p;
	char path[64];
	size_t len = 0;
	int fd;
	ssize_t n;

	tp_netns(false, NULL);
	s = tp_new_tcp("", "workers = 1\nready = listening\n"
	    "env = LD_PRELOAD=libm.so.6\n");
	tc_start(s);
	a = tp_ask_port(s, s->port);
	tp_expect_supervisors(s, &a);
	snprintf(path, sizeof(path), "/proc/%d/environ", (int)a.pid);
	environ_text = calloc(1, 65536);
	cr_assert_not_null(environ_text);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	cr_assert_neq(fd, -1);
	while ((n = read(fd, environ_text + len, 65535 - len)) > 0)
		len += (size_t)n;
	close(fd);
	for (p = environ_text; p < environ_text + len; p++)
		if (*p == '\0')
			*p = '\n';
	expected = tc_printf("\nLD_PRELOAD=libm.so.6:%s\n",
	    support_env("HANDOFF_SHIM"));
	cr_expect(strstr(environ_text, expected) != NULL, "%s", environ_text);
	free(expected);
	free(environ_text);
	tc_stop(s);
}

/*
 * Run bindserver under the shim alone (no supervisor), in self mode on
 * udp:127.0.0.1:PORT, in dir, with MATCH_ENV_NOTIFY=notify, until it
 * says it is bound: its bind() has announced by then, if it does. Then
 * kill it.
 */
static void
tp_shim_bind_udp(const char *dir, int port, const char *notify)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
	    .sin_port = htons((uint16_t)port),
	    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct match_addr self = { .index = 0, .type = SOCK_DGRAM,
	    .len = sizeof(sin) };
	char text[MATCH_ADDRS_TEXT_MAX], out[4096];
	char *env[4], *argv[4];
	struct pollfd pfd;
	long long deadline = support_now_ms() + SUPPORT_DEADLINE_MS;
	size_t len = 0;
	ssize_t n;
	pid_t pid;
	int p[2], i;

	memcpy(&self.ss, &sin, sizeof(sin));
	cr_assert_eq(match_encode_addrs(&self, 1, text, sizeof(text)), 0);
	env[0] = tc_printf("LD_PRELOAD=%s", support_env("HANDOFF_SHIM"));
	env[1] = tc_printf("%s=%s", MATCH_ENV_SELF, text);
	env[2] = tc_printf("%s=%s", MATCH_ENV_NOTIFY, notify);
	env[3] = NULL;
	argv[0] = (char *)support_env("HANDOFF_BINDSERVER");
	argv[1] = "--listen";
	argv[2] = tc_printf("udp:127.0.0.1:%d", port);
	argv[3] = NULL;
	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	cr_assert_neq(pid = fork(), -1);
	if (pid == 0) {
		if (dup2(p[1], STDOUT_FILENO) == -1 || chdir(dir) == -1)
			_exit(127);
		execve(argv[0], argv, env);
		_exit(127);
	}
	close(p[1]);
	out[0] = '\0';
	pfd.fd = p[0];
	pfd.events = POLLIN;
	while (strstr(out, "bindserver: bound") == NULL &&
	    support_now_ms() < deadline && len < sizeof(out) - 1 &&
	    poll(&pfd, 1, (int)(deadline - support_now_ms())) == 1 &&
	    (n = read(p[0], out + len, sizeof(out) - 1 - len)) > 0) {
		len += (size_t)n;
		out[len] = '\0';
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	close(p[0]);
	cr_assert(strstr(out, "bindserver: bound") != NULL,
	    "bindserver under the shim did not bind: %s", out);
	for (i = 0; i < 3; i++)
		free(env[i]);
	free(argv[2]);
}

/* A datagram socket bound at text, a path or "@name". */
static int
tp_notify_receiver(const char *text)
{
	struct sockaddr_un sun;
	socklen_t len;
	const char *why;
	int fd;

	cr_assert_eq(unixaddr_make(text, UNIXADDR_NAMED, &sun, &len, &why), 0,
	    "%s: %s", text, why);
	cr_assert_geq(fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0), 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sun, len), 0, "bind %s: %s",
	    text, strerror(errno));
	return fd;
}

/* Expect the datagram waiting on fd to be the announcement, or none. */
static void
tp_expect_announced(int fd, bool announced, const char *notify)
{
	char buf[64];
	ssize_t n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);

	if (!announced) {
		cr_expect(n == -1 && errno == EAGAIN, "notify %s: the shim "
		    "announced to another address", notify);
		return;
	}
	cr_assert_gt(n, 0, "notify %s: nothing announced", notify);
	buf[n] = '\0';
	cr_expect_str_eq(buf, "HANDOFF_LISTENING=0\n");
}

/*
 * The shim announces `ready = listening` to MATCH_ENV_NOTIFY only when it
 * is a whole address: a value too long for one (which the shim keeps cut
 * to its buffer), or a relative path, sends nothing, rather than reach
 * the socket at the cut (or relative) address. Before the shim used
 * unixaddr_make, it sent to all three.
 */
Test(preload, shim_announces_only_to_a_whole_notify_address)
{
	char *dir = support_tmpdir(), path[UNIXADDR_PATH_MAX + 1];
	char name[UNIXADDR_PATH_MAX + 1], *notify;
	int port, one = 1, hold, fd[3];
	size_t n;

	/* Self mode's port, held as the supervisor holds it. */
	cr_assert_geq(hold = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), 0);
	cr_assert_eq(setsockopt(hold, SOL_SOCKET, SO_REUSEPORT, &one,
	    sizeof(one)), 0);
	cr_assert_eq(bind(hold, (struct sockaddr *)&(struct sockaddr_in){
	    .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) },
	    sizeof(struct sockaddr_in)), 0);
	cr_assert_gt(port = support_local_port(hold), 0);

	/* Receivers at the longest path and abstract name there are. */
	n = (size_t)snprintf(path, sizeof(path), "%s/", dir);
	cr_assert_lt(n, UNIXADDR_PATH_MAX - 8, "TMPDIR too long: %s", dir);
	memset(path + n, 'n', UNIXADDR_PATH_MAX - n);
	path[UNIXADDR_PATH_MAX] = '\0';
	n = (size_t)snprintf(name, sizeof(name), "@handoff-test-%d-",
	    (int)getpid());
	memset(name + n, 'n', UNIXADDR_PATH_MAX - n);
	name[UNIXADDR_PATH_MAX] = '\0';
	fd[0] = tp_notify_receiver(path);
	fd[1] = tp_notify_receiver(name);
	notify = tc_printf("%s/rel.sock", dir);
	fd[2] = tp_notify_receiver(notify);
	free(notify);

	/* Whole addresses are announced to. */
	tp_shim_bind_udp(dir, port, path);
	tp_expect_announced(fd[0], true, path);
	tp_shim_bind_udp(dir, port, name);
	tp_expect_announced(fd[1], true, name);

	/* One byte too long, then a relative path: nothing anywhere. */
	notify = tc_printf("%sx", path);
	tp_shim_bind_udp(dir, port, notify);
	tp_expect_announced(fd[0], false, notify);
	free(notify);
	notify = tc_printf("%sx", name);
	tp_shim_bind_udp(dir, port, notify);
	tp_expect_announced(fd[1], false, notify);
	free(notify);
	tp_shim_bind_udp(dir, port, "rel.sock");
	tp_expect_announced(fd[2], false, "rel.sock");

	close(fd[0]);
	close(fd[1]);
	close(fd[2]);
	close(hold);
	support_rmtree(dir);
	free(dir);
}
