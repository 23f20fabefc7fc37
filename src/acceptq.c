/*
 * acceptq.c: does the generation that took over accept from the sockets
 * it was given, and with the backlog configured?
 *
 * A server that ignores the socket handoff gave it (it binds another port,
 * or waits on a file descriptor it never got) is ready by its own account
 * while its listener's accept queue fills and nobody serves it. After each
 * takeover, two one-shot timers look at the accept queue of every TCP and
 * unix stream listener the running generations serve (TCP_INFO on a TCP
 * listener: tcpi_unacked is the queue, tcpi_sacked its limit; unix_diag's
 * UNIX_DIAG_RQLEN on a unix one, sockdiag.c): at ACCEPTQ_FIRST_MS
 * and at ACCEPTQ_CHECK_MS; nothing runs while idle.
 *
 * A queue's length does not tell whether it is served: a busy server
 * keeps its queue as full as one that accepts nothing. So the takeover
 * names the connections waiting longest in each queue (sockdiag.c: a TCP
 * connection by its socket cookie, a unix one by its client's socket), and
 * the queue was served if any of them no longer waits: the queue is FIFO,
 * so the oldest go first. A queue empty at the takeover is named at the
 * first look and judged at the second. One whose named connections all
 * still wait at both looks is warned about. One that leaves the queue
 * unaccepted (a TCP client's reset, a unix client that closes) counts as
 * served: the check errs towards silence. Where the kernel names none (a
 * unix queue longer than a page of them, or whose clients all closed
 * theirs, or no sock_diag), the length alone decides: a queue that is not
 * empty and did not shrink from the takeover to either look is warned
 * about.
 *
 * The same look tells the listener's real backlog: a worker that calls
 * listen() on its socket sets its own (Node 511, gunicorn 2048), below the
 * configured one. Status shows both, live.
 */
#include "autoconf.h"

#include <event2/event.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "acceptq.h"
#include "addr.h"
#include "generation.h"
#include "listener.h"
#include "log.h"
#include "loopstat.h"
#include "parse.h"
#include "program.h"
#include "sockdiag.h"
#include "state.h"

#define ACCEPTQ_MAX	64	/* listeners looked at after a takeover */

/* A listener looked at after a takeover, by name. */
struct acceptq_look {
	char		*name;
	unsigned int	 queued;	/* at the last look */
	bool		 suspect;	/* not empty, not shrinking so far */
	bool		 warned;	/* found unserved */
	bool		 named;		/* the kernel named its connections */
	uint64_t	 waiting[SOCKDIAG_OLDEST];	/* named: the longest
					   waiting at the takeover */
	size_t		 nwaiting;
};

struct acceptq {
	struct event_base *base;
	struct program_list *programs;
	struct event	*timer;
	struct timespec	 due;		/* monotonic, when the timer fires */
	bool		 confirming;	/* the second look is next */
	struct acceptq_look looks[ACCEPTQ_MAX];
	size_t		 nlooks;
};

/*
 * The accept queue and backlog of a TCP or unix stream listener, and (if
 * waiting is not NULL) the connections waiting in it as far as the kernel
 * names them: 0, or -1 if not known.
 */
static int
acceptq_read(const struct listener *l, unsigned int *queued,
    unsigned int *backlog, struct sockdiag_waiting *waiting)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	int fd;

	if ((l->addr.kind != ADDR_TCP && l->addr.kind != ADDR_UNIX_STREAM) ||
	    listener_per_slot(l) || listener_nsockets(l) == 0 ||
	    (fd = listener_socket_fd(l, 0)) == -1)
		return -1;
	if (l->addr.kind == ADDR_UNIX_STREAM)
		return sockdiag_unix_queue(fd, queued, backlog, waiting);
	memset(&ti, 0, sizeof(ti));
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == -1)
		return -1;
	*queued = ti.tcpi_unacked;
	*backlog = ti.tcpi_sacked;
	if (waiting == NULL)
		return 0;
	if (*queued == 0) {
		/*
		 * Nothing waits: no need to ask inet_diag, whose dump walks
		 * the kernel's whole table of connections (a millisecond or
		 * more, per listener, at each takeover).
		 */
		waiting->still = waiting->noldest = 0;
		waiting->named = true;
		return 0;
	}
	(void)sockdiag_tcp_waiting(fd, waiting);	/* named or not */
	return 0;
}

/* Name in lk the connections longest waiting, as the kernel named them. */
static void
acceptq_name(struct acceptq_look *lk, const struct sockdiag_waiting *w)
{
	lk->named = w->named;
	lk->nwaiting = w->named ? w->noldest : 0;
	memcpy(lk->waiting, w->oldest, lk->nwaiting * sizeof(lk->waiting[0]));
}

/*
 * Tell whether listener l's queue, named in lk, was served since: one of
 * the connections named no longer waits. If none was named (the queue was
 * empty), name those waiting now, to judge at the next look; at the last
 * look there is none, and the queue counts as served. false if the kernel
 * names them no more. *queued is the queue's length, read now.
 */
static bool
acceptq_served(struct acceptq_look *lk, const struct listener *l, bool last,
    unsigned int *queued)
{
	struct sockdiag_waiting w;
	unsigned int backlog;

	memset(&w, 0, sizeof(w));
	w.known = lk->waiting;
	w.nknown = lk->nwaiting;
	if (acceptq_read(l, queued, &backlog, &w) == -1 || !w.named) {
		lk->named = false;	/* the length decides from now on */
		return false;
	}
	if (lk->nwaiting == 0) {
		acceptq_name(lk, &w);
		return w.noldest == 0 || last;
	}
	if (w.still == lk->nwaiting)
		return false;
	log_debug("%s: %zu of the %zu connections waiting longest at the "
	    "takeover were accepted since: served", lk->name,
	    lk->nwaiting - w.still, lk->nwaiting);
	return true;
}

/* net.core.somaxconn: listen() takes no more; 0 if unknown. */
static unsigned int
acceptq_somaxconn(void)
{
	unsigned int n = 0;
	FILE *fp;

	if ((fp = fopen("/proc/sys/net/core/somaxconn", "re")) == NULL)
		return 0;
	if (fscanf(fp, "%u", &n) != 1)
		n = 0;
	fclose(fp);
	return n;
}

/* The listener name some running generation serves, or NULL. */
static struct listener *
acceptq_find(const struct acceptq *aq, const char *name)
{
	const struct program *prog;
	const struct generation *gen;
	size_t i;

	TAILQ_FOREACH(prog, aq->programs, entry) {
		if ((gen = prog->current) == NULL || gen->state != GEN_RUNNING)
			continue;
		for (i = 0; i < gen->nlisteners; i++)
			if (strcmp(gen->listeners[i]->name, name) == 0)
				return gen->listeners[i];
	}
	return NULL;
}

/* The look at listener name since the last takeover, or NULL. */
static const struct acceptq_look *
acceptq_look_of(const struct acceptq *aq, const char *name)
{
	size_t i;

	for (i = 0; aq != NULL && i < aq->nlooks; i++)
		if (strcmp(aq->looks[i].name, name) == 0)
			return &aq->looks[i];
	return NULL;
}

/* Say that listener l's queue was not served since the takeover. */
static void
acceptq_describe_unserved(const struct listener *l, unsigned int queued,
    char *buf, size_t len)
{
	char limit[32];

	format_duration(ACCEPTQ_CHECK_MS, limit, sizeof(limit));
	snprintf(buf, len, "%s: %u connection%s queued, none accepted in %s: "
	    "does the server use the socket it was given? (listener %s %s)",
	    l->name, queued, queued == 1 ? "" : "s", limit, l->name, l->bound);
}

/*
 * Say that a worker lowered listener l's backlog with its own listen();
 * "" if it is what the config asks (as far as somaxconn allows).
 */
static void
acceptq_describe_backlog(const struct listener *l, unsigned int backlog,
    char *buf, size_t len)
{
	unsigned int want = l->opts.backlog > 0 ? (unsigned int)l->opts.backlog :
	    0, max = acceptq_somaxconn();

	buf[0] = '\0';
	if (max > 0 && want > max)
		want = max;
	if (backlog >= want)
		return;
	snprintf(buf, len, "%s: backlog %u, not %u as configured: a worker "
	    "called listen() on the socket with a backlog of its own (Node "
	    "uses 511, gunicorn 2048); pass the server the backlog you want "
	    "(gunicorn --backlog, Node server.listen({backlog}))", l->name,
	    backlog, want);
}

/* Arm the look ms from now, and remember when (it crosses an upgrade). */
static void
acceptq_arm(struct acceptq *aq, uint64_t ms)
{
	struct timeval tv = timeval_ms(ms);

	clock_gettime(CLOCK_MONOTONIC, &aq->due);
	timespec_add_ms(&aq->due, ms);
	if (evtimer_add(aq->timer, &tv) == -1)
		log_warnx("cannot arm the accept queue check (out of memory)");
}

/* Timer: look at the queues again; warn about those not served. */
static void
acceptq_look(evutil_socket_t fd, short what, void *arg)
{
	struct acceptq *aq = arg;
	struct acceptq_look *lk;
	struct listener *l;
	unsigned int queued, backlog;
	char text[512];
	bool again = false;
	size_t i;

	(void)fd;
	(void)what;
	loopstat_mark("accept queue check");
	for (i = 0; i < aq->nlooks; i++) {
		lk = &aq->looks[i];
		if ((l = acceptq_find(aq, lk->name)) == NULL ||
		    acceptq_read(l, &queued, &backlog, NULL) == -1)
			continue;
		if (!aq->confirming) {
			acceptq_describe_backlog(l, backlog, text, sizeof(text));
			if (text[0] != '\0')
				log_warnx("%s", text);
		}
		if (lk->suspect && lk->named && acceptq_served(lk, l,
		    aq->confirming, &queued))
			lk->suspect = false;
		if (!lk->suspect || queued == 0 ||
		    (!lk->named && queued < lk->queued)) {
			lk->suspect = false;
			continue;
		}
		lk->queued = queued;
		if (!aq->confirming) {
			again = true;
			continue;
		}
		lk->warned = true;
		acceptq_describe_unserved(l, queued, text, sizeof(text));
		log_warnx("%s", text);
	}
	aq->confirming = !aq->confirming;
	if (again)
		acceptq_arm(aq, ACCEPTQ_CHECK_MS - ACCEPTQ_FIRST_MS);
}

/* A checker of the accept queues of the programs' listeners. */
struct acceptq *
acceptq_new(struct event_base *base, struct program_list *programs)
{
	struct acceptq *aq;

	if ((aq = calloc(1, sizeof(*aq))) == NULL)
		return NULL;
	aq->base = base;
	aq->programs = programs;
	if ((aq->timer = evtimer_new(base, acceptq_look, aq)) == NULL) {
		free(aq);
		return NULL;
	}
	return aq;
}

/* Forget the looks of the last takeover. */
static void
acceptq_clear(struct acceptq *aq)
{
	while (aq->nlooks > 0)
		free(aq->looks[--aq->nlooks].name);
	aq->confirming = false;
}

/* Free the checker (NULL is fine). */
void
acceptq_free(struct acceptq *aq)
{
	if (aq == NULL)
		return;
	acceptq_clear(aq);
	event_free(aq->timer);
	free(aq);
}

/*
 * Generations took over: note each served stream listener's queue now, and
 * look again ACCEPTQ_FIRST_MS from now.
 */
void
acceptq_takeover(struct acceptq *aq)
{
	const struct program *prog;
	const struct generation *gen;
	struct acceptq_look *lk;
	struct sockdiag_waiting w;
	unsigned int queued, backlog;
	size_t i;

	if (aq == NULL)
		return;
	evtimer_del(aq->timer);
	acceptq_clear(aq);
	TAILQ_FOREACH(prog, aq->programs, entry) {
		if ((gen = prog->current) == NULL || gen->state != GEN_RUNNING)
			continue;
		for (i = 0; i < gen->nlisteners && aq->nlooks < ACCEPTQ_MAX;
		    i++) {
			memset(&w, 0, sizeof(w));
			if (acceptq_look_of(aq, gen->listeners[i]->name) != NULL ||
			    acceptq_read(gen->listeners[i], &queued,
			    &backlog, &w) == -1)
				continue;
			lk = &aq->looks[aq->nlooks];
			if ((lk->name = strdup(gen->listeners[i]->name)) == NULL)
				continue;
			lk->queued = queued;
			lk->suspect = true;
			lk->warned = false;
			acceptq_name(lk, &w);
			if (lk->named && lk->nwaiting > 0)
				log_debug("%s: %u queued at the takeover, the "
				    "%zu waiting longest named", lk->name,
				    queued, lk->nwaiting);
			else if (!lk->named)
				log_debug("%s: %u queued at the takeover, none "
				    "named by the kernel: the queue's length "
				    "decides", lk->name, queued);
			aq->nlooks++;
		}
	}
	if (aq->nlooks > 0)
		acceptq_arm(aq, ACCEPTQ_FIRST_MS);
}

/*
 * Write the looks of the last takeover as records (an upgrade), with
 * when the next one is due if one is.
 */
void
acceptq_save(const struct acceptq *aq, struct state_writer *w)
{
	const struct acceptq_look *lk;
	char ids[SOCKDIAG_OLDEST * 17 + 1];
	size_t i, k;

	state_rec(w, "acceptq");
	state_int(w, "pending", evtimer_pending(aq->timer, NULL) ? 1 : 0);
	state_time(w, "due", &aq->due);
	state_int(w, "confirming", aq->confirming);
	for (i = 0; i < aq->nlooks; i++) {
		lk = &aq->looks[i];
		state_rec(w, "acceptq_look");
		state_str(w, "name", lk->name);
		state_int(w, "queued", lk->queued);
		state_int(w, "suspect", lk->suspect);
		state_int(w, "warned", lk->warned);
		state_int(w, "named", lk->named);
		ids[0] = '\0';
		for (k = 0; k < lk->nwaiting; k++)
			snprintf(ids + strlen(ids), sizeof(ids) - strlen(ids),
			    "%s%" PRIx64, k > 0 ? " " : "", lk->waiting[k]);
		state_str(w, "waiting", ids);
	}
}

/* The connections a look named, from their record ("" or NULL: none). */
static void
acceptq_restore_waiting(struct acceptq_look *lk, const char *ids)
{
	char *end;

	lk->nwaiting = 0;
	while (ids != NULL && *ids != '\0' && lk->nwaiting < SOCKDIAG_OLDEST) {
		lk->waiting[lk->nwaiting] = strtoull(ids, &end, 16);
		if (end == ids)
			break;
		lk->nwaiting++;
		ids = end + strspn(end, " ");
	}
}

/* Take the looks back after an upgrade's exec; the timer fires when due. */
void
acceptq_restore(struct acceptq *aq, const struct state *st)
{
	const struct state_rec *r;
	struct acceptq_look *lk;
	bool pending = false;
	size_t i;

	acceptq_clear(aq);
	for (i = 0; i < st->nrecs; i++) {
		r = &st->recs[i];
		if (strcmp(r->kind, "acceptq") == 0) {
			pending = state_get_int(r, "pending", 0) != 0 &&
			    state_get_time(r, "due", &aq->due);
			aq->confirming = state_get_int(r, "confirming", 0) != 0;
		} else if (strcmp(r->kind, "acceptq_look") == 0 &&
		    state_get(r, "name") != NULL && aq->nlooks < ACCEPTQ_MAX) {
			lk = &aq->looks[aq->nlooks];
			if ((lk->name = strdup(state_get(r, "name"))) == NULL)
				continue;
			lk->queued = (unsigned int)state_get_int(r, "queued", 0);
			lk->suspect = state_get_int(r, "suspect", 0) != 0;
			lk->warned = state_get_int(r, "warned", 0) != 0;
			lk->named = state_get_int(r, "named", 0) != 0;
			acceptq_restore_waiting(lk, state_get(r, "waiting"));
			aq->nlooks++;
		}
	}
	if (pending && aq->nlooks > 0)
		acceptq_arm(aq, ms_until(&aq->due));
}

/* What status shows of listener l's queue and backlog, read now. */
void
acceptq_view(const struct acceptq *aq, const struct listener *l,
    struct acceptq_view *v)
{
	const struct acceptq_look *lk = acceptq_look_of(aq, l->name);

	memset(v, 0, sizeof(*v));
	if (acceptq_read(l, &v->queued, &v->backlog, NULL) == -1)
		return;
	v->known = true;
	acceptq_describe_backlog(l, v->backlog, v->backlog_warning,
	    sizeof(v->backlog_warning));
	/* Found unserved, and not served since. */
	if (lk != NULL && lk->warned && v->queued > 0)
		acceptq_describe_unserved(l, v->queued, v->queue_warning,
		    sizeof(v->queue_warning));
}
