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
#include <sys/time.h>
#include <time.h>

struct event_base;
struct desc_group;

/* How descendants are tracked; DESC_NONE before desc_init. */
enum desc_method {
	DESC_NONE = 0,
	DESC_CGROUP,		/* a cgroup v2 per generation */
	DESC_PROC,		/* fork and exit events of the proc connector */
	DESC_SUBREAPER,		/* /proc children lists and orphans reparented to us */
};

/*
 * How up to date the members desc_group_pids gives must be (subreaper: how
 * old a walk of /proc may be; the other ways are always up to date).
 */
enum desc_need {
	DESC_RECENT,		/* a view (status, probes): some ms old will do */
	DESC_FRESH,		/* to act on them: walked in this turn of the loop */
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
int		 desc_group_dir_fd(const struct desc_group *g);
void		 desc_group_add(struct desc_group *g, pid_t pid);
size_t		 desc_group_pids(struct desc_group *g, enum desc_need need,
		    pid_t *pids, size_t max);
bool		 desc_group_empty(struct desc_group *g);
void		 desc_group_kill(struct desc_group *g);
unsigned long	 desc_scans(void);

/*
 * For tests: the turn of the event loop (two calls in one turn give the
 * same), the monotonic clock and the CPU time; NULL: the system's.
 */
typedef void (*desc_clock_fn)(struct timeval *turn, struct timespec *mono,
		    struct timespec *cpu);
void		 desc_set_clock(desc_clock_fn fn);

#endif
