/*
 * timeo.h: SO_RCVTIMEO and SO_SNDTIMEO of an adopted socket, kept by the
 * shim per app fd (the shared socket is non-blocking, so only the shim's
 * wait honours them, and each app fd has its own). Functions are timeo_*.
 */
#ifndef HANDOFF_PRELOAD_TIMEO_H
#define HANDOFF_PRELOAD_TIMEO_H

#include <sys/socket.h>

/* Which timeout a SOL_SOCKET option is. */
enum timeo_which {
	TIMEO_NONE = 0,
	TIMEO_RCV,
	TIMEO_SND,
};

#define TIMEO_FOREVER	(-1LL)	/* no timeout: the wait blocks */

enum timeo_which timeo_which(int level, int name);
int	timeo_from_user(int name, const void *val, socklen_t len,
	    long long *us);
int	timeo_to_user(int name, long long us, void *val, socklen_t *len);
int	timeo_poll_ms(long long us, long long *deadline_ms);

#endif
