/*
 * test_confpath.c: where a config and its supervisor's files are, without
 * reading the config: the default control socket and pidfile of a name,
 * what a valid name is, a config file read whole (refused unless a regular
 * file of at most 1 MiB), and the control socket a file names, found by
 * reading no further than [supervisor].
 */
#include "autoconf.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "confpath.h"
#include "support.h"

static char *dir;

/* Remove what a test made. */
static void
fini(void)
{
	support_tmpdir_free(&dir);
}

TestSuite(config_peek, .fini = fini);
TestSuite(confpath, .fini = fini);

/* A file of text in the test's directory; its path (freed by the caller). */
static char *
file_of(const char *name, const char *text)
{
	if (dir == NULL)
		dir = support_tmpdir();
	return support_write_file(dir, name, text);
}

/* config_peek_control on text written to a file: its control path. */
static char *
peek_text(const char *text)
{
	char *path = file_of("c.ini", text), *control = NULL, *cause = NULL;
	int rc;

	rc = config_peek_control(path, &control, &cause);
	cr_assert_eq(rc, 0, "config_peek_control: %s", cause ? cause : "?");
	cr_assert_not_null(control);
	free(path);
	return control;
}

Test(config_peek, finds_the_control_socket_wherever_supervisor_is)
{
	char *control;

	control = peek_text(
	    "[supervisor]\n"
	    "control = /run/shop/first.sock\n"
	    "[listener web]\n"
	    "listen = 127.0.0.1:0\n"
	    "[program app]\n"
	    "command = /bin/true\n");
	cr_assert_str_eq(control, "/run/shop/first.sock");
	free(control);

	control = peek_text(
	    "[listener web]\n"
	    "listen = 127.0.0.1:0\n"
	    "[program app]\n"
	    "command = /bin/true\n"
	    "[supervisor]\n"
	    "name = shop\n"
	    "control = /run/shop/last.sock\n");
	cr_assert_str_eq(control, "/run/shop/last.sock");
	free(control);
}

Test(config_peek, a_name_without_control_gives_the_default_path)
{
	char *control, *want;

	config_default_paths("shop", &want, NULL);
	cr_assert_not_null(want);
	control = peek_text(
	    "[listener web]\n"
	    "listen = 127.0.0.1:0\n"
	    "[supervisor]\n"
	    "name = shop\n"
	    "[program app]\n"
	    "command = /bin/true\n");
	cr_assert_str_eq(control, want);
	free(control);
	free(want);
}

/*
 * The peek reads no further than the first key of the section after
 * [supervisor]: what follows (a thousand listeners, or text the supervisor
 * will refuse) is not its concern, and a later [supervisor] is not read.
 */
Test(config_peek, stops_at_the_section_after_supervisor)
{
	char *control;

	control = peek_text(
	    "[supervisor]\n"
	    "control = /run/shop/one.sock\n"
	    "[listener web]\n"
	    "listen = 127.0.0.1:0\n"
	    "this line is no config at all\n"
	    "[supervisor]\n"
	    "control = /run/shop/two.sock\n");
	cr_assert_str_eq(control, "/run/shop/one.sock");
	free(control);
}

/* A file that cannot be read: why, and what to use instead. */
Test(config_peek, a_missing_file_says_why_and_what_to_use)
{
	char *control = NULL, *cause = NULL;

	cr_assert_eq(config_peek_control("/nonexistent/handoff.ini", &control,
	    &cause), -1);
	cr_assert_null(control);
	cr_expect_str_eq(cause, "/nonexistent/handoff.ini: cannot open: No "
	    "such file or directory (use -c FILE or -s SOCKET)");
	free(cause);
}

/* A name's control socket and pidfile, side by side in one directory. */
Test(confpath, a_names_files_are_side_by_side)
{
	char *control = NULL, *pidfile = NULL;
	size_t len;

	config_default_paths("shop", &control, &pidfile);
	cr_assert_not_null(control);
	cr_assert_not_null(pidfile);
	len = strlen(control) - strlen("shop.sock");
	cr_expect_str_eq(control + len, "shop.sock");
	cr_expect_str_eq(pidfile + len, "shop.pid");
	cr_expect(strncmp(control, pidfile, len) == 0, "%s %s", control,
	    pidfile);
	if (geteuid() == 0)
		cr_expect_str_eq(control, "/run/handoff/shop.sock");
	free(control);
	free(pidfile);
}

Test(confpath, a_name_is_letters_digits_and_three_marks)
{
	static const char *good[] = { "a", "shop", "shop-2.blue_green",
	    "0" };
	static const char *bad[] = { "", "a b", "shop/x", "shop:1", "é",
	    "a\n" };
	char longest[CONFIG_NAME_MAX + 2];
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		cr_expect(config_valid_name(good[i]), "%s", good[i]);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect(!config_valid_name(bad[i]), "%s", bad[i]);
	memset(longest, 'x', CONFIG_NAME_MAX);
	longest[CONFIG_NAME_MAX] = '\0';
	cr_expect(config_valid_name(longest));
	longest[CONFIG_NAME_MAX] = 'x';
	longest[CONFIG_NAME_MAX + 1] = '\0';
	cr_expect(!config_valid_name(longest));
}

/* What config_open says of path: NULL if it opened, else its message. */
static char *
open_says(const char *path)
{
	char *text, msg[256];
	const char *why;
	int err;
	FILE *fp;

	if ((fp = config_open(path, &text, &why, &err, NULL)) != NULL) {
		fclose(fp);
		free(text);
		return NULL;
	}
	cr_assert_null(text);
	config_open_error(why, err, msg, sizeof(msg));
	return strdup(msg);
}

/*
 * Only a regular file of at most CONFIG_MAX_BYTES is read: a directory, a
 * FIFO (never waited on) and a larger file are refused, naming why.
 */
Test(confpath, only_a_regular_file_of_at_most_1_mib_is_read)
{
	char *path, *big, *says;

	path = file_of("empty.ini", "");
	cr_expect_null(says = open_says(path), "%s", says);
	free(path);

	dir = dir != NULL ? dir : support_tmpdir();
	cr_expect_str_eq(says = open_says(dir), "is a directory, not a file");
	free(says);

	cr_assert(asprintf(&path, "%s/fifo", dir) != -1);
	cr_assert_eq(mkfifo(path, 0600), 0, "%s", strerror(errno));
	cr_expect_str_eq(says = open_says(path), "is a FIFO, not a regular "
	    "file");
	free(says);
	free(path);

	cr_assert_not_null(big = malloc(CONFIG_MAX_BYTES + 2));
	memset(big, '#', CONFIG_MAX_BYTES + 1);
	big[CONFIG_MAX_BYTES + 1] = '\0';
	path = file_of("big.ini", big);
	cr_expect_str_eq(says = open_says(path), "is too large (at most "
	    CONFIG_MAX_TEXT ")");
	free(says);
	free(path);
	big[CONFIG_MAX_BYTES] = '\0';
	path = file_of("max.ini", big);
	cr_expect_null(says = open_says(path), "%s", says);
	free(path);
	free(big);

	cr_expect_str_eq(says = open_says("/nonexistent/c.ini"),
	    "cannot open: No such file or directory");
	free(says);
}
