/* program.c: programs by name and their generations. */
#include "autoconf.h"

#include <stdlib.h>
#include <string.h>

#include "hashmap.h"
#include "program.h"

/* Find a program by name. */
struct program *
program_find(struct program_list *list, const char *name)
{
	struct program *prog;

	TAILQ_FOREACH(prog, list, entry)
		if (strcmp(prog->name, name) == 0)
			return prog;
	return NULL;
}

/* Find a program by name, adding it if it is new; NULL without memory. */
struct program *
program_get(struct program_list *list, const char *name)
{
	return program_get_indexed(list, NULL, name);
}

/*
 * An index of list's programs by name, for a run of program_get_indexed
 * (a reload looks each of its programs up once: without it, a walk of
 * the list each). NULL without memory. It holds no program: free it
 * (hashmap_free) before any program it knows of is freed.
 */
struct hashmap *
program_index(struct program_list *list)
{
	struct hashmap *index;
	struct program *prog;
	size_t n = 0;

	TAILQ_FOREACH(prog, list, entry)
		n++;
	if ((index = hashmap_new(n)) == NULL)
		return NULL;
	TAILQ_FOREACH(prog, list, entry)
		if (hashmap_put(index, prog->name, strlen(prog->name),
		    prog) == -1) {
			hashmap_free(index);
			return NULL;
		}
	return index;
}

/*
 * program_get, looking name up in index (from program_index; NULL: walk
 * the list), which learns of a program added. NULL without memory.
 */
struct program *
program_get_indexed(struct program_list *list, struct hashmap *index,
    const char *name)
{
	struct program *prog;

	prog = index != NULL ? hashmap_get(index, name, strlen(name)) :
	    program_find(list, name);
	if (prog != NULL)
		return prog;
	if ((prog = calloc(1, sizeof(*prog))) == NULL)
		return NULL;
	if ((prog->name = strdup(name)) == NULL ||
	    (index != NULL && hashmap_put(index, prog->name, strlen(name),
	    prog) == -1)) {
		free(prog->name);
		free(prog);
		return NULL;
	}
	prog->next_number = 1;
	TAILQ_INIT(&prog->gens);
	TAILQ_INSERT_TAIL(list, prog, entry);
	return prog;
}

/* Remove a program and free it and its generations (all gone). */
void
program_free(struct program_list *list, struct program *prog)
{
	struct generation *gen;

	while ((gen = TAILQ_FIRST(&prog->gens)) != NULL) {
		TAILQ_REMOVE(&prog->gens, gen, entry);
		gen_free(gen);
	}
	TAILQ_REMOVE(list, prog, entry);
	drain_history_clear(&prog->drained);
	free(prog->name);
	free(prog);
}

/* Tell whether any generation of any program still has processes. */
bool
program_list_has_processes(const struct program_list *list)
{
	const struct program *prog;

	TAILQ_FOREACH(prog, list, entry)
		if (!TAILQ_EMPTY(&prog->gens))
			return true;
	return false;
}
