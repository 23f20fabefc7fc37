/*
 * load.c: load for integration tests (see load.h).
 *
 * One thread per TCP client or UDP sender. A TCP client makes one request
 * after the other, each on a new connection (support_http_request), as
 * fast as the server answers: a closed loop, so that a slow server queues
 * no more connections than there are clients. A UDP sender sends
 * "seq=ID-N", waits up to LOAD_UDP_DEADLINE_MS for the reply that echoes
 * it (a reply to an earlier datagram that comes later counts as late, not
 * as an answer to this one, and that datagram as lost no more: it was
 * served, slowly), then waits for its next turn at its steady rate. Every
 * result is counted under the load's lock, which wakes load_wait_progress.
 * The load's eventfd, written by load_stop, ends a sender's wait for its
 * next turn at once.
 */
#include "autoconf.h"

#include <errno.h>
#include <net/if.h>
#include <netdb.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "load.h"
#include "support.h"

/* Nanoseconds on the monotonic clock. */
static long long
load_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Lock the counts while threads may write them (only then is there a lock). */
static void
load_lock(struct load *ld)
{
	if (ld->running)
		pthread_mutex_lock(&ld->lock);
}

/* Undo load_lock. */
static void
load_unlock(struct load *ld)
{
	if (ld->running)
		pthread_mutex_unlock(&ld->lock);
}

/* A support_http result as a load outcome. */
static enum load_outcome
load_from_http(int rc)
{
	switch (rc) {
	case SUPPORT_HTTP_OK:
		return LOAD_OK;
	case SUPPORT_HTTP_REFUSED:
		return LOAD_REFUSED;
	case SUPPORT_HTTP_RESET:
		return LOAD_RESET;
	case SUPPORT_HTTP_SHORT:
		return LOAD_SHORT;
	case SUPPORT_HTTP_TIMEOUT:
		return LOAD_TIMEOUT;
	case SUPPORT_HTTP_BAD:
		return LOAD_BAD;
	default:
		return LOAD_OTHER;
	}
}

/* The name of an outcome, for messages. */
const char *
load_outcome_name(enum load_outcome outcome)
{
	static const char *const names[] = {
		[LOAD_OK] = "ok",
		[LOAD_REFUSED] = "refused",
		[LOAD_RESET] = "reset",
		[LOAD_SHORT] = "short",
		[LOAD_TIMEOUT] = "timed out",
		[LOAD_BAD] = "bad",
		[LOAD_OTHER] = "other",
		[LOAD_LOST] = "lost",
	};

	if ((int)outcome < 0 || outcome >= LOAD_OUTCOMES)
		return "?";
	return names[outcome];
}

/*
 * The number after " key=" (or "key=" at the start) in text: -1 if there is
 * none or it is not a number ("worker=-" of a server run by hand).
 */
static long
load_field(const char *text, const char *key)
{
	size_t klen = strlen(key);
	const char *at = text;
	char *end;
	long v;

	while ((at = strstr(at, key)) != NULL &&
	    at != text && at[-1] != ' ')
		at += klen;
	if (at == NULL)
		return -1;
	errno = 0;
	v = strtol(at + klen, &end, 10);
	if (end == at + klen || errno != 0 || v < 0)
		return -1;
	return v;
}

/* Parse a worker's answer "gen=G pid=PID worker=W ..."; -1 if it is not one. */
static int
load_parse_answer(const char *text, struct load_answerer *who)
{
	if (text == NULL || strncmp(text, "gen=", 4) != 0)
		return -1;
	who->pid = (pid_t)load_field(text, "pid=");
	who->gen = (int)load_field(text, "gen=");
	who->worker = (int)load_field(text, "worker=");
	who->count = 1;
	return who->pid > 0 ? 0 : -1;
}

/* Count an answer from who in the table (lock held). */
static void
load_count_answerer(struct load *ld, const struct load_answerer *who)
{
	int i;

	for (i = 0; i < ld->nanswerers; i++) {
		if (ld->answerers[i].pid == who->pid &&
		    ld->answerers[i].worker == who->worker) {
			ld->answerers[i].count++;
			return;
		}
	}
	if (ld->nanswerers == LOAD_MAX_ANSWERERS) {
		ld->unlisted++;
		return;
	}
	ld->answerers[ld->nanswerers++] = *who;
}

/*
 * Count one result: its outcome, who answered (if LOAD_OK), the text of the
 * first failure; wake load_wait_progress.
 */
static void
load_record(struct load *ld, enum load_outcome outcome,
    const struct load_answerer *who, const char *failure)
{
	pthread_mutex_lock(&ld->lock);
	ld->results[outcome]++;
	ld->total++;
	if (outcome == LOAD_OK)
		load_count_answerer(ld, who);
	else if (ld->first_failure[0] == '\0')
		snprintf(ld->first_failure, sizeof(ld->first_failure), "%s",
		    failure);
	pthread_cond_broadcast(&ld->progress);
	pthread_mutex_unlock(&ld->lock);
}

/* Milliseconds since the load started, for failure messages. */
static long long
load_elapsed_ms(const struct load *ld)
{
	return support_now_ms() - ld->started_ms;
}

/* A TCP client thread: GET / on new connections until told to stop. */
static void *
load_tcp_client(void *arg)
{
	struct load_thread *t = arg;
	struct load *ld = t->ld;
	struct load_answerer who = { 0 };
	enum load_outcome outcome;
	char failure[256] = "", *body;
	int rc;

	while (!atomic_load(&ld->stop)) {
		rc = support_http_request((struct sockaddr *)&ld->addr,
		    ld->addrlen, "/", &body);
		outcome = load_from_http(rc);
		if (outcome == LOAD_OK && load_parse_answer(body, &who) == -1)
			outcome = LOAD_BAD;
		if (outcome != LOAD_OK)
			snprintf(failure, sizeof(failure), "client %d at +%lldms: "
			    "%s (body \"%.60s\")", t->id, load_elapsed_ms(ld),
			    outcome == LOAD_BAD ? "not a worker's answer" :
			    support_http_name(rc), body ? body : "");
		load_record(ld, outcome, &who, failure);
		free(body);
	}
	return NULL;
}

/*
 * Wait for the reply to datagram "seq=ID-N" on fd until the deadline, even
 * when the load is being stopped: a datagram sent is counted, and its
 * reply does not come to a closed port. The outcome, with the answerer in
 * *who and the reply in reply. A reply to an earlier datagram counts as
 * late, and that datagram, counted lost when its deadline passed, is lost
 * no more: it was served, later than its deadline.
 */
static enum load_outcome
load_udp_reply(struct load_thread *t, int fd, long seq, long long deadline,
    struct load_answerer *who, char *reply, size_t len)
{
	struct load *ld = t->ld;
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	const char *token;
	long long left;
	long id, n;
	ssize_t got;
	char *dash;

	for (;;) {
		left = deadline - support_now_ms();
		if (poll(&pfd, 1, left < 0 ? 0 : (int)left) == -1) {
			if (errno == EINTR)
				continue;
			return LOAD_OTHER;
		}
		if (pfd.revents == 0)
			return LOAD_LOST;
		got = recv(fd, reply, len - 1, MSG_DONTWAIT);
		if (got == -1 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (got == -1)
			return errno == ECONNREFUSED ? LOAD_REFUSED : LOAD_OTHER;
		reply[got] = '\0';
		reply[strcspn(reply, "\n")] = '\0';
		if (load_parse_answer(reply, who) == -1 ||
		    (token = strstr(reply, " seq=")) == NULL)
			return LOAD_BAD;
		id = strtol(token + 5, &dash, 10);
		n = *dash == '-' ? strtol(dash + 1, NULL, 10) : -1;
		if (id == t->id && n == seq)
			return LOAD_OK;
		if (id != t->id || n <= 0 || n > seq)
			return LOAD_BAD;
		pthread_mutex_lock(&ld->lock);	/* an earlier one's, given up on */
		ld->late++;
		if (t->given_up > 0) {
			t->given_up--;
			ld->results[LOAD_LOST]--;
			ld->results[LOAD_OK]++;
			load_count_answerer(ld, who);
		}
		pthread_mutex_unlock(&ld->lock);
	}
}

/* Wait until the absolute monotonic time next_ns; false if told to stop. */
static bool
load_pace(struct load *ld, long long next_ns)
{
	struct pollfd pfd = { .fd = ld->wake_fd, .events = POLLIN };
	struct timespec ts;
	long long left;

	for (;;) {
		if ((left = next_ns - load_now_ns()) <= 0)
			return true;
		ts.tv_sec = left / 1000000000LL;
		ts.tv_nsec = left % 1000000000LL;
		if (ppoll(&pfd, 1, &ts, NULL) > 0)
			return false;
	}
}

/*
 * A UDP sender thread: datagram "seq=ID-N" every 1/rate s on a connected
 * socket, each waiting for its reply; until told to stop.
 */
static void *
load_udp_sender(void *arg)
{
	struct load_thread *t = arg;
	struct load *ld = t->ld;
	struct load_answerer who = { 0 };
	long long period = 1000000000LL / ld->rate, next;
	char msg[64], reply[512], failure[256] = "";
	enum load_outcome outcome;
	size_t len;
	long seq;
	int fd;

	fd = socket(ld->addr.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd == -1 || connect(fd, (struct sockaddr *)&ld->addr,
	    ld->addrlen) == -1) {
		snprintf(failure, sizeof(failure), "sender %d: socket: %s",
		    t->id, strerror(errno));
		load_record(ld, LOAD_OTHER, NULL, failure);
		if (fd != -1)
			close(fd);
		return NULL;
	}
	next = load_now_ns();
	for (seq = 1; !atomic_load(&ld->stop); seq++) {
		len = (size_t)snprintf(msg, sizeof(msg), "seq=%d-%ld\n", t->id,
		    seq);
		reply[0] = '\0';
		if (send(fd, msg, len, MSG_NOSIGNAL) == -1)
			outcome = errno == ECONNREFUSED ? LOAD_REFUSED :
			    LOAD_OTHER;
		else
			outcome = load_udp_reply(t, fd, seq, support_now_ms() +
			    LOAD_UDP_DEADLINE_MS, &who, reply, sizeof(reply));
		if (outcome != LOAD_OK)
			snprintf(failure, sizeof(failure), "sender %d at +%lldms: "
			    "datagram seq=%d-%ld %s (reply \"%.60s\")", t->id,
			    load_elapsed_ms(ld), t->id, seq,
			    load_outcome_name(outcome), reply);
		if (outcome == LOAD_LOST)
			t->given_up++;
		load_record(ld, outcome, &who, failure);
		/* A steady rate: a late turn is not made up for by a burst. */
		next += period;
		if (next < load_now_ns())
			next = load_now_ns();
		if (!load_pace(ld, next))
			break;
	}
	close(fd);
	return NULL;
}

/*
 * Start nthreads threads running fn against host:port (type SOCK_STREAM or
 * SOCK_DGRAM; rate for UDP senders); -1 with errno if the address or a
 * thread cannot be had.
 */
static int
load_start(struct load *ld, int type, const char *host, int port,
    int nthreads, int rate, void *(*fn)(void *))
{
	struct addrinfo hints = { .ai_socktype = type,
	    .ai_flags = AI_NUMERICSERV }, *res;
	pthread_condattr_t attr;
	char service[16];
	int i, err;

	if (ld->running || nthreads < 1 || nthreads > LOAD_MAX_THREADS) {
		errno = ld->running ? EBUSY : EINVAL;
		return -1;
	}
	memset(ld, 0, sizeof(*ld));
	snprintf(service, sizeof(service), "%d", port);
	if ((err = getaddrinfo(host, service, &hints, &res)) != 0) {
		errno = err == EAI_SYSTEM ? errno : EINVAL;
		return -1;
	}
	memcpy(&ld->addr, res->ai_addr, res->ai_addrlen);
	ld->addrlen = res->ai_addrlen;
	freeaddrinfo(res);
	if ((ld->wake_fd = eventfd(0, EFD_CLOEXEC)) == -1)
		return -1;
	ld->type = type;
	ld->rate = rate;
	ld->started_ms = support_now_ms();
	pthread_mutex_init(&ld->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&ld->progress, &attr);
	pthread_condattr_destroy(&attr);
	ld->running = true;
	for (i = 0; i < nthreads; i++) {
		ld->threads[i].ld = ld;
		ld->threads[i].id = i;
		if ((err = pthread_create(&ld->threads[i].thread, NULL, fn,
		    &ld->threads[i])) != 0) {
			load_stop(ld);
			errno = err;
			return -1;
		}
		ld->nthreads++;
	}
	return 0;
}

/*
 * Start nclients TCP clients, each requesting GET / on a new connection to
 * host:port as soon as its previous request ended. 0, or -1 with errno.
 */
int
load_start_tcp(struct load *ld, const char *host, int port, int nclients)
{
	return load_start(ld, SOCK_STREAM, host, port, nclients, 0,
	    load_tcp_client);
}

/*
 * Start nsenders UDP senders, each sending rate_per_s datagrams a second to
 * host:port at a steady pace and waiting for each reply (at most
 * LOAD_UDP_DEADLINE_MS: then the datagram is lost). 0, or -1 with errno.
 */
int
load_start_udp(struct load *ld, const char *host, int port, int nsenders,
    int rate_per_s)
{
	if (rate_per_s < 1 || rate_per_s > 100000) {
		errno = EINVAL;
		return -1;
	}
	return load_start(ld, SOCK_DGRAM, host, port, nsenders, rate_per_s,
	    load_udp_sender);
}

/*
 * Wait until at least total results were counted in all, for at most
 * SUPPORT_DEADLINE_MS: 0 once they were, -1 if not.
 */
int
load_wait_total(struct load *ld, long total)
{
	struct timespec deadline;
	int rc = 0;

	if (!ld->running)
		return -1;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += SUPPORT_DEADLINE_MS / 1000;
	pthread_mutex_lock(&ld->lock);
	while (ld->total < total && rc == 0)
		rc = pthread_cond_timedwait(&ld->progress, &ld->lock,
		    &deadline);
	rc = ld->total >= total ? 0 : -1;
	pthread_mutex_unlock(&ld->lock);
	return rc;
}

/* Wait until n more results than now were counted; see load_wait_total. */
int
load_wait_progress(struct load *ld, long n)
{
	return load_wait_total(ld, load_total(ld) + n);
}

/*
 * Stop the threads and join them; the counts are final. A request or
 * datagram in flight ends first (answered, failed, or lost after
 * LOAD_UDP_DEADLINE_MS); no new one starts. Safe to call again, or on a
 * load never started (zeroed).
 */
void
load_stop(struct load *ld)
{
	uint64_t one = 1;
	int i;

	if (!ld->running)
		return;
	atomic_store(&ld->stop, true);
	if (write(ld->wake_fd, &one, sizeof(one)) == -1)
		abort();
	for (i = 0; i < ld->nthreads; i++)
		pthread_join(ld->threads[i].thread, NULL);
	ld->nthreads = 0;
	close(ld->wake_fd);
	ld->wake_fd = -1;
	pthread_mutex_destroy(&ld->lock);
	pthread_cond_destroy(&ld->progress);
	ld->running = false;
}

/* ---- what happened ---------------------------------------------------- */

/* Copy the counts, consistent with each other, into c. */
static void
load_snapshot(struct load *ld, struct load_counts *c)
{
	load_lock(ld);
	memcpy(c->results, ld->results, sizeof(c->results));
	c->total = ld->total;
	c->late = ld->late;
	load_unlock(ld);
}

/* How many results had this outcome so far. */
long
load_count(struct load *ld, enum load_outcome outcome)
{
	struct load_counts c;

	if ((int)outcome < 0 || outcome >= LOAD_OUTCOMES)
		return 0;
	load_snapshot(ld, &c);
	return c.results[outcome];
}

/* How many results (requests or datagrams that ended) so far. */
long
load_total(struct load *ld)
{
	struct load_counts c;

	load_snapshot(ld, &c);
	return c.total;
}

/* How many results were anything but LOAD_OK. */
long
load_failures(struct load *ld)
{
	struct load_counts c;

	load_snapshot(ld, &c);
	return c.total - c.results[LOAD_OK];
}

/* How many UDP replies came after their datagram was counted lost. */
long
load_late(struct load *ld)
{
	struct load_counts c;

	load_snapshot(ld, &c);
	return c.late;
}

/* Copy up to max answerers into out; returns how many there are in all. */
int
load_answerers(struct load *ld, struct load_answerer *out, int max)
{
	int n;

	load_lock(ld);
	n = ld->nanswerers;
	memcpy(out, ld->answerers, sizeof(*out) * (size_t)(n < max ? n : max));
	load_unlock(ld);
	return n;
}

/* The answers of the processes that match: worker (or gen) w, -2 for any. */
static long
load_answers_of(struct load *ld, int worker, int gen)
{
	long n = 0;
	int i;

	load_lock(ld);
	for (i = 0; i < ld->nanswerers; i++)
		if ((worker == -2 || ld->answerers[i].worker == worker) &&
		    (gen == -2 || ld->answerers[i].gen == gen))
			n += ld->answerers[i].count;
	load_unlock(ld);
	return n;
}

/* How many answers came from worker slot `worker` (any pid, any gen). */
long
load_worker_answers(struct load *ld, int worker)
{
	return load_answers_of(ld, worker, -2);
}

/* How many answers came from generation gen's workers. */
long
load_gen_answers(struct load *ld, int gen)
{
	return load_answers_of(ld, -2, gen);
}

/* Collect the distinct worker slots (>= 0) that answered, in ascending order. */
static int
load_worker_slots(const struct load *ld, int *slots, int max)
{
	int i, j, k, n = 0, w;

	for (i = 0; i < ld->nanswerers; i++) {
		if ((w = ld->answerers[i].worker) < 0)
			continue;
		for (j = 0; j < n && slots[j] < w; j++)
			;
		if ((j < n && slots[j] == w) || n == max)
			continue;
		for (k = n++; k > j; k--)
			slots[k] = slots[k - 1];
		slots[j] = w;
	}
	return n;
}

/* How many distinct worker slots (HANDOFF_WORKER) answered. */
int
load_workers_answering(struct load *ld)
{
	int slots[LOAD_MAX_ANSWERERS], n;

	load_lock(ld);
	n = load_worker_slots(ld, slots, LOAD_MAX_ANSWERERS);
	load_unlock(ld);
	return n;
}

/* Append formatted text at *used in buf (len bytes), truncating quietly. */
__attribute__((format(printf, 4, 5)))
static void
load_append(char *buf, size_t len, size_t *used, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*used >= len)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf + *used, len - *used, fmt, ap);
	va_end(ap);
	if (n > 0)
		*used = *used + (size_t)n < len ? *used + (size_t)n : len;
}

/*
 * Describe the load in buf for an assertion message: every outcome's
 * count, late replies, answers per worker slot, the first failure.
 */
char *
load_summary(struct load *ld, char *buf, size_t len)
{
	int slots[LOAD_MAX_ANSWERERS], nslots, i, k;
	size_t used = 0;
	long n;

	if (len == 0)
		return buf;
	buf[0] = '\0';
	load_lock(ld);
	load_append(buf, len, &used, "%ld %s: ", ld->total,
	    ld->type == SOCK_DGRAM ? "datagrams" : "requests");
	for (i = 0; i < LOAD_OUTCOMES; i++)
		load_append(buf, len, &used, "%s%ld %s", i ? ", " : "",
		    ld->results[i], load_outcome_name((enum load_outcome)i));
	if (ld->type == SOCK_DGRAM)
		load_append(buf, len, &used, ", %ld late replies", ld->late);
	load_append(buf, len, &used, "; answers by worker:");
	nslots = load_worker_slots(ld, slots, LOAD_MAX_ANSWERERS);
	for (k = 0; k < nslots; k++) {
		for (n = 0, i = 0; i < ld->nanswerers; i++)
			if (ld->answerers[i].worker == slots[k])
				n += ld->answerers[i].count;
		load_append(buf, len, &used, "%s %d: %ld", k ? "," : "",
		    slots[k], n);
	}
	if (nslots == 0)
		load_append(buf, len, &used, " none");
	load_append(buf, len, &used, " (%d processes%s)", ld->nanswerers,
	    ld->unlisted ? ", and more not listed" : "");
	if (ld->first_failure[0] != '\0')
		load_append(buf, len, &used, "; first failure: %s",
		    ld->first_failure);
	load_unlock(ld);
	return buf;
}

/* ---- the network namespace -------------------------------------------- */

/*
 * Move the calling thread (and the processes and threads it starts from
 * now on) into a new network namespace, with its loopback up. 0, or -1
 * with why in buf and errno set: EPERM when this process may not (not
 * root, or no CAP_SYS_ADMIN). Call it before binding or starting anything.
 */
int
load_netns_enter(char *why, size_t len)
{
	struct ifreq ifr;
	int fd, saved;

	if (unshare(CLONE_NEWNET) == -1) {
		saved = errno;
		snprintf(why, len, "cannot make a network namespace: "
		    "unshare(CLONE_NEWNET): %s%s", strerror(saved),
		    saved == EPERM ? " (it needs root, or CAP_SYS_ADMIN)" : "");
		errno = saved;
		return -1;
	}
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if ((fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1 ||
	    ioctl(fd, SIOCGIFFLAGS, &ifr) == -1 ||
	    (ifr.ifr_flags |= IFF_UP, ioctl(fd, SIOCSIFFLAGS, &ifr)) == -1) {
		saved = errno;
		snprintf(why, len, "in a new network namespace, cannot bring "
		    "lo up: %s", strerror(saved));
		if (fd != -1)
			close(fd);
		/* Not EPERM: a namespace without loopback is a failure. */
		errno = saved == EPERM ? EACCES : saved;
		return -1;
	}
	close(fd);
	if (len > 0)
		why[0] = '\0';
	return 0;
}

/* Open /proc/thread-self/net/NAME: this thread's namespace's, not the leader's. */
static FILE *
load_proc_net(const char *name)
{
	char path[64];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/thread-self/net/%s", name);
	if ((f = fopen(path, "re")) != NULL)
		return f;
	snprintf(path, sizeof(path), "/proc/self/net/%s", name);
	return fopen(path, "re");
}

/*
 * Look field up in the pairs of lines "Table: Name..." / "Table: value..."
 * of f; table NULL for any. Adds the matches to *found, the last to *value.
 */
static void
load_netstat_file(FILE *f, const char *table, const char *field,
    int *found, long long *value)
{
	char *names = NULL, *values = NULL, *np, *vp, *n, *v, *colon;
	size_t nsize = 0, vsize = 0;

	while (getline(&names, &nsize, f) != -1 &&
	    getline(&values, &vsize, f) != -1) {
		if ((colon = strchr(names, ':')) == NULL)
			continue;
		*colon = '\0';
		if (table != NULL && strcmp(names, table) != 0)
			continue;
		n = strtok_r(colon + 1, " \n", &np);
		v = strchr(values, ':') ? strtok_r(strchr(values, ':') + 1,
		    " \n", &vp) : NULL;
		while (n != NULL && v != NULL) {
			if (strcmp(n, field) == 0) {
				(*found)++;
				*value = strtoll(v, NULL, 10);
			}
			n = strtok_r(NULL, " \n", &np);
			v = strtok_r(NULL, " \n", &vp);
		}
	}
	free(names);
	free(values);
}

/*
 * A counter of this thread's network namespace from /proc/net/netstat or
 * /proc/net/snmp: "TcpExt:ListenOverflows", "Udp:RcvbufErrors", or a bare
 * name ("ListenOverflows", "TCPMigrateReqSuccess") found in one table only.
 * -1 if there is none (the kernel does not count it) or a bare name is in
 * several tables ("InErrors": say "Udp:InErrors").
 */
long long
load_netstat(const char *name)
{
	static const char *const files[] = { "netstat", "snmp" };
	char table[32] = "";
	const char *field = name, *colon = strchr(name, ':');
	long long value = -1;
	int found = 0;
	size_t i;
	FILE *f;

	if (colon != NULL) {
		if ((size_t)(colon - name) >= sizeof(table))
			return -1;
		memcpy(table, name, (size_t)(colon - name));
		table[colon - name] = '\0';
		field = colon + 1;
	}
	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		if ((f = load_proc_net(files[i])) == NULL)
			continue;
		load_netstat_file(f, colon ? table : NULL, field, &found, &value);
		fclose(f);
	}
	return found == 1 ? value : -1;
}

/*
 * The connections waiting in the accept queues of the TCP sockets that
 * listen on port (IPv4 and IPv6, every SO_REUSEPORT socket) in this
 * thread's namespace; -1 if none listens there.
 */
int
load_listen_queue(int port)
{
	static const char *const files[] = { "tcp", "tcp6" };
	unsigned int lport, state;
	unsigned long queued;
	int total = -1;
	char line[512];
	size_t i;
	FILE *f;

	for (i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		if ((f = load_proc_net(files[i])) == NULL)
			continue;
		/* "sl local rem st tx_queue:rx_queue ..."; rx_queue of a
		   listener is its accept queue. */
		while (fgets(line, sizeof(line), f) != NULL)
			if (sscanf(line, " %*d: %*[0-9A-Fa-f]:%x %*[0-9A-Fa-f]:%*x "
			    "%x %*x:%lx", &lport, &state, &queued) == 3 &&
			    state == 0x0A && (int)lport == port)
				total = (total < 0 ? 0 : total) + (int)queued;
		fclose(f);
	}
	return total;
}
