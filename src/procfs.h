/*
 * procfs.h: what the supervisor reads about processes from /proc (and the
 * pid lists of cgroupfs): whole small files, children, stat fields.
 */
#ifndef HANDOFF_PROCFS_H
#define HANDOFF_PROCFS_H

#include <stddef.h>
#include <stdbool.h>
#include <sys/types.h>

/* A growing list of pids. */
struct pid_list {
	pid_t	*pids;
	size_t	 count;
	size_t	 space;
};

/* The fields of /proc/PID/stat the supervisor uses. */
struct procfs_stat {
	char			 state;		/* R, S, D, Z, ... */
	pid_t			 ppid;
	pid_t			 pgid;
	pid_t			 session;
	unsigned long long	 start;		/* clock ticks after boot */
	long			 threads;	/* how many it has */
};

char	*procfs_read(const char *path, size_t *len);
int	 procfs_parse_pids(const char *text, struct pid_list *out);
int	 procfs_children(pid_t pid, struct pid_list *out);
int	 procfs_children_of(pid_t pid, long threads, struct pid_list *out);
int	 procfs_stat(pid_t pid, struct procfs_stat *st);
bool	 procfs_is_below(pid_t pid, pid_t top);
unsigned long long procfs_now_ticks(void);
void	 procfs_note_start(pid_t pid, unsigned long long start);
unsigned long long procfs_take_noted_start(pid_t pid);
int	 procfs_pids_add(struct pid_list *list, pid_t pid);
void	 procfs_comm(pid_t pid, char *buf, size_t len);
void	 procfs_pids_free(struct pid_list *list);
long	 procfs_fds_open(void);
long	 procfs_fd_table_size(void);

#endif
