/*
 * descendants.c: which processes belong to a generation, however far they
 * strayed from its workers.
 *
 * A worker's process group misses what left it (setsid, a double fork),
 * and the environment proves nothing (servers overwrite it with
 * setproctitle). Three ways, the best the host allows, chosen once at
 * start (HANDOFF_DESCENDANTS=cgroup|proc|subreaper forces one):
 *
 *  cgroup     each generation gets a cgroup v2 of its own (cgroup.c); a
 *	       worker moves itself into it between fork and exec, and all
 *	       it forks stays there. cgroup.events says when it is empty
 *	       (watched with inotify), cgroup.kill kills it whole.
 *  proc       the kernel's proc connector (netlink, root in the initial
 *	       namespaces) reports every fork and exit: a process forked by
 *	       a member is a member until it exits.
 *  subreaper  the supervisor is the workers' subreaper: it walks the
 *	       /proc children lists down from each member, and an orphan
 *	       reparented to it belongs to the group of its process group or
 *	       session if one is known, else to the newest group started
 *	       before it.
 *
 * A group reports through its callback, from the event loop, when it may
 * have emptied; never from inside a desc_* call.
 *
 * A subreaper's walk of /proc reads two files per member: some 40 ms of
 * CPU for two generations of a thousand workers. It walks all groups at
 * once, at most once per turn of the event loop (what acts on the members,
 * DESC_FRESH, gets the walk of its turn), and what only shows them
 * (DESC_RECENT: status, the guard, the listening probe) reuses the last
 * walk until 9T have passed after one that took T of CPU (at most a
 * second), so that views, however many, cost at most a tenth of the
 * supervisor's time; a walk under a millisecond is never reused by a
 * later turn. Whether a group is empty is settled by one live member, or
 * by a walk of its own when none is left.
 */
#include "autoconf.h"

#include <errno.h>
#include <event2/event.h>
#include <linux/cn_proc.h>
#include <linux/connector.h>
#include <linux/netlink.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "cause.h"
#include "cgroup.h"
#include "descendants.h"
#include "log.h"
#include "loopstat.h"
#include "pidmap.h"
#include "procfs.h"

#define DESC_NL_RCVBUF		(4 * 1024 * 1024)
#define DESC_NL_ACK_MS		1000	/* wait this long for the kernel's ack */

/* After a walk that took T of CPU, a view walks again 9T later (<= 1 s). */
#define DESC_VIEW_WAIT_FACTOR	9
#define DESC_VIEW_WAIT_MAX_NS	1000000000LL
#define DESC_VIEW_FREE_NS	1000000LL	/* walks cheaper are not reused */

/* A process of a group (proc and subreaper). */
struct desc_proc {
	pid_t			 pid;
	unsigned long long	 start;	/* its start time, 0 if not known */
};

struct desc_group {
	TAILQ_ENTRY(desc_group) entry;
	char			*cgroup;	/* its cgroup directory, or NULL */
	int			 procs_fd;	/* its cgroup.procs, or -1 */
	int			 dir_fd;	/* its cgroup's directory, or -1 */
	int			 wd;		/* inotify watch of cgroup.events */
	struct desc_proc	*procs;		/* proc, subreaper: its members */
	size_t			 nprocs;
	size_t			 space;
	struct pid_list		 keys;		/* process groups and sessions seen */
	unsigned long long	 created;	/* clock ticks after boot */
	bool			 dirty;		/* may have emptied: tell the owner */
	bool			 killing;	/* SIGKILL whatever joins it */
	size_t			 scanned;	/* members the walk looked at */
	desc_changed_cb		 cb;
	void			*arg;
};
TAILQ_HEAD(desc_group_list, desc_group);

/* The supervisor's one tracker. */
static struct {
	enum desc_method	 method;
	struct event_base	*base;
	char			*own;		/* cgroup: the supervisor's own */
	char			*top;		/* cgroup: own/handoff.PID */
	char			*adopt;		/* a top to take back (an upgrade) */
	bool			 adopted;	/* top is an earlier image's */
	int			 inotify_fd;
	struct event		*inotify_ev;
	int			 nl_fd;
	struct event		*nl_ev;
	struct event		*flush_ev;	/* runs the callbacks of dirty groups */
	struct event		*turn_ev;	/* ends the turn of a walk */
	unsigned long		 turn;		/* turns of the loop that walked */
	unsigned long		 walk_turn;	/* turn of the last walk */
	struct desc_group_list	 groups;
	struct pidmap		*members;	/* pid -> its group (not cgroup) */
	size_t			 dups;		/* members whose pid maps elsewhere */
	bool			 lost_warned;
	pid_t			 own_pgid, own_sid;
	/* subreaper: the last walk of /proc */
	unsigned long		 scans;		/* how many walks so far */
	struct timeval		 scan_turn;	/* the loop turn of the last */
	struct timespec		 view_after;	/* a view walks again after */
	desc_clock_fn		 clock;		/* NULL: the system's */
} desc = {
	.method = DESC_NONE, .inotify_fd = -1, .nl_fd = -1,
	.groups = TAILQ_HEAD_INITIALIZER(desc.groups),
};

static void	desc_scan(void);
static void	desc_nl_read(void);

/* "cgroup", "proc", "subreaper" (what HANDOFF_DESCENDANTS takes). */
const char *
desc_method_name(enum desc_method method)
{
	static const char *const names[] = {
		[DESC_NONE] = "none", [DESC_CGROUP] = "cgroup",
		[DESC_PROC] = "proc", [DESC_SUBREAPER] = "subreaper",
	};
	return names[method];
}

/* How descendants are tracked. */
enum desc_method
desc_method(void)
{
	return desc.method;
}

/* The supervisor's cgroup directory (cgroup method), or NULL. */
const char *
desc_cgroup_dir(void)
{
	return desc.top;
}

/* Note that a group may have emptied; its callback runs from the loop. */
static void
desc_mark(struct desc_group *g)
{
	g->dirty = true;
	if (desc.flush_ev != NULL)
		event_active(desc.flush_ev, EV_TIMEOUT, 0);
}

/*
 * Deferred: run the callback of every group that may have emptied. A
 * callback may not free a group (its owner frees it later, deferred too).
 */
static void
desc_flush(evutil_socket_t fd, short what, void *arg)
{
	struct desc_group *g;

	(void)fd;
	(void)what;
	(void)arg;
	loopstat_mark("descendants");
	TAILQ_FOREACH(g, &desc.groups, entry) {
		if (!g->dirty)
			continue;
		g->dirty = false;
		if (g->cb != NULL)
			g->cb(g->arg);
	}
}

/*
 * Deferred, queued by a walk behind the callbacks of its turn of the loop:
 * the turn is over, what acts next walks again.
 */
static void
desc_turn_over(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	desc.turn++;
}

/* ---- members (proc and subreaper) -------------------------------------- */

/*
 * The group pid is a member of (and its index), or NULL: looked up in the
 * map of members, or, if it may lack some (out of memory), in every group.
 * A pid member of two groups (a stale one reused) is found in the group
 * that has had it longest, as the search of every group would.
 */
static struct desc_group *
desc_find(pid_t pid, size_t *index)
{
	struct desc_group *g;
	size_t i;

	if (!pidmap_incomplete(desc.members)) {
		if ((g = pidmap_get(desc.members, pid)) == NULL)
			return NULL;
		for (i = 0; index != NULL && i < g->nprocs; i++)
			if (g->procs[i].pid == pid)
				*index = i;
		return g;
	}
	TAILQ_FOREACH(g, &desc.groups, entry) {
		for (i = 0; i < g->nprocs; i++) {
			if (g->procs[i].pid == pid) {
				if (index != NULL)
					*index = i;
				return g;
			}
		}
	}
	return NULL;
}

/* Remember a process group or session id as the group's (not ours). */
static void
desc_add_key(struct desc_group *g, pid_t key)
{
	size_t i;

	if (key <= 0 || key == desc.own_pgid || key == desc.own_sid)
		return;
	for (i = 0; i < g->keys.count; i++)
		if (g->keys.pids[i] == key)
			return;
	(void)procfs_pids_add(&g->keys, key);
}

/* Make pid a member of g (start: its start time, 0 if not known). */
static void
desc_track(struct desc_group *g, pid_t pid, unsigned long long start)
{
	struct desc_proc *grown;
	size_t space;

	if (g->nprocs == g->space) {
		space = g->space ? g->space * 2 : 8;
		grown = reallocarray(g->procs, space, sizeof(*grown));
		if (grown == NULL) {
			log_warnx("out of memory tracking pid %d", (int)pid);
			return;
		}
		g->procs = grown;
		g->space = space;
	}
	g->procs[g->nprocs].pid = pid;
	g->procs[g->nprocs].start = start;
	g->nprocs++;
	if (pidmap_get(desc.members, pid) != NULL)
		desc.dups++;
	else
		(void)pidmap_put(desc.members, pid, g);
	if (g->killing)
		kill(pid, SIGKILL);
}

/* Make pid a member of g with what /proc says of it; -1 if it is gone. */
static int
desc_track_stat(struct desc_group *g, pid_t pid)
{
	struct procfs_stat st;

	if (procfs_stat(pid, &st) == -1 || st.state == 'Z' || st.state == 'X')
		return -1;
	desc_add_key(g, st.pgid);
	desc_add_key(g, st.session);
	desc_track(g, pid, st.start);
	return 0;
}

/*
 * A member pid of g is no more: the map says which group has pid now, if
 * another still does.
 */
static void
desc_unmap(struct desc_group *g, pid_t pid)
{
	struct desc_group *other;
	size_t i;

	if (pidmap_incomplete(desc.members) || desc.dups == 0) {
		pidmap_del(desc.members, pid, g);
		return;
	}
	if (pidmap_get(desc.members, pid) != g) {
		desc.dups--;	/* a second entry went */
		return;
	}
	pidmap_del(desc.members, pid, g);
	TAILQ_FOREACH(other, &desc.groups, entry)
		for (i = 0; i < other->nprocs; i++)
			if (other->procs[i].pid == pid) {
				(void)pidmap_put(desc.members, pid, other);
				desc.dups--;
				return;
			}
}

/* Forget member i of g. */
static void
desc_untrack(struct desc_group *g, size_t i)
{
	pid_t pid = g->procs[i].pid;

	g->procs[i] = g->procs[--g->nprocs];
	desc_unmap(g, pid);
	if (g->nprocs == 0)
		desc_mark(g);
}

/* Tell whether a member is still the live process it was (*st: its stat). */
static bool
desc_alive_stat(const struct desc_proc *p, struct procfs_stat *st)
{
	return procfs_stat(p->pid, st) == 0 && st->state != 'Z' &&
	    st->state != 'X' && (p->start == 0 || st->start == p->start);
}

/* Tell whether a member is still the live process it was. */
static bool
desc_alive(const struct desc_proc *p)
{
	struct procfs_stat st;

	return desc_alive_stat(p, &st);
}

/*
 * Forget the members of g that have exited until one is found alive:
 * true if one is. The live one is looked at first the next time.
 */
static bool
desc_prune_until_alive(struct desc_group *g)
{
	while (g->nprocs > 0) {
		if (desc_alive(&g->procs[0]))
			return true;
		desc_untrack(g, 0);
	}
	return false;
}

/*
 * The group an orphan reparented to the supervisor comes from: the one
 * that knows its process group or session, else the newest started
 * before it. NULL if none may have started it.
 */
static struct desc_group *
desc_attribute(const struct procfs_stat *st)
{
	struct desc_group *g, *newest = NULL;
	pid_t sid = st->session;
	size_t i;

	TAILQ_FOREACH(g, &desc.groups, entry)
		for (i = 0; i < g->keys.count; i++)
			if (g->keys.pids[i] == st->pgid || g->keys.pids[i] == sid)
				return g;
	TAILQ_FOREACH(g, &desc.groups, entry)
		if (g->created <= st->start)
			newest = g;
	return newest;
}

/* Make the orphans reparented to the supervisor members of their groups. */
static void
desc_adopt_orphans(void)
{
	struct pid_list kids = { NULL, 0, 0 };
	struct procfs_stat st;
	struct desc_group *g;
	size_t i;

	(void)procfs_children(getpid(), &kids);
	for (i = 0; i < kids.count; i++) {
		if (desc_find(kids.pids[i], NULL) != NULL ||
		    procfs_stat(kids.pids[i], &st) == -1 || st.state == 'Z' ||
		    (g = desc_attribute(&st)) == NULL)
			continue;
		log_debug("pid %d, reparented to the supervisor, taken as a "
		    "descendant of a worker", (int)kids.pids[i]);
		desc_add_key(g, st.pgid);
		desc_add_key(g, st.session);
		desc_track(g, kids.pids[i], st.start);
	}
	procfs_pids_free(&kids);
}

/*
 * From member from on, forget the members of g that have exited and add
 * the children of the others, and theirs, to g.
 */
static void
desc_add_children(struct desc_group *g, size_t from)
{
	struct pid_list kids = { NULL, 0, 0 };
	struct procfs_stat st;
	size_t i = from, k;

	while (i < g->nprocs) {
		/* A pid taken over by another process shows its children. */
		if (!desc_alive_stat(&g->procs[i], &st)) {
			desc_untrack(g, i);
			continue;
		}
		kids.count = 0;
		if (procfs_children_of(g->procs[i].pid, st.threads, &kids) == 0)
			for (k = 0; k < kids.count; k++)
				if (desc_find(kids.pids[k], NULL) == NULL)
					(void)desc_track_stat(g, kids.pids[k]);
		i++;
	}
	procfs_pids_free(&kids);
}

/*
 * Now: the turn of the event loop we are in (libevent's time cached for
 * the turn; outside the loop, the time of day), the monotonic clock and
 * the supervisor's CPU time. The cached time may be the same for two
 * turns (an event base on the coarse clock, which ticks every few ms, or
 * two polls in one microsecond): desc.turn, counted by turn_ev queued
 * behind the callbacks of the turn, tells them apart.
 */
static void
desc_clock(struct timeval *turn, struct timespec *mono, struct timespec *cpu)
{
	if (desc.clock != NULL) {
		desc.clock(turn, mono, cpu);
		return;
	}
	if (desc.turn_ev != NULL)
		event_active(desc.turn_ev, EV_TIMEOUT, 0);
	if (desc.base == NULL ||
	    event_base_gettimeofday_cached(desc.base, turn) == -1)
		gettimeofday(turn, NULL);
	clock_gettime(CLOCK_MONOTONIC, mono);
	if (clock_gettime(CLOCK_PROCESS_CPUTIME_ID, cpu) == -1)
		*cpu = *mono;
}

/* Nanoseconds from a to b (0 if b is not later). */
static long long
desc_ns(const struct timespec *a, const struct timespec *b)
{
	long long ns = (long long)(b->tv_sec - a->tv_sec) * 1000000000LL +
	    (b->tv_nsec - a->tv_nsec);

	return ns > 0 ? ns : 0;
}

/*
 * Look at every group's processes afresh in /proc: children first (while
 * their parents may still be there to show them) and forget who exited,
 * then orphans and what they started. Notes when and how long, for views.
 */
static void
desc_scan(void)
{
	struct timespec mono, cpu, mono_end, cpu_end;
	struct timeval turn;
	struct desc_group *g;
	long long took, wait;

	desc_clock(&desc.scan_turn, &mono, &cpu);
	desc.walk_turn = desc.turn;
	TAILQ_FOREACH(g, &desc.groups, entry) {
		desc_add_children(g, 0);
		g->scanned = g->nprocs;
	}
	desc_adopt_orphans();
	TAILQ_FOREACH(g, &desc.groups, entry)
		desc_add_children(g, g->scanned);
	desc.scans++;
	desc_clock(&turn, &mono_end, &cpu_end);
	took = desc_ns(&cpu, &cpu_end);
	wait = took < DESC_VIEW_FREE_NS ? 0 : took * DESC_VIEW_WAIT_FACTOR;
	if (wait > DESC_VIEW_WAIT_MAX_NS)
		wait = DESC_VIEW_WAIT_MAX_NS;
	wait += mono_end.tv_nsec;
	desc.view_after.tv_sec = mono_end.tv_sec + (time_t)(wait / 1000000000LL);
	desc.view_after.tv_nsec = (long)(wait % 1000000000LL);
}

/*
 * Bring the members up to date as need asks: the proc connector's events
 * read; a walk of /proc unless this turn of the loop had one, or a view's
 * last one is recent enough.
 */
static void
desc_refresh(enum desc_need need)
{
	struct timespec mono, cpu;
	struct timeval turn;

	if (desc.method == DESC_PROC) {
		desc_nl_read();
		return;
	}
	if (desc.method != DESC_SUBREAPER)
		return;
	desc_clock(&turn, &mono, &cpu);
	if (desc.scans > 0 && ((timercmp(&turn, &desc.scan_turn, ==) &&
	    desc.walk_turn == desc.turn) ||
	    (need == DESC_RECENT && desc_ns(&mono, &desc.view_after) > 0)))
		return;
	desc_scan();
}

/* ---- proc connector -------------------------------------------------- */

/* What tells the kernel's answers to our requests from others'. */
static __u32
desc_nl_cookie(void)
{
	return ((__u32)getpid() << 8) ^ 0x68616e64U;
}

/* Send a multicast op (listen, ignore) to the proc connector. */
static int
desc_nl_send(int fd, enum proc_cn_mcast_op op)
{
	/* nlmsghdr, then cn_msg, then the op as the cn_msg's data. */
	char buf[NLMSG_SPACE(sizeof(struct cn_msg) + sizeof(op))]
	    __attribute__((aligned(NLMSG_ALIGNTO)));
	struct nlmsghdr *nl = (struct nlmsghdr *)(void *)buf;
	struct cn_msg *cn = NLMSG_DATA(nl);

	memset(buf, 0, sizeof(buf));
	nl->nlmsg_len = NLMSG_LENGTH(sizeof(*cn) + sizeof(op));
	nl->nlmsg_type = NLMSG_DONE;
	nl->nlmsg_pid = 0;
	cn->id.idx = CN_IDX_PROC;
	cn->id.val = CN_VAL_PROC;
	/* The kernel answers with ack + 1 (it numbers seq itself). */
	cn->ack = desc_nl_cookie();
	cn->len = sizeof(op);
	memcpy(cn->data, &op, sizeof(op));
	return send(fd, buf, nl->nlmsg_len, 0) == (ssize_t)nl->nlmsg_len ?
	    0 : -1;
}

/* Act on one proc connector event. */
static void
desc_nl_event(const struct proc_event *ev)
{
	const struct fork_proc_event *born = &ev->event_data.fork;
	const struct exit_proc_event *died = &ev->event_data.exit;
	struct desc_group *g;
	size_t i;

	switch (ev->what) {
	case PROC_EVENT_FORK:
		/* A new process (not a thread) forked by a member. */
		if (born->child_pid != born->child_tgid)
			break;
		if ((g = desc_find(born->parent_tgid, NULL)) != NULL &&
		    desc_find(born->child_tgid, NULL) == NULL)
			desc_track(g, born->child_tgid, 0);
		break;
	case PROC_EVENT_EXIT:
		if (died->process_pid != died->process_tgid)
			break;
		if ((g = desc_find(died->process_pid, &i)) != NULL)
			desc_untrack(g, i);
		break;
	default:
		break;
	}
}

/*
 * Read every event the proc connector has queued. If some were lost (the
 * socket overflowed), look through /proc instead.
 */
static void
desc_nl_read(void)
{
	char buf[16384] __attribute__((aligned(NLMSG_ALIGNTO)));
	struct sockaddr_nl from;
	struct desc_group *g;
	struct proc_event ev;
	struct nlmsghdr *nh;
	struct cn_msg cn;
	socklen_t fromlen;
	bool lost = false;
	ssize_t n;
	size_t len;

	for (;;) {
		fromlen = sizeof(from);
		n = recvfrom(desc.nl_fd, buf, sizeof(buf), MSG_DONTWAIT,
		    (struct sockaddr *)&from, &fromlen);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == ENOBUFS) {
			lost = true;
			continue;
		}
		if (n <= 0)
			break;
		if (from.nl_pid != 0)
			continue;	/* not from the kernel */
		len = (size_t)n;
		for (nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, len);
		    nh = NLMSG_NEXT(nh, len)) {
			if (nh->nlmsg_type == NLMSG_ERROR ||
			    nh->nlmsg_type == NLMSG_NOOP ||
			    nh->nlmsg_len < NLMSG_LENGTH(sizeof(cn)))
				continue;
			/* Copies: the event is not aligned for its 64-bit fields. */
			memcpy(&cn, NLMSG_DATA(nh), sizeof(cn));
			if (cn.id.idx != CN_IDX_PROC || cn.id.val != CN_VAL_PROC ||
			    nh->nlmsg_len < NLMSG_LENGTH(sizeof(cn) + sizeof(ev)))
				continue;
			memcpy(&ev, (char *)NLMSG_DATA(nh) + sizeof(cn),
			    sizeof(ev));
			desc_nl_event(&ev);
		}
	}
	if (lost) {
		if (!desc.lost_warned)
			log_warnx("proc connector: events were lost; finding "
			    "worker descendants in /proc instead (logged once)");
		desc.lost_warned = true;
		desc_scan();
		TAILQ_FOREACH(g, &desc.groups, entry)
			desc_mark(g);
	}
}

/* The proc connector socket is readable. */
static void
desc_nl_readable(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	loopstat_mark("descendants");
	desc_nl_read();
}

/* Wait for the kernel's answer to our listen request: 0, or -1 and *cause. */
static int
desc_nl_wait_ack(int fd, char **cause)
{
	char buf[4096] __attribute__((aligned(NLMSG_ALIGNTO)));
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	struct proc_event ev;
	struct nlmsghdr *nh;
	struct cn_msg cn;
	struct timespec start, now;
	int left = DESC_NL_ACK_MS;
	ssize_t n;
	size_t len;

	clock_gettime(CLOCK_MONOTONIC, &start);
	while (left > 0) {
		if (poll(&pfd, 1, left) == 1 &&
		    (n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0) {
			len = (size_t)n;
			for (nh = (struct nlmsghdr *)buf; NLMSG_OK(nh, len);
			    nh = NLMSG_NEXT(nh, len)) {
				if (nh->nlmsg_len < NLMSG_LENGTH(sizeof(cn) +
				    sizeof(ev)))
					continue;
				memcpy(&cn, NLMSG_DATA(nh), sizeof(cn));
				memcpy(&ev, (char *)NLMSG_DATA(nh) + sizeof(cn),
				    sizeof(ev));
				if (ev.what != PROC_EVENT_NONE ||
				    cn.ack != desc_nl_cookie() + 1)
					continue;
				if (ev.event_data.ack.err == 0)
					return 0;
				cause_set(cause, "the proc connector refused: %s",
				    strerror((int)ev.event_data.ack.err));
				return -1;
			}
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		left = DESC_NL_ACK_MS - (int)((now.tv_sec - start.tv_sec) * 1000 +
		    (now.tv_nsec - start.tv_nsec) / 1000000);
	}
	cause_set(cause, "the proc connector did not answer (it serves only "
	    "root in the initial namespaces)");
	return -1;
}

/*
 * Tell whether the supervisor runs in the initial pid and user namespaces,
 * the only ones the proc connector serves (their inode numbers are fixed:
 * PROC_PID_INIT_INO, PROC_USER_INIT_INO).
 */
static bool
desc_nl_initial_ns(void)
{
	char pid_ns[64], user_ns[64];
	ssize_t n, m;

	n = readlink("/proc/self/ns/pid", pid_ns, sizeof(pid_ns) - 1);
	m = readlink("/proc/self/ns/user", user_ns, sizeof(user_ns) - 1);
	if (n <= 0 || m <= 0)
		return true;	/* cannot tell: ask the kernel */
	pid_ns[n] = user_ns[m] = '\0';
	return strcmp(pid_ns, "pid:[4026531836]") == 0 &&
	    strcmp(user_ns, "user:[4026531837]") == 0;
}

/* Listen to the proc connector: 0, or -1 and *cause. */
static int
desc_nl_open(char **cause)
{
	struct sockaddr_nl sa;
	int fd, size = DESC_NL_RCVBUF;

	if (!desc_nl_initial_ns()) {
		cause_set(cause, "the proc connector serves only the initial pid "
		    "and user namespaces");
		return -1;
	}
	fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    NETLINK_CONNECTOR);
	if (fd == -1) {
		cause_set(cause, "proc connector: socket: %s", strerror(errno));
		return -1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.nl_family = AF_NETLINK;
	sa.nl_groups = CN_IDX_PROC;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1 ||
	    desc_nl_send(fd, PROC_CN_MCAST_LISTEN) == -1) {
		cause_set(cause, "proc connector: %s", strerror(errno));
		close(fd);
		return -1;
	}
	if (desc_nl_wait_ack(fd, cause) == -1) {
		(void)desc_nl_send(fd, PROC_CN_MCAST_IGNORE);
		close(fd);
		return -1;
	}
	/* Room for bursts of forks; root may go past rmem_max. */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) == -1)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	desc.nl_fd = fd;
	desc.nl_ev = event_new(desc.base, fd, EV_READ | EV_PERSIST,
	    desc_nl_readable, NULL);
	if (desc.nl_ev == NULL || event_add(desc.nl_ev, NULL) == -1) {
		cause_set(cause, "proc connector: cannot watch its socket");
		return -1;
	}
	return 0;
}

/* ---- cgroup ---------------------------------------------------------- */

/* inotify: a watched cgroup.events changed. */
static void
desc_inotify_readable(evutil_socket_t fd, short what, void *arg)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	const struct inotify_event *ie;
	struct desc_group *g;
	ssize_t n;
	char *p;

	(void)what;
	(void)arg;
	loopstat_mark("descendants");
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (p = buf; p + sizeof(*ie) <= buf + n;) {
			ie = (const struct inotify_event *)p;
			TAILQ_FOREACH(g, &desc.groups, entry)
				if (g->wd == ie->wd || (ie->mask & IN_Q_OVERFLOW))
					desc_mark(g);
			p += sizeof(*ie) + ie->len;
		}
	}
}

/*
 * Before desc_init, in an upgrade's new image: take the cgroup directory
 * top of the image before back (and its generations' directories with
 * the workers in them) instead of making new ones. -1 if out of memory.
 */
int
desc_adopt(const char *top)
{
	free(desc.adopt);
	desc.adopt = NULL;
	if (top != NULL && (desc.adopt = strdup(top)) == NULL)
		return -1;
	return 0;
}

/* Set up the supervisor's cgroup directory: 0, or -1 and *cause. */
static int
desc_cgroup_open(char **cause)
{
	if (cgroup_own_dir(&desc.own, cause) == -1)
		return -1;
	cgroup_remove_stale(desc.own);
	if (desc.adopt != NULL && cgroup_is_child(desc.own, desc.adopt)) {
		/* An upgrade: the workers stay where they are. */
		if ((desc.top = strdup(desc.adopt)) == NULL) {
			cause_set(cause, "out of memory");
			return -1;
		}
		desc.adopted = true;
	} else if (cgroup_make_base(desc.own, &desc.top, cause) == -1)
		return -1;
	desc.inotify_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (desc.inotify_fd == -1) {
		cause_set(cause, "inotify: %s", strerror(errno));
		return -1;
	}
	desc.inotify_ev = event_new(desc.base, desc.inotify_fd,
	    EV_READ | EV_PERSIST, desc_inotify_readable, NULL);
	if (desc.inotify_ev == NULL || event_add(desc.inotify_ev, NULL) == -1) {
		cause_set(cause, "cannot watch inotify");
		return -1;
	}
	return 0;
}

/* ---- setup ------------------------------------------------------------- */

/* Undo a half-done or finished setup. */
static void
desc_close_all(void)
{
	if (desc.nl_ev != NULL)
		event_free(desc.nl_ev);
	if (desc.nl_fd != -1) {
		(void)desc_nl_send(desc.nl_fd, PROC_CN_MCAST_IGNORE);
		close(desc.nl_fd);
	}
	if (desc.inotify_ev != NULL)
		event_free(desc.inotify_ev);
	if (desc.inotify_fd != -1)
		close(desc.inotify_fd);
	if (desc.top != NULL && cgroup_remove(desc.top) == -1 && errno != ENOENT)
		log_warn("cannot remove cgroup %s", desc.top);
	free(desc.top);
	free(desc.own);
	desc.adopted = false;
	desc.nl_ev = desc.inotify_ev = NULL;
	desc.nl_fd = desc.inotify_fd = -1;
	desc.top = desc.own = NULL;
}

/* Try one method: 0, or -1 and *cause (and nothing of it left). */
static int
desc_try(enum desc_method method, char **cause)
{
	int rc = 0;

	if (method == DESC_CGROUP)
		rc = desc_cgroup_open(cause);
	else if (method == DESC_PROC)
		rc = desc_nl_open(cause);
	if (rc == -1) {
		desc_close_all();
		return -1;
	}
	desc.method = method;
	return 0;
}

/*
 * Start tracking descendants the best way the host allows, or the way want
 * names (HANDOFF_DESCENDANTS: auto, cgroup, proc, subreaper). 0, or -1 and
 * *cause if that way cannot be had.
 */
int
desc_init(struct event_base *base, const char *want, char **cause)
{
	static const struct {
		const char	*name;
		enum desc_method method;
	} ways[] = {
		{ "cgroup", DESC_CGROUP }, { "proc", DESC_PROC },
		{ "subreaper", DESC_SUBREAPER },
	};
	char *why_cgroup = NULL, *why_proc = NULL, *why = NULL;
	size_t i;

	desc.base = base;
	desc.own_pgid = getpgrp();
	desc.own_sid = getsid(0);
	if ((desc.flush_ev = event_new(base, -1, 0, desc_flush, NULL)) == NULL ||
	    (desc.turn_ev = event_new(base, -1, 0, desc_turn_over,
	    NULL)) == NULL ||
	    (desc.members = pidmap_new()) == NULL) {
		cause_set(cause, "out of memory");
		desc_shutdown();
		return -1;
	}
	if (want != NULL && *want != '\0' && strcmp(want, "auto") != 0) {
		for (i = 0; i < sizeof(ways) / sizeof(ways[0]); i++)
			if (strcmp(want, ways[i].name) == 0)
				break;
		if (i == sizeof(ways) / sizeof(ways[0]))
			cause_set(cause, "HANDOFF_DESCENDANTS=%s: unknown way to "
			    "track worker descendants (use auto, cgroup, proc or "
			    "subreaper)", want);
		else if (desc_try(ways[i].method, &why) == -1)
			cause_set(cause, "HANDOFF_DESCENDANTS=%s: %s", want, why);
		free(why);
		if (desc.method == DESC_NONE) {
			desc_shutdown();
			return -1;
		}
	} else if (desc_try(DESC_CGROUP, &why_cgroup) == -1 &&
	    desc_try(DESC_PROC, &why_proc) == -1)
		(void)desc_try(DESC_SUBREAPER, &why);

	if (desc.method == DESC_CGROUP)
		log_info("worker descendants are tracked in cgroup %s", desc.top);
	else if (desc.method == DESC_PROC && why_cgroup != NULL)
		log_info("worker descendants are tracked by the proc connector "
		    "(no cgroup: %s)", why_cgroup);
	else if (desc.method == DESC_PROC)
		log_info("worker descendants are tracked by the proc connector");
	else if (why_proc != NULL)
		log_info("worker descendants are tracked as their subreaper "
		    "(no cgroup: %s; no proc connector: %s)", why_cgroup,
		    why_proc);
	else
		log_info("worker descendants are tracked as their subreaper");
	free(why_cgroup);
	free(why_proc);
	return 0;
}

/* Stop tracking: close what desc_init opened, remove its cgroup directory. */
void
desc_shutdown(void)
{
	desc_close_all();
	if (desc.flush_ev != NULL)
		event_free(desc.flush_ev);
	desc.flush_ev = NULL;
	if (desc.turn_ev != NULL)
		event_free(desc.turn_ev);
	desc.turn_ev = NULL;
	free(desc.adopt);
	desc.adopt = NULL;
	pidmap_free(desc.members);
	desc.members = NULL;
	desc.method = DESC_NONE;
	desc.base = NULL;
}

/* ---- groups ------------------------------------------------------------ */

/*
 * A group for generation number of program: cb(arg) runs, from the event
 * loop, when it may have emptied. NULL and *cause if it cannot be made.
 */
struct desc_group *
desc_group_new(const char *program, unsigned int number, desc_changed_cb cb,
    void *arg, char **cause)
{
	struct desc_group *g;
	char *events;

	if ((g = calloc(1, sizeof(*g))) == NULL) {
		cause_set(cause, "out of memory");
		return NULL;
	}
	g->procs_fd = -1;
	g->dir_fd = -1;
	g->wd = -1;
	g->cb = cb;
	g->arg = arg;
	g->created = procfs_now_ticks();
	if (desc.method == DESC_CGROUP) {
		if (asprintf(&g->cgroup, "%s/gen%u.%s", desc.top, number,
		    program) == -1) {
			g->cgroup = NULL;
			cause_set(cause, "out of memory");
			goto fail;
		}
		if ((desc.adopted ? cgroup_use(g->cgroup, cause) :
		    cgroup_make(g->cgroup, cause)) == -1) {
			free(g->cgroup);
			g->cgroup = NULL;
			goto fail;
		}
		if ((g->procs_fd = cgroup_open_procs(g->cgroup, cause)) == -1 ||
		    (g->dir_fd = cgroup_open_dir(g->cgroup, cause)) == -1)
			goto fail;
		if ((events = cgroup_events_path(g->cgroup)) != NULL) {
			g->wd = inotify_add_watch(desc.inotify_fd, events,
			    IN_MODIFY);
			free(events);
		}
		if (g->wd == -1) {
			cause_set(cause, "cannot watch %s/cgroup.events: %s",
			    g->cgroup, strerror(errno));
			goto fail;
		}
	} else if (desc.method == DESC_SUBREAPER) {
		/* Orphans of the groups there are now are theirs, not ours. */
		desc_scan();
	}
	TAILQ_INSERT_TAIL(&desc.groups, g, entry);
	return g;
fail:
	if (g->procs_fd != -1)
		close(g->procs_fd);
	if (g->dir_fd != -1)
		close(g->dir_fd);
	if (g->cgroup != NULL)
		(void)cgroup_remove(g->cgroup);
	free(g->cgroup);
	free(g);
	return NULL;
}

/* Free a group (its processes are gone) and remove its cgroup. */
void
desc_group_free(struct desc_group *g)
{
	size_t i;

	if (g == NULL)
		return;
	TAILQ_REMOVE(&desc.groups, g, entry);
	while (g->nprocs > 0) {
		i = --g->nprocs;
		desc_unmap(g, g->procs[i].pid);
	}
	if (g->wd != -1)
		(void)inotify_rm_watch(desc.inotify_fd, g->wd);
	if (g->procs_fd != -1)
		close(g->procs_fd);
	if (g->dir_fd != -1)
		close(g->dir_fd);
	if (g->cgroup != NULL && cgroup_remove(g->cgroup) == -1 &&
	    errno != ENOENT)
		log_warn("cannot remove cgroup %s", g->cgroup);
	free(g->cgroup);
	free(g->procs);
	procfs_pids_free(&g->keys);
	free(g);
}

/*
 * The fd of the group's cgroup.procs, for a new worker to move itself in
 * before exec (it stays the group's), or -1.
 */
int
desc_group_procs_fd(const struct desc_group *g)
{
	return g == NULL ? -1 : g->procs_fd;
}

/*
 * The fd of the group's cgroup directory, for a new worker to be started
 * in (it stays the group's), or -1.
 */
int
desc_group_dir_fd(const struct desc_group *g)
{
	return g == NULL ? -1 : g->dir_fd;
}

/* A worker of the group was just forked. */
void
desc_group_add(struct desc_group *g, pid_t pid)
{
	if (g == NULL)
		return;
	if (desc.method == DESC_PROC)
		desc_track(g, pid, 0);
	else if (desc.method == DESC_SUBREAPER && desc_track_stat(g, pid) == -1)
		desc_track(g, pid, 0);
}

/*
 * The group's live processes, workers included, as up to date as need
 * asks (DESC_RECENT: one that exited some ms ago may be among them): fills
 * up to max pids, returns how many there are.
 */
size_t
desc_group_pids(struct desc_group *g, enum desc_need need, pid_t *pids,
    size_t max)
{
	size_t i;

	if (g == NULL)
		return 0;
	if (g->cgroup != NULL)
		return cgroup_pids(g->cgroup, pids, max);
	desc_refresh(need);
	for (i = 0; i < g->nprocs && i < max; i++)
		pids[i] = g->procs[i].pid;
	return g->nprocs;
}

/*
 * Tell whether no process of the group is left. One live member settles
 * it (subreaper: those found exited before it are forgotten); with none
 * left, a walk looks for those they started.
 */
bool
desc_group_empty(struct desc_group *g)
{
	if (g == NULL)
		return true;
	if (g->cgroup != NULL)
		return cgroup_populated(g->cgroup) == 0;
	if (desc.method == DESC_PROC)
		desc_nl_read();
	else if (desc.method == DESC_SUBREAPER) {
		if (desc_prune_until_alive(g))
			return false;
		/* What they started before they went: walk now. */
		desc_scan();
	}
	return g->nprocs == 0;
}

/* SIGKILL every process of the group, and whatever joins it from now on. */
void
desc_group_kill(struct desc_group *g)
{
	size_t i;

	if (g == NULL)
		return;
	if (g->cgroup != NULL) {
		cgroup_kill(g->cgroup);
		return;
	}
	g->killing = true;
	desc_refresh(DESC_FRESH);
	for (i = 0; i < g->nprocs; i++)
		kill(g->procs[i].pid, SIGKILL);
}

/* How many walks of /proc the subreaper way has made (for tests). */
unsigned long
desc_scans(void)
{
	return desc.scans;
}

/* For tests: tell turns and time walks of /proc by fn (NULL: the system's). */
void
desc_set_clock(desc_clock_fn fn)
{
	desc.clock = fn;
}
