/*
 * guard.c: the port-hijack guard.
 *
 * Port reuse lets a process of the same uid join a port whose sockets have
 * SO_REUSEPORT on, and a unix socket's file can be replaced by anyone who
 * may write its directory: connections then go to someone else. The guard
 * looks at start, after every reload commits, and every interval (10s by
 * default, HANDOFF_GUARD_INTERVAL): one sock_diag dump per kind of socket
 * lists who listens on the listeners' addresses (sockdiag.c). A socket
 * whose inode is one the supervisor holds is ours; only for the others
 * does it read fds in /proc: those of its own processes first (the
 * supervisor, its workers, the descendants its generations track), then
 * those of the processes that held a foreign socket at the last look, and
 * all of /proc only for a socket still unexplained. There a holder is
 * ours if it descends from the supervisor; any other is foreign: logged
 * once when it appears (and when it goes), and shown in status. A socket
 * nobody visible holds is reported only when it is still there at the
 * next look, so a socket closing during a look is never taken for a
 * stranger's.
 *
 * It also warns, once, when a listener's socket has SO_REUSEPORT on that
 * its config did not ask for: a worker turned it on, on the socket every
 * worker shares, and any process of the supervisor's uid may now join
 * the port.
 *
 * A look costs, per listener, the kernel's report of its socket in the
 * dump and one getsockopt() for SO_REUSEPORT; the arrays it fills are
 * kept from look to look, and the sockets the supervisor holds are
 * counted, not kept. The look after a reload's commit waits until the
 * reload is done (the generations it replaced are gone, and whoever asked
 * for it told), GUARD_AFTER_RELOAD_MS at most: a look costs some
 * milliseconds with many listeners (a getsockopt each), which would
 * otherwise delay the handling of the old workers' exits, and so the
 * answer to `handoff reload`.
 *
 * The addresses of self-mode programs (handoff = self) are watched too,
 * those of every generation still running: the supervisor holds no
 * socket there, so every socket on them is sorted out by its holders,
 * and those of the workers (any generation's, the old one's during a
 * takeover too) and their descendants are ours. Status shows what is
 * found there with the program, not with the supervisor's listeners.
 */
#include "autoconf.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "cause.h"
#include "config.h"
#include "generation.h"
#include "guard.h"
#include "listener.h"
#include "log.h"
#include "loopstat.h"
#include "parse.h"
#include "pidmap.h"
#include "procfs.h"
#include "program.h"
#include "sockdiag.h"

#define GUARD_MAX_DEPTH		64	/* parents followed up to the supervisor */

/* A process other than ours listening on a listener's address. */
struct guard_found {
	char		 listener[64];	/* its name (cut to fit) */
	char		 address[ADDR_STRLEN];	/* its bound address */
	pid_t		 pid;		/* 0: no process we can see holds it */
	char		 comm[16];
	uid_t		 uid;		/* the socket's owner */
	ino_t		 inode;
	bool		 self;		/* on a self-mode program's address */
};

/* What a look watches at one address (its sockdiag_want beside it). */
struct guard_target {
	const char	*name;		/* the listener's, valid for the look */
	const char	*bound;		/* its address as bound, valid for the
					   look; NULL: as configured (self) */
	bool		 self;		/* a self-mode program's: it binds them */
};

/*
 * A growing set of inodes, in the order they were added, with a hash
 * index (open addressing, 0 a free slot) to tell members in O(1).
 */
struct guard_inodes {
	ino_t		*items;
	size_t		 count;
	size_t		 space;
	ino_t		*slots;		/* nslots, a power of two, or NULL */
	size_t		 nslots;
	bool		 has_zero;	/* inode 0, which no slot can hold */
};

struct guard {
	struct event_base *base;
	const struct listener_set *set;	/* the supervisor's, kept up to date */
	struct program_list *programs;
	struct pidmap	*pids;
	struct event	*timer;
	uint64_t	 interval_ms;	/* 0: no timer */
	struct event	*soon;		/* a look asked for, not made yet */
	bool		 soon_pending;	/* soon is armed */
	struct timespec	 soon_due;	/* when (CLOCK_MONOTONIC) */
	/* Kept from look to look, so that a look allocates nothing per listener. */
	struct sockdiag_want *wants;
	struct guard_target *of;
	size_t		 nspace;	/* entries of both */
	struct guard_inodes ours;	/* the last look's, to empty and fill */
	struct guard_found found[GUARD_MAX_FOUND];	/* the last look's */
	size_t		 nfound;
	struct guard_inodes unheld;	/* held by nobody visible, last look */
	struct guard_inodes warned;	/* ours with SO_REUSEPORT, warned about */
	char		*failure;	/* why the last look failed, or NULL */
	bool		 stopped;
};

/* What one look is working on. */
struct guard_look {
	struct sockdiag_want *wants;	/* one per listener looked at (g's) */
	struct guard_target *of;	/* the listener of each want (g's) */
	size_t		 nwants;
	struct guard_inodes ours;	/* the inodes of our sockets (g's) */
	struct guard_inodes unknown;	/* sockets on our addresses, not ours */
	struct guard_inodes settled;	/* unknown, but sorted out already */
	struct pid_list	 ourpids;	/* the supervisor's own processes */
	struct guard_inodes unheld;
	struct guard_inodes warned;
	struct sockdiag_list list;
	bool		 walked;	/* all of /proc was read */
	struct guard_found found[GUARD_MAX_FOUND];
	size_t		 nfound;
	size_t		 more;		/* foreign holders past GUARD_MAX_FOUND */
};

/* The first slot to look at for inode in a set's index. */
static size_t
guard_inodes_slot(const struct guard_inodes *set, ino_t inode)
{
	uint64_t h = (uint64_t)inode * 0x9e3779b97f4a7c15ULL;

	return (size_t)(h >> 32) & (set->nslots - 1);
}

/* Tell whether a set of inodes holds inode. */
static bool
guard_inodes_has(const struct guard_inodes *set, ino_t inode)
{
	size_t i;

	if (inode == 0)
		return set->has_zero;
	if (set->nslots == 0)
		return false;
	for (i = guard_inodes_slot(set, inode); set->slots[i] != 0;
	    i = (i + 1) & (set->nslots - 1))
		if (set->slots[i] == inode)
			return true;
	return false;
}

/* Put inode (not 0, not in it yet) in a set's index, which has room. */
static void
guard_inodes_index(struct guard_inodes *set, ino_t inode)
{
	size_t i;

	for (i = guard_inodes_slot(set, inode); set->slots[i] != 0;
	    i = (i + 1) & (set->nslots - 1))
		continue;
	set->slots[i] = inode;
}

/* Make a set's index at least twice its size; -1 if out of memory. */
static int
guard_inodes_grow_index(struct guard_inodes *set)
{
	ino_t *slots;
	size_t nslots, i;

	if (set->nslots >= 2 * (set->count + 1))
		return 0;
	nslots = set->nslots ? set->nslots * 2 : 16;
	if ((slots = calloc(nslots, sizeof(*slots))) == NULL)
		return -1;
	free(set->slots);
	set->slots = slots;
	set->nslots = nslots;
	for (i = 0; i < set->count; i++)
		if (set->items[i] != 0)
			guard_inodes_index(set, set->items[i]);
	return 0;
}

/* Add an inode to a set (once); -1 if out of memory. */
static int
guard_inodes_add(struct guard_inodes *set, ino_t inode)
{
	ino_t *grown;
	size_t space;

	if (guard_inodes_has(set, inode))
		return 0;
	if (set->count == set->space) {
		space = set->space ? set->space * 2 : 8;
		if ((grown = reallocarray(set->items, space,
		    sizeof(*grown))) == NULL)
			return -1;
		set->items = grown;
		set->space = space;
	}
	if (guard_inodes_grow_index(set) == -1)
		return -1;
	set->items[set->count++] = inode;
	if (inode == 0)
		set->has_zero = true;
	else
		guard_inodes_index(set, inode);
	return 0;
}

/* Empty a set of inodes, keeping its memory. */
static void
guard_inodes_clear(struct guard_inodes *set)
{
	if (set->nslots > 0)
		memset(set->slots, 0, set->nslots * sizeof(*set->slots));
	set->count = 0;
	set->has_zero = false;
}

/* Tell whether a socket is one of ours (arg: a set of inodes). */
static bool
guard_inodes_skip(ino_t inode, const void *arg)
{
	return guard_inodes_has(arg, inode);
}

/* Free a set of inodes and empty it. */
static void
guard_inodes_free(struct guard_inodes *set)
{
	free(set->items);
	free(set->slots);
	memset(set, 0, sizeof(*set));
}

/* The supervisor's fd on a listener's socket. */
static int
guard_fd(const struct listener *l)
{
	return listener_fd(l);
}

/* Tell whether a TCP or UDP listener's socket has SO_REUSEPORT on. */
static bool
guard_reuseport_on(const struct listener *l)
{
	socklen_t len;
	int on = 0;

	if (l == NULL || addr_is_unix(&l->addr) || guard_fd(l) == -1)
		return false;
	len = sizeof(on);
	return getsockopt(guard_fd(l), SOL_SOCKET, SO_REUSEPORT, &on,
	    &len) == 0 && on;
}

/* Name in buf the programs whose generations use listener l. */
static void
guard_users(const struct guard *g, const struct listener *l, char *buf,
    size_t len)
{
	const struct program *prog;
	const struct generation *gen;
	size_t i, used = 0;
	bool uses;

	buf[0] = '\0';
	TAILQ_FOREACH(prog, g->programs, entry) {
		uses = false;
		TAILQ_FOREACH(gen, &prog->gens, entry)
			for (i = 0; i < gen->nlisteners; i++)
				uses = uses || gen->listeners[i] == l;
		if (uses && used < len)
			used += (size_t)snprintf(buf + used, len - used, "%s%s",
			    used ? ", " : "", prog->name);
	}
	if (buf[0] == '\0')
		snprintf(buf, len, "none");
}

/*
 * Warn, once for as long as it stays on, when a listener's socket has
 * SO_REUSEPORT on that its config did not ask for.
 */
static void
guard_check_reuseport(struct guard *g, struct guard_look *look,
    const struct listener *l)
{
	ino_t ino = listener_socket_ino(l, 0);
	struct stat sb;
	char users[256];

	if (l->opts.reuseport || l->opts.per_slot || !guard_reuseport_on(l))
		return;
	if (guard_inodes_add(&look->warned, ino) == -1 ||
	    guard_inodes_has(&g->warned, ino) ||
	    fstat(guard_fd(l), &sb) == -1)
		return;
	guard_users(g, l, users, sizeof(users));
	log_warnx("listener %s %s: SO_REUSEPORT was turned on by a process "
	    "holding it (a worker of %s): any process of uid %u may now "
	    "listen on its port too and take a share of its connections; turn "
	    "it off in the server, or set reuseport = yes to allow it",
	    l->name, l->bound, users, (unsigned int)sb.st_uid);
}

/* Count every open socket of a listener (one per slot, or one) as ours. */
static int
guard_own_sockets(struct guard_look *look, const struct listener *l)
{
	ino_t ino;
	size_t i;

	for (i = 0; i < listener_nsockets(l); i++)
		if ((ino = listener_socket_ino(l, i)) != 0 &&
		    guard_inodes_add(&look->ours, ino) == -1)
			return -1;
	return 0;
}

/*
 * Call fn for every listener of every self-mode generation still running
 * (with an address: config_finish made sure); how many there are.
 */
static size_t
guard_self_each(const struct guard *g, struct guard_look *look,
    void (*fn)(struct guard_look *, const struct listener_conf *))
{
	const struct program *prog;
	const struct generation *gen;
	size_t i, n = 0;

	TAILQ_FOREACH(prog, g->programs, entry)
		TAILQ_FOREACH(gen, &prog->gens, entry) {
			if (gen->state == GEN_GONE ||
			    gen->pc->handoff != HANDOFF_SELF)
				continue;
			for (i = 0; i < gen->pc->nlisteners; i++, n++)
				if (fn != NULL)
					fn(look, gen->pc->listeners[i]);
		}
	return n;
}

/*
 * Watch a self-mode program's listener, once per name and address (the
 * generations of a program, old and new, share them).
 */
static void
guard_self_want(struct guard_look *look, const struct listener_conf *lc)
{
	struct guard_target *t;
	size_t i;

	if (!lc->has_listen || addr_is_unix(&lc->addr))
		return;
	for (i = 0; i < look->nwants; i++)
		if (look->of[i].self && strcmp(look->of[i].name, lc->name) == 0 &&
		    addr_equal(&look->wants[i].addr, &lc->addr))
			return;
	look->wants[look->nwants].addr = lc->addr;
	look->wants[look->nwants].v6only = lc->opts.v6only == 1;
	t = &look->of[look->nwants++];
	t->name = lc->name;
	t->bound = NULL;
	t->self = true;
}

/*
 * Make room in the guard's arrays of wants and targets for n entries
 * (they only grow); -1 if out of memory.
 */
static int
guard_make_room(struct guard *g, size_t n)
{
	struct sockdiag_want *wants;
	struct guard_target *of;
	size_t space;

	if (n <= g->nspace)
		return 0;
	space = n > 2 * g->nspace ? n : 2 * g->nspace;
	if ((wants = reallocarray(g->wants, space, sizeof(*wants))) == NULL)
		return -1;
	g->wants = wants;
	if ((of = reallocarray(g->of, space, sizeof(*of))) == NULL)
		return -1;
	g->of = of;
	g->nspace = space;
	return 0;
}

/*
 * Tell whether an IPv6 wildcard listener takes no IPv4: only a wildcard's
 * overlaps depend on it (sockdiag_ip_overlaps), and it cannot change once
 * the socket is bound.
 */
static bool
guard_v6only(const struct listener *l)
{
	const struct sockaddr_in6 *sin6 =
	    (const struct sockaddr_in6 *)&l->bound_ss;
	socklen_t len = sizeof(int);
	int v6only;

	return l->bound_ss.ss_family == AF_INET6 &&
	    IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr) &&
	    getsockopt(guard_fd(l), IPPROTO_IPV6, IPV6_V6ONLY, &v6only,
	    &len) == 0 && v6only;
}

/*
 * The addresses of the listeners to look at (TCP and UDP as bound, port
 * 0 resolved; a self-mode program's as configured), in the guard's
 * arrays, and the inodes of our sockets on them; -1 if out of memory.
 */
static int
guard_wants(struct guard *g, struct guard_look *look)
{
	const struct listener *l;
	struct sockdiag_want *w;
	size_t i, n = g->set->count, all = n + guard_self_each(g, look, NULL);

	if (guard_make_room(g, all) == -1)
		return -1;
	look->wants = g->wants;
	look->of = g->of;
	for (i = 0; i < n; i++) {
		l = g->set->items[i];
		if (listener_socket_ino(l, 0) == 0)
			continue;
		if (guard_own_sockets(look, l) == -1)
			return -1;
		guard_check_reuseport(g, look, l);
		w = &look->wants[look->nwants];
		w->addr = l->addr;
		w->v6only = false;
		if (!addr_is_unix(&l->addr)) {
			memcpy(&w->addr.ss, &l->bound_ss, l->bound_len);
			w->addr.len = l->bound_len;
			w->v6only = guard_v6only(l);
		}
		look->of[look->nwants].name = l->name;
		look->of[look->nwants].bound = l->bound;
		look->of[look->nwants].self = false;
		look->nwants++;
	}
	guard_self_each(g, look, guard_self_want);
	return 0;
}

/*
 * Tell whether a process is the supervisor's: itself, a worker, below it
 * (children, and orphans it reaped as subreaper), or one of ours (the
 * descendants its generations track, in look->ourpids).
 */
static bool
guard_is_ours(const struct guard *g, const struct guard_look *look, pid_t pid)
{
	struct procfs_stat st;
	pid_t me = getpid(), p = pid;
	size_t i;
	int depth;

	for (depth = 0; depth < GUARD_MAX_DEPTH && p > 0; depth++) {
		if (p == me || pidmap_get(g->pids, p) != NULL)
			return true;
		if (p == 1 || procfs_stat(p, &st) == -1)
			break;
		p = st.ppid;
	}
	for (i = 0; i < look->ourpids.count; i++)
		if (look->ourpids.pids[i] == pid)
			return true;
	return false;
}

/*
 * Note a foreign holder of a socket on a listener's address. Its command
 * is read anew (an exec changes it), or kept from the last look if the
 * process is already going.
 */
static void
guard_note(const struct guard *g, struct guard_look *look,
    const struct sockdiag_sock *s, pid_t pid)
{
	const struct guard_target *t = &look->of[s->want];
	struct guard_found *f;
	size_t i;

	for (i = 0; i < look->nfound; i++)
		if (look->found[i].inode == s->inode &&
		    look->found[i].pid == pid)
			return;	/* another fd of the same process */
	if (look->nfound == GUARD_MAX_FOUND) {
		look->more++;
		return;
	}
	f = &look->found[look->nfound++];
	memset(f, 0, sizeof(*f));
	snprintf(f->listener, sizeof(f->listener), "%s", t->name);
	if (t->bound != NULL)
		snprintf(f->address, sizeof(f->address), "%s", t->bound);
	else
		addr_format(&look->wants[s->want].addr, f->address,
		    sizeof(f->address));
	f->self = t->self;
	f->pid = pid;
	f->uid = s->uid;
	f->inode = s->inode;
	if (pid != 0)
		procfs_comm(pid, f->comm, sizeof(f->comm));
	for (i = 0; i < g->nfound && f->comm[0] == '\0'; i++)
		if (g->found[i].pid == pid && g->found[i].inode == s->inode)
			memcpy(f->comm, g->found[i].comm, sizeof(f->comm));
}

/*
 * The supervisor's own processes: itself, its workers (and the MAINPIDs
 * they announced) and the descendants its generations track.
 */
static int
guard_our_pids(const struct guard *g, struct pid_list *pids)
{
	const struct program *prog;
	struct generation *gen;
	const struct worker *w;
	pid_t *desc;
	size_t n, got, i;
	int k;

	if (procfs_pids_add(pids, getpid()) == -1)
		return -1;
	TAILQ_FOREACH(prog, g->programs, entry) {
		TAILQ_FOREACH(gen, &prog->gens, entry) {
			for (k = 0; k < gen->nworkers; k++) {
				w = &gen->workers[k];
				if ((w->pid > 0 &&
				    procfs_pids_add(pids, w->pid) == -1) ||
				    (w->mainpid > 0 && w->mainpid != w->pid &&
				    procfs_pids_add(pids, w->mainpid) == -1))
					return -1;
			}
			if ((n = gen_descendants(gen, DESC_RECENT, NULL, 0)) == 0)
				continue;
			if ((desc = calloc(n, sizeof(*desc))) == NULL)
				return -1;
			got = gen_descendants(gen, DESC_RECENT, desc, n);
			for (i = 0; i < got && i < n; i++)
				if (procfs_pids_add(pids, desc[i]) == -1) {
					free(desc);
					return -1;
				}
			free(desc);
		}
	}
	return 0;
}

/* Settle the unknown sockets that one of our own processes holds. */
static int
guard_held_by_ours(const struct guard *g, struct guard_look *look,
    char **cause)
{
	struct sockdiag_holders held;
	size_t i;

	if (guard_our_pids(g, &look->ourpids) == -1) {
		*cause = strdup("out of memory");
		return -1;
	}
	if (sockdiag_holders(look->unknown.items, look->unknown.count,
	    look->ourpids.pids, look->ourpids.count, &held, cause) == -1)
		return -1;
	for (i = 0; i < held.count; i++)
		if (guard_inodes_add(&look->settled, held.items[i].inode) == -1) {
			*cause = strdup("out of memory");
			sockdiag_holders_free(&held);
			return -1;
		}
	sockdiag_holders_free(&held);
	return 0;
}

/*
 * Settle the unknown sockets that were foreign at the last look and are
 * still held by every process that held them then: noted again, reading
 * only those processes' fds. (A process that took a copy of one since is
 * noticed when its holders change.) One that no visible process held is
 * noted again as it is: looking through all of /proc again would not
 * find its holder either.
 */
static int
guard_still_foreign(const struct guard *g, struct guard_look *look,
    char **cause)
{
	struct guard_inodes inodes = { .items = NULL };
	struct pid_list pids = { NULL, 0, 0 };
	struct sockdiag_holders held = { NULL, 0, false, 0 };
	const struct sockdiag_sock *s;
	size_t i, k, j;
	bool all;
	int rc = -1;

	for (i = 0; i < look->list.count; i++) {
		s = &look->list.socks[i];
		if (!guard_inodes_has(&look->unknown, s->inode) ||
		    guard_inodes_has(&look->settled, s->inode))
			continue;
		for (k = 0; k < g->nfound; k++)
			if (g->found[k].inode == s->inode && g->found[k].pid == 0)
				break;
		if (k == g->nfound)
			continue;
		guard_note(g, look, s, 0);
		if (guard_inodes_add(&look->settled, s->inode) == -1)
			goto nomem;
	}
	for (i = 0; i < g->nfound; i++)
		if (g->found[i].pid != 0 &&
		    guard_inodes_has(&look->unknown, g->found[i].inode) &&
		    !guard_inodes_has(&look->settled, g->found[i].inode) &&
		    (guard_inodes_add(&inodes, g->found[i].inode) == -1 ||
		    procfs_pids_add(&pids, g->found[i].pid) == -1))
			goto nomem;
	if (inodes.count == 0) {
		rc = 0;
		goto out;
	}
	if (sockdiag_holders(inodes.items, inodes.count, pids.pids, pids.count,
	    &held, cause) == -1)
		goto out;
	for (i = 0; i < look->list.count; i++) {
		s = &look->list.socks[i];
		if (!guard_inodes_has(&inodes, s->inode) ||
		    guard_inodes_has(&look->settled, s->inode))
			continue;
		for (all = true, k = 0; all && k < g->nfound; k++) {
			if (g->found[k].inode != s->inode || g->found[k].pid == 0)
				continue;
			for (all = false, j = 0; !all && j < held.count; j++)
				all = held.items[j].inode == s->inode &&
				    held.items[j].pid == g->found[k].pid;
		}
		if (!all)
			continue;
		for (k = 0; k < g->nfound; k++)
			if (g->found[k].inode == s->inode)
				guard_note(g, look, s, g->found[k].pid);
		if (guard_inodes_add(&look->settled, s->inode) == -1)
			goto nomem;
	}
	rc = 0;
	goto out;
nomem:
	*cause = strdup("out of memory");
out:
	sockdiag_holders_free(&held);
	guard_inodes_free(&inodes);
	procfs_pids_free(&pids);
	return rc;
}

/*
 * The unknown sockets not settled yet that are still there: a worker's
 * socket may have closed since the dump, and a second dump costs far
 * less than reading all of /proc for it. Without a second answer, all of
 * them.
 */
static int
guard_unsettled(struct guard_look *look, struct guard_inodes *rest)
{
	struct sockdiag_list again = { .skip = guard_inodes_skip,
	    .skip_arg = &look->ours };
	char *cause = NULL;
	size_t i, k;
	bool recheck;
	ino_t inode;

	recheck = sockdiag_listeners(look->wants, look->nwants, &again,
	    &cause) == 0;
	free(cause);
	for (i = 0; i < look->unknown.count; i++) {
		inode = look->unknown.items[i];
		if (guard_inodes_has(&look->settled, inode))
			continue;
		for (k = 0; recheck && k < again.count; k++)
			if (again.socks[k].inode == inode)
				break;
		if ((!recheck || k < again.count) &&
		    guard_inodes_add(rest, inode) == -1) {
			sockdiag_list_free(&again);
			return -1;
		}
	}
	sockdiag_list_free(&again);
	return 0;
}

/*
 * Sort out the unknown sockets left by reading all of /proc: a holder
 * that is ours by descent (guard_is_ours) settles nothing more; any other
 * is foreign. A socket no visible process holds is foreign if it was so
 * at the last look too.
 */
static int
guard_walk(struct guard *g, struct guard_look *look, char **cause)
{
	struct guard_inodes rest = { .items = NULL };
	struct sockdiag_holders held = { NULL, 0, false, 0 };
	const struct sockdiag_sock *s;
	size_t i, k;
	bool seen;
	int rc = -1;

	if (guard_unsettled(look, &rest) == -1)
		goto nomem;
	if (rest.count == 0) {
		rc = 0;
		goto out;
	}
	if (sockdiag_holders(rest.items, rest.count, NULL, 0, &held,
	    cause) == -1)
		goto out;
	for (i = 0; i < look->list.count; i++) {
		s = &look->list.socks[i];
		if (!guard_inodes_has(&rest, s->inode))
			continue;
		for (seen = false, k = 0; k < held.count; k++) {
			if (held.items[k].inode != s->inode)
				continue;
			seen = true;
			if (!guard_is_ours(g, look, held.items[k].pid))
				guard_note(g, look, s, held.items[k].pid);
		}
		if (seen)
			continue;
		/* Nobody we can see: a stranger's, if it is still there. */
		if (guard_inodes_has(&g->unheld, s->inode))
			guard_note(g, look, s, 0);
		if (guard_inodes_add(&look->unheld, s->inode) == -1)
			goto nomem;
	}
	look->walked = true;
	rc = 0;
	goto out;
nomem:
	*cause = strdup("out of memory");
out:
	sockdiag_holders_free(&held);
	guard_inodes_free(&rest);
	return rc;
}

/*
 * Sort the sockets on the listeners' addresses that are not ours into
 * foreign ones, by the processes holding them, reading as little of
 * /proc as it can: the fds of our own processes first (a worker's own
 * socket is settled there), then those of the processes a foreign socket
 * had at the last look, and all of /proc only for what is left.
 */
static int
guard_sort_out(struct guard *g, struct guard_look *look, char **cause)
{
	size_t i;

	for (i = 0; i < look->list.count; i++)
		if (!guard_inodes_has(&look->ours, look->list.socks[i].inode) &&
		    guard_inodes_add(&look->unknown,
		    look->list.socks[i].inode) == -1) {
			*cause = strdup("out of memory");
			return -1;
		}
	if (look->unknown.count == 0)
		return 0;
	if (guard_held_by_ours(g, look, cause) == -1 ||
	    guard_still_foreign(g, look, cause) == -1 ||
	    guard_walk(g, look, cause) == -1)
		return -1;
	return 0;
}

/* Tell whether a list of found holders has f (same socket, same process). */
static bool
guard_found_has(const struct guard_found *list, size_t n,
    const struct guard_found *f)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (list[i].inode == f->inode && list[i].pid == f->pid &&
		    strcmp(list[i].listener, f->listener) == 0)
			return true;
	return false;
}

/* Log that a foreign holder appeared, or that it is gone. */
static void
guard_log(const struct guard_found *f, bool appeared)
{
	const char *comm = f->comm[0] ? f->comm : "?";

	if (appeared && f->pid != 0)
		log_warnx("listener %s %s: pid %d (%s, uid %u) listens on its "
		    "address too (socket inode %llu) and is neither the "
		    "supervisor nor one of its workers: connections may go to "
		    "it", f->listener, f->address, (int)f->pid, comm,
		    (unsigned int)f->uid, (unsigned long long)f->inode);
	else if (appeared)
		log_warnx("listener %s %s: a socket of uid %u (inode %llu) that "
		    "no process the supervisor can see holds listens on its "
		    "address too: connections may go to it", f->listener,
		    f->address, (unsigned int)f->uid,
		    (unsigned long long)f->inode);
	else if (f->pid != 0)
		log_info("listener %s %s: pid %d (%s) no longer listens on its "
		    "address", f->listener, f->address, (int)f->pid, comm);
	else
		log_info("listener %s %s: the socket of inode %llu no longer "
		    "listens on its address", f->listener, f->address,
		    (unsigned long long)f->inode);
}

/*
 * Log the foreign holders that appeared since the last look, and those
 * gone. After a partial look (a kind of socket could not be listed) those
 * not seen again are kept, not taken for gone.
 */
static void
guard_report(const struct guard *g, struct guard_look *look, bool partial)
{
	size_t i;

	for (i = 0; i < look->nfound; i++)
		if (!guard_found_has(g->found, g->nfound, &look->found[i]))
			guard_log(&look->found[i], true);
	if (look->more > 0)
		log_warnx("%zu more processes listen on the listeners' "
		    "addresses (only %d are shown)", look->more, GUARD_MAX_FOUND);
	for (i = 0; i < g->nfound; i++) {
		if (guard_found_has(look->found, look->nfound, &g->found[i]))
			continue;
		if (!partial)
			guard_log(&g->found[i], false);
		else if (look->nfound < GUARD_MAX_FOUND)
			look->found[look->nfound++] = g->found[i];
	}
}

/* Say once why looking failed; NULL: it works (again). */
static void
guard_failed(struct guard *g, const char *why)
{
	char every[32];

	if (why == NULL) {
		if (g->failure != NULL)
			log_info("port-hijack guard: looking at the listeners' "
			    "addresses works again");
		free(g->failure);
		g->failure = NULL;
		return;
	}
	if (g->failure != NULL && strcmp(g->failure, why) == 0)
		return;
	format_duration(g->interval_ms, every, sizeof(every));
	log_warnx("port-hijack guard: %s; foreign listeners on the listeners' "
	    "addresses go unnoticed until it works (trying %s%s)", why,
	    g->interval_ms ? "every " : "after each reload",
	    g->interval_ms ? every : "");
	free(g->failure);
	g->failure = strdup(why);
}

/*
 * Start a look with the set of our inodes the last one filled, emptied,
 * and a list of sockets that only counts those.
 */
static void
guard_look_begin(struct guard *g, struct guard_look *look)
{
	memset(look, 0, sizeof(*look));
	look->ours = g->ours;
	memset(&g->ours, 0, sizeof(g->ours));
	guard_inodes_clear(&look->ours);
	look->list.skip = guard_inodes_skip;
	look->list.skip_arg = &look->ours;
}

/* Free what a look holds; the guard keeps its set of our inodes. */
static void
guard_look_free(struct guard *g, struct guard_look *look)
{
	g->ours = look->ours;
	guard_inodes_free(&look->unknown);
	guard_inodes_free(&look->settled);
	procfs_pids_free(&look->ourpids);
	guard_inodes_free(&look->unheld);
	guard_inodes_free(&look->warned);
	sockdiag_list_free(&look->list);
}

/*
 * Look at the listeners' addresses now: log the foreign listeners that
 * appeared or went since the last look, and keep them for status.
 */
void
guard_check(struct guard *g)
{
	struct guard_look look;
	struct guard_inodes swap;
	char *cause = NULL;
	size_t nsocks;
	bool partial = false;

	if (g == NULL || g->stopped)
		return;
	guard_look_begin(g, &look);
	if (guard_wants(g, &look) == -1) {
		guard_failed(g, "out of memory");
		goto out;
	}
	if (look.nwants == 0 && g->nfound == 0)
		goto out;	/* nothing to look at, nor to say gone */
	if (sockdiag_listeners(look.wants, look.nwants, &look.list,
	    &cause) == -1) {
		/* What the other kinds of socket showed still counts. */
		guard_failed(g, cause != NULL ? cause : "out of memory");
		free(cause);
		cause = NULL;
		partial = true;
	}
	if (guard_sort_out(g, &look, &cause) == -1) {
		guard_failed(g, cause != NULL ? cause : "out of memory");
		goto out;
	}
	if (!partial)
		guard_failed(g, NULL);
	guard_report(g, &look, partial);
	memcpy(g->found, look.found, look.nfound * sizeof(look.found[0]));
	g->nfound = look.nfound;
	swap = g->unheld;
	g->unheld = look.unheld;
	look.unheld = swap;
	nsocks = look.list.count + look.list.skipped;
	log_debug("port-hijack guard: %zu listener%s, %zu socket%s on their "
	    "addresses, %zu not the supervisor's, %zu foreign holder%s%s%s",
	    look.nwants, look.nwants == 1 ? "" : "s", nsocks,
	    nsocks == 1 ? "" : "s", look.unknown.count, look.nfound,
	    look.nfound == 1 ? "" : "s", look.walked ? " (read all of /proc)" :
	    "", look.list.truncated ? " (more sockets than could be kept)" : "");
out:
	/* SO_REUSEPORT warnings stand even if the dump failed. */
	swap = g->warned;
	g->warned = look.warned;
	look.warned = swap;
	free(cause);
	guard_look_free(g, &look);
}

/* Timer: look again. */
static void
guard_timer(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	loopstat_mark("guard");
	guard_check(arg);
}

/* The look guard_check_soon or guard_check_within asked for. */
static void
guard_soon(evutil_socket_t fd, short what, void *arg)
{
	struct guard *g = arg;

	(void)fd;
	(void)what;
	g->soon_pending = false;
	loopstat_mark("guard after a commit");
	guard_check(g);
}

/*
 * Look within ms (0: on the next turn of the loop), once however often
 * asked before it, and no later than a look asked for already. A guard
 * stopped by then does not look.
 */
void
guard_check_within(struct guard *g, uint64_t ms)
{
	struct timespec now, due;
	struct timeval tv = timeval_ms(ms);

	if (g == NULL || g->stopped)
		return;
	clock_gettime(CLOCK_MONOTONIC, &now);
	due.tv_sec = now.tv_sec + (time_t)(ms / 1000);
	due.tv_nsec = now.tv_nsec + (long)(ms % 1000) * 1000000L;
	if (due.tv_nsec >= 1000000000L) {
		due.tv_sec++;
		due.tv_nsec -= 1000000000L;
	}
	if (g->soon_pending && (g->soon_due.tv_sec < due.tv_sec ||
	    (g->soon_due.tv_sec == due.tv_sec &&
	    g->soon_due.tv_nsec <= due.tv_nsec)))
		return;	/* due sooner already */
	if (event_add(g->soon, &tv) == -1) {
		guard_check(g);	/* cannot wait: look now */
		return;
	}
	g->soon_pending = true;
	g->soon_due = due;
}

/*
 * Look on the next turn of the loop: after a reload commits (or once it
 * is done), so that what the supervisor just sent goes first.
 */
void
guard_check_soon(struct guard *g)
{
	guard_check_within(g, 0);
}

/* Make a look asked for and not made yet on the next turn of the loop. */
void
guard_check_hurry(struct guard *g)
{
	if (g != NULL && g->soon_pending)
		guard_check_within(g, 0);
}

/*
 * A guard of the listeners in set (the supervisor's own, whose contents a
 * reload replaces), with the programs and pid map telling which processes
 * are ours. interval (HANDOFF_GUARD_INTERVAL; NULL or "" the default) is
 * how often it looks besides guard_check, "0" never. NULL with *cause.
 */
struct guard *
guard_new(struct event_base *base, const struct listener_set *set,
    struct program_list *programs, struct pidmap *pids, const char *interval,
    char **cause)
{
	struct guard *g;
	struct timeval tv;
	const char *why;
	uint64_t ms = GUARD_INTERVAL_MS;

	if (interval != NULL && strcmp(interval, "0") == 0)
		ms = 0;
	else if (interval != NULL && *interval != '\0' &&
	    parse_duration_ms(interval, &ms, &why) == -1) {
		cause_set(cause, "HANDOFF_GUARD_INTERVAL=%s: %s; 0 looks only "
		    "at start and after each reload", interval, why);
		return NULL;
	}
	if ((g = calloc(1, sizeof(*g))) == NULL) {
		*cause = strdup("out of memory");
		return NULL;
	}
	g->base = base;
	g->set = set;
	g->programs = programs;
	g->pids = pids;
	g->interval_ms = ms;
	if ((g->soon = evtimer_new(base, guard_soon, g)) == NULL) {
		*cause = strdup("cannot set up the port-hijack guard");
		guard_free(g);
		return NULL;
	}
	if (ms > 0) {
		tv = timeval_ms(ms);
		if ((g->timer = event_new(base, -1, EV_PERSIST, guard_timer,
		    g)) == NULL || event_add(g->timer, &tv) == -1) {
			*cause = strdup("cannot arm the port-hijack guard's timer");
			guard_free(g);
			return NULL;
		}
	}
	return g;
}

/* Stop looking (the supervisor is stopping). */
void
guard_stop(struct guard *g)
{
	if (g == NULL)
		return;
	g->stopped = true;
	if (g->timer != NULL)
		event_del(g->timer);
	if (g->soon != NULL)
		event_del(g->soon);
	g->soon_pending = false;
}

/* Free a guard. */
void
guard_free(struct guard *g)
{
	if (g == NULL)
		return;
	if (g->timer != NULL)
		event_free(g->timer);
	if (g->soon != NULL)
		event_free(g->soon);
	free(g->wants);
	free(g->of);
	guard_inodes_free(&g->ours);
	guard_inodes_free(&g->unheld);
	guard_inodes_free(&g->warned);
	free(g->failure);
	free(g);
}

/*
 * Append the rest of a found holder's JSON object, from its pid on:
 * "pid":N,"comm":"x","uid":N,"inode":N} (pid and comm null for a socket
 * no visible process holds). Comm is printable ASCII without '"' or '\\'
 * (procfs_comm): no escaping needed.
 */
static void
guard_json_holder(const struct guard_found *f, struct evbuffer *out)
{
	evbuffer_add_printf(out, "\"pid\":");
	if (f->pid != 0)
		evbuffer_add_printf(out, "%d,\"comm\":\"%s\"", (int)f->pid,
		    f->comm);
	else
		evbuffer_add_printf(out, "null,\"comm\":null");
	evbuffer_add_printf(out, ",\"uid\":%u,\"inode\":%llu}",
	    (unsigned int)f->uid, (unsigned long long)f->inode);
}

/*
 * Append a listener's guard fields to its status JSON object:
 * ,"so_reuseport":BOOL,"foreign":[{"pid":N,"comm":"x","uid":N,"inode":N}]
 */
void
guard_status_json(const struct guard *g, const struct listener *l,
    struct evbuffer *out)
{
	const struct guard_found *f;
	size_t i;
	int n = 0;

	evbuffer_add_printf(out, ",\"so_reuseport\":%s,\"foreign\":[",
	    guard_reuseport_on(l) ? "true" : "false");
	for (i = 0; g != NULL && i < g->nfound; i++) {
		f = &g->found[i];
		if (f->self || strcmp(f->listener, l->name) != 0)
			continue;
		evbuffer_add_printf(out, "%s{", n++ ? "," : "");
		guard_json_holder(f, out);
	}
	evbuffer_add(out, "]", 1);
}

/*
 * Append a table line about a foreign holder: in column first, "on
 * LISTENER ADDRESS" after its pid if on is true.
 */
static void
guard_text_holder(const char *first, const struct guard_found *f, bool on,
    struct evbuffer *out)
{
	char where[sizeof(f->listener) + sizeof(f->address) + 8] = "";

	if (on)
		snprintf(where, sizeof(where), " on %s %s", f->listener,
		    f->address);
	if (f->pid != 0)
		evbuffer_add_printf(out, "data %-16s warning: foreign listener "
		    "pid %d (%s, uid %u)%s, socket inode %llu\n", first,
		    (int)f->pid, f->comm, (unsigned int)f->uid, where,
		    (unsigned long long)f->inode);
	else
		evbuffer_add_printf(out, "data %-16s warning: foreign listener%s: "
		    "a socket of uid %u (inode %llu) held by no process the "
		    "supervisor can see\n", first, where, (unsigned int)f->uid,
		    (unsigned long long)f->inode);
}

/* Append the guard's warnings about a listener as table lines. */
void
guard_status_text(const struct guard *g, const struct listener *l,
    struct evbuffer *out)
{
	size_t i;

	if (!l->opts.reuseport && !l->opts.per_slot && guard_reuseport_on(l))
		evbuffer_add_printf(out, "data %-16s warning: SO_REUSEPORT turned "
		    "on by a worker: processes of its uid can join the port\n",
		    "");
	for (i = 0; g != NULL && i < g->nfound; i++)
		if (!g->found[i].self &&
		    strcmp(g->found[i].listener, l->name) == 0)
			guard_text_holder("", &g->found[i], false, out);
}

/*
 * Tell whether a holder the guard found is on the address of one of the
 * listeners of prog's self-mode generations.
 */
static bool
guard_self_of(const struct program *prog, const struct guard_found *f)
{
	const struct generation *gen;
	size_t i;

	if (!f->self)
		return false;
	TAILQ_FOREACH(gen, &prog->gens, entry)
		for (i = 0; gen->state != GEN_GONE &&
		    gen->pc->handoff == HANDOFF_SELF && i < gen->pc->nlisteners;
		    i++)
			if (strcmp(gen->pc->listeners[i]->name, f->listener) == 0)
				return true;
	return false;
}

/*
 * Append a self-mode program's foreign listeners to its status JSON
 * object: ,"foreign":[{"listener":"web","address":"127.0.0.1:8080",
 * "pid":N,"comm":"x","uid":N,"inode":N}]. Nothing for other programs (pc
 * is the program's config in force, NULL if it was removed). Listener
 * names (config_valid_name) and addresses need no escaping.
 */
void
guard_status_self_json(const struct guard *g, const struct program *prog,
    const struct program_conf *pc, struct evbuffer *out)
{
	const struct guard_found *f;
	size_t i;
	int n = 0;

	if (pc == NULL || pc->handoff != HANDOFF_SELF)
		return;
	evbuffer_add_printf(out, ",\"foreign\":[");
	for (i = 0; g != NULL && i < g->nfound; i++) {
		f = &g->found[i];
		if (!guard_self_of(prog, f))
			continue;
		evbuffer_add_printf(out, "%s{\"listener\":\"%s\",\"address\":"
		    "\"%s\",", n++ ? "," : "", f->listener, f->address);
		guard_json_holder(f, out);
	}
	evbuffer_add(out, "]", 1);
}

/*
 * Append the guard's warnings about the addresses of self-mode programs
 * as table lines, each naming its program.
 */
void
guard_status_self_text(const struct guard *g,
    const struct program_list *programs, struct evbuffer *out)
{
	const struct program *prog;
	size_t i;

	if (g == NULL)
		return;
	TAILQ_FOREACH(prog, programs, entry)
		for (i = 0; i < g->nfound; i++)
			if (guard_self_of(prog, &g->found[i]))
				guard_text_holder(prog->name, &g->found[i], true,
				    out);
}
