/*
 * spawn.c: start a worker's process.
 *
 * Everything that allocates is done before the process exists, in
 * child_spec_init (child.c): the resolved path, the environment, the
 * supplementary groups. The child is started with clone(CLONE_VM), as posix_spawn starts
 * one: it shares the supervisor's memory, so starting it copies no page
 * table. Where it can (x86-64, Linux 5.9, not under valgrind), the
 * supervisor goes on at once: the start is "in flight" until the child
 * exec'd or exited. The child then works from a copy of its spec, on a
 * stack of its own (one of SPAWN_SLOTS; a start that finds them all taken
 * waits until one is free), and makes raw system calls, which leave the
 * supervisor's errno alone; its exec-status pipe's write end, CLOEXEC and
 * the child's only, tells the supervisor (end-of-file) that it is done with
 * that memory, and a step that failed is left in it (spawn_flight_settle
 * tells spawn_watch's callback, and the child exits 127). Elsewhere it is
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
 * share: spawn_start returns it for a start that waited, spawn_watch's
 * callback is told of it for one in flight.
 */
#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/sched.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "cause.h"
#include "child.h"
#include "fdpass.h"
#include "loopstat.h"
#include "procfs.h"
#include "spawn.h"

#ifndef CLOSE_RANGE_UNSHARE
#define CLOSE_RANGE_UNSHARE	(1U << 1)
#endif

/* The fd limit the supervisor was started with, restored in workers. */
static struct rlimit	spawn_nofile;
static bool		spawn_nofile_raised;

/*
 * Raise the supervisor's own soft fd limit to the hard one (it holds a
 * pipe per worker and a socket per control client); workers get the limit
 * the supervisor was started with, as if it had not been there.
 */
static void
spawn_raise_nofile(void)
{
	struct rlimit raised;

	if (getrlimit(RLIMIT_NOFILE, &spawn_nofile) == -1 ||
	    spawn_nofile.rlim_cur >= spawn_nofile.rlim_max)
		return;
	raised = spawn_nofile;
	raised.rlim_cur = raised.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &raised) == 0)
		spawn_nofile_raised = true;
}

/*
 * The child's side, from clone to exec. It runs on its slot's stack, in
 * the supervisor's memory (CLONE_VM), either while the supervisor waits
 * (CLONE_VFORK) or beside it (a start in flight, below): it makes system
 * calls only, raw ones where it runs beside the supervisor (no glibc
 * wrapper that takes a lock, broadcasts to threads, is intercepted by a
 * sanitizer or sets errno, which is the supervisor's), on memory prepared
 * before clone, and writes nothing of the supervisor's but its own struct
 * spawn_run and the LISTEN_PID slot of its spec's envp.
 */
#define SPAWN_SIDE	__attribute__((no_sanitize("address", "undefined")))

#define SPAWN_STACK_SIZE	(64 * 1024)

/*
 * A system call from the child: its result, or -errno. On x86-64 it is
 * made in assembly, so that it writes no errno; elsewhere through
 * syscall(), and children start only with CLONE_VFORK (errno is then the
 * supervisor's only once the child is gone).
 */
#if defined(__x86_64__)
#define SPAWN_HAVE_RAW_SYSCALL	1

static inline long SPAWN_SIDE
spawn_syscall6(long nr, long a, long b, long c, long d, long e, long f)
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
static long SPAWN_SIDE
spawn_syscall6(long nr, long a, long b, long c, long d, long e, long f)
{
	long rc = syscall(nr, a, b, c, d, e, f);

	return rc == -1 ? -errno : rc;
}
#endif

#define SPAWN_SYS(...)	SPAWN_SYS_(__VA_ARGS__, 0, 0, 0, 0, 0, 0)
#define SPAWN_SYS_(nr, a, b, c, d, e, f, ...)				\
	spawn_syscall6((long)(nr), (long)(a), (long)(b), (long)(c),	\
	    (long)(d), (long)(e), (long)(f))

/* Room for one message of fds sent to the child. */
union spawn_control {
	struct cmsghdr	hdr;
	char		buf[CMSG_SPACE(FDPASS_MAX * sizeof(int))];
};

/* What the child works from, and where it reports a failure. */
struct spawn_run {
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
 * 0 in the child), made at the supervisor's start, so low (spawn_init).
 * A start in flight holds its slot until its child exec'd or exited.
 */
#define SPAWN_SLOTS	4

/*
 * A start in flight: the child runs beside the supervisor, from memory
 * of its own (spec, run), until it exec'd or exited, which the exec-status
 * pipe tells: its write end, CLOEXEC, is the child's only, so it reads
 * end-of-file then. Until it is settled the slot stays taken.
 */
struct spawn_flight {
	pid_t		 pid;		/* 0: none in flight */
	int		 exec_fd;	/* the pipe's read end */
	struct event	*ev;		/* exec_fd readable, or NULL */
	struct child_spec spec;		/* what the child reads: a copy */
	char		*block;		/* holding what spec points to */
	struct spawn_run run;
};

static struct spawn_slot {
	char		*stack;		/* its top, or NULL until mapped */
	int		 sock[2];
	struct spawn_flight flight;
} spawn_slots[SPAWN_SLOTS] = {
	{ NULL, { -1, -1 }, { 0, -1, NULL, { 0 }, NULL, { 0 } } },
	{ NULL, { -1, -1 }, { 0, -1, NULL, { 0 }, NULL, { 0 } } },
	{ NULL, { -1, -1 }, { 0, -1, NULL, { 0 }, NULL, { 0 } } },
	{ NULL, { -1, -1 }, { 0, -1, NULL, { 0 }, NULL, { 0 } } },
};

/* The loop that watches starts in flight, or NULL (they settle when asked). */
static struct event_base *spawn_base;

/* Told of a start in flight whose child could not exec. */
static spawn_failed_fn	 spawn_failed_cb;

/*
 * What the supervisor reads while it starts workers, between turns of
 * its loop (spawn_meanwhile): an fd, and what takes what it holds.
 */
static struct {
	int		 fd;		/* -1: none */
	spawn_meanwhile_fn cb;
	void		*arg;
} spawn_meanwhile_fd = { -1, NULL, NULL };
static void		*spawn_failed_arg;

/*
 * Told once when a slot is free again, after spawn_slot_ready found every
 * one taken (NULL: nobody waits).
 */
static struct {
	void		(*fn)(void *);
	void		*arg;
} spawn_wake;

/* Map a slot's stack, once; NULL (errno set) if it cannot be. */
static char *
spawn_stack_top(struct spawn_slot *slot)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	char *base;

	if (slot->stack != NULL)
		return slot->stack;
	base = mmap(NULL, SPAWN_STACK_SIZE + page, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (base == MAP_FAILED)
		return NULL;
	/* The stack grows down: the guard page is at the bottom. */
	if (mprotect(base, page, PROT_NONE) == -1) {
		munmap(base, SPAWN_STACK_SIZE + page);
		return NULL;
	}
	slot->stack = base + page + SPAWN_STACK_SIZE;
	return slot->stack;
}

/* Note what failed (err: an errno) and exit 127 (child side). */
static void SPAWN_SIDE __attribute__((noreturn))
spawn_fail(struct spawn_run *run, const char *stage, long err)
{
	run->err = err > 0 ? (int)err : EINVAL;
	run->stage = stage;
	for (;;)
		(void)SPAWN_SYS(SYS_exit_group, 127);
}

/* Write n in decimal into buf (child side). */
static void SPAWN_SIDE
spawn_format_pid(char *buf, long n)
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
static void SPAWN_SIDE
spawn_reset_signals(void)
{
	unsigned long kernel_sa[8] = { 0 }, none[2] = { 0 };
	int sig;

	for (sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			(void)SPAWN_SYS(SYS_rt_sigaction, sig, kernel_sa, NULL,
			    (NSIG - 1) / 8);
	(void)SPAWN_SYS(SYS_rt_sigprocmask, SIG_SETMASK, none, NULL,
	    (NSIG - 1) / 8);
}

/*
 * Lay the fds out (child side): /dev/null at 0, the output pipe at 1 and 2
 * (/dev/null with output = discard), spec->fds at 3, 4, ... and nothing
 * else. Every fd kept is first parked above all of them, so no move
 * clobbers a source that sits in the target range.
 */
static void SPAWN_SIDE
spawn_place_fds(struct spawn_run *run)
{
	const struct child_spec *spec = run->spec;
	int devnull, high = run->high, out;
	long rc;
	size_t i;

	devnull = (int)(rc = SPAWN_SYS(SYS_openat, AT_FDCWD, "/dev/null",
	    O_RDWR | O_CLOEXEC));
	if (rc < 0)
		spawn_fail(run, "open /dev/null", -rc);
	if (devnull >= high)
		high = devnull + 1;
	out = run->output_fd != -1 ? run->output_fd : devnull;
	if ((rc = SPAWN_SYS(SYS_dup3, devnull, high, O_CLOEXEC)) < 0 ||
	    (rc = SPAWN_SYS(SYS_dup3, out, high + 1, O_CLOEXEC)) < 0)
		spawn_fail(run, "dup3", -rc);
	for (i = 0; i < spec->nfds; i++)
		if ((rc = SPAWN_SYS(SYS_dup3, spec->fds[i], high + 2 + (int)i,
		    O_CLOEXEC)) < 0)
			spawn_fail(run, "dup3", -rc);
	/*
	 * dup2 to a new number clears CLOEXEC on the copy. The file status
	 * flags (O_NONBLOCK) are left alone: they belong to the open file
	 * description that every worker of every generation shares, so
	 * changing them here would change them under the running workers too.
	 */
	if ((rc = SPAWN_SYS(SYS_dup3, high, 0, 0)) < 0 ||
	    (rc = SPAWN_SYS(SYS_dup3, high + 1, 1, 0)) < 0 ||
	    (rc = SPAWN_SYS(SYS_dup3, high + 1, 2, 0)) < 0)
		spawn_fail(run, "dup3", -rc);
	for (i = 0; i < spec->nfds; i++)
		if ((rc = SPAWN_SYS(SYS_dup3, high + 2 + (int)i, 3 + (int)i,
		    0)) < 0)
			spawn_fail(run, "dup3", -rc);
	if (SPAWN_SYS(SYS_close_range, 3 + spec->nfds, ~0U, 0) < 0) {
		/* A kernel before 5.9: every fd the limit allows. */
		struct rlimit rl = { 0, 0 };
		long fd;
		(void)SPAWN_SYS(SYS_prlimit64, 0, RLIMIT_NOFILE, NULL, &rl);
		for (fd = 3 + (long)spec->nfds; fd < (long)rl.rlim_cur ||
		    fd <= high + 2 + (long)spec->nfds; fd++)
			(void)SPAWN_SYS(SYS_close, fd);
	}
}

/*
 * Take a private fd table holding only the supervisor's fds up to the
 * socket pair's receiving end (run->sock), move that end to fd 0, close
 * every fd from 3 on, and receive the fds the supervisor sent: spec->fds
 * land at 3, 4, ... in order, the output pipe after them, and last, for a
 * start in flight, the exec-status pipe's write end (child side). Then lay
 * them out as spawn_place_fds does; the status pipe's end stays just
 * above the listeners, CLOEXEC, until the exec closes it.
 */
static void SPAWN_SIDE
spawn_receive_fds(struct spawn_run *run)
{
	const struct child_spec *spec = run->spec;
	union spawn_control control;	/* on the child's own stack */
	struct cmsghdr *cm;
	struct msghdr mh;
	struct iovec iov;
	size_t got = 0, n;
	uint32_t serial;
	int devnull, out, status, above = 3 + (int)spec->nfds;
	long rc;

	/* From here on the supervisor's table is out of reach. */
	if ((rc = SPAWN_SYS(SYS_close_range, run->nsent > 0 && run->sock >= 3 ?
	    (unsigned int)run->sock + 1 : 3U, ~0U, CLOSE_RANGE_UNSHARE)) < 0)
		spawn_fail(run, "close_range", -rc);
	if (run->nsent > 0 && run->sock != 0 &&
	    (rc = SPAWN_SYS(SYS_dup3, run->sock, 0, 0)) < 0)
		spawn_fail(run, "dup3", -rc);
	if ((rc = SPAWN_SYS(SYS_close_range, 3, ~0U, 0)) < 0)
		spawn_fail(run, "close_range", -rc);
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
		rc = SPAWN_SYS(SYS_recvmsg, 0, &mh, 0);
		if (rc == -EINTR)
			continue;
		/* Fds left by a child that did not exec are not ours. */
		cm = rc == sizeof(serial) && serial == run->serial ?
		    CMSG_FIRSTHDR(&mh) : NULL;
		if (cm == NULL || (mh.msg_flags & MSG_CTRUNC) ||
		    cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			spawn_fail(run, "receive the listeners",
			    rc < 0 ? -rc : EPROTO);
		n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		/* Each lands on the lowest free fd: 3 + got, in order. */
		if (n == 0 || got + n > run->nsent ||
		    *(int *)(void *)CMSG_DATA(cm) != 3 + (int)got)
			spawn_fail(run, "receive the listeners", EPROTO);
		got += n;
	}
	devnull = (int)(rc = SPAWN_SYS(SYS_openat, AT_FDCWD, "/dev/null",
	    O_RDWR | O_CLOEXEC));
	if (rc < 0)
		spawn_fail(run, "open /dev/null", -rc);
	out = run->output_fd != -1 ? above : devnull;
	if ((rc = SPAWN_SYS(SYS_dup3, devnull, 0, 0)) < 0 ||
	    (rc = SPAWN_SYS(SYS_dup3, out, 1, 0)) < 0 ||
	    (rc = SPAWN_SYS(SYS_dup3, out, 2, 0)) < 0)
		spawn_fail(run, "dup3", -rc);
	if (run->in_flight) {
		/* Sent last: at 3 + nsent - 1. It closes at the exec. */
		status = 3 + (int)run->nsent - 1;
		if ((rc = status != above ?
		    SPAWN_SYS(SYS_dup3, status, above, O_CLOEXEC) :
		    SPAWN_SYS(SYS_fcntl, status, F_SETFD, FD_CLOEXEC)) < 0)
			spawn_fail(run, "dup3", -rc);
		above++;
	}
	if ((rc = SPAWN_SYS(SYS_close_range, above, ~0U, 0)) < 0)
		spawn_fail(run, "close_range", -rc);
}

/* setgroups, setgid and setuid: 32-bit ids on every architecture. */
#ifdef SYS_setgroups32
#define SPAWN_SYS_SETGROUPS	SYS_setgroups32
#define SPAWN_SYS_SETGID	SYS_setgid32
#define SPAWN_SYS_SETUID	SYS_setuid32
#else
#define SPAWN_SYS_SETGROUPS	SYS_setgroups
#define SPAWN_SYS_SETGID	SYS_setgid
#define SPAWN_SYS_SETUID	SYS_setuid
#endif

/*
 * Drop privileges (child side), with the system calls themselves: glibc's
 * wrappers would tell every thread of the supervisor to change its ids too.
 */
static void SPAWN_SIDE
spawn_drop_privileges(struct spawn_run *run)
{
	const struct child_spec *spec = run->spec;
	long rc;

	if (spec->set_ids) {
		if ((rc = SPAWN_SYS(SPAWN_SYS_SETGROUPS, spec->ngroups,
		    spec->groups)) < 0)
			spawn_fail(run, "setgroups", -rc);
		if ((rc = SPAWN_SYS(SPAWN_SYS_SETGID, spec->gid)) < 0)
			spawn_fail(run, "setgid", -rc);
		if ((rc = SPAWN_SYS(SPAWN_SYS_SETUID, spec->uid)) < 0)
			spawn_fail(run, "setuid", -rc);
		/* As the user now: can it reach the notify socket? */
		if (spec->notify_socket != NULL && (rc = SPAWN_SYS(SYS_faccessat,
		    AT_FDCWD, spec->notify_socket, W_OK)) < 0)
			spawn_fail(run, spec->notify_unreachable, -rc);
		if (spec->preload != NULL && (rc = SPAWN_SYS(SYS_faccessat,
		    AT_FDCWD, spec->preload, R_OK)) < 0)
			spawn_fail(run, spec->preload_unreadable, -rc);
	} else if (spec->set_gid_only) {
		/* Only root gets here (child_spec_init). */
		if ((rc = SPAWN_SYS(SPAWN_SYS_SETGROUPS, 1, &spec->gid)) < 0)
			spawn_fail(run, "setgroups", -rc);
		if ((rc = SPAWN_SYS(SPAWN_SYS_SETGID, spec->gid)) < 0)
			spawn_fail(run, "setgid", -rc);
	}
}

/* The child, from clone to exec: exits 127 if it cannot exec. */
static int SPAWN_SIDE
spawn_main(void *arg)
{
	struct spawn_run *run = arg;
	const struct child_spec *spec = run->spec;
	long rc;

	run->ran = true;
	(void)SPAWN_SYS(SYS_setpgid, 0, 0);
	/*
	 * First: whatever the worker forks from here on stays in the cgroup.
	 * (A start in flight is started in its cgroup, never here: the fd
	 * table it shares could have lost cgroup_fd by now.)
	 */
	if (spec->cgroup_fd != -1 && !run->in_cgroup && !run->in_flight &&
	    (rc = SPAWN_SYS(SYS_write, spec->cgroup_fd, "0", 1)) != 1)
		spawn_fail(run, "join cgroup", rc < 0 ? -rc : EIO);
	spawn_reset_signals();
	if (run->shared_fds)
		spawn_receive_fds(run);
	else
		spawn_place_fds(run);
	if (spawn_nofile_raised)
		(void)SPAWN_SYS(SYS_prlimit64, 0, RLIMIT_NOFILE, &spawn_nofile,
		    NULL);
	if (spec->listen_pid_slot >= 0)
		spawn_format_pid(spec->envp[spec->listen_pid_slot] +
		    strlen("LISTEN_PID="), SPAWN_SYS(SYS_getpid));
	if (spec->directory != NULL &&
	    (rc = SPAWN_SYS(SYS_chdir, spec->directory)) < 0)
		spawn_fail(run, "chdir", -rc);
	spawn_drop_privileges(run);
	rc = SPAWN_SYS(SYS_execve, spec->path, spec->argv, spec->envp);
	spawn_fail(run, "exec", -rc);
}

/*
 * Whether this process runs under valgrind (its preload is in place),
 * which runs a child started with CLONE_VM | CLONE_VFORK as a fork: what
 * the child writes to memory never reaches this process.
 */
bool
spawn_under_valgrind(void)
{
	const char *preload = getenv("LD_PRELOAD");

	return preload != NULL && strstr(preload, "vgpreload") != NULL;
}

/* Whether children share the fd table (1), not (0), or not decided (-1). */
static int	spawn_sharing = -1;

/*
 * Let children share the supervisor's fd table, or make each take a copy
 * (on: decided by what the system allows, as at start).
 */
void
spawn_share_fds(bool on)
{
	spawn_sharing = on ? -1 : 0;
}

/*
 * Tell whether a child may share the fd table: close_range with
 * CLOSE_RANGE_UNSHARE exists (Linux 5.9), fds 1 and 2 are open, and no
 * valgrind, which cannot run a child with CLONE_VM | CLONE_VFORK |
 * CLONE_FILES. Decided once.
 */
static bool
spawn_can_share_fds(void)
{
	/* Fds 1 and 2 open: what the child receives lands at 3, 4, ... */
	if (spawn_sharing == -1)
		spawn_sharing = !spawn_under_valgrind() &&
		    syscall(SYS_close_range, ~0U, ~0U, 0) == 0 &&
		    fcntl(1, F_GETFD) != -1 && fcntl(2, F_GETFD) != -1;
	return spawn_sharing == 1;
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
#define SPAWN_HAVE_CLONE3	1

/*
 * clone3(args): in the child, on args->stack, run fn(arg) and exit with
 * its value; in the caller, return the child's pid or -errno.
 */
static long
spawn_clone3(struct clone_args *args, int (*fn)(void *), void *arg)
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
static int	spawn_into_cgroup = -1;

/*
 * Let children start inside their cgroup where the system allows it, or
 * make each join it by cgroup.procs (off).
 */
void
spawn_start_in_cgroup(bool on)
{
	spawn_into_cgroup = on ? -1 : 0;
}

/* Whether starts may go in flight: 0 not, -1 where the system allows. */
static int	spawn_flying = -1;

/*
 * Let starts go in flight (the supervisor goes on while the child gets to
 * its exec) where the system allows it, or make each wait (off).
 */
void
spawn_start_in_flight(bool on)
{
	spawn_flying = on ? -1 : 0;
}

/*
 * Tell whether a start may go in flight: the child makes raw system calls
 * and starts with clone3 (x86-64), and children share the fd table (which
 * rules valgrind out: it runs only CLONE_VFORK children of CLONE_VM).
 */
static bool
spawn_can_fly(void)
{
#if defined(SPAWN_HAVE_RAW_SYSCALL) && defined(SPAWN_HAVE_CLONE3)
	return spawn_flying != 0 && spawn_can_share_fds();
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
spawn_clone(struct spawn_run *run, int flags, char *stack)
{
#ifdef SPAWN_HAVE_CLONE3
	struct clone_args args;
	bool into;
	long rc;

	if (spawn_into_cgroup == -1)
		spawn_into_cgroup = !spawn_under_valgrind();
	into = run->spec->cgroup_dir_fd != -1 && spawn_into_cgroup == 1;
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
		args.stack = (uint64_t)(uintptr_t)(stack - SPAWN_STACK_SIZE);
		args.stack_size = SPAWN_STACK_SIZE;
		args.cgroup = into ? (uint64_t)run->spec->cgroup_dir_fd : 0;
		run->in_cgroup = into;
		if ((rc = spawn_clone3(&args, spawn_main, run)) > 0)
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
			spawn_into_cgroup = 0;
		if (run->in_flight) {
			if (!into)	/* clone3 itself is refused */
				spawn_flying = 0;
			errno = ENOSYS;
			return -1;
		}
	}
#endif
	return clone(spawn_main, stack, flags | SIGCHLD, run);
}

/* Make every slot's socket pair that is not there. Returns 0, or -1. */
static int
spawn_pass_open(void)
{
	struct spawn_slot *slot;
	int i;

	for (i = 0; i < SPAWN_SLOTS; i++) {
		slot = &spawn_slots[i];
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
spawn_pass_drop(struct spawn_slot *slot)
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
spawn_pass_drain(struct spawn_slot *slot)
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
		spawn_pass_drop(slot);
}

/*
 * Send a child spec->fds, then output_fd and status_fd (each unless -1),
 * over its slot's socket pair, each message with *serial (new for each
 * child); *nsent is how many. Returns 0, or -1 (nothing left in the pair:
 * the child copies the table).
 */
static int
spawn_pass_begin(struct spawn_slot *slot, const struct child_spec *spec,
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
	if (spawn_pass_open() == -1 || slot->sock[0] == -1)
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
		spawn_pass_drop(slot);	/* what was sent goes with it */
		return -1;
	}
	return 0;
}

/*
 * The fds of the supervisor's that starting workers takes, at most, nout
 * of them having an output pipe (not output = discard): the read end of
 * each one's output pipe, for good; and for a while, however many start,
 * the exec-status pipe's read end of each other start in flight (one a
 * slot), and the output pipe's write end and both ends of the status pipe
 * of the start being made. (The slots' socket pairs are made at the
 * start, spawn_init.)
 */
long
spawn_fds_needed(long nout)
{
	return nout + (SPAWN_SLOTS - 1) + 3;
}

/*
 * Get ready to start workers, at the supervisor's start: raise its fd
 * limit, and make the slots' socket pairs that hand children their fds
 * now, so that the supervisor holds as many fds before its first start as
 * after (and after an upgrade as before it).
 */
void
spawn_init(void)
{
	spawn_raise_nofile();
	if (spawn_can_share_fds())
		(void)spawn_pass_open();	/* else made at the first start */
}

/*
 * Watch starts in flight in base's loop from now on (NULL: stop; each is
 * then settled only by spawn_reaped, spawn_settle_all or a start that
 * needs its slot). failed is told of each whose child could not exec,
 * with its pid and why.
 */
void
spawn_watch(struct event_base *base, spawn_failed_fn failed, void *arg)
{
	struct spawn_flight *f;
	int i;

	spawn_base = base;
	spawn_failed_cb = failed;
	spawn_failed_arg = arg;
	spawn_wake.fn = NULL;
	for (i = 0; i < SPAWN_SLOTS; i++) {
		f = &spawn_slots[i].flight;
		if (f->ev != NULL) {
			event_free(f->ev);
			f->ev = NULL;
		}
	}
}

/*
 * While workers start, the supervisor's loop does not turn: before each
 * start, and while a start waits for a free slot, fd is looked at and cb
 * called when it is readable, to take what it holds without blocking (the
 * notify socket, whose queue holds only net.unix.max_dgram_qlen
 * datagrams). cb returns how many things it took: 0 and it is not called
 * again in that wait. Not while every start is settled before an exec.
 * fd -1: none.
 */
void
spawn_meanwhile(int fd, spawn_meanwhile_fn cb, void *arg)
{
	spawn_meanwhile_fd.fd = cb != NULL ? fd : -1;
	spawn_meanwhile_fd.cb = cb;
	spawn_meanwhile_fd.arg = arg;
}

/*
 * Make the fd table hold fds up to count - 1 now (count is clamped to the
 * fd limit), while no start in flight shares it: a table a child shares
 * (CLONE_FILES, until it execs) grows only after an RCU grace period (the
 * kernel's expand_fdtable waits for one), which held a reload's spawn
 * slice for 10-30 ms when its new pipes outgrew the table. Nothing is done
 * while a start is in flight, if the table is that large already, or if
 * /dev/null cannot be opened (the fd duplicated up there is one of its,
 * closed at once). errno is kept.
 */
void
spawn_reserve_fds(long count)
{
	struct rlimit nofile;
	int i, fd, src, saved_errno = errno;

	for (i = 0; i < SPAWN_SLOTS; i++)
		if (spawn_slots[i].flight.pid != 0)
			return;
	if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 &&
	    nofile.rlim_cur != RLIM_INFINITY && (rlim_t)count > nofile.rlim_cur)
		count = (long)nofile.rlim_cur;
	if (count < 2 || count > INT_MAX ||
	    (src = open("/dev/null", O_RDONLY | O_CLOEXEC)) == -1) {
		errno = saved_errno;
		return;
	}
	/* The lowest free fd from count - 1 on: the table grows to hold it. */
	if ((fd = fcntl(src, F_DUPFD_CLOEXEC, (int)(count - 1))) != -1)
		close(fd);
	close(src);
	errno = saved_errno;
}

/* The lowest fd above every fd the child must keep and every target. */
static int
spawn_high_fd(const struct child_spec *spec, int output_fd)
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

/* A limit's value, for a message: "unlimited" if it is none. */
static const char *
spawn_rlim_text(rlim_t value, char *buf, size_t size)
{
	if (value == RLIM_INFINITY)
		return "unlimited";
	snprintf(buf, size, "%llu", (unsigned long long)value);
	return buf;
}

/*
 * The words naming the limit a start ran into, in buf, to follow its
 * error ("pipe: Too many open files" and " (the fd limit is ...)"), or ""
 * if err is no limit's. Only on failure: it reads /proc/self/fd.
 */
const char *
spawn_limit_words(int err, char *buf, size_t size)
{
	char value[32];
	struct rlimit rl;
	long used;

	buf[0] = '\0';
	if (err == EMFILE && getrlimit(RLIMIT_NOFILE, &rl) == 0) {
		if ((used = procfs_fds_open()) == -1)
			snprintf(buf, size, " (the fd limit is %s%s)",
			    spawn_rlim_text(rl.rlim_cur, value, sizeof(value)),
			    errno == EMFILE ? ", all in use" : "");
		else
			snprintf(buf, size, " (the fd limit is %s; %ld in use)",
			    spawn_rlim_text(rl.rlim_cur, value, sizeof(value)),
			    used);
	} else if (err == ENFILE)
		snprintf(buf, size, " (the system's limit on open files, "
		    "fs.file-max)");
	else if (err == EAGAIN && geteuid() != 0 &&
	    getrlimit(RLIMIT_NPROC, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
		snprintf(buf, size, " (the process limit: RLIMIT_NPROC %llu "
		    "for uid %u, or the cgroup's pids.max)",
		    (unsigned long long)rl.rlim_cur, (unsigned int)getuid());
	else if (err == EAGAIN)
		snprintf(buf, size, " (the process limit: the cgroup's pids.max, "
		    "or kernel.threads-max)");
	return buf;
}

/*
 * Whether a child that copies the fd table can lay its fds out: it parks
 * /dev/null, the output pipe and spec->fds one after another from high
 * (above every fd it holds), and dup3 refuses a number past the fd limit.
 * If it cannot, *cause says so.
 */
static bool
spawn_copy_fits(const struct child_spec *spec, int high, char **cause)
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
spawn_block_take(char **p, size_t n, size_t align)
{
	uintptr_t at = ((uintptr_t)*p + align - 1) & ~(uintptr_t)(align - 1);

	*p = (char *)at + n;
	return (void *)at;
}

/* Copy the NULL-ended vector v into the block at *p (or just count, if count). */
static char **
spawn_block_vector(char **p, char *const *v, size_t *size, bool count)
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
	copy = spawn_block_take(p, (n + 1) * sizeof(char *), sizeof(char *));
	for (i = 0; i < n; i++) {
		len = strlen(v[i]) + 1;
		copy[i] = memcpy(spawn_block_take(p, len, 1), v[i], len);
	}
	copy[n] = NULL;
	return copy;
}

/* Copy string s (or NULL) into the block at *p (or just count). */
static char *
spawn_block_string(char **p, const char *s, size_t *size, bool count)
{
	size_t len;

	if (s == NULL)
		return NULL;
	len = strlen(s) + 1;
	if (count) {
		*size += len;
		return NULL;
	}
	return memcpy(spawn_block_take(p, len, 1), s, len);
}

/*
 * Copy into *dst, in one allocation returned (free it when done), all of
 * src the child reads: a child in flight reads them after spawn_spawn
 * returned, when the caller has freed its spec and a reload may have
 * freed the config it borrows from. fds are left out (only sent). NULL
 * without memory.
 */
static char *
spawn_spec_copy(struct child_spec *dst, const struct child_spec *src)
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
				dst->groups = memcpy(spawn_block_take(&p,
				    (size_t)src->ngroups * sizeof(gid_t),
				    sizeof(gid_t)), src->groups,
				    (size_t)src->ngroups * sizeof(gid_t));
		}
		dst->argv = spawn_block_vector(&p, src->argv, &size, count);
		dst->envp = spawn_block_vector(&p, src->envp, &size, count);
		dst->path = spawn_block_string(&p, src->path, &size, count);
		dst->directory = spawn_block_string(&p, src->directory, &size,
		    count);
		dst->notify_socket = spawn_block_string(&p, src->notify_socket,
		    &size, count);
		dst->notify_unreachable = spawn_block_string(&p,
		    src->notify_unreachable, &size, count);
		dst->preload = spawn_block_string(&p, src->preload, &size,
		    count);
		dst->preload_unreadable = spawn_block_string(&p,
		    src->preload_unreadable, &size, count);
	}
	return block;
}

/* A slot is free: tell whoever spawn_slot_ready asked to wait, once. */
static void
spawn_wake_waiter(void)
{
	void (*fn)(void *) = spawn_wake.fn;

	if (fn == NULL)
		return;
	spawn_wake.fn = NULL;
	fn(spawn_wake.arg);
}

/*
 * Settle the start in flight in slot: its child exec'd or exited (or, if
 * it died before it took its fds, they are taken back here). If it could
 * not exec, spawn_failed_cb is told, with why. The slot is free again.
 */
static void
spawn_flight_settle(struct spawn_slot *slot)
{
	struct spawn_flight *f = &slot->flight;
	char *cause = NULL;
	pid_t pid = f->pid;
	char eof;

	if (f->ev != NULL) {
		event_free(f->ev);
		f->ev = NULL;
	}
	/* The status pipe's end, if the child never took it, is in here. */
	spawn_pass_drain(slot);
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
		if (spawn_failed_cb != NULL)
			spawn_failed_cb(pid, cause, spawn_failed_arg);
		free(cause);
	}
	spawn_wake_waiter();
}

/* Event: a start in flight's exec-status pipe is at end-of-file. */
static void
spawn_flight_done(evutil_socket_t fd, short what, void *arg)
{
	struct spawn_slot *slot = arg;

	(void)fd;
	(void)what;
	loopstat_mark("spawn settle");
	spawn_flight_settle(slot);
}

/*
 * Whether the child of a start in flight exited (looked at without
 * reaping it), or was reaped already by a wait for any child (ECHILD).
 */
static bool
spawn_flight_exited(const struct spawn_slot *slot)
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
spawn_settle_done(bool wait, bool meanwhile)
{
	struct pollfd pfd[SPAWN_SLOTS + 1];
	struct spawn_slot *of[SPAWN_SLOTS];
	pid_t pid[SPAWN_SLOTS];
	int n = 0, i, settled = 0, ready, watch;

	for (i = 0; i < SPAWN_SLOTS; i++)
		if (spawn_slots[i].flight.pid != 0) {
			pfd[n].fd = spawn_slots[i].flight.exec_fd;
			pfd[n].events = POLLIN;
			pfd[n].revents = 0;
			pid[n] = spawn_slots[i].flight.pid;
			of[n++] = &spawn_slots[i];
		}
	if (n == 0)
		return 0;
	/* Watched while waiting, until it has nothing more to take. */
	watch = wait && meanwhile && spawn_meanwhile_fd.fd != -1;
	pfd[n].fd = spawn_meanwhile_fd.fd;
	pfd[n].events = POLLIN;
	for (;;) {
		pfd[n].revents = 0;
		ready = poll(pfd, (nfds_t)(n + watch), wait ? 10 : 0);
		for (i = 0; i < n; i++)
			/* The callback of one settled may not start another. */
			if (of[i]->flight.pid == pid[i] &&
			    ((ready > 0 && pfd[i].revents != 0) ||
			    spawn_flight_exited(of[i]))) {
				spawn_flight_settle(of[i]);
				settled++;
			}
		if (watch && ready > 0 && pfd[n].revents != 0 &&
		    spawn_meanwhile_fd.cb(spawn_meanwhile_fd.arg) == 0)
			watch = 0;
		if (settled > 0 || !wait)
			return settled;
	}
}

/*
 * Settle every start in flight, waiting for those whose child has not
 * exec'd yet (before the supervisor execs another image, and for tests).
 */
void
spawn_settle_all(void)
{
	while (spawn_settle_done(true, false) > 0)
		continue;
}

/*
 * A child exited and is about to be told (reap.c): if its start is still
 * in flight, settle it first, so that a failure to exec is known by then.
 */
void
spawn_reaped(pid_t pid)
{
	int i;

	if (pid <= 0)
		return;
	for (i = 0; i < SPAWN_SLOTS; i++)
		if (spawn_slots[i].flight.pid == pid) {
			spawn_flight_settle(&spawn_slots[i]);
			return;
		}
}

/*
 * If pid's start is in flight and its child exec'd or exited, settle it
 * now (a failure is told to spawn_watch's callback before this returns).
 * Never waits. Returns false while the child is still on its way to exec
 * (a slow exec, a stopped child), true otherwise.
 */
bool
spawn_settle(pid_t pid)
{
	struct pollfd pfd;
	int i;

	for (i = 0; i < SPAWN_SLOTS; i++)
		if (pid > 0 && spawn_slots[i].flight.pid == pid) {
			pfd.fd = spawn_slots[i].flight.exec_fd;
			pfd.events = POLLIN;
			if (poll(&pfd, 1, 0) <= 0 &&
			    !spawn_flight_exited(&spawn_slots[i]))
				return false;
			spawn_flight_settle(&spawn_slots[i]);
			return true;
		}
	return true;
}

/* Whether pid's start is in flight (its child has not been seen to exec). */
bool
spawn_in_flight(pid_t pid)
{
	int i;

	for (i = 0; i < SPAWN_SLOTS; i++)
		if (pid > 0 && spawn_slots[i].flight.pid == pid)
			return true;
	return false;
}

/* A slot with no start in flight, or NULL. */
static struct spawn_slot *
spawn_slot_unused(void)
{
	int i;

	for (i = 0; i < SPAWN_SLOTS; i++)
		if (spawn_slots[i].flight.pid == 0)
			return &spawn_slots[i];
	return NULL;
}

/*
 * Whether spawn_start would go at once (true), or would first wait for a
 * start in flight to be done, every slot being taken (false): then
 * wake(arg) is called once a slot is free, from spawn_watch's loop (it
 * replaces an earlier wake not called yet). The starts in flight that are
 * done are settled first, without waiting. True also where no loop could
 * tell (no spawn_watch, or a start in flight without its event): the
 * start then waits, as it would have.
 */
bool
spawn_slot_ready(void (*wake)(void *), void *arg)
{
	int i;

	if (spawn_slot_unused() != NULL)
		return true;
	(void)spawn_settle_done(false, false);
	if (spawn_slot_unused() != NULL || spawn_base == NULL)
		return true;
	for (i = 0; i < SPAWN_SLOTS; i++)
		if (spawn_slots[i].flight.ev == NULL)
			return true;
	spawn_wake.fn = wake;
	spawn_wake.arg = arg;
	return false;
}

/*
 * A free slot: if every one is taken, the starts in flight that are done
 * are settled, and if none is, the first to be is waited for.
 */
static struct spawn_slot *
spawn_free_slot(void)
{
	struct spawn_slot *slot;

	/* What came meanwhile first: a start takes some 50 µs. */
	if (spawn_meanwhile_fd.fd != -1)
		(void)spawn_meanwhile_fd.cb(spawn_meanwhile_fd.arg);
	while ((slot = spawn_slot_unused()) == NULL)
		(void)spawn_settle_done(true, true);
	return slot;
}

/*
 * Start the child of spec in flight on slot, from a copy of spec: it
 * reports through its exec-status pipe. Returns the pid; 0 if a start in
 * flight cannot be made here (the caller starts it with CLONE_VFORK); -1
 * and errno if no process could be made.
 */
static pid_t
spawn_fly(struct spawn_slot *slot, const struct child_spec *spec,
    int output_fd, char *stack)
{
	struct spawn_flight *f = &slot->flight;
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
	if (spawn_pass_begin(slot, spec, output_fd, st[1], &f->run.nsent,
	    &f->run.serial) == -1) {
		close(st[0]);
		close(st[1]);
		return 0;
	}
	close(st[1]);
	f->run.sock = slot->sock[1];
	if ((f->block = spawn_spec_copy(&f->spec, spec)) == NULL) {
		/* Waiting for the exec needs no copy. */
		spawn_pass_drain(slot);
		close(st[0]);
		return 0;
	}
	f->run.spec = &f->spec;
	pid = spawn_clone(&f->run, CLONE_VM | CLONE_FILES, stack);
	err = errno;
	if (pid == -1) {
		free(f->block);
		f->block = NULL;
		memset(&f->spec, 0, sizeof(f->spec));
		spawn_pass_drain(slot);
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
	if (spawn_base != NULL) {
		f->ev = event_new(spawn_base, st[0], EV_READ, spawn_flight_done,
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
 * and one that could not exec is told to the spawn_watch callback (and
 * shows as an exit with status 127). Elsewhere (CLONE_VFORK) it goes on
 * once the child exec'd or exited. Returns:
 *   0			it runs (or is on its way to exec); the caller owns
 *			proc->output_fd (-1 when the output is discarded;
 *			else CLOEXEC, non-blocking)
 *   SPAWN_NOT_STARTED	no process (no fd or process left): *cause says why
 *   SPAWN_CANNOT_RUN	the child could not exec (a missing directory, a
 *			command it may not run): *cause says where and why;
 *			it is reaped, its wait status in proc->wait_status
 */
int
spawn_start(const struct child_spec *spec, struct spawn_proc *proc,
    char **cause)
{
	struct spawn_slot *slot;
	struct spawn_run run;
	unsigned long long before, after;
	int outp[2] = { -1, -1 }, status = 0, err, flags;
	char limit[160];
	sigset_t all, old;
	bool failed;
	char *stack;
	pid_t pid;

	memset(proc, 0, sizeof(*proc));
	proc->output_fd = -1;
	slot = spawn_free_slot();
	if ((stack = spawn_stack_top(slot)) == NULL) {
		cause_set(cause, "mmap: %s", strerror(errno));
		return SPAWN_NOT_STARTED;
	}
	if (!spec->discard_output && pipe2(outp, O_CLOEXEC) == -1) {
		err = errno;
		cause_set(cause, "pipe: %s%s", strerror(err),
		    spawn_limit_words(err, limit, sizeof(limit)));
		return SPAWN_NOT_STARTED;
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
	/* In flight, a child never writes cgroup.procs (see spawn_main). */
	if (spawn_can_fly() && (spec->cgroup_fd == -1 ||
	    (spec->cgroup_dir_fd != -1 && spawn_into_cgroup != 0))) {
		before = procfs_now_ticks();
		pid = spawn_fly(slot, spec, outp[1], stack);
		err = errno;
		after = procfs_now_ticks();
		if (pid != 0) {
			sigprocmask(SIG_SETMASK, &old, NULL);
			if (outp[1] != -1)
				close(outp[1]);
			if (pid == -1) {
				if (outp[0] != -1)
					close(outp[0]);
				cause_set(cause, "clone: %s%s", strerror(err),
				    spawn_limit_words(err, limit,
				    sizeof(limit)));
				return SPAWN_NOT_STARTED;
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
	run.high = spawn_high_fd(spec, outp[1]);
	flags = CLONE_VM | CLONE_VFORK;
	/* The socket holds the fds for the child until it is drained. */
	if (spawn_can_share_fds() && spawn_pass_begin(slot, spec, outp[1], -1,
	    &run.nsent, &run.serial) == 0) {
		run.shared_fds = true;
		run.sock = slot->sock[1];
		flags |= CLONE_FILES;
	} else if (!spawn_copy_fits(spec, run.high, cause)) {
		sigprocmask(SIG_SETMASK, &old, NULL);
		if (outp[0] != -1) {
			close(outp[0]);
			close(outp[1]);
		}
		return SPAWN_NOT_STARTED;
	}
	before = procfs_now_ticks();
	pid = spawn_clone(&run, flags, stack);
	err = errno;
	after = procfs_now_ticks();
	if (run.shared_fds && run.nsent > 0)
		spawn_pass_drain(slot);
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
			cause_set(cause, "clone: %s%s", strerror(err),
			    spawn_limit_words(err, limit, sizeof(limit)));
			return SPAWN_NOT_STARTED;
		}
		cause_set(cause, "cannot run %s: %s: %s", spec->argv[0],
		    run.stage, strerror(run.err));
		proc->pid = pid;
		proc->wait_status = status;
		return SPAWN_CANNOT_RUN;
	}
	if (outp[0] != -1)
		fcntl(outp[0], F_SETFL, O_NONBLOCK);
	proc->pid = pid;
	proc->output_fd = outp[0];
	proc->start = before == after ? before : 0;
	return 0;
}
