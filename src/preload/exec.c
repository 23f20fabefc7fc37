/*
 * exec.c: the bind() shim across the app's own exec.
 *
 * An app that re-executes itself (an upgrade in place, a master that
 * forks and execs its workers, a shell running the server) must find its
 * sockets again. When the program it execs loads the shim too (its
 * environment's LD_PRELOAD names this library), the shim's fds go along,
 * not close-on-exec for that exec only, and so does what they are:
 * MATCH_ENV_STASH (its fds and their listeners), MATCH_ENV_ADOPTED (the
 * app's adopted fds that survive the exec, with the app's O_NONBLOCK),
 * MATCH_ENV_SELF and MATCH_ENV_NOTIFY, which the next image's shim
 * takes and removes before main(). A program that does not load the
 * shim gets none of them: its exec closes the stash as before.
 *
 * The calls may come between vfork() and exec, where the memory is the
 * parent's: the new environment is built on the caller's stack (an mmap
 * of its own would stay behind in the parent after every successful
 * exec; only an environment too large for the stack gets one), and
 * nothing here takes a lock or allocates from the heap. posix_spawn(), system() and popen() exec inside libc,
 * out of the shim's reach: what they run gets no socket.
 */
#include "autoconf.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "match.h"
#include "preload.h"
#include "stash.h"

extern char **environ;

/* The longest environment (entries) built on the stack: 64 KiB. */
#define EXEC_STACK_SLOTS	8192

/* An exec being prepared: the environment made for it, what to undo. */
struct exec_prep {
	char	**envp;		/* what to exec with */
	void	 *map;		/* the mmap holding it, or NULL */
	size_t	  maplen;
	int	  opened[STASH_MAX_SOCKS];	/* own fds made inheritable */
	int	  nopened;
	char	  stash_var[sizeof(MATCH_ENV_STASH) + STASH_MAX_SOCKS * 24];
	char	  adopted_var[sizeof(MATCH_ENV_ADOPTED) + STASH_MAX_FDS * 36];
};

/* This library's path as the dynamic loader loaded it (from LD_PRELOAD). */
static const char *exec_self;

/* "NAME=value" of MATCH_ENV_SELF and MATCH_ENV_NOTIFY, or "" (set once). */
static char exec_self_var[sizeof(MATCH_ENV_SELF) + MATCH_ADDRS_TEXT_MAX];
static char exec_notify_var[sizeof(MATCH_ENV_NOTIFY) + sizeof(stash.notify)];

/* Write "NAME=value" into buf (len bytes: it fits, as sized). */
static void
exec_var(char *buf, size_t len, const char *name, const char *value)
{
	size_t nlen = strlen(name), vlen = strlen(value);

	if (nlen + 1 + vlen >= len) {
		buf[0] = '\0';
		return;
	}
	memcpy(buf, name, nlen);
	buf[nlen] = '=';
	memcpy(buf + nlen + 1, value, vlen + 1);
}

/*
 * Note this library's path, before main() (dladdr() takes the dynamic
 * loader's lock, which an exec after vfork() must not wait for), and the
 * variables every exec passes on, once the stash is taken.
 */
void
preload_exec_init(void)
{
	Dl_info info;

	if (dladdr((void *)preload_exec_init, &info) != 0 &&
	    info.dli_fname != NULL && info.dli_fname[0] != '\0')
		exec_self = info.dli_fname;
	if (stash.self_text[0] != '\0')
		exec_var(exec_self_var, sizeof(exec_self_var), MATCH_ENV_SELF,
		    stash.self_text);
	if (stash.notify[0] != '\0')
		exec_var(exec_notify_var, sizeof(exec_notify_var),
		    MATCH_ENV_NOTIFY, stash.notify);
}

/* Tell whether envp's LD_PRELOAD names this library. */
static bool
exec_loads_shim(char *const envp[])
{
	const char *value = NULL, *p, *end;
	size_t n, i;

	if (exec_self == NULL)
		return false;
	n = strlen(exec_self);
	for (i = 0; envp != NULL && envp[i] != NULL; i++)
		if (strncmp(envp[i], "LD_PRELOAD=", 11) == 0)
			value = envp[i] + 11;
	for (p = value; p != NULL && *p != '\0'; p = end) {
		p += strspn(p, " :");
		end = p + strcspn(p, " :");
		if ((size_t)(end - p) == n && memcmp(p, exec_self, n) == 0)
			return true;
	}
	return false;
}

/* Write the app's adopted fds that survive exec as MATCH_ENV_ADOPTED. */
static void
exec_adopted(char *buf, size_t len)
{
	struct match_fd fds[STASH_MAX_FDS];
	const struct stash_fd *e;
	size_t n = 0;
	int i, key, flags;

	for (i = 0; i < __atomic_load_n(&stash.nfds, __ATOMIC_ACQUIRE); i++) {
		e = &stash.fds[i];
		key = __atomic_load_n(&e->key, __ATOMIC_ACQUIRE);
		if (key <= 0 || e->kind != STASH_ADOPTED)
			continue;
		flags = (int)syscall(SYS_fcntl, key - 1, F_GETFD, 0);
		if (flags == -1 || (flags & FD_CLOEXEC))
			continue;
		fds[n].fd = key - 1;
		fds[n].index = stash.socks[e->sock].index;
		fds[n].flag = __atomic_load_n(&e->nonblock, __ATOMIC_RELAXED);
		n++;
	}
	if (match_encode_fds(fds, n, true, buf, len) == -1)
		buf[0] = '\0';
}

/*
 * How many environment entries an exec with envp needs (with the shim's
 * and the NULL) when the program loads the shim and there is something
 * to pass; 0 if the exec takes envp as it is.
 */
static size_t
exec_slots(char *const envp[])
{
	size_t count = 0;

	if ((stash.nsocks == 0 && stash.notify[0] == '\0') ||
	    !exec_loads_shim(envp))
		return 0;
	while (envp[count] != NULL)
		count++;
	return count + 5;
}

/*
 * Prepare an exec with envp, which needs nslots entries (exec_slots): if
 * there are any, prep->envp is a copy of envp without any
 * HANDOFF_PRELOAD_ variable, plus the shim's, in slots (the caller's
 * stack) or, if that is NULL, an mmap; and the shim's fds are
 * inheritable. Else prep->envp is envp itself.
 */
static void
exec_begin(struct exec_prep *prep, char *const envp[], size_t nslots,
    char **slots)
{
	struct match_fd fds[STASH_MAX_SOCKS];
	char text[sizeof(prep->adopted_var)];
	size_t n = 0, i, nfds = 0;
	int k;

	memset(prep, 0, sizeof(*prep));
	prep->envp = (char **)envp;
	if (nslots == 0)
		return;
	if (slots == NULL) {
		prep->maplen = nslots * sizeof(char *);
		prep->map = mmap(NULL, prep->maplen, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (prep->map == MAP_FAILED) {
			prep->map = NULL;
			return;
		}
		slots = prep->map;
	}
	prep->envp = slots;
	for (i = 0; envp[i] != NULL; i++)
		if (strncmp(envp[i], "HANDOFF_PRELOAD_", 16) != 0)
			prep->envp[n++] = envp[i];
	for (k = 0; k < stash.nsocks; k++) {
		if (stash.socks[k].fd < 0)
			continue;
		fds[nfds].fd = stash.socks[k].fd;
		fds[nfds++].index = stash.socks[k].index;
		/* For this exec only: undone if it fails. */
		if (syscall(SYS_fcntl, stash.socks[k].fd, F_SETFD, 0) == 0)
			prep->opened[prep->nopened++] = stash.socks[k].fd;
	}
	if (nfds > 0 && match_encode_fds(fds, nfds, false, text,
	    sizeof(text)) == 0 && (exec_var(prep->stash_var,
	    sizeof(prep->stash_var), MATCH_ENV_STASH, text),
	    prep->stash_var[0] != '\0'))
		prep->envp[n++] = prep->stash_var;
	exec_adopted(text, sizeof(text));
	if (text[0] != '\0' && (exec_var(prep->adopted_var,
	    sizeof(prep->adopted_var), MATCH_ENV_ADOPTED, text),
	    prep->adopted_var[0] != '\0'))
		prep->envp[n++] = prep->adopted_var;
	if (exec_self_var[0] != '\0')
		prep->envp[n++] = exec_self_var;
	if (exec_notify_var[0] != '\0')
		prep->envp[n++] = exec_notify_var;
	prep->envp[n] = NULL;
}

/* The exec failed: the shim's fds are close-on-exec again. */
static void
exec_end(struct exec_prep *prep)
{
	int i, saved = errno;

	for (i = 0; i < prep->nopened; i++)
		(void)syscall(SYS_fcntl, prep->opened[i], F_SETFD, FD_CLOEXEC);
	if (prep->map != NULL)
		munmap(prep->map, prep->maplen);
	errno = saved;
}

/*
 * Make the call, an exec of the new environment prep_.envp made from
 * envp; if it fails, undo what exec_begin did and return its result.
 */
#define EXEC_WITH(envp, call) do {					\
	size_t n_ = exec_slots(envp);					\
	char *slots_[n_ > 0 && n_ <= EXEC_STACK_SLOTS ? n_ : 1];	\
	struct exec_prep prep_;						\
	int rc_;							\
	exec_begin(&prep_, envp, n_, n_ <= EXEC_STACK_SLOTS ? slots_ : NULL); \
	rc_ = (call);							\
	exec_end(&prep_);						\
	return rc_;							\
} while (0)

/* execve() */
PRELOAD_EXPORT int
execve(const char *path, char *const argv[], char *const envp[])
{
	EXEC_WITH(envp, PRELOAD_REAL(execve)(path, argv, prep_.envp));
}

/* execvpe(): execve() with a PATH search. */
PRELOAD_EXPORT int
execvpe(const char *file, char *const argv[], char *const envp[])
{
	EXEC_WITH(envp, PRELOAD_REAL(execvpe)(file, argv, prep_.envp));
}

/* fexecve() */
PRELOAD_EXPORT int
fexecve(int fd, char *const argv[], char *const envp[])
{
	EXEC_WITH(envp, PRELOAD_REAL(fexecve)(fd, argv, prep_.envp));
}

/* execveat() */
PRELOAD_EXPORT int
execveat(int dirfd, const char *path, char *const argv[], char *const envp[],
    int flags)
{
	EXEC_WITH(envp, PRELOAD_REAL(execveat)(dirfd, path, argv, prep_.envp,
	    flags));
}

/* execv(): execve() with this environment. */
PRELOAD_EXPORT int
execv(const char *path, char *const argv[])
{
	return execve(path, argv, environ);
}

/* execvp(): execvpe() with this environment. */
PRELOAD_EXPORT int
execvp(const char *file, char *const argv[])
{
	return execvpe(file, argv, environ);
}

/* How many arguments execl() got from arg0 to the NULL (not counting it). */
static size_t
exec_count(va_list *ap)
{
	va_list count;
	size_t n = 1;

	va_copy(count, *ap);
	while (va_arg(count, char *) != NULL)
		n++;
	va_end(count);
	return n;
}

/* Fill argv (n + 1 entries) with arg0 and the rest of execl()'s arguments. */
static void
exec_fill(char **argv, const char *arg0, size_t n, va_list *ap)
{
	size_t i;

	argv[0] = (char *)arg0;
	for (i = 1; i <= n; i++)
		argv[i] = va_arg(*ap, char *);
}

/* How exec_list runs what execl(), execle() and execlp() were given. */
enum exec_how {
	EXEC_PATH,	/* execl(): execve() with this environment */
	EXEC_ENVP,	/* execle(): the environment after the NULL */
	EXEC_SEARCH,	/* execlp(): execvpe() with this environment */
};

/* Run an execl()-style call: arg0 and the arguments ap holds after it. */
static int
exec_list(enum exec_how how, const char *target, const char *arg0,
    va_list *ap)
{
	size_t n = exec_count(ap);
	char *argv[n + 1], **envp = environ;

	exec_fill(argv, arg0, n, ap);
	if (how == EXEC_ENVP)
		envp = va_arg(*ap, char **);
	if (how == EXEC_SEARCH)
		return execvpe(target, argv, envp);
	return execve(target, argv, envp);
}

/* execl() */
PRELOAD_EXPORT int
execl(const char *path, const char *arg, ...)
{
	va_list ap;
	int rc;

	va_start(ap, arg);
	rc = exec_list(EXEC_PATH, path, arg, &ap);
	va_end(ap);
	return rc;
}

/* execle(): the environment comes after the NULL. */
PRELOAD_EXPORT int
execle(const char *path, const char *arg, ...)
{
	va_list ap;
	int rc;

	va_start(ap, arg);
	rc = exec_list(EXEC_ENVP, path, arg, &ap);
	va_end(ap);
	return rc;
}

/* execlp() */
PRELOAD_EXPORT int
execlp(const char *file, const char *arg, ...)
{
	va_list ap;
	int rc;

	va_start(ap, arg);
	rc = exec_list(EXEC_SEARCH, file, arg, &ap);
	va_end(ap);
	return rc;
}
