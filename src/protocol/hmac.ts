/**
 * The message signer (PROTOCOL.md §1.3): HMAC over the four JSON frames, and the
 * constant-time check of a received signature.
 *
 * @module
 */

import process from "node:process";
import type * as NodeCrypto from "node:crypto";
import { nativeSha256, SHA256_CTX_BYTES, type Sha256Calls, sha256With } from "./native_sha256.ts";

/** node:crypto, with its one-shot `hash(algorithm, data, "hex")` (Node ≥ 21.7, Deno 2). */
type NodeHashes = typeof NodeCrypto & {
  hash?: (algorithm: string, data: Uint8Array, encoding: "hex") => string;
};

let nodeCrypto: NodeHashes | undefined;

/**
 * node:crypto, loaded on first use: loading it costs ~25 ms per thread (an engine has two),
 * which a process that hashes through OpenSSL never needs to spend.
 */
function nodeHashes(): NodeHashes {
  return nodeCrypto ??= process.getBuiltinModule("node:crypto") as NodeHashes;
}

/** Messages whose four JSON frames total at most this many bytes are hashed in one call. */
const SCRATCH_LIMIT = 64 * 1024;

/** The hash names `signatureScheme` accepts after `hmac-`, with block and digest sizes. */
export const HASHES: Record<string, { block: number; size: number }> = {
  md5: { block: 64, size: 16 },
  sha1: { block: 64, size: 20 },
  sha224: { block: 64, size: 28 },
  sha256: { block: 64, size: 32 },
  sha384: { block: 128, size: 48 },
  sha512: { block: 128, size: 64 },
};

/** Value of an ASCII hex digit (either case) by char code below 128; -1 for other characters. */
export const HEX_VALUE: Int8Array = new Int8Array(128).fill(-1);
for (let i = 0; i < 16; i++) {
  HEX_VALUE["0123456789abcdef".charCodeAt(i)] = i;
  HEX_VALUE["0123456789ABCDEF".charCodeAt(i)] = i;
}

/** Lowercase hex digits by value, as char codes. */
const HEX_CODE = Uint8Array.from("0123456789abcdef", (c) => c.charCodeAt(0));

/**
 * HMAC (RFC 2104) with the key's pads absorbed once. For `sha256` (the default scheme) it uses
 * the system's OpenSSL where {@linkcode nativeSha256} allows (1.2–1.6 µs per 700-byte message
 * against 5–7 in a hot loop), else node:crypto's synchronous hashes. Equal to `createHmac`
 * either way (tests check every scheme, and both paths).
 *
 * On the node:crypto path, Deno's `createHmac` builds a stream object and re-derives the key
 * pads on every call: measured on Deno 2.9, 10–14 µs per message against 3–5 µs with
 * `createHash` and its five `update` calls, and about 1 µs less again when the inner pad and
 * the four frames are copied into one scratch buffer and hashed by the one-shot `hash()`.
 *
 * Use: {@linkcode Hmac.compute} a digest, then read it with {@linkcode Hmac.matches} or
 * {@linkcode Hmac.digestHex}; the signer keeps only the last one.
 */
export class Hmac {
  readonly #algorithm: string;
  readonly #innerPad: Uint8Array;
  /** Outer pad followed by room for the inner digest. */
  readonly #outer: Uint8Array;
  readonly #block: number;
  readonly #size: number;
  /** Inner pad followed by room for the frames (one-shot path). */
  #scratch: Uint8Array;
  /** The last digest as lowercase hex ASCII. */
  readonly #hexOut: Uint8Array;
  /** The native calls and their contexts (sha256 only). */
  readonly #native: Sha256Calls | undefined;
  /** node:crypto, where the native calls are not used. */
  readonly #node: NodeHashes | undefined;
  readonly #innerCtx: Uint8Array;
  readonly #outerCtx: Uint8Array;
  readonly #ctx: Uint8Array;
  readonly #md: Uint8Array;

  /**
   * @param algorithm A key of {@linkcode HASHES}.
   * @param key The key bytes.
   * @param native Whether the native SHA-256 may be used (default `true`; tests turn it off).
   */
  constructor(algorithm: string, key: Uint8Array, native = true) {
    const { block, size } = HASHES[algorithm];
    this.#algorithm = algorithm;
    this.#block = block;
    this.#size = size;
    this.#hexOut = new Uint8Array(2 * size);
    const calls = native && algorithm === "sha256" ? nativeSha256() : undefined;
    this.#native = calls;
    this.#node = calls === undefined ? nodeHashes() : undefined;
    const k = key.length <= block
      ? key
      : calls !== undefined
      ? sha256With(calls, key)
      : nodeHashes().createHash(algorithm).update(key).digest();
    this.#innerPad = new Uint8Array(block);
    this.#outer = new Uint8Array(block + size);
    for (let i = 0; i < block; i++) {
      const b = i < k.length ? k[i] : 0;
      this.#innerPad[i] = b ^ 0x36;
      this.#outer[i] = b ^ 0x5c;
    }
    this.#scratch = new Uint8Array(block + 1024);
    this.#scratch.set(this.#innerPad);
    const ctxBytes = calls === undefined ? 0 : SHA256_CTX_BYTES;
    this.#innerCtx = new Uint8Array(ctxBytes);
    this.#outerCtx = new Uint8Array(ctxBytes);
    this.#ctx = new Uint8Array(ctxBytes);
    this.#md = new Uint8Array(calls === undefined ? 0 : 32);
    if (calls !== undefined) {
      calls.SHA256_Init(this.#innerCtx);
      calls.SHA256_Update(this.#innerCtx, this.#innerPad, BigInt(block));
      calls.SHA256_Init(this.#outerCtx);
      calls.SHA256_Update(this.#outerCtx, this.#outer.subarray(0, block), BigInt(block));
    }
  }

  /** Whether this signer hashes through the system's OpenSSL. */
  get native(): boolean {
    return this.#native !== undefined;
  }

  /** Computes the HMAC of `frames[from]..frames[from + 3]`, hashed as one byte stream. */
  compute(frames: readonly Uint8Array[], from: number): void {
    const calls = this.#native;
    if (calls === undefined) {
      const hex = this.#nodeHex(frames, from);
      const out = this.#hexOut;
      for (let i = 0; i < out.length; i++) out[i] = hex.charCodeAt(i);
      return;
    }
    const ctx = this.#ctx, md = this.#md;
    ctx.set(this.#innerCtx);
    for (let i = from; i < from + 4; i++) {
      const f = frames[i];
      if (f.length > 0) calls.SHA256_Update(ctx, f, BigInt(f.length));
    }
    calls.SHA256_Final(md, ctx);
    ctx.set(this.#outerCtx);
    calls.SHA256_Update(ctx, md, 32n);
    calls.SHA256_Final(md, ctx);
    const out = this.#hexOut;
    for (let i = 0, o = 0; i < 32; i++, o += 2) {
      const b = md[i];
      out[o] = HEX_CODE[b >>> 4];
      out[o + 1] = HEX_CODE[b & 15];
    }
  }

  /** The last digest's hex length (twice the hash's size). */
  get hexLength(): number {
    return this.#hexOut.length;
  }

  /** The last digest as lowercase hex ASCII (a view, valid until the next compute). */
  get digestHex(): Uint8Array {
    return this.#hexOut;
  }

  /** Lowercase hex HMAC of `frames[from]..frames[from + 3]`, as a string. */
  hex(frames: readonly Uint8Array[], from: number): string {
    this.compute(frames, from);
    return String.fromCharCode.apply(null, this.#hexOut as unknown as number[]);
  }

  /**
   * Whether a received signature frame equals the last digest in hex, compared in constant
   * time: no branch depends on the bytes. (Deno's `crypto.timingSafeEqual` is this same
   * JavaScript loop behind two DataView conversions and an encode; calling it cost about 1.5 µs
   * per message.)
   */
  matches(received: Uint8Array): boolean {
    const expected = this.#hexOut;
    const n = expected.length;
    if (received.length !== n) return false;
    let diff = 0;
    for (let i = 0; i < n; i++) diff |= expected[i] ^ received[i];
    return diff === 0;
  }

  /** node:crypto's HMAC as a hex string. */
  #nodeHex(frames: readonly Uint8Array[], from: number): string {
    const { hash: oneShot, createHash } = this.#node!;
    const f0 = frames[from], f1 = frames[from + 1], f2 = frames[from + 2], f3 = frames[from + 3];
    const n = f0.length + f1.length + f2.length + f3.length;
    let inner: string;
    if (oneShot !== undefined && n <= SCRATCH_LIMIT) {
      const block = this.#block;
      let scratch = this.#scratch;
      if (block + n > scratch.length) {
        scratch = new Uint8Array(Math.min(block + SCRATCH_LIMIT, 2 * (block + n)));
        scratch.set(this.#innerPad);
        this.#scratch = scratch;
      }
      let at = block;
      scratch.set(f0, at);
      at += f0.length;
      scratch.set(f1, at);
      at += f1.length;
      scratch.set(f2, at);
      at += f2.length;
      scratch.set(f3, at);
      inner = oneShot(this.#algorithm, scratch.subarray(0, block + n), "hex");
    } else {
      inner = createHash(this.#algorithm).update(this.#innerPad)
        .update(f0).update(f1).update(f2).update(f3)
        .digest("hex");
    }
    const outer = this.#outer;
    for (let i = 0, o = this.#block; i < this.#size; i++, o++) {
      outer[o] = (HEX_VALUE[inner.charCodeAt(2 * i)] << 4) | HEX_VALUE[inner.charCodeAt(2 * i + 1)];
    }
    return oneShot !== undefined
      ? oneShot(this.#algorithm, outer, "hex")
      : createHash(this.#algorithm).update(outer).digest("hex");
  }
}
