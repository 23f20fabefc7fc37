/*
 * addr.c: parse and print listener addresses.
 *
 *	127.0.0.1:8080  0.0.0.0:8080  [::1]:8080  [::]:8080  localhost:8080
 *	tcp:HOST:PORT   udp:HOST:PORT
 *	unix:/run/app.sock    unix:@abstract-name
 *	unixgram:/run/app.sock
 *
 * Host names are resolved once, at parse time, to their first address.
 * Port 0 asks the kernel for a free port.
 */
#include "autoconf.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "parse.h"
#include "unixaddr.h"

/* Parse a unix socket path (after "unix:" or "unixgram:"). */
static int
addr_parse_unix(const char *path, struct addr *addr, const char **error)
{
	return unixaddr_make(path, UNIXADDR_NAMED,
	    (struct sockaddr_un *)&addr->ss, &addr->len, error);
}

/* Parse HOST:PORT or [V6]:PORT into an IP socket address. */
static int
addr_parse_inet(const char *text, struct addr *addr, const char **error)
{
	char host[256];
	const char *colon, *port_text;
	struct addrinfo hints, *res;
	size_t hostlen;
	long port;

	if (text[0] == '[') {
		colon = strchr(text, ']');
		if (colon == NULL) {
			*error = "missing ] after IPv6 address (write [::1]:8080)";
			return -1;
		}
		if (colon[1] != ':') {
			*error = "missing :PORT after ] (write [::1]:8080)";
			return -1;
		}
		hostlen = (size_t)(colon - text - 1);
		if (hostlen >= sizeof(host)) {
			*error = "host name too long";
			return -1;
		}
		memcpy(host, text + 1, hostlen);
		host[hostlen] = '\0';
		port_text = colon + 2;
		if (inet_pton(AF_INET6, host, &((struct sockaddr_in6 *)&addr->ss)->sin6_addr) != 1) {
			*error = "bad IPv6 address";
			return -1;
		}
		addr->ss.ss_family = AF_INET6;
		addr->len = sizeof(struct sockaddr_in6);
	} else {
		colon = strrchr(text, ':');
		if (colon == NULL) {
			*error = "missing :PORT (write HOST:PORT, as in 127.0.0.1:8080)";
			return -1;
		}
		hostlen = (size_t)(colon - text);
		if (hostlen == 0) {
			*error = "missing host before :PORT (use 0.0.0.0 for every address)";
			return -1;
		}
		if (memchr(text, ':', hostlen) != NULL) {
			*error = "IPv6 addresses go in brackets, as in [::1]:8080";
			return -1;
		}
		if (hostlen >= sizeof(host)) {
			*error = "host name too long";
			return -1;
		}
		memcpy(host, text, hostlen);
		host[hostlen] = '\0';
		port_text = colon + 1;
		if (inet_pton(AF_INET, host, &((struct sockaddr_in *)&addr->ss)->sin_addr) == 1) {
			addr->ss.ss_family = AF_INET;
			addr->len = sizeof(struct sockaddr_in);
		} else {
			if (!isalpha((unsigned char)host[0])) {
				*error = "bad IPv4 address";
				return -1;
			}
			memset(&hints, 0, sizeof(hints));
			hints.ai_family = AF_UNSPEC;
			hints.ai_socktype = SOCK_STREAM;
			if (getaddrinfo(host, NULL, &hints, &res) != 0 || res == NULL) {
				*error = "cannot resolve host name";
				return -1;
			}
			memcpy(&addr->ss, res->ai_addr, res->ai_addrlen);
			addr->len = res->ai_addrlen;
			addr->named = true;
			freeaddrinfo(res);
		}
	}
	if (parse_int_range(port_text, 0, 65535, &port, error) == -1) {
		*error = "bad port (use 0 to 65535)";
		return -1;
	}
	if (addr->ss.ss_family == AF_INET)
		((struct sockaddr_in *)&addr->ss)->sin_port = htons((uint16_t)port);
	else
		((struct sockaddr_in6 *)&addr->ss)->sin6_port = htons((uint16_t)port);
	return 0;
}

/* Parse a listen address; see the comment at the top of this file. */
int
addr_parse(const char *text, struct addr *addr, const char **error)
{
	memset(addr, 0, sizeof(*addr));
	if (strncmp(text, "unix:", 5) == 0) {
		addr->kind = ADDR_UNIX_STREAM;
		return addr_parse_unix(text + 5, addr, error);
	}
	if (strncmp(text, "unixgram:", 9) == 0) {
		addr->kind = ADDR_UNIX_DGRAM;
		return addr_parse_unix(text + 9, addr, error);
	}
	if (strncmp(text, "udp:", 4) == 0) {
		addr->kind = ADDR_UDP;
		return addr_parse_inet(text + 4, addr, error);
	}
	if (strncmp(text, "tcp:", 4) == 0)
		text += 4;
	if (*text == '\0') {
		*error = "empty address";
		return -1;
	}
	if (text[0] == '/') {
		*error = "unix socket paths need the unix: prefix, as in unix:/run/app.sock";
		return -1;
	}
	addr->kind = ADDR_TCP;
	return addr_parse_inet(text, addr, error);
}

/* Tell whether two parsed addresses name the same socket address. */
bool
addr_equal(const struct addr *a, const struct addr *b)
{
	const struct sockaddr_in *a4, *b4;
	const struct sockaddr_in6 *a6, *b6;

	if (a->kind != b->kind || a->ss.ss_family != b->ss.ss_family ||
	    a->len != b->len)
		return false;
	switch (a->ss.ss_family) {
	case AF_INET:
		a4 = (const struct sockaddr_in *)&a->ss;
		b4 = (const struct sockaddr_in *)&b->ss;
		return a4->sin_port == b4->sin_port &&
		    a4->sin_addr.s_addr == b4->sin_addr.s_addr;
	case AF_INET6:
		a6 = (const struct sockaddr_in6 *)&a->ss;
		b6 = (const struct sockaddr_in6 *)&b->ss;
		return a6->sin6_port == b6->sin6_port &&
		    a6->sin6_scope_id == b6->sin6_scope_id &&
		    memcmp(&a6->sin6_addr, &b6->sin6_addr, sizeof(a6->sin6_addr)) == 0;
	default:
		return memcmp(&a->ss, &b->ss, a->len) == 0;
	}
}

/* Tell whether the address is a unix socket (path or abstract). */
bool
addr_is_unix(const struct addr *addr)
{
	return addr->kind == ADDR_UNIX_STREAM || addr->kind == ADDR_UNIX_DGRAM;
}

/* Tell whether the address is an abstract unix socket (no file). */
bool
addr_is_abstract(const struct addr *addr)
{
	return addr_is_unix(addr) &&
	    ((const struct sockaddr_un *)&addr->ss)->sun_path[0] == '\0';
}

/* The port of an IP address, -1 for unix sockets. */
int
addr_port(const struct addr *addr)
{
	if (addr->ss.ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)&addr->ss)->sin_port);
	if (addr->ss.ss_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)&addr->ss)->sin6_port);
	return -1;
}

/* SOCK_STREAM or SOCK_DGRAM, as the address's kind says. */
int
addr_socktype(const struct addr *addr)
{
	return addr->kind == ADDR_UDP || addr->kind == ADDR_UNIX_DGRAM ?
	    SOCK_DGRAM : SOCK_STREAM;
}

/* "tcp", "udp", "unix" or "unixgram". */
const char *
addr_kind_name(enum addr_kind kind)
{
	static const char *const names[] = {
		[ADDR_TCP] = "tcp", [ADDR_UDP] = "udp",
		[ADDR_UNIX_STREAM] = "unix", [ADDR_UNIX_DGRAM] = "unixgram",
	};
	return names[kind];
}

/* Print a socket address: 127.0.0.1:8080, [::1]:8080, /path or @name. */
void
addr_format_sockaddr(const struct sockaddr *sa, socklen_t salen, char *buf,
    size_t len)
{
	char host[INET6_ADDRSTRLEN], name[UNIXADDR_NAME_SIZE];
	size_t n;

	switch (sa->sa_family) {
	case AF_INET:
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr,
		    host, sizeof(host));
		snprintf(buf, len, "%s:%u", host,
		    ntohs(((const struct sockaddr_in *)sa)->sin_port));
		break;
	case AF_INET6:
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr,
		    host, sizeof(host));
		snprintf(buf, len, "[%s]:%u", host,
		    ntohs(((const struct sockaddr_in6 *)sa)->sin6_port));
		break;
	case AF_UNIX:
		/* An abstract name (its first byte NUL) is shown after an @. */
		if ((n = unixaddr_name(sa, salen, name, sizeof(name))) == 0)
			snprintf(buf, len, "(unnamed)");
		else if (name[0] == '\0')
			snprintf(buf, len, "@%.*s", (int)n - 1, name + 1);
		else
			snprintf(buf, len, "%s", name);
		break;
	default:
		snprintf(buf, len, "(family %d)", sa->sa_family);
	}
}

/* Print an address as the config would write it (udp: and unix: prefixed). */
void
addr_format(const struct addr *addr, char *buf, size_t len)
{
	char plain[ADDR_STRLEN];

	addr_format_sockaddr((const struct sockaddr *)&addr->ss, addr->len,
	    plain, sizeof(plain));
	if (addr->kind == ADDR_TCP)
		snprintf(buf, len, "%s", plain);
	else
		snprintf(buf, len, "%s:%s", addr_kind_name(addr->kind), plain);
}
