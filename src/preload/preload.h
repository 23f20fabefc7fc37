/*
 * preload.h: what the bind() shim's files share: the next definition of
 * an interposed function (libc's), and the visibility of what it exports.
 * Functions are preload_*.
 */
#ifndef HANDOFF_PRELOAD_PRELOAD_H
#define HANDOFF_PRELOAD_PRELOAD_H

/* The functions the shim interposes are the only symbols it exports. */
#define PRELOAD_EXPORT	__attribute__((visibility("default")))

#include <sys/socket.h>
#include <sys/types.h>

void	*preload_next(const char *name);

/* What programs built with _FORTIFY_SOURCE call; glibc declares none. */
ssize_t	 __read_chk(int fd, void *buf, size_t n, size_t buflen);
ssize_t	 __recv_chk(int fd, void *buf, size_t n, size_t buflen, int flags);
ssize_t	 __recvfrom_chk(int fd, void *buf, size_t n, size_t buflen,
	    int flags, __SOCKADDR_ARG addr, socklen_t *len);

/*
 * Declare real as the next definition of name, of type type, looked up
 * on first use (a call may come before the shim's constructor runs).
 */
#define PRELOAD_NEXT(type, real, name)					\
	static __typeof__(type) real;					\
	if (real == NULL)						\
		real = (type)preload_next(name)

#endif
