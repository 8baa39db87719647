// Fragmented messages and a ping through Node's ws, against the handshake lab.
//
//   node fragments.mjs ws://127.0.0.1:PORT/ws
//
// ws sends one frame per send() call; `fin: false` leaves the message open, so the next
// call sends a continuation frame. The lab must reassemble the frames and echo one message.
// Prints {"case": "fragmented", ...} for two text messages in 3 frames (one with a 3-byte
// character in a frame of its own) and a binary message in 3 frames of 64 KiB, then
// {"case": "ping", ...}.

import { Client, binaryPayload, check, emit, sha256, within } from './common.mjs';

const url = process.argv[2];
const client = await Client.open(url, { perMessageDeflate: false });

/** Sends `parts` as the frames of one message; returns the echo. */
async function fragmented(parts, binary, what) {
  parts.forEach((part, i) => client.ws.send(part, { binary, fin: i === parts.length - 1 }));
  return client.next(what);
}

for (const parts of [['Hel', 'lo, ', 'world'], ['1 ', '€', ' = 100 c']]) {
  const { data, isBinary } = await fragmented(parts, false, 'the reassembled text');
  check(!isBinary && data.toString() === parts.join(''), `text fragments came back as ${data}`);
  emit({ case: 'fragmented', type: 'text', fragments: parts.length, received: data.toString() });
}

const whole = binaryPayload(3 * 65536);
const parts = [0, 1, 2].map((i) => whole.subarray(i * 65536, (i + 1) * 65536));
const { data, isBinary } = await fragmented(parts, true, 'the reassembled binary');
check(isBinary && Buffer.compare(data, whole) === 0, 'binary fragments came back changed');
emit({ case: 'fragmented', type: 'binary', fragments: parts.length, size: data.length, sha256: sha256(data) });

const pong = within(new Promise((resolve) => client.ws.once('pong', resolve)), 'the pong');
client.ws.ping(Buffer.from('are you there'));
emit({ case: 'ping', payload: 'are you there', pong: (await pong).toString() });

client.ws.close(1000);
await client.closed('the closing handshake');
