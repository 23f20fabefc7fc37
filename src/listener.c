/*
 * listener.c: bind one listener, compare two, keep or close on reload.
 *
 * A listener is created by listener_bind with one reference. Listener sets
 * (one per config) and generations hold further references; the socket is
 * closed, and a unix socket file we created is removed, when the last one
 * goes. A reload builds the next set beside the current one and only then,
 * once nothing can fail any more, changes what the kept sockets look like.
 */
#include "autoconf.h"

#include <sys/socket.h>
#include <linux/sock_diag.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <net/if.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "addr.h"
#include "cause.h"
#include "config.h"
#include "ctllock.h"
#include "ebpf.h"
#include "hashmap.h"
#include "listener.h"
#include "log.h"
#include "procfs.h"
#include "sockdiag.h"

#ifndef IPV6_FREEBIND
#define IPV6_FREEBIND 78
#endif

/* Seconds given to TCP_DEFER_ACCEPT (the kernel rounds up to retransmits). */
#define LISTENER_DEFER_ACCEPT_SECS 1

/* What changes on a kept listener when a reload commits. */
struct listener_change {
	struct listener		*l;
	const struct listener_conf *lc;
	char			*name;
	char			*fd_name;
};

/* Set *cause to "listener NAME: ADDRESS: " followed by the message. */
static void __attribute__((format(printf, 3, 4)))
listener_error(char **cause, const struct listener_conf *lc, const char *fmt,
    ...)
{
	char where[ADDR_STRLEN], msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	addr_format(&lc->addr, where, sizeof(where));
	cause_set(cause, "listener %s: %s: %s", lc->name, where, msg);
}

/* strerror(err) with a lower-case first letter, for our messages. */
static const char *
listener_strerror(int err, char *buf, size_t len)
{
	snprintf(buf, len, "%s", strerror(err));
	if (buf[0] != '\0' && isupper((unsigned char)buf[0]) &&
	    !isupper((unsigned char)buf[1]))
		buf[0] = (char)tolower((unsigned char)buf[0]);
	return buf;
}

/* The path of a unix socket file address, NULL if abstract or not unix. */
static const char *
listener_unix_path(const struct addr *addr)
{
	if (!addr_is_unix(addr) || addr_is_abstract(addr))
		return NULL;
	return ((const struct sockaddr_un *)&addr->ss)->sun_path;
}

/* Copy the directory part of a path ("/" for "/x"). */
static void
listener_dirname(const char *path, char *buf, size_t len)
{
	const char *slash = strrchr(path, '/');
	size_t n;

	if (slash == NULL) {
		snprintf(buf, len, ".");
		return;
	}
	n = (size_t)(slash - path);
	if (n == 0)
		n = 1;
	snprintf(buf, len, "%.*s", (int)n, path);
}

/*
 * Format " (held by pid N, comm)" for who listens on a listener's address,
 * or "" if nobody we can see does.
 */
static void
listener_holder_text(const struct listener_conf *lc, char *buf, size_t len)
{
	struct sockdiag_owner owner;
	struct sockdiag_want want;

	buf[0] = '\0';
	memset(&want, 0, sizeof(want));
	want.addr = lc->addr;
	want.v6only = lc->opts.v6only == 1;
	if (sockdiag_owners(&want, 0, &owner, 1, NULL) != 1 || owner.pid == 0)
		return;
	if (owner.comm[0] != '\0')
		snprintf(buf, len, " (held by pid %ld, %s)", (long)owner.pid,
		    owner.comm);
	else
		snprintf(buf, len, " (held by pid %ld)", (long)owner.pid);
}

/* Tell whether a unix socket address has a live socket behind it. */
int
listener_unix_is_live(const struct addr *addr)
{
	const char *path = listener_unix_path(addr);
	struct stat sb;
	int fd, rc, type, saved;

	if (!addr_is_unix(addr)) {
		errno = EINVAL;
		return -1;
	}
	if (path != NULL) {
		if (lstat(path, &sb) == -1)
			return errno == ENOENT ? 0 : -1;
		if (!S_ISSOCK(sb.st_mode)) {
			errno = ENOTSOCK;
			return -1;
		}
	}
	type = addr_socktype(addr);
	fd = socket(AF_UNIX, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd == -1)
		return -1;
	rc = connect(fd, (const struct sockaddr *)&addr->ss, addr->len);
	saved = errno;
	close(fd);
	if (rc == 0)
		return 1;
	switch (saved) {
	case EAGAIN:		/* a full backlog: someone listens */
	case EINPROGRESS:
	case EPROTOTYPE:	/* a live socket of the other type */
		return 1;
	case ECONNREFUSED:
	case ENOENT:
		return 0;
	default:
		errno = saved;
		return -1;
	}
}

/* Check a unix path before binding: refuse live sockets, remove stale ones. */
static int
listener_unix_prepare(const struct listener_conf *lc, bool remove_stale,
    char **cause)
{
	const char *path = listener_unix_path(&lc->addr);
	char holder[128], err[128];
	struct stat sb;
	int live;

	if (lstat(path, &sb) == -1) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 0;
		listener_error(cause, lc, "cannot check %s: %s", path,
		    listener_strerror(errno, err, sizeof(err)));
		return -1;
	}
	if (!S_ISSOCK(sb.st_mode)) {
		listener_error(cause, lc, "exists and is not a socket (remove "
		    "it or choose another path)");
		return -1;
	}
	live = listener_unix_is_live(&lc->addr);
	if (live == -1) {
		listener_error(cause, lc, "cannot tell whether another process "
		    "is listening on this socket: %s",
		    listener_strerror(errno, err, sizeof(err)));
		return -1;
	}
	if (live == 1) {
		listener_holder_text(lc, holder, sizeof(holder));
		listener_error(cause, lc, "another process is listening on this "
		    "socket%s", holder);
		return -1;
	}
	if (remove_stale && unlink(path) == -1 && errno != ENOENT) {
		listener_error(cause, lc, "cannot remove the stale socket file: "
		    "%s", listener_strerror(errno, err, sizeof(err)));
		return -1;
	}
	if (remove_stale)
		log_debug("listener %s: removed stale socket file %s", lc->name,
		    path);
	return 0;
}

/* Refuse options that make no sense for the address. */
static int
listener_check_opts(const struct listener_conf *lc, char **cause)
{
	const struct listener_opts *o = &lc->opts;
	bool is_unix = addr_is_unix(&lc->addr);

	if (o->v6only != -1 && lc->addr.ss.ss_family != AF_INET6) {
		listener_error(cause, lc, "v6only applies only to IPv6 "
		    "addresses, as in [::]:8080");
		return -1;
	}
	if (is_unix && (o->freebind || o->reuseport || o->interface[0] != '\0')) {
		listener_error(cause, lc, "freebind, reuseport and interface "
		    "do not apply to unix sockets");
		return -1;
	}
	if (lc->addr.kind != ADDR_TCP && (o->defer_accept || o->nodelay)) {
		listener_error(cause, lc, "defer_accept and nodelay apply only "
		    "to TCP listeners");
		return -1;
	}
	if (listener_unix_path(&lc->addr) == NULL &&
	    (o->mode != (mode_t)-1 || o->owner != (uid_t)-1 ||
	    o->group != (gid_t)-1)) {
		listener_error(cause, lc, "mode, owner and group apply only to "
		    "unix socket files");
		return -1;
	}
	if (o->interface[0] != '\0' && if_nametoindex(o->interface) == 0) {
		listener_error(cause, lc, "unknown interface %s (see ip link)",
		    o->interface);
		return -1;
	}
	return 0;
}

/* setsockopt an int, setting *cause on failure. */
static int
listener_setsockopt(int fd, int level, int name, int value,
    const struct listener_conf *lc, const char *what, char **cause)
{
	char err[128];

	if (setsockopt(fd, level, name, &value, sizeof(value)) == 0)
		return 0;
	listener_error(cause, lc, "cannot set %s: %s", what,
	    listener_strerror(errno, err, sizeof(err)));
	return -1;
}

/*
 * Tell whether a listener's TCP socket gets SO_REUSEADDR only after
 * bind(): on port 0. With it on, the kernel looks for a free port in
 * half of the ephemeral range only, trying every port in use there
 * before the other half; with thousands of such listeners each bind()
 * then walks thousands of ports. The option still holds for the life of
 * the socket, set before listen().
 */
static bool
listener_reuseaddr_after_bind(const struct listener_conf *lc)
{
	return lc->addr.kind == ADDR_TCP && addr_port(&lc->addr) == 0;
}

/* Set the socket options a listener asks for, before bind(). */
static int
listener_set_options(int fd, const struct listener_conf *lc, char **cause)
{
	const struct listener_opts *o = &lc->opts;
	int family = lc->addr.ss.ss_family;
	char err[128];

	if (lc->addr.kind == ADDR_TCP && !listener_reuseaddr_after_bind(lc) &&
	    listener_setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, 1, lc,
	    "SO_REUSEADDR", cause) == -1)
		return -1;
	if ((o->reuseport || o->per_slot) && listener_setsockopt(fd,
	    SOL_SOCKET, SO_REUSEPORT,
	    1, lc, "SO_REUSEPORT", cause) == -1)
		return -1;
	if (family == AF_INET6 && o->v6only != -1 && listener_setsockopt(fd,
	    IPPROTO_IPV6, IPV6_V6ONLY, o->v6only, lc, "IPV6_V6ONLY",
	    cause) == -1)
		return -1;
	if (o->freebind) {
		if (family == AF_INET6 ? listener_setsockopt(fd, IPPROTO_IPV6,
		    IPV6_FREEBIND, 1, lc, "IPV6_FREEBIND", cause) :
		    listener_setsockopt(fd, IPPROTO_IP, IP_FREEBIND, 1, lc,
		    "IP_FREEBIND", cause))
			return -1;
	}
	if (o->defer_accept && listener_setsockopt(fd, IPPROTO_TCP,
	    TCP_DEFER_ACCEPT, LISTENER_DEFER_ACCEPT_SECS, lc,
	    "TCP_DEFER_ACCEPT", cause) == -1)
		return -1;
	if (o->nodelay && listener_setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, 1,
	    lc, "TCP_NODELAY", cause) == -1)
		return -1;
	if (o->interface[0] != '\0' && setsockopt(fd, SOL_SOCKET,
	    SO_BINDTODEVICE, o->interface, (socklen_t)strlen(o->interface)) == -1) {
		if (errno == EPERM)
			listener_error(cause, lc, "cannot bind to interface %s: "
			    "permission denied (needs CAP_NET_RAW)", o->interface);
		else
			listener_error(cause, lc, "cannot bind to interface %s: %s",
			    o->interface, listener_strerror(errno, err, sizeof(err)));
		return -1;
	}
	return 0;
}

/* Explain why bind() failed, in terms a user can act on. */
static void
listener_bind_error(const struct listener_conf *lc, int err, char **cause)
{
	const char *path = listener_unix_path(&lc->addr);
	char dir[ADDR_STRLEN], holder[128], buf[128];
	int port = addr_port(&lc->addr);

	if (path != NULL)
		listener_dirname(path, dir, sizeof(dir));
	switch (err) {
	case EADDRINUSE:
		listener_holder_text(lc, holder, sizeof(holder));
		listener_error(cause, lc, "address already in use%s", holder);
		return;
	case EACCES:
		if (path != NULL)
			listener_error(cause, lc, "permission denied (cannot "
			    "create the socket file in %s)", dir);
		else if (port > 0 && port < 1024)
			listener_error(cause, lc, "permission denied (ports below "
			    "1024 need root or CAP_NET_BIND_SERVICE)");
		else
			listener_error(cause, lc, "permission denied");
		return;
	case EADDRNOTAVAIL:
		listener_error(cause, lc, "address not available on this host "
		    "(use freebind = yes to bind it before it exists)");
		return;
	case ENOENT:
		if (path != NULL) {
			listener_error(cause, lc, "directory %s does not exist",
			    dir);
			return;
		}
		break;
	case ENOTDIR:
		if (path != NULL) {
			listener_error(cause, lc, "a parent of the path is not a "
			    "directory");
			return;
		}
		break;
	case EROFS:
		listener_error(cause, lc, "read-only file system");
		return;
	}
	listener_error(cause, lc, "cannot bind: %s",
	    listener_strerror(err, buf, sizeof(buf)));
}

/* Set the mode, owner and group of our unix socket file, as configured. */
static int
listener_unix_file_perms(const char *path, const struct listener_opts *o,
    const struct listener_conf *lc, char **cause)
{
	char err[128];

	if ((o->owner != (uid_t)-1 || o->group != (gid_t)-1) &&
	    fchownat(AT_FDCWD, path, o->owner, o->group,
	    AT_SYMLINK_NOFOLLOW) == -1) {
		listener_error(cause, lc, "cannot change the owner of the socket "
		    "file: %s", listener_strerror(errno, err, sizeof(err)));
		return -1;
	}
	if (o->mode != (mode_t)-1 && chmod(path, o->mode) == -1) {
		listener_error(cause, lc, "cannot change the mode of the socket "
		    "file: %s", listener_strerror(errno, err, sizeof(err)));
		return -1;
	}
	return 0;
}

/* Tell whether the unix socket file of a listener is still the one we made. */
static bool
listener_owns_file(const struct listener *l)
{
	const char *path = listener_unix_path(&l->addr);
	struct stat sb;

	if (path == NULL || l->file_ino == 0)
		return false;
	if (lstat(path, &sb) == -1)
		return false;
	return S_ISSOCK(sb.st_mode) && sb.st_dev == l->file_dev &&
	    sb.st_ino == l->file_ino;
}

static void listener_group_join(struct listener *l, size_t slot);

/*
 * Before a TCP socket that does not listen (shut down by a process that
 * holds a copy of it) listens again: clear what shutdown() left on it. A
 * second shutdown() of a socket shut down already marks it shut for
 * reading, and every connection accepted once it listens again inherits
 * that mark: it reads end-of-file at once, unanswered. connect(AF_UNSPEC)
 * disconnects the socket, which clears the mark and keeps its address.
 */
static void
listener_unshut(int fd)
{
	struct sockaddr sa = { .sa_family = AF_UNSPEC };
	socklen_t len = sizeof(int);
	int on = 0;

	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &len) == 0 && on)
		return;
	(void)connect(fd, &sa, sizeof(sa));
}

/* Holders of a probed address named at most, by check --bind. */
#define LISTENER_PROBE_OWNERS	16

/*
 * Make fd, a socket just bound, the one s holds (it owns it from now on),
 * with its inode and out of any steering table.
 */
static void
listener_socket_take(struct listener_socket *s, int fd)
{
	struct stat sb;

	s->fd = fd;
	s->ino = fstat(fd, &sb) == 0 ? sb.st_ino : 0;
	s->serving = false;
	s->registered = false;
}

/*
 * Changes to what the record of the workers shows of any listener: a
 * name, an address, a socket opened or closed. record.c keeps the lines
 * it wrote of them while this count stays the same.
 */
static unsigned long long listener_nchanges;

/* Note that what the record of the workers shows of a listener changed. */
static void
listener_changed(void)
{
	listener_nchanges++;
}

/* How many changes listener_changed noted so far. */
unsigned long long
listener_changes(void)
{
	return listener_nchanges;
}

/* Bind a listener as configured; *out gets it, with one reference. */
int
listener_bind(const struct listener_conf *lc, struct listener **out,
    char **cause)
{
	const char *path = listener_unix_path(&lc->addr);
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	struct listener *l = NULL;
	struct stat sb;
	char err[128];
	int fd = -1, backlog, passed;
	enum sdsocket_origin origin;
	bool created = false;

	*out = NULL;
	if (cause != NULL)
		*cause = NULL;
	if (listener_check_opts(lc, cause) == -1)
		return -1;
	/* A socket the service manager passed for it is never bound again. */
	if ((passed = sdsocket_take(lc, 0, &fd, &origin, cause)) == -1)
		return -1;
	if (passed)
		goto adopted;
	if (path != NULL && listener_unix_prepare(lc, true, cause) == -1)
		return -1;

	fd = socket(lc->addr.ss.ss_family,
	    addr_socktype(&lc->addr) | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd == -1) {
		listener_error(cause, lc, "cannot create socket: %s",
		    listener_strerror(errno, err, sizeof(err)));
		return -1;
	}
	if (listener_set_options(fd, lc, cause) == -1)
		goto fail;
	if (bind(fd, (const struct sockaddr *)&lc->addr.ss, lc->addr.len) == -1) {
		listener_bind_error(lc, errno, cause);
		goto fail;
	}
	if (listener_reuseaddr_after_bind(lc) && listener_setsockopt(fd,
	    SOL_SOCKET, SO_REUSEADDR, 1, lc, "SO_REUSEADDR", cause) == -1)
		goto fail;

adopted:
	if ((l = calloc(1, sizeof(*l))) == NULL ||
	    (l->sockets = calloc(1, sizeof(*l->sockets))) == NULL)
		goto nomem;
	l->sockets[0].origin = origin;
	/*
	 * The file of a socket the manager holds is not ours to remove: a
	 * socket unit's, or one the fd store keeps for the next start. One
	 * taken from an orphaned worker was bound by us: its file is ours.
	 */
	if (path != NULL && (origin == SDSOCKET_BOUND ||
	    origin == SDSOCKET_RECOVERED)) {
		if (lstat(path, &sb) == -1) {
			listener_error(cause, lc, "socket file vanished after "
			    "bind: %s", listener_strerror(errno, err, sizeof(err)));
			goto fail;
		}
		created = true;
		l->file_dev = sb.st_dev;
		l->file_ino = sb.st_ino;
	}
	if (path != NULL && listener_unix_file_perms(path, &lc->opts, lc,
	    cause) == -1)
		goto fail;
	if (addr_socktype(&lc->addr) == SOCK_STREAM) {
		backlog = lc->opts.backlog > 0 ? lc->opts.backlog : DEFAULT_BACKLOG;
		/* A stored or recovered socket a worker shut down. */
		if (passed && lc->addr.kind == ADDR_TCP)
			listener_unshut(fd);
		if (listen(fd, backlog) == -1) {
			listener_error(cause, lc, "cannot listen: %s",
			    listener_strerror(errno, err, sizeof(err)));
			goto fail;
		}
	}
	memset(&ss, 0, sizeof(ss));
	if (getsockname(fd, (struct sockaddr *)&ss, &sslen) == -1) {
		listener_error(cause, lc, "cannot get the bound address: %s",
		    listener_strerror(errno, err, sizeof(err)));
		goto fail;
	}
	addr_format_sockaddr((const struct sockaddr *)&ss, sslen, l->bound,
	    sizeof(l->bound));
	l->bound_ss = ss;
	l->bound_len = sslen;

	l->name = strdup(lc->name);
	l->fd_name = strdup(lc->fd_name != NULL ? lc->fd_name : lc->name);
	if (l->name == NULL || l->fd_name == NULL)
		goto nomem;
	l->addr = lc->addr;
	l->opts = lc->opts;
	/* The socket is the listener's now: its shared one, or slot 0's. */
	listener_socket_take(&l->sockets[0], fd);
	l->sockets[0].group_index = -1;
	l->nsockets = 1;
	l->refs = 1;
	fd = -1;
	if (lc->opts.per_slot) {
		if ((l->group = calloc(1, sizeof(*l->group))) == NULL)
			goto nomem;
		listener_group_join(l, 0);
		if (listener_grow(l, (size_t)lc->slots, cause) == -1)
			goto fail;
		l->committed = l->nsockets;
	}
	*out = l;
	log_debug("listener %s: bound %s (fd %d, %zu socket%s)", l->name,
	    l->bound, l->sockets[0].fd, l->nsockets, l->nsockets == 1 ? "" : "s");
	return 0;

nomem:
	listener_error(cause, lc, "out of memory");
fail:
	if (created && listener_owns_file(l))
		unlink(path);
	if (l != NULL) {
		while (l->nsockets > 0)
			close(l->sockets[--l->nsockets].fd);
		free(l->name);
		free(l->fd_name);
		free(l->sockets);
		free(l->group);
		free(l);
	}
	if (fd != -1)
		close(fd);
	return -1;
}

/* Take one more reference to a listener. */
void
listener_ref(struct listener *l)
{
	l->refs++;
}

/*
 * Drop a reference; the last one closes the sockets and removes our file.
 * One dropped too many (a bug) is logged and frees nothing, rather than
 * stop the supervisor on a reload's path.
 */
void
listener_unref(struct listener *l)
{
	const char *path;
	size_t i;

	if (l == NULL)
		return;
	if (l->refs <= 0) {
		log_errorx("listener %s: reference count underflow (a bug: "
		    "nothing is freed)", l->name);
		return;
	}
	if (--l->refs > 0)
		return;
	if ((path = listener_unix_path(&l->addr)) != NULL &&
	    listener_owns_file(l) && unlink(path) == -1)
		log_warn("listener %s: cannot remove %s", l->name, path);
	for (i = 0; i < l->nsockets; i++)
		if (l->sockets[i].fd != -1)
			close(l->sockets[i].fd);
	log_debug("listener %s: closed %s", l->name, l->bound);
	free(l->name);
	free(l->fd_name);
	free(l->sockets);
	free(l->group);
	free(l->steer);
	ebpf_steer_free(l->ebpf);
	free(l);
}

/* The shared socket (socket 0): the one of inherit mode, status and fds. */
int
listener_fd(const struct listener *l)
{
	return l->sockets[0].fd;
}

/*
 * The socket worker slot uses: its own where the listener holds one per
 * slot, else the shared one (every worker of inherit mode).
 */
int
listener_slot_fd(const struct listener *l, unsigned int slot)
{
	return slot < l->nsockets ? l->sockets[slot].fd : l->sockets[0].fd;
}

/* How many sockets the listener owns (for listener_socket_fd). */
size_t
listener_nsockets(const struct listener *l)
{
	return l->nsockets;
}

/* The listener's socket i, 0 <= i < listener_nsockets(l). */
int
listener_socket_fd(const struct listener *l, size_t i)
{
	return l->sockets[i].fd;
}

/*
 * The inode of the listener's socket i, known since it was bound: the
 * guard tells our sockets from others' by it without a system call.
 */
ino_t
listener_socket_ino(const struct listener *l, size_t i)
{
	return l->sockets[i].fd != -1 ? l->sockets[i].ino : 0;
}

/* Where the listener's socket i came from: bound, or the service manager. */
enum sdsocket_origin
listener_socket_origin(const struct listener *l, size_t i)
{
	return l->sockets[i].origin;
}

/* ---- per-slot listeners (reuseport mode) ---------------------------- */

/* Tell whether a listener has a socket per worker slot. */
bool
listener_per_slot(const struct listener *l)
{
	return l->opts.per_slot;
}

/* Slot's index in the kernel's reuseport group; -1 while not in it. */
int
listener_slot_group_index(const struct listener *l, size_t slot)
{
	return l->sockets[slot].group_index;
}

/* Tell whether slot is in the steering table (a worker serves on it). */
bool
listener_slot_serving(const struct listener *l, size_t slot)
{
	return l->sockets[slot].serving;
}

/* Say whether slot is in the steering table. */
void
listener_slot_set_serving(struct listener *l, size_t slot, bool serving)
{
	l->sockets[slot].serving = serving;
}

/* Tell whether slot's socket is in the eBPF steering program's sockarray. */
bool
listener_slot_registered(const struct listener *l, size_t slot)
{
	return l->sockets[slot].registered;
}

/*
 * Slot's socket was put in the eBPF sockarray; it is out again once it
 * leaves the group (listener_group_leave).
 */
void
listener_slot_set_registered(struct listener *l, size_t slot)
{
	l->sockets[slot].registered = true;
}

/*
 * Whether the record of a per-slot listener's reuseport group, written by
 * the supervisor's previous image, fits the listener name with nsockets
 * sockets: committed slots within them, and each of the n sockets
 * recorded (slot[i] at index[i] of the group, -1: out of it) a slot of
 * its own at an index of its own, the indexes from 0 up without a hole.
 * A slot past the sockets that left the group is left out. The record
 * comes from another build of handoff: what does not fit is refused
 * (-1 with *cause naming it) rather than mirrored, as the kernel's group
 * order would be wrong. Checked by the new binary's pre-flight and again
 * at its restore.
 */
int
listener_group_record_check(const char *name, size_t nsockets,
    long long committed, const long long *slot, const long long *index,
    size_t n, char **cause)
{
	unsigned int *at = NULL;
	bool *seen = NULL;
	size_t i, ngroup = 0;
	int rc = -1;

	if (committed < 0 || (unsigned long long)committed > nsockets) {
		cause_set(cause, "listener %s: the record's %lld committed worker "
		    "slots do not fit its %zu sockets", name, committed, nsockets);
		return -1;
	}
	if ((at = calloc(nsockets + 1, sizeof(*at))) == NULL ||
	    (seen = calloc(nsockets + 1, sizeof(*seen))) == NULL) {
		cause_set(cause, "listener %s: out of memory", name);
		goto done;
	}
	for (i = 0; i < nsockets; i++)
		at[i] = UINT_MAX;
	for (i = 0; i < n; i++) {
		if (slot[i] < 0) {
			cause_set(cause, "listener %s: the record names worker slot "
			    "%lld", name, slot[i]);
			goto done;
		}
		if (index[i] != -1 && (unsigned long long)slot[i] >= nsockets) {
			cause_set(cause, "listener %s: the record has worker slot "
			    "%lld in the kernel's group, not one of its %zu", name,
			    slot[i], nsockets);
			goto done;
		}
		if ((unsigned long long)slot[i] >= nsockets)
			continue;
		if (seen[slot[i]]) {
			cause_set(cause, "listener %s: the record has worker slot "
			    "%lld twice", name, slot[i]);
			goto done;
		}
		seen[slot[i]] = true;
		if (index[i] == -1)
			continue;
		if (index[i] < 0 || (unsigned long long)index[i] >= nsockets) {
			cause_set(cause, "listener %s: the record puts worker slot "
			    "%lld at index %lld of a group of %zu sockets", name,
			    slot[i], index[i], nsockets);
			goto done;
		}
		if (at[index[i]] != UINT_MAX) {
			cause_set(cause, "listener %s: the record puts worker slots "
			    "%u and %lld both at index %lld of its group", name,
			    at[index[i]], slot[i], index[i]);
			goto done;
		}
		at[index[i]] = (unsigned int)slot[i];
		if ((size_t)index[i] + 1 > ngroup)
			ngroup = (size_t)index[i] + 1;
	}
	for (i = 0; i < ngroup; i++)
		if (at[i] == UINT_MAX) {
			cause_set(cause, "listener %s: the record puts no worker "
			    "slot at index %zu of its group of %zu", name, i, ngroup);
			goto done;
		}
	rc = 0;
done:
	free(at);
	free(seen);
	return rc;
}

/*
 * An upgrade gives l back its committed slots and its mirror of the
 * kernel's reuseport group from the record (listener_group_record_check
 * says what is refused: -1 with *cause, l unchanged).
 */
int
listener_group_restore(struct listener *l, long long committed,
    const long long *slot, const long long *index, size_t n, char **cause)
{
	size_t i;

	if (listener_group_record_check(l->name, l->nsockets, committed, slot,
	    index, n, cause) == -1)
		return -1;
	l->committed = (size_t)committed;
	l->ngroup = 0;
	for (i = 0; i < l->nsockets; i++)
		l->sockets[i].group_index = -1;
	for (i = 0; i < n; i++) {
		if (index[i] < 0)
			continue;
		l->sockets[slot[i]].group_index = (int)index[i];
		l->group[index[i]] = (unsigned int)slot[i];
		if ((size_t)index[i] + 1 > l->ngroup)
			l->ngroup = (size_t)index[i] + 1;
	}
	return 0;
}

/* Mirror a slot's socket joining the kernel's group: at the tail. */
static void
listener_group_join(struct listener *l, size_t slot)
{
	l->sockets[slot].group_index = (int)l->ngroup;
	l->group[l->ngroup++] = (unsigned int)slot;
}

/* Mirror a slot's socket leaving the group: the last takes its place. */
static void
listener_group_leave(struct listener *l, size_t slot)
{
	int k = l->sockets[slot].group_index;
	unsigned int last;

	if (k < 0)
		return;
	last = l->group[--l->ngroup];
	l->group[k] = last;
	l->sockets[last].group_index = k;
	l->sockets[slot].group_index = -1;
	/* The kernel forgets a socket that leaves: as in its sockarray. */
	l->sockets[slot].registered = false;
}

/* The listen() backlog a stream listener asks for. */
static int
listener_backlog(const struct listener *l)
{
	return l->opts.backlog > 0 ? l->opts.backlog : DEFAULT_BACKLOG;
}

/*
 * Open one more socket of a per-slot listener, as slot l->nsockets: the
 * same options, bound to the port slot 0 got, listening; it joins the
 * kernel's group at the tail. Its fd is the listener's.
 */
static int
listener_slot_open(struct listener *l, char **cause)
{
	struct listener_conf lc;
	size_t slot = l->nsockets;
	enum sdsocket_origin origin;
	char err[128];
	int fd, passed;

	memset(&lc, 0, sizeof(lc));
	lc.name = l->name;
	lc.addr = l->addr;
	lc.opts = l->opts;
	/* The slot's socket, back from the fd store at this slot, if kept. */
	lc.addr.ss = l->bound_ss;
	lc.addr.len = l->bound_len;
	if ((passed = sdsocket_take(&lc, slot, &fd, &origin, cause)) == -1)
		return -1;
	if (passed)
		goto adopted;
	fd = socket(l->addr.ss.ss_family,
	    addr_socktype(&l->addr) | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd == -1) {
		listener_error(cause, &lc, "cannot create the socket of worker "
		    "slot %zu: %s", slot, listener_strerror(errno, err,
		    sizeof(err)));
		return -1;
	}
	if (listener_set_options(fd, &lc, cause) == -1)
		goto fail;
	if (bind(fd, (const struct sockaddr *)&l->bound_ss, l->bound_len) == -1) {
		listener_error(cause, &lc, "cannot bind the socket of worker "
		    "slot %zu to %s: %s", slot, l->bound,
		    listener_strerror(errno, err, sizeof(err)));
		goto fail;
	}
adopted:
	if (passed && l->addr.kind == ADDR_TCP)
		listener_unshut(fd);
	if (addr_socktype(&l->addr) == SOCK_STREAM &&
	    listen(fd, listener_backlog(l)) == -1) {
		listener_error(cause, &lc, "cannot listen on the socket of "
		    "worker slot %zu: %s", slot, listener_strerror(errno, err,
		    sizeof(err)));
		goto fail;
	}
	listener_socket_take(&l->sockets[slot], fd);
	l->sockets[slot].origin = origin;
	l->nsockets++;
	listener_changed();
	listener_group_join(l, slot);
	return 0;

fail:
	close(fd);
	return -1;
}

/*
 * Give a per-slot listener nslots sockets: the missing slots are opened
 * at the tail of the group (a reload that grows the workers). They serve
 * only once committed. A slot still open from before (a UDP slot retired
 * while its old worker lived) is taken back as it is. -1 with *cause:
 * nothing was added.
 */
int
listener_grow(struct listener *l, size_t nslots, char **cause)
{
	struct listener_socket *socks;
	unsigned int *group;
	size_t before = l->nsockets, cap, slot;

	/* A retired TCP slot still open was shut down: it listens again. */
	for (slot = 0; slot < nslots && slot < l->nsockets; slot++)
		if (l->sockets[slot].fd != -1 &&
		    l->sockets[slot].group_index < 0 &&
		    listener_slot_rejoin(l, slot) == -1) {
			cause_set(cause, "listener %s: cannot listen again on "
			    "the socket of worker slot %zu: %s", l->name, slot,
			    strerror(errno));
			return -1;
		}
	if (nslots <= l->nsockets)
		return 0;
	/* Room for every slot, and for the group's index of each. */
	cap = nslots;
	if ((socks = reallocarray(l->sockets, cap, sizeof(*socks))) == NULL) {
		cause_set(cause, "listener %s: out of memory", l->name);
		return -1;
	}
	l->sockets = socks;
	if ((group = reallocarray(l->group, cap, sizeof(*group))) == NULL) {
		cause_set(cause, "listener %s: out of memory", l->name);
		return -1;
	}
	l->group = group;
	while (l->nsockets < nslots) {
		if (listener_slot_open(l, cause) == -1) {
			while (l->nsockets > before)
				listener_slot_close(l, --l->nsockets);
			return -1;
		}
	}
	return 0;
}

/*
 * Take a TCP slot's socket out of the group now, whoever holds copies of
 * it: shutdown(SHUT_RD). With connection migration its queue moves to
 * the other sockets of the group; without, it is reset. 0, or -1.
 */
int
listener_slot_leave(struct listener *l, size_t slot)
{
	struct listener_socket *sock = &l->sockets[slot];

	if (sock->fd == -1 || sock->group_index < 0 ||
	    addr_socktype(&l->addr) != SOCK_STREAM)
		return -1;
	if (shutdown(sock->fd, SHUT_RD) == -1)
		return -1;
	listener_group_leave(l, slot);
	return 0;
}

/* Make a TCP slot that left the group listen again: it joins at the tail. */
int
listener_slot_rejoin(struct listener *l, size_t slot)
{
	struct listener_socket *sock = &l->sockets[slot];

	if (sock->fd == -1 || sock->group_index >= 0)
		return -1;
	if (l->addr.kind == ADDR_TCP)
		listener_unshut(sock->fd);
	/* A socket bound to port 0 gave its port back on shutdown(). */
	if (bind(sock->fd, (const struct sockaddr *)&l->bound_ss,
	    l->bound_len) == -1 && errno != EINVAL)
		return -1;
	if (listen(sock->fd, listener_backlog(l)) == -1)
		return -1;
	listener_group_join(l, slot);
	return 0;
}

/*
 * Close the supervisor's socket of a slot. A TCP one leaves the group
 * first (shutdown), whoever else holds it; a UDP one leaves when its last
 * copy closes, so it is closed once no worker holds it (the caller's
 * business). Only the highest open slot may be closed: slots are an
 * array.
 */
void
listener_slot_close(struct listener *l, size_t slot)
{
	struct listener_socket *sock = &l->sockets[slot];

	/* Its callers take the slot off the array too. */
	listener_changed();
	if (sock->fd == -1)
		return;
	if (sock->group_index >= 0 && addr_socktype(&l->addr) == SOCK_STREAM)
		(void)shutdown(sock->fd, SHUT_RD);
	listener_group_leave(l, slot);
	close(sock->fd);
	sock->fd = -1;
}

/*
 * A per-slot TCP socket raised a shutdown: if a process holding it shut
 * it down, the kernel took it out of the group; it listens again and
 * joins at the tail. 1 if repaired, 0 if there is nothing to repair (it
 * listens, or the supervisor retired it), -1 with *cause if it is still
 * down.
 */
int
listener_slot_repair(struct listener *l, size_t slot, char **cause)
{
	struct listener_socket *sock;
	socklen_t len = sizeof(int);
	int on = 0;

	if (slot >= l->nsockets || (sock = &l->sockets[slot])->fd == -1)
		return 0;
	if (sock->group_index < 0) {
		/* Retired by the supervisor, or a repair that failed. */
		if (slot >= l->committed)
			return 0;
	} else {
		if (getsockopt(sock->fd, SOL_SOCKET, SO_ACCEPTCONN, &on,
		    &len) == 0 && on)
			return 0;
		listener_group_leave(l, slot);
	}
	if (listener_slot_rejoin(l, slot) == -1) {
		cause_set(cause, "cannot listen again on the socket of worker "
		    "slot %zu: %s", slot, strerror(errno));
		return -1;
	}
	return 1;
}

/*
 * Close a per-slot listener's sockets above the slots it serves and above
 * keep (slots a live worker still uses), from the highest down, so that
 * no other socket moves in the group: after a reload that grew the slots
 * failed, or once the workers of retired slots are gone.
 */
void
listener_trim_slots(struct listener *l, size_t keep)
{
	size_t floor = l->committed > keep ? l->committed : keep;

	if (!l->opts.per_slot || floor == 0)
		return;
	while (l->nsockets > floor)
		listener_slot_close(l, --l->nsockets);
}

/*
 * How much waits on a slot's socket: for TCP, connections in its accept
 * queue against its backlog; for UDP, bytes of datagrams against its
 * receive buffer. 0, or -1 if the kernel would not say.
 */
int
listener_slot_queue(const struct listener *l, size_t slot,
    unsigned int *queued, unsigned int *limit)
{
	uint32_t mem[SK_MEMINFO_VARS];
	struct tcp_info ti;
	socklen_t len;
	int fd = slot < l->nsockets ? l->sockets[slot].fd : -1;

	*queued = *limit = 0;
	if (fd == -1)
		return -1;
	if (l->addr.kind == ADDR_TCP) {
		len = sizeof(ti);
		memset(&ti, 0, sizeof(ti));
		if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == -1)
			return -1;
		/* On a listener: the accept queue, and its limit. */
		*queued = ti.tcpi_unacked;
		*limit = ti.tcpi_sacked;
		return 0;
	}
	len = sizeof(mem);
	if (getsockopt(fd, SOL_SOCKET, SO_MEMINFO, mem, &len) == -1)
		return -1;
	*queued = mem[SK_MEMINFO_RMEM_ALLOC];
	*limit = mem[SK_MEMINFO_RCVBUF];
	return 0;
}

/* Tell whether two option sets are the same, field by field. */
static bool
listener_opts_equal(const struct listener_opts *a, const struct listener_opts *b)
{
	return a->backlog == b->backlog &&
	    a->reuseport == b->reuseport &&
	    a->v6only == b->v6only &&
	    a->freebind == b->freebind &&
	    a->defer_accept == b->defer_accept &&
	    a->nodelay == b->nodelay &&
	    strcmp(a->interface, b->interface) == 0 &&
	    a->mode == b->mode &&
	    a->owner == b->owner &&
	    a->group == b->group &&
	    a->per_slot == b->per_slot;
}

/* The fd name a listener_conf asks for (its name unless given). */
static const char *
listener_conf_fd_name(const struct listener_conf *lc)
{
	return lc->fd_name != NULL ? lc->fd_name : lc->name;
}

/* Tell whether a bound listener is exactly what a listener_conf asks for. */
bool
listener_matches(const struct listener *l, const struct listener_conf *lc)
{
	return addr_equal(&l->addr, &lc->addr) &&
	    listener_opts_equal(&l->opts, &lc->opts) &&
	    strcmp(l->name, lc->name) == 0 &&
	    strcmp(l->fd_name, listener_conf_fd_name(lc)) == 0;
}

/* The first option that cannot change on a kept socket, or NULL. */
static const char *
listener_immutable_change(const struct listener_opts *a,
    const struct listener_opts *b)
{
	if (a->per_slot != b->per_slot)
		return "the handoff mode (one socket per worker in reuseport "
		    "mode, one shared socket otherwise)";
	if (a->reuseport != b->reuseport)
		return "reuseport";
	if (a->v6only != b->v6only)
		return "v6only";
	if (a->freebind != b->freebind)
		return "freebind";
	if (strcmp(a->interface, b->interface) != 0)
		return "interface";
	return NULL;
}

/* Append n bytes to a key being written at *p. */
static void
listener_key_put(unsigned char **p, const void *bytes, size_t n)
{
	memcpy(*p, bytes, n);
	*p += n;
}

/* Where a key's address bytes start: after the kind and the length. */
#define LISTENER_KEY_ADDRESS_AT	(1 + sizeof(uint16_t))

/*
 * Write the key of a listener's identity to buf (see listener_key); set
 * *addrlen to the length of its first part, the key of the address alone.
 */
static size_t
listener_key_write(const struct addr *addr, const struct listener_opts *opts,
    const char *name, unsigned char *buf, size_t *addrlen)
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)&addr->ss;
	const struct sockaddr_in6 *sin6 =
	    (const struct sockaddr_in6 *)&addr->ss;
	unsigned char *p = buf, byte;
	uint16_t len16 = (uint16_t)addr->len;

	*p++ = (unsigned char)addr->kind;
	listener_key_put(&p, &len16, sizeof(len16));
	switch (addr->ss.ss_family) {
	case AF_INET:
		listener_key_put(&p, &sin->sin_port, sizeof(sin->sin_port));
		listener_key_put(&p, &sin->sin_addr, sizeof(sin->sin_addr));
		break;
	case AF_INET6:
		listener_key_put(&p, &sin6->sin6_port, sizeof(sin6->sin6_port));
		listener_key_put(&p, &sin6->sin6_addr, sizeof(sin6->sin6_addr));
		listener_key_put(&p, &sin6->sin6_scope_id,
		    sizeof(sin6->sin6_scope_id));
		break;
	default:
		listener_key_put(&p, &addr->ss, addr->len < sizeof(addr->ss) ?
		    addr->len : sizeof(addr->ss));
		break;
	}
	/* Names are at most 64 characters; a NUL ends each string. */
	if (!addr_is_unix(addr) && addr_port(addr) == 0)
		listener_key_put(&p, name, strnlen(name, 64) + 1);
	*addrlen = (size_t)(p - buf);
	if (opts == NULL)
		return *addrlen;
	listener_key_put(&p, &opts->backlog, sizeof(opts->backlog));
	listener_key_put(&p, &opts->v6only, sizeof(opts->v6only));
	byte = (unsigned char)(opts->reuseport | opts->freebind << 1 |
	    opts->defer_accept << 2 | opts->nodelay << 3 |
	    opts->per_slot << 4);
	*p++ = byte;
	listener_key_put(&p, opts->interface,
	    strnlen(opts->interface, sizeof(opts->interface) - 1) + 1);
	listener_key_put(&p, &opts->mode, sizeof(opts->mode));
	listener_key_put(&p, &opts->owner, sizeof(opts->owner));
	listener_key_put(&p, &opts->group, sizeof(opts->group));
	return (size_t)(p - buf);
}

/*
 * The key of a listener's identity, written to buf (LISTENER_KEY_MAX
 * bytes); returns its length. Two listeners with the same key are the same
 * socket to keep across a reload: the address (for port 0 also the name:
 * the real port differs every time, so only the name tells two apart) and,
 * unless opts is NULL, every option. The name is otherwise a label, not
 * part of the key.
 */
size_t
listener_key(const struct addr *addr, const struct listener_opts *opts,
    const char *name, unsigned char *buf)
{
	size_t addrlen;

	return listener_key_write(addr, opts, name, buf, &addrlen);
}

/* Index set by name (the first listener of each name); NULL if no memory. */
static struct hashmap *
listener_set_index(const struct listener_set *set)
{
	struct hashmap *map;
	size_t i;

	if ((map = hashmap_new(set->count)) == NULL)
		return NULL;
	for (i = 0; i < set->count; i++) {
		if (hashmap_add(map, set->items[i]->name,
		    strlen(set->items[i]->name), set->items[i]) == -1) {
			hashmap_free(map);
			return NULL;
		}
	}
	return map;
}

/* Find a listener by its name (as it is now: see listener_set_for). */
struct listener *
listener_set_find(const struct listener_set *set, const char *name)
{
	size_t i;

	if (set == NULL)
		return NULL;
	if (set->by_name != NULL)
		return hashmap_get(set->by_name, name, strlen(name));
	/* Not committed yet, built by hand, or out of memory for its index. */
	for (i = 0; i < set->count; i++)
		if (strcmp(set->items[i]->name, name) == 0)
			return set->items[i];
	return NULL;
}

/*
 * The listener of set that conf's listener lc became: sets are built in
 * config order, one listener per section the supervisor binds, so it is
 * the one at lc's position (NULL for a self listener). A kept listener still carries its old name until the reload
 * commits, so a lookup by name would miss a renamed one. NULL if set is
 * shorter (lc must be one of conf's listeners).
 */
struct listener *
listener_set_for(const struct listener_set *set, const struct config *conf,
    const struct listener_conf *lc)
{
	if (lc->index >= conf->nlisteners || lc->index >= set->count)
		return NULL;
	return set->items[lc->index];
}

/* The ways a listener of the current set can be found again on reload. */
enum listener_link {
	LISTENER_BY_IDENTITY,	/* address and options */
	LISTENER_BY_ADDRESS,	/* address: only options that may change differ */
	LISTENER_BY_UNIX_NAME,	/* unix socket name, whatever the socket type */
	LISTENER_NLINKS,
};

/*
 * A listener of the current set, as a reload matches it. Candidates are
 * numbered from 1 in set order; 0 stands for none.
 */
struct listener_candidate {
	struct listener	*l;
	/* The next candidate with the same key, in set order. */
	uint32_t	 next[LISTENER_NLINKS];
	bool		 kept;		/* taken by a listener of the new config */
};

/*
 * A key's slot in an index table: the key's hash (0: an empty slot) and
 * its first candidate not known to be kept (the last of them once all
 * are). The key itself is not stored: it is worked out again from the
 * candidate.
 */
struct listener_index_slot {
	uint32_t	 hash;
	uint32_t	 first;
};

/* The current set indexed for a reload: each key to its first candidate. */
struct listener_index {
	struct listener_candidate *cands;	/* cands[0] unused */
	size_t		 ncands;
	struct listener_index_slot *table[LISTENER_NLINKS];
	size_t		 mask[LISTENER_NLINKS];	/* slots - 1, a power of two */
};

/* A listener's keys under each link: all parts of its identity key. */
struct listener_keys {
	unsigned char	 buf[LISTENER_KEY_MAX];
	const unsigned char *key[LISTENER_NLINKS];
	size_t		 len[LISTENER_NLINKS];	/* 0: none under that link */
};

/* Work out the keys of a listener (or listener_conf) under each link. */
static void
listener_keys_of(struct listener_keys *k, const struct addr *addr,
    const struct listener_opts *opts, const char *name)
{
	k->len[LISTENER_BY_IDENTITY] = listener_key_write(addr, opts, name,
	    k->buf, &k->len[LISTENER_BY_ADDRESS]);
	k->key[LISTENER_BY_IDENTITY] = k->key[LISTENER_BY_ADDRESS] = k->buf;
	/* A unix name is the address bytes, without the socket type. */
	k->key[LISTENER_BY_UNIX_NAME] = k->buf + LISTENER_KEY_ADDRESS_AT;
	k->len[LISTENER_BY_UNIX_NAME] = addr_is_unix(addr) ?
	    k->len[LISTENER_BY_ADDRESS] - LISTENER_KEY_ADDRESS_AT : 0;
}

/* Free what listener_index_build made. */
static void
listener_index_free(struct listener_index *idx)
{
	free(idx->cands);
	memset(idx, 0, sizeof(*idx));
}

/* Slots for n keys at most: a power of two, at most half of it used. */
static size_t
listener_index_slots(size_t n)
{
	size_t slots = 8;

	while (slots / 2 < n)
		slots *= 2;
	return slots;
}

/*
 * The slot of a key (keys, under link, hashed to hash) in idx's table for
 * that link: the one holding it, or the empty one where it would go.
 */
static struct listener_index_slot *
listener_index_slot(const struct listener_index *idx, enum listener_link link,
    const struct listener_keys *keys, uint32_t hash)
{
	struct listener_index_slot *s;
	struct listener_keys other;
	const struct listener *l;
	size_t i;

	for (i = hash & idx->mask[link];; i = (i + 1) & idx->mask[link]) {
		s = &idx->table[link][i];
		if (s->hash == 0)
			return s;
		if (s->hash != hash)
			continue;
		/* The same hash: the same key? Its candidates have it. */
		l = idx->cands[s->first].l;
		listener_keys_of(&other, &l->addr, &l->opts, l->name);
		if (other.len[link] == keys->len[link] && memcmp(other.key[link],
		    keys->key[link], keys->len[link]) == 0)
			return s;
	}
}

/*
 * Index the listeners of current (which may name one more than once: the
 * first counts). Candidates are linked from the last to the first, so that
 * each key leads to its first one in set order. The tables hold no copy of
 * a key: one allocation, sized once, for the candidates and the tables.
 * -1 if out of memory.
 */
static int
listener_index_build(struct listener_index *idx,
    const struct listener_set *current)
{
	static unsigned int pass;
	struct listener_keys keys;
	struct listener_index_slot *s;
	struct listener_candidate *c;
	struct listener *l;
	size_t n = current != NULL ? current->count : 0, i, k, nunix = 0;
	size_t slots[LISTENER_NLINKS], total = 0;
	uint32_t hash;
	char *mem;

	memset(idx, 0, sizeof(*idx));
	/* A listener named twice is a candidate once: this pass marks it. */
	if (++pass == 0)
		pass = 1;
	for (i = 0; i < n; i++) {
		l = current->items[i];
		if (l->index_pass != pass) {
			l->index_pass = pass;
			idx->ncands++;
			nunix += addr_is_unix(&l->addr);
		}
	}
	if (idx->ncands >= UINT32_MAX)
		return -1;
	for (k = 0; k < LISTENER_NLINKS; k++) {
		slots[k] = listener_index_slots(k == LISTENER_BY_UNIX_NAME ?
		    nunix : idx->ncands);
		total += slots[k];
	}
	if ((mem = calloc(1, (idx->ncands + 1) * sizeof(*idx->cands) +
	    total * sizeof(*s))) == NULL)
		return -1;
	idx->cands = (struct listener_candidate *)(void *)mem;
	s = (struct listener_index_slot *)(void *)(idx->cands + idx->ncands + 1);
	for (k = 0; k < LISTENER_NLINKS; k++) {
		idx->table[k] = s;
		idx->mask[k] = slots[k] - 1;
		s += slots[k];
	}
	/* The same pass again: a listener's first place takes its number. */
	if (++pass == 0)
		pass = 1;
	for (i = 0, k = 0; i < n; i++) {
		l = current->items[i];
		if (l->index_pass != pass) {
			l->index_pass = pass;
			idx->cands[++k].l = l;
		}
	}
	for (i = idx->ncands; i > 0; i--) {
		c = &idx->cands[i];
		listener_keys_of(&keys, &c->l->addr, &c->l->opts, c->l->name);
		for (k = 0; k < LISTENER_NLINKS; k++) {
			if (keys.len[k] == 0)
				continue;
			hash = hashmap_hash(keys.key[k], keys.len[k]);
			s = listener_index_slot(idx, k, &keys, hash);
			c->next[k] = s->first;	/* 0 while the slot is empty */
			s->hash = hash;
			s->first = (uint32_t)i;
		}
	}
	return 0;
}

/*
 * The first candidate not kept yet with a listener's key under link, or
 * NULL. The key's slot moves past the kept ones it skips (to the last of
 * them if none is left), so that each is skipped once.
 */
static struct listener_candidate *
listener_index_find(struct listener_index *idx, enum listener_link link,
    const struct listener_keys *keys)
{
	struct listener_index_slot *s;
	uint32_t i;

	if (keys->len[link] == 0)
		return NULL;
	s = listener_index_slot(idx, link, keys, hashmap_hash(keys->key[link],
	    keys->len[link]));
	if (s->hash == 0)
		return NULL;
	for (i = s->first; idx->cands[i].kept && idx->cands[i].next[link] != 0;
	    i = idx->cands[i].next[link])
		;
	s->first = i;
	return idx->cands[i].kept ? NULL : &idx->cands[i];
}

/*
 * A candidate on lc's unix socket name (keys are lc's) of another socket
 * type, kept or not; or NULL.
 */
static struct listener_candidate *
listener_index_other_type(const struct listener_index *idx,
    const struct listener_conf *lc, const struct listener_keys *keys)
{
	const struct listener_index_slot *s;
	uint32_t i;

	if (keys->len[LISTENER_BY_UNIX_NAME] == 0)
		return NULL;
	s = listener_index_slot(idx, LISTENER_BY_UNIX_NAME, keys,
	    hashmap_hash(keys->key[LISTENER_BY_UNIX_NAME],
	    keys->len[LISTENER_BY_UNIX_NAME]));
	/* find never moves this table's slots: its chains are whole. */
	for (i = s->hash != 0 ? s->first : 0; i != 0;
	    i = idx->cands[i].next[LISTENER_BY_UNIX_NAME])
		if (idx->cands[i].l->addr.kind != lc->addr.kind)
			return &idx->cands[i];
	return NULL;
}

/* Set an int socket option on every socket of a listener. */
static int
listener_setsockopt_all(struct listener *l, int level, int name, int value)
{
	size_t i;

	for (i = 0; i < l->nsockets; i++)
		if (setsockopt(l->sockets[i].fd, level, name, &value,
		    sizeof(value)) == -1)
			return -1;
	return 0;
}

/* Listen again on every socket of a listener, with another backlog. */
static int
listener_listen_all(struct listener *l, int backlog)
{
	size_t i;

	for (i = 0; i < l->nsockets; i++)
		if (listen(l->sockets[i].fd, backlog) == -1)
			return -1;
	return 0;
}

/* Apply the changes a kept listener may take; failures only warn. */
static void
listener_apply_change(struct listener_change *c)
{
	struct listener *l = c->l;
	const struct listener_opts *o = &c->lc->opts;
	const char *path = listener_unix_path(&l->addr);

	if (c->name != NULL) {
		log_info("listener %s: renamed to %s", l->name, c->name);
		free(l->name);
		l->name = c->name;
		c->name = NULL;
		listener_changed();
	}
	if (c->fd_name != NULL) {
		free(l->fd_name);
		l->fd_name = c->fd_name;
		c->fd_name = NULL;
	}
	if (o->backlog != l->opts.backlog) {
		if (addr_socktype(&l->addr) != SOCK_STREAM)
			l->opts.backlog = o->backlog;
		else if (listener_listen_all(l, o->backlog > 0 ? o->backlog :
		    DEFAULT_BACKLOG) == 0)
			l->opts.backlog = o->backlog;
		else
			log_warn("listener %s: %s: cannot change backlog",
			    l->name, l->bound);
	}
	if (o->nodelay != l->opts.nodelay) {
		if (listener_setsockopt_all(l, IPPROTO_TCP, TCP_NODELAY,
		    o->nodelay) == 0)
			l->opts.nodelay = o->nodelay;
		else
			log_warn("listener %s: %s: cannot change nodelay",
			    l->name, l->bound);
	}
	if (o->defer_accept != l->opts.defer_accept) {
		if (listener_setsockopt_all(l, IPPROTO_TCP, TCP_DEFER_ACCEPT,
		    o->defer_accept ? LISTENER_DEFER_ACCEPT_SECS : 0) == 0)
			l->opts.defer_accept = o->defer_accept;
		else
			log_warn("listener %s: %s: cannot change defer_accept",
			    l->name, l->bound);
	}
	if (o->mode == l->opts.mode && o->owner == l->opts.owner &&
	    o->group == l->opts.group)
		return;
	if (path == NULL || !listener_owns_file(l)) {
		/* Nothing to change: no file, or no longer ours. */
		l->opts.mode = o->mode;
		l->opts.owner = o->owner;
		l->opts.group = o->group;
		return;
	}
	if (o->owner != l->opts.owner || o->group != l->opts.group) {
		if (fchownat(AT_FDCWD, path, o->owner, o->group,
		    AT_SYMLINK_NOFOLLOW) == 0) {
			l->opts.owner = o->owner;
			l->opts.group = o->group;
		} else
			log_warn("listener %s: cannot change the owner of %s",
			    l->name, path);
	}
	if (o->mode != l->opts.mode) {
		if (o->mode == (mode_t)-1 || chmod(path, o->mode) == 0)
			l->opts.mode = o->mode;
		else
			log_warn("listener %s: cannot change the mode of %s",
			    l->name, path);
	}
}

/*
 * A reload's common case: conf's listeners (those the supervisor binds)
 * are current's, one for one and in order, each with the same address,
 * options and names (listener_matches), none with a socket per worker. Then
 * next is current again, each listener referenced once more, and the set
 * in force can stay as it is at the commit (see reload.h). 1 if so, 0 if
 * not (next untouched: listener_set_update decides), -1 if out of memory.
 * listener_set_update would keep the same sockets: it takes the first
 * listener of a key in set order, and current's come first.
 */
int
listener_set_same(const struct listener_set *current,
    const struct config *conf, struct listener_set *next)
{
	const struct listener_conf *lc;
	size_t n = 0;

	TAILQ_FOREACH(lc, &conf->listeners, entry) {
		if (lc->self)
			continue;
		if (n == current->count || lc->opts.per_slot ||
		    !listener_matches(current->items[n], lc))
			return 0;
		n++;
	}
	if (n != current->count)
		return 0;
	memset(next, 0, sizeof(*next));
	if ((next->items = calloc(n + 1, sizeof(*next->items))) == NULL)
		return -1;
	for (next->count = 0; next->count < n; next->count++) {
		next->items[next->count] = current->items[next->count];
		listener_ref(next->items[next->count]);
	}
	return 1;
}

/*
 * Build the listener set of conf into next (which must be empty): for each
 * listener of conf, the listener of current with the same identity is
 * kept (one more reference), else one with the same address whose options
 * may change on a live socket; others are bound. Nothing about a kept
 * listener changes here: its new backlog, name and the like are applied by
 * listener_set_commit once the reload that asked for them has succeeded.
 * current may name a listener more than once. On failure next is left
 * empty, current is untouched, and -1 is returned.
 */
int
listener_set_update(const struct listener_set *current,
    const struct config *conf, struct listener_set *next, char **cause)
{
	const struct listener_conf *lc;
	struct listener_candidate *c;
	struct listener_index idx;
	struct listener_keys keys;
	struct listener *l;
	char where[ADDR_STRLEN], from[ADDR_STRLEN];
	const char *what;
	size_t n = 0;

	if (cause != NULL)
		*cause = NULL;
	memset(next, 0, sizeof(*next));
	memset(&idx, 0, sizeof(idx));
	next->items = calloc(conf->nlisteners + 1, sizeof(*next->items));
	if (next->items == NULL || listener_index_build(&idx, current) == -1) {
		cause_set(cause, "out of memory");
		goto fail;
	}

	TAILQ_FOREACH(lc, &conf->listeners, entry) {
		if (lc->self)
			continue;	/* its programs bind it */
		if (n == conf->nlisteners) {
			cause_set(cause, "listener %s: more listeners "
			    "than the config counts", lc->name);
			goto fail;
		}
		listener_keys_of(&keys, &lc->addr, &lc->opts, lc->name);
		if ((c = listener_index_find(&idx, LISTENER_BY_IDENTITY,
		    &keys)) == NULL)
			c = listener_index_find(&idx, LISTENER_BY_ADDRESS, &keys);
		if (c == NULL) {
			/* A unix path kept open under another socket type? */
			if ((c = listener_index_other_type(&idx, lc,
			    &keys)) != NULL) {
				addr_format(&c->l->addr, from, sizeof(from));
				addr_format(&lc->addr, where, sizeof(where));
				cause_set(cause, "listener %s: changing "
				    "%s to %s needs a stop and start (the socket "
				    "is kept open across reloads)", lc->name,
				    from, where);
				goto fail;
			}
			if (listener_bind(lc, &l, cause) == -1)
				goto fail;
			next->items[n++] = l;
			next->count = n;
			continue;
		}

		l = c->l;
		what = listener_immutable_change(&l->opts, &lc->opts);
		if (what != NULL) {
			addr_format(&lc->addr, where, sizeof(where));
			cause_set(cause, "listener %s: changing %s of %s "
			    "needs a stop and start (the socket is kept open "
			    "across reloads)", lc->name, what, where);
			goto fail;
		}
		/* Growth: the slots it adds serve once the reload commits. */
		if (lc->opts.per_slot && listener_grow(l, (size_t)lc->slots,
		    cause) == -1)
			goto fail;
		c->kept = true;
		listener_ref(l);
		next->items[n++] = l;
		next->count = n;
	}
	listener_index_free(&idx);
	/* Indexed by name once committed: only the set in force is looked up. */
	return 0;

fail:
	listener_index_free(&idx);
	listener_set_clear(next);
	return -1;
}

/*
 * The reload that built set from conf succeeded: apply to the kept
 * listeners what may change on a live socket (backlog, nodelay,
 * defer_accept, unix file mode and owner, name, fd_name), and index the
 * set by name. Failures warn.
 */
void
listener_set_commit(struct listener_set *set, const struct config *conf)
{
	const struct listener_conf *lc;
	struct listener_change change;
	struct listener *l;
	size_t i = 0;
	bool renamed = false;

	TAILQ_FOREACH(lc, &conf->listeners, entry) {
		if (lc->self)
			continue;
		if (i == set->count)
			break;
		l = set->items[i++];
		if (lc->opts.per_slot)
			l->committed = (size_t)lc->slots;
		if (listener_matches(l, lc))
			continue;
		memset(&change, 0, sizeof(change));
		change.l = l;
		change.lc = lc;
		if (strcmp(l->name, lc->name) != 0) {
			change.name = strdup(lc->name);
			renamed = true;
		}
		if (strcmp(l->fd_name, listener_conf_fd_name(lc)) != 0)
			change.fd_name = strdup(listener_conf_fd_name(lc));
		listener_apply_change(&change);
		free(change.name);
		free(change.fd_name);
	}
	if (renamed || set->by_name == NULL) {
		hashmap_free(set->by_name);
		set->by_name = listener_set_index(set);
	}
}

/* Drop the set's references and empty it. */
void
listener_set_clear(struct listener_set *set)
{
	size_t i;

	if (set->items != NULL) {
		for (i = 0; i < set->count; i++)
			listener_unref(set->items[i]);
	}
	free(set->items);
	hashmap_free(set->by_name);
	memset(set, 0, sizeof(*set));
}

/* Replace dst (cleared first) by src, which is left empty. */
void
listener_set_move(struct listener_set *dst, struct listener_set *src)
{
	listener_set_clear(dst);
	*dst = *src;
	memset(src, 0, sizeof(*src));
}

/* Check, without creating anything, that a unix socket file can be made. */
static int
listener_probe_unix(const struct listener_conf *lc, char **cause)
{
	const char *path = listener_unix_path(&lc->addr);
	char dir[ADDR_STRLEN], err[128];
	struct stat sb;

	if (listener_check_opts(lc, cause) == -1)
		return -1;
	listener_dirname(path, dir, sizeof(dir));
	if (stat(dir, &sb) == -1) {
		if (errno == ENOENT)
			listener_error(cause, lc, "directory %s does not exist",
			    dir);
		else
			listener_error(cause, lc, "cannot check directory %s: %s",
			    dir, listener_strerror(errno, err, sizeof(err)));
		return -1;
	}
	if (!S_ISDIR(sb.st_mode)) {
		listener_error(cause, lc, "%s is not a directory", dir);
		return -1;
	}
	if (access(dir, W_OK | X_OK) == -1) {
		listener_error(cause, lc, "permission denied (cannot create the "
		    "socket file in %s)", dir);
		return -1;
	}
	/* A stale socket is left alone: run removes it. */
	return listener_unix_prepare(lc, false, cause);
}

/*
 * After a probe bound l, tell whether other sockets listen on its address
 * all the same (SO_REUSEPORT on both, same uid): -1 naming them in *cause
 * if so, 1 with *cause if it cannot tell, 0 if none does.
 */
static int
listener_probe_shared(const struct listener_conf *lc, const struct listener *l,
    char **cause)
{
	struct sockdiag_owner owners[4];
	struct sockdiag_want want;
	struct stat sb;
	char who[512], *why = NULL;
	int n;

	if (addr_port(&lc->addr) == 0 || fstat(listener_fd(l), &sb) == -1)
		return 0;	/* a port of its own: nobody else is there */
	memset(&want, 0, sizeof(want));
	want.addr = lc->addr;
	want.v6only = lc->opts.v6only == 1;
	if ((n = sockdiag_owners(&want, sb.st_ino, owners, 4, &why)) == -1) {
		listener_error(cause, lc, "cannot tell whether other processes "
		    "listen on this address too: %s", why ? why :
		    "out of memory");
		free(why);
		return 1;
	}
	if (n == 0)
		return 0;
	sockdiag_format_owners(owners, (size_t)n, who, sizeof(who));
	listener_error(cause, lc, "%s already listen%s on this address with "
	    "SO_REUSEPORT, and would take a share of its connections", who,
	    n == 1 ? "s" : "");
	return -1;
}

/*
 * Probe a reuseport listener: one socket, bound but not listening, so
 * that it never joins the group of a supervisor running this config (a
 * TCP socket joins at listen()); a UDP one joins at bind() and leaves at
 * once. Sockets on the address held by that supervisor (the holder of
 * its control socket's lock) or its workers are expected; anyone else's
 * are not.
 */
static int
listener_probe_slots(const struct config *conf, const struct listener_conf *lc,
    char **cause)
{
	struct sockdiag_owner owners[LISTENER_PROBE_OWNERS];
	struct sockdiag_want want;
	pid_t sup = ctllock_running(conf->supervisor.control);
	char who[512], *why = NULL, err[128];
	int fd, n, i, k = 0;

	fd = socket(lc->addr.ss.ss_family, addr_socktype(&lc->addr) |
	    SOCK_CLOEXEC, 0);
	if (fd == -1 || listener_set_options(fd, lc, cause) == -1) {
		if (fd == -1)
			listener_error(cause, lc, "cannot create socket: %s",
			    listener_strerror(errno, err, sizeof(err)));
		else
			close(fd);
		return -1;
	}
	if (bind(fd, (const struct sockaddr *)&lc->addr.ss, lc->addr.len) == -1) {
		listener_bind_error(lc, errno, cause);
		close(fd);
		return -1;
	}
	close(fd);
	if (addr_port(&lc->addr) == 0)
		return 0;
	memset(&want, 0, sizeof(want));
	want.addr = lc->addr;
	want.v6only = lc->opts.v6only == 1;
	if ((n = sockdiag_owners(&want, 0, owners, LISTENER_PROBE_OWNERS,
	    &why)) == -1) {
		listener_error(cause, lc, "cannot tell whether other processes "
		    "listen on this address too: %s", why ? why :
		    "out of memory");
		free(why);
		return 1;
	}
	for (i = 0; i < n; i++)
		if (!procfs_is_below(owners[i].pid, sup))
			owners[k++] = owners[i];
	if (k == 0)
		return 0;
	sockdiag_format_owners(owners, (size_t)k, who, sizeof(who));
	listener_error(cause, lc, "%s already listen%s on this address with "
	    "SO_REUSEPORT and would share its %s (not this config's "
	    "supervisor%s)", who, k == 1 ? "s" : "", addr_socktype(&lc->addr) ==
	    SOCK_STREAM ? "connections" : "datagrams", sup > 0 ? " or its "
	    "workers" : ", which is not running");
	return -1;
}

/*
 * Try every listener of conf (for check --bind); returns the failures.
 * A listener that binds but shares its address with other listening
 * sockets (SO_REUSEPORT) fails too, naming who holds them.
 */
int
listener_probe_config(const struct config *conf, struct config_msgs *msgs)
{
	const struct listener_conf *lc;
	struct listener *l;
	char *cause;
	int failures = 0, rc;

	TAILQ_FOREACH(lc, &conf->listeners, entry) {
		if (!lc->has_listen || lc->self)
			continue;
		cause = NULL;
		if (listener_unix_path(&lc->addr) != NULL)
			rc = listener_probe_unix(lc, &cause);
		else if (lc->opts.per_slot)
			rc = listener_probe_slots(conf, lc, &cause);
		else if ((rc = listener_bind(lc, &l, &cause)) == 0) {
			rc = listener_probe_shared(lc, l, &cause);
			listener_unref(l);
		}
		if (rc == 0)
			continue;
		config_msgs_add(msgs, rc == -1, conf->path, lc->line, "%s",
		    cause != NULL ? cause : "cannot bind");
		if (rc == 1) {
			free(cause);
			continue;
		}
		free(cause);
		failures++;
	}
	return failures;
}

/*
 * Tell whether a listener can be repaired once shut down (by a process
 * holding a copy of it, calling shutdown()): stream sockets, TCP or on a
 * unix path. A UDP socket does not stop on shutdown(); a unix datagram
 * one does, but a fresh one could not tell it from a live one to replace;
 * the name of an abstract unix socket stays taken while any copy of it is
 * open.
 */
bool
listener_can_repair(const struct listener *l)
{
	/* A socket unit's file is the manager's: no fresh socket goes there. */
	if (l->sockets[0].origin == SDSOCKET_PASSED && l->addr.kind != ADDR_TCP)
		return false;
	return l->addr.kind == ADDR_TCP || (l->addr.kind == ADDR_UNIX_STREAM &&
	    !addr_is_abstract(&l->addr));
}

/*
 * Make a TCP listener whose shared socket was shut down listen again, on
 * the same socket: every copy of it (the workers') accepts again. A socket bound to port 0
 * released its port on shutdown(), so it is bound to that port again first
 * (one bound to a port of its own keeps it: bind() says EINVAL).
 */
static int
listener_relisten(struct listener *l, char **cause)
{
	char err[128];
	int backlog, on = 0, fd = listener_fd(l);
	socklen_t len = sizeof(on);

	listener_unshut(fd);
	if (bind(fd, (const struct sockaddr *)&l->bound_ss,
	    l->bound_len) == -1 && errno != EINVAL) {
		cause_set(cause, "cannot bind %s again: %s", l->bound,
		    listener_strerror(errno, err, sizeof(err)));
		return -1;
	}
	backlog = l->opts.backlog > 0 ? l->opts.backlog : DEFAULT_BACKLOG;
	if (listen(fd, backlog) == -1) {
		cause_set(cause, "cannot listen on %s again: %s",
		    l->bound, listener_strerror(errno, err, sizeof(err)));
		return -1;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &on, &len) == -1 ||
	    !on) {
		cause_set(cause, "%s does not listen again", l->bound);
		return -1;
	}
	return 0;
}

/*
 * Put a fresh socket in the place of a unix listener that was shut down
 * (it refuses connections and cannot listen again): bound at the same
 * path, with the same options. Its shared socket changes; the old one is closed
 * here, the copies workers hold of it stay dead.
 */
static int
listener_rebind(struct listener *l, char **cause)
{
	struct listener_conf lc;
	struct listener *fresh;
	struct listener_socket sock;

	memset(&lc, 0, sizeof(lc));
	lc.name = l->name;
	lc.fd_name = l->fd_name;
	lc.addr = l->addr;
	lc.opts = l->opts;
	lc.has_listen = true;
	if (listener_bind(&lc, &fresh, cause) == -1)
		return -1;
	/* The fds change owners: l takes the fresh one, fresh the old. */
	sock = l->sockets[0];
	l->sockets[0].fd = fresh->sockets[0].fd;
	l->sockets[0].ino = fresh->sockets[0].ino;
	l->sockets[0].origin = SDSOCKET_BOUND;
	fresh->sockets[0].fd = sock.fd;
	fresh->sockets[0].ino = sock.ino;
	l->file_dev = fresh->file_dev;
	l->file_ino = fresh->file_ino;
	fresh->file_ino = 0;	/* the file is l's now: not to be removed */
	memcpy(l->bound, fresh->bound, sizeof(l->bound));
	l->bound_ss = fresh->bound_ss;
	l->bound_len = fresh->bound_len;
	listener_changed();
	listener_unref(fresh);
	return 0;
}

/*
 * Make a listener that was shut down accept connections again: a TCP one
 * listens again (*rebound false), a unix one gets a fresh socket (*rebound
 * true: workers started before hold the dead one). -1 with *cause if it is
 * still down.
 */
int
listener_repair(struct listener *l, bool *rebound, char **cause)
{
	*rebound = false;
	if (cause != NULL)
		*cause = NULL;
	if (!listener_can_repair(l)) {
		cause_set(cause, "a %s listener cannot be repaired",
		    addr_kind_name(l->addr.kind));
		return -1;
	}
	if (l->addr.kind == ADDR_TCP)
		return listener_relisten(l, cause);
	if (listener_rebind(l, cause) == -1)
		return -1;
	*rebound = true;
	return 0;
}
