/**
 * A client that dies in the middle of a large frame, for `relay_cut_through_test.ts`.
 *
 * Usage: `deno run -A dying_sender.ts <client.json> <announced MiB> <sent MiB>`. It asks the Hub
 * for engine 0's uuid, then on a raw TCP connection to the MUX port completes the ZMTP
 * handshake and writes a validly signed `apply_request` to that engine whose first buffer
 * announces `<announced MiB>` but stops after `<sent MiB>`; prints `sent` and waits to be killed.
 *
 * Not a test file.
 *
 * @module
 */

import { Session } from "../../../src/protocol/session.ts";
import { createSocket } from "../../../src/zmtp/mod.ts";
import { encodeGreeting } from "../../../src/zmtp/greeting.ts";
import { FLAG_MORE, readyCommand, writeFrameHeader } from "../../../src/zmtp/frame_codec.ts";

const [file, announcedMiB, sentMiB] = Deno.args;
const info = JSON.parse(await Deno.readTextFile(file));
const session = new Session({ key: info.key, signatureScheme: info.signature_scheme });
const host = String(info.interface).replace(/^tcp:\/\//, "");

const reg = createSocket("DEALER");
reg.connect(`tcp://${host}:${info.registration}`);
await reg.send(session.pack(session.msg("connection_request", {})));
const reply = session.unpack(await reg.receive());
await reg.close();
const uuid = (reply.content as { engines: Record<string, string> }).engines["0"];
if (uuid === undefined) throw new Error(`no engine 0 in ${JSON.stringify(reply.content)}`);

const frames = session.pack(session.msg("apply_request", {
  identities: [uuid],
  metadata: {},
  content: {},
}));
const announced = Number(announcedMiB) << 20;
const sent = Number(sentMiB) << 20;
let size = 64 + 300;
for (const f of frames) size += 9 + f.length;
const out = new Uint8Array(size + 9 + sent);
const greeting = encodeGreeting();
out.set(greeting);
let p = greeting.length;
const ready = readyCommand("DEALER");
out.set(ready, p);
p += ready.length;
for (const f of frames) {
  p = writeFrameHeader(out, p, FLAG_MORE, f.length);
  out.set(f, p);
  p += f.length;
}
p = writeFrameHeader(out, p, 0, announced);
out.fill(7, p, p + sent);
p += sent;

const conn = await Deno.connect({ hostname: host, port: info.mux });
let off = 0;
while (off < p) off += await conn.write(out.subarray(off, p));
console.log("sent");
// Drain what the controller sends (greeting, READY) and wait to be killed.
const sink = new Uint8Array(4096);
while ((await conn.read(sink)) !== null) { /* keep reading */ }
