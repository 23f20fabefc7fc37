/*
 * state.c: the supervisor's state as versioned line text (see state.h):
 * a writer into a sealed memfd, and a reader.
 */
#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cause.h"
#include "state.h"

/* The largest state read (a 1 MiB config, escaped, and the rest). */
#define STATE_MAX_BYTES	(8 * 1024 * 1024)

/* Start building a state. 0, or -1 (out of memory). */
int
state_writer_open(struct state_writer *w)
{
	memset(w, 0, sizeof(*w));
	if ((w->fp = open_memstream(&w->buf, &w->len)) == NULL)
		return -1;
	fprintf(w->fp, "%s %d", STATE_MAGIC, STATE_VERSION);
	return 0;
}

/* Begin a record of kind (ends the one before). */
void
state_rec(struct state_writer *w, const char *kind)
{
	if (ftell(w->fp) > 0)
		fputc('\n', w->fp);
	fputs(kind, w->fp);
}

/* Write len bytes escaped: outside '!'..'~', '%' and '=' become %XX. */
static void
state_escape(FILE *fp, const char *s, size_t len)
{
	const unsigned char *p, *end = (const unsigned char *)s + len;

	for (p = (const unsigned char *)s; p < end; p++) {
		if (*p < '!' || *p > '~' || *p == '%' || *p == '=')
			fprintf(fp, "%%%02X", *p);
		else
			fputc(*p, fp);
	}
}

/* Add KEY=VALUE to the record; a NULL value is left out. */
void
state_str(struct state_writer *w, const char *key, const char *val)
{
	if (val == NULL)
		return;
	state_mem(w, key, val, strlen(val));
}

/* Add KEY=VALUE, the value len bytes (not NUL-terminated). */
void
state_mem(struct state_writer *w, const char *key, const char *val,
    size_t len)
{
	fprintf(w->fp, " %s=", key);
	state_escape(w->fp, val, len);
}

/* Add a number. */
void
state_int(struct state_writer *w, const char *key, long long val)
{
	fprintf(w->fp, " %s=%lld", key, val);
}

/* Add an fd that crosses the exec (key ends in "fd"); -1 is left out. */
void
state_fd(struct state_writer *w, const char *key, int fd)
{
	int *grown;

	if (fd < 0)
		return;
	if (w->nfds == w->capfds) {
		grown = reallocarray(w->fds, w->capfds * 2 + 16, sizeof(*grown));
		if (grown == NULL) {
			w->failed = true;
			return;
		}
		w->fds = grown;
		w->capfds = w->capfds * 2 + 16;
	}
	w->fds[w->nfds++] = fd;
	state_int(w, key, fd);
}

/* Add a CLOCK_MONOTONIC time as SEC.NSEC. */
void
state_time(struct state_writer *w, const char *key, const struct timespec *ts)
{
	fprintf(w->fp, " %s=%lld.%09ld", key, (long long)ts->tv_sec,
	    ts->tv_nsec);
}

/*
 * End the state and put it in a sealed memfd: *fdp gets it (CLOEXEC,
 * the caller's). -1 with *cause.
 */
int
state_writer_seal(struct state_writer *w, int *fdp, char **cause)
{
	size_t off = 0;
	ssize_t n;
	int fd;

	fputs("\nend\n", w->fp);
	if (fclose(w->fp) != 0 || w->failed) {
		w->fp = NULL;
		*cause = strdup("cannot write the state: out of memory");
		return -1;
	}
	w->fp = NULL;
	fd = memfd_create("handoff-state", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd == -1) {
		cause_set(cause, "cannot make the state file: %s",
		    strerror(errno));
		return -1;
	}
	while (off < w->len) {
		if ((n = write(fd, w->buf + off, w->len - off)) == -1) {
			if (errno == EINTR)
				continue;
			cause_set(cause, "cannot write the state: %s",
			    strerror(errno));
			close(fd);
			return -1;
		}
		off += (size_t)n;
	}
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW |
	    F_SEAL_WRITE | F_SEAL_SEAL) == -1) {
		cause_set(cause, "cannot seal the state: %s", strerror(errno));
		close(fd);
		return -1;
	}
	*fdp = fd;
	return 0;
}

/* Free what the writer holds. */
void
state_writer_free(struct state_writer *w)
{
	if (w->fp != NULL)
		fclose(w->fp);
	free(w->buf);
	free(w->fds);
	memset(w, 0, sizeof(*w));
}

/* Value of a hex digit, or -1. */
static int
state_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Unescape s (len bytes) into a new string; NULL if bad or no memory. */
static char *
state_unescape(const char *s, size_t len)
{
	char *out = malloc(len + 1), *o = out;
	size_t i;
	int hi, lo;

	if (out == NULL)
		return NULL;
	for (i = 0; i < len; i++) {
		if (s[i] != '%') {
			*o++ = s[i];
			continue;
		}
		if (i + 2 >= len || (hi = state_hex(s[i + 1])) < 0 ||
		    (lo = state_hex(s[i + 2])) < 0) {
			free(out);
			return NULL;
		}
		*o++ = (char)(hi * 16 + lo);
		i += 2;
	}
	*o = '\0';
	return out;
}

/* Free one record's strings. */
static void
state_rec_free(struct state_rec *r)
{
	size_t i;

	for (i = 0; i < r->n; i++) {
		free(r->keys[i]);
		free(r->vals[i]);
	}
	free(r->keys);
	free(r->vals);
	free(r->kind);
}

/* Parse one record line (no newline); -1 if malformed or no memory. */
static int
state_parse_line(const char *line, size_t len, struct state_rec *r)
{
	const char *p = line, *end = line + len, *word, *eq;
	size_t wlen;

	memset(r, 0, sizeof(*r));
	while (p < end) {
		while (p < end && *p == ' ')
			p++;
		if (p == end)
			break;
		word = p;
		while (p < end && *p != ' ')
			p++;
		wlen = (size_t)(p - word);
		if (r->kind == NULL) {
			if ((r->kind = strndup(word, wlen)) == NULL)
				return -1;
			continue;
		}
		if ((eq = memchr(word, '=', wlen)) == NULL || eq == word)
			return -1;
		if ((r->n & 7) == 0) {
			char **k = reallocarray(r->keys, r->n + 8, sizeof(*k));
			char **v;

			if (k == NULL)
				return -1;
			r->keys = k;
			if ((v = reallocarray(r->vals, r->n + 8, sizeof(*v))) == NULL)
				return -1;
			r->vals = v;
		}
		r->keys[r->n] = strndup(word, (size_t)(eq - word));
		r->vals[r->n] = state_unescape(eq + 1, wlen - (size_t)(eq - word) - 1);
		if (r->keys[r->n] == NULL || r->vals[r->n] == NULL) {
			free(r->keys[r->n]);
			free(r->vals[r->n]);
			return -1;
		}
		r->n++;
	}
	return r->kind == NULL ? -1 : 0;
}

/*
 * Parse a state's text. 0, or -1 with *cause: not a state, a newer major
 * version than this binary reads, malformed, or cut short (no "end").
 */
int
state_parse(const char *text, size_t len, struct state *st, char **cause)
{
	const char *p = text, *end = text + len, *nl;
	struct state_rec r, *grown;
	bool ended = false;
	unsigned long v;
	char *vend;
	size_t n, lineno = 1, cap = 0;

	memset(st, 0, sizeof(*st));
	n = strlen(STATE_MAGIC);
	if (len < n + 2 || memcmp(text, STATE_MAGIC " ", n + 1) != 0) {
		*cause = strdup("not a handoff state (no " STATE_MAGIC " line)");
		return -1;
	}
	errno = 0;
	v = strtoul(text + n + 1, &vend, 10);
	if (errno != 0 || vend == text + n + 1 || v > UINT_MAX) {
		*cause = strdup("the state's version is not a number");
		return -1;
	}
	if (v > STATE_VERSION) {
		cause_set(cause, "the state is of format version %lu, newer than "
		    "this binary reads (%d)", v, STATE_VERSION);
		return -1;
	}
	st->version = (unsigned int)v;
	if ((nl = memchr(p, '\n', len)) == NULL)
		goto short_state;
	p = nl + 1;
	while (p < end) {
		lineno++;
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		if (nl - p == 3 && memcmp(p, "end", 3) == 0) {
			ended = true;
			break;
		}
		if (nl == p) {
			p = nl + 1;
			continue;
		}
		if (state_parse_line(p, (size_t)(nl - p), &r) == -1) {
			state_rec_free(&r);
			cause_set(cause, "the state is malformed at line %zu",
			    lineno);
			state_free(st);
			return -1;
		}
		if (st->nrecs == cap) {
			cap = cap * 2 + 32;
			if ((grown = reallocarray(st->recs, cap,
			    sizeof(*grown))) == NULL) {
				state_rec_free(&r);
				state_free(st);
				*cause = strdup("out of memory");
				return -1;
			}
			st->recs = grown;
		}
		st->recs[st->nrecs++] = r;
		p = nl + 1;
	}
	if (ended)
		return 0;
short_state:
	state_free(st);
	*cause = strdup("the state is cut short (no end line)");
	return -1;
}

/* Read and parse the state in fd (from its start; the offset is kept). */
int
state_read_fd(int fd, struct state *st, char **cause)
{
	struct stat sb;
	char *text;
	size_t off = 0;
	ssize_t n;
	int rc;

	if (fstat(fd, &sb) == -1) {
		cause_set(cause, "state fd %d: %s", fd, strerror(errno));
		return -1;
	}
	if (sb.st_size <= 0 || sb.st_size > STATE_MAX_BYTES) {
		cause_set(cause, "state fd %d: not a state (%lld bytes)", fd,
		    (long long)sb.st_size);
		return -1;
	}
	if ((text = malloc((size_t)sb.st_size)) == NULL) {
		*cause = strdup("out of memory");
		return -1;
	}
	while (off < (size_t)sb.st_size) {
		n = pread(fd, text + off, (size_t)sb.st_size - off, (off_t)off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			cause_set(cause, "state fd %d: %s", fd, n == 0 ?
			    "cut short" : strerror(errno));
			free(text);
			return -1;
		}
		off += (size_t)n;
	}
	rc = state_parse(text, off, st, cause);
	free(text);
	return rc;
}

/* Free a parsed state. */
void
state_free(struct state *st)
{
	size_t i;

	for (i = 0; i < st->nrecs; i++)
		state_rec_free(&st->recs[i]);
	free(st->recs);
	memset(st, 0, sizeof(*st));
}

/* The value of key in r, or NULL. */
const char *
state_get(const struct state_rec *r, const char *key)
{
	size_t i;

	for (i = 0; i < r->n; i++)
		if (strcmp(r->keys[i], key) == 0)
			return r->vals[i];
	return NULL;
}

/* The number at key in r, or def if absent or not a number. */
long long
state_get_int(const struct state_rec *r, const char *key, long long def)
{
	const char *s = state_get(r, key);
	long long v;
	char *end;

	if (s == NULL || *s == '\0')
		return def;
	errno = 0;
	v = strtoll(s, &end, 10);
	return errno != 0 || *end != '\0' ? def : v;
}

/* The SEC.NSEC time at key in r; false if absent or malformed. */
bool
state_get_time(const struct state_rec *r, const char *key, struct timespec *ts)
{
	const char *s = state_get(r, key);
	long long sec, nsec;
	char *end;

	if (s == NULL)
		return false;
	errno = 0;
	sec = strtoll(s, &end, 10);
	if (errno != 0 || *end != '.')
		return false;
	nsec = strtoll(end + 1, &end, 10);
	if (errno != 0 || *end != '\0' || nsec < 0 || nsec >= 1000000000)
		return false;
	ts->tv_sec = (time_t)sec;
	ts->tv_nsec = (long)nsec;
	return true;
}

/* Every fd the state names (keys ending in "fd"), up to max; the count. */
size_t
state_fds(const struct state *st, int *fds, size_t max)
{
	size_t i, k, n = 0, klen;
	long long v;

	for (i = 0; i < st->nrecs; i++)
		for (k = 0; k < st->recs[i].n; k++) {
			klen = strlen(st->recs[i].keys[k]);
			if (klen < 2 || strcmp(st->recs[i].keys[k] + klen - 2,
			    "fd") != 0)
				continue;
			v = state_get_int(&st->recs[i], st->recs[i].keys[k], -1);
			if (v >= 0 && v <= INT_MAX && n < max)
				fds[n++] = (int)v;
		}
	return n;
}
