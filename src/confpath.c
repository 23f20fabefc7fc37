/*
 * confpath.c: where a config and its supervisor's files are, without
 * reading the config itself: the default config file, the default control
 * socket and pidfile of a supervisor name, a config file read whole into
 * memory, and the control socket a file names (what the control commands
 * need: no user, group or host is looked up, so nothing here needs the C
 * library's NSS).
 */
#include "autoconf.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cause.h"
#include "confpath.h"

/* The config file used when -c is not given. */
const char *
config_default_path(void)
{
	return SYSCONFDIR "/handoff/handoff.ini";
}

/*
 * Default control socket and pidfile paths for a supervisor name: under
 * /run/handoff for root, under $XDG_RUNTIME_DIR/handoff or /tmp/handoff-UID
 * for other users, so that several supervisors and users share a host.
 */
void
config_default_paths(const char *name, char **control, char **pidfile)
{
	const char *runtime = getenv("XDG_RUNTIME_DIR");
	char dir[PATH_MAX];

	if (geteuid() == 0)
		snprintf(dir, sizeof(dir), "/run/handoff");
	else if (runtime != NULL && runtime[0] == '/' &&
	    strlen(runtime) < sizeof(dir) - 64)
		snprintf(dir, sizeof(dir), "%s/handoff", runtime);
	else
		snprintf(dir, sizeof(dir), "/tmp/handoff-%u", (unsigned)geteuid());
	if (control != NULL && asprintf(control, "%s/%s.sock", dir, name) == -1)
		*control = NULL;
	if (pidfile != NULL && asprintf(pidfile, "%s/%s.pid", dir, name) == -1)
		*pidfile = NULL;
}

/* Tell whether a section or supervisor name is made of [A-Za-z0-9_.-]. */
bool
config_valid_name(const char *name)
{
	const char *p;

	if (*name == '\0' || strlen(name) > CONFIG_NAME_MAX)
		return false;
	for (p = name; *p != '\0'; p++)
		if (!isalnum((unsigned char)*p) && strchr("_.-", *p) == NULL)
			return false;
	return true;
}

/* Keep a copy of value in *field; *error if out of memory. */
static void
confpath_keep(char **field, const char *value, const char **error)
{
	char *copy = strdup(value);

	if (copy == NULL) {
		*error = "out of memory";
		return;
	}
	free(*field);
	*field = copy;
}

/*
 * Read a whole config file into memory: a regular file of at most
 * CONFIG_MAX_BYTES. Anything else (a FIFO that would block, a device that
 * never ends, a directory) is refused without reading it. Returns a stream
 * over the text (free *text after fclose), or NULL with *why (what is
 * wrong with the file), *err (an errno), or both (what failed, and why).
 * *file, if not NULL, receives the file's fstat once it is open.
 */
FILE *
config_open(const char *path, char **text, const char **why, int *err,
    struct stat *file)
{
	struct stat sb;
	ssize_t n;
	size_t len = 0, room;
	char *more;
	int fd;
	FILE *fp;

	*text = NULL;
	*err = 0;
	*why = NULL;
	/* O_NONBLOCK: opening a FIFO must not wait for a writer. */
	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd == -1) {
		*err = errno;
		return NULL;
	}
	if (fstat(fd, &sb) == -1) {
		*err = errno;
		close(fd);
		return NULL;
	}
	if (file != NULL)
		*file = sb;
	if (!S_ISREG(sb.st_mode)) {
		*why = S_ISDIR(sb.st_mode) ? "is a directory, not a file" :
		    S_ISFIFO(sb.st_mode) ? "is a FIFO, not a regular file" :
		    S_ISCHR(sb.st_mode) || S_ISBLK(sb.st_mode) ?
		    "is a device, not a regular file" : "is not a regular file";
		close(fd);
		return NULL;
	}
	/* Room for the file as it is, and a byte to see it grow. */
	room = (size_t)sb.st_size + 1;
	if (sb.st_size > CONFIG_MAX_BYTES || (*text = malloc(room)) == NULL) {
		*why = *text == NULL && sb.st_size <= CONFIG_MAX_BYTES ?
		    "out of memory" : "is too large (at most " CONFIG_MAX_TEXT ")";
		close(fd);
		return NULL;
	}
	/* It may grow while read: never take more than the cap. */
	while (len <= CONFIG_MAX_BYTES) {
		if (len == room) {
			room = room > CONFIG_MAX_BYTES / 2 ? CONFIG_MAX_BYTES + 1 :
			    room * 2;
			if ((more = realloc(*text, room)) == NULL) {
				*err = ENOMEM;
				break;
			}
			*text = more;
		}
		n = read(fd, *text + len, room - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			*err = errno;
			*why = "cannot read";	/* and why not: *err */
			break;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (*err == 0 && len > CONFIG_MAX_BYTES)
		*why = "is too large (at most " CONFIG_MAX_TEXT ")";
	if (*err != 0 || *why != NULL ||
	    (fp = len == 0 ? fopen("/dev/null", "re") :
	    fmemopen(*text, len, "r")) == NULL) {
		if (*err == 0 && *why == NULL)
			*err = errno;
		free(*text);
		*text = NULL;
		return NULL;
	}
	return fp;
}

/* "cannot open: No such file" or "is a FIFO, ..." for config_open's failure. */
void
config_open_error(const char *why, int err, char *buf, size_t len)
{
	if (why != NULL && err != 0)
		snprintf(buf, len, "%s: %s", why, strerror(err));
	else if (why != NULL)
		snprintf(buf, len, "%s", why);
	else if (err == ENOMEM)
		snprintf(buf, len, "out of memory");
	else
		snprintf(buf, len, "cannot open: %s", strerror(err));
}

/* What config_peek_control collects from [supervisor]. */
struct peek_state {
	FILE	*fp;
	char	*name;
	char	*control;
	const char *failed;	/* why a value could not be kept */
	bool	 in_supervisor;	/* a key of [supervisor] was read */
	bool	 done;		/* a key of a section after it: stop */
};

/*
 * inih handler for config_peek_control: only [supervisor] name and control.
 * A key of another section after [supervisor]'s ends the peek: the rest of
 * the file (a thousand listeners, say) need not be read to find a socket.
 */
static int
peek_handler(void *user, const char *section, const char *key,
    const char *value)
{
	struct peek_state *ps = user;

	if (strcmp(section, "supervisor") != 0) {
		ps->done = ps->in_supervisor;
		return 1;
	}
	ps->in_supervisor = true;
	if (strcmp(key, "name") == 0 && config_valid_name(value))
		confpath_keep(&ps->name, value, &ps->failed);
	else if (strcmp(key, "control") == 0 && value[0] == '/')
		confpath_keep(&ps->control, value, &ps->failed);
	return 1;
}

/* inih reader for config_peek_control: fp's lines until the peek is done. */
static char *
peek_reader(char *buf, int num, void *user)
{
	struct peek_state *ps = user;

	return ps->done ? NULL : fgets(buf, num, ps->fp);
}

/*
 * Find the control socket a config file names, without checking the rest
 * of the file: a reload must reach the supervisor even when the new file
 * has errors (the supervisor reports them).
 */
int
config_peek_control(const char *path, char **control, char **cause)
{
	struct peek_state ps = { NULL, NULL, NULL, NULL, false, false };
	char *text, msg[256];
	const char *why;
	FILE *fp;
	int err;

	if ((fp = config_open(path, &text, &why, &err, NULL)) == NULL) {
		config_open_error(why, err, msg, sizeof(msg));
		cause_set(cause, "%s: %s (use -c FILE or -s SOCKET)", path,
		    msg);
		return -1;
	}
	ps.fp = fp;
	ini_parse_stream(peek_reader, &ps, peek_handler, &ps);
	fclose(fp);
	free(text);
	if (ps.failed != NULL) {
		free(ps.name);
		free(ps.control);
		cause_set(cause, "%s: %s", path, ps.failed);
		return -1;
	}
	if (ps.control != NULL)
		*control = ps.control;
	else {
		config_default_paths(ps.name ? ps.name : "handoff", control, NULL);
		free(ps.control);
	}
	free(ps.name);
	return 0;
}
