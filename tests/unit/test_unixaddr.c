/*
 * test_unixaddr.c: sockaddr_un from a file's path or an "@name": what is
 * accepted in each form, the lengths, the errors, and that the addresses
 * built work for bind() and sendto().
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
