/*
 * sdnotify.h: the supervisor's own messages to its service manager
 * (systemd's sd_notify, the client side): readiness, reloads, stopping,
 * its state in words, and the fd store.
 */
#ifndef HANDOFF_SDNOTIFY_H
#define HANDOFF_SDNOTIFY_H

#include <stdbool.h>
#include <sys/types.h>

void	sdnotify_init(void);
bool	sdnotify_active(void);
int	sdnotify_send(const char *text, int fd);
void	sdnotify_ready(bool first, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
void	sdnotify_reloading(void);
void	sdnotify_stopping(void);

#endif
