/*
 * generation.c: one program's workers from one config.
 *
 * A generation starts its workers (GEN_STARTING) and reports
 * GEN_EVENT_READY once every worker is ready, or GEN_EVENT_FAILED if one
 * exits or the ready_timeout passes first; then it is killed. The
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
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "child.h"
#include "config.h"
#include "descendants.h"
#include "generation.h"
#include "listener.h"
#include "log.h"
#include "output.h"
#include "parse.h"

static void	gen_fail(struct generation *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static int	worker_spawn(struct worker *, char **, bool *);
static uint64_t	worker_schedule_restart(struct worker *);
static void	worker_clear_failures(struct worker *);
static void	gen_fail_probation(struct generation *, struct worker *, pid_t,
		    const char *);
static int	gen_signal_strays(struct generation *, int);
static void	gen_desc_changed(void *);

/* Milliseconds since a point on the monotonic clock. */
uint64_t
elapsed_ms(const struct timespec *since)
{
	struct timespec now;
	int64_t ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (int64_t)(now.tv_sec - since->tv_sec) * 1000 +
	    (now.tv_nsec - since->tv_nsec) / 1000000;
	return ms < 0 ? 0 : (uint64_t)ms;
}

/* A timeval for an event timer of ms milliseconds. */
static struct timeval
gen_timeval(uint64_t ms)
{
	struct timeval tv;

	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	return tv;
}

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

/* "starting", "ready", ... for logs and status. */
const char *
worker_state_name(enum worker_state state)
{
	static const char *const names[] = {
		[WORKER_STARTING] = "starting", [WORKER_READY] = "ready",
		[WORKER_BACKOFF] = "backoff", [WORKER_STOPPING] = "stopping",
		[WORKER_EXITED] = "exited", [WORKER_FAILED] = "failed",
	};
	return names[state];
}

/* Describe a wait status: "exited with status 3", "was killed by signal 9 (KILL)". */
void
gen_describe_status(int status, char *buf, size_t len)
{
	if (WIFEXITED(status))
		snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "was killed by signal %d (%s)", WTERMSIG(status),
		    signal_name(WTERMSIG(status)));
	else
		snprintf(buf, len, "stopped with wait status %#x", status);
}

/* A new generation (not started) that references conf and the listeners. */
struct generation *
gen_new(struct event_base *base, struct config *conf, struct program_conf *pc,
    struct listener **listeners, unsigned int number, const char *notify_socket,
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
	for (j = 0; j < pc->nlisteners; j++) {
		gen->listeners[j] = listeners[j];
		listener_ref(listeners[j]);
	}
	gen->nlisteners = pc->nlisteners;
	gen->nworkers = pc->workers;
	for (i = 0; i < gen->nworkers; i++) {
		gen->workers[i].gen = gen;
		gen->workers[i].index = i;
		gen->workers[i].last_status = -1;
	}
	return gen;
}

/* Stop a worker's timer, if any. */
static void
worker_cancel_timer(struct worker *w)
{
	if (w->timer != NULL) {
		event_free(w->timer);
		w->timer = NULL;
	}
}

/* Arm a worker's one-shot timer. */
static void
worker_arm_timer(struct worker *w, uint64_t ms, event_callback_fn fn)
{
	struct timeval tv = gen_timeval(ms);

	worker_cancel_timer(w);
	w->timer = evtimer_new(w->gen->base, fn, w);
	if (w->timer == NULL || evtimer_add(w->timer, &tv) == -1)
		fatalx("cannot arm a timer for %s gen %u worker %d",
		    w->gen->program, w->gen->number, w->index);
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

/* Arm the generation's one-shot timer. */
static void
gen_arm_timer(struct generation *gen, uint64_t ms, event_callback_fn fn)
{
	struct timeval tv = gen_timeval(ms);

	gen_cancel_timer(gen);
	gen->timer = evtimer_new(gen->base, fn, gen);
	if (gen->timer == NULL || evtimer_add(gen->timer, &tv) == -1)
		fatalx("cannot arm a timer for %s gen %u", gen->program,
		    gen->number);
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

/* Mark a worker ready; report the generation ready with its last worker. */
static void
worker_ready(struct worker *w)
{
	struct generation *gen = w->gen;

	if (w->state != WORKER_STARTING)
		return;
	w->state = WORKER_READY;
	worker_cancel_timer(w);
	worker_clear_failures(w);
	gen->nready++;
	log_debug("%s gen %u worker %d pid %d: ready", gen->program,
	    gen->number, w->index, (int)w->pid);
	if (gen->state == GEN_STARTING && gen->nready == gen->nworkers &&
	    !gen->on_probation) {
		clock_gettime(CLOCK_MONOTONIC, &gen->ready_at);
		gen_cancel_timer(gen);
		if (gen_begin_probation(gen))
			return;
		gen->cb(gen, GEN_EVENT_READY, NULL, gen->cb_arg);
	} else if (gen->state == GEN_STARTING)
		gen->cb(gen, GEN_EVENT_WORKER_READY, NULL, gen->cb_arg);
	else if (gen->state == GEN_RUNNING)
		log_info("%s gen %u worker %d pid %d: ready again after "
		    "restart %u", gen->program, gen->number, w->index,
		    (int)w->pid, w->restarts);
}

/* Timer: ready = delay:D has passed for a worker still alive. */
static void
worker_delay_done(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;

	(void)fd;
	(void)what;
	if (w->pid != 0)
		worker_ready(w);
}

/*
 * A worker of a running generation could not be restarted (its command is
 * gone or cannot run, no process or fd is left): try again with backoff,
 * for as long as it takes. Logged once per streak of failures; status
 * shows the last error.
 */
static void
worker_start_failed(struct worker *w, const char *why)
{
	struct generation *gen = w->gen;
	char delay[32];

	free(w->last_error);
	w->last_error = strdup(why);
	w->pid = 0;
	format_duration(worker_schedule_restart(w), delay, sizeof(delay));
	if (w->start_failures++ == 0)
		log_errorx("%s gen %u worker %d: cannot restart: %s; trying "
		    "again with backoff (next in %s; logged again once it "
		    "runs)", gen->program, gen->number, w->index, why, delay);
	else
		log_debug("%s gen %u worker %d: still cannot restart (%u in a "
		    "row): %s; next try in %s", gen->program, gen->number,
		    w->index, w->start_failures, why, delay);
}

/* A worker that could not be restarted runs again: end the streak. */
static void
worker_clear_failures(struct worker *w)
{
	struct generation *gen = w->gen;

	if (w->start_failures == 0)
		return;
	log_info("%s gen %u worker %d pid %d: runs again after %u failed "
	    "restart%s", gen->program, gen->number, w->index, (int)w->pid,
	    w->start_failures, w->start_failures == 1 ? "" : "s");
	w->start_failures = 0;
	free(w->last_error);
	w->last_error = NULL;
}

/* Timer: a crashed worker's backoff has passed; start it again. */
static void
worker_restart(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	struct generation *gen = w->gen;
	char *cause = NULL;
	bool transient;

	(void)fd;
	(void)what;
	worker_cancel_timer(w);
	if (gen->state != GEN_RUNNING || w->state != WORKER_BACKOFF)
		return;
	w->restarts++;
	if (worker_spawn(w, &cause, &transient) != 0)
		worker_start_failed(w, cause ? cause : "out of memory");
	free(cause);
}

/*
 * Start one worker of the generation. Returns 0, -1 if no process was
 * started, or CHILD_CANNOT_RUN if the child could not exec (*cause says
 * "cannot run ..."). On failure *transient says whether it may work later
 * (no fds or processes left) or not (the command cannot be found, the
 * user cannot be switched to).
 */
static int
worker_spawn(struct worker *w, char **cause, bool *transient)
{
	struct generation *gen = w->gen;
	struct program_conf *pc = gen->pc;
	struct child_spec spec;
	struct child_proc proc;
	char prefix[256];
	int rc;

	*transient = false;
	if (child_spec_init(&spec, pc, gen->listeners, gen->nlisteners,
	    gen->number, w->index,
	    pc->ready == READY_NOTIFY ? gen->notify_socket : NULL, cause) == -1)
		return -1;
	spec.cgroup_fd = desc_group_procs_fd(gen->desc);
	rc = child_spawn(&spec, &proc, cause);
	child_spec_free(&spec);
	if (rc == CHILD_NOT_STARTED) {
		*transient = true;
		return -1;
	}
	/* A process ran: what the last one wrote is logged now. */
	output_free(w->output);
	w->output = NULL;
	if (rc == CHILD_CANNOT_RUN) {
		w->last_status = proc.wait_status;
		return CHILD_CANNOT_RUN;
	}
	desc_group_add(gen->desc, proc.pid);
	snprintf(prefix, sizeof(prefix), "%s gen %u pid %d", gen->program,
	    gen->number, (int)proc.pid);
	/* output = discard: the child has /dev/null and there is no pipe. */
	if (proc.output_fd != -1 && (w->output = output_new(gen->base,
	    proc.output_fd, prefix, &w->output_dropped)) == NULL)
		close(proc.output_fd);
	w->pid = proc.pid;
	w->pgid = proc.pid;
	w->mainpid = 0;
	w->state = WORKER_STARTING;
	clock_gettime(CLOCK_MONOTONIC, &w->started);
	log_debug("%s gen %u worker %d pid %d: started", gen->program,
	    gen->number, w->index, (int)w->pid);
	if (pc->ready == READY_DELAY)
		worker_arm_timer(w, pc->ready_delay_ms, worker_delay_done);
	return 0;
}

/* Timer: ready_timeout while starting, drain_timeout while draining. */
static void
gen_timer_fired(evutil_socket_t fd, short what, void *arg)
{
	struct generation *gen = arg;
	char limit[32];
	int i, n = 0, strays;

	(void)fd;
	(void)what;
	gen_cancel_timer(gen);
	if (gen->state == GEN_STARTING) {
		format_duration(gen->pc->ready_timeout_ms, limit, sizeof(limit));
		gen_fail(gen, "not ready within ready_timeout %s (%d/%d workers "
		    "ready)", limit, gen->nready, gen->nworkers);
		return;
	}
	if (gen->state != GEN_DRAINING)
		return;
	strays = gen_signal_strays(gen, 0);
	for (i = 0; i < gen->nworkers; i++) {
		struct worker *w = &gen->workers[i];
		if (w->pgid == 0 && w->pid == 0)
			continue;
		n++;
		if (w->pgid != 0)
			kill(-w->pgid, SIGKILL);
		if (w->pid != 0)
			kill(w->pid, SIGKILL);
	}
	desc_group_kill(gen->desc);
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

/* Start every worker and the ready_timeout. */
int
gen_start(struct generation *gen, char **cause)
{
	bool transient;
	int i, rc;

	clock_gettime(CLOCK_MONOTONIC, &gen->started);
	log_info("%s gen %u: starting %d worker%s", gen->program, gen->number,
	    gen->nworkers, gen->nworkers == 1 ? "" : "s");
	gen->desc = desc_group_new(gen->program, gen->number, gen_desc_changed,
	    gen, cause);
	if (gen->desc == NULL) {
		gen->state = GEN_FAILED;
		gen_kill(gen, true);
		return -1;
	}
	for (i = 0; i < gen->nworkers; i++) {
		rc = worker_spawn(&gen->workers[i], cause, &transient);
		if (rc == CHILD_CANNOT_RUN) {
			/* Failed, as if it had exited before ready. */
			gen->workers[i].state = WORKER_FAILED;
			gen_fail(gen, "%s", *cause);
			return -1;
		}
		if (rc == -1) {
			gen->state = GEN_FAILED;
			gen_kill(gen, true);
			return -1;
		}
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
 * Tell whether the MAINPID a worker announced is still one of its own
 * processes: in its process group. A worker can name no other process.
 */
static bool
worker_mainpid_valid(const struct worker *w)
{
	return w->mainpid != 0 && w->mainpid != w->pid && w->pgid != 0 &&
	    getpgid(w->mainpid) == w->pgid;
}

/* Send a signal to a worker's process (and the pid it announced). */
static void
worker_signal(struct worker *w, int sig)
{
	if (w->pid != 0)
		kill(w->pid, sig);
	if (worker_mainpid_valid(w))
		kill(w->mainpid, sig);
}

/* Tell whether any member of a process group is still alive. */
static bool
gen_group_alive(pid_t pgid)
{
	return kill(-pgid, 0) == 0 || errno == EPERM;
}

/*
 * Forget worker process groups that have emptied; once a generation being
 * drained or killed has no process left, it is gone.
 */
void
gen_check_groups(struct generation *gen)
{
	int i;

	for (i = 0; i < gen->nworkers; i++) {
		struct worker *w = &gen->workers[i];
		if (w->pid == 0 && w->pgid != 0 && !gen_group_alive(w->pgid))
			w->pgid = 0;
	}
	if ((gen->state == GEN_DRAINING || gen->state == GEN_FAILED) &&
	    gen_live_processes(gen) == 0 && desc_group_empty(gen->desc)) {
		gen->state = GEN_GONE;
		gen_cancel_timer(gen);
		gen->cb(gen, GEN_EVENT_GONE, NULL, gen->cb_arg);
	}
}

/* Ask every worker to stop (stop_signal); SIGKILL after drain_timeout. */
void
gen_drain(struct generation *gen)
{
	int i;

	if (gen->state == GEN_DRAINING || gen->state == GEN_GONE)
		return;
	gen->state = GEN_DRAINING;
	for (i = 0; i < gen->nworkers; i++) {
		struct worker *w = &gen->workers[i];
		worker_cancel_timer(w);
		if (w->pid != 0) {
			worker_signal(w, gen->pc->stop_signal);
			w->state = WORKER_STOPPING;
		} else if (w->state != WORKER_FAILED)
			w->state = WORKER_EXITED;
	}
	/* Nothing tells those that left their worker's group to stop but us. */
	gen_signal_strays(gen, gen->pc->stop_signal);
	gen_arm_timer(gen, gen->pc->drain_timeout_ms, gen_timer_fired);
	gen_check_groups(gen);
}

/*
 * Kill every process of the generation now (SIGKILL to each group). A
 * generation killed because it failed shows as failed; one killed by a
 * stop (serving, or still starting) is draining: nothing went wrong.
 */
void
gen_kill(struct generation *gen, bool failed)
{
	int i;

	if (gen->state == GEN_GONE)
		return;
	if (failed && gen->state == GEN_STARTING)
		gen->state = GEN_FAILED;
	else if (gen->state == GEN_STARTING || gen->state == GEN_RUNNING)
		gen->state = GEN_DRAINING;
	gen_cancel_timer(gen);
	for (i = 0; i < gen->nworkers; i++) {
		struct worker *w = &gen->workers[i];
		worker_cancel_timer(w);
		if (w->pgid != 0)
			kill(-w->pgid, SIGKILL);
		worker_signal(w, SIGKILL);
		if (w->pid != 0)
			w->state = WORKER_STOPPING;
	}
	desc_group_kill(gen->desc);
	gen_check_groups(gen);
}

/* The generation cannot become ready: kill it and say why, once. */
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
	gen_kill(gen, true);
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
	for (i = 0; i < gen->nworkers; i++) {
		struct worker *w = &gen->workers[i];
		worker_cancel_timer(w);
		output_free(w->output);
		free(w->status_text);
		free(w->last_error);
	}
	desc_group_free(gen->desc);
	for (j = 0; j < gen->nlisteners; j++)
		listener_unref(gen->listeners[j]);
	config_unref(gen->conf);
	free(gen->listeners);
	free(gen->workers);
	free(gen->program);
	free(gen);
	/* Give the pages its workers used back to the system. */
	malloc_trim(0);
}

/* The worker whose process (or announced MAINPID) is pid, or NULL. */
struct worker *
gen_find_worker(struct generation *gen, pid_t pid)
{
	int i;

	for (i = 0; i < gen->nworkers; i++) {
		struct worker *w = &gen->workers[i];
		if (w->pid == pid || (w->mainpid != 0 && w->mainpid == pid))
			return &gen->workers[i];
	}
	return NULL;
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

/* Count workers with a process, or a process group, still alive. */
int
gen_live_processes(const struct generation *gen)
{
	int i, n = 0;

	for (i = 0; i < gen->nworkers; i++)
		if (gen->workers[i].pid != 0 || gen->workers[i].pgid != 0)
			n++;
	return n;
}

/* Tell whether pid is one of the generation's workers (or its MAINPID). */
static bool
gen_is_worker(const struct generation *gen, pid_t pid)
{
	int i;

	for (i = 0; i < gen->nworkers; i++)
		if (gen->workers[i].pid == pid ||
		    (gen->workers[i].mainpid != 0 && gen->workers[i].mainpid == pid))
			return true;
	return false;
}

/*
 * The generation's live processes other than its workers: fills up to max
 * pids, returns how many there are.
 */
size_t
gen_descendants(struct generation *gen, pid_t *pids, size_t max)
{
	pid_t *all = NULL, *grown;
	size_t space = 64, n, i, k = 0;

	for (;;) {
		if ((grown = reallocarray(all, space, sizeof(*all))) == NULL) {
			free(all);
			return 0;
		}
		all = grown;
		if ((n = desc_group_pids(gen->desc, all, space)) <= space)
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

	if ((n = gen_descendants(gen, NULL, 0)) == 0 ||
	    (pids = calloc(n, sizeof(*pids))) == NULL)
		return 0;
	if ((got = gen_descendants(gen, pids, n)) < n)
		n = got;
	for (i = 0; i < n; i++) {
		pid_t pgid = getpgid(pids[i]);
		for (ours = false, k = 0; k < gen->nworkers; k++)
			if (gen->workers[k].pgid != 0 &&
			    gen->workers[k].pgid == pgid)
				ours = true;
		if (ours || pgid == -1)
			continue;
		if (sig != 0)
			kill(pids[i], sig);
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

/* Decide what follows a running worker's exit: restart with backoff, or not. */
static void
worker_exited_running(struct worker *w, int status, const char *how)
{
	struct generation *gen = w->gen;
	uint64_t ran = elapsed_ms(&w->started);
	bool failed = !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	char delay[32];

	/* Leftovers of a crashed worker would hold its sockets: kill them. */
	if (w->pgid != 0 && gen_group_alive(w->pgid))
		kill(-w->pgid, SIGKILL);
	if (gen->pc->restart == RESTART_NEVER ||
	    (gen->pc->restart == RESTART_ON_FAILURE && !failed)) {
		w->state = WORKER_EXITED;
		log_warnx("%s gen %u worker %d pid %d: %s; not restarted "
		    "(restart = %s)", gen->program, gen->number, w->index,
		    (int)w->pid, how, restart_policy_name(gen->pc->restart));
		return;
	}
	if (ran >= BACKOFF_RESET_MS)
		w->backoff_ms = 0;
	format_duration(worker_schedule_restart(w), delay, sizeof(delay));
	log_warnx("%s gen %u worker %d pid %d: %s after %llums; restarting in %s "
	    "(restart %u)", gen->program, gen->number, w->index, (int)w->pid,
	    how, (unsigned long long)ran, delay, w->restarts + 1);
}

/* Arm a worker's restart ms from now. */
static void
worker_arm_restart(struct worker *w, uint64_t ms)
{
	worker_arm_timer(w, ms, worker_restart);
	clock_gettime(CLOCK_MONOTONIC, &w->restart_at);
	w->restart_at.tv_sec += (time_t)(ms / 1000);
	w->restart_at.tv_nsec += (long)(ms % 1000) * 1000000;
	if (w->restart_at.tv_nsec >= 1000000000) {
		w->restart_at.tv_sec++;
		w->restart_at.tv_nsec -= 1000000000;
	}
}

/*
 * Restart a worker after its backoff: 100ms, doubling up to 30s; but
 * while no worker of the generation is ready, within
 * BACKOFF_NONE_READY_MS (the backoff still grows). Returns the delay.
 */
static uint64_t
worker_schedule_restart(struct worker *w)
{
	uint64_t delay;

	if (w->backoff_ms == 0)
		w->backoff_ms = BACKOFF_INITIAL_MS;
	else if ((w->backoff_ms *= 2) > BACKOFF_MAX_MS)
		w->backoff_ms = BACKOFF_MAX_MS;
	delay = w->backoff_ms;
	if (w->gen->nready == 0 && delay > BACKOFF_NONE_READY_MS)
		delay = BACKOFF_NONE_READY_MS;
	w->state = WORKER_BACKOFF;
	worker_arm_restart(w, delay);
	return delay;
}

/* Milliseconds until a worker in backoff restarts; -1 if it is not waiting. */
int64_t
gen_restart_in_ms(const struct worker *w)
{
	struct timespec now;
	int64_t ms;

	if (w->state != WORKER_BACKOFF || w->timer == NULL)
		return -1;
	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (int64_t)(w->restart_at.tv_sec - now.tv_sec) * 1000 +
	    (w->restart_at.tv_nsec - now.tv_nsec) / 1000000;
	return ms < 0 ? 0 : ms;
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
		if (gen_restart_in_ms(w) > BACKOFF_NONE_READY_MS) {
			worker_arm_restart(w, BACKOFF_NONE_READY_MS);
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
	struct worker *w = NULL;
	char how[128];
	int i;

	for (i = 0; i < gen->nworkers; i++)
		if (gen->workers[i].pid == pid)
			w = &gen->workers[i];
	if (w == NULL)
		return false;

	/*
	 * A wrapper that announced the server it started as MAINPID and
	 * exited: the server (now our child, as we are a subreaper) is the
	 * worker from here on.
	 */
	if (worker_mainpid_valid(w)) {
		log_info("%s gen %u worker %d: pid %d exited; its MAINPID %d "
		    "carries on", gen->program, gen->number, w->index, (int)pid,
		    (int)w->mainpid);
		w->pid = w->mainpid;
		w->mainpid = 0;
		return true;
	}

	gen_describe_status(status, how, sizeof(how));
	w->last_status = status;
	worker_cancel_timer(w);
	if (w->state == WORKER_READY && gen->nready > 0) {
		gen->nready--;
		if (gen->nready == 0 && gen->state == GEN_RUNNING)
			gen_hurry_restarts(gen);
	}

	worker_clear_failures(w);	/* its command ran */

	switch (gen->state) {
	case GEN_STARTING:
		w->pid = 0;
		w->state = WORKER_EXITED;
		if (gen->on_probation) {
			gen_fail_probation(gen, w, pid, how);
			break;
		}
		log_warnx("%s gen %u worker %d pid %d: %s before ready",
		    gen->program, gen->number, w->index, (int)pid, how);
		gen_fail(gen, "worker %d pid %d %s before ready", w->index,
		    (int)pid, how);
		break;
	case GEN_RUNNING:
		worker_exited_running(w, status, how);
		w->pid = 0;
		break;
	default:
		log_info("%s gen %u worker %d pid %d: %s", gen->program,
		    gen->number, w->index, (int)pid, how);
		w->pid = 0;
		w->state = WORKER_EXITED;
		if (w->pgid != 0 && !gen_group_alive(w->pgid))
			w->pgid = 0;
		if (gen->state == GEN_DRAINING)
			gen->cb(gen, GEN_EVENT_WORKER_EXITED, NULL, gen->cb_arg);
		break;
	}
	gen_check_groups(gen);
	return true;
}

/*
 * The length of the well-formed UTF-8 sequence at p (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF), or 0 if there is none.
 */
static size_t
gen_utf8_len(const unsigned char *p)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n, k;

	if (*p < 0x80)
		return 1;
	if (*p >= 0xc2 && *p <= 0xdf)
		n = 2;
	else if (*p >= 0xe0 && *p <= 0xef) {
		n = 3;
		if (*p == 0xe0)
			lo = 0xa0;	/* overlong below U+0800 */
		else if (*p == 0xed)
			hi = 0x9f;	/* surrogates U+D800..U+DFFF */
	} else if (*p >= 0xf0 && *p <= 0xf4) {
		n = 4;
		if (*p == 0xf0)
			lo = 0x90;	/* overlong below U+10000 */
		else if (*p == 0xf4)
			hi = 0x8f;	/* above U+10FFFF */
	} else
		return 0;	/* continuation, C0, C1, F5..FF */
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (k = 2; k < n; k++)
		if ((p[k] & 0xc0) != 0x80)
			return 0;
	return n;
}

/*
 * A copy of text a worker sent, safe to show an operator: at most 200
 * bytes, control characters and bytes that are not well-formed UTF-8
 * replaced by '?' (no terminal escapes, always valid JSON).
 */
static char *
gen_clean_text(const char *text)
{
	const unsigned char *p = (const unsigned char *)text;
	size_t len = 0, n;
	char *out;

	if ((out = malloc(201)) == NULL)
		return NULL;
	while (*p != '\0' && len < 200) {
		n = gen_utf8_len(p);
		if (len + (n ? n : 1) > 200)
			break;
		if (n == 0 || (n == 1 && (*p < 0x20 || *p == 0x7f)) ||
		    (n == 2 && p[0] == 0xc2 && p[1] < 0xa0)) {
			out[len++] = '?';
			p++;
			continue;
		}
		memcpy(out + len, p, n);
		len += n;
		p += n;
	}
	out[len] = '\0';
	return out;
}

/* A notify message from one of this generation's workers. */
void
gen_notify(struct generation *gen, struct worker *w, const char *key,
    const char *value)
{
	long pid;
	const char *cause;

	if (strcmp(key, "READY") == 0 && strcmp(value, "1") == 0) {
		worker_ready(w);
	} else if (strcmp(key, "STATUS") == 0) {
		free(w->status_text);
		w->status_text = gen_clean_text(value);
		log_debug("%s gen %u worker %d pid %d: status: %s", gen->program,
		    gen->number, w->index, (int)w->pid,
		    w->status_text ? w->status_text : "?");
	} else if (strcmp(key, "STOPPING") == 0 && strcmp(value, "1") == 0) {
		log_debug("%s gen %u worker %d pid %d: stopping", gen->program,
		    gen->number, w->index, (int)w->pid);
	} else if (strcmp(key, "MAINPID") == 0) {
		if (parse_int_range(value, 1, INT32_MAX, &pid, &cause) == 0 &&
		    w->pgid != 0 && getpgid((pid_t)pid) == w->pgid)
			w->mainpid = (pid_t)pid;
		else
			log_debug("%s gen %u worker %d: MAINPID=%s is not a "
			    "process of this worker; ignored", gen->program,
			    gen->number, w->index, value);
	} else
		log_debug("%s gen %u worker %d pid %d: %s=%s ignored",
		    gen->program, gen->number, w->index, (int)w->pid, key, value);
}
