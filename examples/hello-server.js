#!/usr/bin/env node
// hello-server.js: a Node HTTP server that hands off cleanly under handoff.
//
// No npm package. It takes its listening socket by name from handoff
// (LISTEN_FDS, LISTEN_PID and LISTEN_FDNAMES, as systemd passes them), says
// READY=1 once it accepts, and on SIGTERM (the program's stop_signal) stops
// accepting, finishes every connection it accepted and exits 0.
//
//     GET /               gen=G pid=PID worker=W hello from node
//     GET /slow?ms=N      the same after N milliseconds (at most 30000)
//
// A request body, if any, is read before the answer. Run it from the top of
// the tree with `handoff run -c examples/hello-node.ini`; the argument is the
// listener's name in LISTEN_FDNAMES (default: web).
//
// READY=1: Node has no unix datagram socket, so the message goes through
// systemd-notify (Debian: apt-get install systemd). handoff counts a message
// for the worker whose pid, or whose process group, sent it, and looks the
// sender up when it reads the message: systemd-notify (systemd 246 or later)
// sends READY=1 and then waits until handoff has read a second message
// (BARRIER=1), so it is still alive, in this worker's process group, when
// handoff looks. Never pass it --no-block: it could then be gone by then,
// and the message ignored.
'use strict';

const { spawn } = require('child_process');
const http = require('http');
const net = require('net');

const name = process.argv[2] || 'web';
const generation = process.env.HANDOFF_GENERATION || '-';
const worker = process.env.HANDOFF_WORKER || '-';
// Node listens again on the socket it is given, which sets the socket's
// backlog for every worker: keep BACKLOG equal to the listener's backlog.
const backlog = Number(process.env.BACKLOG) || 4096;

// The fd passed under name, as sd_listen_fds() finds it; -1 if none.
function listenerFd(wanted) {
  if (process.env.LISTEN_PID !== String(process.pid)) return -1;
  const count = Number(process.env.LISTEN_FDS) || 0;
  const i = (process.env.LISTEN_FDNAMES || '').split(':').indexOf(wanted);
  return i >= 0 && i < count ? 3 + i : -1;
}

// Say READY=1 to NOTIFY_SOCKET, if there is one (see above).
function notifyReady() {
  if (!process.env.NOTIFY_SOCKET) return;
  const helper = spawn('systemd-notify', ['--ready'], { stdio: 'inherit' });
  helper.on('error', (err) => {
    console.error(`cannot say READY=1: systemd-notify: ${err.message}`);
    process.exit(1);
  });
  helper.on('exit', (code) => {
    if (code !== 0) console.error(`systemd-notify --ready exited with ${code}`);
  });
}

// Each open connection: 'new' until its first request, 'busy' while it has
// one in hand, 'idle' between requests (HTTP keep-alive).
const connections = new Map();
let stopping = false;

// GET / and /slow?ms=N (and POST, whose body is read first).
const app = http.createServer((req, res) => {
  const socket = req.socket;
  connections.set(socket, 'busy');
  res.on('finish', () => {
    if (stopping) socket.end();
    else if (connections.has(socket)) connections.set(socket, 'idle');
  });
  const url = new URL(req.url, 'http://localhost');
  const ms = Math.min(Math.max(Number(url.searchParams.get('ms')) || 0, 0), 30000);
  req.resume();
  req.on('end', () => {
    if (url.pathname !== '/' && url.pathname !== '/slow') {
      res.writeHead(404, { Connection: stopping ? 'close' : 'keep-alive' });
      res.end('not found\n');
      return;
    }
    setTimeout(() => {
      const body = `gen=${generation} pid=${process.pid} worker=${worker} hello from node\n`;
      const headers = { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(body) };
      if (stopping) headers.Connection = 'close';
      res.writeHead(200, headers);
      res.end(body);
    }, url.pathname === '/slow' ? ms : 0);
  });
});

app.timeout = 60000; // a client silent for a minute is dropped

// Accepts on the inherited socket and hands each connection to app.
const listener = net.createServer((socket) => {
  connections.set(socket, 'new');
  socket.on('close', () => connections.delete(socket));
  app.emit('connection', socket);
});

// Stop accepting, close the idle connections, exit 0 once every connection
// accepted is closed. One that has not sent its request yet is waited for:
// it was accepted, and its request may be on the way.
function stop() {
  if (stopping) return;
  stopping = true;
  console.log('stop signal: no longer accepting; finishing what was accepted');
  // Closes this process's copy of the shared socket (never shutdown()).
  listener.close(() => process.exit(0));
  for (const [socket, state] of connections) if (state === 'idle') socket.end();
}

const fd = listenerFd(name);
if (fd === -1) {
  console.error(`hello-server.js: no listener named '${name}' in LISTEN_FDNAMES: ` +
      'run me under handoff (examples/hello-node.ini)');
  process.exit(1);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
listener.listen({ fd }, backlog, () => {
  notifyReady();
  console.log(`serving ${name} on fd ${fd}`);
});
