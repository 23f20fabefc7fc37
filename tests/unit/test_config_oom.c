/*
 * test_config_oom.c: a config parse that runs out of memory fails with an
 * error and leaves nothing behind, as a reload in the running supervisor
 * needs: it never exits, never returns a config cut short, never leaks.
 *
 * Linked with -Wl,--wrap for the allocation functions the config code
 * calls (see Makefile.am): allocation number N fails (or N and every one
 * after it), for every N until a parse makes fewer allocations than N.
 * Under AddressSanitizer, LeakSanitizer then checks that nothing leaked.
 */
#include "autoconf.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

#include "config.h"
#include "confpath.h"
#include "merge.h"

/* ---- failing allocations --------------------------------------------- */

static long oom_count;		/* allocations since oom_arm */
static long oom_at = -1;	/* the one that fails first; -1: none fails */
static bool oom_after;		/* every one after it fails too */
static long oom_failed;		/* how many failed */

/* Start counting: allocation number at (from 0) will fail. */
static void
oom_arm(long at, bool after)
{
	oom_count = 0;
	oom_at = at;
	oom_after = after;
	oom_failed = 0;
}

/* Stop failing allocations. */
static void
oom_disarm(void)
{
	oom_at = -1;
}

/* Whether this allocation fails. */
static bool
oom_now(void)
{
	long n;

	if (oom_at < 0)
		return false;
	n = oom_count++;
	if (n != oom_at && !(oom_after && n > oom_at))
		return false;
	oom_failed++;
	errno = ENOMEM;
	return true;
}

void	*__real_malloc(size_t);
void	*__real_calloc(size_t, size_t);
void	*__real_realloc(void *, size_t);
void	*__real_reallocarray(void *, size_t, size_t);
char	*__real_strdup(const char *);
ssize_t	 __real_getline(char **, size_t *, FILE *);
ssize_t	 __real___getdelim(char **, size_t *, int, FILE *);
FILE	*__real_fmemopen(void *, size_t, const char *);
void	*__wrap_malloc(size_t);
void	*__wrap_calloc(size_t, size_t);
void	*__wrap_realloc(void *, size_t);
void	*__wrap_reallocarray(void *, size_t, size_t);
char	*__wrap_strdup(const char *);
int	 __wrap_asprintf(char **, const char *, ...);
int	 __wrap_vasprintf(char **, const char *, va_list);
int	 __real_vasprintf(char **, const char *, va_list);
ssize_t	 __wrap_getline(char **, size_t *, FILE *);
ssize_t	 __wrap___getdelim(char **, size_t *, int, FILE *);
FILE	*__wrap_fmemopen(void *, size_t, const char *);

void *
__wrap_malloc(size_t n)
{
	return oom_now() ? NULL : __real_malloc(n);
}

void *
__wrap_calloc(size_t n, size_t size)
{
	return oom_now() ? NULL : __real_calloc(n, size);
}

void *
__wrap_realloc(void *p, size_t n)
{
	return oom_now() ? NULL : __real_realloc(p, n);
}

void *
__wrap_reallocarray(void *p, size_t n, size_t size)
{
	return oom_now() ? NULL : __real_reallocarray(p, n, size);
}

char *
__wrap_strdup(const char *s)
{
	return oom_now() ? NULL : __real_strdup(s);
}

int
__wrap_asprintf(char **out, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (oom_now())
		return -1;
	va_start(ap, fmt);
	n = __real_vasprintf(out, fmt, ap);
	va_end(ap);
	return n;
}

/* What cause_set formats with. */
int
__wrap_vasprintf(char **out, const char *fmt, va_list ap)
{
	return oom_now() ? -1 : __real_vasprintf(out, fmt, ap);
}

/* getline grows its buffer: it fails the way glibc's does, EOF unset. */
ssize_t
__wrap_getline(char **line, size_t *cap, FILE *fp)
{
	return oom_now() ? -1 : __real_getline(line, cap, fp);
}

ssize_t
__wrap___getdelim(char **line, size_t *cap, int delim, FILE *fp)
{
	return oom_now() ? -1 : __real___getdelim(line, cap, delim, fp);
}

FILE *
__wrap_fmemopen(void *buf, size_t len, const char *mode)
{
	return oom_now() ? NULL : __real_fmemopen(buf, len, mode);
}

/* ---- the configs ----------------------------------------------------- */

/* Every kind of value the parser copies; no warning, no pidfile. */
#define CONFIG_TEXT(workers)						\
	"[supervisor]\n"						\
	"name = oom\n"							\
	"control = /tmp/handoff-oom-test/oom.sock\n"			\
	"log_level = debug\n"						\
	"\n"								\
	"[listener web]\n"						\
	"listen = 127.0.0.1:0\n"					\
	"backlog = 128\n"						\
	"\n"								\
	"[listener sock]\n"						\
	"listen = unix:/tmp/handoff-oom-test/app.sock\n"		\
	"fd_name = app\n"						\
	"\n"								\
	"[program app]\n"						\
	"command = /bin/sh -c \"exec sleep 1\"\n"			\
	"listeners = web, sock\n"					\
	"workers = " workers "\n"					\
	"env = A=1\n"							\
	"env = B=2\n"							\
	"env = A=3\n"							\
	"directory = /tmp\n"						\
	"\n"								\
	"[program other]\n"						\
	"command = /bin/true\n"						\
	"listeners = web\n"

/* Write text to a temp file; path receives its name. */
static void
write_config(const char *text, char *path, size_t len)
{
	FILE *fp;
	int fd;

	snprintf(path, len, "/tmp/handoff-test-oom-XXXXXX");
	cr_assert_geq(fd = mkstemp(path), 0);
	cr_assert_not_null(fp = fdopen(fd, "w"));
	cr_assert_eq(fputs(text, fp) >= 0, true);
	cr_assert_eq(fclose(fp), 0);
}

/* Load path with no allocation failing: it must be valid. */
static struct config *
load_valid(const char *path)
{
	struct config_msgs msgs;
	struct config *conf;

	config_msgs_init(&msgs);
	conf = config_load(path, &msgs);
	cr_assert_not_null(conf, "%s", msgs.count ? msgs.lines[0] : "?");
	cr_assert_eq(msgs.count, 0);
	config_msgs_free(&msgs);
	return conf;
}

/* Whether msgs tells the user memory ran out (or lost a message to it). */
static bool
says_out_of_memory(const struct config_msgs *msgs)
{
	size_t i;

	if (msgs->count < msgs->nerrors + msgs->nwarnings)
		return true;
	for (i = 0; i < msgs->count; i++)
		if (strstr(msgs->lines[i], "out of memory") != NULL)
			return true;
	return false;
}

/* Under AddressSanitizer: nothing any of the runs allocated is left. */
static void
expect_no_leak(void)
{
#if defined(__SANITIZE_ADDRESS__)
	cr_expect_eq(__lsan_do_recoverable_leak_check(), 0,
	    "memory leaked (LeakSanitizer's report is above)");
#endif
}

#define OOM_MAX_RUNS	100000	/* far more allocations than a parse makes */

/* ---- tests ----------------------------------------------------------- */

/*
 * Every allocation of a parse fails in turn (alone, then with all that
 * follow): the parse fails with an error, and says why. The second config
 * has a warning, so that its message is being stored when memory runs out.
 */
Test(config_oom, every_failed_allocation_fails_the_parse)
{
	static const char *const texts[] = {
		CONFIG_TEXT("2"),
		CONFIG_TEXT("2") "\n[listener spare]\nlisten = 127.0.0.1:0\n",
	};
	struct config_msgs msgs;
	struct config *conf;
	char path[64];
	long at, runs;
	size_t t;
	int after;

	for (t = 0; t < sizeof(texts) / sizeof(texts[0]); t++) {
		write_config(texts[t], path, sizeof(path));
		for (after = 0; after <= 1; after++) {
			for (at = 0, runs = 0; at < OOM_MAX_RUNS; at++, runs++) {
				config_msgs_init(&msgs);
				oom_arm(at, after);
				conf = config_load(path, &msgs);
				oom_disarm();
				if (oom_failed == 0) {
					cr_assert_not_null(conf, "refused: %s",
					    msgs.lines[0]);
					cr_assert_eq(msgs.nerrors, 0);
					config_free(conf);
					config_msgs_free(&msgs);
					break;
				}
				cr_expect_null(conf, "allocation %ld%s failed, yet "
				    "the config was accepted", at, after ? " on" : "");
				cr_expect_gt(msgs.nerrors, 0);
				if (!after)
					cr_expect(says_out_of_memory(&msgs),
					    "allocation %ld failed: %s", at,
					    msgs.count ? msgs.lines[0] : "no message");
				config_free(conf);
				config_msgs_free(&msgs);
			}
			cr_assert_lt(at, OOM_MAX_RUNS);
			cr_expect_gt(runs, 20, "only %ld allocations", runs);
		}
		unlink(path);
	}
	expect_no_leak();
}

/* Reloading one program merges configs: that fails cleanly too. */
Test(config_oom, merging_for_a_one_program_reload)
{
	struct config *current, *fresh, *merged;
	char path[64], *cause;
	long at;
	int after;

	write_config(CONFIG_TEXT("2"), path, sizeof(path));
	current = load_valid(path);
	unlink(path);
	write_config(CONFIG_TEXT("3"), path, sizeof(path));
	fresh = load_valid(path);
	unlink(path);
	for (after = 0; after <= 1; after++) {
		for (at = 0; at < OOM_MAX_RUNS; at++) {
			cause = NULL;
			oom_arm(at, after);
			merged = merge_program(current, fresh, "app", &cause);
			oom_disarm();
			if (oom_failed == 0) {
				cr_assert_not_null(merged, "%s", cause);
				cr_expect_eq(config_find_program(merged, "app")->workers, 3);
				config_free(merged);
				break;
			}
			cr_expect_null(merged, "allocation %ld failed, yet merged", at);
			if (cause != NULL)
				cr_expect(strstr(cause, "out of memory") != NULL,
				    "%s", cause);
			free(cause);
			config_free(merged);
		}
		cr_assert_lt(at, OOM_MAX_RUNS);
	}
	config_free(current);
	config_free(fresh);
	expect_no_leak();
}

/* The CLI's look at [supervisor] control fails, not guesses, too. */
Test(config_oom, peeking_at_the_control_socket)
{
	char path[64], *control, *cause;
	long at;
	int rc;

	write_config(CONFIG_TEXT("2"), path, sizeof(path));
	for (at = 0; at < OOM_MAX_RUNS; at++) {
		control = cause = NULL;
		oom_arm(at, false);
		rc = config_peek_control(path, &control, &cause);
		oom_disarm();
		if (oom_failed == 0) {
			cr_assert_eq(rc, 0);
			cr_expect_str_eq(control, "/tmp/handoff-oom-test/oom.sock");
			free(control);
			break;
		}
		cr_expect_eq(rc, -1, "allocation %ld failed, yet control %s",
		    at, control);
		free(control);
		free(cause);
	}
	cr_assert_lt(at, OOM_MAX_RUNS);
	unlink(path);
	expect_no_leak();
}
