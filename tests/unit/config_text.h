/*
 * config_text.h: unit tests' way to load a config from text: written to
 * a temporary file and read as handoff reads any config. The test fails
 * if the config has errors. And the text of configs too long to write
 * out.
 */
#ifndef HANDOFF_TEST_CONFIG_TEXT_H
#define HANDOFF_TEST_CONFIG_TEXT_H

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

/* The config text describes; the test fails if it has errors. */
static inline struct config *
config_from_text(const char *text)
{
	char path[] = "/tmp/handoff-unit-config-XXXXXX";
	struct config_msgs msgs;
	struct config *conf;
	FILE *fp;
	int fd;

	fd = mkstemp(path);
	cr_assert_geq(fd, 0, "mkstemp: %s", strerror(errno));
	cr_assert_not_null(fp = fdopen(fd, "w"));
	cr_assert_eq(fputs(text, fp) >= 0, 1);
	cr_assert_eq(fclose(fp), 0);
	config_msgs_init(&msgs);
	conf = config_load(path, &msgs);
	unlink(path);
	cr_assert_not_null(conf, "config has errors: %s", msgs.count ?
	    msgs.lines[0] : "?");
	config_msgs_free(&msgs);
	return conf;
}

/*
 * The text of a config of n programs p0, p1, ... without listeners,
 * program pK running bin followed by its name ("/bin/" runs /bin/p0 ...);
 * the caller frees it.
 */
static inline char *
config_text_programs(size_t n, const char *bin)
{
	size_t len = (64 + strlen(bin)) * n + 1, off = 0, i;
	char *text = malloc(len);

	cr_assert_not_null(text);
	text[0] = '\0';
	for (i = 0; i < n; i++)
		off += (size_t)snprintf(text + off, len - off,
		    "[program p%zu]\ncommand = %sp%zu\n", i, bin, i);
	return text;
}

#endif
