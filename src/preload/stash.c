/*
 * stash.c: the bind() shim's state in one process (see stash.h).
 *
 * Before main(), stash_init takes what the supervisor (or the app's own
 * previous image, across exec) left: in inherit and reuseport modes the
 * sockets at fds 3.. that LISTEN_FDS names, each moved to a CLOEXEC fd at
 * or above STASH_FD_BASE, and every variable that describes them
 * (LISTEN_*, SERVER_STARTER_PORT, EINHORN_*) removed from the environment,
 * so that the app binds as it would anywhere; in self mode the addresses
 * of MATCH_ENV_SELF; and the notify socket of MATCH_ENV_NOTIFY.
 *
 * The shim's own fd operations are system calls, never the interposed
 * functions (close, fcntl, dup3, sendto), so that they do not re-enter it.
 */
#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "match.h"
#include "stash.h"
#include "timeo.h"
#include "unixaddr.h"

struct stash stash;

/* fcntl(2) without the interposed wrapper. */
static long
stash_fcntl(int fd, int cmd, long arg)
{
	return syscall(SYS_fcntl, fd, cmd, arg);
}

/* Copy the value of an environment variable into buf, then remove it. */
static bool
stash_take_env(const char *name, char *buf, size_t len)
{
	const char *value = getenv(name);
	size_t n;

	if (value == NULL)
		return false;
	n = strlen(value);
	if (n >= len)
		n = len - 1;
	memcpy(buf, value, n);
	buf[n] = '\0';
	unsetenv(name);
	return true;
}

/*
 * Fill sock from the socket at fd (what it is and where it is bound) and
 * note the file of a unix socket on a path. -1 if fd is no socket.
 */
static int
stash_describe(struct stash_sock *sock, int fd)
{
	char path[UNIXADDR_NAME_SIZE];
	socklen_t len = sizeof(int);
	struct stat st;

	memset(sock, 0, sizeof(*sock));
	sock->fd = fd;
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &sock->family, &len) == -1)
		return -1;
	len = sizeof(int);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &sock->type, &len) == -1)
		return -1;
	len = sizeof(int);
	if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &sock->protocol, &len) == -1)
		sock->protocol = 0;
	sock->addrlen = sizeof(sock->addr);
	if (getsockname(fd, (struct sockaddr *)&sock->addr, &sock->addrlen) == -1)
		return -1;
	if (sock->family == AF_UNIX && unixaddr_name((struct sockaddr *)
	    &sock->addr, sock->addrlen, path, sizeof(path)) > 0 &&
	    path[0] != '\0' && stat(path, &st) == 0 && S_ISSOCK(st.st_mode)) {
		sock->has_file = true;
		sock->dev = st.st_dev;
		sock->ino = st.st_ino;
	}
	return 0;
}

/* The lowest fd to move n sockets to: STASH_FD_BASE if the limit allows. */
static int
stash_base(int n)
{
	struct rlimit rl;
	long base = STASH_FD_BASE;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    (rlim_t)base + (rlim_t)n + 16 > rl.rlim_cur)
		base = (long)rl.rlim_cur - n - 16;
	return base < 3 + n ? 3 + n : (int)base;
}

/* Remove the variables that describe fds 3.. from the environment. */
static void
stash_hide_protocols(void)
{
	static const char *const names[] = {
		"LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES",
		"SERVER_STARTER_PORT", "EINHORN_FD_COUNT", "EINHORN_FDS",
	};
	char name[32];
	size_t i;
	extern char **environ;
	char **var;
	bool again = true;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		unsetenv(names[i]);
	/* EINHORN_FD_0, EINHORN_FD_1, ...: unsetenv changes environ. */
	while (again) {
		again = false;
		for (var = environ; var != NULL && *var != NULL; var++) {
			if (strncmp(*var, "EINHORN_FD_", 11) != 0 ||
			    strcspn(*var, "=") >= sizeof(name))
				continue;
			memcpy(name, *var, strcspn(*var, "="));
			name[strcspn(*var, "=")] = '\0';
			unsetenv(name);
			again = true;
			break;
		}
	}
}

/*
 * Take the sockets at fds 3.. that LISTEN_FDS names for this process:
 * describe each, move it out of the app's way (CLOEXEC, at or above
 * stash_base), and hide the variables. The supervisor's order is the
 * program's listener order.
 */
static void
stash_take_listen_fds(void)
{
	const char *fds = getenv("LISTEN_FDS"), *pid = getenv("LISTEN_PID");
	struct stash_sock *sock;
	char *end;
	long n, i;
	int base, moved;

	if (fds == NULL || pid == NULL || strtol(pid, &end, 10) != getpid() ||
	    *end != '\0')
		return;
	n = strtol(fds, &end, 10);
	if (*end != '\0' || n <= 0 || n > STASH_MAX_SOCKS)
		return;
	base = stash_base((int)n);
	for (i = 0; i < n; i++) {
		sock = &stash.socks[stash.nsocks];
		if (stash_describe(sock, 3 + (int)i) == -1)
			continue;
		sock->index = (int)i;
		/* The fd changes owner: from the app's range to the shim's. */
		moved = (int)stash_fcntl(3 + (int)i, F_DUPFD_CLOEXEC, base);
		if (moved != -1) {
			(void)syscall(SYS_close, 3 + (int)i);
			sock->fd = moved;
		} else
			(void)stash_fcntl(3 + (int)i, F_SETFD, FD_CLOEXEC);
		stash.nsocks++;
	}
	stash_hide_protocols();
}

/*
 * Take the fds a previous image of this process passed across exec
 * (MATCH_ENV_STASH, MATCH_ENV_ADOPTED), CLOEXEC again. Returns whether
 * there were any.
 */
static bool
stash_take_passed(void)
{
	static char text[4096];
	struct match_fd fds[STASH_MAX_FDS];
	struct stash_sock *sock;
	int n, i, k;

	if (!stash_take_env(MATCH_ENV_STASH, text, sizeof(text)))
		return false;
	n = match_decode_fds(text, fds, STASH_MAX_SOCKS, false);
	for (i = 0; i < n; i++) {
		sock = &stash.socks[stash.nsocks];
		if (stash_describe(sock, fds[i].fd) == -1)
			continue;
		sock->index = fds[i].index;
		(void)stash_fcntl(fds[i].fd, F_SETFD, FD_CLOEXEC);
		stash.nsocks++;
	}
	if (!stash_take_env(MATCH_ENV_ADOPTED, text, sizeof(text)))
		return true;
	n = match_decode_fds(text, fds, STASH_MAX_FDS, true);
	for (i = 0; i < n; i++)
		for (k = 0; k < stash.nsocks; k++)
			if (stash.socks[k].index == fds[i].index)
				stash_track(fds[i].fd, k, STASH_ADOPTED,
				    fds[i].flag != 0);
	return true;
}

/* Take the self-mode addresses of MATCH_ENV_SELF. */
static void
stash_take_self(void)
{
	struct match_addr addrs[STASH_MAX_SOCKS];
	struct stash_sock *sock;
	int n, i;

	if (!stash_take_env(MATCH_ENV_SELF, stash.self_text,
	    sizeof(stash.self_text)))
		return;
	if ((n = match_decode_addrs(stash.self_text, addrs,
	    STASH_MAX_SOCKS)) <= 0) {
		stash.self_text[0] = '\0';
		return;
	}
	stash.self = true;
	for (i = 0; i < n; i++) {
		sock = &stash.socks[stash.nsocks++];
		memset(sock, 0, sizeof(*sock));
		sock->fd = -1;
		sock->index = addrs[i].index;
		sock->family = addrs[i].ss.ss_family;
		sock->type = addrs[i].type;
		sock->addr = addrs[i].ss;
		sock->addrlen = addrs[i].len;
	}
}

/* Take what the supervisor, or this process's previous image, left. */
void
stash_init(void)
{
	int saved = errno;

	(void)stash_take_env(MATCH_ENV_NOTIFY, stash.notify,
	    sizeof(stash.notify));
	stash_take_self();
	if (!stash.self && !stash_take_passed())
		stash_take_listen_fds();
	errno = saved;
}

/* Tell whether fd is one of the shim's own copies of a listener. */
bool
stash_is_own(int fd)
{
	int k;

	for (k = 0; fd >= 0 && k < stash.nsocks; k++)
		if (stash.socks[k].fd == fd)
			return true;
	return false;
}

/*
 * The app is about to put something at fd: if it is one of the shim's
 * own, move that elsewhere first (CLOEXEC, at or above STASH_FD_BASE).
 * 0, or -1 with errno if it cannot move.
 */
int
stash_move_own(int fd)
{
	int k, moved;

	for (k = 0; fd >= 0 && k < stash.nsocks; k++) {
		if (stash.socks[k].fd != fd)
			continue;
		moved = (int)stash_fcntl(fd, F_DUPFD_CLOEXEC,
		    stash_base(stash.nsocks));
		if (moved == -1)
			return -1;
		/* The copy at moved is the shim's now; fd is the app's. */
		stash.socks[k].fd = moved;
		(void)syscall(SYS_close, fd);
	}
	return 0;
}

/* The app fd the shim follows at fd, or NULL. */
struct stash_fd *
stash_find(int fd)
{
	int n = __atomic_load_n(&stash.nfds, __ATOMIC_ACQUIRE), i;

	for (i = 0; fd >= 0 && i < n; i++)
		if (__atomic_load_n(&stash.fds[i].key, __ATOMIC_ACQUIRE) ==
		    fd + 1)
			return &stash.fds[i];
	return NULL;
}

/* Count an entry of kind for sock in or out of the fast-path counters. */
static void
stash_count(const struct stash_fd *e, int delta)
{
	if (e->kind != STASH_ADOPTED)
		return;
	__atomic_add_fetch(&stash.nadopted, delta, __ATOMIC_RELEASE);
	if (stash.socks[e->sock].type == SOCK_DGRAM)
		__atomic_add_fetch(&stash.ndgram, delta, __ATOMIC_RELEASE);
}

/*
 * Follow app fd fd as sock (kind), with the app's O_NONBLOCK and no
 * timeouts; the entry, or NULL. Replaces what fd was. With no entry free
 * the fd is not followed: it works, but a blocking app sees EAGAIN from
 * its accept().
 */
struct stash_fd *
stash_track(int fd, int sock, enum stash_kind kind, bool nonblock)
{
	struct stash_fd *e;
	int i, zero, n;

	stash_untrack(fd);
	for (i = 0; i < STASH_MAX_FDS; i++) {
		e = &stash.fds[i];
		zero = 0;
		if (!__atomic_compare_exchange_n(&e->key, &zero, -1, false,
		    __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
			continue;
		e->sock = sock;
		e->kind = kind;
		__atomic_store_n(&e->nonblock, nonblock ? 1 : 0,
		    __ATOMIC_RELAXED);
		__atomic_store_n(&e->timeo[0], TIMEO_FOREVER, __ATOMIC_RELAXED);
		__atomic_store_n(&e->timeo[1], TIMEO_FOREVER, __ATOMIC_RELAXED);
		stash_count(e, 1);
		__atomic_store_n(&e->key, fd + 1, __ATOMIC_RELEASE);
		n = __atomic_load_n(&stash.nfds, __ATOMIC_ACQUIRE);
		while (n < i + 1 && !__atomic_compare_exchange_n(&stash.nfds,
		    &n, i + 1, false, __ATOMIC_RELEASE, __ATOMIC_ACQUIRE))
			;
		return e;
	}
	return NULL;
}

/* Follow app fd fd as what from is (a duplicate of its fd). */
void
stash_track_as(int fd, const struct stash_fd *from)
{
	struct stash_fd *e;
	int k;

	if ((e = stash_track(fd, from->sock, from->kind,
	    __atomic_load_n(&from->nonblock, __ATOMIC_RELAXED))) == NULL)
		return;
	for (k = 0; k < 2; k++)
		__atomic_store_n(&e->timeo[k], __atomic_load_n(&from->timeo[k],
		    __ATOMIC_RELAXED), __ATOMIC_RELAXED);
}

/* Stop following app fd fd (it was closed, or is something else now). */
void
stash_untrack(int fd)
{
	struct stash_fd *e;

	while ((e = stash_find(fd)) != NULL) {
		stash_count(e, -1);
		__atomic_store_n(&e->key, 0, __ATOMIC_RELEASE);
	}
}

/* The type and protocol of the socket at fd; -1 if it is none. */
static int
stash_socket_kind(int fd, int *family, int *type, int *protocol)
{
	socklen_t len = sizeof(int);

	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, family, &len) == -1)
		return -1;
	len = sizeof(int);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, type, &len) == -1)
		return -1;
	len = sizeof(int);
	if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, protocol, &len) == -1)
		*protocol = 0;
	return 0;
}

/*
 * Tell whether the unix address addr names the file of sock: the same
 * path (a relative one from the working directory), or a path to the
 * same socket file.
 */
static bool
stash_same_file(const struct stash_sock *sock, const struct sockaddr *addr,
    socklen_t len)
{
	char path[UNIXADDR_NAME_SIZE], own[UNIXADDR_NAME_SIZE], cwd[4096];
	size_t n, c;
	struct stat st;

	if (!sock->has_file || unixaddr_name(addr, len, path,
	    sizeof(path)) == 0 || path[0] == '\0')
		return false;
	if (stat(path, &st) == 0 && S_ISSOCK(st.st_mode) &&
	    st.st_dev == sock->dev && st.st_ino == sock->ino)
		return true;
	if (path[0] == '/' || getcwd(cwd, sizeof(cwd)) == NULL ||
	    (n = unixaddr_name((const struct sockaddr *)&sock->addr,
	    sock->addrlen, own, sizeof(own))) == 0)
		return false;
	c = strlen(cwd);
	return n == c + 1 + strlen(path) && strncmp(own, cwd, c) == 0 &&
	    own[c] == '/' && strcmp(own + c + 1, path) == 0;
}

/*
 * The stash socket that bind(fd, addr) asks for in inherit and reuseport
 * modes (the same family, type and protocol, and address: see
 * match_same), or -1.
 */
int
stash_match_inherited(int fd, const struct sockaddr *addr, socklen_t len)
{
	const struct stash_sock *sock;
	int family, type, protocol, k;

	if (stash.self || stash.nsocks == 0 || addr == NULL ||
	    stash_socket_kind(fd, &family, &type, &protocol) == -1)
		return -1;
	for (k = 0; k < stash.nsocks; k++) {
		sock = &stash.socks[k];
		if (sock->fd == -1 || sock->family != family ||
		    sock->type != type || (protocol != 0 && sock->protocol != 0 &&
		    protocol != sock->protocol))
			continue;
		if (match_same(addr, len, (const struct sockaddr *)&sock->addr,
		    sock->addrlen) || (family == AF_UNIX &&
		    stash_same_file(sock, addr, len)))
			return k;
	}
	return -1;
}

/*
 * The self-mode address that bind(fd, addr) takes the connections of
 * (see match_covers): a TCP or UDP socket of the same type; or -1.
 */
int
stash_match_self(int fd, const struct sockaddr *addr, socklen_t len)
{
	int family, type, protocol, v6only = 0, k;
	socklen_t olen = sizeof(v6only);

	if (!stash.self || addr == NULL ||
	    stash_socket_kind(fd, &family, &type, &protocol) == -1 ||
	    (family != AF_INET && family != AF_INET6) ||
	    (type != SOCK_STREAM && type != SOCK_DGRAM))
		return -1;
	if (family == AF_INET6)
		(void)getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &olen);
	for (k = 0; k < stash.nsocks; k++)
		if (stash.socks[k].type == type && match_covers(
		    (const struct sockaddr *)&stash.socks[k].addr,
		    stash.socks[k].addrlen, addr, len, v6only != 0))
			return k;
	return -1;
}

/*
 * Tell whether path (from dirfd, as unlinkat takes it) is the file of a
 * stash unix socket: one the app must not remove.
 */
bool
stash_is_socket_file(int dirfd, const char *path)
{
	struct stat st;
	int k, saved = errno;
	bool found = false;

	for (k = 0; k < stash.nsocks && !found; k++)
		found = stash.socks[k].has_file;
	if (!found || path == NULL || fstatat(dirfd, path, &st,
	    AT_SYMLINK_NOFOLLOW) == -1 || !S_ISSOCK(st.st_mode)) {
		errno = saved;
		return false;
	}
	for (k = 0, found = false; k < stash.nsocks && !found; k++)
		found = stash.socks[k].has_file && stash.socks[k].dev ==
		    st.st_dev && stash.socks[k].ino == st.st_ino;
	errno = saved;
	return found;
}

/*
 * Tell the supervisor, once per process and listener, that the app
 * listens on (or, for UDP, is bound to) listener sock's address:
 * "HANDOFF_LISTENING=N" to its notify socket. Nothing is sent when
 * stash.notify is no whole address (too long, cut to fit, or neither an
 * absolute path nor "@name"). errno is left as it was.
 */
void
stash_announce(int sock)
{
	struct sockaddr_un sun;
	socklen_t sunlen;
	const char *why;
	char msg[40], digits[12], *p = digits + sizeof(digits);
	size_t len = strlen("HANDOFF_LISTENING="), n;
	int fd, saved = errno;
	unsigned int v;

	if (stash.notify[0] == '\0' || sock < 0 || sock >= stash.nsocks ||
	    __atomic_exchange_n(&stash.socks[sock].announced, 1,
	    __ATOMIC_ACQ_REL) != 0)
		return;
	if (unixaddr_make(stash.notify, UNIXADDR_NAMED, &sun, &sunlen,
	    &why) == -1) {
		errno = saved;
		return;
	}
	memcpy(msg, "HANDOFF_LISTENING=", len);
	v = (unsigned int)stash.socks[sock].index;
	do
		*--p = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	n = (size_t)(digits + sizeof(digits) - p);
	memcpy(msg + len, p, n);
	len += n;
	msg[len++] = '\n';
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd != -1) {
		(void)syscall(SYS_sendto, fd, msg, len, MSG_NOSIGNAL, &sun,
		    sunlen);
		(void)syscall(SYS_close, fd);
	}
	errno = saved;
}

/* Write an IP address as "a.b.c.d:port" or "[x:y::z]:port" into buf. */
static void
stash_format_ip(const struct sockaddr *sa, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN] = "?";
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
	const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;

	if (sa->sa_family == AF_INET) {
		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, ntohs(sin->sin_port));
	} else {
		inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
		snprintf(buf, len, "[%s]:%u", host, ntohs(sin6->sin6_port));
	}
}

/*
 * The app's own bind() to addr failed with EADDRINUSE: if a listener is
 * on that port at another address, say so on stderr (the supervisor's
 * log), naming both: the listener must name the address the app binds.
 */
void
stash_explain_in_use(const struct sockaddr *addr, socklen_t len)
{
	const struct stash_sock *sock;
	char msg[512], mine[INET6_ADDRSTRLEN + 16], theirs[sizeof(mine)];
	int k, saved = errno, n;

	if (addr == NULL || (addr->sa_family != AF_INET &&
	    addr->sa_family != AF_INET6) || len < sizeof(struct sockaddr_in) ||
	    (addr->sa_family == AF_INET6 && len < sizeof(struct sockaddr_in6)))
		return;
	for (k = 0; k < stash.nsocks; k++) {
		sock = &stash.socks[k];
		/* sin_port and sin6_port are at one offset. */
		if (sock->fd == -1 || (sock->family != AF_INET &&
		    sock->family != AF_INET6) || ((const struct sockaddr_in *)
		    &sock->addr)->sin_port != ((const struct sockaddr_in *)
		    addr)->sin_port)
			continue;
		stash_format_ip(addr, mine, sizeof(mine));
		stash_format_ip((const struct sockaddr *)&sock->addr, theirs,
		    sizeof(theirs));
		n = snprintf(msg, sizeof(msg), "libhandoff-preload.so: bind() "
		    "to %s failed (address in use): the program's listener on "
		    "that port is %s, another address; give the listener the "
		    "address the program binds, %s\n", mine, theirs, mine);
		if (n > 0)
			(void)!write(2, msg, (size_t)n < sizeof(msg) ? (size_t)n :
			    sizeof(msg) - 1);
		break;
	}
	errno = saved;
}

/* The shim's own fds in ascending order (at most max); how many. */
int
stash_sorted_fds(int *out, int max)
{
	int n = 0, k, i, fd;

	for (k = 0; k < stash.nsocks; k++) {
		if ((fd = stash.socks[k].fd) < 0 || n == max)
			continue;
		for (i = n; i > 0 && out[i - 1] > fd; i--)
			out[i] = out[i - 1];
		out[i] = fd;
		n++;
	}
	return n;
}
