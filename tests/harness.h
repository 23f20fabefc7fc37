/*
 * harness.h: a supervisor started by an integration test, and the ways a
 * test talks to it: its log, `handoff status --json`, raw control
 * requests, HTTP requests to its workers. Every supervisor a test starts
 * with tc_new/tc_start is stopped, and its processes killed, by tc_fini.
 */
#ifndef HANDOFF_TEST_HARNESS_H
#define HANDOFF_TEST_HARNESS_H

#include <json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "support.h"

#define DEADLINE_MS	SUPPORT_DEADLINE_MS	/* for what takes milliseconds */
#define MAX_PIDS	64
#define MAX_SUPS	2

/* A supervisor started by a test, and what the test learnt about it. */
struct sup {
	char	*dir;		/* private directory, removed at the end */
	char	*config;	/* dir/handoff.ini */
	char	*sock;		/* dir/ctl.sock */
	char	*log;		/* dir/handoff.log: the supervisor's stdout and stderr */
	int	 port;		/* the listener "web" on 127.0.0.1 */
	struct handoff_proc hp;	/* the supervisor; hp.pid -1 until started */
	pid_t	 workers[MAX_PIDS];	/* every worker pid seen */
	int	 nworkers;
};

/* Time, strings, the supervisor's log. */
int	 tc_left(long long deadline);
char	*tc_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char	*tc_log_text(struct sup *s);
int	 tc_log_count(struct sup *s, const char *needle);
void	 tc_expect_log(struct sup *s, const char *needle, int count);
bool	 tc_in_order(const char *text, ...);

/* Its config, starting and stopping it (tc_fini after each test). */
void	 tc_write_config_full(struct sup *s, const char *sup_keys,
	    const char *listener_keys, const char *args, const char *keys);
void	 tc_write_config(struct sup *s, const char *args, const char *keys);
struct sup *tc_new(const char *args, const char *keys);
void	 tc_start(struct sup *s);
void	 tc_expect_start_refused(struct sup *s, const char *why);
int	 tc_wait_exit(struct sup *s, int timeout_ms);
void	 tc_saw_worker(struct sup *s, pid_t pid);
void	 tc_expect_all_gone(struct sup *s);
void	 tc_stop(struct sup *s);
void	 tc_fini(void);

/* The control socket and status. */
int	 tc_connect_unix(const char *path);
int	 tc_connect_tcp(int port);
int	 tc_send_all(int fd, const void *buf, size_t len);
char	*tc_read_to_end(int fd, int timeout_ms, int *end);
char	*tc_read_all(int fd, int timeout_ms, bool *closed);
char	*tc_request(struct sup *s, const void *req, size_t len);
json_object *tc_status_json(struct sup *s);
char	*tc_status_text(struct sup *s);
json_object *tc_json_at(json_object *obj, ...);
const char *tc_json_str(json_object *obj);
int64_t	 tc_json_int(json_object *obj);
json_object *tc_json_named(json_object *root, const char *list,
	    const char *name);

/* Its workers, over HTTP. */
int	 tc_http_get(int port, int *gen, pid_t *pid);
int	 tc_get(struct sup *s, pid_t *pidp);
pid_t	 tc_start_stranger(struct sup *s, const char *address);
void	 tc_stop_stranger(pid_t *pid);
void	 tc_own_netns(void);
int	 tc_request_fds(struct sup *s, const char *name, char *line,
	    size_t linelen, int *fds, int maxfds);

/* A reload under load (tests/load.h). */
struct load;
void	 tc_reload_under_load(struct sup *s, struct load *ld,
	    const char *program, int k, int nthreads);

#endif
