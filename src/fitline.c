/* fitline.c: a sentence whose values are cut to fit (see fitline.h). */
#include "autoconf.h"

#include <assert.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fitline.h"

/* The fewest bytes a value cut to fit is shown in ("/run...sock"). */
#define FITLINE_VALUE_MIN	11
/* What a value cut where it differs from its pair shows before there. */
#define FITLINE_CONTEXT		4

/* Add a fixed word. */
void
fitline_word(struct fitline *fl, const char *word)
{
	assert(fl->n < FITLINE_WORDS_MAX);
	fl->pair[fl->n] = NULL;
	fl->text[fl->n++] = word;
}

/*
 * Add a value, and the other value of its pair (what it is compared
 * with); NULL shows as "(none)".
 */
void
fitline_value(struct fitline *fl, const char *value, const char *pair)
{
	assert(fl->n < FITLINE_WORDS_MAX);
	fl->pair[fl->n] = pair != NULL ? pair : "(none)";
	fl->text[fl->n++] = value != NULL ? value : "(none)";
}

/* What the values of fl take when each is shown in at most cap bytes. */
static size_t
fitline_values_len(const struct fitline *fl, size_t cap)
{
	size_t i, len, total = 0;

	for (i = 0; i < fl->n; i++)
		if (fl->pair[i] != NULL) {
			len = strlen(fl->text[i]);
			total += len < cap ? len : cap;
		}
	return total;
}

/*
 * The most bytes each value of fl may be shown in for them all to take
 * at most room (FITLINE_VALUE_MIN if even that is too much): the longest
 * are cut alike, the short ones left whole.
 */
static size_t
fitline_cap(const struct fitline *fl, size_t room)
{
	size_t lo = FITLINE_VALUE_MIN, hi = room, mid;

	while (lo < hi) {
		mid = lo + (hi - lo + 1) / 2;
		if (fitline_values_len(fl, mid) <= room)
			lo = mid;
		else
			hi = mid - 1;
	}
	return lo;
}

/* Tell whether the byte at s is within a UTF-8 character, not its start. */
static bool
fitline_within(const char *s)
{
	return ((unsigned char)*s & 0xc0) == 0x80;
}

/* Where a and b first differ: the length of what they start with alike. */
static size_t
fitline_differs_at(const char *a, const char *b)
{
	size_t i = 0;

	while (a[i] != '\0' && a[i] == b[i])
		i++;
	return i;
}

/*
 * Append value to out: whole if it takes at most cap bytes, else in at
 * most cap, its start and end around "...". When neither shows where it
 * differs from pair, it is shown from a little before there, after
 * "..." ("...n-02/run/handoff.pid", cut again if still too long).
 * Returns the bytes appended.
 */
static size_t
fitline_append(char *out, const char *value, const char *pair, size_t cap)
{
	size_t len = strlen(value), from = 0, n = 0, head, tail, differs;

	if (len <= cap) {
		memcpy(out, value, len);
		return len;
	}
	head = (cap - 3) / 2;
	differs = fitline_differs_at(value, pair);
	if (differs >= head && differs < len - (cap - 3 - head)) {
		from = differs > FITLINE_CONTEXT ?
		    differs - FITLINE_CONTEXT : 0;
		while (from > 0 && fitline_within(value + from))
			from--;
		memcpy(out, "...", 3);
		n = 3;
		cap -= 3;
		if (len - from <= cap) {
			memcpy(out + n, value + from, len - from);
			return n + len - from;
		}
		head = (cap - 3) / 2;
	}
	tail = cap - 3 - head;
	while (head > 0 && fitline_within(value + from + head))
		head--;
	while (tail > 0 && fitline_within(value + len - tail))
		tail--;
	memcpy(out + n, value + from, head);
	memcpy(out + n + head, "...", 3);
	memcpy(out + n + head + 3, value + len - tail, tail);
	return n + head + 3 + tail;
}

/*
 * The words and values of fl as one sentence of at most max bytes, the
 * longest values cut to fit (more only when the words leave too little
 * room for values of FITLINE_VALUE_MIN bytes); NULL without memory. The
 * caller frees it.
 */
char *
fitline_join(const struct fitline *fl, size_t max)
{
	size_t fixed = 0, cap = SIZE_MAX, len = 0, i;
	char *text;

	for (i = 0; i < fl->n; i++)
		if (fl->pair[i] == NULL)
			fixed += strlen(fl->text[i]);
	if (fixed + fitline_values_len(fl, SIZE_MAX) > max)
		cap = fitline_cap(fl, fixed < max ? max - fixed : 0);
	if ((text = malloc(fixed + fitline_values_len(fl, cap) + 1)) == NULL)
		return NULL;
	for (i = 0; i < fl->n; i++)
		len += fitline_append(text + len, fl->text[i],
		    fl->pair[i] != NULL ? fl->pair[i] : fl->text[i],
		    fl->pair[i] != NULL ? cap : SIZE_MAX);
	text[len] = '\0';
	return text;
}
