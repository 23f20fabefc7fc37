/*
 * test_upgrade.c: `handoff upgrade` replaces the supervisor's binary in
 * place: same pid, same workers, nothing lost under load; a binary that
 * is missing, fails its pre-flight or fails while restoring leaves the
 * old image in charge.
 */
#include "autoconf.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "load.h"

#define CLIENTS		8
#define UPGRADES	5

static struct load ld;

/* After each test: the load first, then the supervisors. */
static void
tu_fini(void)
{
	load_stop(&ld);
	memset(&ld, 0, sizeof(ld));
	tc_fini();
}

TestSuite(upgrade, .fini = tu_fini, .timeout = 240);

/* A wrapper "binary" that runs handoff with env set (a test's new version). */
static char *
tu_wrapper(struct sup *s, const char *name, const char *env)
{
	char *text, *path;

	text = tc_printf("#!/bin/sh\n%s exec %s \"$@\"\n", env,
	    support_env("HANDOFF_BIN"));
	path = support_write_file(s->dir, name, text);
	cr_assert_eq(chmod(path, 0755), 0);
	free(text);
	return path;
}

/* How many fds pid has open. */
static int
tu_fds(pid_t pid)
{
	char path[64];
	struct dirent *de;
	DIR *d;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	cr_assert_not_null(d = opendir(path));
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* Drop "version" and every "uptime_ms" from a status, recursively. */
static void
tu_strip(json_object *o)
{
	struct json_object_iterator it, end;
	size_t i;

	if (json_object_is_type(o, json_type_array)) {
		for (i = 0; i < json_object_array_length(o); i++)
			tu_strip(json_object_array_get_idx(o, i));
		return;
	}
	if (!json_object_is_type(o, json_type_object))
		return;
	json_object_object_del(o, "version");
	json_object_object_del(o, "uptime_ms");
	it = json_object_iter_begin(o);
	end = json_object_iter_end(o);
	while (!json_object_iter_equal(&it, &end)) {
		tu_strip(json_object_iter_peek_value(&it));
		json_object_iter_next(&it);
	}
}

/* The status as text without version and uptimes. */
static char *
tu_status(struct sup *s, char *version, size_t len)
{
	json_object *st = tc_status_json(s);
	char *text;

	snprintf(version, len, "%s", tc_json_str(tc_json_at(st, "version",
	    NULL)));
	tu_strip(st);
	text = strdup(json_object_to_json_string(st));
	json_object_put(st);
	return text;
}

/* `handoff upgrade --binary bin`: its exit code, stdout and stderr. */
static int
tu_upgrade(struct sup *s, const char *bin, struct run_result *res)
{
	return support_handoff_cmd(res, "upgrade", "-s", s->sock, "--binary",
	    bin, NULL);
}

/*
 * 5 upgrades in a row under load: every one exits 0 and the new image
 * answers with its version; the pid, the workers and the fd count stay;
 * status is the same apart from version and uptimes; no request fails.
 */
Test(upgrade, five_upgrades_under_load_lose_nothing)
{
	struct run_result res;
	char *before, *after, *bin, *env, *name, version[64];
	pid_t pid;
	int fds, k;

	struct sup *s = tc_new("", "");
	tc_start(s);
	pid = s->hp.pid;
	cr_assert_eq(load_start_tcp(&ld, "127.0.0.1", s->port, CLIENTS), 0);
	cr_assert_eq(load_wait_progress(&ld, 50), 0);
	before = tu_status(s, version, sizeof(version));
	fds = tu_fds(pid);
	for (k = 1; k <= UPGRADES; k++) {
		env = tc_printf("HANDOFF_TEST_VERSION=9.9.%d", k);
		name = tc_printf("handoff-9.9.%d", k);
		bin = tu_wrapper(s, name, env);
		cr_assert_eq(tu_upgrade(s, bin, &res), 0, "upgrade %d: %s", k,
		    res.err);
		cr_assert(strstr(res.out, "pre-flight passed") != NULL, "%s",
		    res.out);
		cr_assert(strstr(res.out, "upgraded to handoff 9.9.") != NULL,
		    "%s", res.out);
		support_result_free(&res);
		after = tu_status(s, version, sizeof(version));
		cr_assert_str_eq(version, tc_printf("9.9.%d", k));
		cr_assert_str_eq(after, before, "status changed by upgrade %d",
		    k);
		cr_assert_eq(tu_fds(pid), fds, "fds after upgrade %d", k);
		cr_assert_eq(load_wait_progress(&ld, 20), 0);
		free(after);
		free(bin);
		free(env);
		free(name);
	}
	load_stop(&ld);
	cr_assert_eq(load_failures(&ld), 0, "%ld of %ld requests failed",
	    load_failures(&ld), load_total(&ld));
	cr_assert_eq(s->hp.pid, pid);
	cr_assert(support_pid_alive(pid));
	free(before);
	tc_stop(s);
}

/*
 * A missing binary, one that fails its pre-flight, and one that fails
 * while restoring (the test hook): exit 1 with the reason; the old image
 * still reloads and stops.
 */
Test(upgrade, failed_upgrades_leave_the_old_image_in_charge)
{
	struct run_result res;
	char *bin, *before, *after, version[64];
	struct sup *s = tc_new("", "");

	tc_start(s);
	before = tu_status(s, version, sizeof(version));
	cr_assert_eq(tu_upgrade(s, "/nonexistent/handoff", &res), 1);
	cr_assert(strstr(res.err, "cannot run /nonexistent/handoff") != NULL,
	    "%s", res.err);
	support_result_free(&res);
	cr_assert_eq(tu_upgrade(s, "/bin/false", &res), 1);
	cr_assert(strstr(res.err, "/bin/false failed the pre-flight check") !=
	    NULL, "%s", res.err);
	support_result_free(&res);
	bin = tu_wrapper(s, "handoff-broken", "HANDOFF_TEST_FAIL_RESTORE=1 "
	    "HANDOFF_TEST_VERSION=6.6.6");
	cr_assert_eq(tu_upgrade(s, bin, &res), 1);
	cr_assert(strstr(res.err, "failed while restoring") != NULL, "%s",
	    res.err);
	support_result_free(&res);
	after = tu_status(s, version, sizeof(version));
	cr_assert_str_eq(version, PACKAGE_VERSION);
	cr_assert_str_eq(after, before);
	cr_assert_eq(support_handoff_cmd(&res, "reload", "-s", s->sock, NULL),
	    0, "%s", res.err);
	support_result_free(&res);
	free(before);
	free(after);
	free(bin);
	tc_stop(s);
}
