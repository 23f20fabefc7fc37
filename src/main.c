/*
 * main.c: the handoff command line: subcommand dispatch and usage.
 *
 *	handoff run | check | reload | status | upgrade | stop | version | help
 *
 * Each subcommand lives in its own module and parses its own options.
 * Exit codes: 0 ok, 1 operation failed, 2 usage or config error.
 */
#include "autoconf.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "ctl.h"
#include "run.h"
#include "upgrade.h"
#include "version.h"

struct command {
	const char	*name;
	int		(*main)(int, char **);
	const char	*usage;
	const char	*summary;
};

static int	main_version(int, char **);
static int	main_help(int, char **);

static const struct command commands[] = {
	{ "run", run_main,
	    "run [-c FILE] [--foreground]\n"
	    "       handoff run --listen ADDR[=NAME]... [--workers N] [--ready MODE] -- CMD [ARGS...]",
	    "supervise what FILE describes, or wrap one command" },
	{ "check", check_main, "check [-c FILE] [--bind]",
	    "validate a config; every error as FILE:LINE: message" },
	{ "reload", ctl_reload_main, "reload [PROGRAM] [--no-wait | --takeover]",
	    "start a new generation and show the handoff's progress" },
	{ "status", ctl_status_main, "status [--json]",
	    "show generations, workers, listeners, last reload" },
	{ "upgrade", ctl_upgrade_main, "upgrade [--binary PATH]",
	    "replace the supervisor's own binary in place" },
	{ "stop", ctl_stop_main, "stop [--timeout DUR]",
	    "stop gracefully" },
	{ "version", main_version, "version", "print the version" },
	{ "help", main_help, "help [COMMAND]", "show this help" },
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

/* Find a subcommand by name. */
static const struct command *
main_find(const char *name)
{
	size_t i;

	for (i = 0; i < NCOMMANDS; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

/* Print the overall usage. */
static void
main_usage(FILE *fp)
{
	size_t i;

	fprintf(fp, "usage: handoff COMMAND [OPTIONS]\n\n"
	    "Zero-downtime socket handoff supervisor.\n\ncommands:\n");
	for (i = 0; i < NCOMMANDS; i++)
		fprintf(fp, "  %-9s %s\n", commands[i].name, commands[i].summary);
	fprintf(fp, "\nRun 'handoff COMMAND --help' for a command's options.\n"
	    "Exit status: 0 ok, 1 operation failed, 2 usage or config error.\n");
}

/* `handoff version` */
static int
main_version(int argc, char **argv)
{
	if (argc > 1 && (strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0)) {
		printf("usage: handoff version\n\nPrint the version.\n");
		return 0;
	}
	if (argc > 1) {
		fprintf(stderr, "handoff version: unexpected argument '%s'\n",
		    argv[1]);
		return 2;
	}
	printf("handoff %s\n", version_text());
	return 0;
}

/* `handoff help [COMMAND]` */
static int
main_help(int argc, char **argv)
{
	const struct command *cmd;
	char *args[] = { NULL, (char *)"--help", NULL };

	if (argc < 2) {
		main_usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		printf("usage: handoff help [COMMAND]\n\nShow the commands, or "
		    "one command's options.\n");
		return 0;
	}
	if ((cmd = main_find(argv[1])) == NULL || cmd->main == main_help) {
		fprintf(stderr, "handoff help: unknown command '%s'\n", argv[1]);
		return 2;
	}
	args[0] = (char *)cmd->name;
	return cmd->main(2, args);
}

int
main(int argc, char **argv)
{
	const struct command *cmd;

	/* A closed pipe to a CLI client is an error to report, not a kill. */
	signal(SIGPIPE, SIG_IGN);

	if (argc < 2) {
		main_usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		main_usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0)
		return main_version(1, argv + 1);
	/* The pre-flight an upgrading supervisor runs (not for users). */
	if (strcmp(argv[1], "upgrade-check") == 0)
		return upgrade_check_main(argc - 1, argv + 1);
	if ((cmd = main_find(argv[1])) == NULL) {
		fprintf(stderr, "handoff: unknown command '%s'\n\n", argv[1]);
		main_usage(stderr);
		return 2;
	}
	return cmd->main(argc - 1, argv + 1);
}
