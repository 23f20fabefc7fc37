/*
 * test_hashmap.c: the hash table listeners and configs are indexed with:
 * keys of any bytes and length, values kept as given, growth, and removal
 * that never loses another key, checked against a plain array.
 */
#include "autoconf.h"

#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hashmap.h"

/* A value to store: the address of one of these. */
static int values[4];

Test(hashmap, empty)
{
	struct hashmap *map = hashmap_new(0);

	cr_assert_not_null(map);
	cr_assert_eq(hashmap_count(map), 0);
	cr_assert_null(hashmap_get(map, "web", 3));
	cr_assert_null(hashmap_remove(map, "web", 3));
	hashmap_free(map);
	hashmap_free(NULL);
}

Test(hashmap, put_get_replace)
{
	struct hashmap *map = hashmap_new(4);

	cr_assert_eq(hashmap_put(map, "web", 3, &values[0]), 0);
	cr_assert_eq(hashmap_put(map, "api", 3, &values[1]), 0);
	cr_assert_eq(hashmap_count(map), 2);
	cr_assert_eq(hashmap_get(map, "web", 3), &values[0]);
	cr_assert_eq(hashmap_get(map, "api", 3), &values[1]);
	/* Keys are bytes: a prefix or a longer key is another key. */
	cr_assert_null(hashmap_get(map, "we", 2));
	cr_assert_null(hashmap_get(map, "web\0", 4));
	cr_assert_eq(hashmap_put(map, "web", 3, &values[2]), 0);
	cr_assert_eq(hashmap_count(map), 2);
	cr_assert_eq(hashmap_get(map, "web", 3), &values[2]);
	/* A NULL value is stored as any other. */
	cr_assert_eq(hashmap_put(map, "api", 3, NULL), 0);
	cr_assert_null(hashmap_get(map, "api", 3));
	cr_assert_eq(hashmap_count(map), 2);
	hashmap_free(map);
}

Test(hashmap, add_keeps_the_first)
{
	struct hashmap *map = hashmap_new(0);

	cr_assert_eq(hashmap_add(map, "web", 3, &values[0]), 1);
	cr_assert_eq(hashmap_add(map, "web", 3, &values[1]), 0);
	cr_assert_eq(hashmap_get(map, "web", 3), &values[0]);
	cr_assert_eq(hashmap_count(map), 1);
	hashmap_free(map);
}

Test(hashmap, keys_are_copied_short_and_long)
{
	struct hashmap *map = hashmap_new(0);
	char key[200];
	size_t len;

	/* Lengths around where a key stops fitting in its slot. */
	for (len = 0; len < sizeof(key); len++) {
		memset(key, 'k', len);
		cr_assert_eq(hashmap_put(map, key, len, &values[len % 4]), 0);
	}
	memset(key, 'x', sizeof(key));		/* the caller's buffer changes */
	for (len = 0; len < sizeof(key); len++) {
		memset(key, 'k', len);
		cr_assert_eq(hashmap_get(map, key, len), &values[len % 4],
		    "key of %zu bytes", len);
	}
	cr_assert_eq(hashmap_count(map), sizeof(key));
	hashmap_free(map);
}

Test(hashmap, pointer_keys)
{
	struct hashmap *map = hashmap_new(0);
	int *p;
	size_t i;

	for (i = 0; i < 4; i++) {
		p = &values[i];
		cr_assert_eq(hashmap_add(map, &p, sizeof(p), p), 1);
	}
	for (i = 0; i < 4; i++) {
		p = &values[i];
		cr_assert_eq(hashmap_get(map, &p, sizeof(p)), p);
	}
	p = &values[2];
	cr_assert_eq(hashmap_remove(map, &p, sizeof(p)), p);
	cr_assert_null(hashmap_get(map, &p, sizeof(p)));
	cr_assert_eq(hashmap_count(map), 3);
	hashmap_free(map);
}

/* The name of key i, in a buffer of 64: short, or too long for a slot. */
static size_t
name_of(size_t i, char *buf)
{
	return (size_t)snprintf(buf, 64, "listener-%zu", i);
}

/* A name of key i that does not fit in a slot. */
static size_t
long_name_of(size_t i, char *buf)
{
	return (size_t)snprintf(buf, 64, "a-listener-with-a-long-name-%zu", i);
}

Test(hashmap, grows_to_many_keys)
{
	struct hashmap *map = hashmap_new(0);
	char name[64];
	size_t i, n = 20000;

	for (i = 0; i < n; i++)
		cr_assert_eq(hashmap_add(map, name, name_of(i, name),
		    (void *)(uintptr_t)(i + 1)), 1);
	cr_assert_eq(hashmap_count(map), n);
	for (i = 0; i < n; i++)
		cr_assert_eq((uintptr_t)hashmap_get(map, name, name_of(i, name)),
		    i + 1, "%s", name);
	cr_assert_null(hashmap_get(map, "listener-20000", 14));
	hashmap_free(map);
}

/*
 * Random puts and removals over nkeys keys, checked after each step
 * against a plain array: probe chains cross, wrap around the table's end
 * and lose members, and every key must still say what the array says.
 */
static void
churn(size_t nkeys, size_t steps, unsigned int seed,
    size_t (*key_of)(size_t, char *))
{
	uintptr_t *want = calloc(nkeys, sizeof(*want));
	struct hashmap *map = hashmap_new(0);
	char name[64];
	size_t i, k, len, count = 0;
	void *got;

	cr_assert_not_null(want);
	srand(seed);
	for (i = 0; i < steps; i++) {
		k = (size_t)rand() % nkeys;
		len = key_of(k, name);
		if (rand() % 3 == 0) {
			got = hashmap_remove(map, name, len);
			cr_assert_eq((uintptr_t)got, want[k], "step %zu", i);
			count -= want[k] != 0;
			want[k] = 0;
		} else {
			cr_assert_eq(hashmap_put(map, name, len,
			    (void *)(uintptr_t)(i + 1)), 0);
			count += want[k] == 0;
			want[k] = i + 1;
		}
		cr_assert_eq(hashmap_count(map), count, "step %zu", i);
		for (k = 0; k < nkeys; k++)
			cr_assert_eq((uintptr_t)hashmap_get(map, name,
			    key_of(k, name)), want[k], "step %zu key %zu", i, k);
	}
	hashmap_free(map);
	free(want);
}

/* A table of 16 slots, never more than half full: chains wrap its end. */
Test(hashmap, removal_in_a_small_table)
{
	churn(7, 5000, 7, name_of);
}

/* Keys copied out of their slots move and are freed as well. */
Test(hashmap, removal_of_long_keys)
{
	churn(40, 3000, 5, long_name_of);
}

Test(hashmap, removal_never_loses_another_key)
{
	churn(300, 3000, 9, name_of);
}
