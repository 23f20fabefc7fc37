/*
 * control.c: the control socket server.
 *
 * A unix stream socket, mode 0600, for the supervisor's user: a client
 * whose uid (SO_PEERCRED) is neither root nor the supervisor's is refused.
 * The socket lives in a directory only root or the supervisor's user may
 * write, beside a lock file (PATH.lock, ctllock.c) the supervisor holds for
 * its whole life: a second supervisor on the same path fails to take it
 * and refuses to start, and the holder owns every name beside the socket,
 * so a socket file found there is stale and is replaced. Clients are
 * served from the event loop through bufferevents: a request must arrive
 * within CONTROL_READ_TIMEOUT and be at most CONTROL_REQUEST_MAX bytes,
 * and a client that does not read its answer within CONTROL_WRITE_TIMEOUT
 * is dropped. When every client slot is taken, a new client closes the
 * oldest one that has not sent a complete request yet or, if every client
 * sent one, the oldest one that does not read its answer (bytes of it
 * queued here, unsent: a finished answer, or the progress of a reload or
 * stop it follows), whose answer is cut short; so neither idle clients nor
 * clients that do not read can lock the operator out. The client waiting
 * for an upgrade is never closed for another. The answers queued and not
 * sent, all clients together, are held to CONTROL_QUEUED_MAX: past it the
 * oldest clients that do not read theirs are cut first, never the one
 * answered last. A reload short of fds closes idle clients too
 * (control_close_idle).
 */
#include "autoconf.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <limits.h>
#ifdef HAVE_MALLOC_TRIM
#include <malloc.h>
#endif
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cause.h"
#include "control.h"
#include "ctllock.h"
#include "fdpass.h"
#include "log.h"
#include "loopstat.h"
#include "parse.h"
#include "state.h"
#include "unixaddr.h"
#include "version.h"

#define CONTROL_MAX_CLIENTS	1000	/* and at most a quarter of the fd limit */
#define CONTROL_READ_TIMEOUT	10	/* seconds to send a request */
#define CONTROL_WRITE_TIMEOUT	30	/* seconds to read the answer */
#define CONTROL_DISCARD_ROUNDS	64	/* reads of 4 KiB of input dropped at close */
#define CONTROL_EXEC_FLUSH_MS	500	/* for every client's last bytes before an
					   upgrade's exec, in all */
#define CONTROL_EXEC_IOV	16	/* pieces of an answer sent at once */
#define CONTROL_TRIM_BYTES	(64 * 1024)	/* an answer this long is followed
					   by giving the heap's free pages back */
/*
 * The bytes of answers queued and not sent yet, all clients together,
 * beyond which the oldest clients that do not read theirs are cut: a
 * status json of 1000 workers is some 370 KB, so this holds well over a
 * hundred of them, and a crowd of clients that never read costs the
 * supervisor at most this much memory rather than every answer in full.
 */
#define CONTROL_QUEUED_MAX	(64 * 1024 * 1024)

enum client_state {
	CLIENT_READING = 0,	/* waiting for the request line */
	CLIENT_NOWAIT,		/* reload --no-wait, while the request is taken */
	CLIENT_WATCH_PENDING,	/* waiting for the reload it asked for to begin */
	CLIENT_WATCH,		/* following reload reload_id */
	CLIENT_STOP_WAIT,	/* waiting for the supervisor to stop */
	CLIENT_UPGRADE,		/* waiting for an upgrade (across the exec) */
	CLIENT_CLOSING,		/* flushing its answer, then closed */
};

struct control_client {
	TAILQ_ENTRY(control_client) entry;
	struct control	*ctl;
	struct bufferevent *bev;
	struct event	*deadline;	/* for the request line, then NULL */
	enum client_state state;
	unsigned int	 reload_id;
	char		*program;	/* the reload asked for; NULL: of all */
	bool		 takeover;	/* done once the reload took over */
	size_t		 answer_len;	/* of its final answer (client_finish) */
	struct evbuffer_cb_entry *counted;	/* counts its output in
					   ctl->queued */
	uid_t		 uid;
	pid_t		 pid;
};
TAILQ_HEAD(control_client_list, control_client);

struct control {
	const struct control_ops *ops;	/* the owner's, with its arg */
	void		*arg;
	int		 fd;
	char		*path;
	dev_t		 dev;		/* of the socket file we created */
	ino_t		 ino;
	struct ctllock	 lock;		/* PATH.lock, held while we run */
	struct event	*ev;
	struct event	*resume;	/* re-enables accepting after EMFILE */
	struct control_client_list clients;
	int		 nclients;
	int		 max_clients;
	struct evbuffer	*answer;	/* a client's last answer, being sent */
	size_t		 status_len[2];	/* of the last status, text and JSON */
	size_t		 queued;	/* bytes of every client's output not
					   sent yet */
	struct control_client *newest;	/* answered last: never cut */
	struct event	*cut;		/* cuts clients past CONTROL_QUEUED_MAX */
};

static int	client_send_some(struct control_client *);
static struct control_client *control_client_new(struct control *, int,
		    uid_t, pid_t);

/*
 * Read and drop what the client sent that was never read (bytes after its
 * request line), up to the socket's buffer: a unix stream socket closed
 * with unread input makes the peer's next read fail with ECONNRESET
 * instead of ending, after the answer, with end-of-file.
 */
static void
client_discard_input(int fd)
{
	char buf[4096];
	int rounds;

	for (rounds = 0; rounds < CONTROL_DISCARD_ROUNDS; rounds++)
		if (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) <= 0)
			break;
}

/*
 * Give the heap's free pages back to the kernel. A status of 1000 workers
 * is some 80 KB of text or 180 KB of JSON, built in the heap and freed
 * once sent: the allocator keeps the room (about 120 KiB of VmRSS for
 * good, after the first status --json) unless asked. A no-op where the C
 * library has no malloc_trim.
 */
static void
control_trim_heap(void)
{
#ifdef HAVE_MALLOC_TRIM
	(void)malloc_trim(0);
#endif
}

/*
 * Free a client and close its connection, now: a bufferevent closes its
 * fd only once the loop runs its finalizers, and the fd may be wanted
 * before that (a reload short of fds, a client accepted in its place).
 */
static void
client_free(struct control_client *c)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	size_t unsent = evbuffer_get_length(out);
	bool long_answer = c->answer_len >= CONTROL_TRIM_BYTES ||
	    unsent >= CONTROL_TRIM_BYTES;
	struct control *ctl = c->ctl;
	int fd = bufferevent_getfd(c->bev);

	client_discard_input(fd);
	TAILQ_REMOVE(&ctl->clients, c, entry);
	ctl->nclients--;
	if (ctl->newest == c)
		ctl->newest = NULL;
	if (c->counted != NULL) {
		ctl->queued -= unsent;
		evbuffer_remove_cb_entry(out, c->counted);
	}
	/* What it did not read is freed now, not with the bufferevent. */
	evbuffer_drain(out, unsent);
	if (c->deadline != NULL)
		event_free(c->deadline);
	(void)bufferevent_setfd(c->bev, -1);
	bufferevent_free(c->bev);
	if (fd != -1)
		close(fd);
	free(c->program);
	free(c);
	if (long_answer)
		control_trim_heap();
}

/* Queue one answer line ("KIND TEXT\n"). */
static void
client_line(struct control_client *c, const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void
client_line(struct control_client *c, const char *kind, const char *fmt, ...)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	va_list ap;

	evbuffer_add_printf(out, "%s ", kind);
	va_start(ap, fmt);
	evbuffer_add_vprintf(out, fmt, ap);
	va_end(ap);
	evbuffer_add(out, "\n", 1);
}

/* Evbuffer cleanup: free a block client_queue_answer queued. */
static void
client_free_block(const void *data, size_t len, void *arg)
{
	(void)len;
	(void)arg;
	free((void *)(uintptr_t)data);
}

/*
 * Queue what answer holds on c's output, and empty answer. It goes in one
 * block of its own size: the chains a status is built in hold up to twice
 * its bytes, in pieces, and a client that does not read would keep all of
 * that (CONTROL_QUEUED_MAX counts bytes).
 */
static void
client_queue_answer(struct control_client *c, struct evbuffer *answer)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	size_t rest = evbuffer_get_length(answer);
	char *block;

	if (rest > 0 && rest <= INT_MAX && (block = malloc(rest)) != NULL) {
		(void)evbuffer_remove(answer, block, rest);
		if (evbuffer_add_reference(out, block, rest, client_free_block,
		    NULL) == -1) {
			(void)evbuffer_add(out, block, rest);
			free(block);
		}
		return;
	}
	bufferevent_write_buffer(c->bev, answer);
	evbuffer_drain(answer, evbuffer_get_length(answer));
}

/*
 * Render a status into ctl->answer, in room taken at once for as much as
 * the last one of its kind and an eighth more (libevent rounds a block up
 * to a power of two): one block, rather than some hundred small chains
 * between what a reload allocates meanwhile, whose holes, once freed, the
 * heap could not give back (VmRSS grew some 50 KiB at each 1000-worker
 * reload with status asked throughout). What outgrows the room goes in
 * chains as before.
 */
static void
control_status(struct control *ctl, bool json)
{
	size_t *last = &ctl->status_len[json ? 1 : 0];

	if (*last > 0)
		(void)evbuffer_expand(ctl->answer, *last + *last / 8);
	ctl->ops->status(ctl->arg, json, ctl->answer);
	*last = evbuffer_get_length(ctl->answer);
}

/*
 * Send the last line after what ctl->answer holds (a status), and close
 * once it is written. When nothing is queued before it, the answer is
 * written now, as far as the socket takes it, and the connection closed
 * later in this turn of the loop (the caller may still use c) rather than
 * a turn or more later.
 */
static void
client_finish(struct control_client *c, bool ok, int code, const char *text)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	struct evbuffer *answer = c->ctl->answer;

	if (ok)
		evbuffer_add_printf(answer, "ok %s\n", text);
	else
		evbuffer_add_printf(answer, "error %d %s\n", code, text);
	c->answer_len = evbuffer_get_length(answer);
	c->ctl->newest = c;
	if (evbuffer_get_length(out) == 0)
		(void)evbuffer_write(answer, bufferevent_getfd(c->bev));
	/* The rest goes when the socket takes it. */
	client_queue_answer(c, answer);
	c->state = CLIENT_CLOSING;
	bufferevent_disable(c->bev, EV_READ);
	if (evbuffer_get_length(out) == 0)
		bufferevent_trigger(c->bev, EV_WRITE,
		    BEV_TRIG_IGNORE_WATERMARKS | BEV_TRIG_DEFER_CALLBACKS);
}

/* Hand a listener's fds over SCM_RIGHTS with the "ok" line. */
static void
control_send_fds(struct control_client *c, const char *name)
{
	struct control *ctl = c->ctl;
	struct control_fds l;
	char line[256];
	struct iovec iov;

	if (ctl->ops->listener_fds(ctl->arg, name, &l) == -1) {
		client_finish(c, false, 1, "no such listener (see handoff status)");
		return;
	}
	snprintf(line, sizeof(line), "ok %zu %s %s\n", l.nfds, l.name, l.bound);
	iov.iov_base = line;
	iov.iov_len = strlen(line);
	/*
	 * Nothing else was written to this client: the socket is ours. The
	 * client gets copies; the fds stay the owner's.
	 */
	if (fdpass_send(bufferevent_getfd(c->bev), &iov, 1, l.fds, l.nfds,
	    MSG_DONTWAIT) == -1)
		log_warn("control: cannot send listener %s to pid %d", name,
		    (int)c->pid);
	else
		log_info("control: listener %s handed to pid %d", name, (int)c->pid);
	client_free(c);
}

/*
 * Parse a request line of len bytes (without its newline; line[len] is
 * '\0'). Returns NULL and fills req, whose strings point into line (which
 * is cut up), or the text of a "bad request" error (code 2).
 */
const char *
control_parse_request(char *line, size_t len, struct control_request *req)
{
	char *argv[8], *save = NULL, *word;
	const char *why;
	uint64_t ms;
	int argc = 0, i;

	memset(req, 0, sizeof(*req));
	req->stop_ms = -1;
	if (len > CONTROL_REQUEST_MAX)
		return "request too long";
	if (strlen(line) != len)
		return "bad request: NUL byte";
	line[strcspn(line, "\r")] = '\0';
	/* Names are said back in answers and logs: no terminal escapes. */
	for (i = 0; line[i] != '\0'; i++)
		if (((unsigned char)line[i] < 0x20 && line[i] != '\t') ||
		    line[i] == 0x7f)
			return "bad request: a control character";
	for (word = strtok_r(line, " \t", &save); word != NULL;
	    word = strtok_r(NULL, " \t", &save)) {
		if (argc == 8)
			return "bad request: too many words";
		argv[argc++] = word;
	}
	if (argc == 0 || strcmp(argv[0], CONTROL_PROTOCOL) != 0)
		return "bad request: expected \"" CONTROL_PROTOCOL " COMMAND\" "
		    "(is the client the same version as the supervisor?)";
	if (argc < 2)
		return "bad request: no command";
	req->word = argv[1];
	if (strcmp(argv[1], "status") == 0) {
		req->command = CONTROL_STATUS;
		req->json = argc == 3 && strcmp(argv[2], "json") == 0;
		if (argc > 3 || (argc == 3 && !req->json))
			return "usage: status [json]";
	} else if (strcmp(argv[1], "reload") == 0) {
		req->command = CONTROL_RELOAD;
		for (i = 2; i < argc; i++) {
			if (strcmp(argv[i], "nowait") == 0)
				req->nowait = true;
			else if (strcmp(argv[i], "takeover") == 0)
				req->takeover = true;
			else if (req->program == NULL)
				req->program = argv[i];
			else
				return "usage: reload [nowait | takeover] [PROGRAM]";
		}
		if (req->nowait && req->takeover)
			return "usage: reload [nowait | takeover] [PROGRAM]";
	} else if (strcmp(argv[1], "stop") == 0) {
		req->command = CONTROL_STOP;
		if (argc > 3 || (argc == 3 &&
		    parse_duration_ms(argv[2], &ms, &why) == -1))
			return "usage: stop [DURATION]";
		if (argc == 3)
			req->stop_ms = (int64_t)ms;
	} else if (strcmp(argv[1], "fds") == 0) {
		req->command = CONTROL_FDS;
		if (argc != 3)
			return "usage: fds NAME";
		req->name = argv[2];
	} else if (strcmp(argv[1], "version") == 0) {
		req->command = CONTROL_VERSION;
		if (argc != 2)
			return "usage: version";
	} else if (strcmp(argv[1], "upgrade") == 0) {
		req->command = CONTROL_UPGRADE;
		if (argc > 3 || (argc == 3 && argv[2][0] != '/'))
			return "usage: upgrade [/ABSOLUTE/PATH]";
		req->name = argc == 3 ? argv[2] : NULL;
	} else
		return "unknown command (use status, reload, stop, fds, upgrade "
		    "or version)";
	return NULL;
}

/* Run one request line of len bytes. */
static void
control_dispatch(struct control_client *c, char *line, size_t len)
{
	struct control *ctl = c->ctl;
	struct control_request req;
	const char *bad;
	char *cause = NULL;

	if ((bad = control_parse_request(line, len, &req)) != NULL) {
		client_finish(c, false, 2, bad);
		return;
	}
	log_debug("control: pid %d asks: %s", (int)c->pid, req.word);
	switch (req.command) {
	case CONTROL_STATUS:
		control_status(ctl, req.json);
		client_finish(c, true, 0, "status");
		break;
	case CONTROL_RELOAD:
		/*
		 * Watch first: the reload may be refused at once (a bad
		 * config), and even a --no-wait client must hear that.
		 */
		free(c->program);
		c->program = NULL;
		if (req.program != NULL &&
		    (c->program = strdup(req.program)) == NULL) {
			client_finish(c, false, 1, "out of memory");
			return;
		}
		c->state = req.nowait ? CLIENT_NOWAIT : CLIENT_WATCH_PENDING;
		c->takeover = req.takeover;
		if (ctl->ops->reload(ctl->arg, req.program, &cause) == -1) {
			client_finish(c, false, 1, cause_text(cause));
			free(cause);
			return;
		}
		/* A reload that failed before this returned was told above. */
		if (c->state == CLIENT_NOWAIT)
			client_finish(c, true, 0, c->reload_id != 0 ?
			    "reload started" : "reload queued");
		break;
	case CONTROL_STOP:
		c->state = CLIENT_STOP_WAIT;
		ctl->ops->stop(ctl->arg, req.stop_ms);
		break;
	case CONTROL_FDS:
		control_send_fds(c, req.name);
		break;
	case CONTROL_VERSION:
		client_finish(c, true, 0, version_text());
		break;
	case CONTROL_UPGRADE:
		c->state = CLIENT_UPGRADE;
		if (ctl->ops->upgrade(ctl->arg, req.name, &cause) == -1) {
			client_finish(c, false, 1, cause_text(cause));
			free(cause);
		}
		break;
	}
}

/* Bufferevent read callback: a request line, once complete. */
static void
client_read(struct bufferevent *bev, void *arg)
{
	struct control_client *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t len;
	char *line;

	loopstat_mark("control request");
	if (c->state != CLIENT_READING) {
		/* Only the request is read; later input is discarded. */
		evbuffer_drain(in, evbuffer_get_length(in));
		return;
	}
	line = evbuffer_readln(in, &len, EVBUFFER_EOL_LF);
	if (line == NULL) {
		if (evbuffer_get_length(in) > CONTROL_REQUEST_MAX)
			client_finish(c, false, 2, "request too long");
		return;
	}
	/* The answer may take long (a reload): no deadline now. */
	event_free(c->deadline);
	c->deadline = NULL;
	control_dispatch(c, line, len);
	free(line);
}

/*
 * Take the request line at once if the client sent it already, as it
 * usually has by the time it is accepted, and answer it in this turn of
 * the loop rather than once the bufferevent reads it, a turn later.
 */
static void
client_read_now(struct control_client *c)
{
	char line[CONTROL_REQUEST_MAX + 2];
	int fd = bufferevent_getfd(c->bev);
	ssize_t n;
	size_t len;
	char *nl;

	n = recv(fd, line, sizeof(line) - 1, MSG_PEEK | MSG_DONTWAIT);
	if (n <= 0 || (nl = memchr(line, '\n', (size_t)n)) == NULL)
		return;		/* the bufferevent reads it */
	len = (size_t)(nl - line);
	/* Only the line is taken: what follows is the bufferevent's. */
	if (recv(fd, line, len + 1, MSG_DONTWAIT) != (ssize_t)len + 1) {
		client_finish(c, false, 2, "cannot read the request");
		return;
	}
	line[len] = '\0';
	loopstat_mark("control request");
	event_free(c->deadline);
	c->deadline = NULL;
	control_dispatch(c, line, len);
}

/* Bufferevent write callback: the answer is out; close if it was the last. */
static void
client_written(struct bufferevent *bev, void *arg)
{
	struct control_client *c = arg;

	(void)bev;
	loopstat_mark("control write");
	if (c->state == CLIENT_CLOSING)
		client_free(c);
}

/* Timer: the client sent no complete request within CONTROL_READ_TIMEOUT. */
static void
client_deadline(evutil_socket_t fd, short what, void *arg)
{
	struct control_client *c = arg;

	(void)fd;
	(void)what;
	loopstat_mark("control deadline");
	log_debug("control: pid %d sent no complete request in %ds",
	    (int)c->pid, CONTROL_READ_TIMEOUT);
	event_free(c->deadline);
	c->deadline = NULL;
	client_finish(c, false, 2, "timed out waiting for a request");
}

/* Bufferevent event callback: EOF, error or write timeout. */
static void
client_event(struct bufferevent *bev, short what, void *arg)
{
	struct control_client *c = arg;

	loopstat_mark("control event");
	if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR)) {
		/*
		 * The client shut down its side (socat, nc -N do): it may
		 * still read the answer to a request it sent.
		 */
		bufferevent_disable(bev, EV_READ);
		if (c->state == CLIENT_READING) {
			if (evbuffer_get_length(bufferevent_get_input(bev)) > 0)
				client_finish(c, false, 2, "incomplete request "
				    "(no newline before the end)");
			else
				client_free(c);
		}
		return;
	}
	if (what & BEV_EVENT_TIMEOUT)
		log_debug("control: pid %d does not read its answer; dropped",
		    (int)c->pid);
	client_free(c);
}

/* Send a line at once, without blocking; a client too slow loses it. */
static void
control_send_now(int fd, const char *line)
{
	(void)send(fd, line, strlen(line), MSG_NOSIGNAL | MSG_DONTWAIT);
}

/* Refuse a connection with one line, without waiting for it to be read. */
static void
control_refuse(int fd, const char *text)
{
	char line[256];

	snprintf(line, sizeof(line), "error 1 %s\n", text);
	control_send_now(fd, line);
	close(fd);
}

/* Timer: try accepting again after running out of fds. */
static void
control_resume_accept(evutil_socket_t fd, short what, void *arg)
{
	struct control *ctl = arg;

	(void)fd;
	(void)what;
	loopstat_mark("control accept");
	event_add(ctl->ev, NULL);
}

/*
 * Out of fds: the pending connection stays readable, so stop watching the
 * socket for a second instead of spinning on accept().
 */
static void
control_pause_accept(struct control *ctl)
{
	struct timeval tv = { 1, 0 };

	log_warn("control: cannot accept a client (%d connected); pausing "
	    "for 1s", ctl->nclients);
	event_del(ctl->ev);
	evtimer_add(ctl->resume, &tv);
}

/* Close a client that has not sent a complete request, telling it why. */
static void
client_close_idle(struct control_client *c, const char *for_what)
{
	char line[160];

	log_debug("control: closed idle client pid %d to make room for %s (%d "
	    "connected)", (int)c->pid, for_what, c->ctl->nclients);
	snprintf(line, sizeof(line), "error 1 closed to make room for %s: this "
	    "one sent no request\n", for_what);
	control_send_now(bufferevent_getfd(c->bev), line);
	client_free(c);
}

/*
 * Whether c does not read its answer: bytes of it are queued here, the
 * socket having taken no more (a finished answer, or the progress of a
 * reload or stop it follows). The upgrade's client is never counted.
 */
static bool
client_stalled(struct control_client *c)
{
	return c->state != CLIENT_UPGRADE &&
	    evbuffer_get_length(bufferevent_get_output(c->bev)) > 0;
}

/* Close a client that does not read its answer: the answer is cut short. */
static void
client_cut(struct control_client *c, const char *why)
{
	log_info("control: closed pid %d, which does not read its answer (%zu "
	    "bytes of it unsent), %s", (int)c->pid, evbuffer_get_length(
	    bufferevent_get_output(c->bev)), why);
	client_free(c);
}

/*
 * Every client slot (or every fd) is taken: close the oldest client that
 * has not sent a complete request, or else the oldest one that does not
 * read its answer, to make room for a new one. Clients with a request
 * under way that read what they are sent (a reload they follow, a stop)
 * are kept, as is the upgrade's. Returns false if there was no such
 * client. With idle_only, only a client without a request is closed.
 */
static bool
control_make_room(struct control *ctl, bool idle_only)
{
	struct control_client *c;

	TAILQ_FOREACH(c, &ctl->clients, entry)
		if (c->state == CLIENT_READING) {
			client_close_idle(c, "another client");
			return true;
		}
	if (idle_only)
		return false;
	TAILQ_FOREACH(c, &ctl->clients, entry)
		if (client_stalled(c)) {
			client_cut(c, "to make room for another client");
			return true;
		}
	return false;
}

/*
 * Close the n oldest clients that have not sent a complete request, each
 * told why, if there are that many: their fds are wanted (a reload's
 * workers need n more), and fewer would not do. Returns how many were
 * closed: n, or 0.
 */
int
control_close_idle(struct control *ctl, int n)
{
	struct control_client *c, *next;
	int closed = 0, idle = 0;

	if (ctl == NULL)
		return 0;
	TAILQ_FOREACH(c, &ctl->clients, entry)
		idle += c->state == CLIENT_READING;
	if (idle < n)
		return 0;
	for (c = TAILQ_FIRST(&ctl->clients); c != NULL && closed < n; c = next) {
		next = TAILQ_NEXT(c, entry);
		if (c->state != CLIENT_READING)
			continue;
		client_close_idle(c, "workers");
		closed++;
	}
	return closed;
}

/*
 * Event: the answers queued and not sent passed CONTROL_QUEUED_MAX. Cut
 * the oldest clients that do not read theirs until the rest fit; the
 * client answered last keeps its answer, however long.
 */
static void
control_cut_stalled(evutil_socket_t fd, short what, void *arg)
{
	struct control *ctl = arg;
	struct control_client *c, *next;
	char why[80];

	(void)fd;
	(void)what;
	loopstat_mark("control cut");
	snprintf(why, sizeof(why), "as the answers queued passed %d MiB",
	    CONTROL_QUEUED_MAX / (1024 * 1024));
	for (c = TAILQ_FIRST(&ctl->clients); c != NULL &&
	    ctl->queued > CONTROL_QUEUED_MAX; c = next) {
		next = TAILQ_NEXT(c, entry);
		if (c != ctl->newest && client_stalled(c))
			client_cut(c, why);
	}
}

/*
 * Evbuffer callback: a client's output grew or shrank. Past
 * CONTROL_QUEUED_MAX, control_cut_stalled runs once this turn's callers
 * are done with their clients.
 */
static void
client_output_changed(struct evbuffer *buf, const struct evbuffer_cb_info *info,
    void *arg)
{
	struct control *ctl = ((struct control_client *)arg)->ctl;

	(void)buf;
	ctl->queued += info->n_added;
	ctl->queued -= info->n_deleted;
	if (ctl->queued > CONTROL_QUEUED_MAX)
		event_active(ctl->cut, EV_TIMEOUT, 0);
}

/* Event callback: accept every pending connection. */
static void
control_accept(evutil_socket_t lfd, short what, void *arg)
{
	struct control *ctl = arg;
	struct control_client *c;
	struct ucred cred;
	socklen_t len;
	char text[160];
	int fd;

	(void)what;
	loopstat_mark("control accept");
	for (;;) {
		fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno != EMFILE && errno != ENFILE)
				return;
			if (control_make_room(ctl, true))
				continue;
			control_pause_accept(ctl);
			return;
		}
		len = sizeof(cred);
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == -1) {
			close(fd);
			continue;
		}
		if (cred.uid != 0 && cred.uid != geteuid()) {
			log_warnx("control: refused pid %d of uid %u (only root "
			    "and uid %u may control this supervisor)",
			    (int)cred.pid, (unsigned)cred.uid, (unsigned)geteuid());
			snprintf(text, sizeof(text), "permission denied: uid %u "
			    "is neither root nor the supervisor's uid %u",
			    (unsigned)cred.uid, (unsigned)geteuid());
			control_refuse(fd, text);
			continue;
		}
		if (ctl->nclients >= ctl->max_clients &&
		    !control_make_room(ctl, false)) {
			control_refuse(fd, "too many control clients; try again");
			continue;
		}
		if ((c = control_client_new(ctl, fd, cred.uid, cred.pid)) == NULL)
			continue;
		client_read_now(c);
		/* Many may be answered in this turn: keep to the limit. */
		if (ctl->queued > CONTROL_QUEUED_MAX)
			control_cut_stalled(-1, 0, ctl);
	}
}

/*
 * Serve a client on fd (the client's from now on; closed on failure):
 * NULL if out of memory.
 */
static struct control_client *
control_client_new(struct control *ctl, int fd, uid_t uid, pid_t pid)
{
	struct timeval rt = { CONTROL_READ_TIMEOUT, 0 };
	struct timeval wt = { CONTROL_WRITE_TIMEOUT, 0 };
	struct event_base *base = event_get_base(ctl->ev);
	struct control_client *c;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		close(fd);
		return NULL;
	}
	c->ctl = ctl;
	c->uid = uid;
	c->pid = pid;
	c->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	c->deadline = evtimer_new(base, client_deadline, c);
	if (c->bev != NULL)
		c->counted = evbuffer_add_cb(bufferevent_get_output(c->bev),
		    client_output_changed, c);
	if (c->bev == NULL || c->deadline == NULL || c->counted == NULL) {
		if (c->bev != NULL)
			bufferevent_free(c->bev);
		else
			close(fd);
		if (c->deadline != NULL)
			event_free(c->deadline);
		free(c);
		return NULL;
	}
	TAILQ_INSERT_TAIL(&ctl->clients, c, entry);
	ctl->nclients++;
	bufferevent_setcb(c->bev, client_read, client_written,
	    client_event, c);
	/* A deadline for the whole request, not per byte. */
	evtimer_add(c->deadline, &rt);
	bufferevent_set_timeouts(c->bev, NULL, &wt);
	/* A long answer (a status) goes as fast as the client reads. */
	bufferevent_set_max_single_write(c->bev, EV_SSIZE_MAX);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	return c;
}

/*
 * Tell whether a supervisor accepts on the socket at path: 1 yes, 0 no
 * (missing or stale), -1 the path exists but is not a socket.
 */
int
control_socket_is_live(const char *path)
{
	struct sockaddr_un sun;
	socklen_t sunlen;
	const char *why;
	struct stat st;
	int fd, live;

	if (lstat(path, &st) == -1)
		return 0;
	if (!S_ISSOCK(st.st_mode))
		return -1;
	if (unixaddr_make(path, UNIXADDR_FILE, &sun, &sunlen, &why) == -1 ||
	    (fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return 0;
	live = connect(fd, (struct sockaddr *)&sun, sunlen) == 0;
	close(fd);
	return live;
}

/*
 * How many clients at once: CONTROL_MAX_CLIENTS, but at most a quarter of
 * the fd limit. That alone does not keep the fds workers need: a reload
 * counts what it needs first, and closes idle clients (control_close_idle)
 * if the limit is short.
 */
static int
control_max_clients(void)
{
	struct rlimit nofile;
	rlim_t quarter;

	if (getrlimit(RLIMIT_NOFILE, &nofile) == -1 ||
	    nofile.rlim_cur == RLIM_INFINITY)
		return CONTROL_MAX_CLIENTS;
	quarter = nofile.rlim_cur / 4;
	if (quarter < 8)
		quarter = 8;
	return quarter < CONTROL_MAX_CLIENTS ? (int)quarter : CONTROL_MAX_CLIENTS;
}

/*
 * Create the directory holding the control socket if it is missing (only
 * the last component: a missing parent is the user's to make), and check
 * that only we or root can write to it.
 */
static int
control_check_dir(const char *path, char **cause)
{
	char dir[PATH_MAX], *why = NULL;

	ctllock_dirname(path, dir, sizeof(dir));
	if (mkdir(dir, geteuid() == 0 ? 0755 : 0700) == -1 && errno != EEXIST) {
		cause_set(cause, "control socket directory %s: %s", dir,
		    strerror(errno));
		return -1;
	}
	if (ctllock_dir_trusted(path, geteuid(), &why) == -1) {
		cause_set(cause, "%s; put the control socket in a directory only "
		    "root or uid %u can write ([supervisor] control)", why,
		    (unsigned)geteuid());
		free(why);
		return -1;
	}
	return 0;
}

/* Make ctl's events and buffer, and accept clients on ctl->fd: 0 or -1. */
static int
control_start(struct control *ctl, struct event_base *base)
{
	ctl->ev = event_new(base, ctl->fd, EV_READ | EV_PERSIST,
	    control_accept, ctl);
	ctl->resume = evtimer_new(base, control_resume_accept, ctl);
	ctl->cut = event_new(base, -1, 0, control_cut_stalled, ctl);
	ctl->answer = evbuffer_new();
	if (ctl->ev == NULL || ctl->resume == NULL || ctl->cut == NULL ||
	    ctl->answer == NULL || event_add(ctl->ev, NULL) == -1)
		return -1;
	return 0;
}

/* Free what control_open made: events, socket, its file, the lock. */
static void
control_release(struct control *ctl)
{
	struct stat st;

	if (ctl->ev != NULL)
		event_free(ctl->ev);
	if (ctl->resume != NULL)
		event_free(ctl->resume);
	if (ctl->cut != NULL)
		event_free(ctl->cut);
	if (ctl->answer != NULL)
		evbuffer_free(ctl->answer);
	if (ctl->path != NULL && ctl->ino != 0 && lstat(ctl->path, &st) == 0 &&
	    st.st_dev == ctl->dev && st.st_ino == ctl->ino)
		unlink(ctl->path);
	if (ctl->fd != -1)
		close(ctl->fd);
	ctllock_release(&ctl->lock);
	free(ctl->path);
	free(ctl);
}

/*
 * Open the control socket at path and accept clients from base's loop;
 * requests are served through ops, called with arg.
 */
struct control *
control_open(struct event_base *base, const char *path,
    const struct control_ops *ops, void *arg, char **cause)
{
	struct sockaddr_un sun;
	socklen_t sunlen;
	struct control *ctl;
	struct stat st;
	const char *why;
	mode_t old_umask;
	int live;

	if (unixaddr_make(path, UNIXADDR_FILE, &sun, &sunlen, &why) == -1) {
		cause_set(cause, "control socket %s: %s", path, why);
		return NULL;
	}
	if (control_check_dir(path, cause) == -1)
		return NULL;
	if ((ctl = calloc(1, sizeof(*ctl))) == NULL) {
		*cause = strdup("out of memory");
		return NULL;
	}
	TAILQ_INIT(&ctl->clients);
	ctl->fd = -1;
	ctl->lock.fd = -1;
	if (ctllock_take(&ctl->lock, path, cause) == -1) {
		control_release(ctl);
		return NULL;
	}
	/* A supervisor that takes no lock (an older version) may still run. */
	live = control_socket_is_live(path);
	if (live != 0) {
		cause_set(cause, live == 1 ? "control socket %s: another "
		    "supervisor is running there (stop it, or set a different "
		    "[supervisor] name or control)" : "control socket %s: "
		    "exists and is not a socket", path);
		control_release(ctl);
		return NULL;
	}
	if (lstat(path, &st) == 0) {
		log_info("control: replacing stale socket %s", path);
		unlink(path);
	}

	ctl->ops = ops;
	ctl->arg = arg;
	ctl->max_clients = control_max_clients();
	ctl->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (ctl->fd == -1)
		goto fail;
	/* Created 0600 from the start: no window with wider permissions. */
	old_umask = umask(0177);
	if (bind(ctl->fd, (struct sockaddr *)&sun, sunlen) == -1) {
		umask(old_umask);
		goto fail;
	}
	umask(old_umask);
	if (lstat(path, &st) == 0) {
		ctl->dev = st.st_dev;
		ctl->ino = st.st_ino;
	}
	if ((ctl->path = strdup(path)) == NULL || listen(ctl->fd, 128) == -1)
		goto fail;
	if (control_start(ctl, base) == -1)
		goto fail;
	return ctl;
fail:
	cause_set(cause, "control socket %s: %s", path, strerror(errno));
	control_release(ctl);
	return NULL;
}

/* Close the control socket: tell waiting clients, remove our socket file. */
void
control_close(struct control *ctl)
{
	struct control_client *c;
	struct stat st;
	int fd;

	if (ctl == NULL)
		return;
	/* Gone from the file system before anyone hears "stopped". */
	if (lstat(ctl->path, &st) == 0 && st.st_dev == ctl->dev &&
	    st.st_ino == ctl->ino)
		unlink(ctl->path);
	while ((c = TAILQ_FIRST(&ctl->clients)) != NULL) {
		/*
		 * The loop is over: a last line, sent without waiting (the
		 * bufferevent's own buffer only drains from the loop).
		 */
		fd = bufferevent_getfd(c->bev);
		if (c->state == CLIENT_STOP_WAIT)
			control_send_now(fd, "ok stopped\n");
		else if (c->state == CLIENT_WATCH || c->state == CLIENT_WATCH_PENDING)
			control_send_now(fd, "error 1 the supervisor stopped\n");
		client_free(c);
	}
	control_release(ctl);
}

/*
 * Whether a reload of only (NULL: of every program) is the one client c
 * waits for: a reload of every program covers whatever it asked for; one
 * of a program, only a request for that program.
 */
static bool
client_waits_for(const struct control_client *c, const char *only)
{
	return only == NULL ||
	    (c->program != NULL && strcmp(c->program, only) == 0);
}

/*
 * A reload of only (NULL: every program) began: the clients waiting for
 * it follow it as id.
 */
void
control_reload_begin(struct control *ctl, unsigned int id, const char *only)
{
	struct control_client *c;

	if (ctl == NULL)
		return;
	TAILQ_FOREACH(c, &ctl->clients, entry) {
		if (!client_waits_for(c, only))
			continue;
		if (c->state == CLIENT_WATCH_PENDING) {
			c->state = CLIENT_WATCH;
			c->reload_id = id;
		} else if (c->state == CLIENT_NOWAIT)
			c->reload_id = id;	/* hears a failure at once */
	}
}

/* A progress line to every client following reload id. */
void
control_progress(struct control *ctl, unsigned int id, const char *fmt, ...)
{
	struct control_client *c;
	char text[512];
	va_list ap;

	if (ctl == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	TAILQ_FOREACH(c, &ctl->clients, entry)
		if (c->state == CLIENT_WATCH && c->reload_id == id)
			client_line(c, "progress", "%s", text);
}

/*
 * Write what is queued for the clients following reload id now, not at
 * the loop's next turn: the lines saying a reload took over reach them
 * before the supervisor goes on with what the commit has left to do. The
 * bufferevent keeps the start of its output frozen but while it writes;
 * this writes as it does. What the socket does not take now stays queued
 * for the bufferevent, which also meets any error (a client gone) at its
 * next write and frees the client then, as it would have.
 */
void
control_flush(struct control *ctl, unsigned int id)
{
	struct control_client *c;
	struct evbuffer *out;

	if (ctl == NULL)
		return;
	TAILQ_FOREACH(c, &ctl->clients, entry) {
		if (c->state != CLIENT_WATCH || c->reload_id != id)
			continue;
		out = bufferevent_get_output(c->bev);
		if (evbuffer_get_length(out) == 0 ||
		    evbuffer_unfreeze(out, 1) == -1)
			continue;
		(void)client_send_some(c);
		(void)evbuffer_freeze(out, 1);
	}
}

/*
 * Tell the clients following reload id how it ended (with takeover_only,
 * just those that asked to hear no more once it took over), and close
 * them.
 */
static void
control_reload_tell(struct control *ctl, unsigned int id, bool ok,
    bool takeover_only, const char *fmt, va_list ap)
    __attribute__((format(printf, 5, 0)));
static void
control_reload_tell(struct control *ctl, unsigned int id, bool ok,
    bool takeover_only, const char *fmt, va_list ap)
{
	struct control_client *c, *next;
	char text[512];
	bool told;

	vsnprintf(text, sizeof(text), fmt, ap);
	for (c = TAILQ_FIRST(&ctl->clients); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		if (c->reload_id != id)
			continue;
		if (takeover_only)
			told = c->state == CLIENT_WATCH && c->takeover;
		else
			told = c->state == CLIENT_WATCH ||
			    (c->state == CLIENT_NOWAIT && !ok);
		if (told)
			client_finish(c, ok, 1, text);
	}
}

/* Reload id ended: tell its followers, and close them. */
void
control_reload_end(struct control *ctl, unsigned int id, bool ok,
    const char *fmt, ...)
{
	va_list ap;

	if (ctl == NULL)
		return;
	va_start(ap, fmt);
	control_reload_tell(ctl, id, ok, false, fmt, ap);
	va_end(ap);
}

/*
 * Reload id took over (the old generations drain on): clients that asked
 * to hear no more (reload takeover) are told it succeeded, and closed.
 */
void
control_reload_took_over(struct control *ctl, unsigned int id,
    const char *fmt, ...)
{
	va_list ap;

	if (ctl == NULL)
		return;
	va_start(ap, fmt);
	control_reload_tell(ctl, id, true, true, fmt, ap);
	va_end(ap);
}

/*
 * A reload of only (NULL: every program) was refused before it began (a
 * bad config): tell the clients waiting for it.
 */
void
control_reload_refused(struct control *ctl, const char *only, const char *why,
    char *const *details, size_t ndetails)
{
	struct control_client *c, *next;
	size_t i;

	if (ctl == NULL)
		return;
	for (c = TAILQ_FIRST(&ctl->clients); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		if ((c->state != CLIENT_WATCH_PENDING &&
		    c->state != CLIENT_NOWAIT) || !client_waits_for(c, only))
			continue;
		for (i = 0; i < ndetails; i++)
			client_line(c, "progress", "%s", details[i]);
		client_finish(c, false, 1, why);
	}
}

/* ---- upgrade in place (upgrade.c) ------------------------------------ */

/* A progress line to the client waiting for an upgrade, sent now. */
void
control_upgrade_progress(struct control *ctl, const char *fmt, ...)
{
	struct control_client *c;
	char text[600], line[620];
	va_list ap;

	if (ctl == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	snprintf(line, sizeof(line), "progress %s\n", text);
	TAILQ_FOREACH(c, &ctl->clients, entry)
		if (c->state == CLIENT_UPGRADE)
			control_send_now(bufferevent_getfd(c->bev), line);
}

/* Tell the clients waiting for an upgrade how it ended, and close them. */
void
control_upgrade_end(struct control *ctl, bool ok, const char *fmt, ...)
{
	struct control_client *c, *next;
	char text[600];
	va_list ap;

	if (ctl == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	for (c = TAILQ_FIRST(&ctl->clients); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		if (c->state == CLIENT_UPGRADE)
			client_finish(c, ok, 1, text);
	}
}

/*
 * Send what c's answer holds, as far as the socket takes it now, without
 * blocking, and drain what went. -1 with errno on an error (EAGAIN: the
 * socket is full); what was not sent stays queued.
 */
static int
client_send_some(struct control_client *c)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	struct evbuffer_iovec vec[CONTROL_EXEC_IOV];
	struct iovec iov[CONTROL_EXEC_IOV];
	struct msghdr msg;
	ssize_t sent;
	int n, i;

	n = evbuffer_peek(out, -1, NULL, vec, CONTROL_EXEC_IOV);
	if (n > CONTROL_EXEC_IOV)
		n = CONTROL_EXEC_IOV;
	for (i = 0; i < n; i++) {
		iov[i].iov_base = vec[i].iov_base;
		iov[i].iov_len = vec[i].iov_len;
	}
	memset(&msg, 0, sizeof(msg));
	msg.msg_iov = iov;
	msg.msg_iovlen = (size_t)n;
	sent = sendmsg(bufferevent_getfd(c->bev), &msg, MSG_NOSIGNAL |
	    MSG_DONTWAIT);
	if (sent == -1)
		return -1;
	evbuffer_drain(out, (size_t)sent);
	return 0;
}

/*
 * Send what c's answer still holds, as far as the socket takes it now,
 * without blocking. False once nothing more can go (the client is gone):
 * what is left is dropped.
 */
static bool
client_send_rest(struct control_client *c)
{
	if (client_send_some(c) == 0 || errno == EAGAIN || errno == EINTR)
		return true;
	evbuffer_drain(bufferevent_get_output(c->bev),
	    evbuffer_get_length(bufferevent_get_output(c->bev)));
	return false;
}

/*
 * Send the answers of the clients other than the upgrade's for at most
 * CONTROL_EXEC_FLUSH_MS in all, as fast as each reads: a client that
 * does not read loses the rest of its answer, and cannot hold the
 * upgrade back longer.
 */
static void
control_flush_others(struct control *ctl)
{
	struct control_client *c, **who;
	struct timespec began;
	struct pollfd *pfd;
	uint64_t spent;
	int n, i;

	clock_gettime(CLOCK_MONOTONIC, &began);
	pfd = calloc((size_t)ctl->nclients + 1, sizeof(*pfd));
	who = calloc((size_t)ctl->nclients + 1, sizeof(*who));
	if (pfd == NULL || who == NULL) {
		free(pfd);
		free(who);
		return;
	}
	for (;;) {
		n = 0;
		TAILQ_FOREACH(c, &ctl->clients, entry) {
			if (c->state == CLIENT_UPGRADE || evbuffer_get_length(
			    bufferevent_get_output(c->bev)) == 0)
				continue;
			pfd[n].fd = bufferevent_getfd(c->bev);
			pfd[n].events = POLLOUT;
			pfd[n].revents = 0;
			who[n++] = c;
		}
		spent = elapsed_ms(&began);
		if (n == 0 || spent >= CONTROL_EXEC_FLUSH_MS ||
		    (poll(pfd, (nfds_t)n, (int)(CONTROL_EXEC_FLUSH_MS - spent)) ==
		    -1 && errno != EINTR))
			break;
		for (i = 0; i < n; i++)
			if (pfd[i].revents != 0)
				(void)client_send_rest(who[i]);
	}
	free(pfd);
	free(who);
}

/*
 * An upgrade is about to exec: its fds are CLOEXEC, so every client but
 * the one that asked for the upgrade is about to be closed. Close them
 * in order instead: no more input is taken (a client that writes on gets
 * EPIPE); a client whose request was not served (not read yet, or read
 * only in part) is told so, in an error line, and to ask again (the new
 * image accepts on the same socket); what each answer still holds is sent
 * for a bounded time (control_flush_others); what each sent and was not
 * read is dropped (bounded, client_discard_input), so that each ends with
 * an end-of-file, not a connection reset. The upgrade's client is left as
 * it is: it crosses the exec.
 */
void
control_upgrade_close_others(struct control *ctl)
{
	struct control_client *c, *next;
	size_t unsent;

	if (ctl == NULL)
		return;
	TAILQ_FOREACH(c, &ctl->clients, entry) {
		if (c->state == CLIENT_UPGRADE)
			continue;
		(void)shutdown(bufferevent_getfd(c->bev), SHUT_RD);
		/*
		 * A bufferevent's output is drained only by its own writes:
		 * from now on by client_send_rest's.
		 */
		evbuffer_unfreeze(bufferevent_get_output(c->bev), 1);
		if (c->state == CLIENT_READING)
			client_line(c, "error", "%d the supervisor is upgrading "
			    "itself in place; this request was not served: ask "
			    "again", CONTROL_ERROR_AGAIN);
		else if (c->state != CLIENT_CLOSING)
			client_line(c, "error", "1 the supervisor is upgrading "
			    "itself in place; this connection ends before the "
			    "answer: see handoff status");
		(void)client_send_rest(c);
	}
	control_flush_others(ctl);
	for (c = TAILQ_FIRST(&ctl->clients); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		if (c->state == CLIENT_UPGRADE)
			continue;
		unsent = evbuffer_get_length(bufferevent_get_output(c->bev));
		if (unsent > 0)
			log_info("control: pid %d did not read its answer in "
			    "time: %zu bytes of it dropped by the upgrade",
			    (int)c->pid, unsent);
		client_discard_input(bufferevent_getfd(c->bev));
		/*
		 * The end-of-file now: a bufferevent's fd is closed only
		 * when the loop runs its finalizers, here never (the exec
		 * closes it, with nothing unread left to make that a reset).
		 */
		(void)shutdown(bufferevent_getfd(c->bev), SHUT_WR);
		client_free(c);
	}
}

/*
 * Write the control socket, its lock and the upgrade's client (the fds
 * cross the exec; the other clients were closed before it by
 * control_upgrade_close_others) as a record.
 */
void
control_save(const struct control *ctl, struct state_writer *w)
{
	struct control_client *c;

	state_rec(w, "control");
	state_fd(w, "fd", ctl->fd);
	state_fd(w, "lock_fd", ctl->lock.fd);
	state_str(w, "path", ctl->path);
	state_str(w, "lock_path", ctl->lock.path);
	state_int(w, "dev", (long long)ctl->dev);
	state_int(w, "ino", (long long)ctl->ino);
	TAILQ_FOREACH(c, &ctl->clients, entry)
		if (c->state == CLIENT_UPGRADE) {
			state_fd(w, "client_fd", bufferevent_getfd(c->bev));
			state_int(w, "client_pid", (long long)c->pid);
			state_int(w, "client_uid", (long long)c->uid);
			break;
		}
}

/*
 * Serve the control socket a state record names (after an upgrade's
 * exec): its socket and lock become this one's, and the client that
 * asked for the upgrade waits for its answer. NULL with *cause.
 */
struct control *
control_restore(struct event_base *base, const struct state_rec *r,
    const struct control_ops *ops, void *arg, char **cause)
{
	struct control *ctl;
	const char *path = state_get(r, "path"), *lock = state_get(r, "lock_path");
	int client = (int)state_get_int(r, "client_fd", -1);
	struct control_client *c;

	if (path == NULL || lock == NULL || state_get_int(r, "fd", -1) < 0) {
		*cause = strdup("the state has no control socket");
		return NULL;
	}
	if ((ctl = calloc(1, sizeof(*ctl))) == NULL) {
		*cause = strdup("out of memory");
		return NULL;
	}
	TAILQ_INIT(&ctl->clients);
	ctl->ops = ops;
	ctl->arg = arg;
	ctl->max_clients = control_max_clients();
	ctl->fd = (int)state_get_int(r, "fd", -1);
	ctl->lock.fd = (int)state_get_int(r, "lock_fd", -1);
	ctl->dev = (dev_t)state_get_int(r, "dev", 0);
	ctl->ino = (ino_t)state_get_int(r, "ino", 0);
	ctl->path = strdup(path);
	ctl->lock.path = strdup(lock);
	if (ctl->path == NULL || ctl->lock.path == NULL ||
	    control_start(ctl, base) == -1) {
		/* The fds stay open: an exec back needs them. */
		ctl->fd = ctl->lock.fd = -1;
		ctl->ino = 0;
		control_release(ctl);
		*cause = strdup("out of memory");
		return NULL;
	}
	/* The client's connection is a client's again, waiting for its answer. */
	if (client >= 0 && (c = control_client_new(ctl, client,
	    (uid_t)state_get_int(r, "client_uid", 0),
	    (pid_t)state_get_int(r, "client_pid", 0))) != NULL) {
		event_free(c->deadline);
		c->deadline = NULL;
		c->state = CLIENT_UPGRADE;
	}
	return ctl;
}
