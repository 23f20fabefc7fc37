/*
 * fuzz_notify.c: libFuzzer target for the notify message parser. The input
 * is one datagram as a worker would send it to NOTIFY_SOCKET; notify_parse
 * splits it into KEY=VALUE lines. Besides the sanitizers, it checks that
 * every key is non-empty and free of '=' and newlines, that no value holds
 * a newline, and that a message refused as a whole delivered no line.
 */
#include "autoconf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "notify.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Stop here with a message: libFuzzer saves the input as a crash. */
static void
fuzz_fail(const char *what)
{
	fprintf(stderr, "fuzz_notify: %s\n", what);
	abort();
}

/* One KEY=VALUE line, checked and counted. */
static void
fuzz_notify_line(const char *key, const char *value, void *arg)
{
	size_t *lines = arg;

	if (*key == '\0' || strpbrk(key, "=\n") != NULL)
		fuzz_fail("a bad key");
	if (strchr(value, '\n') != NULL)
		fuzz_fail("a value with a newline");
	(*lines)++;
}

/* One input: one datagram. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t lines = 0;

	if (notify_parse((const char *)data, size, fuzz_notify_line,
	    &lines) == -1 && lines != 0)
		fuzz_fail("a refused message delivered lines");
	return 0;
}
