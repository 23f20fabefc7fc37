/*
 * descendants.h: every process a generation's workers started, also those
 * that left the worker's process group (setsid, double fork): tracked in a
 * cgroup v2 of the generation's own, by the kernel's proc connector, or by
 * what the supervisor sees as their subreaper. Functions are desc_*.
 */
#ifndef HANDOFF_DESCENDANTS_H
#define HANDOFF_DESCENDANTS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct event_base;
struct desc_group;

/* How descendants are tracked; DESC_NONE before desc_init. */
enum desc_method {
	DESC_NONE = 0,
	DESC_CGROUP,		/* a cgroup v2 per generation */
	DESC_PROC,		/* fork and exit events of the proc connector */
	DESC_SUBREAPER,		/* /proc children lists and orphans reparented to us */
};

/* Called from the event loop when a group may have emptied. */
typedef void (*desc_changed_cb)(void *arg);

int		 desc_init(struct event_base *base, const char *want,
		    char **cause);
int		 desc_adopt(const char *top);
void		 desc_shutdown(void);
enum desc_method desc_method(void);
const char	*desc_method_name(enum desc_method method);
const char	*desc_cgroup_dir(void);

struct desc_group *desc_group_new(const char *program, unsigned int number,
		    desc_changed_cb cb, void *arg, char **cause);
void		 desc_group_free(struct desc_group *g);
int		 desc_group_procs_fd(const struct desc_group *g);
void		 desc_group_add(struct desc_group *g, pid_t pid);
size_t		 desc_group_pids(struct desc_group *g, pid_t *pids, size_t max);
bool		 desc_group_empty(struct desc_group *g);
void		 desc_group_kill(struct desc_group *g);

#endif
