/*
 * reap.c: reaping the supervisor's children, each exit by its pid.
 *
 * waitpid(-1, WNOHANG) makes the kernel walk every child of the caller,
 * and the call that finds none left walks them all: reaping the N workers
 * of a generation beside the N of the next, an exit or a few per turn of
 * the loop, costs O(N^2). SIGCHLD is therefore read from a signalfd,
 * which says which child it is for (ssi_pid), and that child is reaped by
 * waitpid(pid, WNOHANG), for which the kernel (5.14 on) looks that one
 * task up.
 *
 * SIGCHLD is not queued: a child that exits while the signal of another
 * is pending is told by nothing. So each SIGCHLD also asks for a walk of
 * all the children (reap_scan), at once if none was made for
 * reap.interval, else when that is over: a child whose signal was lost is
 * reaped at most that late. The interval is REAP_SCAN_FACTOR times the
 * CPU time the kernel's last walk took (REAP_SCAN_MIN_NS to
 * REAP_SCAN_MAX_NS), so that the walks take at most 1% of the CPU however
 * many children there are, and an exit whose signal was merged waits for
 * a few ms at most (a walk of 2000 children takes some 0.05 ms). Only the
 * waitpid() that finds no exited child left is timed: it walks them all,
 * and what the caller does for each child reaped is not the walk's cost.
 * A walk from the loop stops after REAP_SLICE_NS of reaping (a drain's
 * hundreds of exits, each told to the caller) and goes on in the next
 * turn, so that the loop answers what came meanwhile.
 *
 * SIGCHLD stays blocked (so that it waits for the signalfd; the mask
 * survives execve, so a SIGCHLD pending at an upgrade is read by the new
 * image). Where no signalfd can be made, the caller watches SIGCHLD as
 * any signal and calls reap_scan for each.
 */
#include "autoconf.h"

#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cause.h"
#include "loopstat.h"
#include "reap.h"

/* Signals read from the signalfd at once. */
#define REAP_BATCH		64

/* The wait between two walks: this many times the last walk's CPU time... */
#define REAP_SCAN_FACTOR	100
/* ... within these bounds. */
#define REAP_SCAN_MIN_NS	(1 * 1000000LL)
#define REAP_SCAN_MAX_NS	(100 * 1000000LL)

/* A walk from the loop reaps for this long at most in one turn. */
#define REAP_SLICE_NS		(2 * 1000000LL)

static struct {
	int		 fd;		/* the signalfd, -1 when not open */
	struct event	*ev;		/* fd readable */
	struct event	*scan_ev;	/* the next walk, when one is due */
	bool		 scan_due;	/* scan_ev is armed */
	int64_t		 last_scan;	/* when the last walk began (ns) */
	int64_t		 interval;	/* none before last_scan + interval */
	reap_fn		 fn;
	reap_peek_fn	 peek;
	reap_done_fn	 done;
	void		*arg;
} reap = { -1, NULL, NULL, false, 0, REAP_SCAN_MIN_NS, NULL, NULL, NULL,
    NULL };

/* A clock in ns. */
static int64_t
reap_clock(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* CLOCK_MONOTONIC in ns. */
static int64_t
reap_now(void)
{
	return reap_clock(CLOCK_MONOTONIC);
}

/*
 * Reap pid if it is a child that exited; tell the caller (first peek, with
 * the child not reaped yet, then fn). 1 if it was.
 */
static int
reap_pid(pid_t pid)
{
	int status;
	pid_t got;

	if (reap.peek != NULL)
		reap.peek(pid, reap.arg);
	while ((got = waitpid(pid, &status, WNOHANG | __WALL)) == -1 &&
	    errno == EINTR)
		continue;
	if (got <= 0)
		return 0;
	if (reap.fn != NULL)
		reap.fn(got, status, reap.arg);
	return 1;
}

/*
 * Reap every child that exited: a walk of them all. Tells the caller of
 * each, then that they are done. sliced (from the loop): after
 * REAP_SLICE_NS, those reaped so far are done, and the walk goes on in
 * the next turn of the loop.
 */
static void
reap_walk(bool sliced)
{
	int64_t began = reap_now(), cpu, took;
	struct timeval now = { 0, 0 };
	int status;
	pid_t pid;

	if (reap.scan_due) {
		event_del(reap.scan_ev);
		reap.scan_due = false;
	}
	for (;;) {
		cpu = reap_clock(CLOCK_THREAD_CPUTIME_ID);
		if ((pid = waitpid(-1, &status, WNOHANG | __WALL)) <= 0)
			break;
		if (reap.fn != NULL)
			reap.fn(pid, status, reap.arg);
		if (sliced && reap.scan_ev != NULL &&
		    reap_now() - began > REAP_SLICE_NS &&
		    event_add(reap.scan_ev, &now) == 0) {
			reap.scan_due = true;
			if (reap.done != NULL)
				reap.done(reap.arg);
			return;
		}
	}
	/* The last call walked every child and found none exited. */
	took = reap_clock(CLOCK_THREAD_CPUTIME_ID) - cpu;
	reap.last_scan = began;
	reap.interval = took * REAP_SCAN_FACTOR;
	if (reap.interval < REAP_SCAN_MIN_NS)
		reap.interval = REAP_SCAN_MIN_NS;
	if (reap.interval > REAP_SCAN_MAX_NS)
		reap.interval = REAP_SCAN_MAX_NS;
	if (reap.done != NULL)
		reap.done(reap.arg);
}

/* Reap every child that exited, now (a walk of them all). */
void
reap_scan(void)
{
	reap_walk(false);
}

/* Event: the wait after the last walk is over. */
static void
reap_scan_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	loopstat_mark("children walk");
	reap.scan_due = false;
	reap_walk(true);
}

/* A walk now if none was made for reap.interval, else once it is over. */
static void
reap_scan_soon(void)
{
	struct timeval tv;
	int64_t left;

	if (reap.scan_due)
		return;
	if ((left = reap.last_scan + reap.interval - reap_now()) <= 0) {
		reap_walk(true);
		return;
	}
	tv.tv_sec = (time_t)(left / 1000000000LL);
	tv.tv_usec = (suseconds_t)(left % 1000000000LL / 1000);
	if (event_add(reap.scan_ev, &tv) == -1) {
		reap_scan();
		return;
	}
	reap.scan_due = true;
}

/* Event: SIGCHLDs; reap the child each is for, and walk them all soon. */
static void
reap_readable(evutil_socket_t fd, short what, void *arg)
{
	struct signalfd_siginfo si[REAP_BATCH];
	size_t i, count, reaped = 0;
	ssize_t n;

	(void)what;
	(void)arg;
	loopstat_mark("SIGCHLD");
	for (;;) {
		n = read(fd, si, sizeof(si));
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		count = (size_t)n / sizeof(si[0]);
		for (i = 0; i < count; i++)
			if (si[i].ssi_pid > 0)
				reaped += (size_t)reap_pid((pid_t)si[i].ssi_pid);
		if (count < REAP_BATCH)
			break;
	}
	if (reaped > 0 && reap.done != NULL)
		reap.done(reap.arg);
	reap_scan_soon();
}

/*
 * Block SIGCHLD and read it from a signalfd; from now on fn is told of
 * each child reaped (by the signalfd or reap_scan), and done after those
 * reaped at once; peek (or NULL) of each child the signalfd names, before
 * it is reaped. -1 with *cause if it cannot (SIGCHLD is then blocked as
 * it was, at its default action).
 */
int
reap_open(struct event_base *base, reap_fn fn, reap_peek_fn peek,
    reap_done_fn done, void *arg, char **cause)
{
	struct sigaction sa;
	sigset_t set, old;

	reap.fn = fn;
	reap.peek = peek;
	reap.done = done;
	reap.arg = arg;
	/*
	 * SIGCHLD at its default action. A parent may have left it ignored,
	 * and execve keeps it so: the kernel then reaps each child itself
	 * and sends no signal, and no exit would be seen. (Watched as any
	 * signal, libevent's handler replaced it.)
	 */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGCHLD, &sa, NULL) == -1) {
		cause_set(cause, "sigaction: %s", strerror(errno));
		return -1;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	if (sigprocmask(SIG_BLOCK, &set, &old) == -1) {
		cause_set(cause, "sigprocmask: %s", strerror(errno));
		return -1;
	}
	if ((reap.fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) == -1) {
		cause_set(cause, "signalfd: %s", strerror(errno));
		sigprocmask(SIG_SETMASK, &old, NULL);
		return -1;
	}
	if ((reap.ev = event_new(base, reap.fd, EV_READ | EV_PERSIST,
	    reap_readable, NULL)) == NULL || event_add(reap.ev, NULL) == -1 ||
	    (reap.scan_ev = evtimer_new(base, reap_scan_cb, NULL)) == NULL) {
		cause_set(cause, "out of memory");
		reap_close();
		sigprocmask(SIG_SETMASK, &old, NULL);
		return -1;
	}
	return 0;
}

/* Stop reading SIGCHLD (it stays blocked); reap_scan still reaps. */
void
reap_close(void)
{
	if (reap.ev != NULL)
		event_free(reap.ev);
	reap.ev = NULL;
	if (reap.scan_ev != NULL)
		event_free(reap.scan_ev);
	reap.scan_ev = NULL;
	reap.scan_due = false;
	if (reap.fd != -1)
		close(reap.fd);
	reap.fd = -1;
}

/* Whether SIGCHLD is read from the signalfd (and must stay blocked). */
bool
reap_reads_sigchld(void)
{
	return reap.fd != -1;
}
