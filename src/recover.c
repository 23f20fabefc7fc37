/*
 * recover.c: take over from a supervisor of the same control socket that
 * died (kill -9, a crash) and left its workers serving.
 *
 * The lock beside the control socket (control.c) is ours, so the
 * supervisor that wrote the record beside it (record.c) is gone. A
 * recorded process is its orphan only if it still runs with the start
 * time recorded (a pid reused since is another process) and as the user
 * recorded, that user being ours or the program's (or, started as root
 * by a supervisor of root, a user it switched to itself); the record
 * must be ours and written by no one else. Each listener socket the
 * orphans hold (per listener and worker slot, from the first orphan that
 * holds it) is copied with pidfd_getfd(2) at the fd recorded, or
 * wherever the worker moved it (found by its inode in /proc/PID/fd), and
 * must be that socket: the inode recorded; the listener then checks that
 * it is bound to its address and of its type (sdsocket.c) before it
 * takes it instead of binding. Where pidfd_getfd is missing (Linux before
 * 5.6) or not permitted (ptrace rules: another user, yama ptrace_scope),
 * the start fails naming the pids, and nothing running changes.
 *
 * Once the first generations took over, the orphans drain like an old
 * generation: the program's stop_signal, then SIGKILL (to the process
 * group each leads) after its drain_timeout. They are not our children:
 * a pidfd tells when each has exited. Until then the record keeps them,
 * so a supervisor that dies meanwhile is recovered from too.
 *
 * An orphan's output pipe died with its supervisor, unless the fd store
 * of a service manager kept it (outstore.c): then what the orphan writes
 * is logged again, with its prefix, until it exits.
 */
#include "autoconf.h"

#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cause.h"
#include "config.h"
#include "log.h"
#include "loopstat.h"
#include "output.h"
#include "outstore.h"
#include "parse.h"
#include "procfs.h"
#include "record.h"
#include "recover.h"
#include "sdsocket.h"

/* The stop signal and drain timeout of an orphan whose program is gone. */
#define RECOVER_DEFAULT_SIGNAL	SIGTERM

/* A worker of the dead supervisor that runs on. */
struct orphan {
	struct recover	*rec;
	struct record_proc rp;		/* as recorded; rp.fds is ours */
	int		 pidfd;		/* -1 once it exited */
	struct event	*exit_ev;	/* pidfd readable: it exited */
	struct event	*kill_timer;	/* its drain_timeout */
	struct output	*output;	/* its output pipe, back from the fd store */
	bool		 draining;
};

struct recover {
	struct event_base *base;
	struct orphan	*orphans;
	size_t		 norphans;
	size_t		 live;		/* orphans that have not exited */
	pid_t		 dead_pid;	/* the supervisor that wrote the record */
	bool		 draining;	/* recover_drain was called */
	unsigned long long output_dropped;	/* the orphans' lines dropped */
	recover_changed_fn changed;
	void		*arg;
};

/* pidfd_open(2). */
static int
recover_pidfd_open(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* pidfd_getfd(2): a copy (CLOEXEC) of the target's fd. */
static int
recover_pidfd_getfd(int pidfd, int fd)
{
	return (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0);
}

/* pidfd_send_signal(2). */
static int
recover_signal(const struct orphan *o, int sig)
{
	return (int)syscall(SYS_pidfd_send_signal, o->pidfd, sig, NULL, 0);
}

/* The effective uid of pid from /proc/PID/status; -1 if unknown. */
static long
recover_euid(pid_t pid)
{
	char path[64], *text, *p;
	unsigned long real, eff;
	long uid = -1;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	if ((text = procfs_read(path, NULL)) == NULL)
		return -1;
	if ((p = strstr(text, "\nUid:")) != NULL &&
	    sscanf(p + 5, "%lu %lu", &real, &eff) == 2)
		uid = (long)eff;
	free(text);
	return uid;
}

/*
 * Tell whether recorded process p is still the worker recorded: alive,
 * started at the recorded time, running as the user recorded, which is
 * ours or its program's in conf. Logs why not.
 */
static bool
recover_is_orphan(const struct record_proc *p, const struct config *conf)
{
	const struct program_conf *pc = config_find_program(conf, p->program);
	struct procfs_stat st;
	long uid;

	if (procfs_stat(p->pid, &st) == -1 || st.state == 'Z')
		return false;	/* gone since */
	if (st.start != p->start) {
		log_info("recorded worker pid %d (%s gen %u): that pid is "
		    "another process now (started at another time); left alone",
		    (int)p->pid, p->program, p->gen);
		return false;
	}
	uid = recover_euid(p->pid);
	/*
	 * Started as root by a supervisor of root, it may have switched to
	 * another user itself (`-u USER`): its pid and start time name it.
	 */
	if (uid != (long)p->uid && p->uid == 0 && geteuid() == 0) {
		log_info("recorded worker pid %d (%s gen %u): started as root, "
		    "runs as uid %ld now (it switched itself)", (int)p->pid,
		    p->program, p->gen, uid);
		return uid != -1;
	}
	if (uid != (long)p->uid || (p->uid != geteuid() &&
	    (pc == NULL || pc->user == NULL || pc->uid != p->uid))) {
		log_warnx("recorded worker pid %d (%s gen %u): runs as uid %ld, "
		    "not as its program's user or ours; left alone",
		    (int)p->pid, p->program, p->gen, uid);
		return false;
	}
	return true;
}

/* The fd at which pid holds the socket of inode ino; -1 if none. */
static int
recover_find_fd(pid_t pid, ino_t ino)
{
	char dir[64], path[384], link[64], want[64];
	struct dirent *de;
	ssize_t n;
	DIR *d;
	int fd = -1;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	snprintf(want, sizeof(want), "socket:[%ju]", (uintmax_t)ino);
	if ((d = opendir(dir)) == NULL)
		return -1;
	while (fd == -1 && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if ((n = readlink(path, link, sizeof(link) - 1)) <= 0)
			continue;
		link[n] = '\0';
		if (strcmp(link, want) == 0)
			fd = atoi(de->d_name);
	}
	closedir(d);
	return fd;
}

/* Tell whether fd is a socket of inode ino. */
static bool
recover_is_socket(int fd, ino_t ino)
{
	struct stat sb;

	return fstat(fd, &sb) == 0 && S_ISSOCK(sb.st_mode) && sb.st_ino == ino;
}

/*
 * Copy the socket f of orphan o: at its recorded fd, or where the worker
 * moved it. The copy (CLOEXEC), -1 if o does not hold it any more, or -2
 * with errno if pidfd_getfd failed for want of permission or support.
 */
static int
recover_copy(const struct orphan *o, const struct record_fd *f)
{
	int fd, at;

	if ((fd = recover_pidfd_getfd(o->pidfd, f->fd)) == -1 &&
	    (errno == EPERM || errno == EACCES || errno == ENOSYS))
		return -2;
	if (fd != -1 && recover_is_socket(fd, f->ino))
		return fd;
	if (fd != -1)
		close(fd);
	if ((at = recover_find_fd(o->rp.pid, f->ino)) == -1 || at == f->fd)
		return -1;
	if ((fd = recover_pidfd_getfd(o->pidfd, at)) == -1)
		return -1;
	if (recover_is_socket(fd, f->ino))
		return fd;
	close(fd);
	return -1;
}

/* Tell whether a socket (listener, slot) is among the n taken already. */
static bool
recover_taken(const struct record_fd *const *taken, size_t n,
    const struct record_fd *f)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (taken[i]->slot == f->slot &&
		    strcmp(taken[i]->listener, f->listener) == 0)
			return true;
	return false;
}

/*
 * Copy every listener socket the orphans hold (each from the first that
 * holds it) into sdsocket.c's table, where the listeners find them. 0,
 * or -1 with *cause naming the orphans pidfd_getfd was refused for.
 */
static int
recover_take_sockets(struct recover *rec, char **cause)
{
	const struct record_fd **taken = NULL, **grown;
	char pids[512] = "", err[128] = "";
	size_t i, k, ntaken = 0, len = 0;
	struct orphan *o;
	int fd, denied = 0, rc = 0, saved = 0;

	for (i = 0; i < rec->norphans; i++) {
		o = &rec->orphans[i];
		for (k = 0; k < o->rp.nfds; k++) {
			if (recover_taken(taken, ntaken, &o->rp.fds[k]))
				continue;
			if ((fd = recover_copy(o, &o->rp.fds[k])) == -2) {
				if (denied++ == 0) {
					saved = errno;
					snprintf(err, sizeof(err), "%s",
					    strerror(errno));
				}
				if (len < sizeof(pids))
					len += (size_t)snprintf(pids + len,
					    sizeof(pids) - len, "%s%d",
					    len > 0 ? ", " : "", (int)o->rp.pid);
				break;
			}
			if (fd == -1)
				continue;
			if ((grown = reallocarray(taken, ntaken + 1,
			    sizeof(*taken))) == NULL) {
				close(fd);
				cause_set(cause, "out of memory");
				rc = -1;
				goto done;
			}
			taken = grown;
			/* The copy is sdsocket.c's now. */
			if (sdsocket_add_recovered(fd, o->rp.fds[k].listener,
			    o->rp.fds[k].slot, o->rp.pid) == -1) {
				cause_set(cause, "out of memory");
				rc = -1;
				goto done;
			}
			taken[ntaken++] = &o->rp.fds[k];
		}
	}
	if (denied > 0) {
		cause_set(cause, "the listeners are held by orphaned workers of "
		    "the dead supervisor pid %d (pid%s %s), and pidfd_getfd "
		    "cannot take them over: %s (%s); stop those workers, or "
		    "start handoff where it may", (int)rec->dead_pid,
		    denied > 1 ? "s" : "", pids, err, saved == ENOSYS ?
		    "pidfd_getfd needs "
		    "Linux 5.6 or later" : "it needs ptrace access to them: "
		    "the same user as theirs or CAP_SYS_PTRACE, and "
		    "kernel.yama.ptrace_scope below 2");
		rc = -1;
	}
done:
	free(taken);
	return rc;
}

/* Event: an orphan's pidfd is readable, it has exited. */
static void
recover_exited(evutil_socket_t fd, short what, void *arg)
{
	struct orphan *o = arg;
	struct recover *rec = o->rec;

	(void)fd;
	(void)what;
	loopstat_mark("orphan exit");
	log_info("orphaned worker pid %d (%s gen %u worker %d) exited",
	    (int)o->rp.pid, o->rp.program, o->rp.gen, o->rp.slot);
	event_free(o->exit_ev);
	o->exit_ev = NULL;
	if (o->kill_timer != NULL) {
		event_free(o->kill_timer);
		o->kill_timer = NULL;
	}
	close(o->pidfd);
	o->pidfd = -1;
	/* What it wrote last is logged; its pipe leaves the fd store. */
	if (o->output != NULL) {
		output_free(o->output);
		o->output = NULL;
		outstore_remove(o->rp.pid);
	}
	if (--rec->live == 0 && rec->draining)
		log_info("the orphaned workers of the dead supervisor pid %d "
		    "are gone", (int)rec->dead_pid);
	rec->changed(rec->arg);
}

/* Add a recorded process that is our orphan; -1 if out of memory. */
static int
recover_add(struct recover *rec, struct record_proc *p, int pidfd)
{
	struct orphan *grown, *o;

	if ((grown = reallocarray(rec->orphans, rec->norphans + 1,
	    sizeof(*grown))) == NULL)
		return -1;
	rec->orphans = grown;
	o = &rec->orphans[rec->norphans++];
	memset(o, 0, sizeof(*o));
	o->rp = *p;
	o->pidfd = pidfd;
	/* The fds are the orphan's record now. */
	p->fds = NULL;
	p->nfds = 0;
	rec->live++;
	return 0;
}

/*
 * Log what an orphan writes from now on, if the fd store kept its output
 * pipe across the crash (outstore.c).
 */
static void
recover_read_output(struct orphan *o)
{
	char prefix[RECORD_NAME_MAX + 64];
	int fd;

	if ((fd = outstore_take(o->rp.pid)) == -1)
		return;
	snprintf(prefix, sizeof(prefix), "%s gen %u pid %d", o->rp.program,
	    o->rp.gen, (int)o->rp.pid);
	/* The pipe is the output reader's from now on. */
	if ((o->output = output_new(o->rec->base, fd, prefix,
	    &o->rec->output_dropped, o->rec)) == NULL) {
		close(fd);
		return;
	}
	log_info("orphaned worker pid %d: its output, kept in the fd store, "
	    "is read again", (int)o->rp.pid);
}

/*
 * Read the record beside conf's control socket and take over the
 * listener sockets of the orphans it names. *out gets what drains them
 * later (none when there is no record or it is not trusted). 0, or -1
 * with *cause: nothing running changed.
 */
int
recover_open(struct event_base *base, const struct config *conf,
    recover_changed_fn changed, void *arg, struct recover **out, char **cause)
{
	struct record_file rf;
	struct recover *rec;
	struct procfs_stat st;
	char *path, *why = NULL;
	size_t i;
	int pidfd;

	*out = NULL;
	if ((rec = calloc(1, sizeof(*rec))) == NULL ||
	    (path = record_path(conf->supervisor.control)) == NULL) {
		free(rec);
		cause_set(cause, "out of memory");
		return -1;
	}
	rec->base = base;
	rec->changed = changed;
	rec->arg = arg;
	*out = rec;
	if (record_read(path, &rf, &why) == -1) {
		log_warnx("the record of the workers is not trusted: %s; no "
		    "worker is taken over", cause_text(why));
		free(why);
		free(path);
		return 0;
	}
	rec->dead_pid = rf.sup_pid;
	if (rf.sup_pid != getpid() && procfs_stat(rf.sup_pid, &st) == 0 &&
	    st.state != 'Z' && st.start == rf.sup_start) {
		log_warnx("%s: written by pid %d, which still runs; no worker "
		    "is taken over", path, (int)rf.sup_pid);
		record_file_free(&rf);
		free(path);
		return 0;
	}
	for (i = 0; i < rf.nprocs; i++) {
		if ((pidfd = recover_pidfd_open(rf.procs[i].pid)) == -1)
			continue;	/* gone (or no pidfds: nothing to take) */
		/* Checked after the pidfd is open: it names that process. */
		if (!recover_is_orphan(&rf.procs[i], conf) ||
		    recover_add(rec, &rf.procs[i], pidfd) == -1)
			close(pidfd);
	}
	record_file_free(&rf);
	if (rec->norphans > 0) {
		if (recover_take_sockets(rec, cause) == -1) {
			free(path);
			return -1;
		}
		log_info("%zu orphaned worker%s of the dead supervisor pid %d "
		    "(recorded in %s) taken over: drained once the new "
		    "generations are ready", rec->norphans,
		    rec->norphans == 1 ? "" : "s", (int)rec->dead_pid, path);
	}
	free(path);
	for (i = 0; i < rec->norphans; i++) {
		rec->orphans[i].rec = rec;
		recover_read_output(&rec->orphans[i]);
		rec->orphans[i].exit_ev = event_new(base, rec->orphans[i].pidfd,
		    EV_READ, recover_exited, &rec->orphans[i]);
		if (rec->orphans[i].exit_ev == NULL ||
		    event_add(rec->orphans[i].exit_ev, NULL) == -1)
			log_warnx("orphaned worker pid %d: cannot watch for its "
			    "exit", (int)rec->orphans[i].rp.pid);
	}
	return 0;
}

/* Timer: an orphan outlived its drain_timeout: kill it and its group. */
static void
recover_kill(evutil_socket_t fd, short what, void *arg)
{
	struct orphan *o = arg;

	(void)fd;
	(void)what;
	loopstat_mark("orphan kill");
	if (o->pidfd == -1)
		return;
	log_warnx("orphaned worker pid %d (%s gen %u worker %d): still running "
	    "after its drain_timeout; killed", (int)o->rp.pid, o->rp.program,
	    o->rp.gen, o->rp.slot);
	/* Its process group, as for a worker of ours, if it still leads it. */
	if (getpgid(o->rp.pid) == o->rp.pid)
		(void)kill(-o->rp.pid, SIGKILL);
	(void)recover_signal(o, SIGKILL);
}

/*
 * The new generations took over: tell every orphan to stop (its
 * program's stop_signal in conf), and kill what is left after its
 * drain_timeout.
 */
void
recover_drain(struct recover *rec, const struct config *conf)
{
	const struct program_conf *pc;
	struct orphan *o;
	struct timeval tv;
	char limit[32];
	uint64_t ms;
	size_t i;
	int sig;

	if (rec == NULL || rec->draining)
		return;
	rec->draining = true;
	for (i = 0; i < rec->norphans; i++) {
		o = &rec->orphans[i];
		if (o->pidfd == -1)
			continue;
		pc = config_find_program(conf, o->rp.program);
		sig = pc != NULL ? pc->stop_signal : RECOVER_DEFAULT_SIGNAL;
		ms = pc != NULL ? pc->drain_timeout_ms : DEFAULT_DRAIN_TIMEOUT_MS;
		format_duration(ms, limit, sizeof(limit));
		log_info("orphaned worker pid %d (%s gen %u worker %d): "
		    "draining (%s, killed after %s)", (int)o->rp.pid,
		    o->rp.program, o->rp.gen, o->rp.slot, signal_name(sig),
		    limit);
		o->draining = true;
		if (recover_signal(o, sig) == -1 && errno != ESRCH)
			log_warn("orphaned worker pid %d: cannot send %s",
			    (int)o->rp.pid, signal_name(sig));
		tv = timeval_ms(ms);
		if ((o->kill_timer = evtimer_new(rec->base, recover_kill,
		    o)) == NULL || evtimer_add(o->kill_timer, &tv) == -1)
			log_warnx("orphaned worker pid %d: cannot arm its drain "
			    "timeout", (int)o->rp.pid);
	}
}

/*
 * The supervisor stops: with now, kill the orphans it drains at once (it
 * waits for them otherwise). Orphans it never began to drain (its first
 * start failed or was stopped) are left serving, as they were.
 */
void
recover_stop(struct recover *rec, bool now)
{
	size_t i;

	if (rec == NULL || !rec->draining || !now)
		return;
	for (i = 0; i < rec->norphans; i++)
		if (rec->orphans[i].pidfd != -1)
			recover_kill(-1, 0, &rec->orphans[i]);
}

/* Tell whether orphans the supervisor drains have yet to exit. */
bool
recover_live(const struct recover *rec)
{
	return rec != NULL && rec->draining && rec->live > 0;
}

/* record_extra_fn: the orphans still running, for the record. */
void
recover_put(void *arg, FILE *fp)
{
	const struct recover *rec = arg;
	size_t i, k;

	for (i = 0; rec != NULL && i < rec->norphans; i++) {
		if (rec->orphans[i].pidfd == -1)
			continue;
		record_put_proc(fp, &rec->orphans[i].rp);
		for (k = 0; k < rec->orphans[i].rp.nfds; k++)
			record_put_fd(fp, &rec->orphans[i].rp.fds[k]);
	}
}

/*
 * Free it all. Orphans being drained that still run are killed: nothing
 * the supervisor took charge of outlives it.
 */
void
recover_free(struct recover *rec)
{
	struct orphan *o;
	size_t i;

	if (rec == NULL)
		return;
	for (i = 0; i < rec->norphans; i++) {
		o = &rec->orphans[i];
		if (o->pidfd != -1 && o->draining)
			recover_kill(-1, 0, o);
		if (o->exit_ev != NULL)
			event_free(o->exit_ev);
		if (o->kill_timer != NULL)
			event_free(o->kill_timer);
		if (o->pidfd != -1)
			close(o->pidfd);
		/* A live orphan's pipe stays stored, for the next start. */
		output_free(o->output);
		free(o->rp.fds);
	}
	free(rec->orphans);
	free(rec);
}
