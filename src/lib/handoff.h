/*
 * handoff.h: libhandoff, the two protocols a server speaks to its
 * supervisor (handoff, or systemd): the sockets it is passed (LISTEN_FDS,
 * LISTEN_PID, LISTEN_FDNAMES) and the state it reports (NOTIFY_SOCKET).
 *
 * Every function returns as libsystemd's do: >= 0 on success, a negative
 * errno value on failure. See libhandoff(3).
 */
#ifndef HANDOFF_H
#define HANDOFF_H

#ifdef __cplusplus
extern "C" {
#endif

/* The first fd a supervisor passes; the next ones follow it. */
#define HANDOFF_LISTEN_FDS_START	3

#if defined(__GNUC__) || defined(__clang__)
#define HANDOFF_PRINTF(f, a)	__attribute__((format(printf, f, a)))
#else
#define HANDOFF_PRINTF(f, a)
#endif

/* How many sockets were passed at fds 3, 4, ...: 0 if none were passed to
   this process (LISTEN_PID names another), as sd_listen_fds(0). */
int	handoff_listen_fds(void);

/* The fd that LISTEN_FDNAMES names name, or -ENOENT. */
int	handoff_listener_fd(const char *name);

/* READY=1, STATUS=text, STOPPING=1 to NOTIFY_SOCKET: > 0 when sent, 0 when
   NOTIFY_SOCKET is unset. */
int	handoff_ready(void);
int	handoff_status(const char *fmt, ...) HANDOFF_PRINTF(1, 2);
int	handoff_stopping(void);

#ifdef __cplusplus
}
#endif

#endif
