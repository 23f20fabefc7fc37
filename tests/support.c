/*
 * support.c: helpers shared by the tests.
 *
 * support_run starts a command with its stdout and stderr on pipes, reads
 * both until the command closes them, and waits for it, killing it after a
 * generous deadline so that a hung command fails its test instead of
 * hanging the suite.
 */
#include "autoconf.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
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
long long
support_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Take us microseconds of the CPU, busy, as a slow system call may. */
void
support_spin_us(long us)
{
	struct timespec t0, t;

	if (us <= 0)
		return;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do
		clock_gettime(CLOCK_MONOTONIC, &t);
	while ((t.tv_sec - t0.tv_sec) * 1000000L +
	    (t.tv_nsec - t0.tv_nsec) / 1000 < us);
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

/*
 * Run `handoff ARGS...` (NULL-terminated, at most 14) to completion, the
 * binary from $HANDOFF_BIN: its exit code, its output in res.
 */
int
support_handoff_cmd(struct run_result *res, ...)
{
	const char *argv[16];
	va_list ap;
	int argc = 0;

	argv[argc++] = support_env("HANDOFF_BIN");
	va_start(ap, res);
	while ((argv[argc] = va_arg(ap, const char *)) != NULL) {
		if (++argc == 15) {
			fprintf(stderr, "support_handoff_cmd: too many arguments\n");
			abort();
		}
	}
	va_end(ap);
	return support_run(argv, res);
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

/* Remove *dir and all in it (if set), free it and forget it. */
void
support_tmpdir_free(char **dir)
{
	if (*dir != NULL)
		support_rmtree(*dir);
	free(*dir);
	*dir = NULL;
}

/* Remove a directory tree. */
void
support_rmtree(const char *path)
{
	nftw(path, support_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/*
 * A unix datagram socket bound at path (a NOTIFY_SOCKET of the test's
 * own, say); -1 with errno if it cannot be made.
 */
int
support_dgram_socket(const char *path)
{
	struct sockaddr_un sun;
	int fd, saved;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(sun.sun_path, path, strlen(path));
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

/*
 * A NOTIFY_SOCKET of the test's own: a datagram socket bound as
 * "notify" in a new temporary directory (its path into dir, of len
 * bytes), exported as NOTIFY_SOCKET. The socket, or -1 with errno.
 */
int
support_notify_receiver(const char *tag, char *dir, size_t len)
{
	char path[256];
	int fd;

	snprintf(dir, len, "/tmp/handoff-%s-XXXXXX", tag);
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/notify", dir);
	if ((fd = support_dgram_socket(path)) == -1)
		return -1;
	if (setenv("NOTIFY_SOCKET", path, 1) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Close the receiver and remove what support_notify_receiver made. */
void
support_notify_receiver_remove(const char *dir, int fd)
{
	char path[256];

	close(fd);
	snprintf(path, sizeof(path), "%s/notify", dir);
	unlink(path);
	rmdir(dir);
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

/*
 * A copy of the executable src in dir (which the test opened to others),
 * mode 0755: a worker running as another user can run it wherever the
 * checkout is (a 0700 temporary directory, a home directory).
 */
char *
support_copy_executable(const char *src, const char *dir)
{
	const char *base = strrchr(src, '/');
	char *path, buf[65536];
	ssize_t n;
	int in, out;

	if (asprintf(&path, "%s/%s", dir, base ? base + 1 : src) == -1 ||
	    (in = open(src, O_RDONLY | O_CLOEXEC)) == -1 ||
	    (out = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0755)) == -1)
		abort();
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n)
			abort();
	if (n == -1 || close(out) == -1)
		abort();
	close(in);
	return path;
}

/*
 * A copy of the handoff command (HANDOFF_BIN) in dir, and of handoffd, the
 * supervisor's program it runs, where it is beside it: copied alone, the
 * command would look for handoffd beside the copy. Returns the command's.
 */
char *
support_copy_handoff(const char *dir)
{
	const char *bin = support_env("HANDOFF_BIN");
	const char *slash = strrchr(bin, '/');
	char *daemon, *copy;

	if (asprintf(&daemon, "%.*s/handoffd", slash != NULL ?
	    (int)(slash - bin) : 1, slash != NULL ? bin : ".") == -1)
		abort();
	if (access(daemon, X_OK) == 0)
		free(support_copy_executable(daemon, dir));
	free(daemon);
	copy = support_copy_executable(bin, dir);
	return copy;
}

/*
 * A TCP port on 127.0.0.1 that nothing listens on, for a supervisor to
 * bind. Chosen at random below the kernel's ephemeral range: a port from
 * that range (what binding port 0 gives) may become the source port of
 * some other connection before the supervisor binds it.
 */
int
support_free_port(void)
{
	static unsigned int seed;
	struct sockaddr_in sin;
	unsigned int low = 32768, high;
	FILE *fp;
	int fd, port, tries, ok;

	if ((fp = fopen("/proc/sys/net/ipv4/ip_local_port_range", "re")) != NULL) {
		if (fscanf(fp, "%u %u", &low, &high) != 2)
			low = 32768;
		fclose(fp);
	}
	if (low <= 12000)
		low = 32768;	/* an unusual range: stay below the default */
	if (seed == 0)
		seed = (unsigned int)getpid() * 2654435761u ^ (unsigned int)time(NULL);
	for (tries = 0; tries < 1000; tries++) {
		port = 10000 + (int)(rand_r(&seed) % (low - 10000));
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd == -1)
			abort();
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sin.sin_port = htons((uint16_t)port);
		ok = bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0;
		close(fd);
		if (ok)
			return port;
	}
	abort();
}

/* The port an IPv4 or IPv6 socket is bound to; -1 if it cannot be told. */
int
support_local_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1)
		return -1;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return -1;
}

/*
 * Send stderr to a fresh unlinked temp file (Criterion runs every test in
 * its own process, so replacing fd 2 touches no other test): its fd, or
 * -1 with errno set.
 */
int
support_capture_stderr(void)
{
	char path[] = "/tmp/handoff-test-stderr-XXXXXX";
	int fd;

	if ((fd = mkstemp(path)) == -1)
		return -1;
	fflush(stderr);
	if (unlink(path) == -1 || dup2(fd, STDERR_FILENO) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * Everything written so far to the stderr support_capture_stderr captured
 * in fd (caller frees), or NULL.
 */
char *
support_captured(int fd)
{
	struct stat st;
	char *text;

	fflush(stderr);
	if (fstat(fd, &st) == -1 ||
	    (text = calloc(1, (size_t)st.st_size + 1)) == NULL)
		return NULL;
	if (pread(fd, text, (size_t)st.st_size, 0) != st.st_size) {
		free(text);
		return NULL;
	}
	return text;
}

/* The inode of an open fd (a socket's, as sock_diag names it); 0 if none. */
ino_t
support_fd_inode(int fd)
{
	struct stat sb;

	return fstat(fd, &sb) == 0 ? sb.st_ino : 0;
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

/* ---- a supervisor in the background ---------------------------------- */

extern char **environ;

#define SUPPORT_TAG_VAR	"SUPPORT_TEST_TAG"

/*
 * Start `$HANDOFF_BIN run -c config` with stdin from /dev/null and stdout
 * and stderr appended to log_path: a file, so the supervisor never blocks on
 * a reader. Its environment gets SUPPORT_TEST_TAG=log_path, which its
 * workers inherit. The child asks for SIGTERM when the test process dies,
 * so a test that fails half-way never leaves a supervisor behind. Returns
 * 0, or -1 if it could not start it.
 */
int
support_handoff_start(struct handoff_proc *hp, const char *config,
    const char *log_path)
{
	return support_handoff_start_ignoring(hp, config, log_path, NULL);
}

/*
 * support_handoff_start, with every signal's disposition at its default
 * except those of ignore (a 0-terminated list), which the supervisor
 * starts with ignored: what it must not pass on to its workers.
 */
int
support_handoff_start_ignoring(struct handoff_proc *hp, const char *config,
    const char *log_path, const int *ignore)
{
	const char *args[] = { "run", "-c", config, NULL };

	return support_handoff_start_args(hp, args, log_path, ignore);
}

/*
 * support_handoff_start_ignoring, running `handoff ARGS...` (args is
 * NULL-terminated, without the binary) instead of `handoff run -c CONFIG`:
 * say `run --listen ADDR -- CMD`.
 */
int
support_handoff_start_args(struct handoff_proc *hp, const char *const *args,
    const char *log_path, const int *ignore)
{
	struct support_launch how;

	memset(&how, 0, sizeof(how));
	how.args = args;
	how.log_path = log_path;
	how.ignore = ignore;
	return support_handoff_launch(hp, &how);
}

/* Write n in decimal at p (room for 20 digits): async-signal-safe. */
static void
support_put_pid(char *p, pid_t n)
{
	char digits[24];
	int k = 0;

	do
		digits[k++] = (char)('0' + n % 10);
	while ((n /= 10) > 0);
	while (k > 0)
		*p++ = digits[--k];
	*p = '\0';
}

/*
 * Start a supervisor as how says (see struct support_launch): the
 * command, the log, the signals ignored, and the sockets passed the way a
 * service manager passes them. The fds stay the caller's.
 */
int
support_handoff_launch(struct handoff_proc *hp, const struct support_launch *how)
{
	const char *bin = support_env("HANDOFF_BIN");
	const char *argv[64];
	size_t taglen = strlen(SUPPORT_TAG_VAR "="), n, i, j, k = 0;
	char **envp, *tagvar, *nfdsvar = NULL, *namesvar = NULL;
	char pidvar[sizeof("LISTEN_PID=") + 24] = "LISTEN_PID=";
	const int *ignore = how->ignore;
	pid_t parent = getpid(), pid;
	int logfd, devnull;

	for (n = 0; how->prefix != NULL && how->prefix[n] != NULL; n++)
		argv[k++] = how->prefix[n];
	argv[k++] = bin;
	for (n = 0; how->args[n] != NULL; n++) {
		if (k + 2 >= sizeof(argv) / sizeof(argv[0]))
			abort();
		argv[k++] = how->args[n];
	}
	argv[k] = NULL;
	memset(hp, 0, sizeof(*hp));
	hp->pid = -1;
	hp->pidfd = -1;
	hp->exit_code = -1;
	if ((hp->log_path = strdup(how->log_path)) == NULL ||
	    (hp->tag = strdup(how->log_path)) == NULL)
		abort();
	/* Everything the child needs is made before fork: no malloc after. */
	for (n = 0; environ[n] != NULL; n++)
		;
	if ((envp = calloc(n + 5, sizeof(*envp))) == NULL ||
	    asprintf(&tagvar, "%s=%s", SUPPORT_TAG_VAR, hp->tag) == -1)
		abort();
	for (i = j = 0; i < n; i++)
		if (strncmp(environ[i], SUPPORT_TAG_VAR "=", taglen) != 0 &&
		    (how->nfds == 0 || strncmp(environ[i], "LISTEN_", 7) != 0))
			envp[j++] = environ[i];
	envp[j++] = tagvar;
	if (how->nfds > 0) {
		if (asprintf(&nfdsvar, "LISTEN_FDS=%zu", how->nfds) == -1 ||
		    asprintf(&namesvar, "LISTEN_FDNAMES=%s", how->fdnames ?
		    how->fdnames : "") == -1)
			abort();
		envp[j++] = nfdsvar;
		envp[j++] = namesvar;
		envp[j++] = pidvar;	/* the child writes its pid in */
	}
	envp[j] = NULL;
	logfd = open(how->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
	    0644);
	devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (logfd == -1 || devnull == -1) {
		fprintf(stderr, "support: %s: %s\n", how->log_path,
		    strerror(errno));
		if (logfd != -1)
			close(logfd);
		if (devnull != -1)
			close(devnull);
		free(envp);
		free(tagvar);
		free(nfdsvar);
		free(namesvar);
		return -1;
	}
	if ((pid = fork()) == 0) {
		sigset_t none;
		int sig, high[64];

		if (prctl(PR_SET_PDEATHSIG, SIGTERM) == -1 || getppid() != parent)
			_exit(127);
		static const unsigned long dfl[16];	/* SIG_DFL, no flags */

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		/*
		 * Defaults, whatever the test runner ignores (GNU make runs
		 * its recipes with signals 32 and 33 ignored). Through the
		 * kernel: glibc's sigaction refuses 32 and 33, its own.
		 */
		for (sig = 1; sig < NSIG; sig++)
			if (sig != SIGKILL && sig != SIGSTOP)
				syscall(SYS_rt_sigaction, sig, dfl, NULL,
				    (size_t)(NSIG - 1) / 8);
		for (; ignore != NULL && *ignore != 0; ignore++)
			signal(*ignore, SIG_IGN);
		if (dup2(devnull, 0) == -1 || dup2(logfd, 1) == -1 ||
		    dup2(logfd, 2) == -1)
			_exit(127);
		/* Passed sockets at 3, 4, ...: out of the way first. */
		for (i = 0; i < how->nfds && i < 64; i++)
			if ((high[i] = fcntl(how->fds[i], F_DUPFD, 200)) == -1)
				_exit(127);
		for (i = 0; i < how->nfds && i < 64; i++)
			if (dup2(high[i], 3 + (int)i) == -1)
				_exit(127);
		if (how->nfds > 0)
			support_put_pid(pidvar + strlen("LISTEN_PID="), getpid());
		/* Not the test runner's pipes or sockets: only stdio. */
		syscall(SYS_close_range, 3 + how->nfds, ~0U, 0);
		execve(argv[0], (char *const *)argv, envp);
		dprintf(2, "support: exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(logfd);
	close(devnull);
	free(envp);
	free(tagvar);
	free(nfdsvar);
	free(namesvar);
	if (pid == -1)
		return -1;
	hp->pid = pid;
	/* Close-on-exec by default; -1 (and polling) on kernels before 5.3. */
	hp->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	return 0;
}

/* Wait until the supervisor exits; its exit code, or -1 after timeout_ms. */
int
support_handoff_wait_exit(struct handoff_proc *hp, int timeout_ms)
{
	long long deadline = support_now_ms() + timeout_ms, left;
	struct pollfd pfd;
	int status;
	pid_t got;

	if (hp->exit_code != -1)
		return hp->exit_code;
	if (hp->pid <= 0)
		return -1;
	for (;;) {
		got = waitpid(hp->pid, &status, WNOHANG);
		if (got == hp->pid) {
			hp->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) :
			    128 + WTERMSIG(status);
			return hp->exit_code;
		}
		if (got == -1 && errno != EINTR)
			return -1;
		if ((left = deadline - support_now_ms()) <= 0)
			return -1;
		if (hp->pidfd != -1) {
			pfd.fd = hp->pidfd;
			pfd.events = POLLIN;
			poll(&pfd, 1, (int)left);
		} else {
			struct timespec ts = { 0, 10 * 1000 * 1000 };
			nanosleep(&ts, NULL);	/* no pidfd: poll the slow way */
		}
	}
}

/*
 * Send sig and wait for the supervisor to exit; returns its exit code, or
 * -1 if it did not exit within SUPPORT_DEADLINE_MS (it is SIGKILLed then).
 */
int
support_handoff_stop(struct handoff_proc *hp, int sig)
{
	int code;

	if (hp->pid <= 0)
		return -1;
	if (hp->exit_code != -1)
		return hp->exit_code;
	kill(hp->pid, sig);
	if ((code = support_handoff_wait_exit(hp, SUPPORT_DEADLINE_MS)) != -1)
		return code;
	kill(hp->pid, SIGKILL);
	support_handoff_wait_exit(hp, SUPPORT_DEADLINE_MS);
	return -1;
}

/* Kill the supervisor if it still runs, reap it, free what hp holds. */
void
support_handoff_free(struct handoff_proc *hp)
{
	if (hp->pid > 0 && hp->exit_code == -1) {
		kill(hp->pid, SIGKILL);
		support_handoff_wait_exit(hp, SUPPORT_DEADLINE_MS);
	}
	if (hp->pidfd != -1)
		close(hp->pidfd);
	free(hp->log_path);
	free(hp->tag);
	memset(hp, 0, sizeof(*hp));
	hp->pid = -1;
	hp->pidfd = -1;
	hp->exit_code = -1;
}

/*
 * Kill the supervisor and every process carrying its tag (what a failed
 * test left behind), then free what hp holds.
 */
void
support_handoff_kill_all(struct handoff_proc *hp)
{
	pid_t pids[64];
	int i, n;

	if (hp->pid > 0 && hp->exit_code == -1)
		support_handoff_stop(hp, SIGKILL);
	if (hp->tag != NULL) {
		n = support_tagged_pids(hp->tag, pids, 64);
		for (i = 0; i < n; i++)
			kill(pids[i], SIGKILL);
	}
	support_handoff_free(hp);
}

/* The supervisor's log so far: "" if there is none yet, never NULL. */
char *
support_handoff_log(const struct handoff_proc *hp)
{
	char *text = support_read_file(hp->log_path);

	if (text == NULL && (text = strdup("")) == NULL)
		abort();
	return text;
}

/* Everything in a file, NUL-terminated; NULL if it cannot be read. */
char *
support_read_file(const char *path)
{
	size_t len = 0, space = 65536;
	char *text;
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return NULL;
	if ((text = malloc(space)) == NULL)
		abort();
	for (;;) {
		/* Doubling: a log of many megabytes costs a few copies. */
		if (space - len < 65536 + 1 &&
		    (text = realloc(text, space *= 2)) == NULL)
			abort();
		if ((n = read(fd, text + len, space - len - 1)) == -1 &&
		    errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	text[len] = '\0';
	return text;
}

/* An inotify instance watching path for writes; -1 if it cannot. */
static int
support_watch(const char *path)
{
	int ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);

	if (ino != -1 && inotify_add_watch(ino, path, IN_MODIFY) == -1) {
		close(ino);
		return -1;
	}
	return ino;
}

/*
 * Wait for the next change of the file that ino watches, or for pidfd to
 * say its writer exited, until deadline. Returns 1 if something happened,
 * 0 at the deadline; sets *exited once the writer is gone.
 */
static int
support_wait_change(int ino, int pidfd, long long deadline, int *exited)
{
	struct pollfd pfd[2];
	char events[4096];
	long long left;

	if ((left = deadline - support_now_ms()) <= 0)
		return 0;
	pfd[0].fd = ino;
	pfd[1].fd = pidfd;
	pfd[0].events = pfd[1].events = POLLIN;
	pfd[0].revents = pfd[1].revents = 0;
	if (poll(pfd, 2, (int)left) <= 0)
		return errno == EINTR;
	while (read(ino, events, sizeof(events)) > 0)
		;
	if (pfd[1].revents != 0)
		*exited = 1;
	return 1;
}

/*
 * Wait until count lines of the file at path contain needle; returns a copy
 * of the count-th such line, or NULL after timeout_ms or once the process
 * of pidfd (-1: none) exited without writing it. Event-driven: inotify says
 * when the file grows; only new complete lines are read.
 */
char *
support_wait_line(const char *path, const char *needle, int count, int pidfd,
    int timeout_ms)
{
	long long deadline = support_now_ms() + timeout_ms;
	char *buf = NULL, *start, *nl, *line = NULL;
	size_t len = 0, space = 0;
	int ino, fd, found = 0, exited = 0;
	ssize_t n;

	if ((ino = support_watch(path)) == -1)
		return NULL;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		close(ino);
		return NULL;
	}
	for (;;) {
		for (;;) {
			if (space - len < 65536 + 1) {
				space = len + 65536 * 2;
				if ((buf = realloc(buf, space)) == NULL)
					abort();
			}
			if ((n = read(fd, buf + len, 65536)) <= 0) {
				if (n == -1 && errno == EINTR)
					continue;
				break;
			}
			len += (size_t)n;
			buf[len] = '\0';
			for (start = buf; (nl = memchr(start, '\n',
			    len - (size_t)(start - buf))) != NULL; start = nl + 1) {
				*nl = '\0';
				if (strstr(start, needle) != NULL &&
				    ++found == count) {
					line = strdup(start);
					goto done;
				}
			}
			len -= (size_t)(start - buf);
			memmove(buf, start, len);
		}
		if (exited || !support_wait_change(ino, pidfd, deadline, &exited))
			break;
	}
done:
	free(buf);
	close(fd);
	close(ino);
	return line;
}

/* support_wait_line on the supervisor's log, giving up if it exits. */
char *
support_handoff_wait_line(struct handoff_proc *hp, const char *needle,
    int count)
{
	return support_wait_line(hp->log_path, needle, count, hp->pidfd,
	    SUPPORT_DEADLINE_MS);
}

/* Wait for count log lines containing needle: 0, or -1 if they never came. */
int
support_handoff_wait_log(struct handoff_proc *hp, const char *needle, int count)
{
	char *line = support_handoff_wait_line(hp, needle, count);

	free(line);
	return line != NULL ? 0 : -1;
}

/*
 * Wait until done(whole log, arg) returns non-zero, reading the log again
 * each time it changes; 0, or -1 at the deadline or once the supervisor
 * exited without it happening.
 */
int
support_handoff_wait_until(struct handoff_proc *hp,
    int (*done)(const char *log, void *arg), void *arg)
{
	long long deadline = support_now_ms() + SUPPORT_DEADLINE_MS;
	int ino, exited = 0, ok = 0;
	char *text;

	if ((ino = support_watch(hp->log_path)) == -1)
		return -1;
	for (;;) {
		if ((text = support_read_file(hp->log_path)) == NULL)
			break;
		ok = done(text, arg);
		free(text);
		if (ok || exited ||
		    !support_wait_change(ino, hp->pidfd, deadline, &exited))
			break;
	}
	close(ino);
	return ok ? 0 : -1;
}

/* ---- HTTP ------------------------------------------------------------ */

/* The name of a support_http result, for messages. */
const char *
support_http_name(int result)
{
	static const char *const names[] = {
		[SUPPORT_HTTP_OK] = "ok",
		[SUPPORT_HTTP_REFUSED] = "connection refused",
		[SUPPORT_HTTP_RESET] = "connection reset",
		[SUPPORT_HTTP_SHORT] = "short response",
		[SUPPORT_HTTP_TIMEOUT] = "timed out",
		[SUPPORT_HTTP_BAD] = "not a 200 response",
		[SUPPORT_HTTP_ERROR] = "error",
	};

	if (result < 0 || result > SUPPORT_HTTP_ERROR)
		return "?";
	return names[result];
}

/* Map a socket error to a support_http result. */
static int
support_http_errno(int err)
{
	switch (err) {
	case ECONNREFUSED:
	case ENOENT:
		return SUPPORT_HTTP_REFUSED;
	case ECONNRESET:
	case EPIPE:
		return SUPPORT_HTTP_RESET;
	case EAGAIN:
	case EINPROGRESS:
	case ETIMEDOUT:
		return SUPPORT_HTTP_TIMEOUT;
	default:
		return SUPPORT_HTTP_ERROR;
	}
}

/*
 * GET path over a new connection to sa with HTTP/1.0, read the response to
 * its end. On SUPPORT_HTTP_OK (or _BAD) *body is the body, which the caller
 * frees; otherwise NULL.
 */
int
support_http_request(const struct sockaddr *sa, socklen_t salen,
    const char *path, char **body)
{
	struct timeval tv = { SUPPORT_DEADLINE_MS / 1000, 0 };
	char request[512], *response, *head_end, *cl;
	size_t len = 0, sent = 0, reqlen;
	int fd, rc = SUPPORT_HTTP_OK;
	ssize_t n;

	*body = NULL;
	if ((fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return SUPPORT_HTTP_ERROR;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	while (connect(fd, sa, salen) == -1) {
		if (errno == EINTR)
			continue;
		rc = support_http_errno(errno);
		close(fd);
		return rc;
	}
	reqlen = (size_t)snprintf(request, sizeof(request),
	    "GET %s HTTP/1.0\r\n\r\n", path);
	while (sent < reqlen) {
		if ((n = send(fd, request + sent, reqlen - sent,
		    MSG_NOSIGNAL)) == -1) {
			if (errno == EINTR)
				continue;
			rc = support_http_errno(errno);
			close(fd);
			return rc;
		}
		sent += (size_t)n;
	}
	response = calloc(1, 1);
	for (;;) {
		char chunk[4096];

		if ((n = recv(fd, chunk, sizeof(chunk), 0)) == -1) {
			if (errno == EINTR)
				continue;
			rc = support_http_errno(errno);
			break;
		}
		if (n == 0)
			break;
		if ((response = realloc(response, len + (size_t)n + 1)) == NULL)
			abort();
		memcpy(response + len, chunk, (size_t)n);
		len += (size_t)n;
		response[len] = '\0';
	}
	close(fd);
	if (rc != SUPPORT_HTTP_OK) {
		free(response);
		return rc;
	}
	if ((head_end = strstr(response, "\r\n\r\n")) == NULL) {
		free(response);
		return SUPPORT_HTTP_SHORT;
	}
	*head_end = '\0';
	if ((cl = strcasestr(response, "\r\nContent-Length:")) != NULL &&
	    strlen(head_end + 4) < strtoul(cl + 17, NULL, 10)) {
		free(response);
		return SUPPORT_HTTP_SHORT;
	}
	if (strncmp(response, "HTTP/1.", 7) != 0 ||
	    strncmp(response + 8, " 200 ", 5) != 0)
		rc = SUPPORT_HTTP_BAD;
	if ((*body = strdup(head_end + 4)) == NULL)
		abort();
	free(response);
	return rc;
}

/* GET path from 127.0.0.1:port; see support_http_request. */
int
support_http_get(int port, const char *path, char **body)
{
	struct sockaddr_in sin;

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return support_http_request((struct sockaddr *)&sin, sizeof(sin), path,
	    body);
}

/* GET path over the unix stream socket at socket_path. */
int
support_http_get_unix(const char *socket_path, const char *path, char **body)
{
	struct sockaddr_un sun;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(socket_path) >= sizeof(sun.sun_path)) {
		*body = NULL;
		return SUPPORT_HTTP_ERROR;
	}
	strcpy(sun.sun_path, socket_path);
	return support_http_request((struct sockaddr *)&sun, sizeof(sun), path,
	    body);
}

/* ---- processes ------------------------------------------------------- */

/*
 * Read /proc/PID/stat: the state letter, the parent and the CPU time in
 * clock ticks (utime + stime). Returns -1 if there is no such process.
 */
static int
support_proc_stat(pid_t pid, char *state, pid_t *ppid, unsigned long long *ticks)
{
	unsigned long long utime, stime;
	char path[64], buf[1024], *p;
	int fd, parent;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	/* The command name may hold anything: fields resume after its ')'. */
	if ((p = strrchr(buf, ')')) == NULL ||
	    sscanf(p + 1, " %c %d %*s %*s %*s %*s %*s %*s %*s %*s %*s %llu %llu",
	    state, &parent, &utime, &stime) != 4)
		return -1;
	*ppid = parent;
	*ticks = utime + stime;
	return 0;
}

/* Tell whether pid is a live process (a zombie is not). */
int
support_pid_alive(pid_t pid)
{
	unsigned long long ticks;
	char state;
	pid_t ppid;

	if (pid <= 0 || support_proc_stat(pid, &state, &ppid, &ticks) == -1)
		return 0;
	return state != 'Z' && state != 'X';
}

/* How many fds pid has open; -1 if it cannot be told. */
int
support_fd_count(pid_t pid)
{
	struct dirent *entry;
	char path[64];
	int count = 0;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	if ((dir = opendir(path)) == NULL)
		return -1;
	while ((entry = readdir(dir)) != NULL)
		if (entry->d_name[0] != '.')
			count++;
	closedir(dir);
	return count;
}

/* Call fn for every process in /proc; stops early if fn returns non-zero. */
static void
support_each_pid(int (*fn)(pid_t, void *), void *arg)
{
	struct dirent *entry;
	DIR *dir;

	if ((dir = opendir("/proc")) == NULL)
		return;
	while ((entry = readdir(dir)) != NULL) {
		if (!isdigit((unsigned char)entry->d_name[0]))
			continue;
		if (fn((pid_t)atoi(entry->d_name), arg))
			break;
	}
	closedir(dir);
}

/* Collects pids for support_children and support_tagged_pids. */
struct support_pids {
	pid_t		 ppid;
	int		 zombies;
	const char	*tag;
	pid_t		*pids;
	int		 max;
	int		 count;
};

/* support_each_pid callback: a child of ppid in the state asked for. */
static int
support_child_cb(pid_t pid, void *arg)
{
	struct support_pids *sp = arg;
	unsigned long long ticks;
	char state;
	pid_t ppid;

	if (support_proc_stat(pid, &state, &ppid, &ticks) == -1 ||
	    ppid != sp->ppid || (state == 'Z') != (sp->zombies != 0))
		return 0;
	if (sp->count < sp->max)
		sp->pids[sp->count] = pid;
	sp->count++;
	return 0;
}

/*
 * The children of ppid: the zombies if zombies is set, else the live ones.
 * Fills up to max pids; returns how many there are.
 */
int
support_children(pid_t ppid, int zombies, pid_t *pids, int max)
{
	struct support_pids sp = { ppid, zombies, NULL, pids, max, 0 };

	support_each_pid(support_child_cb, &sp);
	return sp.count;
}

/* CPU time pid has used (user + system) in milliseconds; -1 if gone. */
long long
support_cpu_ms(pid_t pid)
{
	unsigned long long ticks;
	char state;
	pid_t ppid;

	if (support_proc_stat(pid, &state, &ppid, &ticks) == -1)
		return -1;
	return (long long)(ticks * 1000 / (unsigned long long)sysconf(_SC_CLK_TCK));
}

/* support_each_pid callback: a live process whose environment has the tag. */
static int
support_tag_cb(pid_t pid, void *arg)
{
	struct support_pids *sp = arg;
	char path[64], *env, *var, *want;
	size_t len = 0;
	int fd, match = 0;

	if (!support_pid_alive(pid))
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return 0;
	env = calloc(1, 1);
	while (support_drain(fd, &env, &len))
		;
	close(fd);
	if (asprintf(&want, "%s=%s", SUPPORT_TAG_VAR, sp->tag) == -1)
		abort();
	for (var = env; var < env + len; var += strlen(var) + 1)
		if (strcmp(var, want) == 0)
			match = 1;
	free(want);
	free(env);
	if (match) {
		if (sp->count < sp->max)
			sp->pids[sp->count] = pid;
		sp->count++;
	}
	return 0;
}

/*
 * The live processes that support_handoff_start started with this tag, or
 * that descend from one (a supervisor and its workers): fills up to max
 * pids, returns how many there are.
 */
int
support_tagged_pids(const char *tag, pid_t *pids, int max)
{
	struct support_pids sp = { 0, 0, tag, pids, max, 0 };

	support_each_pid(support_tag_cb, &sp);
	return sp.count;
}
