/* support.h: helpers shared by the tests: run commands, temp files, ports. */
#ifndef HANDOFF_TEST_SUPPORT_H
#define HANDOFF_TEST_SUPPORT_H

#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

/* What a finished command printed and how it ended. */
struct run_result {
	int	 exit_code;	/* exit status, or 128 + signal */
	char	*out;		/* everything written to stdout */
	char	*err;		/* everything written to stderr */
};

int	 support_run(const char *const argv[], struct run_result *res);
int	 support_handoff_cmd(struct run_result *res, ...);
void	 support_result_free(struct run_result *res);
const char *support_env(const char *name);
char	*support_tmpdir(void);
void	 support_rmtree(const char *path);
void	 support_tmpdir_free(char **dir);
char	*support_write_file(const char *dir, const char *name,
	    const char *content);
int	 support_dgram_socket(const char *path);
int	 support_notify_receiver(const char *tag, char *dir, size_t len);
void	 support_notify_receiver_remove(const char *dir, int fd);
char	*support_copy_executable(const char *src, const char *dir);
char	*support_copy_handoff(const char *dir);
int	 support_free_port(void);
int	 support_local_port(int fd);
ino_t	 support_fd_inode(int fd);
int	 support_count_lines(const char *text, const char *needle);
int	 support_capture_stderr(void);
char	*support_captured(int fd);

/*
 * A `handoff run -c CONFIG` started in the background, its stdout and stderr
 * appended to a log file. Its environment carries SUPPORT_TEST_TAG=<tag>,
 * which its workers inherit, so that a test can find every process it
 * started (support_tagged_pids) even after their pids were reused.
 */
struct handoff_proc {
	pid_t	 pid;
	int	 pidfd;		/* readable once the process exited; -1 if none */
	int	 exit_code;	/* exit status or 128 + signal; -1 while running */
	char	*log_path;
	char	*tag;
};

#define SUPPORT_DEADLINE_MS	30000	/* how long a test waits for anything */

int	 support_handoff_start(struct handoff_proc *hp, const char *config,
	    const char *log_path);
int	 support_handoff_start_ignoring(struct handoff_proc *hp,
	    const char *config, const char *log_path, const int *ignore);
int	 support_handoff_start_args(struct handoff_proc *hp,
	    const char *const *args, const char *log_path, const int *ignore);

/* How support_handoff_launch starts a supervisor. */
struct support_launch {
	const char *const *prefix;	/* a command it runs under (unshare ...),
					   NULL-terminated, or NULL */
	const char *const *args;	/* handoff's, without the binary */
	const char	*log_path;	/* stdout and stderr appended here */
	const int	*ignore;	/* signals started ignored (0-ended), or NULL */
	const int	*fds;		/* passed at 3, 4, ... as a service manager
					   does (LISTEN_FDS, LISTEN_PID=its pid) */
	size_t		 nfds;		/* at most 64 */
	const char	*fdnames;	/* LISTEN_FDNAMES, with fds */
};

int	 support_handoff_launch(struct handoff_proc *hp,
	    const struct support_launch *how);
char	*support_handoff_wait_line(struct handoff_proc *hp, const char *needle,
	    int count);
int	 support_handoff_wait_log(struct handoff_proc *hp, const char *needle,
	    int count);
int	 support_handoff_wait_until(struct handoff_proc *hp,
	    int (*done)(const char *log, void *arg), void *arg);
int	 support_handoff_wait_exit(struct handoff_proc *hp, int timeout_ms);
int	 support_handoff_stop(struct handoff_proc *hp, int sig);
void	 support_handoff_free(struct handoff_proc *hp);
void	 support_handoff_kill_all(struct handoff_proc *hp);

char	*support_wait_line(const char *path, const char *needle, int count,
	    int pidfd, int timeout_ms);
char	*support_read_file(const char *path);
char	*support_handoff_log(const struct handoff_proc *hp);

/* How an HTTP request ended: served, or which way it failed. */
enum support_http {
	SUPPORT_HTTP_OK = 0,
	SUPPORT_HTTP_REFUSED,	/* connect: ECONNREFUSED */
	SUPPORT_HTTP_RESET,	/* ECONNRESET or EPIPE while talking */
	SUPPORT_HTTP_SHORT,	/* closed before the whole response came */
	SUPPORT_HTTP_TIMEOUT,	/* nothing for SUPPORT_DEADLINE_MS */
	SUPPORT_HTTP_BAD,	/* not a 200 response */
	SUPPORT_HTTP_ERROR	/* any other error */
};

int	 support_http_request(const struct sockaddr *sa, socklen_t salen,
	    const char *path, char **body);
int	 support_http_get(int port, const char *path, char **body);
int	 support_http_get_unix(const char *socket_path, const char *path,
	    char **body);
const char *support_http_name(int result);

int	 support_pid_alive(pid_t pid);
int	 support_fd_count(pid_t pid);
int	 support_children(pid_t ppid, int zombies, pid_t *pids, int max);
long long support_cpu_ms(pid_t pid);
int	 support_tagged_pids(const char *tag, pid_t *pids, int max);
long long support_now_ms(void);
/* Take us microseconds of the CPU (busy), as a real system call may. */
void support_spin_us(long us);

#endif
