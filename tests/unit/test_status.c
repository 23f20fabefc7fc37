/*
 * test_status.c: `handoff status` renders from a view of the supervisor's
 * state (struct status_view), built here without a supervisor: a config,
 * its listeners bound, a program with no generation yet, and the last
 * reload's outcome. What a user reads in the table and in the JSON comes
 * from the view and from nothing else.
 */
#include "autoconf.h"

#include <criterion/criterion.h>
#include <event2/buffer.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "config_text.h"
#include "listener.h"
#include "log.h"
#include "migrate.h"
#include "program.h"
#include "status.h"

static struct config *conf;
static struct listener_set set;
static struct program_list programs = TAILQ_HEAD_INITIALIZER(programs);
static struct reload_outcome outcome;
static struct migrate migrate;
static struct status_view view;

/* A config of one listener and one program, bound; the view over them. */
static void
setup(void)
{
	const struct listener_set none = { NULL, 0, NULL };
	char *cause = NULL;

	log_set_level(LOG_LEVEL_WARN);
	conf = config_from_text(
	    "[supervisor]\n"
	    "name = viewtest\n"
	    "control = /tmp/handoff-status-view.sock\n"
	    "[listener web]\n"
	    "listen = 127.0.0.1:0\n"
	    "[program app]\n"
	    "command = /bin/true\n"
	    "listeners = web\n");
	cr_assert_eq(listener_set_update(&none, conf, &set, &cause), 0, "%s",
	    cause);
	listener_set_commit(&set, conf);
	cr_assert_not_null(program_get(&programs, "app"));
	memset(&outcome, 0, sizeof(outcome));
	memset(&migrate, 0, sizeof(migrate));
	memset(&view, 0, sizeof(view));
	view.conf = conf;
	view.config_path = "/etc/handoff/viewtest.ini";
	clock_gettime(CLOCK_MONOTONIC, &view.started);
	view.last_reload = &outcome;
	view.listeners = &set;
	view.programs = &programs;
	view.migrate = &migrate;
}

static void
teardown(void)
{
	struct program *prog;

	while ((prog = TAILQ_FIRST(&programs)) != NULL)
		program_free(&programs, prog);
	listener_set_clear(&set);
	config_unref(conf);
}

/* Render the view; the caller frees the text. */
static char *
render(bool json)
{
	struct evbuffer *out = evbuffer_new();
	size_t len;
	char *text;

	cr_assert_not_null(out);
	status_render(&view, json, out);
	len = evbuffer_get_length(out);
	cr_assert_not_null(text = malloc(len + 1));
	evbuffer_remove(out, text, len);
	text[len] = '\0';
	evbuffer_free(out);
	return text;
}

TestSuite(status_view, .init = setup, .fini = teardown);

/* The table names the supervisor, its state, config and listener. */
Test(status_view, the_table_shows_the_view)
{
	const struct listener *l = set.items[0];
	char *text = render(false), want[256];

	cr_assert_not_null(strstr(text, "data supervisor viewtest pid "),
	    "%s", text);
	cr_assert_not_null(strstr(text, ", running, config "
	    "/etc/handoff/viewtest.ini\n"), "%s", text);
	cr_assert_not_null(strstr(text, "data last reload: none\n"), "%s",
	    text);
	snprintf(want, sizeof(want), "%s", l->bound);
	cr_assert_not_null(strstr(text, "web"), "%s", text);
	cr_assert_not_null(strstr(text, want), "no %s in:\n%s", want, text);
	free(text);
}

/* A finished reload and a reload under way show as the view says. */
Test(status_view, the_last_reload_and_the_state_come_from_the_view)
{
	char *text;

	outcome.done = true;
	outcome.ok = false;
	outcome.when = time(NULL);
	outcome.duration_ms = 1500;
	snprintf(outcome.message, sizeof(outcome.message),
	    "app gen 2: worker 0 exited with status 3 before ready");
	view.reloading = true;
	text = render(false);
	cr_assert_not_null(strstr(text, ", reloading, config "), "%s", text);
	cr_assert_not_null(strstr(text, "data last reload: FAILED "), "%s",
	    text);
	cr_assert_not_null(strstr(text, "(after 1.5s): app gen 2: worker 0 "
	    "exited with status 3 before ready\n"), "%s", text);
	free(text);

	view.reloading = false;
	view.stopping = true;
	text = render(true);
	cr_assert_not_null(strstr(text, "\"name\":\"viewtest\""), "%s", text);
	cr_assert_not_null(strstr(text, "\"state\":\"stopping\""), "%s", text);
	cr_assert_not_null(strstr(text, "\"config\":"
	    "\"/etc/handoff/viewtest.ini\""), "%s", text);
	cr_assert_not_null(strstr(text, "\"ok\":false"), "%s", text);
	cr_assert_not_null(strstr(text, "\"duration_ms\":1500"), "%s", text);
	cr_assert_not_null(strstr(text, "\"name\":\"app\""), "%s", text);
	free(text);
}
