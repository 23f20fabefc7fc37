/*
 * sockdiag.h: the sockets of the supervisor's network namespace as the
 * kernel lists them (NETLINK_SOCK_DIAG): which sockets listen on an
 * address, with their inode, owner and queues; and, from /proc, which
 * processes hold them.
 */
#ifndef HANDOFF_SOCKDIAG_H
#define HANDOFF_SOCKDIAG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "addr.h"

#define SOCKDIAG_OLDEST	8	/* waiting connections a look names */

/*
 * An address to look for, as a listener binds it. TCP and UDP: port 0 is
 * any port; a wildcard address overlaps every address of its family (and
 * an IPv6 wildcard IPv4 too, unless v6only). Unix: the socket that a
 * connect() to the path would reach, or the abstract name.
 */
struct sockdiag_want {
	struct addr	 addr;
	bool		 v6only;	/* of an IPv6 wildcard: takes no IPv4 */
};

/*
 * A socket on a wanted address: a listening stream socket, or a bound
 * datagram socket that is not connected.
 */
struct sockdiag_sock {
	size_t		 want;		/* index of the first address it matched */
	int		 family;	/* AF_INET, AF_INET6, AF_UNIX */
	int		 type;		/* SOCK_STREAM, _DGRAM, _SEQPACKET */
	struct sockaddr_storage local;	/* what it is bound to */
	socklen_t	 local_len;
	bool		 v6only;
	ino_t		 inode;		/* as fstat() of an fd on it says */
	uid_t		 uid;		/* its owner (who created it) */
	uint32_t	 rqueue;	/* stream listener: connections waiting */
	uint32_t	 wqueue;	/* stream listener: its backlog */
};

/*
 * The sockets found; at most max (0: SOCKDIAG_MAX_SOCKS) are kept. Those
 * skip (if set) says yes to, given skip_arg, are only counted: a caller
 * that knows most sockets (its own) keeps just the others.
 */
struct sockdiag_list {
	struct sockdiag_sock *socks;
	size_t		 count;
	size_t		 max;
	bool		 truncated;	/* more matched than were kept */
	bool		(*skip)(ino_t inode, const void *skip_arg);
	const void	*skip_arg;
	size_t		 skipped;	/* matched, but skipped */
	size_t		 dumped;	/* sockets the kernel sent, matching
					   or not (its filter keeps the rest) */
};

/*
 * The connections waiting in a stream listener's accept queue, by an
 * identity that stays theirs while they exist: the kernel's socket cookie
 * of a TCP one, the inode of the client's socket of a unix one.
 */
struct sockdiag_waiting {
	const uint64_t	*known;		/* in: connections to look for */
	size_t		 nknown;
	size_t		 still;		/* out: of those, still waiting */
	uint64_t	 oldest[SOCKDIAG_OLDEST];	/* out: the longest
					   waiting, the longest first */
	size_t		 noldest;
	bool		 named;		/* out: the kernel named them */
};

/* A process with an fd on a socket. */
struct sockdiag_holder {
	ino_t		 inode;
	pid_t		 pid;
};

/* The holders found; at most SOCKDIAG_MAX_HOLDERS are kept. */
struct sockdiag_holders {
	struct sockdiag_holder *items;
	size_t		 count;
	bool		 truncated;
	size_t		 hidden;	/* processes whose fds we may not read */
};

/* Who listens on an address: a socket, and one process holding it. */
struct sockdiag_owner {
	ino_t		 inode;
	uid_t		 uid;		/* the socket's owner */
	pid_t		 pid;		/* 0: no process we can see holds it */
	char		 comm[16];	/* printable (procfs_comm) */
};

int	 sockdiag_listeners(const struct sockdiag_want *wants, size_t nwants,
	    struct sockdiag_list *out, char **cause);
void	 sockdiag_list_free(struct sockdiag_list *list);
int	 sockdiag_holders(const ino_t *inodes, size_t ninodes,
	    const pid_t *pids, size_t npids, struct sockdiag_holders *out,
	    char **cause);
void	 sockdiag_holders_free(struct sockdiag_holders *holders);
int	 sockdiag_owners(const struct sockdiag_want *want, ino_t except,
	    struct sockdiag_owner *owners, size_t max, char **cause);
int	 sockdiag_unix_queue(int fd, unsigned int *queued,
	    unsigned int *backlog, struct sockdiag_waiting *waiting);
int	 sockdiag_tcp_waiting(int fd, struct sockdiag_waiting *waiting);
void	 sockdiag_format_owners(const struct sockdiag_owner *owners,
	    size_t n, char *buf, size_t len);

#define SOCKDIAG_MAX_SOCKS	4096	/* sockets a list keeps by default */
#define SOCKDIAG_MAX_HOLDERS	1024	/* holders a lookup keeps */

#endif
