/*
 * notify.c: receive sd_notify messages from workers.
 *
 * One datagram socket per supervisor, bound to an abstract address the
 * kernel picks (so there is no file to clean up, and workers that dropped
 * privileges can still reach it). SO_PASSCRED makes the kernel attach the
 * sender's real pid to every message; the supervisor trusts that pid, never
 * the message text. Any fds sent along (FDSTORE=1) are closed.
 */
#include "autoconf.h"

#include <errno.h>
#include <event2/event.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "notify.h"

#define NOTIFY_MSG_MAX	4096

struct notify {
	int		 fd;
	struct event	*ev;
	notify_cb	 cb;
	void		*arg;
	char		 name[sizeof(((struct sockaddr_un *)0)->sun_path) + 1];
};

/*
 * Split a message into KEY=VALUE lines and call line_cb for each; lines
 * without '=' or with a NUL byte make the whole message invalid (-1).
 */
int
notify_parse(const char *msg, size_t len,
    void (*line_cb)(const char *, const char *, void *), void *arg)
{
	char copy[NOTIFY_MSG_MAX + 1], *line, *next, *eq;

	if (len == 0 || len > NOTIFY_MSG_MAX || memchr(msg, '\0', len) != NULL)
		return -1;
	memcpy(copy, msg, len);
	copy[len] = '\0';
	/* Check every line first: a bad message is ignored whole. */
	for (line = copy; *line != '\0'; line = next) {
		next = line + strcspn(line, "\n");
		eq = memchr(line, '=', (size_t)(next - line));
		if (next != line && (eq == NULL || eq == line))
			return -1;
		if (*next == '\n')
			next++;
	}
	for (line = copy; *line != '\0'; line = next) {
		next = line + strcspn(line, "\n");
		if (*next == '\n')
			*next++ = '\0';
		if (*line == '\0')
			continue;
		eq = strchr(line, '=');
		*eq = '\0';
		line_cb(line, eq + 1, arg);
	}
	return 0;
}

struct notify_dispatch {
	struct notify	*n;
	pid_t		 pid;
};

/* Hand one parsed line to the supervisor's callback. */
static void
notify_line(const char *key, const char *value, void *arg)
{
	struct notify_dispatch *d = arg;

	d->n->cb(d->pid, key, value, d->n->arg);
}

/* Close any fds a message carried. */
static void
notify_close_fds(struct msghdr *mh)
{
	struct cmsghdr *cm;
	size_t i, nfds;
	int fd;

	for (cm = CMSG_FIRSTHDR(mh); cm != NULL; cm = CMSG_NXTHDR(mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		nfds = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < nfds; i++) {
			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(fd));
			close(fd);
		}
	}
}

/* Event callback: read every pending datagram. */
static void
notify_read(evutil_socket_t fd, short what, void *arg)
{
	struct notify *n = arg;
	char buf[NOTIFY_MSG_MAX + 1];
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(struct ucred)) +
				    CMSG_SPACE(sizeof(int) * 16)];
	} control;
	struct notify_dispatch d;
	struct ucred cred;
	struct cmsghdr *cm;
	struct msghdr mh;
	struct iovec iov;
	ssize_t len;
	int have_cred;

	(void)what;
	for (;;) {
		memset(&mh, 0, sizeof(mh));
		iov.iov_base = buf;
		iov.iov_len = sizeof(buf);
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = control.buf;
		mh.msg_controllen = sizeof(control.buf);
		len = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC | MSG_TRUNC);
		if (len == -1) {
			if (errno != EAGAIN && errno != EINTR)
				log_warn("notify socket: recvmsg");
			return;
		}
		notify_close_fds(&mh);
		have_cred = 0;
		for (cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm)) {
			if (cm->cmsg_level == SOL_SOCKET &&
			    cm->cmsg_type == SCM_CREDENTIALS &&
			    cm->cmsg_len == CMSG_LEN(sizeof(cred))) {
				memcpy(&cred, CMSG_DATA(cm), sizeof(cred));
				have_cred = 1;
			}
		}
		if (!have_cred || cred.pid <= 0) {
			log_debug("notify socket: message without sender "
			    "credentials ignored");
			continue;
		}
		if ((size_t)len > NOTIFY_MSG_MAX || (mh.msg_flags & MSG_TRUNC)) {
			log_debug("notify socket: oversized message from pid %d "
			    "ignored", (int)cred.pid);
			continue;
		}
		d.n = n;
		d.pid = cred.pid;
		if (notify_parse(buf, (size_t)len, notify_line, &d) == -1)
			log_debug("notify socket: malformed message from pid %d "
			    "ignored", (int)cred.pid);
	}
}

/* Open the notify socket and watch it from the event loop. */
struct notify *
notify_open(struct event_base *base, notify_cb cb, void *arg, char **cause)
{
	struct sockaddr_un sun;
	socklen_t len;
	struct notify *n;
	int one = 1, bufsize = 256 * 1024;

	if ((n = calloc(1, sizeof(*n))) == NULL) {
		*cause = strdup("out of memory");
		return NULL;
	}
	n->cb = cb;
	n->arg = arg;
	n->fd = -1;
	n->fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (n->fd == -1)
		goto fail;
	/* Binding with only the family asks the kernel for an abstract name. */
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (bind(n->fd, (struct sockaddr *)&sun, sizeof(sa_family_t)) == -1)
		goto fail;
	if (setsockopt(n->fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) == -1)
		goto fail;
	(void)setsockopt(n->fd, SOL_SOCKET, SO_RCVBUF, &bufsize, sizeof(bufsize));
	len = sizeof(sun);
	if (getsockname(n->fd, (struct sockaddr *)&sun, &len) == -1)
		goto fail;
	if (len <= offsetof(struct sockaddr_un, sun_path) + 1) {
		errno = EADDRNOTAVAIL;
		goto fail;
	}
	n->name[0] = '@';
	memcpy(n->name + 1, sun.sun_path + 1,
	    len - offsetof(struct sockaddr_un, sun_path) - 1);
	n->ev = event_new(base, n->fd, EV_READ | EV_PERSIST, notify_read, n);
	if (n->ev == NULL || event_add(n->ev, NULL) == -1)
		goto fail;
	return n;
fail:
	if (asprintf(cause, "notify socket: %s", strerror(errno)) == -1)
		*cause = NULL;
	notify_close(n);
	return NULL;
}

/* The NOTIFY_SOCKET value workers get ("@" + the abstract name). */
const char *
notify_socket_name(const struct notify *n)
{
	return n->name;
}

/* Close the notify socket. */
void
notify_close(struct notify *n)
{
	if (n == NULL)
		return;
	if (n->ev != NULL)
		event_free(n->ev);
	if (n->fd != -1)
		close(n->fd);
	free(n);
}

/* The NOTIFY_SOCKET the supervisor itself was started with, if any. */
static struct sockaddr_un notify_self_addr;
static socklen_t notify_self_len;

/* Remember the service manager's NOTIFY_SOCKET (systemd Type=notify). */
void
notify_self_init(void)
{
	const char *path = getenv("NOTIFY_SOCKET");
	size_t len;

	notify_self_len = 0;
	if (path == NULL || (path[0] != '/' && path[0] != '@'))
		return;
	len = strlen(path);
	if (len >= sizeof(notify_self_addr.sun_path))
		return;
	memset(&notify_self_addr, 0, sizeof(notify_self_addr));
	notify_self_addr.sun_family = AF_UNIX;
	memcpy(notify_self_addr.sun_path, path, len);
	if (path[0] == '@')
		notify_self_addr.sun_path[0] = '\0';
	notify_self_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
	    len + (path[0] == '/' ? 1 : 0));
}

/* Send READY=1, RELOADING=1, STATUS=... to the service manager, if any. */
void
notify_self(const char *text)
{
	int fd;

	if (notify_self_len == 0)
		return;
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return;
	if (sendto(fd, text, strlen(text), MSG_NOSIGNAL,
	    (struct sockaddr *)&notify_self_addr, notify_self_len) == -1)
		log_debug("notify %s to the service manager: %s", text,
		    strerror(errno));
	close(fd);
}
