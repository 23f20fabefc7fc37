/*
 * loopstat.h: how long the turns of the event loop take, to find what
 * blocks it (HANDOFF_DEBUG_LOOP=MS logs every turn of MS ms or more).
 */
#ifndef HANDOFF_LOOPSTAT_H
#define HANDOFF_LOOPSTAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;

/*
 * A point in a turn: wall clock, the supervisor's CPU time, and the time
 * it waited for a CPU while it could have run (the kernel's run delay).
 */
struct loopstat_time {
	uint64_t	 wall_us;
	uint64_t	 cpu_us;
	uint64_t	 wait_us;
};

/*
 * One turn of the loop: from the poll's return to the next poll, cut into
 * parts at each loopstat_mark; a part is charged to the mark it began at.
 */
struct loopstat_turn {
	bool		 open;		/* a mark was passed this turn */
	bool		 ended_once;	/* ended holds the last turn's end */
	struct loopstat_time ended;	/* the last turn ended (its poll began) */
	struct loopstat_time start;	/* the poll returned (cpu and wait: as
					   worked out at the first mark) */
	struct loopstat_time part;	/* the current part began */
	const char	*what;		/* ... at this mark */
	struct loopstat_time longest;	/* the longest part (wall) so far */
	const char	*longest_what;
};

int	loopstat_init(const char *setting, char **cause);
bool	loopstat_enabled(void);
int	loopstat_dispatch(struct event_base *base);
void	loopstat_mark(const char *what);

void	loopstat_turn_mark(struct loopstat_turn *t, const char *what,
	    uint64_t polled_us, struct loopstat_time now);
bool	loopstat_turn_end(struct loopstat_turn *t, struct loopstat_time now,
	    uint64_t slow_us, char *line, size_t len);

#endif
