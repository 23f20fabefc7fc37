/*
 * merge.h: the config in force after a reload of one program.
 */
#ifndef HANDOFF_MERGE_H
#define HANDOFF_MERGE_H

struct config;

struct config	*merge_program(const struct config *current,
		    const struct config *fresh, const char *name, char **cause);

#endif
