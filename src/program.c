/* program.c: programs by name and their generations. */
#include "autoconf.h"

#include <stdlib.h>
#include <string.h>

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
	struct program *prog = program_find(list, name);

	if (prog != NULL)
		return prog;
	if ((prog = calloc(1, sizeof(*prog))) == NULL)
		return NULL;
	if ((prog->name = strdup(name)) == NULL) {
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
