/* loaded.c: a config loaded for a unit test (see loaded.h). */
#include "autoconf.h"

#include <criterion/criterion.h>
#include <stdlib.h>

#include "loaded.h"
#include "support.h"

/*
 * Write text as l->dir/c.ini (l->dir made if not yet), load it and bind
 * its listeners; the test fails if either cannot be done, or if it has no
 * program of that name. Returns that program.
 */
struct program_conf *
loaded_program(struct loaded *l, const char *text, const char *program)
{
	struct config_msgs msgs;
	struct program_conf *pc;
	char *path;

	if (l->dir == NULL)
		l->dir = support_tmpdir();
	path = support_write_file(l->dir, "c.ini", text);
	config_msgs_init(&msgs);
	l->conf = config_load(path, &msgs);
	cr_assert_not_null(l->conf, "%s", msgs.count ? msgs.lines[0] : "");
	config_msgs_free(&msgs);
	free(path);
	cr_assert_eq(listener_set_update(NULL, l->conf, &l->set, NULL), 0);
	pc = config_find_program(l->conf, program);
	cr_assert_not_null(pc, "no program %s", program);
	return pc;
}

/* Close the listeners, drop the config, remove the directory. */
void
loaded_free(struct loaded *l)
{
	listener_set_clear(&l->set);
	config_unref(l->conf);
	l->conf = NULL;
	if (l->dir != NULL)
		support_rmtree(l->dir);
	free(l->dir);
	l->dir = NULL;
}
