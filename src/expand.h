/*
 * expand.h: the %-escapes of command, env and directory: %p the program's
 * name, %g the generation number, %w the worker index, %% a percent sign.
 */
#ifndef HANDOFF_EXPAND_H
#define HANDOFF_EXPAND_H

/* What the escapes stand for, for one worker. */
struct expand_vars {
	const char	*program;	/* %p */
	unsigned int	 generation;	/* %g */
	int		 worker;	/* %w */
};

int	 expand_check(const char *text, char *bad);
char	*expand_string(const char *text, const struct expand_vars *vars);
char	**expand_argv(char *const *argv, const struct expand_vars *vars);

#endif
