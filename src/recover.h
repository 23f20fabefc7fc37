/*
 * recover.h: taking over from a supervisor that died. The workers it left
 * serving (orphans), known for certain from its record (record.h), give
 * their listener sockets up to the new supervisor (pidfd_getfd), which
 * drains them like an old generation once its own generations are ready.
 */
#ifndef HANDOFF_RECOVER_H
#define HANDOFF_RECOVER_H

#include <stdbool.h>
#include <stdio.h>

struct config;
struct event_base;
struct recover;

/* Told when an orphan exits. */
typedef void (*recover_changed_fn)(void *arg);

int	 recover_open(struct event_base *base, const struct config *conf,
	    recover_changed_fn changed, void *arg, struct recover **out,
	    char **cause);
void	 recover_drain(struct recover *rec, const struct config *conf);
void	 recover_stop(struct recover *rec, bool now);
bool	 recover_live(const struct recover *rec);
void	 recover_put(void *arg, FILE *fp);
void	 recover_free(struct recover *rec);

#endif
