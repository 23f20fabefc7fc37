/*
 * harness.c: a supervisor started by an integration test (see harness.h).
 *
 * Every test runs the real `handoff run` in the background with a private
 * directory for its config, control socket, pidfile and log, on a free
 * port, with the test server as its program. It waits for log lines
 * (inotify) or for commands to finish, never for a fixed time, and stops
 * every supervisor it started, checking that it and its workers are gone.
 */
#include "autoconf.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fdpass.h"
#include "harness.h"
#include "load.h"

/* The supervisors of the running test, for tc_fini. */
static struct sup *sups[MAX_SUPS];

/* Milliseconds left until deadline, at least 0. */
int
tc_left(long long deadline)
{
	long long left = deadline - support_now_ms();

	return left < 0 ? 0 : (int)left;
}

/* asprintf that cannot fail. */
char *
tc_printf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	cr_assert(n != -1, "out of memory");
	return s;
}

/* The supervisor's log so far ("" if there is none yet). */
char *
tc_log_text(struct sup *s)
{
	char *text = support_read_file(s->log);

	if (text == NULL)
		cr_assert((text = strdup("")) != NULL);
	return text;
}


/*
 * Write the supervisor's config: extra [supervisor] SUP_KEYS and [listener
 * web] LISTENER_KEYS, testserver ARGS, extra [program] KEYS.
 */
void
tc_write_config_full(struct sup *s, const char *sup_keys,
    const char *listener_keys, const char *args, const char *keys)
{
	char *text, *path;

	text = tc_printf(
	    "[supervisor]\n"
	    "name = ctltest\n"
	    "control = %s\n"
	    "pidfile = %s/handoff.pid\n"
	    "%s"
	    "\n"
	    "[listener web]\n"
	    "listen = 127.0.0.1:%d\n"
	    "%s"
	    "\n"
	    "[program app]\n"
	    "command = %s%s%s\n"
	    "listeners = web\n"
	    "workers = 2\n"
	    "%s",
	    s->sock, s->dir, sup_keys, s->port, listener_keys,
	    support_env("HANDOFF_TESTSERVER"), *args ? " " : "", args, keys);
	path = support_write_file(s->dir, "handoff.ini", text);
	free(path);
	free(text);
}

/* Write the supervisor's config: testserver ARGS, extra [program] KEYS. */
void
tc_write_config(struct sup *s, const char *args, const char *keys)
{
	tc_write_config_full(s, "", "", args, keys);
}

/* A supervisor's private directory and config; not started yet. */
struct sup *
tc_new(const char *args, const char *keys)
{
	struct sup *s = calloc(1, sizeof(*s));
	int i;

	cr_assert(s != NULL);
	s->dir = support_tmpdir();
	s->config = tc_printf("%s/handoff.ini", s->dir);
	s->sock = tc_printf("%s/ctl.sock", s->dir);
	s->log = tc_printf("%s/handoff.log", s->dir);
	s->port = support_free_port();
	s->hp.pid = -1;
	s->hp.pidfd = -1;
	s->hp.exit_code = -1;
	tc_write_config(s, args, keys);
	for (i = 0; i < MAX_SUPS; i++) {
		if (sups[i] == NULL) {
			sups[i] = s;
			return s;
		}
	}
	cr_assert_fail("too many supervisors in one test");
	return NULL;
}

/* How many lines of the log contain needle. */
int
tc_log_count(struct sup *s, const char *needle)
{
	char *text = tc_log_text(s);
	int n = support_count_lines(text, needle);

	free(text);
	return n;
}

/* Wait for count lines of the log with needle; fail with the log if not. */
void
tc_expect_log(struct sup *s, const char *needle, int count)
{
	char *text;

	if (support_handoff_wait_log(&s->hp, needle, count) == 0)
		return;
	text = tc_log_text(s);
	cr_assert_fail("the log never had %d line(s) with \"%s\":\n%s", count,
	    needle, text);
}

/* Start `handoff run -c CONFIG` in the background; wait until it started. */
void
tc_start(struct sup *s)
{
	int started = tc_log_count(s, "started: ");

	support_handoff_free(&s->hp);
	cr_assert_eq(support_handoff_start(&s->hp, s->config, s->log), 0,
	    "cannot start handoff run -c %s", s->config);
	tc_expect_log(s, "started: ", started + 1);
}

/*
 * Start s (the caller set its environment) and expect it to refuse: exit 1
 * with "cannot start: WHY" logged, once, and no worker started.
 */
void
tc_expect_start_refused(struct sup *s, const char *why)
{
	char *line = tc_printf("cannot start: %s", why);

	cr_assert_eq(support_handoff_start(&s->hp, s->config, s->log), 0);
	cr_assert_eq(tc_wait_exit(s, DEADLINE_MS), 1, "the supervisor did not "
	    "refuse to start (%s):\n%s", why, tc_log_text(s));
	cr_assert_eq(tc_log_count(s, line), 1, "%s", tc_log_text(s));
	cr_assert_eq(tc_log_count(s, ": starting "), 0, "%s", tc_log_text(s));
	free(line);
}

/* Wait up to timeout_ms for the supervisor to exit: its exit code or -1. */
int
tc_wait_exit(struct sup *s, int timeout_ms)
{
	return support_handoff_wait_exit(&s->hp, timeout_ms);
}

/* Remember a worker pid, to check at the end that it is gone. */
void
tc_saw_worker(struct sup *s, pid_t pid)
{
	int i;

	for (i = 0; i < s->nworkers; i++)
		if (s->workers[i] == pid)
			return;
	if (s->nworkers < MAX_PIDS)
		s->workers[s->nworkers++] = pid;
}

/*
 * Check that the supervisor exited, and that every worker seen and every
 * process started under the supervisor's tag is gone.
 */
void
tc_expect_all_gone(struct sup *s)
{
	pid_t left[MAX_PIDS];
	int i, n;

	cr_expect_neq(s->hp.exit_code, -1, "the supervisor is still running");
	for (i = 0; i < s->nworkers; i++)
		cr_expect(!support_pid_alive(s->workers[i]), "worker pid %d is "
		    "still alive after its supervisor exited", (int)s->workers[i]);
	n = support_tagged_pids(s->hp.tag, left, MAX_PIDS);
	for (i = 0; i < n && i < MAX_PIDS; i++)
		cr_expect_fail("pid %d, started by the supervisor, is still alive",
		    (int)left[i]);
}

/* Stop the supervisor with SIGTERM; it must exit 0 and leave nothing. */
void
tc_stop(struct sup *s)
{
	char *text;
	int code;

	if (s->hp.pid > 0 && s->hp.exit_code == -1) {
		code = support_handoff_stop(&s->hp, SIGTERM);
		if (code == -1) {
			text = tc_log_text(s);
			cr_assert_fail("the supervisor did not stop on SIGTERM:\n%s",
			    text);
		}
		cr_expect_eq(code, 0, "the supervisor exited with %d", code);
	}
	tc_expect_all_gone(s);
}

/* After each test: stop what still runs, kill what it left, remove files. */
void
tc_fini(void)
{
	pid_t left[MAX_PIDS];
	struct sup *s;
	int i, k, n;

	for (i = 0; i < MAX_SUPS; i++) {
		if ((s = sups[i]) == NULL)
			continue;
		sups[i] = NULL;
		if (s->hp.pid > 0 && s->hp.exit_code == -1)
			support_handoff_stop(&s->hp, SIGTERM);
		if (s->hp.tag != NULL) {
			n = support_tagged_pids(s->hp.tag, left, MAX_PIDS);
			for (k = 0; k < n && k < MAX_PIDS; k++)
				kill(left[k], SIGKILL);
		}
		for (k = 0; k < s->nworkers; k++)
			if (support_pid_alive(s->workers[k]))
				kill(s->workers[k], SIGKILL);
		support_handoff_free(&s->hp);
		support_rmtree(s->dir);
		free(s->dir);
		free(s->config);
		free(s->sock);
		free(s->log);
		free(s);
	}
}

/* Connect to a unix stream socket; -1 with errno on failure. */
int
tc_connect_unix(const char *path)
{
	struct sockaddr_un sun;
	int fd, saved;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

/* A TCP connection to 127.0.0.1:port, which must be made. */
int
tc_connect_tcp(int port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_neq(fd, -1);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0,
	    "connect to port %d: %s", port, strerror(errno));
	return fd;
}

/* Send all of buf; -1 on failure. */
int
tc_send_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	ssize_t n;

	while (len > 0) {
		n = send(fd, p, len, MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Read until the peer closes, a read fails, or the deadline. Returns what
 * came, NUL-terminated; *end is 0 for end-of-file, the errno of the read
 * that failed, or ETIMEDOUT.
 */
char *
tc_read_to_end(int fd, int timeout_ms, int *end)
{
	long long deadline = support_now_ms() + timeout_ms;
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap);
	ssize_t n;

	*end = ETIMEDOUT;
	if (buf == NULL)
		abort();
	for (;;) {
		if (poll(&pfd, 1, tc_left(deadline)) == 0)
			break;
		if (cap - len < 2048 && (buf = realloc(buf, cap *= 2)) == NULL)
			abort();
		n = recv(fd, buf + len, cap - len - 1, MSG_DONTWAIT);
		if (n == -1 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0) {
			*end = n == 0 ? 0 : errno;
			break;
		}
		len += (size_t)n;
	}
	buf[len] = '\0';
	return buf;
}

/*
 * Read until the peer closes (a reset after its data counts as closing),
 * or until the deadline. Returns what came, NUL-terminated; *closed says
 * whether the end was seen.
 */
char *
tc_read_all(int fd, int timeout_ms, bool *closed)
{
	int end;
	char *buf = tc_read_to_end(fd, timeout_ms, &end);

	*closed = end == 0 || end == ECONNRESET;
	return buf;
}

/* Send a raw request on a new control connection; the whole answer. */
char *
tc_request(struct sup *s, const void *req, size_t len)
{
	bool closed;
	char *answer;
	int fd;

	fd = tc_connect_unix(s->sock);
	cr_assert(fd != -1, "connect %s: %s", s->sock, strerror(errno));
	cr_assert(tc_send_all(fd, req, len) == 0, "send: %s", strerror(errno));
	answer = tc_read_all(fd, DEADLINE_MS, &closed);
	close(fd);
	cr_assert(closed, "the supervisor did not close the connection; "
	    "got so far: %s", answer);
	return answer;
}

/* `handoff status` of s as a table; the test fails if it fails. */
char *
tc_status_text(struct sup *s)
{
	struct run_result res;
	char *out;

	cr_assert_eq(support_handoff_cmd(&res, "status", "-c", s->config, NULL),
	    0, "%s", res.err);
	out = res.out;
	res.out = NULL;
	support_result_free(&res);
	return out;
}

/* `handoff status --json`, parsed; the worker pids it names are noted. */
json_object *
tc_status_json(struct sup *s)
{
	struct run_result res;
	json_object *root, *programs, *gens, *workers, *pid;
	size_t i, j, k;

	cr_assert_eq(support_handoff_cmd(&res, "status", "--json", "-c", s->config, NULL),
	    0, "handoff status --json failed: %s", res.err);
	root = json_tokener_parse(res.out);
	cr_assert(root != NULL, "handoff status --json is not JSON: %s", res.out);
	support_result_free(&res);
	if (json_object_object_get_ex(root, "programs", &programs) &&
	    json_object_is_type(programs, json_type_array)) {
		for (i = 0; i < json_object_array_length(programs); i++) {
			if (!json_object_object_get_ex(json_object_array_get_idx(
			    programs, i), "generations", &gens))
				continue;
			for (j = 0; j < json_object_array_length(gens); j++) {
				if (!json_object_object_get_ex(
				    json_object_array_get_idx(gens, j), "workers",
				    &workers))
					continue;
				for (k = 0; k < json_object_array_length(workers);
				    k++)
					if (json_object_object_get_ex(
					    json_object_array_get_idx(workers, k),
					    "pid", &pid) &&
					    json_object_is_type(pid, json_type_int))
						tc_saw_worker(s,
						    json_object_get_int(pid));
			}
		}
	}
	return root;
}

/* The member at a path of keys and array indexes ("programs", "0", ...). */
json_object *
tc_json_at(json_object *obj, ...)
{
	const char *key;
	va_list ap;

	va_start(ap, obj);
	while (obj != NULL && (key = va_arg(ap, const char *)) != NULL) {
		if (json_object_is_type(obj, json_type_array)) {
			size_t idx = (size_t)strtoul(key, NULL, 10);
			obj = idx < json_object_array_length(obj) ?
			    json_object_array_get_idx(obj, idx) : NULL;
		} else if (!json_object_is_type(obj, json_type_object) ||
		    !json_object_object_get_ex(obj, key, &obj))
			obj = NULL;
	}
	va_end(ap);
	return obj;
}

/* A string member, or "" if it is missing or not a string. */
const char *
tc_json_str(json_object *obj)
{
	return obj != NULL && json_object_is_type(obj, json_type_string) ?
	    json_object_get_string(obj) : "";
}

/* An integer member, or -1 if it is missing or not an integer. */
int64_t
tc_json_int(json_object *obj)
{
	return obj != NULL && json_object_is_type(obj, json_type_int) ?
	    json_object_get_int64(obj) : -1;
}

/* The member of status array `list` whose "name" is name, or NULL. */
json_object *
tc_json_named(json_object *root, const char *list, const char *name)
{
	json_object *items = tc_json_at(root, list, NULL), *item;
	size_t i;

	for (i = 0; items != NULL && i < json_object_array_length(items); i++) {
		item = json_object_array_get_idx(items, i);
		if (strcmp(tc_json_str(tc_json_at(item, "name", NULL)), name) == 0)
			return item;
	}
	return NULL;
}

/*
 * GET / from the test server on 127.0.0.1:port: SUPPORT_HTTP_OK with the
 * generation and pid it answered with, or why it failed.
 */
int
tc_http_get(int port, int *gen, pid_t *pid)
{
	char *body = NULL;
	int rc, g, p;

	rc = support_http_get(port, "/", &body);
	if (rc == SUPPORT_HTTP_OK && sscanf(body, "gen=%d pid=%d", &g, &p) != 2)
		rc = SUPPORT_HTTP_BAD;
	if (rc == SUPPORT_HTTP_OK) {
		*gen = g;
		*pid = p;
	}
	free(body);
	return rc;
}

/* GET / must work; returns the generation and notes the worker's pid. */
int
tc_get(struct sup *s, pid_t *pidp)
{
	pid_t pid;
	int gen, rc;

	rc = tc_http_get(s->port, &gen, &pid);
	cr_assert_eq(rc, SUPPORT_HTTP_OK, "GET / on port %d: %s", s->port,
	    support_http_name(rc));
	tc_saw_worker(s, pid);
	if (pidp != NULL)
		*pidp = pid;
	return gen;
}

/*
 * Reload k (1, 2, ...) under ld once it made progress, and wait until
 * program's generation k is gone and the load went on past it: each of its
 * nthreads has at most one request in flight, so of nthreads + 1 results
 * at least one was answered by generation k + 1.
 */
void
tc_reload_under_load(struct sup *s, struct load *ld, const char *program,
    int k, int nthreads)
{
	char *gone = tc_printf("%s gen %d: gone", program, k), summary[2048];

	cr_assert_eq(load_wait_progress(ld, nthreads), 0, "the load made no "
	    "progress before reload %d: %s", k,
	    load_summary(ld, summary, sizeof(summary)));
	cr_assert_eq(kill(s->hp.pid, SIGHUP), 0);
	tc_expect_log(s, "reload done", k);
	tc_expect_log(s, gone, 1);
	cr_assert_eq(load_wait_progress(ld, nthreads + 1), 0, "the load made "
	    "no progress after reload %d: %s", k,
	    load_summary(ld, summary, sizeof(summary)));
	cr_assert_gt(load_gen_answers(ld, k + 1), 0, "gen %d never answered: "
	    "%s", k + 1, load_summary(ld, summary, sizeof(summary)));
	free(gone);
}

/* Whether needles (NULL-terminated) appear in text in this order. */
bool
tc_in_order(const char *text, ...)
{
	const char *needle, *at = text;
	va_list ap;
	bool ok = true;

	va_start(ap, text);
	while (ok && (needle = va_arg(ap, const char *)) != NULL) {
		if ((at = strstr(at, needle)) == NULL)
			ok = false;
		else
			at += strlen(needle);
	}
	va_end(ap);
	return ok;
}


/* Kill the stranger *pid started (if any), reap it, and set *pid to -1. */
void
tc_stop_stranger(pid_t *pid)
{
	if (*pid > 0) {
		kill(*pid, SIGKILL);
		waitpid(*pid, NULL, 0);
	}
	*pid = -1;
}

/*
 * As root, move the test into a network namespace of its own, with lo
 * up: what a supervisor changes there (net.ipv4.tcp_migrate_req) stays
 * there. Not root: nothing changes.
 */
void
tc_own_netns(void)
{
	struct ifreq ifr;
	int fd;

	if (geteuid() != 0)
		return;
	cr_assert_eq(unshare(CLONE_NEWNET), 0, "unshare(CLONE_NEWNET): %s",
	    strerror(errno));
	cr_assert_neq(fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), -1);
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	cr_assert_eq(ioctl(fd, SIOCGIFFLAGS, &ifr), 0, "SIOCGIFFLAGS lo: %s",
	    strerror(errno));
	ifr.ifr_flags |= IFF_UP;
	cr_assert_eq(ioctl(fd, SIOCSIFFLAGS, &ifr), 0, "SIOCSIFFLAGS lo: %s",
	    strerror(errno));
	close(fd);
}

/*
 * Start the test server outside any supervisor, listening on address
 * itself (with SO_REUSEPORT; a unix path it replaces), its output in
 * s->dir/foreign.out: a stranger on a supervisor's address. Returns its
 * pid once it listens; the caller kills and reaps it.
 */
pid_t
tc_start_stranger(struct sup *s, const char *address)
{
	char *out = tc_printf("%s/foreign.out", s->dir), *line;
	int fd, pidfd;
	pid_t pid;

	fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	cr_assert_neq(fd, -1, "%s: %s", out, strerror(errno));
	pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0) {
		dup2(fd, 1);
		dup2(fd, 2);
		unsetenv("LISTEN_FDS");
		unsetenv("LISTEN_PID");
		unsetenv("NOTIFY_SOCKET");
		execl(support_env("HANDOFF_TESTSERVER"), "testserver", "--listen",
		    address, "--print-ready", (char *)NULL);
		_exit(127);
	}
	close(fd);
	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	line = support_wait_line(out, "ready pid=", 1, pidfd, DEADLINE_MS);
	if (pidfd != -1)
		close(pidfd);
	cr_assert_not_null(line, "the stranger test server did not listen on "
	    "%s:\n%s", address, support_read_file(out));
	free(line);
	free(out);
	return pid;
}

/*
 * Ask for listener name's fds over the control socket: the answer line goes
 * to line, at most maxfds (up to 16) of the fds that came with it to fds
 * (received close-on-exec; a truncated control message fails the test).
 * Returns how many came.
 */
int
tc_request_fds(struct sup *s, const char *name, char *line, size_t linelen,
    int *fds, int maxfds)
{
	int got[16];
	struct fdpass_in in = { .fds = got, .maxfds = 16 };
	struct pollfd pfd;
	struct iovec iov;
	char *req;
	int fd;
	ssize_t n;

	cr_assert(maxfds <= 16);
	fd = tc_connect_unix(s->sock);
	cr_assert(fd != -1, "connect %s: %s", s->sock, strerror(errno));
	req = tc_printf("HANDOFF/1 fds %s\n", name);
	cr_assert_eq(tc_send_all(fd, req, strlen(req)), 0);
	free(req);
	pfd.fd = fd;
	pfd.events = POLLIN;
	cr_assert_eq(poll(&pfd, 1, DEADLINE_MS), 1, "no answer to fds");
	iov.iov_base = line;
	iov.iov_len = linelen - 1;
	n = fdpass_recv(fd, &iov, 1, &in, 0);
	cr_assert_gt(n, 0, "recvmsg: %s", strerror(errno));
	line[n] = '\0';
	close(fd);
	cr_assert(!in.truncated, "the fds were truncated");
	cr_assert_leq(in.nfds, (size_t)maxfds, "%zu fds came, %d expected at "
	    "most", in.nfds, maxfds);
	memcpy(fds, got, in.nfds * sizeof(int));
	return (int)in.nfds;
}
