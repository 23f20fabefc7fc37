/*
 * loaded.h: a config loaded from text for a unit test, its listeners
 * bound, and all of it removed again.
 *
 *	static struct loaded l;
 *	pc = loaded_program(&l, "[listener web]\n...[program app]\n...", "app");
 *	...
 *	loaded_free(&l);	(a suite's .fini)
 */
#ifndef HANDOFF_TEST_LOADED_H
#define HANDOFF_TEST_LOADED_H

#include "config.h"
#include "listener.h"

struct loaded {
	char			*dir;	/* the config's directory (made if NULL) */
	struct config		*conf;
	struct listener_set	 set;	/* its listeners, bound */
};

struct program_conf *loaded_program(struct loaded *l, const char *text,
		    const char *program);
void		 loaded_free(struct loaded *l);

#endif
