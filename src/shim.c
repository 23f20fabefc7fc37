/*
 * shim.c: the bind() shim from the supervisor's side (see shim.h).
 *
 * Where it is: next to the running binary when that is the build tree
 * (libtool leaves the library in .libs/ beside it), else where `make
 * install` put it, PKGLIBDIR. No setting is needed either way.
 *
 * Whether a command can load it: the dynamic loader reads LD_PRELOAD, so
 * a statically linked program (no PT_INTERP) never loads the shim, a
 * set-user-ID or set-group-ID program, or one with file capabilities,
 * runs in secure mode where the loader ignores it, and a program of
 * another ELF class or machine cannot load it. A Go program (a
 * .go.buildinfo section) binds with raw system calls the shim does not
 * see: a warning, since it may use LISTEN_FDS instead. A script is judged
 * by its interpreter (through `#!/usr/bin/env NAME`, by NAME).
 */
#include "autoconf.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "cause.h"
#include "child.h"
#include "config.h"
#include "shim.h"

#ifndef PKGLIBDIR
#define PKGLIBDIR	"/usr/local/lib/handoff"
#endif

#define SHIM_MAX_INTERP	4		/* #! scripts followed */
#define SHIM_MAX_STRTAB	(1 << 20)	/* section names read at most */

/* The shim found by shim_path, kept once found. */
static char	*shim_found;

/*
 * Tell whether path can be the shim: a regular file this process may
 * read, whose path LD_PRELOAD can hold (no blank, no colon).
 */
static bool
shim_usable(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISREG(st.st_mode) &&
	    access(path, R_OK) == 0 && strpbrk(path, " \t:") == NULL;
}

/*
 * The shim the workers get: .libs/ beside this binary (a build tree),
 * else PKGLIBDIR. NULL with *cause if neither has it. The one found is
 * looked at again each time (a package upgrade may move it): the dynamic
 * loader would run a worker without a preload that is gone.
 */
const char *
shim_path(char **cause)
{
	char exe[PATH_MAX], built[PATH_MAX + 32], *slash;
	ssize_t n;

	if (shim_found != NULL && shim_usable(shim_found))
		return shim_found;
	free(shim_found);
	shim_found = NULL;
	built[0] = '\0';
	if ((n = readlink("/proc/self/exe", exe, sizeof(exe) - 1)) > 0) {
		exe[n] = '\0';
		if ((slash = strrchr(exe, '/')) != NULL) {
			*slash = '\0';
			snprintf(built, sizeof(built), "%s/.libs/%s", exe,
			    SHIM_NAME);
		}
	}
	if (built[0] != '\0' && shim_usable(built))
		shim_found = strdup(built);
	else if (shim_usable(PKGLIBDIR "/" SHIM_NAME))
		shim_found = strdup(PKGLIBDIR "/" SHIM_NAME);
	else {
		cause_set(cause, "the shim %s is not installed, or cannot be "
		    "read (looked for %s%s%s); run make install", SHIM_NAME,
		    built[0] ? built : "", built[0] ? " and " : "",
		    PKGLIBDIR "/" SHIM_NAME);
		return NULL;
	}
	if (shim_found == NULL)
		cause_set(cause, "out of memory");
	return shim_found;
}

/* What an ELF file is, as far as loading the shim into it goes. */
struct shim_elf {
	unsigned char	 ident[EI_NIDENT];	/* class, byte order */
	uint16_t	 machine;
	bool		 interp;		/* has PT_INTERP */
	bool		 go;			/* has .go.buildinfo */
};

/* Read len bytes at off; 0, or -1 if the file is shorter or unreadable. */
static int
shim_pread(int fd, void *buf, size_t len, uint64_t off)
{
	ssize_t n;

	if (off > (uint64_t)INT64_MAX)
		return -1;
	n = pread(fd, buf, len, (off_t)off);
	return n == (ssize_t)len ? 0 : -1;
}

/* The header fields shim_read_elf needs, of either class. */
struct shim_ehdr {
	uint64_t	 phoff, shoff;
	unsigned int	 phnum, phentsize, shnum, shentsize, shstrndx;
};

/* Read the ELF header of either class into h; -1 if it is cut short. */
static int
shim_read_ehdr(int fd, struct shim_elf *elf, struct shim_ehdr *h)
{
	Elf64_Ehdr e64;
	Elf32_Ehdr e32;

	if (elf->ident[EI_CLASS] == ELFCLASS64) {
		if (shim_pread(fd, &e64, sizeof(e64), 0) == -1)
			return -1;
		elf->machine = e64.e_machine;
		*h = (struct shim_ehdr){ e64.e_phoff, e64.e_shoff, e64.e_phnum,
		    e64.e_phentsize, e64.e_shnum, e64.e_shentsize,
		    e64.e_shstrndx };
		return h->phentsize >= sizeof(Elf64_Phdr) ? 0 : -1;
	}
	if (shim_pread(fd, &e32, sizeof(e32), 0) == -1)
		return -1;
	elf->machine = e32.e_machine;
	*h = (struct shim_ehdr){ e32.e_phoff, e32.e_shoff, e32.e_phnum,
	    e32.e_phentsize, e32.e_shnum, e32.e_shentsize, e32.e_shstrndx };
	return h->phentsize >= sizeof(Elf32_Phdr) ? 0 : -1;
}

/* Tell whether a program header table has a PT_INTERP entry. */
static bool
shim_has_interp(int fd, const struct shim_elf *elf, const struct shim_ehdr *h)
{
	Elf64_Phdr p64;
	Elf32_Phdr p32;
	unsigned int i;

	for (i = 0; i < h->phnum; i++) {
		if (elf->ident[EI_CLASS] == ELFCLASS64) {
			if (shim_pread(fd, &p64, sizeof(p64), h->phoff +
			    (uint64_t)i * h->phentsize) == -1)
				return false;
			if (p64.p_type == PT_INTERP)
				return true;
		} else {
			if (shim_pread(fd, &p32, sizeof(p32), h->phoff +
			    (uint64_t)i * h->phentsize) == -1)
				return false;
			if (p32.p_type == PT_INTERP)
				return true;
		}
	}
	return false;
}

/* Tell whether the section names hold Go's build information. */
static bool
shim_is_go(int fd, const struct shim_elf *elf, const struct shim_ehdr *h)
{
	static const char name[] = ".go.buildinfo";
	uint64_t off, size;
	Elf64_Shdr s64;
	Elf32_Shdr s32;
	char *names;
	bool go;

	if (h->shoff == 0 || h->shstrndx == SHN_UNDEF || h->shstrndx >= h->shnum)
		return false;
	off = h->shoff + (uint64_t)h->shstrndx * h->shentsize;
	if (elf->ident[EI_CLASS] == ELFCLASS64) {
		if (h->shentsize < sizeof(s64) ||
		    shim_pread(fd, &s64, sizeof(s64), off) == -1)
			return false;
		off = s64.sh_offset;
		size = s64.sh_size;
	} else {
		if (h->shentsize < sizeof(s32) ||
		    shim_pread(fd, &s32, sizeof(s32), off) == -1)
			return false;
		off = s32.sh_offset;
		size = s32.sh_size;
	}
	if (size < sizeof(name) || size > SHIM_MAX_STRTAB ||
	    (names = malloc((size_t)size)) == NULL)
		return false;
	go = shim_pread(fd, names, (size_t)size, off) == 0 &&
	    memmem(names, (size_t)size, name, sizeof(name)) != NULL;
	free(names);
	return go;
}

/*
 * Read what matters of an ELF file at fd. 0, 1 if it is no ELF file, -1
 * if it is cut short.
 */
static int
shim_read_elf(int fd, struct shim_elf *elf)
{
	struct shim_ehdr h;

	memset(elf, 0, sizeof(*elf));
	if (shim_pread(fd, elf->ident, sizeof(elf->ident), 0) == -1 ||
	    memcmp(elf->ident, ELFMAG, SELFMAG) != 0)
		return 1;
	if ((elf->ident[EI_CLASS] != ELFCLASS64 &&
	    elf->ident[EI_CLASS] != ELFCLASS32) ||
	    shim_read_ehdr(fd, elf, &h) == -1)
		return -1;
	elf->interp = shim_has_interp(fd, elf, &h);
	elf->go = shim_is_go(fd, elf, &h);
	return 0;
}

/* Open and read an ELF file; as shim_read_elf, -1 also if it cannot open. */
static int
shim_read_elf_path(const char *path, struct shim_elf *elf)
{
	int fd, rc;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	rc = shim_read_elf(fd, elf);
	close(fd);
	return rc;
}

/* "64-bit x86-64", "32-bit", ... for a message. */
static const char *
shim_describe_class(const struct shim_elf *elf)
{
	return elf->ident[EI_CLASS] == ELFCLASS64 ? "64-bit" : "32-bit";
}

/*
 * The interpreter of the #! script at path, into interp (a name looked
 * up in the program's PATH when it is `env NAME`). 0, or -1 if path is no
 * script.
 */
static int
shim_script_interp(const char *path, const struct program_conf *pc,
    char *interp, size_t len)
{
	char line[256], *p, *arg, *end, *found, *cause = NULL;
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	n = read(fd, line, sizeof(line) - 1);
	close(fd);
	if (n < 3 || line[0] != '#' || line[1] != '!')
		return -1;
	line[n] = '\0';
	line[strcspn(line, "\n")] = '\0';
	p = line + 2 + strspn(line + 2, " \t");
	end = p + strcspn(p, " \t");
	arg = *end != '\0' ? end + 1 + strspn(end + 1, " \t") : end;
	*end = '\0';
	if (*p == '\0')
		return -1;
	end = strrchr(p, '/');
	if (end != NULL && strcmp(end + 1, "env") == 0 && *arg != '\0' &&
	    *arg != '-') {
		arg[strcspn(arg, " \t")] = '\0';
		if ((found = child_find_command(pc, arg, &cause)) != NULL) {
			snprintf(interp, len, "%s", found);
			free(found);
			return 0;
		}
		free(cause);
	}
	snprintf(interp, len, "%s", p);
	return 0;
}

/*
 * Whether the dynamic loader would load the shim into what path runs,
 * and if not, why: SHIM_REFUSE or SHIM_WARN with why filled in, else
 * SHIM_OK (also when path cannot be read: running it will say why).
 */
enum shim_verdict
shim_inspect(const char *command, const char *shim,
    const struct program_conf *pc, char *why, size_t len)
{
	char path[PATH_MAX], next[PATH_MAX];
	struct shim_elf elf, own;
	struct stat st;
	int depth, rc;

	snprintf(path, sizeof(path), "%s", command);
	for (depth = 0; ; depth++) {
		if ((rc = shim_read_elf_path(path, &elf)) != 1)
			break;
		if (depth == SHIM_MAX_INTERP ||
		    shim_script_interp(path, pc, next, sizeof(next)) == -1)
			return SHIM_OK;
		snprintf(path, sizeof(path), "%s", next);
	}
	if (rc == -1 || stat(path, &st) == -1)
		return SHIM_OK;
	if (!elf.interp) {
		snprintf(why, len, "%s is statically linked (it has no program "
		    "interpreter, so nothing loads %s into it): give it its "
		    "sockets through LISTEN_FDS, or link it dynamically", path,
		    SHIM_NAME);
		return SHIM_REFUSE;
	}
	if (st.st_mode & (S_ISUID | S_ISGID)) {
		snprintf(why, len, "%s is set-%s-ID (the dynamic loader ignores "
		    "LD_PRELOAD for it)", path, (st.st_mode & S_ISUID) ?
		    "user" : "group");
		return SHIM_REFUSE;
	}
	if (getxattr(path, "security.capability", NULL, 0) > 0) {
		snprintf(why, len, "%s has file capabilities (the dynamic loader "
		    "ignores LD_PRELOAD for it)", path);
		return SHIM_REFUSE;
	}
	if (shim_read_elf_path(shim, &own) == 0 &&
	    (own.ident[EI_CLASS] != elf.ident[EI_CLASS] ||
	    own.ident[EI_DATA] != elf.ident[EI_DATA] ||
	    own.machine != elf.machine)) {
		snprintf(why, len, "%s is a %s program for machine %u, and the "
		    "shim %s is %s for machine %u", path,
		    shim_describe_class(&elf), elf.machine, shim,
		    shim_describe_class(&own), own.machine);
		return SHIM_REFUSE;
	}
	if (elf.go) {
		snprintf(why, len, "%s is a Go program: Go binds with raw system "
		    "calls, which the shim does not see; use its LISTEN_FDS "
		    "support instead (github.com/coreos/go-systemd/activation)",
		    path);
		return SHIM_WARN;
	}
	return SHIM_OK;
}

/*
 * Tell whether the user a program runs as may read the shim (root only:
 * in a child that takes the user's ids). -1 if it cannot tell.
 */
static int
shim_user_reads(const struct program_conf *pc, const char *shim)
{
	pid_t pid;
	int status;

	if ((pid = fork()) == -1)
		return -1;
	if (pid == 0) {
		if (initgroups(pc->user, pc->gid) == -1 ||
		    setgid(pc->gid) == -1 || setuid(pc->uid) == -1)
			_exit(2);
		_exit(access(shim, R_OK) == 0 ? 0 : 1);
	}
	while (waitpid(pid, &status, 0) == -1)
		if (errno != EINTR)
			return -1;
	if (!WIFEXITED(status) || WEXITSTATUS(status) > 1)
		return -1;
	return WEXITSTATUS(status) == 0;
}

/*
 * Check every program with preload = yes (only that one, with only): the
 * shim is there and its command can load it (shim_inspect); with
 * probe_users, as root, that its user may read the shim. Errors and
 * warnings go to msgs, at the program's line. Returns the errors found.
 */
int
shim_check_config(const struct config *conf, const char *only,
    bool probe_users, struct config_msgs *msgs)
{
	const struct program_conf *pc;
	const char *shim = NULL;
	char why[1024], *cause = NULL, *command;
	enum shim_verdict verdict;
	int errors = 0;

	TAILQ_FOREACH(pc, &conf->programs, entry) {
		if (!pc->preload || (only != NULL && strcmp(pc->name, only) != 0))
			continue;
		if (shim == NULL && (shim = shim_path(&cause)) == NULL) {
			config_msgs_add(msgs, true, conf->path, pc->line,
			    "program %s: preload = yes: %s", pc->name,
			    cause_text(cause));
			free(cause);
			return errors + 1;
		}
		if (probe_users && pc->user != NULL && geteuid() == 0 &&
		    shim_user_reads(pc, shim) == 0) {
			config_msgs_add(msgs, true, conf->path, pc->line,
			    "program %s: preload = yes: user %s (uid %u) cannot "
			    "read the shim %s, and the dynamic loader would run "
			    "the program without it: make the file and every "
			    "directory above it readable by that user", pc->name,
			    pc->user, (unsigned)pc->uid, shim);
			errors++;
		}
		if ((command = child_find_command(pc, pc->argv[0], &cause)) ==
		    NULL) {
			/* Starting it will say why it cannot run. */
			free(cause);
			cause = NULL;
			continue;
		}
		verdict = shim_inspect(command, shim, pc, why, sizeof(why));
		free(command);
		if (verdict == SHIM_OK)
			continue;
		config_msgs_add(msgs, verdict == SHIM_REFUSE, conf->path,
		    pc->line, "program %s: preload = yes %s%s", pc->name,
		    verdict == SHIM_REFUSE ? "cannot reach its command: " :
		    "may not work: ", why);
		if (verdict == SHIM_REFUSE)
			errors++;
	}
	return errors;
}
