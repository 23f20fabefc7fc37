/*
 * output.c: forward a worker's stdout and stderr to the supervisor's log.
 *
 * The pipe is non-blocking and read from the event loop; each complete line
 * is logged with the worker's prefix ("hello gen 3 pid 4121: ..."), whatever
 * log_level says. Control characters but tab, and bytes that are not UTF-8,
 * are escaped (\r, \x1b, ...), so a worker can neither drive the terminal
 * that shows the log nor forge a line of it. A line longer than
 * OUTPUT_LINE_MAX is logged in pieces marked with "...", so a child writing
 * one enormous line costs bounded memory.
 *
 * At rest an output costs a small struct and its read event: the pipe is
 * read into one buffer that every output shares (the loop reads one pipe at
 * a time), and only a partial line that waits for its end is kept, in
 * memory of its own size, freed once the line is complete.
 *
 * Budgets keep a worker flooding its output from costing the supervisor its
 * CPU, its log or its turn for other events:
 *   - a wakeup reads at most OUTPUT_WAKEUP_BYTES;
 *   - a second logs at most OUTPUT_SECOND_LINES lines and OUTPUT_SECOND_BYTES
 *     bytes; lines beyond are read and dropped, counted, and the count is
 *     logged once the second is over;
 *   - a second reads at most OUTPUT_SECOND_READ bytes; beyond, the pipe is
 *     not read until the second is over, so the worker waits on its own
 *     pipe instead of the supervisor spending a core to drop what it writes;
 *   - all outputs together (every worker of every generation) share a
 *     budget too, or N flooding workers would cost N times one's: a second
 *     reads at most OUTPUT_SHARED_READ bytes and logs at most
 *     OUTPUT_SHARED_LINES lines and OUTPUT_SHARED_BYTES bytes in all. Once
 *     it is spent, a pipe that wakes the loop is "held": not polled until
 *     the shared second is over (one timer, armed only then), so its worker
 *     waits on its full pipe. Nothing is dropped for this budget: a held
 *     worker's lines come later. So that floods do not starve a quiet
 *     worker's occasional line, a spare OUTPUT_SPARE_* past the budget is
 *     kept for outputs that are not flooding (not held since their pipe was
 *     last found empty) and read less than OUTPUT_QUIET_READ in their own
 *     second: their lines are read and logged at once.
 */
#include "autoconf.h"

#include <errno.h>
#include <event2/event.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "loopstat.h"
#include "output.h"

#define OUTPUT_LINE_MAX		3072	/* raw bytes of a logged piece */
#define OUTPUT_ESCAPED_MAX	4096	/* a piece once escaped */
#define OUTPUT_WAKEUP_BYTES	(16 * 1024)
#define OUTPUT_FINAL_BYTES	(64 * 1024)	/* read when the worker is gone */
#define OUTPUT_WINDOW_MS	1000
#define OUTPUT_SECOND_LINES	10000
#define OUTPUT_SECOND_BYTES	(1024 * 1024)
#define OUTPUT_SECOND_READ	(4 * 1024 * 1024)

/*
 * The budget of all outputs together, a second: what two workers flooding
 * at their own budget use. One such worker costs the supervisor about 2% of
 * a core and 1 MB of log a second (a plain -O2 build, README.md); all
 * floods together then cost at most about twice that, however many flood.
 * The spare, a quarter of it, is for the lines of workers that are not
 * flooding, each reading at most OUTPUT_QUIET_READ of it in its second:
 * 512 quiet workers' lines at once, while any number flood.
 */
#define OUTPUT_SHARED_LINES	(2 * OUTPUT_SECOND_LINES)
#define OUTPUT_SHARED_BYTES	(2 * OUTPUT_SECOND_BYTES)
#define OUTPUT_SHARED_READ	(2 * OUTPUT_SECOND_READ)
#define OUTPUT_SPARE_LINES	(OUTPUT_SHARED_LINES / 4)
#define OUTPUT_SPARE_BYTES	(OUTPUT_SHARED_BYTES / 4)
#define OUTPUT_SPARE_READ	(OUTPUT_SHARED_READ / 4)
#define OUTPUT_QUIET_READ	(4 * 1024)

struct output_block;

struct output {
	struct output_block *block;	/* where it lives */
	struct output	*next_free;	/* in the block, while not in use */
	struct event	*ev;		/* beside it, in its slot */
	struct event	*window_end;	/* timer: the second is over, or NULL */
	int		 fd;
	char		*partial;	/* a line without its end yet, or NULL */
	size_t		 len;		/* its length */
	bool		 continued;	/* the line continues a split one */
	bool		 dropping;	/* the line continues a dropped one */
	bool		 paused;	/* read budget spent: pipe not polled */
	bool		 held;		/* shared budget spent: not polled */
	bool		 flooding;	/* held since its pipe was last empty */
	TAILQ_ENTRY(output) held_entry;	/* in output_shared.held, if held */
	uint64_t	 window;	/* ms, when the current second began */
	size_t		 window_read;	/* bytes read in it */
	size_t		 window_bytes;	/* bytes logged in it */
	unsigned int	 window_lines;	/* lines logged in it */
	unsigned long	 dropped;	/* lines dropped, not yet reported */
	unsigned long long *dropped_total;	/* the owner's counter */
	char		*prefix;
	output_line_fn	 line_fn;	/* output_watch's, or NULL */
	void		*line_arg;
};

/*
 * Outputs live in blocks of OUTPUT_BLOCK_SLOTS slots, each slot an output
 * and its read event. A generation's outputs, made one after another,
 * share blocks, which go back to the allocator whole once the generation
 * is gone: the memory is not left in holes among what outlives them
 * (libevent's entry for each fd number it was given, say). A block holds
 * the outputs of one pool (the caller's: a generation) only: were a new
 * generation's outputs to fill the holes of an old one's blocks, those
 * would outlive it half empty, and a supervisor with 1000 workers would
 * keep some 200 KiB more after 30 reloads (28 blocks for 16).
 */
#define OUTPUT_BLOCK_SLOTS	64
#define OUTPUT_ALIGN(n)		(((n) + 15) & ~(size_t)15)

struct output_block {
	LIST_ENTRY(output_block) entry;
	const void	*pool;		/* whose outputs it holds */
	struct output	*free;		/* slots not in use */
	unsigned int	 used;
};
static LIST_HEAD(, output_block) output_blocks =
    LIST_HEAD_INITIALIZER(output_blocks);

static void	output_window_over(evutil_socket_t, short, void *);
static void	output_shared_over(evutil_socket_t, short, void *);

/* The budget all outputs share: the current second's use of it. */
static struct {
	uint64_t	 window;	/* ms, when the current second began */
	size_t		 read;		/* bytes read in it */
	size_t		 bytes;		/* bytes logged in it */
	unsigned int	 lines;		/* lines logged in it */
	bool		 held_last;	/* the last second held a pipe */
	struct event	*end;		/* timer: the second is over, or NULL */
	TAILQ_HEAD(, output) held;	/* outputs held until then */
} output_shared = { .held = TAILQ_HEAD_INITIALIZER(output_shared.held) };

/* The line being read, whichever output it is from; out->len bytes of it. */
static char	output_buf[OUTPUT_LINE_MAX];

/* The monotonic clock in milliseconds. */
static uint64_t
output_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/*
 * The length of the character at p if it may be shown as it is: printable
 * ASCII, tab, or a whole UTF-8 sequence of a character that is not a
 * control; 0 if its first byte must be escaped; -1 if it is the valid
 * start of a sequence that avail bytes cut short.
 */
static int
output_char_len(const unsigned char *p, size_t avail)
{
	uint32_t cp;
	int n, k;

	if (*p == '\t' || (*p >= 0x20 && *p < 0x7f))
		return 1;
	if (*p < 0xc2 || *p > 0xf4)	/* control, DEL, overlong, past U+10FFFF */
		return 0;
	n = *p >= 0xf0 ? 4 : *p >= 0xe0 ? 3 : 2;
	cp = *p & (0x7fu >> n);
	for (k = 1; k < n; k++) {
		if ((size_t)k >= avail)
			return -1;
		if ((p[k] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[k] & 0x3fu);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 ||
	    cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff) || cp < 0xa0)
		return 0;	/* overlong, surrogate, out of range, C1 control */
	return n;
}

/*
 * Copy text into dst (cap bytes), escaping what must not reach a terminal
 * as \r or \xHH. Stops before what would not fit; sets *used to the bytes
 * of text consumed and returns the length written.
 */
static size_t
output_escape(const char *text, size_t len, char *dst, size_t cap,
    size_t *used)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)text;
	size_t i = 0, n = 0;
	int k;

	while (i < len) {
		if ((k = output_char_len(p + i, len - i)) > 0) {
			if (n + (size_t)k > cap)
				break;
			memcpy(dst + n, p + i, (size_t)k);
			n += (size_t)k;
			i += (size_t)k;
			continue;
		}
		if (n + 4 > cap)
			break;
		dst[n++] = '\\';
		if (p[i] == '\r')
			dst[n++] = 'r';
		else {
			dst[n++] = 'x';
			dst[n++] = hex[p[i] >> 4];
			dst[n++] = hex[p[i] & 0xf];
		}
		i++;
	}
	*used = i;
	return n;
}

/* Log a piece of a line, escaped; more says the line goes on. */
static void
output_emit(struct output *out, const char *text, size_t len, bool more)
{
	char esc[OUTPUT_ESCAPED_MAX];
	size_t n, used;

	do {
		n = output_escape(text, len, esc, sizeof(esc), &used);
		text += used;
		len -= used;
		log_output("%s: %s%.*s%s", out->prefix, out->continued ? "..." :
		    "", (int)n, esc, more || len > 0 ? "..." : "");
		out->continued = more || len > 0;
	} while (len > 0);
}

/* Log how many lines were dropped since the last report. */
static void
output_report_dropped(struct output *out)
{
	if (out->dropped == 0)
		return;
	log_warnx("%s: dropped %lu line%s of output (over the budget of %d "
	    "lines or %d KiB a second)", out->prefix, out->dropped,
	    out->dropped == 1 ? "" : "s", OUTPUT_SECOND_LINES,
	    OUTPUT_SECOND_BYTES / 1024);
	out->dropped = 0;
}

/* Arm the timer that ends the current second, unless it is armed. */
static void
output_arm_window_end(struct output *out)
{
	uint64_t ran = output_now_ms() - out->window;
	struct timeval tv = { 0, 0 };

	/* Made the first time a budget is spent, kept until output_free. */
	if (out->window_end == NULL && (out->window_end = evtimer_new(
	    event_get_base(out->ev), output_window_over, out)) == NULL) {
		log_warnx("%s: cannot make a timer for the output budget",
		    out->prefix);
		return;
	}
	if (evtimer_pending(out->window_end, NULL))
		return;
	if (ran < OUTPUT_WINDOW_MS)
		tv.tv_usec = (suseconds_t)(OUTPUT_WINDOW_MS - ran) * 1000;
	if (evtimer_add(out->window_end, &tv) == -1)
		log_warnx("%s: cannot arm a timer for the output budget",
		    out->prefix);
}

/* A new second of budget: report what the last one dropped, read again. */
static void
output_window_reset(struct output *out)
{
	output_report_dropped(out);
	out->window = output_now_ms();
	out->window_read = out->window_bytes = 0;
	out->window_lines = 0;
	if (out->window_end != NULL)
		evtimer_del(out->window_end);
	if (out->paused && (out->held || event_add(out->ev, NULL) == 0))
		out->paused = false;
}

/*
 * A new second of the shared budget: poll the held pipes again, in the
 * order they were held.
 */
static void
output_shared_reset(void)
{
	struct output *out;

	output_shared.window = output_now_ms();
	output_shared.read = output_shared.bytes = 0;
	output_shared.lines = 0;
	output_shared.held_last = !TAILQ_EMPTY(&output_shared.held);
	if (output_shared.end != NULL)
		evtimer_del(output_shared.end);
	while ((out = TAILQ_FIRST(&output_shared.held)) != NULL) {
		TAILQ_REMOVE(&output_shared.held, out, held_entry);
		out->held = false;
		if (!out->paused && event_add(out->ev, NULL) == -1)
			log_warnx("%s: cannot poll the output pipe again",
			    out->prefix);
	}
}

/* Timer: the shared second is over. */
static void
output_shared_over(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	loopstat_mark("worker output");
	output_shared_reset();
}

/*
 * Whether out may read now, and how much (*cap): within the shared budget,
 * or, past it, within the spare if out is quiet.
 */
static bool
output_shared_allows(const struct output *out, size_t *cap)
{
	if (output_shared.read < OUTPUT_SHARED_READ &&
	    output_shared.lines < OUTPUT_SHARED_LINES &&
	    output_shared.bytes < OUTPUT_SHARED_BYTES)
		return true;
	if (out->flooding || out->window_read >= OUTPUT_QUIET_READ ||
	    output_shared.read >= OUTPUT_SHARED_READ + OUTPUT_SPARE_READ ||
	    output_shared.lines >= OUTPUT_SHARED_LINES + OUTPUT_SPARE_LINES ||
	    output_shared.bytes >= OUTPUT_SHARED_BYTES + OUTPUT_SPARE_BYTES)
		return false;
	if (*cap > OUTPUT_QUIET_READ - out->window_read)
		*cap = OUTPUT_QUIET_READ - out->window_read;
	return true;
}

/*
 * The shared budget is spent: stop polling out's pipe until the shared
 * second is over. Said once when pipes begin to be held.
 */
static void
output_hold(struct output *out)
{
	uint64_t ran = output_now_ms() - output_shared.window;
	struct timeval tv = { 0, 0 };

	if (output_shared.end == NULL && (output_shared.end = evtimer_new(
	    event_get_base(out->ev), output_shared_over, NULL)) == NULL) {
		log_warnx("%s: cannot make a timer for the shared output "
		    "budget", out->prefix);
		return;
	}
	if (!evtimer_pending(output_shared.end, NULL)) {
		if (ran < OUTPUT_WINDOW_MS)
			tv.tv_usec = (suseconds_t)(OUTPUT_WINDOW_MS - ran) *
			    1000;
		if (evtimer_add(output_shared.end, &tv) == -1) {
			log_warnx("%s: cannot arm a timer for the shared "
			    "output budget", out->prefix);
			return;
		}
		if (!output_shared.held_last)
			log_warnx("worker output over the budget of all "
			    "workers together (%d lines, %d KiB logged or %d "
			    "MiB read a second): their pipes are read more "
			    "slowly",
			    OUTPUT_SHARED_LINES, OUTPUT_SHARED_BYTES / 1024,
			    OUTPUT_SHARED_READ / (1024 * 1024));
	}
	event_del(out->ev);
	out->held = out->flooding = true;
	TAILQ_INSERT_TAIL(&output_shared.held, out, held_entry);
}

/* out is gone or at its end: not held any more. */
static void
output_unhold(struct output *out)
{
	if (!out->held)
		return;
	TAILQ_REMOVE(&output_shared.held, out, held_entry);
	out->held = false;
}

/* Timer: the second is over. */
static void
output_window_over(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	loopstat_mark("worker output");
	output_window_reset(arg);
}

/* Log a piece of a line (more: the line goes on), or drop it if over budget. */
static void
output_line(struct output *out, const char *text, size_t len, bool more)
{
	/* Watched lines are seen even when the budget drops them. */
	if (out->line_fn != NULL)
		out->line_fn(out->line_arg, text, len);
	if (out->dropping) {
		/* The rest of a line already counted as dropped. */
		out->dropping = more;
		return;
	}
	if (out->window_lines >= OUTPUT_SECOND_LINES ||
	    out->window_bytes + len > OUTPUT_SECOND_BYTES) {
		out->dropped++;
		(*out->dropped_total)++;
		out->dropping = more;
		out->continued = false;
		output_arm_window_end(out);
		return;
	}
	out->window_lines++;
	out->window_bytes += len;
	output_shared.lines++;
	output_shared.bytes += len;
	output_emit(out, text, len, more);
}

/* Where to cut a full buffer: not inside a UTF-8 sequence. */
static size_t
output_cut(const char *buf, size_t len)
{
	const unsigned char *p = (const unsigned char *)buf;
	size_t k;

	for (k = 1; k <= 3 && k <= len; k++) {
		if ((p[len - k] & 0xc0) == 0x80)
			continue;
		if (output_char_len(p + len - k, k) == -1)
			return len - k;
		break;
	}
	return len;
}

/* Log every complete line in output_buf, keep the rest there. */
static void
output_split(struct output *out)
{
	char *start = output_buf, *end = output_buf + out->len, *nl;
	size_t used, cut;

	while ((nl = memchr(start, '\n', (size_t)(end - start))) != NULL) {
		used = (size_t)(nl - start);
		if (used > 0 && start[used - 1] == '\r')
			used--;
		output_line(out, start, used, false);
		start = nl + 1;
	}
	out->len = (size_t)(end - start);
	memmove(output_buf, start, out->len);
	if (out->len == sizeof(output_buf)) {
		cut = output_cut(output_buf, out->len);
		output_line(out, output_buf, cut, true);
		out->len -= cut;
		memmove(output_buf, output_buf + cut, out->len);
	}
}

/* Put out's partial line, if any, at the start of output_buf. */
static void
output_load(struct output *out)
{
	if (out->partial == NULL)
		return;
	memcpy(output_buf, out->partial, out->len);
	free(out->partial);
	out->partial = NULL;
}

/*
 * Keep the partial line left in output_buf until its end comes. Without
 * the memory for it, log it now as a piece of a split line.
 */
static void
output_keep(struct output *out)
{
	if (out->len == 0)
		return;
	if ((out->partial = malloc(out->len)) == NULL) {
		output_line(out, output_buf, out->len, true);
		out->len = 0;
		return;
	}
	memcpy(out->partial, output_buf, out->len);
}

/*
 * Read up to limit bytes of what the worker wrote; with budget, stop
 * polling the pipe for the rest of the second once it read its share.
 */
static void
output_pull(struct output *out, size_t limit, bool budget)
{
	size_t got = 0, cap;
	uint64_t now = output_now_ms();
	ssize_t n;

	if (now - out->window >= OUTPUT_WINDOW_MS)
		output_window_reset(out);
	if (now - output_shared.window >= OUTPUT_WINDOW_MS)
		output_shared_reset();
	output_load(out);
	while (got < limit) {
		if (budget && out->window_read >= OUTPUT_SECOND_READ) {
			event_del(out->ev);
			out->paused = true;
			output_arm_window_end(out);
			break;
		}
		cap = sizeof(output_buf) - out->len;
		if (budget && !output_shared_allows(out, &cap)) {
			output_hold(out);
			break;
		}
		n = read(out->fd, output_buf + out->len, cap);
		if (n > 0) {
			out->len += (size_t)n;
			out->window_read += (size_t)n;
			output_shared.read += (size_t)n;
			got += (size_t)n;
			output_split(out);
			continue;
		}
		if (n == -1 && errno == EAGAIN)
			out->flooding = false;	/* it wrote less than was read */
		if (n == -1 && (errno == EAGAIN || errno == EINTR))
			break;
		/*
		 * EOF or error: the worker and its children closed the pipe.
		 * Closed now, when each exit comes, rather than with the rest
		 * of a generation's when it is freed.
		 */
		if (out->len > 0)
			output_line(out, output_buf, out->len, false);
		out->len = 0;
		event_del(out->ev);
		output_unhold(out);
		close(out->fd);
		out->fd = -1;
		break;
	}
	output_keep(out);
}

/* Event callback: read what the worker wrote. */
static void
output_read(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	loopstat_mark("worker output");
	output_pull(arg, OUTPUT_WAKEUP_BYTES, true);
}

/* The size of a slot: an output and a struct event, each aligned. */
static size_t
output_slot_size(void)
{
	return OUTPUT_ALIGN(sizeof(struct output)) +
	    OUTPUT_ALIGN(event_get_struct_event_size());
}

/*
 * A zeroed output in a block of pool's, its ev pointing at the room for its
 * event; NULL if none.
 */
static struct output *
output_alloc(const void *pool)
{
	size_t slot = output_slot_size(), i;
	struct output_block *b;
	struct output *out;
	char *first;

	LIST_FOREACH(b, &output_blocks, entry)
		if (b->free != NULL && b->pool == pool)
			break;
	if (b == NULL) {
		if ((b = malloc(OUTPUT_ALIGN(sizeof(*b)) +
		    OUTPUT_BLOCK_SLOTS * slot)) == NULL)
			return NULL;
		first = (char *)b + OUTPUT_ALIGN(sizeof(*b));
		b->pool = pool;
		b->free = NULL;
		b->used = 0;
		for (i = OUTPUT_BLOCK_SLOTS; i-- > 0; ) {
			out = (struct output *)(first + i * slot);
			out->next_free = b->free;
			b->free = out;
		}
		LIST_INSERT_HEAD(&output_blocks, b, entry);
	}
	out = b->free;
	b->free = out->next_free;
	b->used++;
	memset(out, 0, slot);
	out->block = b;
	out->ev = (struct event *)((char *)out +
	    OUTPUT_ALIGN(sizeof(struct output)));
	return out;
}

/* Give an output's slot back; a block none uses goes back whole. */
static void
output_release(struct output *out)
{
	struct output_block *b = out->block;

	output_unhold(out);
	free(out->prefix);
	out->next_free = b->free;
	b->free = out;
	if (--b->used == 0) {
		LIST_REMOVE(b, entry);
		free(b);
	}
	/* The last output gone: the shared timer goes too (and its loop may). */
	if (LIST_EMPTY(&output_blocks) && output_shared.end != NULL) {
		event_free(output_shared.end);
		output_shared.end = NULL;
	}
}

/*
 * Start forwarding fd (takes ownership of it) with the given prefix. Lines
 * dropped over the budget are added to *dropped, which must outlive out.
 * Outputs of one pool (any pointer: their generation's, say) share
 * blocks of memory with each other only.
 */
struct output *
output_new(struct event_base *base, int fd, const char *prefix,
    unsigned long long *dropped, const void *pool)
{
	struct output *out;

	if ((out = output_alloc(pool)) == NULL)
		return NULL;
	out->fd = fd;
	out->dropped_total = dropped;
	out->window = output_now_ms();
	if ((out->prefix = strdup(prefix)) == NULL ||
	    event_assign(out->ev, base, fd, EV_READ | EV_PERSIST, output_read,
	    out) == -1 || event_add(out->ev, NULL) == -1) {
		output_release(out);
		return NULL;
	}
	return out;
}

/*
 * Read what is left (within the line budget), log a last partial line and
 * the count of dropped lines, close the pipe and free.
 */
void
output_free(struct output *out)
{
	if (out == NULL)
		return;
	if (out->fd != -1)
		output_pull(out, OUTPUT_FINAL_BYTES, false);
	if (out->len > 0)
		output_line(out, out->partial, out->len, false);
	output_report_dropped(out);
	event_del(out->ev);
	if (out->window_end != NULL)
		event_free(out->window_end);
	if (out->fd != -1)
		close(out->fd);
	free(out->partial);
	output_release(out);
}

/* Read what the worker wrote so far (within the line budget), now. */
void
output_read_now(struct output *out)
{
	if (out != NULL && out->fd != -1)
		output_pull(out, OUTPUT_FINAL_BYTES, false);
}

/* Log a partial line now (before an upgrade's exec); the pipe stays open. */
void
output_flush(struct output *out)
{
	if (out == NULL)
		return;
	/* "..." at its end: the rest comes after the exec. */
	if (out->len > 0)
		output_line(out, out->partial, out->len, true);
	out->len = 0;
	output_report_dropped(out);
}

/* The pipe an output reads, or -1. */
int
output_fd(const struct output *out)
{
	return out != NULL ? out->fd : -1;
}

/*
 * Have fn called with every line the worker writes from now on (pieces of
 * an overlong one each on their own), as read, before it is escaped for
 * the log; fn NULL stops it. fn may call output_watch but not free out.
 */
void
output_watch(struct output *out, output_line_fn fn, void *arg)
{
	out->line_fn = fn;
	out->line_arg = arg;
}
