// The handshake lab's echo through Node's ws, with ws's default options: text and binary
// messages of each size given on the command line come back unchanged.
//
//   node echo.mjs ws://127.0.0.1:PORT/ws 0 125 65536 1048576
//
// ws offers permessage-deflate by default (RFC 7692); the lab accepts it, so every message
// after the handshake may be compressed either way. Prints {"case": "extensions", ...} with what was
// offered and accepted, then {"case": "echo", "type", "size", "sha256"} per size and type.

import { Client, binaryPayload, check, emit, sha256, textPayload } from './common.mjs';

const [url, ...sizes] = process.argv.slice(2);
const client = await Client.open(url);
emit({
  case: 'extensions',
  offered: client.request.getHeader('sec-websocket-extensions') ?? null,
  accepted: client.response.headers['sec-websocket-extensions'] ?? null,
  negotiated: client.ws.extensions,
});
for (const size of sizes.map(Number)) {
  for (const [type, payload] of [['text', textPayload(size)], ['binary', binaryPayload(size)]]) {
    client.ws.send(payload, { binary: type === 'binary' });
    const { data, isBinary } = await client.next(`the echo of ${type} of ${size} bytes`);
    check(isBinary === (type === 'binary'), `${type} of ${size} came back as the other type`);
    check(Buffer.compare(data, Buffer.from(payload)) === 0, `${type} of ${size} bytes came back changed`);
    emit({ case: 'echo', type, size: data.length, sha256: sha256(data) });
  }
}
client.ws.close(1000);
const { code } = await client.closed('the closing handshake');
check(code === 1000, `the lab answered a 1000 close with ${code}`);
