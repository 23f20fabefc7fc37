/*
 * child.c: fork and exec one worker.
 *
 * Everything that allocates is done before fork, in child_spec_init: the
 * resolved path, the environment, the supplementary groups. Between fork and
 * exec the child only makes async-signal-safe calls:
 *
 *	own process group; into the generation's cgroup, if it has one;
 *	signal dispositions reset and mask cleared;
 *	stdin from /dev/null, stdout and stderr to the supervisor's pipe;
 *	listeners moved to fds 3, 4, ... (without CLOEXEC; non-blocking, as
 *	the supervisor bound them) and every other fd closed;
 *	LISTEN_PID written with the child's own pid;
 *	chdir; setgroups, setgid, setuid in that order; exec.
 *
 * A failure in the child is written to the status pipe as "STAGE: errno"
 * text; the pipe is CLOEXEC, so a successful exec shows as EOF.
 */
#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "child.h"
#include "config.h"
#include "listener.h"
#include "parse.h"

extern char **environ;

/* The fd limit the supervisor was started with, restored in workers. */
static struct rlimit	child_nofile;
static bool		child_nofile_raised;

/*
 * Raise the supervisor's own soft fd limit to the hard one (it holds a
 * pipe per worker and a socket per control client); workers get the limit
 * the supervisor was started with, as if it had not been there.
 */
void
child_raise_nofile(void)
{
	struct rlimit raised;

	if (getrlimit(RLIMIT_NOFILE, &child_nofile) == -1 ||
	    child_nofile.rlim_cur >= child_nofile.rlim_max)
		return;
	raised = child_nofile;
	raised.rlim_cur = raised.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &raised) == 0)
		child_nofile_raised = true;
}

#define LISTEN_PID_LEN	(sizeof("LISTEN_PID=") + 24)

/* Append a formatted entry to an environment array. */
static int
child_env_add(char ***envp, size_t *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int
child_env_add(char ***envp, size_t *n, const char *fmt, ...)
{
	char **grown, *entry;
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = vasprintf(&entry, fmt, ap);
	va_end(ap);
	if (rc == -1)
		return -1;
	grown = reallocarray(*envp, *n + 2, sizeof(**envp));
	if (grown == NULL) {
		free(entry);
		return -1;
	}
	*envp = grown;
	(*envp)[(*n)++] = entry;
	(*envp)[*n] = NULL;
	return 0;
}

/* Tell whether the program's env = list sets the variable of entry. */
static bool
child_env_overridden(const struct program_conf *pc, const char *entry)
{
	size_t len = strcspn(entry, "=") + 1, i;

	for (i = 0; i < pc->nenv; i++)
		if (strncmp(pc->env[i], entry, len) == 0)
			return true;
	return false;
}

/*
 * Build a worker's environment: the supervisor's own, less any protocol
 * variables it inherited; the program's env = entries; then the socket
 * protocols, which no setting overrides:
 *
 *	LISTEN_FDS=2 LISTEN_PID=<pid> LISTEN_FDNAMES=web:admin
 *	SERVER_STARTER_PORT=127.0.0.1:8080=3;/run/admin.sock=4
 *	EINHORN_FD_COUNT=2 EINHORN_FD_0=3 EINHORN_FD_1=4
 *	HANDOFF_GENERATION=7 HANDOFF_WORKER=0 NOTIFY_SOCKET=@...
 *
 * LISTEN_PID= is left with room for the pid, which the child writes; its
 * index is stored in *listen_pid_slot. Returns NULL when out of memory.
 */
char **
child_env_build(const struct program_conf *pc, struct listener **ls,
    size_t nls, unsigned int generation, int worker,
    const char *notify_socket, int *listen_pid_slot)
{
	char **envp = NULL, *names = NULL, *ports = NULL, *grown;
	const char *fd_name;
	size_t n = 0, i, len;
	char **var;

	*listen_pid_slot = -1;
	if ((envp = calloc(1, sizeof(*envp))) == NULL)
		return NULL;
	for (var = environ; *var != NULL; var++) {
		if (config_env_is_protocol(*var) || child_env_overridden(pc, *var))
			continue;
		if (child_env_add(&envp, &n, "%s", *var) == -1)
			goto fail;
	}
	for (i = 0; i < pc->nenv; i++)
		if (child_env_add(&envp, &n, "%s", pc->env[i]) == -1)
			goto fail;

	if (nls > 0) {
		if (child_env_add(&envp, &n, "LISTEN_FDS=%zu", nls) == -1)
			goto fail;
		/* Room for the pid: the child writes it after fork. */
		if (child_env_add(&envp, &n, "%-*s", (int)LISTEN_PID_LEN - 1,
		    "LISTEN_PID=") == -1)
			goto fail;
		*listen_pid_slot = (int)n - 1;
		names = strdup("");
		ports = strdup("");
		if (names == NULL || ports == NULL)
			goto fail;
		for (i = 0; i < nls; i++) {
			len = strlen(names);
			/*
			 * The name from this generation's own config: a kept
			 * socket takes a new fd_name only when the reload
			 * that renames it commits, after this fork.
			 */
			fd_name = pc->listeners[i]->fd_name;
			if ((grown = realloc(names, len + strlen(fd_name) + 2)) == NULL)
				goto fail;
			names = grown;
			sprintf(names + len, "%s%s", i ? ":" : "", fd_name);
			/* Server::Starter knows stream sockets only. */
			if (addr_socktype(&ls[i]->addr) != SOCK_STREAM ||
			    addr_is_abstract(&ls[i]->addr))
				continue;
			len = strlen(ports);
			if ((grown = realloc(ports, len + strlen(ls[i]->bound) + 16)) == NULL)
				goto fail;
			ports = grown;
			sprintf(ports + len, "%s%s=%zu", len ? ";" : "",
			    ls[i]->bound, 3 + i);
		}
		if (child_env_add(&envp, &n, "LISTEN_FDNAMES=%s", names) == -1)
			goto fail;
		if (ports[0] != '\0' &&
		    child_env_add(&envp, &n, "SERVER_STARTER_PORT=%s", ports) == -1)
			goto fail;
		if (child_env_add(&envp, &n, "EINHORN_FD_COUNT=%zu", nls) == -1)
			goto fail;
		for (i = 0; i < nls; i++)
			if (child_env_add(&envp, &n, "EINHORN_FD_%zu=%zu", i, 3 + i) == -1)
				goto fail;
	}
	if (child_env_add(&envp, &n, "HANDOFF_GENERATION=%u", generation) == -1 ||
	    child_env_add(&envp, &n, "HANDOFF_WORKER=%d", worker) == -1)
		goto fail;
	if (notify_socket != NULL &&
	    child_env_add(&envp, &n, "NOTIFY_SOCKET=%s", notify_socket) == -1)
		goto fail;
	free(names);
	free(ports);
	return envp;
fail:
	free(names);
	free(ports);
	argv_free(envp);
	return NULL;
}

/*
 * Find argv0: a path (relative ones from directory, if set), or a name
 * looked up in the PATH of envp (or the default path). Malloc'd result.
 */
static char *
child_resolve_path(const char *argv0, const char *directory, char **envp,
    char **cause)
{
	const char *path = "/usr/local/bin:/usr/bin:/bin", *p, *end;
	char candidate[PATH_MAX];
	struct stat st;
	size_t i;

	if (strchr(argv0, '/') != NULL) {
		/* A relative command is relative to where the worker runs. */
		if (argv0[0] != '/' && directory != NULL)
			snprintf(candidate, sizeof(candidate), "%s/%s", directory,
			    argv0);
		else
			snprintf(candidate, sizeof(candidate), "%s", argv0);
		if (stat(candidate, &st) == -1) {
			asprintf(cause, "cannot run %s: %s", candidate,
			    strerror(errno));
			return NULL;
		}
		return strdup(candidate);
	}
	for (i = 0; envp[i] != NULL; i++)
		if (strncmp(envp[i], "PATH=", 5) == 0)
			path = envp[i] + 5;
	for (p = path; ; p = end + 1) {
		end = strchr(p, ':');
		if (end == NULL)
			end = p + strlen(p);
		/*
		 * An empty element is the current directory, and relative
		 * elements are relative to it: the worker's directory.
		 */
		if (end == p)
			snprintf(candidate, sizeof(candidate), "%s/%s",
			    directory != NULL ? directory : ".", argv0);
		else if (*p != '/' && directory != NULL)
			snprintf(candidate, sizeof(candidate), "%s/%.*s/%s",
			    directory, (int)(end - p), p, argv0);
		else
			snprintf(candidate, sizeof(candidate), "%.*s/%s",
			    (int)(end - p), p, argv0);
		if (stat(candidate, &st) == 0 && S_ISREG(st.st_mode) &&
		    access(candidate, X_OK) == 0)
			return strdup(candidate);
		if (*end == '\0')
			break;
	}
	asprintf(cause, "cannot run %s: not found in PATH (%s)", argv0, path);
	return NULL;
}

/* Prepare everything a worker needs before fork. */
int
child_spec_init(struct child_spec *spec, const struct program_conf *pc,
    struct listener **ls, size_t nls, unsigned int generation, int worker,
    const char *notify_socket, char **cause)
{
	struct passwd *pw;
	size_t i;
	int n;

	memset(spec, 0, sizeof(*spec));
	spec->cgroup_fd = -1;
	spec->argv = pc->argv;
	spec->directory = pc->directory;
	spec->discard_output = pc->output == OUTPUT_DISCARD;
	spec->envp = child_env_build(pc, ls, nls, generation, worker,
	    notify_socket, &spec->listen_pid_slot);
	if (spec->envp == NULL) {
		*cause = strdup("out of memory");
		return -1;
	}
	if ((spec->path = child_resolve_path(pc->argv[0], pc->directory, spec->envp,
	    cause)) == NULL)
		goto fail;
	if ((spec->fds = calloc(nls + 1, sizeof(*spec->fds))) == NULL)
		goto nomem;
	for (i = 0; i < nls; i++)
		spec->fds[i] = listener_fd(ls[i]);
	spec->nfds = nls;

	if (pc->user != NULL) {
		spec->set_ids = true;
		spec->uid = pc->uid;
		spec->gid = pc->gid;
		/* Supplementary groups of the user, computed now (not after fork). */
		pw = getpwuid(pc->uid);
		n = 64;
		for (;;) {
			gid_t *groups = reallocarray(spec->groups, (size_t)n, sizeof(gid_t));
			int want = n;
			if (groups == NULL)
				goto nomem;
			spec->groups = groups;
			if (pw == NULL) {
				spec->groups[0] = pc->gid;
				spec->ngroups = 1;
				break;
			}
			if (getgrouplist(pw->pw_name, pc->gid, spec->groups, &want) != -1) {
				spec->ngroups = want;
				break;
			}
			n = want > n ? want : n * 2;
		}
		/*
		 * Checked in the child once it is the user: a socket out of
		 * its reach would otherwise only show as a ready_timeout.
		 */
		spec->notify_socket = notify_socket;
		if (notify_socket != NULL && asprintf(&spec->notify_unreachable,
		    "uid %u cannot reach NOTIFY_SOCKET %s (every directory "
		    "above it must let that user through)", (unsigned)pc->uid,
		    notify_socket) == -1) {
			spec->notify_unreachable = NULL;
			goto nomem;
		}
	} else if (pc->group != NULL) {
		spec->set_gid_only = true;
		spec->gid = pc->gid;
	}
	if (geteuid() != 0 && (spec->set_ids || spec->set_gid_only)) {
		/* Not root: only the ids it already has can be asked for. */
		if ((spec->set_ids && (spec->uid != geteuid() ||
		    spec->gid != getegid())) ||
		    (spec->set_gid_only && spec->gid != getegid())) {
			asprintf(cause, "user = and group = need the supervisor "
			    "to run as root (it runs as uid %u)",
			    (unsigned)geteuid());
			goto fail;
		}
		spec->set_ids = spec->set_gid_only = false;
	}
	return 0;
nomem:
	*cause = strdup("out of memory");
fail:
	child_spec_free(spec);
	return -1;
}

/* Free what child_spec_init allocated. */
void
child_spec_free(struct child_spec *spec)
{
	argv_free(spec->envp);
	free(spec->path);
	free(spec->fds);
	free(spec->groups);
	free(spec->notify_unreachable);
	memset(spec, 0, sizeof(*spec));
}

/* Write "stage: strerror(errno)" to the status pipe and exit (child only). */
static void __attribute__((noreturn))
child_fail(int status_fd, const char *stage)
{
	int err = errno;
	const char *msg = strerror(err);	/* glibc: no allocation */
	struct iovec iov[3];

	iov[0].iov_base = (void *)stage;
	iov[0].iov_len = strlen(stage);
	iov[1].iov_base = (void *)": ";
	iov[1].iov_len = 2;
	iov[2].iov_base = (void *)msg;
	iov[2].iov_len = strlen(msg);
	(void)writev(status_fd, iov, 3);
	_exit(127);
}

/* Write n in decimal into buf (async-signal-safe). */
static void
child_format_pid(char *buf, pid_t n)
{
	char digits[24];
	int i = 0;

	do {
		digits[i++] = (char)('0' + n % 10);
		n /= 10;
	} while (n > 0);
	while (i > 0)
		*buf++ = digits[--i];
	*buf = '\0';
}

/*
 * Reset a signal glibc keeps for itself (32 and 33 for threads), which its
 * sigaction refuses: a supervisor started with them ignored (GNU make does
 * that) would pass them on ignored. An all-zero kernel sigaction is SIG_DFL,
 * no flags, empty mask, whatever the architecture's field order.
 */
static void
child_reset_reserved_signal(int sig)
{
	unsigned long kernel_sa[8];

	memset(kernel_sa, 0, sizeof(kernel_sa));
	(void)syscall(SYS_rt_sigaction, sig, kernel_sa, NULL, (NSIG - 1) / 8);
}

/* In the child: everything between fork and exec. Never returns. */
static void __attribute__((noreturn))
child_exec(const struct child_spec *spec, int output_fd, int status_fd)
{
	struct sigaction sa;
	sigset_t none;
	int devnull, high, sig;
	size_t i;

	setpgid(0, 0);
	/* First: whatever the worker forks from here on stays in the cgroup. */
	if (spec->cgroup_fd != -1 && write(spec->cgroup_fd, "0", 1) != 1)
		child_fail(status_fd, "join cgroup");

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	for (sig = 1; sig < NSIG; sig++)
		if (sigaction(sig, &sa, NULL) == -1 && errno == EINVAL)
			child_reset_reserved_signal(sig);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);

	/* Move the fds we keep above every target, so dup2 never clobbers. */
	high = 3 + (int)spec->nfds + 3;
	if (output_fd != -1 &&
	    (output_fd = fcntl(output_fd, F_DUPFD_CLOEXEC, high)) == -1)
		child_fail(status_fd, "fcntl");
	if ((status_fd = fcntl(status_fd, F_DUPFD_CLOEXEC, high)) == -1)
		child_fail(status_fd, "fcntl");
	for (i = 0; i < spec->nfds; i++)
		if ((spec->fds[i] = fcntl(spec->fds[i], F_DUPFD_CLOEXEC, high)) == -1)
			child_fail(status_fd, "fcntl");

	if ((devnull = open("/dev/null", O_RDWR | O_CLOEXEC)) == -1)
		child_fail(status_fd, "open /dev/null");
	if (output_fd == -1)
		output_fd = devnull;	/* output = discard */
	if (dup2(devnull, 0) == -1 || dup2(output_fd, 1) == -1 ||
	    dup2(output_fd, 2) == -1)
		child_fail(status_fd, "dup2");
	for (i = 0; i < spec->nfds; i++) {
		/*
		 * dup2 to a new number clears CLOEXEC on the copy. The file
		 * status flags (O_NONBLOCK) are left alone: they belong to the
		 * open file description that every worker of every generation
		 * shares, so changing them here would change them under the
		 * running workers too.
		 */
		if (dup2(spec->fds[i], 3 + (int)i) == -1)
			child_fail(status_fd, "dup2");
	}
	/* Everything else is CLOEXEC or closed here: close all but status_fd. */
	if (syscall(SYS_close_range, 3 + spec->nfds, status_fd - 1, 0) == -1 ||
	    syscall(SYS_close_range, status_fd + 1, ~0U, 0) == -1) {
		long max = sysconf(_SC_OPEN_MAX);
		for (sig = 3 + (int)spec->nfds; sig < max; sig++)
			if (sig != status_fd)
				close(sig);
	}

	if (child_nofile_raised)
		(void)setrlimit(RLIMIT_NOFILE, &child_nofile);

	if (spec->listen_pid_slot >= 0)
		child_format_pid(spec->envp[spec->listen_pid_slot] +
		    strlen("LISTEN_PID="), getpid());

	if (spec->directory != NULL && chdir(spec->directory) == -1)
		child_fail(status_fd, "chdir");
	if (spec->set_ids) {
		if (setgroups((size_t)spec->ngroups, spec->groups) == -1)
			child_fail(status_fd, "setgroups");
		if (setgid(spec->gid) == -1)
			child_fail(status_fd, "setgid");
		if (setuid(spec->uid) == -1)
			child_fail(status_fd, "setuid");
		if (spec->notify_socket != NULL &&
		    access(spec->notify_socket, W_OK) == -1)
			child_fail(status_fd, spec->notify_unreachable);
	} else if (spec->set_gid_only) {
		if (geteuid() == 0 && setgroups(1, &spec->gid) == -1)
			child_fail(status_fd, "setgroups");
		if (setgid(spec->gid) == -1)
			child_fail(status_fd, "setgid");
	}
	execve(spec->path, spec->argv, spec->envp);
	child_fail(status_fd, "exec");
}

/*
 * Fork and exec a worker. On success fills proc: the caller owns
 * proc->output_fd (-1 when the output is discarded) and proc->status_fd
 * (both CLOEXEC, non-blocking).
 */
int
child_spawn(const struct child_spec *spec, struct child_proc *proc, char **cause)
{
	int outp[2] = { -1, -1 }, statp[2];
	sigset_t all, old;
	pid_t pid;

	if (!spec->discard_output && pipe2(outp, O_CLOEXEC) == -1) {
		asprintf(cause, "pipe: %s", strerror(errno));
		return -1;
	}
	if (pipe2(statp, O_CLOEXEC) == -1) {
		asprintf(cause, "pipe: %s", strerror(errno));
		if (outp[0] != -1) {
			close(outp[0]);
			close(outp[1]);
		}
		return -1;
	}
	/* No signal handler may run in the child before it resets them. */
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	pid = fork();
	if (pid == 0) {
		if (outp[0] != -1)
			close(outp[0]);
		close(statp[0]);
		child_exec(spec, outp[1], statp[1]);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (outp[1] != -1)
		close(outp[1]);
	close(statp[1]);
	if (pid == -1) {
		asprintf(cause, "fork: %s", strerror(errno));
		if (outp[0] != -1)
			close(outp[0]);
		close(statp[0]);
		return -1;
	}
	/* Also here, so signals to the group work before the child runs. */
	setpgid(pid, pid);
	if (outp[0] != -1)
		fcntl(outp[0], F_SETFL, O_NONBLOCK);
	fcntl(statp[0], F_SETFL, O_NONBLOCK);
	proc->pid = pid;
	proc->output_fd = outp[0];
	proc->status_fd = statp[0];
	return 0;
}

/*
 * Read the status pipe: returns 0 at EOF (the exec happened), 1 with an
 * error text in buf ("exec: No such file or directory"), -1 if nothing can
 * be told yet (EAGAIN).
 */
int
child_read_status(int fd, char *buf, size_t len)
{
	ssize_t n;

	n = read(fd, buf, len - 1);
	if (n == -1)
		return errno == EAGAIN || errno == EINTR ? -1 : 0;
	if (n == 0)
		return 0;
	buf[n] = '\0';
	return 1;
}
