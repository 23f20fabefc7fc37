/*
 * load.h: load for integration tests, and the kernel's view of it.
 *
 * TCP clients request without pause, each request on a new connection
 * (closed loop); UDP senders send numbered datagrams at a steady rate, each
 * waiting for its reply. Both count how every request ended and which
 * worker ("gen=G pid=PID worker=W", as the test server answers) served it,
 * so that a test asserts no request failed and every worker answered some.
 * A test may run its supervisor in a network namespace of its own
 * (load_netns_enter), where the kernel's counters (load_netstat) and accept
 * queues (load_listen_queue) see nothing but the test's own traffic.
 *
 * Counts and the answerer table are kept under a lock: the accessors may be
 * called while the load runs, from the thread that started it (load_stop
 * drops the lock: after it, the counts are final and read without one).
 * A reuseport test asserts with the same calls: load_failures() == 0,
 * load_netstat("ListenOverflows") unchanged, load_worker_answers() > 0 for
 * each worker slot, load_count(ld, LOAD_LOST) == 0 for UDP.
 */
#ifndef HANDOFF_TEST_LOAD_H
#define HANDOFF_TEST_LOAD_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

#define LOAD_MAX_THREADS	256	/* clients or senders of one load */
#define LOAD_MAX_ANSWERERS	256	/* distinct (pid, worker) remembered */
#define LOAD_UDP_DEADLINE_MS	2000	/* a datagram with no reply by then is lost */

/* How a request (TCP) or a datagram (UDP) ended. */
enum load_outcome {
	LOAD_OK = 0,	/* a worker answered "gen=G pid=PID ..." */
	LOAD_REFUSED,	/* ECONNREFUSED (UDP: port unreachable) */
	LOAD_RESET,	/* ECONNRESET or EPIPE while talking */
	LOAD_SHORT,	/* closed before the whole response came */
	LOAD_TIMEOUT,	/* TCP: nothing for SUPPORT_DEADLINE_MS */
	LOAD_BAD,	/* an answer, but not a 200 from a worker */
	LOAD_OTHER,	/* any other error */
	LOAD_LOST,	/* UDP: no reply within LOAD_UDP_DEADLINE_MS, nor later */
	LOAD_OUTCOMES
};

/* A worker process that answered, and how many times. */
struct load_answerer {
	pid_t	 pid;
	int	 worker;	/* its HANDOFF_WORKER, -1 if it had none */
	int	 gen;		/* its HANDOFF_GENERATION, -1 if it had none */
	long	 count;
};

/* The counts of a load at one moment (see load_snapshot in load.c). */
struct load_counts {
	long	 results[LOAD_OUTCOMES];
	long	 total;
	long	 late;
};

/* One client or sender thread. */
struct load_thread {
	struct load	*ld;
	int		 id;
	pthread_t	 thread;
	long		 given_up;	/* UDP: counted lost, no late reply yet */
};

/* A running load; zero it (or declare it static) before load_start_*. */
struct load {
	int			 type;		/* SOCK_STREAM or SOCK_DGRAM */
	struct sockaddr_storage	 addr;
	socklen_t		 addrlen;
	int			 rate;		/* UDP: datagrams a second per sender */
	long long		 started_ms;
	atomic_bool		 stop;
	int			 wake_fd;	/* eventfd: readable once stopping */
	bool			 running;	/* threads to join */
	int			 nthreads;
	struct load_thread	 threads[LOAD_MAX_THREADS];

	pthread_mutex_t		 lock;		/* everything below */
	pthread_cond_t		 progress;	/* total grew */
	long			 results[LOAD_OUTCOMES];
	long			 total;
	long			 late;		/* UDP replies after their deadline */
	long			 unlisted;	/* answers beyond the answerer table */
	char			 first_failure[256];
	struct load_answerer	 answerers[LOAD_MAX_ANSWERERS];
	int			 nanswerers;
};

/* Starting, waiting, stopping. */
int	 load_start_tcp(struct load *ld, const char *host, int port,
	    int nclients);
int	 load_start_udp(struct load *ld, const char *host, int port,
	    int nsenders, int rate_per_s);
int	 load_wait_progress(struct load *ld, long n);
int	 load_wait_total(struct load *ld, long total);
void	 load_stop(struct load *ld);

/* What happened so far (final once stopped). */
const char *load_outcome_name(enum load_outcome outcome);
long	 load_count(struct load *ld, enum load_outcome outcome);
long	 load_total(struct load *ld);
long	 load_failures(struct load *ld);
long	 load_late(struct load *ld);
int	 load_answerers(struct load *ld, struct load_answerer *out, int max);
long	 load_worker_answers(struct load *ld, int worker);
long	 load_gen_answers(struct load *ld, int gen);
int	 load_workers_answering(struct load *ld);
char	*load_summary(struct load *ld, char *buf, size_t len);

/* The network namespace the test runs in. */
int	 load_netns_enter(char *why, size_t len);
long long load_netstat(const char *name);
int	 load_listen_queue(int port);

#endif
