/*
 * test_output.c: what a worker writes, as the supervisor's log shows it, and
 * a worker whose command cannot run for a while.
 *
 *   - a worker flooding its stdout is held to a budget: the lines over it
 *     are counted in the log and in status, and the supervisor still
 *     answers status and completes a reload;
 *   - control characters a worker writes reach the log escaped, and worker
 *     output shows at log_level = warn; output = discard sends it nowhere;
 *   - a line of the log that a slow pipe took only in part is finished
 *     before the next one, never run together with it;
 *   - a worker of a running generation whose command vanished, or cannot be
 *     executed, is retried with backoff (logged once, shown in status) and
 *     runs again once the command is back; a reload meanwhile fails at once.
 *
 * Each test runs the real `handoff run` with a private directory and the
 * test server as its program, waits on log lines or polls status with a
 * deadline, and stops everything it started.
 */
#include "autoconf.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <json.h>
#include <poll.h>
#include <regex.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "support.h"

static struct handoff_proc hp = { .pid = -1, .pidfd = -1, .exit_code = -1 };
static char *dir, *config, *log_path;

/* Stop whatever the test left running and remove its directory. */
static void
fini(void)
{
	support_handoff_kill_all(&hp);
	if (dir != NULL)
		support_rmtree(dir);
	free(dir);
	free(config);
	free(log_path);
}

/*
 * Write a config with one program (app, on 127.0.0.1:0) whose command and
 * extra program keys are given, plus [supervisor] keys; start handoff on it
 * with its log in dir/handoff.log, unless log is given.
 */
static void
start(const char *supervisor_keys, const char *command, const char *keys,
    const char *log)
{
	char *text;

	if (dir == NULL)
		dir = support_tmpdir();
	cr_assert(asprintf(&text,
	    "[supervisor]\nname = outtest\ncontrol = %s/ctl.sock\n"
	    "pidfile = %s/pid\n%s\n"
	    "[listener web]\nlisten = 127.0.0.1:0\n\n"
	    "[program app]\ncommand = %s\nlisteners = web\n"
	    "ready_timeout = 20s\ndrain_timeout = 5s\n%s",
	    dir, dir, supervisor_keys, command, keys) != -1);
	config = support_write_file(dir, "handoff.ini", text);
	free(text);
	cr_assert(asprintf(&log_path, "%s/handoff.log", dir) != -1);
	cr_assert_eq(support_handoff_start(&hp, config, log != NULL ? log :
	    log_path), 0);
}

/* Stop the supervisor with `handoff stop` and wait until it exited. */
static void
stop(void)
{
	struct run_result res;

	cr_assert_eq(support_handoff_cmd(&res, "stop", "-c", config, NULL), 0,
	    "stop: %s", res.err);
	support_result_free(&res);
	cr_assert_eq(support_handoff_wait_exit(&hp, SUPPORT_DEADLINE_MS), 0);
}

/* Give the supervisor a moment (or notice it exited): a polling interval. */
static void
pause_briefly(void)
{
	struct pollfd pfd = { .fd = hp.pidfd, .events = POLLIN };

	cr_assert_eq(poll(&pfd, 1, 50), 0, "the supervisor exited");
}

/*
 * `handoff status --json`, parsed (the caller puts it); NULL if the
 * supervisor does not answer yet and may_fail.
 */
static json_object *
status_json(bool may_fail)
{
	struct run_result res;
	json_object *root;
	int rc;

	rc = support_handoff_cmd(&res, "status", "--json", "-c", config, NULL);
	if (rc != 0 && may_fail) {
		support_result_free(&res);
		return NULL;
	}
	cr_assert_eq(rc, 0, "status: %s%s", res.out, res.err);
	root = json_tokener_parse(res.out);
	cr_assert_not_null(root, "not JSON: %s", res.out);
	support_result_free(&res);
	return root;
}

/* Worker 0 of the program's first generation listed, in a status. */
static json_object *
first_worker(json_object *root)
{
	json_object *o = root;
	const char *path[] = { "programs", "0", "generations", "0", "workers",
	    "0" };
	size_t i;

	for (i = 0; i < sizeof(path) / sizeof(path[0]) && o != NULL; i++) {
		if (json_object_is_type(o, json_type_array))
			o = json_object_array_get_idx(o, (size_t)atoi(path[i]));
		else if (!json_object_object_get_ex(o, path[i], &o))
			o = NULL;
	}
	cr_assert_not_null(o, "no worker in the status");
	return o;
}

/* A member of a worker as a string ("" if null or missing). */
static const char *
worker_str(json_object *w, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(w, key, &v) ||
	    !json_object_is_type(v, json_type_string))
		return "";
	return json_object_get_string(v);
}

/* A member of a worker as a number (-1 if null or missing). */
static long long
worker_int(json_object *w, const char *key)
{
	json_object *v;

	if (!json_object_object_get_ex(w, key, &v) ||
	    !json_object_is_type(v, json_type_int))
		return -1;
	return json_object_get_int64(v);
}

/*
 * Poll status until worker 0 is in state (and, if given, its last_error
 * contains error and it restarted at least restarts times); return its pid.
 */
static pid_t
wait_worker(const char *state, const char *error, long long restarts)
{
	long long deadline = support_now_ms() + SUPPORT_DEADLINE_MS;
	json_object *root, *w;
	char seen[512] = "";
	pid_t pid;

	for (;;) {
		if ((root = status_json(true)) == NULL) {
			/* Not answering yet: it is starting. */
			cr_assert_lt(support_now_ms(), deadline, "status never "
			    "answered");
			pause_briefly();
			continue;
		}
		w = first_worker(root);
		snprintf(seen, sizeof(seen), "state %s, pid %lld, restarts %lld, "
		    "last_error \"%s\"", worker_str(w, "state"),
		    worker_int(w, "pid"), worker_int(w, "restarts"),
		    worker_str(w, "last_error"));
		if (strcmp(worker_str(w, "state"), state) == 0 &&
		    worker_int(w, "restarts") >= restarts &&
		    (error != NULL ? strstr(worker_str(w, "last_error"), error)
		    != NULL : worker_str(w, "last_error")[0] == '\0')) {
			pid = (pid_t)worker_int(w, "pid");
			json_object_put(root);
			return pid;
		}
		json_object_put(root);
		cr_assert_lt(support_now_ms(), deadline, "worker 0 never %s "
		    "(error %s, %lld restarts); last seen: %s", state,
		    error ? error : "none", restarts, seen);
		pause_briefly();
	}
}

/* How many lines of the log contain needle. */
static int
log_count(const char *needle)
{
	char *text = support_read_file(log_path);
	int n;

	cr_assert_not_null(text);
	n = support_count_lines(text, needle);
	free(text);
	return n;
}

Test(output, flooding_worker_is_held_to_a_budget, .fini = fini)
{
	struct run_result res;
	json_object *root;
	char *command;

	cr_assert(asprintf(&command, "%s --flood",
	    support_env("HANDOFF_TESTSERVER")) != -1);
	start("", command, "", NULL);
	free(command);
	wait_worker("ready", NULL, 0);

	/* The lines over the budget are counted, in the log and in status. */
	cr_assert_eq(support_handoff_wait_log(&hp, "lines of output (over the "
	    "budget of 10000 lines or 1024 KiB a second)", 1), 0,
	    "no count of dropped lines in the log");
	root = status_json(false);
	cr_assert_gt(worker_int(first_worker(root), "output_dropped"), 0,
	    "status counts no dropped lines: %s",
	    json_object_to_json_string(root));
	json_object_put(root);

	/* The supervisor still answers, and a reload still completes. */
	cr_assert_eq(support_handoff_cmd(&res, "status", "-c", config, NULL), 0,
	    "status: %s%s", res.out, res.err);
	support_result_free(&res);
	cr_assert_eq(support_handoff_cmd(&res, "reload", "-c", config, NULL), 0,
	    "reload: %s%s", res.out, res.err);
	cr_assert(strstr(res.out, "done in") != NULL, "%s", res.out);
	support_result_free(&res);
	stop();
}

Test(output, control_characters_are_escaped_and_shown_at_warn, .fini = fini)
{
	char *command, *text;
	struct stat st;

	/* CR, ESC, tab, NUL, a C1 control, a euro sign, a stray byte. */
	cr_assert(asprintf(&command, "%s --print 'a\\x0db\\x1b[31mc\\x09d"
	    "\\x00e\\xc2\\x9bf\\xe2\\x82\\xacg\\xffh\\n'",
	    support_env("HANDOFF_TESTSERVER")) != -1);
	start("log_level = warn\n", command, "", NULL);
	free(command);
	cr_assert_eq(support_handoff_wait_log(&hp,
	    ": a\\rb\\x1b[31mc\td\\x00e\\xc2\\x9bf\xe2\x82\xacg\\xffh", 1), 0,
	    "the worker's line is not in the log, escaped");
	stop();

	/* Nothing a terminal acts on reached the log; no NUL cut it short. */
	text = support_read_file(log_path);
	cr_assert_not_null(text);
	cr_assert_eq(stat(log_path, &st), 0);
	cr_assert_eq(strlen(text), (size_t)st.st_size, "a NUL in the log");
	cr_assert_null(strchr(text, '\r'), "a CR in the log:\n%s", text);
	cr_assert_null(strchr(text, '\x1b'), "an ESC in the log:\n%s", text);
	cr_assert_null(strstr(text, "\xc2\x9b"), "a C1 control in the log");
	free(text);
}

Test(output, discard_sends_worker_output_nowhere, .fini = fini)
{
	char *command;

	cr_assert(asprintf(&command, "%s --print 'to-be-discarded\\n' "
	    "--noise 3", support_env("HANDOFF_TESTSERVER")) != -1);
	start("", command, "output = discard\n", NULL);
	free(command);
	wait_worker("ready", NULL, 0);
	stop();
	cr_assert_eq(log_count("to-be-discarded"), 0);
	cr_assert_eq(log_count("noise "), 0);
	cr_assert_eq(log_count("app gen 1: ready"), 1);
}

/* Read everything the pipe holds now (it is non-blocking) onto *text. */
static void
drain_into(int fd, char **text, size_t *len)
{
	char buf[65536];
	ssize_t n;

	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		*text = realloc(*text, *len + (size_t)n + 1);
		cr_assert_not_null(*text);
		memcpy(*text + *len, buf, (size_t)n);
		*len += (size_t)n;
		(*text)[*len] = '\0';
	}
}

Test(output, line_cut_by_a_full_log_pipe_is_finished_first, .fini = fini)
{
	struct run_result res;
	char *command, *fifo, *text = NULL, *line, *next;
	size_t len = 0;
	int rfd, lines = 0;
	long long deadline;
	regmatch_t match;
	regex_t stamp;

	dir = support_tmpdir();
	cr_assert(asprintf(&fifo, "%s/log", dir) != -1);
	cr_assert_eq(mkfifo(fifo, 0600), 0);
	/* The reader end is open (so the supervisor can start) but unread. */
	rfd = open(fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	cr_assert(rfd != -1);
	/* 160000 control characters: escaped, log lines over PIPE_BUF. */
	cr_assert(asprintf(&command, "%s --print '\\x01\\x01\\x01\\x01' "
	    "--repeat 40000", support_env("HANDOFF_TESTSERVER")) != -1);
	start("", command, "", fifo);
	free(command);

	/*
	 * Read the pipe until what it held ends in a cut line: the pipe was
	 * full and took only part of a line. Then the supervisor logs again,
	 * and stops.
	 */
	deadline = support_now_ms() + SUPPORT_DEADLINE_MS;
	for (;;) {
		drain_into(rfd, &text, &len);
		if (len > 0 && text[len - 1] != '\n')
			break;
		cr_assert_lt(support_now_ms(), deadline, "no line of the log "
		    "was ever cut by a full pipe");
		pause_briefly();
	}
	cr_assert_eq(support_handoff_cmd(&res, "reload", "-c", config, NULL), 0,
	    "reload: %s%s", res.out, res.err);
	support_result_free(&res);
	stop();
	drain_into(rfd, &text, &len);
	close(rfd);
	free(fifo);

	/*
	 * Every line is whole: one stamp and level, at its start. (The last
	 * may be cut, if the pipe was full as the supervisor exited.)
	 */
	cr_assert_eq(regcomp(&stamp, "[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:"
	    "[0-9]{2}:[0-9]{2}\\.[0-9]{3} outtest (info|warn|error): ",
	    REG_EXTENDED), 0);
	for (line = text; line < text + len; line = next + 1) {
		if ((next = strchr(line, '\n')) == NULL)
			next = text + len;
		*next = '\0';
		cr_assert_eq(regexec(&stamp, line, 1, &match, 0), 0,
		    "a line without a stamp: %.200s", line);
		cr_assert_eq(match.rm_so, 0, "a line without a stamp: %.200s",
		    line);
		cr_assert_neq(regexec(&stamp, line + 1, 1, &match, 0), 0,
		    "two lines run together: %.200s ... %s", line,
		    line + 1 + match.rm_so);
		lines++;
	}
	cr_assert_gt(lines, 2);
	regfree(&stamp);
	free(text);
}

/*
 * Once app's worker is ready, point dir/app (the command) at target, or
 * remove it if target is NULL, and kill the worker.
 */
static void
break_command_and_kill_worker(const char *target)
{
	char *link;
	pid_t pid;

	cr_assert(asprintf(&link, "%s/app", dir) != -1);
	pid = wait_worker("ready", NULL, 0);
	cr_assert_gt(pid, 0);
	cr_assert_eq(unlink(link), 0);
	if (target != NULL)
		cr_assert_eq(symlink(target, link), 0);
	cr_assert_eq(kill(pid, SIGKILL), 0);
	free(link);
}

/* Point dir/app at the test server again. */
static void
mend_command(void)
{
	char *link;

	cr_assert(asprintf(&link, "%s/app", dir) != -1);
	(void)unlink(link);
	cr_assert_eq(symlink(support_env("HANDOFF_TESTSERVER"), link), 0);
	free(link);
}

/* Start a supervisor whose program runs dir/app. */
static void
start_app(void)
{
	char *command;

	dir = support_tmpdir();
	mend_command();
	cr_assert(asprintf(&command, "%s/app", dir) != -1);
	start("", command, "", NULL);
	free(command);
}

/*
 * Break app's command (remove dir/app or, with not_executable, point it at
 * a file that cannot be executed) and kill its worker: its restarts fail
 * with error, and are tried again (logged once, shown in status); a reload
 * meanwhile fails at once, as it always did. Once the command is mended,
 * the worker runs again.
 */
static void
restart_until_mended(bool not_executable, const char *error)
{
	struct run_result res;

	start_app();
	break_command_and_kill_worker(not_executable ? config : NULL);
	wait_worker("backoff", error, 3);
	cr_assert_eq(log_count("app gen 1 worker 0: cannot restart: "), 1);

	cr_assert_eq(support_handoff_cmd(&res, "reload", "-c", config, NULL), 1,
	    "reload: %s%s", res.out, res.err);
	cr_assert(strstr(res.err, "cannot run") != NULL, "reload: %s%s",
	    res.out, res.err);
	support_result_free(&res);
	wait_worker("backoff", error, 4);

	mend_command();
	wait_worker("ready", NULL, 4);
	cr_assert_eq(support_handoff_wait_log(&hp, "runs again after ", 1), 0);
	cr_assert_eq(log_count("app gen 1 worker 0: cannot restart: "), 1);
	stop();
}

Test(restart, worker_whose_command_vanished_runs_again_once_it_is_back,
    .fini = fini)
{
	restart_until_mended(false, "No such file or directory");
}

Test(restart, worker_whose_command_cannot_exec_runs_again_once_it_can,
    .fini = fini)
{
	/* The config file is there but not executable: exec fails. */
	restart_until_mended(true, "exec: Permission denied");
}
