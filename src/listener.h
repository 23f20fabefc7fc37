/*
 * listener.h: the sockets the supervisor binds and keeps.
 *
 * A listener is an identity: an address and its options. Its name (the
 * config section's) is a label a reload may change. It owns one or more
 * sockets: socket 0 is the shared one every worker gets in inherit mode;
 * a mode that gives each worker slot a socket of its own (reuseport) holds
 * one per slot.
 *
 * A listener is bound once and shared, by reference count, by the listener
 * set of the running config and by every generation whose workers use it.
 * A reload builds a new set from the new config: listeners whose address is
 * unchanged are the same objects (same sockets, never closed), new ones are
 * bound, and removed ones close when their last reference goes.
 */
#ifndef HANDOFF_LISTENER_H
#define HANDOFF_LISTENER_H

#include <stdbool.h>
#include <sys/types.h>

#include "addr.h"
#include "config.h"
#include "sdsocket.h"

struct ebpf_steer;
struct hashmap;

/* One socket of a listener. */
struct listener_socket {
	int		 fd;		/* CLOEXEC, non-blocking; -1: closed */
	ino_t		 ino;		/* its inode (sockfs), 0 if unknown */
	int		 group_index;	/* per_slot: its index in the kernel's
					   reuseport group, -1 while not in it */
	bool		 serving;	/* per_slot: in the steering table */
	bool		 registered;	/* per_slot: in the eBPF sockarray */
	enum sdsocket_origin origin;	/* bound, or from the service manager */
};

struct listener {
	char		*name;		/* the config section's name: a label */
	char		*fd_name;	/* LISTEN_FDNAMES name */
	struct addr	 addr;		/* as configured */
	struct listener_opts opts;
	struct listener_socket *sockets;	/* [0]: the shared socket */
	size_t		 nsockets;
	char		 bound[ADDR_STRLEN];	/* actual address, port 0 resolved */
	struct sockaddr_storage bound_ss;	/* the same, for bind() */
	socklen_t	 bound_len;
	dev_t		 file_dev;	/* unix socket file we created, to */
	ino_t		 file_ino;	/* unlink only our own on close */
	int		 refs;
	unsigned int	 index_pass;	/* the last reload index that took it */
	/*
	 * per_slot listeners (reuseport mode): socket i is worker slot i's.
	 * Slots below committed serve the running config; those above wait
	 * for a reload to commit (growth) or to be retired (shrink). group
	 * mirrors the kernel's reuseport group: the slot at each index. A
	 * socket joins at the tail (listen(), or bind() for UDP); one that
	 * leaves (shutdown() or close) is replaced by the last.
	 */
	size_t		 committed;
	unsigned int	*group;
	size_t		 ngroup;
	/* The group indexes the attached steering program picks from. */
	unsigned int	*steer;
	size_t		 nsteer;
	bool		 steered;	/* a program is attached */
	struct ebpf_steer *ebpf;	/* the SK_REUSEPORT program, or NULL */
	bool		 ebpf_attached;
};

/* The listeners of one config, in config order. */
struct listener_set {
	struct listener	**items;
	size_t		  count;
	struct hashmap	 *by_name;	/* name -> listener; NULL: not indexed */
};

/* Longest identity key (see listener_key). */
#define LISTENER_KEY_MAX	256

int	 listener_bind(const struct listener_conf *lc, struct listener **out,
	    char **cause);
void	 listener_ref(struct listener *l);
void	 listener_unref(struct listener *l);
int	 listener_fd(const struct listener *l);
int	 listener_slot_fd(const struct listener *l, unsigned int slot);
size_t	 listener_nsockets(const struct listener *l);
int	 listener_socket_fd(const struct listener *l, size_t i);
ino_t	 listener_socket_ino(const struct listener *l, size_t i);
enum sdsocket_origin listener_socket_origin(const struct listener *l, size_t i);
size_t	 listener_key(const struct addr *addr, const struct listener_opts *opts,
	    const char *name, unsigned char *buf);
bool	 listener_matches(const struct listener *l, const struct listener_conf *lc);
int	 listener_unix_is_live(const struct addr *addr);
struct listener *listener_set_find(const struct listener_set *set,
	    const char *name);
struct listener *listener_set_for(const struct listener_set *set,
	    const struct config *conf, const struct listener_conf *lc);
int	 listener_set_same(const struct listener_set *current,
	    const struct config *conf, struct listener_set *next);
int	 listener_set_update(const struct listener_set *current,
	    const struct config *conf, struct listener_set *next, char **cause);
void	 listener_set_commit(struct listener_set *set,
	    const struct config *conf);
void	 listener_set_clear(struct listener_set *set);
void	 listener_set_move(struct listener_set *dst, struct listener_set *src);
int	 listener_probe_config(const struct config *conf, struct config_msgs *msgs);
bool	 listener_can_repair(const struct listener *l);
bool	 listener_per_slot(const struct listener *l);
int	 listener_slot_group_index(const struct listener *l, size_t slot);
bool	 listener_slot_serving(const struct listener *l, size_t slot);
void	 listener_slot_set_serving(struct listener *l, size_t slot,
	    bool serving);
bool	 listener_slot_registered(const struct listener *l, size_t slot);
void	 listener_slot_set_registered(struct listener *l, size_t slot);
int	 listener_group_record_check(const char *name, size_t nsockets,
	    long long committed, const long long *slot, const long long *index,
	    size_t n, char **cause);
int	 listener_group_restore(struct listener *l, long long committed,
	    const long long *slot, const long long *index, size_t n,
	    char **cause);
unsigned long long listener_changes(void);
int	 listener_grow(struct listener *l, size_t nslots, char **cause);
int	 listener_slot_leave(struct listener *l, size_t slot);
int	 listener_slot_rejoin(struct listener *l, size_t slot);
int	 listener_slot_repair(struct listener *l, size_t slot, char **cause);
void	 listener_slot_close(struct listener *l, size_t slot);
void	 listener_trim_slots(struct listener *l, size_t keep);
int	 listener_slot_queue(const struct listener *l, size_t slot,
	    unsigned int *queued, unsigned int *limit);
int	 listener_repair(struct listener *l, bool *rebound, char **cause);

#endif
