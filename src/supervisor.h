/*
 * supervisor.h: owns the listeners, the programs and their generations;
 * handles signals, reloads and stopping.
 */
#ifndef HANDOFF_SUPERVISOR_H
#define HANDOFF_SUPERVISOR_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/queue.h>

#include "generation.h"
#include "listener.h"

struct config;
struct event;
struct event_base;
struct health;
struct notify;

/* A program by name; it outlives reloads, its generations come and go. */
struct program {
	TAILQ_ENTRY(program) entry;
	char		*name;
	unsigned int	 next_number;	/* of its next generation */
	struct generation_list gens;	/* every generation with processes */
	struct generation *current;	/* the one serving (GEN_RUNNING) */
	struct generation *starting;	/* the one a reload is starting */
	unsigned int	 stale_below;	/* generations below hold a dead socket */
	unsigned int	 stale_tries;	/* new generations started for that */
};
TAILQ_HEAD(program_list, program);

/* A reload (or the first start) in progress: the new state, not yet in use. */
struct reload {
	unsigned int	 id;		/* control clients follow it by id */
	char		*only;		/* reload just this program, or NULL */
	struct config	*conf;
	struct listener_set listeners;
	struct timespec	 started;
	int		 pending;	/* generations not ready yet */
	bool		 initial;
};

/* What the last reload came to, for logs and status. */
struct reload_outcome {
	bool		 done;		/* a reload has finished */
	bool		 ok;
	char		 message[512];
	time_t		 when;
	uint64_t	 duration_ms;
};

struct supervisor {
	struct event_base *base;
	char		*config_path;	/* NULL when built from the command line */
	struct config	*conf;		/* the config in force */
	struct listener_set listeners;	/* the listeners of conf */
	struct program_list programs;
	struct notify	*notify;
	struct health	*health;	/* listeners shut down by a worker */
	struct control	*control;
	struct timespec	 started;
	struct reload	*reload;	/* in progress, or NULL */
	unsigned int	 reload_seq;	/* id of the last reload begun */
	bool		 reload_queued;
	char		*queued_only;	/* the queued reload's program, NULL all */
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
};

int	supervisor_run(struct config *conf, const char *config_path);
int	supervisor_check_supported(const struct config *conf, char **cause);
void	supervisor_reload(struct supervisor *sup, const char *only);
int	supervisor_request_reload(struct supervisor *sup, const char *only,
	    char **cause);
void	supervisor_stop(struct supervisor *sup, bool now);
void	supervisor_stop_within(struct supervisor *sup, int64_t ms);

#endif
