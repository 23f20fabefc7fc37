/*
 * sockdiag.c: which sockets listen on an address, from the kernel's
 * NETLINK_SOCK_DIAG (inet_diag for TCP and UDP over IPv4 and IPv6,
 * unix_diag for unix sockets), and which processes hold them, from the
 * fds in /proc.
 *
 * A lookup sends one dump request per kind of socket it needs (TCP over
 * IPv4, over IPv6, UDP over each, unix) and reads the whole answer there
 * and then: the kernel writes a dump as it is read, so a read waits on
 * nothing but the kernel (a receive timeout guards it all the same). TCP
 * and UDP requests carry a filter on the ports wanted, so only sockets on
 * those ports come back. The answer is read into one fixed buffer and
 * only the sockets on a wanted address are kept, up to a limit: memory is
 * bounded however many sockets the host has.
 */
#include "autoconf.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "addr.h"
#include "cause.h"
#include "procfs.h"
#include "sockdiag.h"
#include "unixaddr.h"

#define SOCKDIAG_BUFSIZE	(32 * 1024)	/* the kernel's largest dump part */
#define SOCKDIAG_TIMEOUT_MS	1000
#define SOCKDIAG_MAX_PORTS	2048	/* filtered by the kernel; more: here */
#define SOCKDIAG_LEAF_PORTS	16	/* a filter's ports tested in turn */
/* The most ops of a filter of n ports: 4 a port, 3 a run of 8 or more. */
#define SOCKDIAG_FILTER_OPS(n)	(4 * (n) + 3 * ((n) / 8 + 1))
_Static_assert(SOCKDIAG_FILTER_OPS(SOCKDIAG_MAX_PORTS) * 4 + 8 <= 65535,
    "a filter's jumps and attribute length are 16 bits");
#define SOCKDIAG_STATE_CLOSE	7	/* TCP_CLOSE: unconnected datagram */
#define SOCKDIAG_STATE_LISTEN	10	/* TCP_LISTEN */
#define SOCKDIAG_STATE_ESTABLISHED 1	/* TCP_ESTABLISHED */
#define SOCKDIAG_STATE_CLOSE_WAIT 8	/* TCP_CLOSE_WAIT */

/* A dump request: the header, the request and (inet) a port filter. */
struct sockdiag_req {
	struct nlmsghdr		 nlh;
	union {
		struct inet_diag_req_v2 inet;
		struct unix_diag_req	 un;
	}			 r;
	struct nlattr		 filter;
	struct inet_diag_bc_op	 bc[SOCKDIAG_FILTER_OPS(SOCKDIAG_MAX_PORTS)];
};

/* A TCP or UDP want on one port, in the index of them by port. */
struct sockdiag_port_want {
	int			 port;
	size_t			 want;	/* its index in the wants */
};

/* One lookup in progress. */
struct sockdiag_query {
	int			 fd;	/* the netlink socket its dumps use */
	char			*buf;	/* SOCKDIAG_BUFSIZE, for the answers */
	const struct sockdiag_want *wants;
	size_t			 nwants;
	struct stat		*files;	/* per want (if any is unix): its socket
					   file, or st_ino 0 */
	struct sockdiag_list	*out;
	int			 type;	/* of the inet sockets dumped */
	enum addr_kind		 kind;	/* of the inet wants dumped */
	/*
	 * The wants by what a socket must have to match them, each in the
	 * order of the wants: so a socket is compared with those alone.
	 */
	struct sockdiag_port_want *byport;	/* TCP, UDP: by port, then order */
	size_t			 nbyport;
	size_t			*anyport;	/* TCP, UDP on port 0 */
	size_t			 nanyport;
	size_t			*unixw;		/* unix */
	size_t			 nunix;
	/* Connections waiting to be accepted: on what, and what was found. */
	const struct sockaddr_storage *listening;
	struct sockdiag_waiting	*waiting;
	uint64_t		 ranks[SOCKDIAG_OLDEST];	/* of waiting's
							   oldest */
};

/* The unix socket file a socket is bound to, as unix_diag says. */
struct sockdiag_vfs {
	bool			 known;
	uint32_t		 ino;
	uint32_t		 dev;	/* the kernel's encoding */
};

typedef int (*sockdiag_msg_fn)(const struct nlmsghdr *, void *);

/* Open the netlink socket and the buffer of a lookup; -1 with *cause. */
static int
sockdiag_open(struct sockdiag_query *q, char **cause)
{
	struct timeval tv = { SOCKDIAG_TIMEOUT_MS / 1000,
	    (SOCKDIAG_TIMEOUT_MS % 1000) * 1000 };

	q->fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (q->fd == -1) {
		cause_set(cause, "cannot open a sock_diag netlink socket: "
		    "%s", strerror(errno));
		return -1;
	}
	if (setsockopt(q->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == -1 ||
	    (q->buf = malloc(SOCKDIAG_BUFSIZE)) == NULL) {
		cause_set(cause, "cannot set up a sock_diag netlink socket: "
		    "%s", strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * Send one dump request (its nlmsg_type and the request filled in) on the
 * lookup's socket and hand every message of the answer to fn, with q.
 * 0, or -1 with *cause naming what failed.
 */
static int
sockdiag_dump(struct sockdiag_query *q, struct sockdiag_req *req, size_t len,
    const char *what, sockdiag_msg_fn fn, char **cause)
{
	static uint32_t seq;
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK }, from;
	struct nlmsgerr *err;
	struct nlmsghdr *nh;
	struct iovec iov;
	struct msghdr msg;
	ssize_t n;
	size_t left;
	bool done = false;

	req->nlh.nlmsg_len = (uint32_t)len;
	req->nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
	req->nlh.nlmsg_seq = ++seq;
	if (sendto(q->fd, req, len, 0, (struct sockaddr *)&kernel,
	    sizeof(kernel)) != (ssize_t)len) {
		cause_set(cause, "cannot ask the kernel for %s: %s", what,
		    strerror(errno));
		return -1;
	}
	while (!done) {
		iov.iov_base = q->buf;
		iov.iov_len = SOCKDIAG_BUFSIZE;
		memset(&msg, 0, sizeof(msg));
		msg.msg_name = &from;
		msg.msg_namelen = sizeof(from);
		msg.msg_iov = &iov;
		msg.msg_iovlen = 1;
		n = recvmsg(q->fd, &msg, 0);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			cause_set(cause, "cannot list %s: no answer from "
			    "the kernel within %dms", what, SOCKDIAG_TIMEOUT_MS);
			return -1;
		}
		if (n == -1) {
			cause_set(cause, "cannot list %s: %s", what,
			    strerror(errno));
			return -1;
		}
		if (n == 0 || (msg.msg_flags & MSG_TRUNC)) {
			cause_set(cause, "cannot list %s: the kernel's "
			    "answer was %s", what, n == 0 ? "cut short" :
			    "larger than the buffer");
			return -1;
		}
		if (from.nl_pid != 0)
			continue;	/* not from the kernel */
		left = (size_t)n;
		for (nh = (struct nlmsghdr *)q->buf; NLMSG_OK(nh, left);
		    nh = NLMSG_NEXT(nh, left)) {
			if (nh->nlmsg_seq != req->nlh.nlmsg_seq)
				continue;
			if (nh->nlmsg_type == NLMSG_DONE) {
				done = true;
				break;
			}
			if (nh->nlmsg_type == NLMSG_ERROR) {
				err = NLMSG_DATA(nh);
				if (nh->nlmsg_len < NLMSG_LENGTH(sizeof(*err)) ||
				    err->error == 0)
					continue;
				cause_set(cause, "cannot list %s: the kernel "
				    "says: %s", what, strerror(-err->error));
				return -1;
			}
			if (fn(nh, q) == -1) {
				cause_set(cause, "cannot list %s: a malformed "
				    "answer from the kernel", what);
				return -1;
			}
		}
	}
	return 0;
}

/*
 * Put an op at byte offset *at of bc (bc NULL: only measure), with its
 * value (a port) after it if it compares; move *at past them.
 */
static void
sockdiag_op(struct inet_diag_bc_op *bc, size_t *at, unsigned char code,
    size_t no, unsigned int port)
{
	bool compares = code != INET_DIAG_BC_JMP;
	size_t len = compares ? 8 : 4;

	if (bc != NULL) {
		bc[*at / 4] = (struct inet_diag_bc_op){ code,
		    (unsigned char)len, (unsigned short)no };
		if (compares)
			bc[*at / 4 + 1] = (struct inet_diag_bc_op){ 0, 0,
			    (unsigned short)port };
	}
	*at += len;
}

/*
 * Emit at byte offset at of bc (NULL: only measure) the test of
 * ports[lo..hi-1] (sorted, hi > lo) in a program of total bytes; return
 * the offset after it. Down to SOCKDIAG_LEAF_PORTS ports, a binary search:
 * "sport >= the middle port" goes on to the upper half (which follows) or
 * jumps to the lower one (after it). Then the ports in turn: "sport >= p"
 * or reject (it is none of them), "sport >= p + 1" or accept (it is p);
 * past the last, reject. To accept is to jump to the end, to reject past
 * it: the kernel's checker walks the chain of "yes" jumps from the start
 * for every jump that lands inside the program (O(its length)), so only
 * the few jumps of the search do.
 */
static size_t
sockdiag_port_tree(const uint16_t *ports, size_t lo, size_t hi,
    struct inet_diag_bc_op *bc, size_t at, size_t total)
{
	size_t i, mid, lower, node;

	if (hi - lo <= SOCKDIAG_LEAF_PORTS) {
		for (i = lo; i < hi; i++) {
			sockdiag_op(bc, &at, INET_DIAG_BC_S_GE, total - at + 4,
			    ports[i]);
			if (ports[i] == UINT16_MAX)
				sockdiag_op(bc, &at, INET_DIAG_BC_JMP,
				    total - at, 0);
			else
				sockdiag_op(bc, &at, INET_DIAG_BC_S_GE,
				    total - at, ports[i] + 1U);
		}
		sockdiag_op(bc, &at, INET_DIAG_BC_JMP, total - at + 4, 0);
		return at;
	}
	mid = lo + (hi - lo) / 2;
	node = at;
	lower = sockdiag_port_tree(ports, mid, hi, bc, at + 8, total);
	sockdiag_op(bc, &node, INET_DIAG_BC_S_GE, lower - at, ports[mid]);
	return sockdiag_port_tree(ports, lo, mid, bc, lower, total);
}

/*
 * inet_diag bytecode that keeps the sockets whose local port is one of
 * ports[0..n-1] (sorted, each once; 0 < n <= SOCKDIAG_MAX_PORTS), into
 * bc: the kernel tests a socket against a few ports, however many are
 * wanted, and checks the program in about the time it runs it once per
 * port. Returns its length.
 */
static size_t
sockdiag_port_filter(const uint16_t *ports, size_t n,
    struct inet_diag_bc_op *bc)
{
	size_t total = sockdiag_port_tree(ports, 0, n, NULL, 0, 0);

	(void)sockdiag_port_tree(ports, 0, n, bc, 0, total);
	return total;
}

/* Tell whether 16 bytes are ::, or map an IPv4 address (copied to v4). */
static bool
sockdiag_v6_as_v4(const unsigned char *a6, unsigned char *v4)
{
	static const unsigned char mapped[12] =
	    { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	static const unsigned char zero[16];

	if (memcmp(a6, zero, 16) == 0) {
		memset(v4, 0, 4);
		return true;
	}
	if (memcmp(a6, mapped, 12) != 0)
		return false;
	memcpy(v4, a6 + 12, 4);
	return true;
}

/* The address bytes of an IPv4 or IPv6 socket address, and their length. */
static const unsigned char *
sockdiag_ip(const struct sockaddr_storage *ss, size_t *len, int *port)
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;

	if (ss->ss_family == AF_INET) {
		*len = 4;
		*port = ntohs(sin->sin_port);
		return (const unsigned char *)&sin->sin_addr;
	}
	*len = 16;
	*port = ntohs(sin6->sin6_port);
	return (const unsigned char *)&sin6->sin6_addr;
}

/*
 * Tell whether two IP addresses overlap, as bind() sees it: the same, or
 * either a wildcard of the other's family; across families, an IPv6
 * wildcard that is not v6only takes every IPv4 address, and a v4-mapped
 * IPv6 address is its IPv4 one.
 */
static bool
sockdiag_ip_overlaps(const struct sockaddr_storage *a, bool a_v6only,
    const struct sockaddr_storage *b, bool b_v6only)
{
	static const unsigned char zero[16];
	const unsigned char *ab, *bb;
	unsigned char a4[4], b4[4];
	size_t alen, blen;
	int port;

	ab = sockdiag_ip(a, &alen, &port);
	bb = sockdiag_ip(b, &blen, &port);
	if (alen == blen)
		return memcmp(ab, bb, alen) == 0 || memcmp(ab, zero, alen) == 0 ||
		    memcmp(bb, zero, blen) == 0;
	if (alen == 16) {
		if (!sockdiag_v6_as_v4(ab, a4) ||
		    (memcmp(ab, zero, 16) == 0 && a_v6only))
			return false;
		memcpy(b4, bb, 4);
	} else {
		if (!sockdiag_v6_as_v4(bb, b4) ||
		    (memcmp(bb, zero, 16) == 0 && b_v6only))
			return false;
		memcpy(a4, ab, 4);
	}
	return memcmp(a4, b4, 4) == 0 || memcmp(a4, zero, 4) == 0 ||
	    memcmp(b4, zero, 4) == 0;
}

/* Tell whether an inet socket is on a wanted TCP or UDP address. */
static bool
sockdiag_inet_matches(const struct sockdiag_want *w,
    const struct sockdiag_sock *s)
{
	size_t len;
	int wport, sport;

	if (w->addr.kind != (s->type == SOCK_STREAM ? ADDR_TCP : ADDR_UDP))
		return false;
	(void)sockdiag_ip(&w->addr.ss, &len, &wport);
	(void)sockdiag_ip(&s->local, &len, &sport);
	if (wport != 0 && wport != sport)
		return false;
	return sockdiag_ip_overlaps(&w->addr.ss, w->v6only, &s->local,
	    s->v6only);
}

/* Tell whether a unix socket is the one a wanted address reaches. */
static bool
sockdiag_unix_matches(const struct sockdiag_want *w, const struct stat *file,
    const struct sockdiag_sock *s, const struct sockdiag_vfs *vfs)
{
	int type = w->addr.kind == ADDR_UNIX_STREAM ? SOCK_STREAM : SOCK_DGRAM;

	if (!addr_is_unix(&w->addr) || s->type != type)
		return false;
	if (addr_is_abstract(&w->addr))
		return unixaddr_same((const struct sockaddr *)&s->local,
		    s->local_len, (const struct sockaddr *)&w->addr.ss,
		    w->addr.len);
	/* A path reaches the socket whose file is there now. */
	return file->st_ino != 0 && vfs->known && vfs->ino == file->st_ino &&
	    makedev(vfs->dev >> 20, vfs->dev & 0xfffff) == file->st_dev;
}

/*
 * Make room for one more item in an array of count items of size bytes
 * that grows in powers of two (its space is implied by count): the array,
 * perhaps moved, or NULL if out of memory (items is left as it was).
 */
static void *
sockdiag_grow(void *items, size_t count, size_t size)
{
	if (count != 0 && (count & (count - 1)) != 0)
		return items;	/* not full yet */
	return reallocarray(items, count ? count * 2 : 1, size);
}

/* Order wants on one port by port, then as they were given. */
static int
sockdiag_port_want_cmp(const void *a, const void *b)
{
	const struct sockdiag_port_want *x = a, *y = b;

	if (x->port != y->port)
		return x->port < y->port ? -1 : 1;
	return x->want < y->want ? -1 : x->want > y->want;
}

/*
 * Index the wants of q by what a socket must have to match them; -1 if
 * out of memory.
 */
static int
sockdiag_index(struct sockdiag_query *q)
{
	size_t i, len, n = q->nwants;
	int port;

	q->byport = calloc(n, sizeof(*q->byport));
	q->anyport = calloc(n, sizeof(*q->anyport));
	q->unixw = calloc(n, sizeof(*q->unixw));
	if (q->byport == NULL || q->anyport == NULL || q->unixw == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		if (addr_is_unix(&q->wants[i].addr)) {
			q->unixw[q->nunix++] = i;
			continue;
		}
		(void)sockdiag_ip(&q->wants[i].addr.ss, &len, &port);
		if (port == 0)
			q->anyport[q->nanyport++] = i;
		else
			q->byport[q->nbyport++] =
			    (struct sockdiag_port_want){ port, i };
	}
	qsort(q->byport, q->nbyport, sizeof(*q->byport),
	    sockdiag_port_want_cmp);
	/* The socket file of each unix want, found before its dump. */
	if (q->nunix > 0 && (q->files = calloc(n, sizeof(*q->files))) == NULL)
		return -1;
	return 0;
}

/* The first of q's wants on port in its index of them (nbyport if none). */
static size_t
sockdiag_first_on_port(const struct sockdiag_query *q, int port)
{
	size_t lo = 0, hi = q->nbyport, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (q->byport[mid].port < port)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * The index of the first want an inet socket matches, or q->nwants: only
 * the wants on its port and those on any port can.
 */
static size_t
sockdiag_inet_want(const struct sockdiag_query *q,
    const struct sockdiag_sock *s)
{
	size_t k, len, best = q->nwants;
	int port;

	(void)sockdiag_ip(&s->local, &len, &port);
	for (k = sockdiag_first_on_port(q, port); k < q->nbyport &&
	    q->byport[k].port == port; k++)
		if (sockdiag_inet_matches(&q->wants[q->byport[k].want], s)) {
			best = q->byport[k].want;
			break;
		}
	for (k = 0; k < q->nanyport && q->anyport[k] < best; k++)
		if (sockdiag_inet_matches(&q->wants[q->anyport[k]], s)) {
			best = q->anyport[k];
			break;
		}
	return best;
}

/* The index of the first want a unix socket matches, or q->nwants. */
static size_t
sockdiag_unix_want(const struct sockdiag_query *q,
    const struct sockdiag_sock *s, const struct sockdiag_vfs *vfs)
{
	size_t k, i;

	for (k = 0; k < q->nunix; k++) {
		i = q->unixw[k];
		if (sockdiag_unix_matches(&q->wants[i], &q->files[i], s, vfs))
			return i;
	}
	return q->nwants;
}

/*
 * Keep a socket if it is on a wanted address (the first it matches) and
 * the list does not skip it.
 */
static void
sockdiag_keep(struct sockdiag_query *q, struct sockdiag_sock *s,
    const struct sockdiag_vfs *vfs)
{
	struct sockdiag_list *out = q->out;
	struct sockdiag_sock *grown;
	size_t i, max = out->max ? out->max : SOCKDIAG_MAX_SOCKS;

	if (s->family == AF_UNIX)
		i = sockdiag_unix_want(q, s, vfs);
	else
		i = sockdiag_inet_want(q, s);
	if (i == q->nwants)
		return;
	if (out->skip != NULL && out->skip(s->inode, out->skip_arg)) {
		out->skipped++;
		return;
	}
	s->want = i;
	if (out->count == max) {
		out->truncated = true;
		return;
	}
	if ((grown = sockdiag_grow(out->socks, out->count,
	    sizeof(*grown))) == NULL) {
		out->truncated = true;
		return;
	}
	out->socks = grown;
	out->socks[out->count++] = *s;
}

/* One socket of an inet_diag answer. */
static int
sockdiag_inet_msg(const struct nlmsghdr *nh, void *arg)
{
	struct sockdiag_query *q = arg;
	const struct inet_diag_msg *m = NLMSG_DATA(nh);
	struct sockaddr_in *sin;
	struct sockaddr_in6 *sin6;
	struct sockdiag_sock s;
	const struct rtattr *rta;
	size_t len;

	if (nh->nlmsg_len < NLMSG_LENGTH(sizeof(*m)))
		return -1;
	q->out->dumped++;
	if (m->id.idiag_dport != 0)
		return 0;	/* connected: it listens to nobody else */
	memset(&s, 0, sizeof(s));
	s.family = m->idiag_family;
	s.type = q->type;
	s.inode = (ino_t)m->idiag_inode;
	s.uid = (uid_t)m->idiag_uid;
	s.rqueue = m->idiag_rqueue;
	s.wqueue = m->idiag_wqueue;
	if (s.family == AF_INET) {
		sin = (struct sockaddr_in *)&s.local;
		sin->sin_family = AF_INET;
		sin->sin_port = m->id.idiag_sport;
		memcpy(&sin->sin_addr, m->id.idiag_src, 4);
		s.local_len = sizeof(*sin);
	} else if (s.family == AF_INET6) {
		sin6 = (struct sockaddr_in6 *)&s.local;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = m->id.idiag_sport;
		memcpy(&sin6->sin6_addr, m->id.idiag_src, 16);
		s.local_len = sizeof(*sin6);
	} else
		return 0;
	len = nh->nlmsg_len - NLMSG_LENGTH(sizeof(*m));
	for (rta = (const struct rtattr *)(m + 1); RTA_OK(rta, len);
	    rta = RTA_NEXT(rta, len))
		if (rta->rta_type == INET_DIAG_SKV6ONLY && RTA_PAYLOAD(rta) >= 1)
			s.v6only = *(const unsigned char *)RTA_DATA(rta) != 0;
	sockdiag_keep(q, &s, NULL);
	return 0;
}

/* One socket of a unix_diag answer. */
static int
sockdiag_unix_msg(const struct nlmsghdr *nh, void *arg)
{
	struct sockdiag_query *q = arg;
	const struct unix_diag_msg *m = NLMSG_DATA(nh);
	struct sockaddr_un *sun;
	struct unix_diag_vfs uv;
	struct unix_diag_rqlen rq;
	struct sockdiag_vfs vfs = { false, 0, 0 };
	struct sockdiag_sock s;
	const struct rtattr *rta;
	size_t len, n;
	uint32_t uid;

	if (nh->nlmsg_len < NLMSG_LENGTH(sizeof(*m)))
		return -1;
	q->out->dumped++;
	/* Stream and seqpacket sockets listen; datagram ones are unconnected. */
	if (m->udiag_state != (m->udiag_type == SOCK_DGRAM ?
	    SOCKDIAG_STATE_CLOSE : SOCKDIAG_STATE_LISTEN))
		return 0;
	memset(&s, 0, sizeof(s));
	s.family = AF_UNIX;
	s.type = m->udiag_type;
	s.inode = (ino_t)m->udiag_ino;
	s.uid = (uid_t)-1;
	sun = (struct sockaddr_un *)&s.local;
	sun->sun_family = AF_UNIX;
	len = nh->nlmsg_len - NLMSG_LENGTH(sizeof(*m));
	for (rta = (const struct rtattr *)(m + 1); RTA_OK(rta, len);
	    rta = RTA_NEXT(rta, len)) {
		n = RTA_PAYLOAD(rta);
		switch (rta->rta_type) {
		case UNIX_DIAG_NAME:
			if (n > sizeof(sun->sun_path))
				n = sizeof(sun->sun_path);
			memcpy(sun->sun_path, RTA_DATA(rta), n);
			s.local_len = (socklen_t)(offsetof(struct sockaddr_un,
			    sun_path) + n);
			break;
		case UNIX_DIAG_VFS:
			if (n < sizeof(uv))
				return -1;
			memcpy(&uv, RTA_DATA(rta), sizeof(uv));
			vfs.known = true;
			vfs.ino = uv.udiag_vfs_ino;
			vfs.dev = uv.udiag_vfs_dev;
			break;
		case UNIX_DIAG_RQLEN:
			if (n < sizeof(rq))
				return -1;
			memcpy(&rq, RTA_DATA(rta), sizeof(rq));
			s.rqueue = rq.udiag_rqueue;
			s.wqueue = rq.udiag_wqueue;
			break;
		case UNIX_DIAG_UID:
			if (n < sizeof(uid))
				return -1;
			memcpy(&uid, RTA_DATA(rta), sizeof(uid));
			s.uid = (uid_t)uid;
			break;
		}
	}
	if (s.local_len == 0)
		return 0;	/* not bound: nobody can reach it */
	sockdiag_keep(q, &s, &vfs);
	return 0;
}

/* Dump the TCP or UDP sockets of one family on the ports wanted. */
static int
sockdiag_dump_inet(struct sockdiag_query *q, int family, const uint16_t *ports,
    size_t nports, char **cause)
{
	struct sockdiag_req req;
	size_t len = NLMSG_LENGTH(sizeof(req.r.inet)), bclen;
	char what[64];

	memset(&req, 0, sizeof(req));
	req.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	req.r.inet.sdiag_family = (unsigned char)family;
	req.r.inet.sdiag_protocol = q->kind == ADDR_TCP ? IPPROTO_TCP :
	    IPPROTO_UDP;
	req.r.inet.idiag_states = 1U << (q->kind == ADDR_TCP ?
	    SOCKDIAG_STATE_LISTEN : SOCKDIAG_STATE_CLOSE);
	if (nports > 0) {
		bclen = sockdiag_port_filter(ports, nports, req.bc);
		req.filter.nla_type = INET_DIAG_REQ_BYTECODE;
		req.filter.nla_len = (unsigned short)(NLA_HDRLEN + bclen);
		len = offsetof(struct sockdiag_req, bc) + bclen;
	}
	snprintf(what, sizeof(what), "the %s sockets over %s",
	    q->kind == ADDR_TCP ? "TCP" : "UDP", family == AF_INET ? "IPv4" :
	    "IPv6");
	q->type = q->kind == ADDR_TCP ? SOCK_STREAM : SOCK_DGRAM;
	return sockdiag_dump(q, &req, len, what, sockdiag_inet_msg, cause);
}

/*
 * Dump the TCP (kind ADDR_TCP) or UDP sockets of both families that may
 * be on a wanted address: an IPv4 address overlaps a dual-stack IPv6
 * wildcard, so both families are always asked for.
 */
static int
sockdiag_lookup_inet(struct sockdiag_query *q, enum addr_kind kind,
    char **cause)
{
	uint16_t ports[SOCKDIAG_MAX_PORTS];
	const struct sockdiag_port_want *pw;
	size_t k, nports = 0;
	bool any = false, wanted = false;

	for (k = 0; k < q->nanyport; k++)
		if (q->wants[q->anyport[k]].addr.kind == kind)
			wanted = any = true;	/* every port */
	/* The index is sorted by port: each port once. */
	for (k = 0; k < q->nbyport; k++) {
		pw = &q->byport[k];
		if (q->wants[pw->want].addr.kind != kind)
			continue;
		wanted = true;
		if (nports > 0 && ports[nports - 1] == pw->port)
			continue;
		if (nports == SOCKDIAG_MAX_PORTS)
			any = true;	/* too many to filter */
		else
			ports[nports++] = (uint16_t)pw->port;
	}
	if (!wanted)
		return 0;
	q->kind = kind;
	if (any)
		nports = 0;
	if (sockdiag_dump_inet(q, AF_INET, ports, nports, cause) == -1 ||
	    sockdiag_dump_inet(q, AF_INET6, ports, nports, cause) == -1)
		return -1;
	return 0;
}

/* Dump the listening (and bound datagram) unix sockets, if any is wanted. */
static int
sockdiag_lookup_unix(struct sockdiag_query *q, char **cause)
{
	struct sockdiag_req req;
	const char *path;
	size_t i;
	bool wanted = false;

	for (i = 0; i < q->nwants; i++) {
		if (!addr_is_unix(&q->wants[i].addr))
			continue;
		wanted = true;
		path = ((const struct sockaddr_un *)&q->wants[i].addr.ss)->sun_path;
		/* What a connect() to the path reaches: the socket file there. */
		if (addr_is_abstract(&q->wants[i].addr) ||
		    stat(path, &q->files[i]) == -1 ||
		    !S_ISSOCK(q->files[i].st_mode))
			q->files[i].st_ino = 0;
	}
	if (!wanted)
		return 0;
	memset(&req, 0, sizeof(req));
	req.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	req.r.un.sdiag_family = AF_UNIX;
	req.r.un.udiag_states = (1U << SOCKDIAG_STATE_LISTEN) |
	    (1U << SOCKDIAG_STATE_CLOSE);
	req.r.un.udiag_show = UDIAG_SHOW_NAME | UDIAG_SHOW_VFS |
	    UDIAG_SHOW_RQLEN | UDIAG_SHOW_UID;
	return sockdiag_dump(q, &req, NLMSG_LENGTH(sizeof(req.r.un)),
	    "the unix sockets", sockdiag_unix_msg, cause);
}

/*
 * Note a waiting connection named id, whose place in the queue is rank
 * (higher: waited longer), in waiting: one of those it looks for, or one
 * of the longest waiting.
 */
static void
sockdiag_note_waiting(struct sockdiag_waiting *w, uint64_t id, uint64_t rank,
    uint64_t *ranks)
{
	size_t i, at;

	for (i = 0; i < w->nknown; i++)
		if (w->known[i] == id) {
			w->still++;
			break;
		}
	for (at = 0; at < w->noldest && ranks[at] >= rank; at++)
		continue;
	if (at == SOCKDIAG_OLDEST)
		return;
	if (w->noldest < SOCKDIAG_OLDEST)
		w->noldest++;
	for (i = w->noldest - 1; i > at; i--) {
		w->oldest[i] = w->oldest[i - 1];
		ranks[i] = ranks[i - 1];
	}
	w->oldest[at] = id;
	ranks[at] = rank;
}

/*
 * The queue and backlog in a unix_diag answer about socket ino, and (if
 * waiting is not NULL) the connections waiting, from UNIX_DIAG_ICONS: the
 * inodes of their clients' sockets in queue order, the oldest first (0
 * for a client that closed its socket: not named, and one named no longer
 * waits once its client closes). 0, or -1 if none.
 */
static int
sockdiag_unix_rqlen(const struct nlmsghdr *nh, size_t left, ino_t ino,
    unsigned int *queued, unsigned int *backlog,
    struct sockdiag_waiting *waiting)
{
	const struct unix_diag_msg *m;
	const struct rtattr *rta;
	struct unix_diag_rqlen rq;
	uint64_t ranks[SOCKDIAG_OLDEST];
	uint32_t icon;
	size_t len, i, n;
	bool found = false;

	for (; NLMSG_OK(nh, left) && !found; nh = NLMSG_NEXT(nh, left)) {
		m = NLMSG_DATA(nh);
		if (nh->nlmsg_type != SOCK_DIAG_BY_FAMILY ||
		    nh->nlmsg_len < NLMSG_LENGTH(sizeof(*m)) ||
		    (ino_t)m->udiag_ino != ino ||
		    m->udiag_state != SOCKDIAG_STATE_LISTEN)
			continue;
		len = nh->nlmsg_len - NLMSG_LENGTH(sizeof(*m));
		for (rta = (const struct rtattr *)(m + 1); RTA_OK(rta, len);
		    rta = RTA_NEXT(rta, len)) {
			if (rta->rta_type == UNIX_DIAG_ICONS && waiting != NULL) {
				n = RTA_PAYLOAD(rta) / sizeof(icon);
				for (i = 0; i < n; i++) {
					memcpy(&icon, (const char *)RTA_DATA(rta) +
					    i * sizeof(icon), sizeof(icon));
					if (icon != 0)
						sockdiag_note_waiting(waiting, icon,
						    n - i, ranks);
				}
				/* Not if every client closed its socket. */
				waiting->named = n == 0 || waiting->noldest > 0;
			}
			if (rta->rta_type != UNIX_DIAG_RQLEN ||
			    RTA_PAYLOAD(rta) < sizeof(rq))
				continue;
			memcpy(&rq, RTA_DATA(rta), sizeof(rq));
			*queued = rq.udiag_rqueue;
			*backlog = rq.udiag_wqueue;
			found = true;
		}
	}
	return found ? 0 : -1;
}

/*
 * Ask unix_diag about the socket ino alone (show: what it should say) on
 * q's socket and read the answer into q's buffer: its length, or -1.
 */
static ssize_t
sockdiag_unix_ask(struct sockdiag_query *q, ino_t ino, uint32_t show)
{
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	struct {
		struct nlmsghdr		nlh;
		struct unix_diag_req	r;
	} req;
	ssize_t n;

	memset(&req, 0, sizeof(req));
	req.nlh.nlmsg_len = sizeof(req);
	req.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	req.nlh.nlmsg_flags = NLM_F_REQUEST;
	req.r.sdiag_family = AF_UNIX;
	req.r.udiag_ino = (uint32_t)ino;
	req.r.udiag_show = show;
	req.r.udiag_cookie[0] = req.r.udiag_cookie[1] = INET_DIAG_NOCOOKIE;
	if (sendto(q->fd, &req, sizeof(req), 0, (struct sockaddr *)&kernel,
	    sizeof(kernel)) != (ssize_t)sizeof(req))
		return -1;
	do
		n = recv(q->fd, q->buf, SOCKDIAG_BUFSIZE, 0);
	while (n == -1 && errno == EINTR);
	return n;
}

/*
 * The accept queue and backlog of the listening unix stream socket fd,
 * from unix_diag: for a listener, UNIX_DIAG_RQLEN is the connections
 * queued and the backlog. One request for its inode alone. With waiting
 * (NULL: not asked), the connections waiting too, if the kernel names
 * them (it does not when their list is longer than a page: then waiting's
 * named is false). 0, or -1 if not known.
 */
int
sockdiag_unix_queue(int fd, unsigned int *queued, unsigned int *backlog,
    struct sockdiag_waiting *waiting)
{
	struct sockdiag_query q = { .fd = -1 };
	struct stat sb;
	ssize_t n;
	int rc = -1;

	if (waiting != NULL) {
		waiting->still = waiting->noldest = 0;
		waiting->named = false;
	}
	if (fstat(fd, &sb) == -1 || !S_ISSOCK(sb.st_mode))
		return -1;
	if (sockdiag_open(&q, NULL) == -1)
		goto out;
	if (waiting != NULL && (n = sockdiag_unix_ask(&q, sb.st_ino,
	    UDIAG_SHOW_RQLEN | UDIAG_SHOW_ICONS)) > 0)
		rc = sockdiag_unix_rqlen((const struct nlmsghdr *)q.buf,
		    (size_t)n, sb.st_ino, queued, backlog, waiting);
	if (rc == -1 && (n = sockdiag_unix_ask(&q, sb.st_ino,
	    UDIAG_SHOW_RQLEN)) > 0)
		rc = sockdiag_unix_rqlen((const struct nlmsghdr *)q.buf,
		    (size_t)n, sb.st_ino, queued, backlog, NULL);
out:
	if (q.fd != -1)
		close(q.fd);
	free(q.buf);
	return rc;
}

/*
 * One socket of a dump of the connections on a TCP listener's port: one
 * waiting in its accept queue if no process holds it (no inode) and it is
 * on the listener's address.
 */
static int
sockdiag_waiting_msg(const struct nlmsghdr *nh, void *arg)
{
	struct sockdiag_query *q = arg;
	const struct inet_diag_msg *m = NLMSG_DATA(nh);
	const size_t at = offsetof(struct tcp_info, tcpi_last_data_sent);
	struct sockaddr_storage local;
	struct sockaddr_in *sin = (struct sockaddr_in *)&local;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&local;
	const struct rtattr *rta;
	uint32_t sent_ms = 0;
	size_t len;

	if (nh->nlmsg_len < NLMSG_LENGTH(sizeof(*m)))
		return -1;
	if (m->idiag_inode != 0)
		return 0;	/* accepted: a process holds it */
	memset(&local, 0, sizeof(local));
	if (m->idiag_family == AF_INET) {
		sin->sin_family = AF_INET;
		memcpy(&sin->sin_addr, m->id.idiag_src, 4);
	} else if (m->idiag_family == AF_INET6) {
		sin6->sin6_family = AF_INET6;
		memcpy(&sin6->sin6_addr, m->id.idiag_src, 16);
	} else
		return 0;
	if (!sockdiag_ip_overlaps(q->listening, false, &local, false))
		return 0;
	/*
	 * A connection not yet accepted has sent no data: the time since it
	 * last did is the time since the handshake made it.
	 */
	len = nh->nlmsg_len - NLMSG_LENGTH(sizeof(*m));
	for (rta = (const struct rtattr *)(m + 1); RTA_OK(rta, len);
	    rta = RTA_NEXT(rta, len))
		if (rta->rta_type == INET_DIAG_INFO &&
		    RTA_PAYLOAD(rta) >= at + sizeof(sent_ms))
			memcpy(&sent_ms, (const char *)RTA_DATA(rta) + at,
			    sizeof(sent_ms));
	sockdiag_note_waiting(q->waiting, (uint64_t)m->id.idiag_cookie[0] |
	    (uint64_t)m->id.idiag_cookie[1] << 32, sent_ms, q->ranks);
	return 0;
}

/*
 * The connections waiting in the accept queue of the listening TCP socket
 * fd, from inet_diag: the established (or half-closed by the client)
 * connections on its port and address that no process holds. A client
 * that resets its connection while it waits takes it away as an accept
 * does. 0, or -1 if not known.
 */
int
sockdiag_tcp_waiting(int fd, struct sockdiag_waiting *waiting)
{
	struct sockdiag_query q = { .fd = -1 };
	struct sockdiag_req req;
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	uint16_t port;
	size_t len, iplen;
	int iport, rc = -1;

	waiting->still = waiting->noldest = 0;
	waiting->named = false;
	if (getsockname(fd, (struct sockaddr *)&ss, &sslen) == -1 ||
	    (ss.ss_family != AF_INET && ss.ss_family != AF_INET6))
		return -1;
	(void)sockdiag_ip(&ss, &iplen, &iport);
	port = (uint16_t)iport;
	q.listening = &ss;
	q.waiting = waiting;
	if (sockdiag_open(&q, NULL) == -1)
		goto out;
	memset(&req, 0, sizeof(req));
	req.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	req.r.inet.sdiag_family = (unsigned char)ss.ss_family;
	req.r.inet.sdiag_protocol = IPPROTO_TCP;
	req.r.inet.idiag_states = (1U << SOCKDIAG_STATE_ESTABLISHED) |
	    (1U << SOCKDIAG_STATE_CLOSE_WAIT);
	req.r.inet.idiag_ext = 1U << (INET_DIAG_INFO - 1);
	len = sockdiag_port_filter(&port, 1, req.bc);
	req.filter.nla_type = INET_DIAG_REQ_BYTECODE;
	req.filter.nla_len = (unsigned short)(NLA_HDRLEN + len);
	if (sockdiag_dump(&q, &req, offsetof(struct sockdiag_req, bc) + len,
	    "the TCP connections waiting to be accepted", sockdiag_waiting_msg,
	    NULL) == 0) {
		waiting->named = true;
		rc = 0;
	}
out:
	if (q.fd != -1)
		close(q.fd);
	free(q.buf);
	return rc;
}

/*
 * List the sockets on the wanted addresses into out (emptied first; its
 * max and skip are kept): listening TCP and unix stream sockets, bound unconnected
 * UDP and unix datagram ones. 0, or -1 with *cause naming the first kind
 * of socket that could not be listed: out then holds what the other kinds
 * showed (free it all the same).
 */
int
sockdiag_listeners(const struct sockdiag_want *wants, size_t nwants,
    struct sockdiag_list *out, char **cause)
{
	struct sockdiag_query q;
	int rc;

	out->count = 0;
	out->truncated = false;
	out->skipped = 0;
	out->dumped = 0;
	memset(&q, 0, sizeof(q));
	q.fd = -1;
	q.wants = wants;
	q.nwants = nwants;
	q.out = out;
	if (nwants == 0)
		return 0;
	if (sockdiag_index(&q) == -1) {
		cause_set(cause, "cannot list sockets: out of memory");
		rc = -1;
	} else if ((rc = sockdiag_open(&q, cause)) == 0) {
		rc = sockdiag_lookup_inet(&q, ADDR_TCP, cause);
		if (sockdiag_lookup_inet(&q, ADDR_UDP, rc == 0 ? cause :
		    NULL) == -1)
			rc = -1;
		if (sockdiag_lookup_unix(&q, rc == 0 ? cause : NULL) == -1)
			rc = -1;
	}
	if (q.fd != -1)
		close(q.fd);
	free(q.buf);
	free(q.files);
	free(q.byport);
	free(q.anyport);
	free(q.unixw);
	return rc;
}

/* Free a list's sockets and empty it. */
void
sockdiag_list_free(struct sockdiag_list *list)
{
	free(list->socks);
	list->socks = NULL;
	list->count = 0;
	list->truncated = false;
	list->skipped = 0;
	list->dumped = 0;
}

/* Compare two inodes, for qsort and bsearch. */
static int
sockdiag_inode_cmp(const void *a, const void *b)
{
	ino_t x = *(const ino_t *)a, y = *(const ino_t *)b;

	return x < y ? -1 : x > y;
}

/* Note every fd of process pid on one of the sorted inodes. */
static int
sockdiag_scan_fds(pid_t pid, const ino_t *inodes, size_t ninodes,
    struct sockdiag_holders *out)
{
	char path[64], link[64];
	struct sockdiag_holder *grown;
	struct dirent *de;
	unsigned long long ino;
	ino_t key;
	ssize_t n;
	DIR *fds;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	if ((fds = opendir(path)) == NULL) {
		if (errno == EACCES || errno == EPERM)
			out->hidden++;
		return 0;	/* gone, or not ours to look at */
	}
	while ((de = readdir(fds)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		n = readlinkat(dirfd(fds), de->d_name, link, sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = '\0';
		if (sscanf(link, "socket:[%llu]", &ino) != 1)
			continue;
		key = (ino_t)ino;
		if (bsearch(&key, inodes, ninodes, sizeof(*inodes),
		    sockdiag_inode_cmp) == NULL)
			continue;
		if (out->count == SOCKDIAG_MAX_HOLDERS) {
			out->truncated = true;
			break;
		}
		if ((grown = sockdiag_grow(out->items, out->count,
		    sizeof(*grown))) == NULL) {
			closedir(fds);
			return -1;
		}
		out->items = grown;
		out->items[out->count++] = (struct sockdiag_holder){ key, pid };
	}
	closedir(fds);
	return 0;
}

/*
 * Find the processes with an fd on any of the socket inodes (a process
 * holding one through several fds counts once per fd): among the npids
 * processes of pids, or, with pids NULL, every process whose /proc/PID/fd
 * we may read. 0, or -1 with *cause.
 */
int
sockdiag_holders(const ino_t *inodes, size_t ninodes, const pid_t *pids,
    size_t npids, struct sockdiag_holders *out, char **cause)
{
	struct dirent *de;
	ino_t *sorted;
	char *end;
	long pid;
	DIR *proc;
	size_t i;
	int rc = 0;

	memset(out, 0, sizeof(*out));
	if (ninodes == 0)
		return 0;
	if ((sorted = calloc(ninodes, sizeof(*sorted))) == NULL) {
		cause_set(cause, "cannot look for socket holders: out of "
		    "memory");
		return -1;
	}
	memcpy(sorted, inodes, ninodes * sizeof(*sorted));
	qsort(sorted, ninodes, sizeof(*sorted), sockdiag_inode_cmp);
	if (pids != NULL) {
		for (i = 0; rc == 0 && !out->truncated && i < npids; i++)
			rc = sockdiag_scan_fds(pids[i], sorted, ninodes, out);
		goto done;
	}
	if ((proc = opendir("/proc")) == NULL) {
		cause_set(cause, "cannot read /proc to find socket holders: "
		    "%s", strerror(errno));
		free(sorted);
		return -1;
	}
	while (rc == 0 && !out->truncated && (de = readdir(proc)) != NULL) {
		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		pid = strtol(de->d_name, &end, 10);
		if (*end != '\0' || pid <= 0 || pid > 0x7fffffffL)
			continue;
		rc = sockdiag_scan_fds((pid_t)pid, sorted, ninodes, out);
	}
	closedir(proc);
done:
	free(sorted);
	if (rc == -1)
		cause_set(cause, "cannot look for socket holders: out of "
		    "memory");
	return rc;
}

/* Free the holders found and empty the list. */
void
sockdiag_holders_free(struct sockdiag_holders *holders)
{
	free(holders->items);
	memset(holders, 0, sizeof(*holders));
}

/*
 * Who listens on an address, but for the socket whose inode is except
 * (0: none): up to max sockets, each with one process holding it (the
 * lowest pid, for the same answer each time). The count found (at most
 * max), or -1 with *cause.
 */
int
sockdiag_owners(const struct sockdiag_want *want, ino_t except,
    struct sockdiag_owner *owners, size_t max, char **cause)
{
	struct sockdiag_list list = { .socks = NULL };
	struct sockdiag_holders holders;
	ino_t *inodes = NULL;
	size_t i, k, n = 0;
	int rc = -1;

	list.max = max + 1;	/* the one excepted may be among them */
	if (max == 0)
		return 0;
	if (sockdiag_listeners(want, 1, &list, cause) == -1)
		goto out;
	if (list.count > 0 &&
	    (inodes = calloc(list.count, sizeof(*inodes))) == NULL) {
		cause_set(cause, "cannot look for socket holders: out of "
		    "memory");
		goto out;
	}
	for (i = 0; i < list.count && n < max; i++)
		if (list.socks[i].inode != except)
			inodes[n++] = list.socks[i].inode;
	if (sockdiag_holders(inodes, n, NULL, 0, &holders, cause) == -1)
		goto out;
	for (i = 0; i < n; i++) {
		owners[i].inode = inodes[i];
		owners[i].uid = (uid_t)-1;
		owners[i].pid = 0;
		owners[i].comm[0] = '\0';
		for (k = 0; k < list.count; k++)
			if (list.socks[k].inode == inodes[i])
				owners[i].uid = list.socks[k].uid;
		for (k = 0; k < holders.count; k++)
			if (holders.items[k].inode == inodes[i] &&
			    (owners[i].pid == 0 ||
			    holders.items[k].pid < owners[i].pid))
				owners[i].pid = holders.items[k].pid;
		if (owners[i].pid != 0)
			procfs_comm(owners[i].pid, owners[i].comm,
			    sizeof(owners[i].comm));
	}
	sockdiag_holders_free(&holders);
	rc = (int)n;
out:
	free(inodes);
	sockdiag_list_free(&list);
	return rc;
}

/*
 * Name owners in buf for a message: "pid 4121 (nginx, uid 33), pid 4122
 * (nginx, uid 33)", or "a socket of uid 33 that no process we can see
 * holds" for one whose holder is hidden.
 */
void
sockdiag_format_owners(const struct sockdiag_owner *owners, size_t n,
    char *buf, size_t len)
{
	size_t i, used = 0;
	int w;

	if (len == 0)
		return;
	buf[0] = '\0';
	for (i = 0; i < n && used < len; i++) {
		if (owners[i].pid != 0)
			w = snprintf(buf + used, len - used, "%spid %d (%s, uid "
			    "%u)", i ? ", " : "", (int)owners[i].pid,
			    owners[i].comm[0] ? owners[i].comm : "?",
			    (unsigned int)owners[i].uid);
		else
			w = snprintf(buf + used, len - used, "%sa socket of uid "
			    "%u that no process we can see holds", i ? ", " : "",
			    (unsigned int)owners[i].uid);
		if (w < 0)
			break;
		used += (size_t)w;
	}
}
