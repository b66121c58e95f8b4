/**
 * The kernel's only door to the serialization format (`src/protocol/serialize.ts`, ipp-js,
 * and `src/protocol/pickle.ts` for Python clients). Runs inside the kernel worker, so that
 * decoding and encoding big buffers never blocks the engine's main thread.
 *
 * Calling convention for `apply` (JavaScript has no keyword arguments): the function gets the
 * positional arguments, then — only when the request has keyword arguments — one more
 * argument, a plain object of them: `f(...args)` or `f(...args, kwargs)`.
 *
 * @module
 */

import {
  FunctionSource,
  Reference,
  serializeObject,
  unpackApplyMessage,
} from "../../protocol/serialize.ts";
import { serializeObjectPickle } from "../../protocol/pickle.ts";

/** The function of a decoded call: source to compile, or an already resolved value. */
export type CallTarget =
  | { kind: "source"; source: string; name: string }
  | { kind: "value"; value: unknown; name: string };

/** A decoded `apply_request`. */
export interface DecodedCall {
  /** The request's format; the result is encoded in the same one. */
  format: "ipp-js" | "pickle";
  /** What to call. */
  target: CallTarget;
  /** Positional arguments (References already resolved). */
  args: unknown[];
  /** Keyword arguments (References already resolved). */
  kwargs: Record<string, unknown>;
}

/**
 * Decode `apply_request` buffers. Functions are left as source for the kernel to compile
 * (with interrupt checks); `Reference`s — the function or arguments — are resolved with `lookup`.
 *
 * @param frames The request buffers.
 * @param lookup Resolves a Reference's name in the user namespace.
 * @returns The call.
 * @throws {UnsupportedSerialization} for pickled Python functions or unknown formats.
 * @throws {SerializationError} for malformed buffers.
 */
export function decodeApply(frames: Uint8Array[], lookup: (name: string) => unknown): DecodedCall {
  const resolveReference = (r: Reference) => lookup(r.name);
  const call = unpackApplyMessage(frames, { functions: "source", resolveReference });
  let target: CallTarget;
  const f = call.f as unknown;
  if (f instanceof FunctionSource) target = { kind: "source", source: f.source, name: f.name };
  else if (f instanceof Reference) target = { kind: "value", value: lookup(f.name), name: f.name };
  else target = { kind: "value", value: f, name: (f as { name?: string }).name ?? "" };
  let { args, kwargs } = call;
  if (call.format === "pickle") {
    // The pickle reader leaves References in place.
    const res = (v: unknown) => v instanceof Reference ? lookup(v.name) : v;
    args = args.map(res);
    kwargs = Object.fromEntries(Object.entries(kwargs).map(([k, v]) => [k, res(v)]));
  }
  return { format: call.format, target, args, kwargs };
}

/**
 * Encode an apply result (or any value) in the request's format.
 *
 * @param value The value.
 * @param format `"ipp-js"` or `"pickle"`.
 * @returns Frames; views may alias the value's memory or a shared pool (copy to keep them).
 * @throws {SerializationError} when the value cannot travel.
 */
export function encodeValue(value: unknown, format: "ipp-js" | "pickle" = "ipp-js"): Uint8Array[] {
  return format === "pickle" ? serializeObjectPickle(value) : serializeObject(value);
}
