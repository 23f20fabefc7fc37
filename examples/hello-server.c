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
 *   cc -o hello-server hello-server.c $(pkg-config --cflags --libs handoff)
 *   handoff run --listen 127.0.0.1:8080=web --ready notify -- ./hello-server --name web
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE	/* accept4, ppoll */
#endif

#include <sys/socket.h>
#include <sys/time.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <handoff.h>

#define MAX_LISTENERS 16

static volatile sig_atomic_t stop_requested;

/* Remembers that SIGTERM or SIGINT arrived; the main loop does the rest. */
static void on_stop_signal(int signo)
{
	(void)signo;
	stop_requested = 1;
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

/* Answers one connection: reads the request head, says hello, closes the fd. */
static void serve(int fd, const char *generation)
{
	struct timeval timeout = { .tv_sec = 5 };
	char request[4096], body[128], response[512];
	size_t len = 0;
	ssize_t got;
	int n;

	/* A client that stalls must not hold up everyone else for long. */
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
	while (len < sizeof request - 1 &&
	    (got = read(fd, request + len, sizeof request - 1 - len)) > 0) {
		len += (size_t)got;
		request[len] = '\0';
		if (strstr(request, "\r\n\r\n") != NULL)	/* end of the head */
			break;
	}
	snprintf(body, sizeof body, "hello from pid %d (generation %s)\n",
	    (int)getpid(), generation);
	n = snprintf(response, sizeof response, "HTTP/1.0 200 OK\r\n"
	    "Content-Type: text/plain\r\nContent-Length: %zu\r\n"
	    "Connection: close\r\n\r\n%s", strlen(body), body);
	send(fd, response, (size_t)n, MSG_NOSIGNAL);
	close(fd);
}

int main(int argc, char **argv)
{
	const char *address = "127.0.0.1:8080", *generation, *names, *name = NULL;
	struct sigaction action = { .sa_handler = on_stop_signal };
	struct pollfd listeners[MAX_LISTENERS];
	int fds[MAX_LISTENERS], count, i, fd, r;
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

	/* Stop signals are blocked except while waiting in ppoll(), so they never
	   interrupt a request: the one in hand is always finished. */
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

	while (!stop_requested) {
		if (ppoll(listeners, (nfds_t)count, NULL, &while_waiting) == -1) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "hello-server: poll: %s\n", strerror(errno));
			return 1;
		}
		for (i = 0; i < count; i++) {
			if (!(listeners[i].revents & POLLIN))
				continue;
			if ((fd = accept4(listeners[i].fd, NULL, NULL, SOCK_CLOEXEC)) != -1)
				serve(fd, generation);
			else if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != ECONNABORTED && errno != EINTR)
				fprintf(stderr, "hello-server: accept: %s\n", strerror(errno));
		}
	}

	/* Draining: no new connections; the supervisor keeps the sockets open for
	   the next generation. Requests in flight were finished above. */
	if ((r = handoff_stopping()) < 0)
		fprintf(stderr, "hello-server: NOTIFY_SOCKET: %s\n", strerror(-r));
	for (i = 0; i < count; i++)
		close(fds[i]);
	fprintf(stderr, "hello-server: pid %d stopped\n", (int)getpid());
	return 0;
}
