/*
 * test_reuseport.c: `handoff = reuseport`, as its users see it.
 *
 * Each worker slot gets a SO_REUSEPORT socket of its own, kept across
 * reloads (worker i of every generation gets slot i's); the kernel spreads
 * connections over the slots that serve; shrinking retires slots and
 * growing adds them; a worker that dies with connections queued on its
 * slot has them answered by the other slots (connection migration); a
 * supervisor that cannot turn migration on says so, and says what a
 * shrink then loses; a stranger joining the port is reported.
 *
 * Tests that need connection migration run as root in a network
 * namespace of their own (net.ipv4.tcp_migrate_req belongs to it), so
 * the host's setting is never touched.
 */
#include "autoconf.h"

#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <json.h>
#include <libgen.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "load.h"

#define NCONNS		40
#define CLIENTS		32	/* closed-loop clients: no more than a backlog */
/*
 * UDP senders: each is one flow, which the kernel hashes to one slot
 * always; with 48 of them every slot of 4 gets some (all but a 4e-6
 * chance).
 */
#define SENDERS		48
#define RATE		20	/* datagrams a second per sender */
#define RELOADS		20

TestSuite(reuseport, .fini = tc_fini);

static void rp_config_full(struct sup *s, int workers, const char *server,
    const char *args, int udp_port, const char *sup_keys, const char *drain);

/*
 * Write s's config: program app in reuseport mode with workers workers,
 * testserver args, on listener web (s->port) and, with udp, listener dns
 * on a UDP port.
 */
static void
rp_config(struct sup *s, int workers, const char *args, int udp_port,
    const char *sup_keys)
{
	rp_config_full(s, workers, support_env("HANDOFF_TESTSERVER"), args,
	    udp_port, sup_keys, "10s");
}

/* rp_config, running server, with a drain_timeout of drain. */
static void
rp_config_full(struct sup *s, int workers, const char *server,
    const char *args, int udp_port, const char *sup_keys, const char *drain)
{
	char *text, *path, dns[64] = "";

	if (udp_port != 0)
		snprintf(dns, sizeof(dns), "[listener dns]\nlisten = "
		    "udp:127.0.0.1:%d\n\n", udp_port);
	text = tc_printf(
	    "[supervisor]\nname = rptest\ncontrol = %s\npidfile = %s/handoff.pid\n"
	    "%s\n"
	    "[listener web]\nlisten = 127.0.0.1:%d\nbacklog = 64\n\n%s"
	    "[program app]\ncommand = %s%s%s\nlisteners = web%s\n"
	    "workers = %d\nhandoff = reuseport\ndrain_timeout = %s\n",
	    s->sock, s->dir, sup_keys, s->port, dns, server, *args ? " " : "",
	    args, udp_port ? " dns" : "", workers, drain);
	path = support_write_file(s->dir, "handoff.ini", text);
	free(path);
	free(text);
}

/* tc_own_netns, for a test that needs migration: skip unless root. */
static void
rp_netns(void)
{
	if (geteuid() != 0)
		cr_skip_test("needs root: connection migration is turned on in "
		    "a network namespace of the test's own");
	tc_own_netns();
}

/* Reload s and wait until generation gen is running and the others gone. */
static void
rp_reload(struct sup *s, int gen)
{
	struct run_result res;
	char *needle;

	cr_assert_eq(support_handoff_cmd(&res, "reload", "-c", s->config,
	    (char *)NULL), 0, "reload: %s%s", res.out, res.err);
	support_result_free(&res);
	needle = tc_printf("app gen %d: gone", gen - 1);
	cr_assert(support_handoff_wait_log(&s->hp, needle, 1) == 0,
	    "%s never came:\n%s", needle, tc_log_text(s));
	free(needle);
}

/* The "slots" array of listener name in status. */
static json_object *
rp_slots(json_object *root, const char *name)
{
	json_object *l = tc_json_named(root, "listeners", name), *slots;

	cr_assert_not_null(l, "no listener %s", name);
	slots = tc_json_at(l, "slots", NULL);
	cr_assert(slots != NULL && json_object_is_type(slots, json_type_array),
	    "no slots in %s", json_object_to_json_string(l));
	return slots;
}

/* The pid of the worker on slot i of listener web, as status says. */
static pid_t
rp_slot_pid(struct sup *s, int slot)
{
	json_object *root = tc_status_json(s), *w;
	char idx[16];
	pid_t pid;

	snprintf(idx, sizeof(idx), "%d", slot);
	w = tc_json_at(rp_slots(root, "web"), idx, "workers", "0", NULL);
	cr_assert_not_null(w, "nobody on slot %d", slot);
	pid = (pid_t)tc_json_int(tc_json_at(w, "pid", NULL));
	json_object_put(root);
	return pid;
}

/* The inode of a process's socket at fd, from /proc. */
static unsigned long
rp_fd_inode(pid_t pid, int fd)
{
	char path[64], link[128];
	unsigned long ino = 0;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)pid, fd);
	n = readlink(path, link, sizeof(link) - 1);
	cr_assert_gt(n, 0, "%s: %s", path, strerror(errno));
	link[n] = '\0';
	cr_assert_eq(sscanf(link, "socket:[%lu]", &ino), 1, "%s is %s", path,
	    link);
	return ino;
}

/* GET / n times; count the answers of each worker index (up to 8). */
static void
rp_spread(struct sup *s, int n, int counts[8], int gen)
{
	char *body;
	int i, g, w, rc;
	pid_t pid;

	memset(counts, 0, 8 * sizeof(*counts));
	for (i = 0; i < n; i++) {
		rc = support_http_get(s->port, "/", &body);
		cr_assert_eq(rc, SUPPORT_HTTP_OK, "GET %d: %s", i,
		    support_http_name(rc));
		cr_assert_eq(sscanf(body, "gen=%d pid=%d worker=%d", &g, &pid,
		    &w), 3, "answer: %s", body);
		cr_assert_eq(g, gen, "answer from gen %d: %s", g, body);
		cr_assert(w >= 0 && w < 8);
		counts[w]++;
		free(body);
	}
}

/* The copy of handoff that rp_start_as_nobody runs as nobody, or NULL. */
static char *rp_nobody_bin;

/*
 * The supervisor's supervisor.steering in status: ebpf, cbpf or none;
 * asked as nobody of a supervisor that runs as nobody (the control
 * socket's owner is trusted, and root).
 */
static char *
rp_steering(struct sup *s)
{
	const char *as_nobody[] = { "/usr/bin/setpriv", "--reuid=65534",
	    "--regid=65534", "--clear-groups", "--", rp_nobody_bin, "status",
	    "--json", "-c", s->config, NULL };
	struct run_result res;
	json_object *root;
	char *steering;

	if (rp_nobody_bin == NULL)
		root = tc_status_json(s);
	else {
		cr_assert_eq(support_run(as_nobody, &res), 0, "status as "
		    "nobody: %s%s", res.out, res.err);
		root = json_tokener_parse(res.out);
		cr_assert_not_null(root, "status --json: %s", res.out);
		support_result_free(&res);
	}
	steering = tc_printf("%s", tc_json_str(tc_json_at(root, "supervisor",
	    "steering", NULL)));
	json_object_put(root);
	return steering;
}

/* GET / requests times: each of the first nworkers workers answers some. */
static void
rp_expect_spread(struct sup *s, int requests, int nworkers, int gen,
    const char *when)
{
	int counts[8], i;

	rp_spread(s, requests, counts, gen);
	for (i = 0; i < nworkers; i++)
		cr_assert_gt(counts[i], 0, "%s, worker %d answered none of %d: "
		    "%d %d %d %d", when, i, requests, counts[0], counts[1],
		    counts[2], counts[3]);
}

Test(reuseport, each_slot_has_its_socket_kept_across_reloads)
{
	struct sup *s = tc_new("", "");
	unsigned long inode[4];
	int i, k;
	json_object *root, *slots;

	tc_own_netns();
	rp_config(s, 4, "", 0, "");
	tc_start(s);

	/* The kernel spreads connections: every worker answers some. */
	rp_expect_spread(s, 200, 4, 1, "at start");

	root = tc_status_json(s);
	slots = rp_slots(root, "web");
	cr_assert_eq(json_object_array_length(slots), 4);
	for (i = 0; i < 4; i++) {
		json_object *slot = json_object_array_get_idx(slots, (size_t)i);
		cr_assert(json_object_get_boolean(tc_json_at(slot, "serving",
		    NULL)), "slot %d: %s", i, json_object_to_json_string(slot));
		cr_assert_eq(tc_json_int(tc_json_at(slot, "queue_limit", NULL)),
		    64);
		cr_assert_str_eq(tc_json_str(tc_json_at(slot, "queue_unit",
		    NULL)), "connections");
	}
	cr_assert(json_object_get_boolean(tc_json_at(tc_json_named(root,
	    "listeners", "web"), "so_reuseport", NULL)));
	/* Its own workers' SO_REUSEPORT is no warning: the mode wants it. */
	cr_assert_eq(tc_log_count(s, "SO_REUSEPORT was turned on"), 0);
	json_object_put(root);

	/* Worker i holds slot i's socket at fd 3, one per worker. */
	for (i = 0; i < 4; i++) {
		inode[i] = rp_fd_inode(rp_slot_pid(s, i), 3);
		for (k = 0; k < i; k++)
			cr_assert_neq(inode[i], inode[k], "slots %d and %d share "
			    "a socket", k, i);
	}
	/* `fds web` hands over every slot's socket, in slot order. */
	{
		char line[256], *expected;
		int fds[8], n;

		n = tc_request_fds(s, "web", line, sizeof(line), fds, 8);
		expected = tc_printf("ok 4 web 127.0.0.1:%d\n", s->port);
		cr_assert_str_eq(line, expected);
		free(expected);
		cr_assert_eq(n, 4);
		for (i = 0; i < 4; i++) {
			struct stat sb;
			cr_assert_eq(fstat(fds[i], &sb), 0);
			cr_assert_eq((unsigned long)sb.st_ino, inode[i], "fd %d "
			    "is not slot %d's socket", i, i);
			close(fds[i]);
		}
	}
	/* A reload closes nothing: new worker i gets the same socket. */
	rp_reload(s, 2);
	for (i = 0; i < 4; i++)
		cr_assert_eq(rp_fd_inode(rp_slot_pid(s, i), 3), inode[i],
		    "slot %d's socket changed across a reload", i);
	rp_expect_spread(s, 200, 4, 2, "after the reload");
	tc_stop(s);
}

Test(reuseport, shrinking_retires_slots_and_growing_adds_them)
{
	struct sup *s = tc_new("", "");
	unsigned long inode[4];
	int counts[8], i;
	json_object *root;

	rp_netns();
	rp_config(s, 4, "", 0, "");
	tc_start(s);
	for (i = 0; i < 4; i++)
		inode[i] = rp_fd_inode(rp_slot_pid(s, i), 3);

	rp_config(s, 2, "", 0, "");
	rp_reload(s, 2);
	tc_expect_log(s, "listener web: worker slots 2-3 retired; 0 queued "
	    "connections moved to the serving slots", 1);
	root = tc_status_json(s);
	cr_assert_eq(json_object_array_length(rp_slots(root, "web")), 2,
	    "%s", json_object_to_json_string(rp_slots(root, "web")));
	json_object_put(root);
	for (i = 0; i < 2; i++)
		cr_assert_eq(rp_fd_inode(rp_slot_pid(s, i), 3), inode[i]);
	rp_spread(s, 100, counts, 2);
	cr_assert(counts[0] > 0 && counts[1] > 0 && counts[2] + counts[3] == 0,
	    "answers by worker: %d %d %d %d", counts[0], counts[1], counts[2],
	    counts[3]);

	rp_config(s, 4, "", 0, "");
	rp_reload(s, 3);
	root = tc_status_json(s);
	cr_assert_eq(json_object_array_length(rp_slots(root, "web")), 4);
	json_object_put(root);
	for (i = 0; i < 2; i++)
		cr_assert_eq(rp_fd_inode(rp_slot_pid(s, i), 3), inode[i]);
	for (i = 2; i < 4; i++)
		cr_assert_neq(rp_fd_inode(rp_slot_pid(s, i), 3), inode[i],
		    "slot %d is a new socket", i);
	rp_expect_spread(s, 200, 4, 3, "after growing");
	tc_stop(s);
}

/* Open a connection to port and send a request; the fd. */
static int
rp_send_request(int port)
{
	static const char req[] = "GET / HTTP/1.0\r\n\r\n";
	struct sockaddr_in sin;
	int fd;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)port);
	cr_assert_neq(fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), -1);
	cr_assert_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0,
	    "connect: %s", strerror(errno));
	cr_assert_eq(tc_send_all(fd, req, sizeof(req) - 1), 0);
	return fd;
}

/*
 * The C example (examples/hello-server) on the slots a shrink retires:
 * their sockets are shut down, and its workers there stop and exit 0 at
 * once. Its accept loop used to poll the hung-up socket again and again,
 * never waiting, so the stop signal (delivered only in a ppoll that
 * waits) went unseen until drain_timeout killed them.
 */
Test(reuseport, the_c_example_stops_on_a_retired_slot)
{
	struct sup *s = tc_new("", "");
	char *bin = strdup(support_env("HANDOFF_BIN")), *server, *log, *answer;
	bool closed;
	int fd;

	rp_netns();
	cr_assert_not_null(bin);
	server = tc_printf("%s/examples/hello-server", dirname(bin));
	rp_config_full(s, 3, server, "--name web", 0, "", "60s");
	tc_start(s);
	rp_config_full(s, 1, server, "--name web", 0, "", "60s");
	rp_reload(s, 2);
	log = tc_log_text(s);
	cr_expect_eq(support_count_lines(log, "every socket was shut down"), 2,
	    "the two retired workers did not stop on their own:\n%s", log);
	cr_expect_not_null(strstr(log, "app gen 1 drained: 3 workers exited "
	    "0"), "%s", log);
	cr_expect_null(strstr(log, "SIGKILL"), "%s", log);
	free(log);

	fd = rp_send_request(s->port);
	answer = tc_read_all(fd, DEADLINE_MS, &closed);
	cr_expect(closed && strstr(answer, " 200 ") != NULL &&
	    strstr(answer, "gen=2 ") != NULL, "the worker left does not "
	    "serve: %s", answer);
	close(fd);
	free(answer);
	tc_stop(s);
	free(server);
	free(bin);
}


/*
 * Worker 1 (pid stuck) stops accepting while connections arrive, then is
 * killed: the connections queued on its slot are all answered, none by
 * a worker 1 (its restart), and the log says they moved.
 */
static void
rp_kill_with_queue(struct sup *s, pid_t stuck)
{
	int fds[NCONNS], i, g, w, queued = 0;
	long long deadline;
	char *body;
	bool closed;
	pid_t pid;

	cr_assert_eq(kill(stuck, SIGSTOP), 0);
	for (i = 0; i < NCONNS; i++)
		fds[i] = rp_send_request(s->port);
	/* Connections wait (on slot 1: the others keep up). */
	deadline = support_now_ms() + DEADLINE_MS;
	while (tc_left(deadline) > 0 && (queued = load_listen_queue(s->port))
	    <= 0)
		usleep(1000);
	cr_assert_gt(queued, 0, "no connection queued out of %d", NCONNS);

	/* It dies: its queue moves to the serving slots, none is reset. */
	cr_assert_eq(kill(stuck, SIGKILL), 0);
	deadline = support_now_ms() + DEADLINE_MS;
	for (i = 0; i < NCONNS; i++) {
		body = tc_read_all(fds[i], tc_left(deadline), &closed);
		cr_assert(body != NULL && closed, "connection %d: no answer", i);
		cr_assert(strstr(body, "gen=") != NULL && sscanf(strstr(body,
		    "gen="), "gen=%d pid=%d worker=%d", &g, &pid, &w) == 3,
		    "connection %d: answer \"%s\"", i, body);
		cr_assert_neq(w, 1, "connection %d waited for worker 1 to "
		    "restart instead of moving", i);
		free(body);
		close(fds[i]);
	}
	body = support_handoff_wait_line(&s->hp, "listener web: worker slot 1 "
	    "has no worker serving: its ", 1);
	cr_assert_not_null(body, "the move was not logged");
	cr_assert(sscanf(strstr(body, "its "), "its %d queued", &queued) == 1 &&
	    queued > 0, "%s", body);
	free(body);
}

Test(reuseport, a_dead_workers_queue_is_answered_by_the_other_slots)
{
	struct sup *s = tc_new("", "");

	rp_netns();
	rp_config(s, 4, "", 0, "");
	tc_start(s);
	tc_expect_log(s, "connection migration: set net.ipv4.tcp_migrate_req "
	    "= 1", 1);
	rp_kill_with_queue(s, rp_slot_pid(s, 1));
	tc_stop(s);
}

/*
 * Start s's supervisor as user nobody (uid and gid 65534, no groups; with
 * cap_bpf, CAP_BPF and no other capability), on
 * copies of the binaries in s->dir (a test's directory may sit where
 * nobody cannot reach).
 */
static void
rp_start_as_nobody(struct sup *s, bool cap_bpf)
{
	char *bin = support_copy_handoff(s->dir);
	const char *plain[] = { "--reuid=65534", "--regid=65534",
	    "--clear-groups", "--", bin, "run", "-c", s->config, NULL };
	const char *bpf[] = { "--reuid=65534", "--regid=65534",
	    "--clear-groups", "--inh-caps=+bpf", "--ambient-caps=+bpf", "--",
	    bin, "run", "-c", s->config, NULL };
	const char *const *args = cap_bpf ? bpf : plain;

	cr_assert_eq(chmod(s->dir, 0755), 0);
	cr_assert_eq(chown(s->dir, 65534, 65534), 0);
	cr_assert_eq(chmod(s->config, 0644), 0);
	/* The harness runs HANDOFF_BIN: setpriv, with handoff's arguments. */
	setenv("HANDOFF_BIN", "/usr/bin/setpriv", 1);
	support_handoff_free(&s->hp);
	cr_assert_eq(support_handoff_start_args(&s->hp, args, s->log, NULL), 0);
	tc_expect_log(s, "started: ", 1);
	rp_nobody_bin = bin;	/* for rp_steering, for the test's life */
}

/* The pid of worker index of generation gen, from the (debug) log. */
static pid_t
rp_logged_pid(struct sup *s, int gen, int index)
{
	char *needle = tc_printf("app gen %d worker %d pid ", gen, index);
	char *line = support_handoff_wait_line(&s->hp, needle, 1), *at;
	int pid;

	cr_assert_not_null(line, "no %s in the log", needle);
	at = strstr(line, needle) + strlen(needle);
	cr_assert_eq(sscanf(at, "%d", &pid), 1);
	free(line);
	free(needle);
	return (pid_t)pid;
}

Test(reuseport, without_migration_a_shrink_says_what_it_loses)
{
	struct sup *s = tc_new("", "");
	char *server, *line, *body, *at;
	int fds[NCONNS], i, g, w, lost = 0, answered = 0, reset = 0;
	long long deadline;
	pid_t pid, stuck[2];
	bool closed;

	rp_netns();
	if (access("/usr/bin/setpriv", X_OK) != 0)
		cr_skip_test("needs setpriv (util-linux) to run the supervisor "
		    "as another user");
	/* Nobody runs a copy of the test server, in the test's directory. */
	server = support_copy_executable(support_env("HANDOFF_TESTSERVER"),
	    s->dir);
	rp_config_full(s, 4, server, "", 0, "log_level = debug\n", "1s");
	rp_start_as_nobody(s, false);

	/* At start: migration is off, and it says what that means. */
	line = support_handoff_wait_line(&s->hp, "connection migration is "
	    "unavailable", 1);
	cr_assert_not_null(line);
	cr_assert(strstr(line, "net.ipv4.tcp_migrate_req is 0 and cannot be "
	    "set: Permission denied") != NULL, "%s", line);
	cr_assert(strstr(line, "with handoff = reuseport, when workers shrink "
	    "or a worker dies (plain reloads lose nothing there)") != NULL, "%s",
	    line);
	free(line);
	/* Nor may it load BPF programs: classic BPF steers, by group index. */
	at = rp_steering(s);
	cr_assert_str_eq(at, "cbpf");
	free(at);

	/* Workers 2 and 3 stop accepting; connections wait on their slots. */
	for (i = 0; i < 4; i++)
		rp_logged_pid(s, 1, i);
	stuck[0] = rp_logged_pid(s, 1, 2);
	stuck[1] = rp_logged_pid(s, 1, 3);
	tc_saw_worker(s, stuck[0]);
	tc_saw_worker(s, stuck[1]);
	cr_assert_eq(kill(stuck[0], SIGSTOP), 0);
	cr_assert_eq(kill(stuck[1], SIGSTOP), 0);
	for (i = 0; i < NCONNS; i++)
		fds[i] = rp_send_request(s->port);

	/* Shrink to 2: slots 2 and 3 wait for their workers, in vain. */
	rp_config_full(s, 2, server, "", 0, "log_level = debug\n", "1s");
	cr_assert_eq(kill(s->hp.pid, SIGHUP), 0);
	line = support_handoff_wait_line(&s->hp, "queued on retired worker "
	    "slots 2.. were reset (no connection migration)", 1);
	cr_assert_not_null(line, "no report of the loss:\n%s", tc_log_text(s));
	at = strstr(line, "app gen 1: ");
	cr_assert(at != NULL && sscanf(at, "app gen 1: %d connection", &lost)
	    == 1, "%s", line);
	free(line);

	/* What it reported is what the clients saw: that many resets. */
	deadline = support_now_ms() + DEADLINE_MS;
	for (i = 0; i < NCONNS; i++) {
		body = tc_read_all(fds[i], tc_left(deadline), &closed);
		if (body != NULL && (at = strstr(body, "gen=")) != NULL &&
		    sscanf(at, "gen=%d pid=%d worker=%d", &g, &pid, &w) == 3) {
			cr_assert(w == 0 || w == 1, "answered by worker %d", w);
			answered++;
		} else {
			cr_assert(closed, "connection %d neither answered nor "
			    "closed", i);
			reset++;
		}
		free(body);
		close(fds[i]);
	}
	cr_assert_gt(lost, 0);
	cr_assert_eq(reset, lost, "%d connections failed, %d reported lost",
	    reset, lost);
	cr_assert_eq(answered + reset, NCONNS);
	free(server);
	/* Stopped workers die at the drain timeout (SIGKILL). */
	tc_expect_log(s, "app gen 1: gone", 1);
	tc_stop(s);
}

Test(reuseport, a_stranger_joining_the_port_is_reported)
{
	struct sup *s;
	json_object *root, *foreign;
	struct run_result res;
	char *address, *line;
	pid_t stranger;

	tc_own_netns();
	setenv("HANDOFF_GUARD_INTERVAL", "100ms", 1);
	s = tc_new("", "");
	rp_config(s, 3, "", 0, "");
	tc_start(s);

	/* check --bind: the running supervisor's own sockets are expected. */
	cr_assert_eq(support_handoff_cmd(&res, "check", "--bind", "-c",
	    s->config, (char *)NULL), 0, "%s%s", res.out, res.err);
	support_result_free(&res);

	/* Any process of the same uid may join a SO_REUSEPORT group. */
	address = tc_printf("127.0.0.1:%d", s->port);
	stranger = tc_start_stranger(s, address);

	/* check --bind names the stranger, and only it. */
	cr_assert_eq(support_handoff_cmd(&res, "check", "--bind", "-c",
	    s->config, (char *)NULL), 1, "%s%s", res.out, res.err);
	line = tc_printf("pid %d (testserver, uid %u) already listens on this "
	    "address with SO_REUSEPORT and would share its connections (not "
	    "this config's supervisor or its workers)", (int)stranger,
	    (unsigned int)getuid());
	cr_assert(strstr(res.err, line) != NULL, "check --bind said: %s",
	    res.err);
	cr_assert(strstr(res.err, "(handoff,") == NULL, "%s", res.err);
	free(line);
	support_result_free(&res);

	line = tc_printf("pid %d (testserver, uid %u) listens on its address "
	    "too", (int)stranger, (unsigned int)getuid());
	tc_expect_log(s, line, 1);
	free(line);
	root = tc_status_json(s);
	foreign = tc_json_at(tc_json_named(root, "listeners", "web"),
	    "foreign", NULL);
	/* The stranger alone: the workers' slots are the supervisor's. */
	cr_assert_eq(json_object_array_length(foreign), 1, "%s",
	    json_object_to_json_string(foreign));
	cr_assert_eq(tc_json_int(tc_json_at(foreign, "0", "pid", NULL)),
	    stranger);
	json_object_put(root);

	kill(stranger, SIGKILL);
	waitpid(stranger, NULL, 0);
	free(address);
	tc_stop(s);
}

/*
 * A process of the supervisor's uid joins the port, then a worker dies
 * with connections queued on its slot: the slot's socket leaves the
 * group and joins again, and the stranger's socket takes its index in
 * the kernel's group. The supervisor may load BPF programs (root): it
 * steers by slot through the SK_REUSEPORT program, and the stranger gets
 * none of the connections, the queued ones moved nor the new ones.
 */
Test(reuseport, a_stranger_gets_no_connection_when_a_slot_moves)
{
	struct sup *s;
	char *address, *body, *steering;
	int i, g, w, theirs = 0;
	pid_t stranger, pid;

	tc_own_netns();
	s = tc_new("", "");
	rp_config(s, 3, "", 0, "");
	tc_start(s);
	steering = rp_steering(s);
	cr_assert_str_eq(steering, "ebpf");
	free(steering);
	tc_expect_log(s, "reuseport listeners steer through an SK_REUSEPORT "
	    "program, by worker slot (CAP_BPF)", 1);

	address = tc_printf("127.0.0.1:%d", s->port);
	stranger = tc_start_stranger(s, address);
	rp_kill_with_queue(s, rp_slot_pid(s, 1));
	for (i = 0; i < 300; i++) {
		cr_assert_eq(support_http_get(s->port, "/", &body),
		    SUPPORT_HTTP_OK, "GET %d", i);
		cr_assert(sscanf(body, "gen=%d pid=%d worker=%d", &g, &pid,
		    &w) >= 2, "answer: %s", body);
		theirs += pid == stranger;
		free(body);
	}
	cr_assert_eq(theirs, 0, "the stranger (pid %d) answered %d of 300 "
	    "requests", (int)stranger, theirs);

	kill(stranger, SIGKILL);
	waitpid(stranger, NULL, 0);
	free(address);
	tc_stop(s);
}

Test(reuseport, a_slot_a_stopping_worker_shuts_down_listens_again)
{
	struct sup *s = tc_new("", "");
	char *what;
	int slot;

	tc_own_netns();
	rp_config(s, 3, "--shutdown-on-stop rd", 0, "");
	tc_start(s);
	/* The old workers shut their slots down as they stop. */
	rp_reload(s, 2);
	tc_expect_log(s, "shut down by a process holding it", 3);
	/* Each warning names the slot it is about. */
	for (slot = 0; slot < 3; slot++) {
		what = tc_printf(" worker slot %d (program app): shut down",
		    slot);
		cr_expect_eq(tc_log_count(s, what), 1, "%s: %s", what,
		    tc_log_text(s));
		free(what);
	}
	/* Every slot listens again, and its new worker serves it. */
	rp_expect_spread(s, 150, 3, 2, "after its slot was shut down");
	tc_stop(s);
}

/* The loss test's load, stopped before its supervisor is. */
static struct load ld;

static void
rp_load_fini(void)
{
	load_stop(&ld);
	memset(&ld, 0, sizeof(ld));
	tc_fini();
}

/* A kernel counter of the test's namespace. */
static long long
rp_netstat(const char *name)
{
	long long v = load_netstat(name);

	cr_assert_neq(v, -1, "no counter %s", name);
	return v;
}

/* The loads' summary for a message. */
static const char *
rp_summary(struct load *l)
{
	static char buf[2][2048];
	static int k;

	k = !k;
	return load_summary(l, buf[k], sizeof(buf[k]));
}

/*
 * Reload (the k-th) under load, once both loads made progress, and wait
 * until generation k is gone and both went on past it.
 */
static void
rp_reload_under_load(struct sup *s, struct load *udp, int k)
{
	char *gone = tc_printf("app gen %d: gone", k);

	cr_assert_eq(load_wait_progress(&ld, CLIENTS), 0, "no TCP progress "
	    "before reload %d: %s", k, rp_summary(&ld));
	cr_assert_eq(load_wait_progress(udp, SENDERS), 0, "no UDP progress "
	    "before reload %d: %s", k, rp_summary(udp));
	cr_assert_eq(kill(s->hp.pid, SIGHUP), 0);
	tc_expect_log(s, "reload done", k);
	tc_expect_log(s, gone, 1);
	cr_assert_eq(load_wait_progress(&ld, CLIENTS + 1), 0, "no TCP "
	    "progress after reload %d: %s", k, rp_summary(&ld));
	cr_assert_eq(load_wait_progress(udp, SENDERS + 1), 0, "no UDP "
	    "progress after reload %d: %s", k, rp_summary(udp));
	free(gone);
}

Test(reuseport, zero_loss_across_reloads_shrink_and_growth_under_load,
    .fini = rp_load_fini, .timeout = 300)
{
	static struct load udp;
	long long overflows, drops, mfail, inerr, rcvbuf;
	struct sup *s;
	char why[256];
	int k, w, udp_port;

	if (load_netns_enter(why, sizeof(why)) == -1) {
		if (errno == EPERM)
			cr_skip_test("%s", why);
		cr_assert_fail("%s", why);
	}
	s = tc_new("", "");
	udp_port = s->port;	/* UDP and TCP may share a number */
	/* Slower to accept (2ms a connection) than the clients connect. */
	rp_config(s, 4, "--accept-delay 2ms", udp_port, "");
	tc_start(s);
	tc_expect_log(s, "connection migration: set", 1);
	overflows = rp_netstat("ListenOverflows");
	drops = rp_netstat("ListenDrops");
	mfail = rp_netstat("TCPMigrateReqFailure");
	inerr = rp_netstat("Udp:InErrors");
	rcvbuf = rp_netstat("Udp:RcvbufErrors");

	memset(&udp, 0, sizeof(udp));
	cr_assert_eq(load_start_tcp(&ld, "127.0.0.1", s->port, CLIENTS), 0);
	cr_assert_eq(load_start_udp(&udp, "127.0.0.1", udp_port, SENDERS,
	    RATE), 0);
	/* Saturated: connections wait in the accept queues. */
	{
		long long deadline = support_now_ms() + DEADLINE_MS;
		int queued = -1;

		while (tc_left(deadline) > 0 && (queued =
		    load_listen_queue(s->port)) < CLIENTS / 4)
			cr_assert_eq(load_wait_progress(&ld, 1), 0, "%s",
			    rp_summary(&ld));
		cr_assert_geq(queued, CLIENTS / 4, "connections never queued "
		    "(%d): the server is not slower than its clients", queued);
	}
	for (k = 1; k <= RELOADS; k++)
		rp_reload_under_load(s, &udp, k);
	/* Shrink 4 -> 2, then grow 2 -> 4, under the same load. */
	rp_config(s, 2, "--accept-delay 2ms", udp_port, "");
	rp_reload_under_load(s, &udp, ++k - 1);
	tc_expect_log(s, "worker slots 2-3 retired", 2);
	rp_config(s, 4, "--accept-delay 2ms", udp_port, "");
	rp_reload_under_load(s, &udp, k);
	load_stop(&ld);
	load_stop(&udp);

	cr_assert_eq(load_failures(&ld), 0, "TCP: %s", rp_summary(&ld));
	cr_assert_eq(load_failures(&udp), 0, "UDP: %s", rp_summary(&udp));
	cr_assert_eq(load_count(&udp, LOAD_LOST), 0, "UDP: %s",
	    rp_summary(&udp));
	cr_assert_gt(load_total(&ld), (long)CLIENTS * 2 * (RELOADS + 2), "%s",
	    rp_summary(&ld));
	cr_assert_eq(rp_netstat("ListenOverflows"), overflows, "the backlog "
	    "overflowed: the test is not what it claims");
	cr_assert_eq(rp_netstat("ListenDrops"), drops);
	cr_assert_eq(rp_netstat("TCPMigrateReqFailure"), mfail);
	cr_assert_eq(rp_netstat("Udp:InErrors"), inerr);
	cr_assert_eq(rp_netstat("Udp:RcvbufErrors"), rcvbuf);
	/* The kernel spread the load over every slot. */
	for (w = 0; w < 4; w++) {
		cr_assert_gt(load_worker_answers(&ld, w), 0, "TCP: worker %d "
		    "answered none: %s", w, rp_summary(&ld));
		cr_assert_gt(load_worker_answers(&udp, w), 0, "UDP: worker %d "
		    "answered none: %s", w, rp_summary(&udp));
	}
	cr_log_info("TCP: %s", rp_summary(&ld));
	cr_log_info("UDP: %s", rp_summary(&udp));
	cr_log_info("connections migrated: %lld",
	    rp_netstat("TCPMigrateReqSuccess"));
	tc_stop(s);
}

Test(reuseport, with_only_cap_bpf_the_program_steers_and_migrates)
{
	struct sup *s = tc_new("", "");
	char *server, *steering;

	rp_netns();
	if (access("/usr/bin/setpriv", X_OK) != 0)
		cr_skip_test("needs setpriv (util-linux) to run the supervisor "
		    "as another user");
	server = support_copy_executable(support_env("HANDOFF_TESTSERVER"),
	    s->dir);
	rp_config_full(s, 4, server, "", 0, "log_level = debug\n", "10s");
	rp_start_as_nobody(s, true);
	/* The sysctl is out of reach; the SK_REUSEPORT program is not. */
	tc_expect_log(s, "net.ipv4.tcp_migrate_req is 0 and cannot be set: "
	    "Permission denied (root in the network namespace can); reuseport "
	    "listeners steer and migrate through an SK_REUSEPORT program "
	    "instead (CAP_BPF)", 1);
	cr_assert_eq(tc_log_count(s, "connection migration is unavailable: "),
	    0);
	steering = rp_steering(s);
	cr_assert_str_eq(steering, "ebpf");
	free(steering);
	rp_expect_spread(s, 200, 4, 1, "steered by the program");
	rp_kill_with_queue(s, rp_logged_pid(s, 1, 1));
	free(server);
	tc_stop(s);
}
