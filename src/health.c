/*
 * health.c: notice at once when a listener is shut down by a process that
 * holds a copy of it, and repair it.
 *
 * Servers call shutdown() on their listening socket on a graceful stop, to
 * wake their threads blocked in accept(). On an inherited listener that
 * stops the one socket every generation shares: the port refuses every
 * connection from then on. So the supervisor watches the listeners in
 * force through an epoll fd of its own, registered in the event loop as
 * one fd. Each listener is in it with EPOLLRDHUP only (and EPOLLONESHOT):
 * an incoming connection raises EPOLLIN, which is not asked for and wakes
 * nobody, so watching costs no wakeup, idle or busy. A TCP listener shut
 * down goes to the closed state and raises EPOLLHUP (always reported); a
 * unix one raises EPOLLRDHUP (SHUT_RD), and EPOLLHUP too (SHUT_RDWR).
 *
 * A TCP listener listens again on the same socket, so the workers' copies
 * work again (cleared first of what a second shutdown() leaves on it:
 * listener.c, listener_unshut). A unix one cannot (it refuses connections whatever listen()
 * says): a fresh socket takes its place at its path, and the owner starts
 * new workers on it. A repair that fails is tried again with a backoff of
 * HEALTH_RETRY_MIN_MS doubling to HEALTH_RETRY_MAX_MS, while it is down.
 */
#include "autoconf.h"

#include <errno.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/queue.h>
#include <unistd.h>

#include "cause.h"
#include "hashmap.h"
#include "health.h"
#include "listener.h"
#include "log.h"
#include "loopstat.h"
#include "parse.h"

#define HEALTH_EVENTS		16	/* read from the epoll fd at a time */
#define HEALTH_RETRY_MIN_MS	1000
#define HEALTH_RETRY_MAX_MS	(30 * 1000)

/* One listener watched, and what became of it. */
struct health_watch {
	TAILQ_ENTRY(health_watch) entry;
	struct listener	*l;		/* referenced */
	size_t		 slot;		/* per-slot listener: its socket's slot */
	int		 fd;		/* in the epoll set, or -1 */
	bool		 down;		/* found shut down, not repaired yet */
	bool		 kept;		/* in the set health_watch is given */
	unsigned int	 repairs;
	unsigned int	 failures;	/* repairs failed in a row */
	struct health_key {
		const struct listener *l;
		size_t	 slot;
	}		 key;		/* in by_listener */
};
TAILQ_HEAD(health_watch_list, health_watch);

struct health {
	int		 epfd;
	struct event	*ev;		/* epfd readable */
	struct event	*retry;		/* repairs that failed, again */
	uint64_t	 retry_ms;
	struct health_watch_list watches;
	struct hashmap	*by_listener;	/* listener pointer and slot -> watch */
	health_cb	 cb;
	void		*cb_arg;
};

/* Put a watch's listener in the epoll set, armed for one shutdown. */
static void
health_arm(struct health *h, struct health_watch *w)
{
	struct epoll_event ev;
	int fd = listener_slot_fd(w->l, (unsigned int)w->slot);
	int op = w->fd == fd ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;

	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLRDHUP | EPOLLONESHOT;
	ev.data.ptr = w;
	if (epoll_ctl(h->epfd, op, fd, &ev) == -1) {
		log_warn("listener %s: %s: cannot watch it for shutdown",
		    w->l->name, w->l->bound);
		return;
	}
	w->fd = fd;
}

/* Take a watch's listener out of the epoll set (before its fd closes). */
static void
health_disarm(struct health *h, struct health_watch *w)
{
	if (w->fd != -1)
		(void)epoll_ctl(h->epfd, EPOLL_CTL_DEL, w->fd, NULL);
	w->fd = -1;
}

/* Stop watching a listener and drop the reference. */
static void
health_unwatch(struct health *h, struct health_watch *w)
{
	health_disarm(h, w);
	TAILQ_REMOVE(&h->watches, w, entry);
	(void)hashmap_remove(h->by_listener, &w->key, sizeof(w->key));
	listener_unref(w->l);
	free(w);
}

/* Try again, after a backoff, the repairs that failed. */
static void
health_schedule_retry(struct health *h)
{
	struct timeval tv;

	if (evtimer_pending(h->retry, NULL))
		return;
	h->retry_ms = h->retry_ms == 0 ? HEALTH_RETRY_MIN_MS :
	    h->retry_ms * 2 > HEALTH_RETRY_MAX_MS ? HEALTH_RETRY_MAX_MS :
	    h->retry_ms * 2;
	tv = timeval_ms(h->retry_ms);
	if (evtimer_add(h->retry, &tv) == -1)
		log_warnx("cannot arm the timer to repair listeners again");
}

/*
 * Repair a slot of a per-slot listener found shut down (the kernel took
 * it out of its reuseport group); a socket the supervisor retired itself
 * is watched no more. Tell the owner what came of it.
 */
static void
health_repair_slot(struct health *h, struct health_watch *w)
{
	struct listener *l = w->l;
	char *cause = NULL;
	int rc;

	if (w->slot >= listener_nsockets(l) ||
	    listener_socket_fd(l, w->slot) != w->fd) {
		health_disarm(h, w);
		return;
	}
	w->down = true;
	if ((rc = listener_slot_repair(l, w->slot, &cause)) == -1) {
		if (w->failures++ == 0)
			h->cb(l, (long)w->slot, HEALTH_FAILED,
			    cause_text(cause), h->cb_arg);
		free(cause);
		health_schedule_retry(h);
		return;
	}
	w->down = false;
	w->failures = 0;
	if (rc == 0 && listener_slot_group_index(l, w->slot) < 0) {
		health_disarm(h, w);	/* retired */
		return;
	}
	health_arm(h, w);
	if (rc == 1) {
		w->repairs++;
		h->cb(l, (long)w->slot, HEALTH_RELISTENED, NULL,
		    h->cb_arg);
	}
}

/* Repair a listener found shut down; tell the owner what came of it. */
static void
health_repair(struct health *h, struct health_watch *w)
{
	struct listener *l = w->l;
	char *cause = NULL;
	bool rebound;

	if (listener_per_slot(l)) {
		health_repair_slot(h, w);
		return;
	}
	w->down = true;
	/* A unix listener's fd closes on repair: out of the set before. */
	if (l->addr.kind != ADDR_TCP)
		health_disarm(h, w);
	if (listener_repair(l, &rebound, &cause) == -1) {
		/* Said once per streak of failures. */
		if (w->failures++ == 0)
			h->cb(l, -1, HEALTH_FAILED, cause_text(cause),
			    h->cb_arg);
		free(cause);
		health_schedule_retry(h);
		return;
	}
	w->down = false;
	w->failures = 0;
	w->repairs++;
	health_arm(h, w);
	h->cb(l, -1, rebound ? HEALTH_REBOUND : HEALTH_RELISTENED, NULL,
	    h->cb_arg);
}

/* The epoll fd is readable: some listeners were shut down. */
static void
health_event(evutil_socket_t fd, short what, void *arg)
{
	struct health *h = arg;
	struct epoll_event evs[HEALTH_EVENTS];
	int i, n;

	(void)fd;
	(void)what;
	loopstat_mark("health");
	n = epoll_wait(h->epfd, evs, HEALTH_EVENTS, 0);
	if (n == -1 && errno != EINTR)
		log_warn("cannot read which listeners were shut down");
	for (i = 0; i < n; i++)
		health_repair(h, evs[i].data.ptr);
}

/* Timer: try the failed repairs again. */
static void
health_retry(evutil_socket_t fd, short what, void *arg)
{
	struct health *h = arg;
	struct health_watch *w, *next;
	bool left = false;

	(void)fd;
	(void)what;
	loopstat_mark("health");
	for (w = TAILQ_FIRST(&h->watches); w != NULL; w = next) {
		next = TAILQ_NEXT(w, entry);
		if (w->down)
			health_repair(h, w);
		left = left || w->down;
	}
	if (!left)
		h->retry_ms = 0;
}

/* Watch listeners for shutdown; events go to cb. NULL with *cause if not. */
struct health *
health_open(struct event_base *base, health_cb cb, void *arg, char **cause)
{
	struct health *h;

	if ((h = calloc(1, sizeof(*h))) == NULL) {
		*cause = strdup("out of memory");
		return NULL;
	}
	TAILQ_INIT(&h->watches);
	h->cb = cb;
	h->cb_arg = arg;
	if ((h->by_listener = hashmap_new(0)) == NULL) {
		*cause = strdup("out of memory");
		free(h);
		return NULL;
	}
	if ((h->epfd = epoll_create1(EPOLL_CLOEXEC)) == -1) {
		cause_set(cause, "cannot watch listeners for shutdown: %s",
		    strerror(errno));
		hashmap_free(h->by_listener);
		free(h);
		return NULL;
	}
	h->ev = event_new(base, h->epfd, EV_READ | EV_PERSIST, health_event, h);
	h->retry = evtimer_new(base, health_retry, h);
	if (h->ev == NULL || h->retry == NULL || event_add(h->ev, NULL) == -1) {
		*cause = strdup("cannot watch listeners for shutdown");
		health_close(h);
		return NULL;
	}
	return h;
}

/* Stop watching; drop every reference. */
void
health_close(struct health *h)
{
	struct health_watch *w;

	if (h == NULL)
		return;
	while ((w = TAILQ_FIRST(&h->watches)) != NULL)
		health_unwatch(h, w);
	if (h->ev != NULL)
		event_free(h->ev);
	if (h->retry != NULL)
		event_free(h->retry);
	close(h->epfd);
	hashmap_free(h->by_listener);
	free(h);
}

/* Stop repairing (the supervisor is stopping, its workers too). */
void
health_stop(struct health *h)
{
	if (h == NULL)
		return;
	event_del(h->ev);
	evtimer_del(h->retry);
}

/* The watch of a listener's socket of slot (0: the shared one), or NULL. */
static struct health_watch *
health_find(const struct health *h, const struct listener *l, size_t slot)
{
	struct health_key key;

	memset(&key, 0, sizeof(key));
	key.l = l;
	key.slot = slot;
	return hashmap_get(h->by_listener, &key, sizeof(key));
}

/* Watch a listener's socket of slot (one more reference). */
static void
health_add(struct health *h, struct listener *l, size_t slot)
{
	struct health_watch *w;

	if ((w = calloc(1, sizeof(*w))) == NULL) {
		log_warnx("listener %s: out of memory watching it for "
		    "shutdown", l->name);
		return;
	}
	w->key.l = l;
	w->key.slot = slot;
	if (hashmap_add(h->by_listener, &w->key, sizeof(w->key), w) == -1) {
		log_warnx("listener %s: out of memory watching it for "
		    "shutdown", l->name);
		free(w);
		return;
	}
	w->l = l;
	w->slot = slot;
	w->fd = -1;
	listener_ref(l);
	TAILQ_INSERT_TAIL(&h->watches, w, entry);
	health_arm(h, w);
}

/* How many sockets of l are watched: one per slot of a per-slot one. */
static size_t
health_nslots(const struct listener *l)
{
	return listener_per_slot(l) ? listener_nsockets(l) : 1;
}

/*
 * Watch exactly the listeners of set that can be repaired (those in force):
 * the new ones are added (one more reference each), the others dropped.
 */
void
health_watch(struct health *h, const struct listener_set *set)
{
	struct health_watch *w, *next;
	struct listener *l;
	size_t i, slot;

	if (h == NULL)
		return;
	for (i = 0; i < set->count; i++)
		for (slot = 0; slot < health_nslots(set->items[i]); slot++)
			if ((w = health_find(h, set->items[i], slot)) != NULL &&
			    w->fd == listener_slot_fd(w->l, (unsigned int)slot))
				w->kept = true;
	for (w = TAILQ_FIRST(&h->watches); w != NULL; w = next) {
		next = TAILQ_NEXT(w, entry);
		if (!w->kept)
			health_unwatch(h, w);
		else
			w->kept = false;
	}
	for (i = 0; i < set->count; i++) {
		l = set->items[i];
		if (!listener_can_repair(l))
			continue;
		for (slot = 0; slot < health_nslots(l); slot++)
			if (health_find(h, l, slot) == NULL &&
			    (!listener_per_slot(l) ||
			    listener_slot_group_index(l, slot) >= 0))
				health_add(h, l, slot);
	}
}

/* How a listener fared: times repaired, and whether it is down now. */
void
health_describe(const struct health *h, const struct listener *l,
    unsigned int *repairs, bool *down)
{
	const struct health_watch *w;
	size_t slot;

	*repairs = 0;
	*down = false;
	for (slot = 0; h != NULL && slot < health_nslots(l); slot++) {
		if ((w = health_find(h, l, slot)) == NULL)
			continue;
		*repairs += w->repairs;
		*down = *down || w->down;
	}
}
