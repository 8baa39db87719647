// What every interop script for Node's ws shares: the payloads, the output, the checks, and
// a client whose messages and close can be awaited under a timeout.
//
// The Rust tests in interop/tests/node.rs start a lab on 127.0.0.1:0 and run a script from
// this folder with the lab's URL; see interop/src/lib.rs for why and how. A script prints one
// JSON object per line for the Rust side to check, and exits non-zero with a message on
// anything it did not expect (check() below, an error event, a timeout).

import { createHash } from 'node:crypto';
import WebSocket from 'ws';

// Every wait on the network is bounded, so a lab that never answers fails the script
// instead of hanging it (the Rust side kills it after a minute anyway).
export const TIMEOUT_MS = 10_000;

/** `abcdefghij` repeated to `size` bytes, as interop::text_payload builds it. */
export function textPayload(size) {
  return 'abcdefghij'.repeat(Math.floor(size / 10) + 1).slice(0, size);
}

/** `i mod 251` for each byte, as interop::binary_payload builds it. */
export function binaryPayload(size) {
  const bytes = Buffer.alloc(size);
  for (let i = 0; i < size; i++) bytes[i] = i % 251;
  return bytes;
}

/** Lowercase hex SHA-256 of a string (as UTF-8) or bytes. */
export function sha256(data) {
  return createHash('sha256').update(data).digest('hex');
}

/** One result line for the Rust side. */
export function emit(fields) {
  process.stdout.write(JSON.stringify(fields) + '\n');
}

/** Stops the script with a message and exit code 1 if `condition` is false. */
export function check(condition, message) {
  if (!condition) fail(message);
}

export function fail(message) {
  process.stderr.write(`${process.argv[1]}: ${message}\n`);
  process.exit(1);
}

/** `promise`, or a failure after TIMEOUT_MS naming `what`. */
export function within(promise, what) {
  let timer;
  const late = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${TIMEOUT_MS} ms: ${what}`)), TIMEOUT_MS);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/**
 * A ws client whose events are queued, so a script can await them in order:
 * `await client.next('the echo')` for a message, `await client.closed('...')` for the close.
 */
export class Client {
  /** Opens a connection to `url` with ws's `options` (its defaults if none). */
  static async open(url, options = {}) {
    let request;
    const ws = new WebSocket(url, {
      handshakeTimeout: TIMEOUT_MS,
      // ws's hook to see the upgrade request before it is sent: kept for scripts that
      // check what ws offered.
      finishRequest: (req) => { request = req; req.end(); },
      ...options,
    });
    const client = new Client(ws);
    client.ws.once('upgrade', (response) => { client.response = response; });
    await within(new Promise((resolve, reject) => {
      client.ws.once('open', resolve);
      client.ws.once('error', reject);
    }), `opening ${url}`);
    client.request = request;
    return client;
  }

  constructor(ws) {
    this.ws = ws;
    this.messages = [];
    this.waiting = null;
    ws.on('message', (data, isBinary) => this.push({ data, isBinary }));
    this.close = new Promise((resolve) => {
      ws.on('close', (code, reason) => {
        this.push(null);
        resolve({ code, reason: reason.toString() });
      });
    });
    // An error (a protocol violation ws detected, a reset) also ends in 'close'; keep it
    // for the message, so that a script failing on the close says why.
    ws.on('error', (error) => { this.error = error; });
  }

  push(item) {
    if (this.waiting) {
      const resolve = this.waiting;
      this.waiting = null;
      resolve(item);
    } else {
      this.messages.push(item);
    }
  }

  /** The next message, `{data, isBinary}`, or a failure if the connection closed first. */
  async next(what) {
    const item = this.messages.length > 0
      ? this.messages.shift()
      : await within(new Promise((resolve) => { this.waiting = resolve; }), what);
    if (item === null) {
      const { code, reason } = await this.close;
      fail(`closed (${code} ${reason}${this.error ? `, ${this.error.message}` : ''}) while waiting for ${what}`);
    }
    return item;
  }

  /** The close as ws reported it: the code and reason of the server's close frame. */
  closed(what) {
    return within(this.close, what);
  }
}
