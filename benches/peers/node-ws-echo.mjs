// The harness's echo workload served by Node's `ws`: what a learner gets by writing the
// echo server in Node instead of Rust. benches/src/peers.rs starts it and the comparison
// harness measures it next to our own WebSocket server (benches/src/server/http.rs).
//
//   benches/peers/install.sh && node benches/peers/node-ws-echo.mjs
//
// It binds 127.0.0.1 on a free port, prints one line, {"addr":"127.0.0.1:PORT"}, once it
// listens, and exits when its stdin closes, so it cannot outlive the program that started it.
//
// The wire format is the harness's (benches/src/wire.rs): a binary message carries a
// protobuf EchoRequest {uint64 seq = 1; bytes payload = 2}, a text message the JSON
// {"seq":7,"payload":"<base64>"}; the reply is an EchoReply with the same seq and payload, in
// the same encoding and the same frame type. Like our server it decodes every request and
// encodes a fresh reply, as a real service would, rather than bouncing the bytes back.
// A request it cannot decode closes the connection with 1007, as ours does.

import { createServer } from 'node:http';
import { WebSocketServer } from 'ws';

// The largest message accepted: MAX_FRAME in wire.rs, 8 MiB, so that a 4 MiB payload fits
// even as base64 in JSON. ws's default (100 MiB) would accept more than our server does.
const MAX_FRAME = 8 * 1024 * 1024;

// --- protobuf: the two fields of EchoRequest and EchoReply, by hand ---------------------
// A full protobuf library (protobufjs) would do the same work with more machinery; these
// two messages have a varint field and a bytes field, and that is all we need to read and
// write. Unknown fields are skipped as protobuf requires. The seq is kept in a JS number,
// exact up to 2^53: a connection's requests are counted from 0, far below that.

/** Reads a varint at `pos`; returns [value, next position]. */
function readVarint(buf, pos) {
  let value = 0;
  let scale = 1;
  for (let i = 0; i < 10; i++) {
    if (pos >= buf.length) throw new Error('truncated varint');
    const byte = buf[pos++];
    value += (byte & 0x7f) * scale;
    if ((byte & 0x80) === 0) return [value, pos];
    scale *= 128;
  }
  throw new Error('varint longer than 10 bytes');
}

/** Decodes an EchoRequest: { seq, payload } with the payload a view into `buf`. */
function decodeEcho(buf) {
  let seq = 0;
  let payload = buf.subarray(0, 0);
  let pos = 0;
  while (pos < buf.length) {
    let key;
    [key, pos] = readVarint(buf, pos);
    const field = Math.floor(key / 8);
    const wireType = key & 7;
    if (wireType === 0) {
      let value;
      [value, pos] = readVarint(buf, pos);
      if (field === 1) seq = value;
    } else if (wireType === 2) {
      let len;
      [len, pos] = readVarint(buf, pos);
      if (pos + len > buf.length) throw new Error('truncated length-delimited field');
      if (field === 2) payload = buf.subarray(pos, pos + len);
      pos += len;
    } else if (wireType === 1) {
      pos += 8;
    } else if (wireType === 5) {
      pos += 4;
    } else {
      throw new Error(`unsupported wire type ${wireType}`);
    }
  }
  if (pos !== buf.length) throw new Error('truncated fixed-width field');
  return { seq, payload };
}

/** Writes `value` as a varint into `out` at `pos`; returns the next position. */
function writeVarint(out, pos, value) {
  while (value >= 128) {
    out[pos++] = (value % 128) | 0x80;
    value = Math.floor(value / 128);
  }
  out[pos++] = value;
  return pos;
}

/** Bytes a varint of `value` takes. */
function varintLength(value) {
  let n = 1;
  while (value >= 128) {
    value = Math.floor(value / 128);
    n++;
  }
  return n;
}

/** Encodes an EchoReply into a fresh buffer, leaving out default values as proto3 does. */
function encodeEcho({ seq, payload }) {
  let size = 0;
  if (seq !== 0) size += 1 + varintLength(seq);
  if (payload.length > 0) size += 1 + varintLength(payload.length) + payload.length;
  const out = Buffer.allocUnsafe(size);
  let pos = 0;
  if (seq !== 0) {
    out[pos++] = 0x08; // field 1, varint
    pos = writeVarint(out, pos, seq);
  }
  if (payload.length > 0) {
    out[pos++] = 0x12; // field 2, length-delimited
    pos = writeVarint(out, pos, payload.length);
    payload.copy(out, pos);
  }
  return out;
}

// --- JSON: what every Node service does -------------------------------------------------

/** Decodes {"seq":..,"payload":"<base64>"} and encodes the reply, base64 and all. */
function echoJson(text) {
  const request = JSON.parse(text);
  if (!Number.isSafeInteger(request.seq) || request.seq < 0 || typeof request.payload !== 'string') {
    throw new Error('not an EchoRequest');
  }
  const payload = Buffer.from(request.payload, 'base64');
  return JSON.stringify({ seq: request.seq, payload: payload.toString('base64') });
}

// --- the server -------------------------------------------------------------------------

const server = createServer();
const wss = new WebSocketServer({
  server,
  maxPayload: MAX_FRAME,
  // Off (ws's default is also off for a server, said here so nobody turns it on): our server
  // does not compress, and compressing on one side only would compare zlib, not WebSockets.
  perMessageDeflate: false,
});

wss.on('connection', (ws) => {
  // ws sets TCP_NODELAY on every socket itself, as the harness does on its own.
  ws.on('message', (data, isBinary) => {
    let reply;
    try {
      reply = isBinary ? encodeEcho(decodeEcho(data)) : echoJson(data.toString('utf8'));
    } catch {
      // A harness client never sends a bad message; nothing is logged per message.
      ws.close(1007, 'undecodable echo request');
      return;
    }
    ws.send(reply, { binary: isBinary });
  });
  ws.on('error', () => ws.terminate());
});

server.listen(0, '127.0.0.1', () => {
  const { address, port } = server.address();
  process.stdout.write(JSON.stringify({ addr: `${address}:${port}` }) + '\n');
});

// Our parent holds the other end of stdin: when it exits or lets go, so do we.
process.stdin.on('end', () => process.exit(0));
process.stdin.on('close', () => process.exit(0));
process.stdin.resume();
