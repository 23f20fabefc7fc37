/*
 * worker.h: one worker slot of a generation: its process, its readiness
 * and its restarts. The generation decides what a worker's exit means;
 * the worker carries it out.
 */
#ifndef HANDOFF_WORKER_H
#define HANDOFF_WORKER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "parse.h"

struct desc_group;
struct event;
struct event_base;
struct listener;
struct output;
struct pidmap;
struct program_conf;
struct state_rec;
struct state_writer;
struct worker;
struct worker_env;

enum worker_state {
	WORKER_STARTING = 0,	/* spawned, not ready yet */
	WORKER_READY,
	WORKER_BACKOFF,		/* crashed or cannot start; waiting to restart */
	WORKER_STOPPING,	/* sent stop_signal or SIGKILL */
	WORKER_EXITED,		/* exited, not to be restarted */
	WORKER_FAILED,		/* cannot be started (exec failed) */
};

/* What a worker tells its generation, from a timer or a notify message. */
enum worker_event {
	WORKER_EVENT_READY,	/* it became ready */
	WORKER_EVENT_RESTART,	/* its backoff passed: start it again? */
};

/* What the exit of a worker's process came to (worker_reaped). */
enum worker_exit {
	WORKER_EXIT_CARRIED_ON,	/* the MAINPID it announced is the worker now */
	WORKER_EXIT_EXITED,	/* it exited */
};

/* worker_start's and proc_ops.spawn's failures (0: started). */
#define WORKER_NOT_STARTED	(-1)	/* no process: no fd or process left */
#define WORKER_CANNOT_RUN	(-2)	/* its command could not run; reaped */

/* A process a worker started: what the spawner reports. */
struct worker_proc {
	pid_t		 pid;
	int		 output_fd;	/* its stdout+stderr, or -1 */
	int		 wait_status;	/* WORKER_CANNOT_RUN: how it exited */
};

/*
 * The process operations workers use: the real ones (proc_ops_system),
 * or a test's, which start no process and signal none.
 */
struct proc_ops {
	/* Start worker w's process: 0, WORKER_NOT_STARTED or WORKER_CANNOT_RUN. */
	int		 (*spawn)(struct worker *w, struct worker_proc *proc,
			    char **cause);
	/* kill(2): pid < 0 is a process group, sig 0 tests for life. */
	int		 (*kill)(pid_t pid, int sig);
	/* getpgid(2). */
	pid_t		 (*getpgid)(pid_t pid);
	/* Track every process of a generation (descendants.c), or NULL. */
	struct desc_group *(*track)(const char *program, unsigned int number,
			    void (*changed)(void *), void *arg, char **cause);
	/*
	 * Settle pid's start if it is in flight and its process exec'd or
	 * could not (then told before it returns): false while the process
	 * is still on its way to exec. Never waits. NULL: starts are never
	 * in flight.
	 */
	bool		 (*settle)(pid_t pid);
	/*
	 * Whether a spawn now would go at once: false while it would first
	 * wait for an earlier start still in flight (spawn.c's slots); then
	 * wake(arg) is called once it would not, from the event loop. NULL:
	 * a spawn never waits.
	 */
	bool		 (*spawn_ready)(void (*wake)(void *), void *arg);
};

extern const struct proc_ops proc_ops_system;

typedef void (*worker_event_cb)(struct worker *, enum worker_event, void *);

/*
 * How many of a generation's workers have a process, or only a process
 * group left: kept by worker_set_pid and worker_set_pgid as they change,
 * so that the generation need not count its workers at each exit.
 */
struct worker_count {
	int		 procs;		/* with a process of their own (pid) */
	int		 groups;	/* without one, their group not empty
					   yet (pgid) */
};

/* What every worker of one generation shares. */
struct worker_env {
	struct event_base *base;
	const char	*program;
	unsigned int	 number;	/* of the generation */
	struct program_conf *pc;
	struct listener	**listeners;
	size_t		 nlisteners;
	const char	*notify_socket;
	struct desc_group *desc;
	struct pidmap	*pids;		/* pid -> worker, of every generation */
	struct pidmap	*groups;	/* process group -> worker, likewise */
	const struct proc_ops *ops;
	struct worker_count *count;	/* the generation's, or NULL */
	worker_event_cb	 cb;
	void		*cb_arg;
};

struct worker {
	const struct worker_env *env;
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
	pid_t		 output_pid;	/* the process whose output it reads */
	struct event	*timer;		/* ready delay or restart backoff */
	char		*status_text;	/* last STATUS= */
	int		 last_status;	/* last wait status, -1 none */
	char		*last_error;	/* why it could not be restarted, or NULL */
	unsigned int	 start_failures;	/* restarts failed in a row */
	unsigned long long output_dropped;	/* lines over the output budget */
	uint64_t	 listened;	/* listeners the bind() shim said it listens on */
	bool		 addr_in_use;	/* said "address already in use" starting */
	bool		 exec_failed;	/* its process could not exec (in flight) */
	char		*cannot_run;	/* why, or NULL (no memory to say) */
	unsigned int	 exec_wait_ms;	/* ready before its exec: next look */
};

void		 worker_init(struct worker *w, const struct worker_env *env,
		    int index);
void		 worker_free(struct worker *w);
int		 worker_start(struct worker *w, char **cause);
void		 worker_ready(struct worker *w);
void		 worker_notify(struct worker *w, const char *key,
		    const char *value);
int		 worker_unlistened(const struct worker *w);
bool		 worker_reports(const struct program_conf *pc);
enum worker_exit worker_reaped(struct worker *w, int status, char *how,
		    size_t howlen);
void		 worker_exited_running(struct worker *w, int status,
		    const char *how, bool none_ready);
int		 worker_restart(struct worker *w, bool none_ready);
void		 worker_cannot_run(struct worker *w);
void		 worker_note_cannot_run(struct worker *w, const char *why);
void		 worker_ended(struct worker *w);
void		 worker_start_failed(struct worker *w, const char *why,
		    bool none_ready);
void		 worker_clear_failures(struct worker *w);
void		 worker_restart_within(struct worker *w, uint64_t ms);
void		 worker_stop(struct worker *w, int sig);
void		 worker_kill(struct worker *w);
bool		 worker_group_alive(const struct worker *w);
bool		 worker_is_process(const struct worker *w, pid_t pid);
void		 worker_set_pid(struct worker *w, pid_t pid);
void		 worker_set_pgid(struct worker *w, pid_t pgid);
struct worker	*worker_of_group(struct pidmap *groups, pid_t pgid);
void		 worker_cancel_timer(struct worker *w);
void		 worker_flush_output(struct worker *w);
int64_t		 worker_restart_in_ms(const struct worker *w);
const char	*worker_state_name(enum worker_state state);
void		 worker_save(struct worker *w, struct state_writer *wr);
void		 worker_restore(struct worker *w, const struct state_rec *r);
void		 worker_describe_status(int status, char *buf, size_t len);

#define BACKOFF_INITIAL_MS	100
#define BACKOFF_MAX_MS		(30 * 1000)
#define BACKOFF_RESET_MS	(10 * 1000)
#define BACKOFF_NONE_READY_MS	1000	/* the longest wait while none is ready */

#endif
