/*
 * unixaddr.c: build the sockaddr_un (and its length) for a unix socket,
 * from a file's path or, where allowed, from "@name", which names an
 * abstract socket (a leading NUL, no file); and read the name back out
 * of an address, to compare two.
 *
 * libc only and no state: the supervisor, libhandoff and the bind() shim
 * (which must leave errno as the app had it: it saves errno around these)
 * all build it in.
 */
#include "autoconf.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "unixaddr.h"

_Static_assert(UNIXADDR_PATH_MAX == 107, "the messages below say 107 bytes");

/*
 * Fill *sun and *len for text, as form allows. A path's length is the
 * whole struct (the path is NUL-terminated inside it); an abstract name's
 * counts only its bytes. Returns -1 with errno (EINVAL, or ENAMETOOLONG
 * over UNIXADDR_PATH_MAX bytes) and *error, a message, if text cannot be
 * one.
 */
int
unixaddr_make(const char *text, enum unixaddr_form form,
    struct sockaddr_un *sun, socklen_t *len, const char **error)
{
	size_t n = strlen(text);
	bool abstract = form == UNIXADDR_NAMED && text[0] == '@';

	if (n == 0 || (abstract && n == 1)) {
		*error = "empty unix socket path";
		errno = EINVAL;
		return -1;
	}
	if (form == UNIXADDR_NAMED && text[0] != '/' && !abstract) {
		*error = "unix socket path must be absolute (or @name for an "
		    "abstract socket)";
		errno = EINVAL;
		return -1;
	}
	if (n > UNIXADDR_PATH_MAX) {
		*error = "unix socket path too long (at most 107 bytes)";
		errno = ENAMETOOLONG;
		return -1;
	}
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path, text, n);
	if (abstract) {
		/* The leading NUL, then the name, no terminator. */
		sun->sun_path[0] = '\0';
		*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	} else
		*len = (socklen_t)sizeof(*sun);
	return 0;
}

/*
 * The name of the unix socket address sa of len bytes into buf, with a NUL
 * after it: a path up to its NUL (whether len counts that NUL or not), or
 * an abstract name, its leading NUL first, every byte len counts (NULs
 * too). Returns the name's length (without the NUL added), or 0 for an
 * unnamed socket (len no more than the family), another family, a len
 * beyond struct sockaddr_un, or a name longer than buflen allows
 * (UNIXADDR_NAME_SIZE fits any).
 */
size_t
unixaddr_name(const struct sockaddr *sa, socklen_t len, char *buf,
    size_t buflen)
{
	const struct sockaddr_un *sun = (const struct sockaddr_un *)sa;
	size_t off = offsetof(struct sockaddr_un, sun_path), n;

	if (len <= off || len > sizeof(*sun) || sa->sa_family != AF_UNIX)
		return 0;
	n = len - off;
	/* A path: up to its NUL, if the length counted one. */
	if (sun->sun_path[0] != '\0')
		n = strnlen(sun->sun_path, n);
	if (n + 1 > buflen)
		return 0;
	memcpy(buf, sun->sun_path, n);
	buf[n] = '\0';
	return n;
}

/*
 * Tell whether a and b (of alen and blen bytes) are the same unix socket
 * address: the same path, or the same abstract name, byte for byte (see
 * unixaddr_name). An unnamed socket's is the same as none.
 */
bool
unixaddr_same(const struct sockaddr *a, socklen_t alen,
    const struct sockaddr *b, socklen_t blen)
{
	char na[UNIXADDR_NAME_SIZE], nb[UNIXADDR_NAME_SIZE];
	size_t n = unixaddr_name(a, alen, na, sizeof(na));

	return n != 0 && n == unixaddr_name(b, blen, nb, sizeof(nb)) &&
	    memcmp(na, nb, n) == 0;
}
