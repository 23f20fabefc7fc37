/*
 * test_logging.c: the supervisor's own log never stalls it. With stderr on
 * a pipe nobody reads, a worker flooding its output must not keep the
 * supervisor from answering status, reloading or stopping; the lines it
 * could not write are counted and reported once the reader catches up.
 */
#include "autoconf.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "support.h"

static struct handoff_proc hp = { .pid = -1, .pidfd = -1, .exit_code = -1 };
static char *dir;

/* Stop whatever the test left running and remove its directory. */
static void
fini(void)
{
	if (hp.pid > 0 && hp.exit_code == -1)
		support_handoff_stop(&hp, SIGKILL);
	support_handoff_free(&hp);
	if (dir != NULL)
		support_rmtree(dir);
	free(dir);
}

/* Run `handoff ARG... -c CONFIG` and return its exit code. */
static int
handoff(struct run_result *res, const char *cmd, const char *config)
{
	const char *argv[] = { support_env("HANDOFF_BIN"), cmd, "-c", config,
	    NULL };

	return support_run(argv, res);
}

/* Read everything the pipe holds now (it is non-blocking). */
static char *
drain(int fd)
{
	size_t len = 0, cap = 1 << 20;
	char *text = malloc(cap + 1);
	ssize_t n;

	cr_assert_not_null(text);
	for (;;) {
		if (len == cap) {
			/* Keep only the tail: the note comes last. */
			memmove(text, text + cap / 2, cap / 2);
			len = cap / 2;
		}
		n = read(fd, text + len, cap - len);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	text[len] = '\0';
	return text;
}

Test(logging, slow_log_reader_never_stalls_the_supervisor, .fini = fini)
{
	char *config, *fifo, *text, *log;
	struct run_result res;
	struct pollfd pfd;
	int rfd, rc, tries;

	dir = support_tmpdir();
	cr_assert(asprintf(&fifo, "%s/log", dir) != -1);
	cr_assert_eq(mkfifo(fifo, 0600), 0);
	/* The reader end is open (so the supervisor can start) but unread. */
	rfd = open(fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	cr_assert(rfd != -1);
	cr_assert(asprintf(&text,
	    "[supervisor]\nname = slowlog\ncontrol = %s/ctl.sock\n"
	    "pidfile = %s/pid\n\n"
	    "[listener web]\nlisten = 127.0.0.1:0\n\n"
	    "[program app]\ncommand = %s --noise 200000\nlisteners = web\n"
	    "ready_timeout = 20s\ndrain_timeout = 5s\n",
	    dir, dir, support_env("HANDOFF_TESTSERVER")) != -1);
	config = support_write_file(dir, "handoff.ini", text);
	free(text);
	cr_assert_eq(support_handoff_start(&hp, config, fifo), 0);

	/* The control socket answers once the supervisor runs. */
	for (tries = 0; tries < 300; tries++) {
		rc = handoff(&res, "status", config);
		cr_assert_lt(rc, 128, "handoff status hung (killed after its "
		    "deadline): the supervisor is stalled");
		if (rc == 0 && strstr(res.out, " ready ") != NULL)
			break;
		support_result_free(&res);
		/* Not yet: wait for the supervisor to write (or exit). */
		pfd.fd = hp.pidfd;
		pfd.events = POLLIN;
		cr_assert_eq(poll(&pfd, 1, 100), 0, "the supervisor exited");
	}
	cr_assert_eq(rc, 0, "status never answered");
	support_result_free(&res);

	/* The log pipe is full by now; reload and stop still work. */
	cr_assert_eq(handoff(&res, "reload", config), 0, "reload: %s%s",
	    res.out, res.err);
	cr_assert(strstr(res.out, "done in") != NULL, "%s", res.out);
	support_result_free(&res);

	/*
	 * Once the reader catches up, the next line written is the count of
	 * those it lost. Read what is there, then make the supervisor log.
	 */
	free(drain(rfd));
	cr_assert_eq(handoff(&res, "reload", config), 0, "reload: %s%s",
	    res.out, res.err);
	support_result_free(&res);
	cr_assert_eq(handoff(&res, "stop", config), 0, "stop: %s", res.err);
	support_result_free(&res);
	cr_assert_eq(support_handoff_wait_exit(&hp, SUPPORT_DEADLINE_MS), 0);
	log = drain(rfd);
	cr_assert(strstr(log, "log lines dropped: the log reader was too slow")
	    != NULL, "no note of dropped lines in:\n%.2000s", log);
	free(log);
	close(rfd);
	free(config);
	free(fifo);
}
