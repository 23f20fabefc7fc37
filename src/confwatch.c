/*
 * confwatch.c: tell when the config file is written.
 *
 * An inotify watch on the file's directory, not on the file: an editor
 * or a deploy tool often writes a new file and renames it over the old
 * one, which a watch on the old file's inode would miss. What counts is
 * a file of the config's name closed after writing (IN_CLOSE_WRITE) or
 * moved to that name (IN_MOVED_TO); the queue overflowing counts too (it
 * may have held one). Every other name in the directory is passed over.
 * The callback runs once per wakeup, however many events it read. A
 * directory removed or renamed ends the watch (confwatch_lost), as a
 * path that names no file there any more.
 *
 * A busy directory (another program's files written thousands of times a
 * second: a shared or world-writable one such as /tmp) must not keep the
 * supervisor awake for each: a wakeup that comes within CONFWATCH_BUSY_MS
 * of the one before leaves the queue alone for that long, so the events
 * that come meanwhile are read at once, and a write of the config may be
 * read ahead that much later. A queue overflowing meanwhile counts as a
 * write, as always.
 *
 * Nothing depends on it but speed: the supervisor reads the file ahead
 * of a reload, and a reload still reads the file itself and uses what
 * was read ahead only if the text is the same. Without inotify (or its
 * watches used up), there is simply no reading ahead. A quiet directory
 * costs no wakeup.
 */
#include "autoconf.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "cause.h"
#include "confwatch.h"
#include "loopstat.h"
#include "parse.h"

#define CONFWATCH_BUSY_MS	10	/* wakeups this close: wait this long */
#define CONFWATCH_READS		16	/* reads of events per wakeup, at most */

struct confwatch {
	int		 fd;		/* the inotify instance */
	struct event	*ev;
	struct event	*resume;	/* ends a wait of a busy directory */
	struct timespec	 woke;		/* the last wakeup (monotonic) */
	char		*name;		/* the file's name in its directory */
	bool		 lost;		/* the directory went: confwatch_lost */
	confwatch_fn	 written;
	void		*arg;
};

/* inotify: something in the directory changed; was it the file? */
static void
confwatch_readable(evutil_socket_t fd, short what, void *arg)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	const struct inotify_event *ie;
	static const struct timeval busy = { 0, CONFWATCH_BUSY_MS * 1000 };
	struct confwatch *cw = arg;
	bool written = false;
	ssize_t n;
	int reads = 0;
	char *p;

	(void)what;
	loopstat_mark("config written");
	/* Bounded: events written as fast as they are read wait a turn. */
	while (reads++ < CONFWATCH_READS &&
	    (n = read(fd, buf, sizeof(buf))) > 0) {
		for (p = buf; p + sizeof(*ie) <= buf + n;
		    p += sizeof(*ie) + ie->len) {
			ie = (const struct inotify_event *)(void *)p;
			if (ie->mask & (IN_IGNORED | IN_DELETE_SELF |
			    IN_MOVE_SELF))
				cw->lost = true;
			else if ((ie->mask & IN_Q_OVERFLOW) ||
			    (ie->len > 0 && strcmp(ie->name, cw->name) == 0 &&
			    (ie->mask & (IN_CLOSE_WRITE | IN_MOVED_TO))))
				written = true;
		}
	}
	/* The path names a file in another directory, or in none, now. */
	if (cw->lost) {
		event_del(cw->ev);
		event_del(cw->resume);
		return;
	}
	/* Busy: read what comes in the next CONFWATCH_BUSY_MS at once. */
	if (elapsed_ms(&cw->woke) < CONFWATCH_BUSY_MS &&
	    event_del(cw->ev) == 0 && evtimer_add(cw->resume, &busy) == -1)
		event_add(cw->ev, NULL);
	clock_gettime(CLOCK_MONOTONIC, &cw->woke);
	if (written)
		cw->written(cw->arg);
}

/* A busy directory was left alone long enough: read its events again. */
static void
confwatch_resume(evutil_socket_t fd, short what, void *arg)
{
	struct confwatch *cw = arg;

	(void)fd;
	(void)what;
	loopstat_mark("config watch");
	event_add(cw->ev, NULL);
}

/*
 * Watch the file at path (absolute) for writes: written(arg) runs in the
 * loop of base after each. NULL with *cause if it cannot be watched.
 */
struct confwatch *
confwatch_new(struct event_base *base, const char *path, confwatch_fn written,
    void *arg, char **cause)
{
	struct confwatch *cw;
	const char *slash = strrchr(path, '/');
	char dir[PATH_MAX];
	size_t dirlen;

	if (slash == NULL || slash[1] == '\0' ||
	    (dirlen = (size_t)(slash - path)) >= sizeof(dir)) {
		cause_set(cause, "%s: not an absolute path to a file", path);
		return NULL;
	}
	memcpy(dir, path, dirlen);
	dir[dirlen] = '\0';
	if (dirlen == 0)
		strcpy(dir, "/");
	if ((cw = calloc(1, sizeof(*cw))) == NULL) {
		cause_set(cause, "out of memory");
		return NULL;
	}
	cw->fd = -1;
	if ((cw->name = strdup(slash + 1)) == NULL) {
		cause_set(cause, "out of memory");
		goto fail;
	}
	cw->written = written;
	cw->arg = arg;
	if ((cw->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) == -1) {
		cause_set(cause, "inotify_init1: %s", strerror(errno));
		goto fail;
	}
	if (inotify_add_watch(cw->fd, dir, IN_CLOSE_WRITE | IN_MOVED_TO |
	    IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR) == -1) {
		cause_set(cause, "inotify_add_watch %s: %s", dir,
		    strerror(errno));
		goto fail;
	}
	if ((cw->ev = event_new(base, cw->fd, EV_READ | EV_PERSIST,
	    confwatch_readable, cw)) == NULL || (cw->resume = evtimer_new(base,
	    confwatch_resume, cw)) == NULL || event_add(cw->ev, NULL) == -1) {
		cause_set(cause, "out of memory");
		goto fail;
	}
	return cw;
fail:
	confwatch_free(cw);
	return NULL;
}

/*
 * Tell whether the watch was lost: the directory was removed or renamed
 * (a new one of its name is not watched), or its file system went. The
 * caller makes a new watch when it next reads the file.
 */
bool
confwatch_lost(const struct confwatch *cw)
{
	return cw->lost;
}

/* Stop watching; cw may be NULL. */
void
confwatch_free(struct confwatch *cw)
{
	if (cw == NULL)
		return;
	if (cw->ev != NULL)
		event_free(cw->ev);
	if (cw->resume != NULL)
		event_free(cw->resume);
	if (cw->fd != -1)
		close(cw->fd);
	free(cw->name);
	free(cw);
}
