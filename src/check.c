/*
 * check.c: `handoff check [-c FILE] [--bind]`.
 *
 * Loads the config exactly as `run` and a reload would, prints every error
 * and warning as FILE:LINE: message, and with --bind also tries to bind
 * every listener, and looks who listens on a self-mode program's
 * addresses (selfcheck.c). Exit 0 if the file is good, 2 if it has
 * errors, 1 if it is good but a listener could not be bound.
 */
#include "autoconf.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "config.h"
#include "confpath.h"
#include "listener.h"
#include "selfcheck.h"
#include "shim.h"

/* Print the usage of `handoff check`. */
static void
check_usage(FILE *fp)
{
	fprintf(fp,
	    "usage: handoff check [-c FILE] [--bind]\n"
	    "\n"
	    "Validate a configuration file and print every error as FILE:LINE: message.\n"
	    "\n"
	    "  -c, --config FILE  the file to check (default %s)\n"
	    "  -b, --bind         also try to bind every listener\n"
	    "  -q, --quiet        print errors only, not the ok line or warnings\n"
	    "  -h, --help         show this help\n"
	    "\n"
	    "Exit status: 0 valid, 1 a listener cannot be bound, 2 errors in the file.\n",
	    config_default_path());
}

/*
 * Check the programs with preload = yes (shim_check_config: the shim is
 * there, their commands and users can load it) and say which shim they
 * get. Prints every message; returns the errors.
 */
static int
check_preload(const struct config *conf, const char *path, int quiet)
{
	const struct program_conf *pc;
	struct config_msgs msgs;
	const char *shim = NULL;
	char *cause = NULL;
	size_t i;
	int errors;

	config_msgs_init(&msgs);
	errors = shim_check_config(conf, NULL, true, &msgs);
	for (i = 0; i < msgs.count; i++)
		if (msgs.is_error[i] || !quiet)
			fprintf(stderr, "%s\n", msgs.lines[i]);
	config_msgs_free(&msgs);
	if (errors > 0) {
		fprintf(stderr, "%s: %d program%s cannot load the bind() shim\n",
		    path, errors, errors == 1 ? "" : "s");
		return errors;
	}
	TAILQ_FOREACH(pc, &conf->programs, entry)
		if (pc->preload && !quiet && (shim != NULL ||
		    (shim = shim_path(&cause)) != NULL))
			printf("%s: program %s: preload = yes: the shim is %s\n",
			    path, pc->name, shim);
	free(cause);
	return 0;
}

/* Run `handoff check`. */
int
check_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "bind", no_argument, NULL, 'b' },
		{ "quiet", no_argument, NULL, 'q' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *path = config_default_path();
	struct config_msgs msgs;
	struct config *conf;
	int ch, bind = 0, quiet = 0, failed;
	size_t i;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "+c:bqh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'b':
			bind = 1;
			break;
		case 'q':
			quiet = 1;
			break;
		case 'h':
			check_usage(stdout);
			return 0;
		default:
			check_usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "handoff check: unexpected argument '%s'\n",
		    argv[optind]);
		check_usage(stderr);
		return 2;
	}

	config_msgs_init(&msgs);
	conf = config_load(path, &msgs);
	for (i = 0; i < msgs.count; i++)
		if (msgs.is_error[i] || !quiet)
			fprintf(stderr, "%s\n", msgs.lines[i]);
	if (conf == NULL) {
		fprintf(stderr, "%s: %zu error%s, not valid\n", path,
		    msgs.nerrors, msgs.nerrors == 1 ? "" : "s");
		config_msgs_free(&msgs);
		return 2;
	}
	config_msgs_free(&msgs);
	/* Valid, but a command the bind() shim cannot reach. */
	if (check_preload(conf, path, quiet) > 0) {
		config_free(conf);
		return 2;
	}

	if (bind) {
		config_msgs_init(&msgs);
		failed = listener_probe_config(conf, &msgs) +
		    selfcheck_probe_config(conf, &msgs);
		config_msgs_print(&msgs, stderr);
		config_msgs_free(&msgs);
		if (failed > 0) {
			fprintf(stderr, "%s: valid, but %d listener%s cannot be "
			    "bound\n", path, failed, failed == 1 ? "" : "s");
			config_free(conf);
			return 1;
		}
	}
	if (!quiet)
		printf("%s: ok (%zu listener%s, %zu program%s)\n", path,
		    conf->nlisteners, conf->nlisteners == 1 ? "" : "s",
		    conf->nprograms, conf->nprograms == 1 ? "" : "s");
	config_free(conf);
	return 0;
}
