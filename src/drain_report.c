/*
 * drain_report.c: how each worker of a draining generation ended.
 *
 * A generation that drains keeps a report: the pid of each worker told to
 * stop and, once its process is reaped, how it ended. A worker that stops
 * cleanly exits 0. One that died of its stop signal had no graceful
 * handler for it and dropped what it was serving; one killed at
 * drain_timeout did not stop in time (it may ignore the signal, or stop
 * gracefully on another one). The lines made here say so, and what to
 * change. A program keeps the reports of its last DRAIN_HISTORY drained
 * generations, for status: memory does not grow with reloads.
 */
#include "autoconf.h"

#include <event2/buffer.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "config.h"
#include "drain_report.h"
#include "parse.h"
#include "state.h"

/* What a report keeps per worker stays small (drain_report.h). */
_Static_assert(sizeof(struct drain_worker) <= 8, "8 bytes a worker");

/* Workers named in a summary line per kind of end; the rest are counted. */
#define DRAIN_REPORT_NAMED	3

/* A new report of generation number of program: every worker running. */
struct drain_report *
drain_report_new(const char *program, unsigned int number, int stop_signal,
    uint64_t timeout_ms, int nworkers)
{
	struct drain_report *r;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	r->program = strdup(program);
	r->workers = calloc(nworkers > 0 ? (size_t)nworkers : 1,
	    sizeof(*r->workers));
	if (r->program == NULL || r->workers == NULL) {
		drain_report_free(r);
		return NULL;
	}
	r->number = number;
	r->stop_signal = stop_signal;
	r->timeout_ms = timeout_ms;
	r->nworkers = nworkers;
	return r;
}

/* Free a report (NULL is fine). */
void
drain_report_free(struct drain_report *r)
{
	if (r == NULL)
		return;
	free(r->program);
	free(r->workers);
	free(r);
}

/* Worker index is told to stop: its process is pid (0: it has none). */
void
drain_report_begin(struct drain_report *r, int index, pid_t pid)
{
	if (r == NULL || index < 0 || index >= r->nworkers)
		return;
	r->workers[index].pid = pid;
	r->workers[index].end = pid != 0 ? DRAIN_RUNNING : DRAIN_NOT_RUNNING;
	r->workers[index].killing = false;
}

/* Worker index is sent SIGKILL at drain_timeout. */
void
drain_report_killing(struct drain_report *r, int index)
{
	if (r == NULL || index < 0 || index >= r->nworkers)
		return;
	r->workers[index].killing = true;
}

/*
 * Processes the workers left behind (a worker that exited before the
 * processes it started, or ones outside its process group) are sent
 * SIGKILL at drain_timeout.
 */
void
drain_report_left_killed(struct drain_report *r)
{
	if (r != NULL)
		r->left_killed = true;
}

/* Worker index's process pid was reaped with wait status. */
void
drain_report_exit(struct drain_report *r, int index, pid_t pid, int status)
{
	struct drain_worker *dw;

	if (r == NULL || index < 0 || index >= r->nworkers)
		return;
	dw = &r->workers[index];
	dw->pid = pid;	/* a MAINPID it announced may have carried on */
	if (WIFEXITED(status)) {
		dw->end = DRAIN_EXITED;
		dw->value = (uint8_t)WEXITSTATUS(status);
	} else if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL &&
	    dw->killing) {
		dw->end = DRAIN_KILLED;
		dw->value = SIGKILL;
	} else if (WIFSIGNALED(status) && WTERMSIG(status) == r->stop_signal) {
		dw->end = DRAIN_STOP_SIGNAL;
		dw->value = (uint8_t)r->stop_signal;
	} else {
		dw->end = DRAIN_SIGNAL;
		dw->value = WIFSIGNALED(status) ? (uint8_t)WTERMSIG(status) : 0;
	}
}

/* A signal for people: "SIGTERM", or "signal 34" for one without a name. */
static const char *
drain_report_signal(int sig, char *buf, size_t len)
{
	if (strcmp(signal_name(sig), "?") == 0)
		snprintf(buf, len, "signal %d", sig);
	else
		snprintf(buf, len, "SIG%s", signal_name(sig));
	return buf;
}

/* Tell whether an end is a clean stop. */
static bool
drain_report_end_clean(const struct drain_report *r,
    const struct drain_worker *dw)
{
	switch ((enum drain_end)dw->end) {
	case DRAIN_RUNNING:
	case DRAIN_NOT_RUNNING:
		return true;
	case DRAIN_EXITED:
		return dw->value == 0;
	case DRAIN_STOP_SIGNAL:
		/* Asked for: the server is killed by design. */
		return r->stop_signal == SIGKILL;
	case DRAIN_SIGNAL:
	case DRAIN_KILLED:
		break;
	}
	return false;
}

/* How one worker's end reads: "exited 0", "SIGKILLed at drain_timeout 1s". */
static void
drain_report_end_text(const struct drain_report *r,
    const struct drain_worker *dw, char *buf, size_t len)
{
	char limit[32], sig[32];

	switch ((enum drain_end)dw->end) {
	case DRAIN_RUNNING:
		snprintf(buf, len, "still running");
		break;
	case DRAIN_NOT_RUNNING:
		snprintf(buf, len, "had no process to stop");
		break;
	case DRAIN_EXITED:
		if (dw->value == 0)
			snprintf(buf, len, "exited 0");
		else
			snprintf(buf, len, "exited with status %d", dw->value);
		break;
	case DRAIN_STOP_SIGNAL:
		snprintf(buf, len, "died of its stop signal %s",
		    drain_report_signal(dw->value, sig, sizeof(sig)));
		break;
	case DRAIN_SIGNAL:
		snprintf(buf, len, "died of %s",
		    drain_report_signal(dw->value, sig, sizeof(sig)));
		break;
	case DRAIN_KILLED:
		format_duration(r->timeout_ms, limit, sizeof(limit));
		snprintf(buf, len, "SIGKILLed at drain_timeout %s", limit);
		break;
	}
}

/* Describe how worker index ended, for logs and status. */
void
drain_report_describe(const struct drain_report *r, int index, char *buf,
    size_t len)
{
	buf[0] = '\0';
	if (r != NULL && index >= 0 && index < r->nworkers)
		drain_report_end_text(r, &r->workers[index], buf, len);
}

/* Tell whether every worker that ended stopped cleanly. */
bool
drain_report_clean(const struct drain_report *r)
{
	int i;

	if (r->left_killed)
		return false;
	for (i = 0; i < r->nworkers; i++)
		if (!drain_report_end_clean(r, &r->workers[i]))
			return false;
	return true;
}

/* Tell whether two workers ended the same way. */
static bool
drain_report_same(const struct drain_worker *a, const struct drain_worker *b)
{
	return a->end == b->end && a->value == b->value;
}

/* Tell whether worker i is the first of its kind of end. */
static bool
drain_report_first_of_kind(const struct drain_report *r, int i)
{
	int j;

	for (j = 0; j < i; j++)
		if (drain_report_same(&r->workers[j], &r->workers[i]))
			return false;
	return true;
}

/*
 * Append to buf "N worker(s) <end> (worker I pid P, ...)" for the kind of
 * end of worker first; without named, "N of M workers <end>".
 */
static void
drain_report_group(const struct drain_report *r, int first, bool named_pids,
    char *buf, size_t len)
{
	char text[128];
	size_t used = strlen(buf);
	int j, n = 0, named = 0;

	for (j = first; j < r->nworkers; j++)
		if (drain_report_same(&r->workers[j], &r->workers[first]))
			n++;
	drain_report_end_text(r, &r->workers[first], text, sizeof(text));
	if (!named_pids) {
		if (used < len)
			snprintf(buf + used, len - used, "%d of %d worker%s %s", n,
			    r->nworkers, r->nworkers == 1 ? "" : "s", text);
		return;
	}
	if (used < len)
		used += (size_t)snprintf(buf + used, len - used, "%d worker%s %s",
		    n, n == 1 ? "" : "s", text);
	for (j = first; j < r->nworkers && named < DRAIN_REPORT_NAMED; j++) {
		if (!drain_report_same(&r->workers[j], &r->workers[first]) ||
		    r->workers[j].pid == 0)
			continue;
		if (used < len)
			used += (size_t)snprintf(buf + used, len - used,
			    "%sworker %d pid %d", named ? ", " : " (", j,
			    (int)r->workers[j].pid);
		named++;
	}
	if (named > 0 && used < len)
		snprintf(buf + used, len - used, "%s)", n > named ? ", ..." : "");
}

/* What to change for workers that ended as worker i did; "" if clean. */
static void
drain_report_fix(const struct drain_report *r, int i, char *buf, size_t len)
{
	const struct drain_worker *dw = &r->workers[i];
	const char *sig = signal_name(r->stop_signal);

	buf[0] = '\0';
	if (drain_report_end_clean(r, dw))
		return;
	switch ((enum drain_end)dw->end) {
	case DRAIN_STOP_SIGNAL:
		snprintf(buf, len, "the server has no graceful handler for "
		    "SIG%s and dropped what it was serving: set stop_signal = "
		    "the signal it stops gracefully on (QUIT for nginx, INT "
		    "for lighttpd), or handle SIG%s in the server", sig, sig);
		break;
	case DRAIN_KILLED:
		snprintf(buf, len, "the server did not stop within "
		    "drain_timeout after "
		    "SIG%s: if the server stops gracefully on another signal, "
		    "set stop_signal = that one (QUIT for nginx, INT for "
		    "lighttpd); if it ignores SIG%s, handle it; if it needs "
		    "longer, raise drain_timeout", sig, sig);
		break;
	case DRAIN_EXITED:
		if (dw->value == 128 + r->stop_signal)
			snprintf(buf, len, "status %d is 128+SIG%s, what a shell "
			    "or runtime exits with when SIG%s ends it: the "
			    "server likely has no graceful handler for it; set "
			    "stop_signal = the signal it stops gracefully on, or "
			    "run the server with exec", dw->value, sig, sig);
		else
			snprintf(buf, len, "the server failed as it stopped on "
			    "SIG%s: "
			    "see its last output in the log", sig);
		break;
	default:
		snprintf(buf, len, "the server crashed while stopping on "
		    "SIG%s: see its last output in the log", sig);
		break;
	}
}

/*
 * The lines that say how the generation's workers ended: a summary, then a
 * warning with the likely fix per kind of unclean end.
 */
void
drain_report_lines(const struct drain_report *r, drain_report_line_fn fn,
    void *arg)
{
	char line[768], fix[384], limit[32];
	size_t used;
	int i, groups = 0;

	used = (size_t)snprintf(line, sizeof(line), "%s gen %u drained: ",
	    r->program, r->number);
	for (i = 0; i < r->nworkers; i++) {
		if (!drain_report_first_of_kind(r, i))
			continue;
		if (groups++ > 0 && used < sizeof(line))
			strncat(line, "; ", sizeof(line) - used - 1);
		drain_report_group(r, i, true, line, sizeof(line));
		used = strlen(line);
	}
	format_duration(r->timeout_ms, limit, sizeof(limit));
	if (r->left_killed && used < sizeof(line))
		snprintf(line + used, sizeof(line) - used, "; processes left "
		    "behind SIGKILLed at drain_timeout %s", limit);
	fn(arg, false, line);
	if (r->left_killed) {
		snprintf(line, sizeof(line), "%s gen %u: processes its workers "
		    "left behind did not stop within drain_timeout %s after "
		    "SIG%s and were SIGKILLed: a worker exited before the "
		    "processes it started; make the server wait for them, "
		    "have them stop on SIG%s, or raise drain_timeout",
		    r->program, r->number, limit, signal_name(r->stop_signal),
		    signal_name(r->stop_signal));
		fn(arg, true, line);
	}
	for (i = 0; i < r->nworkers; i++) {
		if (!drain_report_first_of_kind(r, i) ||
		    drain_report_end_clean(r, &r->workers[i]))
			continue;
		snprintf(line, sizeof(line), "%s gen %u: ", r->program,
		    r->number);
		drain_report_group(r, i, false, line, sizeof(line));
		drain_report_fix(r, i, fix, sizeof(fix));
		used = strlen(line);
		snprintf(line + used, sizeof(line) - used, ": %s", fix);
		fn(arg, true, line);
	}
}

/* JSON name of an end. */
static const char *
drain_report_end_name(enum drain_end end)
{
	static const char *const names[] = {
		[DRAIN_RUNNING] = "running",
		[DRAIN_NOT_RUNNING] = "not_running",
		[DRAIN_EXITED] = "exited",
		[DRAIN_STOP_SIGNAL] = "stop_signal",
		[DRAIN_SIGNAL] = "signal",
		[DRAIN_KILLED] = "drain_timeout",
	};
	return names[end];
}

/*
 * The report as a JSON object: {"generation":N,...,"left_behind_killed":
 * false,"workers":[{"index":
 * I,"pid":P,"end":"exited","status":0,"signal":null,"clean":true,
 * "text":"exited 0"}]}.
 */
void
drain_report_json(const struct drain_report *r, struct evbuffer *out)
{
	const struct drain_worker *dw;
	char text[128];
	int i;

	evbuffer_add_printf(out, "{\"generation\":%u,\"reload\":", r->number);
	if (r->reload != 0)
		evbuffer_add_printf(out, "%u", r->reload);
	else
		evbuffer_add_printf(out, "null");
	evbuffer_add_printf(out, ",\"stop_signal\":\"%s\",\"drain_timeout_ms\":"
	    "%llu,\"clean\":%s,\"left_behind_killed\":%s,\"workers\":[",
	    signal_name(r->stop_signal), (unsigned long long)r->timeout_ms,
	    drain_report_clean(r) ? "true" : "false",
	    r->left_killed ? "true" : "false");
	for (i = 0; i < r->nworkers; i++) {
		dw = &r->workers[i];
		evbuffer_add_printf(out, "%s{\"index\":%d,\"pid\":", i ? "," : "",
		    i);
		if (dw->pid != 0)
			evbuffer_add_printf(out, "%d", (int)dw->pid);
		else
			evbuffer_add_printf(out, "null");
		evbuffer_add_printf(out, ",\"end\":\"%s\",\"status\":",
		    drain_report_end_name(dw->end));
		if (dw->end == DRAIN_EXITED)
			evbuffer_add_printf(out, "%d", dw->value);
		else
			evbuffer_add_printf(out, "null");
		evbuffer_add_printf(out, ",\"signal\":");
		if (dw->end == DRAIN_STOP_SIGNAL || dw->end == DRAIN_SIGNAL ||
		    dw->end == DRAIN_KILLED)
			evbuffer_add_printf(out, "\"%s\"", signal_name(dw->value));
		else
			evbuffer_add_printf(out, "null");
		drain_report_end_text(r, dw, text, sizeof(text));
		evbuffer_add_printf(out, ",\"clean\":%s,\"text\":\"%s\"}",
		    drain_report_end_clean(r, dw) ? "true" : "false", text);
	}
	evbuffer_add(out, "]}", 2);
}

/* Keep r (taking it) as the newest report; the oldest beyond goes. */
void
drain_history_add(struct drain_history *h, struct drain_report *r)
{
	if (r == NULL)
		return;
	if (h->count == DRAIN_HISTORY) {
		drain_report_free(h->items[0]);
		memmove(&h->items[0], &h->items[1],
		    (DRAIN_HISTORY - 1) * sizeof(h->items[0]));
		h->count--;
	}
	h->items[h->count++] = r;
}

/* Free every report kept. */
void
drain_history_clear(struct drain_history *h)
{
	while (h->count > 0)
		drain_report_free(h->items[--h->count]);
}

/*
 * Write the reports kept as records (an upgrade): a "drained" record per
 * report, then a "drained_worker" record per worker of it.
 */
void
drain_history_save(const struct drain_history *h, struct state_writer *w)
{
	const struct drain_report *r;
	size_t i;
	int k;

	for (i = 0; i < h->count; i++) {
		r = h->items[i];
		state_rec(w, "drained");
		state_str(w, "program", r->program);
		state_int(w, "number", r->number);
		state_int(w, "reload", r->reload);
		state_int(w, "stop_signal", r->stop_signal);
		state_int(w, "timeout_ms", (long long)r->timeout_ms);
		state_int(w, "nworkers", r->nworkers);
		state_int(w, "left_killed", r->left_killed);
		for (k = 0; k < r->nworkers; k++) {
			state_rec(w, "drained_worker");
			state_int(w, "pid", r->workers[k].pid);
			state_int(w, "end", r->workers[k].end);
			state_int(w, "value", r->workers[k].value);
		}
	}
}

/*
 * Take back the report whose "drained" record is st's *i, with the
 * "drained_worker" records after it (*i moves past them), into h. Out of
 * memory, the report is left out.
 */
void
drain_history_restore(struct drain_history *h, const struct state *st,
    size_t *i)
{
	const struct state_rec *r = &st->recs[*i];
	struct drain_report *rep;
	long long n = state_get_int(r, "nworkers", 0), end;
	int k;

	if (n < 0 || n > MAX_WORKERS)
		n = 0;
	rep = drain_report_new(state_get(r, "program") != NULL ?
	    state_get(r, "program") : "", (unsigned int)state_get_int(r,
	    "number", 0), (int)state_get_int(r, "stop_signal", SIGTERM),
	    (uint64_t)state_get_int(r, "timeout_ms", 0), (int)n);
	if (rep != NULL) {
		rep->reload = (unsigned int)state_get_int(r, "reload", 0);
		rep->left_killed = state_get_int(r, "left_killed", 0) != 0;
	}
	for (k = 0; *i + 1 < st->nrecs &&
	    strcmp(st->recs[*i + 1].kind, "drained_worker") == 0; k++) {
		r = &st->recs[++*i];
		if (rep == NULL || k >= rep->nworkers)
			continue;
		end = state_get_int(r, "end", DRAIN_NOT_RUNNING);
		rep->workers[k].pid = (pid_t)state_get_int(r, "pid", 0);
		rep->workers[k].end = end >= DRAIN_RUNNING && end <= DRAIN_KILLED ?
		    (enum drain_end)end : DRAIN_NOT_RUNNING;
		rep->workers[k].value = (uint8_t)state_get_int(r, "value", 0);
	}
	drain_history_add(h, rep);
}
