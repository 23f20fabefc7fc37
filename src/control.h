/*
 * control.h: the control socket server (status, reload, stop, fds).
 *
 * Protocol, version 1. The client sends one request line:
 *
 *	HANDOFF/1 COMMAND [ARG...]\n
 *
 * and the supervisor answers with lines, each starting with a word that
 * says what it is, and closes the connection after the last:
 *
 *	data TEXT		a line of the result (status output)
 *	progress TEXT		a reload's progress, as it happens
 *	ok TEXT			success; the last line
 *	error CODE TEXT		failure (CODE 1: operation failed, 2: bad
 *				request, 3: not served, ask again); the last
 *				line
 *
 * Commands: status [json] | reload [nowait | takeover] [PROGRAM] (takeover:
 * the last line comes once the new generations took over, not once the
 * old ones drained) | stop [DURATION] |
 * fds NAME (answered "ok N NAME ADDRESS", the line carrying the listener's
 * N fds as SCM_RIGHTS) | version | upgrade [PATH] (progress lines, then
 * the last line from the new image, on the same connection).
 *
 * An answer whose connection ends before its last line (newline included)
 * was cut short. Before an upgrade's exec, every other client is closed in
 * order (control_upgrade_close_others): one whose request was not served
 * gets "error 3 the supervisor is upgrading itself in place; this request
 * was not served: ask again". Asking again at once is answered by the
 * new image (connections made meanwhile wait in the socket's queue).
 */
#ifndef HANDOFF_CONTROL_H
#define HANDOFF_CONTROL_H

#include <stdbool.h>
#include <sys/types.h>
#include <stddef.h>
#include <stdint.h>

#define CONTROL_PROTOCOL	"HANDOFF/1"
#define CONTROL_REQUEST_MAX	4096

/* The CODE of an "error" line. */
#define CONTROL_ERROR_FAILED	1	/* the operation failed */
#define CONTROL_ERROR_REQUEST	2	/* a bad request */
#define CONTROL_ERROR_AGAIN	3	/* not served: the same request may
					   be sent again at once */

struct control;
struct event_base;
struct state_rec;
struct state_writer;
struct evbuffer;

enum control_command {
	CONTROL_STATUS = 0,
	CONTROL_RELOAD,
	CONTROL_STOP,
	CONTROL_FDS,
	CONTROL_VERSION,
	CONTROL_UPGRADE,
};

/* A request line, parsed; the strings point into the line. */
struct control_request {
	enum control_command command;
	const char	*word;		/* the command as written */
	bool		 json;		/* status json */
	bool		 nowait;	/* reload nowait */
	bool		 takeover;	/* reload takeover */
	const char	*program;	/* reload PROGRAM, or NULL for all */
	int64_t		 stop_ms;	/* stop DURATION, or -1 */
	const char	*name;		/* fds NAME */
};

/* A listener's sockets, as the owner hands them out (`fds NAME`). */
struct control_fds {
	const char	*name;
	const char	*bound;		/* its address, port 0 resolved */
	const int	*fds;		/* still the owner's */
	size_t		 nfds;
};

/*
 * What the control server asks of its owner (the supervisor), from the
 * event loop, with the arg given to control_open. The server never sees
 * the owner's state: only what these return.
 */
struct control_ops {
	/*
	 * Reload program (NULL: every program). -1 with *cause if refused
	 * at once; otherwise the reload, now or once the one in progress
	 * ends, is told with control_reload_begin, or control_reload_refused.
	 */
	int	(*reload)(void *arg, const char *program, char **cause);
	/* Stop gracefully; kill what is left after ms (if not negative). */
	void	(*stop)(void *arg, int64_t ms);
	/* The state as "data" lines, a table or JSON, appended to out. */
	void	(*status)(void *arg, bool json, struct evbuffer *out);
	/* The sockets of listener name, valid until the loop runs; -1 none. */
	int	(*listener_fds)(void *arg, const char *name,
		    struct control_fds *out);
	/*
	 * Upgrade to the binary at path (NULL: the running one's). -1 with
	 * *cause if refused; otherwise the client hears how it ends from
	 * control_upgrade_end (in this image or the next).
	 */
	int	(*upgrade)(void *arg, const char *path, char **cause);
};

struct control	*control_open(struct event_base *base, const char *path,
		    const struct control_ops *ops, void *arg, char **cause);
void		 control_close(struct control *ctl);
void		 control_reload_begin(struct control *ctl, unsigned int id,
		    const char *only);
void		 control_flush(struct control *ctl, unsigned int id);
void		 control_progress(struct control *ctl, unsigned int id,
		    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void		 control_reload_end(struct control *ctl, unsigned int id,
		    bool ok, const char *fmt, ...)
		    __attribute__((format(printf, 4, 5)));
void		 control_reload_took_over(struct control *ctl, unsigned int id,
		    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void		 control_reload_refused(struct control *ctl, const char *only,
		    const char *why, char *const *details, size_t ndetails);
void		 control_upgrade_progress(struct control *ctl, const char *fmt,
		    ...) __attribute__((format(printf, 2, 3)));
void		 control_upgrade_end(struct control *ctl, bool ok,
		    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void		 control_upgrade_close_others(struct control *ctl);
int		 control_close_idle(struct control *ctl, int n);
void		 control_save(const struct control *ctl, struct state_writer *w);
struct control	*control_restore(struct event_base *base,
		    const struct state_rec *r, const struct control_ops *ops,
		    void *arg, char **cause);
int		 control_socket_is_live(const char *path);
const char	*control_parse_request(char *line, size_t len,
		    struct control_request *req);

#endif
