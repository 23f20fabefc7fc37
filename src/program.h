/*
 * program.h: a program by name, with its generations: the one serving,
 * the one a reload is starting, and those draining. It outlives reloads.
 */
#ifndef HANDOFF_PROGRAM_H
#define HANDOFF_PROGRAM_H

#include <stdbool.h>
#include <sys/queue.h>

#include "drain_report.h"
#include "generation.h"

struct program {
	TAILQ_ENTRY(program) entry;
	char		*name;
	unsigned int	 next_number;	/* of its next generation */
	struct generation_list gens;	/* every generation with processes */
	struct generation *current;	/* the one serving (GEN_RUNNING) */
	struct generation *starting;	/* the one a reload is starting */
	struct generation *replaced;	/* the one a commit replaced, until
					   reload_commit tells it to drain */
	unsigned int	 stale_below;	/* generations below hold a dead socket */
	unsigned int	 stale_tries;	/* new generations started for that */
	struct drain_history drained;	/* how its last gone generations drained */
};
TAILQ_HEAD(program_list, program);

struct hashmap;

struct program	*program_find(struct program_list *list, const char *name);
struct program	*program_get(struct program_list *list, const char *name);
struct hashmap	*program_index(struct program_list *list);
struct program	*program_get_indexed(struct program_list *list,
		    struct hashmap *index, const char *name);
void		 program_free(struct program_list *list, struct program *prog);
bool		 program_list_has_processes(const struct program_list *list);

#endif
