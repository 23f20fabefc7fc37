/*
 * reap.h: reaping the supervisor's children, each exit by its pid.
 */
#ifndef HANDOFF_REAP_H
#define HANDOFF_REAP_H

#include <stdbool.h>
#include <sys/types.h>

struct event_base;

/* Called for each child reaped: its pid and wait status. */
typedef void	(*reap_fn)(pid_t pid, int status, void *arg);
/*
 * Called before a child the signalfd named is reaped (it may be a zombie
 * still: its process group can be asked), or NULL.
 */
typedef void	(*reap_peek_fn)(pid_t pid, void *arg);
/* Called after the children reaped at once (one or more). */
typedef void	(*reap_done_fn)(void *arg);

int	reap_open(struct event_base *base, reap_fn fn, reap_peek_fn peek,
	    reap_done_fn done, void *arg, char **cause);
void	reap_close(void);
bool	reap_reads_sigchld(void);
void	reap_scan(void);

#endif
