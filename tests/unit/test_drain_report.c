/*
 * test_drain_report.c: how a draining generation's workers ended, as
 * drain_report.c reads each wait status, the summary and the warnings it
 * makes, and the bounded history a program keeps.
 */
#include "autoconf.h"

#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "drain_report.h"
#include "state.h"

/* A wait status for an exit with code, or a death by signal. */
#define EXIT_STATUS(code)	((code) << 8)
#define SIGNAL_STATUS(sig)	(sig)

/* How one worker's wait status reads, and whether it is clean. */
static const struct {
	int		 status;
	bool		 killing;	/* SIGKILL sent at drain_timeout */
	const char	*text;
	bool		 clean;
} ends[] = {
	{ EXIT_STATUS(0), false, "exited 0", true },
	{ EXIT_STATUS(3), false, "exited with status 3", false },
	{ SIGNAL_STATUS(SIGTERM), false, "died of its stop signal SIGTERM",
	  false },
	{ SIGNAL_STATUS(SIGABRT), false, "died of SIGABRT", false },
	{ SIGNAL_STATUS(SIGSEGV), false, "died of signal 11", false },
	{ SIGNAL_STATUS(SIGKILL), true, "SIGKILLed at drain_timeout 2s", false },
	/* Killed by someone else, before drain_timeout. */
	{ SIGNAL_STATUS(SIGKILL), false, "died of SIGKILL", false },
};

Test(drain_report, each_end_reads_as_it_was)
{
	char text[128];
	size_t i;

	for (i = 0; i < sizeof(ends) / sizeof(ends[0]); i++) {
		struct drain_report *r = drain_report_new("app", 4, SIGTERM,
		    2000, 1);
		cr_assert(r != NULL);
		drain_report_begin(r, 0, 100);
		if (ends[i].killing)
			drain_report_killing(r, 0);
		drain_report_exit(r, 0, 100, ends[i].status);
		drain_report_describe(r, 0, text, sizeof(text));
		cr_expect_str_eq(text, ends[i].text, "case %zu", i);
		cr_expect_eq(drain_report_clean(r), ends[i].clean, "case %zu", i);
		drain_report_free(r);
	}
}

/* The lines a report makes, collected. */
struct lines {
	char	 text[4096];
	int	 warnings;
};

/* drain_report_line_fn: append a line ("W " before a warning). */
static void
collect(void *arg, bool warn, const char *text)
{
	struct lines *l = arg;
	size_t used = strlen(l->text);

	snprintf(l->text + used, sizeof(l->text) - used, "%s%s\n",
	    warn ? "W " : "", text);
	l->warnings += warn;
}

Test(drain_report, workers_are_grouped_by_how_they_ended)
{
	struct drain_report *r = drain_report_new("app", 7, SIGTERM, 30000, 3);
	struct lines l = { "", 0 };

	drain_report_begin(r, 0, 10);
	drain_report_begin(r, 1, 11);
	drain_report_begin(r, 2, 12);
	drain_report_exit(r, 0, 10, EXIT_STATUS(0));
	drain_report_exit(r, 1, 11, SIGNAL_STATUS(SIGTERM));
	drain_report_exit(r, 2, 12, EXIT_STATUS(0));
	drain_report_lines(r, collect, &l);
	cr_expect_str_eq(l.text, "app gen 7 drained: 2 workers exited 0 "
	    "(worker 0 pid 10, worker 2 pid 12); 1 worker died of its stop "
	    "signal SIGTERM (worker 1 pid 11)\n"
	    "W app gen 7: 1 of 3 workers died of its stop signal SIGTERM: the "
	    "server has no graceful handler for SIGTERM and dropped what it "
	    "was serving: set stop_signal = the signal it stops gracefully on "
	    "(QUIT for nginx, INT for lighttpd), or handle SIGTERM in the "
	    "server\n");
	cr_expect_eq(l.warnings, 1);
	drain_report_free(r);
}

/* Status 128+TERM: a shell that TERM ended. */
Test(drain_report, status_128_plus_the_stop_signal_is_named)
{
	struct drain_report *r = drain_report_new("app", 2, SIGTERM, 1000, 1);
	struct lines l = { "", 0 };

	drain_report_begin(r, 0, 10);
	drain_report_exit(r, 0, 10, EXIT_STATUS(128 + SIGTERM));
	drain_report_lines(r, collect, &l);
	cr_expect(strstr(l.text, "status 143 is 128+SIGTERM") != NULL, "%s",
	    l.text);
	drain_report_free(r);
}

/* A program keeps DRAIN_HISTORY reports however many drains there were. */
Test(drain_report, the_history_is_bounded)
{
	struct drain_history h = { { NULL }, 0 };
	unsigned int i;

	for (i = 1; i <= 10000; i++)
		drain_history_add(&h, drain_report_new("app", i, SIGTERM, 1000,
		    4));
	cr_expect_eq(h.count, DRAIN_HISTORY);
	cr_expect_eq(h.items[0]->number, 10000 - DRAIN_HISTORY + 1);
	cr_expect_eq(h.items[DRAIN_HISTORY - 1]->number, 10000);
	drain_history_clear(&h);
	cr_expect_eq(h.count, 0);
}

/*
 * A program's reports cross an upgrade as records: each worker's end
 * reads the same after; a record with a bad end or too many workers is
 * read safely.
 */
Test(drain_report, history_crosses_an_upgrade_as_records)
{
	struct drain_history h = { { NULL }, 0 }, back = { { NULL }, 0 };
	struct state_writer w;
	struct state st;
	char *cause = NULL, a[128], b[128];
	size_t i;
	int fd, k;

	for (i = 0; i < 3; i++) {
		struct drain_report *r = drain_report_new("app", 4 + (unsigned)i,
		    SIGQUIT, 2000, 2);

		cr_assert(r != NULL);
		r->reload = 7 + (unsigned)i;
		r->left_killed = i == 2;
		drain_report_begin(r, 0, 100);
		drain_report_begin(r, 1, 0);
		drain_report_killing(r, 0);
		drain_report_exit(r, 0, 100, SIGNAL_STATUS(SIGKILL));
		drain_history_add(&h, r);
	}
	cr_assert_eq(state_writer_open(&w), 0);
	drain_history_save(&h, &w);
	state_rec(&w, "drained");
	state_str(&w, "program", "app");
	state_int(&w, "nworkers", 1);
	state_rec(&w, "drained_worker");
	state_int(&w, "end", 99);
	state_rec(&w, "drained_worker");	/* one more than it has */
	cr_assert_eq(state_writer_seal(&w, &fd, &cause), 0, "%s", cause);
	state_writer_free(&w);
	cr_assert_eq(state_read_fd(fd, &st, &cause), 0, "%s", cause);
	close(fd);
	for (i = 0; i < st.nrecs; i++)
		if (strcmp(st.recs[i].kind, "drained") == 0)
			drain_history_restore(&back, &st, &i);
	state_free(&st);
	cr_assert_eq(back.count, 2);
	/* The newest of the three kept, and the odd record after it. */
	cr_expect_eq(back.items[0]->number, 6);
	cr_expect_eq(back.items[0]->reload, 9);
	cr_expect_eq(back.items[0]->stop_signal, SIGQUIT);
	cr_expect_eq(back.items[0]->timeout_ms, 2000);
	cr_expect(back.items[0]->left_killed);
	cr_expect(!back.items[1]->left_killed);
	for (k = 0; k < 2; k++) {
		drain_report_describe(h.items[1], k, a, sizeof(a));
		drain_report_describe(back.items[0], k, b, sizeof(b));
		cr_expect_str_eq(b, a, "worker %d", k);
	}
	cr_expect_eq(back.items[1]->nworkers, 1);
	cr_expect_eq(back.items[1]->workers[0].end, DRAIN_NOT_RUNNING);
	drain_history_clear(&h);
	drain_history_clear(&back);
}
