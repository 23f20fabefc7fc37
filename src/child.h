/*
 * child.h: what one worker process is given, prepared before it exists:
 * its command, fd layout, environment protocols (systemd,
 * Server::Starter, einhorn) and privileges. spawn.h starts it.
 */
#ifndef HANDOFF_CHILD_H
#define HANDOFF_CHILD_H

#include <stdbool.h>
#include <sys/types.h>

struct listener;
struct program_conf;

/* Everything the child needs, prepared before clone (no malloc after it). */
struct child_spec {
	char		 *path;		/* resolved executable */
	char		**argv;
	char		**envp;		/* built by child_env_build */
	int		  listen_pid_slot;	/* envp index of LISTEN_PID=, -1 none */
	int		 *fds;		/* placed at 3, 4, ... in this order */
	int		  cgroup_fd;	/* cgroup.procs to join before exec, or -1 */
	int		  cgroup_dir_fd;	/* the cgroup's directory, to start
					   the child in (clone3), or -1 */
	size_t		  nfds;
	const char	 *directory;	/* NULL: stay where we are */
	char		**own_argv;	/* argv with %-escapes expanded, or NULL */
	char		 *own_directory;	/* the same for directory */
	bool		  discard_output;	/* stdout and stderr to /dev/null */
	bool		  set_ids;	/* drop privileges to uid/gid/groups */
	uid_t		  uid;
	gid_t		  gid;
	bool		  set_gid_only;	/* group = without user = */
	gid_t		 *groups;
	int		  ngroups;
	const char	 *notify_socket;	/* checked after set_ids, or NULL */
	char		 *notify_unreachable;	/* the error if it is out of reach */
	const char	 *preload;	/* the shim, checked after set_ids, or NULL */
	char		 *preload_unreadable;	/* the error if it cannot be read */
};

char	**child_env_build(const struct program_conf *pc, struct listener **ls,
	    size_t nls, unsigned int generation, int worker,
	    const char *notify_socket, const char *preload,
	    int *listen_pid_slot);
int	 child_spec_init(struct child_spec *spec, const struct program_conf *pc,
	    struct listener **ls, size_t nls, unsigned int generation,
	    int worker, const char *notify_socket, const char *preload,
	    char **cause);
char	*child_find_command(const struct program_conf *pc, const char *name,
	    char **cause);
void	 child_spec_free(struct child_spec *spec);

#endif
