/*
 * test_libhandoff.c: libhandoff as a server author gets it. `make install
 * prefix=TMP` installs handoff.h, libhandoff.so.0 (exporting only the
 * handoff_* functions) and libhandoff.a, handoff.pc and libhandoff(3),
 * which man -l renders. The complete example of that installed manual
 * builds with `pkg-config --cflags --libs handoff` alone, and under handoff
 * takes its socket by name, shows its handoff_status text in `handoff
 * status`, and reloads under load with no request failed and every old
 * worker exiting 0 on its own.
 *
 * The example is built with this build's compiler and sanitizer flags (a
 * library built with AddressSanitizer needs a program built with it).
 */
#include "autoconf.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "load.h"

#define CLIENTS		8
#define RELOADS		5

/* Where the test installed, removed after each test. */
static char *prefix;

/* The running test's load; stopped before its supervisor is. */
static struct load ld;

/* After each test: the load, the supervisor, the prefix. */
static void
lh_fini(void)
{
	load_stop(&ld);
	memset(&ld, 0, sizeof(ld));
	tc_fini();
	if (prefix != NULL)
		support_rmtree(prefix);
	free(prefix);
	prefix = NULL;
}

TestSuite(libhandoff, .fini = lh_fini, .timeout = 300);

/* Run a shell command line; fail the test with its output unless it
   exits 0. Returns what it printed on stdout, which the caller frees. */
static char *
lh_sh(const char *cmd)
{
	const char *argv[] = { "/bin/sh", "-c", cmd, NULL };
	struct run_result res;
	char *out;

	support_run(argv, &res);
	cr_assert_eq(res.exit_code, 0, "%s: exit %d\n%s%s", cmd, res.exit_code,
	    res.out, res.err);
	out = res.out;
	res.out = NULL;
	support_result_free(&res);
	return out;
}

/* `make install prefix=TMP` from this build tree; sets prefix. */
static void
lh_install(void)
{
	char *bin = strdup(support_env("HANDOFF_BIN")), *out, *cmd;

	cr_assert(bin != NULL);
	prefix = support_tmpdir();
	/* Not the jobserver of the `make check` that runs this test. */
	unsetenv("MAKEFLAGS");
	unsetenv("MFLAGS");
	unsetenv("MAKELEVEL");
	/* The systemd unit too goes under prefix, not to the system's. */
	cmd = tc_printf("make -C '%s' install DESTDIR= prefix='%s' "
	    "systemdsystemunitdir='%s/lib/systemd/system'", dirname(bin), prefix,
	    prefix);
	out = lh_sh(cmd);
	free(out);
	free(cmd);
	free(bin);
	out = tc_printf("%s/lib/pkgconfig", prefix);
	cr_assert_eq(setenv("PKG_CONFIG_PATH", out, 1), 0);
	free(out);
}

/* Whether prefix/rel exists. */
static bool
lh_installed(const char *rel)
{
	char *path = tc_printf("%s/%s", prefix, rel);
	bool there = access(path, F_OK) == 0;

	free(path);
	return there;
}

/*
 * The first literal block of the EXAMPLES section of the installed
 * libhandoff(3), unescaped (\e is a backslash, \& nothing), written to
 * prefix/server.c. Returns the file's path.
 */
static char *
lh_manual_example(void)
{
	char *man = tc_printf("%s/share/man/man3/libhandoff.3", prefix);
	char *text = support_read_file(man), *start, *end, *src, *p, *q, *path;

	cr_assert(text != NULL, "%s: %s", man, strerror(errno));
	start = strstr(text, "\n.Sh EXAMPLES\n");
	cr_assert(start != NULL, "%s has no EXAMPLES section", man);
	start = strstr(start, "\n.Bd -literal\n");
	cr_assert(start != NULL, "the EXAMPLES of %s have no literal block", man);
	start += strlen("\n.Bd -literal\n");
	end = strstr(start, "\n.Ed\n");
	cr_assert(end != NULL);
	src = calloc(1, (size_t)(end - start) + 2);
	cr_assert(src != NULL);
	for (p = start, q = src; p < end; p++) {
		if (p[0] == '\\' && p[1] == 'e') {
			*q++ = '\\';
			p++;
		} else if (p[0] == '\\' && p[1] == '&')
			p++;
		else
			*q++ = *p;
	}
	*q = '\n';
	path = support_write_file(prefix, "server.c", src);
	free(src);
	free(text);
	free(man);
	return path;
}

/* Build source into prefix/name with cc, the sanitizer flags of this build
   and extra (pkg-config's flags); returns the program's path. */
static char *
lh_build(const char *source, const char *name, const char *extra)
{
	char *exe = tc_printf("%s/%s", prefix, name), *cmd, *out;

	cmd = tc_printf("%s -std=c11 -Wall -Wextra -Werror %s -o '%s' '%s' %s",
	    LIBHANDOFF_TEST_CC, LIBHANDOFF_TEST_CFLAGS, exe, source, extra);
	out = lh_sh(cmd);
	free(out);
	free(cmd);
	return exe;
}

/* ---- what `make install` installs ---------------------------------------- */

Test(libhandoff, installs_header_libraries_pkgconfig_and_manual)
{
	char *out, *cmd, *want, *source, *exe;

	lh_install();
	cr_expect(lh_installed("include/handoff.h"));
	cr_expect(lh_installed("lib/libhandoff.so"));
	cr_expect(lh_installed("lib/libhandoff.so.0"));
	cr_expect(lh_installed("lib/libhandoff.a"));
	cr_expect(lh_installed("lib/pkgconfig/handoff.pc"));
	cr_expect(lh_installed("share/man/man3/libhandoff.3"));

	/* A versioned soname. */
	cmd = tc_printf("readelf -d '%s/lib/libhandoff.so' | "
	    "sed -n 's/.*(SONAME).*\\[\\(.*\\)\\]/\\1/p'", prefix);
	out = lh_sh(cmd);
	cr_expect_str_eq(out, "libhandoff.so.0\n");
	free(out);
	free(cmd);

	/* Only the handoff_* functions are exported, under HANDOFF_0. */
	cmd = tc_printf("nm -D --defined-only '%s/lib/libhandoff.so' | "
	    "awk '$2 != \"A\" { print $3 }' | sort", prefix);
	out = lh_sh(cmd);
	cr_expect_str_eq(out,
	    "handoff_listen_fds@@HANDOFF_0\n"
	    "handoff_listener_fd@@HANDOFF_0\n"
	    "handoff_ready@@HANDOFF_0\n"
	    "handoff_status@@HANDOFF_0\n"
	    "handoff_stopping@@HANDOFF_0\n");
	free(out);
	free(cmd);

	/* pkg-config describes the prefix it was installed to. */
	out = lh_sh("pkg-config --cflags --libs handoff");
	want = tc_printf("-I%s/include -L%s/lib -lhandoff \n", prefix, prefix);
	cr_expect_str_eq(out, want);
	free(want);
	free(out);

	/* man -l renders the installed page, without a warning. */
	cmd = tc_printf("MANWIDTH=80 man --warnings -l -P cat "
	    "'%s/share/man/man3/libhandoff.3' 2>&1", prefix);
	out = lh_sh(cmd);
	cr_expect(strstr(out, "handoff_listener_fd(const char *name)") != NULL,
	    "%s", out);
	cr_expect(strstr(out, "warning") == NULL, "%s", out);
	free(out);
	free(cmd);

	/* The static library links in whole: no libhandoff.so needed, and
	   run alone, the example finds no socket named web. */
	source = lh_manual_example();
	cmd = tc_printf("$(pkg-config --cflags handoff) '%s/lib/libhandoff.a'",
	    prefix);
	exe = lh_build(source, "server-static", cmd);
	free(cmd);
	cmd = tc_printf("readelf -d '%s' | grep -c libhandoff || true", exe);
	out = lh_sh(cmd);
	cr_expect_str_eq(out, "0\n", "the static build needs libhandoff.so");
	free(out);
	free(cmd);
	cmd = tc_printf("env -u LISTEN_FDS -u LISTEN_PID '%s' 2>&1; echo exit $?",
	    exe);
	out = lh_sh(cmd);
	cr_expect_str_eq(out, "no socket named web: No such file or directory\n"
	    "exit 1\n");
	free(out);
	free(cmd);
	free(exe);
	free(source);
}

/* ---- the manual's example under handoff ---------------------------------- */

/* Wait until `handoff status` shows want for n workers. */
static void
lh_expect_status(struct sup *s, const char *want, int n)
{
	long long deadline = support_now_ms() + DEADLINE_MS;
	struct run_result res;
	int seen;

	for (;;) {
		cr_assert_eq(support_handoff_cmd(&res, "status", "-c", s->config,
		    NULL), 0, "%s", res.err);
		seen = support_count_lines(res.out, want);
		if (seen == n || tc_left(deadline) == 0)
			break;
		support_result_free(&res);
		usleep(20000);	/* polling status with a deadline */
	}
	cr_expect_eq(seen, n, "%d worker rows with \"%s\":\n%s", seen, want,
	    res.out);
	support_result_free(&res);
}

Test(libhandoff, manual_example_takes_its_socket_by_name_and_reloads_under_load)
{
	char *source, *exe, *flags, *text, *needle, summary[1024];
	struct sup *s;
	int k, admin_port;

	lh_install();
	source = lh_manual_example();
	flags = tc_printf("$(pkg-config --cflags --libs handoff) "
	    "-Wl,-rpath,'%s/lib'", prefix);
	exe = lh_build(source, "server", flags);

	/* "web" is the second of two sockets: fd 4, found by its name. */
	s = tc_new("", "");
	admin_port = support_free_port();
	text = tc_printf(
	    "[supervisor]\n"
	    "name = libhandoff\n"
	    "control = %s\n"
	    "pidfile = %s/handoff.pid\n"
	    "\n"
	    "[listener admin]\n"
	    "listen = 127.0.0.1:%d\n"
	    "\n"
	    "[listener web]\n"
	    "listen = 127.0.0.1:%d\n"
	    "\n"
	    "[program app]\n"
	    "command = %s\n"
	    "listeners = admin, web\n"
	    "workers = 2\n"
	    "ready = notify\n"
	    "drain_timeout = 20s\n",
	    s->sock, s->dir, admin_port, s->port, exe);
	free(support_write_file(s->dir, "handoff.ini", text));
	free(text);
	tc_start(s);
	cr_expect_eq(tc_get(s, NULL), 1);
	lh_expect_status(s, "serving, generation 1", 2);

	cr_assert_eq(load_start_tcp(&ld, "127.0.0.1", s->port, CLIENTS), 0,
	    "cannot start the clients: %s", strerror(errno));
	for (k = 1; k <= RELOADS; k++) {
		cr_assert_eq(load_wait_progress(&ld, CLIENTS), 0,
		    "the clients made no progress before reload %d", k);
		cr_assert_eq(kill(s->hp.pid, SIGHUP), 0);
		tc_expect_log(s, "reload done", k);
		needle = tc_printf("app gen %d: gone", k);
		tc_expect_log(s, needle, 1);
		free(needle);
	}
	cr_assert_eq(load_wait_progress(&ld, CLIENTS), 0);
	load_stop(&ld);
	cr_expect_eq(load_failures(&ld), 0, "%ld of %ld requests failed: %s",
	    load_failures(&ld), load_total(&ld),
	    load_summary(&ld, summary, sizeof(summary)));
	cr_expect_gt(load_gen_answers(&ld, RELOADS + 1), 0);

	/* The new text, and every old worker left on its own, with 0. */
	needle = tc_printf("serving, generation %d", RELOADS + 1);
	lh_expect_status(s, needle, 2);
	free(needle);
	cr_expect_eq(tc_log_count(s, "exited with status 0"), 2 * RELOADS);
	cr_expect_eq(tc_log_count(s, "still running after drain_timeout"), 0);
	cr_expect_eq(tc_log_count(s, "reload failed"), 0);
	cr_expect_eq(tc_get(s, NULL), RELOADS + 1);
	tc_stop(s);
	free(flags);
	free(exe);
	free(source);
}
