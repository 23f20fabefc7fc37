/*
 * test_sdsocket.c: sockets a service manager passes (LISTEN_FDS): fd store
 * names, which listener takes which socket (by name, by address, unix
 * paths and abstract names too, at its worker slot), one socket passed
 * twice, options that must match, and
 * what no listener takes. Adoption reads fds 3..: each case runs in a
 * child of its own, where those fds are the test's, and says by its exit
 * status which check failed.
 */
#include "autoconf.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "addr.h"
#include "config.h"
#include "log.h"
#include "outstore.h"
#include "sdsocket.h"
#include "support.h"
#include "unixaddr.h"

Test(sdsocket, store_names)
{
	static const struct {
		const char	*name;
		bool		 ok;
		const char	*listener;
		size_t		 slot;
	} cases[] = {
		{ "web#0", true, "web", 0 },
		{ "my-web.v2_x#17", true, "my-web.v2_x", 17 },
		{ "web", false, NULL, 0 },
		{ "#0", false, NULL, 0 },
		{ "web#", false, NULL, 0 },
		{ "web#x", false, NULL, 0 },
		{ "web#1x", false, NULL, 0 },
		{ "w b#1", false, NULL, 0 },
		{ "a@b#1", false, NULL, 0 },
		{ "handoff@shop.socket", false, NULL, 0 },
	};
	char listener[SDSOCKET_NAME_MAX], buf[SDSOCKET_NAME_MAX];
	size_t i, slot;
	bool ok;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		ok = sdsocket_parse_store_name(cases[i].name, listener,
		    sizeof(listener), &slot);
		cr_expect_eq(ok, cases[i].ok, "%s", cases[i].name);
		if (!ok || !cases[i].ok)
			continue;
		cr_expect_str_eq(listener, cases[i].listener);
		cr_expect_eq(slot, cases[i].slot, "%s", cases[i].name);
		cr_assert_eq(sdsocket_store_name(listener, slot, buf,
		    sizeof(buf)), 0);
		cr_expect_str_eq(buf, cases[i].name);
	}
	cr_expect_eq(sdsocket_store_name("web", 1, buf, 5), -1);
	cr_expect_str_eq(sdsocket_origin_name(SDSOCKET_BOUND), "bound");
	cr_expect_str_eq(sdsocket_origin_name(SDSOCKET_PASSED), "passed");
	cr_expect_str_eq(sdsocket_origin_name(SDSOCKET_STORED), "stored");
}

/* A listening TCP socket on 127.0.0.1, any port; *port gets it. */
static int
tcp_socket(int *port, bool reuseport)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), one = 1;

	if (reuseport)
		setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd == -1 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(fd, 8) == -1 || getsockname(fd, (struct sockaddr *)&sin,
	    &len) == -1)
		_exit(90);
	*port = ntohs(sin.sin_port);
	return fd;
}

/* A listener_conf named name on listen (an address as the config has it). */
static struct listener_conf *
conf_listener_at(struct config *conf, const char *name, const char *listen)
{
	struct listener_conf *lc = config_add_listener(conf, name, 1);
	const char *why;

	if (lc == NULL || addr_parse(listen, &lc->addr, &why) == -1)
		_exit(91);
	lc->has_listen = true;
	lc->fd_name = strdup(name);
	return lc;
}

/* A listener_conf named name on 127.0.0.1:port. */
static struct listener_conf *
conf_listener(struct config *conf, const char *name, int port)
{
	char text[64];

	snprintf(text, sizeof(text), "127.0.0.1:%d", port);
	return conf_listener_at(conf, name, text);
}

/* Put fds at 3, 4, ... and set LISTEN_* as a manager does (in a child). */
static void
pass(const int *fds, int n, const char *names)
{
	char text[32];
	int i, high[8];

	for (i = 0; i < n; i++)
		if ((high[i] = fcntl(fds[i], F_DUPFD, 100)) == -1)
			_exit(92);
	for (i = 0; i < n; i++)
		if (dup2(high[i], 3 + i) == -1)
			_exit(93);
	snprintf(text, sizeof(text), "%d", n);
	setenv("LISTEN_FDS", text, 1);
	snprintf(text, sizeof(text), "%d", (int)getpid());
	setenv("LISTEN_PID", text, 1);
	setenv("LISTEN_FDNAMES", names, 1);
	unsetenv("NOTIFY_SOCKET");
}

/* The inode of an fd. */
static ino_t
inode(int fd)
{
	struct stat sb;

	return fstat(fd, &sb) == 0 ? sb.st_ino : 0;
}

/* Run check in a child; its exit status must be 0. */
static void
in_child(int (*check)(void), const char *what)
{
	int status;
	pid_t pid;

	fflush(NULL);
	if ((pid = fork()) == 0)
		_exit(check());
	cr_assert(pid > 0);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "%s: check %d failed", what, WIFEXITED(status) ?
	    WEXITSTATUS(status) : -WTERMSIG(status));
}

/*
 * web's socket passed as "web" and again as "web#0" (stored), api's
 * slot 1 stored as "api#1": who takes what.
 */
static int
check_take(void)
{
	struct config *conf = config_new("test.ini");
	struct listener_conf *web, *api, *other, *bad;
	enum sdsocket_origin origin;
	char *cause = NULL;
	int fds[3], port_a, port_b, fd, flags;
	ino_t a, b;

	log_set_level(LOG_LEVEL_ERROR);
	fds[0] = tcp_socket(&port_a, false);
	fds[1] = fds[0];
	fds[2] = tcp_socket(&port_b, true);
	a = inode(fds[0]);
	b = inode(fds[2]);
	pass(fds, 3, "web:web#0:api#1");
	if (sdsocket_adopt(&cause) != 0)
		return 1;
	if (getenv("LISTEN_FDS") != NULL || getenv("LISTEN_PID") != NULL ||
	    getenv("LISTEN_FDNAMES") != NULL)
		return 2;
	if (!(fcntl(3, F_GETFD) & FD_CLOEXEC))
		return 3;
	/* One socket passed twice: the copy at fd 4 is closed. */
	if (fcntl(4, F_GETFD) != -1)
		return 4;
	web = conf_listener(conf, "web", port_a);
	if (sdsocket_take(web, 0, &fd, &origin, &cause) != 1 ||
	    origin != SDSOCKET_PASSED || inode(fd) != a || fd == 3)
		return 5;
	flags = fcntl(fd, F_GETFL);
	if (!(flags & O_NONBLOCK) || !(fcntl(fd, F_GETFD) & FD_CLOEXEC))
		return 6;
	close(fd);
	/* A socket unit's socket may be taken again (a reload adds it back). */
	if (sdsocket_take(web, 0, &fd, &origin, &cause) != 1 || inode(fd) != a)
		return 7;
	close(fd);
	/* By address: another name, the same fixed address. */
	other = conf_listener(conf, "other", port_a);
	if (sdsocket_take(other, 0, &fd, &origin, &cause) != 1 ||
	    inode(fd) != a)
		return 8;
	close(fd);
	/* api (port 0 in the config) gets its slot 1, and only that. */
	api = conf_listener(conf, "api", 0);
	api->opts.per_slot = true;
	if (sdsocket_take(api, 0, &fd, &origin, &cause) != 0)
		return 9;
	if (sdsocket_take(api, 1, &fd, &origin, &cause) != 1 ||
	    origin != SDSOCKET_STORED || fd != 5 || inode(fd) != b)
		return 10;
	/* Handed over: not twice. */
	if (sdsocket_take(api, 1, &fd, &origin, &cause) != 0)
		return 11;
	/* Options a bound socket cannot change must match. */
	bad = conf_listener(conf, "web", port_a);
	bad->opts.reuseport = true;
	if (sdsocket_take(bad, 0, &fd, &origin, &cause) != -1 || cause == NULL ||
	    strstr(cause, "has SO_REUSEPORT off") == NULL)
		return 12;
	free(cause);
	cause = NULL;
	if (sdsocket_finish(&cause) != 0)
		return 13;
	sdsocket_free();
	config_free(conf);
	return 0;
}

/*
 * A socket passed without a name is taken by address, and the log line
 * that says so names it "(no name)", as the line that lists it does.
 */
static int
check_unnamed_in_the_log(void)
{
	char path[] = "/tmp/handoff-unit-sdsocket-XXXXXX", text[4096];
	struct config *conf = config_new("test.ini");
	enum sdsocket_origin origin;
	char *cause = NULL;
	int logfd, fds[1], port, fd;
	ssize_t n;

	if ((logfd = mkstemp(path)) == -1 || unlink(path) == -1 ||
	    dup2(logfd, STDERR_FILENO) == -1)
		return 1;
	log_init("t", LOG_LEVEL_INFO, LOG_TO_STDERR);
	fds[0] = tcp_socket(&port, false);
	pass(fds, 1, "");
	if (sdsocket_adopt(&cause) != 0 || sdsocket_take(conf_listener(conf,
	    "web", port), 0, &fd, &origin, &cause) != 1)
		return 2;
	if ((n = pread(logfd, text, sizeof(text) - 1, 0)) <= 0)
		return 3;
	text[n] = '\0';
	if (strstr(text, "listener web: takes 127.0.0.1:") == NULL)
		return 4;
	if (strstr(text, "passed by the service manager as (no name)\n") ==
	    NULL || strstr(text, " as \n") != NULL)
		return 5;
	close(fd);
	sdsocket_free();
	config_free(conf);
	return 0;
}

Test(sdsocket, a_socket_without_a_name_is_shown_as_such)
{
	in_child(check_unnamed_in_the_log, "unnamed");
}

Test(sdsocket, listeners_take_their_sockets)
{
	in_child(check_take, "taking passed sockets");
}

/* A listening unix stream socket at text, a path or "@name". */
static int
unix_socket(const char *text)
{
	struct sockaddr_un sun;
	socklen_t len;
	const char *why;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd == -1 || unixaddr_make(text, UNIXADDR_NAMED, &sun, &len,
	    &why) == -1 || bind(fd, (struct sockaddr *)&sun, len) == -1 ||
	    listen(fd, 8) == -1)
		_exit(94);
	return fd;
}

/* A listener_conf named name on unix:text. */
static struct listener_conf *
conf_unix_listener(struct config *conf, const char *name, const char *text)
{
	char listen[160];

	snprintf(listen, sizeof(listen), "unix:%s", text);
	return conf_listener_at(conf, name, listen);
}

/*
 * Unix sockets passed under names no listener has: each listener takes
 * the one at its path or abstract name, byte for byte, and no other.
 */
static int
check_unix_by_address(void)
{
	struct config *conf = config_new("test.ini");
	enum sdsocket_origin origin;
	char *dir = support_tmpdir(), path[128], other[128], name[64];
	char longer[80], samebytes[80], *cause = NULL;
	int fds[2], fd;
	ino_t p, a;

	log_set_level(LOG_LEVEL_ERROR);
	snprintf(path, sizeof(path), "%s/app.sock", dir);
	snprintf(other, sizeof(other), "%s/app.so", dir);
	snprintf(name, sizeof(name), "@handoff-test-sdsocket-%d",
	    (int)getpid());
	snprintf(longer, sizeof(longer), "%sx", name);
	snprintf(samebytes, sizeof(samebytes), "/%s", name + 1);
	fds[0] = unix_socket(path);
	fds[1] = unix_socket(name);
	p = inode(fds[0]);
	a = inode(fds[1]);
	pass(fds, 2, "one:two");
	if (sdsocket_adopt(&cause) != 0)
		return 1;
	/* Neither a path's prefix nor a longer abstract name. */
	if (sdsocket_take(conf_unix_listener(conf, "x", other), 0, &fd,
	    &origin, &cause) != 0)
		return 2;
	if (sdsocket_take(conf_unix_listener(conf, "y", longer), 0, &fd,
	    &origin, &cause) != 0)
		return 3;
	/* An abstract name is no path of the same bytes. */
	if (sdsocket_take(conf_unix_listener(conf, "z", samebytes), 0, &fd,
	    &origin, &cause) != 0)
		return 4;
	if (sdsocket_take(conf_unix_listener(conf, "web", path), 0, &fd,
	    &origin, &cause) != 1 || origin != SDSOCKET_PASSED ||
	    inode(fd) != p)
		return 5;
	close(fd);
	if (sdsocket_take(conf_unix_listener(conf, "api", name), 0, &fd,
	    &origin, &cause) != 1 || inode(fd) != a)
		return 6;
	close(fd);
	if (sdsocket_finish(&cause) != 0)
		return 7;
	sdsocket_free();
	config_free(conf);
	support_rmtree(dir);
	free(dir);
	return 0;
}

Test(sdsocket, unix_sockets_are_taken_by_path_and_abstract_name)
{
	in_child(check_unix_by_address, "unix sockets by address");
}

/*
 * One name on two sockets (a socket unit of two Listen lines and one
 * FileDescriptorName=): each listener of that fd_name takes the one on
 * its address, whichever comes first.
 */
static int
check_shared_name(void)
{
	struct config *conf = config_new("test.ini");
	struct listener_conf *first, *second;
	enum sdsocket_origin origin;
	char *cause = NULL;
	int fds[2], port_a, port_b, fd;
	ino_t a, b;

	log_set_level(LOG_LEVEL_ERROR);
	fds[0] = tcp_socket(&port_a, false);
	fds[1] = tcp_socket(&port_b, false);
	a = inode(fds[0]);
	b = inode(fds[1]);
	pass(fds, 2, "web:web");
	if (sdsocket_adopt(&cause) != 0)
		return 1;
	second = conf_listener(conf, "web", port_b);
	first = conf_listener(conf, "alt", port_a);
	free(first->fd_name);
	first->fd_name = strdup("web");
	if (sdsocket_take(second, 0, &fd, &origin, &cause) != 1 ||
	    inode(fd) != b)
		return 2;
	close(fd);
	if (sdsocket_take(first, 0, &fd, &origin, &cause) != 1 ||
	    inode(fd) != a)
		return 3;
	close(fd);
	if (sdsocket_finish(&cause) != 0)
		return 4;
	sdsocket_free();
	config_free(conf);
	return 0;
}

Test(sdsocket, one_name_on_two_sockets)
{
	in_child(check_shared_name, "one name on two sockets");
}

/* A socket unit's socket nobody takes fails the start; a stored one goes. */
static int
check_leftovers(void)
{
	struct config *conf = config_new("test.ini");
	enum sdsocket_origin origin;
	char *cause = NULL;
	int fds[2], port_a, port_b, fd;

	log_set_level(LOG_LEVEL_ERROR);
	fds[0] = tcp_socket(&port_a, false);
	fds[1] = tcp_socket(&port_b, false);
	pass(fds, 2, "gone#0:extra");
	if (sdsocket_adopt(&cause) != 0)
		return 1;
	if (sdsocket_take(conf_listener(conf, "web", 0), 0, &fd, &origin,
	    &cause) != 0)
		return 2;
	if (sdsocket_finish(&cause) != -1 || cause == NULL ||
	    strstr(cause, "as extra, and no listener of the config takes it")
	    == NULL)
		return 3;
	free(cause);
	/* The stored one is closed by a finish that passes. */
	sdsocket_free();
	config_free(conf);
	return 0;
}

Test(sdsocket, what_no_listener_takes)
{
	in_child(check_leftovers, "leftovers");
}

/* Not a socket: a start error naming the fd. */
static int
check_not_a_socket(void)
{
	char *cause = NULL;
	int fds[2];

	if (pipe(fds) == -1)
		return 90;
	pass(fds, 1, "web");
	if (sdsocket_adopt(&cause) != -1 || cause == NULL ||
	    strstr(cause, "fd 3 passed by the service manager as web is not "
	    "a socket") == NULL)
		return 1;
	free(cause);
	cause = NULL;
	sdsocket_free();
	/* Without a name, the message says so. */
	pass(fds, 1, "");
	if (sdsocket_adopt(&cause) != -1 || cause == NULL ||
	    strstr(cause, "fd 3 passed by the service manager as (no name) is "
	    "not a socket") == NULL)
		return 2;
	free(cause);
	sdsocket_free();
	return 0;
}

Test(sdsocket, a_passed_fd_that_is_no_socket_is_refused)
{
	in_child(check_not_a_socket, "not a socket");
}

/*
 * A worker's output pipe back from the fd store ("output.PID") is no
 * socket and no error: it waits for the orphan of that pid. A pipe under
 * any other name is still refused.
 */
static int
check_output_pipe(void)
{
	char *cause = NULL;
	int fds[2], sock[2], port, out;
	ino_t pipe_ino;

	log_set_level(LOG_LEVEL_ERROR);
	if (pipe(fds) == -1)
		return 90;
	pipe_ino = inode(fds[0]);
	sock[0] = fds[0];
	sock[1] = tcp_socket(&port, false);
	pass(sock, 2, "output.4121:web#0");
	if (sdsocket_adopt(&cause) != 0)
		return 1;
	if (outstore_pending() != 1 || (out = outstore_take(4121)) == -1 ||
	    inode(out) != pipe_ino)
		return 2;
	sdsocket_free();
	outstore_finish();
	return 0;
}

Test(sdsocket, an_output_pipe_from_the_store_waits_for_its_orphan)
{
	in_child(check_output_pipe, "an output pipe");
}

/* LISTEN_FDS that is not a plain count is refused, naming it. */
static int
check_bad_count(void)
{
	static const char *const bad[] = { "", " 1", "+1", "-1", "1x", "0x1" };
	char pid[32], *cause;
	size_t i;

	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cause = NULL;
		setenv("LISTEN_PID", pid, 1);
		setenv("LISTEN_FDS", bad[i], 1);
		if (sdsocket_adopt(&cause) != -1 || cause == NULL ||
		    strncmp(cause, "LISTEN_FDS=", 11) != 0 ||
		    strstr(cause, "not a number of sockets") == NULL)
			return 1 + (int)i;
		free(cause);
		sdsocket_free();
	}
	return 0;
}

Test(sdsocket, a_bad_count_is_refused)
{
	in_child(check_bad_count, "a bad LISTEN_FDS");
}

/* An empty name keeps its place: the second socket is web's. */
static int
check_empty_name(void)
{
	struct config *conf = config_new("test.ini");
	enum sdsocket_origin origin;
	char *cause = NULL;
	int fds[2], port_a, port_b, fd;
	ino_t b;

	log_set_level(LOG_LEVEL_ERROR);
	fds[0] = tcp_socket(&port_a, false);
	fds[1] = tcp_socket(&port_b, false);
	b = inode(fds[1]);
	pass(fds, 2, ":web");
	if (sdsocket_adopt(&cause) != 0)
		return 1;
	/* web listens on port 0 here: only the name can say which. */
	if (sdsocket_take(conf_listener(conf, "web", 0), 0, &fd, &origin,
	    &cause) != 1 || inode(fd) != b)
		return 2;
	sdsocket_free();
	config_free(conf);
	return 0;
}

Test(sdsocket, names_keep_their_places)
{
	in_child(check_empty_name, "an empty name");
}

/* LISTEN_PID of another process: nothing is taken, nothing unset. */
static int
check_other_pid(void)
{
	char *cause = NULL;

	setenv("LISTEN_FDS", "1", 1);
	setenv("LISTEN_PID", "1", 1);
	if (sdsocket_adopt(&cause) != 0 || getenv("LISTEN_FDS") == NULL)
		return 1;
	return 0;
}

Test(sdsocket, sockets_for_another_process_are_left_alone)
{
	in_child(check_other_pid, "another pid");
}
