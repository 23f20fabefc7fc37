/*
 * fuzz_config.c: libFuzzer target for the config parser. The input is a
 * config file: it is written to a memfd (nothing on disk) and read through
 * /proc/self/fd/N by config_load, as `handoff check`, run and every reload
 * read a file, and by config_peek_control, as the CLI does to find the
 * control socket. Besides the sanitizers, it checks that a config comes
 * back exactly when no error was found, that every message names the file,
 * and that a config's programs point at listeners that exist.
 */
#include "autoconf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "confpath.h"

int	LLVMFuzzerInitialize(int *argc, char ***argv);
int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static FILE *fuzz_devnull;

/* Stop here with a message: libFuzzer saves the input as a crash. */
static void
fuzz_fail(const char *what)
{
	fprintf(stderr, "fuzz_config: %s\n", what);
	abort();
}

/* Open /dev/null once, for printing messages as `handoff check` does. */
int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if ((fuzz_devnull = fopen("/dev/null", "we")) == NULL)
		fuzz_fail("cannot open /dev/null");
	return 0;
}

/* Check what config_load returned against its messages. */
static void
fuzz_check(const char *path, const struct config *conf,
    const struct config_msgs *msgs)
{
	const struct program_conf *pc;
	size_t i, pathlen = strlen(path);

	if ((conf == NULL) != (msgs->nerrors > 0))
		fuzz_fail("a config came back with errors, or none without");
	if (msgs->nerrors + msgs->nwarnings != msgs->count)
		fuzz_fail("message counts do not add up");
	for (i = 0; i < msgs->count; i++)
		if (strncmp(msgs->lines[i], path, pathlen) != 0 ||
		    msgs->lines[i][pathlen] != ':')
			fuzz_fail("a message does not start with FILE:");
	if (conf == NULL)
		return;
	if (conf->nprograms == 0 || conf->supervisor.name == NULL ||
	    conf->supervisor.control == NULL || conf->supervisor.pidfile == NULL)
		fuzz_fail("a config without programs or defaults");
	TAILQ_FOREACH(pc, &conf->programs, entry) {
		if (pc->argv == NULL || pc->argv[0] == NULL)
			fuzz_fail("a program without a command");
		for (i = 0; i < pc->nlisteners; i++)
			if (pc->listeners[i] == NULL ||
			    !pc->listeners[i]->has_listen)
				fuzz_fail("a program with an unresolved listener");
	}
}

/* One input: a whole config file. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config_msgs msgs;
	struct config *conf;
	char path[64], *control = NULL, *cause = NULL;
	size_t off = 0;
	ssize_t n;
	int fd;

	if ((fd = memfd_create("handoff-fuzz.ini", MFD_CLOEXEC)) == -1)
		fuzz_fail("memfd_create failed");
	while (off < size) {
		if ((n = write(fd, data + off, size - off)) <= 0)
			fuzz_fail("cannot write the memfd");
		off += (size_t)n;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);

	config_msgs_init(&msgs);
	conf = config_load(path, &msgs);
	fuzz_check(path, conf, &msgs);
	config_msgs_print(&msgs, fuzz_devnull);
	config_msgs_free(&msgs);
	config_unref(conf);

	if (config_peek_control(path, &control, &cause) == -1)
		fuzz_fail("config_peek_control failed on a readable file");
	if (control == NULL || control[0] != '/')
		fuzz_fail("config_peek_control found no absolute path");
	free(control);
	close(fd);
	return 0;
}
