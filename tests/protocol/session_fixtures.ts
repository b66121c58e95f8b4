/**
 * Shared fixtures of the Session tests: the PROTOCOL.md §1.12 test vector and error asserts.
 *
 * @module
 */

import assert from "node:assert/strict";
import { MessageFormatError, SignatureError } from "../../src/errors.ts";
import { DELIMITER, parseDateMs, Session } from "../../src/protocol/session.ts";

export const enc = new TextEncoder();
export const dec = new TextDecoder();
export const text = (frame: Uint8Array) => dec.decode(frame);

// PROTOCOL.md §1.12
export const VECTOR_KEY = "9f1a3c5e-7b2d4e6f8a0b1c2d3e4f5a6b";
export const VECTOR_SESSION = "5d2c9a10-0e4fbb7c1a2d3e4f5a6b7c8d";
export const VECTOR_DATE = "2024-01-02T03:04:05.123456Z";
export const PRETTY_HEADER =
  `{"msg_id": "${VECTOR_SESSION}_4242_0", "msg_type": "connection_request", ` +
  `"username": "alice", "session": "${VECTOR_SESSION}", "date": "${VECTOR_DATE}", ` +
  `"version": "5.3"}`;
export const PRETTY_SIGNATURE = "e54b236b12cff12e3680d5b0e4263764fa0cbef60f1bf1030dcece5c9b2cd226";
export const COMPACT_SIGNATURE = "ad0b93735dfcb81df410af07e6ccb2c7bf2480d0e90fd4cf325b415a390e9570";

export function vectorSession(options: { key?: string } = {}): Session {
  return new Session({
    key: options.key ?? VECTOR_KEY,
    username: "alice",
    session: VECTOR_SESSION,
    pid: 4242,
    clock: () => parseDateMs(VECTOR_DATE),
  });
}

export function prettyVectorFrames(): Uint8Array[] {
  return [DELIMITER, PRETTY_SIGNATURE, PRETTY_HEADER, "{}", "{}", "{}"].map((s) => enc.encode(s));
}

export function assertFormatError(fn: () => unknown, reason: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof MessageFormatError, `expected MessageFormatError, got ${e}`);
    assert.equal(e.reason, reason);
    return true;
  });
}

export function assertSignatureError(fn: () => unknown, reason: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof SignatureError, `expected SignatureError, got ${e}`);
    assert.equal(e.reason, reason);
    return true;
  });
}
