/*
 * drain_report.h: how each worker of a draining generation ended (exited
 * 0, exited with status N, died of its stop signal or of another, killed
 * at drain_timeout), the lines that say so and the likely fix, and the
 * reports of a program's last drained generations.
 */
#ifndef HANDOFF_DRAIN_REPORT_H
#define HANDOFF_DRAIN_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct evbuffer;
struct state;
struct state_writer;

/* How a worker's process ended while its generation drained. */
enum drain_end {
	DRAIN_RUNNING = 0,	/* not yet */
	DRAIN_NOT_RUNNING,	/* it had no process when the drain began */
	DRAIN_EXITED,		/* exited; value: its status */
	DRAIN_STOP_SIGNAL,	/* died of its stop_signal */
	DRAIN_SIGNAL,		/* died of another signal; value: the signal */
	DRAIN_KILLED,		/* SIGKILLed at drain_timeout */
};

/*
 * 8 bytes a worker: a report is kept, for status, for each of a program's
 * last DRAIN_HISTORY drained generations (16 KiB for 1000 workers).
 */
struct drain_worker {
	pid_t		 pid;
	uint8_t		 end;		/* enum drain_end */
	uint8_t		 value;		/* exit status (0-255), or signal */
	bool		 killing;	/* SIGKILL sent at drain_timeout */
};

struct drain_report {
	char		*program;
	unsigned int	 number;	/* of the generation */
	unsigned int	 reload;	/* the reload that drained it, 0 none */
	int		 stop_signal;
	uint64_t	 timeout_ms;	/* drain_timeout */
	int		 nworkers;
	struct drain_worker *workers;
	bool		 left_killed;	/* processes left behind SIGKILLed */
};

/* Called with each line a report makes; warn: it says what to fix. */
typedef void (*drain_report_line_fn)(void *arg, bool warn, const char *text);

/* The reports of a program's last DRAIN_HISTORY drained generations. */
#define DRAIN_HISTORY	2
struct drain_history {
	struct drain_report *items[DRAIN_HISTORY];	/* oldest first */
	size_t		 count;
};

struct drain_report *drain_report_new(const char *program, unsigned int number,
		    int stop_signal, uint64_t timeout_ms, int nworkers);
void		 drain_report_free(struct drain_report *r);
void		 drain_report_begin(struct drain_report *r, int index, pid_t pid);
void		 drain_report_killing(struct drain_report *r, int index);
void		 drain_report_left_killed(struct drain_report *r);
void		 drain_report_exit(struct drain_report *r, int index, pid_t pid,
		    int status);
void		 drain_report_describe(const struct drain_report *r, int index,
		    char *buf, size_t len);
bool		 drain_report_clean(const struct drain_report *r);
void		 drain_report_lines(const struct drain_report *r,
		    drain_report_line_fn fn, void *arg);
void		 drain_report_json(const struct drain_report *r,
		    struct evbuffer *out);
void		 drain_history_add(struct drain_history *h,
		    struct drain_report *r);
void		 drain_history_clear(struct drain_history *h);
void		 drain_history_save(const struct drain_history *h,
		    struct state_writer *w);
void		 drain_history_restore(struct drain_history *h,
		    const struct state *st, size_t *i);

#endif
