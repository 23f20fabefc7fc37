/*
 * match.c: which bind() address is a listener's, and the shim's private
 * variables (see match.h).
 *
 * Two rules. Inherit and reuseport modes swap the supervisor's socket in
 * for the app's only on an exact match (match_same): the same family, the
 * same address and port (never port 0, which asks for any port), a unix
 * socket by its path or abstract name. Self mode lets the app bind with
 * SO_REUSEPORT where its socket takes a listener's connections
 * (match_covers), the rule `ready = listening` uses: the same address, or
 * a wildcard over it (for IPv4, an IPv6 wildcard that is not v6only).
 *
 * The variables are plain text the shim parses before main() runs:
 *
 *	HANDOFF_PRELOAD_SELF=0:s:HEX,1:d:HEX	listener number, stream or
 *						datagram, the sockaddr's bytes
 *	HANDOFF_PRELOAD_STASH=600:0,601:1	the shim's fds and their listeners
 *	HANDOFF_PRELOAD_ADOPTED=3:0:1		an app fd, its listener, O_NONBLOCK
 *
 * Encoding writes no more than len bytes and allocates nothing, so that
 * the shim can call it between vfork() and exec.
 */
#include "autoconf.h"

#include <netinet/in.h>
#include <string.h>

#include "match.h"
#include "unixaddr.h"

/* The port of an IPv4 or IPv6 address (host order), -1 for others. */
static int
match_port(const struct sockaddr *sa, socklen_t len)
{
	if (sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in))
		return ntohs(((const struct sockaddr_in *)sa)->sin_port);
	if (sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6))
		return ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
	return -1;
}

/* Tell whether an IPv4 or IPv6 address is the wildcard. */
static bool
match_is_wildcard(const struct sockaddr *sa)
{
	static const struct in6_addr any6 = IN6ADDR_ANY_INIT;

	if (sa->sa_family == AF_INET)
		return ((const struct sockaddr_in *)sa)->sin_addr.s_addr ==
		    htonl(INADDR_ANY);
	return memcmp(&((const struct sockaddr_in6 *)sa)->sin6_addr, &any6,
	    sizeof(any6)) == 0;
}

/* Tell whether two IP addresses of one family are the same host. */
static bool
match_same_host(const struct sockaddr *a, const struct sockaddr *b)
{
	const struct sockaddr_in6 *a6, *b6;

	if (a->sa_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
		    ((const struct sockaddr_in *)b)->sin_addr.s_addr;
	a6 = (const struct sockaddr_in6 *)a;
	b6 = (const struct sockaddr_in6 *)b;
	return memcmp(&a6->sin6_addr, &b6->sin6_addr,
	    sizeof(a6->sin6_addr)) == 0 &&
	    a6->sin6_scope_id == b6->sin6_scope_id;
}

/*
 * Tell whether a and b name the same socket address exactly: the same
 * family, host and port (port 0 never matches: it asks for any), or the
 * same unix path or abstract name.
 */
bool
match_same(const struct sockaddr *a, socklen_t alen, const struct sockaddr *b,
    socklen_t blen)
{
	int port;

	if (a == NULL || b == NULL || alen < sizeof(sa_family_t) ||
	    blen < sizeof(sa_family_t) || a->sa_family != b->sa_family)
		return false;
	if (a->sa_family == AF_UNIX)
		return unixaddr_same(a, alen, b, blen);
	if ((port = match_port(a, alen)) <= 0 || port != match_port(b, blen))
		return false;
	return match_same_host(a, b);
}

/*
 * The IPv4 address of sa, an IPv4 address or an IPv4-mapped IPv6 one
 * (::ffff:a.b.c.d, which is that IPv4 address to the kernel); false if it
 * is neither.
 */
static bool
match_as_v4(const struct sockaddr *sa, struct in_addr *v4)
{
	const struct in6_addr *a6;

	if (sa->sa_family == AF_INET) {
		*v4 = ((const struct sockaddr_in *)sa)->sin_addr;
		return true;
	}
	a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
	if (!IN6_IS_ADDR_V4MAPPED(a6))
		return false;
	memcpy(v4, &a6->s6_addr[12], sizeof(*v4));
	return true;
}

/*
 * Tell whether a socket bound to bound takes the connections meant for
 * listener: TCP or UDP on the same port (not 0), at the same host or at
 * a wildcard over it (an IPv6 wildcard covers IPv4 unless bound_v6only;
 * an IPv4-mapped IPv6 address is its IPv4 one). A wildcard listener
 * needs a wildcard.
 */
bool
match_covers(const struct sockaddr *listener, socklen_t llen,
    const struct sockaddr *bound, socklen_t blen, bool bound_v6only)
{
	struct in_addr l4, b4;
	bool lv4, bv4;
	int port;

	if (listener == NULL || bound == NULL ||
	    (port = match_port(listener, llen)) <= 0 ||
	    port != match_port(bound, blen))
		return false;
	lv4 = match_as_v4(listener, &l4);
	bv4 = match_as_v4(bound, &b4);
	if (lv4 && bv4)
		return b4.s_addr == htonl(INADDR_ANY) || b4.s_addr == l4.s_addr;
	if (!lv4 && !bv4)
		return match_is_wildcard(bound) || match_same_host(listener, bound);
	return lv4 && match_is_wildcard(bound) && !bound_v6only;
}

/* A text being written into a buffer of fixed size. */
struct match_out {
	char	*buf;
	size_t	 len;
	size_t	 at;
	bool	 full;
};

/* Append bytes to out (marking it full if they do not fit with a NUL). */
static void
match_put(struct match_out *out, const char *text, size_t n)
{
	if (out->full || out->at + n + 1 > out->len) {
		out->full = true;
		return;
	}
	memcpy(out->buf + out->at, text, n);
	out->at += n;
	out->buf[out->at] = '\0';
}

/* Append a number >= 0 in decimal. */
static void
match_put_int(struct match_out *out, int value)
{
	char digits[16], *p = digits + sizeof(digits);
	unsigned int v = value < 0 ? 0 : (unsigned int)value;

	do
		*--p = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	match_put(out, p, (size_t)(digits + sizeof(digits) - p));
}

/*
 * Write addrs as a MATCH_ENV_SELF value into buf. 0, or -1 if it does not
 * fit in len bytes.
 */
int
match_encode_addrs(const struct match_addr *addrs, size_t n, char *buf,
    size_t len)
{
	static const char hex[] = "0123456789abcdef";
	struct match_out out = { buf, len, 0, len == 0 };
	const unsigned char *p;
	char pair[2];
	size_t i, j;

	if (len > 0)
		buf[0] = '\0';
	for (i = 0; i < n; i++) {
		if (i > 0)
			match_put(&out, ",", 1);
		match_put_int(&out, addrs[i].index);
		match_put(&out, addrs[i].type == SOCK_DGRAM ? ":d:" : ":s:", 3);
		p = (const unsigned char *)&addrs[i].ss;
		for (j = 0; j < addrs[i].len && j < sizeof(addrs[i].ss); j++) {
			pair[0] = hex[p[j] >> 4];
			pair[1] = hex[p[j] & 0xf];
			match_put(&out, pair, 2);
		}
	}
	return out.full ? -1 : 0;
}

/* Read a number >= 0 at *p (advancing it); -1 if there is none. */
static int
match_get_int(const char **p)
{
	long v = 0;
	int digits = 0;

	while (**p >= '0' && **p <= '9' && digits < 9) {
		v = v * 10 + (**p - '0');
		(*p)++;
		digits++;
	}
	return digits == 0 || (**p >= '0' && **p <= '9') ? -1 : (int)v;
}

/*
 * After an item of a list at *p: 0 at the end of the text, 1 past the
 * comma before another item, -1 if something else follows.
 */
static int
match_next(const char **p)
{
	if (**p == '\0')
		return 0;
	if (**p != ',')
		return -1;
	(*p)++;
	return 1;
}

/* The value of a hex digit, -1 if c is none. */
static int
match_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/*
 * Parse a MATCH_ENV_SELF value into out (at most max). Returns how many
 * addresses, or -1 if the text is not what match_encode_addrs writes.
 */
int
match_decode_addrs(const char *text, struct match_addr *out, size_t max)
{
	const char *p = text;
	unsigned char *bytes;
	size_t n = 0;
	int hi, lo, more;

	if (*p == '\0')
		return 0;
	do {
		if (n == max)
			return -1;
		memset(&out[n], 0, sizeof(out[n]));
		if ((out[n].index = match_get_int(&p)) == -1 || *p++ != ':' ||
		    (*p != 's' && *p != 'd'))
			return -1;
		out[n].type = *p++ == 'd' ? SOCK_DGRAM : SOCK_STREAM;
		if (*p++ != ':')
			return -1;
		bytes = (unsigned char *)&out[n].ss;
		while ((hi = match_hex(*p)) != -1) {
			if ((lo = match_hex(p[1])) == -1 ||
			    out[n].len == sizeof(out[n].ss))
				return -1;
			bytes[out[n].len++] = (unsigned char)(hi << 4 | lo);
			p += 2;
		}
		if (out[n].len < sizeof(sa_family_t))
			return -1;
		n++;
	} while ((more = match_next(&p)) == 1);
	return more == 0 ? (int)n : -1;
}

/*
 * Write fds as "FD:INDEX,..." (with flags, "FD:INDEX:FLAG,...") into
 * buf. 0, or -1 if it does not fit in len bytes.
 */
int
match_encode_fds(const struct match_fd *fds, size_t n, bool flags, char *buf,
    size_t len)
{
	struct match_out out = { buf, len, 0, len == 0 };
	size_t i;

	if (len > 0)
		buf[0] = '\0';
	for (i = 0; i < n; i++) {
		if (i > 0)
			match_put(&out, ",", 1);
		match_put_int(&out, fds[i].fd);
		match_put(&out, ":", 1);
		match_put_int(&out, fds[i].index);
		if (flags) {
			match_put(&out, ":", 1);
			match_put_int(&out, fds[i].flag);
		}
	}
	return out.full ? -1 : 0;
}

/*
 * Parse what match_encode_fds wrote into out (at most max). Returns how
 * many fds, or -1 if the text is not such a list.
 */
int
match_decode_fds(const char *text, struct match_fd *out, size_t max,
    bool flags)
{
	const char *p = text;
	size_t n = 0;
	int more;

	if (*p == '\0')
		return 0;
	do {
		if (n == max)
			return -1;
		out[n].flag = 0;
		if ((out[n].fd = match_get_int(&p)) == -1 || *p++ != ':' ||
		    (out[n].index = match_get_int(&p)) == -1)
			return -1;
		if (flags && (*p++ != ':' ||
		    (out[n].flag = match_get_int(&p)) == -1))
			return -1;
		n++;
	} while ((more = match_next(&p)) == 1);
	return more == 0 ? (int)n : -1;
}
