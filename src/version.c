/*
 * version.c: the version this image reports: PACKAGE_VERSION, or
 * HANDOFF_TEST_VERSION from the environment (a test hook: the tests of
 * `handoff upgrade` tell the images they upgrade to apart by it).
 */
#include "autoconf.h"

#include <stdlib.h>

#include "version.h"

/* The version this image reports. */
const char *
version_text(void)
{
	const char *v = getenv("HANDOFF_TEST_VERSION");

	return v != NULL && *v != '\0' ? v : PACKAGE_VERSION;
}
