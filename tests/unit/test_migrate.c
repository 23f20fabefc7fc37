/*
 * test_migrate.c: how the supervisor finds and turns on connection
 * migration, against a fake procfs: on already, turned on, and absent.
 * (Refused by the kernel: tests/integration/test_reuseport.c runs a
 * supervisor without the right to set it.)
 */
#include "autoconf.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cause.h"
#include "log.h"
#include "migrate.h"
#include "support.h"

/* A fake procfs whose sysctl holds text (NULL: no such file). */
static char *
fake_procfs(const char *text)
{
	char *dir = support_tmpdir(), path[512], *f;

	snprintf(path, sizeof(path), "%s/sys", dir);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/sys/net", dir);
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/sys/net/ipv4", dir);
	cr_assert_eq(mkdir(path, 0700), 0);
	if (text != NULL) {
		f = support_write_file(path, "tcp_migrate_req", text);
		free(f);
	}
	return dir;
}

static char *
sysctl_text(const char *dir)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", dir, MIGRATE_SYSCTL);
	return support_read_file(path);
}

Test(migrate, on_already_is_left_alone)
{
	struct migrate m = { 0 };
	char *dir = fake_procfs("1\n"), *text;

	migrate_ensure(&m, dir, NULL);
	cr_assert_eq(m.state, MIGRATE_ON);
	cr_assert(migrate_available(&m));
	text = sysctl_text(dir);
	cr_assert_str_eq(text, "1\n");
	free(text);
	support_rmtree(dir);
	free(dir);
}

Test(migrate, off_is_turned_on_once)
{
	struct migrate m = { 0 };
	char *dir = fake_procfs("0\n"), *text, path[512];

	migrate_ensure(&m, dir, NULL);
	cr_assert_eq(m.state, MIGRATE_ENABLED);
	cr_assert(migrate_available(&m));
	cr_assert_str_eq(migrate_state_name(m.state), "enabled");
	text = sysctl_text(dir);
	cr_assert_str_eq(text, "1\n");
	free(text);
	/* Checked once: a later call looks at nothing. */
	snprintf(path, sizeof(path), "%s/%s", dir, MIGRATE_SYSCTL);
	cr_assert_eq(unlink(path), 0);
	migrate_ensure(&m, dir, NULL);
	cr_assert_eq(m.state, MIGRATE_ENABLED);
	support_rmtree(dir);
	free(dir);
}

Test(migrate, absent_or_garbled_is_off_with_the_reason)
{
	struct migrate m = { 0 }, g = { 0 };
	char *dir = fake_procfs(NULL), *bad = fake_procfs("maybe\n");

	migrate_ensure(&m, dir, NULL);
	cr_assert_eq(m.state, MIGRATE_OFF);
	cr_assert_not(migrate_available(&m));
	cr_assert_str_eq(migrate_state_name(m.state), "off");
	cr_assert(strstr(m.why, "cannot be read: No such file or directory")
	    != NULL, "why: %s", m.why);
	cr_assert(strstr(m.why, "5.14") != NULL, "why: %s", m.why);

	migrate_ensure(&g, bad, NULL);
	cr_assert_eq(g.state, MIGRATE_OFF);
	cr_assert(strstr(g.why, "Invalid argument") != NULL, "why: %s", g.why);
	support_rmtree(dir);
	support_rmtree(bad);
	free(dir);
	free(bad);
}

/* A probe that says the SK_REUSEPORT program loads, or that it does not. */
static int
probe_yes(char **cause)
{
	(void)cause;
	return 0;
}

static int
probe_no(char **cause)
{
	cause_set(cause, "Operation not permitted");
	return -1;
}

Test(migrate, off_but_the_program_loads_covers_reuseport_only)
{
	struct migrate m = { 0 }, n = { 0 };
	char *dir = fake_procfs(NULL);

	migrate_ensure(&m, dir, probe_yes);
	cr_assert_eq(m.state, MIGRATE_EBPF);
	cr_assert_str_eq(migrate_state_name(m.state), "ebpf");
	cr_assert(migrate_reuseport_available(&m));
	/* Self mode's sockets are not the supervisor's: no program there. */
	cr_assert_not(migrate_available(&m));

	migrate_ensure(&n, dir, probe_no);
	cr_assert_eq(n.state, MIGRATE_OFF);
	cr_assert_not(migrate_reuseport_available(&n));

	/* Off with no probe (self mode alone); a reuseport program later. */
	memset(&n, 0, sizeof(n));
	migrate_ensure(&n, dir, NULL);
	cr_assert_eq(n.state, MIGRATE_OFF);
	migrate_ensure(&n, dir, probe_yes);
	cr_assert_eq(n.state, MIGRATE_EBPF);
	support_rmtree(dir);
	free(dir);
}
