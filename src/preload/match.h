/*
 * match.h: the pure part of the bind() shim, shared with the supervisor:
 * which address a bind() names is one of its program's listeners, and
 * the private variables that carry the shim's state into a worker (from
 * the supervisor, and across the worker's own exec). libc only, no
 * state. Functions are match_*.
 */
#ifndef HANDOFF_PRELOAD_MATCH_H
#define HANDOFF_PRELOAD_MATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/* A listener's address, as the supervisor tells it to the shim. */
struct match_addr {
	int			 index;	/* the program's listener number */
	int			 type;	/* SOCK_STREAM or SOCK_DGRAM */
	socklen_t		 len;
	struct sockaddr_storage	 ss;
};

/* An fd the shim passes across exec, with what it stands for. */
struct match_fd {
	int	 fd;
	int	 index;		/* listener number, or the stash entry */
	int	 flag;		/* adopted fds: the app's O_NONBLOCK (0 or 1) */
};

/* The private variables (none reaches the app: the shim removes them). */
#define MATCH_ENV_NOTIFY	"HANDOFF_PRELOAD_NOTIFY"	/* socket path */
#define MATCH_ENV_SELF		"HANDOFF_PRELOAD_SELF"		/* addresses */
#define MATCH_ENV_STASH		"HANDOFF_PRELOAD_STASH"		/* fd:index */
#define MATCH_ENV_ADOPTED	"HANDOFF_PRELOAD_ADOPTED"	/* fd:index:nb */

#define MATCH_MAX_ADDRS		64	/* MAX_LISTENERS_PER_PROGRAM */
/* The longest MATCH_ENV_SELF value: "63:s:" and 128 bytes in hex, each. */
#define MATCH_ADDRS_TEXT_MAX	(MATCH_MAX_ADDRS * (6 + 2 * \
				    sizeof(struct sockaddr_storage) + 1))

bool	match_same(const struct sockaddr *a, socklen_t alen,
	    const struct sockaddr *b, socklen_t blen);
bool	match_covers(const struct sockaddr *listener, socklen_t llen,
	    const struct sockaddr *bound, socklen_t blen, bool bound_v6only);
int	match_encode_addrs(const struct match_addr *addrs, size_t n,
	    char *buf, size_t len);
int	match_decode_addrs(const char *text, struct match_addr *out,
	    size_t max);
int	match_encode_fds(const struct match_fd *fds, size_t n, bool flags,
	    char *buf, size_t len);
int	match_decode_fds(const char *text, struct match_fd *out, size_t max,
	    bool flags);

#endif
