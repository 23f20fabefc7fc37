/*
 * notify.c: receive sd_notify messages from workers.
 *
 * NOTIFY_LANES datagram sockets per supervisor (its lanes), in a
 * directory beside the control socket that the supervisor owns while it
 * holds the control lock:
 *
 *	DIR/		0711, the supervisor's: anyone may pass, nobody may list
 *	DIR/EUID/	0700, the supervisor's; the lanes are bound here as
 *	DIR/EUID/notify	0666, lane 0, for workers running as the
 *			supervisor's uid, and lane1 ... lane15 beside it
 *	DIR/UID/	0500, owned by UID: only that uid (and root) may pass
 *	DIR/UID/notify	a hard link to the same socket (and lane1 ...), for
 *			workers that run as UID (user = in the config; root
 *			only)
 *
 * So exactly the supervisor's uid, root and the workers' uids can reach
 * the socket: no other user can send to it, let alone fill its queue, and
 * clients that cannot use abstract names (Ruby's sd_notify) can. A
 * directory per uid rather than one group-readable directory: a group may
 * have other members, a uid has none. SO_PASSCRED makes the kernel attach
 * the sender's pid and uid to every message: a message from any other uid
 * is ignored, and the supervisor trusts the pid, never the message text.
 * Any fds sent along (FDSTORE=1) never reach the supervisor: no room is
 * given for them, so the kernel drops them.
 *
 * A socket's queue holds net.unix.max_dgram_qlen datagrams (10 by
 * default); past that a worker that sends without waiting (non-blocking)
 * loses its message. Workers that start together send together, faster
 * than a supervisor kept off the CPU by them for a few ms reads: worker i
 * is given lane i % NOTIFY_LANES (notify_lane_path), so that they send to
 * as many queues. One epoll fd holds every lane, for the loop. While
 * workers start, between turns of the loop, the supervisor takes what the
 * queues hold before each start and while a start waits (notify_stash):
 * the messages wait in memory, in order, and are handled at the loop's
 * next turn, before any read after them. A worker sends to one lane, so
 * its own messages keep their order.
 */
#include "autoconf.h"

#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cause.h"
#include "fdpass.h"
#include "log.h"
#include "loopstat.h"
#include "notify.h"
#include "state.h"
#include "unixaddr.h"

#define NOTIFY_MSG_MAX	4096

/* A turn of the loop handles messages for this long at most. */
#define NOTIFY_SLICE_US	2000

/* Messages taken from the queue and not handled yet, at most. */
#define NOTIFY_STASH_MAX	4096

/* The longest "/UID/notify" after DIR (a lane's name is no longer). */
#define NOTIFY_TAIL_MAX	(sizeof("/4294967295/notify") - 1)

/* Lane 0's name, and the others' ("lane1" ...). */
#define NOTIFY_NAME	"notify"
#define NOTIFY_LANE_PREFIX "lane"

/* A message taken from the queue, to be handled at the loop's next turn. */
struct notify_stashed {
	STAILQ_ENTRY(notify_stashed) entry;
	pid_t		 pid;		/* its sender, as the kernel said */
	pid_t		 pgid;		/* the sender's process group when it
					   was taken, or -1 */
	size_t		 len;
	char		 msg[];
};

/* A worker uid other than the supervisor's, and its way to the socket. */
struct notify_uid {
	SLIST_ENTRY(notify_uid) entry;
	uid_t		 uid;
	char		*path;		/* DIR/UID/notify */
};

struct notify {
	int		 lane[NOTIFY_LANES];	/* the sockets, or -1 */
	int		 epfd;		/* every lane: readable if one is */
	struct event	*ev;		/* epfd readable */
	struct event	*more_ev;	/* the stash's rest, next turn */
	notify_cb	 cb;
	void		*arg;
	char		*dir;		/* DIR, as we made it: */
	dev_t		 dev;
	ino_t		 ino;
	char		*path;		/* DIR/EUID/notify, lane 0's */
	SLIST_HEAD(, notify_uid) uids;
	STAILQ_HEAD(, notify_stashed) stash;	/* oldest first */
	size_t		 nstashed;
};

/*
 * Split a message into KEY=VALUE lines and call line_cb for each; lines
 * without '=' or with a NUL byte make the whole message invalid (-1).
 */
int
notify_parse(const char *msg, size_t len,
    void (*line_cb)(const char *, const char *, void *), void *arg)
{
	char copy[NOTIFY_MSG_MAX + 1], *line, *next, *eq;

	if (len == 0 || len > NOTIFY_MSG_MAX || memchr(msg, '\0', len) != NULL)
		return -1;
	memcpy(copy, msg, len);
	copy[len] = '\0';
	/* Check every line first: a bad message is ignored whole. */
	for (line = copy; *line != '\0'; line = next) {
		next = line + strcspn(line, "\n");
		eq = memchr(line, '=', (size_t)(next - line));
		if (next != line && (eq == NULL || eq == line))
			return -1;
		if (*next == '\n')
			next++;
	}
	for (line = copy; *line != '\0'; line = next) {
		next = line + strcspn(line, "\n");
		if (*next == '\n')
			*next++ = '\0';
		if (*line == '\0')
			continue;
		eq = strchr(line, '=');
		*eq = '\0';
		line_cb(line, eq + 1, arg);
	}
	return 0;
}

struct notify_dispatch {
	struct notify	*n;
	pid_t		 pid;
	pid_t		 pgid;
};

/* Hand one parsed line to the supervisor's callback. */
static void
notify_line(const char *key, const char *value, void *arg)
{
	struct notify_dispatch *d = arg;

	d->n->cb(d->pid, d->pgid, key, value, d->n->arg);
}

/* The entry for a worker uid, if it has one. */
static struct notify_uid *
notify_find_uid(const struct notify *n, uid_t uid)
{
	struct notify_uid *u;

	SLIST_FOREACH(u, &n->uids, entry)
		if (u->uid == uid)
			return u;
	return NULL;
}

/* Whether a message from uid counts: ours, root's, or a worker uid's. */
static bool
notify_uid_allowed(const struct notify *n, uid_t uid)
{
	return uid == geteuid() || uid == 0 || notify_find_uid(n, uid) != NULL;
}

/*
 * Take the next datagram from lane fd into buf (NOTIFY_MSG_MAX + 1
 * bytes): 1 with its sender and length if it is one to handle, 0 if it
 * was one to ignore (said at debug level), -1 when none is left. The fds
 * a message may carry are given no room: they never reach the supervisor.
 */
static int
notify_recv(struct notify *n, int fd, char *buf, pid_t *pid, size_t *len)
{
	struct fdpass_in in;
	struct iovec iov;
	ssize_t got;

	memset(&in, 0, sizeof(in));
	in.want_cred = true;
	iov.iov_base = buf;
	iov.iov_len = NOTIFY_MSG_MAX + 1;
	got = fdpass_recv(fd, &iov, 1, &in, MSG_DONTWAIT | MSG_TRUNC);
	if (got == -1) {
		if (errno != EAGAIN && errno != EINTR)
			log_warn("notify socket: recvmsg");
		return -1;
	}
	if (!in.has_cred || in.cred.pid <= 0) {
		log_debug("notify socket: message without sender "
		    "credentials ignored");
		return 0;
	}
	if (!notify_uid_allowed(n, in.cred.uid)) {
		log_debug("notify socket: message from pid %d ignored: "
		    "uid %u runs no worker", (int)in.cred.pid,
		    (unsigned)in.cred.uid);
		return 0;
	}
	if (in.truncated)
		log_debug("notify socket: fds sent by pid %d dropped "
		    "(handoff keeps no fds for workers)", (int)in.cred.pid);
	if ((size_t)got > NOTIFY_MSG_MAX || (in.msg_flags & MSG_TRUNC)) {
		log_debug("notify socket: oversized message from pid %d "
		    "ignored", (int)in.cred.pid);
		return 0;
	}
	*pid = in.cred.pid;
	*len = (size_t)got;
	return 1;
}

/* Hand a message's lines to the supervisor's callback. */
static void
notify_handle(struct notify *n, pid_t pid, pid_t pgid, const char *msg,
    size_t len)
{
	struct notify_dispatch d;

	d.n = n;
	d.pid = pid;
	d.pgid = pgid;
	if (notify_parse(msg, len, notify_line, &d) == -1)
		log_debug("notify socket: malformed message from pid %d "
		    "ignored", (int)pid);
}

/*
 * Handle the oldest message taken earlier, if any; false if none was
 * left. It leaves the stash before it is handled: what handling it does
 * may take more (a worker started again), which waits behind the rest.
 */
static bool
notify_handle_next(struct notify *n)
{
	struct notify_stashed *m;

	if ((m = STAILQ_FIRST(&n->stash)) == NULL)
		return false;
	STAILQ_REMOVE_HEAD(&n->stash, entry);
	n->nstashed--;
	notify_handle(n, m->pid, m->pgid, m->msg, m->len);
	free(m);
	return true;
}

static int	notify_take(struct notify *n);

/* Microseconds of CLOCK_MONOTONIC. */
static int64_t
notify_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/*
 * Event callback (the lanes readable, or more_ev): the messages taken
 * earlier, then every datagram pending on the lanes. Handling a message
 * takes longer than reading one (a READY=1 is logged, and told to those
 * following a reload): the queues are emptied into memory before each,
 * so that workers sending meanwhile find room in them. After
 * NOTIFY_SLICE_US the rest waits for the next turn of the loop (more_ev),
 * so that workers sending on and on do not hold it. What comes after the
 * last look makes the lanes readable again, for the next turn.
 */
static void
notify_read(evutil_socket_t fd, short what, void *arg)
{
	struct notify *n = arg;
	struct timeval now = { 0, 0 };
	int64_t began = notify_now_us();

	(void)fd;
	(void)what;
	loopstat_mark("notify");
	do
		(void)notify_take(n);
	while (notify_handle_next(n) &&
	    notify_now_us() - began < NOTIFY_SLICE_US);
	if (!STAILQ_EMPTY(&n->stash) && n->more_ev != NULL &&
	    evtimer_add(n->more_ev, &now) == -1)
		while (notify_handle_next(n))
			continue;
}

/*
 * Take what lane fd's queue holds now into the stash, up to
 * NOTIFY_STASH_MAX waiting there: past that, messages wait in the queue.
 * Returns how many were taken.
 */
static int
notify_take_lane(struct notify *n, int fd)
{
	char buf[NOTIFY_MSG_MAX + 1];
	struct notify_stashed *m;
	size_t len;
	pid_t pid;
	int rc, taken = 0;

	while (n->nstashed < NOTIFY_STASH_MAX &&
	    (rc = notify_recv(n, fd, buf, &pid, &len)) != -1) {
		if (rc == 0)
			continue;
		if ((m = malloc(sizeof(*m) + len)) == NULL) {
			/* Not handled here: the caller may not be the loop. */
			log_warnx("notify socket: a message from pid %d lost "
			    "(out of memory)", (int)pid);
			continue;
		}
		m->pid = pid;
		/*
		 * Looked at now, while a sender that waits until its next
		 * message is read (systemd-notify's BARRIER=1) is still there.
		 */
		m->pgid = getpgid(pid);
		m->len = len;
		memcpy(m->msg, buf, len);
		STAILQ_INSERT_TAIL(&n->stash, m, entry);
		n->nstashed++;
		taken++;
	}
	return taken;
}

/*
 * Take what every lane's queue holds now into the stash (the lanes the
 * epoll fd says are readable, again while a look at them takes some), up
 * to NOTIFY_STASH_MAX waiting there. A lane whose reads fail stays
 * readable: it is left for the loop's next turn. Returns how many were
 * taken.
 */
static int
notify_take(struct notify *n)
{
	struct epoll_event ready[NOTIFY_LANES];
	int nready, i, round, taken = 0;

	do {
		if ((nready = epoll_wait(n->epfd, ready, NOTIFY_LANES, 0)) <= 0)
			break;
		for (i = round = 0; i < nready; i++)
			round += notify_take_lane(n,
			    n->lane[ready[i].data.u32]);
		taken += round;
	} while (round > 0 && n->nstashed < NOTIFY_STASH_MAX);
	return taken;
}

/*
 * Take what the lanes' queues hold now into memory, without handling
 * it, so that their room is free again for the workers' next messages: the
 * loop handles them at its next turn (notify_read), in order. Returns how
 * many were taken (spawn_meanwhile's callback).
 */
int
notify_stash(struct notify *n)
{
	int taken = notify_take(n);

	if (taken > 0)
		event_active(n->ev, EV_READ, 0);
	return taken;
}

/*
 * Handle now what notify_stash took and the loop has not handled yet:
 * before an upgrade's exec, which memory does not survive.
 */
void
notify_handle_taken(struct notify *n)
{
	if (n != NULL)
		while (notify_handle_next(n))
			continue;
}

/* An fd readable while a lane is, for spawn_meanwhile. */
int
notify_fd(const struct notify *n)
{
	return n->epfd;
}

/*
 * The NOTIFY_SOCKET of worker number worker, whose lane 0 is at path
 * (notify_socket_path): its lane's, in buf (or path itself).
 */
const char *
notify_lane_path(const char *path, int worker, char *buf, size_t size)
{
	const char *slash = strrchr(path, '/');
	int lane = worker % NOTIFY_LANES, n;

	if (lane <= 0 || slash == NULL)
		return path;
	n = snprintf(buf, size, "%.*s/" NOTIFY_LANE_PREFIX "%d",
	    (int)(slash - path), path, lane);
	return n < 0 || (size_t)n >= size ? path : buf;
}

/* A lane's name in a DIR/UID/ directory, in buf. */
static const char *
notify_lane_name(int lane, char *buf, size_t size)
{
	if (lane == 0)
		snprintf(buf, size, NOTIFY_NAME);
	else
		snprintf(buf, size, NOTIFY_LANE_PREFIX "%d", lane);
	return buf;
}

/*
 * Empty the directory open at fd, and its subdirectories down to depth
 * more levels, without following symlinks; closes fd. -1 with errno if
 * something cannot be removed (a deeper tree than a supervisor makes).
 */
static int
notify_empty_dir(int fd, int depth)
{
	struct dirent *e;
	DIR *d;
	int sub, rc = 0, saved;

	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return -1;
	}
	while (rc == 0 && (e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (unlinkat(dirfd(d), e->d_name, 0) == 0 || errno == ENOENT)
			continue;
		if (errno != EISDIR || depth == 0 ||
		    (sub = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY |
		    O_NOFOLLOW | O_CLOEXEC)) == -1 ||
		    notify_empty_dir(sub, depth - 1) == -1 ||
		    unlinkat(dirfd(d), e->d_name, AT_REMOVEDIR) == -1)
			rc = -1;
	}
	saved = errno;
	closedir(d);
	errno = saved;
	return rc;
}

/*
 * Remove dir and what a supervisor puts in it (UID/notify), without
 * following symlinks; a missing dir is fine. -1 with errno on failure.
 */
static int
notify_remove_dir(const char *dir)
{
	int fd;

	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd == -1) {
		if (errno == ENOTDIR || errno == ELOOP)
			return unlink(dir);
		return errno == ENOENT ? 0 : -1;
	}
	if (notify_empty_dir(fd, 1) == -1)
		return -1;
	return rmdir(dir) == -1 && errno != ENOENT ? -1 : 0;
}

/*
 * Make DIR (0711) and DIR/EUID (0700) afresh. A DIR already there was
 * left by a supervisor that died on this control path: the caller holds
 * the control lock, so it is nobody's now.
 */
static int
notify_make_dir(struct notify *n, const char **stage)
{
	struct stat st;
	char name[16];
	int dfd, rc;

	*stage = "cannot remove what a supervisor left there";
	if (notify_remove_dir(n->dir) == -1)
		return -1;
	*stage = "mkdir";
	if (mkdir(n->dir, 0700) == -1)
		return -1;
	dfd = open(n->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd == -1)
		return -1;
	snprintf(name, sizeof(name), "%u", (unsigned)geteuid());
	rc = fstat(dfd, &st) == -1 || fchmod(dfd, 0711) == -1 ||
	    mkdirat(dfd, name, 0700) == -1 ? -1 : 0;
	close(dfd);
	if (rc == -1)
		return -1;
	n->dev = st.st_dev;
	n->ino = st.st_ino;
	return 0;
}

/*
 * Link lane's socket (DIR/EUID/NAME) into uid's directory (DIR/UID/NAME),
 * dfd being DIR. -1 with errno on failure.
 */
static int
notify_link_lane(int dfd, uid_t uid, int lane)
{
	char name[16], own[48], link[48];

	notify_lane_name(lane, name, sizeof(name));
	snprintf(own, sizeof(own), "%u/%s", (unsigned)geteuid(), name);
	snprintf(link, sizeof(link), "%u/%s", (unsigned)uid, name);
	/* One left by an earlier restore that failed (see notify_open_lane). */
	if (unlinkat(dfd, link, 0) == -1 && errno != ENOENT)
		return -1;
	return linkat(dfd, own, dfd, link, 0);
}

/* Have the epoll fd watch lane's socket: -1 with errno if it cannot. */
static int
notify_watch_lane(struct notify *n, int lane)
{
	struct epoll_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.u32 = (uint32_t)lane;
	return epoll_ctl(n->epfd, EPOLL_CTL_ADD, n->lane[lane], &ev);
}

/*
 * Make lane's socket, bind it in DIR/EUID (0666: anyone the directories
 * let through may send), link it into every worker uid's directory and add
 * it to the epoll fd. -1 with *stage and errno on failure (the socket, if
 * made, is n->lane[lane]: notify_close closes it).
 */
static int
notify_open_lane(struct notify *n, int lane, const char **stage)
{
	struct sockaddr_un sun;
	struct notify_uid *u;
	socklen_t sunlen;
	char name[16], path[UNIXADDR_PATH_MAX + 1];
	int one = 1, bufsize = 256 * 1024, fd, dfd, rc = 0;

	*stage = "socket";
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if ((n->lane[lane] = fd) == -1)
		return -1;
	*stage = "setsockopt";
	if (setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) == -1)
		return -1;
	(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bufsize, sizeof(bufsize));
	*stage = "bind";
	snprintf(path, sizeof(path), "%s/%u/%s", n->dir, (unsigned)geteuid(),
	    notify_lane_name(lane, name, sizeof(name)));
	if (unixaddr_make(path, UNIXADDR_FILE, &sun, &sunlen, stage) == -1)
		return -1;
	/*
	 * A lane made by a restore that failed is left behind when the old
	 * image is exec'd back (its fd closed by the exec, its file not): it
	 * is nobody's (the caller holds the control lock, and a lane the
	 * state names is never made), so it goes, or no later upgrade could
	 * bind it.
	 */
	*stage = "unlink";
	if (unlink(path) == -1 && errno != ENOENT)
		return -1;
	*stage = "bind";
	if (bind(fd, (struct sockaddr *)&sun, sunlen) == -1)
		return -1;
	*stage = "chmod";
	if (chmod(path, 0666) == -1)
		return -1;
	*stage = "link";
	if (!SLIST_EMPTY(&n->uids)) {
		dfd = open(n->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
		    O_CLOEXEC);
		if (dfd == -1)
			return -1;
		SLIST_FOREACH(u, &n->uids, entry)
			if (rc == 0 && notify_link_lane(dfd, u->uid, lane) == -1)
				rc = -1;
		close(dfd);
		if (rc == -1)
			return -1;
	}
	*stage = "epoll_ctl";
	return notify_watch_lane(n, lane);
}

/* A notify with no socket yet, or NULL (out of memory). */
static struct notify *
notify_alloc(notify_cb cb, void *arg)
{
	struct notify *n;
	int i;

	if ((n = calloc(1, sizeof(*n))) == NULL)
		return NULL;
	n->cb = cb;
	n->arg = arg;
	n->epfd = -1;
	for (i = 0; i < NOTIFY_LANES; i++)
		n->lane[i] = -1;
	SLIST_INIT(&n->uids);
	STAILQ_INIT(&n->stash);
	return n;
}

/* Watch the epoll fd from the loop: -1 if it cannot be. */
static int
notify_watch(struct notify *n, struct event_base *base)
{
	n->ev = event_new(base, n->epfd, EV_READ | EV_PERSIST, notify_read, n);
	n->more_ev = evtimer_new(base, notify_read, n);
	return n->ev == NULL || n->more_ev == NULL ||
	    event_add(n->ev, NULL) == -1 ? -1 : 0;
}

/*
 * Open the notify sockets in dir (see the top of this file) and watch
 * them from the event loop. The caller holds the lock that makes dir its
 * own.
 */
struct notify *
notify_open(struct event_base *base, const char *dir, notify_cb cb, void *arg,
    char **cause)
{
	const char *stage = "epoll_create1";
	struct notify *n;
	int lane = 0;

	if ((n = notify_alloc(cb, arg)) == NULL) {
		*cause = strdup("out of memory");
		return NULL;
	}
	if ((n->dir = strdup(dir)) == NULL ||
	    asprintf(&n->path, "%s/%u/" NOTIFY_NAME, dir,
	    (unsigned)geteuid()) == -1) {
		n->path = NULL;
		*cause = strdup("out of memory");
		notify_close(n);
		return NULL;
	}
	if (strlen(dir) + NOTIFY_TAIL_MAX > UNIXADDR_PATH_MAX) {
		cause_set(cause, "notify socket %s/UID/notify: path too long "
		    "(the control socket's path must be shorter)", dir);
		notify_close(n);
		return NULL;
	}
	if ((n->epfd = epoll_create1(EPOLL_CLOEXEC)) == -1 ||
	    notify_make_dir(n, &stage) == -1)
		goto fail;
	for (lane = 0; lane < NOTIFY_LANES; lane++)
		if (notify_open_lane(n, lane, &stage) == -1)
			goto fail;
	stage = "event";
	if (notify_watch(n, base) == -1)
		goto fail;
	return n;
fail:
	cause_set(cause, "notify socket %s (lane %d): %s: %s", n->path, lane,
	    stage, strerror(errno));
	notify_close(n);
	return NULL;
}

/*
 * Let workers running as uid reach the sockets: DIR/UID (0500, theirs)
 * holding a hard link to each lane. Nothing to do for the supervisor's
 * own uid, nor when it is not root (its workers can only run as itself).
 */
int
notify_allow_uid(struct notify *n, uid_t uid, char **cause)
{
	struct notify_uid *u;
	char name[16], lname[16];
	const char *stage = "mkdir";
	int dfd = -1, sub = -1, saved, lane = 0;

	if (uid == geteuid() || geteuid() != 0 || notify_find_uid(n, uid) != NULL)
		return 0;
	if ((u = calloc(1, sizeof(*u))) == NULL ||
	    asprintf(&u->path, "%s/%u/" NOTIFY_NAME, n->dir,
	    (unsigned)uid) == -1) {
		free(u);
		*cause = strdup("out of memory");
		return -1;
	}
	u->uid = uid;
	snprintf(name, sizeof(name), "%u", (unsigned)uid);
	dfd = open(n->dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd == -1 || mkdirat(dfd, name, 0700) == -1)
		goto fail;
	stage = "link";
	for (lane = 0; lane < NOTIFY_LANES; lane++)
		if (n->lane[lane] != -1 &&
		    notify_link_lane(dfd, uid, lane) == -1)
			goto fail;
	stage = "chown";
	sub = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (sub == -1 || fchown(sub, uid, (gid_t)-1) == -1 ||
	    fchmod(sub, 0500) == -1)
		goto fail;
	close(sub);
	close(dfd);
	SLIST_INSERT_HEAD(&n->uids, u, entry);
	return 0;
fail:
	saved = errno;
	cause_set(cause, "notify socket %s for uid %u: %s: %s", u->path,
	    (unsigned)uid, stage, strerror(saved));
	if (sub != -1)
		close(sub);
	if (dfd != -1) {
		if ((sub = openat(dfd, name, O_RDONLY | O_DIRECTORY |
		    O_NOFOLLOW | O_CLOEXEC)) != -1) {
			for (lane = 0; lane < NOTIFY_LANES; lane++)
				unlinkat(sub, notify_lane_name(lane, lname,
				    sizeof(lname)), 0);
			close(sub);
		}
		unlinkat(dfd, name, AT_REMOVEDIR);
		close(dfd);
	}
	free(u->path);
	free(u);
	return -1;
}

/*
 * The NOTIFY_SOCKET value for workers running as uid (after
 * notify_allow_uid), lane 0's (notify_lane_path gives a worker's own);
 * the string lives as long as n.
 */
const char *
notify_socket_path(const struct notify *n, uid_t uid)
{
	struct notify_uid *u = notify_find_uid(n, uid);

	return u != NULL ? u->path : n->path;
}

/* Close the notify sockets and remove their directory. */
void
notify_close(struct notify *n)
{
	struct notify_stashed *m;
	struct notify_uid *u;
	struct stat st;
	int i;

	if (n == NULL)
		return;
	while ((m = STAILQ_FIRST(&n->stash)) != NULL) {
		STAILQ_REMOVE_HEAD(&n->stash, entry);
		free(m);
	}
	if (n->ev != NULL)
		event_free(n->ev);
	if (n->more_ev != NULL)
		event_free(n->more_ev);
	for (i = 0; i < NOTIFY_LANES; i++)
		if (n->lane[i] != -1)
			close(n->lane[i]);
	if (n->epfd != -1)
		close(n->epfd);
	if (n->ino != 0 && lstat(n->dir, &st) == 0 && st.st_dev == n->dev &&
	    st.st_ino == n->ino && notify_remove_dir(n->dir) == -1)
		log_warn("notify directory %s: cannot remove it", n->dir);
	while ((u = SLIST_FIRST(&n->uids)) != NULL) {
		SLIST_REMOVE_HEAD(&n->uids, entry);
		free(u->path);
		free(u);
	}
	free(n->dir);
	free(n->path);
	free(n);
}

/*
 * Write the notify sockets and their directories as records (an upgrade):
 * lane 0 as "notify", the others as "notify_lane".
 */
void
notify_save(const struct notify *n, struct state_writer *w)
{
	struct notify_uid *u;
	int i;

	state_rec(w, "notify");
	state_fd(w, "fd", n->lane[0]);
	state_str(w, "dir", n->dir);
	state_str(w, "path", n->path);
	state_int(w, "dev", (long long)n->dev);
	state_int(w, "ino", (long long)n->ino);
	for (i = 1; i < NOTIFY_LANES; i++) {
		state_rec(w, "notify_lane");
		state_int(w, "lane", i);
		state_fd(w, "fd", n->lane[i]);
	}
	SLIST_FOREACH(u, &n->uids, entry) {
		state_rec(w, "notify_uid");
		state_int(w, "uid", (long long)u->uid);
		state_str(w, "path", u->path);
	}
}

/*
 * Take the uids and the lanes beyond 0 from the state's records into n
 * (the fds are the old image's, across its exec): a lane out of range,
 * without an fd, or given twice is refused. -1 with *cause.
 */
static int
notify_restore_records(struct notify *n, const struct state *st,
    char **cause)
{
	const struct state_rec *r;
	struct notify_uid *u;
	long long lane, fd;
	size_t i;

	for (i = 0; i < st->nrecs; i++) {
		r = &st->recs[i];
		if (strcmp(r->kind, "notify_lane") == 0) {
			lane = state_get_int(r, "lane", -1);
			fd = state_get_int(r, "fd", -1);
			if (lane < 1 || lane >= NOTIFY_LANES || fd < 0 ||
			    fd > INT_MAX || n->lane[lane] != -1) {
				*cause = strdup("the state's notify lanes do "
				    "not fit");
				return -1;
			}
			n->lane[lane] = (int)fd;
			continue;
		}
		if (strcmp(r->kind, "notify_uid") != 0 ||
		    state_get(r, "path") == NULL)
			continue;
		if ((u = calloc(1, sizeof(*u))) == NULL)
			goto nomem;
		u->uid = (uid_t)state_get_int(r, "uid", 0);
		if ((u->path = strdup(state_get(r, "path"))) == NULL) {
			free(u);
			goto nomem;
		}
		SLIST_INSERT_HEAD(&n->uids, u, entry);
	}
	return 0;
nomem:
	*cause = strdup("out of memory");
	return -1;
}

/*
 * Serve the notify sockets the state names (after an upgrade's exec); the
 * lanes a supervisor before them did not have are made now. NULL with
 * *cause; the sockets the state names stay open then.
 */
struct notify *
notify_restore(struct event_base *base, const struct state *st, notify_cb cb,
    void *arg, char **cause)
{
	const struct state_rec *r = NULL;
	const char *stage;
	struct notify *n;
	unsigned int made = 0;
	size_t i;
	int lane;

	for (i = 0; i < st->nrecs && r == NULL; i++)
		if (strcmp(st->recs[i].kind, "notify") == 0)
			r = &st->recs[i];
	if (r == NULL || state_get(r, "dir") == NULL ||
	    state_get(r, "path") == NULL || state_get_int(r, "fd", -1) < 0 ||
	    state_get_int(r, "fd", -1) > INT_MAX) {
		*cause = strdup("the state has no notify socket");
		return NULL;
	}
	if ((n = notify_alloc(cb, arg)) == NULL) {
		*cause = strdup("out of memory");
		return NULL;
	}
	n->lane[0] = (int)state_get_int(r, "fd", -1);
	n->dir = strdup(state_get(r, "dir"));
	n->path = strdup(state_get(r, "path"));
	n->dev = (dev_t)state_get_int(r, "dev", 0);
	n->ino = (ino_t)state_get_int(r, "ino", 0);
	if (n->dir == NULL || n->path == NULL) {
		*cause = strdup("out of memory");
		goto fail;
	}
	if (notify_restore_records(n, st, cause) == -1)
		goto fail;
	if ((n->epfd = epoll_create1(EPOLL_CLOEXEC)) == -1) {
		cause_set(cause, "notify socket: epoll_create1: %s",
		    strerror(errno));
		goto fail;
	}
	for (lane = 0; lane < NOTIFY_LANES; lane++) {
		if (n->lane[lane] != -1 && notify_watch_lane(n, lane) == -1) {
			cause_set(cause, "notify socket lane %d: epoll_ctl: %s",
			    lane, strerror(errno));
			goto fail;
		}
	}
	/* A lane the state has not: made now, as notify_open makes it. */
	for (lane = 1; lane < NOTIFY_LANES; lane++)
		if (n->lane[lane] == -1) {
			made |= 1u << lane;
			if (notify_open_lane(n, lane, &stage) == -1) {
				cause_set(cause, "notify socket lane %d: %s: %s",
				    lane, stage, strerror(errno));
				goto fail;
			}
		}
	if (notify_watch(n, base) == -1) {
		*cause = strdup("out of memory");
		goto fail;
	}
	return n;
fail:
	/* What this process made is let go; the state's sockets stay open. */
	for (lane = 0; lane < NOTIFY_LANES; lane++) {
		if ((made & (1u << lane)) && n->lane[lane] != -1)
			close(n->lane[lane]);
		n->lane[lane] = -1;
	}
	/* Nor is the directory removed. */
	n->ino = 0;
	notify_close(n);
	return NULL;
}
