/*
 * handoff-internal.h: what libhandoff's own tests and the test server use
 * beyond handoff.h. Not installed, not exported from the shared library.
 */
#ifndef HANDOFF_INTERNAL_H
#define HANDOFF_INTERNAL_H

#include <stddef.h>

/* The longest message handoff_status sends, as the supervisor (and
   systemd) reads at most this many bytes of a datagram. */
#define HANDOFF_NOTIFY_MAX	4096

int	handoff_notify_send(const char *msg, size_t len);

#endif
