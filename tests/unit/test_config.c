/*
 * test_config.c: configuration files as a user writes them, and what
 * `handoff check` would tell them: the loaded values, or every error as
 * FILE:LINE: message, in line order.
 */
#include "autoconf.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <errno.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "confpath.h"
#include "config_text.h"
#include "hashmap.h"
#include "parse.h"

#define NITEMS(a) (sizeof(a) / sizeof((a)[0]))

/* ---- helpers --------------------------------------------------------- */

/* Write text to a new temp file; path receives its name. */
static void
write_temp(const char *text, size_t len, char *path, size_t pathlen)
{
	FILE *fp;
	int fd;

	snprintf(path, pathlen, "/tmp/handoff-test-config-XXXXXX");
	fd = mkstemp(path);
	cr_assert_geq(fd, 0, "mkstemp: %s", strerror(errno));
	fp = fdopen(fd, "w");
	cr_assert_not_null(fp);
	cr_assert_eq(fwrite(text, 1, len, fp), len);
	cr_assert_eq(fclose(fp), 0);
}

/*
 * Load a config from text (len bytes) written to a temp file, removed at
 * once; path receives the file's name, as the messages carry it.
 */
static struct config *
load_bytes(const char *text, size_t len, struct config_msgs *msgs, char *path,
    size_t pathlen)
{
	struct config *conf;

	write_temp(text, len, path, pathlen);
	config_msgs_init(msgs);
	conf = config_load(path, msgs);
	unlink(path);
	return conf;
}

static struct config *
load_text(const char *text, struct config_msgs *msgs, char *path,
    size_t pathlen)
{
	return load_bytes(text, strlen(text), msgs, path, pathlen);
}

/* All messages, one per line, for assertion output (static buffer). */
static const char *
all_msgs(const struct config_msgs *msgs)
{
	static char buf[8192];
	size_t i, len = 0;

	buf[0] = '\0';
	for (i = 0; i < msgs->count && len < sizeof(buf); i++)
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, "  %s\n",
		    msgs->lines[i]);
	if (msgs->count == 0)
		snprintf(buf, sizeof(buf), "  (none)\n");
	return buf;
}

/* Load text that must be valid and give no message at all. */
static struct config *
load_ok(const char *text, struct config_msgs *msgs)
{
	char path[64];
	struct config *conf;

	conf = load_text(text, msgs, path, sizeof(path));
	cr_assert_not_null(conf, "config refused:\n%s", all_msgs(msgs));
	cr_assert_eq(msgs->count, 0, "unexpected messages:\n%s", all_msgs(msgs));
	return conf;
}

/*
 * Assert that msgs holds exactly the expected messages, each written as
 * what follows the file name (":LINE: message" or ": message").
 */
static void
assert_msgs(const struct config_msgs *msgs, const char *path,
    const char *const *expected, size_t nexpected)
{
	char want[1024];
	size_t i;

	cr_assert_eq(msgs->count, nexpected, "%zu messages, want %zu; got:\n%s",
	    msgs->count, nexpected, all_msgs(msgs));
	for (i = 0; i < nexpected; i++) {
		snprintf(want, sizeof(want), "%s%s", path, expected[i]);
		cr_assert_str_eq(msgs->lines[i], want,
		    "message %zu:\n  got  %s\n  want %s\nall:\n%s", i,
		    msgs->lines[i], want, all_msgs(msgs));
	}
}

/* The control socket path used when [supervisor] names none. */
static void
expected_control(const char *name, char *buf, size_t len)
{
	const char *runtime = getenv("XDG_RUNTIME_DIR");

	if (geteuid() == 0)
		snprintf(buf, len, "/run/handoff/%s.sock", name);
	else if (runtime != NULL && runtime[0] == '/')
		snprintf(buf, len, "%s/handoff/%s.sock", runtime, name);
	else
		snprintf(buf, len, "/tmp/handoff-%u/%s.sock", (unsigned)geteuid(),
		    name);
}

/* The uid and gid of an existing unprivileged user and group. */
static const char *test_user = "nobody";
static const char *test_group = "nogroup";

static void
lookup_test_ids(uid_t *uid, gid_t *user_gid, gid_t *gid)
{
	struct passwd *pw = getpwnam(test_user);
	struct group *gr = getgrnam(test_group);

	cr_assert_not_null(pw, "the tests need a user named %s", test_user);
	cr_assert_not_null(gr, "the tests need a group named %s", test_group);
	*uid = pw->pw_uid;
	*user_gid = pw->pw_gid;
	*gid = gr->gr_gid;
}

/* ---- valid configs: values and defaults ------------------------------ */

Test(config, minimal_program_defaults)
{
	struct config_msgs msgs;
	struct config *conf;
	struct program_conf *pc;
	char control[256];

	unsetenv("XDG_RUNTIME_DIR");
	conf = load_ok("[program app]\ncommand = /bin/true\n", &msgs);
	cr_assert_eq(conf->nprograms, 1);
	cr_assert_eq(conf->nlisteners, 0);
	pc = TAILQ_FIRST(&conf->programs);
	cr_assert_not_null(pc);
	cr_assert_eq(config_find_program(conf, "app"), pc);
	cr_assert_null(config_find_program(conf, "other"));
	cr_assert_str_eq(pc->name, "app");
	cr_assert_eq(pc->line, 1);
	cr_assert_str_eq(pc->command, "/bin/true");
	cr_assert_eq(argv_count(pc->argv), 1);
	cr_assert_str_eq(pc->argv[0], "/bin/true");
	cr_assert_eq(pc->workers, 1);
	cr_assert_eq(pc->workers, DEFAULT_WORKERS);
	cr_assert_eq(pc->handoff, HANDOFF_INHERIT);
	cr_assert_eq(pc->ready, READY_NOTIFY);
	cr_assert_eq(pc->ready_timeout_ms, 30000);
	cr_assert_eq(pc->drain_timeout_ms, 30000);
	cr_assert_eq(pc->probation_ms, 0);
	cr_assert_eq(pc->stop_signal, SIGTERM);
	cr_assert_eq(pc->restart, RESTART_ALWAYS);
	cr_assert_eq(pc->nlisteners, 0);
	cr_assert_null(pc->user);
	cr_assert_null(pc->group);
	cr_assert_eq(pc->uid, (uid_t)-1);
	cr_assert_eq(pc->gid, (gid_t)-1);
	cr_assert_null(pc->directory);
	cr_assert_eq(pc->nenv, 0);
	cr_assert_not_null(pc->env);
	cr_assert_null(pc->env[0]);
	cr_assert_eq(pc->preload, false);
	cr_assert_eq(pc->output, OUTPUT_LOG);

	/* No [supervisor]: name "handoff", control path from the name. */
	cr_assert_str_eq(conf->supervisor.name, "handoff");
	expected_control("handoff", control, sizeof(control));
	cr_assert_str_eq(conf->supervisor.control, control);
	cr_assert_eq(conf->supervisor.log_level, LOG_LEVEL_INFO);
	config_free(conf);
	config_msgs_free(&msgs);
}

Test(config, default_control_follows_name)
{
	struct config_msgs msgs;
	struct config *conf;
	char control[256];

	unsetenv("XDG_RUNTIME_DIR");
	conf = load_ok("[supervisor]\nname = shop\n"
	    "[program app]\ncommand = /bin/true\n", &msgs);
	cr_assert_str_eq(conf->supervisor.name, "shop");
	expected_control("shop", control, sizeof(control));
	cr_assert_str_eq(conf->supervisor.control, control);
	/* The pidfile sits beside the control socket, named alike. */
	strcpy(control + strlen(control) - strlen("sock"), "pid");
	cr_assert_str_eq(conf->supervisor.pidfile, control);
	config_free(conf);
	config_msgs_free(&msgs);
}

Test(config, default_control_under_runtime_dir)
{
	struct config_msgs msgs;
	struct config *conf;
	char control[256];

	cr_assert_eq(setenv("XDG_RUNTIME_DIR", "/run/user/4242", 1), 0);
	conf = load_ok("[supervisor]\nname = shop\n"
	    "[program app]\ncommand = /bin/true\n", &msgs);
	if (geteuid() == 0)
		snprintf(control, sizeof(control), "/run/handoff/shop.sock");
	else
		snprintf(control, sizeof(control), "/run/user/4242/handoff/shop.sock");
	cr_assert_str_eq(conf->supervisor.control, control);
	config_free(conf);
	config_msgs_free(&msgs);
}

Test(config, listener_defaults)
{
	struct config_msgs msgs;
	struct config *conf;
	struct listener_conf *lc;
	struct program_conf *pc;
	char buf[ADDR_STRLEN];

	conf = load_ok(
	    "[listener web]\n"
	    "listen = 127.0.0.1:8080\n"
	    "[program app]\n"
	    "command = /bin/true\n"
	    "listeners = web\n", &msgs);
	cr_assert_eq(conf->nlisteners, 1);
	lc = config_find_listener(conf, "web");
	cr_assert_not_null(lc);
	cr_assert_null(config_find_listener(conf, "app"));
	cr_assert_str_eq(lc->name, "web");
	cr_assert_str_eq(lc->fd_name, "web", "fd_name defaults to the name");
	cr_assert_str_eq(lc->listen, "127.0.0.1:8080");
	cr_assert_eq(lc->line, 1);
	cr_assert(lc->has_listen);
	cr_assert_eq(lc->addr.kind, ADDR_TCP);
	addr_format(&lc->addr, buf, sizeof(buf));
	cr_assert_str_eq(buf, "127.0.0.1:8080");
	cr_assert_eq(lc->opts.backlog, 4096);
	cr_assert_eq(lc->opts.backlog, DEFAULT_BACKLOG);
	cr_assert_eq(lc->opts.reuseport, false);
	cr_assert_eq(lc->opts.v6only, -1);
	cr_assert_eq(lc->opts.freebind, false);
	cr_assert_eq(lc->opts.defer_accept, false);
	cr_assert_eq(lc->opts.nodelay, false);
	cr_assert_str_eq(lc->opts.interface, "");
	cr_assert_eq(lc->opts.mode, (mode_t)-1);
	cr_assert_eq(lc->opts.owner, (uid_t)-1);
	cr_assert_eq(lc->opts.group, (gid_t)-1);
	cr_assert_eq(lc->users, 1);

	pc = config_find_program(conf, "app");
	cr_assert_not_null(pc);
	cr_assert_eq(pc->nlisteners, 1);
	cr_assert_eq(pc->listeners[0], lc);
	cr_assert_str_eq(pc->listener_names[0], "web");
	cr_assert_eq(pc->listeners_line, 5);
	config_free(conf);
	config_msgs_free(&msgs);
}

/* The example of SPEC section 3, with a user and group that exist here. */
static const char spec_example[] =
    "[supervisor]\n"
    "name = shop                  ; logs, default control/pid paths\n"
    "control = /run/handoff/shop.sock\n"
    "pidfile = /run/handoff/shop.pid\n"
    "log_level = info             ; error|warn|info|debug\n"
    "\n"
    "[listener web]\n"
    "listen = 0.0.0.0:8080        ; also [::]:8080, unix:/run/shop.sock, udp:0.0.0.0:5353\n"
    "backlog = 4096\n"
    "reuseport = no\n"
    "; also: v6only, freebind, defer_accept, nodelay, interface, mode/owner/group (unix),\n"
    ";       fd_name (the LISTEN_FDNAMES name; defaults to the section's name)\n"
    "\n"
    "[program shop]\n"
    "command = /srv/shop/bin/server --config /srv/shop/server.toml\n"
    "listeners = web\n"
    "workers = 4\n"
    "handoff = inherit            ; inherit | reuseport | self (section 4)\n"
    "ready = notify               ; notify | delay:500ms | listening (section 5)\n"
    "ready_timeout = 30s\n"
    "stop_signal = TERM\n"
    "drain_timeout = 30s          ; then SIGKILL to the old generation's process groups\n"
    "restart = always             ; always | on-failure | never\n"
    "user = nobody                ; privileges dropped in the child: setgroups, setgid, setuid\n"
    "group = nogroup\n"
    "directory = /srv/shop\n"
    "env = RUST_LOG=info          ; repeatable\n"
    "preload = no                 ; yes: inject the bind() shim (section 4)\n";

Test(config, spec_example_loads)
{
	struct config_msgs msgs;
	struct config *conf;
	struct listener_conf *lc;
	struct program_conf *pc;
	uid_t uid;
	gid_t user_gid, gid;
	char buf[ADDR_STRLEN];

	lookup_test_ids(&uid, &user_gid, &gid);
	conf = load_ok(spec_example, &msgs);
	cr_assert_str_eq(conf->supervisor.name, "shop");
	cr_assert_str_eq(conf->supervisor.control, "/run/handoff/shop.sock");
	cr_assert_str_eq(conf->supervisor.pidfile, "/run/handoff/shop.pid");
	cr_assert_eq(conf->supervisor.log_level, LOG_LEVEL_INFO);

	cr_assert_eq(conf->nlisteners, 1);
	lc = config_find_listener(conf, "web");
	cr_assert_not_null(lc);
	cr_assert_eq(lc->line, 7);
	cr_assert_str_eq(lc->listen, "0.0.0.0:8080");
	addr_format(&lc->addr, buf, sizeof(buf));
	cr_assert_str_eq(buf, "0.0.0.0:8080");
	cr_assert_eq(lc->opts.backlog, 4096);
	cr_assert_eq(lc->opts.reuseport, false);
	cr_assert_str_eq(lc->fd_name, "web");

	cr_assert_eq(conf->nprograms, 1);
	pc = config_find_program(conf, "shop");
	cr_assert_not_null(pc);
	cr_assert_eq(pc->line, 14);
	cr_assert_str_eq(pc->command,
	    "/srv/shop/bin/server --config /srv/shop/server.toml");
	cr_assert_eq(argv_count(pc->argv), 3);
	cr_assert_str_eq(pc->argv[0], "/srv/shop/bin/server");
	cr_assert_str_eq(pc->argv[1], "--config");
	cr_assert_str_eq(pc->argv[2], "/srv/shop/server.toml");
	cr_assert_eq(pc->nlisteners, 1);
	cr_assert_eq(pc->listeners[0], lc);
	cr_assert_eq(pc->workers, 4);
	cr_assert_eq(pc->handoff, HANDOFF_INHERIT);
	cr_assert_eq(pc->ready, READY_NOTIFY);
	cr_assert_eq(pc->ready_timeout_ms, 30000);
	cr_assert_eq(pc->stop_signal, SIGTERM);
	cr_assert_eq(pc->drain_timeout_ms, 30000);
	cr_assert_eq(pc->restart, RESTART_ALWAYS);
	cr_assert_str_eq(pc->user, "nobody");
	cr_assert_eq(pc->uid, uid);
	cr_assert_eq(pc->user_gid, user_gid);
	cr_assert_str_eq(pc->group, "nogroup");
	cr_assert_eq(pc->gid, gid);
	cr_assert_str_eq(pc->directory, "/srv/shop");
	cr_assert_eq(pc->nenv, 1);
	cr_assert_str_eq(pc->env[0], "RUST_LOG=info");
	cr_assert_null(pc->env[1]);
	cr_assert_eq(pc->preload, false);
	config_free(conf);
	config_msgs_free(&msgs);
}

Test(config, every_listener_key)
{
	struct config_msgs msgs;
	struct config *conf;
	struct listener_conf *lc;
	uid_t uid;
	gid_t user_gid, gid;

	lookup_test_ids(&uid, &user_gid, &gid);
	conf = load_ok(
	    "[listener web6]\n"
	    "listen = [::]:8080\n"
	    "backlog = 128\n"
	    "reuseport = yes\n"
	    "v6only = yes\n"
	    "freebind = on\n"
	    "defer_accept = true\n"
	    "nodelay = 1\n"
	    "interface = lo\n"
	    "fd_name = http\n"
	    "[listener sock]\n"
	    "listen = unix:/run/handoff-test/app.sock\n"
	    "backlog = 1\n"
	    "mode = 0660\n"
	    "owner = nobody\n"
	    "group = nogroup\n"
	    "[listener dns]\n"
	    "listen = udp:[::1]:5353\n"
	    "v6only = no\n"
	    "freebind = yes\n"
	    "interface = eth0\n"
	    "reuseport = no\n"
	    "[listener log]\n"
	    "listen = unixgram:/run/handoff-test/log.sock\n"
	    "mode = 600\n"
	    "owner = 0\n"
	    "group = 0\n"
	    "[listener abs]\n"
	    "listen = unix:@handoff-test\n"
	    "backlog = 1048576\n"
	    "[program app]\n"
	    "command = /bin/true\n"
	    "listeners = web6 sock dns log abs\n", &msgs);

	lc = config_find_listener(conf, "web6");
	cr_assert_not_null(lc);
	cr_assert_eq(lc->addr.kind, ADDR_TCP);
	cr_assert_eq(lc->opts.backlog, 128);
	cr_assert_eq(lc->opts.reuseport, true);
	cr_assert_eq(lc->opts.v6only, 1);
	cr_assert_eq(lc->opts.freebind, true);
	cr_assert_eq(lc->opts.defer_accept, true);
	cr_assert_eq(lc->opts.nodelay, true);
	cr_assert_str_eq(lc->opts.interface, "lo");
	cr_assert_str_eq(lc->fd_name, "http");

	lc = config_find_listener(conf, "sock");
	cr_assert_not_null(lc);
	cr_assert_eq(lc->addr.kind, ADDR_UNIX_STREAM);
	cr_assert_eq(lc->opts.backlog, 1);
	cr_assert_eq(lc->opts.mode, 0660);
	cr_assert_eq(lc->opts.owner, uid);
	cr_assert_eq(lc->opts.group, gid);
	cr_assert_str_eq(lc->fd_name, "sock");

	lc = config_find_listener(conf, "dns");
	cr_assert_not_null(lc);
	cr_assert_eq(lc->addr.kind, ADDR_UDP);
	cr_assert_eq(lc->opts.v6only, 0);
	cr_assert_eq(lc->opts.freebind, true);
	cr_assert_str_eq(lc->opts.interface, "eth0");

	lc = config_find_listener(conf, "log");
	cr_assert_not_null(lc);
	cr_assert_eq(lc->addr.kind, ADDR_UNIX_DGRAM);
	cr_assert_eq(lc->opts.mode, 0600);
	cr_assert_eq(lc->opts.owner, 0);
	cr_assert_eq(lc->opts.group, 0);

	lc = config_find_listener(conf, "abs");
	cr_assert_not_null(lc);
	cr_assert(addr_is_abstract(&lc->addr));
	cr_assert_eq(lc->opts.backlog, 1048576);
	config_free(conf);
	config_msgs_free(&msgs);
}

Test(config, every_program_key)
{
	struct config_msgs msgs;
	struct config *conf;
	struct program_conf *pc;
	uid_t uid;
	gid_t user_gid, gid;

	lookup_test_ids(&uid, &user_gid, &gid);
	conf = load_ok(
	    "[listener web]\n"
	    "listen = 127.0.0.1:0\n"
	    "[program a]\n"
	    "command = /usr/bin/env 'a b' \"c d\" e\\ f\n"
	    "listeners = web\n"
	    "workers = 1024\n"
	    "handoff = reuseport\n"
	    "ready = delay:500ms\n"
	    "ready_timeout = 1m30s\n"
	    "stop_signal = SIGQUIT\n"
	    "drain_timeout = 0s\n"
	    "probation = 5s\n"
	    "restart = on-failure\n"
	    "user = nobody\n"
	    "directory = /\n"
	    "preload = yes\n"
	    "output = discard\n"
	    "[listener own]\n"
	    "listen = 127.0.0.1:8081\n"
	    "[program b]\n"
	    "command = /bin/true\n"
	    "listeners = own\n"
	    "handoff = self\n"
	    "ready = listening\n"
	    "stop_signal = 2\n"
	    "restart = never\n"
	    "user = 54321\n"
	    "group = 54322\n"
	    "drain_timeout = 168h\n"
	    "output = log\n"
	    "probation = 1h\n"
	    "[program c]\n"
	    "command = /bin/true\n"
	    "ready = notify\n"
	    "handoff = inherit\n"
	    "restart = always\n"
	    "user = nobody\n"
	    "group = nogroup\n"
	    "stop_signal = usr2\n", &msgs);

	pc = config_find_program(conf, "a");
	cr_assert_not_null(pc);
	cr_assert_eq(argv_count(pc->argv), 4);
	cr_assert_str_eq(pc->argv[0], "/usr/bin/env");
	cr_assert_str_eq(pc->argv[1], "a b");
	cr_assert_str_eq(pc->argv[2], "c d");
	cr_assert_str_eq(pc->argv[3], "e f");
	cr_assert_str_eq(pc->command, "/usr/bin/env 'a b' \"c d\" e\\ f");
	cr_assert_eq(pc->workers, 1024);
	cr_assert_eq(pc->handoff, HANDOFF_REUSEPORT);
	cr_assert_eq(pc->ready, READY_DELAY);
	cr_assert_eq(pc->ready_delay_ms, 500);
	cr_assert_eq(pc->ready_timeout_ms, 90000);
	cr_assert_eq(pc->stop_signal, SIGQUIT);
	cr_assert_eq(pc->drain_timeout_ms, 0);
	cr_assert_eq(pc->probation_ms, 5000);
	cr_assert_eq(pc->restart, RESTART_ON_FAILURE);
	cr_assert_str_eq(pc->user, "nobody");
	cr_assert_eq(pc->uid, uid);
	cr_assert_null(pc->group);
	cr_assert_eq(pc->gid, user_gid, "no group: the user's primary group");
	cr_assert_str_eq(pc->directory, "/");
	cr_assert_eq(pc->preload, true);
	cr_assert_eq(pc->output, OUTPUT_DISCARD);

	pc = config_find_program(conf, "b");
	cr_assert_not_null(pc);
	cr_assert_eq(pc->handoff, HANDOFF_SELF);
	cr_assert_eq(pc->ready, READY_LISTENING);
	cr_assert_eq(pc->stop_signal, SIGINT);
	cr_assert_eq(pc->restart, RESTART_NEVER);
	/* A bare uid with no passwd entry is taken as it is. */
	cr_assert_eq(pc->uid, 54321);
	cr_assert_eq(pc->gid, 54322);
	cr_assert_eq(pc->drain_timeout_ms, 168ULL * 3600 * 1000);
	cr_assert_eq(pc->output, OUTPUT_LOG);
	cr_assert_eq(pc->probation_ms, 3600ULL * 1000, "at most 1h");

	pc = config_find_program(conf, "c");
	cr_assert_not_null(pc);
	cr_assert_eq(pc->ready, READY_NOTIFY);
	cr_assert_eq(pc->handoff, HANDOFF_INHERIT);
	cr_assert_eq(pc->restart, RESTART_ALWAYS);
	cr_assert_eq(pc->uid, uid);
	cr_assert_eq(pc->gid, gid);
	cr_assert_eq(pc->stop_signal, SIGUSR2);
	config_free(conf);
	config_msgs_free(&msgs);
}

Test(config, supervisor_keys)
{
	struct config_msgs msgs;
	struct config *conf;

	conf = load_ok(
	    "[supervisor]\n"
	    "name = my-app_2.0\n"
	    "control = /tmp/handoff-test/ctl.sock\n"
	    "pidfile = /tmp/handoff-test/x.pid\n"
	    "log_level = debug\n"
	    "[program p]\n"
	    "command = /bin/true\n", &msgs);
	cr_assert_str_eq(conf->supervisor.name, "my-app_2.0");
	cr_assert_str_eq(conf->supervisor.control, "/tmp/handoff-test/ctl.sock");
	cr_assert_str_eq(conf->supervisor.pidfile, "/tmp/handoff-test/x.pid");
	cr_assert_eq(conf->supervisor.log_level, LOG_LEVEL_DEBUG);
	config_free(conf);
	config_msgs_free(&msgs);

	conf = load_ok("[supervisor]\nlog_level = warning\n"
	    "[program p]\ncommand = /bin/true\n", &msgs);
	cr_assert_eq(conf->supervisor.log_level, LOG_LEVEL_WARN);
	cr_assert_str_eq(conf->supervisor.name, "handoff");
	config_free(conf);
	config_msgs_free(&msgs);

	conf = load_ok("[supervisor]\nlog_level = error\n"
	    "[program p]\ncommand = /bin/true\n", &msgs);
	cr_assert_eq(conf->supervisor.log_level, LOG_LEVEL_ERROR);
	config_free(conf);
	config_msgs_free(&msgs);
}

Test(config, env_repeats_and_replaces)
{
	struct config_msgs msgs;
	struct config *conf;
	struct program_conf *pc;

	conf = load_ok(
	    "[program p]\n"
	    "command = /bin/true\n"
	    "env = A=1\n"
	    "env = B=two words\n"
	    "env = URL=http://x/?a=b\n"
	    "env = A=3\n"
	    "env = AB=4\n"
	    "env = EMPTY=\n"
	    "env = _X9=y\n", &msgs);
	pc = TAILQ_FIRST(&conf->programs);
	cr_assert_eq(pc->nenv, 6, "env:\n%s %s %s", pc->env[0], pc->env[1],
	    pc->env[2]);
	cr_assert_str_eq(pc->env[0], "A=3", "a later A= replaces the earlier");
	cr_assert_str_eq(pc->env[1], "B=two words");
	cr_assert_str_eq(pc->env[2], "URL=http://x/?a=b");
	cr_assert_str_eq(pc->env[3], "AB=4", "AB is not A");
	cr_assert_str_eq(pc->env[4], "EMPTY=");
	cr_assert_str_eq(pc->env[5], "_X9=y");
	cr_assert_null(pc->env[6]);
	config_free(conf);
	config_msgs_free(&msgs);
}

Test(config, listeners_list_in_order)
{
	struct config_msgs msgs;
	struct config *conf;
	struct program_conf *pc, *pc2;
	struct listener_conf *a, *b, *c, *d;

	conf = load_ok(
	    "[listener a]\nlisten = 127.0.0.1:0\n"
	    "[listener b]\nlisten = udp:127.0.0.1:0\n"
	    "[listener c]\nlisten = unix:@handoff-test-c\n"
	    "[listener d]\nlisten = [::1]:0\n"
	    "[program p]\n"
	    "command = /bin/true\n"
	    "listeners = c, a\tb ,d\n"
	    "[program q]\n"
	    "command = /bin/true\n"
	    "listeners = a,b\n", &msgs);
	a = config_find_listener(conf, "a");
	b = config_find_listener(conf, "b");
	c = config_find_listener(conf, "c");
	d = config_find_listener(conf, "d");
	cr_assert(a && b && c && d);
	pc = config_find_program(conf, "p");
	cr_assert_eq(pc->nlisteners, 4);
	cr_assert_eq(pc->listeners[0], c);
	cr_assert_eq(pc->listeners[1], a);
	cr_assert_eq(pc->listeners[2], b);
	cr_assert_eq(pc->listeners[3], d);
	cr_assert_str_eq(pc->listener_names[0], "c");
	cr_assert_str_eq(pc->listener_names[3], "d");
	pc2 = config_find_program(conf, "q");
	cr_assert_eq(pc2->nlisteners, 2);
	cr_assert_eq(pc2->listeners[0], a);
	cr_assert_eq(pc2->listeners[1], b);
	/* A listener may serve several programs. */
	cr_assert_eq(a->users, 2);
	cr_assert_eq(b->users, 2);
	cr_assert_eq(c->users, 1);
	cr_assert_eq(d->users, 1);
	config_free(conf);
	config_msgs_free(&msgs);
}

Test(config, layout_blanks_and_comments)
{
	static const char *const want[] = {
		":13: workers = 3;not a comment without a blank before: "
		"bad number of workers (use 1 to 1024)",
	};
	struct config_msgs msgs;
	struct config *conf;
	struct program_conf *pc;
	struct listener_conf *lc;
	char path[64];

	/* ';' starts a comment only after a blank. */
	conf = load_text(
	    "# a comment\n"
	    "; another comment\n"
	    "\n"
	    "   \t\n"
	    "  [listener web]   ; the web port\n"
	    "\tlisten = 127.0.0.1:8080 ; inline comment\n"
	    "    backlog=64\n"
	    "  # indented comment\n"
	    "  ; indented comment\n"
	    "[program app]  # hash comment after a header\n"
	    "  command   =   /bin/echo   a  ; comment\n"
	    "\t\tlisteners = web\n"
	    "  workers = 3;not a comment without a blank before\n"
	    "\n", &msgs, path, sizeof(path));
	cr_assert_null(conf);
	assert_msgs(&msgs, path, want, NITEMS(want));
	config_msgs_free(&msgs);

	/* Without "workers = 3;..." the same file loads; check the values. */
	conf = load_ok(
	    "# a comment\n"
	    "; another comment\n"
	    "\n"
	    "   \t\n"
	    "  [listener web]   ; the web port\n"
	    "\tlisten = 127.0.0.1:8080 ; inline comment\n"
	    "    backlog=64\n"
	    "  # indented comment\n"
	    "  ; indented comment\n"
	    "[program app]  # hash comment after a header\n"
	    "  command   =   /bin/echo   a  ; comment\n"
	    "\t\tlisteners = web\n"
	    "  workers = 3\n"
	    "\n", &msgs);
	lc = config_find_listener(conf, "web");
	cr_assert_not_null(lc);
	cr_assert_str_eq(lc->listen, "127.0.0.1:8080");
	cr_assert_eq(lc->opts.backlog, 64);
	pc = config_find_program(conf, "app");
	cr_assert_not_null(pc);
	cr_assert_str_eq(pc->command, "/bin/echo   a");
	cr_assert_eq(argv_count(pc->argv), 2);
	cr_assert_eq(pc->workers, 3);
	cr_assert_eq(pc->listeners[0], lc);
	config_free(conf);
	config_msgs_free(&msgs);
}

Test(config, crlf_file)
{
	struct config_msgs msgs;
	struct config *conf;
	struct program_conf *pc;
	struct listener_conf *lc;

	conf = load_ok(
	    "[supervisor]\r\n"
	    "name = crlf\r\n"
	    "\r\n"
	    "[listener web]\r\n"
	    "listen = 127.0.0.1:8080\r\n"
	    "[program app]\r\n"
	    "command = /bin/echo hi\r\n"
	    "listeners = web\r\n"
	    "stop_signal = HUP\r\n", &msgs);
	cr_assert_str_eq(conf->supervisor.name, "crlf");
	lc = config_find_listener(conf, "web");
	cr_assert_not_null(lc);
	cr_assert_str_eq(lc->listen, "127.0.0.1:8080");
	pc = config_find_program(conf, "app");
	cr_assert_not_null(pc);
	cr_assert_eq(argv_count(pc->argv), 2);
	cr_assert_str_eq(pc->argv[1], "hi");
	cr_assert_eq(pc->stop_signal, SIGHUP);
	config_free(conf);
	config_msgs_free(&msgs);
}

Test(config, crlf_errors_keep_line_numbers)
{
	static const char *const want[] = {
		":4: workers = 0: bad number of workers (use 1 to 1024)",
	};
	struct config_msgs msgs;
	struct config *conf;
	char path[64];

	conf = load_text("[program app]\r\ncommand = /bin/true\r\n\r\n"
	    "workers = 0\r\n", &msgs, path, sizeof(path));
	cr_assert_null(conf);
	assert_msgs(&msgs, path, want, NITEMS(want));
	config_msgs_free(&msgs);
}

Test(config, byte_order_mark)
{
	struct config_msgs msgs;
	struct config *conf;

	conf = load_ok("\xEF\xBB\xBF[program app]\ncommand = /bin/true\n", &msgs);
	cr_assert_not_null(config_find_program(conf, "app"));
	config_free(conf);
	config_msgs_free(&msgs);
}

Test(config, file_without_final_newline)
{
	struct config_msgs msgs;
	struct config *conf;

	conf = load_ok("[program app]\ncommand = /bin/true\nworkers = 2", &msgs);
	cr_assert_eq(TAILQ_FIRST(&conf->programs)->workers, 2);
	config_free(conf);
	config_msgs_free(&msgs);
}

Test(config, addresses_that_do_not_conflict)
{
	struct config_msgs msgs;
	struct config *conf;

	conf = load_ok(
	    "[listener t]\nlisten = 0.0.0.0:8080\n"
	    "[listener u]\nlisten = udp:0.0.0.0:8080\n"
	    "[listener other]\nlisten = 127.0.0.1:8081\n"
	    "[listener v6]\nlisten = [::]:8080\nv6only = yes\n"
	    "[listener zero1]\nlisten = 127.0.0.1:0\n"
	    "[listener zero2]\nlisten = 127.0.0.1:0\n"
	    "[listener r1]\nlisten = 127.0.0.1:9000\nreuseport = yes\n"
	    "[listener r2]\nlisten = 127.0.0.1:9000\nreuseport = yes\n"
	    "[listener lo1]\nlisten = 127.0.0.1:9001\n"
	    "[listener lo2]\nlisten = 127.0.0.2:9001\n"
	    "[listener s1]\nlisten = unix:/tmp/handoff-test/a.sock\n"
	    "[listener s2]\nlisten = unix:/tmp/handoff-test/b.sock\n"
	    "[listener s3]\nlisten = unix:@a.sock\n"
	    "[program p]\ncommand = /bin/true\n"
	    "listeners = t u other v6 zero1 zero2 r1 r2 lo1 lo2 s1 s2 s3\n",
	    &msgs);
	cr_assert_eq(conf->nlisteners, 13);
	config_free(conf);
	config_msgs_free(&msgs);
}

/* ---- address conflicts and lookups at scale ---------------------------- */

/*
 * Whether two listeners cannot both be bound, compared pairwise: the
 * definition the indexed check in config_finish must agree with.
 */
static bool
pairwise_conflict(const struct listener_conf *a, const struct listener_conf *b)
{
	const struct sockaddr_in6 *a6, *b6;
	const struct sockaddr_in *a4, *b4;
	bool a_any, b_any;

	if (addr_is_unix(&a->addr) && addr_is_unix(&b->addr) &&
	    !addr_is_abstract(&a->addr) && !addr_is_abstract(&b->addr))
		return strcmp(((const struct sockaddr_un *)&a->addr.ss)->sun_path,
		    ((const struct sockaddr_un *)&b->addr.ss)->sun_path) == 0;
	if (addr_socktype(&a->addr) != addr_socktype(&b->addr))
		return false;
	if (addr_is_unix(&a->addr) || addr_is_unix(&b->addr))
		return addr_equal(&a->addr, &b->addr);
	if (addr_port(&a->addr) == 0 || addr_port(&a->addr) != addr_port(&b->addr))
		return false;
	if (a->opts.reuseport && b->opts.reuseport)
		return false;
	if (a->addr.ss.ss_family == AF_INET && b->addr.ss.ss_family == AF_INET) {
		a4 = (const struct sockaddr_in *)&a->addr.ss;
		b4 = (const struct sockaddr_in *)&b->addr.ss;
		return a4->sin_addr.s_addr == b4->sin_addr.s_addr ||
		    a4->sin_addr.s_addr == htonl(INADDR_ANY) ||
		    b4->sin_addr.s_addr == htonl(INADDR_ANY);
	}
	if (a->addr.ss.ss_family == AF_INET6 && b->addr.ss.ss_family == AF_INET6) {
		a6 = (const struct sockaddr_in6 *)&a->addr.ss;
		b6 = (const struct sockaddr_in6 *)&b->addr.ss;
		return IN6_ARE_ADDR_EQUAL(&a6->sin6_addr, &b6->sin6_addr) ||
		    IN6_IS_ADDR_UNSPECIFIED(&a6->sin6_addr) ||
		    IN6_IS_ADDR_UNSPECIFIED(&b6->sin6_addr);
	}
	a_any = a->addr.ss.ss_family == AF_INET6 && a->opts.v6only != 1 &&
	    IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)&a->addr.ss)->sin6_addr);
	b_any = b->addr.ss.ss_family == AF_INET6 && b->opts.v6only != 1 &&
	    IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)&b->addr.ss)->sin6_addr);
	return a_any || b_any;
}

/*
 * Random configs drawn from addresses that overlap in every way (same
 * address, wildcards, dual-stack [::], other protocol or port, port 0,
 * unix paths and abstract names of both types), with and without
 * reuseport and v6only: config_finish reports, for each listener, the
 * first earlier one the pairwise definition says it conflicts with.
 */
Test(config, address_conflicts_agree_with_pairwise)
{
	static const char *const pool[] = {
		"127.0.0.1:80", "127.0.0.2:80", "0.0.0.0:80", "127.0.0.1:81",
		"udp:127.0.0.1:80", "udp:0.0.0.0:80", "[::1]:80", "[::]:80",
		"[::ffff:127.0.0.1]:80", "udp:[::]:80", "[::1]:81",
		"127.0.0.1:0", "[::]:0", "unix:/tmp/a.sock", "unixgram:/tmp/a.sock",
		"unix:/tmp/b.sock", "unix:@a", "unixgram:@a", "unix:@b",
	};
	struct listener_conf *lc, *other;
	struct config_msgs msgs;
	struct config *conf;
	char name[16], want[512], **wants;
	const char *cause;
	size_t round, i, n, nwant, got;

	srand(1);
	for (round = 0; round < 3000; round++) {
		conf = config_new("t.ini");
		n = 2 + (size_t)rand() % 10;
		for (i = 0; i < n; i++) {
			snprintf(name, sizeof(name), "l%zu", i);
			lc = config_add_listener(conf, name, (int)i + 1);
			lc->listen = strdup(pool[(size_t)rand() % NITEMS(pool)]);
			lc->has_listen = rand() % 8 != 0;
			cr_assert_eq(addr_parse(lc->listen, &lc->addr, &cause), 0);
			lc->opts.reuseport = rand() % 3 == 0;
			if (lc->addr.ss.ss_family == AF_INET6)
				lc->opts.v6only = rand() % 3 - 1;
		}
		wants = calloc(n, sizeof(*wants));
		nwant = 0;
		TAILQ_FOREACH(lc, &conf->listeners, entry) {
			if (!lc->has_listen)
				continue;
			for (other = TAILQ_FIRST(&conf->listeners); other != lc;
			    other = TAILQ_NEXT(other, entry)) {
				if (!other->has_listen ||
				    !pairwise_conflict(lc, other))
					continue;
				snprintf(want, sizeof(want), "t.ini:%d: listener "
				    "%s: %s conflicts with listener %s (%s, line "
				    "%d); two listeners cannot share an address",
				    lc->line, lc->name, lc->listen, other->name,
				    other->listen, other->line);
				wants[nwant++] = strdup(want);
				break;
			}
		}
		config_msgs_init(&msgs);
		config_finish(conf, &msgs);
		for (i = 0, got = 0; i < msgs.count; i++) {
			if (strstr(msgs.lines[i], " conflicts with ") == NULL)
				continue;
			cr_assert_lt(got, nwant, "round %zu: extra %s", round,
			    msgs.lines[i]);
			cr_assert_str_eq(msgs.lines[i], wants[got],
			    "round %zu", round);
			got++;
		}
		cr_assert_eq(got, nwant, "round %zu: %zu conflicts, want %zu",
		    round, got, nwant);
		for (i = 0; i < nwant; i++)
			free(wants[i]);
		free(wants);
		config_msgs_free(&msgs);
		config_free(conf);
	}
}

/* A config of n listeners on ports 10000.., and one program using them. */
static char *
many_listeners_text(size_t n, const char *extra)
{
	size_t len = 64 * n + 256 + strlen(extra), off = 0, i;
	char *text = malloc(len);

	cr_assert_not_null(text);
	for (i = 0; i < n; i++)
		off += (size_t)snprintf(text + off, len - off,
		    "[listener l%zu]\nlisten = 127.0.0.1:%zu\n", i, 10000 + i);
	off += (size_t)snprintf(text + off, len - off, "%s", extra);
	/* A program uses the first listener; the rest are warned about. */
	snprintf(text + off, len - off, "[program p]\ncommand = /bin/true\n"
	    "listeners = l0\n");
	return text;
}

/*
 * Load n listeners on ports 10000.. followed by extra: the one error must
 * be want (what follows the file name), among the warnings about unused
 * listeners.
 */
static void
assert_sole_error(size_t n, const char *extra, const char *want)
{
	struct config_msgs msgs;
	char path[64], line[512], *text = many_listeners_text(n, extra);
	size_t i;

	cr_assert_null(load_text(text, &msgs, path, sizeof(path)));
	cr_assert_eq(msgs.nerrors, 1, "%s", all_msgs(&msgs));
	snprintf(line, sizeof(line), "%s%s", path, want);
	for (i = 0; i < msgs.count; i++)
		if (msgs.is_error[i])
			cr_assert_str_eq(msgs.lines[i], line);
	config_msgs_free(&msgs);
	free(text);
}

Test(config, conflict_among_many_listeners_names_the_first)
{
	assert_sole_error(2000, "[listener late]\nlisten = 127.0.0.1:11500\n",
	    ":4001: listener late: 127.0.0.1:11500 conflicts with listener "
	    "l1500 (127.0.0.1:11500, line 3001); two listeners cannot share an "
	    "address");
}

/*
 * Two listeners on one address with different options, among many: the
 * config is refused, naming both (only two reuseport ones may share).
 */
Test(config, one_address_with_other_options_is_refused)
{
	assert_sole_error(500, "[listener again]\nlisten = 127.0.0.1:10007\n"
	    "backlog = 16\nnodelay = yes\n",
	    ":1001: listener again: 127.0.0.1:10007 conflicts with listener l7 "
	    "(127.0.0.1:10007, line 15); two listeners cannot share an "
	    "address");
}

Test(config, listeners_found_by_name_and_position)
{
	struct config_msgs msgs;
	struct listener_conf *lc;
	struct config *conf;
	char path[64], name[16], *text;
	size_t i = 0;

	text = many_listeners_text(1500, "");
	conf = load_text(text, &msgs, path, sizeof(path));
	cr_assert_not_null(conf, "%s", all_msgs(&msgs));
	cr_assert_eq(conf->nlisteners, 1500);
	TAILQ_FOREACH(lc, &conf->listeners, entry) {
		snprintf(name, sizeof(name), "l%zu", i);
		cr_assert_eq(lc->index, i);
		cr_assert_eq(config_find_listener(conf, name), lc);
		i++;
	}
	cr_assert_null(config_find_listener(conf, "l1500"));
	cr_assert_null(config_find_listener(conf, "l"));
	/* Listeners appended later are found too; the first of a name wins. */
	lc = config_add_listener(conf, "extra", 0);
	cr_assert_eq(lc->index, 1500);
	cr_assert_eq(config_find_listener(conf, "extra"), lc);
	lc = config_add_listener(conf, "l3", 0);
	cr_assert_eq(config_find_listener(conf, "l3")->index, 3);
	config_free(conf);
	config_msgs_free(&msgs);
	free(text);
}

Test(config, programs_found_by_name)
{
	char name[16], *text = config_text_programs(1500, "/bin/");
	struct config *conf = config_from_text(text);
	struct program_conf *pc, *p3;
	size_t i = 0;

	cr_assert_eq(conf->nprograms, 1500);
	TAILQ_FOREACH(pc, &conf->programs, entry) {
		snprintf(name, sizeof(name), "p%zu", i);
		cr_assert_eq(config_find_program(conf, name), pc, "%s", name);
		i++;
	}
	cr_assert_eq(i, 1500);
	cr_assert_null(config_find_program(conf, "p1500"));
	cr_assert_null(config_find_program(conf, "p"));
	/* Programs added later are found too; the first of a name wins. */
	pc = config_add_program(conf, "extra", 0);
	cr_assert_eq(config_find_program(conf, "extra"), pc);
	p3 = config_find_program(conf, "p3");
	cr_assert_not_null(config_add_program(conf, "p3", 0));
	cr_assert_eq(config_find_program(conf, "p3"), p3);
	config_free(conf);
	free(text);
}

/*
 * Without its name index (as when memory ran out for it), a config finds
 * its programs in the list, the first of a name too.
 */
Test(config, programs_found_without_the_index)
{
	struct config *conf = config_new("test.ini");
	struct program_conf *a, *b;

	cr_assert_not_null(conf);
	hashmap_free(conf->program_names);
	conf->program_names = NULL;
	cr_assert_not_null(a = config_add_program(conf, "a", 1));
	cr_assert_not_null(b = config_add_program(conf, "b", 2));
	cr_assert_not_null(config_add_program(conf, "a", 3));
	cr_assert_eq(config_find_program(conf, "a"), a);
	cr_assert_eq(config_find_program(conf, "b"), b);
	cr_assert_null(config_find_program(conf, "c"));
	config_free(conf);
}

/* One-character listener names: 64 of them fit a config line. */
static const char names64[] =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_.";

/* Load a program whose listeners = line names the first n of names64. */
static struct config *
load_listeners_line(size_t n, const char *extra, struct config_msgs *msgs)
{
	char text[512], path[64];
	size_t off, i;

	off = (size_t)snprintf(text, sizeof(text), "[program p]\n"
	    "command = /bin/true\nlisteners =");
	for (i = 0; i < n; i++)
		off += (size_t)snprintf(text + off, sizeof(text) - off, " %c",
		    names64[i]);
	snprintf(text + off, sizeof(text) - off, "%s\n", extra);
	return load_text(text, msgs, path, sizeof(path));
}

Test(config, listeners_line_repeats_and_length)
{
	struct config_msgs msgs;

	/* 64 names: the line is fine (the listeners are unknown). */
	cr_assert_null(load_listeners_line(64, "", &msgs));
	cr_assert_null(strstr(all_msgs(&msgs), "listeners ="), "%s",
	    all_msgs(&msgs));
	config_msgs_free(&msgs);

	/* 65 are too many, even if the 65th repeats one. */
	cr_assert_null(load_listeners_line(64, " -", &msgs));
	cr_assert(strstr(all_msgs(&msgs), ": too many listeners (at most 64)")
	    != NULL, "%s", all_msgs(&msgs));
	config_msgs_free(&msgs);
	cr_assert_null(load_listeners_line(64, " 0", &msgs));
	cr_assert(strstr(all_msgs(&msgs), ": too many listeners (at most 64)")
	    != NULL, "%s", all_msgs(&msgs));
	config_msgs_free(&msgs);

	/* A repeat among the first 64 is said instead: the first repeat. */
	cr_assert_null(load_listeners_line(62, " 9 2 - x", &msgs));
	cr_assert(strstr(all_msgs(&msgs), ": listener 9 is named twice\n") !=
	    NULL, "%s", all_msgs(&msgs));
	cr_assert_null(strstr(all_msgs(&msgs), "too many"));
	config_msgs_free(&msgs);
}

Test(config, long_comment_lines_are_fine)
{
	char text[1400], comment[400];
	struct config_msgs msgs;
	struct config *conf;

	memset(comment, 'c', sizeof(comment) - 1);
	comment[sizeof(comment) - 1] = '\0';
	snprintf(text, sizeof(text),
	    "; %s\n[program app] ; %s\ncommand = /bin/true\n  # %s\n",
	    comment, comment, comment);
	conf = load_ok(text, &msgs);
	config_free(conf);
	config_msgs_free(&msgs);
}

Test(config, group_without_user)
{
	struct config_msgs msgs;
	struct config *conf;
	char path[64];
	gid_t gid;
	uid_t uid;
	gid_t user_gid;

	lookup_test_ids(&uid, &user_gid, &gid);
	conf = load_text("[program app]\ncommand = /bin/true\ngroup = nogroup\n",
	    &msgs, path, sizeof(path));
	cr_assert_not_null(conf, "%s", all_msgs(&msgs));
	cr_assert_eq(TAILQ_FIRST(&conf->programs)->gid, gid);
	config_free(conf);
	config_msgs_free(&msgs);
}

/*
 * What a supervisor that is not root says of a program's user = or group
 * = (the caller is not root): nothing for the ids it runs with, a warning
 * that the workers would fail to start for others, which only root may
 * switch to. NULL when each case says what it should, else what it said.
 */
static const char *
ids_warnings_as_non_root(void)
{
	static char why[1024];
	struct passwd *pw = getpwuid(geteuid());
	struct group *gr = getgrgid(getegid());
	struct {
		const char	*key, *value;
		bool		 warns;
	} cases[] = {
		{ "group", gr != NULL ? gr->gr_name : "", false },
		{ "group", "root", getegid() != 0 },
		{ "user", pw != NULL ? pw->pw_name : "", false },
		{ "user", "root", true },
	};
	struct config_msgs msgs;
	struct config *conf;
	char text[256], want[256], path[64];
	size_t i, len;
	bool ok;

	if (pw == NULL || gr == NULL)
		return "the test's own user or group has no name";
	for (i = 0; i < NITEMS(cases); i++) {
		snprintf(text, sizeof(text), "[program app]\ncommand = /bin/true\n"
		    "%s = %s\n", cases[i].key, cases[i].value);
		snprintf(want, sizeof(want), ":3: warning: program app: %s = %s "
		    "needs the supervisor to run as root (it runs as uid %u): "
		    "its workers would fail to start", cases[i].key,
		    cases[i].value, (unsigned)geteuid());
		conf = load_text(text, &msgs, path, sizeof(path));
		if (cases[i].warns) {
			len = msgs.count == 1 ? strlen(msgs.lines[0]) : 0;
			ok = msgs.count == 1 && len >= strlen(want) &&
			    strcmp(msgs.lines[0] + len - strlen(want), want) == 0;
		} else
			ok = msgs.count == 0;
		if (conf == NULL || !ok) {
			snprintf(why, sizeof(why), "%s = %s as uid %u: %s%s",
			    cases[i].key, cases[i].value, (unsigned)geteuid(),
			    conf == NULL ? "refused; " : "", all_msgs(&msgs));
			config_free(conf);
			config_msgs_free(&msgs);
			return why;
		}
		config_free(conf);
		config_msgs_free(&msgs);
	}
	return NULL;
}

/* Not root, user = and group = are warned about only when they would
   fail the workers (as root: checked as nobody, in a child). */
Test(config, user_and_group_not_root)
{
	char why[1024] = "";
	const char *res;
	ssize_t n;
	int fds[2], status;
	pid_t pid;

	if (geteuid() != 0) {
		res = ids_warnings_as_non_root();
		cr_assert_null(res, "%s", res);
		return;
	}
	cr_assert_eq(pipe(fds), 0);
	cr_assert_neq(pid = fork(), -1);
	if (pid == 0) {
		close(fds[0]);
		if (setgroups(0, NULL) == -1 || setresgid(65534, 65534, 65534) ||
		    setresuid(65534, 65534, 65534) == -1)
			res = "cannot become uid 65534";
		else
			res = ids_warnings_as_non_root();
		if (res != NULL && write(fds[1], res, strlen(res)) < 0)
			_exit(2);
		_exit(res != NULL);
	}
	close(fds[1]);
	n = read(fds[0], why, sizeof(why) - 1);
	close(fds[0]);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%.*s",
	    n > 0 ? (int)n : 0, why);
}

/* ---- warnings -------------------------------------------------------- */

Test(config, unused_listener_is_a_warning)
{
	static const char *const want[] = {
		":3: warning: listener spare is not used by any program",
		":5: warning: listener other is not used by any program",
	};
	struct config_msgs msgs;
	struct config *conf;
	char path[64];

	conf = load_text(
	    "[listener web]\nlisten = 127.0.0.1:8080\n"
	    "[listener spare]\nlisten = 127.0.0.1:8081\n"
	    "[listener other]\nlisten = unix:@handoff-test-spare\n"
	    "[program p]\ncommand = /bin/true\nlisteners = web\n",
	    &msgs, path, sizeof(path));
	cr_assert_not_null(conf, "a warning must not refuse the config:\n%s",
	    all_msgs(&msgs));
	assert_msgs(&msgs, path, want, NITEMS(want));
	cr_assert_eq(msgs.nwarnings, 2);
	cr_assert_eq(msgs.nerrors, 0);
	cr_assert_not(msgs.is_error[0]);
	cr_assert_not(msgs.is_error[1]);
	config_free(conf);
	config_msgs_free(&msgs);
}

/* ---- invalid configs: the exact messages ----------------------------- */

#define MAXMSGS 10

/*
 * One invalid config. Criterion copies parameters into each test's
 * process, where pointers into this binary need not be valid: text lives in
 * arrays. Each message is what follows the file name: ":LINE: message", or
 * ": message" for one about the whole file. Messages end at the first "".
 */
struct bad_config {
	char	name[48];
	char	text[640];
	char	msgs[MAXMSGS][200];
};

#define PROG	"[program p]\ncommand = /bin/true\n"	/* two lines */

ParameterizedTestParameters(config, invalid)
{
	static struct bad_config cases[] = {
	/* ---- structure ---- */
	{ "unknown section",
	  "[server]\nname = x\n" PROG,
	  { ":1: unknown section [server] (expected [supervisor], "
	    "[listener NAME] or [program NAME])" } },
	{ "unknown section with a name",
	  PROG "[listner web]\nlisten = 127.0.0.1:80\n",
	  { ":3: unknown section [listner web] (expected [supervisor], "
	    "[listener NAME] or [program NAME])" } },
	{ "empty section name",
	  "[]\n" PROG,
	  { ":1: empty section name []" } },
	{ "listener without a name",
	  "[listener]\nlisten = 127.0.0.1:80\n" PROG,
	  { ":1: [listener] needs a name: [listener NAME]" } },
	{ "program without a name",
	  "[program]\ncommand = /bin/true\n" PROG,
	  { ":1: [program] needs a name: [program NAME]" } },
	{ "supervisor with a name",
	  "[supervisor main]\nname = x\n" PROG,
	  { ":1: [supervisor] takes no name" } },
	{ "name with two words",
	  PROG "[listener a b]\nlisten = 127.0.0.1:80\n",
	  { ":3: bad listener name 'a b' (use 1 to 64 of A-Z a-z 0-9 _ . -)" } },
	{ "name with a slash",
	  PROG "[program a/b]\ncommand = /bin/true\n",
	  { ":3: bad program name 'a/b' (use 1 to 64 of A-Z a-z 0-9 _ . -)" } },
	{ "bad name after leading blanks in the header",
	  PROG "[ listener a/b ]\nlisten = 127.0.0.1:80\n",
	  { ":3: bad listener name 'a/b ' (use 1 to 64 of A-Z a-z 0-9 _ . -)" } },
	{ "name too long",
	  PROG "[listener aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa]\n"
	  "listen = 127.0.0.1:80\n",
	  { ":3: bad listener name 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa' "
	    "(use 1 to 64 of A-Z a-z 0-9 _ . -)" } },
	{ "unknown key in supervisor",
	  "[supervisor]\nnmae = shop\n" PROG,
	  { ":2: unknown key 'nmae' in [supervisor]" } },
	{ "unknown key in listener",
	  "[listener web]\nlisten = 127.0.0.1:80\nport = 80\n" PROG
	  "listeners = web\n",
	  { ":3: unknown key 'port' in [listener web]" } },
	{ "unknown key in program",
	  PROG "cmd = /bin/false\n",
	  { ":3: unknown key 'cmd' in [program p]" } },
	{ "keys are case-sensitive",
	  PROG "Workers = 2\n",
	  { ":3: unknown key 'Workers' in [program p]" } },
	{ "key outside any section",
	  "workers = 2\n" PROG,
	  { ":1: workers = ... is outside any section (add [supervisor], "
	    "[listener NAME] or [program NAME] above it)" } },
	{ "duplicate key",
	  PROG "workers = 2\nworkers = 3\n",
	  { ":4: workers is set twice in [program p] (first at line 3)" } },
	{ "duplicate key in listener",
	  "[listener web]\nlisten = 127.0.0.1:80\nlisten = 127.0.0.1:81\n"
	  PROG "listeners = web\n",
	  { ":3: listen is set twice in [listener web] (first at line 2)" } },
	{ "duplicate key in supervisor",
	  "[supervisor]\nname = a\n\nname = b\n" PROG,
	  { ":4: name is set twice in [supervisor] (first at line 2)" } },
	{ "duplicate supervisor section",
	  "[supervisor]\nname = a\n[supervisor]\nname = b\n" PROG,
	  { ":3: duplicate section [supervisor] (first at line 1)" } },
	{ "duplicate listener section",
	  "[listener web]\nlisten = 127.0.0.1:80\n"
	  "[listener web]\nlisten = 127.0.0.1:81\n" PROG "listeners = web\n",
	  { ":3: duplicate section [listener web] (first at line 1)" } },
	{ "duplicate program section",
	  PROG PROG,
	  { ":3: duplicate section [program p] (first at line 1)" } },
	{ "a listener and a program may share a name",
	  "[listener p]\nlisten = 127.0.0.1:80\n" PROG "listeners = p\n"
	  "workers = 0\n",
	  { ":6: workers = 0: bad number of workers (use 1 to 1024)" } },
	{ "line without =",
	  PROG "workers 4\n",
	  { ":3: expected KEY = VALUE or [SECTION], got 'workers 4'" } },
	{ "env cannot set a protocol variable",
	  PROG "env = LISTEN_FDS=7\nenv = HANDOFF_GENERATION=1\n",
	  { ":3: env = LISTEN_FDS=7: handoff sets this variable for its workers "
	    "(socket and readiness protocols); it cannot be set with env",
	    ":4: env = HANDOFF_GENERATION=1: handoff sets this variable for its "
	    "workers (socket and readiness protocols); it cannot be set with env" } },
	{ "key: value is not this file's syntax",
	  PROG "workers: 4\n",
	  { ":3: expected KEY = VALUE or [SECTION], got 'workers: 4'" } },
	{ "a colon before = is not a key",
	  PROG "env:X = 1\n",
	  { ":3: expected KEY = VALUE or [SECTION], got 'env:X = 1'" } },
	{ "long line without = is cut in the message",
	  PROG "this line has no equals sign and goes on for quite a while\n",
	  { ":3: expected KEY = VALUE or [SECTION], got 'this line has no "
	    "equals sign and goes on...'" } },
	{ "line with no key",
	  PROG "= 4\n",
	  { ":3: missing key before '='" } },
	{ "missing ]",
	  PROG "[listener web\nlisten = 127.0.0.1:80\n",
	  { ":3: missing ] in section header" } },
	{ "text after ]",
	  PROG "[listener web] x\nlisten = 127.0.0.1:80\n",
	  { ":3: unexpected text after ]" } },
	{ "no program",
	  "[supervisor]\nname = x\n",
	  { ": no [program NAME] section: nothing to run" } },
	{ "empty file",
	  "",
	  { ": no [program NAME] section: nothing to run" } },
	{ "only listeners",
	  "[listener web]\nlisten = 127.0.0.1:80\n",
	  { ": no [program NAME] section: nothing to run",
	    ":1: warning: listener web is not used by any program" } },
	{ "missing listen",
	  "[listener web]\nbacklog = 5\n" PROG "listeners = web\n",
	  { ":1: listener web: missing listen = ADDRESS" } },
	{ "missing command",
	  "[program p]\nworkers = 2\n",
	  { ":1: program p: missing command = PATH [ARGS...]" } },
	{ "empty command",
	  "[program p]\ncommand =\n",
	  { ":2: command = : empty command" } },
	{ "command of an empty word",
	  "[program p]\ncommand = ''\n",
	  { ":2: command = '': empty command" } },
	{ "command of an inline comment only",
	  "[program p]\ncommand = ; nothing\n",
	  { ":2: command = : empty command" } },
	{ "unterminated quote in command",
	  "[program p]\ncommand = /bin/echo 'hello\n",
	  { ":2: command = /bin/echo 'hello: unterminated ' in command" } },
	{ "unterminated double quote in command",
	  "[program p]\ncommand = /bin/echo \"hello\n",
	  { ":2: command = /bin/echo \"hello: unterminated \" in command" } },
	{ "lone backslash in command",
	  "[program p]\ncommand = /bin/echo \\\n",
	  { ":2: command = /bin/echo \\: command ends with a lone backslash" } },
	/* ---- values ---- */
	{ "duration without unit",
	  PROG "ready_timeout = 30\n",
	  { ":3: ready_timeout = 30: duration needs a unit (ms, s, m or h), "
	    "as in 30s" } },
	{ "bad duration unit",
	  PROG "drain_timeout = 5x\n",
	  { ":3: drain_timeout = 5x: bad duration unit (use ms, s, m or h)" } },
	{ "negative duration",
	  PROG "drain_timeout = -1s\n",
	  { ":3: drain_timeout = -1s: bad duration (write it as 500ms, 30s, "
	    "5m or 1h)" } },
	{ "duration too long",
	  PROG "drain_timeout = 169h\n",
	  { ":3: drain_timeout = 169h: duration too long (at most 168h)" } },
	{ "probation too long",
	  PROG "probation = 1h1s\n",
	  { ":3: probation = 1h1s: probation too long (at most 1h: the old "
	    "generation keeps serving, and reloads wait, until it is over)" } },
	{ "bad probation",
	  PROG "probation = soon\n",
	  { ":3: probation = soon: bad duration (write it as 500ms, 30s, "
	    "5m or 1h)" } },
	{ "probation twice",
	  PROG "probation = 1s\nprobation = 2s\n",
	  { ":4: probation is set twice in [program p] (first at line 3)" } },
	{ "zero ready_timeout",
	  PROG "ready_timeout = 0s\n",
	  { ":3: ready_timeout = 0s: ready_timeout must be more than 0" } },
	{ "bad ready delay",
	  PROG "ready = delay:soon\n",
	  { ":3: ready = delay:soon: bad duration (write it as 500ms, 30s, "
	    "5m or 1h)" } },
	{ "empty ready delay",
	  PROG "ready = delay:\n",
	  { ":3: ready = delay:: empty duration (write it as 500ms, 30s, "
	    "5m or 1h)" } },
	{ "bad ready mode",
	  PROG "ready = fd\n",
	  { ":3: ready = fd: bad ready mode (use notify, delay:500ms, "
	    "listening or log:REGEX)" } },
	{ "bad log pattern",
	  PROG "ready = log:a{2\n",
	  { ":3: ready = log:a{2: bad log pattern (a POSIX extended regular "
	    "expression): Unmatched \\{" } },
	{ "bad signal name",
	  PROG "stop_signal = FOO\n",
	  { ":3: stop_signal = FOO: unknown signal (use a name such as TERM, "
	    "INT, QUIT, USR1 or a number)" } },
	{ "bad signal number",
	  PROG "stop_signal = 0\n",
	  { ":3: stop_signal = 0: bad signal number" } },
	{ "signal number too big",
	  PROG "stop_signal = 99999\n",
	  { ":3: stop_signal = 99999: bad signal number" } },
	{ "bad boolean in listener",
	  "[listener web]\nlisten = 127.0.0.1:80\nreuseport = maybe\n" PROG
	  "listeners = web\n",
	  { ":3: reuseport = maybe: bad boolean (use yes or no)" } },
	{ "bad boolean in program",
	  PROG "preload = sometimes\n",
	  { ":3: preload = sometimes: bad boolean (use yes or no)" } },
	{ "no workers",
	  PROG "workers = 0\n",
	  { ":3: workers = 0: bad number of workers (use 1 to 1024)" } },
	{ "too many workers",
	  PROG "workers = 2000\n",
	  { ":3: workers = 2000: bad number of workers (use 1 to 1024)" } },
	{ "workers not a number",
	  PROG "workers = four\n",
	  { ":3: workers = four: bad number of workers (use 1 to 1024)" } },
	{ "zero backlog",
	  "[listener web]\nlisten = 127.0.0.1:80\nbacklog = 0\n" PROG
	  "listeners = web\n",
	  { ":3: backlog = 0: bad backlog (use 1 to 1048576)" } },
	{ "huge backlog",
	  "[listener web]\nlisten = 127.0.0.1:80\nbacklog = 1048577\n" PROG
	  "listeners = web\n",
	  { ":3: backlog = 1048577: bad backlog (use 1 to 1048576)" } },
	{ "mode not octal",
	  "[listener s]\nlisten = unix:/run/s.sock\nmode = 0800\n" PROG
	  "listeners = s\n",
	  { ":3: mode = 0800: bad mode (use octal, as in 0660)" } },
	{ "mode not octal either",
	  "[listener s]\nlisten = unix:/run/s.sock\nmode = 99999\n" PROG
	  "listeners = s\n",
	  { ":3: mode = 99999: bad mode (use octal, as in 0660)" } },
	{ "mode out of range",
	  "[listener s]\nlisten = unix:/run/s.sock\nmode = 17777\n" PROG
	  "listeners = s\n",
	  { ":3: mode = 17777: mode out of range (at most 07777)" } },
	{ "empty mode",
	  "[listener s]\nlisten = unix:/run/s.sock\nmode =\n" PROG
	  "listeners = s\n",
	  { ":3: mode = : bad mode (use octal, as in 0660)" } },
	{ "unknown user",
	  PROG "user = no-such-user-handoff\n",
	  { ":3: user = no-such-user-handoff: unknown user (no such entry in "
	    "the passwd database)" } },
	{ "unknown owner",
	  "[listener s]\nlisten = unix:/run/s.sock\nowner = no-such-user-handoff\n"
	  PROG "listeners = s\n",
	  { ":3: owner = no-such-user-handoff: unknown user (no such entry in "
	    "the passwd database)" } },
	{ "unknown group",
	  PROG "user = nobody\ngroup = no-such-group-handoff\n",
	  { ":4: group = no-such-group-handoff: unknown group (no such entry "
	    "in the group database)" } },
	{ "unknown listener group",
	  "[listener s]\nlisten = unix:/run/s.sock\ngroup = no-such-group-handoff\n"
	  PROG "listeners = s\n",
	  { ":3: group = no-such-group-handoff: unknown group (no such entry "
	    "in the group database)" } },
	{ "bad handoff mode",
	  PROG "handoff = fork\n",
	  { ":3: handoff = fork: bad handoff mode (use inherit, reuseport or "
	    "self)" } },
	{ "bad restart policy",
	  PROG "restart = sometimes\n",
	  { ":3: restart = sometimes: bad restart policy (use always, "
	    "on-failure or never)" } },
	{ "bad output",
	  PROG "output = syslog\n",
	  { ":3: output = syslog: bad output (use log or discard)" } },
	{ "empty output",
	  PROG "output =\n",
	  { ":3: output = : bad output (use log or discard)" } },
	{ "values are case-sensitive",
	  PROG "restart = Always\n",
	  { ":3: restart = Always: bad restart policy (use always, "
	    "on-failure or never)" } },
	{ "bad log level",
	  "[supervisor]\nlog_level = verbose\n" PROG,
	  { ":2: log_level = verbose: bad log level (use error, warn, info or "
	    "debug)" } },
	{ "bad supervisor name",
	  "[supervisor]\nname = my shop\n" PROG,
	  { ":2: name = my shop: bad name (use 1 to 64 of A-Z a-z 0-9 _ . -)" } },
	{ "relative control path",
	  "[supervisor]\ncontrol = run/x.sock\n" PROG,
	  { ":2: control = run/x.sock: path must be absolute" } },
	{ "control path too long (83 bytes)",
	  "[supervisor]\ncontrol = /run/handoff/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.sock\n" PROG,
	  { ":2: control = /run/handoff/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.sock: "
	    "control socket path too long (at most 82 bytes, so that the "
	    "notify socket beside it fits)" } },
	{ "relative pidfile",
	  "[supervisor]\npidfile = shop.pid\n" PROG,
	  { ":2: pidfile = shop.pid: path must be absolute" } },
	{ "relative directory",
	  PROG "directory = srv/shop\n",
	  { ":3: directory = srv/shop: path must be absolute" } },
	{ "env without =",
	  PROG "env = RUST_LOG\n",
	  { ":3: env = RUST_LOG: bad env (write NAME=VALUE)" } },
	{ "env without a name",
	  PROG "env = =x\n",
	  { ":3: env = =x: bad env (write NAME=VALUE)" } },
	{ "env name with a dash",
	  PROG "env = MY-VAR=1\n",
	  { ":3: env = MY-VAR=1: bad env name (use letters, digits and _)" } },
	{ "env name starting with a digit",
	  PROG "env = 1X=1\n",
	  { ":3: env = 1X=1: bad env name (must not start with a digit)" } },
	{ "bad fd_name",
	  "[listener web]\nlisten = 127.0.0.1:80\nfd_name = a:b\n" PROG
	  "listeners = web\n",
	  { ":3: fd_name = a:b: bad fd_name (printable characters, no ':' or "
	    "blanks)" } },
	{ "fd_name with a blank",
	  "[listener web]\nlisten = 127.0.0.1:80\nfd_name = a b\n" PROG
	  "listeners = web\n",
	  { ":3: fd_name = a b: bad fd_name (printable characters, no ':' or "
	    "blanks)" } },
	{ "interface name too long",
	  "[listener web]\nlisten = 127.0.0.1:80\ninterface = abcdefghijklmnop\n"
	  PROG "listeners = web\n",
	  { ":3: interface = abcdefghijklmnop: bad interface name (at most 15 "
	    "characters, no / or blanks)" } },
	{ "interface name with a tab",
	  "[listener web]\nlisten = 127.0.0.1:80\ninterface = e\tth0\n"
	  PROG "listeners = web\n",
	  { ":3: interface = e\tth0: bad interface name (at most 15 "
	    "characters, no / or blanks)" } },
	{ "listener named twice",
	  "[listener web]\nlisten = 127.0.0.1:80\n" PROG "listeners = web, web\n",
	  { ":5: listeners = web, web: listener web is named twice" } },
	/* ---- addresses ---- */
	{ "address without port",
	  "[listener web]\nlisten = 127.0.0.1\n" PROG "listeners = web\n",
	  { ":2: listen = 127.0.0.1: missing :PORT (write HOST:PORT, as in "
	    "127.0.0.1:8080)" } },
	{ "port too big",
	  "[listener web]\nlisten = 0.0.0.0:65536\n" PROG "listeners = web\n",
	  { ":2: listen = 0.0.0.0:65536: bad port (use 0 to 65535)" } },
	{ "bad IPv4 address",
	  "[listener web]\nlisten = 300.1.1.1:80\n" PROG "listeners = web\n",
	  { ":2: listen = 300.1.1.1:80: bad IPv4 address" } },
	{ "IPv6 without brackets",
	  "[listener web]\nlisten = ::1:80\n" PROG "listeners = web\n",
	  { ":2: listen = ::1:80: IPv6 addresses go in brackets, as in "
	    "[::1]:8080" } },
	{ "IPv6 missing ]",
	  "[listener web]\nlisten = [::1:80\n" PROG "listeners = web\n",
	  { ":2: listen = [::1:80: missing ] after IPv6 address (write "
	    "[::1]:8080)" } },
	{ "bad IPv6 address",
	  "[listener web]\nlisten = [::x]:80\n" PROG "listeners = web\n",
	  { ":2: listen = [::x]:80: bad IPv6 address" } },
	{ "UDP without port",
	  "[listener dns]\nlisten = udp:[::1]\n" PROG "listeners = dns\n",
	  { ":2: listen = udp:[::1]: missing :PORT after ] (write [::1]:8080)" } },
	{ "relative unix path",
	  "[listener s]\nlisten = unix:run/s.sock\n" PROG "listeners = s\n",
	  { ":2: listen = unix:run/s.sock: unix socket path must be absolute "
	    "(or @name for an abstract socket)" } },
	{ "unix path without unix:",
	  "[listener s]\nlisten = /run/s.sock\n" PROG "listeners = s\n",
	  { ":2: listen = /run/s.sock: unix socket paths need the unix: prefix, "
	    "as in unix:/run/app.sock" } },
	{ "unix path too long",
	  "[listener s]\nlisten = unix:/run/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.sock\n"
	  PROG "listeners = s\n",
	  { ":2: listen = unix:/run/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.sock: "
	    "unix socket path too long (at most 107 bytes)" } },
	{ "empty unixgram path",
	  "[listener s]\nlisten = unixgram:\n" PROG "listeners = s\n",
	  { ":2: listen = unixgram:: empty unix socket path" } },
	{ "empty address",
	  "[listener web]\nlisten =\n" PROG "listeners = web\n",
	  { ":2: listen = : empty address" } },
	{ "program names a missing listener",
	  "[listener web]\nlisten = 127.0.0.1:80\n" PROG "listeners = web, api\n",
	  { ":5: program p: unknown listener 'api' (no [listener api] "
	    "section)" } },
	{ "two listeners on one address",
	  "[listener a]\nlisten = 127.0.0.1:8080\n"
	  "[listener b]\nlisten = tcp:127.0.0.1:8080\n" PROG "listeners = a b\n",
	  { ":3: listener b: tcp:127.0.0.1:8080 conflicts with listener a "
	    "(127.0.0.1:8080, line 1); two listeners cannot share an address" } },
	{ "wildcard and loopback on one port",
	  "[listener a]\nlisten = 0.0.0.0:8080\n"
	  "[listener b]\nlisten = 127.0.0.1:8080\n" PROG "listeners = a b\n",
	  { ":3: listener b: 127.0.0.1:8080 conflicts with listener a "
	    "(0.0.0.0:8080, line 1); two listeners cannot share an address" } },
	{ "loopback then wildcard on one port",
	  "[listener a]\nlisten = 127.0.0.1:8080\n"
	  "[listener b]\nlisten = 0.0.0.0:8080\n" PROG "listeners = a b\n",
	  { ":3: listener b: 0.0.0.0:8080 conflicts with listener a "
	    "(127.0.0.1:8080, line 1); two listeners cannot share an address" } },
	{ "dual-stack wildcard and IPv4 wildcard",
	  "[listener a]\nlisten = [::]:8080\n"
	  "[listener b]\nlisten = 0.0.0.0:8080\n" PROG "listeners = a b\n",
	  { ":3: listener b: 0.0.0.0:8080 conflicts with listener a "
	    "([::]:8080, line 1); two listeners cannot share an address" } },
	{ "IPv6 wildcard and loopback",
	  "[listener a]\nlisten = [::1]:8080\n"
	  "[listener b]\nlisten = [::]:8080\nv6only = yes\n" PROG "listeners = a b\n",
	  { ":3: listener b: [::]:8080 conflicts with listener a "
	    "([::1]:8080, line 1); two listeners cannot share an address" } },
	{ "two UDP listeners on one port",
	  "[listener a]\nlisten = udp:0.0.0.0:53\n"
	  "[listener b]\nlisten = udp:127.0.0.1:53\n" PROG "listeners = a b\n",
	  { ":3: listener b: udp:127.0.0.1:53 conflicts with listener a "
	    "(udp:0.0.0.0:53, line 1); two listeners cannot share an address" } },
	{ "one reuseport listener is not enough",
	  "[listener a]\nlisten = 127.0.0.1:8080\nreuseport = yes\n"
	  "[listener b]\nlisten = 127.0.0.1:8080\n" PROG "listeners = a b\n",
	  { ":4: listener b: 127.0.0.1:8080 conflicts with listener a "
	    "(127.0.0.1:8080, line 1); two listeners cannot share an address" } },
	{ "two listeners on one unix path",
	  "[listener a]\nlisten = unix:/run/s.sock\n"
	  "[listener b]\nlisten = unix:/run/s.sock\n" PROG "listeners = a b\n",
	  { ":3: listener b: unix:/run/s.sock conflicts with listener a "
	    "(unix:/run/s.sock, line 1); two listeners cannot share an address" } },
	{ "stream and datagram on one unix path",
	  "[listener a]\nlisten = unix:/run/s.sock\n"
	  "[listener b]\nlisten = unixgram:/run/s.sock\n" PROG "listeners = a b\n",
	  { ":3: listener b: unixgram:/run/s.sock conflicts with listener a "
	    "(unix:/run/s.sock, line 1); two listeners cannot share an address" } },
	{ "two listeners on one abstract name",
	  "[listener a]\nlisten = unix:@s\n"
	  "[listener b]\nlisten = unix:@s\n" PROG "listeners = a b\n",
	  { ":3: listener b: unix:@s conflicts with listener a "
	    "(unix:@s, line 1); two listeners cannot share an address" } },
	{ "three listeners on one address",
	  "[listener a]\nlisten = 127.0.0.1:80\n"
	  "[listener b]\nlisten = 127.0.0.1:80\n"
	  "[listener c]\nlisten = 127.0.0.1:80\n" PROG "listeners = a b c\n",
	  { ":3: listener b: 127.0.0.1:80 conflicts with listener a "
	    "(127.0.0.1:80, line 1); two listeners cannot share an address",
	    ":5: listener c: 127.0.0.1:80 conflicts with listener a "
	    "(127.0.0.1:80, line 1); two listeners cannot share an address" } },
	/* ---- options that do not fit the address ---- */
	{ "unix-only options on TCP",
	  "[listener web]\nlisten = 127.0.0.1:80\nmode = 0660\nowner = nobody\n"
	  "group = nogroup\n" PROG "listeners = web\n",
	  { ":3: listener web: mode applies only to unix socket files, not to "
	    "127.0.0.1:80",
	    ":4: listener web: owner applies only to unix socket files, not to "
	    "127.0.0.1:80",
	    ":5: listener web: group applies only to unix socket files, not to "
	    "127.0.0.1:80" } },
	{ "unix-only options on an abstract socket",
	  "[listener s]\nlisten = unix:@s\nmode = 0660\n" PROG "listeners = s\n",
	  { ":3: listener s: mode applies only to unix socket files, not to "
	    "unix:@s" } },
	{ "TCP-only options on UDP",
	  "[listener dns]\nlisten = udp:0.0.0.0:53\ndefer_accept = yes\n"
	  "nodelay = yes\nbacklog = 10\n" PROG "listeners = dns\n",
	  { ":3: listener dns: defer_accept does not apply to udp listeners",
	    ":4: listener dns: nodelay does not apply to udp listeners",
	    ":5: listener dns: backlog does not apply to udp listeners" } },
	{ "TCP-only options on unix sockets",
	  "[listener s]\nlisten = unix:/run/s.sock\nnodelay = yes\nbacklog = 10\n"
	  "[listener g]\nlisten = unixgram:/run/g.sock\nbacklog = 10\n"
	  PROG "listeners = s g\n",
	  { ":3: listener s: nodelay does not apply to unix listeners",
	    ":7: listener g: backlog does not apply to unixgram listeners" } },
	{ "IP-only options on unix sockets",
	  "[listener s]\nlisten = unix:/run/s.sock\nfreebind = yes\n"
	  "interface = lo\nreuseport = yes\n" PROG "listeners = s\n",
	  { ":3: listener s: freebind does not apply to unix sockets",
	    ":4: listener s: interface does not apply to unix sockets",
	    ":5: listener s: reuseport does not apply to unix sockets" } },
	{ "v6only on IPv4",
	  "[listener web]\nlisten = 0.0.0.0:80\nv6only = yes\n" PROG
	  "listeners = web\n",
	  { ":3: listener web: v6only applies only to IPv6 addresses" } },
	{ "ready = listening without handoff = self",
	  PROG "ready = listening\n",
	  { ":3: program p: ready = listening needs handoff = self (the program "
	    "binds its own socket) or preload = yes (the bind() shim says when "
	    "it listens)" } },
	{ "ready = log with its output thrown away",
	  PROG "ready = log:listening\noutput = discard\n",
	  { ":3: program p: ready = log needs the workers' output, and output = "
	    "discard throws it away (use output = log)" } },
	{ "a reuseport listener shared with another program",
	  "[listener w]\nlisten = 127.0.0.1:8080\n" PROG "handoff = reuseport\n"
	  "listeners = w\n[program q]\ncommand = /bin/q\nlisteners = w\n",
	  { ":1: listener w is used by 2 programs, and program p runs it in "
	    "reuseport mode: its sockets, one per worker, serve that program "
	    "alone (give each program a listener of its own)" } },
	{ "self listener shared with another mode",
	  "[listener web]\nlisten = 127.0.0.1:80\n" PROG "listeners = web\n"
	  "handoff = self\n[program q]\ncommand = /bin/true\nlisteners = web\n",
	  { ":9: program q: listener web is bound by program p itself (handoff = "
	    "self): the supervisor has no socket of it for program q (handoff = "
	    "inherit)" } },
	{ "self handoff with a unix listener",
	  "[listener s]\nlisten = unix:/run/s.sock\n" PROG "handoff = self\n"
	  "listeners = s\n",
	  { ":6: program p: handoff = self needs TCP or UDP listeners, and s is a "
	    "unix socket (SO_REUSEPORT does not share one; use handoff = inherit "
	    "for it)" } },
	{ "self handoff on a port the kernel picks",
	  "[listener web]\nlisten = 127.0.0.1:0\n" PROG "handoff = self\n"
	  "listeners = web\n",
	  { ":6: program p: handoff = self needs a fixed port on listener web "
	    "(the program binds it itself, and handoff looks for it there)" } },
	{ "ready = listening with no address",
	  PROG "handoff = self\nready = listening\n",
	  { ":1: program p: ready = listening needs listeners = (the addresses "
	    "its workers listen on)" } },
	/* ---- several errors: all of them, in line order ---- */
	{ "several errors in line order",
	  "[supervisor]\n"			/* 1 */
	  "log_level = loud\n"			/* 2 */
	  "[listener a]\n"			/* 3 */
	  "listen = 127.0.0.1:80\n"		/* 4 */
	  "[listener b]\n"			/* 5 */
	  "listen = 127.0.0.1:80\n"		/* 6 */
	  "[listener c]\n"			/* 7 */
	  "[program p]\n"			/* 8 */
	  "command = /bin/true\n"		/* 9 */
	  "listeners = a, b, c, d\n"		/* 10 */
	  "workers = 0\n"			/* 11 */
	  "bogus = 1\n"				/* 12 */
	  "[program q]\n"			/* 13 */
	  "ready = listening\n"			/* 14 */
	  "[listener unused]\n"			/* 15 */
	  "listen = 127.0.0.1:81\n",		/* 16 */
	  { ":2: log_level = loud: bad log level (use error, warn, info or debug)",
	    ":5: listener b: 127.0.0.1:80 conflicts with listener a "
	    "(127.0.0.1:80, line 3); two listeners cannot share an address",
	    ":7: listener c: missing listen = ADDRESS",
	    ":10: program p: unknown listener 'd' (no [listener d] section)",
	    ":11: workers = 0: bad number of workers (use 1 to 1024)",
	    ":12: unknown key 'bogus' in [program p]",
	    ":13: program q: missing command = PATH [ARGS...]",
	    ":14: program q: ready = listening needs handoff = self (the program "
	    "binds its own socket) or preload = yes (the bind() shim says when "
	    "it listens)",
	    ":15: warning: listener unused is not used by any program" } },
	{ "errors and a warning together",
	  "[listener spare]\nlisten = 127.0.0.1:80\n" PROG "workers = 0\n",
	  { ":1: warning: listener spare is not used by any program",
	    ":5: workers = 0: bad number of workers (use 1 to 1024)" } },
	{ "keys of a bad section are not checked",
	  "[listener a b]\nlisten = nonsense\nbogus = 1\n" PROG,
	  { ":1: bad listener name 'a b' (use 1 to 64 of A-Z a-z 0-9 _ . -)" } },
	{ "keys after a header missing ] are not checked",
	  PROG "[listener web\nlisten = nonsense\nbogus = 1\n[program q]\n"
	  "workers = 0\n",
	  { ":3: missing ] in section header",
	    ":6: program q: missing command = PATH [ARGS...]",
	    ":7: workers = 0: bad number of workers (use 1 to 1024)" } },
	{ "keys of a duplicate section are not checked",
	  PROG "[program p]\nbogus = 1\nworkers = 0\n",
	  { ":3: duplicate section [program p] (first at line 1)" } },
	};

	return cr_make_param_array(struct bad_config, cases, NITEMS(cases));
}

ParameterizedTest(struct bad_config *c, config, invalid)
{
	const char *want[MAXMSGS];
	struct config_msgs msgs;
	struct config *conf;
	size_t n;
	char path[64];

	for (n = 0; n < MAXMSGS && c->msgs[n][0] != '\0'; n++)
		want[n] = c->msgs[n];
	conf = load_text(c->text, &msgs, path, sizeof(path));
	if (n == 0) {
		/* A case that must load after all. */
		cr_assert_not_null(conf, "%s: refused:\n%s", c->name,
		    all_msgs(&msgs));
		config_free(conf);
		config_msgs_free(&msgs);
		return;
	}
	cr_assert_null(conf, "%s: config accepted; messages:\n%s", c->name,
	    all_msgs(&msgs));
	cr_assert_gt(msgs.nerrors, 0, "%s", c->name);
	assert_msgs(&msgs, path, want, n);
	config_msgs_free(&msgs);
}

/* ---- files and lines ------------------------------------------------- */

Test(config, nonexistent_file)
{
	struct config_msgs msgs;
	struct config *conf;
	const char *path = "/tmp/handoff-test-config-does-not-exist.ini";

	unlink(path);
	config_msgs_init(&msgs);
	conf = config_load(path, &msgs);
	cr_assert_null(conf);
	cr_assert_eq(msgs.count, 1);
	cr_assert_eq(msgs.nerrors, 1);
	cr_assert_str_eq(msgs.lines[0], "/tmp/handoff-test-config-does-not-exist.ini: "
	    "cannot open: No such file or directory");
	config_msgs_free(&msgs);
}

/* A file that opens but cannot be read says so, not "cannot open". */
Test(config, a_file_that_cannot_be_read)
{
	struct config_msgs msgs;

	/* A regular file of /proc whose read at offset 0 fails (EIO). */
	config_msgs_init(&msgs);
	cr_assert_null(config_load("/proc/self/mem", &msgs));
	cr_assert_eq(msgs.count, 1, "%s", all_msgs(&msgs));
	cr_assert_str_eq(msgs.lines[0], "/proc/self/mem: cannot read: "
	    "Input/output error");
	config_msgs_free(&msgs);
}

Test(config, directory_is_not_a_config)
{
	struct config_msgs msgs;
	struct config *conf;

	config_msgs_init(&msgs);
	conf = config_load("/tmp", &msgs);
	cr_assert_null(conf);
	cr_assert_geq(msgs.nerrors, 1, "%s", all_msgs(&msgs));
	cr_assert_eq(strncmp(msgs.lines[0], "/tmp: ", 6), 0, "%s",
	    all_msgs(&msgs));
	config_msgs_free(&msgs);
}

/* Build a KEY = VALUE line of exactly len characters (without newline). */
static void
long_line(char *buf, size_t size, const char *prefix, size_t len)
{
	size_t plen = strlen(prefix);

	cr_assert_lt(len, size);
	cr_assert_leq(plen, len);
	memcpy(buf, prefix, plen);
	memset(buf + plen, 'x', len - plen);
	buf[len] = '\0';
}

/*
 * Load text, whose line lineno is 300 characters long: the config is
 * refused with that one error and nothing else.
 */
static void
assert_only_too_long(const char *text, int lineno)
{
	char path[64], want[128];
	struct config_msgs msgs;

	cr_assert_null(load_text(text, &msgs, path, sizeof(path)));
	cr_assert_eq(msgs.count, 1, "want one message, got:\n%s",
	    all_msgs(&msgs));
	snprintf(want, sizeof(want), "%s:%d: line too long (300 characters, "
	    "at most 198)", path, lineno);
	cr_assert_str_eq(msgs.lines[0], want);
	config_msgs_free(&msgs);
}

Test(config, line_too_long)
{
	char line[400], text[1024];

	/* A 300-character command: one error, at its line, nothing else. */
	long_line(line, sizeof(line), "command = /bin/echo ", 300);
	snprintf(text, sizeof(text),
	    "[listener web]\n"
	    "listen = 127.0.0.1:8080\n"
	    "[program p]\n"
	    "%s\n"
	    "listeners = web\n"
	    "workers = 2\n", line);
	assert_only_too_long(text, 4);

	/* A long listen line: the listener is not also "missing listen". */
	long_line(line, sizeof(line), "listen = unix:/", 300);
	snprintf(text, sizeof(text),
	    "[program p]\n"
	    "command = /bin/true\n"
	    "listeners = web\n"
	    "[listener web]\n"
	    "  %s\n"
	    "backlog = 5\n", line);
	assert_only_too_long(text, 5);

	/*
	 * A long listeners line: its listeners are not also each "not used
	 * by any program", which nobody can tell now.
	 */
	long_line(line, sizeof(line), "listeners = a b ", 300);
	snprintf(text, sizeof(text),
	    "[listener a]\nlisten = 127.0.0.1:0\n"
	    "[listener b]\nlisten = 127.0.0.1:0\n"
	    "[program p]\ncommand = /bin/true\n%s\n", line);
	assert_only_too_long(text, 7);
}

Test(config, line_length_limit_is_exact)
{
	char line[400], text[1024], path[64], want[128];
	struct config_msgs msgs;
	struct config *conf;

	/* 198 characters are read whole: the value arrives intact. */
	long_line(line, sizeof(line), "env = X=", 198);
	snprintf(text, sizeof(text), "[program p]\ncommand = /bin/true\n%s\n",
	    line);
	conf = load_text(text, &msgs, path, sizeof(path));
	cr_assert_not_null(conf, "%s", all_msgs(&msgs));
	cr_assert_eq(strlen(TAILQ_FIRST(&conf->programs)->env[0]), 198 - 6);
	config_free(conf);
	config_msgs_free(&msgs);

	/* 199 are refused rather than cut. */
	long_line(line, sizeof(line), "env = X=", 199);
	snprintf(text, sizeof(text), "[program p]\ncommand = /bin/true\n%s\n",
	    line);
	conf = load_text(text, &msgs, path, sizeof(path));
	cr_assert_null(conf);
	snprintf(want, sizeof(want), "%s:3: line too long (199 characters, "
	    "at most 198)", path);
	cr_assert_eq(msgs.count, 1, "%s", all_msgs(&msgs));
	cr_assert_str_eq(msgs.lines[0], want);
	config_msgs_free(&msgs);
}

Test(config, nul_byte_in_a_line)
{
	static const char text[] = "[program p]\ncommand = /bin/true\n"
	    "workers = 2\0junk\nworkers = 0\n";
	static const char *const want[] = {
		":3: line contains a NUL byte",
		":4: workers = 0: bad number of workers (use 1 to 1024)",
	};
	struct config_msgs msgs;
	struct config *conf;
	char path[64];

	conf = load_bytes(text, sizeof(text) - 1, &msgs, path, sizeof(path));
	cr_assert_null(conf);
	assert_msgs(&msgs, path, want, NITEMS(want));
	config_msgs_free(&msgs);
}

/*
 * inih skips any white space before a line's first character, a form
 * feed or a vertical tab too: so does the reader, and such a line reads
 * as it would without it, wherever it is.
 */
Test(config, a_line_starting_with_a_form_feed_reads_as_without_it)
{
	struct config_msgs msgs;
	struct config *conf;
	struct program_conf *pc;

	conf = load_ok(
	    "[listener web]\n"
	    "listen = 127.0.0.1:8080\n"
	    "\f\n"
	    "\f[program app]\n"
	    "\fcommand = /bin/sh -c 'a; b'\n"
	    "\v listeners = web\n", &msgs);
	cr_assert_not_null(pc = config_find_program(conf, "app"));
	cr_assert_str_eq(pc->command, "/bin/sh -c 'a; b'");
	cr_assert_eq(pc->nlisteners, 1);
	config_free(conf);
	config_msgs_free(&msgs);
}

Test(config, messages_print_one_per_line)
{
	struct config_msgs msgs;
	struct config *conf;
	char path[64], *buf = NULL, want[512];
	size_t len = 0;
	FILE *fp;

	conf = load_text("[listener spare]\nlisten = 127.0.0.1:1\n" PROG
	    "workers = 0\n", &msgs, path, sizeof(path));
	cr_assert_null(conf);
	fp = open_memstream(&buf, &len);
	cr_assert_not_null(fp);
	config_msgs_print(&msgs, fp);
	fclose(fp);
	snprintf(want, sizeof(want),
	    "%s:1: warning: listener spare is not used by any program\n"
	    "%s:5: workers = 0: bad number of workers (use 1 to 1024)\n",
	    path, path);
	cr_assert_str_eq(buf, want);
	free(buf);
	config_msgs_free(&msgs);
	cr_assert_eq(msgs.count, 0);
	cr_assert_null(msgs.lines);
}

Test(config, enum_names)
{
	cr_assert_str_eq(handoff_mode_name(HANDOFF_INHERIT), "inherit");
	cr_assert_str_eq(handoff_mode_name(HANDOFF_REUSEPORT), "reuseport");
	cr_assert_str_eq(handoff_mode_name(HANDOFF_SELF), "self");
	cr_assert_str_eq(ready_mode_name(READY_NOTIFY), "notify");
	cr_assert_str_eq(ready_mode_name(READY_DELAY), "delay");
	cr_assert_str_eq(ready_mode_name(READY_LISTENING), "listening");
	cr_assert_str_eq(restart_policy_name(RESTART_ALWAYS), "always");
	cr_assert_str_eq(restart_policy_name(RESTART_ON_FAILURE), "on-failure");
	cr_assert_str_eq(restart_policy_name(RESTART_NEVER), "never");
}

Test(config, default_path)
{
	cr_assert_str_eq(config_default_path(), SYSCONFDIR "/handoff/handoff.ini");
}

/*
 * A file is read whole whatever stat says of its size: a procfs file says
 * 0 and has lines (each an error here, the last far down the file).
 */
Test(config, file_whose_size_stat_does_not_tell_is_read_whole)
{
	struct config_msgs msgs;
	struct config *conf;
	const char *last;

	config_msgs_init(&msgs);
	conf = config_load("/proc/self/status", &msgs);
	cr_assert_null(conf);
	cr_assert_gt(msgs.count, 20, "only:\n%s", all_msgs(&msgs));
	last = msgs.lines[msgs.count - 1];
	cr_expect_gt(strtol(last + strlen("/proc/self/status:"), NULL, 10), 20,
	    "last message: %s", last);
	config_msgs_free(&msgs);
}

/* A config file over CONFIG_MAX_BYTES is refused, naming the cap. */
Test(config, file_over_the_size_cap_is_refused)
{
	struct config_msgs msgs;
	struct config *conf;
	char path[64], *text;
	size_t len = CONFIG_MAX_BYTES + 1;

	text = malloc(len);
	cr_assert_not_null(text);
	/* One long comment line: its size alone is wrong. */
	memset(text, ';', len);
	conf = load_bytes(text, len, &msgs, path, sizeof(path));
	cr_expect_null(conf);
	cr_assert_eq(msgs.count, 1, "%s", all_msgs(&msgs));
	cr_expect(strstr(msgs.lines[0], "is too large (at most ") != NULL,
	    "%s", msgs.lines[0]);
	free(text);
	config_msgs_free(&msgs);
}

/*
 * A valid config may ask for what this version cannot run yet: `handoff
 * check`, the first start and a reload refuse it, naming the program.
 */
Test(config, reuseport_listeners_get_a_socket_per_worker)
{
	struct config_msgs msgs;
	struct config *conf;
	const struct listener_conf *web, *dns, *admin, *other;

	conf = load_ok(
	    "[listener web]\nlisten = 127.0.0.1:0\n"
	    "[listener dns]\nlisten = udp:127.0.0.1:0\n"
	    "[listener admin]\nlisten = unix:/run/admin.sock\n"
	    "[listener other]\nlisten = 127.0.0.1:0\n"
	    "[program a]\ncommand = /bin/true\nlisteners = web dns admin\n"
	    "workers = 6\nhandoff = reuseport\n"
	    "[program b]\ncommand = /bin/true\nlisteners = other admin\n"
	    "workers = 3\n", &msgs);
	web = config_find_listener(conf, "web");
	dns = config_find_listener(conf, "dns");
	admin = config_find_listener(conf, "admin");
	other = config_find_listener(conf, "other");
	cr_assert(web->opts.per_slot);
	cr_assert_eq(web->slots, 6);
	cr_assert(dns->opts.per_slot);
	cr_assert_eq(dns->slots, 6);
	cr_assert_str_eq(dns->slot_program, "a");
	/* A unix socket is shared, by programs of any mode. */
	cr_assert_not(admin->opts.per_slot);
	cr_assert_eq(admin->slots, 0);
	/* An inherit program's listener has one socket. */
	cr_assert_not(other->opts.per_slot);
	cr_assert_eq(other->slots, 0);
	config_msgs_free(&msgs);
	config_unref(conf);
}

Test(config, preload_takes_ready_listening)
{
	char path[64];
	struct config_msgs msgs;
	struct config *conf;
	struct program_conf *pc;

	/* The bind() shim says when a worker listens, in every mode. */
	conf = load_ok("[listener web]\nlisten = 127.0.0.1:8080\n"
	    "[program app]\ncommand = /bin/true\nlisteners = web\n"
	    "ready = listening\npreload = yes\n", &msgs);
	pc = config_find_program(conf, "app");
	cr_assert_not_null(pc);
	cr_expect(pc->preload);
	cr_expect_eq(pc->ready, READY_LISTENING);
	cr_expect_eq(pc->handoff, HANDOFF_INHERIT);
	config_free(conf);
	config_msgs_free(&msgs);

	/* But there must be an address to listen on. */
	cr_expect_null(load_text("[program app]\ncommand = /bin/true\n"
	    "preload = yes\nready = listening\n", &msgs, path, sizeof(path)));
	cr_assert_eq(msgs.count, 1);
	cr_expect(strstr(msgs.lines[0], ":1: program app: ready = listening "
	    "needs listeners = (the addresses its workers listen on)") != NULL,
	    "%s", msgs.lines[0]);
	config_msgs_free(&msgs);
}

/* ---- values on several lines, ';' in quotes, %-escapes --------------- */

/*
 * An indented line that is not KEY = VALUE continues the value above it,
 * after blank and comment lines too, each line's comment removed; an
 * indented KEY = VALUE line is a key as before.
 */
Test(config, a_command_continues_on_indented_lines)
{
	struct config_msgs msgs;
	struct config *conf;
	struct program_conf *pc;
	char *const want[] = { "/usr/bin/gunicorn", "--workers", "2",
	    "--bind=fd://3", "app:app", NULL };
	size_t i;

	conf = load_ok(
	    "[listener web]\n"
	    "listen = 127.0.0.1:8080\n"
	    "[program app]\n"
	    "command = /usr/bin/gunicorn\n"
	    "    --workers 2   ; comment\n"
	    "\n"
	    "    ; a comment line between\n"
	    "\t--bind=fd://3\n"
	    "  app:app\n"
	    "  listeners = web\n"
	    "workers = 3\n", &msgs);
	pc = config_find_program(conf, "app");
	cr_assert_str_eq(pc->command,
	    "/usr/bin/gunicorn --workers 2 --bind=fd://3 app:app");
	cr_assert_eq(argv_count(pc->argv), NITEMS(want) - 1);
	for (i = 0; want[i] != NULL; i++)
		cr_assert_str_eq(pc->argv[i], want[i]);
	cr_assert_eq(pc->nlisteners, 1);
	cr_assert_eq(pc->workers, 3);
	cr_assert_not(pc->expand);
	config_free(conf);
	config_msgs_free(&msgs);
}

/*
 * A command line ending in a backslash goes on as in a shell: the backslash
 * is dropped, not kept as an escaped blank before the next line's first
 * word. An escaped backslash, or one inside single quotes, stays.
 */
Test(config, a_backslash_ending_a_command_line_is_dropped)
{
	struct config_msgs msgs;
	struct config *conf;
	struct program_conf *pc;
	char *const want[] = { "/usr/bin/gunicorn", "--workers", "2",
	    "lit\\", "x \\ y", "app:app", NULL };
	size_t i;

	conf = load_ok(
	    "[program app]\n"
	    "command = /usr/bin/gunicorn \\\n"
	    "    --workers 2 \\ ; comment\n"
	    "    lit\\\\\n"
	    "    'x \\\n"
	    "    y' \\\n"
	    "    app:app\n", &msgs);
	pc = config_find_program(conf, "app");
	cr_assert_eq(argv_count(pc->argv), NITEMS(want) - 1, "%s", pc->command);
	for (i = 0; want[i] != NULL; i++)
		cr_assert_str_eq(pc->argv[i], want[i]);
	config_free(conf);
	config_msgs_free(&msgs);
}

/* A command on lines, none longer than inih's 198, may be longer itself. */
Test(config, a_command_on_lines_may_be_longer_than_a_line)
{
	char text[2048], part[160];
	struct config_msgs msgs;
	struct config *conf;
	struct program_conf *pc;

	memset(part, 'x', sizeof(part) - 1);
	part[sizeof(part) - 1] = '\0';
	snprintf(text, sizeof(text), "[program p]\ncommand = /bin/echo %s\n"
	    "  %s\n  %s\n", part, part, part);
	conf = load_ok(text, &msgs);
	pc = TAILQ_FIRST(&conf->programs);
	cr_assert_eq(argv_count(pc->argv), 4);
	cr_assert_eq(strlen(pc->command), strlen("/bin/echo ") + 3 * 159 + 2);
	config_free(conf);
	config_msgs_free(&msgs);
}

/* Lines that cannot continue a value, and a lost line of one. */
Test(config, continuation_errors_name_their_line)
{
	static const char *const want[] = {
		":2: expected KEY = VALUE or [SECTION], got '--no-key-above'",
		":5: line too long (250 characters, at most 197)",
	};
	char text[1024], path[64], line[300];
	struct config_msgs msgs;
	struct config *conf;

	memset(line, 'y', 250);
	line[250] = '\0';
	snprintf(text, sizeof(text),
	    "[program p]\n"
	    "  --no-key-above\n"
	    "command = /bin/true\n"
	    "  -a\n"
	    "  %s\n"
	    "  -b\n", line);
	conf = load_text(text, &msgs, path, sizeof(path));
	cr_assert_null(conf);
	assert_msgs(&msgs, path, want, NITEMS(want));
	config_msgs_free(&msgs);
}

/*
 * An error in a value over many lines ends with what is wrong, however
 * long the value: the message shows its start only.
 */
Test(config, an_error_in_a_long_value_still_says_what_is_wrong)
{
	char text[8192], path[64], *msg;
	struct config_msgs msgs;
	struct config *conf;
	size_t len, i;

	len = (size_t)snprintf(text, sizeof(text),
	    "[program p]\ncommand = /bin/echo 'open\n");
	for (i = 0; i < 40; i++)
		len += (size_t)snprintf(text + len, sizeof(text) - len,
		    "    word%02zu %0100d\n", i, 0);
	conf = load_text(text, &msgs, path, sizeof(path));
	cr_assert_null(conf);
	cr_assert_eq(msgs.count, 1, "%s", all_msgs(&msgs));
	msg = msgs.lines[0];
	cr_expect(strstr(msg, ":2: command = /bin/echo 'open word00 ") != NULL,
	    "%s", msg);
	len = strlen(msg);
	cr_expect(len > 30 && strcmp(msg + len - 30,
	    "...: unterminated ' in command") == 0, "%s", msg);
	cr_expect_lt(len, 300, "%s", msg);
	config_msgs_free(&msgs);
}

/* A ';' inside quotes is part of the command, not a comment. */
Test(config, a_semicolon_in_quotes_is_no_comment)
{
	struct config_msgs msgs;
	struct config *conf;
	struct program_conf *pc;

	conf = load_ok(
	    "[program app]\n"
	    "command = /bin/sh -c \"echo a ; echo b\" 'c ;d' e ; it's\n"
	    "    \"f ;\n"
	    "    g\" ; comment\n"
	    "env = X=1 ;comment\n", &msgs);
	pc = config_find_program(conf, "app");
	cr_assert_eq(argv_count(pc->argv), 6, "%s", pc->command);
	cr_assert_str_eq(pc->argv[2], "echo a ; echo b");
	cr_assert_str_eq(pc->argv[3], "c ;d");
	cr_assert_str_eq(pc->argv[4], "e");
	cr_assert_str_eq(pc->argv[5], "f ; g");
	cr_assert_str_eq(pc->env[0], "X=1");
	config_free(conf);
	config_msgs_free(&msgs);
}

/*
 * Inside a quote left open in a command, an indented line is text of the
 * command whatever it starts with (';', '#', '[', or KEY = VALUE), as in
 * a shell; once the quote closes, such lines are comments, sections and
 * keys again.
 */
Test(config, a_line_inside_an_open_quote_is_text)
{
	struct config_msgs msgs;
	struct config *conf;
	struct program_conf *pc;

	conf = load_ok(
	    "[program app]\n"
	    "command = /bin/sh -c 'echo a\n"
	    "    ; echo b\n"
	    "    # c\n"
	    "    [d]\n"
	    "    workers = 5' \"e\n"
	    "    ;f\" g\n"
	    "    ; a comment\n"
	    "    # another\n"
	    "workers = 2\n", &msgs);
	pc = config_find_program(conf, "app");
	cr_assert_eq(argv_count(pc->argv), 5, "%s", pc->command);
	cr_assert_str_eq(pc->argv[2], "echo a ; echo b # c [d] workers = 5");
	cr_assert_str_eq(pc->argv[3], "e ;f");
	cr_assert_str_eq(pc->argv[4], "g");
	cr_assert_eq(pc->workers, 2);
	config_free(conf);
	config_msgs_free(&msgs);
}

/*
 * inih skips every isspace() character before a line's first one and takes
 * a '#' after them for a comment: in an open quote such a line is text all
 * the same, its leading white space dropped as blanks are.
 */
Test(config, a_hash_after_a_form_feed_inside_an_open_quote_is_text)
{
	struct config_msgs msgs;
	struct config *conf;
	struct program_conf *pc;

	conf = load_ok(
	    "[program app]\n"
	    "command = /bin/sh -c 'echo a\n"
	    "    \f# b\n"
	    "    \v# c'\n", &msgs);
	pc = config_find_program(conf, "app");
	cr_assert_eq(argv_count(pc->argv), 3, "%s", pc->command);
	cr_assert_str_eq(pc->argv[2], "echo a # b # c");
	config_free(conf);
	config_msgs_free(&msgs);
}

/*
 * A ';' after any white space inih counts (a form feed too) starts the
 * comment: a quote in the comment opens none, so the next indented '#'
 * line is a comment, not text of the command.
 */
Test(config, a_quote_in_a_comment_after_a_form_feed_opens_none)
{
	struct config_msgs msgs;
	struct config *conf;
	struct program_conf *pc;

	conf = load_ok(
	    "[program app]\n"
	    "command = /bin/sh -c 'echo a' \f; it's\n"
	    "    # a comment\n"
	    "workers = 3\n", &msgs);
	pc = config_find_program(conf, "app");
	cr_assert_eq(argv_count(pc->argv), 3, "%s", pc->command);
	cr_assert_str_eq(pc->argv[2], "echo a");
	cr_assert_eq(pc->workers, 3);
	config_free(conf);
	config_msgs_free(&msgs);
}

/* The mark that stands for a '#' in an open quote is no text of a file's. */
Test(config, a_line_with_the_hash_mark_is_refused)
{
	static const char *const want[] = {
		":2: line contains the control character 0x1e",
	};
	struct config_msgs msgs;
	struct config *conf;
	char path[64];

	conf = load_text("[program app]\ncommand = /bin/echo \x1e\n", &msgs,
	    path, sizeof(path));
	cr_assert_null(conf);
	assert_msgs(&msgs, path, want, NITEMS(want));
	config_msgs_free(&msgs);
}

/* %p, %g, %w and %% in command, env and directory; others are errors. */
Test(config, percent_escapes)
{
	static const char *const want[] = {
		":3: command in [program app]: unknown %x (use %p, %g, %w, or "
		"%% for a percent sign)",
		":5: env in [program app]: a lone % at the end (write %% for a "
		"percent sign)",
		":6: directory in [program app]: unknown %d (use %p, %g, %w, "
		"or %% for a percent sign)",
	};
	struct config_msgs msgs;
	struct config *conf;
	struct program_conf *pc;
	char path[64];

	conf = load_ok(
	    "[program app]\n"
	    "command = /usr/sbin/nginx -g 'pid /run/%p.%g.%w.pid;'\n"
	    "env = NGINX=3;\n"
	    "env = RATE=100%%\n"
	    "directory = /srv/%p\n", &msgs);
	pc = config_find_program(conf, "app");
	cr_assert(pc->expand);
	cr_assert_str_eq(pc->argv[2], "pid /run/%p.%g.%w.pid;");
	cr_assert_str_eq(pc->env[1], "RATE=100%%");
	config_free(conf);
	config_msgs_free(&msgs);

	conf = load_text(
	    "[program app]\n"
	    "command = /bin/echo\n"
	    "   %g %x\n"
	    "listeners = \n"
	    "env = A=5%\n"
	    "directory = /srv/%d\n", &msgs, path, sizeof(path));
	cr_assert_null(conf);
	/* "listeners = " is an error of its own; only the escapes here. */
	cr_assert_geq(msgs.count, NITEMS(want), "%s", all_msgs(&msgs));
	cr_assert_str_eq(msgs.lines[0] + strlen(path), want[0], "%s",
	    all_msgs(&msgs));
	cr_assert_str_eq(msgs.lines[msgs.count - 2] + strlen(path), want[1],
	    "%s", all_msgs(&msgs));
	cr_assert_str_eq(msgs.lines[msgs.count - 1] + strlen(path), want[2],
	    "%s", all_msgs(&msgs));
	config_msgs_free(&msgs);
}

/* ---- config_reload: an unchanged file gives the config in force ------ */

/* Write text over the file at path. */
static void
rewrite_file(const char *path, const char *text)
{
	FILE *fp;

	cr_assert_not_null(fp = fopen(path, "w"), "%s: %s", path,
	    strerror(errno));
	cr_assert_geq(fputs(text, fp), 0);
	cr_assert_eq(fclose(fp), 0);
}

/* config_reload of path, running the config in force; messages in msgs. */
static struct config *
reload_of(const char *path, struct config *running, struct config_msgs *msgs)
{
	config_msgs_init(msgs);
	return config_reload(path, running, NULL, msgs);
}

/* Load text from a temp file kept for reloads; path receives its name. */
static struct config *
load_kept(const char *text, char *path, size_t pathlen)
{
	struct config_msgs msgs;
	struct config *conf;

	write_temp(text, strlen(text), path, pathlen);
	config_msgs_init(&msgs);
	conf = config_load(path, &msgs);
	cr_assert_not_null(conf, "config refused:\n%s", all_msgs(&msgs));
	config_msgs_free(&msgs);
	return conf;
}

static const char reload_text[] =
    "[listener web]\nlisten = 127.0.0.1:0\n"
    "[program app]\ncommand = /bin/true\nlisteners = web\n";

Test(config_reload, an_unchanged_file_gives_the_config_in_force_again)
{
	struct config_msgs msgs;
	struct config *c1, *c2, *c3;
	char path[64];

	c1 = load_kept(reload_text, path, sizeof(path));
	c2 = reload_of(path, c1, &msgs);
	cr_assert_eq(c2, c1, "an unchanged file was parsed again");
	cr_assert_eq(msgs.count, 0, "%s", all_msgs(&msgs));
	config_msgs_free(&msgs);
	config_unref(c2);

	/* One byte changed, the length the same: what the file says now. */
	rewrite_file(path, "[listener web]\nlisten = 127.0.0.1:0\n"
	    "[program apq]\ncommand = /bin/true\nlisteners = web\n");
	c2 = reload_of(path, c1, &msgs);
	cr_assert_not_null(c2, "%s", all_msgs(&msgs));
	cr_assert_neq(c2, c1);
	cr_assert_not_null(config_find_program(c2, "apq"));
	cr_assert_null(config_find_program(c2, "app"));
	config_msgs_free(&msgs);
	/* That config is in force now, and the same file gives it again. */
	c3 = reload_of(path, c2, &msgs);
	cr_assert_eq(c3, c2);
	config_msgs_free(&msgs);
	config_unref(c3);

	/* An error in the file is said, whatever was in force. */
	rewrite_file(path, "[program apq]\ncommand = /bin/true\nworkers = 0\n");
	cr_assert_null(reload_of(path, c2, &msgs));
	cr_assert_eq(msgs.nerrors, 1, "%s", all_msgs(&msgs));
	config_msgs_free(&msgs);
	unlink(path);
	config_unref(c2);
	config_unref(c1);
}

Test(config_reload, a_config_that_warned_is_read_again_and_warns_again)
{
	struct config_msgs msgs;
	struct config *c1, *c2;
	char path[64];

	write_temp(reload_text, strlen(reload_text), path, sizeof(path));
	rewrite_file(path, "[listener web]\nlisten = 127.0.0.1:0\n"
	    "[listener spare]\nlisten = 127.0.0.1:0\n"
	    "[program app]\ncommand = /bin/true\nlisteners = web\n");
	config_msgs_init(&msgs);
	cr_assert_not_null(c1 = config_load(path, &msgs));
	cr_assert_eq(msgs.nwarnings, 1, "%s", all_msgs(&msgs));
	config_msgs_free(&msgs);
	c2 = reload_of(path, c1, &msgs);
	cr_assert_not_null(c2);
	cr_assert_neq(c2, c1);
	cr_assert_eq(msgs.nwarnings, 1, "the warning was not said again:\n%s",
	    all_msgs(&msgs));
	config_msgs_free(&msgs);
	unlink(path);
	config_unref(c2);
	config_unref(c1);
}

Test(config_reload, a_host_name_is_looked_up_at_each_reload)
{
	struct config_msgs msgs;
	struct config *c1, *c2;
	char path[64];

	c1 = load_kept("[listener web]\nlisten = localhost:0\n"
	    "[program app]\ncommand = /bin/true\nlisteners = web\n", path,
	    sizeof(path));
	c2 = reload_of(path, c1, &msgs);
	cr_assert_not_null(c2, "%s", all_msgs(&msgs));
	cr_assert_neq(c2, c1);
	config_msgs_free(&msgs);
	unlink(path);
	config_unref(c2);
	config_unref(c1);
}

/*
 * The users and groups a config names are looked up again: while they
 * are what they were, the config is kept; one that the system now says
 * is another uid or gid (played here by changing what the config
 * remembers) makes a fresh parse, which takes the system's answer.
 */
Test(config_reload, users_and_groups_are_looked_up_at_each_reload)
{
	struct config_msgs msgs;
	struct config *c1, *c2;
	struct program_conf *pc;
	struct listener_conf *lc;
	char path[64];
	uid_t uid;
	gid_t user_gid, gid;
	size_t i, users = 0, groups = 0;
	int round;

	lookup_test_ids(&uid, &user_gid, &gid);
	for (round = 0; round < 2; round++) {
		c1 = load_kept(
		    "[listener web]\nlisten = unix:/tmp/handoff-test-web.sock\n"
		    "owner = nobody\ngroup = nogroup\n"
		    "[program app]\ncommand = /bin/true\nlisteners = web\n"
		    "user = nobody\ngroup = nogroup\n", path, sizeof(path));
		c2 = reload_of(path, c1, &msgs);
		cr_assert_eq(c2, c1, "a config naming users was parsed again");
		config_msgs_free(&msgs);
		config_unref(c2);
		for (i = 0; i < c1->nlookups; i++) {
			if (c1->lookups[i].group != (round == 1))
				continue;
			if (c1->lookups[i].group) {
				groups++;
				c1->lookups[i].gid = gid + 1;
			} else {
				users++;
				c1->lookups[i].uid = uid + 1;
			}
		}
		c2 = reload_of(path, c1, &msgs);
		cr_assert_not_null(c2, "%s", all_msgs(&msgs));
		cr_assert_neq(c2, c1, "round %d: a changed %s was not looked "
		    "up again", round, round == 0 ? "user" : "group");
		cr_assert_not_null(pc = config_find_program(c2, "app"));
		cr_assert_eq(pc->uid, uid);
		cr_assert_eq(pc->gid, gid);
		cr_assert_not_null(lc = config_find_listener(c2, "web"));
		cr_assert_eq(lc->opts.owner, uid);
		cr_assert_eq(lc->opts.group, gid);
		config_msgs_free(&msgs);
		unlink(path);
		config_unref(c2);
		config_unref(c1);
	}
	/*
	 * nobody and nogroup, each named twice (the listener's owner and
	 * group, the program's user and group), were each looked up once.
	 */
	cr_assert_eq(users, 1);
	cr_assert_eq(groups, 1);
}

Test(config_reload, a_config_of_another_file_or_of_no_file_is_not_taken)
{
	struct config_msgs msgs;
	struct config *c1, *c2, *c3;
	char path[64], other[80];

	c1 = load_kept(reload_text, path, sizeof(path));
	/* The same file by another path (as given at start, then absolute). */
	snprintf(other, sizeof(other), "/tmp/./%s", path + 5);
	c2 = reload_of(other, c1, &msgs);
	cr_assert_eq(c2, c1, "%s is %s", other, path);
	config_msgs_free(&msgs);
	config_unref(c2);
	write_temp(reload_text, strlen(reload_text), other, sizeof(other));
	/* The same text in another file: messages must name that one. */
	c2 = reload_of(other, c1, &msgs);
	cr_assert_not_null(c2);
	cr_assert_neq(c2, c1);
	cr_assert_str_eq(c2->path, other);
	config_msgs_free(&msgs);
	/* A config made in memory (a merge, the command line) has no file. */
	cr_assert_not_null(c3 = config_new(path));
	config_unref(c2);
	c2 = reload_of(path, c3, &msgs);
	cr_assert_not_null(c2);
	cr_assert_neq(c2, c3);
	config_msgs_free(&msgs);
	unlink(path);
	unlink(other);
	config_unref(c3);
	config_unref(c2);
	config_unref(c1);
}

/*
 * A config file that a user other than the one reading it (or root) can
 * write is warned of, at each reload, since whoever writes it chooses
 * the commands run: writable by anyone, owned by another user, writable
 * by another group. A mode changed under the same text is seen too.
 */
Test(config_reload, a_file_others_can_write_is_warned_of_at_each_reload)
{
	struct config_msgs msgs;
	struct config *c1, *c2;
	char path[64], want[256];
	uid_t uid;
	gid_t user_gid, gid;

	lookup_test_ids(&uid, &user_gid, &gid);
	c1 = load_kept(reload_text, path, sizeof(path));
	cr_assert_eq(chmod(path, 0666), 0);
	c2 = reload_of(path, c1, &msgs);
	cr_assert_not_null(c2, "%s", all_msgs(&msgs));
	cr_assert_neq(c2, c1, "a mode made unsafe was not looked at");
	snprintf(want, sizeof(want), "%s: warning: any user can write this "
	    "file (mode 0666): whoever writes it chooses the commands the "
	    "supervisor runs (chmod o-w)", path);
	cr_assert_eq(msgs.count, 1, "%s", all_msgs(&msgs));
	cr_assert_str_eq(msgs.lines[0], want);
	config_msgs_free(&msgs);
	/* Said again at the next reload, the config not taken again. */
	config_unref(c1);
	c1 = c2;
	c2 = reload_of(path, c1, &msgs);
	cr_assert_neq(c2, c1);
	cr_assert_eq(msgs.nwarnings, 1, "%s", all_msgs(&msgs));
	config_msgs_free(&msgs);
	config_unref(c2);

	cr_assert_eq(chmod(path, 0664), 0);
	if (geteuid() == 0) {
		cr_assert_eq(chown(path, 0, gid), 0);
		c2 = reload_of(path, c1, &msgs);
		snprintf(want, sizeof(want), "%s: warning: group %u can write "
		    "this file (mode 0664), not only its owner: whoever writes "
		    "it chooses the commands the supervisor runs (chmod g-w)",
		    path, (unsigned int)gid);
		cr_assert_eq(msgs.count, 1, "%s", all_msgs(&msgs));
		cr_assert_str_eq(msgs.lines[0], want);
		config_msgs_free(&msgs);
		config_unref(c2);
		cr_assert_eq(chmod(path, 0644), 0);
		cr_assert_eq(chown(path, uid, gid), 0);
		c2 = reload_of(path, c1, &msgs);
		snprintf(want, sizeof(want), "%s: warning: this file is owned "
		    "by uid %u, neither root nor uid 0 reading it: whoever "
		    "writes it chooses the commands the supervisor runs (chown "
		    "it)", path, (unsigned int)uid);
		cr_assert_eq(msgs.count, 1, "%s", all_msgs(&msgs));
		cr_assert_str_eq(msgs.lines[0], want);
		config_msgs_free(&msgs);
		config_unref(c2);
		cr_assert_eq(chown(path, 0, 0), 0);
	} else
		cr_log_warn("not root: a file of another owner or group is "
		    "not tried");
	/* Safe again: nothing said, and the config kept after. */
	cr_assert_eq(chmod(path, 0644), 0);
	c2 = reload_of(path, c1, &msgs);
	cr_assert_eq(msgs.count, 0, "%s", all_msgs(&msgs));
	config_msgs_free(&msgs);
	config_unref(c1);
	c1 = reload_of(path, c2, &msgs);
	cr_assert_eq(c1, c2);
	config_msgs_free(&msgs);
	config_unref(c1);
	config_unref(c2);
	unlink(path);
}

/* ---- config_reload: unchanged listener sections are taken again ------ */

/*
 * Assert that each listener of got is what a fresh parse of the same file
 * (want) made of it: every field the parse and config_finish set.
 */
static void
assert_listeners_as_parsed(const struct config *got, const struct config *want)
{
	const struct listener_conf *a, *b;

	cr_assert_eq(got->nlisteners, want->nlisteners);
	for (a = TAILQ_FIRST(&got->listeners), b = TAILQ_FIRST(&want->listeners);
	    a != NULL && b != NULL; a = TAILQ_NEXT(a, entry),
	    b = TAILQ_NEXT(b, entry)) {
		cr_assert_str_eq(a->name, b->name);
		cr_assert_str_eq(a->fd_name, b->fd_name, "%s", a->name);
		cr_assert_eq(a->fd_name == a->name, b->fd_name == b->name);
		cr_assert_str_eq(a->listen, b->listen, "%s", a->name);
		cr_assert_eq(a->line, b->line, "%s: line %d, not %d", a->name,
		    a->line, b->line);
		cr_assert_eq(a->text_at, b->text_at, "%s", a->name);
		cr_assert_eq(a->text_len, b->text_len, "%s", a->name);
		cr_assert_eq(a->index, b->index, "%s", a->name);
		cr_assert_eq(a->has_listen, b->has_listen);
		cr_assert_eq(a->self, b->self, "%s", a->name);
		cr_assert(addr_equal(&a->addr, &b->addr), "%s", a->name);
		cr_assert_eq(a->opts.backlog, b->opts.backlog, "%s", a->name);
		cr_assert_eq(a->opts.reuseport, b->opts.reuseport);
		cr_assert_eq(a->opts.v6only, b->opts.v6only);
		cr_assert_eq(a->opts.nodelay, b->opts.nodelay);
		cr_assert_str_eq(a->opts.interface, b->opts.interface);
		cr_assert_eq(a->opts.mode, b->opts.mode, "%s", a->name);
		cr_assert_eq(a->opts.owner, b->opts.owner, "%s", a->name);
		cr_assert_eq(a->opts.group, b->opts.group, "%s", a->name);
		cr_assert_eq(a->opts.per_slot, b->opts.per_slot, "%s", a->name);
		cr_assert_eq(a->users, b->users, "%s", a->name);
		cr_assert_eq(a->slots, b->slots, "%s", a->name);
	}
	cr_assert(a == NULL && b == NULL);
}

/* Load path afresh; the config must be good. */
static struct config *
load_fresh(const char *path)
{
	struct config_msgs msgs;
	struct config *conf;

	config_msgs_init(&msgs);
	conf = config_load(path, &msgs);
	cr_assert_not_null(conf, "%s", all_msgs(&msgs));
	config_msgs_free(&msgs);
	return conf;
}

/*
 * A reload takes the listener sections whose text did not change from the
 * config in force: the config it makes is the one a fresh parse of the
 * file makes, lines and places in the text moved by what changed above
 * them, a changed section as it reads now, and what depends on the
 * programs (a reuseport program's slots) as the programs say now.
 */
Test(config_reload, unchanged_listener_sections_are_taken_as_a_parse_makes_them)
{
	struct config_msgs msgs;
	struct config *c1, *c2, *fresh;
	struct listener_conf *lc;
	char path[64];

	c1 = load_kept(
	    "[listener a]\nlisten = 127.0.0.1:0\nbacklog = 7\nfd_name = first\n\n"
	    "[listener b]\nlisten = unix:/tmp/handoff-test-b.sock\nmode = 0600\n"
	    "[listener c]\n  listen = 127.0.0.1:0\n"
	    "[listener d]\nlisten = 127.0.0.1:0\nnodelay = yes\n"
	    "[program app]\ncommand = /bin/true\nlisteners = a b c\n"
	    "[program fast]\ncommand = /bin/true\nlisteners = d\n"
	    "handoff = reuseport\nworkers = 3\n", path, sizeof(path));
	cr_assert_not_null(lc = config_find_listener(c1, "d"));
	cr_assert(lc->opts.per_slot);
	cr_assert_eq(lc->slots, 3);

	rewrite_file(path, "# one more line above them all\n"
	    "[listener a]\nlisten = 127.0.0.1:0\nbacklog = 7\nfd_name = first\n\n"
	    "[listener b]\nlisten = unix:/tmp/handoff-test-b.sock\nmode = 0600\n"
	    "[listener c]\n  listen = 127.0.0.2:0\n"
	    "[listener d]\nlisten = 127.0.0.1:0\nnodelay = yes\n"
	    "[program app]\ncommand = /bin/true\nlisteners = a b c d\n"
	    "[program fast]\ncommand = /bin/true\nlisteners = d\n"
	    "handoff = inherit\nworkers = 3\n");
	c2 = reload_of(path, c1, &msgs);
	cr_assert_not_null(c2, "%s", all_msgs(&msgs));
	cr_assert_eq(msgs.count, 0, "%s", all_msgs(&msgs));
	config_msgs_free(&msgs);
	fresh = load_fresh(path);
	assert_listeners_as_parsed(c2, fresh);
	cr_assert_not_null(lc = config_find_listener(c2, "c"));
	cr_assert_str_eq(lc->listen, "127.0.0.2:0");
	cr_assert_not_null(lc = config_find_listener(c2, "d"));
	cr_assert_not(lc->opts.per_slot, "a slot of a program now inherit");
	cr_assert_eq(lc->users, 2);
	/* And the config taken again makes the next one as well. */
	rewrite_file(path,
	    "[listener a]\nlisten = 127.0.0.1:0\nbacklog = 7\nfd_name = first\n\n"
	    "[listener b]\nlisten = unix:/tmp/handoff-test-b.sock\nmode = 0600\n"
	    "[listener c]\n  listen = 127.0.0.2:0\n"
	    "[listener d]\nlisten = 127.0.0.1:0\nnodelay = yes\n"
	    "[program app]\ncommand = /bin/true\nlisteners = a b c\n"
	    "[program fast]\ncommand = /bin/true\nlisteners = d\n"
	    "handoff = reuseport\nworkers = 2\n");
	config_unref(c1);
	c1 = c2;
	config_unref(fresh);
	c2 = reload_of(path, c1, &msgs);
	cr_assert_not_null(c2, "%s", all_msgs(&msgs));
	config_msgs_free(&msgs);
	fresh = load_fresh(path);
	assert_listeners_as_parsed(c2, fresh);
	cr_assert_not_null(lc = config_find_listener(c2, "d"));
	cr_assert(lc->opts.per_slot);
	cr_assert_eq(lc->slots, 2);
	unlink(path);
	config_unref(fresh);
	config_unref(c2);
	config_unref(c1);
}

/*
 * A section whose old text is only the start of its new text is parsed:
 * keys added at its end (the last section of the file), text that joins
 * its last line (a file that ended without a newline), a section named
 * twice now.
 */
Test(config_reload, a_listener_section_that_grew_is_parsed_again)
{
	struct config_msgs msgs;
	struct config *c1, *c2;
	struct listener_conf *lc;
	char path[64];

	c1 = load_kept("[program app]\ncommand = /bin/true\nlisteners = a\n"
	    "[listener a]\nlisten = 127.0.0.1:0\n", path, sizeof(path));
	rewrite_file(path, "[program app]\ncommand = /bin/true\nlisteners = a\n"
	    "[listener a]\nlisten = 127.0.0.1:0\nbacklog = 9\n");
	c2 = reload_of(path, c1, &msgs);
	cr_assert_not_null(c2, "%s", all_msgs(&msgs));
	config_msgs_free(&msgs);
	cr_assert_not_null(lc = config_find_listener(c2, "a"));
	cr_assert_eq(lc->opts.backlog, 9);
	config_unref(c2);
	config_unref(c1);
	unlink(path);

	c1 = load_kept("[program app]\ncommand = /bin/true\nlisteners = a\n"
	    "[listener a]\nlisten = 127.0.0.1:0", path, sizeof(path));
	rewrite_file(path, "[program app]\ncommand = /bin/true\nlisteners = a\n"
	    "[listener a]\nlisten = 127.0.0.1:0[listener b]\n"
	    "listen = 127.0.0.1:0\n");
	cr_assert_null(c2 = reload_of(path, c1, &msgs));
	cr_assert(strstr(all_msgs(&msgs), "listen = 127.0.0.1:0[listener b]") !=
	    NULL, "%s", all_msgs(&msgs));
	config_msgs_free(&msgs);

	rewrite_file(path, "[program app]\ncommand = /bin/true\nlisteners = a\n"
	    "[listener a]\nlisten = 127.0.0.1:0\n[listener a]\n"
	    "listen = 127.0.0.1:0\n");
	cr_assert_null(c2 = reload_of(path, c1, &msgs));
	cr_assert(strstr(all_msgs(&msgs), ":6: duplicate section [listener a] "
	    "(first at line 4)") != NULL, "%s", all_msgs(&msgs));
	config_msgs_free(&msgs);
	unlink(path);
	config_unref(c1);
}

/* Write len bytes of text over the file at path. */
static void
rewrite_bytes(const char *path, const char *text, size_t len)
{
	FILE *fp;

	cr_assert_not_null(fp = fopen(path, "w"), "%s: %s", path,
	    strerror(errno));
	cr_assert_eq(fwrite(text, 1, len, fp), len);
	cr_assert_eq(fclose(fp), 0);
}

/*
 * Reload path (len bytes of text written over it) with running in force:
 * the config and the messages must be those of a fresh parse of it, and
 * the messages those expected (as assert_msgs takes them).
 */
static void
assert_reload_as_load(const char *path, struct config *running,
    const char *text, size_t len, const char *const *want, size_t nwant)
{
	struct config_msgs m1, m2;
	struct config *c1, *c2;
	size_t i;

	rewrite_bytes(path, text, len);
	c1 = reload_of(path, running, &m1);
	config_msgs_init(&m2);
	c2 = config_load(path, &m2);
	cr_assert_eq(m1.count, m2.count, "reload said:\n%s", all_msgs(&m1));
	for (i = 0; i < m1.count; i++)
		cr_assert_str_eq(m1.lines[i], m2.lines[i], "reload said:\n%s",
		    all_msgs(&m1));
	cr_assert_eq(c1 == NULL, c2 == NULL);
	if (c1 != NULL)
		assert_listeners_as_parsed(c1, c2);
	assert_msgs(&m1, path, want, nwant);
	config_msgs_free(&m1);
	config_msgs_free(&m2);
	config_unref(c1);
	config_unref(c2);
}

/*
 * A section taken again is followed by what a parse would read after it:
 * a line that starts with a form feed (white space to inih, whose state
 * a section taken again does not set) reads as it would after any
 * section, a '[' line with a NUL byte in it (lost) does not end the
 * section, whose keys go on, and a quote left open before the section
 * is closed by its header.
 */
Test(config_reload, what_follows_a_section_taken_again_reads_as_in_a_parse)
{
	static const char nul[] =
	    "[listener a]\nlisten = 127.0.0.1:0\n"
	    "[listener\0b]\nlisten = 127.0.0.2:0\n"
	    "[program p]\ncommand = /bin/true\nlisteners = a\n";
	static const char feed[] =
	    "[listener a]\nlisten = 127.0.0.1:0\n"
	    "[listener b]\n  listen = 127.0.0.1:0\n  backlog = 7\n"
	    "[program p]\n\fcommand = /bin/true\nlisteners = a, b\n";
	static const char moved[] =
	    "[program p]\ncommand = /bin/true\nlisteners = a\n"
	    "[listener a]\n\flisten = 127.0.0.1:0\n";
	static const char quoted[] =
	    "[program p]\ncommand = /bin/echo \"x\n"
	    "[listener a]\nlisten = 127.0.0.1:0\n"
	    "[program q]\nbad\0line\n  workers = 0\n";
	static const char *const quoted_says[] = {
		":2: command = /bin/echo \"x: unterminated \" in command",
		":6: line contains a NUL byte",
		":7: workers = 0: bad number of workers (use 1 to 1024)",
	};
	static const char *const nul_says[] = {
		":3: line contains a NUL byte",
		":4: listen is set twice in [listener a] (first at line 2)",
	};
	struct config *c1;
	char path[64];

	c1 = load_kept("[listener a]\nlisten = 127.0.0.1:0\n"
	    "[listener b]\n  listen = 127.0.0.1:0\n  backlog = 7\n"
	    "[program p]\ncommand = /bin/true\nlisteners = a, b\n", path,
	    sizeof(path));
	assert_reload_as_load(path, c1, feed, strlen(feed), NULL, 0);
	assert_reload_as_load(path, c1, nul, sizeof(nul) - 1, nul_says,
	    NITEMS(nul_says));
	unlink(path);
	config_unref(c1);

	/*
	 * A quote a command left open before it: the header ended it, and
	 * an indented line after a line lost (before its text was read) in a
	 * later section is a key.
	 */
	c1 = load_kept("[program p]\ncommand = /bin/true\nlisteners = a\n"
	    "[listener a]\nlisten = 127.0.0.1:0\n", path, sizeof(path));
	assert_reload_as_load(path, c1, quoted, sizeof(quoted) - 1, quoted_says,
	    NITEMS(quoted_says));
	unlink(path);
	config_unref(c1);

	/* The form feed in the section taken again, after another section. */
	c1 = load_kept("[listener a]\n\flisten = 127.0.0.1:0\n"
	    "[program p]\ncommand = /bin/true\nlisteners = a\n", path,
	    sizeof(path));
	assert_reload_as_load(path, c1, moved, strlen(moved), NULL, 0);
	unlink(path);
	config_unref(c1);
}

/*
 * The users and groups of a section taken again are the new config's
 * too: a reload after it looks them up again, and takes that config
 * again only while they hold.
 */
Test(config_reload, a_section_taken_again_keeps_its_users_looked_up)
{
	struct config_msgs msgs;
	struct config *c1, *c2, *c3;
	struct listener_conf *lc;
	char path[64];
	uid_t uid;
	gid_t user_gid, gid;
	size_t i;

	lookup_test_ids(&uid, &user_gid, &gid);
	c1 = load_kept("[listener web]\nlisten = unix:/tmp/handoff-test-web.sock\n"
	    "owner = nobody\n"
	    "[program app]\ncommand = /bin/true\nlisteners = web\n", path,
	    sizeof(path));
	rewrite_file(path, "[listener web]\nlisten = unix:/tmp/handoff-test-web.sock\n"
	    "owner = nobody\n"
	    "[program app]\ncommand = /bin/false\nlisteners = web\n");
	c2 = reload_of(path, c1, &msgs);
	cr_assert_not_null(c2, "%s", all_msgs(&msgs));
	config_msgs_free(&msgs);
	cr_assert_not_null(lc = config_find_listener(c2, "web"));
	cr_assert_eq(lc->opts.owner, uid);
	cr_assert_eq(c2->nlookups, 1);
	cr_assert_str_eq(c2->lookups[0].name, "nobody");
	c3 = reload_of(path, c2, &msgs);
	cr_assert_eq(c3, c2);
	config_msgs_free(&msgs);
	config_unref(c3);
	/* The system says nobody is another uid now (played as above). */
	for (i = 0; i < c2->nlookups; i++)
		c2->lookups[i].uid = uid + 1;
	c3 = reload_of(path, c2, &msgs);
	cr_assert_not_null(c3, "%s", all_msgs(&msgs));
	cr_assert_neq(c3, c2, "a changed user was not looked up again");
	cr_assert_not_null(lc = config_find_listener(c3, "web"));
	cr_assert_eq(lc->opts.owner, uid);
	config_msgs_free(&msgs);
	unlink(path);
	config_unref(c3);
	config_unref(c2);
	config_unref(c1);
}

/*
 * A config read ahead (when the file was written) is taken by the reload
 * while the file holds its text; not once the text changed again, nor
 * one read from another file, nor one that warned (the reload says its
 * warnings); the config in force comes first.
 */
Test(config_reload, a_config_read_ahead_is_taken_while_the_file_holds_its_text)
{
	struct config_msgs msgs;
	struct config *c1, *ahead, *c2;
	char path[64], other[64];
	static const char changed[] =
	    "[listener web]\nlisten = 127.0.0.1:0\n"
	    "[program app]\ncommand = /bin/false\nlisteners = web\n";

	c1 = load_kept(reload_text, path, sizeof(path));
	rewrite_file(path, changed);
	ahead = reload_of(path, c1, &msgs);
	cr_assert_not_null(ahead, "%s", all_msgs(&msgs));
	config_msgs_free(&msgs);
	config_msgs_init(&msgs);
	c2 = config_reload(path, c1, ahead, &msgs);
	cr_assert_eq(c2, ahead);
	config_msgs_free(&msgs);
	config_unref(c2);

	/* The config in force again: that one, not the one read ahead. */
	rewrite_file(path, reload_text);
	config_msgs_init(&msgs);
	cr_assert_eq(c2 = config_reload(path, c1, ahead, &msgs), c1);
	config_msgs_free(&msgs);
	config_unref(c2);

	/* Changed again: parsed. */
	rewrite_file(path, "[listener web]\nlisten = 127.0.0.1:0\n"
	    "[program app]\ncommand = /bin/echo\nlisteners = web\n");
	config_msgs_init(&msgs);
	c2 = config_reload(path, c1, ahead, &msgs);
	cr_assert_not_null(c2, "%s", all_msgs(&msgs));
	cr_assert(c2 != ahead && c2 != c1);
	cr_assert_str_eq(config_find_program(c2, "app")->command, "/bin/echo");
	config_msgs_free(&msgs);
	config_unref(c2);

	/* The same text in another file. */
	write_temp(changed, strlen(changed), other, sizeof(other));
	config_msgs_init(&msgs);
	c2 = config_reload(other, NULL, ahead, &msgs);
	cr_assert_not_null(c2, "%s", all_msgs(&msgs));
	cr_assert_neq(c2, ahead);
	cr_assert_str_eq(c2->path, other);
	config_msgs_free(&msgs);
	config_unref(c2);
	unlink(other);
	config_unref(ahead);

	/* Read ahead with a warning: read again, to say it. */
	rewrite_file(path, "[listener web]\nlisten = 127.0.0.1:0\n"
	    "[listener spare]\nlisten = 127.0.0.1:0\n"
	    "[program app]\ncommand = /bin/true\nlisteners = web\n");
	ahead = reload_of(path, c1, &msgs);
	cr_assert_not_null(ahead);
	cr_assert_eq(msgs.nwarnings, 1, "%s", all_msgs(&msgs));
	config_msgs_free(&msgs);
	config_msgs_init(&msgs);
	c2 = config_reload(path, c1, ahead, &msgs);
	cr_assert_not_null(c2);
	cr_assert_neq(c2, ahead);
	cr_assert_eq(msgs.nwarnings, 1, "%s", all_msgs(&msgs));
	config_msgs_free(&msgs);
	config_unref(c2);
	config_unref(ahead);
	unlink(path);
	config_unref(c1);
}

/*
 * Two listeners of one program known by the same fd_name: the worker's
 * LISTEN_FDNAMES cannot tell them apart, which check says; the same
 * fd_name in two programs is no such problem.
 */
Test(config, two_listeners_of_a_program_with_one_fd_name_are_warned_of)
{
	struct config_msgs msgs;
	struct config *conf;
	char path[64];
	static const char *const expected[] = {
		":11: warning: program app: listeners a and c have the same "
		"fd_name 'web', so LISTEN_FDNAMES cannot tell them apart "
		"(give one another fd_name =)",
	};

	conf = load_text(
	    "[listener a]\nlisten = 127.0.0.1:0\nfd_name = web\n"
	    "[listener b]\nlisten = 127.0.0.1:0\n"
	    "[listener c]\nlisten = unix:/tmp/handoff-test-c.sock\n"
	    "fd_name = web\n"
	    "[program app]\ncommand = /bin/true\n"
	    "listeners = a b c\n"
	    "[program other]\ncommand = /bin/true\nlisteners = web\n"
	    "[listener web]\nlisten = 127.0.0.1:0\n",
	    &msgs, path, sizeof(path));
	cr_assert_not_null(conf, "%s", all_msgs(&msgs));
	assert_msgs(&msgs, path, expected, 1);
	config_msgs_free(&msgs);
	config_unref(conf);
}

/*
 * Of several pairs with one fd_name, the one said is the one whose first
 * listener comes first in listeners =, then its next namesake; a
 * listener's own name counts as its fd_name.
 */
Test(config, the_first_pair_with_one_fd_name_is_the_one_said)
{
	struct config_msgs msgs;
	struct config *conf;
	char path[64];
	static const char *const expected[] = {
		":9: warning: program app: listeners a and d have the same "
		"fd_name 'p', so LISTEN_FDNAMES cannot tell them apart "
		"(give one another fd_name =)",
	};

	conf = load_text(
	    "[listener a]\nlisten = 127.0.0.1:0\nfd_name = p\n"
	    "[listener b]\nlisten = 127.0.0.1:0\nfd_name = c\n"
	    "[program app]\ncommand = /bin/true\n"
	    "listeners = a b c d e\n"
	    "[listener c]\nlisten = 127.0.0.1:0\n"
	    "[listener d]\nlisten = 127.0.0.1:0\nfd_name = p\n"
	    "[listener e]\nlisten = 127.0.0.1:0\nfd_name = p\n",
	    &msgs, path, sizeof(path));
	cr_assert_not_null(conf, "%s", all_msgs(&msgs));
	assert_msgs(&msgs, path, expected, 1);
	config_msgs_free(&msgs);
	config_unref(conf);
}
