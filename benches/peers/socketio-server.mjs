// A Socket.IO 4 server as small as a NestJS gateway on its default adapter would be: the
// peer the course's source material would have learners write. benches/src/peers.rs starts
// it; benches/src/socketio.rs is the Rust client that drives it like our own servers.
//
//   benches/peers/install.sh && node benches/peers/socketio-server.mjs
//
// It binds 127.0.0.1 on a free port, prints one line, {"addr":"127.0.0.1:PORT"}, once it
// listens, and exits when its stdin closes, so it cannot outlive the program that started it.
//
// Events, each next to what it is measured against:
//   echo (data, ack)       ack(data)                       our gateway's request and its ack
//   join (room, ack)       socket.join(room); ack(size)    the rooms lab's join
//   publish ({room, body}) io.to(room).emit('msg', body)   the rooms workload
//   broadcast (body)       io.emit('msg', body)            the fan-out workload
//   count ([data], ack)    ack(connected sockets)          lets a run know all members are in

import { createServer } from 'node:http';
import { Server } from 'socket.io';

// The largest message accepted: MAX_FRAME in benches/src/wire.rs (8 MiB), so a 4 MiB
// payload fits even as base64 in JSON. Socket.IO's default is 1 MB.
const MAX_FRAME = 8 * 1024 * 1024;

const httpServer = createServer();
const io = new Server(httpServer, {
  // WebSocket only, no HTTP long-polling first: the rows this server fills compare WebSocket
  // with WebSocket, and our Rust client speaks only the websocket transport anyway.
  transports: ['websocket'],
  // Off (engine.io's default, said here so nobody turns it on): our servers do not compress,
  // and compressing on one side only would compare zlib, not the frameworks.
  perMessageDeflate: false,
  maxHttpBufferSize: MAX_FRAME,
  // No cross-origin page ever connects: the clients are the harness's own, on loopback.
  serveClient: false,
});

io.on('connection', (socket) => {
  socket.on('echo', (data, ack) => {
    if (typeof ack === 'function') ack(data);
  });
  socket.on('join', (room, ack) => {
    socket.join(String(room));
    if (typeof ack === 'function') ack(io.of('/').adapter.rooms.get(String(room))?.size ?? 0);
  });
  socket.on('publish', (message) => {
    if (message && typeof message.room === 'string') io.to(message.room).emit('msg', message.body);
  });
  socket.on('broadcast', (body) => {
    io.emit('msg', body);
  });
  // The ack is the last argument, whether the client sent `count` with data or without.
  socket.on('count', (...args) => {
    const ack = args.at(-1);
    if (typeof ack === 'function') ack(io.engine.clientsCount);
  });
});

httpServer.listen(0, '127.0.0.1', () => {
  const { address, port } = httpServer.address();
  process.stdout.write(JSON.stringify({ addr: `${address}:${port}` }) + '\n');
});

// Our parent holds the other end of stdin: when it exits or lets go, so do we.
process.stdin.on('end', () => process.exit(0));
process.stdin.on('close', () => process.exit(0));
process.stdin.resume();
