/*
 * reload.h: a reload's steps. The new state is built beside the old: the
 * config to run, which listeners to keep and which to bind, a new
 * generation of every program it starts. Committed once all are ready
 * (the new take over, the old drain) or aborted (the new are killed,
 * nothing that ran changes), or cancelled by a stop (the stop ends the
 * new with the old). The first start is a reload from nothing.
 * Which generation events are the reload's, when it commits, and how
 * reloads asked for meanwhile coalesce are decided here too.
 */
#ifndef HANDOFF_RELOAD_H
#define HANDOFF_RELOAD_H

#include <stdbool.h>
#include <sys/types.h>
#include <time.h>

#include "generation.h"
#include "listener.h"

struct config;
struct event_base;
struct pidmap;
struct program_list;
struct proc_ops;

/* A reload (or the first start) in progress: the new state, not yet in use. */
struct reload {
	unsigned int	 id;		/* control clients follow it by id */
	char		*only;		/* reload just this program, or NULL */
	struct config	*conf;
	struct listener_set listeners;
	/*
	 * listeners are the set in force again, the same sockets, names and
	 * options (listener_set_same): at the commit that set stays, with
	 * its name index, and this one is dropped.
	 */
	bool		 listeners_unchanged;
	struct timespec	 started;
	uint64_t	 config_us;	/* status.h's reload_outcome */
	int		 pending;	/* generations not ready yet */
	bool		 initial;
};

/*
 * Reloads asked for while one is in progress, to run after it: one of
 * every program as soon as a request asked for all (it covers the rest),
 * else one reload of each program asked for, in the order first asked,
 * a program asked for again waiting in its place.
 */
struct reload_queue {
	bool		 queued;
	bool		 all;		/* a reload of every program */
	char		**programs;	/* else these, in order */
	size_t		 nprograms;
};

/* What a reload's generations are started with, and whom it tells. */
struct reload_env {
	struct event_base *base;
	const struct proc_ops *ops;
	struct pidmap	*pids;
	struct pidmap	*groups;	/* process group -> worker */
	/* The notify socket workers running as uid send to. */
	const char	*(*notify_path)(void *arg, uid_t uid);
	/* A progress line for those following reload id. */
	void		 (*progress)(void *arg, unsigned int id,
			    const char *line);
	gen_event_cb	 gen_cb;	/* events of the generations it makes */
	/*
	 * Drain old, which next (NULL: none) replaces; NULL: gen_drain.
	 * The new generations are running, and the listeners committed.
	 */
	void		 (*drain)(void *arg, struct generation *old,
			    struct generation *next);
	/*
	 * Reload id's new generations took over and its progress says so;
	 * the old ones are not told to drain yet. NULL: nothing to do.
	 */
	void		 (*took_over)(void *arg, unsigned int id);
	void		*arg;
};

int		 reload_config(const struct config *now, struct config **conf,
		    const char *only, char **note, char **cause);
struct reload	*reload_new(struct config *conf, const char *only,
		    bool initial, unsigned int id);
void		 reload_free(struct reload *r);
int		 reload_bind(struct reload *r, const struct listener_set *now,
		    struct program_list *progs, char **cause);
long		 reload_fds_needed(const struct reload *r, long *nworkers);
int		 reload_start(struct reload *r, struct program_list *progs,
		    const struct reload_env *env, char **cause);
int		 reload_commit(struct reload *r, struct program_list *progs,
		    const struct reload_env *env, char *summary, size_t len);
bool		 reload_take_listeners(struct reload *r,
		    struct listener_set *in_force);
void		 reload_abort(struct reload *r, struct program_list *progs);
void		 reload_cancel(struct reload *r, struct program_list *progs);
bool		 reload_owns(const struct reload *r,
		    const struct generation *gen);
bool		 reload_gen_ready(struct reload *r,
		    const struct generation *gen);
bool		 reload_queue_add(struct reload_queue *q, const char *only);
bool		 reload_queue_take(struct reload_queue *q, char **only);
void		 reload_queue_clear(struct reload_queue *q);
uid_t		 reload_worker_uid(const struct program_conf *pc);

#endif
