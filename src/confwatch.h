/*
 * confwatch.h: tell when the config file is written, so that the
 * supervisor reads and checks it before the reload that follows asks.
 */
#ifndef HANDOFF_CONFWATCH_H
#define HANDOFF_CONFWATCH_H

#include <stdbool.h>

struct event_base;
struct confwatch;

typedef void (*confwatch_fn)(void *arg);

struct confwatch *confwatch_new(struct event_base *base, const char *path,
		    confwatch_fn written, void *arg, char **cause);
bool		 confwatch_lost(const struct confwatch *cw);
void		 confwatch_free(struct confwatch *cw);

#endif
