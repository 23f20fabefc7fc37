/*
 * test_unixaddr.c: sockaddr_un from a file's path or an "@name": what is
 * accepted in each form, the lengths, the errors, and that the addresses
 * built work for bind() and sendto(); the name read back out of an
 * address of any length (unixaddr_name), and which two are the same.
 */
#include "autoconf.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "support.h"
#include "unixaddr.h"

#define NITEMS(a) (sizeof(a) / sizeof((a)[0]))
#define OFF	offsetof(struct sockaddr_un, sun_path)

#define C_EMPTY		"empty unix socket path"
#define C_RELATIVE	"unix socket path must be absolute (or @name for an " \
			    "abstract socket)"
#define C_LONG		"unix socket path too long (at most 107 bytes)"

/* A text of n bytes: a leading lead, then 'x's. */
static char *
text_of(char lead, size_t n)
{
	char *s = malloc(n + 1);

	cr_assert_not_null(s);
	memset(s, 'x', n);
	s[0] = lead;
	s[n] = '\0';
	return s;
}

Test(unixaddr, paths_and_abstract_names)
{
	static const struct {
		const char	*text;
		enum unixaddr_form form;
		bool		 abstract;
	} ok[] = {
		{ "/run/app.sock", UNIXADDR_FILE, false },
		{ "/run/app.sock", UNIXADDR_NAMED, false },
		{ "relative/app.sock", UNIXADDR_FILE, false },
		{ "@abc", UNIXADDR_NAMED, true },
		/* Only the named form reads '@' as abstract. */
		{ "@abc", UNIXADDR_FILE, false },
		{ "@", UNIXADDR_FILE, false },
	};
	struct sockaddr_un sun;
	socklen_t len;
	const char *cause;
	size_t i, n;

	for (i = 0; i < NITEMS(ok); i++) {
		n = strlen(ok[i].text);
		cr_assert_eq(unixaddr_make(ok[i].text, ok[i].form, &sun, &len,
		    &cause), 0, "%s: %s", ok[i].text, cause);
		cr_expect_eq(sun.sun_family, AF_UNIX);
		if (ok[i].abstract) {
			cr_expect_eq(len, offsetof(struct sockaddr_un, sun_path) + n,
			    "%s", ok[i].text);
			cr_expect_eq(sun.sun_path[0], '\0');
			cr_expect_eq(memcmp(sun.sun_path + 1, ok[i].text + 1, n - 1), 0);
		} else {
			cr_expect_eq(len, sizeof(sun), "%s", ok[i].text);
			cr_expect_str_eq(sun.sun_path, ok[i].text);
		}
	}
}

Test(unixaddr, errors_are_named)
{
	static const struct {
		const char	*text;
		enum unixaddr_form form;
		const char	*cause;
		int		 err;
	} bad[] = {
		{ "", UNIXADDR_FILE, C_EMPTY, EINVAL },
		{ "", UNIXADDR_NAMED, C_EMPTY, EINVAL },
		{ "@", UNIXADDR_NAMED, C_EMPTY, EINVAL },
		{ "run/app.sock", UNIXADDR_NAMED, C_RELATIVE, EINVAL },
	};
	struct sockaddr_un sun;
	socklen_t len;
	const char *cause;
	size_t i;

	for (i = 0; i < NITEMS(bad); i++) {
		cause = NULL;
		errno = 0;
		cr_expect_eq(unixaddr_make(bad[i].text, bad[i].form, &sun, &len,
		    &cause), -1, "'%s' accepted", bad[i].text);
		cr_expect_str_eq(cause, bad[i].cause);
		cr_expect_eq(errno, bad[i].err);
	}
}

Test(unixaddr, at_most_107_bytes)
{
	static const struct {
		char		 lead;
		enum unixaddr_form form;
	} forms[] = {
		{ '/', UNIXADDR_FILE }, { '/', UNIXADDR_NAMED }, { '@', UNIXADDR_NAMED },
	};
	struct sockaddr_un sun;
	socklen_t len;
	const char *cause;
	char *text;
	size_t i;

	cr_assert_eq(UNIXADDR_PATH_MAX, 107);
	for (i = 0; i < NITEMS(forms); i++) {
		text = text_of(forms[i].lead, UNIXADDR_PATH_MAX);
		cr_expect_eq(unixaddr_make(text, forms[i].form, &sun, &len,
		    &cause), 0, "107 bytes after '%c' refused", forms[i].lead);
		free(text);
		text = text_of(forms[i].lead, UNIXADDR_PATH_MAX + 1);
		errno = 0;
		cr_expect_eq(unixaddr_make(text, forms[i].form, &sun, &len,
		    &cause), -1, "108 bytes after '%c' accepted", forms[i].lead);
		cr_expect_str_eq(cause, C_LONG);
		cr_expect_eq(errno, ENAMETOOLONG);
		free(text);
	}
}

/* Bind a datagram socket at text, send to it from another, read it back. */
static void
round_trip(const char *text, enum unixaddr_form form)
{
	struct sockaddr_un sun;
	socklen_t len;
	const char *cause;
	char buf[8];
	int rx, tx;

	cr_assert_eq(unixaddr_make(text, form, &sun, &len, &cause), 0, "%s", cause);
	cr_assert_geq(rx = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0), 0);
	cr_assert_geq(tx = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0), 0);
	cr_assert_eq(bind(rx, (struct sockaddr *)&sun, len), 0, "bind %s: %s",
	    text, strerror(errno));
	cr_assert_eq(sendto(tx, "hi", 2, 0, (struct sockaddr *)&sun, len), 2,
	    "sendto %s: %s", text, strerror(errno));
	cr_expect_eq(recv(rx, buf, sizeof(buf), 0), 2);
	close(rx);
	close(tx);
}

Test(unixaddr, addresses_bind_and_reach)
{
	char *dir = support_tmpdir(), path[256], name[64];

	cr_assert_not_null(dir);
	snprintf(path, sizeof(path), "%s/s.sock", dir);
	round_trip(path, UNIXADDR_FILE);
	unlink(path);
	round_trip(path, UNIXADDR_NAMED);
	snprintf(name, sizeof(name), "@handoff-test-unixaddr-%d", (int)getpid());
	round_trip(name, UNIXADDR_NAMED);
	support_rmtree(dir);
	free(dir);
}

/* An address of family family whose sun_path starts with the n bytes of
   bytes (the rest zero), in storage larger than a sockaddr_un. */
static const struct sockaddr *
sun_of(struct sockaddr_storage *ss, int family, const char *bytes, size_t n)
{
	struct sockaddr_un *sun = (struct sockaddr_un *)ss;

	memset(ss, 0, sizeof(*ss));
	sun->sun_family = (sa_family_t)family;
	memcpy(sun->sun_path, bytes, n);
	return (const struct sockaddr *)ss;
}

Test(unixaddr, name_of_an_address_of_any_length)
{
	static const struct {
		const char	*bytes;		/* the start of sun_path */
		size_t		 nbytes;
		int		 family;
		size_t		 len;		/* the address's length */
		const char	*name;		/* what unixaddr_name reads */
		size_t		 n;		/* its length; 0: none */
	} cases[] = {
		/* A path, whether its length counts the NUL or not. */
		{ "/run/a.sock", 11, AF_UNIX, OFF + 12, "/run/a.sock", 11 },
		{ "/run/a.sock", 11, AF_UNIX, OFF + 11, "/run/a.sock", 11 },
		{ "/run/a.sock", 11, AF_UNIX, sizeof(struct sockaddr_un),
		    "/run/a.sock", 11 },
		/* A length inside the path ends it. */
		{ "/run/a.sock", 11, AF_UNIX, OFF + 4, "/run", 4 },
		/* An abstract name: its NUL first, every byte counted. */
		{ "\0abc", 4, AF_UNIX, OFF + 4, "\0abc", 4 },
		{ "\0abc", 4, AF_UNIX, OFF + 5, "\0abc\0", 5 },
		{ "\0a\0b", 4, AF_UNIX, OFF + 4, "\0a\0b", 4 },
		{ "\0", 1, AF_UNIX, OFF + 1, "\0", 1 },
		/* Unnamed, too short, too long, another family. */
		{ "", 0, AF_UNIX, OFF, NULL, 0 },
		{ "", 0, AF_UNIX, 0, NULL, 0 },
		{ "/run/a.sock", 11, AF_UNIX, OFF, NULL, 0 },
		{ "/run/a.sock", 11, AF_UNIX, sizeof(struct sockaddr_un) + 1,
		    NULL, 0 },
		{ "\0abc", 4, AF_UNIX, sizeof(struct sockaddr_un) + 1, NULL, 0 },
		{ "/run/a.sock", 11, AF_INET, OFF + 12, NULL, 0 },
	};
	struct sockaddr_storage ss;
	const struct sockaddr *sa;
	char buf[UNIXADDR_NAME_SIZE];
	size_t i, n;

	for (i = 0; i < NITEMS(cases); i++) {
		sa = sun_of(&ss, cases[i].family, cases[i].bytes,
		    cases[i].nbytes);
		memset(buf, 'z', sizeof(buf));
		n = unixaddr_name(sa, (socklen_t)cases[i].len, buf, sizeof(buf));
		cr_expect_eq(n, cases[i].n, "case %zu: %zu bytes, not %zu", i,
		    n, cases[i].n);
		if (n != cases[i].n || n == 0)
			continue;
		cr_expect_eq(memcmp(buf, cases[i].name, n), 0, "case %zu", i);
		cr_expect_eq(buf[n], '\0', "case %zu: no NUL after", i);
	}
}

Test(unixaddr, name_fills_the_whole_path_and_needs_room)
{
	struct sockaddr_storage ss;
	const struct sockaddr *sa;
	char whole[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char buf[UNIXADDR_NAME_SIZE];

	/* 108 bytes, no NUL in the struct: all of them. */
	memset(whole, 'p', sizeof(whole));
	whole[0] = '/';
	sa = sun_of(&ss, AF_UNIX, whole, sizeof(whole));
	cr_expect_eq(unixaddr_name(sa, sizeof(struct sockaddr_un), buf,
	    sizeof(buf)), sizeof(whole));
	cr_expect_eq(memcmp(buf, whole, sizeof(whole)), 0);
	cr_expect_eq(buf[sizeof(whole)], '\0');
	whole[0] = '\0';
	sa = sun_of(&ss, AF_UNIX, whole, sizeof(whole));
	cr_expect_eq(unixaddr_name(sa, sizeof(struct sockaddr_un), buf,
	    sizeof(buf)), sizeof(whole));

	/* A name and its NUL must fit buflen. */
	sa = sun_of(&ss, AF_UNIX, "/run/a.sock", 11);
	cr_expect_eq(unixaddr_name(sa, OFF + 12, buf, 12), 11);
	cr_expect_str_eq(buf, "/run/a.sock");
	cr_expect_eq(unixaddr_name(sa, OFF + 12, buf, 11), 0);
	sa = sun_of(&ss, AF_UNIX, "\0abc", 4);
	cr_expect_eq(unixaddr_name(sa, OFF + 4, buf, 5), 4);
	cr_expect_eq(unixaddr_name(sa, OFF + 4, buf, 4), 0);
}

/* The name unixaddr_name reads back from what unixaddr_make made of text,
   and from the kernel's own address for a socket bound there. */
static void
name_round_trip(const char *text, const char *want, size_t wantlen)
{
	struct sockaddr_un sun;
	struct sockaddr_storage ss;
	socklen_t len, sslen = sizeof(ss);
	const char *cause;
	char buf[UNIXADDR_NAME_SIZE];
	int fd;

	cr_assert_eq(unixaddr_make(text, UNIXADDR_NAMED, &sun, &len, &cause), 0,
	    "%s: %s", text, cause);
	cr_expect_eq(unixaddr_name((struct sockaddr *)&sun, len, buf,
	    sizeof(buf)), wantlen, "%s", text);
	cr_expect_eq(memcmp(buf, want, wantlen), 0, "%s", text);
	cr_assert_geq(fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0), 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sun, len), 0, "bind %s: %s",
	    text, strerror(errno));
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&ss, &sslen), 0);
	cr_expect_eq(unixaddr_name((struct sockaddr *)&ss, sslen, buf,
	    sizeof(buf)), wantlen, "%s as the kernel says it", text);
	cr_expect_eq(memcmp(buf, want, wantlen), 0, "%s", text);
	cr_expect(unixaddr_same((struct sockaddr *)&ss, sslen,
	    (struct sockaddr *)&sun, len), "%s", text);
	close(fd);
}

Test(unixaddr, names_of_made_and_bound_addresses)
{
	char *dir = support_tmpdir(), path[256], name[64], want[64];

	cr_assert_not_null(dir);
	snprintf(path, sizeof(path), "%s/s.sock", dir);
	name_round_trip(path, path, strlen(path));
	snprintf(name, sizeof(name), "@handoff-test-unixaddr-name-%d",
	    (int)getpid());
	memcpy(want, name, strlen(name));
	want[0] = '\0';
	name_round_trip(name, want, strlen(name));
	support_rmtree(dir);
	free(dir);
}

Test(unixaddr, same_names_same_bytes)
{
	static const struct {
		const char	*a;
		size_t		 na, alen;
		const char	*b;
		size_t		 nb, blen;
		bool		 same;
	} cases[] = {
		/* A path, its NUL counted or not, the struct's whole length. */
		{ "/run/a", 6, OFF + 7, "/run/a", 6, OFF + 6, true },
		{ "/run/a", 6, sizeof(struct sockaddr_un), "/run/a", 6, OFF + 7,
		    true },
		{ "/run/a", 6, OFF + 7, "/run/b", 6, OFF + 7, false },
		{ "/run/a", 6, OFF + 7, "/run/ab", 7, OFF + 8, false },
		/* Abstract names: every byte, NULs too, and the length. */
		{ "\0abc", 4, OFF + 4, "\0abc", 4, OFF + 4, true },
		{ "\0a\0b", 4, OFF + 4, "\0a\0b", 4, OFF + 4, true },
		{ "\0a\0b", 4, OFF + 4, "\0a\0c", 4, OFF + 4, false },
		{ "\0abc", 4, OFF + 4, "\0abc", 4, OFF + 5, false },
		{ "\0abc", 4, OFF + 4, "\0ab", 3, OFF + 3, false },
		/* A path is no abstract name of the same bytes. */
		{ "/abc", 4, OFF + 4, "\0abc", 4, OFF + 4, false },
		/* Unnamed sockets, and lengths beyond the struct: never. */
		{ "", 0, OFF, "", 0, OFF, false },
		{ "/run/a", 6, sizeof(struct sockaddr_un) + 1, "/run/a", 6,
		    sizeof(struct sockaddr_un) + 1, false },
	};
	struct sockaddr_storage sa, sb;
	size_t i;

	for (i = 0; i < NITEMS(cases); i++) {
		sun_of(&sa, AF_UNIX, cases[i].a, cases[i].na);
		sun_of(&sb, AF_UNIX, cases[i].b, cases[i].nb);
		cr_expect_eq(unixaddr_same((struct sockaddr *)&sa,
		    (socklen_t)cases[i].alen, (struct sockaddr *)&sb,
		    (socklen_t)cases[i].blen), cases[i].same, "case %zu", i);
		cr_expect_eq(unixaddr_same((struct sockaddr *)&sb,
		    (socklen_t)cases[i].blen, (struct sockaddr *)&sa,
		    (socklen_t)cases[i].alen), cases[i].same,
		    "case %zu reversed", i);
	}
	/* Another family is never the same. */
	sun_of(&sa, AF_INET, "/run/a", 6);
	sun_of(&sb, AF_UNIX, "/run/a", 6);
	cr_expect(!unixaddr_same((struct sockaddr *)&sa, OFF + 7,
	    (struct sockaddr *)&sb, OFF + 7));
	cr_expect(!unixaddr_same((struct sockaddr *)&sa, OFF + 7,
	    (struct sockaddr *)&sa, OFF + 7));
}
