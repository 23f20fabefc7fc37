/*
 * test_fitline.c: a sentence of fixed words and values put in at most so
 * many bytes: whole when it fits; else the longest values cut alike,
 * their start and end around "...", never a word; where a value differs
 * from its pair kept in view; no UTF-8 character split.
 */
#include "autoconf.h"

#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fitline.h"

/* fl joined in at most max bytes; freed by the caller. */
static char *
joined(const struct fitline *fl, size_t max)
{
	char *text = fitline_join(fl, max);

	cr_assert_not_null(text);
	return text;
}

/* Expect fl in at most max bytes to read want. */
static void
expect_joined(const struct fitline *fl, size_t max, const char *want)
{
	char *text = joined(fl, max);

	cr_expect_str_eq(text, want, "in %zu bytes", max);
	free(text);
}

/* Whether s is whole UTF-8: no character cut, no stray continuation. */
static bool
whole_utf8(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	int more = 0;

	for (; *p != '\0'; p++) {
		if (more > 0) {
			if ((*p & 0xc0) != 0x80)
				return false;
			more--;
		} else if ((*p & 0xc0) == 0x80)
			return false;
		else if ((*p & 0xe0) == 0xc0)
			more = 1;
		else if ((*p & 0xf0) == 0xe0)
			more = 2;
		else if ((*p & 0xf8) == 0xf0)
			more = 3;
	}
	return more == 0;
}

/* A sentence with a long value and a short one, each of its own pair. */
static void
pidfile_sentence(struct fitline *fl)
{
	fl->n = 0;
	fitline_word(fl, "pidfile is ");
	fitline_value(fl, "/run/handoff/very/long/path/to/the/pidfile.pid",
	    NULL);
	fitline_word(fl, " was ");
	fitline_value(fl, "/x", NULL);
}

Test(fitline, a_sentence_that_fits_is_whole)
{
	struct fitline fl;

	pidfile_sentence(&fl);
	expect_joined(&fl, 200, "pidfile is "
	    "/run/handoff/very/long/path/to/the/pidfile.pid was /x");
	/* Exactly as long as allowed: still whole. */
	expect_joined(&fl, 64, "pidfile is "
	    "/run/handoff/very/long/path/to/the/pidfile.pid was /x");
}

Test(fitline, the_longest_value_is_cut_its_start_and_end_kept)
{
	struct fitline fl;
	char *text;
	size_t max;

	pidfile_sentence(&fl);
	expect_joined(&fl, 40, "pidfile is /run/hand...idfile.pid was /x");
	/* Every size the words leave room in: within it, words whole. */
	for (max = 16 + 11 + 2; max < 64; max++) {
		text = joined(&fl, max);
		cr_expect_leq(strlen(text), max, "%s", text);
		cr_expect(strncmp(text, "pidfile is /run", 15) == 0, "%s", text);
		cr_expect_not_null(strstr(text, " was /x"), "%s", text);
		cr_expect_not_null(strstr(text, "..."), "%s", text);
		free(text);
	}
}

Test(fitline, words_longer_than_the_room_keep_values_of_eleven_bytes)
{
	struct fitline fl;

	pidfile_sentence(&fl);
	expect_joined(&fl, 10, "pidfile is /run....pid was /x");
}

Test(fitline, a_value_cut_shows_where_it_differs_from_its_pair)
{
	const char *is = "/srv/app/instances/prod-run-01/run/handoff.sock";
	const char *was = "/srv/app/instances/prod-run-02/run/handoff.sock";
	struct fitline fl = { .n = 0 };

	fitline_word(&fl, "control is ");
	fitline_value(&fl, is, was);
	fitline_word(&fl, ", the file says ");
	fitline_value(&fl, was, is);
	expect_joined(&fl, 60, "control is ...un-01....sock, the file says "
	    "...un-02....sock");
}

Test(fitline, no_value_shows_as_none)
{
	struct fitline fl = { .n = 0 };

	fitline_word(&fl, "user is ");
	fitline_value(&fl, NULL, "www-data");
	expect_joined(&fl, 100, "user is (none)");
}

Test(fitline, no_utf8_character_is_split)
{
	struct fitline fl = { .n = 0 };
	char *text;
	size_t max;

	fitline_word(&fl, "name ");
	fitline_value(&fl, "ééééééééééééééééééééééééééééééé", "x");
	expect_joined(&fl, 20, "name ééé...ééé");
	/* An odd number of bytes: a byte left over rather than half an é. */
	expect_joined(&fl, 21, "name ééé...ééé");
	for (max = 0; max < 80; max++) {
		text = joined(&fl, max);
		cr_expect(whole_utf8(text), "in %zu bytes: %s", max, text);
		free(text);
	}
}
