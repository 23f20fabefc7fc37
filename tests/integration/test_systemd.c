/*
 * test_systemd.c: handoff under a real systemd, with the unit it ships
 * (etc/systemd/handoff@.service.in, this build's paths put in).
 *
 * Each test runs a systemd user manager of its own, as root, the way
 * NEXT-DESIGNS.md part C found works without systemd being PID 1: a test
 * user, a cgroup of its own delegated to that user, and a private mount
 * namespace where /run/systemd/system exists (systemd --user refuses to
 * run where the system was not booted with systemd). The manager logs to
 * a file, the units to files of their own (no journald here). Everything
 * is removed afterwards: the manager and every process of the user, the
 * cgroups, the user.
 *
 * What it shows: a Type=notify unit is active only once the first
 * generation is ready; `systemctl reload` returns once the new generation
 * took over (the old one still draining) and fails when the new one
 * fails; a socket unit's named sockets are adopted (the first connection
 * answered by a worker, nothing bound twice); after kill -9 of the
 * supervisor under load, systemd restarts it with the stored socket: no
 * connection refused, nothing of the dead supervisor serving afterwards;
 * `systemctl restart` keeps the socket; `systemctl stop` leaves nothing
 * stored; a reload that removes a listener frees its port; a listener a
 * worker shut down, and the supervisor repaired, is still stored; after a
 * crash each reuseport slot gets its own socket back (systemd passes them
 * last stored first).
 *
 * Skipped, saying why, only where the manager cannot run: not root, no
 * systemd installed, or a manager that exits at start.
 */
#include "autoconf.h"

#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "load.h"

#define SYSTEMD		"/lib/systemd/systemd"
#define SYSTEMCTL	"/bin/systemctl"
#define SETPRIV		"/usr/bin/setpriv"
#define USERADD		"/usr/sbin/useradd"
#define USERDEL		"/usr/sbin/userdel"

/* The user manager of a test, and where things are. */
struct sd {
	char	 user[32];
	uid_t	 uid;
	gid_t	 gid;
	char	*home;
	char	*runtime;	/* /run/user/UID */
	char	*cgroups[2];	/* made for the manager; NULL if not */
	pid_t	 manager;	/* our child, or -1 */
	char	*mlog;		/* the manager's log */
	char	*units;		/* ~/.config/systemd/user */
	char	*bin;		/* copies of handoff and the testserver */
	char	*etc;		/* ETC/handoff/NAME.ini */
	char	*uid_s, *gid_s;	/* for setpriv */
	char	*env_runtime, *env_home;
};

static struct sd sd = { .manager = -1 };
static struct load ld;

/* Run argv as root; its exit code (output in *res, which the caller frees). */
static int
run(const char *const *argv, struct run_result *res)
{
	return support_run(argv, res);
}

/* Run argv (at most 24 words) as the test user, in its session's environment. */
static int
as_user(const char *const *argv, struct run_result *res)
{
	const char *full[40];
	size_t k = 0, i;

	full[k++] = SETPRIV;
	full[k++] = "--reuid";
	full[k++] = sd.uid_s;
	full[k++] = "--regid";
	full[k++] = sd.gid_s;
	full[k++] = "--init-groups";
	full[k++] = "/usr/bin/env";
	full[k++] = "-i";
	full[k++] = sd.env_runtime;
	full[k++] = sd.env_home;
	full[k++] = "PATH=/usr/bin:/bin";
	for (i = 0; argv[i] != NULL && k < 39; i++)
		full[k++] = argv[i];
	full[k] = NULL;
	return support_run(full, res);
}

/* `systemctl --user` with the args of ap (NULL-ended) as the test user. */
static int
sdctl_va(struct run_result *res, va_list ap)
{
	const char *argv[24] = { SYSTEMCTL, "--user" };
	size_t k = 2;

	while (k < 23 && (argv[k] = va_arg(ap, const char *)) != NULL)
		k++;
	argv[k] = NULL;
	return as_user(argv, res);
}

/* `systemctl --user ARGS...` as the test user: its exit code. */
static int
sdctl(struct run_result *res, ...)
{
	va_list ap;
	int code;

	va_start(ap, res);
	code = sdctl_va(res, ap);
	va_end(ap);
	return code;
}

/* `systemctl --user WHAT ARGS...` that must succeed. */
static void
sdctl_ok(const char *what, ...)
{
	struct run_result res;
	va_list ap;
	int code;

	va_start(ap, what);
	code = sdctl_va(&res, ap);
	va_end(ap);
	cr_assert_eq(code, 0, "systemctl --user %s: exit %d: %s%s", what, code,
	    res.out, res.err);
	support_result_free(&res);
}

/* A unit's property (systemctl show -p PROP --value), malloc'd. */
static char *
prop(const char *unit, const char *name)
{
	struct run_result res;
	char *value;

	cr_assert_eq(sdctl(&res, "show", "-p", name, "--value", unit, NULL), 0,
	    "systemctl show %s: %s", unit, res.err);
	res.out[strcspn(res.out, "\n")] = '\0';
	value = res.out;
	res.out = NULL;
	support_result_free(&res);
	return value;
}

/* A unit's property as a number. */
static long
prop_long(const char *unit, const char *name)
{
	char *value = prop(unit, name);
	long n = strtol(value, NULL, 10);

	free(value);
	return n;
}

/* Tell whether a unit's property is want now. */
static bool
prop_is(const char *unit, const char *name, const char *want)
{
	char *value = prop(unit, name);
	bool is = strcmp(value, want) == 0;

	free(value);
	return is;
}

/* Wait (polling systemctl, with the deadline) until done(arg) holds. */
static bool
wait_for(bool (*done)(void *), void *arg)
{
	long long deadline = support_now_ms() + DEADLINE_MS;
	struct timespec tick = { 0, 20 * 1000 * 1000 };

	while (!done(arg)) {
		if (tc_left(deadline) == 0)
			return false;
		nanosleep(&tick, NULL);
	}
	return true;
}

/* Write a file of the test user's (mode 0644). */
static void
user_file(const char *dir, const char *name, const char *text)
{
	char *path = support_write_file(dir, name, text);

	cr_assert(chown(path, sd.uid, sd.gid) == 0, "chown %s", path);
	free(path);
}

/* mkdir -p for the test user. */
static void
user_dir(const char *path)
{
	const char *argv[] = { "/bin/mkdir", "-p", path, NULL };
	const char *own[] = { "/bin/chown", "-R", sd.user, sd.home, NULL };
	struct run_result res;

	cr_assert_eq(run(argv, &res), 0, "mkdir %s: %s", path, res.err);
	support_result_free(&res);
	cr_assert_eq(run(own, &res), 0, "chown: %s", res.err);
	support_result_free(&res);
}

/* The cgroup directories a manager of our own needs on this host. */
static int
cgroup_dirs(char **dirs)
{
	struct stat sb;

	if (stat("/sys/fs/cgroup/cgroup.controllers", &sb) == 0) {
		dirs[0] = tc_printf("/sys/fs/cgroup/%s", sd.user);
		return 1;
	}
	if (stat("/sys/fs/cgroup/unified/cgroup.controllers", &sb) == 0 &&
	    stat("/sys/fs/cgroup/systemd/cgroup.procs", &sb) == 0) {
		dirs[0] = tc_printf("/sys/fs/cgroup/systemd/%s", sd.user);
		dirs[1] = tc_printf("/sys/fs/cgroup/unified/%s", sd.user);
		return 2;
	}
	return 0;
}

/*
 * Start `systemd --user` for the test user: in its own session, its own
 * cgroups, a private mount namespace with /run/systemd/system, then as
 * the user. All is prepared before fork: the child only makes system
 * calls.
 */
static void
spawn_manager(int ncg)
{
	char *procs[2] = { NULL, NULL };
	char *user_env = tc_printf("USER=%s", sd.user);
	char *logname_env = tc_printf("LOGNAME=%s", sd.user);
	const char *argv[] = { SYSTEMD, "--user", "--log-target=console",
	    "--log-level=info", NULL };
	const char *envp[] = { sd.env_runtime, sd.env_home, user_env,
	    logname_env, "PATH=/usr/bin:/bin", NULL };
	int i, logfd, devnull, fd;
	gid_t gid = sd.gid;

	for (i = 0; i < ncg; i++)
		procs[i] = tc_printf("%s/cgroup.procs", sd.cgroups[i]);
	logfd = open(sd.mlog, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	cr_assert(logfd != -1 && devnull != -1);
	(void)mkdir("/run/systemd", 0755);
	if ((sd.manager = fork()) == 0) {
		if (setsid() == -1)
			_exit(120);
		for (i = 0; i < ncg; i++) {
			if ((fd = open(procs[i], O_WRONLY | O_CLOEXEC)) == -1 ||
			    write(fd, "0", 1) != 1)
				_exit(121);
			close(fd);
		}
		if (unshare(CLONE_NEWNS) == -1 ||
		    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == -1 ||
		    mount("tmpfs", "/run/systemd", "tmpfs", 0, "mode=0755") == -1 ||
		    mkdir("/run/systemd/system", 0755) == -1)
			_exit(122);
		if (dup2(devnull, 0) == -1 || dup2(logfd, 1) == -1 ||
		    dup2(logfd, 2) == -1)
			_exit(123);
		if (setgroups(1, &gid) == -1 || setgid(sd.gid) == -1 ||
		    setuid(sd.uid) == -1)
			_exit(124);
		/* After setuid, which clears it: the test's end ends it. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		syscall(SYS_close_range, 3, ~0U, 0);
		execve(argv[0], (char *const *)argv, (char *const *)envp);
		_exit(127);
	}
	cr_assert(sd.manager != -1, "fork: %s", strerror(errno));
	close(logfd);
	close(devnull);
	for (i = 0; i < ncg; i++)
		free(procs[i]);
	free(user_env);
	free(logname_env);
}

/* The manager's log, for messages. */
static char *
manager_log(void)
{
	char *text = support_read_file(sd.mlog);

	return text != NULL ? text : strdup("(no log)");
}

/* Wait until the manager answers; skip the test if it cannot run here. */
static void
wait_manager(void)
{
	long long deadline = support_now_ms() + DEADLINE_MS;
	struct timespec tick = { 0, 20 * 1000 * 1000 };
	char *private = tc_printf("%s/systemd/private", sd.runtime);
	struct run_result res;
	int status, code;

	while (access(private, F_OK) != 0) {
		if (waitpid(sd.manager, &status, WNOHANG) == sd.manager) {
			sd.manager = -1;
			cr_skip_test("systemd --user cannot run here (it exited "
			    "with %d at start): %s", WIFEXITED(status) ?
			    WEXITSTATUS(status) : 128 + WTERMSIG(status),
			    manager_log());
		}
		cr_assert(tc_left(deadline) > 0, "systemd --user never opened "
		    "%s: %s", private, manager_log());
		nanosleep(&tick, NULL);
	}
	free(private);
	/* is-system-running says "offline" outside its mount namespace. */
	for (;;) {
		code = sdctl(&res, "show", "-p", "SystemState", "--value", NULL);
		if (code == 0 && (strncmp(res.out, "running", 7) == 0 ||
		    strncmp(res.out, "degraded", 8) == 0))
			break;
		cr_assert(tc_left(deadline) > 0, "systemd --user is %s (exit "
		    "%d): %s", res.out, code, manager_log());
		support_result_free(&res);
		nanosleep(&tick, NULL);
	}
	support_result_free(&res);
}

/* Install handoff@.service from the source tree with this test's paths. */
static void
install_unit(void)
{
	char *in = tc_printf("%s/etc/systemd/handoff@.service.in",
	    support_env("HANDOFF_SRCDIR"));
	char *text = support_read_file(in), *out, *p, *at;
	size_t cap, len = 0;

	cr_assert(text != NULL, "cannot read %s", in);
	cap = strlen(text) * 2 + 4096;
	cr_assert((out = malloc(cap)) != NULL);
	for (p = text; *p != '\0';) {
		if (strncmp(p, "@bindir@", 8) == 0) {
			len += (size_t)snprintf(out + len, cap - len, "%s", sd.bin);
			p += 8;
		} else if (strncmp(p, "@sysconfdir@", 12) == 0) {
			len += (size_t)snprintf(out + len, cap - len, "%s", sd.etc);
			p += 12;
		} else
			out[len++] = *p++;
	}
	out[len] = '\0';
	user_file(sd.units, "handoff@.service", out);
	at = tc_printf("%s/handoff@.service.d", sd.units);
	user_dir(at);
	free(text);
	text = tc_printf("[Service]\nStandardOutput=append:%s/%%i.log\n"
	    "StandardError=append:%s/%%i.log\n", sd.home, sd.home);
	user_file(at, "test.conf", text);
	free(text);
	free(at);
	free(out);
	free(in);
}

/*
 * First in each test (not .init, so that fini cleans up after a failure
 * here too): a user, its cgroups, its manager, the unit; skipped (saying
 * why) where systemd cannot run.
 */
static void
sd_up(void)
{
	const char *bins[] = { "HANDOFF_BIN", "HANDOFF_TESTSERVER" };
	struct run_result res;
	struct passwd *pw;
	char *path;
	int ncg, i;

	if (geteuid() != 0)
		cr_skip_test("needs root: it makes a user and a cgroup for a "
		    "systemd user manager (CI runs it as root)");
	if (access(SYSTEMD, X_OK) != 0 || access(SYSTEMCTL, X_OK) != 0 ||
	    access(SETPRIV, X_OK) != 0 || access(USERADD, X_OK) != 0)
		cr_skip_test("needs %s, %s, %s and %s (Debian's systemd, "
		    "util-linux and passwd)", SYSTEMD, SYSTEMCTL, SETPRIV, USERADD);
	snprintf(sd.user, sizeof(sd.user), "hosd%d", (int)getpid());
	{
		const char *argv[] = { USERADD, "-m", "-U", "-s", "/bin/sh",
		    sd.user, NULL };

		cr_assert_eq(run(argv, &res), 0, "useradd %s: %s", sd.user,
		    res.err);
		support_result_free(&res);
	}
	cr_assert((pw = getpwnam(sd.user)) != NULL);
	sd.uid = pw->pw_uid;
	sd.gid = pw->pw_gid;
	sd.home = strdup(pw->pw_dir);
	sd.uid_s = tc_printf("%u", (unsigned)sd.uid);
	sd.gid_s = tc_printf("%u", (unsigned)sd.gid);
	sd.runtime = tc_printf("/run/user/%u", (unsigned)sd.uid);
	sd.env_runtime = tc_printf("XDG_RUNTIME_DIR=%s", sd.runtime);
	sd.env_home = tc_printf("HOME=%s", sd.home);
	sd.mlog = tc_printf("%s/manager.log", sd.home);
	sd.units = tc_printf("%s/.config/systemd/user", sd.home);
	sd.bin = tc_printf("%s/bin", sd.home);
	sd.etc = tc_printf("%s/etc", sd.home);
	cr_assert(mkdir("/run/user", 0755) == 0 || errno == EEXIST);
	cr_assert(mkdir(sd.runtime, 0700) == 0, "mkdir %s: %s", sd.runtime,
	    strerror(errno));
	cr_assert(chown(sd.runtime, sd.uid, sd.gid) == 0);
	path = tc_printf("%s/handoff", sd.etc);
	user_dir(path);
	free(path);
	user_dir(sd.units);
	user_dir(sd.bin);
	for (i = 0; i < 2; i++) {
		path = i == 0 ? support_copy_handoff(sd.bin) :
		    support_copy_executable(support_env(bins[i]), sd.bin);
		cr_assert(chown(path, sd.uid, sd.gid) == 0);
		free(path);
	}
	if ((ncg = cgroup_dirs(sd.cgroups)) == 0)
		cr_skip_test("no cgroup hierarchy this test knows how to give "
		    "a user manager (neither cgroup2 at /sys/fs/cgroup nor "
		    "the hybrid layout)");
	for (i = 0; i < ncg; i++) {
		const char *argv[] = { "/bin/chown", "-R", sd.user,
		    sd.cgroups[i], NULL };

		if (mkdir(sd.cgroups[i], 0755) == -1) {
			/* A read-only /sys/fs/cgroup (a container's). */
			cr_skip_test("cannot make a cgroup for a user manager "
			    "here: mkdir %s: %s", sd.cgroups[i], strerror(errno));
		}
		cr_assert_eq(run(argv, &res), 0, "%s", res.err);
		support_result_free(&res);
	}
	spawn_manager(ncg);
	wait_manager();
	install_unit();
	sdctl_ok("daemon-reload", "daemon-reload", NULL);
}

/* nftw callback: remove a cgroup directory, deepest first. */
static int
rm_cgroup(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP)
		(void)rmdir(path);
	return 0;
}

/* SIGKILL every process of uid; how many there were. */
static int
kill_uid(uid_t uid)
{
	char *text, *path, *line;
	struct dirent *de;
	DIR *dir = opendir("/proc");
	unsigned int real;
	int n = 0;

	while (dir != NULL && (de = readdir(dir)) != NULL) {
		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		path = tc_printf("/proc/%s/status", de->d_name);
		text = support_read_file(path);
		if (text != NULL && (line = strstr(text, "\nUid:")) != NULL &&
		    sscanf(line, "\nUid:\t%u", &real) == 1 && real == uid) {
			kill((pid_t)atoi(de->d_name), SIGKILL);
			n++;
		}
		free(text);
		free(path);
	}
	if (dir != NULL)
		closedir(dir);
	return n;
}

/* After each test: the manager, the user's processes, cgroups, the user. */
static void
fini(void)
{
	struct timespec tick = { 0, 20 * 1000 * 1000 };
	long long deadline = support_now_ms() + DEADLINE_MS;
	struct run_result res;
	int i, status;

	load_stop(&ld);
	if (sd.manager > 0) {
		/* Quick: whatever a test left draining is killed. */
		(void)sdctl(&res, "kill", "--signal=SIGKILL", "handoff@*", NULL);
		support_result_free(&res);
		kill(sd.manager, SIGTERM);
		while (waitpid(sd.manager, &status, WNOHANG) == 0 &&
		    tc_left(deadline) > 0)
			nanosleep(&tick, NULL);
		kill(sd.manager, SIGKILL);
		(void)waitpid(sd.manager, &status, 0);
	}
	if (sd.uid != 0) {
		deadline = support_now_ms() + DEADLINE_MS;
		while (kill_uid(sd.uid) > 0 && tc_left(deadline) > 0)
			nanosleep(&tick, NULL);
	}
	for (i = 0; i < 2; i++) {
		if (sd.cgroups[i] != NULL)
			nftw(sd.cgroups[i], rm_cgroup, 16, FTW_DEPTH | FTW_PHYS);
		free(sd.cgroups[i]);
	}
	if (sd.user[0] != '\0') {
		const char *argv[] = { USERDEL, "-r", "-f", sd.user, NULL };

		(void)run(argv, &res);
		support_result_free(&res);
	}
	if (sd.runtime != NULL)
		support_rmtree(sd.runtime);
	free(sd.home);
	free(sd.runtime);
	free(sd.mlog);
	free(sd.units);
	free(sd.bin);
	free(sd.etc);
	free(sd.uid_s);
	free(sd.gid_s);
	free(sd.env_runtime);
	free(sd.env_home);
	memset(&sd, 0, sizeof(sd));
	sd.manager = -1;
}

/*
 * ETC/handoff/NAME.ini: listener web on 127.0.0.1:port (and EXTRA
 * sections), program app of two testservers with ARGS and KEYS, using
 * LISTENERS.
 */
static void
write_config(const char *name, int port, const char *extra,
    const char *listeners, const char *args, const char *keys)
{
	char *dir = tc_printf("%s/handoff", sd.etc);
	char *file = tc_printf("%s.ini", name);
	char *text = tc_printf("[supervisor]\nname = %s\ncontrol = %s/%s.sock\n\n"
	    "[listener web]\nlisten = 127.0.0.1:%d\n\n%s"
	    "[program app]\ncommand = %s/testserver %s\nlisteners = %s\n"
	    "workers = 2\nready_timeout = 60s\n%s", name, sd.home, name, port,
	    extra, sd.bin, args, listeners, keys);

	user_file(dir, file, text);
	free(text);
	free(file);
	free(dir);
}

/*
 * `handoff status --json` of instance name, as its user, parsed; NULL if
 * it fails and may (before the supervisor opened its control socket).
 */
static json_object *
status_try(const char *name, bool may_fail)
{
	char *sock = tc_printf("%s/%s.sock", sd.home, name);
	char *bin = tc_printf("%s/handoff", sd.bin);
	const char *argv[] = { bin, "status", "--json", "-s", sock, NULL };
	struct run_result res;
	json_object *root = NULL;
	int code;

	code = as_user(argv, &res);
	cr_assert(code == 0 || may_fail, "handoff status: %s", res.err);
	if (code == 0) {
		root = json_tokener_parse(res.out);
		cr_assert(root != NULL, "not JSON: %s", res.out);
	}
	support_result_free(&res);
	free(sock);
	free(bin);
	return root;
}

/* `handoff status --json` of instance name, which must answer. */
static json_object *
status_of(const char *name)
{
	return status_try(name, false);
}

/* The instance's log (what its unit wrote), for messages. */
static char *
unit_log(const char *name)
{
	char *path = tc_printf("%s/%s.log", sd.home, name);
	char *text = support_read_file(path);

	free(path);
	return text != NULL ? text : strdup("(no log)");
}

/* A listener's (origin, inode, ...) member in status. */
static json_object *
listener_at(json_object *root, const char *listener, const char *key)
{
	return tc_json_at(tc_json_named(root, "listeners", listener), key, NULL);
}

/* The pids of every worker in a status. */
static int
worker_pids(json_object *root, pid_t *pids, int max)
{
	json_object *gens = tc_json_at(tc_json_named(root, "programs", "app"),
	    "generations", NULL), *workers;
	size_t g, w;
	int n = 0;

	for (g = 0; gens != NULL && g < json_object_array_length(gens); g++) {
		workers = tc_json_at(json_object_array_get_idx(gens, g),
		    "workers", NULL);
		for (w = 0; workers != NULL && w < json_object_array_length(
		    workers) && n < max; w++)
			pids[n++] = (pid_t)tc_json_int(tc_json_at(
			    json_object_array_get_idx(workers, w), "pid", NULL));
	}
	return n;
}

/* GET / on port: the generation that answered (the test fails if none). */
static int
get_gen(int port)
{
	pid_t pid;
	int gen = -1, rc;

	rc = tc_http_get(port, &gen, &pid);
	cr_assert_eq(rc, SUPPORT_HTTP_OK, "GET / on %d: %s", port,
	    support_http_name(rc));
	return gen;
}

/* wait_for: the unit of arg is active with a MainPID other than before. */
struct restarted {
	const char	*unit;
	long		 old_pid;
};

static bool
is_restarted(void *arg)
{
	struct restarted *r = arg;
	long pid = prop_long(r->unit, "MainPID");

	return pid != 0 && pid != r->old_pid &&
	    prop_is(r->unit, "ActiveState", "active");
}

/* wait_for: instance arg's status shows no generation but the current one. */
static bool
is_one_generation(void *arg)
{
	json_object *st = status_of(arg);
	json_object *gens = tc_json_at(tc_json_named(st, "programs", "app"),
	    "generations", NULL);
	bool one = gens != NULL && json_object_array_length(gens) == 1;

	json_object_put(st);
	return one;
}

/* wait_for: instance arg's two workers have pids (started, maybe not ready). */
static bool
has_two_workers(void *arg)
{
	json_object *st = status_try(arg, true);
	pid_t pids[4];
	bool two = st != NULL && worker_pids(st, pids, 4) == 2 &&
	    pids[0] > 0 && pids[1] > 0;

	json_object_put(st);
	return two;
}

Test(systemd, notify_unit_is_active_only_once_the_first_generation_is_ready,
    .fini = fini)
{
	int port = support_free_port();
	json_object *st;
	pid_t pids[4];
	char *status;
	int i, n;

	sd_up();

	/* The workers are ready only when the test says so. */
	write_config("t1", port, "", "web", "--ready-on-usr1", "");
	sdctl_ok("start --no-block", "start", "--no-block", "handoff@t1", NULL);
	cr_assert(wait_for(has_two_workers, "t1"), "%s", unit_log("t1"));
	cr_expect(prop_is("handoff@t1", "ActiveState", "activating"),
	    "the unit is not activating while no worker is ready");
	st = status_of("t1");
	n = worker_pids(st, pids, 4);
	cr_expect_eq(tc_json_int(tc_json_at(st, "supervisor", "pid", NULL)),
	    prop_long("handoff@t1", "MainPID"));
	json_object_put(st);
	for (i = 0; i < n; i++)
		kill(pids[i], SIGUSR1);
	/* A second start waits for the job of the first. */
	sdctl_ok("start", "start", "handoff@t1", NULL);
	cr_expect(prop_is("handoff@t1", "ActiveState", "active"));
	status = prop("handoff@t1", "StatusText");
	cr_expect_str_eq(status, "running: app gen 1");
	free(status);
	st = status_of("t1");
	cr_expect_eq(tc_json_int(tc_json_at(tc_json_named(st, "programs", "app"),
	    "generations", "0", "workers_ready", NULL)), 2);
	json_object_put(st);
	cr_expect_eq(get_gen(port), 1);
}

Test(systemd, reload_returns_once_the_new_generation_took_over,
    .fini = fini)
{
	int port = support_free_port();
	struct run_result res;
	json_object *st, *app;
	char *status;
	int code;

	sd_up();

	/* An old generation takes a minute to drain. */
	write_config("t2", port, "", "web", "--drain-delay 60s",
	    "drain_timeout = 90s\n");
	sdctl_ok("start", "start", "handoff@t2", NULL);
	sdctl_ok("reload", "reload", "handoff@t2", NULL);
	st = status_of("t2");
	app = tc_json_named(st, "programs", "app");
	cr_expect_eq(tc_json_int(tc_json_at(app, "current_generation", NULL)), 2);
	cr_expect_str_eq(tc_json_str(tc_json_at(app, "generations", "0", "state",
	    NULL)), "draining", "systemctl reload waited for the drain");
	json_object_put(st);
	cr_expect(prop_is("handoff@t2", "ActiveState", "active"));
	cr_expect_eq(get_gen(port), 2);

	/* A new generation that fails fails the reload; gen 2 serves on. */
	write_config("t2", port, "", "web", "--exit-before-ready 3",
	    "drain_timeout = 90s\n");
	code = sdctl(&res, "reload", "handoff@t2", NULL);
	cr_expect_neq(code, 0, "systemctl reload succeeded: %s", res.out);
	support_result_free(&res);
	st = status_of("t2");
	cr_expect(!json_object_get_boolean(tc_json_at(st, "last_reload", "ok",
	    NULL)));
	json_object_put(st);
	cr_expect(prop_is("handoff@t2", "ActiveState", "active"));
	status = prop("handoff@t2", "StatusText");
	cr_expect(strstr(status, "the last reload failed") != NULL, "%s", status);
	free(status);
	cr_expect_eq(get_gen(port), 2);
}

Test(systemd, socket_unit_named_sockets_are_adopted, .fini = fini)
{
	int port = support_free_port();
	char *admin, *text, *extra, *body = NULL;
	json_object *st;
	int64_t inode;

	sd_up();
	admin = tc_printf("%s/t3-admin.sock", sd.home);

	text = tc_printf("[Socket]\nListenStream=127.0.0.1:%d\n"
	    "FileDescriptorName=web\n", port);
	user_file(sd.units, "handoff@t3.socket", text);
	free(text);
	text = tc_printf("[Socket]\nListenStream=%s\nFileDescriptorName=admin\n"
	    "Service=handoff@t3.service\n", admin);
	user_file(sd.units, "hoadmin@t3.socket", text);
	free(text);
	text = tc_printf("%s/handoff@t3.service.d", sd.units);
	user_dir(text);
	user_file(text, "sockets.conf", "[Unit]\nRequires=handoff@t3.socket "
	    "hoadmin@t3.socket\n[Service]\nSockets=handoff@t3.socket "
	    "hoadmin@t3.socket\n");
	free(text);
	extra = tc_printf("[listener admin]\nlisten = unix:%s\n\n", admin);
	write_config("t3", port, extra, "web, admin", "", "");
	free(extra);
	sdctl_ok("daemon-reload", "daemon-reload", NULL);
	sdctl_ok("start sockets", "start", "handoff@t3.socket",
	    "hoadmin@t3.socket", NULL);
	cr_expect(prop_is("handoff@t3.service", "ActiveState", "inactive"));

	/* The first connection starts the service; a worker answers it. */
	cr_expect_eq(get_gen(port), 1, "%s", unit_log("t3"));
	/* Its start job ends with READY=1 (a worker may answer just before). */
	sdctl_ok("start", "start", "handoff@t3.service", NULL);
	cr_expect(prop_is("handoff@t3.service", "ActiveState", "active"));
	st = status_of("t3");
	cr_expect_str_eq(tc_json_str(listener_at(st, "web", "origin")), "passed");
	cr_expect_str_eq(tc_json_str(listener_at(st, "admin", "origin")),
	    "passed");
	inode = tc_json_int(listener_at(st, "web", "inode"));
	json_object_put(st);
	/* Not bound twice, not stored (the socket unit holds them): only
	   the two workers' output pipes are. */
	cr_expect_eq(prop_long("handoff@t3.service", "NFileDescriptorStore"), 2);
	cr_expect_eq(support_http_get_unix(admin, "/", &body), SUPPORT_HTTP_OK);
	free(body);

	/* A reload keeps them. */
	sdctl_ok("reload", "reload", "handoff@t3", NULL);
	st = status_of("t3");
	cr_expect_eq(tc_json_int(listener_at(st, "web", "inode")), inode);
	json_object_put(st);
	cr_expect_eq(get_gen(port), 2);
	free(admin);
}

/* Old supervisor and workers: none alive. */
static void
expect_all_dead(const pid_t *pids, int n)
{
	int i;

	for (i = 0; i < n; i++)
		cr_expect(!support_pid_alive(pids[i]), "pid %d of the dead "
		    "supervisor still runs after the restart", (int)pids[i]);
}

/* Answers since before of the pids in old: must be none. */
static void
expect_no_old_answers(const struct load_answerer *before, int nbefore,
    const pid_t *old, int nold)
{
	struct load_answerer now[LOAD_MAX_ANSWERERS];
	long was;
	int n, i, k, j;

	n = load_answerers(&ld, now, LOAD_MAX_ANSWERERS);
	for (i = 0; i < n && i < LOAD_MAX_ANSWERERS; i++) {
		for (k = 0; k < nold && now[i].pid != old[k]; k++)
			;
		if (k == nold)
			continue;
		for (j = 0, was = 0; j < nbefore; j++)
			if (before[j].pid == now[i].pid)
				was = before[j].count;
		cr_expect_eq(now[i].count, was, "pid %d of the dead supervisor "
		    "answered after the restart", (int)now[i].pid);
	}
}

Test(systemd, crash_restarts_with_the_stored_socket, .fini = fini)
{
	int port = support_free_port();
	struct load_answerer before[LOAD_MAX_ANSWERERS];
	struct restarted r = { "handoff@t4", 0 };
	pid_t old[8];
	json_object *st;
	int64_t inode;
	char summary[512];
	int nold, nbefore;

	sd_up();

	write_config("t4", port, "", "web", "", "");
	sdctl_ok("start", "start", "handoff@t4", NULL);
	/* The socket and the two workers' output pipes. */
	cr_expect_eq(prop_long("handoff@t4", "NFileDescriptorStore"), 3);
	st = status_of("t4");
	inode = tc_json_int(listener_at(st, "web", "inode"));
	nold = worker_pids(st, old, 7);
	json_object_put(st);
	r.old_pid = prop_long("handoff@t4", "MainPID");
	old[nold++] = (pid_t)r.old_pid;

	cr_assert_eq(load_start_tcp(&ld, "127.0.0.1", port, 2), 0);
	cr_assert_eq(load_wait_progress(&ld, 50), 0);
	kill((pid_t)r.old_pid, SIGKILL);
	cr_assert(wait_for(is_restarted, &r), "not restarted: %s",
	    unit_log("t4"));
	/* KillMode=mixed killed the orphans before the restart. */
	expect_all_dead(old, nold);
	nbefore = load_answerers(&ld, before, LOAD_MAX_ANSWERERS);
	cr_assert_eq(load_wait_progress(&ld, 50), 0, "no answers after the "
	    "restart: %s", unit_log("t4"));
	load_stop(&ld);
	cr_log_info("kill -9 under load: %s", load_summary(&ld, summary,
	    sizeof(summary)));
	cr_expect_eq(load_count(&ld, LOAD_REFUSED), 0, "connections refused: "
	    "%s", load_summary(&ld, summary, sizeof(summary)));
	cr_expect_eq(load_count(&ld, LOAD_TIMEOUT), 0);
	expect_no_old_answers(before, nbefore, old, nold);
	cr_expect_geq(prop_long("handoff@t4", "NRestarts"), 1);

	st = status_of("t4");
	cr_expect_str_eq(tc_json_str(listener_at(st, "web", "origin")), "stored");
	cr_expect_eq(tc_json_int(listener_at(st, "web", "inode")), inode,
	    "the restart bound another socket");
	json_object_put(st);
	/* The dead workers' pipes are out, the new ones' in. */
	cr_expect_eq(prop_long("handoff@t4", "NFileDescriptorStore"), 3);
}

/* wait_for: each orphan wrote its stop line to the new supervisor's log,
   and exited. */
struct orphans_drained {
	const char	*name;
	const pid_t	*pids;
	int		 n;
};

static bool
are_drained(void *arg)
{
	const struct orphans_drained *d = arg;
	char *log = unit_log(d->name), line[128];
	bool all = true;
	int i;

	for (i = 0; i < d->n && all; i++) {
		snprintf(line, sizeof(line), "app gen 1 pid %d: orphan-drains",
		    (int)d->pids[i]);
		all = strstr(log, line) != NULL && !support_pid_alive(d->pids[i]);
	}
	free(log);
	return all;
}

Test(systemd, crash_with_keep_workers_loses_no_request, .fini = fini)
{
	int port = support_free_port();
	struct restarted r = { "handoff@t8", 0 };
	struct orphans_drained d = { "t8", NULL, 0 };
	char *dir, *dropin, *log;
	pid_t old[8];
	json_object *st;
	char summary[512];
	int nold, i;

	sd_up();

	/* The shipped drop-in, for this instance. */
	dropin = tc_printf("%s/etc/systemd/keep-workers.conf",
	    support_env("HANDOFF_SRCDIR"));
	log = support_read_file(dropin);
	cr_assert(log != NULL, "cannot read %s", dropin);
	dir = tc_printf("%s/handoff@t8.service.d", sd.units);
	user_dir(dir);
	user_file(dir, "keep-workers.conf", log);
	free(log);
	free(dir);
	free(dropin);
	sdctl_ok("daemon-reload", "daemon-reload", NULL);

	write_config("t8", port, "", "web", "--print-on-stop 'orphan-drains\\n'",
	    "");
	sdctl_ok("start", "start", "handoff@t8", NULL);
	cr_expect(prop_is("handoff@t8", "KillMode", "process"));
	st = status_of("t8");
	nold = worker_pids(st, old, 8);
	json_object_put(st);
	cr_assert_eq(nold, 2);
	r.old_pid = prop_long("handoff@t8", "MainPID");

	cr_assert_eq(load_start_tcp(&ld, "127.0.0.1", port, 2), 0);
	cr_assert_eq(load_wait_progress(&ld, 50), 0);
	kill((pid_t)r.old_pid, SIGKILL);
	cr_assert(wait_for(is_restarted, &r), "not restarted: %s",
	    unit_log("t8"));
	/* The orphans served on, were taken over and drained: each wrote
	   its stop line through its pipe, kept in the fd store. */
	d.pids = old;
	d.n = nold;
	cr_assert(wait_for(are_drained, &d), "the orphans were not drained "
	    "with their output read: %s", unit_log("t8"));
	cr_assert_eq(load_wait_progress(&ld, 50), 0, "no answers after the "
	    "restart: %s", unit_log("t8"));
	load_stop(&ld);
	cr_log_info("kill -9 under load, keep-workers.conf: %s",
	    load_summary(&ld, summary, sizeof(summary)));
	cr_expect_eq(load_failures(&ld), 0, "requests failed across the "
	    "crash: %s", load_summary(&ld, summary, sizeof(summary)));
	log = unit_log("t8");
	for (i = 0; i < nold; i++) {
		dir = tc_printf("orphaned worker pid %d: its output, kept in "
		    "the fd store, is read again", (int)old[i]);
		cr_expect(strstr(log, dir) != NULL, "no \"%s\": %s", dir, log);
		free(dir);
	}
	free(log);
	/* The socket and the new workers' pipes; the orphans' are out. */
	cr_expect_eq(prop_long("handoff@t8", "NFileDescriptorStore"), 3);
}

/* Start instance name (systemctl start): the inode of its listener web. */
static int64_t
start_web(const char *name)
{
	char *unit = tc_printf("handoff@%s", name);
	json_object *st;
	int64_t inode;

	sdctl_ok("start", "start", unit, NULL);
	st = status_of(name);
	inode = tc_json_int(listener_at(st, "web", "inode"));
	json_object_put(st);
	free(unit);
	return inode;
}

Test(systemd, restart_keeps_the_socket, .fini = fini)
{
	int port = support_free_port();
	json_object *st;
	int64_t inode;
	char summary[512];

	sd_up();

	write_config("t5", port, "", "web", "", "");
	inode = start_web("t5");
	cr_assert_eq(load_start_tcp(&ld, "127.0.0.1", port, 2), 0);
	cr_assert_eq(load_wait_progress(&ld, 50), 0);
	sdctl_ok("restart", "restart", "handoff@t5", NULL);
	cr_assert_eq(load_wait_progress(&ld, 50), 0);
	load_stop(&ld);
	cr_expect_eq(load_count(&ld, LOAD_REFUSED), 0, "connections refused: "
	    "%s", load_summary(&ld, summary, sizeof(summary)));
	cr_expect_eq(load_failures(&ld), 0, "%s", load_summary(&ld, summary,
	    sizeof(summary)));
	st = status_of("t5");
	cr_expect_str_eq(tc_json_str(listener_at(st, "web", "origin")), "stored");
	cr_expect_eq(tc_json_int(listener_at(st, "web", "inode")), inode);
	json_object_put(st);
}

Test(systemd, stop_leaves_nothing_stored, .fini = fini)
{
	int port = support_free_port();
	json_object *st;
	pid_t pid;
	int gen;

	sd_up();

	write_config("t6", port, "", "web", "", "");
	sdctl_ok("start", "start", "handoff@t6", NULL);
	cr_expect_eq(prop_long("handoff@t6", "NFileDescriptorStore"), 3);
	sdctl_ok("stop", "stop", "handoff@t6", NULL);
	cr_expect(prop_is("handoff@t6", "ActiveState", "inactive"));
	cr_expect_eq(prop_long("handoff@t6", "NFileDescriptorStore"), 0);
	cr_expect_eq(tc_http_get(port, &gen, &pid), SUPPORT_HTTP_REFUSED,
	    "something still holds the port");
	sdctl_ok("start", "start", "handoff@t6", NULL);
	st = status_of("t6");
	cr_expect_str_eq(tc_json_str(listener_at(st, "web", "origin")), "bound");
	json_object_put(st);
}

Test(systemd, reload_removing_a_listener_frees_its_port, .fini = fini)
{
	int port = support_free_port(), other = support_free_port();
	char *extra = tc_printf("[listener extra]\nlisten = 127.0.0.1:%d\n\n",
	    other);
	pid_t pid;
	int gen;

	sd_up();

	write_config("t7", port, extra, "web, extra", "", "");
	sdctl_ok("start", "start", "handoff@t7", NULL);
	cr_expect_eq(prop_long("handoff@t7", "NFileDescriptorStore"), 4);
	cr_expect_eq(get_gen(other), 1);
	write_config("t7", port, "", "web", "", "");
	sdctl_ok("reload", "reload", "handoff@t7", NULL);
	cr_assert(wait_for(is_one_generation, "t7"), "%s", unit_log("t7"));
	/* One socket, and the pipes of the new generation only. */
	cr_expect_eq(prop_long("handoff@t7", "NFileDescriptorStore"), 3);
	/* Neither the supervisor nor systemd holds it any more. */
	cr_expect_eq(tc_http_get(other, &gen, &pid), SUPPORT_HTTP_REFUSED);
	cr_expect_eq(get_gen(port), 2);
	free(extra);
}

/* wait_for: instance arg's log says its listener listens again. */
static bool
is_relistened(void *arg)
{
	char *text = unit_log(arg);
	bool yes = strstr(text, "listening again") != NULL;

	free(text);
	return yes;
}

/*
 * kill -9 the supervisor of instance name under load on port: systemd
 * restarts it, and no connection is refused meanwhile.
 */
static void
crash_under_load(const char *name, int port)
{
	char *unit = tc_printf("handoff@%s", name), summary[512];
	struct restarted r = { unit, prop_long(unit, "MainPID") };

	cr_assert_eq(load_start_tcp(&ld, "127.0.0.1", port, 2), 0);
	cr_assert_eq(load_wait_progress(&ld, 50), 0);
	kill((pid_t)r.old_pid, SIGKILL);
	cr_assert(wait_for(is_restarted, &r), "not restarted: %s",
	    unit_log(name));
	cr_assert_eq(load_wait_progress(&ld, 50), 0, "no answers after the "
	    "restart: %s", unit_log(name));
	load_stop(&ld);
	cr_expect_eq(load_count(&ld, LOAD_REFUSED), 0, "connections refused: "
	    "%s", load_summary(&ld, summary, sizeof(summary)));
	free(unit);
}

Test(systemd, listener_shut_down_by_a_worker_stays_stored, .fini = fini)
{
	int port = support_free_port();
	json_object *st;
	int64_t inode;

	sd_up();

	/*
	 * An old worker shuts the shared listener down as it stops (servers
	 * do): the socket stops listening, systemd sees EPOLLHUP on its
	 * stored copy, and the supervisor makes it listen again.
	 */
	write_config("t10", port, "", "web", "--shutdown-on-stop rd", "");
	inode = start_web("t10");
	sdctl_ok("reload", "reload", "handoff@t10", NULL);
	cr_assert(wait_for(is_relistened, "t10"), "%s", unit_log("t10"));
	cr_assert(wait_for(is_one_generation, "t10"), "%s", unit_log("t10"));
	cr_expect_eq(get_gen(port), 2);

	/* Still stored: a crash now refuses nothing. */
	crash_under_load("t10", port);
	st = status_of("t10");
	cr_expect_str_eq(tc_json_str(listener_at(st, "web", "origin")), "stored",
	    "the repaired socket left the fd store: %s", unit_log("t10"));
	cr_expect_eq(tc_json_int(listener_at(st, "web", "inode")), inode);
	json_object_put(st);
}

/* The inode of worker slot's socket of listener web in a status. */
static int64_t
slot_inode(json_object *st, int slot)
{
	char idx[16];

	snprintf(idx, sizeof(idx), "%d", slot);
	return tc_json_int(tc_json_at(tc_json_named(st, "listeners", "web"),
	    "slots", idx, "inode", NULL));
}

Test(systemd, crash_gives_each_reuseport_slot_its_own_socket_back,
    .fini = fini)
{
	int port = support_free_port();
	int64_t inode[2];
	json_object *st;
	int i;

	sd_up();

	write_config("t11", port, "", "web", "", "handoff = reuseport\n");
	sdctl_ok("start", "start", "handoff@t11", NULL);
	/* Two slots' sockets, two workers' output pipes. */
	cr_expect_eq(prop_long("handoff@t11", "NFileDescriptorStore"), 4);
	st = status_of("t11");
	for (i = 0; i < 2; i++)
		inode[i] = slot_inode(st, i);
	json_object_put(st);
	crash_under_load("t11", port);

	/* Whatever order systemd passes them in, each slot has its own. */
	st = status_of("t11");
	for (i = 0; i < 2; i++)
		cr_expect_eq(slot_inode(st, i), inode[i], "slot %d has another "
		    "socket: %s", i, unit_log("t11"));
	json_object_put(st);
}
