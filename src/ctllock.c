/*
 * ctllock.c: the lock beside a control socket (see ctllock.h).
 *
 * PATH.lock is a regular file in the control socket's directory, flocked
 * by the supervisor serving PATH and removed by it on its way out while
 * still held; it carries the holder's pid for a loser that cannot read
 * /proc/locks. The holder owns every name beside the socket, so the
 * directory must be one only root or the holder's user may write.
 */
#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "cause.h"
#include "ctllock.h"

/* The directory part of a socket path: "/" for "/x", "." for "x". */
void
ctllock_dirname(const char *path, char *dir, size_t len)
{
	char *slash;

	snprintf(dir, len, "%s", path);
	if ((slash = strrchr(dir, '/')) == NULL)
		snprintf(dir, len, ".");
	else if (slash == dir)
		slash[1] = '\0';
	else
		*slash = '\0';
}

/*
 * Whether uid may trust the directory of the control socket at path: it
 * belongs to root or to uid, and nobody else may write to it. A sticky
 * directory such as /tmp is no exception: anyone can take a name there
 * first. Otherwise another user could put a socket of theirs where the
 * CLI looks, or hold the names the supervisor keeps beside its socket.
 * Returns -1 with cause if not.
 */
int
ctllock_dir_trusted(const char *path, uid_t uid, char **cause)
{
	char dir[PATH_MAX];
	struct stat st;

	ctllock_dirname(path, dir, sizeof(dir));
	if (lstat(dir, &st) == -1) {
		cause_set(cause, "control socket directory %s: %s", dir,
		    strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		cause_set(cause, "control socket directory %s: not a directory",
		    dir);
		return -1;
	}
	if (st.st_uid != uid && st.st_uid != 0) {
		cause_set(cause, "control socket directory %s belongs to uid %u, "
		    "neither uid %u nor root", dir, (unsigned)st.st_uid,
		    (unsigned)uid);
		return -1;
	}
	if ((st.st_mode & 022) != 0) {
		cause_set(cause, "control socket directory %s is writable by "
		    "others (mode %04o), so anyone could put a socket of theirs "
		    "there", dir, (unsigned)(st.st_mode & 07777));
		return -1;
	}
	return 0;
}

static pid_t
ctllock_flock_holder(const struct stat *st)
{
	unsigned int major_, minor_;
	unsigned long ino;
	char *line = NULL, type[16];
	size_t cap = 0;
	pid_t found = -1;
	FILE *fp;
	int pid;

	if ((fp = fopen("/proc/locks", "re")) == NULL)
		return -1;
	/* "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF"; "->": waits */
	while (found == -1 && getline(&line, &cap, fp) != -1)
		if (strstr(line, "->") == NULL && sscanf(line,
		    "%*d: %15s %*s %*s %d %x:%x:%lu", type, &pid, &major_,
		    &minor_, &ino) == 5 && strcmp(type, "FLOCK") == 0 &&
		    makedev(major_, minor_) == st->st_dev &&
		    ino == st->st_ino && pid > 0)
			found = pid;
	free(line);
	fclose(fp);
	return found;
}

/*
 * The pid holding a flock on fd's file: from /proc/locks, or else the pid
 * the holder wrote into the file, if that process lives. -1 if unknown.
 */
static pid_t
ctllock_holder(int fd)
{
	char buf[24];
	struct stat st;
	pid_t found = -1;
	ssize_t n;
	int pid;

	if (fstat(fd, &st) == 0)
		found = ctllock_flock_holder(&st);
	if (found == -1 && (n = pread(fd, buf, sizeof(buf) - 1, 0)) > 0) {
		buf[n] = '\0';
		if (sscanf(buf, "%d", &pid) == 1 && pid > 0 &&
		    (kill(pid, 0) == 0 || errno == EPERM))
			found = pid;
	}
	return found;
}

/*
 * The pid of the supervisor running on the control socket at path: the
 * one holding the flock on PATH.lock, as /proc/locks shows it (the pid
 * written in the file is not believed: it may be a stale one's), in a
 * directory that only root or the lock file's owner may write. -1 if
 * none holds it, or it cannot be told.
 */
pid_t
ctllock_running(const char *path)
{
	struct stat st;
	char *lock;
	int rc;

	if (asprintf(&lock, "%s.lock", path) == -1)
		return -1;
	rc = lstat(lock, &st);
	free(lock);
	if (rc == -1 || !S_ISREG(st.st_mode) ||
	    ctllock_dir_trusted(path, st.st_uid, NULL) == -1)
		return -1;
	return ctllock_flock_holder(&st);
}

/*
 * Take PATH.lock, the lock beside the control socket at path, into lk, an
 * flock held until ctllock_release: one supervisor per control path, and
 * the holder owns every name beside the socket. A holder removes the file
 * on its way out while it still holds it, so a lock taken on a file no
 * longer at the path is let go and taken again. -1 with *cause, lk left
 * empty, if it cannot be taken.
 */
int
ctllock_take(struct ctllock *lk, const char *path, char **cause)
{
	struct stat st, now;
	pid_t holder;
	int fd, tries;

	lk->fd = -1;
	if (asprintf(&lk->path, "%s.lock", path) == -1) {
		lk->path = NULL;
		*cause = strdup("out of memory");
		return -1;
	}
	for (tries = 0; tries < 100; tries++) {
		fd = open(lk->path, O_RDWR | O_CREAT | O_NOFOLLOW |
		    O_CLOEXEC, 0600);
		if (fd == -1) {
			cause_set(cause, "lock file %s: %s", lk->path,
			    strerror(errno));
			goto fail;
		}
		if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
			if (errno != EWOULDBLOCK)
				cause_set(cause, "lock file %s: %s",
				    lk->path, strerror(errno));
			else if ((holder = ctllock_holder(fd)) > 0)
				cause_set(cause, "control socket %s: another "
				    "supervisor is running there (pid %d holds "
				    "%s); stop it, or set a different "
				    "[supervisor] name or control", path,
				    (int)holder, lk->path);
			else
				cause_set(cause, "control socket %s: another "
				    "supervisor is running there (it holds %s); "
				    "stop it, or set a different [supervisor] "
				    "name or control", path, lk->path);
			close(fd);
			goto fail;
		}
		if (fstat(fd, &st) == 0 && lstat(lk->path, &now) == 0 &&
		    st.st_dev == now.st_dev && st.st_ino == now.st_ino) {
			/* Our pid, for a loser that cannot read /proc/locks. */
			if (ftruncate(fd, 0) == 0)
				dprintf(fd, "%d\n", (int)getpid());
			lk->fd = fd;
			return 0;
		}
		close(fd);
	}
	cause_set(cause, "lock file %s: replaced again and again while taking "
	    "it", lk->path);
fail:
	free(lk->path);
	lk->path = NULL;
	return -1;
}

/* Remove the lock file while still holding it, then let it go. */
void
ctllock_release(struct ctllock *lk)
{
	struct stat st, now;

	if (lk->fd != -1) {
		if (fstat(lk->fd, &st) == 0 &&
		    lstat(lk->path, &now) == 0 &&
		    st.st_dev == now.st_dev && st.st_ino == now.st_ino)
			unlink(lk->path);
		close(lk->fd);
		lk->fd = -1;
	}
	free(lk->path);
	lk->path = NULL;
}
