/*
 * pidmap.h: a hash table from process ids to what they belong to, so that
 * finding the worker of a reaped child or of a notify message's sender
 * takes the same time with 1 worker as with 10,000.
 */
#ifndef HANDOFF_PIDMAP_H
#define HANDOFF_PIDMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct pidmap;

/* Told of each pid put in (added) or taken out of a map. */
typedef void (*pidmap_observer)(void *arg, pid_t pid, bool added);

struct pidmap	*pidmap_new(void);
void		 pidmap_free(struct pidmap *m);
int		 pidmap_put(struct pidmap *m, pid_t pid, void *value);
void		*pidmap_get(const struct pidmap *m, pid_t pid);
void		 pidmap_del(struct pidmap *m, pid_t pid, const void *value);
size_t		 pidmap_count(const struct pidmap *m);
void		 pidmap_fit(struct pidmap *m);
size_t		 pidmap_slots(const struct pidmap *m);
int		 pidmap_incomplete(const struct pidmap *m);
void		 pidmap_observe(struct pidmap *m, pidmap_observer fn, void *arg);

#endif
