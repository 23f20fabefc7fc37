/*
 * run.c: `handoff run`.
 *
 *	handoff run [-c FILE]
 *	handoff run --listen ADDR[=NAME]... [--workers N] [--ready MODE] -- CMD [ARGS...]
 *
 * The first form supervises what FILE describes; the second builds the same
 * configuration from the command line, one program with the given
 * listeners. Either way the config is checked whole before anything starts.
 */
#include "autoconf.h"

#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cause.h"
#include "config.h"
#include "confpath.h"
#include "log.h"
#include "parse.h"
#include "run.h"
#include "status.h"
#include "supervisor.h"
#include "upgrade.h"

#define RUN_MAX_LISTEN	MAX_LISTENERS_PER_PROGRAM

/* Print the usage of `handoff run`. */
static void
run_usage(FILE *fp)
{
	fprintf(fp,
	    "usage: handoff run [-c FILE] [--foreground]\n"
	    "       handoff run --listen ADDR[=NAME]... [--workers N] [--ready MODE] -- CMD [ARGS...]\n"
	    "\n"
	    "Supervise the programs FILE describes, or wrap one command, in the foreground.\n"
	    "SIGHUP reloads (a new generation starts; the old one drains once it is ready),\n"
	    "SIGTERM or SIGINT stop gracefully, a second SIGINT stops at once.\n"
	    "\n"
	    "  -c, --config FILE       the config (default %s)\n"
	    "  -f, --foreground        run in the foreground (always the case)\n"
	    "      --syslog            log to syslog instead of stderr\n"
	    "      --log-level LEVEL   error, warn, info or debug (overrides the config)\n"
	    "\n"
	    "Without a config file:\n"
	    "  -l, --listen ADDR[=NAME]  a listener: 127.0.0.1:8080, [::]:8080, udp:HOST:PORT,\n"
	    "                          unix:/path; repeatable (fds 3, 4, ... in this order)\n"
	    "  -w, --workers N         worker processes (default 1)\n"
	    "  -r, --ready MODE        notify (default), delay:DURATION or log:REGEX\n"
	    "      --ready-timeout DUR default 30s\n"
	    "      --drain-timeout DUR default 30s\n"
	    "      --stop-signal SIG   default TERM\n"
	    "      --restart POLICY    always (default), on-failure or never\n"
	    "      --name NAME         the supervisor's and program's name (default: CMD's)\n"
	    "  -h, --help              show this help\n",
	    config_default_path());
}

/* Say what is wrong with an option's value and return the usage exit code. */
static int
run_bad_option(const char *option, const char *value, const char *cause)
{
	fprintf(stderr, "handoff run: %s %s: %s\n", option, value, cause);
	return 2;
}

/* A program name from a command's path: its basename, in safe characters. */
static char *
run_program_name(const char *cmd)
{
	char *copy = strdup(cmd), *base, *p;
	char *name;

	if (copy == NULL)
		return NULL;
	base = basename(copy);
	for (p = base; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' || *p == '.'))
			*p = '_';
	if (*base == '\0' || strlen(base) > 64 || strcmp(base, ".") == 0 ||
	    strcmp(base, "..") == 0)
		name = strdup("app");
	else
		name = strdup(base);
	free(copy);
	return name;
}

/* Options of the command-line form. */
struct run_opts {
	const char	*listen[RUN_MAX_LISTEN];
	int		 nlisten;
	const char	*workers;
	const char	*ready;
	const char	*ready_timeout;
	const char	*drain_timeout;
	const char	*stop_signal;
	const char	*restart;
	const char	*name;
};

/* Build a config from --listen and friends and CMD; exit code on error. */
static int
run_build_config(const struct run_opts *o, char **cmd, struct config **out)
{
	struct config *conf = config_new("(command line)");
	struct listener_conf *lc;
	struct program_conf *pc;
	struct config_msgs msgs;
	const char *cause;
	char lname[32], *why = NULL, *name = NULL, *eq, *text, *joined;
	size_t len, i;
	long n;
	int k, rc = 2;

	name = o->name != NULL ? strdup(o->name) : run_program_name(cmd[0]);
	if (conf == NULL || name == NULL)
		goto nomem;
	if (!config_valid_name(name)) {
		fprintf(stderr, "handoff run: --name %s: bad name (use 1 to 64 "
		    "of A-Z a-z 0-9 _ . -)\n", name);
		goto done;
	}
	conf->supervisor.name = strdup(name);
	if ((pc = config_add_program(conf, name, 0)) == NULL)
		goto nomem;
	pc->listener_names = calloc((size_t)o->nlisten + 1, sizeof(char *));
	for (k = 0; k < o->nlisten; k++) {
		text = strdup(o->listen[k]);
		if ((eq = strchr(text, '=')) != NULL)
			*eq++ = '\0';
		snprintf(lname, sizeof(lname), "listen%d", k);
		if (eq != NULL && !config_valid_name(eq)) {
			rc = run_bad_option("--listen", o->listen[k], "bad name "
			    "after = (use 1 to 64 of A-Z a-z 0-9 _ . -)");
			free(text);
			goto done;
		}
		if (config_find_listener(conf, eq != NULL ? eq : lname) != NULL) {
			rc = run_bad_option("--listen", o->listen[k],
			    "this name is given to another --listen");
			free(text);
			goto done;
		}
		lc = config_add_listener(conf, eq != NULL ? eq : lname, 0);
		if (lc == NULL) {
			free(text);
			goto nomem;
		}
		if (addr_parse(text, &lc->addr, &cause) == -1) {
			rc = run_bad_option("--listen", o->listen[k], cause);
			free(text);
			goto done;
		}
		lc->listen = strdup(text);
		lc->has_listen = true;
		pc->listener_names[k] = strdup(lc->name);
		free(text);
	}
	pc->nlisteners = (size_t)o->nlisten;

	for (i = 0, len = 1; cmd[i] != NULL; i++)
		len += strlen(cmd[i]) + 1;
	joined = calloc(1, len);
	pc->argv = calloc(i + 1, sizeof(char *));
	for (i = 0; cmd[i] != NULL; i++) {
		strcat(joined, i ? " " : "");
		strcat(joined, cmd[i]);
		pc->argv[i] = strdup(cmd[i]);
	}
	pc->command = joined;

	if (o->workers != NULL) {
		if (parse_int_range(o->workers, 1, MAX_WORKERS, &n, &cause) == -1) {
			rc = run_bad_option("--workers", o->workers,
			    "bad number of workers (use 1 to 1024)");
			goto done;
		}
		pc->workers = (int)n;
	}
	if (o->ready != NULL && program_conf_set_ready(pc, o->ready,
	    &why) == -1) {
		rc = run_bad_option("--ready", o->ready, cause_text(why));
		free(why);
		goto done;
	}
	if (o->ready_timeout != NULL && (parse_duration_ms(o->ready_timeout,
	    &pc->ready_timeout_ms, &cause) == -1 || pc->ready_timeout_ms == 0)) {
		rc = run_bad_option("--ready-timeout", o->ready_timeout,
		    pc->ready_timeout_ms == 0 ? "must be more than 0" : cause);
		goto done;
	}
	if (o->drain_timeout != NULL && parse_duration_ms(o->drain_timeout,
	    &pc->drain_timeout_ms, &cause) == -1) {
		rc = run_bad_option("--drain-timeout", o->drain_timeout, cause);
		goto done;
	}
	if (o->stop_signal != NULL && parse_signal(o->stop_signal,
	    &pc->stop_signal, &cause) == -1) {
		rc = run_bad_option("--stop-signal", o->stop_signal, cause);
		goto done;
	}
	if (o->restart != NULL) {
		if (strcmp(o->restart, "always") == 0)
			pc->restart = RESTART_ALWAYS;
		else if (strcmp(o->restart, "on-failure") == 0)
			pc->restart = RESTART_ON_FAILURE;
		else if (strcmp(o->restart, "never") == 0)
			pc->restart = RESTART_NEVER;
		else {
			rc = run_bad_option("--restart", o->restart,
			    "bad restart policy (use always, on-failure or never)");
			goto done;
		}
	}

	config_msgs_init(&msgs);
	if (config_finish(conf, &msgs) == -1) {
		for (i = 0; i < msgs.count; i++)
			fprintf(stderr, "handoff run: %s\n", msgs.lines[i] +
			    strlen("(command line): "));
		config_msgs_free(&msgs);
		goto done;
	}
	config_msgs_free(&msgs);
	*out = conf;
	conf = NULL;
	rc = 0;
	goto done;
nomem:
	fprintf(stderr, "handoff run: out of memory\n");
	rc = 1;
done:
	free(name);
	config_free(conf);
	return rc;
}

/* Make sure fds 0, 1 and 2 are open, so no socket or pipe lands there. */
static void
run_open_stdio(void)
{
	int fd;

	while ((fd = open("/dev/null", O_RDWR)) != -1 && fd <= 2)
		;
	if (fd > 2)
		close(fd);
}

/*
 * The config file's path made absolute, for reloads whatever the cwd: the
 * cwd put before a relative one, a symlink left as it is. A reload reads
 * the path given, as the operator sees it: a link replaced (ln -sf, a
 * Kubernetes ConfigMap's ..data swapped) is followed to its new target.
 * NULL (the path kept as given) if out of memory or the cwd is unknown.
 */
static char *
run_absolute_path(const char *path)
{
	char *cwd, *abs;

	if (path[0] == '/')
		return strdup(path);
	while (path[0] == '.' && path[1] == '/')
		for (path += 2; path[0] == '/'; path++)
			;
	if ((cwd = getcwd(NULL, 0)) == NULL)
		return NULL;
	if (asprintf(&abs, "%s%s%s", cwd, strcmp(cwd, "/") == 0 ? "" : "/",
	    path) == -1)
		abs = NULL;
	free(cwd);
	return abs;
}

/* Run `handoff run`. */
int
run_main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "listen", required_argument, NULL, 'l' },
		{ "workers", required_argument, NULL, 'w' },
		{ "ready", required_argument, NULL, 'r' },
		{ "ready-timeout", required_argument, NULL, 'R' },
		{ "drain-timeout", required_argument, NULL, 'D' },
		{ "stop-signal", required_argument, NULL, 'S' },
		{ "restart", required_argument, NULL, 'A' },
		{ "name", required_argument, NULL, 'n' },
		{ "syslog", no_argument, NULL, 'y' },
		{ "log-level", required_argument, NULL, 'L' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct run_opts o;
	const char *path = NULL, *log_level_text = NULL;
	char *abspath = NULL;
	struct config_msgs msgs;
	struct config *conf = NULL;
	enum log_level level;
	bool use_syslog = false, cmdline;
	int ch, rc;
	size_t i;

	memset(&o, 0, sizeof(o));
	/* An upgrade's new image: --state-fd N first (upgrade.c). */
	if ((rc = upgrade_args(&argc, &argv)) != 0)
		return rc;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "+c:fl:w:r:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c': path = optarg; break;
		case 'f': break;
		case 'l':
			if (o.nlisten == RUN_MAX_LISTEN) {
				fprintf(stderr, "handoff run: too many --listen "
				    "(at most %d)\n", RUN_MAX_LISTEN);
				return 2;
			}
			o.listen[o.nlisten++] = optarg;
			break;
		case 'w': o.workers = optarg; break;
		case 'r': o.ready = optarg; break;
		case 'R': o.ready_timeout = optarg; break;
		case 'D': o.drain_timeout = optarg; break;
		case 'S': o.stop_signal = optarg; break;
		case 'A': o.restart = optarg; break;
		case 'n': o.name = optarg; break;
		case 'y': use_syslog = true; break;
		case 'L': log_level_text = optarg; break;
		case 'h':
			run_usage(stdout);
			return 0;
		default:
			run_usage(stderr);
			return 2;
		}
	}
	cmdline = optind < argc || o.nlisten > 0;
	if (cmdline && path != NULL) {
		fprintf(stderr, "handoff run: -c FILE and a command line "
		    "(--listen ... -- CMD) exclude each other\n");
		return 2;
	}
	if (!cmdline && (o.workers || o.ready || o.ready_timeout ||
	    o.drain_timeout || o.stop_signal || o.restart || o.name)) {
		fprintf(stderr, "handoff run: --workers, --ready and the like go "
		    "with a command: handoff run --listen ADDR -- CMD [ARGS...]\n");
		return 2;
	}
	if (cmdline && optind < argc && argv[optind][0] == '\0') {
		fprintf(stderr, "handoff run: the command is empty\n");
		return 2;
	}
	if (cmdline && optind == argc) {
		fprintf(stderr, "handoff run: --listen needs a command after --, "
		    "as in: handoff run --listen 127.0.0.1:8080 -- ./server\n");
		return 2;
	}
	if (log_level_text != NULL && log_level_parse(log_level_text, &level) == -1)
		return run_bad_option("--log-level", log_level_text,
		    "bad log level (use error, warn, info or debug)");

	if (cmdline) {
		if ((rc = run_build_config(&o, argv + optind, &conf)) != 0)
			return rc;
	} else {
		if (path == NULL)
			path = config_default_path();
		config_msgs_init(&msgs);
		/* After an upgrade, the config in force, not the file. */
		if ((conf = upgrade_config(path)) == NULL)
			conf = config_load(path, &msgs);
		for (i = 0; i < msgs.count; i++)
			fprintf(stderr, "%s\n", msgs.lines[i]);
		if (conf == NULL) {
			fprintf(stderr, "%s: %zu error%s, not started\n", path,
			    msgs.nerrors, msgs.nerrors == 1 ? "" : "s");
			config_msgs_free(&msgs);
			return 2;
		}
		config_msgs_free(&msgs);
	}
	if (log_level_text != NULL)
		conf->supervisor.log_level = level;

	run_open_stdio();
	log_init(conf->supervisor.name, conf->supervisor.log_level,
	    use_syslog ? LOG_TO_SYSLOG : LOG_TO_STDERR);
	/* --log-level holds across reloads, whatever the file says. */
	if (log_level_text != NULL)
		log_pin_level(level);
	/* Reloads re-read the file by an absolute path, whatever the cwd. */
	if (!cmdline && (abspath = run_absolute_path(path)) != NULL)
		path = abspath;
	rc = supervisor_run(conf, cmdline ? NULL : path, status_render,
	    upgrade_hooks());
	free(abspath);
	config_unref(conf);
	return rc;
}
