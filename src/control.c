/*
 * control.c: the control socket server.
 *
 * A unix stream socket, mode 0600, for the supervisor's user: a client
 * whose uid (SO_PEERCRED) is neither root nor the supervisor's is refused.
 * A second supervisor on a live socket refuses to start; a stale socket
 * file (nobody accepts on it) is replaced. Clients are served from the
 * event loop through bufferevents: a request must arrive within
 * CONTROL_READ_TIMEOUT and be at most CONTROL_REQUEST_MAX bytes, and a
 * client that does not read its answer within CONTROL_WRITE_TIMEOUT is
 * dropped, so no client can block or exhaust the supervisor.
 */
#include "autoconf.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "control.h"
#include "listener.h"
#include "log.h"
#include "parse.h"
#include "status.h"
#include "supervisor.h"

#define CONTROL_MAX_CLIENTS	1000	/* and at most a quarter of the fd limit */
#define CONTROL_READ_TIMEOUT	10	/* seconds to send a request */
#define CONTROL_WRITE_TIMEOUT	30	/* seconds to read the answer */

enum client_state {
	CLIENT_READING = 0,	/* waiting for the request line */
	CLIENT_NOWAIT,		/* reload --no-wait, while the request is taken */
	CLIENT_WATCH_PENDING,	/* waiting for the reload it asked for to begin */
	CLIENT_WATCH,		/* following reload reload_id */
	CLIENT_STOP_WAIT,	/* waiting for the supervisor to stop */
	CLIENT_CLOSING,		/* flushing its answer, then closed */
};

struct control_client {
	TAILQ_ENTRY(control_client) entry;
	struct control	*ctl;
	struct bufferevent *bev;
	struct event	*deadline;	/* for the request line, then NULL */
	enum client_state state;
	unsigned int	 reload_id;
	uid_t		 uid;
	pid_t		 pid;
};
TAILQ_HEAD(control_client_list, control_client);

struct control {
	struct supervisor *sup;
	int		 fd;
	char		*path;
	dev_t		 dev;		/* of the socket file we created */
	ino_t		 ino;
	struct event	*ev;
	struct event	*resume;	/* re-enables accepting after EMFILE */
	struct control_client_list clients;
	int		 nclients;
	int		 max_clients;
};

/* Free a client and close its connection. */
static void
client_free(struct control_client *c)
{
	TAILQ_REMOVE(&c->ctl->clients, c, entry);
	c->ctl->nclients--;
	if (c->deadline != NULL)
		event_free(c->deadline);
	bufferevent_free(c->bev);
	free(c);
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

/* Send the last line and close once it is written. */
static void
client_finish(struct control_client *c, bool ok, int code, const char *text)
{
	if (ok)
		client_line(c, "ok", "%s", text);
	else
		client_line(c, "error", "%d %s", code, text);
	c->state = CLIENT_CLOSING;
	bufferevent_disable(c->bev, EV_READ);
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		client_free(c);
}

/* Hand a listener's fds over SCM_RIGHTS with the "ok" line. */
static void
control_send_fds(struct control_client *c, const char *name)
{
	struct listener *l = listener_set_find(&c->ctl->sup->listeners, name);
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int))];
	} control;
	char line[256];
	struct msghdr mh;
	struct cmsghdr *cm;
	struct iovec iov;

	if (l == NULL) {
		client_finish(c, false, 1, "no such listener (see handoff status)");
		return;
	}
	snprintf(line, sizeof(line), "ok 1 %s %s\n", l->name, l->bound);
	memset(&mh, 0, sizeof(mh));
	memset(&control, 0, sizeof(control));
	iov.iov_base = line;
	iov.iov_len = strlen(line);
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = control.buf;
	mh.msg_controllen = sizeof(control.buf);
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &l->fd, sizeof(int));
	/* Nothing else was written to this client: the socket is ours. */
	if (sendmsg(bufferevent_getfd(c->bev), &mh, MSG_NOSIGNAL | MSG_DONTWAIT) == -1)
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
			else if (req->program == NULL)
				req->program = argv[i];
			else
				return "usage: reload [nowait] [PROGRAM]";
		}
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
	} else
		return "unknown command (use status, reload, stop, fds or version)";
	return NULL;
}

/* Run one request line of len bytes. */
static void
control_dispatch(struct control_client *c, char *line, size_t len)
{
	struct supervisor *sup = c->ctl->sup;
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
		status_render(sup, req.json, bufferevent_get_output(c->bev));
		client_finish(c, true, 0, "status");
		break;
	case CONTROL_RELOAD:
		/*
		 * Watch first: the reload may be refused at once (a bad
		 * config), and even a --no-wait client must hear that.
		 */
		c->state = req.nowait ? CLIENT_NOWAIT : CLIENT_WATCH_PENDING;
		if (supervisor_request_reload(sup, req.program, &cause) == -1) {
			client_finish(c, false, 1, cause);
			free(cause);
			return;
		}
		if (c->state == CLIENT_NOWAIT)
			client_finish(c, true, 0, "reload requested");
		break;
	case CONTROL_STOP:
		c->state = CLIENT_STOP_WAIT;
		supervisor_stop_within(sup, req.stop_ms);
		break;
	case CONTROL_FDS:
		control_send_fds(c, req.name);
		break;
	case CONTROL_VERSION:
		client_finish(c, true, 0, PACKAGE_VERSION);
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

/* Bufferevent write callback: the answer is out; close if it was the last. */
static void
client_written(struct bufferevent *bev, void *arg)
{
	struct control_client *c = arg;

	(void)bev;
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

/* Event callback: accept every pending connection. */
static void
control_accept(evutil_socket_t lfd, short what, void *arg)
{
	struct control *ctl = arg;
	struct control_client *c;
	struct timeval rt = { CONTROL_READ_TIMEOUT, 0 };
	struct timeval wt = { CONTROL_WRITE_TIMEOUT, 0 };
	struct event_base *base = event_get_base(ctl->ev);
	struct ucred cred;
	socklen_t len;
	char text[160];
	int fd;

	(void)what;
	for (;;) {
		fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EMFILE || errno == ENFILE)
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
		if (ctl->nclients >= ctl->max_clients) {
			control_refuse(fd, "too many control clients; try again");
			continue;
		}
		if ((c = calloc(1, sizeof(*c))) == NULL) {
			close(fd);
			continue;
		}
		c->ctl = ctl;
		c->uid = cred.uid;
		c->pid = cred.pid;
		c->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
		c->deadline = evtimer_new(base, client_deadline, c);
		if (c->bev == NULL || c->deadline == NULL) {
			if (c->bev != NULL)
				bufferevent_free(c->bev);
			else
				close(fd);
			if (c->deadline != NULL)
				event_free(c->deadline);
			free(c);
			continue;
		}
		TAILQ_INSERT_TAIL(&ctl->clients, c, entry);
		ctl->nclients++;
		bufferevent_setcb(c->bev, client_read, client_written,
		    client_event, c);
		/* A deadline for the whole request, not per byte. */
		evtimer_add(c->deadline, &rt);
		bufferevent_set_timeouts(c->bev, NULL, &wt);
		bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	}
}

/*
 * Tell whether a supervisor accepts on the socket at path: 1 yes, 0 no
 * (missing or stale), -1 the path exists but is not a socket.
 */
int
control_socket_is_live(const char *path)
{
	struct sockaddr_un sun;
	struct stat st;
	int fd, live;

	if (lstat(path, &st) == -1)
		return 0;
	if (!S_ISSOCK(st.st_mode))
		return -1;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return 0;
	live = connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0;
	close(fd);
	return live;
}

/*
 * How many clients at once: CONTROL_MAX_CLIENTS, but at most a quarter of
 * the fd limit, so clients can never take the fds workers need.
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
 * Create the directory holding the control socket if it is missing, and
 * make sure nobody else can replace the socket in it: the directory must be
 * ours (or root's) and not writable by others, unless it is sticky (/tmp).
 * Otherwise another user could put their own socket where our CLI looks.
 */
static int
control_check_dir(const char *path, char **cause)
{
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)], *slash;
	struct stat st;

	snprintf(dir, sizeof(dir), "%s", path);
	if ((slash = strrchr(dir, '/')) == NULL)
		return 0;
	if (slash == dir)
		slash[1] = '\0';
	else
		*slash = '\0';
	/* Only the last component: a missing parent is the user's to make. */
	if (mkdir(dir, geteuid() == 0 ? 0755 : 0700) == -1 && errno != EEXIST) {
		asprintf(cause, "control socket directory %s: %s", dir,
		    strerror(errno));
		return -1;
	}
	if (lstat(dir, &st) == -1 || !S_ISDIR(st.st_mode)) {
		asprintf(cause, "control socket directory %s: not a directory",
		    dir);
		return -1;
	}
	if (st.st_uid != geteuid() && st.st_uid != 0) {
		asprintf(cause, "control socket directory %s belongs to uid %u, "
		    "not to us (uid %u) or root; remove it or set [supervisor] "
		    "control", dir, (unsigned)st.st_uid, (unsigned)geteuid());
		return -1;
	}
	if ((st.st_mode & 022) != 0 && (st.st_mode & S_ISVTX) == 0) {
		asprintf(cause, "control socket directory %s is writable by "
		    "others (mode %04o), so anyone could replace the socket; "
		    "chmod go-w it or set [supervisor] control", dir,
		    (unsigned)(st.st_mode & 07777));
		return -1;
	}
	return 0;
}

/* Open the control socket at path and accept clients from the event loop. */
struct control *
control_open(struct supervisor *sup, const char *path, char **cause)
{
	struct sockaddr_un sun;
	struct control *ctl;
	struct stat st;
	mode_t old_umask;
	int live;

	if (strlen(path) >= sizeof(sun.sun_path)) {
		asprintf(cause, "control socket %s: path too long", path);
		return NULL;
	}
	if (control_check_dir(path, cause) == -1)
		return NULL;
	live = control_socket_is_live(path);
	if (live == 1) {
		asprintf(cause, "control socket %s: another supervisor is "
		    "running there (stop it, or set a different [supervisor] "
		    "name or control)", path);
		return NULL;
	}
	if (live == -1) {
		asprintf(cause, "control socket %s: exists and is not a socket",
		    path);
		return NULL;
	}
	if (lstat(path, &st) == 0) {
		log_info("control: replacing stale socket %s", path);
		unlink(path);
	}

	if ((ctl = calloc(1, sizeof(*ctl))) == NULL) {
		*cause = strdup("out of memory");
		return NULL;
	}
	TAILQ_INIT(&ctl->clients);
	ctl->sup = sup;
	ctl->max_clients = control_max_clients();
	ctl->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (ctl->fd == -1)
		goto fail;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	/* Created 0600 from the start: no window with wider permissions. */
	old_umask = umask(0177);
	if (bind(ctl->fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
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
	ctl->ev = event_new(sup->base, ctl->fd, EV_READ | EV_PERSIST,
	    control_accept, ctl);
	ctl->resume = evtimer_new(sup->base, control_resume_accept, ctl);
	if (ctl->ev == NULL || ctl->resume == NULL || event_add(ctl->ev, NULL) == -1)
		goto fail;
	return ctl;
fail:
	asprintf(cause, "control socket %s: %s", path, strerror(errno));
	if (ctl->ev != NULL)
		event_free(ctl->ev);
	if (ctl->resume != NULL)
		event_free(ctl->resume);
	if (ctl->path != NULL && ctl->ino != 0)
		unlink(path);
	if (ctl->fd != -1)
		close(ctl->fd);
	free(ctl->path);
	free(ctl);
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
	if (ctl->ev != NULL)
		event_free(ctl->ev);
	if (ctl->resume != NULL)
		event_free(ctl->resume);
	close(ctl->fd);
	free(ctl->path);
	free(ctl);
}

/* A reload began: clients waiting for it follow it as id. */
void
control_reload_begin(struct control *ctl, unsigned int id)
{
	struct control_client *c;

	if (ctl == NULL)
		return;
	TAILQ_FOREACH(c, &ctl->clients, entry) {
		if (c->state == CLIENT_WATCH_PENDING) {
			c->state = CLIENT_WATCH;
			c->reload_id = id;
		}
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

/* Reload id ended: tell its followers, and close them. */
void
control_reload_end(struct control *ctl, unsigned int id, bool ok,
    const char *fmt, ...)
{
	struct control_client *c, *next;
	char text[512];
	va_list ap;

	if (ctl == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	for (c = TAILQ_FIRST(&ctl->clients); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		if (c->state == CLIENT_WATCH && c->reload_id == id)
			client_finish(c, ok, 1, text);
	}
}

/* A reload was refused before it began (bad config): tell the waiting. */
void
control_reload_refused(struct control *ctl, const char *why,
    char *const *details, size_t ndetails)
{
	struct control_client *c, *next;
	size_t i;

	if (ctl == NULL)
		return;
	for (c = TAILQ_FIRST(&ctl->clients); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		if (c->state != CLIENT_WATCH_PENDING && c->state != CLIENT_NOWAIT)
			continue;
		for (i = 0; i < ndetails; i++)
			client_line(c, "progress", "%s", details[i]);
		client_finish(c, false, 1, why);
	}
}
