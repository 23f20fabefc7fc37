/*
 * hashmap.c: a small open-addressing hash table (see hashmap.h).
 *
 * Slots hold the key's hash (0 for an empty slot), the key (in the slot
 * when short, else in a copy of its own) and the value. Lookups probe from
 * the key's home slot to the first empty one; the table doubles before it
 * is half full, and a removal shifts the slots after it back so that no
 * probe sequence is ever broken (no tombstones).
 */
#include "autoconf.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hashmap.h"

#define HASHMAP_MIN_SLOTS	16
#define HASHMAP_INLINE_KEY	16	/* bytes of a key kept in its slot */

struct hashmap_slot {
	uint32_t	 hash;		/* 0: the slot is empty */
	uint32_t	 len;
	union {
		unsigned char	 bytes[HASHMAP_INLINE_KEY];
		unsigned char	*heap;	/* len > HASHMAP_INLINE_KEY */
	} key;
	void		*value;
};

struct hashmap {
	struct hashmap_slot *slots;
	size_t		 mask;		/* slots - 1, slots a power of two */
	size_t		 count;
	size_t		 nheap;		/* keys not in their slot */
};

/*
 * Hash a key, eight bytes at a time: each word is folded in with a
 * multiply, and a final mix (MurmurHash3's) makes every bit count in the
 * low bits that pick the slot. Never 0, which marks an empty slot here and
 * in tables of other modules. Not meant to resist chosen keys: the keys
 * come from the configuration.
 */
uint32_t
hashmap_hash(const void *key, size_t len)
{
	const unsigned char *p = key;
	uint64_t h = 0x9e3779b97f4a7c15ULL ^ len, w;

	for (; len >= sizeof(w); p += sizeof(w), len -= sizeof(w)) {
		memcpy(&w, p, sizeof(w));
		h = (h ^ w) * 0xbf58476d1ce4e5b9ULL;
		h ^= h >> 29;
	}
	if (len > 0) {
		w = 0;
		memcpy(&w, p, len);
		h = (h ^ w) * 0xbf58476d1ce4e5b9ULL;
		h ^= h >> 29;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdULL;
	h ^= h >> 33;
	return (uint32_t)h != 0 ? (uint32_t)h : 1;
}

/* The bytes of a slot's key. */
static const unsigned char *
hashmap_slot_key(const struct hashmap_slot *s)
{
	return s->len > HASHMAP_INLINE_KEY ? s->key.heap : s->key.bytes;
}

/*
 * The slot holding key, or the empty slot where it would go (then
 * *found is false).
 */
static struct hashmap_slot *
hashmap_probe(const struct hashmap *map, uint32_t hash, const void *key,
    size_t len, bool *found)
{
	struct hashmap_slot *s;
	size_t i = (size_t)hash & map->mask;

	for (;; i = (i + 1) & map->mask) {
		s = &map->slots[i];
		if (s->hash == 0) {
			*found = false;
			return s;
		}
		if (s->hash == hash && s->len == len &&
		    memcmp(hashmap_slot_key(s), key, len) == 0) {
			*found = true;
			return s;
		}
	}
}

/* A new, empty table sized for hint keys; NULL if out of memory. */
struct hashmap *
hashmap_new(size_t hint)
{
	struct hashmap *map;
	size_t n = HASHMAP_MIN_SLOTS;

	while (n / 2 < hint && n < SIZE_MAX / 4 / sizeof(*map->slots))
		n *= 2;
	if ((map = calloc(1, sizeof(*map))) == NULL)
		return NULL;
	if ((map->slots = calloc(n, sizeof(*map->slots))) == NULL) {
		free(map);
		return NULL;
	}
	map->mask = n - 1;
	return map;
}

/* Free the table and its copies of the keys (not the values). */
void
hashmap_free(struct hashmap *map)
{
	size_t i;

	if (map == NULL)
		return;
	/* Only long keys have copies of their own to free. */
	for (i = 0; map->nheap > 0 && i <= map->mask; i++) {
		if (map->slots[i].hash != 0 &&
		    map->slots[i].len > HASHMAP_INLINE_KEY) {
			free(map->slots[i].key.heap);
			map->nheap--;
		}
	}
	free(map->slots);
	free(map);
}

/* How many keys the table holds. */
size_t
hashmap_count(const struct hashmap *map)
{
	return map->count;
}

/* The value of key, or NULL if the table does not hold it. */
void *
hashmap_get(const struct hashmap *map, const void *key, size_t len)
{
	struct hashmap_slot *s;
	bool found;

	s = hashmap_probe(map, hashmap_hash(key, len), key, len, &found);
	return found ? s->value : NULL;
}

/*
 * Double the slots when one more key would fill half of them. Returns 1
 * if they moved, 0 if there was room, -1 if out of memory.
 */
static int
hashmap_reserve(struct hashmap *map)
{
	struct hashmap_slot *old = map->slots, *s;
	size_t n = map->mask + 1, i;
	bool found;

	if ((map->count + 1) * 2 <= n)
		return 0;
	if (n > SIZE_MAX / 2 / sizeof(*old) ||
	    (map->slots = calloc(n * 2, sizeof(*old))) == NULL) {
		map->slots = old;
		return -1;
	}
	map->mask = n * 2 - 1;
	/* The slots move whole: a key copied out of its slot stays put. */
	for (i = 0; i < n; i++) {
		if (old[i].hash == 0)
			continue;
		s = hashmap_probe(map, old[i].hash, hashmap_slot_key(&old[i]),
		    old[i].len, &found);
		*s = old[i];
	}
	free(old);
	return 1;
}

/*
 * Insert key, or find it (then replace its value if replace is set).
 * Returns 1 if added, 0 if it was there, -1 if out of memory (the table
 * is unchanged then).
 */
static int
hashmap_insert(struct hashmap *map, const void *key, size_t len, void *value,
    bool replace)
{
	uint32_t hash = hashmap_hash(key, len);
	struct hashmap_slot *s;
	bool found;
	int grown;

	s = hashmap_probe(map, hash, key, len, &found);
	if (found) {
		if (replace)
			s->value = value;
		return 0;
	}
	if (len > UINT32_MAX || (grown = hashmap_reserve(map)) == -1)
		return -1;
	if (grown)
		s = hashmap_probe(map, hash, key, len, &found);
	if (len > HASHMAP_INLINE_KEY) {
		if ((s->key.heap = malloc(len)) == NULL)
			return -1;
		memcpy(s->key.heap, key, len);
		map->nheap++;
	} else if (len > 0)
		memcpy(s->key.bytes, key, len);
	s->hash = hash;
	s->len = (uint32_t)len;
	s->value = value;
	map->count++;
	return 1;
}

/*
 * Insert key, or replace the value it has. Returns 0, or -1 if out of
 * memory (the table is unchanged then).
 */
int
hashmap_put(struct hashmap *map, const void *key, size_t len, void *value)
{
	return hashmap_insert(map, key, len, value, true) == -1 ? -1 : 0;
}

/*
 * Insert key unless the table holds it already (its value is kept then).
 * Returns 1 if added, 0 if it was there, -1 if out of memory.
 */
int
hashmap_add(struct hashmap *map, const void *key, size_t len, void *value)
{
	return hashmap_insert(map, key, len, value, false);
}

/*
 * Remove key; returns its value, or NULL if the table did not hold it.
 * The slots after it that probed past it move back into the hole.
 */
void *
hashmap_remove(struct hashmap *map, const void *key, size_t len)
{
	struct hashmap_slot *s;
	size_t hole, i, home;
	void *value;
	bool found;

	s = hashmap_probe(map, hashmap_hash(key, len), key, len, &found);
	if (!found)
		return NULL;
	value = s->value;
	if (s->len > HASHMAP_INLINE_KEY) {
		free(s->key.heap);
		map->nheap--;
	}
	hole = (size_t)(s - map->slots);
	for (i = (hole + 1) & map->mask; map->slots[i].hash != 0;
	    i = (i + 1) & map->mask) {
		home = (size_t)map->slots[i].hash & map->mask;
		/* Stays if its home lies after the hole, up to i (cyclically). */
		if (((i - home) & map->mask) < ((i - hole) & map->mask))
			continue;
		map->slots[hole] = map->slots[i];
		hole = i;
	}
	memset(&map->slots[hole], 0, sizeof(map->slots[hole]));
	map->count--;
	return value;
}
