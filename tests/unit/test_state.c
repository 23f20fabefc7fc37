/*
 * test_state.c: the upgrade state's writer and reader (src/state.c), the
 * committed fixture of format version 1, and the new binary's pre-flight
 * of a state (upgrade-check).
 */
#include "autoconf.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "state.h"
#include "upgrade.h"

/* Write a state with awkward values; read it back the same. */
Test(state, round_trip)
{
	struct state_writer w;
	struct timespec ts = { 12345, 678 }, back;
	struct state st;
	char *cause = NULL;
	int fd, fds[8];

	cr_assert_eq(state_writer_open(&w), 0);
	state_rec(&w, "config");
	state_str(&w, "text", "[supervisor]\nname = a b=c %x\n\t\xc3\xa9\n");
	state_rec(&w, "worker");
	state_int(&w, "pid", -42);
	state_fd(&w, "output_fd", 7);
	state_time(&w, "started", &ts);
	state_str(&w, "empty", "");
	cr_assert_eq(state_writer_seal(&w, &fd, &cause), 0, "%s", cause);
	cr_assert_eq(w.nfds, 1);
	state_writer_free(&w);
	cr_assert_eq(state_read_fd(fd, &st, &cause), 0, "%s", cause);
	close(fd);
	cr_assert_eq(st.version, STATE_VERSION);
	cr_assert_eq(st.nrecs, 2);
	cr_assert_str_eq(state_get(&st.recs[0], "text"),
	    "[supervisor]\nname = a b=c %x\n\t\xc3\xa9\n");
	cr_assert_eq(state_get_int(&st.recs[1], "pid", 0), -42);
	cr_assert(state_get_time(&st.recs[1], "started", &back));
	cr_assert_eq(back.tv_sec, 12345);
	cr_assert_eq(back.tv_nsec, 678);
	cr_assert_str_eq(state_get(&st.recs[1], "empty"), "");
	cr_assert_null(state_get(&st.recs[1], "missing"));
	cr_assert_eq(state_fds(&st, fds, 8), 1);
	cr_assert_eq(fds[0], 7);
	state_free(&st);
}

/* What a reader must refuse, and why. */
Test(state, refused)
{
	static const struct {
		const char *text;
		const char *why;
	} cases[] = {
		{ "hello\n", "not a handoff state" },
		{ "HANDOFF-STATE 3\nend\n", "format version 3, newer" },
		{ "HANDOFF-STATE 1\nworker pid=1\n", "cut short" },
		{ "HANDOFF-STATE 1\nworker pid\nend\n", "malformed at line 2" },
		{ "HANDOFF-STATE 1\nworker x=%4\nend\n", "malformed at line 2" },
	};
	struct state st;
	char *cause;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cause = NULL;
		cr_assert_eq(state_parse(cases[i].text, strlen(cases[i].text),
		    &st, &cause), -1, "%s", cases[i].text);
		cr_assert(strstr(cause, cases[i].why) != NULL, "%s: %s",
		    cases[i].text, cause);
		free(cause);
	}
}

/* Unknown kinds and keys are ignored: a newer minor state reads. */
Test(state, unknown_ignored)
{
	const char *text = "HANDOFF-STATE 1\nfuture thing=1\nworker pid=9 "
	    "newkey=x\nend\n";
	struct state st;
	char *cause = NULL;

	cr_assert_eq(state_parse(text, strlen(text), &st, &cause), 0);
	cr_assert_eq(state_get_int(&st.recs[1], "pid", 0), 9);
	state_free(&st);
}

/* The committed fixture (a state written by format version 1) parses. */
Test(state, fixture_v1)
{
	char path[4096];
	struct state st;
	char *cause = NULL, *text;
	FILE *fp;
	long len;
	size_t i, workers = 0;

	snprintf(path, sizeof(path), "%s/tests/unit/fixtures/state-v1.txt",
	    getenv("srcdir") != NULL ? getenv("srcdir") : ".");
	cr_assert_not_null(fp = fopen(path, "r"), "%s", path);
	fseek(fp, 0, SEEK_END);
	len = ftell(fp);
	rewind(fp);
	text = malloc((size_t)len);
	cr_assert_eq(fread(text, 1, (size_t)len, fp), (size_t)len);
	fclose(fp);
	cr_assert_eq(state_parse(text, (size_t)len, &st, &cause), 0, "%s", cause);
	free(text);
	cr_assert_eq(st.version, 1);
	for (i = 0; i < st.nrecs; i++) {
		if (strcmp(st.recs[i].kind, "worker") == 0) {
			workers++;
			cr_assert_gt(state_get_int(&st.recs[i], "pid", 0), 0);
		}
		if (strcmp(st.recs[i].kind, "config") == 0)
			cr_assert(strstr(state_get(&st.recs[i], "text"),
			    "[program ") != NULL);
	}
	cr_assert_gt(workers, 0);
	state_free(&st);
}

/*
 * A state whose config runs 2 reuseport workers on listener web, and whose
 * record puts web's slots 0 and 1 at group indexes index0 and index1: the
 * exit code of the new binary's pre-flight, `handoff upgrade-check`.
 */
static int
preflight_of_group(long long index0, long long index1)
{
	char fdtext[16], *argv[] = { "upgrade-check", "--state-fd", fdtext, NULL };
	struct state_writer w;
	char *cause = NULL;
	int fd, rc;

	cr_assert_eq(state_writer_open(&w), 0);
	state_rec(&w, "config");
	state_str(&w, "text", "[listener web]\nlisten = 127.0.0.1:0\n"
	    "[program app]\ncommand = /bin/true\nlisteners = web\n"
	    "workers = 2\nhandoff = reuseport\n");
	state_rec(&w, "listener");
	state_str(&w, "name", "web");
	state_int(&w, "committed", 2);
	state_rec(&w, "socket");
	state_str(&w, "listener", "web");
	state_int(&w, "slot", 0);
	state_int(&w, "group_index", index0);
	state_rec(&w, "socket");
	state_str(&w, "listener", "web");
	state_int(&w, "slot", 1);
	state_int(&w, "group_index", index1);
	cr_assert_eq(state_writer_seal(&w, &fd, &cause), 0, "%s", cause);
	state_writer_free(&w);
	snprintf(fdtext, sizeof(fdtext), "%d", fd);
	rc = upgrade_check_main(3, argv);
	close(fd);
	return rc;
}

/*
 * The pre-flight refuses a record of a reuseport group that the listener
 * would not hold, before the running image execs the new one (which would
 * refuse it too, and go back to the old image): two slots at one index.
 */
Test(state, the_preflight_refuses_a_group_record_that_does_not_fit)
{
	cr_expect_eq(preflight_of_group(1, 0), 0);
	cr_expect_eq(preflight_of_group(0, -1), 0);
	cr_expect_eq(preflight_of_group(0, 0), 1);
	cr_expect_eq(preflight_of_group(1, -1), 1);
}
