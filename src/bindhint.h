/*
 * bindhint.h: a worker that exits before ready saying "address already
 * in use" binds its listener's address itself: what to tell its operator.
 */
#ifndef HANDOFF_BINDHINT_H
#define HANDOFF_BINDHINT_H

#include <stdbool.h>
#include <stddef.h>

struct listener;
struct program_conf;

bool	 bindhint_matches(const char *line, size_t len);
void	 bindhint_describe(const struct program_conf *pc,
	    struct listener *const *listeners, size_t nlisteners, char *buf,
	    size_t len);

#endif
