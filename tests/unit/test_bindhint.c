/*
 * test_bindhint.c: a worker that exits before ready saying "address
 * already in use" gets a hint: the line is found in any case and
 * anywhere; the hint names at most two of its stream listeners (none: an
 * address another process holds), sends a program under the bind() shim
 * to the shim's lines, and fits the room it is given.
 */
#include "autoconf.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bindhint.h"
#include "loaded.h"

static struct loaded loaded;

/* Remove what a test made. */
static void
fini(void)
{
	loaded_free(&loaded);
}

TestSuite(bindhint, .fini = fini);

/*
 * Load a config of the given listener sections and program app on
 * listeners (its keys after), bound; app's listeners in *ls.
 */
static struct program_conf *
load(const char *listeners_text, const char *listeners, const char *keys,
    struct listener **ls)
{
	struct program_conf *pc;
	char *text;
	size_t i;

	cr_assert(asprintf(&text, "%s[program app]\ncommand = /bin/true\n"
	    "listeners = %s\n%s", listeners_text, listeners, keys) != -1);
	pc = loaded_program(&loaded, text, "app");
	for (i = 0; i < pc->nlisteners; i++)
		cr_assert_not_null(ls[i] = listener_set_find(&loaded.set,
		    pc->listener_names[i]));
	free(text);
	return pc;
}

Test(bindhint, the_line_is_found_in_any_case_and_anywhere)
{
	static const char *yes[] = {
		"address already in use",
		"bind 127.0.0.1:80: Address already in use",
		"FATAL: ADDRESS ALREADY IN USE (errno 98)",
	};
	static const char *no[] = {
		"", "address already in", "address  already in use",
		"port already taken",
	};
	size_t i;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		cr_expect(bindhint_matches(yes[i], strlen(yes[i])), "%s", yes[i]);
	for (i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		cr_expect(!bindhint_matches(no[i], strlen(no[i])), "%s", no[i]);
	/* Only the length given is looked at. */
	cr_expect(!bindhint_matches("address already in use", 21));
}

/*
 * The hint for app on listeners (of listeners_text; keys after app's
 * own), in a buffer of the test's; its listeners in *ls.
 */
static const char *
hint_for(const char *listeners_text, const char *listeners, const char *keys,
    struct listener **ls)
{
	static char buf[512];
	struct program_conf *pc;

	pc = load(listeners_text, listeners, keys, ls);
	bindhint_describe(pc, ls, pc->nlisteners, buf, sizeof(buf));
	return buf;
}

/* Only datagram listeners: another process holds the address it binds. */
Test(bindhint, no_stream_listener_means_another_process)
{
	struct listener *ls[1];

	cr_expect_str_eq(hint_for("[listener dns]\nlisten = udp:127.0.0.1:0\n",
	    "dns", "", ls), "its output says \"address already in use\": "
	    "another process holds an address it binds");
}

/*
 * At most two stream listeners are named, datagram ones skipped; under
 * the shim, the hint sends the operator to the shim's own lines.
 */
Test(bindhint, two_stream_listeners_are_named_and_the_shim_is_pointed_at)
{
	struct listener *ls[4];
	const char *hint;
	char *want;

	hint = hint_for("[listener dns]\nlisten = udp:127.0.0.1:0\n"
	    "[listener a]\nlisten = 127.0.0.1:0\n"
	    "[listener b]\nlisten = 127.0.0.1:0\n"
	    "[listener c]\nlisten = 127.0.0.1:0\n", "dns, a, b, c",
	    "preload = yes\n", ls);
	cr_assert(asprintf(&want, "its output says \"address already in "
	    "use\": it binds the address of listener a %s or listener b %s "
	    "itself, and the bind() shim did not hand it the socket: see the "
	    "shim's lines above", ls[1]->bound, ls[2]->bound) != -1);
	cr_expect_str_eq(hint, want);
	free(want);
}

/* A dynamically linked command without the shim: preload = yes helps. */
Test(bindhint, a_dynamic_command_is_told_to_set_preload)
{
	struct listener *ls[1];
	const char *hint;

	hint = hint_for("[listener web]\nlisten = 127.0.0.1:0\n", "web", "", ls);
	cr_expect(strstr(hint, "itself instead of using the socket it was "
	    "given: set preload = yes (the bind() shim hands it that socket), "
	    "or make it use LISTEN_FDS") != NULL, "%s", hint);
}

/* In less room than the hint takes: cut, terminated, nothing overrun. */
Test(bindhint, the_hint_fits_the_room_it_is_given)
{
	struct listener *ls[1];
	struct program_conf *pc;
	char buf[64];
	size_t room;

	pc = load("[listener web]\nlisten = 127.0.0.1:0\n", "web",
	    "preload = yes\n", ls);
	for (room = 1; room <= 48; room++) {
		memset(buf, 'x', sizeof(buf));
		bindhint_describe(pc, ls, 1, buf, room);
		cr_expect_eq(strlen(buf), room - 1, "in %zu bytes: %s", room,
		    buf);
		cr_expect_eq(buf[room], 'x', "in %zu bytes", room);
	}
}
