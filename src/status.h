/* status.h: the supervisor's state as a table or as JSON (`handoff status`). */
#ifndef HANDOFF_STATUS_H
#define HANDOFF_STATUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct evbuffer;
struct supervisor;

#define STATUS_SCHEMA_VERSION	1

void	status_render(const struct supervisor *sup, bool json,
	    struct evbuffer *out);
void	status_format_age(uint64_t ms, char *buf, size_t len);

#endif
