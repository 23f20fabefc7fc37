#!/usr/bin/env python3
"""hello-server.py: a Python HTTP server that hands off cleanly under handoff.

Standard library only. It takes its listening socket by name from handoff
(LISTEN_FDS, LISTEN_PID and LISTEN_FDNAMES, as systemd passes them), says
READY=1 on NOTIFY_SOCKET once it accepts, and on SIGTERM (the program's
stop_signal) stops accepting, finishes every connection it accepted and
exits 0.

    GET /               gen=G pid=PID worker=W hello from python
    GET /slow?ms=N      the same after N milliseconds (at most 30000)

A request body, if any, is read before the answer. Run it from the top of
the tree with `handoff run -c examples/hello-python.ini`; the argument is
the listener's name in LISTEN_FDNAMES (default: web).
"""
import http.server
import os
import signal
import socket
import socketserver
import sys
import threading
import time
import urllib.parse

GENERATION = os.environ.get("HANDOFF_GENERATION", "-")
WORKER = os.environ.get("HANDOFF_WORKER", "-")


def listener_fd(name):
    """The fd passed under name, as sd_listen_fds() finds it, or None."""
    try:
        if int(os.environ.get("LISTEN_PID", "0")) != os.getpid():
            return None
        count = int(os.environ.get("LISTEN_FDS", "0"))
    except ValueError:
        return None
    names = os.environ.get("LISTEN_FDNAMES", "").split(":")
    for fd in range(3, 3 + count):
        os.set_inheritable(fd, False)  # the sockets are not for our children
    if name in names[:count]:
        return 3 + names.index(name)
    return None


def notify(state):
    """Send state to NOTIFY_SOCKET (a path, or @name: an abstract socket)."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):
        address = "\0" + address[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.sendto(state.encode(), address)


class Handler(http.server.BaseHTTPRequestHandler):
    """GET / and /slow?ms=N (and POST, whose body is read first)."""

    timeout = 60  # a client silent for a minute is dropped

    def do_GET(self):
        self.answer()

    def do_POST(self):
        self.answer()

    def answer(self):
        """Read the body, wait on /slow, say who answers."""
        url = urllib.parse.urlsplit(self.path)
        try:
            length = int(self.headers.get("Content-Length") or 0)
            ms = int(urllib.parse.parse_qs(url.query).get("ms", ["0"])[0])
        except ValueError:
            self.send_error(400)
            return
        if url.path not in ("/", "/slow"):
            self.send_error(404)
            return
        self.rfile.read(max(length, 0))
        if url.path == "/slow":
            time.sleep(min(max(ms, 0), 30000) / 1000)
        body = ("gen=%s pid=%d worker=%s hello from python\n"
                % (GENERATION, os.getpid(), WORKER)).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format, *args):
        """A line per request would flood handoff's log: none."""


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    """A thread per connection; server_close() waits for all of them."""

    daemon_threads = False
    block_on_close = True


def main():
    name = sys.argv[1] if len(sys.argv) > 1 else "web"
    fd = listener_fd(name)
    if fd is None:
        sys.exit("hello-server.py: no listener named %r in LISTEN_FDNAMES: "
                 "run me under handoff (examples/hello-python.ini)" % name)
    # Blocked in every thread, taken by sigwait() below.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    server = Server(None, Handler, bind_and_activate=False)
    server.socket.close()
    server.socket = socket.socket(fileno=fd)  # already bound and listening
    accepting = threading.Thread(target=server.serve_forever,
                                 kwargs={"poll_interval": 0.1})
    accepting.start()
    notify("READY=1")
    print("serving %s on fd %d" % (name, fd), flush=True)

    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    print("stop signal: no longer accepting; finishing what was accepted",
          flush=True)
    notify("STOPPING=1")
    server.shutdown()      # the accept loop is over
    server.server_close()  # close (never shutdown()) our copy of the shared
                           # socket; wait for every connection accepted
    return 0


if __name__ == "__main__":
    sys.exit(main())
