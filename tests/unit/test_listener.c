/*
 * test_listener.c: binding listeners with every kind and option, stale and
 * live unix sockets, useful errors, and keeping sockets across reloads.
 */
#include "autoconf.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "addr.h"
#include "config.h"
#include "listener.h"
#include "log.h"

#ifndef IPV6_FREEBIND
#define IPV6_FREEBIND 78
#endif

/* A private temporary directory, removed by tmpdir_remove. */
static char tmpdir[64];

/* Create the test's temporary directory; keep the log quiet. */
static void
tmpdir_setup(void)
{
	log_set_level(LOG_LEVEL_WARN);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/handoff-listener-XXXXXX");
	cr_assert_not_null(mkdtemp(tmpdir), "mkdtemp: %s", strerror(errno));
}

/* Remove the temporary directory and whatever the test left in it. */
static void
tmpdir_remove(void)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *dir;

	if (tmpdir[0] == '\0' || (dir = opendir(tmpdir)) == NULL)
		return;
	while ((de = readdir(dir)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", tmpdir, de->d_name);
		if (unlink(path) == -1)
			rmdir(path);
	}
	closedir(dir);
	rmdir(tmpdir);
	tmpdir[0] = '\0';
}

TestSuite(listener, .init = tmpdir_setup, .fini = tmpdir_remove);

/* Skip the test on hosts without IPv6 loopback. */
static void
need_ipv6(void)
{
	struct sockaddr_in6 sin6;
	int fd, rc;

	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	sin6.sin6_addr = in6addr_loopback;
	if ((fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		cr_skip_test("no IPv6 here");
	rc = bind(fd, (struct sockaddr *)&sin6, sizeof(sin6));
	close(fd);
	if (rc == -1)
		cr_skip_test("no IPv6 loopback here");
}

/* A path inside the temporary directory, written into buf. */
static char *
tmppath(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", tmpdir, name);
	return buf;
}

/* Append a listener on ADDRESS to conf, with default options. */
static struct listener_conf *
add(struct config *conf, const char *name, const char *listen)
{
	struct listener_conf *lc;
	const char *cause;

	lc = config_add_listener(conf, name, (int)conf->nlisteners + 10);
	lc->listen = strdup(listen);
	lc->has_listen = true;
	cr_assert_eq(addr_parse(listen, &lc->addr, &cause), 0,
	    "addr_parse %s: %s", listen, cause);
	return lc;
}

/* Bind a listener that must bind. */
static struct listener *
bind_ok(const struct listener_conf *lc)
{
	struct listener *l = NULL;
	char *cause = NULL;

	if (listener_bind(lc, &l, &cause) != 0)
		cr_assert_fail("listener_bind %s: %s", lc->listen, cause);
	cr_assert_not_null(l);
	cr_assert_eq(l->refs, 1);
	return l;
}

/* Bind a listener that must fail; returns the cause, which the caller frees. */
static char *
bind_fails(const struct listener_conf *lc)
{
	struct listener *l = (struct listener *)1;
	char *cause = NULL;

	cr_assert_eq(listener_bind(lc, &l, &cause), -1,
	    "listener_bind %s should fail", lc->listen);
	cr_assert_null(l);
	cr_assert_not_null(cause);
	return cause;
}

/* getsockopt an int option. */
static int
sockopt(int fd, int level, int name)
{
	socklen_t len;
	int value = 0;

	len = sizeof(value);
	cr_assert_eq(getsockopt(fd, level, name, &value, &len), 0,
	    "getsockopt: %s", strerror(errno));
	return value;
}

/* The port a socket is bound to. */
static int
local_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	cr_assert_eq(getsockname(fd, (struct sockaddr *)&ss, &len), 0);
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

/* The inode of an open fd. */
static ino_t
fd_ino(int fd)
{
	struct stat sb;

	cr_assert_eq(fstat(fd, &sb), 0);
	return sb.st_ino;
}

/* How many fds this process has open. */
static int
count_fds(void)
{
	struct dirent *de;
	DIR *dir;
	int n = 0;

	cr_assert_not_null(dir = opendir("/proc/self/fd"));
	while ((de = readdir(dir)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(dir);
	return n - 1;	/* the directory's own fd */
}

/* Tell whether an fd number is open. */
static bool
fd_open(int fd)
{
	return fcntl(fd, F_GETFD) != -1;
}

/* Check what every listener gets: CLOEXEC, non-blocking, the right type. */
static void
check_common(const struct listener *l, int type)
{
	cr_assert(fcntl(listener_fd(l), F_GETFD) & FD_CLOEXEC, "not CLOEXEC");
	cr_assert(fcntl(listener_fd(l), F_GETFL) & O_NONBLOCK, "not O_NONBLOCK");
	cr_assert_eq(sockopt(listener_fd(l), SOL_SOCKET, SO_TYPE), type);
}

/* A socket of our own bound (and listening, for streams) on ADDRESS. */
static int
own_socket(const char *text)
{
	struct addr addr;
	const char *cause;
	int fd, type;

	cr_assert_eq(addr_parse(text, &addr, &cause), 0);
	type = addr_socktype(&addr);
	fd = socket(addr.ss.ss_family, type | SOCK_CLOEXEC, 0);
	cr_assert_neq(fd, -1);
	cr_assert_eq(bind(fd, (struct sockaddr *)&addr.ss, addr.len), 0,
	    "bind %s: %s", text, strerror(errno));
	if (type == SOCK_STREAM)
		cr_assert_eq(listen(fd, 8), 0);
	return fd;
}

/* The backlog of a listening TCP socket as ss shows it, -1 without ss. */
static int
ss_backlog(int port)
{
	char cmd[128], line[512], state[32];
	int recvq, sendq = -1;
	FILE *fp;

	if (system("command -v ss >/dev/null 2>&1") != 0)
		return -1;
	snprintf(cmd, sizeof(cmd), "ss -ltnH 'sport = :%d'", port);
	cr_assert_not_null(fp = popen(cmd, "r"));
	if (fgets(line, sizeof(line), fp) == NULL ||
	    sscanf(line, "%31s %d %d", state, &recvq, &sendq) != 3)
		cr_assert_fail("cannot read the backlog of port %d from ss", port);
	pclose(fp);
	return sendq;
}

/* ---- binding every kind ------------------------------------------------ */

Test(listener, tcp4_defaults)
{
	struct config *conf = config_new("test.ini");
	struct listener_conf *lc = add(conf, "web", "127.0.0.1:0");
	struct listener *l = bind_ok(lc);
	char want[64];
	int port;

	check_common(l, SOCK_STREAM);
	cr_assert_eq(sockopt(listener_fd(l), SOL_SOCKET, SO_REUSEADDR), 1);
	cr_assert_eq(sockopt(listener_fd(l), SOL_SOCKET, SO_REUSEPORT), 0);
	cr_assert_eq(sockopt(listener_fd(l), SOL_SOCKET, SO_ACCEPTCONN), 1);
	cr_assert_eq(sockopt(listener_fd(l), IPPROTO_TCP, TCP_NODELAY), 0);
	cr_assert_eq(sockopt(listener_fd(l), IPPROTO_TCP, TCP_DEFER_ACCEPT), 0);
	cr_assert_eq(sockopt(listener_fd(l), IPPROTO_IP, IP_FREEBIND), 0);
	port = local_port(listener_fd(l));
	cr_assert_gt(port, 0);
	snprintf(want, sizeof(want), "127.0.0.1:%d", port);
	cr_assert_str_eq(l->bound, want);
	cr_assert_str_eq(l->name, "web");
	cr_assert_str_eq(l->fd_name, "web");
	cr_assert(addr_equal(&l->addr, &lc->addr));
	listener_unref(l);
	config_free(conf);
}

Test(listener, tcp4_options)
{
	struct config *conf = config_new("test.ini");
	struct listener_conf *lc = add(conf, "web", "127.0.0.1:0");
	struct listener *l;
	int backlog;

	lc->opts.reuseport = true;
	lc->opts.nodelay = true;
	lc->opts.defer_accept = true;
	lc->opts.freebind = true;
	lc->opts.backlog = 77;
	lc->fd_name = strdup("http");
	l = bind_ok(lc);
	check_common(l, SOCK_STREAM);
	cr_assert_eq(sockopt(listener_fd(l), SOL_SOCKET, SO_REUSEPORT), 1);
	cr_assert_eq(sockopt(listener_fd(l), IPPROTO_TCP, TCP_NODELAY), 1);
	cr_assert_neq(sockopt(listener_fd(l), IPPROTO_TCP, TCP_DEFER_ACCEPT), 0);
	cr_assert_eq(sockopt(listener_fd(l), IPPROTO_IP, IP_FREEBIND), 1);
	cr_assert_str_eq(l->fd_name, "http");
	backlog = ss_backlog(local_port(listener_fd(l)));
	if (backlog != -1)
		cr_assert_eq(backlog, 77);
	listener_unref(l);
	config_free(conf);
}

Test(listener, tcp_nodelay_inherited_by_accepted)
{
	struct config *conf = config_new("test.ini");
	struct listener_conf *lc = add(conf, "web", "127.0.0.1:0");
	struct sockaddr_in sin;
	struct listener *l;
	struct pollfd pfd;
	int client, conn;

	lc->opts.nodelay = true;
	l = bind_ok(lc);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)local_port(listener_fd(l)));
	client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_eq(connect(client, (struct sockaddr *)&sin, sizeof(sin)), 0);
	pfd.fd = listener_fd(l);
	pfd.events = POLLIN;
	cr_assert_eq(poll(&pfd, 1, 10000), 1);
	conn = accept4(listener_fd(l), NULL, NULL, SOCK_CLOEXEC);
	cr_assert_neq(conn, -1, "accept: %s", strerror(errno));
	cr_assert_eq(sockopt(conn, IPPROTO_TCP, TCP_NODELAY), 1);
	close(conn);
	close(client);
	listener_unref(l);
	config_free(conf);
}

Test(listener, tcp6)
{
	struct config *conf;
	struct listener_conf *lc1, *lc2;
	struct listener *l1, *l2;
	char want[64];

	need_ipv6();
	conf = config_new("test.ini");
	lc1 = add(conf, "v6", "[::1]:0");
	lc2 = add(conf, "any6", "[::]:0");

	lc1->opts.v6only = 1;
	lc1->opts.freebind = true;
	lc2->opts.v6only = 0;
	l1 = bind_ok(lc1);
	l2 = bind_ok(lc2);
	check_common(l1, SOCK_STREAM);
	cr_assert_eq(sockopt(listener_fd(l1), IPPROTO_IPV6, IPV6_V6ONLY), 1);
	cr_assert_eq(sockopt(listener_fd(l1), IPPROTO_IPV6, IPV6_FREEBIND), 1);
	cr_assert_eq(sockopt(listener_fd(l2), IPPROTO_IPV6, IPV6_V6ONLY), 0);
	cr_assert_eq(sockopt(listener_fd(l2), IPPROTO_IPV6, IPV6_FREEBIND), 0);
	snprintf(want, sizeof(want), "[::1]:%d", local_port(listener_fd(l1)));
	cr_assert_str_eq(l1->bound, want);
	listener_unref(l1);
	listener_unref(l2);
	config_free(conf);
}

Test(listener, v6only_on_ipv4_is_an_error)
{
	struct config *conf = config_new("test.ini");
	struct listener_conf *lc = add(conf, "web", "127.0.0.1:0");
	char *cause;
	int before = count_fds();

	lc->opts.v6only = 1;
	cause = bind_fails(lc);
	cr_assert(strstr(cause, "listener web: 127.0.0.1:0: v6only applies only "
	    "to IPv6") == cause, "%s", cause);
	cr_assert_eq(count_fds(), before);
	free(cause);
	config_free(conf);
}

Test(listener, udp)
{
	struct config *conf = config_new("test.ini");
	struct listener_conf *lc = add(conf, "dns", "udp:127.0.0.1:0");
	struct listener *l = bind_ok(lc);

	check_common(l, SOCK_DGRAM);
	cr_assert_eq(sockopt(listener_fd(l), SOL_SOCKET, SO_REUSEADDR), 0);
	cr_assert_eq(sockopt(listener_fd(l), SOL_SOCKET, SO_REUSEPORT), 0);
	cr_assert_gt(local_port(listener_fd(l)), 0);
	listener_unref(l);
	config_free(conf);
}

Test(listener, interface)
{
	struct config *conf = config_new("test.ini");
	struct listener_conf *lc = add(conf, "web", "127.0.0.1:0");
	struct listener *l;
	char dev[IF_NAMESIZE] = "";
	socklen_t len = sizeof(dev);

	snprintf(lc->opts.interface, sizeof(lc->opts.interface), "lo");
	l = bind_ok(lc);
	cr_assert_eq(getsockopt(listener_fd(l), SOL_SOCKET, SO_BINDTODEVICE, dev, &len), 0);
	cr_assert_str_eq(dev, "lo");
	listener_unref(l);
	config_free(conf);
}

Test(listener, unknown_interface)
{
	struct config *conf = config_new("test.ini");
	struct listener_conf *lc = add(conf, "web", "127.0.0.1:0");
	char *cause;
	int before = count_fds();

	snprintf(lc->opts.interface, sizeof(lc->opts.interface), "hoffnosuch9");
	cause = bind_fails(lc);
	cr_assert(strstr(cause, "listener web: 127.0.0.1:0: unknown interface "
	    "hoffnosuch9") == cause, "%s", cause);
	cr_assert_eq(count_fds(), before);
	free(cause);
	config_free(conf);
}

Test(listener, unix_stream_mode_owner)
{
	struct config *conf = config_new("test.ini");
	char path[PATH_MAX], text[PATH_MAX + 8];
	struct listener_conf *lc;
	struct listener *l;
	struct stat sb;

	tmppath(path, sizeof(path), "app.sock");
	snprintf(text, sizeof(text), "unix:%s", path);
	lc = add(conf, "app", text);
	lc->opts.mode = 0640;
	lc->opts.owner = 65534;
	lc->opts.group = 65534;
	lc->opts.backlog = 5;
	l = bind_ok(lc);
	check_common(l, SOCK_STREAM);
	cr_assert_eq(sockopt(listener_fd(l), SOL_SOCKET, SO_ACCEPTCONN), 1);
	cr_assert_str_eq(l->bound, path);
	cr_assert_eq(lstat(path, &sb), 0);
	cr_assert(S_ISSOCK(sb.st_mode));
	cr_assert_eq(sb.st_mode & 07777, 0640);
	cr_assert_eq(sb.st_uid, 65534);
	cr_assert_eq(sb.st_gid, 65534);
	cr_assert_eq(l->file_ino, sb.st_ino);
	cr_assert_eq(l->file_dev, sb.st_dev);
	cr_assert_eq(listener_unix_is_live(&l->addr), 1);
	listener_unref(l);
	cr_assert_eq(lstat(path, &sb), -1, "socket file left behind");
	cr_assert_eq(errno, ENOENT);
	config_free(conf);
}

Test(listener, unix_dgram_and_abstract)
{
	struct config *conf = config_new("test.ini");
	char path[PATH_MAX], text[PATH_MAX + 16], name[64], want[80];
	struct listener_conf *lc1, *lc2, *lc3;
	struct listener *l1, *l2, *l3;
	struct stat sb;

	tmppath(path, sizeof(path), "log.sock");
	snprintf(text, sizeof(text), "unixgram:%s", path);
	lc1 = add(conf, "log", text);
	snprintf(name, sizeof(name), "handoff-test-%ld", (long)getpid());
	snprintf(text, sizeof(text), "unix:@%s", name);
	lc2 = add(conf, "abs", text);
	snprintf(text, sizeof(text), "unixgram:@%s-dgram", name);
	lc3 = add(conf, "absdgram", text);

	l1 = bind_ok(lc1);
	l2 = bind_ok(lc2);
	l3 = bind_ok(lc3);
	check_common(l1, SOCK_DGRAM);
	check_common(l2, SOCK_STREAM);
	check_common(l3, SOCK_DGRAM);
	cr_assert_eq(lstat(path, &sb), 0);
	cr_assert(S_ISSOCK(sb.st_mode));
	cr_assert_str_eq(l1->bound, path);
	snprintf(want, sizeof(want), "@%s", name);
	cr_assert_str_eq(l2->bound, want);
	cr_assert_eq(l2->file_ino, 0);
	cr_assert_eq(listener_unix_is_live(&l1->addr), 1);
	cr_assert_eq(listener_unix_is_live(&l2->addr), 1);
	cr_assert_eq(listener_unix_is_live(&l3->addr), 1);
	listener_unref(l1);
	listener_unref(l2);
	listener_unref(l3);
	cr_assert_eq(lstat(path, &sb), -1);
	cr_assert_eq(listener_unix_is_live(&lc1->addr), 0);
	cr_assert_eq(listener_unix_is_live(&lc2->addr), 0);
	config_free(conf);
}

/* ---- stale and live unix sockets --------------------------------------- */

Test(listener, unix_stale_socket_is_replaced)
{
	struct config *conf = config_new("test.ini");
	char path[PATH_MAX], other[PATH_MAX], text[PATH_MAX + 8];
	struct listener_conf *lc;
	struct listener *l;
	struct stat before, after;
	int fd;

	tmppath(path, sizeof(path), "stale.sock");
	snprintf(text, sizeof(text), "unix:%s", path);
	lc = add(conf, "app", text);
	fd = own_socket(text);
	close(fd);		/* the file stays: a stale socket */
	/* A second link keeps the old inode's number from being reused. */
	tmppath(other, sizeof(other), "stale.link");
	cr_assert_eq(link(path, other), 0);
	cr_assert_eq(lstat(path, &before), 0);
	cr_assert_eq(listener_unix_is_live(&lc->addr), 0);

	l = bind_ok(lc);
	cr_assert_eq(lstat(path, &after), 0);
	cr_assert(S_ISSOCK(after.st_mode));
	cr_assert_neq(before.st_ino, after.st_ino, "stale file not replaced");
	cr_assert_eq(l->file_ino, after.st_ino);
	cr_assert_eq(listener_unix_is_live(&lc->addr), 1);
	listener_unref(l);
	cr_assert_eq(lstat(path, &after), -1);
	config_free(conf);
}

Test(listener, unix_live_socket_is_refused)
{
	struct config *conf = config_new("test.ini");
	char path[PATH_MAX], text[PATH_MAX + 16], want[PATH_MAX + 128];
	struct listener_conf *lc;
	struct stat before, after;
	char *cause;
	int fd, nfds;

	tmppath(path, sizeof(path), "live.sock");
	snprintf(text, sizeof(text), "unix:%s", path);
	lc = add(conf, "app", text);
	fd = own_socket(text);
	cr_assert_eq(lstat(path, &before), 0);
	cr_assert_eq(listener_unix_is_live(&lc->addr), 1);

	nfds = count_fds();
	cause = bind_fails(lc);
	snprintf(want, sizeof(want), "listener app: unix:%s: another process is "
	    "listening on this socket", path);
	cr_assert(strstr(cause, want) == cause, "%s", cause);
	snprintf(want, sizeof(want), "held by pid %ld", (long)getpid());
	cr_assert(strstr(cause, want) != NULL, "%s", cause);
	cr_assert_eq(count_fds(), nfds);
	free(cause);
	cr_assert_eq(lstat(path, &after), 0);
	cr_assert_eq(before.st_ino, after.st_ino, "live socket file touched");
	close(fd);
	config_free(conf);
}

Test(listener, unixgram_live_socket_is_refused)
{
	struct config *conf = config_new("test.ini");
	char path[PATH_MAX], text[PATH_MAX + 16];
	struct listener_conf *lc;
	char *cause;
	int fd;

	tmppath(path, sizeof(path), "live.dgram");
	snprintf(text, sizeof(text), "unixgram:%s", path);
	lc = add(conf, "log", text);
	fd = own_socket(text);
	cr_assert_eq(listener_unix_is_live(&lc->addr), 1);
	cause = bind_fails(lc);
	cr_assert(strstr(cause, "another process is listening") != NULL, "%s",
	    cause);
	free(cause);
	close(fd);
	cr_assert_eq(listener_unix_is_live(&lc->addr), 0);
	config_free(conf);
}

Test(listener, unix_path_not_a_socket)
{
	struct config *conf = config_new("test.ini");
	char path[PATH_MAX], text[PATH_MAX + 8], want[PATH_MAX + 64];
	struct listener_conf *lc;
	struct stat sb;
	char *cause;
	int fd;

	tmppath(path, sizeof(path), "plain");
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	cr_assert_neq(fd, -1);
	close(fd);
	snprintf(text, sizeof(text), "unix:%s", path);
	lc = add(conf, "app", text);
	cause = bind_fails(lc);
	snprintf(want, sizeof(want), "%s: exists and is not a socket", path);
	cr_assert(strstr(cause, want) != NULL, "%s", cause);
	cr_assert(strncmp(cause, "listener app: ", 14) == 0, "%s", cause);
	free(cause);
	cr_assert_eq(lstat(path, &sb), 0);
	cr_assert(S_ISREG(sb.st_mode));
	cr_assert_eq(listener_unix_is_live(&lc->addr), -1);
	config_free(conf);
}

Test(listener, unix_missing_directory)
{
	struct config *conf = config_new("test.ini");
	char path[PATH_MAX], text[PATH_MAX + 8], want[PATH_MAX + 64];
	struct listener_conf *lc;
	char *cause;

	tmppath(path, sizeof(path), "nodir/app.sock");
	snprintf(text, sizeof(text), "unix:%s", path);
	lc = add(conf, "app", text);
	cr_assert_eq(listener_unix_is_live(&lc->addr), 0);
	cause = bind_fails(lc);
	snprintf(want, sizeof(want), "directory %s/nodir does not exist", tmpdir);
	cr_assert(strstr(cause, want) != NULL, "%s", cause);
	free(cause);
	config_free(conf);
}

Test(listener, unix_file_replaced_is_not_unlinked)
{
	struct config *conf = config_new("test.ini");
	char path[PATH_MAX], text[PATH_MAX + 8];
	struct listener_conf *lc;
	struct listener *l;
	struct stat sb;
	int fd;

	tmppath(path, sizeof(path), "taken.sock");
	snprintf(text, sizeof(text), "unix:%s", path);
	lc = add(conf, "app", text);
	l = bind_ok(lc);
	/* Someone else removes our file and puts theirs in its place. */
	cr_assert_eq(unlink(path), 0);
	fd = own_socket(text);
	listener_unref(l);
	cr_assert_eq(lstat(path, &sb), 0, "someone else's file was removed");
	close(fd);
	config_free(conf);
}

/* ---- errors a user can act on ------------------------------------------ */

Test(listener, tcp_address_in_use_names_the_holder)
{
	struct config *conf = config_new("test.ini");
	char text[64], want[128];
	struct listener_conf *lc;
	char *cause;
	int fd, port, nfds;

	fd = own_socket("127.0.0.1:0");
	port = local_port(fd);
	snprintf(text, sizeof(text), "127.0.0.1:%d", port);
	lc = add(conf, "web", text);
	nfds = count_fds();
	cause = bind_fails(lc);
	snprintf(want, sizeof(want), "listener web: 127.0.0.1:%d: address "
	    "already in use", port);
	cr_assert(strstr(cause, want) == cause, "%s", cause);
	snprintf(want, sizeof(want), "(held by pid %ld, ", (long)getpid());
	cr_assert(strstr(cause, want) != NULL, "%s", cause);
	cr_assert_eq(count_fds(), nfds);
	free(cause);
	close(fd);
	config_free(conf);
}

Test(listener, wildcard_in_use_names_the_holder)
{
	struct config *conf;
	char text[64], want[128];
	struct listener_conf *lc;
	char *cause;
	int fd, port;

	need_ipv6();
	conf = config_new("test.ini");

	/* Held on [::] (dual stack); we ask for 127.0.0.1 on the same port. */
	fd = own_socket("[::]:0");
	port = local_port(fd);
	snprintf(text, sizeof(text), "127.0.0.1:%d", port);
	lc = add(conf, "web", text);
	cause = bind_fails(lc);
	cr_assert(strstr(cause, "address already in use") != NULL, "%s", cause);
	snprintf(want, sizeof(want), "held by pid %ld", (long)getpid());
	cr_assert(strstr(cause, want) != NULL, "%s", cause);
	free(cause);
	close(fd);
	config_free(conf);
}

Test(listener, udp_address_in_use_names_the_holder)
{
	struct config *conf = config_new("test.ini");
	char text[64], want[128];
	struct listener_conf *lc;
	char *cause;
	int fd, port;

	fd = own_socket("udp:127.0.0.1:0");
	port = local_port(fd);
	snprintf(text, sizeof(text), "udp:127.0.0.1:%d", port);
	lc = add(conf, "dns", text);
	cause = bind_fails(lc);
	snprintf(want, sizeof(want), "listener dns: udp:127.0.0.1:%d: address "
	    "already in use (held by pid %ld", port, (long)getpid());
	cr_assert(strstr(cause, want) == cause, "%s", cause);
	free(cause);
	close(fd);
	config_free(conf);
}

Test(listener, address_not_available)
{
	struct config *conf = config_new("test.ini");
	struct listener_conf *lc;
	struct listener *l;
	char *cause;
	FILE *fp;
	int nonlocal = 0;

	if ((fp = fopen("/proc/sys/net/ipv4/ip_nonlocal_bind", "r")) != NULL) {
		if (fscanf(fp, "%d", &nonlocal) != 1)
			nonlocal = 0;
		fclose(fp);
	}
	if (nonlocal != 0)
		cr_skip_test("net.ipv4.ip_nonlocal_bind is on");
	/* 198.51.100.0/24 is TEST-NET-2: on no host. */
	lc = add(conf, "web", "198.51.100.7:0");
	cause = bind_fails(lc);
	cr_assert_str_eq(cause, "listener web: 198.51.100.7:0: address not "
	    "available on this host (use freebind = yes to bind it before it "
	    "exists)");
	free(cause);
	lc->opts.freebind = true;
	l = bind_ok(lc);
	listener_unref(l);
	config_free(conf);
}

Test(listener, privileged_port_permission_denied)
{
	struct config *conf = config_new("test.ini");
	struct listener_conf *lc;
	struct listener *l;
	char *cause = NULL;
	FILE *fp;
	int start = 1024, status, ok;
	pid_t pid;

	if ((fp = fopen("/proc/sys/net/ipv4/ip_unprivileged_port_start",
	    "r")) != NULL) {
		if (fscanf(fp, "%d", &start) != 1)
			start = 1024;
		fclose(fp);
	}
	if (start <= 1)
		cr_skip_test("every port is unprivileged here");
	lc = add(conf, "web", "127.0.0.1:1");
	pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0) {
		/* Losing euid 0 drops CAP_NET_BIND_SERVICE too. */
		if (geteuid() == 0 && seteuid(65534) == -1)
			_exit(2);
		ok = listener_bind(lc, &l, &cause) == -1 && strcmp(cause,
		    "listener web: 127.0.0.1:1: permission denied (ports below "
		    "1024 need root or CAP_NET_BIND_SERVICE)") == 0;
		if (!ok)
			fprintf(stderr, "cause: %s\n", cause ? cause : "(none)");
		_exit(ok ? 0 : 1);
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "child status %d", status);
	config_free(conf);
}

/* ---- comparing and reloading ------------------------------------------- */

Test(listener, matches)
{
	struct config *conf = config_new("test.ini");
	struct listener_conf *lc = add(conf, "web", "127.0.0.1:0");
	struct listener_conf *other = add(conf, "other", "127.0.0.2:0");
	struct listener *l = bind_ok(lc);

	cr_assert(listener_matches(l, lc));
	cr_assert_not(listener_matches(l, other));
	lc->opts.backlog = 12;
	cr_assert_not(listener_matches(l, lc));
	lc->opts.backlog = l->opts.backlog;
	lc->opts.nodelay = true;
	cr_assert_not(listener_matches(l, lc));
	lc->opts.nodelay = false;
	lc->opts.mode = 0600;
	cr_assert_not(listener_matches(l, lc));
	lc->opts.mode = (mode_t)-1;
	snprintf(lc->opts.interface, sizeof(lc->opts.interface), "lo");
	cr_assert_not(listener_matches(l, lc));
	lc->opts.interface[0] = '\0';
	cr_assert(listener_matches(l, lc));
	lc->fd_name = strdup("http");
	cr_assert_not(listener_matches(l, lc));
	free(lc->fd_name);
	lc->fd_name = strdup("web");
	cr_assert(listener_matches(l, lc));
	free(lc->name);
	lc->name = strdup("www");
	cr_assert_not(listener_matches(l, lc));
	listener_unref(l);
	config_free(conf);
}

Test(listener, ref_unref)
{
	struct config *conf = config_new("test.ini");
	struct listener_conf *lc = add(conf, "web", "127.0.0.1:0");
	struct listener *l = bind_ok(lc);
	int fd = listener_fd(l);

	listener_ref(l);
	cr_assert_eq(l->refs, 2);
	listener_unref(l);
	cr_assert(fd_open(fd));
	listener_unref(l);
	cr_assert_not(fd_open(fd));
	config_free(conf);
}

Test(listener, set_update_keeps_adds_removes_and_changes)
{
	struct listener_set empty = { 0 }, s1 = { 0 }, s2 = { 0 };
	char path[PATH_MAX], text[PATH_MAX + 8];
	struct listener *web, *api, *sock, *renamed;
	struct listener_conf *lc;
	struct config *c1, *c2;
	struct stat sb;
	char *cause = NULL;
	ino_t web_ino, sock_ino;
	int api_fd, api_port, fd, port;

	need_ipv6();
	c1 = config_new("one.ini");
	c2 = config_new("two.ini");

	tmppath(path, sizeof(path), "app.sock");
	snprintf(text, sizeof(text), "unix:%s", path);
	add(c1, "web", "127.0.0.1:0");
	add(c1, "api", "127.0.0.1:0");
	lc = add(c1, "sock", text);
	lc->opts.mode = 0600;
	lc->opts.backlog = 10;
	add(c1, "old", "[::1]:0");

	cr_assert_eq(listener_set_update(&empty, c1, &s1, &cause), 0, "%s", cause);
	cr_assert_eq(s1.count, 4);
	web = listener_set_find(&s1, "web");
	api = listener_set_find(&s1, "api");
	sock = listener_set_find(&s1, "sock");
	cr_assert(web != NULL && api != NULL && sock != NULL);
	cr_assert_eq(s1.items[0], web);
	cr_assert_eq(s1.items[2], sock);
	cr_assert_null(listener_set_find(&s1, "nope"));
	web_ino = fd_ino(listener_fd(web));
	sock_ino = fd_ino(listener_fd(sock));
	api_fd = listener_fd(api);
	api_port = local_port(api_fd);

	/*
	 * two.ini: web unchanged; api gone; the unix socket renamed with a new
	 * mode and backlog; "old" on port 0 renamed, so bound anew; one added.
	 */
	lc = add(c2, "new", "127.0.0.1:0");
	add(c2, "web", "127.0.0.1:0");
	lc = add(c2, "sock2", text);
	lc->opts.mode = 0660;
	lc->opts.backlog = 20;
	lc->fd_name = strdup("control");
	add(c2, "older", "[::1]:0");

	cr_assert_eq(listener_set_update(&s1, c2, &s2, &cause), 0, "%s", cause);
	cr_assert_eq(s2.count, 4);
	/* Until the reload commits, the kept socket is as it was. */
	cr_assert_str_eq(s2.items[2]->name, "sock");
	cr_assert_eq(s2.items[2]->opts.backlog, 10);
	cr_assert_eq(lstat(path, &sb), 0);
	cr_assert_eq(sb.st_mode & 07777, 0600);
	listener_set_commit(&s2, c2);
	cr_assert_eq(s2.items[1], web, "web not kept");
	cr_assert_eq(fd_ino(listener_fd(web)), web_ino);
	cr_assert_eq(web->refs, 2);
	renamed = s2.items[2];
	cr_assert_eq(renamed, sock, "unix socket not kept");
	cr_assert_eq(fd_ino(listener_fd(sock)), sock_ino);
	cr_assert_str_eq(sock->name, "sock2");
	cr_assert_str_eq(sock->fd_name, "control");
	cr_assert_eq(sock->opts.backlog, 20);
	cr_assert_eq(lstat(path, &sb), 0);
	cr_assert_eq(sb.st_mode & 07777, 0660);
	cr_assert(listener_matches(sock, lc));
	cr_assert_eq(s2.items[0]->refs, 1);
	cr_assert_neq(s2.items[3], listener_set_find(&s1, "old"),
	    "port 0 listener kept under another name");
	cr_assert_eq(listener_set_find(&s2, "sock2"), sock);

	/* The old set goes: api closes, web and the unix socket stay. */
	listener_set_clear(&s1);
	cr_assert_null(s1.items);
	cr_assert_eq(s1.count, 0);
	cr_assert_eq(web->refs, 1);
	cr_assert_eq(sock->refs, 1);
	cr_assert_eq(lstat(path, &sb), 0, "kept unix socket file removed");
	cr_assert_not(fd_open(api_fd), "removed listener still open");
	/* api's port is free again: bind it ourselves. */
	snprintf(text, sizeof(text), "127.0.0.1:%d", api_port);
	fd = own_socket(text);
	close(fd);

	port = local_port(listener_fd(web));
	cr_assert_gt(port, 0);
	listener_set_clear(&s2);
	cr_assert_eq(lstat(path, &sb), -1, "unix socket file left behind");
	config_free(c1);
	config_free(c2);
}

Test(listener, set_update_immutable_change_changes_nothing)
{
	struct listener_set s1 = { 0 }, s2 = { 0 };
	char path[PATH_MAX], text[PATH_MAX + 8];
	struct listener_conf *lc;
	struct listener *v6, *sock;
	struct config *c1, *c2;
	struct stat sb;
	char *cause = NULL, want[128];
	int nfds;

	need_ipv6();
	c1 = config_new("one.ini");
	c2 = config_new("two.ini");

	tmppath(path, sizeof(path), "app.sock");
	snprintf(text, sizeof(text), "unix:%s", path);
	lc = add(c1, "sock", text);
	lc->opts.mode = 0600;
	add(c1, "v6", "[::1]:0");
	cr_assert_eq(listener_set_update(NULL, c1, &s1, &cause), 0, "%s", cause);
	sock = s1.items[0];
	v6 = s1.items[1];

	/* A mutable change, a new listener, then an impossible change. */
	lc = add(c2, "sock", text);
	lc->opts.mode = 0666;
	lc->opts.backlog = 3;
	add(c2, "new", "127.0.0.1:0");
	lc = add(c2, "v6", "[::1]:0");
	lc->opts.v6only = 1;

	nfds = count_fds();
	cr_assert_eq(listener_set_update(&s1, c2, &s2, &cause), -1);
	snprintf(want, sizeof(want), "listener v6: changing v6only of [::1]:0 "
	    "needs a stop and start (the socket is kept open across reloads)");
	cr_assert_str_eq(cause, want);
	free(cause);
	cr_assert_null(s2.items);
	cr_assert_eq(s2.count, 0);
	cr_assert_eq(count_fds(), nfds, "fd leaked");
	cr_assert_eq(sock->refs, 1);
	cr_assert_eq(v6->refs, 1);
	cr_assert_eq(sock->opts.mode, 0600);
	cr_assert_eq(sock->opts.backlog, DEFAULT_BACKLOG);
	cr_assert_eq(lstat(path, &sb), 0);
	cr_assert_eq(sb.st_mode & 07777, 0600, "mode changed by a failed update");
	cr_assert_eq(s1.count, 2);
	cr_assert_eq(s1.items[0], sock);
	cr_assert_eq(s1.items[1], v6);

	listener_set_clear(&s1);
	config_free(c1);
	config_free(c2);
}

Test(listener, set_update_unix_type_change_is_refused)
{
	struct config *c1 = config_new("one.ini"), *c2 = config_new("two.ini");
	struct listener_set s1 = { 0 }, s2 = { 0 };
	char path[PATH_MAX], text[PATH_MAX + 16], want[PATH_MAX * 2 + 128];
	char *cause = NULL;

	tmppath(path, sizeof(path), "app.sock");
	snprintf(text, sizeof(text), "unix:%s", path);
	add(c1, "sock", text);
	snprintf(text, sizeof(text), "unixgram:%s", path);
	add(c2, "sock", text);
	cr_assert_eq(listener_set_update(NULL, c1, &s1, &cause), 0, "%s", cause);
	cr_assert_eq(listener_set_update(&s1, c2, &s2, &cause), -1);
	snprintf(want, sizeof(want), "listener sock: changing unix:%s to "
	    "unixgram:%s needs a stop and start", path, path);
	cr_assert(strstr(cause, want) == cause, "%s", cause);
	free(cause);
	cr_assert_eq(s2.count, 0);
	cr_assert_eq(listener_unix_is_live(&s1.items[0]->addr), 1);
	listener_set_clear(&s1);
	config_free(c1);
	config_free(c2);
}

Test(listener, set_update_bind_failure_changes_nothing)
{
	struct config *c1 = config_new("one.ini"), *c2 = config_new("two.ini");
	struct listener_set s1 = { 0 }, s2 = { 0 };
	struct listener_conf *lc;
	struct listener *web;
	char text[64], *cause = NULL;
	int fd, nfds, backlog;

	lc = add(c1, "web", "127.0.0.1:0");
	lc->opts.backlog = 50;
	cr_assert_eq(listener_set_update(NULL, c1, &s1, &cause), 0, "%s", cause);
	web = s1.items[0];

	fd = own_socket("127.0.0.1:0");
	snprintf(text, sizeof(text), "127.0.0.1:%d", local_port(fd));
	lc = add(c2, "web", "127.0.0.1:0");
	lc->opts.backlog = 60;
	lc->opts.nodelay = true;
	add(c2, "fresh", "127.0.0.1:0");
	add(c2, "busy", text);

	nfds = count_fds();
	cr_assert_eq(listener_set_update(&s1, c2, &s2, &cause), -1);
	cr_assert(strstr(cause, "listener busy: ") == cause, "%s", cause);
	cr_assert(strstr(cause, "address already in use") != NULL, "%s", cause);
	free(cause);
	cr_assert_eq(count_fds(), nfds, "fd leaked");
	cr_assert_eq(s2.count, 0);
	cr_assert_null(s2.items);
	cr_assert_eq(web->refs, 1);
	cr_assert_eq(web->opts.backlog, 50);
	cr_assert_eq(sockopt(listener_fd(web), IPPROTO_TCP, TCP_NODELAY), 0);
	backlog = ss_backlog(local_port(listener_fd(web)));
	if (backlog != -1)
		cr_assert_eq(backlog, 50);

	/* Once the port is free the same update goes through. */
	close(fd);
	cr_assert_eq(listener_set_update(&s1, c2, &s2, &cause), 0, "%s", cause);
	cr_assert_eq(s2.items[0], web);
	listener_set_commit(&s2, c2);
	cr_assert_eq(sockopt(listener_fd(web), IPPROTO_TCP, TCP_NODELAY), 1);
	cr_assert_eq(web->opts.backlog, 60);
	backlog = ss_backlog(local_port(listener_fd(web)));
	if (backlog != -1)
		cr_assert_eq(backlog, 60);
	listener_set_clear(&s1);
	listener_set_clear(&s2);
	config_free(c1);
	config_free(c2);
}

/* ---- identity and sockets ---------------------------------------------- */

/* The identity key of lc (address only when opts is false) into buf. */
static size_t
key_of(const struct listener_conf *lc, bool opts, unsigned char *buf)
{
	return listener_key(&lc->addr, opts ? &lc->opts : NULL, lc->name, buf);
}

/* Tell whether two listener_confs have the same key. */
static bool
same_key(const struct listener_conf *a, const struct listener_conf *b,
    bool opts)
{
	unsigned char ka[LISTENER_KEY_MAX], kb[LISTENER_KEY_MAX];
	size_t la = key_of(a, opts, ka), lb = key_of(b, opts, kb);

	return la == lb && memcmp(ka, kb, la) == 0;
}

Test(listener, identity_is_address_and_options_not_the_name)
{
	struct config *conf = config_new("test.ini");
	struct listener_conf *web = add(conf, "web", "127.0.0.1:8080");
	struct listener_conf *www = add(conf, "www", "127.0.0.1:8080");
	struct listener_conf *tcp = add(conf, "tcp", "tcp:127.0.0.1:8080");
	struct listener_conf *udp = add(conf, "udp", "udp:127.0.0.1:8080");
	struct listener_conf *p0a = add(conf, "a", "127.0.0.1:0");
	struct listener_conf *p0b = add(conf, "b", "127.0.0.1:0");
	struct listener_conf *s = add(conf, "s", "unix:/run/x.sock");
	struct listener_conf *g = add(conf, "g", "unixgram:/run/x.sock");
	struct listener_conf *v6 = add(conf, "v6", "[::1]:8080");

	/* The name is a label: a rename is the same listener. */
	cr_assert(same_key(web, www, true));
	cr_assert(same_key(web, tcp, true));
	cr_assert_not(same_key(web, udp, false));
	cr_assert_not(same_key(web, v6, false));
	cr_assert_not(same_key(s, g, false));
	/* Port 0 gets a new port each time: only the name tells them apart. */
	cr_assert_not(same_key(p0a, p0b, false));
	/* Every option is part of the identity, not of the address. */
	www->opts.backlog = 10;
	cr_assert_not(same_key(web, www, true));
	cr_assert(same_key(web, www, false));
	www->opts.backlog = web->opts.backlog;
	snprintf(www->opts.interface, sizeof(www->opts.interface), "lo");
	cr_assert_not(same_key(web, www, true));
	www->opts.interface[0] = '\0';
	www->opts.reuseport = true;
	cr_assert_not(same_key(web, www, true));
	www->opts.reuseport = false;
	cr_assert(same_key(web, www, true));
	config_free(conf);
}

Test(listener, sockets_of_a_listener)
{
	struct config *conf = config_new("test.ini");
	struct listener *l = bind_ok(add(conf, "web", "127.0.0.1:0"));

	/* Inherit mode: one shared socket, which every worker slot gets. */
	cr_assert_eq(listener_nsockets(l), 1);
	cr_assert_eq(listener_socket_fd(l, 0), listener_fd(l));
	cr_assert_eq(listener_slot_fd(l, 0), listener_fd(l));
	cr_assert_eq(listener_slot_fd(l, 7), listener_fd(l));
	check_common(l, SOCK_STREAM);
	listener_unref(l);
	config_free(conf);
}

/* A per-slot listener of conf on 127.0.0.1 with nslots sockets. */
static struct listener *
per_slot_listener(struct config *conf, int nslots)
{
	struct listener_conf *lc = add(conf, "web", "127.0.0.1:0");
	struct listener *l;

	lc->opts.per_slot = true;
	lc->slots = nslots;
	l = bind_ok(lc);
	cr_assert_eq(listener_nsockets(l), (size_t)nslots);
	return l;
}

/*
 * A per-slot listener (reuseport mode) takes the kernel's group order back
 * from an upgrade's record, as upgrade.c restores it: every slot at the
 * index it had, the group as long as its highest index, and a slot out of
 * the group (-1) out of the mirror too. A record that does not fit leaves
 * the listener as it was.
 */
Test(listener, per_slot_group_order_comes_back_from_an_upgrade)
{
	/* The record: slot 1 first, then 3, then 0; slot 2 left the group. */
	static const long long slot[] = { 0, 1, 2, 3 }, index[] = { 2, 0, -1, 1 };
	static const long long twice[] = { 0, 0, 1, 1 };
	struct config *conf = config_new("test.ini");
	struct listener *l = per_slot_listener(conf, 4);
	char *cause = NULL;

	cr_assert_eq(listener_group_restore(l, 3, slot, index, 4, &cause), 0,
	    "%s", cause);
	cr_expect_eq(l->committed, 3);
	cr_expect_eq(listener_slot_group_index(l, 0), 2);
	cr_expect_eq(listener_slot_group_index(l, 1), 0);
	cr_expect_eq(listener_slot_group_index(l, 2), -1);
	cr_expect_eq(listener_slot_group_index(l, 3), 1);
	cr_assert_eq(l->ngroup, 3);
	cr_expect_eq(l->group[0], 1);
	cr_expect_eq(l->group[1], 3);
	cr_expect_eq(l->group[2], 0);

	/* Two slots at index 0 and 1 each: refused, nothing changed. */
	cr_assert_eq(listener_group_restore(l, 4, slot, twice, 4, &cause), -1);
	cr_expect_not_null(strstr(cause, "both at index"), "%s", cause);
	free(cause);
	cr_expect_eq(l->committed, 3);
	cr_expect_eq(l->ngroup, 3);
	cr_expect_eq(listener_slot_group_index(l, 0), 2);
	cr_expect_eq(l->group[2], 0);
	listener_unref(l);
	config_free(conf);
}

/*
 * A record that does not fit a 3-socket listener (from another build of
 * handoff, or damaged) is refused, naming what does not fit, rather than
 * mirrored: a slot past its sockets still in the group, a slot twice, an
 * index past them, two slots at one index, a hole in the group, more
 * committed slots than sockets. A slot past them that left the group (a
 * retired one) is left out.
 */
Test(listener, an_upgrade_record_that_does_not_fit_the_group_is_refused)
{
	static const struct {
		long long committed;
		size_t n;
		long long slot[3], index[3];
		const char *says;
	} cases[] = {
		{ 3, 3, { 0, 1, 2 }, { 0, 1, 2 }, NULL },
		{ 3, 3, { 0, 1, 2 }, { 1, 0, -1 }, NULL },
		{ 3, 3, { 0, 1, 3 }, { 0, 1, -1 }, NULL },
		{ 0, 0, { 0 }, { 0 }, NULL },
		{ 3, 2, { 0, 3 }, { 0, 1 }, "the record has worker slot 3 in the "
		    "kernel's group, not one of its 3" },
		{ 3, 2, { 0, -1 }, { 0, -1 }, "the record names worker slot -1" },
		{ 3, 2, { 0, 0 }, { 0, 1 }, "the record has worker slot 0 twice" },
		{ 3, 2, { 0, 1 }, { 0, 3 }, "puts worker slot 1 at index 3 of a "
		    "group of 3 sockets" },
		{ 3, 2, { 0, 1 }, { 0, -5 }, "at index -5" },
		{ 3, 2, { 0, 1 }, { 1, 1 }, "puts worker slots 0 and 1 both at "
		    "index 1" },
		{ 3, 2, { 0, 1 }, { 0, 2 }, "puts no worker slot at index 1 of its "
		    "group of 3" },
		{ 4, 0, { 0 }, { 0 }, "the record's 4 committed worker slots do "
		    "not fit its 3 sockets" },
		{ -1, 0, { 0 }, { 0 }, "the record's -1 committed" },
	};
	size_t i;
	char *cause;
	int rc;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cause = NULL;
		rc = listener_group_record_check("web", 3, cases[i].committed,
		    cases[i].slot, cases[i].index, cases[i].n, &cause);
		if (cases[i].says == NULL)
			cr_expect_eq(rc, 0, "case %zu: %s", i, cause);
		else {
			cr_expect_eq(rc, -1, "case %zu was taken", i);
			cr_expect(cause != NULL && strstr(cause,
			    cases[i].says) != NULL && strncmp(cause,
			    "listener web: ", 14) == 0, "case %zu: %s", i,
			    cause);
		}
		free(cause);
	}
}

/* ---- matching at scale -------------------------------------------------- */

/* A TCP socket with SO_REUSEPORT on 127.0.0.1, a free port: *port. */
static int
reuseport_holder(int *port)
{
	struct sockaddr_in sin;
	int fd, on = 1;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_neq(fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), -1);
	cr_assert_eq(setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)),
	    0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	*port = local_port(fd);
	return fd;
}

/* Append a reuseport listener on 127.0.0.1:port with a backlog. */
static struct listener_conf *
add_twin(struct config *conf, const char *name, int port, int backlog)
{
	char text[64];
	struct listener_conf *lc;

	snprintf(text, sizeof(text), "127.0.0.1:%d", port);
	lc = add(conf, name, text);
	lc->opts.reuseport = true;
	lc->opts.backlog = backlog;
	return lc;
}

/*
 * Two reuseport listeners on one address, listed the other way round by
 * the next config: each keeps its own socket, which needs no change,
 * rather than the first taking the other's options.
 */
Test(listener, set_update_keeps_each_twin_its_own_socket)
{
	struct config *c1 = config_new("one.ini"), *c2 = config_new("two.ini");
	struct listener_set s1 = { 0 }, s2 = { 0 };
	struct listener *a, *b;
	char *cause = NULL;
	int holder, port, nfds;

	holder = reuseport_holder(&port);
	add_twin(c1, "a", port, 10);
	add_twin(c1, "b", port, 20);
	cr_assert_eq(listener_set_update(NULL, c1, &s1, &cause), 0, "%s", cause);
	a = s1.items[0];
	b = s1.items[1];

	add_twin(c2, "b", port, 20);
	add_twin(c2, "a", port, 10);
	nfds = count_fds();
	cr_assert_eq(listener_set_update(&s1, c2, &s2, &cause), 0, "%s", cause);
	cr_assert_eq(count_fds(), nfds, "a socket was bound anew");
	cr_assert_eq(s2.items[0], b);
	cr_assert_eq(s2.items[1], a);
	cr_assert(listener_matches(b, TAILQ_FIRST(&c2->listeners)));
	cr_assert(listener_matches(a, TAILQ_LAST(&c2->listeners,
	    listener_conf_list)));
	listener_set_clear(&s1);
	listener_set_clear(&s2);
	close(holder);
	config_free(c1);
	config_free(c2);
}

/*
 * The listeners a reload may take back can name one twice (the running
 * set's and a draining generation's): it is still kept for one listener
 * of the new config only, and a second on its address gets its own.
 */
Test(listener, set_update_takes_a_listener_named_twice_once)
{
	struct config *c1 = config_new("one.ini"), *c2 = config_new("two.ini");
	struct listener_set s1 = { 0 }, s2 = { 0 }, known = { 0 };
	struct listener *items[2];
	char *cause = NULL;
	int holder, port;

	holder = reuseport_holder(&port);
	add_twin(c1, "a", port, 10);
	cr_assert_eq(listener_set_update(NULL, c1, &s1, &cause), 0, "%s", cause);
	items[0] = items[1] = s1.items[0];
	known.items = items;
	known.count = 2;

	add_twin(c2, "a", port, 10);
	add_twin(c2, "again", port, 10);
	cr_assert_eq(listener_set_update(&known, c2, &s2, &cause), 0, "%s",
	    cause);
	cr_assert_eq(s2.count, 2);
	cr_assert_eq(s2.items[0], s1.items[0]);
	cr_assert_neq(s2.items[1], s1.items[0], "one socket kept twice");
	cr_assert_eq(s1.items[0]->refs, 2);
	cr_assert_eq(s2.items[1]->refs, 1);
	listener_set_clear(&s1);
	listener_set_clear(&s2);
	close(holder);
	config_free(c1);
	config_free(c2);
}

#define SCALE_LISTENERS	400

/*
 * Hundreds of listeners, every one renamed and listed in the other order
 * by the next config, some with a new backlog, beside new ones: each keeps
 * its socket, found by position and, once committed, by its new name.
 */
Test(listener, set_update_at_scale)
{
	struct config *c1 = config_new("one.ini"), *c2 = config_new("two.ini");
	struct listener_set s1 = { 0 }, s2 = { 0 };
	struct listener *old[SCALE_LISTENERS];
	struct listener_conf *lc;
	char text[64], name[32], *cause = NULL;
	int i, nfds;

	for (i = 0; i < SCALE_LISTENERS; i++) {
		snprintf(name, sizeof(name), "l%d", i);
		snprintf(text, sizeof(text), "unix:@handoff-test-%d-%d",
		    (int)getpid(), i);
		add(c1, name, text);
	}
	cr_assert_eq(listener_set_update(NULL, c1, &s1, &cause), 0, "%s", cause);
	cr_assert_eq(s1.count, SCALE_LISTENERS);
	for (i = 0; i < SCALE_LISTENERS; i++) {
		snprintf(name, sizeof(name), "l%d", i);
		old[i] = listener_set_find(&s1, name);
		cr_assert_eq(old[i], s1.items[i]);
	}

	for (i = SCALE_LISTENERS - 1; i >= 0; i--) {
		snprintf(name, sizeof(name), "r%d", i);
		snprintf(text, sizeof(text), "unix:@handoff-test-%d-%d",
		    (int)getpid(), i);
		lc = add(c2, name, text);
		if (i % 3 == 0)
			lc->opts.backlog = 100 + i;
		if (i % 50 == 0) {
			name[0] = 'n';
			add(c2, name, "127.0.0.1:0");
		}
	}
	nfds = count_fds();
	cr_assert_eq(listener_set_update(&s1, c2, &s2, &cause), 0, "%s", cause);
	cr_assert_eq(count_fds(), nfds + SCALE_LISTENERS / 50);
	listener_set_commit(&s2, c2);
	TAILQ_FOREACH(lc, &c2->listeners, entry) {
		cr_assert(listener_matches(listener_set_for(&s2, c2, lc), lc),
		    "%s", lc->name);
		cr_assert_eq(listener_set_find(&s2, lc->name),
		    listener_set_for(&s2, c2, lc), "%s", lc->name);
		if (lc->name[0] != 'r')
			continue;
		i = atoi(lc->name + 1);
		cr_assert_eq(listener_set_for(&s2, c2, lc), old[i], "%s",
		    lc->name);
		cr_assert_eq(old[i]->opts.backlog, i % 3 == 0 ? 100 + i :
		    DEFAULT_BACKLOG);
	}
	cr_assert_null(listener_set_find(&s2, "l0"));
	listener_set_clear(&s1);
	listener_set_clear(&s2);
	cr_assert_eq(count_fds(), nfds - SCALE_LISTENERS);
	config_free(c1);
	config_free(c2);
}

/*
 * A listener of a self-mode program (handoff = self) is its programs'
 * to bind: the set holds only the others, each found by its position
 * among them, and a self one is found as none.
 */
Test(listener, set_update_leaves_self_listeners_to_their_programs)
{
	struct config *conf = config_new("self.ini");
	struct config_msgs msgs;
	struct listener_set set = { 0 };
	struct listener_conf *own, *web;
	struct program_conf *pc;
	char *cause = NULL;
	int nfds;

	own = add(conf, "own", "127.0.0.1:8089");
	web = add(conf, "web", "127.0.0.1:0");
	pc = config_add_program(conf, "a", 1);
	cr_assert_not_null(pc);
	pc->handoff = HANDOFF_SELF;
	cr_assert_not_null(pc->listener_names = calloc(2, sizeof(char *)));
	cr_assert_not_null(pc->listener_names[0] = strdup("own"));
	pc->nlisteners = 1;
	cr_assert_not_null(pc = config_add_program(conf, "b", 2));
	cr_assert_not_null(pc->listener_names = calloc(2, sizeof(char *)));
	cr_assert_not_null(pc->listener_names[0] = strdup("web"));
	pc->nlisteners = 1;
	config_msgs_init(&msgs);
	cr_assert_eq(config_finish(conf, &msgs), 0, "%s", msgs.count ?
	    msgs.lines[0] : "");
	config_msgs_free(&msgs);
	cr_assert(own->self);
	cr_assert(!web->self);

	nfds = count_fds();
	cr_assert_eq(listener_set_update(NULL, conf, &set, &cause), 0, "%s",
	    cause);
	cr_assert_eq(set.count, 1);
	cr_assert_eq(count_fds(), nfds + 1, "only web is bound");
	cr_assert_null(listener_set_for(&set, conf, own));
	cr_assert_eq(listener_set_for(&set, conf, web), set.items[0]);
	cr_assert_str_eq(set.items[0]->name, "web");
	cr_assert_null(listener_set_find(&set, "own"));
	listener_set_commit(&set, conf);
	listener_set_clear(&set);
	cr_assert_eq(count_fds(), nfds);
	config_free(conf);
}

/* ---- check --bind ------------------------------------------------------ */

Test(listener, probe_config)
{
	struct config *conf = config_new("probe.ini");
	char p_ok[PATH_MAX], p_stale[PATH_MAX], p_live[PATH_MAX], p_nodir[PATH_MAX];
	char text[PATH_MAX + 16], want[PATH_MAX * 2 + 128];
	struct config_msgs msgs;
	struct listener_conf *lc_busy, *lc_live, *lc_nodir;
	struct stat sb;
	int busy, live, stale, nfds;

	config_msgs_init(&msgs);
	tmppath(p_ok, sizeof(p_ok), "ok.sock");
	tmppath(p_stale, sizeof(p_stale), "stale.sock");
	tmppath(p_live, sizeof(p_live), "live.sock");
	tmppath(p_nodir, sizeof(p_nodir), "nodir/x.sock");

	busy = own_socket("127.0.0.1:0");
	snprintf(text, sizeof(text), "unix:%s", p_live);
	live = own_socket(text);
	snprintf(text, sizeof(text), "unix:%s", p_stale);
	stale = own_socket(text);
	close(stale);

	add(conf, "tcp", "127.0.0.1:0");
	snprintf(text, sizeof(text), "127.0.0.1:%d", local_port(busy));
	lc_busy = add(conf, "busy", text);
	snprintf(text, sizeof(text), "unix:%s", p_ok);
	add(conf, "ok", text);
	snprintf(text, sizeof(text), "unix:%s", p_stale);
	add(conf, "stale", text);
	snprintf(text, sizeof(text), "unix:%s", p_live);
	lc_live = add(conf, "live", text);
	snprintf(text, sizeof(text), "unix:%s", p_nodir);
	lc_nodir = add(conf, "nodir", text);
	add(conf, "abstract", "unix:@handoff-probe-test");

	nfds = count_fds();
	cr_assert_eq(listener_probe_config(conf, &msgs), 3);
	cr_assert_eq(count_fds(), nfds);
	cr_assert_eq(msgs.count, 3);
	cr_assert_eq(msgs.nerrors, 3);
	snprintf(want, sizeof(want), "probe.ini:%d: listener busy: %s: address "
	    "already in use", lc_busy->line, lc_busy->listen);
	cr_assert(strstr(msgs.lines[0], want) == msgs.lines[0], "%s",
	    msgs.lines[0]);
	snprintf(want, sizeof(want), "probe.ini:%d: listener live: unix:%s: "
	    "another process is listening on this socket", lc_live->line, p_live);
	cr_assert(strstr(msgs.lines[1], want) == msgs.lines[1], "%s",
	    msgs.lines[1]);
	snprintf(want, sizeof(want), "probe.ini:%d: listener nodir: unix:%s: "
	    "directory %s/nodir does not exist", lc_nodir->line, p_nodir, tmpdir);
	cr_assert_str_eq(msgs.lines[2], want);

	cr_assert_eq(lstat(p_ok, &sb), -1, "probe left a socket file");
	cr_assert_eq(lstat(p_stale, &sb), 0, "probe removed a stale socket");
	cr_assert_eq(lstat(p_live, &sb), 0);
	close(busy);
	close(live);
	config_msgs_free(&msgs);
	config_free(conf);
}

Test(listener, probe_names_who_shares_a_reuseport_address)
{
	struct config *conf = config_new("probe.ini");
	struct sockaddr_in sin;
	struct config_msgs msgs;
	struct listener_conf *lc;
	char text[64], want[256];
	int fd, on = 1;

	/* Someone listens with SO_REUSEPORT: a reuseport listener binds too. */
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert_neq(fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), -1);
	cr_assert_eq(setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on)), 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	cr_assert_eq(listen(fd, 8), 0);
	snprintf(text, sizeof(text), "127.0.0.1:%d", local_port(fd));
	lc = add(conf, "web", text);
	lc->opts.reuseport = true;

	config_msgs_init(&msgs);
	cr_assert_eq(listener_probe_config(conf, &msgs), 1);
	cr_assert_eq(msgs.nerrors, 1);
	snprintf(want, sizeof(want), "probe.ini:%d: listener web: %s: pid %d (",
	    lc->line, text, (int)getpid());
	cr_assert(strstr(msgs.lines[0], want) == msgs.lines[0], "%s",
	    msgs.lines[0]);
	cr_assert(strstr(msgs.lines[0], "already listens on this address with "
	    "SO_REUSEPORT") != NULL, "%s", msgs.lines[0]);
	config_msgs_free(&msgs);

	/* Once it is gone, the probe passes. */
	close(fd);
	config_msgs_init(&msgs);
	cr_assert_eq(listener_probe_config(conf, &msgs), 0);
	cr_assert_eq(msgs.count, 0);
	config_msgs_free(&msgs);
	config_free(conf);
}
