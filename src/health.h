/*
 * health.h: notice at once when a listener is shut down by a process that
 * holds a copy of it, and repair it.
 */
#ifndef HANDOFF_HEALTH_H
#define HANDOFF_HEALTH_H

#include <stdbool.h>

struct event_base;
struct health;
struct listener;
struct listener_set;

/* What became of a listener found shut down. */
enum health_result {
	HEALTH_RELISTENED,	/* listens again: every copy of it works again */
	HEALTH_REBOUND,		/* a fresh socket: only new workers get it */
	HEALTH_FAILED,		/* still shut down; tried again later */
};

/* slot: the worker slot of a per-slot listener's socket, else -1. */
typedef void (*health_cb)(struct listener *, long slot, enum health_result,
    const char *why, void *arg);

struct health	*health_open(struct event_base *base, health_cb cb, void *arg,
		    char **cause);
void		 health_close(struct health *h);
void		 health_stop(struct health *h);
void		 health_watch(struct health *h, const struct listener_set *set);
void		 health_describe(const struct health *h, const struct listener *l,
		    unsigned int *repairs, bool *down);

#endif
