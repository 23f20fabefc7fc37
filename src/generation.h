/*
 * generation.h: one program's workers started from one config: starting,
 * running, draining, gone.
 */
#ifndef HANDOFF_GENERATION_H
#define HANDOFF_GENERATION_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>
#include <time.h>

#include "descendants.h"
#include "worker.h"

struct config;
struct desc_group;
struct drain_report;
struct event;
struct event_base;
struct listener;
struct listening;
struct pidmap;
struct program;
struct program_conf;
struct proc_ops;
struct record_lines;
struct state;
struct state_rec;
struct state_writer;

enum gen_state {
	GEN_STARTING = 0,	/* workers starting; not all ready yet */
	GEN_RUNNING,		/* every worker became ready: serving */
	GEN_DRAINING,		/* told to stop; waiting for its processes */
	GEN_FAILED,		/* never became ready; being stopped as a
				   drain is (stop_signal, then SIGKILL after
				   drain_timeout) */
	GEN_GONE,		/* no process left */
};

/* What a generation tells its owner. */
enum gen_event {
	GEN_EVENT_READY,	/* every worker is ready */
	GEN_EVENT_FAILED,	/* it cannot become ready; the reason is given */
	GEN_EVENT_GONE,		/* its last process is gone; it may be freed */
	GEN_EVENT_WORKER_READY,	/* one more worker is ready (progress) */
	GEN_EVENT_WORKER_EXITED, /* a worker of a draining generation exited */
	GEN_EVENT_PROBATION,	/* every worker is ready; on probation now */
	GEN_EVENT_SERVING,	/* a worker became ready, or one exited */
};

struct generation;
typedef void (*gen_event_cb)(struct generation *, enum gen_event,
    const char *why, void *arg);

struct generation {
	TAILQ_ENTRY(generation) entry;
	char		*program;	/* the program's name */
	struct program	*prog;		/* the program whose list it is in
					   (program.h), set by who lists it */
	unsigned int	 number;
	enum gen_state	 state;
	struct config	*conf;		/* referenced */
	struct program_conf *pc;	/* in conf */
	struct listener	**listeners;	/* referenced, in program order */
	size_t		 nlisteners;
	struct worker	*workers;
	int		 nworkers;
	struct worker_count count;	/* workers with a process, or only
					   a group, left (kept by worker.c) */
	int		 nready;
	int		 nspawned;	/* workers started so far (slices) */
	int		 held_from;	/* draining: workers from this index on are
					   not told to stop yet (gen_drain_holding) */
	int		 ntold;		/* draining: workers told to stop so far
					   (slices, up to held_from) */
	struct event	*spawner;	/* the next slice of workers to start or
					   to tell to stop */
	bool		 awaits_spawn;	/* in the list of those whose next
					   start waits (proc_ops.spawn_ready) */
	TAILQ_ENTRY(generation) spawn_wait;
	struct worker_env env;		/* what its workers share */
	struct timespec	 started;
	struct timespec	 ready_at;	/* every worker ready (probation began) */
	bool		 on_probation;	/* ready, waiting out pc->probation_ms */
	struct event	*timer;		/* ready_timeout, then drain_timeout */
	struct desc_group *desc;	/* every process of its workers' */
	struct listening *listening;	/* ready = listening: the probe */
	unsigned int	 drained_by;	/* the reload that drains it, 0 none */
	struct timespec	 drained_by_started;	/* when that reload began */
	struct drain_report *drain;	/* how its workers ended, once draining */
	struct record_lines *record_lines;	/* the record's lines of its
					   workers' fds (record.c), one
					   allocation; NULL until written */
	struct event_base *base;
	const char	*notify_socket;
	gen_event_cb	 cb;
	void		*cb_arg;
};
TAILQ_HEAD(generation_list, generation);

struct generation *gen_new(struct event_base *base, struct config *conf,
		    struct program_conf *pc, struct listener **listeners,
		    unsigned int number, const char *notify_socket,
		    const struct proc_ops *ops, struct pidmap *pids,
		    struct pidmap *groups, gen_event_cb cb, void *cb_arg);
int		 gen_start(struct generation *gen, char **cause);
void		 gen_promote(struct generation *gen);
void		 gen_end_probation(struct generation *gen);
void		 gen_drain(struct generation *gen);
void		 gen_drain_holding(struct generation *gen, int held_from);
void		 gen_kill(struct generation *gen);
void		 gen_abandon(struct generation *gen);
void		 gen_free(struct generation *gen);
struct worker	*gen_find_worker(struct generation *gen, pid_t pid);
struct worker	*gen_find_worker_group(struct generation *gen, pid_t pgid);
struct generation *gen_of(const struct worker *w);
bool		 gen_child_exited(struct generation *gen, pid_t pid, int status);
void		 gen_worker_exited(struct generation *gen, struct worker *w,
		    int status);
void		 gen_check_groups(struct generation *gen);
bool		 gen_group_member_exited(struct pidmap *groups, pid_t pgid);
void		 gen_notify(struct generation *gen, struct worker *w,
		    const char *key, const char *value);
int		 gen_live_processes(const struct generation *gen);
size_t		 gen_descendants(const struct generation *gen,
		    enum desc_need need, pid_t *pids, size_t max);
const char	*gen_state_name(enum gen_state state);
void		 gen_save(struct generation *gen, struct state_writer *w);
int		 gen_restore(struct generation *gen, const struct state_rec *r,
		    const struct state *st, char **cause);

/*
 * Workers are started, and told to stop, in slices: every generation
 * together spends at most about this long on it per turn of the event
 * loop, which runs between. A slice takes at least one step, and no
 * further step it would have no time left for at the last step's pace.
 */
#define GEN_SPAWN_SLICE_MS	5

/*
 * A slice tells at most this many workers to stop. Telling is quick, but
 * each worker told soon wakes, shuts down and exits, and its exit comes
 * back to the loop as a notify message, a SIGCHLD and the end of its
 * output: told a few a turn, the exits take the CPU a few at a time and
 * the loop keeps its share (measured: the longest status answer while 1000
 * workers drain on 2 cores went from 60-80 ms to 30-40 ms, the drain took
 * 7% longer).
 */
#define GEN_STOP_SLICE_MAX	4

#endif
