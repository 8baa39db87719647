// Close codes both ways through Node's ws, against a lab whose message limit is given on
// the command line.
//
//   node close.mjs ws://127.0.0.1:PORT/ws LIMIT
//
// 1. The client closes with 4000 and a reason, then with 1000 and none: ws reports the code
//    and reason of the lab's answering close frame.
// 2. The client sends one message of LIMIT + 1 bytes in a single frame, then one in two
//    frames of about LIMIT / 2 + 1 bytes each: the lab closes with 1009.
//
// Prints {"case", "received"} per connection: the lab's close frame as ws reported it.

import { Client, check, emit, textPayload } from './common.mjs';

const [url, limitArg] = process.argv.slice(2);
const limit = Number(limitArg);
const options = { perMessageDeflate: false };

for (const [code, reason] of [[4000, 'interop bye'], [1000, '']]) {
  const client = await Client.open(url, options);
  client.ws.send('before closing');
  const { data } = await client.next('the echo');
  check(data.toString() === 'before closing', 'echo changed');
  client.ws.close(code, reason);
  emit({ case: 'client_close', sent: { code, reason }, received: await client.closed(`closing with ${code}`) });
}

const half = Math.floor(limit / 2) + 1;
for (const [kase, parts] of [['too_big', [textPayload(limit + 1)]], ['too_big_fragmented', [textPayload(half), textPayload(half)]]]) {
  const client = await Client.open(url, options);
  parts.forEach((part, i) => client.ws.send(part, { fin: i === parts.length - 1 }));
  const received = await client.closed('the close after a message over the limit');
  check(client.messages.filter((m) => m !== null).length === 0, 'a message over the limit was answered');
  emit({ case: kase, received });
}
