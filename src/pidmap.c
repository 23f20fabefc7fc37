/*
 * pidmap.c: open addressing with linear probing; deletion shifts the
 * entries after a hole back, so there are no tombstones and lookups stay
 * short however many pids come and go. The table doubles at 1/2 full; it
 * shrinks only when its owner asks (pidmap_fit), at a quiet moment, so
 * that pids coming and going around a size never resize it back and forth.
 */
#include "autoconf.h"

#include <stdint.h>
#include <stdlib.h>

#include "pidmap.h"

struct pidmap_slot {
	pid_t		 pid;		/* 0: empty */
	void		*value;
};

struct pidmap {
	struct pidmap_slot *slots;
	size_t		 size;		/* a power of two */
	size_t		 count;
	size_t		 missed;	/* puts that failed for want of memory */
	pidmap_observer	 observer;	/* told of each change, or NULL */
	void		*observer_arg;
};

#define PIDMAP_INITIAL	64

/* The home slot of a pid (Fibonacci hashing spreads sequential pids). */
static size_t
pidmap_home(const struct pidmap *m, pid_t pid)
{
	return (size_t)(((uint32_t)pid * 2654435769u) & (m->size - 1));
}

/* An empty map. */
struct pidmap *
pidmap_new(void)
{
	struct pidmap *m;

	if ((m = calloc(1, sizeof(*m))) == NULL)
		return NULL;
	if ((m->slots = calloc(PIDMAP_INITIAL, sizeof(*m->slots))) == NULL) {
		free(m);
		return NULL;
	}
	m->size = PIDMAP_INITIAL;
	return m;
}

/* Free a map (not what its values point to). */
void
pidmap_free(struct pidmap *m)
{
	if (m == NULL)
		return;
	free(m->slots);
	free(m);
}

/* The slot holding pid, or the empty slot where it would go. */
static struct pidmap_slot *
pidmap_slot(const struct pidmap *m, pid_t pid)
{
	size_t i = pidmap_home(m, pid);

	while (m->slots[i].pid != 0 && m->slots[i].pid != pid)
		i = (i + 1) & (m->size - 1);
	return &m->slots[i];
}

/*
 * Move the entries to a table of size slots (a power of two); -1 without
 * memory.
 */
static int
pidmap_resize(struct pidmap *m, size_t size)
{
	struct pidmap_slot *old = m->slots, *slot;
	size_t oldsize = m->size, i;

	if ((m->slots = calloc(size, sizeof(*m->slots))) == NULL) {
		m->slots = old;
		return -1;
	}
	m->size = size;
	for (i = 0; i < oldsize; i++) {
		if (old[i].pid == 0)
			continue;
		slot = pidmap_slot(m, old[i].pid);
		*slot = old[i];
	}
	free(old);
	return 0;
}

/* Double the table. */
static int
pidmap_grow(struct pidmap *m)
{
	return pidmap_resize(m, m->size * 2);
}

/* Map pid (> 0) to value, replacing what it mapped to; -1 without memory. */
int
pidmap_put(struct pidmap *m, pid_t pid, void *value)
{
	struct pidmap_slot *slot;

	if (m == NULL || pid <= 0)
		return -1;
	if ((m->count + 1) * 2 > m->size && pidmap_grow(m) == -1) {
		m->missed++;
		return -1;
	}
	slot = pidmap_slot(m, pid);
	if (slot->pid == 0)
		m->count++;
	slot->pid = pid;
	slot->value = value;
	if (m->observer != NULL)
		m->observer(m->observer_arg, pid, true);
	return 0;
}

/* What pid maps to, or NULL. */
void *
pidmap_get(const struct pidmap *m, pid_t pid)
{
	if (m == NULL || pid <= 0)
		return NULL;
	return pidmap_slot(m, pid)->value;
}

/* Remove pid if it maps to value (NULL: whatever it maps to). */
void
pidmap_del(struct pidmap *m, pid_t pid, const void *value)
{
	struct pidmap_slot *slot;
	size_t hole, i, home;

	if (m == NULL || pid <= 0)
		return;
	slot = pidmap_slot(m, pid);
	if (slot->pid == 0 || (value != NULL && slot->value != value))
		return;
	if (m->observer != NULL)
		m->observer(m->observer_arg, pid, false);
	hole = (size_t)(slot - m->slots);
	m->slots[hole].pid = 0;
	m->slots[hole].value = NULL;
	m->count--;
	/* Move back every entry of the run after the hole that may fill it. */
	for (i = (hole + 1) & (m->size - 1); m->slots[i].pid != 0;
	    i = (i + 1) & (m->size - 1)) {
		home = pidmap_home(m, m->slots[i].pid);
		/* The entry stays if its home lies cyclically in (hole, i]. */
		if (hole <= i ? (home > hole && home <= i) :
		    (home > hole || home <= i))
			continue;
		m->slots[hole] = m->slots[i];
		m->slots[i].pid = 0;
		m->slots[i].value = NULL;
		hole = i;
	}
}

/* How many pids are mapped. */
size_t
pidmap_count(const struct pidmap *m)
{
	return m == NULL ? 0 : m->count;
}

/*
 * Shrink the table to the size a map that grew from empty to its count
 * has, if it is larger: after a reload, whose two generations of workers
 * doubled it, it would otherwise keep twice the room its pids need (16
 * bytes a slot). Without memory for the smaller table, it stays as it is.
 */
void
pidmap_fit(struct pidmap *m)
{
	size_t size = PIDMAP_INITIAL;

	if (m == NULL)
		return;
	while (m->count * 2 > size)
		size *= 2;
	if (size < m->size)
		(void)pidmap_resize(m, size);
}

/* The size of the table, in slots of 16 bytes (8 where pointers are 4). */
size_t
pidmap_slots(const struct pidmap *m)
{
	return m == NULL ? 0 : m->size;
}

/* Tell whether a put ever failed: then the map may lack a pid. */
int
pidmap_incomplete(const struct pidmap *m)
{
	return m == NULL || m->missed > 0;
}

/* Tell fn (with arg) of every pid put in or taken out from now on. */
void
pidmap_observe(struct pidmap *m, pidmap_observer fn, void *arg)
{
	m->observer = fn;
	m->observer_arg = arg;
}
