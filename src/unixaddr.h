/*
 * unixaddr.h: unix socket addresses from a path or an abstract "@name",
 * and the name an address holds.
 */
#ifndef HANDOFF_UNIXADDR_H
#define HANDOFF_UNIXADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/un.h>

/*
 * libhandoff.a builds these in under names of its own, so that a program
 * linking it statically keeps the unixaddr_ names free (libhandoff.so
 * exports none of them anyway).
 */
#ifdef UNIXADDR_IN_LIBHANDOFF
#define unixaddr_make	handoff_internal_unixaddr_make
#define unixaddr_name	handoff_internal_unixaddr_name
#define unixaddr_same	handoff_internal_unixaddr_same
#endif

/* The longest path (or "@name") a sockaddr_un holds, without its NUL. */
#define UNIXADDR_PATH_MAX	(sizeof(((struct sockaddr_un *)0)->sun_path) - 1)

/* A buffer for any name unixaddr_name reads, with the NUL it adds. */
#define UNIXADDR_NAME_SIZE	(sizeof(((struct sockaddr_un *)0)->sun_path) + 1)

/* What text may be. */
enum unixaddr_form {
	UNIXADDR_FILE = 0,	/* a file's path, as given (relative too) */
	UNIXADDR_NAMED,		/* "/absolute/path" or "@abstract-name" */
};

int	unixaddr_make(const char *text, enum unixaddr_form form,
	    struct sockaddr_un *sun, socklen_t *len, const char **error);
size_t	unixaddr_name(const struct sockaddr *sa, socklen_t len, char *buf,
	    size_t buflen);
bool	unixaddr_same(const struct sockaddr *a, socklen_t alen,
	    const struct sockaddr *b, socklen_t blen);

#endif
