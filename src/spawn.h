/*
 * spawn.h: start a worker's process from a struct child_spec (child.h),
 * waiting for its exec or, where the system allows, in flight.
 */
#ifndef HANDOFF_SPAWN_H
#define HANDOFF_SPAWN_H

#include <stdbool.h>
#include <sys/types.h>

struct child_spec;
struct event_base;

/* What spawn_start returns to the caller. */
struct spawn_proc {
	pid_t		 pid;
	int		 output_fd;	/* read end of its stdout+stderr, or -1 */
	int		 wait_status;	/* SPAWN_CANNOT_RUN: how it exited */
	/* Clock ticks after boot, as /proc/PID/stat has it; 0: not known. */
	unsigned long long start;
};

/* spawn_start's failures (0: started). */
#define SPAWN_NOT_STARTED	(-1)	/* no process: no fd or process left */
#define SPAWN_CANNOT_RUN	(-2)	/* the child could not exec; reaped */

int	 spawn_start(const struct child_spec *spec, struct spawn_proc *proc,
	    char **cause);
void	 spawn_init(void);
void	 spawn_reserve_fds(long count);
long	 spawn_fds_needed(long nout);
const char *spawn_limit_words(int err, char *buf, size_t size);
void	 spawn_share_fds(bool);
void	 spawn_start_in_cgroup(bool);
void	 spawn_start_in_flight(bool);
bool	 spawn_under_valgrind(void);

/* Told of a start in flight whose child could not exec: its pid and why. */
typedef void (*spawn_failed_fn)(pid_t pid, const char *cause, void *arg);

void	 spawn_watch(struct event_base *base, spawn_failed_fn failed,
	    void *arg);
void	 spawn_reaped(pid_t pid);
bool	 spawn_in_flight(pid_t pid);
bool	 spawn_settle(pid_t pid);
bool	 spawn_slot_ready(void (*wake)(void *), void *arg);
void	 spawn_settle_all(void);

/* Takes what an fd holds, without blocking; how many things it took. */
typedef int (*spawn_meanwhile_fn)(void *arg);

void	 spawn_meanwhile(int fd, spawn_meanwhile_fn cb, void *arg);

#endif
