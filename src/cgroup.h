/*
 * cgroup.h: cgroup v2 directories the supervisor creates for its
 * generations: where it may create them, and creating, listing, killing,
 * watching and removing them.
 */
#ifndef HANDOFF_CGROUP_H
#define HANDOFF_CGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

int	 cgroup_own_dir(char **dir, char **cause);
int	 cgroup_make_base(const char *own, char **base, char **cause);
void	 cgroup_remove_stale(const char *own);
int	 cgroup_make(const char *dir, char **cause);
int	 cgroup_use(const char *dir, char **cause);
bool	 cgroup_is_child(const char *own, const char *dir);
int	 cgroup_open_procs(const char *dir, char **cause);
int	 cgroup_open_dir(const char *dir, char **cause);
size_t	 cgroup_pids(const char *dir, pid_t *pids, size_t max);
int	 cgroup_populated(const char *dir);
void	 cgroup_kill(const char *dir);
int	 cgroup_remove(const char *dir);
char	*cgroup_events_path(const char *dir);

#endif
