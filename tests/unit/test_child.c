/*
 * test_child.c: what child.c prepares for a worker before fork: the exact
 * environment of each socket protocol, and how the command is found.
 */
#include "autoconf.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "child.h"
#include "config.h"
#include "listener.h"
#include "parse.h"
#include "support.h"

static char *dir;
static struct config *conf;
static struct listener_set set;

/* Remove what a test made. */
static void
fini(void)
{
	listener_set_clear(&set);
	config_unref(conf);
	if (dir != NULL)
		support_rmtree(dir);
	free(dir);
}

/*
 * A config of three listeners (TCP on port 0, a unix stream socket, UDP)
 * and one program using them in the order given, its sockets bound.
 */
static struct program_conf *
setup(const char *order, const char *extra_env)
{
	struct config_msgs msgs;
	struct program_conf *pc;
	char *text, *path;

	dir = support_tmpdir();
	cr_assert(asprintf(&text,
	    "[listener web]\nlisten = 127.0.0.1:0\nfd_name = http\n"
	    "[listener admin]\nlisten = unix:%s/admin.sock\n"
	    "[listener dns]\nlisten = udp:127.0.0.1:0\n"
	    "[program app]\ncommand = /bin/true --flag\nlisteners = %s\n%s",
	    dir, order, extra_env) != -1);
	path = support_write_file(dir, "c.ini", text);
	free(text);
	config_msgs_init(&msgs);
	conf = config_load(path, &msgs);
	cr_assert_not_null(conf, "%s", msgs.count ? msgs.lines[0] : "");
	config_msgs_free(&msgs);
	free(path);
	cr_assert_eq(listener_set_update(NULL, conf, &set, NULL), 0);
	pc = config_find_program(conf, "app");
	cr_assert_not_null(pc);
	return pc;
}

/* The listeners of pc, from the bound set, in the program's order. */
static void
program_listeners(struct program_conf *pc, struct listener **ls)
{
	size_t i;

	for (i = 0; i < pc->nlisteners; i++)
		ls[i] = listener_set_find(&set, pc->listener_names[i]);
}

/* The value of NAME in envp, or NULL; each name may appear once only. */
static const char *
env_get(char **envp, const char *name)
{
	size_t len = strlen(name), i;
	const char *found = NULL;

	for (i = 0; envp[i] != NULL; i++) {
		if (strncmp(envp[i], name, len) == 0 && envp[i][len] == '=') {
			cr_assert_null(found, "%s set twice", name);
			found = envp[i] + len + 1;
		}
	}
	return found;
}

Test(child, environment_of_every_protocol, .fini = fini)
{
	struct program_conf *pc = setup("admin, web, dns", "env = FOO=bar\n");
	struct listener *ls[3];
	char want[512], **envp;
	int slot;

	program_listeners(pc, ls);
	envp = child_env_build(pc, ls, 3, 7, 2, "@notify", &slot);
	cr_assert_not_null(envp);
	cr_assert_str_eq(env_get(envp, "LISTEN_FDS"), "3");
	cr_assert_str_eq(env_get(envp, "LISTEN_FDNAMES"), "admin:http:dns");
	/* Room for the child's pid, which it writes after fork. */
	cr_assert(slot >= 0);
	cr_assert(strncmp(envp[slot], "LISTEN_PID=", 11) == 0);
	cr_assert_geq(strlen(envp[slot] + 11), 20);
	/* Server::Starter: stream sockets only, in fd order. */
	snprintf(want, sizeof(want), "%s/admin.sock=3;%s=4", dir, ls[1]->bound);
	cr_assert_str_eq(env_get(envp, "SERVER_STARTER_PORT"), want);
	cr_assert(strncmp(ls[1]->bound, "127.0.0.1:", 10) == 0);
	cr_assert_neq(strcmp(ls[1]->bound, "127.0.0.1:0"), 0,
	    "the real port, not 0");
	cr_assert_str_eq(env_get(envp, "EINHORN_FD_COUNT"), "3");
	cr_assert_str_eq(env_get(envp, "EINHORN_FD_0"), "3");
	cr_assert_str_eq(env_get(envp, "EINHORN_FD_1"), "4");
	cr_assert_str_eq(env_get(envp, "EINHORN_FD_2"), "5");
	cr_assert_str_eq(env_get(envp, "HANDOFF_GENERATION"), "7");
	cr_assert_str_eq(env_get(envp, "HANDOFF_WORKER"), "2");
	cr_assert_str_eq(env_get(envp, "NOTIFY_SOCKET"), "@notify");
	cr_assert_str_eq(env_get(envp, "FOO"), "bar");
	argv_free(envp);
}

Test(child, inherited_protocol_variables_are_dropped, .fini = fini)
{
	struct program_conf *pc = setup("web", "");
	struct listener *ls[1];
	char **envp;
	int slot;

	/* As if the supervisor itself ran under systemd or einhorn. */
	setenv("LISTEN_FDS", "9", 1);
	setenv("LISTEN_FDNAMES", "stale", 1);
	setenv("NOTIFY_SOCKET", "/run/systemd/notify", 1);
	setenv("EINHORN_FD_3", "12", 1);
	setenv("HANDOFF_GENERATION", "99", 1);
	setenv("KEEP_ME", "yes", 1);
	program_listeners(pc, ls);
	envp = child_env_build(pc, ls, 1, 1, 0, NULL, &slot);
	cr_assert_str_eq(env_get(envp, "LISTEN_FDS"), "1");
	cr_assert_str_eq(env_get(envp, "LISTEN_FDNAMES"), "http");
	cr_assert_null(env_get(envp, "NOTIFY_SOCKET"),
	    "no NOTIFY_SOCKET unless ready = notify");
	cr_assert_null(env_get(envp, "EINHORN_FD_3"));
	cr_assert_str_eq(env_get(envp, "HANDOFF_GENERATION"), "1");
	cr_assert_str_eq(env_get(envp, "KEEP_ME"), "yes");
	argv_free(envp);
}

Test(child, program_env_overrides_the_inherited_one, .fini = fini)
{
	struct program_conf *pc = setup("web", "env = PATH=/opt/bin\n");
	struct listener *ls[1];
	char **envp;
	int slot;

	setenv("PATH", "/usr/bin:/bin", 1);
	program_listeners(pc, ls);
	envp = child_env_build(pc, ls, 1, 1, 0, NULL, &slot);
	cr_assert_str_eq(env_get(envp, "PATH"), "/opt/bin");
	argv_free(envp);
}

Test(child, command_is_found_in_path_or_directory, .fini = fini)
{
	struct program_conf *pc = setup("web", "");
	struct child_spec spec;
	struct listener *ls[1];
	char *cause = NULL, *script;

	program_listeners(pc, ls);
	/* An absolute path as it is. */
	cr_assert_eq(child_spec_init(&spec, pc, ls, 1, 1, 0, NULL, &cause), 0,
	    "%s", cause);
	cr_assert_str_eq(spec.path, "/bin/true");
	cr_assert_eq(spec.fds[0], listener_fd(ls[0]));
	child_spec_free(&spec);

	/* A bare name through PATH. */
	free(pc->argv[0]);
	pc->argv[0] = strdup("true");
	setenv("PATH", "/nonexistent:/bin", 1);
	cr_assert_eq(child_spec_init(&spec, pc, ls, 1, 1, 0, NULL, &cause), 0,
	    "%s", cause);
	cr_assert_str_eq(spec.path, "/bin/true");
	child_spec_free(&spec);

	/* A relative path from directory =. */
	script = support_write_file(dir, "server", "#!/bin/sh\n");
	chmod(script, 0755);
	free(pc->argv[0]);
	pc->argv[0] = strdup("./server");
	pc->directory = strdup(dir);
	cr_assert_eq(child_spec_init(&spec, pc, ls, 1, 1, 0, NULL, &cause), 0,
	    "%s", cause);
	cr_assert(strstr(spec.path, "/server") != NULL, "%s", spec.path);
	cr_assert_eq(access(spec.path, X_OK), 0);
	child_spec_free(&spec);
	free(script);

	/* A name nowhere on PATH: said so, with the PATH searched. */
	free(pc->argv[0]);
	pc->argv[0] = strdup("no-such-command-here");
	cr_assert_eq(child_spec_init(&spec, pc, ls, 1, 1, 0, NULL, &cause), -1);
	cr_assert_str_eq(cause, "cannot run no-such-command-here: not found in "
	    "PATH (/nonexistent:/bin)");
	free(cause);
}
