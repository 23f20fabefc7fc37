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
 *				request); the last line
 *
 * Commands: status [json] | reload [nowait] [PROGRAM] | stop [DURATION] |
 * fds NAME (the "ok" line carries the listener's fds as SCM_RIGHTS) |
 * version.
 */
#ifndef HANDOFF_CONTROL_H
#define HANDOFF_CONTROL_H

#include <stdbool.h>
#include <sys/types.h>
#include <stddef.h>
#include <stdint.h>

#define CONTROL_PROTOCOL	"HANDOFF/1"
#define CONTROL_REQUEST_MAX	4096

struct control;
struct supervisor;

enum control_command {
	CONTROL_STATUS = 0,
	CONTROL_RELOAD,
	CONTROL_STOP,
	CONTROL_FDS,
	CONTROL_VERSION,
};

/* A request line, parsed; the strings point into the line. */
struct control_request {
	enum control_command command;
	const char	*word;		/* the command as written */
	bool		 json;		/* status json */
	bool		 nowait;	/* reload nowait */
	const char	*program;	/* reload PROGRAM, or NULL for all */
	int64_t		 stop_ms;	/* stop DURATION, or -1 */
	const char	*name;		/* fds NAME */
};

struct control	*control_open(struct supervisor *sup, const char *path,
		    char **cause);
void		 control_close(struct control *ctl);
void		 control_reload_begin(struct control *ctl, unsigned int id);
void		 control_progress(struct control *ctl, unsigned int id,
		    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void		 control_reload_end(struct control *ctl, unsigned int id,
		    bool ok, const char *fmt, ...)
		    __attribute__((format(printf, 4, 5)));
void		 control_reload_refused(struct control *ctl, const char *why,
		    char *const *details, size_t ndetails);
int		 control_socket_is_live(const char *path);
int		 control_dir_trusted(const char *path, uid_t uid, char **cause);
const char	*control_parse_request(char *line, size_t len,
		    struct control_request *req);

#endif
