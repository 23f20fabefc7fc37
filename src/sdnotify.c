/*
 * sdnotify.c: the supervisor's own messages to its service manager.
 *
 * When systemd runs the supervisor as a Type=notify service, it passes
 * NOTIFY_SOCKET, and the supervisor says:
 *
 *	READY=1, MAINPID=PID	once the first generation of every program
 *				is ready (MAINPID: the supervisor's pid)
 *	RELOADING=1		as each reload begins, with MONOTONIC_USEC=
 *				(CLOCK_MONOTONIC, microseconds), which
 *				Type=notify-reload (systemd 253) requires
 *	READY=1			once that reload ended, taken over or failed
 *	STOPPING=1		as it begins to stop
 *	STATUS=...		its state in words, with each of these
 *	FDSTORE=1, FDSTOREREMOVE=1	the fd store (fdstore.c)
 *
 * Each message goes in a datagram of its own, from a socket of its own,
 * so that a manager that re-created its socket (daemon-reexec) still gets
 * the next one. A manager that does not read for 2 seconds loses the
 * message rather than stopping the supervisor. Without NOTIFY_SOCKET
 * nothing is sent.
 */
#include "autoconf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "fdpass.h"
#include "log.h"
#include "sdnotify.h"
#include "unixaddr.h"

/* How long a message may wait for room in the manager's queue. */
#define SDNOTIFY_SEND_TIMEOUT_S	2

/* The longest STATUS= text sent; longer ones are cut. */
#define SDNOTIFY_STATUS_MAX	400

/* The manager's NOTIFY_SOCKET, if the supervisor was given one. */
static struct sockaddr_un sdnotify_addr;
static socklen_t sdnotify_len;

/*
 * Remember the service manager's NOTIFY_SOCKET, if any (systemd
 * Type=notify). One that cannot be a unix socket's address is named in
 * the log: the manager would wait for READY=1 in vain.
 */
void
sdnotify_init(void)
{
	const char *path = getenv("NOTIFY_SOCKET"), *why;

	sdnotify_len = 0;
	if (path != NULL && unixaddr_make(path, UNIXADDR_NAMED,
	    &sdnotify_addr, &sdnotify_len, &why) == -1) {
		sdnotify_len = 0;
		log_warnx("NOTIFY_SOCKET: %s: the service manager is not told "
		    "when the supervisor is ready, reloads or stops, and no "
		    "socket goes to its fd store", why);
	}
}

/* Tell whether a service manager listens to the supervisor. */
bool
sdnotify_active(void)
{
	return sdnotify_len != 0;
}

/*
 * Send text to the service manager, with fd attached unless it is -1
 * (the fd stays the caller's). 0, or -1 with errno (ENOTCONN: there is
 * no manager to send to).
 */
int
sdnotify_send(const char *text, int fd)
{
	struct timeval tv = { SDNOTIFY_SEND_TIMEOUT_S, 0 };
	struct iovec iov;
	int sock, saved;
	ssize_t n;

	if (sdnotify_len == 0) {
		errno = ENOTCONN;
		return -1;
	}
	if ((sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	(void)setsockopt(sock, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	iov.iov_base = (void *)text;
	iov.iov_len = strlen(text);
	if (connect(sock, (struct sockaddr *)&sdnotify_addr,
	    sdnotify_len) == -1)
		n = -1;
	else
		n = fdpass_send(sock, &iov, 1, &fd, fd == -1 ? 0 : 1, 0);
	saved = errno;
	close(sock);
	errno = saved;
	return n == -1 ? -1 : 0;
}

/* Send text, logging (at debug) what goes wrong. */
static void
sdnotify_say(const char *text)
{
	if (sdnotify_len != 0 && sdnotify_send(text, -1) == -1)
		log_debug("cannot tell the service manager %.*s: %s",
		    (int)strcspn(text, "\n"), text, strerror(errno));
}

/*
 * READY=1 with the state in words (STATUS=); the first time (first) also
 * MAINPID=, the supervisor's pid.
 */
void
sdnotify_ready(bool first, const char *fmt, ...)
{
	char status[SDNOTIFY_STATUS_MAX], text[SDNOTIFY_STATUS_MAX + 64];
	va_list ap;

	if (sdnotify_len == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(status, sizeof(status), fmt, ap);
	va_end(ap);
	/* A line break would end STATUS= early. */
	status[strcspn(status, "\n")] = '\0';
	if (first)
		snprintf(text, sizeof(text), "READY=1\nMAINPID=%ld\nSTATUS=%s",
		    (long)getpid(), status);
	else
		snprintf(text, sizeof(text), "READY=1\nSTATUS=%s", status);
	sdnotify_say(text);
}

/* RELOADING=1 with MONOTONIC_USEC=, as a reload begins. */
void
sdnotify_reloading(void)
{
	struct timespec ts;
	char text[128];

	if (sdnotify_len == 0)
		return;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	snprintf(text, sizeof(text), "RELOADING=1\nSTATUS=reloading\n"
	    "MONOTONIC_USEC=%llu", (unsigned long long)ts.tv_sec * 1000000ULL +
	    (unsigned long long)ts.tv_nsec / 1000ULL);
	sdnotify_say(text);
}

/* STOPPING=1, as the supervisor begins to stop. */
void
sdnotify_stopping(void)
{
	sdnotify_say("STOPPING=1\nSTATUS=stopping");
}
