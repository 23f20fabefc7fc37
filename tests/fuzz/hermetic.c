/*
 * hermetic.c: name lookups for the fuzz targets, from small tables instead
 * of the system. A fuzzed host name must not become a DNS query, nor a
 * fuzzed user name a lookup in whatever user database the host has: the
 * fuzzers stay fast, deterministic and off the network. Defined in the
 * program, these take the place of libc's (and of the sanitizers' weak
 * interceptors).
 */
#include "autoconf.h"

#include <grp.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* One address for a name, as getaddrinfo hands it out. */
struct hermetic_addrinfo {
	struct addrinfo		ai;
	struct sockaddr_in	sin;
};

/* getaddrinfo: "localhost" is 127.0.0.1; no other name resolves. */
int
getaddrinfo(const char *node, const char *service,
    const struct addrinfo *hints, struct addrinfo **res)
{
	struct hermetic_addrinfo *h;

	(void)service;
	(void)hints;
	if (node == NULL || strcmp(node, "localhost") != 0)
		return EAI_NONAME;
	if ((h = calloc(1, sizeof(*h))) == NULL)
		return EAI_MEMORY;
	h->sin.sin_family = AF_INET;
	h->sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	h->ai.ai_family = AF_INET;
	h->ai.ai_socktype = SOCK_STREAM;
	h->ai.ai_addr = (struct sockaddr *)&h->sin;
	h->ai.ai_addrlen = sizeof(h->sin);
	*res = &h->ai;
	return 0;
}

/* freeaddrinfo for what getaddrinfo above gave. */
void
freeaddrinfo(struct addrinfo *res)
{
	/* ai is the first member: res is the whole allocation. */
	free(res);
}

static struct passwd hermetic_users[] = {
	{ .pw_name = "root", .pw_uid = 0, .pw_gid = 0 },
	{ .pw_name = "nobody", .pw_uid = 65534, .pw_gid = 65534 },
};
static struct group hermetic_groups[] = {
	{ .gr_name = "root", .gr_gid = 0 },
	{ .gr_name = "nogroup", .gr_gid = 65534 },
};

#define HERMETIC_N(a)	(sizeof(a) / sizeof((a)[0]))

/* getpwnam: root and nobody only. */
struct passwd *
getpwnam(const char *name)
{
	size_t i;

	for (i = 0; i < HERMETIC_N(hermetic_users); i++)
		if (strcmp(hermetic_users[i].pw_name, name) == 0)
			return &hermetic_users[i];
	return NULL;
}

/* getpwuid: root and nobody only. */
struct passwd *
getpwuid(uid_t uid)
{
	size_t i;

	for (i = 0; i < HERMETIC_N(hermetic_users); i++)
		if (hermetic_users[i].pw_uid == uid)
			return &hermetic_users[i];
	return NULL;
}

/* getgrnam: root and nogroup only. */
struct group *
getgrnam(const char *name)
{
	size_t i;

	for (i = 0; i < HERMETIC_N(hermetic_groups); i++)
		if (strcmp(hermetic_groups[i].gr_name, name) == 0)
			return &hermetic_groups[i];
	return NULL;
}
