/*
 * libhandoff.c: the server side of the socket and readiness protocols, as
 * systemd defines them and handoff speaks them, with nothing beyond libc.
 *
 * Sockets: LISTEN_PID is the pid they were passed to, LISTEN_FDS how many
 * (at fds 3, 4, ...), LISTEN_FDNAMES their names, ':'-separated. State:
 * one datagram of KEY=VALUE lines to the unix socket NOTIFY_SOCKET names, a
 * path or "@name" for an abstract socket.
 *
 * Nothing is kept between calls and the environment is never changed, so
 * every function may be called again, from any thread.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE		/* vsnprintf, MSG_NOSIGNAL, SOCK_CLOEXEC */
#endif

#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "handoff.h"
#include "handoff-internal.h"
#include "unixaddr.h"

/* Parse a whole decimal number into *value: -EINVAL if s is not one,
   -ERANGE if it is beyond an int (as libsystemd's parsers say). */
static int
handoff_parse(const char *s, long *value)
{
	char *end;
	long n;

	if (*s < '0' || *s > '9')	/* no sign, no blank */
		return -EINVAL;
	errno = 0;
	n = strtol(s, &end, 10);
	if (*end != '\0')
		return -EINVAL;
	if (errno != 0 || n > INT_MAX)
		return -ERANGE;
	*value = n;
	return 0;
}

/* The number of sockets passed to this process, as sd_listen_fds(0): 0 when
   LISTEN_PID or LISTEN_FDS is unset or LISTEN_PID names another process;
   -EINVAL when either is not a number or LISTEN_FDS is 0, -ERANGE when
   LISTEN_PID is 0 or beyond a pid, as sd_listen_fds. Marks each fd close-on-exec, so that
   what this process runs does not hold its sockets (-EBADF if one is not
   open). The environment is left as it is. */
int
handoff_listen_fds(void)
{
	const char *pid = getenv("LISTEN_PID"), *fds = getenv("LISTEN_FDS");
	long owner, n, fd;
	int flags, r;

	if (pid == NULL)
		return 0;
	if ((r = handoff_parse(pid, &owner)) < 0)
		return r;
	if (owner == 0)
		return -ERANGE;
	if (owner != (long)getpid())
		return 0;	/* passed to another process, our parent maybe */
	if (fds == NULL)
		return 0;
	if ((r = handoff_parse(fds, &n)) < 0)
		return r;
	if (n == 0 || n > INT_MAX - HANDOFF_LISTEN_FDS_START)
		return -EINVAL;
	for (fd = HANDOFF_LISTEN_FDS_START; fd < HANDOFF_LISTEN_FDS_START + n;
	    fd++) {
		if ((flags = fcntl((int)fd, F_GETFD)) == -1 ||
		    (!(flags & FD_CLOEXEC) &&
		    fcntl((int)fd, F_SETFD, flags | FD_CLOEXEC) == -1))
			return -errno;
	}
	return (int)n;
}

/* The fd whose LISTEN_FDNAMES name is name (the first, if several are);
   -ENOENT if none is or no socket was passed to this process, -EINVAL if
   name is empty or LISTEN_FDNAMES does not name every fd. */
int
handoff_listener_fd(const char *name)
{
	const char *names = getenv("LISTEN_FDNAMES"), *p, *end;
	size_t len;
	int n, i, found = -ENOENT;

	if (name == NULL || *name == '\0' || strchr(name, ':') != NULL)
		return -EINVAL;
	if ((n = handoff_listen_fds()) <= 0)
		return n < 0 ? n : -ENOENT;
	if (names == NULL)
		return -ENOENT;		/* no fd has a name */
	len = strlen(name);
	for (i = 0, p = names;; i++, p = end + 1) {
		end = p + strcspn(p, ":");
		if (found == -ENOENT && (size_t)(end - p) == len &&
		    memcmp(p, name, len) == 0)
			found = HANDOFF_LISTEN_FDS_START + i;
		if (*end == '\0')
			break;
	}
	/* One name per fd, as systemd checks: otherwise which fd is whose? */
	return i + 1 == n ? found : -EINVAL;
}

/* Send len bytes of msg as one datagram to NOTIFY_SOCKET: 1 when sent, 0
   when NOTIFY_SOCKET is unset or empty, or a negative errno (-EAFNOSUPPORT
   when it is neither an absolute path nor "@name", -ENAMETOOLONG when it is
   too long for a unix socket address). */
int
handoff_notify_send(const char *msg, size_t len)
{
	const char *path = getenv("NOTIFY_SOCKET"), *why;
	struct sockaddr_un sun;
	socklen_t sunlen;
	int fd, r = 1, saved;

	if (path == NULL || *path == '\0')
		return 0;
	if (path[0] != '/' && path[0] != '@')
		return -EAFNOSUPPORT;
	/* EINVAL for "@" alone (an abstract socket with no name),
	   ENAMETOOLONG beyond UNIXADDR_PATH_MAX bytes; errno as it was. */
	saved = errno;
	if (unixaddr_make(path, UNIXADDR_NAMED, &sun, &sunlen, &why) == -1) {
		r = -errno;
		errno = saved;
		return r;
	}
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return -errno;
	while (sendto(fd, msg, len, MSG_NOSIGNAL, (struct sockaddr *)&sun,
	    sunlen) == -1) {
		if (errno != EINTR) {
			r = -errno;
			break;
		}
	}
	close(fd);
	return r;
}

/* Say READY=1: this process serves now. */
int
handoff_ready(void)
{
	return handoff_notify_send("READY=1", strlen("READY=1"));
}

/* Say STOPPING=1: this process accepts no more and is finishing. */
int
handoff_stopping(void)
{
	return handoff_notify_send("STOPPING=1", strlen("STOPPING=1"));
}

/* Say STATUS=text, text formatted from fmt: one line, shown by `handoff
   status` (and systemctl status). -EINVAL if the text holds a newline or
   a NUL, -EMSGSIZE if the message is longer than HANDOFF_NOTIFY_MAX. */
int
handoff_status(const char *fmt, ...)
{
	static const char key[] = "STATUS=";
	char msg[HANDOFF_NOTIFY_MAX + 1];
	size_t len;
	va_list ap;
	int n;

	if (fmt == NULL)
		return -EINVAL;
	memcpy(msg, key, sizeof(key) - 1);
	errno = 0;
	va_start(ap, fmt);
	n = vsnprintf(msg + sizeof(key) - 1, sizeof(msg) - (sizeof(key) - 1),
	    fmt, ap);
	va_end(ap);
	if (n < 0)
		return errno != 0 ? -errno : -EINVAL;
	len = sizeof(key) - 1 + (size_t)n;
	if (len > HANDOFF_NOTIFY_MAX)
		return -EMSGSIZE;
	/* A newline would start another KEY=VALUE line; a NUL makes the
	   supervisor drop the whole message. */
	if (memchr(msg, '\n', len) != NULL || memchr(msg, '\0', len) != NULL)
		return -EINVAL;
	return handoff_notify_send(msg, len);
}
