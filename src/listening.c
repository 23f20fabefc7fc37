/*
 * listening.c: which workers of a generation listen on their program's
 * addresses (see listening.h).
 *
 * One look: one sock_diag dump per kind of socket wanted (filtered by
 * port) lists the sockets on the program's addresses; those that take
 * the connections meant for an address (the same address, or a wildcard
 * that covers it; a wanted wildcard needs a wildcard) are looked for in
 * the fds of the workers' own processes first, and only if some worker
 * still lacks one, in those of the generation's other processes. A
 * holder belongs to the worker it is, whose process group it is in, or
 * from which it descends. Sockets of other generations on the same
 * addresses (SO_REUSEPORT) are held by none of this generation's
 * processes, so they never count.
 *
 * The probe of a `ready = listening` generation looks every
 * LISTENING_POLL_MS while one of its workers is starting, marks ready
 * each that listens on every address, and stops looking once none is
 * starting: an idle generation costs nothing.
 */
#include "autoconf.h"

#include <event2/event.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "cause.h"
#include "config.h"
#include "descendants.h"
#include "listening.h"
#include "log.h"
#include "loopstat.h"
#include "parse.h"
#include "pidmap.h"
#include "preload/match.h"
#include "procfs.h"
#include "sockdiag.h"
#include "worker.h"

#define LISTENING_MAX_DEPTH	64	/* parents followed up to a worker */

struct listening {
	const struct worker_env *env;
	struct worker	*workers;
	int		 nworkers;
	struct event	*timer;
	char		 missing[256];	/* what the last look did not find */
	char		*failure;	/* why looking fails, logged once */
};

/* One look in progress. */
struct listening_look {
	const struct worker_env *env;
	struct worker	*workers;
	int		 nworkers;
	bool		 starting_only;
	struct sockdiag_want *wants;
	struct sockdiag_list found;	/* sockets on the addresses */
	ino_t		*inodes;	/* of those that cover their address */
	size_t		 ninodes;
	struct pid_list	 pids;		/* whose fds were read */
	struct listening_list *out;
};

/*
 * Tell whether socket s, on wanted address w as sock_diag matched it
 * (the same address, or overlapping), takes the connections meant for
 * w: the rule the bind() shim uses too (match_covers: a specific address
 * is served by itself or a wildcard over it, a wildcard only by a
 * wildcard, for IPv4 an IPv6 one that is not v6only).
 */
static bool
listening_covers(const struct sockdiag_want *w, const struct sockdiag_sock *s)
{
	if (addr_is_unix(&w->addr))
		return true;
	return match_covers((const struct sockaddr *)&w->addr.ss, w->addr.len,
	    (const struct sockaddr *)&s->local, s->local_len, s->v6only);
}

/*
 * The index of the worker among workers whose process (or announced
 * MAINPID) is pid, or with group, whose process group is pid; -1 if none.
 */
static int
listening_find(const struct listening_look *look, pid_t pid, bool group)
{
	const struct worker *w;
	int k;

	if (look->env->pids != NULL) {
		w = pidmap_get(look->env->pids, pid);
		if (w == NULL || w->env != look->env)
			return -1;
		if (group ? w->pgid == pid && w->pid != 0 :
		    worker_is_process(w, pid))
			return w->index;
		return -1;
	}
	for (k = 0; k < look->nworkers; k++) {
		w = &look->workers[k];
		if (group ? w->pgid == pid && w->pid != 0 :
		    worker_is_process(w, pid))
			return k;
	}
	return -1;
}

/*
 * The worker a process belongs to: the worker it is, whose process group
 * it is in, or from which it descends; -1 if none.
 */
static int
listening_worker_of(const struct listening_look *look, pid_t pid)
{
	struct procfs_stat st;
	pid_t p = pid;
	int depth, k;

	for (depth = 0; depth < LISTENING_MAX_DEPTH && p > 1; depth++) {
		if ((k = listening_find(look, p, false)) != -1)
			return k;
		if (procfs_stat(p, &st) == -1)
			return -1;
		if (depth == 0 && (k = listening_find(look, st.pgid, true)) != -1)
			return k;
		p = st.ppid;
	}
	return -1;
}

/* Tell whether the look is about worker k. */
static bool
listening_wanted(const struct listening_look *look, int k)
{
	const struct worker *w = &look->workers[k];

	return w->pid != 0 && (!look->starting_only ||
	    w->state == WORKER_STARTING);
}

/* Tell whether worker k listens on the program's listener i. */
static bool
listening_has(const struct listening_list *list, int k, size_t i)
{
	size_t j;

	for (j = 0; j < list->count; j++)
		if (list->socks[j].worker == k && list->socks[j].listener == i)
			return true;
	return false;
}

/* Tell whether every worker the look is about listens on every address. */
static bool
listening_complete(const struct listening_look *look)
{
	size_t i;
	int k;

	for (k = 0; k < look->nworkers; k++)
		for (i = 0; listening_wanted(look, k) &&
		    i < look->env->pc->nlisteners; i++)
			if (!listening_has(look->out, k, i))
				return false;
	return true;
}

/*
 * Note that worker k holds socket s through process pid: once per socket
 * and worker, naming the worker's own process if it is a holder, else
 * the lowest pid. -1 if out of memory.
 */
static int
listening_note(struct listening_look *look, const struct sockdiag_sock *s,
    int k, pid_t pid)
{
	struct listening_list *out = look->out;
	struct listening_sock *ls, *grown;
	pid_t own = look->workers[k].pid;
	size_t j;

	for (j = 0; j < out->count; j++) {
		ls = &out->socks[j];
		if (ls->inode != s->inode || ls->worker != k)
			continue;
		if (ls->pid != own && (pid == own || pid < ls->pid))
			ls->pid = pid;
		return 0;
	}
	if ((grown = reallocarray(out->socks, out->count + 1,
	    sizeof(*grown))) == NULL)
		return -1;
	out->socks = grown;
	ls = &out->socks[out->count++];
	memset(ls, 0, sizeof(*ls));
	ls->listener = s->want;
	ls->worker = k;
	ls->pid = pid;
	ls->inode = s->inode;
	ls->local = s->local;
	ls->local_len = s->local_len;
	ls->type = s->type;
	ls->queued = s->rqueue;
	ls->backlog = s->wqueue;
	return 0;
}

/*
 * Read the fds of pids (from..count of look->pids) for the sockets
 * found, and note each held by a process of a worker the look is about.
 */
static int
listening_read_fds(struct listening_look *look, size_t from, char **cause)
{
	struct sockdiag_holders held;
	const struct sockdiag_sock *s;
	size_t i, j;
	int k, rc = 0;

	if (from == look->pids.count)
		return 0;
	if (sockdiag_holders(look->inodes, look->ninodes, look->pids.pids + from,
	    look->pids.count - from, &held, cause) == -1)
		return -1;
	for (i = 0; rc == 0 && i < held.count; i++) {
		k = listening_worker_of(look, held.items[i].pid);
		if (k == -1 || !listening_wanted(look, k))
			continue;
		for (j = 0; rc == 0 && j < look->found.count; j++) {
			s = &look->found.socks[j];
			if (s->inode == held.items[i].inode &&
			    listening_covers(&look->wants[s->want], s))
				rc = listening_note(look, s, k, held.items[i].pid);
		}
	}
	sockdiag_holders_free(&held);
	if (rc == -1)
		cause_set(cause, "out of memory");
	return rc;
}

/* Add the workers' own processes to the pids to read; -1 if out of memory. */
static int
listening_worker_pids(struct listening_look *look)
{
	const struct worker *w;
	int k;

	for (k = 0; k < look->nworkers; k++) {
		w = &look->workers[k];
		if (!listening_wanted(look, k))
			continue;
		if (procfs_pids_add(&look->pids, w->pid) == -1 ||
		    (w->mainpid != 0 && w->mainpid != w->pid &&
		    procfs_pids_add(&look->pids, w->mainpid) == -1))
			return -1;
	}
	return 0;
}

/*
 * Add the generation's other processes (not workers) to the pids to
 * read; -1 if out of memory.
 */
static int
listening_other_pids(struct listening_look *look)
{
	pid_t *all = NULL, *grown;
	size_t space = 64, n, i;
	int rc = 0;

	for (;;) {
		if ((grown = reallocarray(all, space, sizeof(*all))) == NULL) {
			free(all);
			return -1;
		}
		all = grown;
		if ((n = desc_group_pids(look->env->desc, DESC_RECENT, all,
		    space)) <= space)
			break;
		space = n + 16;
	}
	for (i = 0; rc == 0 && i < n; i++)
		if (listening_find(look, all[i], false) == -1)
			rc = procfs_pids_add(&look->pids, all[i]);
	free(all);
	return rc;
}

/* The sockets on the program's addresses that cover them; -1 with *cause. */
static int
listening_sockets(struct listening_look *look, char **cause)
{
	const struct program_conf *pc = look->env->pc;
	const struct sockdiag_sock *s;
	size_t i;

	if ((look->wants = calloc(pc->nlisteners, sizeof(*look->wants))) ==
	    NULL) {
		cause_set(cause, "out of memory");
		return -1;
	}
	for (i = 0; i < pc->nlisteners; i++) {
		look->wants[i].addr = pc->listeners[i]->addr;
		look->wants[i].v6only = pc->listeners[i]->opts.v6only == 1;
	}
	if (sockdiag_listeners(look->wants, pc->nlisteners, &look->found,
	    cause) == -1)
		return -1;
	if ((look->inodes = calloc(look->found.count + 1,
	    sizeof(*look->inodes))) == NULL) {
		cause_set(cause, "out of memory");
		return -1;
	}
	for (i = 0; i < look->found.count; i++) {
		s = &look->found.socks[i];
		if (listening_covers(&look->wants[s->want], s))
			look->inodes[look->ninodes++] = s->inode;
	}
	return 0;
}

/*
 * Look which of the workers (with starting_only, those starting) listen
 * on their program's addresses: fills out (free it with
 * listening_list_free) with one entry per socket and worker holding it.
 * 0, or -1 with *cause (out is empty then).
 */
int
listening_scan(const struct worker_env *env, struct worker *workers,
    int nworkers, bool starting_only, struct listening_list *out,
    char **cause)
{
	struct listening_look look;
	size_t own;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	memset(&look, 0, sizeof(look));
	look.env = env;
	look.workers = workers;
	look.nworkers = nworkers;
	look.starting_only = starting_only;
	look.out = out;
	if (env->pc->nlisteners == 0)
		return 0;
	if (listening_sockets(&look, cause) == -1)
		goto done;
	if (look.ninodes == 0) {
		rc = 0;
		goto done;
	}
	if (listening_worker_pids(&look) == -1) {
		cause_set(cause, "out of memory");
		goto done;
	}
	if (listening_read_fds(&look, 0, cause) == -1)
		goto done;
	/* Only a worker still short of a socket needs its descendants read. */
	own = look.pids.count;
	if (!listening_complete(&look)) {
		if (listening_other_pids(&look) == -1) {
			cause_set(cause, "out of memory");
			goto done;
		}
		if (listening_read_fds(&look, own, cause) == -1)
			goto done;
	}
	rc = 0;
done:
	if (rc == -1)
		listening_list_free(out);
	free(look.wants);
	free(look.inodes);
	sockdiag_list_free(&look.found);
	procfs_pids_free(&look.pids);
	return rc;
}

/* Free what a scan found and empty the list. */
void
listening_list_free(struct listening_list *list)
{
	free(list->socks);
	list->socks = NULL;
	list->count = 0;
}

/* How many workers of the probe's generation are starting. */
static int
listening_starting(const struct listening *lp)
{
	int k, n = 0;

	for (k = 0; k < lp->nworkers; k++)
		if (lp->workers[k].state == WORKER_STARTING &&
		    lp->workers[k].pid != 0)
			n++;
	return n;
}

/* Say once why looking fails (NULL: it works again). */
static void
listening_failed(struct listening *lp, const char *why)
{
	if (why == NULL) {
		free(lp->failure);
		lp->failure = NULL;
		return;
	}
	snprintf(lp->missing, sizeof(lp->missing), "cannot tell whether its "
	    "workers listen: %s", why);
	if (lp->failure != NULL && strcmp(lp->failure, why) == 0)
		return;
	log_warnx("%s gen %u: cannot tell whether its workers listen (ready = "
	    "listening): %s; looking again every %dms", lp->env->program,
	    lp->env->number, why, LISTENING_POLL_MS);
	free(lp->failure);
	lp->failure = strdup(why);
}

/*
 * Mark ready every starting worker that listens on each of its addresses;
 * note what the first that does not lacks, for a timeout's message.
 */
static void
listening_mark(struct listening *lp, const struct listening_list *list)
{
	const struct program_conf *pc = lp->env->pc;
	const struct listener_conf *lc;
	struct worker *w;
	size_t i;
	int k, short_of = 0;

	lp->missing[0] = '\0';
	for (k = 0; k < lp->nworkers; k++) {
		w = &lp->workers[k];
		if (w->state != WORKER_STARTING || w->pid == 0)
			continue;
		/* The bind() shim (preload = yes) may have said so already. */
		for (i = 0; i < pc->nlisteners && (listening_has(list, k, i) ||
		    (w->listened & (1ULL << i))); i++)
			;
		if (i == pc->nlisteners) {
			log_debug("%s gen %u worker %d pid %d: listens on its "
			    "address%s", lp->env->program, lp->env->number,
			    w->index, (int)w->pid, i == 1 ? "" : "es");
			worker_ready(w);
			continue;
		}
		if (short_of++ > 0)
			continue;
		lc = pc->listeners[i];
		snprintf(lp->missing, sizeof(lp->missing), "worker %d pid %d "
		    "does not listen on %s (listener %s)", w->index,
		    (int)w->pid, lc->listen, lc->name);
	}
	if (short_of > 1 && strlen(lp->missing) + 32 < sizeof(lp->missing))
		snprintf(lp->missing + strlen(lp->missing), sizeof(lp->missing) -
		    strlen(lp->missing), ", nor %d more worker%s", short_of - 1,
		    short_of == 2 ? "" : "s");
}

/* Timer: look whether the starting workers listen; again while some start. */
static void
listening_tick(evutil_socket_t fd, short what, void *arg)
{
	struct listening *lp = arg;
	struct listening_list list;
	char *cause = NULL;

	(void)fd;
	(void)what;
	loopstat_mark("listening");
	if (listening_starting(lp) == 0)
		return;
	if (listening_scan(lp->env, lp->workers, lp->nworkers, true, &list,
	    &cause) == -1) {
		listening_failed(lp, cause_text(cause));
		free(cause);
	} else {
		listening_failed(lp, NULL);
		listening_mark(lp, &list);
		listening_list_free(&list);
	}
	listening_watch(lp);
}

/*
 * The readiness probe of a generation's workers (ready = listening); it
 * looks only once listening_watch is called. NULL if out of memory.
 */
struct listening *
listening_new(const struct worker_env *env, struct worker *workers,
    int nworkers)
{
	struct listening *lp;

	if ((lp = calloc(1, sizeof(*lp))) == NULL)
		return NULL;
	lp->env = env;
	lp->workers = workers;
	lp->nworkers = nworkers;
	if ((lp->timer = evtimer_new(env->base, listening_tick, lp)) == NULL) {
		free(lp);
		return NULL;
	}
	return lp;
}

/*
 * A worker may be starting: look in LISTENING_POLL_MS, and so on until
 * none is. A probe of NULL (not ready = listening) does nothing.
 */
void
listening_watch(struct listening *lp)
{
	struct timeval tv = timeval_ms(LISTENING_POLL_MS);

	if (lp == NULL || evtimer_pending(lp->timer, NULL) ||
	    listening_starting(lp) == 0)
		return;
	if (evtimer_add(lp->timer, &tv) == -1)
		log_errorx("%s gen %u: cannot arm the timer that looks whether "
		    "its workers listen (out of memory)", lp->env->program,
		    lp->env->number);
}

/* Say what the probe's last look did not find ("" if nothing, or no probe). */
void
listening_describe(const struct listening *lp, char *buf, size_t len)
{
	if (len > 0)
		snprintf(buf, len, "%s", lp != NULL ? lp->missing : "");
}

/* Stop and free a probe. */
void
listening_free(struct listening *lp)
{
	if (lp == NULL)
		return;
	event_free(lp->timer);
	free(lp->failure);
	free(lp);
}
