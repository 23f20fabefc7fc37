/*
 * hashmap.h: a small hash table from byte-string keys to pointers.
 *
 * Open addressing with linear probing, at most half full. The table keeps
 * its own copy of each key; values are the caller's, never freed here.
 * Keys are any bytes: a name (without its NUL), an address in a canonical
 * form, or a pointer (&ptr, sizeof(ptr)) to index objects by identity.
 */
#ifndef HANDOFF_HASHMAP_H
#define HANDOFF_HASHMAP_H

#include <stddef.h>
#include <stdint.h>

struct hashmap;

struct hashmap	*hashmap_new(size_t hint);
void		 hashmap_free(struct hashmap *map);
size_t		 hashmap_count(const struct hashmap *map);
void		*hashmap_get(const struct hashmap *map, const void *key,
		    size_t len);
int		 hashmap_put(struct hashmap *map, const void *key, size_t len,
		    void *value);
int		 hashmap_add(struct hashmap *map, const void *key, size_t len,
		    void *value);
void		*hashmap_remove(struct hashmap *map, const void *key, size_t len);
uint32_t	 hashmap_hash(const void *key, size_t len);

#endif
