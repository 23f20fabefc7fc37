/* unixaddr.h: unix socket addresses from a path or an abstract "@name". */
#ifndef HANDOFF_UNIXADDR_H
#define HANDOFF_UNIXADDR_H

#include <sys/socket.h>
#include <sys/un.h>

/* The longest path (or "@name") a sockaddr_un holds, without its NUL. */
#define UNIXADDR_PATH_MAX	(sizeof(((struct sockaddr_un *)0)->sun_path) - 1)

/* What text may be. */
enum unixaddr_form {
	UNIXADDR_FILE = 0,	/* a file's path, as given (relative too) */
	UNIXADDR_NAMED,		/* "/absolute/path" or "@abstract-name" */
};

int	unixaddr_make(const char *text, enum unixaddr_form form,
	    struct sockaddr_un *sun, socklen_t *len, const char **error);

#endif
