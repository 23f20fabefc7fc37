/*
 * status-client: the least a control client can do, for tests/bench/run-scale.
 *
 *	status-client SOCKET
 *
 * Connects to a supervisor's control socket, asks `HANDOFF/1 status`, and
 * copies the answer to stdout, read to its end. run-scale builds it twice,
 * linked statically and dynamically (libc only), and starts both as it
 * starts `handoff status`: beside the CLI and the answer alone, they show
 * what of the CLI's time is a process's start and end, and what the dynamic
 * loader adds to them while the workers of a reload start on the same CPUs.
 *
 * Exits 0 if the answer's last line is "ok" (or "ok TEXT"), 1 if it is
 * another or the supervisor cannot be reached (the reason on stderr), 2 on
 * bad arguments.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define REQUEST	"HANDOFF/1 status\n"

/*
 * Write all of buf to fd (send() on a socket, without SIGPIPE if the
 * supervisor is gone); 0, or -1 with errno.
 */
static int
write_all(int fd, const char *buf, size_t len, int is_socket)
{
	ssize_t n;

	while (len > 0) {
		n = is_socket ? send(fd, buf, len, MSG_NOSIGNAL) :
		    write(fd, buf, len);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * Read the answer from fd to its end, copy it to stdout, and keep its last
 * line (without the newline, cut to lastsize - 1 bytes) in last. 0, or -1
 * with errno.
 */
static int
read_answer(int fd, char *last, size_t lastsize)
{
	char buf[65536], line[256];
	size_t used = 0;
	ssize_t n, i;

	last[0] = '\0';
	for (;;) {
		if ((n = read(fd, buf, sizeof(buf))) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0)
			break;
		if (write_all(STDOUT_FILENO, buf, (size_t)n, 0) == -1)
			return -1;
		for (i = 0; i < n; i++) {
			if (buf[i] != '\n') {
				if (used + 1 < sizeof(line))
					line[used++] = buf[i];
				continue;
			}
			line[used] = '\0';
			snprintf(last, lastsize, "%s", line);
			used = 0;
		}
	}
	if (used > 0) {		/* a last line without its newline */
		line[used] = '\0';
		snprintf(last, lastsize, "%s", line);
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct sockaddr_un sun;
	char last[256];
	int fd;

	if (argc != 2 || strlen(argv[1]) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "usage: status-client SOCKET (shorter than %zu bytes)\n",
		    sizeof(sun.sun_path));
		return 2;
	}
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, argv[1], strlen(argv[1]));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		fprintf(stderr, "status-client: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	if (write_all(fd, REQUEST, strlen(REQUEST), 1) == -1 ||
	    read_answer(fd, last, sizeof(last)) == -1) {
		fprintf(stderr, "status-client: %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	close(fd);
	if (strncmp(last, "ok", 2) != 0 || (last[2] != '\0' && last[2] != ' ')) {
		fprintf(stderr, "status-client: the answer ended with \"%s\"\n", last);
		return 1;
	}
	return 0;
}
