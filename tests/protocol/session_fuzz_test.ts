/**
 * Random mutations of valid messages must only ever produce our typed errors (or a valid
 * message), never an uncaught TypeError/RangeError/SyntaxError. Seeded, so deterministic.
 */
import assert from "node:assert/strict";
import { MessageFormatError, SignatureError } from "../../src/errors.ts";
import { DELIMITER, Session, splitIdentities } from "../../src/protocol/session.ts";

const enc = new TextEncoder();
const KEY = "fuzz-key";

/** mulberry32: small, fast, seedable. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Rng = () => number;
const int = (rng: Rng, n: number) => Math.floor(rng() * n);

const JSON_SNIPPETS = [
  "{",
  "}",
  "[",
  "]",
  '"',
  ":",
  ",",
  "null",
  "true",
  "1e999",
  "-0",
  "NaN",
  "\\u",
  "\\ud800",
  '"msg_id"',
  '"msg_type"',
  "{}",
  "[]",
  '{"__proto__": {"x": 1}}',
  '{"constructor": 1}',
];

function randomBytes(rng: Rng, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = int(rng, 256);
  return out;
}

/** A valid message with random identities, content and buffers. */
function validFrames(rng: Rng, session: Session): Uint8Array[] {
  const identities = Array.from({ length: int(rng, 3) }, (_, i) => `id-${i}-${int(rng, 1000)}`);
  const buffers = Array.from({ length: int(rng, 3) }, () => randomBytes(rng, int(rng, 20)));
  const content: Record<string, unknown> = {};
  for (let i = 0, n = int(rng, 5); i < n; i++) {
    content[`k${i}`] = [int(rng, 100), "é☃", null, { nested: [true, 1.5] }][int(rng, 4)];
  }
  const parent = rng() < 0.5 ? session.header("apply_request") : undefined;
  return session.pack(session.msg("apply_reply", {
    content: content as never,
    parent,
    metadata: { status: "ok", engine: session.session } as never,
    identities,
    buffers,
  }));
}

/** One random structural or byte-level mutation. */
function mutate(rng: Rng, input: Uint8Array[]): Uint8Array[] {
  const frames = [...input];
  const pick = () => int(rng, Math.max(frames.length, 1));
  switch (int(rng, 12)) {
    case 0: { // flip bits in some bytes of one frame
      const i = pick();
      if (frames[i] === undefined || frames[i].length === 0) break;
      const copy = frames[i].slice();
      for (let k = 0, n = 1 + int(rng, 4); k < n; k++) {
        copy[int(rng, copy.length)] ^= 1 << int(rng, 8);
      }
      frames[i] = copy;
      break;
    }
    case 1: { // truncate a frame
      const i = pick();
      if (frames[i] !== undefined) {
        frames[i] = frames[i].subarray(0, int(rng, frames[i].length + 1));
      }
      break;
    }
    case 2: // drop a frame
      frames.splice(pick(), 1);
      break;
    case 3: { // duplicate a frame
      const i = pick();
      if (frames[i] !== undefined) frames.splice(i, 0, frames[i]);
      break;
    }
    case 4: { // swap two frames
      const i = pick(), j = pick();
      [frames[i], frames[j]] = [frames[j], frames[i]];
      break;
    }
    case 5: // truncate the message
      frames.length = int(rng, frames.length + 1);
      break;
    case 6: // replace a frame with random bytes
      frames[pick()] = randomBytes(rng, int(rng, 40));
      break;
    case 7: { // splice JSON-ish text into a frame
      const i = pick();
      if (frames[i] === undefined) break;
      const s = new TextDecoder().decode(frames[i]);
      const at = int(rng, s.length + 1);
      const snippet = JSON_SNIPPETS[int(rng, JSON_SNIPPETS.length)];
      frames[i] = enc.encode(s.slice(0, at) + snippet + s.slice(at + int(rng, 3)));
      break;
    }
    case 8: // insert an extra delimiter somewhere
      frames.splice(pick(), 0, enc.encode(DELIMITER));
      break;
    case 9: { // replace a JSON frame by another JSON value
      const values = ["[]", "null", "1", '"s"', "{}", '{"msg_id": 1}', '{"msg_id": "a"}'];
      frames[pick()] = enc.encode(values[int(rng, values.length)]);
      break;
    }
    case 10: // empty frame
      frames[pick()] = new Uint8Array(0);
      break;
    default: { // several mutations at once
      let out = frames;
      for (let k = 0, n = 2 + int(rng, 3); k < n; k++) out = mutate(rng, out);
      return out;
    }
  }
  return frames.filter((f) => f !== undefined);
}

/** Re-sign the JSON frames after a mutation, so keyed sessions reach the JSON checks. */
function resign(signer: Session, frames: Uint8Array[]): Uint8Array[] {
  try {
    const { identities, parts } = splitIdentities(frames);
    if (parts.length < 5) return frames;
    const signature = enc.encode(signer.sign(parts.slice(1, 5)));
    return [...identities, enc.encode(DELIMITER), signature, ...parts.slice(1)];
  } catch {
    return frames;
  }
}

function classify(fn: () => unknown): string {
  try {
    fn();
    return "ok";
  } catch (e) {
    if (e instanceof MessageFormatError) return `format:${e.reason}`;
    if (e instanceof SignatureError) return `signature:${e.reason}`;
    throw new Error(`untyped error escaped: ${e}`, { cause: e });
  }
}

function runFuzz(seed: number, iterations: number) {
  const rng = prng(seed);
  const sender = new Session({
    key: KEY,
    session: "0123abcd-4567ef0123456789abcdef01",
    pid: 1234,
    clock: () => 1_795_000_000_000.5,
    random: rng,
  });
  const outcomes = new Map<string, number>();
  const count = (k: string) => outcomes.set(k, (outcomes.get(k) ?? 0) + 1);
  for (let i = 0; i < iterations; i++) {
    const mutated = mutate(rng, validFrames(rng, sender));
    // A keyed receiver, on the raw mutation and on a re-signed one.
    const keyed = new Session({ key: KEY });
    count(classify(() => keyed.unpack(mutated)));
    count(classify(() => keyed.verify(mutated, { replayGuard: false })));
    count(classify(() => keyed.unpack(resign(sender, mutated), { raw: true, replayGuard: false })));
    // An unkeyed receiver parses everything it is given.
    count(classify(() => new Session().unpack(mutated)));
    count(classify(() => splitIdentities(mutated)));
  }
  return outcomes;
}

Deno.test("10,000 random mutations of valid messages only ever raise typed errors", () => {
  const outcomes = runFuzz(0x1bad5eed, 10_000);
  const total = [...outcomes.values()].reduce((a, b) => a + b, 0);
  assert.equal(total, 50_000);
  // The mutations reach every rejection path, and some survive as valid messages.
  for (
    const k of [
      "ok",
      "format:no-delimiter",
      "format:too-few-frames",
      "format:bad-json",
      "format:not-object",
      "format:bad-header",
      "signature:invalid",
      "signature:unsigned",
    ]
  ) {
    assert.ok((outcomes.get(k) ?? 0) > 0, `no outcome ${k}: ${JSON.stringify([...outcomes])}`);
  }
});

Deno.test("the fuzz run is deterministic for a given seed", () => {
  assert.deepEqual([...runFuzz(42, 300)].sort(), [...runFuzz(42, 300)].sort());
});

Deno.test("random byte soup as frames only ever raises typed errors", () => {
  const rng = prng(99);
  const keyed = new Session({ key: KEY });
  const plain = new Session();
  let typed = 0;
  for (let i = 0; i < 2000; i++) {
    const frames = Array.from({ length: int(rng, 9) }, () => randomBytes(rng, int(rng, 12)));
    if (rng() < 0.7) frames.splice(int(rng, frames.length + 1), 0, enc.encode(DELIMITER));
    for (const s of [keyed, plain]) {
      if (classify(() => s.unpack(frames)) !== "ok") typed++;
    }
  }
  assert.ok(typed > 3000);
});
