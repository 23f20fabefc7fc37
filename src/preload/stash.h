/*
 * stash.h: the bind() shim's state in one process: the listeners the
 * supervisor gave it (moved out of the app's way, "the stash"), or in
 * self mode the addresses the app binds itself; the app's fds that are
 * those listeners now; and the supervisor's notify socket for `ready =
 * listening`. Written before main() and by the interposed calls, read by
 * them, without locks (each entry is published with one atomic store),
 * so that calls from signal handlers and threads are safe. Functions are
 * stash_*.
 */
#ifndef HANDOFF_PRELOAD_STASH_H
#define HANDOFF_PRELOAD_STASH_H

#include <stdbool.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "match.h"
#include "unixaddr.h"

#define STASH_MAX_SOCKS	MATCH_MAX_ADDRS
#define STASH_MAX_FDS	256	/* app fds the shim follows at once */
#define STASH_FD_BASE	512	/* the stash goes at or above this fd */

/* A listener of the app's program. */
struct stash_sock {
	int		 fd;		/* the shim's copy (CLOEXEC), or -1 (self) */
	int		 index;		/* its number among the program's */
	int		 family;
	int		 type;		/* SOCK_STREAM or SOCK_DGRAM */
	int		 protocol;
	struct sockaddr_storage addr;	/* where it is bound */
	socklen_t	 addrlen;
	bool		 has_file;	/* a unix socket's file, known by: */
	dev_t		 dev;
	ino_t		 ino;
	int		 announced;	/* HANDOFF_LISTENING sent (atomic) */
};

/* What an app fd the shim follows is. */
enum stash_kind {
	STASH_ADOPTED = 1,	/* a stash socket, put there by bind() */
	STASH_SELF_BOUND,	/* the app's own, bound to a self address */
};

/* An app fd the shim follows. */
struct stash_fd {
	int		 key;		/* fd + 1; 0 free, -1 being filled */
	int		 sock;		/* index in stash.socks */
	enum stash_kind	 kind;
	int		 nonblock;	/* the app's O_NONBLOCK (atomic) */
	long long	 timeo[2];	/* the app's SO_RCVTIMEO, SO_SNDTIMEO:
					   microseconds, or TIMEO_FOREVER
					   (atomic; see timeo.h) */
};

struct stash {
	struct stash_sock socks[STASH_MAX_SOCKS];
	int		 nsocks;
	bool		 self;		/* socks are addresses the app binds */
	struct stash_fd	 fds[STASH_MAX_FDS];
	int		 nfds;		/* entries of fds ever used */
	int		 nadopted;	/* STASH_ADOPTED fds (atomic) */
	int		 ndgram;	/* of them, datagram sockets (atomic) */
	/* The supervisor's notify socket, or "": a byte more than an address
	   holds, so that a longer value, cut to fit, is still too long. */
	char		 notify[UNIXADDR_PATH_MAX + 2];
	char		 self_text[MATCH_ADDRS_TEXT_MAX];	/* MATCH_ENV_SELF */
};

extern struct stash stash;

void		 stash_init(void);
bool		 stash_is_own(int fd);
int		 stash_move_own(int fd);
struct stash_fd	*stash_find(int fd);
struct stash_fd	*stash_track(int fd, int sock, enum stash_kind kind,
		    bool nonblock);
void		 stash_track_as(int fd, const struct stash_fd *from);
void		 stash_untrack(int fd);
int		 stash_match_inherited(int fd, const struct sockaddr *addr,
		    socklen_t len);
int		 stash_match_self(int fd, const struct sockaddr *addr,
		    socklen_t len);
bool		 stash_is_socket_file(int dirfd, const char *path);
void		 stash_announce(int sock);
void		 stash_explain_in_use(const struct sockaddr *addr,
		    socklen_t len);
int		 stash_sorted_fds(int *out, int max);

#endif
