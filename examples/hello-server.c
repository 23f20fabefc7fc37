#ifdef HAVE_CONFIG_H
#include "autoconf.h"
#endif
/*
 * hello-server: the smallest server that hands off cleanly under handoff.
 *
 * It takes its listening sockets from the supervisor (systemd's LISTEN_FDS,
 * through libhandoff: all of them, or with --name NAME the one LISTEN_FDNAMES
 * names NAME; else Server::Starter's SERVER_STARTER_PORT), or binds --listen
 * HOST:PORT itself so that it also runs alone. It says READY=1 to
 * NOTIFY_SOCKET once it accepts, and on SIGTERM it says STOPPING=1, stops
 * accepting, finishes the request in hand and exits 0: that is all a
 * zero-downtime handoff needs from an app.
 *
 *   GET /               gen=G pid=PID worker=W hello from c
 *   GET /slow?ms=N      the same after N milliseconds (at most 30000)
 *
 * A request body (Content-Length) is read before the answer.
 *
 *   cc -o hello-server hello-server.c $(pkg-config --cflags --libs handoff)
 *   handoff run --listen 127.0.0.1:8080=web --ready notify -- ./hello-server --name web
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE	/* accept4, ppoll */
#endif

#include <sys/socket.h>
#include <sys/time.h>

#include <ctype.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <handoff.h>

#define MAX_LISTENERS 16

static volatile sig_atomic_t stop_requested;

/* Remembers that SIGTERM or SIGINT arrived, and says so once (write(2) is
   safe in a signal handler); the main loop does the rest. */
static void on_stop_signal(int signo)
{
	static const char msg[] = "hello-server: stop signal: no longer "
	    "accepting; finishing what was accepted\n";
	int saved = errno;
	ssize_t said;

	(void)signo;
	if (!stop_requested) {
		said = write(STDERR_FILENO, msg, sizeof msg - 1);
		(void)said;	/* nowhere else to say it */
	}
	stop_requested = 1;
	errno = saved;
}

/* Returns the non-negative number s spells, or -1 if it spells none. */
static long parse_number(const char *s)
{
	char *end;
	long n;

	errno = 0;
	n = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno != 0 || n < 0 || n > 65535)
		return -1;
	return n;
}

/* Puts the fds the supervisor passed in fds[] (only the one named name, if
   name is not NULL); returns how many (0 if it passed none), or -1 after
   saying what is wrong. */
static int inherited_fds(int *fds, const char *name)
{
	const char *ports = getenv("SERVER_STARTER_PORT");
	char *copy, *item, *save;
	long n, fd;
	int r;

	/* systemd's protocol, as handoff speaks it: fds 3, 4, ... */
	if (name != NULL) {
		if ((r = handoff_listener_fd(name)) < 0) {
			fprintf(stderr, "hello-server: no socket named %s: %s\n", name,
			    strerror(-r));
			return -1;
		}
		fds[0] = r;
		return 1;
	}
	if ((r = handoff_listen_fds()) < 0 || r > MAX_LISTENERS) {
		fprintf(stderr, "hello-server: LISTEN_FDS: %s\n",
		    r < 0 ? strerror(-r) : "too many sockets");
		return -1;
	}
	for (fd = 0; fd < r; fd++)
		fds[fd] = HANDOFF_LISTEN_FDS_START + (int)fd;
	if (r > 0)
		return r;
	if (ports == NULL)
		return 0;
	/* Server::Starter: "127.0.0.1:8080=3;/run/s.sock=4"; we need the numbers. */
	if ((copy = strdup(ports)) == NULL)
		return -1;
	n = 0;
	for (item = strtok_r(copy, ";", &save); item != NULL;
	    item = strtok_r(NULL, ";", &save)) {
		fd = strrchr(item, '=') ? parse_number(strrchr(item, '=') + 1) : -1;
		if (fd < 0 || n == MAX_LISTENERS) {
			fprintf(stderr, "hello-server: bad SERVER_STARTER_PORT %s\n", ports);
			free(copy);
			return -1;
		}
		fds[n++] = (int)fd;
	}
	free(copy);
	return (int)n;
}

/* Binds and listens on HOST:PORT ("[::1]:8080" for IPv6); returns the fd or -1. */
static int listen_on(const char *address)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
	    .ai_flags = AI_PASSIVE | AI_NUMERICSERV }, *res;
	const char *colon = strrchr(address, ':');
	char host[256];
	int fd, on = 1, error;

	if (colon == NULL || (size_t)(colon - address) >= sizeof host) {
		fprintf(stderr, "hello-server: %s: expected HOST:PORT\n", address);
		return -1;
	}
	memcpy(host, address, colon - address);
	host[colon - address] = '\0';
	if (host[0] == '[' && colon[-1] == ']') {	/* [::1]:8080 */
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	}
	if ((error = getaddrinfo(host, colon + 1, &hints, &res)) != 0) {
		fprintf(stderr, "hello-server: %s: %s\n", address, gai_strerror(error));
		return -1;
	}
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) == -1 ||
	    bind(fd, res->ai_addr, res->ai_addrlen) == -1 || listen(fd, 128) == -1) {
		fprintf(stderr, "hello-server: %s: %s\n", address, strerror(errno));
		if (fd != -1)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return fd;
}

/* Reads into buf until it holds want bytes, the peer stops sending, or the
   client stalls; a stop signal does not cut the request short. Returns the
   bytes held. */
static size_t read_until(int fd, char *buf, size_t len, size_t want,
    const char *marker)
{
	ssize_t got;

	while (len < want) {
		got = read(fd, buf + len, want - len);
		if (got == -1 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		len += (size_t)got;
		buf[len] = '\0';
		if (marker != NULL && strstr(buf, marker) != NULL)
			break;
	}
	return len;
}

/* Sleeps ms milliseconds, whatever signals arrive meanwhile. */
static void sleep_ms(long ms)
{
	struct timespec left = { .tv_sec = ms / 1000,
	    .tv_nsec = (ms % 1000) * 1000000L };

	while (nanosleep(&left, &left) == -1 && errno == EINTR)
		;
}

/* Answers one connection: reads the request and its body, waits on /slow,
   says who answers, closes the fd. */
static void serve(int fd, const char *generation, const char *worker)
{
	struct timeval timeout = { .tv_sec = 10 };
	char request[4096], body[128], response[512], *end, *p, *query;
	const char *status = "200 OK";
	size_t len, head, sent;
	long length = 0, ms = 0;
	ssize_t n;
	int size;

	/* A client that stalls must not hold up everyone else for long. */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
	request[0] = '\0';
	len = read_until(fd, request, 0, sizeof request - 1, "\r\n\r\n");
	if ((end = strstr(request, "\r\n\r\n")) == NULL) {
		close(fd);	/* no whole request: nothing to answer */
		return;
	}
	head = (size_t)(end + 4 - request);
	for (p = strchr(request, '\n'); p != NULL && p < end;
	    p = strchr(p + 1, '\n'))
		if (strncasecmp(p + 1, "Content-Length:", 15) == 0)
			length = strtol(p + 16, NULL, 10);
	/* The body: what came with the head, then the rest (up to our buffer). */
	if (length > 0 && head + (size_t)length < sizeof request)
		read_until(fd, request, len, head + (size_t)length, NULL);
	else if (length != 0)
		status = "413 Payload Too Large";
	/* "GET /slow?ms=N HTTP/1.1": the path and query, up to the blank. */
	if ((p = strchr(request, ' ')) != NULL)
		p[strcspn(p + 1, " \r\n") + 1] = '\0';
	if ((query = p != NULL ? strchr(p + 1, '?') : NULL) != NULL)
		*query++ = '\0';
	if (p == NULL || (strcmp(p + 1, "/") != 0 && strcmp(p + 1, "/slow") != 0))
		status = "404 Not Found";
	else if (query != NULL && strncmp(query, "ms=", 3) == 0 &&
	    isdigit((unsigned char)query[3]))
		ms = strtol(query + 3, NULL, 10);
	if (strcmp(status, "200 OK") == 0 && strcmp(p + 1, "/slow") == 0)
		sleep_ms(ms < 0 || ms > 30000 ? 30000 : ms);
	snprintf(body, sizeof body, "gen=%s pid=%d worker=%s hello from c\n",
	    generation, (int)getpid(), worker);
	size = snprintf(response, sizeof response, "HTTP/1.0 %s\r\n"
	    "Content-Type: text/plain\r\nContent-Length: %zu\r\n"
	    "Connection: close\r\n\r\n%s", status, strlen(body), body);
	for (sent = 0; sent < (size_t)size; sent += (size_t)n) {
		n = send(fd, response + sent, (size_t)size - sent, MSG_NOSIGNAL);
		if (n == -1 && errno == EINTR)
			n = 0;
		else if (n <= 0)
			break;
	}
	close(fd);
}

int main(int argc, char **argv)
{
	const char *address = "127.0.0.1:8080", *generation, *worker, *names;
	const char *name = NULL;
	struct sigaction action = { .sa_handler = on_stop_signal };
	struct pollfd listeners[MAX_LISTENERS];
	int fds[MAX_LISTENERS], count, open_listeners, i, fd, r;
	sigset_t stop_signals, while_waiting;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--listen") == 0 && i + 1 < argc)
			address = argv[++i];
		else if (strcmp(argv[i], "--name") == 0 && i + 1 < argc)
			name = argv[++i];
		else {
			fprintf(stderr, "usage: hello-server [--listen HOST:PORT] "
			    "[--name NAME]\n");
			return 2;
		}
	}
	generation = getenv("HANDOFF_GENERATION") ? getenv("HANDOFF_GENERATION") : "-";
	worker = getenv("HANDOFF_WORKER") ? getenv("HANDOFF_WORKER") : "-";

	/* Stop signals are blocked but while waiting in ppoll() and while
	   serving, where they only set stop_requested: the request in hand is
	   always finished, and none is accepted once one arrived. */
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGTERM);
	sigaddset(&stop_signals, SIGINT);
	sigprocmask(SIG_BLOCK, &stop_signals, &while_waiting);
	sigdelset(&while_waiting, SIGTERM);
	sigdelset(&while_waiting, SIGINT);
	sigaction(SIGTERM, &action, NULL);
	sigaction(SIGINT, &action, NULL);

	if ((count = inherited_fds(fds, name)) == -1)
		return 1;
	if (count == 0) {
		if ((fds[0] = listen_on(address)) == -1)
			return 1;
		count = 1;
	}
	for (i = 0; i < count; i++) {
		/* Other processes (the next generation) accept from the same sockets,
		   so a wakeup may find nothing: accept must not block then. */
		if (fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) | O_NONBLOCK) == -1) {
			fprintf(stderr, "hello-server: fd %d: %s\n", fds[i], strerror(errno));
			return 1;
		}
		listeners[i] = (struct pollfd){ .fd = fds[i], .events = POLLIN };
	}
	names = getenv("LISTEN_FDNAMES");
	fprintf(stderr, "hello-server: pid %d generation %s serving %d socket(s)%s%s\n",
	    (int)getpid(), generation, count, names ? " named " : "", names ? names : "");
	/* Shown by `handoff status`; 0 (nothing sent) when run alone. */
	if ((r = handoff_status("serving %d socket(s)", count)) < 0 ||
	    (r = handoff_ready()) < 0)
		fprintf(stderr, "hello-server: NOTIFY_SOCKET: %s\n", strerror(-r));

	open_listeners = count;
	while (!stop_requested && open_listeners > 0) {
		if (ppoll(listeners, (nfds_t)count, NULL, &while_waiting) == -1) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "hello-server: poll: %s\n", strerror(errno));
			return 1;
		}
		for (i = 0; i < count; i++) {
			/* A socket shut down (under handoff = reuseport, the slot
			   of a worker the config no longer has) accepts nothing
			   more: stop watching it, or poll would return at once,
			   again and again, and a stop signal (delivered only in a
			   ppoll that waits) would never be seen. */
			if (listeners[i].revents & (POLLHUP | POLLERR | POLLNVAL)) {
				listeners[i].fd = -1;
				open_listeners--;
				continue;
			}
			if (!(listeners[i].revents & POLLIN))
				continue;
			if ((fd = accept4(listeners[i].fd, NULL, NULL, SOCK_CLOEXEC)) != -1) {
				sigprocmask(SIG_SETMASK, &while_waiting, NULL);
				serve(fd, generation, worker);
				sigprocmask(SIG_BLOCK, &stop_signals, NULL);
				if (stop_requested)
					break;
			} else if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != ECONNABORTED && errno != EINTR)
				fprintf(stderr, "hello-server: accept: %s\n", strerror(errno));
		}
	}

	/* Draining: no new connections; the supervisor keeps the sockets open for
	   the next generation. Requests in flight were finished above. With
	   every socket shut down there is nothing to serve: it stops as if told. */
	if (open_listeners == 0)
		fprintf(stderr, "hello-server: pid %d: every socket was shut down\n",
		    (int)getpid());
	if ((r = handoff_stopping()) < 0)
		fprintf(stderr, "hello-server: NOTIFY_SOCKET: %s\n", strerror(-r));
	for (i = 0; i < count; i++)
		close(fds[i]);
	fprintf(stderr, "hello-server: pid %d stopped\n", (int)getpid());
	return 0;
}
