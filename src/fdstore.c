/*
 * fdstore.c: the listeners' sockets kept in the service manager's fd store.
 *
 * Under systemd (NOTIFY_SOCKET, FileDescriptorStoreMax= in the unit), each
 * socket of the listeners in force that the supervisor bound itself is
 * sent to the manager with FDSTORE=1 and FDNAME=LISTENER#SLOT (the
 * listener's section name; the worker slot in reuseport mode, 0 for a
 * shared socket). The manager holds a copy: when the supervisor crashes
 * or restarts, the sockets stay bound and listening, connections wait in
 * their backlog, and the next supervisor gets them back (sdsocket.c) and
 * serves them, at the same slots. A socket unit's sockets are not stored:
 * the manager holds those anyway.
 *
 * The manager would drop a stored socket that raises EPOLLHUP, as a TCP
 * listener does while it is shut down: a worker that calls shutdown() on
 * it as it stops (health.c repairs it), or a reuseport slot whose queue
 * is moved. Each is stored with FDPOLL=0, so the manager keeps it until
 * the supervisor takes it out.
 *
 * fdstore_sync runs each time a reload commits (and at the first start),
 * before the listeners the reload removed are closed: a socket no
 * listener of the new set has leaves the store (FDSTOREREMOVE=1) first,
 * or the manager would keep its port bound and queueing; then the new
 * ones are stored. A renamed listener's socket leaves under its old name
 * and comes back under the new. Sockets are stored only from listeners a
 * reload committed: a reload that fails stores nothing.
 *
 * The store is left alone when the supervisor stops: a `systemctl
 * restart` must find the sockets, and the manager empties the store
 * itself when the service stops for good. systemd 254 and later tell the
 * store's size in $FDSTORE; with FDSTORE=0 nothing is stored.
 */
#include "autoconf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fdstore.h"
#include "hashmap.h"
#include "listener.h"
#include "log.h"
#include "sdnotify.h"
#include "sdsocket.h"
#include "state.h"

/* A socket the manager keeps for us, by its store name. */
struct fdstore_entry {
	char		 name[SDSOCKET_NAME_MAX];
	dev_t		 dev;
	ino_t		 ino;
	bool		 keep;		/* in the set being synced */
};

/* A socket of the set to store: its name and fd (the listener's). */
struct fdstore_want {
	char		 name[SDSOCKET_NAME_MAX];
	int		 fd;
	dev_t		 dev;
	ino_t		 ino;
};

static bool fdstore_on;
static bool fdstore_primed;			/* knows what came back */
static struct hashmap *fdstore_map;		/* name -> entry */
static struct fdstore_entry **fdstore_entries;	/* the same, in order */
static size_t fdstore_count, fdstore_cap;

/* Tell whether sockets are stored (a manager listens, with a store). */
bool
fdstore_enabled(void)
{
	return fdstore_on;
}

/* Remember that the manager keeps a socket as name; -1 out of memory. */
static int
fdstore_remember(const char *name, dev_t dev, ino_t ino)
{
	struct fdstore_entry *e, **grown;

	if (fdstore_count == fdstore_cap) {
		grown = reallocarray(fdstore_entries, fdstore_cap * 2 + 16,
		    sizeof(*grown));
		if (grown == NULL)
			return -1;
		fdstore_entries = grown;
		fdstore_cap = fdstore_cap * 2 + 16;
	}
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return -1;
	snprintf(e->name, sizeof(e->name), "%s", name);
	e->dev = dev;
	e->ino = ino;
	if (hashmap_put(fdstore_map, e->name, strlen(e->name), e) == -1) {
		free(e);
		return -1;
	}
	fdstore_entries[fdstore_count++] = e;
	return 0;
}

/*
 * Start keeping the store: when a manager listens (and $FDSTORE, if set,
 * is not 0).
 */
void
fdstore_init(void)
{
	const char *max = getenv("FDSTORE");

	fdstore_on = sdnotify_active() && (max == NULL || strcmp(max, "0") != 0);
	if (!fdstore_on)
		return;
	if ((fdstore_map = hashmap_new(16)) == NULL) {
		log_warnx("fd store: out of memory; the listeners' sockets are "
		    "not stored");
		fdstore_on = false;
	}
}

/*
 * Remember the sockets that came back from the store and that listeners
 * took (known once the first start made its listeners): stored already.
 */
static void
fdstore_prime(void)
{
	const char *name;
	dev_t dev;
	ino_t ino;
	size_t i;

	fdstore_primed = true;
	for (i = 0; sdsocket_stored(i, &name, &dev, &ino); i++)
		if (fdstore_remember(name, dev, ino) == -1)
			log_warnx("fd store: out of memory for %s", name);
}

/* Append a socket of l to store as slot, unless a socket unit's. */
static int
fdstore_want_socket(const struct listener *l, size_t slot,
    struct fdstore_want **want, size_t *n, size_t *cap)
{
	int fd = listener_socket_fd(l, slot);
	struct fdstore_want *w, *grown;
	struct stat sb;

	if (fd == -1 || listener_socket_origin(l, slot) == SDSOCKET_PASSED ||
	    fstat(fd, &sb) == -1)
		return 0;
	if (*n == *cap) {
		if ((grown = reallocarray(*want, *cap * 2 + 16,
		    sizeof(*grown))) == NULL)
			return -1;
		*want = grown;
		*cap = *cap * 2 + 16;
	}
	w = &(*want)[*n];
	if (sdsocket_store_name(l->name, slot, w->name, sizeof(w->name)) == -1)
		return 0;
	w->fd = fd;
	w->dev = sb.st_dev;
	w->ino = sb.st_ino;
	(*n)++;
	return 0;
}

/* FDSTOREREMOVE every entry not kept, and forget it. */
static void
fdstore_drop_unkept(void)
{
	char text[SDSOCKET_NAME_MAX + 32];
	struct fdstore_entry *e;
	size_t i, k = 0;

	for (i = 0; i < fdstore_count; i++) {
		e = fdstore_entries[i];
		if (e->keep) {
			fdstore_entries[k++] = e;
			continue;
		}
		snprintf(text, sizeof(text), "FDSTOREREMOVE=1\nFDNAME=%s",
		    e->name);
		if (sdnotify_send(text, -1) == -1)
			log_warn("fd store: cannot take %s out", e->name);
		else
			log_debug("fd store: took %s out", e->name);
		(void)hashmap_remove(fdstore_map, e->name, strlen(e->name));
		free(e);
	}
	fdstore_count = k;
}

/*
 * FDSTORE=1 one socket as w->name; remember it. -1 with errno if unsent.
 * FDPOLL=0: the manager keeps it until FDSTOREREMOVE=1, even while it is
 * shut down (EPOLLHUP) by a worker, which the supervisor repairs.
 */
static int
fdstore_put(const struct fdstore_want *w)
{
	char text[SDSOCKET_NAME_MAX + 48];

	snprintf(text, sizeof(text), "FDSTORE=1\nFDNAME=%s\nFDPOLL=0",
	    w->name);
	if (sdnotify_send(text, w->fd) == -1)
		return -1;
	if (fdstore_remember(w->name, w->dev, w->ino) == -1)
		log_warnx("fd store: out of memory for %s", w->name);
	log_debug("fd store: stored %s", w->name);
	return 0;
}

/*
 * Make the store hold exactly the sockets of set that the supervisor
 * bound (see above): first take out what is not in set, or stored under
 * another name, then store what is new. Call it before a socket the set
 * lost is closed.
 */
void
fdstore_sync(const struct listener_set *set)
{
	struct fdstore_want *want = NULL;
	struct fdstore_entry *e;
	const struct listener *l;
	size_t nwant = 0, cap = 0, i, slot, nslots, failed = 0, first = 0;
	int err = 0;

	if (!fdstore_on)
		return;
	if (!fdstore_primed)
		fdstore_prime();
	for (i = 0; i < set->count; i++) {
		l = set->items[i];
		nslots = listener_per_slot(l) ? l->committed : 1;
		for (slot = 0; slot < nslots && slot < listener_nsockets(l);
		    slot++)
			if (fdstore_want_socket(l, slot, &want, &nwant,
			    &cap) == -1) {
				log_warnx("fd store: out of memory; the store "
				    "is left as it is");
				free(want);
				return;
			}
	}
	for (i = 0; i < fdstore_count; i++)
		fdstore_entries[i]->keep = false;
	for (i = 0; i < nwant; i++) {
		e = hashmap_get(fdstore_map, want[i].name, strlen(want[i].name));
		if (e != NULL && e->dev == want[i].dev && e->ino == want[i].ino) {
			e->keep = true;
			want[i].fd = -1;	/* stored already */
		}
	}
	/* Out before in: the manager would not store a socket it holds. */
	fdstore_drop_unkept();
	for (i = 0; i < nwant; i++) {
		if (want[i].fd == -1 || fdstore_put(&want[i]) == 0)
			continue;
		if (failed++ == 0) {
			first = i;
			err = errno;
		}
	}
	if (failed > 0)
		log_warnx("fd store: cannot store %zu socket%s (%s first): %s; a "
		    "crash or restart would refuse connections on them until "
		    "they are bound again", failed, failed == 1 ? "" : "s",
		    want[first].name, strerror(err));
	free(want);
}

/* Forget the store (the manager keeps what it holds). */
void
fdstore_free(void)
{
	size_t i;

	for (i = 0; i < fdstore_count; i++)
		free(fdstore_entries[i]);
	free(fdstore_entries);
	hashmap_free(fdstore_map);
	fdstore_entries = NULL;
	fdstore_map = NULL;
	fdstore_count = fdstore_cap = 0;
	fdstore_on = fdstore_primed = false;
}

/*
 * The supervisor stops, leaving its sockets in the store for the next
 * start: their unix socket files stay where they are too.
 */
void
fdstore_keep_files(struct listener_set *set)
{
	size_t i;

	if (!fdstore_on)
		return;
	for (i = 0; i < set->count; i++)
		if (listener_socket_origin(set->items[i], 0) != SDSOCKET_PASSED)
			set->items[i]->file_ino = 0;
}

/* Write what the manager keeps for us as records (an upgrade). */
void
fdstore_save(struct state_writer *w)
{
	size_t i;

	if (!fdstore_on || !fdstore_primed)
		return;
	for (i = 0; i < fdstore_count; i++) {
		state_rec(w, "fdstore");
		state_str(w, "name", fdstore_entries[i]->name);
		state_int(w, "dev", (long long)fdstore_entries[i]->dev);
		state_int(w, "ino", (long long)fdstore_entries[i]->ino);
	}
}

/* After an upgrade's exec: what the manager keeps is known already. */
void
fdstore_restore(const struct state *st)
{
	const struct state_rec *r;
	size_t i;

	if (!fdstore_on)
		return;
	fdstore_primed = true;
	for (i = 0; i < st->nrecs; i++) {
		r = &st->recs[i];
		if (strcmp(r->kind, "fdstore") != 0 || state_get(r, "name") == NULL)
			continue;
		if (fdstore_remember(state_get(r, "name"),
		    (dev_t)state_get_int(r, "dev", 0),
		    (ino_t)state_get_int(r, "ino", 0)) == -1)
			log_warnx("fd store: out of memory for %s",
			    state_get(r, "name"));
	}
}
