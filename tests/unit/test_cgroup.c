/*
 * test_cgroup.c: the cgroup helpers an upgrade's new image uses to take
 * the workers' cgroup directories back (cgroup_is_child, cgroup_use), on
 * plain directories.
 */
#include "autoconf.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cgroup.h"

static char tmp[] = "/tmp/handoff-cgroup.XXXXXX";

/* A private directory for each test. */
static void
tcg_init(void)
{
	strcpy(tmp, "/tmp/handoff-cgroup.XXXXXX");
	cr_assert_not_null(mkdtemp(tmp));
}

/* Remove what a test made (at most two levels). */
static void
tcg_fini(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp);
	cr_assert_eq(system(cmd), 0);
}

TestSuite(cgroup, .init = tcg_init, .fini = tcg_fini);

/* A path under the test's directory (the caller frees it). */
static char *
tcg_path(const char *name)
{
	char *p;

	cr_assert_neq(asprintf(&p, "%s/%s", tmp, name), -1);
	return p;
}

Test(cgroup, is_child_only_for_an_existing_directory_right_under)
{
	char *top = tcg_path("handoff.42"), *deep = tcg_path("handoff.42/gen1.app");
	char *other, *missing = tcg_path("handoff.43");

	cr_assert_eq(mkdir(top, 0755), 0);
	cr_assert_eq(mkdir(deep, 0755), 0);
	cr_assert(cgroup_is_child(tmp, top));
	cr_assert(!cgroup_is_child(tmp, missing), "a missing directory");
	cr_assert(!cgroup_is_child(tmp, deep), "two levels down");
	cr_assert(!cgroup_is_child(top, tmp), "the parent");
	cr_assert(!cgroup_is_child(tmp, tmp), "own itself");
	cr_assert_neq(asprintf(&other, "%s/..", tmp), -1);
	cr_assert(!cgroup_is_child(tmp, other), "..");
	free(other);
	/* A sibling whose name starts like own is not under it. */
	cr_assert_neq(asprintf(&other, "%sx/handoff.42", tmp), -1);
	cr_assert(!cgroup_is_child(tmp, other));
	free(other);
	free(top);
	free(deep);
	free(missing);
}

Test(cgroup, use_keeps_an_existing_directory_and_makes_a_missing_one)
{
	char *dir = tcg_path("gen1.app"), *inside = tcg_path("gen1.app/x");
	char *bad = tcg_path("nosuch/gen1.app"), *cause = NULL;
	struct stat sb;

	cr_assert_eq(cgroup_use(dir, &cause), 0, "%s", cause);
	cr_assert_eq(stat(dir, &sb), 0);
	/* Used as it is: what is in it stays (cgroup_make would empty it). */
	cr_assert_eq(mkdir(inside, 0755), 0);
	cr_assert_eq(cgroup_use(dir, &cause), 0, "%s", cause);
	cr_assert_eq(stat(inside, &sb), 0, "the directory was remade");
	cr_assert_eq(cgroup_use(bad, &cause), -1);
	cr_assert_not_null(cause);
	cr_assert(strstr(cause, "cannot create cgroup") != NULL &&
	    strstr(cause, bad) != NULL, "%s", cause);
	free(cause);
	free(dir);
	free(inside);
	free(bad);
}
