/*
 * listening.h: which workers of a generation listen on their program's
 * addresses: the sockets on those addresses (sock_diag) that a worker's
 * process, or one of its descendants, holds (their fds in /proc). It is
 * how `ready = listening` tells that a worker is ready (a probe that looks
 * every LISTENING_POLL_MS while one of its workers is starting, and never
 * otherwise), and what status shows of a self-mode program's sockets.
 * Functions are listening_*.
 */
#ifndef HANDOFF_LISTENING_H
#define HANDOFF_LISTENING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

struct listening;
struct worker;
struct worker_env;

/* A socket one of the workers listens on. */
struct listening_sock {
	size_t		 listener;	/* index in the program's listeners */
	int		 worker;	/* index of the worker it belongs to */
	pid_t		 pid;		/* that worker's process holding it */
	ino_t		 inode;
	struct sockaddr_storage local;	/* what it is bound to */
	socklen_t	 local_len;
	int		 type;		/* SOCK_STREAM or SOCK_DGRAM */
	uint32_t	 queued;	/* stream: connections not accepted yet */
	uint32_t	 backlog;	/* stream: its accept queue's limit */
};

/* What one look found. */
struct listening_list {
	struct listening_sock *socks;
	size_t		 count;
};

int	 listening_scan(const struct worker_env *env, struct worker *workers,
	    int nworkers, bool starting_only, struct listening_list *out,
	    char **cause);
void	 listening_list_free(struct listening_list *list);

struct listening *listening_new(const struct worker_env *env,
	    struct worker *workers, int nworkers);
void	 listening_watch(struct listening *lp);
void	 listening_describe(const struct listening *lp, char *buf, size_t len);
void	 listening_free(struct listening *lp);

#define LISTENING_POLL_MS	10	/* between looks while a worker starts */

#endif
