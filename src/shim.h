/*
 * shim.h: the bind() shim (libhandoff-preload.so, src/preload/) from the
 * supervisor's side: where it is, and whether a program's command can
 * load it (`preload = yes`). Functions are shim_*.
 */
#ifndef HANDOFF_SHIM_H
#define HANDOFF_SHIM_H

#include <stdbool.h>
#include <stddef.h>

struct config;
struct config_msgs;
struct program_conf;

#define SHIM_NAME	"libhandoff-preload.so"

/* What shim_inspect found out about a command. */
enum shim_verdict {
	SHIM_OK = 0,
	SHIM_WARN,	/* it may work; the text says why it may not */
	SHIM_REFUSE,	/* the shim cannot reach it; the text says why */
};

const char	*shim_path(char **cause);
enum shim_verdict shim_inspect(const char *command, const char *shim,
		    const struct program_conf *pc, char *why, size_t len);
int		 shim_check_config(const struct config *conf, const char *only,
		    bool probe_users, struct config_msgs *msgs);

#endif
