#ifdef HAVE_CONFIG_H
#include "autoconf.h"
#endif
/*
 * bindserver: a server that binds its own port, as most servers do, for
 * the tests of the bind() shim (preload = yes). It knows nothing of
 * LISTEN_FDS: it creates a socket, binds --listen (HOST:PORT, [V6]:PORT,
 * udp:HOST:PORT, unix:/PATH, a unix path unlinked first, as servers do,
 * and at exit), listens, and serves it one connection at a time with a
 * blocking accept() (or, with --nonblock, poll() and accept() until
 * EAGAIN). Every request is answered "gen=G pid=P worker=W fd=F inode=I
 * exec=N" (HTTP for TCP and unix, the datagram's " seq=TOKEN" added for
 * UDP). Each bind says on stdout what the app sees of its socket:
 *
 *	bindserver: bound ADDR fd=3 inode=901234 reuseport=0 nonblock=0
 *
 * Options play the hostile app: --close-range, --close-all and
 * --dup2-high clobber every fd above 2 before binding; --rebind binds,
 * closes and binds again; --reexec execs itself once after listening;
 * --spawn-self forks and execs itself without the option, and waits;
 * --fork N forks N children after listening that accept; --accept4-nonblock
 * makes the accepted sockets non-blocking; --also ADDR binds one more
 * address it does not serve; --vfork-exec N runs /bin/true N times by
 * vfork() and execl() after listening and says how much its address
 * space grew; --mmsg serves datagrams by recvmmsg() and sendmmsg();
 * --rcvtimeo MS sets SO_RCVTIMEO before bind() (--timeo-after: after),
 * and an accept() that times out says so. A
 * blocking accept() (or datagram receive) that fails with EAGAIN
 * is fatal (exit 1): the shim must make it block. SIGTERM ends the loop
 * after the request in hand.
 *
 * It uses no getaddrinfo, so that it links statically too.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define MAX_CHILDREN	16

struct address {
	int			 family;
	int			 type;
	struct sockaddr_storage	 ss;
	socklen_t		 len;
	const char		*text;
};

static struct {
	const char	*listen;
	const char	*also;
	const char	*nonblock;	/* socket, fcntl, ioctl, or NULL */
	const char	*unblock;	/* fcntl, ioctl, or NULL */
	const char	*wait;		/* poll, epoll (with --nonblock) */
	int		 close_range;
	int		 close_all;
	int		 dup2_high;
	int		 rebind;
	int		 reexec;
	int		 reexeced;
	int		 spawn_self;
	int		 nfork;
	int		 accept4_nonblock;
	int		 probe_empty;
	int		 vfork_exec;
	int		 mmsg;
	int		 rcvtimeo;	/* ms, 0 for none */
	int		 timeo_after;
} opt;

static volatile sig_atomic_t stopping;
static pid_t children[MAX_CHILDREN];
static int nchildren;
static char **saved_argv;

/* Print a line to stdout at once (the supervisor's log shows it). */
static void __attribute__((format(printf, 1, 0)))
vsay(const char *fmt, va_list ap)
{
	fputs("bindserver: ", stdout);
	vprintf(fmt, ap);
	fputc('\n', stdout);
	fflush(stdout);
}

/* Print a line to stdout at once. */
static void __attribute__((format(printf, 1, 2)))
say(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsay(fmt, ap);
	va_end(ap);
}

/* Say what failed and exit with code. */
static void __attribute__((noreturn, format(printf, 2, 3)))
die(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsay(fmt, ap);
	va_end(ap);
	exit(code);
}

/* SIGTERM: stop after the request in hand (no SA_RESTART: accept ends). */
static void
on_term(int sig)
{
	int i;

	(void)sig;
	stopping = 1;
	for (i = 0; i < nchildren; i++)
		kill(children[i], SIGTERM);
}

/* Parse HOST:PORT, [V6]:PORT, udp:..., unix:/PATH; exits 2 if it is none. */
static void
parse_address(const char *text, struct address *a)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&a->ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&a->ss;
	struct sockaddr_un *sun = (struct sockaddr_un *)&a->ss;
	char host[64];
	const char *rest = text, *colon;
	size_t n;

	memset(a, 0, sizeof(*a));
	a->text = text;
	a->type = SOCK_STREAM;
	if (strncmp(text, "unix:", 5) == 0) {
		if (strlen(text + 5) >= sizeof(sun->sun_path))
			die(2, "%s: path too long", text);
		a->family = sun->sun_family = AF_UNIX;
		strcpy(sun->sun_path, text + 5);
		a->len = sizeof(*sun);
		return;
	}
	if (strncmp(text, "udp:", 4) == 0) {
		a->type = SOCK_DGRAM;
		rest = text + 4;
	}
	if ((colon = strrchr(rest, ':')) == NULL ||
	    (n = (size_t)(colon - rest)) >= sizeof(host))
		die(2, "%s: expected HOST:PORT", text);
	memcpy(host, rest, n);
	host[n] = '\0';
	if (host[0] == '[' && n > 2 && host[n - 1] == ']') {
		host[n - 1] = '\0';
		a->family = sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons((uint16_t)atoi(colon + 1));
		if (inet_pton(AF_INET6, host + 1, &sin6->sin6_addr) != 1)
			die(2, "%s: bad IPv6 address", text);
		a->len = sizeof(*sin6);
		return;
	}
	a->family = sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)atoi(colon + 1));
	if (inet_pton(AF_INET, host, &sin->sin_addr) != 1)
		die(2, "%s: bad IPv4 address", text);
	a->len = sizeof(*sin);
}

/* The inode of the socket at fd. */
static unsigned long long
fd_inode(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 ? (unsigned long long)st.st_ino : 0;
}

/* The app's view of O_NONBLOCK at fd. */
static int
fd_nonblock(int fd)
{
	int flags = fcntl(fd, F_GETFL);

	return flags != -1 && (flags & O_NONBLOCK) ? 1 : 0;
}

/* Set (on) or clear the app's O_NONBLOCK on fd, by fcntl or FIONBIO. */
static void
set_nonblock(int fd, const char *how, int on)
{
	int flags;

	if (strcmp(how, "ioctl") == 0) {
		if (ioctl(fd, FIONBIO, &on) == -1)
			die(1, "ioctl FIONBIO: %s", strerror(errno));
		return;
	}
	if ((flags = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK) == -1)
		die(1, "fcntl F_SETFL: %s", strerror(errno));
}

/* Set SO_RCVTIMEO on fd to --rcvtimeo; exits 1 if it cannot. */
static void
set_rcvtimeo(int fd)
{
	struct timeval tv = { opt.rcvtimeo / 1000, opt.rcvtimeo % 1000 * 1000 };

	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == -1)
		die(1, "SO_RCVTIMEO: %s", strerror(errno));
}

/* The SO_RCVTIMEO the app sees on fd, in ms. */
static long
fd_rcvtimeo(int fd)
{
	struct timeval tv = { 0, 0 };
	socklen_t len = sizeof(tv);

	(void)getsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, &len);
	return (long)tv.tv_sec * 1000 + (long)tv.tv_usec / 1000;
}

/*
 * Make a socket for a, bind it (a unix path unlinked first) and listen;
 * say what the app sees of it. Exits 1 if the bind fails.
 */
static int
bind_address(const struct address *a, int serve)
{
	int fd, reuse = 0, type = a->type | SOCK_CLOEXEC;
	socklen_t len = sizeof(reuse);

	if (serve && opt.nonblock != NULL && strcmp(opt.nonblock, "socket") == 0)
		type |= SOCK_NONBLOCK;
	if ((fd = socket(a->family, type, 0)) == -1)
		die(1, "socket: %s", strerror(errno));
	if (a->family == AF_UNIX)
		(void)unlink(((const struct sockaddr_un *)&a->ss)->sun_path);
	if (serve && opt.rcvtimeo > 0 && !opt.timeo_after)
		set_rcvtimeo(fd);
	if (bind(fd, (const struct sockaddr *)&a->ss, a->len) == -1)
		die(1, "bind %s: %s", a->text, strerror(errno));
	if (serve && opt.rcvtimeo > 0 && opt.timeo_after)
		set_rcvtimeo(fd);
	if (serve && opt.nonblock != NULL && strcmp(opt.nonblock, "socket") != 0)
		set_nonblock(fd, opt.nonblock, 1);
	if (serve && opt.unblock != NULL)
		set_nonblock(fd, opt.unblock, 0);
	if (serve && opt.probe_empty) {
		errno = 0;
		int c = accept(fd, NULL, NULL);
		say("accept on an empty queue: %s", c == -1 ? strerror(errno) :
		    "a connection");
		if (c != -1)
			close(c);
	}
	if (a->type == SOCK_STREAM && listen(fd, 128) == -1)
		die(1, "listen %s: %s", a->text, strerror(errno));
	(void)getsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &reuse, &len);
	say("bound %s fd=%d inode=%llu reuseport=%d nonblock=%d rcvtimeo=%ld",
	    a->text, fd, fd_inode(fd), reuse, fd_nonblock(fd), fd_rcvtimeo(fd));
	return fd;
}

/* The answer to every request, with the serving socket's fd and inode. */
static void
answer_text(int lfd, char *buf, size_t len)
{
	const char *gen = getenv("HANDOFF_GENERATION");
	const char *worker = getenv("HANDOFF_WORKER");

	snprintf(buf, len, "gen=%s pid=%d worker=%s fd=%d inode=%llu exec=%d",
	    gen ? gen : "-", (int)getpid(), worker ? worker : "-", lfd,
	    fd_inode(lfd), opt.reexeced);
}

/* Wait for fd to have events (a client made non-blocking by accept4). */
static void
wait_fd(int fd, short events)
{
	struct pollfd pfd = { .fd = fd, .events = events };

	while (poll(&pfd, 1, 5000) == -1 && errno == EINTR)
		;
}

/* Read one HTTP request from c and answer it; close c. */
static void
serve_client(int lfd, int c)
{
	char req[4096], text[256], resp[512];
	size_t got = 0, sent = 0;
	ssize_t n;
	int len;

	while (got < sizeof(req) - 1) {
		if (opt.accept4_nonblock)
			wait_fd(c, POLLIN);
		n = read(c, req + got, sizeof(req) - 1 - got);
		if (n == -1 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
		req[got] = '\0';
		if (strstr(req, "\r\n\r\n") != NULL)
			break;
	}
	answer_text(lfd, text, sizeof(text));
	len = snprintf(resp, sizeof(resp), "HTTP/1.0 200 OK\r\nContent-Length: "
	    "%zu\r\nConnection: close\r\n\r\n%s\n", strlen(text) + 1, text);
	while (sent < (size_t)len) {
		if (opt.accept4_nonblock)
			wait_fd(c, POLLOUT);
		n = write(c, resp + sent, (size_t)len - sent);
		if (n == -1 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n <= 0)
			break;
		sent += (size_t)n;
	}
	shutdown(c, SHUT_WR);
	close(c);
}

/* Accept one connection on a stream listener; -1 if there is none now. */
static int
accept_one(int lfd)
{
	static int timed_out;
	int c;

	if (opt.accept4_nonblock)
		c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	else
		c = accept(lfd, NULL, NULL);
	if (c != -1)
		return c;
	if (errno == EINTR || errno == ECONNABORTED)
		return -1;
	if (errno == EAGAIN && opt.rcvtimeo > 0) {
		if (!timed_out++)
			say("accept timed out after %d ms", opt.rcvtimeo);
		return -1;
	}
	if ((errno == EAGAIN || errno == EWOULDBLOCK) && opt.nonblock != NULL &&
	    opt.unblock == NULL)
		return -1;
	die(1, "accept: %s", strerror(errno));
}

/*
 * Wait until lfd is readable (non-blocking mode): poll or epoll. A signal
 * ends the wait, so that SIGTERM is seen at once.
 */
static void
wait_listener(int lfd)
{
	struct epoll_event ev = { .events = EPOLLIN }, got;
	struct pollfd pfd = { .fd = lfd, .events = POLLIN };
	static int ep = -1;

	if (opt.wait == NULL || strcmp(opt.wait, "epoll") != 0) {
		(void)poll(&pfd, 1, 5000);
		return;
	}
	if (ep == -1) {
		if ((ep = epoll_create1(EPOLL_CLOEXEC)) == -1 ||
		    epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) == -1)
			die(1, "epoll: %s", strerror(errno));
	}
	(void)epoll_wait(ep, &got, 1, 5000);
}

/* Serve stream listener lfd until SIGTERM. */
static void
serve_stream(int lfd)
{
	int c;

	while (!stopping) {
		if (opt.nonblock != NULL && opt.unblock == NULL) {
			wait_listener(lfd);
			while (!stopping && (c = accept_one(lfd)) != -1)
				serve_client(lfd, c);
			continue;
		}
		if ((c = accept_one(lfd)) != -1)
			serve_client(lfd, c);
	}
}

/* Point m at one datagram: iov's buffer, and the peer's address. */
static void
mmsg_one(struct mmsghdr *m, struct iovec *iov, struct sockaddr_storage *peer,
    socklen_t peerlen)
{
	memset(m, 0, sizeof(*m));
	m->msg_hdr.msg_iov = iov;
	m->msg_hdr.msg_iovlen = 1;
	m->msg_hdr.msg_name = peer;
	m->msg_hdr.msg_namelen = peerlen;
}

/* One datagram by a blocking recvmmsg(); its length, or -1. */
static ssize_t
recv_mmsg(int fd, char *buf, size_t len, struct sockaddr_storage *from,
    socklen_t *fromlen)
{
	struct iovec iov = { buf, len };
	struct mmsghdr m;

	mmsg_one(&m, &iov, from, *fromlen);
	if (recvmmsg(fd, &m, 1, 0, NULL) != 1)
		return -1;
	*fromlen = m.msg_hdr.msg_namelen;
	return (ssize_t)m.msg_len;
}

/* Send one datagram by a blocking sendmmsg(); exits 1 if it fails. */
static void
send_mmsg(int fd, char *buf, size_t len, struct sockaddr_storage *to,
    socklen_t tolen)
{
	struct iovec iov = { buf, len };
	struct mmsghdr m;

	mmsg_one(&m, &iov, to, tolen);
	if (sendmmsg(fd, &m, 1, 0) != 1)
		die(1, "sendmmsg: %s", strerror(errno));
}

/* Answer datagrams on lfd until SIGTERM: the answer, " seq=TOKEN". */
static void
serve_dgram(int lfd)
{
	struct sockaddr_storage from;
	socklen_t fromlen;
	char buf[512], text[256], reply[400];
	ssize_t n;

	while (!stopping) {
		fromlen = sizeof(from);
		if (opt.mmsg)
			n = recv_mmsg(lfd, buf, sizeof(buf) - 1, &from, &fromlen);
		else
			n = recvfrom(lfd, buf, sizeof(buf) - 1, 0,
			    (struct sockaddr *)&from, &fromlen);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			die(1, "%s: %s", opt.mmsg ? "recvmmsg" : "recvfrom",
			    strerror(errno));
		buf[n] = '\0';
		buf[strcspn(buf, " \n")] = '\0';
		answer_text(lfd, text, sizeof(text));
		n = snprintf(reply, sizeof(reply), "%s%s%s\n", text,
		    strncmp(buf, "seq=", 4) == 0 ? " " : "",
		    strncmp(buf, "seq=", 4) == 0 ? buf : "");
		if (opt.mmsg)
			send_mmsg(lfd, reply, (size_t)n, &from, fromlen);
		else
			(void)sendto(lfd, reply, (size_t)n, 0,
			    (struct sockaddr *)&from, fromlen);
	}
}

/* Exec ourselves again with argv, where drop (if any) becomes add. */
static void __attribute__((noreturn))
exec_self(const char *drop, const char *add)
{
	char *argv[64];
	int i, n = 0;

	for (i = 0; saved_argv[i] != NULL && n < 62; i++)
		if (strcmp(saved_argv[i], drop) != 0)
			argv[n++] = saved_argv[i];
	if (add != NULL)
		argv[n++] = (char *)add;
	argv[n] = NULL;
	execv("/proc/self/exe", argv);
	die(1, "exec: %s", strerror(errno));
}

/* This process's address space in kB (VmSize), or -1. */
static long
vm_size_kb(void)
{
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/self/status", "re");

	while (f != NULL && fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "VmSize:", 7) == 0)
			kb = atol(line + 7);
	if (f != NULL)
		fclose(f);
	return kb;
}

/* Run /bin/true n times by vfork() and execl(); say how VmSize grew. */
static void
vfork_exec(int n)
{
	long before = vm_size_kb();
	int i, status;
	pid_t pid;

	for (i = 0; i < n; i++) {
		if ((pid = vfork()) == -1)
			die(1, "vfork: %s", strerror(errno));
		if (pid == 0) {
			execl("/bin/true", "true", (char *)NULL);
			_exit(127);
		}
		if (waitpid(pid, &status, 0) == -1 || !WIFEXITED(status) ||
		    WEXITSTATUS(status) != 0)
			die(1, "/bin/true after vfork failed");
	}
	say("vfork-exec %d: VmSize grew by %ld kB", n, vm_size_kb() - before);
}

/* Wait for every child, passing SIGTERM on (on_term); exit 0. */
static void __attribute__((noreturn))
wait_children(void)
{
	int status, i, left = nchildren;

	while (left > 0) {
		if (waitpid(-1, &status, 0) == -1) {
			if (errno == EINTR)
				continue;
			break;
		}
		left--;
	}
	for (i = 0; i < nchildren; i++)
		children[i] = 0;
	exit(0);
}

/* Clobber every fd above 2 the way --close-range, --close-all, --dup2-high say. */
static void
clobber_fds(void)
{
	int fd;

	if (opt.close_range && close_range(3, ~0U, 0) == -1)
		die(1, "close_range: %s", strerror(errno));
	for (fd = 3; opt.close_all && fd < 1024; fd++)
		(void)close(fd);
	for (fd = 256; opt.dup2_high && fd < 1024; fd++)
		if (dup2(0, fd) != -1)
			(void)close(fd);
}

/* Parse the command line into opt; exits 2 on anything unknown. */
static void
parse_options(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++) {
		const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		int takes = 1;

		if (strcmp(o, "--listen") == 0 && v)
			opt.listen = v;
		else if (strcmp(o, "--also") == 0 && v)
			opt.also = v;
		else if (strcmp(o, "--nonblock") == 0 && v)
			opt.nonblock = v;
		else if (strcmp(o, "--unblock") == 0 && v)
			opt.unblock = v;
		else if (strcmp(o, "--wait") == 0 && v)
			opt.wait = v;
		else if (strcmp(o, "--fork") == 0 && v)
			opt.nfork = atoi(v);
		else if (strcmp(o, "--vfork-exec") == 0 && v)
			opt.vfork_exec = atoi(v);
		else if (strcmp(o, "--rcvtimeo") == 0 && v)
			opt.rcvtimeo = atoi(v);
		else {
			takes = 0;
			if (strcmp(o, "--close-range") == 0)
				opt.close_range = 1;
			else if (strcmp(o, "--close-all") == 0)
				opt.close_all = 1;
			else if (strcmp(o, "--dup2-high") == 0)
				opt.dup2_high = 1;
			else if (strcmp(o, "--rebind") == 0)
				opt.rebind = 1;
			else if (strcmp(o, "--reexec") == 0)
				opt.reexec = 1;
			else if (strcmp(o, "--reexeced") == 0)
				opt.reexeced = 1;
			else if (strcmp(o, "--spawn-self") == 0)
				opt.spawn_self = 1;
			else if (strcmp(o, "--accept4-nonblock") == 0)
				opt.accept4_nonblock = 1;
			else if (strcmp(o, "--probe-empty") == 0)
				opt.probe_empty = 1;
			else if (strcmp(o, "--mmsg") == 0)
				opt.mmsg = 1;
			else if (strcmp(o, "--timeo-after") == 0)
				opt.timeo_after = 1;
			else
				die(2, "unknown option %s", o);
		}
		i += takes;
	}
	if (opt.listen == NULL || opt.nfork > MAX_CHILDREN)
		die(2, "usage: bindserver --listen ADDR [options]");
}

int
main(int argc, char **argv)
{
	struct sigaction sa;
	struct address a, also;
	pid_t pid;
	int lfd, i;

	saved_argv = argv;
	parse_options(argc, argv);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term;
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	say("pid %d sees LISTEN_FDS=%s LISTEN_PID=%s SERVER_STARTER_PORT=%s "
	    "EINHORN_FD_COUNT=%s", (int)getpid(),
	    getenv("LISTEN_FDS") ? getenv("LISTEN_FDS") : "-",
	    getenv("LISTEN_PID") ? getenv("LISTEN_PID") : "-",
	    getenv("SERVER_STARTER_PORT") ? getenv("SERVER_STARTER_PORT") : "-",
	    getenv("EINHORN_FD_COUNT") ? getenv("EINHORN_FD_COUNT") : "-");
	if (opt.spawn_self) {
		if ((pid = fork()) == -1)
			die(1, "fork: %s", strerror(errno));
		if (pid == 0)
			exec_self("--spawn-self", NULL);
		children[nchildren++] = pid;
		wait_children();
	}
	clobber_fds();
	parse_address(opt.listen, &a);
	lfd = bind_address(&a, 1);
	if (opt.also != NULL) {
		parse_address(opt.also, &also);
		(void)bind_address(&also, 0);
	}
	if (opt.rebind) {
		close(lfd);
		lfd = bind_address(&a, 1);
	}
	if (opt.vfork_exec > 0)
		vfork_exec(opt.vfork_exec);
	if (opt.reexec && !opt.reexeced) {
		close(lfd);
		exec_self("--reexec", "--reexeced");
	}
	for (i = 0; i < opt.nfork; i++) {
		if ((pid = fork()) == -1)
			die(1, "fork: %s", strerror(errno));
		if (pid == 0) {
			nchildren = 0;
			if (a.type == SOCK_DGRAM)
				serve_dgram(lfd);
			else
				serve_stream(lfd);
			exit(0);
		}
		children[nchildren++] = pid;
	}
	if (nchildren > 0) {
		close(lfd);
		wait_children();
	}
	if (a.type == SOCK_DGRAM)
		serve_dgram(lfd);
	else
		serve_stream(lfd);
	close(lfd);
	if (a.family == AF_UNIX)
		(void)unlink(((struct sockaddr_un *)&a.ss)->sun_path);
	say("stopped");
	return 0;
}
