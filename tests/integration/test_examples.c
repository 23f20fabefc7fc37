/*
 * test_examples.c: the example servers in C, Python, Node and Go
 * (examples/hello-server.c, .py, .js, .go) under handoff, each with the
 * settings of its examples/hello-LANG.ini: each takes its socket by name and
 * says READY=1; a request that a generation accepted and holds when it is
 * told to stop is answered by that generation; across 20 reloads under load
 * no request fails; every worker of every generation says it stopped
 * accepting and exits 0.
 *
 * A language whose toolchain cannot be found (python3; node and
 * systemd-notify; go) is skipped, saying what is missing; .ci/setup
 * installs them all. The Go example is built by the test, into a
 * temporary directory with a cache of its own.
 */
#include "autoconf.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <libgen.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "load.h"

#define CLIENTS		4
#define RELOADS		20	/* under load, after the one with a request held */
#define WORKERS		2	/* as in examples/hello-*.ini */

/* The running test's load, and its temporary directory (Go's build). */
static struct load ld;
static char *te_tmp;

/* After each test: the load first, then the supervisors, then the build. */
static void
te_fini(void)
{
	load_stop(&ld);
	memset(&ld, 0, sizeof(ld));
	tc_fini();
	if (te_tmp != NULL) {
		support_rmtree(te_tmp);
		free(te_tmp);
		te_tmp = NULL;
	}
}

TestSuite(examples, .fini = te_fini, .timeout = 600);

/* The load's summary, for a message (one buffer: one call per message). */
static const char *
te_summary(void)
{
	static char buf[2048];

	return load_summary(&ld, buf, sizeof(buf));
}

/* Where name is found in PATH, or NULL; the caller frees it. */
static char *
te_which(const char *name)
{
	const char *path = getenv("PATH"), *p, *end;
	char *candidate;

	for (p = path != NULL ? path : ""; *p != '\0'; p = *end ? end + 1 : end) {
		end = p + strcspn(p, ":");
		if (end == p)
			continue;
		candidate = tc_printf("%.*s/%s", (int)(end - p), p, name);
		if (access(candidate, X_OK) == 0)
			return candidate;
		free(candidate);
	}
	return NULL;
}

/* The path of examples/name in the source tree; the caller frees it. */
static char *
te_example(const char *name)
{
	return tc_printf("%s/examples/%s", support_env("HANDOFF_SRCDIR"), name);
}

/*
 * Replace the one line of text that starts with prefix by line (text and
 * line are freed); the new text, which the caller frees.
 */
static char *
te_replace_line(char *text, const char *prefix, char *line)
{
	char *at = text, *end, *out = NULL;

	for (;;) {
		end = at + strcspn(at, "\n");
		if (strncmp(at, prefix, strlen(prefix)) == 0) {
			cr_assert_null(out, "two lines start with \"%s\"", prefix);
			out = tc_printf("%.*s%s%s", (int)(at - text), text, line,
			    end);
		}
		if (*end == '\0')
			break;
		at = end + 1;
	}
	cr_assert_not_null(out, "no line starts with \"%s\":\n%s", prefix, text);
	free(text);
	free(line);
	return out;
}

/*
 * Write s's config: examples/ini as it is, but for the test's control
 * socket, pidfile and port, and with command instead of its own (the
 * interpreter found here, the example's path in the source tree), run as
 * user if not NULL.
 */
static void
te_config(struct sup *s, const char *ini, const char *command,
    const char *user)
{
	char *path = te_example(ini), *text = support_read_file(path);

	cr_assert_not_null(text, "cannot read %s", path);
	text = te_replace_line(text, "[supervisor]", tc_printf("[supervisor]\n"
	    "control = %s\npidfile = %s/handoff.pid", s->sock, s->dir));
	text = te_replace_line(text, "listen = ",
	    tc_printf("listen = 127.0.0.1:%d", s->port));
	text = te_replace_line(text, "command = ", tc_printf("command = %s%s%s",
	    command, user != NULL ? "\nuser = " : "", user != NULL ? user : ""));
	free(support_write_file(s->dir, "handoff.ini", text));
	/* The notify socket is in s->dir: user must get through to it. */
	if (user != NULL)
		cr_assert_eq(chmod(s->dir, 0755), 0);
	free(text);
	free(path);
}

/*
 * Whether a server accepted the connection from client_port to port on
 * 127.0.0.1: its end has a socket file (an inode in /proc/net/tcp) only
 * once it left the accept queue.
 */
static bool
te_accepted(int port, int client_port)
{
	unsigned int local, lport, remote, rport, state;
	unsigned long inode;
	bool accepted = false;
	char line[512];
	FILE *f;

	cr_assert_not_null(f = fopen("/proc/net/tcp", "re"));
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, " %*u: %x:%x %x:%x %x %*x:%*x %*x:%*x %*x %*u %*u "
		    "%lu", &local, &lport, &remote, &rport, &state, &inode) == 6 &&
		    lport == (unsigned int)port &&
		    rport == (unsigned int)client_port && state == 1 /* ESTABLISHED */)
			accepted = inode != 0;
	}
	fclose(f);
	return accepted;
}

/*
 * Reload k while generation k holds a request: it accepted the connection
 * and has the request's head, not yet its body. Once both of its workers
 * said they got their stop signal, the body goes: generation k must answer
 * (200), and be gone only after that.
 */
static void
te_drain_finishes_request(struct sup *s, int k)
{
	static const char head[] = "POST /slow?ms=50 HTTP/1.0\r\n"
	    "Content-Length: 4\r\n\r\n";
	long long deadline = support_now_ms() + DEADLINE_MS;
	char *gone = tc_printf("hello gen %d: gone", k);
	char *answered = tc_printf("\r\n\r\ngen=%d pid=", k), *answer;
	int fd = tc_connect_tcp(s->port);
	bool closed;

	cr_assert_eq(tc_send_all(fd, head, sizeof(head) - 1), 0);
	/* Polled: no event tells a client that its connection was accepted. */
	while (!te_accepted(s->port, support_local_port(fd)) &&
	    tc_left(deadline) > 0)
		poll(NULL, 0, 1);
	cr_assert(te_accepted(s->port, support_local_port(fd)),
	    "gen %d never accepted the connection", k);

	cr_assert_eq(kill(s->hp.pid, SIGHUP), 0);
	tc_expect_log(s, "stop signal: no longer accepting", WORKERS * k);
	cr_assert_eq(tc_log_count(s, gone), 0, "gen %d is gone with a request "
	    "in hand:\n%s", k, tc_log_text(s));
	cr_assert_eq(tc_send_all(fd, "body", 4), 0);
	answer = tc_read_all(fd, DEADLINE_MS, &closed);
	cr_assert(closed && strncmp(answer, "HTTP/1.", 7) == 0 &&
	    strncmp(answer + 8, " 200 ", 5) == 0 && strstr(answer, answered),
	    "gen %d, told to stop, did not answer the request it held: \"%s\"",
	    k, answer);
	tc_expect_log(s, "reload done", k);
	tc_expect_log(s, gone, 1);
	close(fd);
	free(answer);
	free(answered);
	free(gone);
}

/* Every worker of gens generations got its stop signal, said so, and exited 0. */
static void
te_expect_clean_exits(struct sup *s, int gens)
{
	char *log = tc_log_text(s);

	cr_assert_eq(support_count_lines(log, "stop signal: no longer accepting"),
	    WORKERS * gens, "%s", log);
	cr_assert_eq(support_count_lines(log, ": exited with status 0"),
	    WORKERS * gens, "%s", log);
	cr_assert_eq(support_count_lines(log, ": exited with status "),
	    WORKERS * gens, "%s", log);
	cr_assert_eq(support_count_lines(log, " was killed by signal "), 0, "%s",
	    log);
	free(log);
}

/*
 * Run an example under handoff with the settings of examples/ini (as user,
 * if not NULL): reload 1 with a request held, then RELOADS reloads under
 * load with no request failed; the listener is never shut down; every
 * generation drains and exits 0.
 */
static void
te_run(const char *ini, const char *command, const char *user)
{
	int gens = RELOADS + 2, k;
	json_object *status;
	struct sup *s;

	s = tc_new("", "");
	te_config(s, ini, command, user);
	tc_start(s);
	cr_assert_eq(tc_get(s, NULL), 1);
	te_drain_finishes_request(s, 1);

	cr_assert_eq(load_start_tcp(&ld, "127.0.0.1", s->port, CLIENTS), 0,
	    "cannot start the clients: %s", strerror(errno));
	for (k = 2; k < gens; k++) {
		tc_reload_under_load(s, &ld, "hello", k, CLIENTS);
		cr_assert_eq(load_failures(&ld), 0, "after reload %d: %s", k,
		    te_summary());
	}
	load_stop(&ld);
	cr_assert_eq(load_failures(&ld), 0, "%s", te_summary());
	cr_assert_gt(load_total(&ld), (long)CLIENTS * RELOADS, "%s",
	    te_summary());
	cr_log_info("%s: %s", ini, te_summary());

	cr_assert_eq(tc_get(s, NULL), gens);
	status = tc_status_json(s);
	cr_assert_eq(tc_json_int(tc_json_at(tc_json_named(status, "listeners",
	    "web"), "repairs", NULL)), 0, "the listener was shut down: %s",
	    json_object_to_json_string(status));
	json_object_put(status);
	tc_stop(s);
	te_expect_clean_exits(s, gens);
}

/* The C example, built by make beside the handoff under test. */
Test(examples, c)
{
	char *bin = strdup(support_env("HANDOFF_BIN")), *command;

	cr_assert_not_null(bin);
	command = tc_printf("%s/examples/hello-server --name web", dirname(bin));
	te_run("hello-c.ini", command, NULL);
	free(command);
	free(bin);
}

Test(examples, python)
{
	char *python = te_which("python3"), *script, *command;
	struct run_result res;
	const char *argv[] = { python, "-c",
	    "import sys; print(sys.executable, end='')", NULL };

	if (python == NULL)
		cr_skip_test("python3 is not in PATH (Debian: apt-get install "
		    "python3): the Python example is not tested");
	/* The interpreter itself, not a wrapper in PATH that would run it. */
	cr_assert_eq(support_run(argv, &res), 0, "%s", res.err);
	script = te_example("hello-server.py");
	command = tc_printf("%s %s web", res.out, script);
	te_run("hello-python.ini", command, NULL);
	support_result_free(&res);
	free(command);
	free(script);
	free(python);
}

Test(examples, node)
{
	char *node = te_which("node"), *notify = te_which("systemd-notify");
	char *script, *command;

	if (node == NULL)
		node = te_which("nodejs");
	if (node == NULL)
		cr_skip_test("node is not in PATH (Debian: apt-get install "
		    "nodejs): the Node example is not tested");
	if (notify == NULL)
		cr_skip_test("systemd-notify, which the Node example says "
		    "READY=1 with, is not in PATH (Debian: apt-get install "
		    "systemd): the Node example is not tested");
	script = te_example("hello-server.js");
	command = tc_printf("%s %s web", node, script);
	te_run("hello-node.ini", command, NULL);
	free(command);
	free(script);
	free(notify);
	free(node);
}

/*
 * The Node example run as another user than the supervisor's (user =
 * nobody): systemd-notify cannot then send in the worker's name, so
 * handoff finds the worker by the sender's process group, which
 * systemd-notify stays in until handoff has read its message.
 */
Test(examples, node_as_another_user)
{
	char *node = te_which("node"), *notify = te_which("systemd-notify");
	char *script, *copy, *command;

	if (node == NULL || notify == NULL)
		cr_skip_test("node or systemd-notify is not in PATH: see "
		    "examples::node");
	if (geteuid() != 0 || getpwnam("nobody") == NULL)
		cr_skip_test("user = nobody needs root and a user nobody");
	/* nobody runs its own copy: the checkout may be closed to others. */
	te_tmp = support_tmpdir();
	cr_assert_eq(chmod(te_tmp, 0755), 0);
	script = te_example("hello-server.js");
	cr_assert_eq(access(script, R_OK), 0, "cannot read %s", script);
	copy = support_copy_executable(script, te_tmp);
	command = tc_printf("%s %s web", node, copy);
	te_run("hello-node.ini", command, "nobody");
	free(command);
	free(copy);
	free(script);
	free(notify);
	free(node);
}

Test(examples, go)
{
	char *go = te_which("go"), *source, *binary, *command, *cache, *gopath;
	const char *argv[] = { "go", "build", "-o", NULL, NULL, NULL };
	struct run_result res;

	if (go == NULL)
		cr_skip_test("go is not in PATH (Debian: apt-get install "
		    "golang-go): the Go example is not tested");
	/* Built aside, with a cache of its own and no network. */
	te_tmp = support_tmpdir();
	binary = tc_printf("%s/hello-go", te_tmp);
	source = te_example("hello-server.go");
	cache = tc_printf("%s/cache", te_tmp);
	gopath = tc_printf("%s/gopath", te_tmp);
	cr_assert(setenv("GOCACHE", cache, 1) == 0 &&
	    setenv("GOPATH", gopath, 1) == 0 && setenv("GOPROXY", "off", 1) == 0 &&
	    setenv("GOTOOLCHAIN", "local", 1) == 0 && setenv("GOFLAGS", "", 1) == 0);
	argv[0] = go;
	argv[3] = binary;
	argv[4] = source;
	cr_assert_eq(support_run(argv, &res), 0, "go build %s: %s%s", source,
	    res.out, res.err);
	support_result_free(&res);
	command = tc_printf("%s web", binary);
	te_run("hello-go.ini", command, NULL);
	free(command);
	free(source);
	free(binary);
	free(gopath);
	free(cache);
	free(go);
}

/* The example configs check clean as they are shipped. */
Test(examples, configs_check)
{
	static const char *const inis[] = { "hello-c.ini", "hello-python.ini",
	    "hello-node.ini", "hello-go.ini" };
	struct run_result res;
	char *path;
	size_t i;

	for (i = 0; i < sizeof(inis) / sizeof(inis[0]); i++) {
		path = te_example(inis[i]);
		cr_assert_eq(support_handoff_cmd(&res, "check", "-c", path, NULL),
		    0, "handoff check -c %s: %s%s", path, res.out, res.err);
		support_result_free(&res);
		free(path);
	}
}
