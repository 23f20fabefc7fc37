/*
 * migrate.c: make sure queued connections migrate when a reuseport
 * listener closes (see migrate.h).
 *
 * The sysctl belongs to the network namespace, not the host: setting it
 * changes nothing outside the supervisor's namespace. It is left on at
 * exit: another supervisor in the namespace may rely on it, and it only
 * turns a closing listener's resets into migrations.
 */
#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cause.h"
#include "log.h"
#include "migrate.h"

/* Read the sysctl: 0 or 1, or -1 with errno. */
static int
migrate_read(const char *path)
{
	char buf[16];
	ssize_t n;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0) {
		errno = n == 0 ? EINVAL : errno;
		return -1;
	}
	buf[n] = '\0';
	if ((buf[0] != '0' && buf[0] != '1') || (buf[1] != '\n' &&
	    buf[1] != '\0')) {
		errno = EINVAL;
		return -1;
	}
	return buf[0] - '0';
}

/* Write 1 to the sysctl: 0, or -1 with errno. */
static int
migrate_write_on(const char *path)
{
	int fd, saved;

	if ((fd = open(path, O_WRONLY | O_CLOEXEC)) == -1)
		return -1;
	if (write(fd, "1\n", 2) != 2) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return close(fd);
}

/* Warn that connection migration is off, and what that costs. */
static void
migrate_log_off(const struct migrate *m)
{
	log_warnx("connection migration is unavailable: %s. Connections "
	    "queued on a SO_REUSEPORT socket that closes are reset instead of "
	    "moving to another socket of the port: with handoff = self, on "
	    "every reload (the old generation closes its own sockets); with "
	    "handoff = reuseport, when workers shrink or a worker dies (plain "
	    "reloads lose nothing there)", m->why);
}

/*
 * Check the sysctl, once: on already, turned on by the supervisor, or off
 * (m->why says why). Logs what it did when it is on.
 */
static void
migrate_check_sysctl(struct migrate *m, const char *procfs)
{
	char path[256];
	int on;

	snprintf(path, sizeof(path), "%s/%s", procfs, MIGRATE_SYSCTL);
	if ((on = migrate_read(path)) == 1) {
		m->state = MIGRATE_ON;
		log_info("connection migration is on (net.ipv4.tcp_migrate_req "
		    "= 1): a closing reuseport socket hands its queued "
		    "connections to the others");
		return;
	}
	if (on == -1)
		snprintf(m->why, sizeof(m->why), "net.ipv4.tcp_migrate_req "
		    "cannot be read: %s (it needs Linux 5.14)", strerror(errno));
	else if (migrate_write_on(path) == 0) {
		m->state = MIGRATE_ENABLED;
		log_info("connection migration: set net.ipv4.tcp_migrate_req "
		    "= 1 in the supervisor's network namespace, so that a "
		    "closing reuseport socket hands its queued connections to "
		    "the others");
		return;
	} else
		snprintf(m->why, sizeof(m->why), "net.ipv4.tcp_migrate_req is "
		    "0 and cannot be set: %s (root in the network namespace "
		    "can)", strerror(errno));
	m->state = MIGRATE_OFF;
}

/*
 * Check, once, that connection migration is on in the supervisor's
 * network namespace, turning it on where the supervisor may; and, once a
 * reuseport program runs (probe given), whether the SK_REUSEPORT program
 * can be loaded. Where it can, reuseport groups steer through it, by
 * slot, whatever the sysctl says: it picks only the supervisor's own
 * sockets, and migrates a closing socket's queue itself. Logs what it
 * found. procfs is "/proc" but for tests.
 */
void
migrate_ensure(struct migrate *m, const char *procfs, migrate_probe_fn probe)
{
	char *bpf_why = NULL;
	bool checked = m->state != MIGRATE_UNCHECKED;

	if (!checked)
		migrate_check_sysctl(m, procfs);
	if (probe == NULL || m->probed) {
		if (!checked && m->state == MIGRATE_OFF)
			migrate_log_off(m);
		return;
	}
	m->probed = true;
	if (probe(&bpf_why) == -1) {
		if (m->state != MIGRATE_OFF)
			log_info("reuseport listeners steer through classic BPF "
			    "(%s): a process of the supervisor's uid that joins "
			    "the port can get connections", cause_text(bpf_why));
		else if (!checked)
			migrate_log_off(m);
		free(bpf_why);
		return;
	}
	m->steer_ebpf = true;
	if (m->state != MIGRATE_OFF) {
		log_info("reuseport listeners steer through an SK_REUSEPORT "
		    "program, by worker slot (CAP_BPF)");
		return;
	}
	m->state = MIGRATE_EBPF;
	log_info("connection migration: %s; reuseport listeners steer and "
	    "migrate through an SK_REUSEPORT program instead (CAP_BPF)",
	    m->why);
	log_warnx("connection migration is unavailable to self mode (%s): "
	    "with handoff = self, connections queued on the old generation's "
	    "own sockets are reset at every reload", m->why);
}

/* Tell whether closing a reuseport listener moves its queue. */
bool
migrate_available(const struct migrate *m)
{
	return m->state == MIGRATE_ON || m->state == MIGRATE_ENABLED;
}

/*
 * Tell whether closing a socket of a reuseport group the supervisor holds
 * moves its queue: by the sysctl, or by the SK_REUSEPORT program.
 */
bool
migrate_reuseport_available(const struct migrate *m)
{
	return migrate_available(m) || m->state == MIGRATE_EBPF;
}

/* A state's name, for status. */
const char *
migrate_state_name(enum migrate_state state)
{
	switch (state) {
	case MIGRATE_UNCHECKED:
		return "unchecked";
	case MIGRATE_ON:
		return "on";
	case MIGRATE_ENABLED:
		return "enabled";
	case MIGRATE_EBPF:
		return "ebpf";
	case MIGRATE_OFF:
		break;
	}
	return "off";
}
