/*
 * selfmode.c: handoff = self as the supervisor and status see it.
 *
 * A self-mode program binds its listeners' addresses itself, with
 * SO_REUSEPORT (nginx `listen ... reuseport`); the supervisor holds none
 * of its sockets. Status shows the sockets each of its generations'
 * workers listen on, as listening.c finds them. A reload cannot move an
 * address between a self-mode program and the supervisor's own sockets:
 * the supervisor's socket (no SO_REUSEPORT) and the program's cannot be
 * bound side by side, so the new generation could never take over.
 */
#include "autoconf.h"

#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "addr.h"
#include "cause.h"
#include "config.h"
#include "generation.h"
#include "hashmap.h"
#include "listener.h"
#include "listening.h"
#include "program.h"
#include "selfmode.h"

/*
 * Tell whether any listener of the config is a self-mode program's (the
 * programs tell: there are far fewer of them than listeners).
 */
static bool
selfmode_in_config(const struct config *conf)
{
	const struct program_conf *pc;

	TAILQ_FOREACH(pc, &conf->programs, entry)
		if (pc->handoff == HANDOFF_SELF && pc->nlisteners > 0)
			return true;
	return false;
}

/*
 * Refuse a reload that moves an address between a self-mode program and
 * the supervisor's own sockets: -1 with *cause naming the listener. The
 * running config's addresses are hashed once: one lookup per listener.
 */
int
selfmode_check_reload(const struct config *now, const struct config *next,
    char **cause)
{
	unsigned char key[LISTENER_KEY_MAX];
	const struct listener_conf *lc, *was;
	struct hashmap *running;
	char where[ADDR_STRLEN];
	size_t len;
	int rc = 0;

	if (!selfmode_in_config(now) && !selfmode_in_config(next))
		return 0;
	if ((running = hashmap_new(now->nlisteners)) == NULL)
		goto nomem;
	TAILQ_FOREACH(was, &now->listeners, entry) {
		if (!was->has_listen)
			continue;
		len = listener_key(&was->addr, NULL, was->name, key);
		if (hashmap_add(running, key, len, (void *)was) == -1)
			goto nomem;
	}
	TAILQ_FOREACH(lc, &next->listeners, entry) {
		if (!lc->has_listen)
			continue;
		len = listener_key(&lc->addr, NULL, lc->name, key);
		if ((was = hashmap_get(running, key, len)) == NULL ||
		    was->self == lc->self)
			continue;
		addr_format(&lc->addr, where, sizeof(where));
		cause_set(cause, "listener %s: %s would move from %s to "
		    "%s; a program's own SO_REUSEPORT sockets and the "
		    "supervisor's cannot listen there side by side, so "
		    "this needs a stop and start", lc->name, where,
		    was->self ? "a program's own sockets (handoff = "
		    "self)" : "the supervisor's socket", lc->self ?
		    "a program's own sockets (handoff = self)" :
		    "the supervisor's socket");
		rc = -1;
		break;
	}
	hashmap_free(running);
	return rc;

nomem:
	hashmap_free(running);
	cause_set(cause, "out of memory");
	return -1;
}

/* Append one socket of a self-mode generation as a JSON object. */
static void
selfmode_json_sock(const struct generation *gen, const struct listening_sock *s,
    bool first, struct evbuffer *out)
{
	const struct listener_conf *lc = gen->pc->listeners[s->listener];
	char address[ADDR_STRLEN], bound[ADDR_STRLEN];

	addr_format(&lc->addr, address, sizeof(address));
	addr_format_sockaddr((const struct sockaddr *)&s->local, s->local_len,
	    bound, sizeof(bound));
	evbuffer_add_printf(out, "%s{\"generation\":%u,\"worker\":%d,\"pid\":%d,"
	    "\"listener\":\"%s\",\"address\":\"%s\",\"bound\":\"%s\","
	    "\"inode\":%llu,", first ? "" : ",", gen->number, s->worker,
	    (int)s->pid, lc->name, address, bound,
	    (unsigned long long)s->inode);
	if (s->type == SOCK_STREAM)
		evbuffer_add_printf(out, "\"queued\":%u,\"backlog\":%u}",
		    s->queued, s->backlog);
	else
		evbuffer_add_printf(out, "\"queued\":null,\"backlog\":null}");
}

/* Append a JSON string of plain text: '"', '\\' and controls become '?'. */
static void
selfmode_json_text(const char *text, struct evbuffer *out)
{
	const char *p;

	evbuffer_add(out, "\"", 1);
	for (p = text; *p != '\0'; p++)
		evbuffer_add(out, *p == '"' || *p == '\\' ||
		    (unsigned char)*p < 0x20 ? "?" : p, 1);
	evbuffer_add(out, "\"", 1);
}

/*
 * Append a self-mode program's sockets to its status JSON object:
 * ,"self_sockets":[{"generation":N,"worker":N,"pid":N,"listener":"web",
 * "address":"...","bound":"...","inode":N,"queued":N,"backlog":N}],
 * "self_sockets_error":null or "why". Nothing for other programs (pc is
 * the program's config in force, NULL if it was removed).
 */
void
selfmode_status_json(const struct program *prog, const struct program_conf *pc,
    struct evbuffer *out)
{
	struct generation *gen;
	struct listening_list list;
	char *cause = NULL, *error = NULL;
	bool first = true;
	size_t i;

	if (pc == NULL || pc->handoff != HANDOFF_SELF)
		return;
	evbuffer_add_printf(out, ",\"self_sockets\":[");
	TAILQ_FOREACH(gen, &prog->gens, entry) {
		if (gen->pc->handoff != HANDOFF_SELF || gen->state == GEN_GONE)
			continue;
		if (listening_scan(&gen->env, gen->workers, gen->nworkers, false,
		    &list, &cause) == -1) {
			if (error == NULL)
				error = cause != NULL ? cause : strdup("out of memory");
			else
				free(cause);
			cause = NULL;
			continue;
		}
		for (i = 0; i < list.count; i++, first = false)
			selfmode_json_sock(gen, &list.socks[i], first, out);
		listening_list_free(&list);
	}
	evbuffer_add_printf(out, "],\"self_sockets_error\":");
	if (error != NULL)
		selfmode_json_text(error, out);
	else
		evbuffer_add_printf(out, "null");
	free(error);
}

/* Append the table rows of one self-mode generation's sockets. */
static void
selfmode_text_gen(struct generation *gen, struct evbuffer *out)
{
	struct listening_list list;
	const struct listening_sock *s;
	const struct listener_conf *lc;
	char *cause = NULL, bound[ADDR_STRLEN], queue[32];
	size_t i;

	if (listening_scan(&gen->env, gen->workers, gen->nworkers, false, &list,
	    &cause) == -1) {
		evbuffer_add_printf(out, "data %-16s %5u  cannot list its "
		    "sockets: %s\n", gen->program, gen->number, cause_text(cause));
		free(cause);
		return;
	}
	for (i = 0; i < list.count; i++) {
		s = &list.socks[i];
		lc = gen->pc->listeners[s->listener];
		addr_format_sockaddr((const struct sockaddr *)&s->local,
		    s->local_len, bound, sizeof(bound));
		if (s->type == SOCK_STREAM)
			snprintf(queue, sizeof(queue), "%u/%u", s->queued,
			    s->backlog);
		else
			snprintf(queue, sizeof(queue), "-");
		evbuffer_add_printf(out, "data %-16s %5u %6d %8d %-16s %-28s "
		    "%10llu %s\n", gen->program, gen->number, s->worker,
		    (int)s->pid, lc->name, bound, (unsigned long long)s->inode,
		    queue);
	}
	if (list.count == 0)
		evbuffer_add_printf(out, "data %-16s %5u %6s %8s %-16s %-28s "
		    "%10s %s\n", gen->program, gen->number, "-", "-", "-",
		    "(none listening)", "-", "-");
	listening_list_free(&list);
}

/*
 * Append a table of the sockets self-mode programs' workers listen on
 * (nothing if no generation runs in self mode).
 */
void
selfmode_status_text(const struct program_list *programs, struct evbuffer *out)
{
	const struct program *prog;
	struct generation *gen;
	bool header = false;

	TAILQ_FOREACH(prog, programs, entry) {
		TAILQ_FOREACH(gen, &prog->gens, entry) {
			if (gen->pc->handoff != HANDOFF_SELF ||
			    gen->state == GEN_GONE)
				continue;
			if (!header)
				evbuffer_add_printf(out, "data\ndata %-16s %5s %6s "
				    "%8s %-16s %-28s %10s %s\n", "SELF-BOUND BY",
				    "GEN", "WORKER", "PID", "LISTENER", "ADDRESS",
				    "INODE", "QUEUE");
			header = true;
			selfmode_text_gen(gen, out);
		}
	}
}
