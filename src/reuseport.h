/*
 * reuseport.h: reuseport mode. Each worker slot of a program has its own
 * SO_REUSEPORT socket on each of the program's TCP and UDP listeners
 * (listener.c keeps them, slot i for worker i of every generation). This
 * module decides which slots serve and steers the kernel's choice to
 * them (cbpf.c); retires the slots a shrink leaves behind without losing
 * what waits on them; moves the queue of a slot whose worker died to the
 * others (with connection migration); and closes sockets no worker
 * needs any more.
 */
#ifndef HANDOFF_REUSEPORT_H
#define HANDOFF_REUSEPORT_H

struct event_base;
struct generation;
struct migrate;
struct program_list;
struct reuseport;

struct reuseport *reuseport_new(struct event_base *base,
		    struct program_list *programs, const struct migrate *migrate);
void		 reuseport_free(struct reuseport *rp);
void		 reuseport_changed(struct reuseport *rp);
void		 reuseport_steer(struct reuseport *rp);
void		 reuseport_handover(struct reuseport *rp, struct generation *old,
		    struct generation *next);
void		 reuseport_forget(struct reuseport *rp, struct generation *gen);
void		 reuseport_trim(struct reuseport *rp);

/* How often a retiring slot's queue is looked at, and for how long empty. */
#define REUSEPORT_RETIRE_POLL_MS	10
#define REUSEPORT_RETIRE_QUIET_MS	20

#endif
