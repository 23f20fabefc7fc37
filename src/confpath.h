/*
 * confpath.h: where a config and its supervisor's files are, without
 * reading the config (see confpath.c).
 */
#ifndef HANDOFF_CONFPATH_H
#define HANDOFF_CONFPATH_H

#include <stdbool.h>
#include <stdio.h>
#include <sys/stat.h>

#define CONFIG_NAME_MAX		64		/* a section's or supervisor's name */
#define CONFIG_MAX_BYTES	(1024 * 1024)	/* a config file's size */
#define CONFIG_MAX_TEXT		"1 MiB"

const char	*config_default_path(void);
void		 config_default_paths(const char *name, char **control,
		    char **pidfile);
bool		 config_valid_name(const char *name);
FILE		*config_open(const char *path, char **text, const char **why,
		    int *err, struct stat *file);
void		 config_open_error(const char *why, int err, char *buf,
		    size_t len);
int		 config_peek_control(const char *path, char **control,
		    char **cause);

#endif
