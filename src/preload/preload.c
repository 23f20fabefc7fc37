/*
 * preload.c: libhandoff-preload.so, the bind() shim, for servers that
 * insist on binding their own port (`preload = yes`).
 *
 * Inherit and reuseport modes: the supervisor's listeners wait in the
 * stash (stash.c). A bind() to a listener's address makes the app's fd
 * that socket (dup3) instead; listen() on it keeps the supervisor's
 * backlog; the shared socket is non-blocking (every worker of every
 * generation shares its open file description), so accept() and the
 * datagram calls of an app that left its socket blocking wait with
 * poll() until they have something, and the app's own O_NONBLOCK choice
 * (fcntl, FIONBIO) is kept aside without changing the shared flags.
 * unlink() of a stash unix socket's file is a no-op; close(),
 * close_range() and dup2() never take the stash away; exec passes it on
 * (exec.c). Every other fd passes through untouched.
 *
 * Self mode: bind() of a TCP or UDP socket to one of the program's
 * addresses sets SO_REUSEPORT first, so that two generations overlap on
 * the port; no other bind() is changed.
 *
 * Either way, with `ready = listening` the shim tells the supervisor when
 * the app listens on (UDP: binds) each of its program's addresses
 * (stash_announce).
 */
#include "autoconf.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

#include "preload.h"
#include "stash.h"
#include "timeo.h"

/* A sockaddr argument as glibc declares it (a transparent union in GNU C). */
#if !defined(__cplusplus) && defined(__GNUC__) && defined(__USE_GNU)
#define PRELOAD_SA(a)	((a).__sockaddr__)
#else
#define PRELOAD_SA(a)	(a)
#endif

struct preload_real preload_real;

/* The next definition of name (libc's); aborts if there is none. */
static void *
preload_lookup(const char *name)
{
	void *fn = dlsym(RTLD_NEXT, name);

	if (fn == NULL) {
		static const char msg[] = "libhandoff-preload.so: a function "
		    "the shim wraps is missing from libc\n";
		(void)!write(2, msg, sizeof(msg) - 1);
		abort();
	}
	return fn;
}

/* Look up the next definition of every function the shim wraps. */
void
preload_resolve(void)
{
	preload_real.bind = preload_lookup("bind");
	preload_real.listen = preload_lookup("listen");
	preload_real.accept4 = preload_lookup("accept4");
	preload_real.accept = preload_lookup("accept");
	preload_real.recv = preload_lookup("recv");
	preload_real.recvfrom = preload_lookup("recvfrom");
	preload_real.recvmsg = preload_lookup("recvmsg");
	preload_real.recvmmsg = preload_lookup("recvmmsg");
	preload_real.read = preload_lookup("read");
	preload_real.read_chk = preload_lookup("__read_chk");
	preload_real.recv_chk = preload_lookup("__recv_chk");
	preload_real.recvfrom_chk = preload_lookup("__recvfrom_chk");
	preload_real.send = preload_lookup("send");
	preload_real.sendto = preload_lookup("sendto");
	preload_real.sendmsg = preload_lookup("sendmsg");
	preload_real.sendmmsg = preload_lookup("sendmmsg");
	preload_real.ioctl = preload_lookup("ioctl");
	preload_real.setsockopt = preload_lookup("setsockopt");
	preload_real.getsockopt = preload_lookup("getsockopt");
	preload_real.close = preload_lookup("close");
	preload_real.dup = preload_lookup("dup");
	preload_real.dup2 = preload_lookup("dup2");
	preload_real.dup3 = preload_lookup("dup3");
	preload_real.unlink = preload_lookup("unlink");
	preload_real.unlinkat = preload_lookup("unlinkat");
	preload_real.remove = preload_lookup("remove");
	preload_real.execve = preload_lookup("execve");
	preload_real.execvpe = preload_lookup("execvpe");
	preload_real.fexecve = preload_lookup("fexecve");
	preload_real.execveat = preload_lookup("execveat");
	preload_real.fcntl = preload_lookup("fcntl");
	preload_real.fcntl64 = preload_lookup("fcntl64");
	__atomic_store_n(&preload_real.ready, 1, __ATOMIC_RELEASE);
}

/*
 * Set the shim up before main(): libc's functions, the stash, then what
 * an exec passes on of it.
 */
__attribute__((constructor)) static void
preload_init(void)
{
	preload_resolve();
	stash_init();
	preload_exec_init();
}

/* fcntl(2) without the interposed wrapper. */
static int
preload_fcntl(int fd, int cmd, long arg)
{
	return (int)syscall(SYS_fcntl, fd, cmd, arg);
}

/* The adopted fd at fd that the app keeps blocking, or NULL. */
static struct stash_fd *
preload_blocking(int fd, bool dgram_only)
{
	struct stash_fd *e;

	if (__atomic_load_n(dgram_only ? &stash.ndgram : &stash.nadopted,
	    __ATOMIC_ACQUIRE) == 0 || (e = stash_find(fd)) == NULL ||
	    e->kind != STASH_ADOPTED ||
	    __atomic_load_n(&e->nonblock, __ATOMIC_RELAXED))
		return NULL;
	if (dgram_only && stash.socks[e->sock].type != SOCK_DGRAM)
		return NULL;
	return e;
}

/*
 * Tell whether a signal that interrupted a wait must end it with EINTR,
 * as it would end a blocking call: when some handler is installed without
 * SA_RESTART (which one ran is not known; with SA_RESTART everywhere the
 * call goes on, as the kernel restarts it).
 */
static bool
preload_interrupted(void)
{
	struct sigaction sa;
	int sig;

	for (sig = 1; sig < NSIG; sig++) {
		if (sig == SIGKILL || sig == SIGSTOP ||
		    sigaction(sig, NULL, &sa) == -1)
			continue;
		if (sa.sa_handler != SIG_DFL && sa.sa_handler != SIG_IGN &&
		    !(sa.sa_flags & SA_RESTART))
			return true;
	}
	return false;
}

/*
 * Wait, as a blocking call on adopted fd e would, until fd has what
 * events asks for: 0 then, -1 with EAGAIN once the app's SO_RCVTIMEO or
 * SO_SNDTIMEO passed (*deadline, 0 at the call's first wait), EINTR when
 * a signal ends the wait (preload_interrupted), or poll's error.
 */
static int
preload_wait(const struct stash_fd *e, int fd, short events,
    long long *deadline)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	long long us = __atomic_load_n(&e->timeo[events == POLLOUT ? 1 : 0],
	    __ATOMIC_RELAXED);
	int timeout, rc;

	for (;;) {
		timeout = timeo_poll_ms(us, deadline);
		if ((rc = poll(&pfd, 1, timeout)) > 0)
			return 0;
		if (rc == 0) {
			errno = EAGAIN;
			return -1;
		}
		/* With a timeout, EINTR whatever SA_RESTART says. */
		if (errno != EINTR || timeout != -1 || preload_interrupted())
			return -1;
	}
}

/*
 * The app's SO_RCVTIMEO (TIMEO_RCV) or SO_SNDTIMEO of its socket at fd,
 * in microseconds or TIMEO_FOREVER, before the socket is replaced.
 */
static long long
preload_app_timeo(int fd, int name)
{
	struct timeval tv = { 0, 0 };
	socklen_t len = sizeof(tv);

	if (PRELOAD_REAL(getsockopt)(fd, SOL_SOCKET, name, &tv, &len) == -1 ||
	    len < sizeof(tv) || (tv.tv_sec <= 0 && tv.tv_usec <= 0))
		return TIMEO_FOREVER;
	return (long long)tv.tv_sec * 1000000 + tv.tv_usec;
}

/* Tell whether a call's result says it would have blocked. */
static bool
preload_would_block(long rc, int flags)
{
	return rc == -1 && (errno == EAGAIN || errno == EWOULDBLOCK) &&
	    !(flags & MSG_DONTWAIT);
}

/*
 * bind(): in inherit and reuseport modes, a listener's address makes fd
 * that listener; in self mode, a program address gets SO_REUSEPORT.
 */
PRELOAD_EXPORT int
bind(int fd, __CONST_SOCKADDR_ARG addr, socklen_t len)
{
	const struct sockaddr *sa = PRELOAD_SA(addr);
	int k, fdflags, flflags, saved = errno, on = 1, rc;
	long long rcvtimeo, sndtimeo;
	struct stash_fd *e;

	if ((k = stash_match_inherited(fd, sa, len)) != -1) {
		fdflags = preload_fcntl(fd, F_GETFD, 0);
		flflags = preload_fcntl(fd, F_GETFL, 0);
		if (fdflags == -1 || flflags == -1)
			return -1;
		rcvtimeo = preload_app_timeo(fd, SO_RCVTIMEO);
		sndtimeo = preload_app_timeo(fd, SO_SNDTIMEO);
		/*
		 * The app's socket at fd is closed and replaced: fd is the
		 * supervisor's listener now, shared with every worker.
		 */
		if (syscall(SYS_dup3, stash.socks[k].fd, fd,
		    (fdflags & FD_CLOEXEC) ? O_CLOEXEC : 0) == -1)
			return -1;
		/* The app's timeouts stay its own, off the shared socket. */
		if ((e = stash_track(fd, k, STASH_ADOPTED,
		    (flflags & O_NONBLOCK) != 0)) != NULL) {
			__atomic_store_n(&e->timeo[0], rcvtimeo,
			    __ATOMIC_RELAXED);
			__atomic_store_n(&e->timeo[1], sndtimeo,
			    __ATOMIC_RELAXED);
		}
		if (stash.socks[k].type == SOCK_DGRAM)
			stash_announce(k);
		errno = saved;
		return 0;
	}
	if ((k = stash_match_self(fd, sa, len)) == -1) {
		if ((rc = PRELOAD_REAL(bind)(fd, addr, len)) == -1 &&
		    errno == EADDRINUSE)
			stash_explain_in_use(sa, len);
		return rc;
	}
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on));
	errno = saved;
	if ((rc = PRELOAD_REAL(bind)(fd, addr, len)) == 0) {
		stash_track(fd, k, STASH_SELF_BOUND, false);
		if (stash.socks[k].type == SOCK_DGRAM)
			stash_announce(k);
	}
	return rc;
}

/*
 * listen(): on an adopted stream socket, nothing to do (it listens with
 * the supervisor's backlog); either way, the app listens now.
 */
PRELOAD_EXPORT int
listen(int fd, int backlog)
{
	struct stash_fd *e = stash_find(fd);
	int rc;

	if (e != NULL && e->kind == STASH_ADOPTED &&
	    stash.socks[e->sock].type == SOCK_STREAM) {
		stash_announce(e->sock);
		return 0;
	}
	if ((rc = PRELOAD_REAL(listen)(fd, backlog)) == 0 && e != NULL)
		stash_announce(e->sock);
	return rc;
}

/* accept4(): blocks on an adopted socket the app keeps blocking. */
PRELOAD_EXPORT int
accept4(int fd, __SOCKADDR_ARG addr, socklen_t *len, int flags)
{
	const struct stash_fd *e;
	long long deadline = 0;
	int rc;

	if ((e = preload_blocking(fd, false)) == NULL)
		return PRELOAD_REAL(accept4)(fd, addr, len, flags);
	while (preload_would_block(rc = PRELOAD_REAL(accept4)(fd, addr, len,
	    flags), 0))
		if (preload_wait(e, fd, POLLIN, &deadline) == -1)
			return -1;
	return rc;
}

/* accept(): as accept4() without flags. */
PRELOAD_EXPORT int
accept(int fd, __SOCKADDR_ARG addr, socklen_t *len)
{
	const struct stash_fd *e;
	long long deadline = 0;
	int rc;

	if ((e = preload_blocking(fd, false)) == NULL)
		return PRELOAD_REAL(accept)(fd, addr, len);
	while (preload_would_block(rc = PRELOAD_REAL(accept)(fd, addr, len), 0))
		if (preload_wait(e, fd, POLLIN, &deadline) == -1)
			return -1;
	return rc;
}

/*
 * Run call (an expression of rc) on fd; on an adopted datagram socket the
 * app keeps blocking, again after waiting for events until it would not
 * block.
 */
#define PRELOAD_DGRAM(fd, flags, events, call) do {			\
	const struct stash_fd *e_;					\
	long long deadline_ = 0;					\
	long rc_;							\
	if ((e_ = preload_blocking(fd, true)) == NULL ||		\
	    ((flags) & MSG_DONTWAIT))					\
		return call;						\
	while (preload_would_block(rc_ = call, flags))			\
		if (preload_wait(e_, fd, events, &deadline_) == -1)	\
			return -1;					\
	return rc_;							\
} while (0)

/* recv() */
PRELOAD_EXPORT ssize_t
recv(int fd, void *buf, size_t n, int flags)
{
	PRELOAD_DGRAM(fd, flags, POLLIN, PRELOAD_REAL(recv)(fd, buf, n, flags));
}

/* recvfrom() */
PRELOAD_EXPORT ssize_t
recvfrom(int fd, void *buf, size_t n, int flags, __SOCKADDR_ARG addr,
    socklen_t *len)
{
	PRELOAD_DGRAM(fd, flags, POLLIN,
	    PRELOAD_REAL(recvfrom)(fd, buf, n, flags, addr, len));
}

/* recvmsg() */
PRELOAD_EXPORT ssize_t
recvmsg(int fd, struct msghdr *msg, int flags)
{
	PRELOAD_DGRAM(fd, flags, POLLIN, PRELOAD_REAL(recvmsg)(fd, msg, flags));
}

/*
 * recvmmsg(): on an adopted datagram socket the app keeps blocking, it
 * returns once some datagrams are there, as with MSG_WAITFORONE.
 */
PRELOAD_EXPORT int
recvmmsg(int fd, struct mmsghdr *vec, unsigned int vlen, int flags,
    struct timespec *timeout)
{
	PRELOAD_DGRAM(fd, flags, POLLIN,
	    PRELOAD_REAL(recvmmsg)(fd, vec, vlen, flags, timeout));
}

/* read() */
PRELOAD_EXPORT ssize_t
read(int fd, void *buf, size_t n)
{
	PRELOAD_DGRAM(fd, 0, POLLIN, PRELOAD_REAL(read)(fd, buf, n));
}

/* read() of a program built with _FORTIFY_SOURCE. */
PRELOAD_EXPORT ssize_t
__read_chk(int fd, void *buf, size_t n, size_t buflen)
{
	PRELOAD_DGRAM(fd, 0, POLLIN,
	    PRELOAD_REAL(read_chk)(fd, buf, n, buflen));
}

/* recv() of a program built with _FORTIFY_SOURCE. */
PRELOAD_EXPORT ssize_t
__recv_chk(int fd, void *buf, size_t n, size_t buflen, int flags)
{
	PRELOAD_DGRAM(fd, flags, POLLIN,
	    PRELOAD_REAL(recv_chk)(fd, buf, n, buflen, flags));
}

/* recvfrom() of a program built with _FORTIFY_SOURCE. */
PRELOAD_EXPORT ssize_t
__recvfrom_chk(int fd, void *buf, size_t n, size_t buflen, int flags,
    __SOCKADDR_ARG addr, socklen_t *len)
{
	PRELOAD_DGRAM(fd, flags, POLLIN,
	    PRELOAD_REAL(recvfrom_chk)(fd, buf, n, buflen, flags, addr, len));
}

/* send() */
PRELOAD_EXPORT ssize_t
send(int fd, const void *buf, size_t n, int flags)
{
	PRELOAD_DGRAM(fd, flags, POLLOUT,
	    PRELOAD_REAL(send)(fd, buf, n, flags));
}

/* sendto() */
PRELOAD_EXPORT ssize_t
sendto(int fd, const void *buf, size_t n, int flags,
    __CONST_SOCKADDR_ARG addr, socklen_t len)
{
	PRELOAD_DGRAM(fd, flags, POLLOUT,
	    PRELOAD_REAL(sendto)(fd, buf, n, flags, addr, len));
}

/* sendmsg() */
PRELOAD_EXPORT ssize_t
sendmsg(int fd, const struct msghdr *msg, int flags)
{
	PRELOAD_DGRAM(fd, flags, POLLOUT,
	    PRELOAD_REAL(sendmsg)(fd, msg, flags));
}

/* sendmmsg() */
PRELOAD_EXPORT int
sendmmsg(int fd, struct mmsghdr *vec, unsigned int vlen, int flags)
{
	PRELOAD_DGRAM(fd, flags, POLLOUT,
	    PRELOAD_REAL(sendmmsg)(fd, vec, vlen, flags));
}

/*
 * fcntl() on an adopted fd: O_NONBLOCK is the app's own (F_SETFL keeps it
 * aside and the shared description non-blocking; F_GETFL shows the app's);
 * a duplicate is adopted too. Every other call passes through.
 */
static int
preload_fcntl_call(int (*real)(int, int, ...), int fd, int cmd, void *arg)
{
	struct stash_fd *e;
	int rc;

	if ((e = stash_find(fd)) == NULL || e->kind != STASH_ADOPTED)
		return real(fd, cmd, arg);
	switch (cmd) {
	case F_GETFL:
		if ((rc = real(fd, cmd)) == -1)
			return -1;
		return (rc & ~O_NONBLOCK) |
		    (__atomic_load_n(&e->nonblock, __ATOMIC_RELAXED) ?
		    O_NONBLOCK : 0);
	case F_SETFL:
		if ((rc = real(fd, cmd, (int)(long)arg | O_NONBLOCK)) == 0)
			__atomic_store_n(&e->nonblock,
			    ((int)(long)arg & O_NONBLOCK) ? 1 : 0,
			    __ATOMIC_RELAXED);
		return rc;
	case F_DUPFD:
	case F_DUPFD_CLOEXEC:
		if ((rc = real(fd, cmd, arg)) != -1)
			stash_track_as(rc, e);
		return rc;
	default:
		return real(fd, cmd, arg);
	}
}

/* fcntl() (see preload_fcntl_call). */
PRELOAD_EXPORT int
fcntl(int fd, int cmd, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	return preload_fcntl_call(PRELOAD_REAL(fcntl), fd, cmd, arg);
}

/* fcntl64(), what fcntl() is with 64-bit file offsets. */
PRELOAD_EXPORT int
fcntl64(int fd, int cmd, ...)
{
	va_list ap;
	void *arg;

	va_start(ap, cmd);
	arg = va_arg(ap, void *);
	va_end(ap);
	return preload_fcntl_call(PRELOAD_REAL(fcntl64), fd, cmd, arg);
}

/* ioctl(): FIONBIO on an adopted fd sets the app's O_NONBLOCK only. */
PRELOAD_EXPORT int
ioctl(int fd, unsigned long int request, ...)
{
	struct stash_fd *e;
	va_list ap;
	void *arg;

	va_start(ap, request);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (request != FIONBIO || arg == NULL || (e = stash_find(fd)) == NULL ||
	    e->kind != STASH_ADOPTED)
		return PRELOAD_REAL(ioctl)(fd, request, arg);
	__atomic_store_n(&e->nonblock, *(const int *)arg != 0 ? 1 : 0,
	    __ATOMIC_RELAXED);
	return 0;
}

/* The adopted fd at fd, or NULL. */
static struct stash_fd *
preload_adopted(int fd)
{
	struct stash_fd *e;

	if (__atomic_load_n(&stash.nadopted, __ATOMIC_ACQUIRE) == 0 ||
	    (e = stash_find(fd)) == NULL || e->kind != STASH_ADOPTED)
		return NULL;
	return e;
}

/*
 * setsockopt(): SO_RCVTIMEO and SO_SNDTIMEO of an adopted fd are the
 * app fd's own (timeo.h): the shared socket, every worker's, keeps its
 * own. Every other option passes through.
 */
PRELOAD_EXPORT int
setsockopt(int fd, int level, int name, const void *val, socklen_t len)
{
	enum timeo_which which = timeo_which(level, name);
	struct stash_fd *e;
	long long us;

	if (which == TIMEO_NONE || (e = preload_adopted(fd)) == NULL)
		return PRELOAD_REAL(setsockopt)(fd, level, name, val, len);
	if (timeo_from_user(name, val, len, &us) == -1)
		return -1;
	__atomic_store_n(&e->timeo[which == TIMEO_SND], us, __ATOMIC_RELAXED);
	return 0;
}

/* getsockopt(): an adopted fd's own SO_RCVTIMEO and SO_SNDTIMEO. */
PRELOAD_EXPORT int
getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
	enum timeo_which which = timeo_which(level, name);
	struct stash_fd *e;

	if (which == TIMEO_NONE || (e = preload_adopted(fd)) == NULL)
		return PRELOAD_REAL(getsockopt)(fd, level, name, val, len);
	return timeo_to_user(name, __atomic_load_n(&e->timeo[which ==
	    TIMEO_SND], __ATOMIC_RELAXED), val, len);
}

/*
 * close(): the shim's own fds stay open (an app closing every fd it may
 * have inherited must not close the stash: it sees success); an adopted
 * fd closes as any other (the supervisor's socket lives on).
 */
PRELOAD_EXPORT int
close(int fd)
{
	if (stash_is_own(fd))
		return 0;
	stash_untrack(fd);
	return PRELOAD_REAL(close)(fd);
}

/* Stop following the app fds from first to last (they are closing). */
static void
preload_untrack_range(unsigned int first, unsigned int last)
{
	int i, key;

	for (i = 0; i < __atomic_load_n(&stash.nfds, __ATOMIC_ACQUIRE); i++) {
		key = __atomic_load_n(&stash.fds[i].key, __ATOMIC_ACQUIRE);
		if (key > 0 && (unsigned int)(key - 1) >= first &&
		    (unsigned int)(key - 1) <= last)
			stash_untrack(key - 1);
	}
}

/*
 * close_range() without the shim's own fds: the range is closed in the
 * pieces between them. CLOSE_RANGE_CLOEXEC passes as it is (the stash is
 * close-on-exec already).
 */
PRELOAD_EXPORT int
close_range(unsigned int first, unsigned int last, int flags)
{
	int own[STASH_MAX_SOCKS], n, i;
	unsigned int from = first;

	if ((flags & CLOSE_RANGE_CLOEXEC) || first > last)
		return (int)syscall(SYS_close_range, first, last, flags);
	n = stash_sorted_fds(own, STASH_MAX_SOCKS);
	preload_untrack_range(first, last);
	for (i = 0; i < n; i++) {
		if ((unsigned int)own[i] < from || (unsigned int)own[i] > last)
			continue;
		if ((unsigned int)own[i] > from && syscall(SYS_close_range,
		    from, (unsigned int)own[i] - 1, flags) == -1)
			return -1;
		from = (unsigned int)own[i] + 1;
	}
	if (from <= last)
		return (int)syscall(SYS_close_range, from, last, flags);
	return 0;
}

/* closefrom(): close_range(lowfd, ~0U, 0), one fd at a time if need be. */
PRELOAD_EXPORT void
closefrom(int lowfd)
{
	long fd, max = sysconf(_SC_OPEN_MAX);

	if (lowfd < 0)
		lowfd = 0;
	if (close_range((unsigned int)lowfd, ~0U, 0) == 0 || errno != ENOSYS)
		return;
	for (fd = lowfd; fd < max; fd++)
		(void)close((int)fd);
}

/* dup(): a duplicate of an adopted fd is adopted too. */
PRELOAD_EXPORT int
dup(int fd)
{
	struct stash_fd *e = stash_find(fd);
	int rc = PRELOAD_REAL(dup)(fd);

	if (rc != -1 && e != NULL)
		stash_track_as(rc, e);
	return rc;
}

/*
 * What dup2() and dup3() share: the shim's own fd at newfd moves away
 * first; newfd then is what oldfd is.
 */
static int
preload_dup_onto(int oldfd, int newfd, int rc)
{
	struct stash_fd *e;

	if (rc == -1 || oldfd == newfd)
		return rc;
	if ((e = stash_find(oldfd)) != NULL)
		stash_track_as(newfd, e);
	else
		stash_untrack(newfd);
	return rc;
}

/* dup2(), see preload_dup_onto. */
PRELOAD_EXPORT int
dup2(int oldfd, int newfd)
{
	if (oldfd != newfd && stash_move_own(newfd) == -1)
		return -1;
	return preload_dup_onto(oldfd, newfd, PRELOAD_REAL(dup2)(oldfd, newfd));
}

/* dup3(), see preload_dup_onto. */
PRELOAD_EXPORT int
dup3(int oldfd, int newfd, int flags)
{
	if (oldfd != newfd && stash_move_own(newfd) == -1)
		return -1;
	return preload_dup_onto(oldfd, newfd, PRELOAD_REAL(dup3)(oldfd, newfd,
	    flags));
}

/* unlink(): a stash unix socket's file stays (apps unlink before bind). */
PRELOAD_EXPORT int
unlink(const char *path)
{
	if (stash_is_socket_file(AT_FDCWD, path))
		return 0;
	return PRELOAD_REAL(unlink)(path);
}

/* unlinkat(), as unlink(). */
PRELOAD_EXPORT int
unlinkat(int dirfd, const char *path, int flags)
{
	if (!(flags & AT_REMOVEDIR) && stash_is_socket_file(dirfd, path))
		return 0;
	return PRELOAD_REAL(unlinkat)(dirfd, path, flags);
}

/* remove(), as unlink() (libc's calls its own unlink). */
PRELOAD_EXPORT int
remove(const char *path)
{
	if (stash_is_socket_file(AT_FDCWD, path))
		return 0;
	return PRELOAD_REAL(remove)(path);
}
