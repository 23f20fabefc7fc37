/*
 * test_record.c: the record of the workers (CONTROL.workers) names, for
 * each worker process, the listener sockets it holds: its own slot's
 * socket of a per-slot listener, the shared one of the others, by their
 * current name, address and inode however often it is written and
 * whatever changed in between. The workers are this process and its
 * parent (real processes, with start times to record); nothing starts.
 */
#include "autoconf.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "config_text.h"
#include "generation.h"
#include "listener.h"
#include "log.h"
#include "pidmap.h"
#include "program.h"
#include "record.h"
#include "worker.h"

static char tmpdir[64];
static struct event_base *base;
static struct pidmap *pids;
static struct program_list programs = TAILQ_HEAD_INITIALIZER(programs);
static struct record *rec;
static char control[PATH_MAX];

/* A temporary directory for the control socket's record and unix sockets. */
static void
setup(void)
{
	char *cause = NULL;

	log_set_level(LOG_LEVEL_WARN);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/handoff-record-XXXXXX");
	cr_assert_not_null(mkdtemp(tmpdir), "mkdtemp: %s", strerror(errno));
	snprintf(control, sizeof(control), "%s/ctl.sock", tmpdir);
	cr_assert_not_null(base = event_base_new());
	cr_assert_not_null(pids = pidmap_new());
	rec = record_open(base, control, &programs, pids, NULL, NULL, &cause);
	cr_assert_not_null(rec, "record_open: %s", cause);
}

/* Remove the temporary directory and whatever the test left in it. */
static void
teardown(void)
{
	char path[PATH_MAX];
	struct program *prog;
	struct dirent *de;
	DIR *dir;

	while ((prog = TAILQ_FIRST(&programs)) != NULL)
		program_free(&programs, prog);
	record_close(rec);
	pidmap_free(pids);
	event_base_free(base);
	if ((dir = opendir(tmpdir)) == NULL)
		return;
	while ((de = readdir(dir)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", tmpdir, de->d_name);
		unlink(path);
	}
	closedir(dir);
	rmdir(tmpdir);
}

TestSuite(record, .init = setup, .fini = teardown);

static const struct proc_ops no_ops = { 0 };

/* The config text, with @ standing for the temporary directory. */
static struct config *
config_of(const char *text)
{
	char buf[4096], *p = buf;

	for (; *text != '\0'; text++)
		if (*text == '@')
			p += snprintf(p, sizeof(buf) - (size_t)(p - buf), "%s",
			    tmpdir);
		else
			*p++ = *text;
	*p = '\0';
	return config_from_text(buf);
}

/* Bind conf's listeners into set, as a start or reload (from old) does. */
static void
bind_set(const struct listener_set *old, struct config *conf,
    struct listener_set *set)
{
	char *cause = NULL;

	cr_assert_eq(listener_set_update(old, conf, set, &cause), 0, "%s",
	    cause);
	listener_set_commit(set, conf);
}

/*
 * Generation 1 of program name, not started, its workers running as this
 * process and its parent: in the record as it is written.
 */
static struct generation *
gen_of_program(struct config *conf, const struct listener_set *set,
    const char *name)
{
	struct listener *ls[MAX_LISTENERS_PER_PROGRAM];
	struct program_conf *pc = config_find_program(conf, name);
	struct generation *gen;
	struct program *prog;
	size_t i;

	cr_assert_not_null(pc);
	cr_assert_leq(pc->workers, 2);
	for (i = 0; i < pc->nlisteners; i++)
		cr_assert_not_null(ls[i] = listener_set_for(set, conf,
		    pc->listeners[i]));
	gen = gen_new(base, conf, pc, ls, 1, "/tmp/notify", &no_ops, pids,
	    NULL, NULL, NULL);
	cr_assert_not_null(gen);
	for (i = 0; i < (size_t)gen->nworkers; i++)
		worker_set_pid(&gen->workers[i], i == 0 ? getpid() : getppid());
	cr_assert_not_null(prog = program_get(&programs, name));
	TAILQ_INSERT_TAIL(&prog->gens, gen, entry);
	return gen;
}

/* The config text describes, its listeners bound, and app's generation. */
static struct generation *
app_of(const char *text, struct config **conf, struct listener_set *set)
{
	*conf = config_of(text);
	bind_set(NULL, *conf, set);
	return gen_of_program(*conf, set, "app");
}

/* Write the record and read it back. */
static void
write_and_read(struct record_file *rf)
{
	char *path, *cause = NULL;

	cr_assert_eq(record_write(rec), 0);
	cr_assert_not_null(path = record_path(control));
	cr_assert_eq(record_read(path, rf, &cause), 0, "%s", cause);
	free(path);
}

/* The recorded process of program name's worker slot. */
static const struct record_proc *
proc_of(const struct record_file *rf, const char *name, int slot)
{
	size_t i;

	for (i = 0; i < rf->nprocs; i++)
		if (strcmp(rf->procs[i].program, name) == 0 &&
		    rf->procs[i].slot == slot)
			return &rf->procs[i];
	cr_assert_fail("no process of %s slot %d in the record", name, slot);
	return NULL;
}

/*
 * Assert that the recorded process of program name's worker slot holds
 * the generation's listeners at fds 3.., each its slot's socket if the
 * listener has one per slot, as they are now.
 */
static void
assert_fds(const struct record_file *rf, const struct generation *gen,
    int slot)
{
	const struct record_proc *p = proc_of(rf, gen->program, slot);
	const struct listener *l;
	size_t i, want;

	cr_assert_eq(p->nfds, gen->nlisteners);
	for (i = 0; i < gen->nlisteners; i++) {
		l = gen->listeners[i];
		want = listener_per_slot(l) ? (size_t)slot : 0;
		cr_assert_eq(p->fds[i].fd, 3 + (int)i);
		cr_assert_eq(p->fds[i].slot, want, "%s slot %d: listener %s "
		    "at slot %zu", gen->program, slot, l->name, p->fds[i].slot);
		cr_assert_neq(listener_socket_ino(l, want), 0);
		cr_assert_eq(p->fds[i].ino, listener_socket_ino(l, want),
		    "%s slot %d: listener %s recorded with inode %ju, its "
		    "socket is %ju", gen->program, slot, l->name,
		    (uintmax_t)p->fds[i].ino,
		    (uintmax_t)listener_socket_ino(l, want));
		cr_assert_str_eq(p->fds[i].listener, l->name);
		cr_assert_str_eq(p->fds[i].where, l->bound);
	}
}

/*
 * Write the record and assert that each worker of the generation is in
 * it with its sockets as they are now.
 */
static void
assert_recorded(const struct generation *gen)
{
	struct record_file rf;
	int slot;

	write_and_read(&rf);
	for (slot = 0; slot < gen->nworkers; slot++)
		assert_fds(&rf, gen, slot);
	record_file_free(&rf);
}

/* Release what a test bound. */
static void
release(struct config *conf, struct listener_set *set)
{
	struct program *prog;

	while ((prog = TAILQ_FIRST(&programs)) != NULL)
		program_free(&programs, prog);
	listener_set_clear(set);
	config_unref(conf);
}

Test(record, each_worker_is_recorded_with_its_own_and_the_shared_sockets)
{
	struct listener_set set = { 0 };
	struct record_file rf;
	struct generation *web, *api;
	struct config *conf;
	int round;

	conf = config_of(
	    "[listener a]\nlisten = 127.0.0.1:0\n"
	    "[listener u]\nlisten = unix:@/u.sock\n"
	    "[listener b]\nlisten = 127.0.0.1:0\n"
	    "[listener c]\nlisten = 127.0.0.1:0\n"
	    "[listener d]\nlisten = unix:@/d.sock\n"
	    "[program web]\ncommand = /bin/web\nworkers = 2\n"
	    "handoff = reuseport\nlisteners = a u b\n"
	    "[program api]\ncommand = /bin/api\nworkers = 2\n"
	    "listeners = c d\n");
	bind_set(NULL, conf, &set);
	web = gen_of_program(conf, &set, "web");
	api = gen_of_program(conf, &set, "api");
	cr_assert(listener_per_slot(web->listeners[0]));
	cr_assert_not(listener_per_slot(web->listeners[1]));
	cr_assert_neq(listener_socket_ino(web->listeners[0], 0),
	    listener_socket_ino(web->listeners[0], 1));

	write_and_read(&rf);
	cr_assert_eq(rf.nprocs, 4);
	record_file_free(&rf);
	/* Written again with nothing changed, the record is the same. */
	for (round = 0; round < 2; round++) {
		assert_recorded(web);
		assert_recorded(api);
	}
	release(conf, &set);
}

/*
 * The names in the temporary directory, but the sockets bound there: the
 * record, and its last text (the temporary file) if spare.
 */
static void
assert_only_the_record_in(const char *dir, bool spare)
{
	struct dirent *de;
	bool seen = false;
	DIR *d;

	cr_assert_not_null(d = opendir(dir));
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0 ||
		    strcmp(de->d_name, "u.sock") == 0 ||
		    strcmp(de->d_name, "ctl.sock.workers") == 0)
			continue;
		cr_assert(spare && strcmp(de->d_name, "ctl.sock.workers.tmp") ==
		    0, "%s left beside the record", de->d_name);
		seen = true;
	}
	closedir(d);
	cr_assert_eq(seen, spare, "the temporary file is %s",
	    seen ? "there" : "missing");
}

/* A plain file of ours, mode 0600, of one link; its inode. */
static ino_t
assert_own_file(const char *path)
{
	struct stat st;

	cr_assert_eq(lstat(path, &st), 0, "%s: %s", path, strerror(errno));
	cr_assert(S_ISREG(st.st_mode), "%s is not a plain file", path);
	cr_assert_eq(st.st_mode & 07777, 0600, "%s: mode %o", path,
	    (unsigned)(st.st_mode & 07777));
	cr_assert_eq(st.st_nlink, 1);
	cr_assert_eq(st.st_uid, geteuid());
	return st.st_ino;
}

/* The text of the file at path, in buf. */
static void
read_text(const char *path, char *buf, size_t size)
{
	FILE *fp;
	size_t n;

	cr_assert_not_null(fp = fopen(path, "r"), "%s: %s", path,
	    strerror(errno));
	n = fread(buf, 1, size - 1, fp);
	buf[n] = '\0';
	fclose(fp);
}

Test(record, each_write_replaces_the_record_the_two_files_taking_turns)
{
	struct listener_set set = { 0 };
	struct generation *gen;
	struct config *conf;
	char *path, tmp[PATH_MAX + 16], text[4096], before[4096];
	struct record_file rf;
	ino_t first, second;
	int i;

	gen = app_of("[listener u]\nlisten = unix:@/u.sock\n"
	    "[program app]\ncommand = /bin/app\nworkers = 2\n"
	    "listeners = u\n", &conf, &set);
	cr_assert_not_null(path = record_path(control));
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	assert_recorded(gen);
	first = assert_own_file(path);
	assert_only_the_record_in(tmpdir, false);
	assert_recorded(gen);
	second = assert_own_file(path);
	cr_assert_neq(second, first);
	/* The text before: the file swapped out, kept to be rewritten. */
	cr_assert_eq(assert_own_file(tmp), first);
	assert_only_the_record_in(tmpdir, true);
	/*
	 * From then on each write rewrites the older file and swaps it in:
	 * shorter texts leave nothing of longer ones behind.
	 */
	for (i = 0; i < 4; i++) {
		read_text(path, before, sizeof(before));
		if (i == 2) {
			/* One process fewer: a shorter text, read whole. */
			worker_set_pid(&gen->workers[1], 0);
			write_and_read(&rf);
			cr_assert_eq(rf.nprocs, 1);
			record_file_free(&rf);
		} else {
			worker_set_pid(&gen->workers[1], getppid());
			assert_recorded(gen);
		}
		cr_assert_eq(assert_own_file(path), i % 2 == 0 ? first : second,
		    "write %d made a new file", i + 3);
		cr_assert_eq(assert_own_file(tmp), i % 2 == 0 ? second : first);
		read_text(tmp, text, sizeof(text));
		cr_assert_str_eq(text, before, "the temporary file is not the "
		    "text before");
		assert_only_the_record_in(tmpdir, true);
	}
	/* A stop with no process left removes both. */
	worker_set_pid(&gen->workers[0], 0);
	worker_set_pid(&gen->workers[1], 0);
	record_close(rec);
	rec = NULL;
	cr_assert_eq(access(path, F_OK), -1, "%s is left", path);
	cr_assert_eq(access(tmp, F_OK), -1, "%s is left", tmp);
	free(path);
	release(conf, &set);
}

Test(record, what_lies_in_the_temporary_file_s_place_is_replaced_not_used)
{
	struct listener_set set = { 0 };
	struct generation *gen;
	struct config *conf;
	char tmp[PATH_MAX + 16], outside[PATH_MAX], text[16];
	FILE *fp;
	int round;

	gen = app_of("[listener u]\nlisten = unix:@/u.sock\n"
	    "[program app]\ncommand = /bin/app\nworkers = 2\n"
	    "listeners = u\n", &conf, &set);
	snprintf(tmp, sizeof(tmp), "%s.workers.tmp", control);
	snprintf(outside, sizeof(outside), "%s/outside", tmpdir);
	cr_assert_not_null(fp = fopen(outside, "w"));
	fputs("mine\n", fp);
	fclose(fp);
	assert_recorded(gen);
	for (round = 0; round < 5; round++) {
		/*
		 * A crash's leftover, rewritten (but with another mode: made
		 * anew); a FIFO (no reader: a write would fail), a link to
		 * another file, a second name of another file (never written
		 * through).
		 */
		unlink(tmp);
		if (round == 0 || round == 1) {
			cr_assert_not_null(fp = fopen(tmp, "w"));
			fputs("half a record", fp);
			fclose(fp);
			cr_assert_eq(chmod(tmp, round == 0 ? 0600 : 0644), 0);
		} else if (round == 2)
			cr_assert_eq(mkfifo(tmp, 0600), 0, "%s", strerror(errno));
		else if (round == 3)
			cr_assert_eq(symlink(outside, tmp), 0, "%s",
			    strerror(errno));
		else
			cr_assert_eq(link(outside, tmp), 0, "%s",
			    strerror(errno));
		assert_recorded(gen);
		assert_own_file(tmp);
	}
	cr_assert_not_null(fp = fopen(outside, "r"));
	cr_assert_not_null(fgets(text, sizeof(text), fp));
	fclose(fp);
	cr_assert_str_eq(text, "mine\n");
	unlink(outside);
	assert_only_the_record_in(tmpdir, true);
	release(conf, &set);
}

/*
 * What is not a plain file is not even opened before it is replaced: a
 * FIFO's reader never sees a writer come and go (POLLHUP, an end of
 * file), as a terminal would not become the supervisor's own.
 */
Test(record, a_fifo_in_the_temporary_file_s_place_is_not_opened)
{
	struct listener_set set = { 0 };
	struct generation *gen;
	struct config *conf;
	char tmp[PATH_MAX + 16];
	struct pollfd pfd;

	gen = app_of("[listener u]\nlisten = unix:@/u.sock\n"
	    "[program app]\ncommand = /bin/app\nworkers = 2\n"
	    "listeners = u\n", &conf, &set);
	snprintf(tmp, sizeof(tmp), "%s.workers.tmp", control);
	assert_recorded(gen);
	assert_recorded(gen);
	cr_assert_eq(unlink(tmp), 0, "%s: %s", tmp, strerror(errno));
	cr_assert_eq(mkfifo(tmp, 0600), 0, "%s", strerror(errno));
	/* A reader: a writer's open would succeed, and its close be seen. */
	cr_assert_geq(pfd.fd = open(tmp, O_RDONLY | O_NONBLOCK | O_CLOEXEC), 0);
	pfd.events = POLLIN;
	cr_assert_eq(poll(&pfd, 1, 0), 0, "the FIFO is not quiet to begin with");
	assert_recorded(gen);
	assert_own_file(tmp);
	cr_assert_eq(poll(&pfd, 1, 0), 0, "the FIFO was opened for writing "
	    "(revents %#x)", (unsigned)pfd.revents);
	close(pfd.fd);
	release(conf, &set);
}

Test(record, a_listener_renamed_by_a_reload_is_recorded_by_its_new_name)
{
	struct listener_set s1 = { 0 }, s2 = { 0 };
	struct config *c1, *c2;
	struct generation *gen;

	gen = app_of("[listener u]\nlisten = unix:@/u.sock\n"
	    "[listener t]\nlisten = 127.0.0.1:0\n"
	    "[program app]\ncommand = /bin/app\nworkers = 2\n"
	    "listeners = t u\n", &c1, &s1);
	assert_recorded(gen);
	cr_assert_str_eq(gen->listeners[1]->name, "u");

	/* The reload keeps the socket under its new name; gen 1 still runs. */
	c2 = config_of("[listener renamed]\nlisten = unix:@/u.sock\n"
	    "[program app]\ncommand = /bin/app\nlisteners = renamed\n");
	bind_set(&s1, c2, &s2);
	cr_assert_eq(gen->listeners[1], s2.items[0], "the socket was not kept");
	assert_recorded(gen);
	cr_assert_str_eq(gen->listeners[1]->name, "renamed");
	release(c1, &s1);
	listener_set_clear(&s2);
	config_unref(c2);
}

Test(record, a_unix_listener_bound_anew_is_recorded_with_its_new_socket)
{
	struct listener_set set = { 0 };
	struct generation *gen;
	struct listener *l;
	struct config *conf;
	char *cause = NULL;
	bool rebound;
	ino_t before;

	gen = app_of("[listener t]\nlisten = 127.0.0.1:0\n"
	    "[listener u]\nlisten = unix:@/u.sock\n"
	    "[program app]\ncommand = /bin/app\nlisteners = t u\n", &conf,
	    &set);
	l = gen->listeners[1];
	before = listener_socket_ino(l, 0);
	assert_recorded(gen);

	/* Shut down by a process holding it: a fresh socket takes its place. */
	cr_assert_eq(shutdown(listener_fd(l), SHUT_RDWR), 0);
	cr_assert_eq(listener_repair(l, &rebound, &cause), 0, "%s", cause);
	cr_assert(rebound);
	cr_assert_neq(listener_socket_ino(l, 0), before);
	assert_recorded(gen);
	release(conf, &set);
}

Test(record, a_slot_socket_opened_anew_is_recorded_with_its_inode)
{
	struct listener_set set = { 0 };
	struct record_file rf;
	struct generation *gen;
	struct listener *l;
	struct config *conf;
	char *cause = NULL;
	ino_t before;

	gen = app_of("[listener a]\nlisten = 127.0.0.1:0\n"
	    "[listener u]\nlisten = unix:@/u.sock\n"
	    "[program app]\ncommand = /bin/app\nworkers = 2\n"
	    "handoff = reuseport\nlisteners = u a\n", &conf, &set);
	l = gen->listeners[1];
	cr_assert(listener_per_slot(l));
	before = listener_socket_ino(l, 1);
	assert_recorded(gen);

	/*
	 * Slot 1 retired (a reload to one worker) and opened again (a reload
	 * back to two): another socket, the one slot 1's worker gets.
	 */
	l->committed = 1;
	listener_trim_slots(l, 1);
	cr_assert_eq(listener_nsockets(l), 1);
	write_and_read(&rf);
	cr_assert_eq(proc_of(&rf, "app", 1)->fds[1].slot, 0,
	    "a slot without a socket of its own is recorded with slot 0's");
	record_file_free(&rf);
	cr_assert_eq(listener_grow(l, 2, &cause), 0, "%s", cause);
	l->committed = 2;
	cr_assert_neq(listener_socket_ino(l, 1), before);
	assert_recorded(gen);
	release(conf, &set);
}

/* What fprintf writes of the arguments, in a buffer the caller frees. */
static char *
printed(const char *fmt, ...)
{
	char *text = NULL;
	size_t len;
	va_list ap;
	FILE *fp;

	cr_assert_not_null(fp = open_memstream(&text, &len));
	va_start(ap, fmt);
	vfprintf(fp, fmt, ap);
	va_end(ap);
	cr_assert_eq(fclose(fp), 0);
	return text;
}

/* What a put function writes of its line, in a buffer the caller frees. */
static char *
put(const struct record_proc *p, const struct record_fd *f)
{
	char *text = NULL;
	size_t len;
	FILE *fp;

	cr_assert_not_null(fp = open_memstream(&text, &len));
	if (p != NULL)
		record_put_proc(fp, p);
	else
		record_put_fd(fp, f);
	cr_assert_eq(fclose(fp), 0);
	return text;
}

Test(record, lines_are_written_as_their_format_says)
{
	static const struct {
		pid_t pid;
		unsigned long long start;
		uid_t uid;
		unsigned int gen;
		int slot, fd;
		uintmax_t ino;
		size_t fdslot;
	} t[] = {
		{ 1, 1, 0, 0, 0, 0, 1, 0 },
		{ 4194304, 123456789, 1000, 7, 9, 3, 4294967296ULL, 10 },
		{ INT_MAX, ULLONG_MAX, (uid_t)-1, UINT_MAX, INT_MAX, INT_MAX,
		    UINTMAX_MAX, SIZE_MAX },
		{ 2, 0, 65534, 1, -1, 66, 0, 0 },
		{ 3, 10, 10, 10, INT_MIN, INT_MIN, 10, 100 },
	};
	struct record_proc p;
	struct record_fd f;
	char *want, *got;
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		memset(&p, 0, sizeof(p));
		memset(&f, 0, sizeof(f));
		p.pid = t[i].pid;
		p.start = t[i].start;
		p.uid = t[i].uid;
		p.gen = t[i].gen;
		p.slot = t[i].slot;
		/* Names as long as a record holds, and short ones. */
		memset(p.program, 'p', i % 2 == 0 ? sizeof(p.program) - 1 : 3);
		memset(f.listener, 'l', i % 2 == 1 ? sizeof(f.listener) - 1 : 1);
		memset(f.where, '/', i % 2 == 0 ? sizeof(f.where) - 1 : 9);
		f.fd = t[i].fd;
		f.ino = (ino_t)t[i].ino;
		f.slot = t[i].fdslot;
		want = printed("proc %d %llu %lu %u %d %s\n", (int)p.pid,
		    p.start, (unsigned long)p.uid, p.gen, p.slot, p.program);
		got = put(&p, NULL);
		cr_assert_str_eq(got, want);
		free(want);
		free(got);
		want = printed("fd %d %ju %zu %s %s\n", f.fd, (uintmax_t)f.ino,
		    f.slot, f.listener, f.where);
		got = put(NULL, &f);
		cr_assert_str_eq(got, want);
		free(want);
		free(got);
	}
}
