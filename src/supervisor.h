/*
 * supervisor.h: owns the listeners, the programs and their generations;
 * handles signals, reloads and stopping.
 */
#ifndef HANDOFF_SUPERVISOR_H
#define HANDOFF_SUPERVISOR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>

#include "generation.h"
#include "listener.h"
#include "migrate.h"
#include "program.h"
#include "reload.h"
#include "status.h"

struct acceptq;
struct config;
struct event;
struct event_base;
struct evbuffer;
struct supervisor;
struct guard;
struct health;
struct notify;
struct pidmap;
struct record;
struct recover;
struct reuseport;

struct control_ops;
struct state;

/*
 * An upgrade in place (upgrade.c), given to supervisor_run: how to exec
 * a new image, and, in the new image, how to restore what the old one
 * ran. NULL: upgrades are refused.
 */
struct supervisor_upgrade {
	const struct state *restore;	/* restoring from it, or NULL */
	/* The control and notify sockets, back from the state. */
	int	(*restore_sockets)(struct supervisor *sup,
		    const struct control_ops *ops,
		    void (*notify_cb)(pid_t, pid_t, const char *, const char *,
		    void *),
		    char **cause);
	/* The listeners, programs, generations and workers. */
	int	(*restore_state)(struct supervisor *sup, char **cause);
	/* A restore failed: exec the old image back (returns if it cannot). */
	void	(*restore_failed)(struct supervisor *sup, const char *why);
	/* Restored: signals unblocked, the client told. */
	void	(*restore_done)(struct supervisor *sup);
	/* Exec sup->upgrade_to; returns (nothing changed) if it cannot. */
	void	(*exec)(struct supervisor *sup);
};

/* Renders the supervisor's state for `handoff status` (status.c). */
typedef void (*supervisor_status_fn)(const struct status_view *, bool json,
    struct evbuffer *out);

struct supervisor {
	struct event_base *base;
	char		*config_path;	/* NULL when built from the command line */
	struct config	*conf;		/* the config in force */
	size_t		 config_heap;	/* bytes the last reload's config took */
	struct confwatch *confwatch;	/* tells when config_path is written */
	struct config	*prepared;	/* config_path read once written, or NULL */
	size_t		 prepared_heap;	/* bytes reading it took */
	struct listener_set listeners;	/* the listeners of conf */
	struct program_list programs;
	struct pidmap	*pids;		/* worker pid -> struct worker */
	struct pidmap	*groups;	/* worker process group -> struct worker */
	pid_t		 peek_pid;	/* the child about to be reaped, not a */
	pid_t		 peek_pgid;	/* worker's own process: its group, or -1 */
	bool		 check_groups;	/* a reaped child's group is not known */
	struct notify	*notify;
	struct health	*health;	/* listeners shut down by a worker */
	struct guard	*guard;		/* foreign listeners on our addresses */
	struct migrate	 migrate;	/* connection migration, once a mode needs it */
	struct reuseport *reuseport;	/* reuseport mode's steering and retiring */
	struct acceptq	*acceptq;	/* do the generations that took over accept? */
	struct control	*control;
	struct timespec	 started;
	struct reload	*reload;	/* in progress, or NULL */
	struct reload_env reload_env;	/* what reloads start generations with */
	unsigned int	 reload_seq;	/* id of the last reload begun */
	struct reload_queue reload_queue;	/* reloads asked for during one */
	bool		 stopping;
	bool		 stop_now;
	int		 exit_code;
	struct reload_outcome last_reload;
	struct event	*sig_hup, *sig_term, *sig_int, *sig_chld, *sig_usr2;
	struct event	*cleanup;	/* frees gone generations, deferred */
	struct event	*stop_timer;	/* `handoff stop --timeout` */
	struct event	*stale_timer;	/* next try off a dead socket */
	bool		 stale_due;	/* stale_timer fired */
	char		*pidfile;	/* written by us, removed at exit */
	struct record	*record;	/* CONTROL.workers: our workers */
	struct recover	*recover;	/* a dead supervisor's workers we drain */
	supervisor_status_fn render_status;	/* given by the caller */
	const struct supervisor_upgrade *upgrade;	/* NULL: none */
	char		*upgrade_to;	/* an upgrade asked for: the binary */
	char		*self_exe;	/* the binary this image runs */
};

int	supervisor_run(struct config *conf, const char *config_path,
	    supervisor_status_fn render_status,
	    const struct supervisor_upgrade *upgrade);
int	supervisor_request_upgrade(struct supervisor *sup, const char *path,
	    char **cause);
bool	supervisor_busy(const struct supervisor *sup, char **cause);
void	supervisor_reload(struct supervisor *sup, const char *only);
void	supervisor_stop(struct supervisor *sup, bool now);

#endif
