/*
 * record.h: the record of the supervisor's workers, kept beside its
 * control socket (CONTROL.workers): each worker process with its start
 * time, and the listener sockets it holds at which fd. A supervisor
 * started after this one died reads it to know the orphaned workers for
 * certain (recover.c).
 */
#ifndef HANDOFF_RECORD_H
#define HANDOFF_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#include "addr.h"

struct event_base;
struct pidmap;
struct program_list;
struct record;

/* Longest program or listener name a record line holds, with its NUL. */
#define RECORD_NAME_MAX	256

/* A listener socket a recorded worker holds. */
struct record_fd {
	int		 fd;		/* its number in the worker */
	ino_t		 ino;		/* the socket's inode */
	char		 listener[RECORD_NAME_MAX];
	size_t		 slot;		/* the worker slot's socket; 0 shared */
	char		 where[ADDR_STRLEN];	/* its address, for messages */
};

/* A recorded worker process. */
struct record_proc {
	pid_t		 pid;
	unsigned long long start;	/* /proc/PID/stat field 22 */
	uid_t		 uid;		/* the user it runs as */
	char		 program[RECORD_NAME_MAX];
	unsigned int	 gen;
	int		 slot;
	struct record_fd *fds;
	size_t		 nfds;
};

/* A record as read back. */
struct record_file {
	pid_t		 sup_pid;	/* the supervisor that wrote it */
	unsigned long long sup_start;
	struct record_proc *procs;
	size_t		 nprocs;
};

/* More processes to record (the orphans still draining), given by a caller. */
typedef void (*record_extra_fn)(void *arg, FILE *fp);

struct record	*record_open(struct event_base *base, const char *control,
		    struct program_list *programs, struct pidmap *pids,
		    record_extra_fn extra, void *arg, char **cause);
void		 record_changed(struct record *rec);
void		 record_fit(struct record *rec);
int		 record_write(struct record *rec);
void		 record_close(struct record *rec);
char		*record_path(const char *control);
void		 record_put_proc(FILE *fp, const struct record_proc *p);
void		 record_put_fd(FILE *fp, const struct record_fd *f);
int		 record_parse(const char *text, struct record_file *out,
		    char **cause);
int		 record_read(const char *path, struct record_file *out,
		    char **cause);
void		 record_file_free(struct record_file *rf);

#endif
