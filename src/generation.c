/*
 * generation.c: one program's workers from one config.
 *
 * A generation starts its workers (GEN_STARTING) and reports
 * GEN_EVENT_READY once every worker is ready, or GEN_EVENT_FAILED if one
 * exits or the ready_timeout passes first; then it stops as a drain does
 * (GEN_FAILED): its workers that became ready may be serving connections
 * they accepted from the shared sockets, and finish them. The
 * supervisor promotes a ready generation (GEN_RUNNING): from then on a
 * worker that dies is restarted per `restart`, with exponential backoff.
 * Draining sends stop_signal to each worker and to each descendant that
 * left its worker's process group and, after drain_timeout, SIGKILL to the
 * workers' process groups and every descendant. A generation is GEN_GONE,
 * and reports GEN_EVENT_GONE, once no worker process, no member of a
 * worker's process group and no other descendant (descendants.c) is left.
 * While no worker is ready, a crashed worker waits at most
 * BACKOFF_NONE_READY_MS for its restart, however long its backoff grew.
 */
#include "autoconf.h"

#include <errno.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bindhint.h"
#include "cause.h"
#include "config.h"
#include "descendants.h"
#include "drain_report.h"
#include "generation.h"
#include "state.h"
#include "listener.h"
#include "listening.h"
#include "log.h"
#include "loopstat.h"
#include "parse.h"
#include "pidmap.h"
#include "worker.h"

static void	gen_fail(struct generation *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static void	gen_worker_event(struct worker *, enum worker_event, void *);
static void	gen_slice(evutil_socket_t, short, void *);
static void	gen_begin_stop(struct generation *, int);
static void	gen_stop_failed(struct generation *);
static void	gen_cancel_spawner(struct generation *);
static void	gen_spawn_unwait(struct generation *);
static int	gen_schedule_slice(struct generation *);
static void	gen_fail_probation(struct generation *, struct worker *, pid_t,
		    const char *);
static int	gen_signal_strays(struct generation *, int);
static void	gen_desc_changed(void *);

/* "starting", "running", ... for logs and status. */
const char *
gen_state_name(enum gen_state state)
{
	static const char *const names[] = {
		[GEN_STARTING] = "starting", [GEN_RUNNING] = "running",
		[GEN_DRAINING] = "draining", [GEN_FAILED] = "failed",
		[GEN_GONE] = "gone",
	};
	return names[state];
}

/* A new generation (not started) that references conf and the listeners. */
struct generation *
gen_new(struct event_base *base, struct config *conf, struct program_conf *pc,
    struct listener **listeners, unsigned int number, const char *notify_socket,
    const struct proc_ops *ops, struct pidmap *pids, struct pidmap *groups,
    gen_event_cb cb, void *cb_arg)
{
	struct generation *gen;
	int i;
	size_t j;

	if ((gen = calloc(1, sizeof(*gen))) == NULL)
		return NULL;
	gen->workers = calloc((size_t)pc->workers, sizeof(*gen->workers));
	gen->listeners = calloc(pc->nlisteners + 1, sizeof(*gen->listeners));
	gen->program = strdup(pc->name);
	if (gen->workers == NULL || gen->listeners == NULL || gen->program == NULL) {
		free(gen->workers);
		free(gen->listeners);
		free(gen->program);
		free(gen);
		return NULL;
	}
	gen->base = base;
	gen->conf = config_ref(conf);
	gen->pc = pc;
	gen->number = number;
	gen->state = GEN_STARTING;
	gen->notify_socket = notify_socket;
	gen->cb = cb;
	gen->cb_arg = cb_arg;
	/* A self-mode program binds its own: it gets no socket of ours. */
	gen->nlisteners = pc->handoff == HANDOFF_SELF ? 0 : pc->nlisteners;
	for (j = 0; j < gen->nlisteners; j++) {
		gen->listeners[j] = listeners[j];
		listener_ref(listeners[j]);
	}
	gen->nworkers = pc->workers;
	gen->env.base = base;
	gen->env.program = gen->program;
	gen->env.number = number;
	gen->env.pc = pc;
	gen->env.listeners = gen->listeners;
	gen->env.nlisteners = gen->nlisteners;
	gen->env.notify_socket = notify_socket;
	gen->env.pids = pids;
	gen->env.groups = groups;
	gen->env.ops = ops;
	gen->env.count = &gen->count;
	gen->env.cb = gen_worker_event;
	gen->env.cb_arg = gen;
	for (i = 0; i < gen->nworkers; i++)
		worker_init(&gen->workers[i], &gen->env, i);
	return gen;
}

/*
 * Tell whether the generation's workers are being told to stop: it drains,
 * or it failed. Its timer is then the drain_timeout, and its slices tell
 * workers to stop instead of starting them.
 */
static bool
gen_stopping(const struct generation *gen)
{
	return gen->state == GEN_DRAINING || gen->state == GEN_FAILED;
}

/* Stop the generation's timer, if any. */
static void
gen_cancel_timer(struct generation *gen)
{
	if (gen->timer != NULL) {
		event_free(gen->timer);
		gen->timer = NULL;
	}
}

/*
 * Arm the generation's one-shot timer; without memory for it, the
 * generation waits without a limit (logged).
 */
static void
gen_arm_timer(struct generation *gen, uint64_t ms, event_callback_fn fn)
{
	struct timeval tv = timeval_ms(ms);

	gen_cancel_timer(gen);
	gen->timer = evtimer_new(gen->base, fn, gen);
	if (gen->timer == NULL || evtimer_add(gen->timer, &tv) == -1) {
		log_errorx("%s gen %u: cannot arm a timer (out of memory)",
		    gen->program, gen->number);
		gen_cancel_timer(gen);
	}
}

/* End a generation's probation: it is ready (GEN_EVENT_READY). */
void
gen_end_probation(struct generation *gen)
{
	if (gen->state != GEN_STARTING || !gen->on_probation)
		return;
	gen_cancel_timer(gen);
	gen->on_probation = false;
	gen->cb(gen, GEN_EVENT_READY, NULL, gen->cb_arg);
}

/* Timer: every worker stayed up through the probation. */
static void
gen_probation_done(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	loopstat_mark("generation timer");
	gen_end_probation(arg);
}

/*
 * Every worker is ready: with a probation, hold GEN_EVENT_READY back until
 * they have all stayed up that long (a crash meanwhile fails the
 * generation, as one before ready does). Returns whether it is on probation.
 */
static bool
gen_begin_probation(struct generation *gen)
{
	if (gen->pc->probation_ms == 0)
		return false;
	gen->on_probation = true;
	gen_arm_timer(gen, gen->pc->probation_ms, gen_probation_done);
	gen->cb(gen, GEN_EVENT_PROBATION, NULL, gen->cb_arg);
	return true;
}

/*
 * Say which starting worker the bind() shim has not said listens on which
 * of its addresses (preload = yes, ready = listening), for a timeout's
 * message; "" if none.
 */
static void
gen_describe_unlistened(const struct generation *gen, char *buf, size_t len)
{
	const struct listener_conf *lc;
	const struct worker *w;
	int k, i;

	buf[0] = '\0';
	if (!gen->pc->preload || gen->pc->ready != READY_LISTENING)
		return;
	for (k = 0; k < gen->nworkers; k++) {
		w = &gen->workers[k];
		if (w->state != WORKER_STARTING || w->pid == 0 ||
		    (i = worker_unlistened(w)) == -1)
			continue;
		lc = gen->pc->listeners[i];
		snprintf(buf, len, "worker %d pid %d has not listened on %s "
		    "(listener %s)", w->index, (int)w->pid, lc->listen,
		    lc->name);
		return;
	}
}

/* Timer: ready_timeout while starting, drain_timeout while draining. */
static void
gen_timer_fired(evutil_socket_t fd, short what, void *arg)
{
	struct generation *gen = arg;
	char limit[32], missing[256];
	int i, n = 0, left = 0, strays;

	(void)fd;
	(void)what;
	loopstat_mark("generation timer");
	gen_cancel_timer(gen);
	if (gen->state == GEN_STARTING) {
		format_duration(gen->pc->ready_timeout_ms, limit, sizeof(limit));
		listening_describe(gen->listening, missing, sizeof(missing));
		if (missing[0] == '\0')
			gen_describe_unlistened(gen, missing, sizeof(missing));
		gen_fail(gen, "not ready within ready_timeout %s (%d/%d workers "
		    "ready%s%s)", limit, gen->nready, gen->nworkers,
		    missing[0] ? "; " : "", missing);
		return;
	}
	if (!gen_stopping(gen))
		return;
	/* Those not told yet, or held back, are killed with the rest. */
	gen->held_from = gen->ntold = gen->nworkers;
	gen_cancel_spawner(gen);
	gen_spawn_unwait(gen);
	strays = gen_signal_strays(gen, 0);
	for (i = 0; i < gen->nworkers; i++) {
		struct worker *w = &gen->workers[i];
		if (w->pgid == 0 && w->pid == 0)
			continue;
		if (w->pid == 0)
			left++;	/* its worker exited, its group did not */
		n++;
		drain_report_killing(gen->drain, i);
		worker_kill(w);
	}
	desc_group_kill(gen->desc);
	if (left > 0 || strays > 0)
		drain_report_left_killed(gen->drain);
	format_duration(gen->pc->drain_timeout_ms, limit, sizeof(limit));
	if (strays == 0)
		log_warnx("%s gen %u: still running after drain_timeout %s; "
		    "killed the process groups of %d worker%s", gen->program,
		    gen->number, limit, n, n == 1 ? "" : "s");
	else
		log_warnx("%s gen %u: still running after drain_timeout %s; "
		    "killed the process groups of %d worker%s and %d process%s "
		    "outside them", gen->program, gen->number, limit, n,
		    n == 1 ? "" : "s", strays, strays == 1 ? "" : "es");
}

/* Stop starting slices of workers. */
static void
gen_cancel_spawner(struct generation *gen)
{
	if (gen->spawner != NULL) {
		event_free(gen->spawner);
		gen->spawner = NULL;
	}
}

/*
 * The time every generation together may spend starting workers and
 * telling them to stop in one turn of the event loop. A turn ends with
 * turn_ev, made active by the turn's first charge and so run behind the
 * callbacks already queued in it (libevent's cached time need not tell
 * turns apart: on a base with the coarse clock it ticks every few ms).
 */
static struct {
	struct event	 turn_ev;	/* ends the turn: the budget is whole */
	struct event_base *base;	/* turn_ev is assigned to it */
	bool		 charged;	/* turn_ev is active */
	bool		 exhausted;	/* no further start this turn */
	uint64_t	 spent_us;
	uint64_t	 last_us;	/* what the last start or stop took */
} gen_budget;

/* Event: the turn that charged the budget is over; the next has it all. */
static void
gen_budget_turn_over(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	gen_budget.charged = false;
	gen_budget.exhausted = false;
	gen_budget.spent_us = 0;
}

/*
 * Charge the time since began to this turn; tell whether it is used up,
 * or has too little left for another step as long as this one: a start
 * that waits for its process to exec (milliseconds on a busy machine)
 * then goes to the next turn, after the loop has answered what came in.
 * Every generation's next start then waits for the next turn too.
 */
static bool
gen_budget_spent(struct generation *gen, const struct timespec *began)
{
	if (!gen_budget.charged) {
		if (gen_budget.base != gen->base) {
			event_assign(&gen_budget.turn_ev, gen->base, -1, 0,
			    gen_budget_turn_over, NULL);
			gen_budget.base = gen->base;
		}
		event_active(&gen_budget.turn_ev, EV_TIMEOUT, 0);
		gen_budget.charged = true;
	}
	gen_budget.last_us = elapsed_us(began);
	gen_budget.spent_us += gen_budget.last_us;
	if (gen_budget.spent_us + gen_budget.last_us >
	    GEN_SPAWN_SLICE_MS * 1000)
		gen_budget.exhausted = true;
	return gen_budget.exhausted;
}

/*
 * The generations whose next start would wait for an earlier start still
 * in flight (proc_ops.spawn_ready): the loop turns meanwhile, and each
 * goes on once one is done (gen_spawn_wake).
 */
#define GEN_SPAWN_WAITS	2	/* gen_spawn_some: woken, not scheduled */

static TAILQ_HEAD(, generation) gen_spawn_waiters =
    TAILQ_HEAD_INITIALIZER(gen_spawn_waiters);

/* Take gen out of the list of those waiting to start a worker. */
static void
gen_spawn_unwait(struct generation *gen)
{
	if (gen->awaits_spawn) {
		TAILQ_REMOVE(&gen_spawn_waiters, gen, spawn_wait);
		gen->awaits_spawn = false;
	}
}

/*
 * A start in flight is done (proc_ops.spawn_ready's wake): every
 * generation that waited starts its next slice in this turn of the loop,
 * once the callback that told it is over (its spawner made active), if
 * the turn has time left for it (gen_slice), else in the next.
 */
static void
gen_spawn_wake(void *arg)
{
	struct generation *gen;

	(void)arg;
	while ((gen = TAILQ_FIRST(&gen_spawn_waiters)) != NULL) {
		gen_spawn_unwait(gen);
		if (gen->state != GEN_STARTING)
			continue;
		if (gen->spawner == NULL &&
		    (gen->spawner = evtimer_new(gen->base, gen_slice,
		    gen)) == NULL) {
			gen_fail(gen, "cannot schedule its workers' start (out "
			    "of memory)");
			continue;
		}
		event_active(gen->spawner, EV_TIMEOUT, 1);
	}
}

/*
 * Whether gen may start a worker now; if it would wait for an earlier
 * start, gen waits in the list until that is done (gen_spawn_wake).
 */
static bool
gen_spawn_ready(struct generation *gen)
{
	const struct proc_ops *ops = gen->env.ops;

	if (ops->spawn_ready == NULL || ops->spawn_ready(gen_spawn_wake, NULL))
		return true;
	if (!gen->awaits_spawn) {
		TAILQ_INSERT_TAIL(&gen_spawn_waiters, gen, spawn_wait);
		gen->awaits_spawn = true;
	}
	return false;
}

/*
 * Start workers while this turn of the loop has time left for it and a
 * start would not wait: the first start of a turn goes if it would not, a
 * further one only if no generation's start used the turn up. Returns 1
 * while workers are left to start (the caller schedules the next slice),
 * GEN_SPAWN_WAITS if they are but the next would wait (gen_spawn_wake
 * schedules it), 0 when all are started, or worker_start's failure (with
 * *cause) for the worker at gen->nspawned.
 */
static int
gen_spawn_some(struct generation *gen, char **cause)
{
	struct timespec began;
	int rc;

	while (gen->nspawned < gen->nworkers && !gen_budget.exhausted) {
		if (!gen_spawn_ready(gen)) {
			listening_watch(gen->listening);
			return GEN_SPAWN_WAITS;
		}
		clock_gettime(CLOCK_MONOTONIC, &began);
		if ((rc = worker_start(&gen->workers[gen->nspawned], cause)) != 0)
			return rc;
		gen->nspawned++;
		if (gen_budget_spent(gen, &began))
			break;
	}
	listening_watch(gen->listening);
	return gen->nspawned < gen->nworkers;
}

/*
 * Tell the next workers of a draining generation to stop (stop_signal):
 * at least one, at most GEN_STOP_SLICE_MAX, while this turn of the loop
 * has time left for it. Returns whether some below held_from are left to
 * tell.
 */
static bool
gen_stop_some(struct generation *gen)
{
	struct timespec began;
	int n = 0;

	while (gen->ntold < gen->held_from) {
		clock_gettime(CLOCK_MONOTONIC, &began);
		worker_stop(&gen->workers[gen->ntold++], gen->pc->stop_signal);
		if (gen_budget_spent(gen, &began) || ++n == GEN_STOP_SLICE_MAX)
			break;
	}
	return gen->ntold < gen->held_from;
}

/*
 * Run gen_slice once the event loop has looked at its fds: a zero-delay
 * timer runs after the poll, so READY=1 messages, control requests and
 * exits are handled between slices.
 */
static int
gen_schedule_slice(struct generation *gen)
{
	struct timeval now = { 0, 0 };

	if (gen->spawner == NULL &&
	    (gen->spawner = evtimer_new(gen->base, gen_slice, gen)) == NULL)
		return -1;
	return evtimer_add(gen->spawner, &now);
}

/*
 * Tell workers of a draining generation to stop, a slice now and the rest
 * in later turns; without memory for that, all of them now.
 */
static void
gen_stop_workers(struct generation *gen)
{
	if (gen_stop_some(gen) && gen_schedule_slice(gen) == -1)
		while (gen->ntold < gen->held_from)
			worker_stop(&gen->workers[gen->ntold++],
			    gen->pc->stop_signal);
}

/*
 * Event: the next slice of a generation's workers to start (starting) or
 * to tell to stop (draining).
 */
static void
gen_slice(evutil_socket_t fd, short what, void *arg)
{
	struct generation *gen = arg;
	char *cause = NULL;
	int more;

	(void)fd;
	(void)what;
	if (gen_stopping(gen)) {
		loopstat_mark("stop slice");
		gen_stop_workers(gen);
		return;
	}
	loopstat_mark("spawn slice");
	if (gen->state != GEN_STARTING)
		return;
	more = gen_spawn_some(gen, &cause);
	if (more == WORKER_CANNOT_RUN) {
		/* As if it had exited before ready. */
		worker_cannot_run(&gen->workers[gen->nspawned]);
		gen_fail(gen, "%s", cause_text(cause));
		free(cause);
	} else if (more == WORKER_NOT_STARTED) {
		gen_fail(gen, "worker %d could not start: %s", gen->nspawned,
		    cause_text(cause));
		free(cause);
	} else if (more == 1 && gen_schedule_slice(gen) == -1)
		gen_fail(gen, "cannot schedule its workers' start (out of "
		    "memory)");
}

/*
 * Start the workers, a slice at a time so the event loop keeps running,
 * and the ready_timeout. The first slice runs now if this turn of the loop
 * has time left (another program's start may have used it up), else in
 * the next turn. Fails with *cause if a worker started now cannot start; a
 * later slice that cannot fails the generation (GEN_EVENT_FAILED).
 */
int
gen_start(struct generation *gen, char **cause)
{
	int more;

	clock_gettime(CLOCK_MONOTONIC, &gen->started);
	log_info("%s gen %u: starting %d worker%s", gen->program, gen->number,
	    gen->nworkers, gen->nworkers == 1 ? "" : "s");
	if (gen->env.ops->track != NULL) {
		gen->desc = gen->env.ops->track(gen->program, gen->number,
		    gen_desc_changed, gen, cause);
		if (gen->desc == NULL) {
			gen_stop_failed(gen);
			return -1;
		}
		gen->env.desc = gen->desc;
	}
	/*
	 * Self mode looks at the workers' sockets; a program of ours under
	 * the bind() shim listens on inherited sockets from its start, so
	 * only the shim can say when it listens (worker_notify).
	 */
	if (gen->pc->ready == READY_LISTENING &&
	    gen->pc->handoff == HANDOFF_SELF &&
	    (gen->listening = listening_new(&gen->env, gen->workers,
	    gen->nworkers)) == NULL) {
		*cause = strdup("out of memory");
		gen_stop_failed(gen);
		return -1;
	}
	if ((more = gen_spawn_some(gen, cause)) == 1 &&
	    gen_schedule_slice(gen) == -1) {
		cause_set(cause, "cannot schedule its workers' start (out of "
		    "memory)");
		more = WORKER_NOT_STARTED;
	}
	if (more == WORKER_CANNOT_RUN) {
		/* As if it had exited before ready: the reload fails with it. */
		worker_cannot_run(&gen->workers[gen->nspawned]);
		gen_fail(gen, "%s", cause_text(*cause));
		return -1;
	}
	if (more == WORKER_NOT_STARTED) {
		gen_stop_failed(gen);
		return -1;
	}
	gen_arm_timer(gen, gen->pc->ready_timeout_ms, gen_timer_fired);
	return 0;
}

/* The generation took over: from now on its crashed workers restart. */
void
gen_promote(struct generation *gen)
{
	gen->state = GEN_RUNNING;
	gen->on_probation = false;
	gen_cancel_timer(gen);
}

/*
 * Forget the process group of a worker whose own process is gone if the
 * group has emptied (kill(-pgid, 0)); tell whether it was forgotten.
 */
static bool
gen_check_group(struct worker *w)
{
	if (w->pid != 0 || w->pgid == 0 || worker_group_alive(w))
		return false;
	worker_set_pgid(w, 0);
	return true;
}

/* Look at every group gen_check_group would; return how many are left. */
static int
gen_check_all_groups(struct generation *gen)
{
	int i, left = 0;

	for (i = 0; i < gen->nworkers; i++) {
		struct worker *w = &gen->workers[i];
		if (!gen_check_group(w) && w->pid == 0 && w->pgid != 0)
			left++;
	}
	return left;
}

/*
 * A generation being drained or killed with no process left is gone.
 *
 * Its workers' groups are looked at as their members are reaped
 * (gen_group_member_exited), not all at each exit. A group can empty
 * with no exit of ours to tell (its last member's parent was a process
 * outside it): so once no worker's own process is left and no descendant
 * is either (descendants.c), every group still remembered is looked at
 * again. Which are left is counted as pids and groups are set and
 * forgotten (gen->count), so an exit costs the same with 10 workers as
 * with 10,000.
 */
static void
gen_settle(struct generation *gen)
{
	if (gen->state != GEN_DRAINING && gen->state != GEN_FAILED)
		return;
	if (gen->count.procs > 0)
		return;
	if (gen->count.groups > 0 && (gen->desc == NULL ||
	    !desc_group_empty(gen->desc) ||
	    gen_check_all_groups(gen) > 0))
		return;
	if (desc_group_empty(gen->desc)) {
		gen->state = GEN_GONE;
		gen_cancel_timer(gen);
		gen->cb(gen, GEN_EVENT_GONE, NULL, gen->cb_arg);
	}
}

/*
 * Forget worker process groups that have emptied; once a generation being
 * drained or killed has no process left, it is gone.
 */
void
gen_check_groups(struct generation *gen)
{
	(void)gen_check_all_groups(gen);
	gen_settle(gen);
}

/*
 * A process that was not a worker's own was reaped; it was of process
 * group pgid. If that is the group of a worker whose own process is gone,
 * look whether the group has emptied now (and so the generation is
 * gone). False when pgid is no worker's group the map knows: the caller
 * then looks at every group (gen_check_groups).
 */
bool
gen_group_member_exited(struct pidmap *groups, pid_t pgid)
{
	struct worker *w;

	if (pgid <= 0 || (w = worker_of_group(groups, pgid)) == NULL)
		return false;
	if (w->pid != 0)
		return true;	/* its worker still runs: not empty */
	if (gen_check_group(w))
		gen_settle(gen_of(w));
	return true;
}

/*
 * Ask every worker to stop (stop_signal); SIGKILL after drain_timeout.
 * Workers a drain held back are told now.
 */
void
gen_drain(struct generation *gen)
{
	gen_drain_holding(gen, gen->nworkers);
}

/*
 * Start the report of how the workers of a generation that begins to
 * drain end (drain_report.c); without memory for it, none is made.
 */
static void
gen_drain_report_begin(struct generation *gen)
{
	int i;

	gen->drain = drain_report_new(gen->program, gen->number,
	    gen->pc->stop_signal, gen->pc->drain_timeout_ms, gen->nworkers);
	if (gen->drain != NULL)
		gen->drain->reload = gen->drained_by;	/* 0: not a reload */
	for (i = 0; gen->drain != NULL && i < gen->nworkers; i++)
		drain_report_begin(gen->drain, i, gen->workers[i].pid);
}

/*
 * Drain, but leave the workers from index held_from on serving until a
 * plain gen_drain tells them too: reuseport mode lets a
 * retiring worker empty its socket's queue first. drain_timeout counts
 * for all of them.
 */
void
gen_drain_holding(struct generation *gen, int held_from)
{
	int i;

	if (gen->state == GEN_GONE)
		return;
	if (held_from > gen->nworkers)
		held_from = gen->nworkers;
	if (gen_stopping(gen)) {
		/* Stopping already: only those held back are left to tell. */
		if (held_from > gen->held_from) {
			for (i = gen->held_from; i < held_from; i++)
				worker_cancel_timer(&gen->workers[i]);
			gen->held_from = held_from;
			gen_stop_workers(gen);
		}
		return;
	}
	gen->state = GEN_DRAINING;
	gen_drain_report_begin(gen);
	gen_begin_stop(gen, held_from);
}

/*
 * Tell the workers below held_from to stop (stop_signal), a slice now and
 * the rest in later turns, and every process of the generation that left
 * its worker's group; SIGKILL to all after drain_timeout. No worker starts
 * any more, and none told restarts or becomes ready.
 */
static void
gen_begin_stop(struct generation *gen, int held_from)
{
	int i;

	gen->held_from = held_from;
	gen->ntold = 0;
	gen_cancel_spawner(gen);
	/* Those told in later slices neither become ready nor restart. */
	for (i = 0; i < gen->held_from; i++)
		worker_cancel_timer(&gen->workers[i]);
	gen_stop_workers(gen);
	/* Nothing tells those that left their worker's group to stop but us. */
	gen_signal_strays(gen, gen->pc->stop_signal);
	gen_arm_timer(gen, gen->pc->drain_timeout_ms, gen_timer_fired);
	gen_check_groups(gen);
}

/*
 * A generation that cannot become ready stops as a drain does (but
 * without a drain report): a worker of it that became ready may be
 * serving connections it accepted from the sockets every generation
 * shares, and a SIGKILL would cut them. Each worker started gets
 * stop_signal; what is left after drain_timeout is killed.
 */
static void
gen_stop_failed(struct generation *gen)
{
	gen->state = GEN_FAILED;
	gen_cancel_timer(gen);
	gen_begin_stop(gen, gen->nworkers);
}

/*
 * A generation still starting that a reload gives up on (another
 * program's failed): it stops as a failed one does (gen_stop_failed).
 */
void
gen_abandon(struct generation *gen)
{
	if (gen->state == GEN_STARTING)
		gen_stop_failed(gen);
}

/*
 * Kill every process of the generation now (SIGKILL to each group): a
 * stop that does not wait. One serving or still starting shows as
 * draining (nothing went wrong); a failed one stays failed.
 */
void
gen_kill(struct generation *gen)
{
	int i;

	if (gen->state == GEN_GONE)
		return;
	if (gen->state == GEN_STARTING || gen->state == GEN_RUNNING)
		gen->state = GEN_DRAINING;
	gen->held_from = gen->ntold = gen->nworkers;
	gen_cancel_timer(gen);
	gen_cancel_spawner(gen);
	for (i = 0; i < gen->nworkers; i++)
		worker_kill(&gen->workers[i]);
	desc_group_kill(gen->desc);
	gen_check_groups(gen);
}

/* The generation cannot become ready: say why, once, and stop it. */
static void
gen_fail(struct generation *gen, const char *fmt, ...)
{
	char why[512];
	va_list ap;

	if (gen->state != GEN_STARTING)
		return;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	gen->state = GEN_FAILED;
	gen_cancel_timer(gen);
	gen->cb(gen, GEN_EVENT_FAILED, why, gen->cb_arg);
	gen_stop_failed(gen);
}

/* Free a generation (its processes must be gone). */
void
gen_free(struct generation *gen)
{
	size_t j;
	int i;

	if (gen == NULL)
		return;
	gen_cancel_timer(gen);
	gen_cancel_spawner(gen);
	gen_spawn_unwait(gen);
	listening_free(gen->listening);
	drain_report_free(gen->drain);
	for (i = 0; i < gen->nworkers; i++)
		worker_free(&gen->workers[i]);
	desc_group_free(gen->desc);
	for (j = 0; j < gen->nlisteners; j++)
		listener_unref(gen->listeners[j]);
	config_unref(gen->conf);
	free(gen->listeners);
	free(gen->workers);
	free(gen->program);
	free(gen->record_lines);
	free(gen);
}

/* The worker whose process (or announced MAINPID) is pid, or NULL. */
struct worker *
gen_find_worker(struct generation *gen, pid_t pid)
{
	int i;

	for (i = 0; i < gen->nworkers; i++)
		if (worker_is_process(&gen->workers[i], pid))
			return &gen->workers[i];
	return NULL;
}

/* The generation a worker belongs to. */
struct generation *
gen_of(const struct worker *w)
{
	return w->env->cb_arg;
}

/* The running worker whose process group is pgid, or NULL. */
struct worker *
gen_find_worker_group(struct generation *gen, pid_t pgid)
{
	int i;

	for (i = 0; i < gen->nworkers; i++)
		if (gen->workers[i].pid != 0 && gen->workers[i].pgid == pgid)
			return &gen->workers[i];
	return NULL;
}

/* How many workers have a process, or a process group, still alive. */
int
gen_live_processes(const struct generation *gen)
{
	return gen->count.procs + gen->count.groups;
}

/* Tell whether pid is one of the generation's workers (or its MAINPID). */
static bool
gen_is_worker(const struct generation *gen, pid_t pid)
{
	const struct worker *w = pidmap_get(gen->env.pids, pid);
	int i;

	if (gen->env.pids != NULL)
		return w != NULL && w->env == &gen->env &&
		    worker_is_process(w, pid);
	for (i = 0; i < gen->nworkers; i++)
		if (worker_is_process(&gen->workers[i], pid))
			return true;
	return false;
}

/*
 * The generation's live processes other than its workers, as up to date as
 * need asks (desc_group_pids): fills up to max pids, returns how many
 * there are.
 */
size_t
gen_descendants(const struct generation *gen, enum desc_need need,
    pid_t *pids, size_t max)
{
	pid_t *all = NULL, *grown;
	size_t space = 64, n, i, k = 0;

	for (;;) {
		if ((grown = reallocarray(all, space, sizeof(*all))) == NULL) {
			free(all);
			return 0;
		}
		all = grown;
		if ((n = desc_group_pids(gen->desc, need, all, space)) <= space)
			break;
		space = n + 16;
	}
	for (i = 0; i < n; i++) {
		if (gen_is_worker(gen, all[i]))
			continue;
		if (k < max)
			pids[k] = all[i];
		k++;
	}
	free(all);
	return k;
}

/*
 * Send sig (0: none) to every descendant that left its worker's process
 * group: no worker passes a signal on to those. Returns how many there are.
 */
static int
gen_signal_strays(struct generation *gen, int sig)
{
	pid_t *pids;
	size_t n, got, i;
	int k, count = 0;
	bool ours;

	if ((n = gen_descendants(gen, DESC_FRESH, NULL, 0)) == 0 ||
	    (pids = calloc(n, sizeof(*pids))) == NULL)
		return 0;
	if ((got = gen_descendants(gen, DESC_FRESH, pids, n)) < n)
		n = got;
	for (i = 0; i < n; i++) {
		pid_t pgid = gen->env.ops->getpgid(pids[i]);
		for (ours = false, k = 0; k < gen->nworkers; k++)
			if (gen->workers[k].pgid != 0 &&
			    gen->workers[k].pgid == pgid)
				ours = true;
		if (ours || pgid == -1)
			continue;
		if (sig != 0)
			gen->env.ops->kill(pids[i], sig);
		count++;
	}
	free(pids);
	return count;
}

/* The descendants of a generation may have changed: is it gone? */
static void
gen_desc_changed(void *arg)
{
	gen_check_groups(arg);
}

/*
 * The last ready worker of a running generation is gone: bring every
 * restart due later than BACKOFF_NONE_READY_MS forward to then, so that
 * the program is not left with nothing accepting for a whole backoff.
 */
static void
gen_hurry_restarts(struct generation *gen)
{
	int i, n = 0;

	for (i = 0; i < gen->nworkers; i++) {
		struct worker *w = &gen->workers[i];
		if (worker_restart_in_ms(w) > BACKOFF_NONE_READY_MS) {
			worker_restart_within(w, BACKOFF_NONE_READY_MS);
			n++;
		}
	}
	if (n > 0)
		log_info("%s gen %u: no worker is ready; restarting %d worker%s "
		    "in backoff within %dms", gen->program, gen->number, n,
		    n == 1 ? "" : "s", BACKOFF_NONE_READY_MS);
}

/* A worker exited on probation: the generation fails, saying when. */
static void
gen_fail_probation(struct generation *gen, struct worker *w, pid_t pid,
    const char *how)
{
	char limit[32];
	uint64_t after = elapsed_ms(&gen->ready_at);

	gen->on_probation = false;
	format_duration(gen->pc->probation_ms, limit, sizeof(limit));
	log_warnx("%s gen %u worker %d pid %d: %s %llums after ready, on "
	    "probation", gen->program, gen->number, w->index, (int)pid, how,
	    (unsigned long long)after);
	gen_fail(gen, "worker %d pid %d %s %llums after ready, within its "
	    "probation of %s", w->index, (int)pid, how,
	    (unsigned long long)after, limit);
}

/*
 * A child was reaped: if it is one of this generation's workers, act on
 * it and return true.
 */
bool
gen_child_exited(struct generation *gen, pid_t pid, int status)
{
	struct worker *w = gen_find_worker(gen, pid);

	if (w == NULL || w->pid != pid)
		return false;
	gen_worker_exited(gen, w, status);
	return true;
}

/*
 * A worker exited (before ready, or soon after a readiness that did not
 * prove it serves): if its output said "address already in use", what to
 * tell (bindhint.c); else "".
 */
static void
gen_bind_hint(struct generation *gen, struct worker *w, char *buf, size_t len)
{
	buf[0] = '\0';
	worker_flush_output(w);	/* its last lines may not be read yet */
	if (w->addr_in_use && gen->pc->handoff != HANDOFF_SELF)
		bindhint_describe(gen->pc, gen->listeners, gen->nlisteners, buf,
		    len);
}

/*
 * Worker w's process exited with status: decide what follows. Its process
 * group is looked at, not those of the others (gen_group_member_exited).
 * A process whose command could not run (its start was in flight, and
 * spawn.c told why: w->exec_failed, w->cannot_run) is what a start that says so at once
 * is (gen_slice, gen_start, worker_restart): the generation fails with
 * why, or the restart backs off.
 */
void
gen_worker_exited(struct generation *gen, struct worker *w, int status)
{
	char how[128], hint[320], *why;
	const char *what;
	pid_t pid = w->pid;
	bool checked = false, cannot, was_ready = w->state == WORKER_READY;

	if (worker_reaped(w, status, how, sizeof(how)) == WORKER_EXIT_CARRIED_ON)
		return;
	cannot = w->exec_failed;
	why = w->cannot_run;
	w->exec_failed = false;
	w->cannot_run = NULL;
	what = why != NULL ? why : how;
	if (w->state == WORKER_READY && gen->nready > 0) {
		gen->nready--;
		if (gen->nready == 0 && gen->state == GEN_RUNNING)
			gen_hurry_restarts(gen);
		/* Told before its state changes: the owner acts later. */
		gen->cb(gen, GEN_EVENT_SERVING, NULL, gen->cb_arg);
	}

	if (!cannot)
		worker_clear_failures(w);	/* its command ran */

	switch (gen->state) {
	case GEN_STARTING:
		gen_bind_hint(gen, w, hint, sizeof(hint));
		worker_ended(w);
		if (gen->on_probation) {
			gen_fail_probation(gen, w, pid, what);
			break;
		}
		if (cannot) {
			worker_cannot_run(w);
			gen_fail(gen, "%s", why != NULL ? why : "its command "
			    "could not run (no memory to say why)");
			break;
		}
		/* One ready before the others were is no less a failure. */
		log_warnx("%s gen %u worker %d pid %d: %s %s%s%s",
		    gen->program, gen->number, w->index, (int)pid, how,
		    was_ready ? "after it was ready, before every worker was" :
		    "before ready", hint[0] ? "; " : "", hint);
		gen_fail(gen, "worker %d pid %d %s %s%s%s", w->index, (int)pid,
		    how, was_ready ? "after it was ready, before every worker "
		    "was" : "before ready", hint[0] ? "; " : "", hint);
		break;
	case GEN_RUNNING:
		if (cannot) {
			worker_start_failed(w, why != NULL ? why : "its command "
			    "could not run (no memory to say why)", gen->nready == 0);
			break;
		}
		/* Ready by delay or a log line, then failed to bind. */
		gen_bind_hint(gen, w, hint, sizeof(hint));
		worker_exited_running(w, status, how, gen->nready == 0);
		if (hint[0] != '\0')
			log_warnx("%s gen %u worker %d pid %d: %s", gen->program,
			    gen->number, w->index, (int)pid, hint);
		break;
	default:
		if (gen->state == GEN_DRAINING)
			drain_report_exit(gen->drain, w->index, pid, status);
		log_info("%s gen %u worker %d pid %d: %s", gen->program,
		    gen->number, w->index, (int)pid, what);
		worker_ended(w);
		(void)gen_check_group(w);
		checked = true;
		if (gen->state == GEN_DRAINING)
			gen->cb(gen, GEN_EVENT_WORKER_EXITED, NULL, gen->cb_arg);
		break;
	}
	free(why);
	if (!checked)
		(void)gen_check_group(w);
	gen_settle(gen);
}

/*
 * A worker event: one more is ready (the generation is, with its last),
 * or one in backoff is due to start again.
 */
static void
gen_worker_event(struct worker *w, enum worker_event ev, void *arg)
{
	struct generation *gen = arg;

	switch (ev) {
	case WORKER_EVENT_READY:
		gen->nready++;
		gen->cb(gen, GEN_EVENT_SERVING, NULL, gen->cb_arg);
		if (gen->state == GEN_STARTING && gen->nready == gen->nworkers &&
		    !gen->on_probation) {
			clock_gettime(CLOCK_MONOTONIC, &gen->ready_at);
			gen_cancel_timer(gen);
			if (!gen_begin_probation(gen))
				gen->cb(gen, GEN_EVENT_READY, NULL, gen->cb_arg);
		} else if (gen->state == GEN_STARTING)
			gen->cb(gen, GEN_EVENT_WORKER_READY, NULL, gen->cb_arg);
		else if (gen->state == GEN_RUNNING)
			log_info("%s gen %u worker %d pid %d: ready again after "
			    "restart %u", gen->program, gen->number, w->index,
			    (int)w->pid, w->restarts);
		break;
	case WORKER_EVENT_RESTART:
		if (gen->state == GEN_RUNNING &&
		    worker_restart(w, gen->nready == 0) == 0)
			listening_watch(gen->listening);
		break;
	}
}

/* A notify message from one of this generation's workers. */
void
gen_notify(struct generation *gen, struct worker *w, const char *key,
    const char *value)
{
	(void)gen;
	worker_notify(w, key, value);
}

/* Write a generation and its workers as records (an upgrade). */
void
gen_save(struct generation *gen, struct state_writer *w)
{
	int i;

	state_rec(w, "gen");
	state_str(w, "program", gen->program);
	state_int(w, "number", gen->number);
	state_str(w, "state", gen_state_name(gen->state));
	state_time(w, "started", &gen->started);
	state_time(w, "ready_at", &gen->ready_at);
	for (i = 0; i < gen->nworkers; i++)
		worker_save(&gen->workers[i], w);
}

/*
 * Take a running generation back after an upgrade's exec (gen made by
 * gen_new): its times from r, its workers from their records in st.
 * -1 with *cause if its processes cannot be tracked.
 */
int
gen_restore(struct generation *gen, const struct state_rec *r,
    const struct state *st, char **cause)
{
	const struct state_rec *wr;
	long long index;
	size_t i;

	(void)state_get_time(r, "started", &gen->started);
	(void)state_get_time(r, "ready_at", &gen->ready_at);
	if (gen->env.ops->track != NULL) {
		gen->desc = gen->env.ops->track(gen->program, gen->number,
		    gen_desc_changed, gen, cause);
		if (gen->desc == NULL)
			return -1;
		gen->env.desc = gen->desc;
	}
	gen->state = GEN_RUNNING;
	gen->nspawned = gen->nworkers;
	for (i = 0; i < st->nrecs; i++) {
		wr = &st->recs[i];
		index = state_get_int(wr, "index", -1);
		if (strcmp(wr->kind, "worker") != 0 ||
		    state_get(wr, "program") == NULL ||
		    strcmp(state_get(wr, "program"), gen->program) != 0 ||
		    state_get_int(wr, "gen", -1) != (long long)gen->number ||
		    index < 0 || index >= gen->nworkers)
			continue;
		worker_restore(&gen->workers[index], wr);
		if (gen->workers[index].state == WORKER_READY)
			gen->nready++;
	}
	return 0;
}
