/*
 * unixaddr.c: build the sockaddr_un (and its length) for a unix socket,
 * from a file's path or, where allowed, from "@name", which names an
 * abstract socket (a leading NUL, no file).
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
 * over UNIXADDR_PATH_MAX bytes) and *cause, a message, if text cannot be
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
