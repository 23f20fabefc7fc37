/*
 * support.c: helpers shared by the tests.
 *
 * support_run starts a command with its stdout and stderr on pipes, reads
 * both until the command closes them, and waits for it, killing it after a
 * generous deadline so that a hung command fails its test instead of
 * hanging the suite.
 */
#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "support.h"

#define RUN_DEADLINE_MS 60000

/* An environment variable the test harness must set; abort if it is not. */
const char *
support_env(const char *name)
{
	const char *value = getenv(name);

	if (value == NULL || *value == '\0') {
		fprintf(stderr, "%s is not set: run the tests with make check\n",
		    name);
		abort();
	}
	return value;
}

/* Milliseconds on the monotonic clock. */
static long long
support_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Append what fd has to *buf; returns 0 at end of file. */
static int
support_drain(int fd, char **buf, size_t *len)
{
	char chunk[4096];
	ssize_t n;

	n = read(fd, chunk, sizeof(chunk));
	if (n <= 0)
		return n == -1 && errno == EINTR ? 1 : 0;
	*buf = realloc(*buf, *len + (size_t)n + 1);
	if (*buf == NULL)
		abort();
	memcpy(*buf + *len, chunk, (size_t)n);
	*len += (size_t)n;
	(*buf)[*len] = '\0';
	return 1;
}

/* Run argv to completion, capturing its output; returns its exit code. */
int
support_run(const char *const argv[], struct run_result *res)
{
	int outp[2], errp[2], status, open_fds = 2, timeout;
	size_t outlen = 0, errlen = 0;
	struct pollfd pfd[2];
	long long deadline;
	pid_t pid;

	memset(res, 0, sizeof(*res));
	res->out = calloc(1, 1);
	res->err = calloc(1, 1);
	if (pipe2(outp, O_CLOEXEC) == -1 || pipe2(errp, O_CLOEXEC) == -1)
		abort();
	pid = fork();
	if (pid == -1)
		abort();
	if (pid == 0) {
		int devnull = open("/dev/null", O_RDONLY);
		dup2(devnull, 0);
		dup2(outp[1], 1);
		dup2(errp[1], 2);
		execv(argv[0], (char *const *)argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(outp[1]);
	close(errp[1]);
	pfd[0].fd = outp[0];
	pfd[1].fd = errp[0];
	pfd[0].events = pfd[1].events = POLLIN;
	deadline = support_now_ms() + RUN_DEADLINE_MS;
	while (open_fds > 0) {
		timeout = (int)(deadline - support_now_ms());
		if (timeout <= 0) {
			kill(pid, SIGKILL);
			break;
		}
		if (poll(pfd, 2, timeout) == -1 && errno != EINTR)
			abort();
		if (pfd[0].fd != -1 && (pfd[0].revents & (POLLIN | POLLHUP)) &&
		    !support_drain(pfd[0].fd, &res->out, &outlen)) {
			close(pfd[0].fd);
			pfd[0].fd = -1;
			open_fds--;
		}
		if (pfd[1].fd != -1 && (pfd[1].revents & (POLLIN | POLLHUP)) &&
		    !support_drain(pfd[1].fd, &res->err, &errlen)) {
			close(pfd[1].fd);
			pfd[1].fd = -1;
			open_fds--;
		}
	}
	if (pfd[0].fd != -1)
		close(pfd[0].fd);
	if (pfd[1].fd != -1)
		close(pfd[1].fd);
	while (waitpid(pid, &status, 0) == -1)
		if (errno != EINTR)
			abort();
	res->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) :
	    128 + WTERMSIG(status);
	return res->exit_code;
}

/* Free what support_run captured. */
void
support_result_free(struct run_result *res)
{
	free(res->out);
	free(res->err);
	res->out = res->err = NULL;
}

/* A new private directory under $TMPDIR or /tmp; the caller frees the path. */
char *
support_tmpdir(void)
{
	const char *base = getenv("TMPDIR");
	char *path;

	if (base == NULL || *base == '\0')
		base = "/tmp";
	if (asprintf(&path, "%s/handoff-test.XXXXXX", base) == -1)
		abort();
	if (mkdtemp(path) == NULL)
		abort();
	return path;
}

/* nftw callback: remove one entry. */
static int
support_rm_entry(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Remove a directory tree. */
void
support_rmtree(const char *path)
{
	nftw(path, support_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Write content to dir/name; returns the path, which the caller frees. */
char *
support_write_file(const char *dir, const char *name, const char *content)
{
	char *path;
	FILE *fp;

	if (asprintf(&path, "%s/%s", dir, name) == -1)
		abort();
	if ((fp = fopen(path, "w")) == NULL)
		abort();
	fputs(content, fp);
	fclose(fp);
	return path;
}

/* A TCP port on 127.0.0.1 that was free a moment ago. */
int
support_free_port(void)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd, port;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd == -1 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    getsockname(fd, (struct sockaddr *)&sin, &len) == -1)
		abort();
	port = ntohs(sin.sin_port);
	close(fd);
	return port;
}

/* How many lines of text contain needle. */
int
support_count_lines(const char *text, const char *needle)
{
	const char *line = text, *end;
	int count = 0;
	char *copy;

	while (*line != '\0') {
		end = strchr(line, '\n');
		if (end == NULL)
			end = line + strlen(line);
		copy = strndup(line, (size_t)(end - line));
		if (strstr(copy, needle) != NULL)
			count++;
		free(copy);
		line = *end == '\0' ? end : end + 1;
	}
	return count;
}
