/* output.h: a worker's stdout and stderr, read a line at a time into the log. */
#ifndef HANDOFF_OUTPUT_H
#define HANDOFF_OUTPUT_H

#include <stddef.h>

struct event_base;
struct output;

struct output	*output_new(struct event_base *base, int fd, const char *prefix,
		    unsigned long long *dropped, const void *pool);
void		 output_free(struct output *out);
void		 output_flush(struct output *out);
int		 output_fd(const struct output *out);
void		 output_read_now(struct output *out);

/* Called with each line (or piece of a long one) as read, unescaped. */
typedef void	(*output_line_fn)(void *arg, const char *line, size_t len);
void		 output_watch(struct output *out, output_line_fn fn, void *arg);

#endif
