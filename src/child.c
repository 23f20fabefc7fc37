/*
 * child.c: start one worker.
 *
 * Everything that allocates is done before the child exists, in
 * child_spec_init: the resolved path, the environment, the supplementary
 * groups. The child is started with clone(CLONE_VM), as posix_spawn starts
 * one: it shares the supervisor's memory, so starting it copies no page
 * table. Where it can (x86-64, Linux 5.9, not under valgrind), the
 * supervisor goes on at once: the start is "in flight" until the child
 * exec'd or exited. The child then works from a copy of its spec, on a
 * stack of its own (one of CHILD_SLOTS; a start that finds them all taken
 * waits until one is free), and makes raw system calls, which leave the
 * supervisor's errno alone; its exec-status pipe's write end, CLOEXEC and
 * the child's only, tells the supervisor (end-of-file) that it is done with
 * that memory, and a step that failed is left in it (child_flight_settle
 * tells child_watch's callback, and the child exits 127). Elsewhere it is
 * started with CLONE_VFORK too, and the supervisor waits until it exec'd or
 * exited. Between clone and exec it makes system calls only:
 *
 *	own process group; into the generation's cgroup, if it has one;
 *	signal dispositions reset and mask cleared;
 *	stdin from /dev/null, stdout and stderr to the supervisor's pipe;
 *	listeners moved to fds 3, 4, ... (without CLOEXEC; non-blocking, as
 *	the supervisor bound them) and every other fd closed;
 *	LISTEN_PID written with the child's own pid;
 *	chdir; setgroups, setgid, setuid in that order; exec.
 *
 * The fd table is not copied either, so that a start costs the same
 * whatever the supervisor holds (a socket per listener, a pipe per
 * worker): the child also shares the supervisor's fd table
 * (CLONE_FILES), takes a private one holding only the fds up to the
 * receiving end of its slot's socket pair, which the supervisor keeps
 * (made at its start, so low), with close_range(CLOSE_RANGE_UNSHARE),
 * moves that end to its fd 0, closes everything from 3 on and receives its
 * listeners, its output pipe and, in flight, its exec-status pipe's write
 * end over it (SCM_RIGHTS: they arrive at 3, 4, ... in order). The
 * supervisor's own fds are never touched, and a start that waits needs no
 * fd of the supervisor's but the output pipe (one in flight needs its
 * status pipe too, and waits where there is no fd for it). Where that
 * cannot be done (a kernel before 5.9, valgrind, which runs such a child
 * as a fork, or the socket refused the fds), the child gets a copy of the
 * whole table and closes what it must not keep, and the start waits.
 *
 * A failure in the child (the step and errno) is left in memory both
 * share: child_spawn returns it for a start that waited, child_watch's
 * callback is told of it for one in flight.
 */
#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <linux/sched.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "cause.h"
#include "child.h"
#include "config.h"
#include "expand.h"
#include "fdpass.h"
#include "listener.h"
#include "preload/match.h"
#include "procfs.h"

#ifndef CLOSE_RANGE_UNSHARE
#define CLOSE_RANGE_UNSHARE	(1U << 1)
#endif

extern char **environ;

/* The fd limit the supervisor was started with, restored in workers. */
static struct rlimit	child_nofile;
static bool		child_nofile_raised;

/*
 * Raise the supervisor's own soft fd limit to the hard one (it holds a
 * pipe per worker and a socket per control client); workers get the limit
 * the supervisor was started with, as if it had not been there.
 */
static void
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

/* An environment being built: its entries one after another, each ended by NUL. */
struct child_env {
	char		*text;
	size_t		 len;
	size_t		 cap;
	size_t		 n;		/* entries */
};

/* Append a formatted entry to an environment being built. */
static int
child_env_add(struct child_env *env, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int
child_env_add(struct child_env *env, const char *fmt, ...)
{
	va_list ap;
	char *grown;
	size_t cap;
	int rc;

	for (;;) {
		va_start(ap, fmt);
		rc = vsnprintf(env->text + env->len, env->cap - env->len, fmt, ap);
		va_end(ap);
		if (rc < 0)
			return -1;
		if ((size_t)rc < env->cap - env->len)
			break;
		cap = env->cap * 2 + (size_t)rc + 1;
		if ((grown = realloc(env->text, cap)) == NULL)
			return -1;
		env->text = grown;
		env->cap = cap;
	}
	env->len += (size_t)rc + 1;
	env->n++;
	return 0;
}

/* Append len bytes to the entry being built in env; -1 if out of memory. */
static int
child_env_put(struct child_env *env, const char *text, size_t len)
{
	char *grown;
	size_t cap;

	if (len + 1 > env->cap - env->len) {
		cap = env->cap * 2 + len + 1;
		if ((grown = realloc(env->text, cap)) == NULL)
			return -1;
		env->text = grown;
		env->cap = cap;
	}
	memcpy(env->text + env->len, text, len);
	env->len += len;
	return 0;
}

/* Append a string to the entry being built in env. */
static int
child_env_put_str(struct child_env *env, const char *text)
{
	return child_env_put(env, text, strlen(text));
}

/* Append a number in decimal to the entry being built in env. */
static int
child_env_put_size(struct child_env *env, size_t value)
{
	char digits[24], *p = digits + sizeof(digits);

	do
		*--p = (char)('0' + value % 10);
	while ((value /= 10) != 0);
	return child_env_put(env, p, (size_t)(digits + sizeof(digits) - p));
}

/* End the entry being built in env (child_env_put made room for its NUL). */
static void
child_env_end(struct child_env *env)
{
	env->text[env->len++] = '\0';
	env->n++;
}

/* Append an entry that is a string as it is. */
static int
child_env_add_str(struct child_env *env, const char *entry)
{
	if (child_env_put_str(env, entry) == -1)
		return -1;
	child_env_end(env);
	return 0;
}

/*
 * The array execve takes, made from env in one allocation (the pointers,
 * then the text): free() frees it all. NULL when out of memory.
 */
static char **
child_env_finish(const struct child_env *env)
{
	char **envp, *text;
	size_t i;

	if ((envp = malloc((env->n + 1) * sizeof(*envp) + env->len)) == NULL)
		return NULL;
	text = (char *)(envp + env->n + 1);
	memcpy(text, env->text, env->len);
	for (i = 0; i < env->n; i++) {
		envp[i] = text;
		text += strlen(text) + 1;
	}
	envp[env->n] = NULL;
	return envp;
}

/* The %-escapes of pc's command, env and directory for one worker. */
static struct expand_vars
child_expand_vars(const struct program_conf *pc, unsigned int generation,
    int worker)
{
	struct expand_vars vars = { pc->name, generation, worker };

	return vars;
}

/* Add an env = entry of pc, its %-escapes expanded. */
static int
child_env_add_conf(struct child_env *env, const struct program_conf *pc,
    const char *entry, unsigned int generation, int worker)
{
	struct expand_vars vars = child_expand_vars(pc, generation, worker);
	char *text;
	int rc;

	if (!pc->expand)
		return child_env_add_str(env, entry);
	if ((text = expand_string(entry, &vars)) == NULL)
		return -1;
	rc = child_env_add_str(env, text);
	free(text);
	return rc;
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
 * The bind() shim's variables (preload = yes, the shim's path in
 * preload): LD_PRELOAD with the shim after any library the user preloads
 * (user_preload, from env = or the supervisor's environment: ASan's
 * runtime must come first), and for the shim alone the self-mode
 * addresses and, with ready = listening, where to say it listens.
 */
static int
child_env_preload(struct child_env *env, const struct program_conf *pc,
    const char *preload, const char *user_preload, const char *notify_socket)
{
	struct match_addr addrs[MAX_LISTENERS_PER_PROGRAM];
	char text[MATCH_ADDRS_TEXT_MAX];
	size_t i;

	if (child_env_put_str(env, "LD_PRELOAD=") == -1 ||
	    (user_preload != NULL && *user_preload != '\0' &&
	    (child_env_put_str(env, user_preload) == -1 ||
	    child_env_put(env, ":", 1) == -1)) ||
	    child_env_put_str(env, preload) == -1)
		return -1;
	child_env_end(env);
	if (notify_socket != NULL && pc->ready == READY_LISTENING &&
	    child_env_add(env, MATCH_ENV_NOTIFY "=%s", notify_socket) == -1)
		return -1;
	if (pc->handoff != HANDOFF_SELF || pc->nlisteners == 0)
		return 0;
	for (i = 0; i < pc->nlisteners && i < MAX_LISTENERS_PER_PROGRAM; i++) {
		addrs[i].index = (int)i;
		addrs[i].type = addr_socktype(&pc->listeners[i]->addr);
		addrs[i].len = pc->listeners[i]->addr.len;
		addrs[i].ss = pc->listeners[i]->addr.ss;
	}
	if (match_encode_addrs(addrs, i, text, sizeof(text)) == -1)
		return -1;
	return child_env_add(env, MATCH_ENV_SELF "=%s", text);
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
 * With preload (the shim's path, preload = yes): LD_PRELOAD and the
 * shim's own variables (child_env_preload); notify_socket is then the
 * shim's with ready = listening, NOTIFY_SOCKET only with ready = notify.
 * LISTEN_PID= is left with room for the pid, which the child writes; its
 * index is stored in *listen_pid_slot. The result is one allocation, freed
 * with free(). Returns NULL when out of memory.
 */
char **
child_env_build(const struct program_conf *pc, struct listener **ls,
    size_t nls, unsigned int generation, int worker,
    const char *notify_socket, const char *preload, int *listen_pid_slot)
{
	struct child_env env = { NULL, 0, 0, 0 };
	const char *user_preload = NULL;
	char **envp = NULL;
	size_t i, ports;
	char **var;

	*listen_pid_slot = -1;
	env.cap = 4096;
	if ((env.text = malloc(env.cap)) == NULL)
		return NULL;
	for (var = environ; *var != NULL; var++) {
		if (config_env_is_protocol(*var) || child_env_overridden(pc, *var))
			continue;
		if (preload != NULL && strncmp(*var, "LD_PRELOAD=", 11) == 0) {
			user_preload = *var + 11;
			continue;
		}
		if (child_env_add_str(&env, *var) == -1)
			goto done;
	}
	for (i = 0; i < pc->nenv; i++) {
		if (preload != NULL &&
		    strncmp(pc->env[i], "LD_PRELOAD=", 11) == 0) {
			user_preload = pc->env[i] + 11;
			continue;
		}
		if (child_env_add_conf(&env, pc, pc->env[i], generation,
		    worker) == -1)
			goto done;
	}
	if (preload != NULL && child_env_preload(&env, pc, preload,
	    user_preload, notify_socket) == -1)
		goto done;

	if (nls > 0) {
		if (child_env_add(&env, "LISTEN_FDS=%zu", nls) == -1)
			goto done;
		/* Room for the pid: the child writes it after clone. */
		if (child_env_add(&env, "%-*s", (int)LISTEN_PID_LEN - 1,
		    "LISTEN_PID=") == -1)
			goto done;
		*listen_pid_slot = (int)env.n - 1;
		if (child_env_put_str(&env, "LISTEN_FDNAMES=") == -1)
			goto done;
		for (i = 0; i < nls; i++) {
			/*
			 * The name from this generation's own config: a kept
			 * socket takes a new fd_name only when the reload
			 * that renames it commits, after this spawn.
			 */
			if ((i > 0 && child_env_put(&env, ":", 1) == -1) ||
			    child_env_put_str(&env,
			    pc->listeners[i]->fd_name) == -1)
				goto done;
		}
		child_env_end(&env);
		/* Server::Starter knows stream sockets only. */
		for (i = 0, ports = 0; i < nls; i++) {
			if (addr_socktype(&ls[i]->addr) != SOCK_STREAM ||
			    addr_is_abstract(&ls[i]->addr))
				continue;
			if (child_env_put_str(&env, ports++ == 0 ?
			    "SERVER_STARTER_PORT=" : ";") == -1 ||
			    child_env_put_str(&env, ls[i]->bound) == -1 ||
			    child_env_put(&env, "=", 1) == -1 ||
			    child_env_put_size(&env, 3 + i) == -1)
				goto done;
		}
		if (ports > 0)
			child_env_end(&env);
		if (child_env_add(&env, "EINHORN_FD_COUNT=%zu", nls) == -1)
			goto done;
		for (i = 0; i < nls; i++) {
			if (child_env_put_str(&env, "EINHORN_FD_") == -1 ||
			    child_env_put_size(&env, i) == -1 ||
			    child_env_put(&env, "=", 1) == -1 ||
			    child_env_put_size(&env, 3 + i) == -1)
				goto done;
			child_env_end(&env);
		}
	}
	if (child_env_add(&env, "HANDOFF_GENERATION=%u", generation) == -1 ||
	    child_env_add(&env, "HANDOFF_WORKER=%d", worker) == -1)
		goto done;
	if (notify_socket != NULL && (preload == NULL ||
	    pc->ready == READY_NOTIFY) &&
	    child_env_add(&env, "NOTIFY_SOCKET=%s", notify_socket) == -1)
		goto done;
	envp = child_env_finish(&env);
done:
	free(env.text);
	if (envp == NULL)
		*listen_pid_slot = -1;
	return envp;
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
			cause_set(cause, "cannot run %s: %s", candidate,
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
	cause_set(cause, "cannot run %s: not found in PATH (%s)", argv0, path);
	return NULL;
}

/*
 * Where a worker of pc finds the command name (its argv[0], or a name its
 * script runs): as the worker's exec would, in the PATH the worker gets.
 * Malloc'd, or NULL with *cause.
 */
char *
child_find_command(const struct program_conf *pc, const char *name,
    char **cause)
{
	char *envp[2] = { NULL, NULL };
	size_t i;

	for (i = 0; i < pc->nenv; i++)
		if (strncmp(pc->env[i], "PATH=", 5) == 0)
			envp[0] = pc->env[i];
	for (i = 0; envp[0] == NULL && environ[i] != NULL; i++)
		if (strncmp(environ[i], "PATH=", 5) == 0)
			envp[0] = environ[i];
	return child_resolve_path(name, pc->directory, envp, cause);
}

/*
 * Prepare everything a worker needs before clone. preload is the bind()
 * shim's path for preload = yes, else NULL.
 */
int
child_spec_init(struct child_spec *spec, const struct program_conf *pc,
    struct listener **ls, size_t nls, unsigned int generation, int worker,
    const char *notify_socket, const char *preload, char **cause)
{
	struct expand_vars vars;
	struct passwd *pw;
	size_t i;
	int n;

	memset(spec, 0, sizeof(*spec));
	spec->cgroup_fd = -1;
	spec->cgroup_dir_fd = -1;
	spec->argv = pc->argv;
	spec->directory = pc->directory;
	spec->discard_output = pc->output == OUTPUT_DISCARD;
	spec->envp = child_env_build(pc, ls, nls, generation, worker,
	    notify_socket, preload, &spec->listen_pid_slot);
	if (spec->envp == NULL) {
		*cause = strdup("out of memory");
		return -1;
	}
	if (pc->expand) {
		vars = child_expand_vars(pc, generation, worker);
		if ((spec->own_argv = expand_argv(pc->argv, &vars)) == NULL ||
		    (pc->directory != NULL && (spec->own_directory =
		    expand_string(pc->directory, &vars)) == NULL))
			goto nomem;
		spec->argv = spec->own_argv;
		if (spec->own_directory != NULL)
			spec->directory = spec->own_directory;
	}
	if ((spec->path = child_resolve_path(spec->argv[0], spec->directory,
	    spec->envp, cause)) == NULL)
		goto fail;
	if ((spec->fds = calloc(nls + 1, sizeof(*spec->fds))) == NULL)
		goto nomem;
	for (i = 0; i < nls; i++)
		spec->fds[i] = listener_slot_fd(ls[i], (unsigned int)worker);
	spec->nfds = nls;

	if (pc->user != NULL) {
		spec->set_ids = true;
		spec->uid = pc->uid;
		spec->gid = pc->gid;
		/* Supplementary groups of the user, computed now (not after clone). */
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
		/* ld.so would run the program without a shim it cannot read. */
		spec->preload = preload;
		if (preload != NULL && asprintf(&spec->preload_unreadable,
		    "uid %u cannot read the preload shim %s (the dynamic loader "
		    "would run the program without it; make it and every "
		    "directory above it readable by that user)",
		    (unsigned)pc->uid, preload) == -1) {
			spec->preload_unreadable = NULL;
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
			cause_set(cause, "user = and group = need the supervisor "
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
	free(spec->envp);
	free(spec->own_argv);
	free(spec->own_directory);
	free(spec->path);
	free(spec->fds);
	free(spec->groups);
	free(spec->notify_unreachable);
	free(spec->preload_unreadable);
	memset(spec, 0, sizeof(*spec));
}

/*
 * The child's side, from clone to exec. It runs on its slot's stack, in
 * the supervisor's memory (CLONE_VM), either while the supervisor waits
 * (CLONE_VFORK) or beside it (a start in flight, below): it makes system
 * calls only, raw ones where it runs beside the supervisor (no glibc
 * wrapper that takes a lock, broadcasts to threads, is intercepted by a
 * sanitizer or sets errno, which is the supervisor's), on memory prepared
 * before clone, and writes nothing of the supervisor's but its own struct
 * child_run and the LISTEN_PID slot of its spec's envp.
 */
#define CHILD_SIDE	__attribute__((no_sanitize("address", "undefined")))

#define CHILD_STACK_SIZE	(64 * 1024)

/*
 * A system call from the child: its result, or -errno. On x86-64 it is
 * made in assembly, so that it writes no errno; elsewhere through
 * syscall(), and children start only with CLONE_VFORK (errno is then the
 * supervisor's only once the child is gone).
 */
#if defined(__x86_64__)
#define CHILD_HAVE_RAW_SYSCALL	1

static inline long CHILD_SIDE
child_syscall6(long nr, long a, long b, long c, long d, long e, long f)
{
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;
	long ret;

	__asm__ volatile("syscall"
	    : "=a"(ret)
	    : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
	    : "rcx", "r11", "memory");
	return ret;
}
#else
static long CHILD_SIDE
child_syscall6(long nr, long a, long b, long c, long d, long e, long f)
{
	long rc = syscall(nr, a, b, c, d, e, f);

	return rc == -1 ? -errno : rc;
}
#endif

#define CHILD_SYS(...)	CHILD_SYS_(__VA_ARGS__, 0, 0, 0, 0, 0, 0)
#define CHILD_SYS_(nr, a, b, c, d, e, f, ...)				\
	child_syscall6((long)(nr), (long)(a), (long)(b), (long)(c),	\
	    (long)(d), (long)(e), (long)(f))

/* Room for one message of fds sent to the child. */
union child_control {
	struct cmsghdr	hdr;
	char		buf[CMSG_SPACE(FDPASS_MAX * sizeof(int))];
};

/* What the child works from, and where it reports a failure. */
struct child_run {
	const struct child_spec *spec;
	int		 output_fd;	/* write end of the output pipe, or -1 */
	int		 high;		/* above every fd the child must keep */
	bool		 shared_fds;	/* CLONE_FILES: unshare, receive on sock */
	bool		 in_cgroup;	/* started in spec's cgroup (clone3) */
	bool		 in_flight;	/* beside the supervisor: it sent the
					   exec-status pipe's write end last */
	int		 sock;		/* the pair's receiving end, if shared */
	size_t		 nsent;		/* fds sent: spec->fds, output, status */
	uint32_t	 serial;	/* in every message sent for this child */
	volatile bool	 ran;		/* the child ran in this memory */
	const char * volatile stage;	/* what failed ("exec"), or NULL */
	volatile int	 err;		/* its errno */
};

/*
 * A slot for one start at a time: a stack (a guard page below it) and the
 * socket pair that hands the child its fds ([0] sends, [1] is moved to fd
 * 0 in the child), made at the supervisor's start, so low (child_init).
 * A start in flight holds its slot until its child exec'd or exited.
 */
#define CHILD_SLOTS	4

/*
 * A start in flight: the child runs beside the supervisor, from memory
 * of its own (spec, run), until it exec'd or exited, which the exec-status
 * pipe tells: its write end, CLOEXEC, is the child's only, so it reads
 * end-of-file then. Until it is settled the slot stays taken.
 */
struct child_flight {
	pid_t		 pid;		/* 0: none in flight */
	int		 exec_fd;	/* the pipe's read end */
	struct event	*ev;		/* exec_fd readable, or NULL */
	struct child_spec spec;		/* what the child reads: a copy */
	char		*block;		/* holding what spec points to */
	struct child_run run;
};

static struct child_slot {
	char		*stack;		/* its top, or NULL until mapped */
	int		 sock[2];
	struct child_flight flight;
} child_slots[CHILD_SLOTS] = {
	{ NULL, { -1, -1 }, { 0, -1, NULL, { 0 }, NULL, { 0 } } },
	{ NULL, { -1, -1 }, { 0, -1, NULL, { 0 }, NULL, { 0 } } },
	{ NULL, { -1, -1 }, { 0, -1, NULL, { 0 }, NULL, { 0 } } },
	{ NULL, { -1, -1 }, { 0, -1, NULL, { 0 }, NULL, { 0 } } },
};

/* The loop that watches starts in flight, or NULL (they settle when asked). */
static struct event_base *child_base;

/* Told of a start in flight whose child could not exec. */
static child_failed_fn	 child_failed_cb;
static void		*child_failed_arg;

/* Map a slot's stack, once; NULL (errno set) if it cannot be. */
static char *
child_stack_top(struct child_slot *slot)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	char *base;

	if (slot->stack != NULL)
		return slot->stack;
	base = mmap(NULL, CHILD_STACK_SIZE + page, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (base == MAP_FAILED)
		return NULL;
	/* The stack grows down: the guard page is at the bottom. */
	if (mprotect(base, page, PROT_NONE) == -1) {
		munmap(base, CHILD_STACK_SIZE + page);
		return NULL;
	}
	slot->stack = base + page + CHILD_STACK_SIZE;
	return slot->stack;
}

/* Note what failed (err: an errno) and exit 127 (child side). */
static void CHILD_SIDE __attribute__((noreturn))
child_fail(struct child_run *run, const char *stage, long err)
{
	run->err = err > 0 ? (int)err : EINVAL;
	run->stage = stage;
	for (;;)
		(void)CHILD_SYS(SYS_exit_group, 127);
}

/* Write n in decimal into buf (child side). */
static void CHILD_SIDE
child_format_pid(char *buf, long n)
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
 * Reset every signal to SIG_DFL, ignored ones included, and unblock them
 * all (child side). A handler of the supervisor's (libevent's writes to the
 * supervisor's own socketpair) must not run in the child; a signal the
 * supervisor ignores must not stay ignored in the worker. The kernel's
 * sigaction, not glibc's, which refuses the signals it keeps for itself (32
 * and 33): an all-zero one is SIG_DFL, no flags, empty mask, whatever the
 * architecture's field order.
 */
static void CHILD_SIDE
child_reset_signals(void)
{
	unsigned long kernel_sa[8] = { 0 }, none[2] = { 0 };
	int sig;

	for (sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			(void)CHILD_SYS(SYS_rt_sigaction, sig, kernel_sa, NULL,
			    (NSIG - 1) / 8);
	(void)CHILD_SYS(SYS_rt_sigprocmask, SIG_SETMASK, none, NULL,
	    (NSIG - 1) / 8);
}

/*
 * Lay the fds out (child side): /dev/null at 0, the output pipe at 1 and 2
 * (/dev/null with output = discard), spec->fds at 3, 4, ... and nothing
 * else. Every fd kept is first parked above all of them, so no move
 * clobbers a source that sits in the target range.
 */
static void CHILD_SIDE
child_place_fds(struct child_run *run)
{
	const struct child_spec *spec = run->spec;
	int devnull, high = run->high, out;
	long rc;
	size_t i;

	devnull = (int)(rc = CHILD_SYS(SYS_openat, AT_FDCWD, "/dev/null",
	    O_RDWR | O_CLOEXEC));
	if (rc < 0)
		child_fail(run, "open /dev/null", -rc);
	if (devnull >= high)
		high = devnull + 1;
	out = run->output_fd != -1 ? run->output_fd : devnull;
	if ((rc = CHILD_SYS(SYS_dup3, devnull, high, O_CLOEXEC)) < 0 ||
	    (rc = CHILD_SYS(SYS_dup3, out, high + 1, O_CLOEXEC)) < 0)
		child_fail(run, "dup3", -rc);
	for (i = 0; i < spec->nfds; i++)
		if ((rc = CHILD_SYS(SYS_dup3, spec->fds[i], high + 2 + (int)i,
		    O_CLOEXEC)) < 0)
			child_fail(run, "dup3", -rc);
	/*
	 * dup2 to a new number clears CLOEXEC on the copy. The file status
	 * flags (O_NONBLOCK) are left alone: they belong to the open file
	 * description that every worker of every generation shares, so
	 * changing them here would change them under the running workers too.
	 */
	if ((rc = CHILD_SYS(SYS_dup3, high, 0, 0)) < 0 ||
	    (rc = CHILD_SYS(SYS_dup3, high + 1, 1, 0)) < 0 ||
	    (rc = CHILD_SYS(SYS_dup3, high + 1, 2, 0)) < 0)
		child_fail(run, "dup3", -rc);
	for (i = 0; i < spec->nfds; i++)
		if ((rc = CHILD_SYS(SYS_dup3, high + 2 + (int)i, 3 + (int)i,
		    0)) < 0)
			child_fail(run, "dup3", -rc);
	if (CHILD_SYS(SYS_close_range, 3 + spec->nfds, ~0U, 0) < 0) {
		/* A kernel before 5.9: every fd the limit allows. */
		struct rlimit rl = { 0, 0 };
		long fd;
		(void)CHILD_SYS(SYS_prlimit64, 0, RLIMIT_NOFILE, NULL, &rl);
		for (fd = 3 + (long)spec->nfds; fd < (long)rl.rlim_cur ||
		    fd <= high + 2 + (long)spec->nfds; fd++)
			(void)CHILD_SYS(SYS_close, fd);
	}
}

/*
 * Take a private fd table holding only the supervisor's fds up to the
 * socket pair's receiving end (run->sock), move that end to fd 0, close
 * every fd from 3 on, and receive the fds the supervisor sent: spec->fds
 * land at 3, 4, ... in order, the output pipe after them, and last, for a
 * start in flight, the exec-status pipe's write end (child side). Then lay
 * them out as child_place_fds does; the status pipe's end stays just
 * above the listeners, CLOEXEC, until the exec closes it.
 */
static void CHILD_SIDE
child_receive_fds(struct child_run *run)
{
	const struct child_spec *spec = run->spec;
	union child_control control;	/* on the child's own stack */
	struct cmsghdr *cm;
	struct msghdr mh;
	struct iovec iov;
	size_t got = 0, n;
	uint32_t serial;
	int devnull, out, status, above = 3 + (int)spec->nfds;
	long rc;

	/* From here on the supervisor's table is out of reach. */
	if ((rc = CHILD_SYS(SYS_close_range, run->nsent > 0 && run->sock >= 3 ?
	    (unsigned int)run->sock + 1 : 3U, ~0U, CLOSE_RANGE_UNSHARE)) < 0)
		child_fail(run, "close_range", -rc);
	if (run->nsent > 0 && run->sock != 0 &&
	    (rc = CHILD_SYS(SYS_dup3, run->sock, 0, 0)) < 0)
		child_fail(run, "dup3", -rc);
	if ((rc = CHILD_SYS(SYS_close_range, 3, ~0U, 0)) < 0)
		child_fail(run, "close_range", -rc);
	while (got < run->nsent) {
		iov.iov_base = &serial;
		iov.iov_len = sizeof(serial);
		mh.msg_name = NULL;
		mh.msg_namelen = 0;
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = control.buf;
		mh.msg_controllen = sizeof(control.buf);
		mh.msg_flags = 0;
		rc = CHILD_SYS(SYS_recvmsg, 0, &mh, 0);
		if (rc == -EINTR)
			continue;
		/* Fds left by a child that did not exec are not ours. */
		cm = rc == sizeof(serial) && serial == run->serial ?
		    CMSG_FIRSTHDR(&mh) : NULL;
		if (cm == NULL || (mh.msg_flags & MSG_CTRUNC) ||
		    cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			child_fail(run, "receive the listeners",
			    rc < 0 ? -rc : EPROTO);
		n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		/* Each lands on the lowest free fd: 3 + got, in order. */
		if (n == 0 || got + n > run->nsent ||
		    *(int *)(void *)CMSG_DATA(cm) != 3 + (int)got)
			child_fail(run, "receive the listeners", EPROTO);
		got += n;
	}
	devnull = (int)(rc = CHILD_SYS(SYS_openat, AT_FDCWD, "/dev/null",
	    O_RDWR | O_CLOEXEC));
	if (rc < 0)
		child_fail(run, "open /dev/null", -rc);
	out = run->output_fd != -1 ? above : devnull;
	if ((rc = CHILD_SYS(SYS_dup3, devnull, 0, 0)) < 0 ||
	    (rc = CHILD_SYS(SYS_dup3, out, 1, 0)) < 0 ||
	    (rc = CHILD_SYS(SYS_dup3, out, 2, 0)) < 0)
		child_fail(run, "dup3", -rc);
	if (run->in_flight) {
		/* Sent last: at 3 + nsent - 1. It closes at the exec. */
		status = 3 + (int)run->nsent - 1;
		if ((rc = status != above ?
		    CHILD_SYS(SYS_dup3, status, above, O_CLOEXEC) :
		    CHILD_SYS(SYS_fcntl, status, F_SETFD, FD_CLOEXEC)) < 0)
			child_fail(run, "dup3", -rc);
		above++;
	}
	if ((rc = CHILD_SYS(SYS_close_range, above, ~0U, 0)) < 0)
		child_fail(run, "close_range", -rc);
}

/* setgroups, setgid and setuid: 32-bit ids on every architecture. */
#ifdef SYS_setgroups32
#define CHILD_SYS_SETGROUPS	SYS_setgroups32
#define CHILD_SYS_SETGID	SYS_setgid32
#define CHILD_SYS_SETUID	SYS_setuid32
#else
#define CHILD_SYS_SETGROUPS	SYS_setgroups
#define CHILD_SYS_SETGID	SYS_setgid
#define CHILD_SYS_SETUID	SYS_setuid
#endif

/*
 * Drop privileges (child side), with the system calls themselves: glibc's
 * wrappers would tell every thread of the supervisor to change its ids too.
 */
static void CHILD_SIDE
child_drop_privileges(struct child_run *run)
{
	const struct child_spec *spec = run->spec;
	long rc;

	if (spec->set_ids) {
		if ((rc = CHILD_SYS(CHILD_SYS_SETGROUPS, spec->ngroups,
		    spec->groups)) < 0)
			child_fail(run, "setgroups", -rc);
		if ((rc = CHILD_SYS(CHILD_SYS_SETGID, spec->gid)) < 0)
			child_fail(run, "setgid", -rc);
		if ((rc = CHILD_SYS(CHILD_SYS_SETUID, spec->uid)) < 0)
			child_fail(run, "setuid", -rc);
		/* As the user now: can it reach the notify socket? */
		if (spec->notify_socket != NULL && (rc = CHILD_SYS(SYS_faccessat,
		    AT_FDCWD, spec->notify_socket, W_OK)) < 0)
			child_fail(run, spec->notify_unreachable, -rc);
		if (spec->preload != NULL && (rc = CHILD_SYS(SYS_faccessat,
		    AT_FDCWD, spec->preload, R_OK)) < 0)
			child_fail(run, spec->preload_unreadable, -rc);
	} else if (spec->set_gid_only) {
		/* Only root gets here (child_spec_init). */
		if ((rc = CHILD_SYS(CHILD_SYS_SETGROUPS, 1, &spec->gid)) < 0)
			child_fail(run, "setgroups", -rc);
		if ((rc = CHILD_SYS(CHILD_SYS_SETGID, spec->gid)) < 0)
			child_fail(run, "setgid", -rc);
	}
}

/* The child, from clone to exec: exits 127 if it cannot exec. */
static int CHILD_SIDE
child_main(void *arg)
{
	struct child_run *run = arg;
	const struct child_spec *spec = run->spec;
	long rc;

	run->ran = true;
	(void)CHILD_SYS(SYS_setpgid, 0, 0);
	/*
	 * First: whatever the worker forks from here on stays in the cgroup.
	 * (A start in flight is started in its cgroup, never here: the fd
	 * table it shares could have lost cgroup_fd by now.)
	 */
	if (spec->cgroup_fd != -1 && !run->in_cgroup && !run->in_flight &&
	    (rc = CHILD_SYS(SYS_write, spec->cgroup_fd, "0", 1)) != 1)
		child_fail(run, "join cgroup", rc < 0 ? -rc : EIO);
	child_reset_signals();
	if (run->shared_fds)
		child_receive_fds(run);
	else
		child_place_fds(run);
	if (child_nofile_raised)
		(void)CHILD_SYS(SYS_prlimit64, 0, RLIMIT_NOFILE, &child_nofile,
		    NULL);
	if (spec->listen_pid_slot >= 0)
		child_format_pid(spec->envp[spec->listen_pid_slot] +
		    strlen("LISTEN_PID="), CHILD_SYS(SYS_getpid));
	if (spec->directory != NULL &&
	    (rc = CHILD_SYS(SYS_chdir, spec->directory)) < 0)
		child_fail(run, "chdir", -rc);
	child_drop_privileges(run);
	rc = CHILD_SYS(SYS_execve, spec->path, spec->argv, spec->envp);
	child_fail(run, "exec", -rc);
}

/*
 * Whether this process runs under valgrind (its preload is in place),
 * which runs a child started with CLONE_VM | CLONE_VFORK as a fork: what
 * the child writes to memory never reaches this process.
 */
bool
child_under_valgrind(void)
{
	const char *preload = getenv("LD_PRELOAD");

	return preload != NULL && strstr(preload, "vgpreload") != NULL;
}

/* Whether children share the fd table (1), not (0), or not decided (-1). */
static int	child_sharing = -1;

/*
 * Let children share the supervisor's fd table, or make each take a copy
 * (on: decided by what the system allows, as at start).
 */
void
child_share_fds(bool on)
{
	child_sharing = on ? -1 : 0;
}

/*
 * Tell whether a child may share the fd table: close_range with
 * CLOSE_RANGE_UNSHARE exists (Linux 5.9), fds 1 and 2 are open, and no
 * valgrind, which cannot run a child with CLONE_VM | CLONE_VFORK |
 * CLONE_FILES. Decided once.
 */
static bool
child_can_share_fds(void)
{
	/* Fds 1 and 2 open: what the child receives lands at 3, 4, ... */
	if (child_sharing == -1)
		child_sharing = !child_under_valgrind() &&
		    syscall(SYS_close_range, ~0U, ~0U, 0) == 0 &&
		    fcntl(1, F_GETFD) != -1 && fcntl(2, F_GETFD) != -1;
	return child_sharing == 1;
}

/*
 * Starting a child inside its cgroup: clone3 with CLONE_INTO_CGROUP
 * (Linux 5.7). A child that writes itself into cgroup.procs instead makes
 * the kernel take the cgroup threadgroup lock for writing, which waits for
 * an RCU grace period whenever no migration ran just before: 10 to 30 ms
 * of a reload's time on an idle host, the supervisor waiting all along
 * (CLONE_VFORK). A child started in the cgroup moves nowhere. The child
 * runs on its own stack from inside the system call, so the call is made
 * in assembly, here for x86-64; elsewhere children join by cgroup.procs.
 */
#if defined(__x86_64__) && defined(SYS_clone3) && defined(CLONE_INTO_CGROUP)
#define CHILD_HAVE_CLONE3	1

/*
 * clone3(args): in the child, on args->stack, run fn(arg) and exit with
 * its value; in the caller, return the child's pid or -errno.
 */
static long
child_clone3(struct clone_args *args, int (*fn)(void *), void *arg)
{
	register long ret __asm__("rax") = SYS_clone3;
	register struct clone_args *a __asm__("rdi") = args;
	register size_t size __asm__("rsi") = sizeof(*args);
	register int (*f)(void *) __asm__("r12") = fn;
	register void *x __asm__("r13") = arg;

	/* syscall keeps every register but rax, rcx and r11. */
	__asm__ volatile(
	    "syscall\n\t"
	    "test %%rax, %%rax\n\t"
	    "jnz 1f\n\t"
	    "xor %%ebp, %%ebp\n\t"
	    "and $-16, %%rsp\n\t"
	    "mov %%r13, %%rdi\n\t"
	    "call *%%r12\n\t"
	    "mov %%eax, %%edi\n\t"
	    "mov %[exit_nr], %%eax\n\t"
	    "syscall\n\t"
	    "hlt\n"
	    "1:\n\t"
	    : "+r"(ret)
	    : "r"(a), "r"(size), "r"(f), "r"(x), [exit_nr] "i"(SYS_exit)
	    : "rcx", "r11", "memory", "cc");
	return ret;
}
#endif

/* Whether clone3 may start children in their cgroup: 1, 0, -1 undecided. */
static int	child_into_cgroup = -1;

/*
 * Let children start inside their cgroup where the system allows it, or
 * make each join it by cgroup.procs (off).
 */
void
child_start_in_cgroup(bool on)
{
	child_into_cgroup = on ? -1 : 0;
}

/* Whether starts may go in flight: 0 not, -1 where the system allows. */
static int	child_flying = -1;

/*
 * Let starts go in flight (the supervisor goes on while the child gets to
 * its exec) where the system allows it, or make each wait (off).
 */
void
child_start_in_flight(bool on)
{
	child_flying = on ? -1 : 0;
}

/*
 * Tell whether a start may go in flight: the child makes raw system calls
 * and starts with clone3 (x86-64), and children share the fd table (which
 * rules valgrind out: it runs only CLONE_VFORK children of CLONE_VM).
 */
static bool
child_can_fly(void)
{
#if defined(CHILD_HAVE_RAW_SYSCALL) && defined(CHILD_HAVE_CLONE3)
	return child_flying != 0 && child_can_share_fds();
#else
	return false;
#endif
}

/*
 * Start the child on stack: with clone3, into spec->cgroup_dir_fd where
 * it can be used, else clone (the child then joins its cgroup by
 * cgroup.procs). A start in flight (no CLONE_VFORK) is made with clone3
 * only, into its cgroup if it has one. flags hold no exit signal: it is
 * SIGCHLD. Returns the pid, or -1 and errno (ENOSYS: a start in flight
 * cannot be made here; start it with CLONE_VFORK).
 */
static pid_t
child_clone(struct child_run *run, int flags, char *stack)
{
#ifdef CHILD_HAVE_CLONE3
	struct clone_args args;
	bool into;
	long rc;

	if (child_into_cgroup == -1)
		child_into_cgroup = !child_under_valgrind();
	into = run->spec->cgroup_dir_fd != -1 && child_into_cgroup == 1;
	/* In flight, a child that would have to join by cgroup.procs waits. */
	if (run->in_flight && run->spec->cgroup_fd != -1 && !into) {
		errno = ENOSYS;
		return -1;
	}
	if (into || run->in_flight) {
		memset(&args, 0, sizeof(args));
		args.flags = (uint64_t)(unsigned int)flags |
		    (into ? CLONE_INTO_CGROUP : 0);
		args.exit_signal = SIGCHLD;
		args.stack = (uint64_t)(uintptr_t)(stack - CHILD_STACK_SIZE);
		args.stack_size = CHILD_STACK_SIZE;
		args.cgroup = into ? (uint64_t)run->spec->cgroup_dir_fd : 0;
		run->in_cgroup = into;
		if ((rc = child_clone3(&args, child_main, run)) > 0)
			return (pid_t)rc;
		run->in_cgroup = false;
		/*
		 * Out of processes or memory (a pids.max of the cgroup
		 * included, which a move into it would not enforce): that
		 * is the start's failure.
		 */
		if (rc == -EAGAIN || rc == -ENOMEM) {
			errno = (int)-rc;
			return -1;
		}
		/*
		 * No clone3 (an old kernel, a seccomp filter: ENOSYS or
		 * EPERM), or none that knows CLONE_INTO_CGROUP: never again
		 * (a security module's EPERM for one cgroup turns it off
		 * too; starts then join by cgroup.procs, as elsewhere). Any
		 * other refusal is the cgroup's, and the child's write to
		 * cgroup.procs reports it.
		 */
		if (into && (rc == -ENOSYS || rc == -EINVAL || rc == -E2BIG ||
		    rc == -EPERM))
			child_into_cgroup = 0;
		if (run->in_flight) {
			if (!into)	/* clone3 itself is refused */
				child_flying = 0;
			errno = ENOSYS;
			return -1;
		}
	}
#endif
	return clone(child_main, stack, flags | SIGCHLD, run);
}

/* Make every slot's socket pair that is not there. Returns 0, or -1. */
static int
child_pass_open(void)
{
	struct child_slot *slot;
	int i;

	for (i = 0; i < CHILD_SLOTS; i++) {
		slot = &child_slots[i];
		if (slot->sock[0] == -1 && socketpair(AF_UNIX, SOCK_SEQPACKET |
		    SOCK_CLOEXEC, 0, slot->sock) == -1) {
			slot->sock[0] = slot->sock[1] = -1;
			return -1;
		}
	}
	return 0;
}

/* Close a slot's socket pair (fds left in it are closed with it). */
static void
child_pass_drop(struct child_slot *slot)
{
	if (slot->sock[0] != -1)
		close(slot->sock[0]);
	if (slot->sock[1] != -1)
		close(slot->sock[1]);
	slot->sock[0] = slot->sock[1] = -1;
}

/*
 * Close the fds a child left in its slot's socket pair (it did not exec,
 * or did not take them all); if they cannot be read, close the pair and
 * every fd in it.
 */
static void
child_pass_drain(struct child_slot *slot)
{
	int fds[FDPASS_MAX];
	struct fdpass_in in;
	struct iovec iov;
	uint32_t serial;
	ssize_t n;

	if (slot->sock[1] == -1)
		return;
	do {
		memset(&in, 0, sizeof(in));
		in.fds = fds;
		in.maxfds = FDPASS_MAX;
		iov.iov_base = &serial;
		iov.iov_len = sizeof(serial);
		n = fdpass_recv(slot->sock[1], &iov, 1, &in, MSG_DONTWAIT);
		fdpass_close(fds, n > 0 ? in.nfds : 0);
	} while (n > 0);
	if (n == -1 && errno != EAGAIN && errno != EWOULDBLOCK)
		child_pass_drop(slot);
}

/*
 * Send a child spec->fds, then output_fd and status_fd (each unless -1),
 * over its slot's socket pair, each message with *serial (new for each
 * child); *nsent is how many. Returns 0, or -1 (nothing left in the pair:
 * the child copies the table).
 */
static int
child_pass_begin(struct child_slot *slot, const struct child_spec *spec,
    int output_fd, int status_fd, size_t *nsent, uint32_t *serial)
{
	static uint32_t next;
	struct iovec iov = { .iov_base = serial, .iov_len = sizeof(*serial) };
	size_t total = spec->nfds + (output_fd != -1) + (status_fd != -1), off,
	    n, k;
	int *fds;

	*nsent = total;
	*serial = ++next;
	if (total == 0)
		return 0;	/* only fds 0-2 to keep: no socket needed */
	if (child_pass_open() == -1 || slot->sock[0] == -1)
		return -1;
	if ((fds = malloc(total * sizeof(*fds))) == NULL)
		return -1;
	if (spec->nfds > 0)
		memcpy(fds, spec->fds, spec->nfds * sizeof(*fds));
	k = spec->nfds;
	if (output_fd != -1)
		fds[k++] = output_fd;
	if (status_fd != -1)
		fds[k++] = status_fd;
	for (off = 0; off < total; off += n) {
		n = total - off > FDPASS_MAX ? FDPASS_MAX : total - off;
		if (fdpass_send(slot->sock[0], &iov, 1, fds + off, n,
		    0) != (ssize_t)sizeof(*serial))
			break;
	}
	free(fds);
	if (off < total) {
		child_pass_drop(slot);	/* what was sent goes with it */
		return -1;
	}
	return 0;
}

/*
 * Get ready to start workers, at the supervisor's start: raise its fd
 * limit, and make the slots' socket pairs that hand children their fds
 * now, so that the supervisor holds as many fds before its first start as
 * after (and after an upgrade as before it).
 */
void
child_init(void)
{
	child_raise_nofile();
	if (child_can_share_fds())
		(void)child_pass_open();	/* else made at the first start */
}

/*
 * Watch starts in flight in base's loop from now on (NULL: stop; each is
 * then settled only by child_reaped, child_settle_all or a start that
 * needs its slot). failed is told of each whose child could not exec,
 * with its pid and why.
 */
void
child_watch(struct event_base *base, child_failed_fn failed, void *arg)
{
	struct child_flight *f;
	int i;

	child_base = base;
	child_failed_cb = failed;
	child_failed_arg = arg;
	for (i = 0; i < CHILD_SLOTS; i++) {
		f = &child_slots[i].flight;
		if (f->ev != NULL) {
			event_free(f->ev);
			f->ev = NULL;
		}
	}
}

/* The lowest fd above every fd the child must keep and every target. */
static int
child_high_fd(const struct child_spec *spec, int output_fd)
{
	int high = 3 + (int)spec->nfds;
	size_t i;

	if (output_fd >= high)
		high = output_fd + 1;
	for (i = 0; i < spec->nfds; i++)
		if (spec->fds[i] >= high)
			high = spec->fds[i] + 1;
	return high;
}

/*
 * Whether a child that copies the fd table can lay its fds out: it parks
 * /dev/null, the output pipe and spec->fds one after another from high
 * (above every fd it holds), and dup3 refuses a number past the fd limit.
 * If it cannot, *cause says so.
 */
static bool
child_copy_fits(const struct child_spec *spec, int high, char **cause)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1 ||
	    rl.rlim_cur == RLIM_INFINITY ||
	    (rlim_t)high + 2 + spec->nfds <= rl.rlim_cur)
		return true;
	cause_set(cause, "the fd limit (RLIMIT_NOFILE %llu) leaves no room to "
	    "place %zu listeners and the output above fd %d: raise it",
	    (unsigned long long)rl.rlim_cur, spec->nfds, high - 1);
	return false;
}

/* Room for n bytes at *p in a block being laid out, aligned to align. */
static void *
child_block_take(char **p, size_t n, size_t align)
{
	uintptr_t at = ((uintptr_t)*p + align - 1) & ~(uintptr_t)(align - 1);

	*p = (char *)at + n;
	return (void *)at;
}

/* Copy the NULL-ended vector v into the block at *p (or just count, if count). */
static char **
child_block_vector(char **p, char *const *v, size_t *size, bool count)
{
	size_t n, i, len;
	char **copy;

	for (n = 0; v[n] != NULL; n++)
		continue;
	if (count) {
		*size += (n + 1) * sizeof(char *) + sizeof(char *);
		for (i = 0; i < n; i++)
			*size += strlen(v[i]) + 1;
		return NULL;
	}
	copy = child_block_take(p, (n + 1) * sizeof(char *), sizeof(char *));
	for (i = 0; i < n; i++) {
		len = strlen(v[i]) + 1;
		copy[i] = memcpy(child_block_take(p, len, 1), v[i], len);
	}
	copy[n] = NULL;
	return copy;
}

/* Copy string s (or NULL) into the block at *p (or just count). */
static char *
child_block_string(char **p, const char *s, size_t *size, bool count)
{
	size_t len;

	if (s == NULL)
		return NULL;
	len = strlen(s) + 1;
	if (count) {
		*size += len;
		return NULL;
	}
	return memcpy(child_block_take(p, len, 1), s, len);
}

/*
 * Copy into *dst, in one allocation returned (free it when done), all of
 * src the child reads: a child in flight reads them after child_spawn
 * returned, when the caller has freed its spec and a reload may have
 * freed the config it borrows from. fds are left out (only sent). NULL
 * without memory.
 */
static char *
child_spec_copy(struct child_spec *dst, const struct child_spec *src)
{
	size_t size = 2 * sizeof(gid_t);
	char *block, *p = NULL;
	int pass;

	*dst = *src;
	dst->fds = NULL;
	dst->nfds = src->nfds;
	dst->own_argv = NULL;
	dst->own_directory = NULL;
	size += (size_t)src->ngroups * sizeof(gid_t);
	block = NULL;
	for (pass = 0; pass < 2; pass++) {
		bool count = pass == 0;

		if (!count) {
			if ((block = malloc(size)) == NULL)
				return NULL;
			p = block;
			if (src->ngroups > 0)
				dst->groups = memcpy(child_block_take(&p,
				    (size_t)src->ngroups * sizeof(gid_t),
				    sizeof(gid_t)), src->groups,
				    (size_t)src->ngroups * sizeof(gid_t));
		}
		dst->argv = child_block_vector(&p, src->argv, &size, count);
		dst->envp = child_block_vector(&p, src->envp, &size, count);
		dst->path = child_block_string(&p, src->path, &size, count);
		dst->directory = child_block_string(&p, src->directory, &size,
		    count);
		dst->notify_socket = child_block_string(&p, src->notify_socket,
		    &size, count);
		dst->notify_unreachable = child_block_string(&p,
		    src->notify_unreachable, &size, count);
		dst->preload = child_block_string(&p, src->preload, &size,
		    count);
		dst->preload_unreadable = child_block_string(&p,
		    src->preload_unreadable, &size, count);
	}
	return block;
}

/*
 * Settle the start in flight in slot: its child exec'd or exited (or, if
 * it died before it took its fds, they are taken back here). If it could
 * not exec, child_failed_cb is told, with why. The slot is free again.
 */
static void
child_flight_settle(struct child_slot *slot)
{
	struct child_flight *f = &slot->flight;
	char *cause = NULL;
	pid_t pid = f->pid;
	char eof;

	if (f->ev != NULL) {
		event_free(f->ev);
		f->ev = NULL;
	}
	/* The status pipe's end, if the child never took it, is in here. */
	child_pass_drain(slot);
	while (read(f->exec_fd, &eof, 1) == -1 && errno == EINTR)
		continue;
	close(f->exec_fd);
	f->exec_fd = -1;
	f->pid = 0;
	if (f->run.stage != NULL) {
		cause_set(&cause, "cannot run %s: %s: %s", f->spec.argv[0],
		    f->run.stage, strerror(f->run.err));
		/* Told once the slot is free: it may start another. */
	}
	free(f->block);
	f->block = NULL;
	memset(&f->spec, 0, sizeof(f->spec));
	memset(&f->run, 0, sizeof(f->run));
	if (cause != NULL) {
		if (child_failed_cb != NULL)
			child_failed_cb(pid, cause, child_failed_arg);
		free(cause);
	}
}

/* Event: a start in flight's exec-status pipe is at end-of-file. */
static void
child_flight_done(evutil_socket_t fd, short what, void *arg)
{
	struct child_slot *slot = arg;

	(void)fd;
	(void)what;
	child_flight_settle(slot);
}

/*
 * Whether the child of a start in flight exited (looked at without
 * reaping it), or was reaped already by a wait for any child (ECHILD).
 */
static bool
child_flight_exited(const struct child_slot *slot)
{
	pid_t pid = slot->flight.pid;
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) == -1)
		return errno == ECHILD;
	return si.si_pid == pid;
}

/*
 * Settle the starts in flight whose child is done (exec'd or exited),
 * waiting for one to be if none is yet and wait is set. One that died
 * before it took its status pipe's end shows only as its exit (looked at
 * without reaping it). Returns how many were settled.
 */
static int
child_settle_done(bool wait)
{
	struct pollfd pfd[CHILD_SLOTS];
	struct child_slot *of[CHILD_SLOTS];
	pid_t pid[CHILD_SLOTS];
	int n = 0, i, settled = 0, ready;

	for (i = 0; i < CHILD_SLOTS; i++)
		if (child_slots[i].flight.pid != 0) {
			pfd[n].fd = child_slots[i].flight.exec_fd;
			pfd[n].events = POLLIN;
			pfd[n].revents = 0;
			pid[n] = child_slots[i].flight.pid;
			of[n++] = &child_slots[i];
		}
	if (n == 0)
		return 0;
	for (;;) {
		ready = poll(pfd, (nfds_t)n, wait ? 10 : 0);
		for (i = 0; i < n; i++)
			/* The callback of one settled may not start another. */
			if (of[i]->flight.pid == pid[i] &&
			    ((ready > 0 && pfd[i].revents != 0) ||
			    child_flight_exited(of[i]))) {
				child_flight_settle(of[i]);
				settled++;
			}
		if (settled > 0 || !wait)
			return settled;
	}
}

/*
 * Settle every start in flight, waiting for those whose child has not
 * exec'd yet (before the supervisor execs another image, and for tests).
 */
void
child_settle_all(void)
{
	while (child_settle_done(true) > 0)
		continue;
}

/*
 * A child exited and is about to be told (reap.c): if its start is still
 * in flight, settle it first, so that a failure to exec is known by then.
 */
void
child_reaped(pid_t pid)
{
	int i;

	if (pid <= 0)
		return;
	for (i = 0; i < CHILD_SLOTS; i++)
		if (child_slots[i].flight.pid == pid) {
			child_flight_settle(&child_slots[i]);
			return;
		}
}

/*
 * If pid's start is in flight and its child exec'd or exited, settle it
 * now (a failure is told to child_watch's callback before this returns).
 * Never waits. Returns false while the child is still on its way to exec
 * (a slow exec, a stopped child), true otherwise.
 */
bool
child_settle(pid_t pid)
{
	struct pollfd pfd;
	int i;

	for (i = 0; i < CHILD_SLOTS; i++)
		if (pid > 0 && child_slots[i].flight.pid == pid) {
			pfd.fd = child_slots[i].flight.exec_fd;
			pfd.events = POLLIN;
			if (poll(&pfd, 1, 0) <= 0 &&
			    !child_flight_exited(&child_slots[i]))
				return false;
			child_flight_settle(&child_slots[i]);
			return true;
		}
	return true;
}

/* Whether pid's start is in flight (its child has not been seen to exec). */
bool
child_in_flight(pid_t pid)
{
	int i;

	for (i = 0; i < CHILD_SLOTS; i++)
		if (pid > 0 && child_slots[i].flight.pid == pid)
			return true;
	return false;
}

/*
 * A free slot: if every one is taken, the starts in flight that are done
 * are settled, and if none is, the first to be is waited for.
 */
static struct child_slot *
child_free_slot(void)
{
	int i;

	for (;;) {
		for (i = 0; i < CHILD_SLOTS; i++)
			if (child_slots[i].flight.pid == 0)
				return &child_slots[i];
		(void)child_settle_done(true);
	}
}

/*
 * Start the child of spec in flight on slot, from a copy of spec: it
 * reports through its exec-status pipe. Returns the pid; 0 if a start in
 * flight cannot be made here (the caller starts it with CLONE_VFORK); -1
 * and errno if no process could be made.
 */
static pid_t
child_fly(struct child_slot *slot, const struct child_spec *spec,
    int output_fd, char *stack)
{
	struct child_flight *f = &slot->flight;
	int st[2];
	pid_t pid;
	int err;

	/* Without an fd for it, the start waits for the exec instead. */
	if (pipe2(st, O_CLOEXEC) == -1)
		return 0;
	memset(&f->run, 0, sizeof(f->run));
	f->run.output_fd = output_fd;
	f->run.in_flight = true;
	f->run.shared_fds = true;
	/* The status pipe's write end is the child's only, once sent. */
	if (child_pass_begin(slot, spec, output_fd, st[1], &f->run.nsent,
	    &f->run.serial) == -1) {
		close(st[0]);
		close(st[1]);
		return 0;
	}
	close(st[1]);
	f->run.sock = slot->sock[1];
	if ((f->block = child_spec_copy(&f->spec, spec)) == NULL) {
		/* Waiting for the exec needs no copy. */
		child_pass_drain(slot);
		close(st[0]);
		return 0;
	}
	f->run.spec = &f->spec;
	pid = child_clone(&f->run, CLONE_VM | CLONE_FILES, stack);
	err = errno;
	if (pid == -1) {
		free(f->block);
		f->block = NULL;
		memset(&f->spec, 0, sizeof(f->spec));
		child_pass_drain(slot);
		close(st[0]);
		if (err == ENOSYS)
			return 0;
		errno = err;
		return -1;
	}
	/*
	 * Its own process group from now on, as the child makes it too: a
	 * signal to the group may come before the child got that far.
	 */
	(void)setpgid(pid, pid);
	f->pid = pid;
	f->exec_fd = st[0];
	if (child_base != NULL) {
		f->ev = event_new(child_base, st[0], EV_READ, child_flight_done,
		    slot);
		if (f->ev != NULL && event_add(f->ev, NULL) == -1) {
			event_free(f->ev);
			f->ev = NULL;
		}
		/* Without the event it settles at its exit, or when asked. */
	}
	return pid;
}

/*
 * Start a worker: clone(CLONE_VM), as posix_spawn does, so the cost does
 * not grow with the supervisor's memory. Where it can, the supervisor goes
 * on at once: the start is in flight until the child exec'd or exited,
 * and one that could not exec is told to the child_watch callback (and
 * shows as an exit with status 127). Elsewhere (CLONE_VFORK) it goes on
 * once the child exec'd or exited. Returns:
 *   0			it runs (or is on its way to exec); the caller owns
 *			proc->output_fd (-1 when the output is discarded;
 *			else CLOEXEC, non-blocking)
 *   CHILD_NOT_STARTED	no process (no fd or process left): *cause says why
 *   CHILD_CANNOT_RUN	the child could not exec (a missing directory, a
 *			command it may not run): *cause says where and why;
 *			it is reaped, its wait status in proc->wait_status
 */
int
child_spawn(const struct child_spec *spec, struct child_proc *proc,
    char **cause)
{
	struct child_slot *slot;
	struct child_run run;
	unsigned long long before, after;
	int outp[2] = { -1, -1 }, status = 0, err, flags;
	sigset_t all, old;
	bool failed;
	char *stack;
	pid_t pid;

	memset(proc, 0, sizeof(*proc));
	proc->output_fd = -1;
	slot = child_free_slot();
	if ((stack = child_stack_top(slot)) == NULL) {
		cause_set(cause, "mmap: %s", strerror(errno));
		return CHILD_NOT_STARTED;
	}
	if (!spec->discard_output && pipe2(outp, O_CLOEXEC) == -1) {
		cause_set(cause, "pipe: %s", strerror(errno));
		return CHILD_NOT_STARTED;
	}
	/* No handler may run in the child before it resets them. */
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	/*
	 * The kernel stamps the child's start time between these two reads
	 * of the same clock: if both fall in one tick, that is its start
	 * time, and nobody needs to read it back from /proc (the tick is
	 * 1/USER_HZ s, which divides a second in nanoseconds exactly).
	 */
	/* In flight, a child never writes cgroup.procs (see child_main). */
	if (child_can_fly() && (spec->cgroup_fd == -1 ||
	    (spec->cgroup_dir_fd != -1 && child_into_cgroup != 0))) {
		before = procfs_now_ticks();
		pid = child_fly(slot, spec, outp[1], stack);
		err = errno;
		after = procfs_now_ticks();
		if (pid != 0) {
			sigprocmask(SIG_SETMASK, &old, NULL);
			if (outp[1] != -1)
				close(outp[1]);
			if (pid == -1) {
				if (outp[0] != -1)
					close(outp[0]);
				cause_set(cause, "clone: %s", strerror(err));
				return CHILD_NOT_STARTED;
			}
			if (outp[0] != -1)
				fcntl(outp[0], F_SETFL, O_NONBLOCK);
			proc->pid = pid;
			proc->output_fd = outp[0];
			proc->start = before == after ? before : 0;
			return 0;
		}
	}
	memset(&run, 0, sizeof(run));
	run.spec = spec;
	run.output_fd = outp[1];
	run.high = child_high_fd(spec, outp[1]);
	flags = CLONE_VM | CLONE_VFORK;
	/* The socket holds the fds for the child until it is drained. */
	if (child_can_share_fds() && child_pass_begin(slot, spec, outp[1], -1,
	    &run.nsent, &run.serial) == 0) {
		run.shared_fds = true;
		run.sock = slot->sock[1];
		flags |= CLONE_FILES;
	} else if (!child_copy_fits(spec, run.high, cause)) {
		sigprocmask(SIG_SETMASK, &old, NULL);
		if (outp[0] != -1) {
			close(outp[0]);
			close(outp[1]);
		}
		return CHILD_NOT_STARTED;
	}
	before = procfs_now_ticks();
	pid = child_clone(&run, flags, stack);
	err = errno;
	after = procfs_now_ticks();
	if (run.shared_fds && run.nsent > 0)
		child_pass_drain(slot);
	/*
	 * Back here once it exec'd or exited: if it failed, reap it now.
	 * (Under valgrind, which runs such a child as a fork, run.ran stays
	 * false: an exec failure then shows only as the exit status 127.)
	 */
	failed = pid > 0 && run.ran && run.stage != NULL;
	if (failed)
		while (waitpid(pid, &status, 0) == -1 && errno == EINTR)
			continue;
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (outp[1] != -1)
		close(outp[1]);
	if (pid == -1 || failed) {
		if (outp[0] != -1)
			close(outp[0]);
		if (pid == -1) {
			cause_set(cause, "clone: %s", strerror(err));
			return CHILD_NOT_STARTED;
		}
		cause_set(cause, "cannot run %s: %s: %s", spec->argv[0],
		    run.stage, strerror(run.err));
		proc->pid = pid;
		proc->wait_status = status;
		return CHILD_CANNOT_RUN;
	}
	if (outp[0] != -1)
		fcntl(outp[0], F_SETFL, O_NONBLOCK);
	proc->pid = pid;
	proc->output_fd = outp[0];
	proc->start = before == after ? before : 0;
	return 0;
}
