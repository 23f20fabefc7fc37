/*
 * test_status.c: `handoff status` renders from a view of the supervisor's
 * state (struct status_view), built here without a supervisor: a config,
 * its listeners bound, a program with no generation yet, and the last
 * reload's outcome. What a user reads in the table and in the JSON comes
 * from the view (and from the process itself: its pid, version and how
 * it tracks descendants).
 */
#include "autoconf.h"

#include <criterion/criterion.h>
#include <event2/buffer.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "config_text.h"
#include "harness.h"
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

/* Free what setup made. */
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

/* The JSON form, parsed: one "data " line of a whole JSON object. */
static json_object *
render_json(void)
{
	char *text = render(true);
	size_t len = strlen(text);
	json_object *root;

	cr_assert(len > 6 && strncmp(text, "data ", 5) == 0 &&
	    text[len - 1] == '\n' && strchr(text, '\n') == text + len - 1,
	    "not one data line: %s", text);
	text[len - 1] = '\0';
	root = json_tokener_parse(text + 5);
	cr_assert_not_null(root, "not JSON: %s", text + 5);
	cr_assert(json_object_is_type(root, json_type_object), "%s", text);
	free(text);
	return root;
}

TestSuite(status_view, .init = setup, .fini = teardown);

/* The table names the supervisor, its state, config, listener, program. */
Test(status_view, the_table_shows_the_view)
{
	const struct listener *l = set.items[0];
	char *text = render(false), row[256];

	cr_assert_not_null(strstr(text, "data supervisor viewtest pid "),
	    "%s", text);
	cr_assert_not_null(strstr(text, ", running, config "
	    "/etc/handoff/viewtest.ini\n"), "%s", text);
	cr_assert_not_null(strstr(text, "data last reload: none\n"), "%s",
	    text);
	snprintf(row, sizeof(row), "\ndata %-16s %-28s %-16s %s\n", "web",
	    l->bound, "web", "ok");
	cr_assert_not_null(strstr(text, row), "no row\n%s\nin:\n%s", row,
	    text);
	cr_assert_not_null(strstr(text, "\ndata PROGRAM "), "%s", text);
	free(text);
}

/* The JSON form holds the same, with every listener and program. */
Test(status_view, the_json_shows_the_view)
{
	const struct listener *l = set.items[0];
	json_object *root = render_json();

	cr_assert_str_eq(tc_json_str(tc_json_at(root, "supervisor", "name",
	    NULL)), "viewtest");
	cr_assert_str_eq(tc_json_str(tc_json_at(root, "supervisor", "state",
	    NULL)), "running");
	cr_assert_str_eq(tc_json_str(tc_json_at(root, "supervisor", "config",
	    NULL)), "/etc/handoff/viewtest.ini");
	cr_assert(json_object_is_type(tc_json_at(root, "last_reload", NULL),
	    json_type_null));
	cr_assert_eq(json_object_array_length(tc_json_at(root, "listeners",
	    NULL)), 1);
	cr_assert_str_eq(tc_json_str(tc_json_at(root, "listeners", "0", "name",
	    NULL)), "web");
	cr_assert_str_eq(tc_json_str(tc_json_at(root, "listeners", "0", "bound",
	    NULL)), l->bound);
	cr_assert_str_eq(tc_json_str(tc_json_at(root, "listeners", "0",
	    "health", NULL)), "ok");
	cr_assert_eq(json_object_array_length(tc_json_at(root, "programs",
	    NULL)), 1);
	cr_assert_str_eq(tc_json_str(tc_json_at(root, "programs", "0", "name",
	    NULL)), "app");
	json_object_put(root);
}

/* A finished reload and a reload under way show as the view says. */
Test(status_view, the_last_reload_and_the_state_come_from_the_view)
{
	json_object *root;
	char *text;

	outcome.done = true;
	outcome.ok = false;
	outcome.when = time(NULL);
	outcome.duration_us = 1500321;
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
	root = render_json();
	cr_assert_str_eq(tc_json_str(tc_json_at(root, "supervisor", "state",
	    NULL)), "stopping");
	cr_assert(!json_object_get_boolean(tc_json_at(root, "last_reload", "ok",
	    NULL)));
	cr_assert(json_object_is_type(tc_json_at(root, "last_reload", "ok",
	    NULL), json_type_boolean));
	cr_assert_eq(tc_json_int(tc_json_at(root, "last_reload", "duration_ms",
	    NULL)), 1500);
	cr_assert_eq(tc_json_int(tc_json_at(root, "last_reload", "duration_us",
	    NULL)), 1500321);
	cr_assert_str_eq(tc_json_str(tc_json_at(root, "last_reload", "message",
	    NULL)), outcome.message);
	json_object_put(root);
}
