/*
 * supervisor.c: the supervisor's state and event loop.
 *
 * The supervisor owns the listener set of the config in force and, per
 * program, its generations. A reload (SIGHUP) builds the new state beside
 * the old one: it loads and checks the new config, updates the listener
 * set (unchanged listeners are the same sockets), and starts a new
 * generation of every program. Only when all of them are ready does it
 * commit: the new generations take over and the old ones drain. If any
 * fails first, every new generation is killed, the new listeners close and
 * nothing that was running changes. Reloads asked for meanwhile are
 * coalesced into one more reload afterwards. The first start is a reload
 * from nothing; if it fails, the supervisor exits 1.
 */
#include "autoconf.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "acceptq.h"
#include "cause.h"
#include "child.h"
#include "config.h"
#include "confwatch.h"
#include "control.h"
#include "descendants.h"
#include "drain_report.h"
#include "ebpf.h"
#include "fdpass.h"
#include "fdstore.h"
#include "generation.h"
#include "guard.h"
#include "health.h"
#include "listener.h"
#include "log.h"
#include "loopstat.h"
#include "merge.h"
#include "notify.h"
#include "outstore.h"
#include "parse.h"
#include "pidmap.h"
#include "procfs.h"
#include "program.h"
#include "reap.h"
#include "record.h"
#include "recover.h"
#include "reload.h"
#include "reuseport.h"
#include "sdnotify.h"
#include "sdsocket.h"
#include "selfmode.h"
#include "shim.h"
#include "spawn.h"
#include "supervisor.h"
#include "worker.h"

static void	supervisor_gen_event(struct generation *, enum gen_event,
		    const char *, void *);
static void	supervisor_schedule_cleanup(struct supervisor *);
static void	supervisor_restart_stale(struct supervisor *);

/* Tries at starting a generation off a dead socket, and the pause between. */
#define SUPERVISOR_STALE_TRIES		3
#define SUPERVISOR_STALE_RETRY_MS	1000
static void	supervisor_listener_health(struct listener *, long,
		    enum health_result, const char *, void *);

/* Record how a reload ended, for status. */
static void
supervisor_outcome(struct supervisor *sup, bool ok, uint64_t us,
    uint64_t config_us, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void
supervisor_outcome(struct supervisor *sup, bool ok, uint64_t us,
    uint64_t config_us, const char *fmt, ...)
{
	va_list ap;

	sup->last_reload.done = true;
	sup->last_reload.ok = ok;
	sup->last_reload.when = time(NULL);
	sup->last_reload.duration_us = us;
	sup->last_reload.config_us = config_us;
	va_start(ap, fmt);
	vsnprintf(sup->last_reload.message, sizeof(sup->last_reload.message),
	    fmt, ap);
	va_end(ap);
}

/* Let the workers of every program a reload starts reach the notify socket. */
static int
supervisor_notify_uids(struct supervisor *sup, const struct config *conf,
    const char *only, char **cause)
{
	struct program_conf *pc;

	TAILQ_FOREACH(pc, &conf->programs, entry)
		if ((only == NULL || strcmp(pc->name, only) == 0) &&
		    worker_reports(pc) && notify_allow_uid(sup->notify,
		    reload_worker_uid(pc), cause) == -1)
			return -1;
	return 0;
}

/*
 * Start the next reload asked for during the last one; the one after it
 * too if it is refused at once (a bad config), and so on.
 */
static void
supervisor_run_queued(struct supervisor *sup)
{
	char *only;

	while (!sup->stopping && sup->reload == NULL &&
	    reload_queue_take(&sup->reload_queue, &only)) {
		log_info("running the reload asked for during the last one");
		supervisor_reload(sup, only);
		free(only);
	}
}

/*
 * The event loop, on the precise monotonic clock: by default libevent
 * reads the coarse one, which moves at the kernel's tick (4 ms at 250 Hz),
 * so timers and the time a poll returned (HANDOFF_DEBUG_LOOP's turns)
 * were off by up to a tick either way. With epoll, libevent then waits on
 * a timerfd (one more fd, close-on-exec; a timerfd_settime per poll)
 * rather than the poll's millisecond timeout. NULL if it cannot be made.
 */
static struct event_base *
supervisor_base_new(void)
{
	struct event_config *cfg;
	struct event_base *base = NULL;

	if ((cfg = event_config_new()) != NULL &&
	    event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER) == 0)
		base = event_base_new_with_config(cfg);
	if (cfg != NULL)
		event_config_free(cfg);
	return base;
}

/*
 * Grow the fd table now for what reload r takes beside the fds open, while
 * no start shares the table: grown during the starts, it waits for an RCU
 * grace period (spawn_reserve_fds). Before the first start, for it; after
 * it, for a reload like it (what the start took again, its old
 * generation's beside the new one's). A later reload with more workers
 * than that still grows it then, once.
 */
static void
supervisor_reserve_fds(const struct reload *r)
{
	long open, workers;

	if ((open = procfs_fds_open()) != -1)
		spawn_reserve_fds(open + reload_fds_needed(r, &workers));
}

/* Every new generation is ready: switch over and drain the old ones. */
static void
supervisor_commit(struct supervisor *sup)
{
	struct reload *r = sup->reload;
	uint64_t us = elapsed_us(&r->started), ms = us / 1000;
	char summary[256];
	int draining;

	loopstat_mark("reload commit");
	sup->reload = NULL;
	draining = reload_commit(r, &sup->programs, &sup->reload_env, summary,
	    sizeof(summary));
	/* Out of the fd store before a listener the reload removed closes. */
	fdstore_sync(r->listeners_unchanged ? &sup->listeners : &r->listeners);
	if (reload_take_listeners(r, &sup->listeners))
		health_watch(sup->health, &sup->listeners);
	/*
	 * At start, before "started", so that what is running then is all
	 * there is. After a reload, once the reload is done (its old
	 * generations gone: supervisor_drain_done) and its answers out, and
	 * GUARD_AFTER_RELOAD_MS at most after the commit: so that the look
	 * delays neither the drain nor the answer.
	 */
	if (r->initial)
		guard_check(sup->guard);
	else if (draining == 0)
		guard_check_soon(sup->guard);
	else
		guard_check_within(sup->guard, GUARD_AFTER_RELOAD_MS);
	config_unref(sup->conf);
	sup->conf = config_ref(r->conf);
	log_set_level(sup->conf->supervisor.log_level);
	acceptq_takeover(sup->acceptq);

	if (r->initial) {
		log_info("started: %s ready in %llums", summary,
		    (unsigned long long)ms);
		supervisor_reserve_fds(r);
		recover_drain(sup->recover, sup->conf);
		sdnotify_ready(true, "running: %s", summary);
	} else {
		log_info("reload done in %llums: %s took over", (unsigned long long)ms,
		    summary);
		supervisor_outcome(sup, true, us, r->config_us, "%s took over",
		    summary);
		sdnotify_ready(false, "running: %s; the last reload took over "
		    "in %llums", summary, (unsigned long long)ms);
		control_reload_took_over(sup->control, r->id, "took over in "
		    "%llums; the old generations drain on",
		    (unsigned long long)ms);
		/* Followers hear "done" once the old generations are gone. */
		if (draining == 0)
			control_reload_end(sup->control, r->id, true,
			    "done in %llums", (unsigned long long)ms);
	}
	reload_free(r);
	supervisor_schedule_cleanup(sup);
	supervisor_run_queued(sup);
}

/* A new generation failed: kill all new ones; what ran keeps running. */
static void
supervisor_abort(struct supervisor *sup, const char *why)
{
	struct reload *r = sup->reload;
	uint64_t us = elapsed_us(&r->started), ms = us / 1000;

	sup->reload = NULL;
	reload_abort(r, &sup->programs);
	if (r->initial) {
		log_errorx("cannot start: %s", why);
		sup->exit_code = 1;
		reload_free(r);
		supervisor_stop(sup, true);
		return;
	}
	log_errorx("reload failed after %llums: %s; the running generations "
	    "keep serving", (unsigned long long)ms, why);
	control_reload_end(sup->control, r->id, false, "reload failed: %s; "
	    "the running generations keep serving", why);
	supervisor_outcome(sup, false, us, r->config_us, "%s", why);
	sdnotify_ready(false, "running; the last reload failed: %s", why);
	reload_free(r);
	supervisor_schedule_cleanup(sup);
	supervisor_run_queued(sup);
}

/* A reload that could not start at all: log it, record it. */
static void
reload_refuse(struct supervisor *sup, bool initial, const char *only,
    const char *why, char *const *details, size_t ndetails)
{
	if (initial) {
		log_errorx("cannot start: %s", why);
		sup->exit_code = 1;
		supervisor_stop(sup, true);
		return;
	}
	log_errorx("reload failed: %s; nothing changed", why);
	/* Slots a reload added before it failed close again. */
	reuseport_trim(sup->reuseport);
	supervisor_outcome(sup, false, 0, 0, "%s", why);
	control_reload_refused(sup->control, only, why, details, ndetails);
	sdnotify_ready(false, "running; the last reload failed: %s", why);
}

/*
 * Read the config file (config_reload, with the config in force and the
 * one read ahead to take again if the file holds their text); *heap
 * receives the heap that reading it took (see supervisor_cleanup).
 */
static struct config *
supervisor_read_config(struct supervisor *sup, struct config *running,
    struct config *prepared, struct config_msgs *msgs, size_t *heap)
{
	size_t before = mallinfo2().uordblks, after;
	struct config *conf;

	conf = config_reload(sup->config_path, running, prepared, msgs);
	after = mallinfo2().uordblks;
	*heap = after > before ? after - before : 0;
	return conf;
}

/*
 * The config file was written: read and check it now, ahead of the reload
 * that usually follows, which then finds it ready (reload_load_config) if
 * the file still holds that text. Nothing is said of it here: the reload
 * says what is wrong with the file, and a file with warnings is read
 * again by the reload, to say them. Listener sections unchanged since the
 * config in force are taken from it, as a reload takes them. A config in
 * force that names a host is not read ahead (see below).
 */
static void
supervisor_config_written(void *arg)
{
	struct supervisor *sup = arg;
	struct config_msgs msgs;
	struct config *conf;
	uint64_t us;
	struct timespec began;
	size_t heap;

	if (sup->stopping)
		return;
	config_unref(sup->prepared);
	sup->prepared = NULL;
	/*
	 * A host name is looked up again by each parse (getaddrinfo, which
	 * may wait on a name server): not in the loop at each save of the
	 * file, for a config that the reload reads again anyway.
	 */
	if (config_names_hosts(sup->conf)) {
		log_debug("%s written: not read ahead (the config in force "
		    "names a host, looked up at the reload)", sup->config_path);
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &began);
	config_msgs_init(&msgs);
	conf = supervisor_read_config(sup, sup->conf, NULL, &msgs, &heap);
	config_msgs_free(&msgs);
	us = elapsed_us(&began);
	if (conf == NULL || conf == sup->conf || !conf->reusable) {
		log_debug("%s written: %s", sup->config_path, conf == NULL ?
		    "it has errors (a reload says them)" : conf == sup->conf ?
		    "the config in force" : "read again at the reload (to say "
		    "its warnings, or look up a host again)");
		config_unref(conf);
		return;
	}
	sup->prepared = conf;
	sup->prepared_heap = heap;
	log_debug("%s written: read and checked in %llu us, ready for a reload",
	    sup->config_path, (unsigned long long)us);
}

/*
 * Watch the config file for writes (supervisor_config_written), unless
 * watched already: at start, and at each reload after the directory went
 * (renamed or removed, and perhaps made again). Only a speed-up: without
 * it, a reload reads the file itself.
 */
static void
supervisor_watch_config(struct supervisor *sup)
{
	char *cause = NULL;

	if (sup->config_path == NULL || (sup->confwatch != NULL &&
	    !confwatch_lost(sup->confwatch)))
		return;
	confwatch_free(sup->confwatch);
	if ((sup->confwatch = confwatch_new(sup->base, sup->config_path,
	    supervisor_config_written, sup, &cause)) == NULL) {
		log_debug("the config is not read ahead of reloads: %s",
		    cause_text(cause));
		free(cause);
	}
}

/*
 * Load the config for a reload (of every program if only is NULL); NULL
 * (and every error logged) if bad. A file that did not change since the
 * config in force was read from it gives that config again, and one that
 * did not change since it was read ahead (supervisor_config_written) the
 * config read then (config_reload says when).
 */
static struct config *
reload_load_config(struct supervisor *sup, const char *only)
{
	struct config_msgs msgs;
	struct config *conf;
	size_t i, heap;

	if (sup->config_path == NULL)
		return config_ref(sup->conf);
	supervisor_watch_config(sup);
	config_msgs_init(&msgs);
	conf = supervisor_read_config(sup, only == NULL ? sup->conf : NULL,
	    sup->prepared, &msgs, &heap);
	if (conf == sup->conf)
		log_debug("%s is unchanged: the config in force is kept",
		    sup->config_path);
	else if (conf != NULL && conf == sup->prepared) {
		log_debug("%s is as it was read when written: that config is "
		    "taken", sup->config_path);
		sup->config_heap = sup->prepared_heap;
	} else if (conf != NULL)
		sup->config_heap = heap;
	/* Read ahead for this reload: used or outdated now. */
	config_unref(sup->prepared);
	sup->prepared = NULL;
	for (i = 0; i < msgs.count; i++) {
		if (msgs.is_error[i])
			log_errorx("%s", msgs.lines[i]);
		else
			log_warnx("%s", msgs.lines[i]);
	}
	if (conf == NULL)
		reload_refuse(sup, false, only, "the config has errors",
		    msgs.lines, msgs.count);
	config_msgs_free(&msgs);
	return conf;
}

/*
 * The commands of the programs a reload starts with preload = yes can
 * load the bind() shim: log what shim_check_config says; -1 with the
 * first error in *cause if one cannot.
 */
static int
supervisor_check_preload(const struct config *conf, const char *only,
    char **cause)
{
	struct config_msgs msgs;
	size_t i;
	int rc = 0;

	config_msgs_init(&msgs);
	if (shim_check_config(conf, only, false, &msgs) > 0) {
		rc = -1;
		*cause = NULL;
	}
	for (i = 0; i < msgs.count; i++) {
		if (!msgs.is_error[i])
			log_warnx("%s", msgs.lines[i]);
		else if (*cause == NULL)
			*cause = strdup(msgs.lines[i]);
	}
	if (rc == -1 && *cause == NULL)
		*cause = strdup("out of memory");
	config_msgs_free(&msgs);
	return rc;
}

/*
 * Whether the fd limit leaves room for what reload r starts (its
 * listeners bound): what it takes (reload_fds_needed) beside the fds open
 * now. If not, idle control clients are closed, oldest first, to make
 * room, if that makes enough. -1 with *cause if not: nothing started,
 * and no client closed.
 */
static int
supervisor_fd_room(struct supervisor *sup, const struct reload *r,
    char **cause)
{
	struct rlimit nofile;
	long need, used, limit, workers, closed;

	need = reload_fds_needed(r, &workers);
	if (need == 0 || getrlimit(RLIMIT_NOFILE, &nofile) == -1 ||
	    nofile.rlim_cur == RLIM_INFINITY || nofile.rlim_cur > LONG_MAX)
		return 0;
	limit = (long)nofile.rlim_cur;
	/* Far from the limit (the usual case): no need to count them. */
	if ((used = procfs_fd_table_size()) != -1 && used + need <= limit)
		return 0;
	/* Not one fd free to count them with: all are in use. */
	if ((used = procfs_fds_open()) == -1 && errno != EMFILE)
		return 0;	/* cannot tell: try */
	if (used == -1)
		used = limit;
	if (used + need <= limit)
		return 0;
	closed = control_close_idle(sup->control, used + need - limit > INT_MAX ?
	    INT_MAX : (int)(used + need - limit));
	if (closed > 0) {
		log_info("closed %ld idle control client%s: the %ld worker%s "
		    "to start need the fds", closed, closed == 1 ? "" : "s",
		    workers, workers == 1 ? "" : "s");
		if ((used = procfs_fds_open()) == -1)
			return 0;	/* cannot tell: try */
	}
	if (used + need <= limit)
		return 0;
	cause_set(cause, "the fd limit is too low: starting %ld worker%s needs "
	    "about %ld more fds; the limit is %ld with %ld in use (raise "
	    "LimitNOFILE= or ulimit -n)", workers, workers == 1 ? "" : "s",
	    need, limit, used);
	return -1;
}

/*
 * Start a reload, or the first start when nothing runs yet; asked, if not
 * NULL, is when the reload began, before its config was read.
 */
static void
supervisor_begin(struct supervisor *sup, struct config *conf, bool initial,
    const char *only, const struct timespec *asked)
{
	struct reload *r;
	char *cause = NULL, *note = NULL;
	unsigned int id;

	if (!initial && (reload_config(sup->conf, &conf, only, &note,
	    &cause) == -1 || selfmode_check_reload(sup->conf, conf,
	    &cause) == -1)) {
		if (conf != NULL)
			config_unref(conf);
		reload_refuse(sup, initial, only, cause_text(cause),
		    NULL, 0);
		goto out;
	}
	if (supervisor_check_preload(conf, only, &cause) == -1 ||
	    supervisor_notify_uids(sup, conf, only, &cause) == -1) {
		reload_refuse(sup, initial, only, cause_text(cause),
		    NULL, 0);
		config_unref(conf);
		goto out;
	}
	if (config_needs_migration(conf))
		migrate_ensure(&sup->migrate, "/proc",
		    config_has_mode(conf, HANDOFF_REUSEPORT) ? ebpf_probe : NULL);
	if ((r = reload_new(conf, only, initial, sup->reload_seq + 1)) == NULL) {
		reload_refuse(sup, initial, only, "out of memory", NULL, 0);
		config_unref(conf);
		goto out;
	}
	/* Reading and checking the config came before its start. */
	if (asked != NULL)
		r->config_us = timespec_diff_us(asked, &r->started);
	if (reload_bind(r, &sup->listeners, &sup->programs, &cause) == -1 ||
	    (initial && sdsocket_finish(&cause) == -1) ||
	    supervisor_fd_room(sup, r, &cause) == -1) {
		reload_refuse(sup, initial, only, cause_text(cause),
		    NULL, 0);
		reload_free(r);
		goto out;
	}
	if (initial)
		supervisor_reserve_fds(r);
	sup->reload = r;
	sup->reload_seq = r->id;
	control_reload_begin(sup->control, r->id, r->only);
	id = r->id;
	/* What the file changes that this reload leaves: said, not applied. */
	if (note != NULL) {
		log_warnx("%s", note);
		control_progress(sup->control, id, "%s", note);
	}
	if (reload_start(r, &sup->programs, &sup->reload_env, &cause) == -1) {
		/*
		 * A generation that failed may have aborted the reload
		 * already (r is freed then), and a queued one begun since.
		 */
		if (sup->reload != NULL && sup->reload->id == id)
			supervisor_abort(sup, cause_text(cause));
	}
out:
	free(cause);
	free(note);
}

/* Reload: SIGHUP or `handoff reload`. Coalesced while one is in progress. */
void
supervisor_reload(struct supervisor *sup, const char *only)
{
	struct config *conf;
	struct timespec asked;

	/* The reload begins: its config_us counts from here. */
	clock_gettime(CLOCK_MONOTONIC, &asked);
	if (sup->stopping) {
		log_info("reload ignored: stopping");
		return;
	}
	if (sup->reload != NULL) {
		if (reload_queue_add(&sup->reload_queue, only))
			log_info("reload queued: a handoff is in progress");
		return;
	}
	log_info("reloading %s%s from %s", only ? "program " : "every program",
	    only ? only : "", sup->config_path ? sup->config_path :
	    "the command line");
	sdnotify_reloading();
	loopstat_mark("config load");
	if ((conf = reload_load_config(sup, only)) == NULL)
		return;
	loopstat_mark("reload begin");
	supervisor_begin(sup, conf, false, only, &asked);
}

/* A reload asked for over the control socket; -1 with cause if refused. */
static int
supervisor_request_reload(struct supervisor *sup, const char *only,
    char **cause)
{
	if (sup->stopping) {
		*cause = strdup("the supervisor is stopping");
		return -1;
	}
	if (only != NULL && program_find(&sup->programs, only) == NULL) {
		cause_set(cause, "unknown program %s (see handoff status)", only);
		return -1;
	}
	supervisor_reload(sup, only);
	return 0;
}

/* Timer: `handoff stop --timeout` has passed; stop now. */
static void
supervisor_stop_timeout(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	loopstat_mark("stop timeout");
	log_warnx("stop timeout passed: killing what is left");
	supervisor_stop(arg, true);
}

/* Stop gracefully; after ms (unless negative) kill what is left. */
static void
supervisor_stop_within(struct supervisor *sup, int64_t ms)
{
	struct timeval tv;

	log_info("stop asked for over the control socket");
	if (ms >= 0 && sup->stop_timer == NULL) {
		tv = timeval_ms((uint64_t)ms);
		sup->stop_timer = evtimer_new(sup->base, supervisor_stop_timeout, sup);
		if (sup->stop_timer == NULL || evtimer_add(sup->stop_timer, &tv) == -1) {
			/* Without a timer the timeout cannot be kept: stop now. */
			log_warnx("cannot arm the stop timer (out of memory): "
			    "stopping now");
			supervisor_stop(sup, true);
			return;
		}
	}
	supervisor_stop(sup, false);
}

/* Stop: drain every generation (or kill at once); exit when all are gone. */
void
supervisor_stop(struct supervisor *sup, bool now)
{
	struct program *prog;
	struct generation *gen;

	if (sup->stopping && !now)
		return;
	if (!sup->stopping)
		sdnotify_stopping();
	sup->stopping = true;
	sup->stop_now = sup->stop_now || now;
	health_stop(sup->health);
	guard_stop(sup->guard);
	recover_stop(sup->recover, sup->stop_now);
	if (sup->reload != NULL) {
		struct reload *r = sup->reload;
		control_reload_end(sup->control, r->id, false, "reload cancelled: "
		    "the supervisor is stopping");
		sup->reload = NULL;
		reload_cancel(r, &sup->programs);
		reload_free(r);
	}
	TAILQ_FOREACH(prog, &sup->programs, entry) {
		TAILQ_FOREACH(gen, &prog->gens, entry) {
			/* A drain holding workers back tells them too. */
			reuseport_forget(sup->reuseport, gen);
			/*
			 * A generation still starting drains too: its ready
			 * workers may be serving connections they accepted.
			 */
			if (now)
				gen_kill(gen);
			else
				gen_drain(gen);
		}
	}
	supervisor_schedule_cleanup(sup);
}

/* Tell whether a generation other than gen is drained by reload id. */
static bool
supervisor_draining_for(struct supervisor *sup, unsigned int id,
    const struct generation *except)
{
	struct program *prog;
	struct generation *gen;

	TAILQ_FOREACH(prog, &sup->programs, entry)
		TAILQ_FOREACH(gen, &prog->gens, entry)
			if (gen != except && gen->drained_by == id &&
			    gen->state != GEN_GONE)
				return true;
	return false;
}

/* An old generation is gone: its reload is done once all of them are. */
static void
supervisor_drain_done(struct supervisor *sup, struct generation *gen)
{
	if (supervisor_draining_for(sup, gen->drained_by, gen))
		return;
	control_reload_end(sup->control, gen->drained_by, true, "done in %llums",
	    (unsigned long long)elapsed_ms(&gen->drained_by_started));
	/* The look after its commit, if still to come: after that answer. */
	guard_check_hurry(sup->guard);
}

/* Where a drain report's lines go: the log, and reload id's followers. */
struct supervisor_drain {
	struct supervisor *sup;
	unsigned int	 id;
};

/* A line of a drain report: to the log, and to the reload's followers. */
static void
supervisor_drain_line(void *arg, bool warn, const char *text)
{
	const struct supervisor_drain *d = arg;

	if (warn)
		log_warnx("%s", text);
	else
		log_info("%s", text);
	if (d->id != 0)
		control_progress(d->sup->control, d->id, "%s%s",
		    warn ? "warning: " : "", text);
}

/* A drained generation is gone: say how its workers ended, and keep that. */
static void
supervisor_drain_report(struct supervisor *sup, struct program *prog,
    struct generation *gen)
{
	struct supervisor_drain d = { sup, gen->drained_by };

	if (gen->drain == NULL)
		return;
	drain_report_lines(gen->drain, supervisor_drain_line, &d);
	gen->drain->reload = gen->drained_by;
	drain_history_add(&prog->drained, gen->drain);
	gen->drain = NULL;
}

/* Deferred: free gone generations and unused programs; exit if done. */
static void
supervisor_cleanup(evutil_socket_t fd, short what, void *arg)
{
	struct supervisor *sup = arg;
	struct program *prog, *next_prog;
	struct generation *gen, *next_gen;
	bool freed = false;

	(void)fd;
	(void)what;
	loopstat_mark("cleanup");
	for (prog = TAILQ_FIRST(&sup->programs); prog != NULL; prog = next_prog) {
		next_prog = TAILQ_NEXT(prog, entry);
		for (gen = TAILQ_FIRST(&prog->gens); gen != NULL; gen = next_gen) {
			next_gen = TAILQ_NEXT(gen, entry);
			if (gen->state != GEN_GONE)
				continue;
			TAILQ_REMOVE(&prog->gens, gen, entry);
			if (prog->current == gen)
				prog->current = NULL;
			if (prog->starting == gen)
				prog->starting = NULL;
			log_info("%s gen %u: gone", gen->program, gen->number);
			supervisor_drain_report(sup, prog, gen);
			if (gen->drained_by != 0)
				supervisor_drain_done(sup, gen);
			reuseport_forget(sup->reuseport, gen);
			gen_free(gen);
			freed = true;
		}
		if (TAILQ_EMPTY(&prog->gens) && (sup->conf == NULL ||
		    config_find_program(sup->conf, prog->name) == NULL)) {
			program_free(&sup->programs, prog);
		}
	}
	reuseport_trim(sup->reuseport);
	/*
	 * The pid and group maps (and the record's) doubled while two
	 * generations ran: back to the size what is left needs.
	 */
	if (freed) {
		pidmap_fit(sup->pids);
		pidmap_fit(sup->groups);
		record_fit(sup->record);
	}
	/*
	 * Give the pages the gone generations used back, once per pass;
	 * but keep them while the heap's free memory is not more than
	 * twice what reading the config took at the last reload (some
	 * 500 KiB for 1000 listeners, mostly the old config just freed):
	 * the next reload would take them again, a page fault each.
	 */
	if (freed && mallinfo2().fordblks > 2 * sup->config_heap)
		malloc_trim(0);
	health_watch(sup->health, &sup->listeners);
	if (sup->stopping && !program_list_has_processes(&sup->programs) &&
	    !recover_live(sup->recover))
		event_base_loopexit(sup->base, NULL);
	supervisor_restart_stale(sup);
}

/* Timer: the pause before another try at leaving a dead socket is over. */
static void
supervisor_stale_timer(evutil_socket_t fd, short what, void *arg)
{
	struct supervisor *sup = arg;

	(void)fd;
	(void)what;
	loopstat_mark("stale restart");
	sup->stale_due = true;
	supervisor_restart_stale(sup);
	sup->stale_due = false;
}

/*
 * Start a new generation of a program whose workers hold the dead socket
 * of a listener bound anew, one program at a time, when no reload is in
 * progress (one may do it meanwhile). A try that fails (say its workers
 * started while an old worker was shutting another listener down) is made
 * again after SUPERVISOR_STALE_RETRY_MS, SUPERVISOR_STALE_TRIES in all.
 */
static void
supervisor_restart_stale(struct supervisor *sup)
{
	struct timeval tv = { SUPERVISOR_STALE_RETRY_MS / 1000,
	    (SUPERVISOR_STALE_RETRY_MS % 1000) * 1000 };
	struct program *prog;

	if (sup->reload != NULL || sup->stopping || (sup->stale_timer != NULL &&
	    evtimer_pending(sup->stale_timer, NULL)))
		return;
	TAILQ_FOREACH(prog, &sup->programs, entry) {
		if (prog->stale_below == 0)
			continue;
		if (prog->current == NULL ||
		    prog->current->number >= prog->stale_below ||
		    prog->stale_tries == SUPERVISOR_STALE_TRIES) {
			if (prog->current != NULL &&
			    prog->current->number < prog->stale_below)
				log_errorx("%s gen %u: still on the dead socket "
				    "of a listener bound anew, after %u tries to "
				    "start a generation on the fresh one; run "
				    "handoff reload", prog->name,
				    prog->current->number, prog->stale_tries);
			prog->stale_below = 0;
			prog->stale_tries = 0;
			continue;
		}
		if (prog->stale_tries > 0 && !sup->stale_due) {
			if (sup->stale_timer == NULL)
				sup->stale_timer = evtimer_new(sup->base,
				    supervisor_stale_timer, sup);
			if (sup->stale_timer == NULL ||
			    evtimer_add(sup->stale_timer, &tv) == -1)
				log_warnx("%s: cannot arm a timer to leave the "
				    "dead socket", prog->name);
			return;
		}
		sup->stale_due = false;
		prog->stale_tries++;
		log_info("%s: starting a new generation on the fresh socket",
		    prog->name);
		sdnotify_reloading();
		supervisor_begin(sup, config_ref(sup->conf), false, prog->name,
		    NULL);
		return;
	}
}

/* Tell whether a generation serves a listener. */
static bool
supervisor_gen_uses(const struct generation *gen, const struct listener *l)
{
	size_t i;

	for (i = 0; gen != NULL && i < gen->nlisteners; i++)
		if (gen->listeners[i] == l)
			return true;
	return false;
}

/*
 * Name the programs whose current (or starting) generation serves l in
 * buf ("program a", "programs a, b"); with mark, note that those
 * generations hold its dead socket.
 */
static void
supervisor_listener_users(struct supervisor *sup, const struct listener *l,
    bool mark, char *buf, size_t len)
{
	struct program *prog;
	char names[200] = "";
	size_t n = 0;
	int count = 0;

	TAILQ_FOREACH(prog, &sup->programs, entry) {
		if (!supervisor_gen_uses(prog->current, l) &&
		    !supervisor_gen_uses(prog->starting, l))
			continue;
		if (mark) {
			prog->stale_below = prog->next_number;
			prog->stale_tries = 0;
		}
		if (n < sizeof(names))
			n += (size_t)snprintf(names + n, sizeof(names) - n,
			    "%s%s", count ? ", " : "", prog->name);
		count++;
	}
	snprintf(buf, len, "%s%s", count == 0 ? "no program" : count == 1 ?
	    "program " : "programs ", names);
}

/*
 * A listener (slot >= 0: that worker slot's socket of it) was found shut
 * down by a process holding a copy of it.
 */
static void
supervisor_listener_health(struct listener *l, long slot,
    enum health_result res, const char *why, void *arg)
{
	struct supervisor *sup = arg;
	char users[256], which[64] = "";

	supervisor_listener_users(sup, l, res == HEALTH_REBOUND, users,
	    sizeof(users));
	if (slot >= 0)
		snprintf(which, sizeof(which), " worker slot %ld", slot);
	/* A slot that listens again is at another index in its group. */
	if (listener_per_slot(l) && res == HEALTH_RELISTENED)
		reuseport_changed(sup->reuseport);
	switch (res) {
	case HEALTH_RELISTENED:
		log_warnx("listener %s %s%s (%s): shut down by a process "
		    "holding it (a server calling shutdown() on its listener "
		    "as it stops); listening again", l->name, l->bound, which,
		    users);
		break;
	case HEALTH_REBOUND:
		log_warnx("listener %s %s (%s): shut down by a process holding "
		    "it (a server calling shutdown() on its listener as it "
		    "stops); bound a fresh socket, new generations take it "
		    "over", l->name, l->bound, users);
		fdstore_sync(&sup->listeners);
		supervisor_schedule_cleanup(sup);
		break;
	case HEALTH_FAILED:
		log_errorx("listener %s %s%s (%s): shut down by a process "
		    "holding it, and cannot be repaired: %s; it refuses "
		    "connections until repaired (trying again)", l->name,
		    l->bound, which, users, why);
		break;
	}
}

/* Run supervisor_cleanup from the event loop, outside any callback chain. */
static void
supervisor_schedule_cleanup(struct supervisor *sup)
{
	event_active(sup->cleanup, EV_TIMEOUT, 0);
}

/*
 * A new generation is ready and on probation: say so, and for how long.
 * The probation guards the generation it replaces: with none, it is over.
 */
static void
supervisor_gen_probation(struct supervisor *sup, struct program *prog,
    struct generation *gen)
{
	char limit[32];

	if (prog == NULL || prog->current == NULL) {
		gen_end_probation(gen);
		return;
	}
	format_duration(gen->pc->probation_ms, limit, sizeof(limit));
	log_info("%s gen %u: ready %d/%d in %llums; on probation for %s",
	    gen->program, gen->number, gen->nready, gen->nworkers,
	    (unsigned long long)elapsed_ms(&gen->started), limit);
	if (reload_owns(sup->reload, gen))
		control_progress(sup->control, sup->reload->id, "%s gen %u ready "
		    "%d/%d, on probation for %s", gen->program, gen->number,
		    gen->nready, gen->nworkers, limit);
}

/* Generation events: ready, failed, gone. */
static void
supervisor_gen_event(struct generation *gen, enum gen_event ev, const char *why,
    void *arg)
{
	struct supervisor *sup = arg;
	struct program *prog = gen->prog;	/* no search by name */

	switch (ev) {
	case GEN_EVENT_READY:
		log_info("%s gen %u: ready %d/%d in %llums", gen->program,
		    gen->number, gen->nready, gen->nworkers,
		    (unsigned long long)elapsed_ms(&gen->started));
		if (!reload_owns(sup->reload, gen))
			break;
		if (gen->pc->probation_ms > 0 && prog->current != NULL)
			control_progress(sup->control, sup->reload->id, "%s gen "
			    "%u passed its probation", gen->program, gen->number);
		else
			control_progress(sup->control, sup->reload->id, "%s gen "
			    "%u ready %d/%d", gen->program, gen->number,
			    gen->nready, gen->nworkers);
		if (reload_gen_ready(sup->reload, gen))
			supervisor_commit(sup);
		break;
	case GEN_EVENT_FAILED:
		/* A reload's failure is logged once, by reload_abort. */
		if (reload_owns(sup->reload, gen)) {
			char msg[640];
			snprintf(msg, sizeof(msg), "%s gen %u: %s", gen->program,
			    gen->number, why);
			supervisor_abort(sup, msg);
		} else
			log_errorx("%s gen %u: failed: %s", gen->program,
			    gen->number, why);
		break;
	case GEN_EVENT_GONE:
		supervisor_schedule_cleanup(sup);
		break;
	case GEN_EVENT_WORKER_READY:
		if (reload_owns(sup->reload, gen))
			control_progress(sup->control, sup->reload->id,
			    "%s gen %u ready %d/%d", gen->program, gen->number,
			    gen->nready, gen->nworkers);
		break;
	case GEN_EVENT_PROBATION:
		supervisor_gen_probation(sup, prog, gen);
		break;
	case GEN_EVENT_SERVING:
		if (gen->pc->handoff == HANDOFF_REUSEPORT)
			reuseport_changed(sup->reuseport);
		break;
	case GEN_EVENT_WORKER_EXITED:
		if (gen->drained_by != 0)
			control_progress(sup->control, gen->drained_by,
			    "%s gen %u draining (%d left)", gen->program,
			    gen->number, gen_live_processes(gen));
		break;
	}
}

/*
 * The worker whose process (or announced MAINPID) is pid: from the pid
 * map, or, for a pid it could not take (no memory), from each generation.
 */
static struct worker *
supervisor_find_worker(struct supervisor *sup, pid_t pid)
{
	struct program *prog;
	struct generation *gen;
	struct worker *w;

	if ((w = pidmap_get(sup->pids, pid)) != NULL &&
	    worker_is_process(w, pid))
		return w;
	if (!pidmap_incomplete(sup->pids))
		return NULL;
	TAILQ_FOREACH(prog, &sup->programs, entry)
		TAILQ_FOREACH(gen, &prog->gens, entry)
			if ((w = gen_find_worker(gen, pid)) != NULL)
				return w;
	return NULL;
}

/*
 * The running worker whose process group is pgid: from the group map, or,
 * for a group it could not take (no memory), from each generation.
 */
static struct worker *
supervisor_find_group(struct supervisor *sup, pid_t pgid)
{
	struct program *prog;
	struct generation *gen;
	struct worker *w;

	if ((w = worker_of_group(sup->groups, pgid)) != NULL && w->pid != 0)
		return w;
	if (!pidmap_incomplete(sup->groups))
		return NULL;
	TAILQ_FOREACH(prog, &sup->programs, entry)
		TAILQ_FOREACH(gen, &prog->gens, entry)
			if ((w = gen_find_worker_group(gen, pgid)) != NULL)
				return w;
	return NULL;
}

/*
 * A notify message: find the sender's worker by pid, else by the process
 * group the sender was in when its message was read.
 */
static void
supervisor_notify(pid_t sender, pid_t sender_group, const char *key,
    const char *value, void *arg)
{
	struct supervisor *sup = arg;
	struct worker *w;

	if ((w = supervisor_find_worker(sup, sender)) != NULL) {
		gen_notify(gen_of(w), w, key, value);
		return;
	}
	/*
	 * Not a worker's own pid: a helper it ran (systemd-notify, a wrapper
	 * script's child) speaks for the worker whose process group it is in.
	 */
	if (sender_group > 0 &&
	    (w = supervisor_find_group(sup, sender_group)) != NULL) {
		gen_notify(gen_of(w), w, key, value);
		return;
	}
	log_debug("notify socket: %s=%s from pid %d, not a worker, ignored",
	    key, value, (int)sender);
}

/*
 * A child is about to be reaped (reap.c): if it is not a worker's own
 * process, note its process group while it can still be asked.
 */
static void
supervisor_peek(pid_t pid, void *arg)
{
	struct supervisor *sup = arg;
	struct worker *w;

	sup->peek_pid = 0;
	if ((w = supervisor_find_worker(sup, pid)) != NULL && w->pid == pid)
		return;
	sup->peek_pid = pid;
	sup->peek_pgid = getpgid(pid);
}

/*
 * A worker's start in flight settled, and its process could not exec
 * (spawn.c): the worker keeps why for its exit, which follows.
 */
static void
supervisor_cannot_run(pid_t pid, const char *why, void *arg)
{
	struct supervisor *sup = arg;
	struct worker *w;

	if ((w = supervisor_find_worker(sup, pid)) != NULL && w->pid == pid)
		worker_note_cannot_run(w, why);
	else
		log_warnx("pid %d: %s", (int)pid, why);
}

/*
 * A child was reaped (reap.c): tell its generation. A descendant's exit
 * may have emptied its worker's process group: that group is looked at,
 * or, if which group it was is not known, every group once the children
 * reaped at once are done.
 */
static void
supervisor_reaped(pid_t pid, int status, void *arg)
{
	struct supervisor *sup = arg;
	struct worker *w;

	spawn_reaped(pid);	/* a start in flight is settled first */
	if ((w = supervisor_find_worker(sup, pid)) != NULL && w->pid == pid) {
		gen_worker_exited(gen_of(w), w, status);
		return;
	}
	log_debug("reaped pid %d, a worker's descendant", (int)pid);
	if (pid != sup->peek_pid ||
	    !gen_group_member_exited(sup->groups, sup->peek_pgid))
		sup->check_groups = true;
	sup->peek_pid = 0;
}

/*
 * Children were reaped: if one's process group is not known, their exits
 * may have emptied any process group.
 */
static void
supervisor_reaped_done(void *arg)
{
	struct supervisor *sup = arg;
	struct program *prog;
	struct generation *gen;

	if (!sup->check_groups)
		return;
	sup->check_groups = false;
	TAILQ_FOREACH(prog, &sup->programs, entry)
		TAILQ_FOREACH(gen, &prog->gens, entry)
			gen_check_groups(gen);
}

/* Signal events. */
static void
supervisor_signal(evutil_socket_t sig, short what, void *arg)
{
	struct supervisor *sup = arg;

	(void)what;
	loopstat_mark(sig == SIGCHLD ? "SIGCHLD" : "signal");
	switch (sig) {
	case SIGHUP:
		supervisor_reload(sup, NULL);
		break;
	case SIGINT:
		if (sup->stopping) {
			log_info("second SIGINT: stopping now");
			supervisor_stop(sup, true);
			break;
		}
		/* FALLTHROUGH */
	case SIGTERM:
		if (sup->stopping) {
			log_info("already stopping (send SIGINT again to stop now)");
			break;
		}
		log_info("%s: stopping gracefully", sig == SIGINT ? "SIGINT" :
		    "SIGTERM");
		supervisor_stop(sup, false);
		break;
	case SIGCHLD:		/* only where reap.c has no signalfd */
		reap_scan();
		break;
	case SIGUSR2: {
		char *cause = NULL;

		if (supervisor_request_upgrade(sup, NULL, &cause) == -1) {
			log_warnx("SIGUSR2: upgrade refused: %s; nothing changed",
			    cause_text(cause));
			free(cause);
		}
		break;
	}
	}
}

/* Write the pidfile, creating its directory if needed. */
static int
supervisor_write_pidfile(struct supervisor *sup, const char *path)
{
	char *dir, *slash, buf[32];
	int fd, len;

	if ((dir = strdup(path)) != NULL && (slash = strrchr(dir, '/')) != NULL &&
	    slash != dir) {
		*slash = '\0';
		(void)mkdir(dir, 0755);
	}
	free(dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd == -1) {
		log_error("pidfile %s", path);
		return -1;
	}
	len = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (write(fd, buf, (size_t)len) != len) {
		log_error("pidfile %s", path);
		close(fd);
		return -1;
	}
	close(fd);
	sup->pidfile = strdup(path);
	return 0;
}

/* Remove our pidfile if it still names us. */
static void
supervisor_remove_pidfile(struct supervisor *sup)
{
	char buf[32] = "";
	FILE *fp;

	if (sup->pidfile == NULL)
		return;
	if ((fp = fopen(sup->pidfile, "re")) != NULL) {
		if (fgets(buf, sizeof(buf), fp) != NULL &&
		    atoi(buf) == (int)getpid())
			unlink(sup->pidfile);
		fclose(fp);
	}
	free(sup->pidfile);
	sup->pidfile = NULL;
}

/*
 * Kill and reap what is left of the workers' descendants: processes that
 * left their worker's process group (setsid) and were orphaned to us, the
 * subreaper. Nothing the supervisor started outlives it. The children
 * lists are read whole (procfs.c): a pid cut in two would name another
 * process.
 */
static void
supervisor_kill_orphans(void)
{
	struct pid_list kids = { NULL, 0, 0 };
	size_t i, n;

	(void)procfs_children(getpid(), &kids);
	for (i = 0; i < kids.count; i++)
		kill(kids.pids[i], SIGKILL);
	n = kids.count;
	procfs_pids_free(&kids);
	if (n > 0)
		log_warnx("killed %zu process%s left by workers outside their "
		    "process groups", n, n == 1 ? "" : "es");
	while (n-- > 0 && waitpid(-1, NULL, __WALL) > 0)
		;
}

/* Add a persistent signal event. */
static struct event *
supervisor_add_signal(struct supervisor *sup, int sig)
{
	struct event *ev = evsignal_new(sup->base, sig, supervisor_signal, sup);

	if (ev == NULL || evsignal_add(ev, NULL) == -1)
		fatalx("cannot watch signal %d", sig);
	return ev;
}

/* Free everything the supervisor holds (its processes are gone). */
static void
supervisor_free(struct supervisor *sup)
{
	struct program *prog;

	recover_free(sup->recover);
	while ((prog = TAILQ_FIRST(&sup->programs)) != NULL)
		program_free(&sup->programs, prog);
	pidmap_free(sup->pids);
	pidmap_free(sup->groups);
	reuseport_free(sup->reuseport);
	acceptq_free(sup->acceptq);
	health_close(sup->health);
	guard_free(sup->guard);
	listener_set_clear(&sup->listeners);
	confwatch_free(sup->confwatch);
	config_unref(sup->prepared);
	config_unref(sup->conf);
	spawn_meanwhile(-1, NULL, NULL);
	notify_close(sup->notify);
	desc_shutdown();	/* after the generations, before the event base */
	spawn_watch(NULL, NULL, NULL);	/* its events go with the base */
	fdstore_free();
	sdsocket_free();
	reload_queue_clear(&sup->reload_queue);
	free(sup->upgrade_to);
	free(sup->self_exe);
	if (sup->stop_timer != NULL)
		event_free(sup->stop_timer);
	if (sup->stale_timer != NULL)
		event_free(sup->stale_timer);
	event_free(sup->sig_hup);
	event_free(sup->sig_term);
	event_free(sup->sig_int);
	if (sup->sig_chld != NULL)
		event_free(sup->sig_chld);
	event_free(sup->sig_usr2);
	event_free(sup->cleanup);
	reap_close();
	event_base_free(sup->base);
	free(sup->config_path);
}

/* Drain a generation a reload replaced (reload_env): reuseport.c decides. */
static void
supervisor_drain(void *arg, struct generation *old, struct generation *next)
{
	struct supervisor *sup = arg;

	reuseport_handover(sup->reuseport, old, next);
}

/*
 * Reload id took over (reload_env): its followers hear it now, before the
 * old generations are told to drain.
 */
static void
supervisor_took_over(void *arg, unsigned int id)
{
	struct supervisor *sup = arg;

	control_flush(sup->control, id);
}

/*
 * While workers start (spawn_meanwhile): take what the notify socket
 * holds, for the loop's next turn.
 */
static int
supervisor_notify_meanwhile(void *arg)
{
	struct supervisor *sup = arg;

	return notify_stash(sup->notify);
}

/* The notify socket workers running as uid send to (reload_env). */
static const char *
supervisor_notify_path(void *arg, uid_t uid)
{
	struct supervisor *sup = arg;

	return notify_socket_path(sup->notify, uid);
}

/* A reload's progress line, to those following it (reload_env). */
static void
supervisor_progress(void *arg, unsigned int id, const char *line)
{
	struct supervisor *sup = arg;

	control_progress(sup->control, id, "%s", line);
}

/* Open the notify socket in CONTROL.notify, beside the control socket. */
static int
supervisor_open_notify(struct supervisor *sup, char **cause)
{
	char *dir;

	if (asprintf(&dir, "%s.notify", sup->conf->supervisor.control) == -1) {
		*cause = strdup("out of memory");
		return -1;
	}
	sup->notify = notify_open(sup->base, dir, supervisor_notify, sup, cause);
	free(dir);
	return sup->notify == NULL ? -1 : 0;
}

/* An orphaned worker of a dead supervisor exited (recover.c). */
static void
supervisor_orphan_exited(void *arg)
{
	struct supervisor *sup = arg;

	record_changed(sup->record);
	supervisor_schedule_cleanup(sup);
}

/*
 * Take over the sockets of a dead supervisor's orphaned workers (unless
 * !recover: an upgrade's new image, whose workers are its children),
 * then keep the record of ours (and of them) beside the control socket.
 */
static int
supervisor_open_record(struct supervisor *sup, bool recover, char **cause)
{
	if (recover && recover_open(sup->base, sup->conf,
	    supervisor_orphan_exited, sup, &sup->recover, cause) == -1)
		return -1;
	/* Stored output pipes no orphan took: their workers are gone. */
	outstore_finish();
	sup->record = record_open(sup->base, sup->conf->supervisor.control,
	    &sup->programs, sup->pids, recover_put, sup->recover, cause);
	return sup->record == NULL ? -1 : 0;
}

/*
 * Close the control socket and its lock, and before that the record
 * beside it: a last write (the orphans left running), or none.
 */
static void
supervisor_close_control(struct supervisor *sup)
{
	record_close(sup->record);
	sup->record = NULL;
	control_close(sup->control);
	sup->control = NULL;
}

/*
 * Tell whether a reload is in flight: one starting generations, or old
 * generations still draining (a reload is done once they are gone);
 * *cause says which.
 */
bool
supervisor_busy(const struct supervisor *sup, char **cause)
{
	const struct program *prog;
	const struct generation *gen;

	if (sup->reload != NULL || sup->reload_queue.queued) {
		*cause = strdup("a reload is in progress; upgrade once it is "
		    "done (handoff reload waits for that)");
		return true;
	}
	if (recover_live(sup->recover)) {
		*cause = strdup("the workers of a dead supervisor are still "
		    "draining; upgrade once they are gone");
		return true;
	}
	TAILQ_FOREACH(prog, &sup->programs, entry)
		TAILQ_FOREACH(gen, &prog->gens, entry)
			if (gen != prog->current || gen->state != GEN_RUNNING) {
				cause_set(cause, "a reload is in progress (%s "
				    "gen %u is %s); upgrade once it is done",
				    gen->program, gen->number,
				    gen_state_name(gen->state));
				return true;
			}
	return false;
}

/*
 * Upgrade to the binary at path (NULL: the one running): done from the
 * top of the loop (supervisor_run), outside every callback. -1 with
 * *cause if refused now.
 */
int
supervisor_request_upgrade(struct supervisor *sup, const char *path,
    char **cause)
{
	if (sup->upgrade == NULL) {
		*cause = strdup("this supervisor cannot upgrade in place");
		return -1;
	}
	if (sup->stopping) {
		*cause = strdup("the supervisor is stopping");
		return -1;
	}
	if (sup->upgrade_to != NULL) {
		*cause = strdup("an upgrade is in progress");
		return -1;
	}
	if (supervisor_busy(sup, cause))
		return -1;
	if (path == NULL && sup->self_exe == NULL) {
		*cause = strdup("cannot tell which binary runs (give one with "
		    "--binary)");
		return -1;
	}
	if ((sup->upgrade_to = strdup(path != NULL ? path : sup->self_exe)) == NULL) {
		*cause = strdup("out of memory");
		return -1;
	}
	log_info("upgrade to %s asked for", sup->upgrade_to);
	event_base_loopbreak(sup->base);
	return 0;
}

/* ---- what the control server may ask (struct control_ops) ----------- */

/* control_ops.upgrade */
static int
supervisor_ctl_upgrade(void *arg, const char *path, char **cause)
{
	return supervisor_request_upgrade(arg, path, cause);
}

/* control_ops.reload */
static int
supervisor_ctl_reload(void *arg, const char *program, char **cause)
{
	return supervisor_request_reload(arg, program, cause);
}

/* control_ops.stop */
static void
supervisor_ctl_stop(void *arg, int64_t ms)
{
	supervisor_stop_within(arg, ms);
}

/* control_ops.status: rendered from a read-only view of the supervisor. */
static void
supervisor_ctl_status(void *arg, bool json, struct evbuffer *out)
{
	const struct supervisor *sup = arg;
	struct status_view view = {
		.conf = sup->conf,
		.config_path = sup->config_path,
		.started = sup->started,
		.stopping = sup->stopping,
		.reloading = sup->reload != NULL,
		.last_reload = &sup->last_reload,
		.listeners = &sup->listeners,
		.programs = &sup->programs,
		.migrate = &sup->migrate,
		.guard = sup->guard,
		.health = sup->health,
		.acceptq = sup->acceptq,
	};

	sup->render_status(&view, json, out);
}

/* control_ops.listener_fds: the listener's socket, still ours. */
static int
supervisor_ctl_listener_fds(void *arg, const char *name,
    struct control_fds *out)
{
	static int fds[FDPASS_MAX];	/* sent before the next request */
	const struct supervisor *sup = arg;
	const struct listener *l = listener_set_find(&sup->listeners, name);
	size_t slot;

	if (l == NULL)
		return -1;
	out->name = l->name;
	out->bound = l->bound;
	out->fds = fds;
	out->nfds = 0;
	/* A reuseport listener: the socket of each slot in use, in order. */
	for (slot = 0; slot < listener_nsockets(l) && out->nfds < FDPASS_MAX &&
	    (slot == 0 || slot < l->committed); slot++)
		if (listener_socket_fd(l, slot) != -1)
			fds[out->nfds++] = listener_socket_fd(l, slot);
	return 0;
}

static const struct control_ops supervisor_control_ops = {
	.reload = supervisor_ctl_reload,
	.stop = supervisor_ctl_stop,
	.status = supervisor_ctl_status,
	.listener_fds = supervisor_ctl_listener_fds,
	.upgrade = supervisor_ctl_upgrade,
};

/*
 * Supervise what conf describes until stopped. Takes a reference to conf.
 * config_path is the file a reload re-reads (NULL: the command line, which
 * a reload restarts unchanged). Returns the exit code.
 */
int
supervisor_run(struct config *conf, const char *config_path,
    supervisor_status_fn render_status, const struct supervisor_upgrade *up)
{
	struct supervisor sup;
	char *cause = NULL;
	bool failed;
	int code;

	memset(&sup, 0, sizeof(sup));
	sup.render_status = render_status;
	sup.upgrade = up;
	sup.self_exe = realpath("/proc/self/exe", NULL);
	TAILQ_INIT(&sup.programs);
	clock_gettime(CLOCK_MONOTONIC, &sup.started);
	if (config_path != NULL && (sup.config_path = strdup(config_path)) == NULL)
		fatal("config path");
	/* Orphaned descendants of workers become ours to reap and to track. */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) == -1)
		log_warn("cannot become a child subreaper; orphaned worker "
		    "descendants will not be tracked");
	sdnotify_init();
	/* Sockets a service manager passed at fds 3..., CLOEXEC from now on. */
	if (sdsocket_adopt(&cause) == -1) {
		log_errorx("cannot start: %s", cause_text(cause));
		free(cause);
		sdsocket_free();
		free(sup.self_exe);
		free(sup.config_path);
		return 1;
	}
	fdstore_init();
	outstore_enable(fdstore_enabled());
	spawn_init();
	if ((sup.base = supervisor_base_new()) == NULL ||
	    (sup.pids = pidmap_new()) == NULL ||
	    (sup.groups = pidmap_new()) == NULL)
		fatalx("cannot create the event loop");
	spawn_watch(sup.base, supervisor_cannot_run, &sup);
	sup.sig_hup = supervisor_add_signal(&sup, SIGHUP);
	sup.sig_term = supervisor_add_signal(&sup, SIGTERM);
	sup.sig_int = supervisor_add_signal(&sup, SIGINT);
	sup.sig_usr2 = supervisor_add_signal(&sup, SIGUSR2);
	signal(SIGPIPE, SIG_IGN);
	/* SIGCHLD from a signalfd, which names the child; else as the others. */
	if (reap_open(sup.base, supervisor_reaped, supervisor_peek,
	    supervisor_reaped_done, &sup, &cause) == -1) {
		log_warnx("%s; each exit of a child makes the supervisor look at "
		    "all its children, which costs more with many workers",
		    cause_text(cause));
		free(cause);
		cause = NULL;
		sup.sig_chld = supervisor_add_signal(&sup, SIGCHLD);
	}
	sup.reload_env.base = sup.base;
	sup.reload_env.ops = &proc_ops_system;
	sup.reload_env.pids = sup.pids;
	sup.reload_env.groups = sup.groups;
	sup.reload_env.notify_path = supervisor_notify_path;
	sup.reload_env.progress = supervisor_progress;
	sup.reload_env.gen_cb = supervisor_gen_event;
	sup.reload_env.drain = supervisor_drain;
	sup.reload_env.took_over = supervisor_took_over;
	sup.reload_env.arg = &sup;
	if ((sup.reuseport = reuseport_new(sup.base, &sup.programs,
	    &sup.migrate)) == NULL ||
	    (sup.acceptq = acceptq_new(sup.base, &sup.programs)) == NULL)
		fatalx("out of memory");
	if ((sup.cleanup = event_new(sup.base, -1, 0, supervisor_cleanup, &sup)) == NULL)
		fatalx("cannot create the cleanup event");
	if ((sup.health = health_open(sup.base, supervisor_listener_health,
	    &sup, &cause)) == NULL) {
		log_warnx("%s; a listener shut down by a worker will not be "
		    "repaired", cause_text(cause));
		free(cause);
		cause = NULL;
	}
	/*
	 * The control socket first: a second supervisor stops here. Its lock
	 * makes the notify directory beside it ours.
	 */
	sup.conf = config_ref(conf);
	if (up != NULL && up->restore != NULL) {
		/* An upgrade's new image: the sockets are the old one's. */
		if (up->restore_sockets(&sup, &supervisor_control_ops,
		    supervisor_notify, &cause) == -1)
			up->restore_failed(&sup, cause);
		failed = supervisor_open_record(&sup, false, &cause) == -1;
	} else
		failed = (sup.control = control_open(sup.base,
		    conf->supervisor.control, &supervisor_control_ops, &sup,
		    &cause)) == NULL || supervisor_open_notify(&sup,
		    &cause) == -1 || supervisor_open_record(&sup, true,
		    &cause) == -1;
	if (failed) {
		log_errorx("cannot start: %s", cause_text(cause));
		free(cause);
		supervisor_close_control(&sup);
		supervisor_free(&sup);
		return 1;
	}
	spawn_meanwhile(notify_fd(sup.notify), supervisor_notify_meanwhile,
	    &sup);
	if (loopstat_init(getenv("HANDOFF_DEBUG_LOOP"), &cause) == -1 ||
	    desc_init(sup.base, getenv("HANDOFF_DESCENDANTS"), &cause) == -1 ||
	    (sup.guard = guard_new(sup.base, &sup.listeners, &sup.programs,
	    sup.pids, getenv("HANDOFF_GUARD_INTERVAL"), &cause)) == NULL) {
		log_errorx("cannot start: %s", cause_text(cause));
		free(cause);
		supervisor_close_control(&sup);
		supervisor_free(&sup);
		return 1;
	}

	log_info("supervisor %s pid %d starting (%zu listener%s, %zu program%s)",
	    conf->supervisor.name, (int)getpid(), conf->nlisteners,
	    conf->nlisteners == 1 ? "" : "s", conf->nprograms,
	    conf->nprograms == 1 ? "" : "s");
	if (up != NULL && up->restore != NULL) {
		if (up->restore_state(&sup, &cause) == -1)
			up->restore_failed(&sup, cause);
		reap_scan();	/* exits during the exec */
		up->restore_done(&sup);
	} else
		supervisor_begin(&sup, config_ref(conf), true, NULL, NULL);
	if (!sup.stopping && conf->supervisor.pidfile != NULL)
		supervisor_write_pidfile(&sup, conf->supervisor.pidfile);
	supervisor_watch_config(&sup);
	while (!sup.stopping || program_list_has_processes(&sup.programs)) {
		loopstat_dispatch(sup.base);
		if (sup.upgrade_to == NULL)
			break;
		/* Returns only if the upgrade failed: run on. */
		up->exec(&sup);
		free(sup.upgrade_to);
		sup.upgrade_to = NULL;
	}

	reap_scan();	/* zombies are not left over: reap them first */
	supervisor_kill_orphans();
	/* The fd store keeps the sockets, and their files, for the next start. */
	fdstore_keep_files(&sup.listeners);
	/* The pidfile goes before `handoff stop` is told we stopped. */
	supervisor_remove_pidfile(&sup);
	/* Removed while the control lock still makes its directory ours. */
	spawn_meanwhile(-1, NULL, NULL);
	notify_close(sup.notify);
	sup.notify = NULL;
	supervisor_close_control(&sup);
	code = sup.exit_code;
	if (code == 0)
		log_info("stopped");
	supervisor_free(&sup);
	return code;
}
