/*
 * test_output.c: a worker's output as the supervisor logs it: lines cut
 * across reads, from several workers at once, as each is read from its
 * pipe into the one buffer they share.
 *
 * Each test captures stderr in an unlinked temp file (Criterion runs every
 * test in its own process, so replacing fd 2 touches no other test).
 */
#include "autoconf.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "log.h"
#include "output.h"
#include "support.h"

static struct event_base *base;
static int capture_fd = -1;

/* Log to stderr, which goes to an unlinked temp file; a fresh loop. */
static void
init(void)
{
	capture_fd = support_capture_stderr();
	cr_assert_geq(capture_fd, 0, "capture stderr: %s", strerror(errno));
	log_init("handoff", LOG_LEVEL_INFO, LOG_TO_STDERR);
	cr_assert_not_null(base = event_base_new());
}

/* Free the loop. */
static void
fini(void)
{
	event_base_free(base);
}

/* Everything logged so far (caller frees). */
static char *
logged(void)
{
	char *text = support_captured(capture_fd);

	cr_assert_not_null(text);
	return text;
}

/* A worker's pipe, its read end forwarded with prefix; returns the write end. */
static int
worker_pipe(const char *prefix, struct output **out,
    unsigned long long *dropped)
{
	int p[2];

	cr_assert_eq(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
	cr_assert_not_null(*out = output_new(base, p[0], prefix, dropped,
	    NULL));
	return p[1];
}

/* Write text to a worker's pipe. */
static void
say(int fd, const char *text)
{
	cr_assert_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
}

/*
 * Run the loop until every pipe with data was read: each round reads those
 * epoll hands out, at most the size of libevent's array (32 at first).
 */
static void
read_pipes(void)
{
	int round;

	for (round = 0; round < 32; round++)
		cr_assert_neq(event_base_loop(base, EVLOOP_NONBLOCK), -1);
}

/* Assert that text has a line ending in want, once. */
static void
expect_line(const char *text, const char *want)
{
	char *line;

	cr_assert(asprintf(&line, "%s\n", want) != -1);
	cr_assert_eq(support_count_lines(text, want), 1, "%s not once in:\n%s",
	    want, text);
	cr_assert_not_null(strstr(text, line), "%s not a whole line in:\n%s",
	    want, text);
	free(line);
}

Test(output, partial_lines_of_several_workers_stay_apart, .init = init,
    .fini = fini)
{
	unsigned long long dropped = 0;
	struct output *a, *b;
	int wa, wb;
	char *text;

	wa = worker_pipe("app gen 1 pid 10", &a, &dropped);
	wb = worker_pipe("app gen 1 pid 11", &b, &dropped);
	say(wa, "alpha-");
	say(wb, "beta-");
	read_pipes();
	say(wa, "one\nalpha-");
	say(wb, "one\n");
	read_pipes();
	say(wb, "beta-two");
	read_pipes();
	say(wa, "two\n");
	read_pipes();
	text = logged();
	expect_line(text, "app gen 1 pid 10: alpha-one");
	expect_line(text, "app gen 1 pid 11: beta-one");
	expect_line(text, "app gen 1 pid 10: alpha-two");
	cr_assert_null(strstr(text, "beta-two"), "logged before its end:\n%s",
	    text);
	free(text);

	/* The worker is gone: its last line, without its end, is logged. */
	close(wb);
	output_free(b);
	text = logged();
	expect_line(text, "app gen 1 pid 11: beta-two");
	free(text);
	close(wa);
	output_free(a);
	cr_assert_eq(dropped, 0);
}

/*
 * Once every writer closed the pipe, its last line is logged and the pipe
 * closed as soon as the loop sees its end, not later with the worker; the
 * line is not logged again when the output is freed.
 */
Test(output, the_pipe_is_closed_at_its_end, .init = init, .fini = fini)
{
	unsigned long long dropped = 0;
	struct output *out;
	int w, fds;
	char *text;

	fds = support_fd_count(getpid());
	w = worker_pipe("app gen 1 pid 12", &out, &dropped);
	say(w, "last words");
	close(w);
	read_pipes();
	text = logged();
	expect_line(text, "app gen 1 pid 12: last words");
	free(text);
	cr_assert_eq(support_fd_count(getpid()), fds, "the pipe is still open");
	output_free(out);
	text = logged();
	expect_line(text, "app gen 1 pid 12: last words");
	free(text);
}

Test(output, a_long_line_is_logged_in_pieces_across_reads, .init = init,
    .fini = fini)
{
	unsigned long long dropped = 0;
	char chunk[2001], *want, *text;
	struct output *out;
	int w;

	memset(chunk, 'x', sizeof(chunk) - 1);
	chunk[sizeof(chunk) - 1] = '\0';
	w = worker_pipe("app gen 2 pid 12", &out, &dropped);
	say(w, chunk);
	read_pipes();
	say(w, chunk);
	read_pipes();
	say(w, "\n");
	read_pipes();
	text = logged();
	/* 3072 bytes, then the 928 left, each piece marked as split. */
	want = calloc(1, 3072 + 64);
	cr_assert_not_null(want);
	strcpy(want, "app gen 2 pid 12: ");
	memset(want + strlen(want), 'x', 3072);
	strcat(want, "...");
	expect_line(text, want);
	strcpy(want, "app gen 2 pid 12: ...");
	memset(want + strlen(want), 'x', 4000 - 3072);
	want[strlen("app gen 2 pid 12: ...") + 4000 - 3072] = '\0';
	expect_line(text, want);
	free(want);
	free(text);
	close(w);
	output_free(out);
}

#define MANY	150	/* more than fit in one block of outputs */

Test(output, many_outputs_made_and_freed_in_any_order, .init = init,
    .fini = fini)
{
	unsigned long long dropped = 0;
	struct output *outs[MANY];
	char prefix[32], line[64], *text;
	int w[MANY], i, round;

	for (round = 0; round < 2; round++) {
		for (i = 0; i < MANY; i++) {
			/* The second time, into the slots the first freed. */
			if (round == 1 && i % 3 != 0)
				continue;
			snprintf(prefix, sizeof(prefix), "app gen %d pid %d",
			    round + 1, i);
			w[i] = worker_pipe(prefix, &outs[i], &dropped);
			snprintf(line, sizeof(line), "line of %d in round %d\n",
			    i, round);
			say(w[i], line);
		}
		read_pipes();
		text = logged();
		for (i = 0; i < MANY; i++) {
			if (round == 1 && i % 3 != 0)
				continue;
			snprintf(line, sizeof(line), "app gen %d pid %d: line of "
			    "%d in round %d", round + 1, i, i, round);
			expect_line(text, line);
		}
		free(text);
		/* Every third one first, then the rest. */
		for (i = 0; i < MANY; i += 3) {
			close(w[i]);
			output_free(outs[i]);
		}
		for (i = 0; i < MANY && round == 0; i++) {
			if (i % 3 == 0)
				continue;
			if (i % 2 == 0) {
				close(w[i]);
				output_free(outs[i]);
				outs[i] = NULL;
			}
		}
	}
	for (i = 0; i < MANY; i++) {
		if (i % 3 == 0 || outs[i] == NULL)
			continue;
		close(w[i]);
		output_free(outs[i]);
	}
}

#define FLOODERS	12	/* each with a 1 MiB pipe: 12 MiB in all */

/*
 * Fill a worker's pipe (made 1 MiB, the most an unprivileged process may
 * ask) with lines; returns the bytes written.
 */
static size_t
flood(int fd, int n)
{
	char lines[64 * 1024];
	size_t len = 0, total = 0;
	ssize_t k;

	cr_assert_geq(fcntl(fd, F_SETPIPE_SZ, 1024 * 1024), 1024 * 1024,
	    "F_SETPIPE_SZ: %s", strerror(errno));
	cr_assert_eq(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
	while (len + 64 < sizeof(lines))
		len += (size_t)snprintf(lines + len, sizeof(lines) - len,
		    "flood from %d: the quick brown fox jumps\n", n);
	while ((k = write(fd, lines, len)) > 0)
		total += (size_t)k;
	cr_assert_eq(errno, EAGAIN);
	return total;
}

/* The bytes waiting in the pipes that outs read. */
static size_t
unread(struct output **outs, int n)
{
	size_t total = 0;
	int i, k;

	for (i = 0; i < n; i++) {
		if (output_fd(outs[i]) == -1)
			continue;
		cr_assert_eq(ioctl(output_fd(outs[i]), FIONREAD, &k), 0);
		total += (size_t)k;
	}
	return total;
}

/*
 * Many workers flooding at once are held to one budget in all (20,000
 * lines a second logged, 8 MiB read), not each to its own: past it their
 * pipes are left full, not read and dropped. A quiet worker's line still
 * gets through at once.
 */
Test(output, all_workers_share_one_budget_and_a_quiet_line_gets_through,
    .init = init, .fini = fini)
{
	unsigned long long dropped = 0;
	struct output *outs[FLOODERS], *quiet;
	char prefix[32], *text;
	size_t written = 0, left = (size_t)-1;
	int w[FLOODERS], wq, i, round, lines, seconds;
	long long began;

	for (i = 0; i < FLOODERS; i++) {
		snprintf(prefix, sizeof(prefix), "app gen 1 pid %d", 100 + i);
		w[i] = worker_pipe(prefix, &outs[i], &dropped);
		written += flood(w[i], i);
	}
	wq = worker_pipe("app gen 1 pid 99", &quiet, &dropped);

	/* Read until the pipes are all empty or no more is read. */
	began = support_now_ms();
	for (round = 0; round < 4096 && left != 0; round++) {
		cr_assert_neq(event_base_loop(base, EVLOOP_NONBLOCK), -1);
		if (round % 64 == 63) {
			if (unread(outs, FLOODERS) == left)
				break;
			left = unread(outs, FLOODERS);
		}
	}
	/* The seconds of budget it had (more under valgrind, say). */
	seconds = (int)((support_now_ms() - began) / 1000) + 1;
	left = unread(outs, FLOODERS);
	text = logged();
	lines = support_count_lines(text, ": flood from ");
	/*
	 * 25,000 lines a second at most (the budget and its spare for quiet
	 * workers), and the lines of a read past it. Each worker on its own
	 * budget logs 10,000: 120,000 in all.
	 */
	cr_assert_leq(lines, seconds * (25000 + 100), "%d lines of the flood "
	    "logged in %d s", lines, seconds);
	cr_assert_not_null(strstr(text, "over the budget of all workers"),
	    "not said that the pipes are read more slowly:\n%.2000s", text);
	/* Within one second the rest waits in the pipes, not read and dropped. */
	if (seconds == 1)
		cr_assert_gt(left, written / 4, "the pipes were read, %zu of "
		    "%zu bytes left", left, written);
	free(text);

	say(wq, "a quiet line\n");
	read_pipes();
	text = logged();
	expect_line(text, "app gen 1 pid 99: a quiet line");
	free(text);

	close(wq);
	output_free(quiet);
	for (i = 0; i < FLOODERS; i++) {
		close(w[i]);
		output_free(outs[i]);
	}
}
