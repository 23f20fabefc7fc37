/* addr.h: listener addresses as written in the config ("listen = ..."). */
#ifndef HANDOFF_ADDR_H
#define HANDOFF_ADDR_H

#include <stdbool.h>
#include <sys/socket.h>
#include <sys/un.h>

enum addr_kind {
	ADDR_TCP = 0,		/* host:port, [v6]:port, tcp:host:port */
	ADDR_UDP,		/* udp:host:port */
	ADDR_UNIX_STREAM,	/* unix:/path, unix:@abstract */
	ADDR_UNIX_DGRAM,	/* unixgram:/path, unixgram:@abstract */
};

/* A parsed address: plain data, safe to copy and compare field by field. */
struct addr {
	enum addr_kind		kind;
	socklen_t		len;	/* bytes of ss used by bind() */
	struct sockaddr_storage	ss;
	bool			named;	/* a host name, looked up by addr_parse */
};

int	addr_parse(const char *text, struct addr *addr, const char **error);
bool	addr_equal(const struct addr *a, const struct addr *b);
bool	addr_is_unix(const struct addr *addr);
bool	addr_is_abstract(const struct addr *addr);
int	addr_port(const struct addr *addr);
int	addr_socktype(const struct addr *addr);
const char *addr_kind_name(enum addr_kind kind);
void	addr_format(const struct addr *addr, char *buf, size_t len);
void	addr_format_sockaddr(const struct sockaddr *sa, socklen_t salen,
	    char *buf, size_t len);

/* Longest text addr_format writes, with its NUL. */
#define ADDR_STRLEN (sizeof(((struct sockaddr_un *)0)->sun_path) + 16)

#endif
