/*
 * test_child.c: what child.c prepares for a worker before clone (the exact
 * environment of each socket protocol, how the command is found) and what
 * the child spawn.c starts does before exec: its fds, signals and ids, as
 * the program it runs sees them in /proc; a failure before exec, reported
 * by spawn_start itself or, for a start in flight, when it settles.
 */
#include "autoconf.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/sched.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "cgroup.h"
#include "child.h"
#include "config.h"
#include "listener.h"
#include "loaded.h"
#include "procfs.h"
#include "spawn.h"
#include "support.h"

static struct loaded loaded;

/* Remove what a test made. */
static void
fini(void)
{
	loaded_free(&loaded);
}

/* Load the config text (in loaded.dir), bind its listeners; its program app. */
static struct program_conf *
load_app(const char *text)
{
	return loaded_program(&loaded, text, "app");
}

/*
 * A config of three listeners (TCP on port 0, a unix stream socket, UDP)
 * and one program using them in the order given, its sockets bound.
 */
static struct program_conf *
setup(const char *order, const char *extra_env)
{
	struct program_conf *pc;
	char *text;

	loaded.dir = support_tmpdir();
	cr_assert(asprintf(&text,
	    "[listener web]\nlisten = 127.0.0.1:0\nfd_name = http\n"
	    "[listener admin]\nlisten = unix:%s/admin.sock\n"
	    "[listener dns]\nlisten = udp:127.0.0.1:0\n"
	    "[program app]\ncommand = /bin/true --flag\nlisteners = %s\n%s",
	    loaded.dir, order, extra_env) != -1);
	pc = load_app(text);
	free(text);
	return pc;
}

/* The listeners of pc, from the bound set, in the program's order. */
static void
program_listeners(struct program_conf *pc, struct listener **ls)
{
	size_t i;

	for (i = 0; i < pc->nlisteners; i++)
		ls[i] = listener_set_find(&loaded.set, pc->listener_names[i]);
}

/*
 * A start that failed for a limit names it: past the fd limit, the limit
 * and the fds in use (this process's own, counted); out of processes,
 * the limit that applies; for other errors, nothing.
 */
Test(child, a_limit_a_start_ran_into_is_named)
{
	struct rlimit old, rl;
	char buf[160], want[160];
	long used;

	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
	rl.rlim_cur = 200;
	rl.rlim_max = old.rlim_max;
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	used = procfs_fds_open();
	cr_assert_gt(used, 0);
	snprintf(want, sizeof(want), " (the fd limit is 200; %ld in use)",
	    used);
	cr_expect_str_eq(spawn_limit_words(EMFILE, buf, sizeof(buf)), want);
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
	cr_expect_str_eq(spawn_limit_words(ENFILE, buf, sizeof(buf)),
	    " (the system's limit on open files, fs.file-max)");
	cr_expect_not_null(strstr(spawn_limit_words(EAGAIN, buf, sizeof(buf)),
	    "(the process limit: "), "%s", buf);
	cr_expect_str_eq(spawn_limit_words(ENOMEM, buf, sizeof(buf)), "");
}

/* The value of NAME in envp, or NULL; each name may appear once only. */
static const char *
env_get(char **envp, const char *name)
{
	size_t len = strlen(name), i;
	const char *found = NULL;

	for (i = 0; envp[i] != NULL; i++) {
		if (strncmp(envp[i], name, len) == 0 && envp[i][len] == '=') {
			cr_assert_null(found, "%s set twice", name);
			found = envp[i] + len + 1;
		}
	}
	return found;
}

Test(child, environment_of_every_protocol, .fini = fini)
{
	struct program_conf *pc = setup("admin, web, dns", "env = FOO=bar\n");
	struct listener *ls[3];
	char want[512], **envp;
	int slot;

	program_listeners(pc, ls);
	envp = child_env_build(pc, ls, 3, 7, 2, "@notify", NULL, &slot);
	cr_assert_not_null(envp);
	cr_assert_str_eq(env_get(envp, "LISTEN_FDS"), "3");
	cr_assert_str_eq(env_get(envp, "LISTEN_FDNAMES"), "admin:http:dns");
	/* Room for the child's pid, which it writes after fork. */
	cr_assert(slot >= 0);
	cr_assert(strncmp(envp[slot], "LISTEN_PID=", 11) == 0);
	cr_assert_geq(strlen(envp[slot] + 11), 20);
	/* Server::Starter: stream sockets only, in fd order. */
	snprintf(want, sizeof(want), "%s/admin.sock=3;%s=4", loaded.dir, ls[1]->bound);
	cr_assert_str_eq(env_get(envp, "SERVER_STARTER_PORT"), want);
	cr_assert(strncmp(ls[1]->bound, "127.0.0.1:", 10) == 0);
	cr_assert_neq(strcmp(ls[1]->bound, "127.0.0.1:0"), 0,
	    "the real port, not 0");
	cr_assert_str_eq(env_get(envp, "EINHORN_FD_COUNT"), "3");
	cr_assert_str_eq(env_get(envp, "EINHORN_FD_0"), "3");
	cr_assert_str_eq(env_get(envp, "EINHORN_FD_1"), "4");
	cr_assert_str_eq(env_get(envp, "EINHORN_FD_2"), "5");
	cr_assert_str_eq(env_get(envp, "HANDOFF_GENERATION"), "7");
	cr_assert_str_eq(env_get(envp, "HANDOFF_WORKER"), "2");
	cr_assert_str_eq(env_get(envp, "NOTIFY_SOCKET"), "@notify");
	cr_assert_str_eq(env_get(envp, "FOO"), "bar");
	free(envp);
}

/*
 * The most listeners a config line names, with long fd names: the
 * environment outgrows its first buffer and every entry is still whole.
 */
Test(child, environment_of_many_listeners, .fini = fini)
{
	static const char names[] =
	    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUV";
	enum { N = sizeof(names) - 1 };
	struct program_conf *pc;
	struct listener *ls[N];
	char *text, *want, *at, **envp, var[32], fd[32];
	size_t i, len = 0, cap = 65536;
	int slot;

	loaded.dir = support_tmpdir();
	cr_assert_not_null(text = malloc(cap));
	for (i = 0; i < N; i++)
		len += (size_t)snprintf(text + len, cap - len, "[listener %c]\n"
		    "listen = 127.0.0.1:0\nfd_name = %c%0179d\n", names[i],
		    names[i], 0);
	len += (size_t)snprintf(text + len, cap - len, "[program app]\n"
	    "command = /bin/true\nlisteners =");
	for (i = 0; i < N; i++)
		len += (size_t)snprintf(text + len, cap - len, " %c", names[i]);
	snprintf(text + len, cap - len, "\n");
	pc = load_app(text);
	program_listeners(pc, ls);

	envp = child_env_build(pc, ls, N, 3, 1, NULL, NULL, &slot);
	cr_assert_not_null(envp);
	cr_assert_not_null(want = malloc(cap));
	for (i = 0, at = want; i < N; i++)
		at += sprintf(at, "%s%c%0179d", i ? ":" : "", names[i], 0);
	cr_assert_str_eq(env_get(envp, "LISTEN_FDNAMES"), want);
	for (i = 0, at = want; i < N; i++)
		at += sprintf(at, "%s%s=%zu", i ? ";" : "", ls[i]->bound, 3 + i);
	cr_assert_str_eq(env_get(envp, "SERVER_STARTER_PORT"), want);
	snprintf(fd, sizeof(fd), "%d", N);
	cr_assert_str_eq(env_get(envp, "EINHORN_FD_COUNT"), fd);
	for (i = 0; i < N; i++) {
		snprintf(var, sizeof(var), "EINHORN_FD_%zu", i);
		snprintf(fd, sizeof(fd), "%zu", 3 + i);
		cr_assert_str_eq(env_get(envp, var), fd);
	}
	cr_assert(strncmp(envp[slot], "LISTEN_PID=", 11) == 0);
	cr_assert_str_eq(env_get(envp, "HANDOFF_WORKER"), "1");
	free(want);
	free(text);
	free(envp);
}

Test(child, inherited_protocol_variables_are_dropped, .fini = fini)
{
	struct program_conf *pc = setup("web", "");
	struct listener *ls[1];
	char **envp;
	int slot;

	/* As if the supervisor itself ran under systemd or einhorn. */
	setenv("LISTEN_FDS", "9", 1);
	setenv("LISTEN_FDNAMES", "stale", 1);
	setenv("NOTIFY_SOCKET", "/run/systemd/notify", 1);
	setenv("EINHORN_FD_3", "12", 1);
	setenv("HANDOFF_GENERATION", "99", 1);
	setenv("KEEP_ME", "yes", 1);
	program_listeners(pc, ls);
	envp = child_env_build(pc, ls, 1, 1, 0, NULL, NULL, &slot);
	cr_assert_str_eq(env_get(envp, "LISTEN_FDS"), "1");
	cr_assert_str_eq(env_get(envp, "LISTEN_FDNAMES"), "http");
	cr_assert_null(env_get(envp, "NOTIFY_SOCKET"),
	    "no NOTIFY_SOCKET unless ready = notify");
	cr_assert_null(env_get(envp, "EINHORN_FD_3"));
	cr_assert_str_eq(env_get(envp, "HANDOFF_GENERATION"), "1");
	cr_assert_str_eq(env_get(envp, "KEEP_ME"), "yes");
	free(envp);
}

Test(child, program_env_overrides_the_inherited_one, .fini = fini)
{
	struct program_conf *pc = setup("web", "env = PATH=/opt/bin\n");
	struct listener *ls[1];
	char **envp;
	int slot;

	setenv("PATH", "/usr/bin:/bin", 1);
	program_listeners(pc, ls);
	envp = child_env_build(pc, ls, 1, 1, 0, NULL, NULL, &slot);
	cr_assert_str_eq(env_get(envp, "PATH"), "/opt/bin");
	free(envp);
}

Test(child, command_is_found_in_path_or_directory, .fini = fini)
{
	struct program_conf *pc = setup("web", "");
	struct child_spec spec;
	struct listener *ls[1];
	char *cause = NULL, *script;

	program_listeners(pc, ls);
	/* An absolute path as it is. */
	cr_assert_eq(child_spec_init(&spec, pc, ls, 1, 1, 0, NULL, NULL, &cause), 0,
	    "%s", cause);
	cr_assert_str_eq(spec.path, "/bin/true");
	cr_assert_eq(spec.fds[0], listener_fd(ls[0]));
	child_spec_free(&spec);

	/* A bare name through PATH. */
	free(pc->argv[0]);
	pc->argv[0] = strdup("true");
	setenv("PATH", "/nonexistent:/bin", 1);
	cr_assert_eq(child_spec_init(&spec, pc, ls, 1, 1, 0, NULL, NULL, &cause), 0,
	    "%s", cause);
	cr_assert_str_eq(spec.path, "/bin/true");
	child_spec_free(&spec);

	/* A relative path from directory =. */
	script = support_write_file(loaded.dir, "server", "#!/bin/sh\n");
	chmod(script, 0755);
	free(pc->argv[0]);
	pc->argv[0] = strdup("./server");
	pc->directory = strdup(loaded.dir);
	cr_assert_eq(child_spec_init(&spec, pc, ls, 1, 1, 0, NULL, NULL, &cause), 0,
	    "%s", cause);
	cr_assert(strstr(spec.path, "/server") != NULL, "%s", spec.path);
	cr_assert_eq(access(spec.path, X_OK), 0);
	child_spec_free(&spec);
	free(script);

	/* A name nowhere on PATH: said so, with the PATH searched. */
	free(pc->argv[0]);
	pc->argv[0] = strdup("no-such-command-here");
	cr_assert_eq(child_spec_init(&spec, pc, ls, 1, 1, 0, NULL, NULL, &cause), -1);
	cr_assert_str_eq(cause, "cannot run no-such-command-here: not found in "
	    "PATH (/nonexistent:/bin)");
	free(cause);
}

/* ---- the child, from clone to exec ------------------------------------ */

static char *sh_argv[4] = { "/bin/sh", "-c", NULL, NULL };
static char *cat_status_argv[] = { "/bin/cat", "/proc/self/status", NULL };
static char *env_path[] = { "PATH=/usr/bin:/bin", NULL };

/* A spec that runs argv, with nfds fds to place from 3 on. */
static void
spec_for(struct child_spec *spec, char **argv, int *fds, size_t nfds)
{
	memset(spec, 0, sizeof(*spec));
	spec->path = argv[0];
	spec->argv = argv;
	spec->envp = env_path;
	spec->listen_pid_slot = -1;
	spec->cgroup_fd = -1;
	spec->cgroup_dir_fd = -1;
	spec->fds = fds;
	spec->nfds = nfds;
}

/* A spec that runs `sh -c script`. */
static void
spec_for_sh(struct child_spec *spec, const char *script, int *fds,
    size_t nfds)
{
	sh_argv[2] = (char *)script;
	spec_for(spec, sh_argv, fds, nfds);
}

/* The fds open in this process now. */
static int
open_fds(void)
{
	return support_fd_count(getpid());
}

/*
 * Start spec, read everything it writes until it exits, reap it: returns
 * its output (caller frees), its wait status in *status.
 */
static char *
run_spec(const struct child_spec *spec, int *status)
{
	struct spawn_proc proc;
	char *cause = NULL, *text;
	size_t len = 0, cap = 4096;
	ssize_t n;

	cr_assert_eq(spawn_start(spec, &proc, &cause), 0, "%s", cause);
	cr_assert_gt(proc.pid, 0);
	cr_assert_geq(proc.output_fd, 0);
	cr_assert_eq(fcntl(proc.output_fd, F_SETFL, 0), 0);
	cr_assert_not_null(text = malloc(cap));
	while ((n = read(proc.output_fd, text + len, cap - len - 1)) != 0) {
		cr_assert(n > 0 || errno == EINTR, "read: %s", strerror(errno));
		if (n > 0 && (len += (size_t)n) == cap - 1)
			cr_assert_not_null(text = realloc(text, cap *= 2));
	}
	text[len] = '\0';
	close(proc.output_fd);
	cr_assert_eq(waitpid(proc.pid, status, 0), proc.pid);
	spawn_reaped(proc.pid);	/* as the supervisor's reaper does */
	return text;
}

/* The value of a "Key:" line of /proc/PID/status text, tabs as spaces. */
static char *
status_field(const char *text, const char *key)
{
	const char *line = strstr(text, key);
	char *value, *p;
	size_t len;

	cr_assert_not_null(line, "no %s in:\n%s", key, text);
	line += strlen(key);
	line += strspn(line, " \t");
	len = strcspn(line, "\n");
	cr_assert_not_null(value = strndup(line, len));
	for (p = value; *p != '\0'; p++)
		if (*p == '\t')
			*p = ' ';
	while (p > value && p[-1] == ' ')
		*--p = '\0';
	return value;
}

/* What fd points at in `ls -l` text ("socket:[123]"), or NULL if not open. */
static char *
ls_target(const char *text, int fd)
{
	char needle[32];
	const char *p;

	snprintf(needle, sizeof(needle), " %d -> ", fd);
	if ((p = strstr(text, needle)) == NULL)
		return NULL;
	p += strlen(needle);
	return strndup(p, strcspn(p, "\n"));
}

/*
 * Open /dev/null until the fd limit is reached, then close the last room
 * of them: this process can open room more fds. Returns the fds left open
 * (*nfill of them), for the caller to close.
 */
static int *
fill_fd_table(size_t room, size_t *nfill)
{
	size_t n = 0, cap = 0;
	int *fds = NULL, fd;

	while ((fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) != -1) {
		if (n == cap)
			cr_assert_not_null(fds = realloc(fds,
			    (cap = cap * 2 + 64) * sizeof(*fds)));
		fds[n++] = fd;
	}
	cr_assert_eq(errno, EMFILE, "open: %s", strerror(errno));
	cr_assert_geq(n, room);
	while (room-- > 0)
		close(fds[--n]);
	*nfill = n;
	return fds;
}

/*
 * Start a child with n sockets to place, created here at the lowest free
 * fds and given in reverse order (so that some sit where others must go),
 * while this process also holds `others` fds of its own, and, unless room
 * is -1, can open only room more fds: the child has /dev/null at 0, its
 * output pipe at 1 and 2, the sockets at 3, 4, ... in order, and nothing
 * else; this process's fds are as they were, fd 0 included.
 */
static void
expect_fds_placed(size_t n, size_t others, int room)
{
	int *socks, *fds, *extra, *fill = NULL, status, inside = 0, stray;
	char want[64], *text, *target, *out1;
	struct stat *st, in0, now;
	struct child_spec spec;
	size_t i, lines = 0, nfill = 0;
	const char *p;
	int in0_flags;

	cr_assert_not_null(socks = calloc(n, sizeof(*socks)));
	cr_assert_not_null(fds = calloc(n, sizeof(*fds)));
	cr_assert_not_null(st = calloc(n, sizeof(*st)));
	cr_assert_not_null(extra = calloc(others + 1, sizeof(*extra)));
	for (i = 0; i < n; i++) {
		socks[i] = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		cr_assert_geq(socks[i], 0);
		cr_assert_eq(fstat(socks[i], &st[i]), 0);
	}
	for (i = 0; i < others; i++)
		cr_assert_geq(extra[i] = open("/dev/null", O_RDONLY | O_CLOEXEC),
		    0);
	for (i = 0; i < n; i++) {
		fds[i] = socks[n - 1 - i];
		if (fds[i] < 3 + (int)n && fds[i] != 3 + (int)i)
			inside++;
	}
	cr_assert_geq(inside, 2, "too few sources in the target range");
	/* One without CLOEXEC, as a supervisor may inherit: not passed on. */
	cr_assert_geq(stray = socket(AF_UNIX, SOCK_DGRAM, 0), 0);
	cr_assert_eq(fstat(0, &in0), 0);
	in0_flags = fcntl(0, F_GETFD);
	spec_for_sh(&spec, "ls -l /proc/$$/fd", fds, n);
	if (room >= 0)
		fill = fill_fd_table((size_t)room, &nfill);
	text = run_spec(&spec, &status);
	for (i = 0; i < nfill; i++)
		close(fill[i]);
	free(fill);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s", text);

	cr_assert_str_eq(target = ls_target(text, 0), "/dev/null", "%s", text);
	free(target);
	out1 = ls_target(text, 1);
	cr_assert(out1 != NULL && strncmp(out1, "pipe:[", 6) == 0, "%s", text);
	cr_assert_str_eq(target = ls_target(text, 2), out1);
	free(target);
	free(out1);
	for (i = 0; i < n; i++) {
		snprintf(want, sizeof(want), "socket:[%llu]",
		    (unsigned long long)st[n - 1 - i].st_ino);
		target = ls_target(text, 3 + (int)i);
		cr_assert(target != NULL && strcmp(target, want) == 0,
		    "fd %zu is %s, not %s:\n%s", 3 + i, target, want, text);
		free(target);
	}
	/* And nothing else. */
	for (p = text; (p = strstr(p, " -> ")) != NULL; p++)
		lines++;
	cr_assert_eq(lines, 3 + n, "other fds are open:\n%s", text);
	free(text);

	/* This process's own fds are as they were: same file, CLOEXEC. */
	for (i = 0; i < n; i++) {
		cr_assert_eq(fstat(socks[i], &now), 0);
		cr_assert_eq(now.st_ino, st[i].st_ino);
		cr_assert(fcntl(socks[i], F_GETFD) & FD_CLOEXEC);
		close(socks[i]);
	}
	cr_assert_eq(fstat(0, &now), 0);
	cr_assert(now.st_dev == in0.st_dev && now.st_ino == in0.st_ino,
	    "fd 0 is another file after the start");
	cr_assert_eq(fcntl(0, F_GETFD), in0_flags);
	for (i = 0; i < others; i++)
		close(extra[i]);
	close(stray);
	free(socks);
	free(fds);
	free(st);
	free(extra);
}

Test(child, fds_are_placed_from_3_even_from_inside_that_range)
{
	expect_fds_placed(16, 0, -1);
}

/*
 * However many fds the supervisor holds, the child gets its own and no
 * other; more than one message carries (253) arrive in order too.
 */
Test(child, many_fds_reach_the_child_in_order_beside_many_others)
{
	expect_fds_placed(300, 600, -1);
}

/* Where the child copies the fd table instead (valgrind, Linux < 5.9). */
Test(child, fds_are_placed_the_same_when_the_child_copies_the_fd_table)
{
	spawn_share_fds(false);
	expect_fds_placed(16, 0, -1);
	expect_fds_placed(300, 600, -1);
	spawn_share_fds(true);
}

Test(child, discarded_output_goes_to_dev_null)
{
	char *tmp = support_tmpdir(), *script, *path, *text, *target;
	struct spawn_proc proc;
	struct child_spec spec;
	char *cause = NULL;
	int status;

	cr_assert(asprintf(&path, "%s/fds", tmp) != -1);
	cr_assert(asprintf(&script, "ls -l /proc/$$/fd > %s", path) != -1);
	spec_for_sh(&spec, script, NULL, 0);
	spec.discard_output = true;
	cr_assert_eq(spawn_start(&spec, &proc, &cause), 0, "%s", cause);
	cr_assert_eq(proc.output_fd, -1, "no pipe for discarded output");
	cr_assert_eq(waitpid(proc.pid, &status, 0), proc.pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "wait status %#x", status);
	text = support_read_file(path);
	cr_assert_not_null(text);
	/* stdout is the file of the redirection; stderr is /dev/null. */
	cr_assert_str_eq(target = ls_target(text, 0), "/dev/null", "%s", text);
	free(target);
	cr_assert_str_eq(target = ls_target(text, 2), "/dev/null", "%s", text);
	free(target);
	cr_assert_null(ls_target(text, 3), "%s", text);
	free(text);
	free(script);
	free(path);
	support_rmtree(tmp);
	free(tmp);
}

/*
 * The start time spawn_start works out around the clone (the two reads of
 * the clock in one tick) is the one /proc/PID/stat shows, which a record
 * of the workers compares after a crash; where the reads straddle a tick
 * it says it does not know. A start time noted for a pid is taken once,
 * by that pid only.
 */
Test(child, the_start_time_worked_out_at_the_spawn_is_the_kernels)
{
	struct spawn_proc proc;
	struct child_spec spec;
	struct procfs_stat st;
	char *cause = NULL;
	int i, known = 0, status;

	spec_for_sh(&spec, "exit 0", NULL, 0);
	spec.discard_output = true;
	for (i = 0; i < 20; i++) {
		cr_assert_eq(spawn_start(&spec, &proc, &cause), 0, "%s", cause);
		/* A zombie keeps its stat until it is reaped. */
		cr_assert_eq(procfs_stat(proc.pid, &st), 0);
		if (proc.start != 0) {
			known++;
			cr_expect_eq(proc.start, st.start, "spawn %d: %llu, the "
			    "kernel's %llu", i, proc.start, st.start);
		}
		if (i == 0) {
			procfs_note_start(proc.pid, st.start + 7);
			cr_expect_eq(procfs_take_noted_start(proc.pid + 1), 0);
			cr_expect_eq(procfs_take_noted_start(proc.pid),
			    st.start + 7);
			cr_expect_eq(procfs_take_noted_start(proc.pid), 0);
			procfs_note_start(proc.pid, 0);
			cr_expect_eq(procfs_take_noted_start(proc.pid), 0);
		}
		cr_assert_eq(waitpid(proc.pid, &status, 0), proc.pid);
	}
	/* A spawn takes well under a tick (10 ms) outside valgrind. */
	if (!spawn_under_valgrind())
		cr_expect_gt(known, 0, "no spawn knew its start time");
}

Test(child, listen_pid_is_the_workers_own_pid)
{
	char pidvar[] = "LISTEN_PID=                        ";
	char *envp[] = { pidvar, NULL }, *text, want[64];
	struct child_spec spec;
	long listen_pid, own_pid;
	int status;

	spec_for_sh(&spec, "echo \"$LISTEN_PID $$\"", NULL, 0);
	spec.envp = envp;
	spec.listen_pid_slot = 0;
	text = run_spec(&spec, &status);
	/* The shell the child became has its own pid in LISTEN_PID. */
	cr_assert_eq(sscanf(text, "%ld %ld", &listen_pid, &own_pid), 2, "%s",
	    text);
	cr_assert_eq(listen_pid, own_pid, "%s", text);
	cr_assert_gt(own_pid, 0);
	free(text);

	/*
	 * Where the start waits for the exec, the child writes it into the
	 * slot, in memory it shares with this process (not under valgrind,
	 * which runs the child as a fork); a start in flight writes it into
	 * a copy of its own, which it may still read after spawn_start
	 * returned.
	 */
	spawn_start_in_flight(false);
	text = run_spec(&spec, &status);
	if (!spawn_under_valgrind()) {
		snprintf(want, sizeof(want), "%s %s\n", pidvar + 11,
		    pidvar + 11);
		cr_assert_str_eq(text, want);
	}
	free(text);
	spawn_start_in_flight(true);
}

/*
 * Get ready as the supervisor does at start: what it keeps from then on
 * (the socket pair that hands children their fds) is there before and
 * after what a test counts.
 */
static void
warm_up(void)
{
	spawn_init();
}

/*
 * Skip the test under valgrind, which runs the child as a fork: the step
 * and errno of a failure before exec, which the child leaves in memory it
 * shares with spawn_start, never reach this process (the child's exit
 * status 127 alone tells of it there).
 */
static void
skip_where_child_shares_no_memory(void)
{
	if (spawn_under_valgrind())
		cr_skip_test("valgrind runs the child as a fork: spawn_start "
		    "cannot see the step and errno of its failure before exec");
}

/* What the spawn_watch callback was told: the pid and why, or 0. */
static pid_t	 failed_pid;
static char	*failed_cause;

static void
note_failed(pid_t pid, const char *cause, void *arg)
{
	(void)arg;
	cr_assert_eq(failed_pid, 0, "told twice");
	failed_pid = pid;
	cr_assert_not_null(failed_cause = strdup(cause));
}

/*
 * Spawn spec, which must fail before exec, with the step and errno in
 * the cause; nothing is left, no process and no fd. Where the start waits
 * for the exec (CLONE_VFORK), spawn_start says so itself and reaps the
 * child. A start in flight returns at once: its child exits 127, and once
 * it is settled (as the supervisor's reaper does when it reaps it) the
 * spawn_watch callback is told, once.
 */
static void
expect_cannot_run(const struct child_spec *spec, const char *cause_want)
{
	struct spawn_proc proc;
	char *cause = NULL;
	int before, rc, status;

	warm_up();
	spawn_watch(NULL, note_failed, NULL);
	failed_pid = 0;
	before = open_fds();
	rc = spawn_start(spec, &proc, &cause);
	if (rc == 0) {
		cr_assert(spawn_in_flight(proc.pid));
		if (proc.output_fd != -1)
			close(proc.output_fd);
		cr_assert_eq(waitpid(proc.pid, &status, 0), proc.pid);
		cr_assert_eq(failed_pid, 0, "told before it was settled");
		spawn_reaped(proc.pid);
		cr_assert(!spawn_in_flight(proc.pid));
		cr_assert_eq(failed_pid, proc.pid);
		cause = failed_cause;
		failed_cause = NULL;
		failed_pid = 0;
	} else {
		cr_assert_eq(rc, SPAWN_CANNOT_RUN, "cause %s", cause);
		status = proc.wait_status;
		cr_assert_eq(proc.output_fd, -1);
	}
	cr_assert_str_eq(cause, cause_want);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 127,
	    "wait status %#x", status);
	/* Reaped already: no child is left to wait for. */
	cr_assert_eq(waitpid(-1, NULL, WNOHANG), -1);
	cr_assert_eq(errno, ECHILD);
	cr_assert_eq(open_fds(), before, "an fd was left open");
	free(cause);
	spawn_watch(NULL, NULL, NULL);
}

/* Run expect_cannot_run's cases in flight, then waiting for the exec. */
#define EXPECT_CANNOT_RUN_BOTH(spec, want) do {				\
	expect_cannot_run(spec, want);					\
	spawn_start_in_flight(false);					\
	expect_cannot_run(spec, want);					\
	spawn_start_in_flight(true);					\
} while (0)

Test(child, a_failure_before_exec_is_returned_with_its_step_and_errno)
{
	char *tmp, *path, *want, *argv[2];
	struct child_spec spec;

	skip_where_child_shares_no_memory();
	tmp = support_tmpdir();
	/* There, but not executable. */
	path = support_write_file(tmp, "not-executable", "#!/bin/sh\n");
	cr_assert_eq(chmod(path, 0644), 0);
	argv[0] = path;
	argv[1] = NULL;
	spec_for(&spec, argv, NULL, 0);
	cr_assert(asprintf(&want, "cannot run %s: exec: Permission denied",
	    path) != -1);
	EXPECT_CANNOT_RUN_BOTH(&spec, want);
	free(want);

	/* Its directory is gone. */
	spec_for(&spec, cat_status_argv, NULL, 0);
	spec.directory = "/nonexistent/handoff-test";
	EXPECT_CANNOT_RUN_BOTH(&spec, "cannot run /bin/cat: chdir: No such file or "
	    "directory");

	/* Its output discarded: the same. */
	spec.discard_output = true;
	EXPECT_CANNOT_RUN_BOTH(&spec, "cannot run /bin/cat: chdir: No such file or "
	    "directory");
	free(path);
	support_rmtree(tmp);
	free(tmp);
}

/*
 * A child that fails before it takes its fds leaves none behind: the
 * socket it was to get is closed once this process closes its own, and
 * the next child gets its own fds, not those.
 */
Test(child, fds_a_failed_child_did_not_take_are_not_kept)
{
	struct child_spec spec;
	int pair[2], readonly;
	char byte;

	skip_where_child_shares_no_memory();
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair),
	    0);
	cr_assert_geq(readonly = open("/dev/null", O_RDONLY | O_CLOEXEC), 0);
	/* Joining the cgroup, its first step, fails: nothing taken yet. */
	spec_for_sh(&spec, "exit 0", &pair[0], 1);
	spec.cgroup_fd = readonly;
	EXPECT_CANNOT_RUN_BOTH(&spec, "cannot run /bin/sh: join cgroup: Bad file "
	    "descriptor");
	close(pair[0]);
	cr_assert_eq(recv(pair[1], &byte, 1, MSG_DONTWAIT), 0,
	    "the other end is still open somewhere: %s", strerror(errno));
	close(pair[1]);
	close(readonly);
	expect_fds_placed(16, 0, -1);
}

/*
 * More starts than go in flight at once: each returns with its child on
 * its way, a start that finds every slot taken waits for one to settle, and
 * every child runs with its own fds. Once they are reaped and settled,
 * nothing is left in flight and no fd is left open; none was told as a
 * failure.
 */
Test(child, more_starts_than_slots_all_run_and_settle)
{
	struct spawn_proc proc[12];
	struct child_spec spec;
	char *cause = NULL, byte;
	int socks[2], status, before, i;
	bool any_in_flight = false;

	warm_up();
	spawn_watch(NULL, note_failed, NULL);
	failed_pid = 0;
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, socks),
	    0);
	before = open_fds();
	/* Each writes one byte to the socket at its fd 3, and exits. */
	spec_for_sh(&spec, "printf x >&3", &socks[0], 1);
	spec.discard_output = true;
	for (i = 0; i < 12; i++) {
		cr_assert_eq(spawn_start(&spec, &proc[i], &cause), 0, "%s",
		    cause);
		if (spawn_in_flight(proc[i].pid))
			any_in_flight = true;
	}
	/* valgrind runs only children that make it wait (CLONE_VFORK). */
	cr_assert(any_in_flight || spawn_under_valgrind(),
	    "no start went in flight");
	for (i = 0; i < 12; i++) {
		cr_assert_eq(read(socks[1], &byte, 1), 1);
		cr_assert_eq(byte, 'x');
	}
	for (i = 0; i < 12; i++) {
		cr_assert_eq(waitpid(proc[i].pid, &status, 0), proc[i].pid);
		cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		    "child %d: wait status %#x", i, status);
		spawn_reaped(proc[i].pid);
		cr_assert(!spawn_in_flight(proc[i].pid));
	}
	cr_assert_eq(failed_pid, 0, "a failure was told: %s", failed_cause);
	cr_assert_eq(open_fds(), before, "an fd was left open");
	close(socks[0]);
	close(socks[1]);
	spawn_watch(NULL, NULL, NULL);
}

/* spawn_meanwhile's callback: read what the pipe holds; count the calls. */
static int	 meanwhile_fd = -1, meanwhile_calls, meanwhile_taken;

static int
take_bytes(void *arg)
{
	char buf[64];
	ssize_t n;
	int taken = 0;

	(void)arg;
	meanwhile_calls++;
	while ((n = read(meanwhile_fd, buf, sizeof(buf))) > 0)
		taken += (int)n;
	meanwhile_taken += taken;
	return taken;
}

/*
 * While workers start the loop does not turn: before each start (and
 * while one waits for a slot) the fd given to spawn_meanwhile is looked
 * at, and its callback takes what it holds without blocking, as the
 * supervisor takes what its notify socket holds. Once unset, never.
 */
Test(child, what_an_fd_holds_is_taken_before_each_start)
{
	struct spawn_proc proc[9];
	struct child_spec spec;
	char *cause = NULL;
	int p[2], status, i;

	warm_up();
	cr_assert_eq(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
	meanwhile_fd = p[0];
	meanwhile_calls = meanwhile_taken = 0;
	spawn_meanwhile(p[0], take_bytes, NULL);
	spec_for_sh(&spec, ":", NULL, 0);
	spec.discard_output = true;
	for (i = 0; i < 8; i++) {
		cr_assert_eq(write(p[1], "x", 1), 1);
		cr_assert_eq(spawn_start(&spec, &proc[i], &cause), 0, "%s",
		    cause);
		cr_expect_eq(meanwhile_taken, i + 1, "the byte written before "
		    "start %d was not taken by it", i);
	}
	cr_expect_geq(meanwhile_calls, 8);
	spawn_meanwhile(-1, NULL, NULL);
	cr_assert_eq(write(p[1], "x", 1), 1);
	cr_assert_eq(spawn_start(&spec, &proc[8], &cause), 0, "%s", cause);
	cr_expect_eq(meanwhile_taken, 8, "taken once unset");
	for (i = 0; i < 9; i++) {
		cr_assert_eq(waitpid(proc[i].pid, &status, 0), proc[i].pid);
		spawn_reaped(proc[i].pid);
	}
	spawn_settle_all();
	close(p[0]);
	close(p[1]);
	meanwhile_fd = -1;
}

/*
 * Children killed as soon as they start, perhaps before they took their
 * fds, and reaped by a wait for any child, not by the supervisor's reaper
 * (spawn_reaped): settling them still ends, and leaves no fd open (the
 * fds a child did not take are closed with its slot's leftovers).
 */
Test(child, starts_in_flight_killed_and_reaped_elsewhere_still_settle)
{
	struct spawn_proc proc;
	struct child_spec spec;
	char *cause = NULL;
	int sock[2], before, i, status;

	warm_up();
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sock),
	    0);
	before = open_fds();
	spec_for_sh(&spec, "exit 0", &sock[0], 1);
	for (i = 0; i < 8; i++) {
		cr_assert_eq(spawn_start(&spec, &proc, &cause), 0, "%s", cause);
		cr_assert_eq(kill(proc.pid, SIGKILL), 0);
		if (proc.output_fd != -1)
			close(proc.output_fd);
		cr_assert_eq(waitpid(-1, &status, 0), proc.pid);
	}
	spawn_settle_all();
	cr_assert(!spawn_in_flight(proc.pid));
	cr_assert_eq(open_fds(), before, "an fd was left open");
	close(sock[0]);
	close(sock[1]);
}

/*
 * spawn_settle never waits: it says the start is still on its way until
 * the child is done, then settles it, and a failure is told to the
 * callback before it returns. A pid not in flight is settled already.
 */
Test(child, spawn_settle_settles_a_start_that_is_done_and_never_waits)
{
	struct spawn_proc proc;
	struct child_spec spec;
	char *cause = NULL;
	int status;

	warm_up();
	spawn_watch(NULL, note_failed, NULL);
	failed_pid = 0;
	cr_assert(spawn_settle(getpid()), "a pid not in flight");
	spec_for(&spec, cat_status_argv, NULL, 0);
	spec.directory = "/nonexistent/handoff-test";
	spec.discard_output = true;
	cr_assert_eq(spawn_start(&spec, &proc, &cause), 0, "%s", cause);
	if (!spawn_in_flight(proc.pid))
		cr_skip_test("starts do not go in flight here (another "
		    "architecture, valgrind)");
	while (!spawn_settle(proc.pid))
		cr_assert_eq(poll(NULL, 0, 1), 0);	/* on its way */
	cr_assert(!spawn_in_flight(proc.pid));
	cr_assert_eq(failed_pid, proc.pid, "told before spawn_settle returned");
	cr_assert_str_eq(failed_cause, "cannot run /bin/cat: chdir: No such "
	    "file or directory");
	free(failed_cause);
	failed_cause = NULL;
	failed_pid = 0;
	cr_assert_eq(waitpid(proc.pid, &status, 0), proc.pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 127);
	spawn_watch(NULL, NULL, NULL);
}

/* The event loop of a test: stop once the callback was told. */
static void
stop_when_told(pid_t pid, const char *cause, void *arg)
{
	note_failed(pid, cause, NULL);
	event_base_loopbreak(arg);
}

/*
 * Watched by an event loop, a start in flight settles as soon as its
 * child has exec'd or exited, before anyone reaps it: a command that
 * cannot run is told to the callback while its child is still a zombie,
 * and a command that runs leaves nothing in flight.
 */
Test(child, an_event_loop_settles_starts_in_flight_by_itself)
{
	struct event_base *base;
	struct spawn_proc proc, ok;
	struct child_spec spec;
	char *cause = NULL;
	int status, p[2];
	siginfo_t si;

	warm_up();
	cr_assert_not_null(base = event_base_new());
	spawn_watch(base, stop_when_told, base);
	failed_pid = 0;
	spec_for(&spec, cat_status_argv, NULL, 0);
	spec.directory = "/nonexistent/handoff-test";
	spec.discard_output = true;
	cr_assert_eq(spawn_start(&spec, &proc, &cause), 0, "%s", cause);
	if (!spawn_in_flight(proc.pid))
		cr_skip_test("starts do not go in flight here (another "
		    "architecture, valgrind)");
	cr_assert_eq(event_base_dispatch(base), 0);
	cr_assert_eq(failed_pid, proc.pid);
	cr_assert_str_eq(failed_cause, "cannot run /bin/cat: chdir: No such "
	    "file or directory");
	/* Told while its exit was not reaped yet. */
	memset(&si, 0, sizeof(si));
	cr_assert_eq(waitid(P_PID, (id_t)proc.pid, &si, WEXITED | WNOWAIT),
	    0);
	cr_assert_eq(si.si_status, 127);
	cr_assert_eq(waitpid(proc.pid, &status, 0), proc.pid);
	free(failed_cause);
	failed_cause = NULL;
	failed_pid = 0;

	/* One that runs: it blocks reading its fd 3 until told to go. */
	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	spec_for_sh(&spec, "read x <&3", &p[0], 1);
	spec.discard_output = true;
	cr_assert_eq(spawn_start(&spec, &ok, &cause), 0, "%s", cause);
	cr_assert(spawn_in_flight(ok.pid));
	while (spawn_in_flight(ok.pid))
		cr_assert_eq(event_base_loop(base, EVLOOP_ONCE), 0);
	cr_assert_eq(failed_pid, 0);
	cr_assert_eq(write(p[1], "\n", 1), 1);
	cr_assert_eq(waitpid(ok.pid, &status, 0), ok.pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "wait status %#x", status);
	close(p[0]);
	close(p[1]);
	spawn_watch(NULL, NULL, NULL);
	event_base_free(base);
}

/*
 * A start needs no fd of the supervisor's but its worker's output pipe:
 * with room for that pipe only (a low fd limit, every listener a socket),
 * the worker still starts with its fds where they belong (a start in
 * flight, which needs its exec-status pipe too, waits for the exec
 * instead).
 */
Test(child, a_start_needs_no_fd_but_its_output_pipe)
{
	struct rlimit saved, low;

	/* A copying start is covered by the next test. */
	if (spawn_under_valgrind())
		cr_skip_test("valgrind runs the child as a fork, which copies "
		    "the fd table: it needs room above this process's fds");
	warm_up();
	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &saved), 0);
	low = saved;
	low.rlim_cur = 128;
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
	expect_fds_placed(24, 0, 2);
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &saved), 0);
}

/*
 * A child that copies the fd table parks its fds above all of the
 * supervisor's: where the fd limit leaves no room for that, the start
 * fails at once saying so, and nothing is left open.
 */
Test(child, a_copying_start_past_the_fd_limit_says_so)
{
	struct rlimit saved, low;
	int sock, *fill, before;
	struct spawn_proc proc;
	struct child_spec spec;
	char *cause = NULL;
	size_t i, nfill;

	spawn_share_fds(false);
	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &saved), 0);
	low = saved;
	low.rlim_cur = 128;
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
	cr_assert_geq(sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0), 0);
	spec_for_sh(&spec, "exit 0", &sock, 1);
	fill = fill_fd_table(2, &nfill);
	before = open_fds();
	cr_assert_eq(spawn_start(&spec, &proc, &cause), SPAWN_NOT_STARTED,
	    "cause %s", cause);
	cr_assert_not_null(strstr(cause, "the fd limit (RLIMIT_NOFILE 128) "
	    "leaves no room to place 1 listeners and the output above fd"),
	    "%s", cause);
	cr_assert_eq(open_fds(), before);
	free(cause);
	for (i = 0; i < nfill; i++)
		close(fill[i]);
	free(fill);
	close(sock);
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &saved), 0);
	spawn_share_fds(true);
}

/* A handler of the test's: records that it ran, wherever that was. */
static volatile sig_atomic_t handler_ran;

static void
test_handler(int sig)
{
	(void)sig;
	handler_ran = 1;
}

Test(child, signals_are_reset_and_unblocked_in_the_child)
{
	struct sigaction sa;
	struct child_spec spec;
	sigset_t block;
	char *text, *field;
	int status;

	/* Ignored, blocked and handled here, as a supervisor may have them. */
	signal(SIGPIPE, SIG_IGN);
	signal(SIGUSR2, SIG_IGN);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = test_handler;
	cr_assert_eq(sigaction(SIGHUP, &sa, NULL), 0);
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigaddset(&block, SIGTERM);
	cr_assert_eq(sigprocmask(SIG_BLOCK, &block, NULL), 0);

	spec_for(&spec, cat_status_argv, NULL, 0);
	text = run_spec(&spec, &status);
	cr_assert_str_eq(field = status_field(text, "SigIgn:"),
	    "0000000000000000", "ignored in the worker");
	free(field);
	cr_assert_str_eq(field = status_field(text, "SigBlk:"),
	    "0000000000000000", "blocked in the worker");
	free(field);
	cr_assert_str_eq(field = status_field(text, "SigCgt:"),
	    "0000000000000000");
	free(field);
	free(text);
}

/* What the helper thread of the next test saw and did. */
struct signaller {
	int	 pipe_read;	/* drained once the child is signalled */
	pid_t	 child;
};

/* Helper thread: signal the child, which is held before exec, then free it. */
static void *
signaller_run(void *arg)
{
	struct signaller *sg = arg;
	long long deadline = support_now_ms() + SUPPORT_DEADLINE_MS;
	char buf[4096];
	pid_t pids[4];

	while (support_children(getpid(), 0, pids, 4) < 1 &&
	    support_now_ms() < deadline)
		usleep(1000);
	sg->child = support_children(getpid(), 0, pids, 4) > 0 ? pids[0] : -1;
	if (sg->child > 0)
		kill(sg->child, SIGUSR1);
	while (read(sg->pipe_read, buf, sizeof(buf)) > 0)
		continue;
	return NULL;
}

Test(child, a_signal_before_exec_never_runs_a_handler_of_the_supervisor)
{
	struct signaller sg = { -1, -1 };
	struct spawn_proc proc;
	struct child_spec spec;
	struct sigaction sa;
	char *cause = NULL, buf[4096];
	pthread_t thread;
	int p[2], status;

	/*
	 * valgrind runs the child as a fork, but still waits for its exec
	 * (CLONE_VFORK) with every thread of this process held: the thread
	 * that signals the child and drains its pipe never runs.
	 */
	if (spawn_under_valgrind())
		cr_skip_test("valgrind holds every thread while the child "
		    "runs: none can signal it before its exec");
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = test_handler;
	cr_assert_eq(sigaction(SIGUSR1, &sa, NULL), 0);
	/*
	 * The child's first write (to join a cgroup) goes to a full pipe: it
	 * waits there, every signal blocked, until the thread has sent it
	 * SIGUSR1 and drained the pipe. Once the child unblocks its signals,
	 * SIGUSR1 must find its default action, not the handler of ours.
	 */
	cr_assert_eq(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
	memset(buf, 'x', sizeof(buf));
	while (write(p[1], buf, sizeof(buf)) > 0)
		continue;
	cr_assert_eq(errno, EAGAIN);
	cr_assert_eq(fcntl(p[1], F_SETFL, 0), 0);
	sg.pipe_read = p[0];
	cr_assert_eq(pthread_create(&thread, NULL, signaller_run, &sg), 0);

	spec_for(&spec, cat_status_argv, NULL, 0);
	spec.cgroup_fd = p[1];
	spec.discard_output = true;
	cr_assert_eq(spawn_start(&spec, &proc, &cause), 0, "%s", cause);
	cr_assert_eq(pthread_join(thread, NULL), 0);
	cr_assert_eq(sg.child, proc.pid);
	cr_assert_eq(waitpid(proc.pid, &status, 0), proc.pid);
	cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGUSR1,
	    "wait status %#x", status);
	cr_assert_eq(handler_ran, 0, "the handler ran in the child");
	close(p[0]);
	close(p[1]);
}

/* Every thread of this process still has uid 0, gid 0 and its groups. */
static void
expect_still_root(int ngroups_before)
{
	char *text, *field;

	cr_assert_eq(getuid(), 0);
	cr_assert_eq(geteuid(), 0);
	cr_assert_eq(getgid(), 0);
	cr_assert_eq(getgroups(0, NULL), ngroups_before);
	text = support_read_file("/proc/self/status");
	cr_assert_str_eq(field = status_field(text, "Uid:"), "0 0 0 0");
	free(field);
	free(text);
}

static gid_t nobody_groups[] = { 65534, 12345 };

/* A spec that shows its /proc status, run as nobody in groups 65534, 12345. */
static void
spec_as_nobody(struct child_spec *spec)
{
	spec_for(spec, cat_status_argv, NULL, 0);
	spec->set_ids = true;
	spec->uid = 65534;
	spec->gid = 65534;
	spec->groups = nobody_groups;
	spec->ngroups = 2;
}

/* Run spec, which shows its /proc status: it had these ids. */
static void
expect_ids(const struct child_spec *spec, const char *uid, const char *gid,
    const char *groups)
{
	const char *keys[] = { "Uid:", "Gid:", "Groups:" };
	const char *want[] = { uid, gid, groups };
	char *text, *field;
	int status, i;

	text = run_spec(spec, &status);
	for (i = 0; i < 3; i++) {
		cr_assert_str_eq(field = status_field(text, keys[i]), want[i],
		    "%s", keys[i]);
		free(field);
	}
	free(text);
}

Test(child, ids_are_dropped_in_the_child_only)
{
	struct child_spec spec;
	char *tmp, *sock;
	int ngroups;

	if (geteuid() != 0)
		cr_skip_test("needs root");
	ngroups = getgroups(0, NULL);

	/* user = nobody: its groups, its gid, its uid. */
	spec_as_nobody(&spec);
	expect_ids(&spec, "65534 65534 65534 65534", "65534 65534 65534 65534",
	    "12345 65534");
	expect_still_root(ngroups);

	/* group = without user =: root, in that group alone. */
	spec_for(&spec, cat_status_argv, NULL, 0);
	spec.set_gid_only = true;
	spec.gid = 12345;
	expect_ids(&spec, "0 0 0 0", "12345 12345 12345 12345", "12345");
	expect_still_root(ngroups);

	/* A notify socket the user cannot reach: said before exec. */
	skip_where_child_shares_no_memory();
	tmp = support_tmpdir();
	cr_assert_eq(chmod(tmp, 0700), 0);
	sock = support_write_file(tmp, "notify", "");
	spec_as_nobody(&spec);
	spec.notify_socket = sock;
	spec.notify_unreachable = "uid 65534 cannot reach it";
	EXPECT_CANNOT_RUN_BOTH(&spec, "cannot run /bin/cat: uid 65534 cannot reach "
	    "it: Permission denied");
	expect_still_root(ngroups);
	free(sock);
	support_rmtree(tmp);
	free(tmp);
}

/* ---- the child's cgroup ----------------------------------------------- */

static char *cat_cgroup_argv[] = { "/bin/cat", "/proc/self/cgroup", NULL };

/*
 * Start `cat /proc/self/cgroup` with these cgroup fds: the cgroup v2 path
 * it saw itself in (caller frees).
 */
static char *
cgroup_of_child(int procs_fd, int dir_fd)
{
	struct child_spec spec;
	char *text, *line, *path;
	int status;

	spec_for(&spec, cat_cgroup_argv, NULL, 0);
	spec.cgroup_fd = procs_fd;
	spec.cgroup_dir_fd = dir_fd;
	text = run_spec(&spec, &status);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "wait status %#x", status);
	cr_assert_not_null(line = strstr(text, "0::/"), "%s", text);
	cr_assert_not_null(path = strndup(line + 3, strcspn(line + 3, "\n")));
	free(text);
	return path;
}

/*
 * Whether spawn.c can start a child inside its cgroup here: x86-64 and a
 * clone3 that knows CLONE_INTO_CGROUP. A cgroup fd past INT_MAX makes such
 * a kernel refuse with EINVAL before anything is cloned; Linux 5.3 to 5.6
 * says E2BIG, an older one, a seccomp filter or valgrind ENOSYS or EPERM.
 */
static bool
clone3_into_cgroup_here(void)
{
#if defined(__x86_64__) && defined(SYS_clone3) && defined(CLONE_INTO_CGROUP)
	struct clone_args args;

	memset(&args, 0, sizeof(args));
	args.flags = CLONE_INTO_CGROUP;
	args.cgroup = (unsigned long long)INT_MAX + 1;
	return syscall(SYS_clone3, &args, sizeof(args)) == -1 &&
	    errno == EINVAL;
#else
	return false;
#endif
}

/* A child started with these cgroup fds lands in the cgroup ending in want. */
static void
expect_child_in_cgroup(int procs_fd, int dir_fd, const char *want)
{
	char *seen = cgroup_of_child(procs_fd, dir_fd);
	size_t len = strlen(seen), wlen = strlen(want);

	cr_assert(len >= wlen && strcmp(seen + len - wlen, want) == 0,
	    "in %s, not in %s", seen, want);
	free(seen);
}

/*
 * A child started with a cgroup's directory starts in that cgroup, and
 * writes no cgroup.procs (it is handed another cgroup's here, to tell);
 * with starting in the cgroup turned off, or a directory that is no
 * cgroup, it joins the cgroup of its cgroup.procs. Both land where the
 * generation's processes are counted. Where clone3 cannot start it in the
 * cgroup (another architecture, an old kernel, a seccomp filter, valgrind),
 * every child joins by cgroup.procs.
 */
Test(child, a_child_starts_in_its_cgroup_or_joins_it_by_cgroup_procs)
{
	char *own = NULL, *base = NULL, *a, *b, *cause = NULL;
	const char *rel_a, *rel_b, *rel_fast;
	int procs_b, dir_a, plain;

	if (geteuid() != 0)
		cr_skip_test("needs root to create cgroups");
	if (cgroup_own_dir(&own, &cause) == -1)
		cr_skip_test("no cgroup v2 here: %s", cause);
	cr_assert_eq(cgroup_make_base(own, &base, &cause), 0, "%s", cause);
	cr_assert_neq(asprintf(&a, "%s/gen1.a", base), -1);
	cr_assert_neq(asprintf(&b, "%s/gen1.b", base), -1);
	cr_assert_eq(cgroup_make(a, &cause), 0, "%s", cause);
	cr_assert_eq(cgroup_make(b, &cause), 0, "%s", cause);
	cr_assert_geq(procs_b = cgroup_open_procs(b, &cause), 0, "%s", cause);
	cr_assert_geq(dir_a = cgroup_open_dir(a, &cause), 0, "%s", cause);
	cr_assert_geq(plain = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC), 0);
	/* The paths as /proc/PID/cgroup shows them: from the mount's root. */
	rel_a = strstr(a, "/handoff.");
	rel_b = strstr(b, "/handoff.");
	cr_assert(rel_a != NULL && rel_b != NULL);
	/* Where a child handed dir_a and procs_b lands. */
	rel_fast = clone3_into_cgroup_here() ? rel_a : rel_b;

	expect_child_in_cgroup(procs_b, dir_a, rel_fast);
	/* A directory the kernel refuses: it joins by cgroup.procs. */
	expect_child_in_cgroup(procs_b, plain, rel_b);
	spawn_start_in_cgroup(false);
	expect_child_in_cgroup(procs_b, dir_a, rel_b);
	spawn_start_in_cgroup(true);
	/* Still started in the cgroup after a refused directory. */
	expect_child_in_cgroup(procs_b, dir_a, rel_fast);

	close(plain);
	close(dir_a);
	close(procs_b);
	cr_assert_eq(cgroup_remove(a), 0, "%s: %s", a, strerror(errno));
	cr_assert_eq(cgroup_remove(b), 0, "%s: %s", b, strerror(errno));
	cr_assert_eq(rmdir(base), 0, "%s: %s", base, strerror(errno));
	free(a);
	free(b);
	free(base);
	free(own);
	free(cause);
}

/*
 * The fd table is grown for a reload before any start has run (the first
 * start's, whose pipes would otherwise grow a table a child in flight
 * shares, waiting for an RCU grace period), up to the fd limit and no
 * further, and no fd is left open by it.
 */
Test(child, the_fd_table_is_grown_ahead_and_no_fd_is_left)
{
	struct rlimit nofile;
	long before, open_before, want, cap = 1;

	/* A limit of this test's own, so that growing to it costs little. */
	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &nofile), 0);
	if (nofile.rlim_cur == RLIM_INFINITY || nofile.rlim_cur > 4096) {
		nofile.rlim_cur = 4096;
		cr_assert_eq(setrlimit(RLIMIT_NOFILE, &nofile), 0, "%s",
		    strerror(errno));
	}
	want = (long)nofile.rlim_cur;
	before = procfs_fd_table_size();
	open_before = procfs_fds_open();
	cr_assert_gt(before, 0);
	if (want <= before)
		cr_skip_test("the fd table (%ld) is as large as the fd limit "
		    "(%ld) already (a low limit, or valgrind, which keeps fds of "
		    "its own above the limit)",
		    before, want);

	spawn_reserve_fds(want);
	cr_expect_geq(procfs_fd_table_size(), want);
	cr_expect_eq(procfs_fds_open(), open_before);

	/* More than the limit: up to it (a table is a power of two). */
	spawn_reserve_fds(LONG_MAX / 2);
	cr_expect_eq(procfs_fds_open(), open_before);
	while (cap < want)
		cap *= 2;
	cr_expect_leq(procfs_fd_table_size(), cap);
}
