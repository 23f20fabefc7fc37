/*
 * sdsocket.h: sockets the service manager passed to the supervisor
 * (LISTEN_FDS): those of a socket unit, and those its fd store kept.
 * A listener takes its socket from here before it binds one.
 */
#ifndef HANDOFF_SDSOCKET_H
#define HANDOFF_SDSOCKET_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct listener_conf;
struct state_writer;

/* Where a listener's socket came from. */
enum sdsocket_origin {
	SDSOCKET_BOUND = 0,	/* bound by the supervisor */
	SDSOCKET_PASSED,	/* passed by the service manager (a socket unit) */
	SDSOCKET_STORED,	/* kept in the manager's fd store, and back */
	SDSOCKET_RECOVERED,	/* taken from an orphaned worker (recover.c) */
};

/* Longest fd store name (systemd's FDNAME limit), with its NUL. */
#define SDSOCKET_NAME_MAX	256

int	 sdsocket_adopt(char **cause);
int	 sdsocket_add_recovered(int fd, const char *listener, size_t slot,
	    pid_t pid);
int	 sdsocket_take(const struct listener_conf *lc, size_t slot, int *fdp,
	    enum sdsocket_origin *origin, char **cause);
int	 sdsocket_finish(char **cause);
bool	 sdsocket_stored(size_t i, const char **name, dev_t *dev, ino_t *ino);
void	 sdsocket_free(void);
void	 sdsocket_save(struct state_writer *w);
int	 sdsocket_inherit(int fd, const char *listener, size_t slot,
	    enum sdsocket_origin origin, char **cause);
int	 sdsocket_inherit_passed(int fd, const char *name, bool taken,
	    char **cause);
const char *sdsocket_origin_name(enum sdsocket_origin origin);
int	 sdsocket_store_name(const char *listener, size_t slot, char *buf,
	    size_t len);
bool	 sdsocket_parse_store_name(const char *name, char *listener,
	    size_t len, size_t *slot);

#endif
