/*
 * worker.c: one worker slot of a generation.
 *
 * A worker starts a process (WORKER_STARTING), becomes ready by READY=1
 * or after ready = delay:D (WORKER_READY), and when its process exits the
 * generation decides what follows: a restart after a backoff
 * (WORKER_BACKOFF: 100ms doubling to 30s, reset by a run of 10s), or the
 * end (WORKER_EXITED, WORKER_FAILED). Stopping sends stop_signal, killing
 * SIGKILL to the worker's process group (WORKER_STOPPING). Processes are
 * started and signalled through a struct proc_ops, so that tests can run
 * the state machines without processes.
 */
#include "autoconf.h"

#include <errno.h>
#include <limits.h>
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bindhint.h"
#include "cause.h"
#include "child.h"
#include "config.h"
#include "descendants.h"
#include "log.h"
#include "loopstat.h"
#include "notify.h"
#include "output.h"
#include "outstore.h"
#include "parse.h"
#include "pidmap.h"
#include "procfs.h"
#include "shim.h"
#include "spawn.h"
#include "state.h"
#include "worker.h"

/* After its start, a worker's output is looked at for a failed bind. */
#define WORKER_BINDHINT_MS	10000

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
worker_describe_status(int status, char *buf, size_t len)
{
	if (WIFEXITED(status))
		snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "was killed by signal %d (%s)", WTERMSIG(status),
		    signal_name(WTERMSIG(status)));
	else
		snprintf(buf, len, "stopped with wait status %#x", status);
}

/*
 * Tell whether a program's workers report to the notify socket: READY=1
 * (ready = notify), or the bind() shim's HANDOFF_LISTENING (preload = yes,
 * ready = listening).
 */
bool
worker_reports(const struct program_conf *pc)
{
	return pc->ready == READY_NOTIFY ||
	    (pc->preload && pc->ready == READY_LISTENING);
}

/* The real process operations: fork and exec, kill(2), getpgid(2). */
static int
proc_system_spawn(struct worker *w, struct worker_proc *proc, char **cause)
{
	const struct worker_env *env = w->env;
	const struct program_conf *pc = env->pc;
	const char *preload = NULL;
	const char *notify = NULL;
	struct child_spec spec;
	struct spawn_proc cp;
	char lane[PATH_MAX];
	int rc;

	if (pc->preload && (preload = shim_path(cause)) == NULL)
		return -1;
	/* Its lane of the notify socket: spec points to it until the start. */
	if (worker_reports(pc) && env->notify_socket != NULL)
		notify = notify_lane_path(env->notify_socket, w->index, lane,
		    sizeof(lane));
	if (child_spec_init(&spec, pc, env->listeners, env->nlisteners,
	    env->number, w->index, notify, preload, cause) == -1)
		return -1;
	spec.cgroup_fd = desc_group_procs_fd(env->desc);
	spec.cgroup_dir_fd = desc_group_dir_fd(env->desc);
	rc = spawn_start(&spec, &cp, cause);
	child_spec_free(&spec);
	if (rc == SPAWN_NOT_STARTED)
		return WORKER_NOT_STARTED;
	proc->pid = cp.pid;
	proc->output_fd = cp.output_fd;
	/* For the record's look at the new pid (record.c), right after. */
	if (rc == 0)
		procfs_note_start(cp.pid, cp.start);
	proc->wait_status = cp.wait_status;
	return rc == SPAWN_CANNOT_RUN ? WORKER_CANNOT_RUN : 0;
}

const struct proc_ops proc_ops_system = {
	.spawn = proc_system_spawn,
	.kill = kill,
	.getpgid = getpgid,
	.track = desc_group_new,
	.settle = spawn_settle,
	.spawn_ready = spawn_slot_ready,
};

/* A worker slot of a generation, with no process yet. */
void
worker_init(struct worker *w, const struct worker_env *env, int index)
{
	memset(w, 0, sizeof(*w));
	w->env = env;
	w->index = index;
	w->last_status = -1;
}

/* Stop a worker's timer, if any. */
void
worker_cancel_timer(struct worker *w)
{
	if (w->timer != NULL) {
		event_free(w->timer);
		w->timer = NULL;
	}
}

/*
 * Count the worker in its generation's worker_count as it is now (by 1),
 * or take it out (by -1): around a change of its pid or pgid.
 */
static void
worker_count(const struct worker *w, int by)
{
	struct worker_count *c = w->env->count;

	if (c == NULL)
		return;
	if (w->pid != 0)
		c->procs += by;
	else if (w->pgid != 0)
		c->groups += by;
}

/*
 * Set the worker's process (0: none), keeping the pid map and the
 * generation's count (worker_count) in step. A
 * pid the map cannot take (no memory) still is the worker's: lookups
 * fall back to asking each generation.
 */
void
worker_set_pid(struct worker *w, pid_t pid)
{
	worker_count(w, -1);
	if (w->pid != 0)
		pidmap_del(w->env->pids, w->pid, w);
	w->pid = pid;
	if (pid != 0)
		(void)pidmap_put(w->env->pids, pid, w);
	worker_count(w, 1);
}

/*
 * Set the worker's process group (0: forgotten, it emptied), keeping the
 * group map and the generation's count in step. A group the map cannot
 * take (no memory) is still the worker's: lookups then ask each
 * generation.
 */
void
worker_set_pgid(struct worker *w, pid_t pgid)
{
	worker_count(w, -1);
	if (w->pgid != 0)
		pidmap_del(w->env->groups, w->pgid, w);
	w->pgid = pgid;
	if (pgid != 0)
		(void)pidmap_put(w->env->groups, pgid, w);
	worker_count(w, 1);
}

/*
 * The worker whose process group is pgid, from the group map, or NULL
 * (the map may lack a group it could not take: pidmap_incomplete).
 */
struct worker *
worker_of_group(struct pidmap *groups, pid_t pgid)
{
	struct worker *w = pidmap_get(groups, pgid);

	return w != NULL && w->pgid == pgid ? w : NULL;
}

/* Set the MAINPID the worker announced (0: none), keeping the map in step. */
static void
worker_set_mainpid(struct worker *w, pid_t pid)
{
	if (w->mainpid != 0 && w->mainpid != w->pid)
		pidmap_del(w->env->pids, w->mainpid, w);
	w->mainpid = pid;
	if (pid != 0)
		(void)pidmap_put(w->env->pids, pid, w);
}

/*
 * Log what is left of the worker's output and close it; its pipe leaves
 * the fd store (outstore.c).
 */
static void
worker_close_output(struct worker *w)
{
	if (w->output == NULL)
		return;
	output_free(w->output);
	w->output = NULL;
	outstore_remove(w->output_pid);
	w->output_pid = 0;
}

/*
 * Read fd, pid's output pipe, from now on (the fd is the output reader's,
 * or closed); under systemd its read end is stored too (outstore.c),
 * unless stored already (it crossed an upgrade).
 */
static void
worker_open_output(struct worker *w, int fd, pid_t pid, bool stored)
{
	const struct worker_env *env = w->env;
	char prefix[256];

	snprintf(prefix, sizeof(prefix), "%s gen %u pid %d", env->program,
	    env->number, (int)pid);
	if ((w->output = output_new(env->base, fd, prefix,
	    &w->output_dropped, env)) == NULL) {
		close(fd);
		return;
	}
	w->output_pid = pid;
	if (!stored)
		outstore_put(pid, fd);
}

/* Free what a worker holds (its process must be gone or forgotten). */
void
worker_free(struct worker *w)
{
	worker_set_mainpid(w, 0);
	worker_set_pid(w, 0);
	worker_set_pgid(w, 0);
	worker_cancel_timer(w);
	worker_close_output(w);
	free(w->status_text);
	free(w->last_error);
	free(w->cannot_run);
	w->status_text = w->last_error = w->cannot_run = NULL;
}

/*
 * The worker's process, whose start was in flight (spawn.c), could not
 * exec: why, kept for its exit (gen_worker_exited).
 */
void
worker_note_cannot_run(struct worker *w, const char *why)
{
	w->exec_failed = true;
	free(w->cannot_run);
	w->cannot_run = strdup(why);
	if (w->cannot_run == NULL)
		log_warnx("%s gen %u worker %d pid %d: %s", w->env->program,
		    w->env->number, w->index, (int)w->pid, why);
}

/*
 * Arm a worker's one-shot timer. Without memory for it the worker waits
 * for nothing: logged; the generation's own timeouts still apply.
 */
static int
worker_arm_timer(struct worker *w, uint64_t ms, event_callback_fn fn)
{
	struct timeval tv = timeval_ms(ms);

	worker_cancel_timer(w);
	w->timer = evtimer_new(w->env->base, fn, w);
	if (w->timer == NULL || evtimer_add(w->timer, &tv) == -1) {
		log_errorx("%s gen %u worker %d: cannot arm a timer (out of "
		    "memory)", w->env->program, w->env->number, w->index);
		worker_cancel_timer(w);
		return -1;
	}
	return 0;
}

static void	worker_delay_done(evutil_socket_t, short, void *);

/*
 * The worker is ready but its process has not reached exec yet (its start
 * is in flight: spawn.c): look again in 1 ms, then 2, 4, ... at most
 * every 100 ms (a stopped process may never get there; its generation's
 * ready_timeout still applies). The loop does not wait for it.
 */
static void
worker_ready_after_exec(struct worker *w)
{
	w->exec_wait_ms = w->exec_wait_ms == 0 ? 1 : w->exec_wait_ms * 2;
	if (w->exec_wait_ms > 100)
		w->exec_wait_ms = 100;
	(void)worker_arm_timer(w, w->exec_wait_ms, worker_delay_done);
}

/*
 * Mark a worker ready and tell its generation. A slot with no process (not
 * started yet: its generation starts workers in slices) cannot be.
 */
void
worker_ready(struct worker *w)
{
	if (w->state != WORKER_STARTING || w->pid == 0)
		return;
	/*
	 * Not before its process is known to have exec'd (ready = delay may
	 * come first): one that could not is told now, and its exit
	 * follows; one still on its way is looked at again soon.
	 */
	if (w->env->ops->settle != NULL && !w->env->ops->settle(w->pid)) {
		worker_ready_after_exec(w);
		return;
	}
	if (w->exec_failed)
		return;
	w->state = WORKER_READY;
	worker_cancel_timer(w);
	worker_clear_failures(w);
	log_debug("%s gen %u worker %d pid %d: ready", w->env->program,
	    w->env->number, w->index, (int)w->pid);
	w->env->cb(w, WORKER_EVENT_READY, w->env->cb_arg);
}

/* Timer: ready = delay:D has passed for a worker still alive. */
static void
worker_delay_done(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;

	(void)fd;
	(void)what;
	loopstat_mark("worker timer");
	if (w->pid != 0)
		worker_ready(w);
}

/*
 * A line of a worker's output, while it starts or within
 * WORKER_BINDHINT_MS of its start: one saying "address already in use" is
 * remembered (bindhint.c; a server ready by delay or a log line may fail
 * to bind after). With ready = log:REGEX, the first line of a starting
 * worker that matches makes it ready.
 */
static void
worker_log_line(void *arg, const char *line, size_t len)
{
	struct worker *w = arg;
	char text[4096];

	if (w->state != WORKER_STARTING && (w->state != WORKER_READY ||
	    w->addr_in_use || elapsed_ms(&w->started) >= WORKER_BINDHINT_MS)) {
		output_watch(w->output, NULL, NULL);
		return;
	}
	if (bindhint_matches(line, len))
		w->addr_in_use = true;
	if (w->state != WORKER_STARTING || w->env->pc->ready != READY_LOG ||
	    w->pid == 0)
		return;
	if (len >= sizeof(text))
		len = sizeof(text) - 1;
	memcpy(text, line, len);
	text[len] = '\0';
	if (regexec(w->env->pc->ready_log_re, text, 0, NULL, 0) != 0)
		return;
	log_debug("%s gen %u worker %d pid %d: its output matched the ready "
	    "pattern", w->env->program, w->env->number, w->index, (int)w->pid);
	worker_ready(w);
}

/* Log (and show to its line watcher) what the worker wrote so far. */
void
worker_flush_output(struct worker *w)
{
	output_read_now(w->output);
}

/* Timer: a crashed worker's backoff has passed; ask to start it again. */
static void
worker_backoff_done(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;

	(void)fd;
	(void)what;
	loopstat_mark("worker timer");
	worker_cancel_timer(w);
	if (w->state == WORKER_BACKOFF)
		w->env->cb(w, WORKER_EVENT_RESTART, w->env->cb_arg);
}

/*
 * Start the worker's process; its output pipe comes to the worker. Fails
 * with *cause: WORKER_NOT_STARTED when no process could be made (no fds
 * or processes left, the environment cannot be built), WORKER_CANNOT_RUN
 * when its command could not run ("cannot run ...", the process reaped).
 */
int
worker_start(struct worker *w, char **cause)
{
	const struct worker_env *env = w->env;
	struct worker_proc proc = { 0, -1, 0 };
	int rc;

	if ((rc = env->ops->spawn(w, &proc, cause)) == WORKER_NOT_STARTED)
		return WORKER_NOT_STARTED;
	/* A process ran: what the last one wrote is logged now. */
	worker_close_output(w);
	free(w->cannot_run);
	w->cannot_run = NULL;
	w->exec_failed = false;
	w->exec_wait_ms = 0;
	if (rc == WORKER_CANNOT_RUN) {
		w->last_status = proc.wait_status;
		return WORKER_CANNOT_RUN;
	}
	desc_group_add(env->desc, proc.pid);
	/* The output pipe becomes the output reader's (closed with it). */
	if (proc.output_fd != -1)
		worker_open_output(w, proc.output_fd, proc.pid, false);
	worker_set_mainpid(w, 0);
	worker_set_pid(w, proc.pid);
	worker_set_pgid(w, proc.pid);	/* it leads a group of its own */
	w->state = WORKER_STARTING;
	w->listened = 0;
	w->addr_in_use = false;
	clock_gettime(CLOCK_MONOTONIC, &w->started);
	log_debug("%s gen %u worker %d pid %d: started", env->program,
	    env->number, w->index, (int)w->pid);
	if (env->pc->ready == READY_DELAY)
		(void)worker_arm_timer(w, env->pc->ready_delay_ms,
		    worker_delay_done);
	if (w->output != NULL)
		output_watch(w->output, worker_log_line, w);
	return 0;
}

/*
 * The worker's command could not run as its generation started
 * (worker_start returned WORKER_CANNOT_RUN; the process is reaped): it
 * failed, as a worker that exited before ready does.
 */
void
worker_cannot_run(struct worker *w)
{
	w->state = WORKER_FAILED;
}

/*
 * The worker's process exited and nothing follows it (no restart): the
 * slot holds no process now.
 */
void
worker_ended(struct worker *w)
{
	worker_set_pid(w, 0);
	w->state = WORKER_EXITED;
}

/* Arm a worker's restart ms from now (state WORKER_BACKOFF). */
void
worker_restart_within(struct worker *w, uint64_t ms)
{
	w->state = WORKER_BACKOFF;
	if (worker_arm_timer(w, ms, worker_backoff_done) == -1)
		return;
	clock_gettime(CLOCK_MONOTONIC, &w->restart_at);
	timespec_add_ms(&w->restart_at, ms);
}

/*
 * Restart a worker after its backoff: 100ms, doubling up to 30s; but
 * while no worker of its generation is ready (none_ready), within
 * BACKOFF_NONE_READY_MS (the backoff still grows). Returns the delay.
 */
static uint64_t
worker_schedule_restart(struct worker *w, bool none_ready)
{
	uint64_t delay;

	if (w->backoff_ms == 0)
		w->backoff_ms = BACKOFF_INITIAL_MS;
	else if ((w->backoff_ms *= 2) > BACKOFF_MAX_MS)
		w->backoff_ms = BACKOFF_MAX_MS;
	delay = w->backoff_ms;
	if (none_ready && delay > BACKOFF_NONE_READY_MS)
		delay = BACKOFF_NONE_READY_MS;
	worker_restart_within(w, delay);
	return delay;
}

/* Milliseconds until a worker in backoff restarts; -1 if it is not waiting. */
int64_t
worker_restart_in_ms(const struct worker *w)
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
 * A worker of a running generation could not be restarted (its command is
 * gone or cannot run, no process or fd is left): try again with backoff,
 * for as long as it takes. Logged once per streak of failures; status
 * shows the last error.
 */
void
worker_start_failed(struct worker *w, const char *why, bool none_ready)
{
	const struct worker_env *env = w->env;
	char delay[32];

	free(w->last_error);
	w->last_error = strdup(why);
	worker_set_pid(w, 0);
	format_duration(worker_schedule_restart(w, none_ready), delay,
	    sizeof(delay));
	if (w->start_failures++ == 0)
		log_errorx("%s gen %u worker %d: cannot restart: %s; trying "
		    "again with backoff (next in %s; logged again once it "
		    "runs)", env->program, env->number, w->index, why, delay);
	else
		log_debug("%s gen %u worker %d: still cannot restart (%u in a "
		    "row): %s; next try in %s", env->program, env->number,
		    w->index, w->start_failures, why, delay);
}

/* A worker that could not be restarted runs again: end the streak. */
void
worker_clear_failures(struct worker *w)
{
	if (w->start_failures == 0)
		return;
	log_info("%s gen %u worker %d pid %d: runs again after %u failed "
	    "restart%s", w->env->program, w->env->number, w->index,
	    (int)w->pid, w->start_failures, w->start_failures == 1 ? "" : "s");
	w->start_failures = 0;
	free(w->last_error);
	w->last_error = NULL;
}

/* Tell whether any member of the worker's process group is still alive. */
bool
worker_group_alive(const struct worker *w)
{
	return w->pgid != 0 &&
	    (w->env->ops->kill(-w->pgid, 0) == 0 || errno == EPERM);
}

/*
 * Tell whether the MAINPID a worker announced is still one of its own
 * processes: in its process group. A worker can name no other process.
 */
static bool
worker_mainpid_valid(const struct worker *w)
{
	return w->mainpid != 0 && w->mainpid != w->pid && w->pgid != 0 &&
	    w->env->ops->getpgid(w->mainpid) == w->pgid;
}

/* Tell whether pid is the worker's process or the MAINPID it announced. */
bool
worker_is_process(const struct worker *w, pid_t pid)
{
	return w->pid == pid || (w->mainpid != 0 && w->mainpid == pid);
}

/* Send a signal to a worker's process (and the pid it announced). */
static void
worker_signal(struct worker *w, int sig)
{
	if (w->pid != 0)
		w->env->ops->kill(w->pid, sig);
	if (worker_mainpid_valid(w))
		w->env->ops->kill(w->mainpid, sig);
}

/* Ask a worker to stop (sig); one with no process is done. */
void
worker_stop(struct worker *w, int sig)
{
	worker_cancel_timer(w);
	if (w->pid != 0) {
		worker_signal(w, sig);
		w->state = WORKER_STOPPING;
	} else if (w->state != WORKER_FAILED)
		w->state = WORKER_EXITED;
}

/* SIGKILL a worker's process group and process now. */
void
worker_kill(struct worker *w)
{
	worker_cancel_timer(w);
	if (w->pgid != 0)
		w->env->ops->kill(-w->pgid, SIGKILL);
	worker_signal(w, SIGKILL);
	if (w->pid != 0)
		w->state = WORKER_STOPPING;
}

/*
 * The worker's process was reaped. A wrapper that announced the server it
 * started as MAINPID and exited leaves the server (now our child, as we
 * are a subreaper) as the worker. Otherwise fills how with the exit.
 */
enum worker_exit
worker_reaped(struct worker *w, int status, char *how, size_t howlen)
{
	const struct worker_env *env = w->env;
	pid_t pid = w->pid;

	if (worker_mainpid_valid(w)) {
		log_info("%s gen %u worker %d: pid %d exited; its MAINPID %d "
		    "carries on", env->program, env->number, w->index, (int)pid,
		    (int)w->mainpid);
		worker_set_pid(w, w->mainpid);	/* it maps to w already */
		w->mainpid = 0;
		return WORKER_EXIT_CARRIED_ON;
	}
	worker_describe_status(status, how, howlen);
	w->last_status = status;
	worker_cancel_timer(w);
	return WORKER_EXIT_EXITED;
}

/*
 * A running generation's worker exited (its process is still in w->pid,
 * cleared here): restart it after its backoff, or not, as `restart` says.
 */
void
worker_exited_running(struct worker *w, int status, const char *how,
    bool none_ready)
{
	const struct worker_env *env = w->env;
	const struct program_conf *pc = env->pc;
	uint64_t ran = elapsed_ms(&w->started);
	bool failed = !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	char delay[32];

	/* Leftovers of a crashed worker would hold its sockets: kill them. */
	if (worker_group_alive(w))
		env->ops->kill(-w->pgid, SIGKILL);
	if (pc->restart == RESTART_NEVER ||
	    (pc->restart == RESTART_ON_FAILURE && !failed)) {
		w->state = WORKER_EXITED;
		log_warnx("%s gen %u worker %d pid %d: %s; not restarted "
		    "(restart = %s)", env->program, env->number, w->index,
		    (int)w->pid, how, restart_policy_name(pc->restart));
		worker_set_pid(w, 0);
		return;
	}
	if (ran >= BACKOFF_RESET_MS)
		w->backoff_ms = 0;
	format_duration(worker_schedule_restart(w, none_ready), delay,
	    sizeof(delay));
	log_warnx("%s gen %u worker %d pid %d: %s after %llums; restarting in %s "
	    "(restart %u)", env->program, env->number, w->index, (int)w->pid,
	    how, (unsigned long long)ran, delay, w->restarts + 1);
	worker_set_pid(w, 0);
}

/*
 * A running generation's worker is due to start again after its backoff
 * (none_ready: no worker of the generation is ready). Returns 0 when it
 * runs; -1 when it could not start, and it waits for another try.
 */
int
worker_restart(struct worker *w, bool none_ready)
{
	char *cause = NULL;

	w->restarts++;
	if (worker_start(w, &cause) == 0)
		return 0;
	worker_start_failed(w, cause_text(cause), none_ready);
	free(cause);
	return -1;
}

/*
 * The length of the well-formed UTF-8 sequence at p (RFC 3629: no overlong
 * forms, no surrogates, nothing above U+10FFFF), or 0 if there is none.
 */
static size_t
worker_utf8_len(const unsigned char *p)
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
worker_clean_text(const char *text)
{
	const unsigned char *p = (const unsigned char *)text;
	size_t len = 0, n;
	char *out;

	if ((out = malloc(201)) == NULL)
		return NULL;
	while (*p != '\0' && len < 200) {
		n = worker_utf8_len(p);
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

/*
 * The bind() shim says the worker listens on its program's listener
 * number value (HANDOFF_LISTENING=N): with ready = listening, the
 * worker is ready once it listens on each.
 */
static void
worker_listens(struct worker *w, const char *value)
{
	const struct worker_env *env = w->env;
	const struct program_conf *pc = env->pc;
	const char *cause;
	long i;

	if (!pc->preload || pc->ready != READY_LISTENING ||
	    parse_int_range(value, 0, (long)pc->nlisteners - 1, &i,
	    &cause) == -1) {
		log_debug("%s gen %u worker %d: HANDOFF_LISTENING=%s ignored",
		    env->program, env->number, w->index, value);
		return;
	}
	if (w->state != WORKER_STARTING || (w->listened & (1ULL << i)))
		return;
	w->listened |= 1ULL << i;
	log_debug("%s gen %u worker %d pid %d: listens on %s (listener %s)",
	    env->program, env->number, w->index, (int)w->pid,
	    pc->listeners[i]->listen, pc->listeners[i]->name);
	if (worker_unlistened(w) == -1)
		worker_ready(w);
}

/*
 * The first of its program's listeners the bind() shim has not said
 * worker w listens on, or -1 if it listens on each.
 */
int
worker_unlistened(const struct worker *w)
{
	size_t i;

	for (i = 0; i < w->env->pc->nlisteners; i++)
		if (!(w->listened & (1ULL << i)))
			return (int)i;
	return -1;
}

/* A notify message from the worker (or a process of its group). */
void
worker_notify(struct worker *w, const char *key, const char *value)
{
	const struct worker_env *env = w->env;
	const char *cause;
	long pid;

	if (strcmp(key, "READY") == 0 && strcmp(value, "1") == 0) {
		worker_ready(w);
	} else if (strcmp(key, "HANDOFF_LISTENING") == 0) {
		worker_listens(w, value);
	} else if (strcmp(key, "STATUS") == 0) {
		free(w->status_text);
		w->status_text = worker_clean_text(value);
		log_debug("%s gen %u worker %d pid %d: status: %s", env->program,
		    env->number, w->index, (int)w->pid,
		    w->status_text ? w->status_text : "?");
	} else if (strcmp(key, "STOPPING") == 0 && strcmp(value, "1") == 0) {
		log_debug("%s gen %u worker %d pid %d: stopping", env->program,
		    env->number, w->index, (int)w->pid);
	} else if (strcmp(key, "MAINPID") == 0) {
		if (parse_int_range(value, 1, INT32_MAX, &pid, &cause) == 0 &&
		    w->pgid != 0 && env->ops->getpgid((pid_t)pid) == w->pgid)
			worker_set_mainpid(w, (pid_t)pid);
		else
			log_debug("%s gen %u worker %d: MAINPID=%s is not a "
			    "process of this worker; ignored", env->program,
			    env->number, w->index, value);
	} else
		log_debug("%s gen %u worker %d pid %d: %s=%s ignored",
		    env->program, env->number, w->index, (int)w->pid, key, value);
}

/* Write a worker as a record (an upgrade); its output's partial line is logged. */
void
worker_save(struct worker *w, struct state_writer *wr)
{
	output_flush(w->output);
	state_rec(wr, "worker");
	state_str(wr, "program", w->env->program);
	state_int(wr, "gen", w->env->number);
	state_int(wr, "index", w->index);
	state_int(wr, "pid", w->pid);
	state_int(wr, "pgid", w->pgid);
	state_int(wr, "mainpid", w->mainpid);
	state_int(wr, "output_pid", w->output_pid);
	state_str(wr, "state", worker_state_name(w->state));
	state_time(wr, "started", &w->started);
	state_int(wr, "restarts", w->restarts);
	state_int(wr, "backoff_ms", (long long)w->backoff_ms);
	if (w->state == WORKER_BACKOFF && w->timer != NULL)
		state_time(wr, "restart_at", &w->restart_at);
	state_fd(wr, "output_fd", output_fd(w->output));
	state_str(wr, "status", w->status_text);
	state_int(wr, "last_status", w->last_status);
	state_str(wr, "last_error", w->last_error);
	state_int(wr, "start_failures", w->start_failures);
	/* A start in flight whose exec failed: its exit comes after the exec. */
	if (w->exec_failed) {
		state_int(wr, "exec_failed", 1);
		state_str(wr, "cannot_run", w->cannot_run);
	}
	state_int(wr, "output_dropped", (long long)w->output_dropped);
	state_int(wr, "listened", (long long)w->listened);
}

/*
 * Take a worker back from its record after an upgrade's exec: its
 * process, output pipe (the output reader's from now on), readiness and
 * restarts; its timers are armed again for their absolute deadlines.
 */
void
worker_restore(struct worker *w, const struct state_rec *r)
{
	const struct worker_env *env = w->env;
	const char *st = state_get(r, "state"), *text;
	struct timespec at;
	int fd = (int)state_get_int(r, "output_fd", -1);
	int i;

	w->state = WORKER_EXITED;
	for (i = 0; st != NULL && i <= WORKER_FAILED; i++)
		if (strcmp(st, worker_state_name((enum worker_state)i)) == 0)
			w->state = (enum worker_state)i;
	(void)state_get_time(r, "started", &w->started);
	w->restarts = (unsigned int)state_get_int(r, "restarts", 0);
	w->backoff_ms = (uint64_t)state_get_int(r, "backoff_ms", 0);
	w->last_status = (int)state_get_int(r, "last_status", -1);
	w->start_failures = (unsigned int)state_get_int(r, "start_failures", 0);
	w->output_dropped = (unsigned long long)state_get_int(r,
	    "output_dropped", 0);
	w->listened = (uint64_t)state_get_int(r, "listened", 0);
	if ((text = state_get(r, "status")) != NULL)
		w->status_text = strdup(text);
	if ((text = state_get(r, "last_error")) != NULL)
		w->last_error = strdup(text);
	/* Its exit (127) then fails the start with the reason, not a crash. */
	if (state_get_int(r, "exec_failed", 0) == 1) {
		w->exec_failed = true;
		if ((text = state_get(r, "cannot_run")) != NULL)
			w->cannot_run = strdup(text);
	}
	if (state_get_int(r, "pid", 0) > 0) {
		worker_set_pid(w, (pid_t)state_get_int(r, "pid", 0));
		desc_group_add(env->desc, w->pid);
	}
	if (state_get_int(r, "pgid", 0) > 0)
		worker_set_pgid(w, (pid_t)state_get_int(r, "pgid", 0));
	if (state_get_int(r, "mainpid", 0) > 0)
		worker_set_mainpid(w, (pid_t)state_get_int(r, "mainpid", 0));
	if (fd >= 0) {
		/* The pipe is the output reader's from now on (stored
		   already, as the process's it was made for). */
		worker_open_output(w, fd, (pid_t)state_get_int(r,
		    "output_pid", w->pid), true);
	}
	if (w->state == WORKER_BACKOFF && state_get_time(r, "restart_at", &at)) {
		if (worker_arm_timer(w, ms_until(&at),
		    worker_backoff_done) == 0)
			w->restart_at = at;
	} else if (w->state == WORKER_STARTING && w->pid != 0) {
		if (env->pc->ready == READY_DELAY) {
			at = w->started;
			timespec_add_ms(&at, env->pc->ready_delay_ms);
			(void)worker_arm_timer(w, ms_until(&at),
			    worker_delay_done);
		}
		if (env->pc->ready == READY_LOG && w->output != NULL)
			output_watch(w->output, worker_log_line, w);
	}
}
