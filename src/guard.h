/*
 * guard.h: the port-hijack guard. It notices a socket listening on one of
 * the supervisor's listener addresses, or on one a self-mode program binds,
 * that belongs neither to the supervisor nor to its workers (nor their
 * descendants), and a listener whose SO_REUSEPORT a worker turned on; it
 * logs them and shows them in status. Functions are guard_*.
 */
#ifndef HANDOFF_GUARD_H
#define HANDOFF_GUARD_H

#include <stdint.h>

struct evbuffer;
struct event_base;
struct guard;
struct listener;
struct listener_set;
struct pidmap;
struct program;
struct program_conf;
struct program_list;

struct guard	*guard_new(struct event_base *base,
		    const struct listener_set *set, struct program_list *programs,
		    struct pidmap *pids, const char *interval, char **cause);
void		 guard_free(struct guard *g);
void		 guard_stop(struct guard *g);
void		 guard_check(struct guard *g);
void		 guard_check_soon(struct guard *g);
void		 guard_check_within(struct guard *g, uint64_t ms);
void		 guard_check_hurry(struct guard *g);
void		 guard_status_json(const struct guard *g,
		    const struct listener *l, struct evbuffer *out);
void		 guard_status_text(const struct guard *g,
		    const struct listener *l, struct evbuffer *out);
void		 guard_status_self_json(const struct guard *g,
		    const struct program *prog, const struct program_conf *pc,
		    struct evbuffer *out);
void		 guard_status_self_text(const struct guard *g,
		    const struct program_list *programs, struct evbuffer *out);

#define GUARD_INTERVAL_MS	(10 * 1000)	/* between looks, by default */
#define GUARD_MAX_FOUND		64	/* foreign holders kept and shown */
#define GUARD_AFTER_RELOAD_MS	1000	/* the look after a reload's commit
					   waits this long at most for its
					   drain to end */

#endif
