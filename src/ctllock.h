/*
 * ctllock.h: the lock beside a control socket, and the trust in the
 * directory both live in.
 *
 * A supervisor holds an flock on PATH.lock, beside its control socket
 * PATH, for its whole life: a second supervisor on the same path cannot
 * take it, and whoever asks can tell which process runs there. Neither
 * needs the control server: `handoff check` and the CLI use this too.
 */
#ifndef HANDOFF_CTLLOCK_H
#define HANDOFF_CTLLOCK_H

#include <stddef.h>
#include <sys/types.h>

/* A taken lock: fd -1 and path NULL when none is. */
struct ctllock {
	int		 fd;	/* PATH.lock, flocked while we hold it */
	char		*path;	/* PATH.lock */
};

void		 ctllock_dirname(const char *path, char *dir, size_t len);
int		 ctllock_dir_trusted(const char *path, uid_t uid, char **cause);
pid_t		 ctllock_running(const char *path);
int		 ctllock_take(struct ctllock *lk, const char *path, char **cause);
void		 ctllock_release(struct ctllock *lk);

#endif
