/*
 * selfmode.h: handoff = self as the supervisor and status see it: the
 * sockets a self-mode program's workers bound for themselves, and the
 * reloads that cannot move an address between a self-mode program and
 * the supervisor's own sockets. Functions are selfmode_*.
 */
#ifndef HANDOFF_SELFMODE_H
#define HANDOFF_SELFMODE_H

struct config;
struct evbuffer;
struct program;
struct program_conf;
struct program_list;

int	 selfmode_check_reload(const struct config *now,
	    const struct config *next, char **cause);
void	 selfmode_status_json(const struct program *prog,
	    const struct program_conf *pc, struct evbuffer *out);
void	 selfmode_status_text(const struct program_list *programs,
	    struct evbuffer *out);

#endif
