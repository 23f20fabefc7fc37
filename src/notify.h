/* notify.h: the NOTIFY_SOCKET readiness protocol (sd_notify) server side. */
#ifndef HANDOFF_NOTIFY_H
#define HANDOFF_NOTIFY_H

#include <sys/types.h>

/*
 * The sockets ("lanes") workers send to: worker i is given lane
 * i % NOTIFY_LANES (notify.c tells why).
 */
#define NOTIFY_LANES	16

struct event_base;
struct notify;
struct state;
struct state_writer;

/*
 * Called for each KEY=VALUE line of a datagram, with the sender's pid and
 * its process group when the datagram was read (-1 if it was gone then).
 */
typedef void (*notify_cb)(pid_t sender, pid_t sender_group, const char *key,
    const char *value, void *arg);

struct notify	*notify_open(struct event_base *base, const char *dir,
		    notify_cb cb, void *arg, char **cause);
int		 notify_allow_uid(struct notify *n, uid_t uid, char **cause);
const char	*notify_socket_path(const struct notify *n, uid_t uid);
void		 notify_close(struct notify *n);
void		 notify_save(const struct notify *n, struct state_writer *w);
struct notify	*notify_restore(struct event_base *base,
		    const struct state *st, notify_cb cb, void *arg,
		    char **cause);
int		 notify_fd(const struct notify *n);
const char	*notify_lane_path(const char *path, int worker, char *buf,
		    size_t size);
int		 notify_stash(struct notify *n);
void		 notify_handle_taken(struct notify *n);
int		 notify_parse(const char *msg, size_t len,
		    void (*line_cb)(const char *, const char *, void *), void *arg);

#endif
