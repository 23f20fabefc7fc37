/*
 * sdsocket.c: the sockets a service manager passes to the supervisor.
 *
 * When systemd starts the supervisor with LISTEN_PID set to its pid, fds
 * 3 to 3+LISTEN_FDS-1 are sockets, named in LISTEN_FDNAMES. Two kinds
 * come that way:
 *
 *  - a socket unit's (Sockets=, or the service's own .socket), named by
 *    its FileDescriptorName=: origin PASSED. A listener takes the one
 *    named as its fd_name, or else the one on its address and of its
 *    type. The manager keeps its own copy bound for as long as the socket
 *    unit runs, so the supervisor cannot bind that address itself: it
 *    keeps the passed socket for its whole life, and a listener (also one
 *    a reload adds again) gets a copy of it.
 *  - the supervisor's own sockets, back from the manager's fd store
 *    after a crash or a restart (fdstore.c stored them): origin STORED,
 *    named "LISTENER#SLOT" (the listener's section name and the worker
 *    slot, 0 for a shared socket). The listener of that name, or the one
 *    on that address, takes it at that slot, and owns it from then on.
 *
 * The fd store also gives back the workers' output pipes, named
 * "output.PID" (outstore.c): those are not sockets, and go to outstore.c.
 *
 * A third kind, origin RECOVERED, comes from no manager: the sockets
 * recover.c took from the orphaned workers of a dead supervisor, found
 * like stored ones (by "LISTENER#SLOT" and address) and owned alike.
 *
 * Nothing is bound twice: a listener looks here before it binds (see
 * listener_bind). Options a bound socket can still take (backlog,
 * nodelay, defer_accept, the mode and owner of a unix socket file) are
 * applied as configured; those it cannot (address family, socket type,
 * v6only, reuseport, interface) must match, or the start fails naming
 * the socket. After the first start's listeners are made, a passed socket
 * no listener took is an error (sdsocket_finish); a stored one (a
 * listener the config no longer has) is taken out of the store and
 * closed. One socket passed twice (a socket unit's that was also stored)
 * is one socket: the copy that came back from the store goes back out of
 * it.
 */
#include "autoconf.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "addr.h"
#include "cause.h"
#include "config.h"
#include "log.h"
#include "outstore.h"
#include "sdnotify.h"
#include "sdsocket.h"
#include "state.h"
#include "unixaddr.h"

/* The first fd of LISTEN_FDS, and the most taken. */
#define SDSOCKET_FIRST_FD	3
#define SDSOCKET_MAX_FDS	65536

/* Seconds given to TCP_DEFER_ACCEPT, as listener.c gives them. */
#define SDSOCKET_DEFER_ACCEPT_SECS	1

/* One socket the manager passed. */
struct sdsocket {
	int		 fd;		/* -1: handed over (stored) or closed */
	char		 name[SDSOCKET_NAME_MAX];
	enum sdsocket_origin origin;
	char		 listener[SDSOCKET_NAME_MAX];	/* STORED: whose */
	size_t		 slot;		/* STORED: which worker slot */
	dev_t		 dev;
	ino_t		 ino;
	int		 family;
	int		 type;
	struct sockaddr_storage ss;
	socklen_t	 sslen;
	char		 where[ADDR_STRLEN];	/* its address, for messages */
	bool		 taken;		/* a listener took it (or a copy) */
	bool		 inherited;	/* a listener's across an upgrade */
	enum sdsocket_origin real;	/* inherited: where it came from */
};

static struct sdsocket *sdsockets;
static size_t nsdsockets;

/* "passed by the service manager" and the like, for status and logs. */
const char *
sdsocket_origin_name(enum sdsocket_origin origin)
{
	switch (origin) {
	case SDSOCKET_PASSED:
		return "passed";
	case SDSOCKET_STORED:
		return "stored";
	case SDSOCKET_RECOVERED:
		return "recovered";
	case SDSOCKET_BOUND:
		break;
	}
	return "bound";
}

/*
 * The fd store name of a listener's socket for a worker slot (0 for a
 * shared socket): "LISTENER#SLOT". -1 if it does not fit in len.
 */
int
sdsocket_store_name(const char *listener, size_t slot, char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s#%zu", listener, slot);

	return n < 0 || (size_t)n >= len ? -1 : 0;
}

/*
 * Tell whether name is an fd store name ("LISTENER#SLOT", LISTENER made
 * of a section name's characters); if so, copy its parts.
 */
bool
sdsocket_parse_store_name(const char *name, char *listener, size_t len,
    size_t *slot)
{
	const char *hash = strrchr(name, '#'), *p;
	unsigned long long n;
	char *end;

	if (hash == NULL || hash == name || (size_t)(hash - name) >= len ||
	    !isdigit((unsigned char)hash[1]))
		return false;
	for (p = name; p < hash; p++)
		if (!isalnum((unsigned char)*p) && *p != '_' && *p != '.' &&
		    *p != '-')
			return false;
	errno = 0;
	n = strtoull(hash + 1, &end, 10);
	if (*end != '\0' || errno != 0 || n > SDSOCKET_MAX_FDS)
		return false;
	memcpy(listener, name, (size_t)(hash - name));
	listener[hash - name] = '\0';
	*slot = (size_t)n;
	return true;
}

/* Take a store name out of the manager's fd store (FDSTOREREMOVE=1). */
static void
sdsocket_unstore(const char *name)
{
	char text[SDSOCKET_NAME_MAX + 32];

	snprintf(text, sizeof(text), "FDSTOREREMOVE=1\nFDNAME=%s", name);
	if (sdnotify_send(text, -1) == -1)
		log_warn("cannot take %s out of the service manager's fd store",
		    name);
}

/* A passed socket's name as messages show it: "(no name)" if empty. */
static const char *
sdsocket_shown(const char *name)
{
	return name[0] != '\0' ? name : "(no name)";
}

/*
 * Describe fd, passed as name: its inode, family, type and address.
 * -1 with *cause if it is not a socket.
 */
static int
sdsocket_describe(struct sdsocket *s, int fd, const char *name, char **cause)
{
	struct stat sb;
	socklen_t len;

	memset(s, 0, sizeof(*s));
	s->fd = fd;
	snprintf(s->name, sizeof(s->name), "%s", name);
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) == -1) {
		cause_set(cause, "fd %d, passed by the service manager as %s "
		    "(LISTEN_FDS), is not open", fd, sdsocket_shown(name));
		return -1;
	}
	if (fstat(fd, &sb) == -1 || !S_ISSOCK(sb.st_mode)) {
		cause_set(cause, "fd %d passed by the service manager as %s is "
		    "not a socket (a socket unit may hold only ListenStream=, "
		    "ListenDatagram= and ListenSequentialPacket= sockets for "
		    "handoff)", fd, sdsocket_shown(name));
		return -1;
	}
	s->dev = sb.st_dev;
	s->ino = sb.st_ino;
	len = sizeof(s->family);
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &s->family, &len) == -1)
		s->family = -1;
	len = sizeof(s->type);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &s->type, &len) == -1)
		s->type = -1;
	s->sslen = sizeof(s->ss);
	if (getsockname(fd, (struct sockaddr *)&s->ss, &s->sslen) == -1)
		s->sslen = 0;
	addr_format_sockaddr((const struct sockaddr *)&s->ss, s->sslen,
	    s->where, sizeof(s->where));
	if (sdsocket_parse_store_name(name, s->listener, sizeof(s->listener),
	    &s->slot))
		s->origin = SDSOCKET_STORED;
	else
		s->origin = SDSOCKET_PASSED;
	return 0;
}

/*
 * One socket passed twice (same inode): keep one. A socket unit's wins
 * over the fd store's copy, which leaves the store (the supervisor does
 * not store a socket unit's sockets).
 */
static void
sdsocket_merge(struct sdsocket *kept, struct sdsocket *dup)
{
	if (dup->origin == SDSOCKET_PASSED && kept->origin == SDSOCKET_STORED) {
		struct sdsocket tmp = *kept;

		*kept = *dup;
		*dup = tmp;
	}
	if (dup->origin == SDSOCKET_STORED)
		sdsocket_unstore(dup->name);
	log_info("the service manager passed %s (%s) twice, as %s and %s: one "
	    "socket", kept->where, kept->origin == SDSOCKET_PASSED ? "a socket "
	    "unit's" : "from its fd store", kept->name, dup->name);
	close(dup->fd);
}

/*
 * Tell whether fd, passed as name, is a worker's output pipe back from
 * the fd store (outstore.c): if so it is outstore.c's now.
 */
static bool
sdsocket_adopt_output(int fd, const char *name)
{
	struct stat sb;
	pid_t pid;

	if (!outstore_parse_name(name, &pid) || fstat(fd, &sb) == -1 ||
	    !S_ISFIFO(sb.st_mode))
		return false;
	if (outstore_adopt(fd, pid) == -1)
		log_warnx("out of memory for %s, back from the fd store: the "
		    "output of pid %d is lost", name, (int)pid);
	return true;
}

/*
 * Read text, a count or a pid in decimal digits only (no sign, no space,
 * as systemd writes them), into *n; -1 if it is anything else.
 */
static int
sdsocket_number(const char *text, unsigned long long *n)
{
	char *end;

	if (!isdigit((unsigned char)text[0]))
		return -1;
	errno = 0;
	*n = strtoull(text, &end, 10);
	return *end != '\0' || errno != 0 ? -1 : 0;
}

/*
 * Take what the service manager passed (LISTEN_PID = our pid): fds 3..
 * become CLOEXEC and are kept here until listeners take them; the
 * LISTEN_ variables are unset. 0 (also when nothing was passed), or -1
 * with *cause if a passed fd is not a socket.
 */
int
sdsocket_adopt(char **cause)
{
	const char *pid = getenv("LISTEN_PID"), *nfds = getenv("LISTEN_FDS");
	const char *names = getenv("LISTEN_FDNAMES");
	char *copy = NULL, *word, *colon;
	unsigned long long want_pid, n;
	struct sdsocket s;
	size_t i, k;
	int fd;

	if (pid == NULL || nfds == NULL)
		return 0;
	if (sdsocket_number(pid, &want_pid) == -1 ||
	    want_pid != (unsigned long long)getpid())
		return 0;	/* meant for another process */
	if (sdsocket_number(nfds, &n) == -1 || n > SDSOCKET_MAX_FDS) {
		cause_set(cause, "LISTEN_FDS=%s: not a number of sockets", nfds);
		return -1;
	}
	if (names != NULL && (copy = strdup(names)) == NULL) {
		cause_set(cause, "out of memory");
		return -1;
	}
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	if (n > 0 && (sdsockets = calloc((size_t)n, sizeof(*sdsockets))) == NULL) {
		free(copy);
		cause_set(cause, "out of memory");
		return -1;
	}
	/* Names in order, one per fd, separated by ':' (empty ones too). */
	word = copy;
	for (i = 0; i < n; i++) {
		fd = SDSOCKET_FIRST_FD + (int)i;
		if (word != NULL && (colon = strchr(word, ':')) != NULL)
			*colon = '\0';
		else
			colon = NULL;
		if (word != NULL && sdsocket_adopt_output(fd, word)) {
			word = colon != NULL ? colon + 1 : NULL;
			continue;
		}
		if (sdsocket_describe(&s, fd, word != NULL ? word : "", cause) == -1) {
			free(copy);
			return -1;
		}
		word = colon != NULL ? colon + 1 : NULL;
		for (k = 0; k < nsdsockets; k++)
			if (sdsockets[k].dev == s.dev && sdsockets[k].ino == s.ino)
				break;
		if (k < nsdsockets) {
			sdsocket_merge(&sdsockets[k], &s);
			continue;
		}
		sdsockets[nsdsockets++] = s;
		log_info("the service manager passed %s as %s%s", s.where,
		    sdsocket_shown(s.name),
		    s.origin == SDSOCKET_STORED ? ", kept in its fd store" : "");
	}
	free(copy);
	return 0;
}

/*
 * Keep fd, listener's socket for a worker slot taken from orphaned
 * worker pid (recover.c), until that listener takes it: the fd is ours
 * from now on. 0, or -1 (out of memory; fd closed).
 */
int
sdsocket_add_recovered(int fd, const char *listener, size_t slot, pid_t pid)
{
	struct sdsocket s, *grown;
	char name[SDSOCKET_NAME_MAX];

	if (sdsocket_store_name(listener, slot, name, sizeof(name)) == -1 ||
	    sdsocket_describe(&s, fd, name, NULL) == -1 ||
	    (grown = reallocarray(sdsockets, nsdsockets + 1,
	    sizeof(*sdsockets))) == NULL) {
		close(fd);
		return -1;
	}
	sdsockets = grown;
	s.origin = SDSOCKET_RECOVERED;
	snprintf(s.listener, sizeof(s.listener), "%s", listener);
	s.slot = slot;
	sdsockets[nsdsockets++] = s;
	log_info("took %s, listener %s worker slot %zu, from orphaned worker "
	    "pid %d", s.where, listener, slot, (int)pid);
	return 0;
}

/* Tell whether a passed socket is of lc's family and type, at its address. */
static bool
sdsocket_fits(const struct sdsocket *s, const struct listener_conf *lc)
{
	const struct sockaddr_storage *want = &lc->addr.ss;
	const struct sockaddr_in *a4 = (const struct sockaddr_in *)&s->ss;
	const struct sockaddr_in *w4 = (const struct sockaddr_in *)want;
	const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)&s->ss;
	const struct sockaddr_in6 *w6 = (const struct sockaddr_in6 *)want;

	if (s->family != want->ss_family || s->type != addr_socktype(&lc->addr) ||
	    s->sslen == 0)
		return false;
	switch (s->family) {
	case AF_INET:
		return a4->sin_addr.s_addr == w4->sin_addr.s_addr &&
		    (w4->sin_port == 0 || a4->sin_port == w4->sin_port);
	case AF_INET6:
		return memcmp(&a6->sin6_addr, &w6->sin6_addr,
		    sizeof(a6->sin6_addr)) == 0 &&
		    a6->sin6_scope_id == w6->sin6_scope_id &&
		    (w6->sin6_port == 0 || a6->sin6_port == w6->sin6_port);
	case AF_UNIX:
		return unixaddr_same((const struct sockaddr *)&s->ss, s->sslen,
		    (const struct sockaddr *)want, lc->addr.len);
	}
	return false;
}

/* Read an int socket option; -1 if the socket will not say. */
static int
sdsocket_getint(int fd, int level, int name)
{
	socklen_t len = sizeof(int);
	int value = 0;

	return getsockopt(fd, level, name, &value, &len) == -1 ? -1 : value;
}

/* What a socket of origin s is called in messages. */
static const char *
sdsocket_what(const struct sdsocket *s)
{
	if (s->origin == SDSOCKET_RECOVERED)
		return "the socket taken from an orphaned worker";
	return s->origin == SDSOCKET_STORED ? "the socket kept in the service "
	    "manager's fd store" : "the socket passed by the service manager";
}

/* What to do about an option of a passed or stored socket that differs. */
static const char *
sdsocket_remedy(const struct sdsocket *s)
{
	if (s->origin == SDSOCKET_RECOVERED)
		return "it changes only once the orphaned workers are stopped";
	return s->origin == SDSOCKET_STORED ? "it changes only with a stop and "
	    "start (systemctl stop, then start, empties the store)" :
	    "make the socket unit and the listener agree";
}

/*
 * Check what a bound socket cannot change (v6only, reuseport, interface,
 * a listening stream socket rather than a connection) against lc; -1
 * with *cause naming the socket if one differs.
 */
static int
sdsocket_check_opts(const struct sdsocket *s, const struct listener_conf *lc,
    char **cause)
{
	const struct listener_opts *o = &lc->opts;
	char dev[IF_NAMESIZE] = "", where[ADDR_STRLEN];
	socklen_t len = sizeof(dev);
	const char *what = NULL;
	int v6only, reuseport;
	bool want_reuseport = o->reuseport || o->per_slot;

	addr_format(&lc->addr, where, sizeof(where));
	if (s->family == AF_INET6 && o->v6only != -1 &&
	    (v6only = sdsocket_getint(s->fd, IPPROTO_IPV6, IPV6_V6ONLY)) != -1 &&
	    (v6only != 0) != (o->v6only != 0))
		what = v6only ? "has v6only on, the listener asks for off" :
		    "has v6only off, the listener asks for on";
	else if (s->family != AF_UNIX &&
	    (reuseport = sdsocket_getint(s->fd, SOL_SOCKET, SO_REUSEPORT)) != -1 &&
	    (reuseport != 0) != want_reuseport)
		what = reuseport ? "has SO_REUSEPORT on, the listener has it off" :
		    o->per_slot ? "has SO_REUSEPORT off, which reuseport mode "
		    "needs (ReusePort=yes in a socket unit)" :
		    "has SO_REUSEPORT off, the listener asks for reuseport";
	else if (s->family != AF_UNIX && (getsockopt(s->fd, SOL_SOCKET,
	    SO_BINDTODEVICE, dev, &len) == 0 || errno == ENOPROTOOPT) &&
	    strncmp(dev, o->interface, sizeof(dev)) != 0)
		what = o->interface[0] == '\0' ? "is bound to an interface, the "
		    "listener to none" : "is not bound to the listener's "
		    "interface";
	else if (s->type == SOCK_STREAM &&
	    sdsocket_getint(s->fd, SOL_SOCKET, SO_ACCEPTCONN) == 0) {
		struct sockaddr_storage peer;
		socklen_t plen = sizeof(peer);

		if (getpeername(s->fd, (struct sockaddr *)&peer, &plen) == 0)
			what = "is a connection, not a listening socket "
			    "(Accept=yes in the socket unit: handoff needs "
			    "Accept=no)";
	}
	if (what == NULL)
		return 0;
	cause_set(cause, "listener %s: %s: %s as %s %s; %s", lc->name, where,
	    sdsocket_what(s), s->name, what, sdsocket_remedy(s));
	return -1;
}

/* Apply what lc asks of a socket that is bound already (not the backlog). */
static void
sdsocket_apply_opts(int fd, const struct listener_conf *lc)
{
	int flags = fcntl(fd, F_GETFL), one = 1, secs =
	    SDSOCKET_DEFER_ACCEPT_SECS;

	/* Shared with the manager's copy: it does not mind. */
	if (flags != -1 && !(flags & O_NONBLOCK))
		(void)fcntl(fd, F_SETFL, flags | O_NONBLOCK);
	if (lc->addr.kind != ADDR_TCP)
		return;
	if (lc->opts.nodelay && setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one,
	    sizeof(one)) == -1)
		log_warn("listener %s: cannot set TCP_NODELAY", lc->name);
	if (lc->opts.defer_accept && setsockopt(fd, IPPROTO_TCP,
	    TCP_DEFER_ACCEPT, &secs, sizeof(secs)) == -1)
		log_warn("listener %s: cannot set TCP_DEFER_ACCEPT", lc->name);
}

/*
 * The passed socket for lc's worker slot (0: the shared socket), if any:
 * a stored one of that listener and slot (by its section name, or by its
 * address when the port is fixed); for slot 0, a socket unit's named as
 * lc's fd_name (the one on its address if several are), or on its
 * address.
 */
static struct sdsocket *
sdsocket_find(const struct listener_conf *lc, size_t slot)
{
	struct sdsocket *s, *named;
	bool fixed = addr_is_unix(&lc->addr) || addr_port(&lc->addr) != 0;
	size_t i;

	for (i = 0; i < nsdsockets; i++) {
		s = &sdsockets[i];
		if ((s->origin == SDSOCKET_STORED ||
		    s->origin == SDSOCKET_RECOVERED) && !s->taken && s->fd != -1 &&
		    s->slot == slot && sdsocket_fits(s, lc) &&
		    (fixed || strcmp(s->listener, lc->name) == 0))
			return s;
	}
	if (slot != 0)
		return NULL;
	/*
	 * By name: one on lc's address first (a socket unit of several
	 * Listen lines gives each the same name); else the first of that
	 * name, which sdsocket_take refuses, saying where it is.
	 */
	for (i = 0, named = NULL; i < nsdsockets; i++) {
		s = &sdsockets[i];
		if (s->origin != SDSOCKET_PASSED || lc->fd_name == NULL ||
		    strcmp(s->name, lc->fd_name) != 0)
			continue;
		if (sdsocket_fits(s, lc))
			return s;
		if (named == NULL)
			named = s;
	}
	if (named != NULL)
		return named;
	for (i = 0; i < nsdsockets; i++) {
		s = &sdsockets[i];
		if (s->origin == SDSOCKET_PASSED && fixed && sdsocket_fits(s, lc))
			return s;
	}
	return NULL;
}

/*
 * Give lc's worker slot (0: the shared socket) the socket the service
 * manager passed for it, if any. 1 with *fdp (non-blocking, CLOEXEC, the
 * caller's: a copy of a socket unit's, or a stored one itself) and
 * *origin; 0 if none was passed (bind one); -1 with *cause if the one
 * passed for it does not fit the listener.
 */
int
sdsocket_take(const struct listener_conf *lc, size_t slot, int *fdp,
    enum sdsocket_origin *origin, char **cause)
{
	struct sdsocket *s;
	char where[ADDR_STRLEN];
	int fd;

	*fdp = -1;
	*origin = SDSOCKET_BOUND;
	if (nsdsockets == 0 || (s = sdsocket_find(lc, slot)) == NULL)
		return 0;
	if (!sdsocket_fits(s, lc)) {
		addr_format(&lc->addr, where, sizeof(where));
		cause_set(cause, "listener %s: %s: the socket passed by the "
		    "service manager as %s is %s %s, not what the listener "
		    "listens on; make the socket unit and the listener agree",
		    lc->name, where, s->name, s->type == SOCK_DGRAM ?
		    "a datagram socket on" : "a stream socket on", s->where);
		return -1;
	}
	if (sdsocket_check_opts(s, lc, cause) == -1)
		return -1;
	if (s->inherited) {
		/* The listener's own socket, back across an upgrade. */
		*fdp = s->fd;
		*origin = s->real;
		s->fd = -1;
		s->taken = true;
		return 1;
	}
	if (s->origin == SDSOCKET_PASSED) {
		/* The manager's copy stays bound: ours stays open too. */
		if ((fd = fcntl(s->fd, F_DUPFD_CLOEXEC, SDSOCKET_FIRST_FD)) == -1) {
			cause_set(cause, "listener %s: cannot copy the socket "
			    "passed as %s: %s", lc->name, s->name,
			    strerror(errno));
			return -1;
		}
	} else {
		/* The stored socket is the listener's now. */
		fd = s->fd;
		s->fd = -1;
	}
	if (!s->taken)
		log_info("listener %s: takes %s, %s as %s", lc->name, s->where,
		    s->origin == SDSOCKET_STORED ? "kept in the fd store" :
		    s->origin == SDSOCKET_RECOVERED ? "taken from an orphaned "
		    "worker" : "passed by the service manager",
		    sdsocket_shown(s->name));
	s->taken = true;
	sdsocket_apply_opts(fd, lc);
	*fdp = fd;
	*origin = s->origin;
	return 1;
}

/*
 * The first start's listeners are made: a socket unit's socket that no
 * listener took is an error (-1 with *cause naming it); a stored one (a
 * listener the config no longer has, or a worker slot it no longer
 * needs) leaves the fd store and is closed.
 */
int
sdsocket_finish(char **cause)
{
	struct sdsocket *s;
	size_t i;

	for (i = 0; i < nsdsockets; i++) {
		s = &sdsockets[i];
		if (s->taken || s->origin != SDSOCKET_PASSED)
			continue;
		cause_set(cause, "the service manager passed %s as %s, and no "
		    "listener of the config takes it (name a listener's fd_name "
		    "in the socket unit's FileDescriptorName=, or listen on "
		    "that address)", s->where, sdsocket_shown(s->name));
		return -1;
	}
	for (i = 0; i < nsdsockets; i++) {
		s = &sdsockets[i];
		if (s->taken || s->origin == SDSOCKET_PASSED || s->fd == -1)
			continue;
		/* The orphan keeps its own; a socket an upgrade carried
		   that no listener takes any more is no store's. */
		if (s->origin == SDSOCKET_RECOVERED ||
		    (s->inherited && s->real != SDSOCKET_STORED)) {
			close(s->fd);
			s->fd = -1;
			continue;
		}
		log_info("fd store: %s (%s) is no listener's any more: taken out "
		    "of the store and closed", s->name, s->where);
		sdsocket_unstore(s->name);
		close(s->fd);
		s->fd = -1;
	}
	return 0;
}

/*
 * The i-th socket that came back from the fd store and that a listener
 * took: its store name and inode (fdstore.c knows it is stored). False
 * past the last.
 */
bool
sdsocket_stored(size_t i, const char **name, dev_t *dev, ino_t *ino)
{
	size_t k, seen = 0;

	for (k = 0; k < nsdsockets; k++) {
		if (sdsockets[k].origin != SDSOCKET_STORED || !sdsockets[k].taken ||
		    (sdsockets[k].inherited &&
		    sdsockets[k].real != SDSOCKET_STORED))
			continue;
		if (seen++ == i) {
			*name = sdsockets[k].name;
			*dev = sdsockets[k].dev;
			*ino = sdsockets[k].ino;
			return true;
		}
	}
	return false;
}

/* Close what is still held (the socket units' sockets) and forget all. */
void
sdsocket_free(void)
{
	size_t i;

	for (i = 0; i < nsdsockets; i++)
		if (sdsockets[i].fd != -1)
			close(sdsockets[i].fd);
	free(sdsockets);
	sdsockets = NULL;
	nsdsockets = 0;
}

/* Write the sockets a socket unit passed, still held, as records. */
void
sdsocket_save(struct state_writer *w)
{
	size_t i;

	for (i = 0; i < nsdsockets; i++) {
		if (sdsockets[i].fd == -1 || sdsockets[i].inherited)
			continue;
		state_rec(w, "sdsocket");
		state_fd(w, "fd", sdsockets[i].fd);
		state_str(w, "name", sdsockets[i].name);
		state_int(w, "taken", sdsockets[i].taken);
	}
}

/* Append s to the table; -1 with *cause if out of memory. */
static int
sdsocket_append(const struct sdsocket *s, char **cause)
{
	struct sdsocket *grown;

	if ((grown = reallocarray(sdsockets, nsdsockets + 1,
	    sizeof(*grown))) == NULL) {
		*cause = strdup("out of memory");
		return -1;
	}
	sdsockets = grown;
	sdsockets[nsdsockets++] = *s;
	return 0;
}

/*
 * After an upgrade's exec: fd is listener's socket for worker slot
 * (0: the shared one), of origin; the listener takes it back as it binds
 * (sdsocket_take). 0, or -1 with *cause.
 */
int
sdsocket_inherit(int fd, const char *listener, size_t slot,
    enum sdsocket_origin origin, char **cause)
{
	char name[SDSOCKET_NAME_MAX];
	struct sdsocket s;

	if (sdsocket_store_name(listener, slot, name, sizeof(name)) == -1) {
		cause_set(cause, "listener %s: name too long", listener);
		return -1;
	}
	if (sdsocket_describe(&s, fd, name, cause) == -1)
		return -1;
	s.origin = SDSOCKET_STORED;	/* found by listener and slot */
	s.inherited = true;
	s.real = origin;
	return sdsocket_append(&s, cause);
}

/* After an upgrade's exec: a socket unit's socket, held as before. */
int
sdsocket_inherit_passed(int fd, const char *name, bool taken, char **cause)
{
	struct sdsocket s;

	if (sdsocket_describe(&s, fd, name, cause) == -1)
		return -1;
	s.taken = taken;
	return sdsocket_append(&s, cause);
}
