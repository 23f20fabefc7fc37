/*
 * outstore.c: the workers' output pipes kept in the service manager's fd
 * store.
 *
 * A worker's stdout and stderr are the write end of a pipe whose read end
 * the supervisor holds (output.c). When the supervisor dies, that read end
 * closes with it, and a worker that goes on serving gets EPIPE (or dies of
 * SIGPIPE) at its next line of output. Under systemd with an fd store, the
 * read end of each worker's pipe is stored too, as "output.PID": the
 * manager's copy keeps the pipe open across the crash, and the next
 * supervisor, recovering the orphaned workers (recover.c), takes the pipe
 * of each back and logs what it wrote meanwhile and until it exits. A pipe
 * leaves the store (FDSTOREREMOVE=1) when the supervisor is done with it:
 * the worker is gone and its output read.
 *
 * Between the crash and the restart nobody reads: a worker that writes
 * more than a pipe holds (64 KiB) waits for the next supervisor.
 *
 * Names: "output." and the pid in decimal. A listener's socket is stored
 * as "LISTENER#SLOT" (fdstore.c), which always has a '#': the two never
 * meet.
 */
#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "outstore.h"
#include "sdnotify.h"

/* A pipe that came back from the store, until an orphan's output takes it. */
struct outstore_pipe {
	pid_t		 pid;
	int		 fd;		/* -1 once taken */
};

static bool outstore_on;
static struct outstore_pipe *outstore_pipes;
static size_t outstore_npipes;

/* Store pipes from now on (the fd store is on), or not. */
void
outstore_enable(bool on)
{
	outstore_on = on;
}

/* Send text about pid's pipe (with fd attached, or -1); -1 if unsent. */
static int
outstore_send(const char *what, pid_t pid, int fd)
{
	char text[64];

	snprintf(text, sizeof(text), "%s\nFDNAME=" OUTSTORE_PREFIX "%d", what,
	    (int)pid);
	return sdnotify_send(text, fd);
}

/*
 * Store fd, the read end of worker pid's output pipe (the manager gets a
 * copy; fd stays the caller's). Failing costs only the pipe's survival of
 * a crash: logged at debug level.
 */
void
outstore_put(pid_t pid, int fd)
{
	if (!outstore_on)
		return;
	if (outstore_send("FDSTORE=1", pid, fd) == -1)
		log_debug("fd store: cannot store the output of pid %d: %s",
		    (int)pid, strerror(errno));
}

/* Take worker pid's output pipe out of the store: its output is read. */
void
outstore_remove(pid_t pid)
{
	if (!outstore_on || pid <= 0)
		return;
	if (outstore_send("FDSTOREREMOVE=1", pid, -1) == -1)
		log_debug("fd store: cannot take the output of pid %d out: %s",
		    (int)pid, strerror(errno));
}

/* Tell whether name is a stored output's ("output.PID"); its pid if so. */
bool
outstore_parse_name(const char *name, pid_t *pid)
{
	const char *p = name + strlen(OUTSTORE_PREFIX);
	long n = 0;

	if (strncmp(name, OUTSTORE_PREFIX, strlen(OUTSTORE_PREFIX)) != 0 ||
	    *p == '\0' || *p == '0')
		return false;
	for (; *p != '\0'; p++) {
		if (*p < '0' || *p > '9' || n > 99999999)
			return false;
		n = n * 10 + (*p - '0');
	}
	*pid = (pid_t)n;
	return true;
}

/*
 * Keep fd, a pipe the manager passed back as pid's output, until an
 * orphan takes it (outstore_take) or outstore_finish: the fd is ours from
 * now on, CLOEXEC and non-blocking. 0, or -1 (out of memory; fd closed).
 */
int
outstore_adopt(int fd, pid_t pid)
{
	struct outstore_pipe *grown;
	int flags;

	if ((flags = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) == -1 ||
	    (grown = reallocarray(outstore_pipes, outstore_npipes + 1,
	    sizeof(*grown))) == NULL) {
		close(fd);
		return -1;
	}
	outstore_pipes = grown;
	outstore_pipes[outstore_npipes].pid = pid;
	outstore_pipes[outstore_npipes].fd = fd;
	outstore_npipes++;
	return 0;
}

/* The pipe stored as pid's output (the caller's from now on), or -1. */
int
outstore_take(pid_t pid)
{
	size_t i;
	int fd;

	for (i = 0; i < outstore_npipes; i++) {
		if (outstore_pipes[i].pid != pid || outstore_pipes[i].fd == -1)
			continue;
		fd = outstore_pipes[i].fd;
		outstore_pipes[i].fd = -1;
		return fd;
	}
	return -1;
}

/* How many stored pipes wait for an orphan. */
size_t
outstore_pending(void)
{
	size_t i, n = 0;

	for (i = 0; i < outstore_npipes; i++)
		if (outstore_pipes[i].fd != -1)
			n++;
	return n;
}

/*
 * The orphans took their pipes: those left belong to workers that are
 * gone. Out of the store and closed.
 */
void
outstore_finish(void)
{
	size_t i;

	for (i = 0; i < outstore_npipes; i++) {
		if (outstore_pipes[i].fd == -1)
			continue;
		log_debug("fd store: the output of pid %d has no worker any "
		    "more: taken out", (int)outstore_pipes[i].pid);
		(void)outstore_send("FDSTOREREMOVE=1", outstore_pipes[i].pid, -1);
		close(outstore_pipes[i].fd);
	}
	free(outstore_pipes);
	outstore_pipes = NULL;
	outstore_npipes = 0;
}
