/*
 * selfcheck.c: `handoff check --bind` for the listeners of self-mode
 * programs (handoff = self).
 *
 * Such a program binds its addresses itself, with SO_REUSEPORT: a socket
 * someone else listens on there would take a share of its connections,
 * or keep it from binding at all. So --bind lists who listens on each
 * such address (sock_diag, the holders' fds in /proc). A socket held by
 * the supervisor running this config, or by any process below it, is
 * the program's own (the config of a running deployment is being
 * checked) and passes; that supervisor is the process holding the lock
 * beside the config's control socket. Any other holder fails the check,
 * named by pid, command and the socket's uid; a socket whose holder
 * check may not see (another user's processes, when not run as root) is
 * a warning. Where nothing listens, the address is bound once as the
 * program will bind it (SO_REUSEPORT), so that an address the host lacks
 * or a port held otherwise is reported as for any listener.
 */
#include "autoconf.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "addr.h"
#include "cause.h"
#include "config.h"
#include "ctllock.h"
#include "listener.h"
#include "procfs.h"
#include "selfcheck.h"
#include "sockdiag.h"

#define SELFCHECK_MAX_NAMED	4	/* foreign sockets named per listener */

/* What one listener's look found. */
struct selfcheck_look {
	struct sockdiag_owner foreign[SELFCHECK_MAX_NAMED];
	size_t		 nforeign;
	size_t		 more;		/* foreign sockets past those named */
	size_t		 unseen;	/* sockets no visible process holds */
	uid_t		 unseen_uid;	/* the first one's owner */
};

/*
 * Sort socket s by its holders: the program's own if one of them is below
 * the supervisor sup, else foreign (named by its lowest pid), or unseen.
 */
static void
selfcheck_sort(struct selfcheck_look *look, const struct sockdiag_sock *s,
    const struct sockdiag_holders *held, pid_t sup)
{
	struct sockdiag_owner *o;
	pid_t lowest = 0;
	bool seen = false;
	size_t k;

	for (k = 0; k < held->count; k++) {
		if (held->items[k].inode != s->inode)
			continue;
		seen = true;
		if (procfs_is_below(held->items[k].pid, sup))
			return;
		if (lowest == 0 || held->items[k].pid < lowest)
			lowest = held->items[k].pid;
	}
	if (!seen) {
		if (look->unseen++ == 0)
			look->unseen_uid = s->uid;
		return;
	}
	if (look->nforeign == SELFCHECK_MAX_NAMED) {
		look->more++;
		return;
	}
	o = &look->foreign[look->nforeign++];
	o->inode = s->inode;
	o->uid = s->uid;
	o->pid = lowest;
	procfs_comm(lowest, o->comm, sizeof(o->comm));
}

/* Bind a self-mode listener's address once, as its program will. */
static int
selfcheck_bind(const struct listener_conf *lc, char **cause)
{
	struct listener_conf probe = *lc;
	struct listener *l;

	probe.opts.reuseport = true;
	if (listener_bind(&probe, &l, cause) == -1)
		return -1;
	listener_unref(l);
	return 0;
}

/* Say in *cause what look found on lc's address: -1 an error, 1 a warning. */
static int
selfcheck_tell(const struct listener_conf *lc, const struct selfcheck_look *look,
    pid_t sup, char **cause)
{
	char where[ADDR_STRLEN], who[512], more[32] = "", whose[96];
	bool one = look->nforeign + look->more == 1;

	addr_format(&lc->addr, where, sizeof(where));
	if (look->nforeign == 0) {
		cause_set(cause, "listener %s: %s: %zu socket%s of uid %u listen%s "
		    "on this address, held by no process check can look into: "
		    "it cannot tell whether %s the program's own (run it as root "
		    "or as that user)", lc->name, where, look->unseen,
		    look->unseen == 1 ? "" : "s", (unsigned int)look->unseen_uid,
		    look->unseen == 1 ? "s" : "", look->unseen == 1 ? "it is" :
		    "they are");
		return 1;
	}
	sockdiag_format_owners(look->foreign, look->nforeign, who, sizeof(who));
	if (look->more > 0)
		snprintf(more, sizeof(more), " and %zu more", look->more);
	if (sup > 0)
		snprintf(whose, sizeof(whose), " and %s not %s of this config's "
		    "supervisor (pid %d)", one ? "is" : "are", one ? "a process" :
		    "processes", (int)sup);
	else
		snprintf(whose, sizeof(whose), ", and no supervisor of this "
		    "config runs");
	cause_set(cause, "listener %s: %s: %s%s already listen%s on this "
	    "address%s: %s would take a share of the connections of the program "
	    "that binds it itself (handoff = self), or keep it from binding",
	    lc->name, where, who, more, one ? "s" : "", whose, one ? "it" :
	    "they");
	return -1;
}

/*
 * Look who listens on a self-mode listener's address, sup being the
 * supervisor running the config (-1: none): 0 if nobody but the
 * supervisor's processes does (nobody: the address binds), else -1 (an
 * error) or 1 (a warning) with *cause.
 */
static int
selfcheck_listener(const struct listener_conf *lc, pid_t sup, char **cause)
{
	struct sockdiag_list list = { .socks = NULL };
	struct sockdiag_holders held = { NULL, 0, false, 0 };
	struct selfcheck_look look;
	struct sockdiag_want want;
	char where[ADDR_STRLEN], *why = NULL;
	ino_t *inodes = NULL;
	size_t i;
	int rc = 1;

	memset(&look, 0, sizeof(look));
	memset(&want, 0, sizeof(want));
	want.addr = lc->addr;
	want.v6only = lc->opts.v6only == 1;
	if (sockdiag_listeners(&want, 1, &list, &why) == 0 && list.count == 0) {
		rc = selfcheck_bind(lc, cause);
		goto out;
	}
	if (why == NULL && (inodes = calloc(list.count,
	    sizeof(*inodes))) == NULL)
		why = strdup("out of memory");
	for (i = 0; inodes != NULL && i < list.count; i++)
		inodes[i] = list.socks[i].inode;
	if (why == NULL && sockdiag_holders(inodes, list.count, NULL, 0, &held,
	    &why) == 0) {
		for (i = 0; i < list.count; i++)
			selfcheck_sort(&look, &list.socks[i], &held, sup);
		rc = look.nforeign + look.unseen == 0 ? 0 :
		    selfcheck_tell(lc, &look, sup, cause);
		goto out;
	}
	addr_format(&lc->addr, where, sizeof(where));
	cause_set(cause, "listener %s: %s: cannot tell who listens on this "
	    "address: %s", lc->name, where, cause_text(why));
out:
	free(why);
	free(inodes);
	sockdiag_holders_free(&held);
	sockdiag_list_free(&list);
	return rc;
}

/*
 * Check the listeners of self-mode programs in conf (for check --bind):
 * what is found goes to msgs; returns how many fail.
 */
int
selfcheck_probe_config(const struct config *conf, struct config_msgs *msgs)
{
	const struct listener_conf *lc;
	char *cause;
	pid_t sup = -1;
	bool looked = false;
	int failures = 0, rc;

	TAILQ_FOREACH(lc, &conf->listeners, entry) {
		if (!lc->has_listen || !lc->self)
			continue;
		if (!looked && conf->supervisor.control != NULL)
			sup = ctllock_running(conf->supervisor.control);
		looked = true;
		cause = NULL;
		if ((rc = selfcheck_listener(lc, sup, &cause)) == 0)
			continue;
		config_msgs_add(msgs, rc == -1, conf->path, lc->line, "%s",
		    cause_text(cause));
		free(cause);
		if (rc == -1)
			failures++;
	}
	return failures;
}
