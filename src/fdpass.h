/*
 * fdpass.h: messages with file descriptors attached (SCM_RIGHTS) over unix
 * sockets, stream or datagram.
 */
#ifndef HANDOFF_FDPASS_H
#define HANDOFF_FDPASS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

/* Most fds one message may carry (the kernel's SCM_MAX_FD). */
#define FDPASS_MAX	253

/* Where fdpass_recv puts the fds of a message, and what else it found. */
struct fdpass_in {
	int		*fds;		/* in: room for maxfds fds */
	size_t		 maxfds;	/* in: at most FDPASS_MAX */
	bool		 want_cred;	/* in: the socket has SO_PASSCRED */
	size_t		 nfds;		/* out: fds stored in fds, CLOEXEC */
	bool		 truncated;	/* out: more fds came than maxfds */
	size_t		 closed;	/* out: fds that came and were closed */
	bool		 has_cred;	/* out: cred holds the sender's */
	struct ucred	 cred;
	int		 msg_flags;	/* out: recvmsg's (MSG_TRUNC) */
};

ssize_t	fdpass_send(int sock, const struct iovec *iov, size_t iovcnt,
	    const int *fds, size_t nfds, int flags);
ssize_t	fdpass_recv(int sock, const struct iovec *iov, size_t iovcnt,
	    struct fdpass_in *in, int flags);
void	fdpass_close(int *fds, size_t nfds);

#endif
