/*
 * acceptq.h: a listener's accept queue and backlog as the kernel has them:
 * a check once after each takeover that the new generation accepts, and
 * what status shows of each TCP listener.
 */
#ifndef HANDOFF_ACCEPTQ_H
#define HANDOFF_ACCEPTQ_H

#include <stdbool.h>

struct acceptq;
struct event_base;
struct listener;
struct program_list;
struct state;
struct state_writer;

/* What status shows of a listener's queue (acceptq_view). */
struct acceptq_view {
	bool		 known;		/* a TCP listener the kernel told about */
	unsigned int	 queued;	/* connections waiting to be accepted */
	unsigned int	 backlog;	/* the queue's limit, as last listen() set */
	char		 queue_warning[512];	/* "" if none */
	char		 backlog_warning[512];	/* "" if none */
};

/* After a takeover: the first look, and the second that confirms it. */
#define ACCEPTQ_FIRST_MS	2500
#define ACCEPTQ_CHECK_MS	3000

struct acceptq	*acceptq_new(struct event_base *base,
		    struct program_list *programs);
void		 acceptq_free(struct acceptq *aq);
void		 acceptq_takeover(struct acceptq *aq);
void		 acceptq_view(const struct acceptq *aq, const struct listener *l,
		    struct acceptq_view *v);
void		 acceptq_save(const struct acceptq *aq, struct state_writer *w);
void		 acceptq_restore(struct acceptq *aq, const struct state *st);

#endif
