/*
 * output.c: forward a worker's stdout and stderr to the supervisor's log.
 *
 * The pipe is non-blocking and read from the event loop; each complete line
 * is logged with the worker's prefix ("hello gen 3 pid 4121: ..."). A line
 * longer than OUTPUT_LINE_MAX is logged in pieces marked with "...", so a
 * child writing one enormous line costs bounded memory. Each callback reads
 * at most OUTPUT_READ_BUDGET bytes, so a child flooding its output cannot
 * starve the rest of the event loop.
 */
#include "autoconf.h"

#include <errno.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "output.h"

#define OUTPUT_LINE_MAX		3072	/* a piece, with its prefix, fits a log line */
#define OUTPUT_READ_BUDGET	(64 * 1024)

struct output {
	struct event	*ev;
	int		 fd;
	char		*prefix;
	char		 buf[OUTPUT_LINE_MAX];
	size_t		 len;		/* bytes of a partial line in buf */
	int		 continued;	/* buf continues a split line */
};

/* Log the first len bytes of buf as one line (or one piece of a long one). */
static void
output_emit(struct output *out, size_t len, int more)
{
	log_info("%s: %s%.*s%s", out->prefix, out->continued ? "..." : "",
	    (int)len, out->buf, more ? "..." : "");
	out->continued = more;
}

/* Log every complete line in the buffer, keep the rest. */
static void
output_split(struct output *out)
{
	char *nl;
	size_t used;

	while ((nl = memchr(out->buf, '\n', out->len)) != NULL) {
		used = (size_t)(nl - out->buf);
		if (used > 0 && out->buf[used - 1] == '\r')
			output_emit(out, used - 1, 0);
		else
			output_emit(out, used, 0);
		out->len -= used + 1;
		memmove(out->buf, nl + 1, out->len);
	}
	if (out->len == sizeof(out->buf)) {
		output_emit(out, out->len, 1);
		out->len = 0;
	}
}

/* Event callback: read what the worker wrote. */
static void
output_read(evutil_socket_t fd, short what, void *arg)
{
	struct output *out = arg;
	size_t budget = OUTPUT_READ_BUDGET;
	ssize_t n;

	(void)what;
	while (budget > 0) {
		n = read(fd, out->buf + out->len, sizeof(out->buf) - out->len);
		if (n > 0) {
			out->len += (size_t)n;
			budget -= (size_t)n < budget ? (size_t)n : budget;
			output_split(out);
			continue;
		}
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			return;
		/* EOF or error: the worker and its children closed the pipe. */
		if (out->len > 0)
			output_emit(out, out->len, 0);
		out->len = 0;
		event_del(out->ev);
		return;
	}
}

/* Start forwarding fd (takes ownership of it) with the given prefix. */
struct output *
output_new(struct event_base *base, int fd, const char *prefix)
{
	struct output *out;

	if ((out = calloc(1, sizeof(*out))) == NULL)
		return NULL;
	out->fd = fd;
	if ((out->prefix = strdup(prefix)) == NULL)
		goto fail;
	out->ev = event_new(base, fd, EV_READ | EV_PERSIST, output_read, out);
	if (out->ev == NULL || event_add(out->ev, NULL) == -1)
		goto fail;
	return out;
fail:
	if (out->ev != NULL)
		event_free(out->ev);
	free(out->prefix);
	free(out);
	return NULL;
}

/* Read what is left, log a last partial line, close the pipe and free. */
void
output_free(struct output *out)
{
	if (out == NULL)
		return;
	output_read(out->fd, EV_READ, out);
	if (out->len > 0)
		output_emit(out, out->len, 0);
	event_free(out->ev);
	close(out->fd);
	free(out->prefix);
	free(out);
}
