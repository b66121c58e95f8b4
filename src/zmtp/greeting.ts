/**
 * The ZMTP 3.x greeting: the fixed 64 bytes each peer sends first (RFC 37 §"Greeting").
 *
 * @module
 */

import { ZmtpProtocolError } from "../errors.ts";

/** Length of a ZMTP 3.x greeting in bytes. */
export const GREETING_SIZE = 64;

/** The greeting as parsed from a peer. */
export interface Greeting {
  /** Major protocol version; 3 for every peer we accept. */
  major: number;
  /** Minor protocol version: 0 for ZMTP 3.0 peers, 1 for 3.1. */
  minor: number;
  /** Security mechanism name, e.g. `"NULL"`. */
  mechanism: string;
  /** The as-server bit. */
  asServer: boolean;
}

/**
 * Encode our greeting.
 *
 * Layout (RFC 37): `0xFF`, 8 padding bytes (libzmq puts 0x00…0x01 there, a ZMTP 1.0 length of 1),
 * `0x7F`, major `3`, minor `1`, mechanism (20 bytes, NUL-padded ASCII), as-server (1 byte),
 * filler (31 zero bytes).
 *
 * @param mechanism Mechanism name (only `"NULL"` is implemented).
 * @param asServer The as-server bit.
 * @returns The 64 bytes to send.
 */
export function encodeGreeting(mechanism = "NULL", asServer = false): Uint8Array {
  const g = new Uint8Array(GREETING_SIZE);
  g[0] = 0xff;
  g[8] = 0x01;
  g[9] = 0x7f;
  g[10] = 3;
  g[11] = 1;
  for (let i = 0; i < mechanism.length && i < 20; i++) g[12 + i] = mechanism.charCodeAt(i);
  g[32] = asServer ? 1 : 0;
  return g;
}

/**
 * Parse and validate a peer's 64-byte greeting.
 *
 * @param g At least {@link GREETING_SIZE} bytes.
 * @returns The parsed greeting.
 * @throws {ZmtpProtocolError} When the signature is wrong, the major version is below 3, or the
 *   mechanism field is not printable ASCII.
 */
export function parseGreeting(g: Uint8Array): Greeting {
  if (g.length < GREETING_SIZE) {
    throw new ZmtpProtocolError(`greeting too short: ${g.length} bytes`);
  }
  if (g[0] !== 0xff || (g[9] & 0x01) === 0) {
    throw new ZmtpProtocolError("bad greeting signature (not a ZMTP 3.x peer)");
  }
  const major = g[10];
  const minor = g[11];
  if (major < 3) {
    throw new ZmtpProtocolError(`unsupported ZMTP version ${major}.${minor} (need 3.x)`);
  }
  let mechanism = "";
  for (let i = 12; i < 32; i++) {
    const c = g[i];
    if (c === 0) break;
    if (c < 0x20 || c > 0x7e) throw new ZmtpProtocolError("bad greeting mechanism");
    mechanism += String.fromCharCode(c);
  }
  return { major, minor, mechanism, asServer: g[32] === 1 };
}
