/**
 * The controller's socket plumbing: one receive loop per socket feeding a synchronous handler
 * (one event loop, no per-message promises beyond the receive), and sends that never throw
 * into the caller (PUB and ROUTER drop instead of blocking, PROTOCOL.md §3.1).
 *
 * @module
 */

import { SocketClosedError } from "../errors.ts";
import type { Frames, Socket } from "../zmtp/mod.ts";

/** Messages handled per turn at most, before output is flushed (bounds queued output). */
const DRAIN_LIMIT = 64;

/**
 * Runs `handler` for every message received on `socket` until it is closed. A handler that
 * throws is reported to `onError` and the loop goes on: one bad message must not stop a channel.
 *
 * @param socket The socket to read.
 * @param handler Called with each message, synchronously.
 * @param onError Called when the handler throws.
 * @returns A promise that settles when the socket is closed.
 */
export async function pump(
  socket: Socket,
  handler: (frames: Frames) => void,
  onError: (err: unknown) => void,
): Promise<void> {
  const run = (frames: Frames) => {
    try {
      handler(frames);
    } catch (err) {
      try {
        onError(err);
      } catch {
        // a logger must not stop the loop
      }
    }
  };
  for (;;) {
    let frames: Frames;
    try {
      frames = await socket.receive();
    } catch (e) {
      if (e instanceof SocketClosedError) return;
      throw e;
    }
    run(frames);
    // Handle the rest of a burst (messages already decoded from the same reads) in this turn,
    // so the sends it makes are written together: a connection flushes once per turn.
    if (socket.tryReceive === undefined) continue;
    for (let i = 1; i < DRAIN_LIMIT; i++) {
      const next = socket.tryReceive();
      if (next === undefined) break;
      run(next);
    }
  }
}

const deferred: (() => void)[] = [];
const deferredErrors: ((err: unknown) => void)[] = [];
let deferScheduled = false;

function runDeferred(): void {
  deferScheduled = false;
  // Work deferred while this runs joins the same pass.
  for (let i = 0; i < deferred.length; i++) {
    try {
      deferred[i]();
    } catch (err) {
      try {
        deferredErrors[i](err);
      } catch {
        // a logger must not stop the queue
      }
    }
  }
  deferred.length = 0;
  deferredErrors.length = 0;
}

/**
 * Runs `work` once the messages sent so far in this turn have been handed to the kernel: a
 * connection writes in a microtask queued by its first send of the turn (`zmtp` batches a
 * turn's sends), and `work` is queued behind it, in call order. Book-keeping that no peer
 * waits for (the Hub's record of a relayed message) thus stays off the message's latency.
 *
 * @param work The deferred work.
 * @param onError Told when `work` throws (the queue goes on).
 */
export function afterSends(work: () => void, onError: (err: unknown) => void): void {
  deferred.push(work);
  deferredErrors.push(onError);
  if (deferScheduled) return;
  deferScheduled = true;
  queueMicrotask(runDeferred);
}

/**
 * Sends without waiting and without throwing: a closed socket or a rejected frame list is
 * ignored (the controller is shutting down, or the peer is gone).
 *
 * @param socket Where to send.
 * @param frames The frames.
 */
export function sendQuiet(socket: Socket, frames: Frames): void {
  socket.send(frames).catch(() => {});
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * UTF-8 bytes of a string (identities such as engine uuids).
 *
 * @param text The string.
 * @returns Its bytes.
 */
export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

/**
 * A frame as text (engine uuids arrive as routing frames).
 *
 * @param frame The bytes.
 * @returns The decoded string (invalid sequences replaced).
 */
export function text(frame: Uint8Array): string {
  return decoder.decode(frame);
}
