/*
 * expand.c: the %-escapes of command, env and directory (expand.h). The
 * config checks every escape when it is read (expand_check), so that the
 * expansion before each worker starts meets only known ones.
 */
#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "expand.h"

/*
 * Check the escapes of text: 0 if each % starts %p, %g, %w or %%; else -1
 * with *bad the character after the first other % ('\0' at the end).
 */
int
expand_check(const char *text, char *bad)
{
	const char *p;

	for (p = strchr(text, '%'); p != NULL; p = strchr(p + 2, '%')) {
		if (p[1] != 'p' && p[1] != 'g' && p[1] != 'w' && p[1] != '%') {
			*bad = p[1];
			return -1;
		}
	}
	return 0;
}

/*
 * The value of one escape (the character after %) written to buf; NULL
 * for an unknown one, which is then copied as it is.
 */
static const char *
expand_one(char c, const struct expand_vars *vars, char *buf, size_t len)
{
	switch (c) {
	case 'p':
		return vars->program;
	case 'g':
		snprintf(buf, len, "%u", vars->generation);
		return buf;
	case 'w':
		snprintf(buf, len, "%d", vars->worker);
		return buf;
	case '%':
		return "%";
	default:
		return NULL;
	}
}

/* text with its escapes replaced (malloc'd), or NULL if out of memory. */
char *
expand_string(const char *text, const struct expand_vars *vars)
{
	char num[16], *out;
	const char *p, *value;
	size_t len = 0, n;
	int pass;

	/* The first pass measures, the second writes. */
	for (pass = 0, out = NULL; pass < 2; pass++) {
		if (pass == 1 && (out = malloc(len + 1)) == NULL)
			return NULL;
		for (p = text, len = 0; *p != '\0'; p++) {
			value = NULL;
			if (*p == '%' && p[1] != '\0' &&
			    (value = expand_one(p[1], vars, num, sizeof(num))) != NULL)
				p++;
			n = value != NULL ? strlen(value) : 1;
			if (out != NULL)
				memcpy(out + len, value != NULL ? value : p, n);
			len += n;
		}
	}
	out[len] = '\0';
	return out;
}

/*
 * A copy of argv with each word expanded: one allocation, freed with
 * free(); NULL if out of memory.
 */
char **
expand_argv(char *const *argv, const struct expand_vars *vars)
{
	char **words, **out, *text;
	size_t n, i, len;

	for (n = 0; argv[n] != NULL; n++)
		;
	if ((words = calloc(n + 1, sizeof(*words))) == NULL)
		return NULL;
	for (i = 0, len = 0; i < n; i++) {
		if ((words[i] = expand_string(argv[i], vars)) == NULL)
			goto fail;
		len += strlen(words[i]) + 1;
	}
	if ((out = malloc((n + 1) * sizeof(*out) + len)) == NULL)
		goto fail;
	text = (char *)(out + n + 1);
	for (i = 0; i < n; i++) {
		out[i] = text;
		len = strlen(words[i]) + 1;
		memcpy(text, words[i], len);
		text += len;
		free(words[i]);
	}
	out[n] = NULL;
	free(words);
	return out;
fail:
	for (i = 0; i < n; i++)
		free(words[i]);
	free(words);
	return NULL;
}
