/*
 * reuseport.c: reuseport mode's decisions (see reuseport.h).
 *
 * A slot serves while a worker on it, of the program's running or
 * starting generation, is ready; slots a reload added serve once it
 * commits (listener->committed). The steering program picks among the
 * serving slots' indexes in the kernel's group; with none serving, the
 * kernel chooses. A plain reload closes nothing: old and new worker i
 * share slot i.
 *
 * Shrinking leaves slots from the new worker count up without a worker.
 * They leave the steering table at once. With connection migration a
 * TCP slot is shut down there and then, which moves its queue to the
 * serving slots. Otherwise (UDP, or no migration) the old workers on
 * those slots are held back from the drain until their queue stayed
 * empty for REUSEPORT_RETIRE_QUIET_MS, so that they answer what waits
 * there; what is still queued after the drain timeout is lost, and said.
 * A TCP slot's socket closes once retired; a UDP one once no worker holds
 * it (it leaves the kernel's group only with its last copy).
 */
#include "autoconf.h"

#include <event2/event.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#include "addr.h"
#include "cause.h"
#include "cbpf.h"
#include "config.h"
#include "ebpf.h"
#include "generation.h"
#include "listener.h"
#include "log.h"
#include "loopstat.h"
#include "migrate.h"
#include "parse.h"
#include "program.h"
#include "reuseport.h"

/* A drained generation whose workers on retiring slots are held back. */
struct retire {
	TAILQ_ENTRY(retire) entry;
	struct reuseport *rp;
	struct generation *old;
	int		 from;		/* the first retiring slot */
	struct event	*timer;
	struct timespec	 started;
	uint64_t	 quiet_ms;	/* how long every queue stayed empty */
};
TAILQ_HEAD(retire_list, retire);

struct reuseport {
	struct event_base *base;
	struct program_list *programs;
	const struct migrate *migrate;
	struct event	*deferred;	/* steer once, after a burst of changes */
	struct retire_list retiring;
};

/* Tell whether gen's workers use listener l. */
static bool
reuseport_gen_uses(const struct generation *gen, const struct listener *l)
{
	size_t i;

	for (i = 0; i < gen->nlisteners; i++)
		if (gen->listeners[i] == l)
			return true;
	return false;
}

/*
 * Tell whether slot serves: a ready worker on it in a running or
 * starting generation that uses l.
 */
static bool
reuseport_slot_serves(const struct program *prog, const struct listener *l,
    size_t slot)
{
	const struct generation *gens[2] = { prog->current, prog->starting };
	size_t k;

	if (slot >= l->committed)
		return false;
	for (k = 0; k < 2; k++) {
		if (gens[k] == NULL || (size_t)gens[k]->nworkers <= slot ||
		    !reuseport_gen_uses(gens[k], l))
			continue;
		if (gens[k]->workers[slot].state == WORKER_READY)
			return true;
	}
	return false;
}

/* Tell whether rp steers by the SK_REUSEPORT program (by slot number). */
static bool
reuseport_by_ebpf(const struct reuseport *rp)
{
	return rp->migrate->steer_ebpf;
}

/*
 * The steering table of l: the group index of each serving slot (its
 * slot number, for the eBPF program), in slot order, leaving out the
 * slot skip (or none: (size_t)-1). Returns the count; table has room
 * for listener_nsockets(l).
 */
static size_t
reuseport_table(const struct reuseport *rp, const struct listener *l,
    size_t skip, unsigned int *table)
{
	size_t slot, n = 0;

	for (slot = 0; slot < listener_nsockets(l); slot++)
		if (slot != skip && listener_slot_serving(l, slot) &&
		    listener_slot_group_index(l, slot) >= 0)
			table[n++] = reuseport_by_ebpf(rp) ? (unsigned int)slot :
			    (unsigned int)listener_slot_group_index(l, slot);
	return n;
}

/*
 * Steer l's group by the SK_REUSEPORT program: made and attached once,
 * every socket in the group named by its slot, then the table of slots.
 */
static int
reuseport_attach_ebpf(struct listener *l, const unsigned int *slots, size_t n)
{
	char *why = NULL;
	size_t slot;

	if (l->ebpf == NULL && (l->ebpf = ebpf_steer_new(MAX_WORKERS,
	    &why)) == NULL) {
		log_warnx("listener %s: %s", l->name, cause_text(why));
		free(why);
		return -1;
	}
	for (slot = 0; slot < listener_nsockets(l); slot++) {
		int fd = listener_socket_fd(l, slot);
		if (fd != -1 && listener_slot_group_index(l, slot) >= 0 &&
		    !listener_slot_registered(l, slot) &&
		    ebpf_steer_socket(l->ebpf, (unsigned int)slot, fd) == 0)
			listener_slot_set_registered(l, slot);
	}
	if (!l->ebpf_attached) {
		if (ebpf_steer_attach(l->ebpf,
		    listener_socket_fd(l, l->group[0])) == -1)
			return -1;
		l->ebpf_attached = true;
	}
	return ebpf_steer_table(l->ebpf, slots, n);
}

/* Attach table to l's group unless that is what it has. */
static void
reuseport_attach(const struct reuseport *rp, struct listener *l,
    const unsigned int *table, size_t n)
{
	unsigned int *copy;

	if (l->ngroup == 0)
		return;
	if (l->steered && l->nsteer == n &&
	    memcmp(l->steer, table, n * sizeof(*table)) == 0 &&
	    !reuseport_by_ebpf(rp))
		return;
	if (reuseport_by_ebpf(rp) ? reuseport_attach_ebpf(l, table, n) == -1 :
	    cbpf_steer_attach(listener_socket_fd(l, l->group[0]), table,
	    n) == -1) {
		log_warn("listener %s: cannot steer connections to the %zu "
		    "serving worker slot%s", l->name, n, n == 1 ? "" : "s");
		return;
	}
	if ((copy = reallocarray(l->steer, n + 1, sizeof(*copy))) == NULL) {
		l->steered = false;	/* attach again next time */
		return;
	}
	memcpy(copy, table, n * sizeof(*table));
	l->steer = copy;
	l->nsteer = n;
	l->steered = true;
	log_debug("listener %s: steering to %zu of %zu slots", l->name, n,
	    listener_nsockets(l));
}

/*
 * Slot of l has no worker serving any more, and connections wait on it:
 * move them to the others. Shut down, its socket leaves the group (the
 * last socket takes its index: the table first leaves that one out too)
 * and migration moves its queue; listening again, it joins at the tail.
 */
static void
reuseport_flush(const struct reuseport *rp, struct listener *l, size_t slot,
    unsigned int *table)
{
	unsigned int queued, limit;
	size_t n, last;

	if (listener_slot_queue(l, slot, &queued, &limit) == -1 || queued == 0)
		return;
	last = l->group[l->ngroup - 1];
	listener_slot_set_serving(l, slot, false);
	n = reuseport_table(rp, l, last, table);
	reuseport_attach(rp, l, table, n);
	if (listener_slot_leave(l, slot) == -1) {
		log_warn("listener %s: worker slot %zu: cannot shut down its "
		    "socket to move its queue", l->name, slot);
		return;
	}
	if (listener_slot_rejoin(l, slot) == -1)
		log_warn("listener %s: worker slot %zu: cannot listen again "
		    "(a reload repairs it)", l->name, slot);
	log_info("listener %s: worker slot %zu has no worker serving: its %u "
	    "queued connection%s moved to the serving slots", l->name, slot,
	    queued, queued == 1 ? "" : "s");
}

/* Work out which slots of l serve for prog, and steer l's group to them. */
static void
reuseport_steer_listener(struct reuseport *rp, const struct program *prog,
    struct listener *l)
{
	unsigned int *table;
	size_t slot, n;
	bool serves;

	if ((table = calloc(listener_nsockets(l) + 1, sizeof(*table))) == NULL) {
		log_warnx("listener %s: out of memory steering connections",
		    l->name);
		return;
	}
	for (slot = 0; slot < listener_nsockets(l); slot++) {
		serves = reuseport_slot_serves(prog, l, slot);
		if (!serves && listener_slot_serving(l, slot) &&
		    l->addr.kind == ADDR_TCP &&
		    migrate_reuseport_available(rp->migrate))
			reuseport_flush(rp, l, slot, table);
		listener_slot_set_serving(l, slot, serves);
	}
	n = reuseport_table(rp, l, (size_t)-1, table);
	reuseport_attach(rp, l, table, n);
	free(table);
}

/* Steer every per-slot listener of a reuseport program. */
static void
reuseport_steer_program(struct reuseport *rp, const struct program *prog)
{
	const struct generation *gens[2] = { prog->current, prog->starting };
	size_t k, i;

	for (k = 0; k < 2; k++) {
		if (gens[k] == NULL || gens[k]->pc->handoff != HANDOFF_REUSEPORT)
			continue;
		for (i = 0; i < gens[k]->nlisteners; i++) {
			struct listener *l = gens[k]->listeners[i];
			/* The running generation steered those they share. */
			if (!listener_per_slot(l) || (k == 1 &&
			    prog->current != NULL &&
			    reuseport_gen_uses(prog->current, l)))
				continue;
			reuseport_steer_listener(rp, prog, l);
		}
	}
}

/* Steer every reuseport program's listeners now. */
void
reuseport_steer(struct reuseport *rp)
{
	const struct program *prog;

	TAILQ_FOREACH(prog, rp->programs, entry)
		reuseport_steer_program(rp, prog);
}

/* The deferred steer: once per loop turn however many workers changed. */
static void
reuseport_deferred(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	loopstat_mark("reuseport steer");
	reuseport_steer(arg);
}

/* A worker became ready or exited: steer again, soon. */
void
reuseport_changed(struct reuseport *rp)
{
	if (!event_pending(rp->deferred, EV_TIMEOUT, NULL))
		event_active(rp->deferred, EV_TIMEOUT, 0);
}

/* Make the reuseport state of a supervisor. NULL if out of memory. */
struct reuseport *
reuseport_new(struct event_base *base, struct program_list *programs,
    const struct migrate *migrate)
{
	struct reuseport *rp;

	if ((rp = calloc(1, sizeof(*rp))) == NULL)
		return NULL;
	rp->base = base;
	rp->programs = programs;
	rp->migrate = migrate;
	TAILQ_INIT(&rp->retiring);
	if ((rp->deferred = event_new(base, -1, 0, reuseport_deferred,
	    rp)) == NULL) {
		free(rp);
		return NULL;
	}
	return rp;
}

/* Free a retire watcher. */
static void
reuseport_retire_free(struct retire *rt)
{
	TAILQ_REMOVE(&rt->rp->retiring, rt, entry);
	if (rt->timer != NULL)
		event_free(rt->timer);
	free(rt);
}

/* Free the reuseport state (the generations it held back are not told). */
void
reuseport_free(struct reuseport *rp)
{
	if (rp == NULL)
		return;
	while (!TAILQ_EMPTY(&rp->retiring))
		reuseport_retire_free(TAILQ_FIRST(&rp->retiring));
	event_free(rp->deferred);
	free(rp);
}

/*
 * The highest slot count any generation of the programs using l wants
 * (running or starting: live = false) or still holds (any generation
 * with processes: live = true); at least l->committed.
 */
static size_t
reuseport_slots_needed(struct reuseport *rp, const struct listener *l,
    bool live)
{
	const struct program *prog;
	const struct generation *gen;
	size_t need = l->committed;

	TAILQ_FOREACH(prog, rp->programs, entry)
		TAILQ_FOREACH(gen, &prog->gens, entry) {
			if (gen->state == GEN_GONE || (!live &&
			    gen != prog->current && gen != prog->starting))
				continue;
			if (reuseport_gen_uses(gen, l) &&
			    (size_t)gen->nworkers > need)
				need = (size_t)gen->nworkers;
		}
	return need;
}

/*
 * Retire the TCP slots of l from `from` up that no running or starting
 * generation wants: shut them down (their queue migrates, or is reset
 * without migration). Returns the connections they still held.
 */
static unsigned int
reuseport_retire_tcp(struct reuseport *rp, struct listener *l, size_t from)
{
	unsigned int queued, limit, lost = 0;
	size_t slot, wanted = reuseport_slots_needed(rp, l, false);

	if (l->addr.kind != ADDR_TCP)
		return 0;
	if (from < wanted)
		from = wanted;
	/* From the highest index in the group down: nothing else moves. */
	for (slot = listener_nsockets(l); slot-- > from;) {
		if (listener_socket_fd(l, slot) == -1 ||
		    listener_slot_group_index(l, slot) < 0)
			continue;
		if (listener_slot_queue(l, slot, &queued, &limit) == 0)
			lost += queued;
		(void)listener_slot_leave(l, slot);
	}
	return lost;
}

/* Sum what waits on l's slots from `from` up. */
static unsigned int
reuseport_queued(const struct listener *l, size_t from)
{
	unsigned int queued, limit, sum = 0;
	size_t slot;

	for (slot = from; slot < listener_nsockets(l); slot++)
		if (listener_slot_queue(l, slot, &queued, &limit) == 0)
			sum += queued;
	return sum;
}

/*
 * Shut down a retirement's TCP slots and say what they lost (timed_out:
 * their workers' time is up, so datagrams left unread are said too).
 */
static void
reuseport_retire_slots(struct retire *rt, bool timed_out)
{
	struct generation *old = rt->old;
	unsigned int lost = 0, left;
	size_t i;

	for (i = 0; i < old->nlisteners; i++) {
		struct listener *l = old->listeners[i];
		if (!listener_per_slot(l))
			continue;
		left = reuseport_queued(l, (size_t)rt->from);
		if (l->addr.kind == ADDR_TCP)
			lost += reuseport_retire_tcp(rt->rp, l, (size_t)rt->from);
		else if (timed_out && left > 0)
			log_warnx("listener %s: retired worker slots kept %u "
			    "bytes of datagrams their workers did not read in "
			    "time", l->name, left);
	}
	if (lost > 0)
		log_warnx("%s gen %u: %u connection%s queued on retired worker "
		    "slots %d.. were reset (no connection migration)",
		    old->program, old->number, lost, lost == 1 ? "" : "s",
		    rt->from);
	else
		log_info("%s gen %u: worker slots %d-%d retired, their queues "
		    "emptied by their workers", old->program, old->number,
		    rt->from, old->nworkers - 1);
}

/* End a retirement: shut down the TCP slots, tell the held workers. */
static void
reuseport_retire_end(struct retire *rt, bool timed_out)
{
	struct generation *old = rt->old;

	reuseport_retire_slots(rt, timed_out);
	reuseport_retire_free(rt);
	gen_drain(old);
}

/* Timer: has every retiring slot's queue stayed empty long enough? */
static void
reuseport_retire_poll(evutil_socket_t fd, short what, void *arg)
{
	struct retire *rt = arg;
	struct timeval tv;
	size_t i;
	bool empty = true;

	(void)fd;
	(void)what;
	loopstat_mark("reuseport retire");
	for (i = 0; i < rt->old->nlisteners && empty; i++)
		if (listener_per_slot(rt->old->listeners[i]) &&
		    reuseport_queued(rt->old->listeners[i], (size_t)rt->from) > 0)
			empty = false;
	rt->quiet_ms = empty ? rt->quiet_ms + REUSEPORT_RETIRE_POLL_MS : 0;
	if (rt->quiet_ms >= REUSEPORT_RETIRE_QUIET_MS) {
		reuseport_retire_end(rt, false);
		return;
	}
	if (elapsed_ms(&rt->started) >= rt->old->pc->drain_timeout_ms) {
		reuseport_retire_end(rt, true);
		return;
	}
	tv = timeval_ms(REUSEPORT_RETIRE_POLL_MS);
	evtimer_add(rt->timer, &tv);
}

/*
 * Tell whether retiring l's slots from `from` up loses nothing at once:
 * a TCP listener with migration (its queues move on shutdown).
 */
static bool
reuseport_retires_at_once(const struct reuseport *rp, const struct listener *l)
{
	return l->addr.kind == ADDR_TCP &&
	    migrate_reuseport_available(rp->migrate);
}

/*
 * A reload committed: next took over from old, which is to drain. For a
 * reuseport program with fewer workers now, the slots above them leave
 * the steering table and retire (see the top of this file); then old
 * drains, all of it at once or all but its workers on retiring slots.
 */
void
reuseport_handover(struct reuseport *rp, struct generation *old,
    struct generation *next)
{
	struct retire *rt;
	struct timeval tv;
	unsigned int moved;
	size_t i;
	bool hold = false;

	/*
	 * Attach the steering program again, whatever the supervisor last
	 * attached: a process that joined the port may have put its own.
	 */
	for (i = 0; next != NULL && i < next->nlisteners; i++) {
		next->listeners[i]->steered = false;
		next->listeners[i]->ebpf_attached = false;
	}
	reuseport_steer(rp);
	if (old->pc->handoff != HANDOFF_REUSEPORT || next == NULL ||
	    next->pc->handoff != HANDOFF_REUSEPORT ||
	    next->nworkers >= old->nworkers) {
		gen_drain(old);
		return;
	}
	for (i = 0; i < old->nlisteners; i++) {
		struct listener *l = old->listeners[i];
		if (!listener_per_slot(l))
			continue;
		if (!reuseport_retires_at_once(rp, l)) {
			hold = true;
			continue;
		}
		moved = reuseport_retire_tcp(rp, l, (size_t)next->nworkers);
		log_info("listener %s: worker slots %d-%d retired; %u queued "
		    "connection%s moved to the serving slots", l->name,
		    next->nworkers, old->nworkers - 1, moved,
		    moved == 1 ? "" : "s");
	}
	if (!hold || (rt = calloc(1, sizeof(*rt))) == NULL ||
	    (rt->timer = evtimer_new(rp->base, reuseport_retire_poll,
	    rt)) == NULL) {
		if (hold) {
			free(rt);
			log_warnx("%s gen %u: out of memory: worker slots %d.. "
			    "retire without waiting for their queues",
			    old->program, old->number, next->nworkers);
		}
		gen_drain(old);
		return;
	}
	rt->rp = rp;
	rt->old = old;
	rt->from = next->nworkers;
	clock_gettime(CLOCK_MONOTONIC, &rt->started);
	TAILQ_INSERT_TAIL(&rp->retiring, rt, entry);
	log_info("%s gen %u: draining; its workers on retiring slots %d-%d "
	    "empty their queues first", old->program, old->number, rt->from,
	    old->nworkers - 1);
	gen_drain_holding(old, rt->from);
	tv = timeval_ms(REUSEPORT_RETIRE_POLL_MS);
	evtimer_add(rt->timer, &tv);
}

/*
 * A generation is being stopped for good or freed: stop waiting on its
 * retiring slots (a stop drains it whole; a freed one has no process).
 */
void
reuseport_forget(struct reuseport *rp, struct generation *gen)
{
	struct retire *rt, *next;

	unsigned int queued;
	size_t i;

	for (rt = TAILQ_FIRST(&rp->retiring); rt != NULL; rt = next) {
		next = TAILQ_NEXT(rt, entry);
		if (rt->old != gen)
			continue;
		if (gen->state == GEN_GONE) {
			/*
			 * Its workers are gone before the retirement ended
			 * (drain_timeout killed them): what waits on the
			 * retiring slots is lost now, and said.
			 */
			reuseport_retire_slots(rt, true);
			reuseport_retire_free(rt);
			continue;
		}
		for (i = 0, queued = 0; i < gen->nlisteners; i++)
			if (listener_per_slot(gen->listeners[i]))
				queued += reuseport_queued(gen->listeners[i],
				    (size_t)rt->from);
		if (queued > 0)
			log_warnx("%s gen %u: stopped while its retiring worker "
			    "slots %d.. still held %u queued (connections, or "
			    "bytes of datagrams); what their workers do not "
			    "answer as they stop is lost", gen->program,
			    gen->number, rt->from, queued);
		reuseport_retire_free(rt);
	}
}

/*
 * Close the slot sockets no generation holds any more: those a failed
 * reload opened, and retired ones whose last worker is gone.
 */
void
reuseport_trim(struct reuseport *rp)
{
	const struct program *prog;
	const struct generation *gen;
	size_t i;

	TAILQ_FOREACH(prog, rp->programs, entry)
		TAILQ_FOREACH(gen, &prog->gens, entry)
			for (i = 0; i < gen->nlisteners; i++)
				if (listener_per_slot(gen->listeners[i]))
					listener_trim_slots(gen->listeners[i],
					    reuseport_slots_needed(rp,
					    gen->listeners[i], true));
}
