/*
 * fdpass.c: send and receive messages with file descriptors attached.
 *
 * The one place that builds and reads SCM_RIGHTS control messages, but
 * for a starting worker's own side of its spawn (spawn.c), which runs in
 * a child sharing the supervisor's memory and so makes its system calls
 * itself. The sender keeps its fds: the receiver gets copies (new
 * numbers, CLOEXEC).
 * A receiver takes at most the fds it has room for: when more come, every
 * one of them is closed and the message is marked truncated, so that no
 * fd ever leaks into the receiving process unaccounted for.
 */
#include "autoconf.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fdpass.h"

/* Room for the largest control message either side builds. */
union fdpass_control {
	struct cmsghdr	hdr;
	char		buf[CMSG_SPACE(sizeof(struct ucred)) +
			    CMSG_SPACE(FDPASS_MAX * sizeof(int))];
};

/*
 * Send iov with nfds fds attached (none if nfds is 0). The fds stay the
 * caller's to close. MSG_NOSIGNAL is added to flags. Returns the bytes
 * sent, or -1 with errno.
 */
ssize_t
fdpass_send(int sock, const struct iovec *iov, size_t iovcnt, const int *fds,
    size_t nfds, int flags)
{
	union fdpass_control control;
	struct cmsghdr *cm;
	struct msghdr mh;
	ssize_t n;

	if (nfds > FDPASS_MAX || (nfds > 0 && fds == NULL)) {
		errno = EINVAL;
		return -1;
	}
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = (struct iovec *)iov;
	mh.msg_iovlen = iovcnt;
	if (nfds > 0) {
		memset(&control, 0, sizeof(control));
		mh.msg_control = control.buf;
		mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(cm), fds, nfds * sizeof(int));
	}
	do
		n = sendmsg(sock, &mh, flags | MSG_NOSIGNAL);
	while (n == -1 && errno == EINTR);
	return n;
}

/* Store or count the fds of one SCM_RIGHTS message; see fdpass_recv. */
static void
fdpass_take(const struct cmsghdr *cm, struct fdpass_in *in, size_t *total)
{
	size_t i, n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
	int fd;

	for (i = 0; i < n; i++, (*total)++) {
		memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(fd));
		if (*total < in->maxfds)
			in->fds[*total] = fd;	/* the caller's, unless truncated */
		else
			close(fd);
	}
}

/*
 * Receive a message into iov and its fds into in->fds, CLOEXEC
 * (MSG_CMSG_CLOEXEC is added to flags). The fds stored become the
 * caller's; in->nfds says how many. If more fds came than in->maxfds (or
 * than the kernel could deliver), every fd of the message is closed,
 * in->nfds is 0, in->truncated is set and in->closed says how many were
 * closed; the data is returned all the same. With in->want_cred, the
 * sender's credentials (SO_PASSCRED) are read too. Returns the bytes
 * received (0: end of stream), or -1 with errno.
 */
ssize_t
fdpass_recv(int sock, const struct iovec *iov, size_t iovcnt,
    struct fdpass_in *in, int flags)
{
	union fdpass_control control;
	struct cmsghdr *cm;
	struct msghdr mh;
	size_t total = 0;
	ssize_t n;

	in->nfds = 0;
	in->closed = 0;
	in->truncated = false;
	in->has_cred = false;
	in->msg_flags = 0;
	if (in->maxfds > FDPASS_MAX || (in->maxfds > 0 && in->fds == NULL)) {
		errno = EINVAL;
		return -1;
	}
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = (struct iovec *)iov;
	mh.msg_iovlen = iovcnt;
	mh.msg_controllen = (in->want_cred ? CMSG_SPACE(sizeof(struct ucred)) :
	    0) + (in->maxfds > 0 ? CMSG_SPACE(in->maxfds * sizeof(int)) : 0);
	mh.msg_control = mh.msg_controllen > 0 ? control.buf : NULL;
	do
		n = recvmsg(sock, &mh, flags | MSG_CMSG_CLOEXEC);
	while (n == -1 && errno == EINTR);
	if (n == -1)
		return -1;
	in->msg_flags = mh.msg_flags;
	for (cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET)
			continue;
		if (cm->cmsg_type == SCM_RIGHTS)
			fdpass_take(cm, in, &total);
		else if (cm->cmsg_type == SCM_CREDENTIALS &&
		    cm->cmsg_len == CMSG_LEN(sizeof(in->cred))) {
			memcpy(&in->cred, CMSG_DATA(cm), sizeof(in->cred));
			in->has_cred = true;
		}
	}
	/*
	 * CMSG_SPACE rounds up, so the kernel may deliver more than maxfds
	 * without MSG_CTRUNC; with MSG_CTRUNC, some were dropped on the way.
	 * Either way the caller gets none: a partial set is never right.
	 */
	if (total > in->maxfds || (mh.msg_flags & MSG_CTRUNC)) {
		fdpass_close(in->fds, total < in->maxfds ? total : in->maxfds);
		in->truncated = true;
		in->closed = total;
		return n;
	}
	in->nfds = total;
	return n;
}

/* Close nfds fds and mark each slot -1. */
void
fdpass_close(int *fds, size_t nfds)
{
	size_t i;

	for (i = 0; i < nfds; i++) {
		if (fds[i] != -1)
			close(fds[i]);
		fds[i] = -1;
	}
}
