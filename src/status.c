/*
 * status.c: render the supervisor's state for `handoff status`, from a
 * read-only view: nothing here changes the supervisor.
 *
 * Both forms go out as "data " lines of the control protocol. The JSON
 * form is one line, schema version STATUS_SCHEMA_VERSION (documented in
 * README.md); fields are only ever added, never renamed or removed.
 */
#include "autoconf.h"

#include <event2/buffer.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "acceptq.h"
#include "config.h"
#include "descendants.h"
#include "drain_report.h"
#include "generation.h"
#include "guard.h"
#include "health.h"
#include "listener.h"
#include "migrate.h"
#include "program.h"
#include "selfmode.h"
#include "status.h"
#include "version.h"

#define STATUS_MAX_DESCENDANT_PIDS	256	/* listed in JSON, per generation */
#define STATUS_MAX_DESCENDANT_ROWS	16	/* rows in the table, per generation */

/* Format a duration for people: 850ms, 12s, 5m3s, 1h2m, 3d4h. */
void
status_format_age(uint64_t ms, char *buf, size_t len)
{
	uint64_t s = ms / 1000;

	if (ms < 1000)
		snprintf(buf, len, "%llums", (unsigned long long)ms);
	else if (s < 60)
		snprintf(buf, len, "%llu.%llus", (unsigned long long)s,
		    (unsigned long long)(ms % 1000) / 100);
	else if (s < 3600)
		snprintf(buf, len, "%llum%llus", (unsigned long long)s / 60,
		    (unsigned long long)s % 60);
	else if (s < 86400)
		snprintf(buf, len, "%lluh%llum", (unsigned long long)s / 3600,
		    (unsigned long long)(s % 3600) / 60);
	else
		snprintf(buf, len, "%llud%lluh", (unsigned long long)s / 86400,
		    (unsigned long long)(s % 86400) / 3600);
}

/* What the supervisor is doing: running, reloading or stopping. */
static const char *
status_state(const struct status_view *view)
{
	if (view->stopping)
		return "stopping";
	if (view->reloading)
		return "reloading";
	return "running";
}

/*
 * JSON "origin":...,"inode":N for a listener's socket i: where it came
 * from (bound, or passed or kept by the service manager) and its inode.
 */
static void
status_socket_origin(const struct listener *l, size_t i, struct evbuffer *out)
{
	struct stat sb;
	int fd = listener_socket_fd(l, i);

	evbuffer_add_printf(out, "\"origin\":\"%s\",\"inode\":",
	    sdsocket_origin_name(listener_socket_origin(l, i)));
	if (fd != -1 && fstat(fd, &sb) == 0)
		evbuffer_add_printf(out, "%llu", (unsigned long long)sb.st_ino);
	else
		evbuffer_add_printf(out, "null");
}

/* A listener's health for people: "ok", "repaired 2 times", "shut down". */
static void
status_listener_health(const struct status_view *view, const struct listener *l,
    char *buf, size_t len, unsigned int *repairs, bool *down)
{
	health_describe(view->health, l, repairs, down);
	if (*down)
		snprintf(buf, len, "shut down");
	else if (*repairs > 0)
		snprintf(buf, len, "repaired %u time%s", *repairs,
		    *repairs == 1 ? "" : "s");
	else
		snprintf(buf, len, "ok");
}

/* A generation's state for the table: "probation" while on probation. */
static const char *
status_gen_state(const struct generation *gen)
{
	if (gen->state == GEN_STARTING && gen->on_probation)
		return "probation";
	return gen_state_name(gen->state);
}

/* Append a JSON string literal (quoted and escaped), or null. */
static void
status_json_string(struct evbuffer *out, const char *s)
{
	const unsigned char *p;

	if (s == NULL) {
		evbuffer_add_printf(out, "null");
		return;
	}
	evbuffer_add(out, "\"", 1);
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\')
			evbuffer_add_printf(out, "\\%c", *p);
		else if (*p < 0x20)
			evbuffer_add_printf(out, "\\u%04x", *p);
		else
			evbuffer_add(out, p, 1);
	}
	evbuffer_add(out, "\"", 1);
}

/* A generation's other processes: "descendants" (how many) and their pids. */
static void
status_json_descendants(const struct generation *gen, struct evbuffer *out)
{
	pid_t pids[STATUS_MAX_DESCENDANT_PIDS];
	size_t n, i;

	n = gen_descendants(gen, DESC_RECENT, pids,
	    STATUS_MAX_DESCENDANT_PIDS);
	evbuffer_add_printf(out, ",\"descendants\":%zu,\"descendant_pids\":[", n);
	for (i = 0; i < n && i < STATUS_MAX_DESCENDANT_PIDS; i++)
		evbuffer_add_printf(out, "%s%d", i ? "," : "", (int)pids[i]);
	evbuffer_add(out, "]", 1);
}

/* A worker's backoff and when it restarts (null: it is not waiting to). */
static void
status_json_backoff(const struct worker *w, struct evbuffer *out)
{
	int64_t restart_in = worker_restart_in_ms(w);

	evbuffer_add_printf(out, ",\"backoff_ms\":%llu,\"restart_in_ms\":",
	    (unsigned long long)w->backoff_ms);
	if (restart_in >= 0)
		evbuffer_add_printf(out, "%lld", (long long)restart_in);
	else
		evbuffer_add_printf(out, "null");
}

/*
 * The settings in force of a program (after a reload of one program, a
 * merge that no file holds): ,"command":...,"workers":N,... or nothing
 * if pc is NULL (a program removed from the config, still draining).
 */
static void
status_json_program_conf(struct evbuffer *out, const struct program_conf *pc)
{
	size_t i;

	if (pc == NULL)
		return;
	evbuffer_add_printf(out, ",\"command\":");
	status_json_string(out, pc->command);
	evbuffer_add_printf(out, ",\"workers\":%d,\"handoff\":\"%s\","
	    "\"ready\":\"%s\",\"ready_pattern\":", pc->workers,
	    handoff_mode_name(pc->handoff), ready_mode_name(pc->ready));
	if (pc->ready == READY_LOG)
		status_json_string(out, pc->ready_log);
	else
		evbuffer_add_printf(out, "null");
	evbuffer_add_printf(out, ",\"listeners\":[");
	for (i = 0; i < pc->nlisteners; i++) {
		evbuffer_add_printf(out, "%s", i ? "," : "");
		status_json_string(out, pc->listener_names[i]);
	}
	evbuffer_add(out, "]", 1);
}

/*
 * The worker processes on a per-slot listener's slot: JSON objects
 * {"generation":N,"pid":P}, or text "gen N pid P".
 */
static void
status_slot_workers(const struct status_view *view, const struct listener *l,
    size_t slot, bool json, struct evbuffer *out)
{
	const struct program *prog;
	const struct generation *gen;
	const struct worker *w;
	size_t i;
	int n = 0;

	TAILQ_FOREACH(prog, view->programs, entry)
		TAILQ_FOREACH(gen, &prog->gens, entry) {
			for (i = 0; i < gen->nlisteners; i++)
				if (gen->listeners[i] == l)
					break;
			if (i == gen->nlisteners ||
			    (size_t)gen->nworkers <= slot)
				continue;
			w = &gen->workers[slot];
			if (w->pid == 0)
				continue;
			evbuffer_add_printf(out, json ? "%s{\"generation\":%u,"
			    "\"pid\":%d,\"state\":\"%s\"}" : "%sgen %u pid %d %s",
			    n++ ? (json ? "," : ", ") : "", gen->number,
			    (int)w->pid, worker_state_name(w->state));
		}
	if (n == 0 && !json)
		evbuffer_add_printf(out, "no worker");
}

/*
 * A per-slot listener's sockets: JSON ,"slots":[...], or a text row per
 * slot with what serves it and what waits on it.
 */
static void
status_slots(const struct status_view *view, const struct listener *l, bool json,
    struct evbuffer *out)
{
	unsigned int queued, limit;
	size_t slot;
	bool known;

	if (!listener_per_slot(l))
		return;
	if (json)
		evbuffer_add_printf(out, ",\"slots\":[");
	for (slot = 0; slot < listener_nsockets(l); slot++) {
		known = listener_slot_queue(l, slot, &queued, &limit) == 0;
		if (json) {
			evbuffer_add_printf(out, "%s{\"slot\":%zu,\"serving\":%s,"
			    "\"retired\":%s,\"group_index\":%d,", slot ? "," : "",
			    slot, listener_slot_serving(l, slot) ? "true" :
			    "false", slot >= l->committed ? "true" : "false",
			    listener_slot_group_index(l, slot));
			status_socket_origin(l, slot, out);
			evbuffer_add(out, ",", 1);
			if (known)
				evbuffer_add_printf(out, "\"queue\":%u,"
				    "\"queue_limit\":%u,", queued, limit);
			else
				evbuffer_add_printf(out, "\"queue\":null,"
				    "\"queue_limit\":null,");
			evbuffer_add_printf(out, "\"queue_unit\":\"%s\","
			    "\"workers\":[", l->addr.kind == ADDR_TCP ?
			    "connections" : "bytes");
			status_slot_workers(view, l, slot, true, out);
			evbuffer_add(out, "]}", 2);
			continue;
		}
		evbuffer_add_printf(out, "data   slot %-3zu %-8s queue ", slot,
		    listener_slot_serving(l, slot) ? "serving" :
		    slot >= l->committed ? "retired" : "idle");
		if (known)
			evbuffer_add_printf(out, "%u/%u %s", queued, limit,
			    l->addr.kind == ADDR_TCP ? "conns" : "bytes");
		else
			evbuffer_add_printf(out, "?");
		evbuffer_add_printf(out, "  ");
		status_slot_workers(view, l, slot, false, out);
		evbuffer_add_printf(out, "\n");
	}
	if (json)
		evbuffer_add(out, "]", 1);
}

/*
 * A TCP listener's accept queue and real backlog (acceptq.c), and what is
 * wrong with them: ,"accept_queue":N,"kernel_backlog":M,"warnings":[...]
 * (null, null and [] where the kernel does not say).
 */
static void
status_json_queue(const struct status_view *view, const struct listener *l,
    struct evbuffer *out)
{
	struct acceptq_view v;
	int n = 0;

	acceptq_view(view->acceptq, l, &v);
	if (v.known)
		evbuffer_add_printf(out, ",\"accept_queue\":%u,\"kernel_backlog\""
		    ":%u,\"warnings\":[", v.queued, v.backlog);
	else
		evbuffer_add_printf(out, ",\"accept_queue\":null,"
		    "\"kernel_backlog\":null,\"warnings\":[");
	if (v.queue_warning[0] != '\0' && ++n)
		status_json_string(out, v.queue_warning);
	if (v.backlog_warning[0] != '\0') {
		evbuffer_add_printf(out, "%s", n ? "," : "");
		status_json_string(out, v.backlog_warning);
	}
	evbuffer_add(out, "]", 1);
}

/* A TCP listener's queue and backlog as a text row, and its warnings. */
static void
status_text_queue(const struct status_view *view, const struct listener *l,
    struct evbuffer *out)
{
	struct acceptq_view v;

	acceptq_view(view->acceptq, l, &v);
	if (!v.known)
		return;
	evbuffer_add_printf(out, "data   accept queue %u, backlog %u\n",
	    v.queued, v.backlog);
	if (v.queue_warning[0] != '\0')
		evbuffer_add_printf(out, "data   warning: %s\n", v.queue_warning);
	if (v.backlog_warning[0] != '\0')
		evbuffer_add_printf(out, "data   warning: %s\n",
		    v.backlog_warning);
}

/* A drain report as JSON, or null. */
static void
status_json_drain(const struct drain_report *r, struct evbuffer *out)
{
	if (r == NULL)
		evbuffer_add_printf(out, "null");
	else
		drain_report_json(r, out);
}

/* A line of a drain report as a text row (drain_report_line_fn). */
static void
status_text_drain_line(void *arg, bool warn, const char *text)
{
	evbuffer_add_printf(arg, "data %s%s\n", warn ? "warning: " : "", text);
}

/* How the last drained generations of each program ended, as text. */
static void
status_text_drains(const struct status_view *view, struct evbuffer *out)
{
	const struct program *prog;
	size_t i;
	bool any = false;

	TAILQ_FOREACH(prog, view->programs, entry)
		for (i = 0; i < prog->drained.count; i++) {
			if (!any)
				evbuffer_add_printf(out, "data\ndata last "
				    "drains:\n");
			any = true;
			drain_report_lines(prog->drained.items[i],
			    status_text_drain_line, out);
		}
}

/* The supervisor as one line of JSON. */
static void
status_json(const struct status_view *view, struct evbuffer *out)
{
	const struct program *prog;
	const struct generation *gen;
	const struct listener *l;
	char how[128], health[64];
	unsigned int repairs;
	size_t i;
	int k, first_prog = 1, first_gen;
	bool down;

	evbuffer_add_printf(out, "data {\"schema\":%d,\"version\":",
	    STATUS_SCHEMA_VERSION);
	status_json_string(out, version_text());
	evbuffer_add_printf(out, ",\"supervisor\":{\"name\":");
	status_json_string(out, view->conf->supervisor.name);
	evbuffer_add_printf(out, ",\"pid\":%d,\"uptime_ms\":%llu,\"config\":",
	    (int)getpid(), (unsigned long long)elapsed_ms(&view->started));
	status_json_string(out, view->config_path);
	evbuffer_add_printf(out, ",\"control\":");
	status_json_string(out, view->conf->supervisor.control);
	evbuffer_add_printf(out, ",\"state\":\"%s\",\"descendant_tracking\":"
	    "\"%s\",\"cgroup\":", status_state(view),
	    desc_method_name(desc_method()));
	status_json_string(out, desc_cgroup_dir());
	evbuffer_add_printf(out, ",\"migration\":\"%s\",\"steering\":\"%s\"",
	    migrate_state_name(view->migrate->state), !view->migrate->probed ?
	    "none" : view->migrate->steer_ebpf ? "ebpf" : "cbpf");
	evbuffer_add_printf(out, "},\"last_reload\":");
	if (!view->last_reload->done)
		evbuffer_add_printf(out, "null");
	else {
		evbuffer_add_printf(out, "{\"ok\":%s,\"time\":%lld,"
		    "\"duration_ms\":%llu,\"duration_us\":%llu,"
		    "\"config_us\":%llu,\"message\":",
		    view->last_reload->ok ? "true" : "false",
		    (long long)view->last_reload->when,
		    (unsigned long long)(view->last_reload->duration_us / 1000),
		    (unsigned long long)view->last_reload->duration_us,
		    (unsigned long long)view->last_reload->config_us);
		status_json_string(out, view->last_reload->message);
		evbuffer_add(out, "}", 1);
	}

	evbuffer_add_printf(out, ",\"listeners\":[");
	for (i = 0; i < view->listeners->count; i++) {
		char address[ADDR_STRLEN];
		l = view->listeners->items[i];
		addr_format(&l->addr, address, sizeof(address));
		evbuffer_add_printf(out, "%s{\"name\":", i ? "," : "");
		status_json_string(out, l->name);
		evbuffer_add_printf(out, ",\"fd_name\":");
		status_json_string(out, l->fd_name);
		evbuffer_add_printf(out, ",\"kind\":\"%s\",\"address\":",
		    addr_kind_name(l->addr.kind));
		status_json_string(out, address);
		evbuffer_add_printf(out, ",\"bound\":");
		status_json_string(out, l->bound);
		if (addr_socktype(&l->addr) == SOCK_STREAM)
			evbuffer_add_printf(out, ",\"backlog\":%d",
			    l->opts.backlog);
		status_json_queue(view, l, out);
		status_listener_health(view, l, health, sizeof(health), &repairs,
		    &down);
		evbuffer_add_printf(out, ",\"health\":\"%s\",\"repairs\":%u",
		    down ? "shut down" : repairs > 0 ? "repaired" : "ok", repairs);
		evbuffer_add(out, ",", 1);
		status_socket_origin(l, 0, out);
		guard_status_json(view->guard, l, out);
		status_slots(view, l, true, out);
		evbuffer_add(out, "}", 1);
	}

	evbuffer_add_printf(out, "],\"programs\":[");
	TAILQ_FOREACH(prog, view->programs, entry) {
		evbuffer_add_printf(out, "%s{\"name\":", first_prog ? "" : ",");
		first_prog = 0;
		status_json_string(out, prog->name);
		status_json_program_conf(out, config_find_program(view->conf,
		    prog->name));
		selfmode_status_json(prog, config_find_program(view->conf,
		    prog->name), out);
		guard_status_self_json(view->guard, prog,
		    config_find_program(view->conf, prog->name), out);
		if (prog->current != NULL)
			evbuffer_add_printf(out, ",\"current_generation\":%u",
			    prog->current->number);
		else
			evbuffer_add_printf(out, ",\"current_generation\":null");
		evbuffer_add_printf(out, ",\"generations\":[");
		first_gen = 1;
		TAILQ_FOREACH(gen, &prog->gens, entry) {
			evbuffer_add_printf(out, "%s{\"number\":%u,\"state\":\"%s\","
			    "\"uptime_ms\":%llu,\"workers_ready\":%d,"
			    "\"probation_ms\":%llu,\"on_probation\":%s,"
			    "\"workers\":[",
			    first_gen ? "" : ",", gen->number,
			    gen_state_name(gen->state),
			    (unsigned long long)elapsed_ms(&gen->started),
			    gen->nready,
			    (unsigned long long)gen->pc->probation_ms,
			    gen->on_probation ? "true" : "false");
			first_gen = 0;
			for (k = 0; k < gen->nworkers; k++) {
				const struct worker *w = &gen->workers[k];
				evbuffer_add_printf(out, "%s{\"index\":%d,\"pid\":",
				    k ? "," : "", w->index);
				if (w->pid != 0)
					evbuffer_add_printf(out, "%d", (int)w->pid);
				else
					evbuffer_add_printf(out, "null");
				evbuffer_add_printf(out, ",\"state\":\"%s\","
				    "\"uptime_ms\":", worker_state_name(w->state));
				if (w->pid != 0)
					evbuffer_add_printf(out, "%llu",
					    (unsigned long long)elapsed_ms(&w->started));
				else
					evbuffer_add_printf(out, "null");
				evbuffer_add_printf(out, ",\"restarts\":%u,"
				    "\"last_exit\":", w->restarts);
				if (w->last_status != -1) {
					worker_describe_status(w->last_status, how,
					    sizeof(how));
					status_json_string(out, how);
				} else
					evbuffer_add_printf(out, "null");
				evbuffer_add_printf(out, ",\"status\":");
				status_json_string(out, w->status_text);
				evbuffer_add_printf(out, ",\"last_error\":");
				status_json_string(out, w->last_error);
				evbuffer_add_printf(out, ",\"output_dropped\":%llu",
				    w->output_dropped);
				status_json_backoff(w, out);
				evbuffer_add(out, "}", 1);
			}
			evbuffer_add(out, "]", 1);
			status_json_descendants(gen, out);
			evbuffer_add_printf(out, ",\"drain\":");
			status_json_drain(gen->drain, out);
			evbuffer_add(out, "}", 1);
		}
		evbuffer_add_printf(out, "],\"drained\":[");
		for (i = 0; i < prog->drained.count; i++) {
			evbuffer_add_printf(out, "%s", i ? "," : "");
			drain_report_json(prog->drained.items[i], out);
		}
		evbuffer_add_printf(out, "]}");
	}
	evbuffer_add_printf(out, "]}\n");
}

/* Append "restart in 800ms" to a worker's text if it waits in backoff. */
static void
status_text_backoff(const struct worker *w, char *buf, size_t len)
{
	int64_t restart_in = worker_restart_in_ms(w);
	char when[32];
	size_t used = strlen(buf);

	if (restart_in < 0 || used >= len)
		return;
	status_format_age((uint64_t)restart_in, when, sizeof(when));
	snprintf(buf + used, len - used, "%srestart in %s", used ? "; " : "",
	    when);
}

/* A row per process of a generation that is not one of its workers. */
static void
status_text_descendants(const char *program, const struct generation *gen,
    struct evbuffer *out)
{
	pid_t pids[STATUS_MAX_DESCENDANT_ROWS];
	size_t n, i;

	n = gen_descendants(gen, DESC_RECENT, pids,
	    STATUS_MAX_DESCENDANT_ROWS);
	for (i = 0; i < n && i < STATUS_MAX_DESCENDANT_ROWS; i++)
		evbuffer_add_printf(out, "data %-16s %5u %-9s %6s %8d %-9s %9s "
		    "%8s\n", program, gen->number, status_gen_state(gen),
		    "-", (int)pids[i], "descendant", "-", "-");
	if (n > i)
		evbuffer_add_printf(out, "data %-16s %5u %-9s %6s %8s %-9s %9s "
		    "%8s  and %zu more descendants\n", program, gen->number,
		    status_gen_state(gen), "-", "-", "-", "-", "-", n - i);
}

/* The supervisor as a readable table. */
static void
status_text(const struct status_view *view, struct evbuffer *out)
{
	const struct program *prog;
	const struct generation *gen;
	const struct listener *l;
	char age[32], took[32], address[ADDR_STRLEN], pid[16], how[128];
	char health[64];
	unsigned int repairs;
	size_t i;
	int k;
	bool down;

	status_format_age(elapsed_ms(&view->started), age, sizeof(age));
	evbuffer_add_printf(out, "data supervisor %s pid %d, up %s, %s, "
	    "config %s\n", view->conf->supervisor.name, (int)getpid(), age,
	    status_state(view), view->config_path ? view->config_path :
	    "(command line)");
	if (view->last_reload->done) {
		status_format_age((uint64_t)(time(NULL) - view->last_reload->when) *
		    1000, age, sizeof(age));
		status_format_age(view->last_reload->duration_us / 1000, took, sizeof(took));
		evbuffer_add_printf(out, "data last reload: %s %s ago (after %s): %s\n",
		    view->last_reload->ok ? "ok" : "FAILED", age, took,
		    view->last_reload->message);
	} else
		evbuffer_add_printf(out, "data last reload: none\n");
	evbuffer_add_printf(out, "data worker descendants: tracked by %s%s%s\n",
	    desc_method_name(desc_method()), desc_cgroup_dir() ? " in " : "",
	    desc_cgroup_dir() ? desc_cgroup_dir() : "");

	evbuffer_add_printf(out, "data\ndata %-16s %-28s %-16s %s\n",
	    "LISTENER", "ADDRESS", "FD NAME", "HEALTH");
	for (i = 0; i < view->listeners->count; i++) {
		l = view->listeners->items[i];
		addr_format(&l->addr, address, sizeof(address));
		if (addr_port(&l->addr) == 0)
			snprintf(address, sizeof(address), "%s", l->bound);
		status_listener_health(view, l, health, sizeof(health), &repairs,
		    &down);
		evbuffer_add_printf(out, "data %-16s %-28s %-16s %s\n", l->name,
		    address, l->fd_name, health);
		status_text_queue(view, l, out);
		guard_status_text(view->guard, l, out);
		status_slots(view, l, false, out);
	}

	evbuffer_add_printf(out, "data\ndata %-16s %5s %-9s %6s %8s %-9s %9s %8s  %s\n",
	    "PROGRAM", "GEN", "STATE", "WORKER", "PID", "STATE", "UPTIME",
	    "RESTARTS", "LAST EXIT / STATUS");
	TAILQ_FOREACH(prog, view->programs, entry) {
		TAILQ_FOREACH(gen, &prog->gens, entry) {
			for (k = 0; k < gen->nworkers; k++) {
				const struct worker *w = &gen->workers[k];
				if (w->pid != 0) {
					snprintf(pid, sizeof(pid), "%d", (int)w->pid);
					status_format_age(elapsed_ms(&w->started),
					    age, sizeof(age));
				} else {
					snprintf(pid, sizeof(pid), "-");
					snprintf(age, sizeof(age), "-");
				}
				how[0] = '\0';
				if (w->last_error != NULL)
					snprintf(how, sizeof(how), "%s",
					    w->last_error);
				else if (w->last_status != -1)
					worker_describe_status(w->last_status, how,
					    sizeof(how));
				status_text_backoff(w, how, sizeof(how));
				evbuffer_add_printf(out, "data %-16s %5u %-9s %6d %8s "
				    "%-9s %9s %8u  %s%s%s\n", prog->name,
				    gen->number, status_gen_state(gen),
				    w->index, pid, worker_state_name(w->state), age,
				    w->restarts, how, how[0] && w->status_text ?
				    "; " : "", w->status_text ? w->status_text : "");
			}
			status_text_descendants(prog->name, gen, out);
		}
	}
	selfmode_status_text(view->programs, out);
	guard_status_self_text(view->guard, view->programs, out);
	status_text_drains(view, out);
}

/* Render the state, as a table or as JSON, into out as "data" lines. */
void
status_render(const struct status_view *view, bool json, struct evbuffer *out)
{
	if (json)
		status_json(view, out);
	else
		status_text(view, out);
}
