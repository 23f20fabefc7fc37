/*
 * bindhint.c: a worker that exits before ready with "address already in
 * use" (any case) in its output bound an address itself, most likely its
 * listener's, which handoff already holds: the server ignored the socket
 * it was given. The hint names the listener and, where the bind() shim
 * can serve the program's binary (shim.c), suggests preload = yes.
 */
#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "addr.h"
#include "bindhint.h"
#include "child.h"
#include "config.h"
#include "listener.h"
#include "shim.h"

#define BINDHINT_TEXT	"address already in use"
#define BINDHINT_NAMED	2	/* listeners named in a hint */

/* Tell whether a line of output says "address already in use", any case. */
bool
bindhint_matches(const char *line, size_t len)
{
	size_t n = sizeof(BINDHINT_TEXT) - 1, i;

	for (i = 0; i + n <= len; i++)
		if (strncasecmp(line + i, BINDHINT_TEXT, n) == 0)
			return true;
	return false;
}

/*
 * Whether the bind() shim can serve pc's command: 1 yes, 0 no (why says
 * why), -1 it cannot tell (the shim or the command is not found).
 */
static int
bindhint_shim_serves(const struct program_conf *pc, char *why, size_t len)
{
	const char *shim;
	char *cause = NULL, *command;
	enum shim_verdict verdict;

	if ((shim = shim_path(&cause)) == NULL) {
		free(cause);
		return -1;
	}
	if ((command = child_find_command(pc, pc->argv[0], &cause)) == NULL) {
		free(cause);
		return -1;
	}
	verdict = shim_inspect(command, shim, pc, why, len);
	free(command);
	return verdict == SHIM_REFUSE ? 0 : 1;
}

/*
 * The hint for a worker of pc that exited before ready saying "address
 * already in use": which of its stream listeners it likely bound itself,
 * and what to do.
 */
void
bindhint_describe(const struct program_conf *pc,
    struct listener *const *listeners, size_t nlisteners, char *buf,
    size_t len)
{
	char why[512];	/* shim_inspect's; too long for the hint */
	size_t i, used;
	int named = 0;

	used = (size_t)snprintf(buf, len, "its output says \"address already "
	    "in use\"");
	for (i = 0; i < nlisteners && named < BINDHINT_NAMED; i++) {
		if (addr_socktype(&listeners[i]->addr) != SOCK_STREAM)
			continue;
		if (used < len)
			used += (size_t)snprintf(buf + used, len - used, "%s "
			    "listener %s %s", named ? " or" : ": it binds the "
			    "address of", listeners[i]->name, listeners[i]->bound);
		named++;
	}
	if (used >= len)
		return;
	if (named == 0) {
		snprintf(buf + used, len - used, ": another process holds an "
		    "address it binds");
		return;
	}
	if (pc->preload) {
		snprintf(buf + used, len - used, " itself, and the bind() shim "
		    "did not hand it the socket: see the shim's lines above");
		return;
	}
	if (bindhint_shim_serves(pc, why, sizeof(why)) == 0)
		snprintf(buf + used, len - used, " itself instead of using the "
		    "socket it was given (LISTEN_FDS); the bind() shim cannot "
		    "reach this binary, so preload = yes would not help");
	else
		snprintf(buf + used, len - used, " itself instead of using the "
		    "socket it was given: set preload = yes (the bind() shim "
		    "hands it that socket), or make it use LISTEN_FDS");
}
