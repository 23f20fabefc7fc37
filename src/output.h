/* output.h: a worker's stdout and stderr, read a line at a time into the log. */
#ifndef HANDOFF_OUTPUT_H
#define HANDOFF_OUTPUT_H

struct event_base;
struct output;

struct output	*output_new(struct event_base *base, int fd, const char *prefix,
		    unsigned long long *dropped);
void		 output_free(struct output *out);

#endif
