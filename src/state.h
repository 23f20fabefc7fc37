/*
 * state.h: the supervisor's state as versioned line text, for an upgrade
 * in place (upgrade.c writes it before exec, the new image reads it).
 *
 *	HANDOFF-STATE 2
 *	KIND KEY=VALUE KEY=VALUE ...
 *	...
 *	end
 *
 * A value is escaped: a byte outside '!'..'~', '%' and '=' as %XX. A
 * reader ignores the kinds and keys it does not know; a state whose major
 * version is newer than STATE_VERSION is refused. Keys ending in "fd"
 * name file descriptors that cross the exec.
 */
#ifndef HANDOFF_STATE_H
#define HANDOFF_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <time.h>

/*
 * 2: the notify socket's lanes (notify_lane records): a reader of 1 would
 * keep lanes 1-15 open and read none, and the workers sending to them
 * would be lost to it, so it refuses the state instead.
 */
#define STATE_VERSION	2
#define STATE_MAGIC	"HANDOFF-STATE"

/* One record: a kind and its keys with values, unescaped. */
struct state_rec {
	char		*kind;
	char		**keys;
	char		**vals;
	size_t		 n;
};

struct state {
	unsigned int	 version;
	struct state_rec *recs;
	size_t		 nrecs;
};

/* Builds the text, and remembers every fd it names. */
struct state_writer {
	FILE		*fp;
	char		*buf;
	size_t		 len;
	int		*fds;
	size_t		 nfds;
	size_t		 capfds;
	bool		 failed;
};

int		 state_writer_open(struct state_writer *w);
void		 state_rec(struct state_writer *w, const char *kind);
void		 state_str(struct state_writer *w, const char *key,
		    const char *val);
void		 state_mem(struct state_writer *w, const char *key,
		    const char *val, size_t len);
void		 state_int(struct state_writer *w, const char *key,
		    long long val);
void		 state_fd(struct state_writer *w, const char *key, int fd);
void		 state_time(struct state_writer *w, const char *key,
		    const struct timespec *ts);
int		 state_writer_seal(struct state_writer *w, int *fdp,
		    char **cause);
void		 state_writer_free(struct state_writer *w);

int		 state_parse(const char *text, size_t len, struct state *st,
		    char **cause);
int		 state_read_fd(int fd, struct state *st, char **cause);
void		 state_free(struct state *st);
const char	*state_get(const struct state_rec *r, const char *key);
long long	 state_get_int(const struct state_rec *r, const char *key,
		    long long def);
bool		 state_get_time(const struct state_rec *r, const char *key,
		    struct timespec *ts);
size_t		 state_fds(const struct state *st, int *fds, size_t max);

#endif
