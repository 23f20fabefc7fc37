/*
 * main.c: the handoff command line: subcommand dispatch and usage.
 *
 *	handoff run | check | reload | status | upgrade | stop | version | help
 *
 * Each subcommand lives in its own module and parses its own options.
 * Exit codes: 0 ok, 1 operation failed, 2 usage or config error.
 *
 * Built twice. handoffd, the supervisor's program, does every command.
 * handoff (HANDOFF_CLI), what users run, does the control commands itself
 * (reload, status, upgrade, stop, version, help), with none of the
 * supervisor's modules and, where it can be, linked statically: no dynamic
 * loader to wait for at its start while a reload's thousand workers start
 * beside it. For run, check and upgrade-check it execs handoffd (the same
 * process: systemd's main pid and an upgrading supervisor's stay).
 */
#include "autoconf.h"

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "ctl.h"
#include "version.h"
#ifdef HANDOFF_CLI
/* In handoff, the supervisor's commands are handoffd's. */
static int	main_daemon(int, char **);
#define check_main		main_daemon
#define run_main		main_daemon
#define upgrade_check_main	main_daemon
#else
#include "check.h"
#include "run.h"
#include "upgrade.h"
#endif

struct command {
	const char	*name;
	int		(*main)(int, char **);
	const char	*usage;
	const char	*summary;
};

static int	main_version(int, char **);
static int	main_help(int, char **);

static char	*main_argv0 = (char *)"handoff";	/* as this was run */

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

#ifdef HANDOFF_CLI
/*
 * Where handoffd is: beside this program (a build tree, or both in one
 * directory), else in libexec/handoff beside its bin (an install moved to
 * another prefix), else where make install puts it (pkglibexecdir); the
 * first that exists, even if it cannot be run (execv then says why).
 * The places looked at go in tried, joined by " and ".
 */
static void
main_daemon_path(char *buf, size_t len, char *tried, size_t triedlen)
{
	char exe[PATH_MAX], *slash;
	const char *rel[] = { "", "/../libexec/handoff" };
	size_t i, used = 0;
	ssize_t n;

	tried[0] = '\0';
	if ((n = readlink("/proc/self/exe", exe, sizeof(exe) - 1)) > 0) {
		exe[n] = '\0';
		if ((slash = strrchr(exe, '/')) != NULL) {
			*slash = '\0';
			for (i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
				if ((size_t)snprintf(buf, len, "%s%s/handoffd", exe,
				    rel[i]) >= len)
					continue;
				if (access(buf, F_OK) == 0)
					return;
				if (used < triedlen)
					used += (size_t)snprintf(tried + used,
					    triedlen - used, "%s and ", buf);
			}
		}
	}
	snprintf(buf, len, "%s", PKGLIBEXECDIR "/handoffd");
	if (used < triedlen)
		snprintf(tried + used, triedlen - used, "%s", buf);
}

/*
 * `handoff run`, `check` and `upgrade-check` (argv[0] is the command):
 * exec handoffd with the same arguments, in this process. Returns 1 only
 * if it cannot run.
 */
static int
main_daemon(int argc, char **argv)
{
	char path[PATH_MAX], tried[3 * PATH_MAX + 16], **args;
	int i, err;

	main_daemon_path(path, sizeof(path), tried, sizeof(tried));
	if ((args = calloc((size_t)argc + 2, sizeof(*args))) == NULL)
		err = ENOMEM;
	else {
		args[0] = main_argv0;
		for (i = 0; i < argc; i++)
			args[i + 1] = argv[i];
		execv(path, args);
		err = errno;
	}
	if (err == ENOENT)
		fprintf(stderr, "handoff %s: the supervisor's program, handoffd, "
		    "is not installed (looked for %s)\n", argv[0], tried);
	else
		fprintf(stderr, "handoff %s: cannot run the supervisor's program "
		    "%s: %s\n", argv[0], path, strerror(err));
	free(args);
	return 1;
}
#endif

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

	if (argc > 0)
		main_argv0 = argv[0];
#ifndef HANDOFF_CLI
	/*
	 * handoffd goes by the command's name, as the supervisor did when it
	 * was one program: ps -C handoff, pgrep -x handoff, killall handoff.
	 */
	(void)prctl(PR_SET_NAME, "handoff", 0, 0, 0);
#endif
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
