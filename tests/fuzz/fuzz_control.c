/*
 * fuzz_control.c: libFuzzer target for the control protocol, both ways.
 * The input is what arrives on a control connection:
 *
 *   - as the supervisor reads it: the first line (up to '\n', as the server
 *     reads it from its buffer) goes to control_parse_request;
 *   - as the CLI reads the supervisor's answer: line after line goes to
 *     ctl_parse_answer, up to the final "ok" or "error".
 *
 * Besides the sanitizers, it checks that a parsed request carries what its
 * command needs, inside the line, and that an answer always has a text and
 * an exit code of 1 or 2 for an error.
 */
#include "autoconf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "control.h"
#include "ctl.h"

int	LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Stop here with a message: libFuzzer saves the input as a crash. */
static void
fuzz_fail(const char *what)
{
	fprintf(stderr, "fuzz_control: %s\n", what);
	abort();
}

/* A copy of len bytes, NUL-terminated, as evbuffer_readln and getline give. */
static char *
fuzz_line(const uint8_t *data, size_t len)
{
	char *line;

	if ((line = malloc(len + 1)) == NULL)
		fuzz_fail("out of memory");
	memcpy(line, data, len);
	line[len] = '\0';
	return line;
}

/* Tell whether s points into the len + 1 bytes at line. */
static int
fuzz_inside(const char *s, const char *line, size_t len)
{
	return s >= line && s <= line + len;
}

/* The supervisor's side: the request line, if one is complete. */
static void
fuzz_request(const uint8_t *data, size_t size)
{
	struct control_request req;
	const uint8_t *nl = memchr(data, '\n', size);
	const char *bad;
	char *line;
	size_t len;

	if (nl == NULL)
		return;		/* the server waits for more */
	len = (size_t)(nl - data);
	line = fuzz_line(data, len);
	bad = control_parse_request(line, len, &req);
	if (bad != NULL) {
		if (*bad == '\0')
			fuzz_fail("an empty error text");
		free(line);
		return;
	}
	if (req.word == NULL || !fuzz_inside(req.word, line, len))
		fuzz_fail("a request without its command word");
	switch (req.command) {
	case CONTROL_RELOAD:
		if (req.program != NULL && (!fuzz_inside(req.program, line,
		    len) || *req.program == '\0'))
			fuzz_fail("a reload of a bad program name");
		if (req.nowait && req.takeover)
			fuzz_fail("a reload both nowait and takeover");
		break;
	case CONTROL_STOP:
		if (req.stop_ms < -1 || req.stop_ms > 168LL * 3600 * 1000)
			fuzz_fail("a stop timeout out of range");
		break;
	case CONTROL_FDS:
		if (req.name == NULL || !fuzz_inside(req.name, line, len) ||
		    *req.name == '\0')
			fuzz_fail("fds without a name");
		break;
	case CONTROL_UPGRADE:
		if (req.name != NULL && (!fuzz_inside(req.name, line, len) ||
		    *req.name != '/'))
			fuzz_fail("an upgrade to a path not absolute");
		break;
	case CONTROL_STATUS:
	case CONTROL_VERSION:
		break;
	default:
		fuzz_fail("an unknown command parsed");
	}
	free(line);
}

/* The CLI's side: answer lines up to the last. */
static void
fuzz_answer(const uint8_t *data, size_t size)
{
	const uint8_t *nl;
	const char *text;
	enum ctl_answer kind = CTL_ANSWER_DATA;
	char *line;
	size_t len;
	int code;

	while (size > 0 && (kind == CTL_ANSWER_DATA ||
	    kind == CTL_ANSWER_PROGRESS)) {
		nl = memchr(data, '\n', size);
		len = nl != NULL ? (size_t)(nl - data) : size;
		line = fuzz_line(data, len);
		kind = ctl_parse_answer(line, &text, &code);
		if (text == NULL ? kind != CTL_ANSWER_OK :
		    !fuzz_inside(text, line, len) && *text != '\0')
			fuzz_fail("an answer without its text");
		if (kind == CTL_ANSWER_ERROR && code != 1 && code != 2)
			fuzz_fail("an error with an exit code other than 1 or 2");
		free(line);
		len += nl != NULL;
		data += len;
		size -= len;
	}
}

/* One input: the bytes of a control connection. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_request(data, size);
	fuzz_answer(data, size);
	return 0;
}
