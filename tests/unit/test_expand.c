/*
 * test_expand.c: the %-escapes of command, env and directory.
 */
#include "autoconf.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "expand.h"

#define NITEMS(a) (sizeof(a) / sizeof((a)[0]))

static const struct expand_vars vars = { "web", 12, 3 };

/* Texts and what they expand to. */
Test(expand, escapes_expand)
{
	static const struct { const char *in, *out; } cases[] = {
		{ "", "" },
		{ "plain", "plain" },
		{ "%p", "web" },
		{ "/run/nginx.%g.pid", "/run/nginx.12.pid" },
		{ "%p-%g-%w", "web-12-3" },
		{ "100%%", "100%" },
		{ "%%g", "%g" },
		{ "%%%g%%", "%12%" },
		{ "NGINX=3;", "NGINX=3;" },
	};
	size_t i;
	char *out;
	char bad;

	for (i = 0; i < NITEMS(cases); i++) {
		cr_assert_eq(expand_check(cases[i].in, &bad), 0, "%s",
		    cases[i].in);
		out = expand_string(cases[i].in, &vars);
		cr_assert_not_null(out);
		cr_assert_str_eq(out, cases[i].out, "%s", cases[i].in);
		free(out);
	}
}

/* Unknown escapes, and a % at the end, are found with what follows it. */
Test(expand, unknown_escapes_are_found)
{
	static const struct { const char *in; char bad; } cases[] = {
		{ "%x", 'x' },
		{ "a%", '\0' },
		{ "%%%", '\0' },
		{ "%g%s", 's' },
		{ "%P", 'P' },
	};
	size_t i;
	char bad;

	for (i = 0; i < NITEMS(cases); i++) {
		bad = '?';
		cr_assert_eq(expand_check(cases[i].in, &bad), -1, "%s",
		    cases[i].in);
		cr_assert_eq(bad, cases[i].bad, "%s", cases[i].in);
	}
}

/* Each word of an argv is expanded; the copy is one allocation. */
Test(expand, argv_words_expand)
{
	char *argv[] = { "/usr/sbin/nginx", "-g", "pid /run/%p.%g.pid;",
	    "%w", NULL };
	char **out = expand_argv(argv, &vars);

	cr_assert_not_null(out);
	cr_assert_str_eq(out[0], "/usr/sbin/nginx");
	cr_assert_str_eq(out[1], "-g");
	cr_assert_str_eq(out[2], "pid /run/web.12.pid;");
	cr_assert_str_eq(out[3], "3");
	cr_assert_null(out[4]);
	free(out);
}
