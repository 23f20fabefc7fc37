/*
 * preload.h: what the bind() shim's files share: the next definition of
 * each function it wraps (libc's), and the visibility of what it exports.
 * Functions are preload_*.
 */
#ifndef HANDOFF_PRELOAD_PRELOAD_H
#define HANDOFF_PRELOAD_PRELOAD_H

#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>

/* The functions the shim wraps are the only symbols it exports. */
#define PRELOAD_EXPORT	__attribute__((visibility("default")))

/* What programs built with _FORTIFY_SOURCE call; glibc declares none. */
ssize_t	 __read_chk(int fd, void *buf, size_t n, size_t buflen);
ssize_t	 __recv_chk(int fd, void *buf, size_t n, size_t buflen, int flags);
ssize_t	 __recvfrom_chk(int fd, void *buf, size_t n, size_t buflen,
	    int flags, __SOCKADDR_ARG addr, socklen_t *len);

/*
 * The next definition (libc's) of each function the shim wraps, looked
 * up all at once before main(), or at the first call that comes earlier
 * (from another library's constructor): never later, in a signal
 * handler, where the dynamic loader's lock may be held.
 */
struct preload_real {
	int (*bind)(int, __CONST_SOCKADDR_ARG, socklen_t);
	int (*listen)(int, int);
	int (*accept4)(int, __SOCKADDR_ARG, socklen_t *, int);
	int (*accept)(int, __SOCKADDR_ARG, socklen_t *);
	ssize_t (*recv)(int, void *, size_t, int);
	ssize_t (*recvfrom)(int, void *, size_t, int, __SOCKADDR_ARG,
	    socklen_t *);
	ssize_t (*recvmsg)(int, struct msghdr *, int);
	int (*recvmmsg)(int, struct mmsghdr *, unsigned int, int,
	    struct timespec *);
	ssize_t (*read)(int, void *, size_t);
	ssize_t (*read_chk)(int, void *, size_t, size_t);
	ssize_t (*recv_chk)(int, void *, size_t, size_t, int);
	ssize_t (*recvfrom_chk)(int, void *, size_t, size_t, int,
	    __SOCKADDR_ARG, socklen_t *);
	ssize_t (*send)(int, const void *, size_t, int);
	ssize_t (*sendto)(int, const void *, size_t, int,
	    __CONST_SOCKADDR_ARG, socklen_t);
	ssize_t (*sendmsg)(int, const struct msghdr *, int);
	int (*sendmmsg)(int, struct mmsghdr *, unsigned int, int);
	int (*ioctl)(int, unsigned long int, ...);
	int (*setsockopt)(int, int, int, const void *, socklen_t);
	int (*getsockopt)(int, int, int, void *, socklen_t *);
	int (*close)(int);
	int (*dup)(int);
	int (*dup2)(int, int);
	int (*dup3)(int, int, int);
	int (*unlink)(const char *);
	int (*unlinkat)(int, const char *, int);
	int (*remove)(const char *);
	int (*execve)(const char *, char *const[], char *const[]);
	int (*execvpe)(const char *, char *const[], char *const[]);
	int (*fexecve)(int, char *const[], char *const[]);
	int (*execveat)(int, const char *, char *const[], char *const[],
	    int);
	int (*fcntl)(int, int, ...);
	int (*fcntl64)(int, int, ...);
	int	  ready;	/* every one is looked up (atomic) */
};

extern struct preload_real preload_real;

void	preload_resolve(void);
void	preload_exec_init(void);

/* The next definition of the wrapped function fn. */
#define PRELOAD_REAL(fn)						\
	(__atomic_load_n(&preload_real.ready, __ATOMIC_ACQUIRE) ?	\
	    preload_real.fn : (preload_resolve(), preload_real.fn))

#endif
