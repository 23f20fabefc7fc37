/*
 * test_protocol.c: the two parsers of the control protocol, as the fuzz
 * target `control` drives them. control_parse_request reads a request line
 * the way the supervisor does; ctl_parse_answer reads an answer line the
 * way the CLI does.
 */
#include "autoconf.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"
#include "ctl.h"

#define NITEMS(a) (sizeof(a) / sizeof((a)[0]))

/* Parse a request line (len bytes, '\0' after them) from a private copy. */
static const char *
parse_request(const char *text, size_t len, struct control_request *req,
    char **copy)
{
	*copy = malloc(len + 1);
	cr_assert_not_null(*copy);
	memcpy(*copy, text, len);
	(*copy)[len] = '\0';
	return control_parse_request(*copy, len, req);
}

Test(protocol, requests_are_parsed)
{
	struct control_request req;
	const char *bad;
	char *copy;

	bad = parse_request("HANDOFF/1 status json", 21, &req, &copy);
	cr_assert_null(bad, "%s", bad);
	cr_expect_eq(req.command, CONTROL_STATUS);
	cr_expect(req.json);
	free(copy);

	bad = parse_request("HANDOFF/1\treload  nowait shop\r", 30, &req, &copy);
	cr_assert_null(bad, "%s", bad);
	cr_expect_eq(req.command, CONTROL_RELOAD);
	cr_expect(req.nowait);
	cr_expect_str_eq(req.program, "shop");
	free(copy);

	bad = parse_request("HANDOFF/1 reload takeover shop", 30, &req, &copy);
	cr_assert_null(bad, "%s", bad);
	cr_expect(req.takeover);
	cr_expect(!req.nowait);
	cr_expect_str_eq(req.program, "shop");
	free(copy);

	bad = parse_request("HANDOFF/1 stop 1m30s", 20, &req, &copy);
	cr_assert_null(bad, "%s", bad);
	cr_expect_eq(req.command, CONTROL_STOP);
	cr_expect_eq(req.stop_ms, 90000);
	free(copy);

	bad = parse_request("HANDOFF/1 stop", 14, &req, &copy);
	cr_assert_null(bad, "%s", bad);
	cr_expect_eq(req.stop_ms, -1);
	free(copy);

	bad = parse_request("HANDOFF/1 fds web", 17, &req, &copy);
	cr_assert_null(bad, "%s", bad);
	cr_expect_eq(req.command, CONTROL_FDS);
	cr_expect_str_eq(req.name, "web");
	free(copy);
}

Test(protocol, bad_requests_say_why)
{
	static const struct {
		const char	*line;
		size_t		 len;
		const char	*error;
	} cases[] = {
		{ "", 0, "bad request: expected" },
		{ "hello", 5, "bad request: expected" },
		{ "HANDOFF/1", 9, "bad request: no command" },
		{ "HANDOFF/1 sta\0tus", 17, "bad request: NUL byte" },
		{ "HANDOFF/1 a b c d e f g h", 25, "bad request: too many words" },
		{ "HANDOFF/1 frobnicate", 20, "unknown command" },
		{ "HANDOFF/1 status yaml", 21, "usage: status" },
		{ "HANDOFF/1 reload a b", 20, "usage: reload" },
		{ "HANDOFF/1 reload nowait takeover", 32, "usage: reload" },
		{ "HANDOFF/1 stop soon", 19, "usage: stop" },
		{ "HANDOFF/1 stop 200h", 19, "usage: stop" },
		{ "HANDOFF/1 fds", 13, "usage: fds" },
		{ "HANDOFF/1 version 2", 19, "usage: version" },
	};
	struct control_request req;
	const char *bad;
	char *copy, *big;
	size_t i;

	for (i = 0; i < NITEMS(cases); i++) {
		bad = parse_request(cases[i].line, cases[i].len, &req, &copy);
		cr_expect_not_null(bad, "'%s' accepted", cases[i].line);
		if (bad != NULL)
			cr_expect(strncmp(bad, cases[i].error,
			    strlen(cases[i].error)) == 0, "'%s': %s",
			    cases[i].line, bad);
		free(copy);
	}
	big = malloc(CONTROL_REQUEST_MAX + 2);
	cr_assert_not_null(big);
	memset(big, 'x', CONTROL_REQUEST_MAX + 1);
	big[CONTROL_REQUEST_MAX + 1] = '\0';
	cr_expect_str_eq(control_parse_request(big, CONTROL_REQUEST_MAX + 1,
	    &req), "request too long");
	free(big);
}

/*
 * A control character anywhere in a request (an escape sequence in a
 * program's name, which answers and the log would say back) makes it a
 * bad request; tabs separate words, and a CR before the newline is
 * dropped.
 */
Test(protocol, control_characters_make_a_bad_request)
{
	struct control_request req;
	char esc[] = "HANDOFF/1 reload app\x1b[31m", del[] = "HANDOFF/1 fds w\x7f",
	    bell[] = "HANDOFF/1 status\a", tab[] = "HANDOFF/1\treload\tapp",
	    cr[] = "HANDOFF/1 status\r", utf8[] = "HANDOFF/1 upgrade /opt/h\xc3\xa9/handoff";

	cr_expect_str_eq(control_parse_request(esc, strlen(esc), &req),
	    "bad request: a control character");
	cr_expect_str_eq(control_parse_request(del, strlen(del), &req),
	    "bad request: a control character");
	cr_expect_str_eq(control_parse_request(bell, strlen(bell), &req),
	    "bad request: a control character");
	cr_expect_null(control_parse_request(tab, strlen(tab), &req));
	cr_expect_str_eq(req.program, "app");
	cr_expect_null(control_parse_request(cr, strlen(cr), &req));
	cr_expect_null(control_parse_request(utf8, strlen(utf8), &req));
	cr_expect_str_eq(req.name, "/opt/h\xc3\xa9/handoff");
}

Test(protocol, answers_are_parsed)
{
	static const struct {
		const char	*line;
		enum ctl_answer	 kind;
		const char	*text;		/* NULL: none */
		int		 code;
	} cases[] = {
		{ "data  program shop", CTL_ANSWER_DATA, " program shop", 1 },
		{ "data", CTL_ANSWER_DATA, "", 1 },
		{ "progress shop gen 2: ready", CTL_ANSWER_PROGRESS,
		  "shop gen 2: ready", 1 },
		{ "ok status", CTL_ANSWER_OK, "status", 1 },
		{ "ok", CTL_ANSWER_OK, NULL, 1 },
		{ "error 1 reload failed", CTL_ANSWER_ERROR, "reload failed", 1 },
		{ "error 2 bad request", CTL_ANSWER_ERROR, "bad request", 2 },
		/* Not served: the client may ask again. */
		{ "error 3 upgrading; ask again", CTL_ANSWER_AGAIN,
		  "upgrading; ask again", 1 },
		{ "error 30 x", CTL_ANSWER_ERROR, "x", 1 },
		{ "error 7", CTL_ANSWER_ERROR, "", 1 },
		{ "error oops", CTL_ANSWER_ERROR, "oops", 1 },
		/* An exit code is 2 only when the number says 2. */
		{ "error 4294967298 x", CTL_ANSWER_ERROR, "x", 1 },
		{ "okay", CTL_ANSWER_UNKNOWN, "okay", 1 },
		{ "dataset", CTL_ANSWER_UNKNOWN, "dataset", 1 },
		{ "", CTL_ANSWER_UNKNOWN, "", 1 },
	};
	const char *text;
	size_t i;
	int code;

	for (i = 0; i < NITEMS(cases); i++) {
		cr_expect_eq(ctl_parse_answer(cases[i].line, &text, &code),
		    cases[i].kind, "'%s'", cases[i].line);
		if (cases[i].text == NULL)
			cr_expect_null(text, "'%s'", cases[i].line);
		else {
			cr_assert_not_null(text, "'%s'", cases[i].line);
			cr_expect_str_eq(text, cases[i].text, "'%s'",
			    cases[i].line);
		}
		if (cases[i].kind == CTL_ANSWER_ERROR ||
		    cases[i].kind == CTL_ANSWER_AGAIN)
			cr_expect_eq(code, cases[i].code, "'%s'", cases[i].line);
	}
}
