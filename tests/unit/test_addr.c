/* test_addr.c: listen addresses as written in the config. */
#include "autoconf.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "addr.h"

#define NITEMS(a) (sizeof(a) / sizeof((a)[0]))
#define SUN_PATH_MAX (sizeof(((struct sockaddr_un *)0)->sun_path))

/*
 * Parameters are copied into each test's process by Criterion, where
 * pointers into this binary need not be valid: tables hold text in arrays.
 */
struct good_case {
	char		 text[64];
	enum addr_kind	 kind;
	int		 family;
	int		 port;		/* -1 for unix sockets */
	char		 printed[64];	/* addr_format's text */
};

ParameterizedTestParameters(addr, parse_good)
{
	static struct good_case cases[] = {
		{ "127.0.0.1:8080", ADDR_TCP, AF_INET, 8080, "127.0.0.1:8080" },
		{ "0.0.0.0:8080", ADDR_TCP, AF_INET, 8080, "0.0.0.0:8080" },
		{ "10.1.2.3:1", ADDR_TCP, AF_INET, 1, "10.1.2.3:1" },
		{ "127.0.0.1:65535", ADDR_TCP, AF_INET, 65535, "127.0.0.1:65535" },
		{ "127.0.0.1:0", ADDR_TCP, AF_INET, 0, "127.0.0.1:0" },
		{ "0.0.0.0:0", ADDR_TCP, AF_INET, 0, "0.0.0.0:0" },
		{ "127.0.0.1:080", ADDR_TCP, AF_INET, 80, "127.0.0.1:80" },
		{ "tcp:127.0.0.1:80", ADDR_TCP, AF_INET, 80, "127.0.0.1:80" },
		{ "tcp:[::1]:80", ADDR_TCP, AF_INET6, 80, "[::1]:80" },
		{ "[::1]:8080", ADDR_TCP, AF_INET6, 8080, "[::1]:8080" },
		{ "[::]:8080", ADDR_TCP, AF_INET6, 8080, "[::]:8080" },
		{ "[::]:0", ADDR_TCP, AF_INET6, 0, "[::]:0" },
		{ "[0:0:0:0:0:0:0:1]:443", ADDR_TCP, AF_INET6, 443, "[::1]:443" },
		{ "[2001:db8::1]:443", ADDR_TCP, AF_INET6, 443, "[2001:db8::1]:443" },
		{ "[::ffff:127.0.0.1]:80", ADDR_TCP, AF_INET6, 80,
		  "[::ffff:127.0.0.1]:80" },
		{ "udp:0.0.0.0:5353", ADDR_UDP, AF_INET, 5353, "udp:0.0.0.0:5353" },
		{ "udp:127.0.0.1:53", ADDR_UDP, AF_INET, 53, "udp:127.0.0.1:53" },
		{ "udp:[::1]:53", ADDR_UDP, AF_INET6, 53, "udp:[::1]:53" },
		{ "udp:[::]:0", ADDR_UDP, AF_INET6, 0, "udp:[::]:0" },
		{ "unix:/run/shop.sock", ADDR_UNIX_STREAM, AF_UNIX, -1,
		  "unix:/run/shop.sock" },
		{ "unix:/", ADDR_UNIX_STREAM, AF_UNIX, -1, "unix:/" },
		{ "unix:@abstract", ADDR_UNIX_STREAM, AF_UNIX, -1, "unix:@abstract" },
		{ "unix:@a", ADDR_UNIX_STREAM, AF_UNIX, -1, "unix:@a" },
		{ "unixgram:/run/log.sock", ADDR_UNIX_DGRAM, AF_UNIX, -1,
		  "unixgram:/run/log.sock" },
		{ "unixgram:@dgram", ADDR_UNIX_DGRAM, AF_UNIX, -1,
		  "unixgram:@dgram" },
	};

	return cr_make_param_array(struct good_case, cases, NITEMS(cases));
}

ParameterizedTest(struct good_case *c, addr, parse_good)
{
	struct addr a, back;
	const char *cause = NULL;
	char buf[ADDR_STRLEN];

	cr_assert_eq(addr_parse(c->text, &a, &cause), 0, "\"%s\" refused: %s",
	    c->text, cause ? cause : "(no cause)");
	cr_assert_eq(a.kind, c->kind, "\"%s\": kind %s", c->text,
	    addr_kind_name(a.kind));
	cr_assert_eq(a.ss.ss_family, c->family, "\"%s\": family %d", c->text,
	    a.ss.ss_family);
	cr_assert_eq(addr_port(&a), c->port, "\"%s\": port %d", c->text,
	    addr_port(&a));
	cr_assert_eq(addr_is_unix(&a), c->family == AF_UNIX);
	cr_assert_eq(addr_socktype(&a),
	    c->kind == ADDR_UDP || c->kind == ADDR_UNIX_DGRAM ?
	    SOCK_DGRAM : SOCK_STREAM, "\"%s\"", c->text);

	addr_format(&a, buf, sizeof(buf));
	cr_assert_str_eq(buf, c->printed, "\"%s\" printed as \"%s\"", c->text,
	    buf);

	/* What is printed parses back to the same address. */
	cr_assert_eq(addr_parse(buf, &back, &cause), 0, "\"%s\" refused: %s",
	    buf, cause ? cause : "(no cause)");
	cr_assert(addr_equal(&a, &back), "\"%s\" -> \"%s\" is another address",
	    c->text, buf);
	cr_assert(addr_equal(&back, &a));
	cr_assert(addr_equal(&a, &a));
}

struct bad_case {
	char		 text[200];
	char		 cause[80];
};

#define C_NOPORT	"missing :PORT (write HOST:PORT, as in 127.0.0.1:8080)"
#define C_NOHOST	"missing host before :PORT (use 0.0.0.0 for every address)"
#define C_PORT		"bad port (use 0 to 65535)"
#define C_IPV4		"bad IPv4 address"
#define C_IPV6		"bad IPv6 address"
#define C_BRACKETS	"IPv6 addresses go in brackets, as in [::1]:8080"
#define C_NOBRACKET	"missing ] after IPv6 address (write [::1]:8080)"
#define C_V6NOPORT	"missing :PORT after ] (write [::1]:8080)"
#define C_RELATIVE	"unix socket path must be absolute (or @name for an abstract socket)"
#define C_EMPTYUNIX	"empty unix socket path"
#define C_LONGUNIX	"unix socket path too long (at most 107 bytes)"
#define C_EMPTY		"empty address"
#define C_NEEDUNIX	"unix socket paths need the unix: prefix, as in unix:/run/app.sock"
#define C_LONGHOST	"host name too long"

ParameterizedTestParameters(addr, parse_bad)
{
	static struct bad_case cases[] = {
		{ "", C_EMPTY },
		{ "tcp:", C_EMPTY },
		{ "127.0.0.1", C_NOPORT },
		{ "localhost", C_NOPORT },
		{ "tcp:127.0.0.1", C_NOPORT },
		{ "udp:127.0.0.1", C_NOPORT },
		{ ":80", C_NOHOST },
		{ "udp::53", C_NOHOST },
		{ "127.0.0.1:65536", C_PORT },
		{ "127.0.0.1:99999", C_PORT },
		{ "127.0.0.1:", C_PORT },
		{ "127.0.0.1:-1", C_PORT },
		{ "127.0.0.1:http", C_PORT },
		{ "127.0.0.1:80x", C_PORT },
		{ "127.0.0.1: 80", C_PORT },
		{ "[::1]:65536", C_PORT },
		{ "[::1]:", C_PORT },
		{ "udp:[::1]:x", C_PORT },
		{ "300.1.1.1:80", C_IPV4 },
		{ "1.2.3:80", C_IPV4 },
		{ "1.2.3.4.5:80", C_IPV4 },
		{ "01.2.3.4:80", C_IPV4 },
		{ "udp:256.0.0.1:53", C_IPV4 },
		{ "::1:80", C_BRACKETS },
		{ "fe80::1:80", C_BRACKETS },
		{ "udp:::1:53", C_BRACKETS },
		{ "[::1:80", C_NOBRACKET },
		{ "[::1", C_NOBRACKET },
		{ "udp:[::1:53", C_NOBRACKET },
		{ "[::1]", C_V6NOPORT },
		{ "[::1]80", C_V6NOPORT },
		{ "[::g]:80", C_IPV6 },
		{ "[]:80", C_IPV6 },
		{ "[127.0.0.1]:80", C_IPV6 },
		{ "[localhost]:80", C_IPV6 },
		{ "unix:run/shop.sock", C_RELATIVE },
		{ "unix:./shop.sock", C_RELATIVE },
		{ "unixgram:shop.sock", C_RELATIVE },
		{ "unix:", C_EMPTYUNIX },
		{ "unix:@", C_EMPTYUNIX },
		{ "unixgram:", C_EMPTYUNIX },
		{ "unixgram:@", C_EMPTYUNIX },
		{ "/run/shop.sock", C_NEEDUNIX },
		{ "tcp:/run/shop.sock", C_NEEDUNIX },
	};

	return cr_make_param_array(struct bad_case, cases, NITEMS(cases));
}

ParameterizedTest(struct bad_case *c, addr, parse_bad)
{
	struct addr a;
	const char *cause = NULL;

	cr_assert_eq(addr_parse(c->text, &a, &cause), -1, "\"%s\" accepted",
	    c->text);
	cr_assert_not_null(cause, "\"%s\": no cause", c->text);
	cr_assert_str_eq(cause, c->cause, "\"%s\": cause \"%s\"", c->text,
	    cause);
}

/* Build "PREFIX" followed by n copies of c into buf. */
static void
fill(char *buf, size_t size, const char *prefix, char c, size_t n)
{
	size_t len = strlen(prefix);

	cr_assert_lt(len + n, size);
	memcpy(buf, prefix, len);
	memset(buf + len, c, n);
	buf[len + n] = '\0';
}

Test(addr, unix_path_length_limit)
{
	char text[256], buf[ADDR_STRLEN];
	const struct sockaddr_un *sun;
	const char *cause = NULL;
	struct addr a, back;

	/* "/" plus 106 bytes: 107, the most sun_path holds with its NUL. */
	fill(text, sizeof(text), "unix:/", 'p', SUN_PATH_MAX - 2);
	cr_assert_eq(addr_parse(text, &a, &cause), 0, "107 bytes: %s",
	    cause ? cause : "");
	sun = (const struct sockaddr_un *)&a.ss;
	cr_assert_eq(strlen(sun->sun_path), SUN_PATH_MAX - 1);
	cr_assert_str_eq(sun->sun_path, text + 5);
	addr_format(&a, buf, sizeof(buf));
	cr_assert_str_eq(buf, text);
	cr_assert_eq(addr_parse(buf, &back, &cause), 0);
	cr_assert(addr_equal(&a, &back));

	/* 108 bytes: no room for the terminating NUL. */
	fill(text, sizeof(text), "unix:/", 'p', SUN_PATH_MAX - 1);
	cause = NULL;
	cr_assert_eq(addr_parse(text, &a, &cause), -1);
	cr_assert_str_eq(cause, C_LONGUNIX);
	fill(text, sizeof(text), "unixgram:/", 'p', SUN_PATH_MAX + 20);
	cr_assert_eq(addr_parse(text, &a, &cause), -1);
	cr_assert_str_eq(cause, C_LONGUNIX);

	/* Abstract names: '@' counts as the leading NUL. */
	fill(text, sizeof(text), "unix:@", 'n', SUN_PATH_MAX - 2);
	cr_assert_eq(addr_parse(text, &a, &cause), 0);
	cr_assert(addr_is_abstract(&a));
	addr_format(&a, buf, sizeof(buf));
	cr_assert_str_eq(buf, text);
	fill(text, sizeof(text), "unix:@", 'n', SUN_PATH_MAX - 1);
	cr_assert_eq(addr_parse(text, &a, &cause), -1);
	cr_assert_str_eq(cause, C_LONGUNIX);
}

Test(addr, host_name_too_long)
{
	char text[400];
	const char *cause = NULL;
	struct addr a;

	fill(text, sizeof(text), "", 'h', 300);
	strcat(text, ":80");
	cr_assert_eq(addr_parse(text, &a, &cause), -1);
	cr_assert_str_eq(cause, C_LONGHOST);

	fill(text, sizeof(text), "[", 'a', 300);
	strcat(text, "]:80");
	cr_assert_eq(addr_parse(text, &a, &cause), -1);
	cr_assert_str_eq(cause, C_LONGHOST);
}

Test(addr, localhost_resolves)
{
	const char *cause = NULL;
	char buf[ADDR_STRLEN];
	struct addr a, back;

	cr_assert_eq(addr_parse("localhost:80", &a, &cause), 0, "%s",
	    cause ? cause : "");
	cr_assert_eq(a.kind, ADDR_TCP);
	cr_assert_eq(addr_port(&a), 80);
	addr_format(&a, buf, sizeof(buf));
	if (a.ss.ss_family == AF_INET) {
		cr_assert_str_eq(buf, "127.0.0.1:80");
		cr_assert_eq(a.len, sizeof(struct sockaddr_in));
	} else {
		cr_assert_eq(a.ss.ss_family, AF_INET6);
		cr_assert_str_eq(buf, "[::1]:80");
		cr_assert_eq(a.len, sizeof(struct sockaddr_in6));
	}
	cr_assert_eq(addr_parse(buf, &back, &cause), 0);
	cr_assert(addr_equal(&a, &back));

	cr_assert_eq(addr_parse("udp:localhost:0", &a, &cause), 0, "%s",
	    cause ? cause : "");
	cr_assert_eq(a.kind, ADDR_UDP);
	cr_assert_eq(addr_port(&a), 0);
	cr_assert_eq(addr_socktype(&a), SOCK_DGRAM);
}

Test(addr, lengths_for_bind)
{
	const char *cause = NULL;
	struct addr a;

	cr_assert_eq(addr_parse("127.0.0.1:1", &a, &cause), 0);
	cr_assert_eq(a.len, sizeof(struct sockaddr_in));
	cr_assert_eq(addr_parse("[::1]:1", &a, &cause), 0);
	cr_assert_eq(a.len, sizeof(struct sockaddr_in6));
	cr_assert_eq(addr_parse("unix:/run/x", &a, &cause), 0);
	cr_assert_eq(a.len, sizeof(struct sockaddr_un));
	cr_assert_str_eq(((struct sockaddr_un *)&a.ss)->sun_path, "/run/x");
	/* Abstract: the leading NUL and the name, no terminator. */
	cr_assert_eq(addr_parse("unix:@abc", &a, &cause), 0);
	cr_assert_eq(a.len, offsetof(struct sockaddr_un, sun_path) + 4);
	cr_assert_eq(((struct sockaddr_un *)&a.ss)->sun_path[0], '\0');
	cr_assert_eq(memcmp(((struct sockaddr_un *)&a.ss)->sun_path + 1, "abc", 3), 0);
}

Test(addr, parsed_addresses_bind)
{
	const char *cause = NULL;
	struct sockaddr_storage got;
	socklen_t gotlen = sizeof(got);
	char text[64], buf[ADDR_STRLEN];
	struct addr a;
	int fd;

	/* Port 0: the kernel picks a free port. */
	cr_assert_eq(addr_parse("127.0.0.1:0", &a, &cause), 0);
	fd = socket(a.ss.ss_family, addr_socktype(&a), 0);
	cr_assert_geq(fd, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&a.ss, a.len), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&got, &gotlen), 0);
	cr_assert_neq(ntohs(((struct sockaddr_in *)&got)->sin_port), 0);
	addr_format_sockaddr((struct sockaddr *)&got, gotlen, buf, sizeof(buf));
	cr_assert_eq(strncmp(buf, "127.0.0.1:", 10), 0, "%s", buf);
	close(fd);

	/* An abstract name binds to exactly that name. */
	snprintf(text, sizeof(text), "unix:@handoff-test-addr-%ld",
	    (long)getpid());
	cr_assert_eq(addr_parse(text, &a, &cause), 0);
	fd = socket(AF_UNIX, addr_socktype(&a), 0);
	cr_assert_geq(fd, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&a.ss, a.len), 0);
	gotlen = sizeof(got);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&got, &gotlen), 0);
	addr_format_sockaddr((struct sockaddr *)&got, gotlen, buf, sizeof(buf));
	cr_assert_str_eq(buf, text + 5);
	close(fd);
}

Test(addr, equal)
{
	static const char *const same[][2] = {
		{ "127.0.0.1:80", "tcp:127.0.0.1:80" },
		{ "[::1]:80", "[0:0::1]:80" },
		{ "[::]:80", "tcp:[::]:80" },
		{ "udp:0.0.0.0:53", "udp:0.0.0.0:053" },
		{ "unix:/run/a.sock", "unix:/run/a.sock" },
		{ "unix:@name", "unix:@name" },
		{ "unixgram:/run/a.sock", "unixgram:/run/a.sock" },
	};
	static const char *const differ[][2] = {
		{ "127.0.0.1:80", "127.0.0.1:81" },
		{ "127.0.0.1:80", "127.0.0.2:80" },
		{ "127.0.0.1:80", "0.0.0.0:80" },
		{ "127.0.0.1:80", "udp:127.0.0.1:80" },
		{ "127.0.0.1:80", "[::1]:80" },
		{ "0.0.0.0:80", "[::]:80" },
		{ "[::1]:80", "[::2]:80" },
		{ "[::1]:80", "udp:[::1]:80" },
		{ "unix:/run/a.sock", "unix:/run/b.sock" },
		{ "unix:/run/a.sock", "unix:/run/a.soc" },
		{ "unix:/run/a.sock", "unixgram:/run/a.sock" },
		{ "unix:@a", "unix:/a" },
		{ "unix:@a", "unix:@ab" },
		{ "unix:@a", "unixgram:@a" },
	};
	const char *cause = NULL;
	struct addr a, b;
	size_t i;

	for (i = 0; i < NITEMS(same); i++) {
		cr_assert_eq(addr_parse(same[i][0], &a, &cause), 0, "%s", same[i][0]);
		cr_assert_eq(addr_parse(same[i][1], &b, &cause), 0, "%s", same[i][1]);
		cr_assert(addr_equal(&a, &b), "%s != %s", same[i][0], same[i][1]);
		cr_assert(addr_equal(&b, &a), "%s != %s", same[i][1], same[i][0]);
	}
	for (i = 0; i < NITEMS(differ); i++) {
		cr_assert_eq(addr_parse(differ[i][0], &a, &cause), 0, "%s",
		    differ[i][0]);
		cr_assert_eq(addr_parse(differ[i][1], &b, &cause), 0, "%s",
		    differ[i][1]);
		cr_assert_not(addr_equal(&a, &b), "%s == %s", differ[i][0],
		    differ[i][1]);
		cr_assert_not(addr_equal(&b, &a), "%s == %s", differ[i][1],
		    differ[i][0]);
	}
}

Test(addr, predicates)
{
	const char *cause = NULL;
	struct addr a;

	cr_assert_eq(addr_parse("127.0.0.1:8080", &a, &cause), 0);
	cr_assert_not(addr_is_unix(&a));
	cr_assert_not(addr_is_abstract(&a));
	cr_assert_eq(addr_port(&a), 8080);
	cr_assert_eq(addr_socktype(&a), SOCK_STREAM);

	cr_assert_eq(addr_parse("udp:[::1]:53", &a, &cause), 0);
	cr_assert_not(addr_is_unix(&a));
	cr_assert_not(addr_is_abstract(&a));
	cr_assert_eq(addr_port(&a), 53);
	cr_assert_eq(addr_socktype(&a), SOCK_DGRAM);

	cr_assert_eq(addr_parse("unix:/run/a.sock", &a, &cause), 0);
	cr_assert(addr_is_unix(&a));
	cr_assert_not(addr_is_abstract(&a));
	cr_assert_eq(addr_port(&a), -1);
	cr_assert_eq(addr_socktype(&a), SOCK_STREAM);

	cr_assert_eq(addr_parse("unix:@a", &a, &cause), 0);
	cr_assert(addr_is_unix(&a));
	cr_assert(addr_is_abstract(&a));
	cr_assert_eq(addr_port(&a), -1);

	cr_assert_eq(addr_parse("unixgram:/run/a.sock", &a, &cause), 0);
	cr_assert(addr_is_unix(&a));
	cr_assert_not(addr_is_abstract(&a));
	cr_assert_eq(addr_socktype(&a), SOCK_DGRAM);

	cr_assert_eq(addr_parse("unixgram:@a", &a, &cause), 0);
	cr_assert(addr_is_abstract(&a));
	cr_assert_eq(addr_socktype(&a), SOCK_DGRAM);
}

Test(addr, kind_names)
{
	cr_assert_str_eq(addr_kind_name(ADDR_TCP), "tcp");
	cr_assert_str_eq(addr_kind_name(ADDR_UDP), "udp");
	cr_assert_str_eq(addr_kind_name(ADDR_UNIX_STREAM), "unix");
	cr_assert_str_eq(addr_kind_name(ADDR_UNIX_DGRAM), "unixgram");
}

Test(addr, format_sockaddr)
{
	struct sockaddr_un sun;
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
	struct sockaddr sa;
	char buf[ADDR_STRLEN];

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(8080);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	addr_format_sockaddr((struct sockaddr *)&sin, sizeof(sin), buf, sizeof(buf));
	cr_assert_str_eq(buf, "127.0.0.1:8080");

	memset(&sin6, 0, sizeof(sin6));
	sin6.sin6_family = AF_INET6;
	sin6.sin6_port = htons(443);
	sin6.sin6_addr = in6addr_loopback;
	addr_format_sockaddr((struct sockaddr *)&sin6, sizeof(sin6), buf, sizeof(buf));
	cr_assert_str_eq(buf, "[::1]:443");

	/* An unbound unix socket (as getpeername gives for a client). */
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	addr_format_sockaddr((struct sockaddr *)&sun,
	    offsetof(struct sockaddr_un, sun_path), buf, sizeof(buf));
	cr_assert_str_eq(buf, "(unnamed)");
	strcpy(sun.sun_path, "/run/x.sock");
	addr_format_sockaddr((struct sockaddr *)&sun, sizeof(sun), buf, sizeof(buf));
	cr_assert_str_eq(buf, "/run/x.sock");
	/* getsockname may give the path's length plus its NUL. */
	addr_format_sockaddr((struct sockaddr *)&sun,
	    offsetof(struct sockaddr_un, sun_path) + 12, buf, sizeof(buf));
	cr_assert_str_eq(buf, "/run/x.sock");

	memset(&sa, 0, sizeof(sa));
	sa.sa_family = AF_PACKET;
	addr_format_sockaddr(&sa, sizeof(sa), buf, sizeof(buf));
	cr_assert_str_eq(buf, "(family 17)");
}

Test(addr, format_truncates_safely)
{
	const char *cause = NULL;
	struct addr a;
	char buf[8];

	cr_assert_eq(addr_parse("udp:[2001:db8::1]:5353", &a, &cause), 0);
	addr_format(&a, buf, sizeof(buf));
	cr_assert_str_eq(buf, "udp:[20");
}
