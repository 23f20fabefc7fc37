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

struct config;
struct desc_group;
struct event;
struct event_base;
struct listener;
struct output;
struct program_conf;

enum gen_state {
	GEN_STARTING = 0,	/* workers starting; not all ready yet */
	GEN_RUNNING,		/* every worker became ready: serving */
	GEN_DRAINING,		/* told to stop; waiting for its processes */
	GEN_FAILED,		/* never became ready; being killed */
	GEN_GONE,		/* no process left */
};

enum worker_state {
	WORKER_STARTING = 0,	/* spawned, not ready yet */
	WORKER_READY,
	WORKER_BACKOFF,		/* crashed or cannot start; waiting to restart */
	WORKER_STOPPING,	/* sent stop_signal or SIGKILL */
	WORKER_EXITED,		/* exited, not to be restarted */
	WORKER_FAILED,		/* cannot be started (exec failed) */
};

/* What a generation tells its owner. */
enum gen_event {
	GEN_EVENT_READY,	/* every worker is ready */
	GEN_EVENT_FAILED,	/* it cannot become ready; the reason is given */
	GEN_EVENT_GONE,		/* its last process is gone; it may be freed */
	GEN_EVENT_WORKER_READY,	/* one more worker is ready (progress) */
	GEN_EVENT_WORKER_EXITED, /* a worker of a draining generation exited */
	GEN_EVENT_PROBATION,	/* every worker is ready; on probation now */
};

struct generation;
typedef void (*gen_event_cb)(struct generation *, enum gen_event,
    const char *why, void *arg);

struct worker {
	struct generation *gen;
	int		 index;
	pid_t		 pid;		/* 0 when not running */
	pid_t		 pgid;		/* its process group, kept until empty */
	pid_t		 mainpid;	/* MAINPID= the worker announced, or 0 */
	enum worker_state state;
	struct timespec	 started;	/* monotonic, of the current process */
	unsigned int	 restarts;
	uint64_t	 backoff_ms;	/* delay before the next restart */
	struct timespec	 restart_at;	/* monotonic, while in backoff */
	struct output	*output;
	struct event	*timer;		/* ready delay or restart backoff */
	char		*status_text;	/* last STATUS= */
	int		 last_status;	/* last wait status, -1 none */
	char		*last_error;	/* why it could not be restarted, or NULL */
	unsigned int	 start_failures;	/* restarts failed in a row */
	unsigned long long output_dropped;	/* lines over the output budget */
};

struct generation {
	TAILQ_ENTRY(generation) entry;
	char		*program;	/* the program's name */
	unsigned int	 number;
	enum gen_state	 state;
	struct config	*conf;		/* referenced */
	struct program_conf *pc;	/* in conf */
	struct listener	**listeners;	/* referenced, in program order */
	size_t		 nlisteners;
	struct worker	*workers;
	int		 nworkers;
	int		 nready;
	struct timespec	 started;
	struct timespec	 ready_at;	/* every worker ready (probation began) */
	bool		 on_probation;	/* ready, waiting out pc->probation_ms */
	struct event	*timer;		/* ready_timeout, then drain_timeout */
	struct desc_group *desc;	/* every process of its workers' */
	unsigned int	 drained_by;	/* the reload that drains it, 0 none */
	struct timespec	 drained_by_started;	/* when that reload began */
	struct event_base *base;
	const char	*notify_socket;
	gen_event_cb	 cb;
	void		*cb_arg;
};
TAILQ_HEAD(generation_list, generation);

struct generation *gen_new(struct event_base *base, struct config *conf,
		    struct program_conf *pc, struct listener **listeners,
		    unsigned int number, const char *notify_socket,
		    gen_event_cb cb, void *cb_arg);
int		 gen_start(struct generation *gen, char **cause);
void		 gen_promote(struct generation *gen);
void		 gen_end_probation(struct generation *gen);
void		 gen_drain(struct generation *gen);
void		 gen_kill(struct generation *gen, bool failed);
void		 gen_free(struct generation *gen);
struct worker	*gen_find_worker(struct generation *gen, pid_t pid);
struct worker	*gen_find_worker_group(struct generation *gen, pid_t pgid);
bool		 gen_child_exited(struct generation *gen, pid_t pid, int status);
void		 gen_check_groups(struct generation *gen);
void		 gen_notify(struct generation *gen, struct worker *w,
		    const char *key, const char *value);
int		 gen_live_processes(const struct generation *gen);
size_t		 gen_descendants(struct generation *gen, pid_t *pids, size_t max);
int64_t		 gen_restart_in_ms(const struct worker *w);
const char	*gen_state_name(enum gen_state state);
void		 gen_describe_status(int status, char *buf, size_t len);
const char	*worker_state_name(enum worker_state state);
uint64_t	 elapsed_ms(const struct timespec *since);

#define BACKOFF_INITIAL_MS	100
#define BACKOFF_MAX_MS		(30 * 1000)
#define BACKOFF_RESET_MS	(10 * 1000)
#define BACKOFF_NONE_READY_MS	1000	/* the longest wait while none is ready */

#endif
