/*
 * cgroup.c: cgroup v2 directories for the generations.
 *
 * The supervisor finds the cgroup2 mount in /proc/self/mountinfo (a
 * hybrid host mounts it at /sys/fs/cgroup/unified, a unified one at
 * /sys/fs/cgroup) and its own cgroup in /proc/self/cgroup. If it may
 * create children there (the directory and its cgroup.procs are writable:
 * root, or a cgroup delegated to its user), it makes one directory of its
 * own, handoff.PID (handoff.PID.nsINODE outside the initial pid namespace),
 * and in it one per generation, genN.PROGRAM.
 *
 * No internal processes: a domain cgroup with controllers enabled for its
 * children may hold no process itself. The supervisor stays in its own
 * cgroup, which holds it, so no controller is enabled there (or it is the
 * root, which is exempt); handoff.PID holds no process and enables no
 * controller, so each generation's cgroup may hold processes. Nothing
 * needs to move the supervisor into a leaf of its own.
 */
#include "autoconf.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cause.h"
#include "cgroup.h"
#include "procfs.h"

#define CGROUP_BASE_TRIES	10	/* handoff.PID, handoff.PID.1, ... */
#define CGROUP_KILL_ROUNDS	10	/* without cgroup.kill: kill, look again */

/* Undo mountinfo's octal escapes ("\040" for a blank) in place. */
static void
cgroup_unescape(char *s)
{
	char *out = s;

	while (*s != '\0') {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' &&
		    s[2] >= '0' && s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
			*out++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 +
			    (s[3] - '0'));
			s += 4;
		} else
			*out++ = *s++;
	}
	*out = '\0';
}

/*
 * The cgroup2 mount whose root holds path (the supervisor's cgroup): its
 * mount point and root, from /proc/self/mountinfo. -1 if there is none.
 */
static int
cgroup_find_mount(const char *path, char **mnt, char **root)
{
	char *text, *line, *save, *f[6], *sep, *p;
	size_t rlen;
	int i;

	if ((text = procfs_read("/proc/self/mountinfo", NULL)) == NULL)
		return -1;
	for (line = strtok_r(text, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		/* ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS ... - FSTYPE ... */
		if ((sep = strstr(line, " - ")) == NULL ||
		    strncmp(sep + 3, "cgroup2 ", 8) != 0)
			continue;
		*sep = '\0';
		for (i = 0, p = line; i < 6; i++) {
			f[i] = p;
			if ((p = strchr(p, ' ')) == NULL)
				break;
			*p++ = '\0';
		}
		if (i < 5)
			continue;
		cgroup_unescape(f[3]);
		cgroup_unescape(f[4]);
		rlen = strcmp(f[3], "/") == 0 ? 0 : strlen(f[3]);
		if (strncmp(path, f[3], rlen) != 0 ||
		    (path[rlen] != '/' && path[rlen] != '\0'))
			continue;
		*mnt = strdup(f[4]);
		*root = strdup(f[3]);
		free(text);
		if (*mnt == NULL || *root == NULL) {
			free(*mnt);
			free(*root);
			return -1;
		}
		return 0;
	}
	free(text);
	return -1;
}

/*
 * The directory of the supervisor's own cgroup v2, if it may create
 * cgroups there: 0 and *dir (the caller frees it), or -1 and *cause.
 */
int
cgroup_own_dir(char **dir, char **cause)
{
	char *text, *line, *save, *path = NULL, *mnt = NULL, *root = NULL;
	char *type, probe[4096];
	size_t rlen;

	*dir = NULL;
	if ((text = procfs_read("/proc/self/cgroup", NULL)) == NULL) {
		cause_set(cause, "cannot read /proc/self/cgroup: %s",
		    strerror(errno));
		return -1;
	}
	for (line = strtok_r(text, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save))
		if (strncmp(line, "0::/", 4) == 0)
			path = line + 3;
	if (path == NULL || strstr(path, " (deleted)") != NULL) {
		cause_set(cause, "the supervisor is in no cgroup v2 hierarchy");
		free(text);
		return -1;
	}
	if (cgroup_find_mount(path, &mnt, &root) == -1) {
		cause_set(cause, "no cgroup2 mount shows the supervisor's cgroup "
		    "%s (see /proc/self/mountinfo)", path);
		free(text);
		return -1;
	}
	rlen = strcmp(root, "/") == 0 ? 0 : strlen(root);
	snprintf(probe, sizeof(probe), "%s%s", mnt, path + rlen);
	if (strlen(probe) > 1 && probe[strlen(probe) - 1] == '/')
		probe[strlen(probe) - 1] = '\0';
	free(text);
	free(mnt);
	free(root);
	if ((*dir = strdup(probe)) == NULL) {
		cause_set(cause, "out of memory");
		return -1;
	}
	/* A threaded subtree takes threads, not processes. */
	snprintf(probe, sizeof(probe), "%s/cgroup.type", *dir);
	if ((type = procfs_read(probe, NULL)) != NULL) {
		if (strcmp(type, "domain\n") != 0) {
			type[strcspn(type, "\n")] = '\0';
			cause_set(cause, "the supervisor's cgroup %s is of type %s, "
			    "not domain", *dir, type);
			free(type);
			goto fail;
		}
		free(type);
	}
	snprintf(probe, sizeof(probe), "%s/cgroup.procs", *dir);
	if (access(*dir, W_OK) == -1 || access(probe, W_OK) == -1) {
		cause_set(cause, "the supervisor may not create cgroups in %s "
		    "(%s: not delegated to uid %d)", *dir, strerror(errno),
		    (int)geteuid());
		goto fail;
	}
	return 0;
fail:
	free(*dir);
	*dir = NULL;
	return -1;
}

/*
 * The tag of the supervisor's pid namespace in the names of its cgroups:
 * "" in the initial one, else ".ns" and its inode number, so that pids of
 * different namespaces sharing a cgroup never meet.
 */
static void
cgroup_ns_tag(char *buf, size_t len)
{
	char link[64];
	ssize_t n;

	buf[0] = '\0';
	if ((n = readlink("/proc/self/ns/pid", link, sizeof(link) - 1)) <= 0)
		return;
	link[n] = '\0';
	if (strcmp(link, "pid:[4026531836]") != 0 &&
	    strncmp(link, "pid:[", 5) == 0)
		snprintf(buf, len, ".ns%.*s", (int)strcspn(link + 5, "]"),
		    link + 5);
}

/* Remove the empty cgroups in dir, then dir itself; -1 if something is left. */
static int
cgroup_remove_tree(const char *dir)
{
	char path[4096];
	struct dirent *de;
	DIR *d;

	if ((d = opendir(dir)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (de->d_type != DT_DIR || de->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			(void)rmdir(path);
		}
		closedir(d);
	}
	return rmdir(dir);
}

/*
 * Remove what supervisors of our pid namespace that are no longer running
 * left in own (they were killed before they could): empty handoff.PID
 * directories.
 */
void
cgroup_remove_stale(const char *own)
{
	char path[4096], tag[32], *end;
	struct dirent *de;
	size_t taglen;
	long pid;
	DIR *d;

	cgroup_ns_tag(tag, sizeof(tag));
	taglen = strlen(tag);
	if ((d = opendir(own)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		if (de->d_type != DT_DIR ||
		    strncmp(de->d_name, "handoff.", 8) != 0)
			continue;
		/* handoff.PID[TAG][.N] */
		pid = strtol(de->d_name + 8, &end, 10);
		if (end == de->d_name + 8 || strncmp(end, tag, taglen) != 0 ||
		    (end[taglen] != '\0' && (end[taglen] != '.' ||
		    strncmp(end + taglen, ".ns", 3) == 0)) ||
		    pid <= 0 || pid == (long)getpid() ||
		    kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue;
		snprintf(path, sizeof(path), "%s/%s", own, de->d_name);
		(void)cgroup_remove_tree(path);
	}
	closedir(d);
}

/*
 * Create the supervisor's own directory in own: handoff.PID (or
 * handoff.PID.N if that one is held by processes of a supervisor that had
 * our pid before). 0 and *base, or -1 and *cause.
 */
int
cgroup_make_base(const char *own, char **base, char **cause)
{
	char path[4096], tag[32];
	int i;

	cgroup_ns_tag(tag, sizeof(tag));
	for (i = 0; i < CGROUP_BASE_TRIES; i++) {
		if (i == 0)
			snprintf(path, sizeof(path), "%s/handoff.%d%s", own,
			    (int)getpid(), tag);
		else
			snprintf(path, sizeof(path), "%s/handoff.%d%s.%d", own,
			    (int)getpid(), tag, i);
		if (mkdir(path, 0755) == 0 || (errno == EEXIST &&
		    cgroup_remove_tree(path) == 0 && mkdir(path, 0755) == 0)) {
			if ((*base = strdup(path)) == NULL) {
				(void)rmdir(path);
				cause_set(cause, "out of memory");
				return -1;
			}
			return 0;
		}
		if (errno != EEXIST && errno != EBUSY && errno != ENOTEMPTY) {
			cause_set(cause, "cannot create cgroup %s: %s", path,
			    strerror(errno));
			return -1;
		}
	}
	cause_set(cause, "cannot create cgroup %s/handoff.%d%s: every name is "
	    "taken", own, (int)getpid(), tag);
	return -1;
}

/* Create an empty cgroup at dir (an empty one left there is reused). */
int
cgroup_make(const char *dir, char **cause)
{
	if (mkdir(dir, 0755) == 0 || (errno == EEXIST &&
	    cgroup_remove_tree(dir) == 0 && mkdir(dir, 0755) == 0))
		return 0;
	cause_set(cause, "cannot create cgroup %s: %s", dir, strerror(errno));
	return -1;
}

/*
 * Create the cgroup at dir, or use the one there as it is, processes and
 * all (an upgrade's new image takes its generations' cgroups back).
 */
int
cgroup_use(const char *dir, char **cause)
{
	struct stat sb;

	if (mkdir(dir, 0755) == 0 ||
	    (errno == EEXIST && stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode)))
		return 0;
	cause_set(cause, "cannot create cgroup %s: %s", dir, strerror(errno));
	return -1;
}

/* Tell whether dir is an existing directory right under own. */
bool
cgroup_is_child(const char *own, const char *dir)
{
	size_t len = strlen(own);
	struct stat sb;

	return strncmp(dir, own, len) == 0 && dir[len] == '/' &&
	    dir[len + 1] != '\0' && strchr(dir + len + 1, '/') == NULL &&
	    strcmp(dir + len + 1, "..") != 0 && strcmp(dir + len + 1, ".") != 0 &&
	    stat(dir, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/*
 * Open dir's cgroup.procs for writing (close-on-exec): a process that
 * writes "0" to it moves itself into the cgroup.
 */
int
cgroup_open_procs(const char *dir, char **cause)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	if ((fd = open(path, O_WRONLY | O_CLOEXEC)) == -1)
		cause_set(cause, "cannot open %s: %s", path, strerror(errno));
	return fd;
}

/*
 * Open the directory dir (close-on-exec): a child cloned with
 * CLONE_INTO_CGROUP and this fd starts in the cgroup.
 */
int
cgroup_open_dir(const char *dir, char **cause)
{
	int fd;

	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1)
		cause_set(cause, "cannot open %s: %s", dir, strerror(errno));
	return fd;
}

/*
 * The processes in the cgroup: fills up to max pids, returns how many
 * there are (0 if it cannot be read).
 */
size_t
cgroup_pids(const char *dir, pid_t *pids, size_t max)
{
	struct pid_list list = { NULL, 0, 0 };
	char path[4096], *text;
	size_t i, n;

	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	if ((text = procfs_read(path, NULL)) == NULL)
		return 0;
	(void)procfs_parse_pids(text, &list);
	free(text);
	for (i = 0; i < list.count && i < max; i++)
		pids[i] = list.pids[i];
	n = list.count;
	procfs_pids_free(&list);
	return n;
}

/* The path of dir's cgroup.events (the caller frees it), or NULL. */
char *
cgroup_events_path(const char *dir)
{
	char *path;

	if (asprintf(&path, "%s/cgroup.events", dir) == -1)
		return NULL;
	return path;
}

/*
 * Tell whether a process is left in the cgroup or below it: 1 or 0 from
 * cgroup.events ("populated"), 0 if the cgroup is gone.
 */
int
cgroup_populated(const char *dir)
{
	char *path, *text, *at;
	pid_t one;
	int populated;

	if ((path = cgroup_events_path(dir)) == NULL)
		return cgroup_pids(dir, &one, 1) > 0;
	text = procfs_read(path, NULL);
	free(path);
	if (text == NULL)
		return errno == ENOENT ? 0 : cgroup_pids(dir, &one, 1) > 0;
	at = strstr(text, "populated ");
	populated = at == NULL ? cgroup_pids(dir, &one, 1) > 0 :
	    at[strlen("populated ")] != '0';
	free(text);
	return populated;
}

/*
 * SIGKILL every process in the cgroup: through cgroup.kill (Linux 5.14),
 * which forks cannot escape, else pid by pid until none is left.
 */
void
cgroup_kill(const char *dir)
{
	struct pid_list list = { NULL, 0, 0 };
	char path[4096], *text;
	size_t i;
	int fd, round;

	snprintf(path, sizeof(path), "%s/cgroup.kill", dir);
	if ((fd = open(path, O_WRONLY | O_CLOEXEC)) != -1) {
		ssize_t n = write(fd, "1", 1);
		close(fd);
		if (n == 1)
			return;
	}
	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	for (round = 0; round < CGROUP_KILL_ROUNDS; round++) {
		if ((text = procfs_read(path, NULL)) == NULL)
			break;
		list.count = 0;
		(void)procfs_parse_pids(text, &list);
		free(text);
		if (list.count == 0)
			break;
		for (i = 0; i < list.count; i++)
			kill(list.pids[i], SIGKILL);
	}
	procfs_pids_free(&list);
}

/* Remove an empty cgroup; -1 with errno (EBUSY: processes are left). */
int
cgroup_remove(const char *dir)
{
	return rmdir(dir);
}
