/*
 * test_merge.c: the config in force after `handoff reload PROGRAM`: that
 * program's part from the new file, everything else as it was.
 */
#include "autoconf.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "config_text.h"
#include "merge.h"

/* The config in force before: A on a, B on b, both on shared. */
static const char *const before_text =
    "[supervisor]\nname = one\nlog_level = warn\n"
    "[listener a]\nlisten = 127.0.0.1:7001\n"
    "[listener b]\nlisten = 127.0.0.1:7002\n"
    "[listener shared]\nlisten = 127.0.0.1:7003\nbacklog = 100\n"
    "[program A]\ncommand = /bin/a\nlisteners = a shared\n"
    "[program B]\ncommand = /bin/b\nlisteners = b shared\n";


/* Merge after_text's program `name` into before_text; NULL with *cause. */
static struct config *
merge(const char *after_text, const char *name, char **cause)
{
	struct config *before = config_from_text(before_text), *after = config_from_text(after_text);
	struct config *merged;

	merged = merge_program(before, after, name, cause);
	config_free(before);
	config_free(after);
	return merged;
}

Test(merge, takes_the_program_and_its_own_listeners_from_the_file)
{
	char *cause = NULL;
	struct config *m;
	struct listener_conf *lc;
	struct program_conf *pc;

	m = merge("[supervisor]\nname = two\nlog_level = debug\n"
	    "[listener a]\nlisten = 127.0.0.1:7001\nbacklog = 50\n"
	    "[listener b]\nlisten = 127.0.0.1:7002\nbacklog = 60\n"
	    "[listener c]\nlisten = 127.0.0.1:7004\n"
	    "[listener shared]\nlisten = 127.0.0.1:7003\nbacklog = 200\n"
	    "[program A]\ncommand = /bin/a2\nlisteners = a shared\nworkers = 3\n"
	    "[program B]\ncommand = /bin/b2\nlisteners = b shared c\n", "A",
	    &cause);
	cr_assert_not_null(m, "%s", cause);
	/* [supervisor] is the one in force. */
	cr_expect_str_eq(m->supervisor.name, "one");
	cr_expect_eq(m->supervisor.log_level, LOG_LEVEL_WARN);
	/* A is the file's. */
	cr_assert_not_null(pc = config_find_program(m, "A"));
	cr_expect_str_eq(pc->command, "/bin/a2");
	cr_expect_eq(pc->workers, 3);
	cr_expect_eq(pc->listeners[0], config_find_listener(m, "a"));
	/* B is the one in force, with its listeners. */
	cr_assert_not_null(pc = config_find_program(m, "B"));
	cr_expect_str_eq(pc->command, "/bin/b");
	cr_expect_eq(pc->nlisteners, 2);
	cr_expect_null(config_find_listener(m, "c"), "B's new listener is in");
	/* a is A's alone: the file's options; b and shared are kept. */
	cr_assert_not_null(lc = config_find_listener(m, "a"));
	cr_expect_eq(lc->opts.backlog, 50);
	cr_assert_not_null(lc = config_find_listener(m, "b"));
	cr_expect_eq(lc->opts.backlog, DEFAULT_BACKLOG);
	cr_assert_not_null(lc = config_find_listener(m, "shared"));
	cr_expect_eq(lc->opts.backlog, 100);
	cr_expect_eq(lc->users, 2);
	cr_expect_eq(m->nlisteners, 3);
	config_free(m);
}

Test(merge, a_renamed_listener_of_the_program_replaces_its_old_name)
{
	char *cause = NULL;
	struct config *m;

	m = merge("[listener web]\nlisten = 127.0.0.1:7001\n"
	    "[listener b]\nlisten = 127.0.0.1:7002\n"
	    "[listener shared]\nlisten = 127.0.0.1:7003\nbacklog = 100\n"
	    "[program A]\ncommand = /bin/a\nlisteners = web shared\n"
	    "[program B]\ncommand = /bin/b\nlisteners = b shared\n", "A", &cause);
	cr_assert_not_null(m, "%s", cause);
	cr_expect_null(config_find_listener(m, "a"));
	cr_expect_not_null(config_find_listener(m, "web"));
	cr_expect_str_eq(config_find_program(m, "A")->listener_names[0], "web");
	config_free(m);
}

Test(merge, a_shared_listener_may_not_move)
{
	char *cause = NULL;

	cr_expect_null(merge("[listener a]\nlisten = 127.0.0.1:7001\n"
	    "[listener b]\nlisten = 127.0.0.1:7002\n"
	    "[listener shared]\nlisten = 127.0.0.1:7009\n"
	    "[program A]\ncommand = /bin/a\nlisteners = a shared\n"
	    "[program B]\ncommand = /bin/b\nlisteners = b shared\n", "A",
	    &cause));
	cr_assert_not_null(cause);
	cr_expect_str_eq(cause, "listener shared is also used by other "
	    "programs: moving it from 127.0.0.1:7003 to 127.0.0.1:7009 needs a "
	    "reload of every program (handoff reload without a program name)");
	free(cause);
}

Test(merge, a_new_listener_that_conflicts_with_one_kept_is_refused)
{
	char *cause = NULL;

	/* In the file b moved away, so A may take its port; in force it may not. */
	cr_expect_null(merge("[listener a]\nlisten = 127.0.0.1:7001\n"
	    "[listener b]\nlisten = 127.0.0.1:7012\n"
	    "[listener more]\nlisten = 127.0.0.1:7002\n"
	    "[listener shared]\nlisten = 127.0.0.1:7003\n"
	    "[program A]\ncommand = /bin/a\nlisteners = a shared more\n"
	    "[program B]\ncommand = /bin/b\nlisteners = b shared\n", "A",
	    &cause));
	cr_assert_not_null(cause);
	cr_expect(strstr(cause, "reloading only program A: ") == cause, "%s",
	    cause);
	cr_expect(strstr(cause, "conflicts with listener") != NULL, "%s", cause);
	free(cause);
}

/*
 * A shared listener renamed in the file (shared -> common, on the same
 * address) cannot be taken by one program's reload: the other program
 * keeps "shared" as in force. The error says so, without a line number
 * from the config in force (line 8 of before_text, where the new file
 * has another section), and says what would apply it.
 */
Test(merge, a_shared_listener_renamed_is_refused_naming_it_as_in_force)
{
	char *cause = NULL;

	cr_expect_null(merge("[supervisor]\nname = one\n"
	    "[listener a]\nlisten = 127.0.0.1:7001\n"
	    "[listener b]\nlisten = 127.0.0.1:7002\n"
	    "[listener common]\nlisten = 127.0.0.1:7003\n"
	    "[program A]\ncommand = /bin/a\nlisteners = a common\n"
	    "[program B]\ncommand = /bin/b\nlisteners = b common\n", "A",
	    &cause));
	cr_assert_not_null(cause);
	cr_expect(strstr(cause, "listener common: 127.0.0.1:7003 conflicts "
	    "with listener shared (127.0.0.1:7003, in force)") != NULL, "%s",
	    cause);
	cr_expect(strstr(cause, "line ") == NULL,
	    "a line of the config in force: %s", cause);
	cr_expect(strstr(cause, "needs a reload of every program (handoff "
	    "reload without a program name)") != NULL, "%s", cause);
	free(cause);
}

/*
 * The program's own listener a moved in the file onto the address of b,
 * which B keeps in force (b comes after a in the config in force). The
 * error is said at a's line in the file, naming b as in force, not at b
 * without a line and with an address the file no longer gives it.
 */
Test(merge, a_listener_moved_onto_one_in_force_is_named_at_its_line)
{
	char *cause = NULL;

	cr_expect_null(merge("[listener a]\nlisten = 127.0.0.1:7002\n"
	    "[listener b]\nlisten = 127.0.0.1:7012\n"
	    "[listener shared]\nlisten = 127.0.0.1:7003\n"
	    "[program A]\ncommand = /bin/a\nlisteners = a shared\n"
	    "[program B]\ncommand = /bin/b\nlisteners = b shared\n", "A",
	    &cause));
	cr_assert_not_null(cause);
	cr_expect(strstr(cause, ":1: listener a: 127.0.0.1:7002 conflicts "
	    "with listener b (127.0.0.1:7002, in force)") != NULL, "%s", cause);
	cr_expect(strstr(cause, "needs a reload of every program") != NULL,
	    "%s", cause);
	free(cause);
}

Test(merge, the_program_must_be_in_the_file)
{
	char *cause = NULL;

	cr_expect_null(merge("[listener b]\nlisten = 127.0.0.1:7002\n"
	    "[program B]\ncommand = /bin/b\nlisteners = b\n", "A", &cause));
	cr_expect_str_eq(cause, "program A is not in the new config");
	free(cause);
}

/*
 * After a reload of one program among many, every program of the merged
 * config is found by name: the one reloaded as the file has it, the others
 * as they were in force, each the merged config's own.
 */
Test(merge, every_program_of_many_is_found_after_a_merge)
{
	char *before_many = config_text_programs(300, "/bin/");
	char *after_many = config_text_programs(300, "/usr/bin/");
	struct config *before = config_from_text(before_many);
	struct config *after = config_from_text(after_many);
	struct program_conf *pc;
	struct config *m;
	char *cause = NULL, name[16], command[32];
	size_t i = 0;

	m = merge_program(before, after, "p7", &cause);
	cr_assert_not_null(m, "%s", cause);
	config_free(before);
	config_free(after);
	cr_assert_eq(m->nprograms, 300);
	TAILQ_FOREACH(pc, &m->programs, entry) {
		snprintf(name, sizeof(name), "p%zu", i);
		snprintf(command, sizeof(command), "%sp%zu", i == 7 ?
		    "/usr/bin/" : "/bin/", i);
		cr_assert_eq(config_find_program(m, name), pc, "%s", name);
		cr_assert_str_eq(pc->command, command);
		i++;
	}
	cr_assert_eq(i, 300);
	cr_assert_null(config_find_program(m, "p300"));
	config_free(m);
	free(before_many);
	free(after_many);
}

/*
 * The listeners keep the order in force, the program's own in their
 * places, its new ones after them: a reload of a program that changes
 * no listener leaves them as they were (the next reload finds the same
 * listeners in the same order, and keeps the set in force).
 */
Test(merge, the_listeners_keep_the_order_in_force)
{
	const char *order[] = { "a", "b", "shared", "new" };
	const struct listener_conf *lc;
	char *cause = NULL;
	struct config *m;
	size_t i = 0;

	m = merge("[listener a]\nlisten = 127.0.0.1:7011\n"
	    "[listener new]\nlisten = 127.0.0.1:7005\n"
	    "[listener b]\nlisten = 127.0.0.1:7002\n"
	    "[listener shared]\nlisten = 127.0.0.1:7003\nbacklog = 100\n"
	    "[program A]\ncommand = /bin/a\nlisteners = new shared a\n"
	    "[program B]\ncommand = /bin/b\nlisteners = b shared\n", "A",
	    &cause);
	cr_assert_not_null(m, "%s", cause);
	TAILQ_FOREACH(lc, &m->listeners, entry) {
		cr_assert_lt(i, 4, "one listener too many: %s", lc->name);
		cr_assert_str_eq(lc->name, order[i], "listener %zu", i);
		i++;
	}
	cr_assert_eq(i, 4);
	/* A's own listener, in its place, is the file's. */
	lc = config_find_listener(m, "a");
	cr_assert_eq(addr_port(&lc->addr), 7011);
	config_free(m);
}

/*
 * A ready = log: pattern is the merged config's own, whichever config it
 * came from: both may be freed before the merged one is used and freed.
 */
Test(merge, a_ready_log_pattern_outlives_the_configs_merged)
{
	struct config *before, *after, *m;
	struct program_conf *pc;
	char *cause = NULL;

	before = config_from_text(
	    "[listener a]\nlisten = 127.0.0.1:7001\n"
	    "[listener b]\nlisten = 127.0.0.1:7002\n"
	    "[program A]\ncommand = /bin/a\nlisteners = a\n"
	    "ready = log:^old a\n"
	    "[program B]\ncommand = /bin/b\nlisteners = b\n"
	    "ready = log:^b (is )?up$\n");
	after = config_from_text(
	    "[listener a]\nlisten = 127.0.0.1:7001\n"
	    "[listener b]\nlisten = 127.0.0.1:7002\n"
	    "[program A]\ncommand = /bin/a\nlisteners = a\n"
	    "ready = log:^a listens on [0-9]+$\n"
	    "[program B]\ncommand = /bin/b\nlisteners = b\n");
	m = merge_program(before, after, "A", &cause);
	cr_assert_not_null(m, "%s", cause);
	config_free(before);
	config_free(after);
	cr_assert_not_null(pc = config_find_program(m, "A"));
	cr_assert_eq(pc->ready, READY_LOG);
	cr_assert_str_eq(pc->ready_log, "^a listens on [0-9]+$");
	cr_assert_eq(regexec(pc->ready_log_re, "a listens on 8080", 0, NULL, 0), 0);
	cr_assert_neq(regexec(pc->ready_log_re, "old a", 0, NULL, 0), 0);
	cr_assert_not_null(pc = config_find_program(m, "B"));
	cr_assert_eq(pc->ready, READY_LOG);
	cr_assert_str_eq(pc->ready_log, "^b (is )?up$");
	cr_assert_eq(regexec(pc->ready_log_re, "b is up", 0, NULL, 0), 0);
	cr_assert_neq(regexec(pc->ready_log_re, "b is down", 0, NULL, 0), 0);
	config_free(m);
}

/* Expect conf and copy to hold the same listeners and programs, in order. */
static void
expect_same_config(const struct config *conf, const struct config *copy)
{
	const struct listener_conf *lc, *lc2;
	const struct program_conf *pc, *pc2;
	size_t i;

	cr_expect_str_eq(copy->supervisor.name, conf->supervisor.name);
	cr_expect_eq(copy->supervisor.log_level, conf->supervisor.log_level);
	cr_assert_eq(copy->nlisteners, conf->nlisteners);
	lc2 = TAILQ_FIRST(&copy->listeners);
	TAILQ_FOREACH(lc, &conf->listeners, entry) {
		cr_assert_str_eq(lc2->name, lc->name);
		cr_expect_str_eq(lc2->fd_name, lc->fd_name, "%s", lc->name);
		cr_expect(addr_equal(&lc2->addr, &lc->addr), "%s", lc->name);
		cr_expect_eq(lc2->opts.backlog, lc->opts.backlog, "%s", lc->name);
		lc2 = TAILQ_NEXT(lc2, entry);
	}
	cr_assert_eq(copy->nprograms, conf->nprograms);
	pc2 = TAILQ_FIRST(&copy->programs);
	TAILQ_FOREACH(pc, &conf->programs, entry) {
		cr_assert_str_eq(pc2->name, pc->name);
		cr_expect_str_eq(pc2->command, pc->command, "%s", pc->name);
		cr_expect_eq(pc2->workers, pc->workers, "%s", pc->name);
		cr_assert_eq(pc2->nlisteners, pc->nlisteners, "%s", pc->name);
		for (i = 0; i < pc->nlisteners; i++)
			cr_expect_str_eq(pc2->listener_names[i],
			    pc->listener_names[i], "%s", pc->name);
		pc2 = TAILQ_NEXT(pc2, entry);
	}
}

/* Expect conf's text to read back (as an upgrade reads it) as conf. */
static void
expect_reads_back(const struct config *conf)
{
	struct config_msgs msgs;
	struct config *copy;

	cr_assert_not_null(conf->text, "the merged config has no text");
	config_msgs_init(&msgs);
	copy = config_load_text(conf->path, conf->text, conf->text_len, &msgs);
	cr_assert_not_null(copy, "its text has errors: %s\n%s", msgs.count ?
	    msgs.lines[0] : "?", conf->text);
	config_msgs_free(&msgs);
	expect_same_config(conf, copy);
	config_free(copy);
}

/*
 * Merge program name of text into base: the result, checked to read back
 * from its own text as itself.
 */
static struct config *
merge_reads_back(const struct config *base, const char *text,
    const char *name)
{
	struct config *after = config_from_text(text), *m;
	char *cause = NULL;

	m = merge_program(base, after, name, &cause);
	cr_assert_not_null(m, "%s", cause);
	config_free(after);
	expect_reads_back(m);
	return m;
}

/*
 * The merged config has a text that reads back as itself, after one
 * merge and after another on top of it: an upgrade carries the config
 * in force as text, and must not fall back to the file, which has the
 * other programs' changes that were never applied. Sections come from
 * files with a byte order mark, CRLF lines, a command over several
 * lines, comments, sections in another order and no newline at the end.
 */
Test(merge, the_merged_config_reads_back_from_its_text)
{
	struct config *before = config_from_text(before_text), *m, *m2;

	m = merge_reads_back(before, "\xEF\xBB\xBF[program B]\r\n"
	    "command = /bin/b2\r\nlisteners = b shared c\r\n"
	    "; A's new listener\r\n[listener a2]\r\nlisten = 127.0.0.1:7011\r\n"
	    "fd_name = web\r\n[program A]\r\ncommand = /bin/a2 one\r\n"
	    "    two three\r\nlisteners = a2 shared\r\nworkers = 3\r\n"
	    "[supervisor]\r\nname = two\r\n[listener b]\r\n"
	    "listen = 127.0.0.1:7002\r\nbacklog = 60\r\n"
	    "[listener shared]\r\nlisten = 127.0.0.1:7003\r\nbacklog = 200\r\n"
	    "[listener c]\r\nlisten = 127.0.0.1:7004", "A");
	cr_expect_str_eq(config_find_program(m, "A")->command,
	    "/bin/a2 one two three");
	cr_expect_str_eq(config_find_listener(m, "a2")->fd_name, "web");

	/* Then B from another file, on top of the merged config. */
	m2 = merge_reads_back(m, "[listener b]\nlisten = 127.0.0.1:7002\n"
	    "backlog = 70\n[listener shared]\nlisten = 127.0.0.1:7003\n"
	    "[program B]\ncommand = /bin/b3\nlisteners = shared b\n", "B");
	cr_expect_str_eq(config_find_program(m2, "A")->command,
	    "/bin/a2 one two three");
	cr_expect_str_eq(config_find_program(m2, "B")->command, "/bin/b3");
	cr_expect_eq(config_find_listener(m2, "b")->opts.backlog, 70);

	config_free(m2);
	config_free(m);
	config_free(before);
}
