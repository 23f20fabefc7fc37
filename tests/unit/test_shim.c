/*
 * test_shim.c: whether the dynamic loader would load the bind() shim
 * into a command (shim.c), on ELF files made here: dynamic or static, of
 * either class, set-user-ID or set-group-ID, with file capabilities, Go;
 * scripts judged by their interpreter, also through `env NAME`; and the
 * messages shim_check_config gives `handoff check` and the supervisor.
 */
#include "autoconf.h"

#include <criterion/criterion.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "config.h"
#include "shim.h"
#include "support.h"

static char *dir;

/* Remove what a test made. */
static void
fini(void)
{
	support_tmpdir_free(&dir);
}

/* Make the test's directory. */
static void
init(void)
{
	dir = support_tmpdir();
}

TestSuite(shim, .init = init, .fini = fini);

/* What make_elf writes. */
struct elf_spec {
	int		 class;		/* ELFCLASS64 or ELFCLASS32 */
	uint16_t	 machine;
	bool		 interp;	/* a PT_INTERP program header */
	bool		 go;		/* a .go.buildinfo section */
};

/* Write bytes at off of fd. */
static void
put(int fd, const void *buf, size_t len, off_t off)
{
	cr_assert_eq(pwrite(fd, buf, len, off), (ssize_t)len);
}

/* Write an ELF file as spec says to dir/name, with mode; its path. */
static char *
make_elf(const char *name, const struct elf_spec *spec, mode_t mode)
{
	static const char plain[] = "\0.shstrtab\0.text\0";
	static const char go[] = "\0.shstrtab\0.go.buildinfo\0";
	const char *names = spec->go ? go : plain;
	size_t nameslen = spec->go ? sizeof(go) : sizeof(plain);
	char *path;
	int fd;

	cr_assert(asprintf(&path, "%s/%s", dir, name) != -1);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
	cr_assert_neq(fd, -1, "%s: %s", path, strerror(errno));
	if (spec->class == ELFCLASS64) {
		Elf64_Ehdr e = { .e_type = ET_DYN, .e_machine = spec->machine,
		    .e_version = EV_CURRENT, .e_phoff = sizeof(Elf64_Ehdr),
		    .e_shoff = 512, .e_ehsize = sizeof(Elf64_Ehdr),
		    .e_phentsize = sizeof(Elf64_Phdr), .e_phnum = 2,
		    .e_shentsize = sizeof(Elf64_Shdr), .e_shnum = 2,
		    .e_shstrndx = 1 };
		Elf64_Phdr ph[2] = { { .p_type = PT_LOAD },
		    { .p_type = spec->interp ? PT_INTERP : PT_NOTE } };
		Elf64_Shdr sh[2] = { { .sh_type = SHT_NULL },
		    { .sh_name = 1, .sh_type = SHT_STRTAB, .sh_offset = 1024,
		    .sh_size = nameslen } };
		memcpy(e.e_ident, ELFMAG, SELFMAG);
		e.e_ident[EI_CLASS] = ELFCLASS64;
		e.e_ident[EI_DATA] = ELFDATA2LSB;
		e.e_ident[EI_VERSION] = EV_CURRENT;
		put(fd, &e, sizeof(e), 0);
		put(fd, ph, sizeof(ph), (off_t)e.e_phoff);
		put(fd, sh, sizeof(sh), (off_t)e.e_shoff);
	} else {
		Elf32_Ehdr e = { .e_type = ET_DYN, .e_machine = spec->machine,
		    .e_version = EV_CURRENT, .e_phoff = sizeof(Elf32_Ehdr),
		    .e_shoff = 512, .e_ehsize = sizeof(Elf32_Ehdr),
		    .e_phentsize = sizeof(Elf32_Phdr), .e_phnum = 2,
		    .e_shentsize = sizeof(Elf32_Shdr), .e_shnum = 2,
		    .e_shstrndx = 1 };
		Elf32_Phdr ph[2] = { { .p_type = PT_LOAD },
		    { .p_type = spec->interp ? PT_INTERP : PT_NOTE } };
		Elf32_Shdr sh[2] = { { .sh_type = SHT_NULL },
		    { .sh_name = 1, .sh_type = SHT_STRTAB, .sh_offset = 1024,
		    .sh_size = (Elf32_Word)nameslen } };
		memcpy(e.e_ident, ELFMAG, SELFMAG);
		e.e_ident[EI_CLASS] = ELFCLASS32;
		e.e_ident[EI_DATA] = ELFDATA2LSB;
		e.e_ident[EI_VERSION] = EV_CURRENT;
		put(fd, &e, sizeof(e), 0);
		put(fd, ph, sizeof(ph), (off_t)e.e_phoff);
		put(fd, sh, sizeof(sh), (off_t)e.e_shoff);
	}
	put(fd, names, nameslen, 1024);
	close(fd);
	/* chmod after the write: writing clears set-user-ID. */
	cr_assert_eq(chmod(path, mode), 0);
	return path;
}

/* The shim made here: a 64-bit x86-64 shared object. */
static char *
make_shim(void)
{
	static const struct elf_spec shim = { ELFCLASS64, EM_X86_64, false,
	    false };

	return make_elf("libhandoff-preload.so", &shim, 0644);
}

/* A program whose worker's PATH is path (NULL: the supervisor's). */
static struct program_conf *
program(const char *path)
{
	static struct program_conf pc;
	static char var[512], *env[2] = { var, NULL };

	memset(&pc, 0, sizeof(pc));
	pc.name = (char *)"app";
	if (path != NULL)
		snprintf(var, sizeof(var), "PATH=%s", path);
	pc.env = env;
	pc.nenv = path != NULL ? 1 : 0;
	return &pc;
}

Test(shim, elf_files)
{
	static const struct {
		const char		*name;
		struct elf_spec		 spec;
		mode_t			 mode;
		enum shim_verdict	 verdict;
		const char		*why;
	} cases[] = {
		{ "dynamic", { ELFCLASS64, EM_X86_64, true, false }, 0755,
		    SHIM_OK, NULL },
		{ "static", { ELFCLASS64, EM_X86_64, false, false }, 0755,
		    SHIM_REFUSE, "is statically linked (it has no program "
		    "interpreter" },
		{ "setuid", { ELFCLASS64, EM_X86_64, true, false }, 04755,
		    SHIM_REFUSE, "is set-user-ID (the dynamic loader ignores "
		    "LD_PRELOAD for it)" },
		{ "setgid", { ELFCLASS64, EM_X86_64, true, false }, 02755,
		    SHIM_REFUSE, "is set-group-ID" },
		{ "go", { ELFCLASS64, EM_X86_64, true, true }, 0755,
		    SHIM_WARN, "is a Go program: Go binds with raw system "
		    "calls" },
		{ "i386", { ELFCLASS32, EM_386, true, false }, 0755,
		    SHIM_REFUSE, "is a 32-bit program for machine 3, and the "
		    "shim" },
		{ "arm64", { ELFCLASS64, EM_AARCH64, true, false }, 0755,
		    SHIM_REFUSE, "is a 64-bit program for machine 183" },
	};
	char *shim = make_shim(), *path, why[1024];
	enum shim_verdict v;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		path = make_elf(cases[i].name, &cases[i].spec, cases[i].mode);
		why[0] = '\0';
		v = shim_inspect(path, shim, program(NULL), why, sizeof(why));
		cr_expect_eq(v, cases[i].verdict, "%s: %d: %s", cases[i].name,
		    v, why);
		if (cases[i].why != NULL) {
			cr_expect(strncmp(why, path, strlen(path)) == 0,
			    "%s: %s", cases[i].name, why);
			cr_expect(strstr(why, cases[i].why) != NULL,
			    "%s: %s", cases[i].name, why);
		}
		free(path);
	}
	free(shim);
}

Test(shim, scripts_are_judged_by_their_interpreter)
{
	static const struct elf_spec dynamic = { ELFCLASS64, EM_X86_64, true,
	    false }, stat = { ELFCLASS64, EM_X86_64, false, false };
	char *shim = make_shim(), *bin, *text, *script, *env, why[1024];
	char *fakeenv;

	cr_assert(asprintf(&bin, "%s/bin", dir) != -1);
	cr_assert_eq(mkdir(bin, 0755), 0);
	free(make_elf("bin/python", &stat, 0755));
	fakeenv = make_elf("bin/env", &dynamic, 0755);

	/* #!/path/to/python: the interpreter is static. */
	cr_assert(asprintf(&text, "#!%s/bin/python -u\nprint(1)\n", dir) != -1);
	script = support_write_file(dir, "direct", text);
	chmod(script, 0755);
	cr_expect_eq(shim_inspect(script, shim, program(NULL), why,
	    sizeof(why)), SHIM_REFUSE);
	cr_expect(strstr(why, "/bin/python is statically linked") != NULL,
	    "%s", why);
	free(text);
	free(script);

	/* #!/usr/bin/env python: python from the worker's PATH. */
	cr_assert(asprintf(&text, "#!%s python\n", fakeenv) != -1);
	script = support_write_file(dir, "viaenv", text);
	chmod(script, 0755);
	cr_expect_eq(shim_inspect(script, shim, program(bin), why,
	    sizeof(why)), SHIM_REFUSE, "%s", why);
	cr_expect(strstr(why, "/bin/python is statically linked") != NULL,
	    "%s", why);
	/* Not in that PATH: env itself, which is dynamic, is judged. */
	cr_expect_eq(shim_inspect(script, shim, program("/nonexistent"), why,
	    sizeof(why)), SHIM_OK, "%s", why);
	free(text);
	free(script);

	/* Neither ELF nor script: running it will say what it is. */
	env = support_write_file(dir, "data", "just text\n");
	cr_expect_eq(shim_inspect(env, shim, program(NULL), why, sizeof(why)),
	    SHIM_OK);
	cr_expect_eq(shim_inspect("/nonexistent/x", shim, program(NULL), why,
	    sizeof(why)), SHIM_OK);
	free(env);
	free(fakeenv);
	free(bin);
	free(shim);
}

Test(shim, file_capabilities)
{
	static const struct elf_spec dynamic = { ELFCLASS64, EM_X86_64, true,
	    false };
	/* struct vfs_cap_data, revision 2, effective: cap_net_bind_service. */
	static const uint32_t caps[5] = { 0x02000001, 1u << 10, 0, 0, 0 };
	char *shim = make_shim(), *path, why[1024];

	path = make_elf("capable", &dynamic, 0755);
	if (setxattr(path, "security.capability", caps, sizeof(caps), 0) == -1)
		cr_skip_test("cannot give a file capabilities here: %s",
		    strerror(errno));
	cr_expect_eq(shim_inspect(path, shim, program(NULL), why, sizeof(why)),
	    SHIM_REFUSE);
	cr_expect(strstr(why, "has file capabilities") != NULL, "%s", why);
	free(path);
	free(shim);
}

Test(shim, real_programs)
{
	const char *shim = support_env("HANDOFF_SHIM");
	const char *stat = support_env("HANDOFF_BINDSERVER_STATIC");
	char why[1024];

	cr_expect_eq(shim_inspect("/bin/sh", shim, program(NULL), why,
	    sizeof(why)), SHIM_OK, "%s", why);
	cr_expect_eq(shim_inspect(support_env("HANDOFF_BINDSERVER"), shim,
	    program(NULL), why, sizeof(why)), SHIM_OK, "%s", why);
	cr_expect_eq(shim_inspect(stat, shim, program(NULL), why, sizeof(why)),
	    SHIM_REFUSE);
	cr_expect(strstr(why, "is statically linked") != NULL, "%s", why);
}
