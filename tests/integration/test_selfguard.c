/*
 * test_selfguard.c: the port-hijack guard on the addresses of a self-mode
 * program (handoff = self), where the supervisor holds no socket: the
 * program's workers bind their own SO_REUSEPORT sockets there, and so may
 * any other process of the same uid.
 *
 * The supervisor looks at those addresses as at its own listeners'
 * (every HANDOFF_GUARD_INTERVAL, 100ms here, so that a test waits on log
 * lines rather than on the default 10s): the sockets of its workers, of
 * every generation (the old one's during a takeover too), are never
 * reported; any other holder is logged by pid, command and uid when it
 * appears and when it goes, and listed in the program's `foreign` in
 * status. `handoff check --bind` names such a holder and exits 1, with or
 * without the supervisor of the config running, and passes the
 * program's own sockets when it runs.
 *
 * The stranger is the test server run by the test itself (not by the
 * supervisor), binding the address with SO_REUSEPORT. As root, each test
 * runs in a network namespace of its own: a root supervisor with a
 * self-mode program turns net.ipv4.tcp_migrate_req on in its namespace.
 */
#include "autoconf.h"

#include <criterion/criterion.h>
#include <json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

#define SG_INTERVAL	"100ms"

/* The stranger of the running test. */
static pid_t stranger = -1;

/* After each test: the stranger first, then the supervisors. */
static void
sg_fini(void)
{
	tc_stop_stranger(&stranger);
	unsetenv("HANDOFF_GUARD_INTERVAL");
	tc_fini();
}

TestSuite(selfguard, .fini = sg_fini, .timeout = 120);

/*
 * Write s's config: program app in self mode, 2 test servers binding
 * 127.0.0.1:port themselves, ready once they listen, with extra program
 * keys; debug logs.
 */
static void
sg_config(struct sup *s, const char *keys)
{
	char *args = tc_printf("--listen 127.0.0.1:%d", s->port);
	char *all = tc_printf("handoff = self\nready = listening\n%s", keys);

	tc_write_config_full(s, "log_level = debug\n", "", args, all);
	free(args);
	free(all);
}

/*
 * A supervisor of app (sg_config), not started, whose guard looks every
 * SG_INTERVAL. As root, in a network namespace of the test's own.
 */
static struct sup *
sg_new(void)
{
	struct sup *s;

	tc_own_netns();
	s = tc_new("", "");
	sg_config(s, "");
	setenv("HANDOFF_GUARD_INTERVAL", SG_INTERVAL, 1);
	return s;
}

/* Start the stranger on s's address; return once it listens. */
static void
sg_stranger_start(struct sup *s)
{
	char *address = tc_printf("127.0.0.1:%d", s->port);

	stranger = tc_start_stranger(s, address);
	free(address);
}

/* The guard's debug line for a look that found n sockets, all ours. */
static char *
sg_look_ours(int n)
{
	return tc_printf("port-hijack guard: 1 listener, %d sockets on their "
	    "addresses, %d not the supervisor's, 0 foreign holders", n, n);
}

/* App's "foreign" array in status; the test fails without one. */
static json_object *
sg_foreign(json_object *root)
{
	json_object *list = tc_json_at(tc_json_named(root, "programs", "app"),
	    "foreign", NULL);

	cr_assert(list != NULL && json_object_is_type(list, json_type_array),
	    "no \"foreign\" array for app: %s", json_object_to_json_string(root));
	return list;
}

/* Check that status lists the stranger, and only it, as app's foreign. */
static void
sg_expect_foreign(struct sup *s)
{
	json_object *root = tc_status_json(s), *list, *f;
	char *address = tc_printf("127.0.0.1:%d", s->port);

	list = sg_foreign(root);
	cr_assert_eq(json_object_array_length(list), 1, "%s",
	    json_object_to_json_string(list));
	f = json_object_array_get_idx(list, 0);
	cr_expect_str_eq(tc_json_str(tc_json_at(f, "listener", NULL)), "web");
	cr_expect_str_eq(tc_json_str(tc_json_at(f, "address", NULL)), address);
	cr_expect_eq(tc_json_int(tc_json_at(f, "pid", NULL)), stranger);
	cr_expect_str_eq(tc_json_str(tc_json_at(f, "comm", NULL)), "testserver");
	cr_expect_eq(tc_json_int(tc_json_at(f, "uid", NULL)), (int64_t)getuid());
	cr_expect_gt(tc_json_int(tc_json_at(f, "inode", NULL)), 0);
	/* The supervisor's own listeners: none, so nothing there. */
	cr_expect_eq(json_object_array_length(tc_json_at(root, "listeners",
	    NULL)), 0);
	json_object_put(root);
	free(address);
}

/* The warning about the stranger, as the log has it. */
static char *
sg_warning(struct sup *s)
{
	return tc_printf("listener web 127.0.0.1:%d: pid %d (testserver, uid %u) "
	    "listens on its address too", s->port, (int)stranger,
	    (unsigned int)getuid());
}

/*
 * Run `handoff check --bind` on s's config: it must exit with code, and
 * say want (freed here) once on stderr if it is not NULL, else name no
 * holder at all.
 */
static void
sg_expect_check(struct sup *s, int code, char *want)
{
	struct run_result res;
	int got;

	got = support_handoff_cmd(&res, "check", "-c", s->config, "--bind",
	    NULL);
	cr_expect_eq(got, code, "exit %d:\n%s%s", got, res.out, res.err);
	if (want != NULL)
		cr_expect(strstr(res.err, want) != NULL, "want \"%s\" in:\n%s",
		    want, res.err);
	cr_expect_eq(support_count_lines(res.err, "already listen"),
	    want != NULL ? 1 : 0, "%s", res.err);
	support_result_free(&res);
	free(want);
}

/*
 * A stranger on the program's address is reported (log, status JSON and
 * table) by pid, command and uid, the program's workers never; it stays
 * reported, once, across a reload, and is said to be gone when it goes.
 */
Test(selfguard, stranger_on_a_self_address_is_reported_until_gone)
{
	struct sup *s = sg_new();
	struct run_result res;
	json_object *root;
	char *ours = sg_look_ours(2), *warning, *text, *want;

	tc_start(s);
	/* The guard looks at the workers' sockets and finds them ours. */
	tc_expect_log(s, ours, 1);
	root = tc_status_json(s);
	cr_expect_eq(json_object_array_length(sg_foreign(root)), 0);
	json_object_put(root);

	sg_stranger_start(s);
	warning = sg_warning(s);
	tc_expect_log(s, warning, 1);
	cr_expect(tc_log_count(s, "neither the supervisor nor one of its "
	    "workers") == 1, "%s", tc_log_text(s));
	sg_expect_foreign(s);
	text = tc_status_text(s);
	want = tc_printf("app              warning: foreign listener pid %d "
	    "(testserver, uid %u) on web 127.0.0.1:%d, socket inode ",
	    (int)stranger, (unsigned int)getuid(), s->port);
	cr_expect(strstr(text, want) != NULL, "want \"%s\" in:\n%s", want, text);
	free(text);
	free(want);

	/* A reload: the new workers are ours, the stranger still is not. */
	cr_assert_eq(support_handoff_cmd(&res, "reload", "-c", s->config, NULL),
	    0, "reload: %s%s", res.out, res.err);
	support_result_free(&res);
	tc_expect_log(s, "app gen 1: gone", 1);
	tc_expect_log(s, "port-hijack guard: ", tc_log_count(s,
	    "port-hijack guard: ") + 3);
	sg_expect_foreign(s);
	cr_expect_eq(tc_log_count(s, "listens on its address too"), 1, "%s",
	    tc_log_text(s));

	tc_stop_stranger(&stranger);
	tc_expect_log(s, "(testserver) no longer listens on its address", 1);
	root = tc_status_json(s);
	cr_expect_eq(json_object_array_length(sg_foreign(root)), 0, "%s",
	    json_object_to_json_string(root));
	json_object_put(root);
	free(warning);
	free(ours);
}

/*
 * While a new generation is on probation, the old and the new workers
 * listen on the address side by side: the guard looks at all four
 * sockets and reports none, nor any after the takeover and more reloads.
 */
Test(selfguard, old_and_new_workers_are_never_foreign)
{
	struct sup *s = sg_new();
	struct run_result res;
	char *both = sg_look_ours(4);
	int i;

	tc_start(s);
	sg_config(s, "probation = 3s\n");
	cr_assert_eq(support_handoff_cmd(&res, "reload", "--no-wait", "-c",
	    s->config, NULL), 0, "reload: %s%s", res.out, res.err);
	support_result_free(&res);
	tc_expect_log(s, "app gen 2: ready 2/2 in ", 1);
	/* Both generations' sockets, looked at and found ours. */
	tc_expect_log(s, both, 1);
	tc_expect_log(s, "app gen 1: gone", 1);

	sg_config(s, "");
	for (i = 0; i < 2; i++) {
		cr_assert_eq(support_handoff_cmd(&res, "reload", "-c", s->config,
		    NULL), 0, "reload %d: %s%s", i + 3, res.out, res.err);
		support_result_free(&res);
	}
	tc_expect_log(s, "port-hijack guard: ", tc_log_count(s,
	    "port-hijack guard: ") + 3);
	cr_expect_eq(tc_log_count(s, "listens on its address too"), 0, "%s",
	    tc_log_text(s));
	cr_expect_eq(tc_log_count(s, "no longer listens on its address"), 0,
	    "%s", tc_log_text(s));
	cr_expect_eq(tc_log_count(s, "foreign holder") -
	    tc_log_count(s, " 0 foreign holders"), 0, "%s", tc_log_text(s));
	free(both);
}

/*
 * `handoff check --bind` with a self-mode program: a stranger on its
 * address fails the check, named, whether the config's supervisor runs
 * or not; the program's own workers, while it runs, do not.
 */
Test(selfguard, check_bind_names_a_stranger_not_the_program)
{
	struct sup *s = sg_new();

	/* Nothing listens: the address binds. */
	sg_expect_check(s, 0, NULL);

	/* A stranger, and no supervisor running. */
	sg_stranger_start(s);
	sg_expect_check(s, 1, tc_printf("listener web: 127.0.0.1:%d: pid %d "
	    "(testserver, uid %u) already listens on this address, and no "
	    "supervisor of this config runs", s->port, (int)stranger,
	    (unsigned int)getuid()));
	tc_stop_stranger(&stranger);

	/* The supervisor runs: its workers' sockets are the program's own. */
	tc_start(s);
	tc_expect_log(s, "app gen 1: ready 2/2", 1);
	sg_expect_check(s, 0, NULL);

	/* And a stranger beside them: it alone is named. */
	sg_stranger_start(s);
	sg_expect_check(s, 1, tc_printf("listener web: 127.0.0.1:%d: pid %d "
	    "(testserver, uid %u) already listens on this address and is not a "
	    "process of this config's supervisor (pid %d)", s->port,
	    (int)stranger, (unsigned int)getuid(), (int)s->hp.pid));
}
