/*
 * migrate.h: connection migration. When a listening socket of a
 * SO_REUSEPORT group closes (or is shut down), the kernel can move the
 * connections queued on it to another socket of the group instead of
 * resetting them: with net.ipv4.tcp_migrate_req = 1 in the network
 * namespace (Linux 5.14). reuseport and self modes need it to retire a
 * socket without loss; the supervisor turns it on where it may.
 */
#ifndef HANDOFF_MIGRATE_H
#define HANDOFF_MIGRATE_H

#include <stdbool.h>
#include <stddef.h>

enum migrate_state {
	MIGRATE_UNCHECKED = 0,	/* no mode needed it yet */
	MIGRATE_ON,		/* the sysctl was on already */
	MIGRATE_ENABLED,	/* the supervisor turned it on */
	MIGRATE_OFF,		/* off, and cannot be turned on: see why */
	MIGRATE_EBPF,		/* off, but reuseport groups migrate through
				   an SK_REUSEPORT program (ebpf.c) */
};

/*
 * Tell whether this process may load the SK_REUSEPORT program (ebpf.c):
 * 0, or -1 with *cause (cause.h).
 */
typedef int (*migrate_probe_fn)(char **cause);

struct migrate {
	enum migrate_state state;
	char		 why[160];	/* MIGRATE_OFF: the reason */
	bool		 probed;	/* the SK_REUSEPORT program was tried */
	bool		 steer_ebpf;	/* reuseport groups steer through it */
};

/* The sysctl's file, relative to the procfs root. */
#define MIGRATE_SYSCTL	"sys/net/ipv4/tcp_migrate_req"

void	 migrate_ensure(struct migrate *m, const char *procfs,
	    migrate_probe_fn probe);
bool	 migrate_available(const struct migrate *m);
bool	 migrate_reuseport_available(const struct migrate *m);
const char *migrate_state_name(enum migrate_state state);

#endif
