/*
 * test_ctllock.c: the lock beside a control socket on its own, with no
 * control server: taking it names its holder, a second taker is refused
 * with the holder's pid, letting it go removes the file, and a lock in a
 * directory others may write names nobody.
 */
#include "autoconf.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctllock.h"
#include "support.h"

#define NITEMS(a) (sizeof(a) / sizeof((a)[0]))

static char *dir, path[256], lockpath[300];
static int fds_before;

/* A private directory for the socket path and its lock. */
static void
setup(void)
{
	fds_before = support_fd_count(getpid());
	dir = support_tmpdir();
	snprintf(path, sizeof(path), "%s/ctl.sock", dir);
	snprintf(lockpath, sizeof(lockpath), "%s.lock", path);
}

/* No fd may be left. */
static void
teardown(void)
{
	cr_expect_eq(support_fd_count(getpid()), fds_before, "fds leaked");
	support_rmtree(dir);
	free(dir);
}

TestSuite(ctllock, .init = setup, .fini = teardown);

/*
 * ctllock_running names the process holding the lock beside a control
 * socket, and nobody when none does, or when others may write where the
 * lock file is (anyone could have put it there).
 */
Test(ctllock, running_names_the_holder)
{
	struct ctllock lk;
	char other[300], *cause = NULL;

	cr_expect_eq(ctllock_running(path), -1);
	cr_assert_eq(ctllock_take(&lk, path, &cause), 0, "%s", cause);
	cr_expect_str_eq(lk.path, lockpath);
	cr_expect_eq(ctllock_running(path), getpid());
	snprintf(other, sizeof(other), "%s/other.sock", dir);
	cr_expect_eq(ctllock_running(other), -1);
	cr_assert_eq(chmod(dir, 0777), 0);
	cr_expect_eq(ctllock_running(path), -1);
	cr_assert_eq(chmod(dir, 0700), 0);
	ctllock_release(&lk);
	cr_expect_eq(lk.fd, -1);
	cr_expect_null(lk.path);
	cr_expect_eq(ctllock_running(path), -1);
}

/* A second taker is refused, names the holder, and is left holding nothing. */
Test(ctllock, a_second_taker_is_refused)
{
	struct ctllock lk, second;
	char want[1024], *cause = NULL;

	cr_assert_eq(ctllock_take(&lk, path, &cause), 0, "%s", cause);
	cr_assert_eq(ctllock_take(&second, path, &cause), -1);
	snprintf(want, sizeof(want), "control socket %s: another supervisor is "
	    "running there (pid %d holds %s); stop it, or set a different "
	    "[supervisor] name or control", path, (int)getpid(), lockpath);
	cr_expect_str_eq(cause, want);
	free(cause);
	cr_expect_eq(second.fd, -1);
	cr_expect_null(second.path);
	ctllock_release(&lk);
	cr_expect_eq(access(lockpath, F_OK), -1, "the lock file is left");
	cr_assert_eq(ctllock_take(&second, path, &cause), 0, "%s", cause);
	ctllock_release(&second);
}

/* The directory is trusted only when nobody else may write to it. */
Test(ctllock, a_directory_others_may_write_is_not_trusted)
{
	char want[1024], *cause = NULL;

	cr_expect_eq(ctllock_dir_trusted(path, getuid(), &cause), 0);
	cr_assert_eq(chmod(dir, 0777), 0);
	cr_assert_eq(ctllock_dir_trusted(path, getuid(), &cause), -1);
	snprintf(want, sizeof(want), "control socket directory %s is writable "
	    "by others (mode 0777), so anyone could put a socket of theirs "
	    "there", dir);
	cr_expect_str_eq(cause, want);
	free(cause);
	cr_assert_eq(chmod(dir, 0700), 0);
	cause = NULL;
	snprintf(want, sizeof(want), "%s/missing/ctl.sock", dir);
	cr_assert_eq(ctllock_dir_trusted(want, getuid(), &cause), -1);
	cr_expect(strstr(cause, "No such file or directory") != NULL, "%s",
	    cause);
	free(cause);
}

/* The directory of a socket path. */
Test(ctllock, dirname)
{
	static const struct {
		const char	*path;
		const char	*dir;
	} cases[] = {
		{ "/run/handoff/web.sock", "/run/handoff" },
		{ "/web.sock", "/" },
		{ "web.sock", "." },
		{ "run/web.sock", "run" },
	};
	char dirbuf[64];
	size_t i;

	for (i = 0; i < NITEMS(cases); i++) {
		ctllock_dirname(cases[i].path, dirbuf, sizeof(dirbuf));
		cr_expect_str_eq(dirbuf, cases[i].dir, "%s", cases[i].path);
	}
}
