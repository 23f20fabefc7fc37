/*
 * procfs.c: reading process facts from /proc, and pid lists in the format
 * /proc and cgroupfs share (decimal numbers separated by blanks).
 *
 * Files are read whole, however long: a children list of many processes
 * does not fit a fixed buffer, and a pid cut in two would name another
 * process.
 */
#include "autoconf.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "procfs.h"

/*
 * How many fds this process has open (its /proc/self/fd, less the one
 * reading it); -1 with errno set if it cannot tell (EMFILE: not one is
 * free to read it with).
 */
long
procfs_fds_open(void)
{
	struct dirent *de;
	long n = 0;
	DIR *d;

	if ((d = opendir("/proc/self/fd")) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;
}

/*
 * The size of this process's fd table (FDSize in /proc/self/status): no
 * fd it has open is numbered as high, so it bounds how many are open, for
 * a few µs however many (counting them, procfs_fds_open, takes some
 * 0.2 ms with a thousand). -1 if it cannot tell.
 */
long
procfs_fd_table_size(void)
{
	char *text, *at, *end;
	size_t len;
	long n = -1;

	if ((text = procfs_read("/proc/self/status", &len)) == NULL)
		return -1;
	if ((at = strstr(text, "\nFDSize:")) != NULL) {
		n = strtol(at + strlen("\nFDSize:"), &end, 10);
		if (end == at + strlen("\nFDSize:") || n < 0)
			n = -1;
	}
	free(text);
	return n;
}

/* A whole file, NUL-terminated, its length in *len; NULL with errno set. */
char *
procfs_read(const char *path, size_t *len)
{
	size_t used = 0, space = 4096;
	char *buf, *grown;
	ssize_t n;
	int fd, saved;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return NULL;
	if ((buf = malloc(space)) == NULL) {
		close(fd);
		errno = ENOMEM;
		return NULL;
	}
	for (;;) {
		if (space - used < 2) {
			if ((grown = realloc(buf, space * 2)) == NULL) {
				saved = ENOMEM;
				goto fail;
			}
			buf = grown;
			space *= 2;
		}
		n = read(fd, buf + used, space - used - 1);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			saved = errno;
			goto fail;
		}
		if (n == 0)
			break;
		used += (size_t)n;
	}
	close(fd);
	buf[used] = '\0';
	if (len != NULL)
		*len = used;
	return buf;
fail:
	close(fd);
	free(buf);
	errno = saved;
	return NULL;
}

/* Append pid to a list; -1 if out of memory. */
int
procfs_pids_add(struct pid_list *list, pid_t pid)
{
	pid_t *grown;
	size_t space;

	if (list->count == list->space) {
		space = list->space ? list->space * 2 : 16;
		grown = reallocarray(list->pids, space, sizeof(*grown));
		if (grown == NULL)
			return -1;
		list->pids = grown;
		list->space = space;
	}
	list->pids[list->count++] = pid;
	return 0;
}

/* Free a list's pids and empty it. */
void
procfs_pids_free(struct pid_list *list)
{
	free(list->pids);
	list->pids = NULL;
	list->count = list->space = 0;
}

/* Append the pids of a blank-separated list; -1 if out of memory. */
int
procfs_parse_pids(const char *text, struct pid_list *out)
{
	const char *p = text;
	char *end;
	long pid;

	for (;;) {
		while (*p == ' ' || *p == '\n' || *p == '\t')
			p++;
		if (*p == '\0')
			return 0;
		errno = 0;
		pid = strtol(p, &end, 10);
		if (end == p)
			return 0;	/* not a number: the list ends here */
		if (errno == 0 && pid > 0 && pid <= 0x7fffffffL &&
		    procfs_pids_add(out, (pid_t)pid) == -1)
			return -1;
		p = end;
	}
}

/*
 * Append the children of every thread of pid (from
 * /proc/PID/task/TID/children). Returns -1 if pid is gone.
 */
int
procfs_children(pid_t pid, struct pid_list *out)
{
	return procfs_children_of(pid, 0, out);
}

/*
 * procfs_children for a process that had threads threads (its stat's
 * num_threads; 0: not known): with one, only its own children file is
 * read, not its task directory. Returns -1 if pid is gone.
 */
int
procfs_children_of(pid_t pid, long threads, struct pid_list *out)
{
	char path[64], *text;
	struct dirent *de;
	DIR *tasks;
	int rc;

	if (threads == 1) {
		snprintf(path, sizeof(path), "/proc/%d/task/%d/children",
		    (int)pid, (int)pid);
		if ((text = procfs_read(path, NULL)) == NULL)
			return -1;
		rc = procfs_parse_pids(text, out);
		free(text);
		return rc;
	}
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	if ((tasks = opendir(path)) == NULL)
		return -1;
	while ((de = readdir(tasks)) != NULL) {
		if (de->d_name[0] == '.' || strlen(de->d_name) > 12)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%s/children",
		    (int)pid, de->d_name);
		if ((text = procfs_read(path, NULL)) == NULL)
			continue;
		if (procfs_parse_pids(text, out) == -1) {
			free(text);
			closedir(tasks);
			return -1;
		}
		free(text);
	}
	closedir(tasks);
	return 0;
}

/* Read /proc/PID/stat; -1 if there is no such process. */
int
procfs_stat(pid_t pid, struct procfs_stat *st)
{
	char path[64], buf[1024], *p;
	int fd, ppid, pgid, session;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	/*
	 * The command name may hold anything, ')' too: the fields resume
	 * after the last ')'. Field 20 is the number of threads, 22 the
	 * start time.
	 */
	if ((p = strrchr(buf, ')')) == NULL ||
	    sscanf(p + 1, " %c %d %d %d %*s %*s %*s %*s %*s %*s %*s %*s %*s "
	    "%*s %*s %*s %*s %ld %*s %llu", &st->state, &ppid, &pgid,
	    &session, &st->threads, &st->start) != 6)
		return -1;
	st->ppid = (pid_t)ppid;
	st->pgid = (pid_t)pgid;
	st->session = (pid_t)session;
	return 0;
}

/* Now, in the clock ticks after boot that /proc/PID/stat start times use. */
unsigned long long
procfs_now_ticks(void)
{
	struct timespec ts;
	long tck = sysconf(_SC_CLK_TCK);
	unsigned long long hz = tck > 0 ? (unsigned long long)tck : 100;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (unsigned long long)ts.tv_sec * hz +
	    (unsigned long long)ts.tv_nsec / (1000000000ULL / hz);
}

/* The start time of the process started last, as its spawner saw it. */
static struct {
	pid_t			 pid;
	unsigned long long	 start;
} procfs_noted;

/*
 * Note pid's start time (clock ticks after boot, as /proc/PID/stat
 * field 22 has it), worked out by the one that just started it, for
 * procfs_take_noted_start(pid) to take instead of reading /proc.
 */
void
procfs_note_start(pid_t pid, unsigned long long start)
{
	procfs_noted.pid = start != 0 ? pid : 0;
	procfs_noted.start = start;
}

/*
 * The start time noted for pid at its start, taken (once: a pid may come
 * back as another process); 0 if none was.
 */
unsigned long long
procfs_take_noted_start(pid_t pid)
{
	if (pid <= 0 || procfs_noted.pid != pid)
		return 0;
	procfs_noted.pid = 0;
	return procfs_noted.start;
}

/*
 * The command name of pid (/proc/PID/comm) in buf, in printable ASCII
 * other than '"' and '\\' (anything else shown as '?'), so that it can go
 * into a log line or a JSON string as it is; "" if it cannot be read.
 */
void
procfs_comm(pid_t pid, char *buf, size_t len)
{
	char path[64], raw[64];
	unsigned char c;
	ssize_t n;
	size_t i;
	int fd;

	if (len == 0)
		return;
	buf[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return;
	n = read(fd, raw, sizeof(raw) - 1);
	close(fd);
	if (n <= 0)
		return;
	if (raw[n - 1] == '\n')
		n--;
	for (i = 0; i < (size_t)n && i + 1 < len; i++) {
		c = (unsigned char)raw[i];
		buf[i] = c < 0x20 || c >= 0x7f || c == '"' || c == '\\' ?
		    '?' : (char)c;
	}
	buf[i] = '\0';
}

/* Most parents procfs_is_below follows up. */
#define PROCFS_MAX_DEPTH	64

/* Tell whether process pid is top or runs below it (top <= 0: none is). */
bool
procfs_is_below(pid_t pid, pid_t top)
{
	struct procfs_stat st;
	int depth;

	for (depth = 0; top > 0 && pid > 0 && depth < PROCFS_MAX_DEPTH;
	    depth++) {
		if (pid == top)
			return true;
		if (pid == 1 || procfs_stat(pid, &st) == -1)
			return false;
		pid = st.ppid;
	}
	return false;
}
