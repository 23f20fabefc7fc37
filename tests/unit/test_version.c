/*
 * test_version.c: the version an image reports (version_text), and the
 * override the upgrade tests tell their images apart by.
 */
#include "autoconf.h"

#include <criterion/criterion.h>
#include <stdlib.h>

#include "version.h"

Test(version, version_text_takes_the_test_override)
{
	cr_assert_eq(unsetenv("HANDOFF_TEST_VERSION"), 0);
	cr_assert_str_eq(version_text(), PACKAGE_VERSION);
	cr_assert_eq(setenv("HANDOFF_TEST_VERSION", "", 1), 0);
	cr_assert_str_eq(version_text(), PACKAGE_VERSION);
	cr_assert_eq(setenv("HANDOFF_TEST_VERSION", "9.9.9", 1), 0);
	cr_assert_str_eq(version_text(), "9.9.9");
	cr_assert_eq(unsetenv("HANDOFF_TEST_VERSION"), 0);
}
