/*
 * record.c: the record of the workers, CONTROL.workers.
 *
 * The control socket's directory is ours (control.c: only root or our
 * user may write it, and the lock beside the socket makes its names
 * ours), so the record is too. It is text, rewritten whole (into the
 * temporary file beside it, CONTROL.workers.tmp, then swapped with it:
 * the two files take turns) after a worker process started or ended: at most
 * once per turn of the event loop, and, after a write that took T, not
 * before 9T have passed, nor 50 us for each process it named (at most a
 * second in all). The first bound keeps the rewrites to a tenth of the
 * time however many workers start and end (a reload of a thousand workers
 * turns the loop thousands of times); the second keeps their cost per
 * worker the same with many workers as with few, where a write costs in
 * proportion to the processes it names but T is mostly the same open and
 * rename: a small record is still rewritten in the same turn, the record
 * of 2000 processes at most 0.1 s late:
 *
 *	handoff-workers 1
 *	supervisor PID START
 *	proc PID START UID GEN SLOT PROGRAM
 *	fd FD INODE SLOT LISTENER ADDRESS
 *
 * START is the process's start time (/proc/PID/stat field 22), taken once
 * when the pid is put in the pid map: worked out at the spawn of a worker
 * (spawn_start), else read from /proc. A pid reused by another process is
 * told apart by it. Each fd line belongs to the proc line above it: the
 * listener socket (by inode) the worker got at fd FD; a process has at most
 * MAX_LISTENERS_PER_PROGRAM of them, and a record with more is not trusted.
 *
 * A generation's fd lines are the same for each of its workers but for
 * the sockets of per-slot listeners: they are rendered once, kept with
 * the generation until a listener changes, and copied into each write;
 * only the per-slot ones are rendered for each worker.
 */
#include "autoconf.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cause.h"
#include "config.h"
#include "generation.h"
#include "listener.h"
#include "log.h"
#include "loopstat.h"
#include "pidmap.h"
#include "procfs.h"
#include "program.h"
#include "record.h"
#include "worker.h"

/* The first line of a record: its format and version. */
#define RECORD_MAGIC	"handoff-workers 1"

/* The largest record read back. */
#define RECORD_MAX_BYTES	(64 * 1024 * 1024)

/*
 * After a write that took T, the next waits this many T, and this long
 * for each process written (at most 1 s).
 */
#define RECORD_WAIT_FACTOR	9
#define RECORD_WAIT_PER_PROC_NS	50000LL
#define RECORD_WAIT_MAX_NS	1000000000LL

struct record {
	char		*path;		/* CONTROL.workers */
	char		*tmp;		/* CONTROL.workers.tmp */
	struct program_list *programs;
	struct pidmap	*pids;		/* the workers' */
	struct pidmap	*starts;	/* pid -> its start time (malloc'd) */
	struct event	*write_ev;	/* the deferred rewrite */
	bool		 write_due;	/* write_ev is active or armed */
	struct timespec	 next_write;	/* none before (CLOCK_MONOTONIC) */
	unsigned long long sup_start;
	record_extra_fn	 extra;
	void		*extra_arg;
	size_t		 nprocs;	/* processes in the last write */
	bool		 failed;	/* the last write failed (warned once) */
	bool		 written;	/* once: a start that spawned nothing
					   leaves the last supervisor's record */
};

/* The path of the record beside a control socket; NULL if out of memory. */
char *
record_path(const char *control)
{
	char *path;

	return asprintf(&path, "%s.workers", control) == -1 ? NULL : path;
}

/* The start time of pid, 0 if it cannot be read. */
static unsigned long long
record_start_of(pid_t pid)
{
	struct procfs_stat st;

	return procfs_stat(pid, &st) == 0 ? st.start : 0;
}

/*
 * pidmap observer: note a new pid's start time, forget a gone one's. The
 * start time is kept in the map's pointer itself (plus one, so 0 is
 * none); where a pointer is narrower, a time cut short only makes a
 * recovering supervisor distrust the process.
 */
static void
record_observe(void *arg, pid_t pid, bool added)
{
	struct record *rec = arg;
	unsigned long long start;

	if (added) {
		/* Noted at the spawn: this process's, whatever the map kept. */
		start = procfs_take_noted_start(pid);
		if (start == 0 && pidmap_get(rec->starts, pid) == NULL)
			start = record_start_of(pid);
		if (start != 0)
			(void)pidmap_put(rec->starts, pid,
			    (void *)(uintptr_t)(start + 1));
	} else
		pidmap_del(rec->starts, pid, NULL);
	record_changed(rec);
}

/* The longest process or fd line: its numbers, a name and an address. */
#define RECORD_LINE_MAX	(96 + RECORD_NAME_MAX + ADDR_STRLEN)

/*
 * A generation's fd lines, rendered once for all its workers and again
 * once a listener changed what they show of it (listener_changes). text
 * has the lines of its shared listeners, in fd order; a per-slot
 * listener's line names the worker's own socket, so it is rendered for
 * each worker and goes at offset holes[k].at of text. One allocation,
 * the generation's (gen->record_lines): freed with it.
 */
struct record_lines {
	unsigned long long changes;	/* listener_changes() when rendered */
	size_t		 len;		/* of text */
	size_t		 nholes;
	struct record_hole {
		size_t	 at;		/* in text */
		size_t	 listener;	/* index in gen->listeners */
	}		*holes;
	char		*text;
};

/* Put v in decimal at p; returns the end. */
static char *
record_put_num(char *p, uintmax_t v)
{
	char digits[24], *d = digits + sizeof(digits);
	size_t n;

	do
		*--d = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	n = (size_t)(digits + sizeof(digits) - d);
	memcpy(p, d, n);
	return p + n;
}

/* Put v in decimal, signed, at p; returns the end. */
static char *
record_put_int(char *p, intmax_t v)
{
	if (v >= 0)
		return record_put_num(p, (uintmax_t)v);
	*p++ = '-';
	return record_put_num(p, -(uintmax_t)v);
}

/* Put at most max bytes of s at p, then c; returns the end. */
static char *
record_put_str(char *p, const char *s, size_t max, char c)
{
	size_t n = strnlen(s, max);

	memcpy(p, s, n);
	p[n] = c;
	return p + n + 1;
}

/*
 * A process line in buf (RECORD_LINE_MAX bytes), as
 * "proc %d %llu %lu %u %d %s\n" would write it with the program's name
 * cut as a struct record_proc holds it; returns its length.
 */
static size_t
record_proc_text(char *buf, pid_t pid, unsigned long long start, uid_t uid,
    unsigned int gen, int slot, const char *program)
{
	char *p = buf;

	memcpy(p, "proc ", 5);
	p = record_put_int(p + 5, pid);
	*p++ = ' ';
	p = record_put_num(p, start);
	*p++ = ' ';
	p = record_put_num(p, (unsigned long)uid);
	*p++ = ' ';
	p = record_put_num(p, gen);
	*p++ = ' ';
	p = record_put_int(p, slot);
	*p++ = ' ';
	p = record_put_str(p, program, RECORD_NAME_MAX - 1, '\n');
	return (size_t)(p - buf);
}

/*
 * An fd line in buf (RECORD_LINE_MAX bytes), as "fd %d %ju %zu %s %s\n"
 * would write it with the names cut as a struct record_fd holds them;
 * returns its length.
 */
static size_t
record_fd_text(char *buf, int fd, ino_t ino, size_t slot, const char *listener,
    const char *where)
{
	char *p = buf;

	memcpy(p, "fd ", 3);
	p = record_put_int(p + 3, fd);
	*p++ = ' ';
	p = record_put_num(p, (uintmax_t)ino);
	*p++ = ' ';
	p = record_put_num(p, slot);
	*p++ = ' ';
	p = record_put_str(p, listener, RECORD_NAME_MAX - 1, ' ');
	p = record_put_str(p, where, ADDR_STRLEN - 1, '\n');
	return (size_t)(p - buf);
}

/* A process line. */
void
record_put_proc(FILE *fp, const struct record_proc *p)
{
	char buf[RECORD_LINE_MAX];

	fwrite(buf, 1, record_proc_text(buf, p->pid, p->start, p->uid, p->gen,
	    p->slot, p->program), fp);
}

/* An fd line, of the process line above. */
void
record_put_fd(FILE *fp, const struct record_fd *f)
{
	char buf[RECORD_LINE_MAX];

	fwrite(buf, 1, record_fd_text(buf, f->fd, f->ino, f->slot, f->listener,
	    f->where), fp);
}

/*
 * The fd line in buf (RECORD_LINE_MAX bytes) of the worker of slot index
 * for the generation's listener i: the socket of its slot where the
 * listener has one per slot, else the shared one. Returns its length.
 */
static size_t
record_listener_text(char *buf, const struct generation *gen, size_t i,
    int index)
{
	const struct listener *l = gen->listeners[i];
	size_t slot;

	slot = listener_per_slot(l) && (size_t)index < listener_nsockets(l) ?
	    (size_t)index : 0;
	return record_fd_text(buf, 3 + (int)i, listener_socket_ino(l, slot),
	    slot, l->name, l->bound);
}

/*
 * The fd lines of the generation's workers, rendered now unless no
 * listener changed since they last were. NULL if out of memory: each
 * line is rendered for each worker then.
 */
static const struct record_lines *
record_lines_of(struct generation *gen)
{
	unsigned long long changes = listener_changes();
	struct record_lines *lines, *shrunk;
	size_t i, nholes = 0, head;
	char *p;

	if (gen->record_lines != NULL && gen->record_lines->changes == changes)
		return gen->record_lines;
	free(gen->record_lines);
	gen->record_lines = NULL;
	for (i = 0; i < gen->nlisteners; i++)
		if (listener_per_slot(gen->listeners[i]))
			nholes++;
	/* Room for the longest lines, given back once they are rendered. */
	head = sizeof(*lines) + nholes * sizeof(*lines->holes);
	if ((lines = malloc(head + (gen->nlisteners - nholes) *
	    RECORD_LINE_MAX)) == NULL)
		return NULL;
	lines->holes = (struct record_hole *)(void *)(lines + 1);
	lines->text = p = (char *)lines + head;
	lines->nholes = 0;
	for (i = 0; i < gen->nlisteners; i++) {
		if (listener_per_slot(gen->listeners[i])) {
			lines->holes[lines->nholes].at = (size_t)(p -
			    lines->text);
			lines->holes[lines->nholes++].listener = i;
		} else
			p += record_listener_text(p, gen, i, 0);
	}
	lines->len = (size_t)(p - lines->text);
	lines->changes = changes;
	if ((shrunk = realloc(lines, head + lines->len)) != NULL) {
		lines = shrunk;
		lines->holes = (struct record_hole *)(void *)(lines + 1);
		lines->text = (char *)lines + head;
	}
	gen->record_lines = lines;
	return lines;
}

/*
 * The fd lines of the worker of slot index: the generation's lines
 * (lines, or each rendered now if NULL) with those of its own sockets.
 */
static void
record_put_fds(FILE *fp, const struct generation *gen,
    const struct record_lines *lines, int index)
{
	char buf[RECORD_LINE_MAX];
	size_t i, k, at = 0;

	if (lines == NULL) {
		for (i = 0; i < gen->nlisteners; i++)
			fwrite(buf, 1, record_listener_text(buf, gen, i, index),
			    fp);
		return;
	}
	for (k = 0; k < lines->nholes; k++) {
		fwrite(lines->text + at, 1, lines->holes[k].at - at, fp);
		at = lines->holes[k].at;
		fwrite(buf, 1, record_listener_text(buf, gen,
		    lines->holes[k].listener, index), fp);
	}
	fwrite(lines->text + at, 1, lines->len - at, fp);
}

/*
 * Record one process of worker w (its own pid, or its MAINPID), its fd
 * lines from *lines (rendered at the generation's first process); euid
 * is the supervisor's, the user of a program without user =. 1 if it was
 * (its start time known), else 0.
 */
static int
record_put_worker(struct record *rec, FILE *fp, const struct worker *w,
    struct generation *gen, const struct record_lines **lines, bool *rendered,
    pid_t pid, uid_t euid)
{
	uintptr_t known = (uintptr_t)pidmap_get(rec->starts, pid);
	unsigned long long start;
	char buf[RECORD_LINE_MAX];

	start = known != 0 ? known - 1 : record_start_of(pid);
	if (start == 0)
		return 0;
	fwrite(buf, 1, record_proc_text(buf, pid, start, gen->pc->user != NULL ?
	    gen->pc->uid : euid, gen->number, w->index, gen->program), fp);
	if (!*rendered) {
		*lines = record_lines_of(gen);
		*rendered = true;
	}
	record_put_fds(fp, gen, *lines, w->index);
	return 1;
}

/* The whole record, written to fp; returns how many processes it has. */
static size_t
record_put_all(struct record *rec, FILE *fp)
{
	struct program *prog;
	struct generation *gen;
	const struct record_lines *lines;
	const struct worker *w;
	uid_t euid = geteuid();
	bool rendered;
	size_t n = 0;
	int i;

	fprintf(fp, "%s\nsupervisor %d %llu\n", RECORD_MAGIC, (int)getpid(),
	    rec->sup_start);
	TAILQ_FOREACH(prog, rec->programs, entry)
		TAILQ_FOREACH(gen, &prog->gens, entry) {
			lines = NULL;
			rendered = false;
			for (i = 0; i < gen->nworkers; i++) {
				w = &gen->workers[i];
				if (w->pid != 0)
					n += (size_t)record_put_worker(rec, fp,
					    w, gen, &lines, &rendered, w->pid,
					    euid);
				if (w->mainpid != 0 && w->mainpid != w->pid)
					n += (size_t)record_put_worker(rec, fp,
					    w, gen, &lines, &rendered,
					    w->mainpid, euid);
			}
		}
	if (rec->extra != NULL)
		rec->extra(rec->extra_arg, fp);
	return n;
}

/* The whole record, as text in a buffer the caller frees; NULL if no memory. */
static char *
record_render(struct record *rec, size_t *len)
{
	char *text = NULL;
	FILE *fp;

	if ((fp = open_memstream(&text, len)) == NULL)
		return NULL;
	(void)record_put_all(rec, fp);
	if (fclose(fp) != 0) {
		free(text);
		return NULL;
	}
	return text;
}

/*
 * Put the temporary file, just written, in the record's place: swapped
 * with the record (RENAME_EXCHANGE), whose old text then waits at the
 * temporary name to be rewritten in place by the next write. A rename
 * over an existing file makes ext4 (and overlayfs above it) write the new
 * file's data to disk at once (its auto_da_alloc), which doubles the cost
 * of a write and makes a disk write of each record. The record's path
 * names a whole record all along either way. A plain rename where there
 * is no record yet or the filesystem cannot exchange. 0, or -1 with errno
 * set.
 */
static int
record_replace(const struct record *rec)
{
	if (renameat2(AT_FDCWD, rec->tmp, AT_FDCWD, rec->path,
	    RENAME_EXCHANGE) == 0)
		return 0;
	if (errno != ENOENT && errno != EINVAL && errno != ENOSYS)
		return -1;
	return rename(rec->tmp, rec->path);
}

/*
 * Tell whether st is a file the record may be rewritten into: a plain
 * file of ours, mode 0600, of one link (no other name writes through it).
 */
static bool
record_tmp_reusable(const struct stat *st)
{
	return S_ISREG(st->st_mode) && st->st_nlink == 1 &&
	    st->st_uid == geteuid() && (st->st_mode & 07777) == 0600;
}

/*
 * Open the temporary file to write the record into. The text before the
 * last, swapped out there by the last write, is rewritten in place: ext4
 * rewrites a file's pages for about a third of what it takes to give a
 * new file its pages and take the old one's back. Anything else there (a
 * crash's leftover is fine; a FIFO, a device, a link, a file of another
 * user or mode) goes first, unopened: a FIFO's reader would see a writer
 * come and go, a terminal could become the supervisor's controlling one.
 * A new file is made then, which O_EXCL keeps from being anything put
 * there since. fd open for writing at offset 0 (*size: the file's
 * length), or -1 with errno set.
 */
static int
record_open_tmp(const struct record *rec, off_t *size)
{
	struct stat st, was;
	int fd;

	if (lstat(rec->tmp, &was) == 0 && record_tmp_reusable(&was) &&
	    (fd = open(rec->tmp, O_WRONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_NOCTTY | O_CLOEXEC)) != -1) {
		/* What was looked at, if nothing came in its place since. */
		if (fstat(fd, &st) == 0 && st.st_dev == was.st_dev &&
		    st.st_ino == was.st_ino && record_tmp_reusable(&st)) {
			*size = st.st_size;
			return fd;
		}
		close(fd);
	}
	if (unlink(rec->tmp) == -1 && errno != ENOENT)
		return -1;
	*size = 0;
	return open(rec->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_NONBLOCK | O_CLOEXEC, 0600);
}

/*
 * Write the record now: the temporary file written (through stdio's
 * buffer: a text of its own would cost a large allocation, and its pages,
 * on each write), cut to its new length and put in the record's place.
 * 0, or -1.
 */
int
record_write(struct record *rec)
{
	bool failed;
	FILE *fp;
	off_t end, size;
	int fd, saved;
	size_t n;

	if ((fd = record_open_tmp(rec, &size)) == -1)
		goto fail;
	if ((fp = fdopen(fd, "w")) == NULL) {
		saved = errno;
		close(fd);
		unlink(rec->tmp);
		errno = saved;
		goto fail;
	}
	n = record_put_all(rec, fp);
	/* What is left of a longer text is cut off (a truncate costs ext4). */
	failed = fflush(fp) != 0 || ferror(fp) != 0 ||
	    (end = ftello(fp)) == -1 || (end < size &&
	    ftruncate(fd, end) == -1);
	saved = errno;
	if (fclose(fp) == EOF && !failed) {
		failed = true;
		saved = errno;
	}
	if (failed || record_replace(rec) == -1) {
		if (!failed)
			saved = errno;
		unlink(rec->tmp);
		errno = saved;
		goto fail;
	}
	rec->nprocs = n;
	rec->failed = false;
	rec->written = true;
	return 0;
fail:
	if (!rec->failed)
		log_warn("cannot write the record of the workers %s (a "
		    "supervisor started after this one dies will not take "
		    "their sockets over)", rec->path);
	rec->failed = true;
	return -1;
}

/* Nanoseconds from a to b. */
static int64_t
record_ns_between(const struct timespec *a, const struct timespec *b)
{
	return (int64_t)(b->tv_sec - a->tv_sec) * 1000000000LL +
	    (b->tv_nsec - a->tv_nsec);
}

/*
 * Event: a worker process started or ended since the last write. Write
 * now, and note how soon the next may be.
 */
static void
record_write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct record *rec = arg;
	struct timespec began;
	int64_t wait;

	(void)fd;
	(void)what;
	loopstat_mark("record write");
	rec->write_due = false;
	clock_gettime(CLOCK_MONOTONIC, &began);
	(void)record_write(rec);
	clock_gettime(CLOCK_MONOTONIC, &rec->next_write);
	wait = record_ns_between(&began, &rec->next_write) * RECORD_WAIT_FACTOR;
	if (wait < (int64_t)rec->nprocs * RECORD_WAIT_PER_PROC_NS)
		wait = (int64_t)rec->nprocs * RECORD_WAIT_PER_PROC_NS;
	if (wait > RECORD_WAIT_MAX_NS)
		wait = RECORD_WAIT_MAX_NS;
	rec->next_write.tv_sec += wait / 1000000000LL;
	rec->next_write.tv_nsec += wait % 1000000000LL;
	if (rec->next_write.tv_nsec >= 1000000000L) {
		rec->next_write.tv_sec++;
		rec->next_write.tv_nsec -= 1000000000L;
	}
}

/*
 * Rewrite the record once the event loop comes round, or once the wait
 * after the last write is over.
 */
void
record_changed(struct record *rec)
{
	struct timespec now;
	struct timeval tv;
	int64_t left;

	if (rec == NULL || rec->write_due)
		return;
	rec->write_due = true;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if ((left = record_ns_between(&now, &rec->next_write)) <= 0) {
		event_active(rec->write_ev, EV_TIMEOUT, 0);
		return;
	}
	tv.tv_sec = (time_t)(left / 1000000000LL);
	tv.tv_usec = (suseconds_t)(left % 1000000000LL / 1000);
	if (event_add(rec->write_ev, &tv) == -1)
		event_active(rec->write_ev, EV_TIMEOUT, 0);
}

/*
 * Keep the record beside the control socket control of the workers of
 * programs (pids: their pid map, observed from now on) and of what extra
 * writes. NULL with *cause if out of memory.
 */
struct record *
record_open(struct event_base *base, const char *control,
    struct program_list *programs, struct pidmap *pids, record_extra_fn extra,
    void *arg, char **cause)
{
	struct record *rec;
	char *tmp;

	if ((rec = calloc(1, sizeof(*rec))) == NULL ||
	    (rec->path = record_path(control)) == NULL ||
	    asprintf(&tmp, "%s.tmp", rec->path) == -1 ||
	    (rec->tmp = tmp) == NULL ||
	    (rec->starts = pidmap_new()) == NULL ||
	    (rec->write_ev = event_new(base, -1, 0, record_write_cb,
	    rec)) == NULL) {
		record_close(rec);
		*cause = strdup("out of memory");
		return NULL;
	}
	rec->programs = programs;
	rec->pids = pids;
	rec->extra = extra;
	rec->extra_arg = arg;
	rec->sup_start = record_start_of(getpid());
	pidmap_observe(pids, record_observe, rec);
	return rec;
}

/*
 * Shrink what the record keeps per process to what its processes need
 * (pidmap_fit), once a gone generation's processes are forgotten.
 */
void
record_fit(struct record *rec)
{
	if (rec != NULL)
		pidmap_fit(rec->starts);
}

/*
 * Write the record a last time and stop keeping it: with no process left
 * in it, it is removed.
 */
void
record_close(struct record *rec)
{
	struct record_file rf;
	char *text;
	size_t len;

	if (rec == NULL)
		return;
	if (rec->pids != NULL)
		pidmap_observe(rec->pids, NULL, NULL);
	if (rec->written && (text = record_render(rec, &len)) != NULL) {
		if (record_parse(text, &rf, NULL) == 0 && rf.nprocs == 0)
			unlink(rec->path);
		else
			(void)record_write(rec);
		record_file_free(&rf);
		free(text);
	}
	/* The text before the last, kept to be rewritten. */
	if (rec->tmp != NULL)
		(void)unlink(rec->tmp);
	if (rec->write_ev != NULL)
		event_free(rec->write_ev);
	pidmap_free(rec->starts);
	free(rec->path);
	free(rec->tmp);
	free(rec);
}

/*
 * Tell whether an array of n entries is full: its room is n rounded up to
 * a power of two, so that a record of many lines is not copied anew for
 * each one.
 */
static bool
record_full(size_t n)
{
	return (n & (n - 1)) == 0;
}

/* Append a process to rf; NULL if out of memory. */
static struct record_proc *
record_add_proc(struct record_file *rf)
{
	struct record_proc *procs;

	if (record_full(rf->nprocs)) {
		procs = reallocarray(rf->procs, rf->nprocs == 0 ? 1 :
		    rf->nprocs * 2, sizeof(*procs));
		if (procs == NULL)
			return NULL;
		rf->procs = procs;
	}
	procs = rf->procs;
	memset(&procs[rf->nprocs], 0, sizeof(procs[0]));
	return &procs[rf->nprocs++];
}

/* Parse one line into rf; -1 if it is not a record line. */
static int
record_parse_line(const char *line, struct record_file *rf)
{
	struct record_proc *p;
	struct record_fd f, *fds;
	uintmax_t ino;
	unsigned long uid;
	int pid, n = 0;

	if (sscanf(line, "supervisor %d %llu%n", &pid, &rf->sup_start,
	    &n) == 2 && line[n] == '\0') {
		rf->sup_pid = (pid_t)pid;
		return 0;
	}
	if (strncmp(line, "proc ", 5) == 0) {
		if ((p = record_add_proc(rf)) == NULL ||
		    sscanf(line, "proc %d %llu %lu %u %d %255s%n", &pid,
		    &p->start, &uid, &p->gen, &p->slot, p->program, &n) != 6 ||
		    line[n] != '\0' || pid <= 0)
			return -1;
		p->pid = (pid_t)pid;
		p->uid = (uid_t)uid;
		return 0;
	}
	memset(&f, 0, sizeof(f));
	if (rf->nprocs == 0 || sscanf(line, "fd %d %ju %zu %255s %n", &f.fd,
	    &ino, &f.slot, f.listener, &n) != 4 || f.fd < 0)
		return -1;
	f.ino = (ino_t)ino;
	snprintf(f.where, sizeof(f.where), "%s", line + n);
	p = &rf->procs[rf->nprocs - 1];
	/* A worker holds at most a socket per listener of its program. */
	if (p->nfds >= MAX_LISTENERS_PER_PROGRAM)
		return -1;
	if (record_full(p->nfds)) {
		if ((fds = reallocarray(p->fds, p->nfds == 0 ? 1 :
		    p->nfds * 2, sizeof(*fds))) == NULL)
			return -1;
		p->fds = fds;
	}
	p->fds[p->nfds++] = f;
	return 0;
}

/* Parse a record's text. 0, or -1 with *cause (if not NULL). */
int
record_parse(const char *text, struct record_file *out, char **cause)
{
	const char *line = text, *nl;
	char buf[1024];
	size_t len, lineno = 1;

	memset(out, 0, sizeof(*out));
	for (; *line != '\0'; line = nl + 1, lineno++) {
		if ((nl = strchr(line, '\n')) == NULL)
			nl = line + strlen(line);
		len = (size_t)(nl - line);
		if (len >= sizeof(buf))
			goto bad;
		memcpy(buf, line, len);
		buf[len] = '\0';
		if (lineno == 1 ? strcmp(buf, RECORD_MAGIC) != 0 :
		    record_parse_line(buf, out) == -1)
			goto bad;
		if (*nl == '\0')
			break;
	}
	if (lineno == 1 && strncmp(text, RECORD_MAGIC, strlen(RECORD_MAGIC)) != 0)
		goto bad;
	return 0;
bad:
	if (cause != NULL)
		cause_set(cause, "line %zu is not a record line", lineno);
	record_file_free(out);
	return -1;
}

/*
 * Read the record at path into *out. It must be a regular file of ours
 * that no one else may write. 0 (with nothing in *out if there is no
 * record), or -1 with *cause saying why it is not trusted.
 */
int
record_read(const char *path, struct record_file *out, char **cause)
{
	struct stat sb;
	char *text = NULL, *why = NULL;
	ssize_t n;
	size_t len = 0;
	int fd, rc = -1;

	memset(out, 0, sizeof(*out));
	/* Non-blocking: a FIFO put there must not stop the start. */
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
	    O_CLOEXEC)) == -1) {
		if (errno == ENOENT)
			return 0;
		cause_set(cause, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode)) {
		cause_set(cause, "%s: not a regular file", path);
		goto done;
	}
	if (sb.st_uid != geteuid() || (sb.st_mode & 022) != 0) {
		cause_set(cause, "%s: owned by uid %lu, mode %03o: not ours "
		    "alone (it must be owned by uid %lu and written by no one "
		    "else)", path, (unsigned long)sb.st_uid,
		    (unsigned)(sb.st_mode & 0777), (unsigned long)geteuid());
		goto done;
	}
	if (sb.st_size > RECORD_MAX_BYTES ||
	    (text = malloc((size_t)sb.st_size + 1)) == NULL) {
		cause_set(cause, "%s: too large", path);
		goto done;
	}
	while (len < (size_t)sb.st_size &&
	    (n = read(fd, text + len, (size_t)sb.st_size - len)) > 0)
		len += (size_t)n;
	text[len] = '\0';
	if (record_parse(text, out, &why) == -1) {
		cause_set(cause, "%s: %s", path, cause_text(why));
		free(why);
		goto done;
	}
	rc = 0;
done:
	free(text);
	close(fd);
	return rc;
}

/* Free what record_read or record_parse filled in. */
void
record_file_free(struct record_file *rf)
{
	size_t i;

	for (i = 0; i < rf->nprocs; i++)
		free(rf->procs[i].fds);
	free(rf->procs);
	memset(rf, 0, sizeof(*rf));
}
