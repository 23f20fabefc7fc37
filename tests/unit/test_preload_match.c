/*
 * test_preload_match.c: the pure part of the bind() shim (match.c):
 * which bind() address is a listener's in inherit and reuseport modes
 * (exactly the same) and in self mode (the same, or a wildcard over it),
 * and the private variables that carry the shim's state, written and
 * read back, and refused when they are not what the supervisor writes.
 * Addresses are parsed as the config parses them (addr.c).
 */
#include "autoconf.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>

#include "addr.h"
#include "preload/match.h"

#define NITEMS(a)	(sizeof(a) / sizeof((a)[0]))

/* An address as a config writes it ("127.0.0.1:80", "unix:/x", ...). */
static struct addr
parse(const char *text)
{
	struct addr a;
	const char *why;

	cr_assert_eq(addr_parse(text, &a, &why), 0, "%s: %s", text, why);
	return a;
}

Test(preload_match, same_is_exact)
{
	static const struct {
		const char	*listener, *bind;
		bool		 same;
	} cases[] = {
		{ "127.0.0.1:8080", "127.0.0.1:8080", true },
		{ "127.0.0.1:8080", "tcp:127.0.0.1:8080", true },
		{ "0.0.0.0:8080", "0.0.0.0:8080", true },
		{ "[::1]:8080", "[::1]:8080", true },
		{ "[::]:8080", "[::]:8080", true },
		{ "unix:/run/a.sock", "unix:/run/a.sock", true },
		{ "unix:@name", "unix:@name", true },
		/* Another port, host or family: the app's own bind. */
		{ "127.0.0.1:8080", "127.0.0.1:8081", false },
		{ "127.0.0.1:8080", "127.0.0.2:8080", false },
		{ "0.0.0.0:8080", "127.0.0.1:8080", false },
		{ "127.0.0.1:8080", "0.0.0.0:8080", false },
		{ "[::]:8080", "0.0.0.0:8080", false },
		{ "[::1]:8080", "127.0.0.1:8080", false },
		{ "unix:/run/a.sock", "unix:/run/b.sock", false },
		{ "unix:/run/a.sock", "unix:/run/a.sockx", false },
		{ "unix:@name", "unix:/name", false },
		{ "unix:@name", "unix:@name2", false },
		/* Port 0 asks for any port: never a listener's. */
		{ "127.0.0.1:0", "127.0.0.1:0", false },
	};
	struct addr l, b;
	size_t i;

	for (i = 0; i < NITEMS(cases); i++) {
		l = parse(cases[i].listener);
		b = parse(cases[i].bind);
		cr_expect_eq(match_same((struct sockaddr *)&b.ss, b.len,
		    (struct sockaddr *)&l.ss, l.len), cases[i].same,
		    "bind %s, listener %s", cases[i].bind, cases[i].listener);
	}
}

Test(preload_match, same_unix_path_with_or_without_its_nul)
{
	struct sockaddr_un a, b;
	socklen_t off = (socklen_t)offsetof(struct sockaddr_un, sun_path);

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	a.sun_family = b.sun_family = AF_UNIX;
	strcpy(a.sun_path, "/run/app.sock");
	strcpy(b.sun_path, "/run/app.sock");
	/* sizeof(struct sockaddr_un), SUN_LEN, SUN_LEN + 1: one path. */
	cr_expect(match_same((struct sockaddr *)&a, sizeof(a),
	    (struct sockaddr *)&b, off + 13));
	cr_expect(match_same((struct sockaddr *)&a, off + 14,
	    (struct sockaddr *)&b, off + 13));
	/* An unnamed socket is nobody's. */
	cr_expect(!match_same((struct sockaddr *)&a, off,
	    (struct sockaddr *)&b, off));
	cr_expect(!match_same(NULL, 0, (struct sockaddr *)&b, sizeof(b)));
}

Test(preload_match, covers_is_what_listening_means)
{
	static const struct {
		const char	*listener, *bind;
		bool		 v6only, covers;
	} cases[] = {
		{ "127.0.0.1:8080", "127.0.0.1:8080", false, true },
		{ "127.0.0.1:8080", "0.0.0.0:8080", false, true },
		{ "127.0.0.1:8080", "[::]:8080", false, true },
		{ "127.0.0.1:8080", "[::]:8080", true, false },
		{ "0.0.0.0:8080", "0.0.0.0:8080", false, true },
		{ "0.0.0.0:8080", "[::]:8080", false, true },
		{ "[::1]:8080", "[::1]:8080", false, true },
		{ "[::1]:8080", "[::]:8080", true, true },
		/* A wildcard needs a wildcard; another port is another. */
		{ "0.0.0.0:8080", "127.0.0.1:8080", false, false },
		{ "[::]:8080", "[::1]:8080", false, false },
		{ "[::]:8080", "0.0.0.0:8080", false, false },
		{ "127.0.0.1:8080", "127.0.0.1:8081", false, false },
		{ "127.0.0.1:8080", "127.0.0.2:8080", false, false },
		{ "[::1]:8080", "127.0.0.1:8080", false, false },
		{ "127.0.0.1:0", "127.0.0.1:0", false, false },
		{ "unix:/run/a.sock", "unix:/run/a.sock", false, false },
		/* An IPv4-mapped IPv6 address is its IPv4 address. */
		{ "127.0.0.1:8080", "[::ffff:127.0.0.1]:8080", false, true },
		{ "127.0.0.1:8080", "[::ffff:0.0.0.0]:8080", false, true },
		{ "127.0.0.1:8080", "[::ffff:127.0.0.2]:8080", false, false },
		{ "[::ffff:127.0.0.1]:8080", "127.0.0.1:8080", false, true },
		{ "0.0.0.0:8080", "[::ffff:127.0.0.1]:8080", false, false },
	};
	struct addr l, b;
	size_t i;

	for (i = 0; i < NITEMS(cases); i++) {
		l = parse(cases[i].listener);
		b = parse(cases[i].bind);
		cr_expect_eq(match_covers((struct sockaddr *)&l.ss, l.len,
		    (struct sockaddr *)&b.ss, b.len, cases[i].v6only),
		    cases[i].covers, "bind %s%s, listener %s", cases[i].bind,
		    cases[i].v6only ? " (v6only)" : "", cases[i].listener);
	}
}

Test(preload_match, addresses_round_trip)
{
	static const char *const texts[] = {
		"127.0.0.1:8080", "udp:[::1]:53", "unix:/run/a.sock",
		"unix:@abstract", "[fe80::1]:443",
	};
	struct match_addr in[NITEMS(texts)], out[NITEMS(texts) + 1];
	char text[MATCH_ADDRS_TEXT_MAX];
	struct addr a;
	size_t i;

	for (i = 0; i < NITEMS(texts); i++) {
		a = parse(texts[i]);
		in[i].index = (int)(i * 7);
		in[i].type = addr_socktype(&a);
		in[i].len = a.len;
		memset(&in[i].ss, 0, sizeof(in[i].ss));
		memcpy(&in[i].ss, &a.ss, a.len);
	}
	cr_assert_eq(match_encode_addrs(in, NITEMS(in), text, sizeof(text)), 0);
	cr_expect_eq(strncmp(text, "0:s:", 4), 0, "%s", text);
	cr_assert_eq(match_decode_addrs(text, out, NITEMS(out)),
	    (int)NITEMS(in), "%s", text);
	for (i = 0; i < NITEMS(texts); i++) {
		cr_expect_eq(out[i].index, in[i].index, "%s", texts[i]);
		cr_expect_eq(out[i].type, in[i].type, "%s", texts[i]);
		cr_expect_eq(out[i].len, in[i].len, "%s", texts[i]);
		cr_expect(match_same((struct sockaddr *)&out[i].ss, out[i].len,
		    (struct sockaddr *)&in[i].ss, in[i].len), "%s", texts[i]);
	}
	/* Nothing to carry, and a buffer too small: refused, not cut. */
	cr_expect_eq(match_encode_addrs(in, 0, text, sizeof(text)), 0);
	cr_expect_str_eq(text, "");
	cr_expect_eq(match_decode_addrs("", out, 1), 0);
	cr_expect_eq(match_encode_addrs(in, NITEMS(in), text, 20), -1);
	cr_expect_eq(match_decode_addrs(
	    "0:s:0200,1:s:0200,2:s:0200", out, 2), -1);
}

Test(preload_match, bad_address_lists_are_refused)
{
	static const char *const bad[] = {
		"x", "0", "0:", "0:s", "0:x:0200", "0:s:", "0:s:02",
		"0:s:020", "0:s:02zz", "0:s:0200,", ",0:s:0200", "-1:s:0200",
		"0:s:0200;1:s:0200", "9999999999:s:0200",
	};
	struct match_addr out[4];
	size_t i;

	for (i = 0; i < NITEMS(bad); i++)
		cr_expect_eq(match_decode_addrs(bad[i], out, NITEMS(out)), -1,
		    "%s", bad[i]);
}

Test(preload_match, fd_lists_round_trip)
{
	struct match_fd in[3] = { { 512, 0, 1 }, { 513, 1, 0 }, { 3, 63, 1 } };
	struct match_fd out[3];
	char text[128];
	int i;

	cr_assert_eq(match_encode_fds(in, 3, false, text, sizeof(text)), 0);
	cr_expect_str_eq(text, "512:0,513:1,3:63");
	cr_assert_eq(match_decode_fds(text, out, 3, false), 3);
	for (i = 0; i < 3; i++) {
		cr_expect_eq(out[i].fd, in[i].fd);
		cr_expect_eq(out[i].index, in[i].index);
		cr_expect_eq(out[i].flag, 0);
	}
	cr_assert_eq(match_encode_fds(in, 3, true, text, sizeof(text)), 0);
	cr_expect_str_eq(text, "512:0:1,513:1:0,3:63:1");
	cr_assert_eq(match_decode_fds(text, out, 3, true), 3);
	cr_expect_eq(out[0].flag, 1);
	cr_expect_eq(out[1].flag, 0);
	/* Flags where none are wanted, none where they are, and junk. */
	cr_expect_eq(match_decode_fds(text, out, 3, false), -1);
	cr_expect_eq(match_decode_fds("512:0", out, 3, true), -1);
	cr_expect_eq(match_decode_fds("512:0,", out, 3, false), -1);
	cr_expect_eq(match_decode_fds("512", out, 3, false), -1);
	cr_expect_eq(match_decode_fds("a:0", out, 3, false), -1);
	cr_expect_eq(match_decode_fds("1:1,2:2,3:3,4:4", out, 3, false), -1);
	cr_expect_eq(match_encode_fds(in, 3, true, text, 8), -1);
}
