/*
 * test_cli.c: the handoff binary's command line, as a user sees it: help,
 * version, unknown commands, and `handoff check` on good and bad files.
 */
#include "autoconf.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <unistd.h>

#include "support.h"

/* Run `handoff ARGS...` and capture its output. */
static int
run_handoff(struct run_result *res, const char *a1, const char *a2,
    const char *a3, const char *a4)
{
	const char *argv[] = { support_env("HANDOFF_BIN"), a1, a2, a3, a4, NULL };

	return support_run(argv, res);
}

/* The path of a file under the source tree. */
static char *
src_path(const char *rel)
{
	char *path;

	cr_assert(asprintf(&path, "%s/%s", support_env("HANDOFF_SRCDIR"), rel) != -1);
	return path;
}

Test(cli, help_lists_every_command)
{
	static const char *const names[] = { "run", "check", "reload", "status",
	    "upgrade", "stop", "version" };
	struct run_result res;
	size_t i;

	cr_assert_eq(run_handoff(&res, "--help", NULL, NULL, NULL), 0);
	cr_assert(strstr(res.out, "usage: handoff COMMAND") != NULL);
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char needle[32];
		snprintf(needle, sizeof(needle), "\n  %s ", names[i]);
		cr_expect(strstr(res.out, needle) != NULL, "help lacks %s", names[i]);
	}
	support_result_free(&res);
}

Test(cli, every_command_has_help)
{
	static const char *const names[] = { "run", "check", "reload", "status",
	    "upgrade", "stop", "version" };
	struct run_result res;
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		cr_expect_eq(run_handoff(&res, names[i], "--help", NULL, NULL), 0,
		    "%s --help failed", names[i]);
		cr_expect(strstr(res.out, "usage: handoff ") != NULL,
		    "%s --help shows no usage: %s", names[i], res.out);
		support_result_free(&res);
	}
}

Test(cli, version)
{
	struct run_result res;

	cr_assert_eq(run_handoff(&res, "version", NULL, NULL, NULL), 0);
	cr_assert_str_eq(res.out, "handoff " PACKAGE_VERSION "\n");
	support_result_free(&res);
}

Test(cli, no_command_is_usage_error)
{
	struct run_result res;

	cr_assert_eq(run_handoff(&res, NULL, NULL, NULL, NULL), 2);
	cr_assert(strstr(res.err, "usage: handoff") != NULL);
	support_result_free(&res);
}

Test(cli, unknown_command_is_named)
{
	struct run_result res;

	cr_assert_eq(run_handoff(&res, "frobnicate", NULL, NULL, NULL), 2);
	cr_assert(strstr(res.err, "handoff: unknown command 'frobnicate'") != NULL);
	support_result_free(&res);
}

Test(cli, check_unknown_option_is_usage_error)
{
	struct run_result res;

	cr_assert_eq(run_handoff(&res, "check", "--frob", NULL, NULL), 2);
	cr_assert(strstr(res.err, "usage: handoff check") != NULL);
	support_result_free(&res);
}

Test(cli, check_example_config_is_ok)
{
	char *path = src_path("etc/handoff.ini"), expected[4096];
	struct run_result res;

	cr_assert_eq(run_handoff(&res, "check", "-c", path, NULL), 0,
	    "stderr: %s", res.err);
	snprintf(expected, sizeof(expected), "%s: ok (1 listener, 1 program)\n", path);
	cr_assert_str_eq(res.out, expected);
	cr_assert_str_eq(res.err, "");
	support_result_free(&res);
	free(path);
}

Test(cli, check_reports_all_three_errors_with_lines)
{
	char *path = src_path("tests/integration/configs/three-errors.ini");
	char expected[8192];
	struct run_result res;

	cr_assert_eq(run_handoff(&res, "check", "-c", path, NULL), 2);
	snprintf(expected, sizeof(expected),
	    "%1$s:7: backlog = lots: bad backlog (use 1 to 1048576)\n"
	    "%1$s:11: program app: unknown listener 'missing' (no [listener missing] section)\n"
	    "%1$s:15: stop_signal = SIGNOPE: unknown signal (use a name such as TERM, INT, QUIT, USR1 or a number)\n"
	    "%1$s: 3 errors, not valid\n", path);
	cr_assert_str_eq(res.err, expected);
	cr_assert_str_eq(res.out, "");
	support_result_free(&res);
	free(path);
}

Test(cli, check_missing_file)
{
	struct run_result res;

	cr_assert_eq(run_handoff(&res, "check", "-c", "/nonexistent/handoff.ini",
	    NULL), 2);
	cr_assert_str_eq(res.err, "/nonexistent/handoff.ini: cannot open: "
	    "No such file or directory\n/nonexistent/handoff.ini: 1 error, not valid\n");
	support_result_free(&res);
}

Test(cli, check_warning_does_not_fail)
{
	char *dir = support_tmpdir(), *path, expected[4096];
	struct run_result res;

	path = support_write_file(dir, "warn.ini",
	    "[listener spare]\nlisten = 127.0.0.1:0\n\n"
	    "[program app]\ncommand = /bin/true\n");
	cr_assert_eq(run_handoff(&res, "check", "-c", path, NULL), 0);
	snprintf(expected, sizeof(expected),
	    "%s:1: warning: listener spare is not used by any program\n", path);
	cr_assert_str_eq(res.err, expected);
	support_result_free(&res);
	support_rmtree(dir);
	free(path);
	free(dir);
}

Test(cli, check_bind_reports_address_in_use)
{
	char *dir = support_tmpdir(), *path, config[512];
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	struct run_result res;
	int fd;

	/* Hold a port, then ask check --bind about a listener on it. */
	fd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert(bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0);
	cr_assert(listen(fd, 1) == 0);
	cr_assert(getsockname(fd, (struct sockaddr *)&sin, &len) == 0);
	snprintf(config, sizeof(config),
	    "[listener web]\nlisten = 127.0.0.1:%d\n\n"
	    "[program app]\ncommand = /bin/true\nlisteners = web\n",
	    ntohs(sin.sin_port));
	path = support_write_file(dir, "busy.ini", config);

	cr_assert_eq(run_handoff(&res, "check", "-c", path, "--bind"), 1);
	cr_assert(strstr(res.err, "address already in use") != NULL, "%s", res.err);
	cr_assert(strstr(res.err, ":1: ") != NULL, "no line number: %s", res.err);
	cr_assert(strstr(res.err, "1 listener cannot be bound") != NULL, "%s", res.err);

	/* Once the port is free, the same file binds. */
	support_result_free(&res);
	close(fd);
	cr_assert_eq(run_handoff(&res, "check", "-c", path, "--bind"), 0,
	    "%s", res.err);
	support_result_free(&res);
	support_rmtree(dir);
	free(path);
	free(dir);
}

/*
 * `handoff run --listen ... -- CMD` with a bad command line: exit 2 and a
 * message naming the option and what is wrong, and nothing started (the
 * command "x" does not exist: a supervisor that started anyway would exit
 * 1, not 2).
 */
Test(cli, run_command_line_errors_name_the_option)
{
	static const struct {
		const char	*args[10];
		const char	*says[2];
	} cases[] = {
		{ { "run", "--listen", "1.2.3:80", "--", "x" },
		  { "handoff run: --listen 1.2.3:80: ", "bad IPv4 address" } },
		{ { "run", "--listen", "127.0.0.1:0=a/b", "--", "x" },
		  { "handoff run: --listen 127.0.0.1:0=a/b: ", "bad name" } },
		{ { "run", "--listen", "127.0.0.1:0=x", "--listen",
		    "127.0.0.2:0=x", "--", "x" },
		  { "handoff run: --listen 127.0.0.2:0=x: ",
		    "given to another --listen" } },
		{ { "run", "--listen", "127.0.0.1:0", "--workers", "0", "--",
		    "x" },
		  { "handoff run: --workers 0: ", "number of workers" } },
		{ { "run", "--listen", "127.0.0.1:0", "--ready", "bogus", "--",
		    "x" },
		  { "handoff run: --ready bogus: ", "ready mode" } },
		{ { "run", "-c", "/nonexistent/handoff.ini", "--listen",
		    "127.0.0.1:0", "--", "x" },
		  { "handoff run: -c FILE and a command line", "exclude" } },
		{ { "run", "--listen", "127.0.0.1:0" },
		  { "handoff run: --listen needs a command after --", NULL } },
		{ { "run", "--listen", "127.0.0.1:0", "--", "" },
		  { "handoff run: the command is empty", NULL } },
	};
	const char *argv[12];
	struct run_result res;
	size_t i, k;
	int code;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		argv[0] = support_env("HANDOFF_BIN");
		for (k = 0; cases[i].args[k] != NULL; k++)
			argv[k + 1] = cases[i].args[k];
		argv[k + 1] = NULL;
		code = support_run(argv, &res);
		cr_expect_eq(code, 2, "case %zu (%s %s): exit code %d, not 2; "
		    "stderr: %s", i, cases[i].args[1], cases[i].args[2], code,
		    res.err);
		for (k = 0; k < 2 && cases[i].says[k] != NULL; k++)
			cr_expect(strstr(res.err, cases[i].says[k]) != NULL,
			    "case %zu: no \"%s\" in stderr: %s", i,
			    cases[i].says[k], res.err);
		/* One line: the error, not a supervisor's log. */
		cr_expect_eq(support_count_lines(res.err, ""), 1, "case %zu: %s",
		    i, res.err);
		cr_expect_str_eq(res.out, "", "case %zu", i);
		support_result_free(&res);
	}
}
