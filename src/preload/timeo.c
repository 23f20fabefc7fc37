/*
 * timeo.c: SO_RCVTIMEO and SO_SNDTIMEO of an adopted socket (see
 * timeo.h), as the kernel takes and gives them: a struct timeval
 * (SO_*TIMEO_OLD, what glibc means on 64-bit time_t with a native long)
 * or two 64-bit numbers (SO_*TIMEO_NEW); a value shorter than that is
 * EINVAL, microseconds out of range EDOM, a negative time no wait at all,
 * zero no timeout. A timeout is kept in microseconds, TIMEO_FOREVER for
 * none.
 */
#include "autoconf.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "timeo.h"

#ifndef SO_RCVTIMEO_OLD
#define SO_RCVTIMEO_OLD	20
#define SO_SNDTIMEO_OLD	21
#endif
#ifndef SO_RCVTIMEO_NEW
#define SO_RCVTIMEO_NEW	66
#define SO_SNDTIMEO_NEW	67
#endif

/* The kernel's struct __kernel_sock_timeval (SO_*TIMEO_NEW). */
struct timeo_new {
	int64_t	 sec;
	int64_t	 usec;
};

/* Which timeout option (level, name) is, TIMEO_NONE if neither. */
enum timeo_which
timeo_which(int level, int name)
{
	if (level != SOL_SOCKET)
		return TIMEO_NONE;
	if (name == SO_RCVTIMEO_OLD || name == SO_RCVTIMEO_NEW)
		return TIMEO_RCV;
	if (name == SO_SNDTIMEO_OLD || name == SO_SNDTIMEO_NEW)
		return TIMEO_SND;
	return TIMEO_NONE;
}

/*
 * A timeout as setsockopt(name) gives it (val, len) into *us. 0, or -1
 * with errno as the kernel would say.
 */
int
timeo_from_user(int name, const void *val, socklen_t len, long long *us)
{
	struct timeo_new tv;
	struct timeval old;

	if (name == SO_RCVTIMEO_OLD || name == SO_SNDTIMEO_OLD) {
		if (val == NULL || len < sizeof(old)) {
			errno = EINVAL;
			return -1;
		}
		memcpy(&old, val, sizeof(old));
		tv.sec = old.tv_sec;
		tv.usec = old.tv_usec;
	} else {
		if (val == NULL || len < sizeof(tv)) {
			errno = EINVAL;
			return -1;
		}
		memcpy(&tv, val, sizeof(tv));
	}
	if (tv.usec < 0 || tv.usec >= 1000000) {
		errno = EDOM;
		return -1;
	}
	if (tv.sec < 0)
		*us = 0;
	else if ((tv.sec == 0 && tv.usec == 0) ||
	    tv.sec >= LLONG_MAX / 1000000 - 1)
		*us = TIMEO_FOREVER;
	else
		*us = (long long)tv.sec * 1000000 + tv.usec;
	return 0;
}

/*
 * Give timeout us as getsockopt(name) does into val (*len bytes, set to
 * what was written). 0, or -1 with EINVAL if it does not fit.
 */
int
timeo_to_user(int name, long long us, void *val, socklen_t *len)
{
	struct timeo_new tv = { 0, 0 };
	struct timeval old;

	if (us > 0) {
		tv.sec = us / 1000000;
		tv.usec = us % 1000000;
	}
	if (name == SO_RCVTIMEO_OLD || name == SO_SNDTIMEO_OLD) {
		if (val == NULL || len == NULL || *len < sizeof(old)) {
			errno = EINVAL;
			return -1;
		}
		old.tv_sec = (time_t)tv.sec;
		old.tv_usec = (suseconds_t)tv.usec;
		memcpy(val, &old, sizeof(old));
		*len = sizeof(old);
		return 0;
	}
	if (val == NULL || len == NULL || *len < sizeof(tv)) {
		errno = EINVAL;
		return -1;
	}
	memcpy(val, &tv, sizeof(tv));
	*len = sizeof(tv);
	return 0;
}

/* The monotonic clock in milliseconds. */
static long long
timeo_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * The poll() timeout of the next wait of a call with timeout us: -1 for
 * none, else what is left until *deadline_ms (set at the call's first
 * wait, from 0), 0 once it passed.
 */
int
timeo_poll_ms(long long us, long long *deadline_ms)
{
	long long left;

	if (us == TIMEO_FOREVER)
		return -1;
	if (*deadline_ms == 0)
		*deadline_ms = timeo_now_ms() + (us + 999) / 1000;
	left = *deadline_ms - timeo_now_ms();
	return left <= 0 ? 0 : left > INT_MAX ? INT_MAX : (int)left;
}
