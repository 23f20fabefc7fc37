/* status.h: the supervisor's state as a table or as JSON (`handoff status`). */
#ifndef HANDOFF_STATUS_H
#define HANDOFF_STATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct acceptq;
struct config;
struct evbuffer;
struct guard;
struct health;
struct listener_set;
struct migrate;
struct program_list;

#define STATUS_SCHEMA_VERSION	1

/* How the last reload ended, as status shows it. */
struct reload_outcome {
	bool		 done;		/* a reload has finished */
	bool		 ok;
	char		 message[512];
	time_t		 when;
	/*
	 * From the config read and checked (the reload's start) to took
	 * over or failed; 0 for a reload refused before it started.
	 */
	uint64_t	 duration_us;
	/*
	 * Before that start, from the reload's beginning (its request read,
	 * or SIGHUP; for a queued reload, when it left the queue): reading
	 * the config, checking it against the one in force and what the
	 * start needs (0 for a reload refused before it started, or one that
	 * read no config: a program started again after its socket died).
	 */
	uint64_t	 config_us;
};

/*
 * What status shows, as the supervisor lends it for one rendering: its
 * state and the modules asked about their part (the guard, the health
 * checks, the accept queues). Nothing is changed through it.
 */
struct status_view {
	const struct config	  *conf;
	const char		  *config_path;	/* NULL: no file */
	struct timespec		   started;
	bool			   stopping;
	bool			   reloading;
	const struct reload_outcome *last_reload;
	const struct listener_set *listeners;	/* the set in force */
	const struct program_list *programs;
	const struct migrate	  *migrate;
	const struct guard	  *guard;
	const struct health	  *health;
	const struct acceptq	  *acceptq;
};

void	status_render(const struct status_view *view, bool json,
	    struct evbuffer *out);
void	status_format_age(uint64_t ms, char *buf, size_t len);

#endif
