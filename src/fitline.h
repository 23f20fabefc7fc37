/*
 * fitline.h: a sentence put together from fixed words and values, in at
 * most so many bytes (a line of the control protocol, a status message):
 * the values are cut to fit, the longest first, never the words. A value
 * cut shows its start and end around "..."; where it differs from the
 * other value of its pair (the one in force and the file's) stays in
 * view, so that two values cut alike do not read the same. No UTF-8
 * character is split.
 *
 *	struct fitline fl = { .n = 0 };
 *	fitline_word(&fl, "pidfile is ");
 *	fitline_value(&fl, is, was);
 *	...
 *	text = fitline_join(&fl, 511);
 */
#ifndef HANDOFF_FITLINE_H
#define HANDOFF_FITLINE_H

#include <stddef.h>

#define FITLINE_WORDS_MAX	48

struct fitline {
	const char	*text[FITLINE_WORDS_MAX];
	/* A value's other of its pair; NULL: a fixed word. */
	const char	*pair[FITLINE_WORDS_MAX];
	size_t		 n;
};

void		 fitline_word(struct fitline *fl, const char *word);
void		 fitline_value(struct fitline *fl, const char *value,
		    const char *pair);
char		*fitline_join(const struct fitline *fl, size_t max);

#endif
