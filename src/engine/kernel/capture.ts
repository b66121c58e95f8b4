/**
 * Output capture inside the kernel worker. `console.*` (a `node:console` `Console` over two
 * capturing streams, so formatting, `table`, `group`, `count`, `trace`… are Deno's own),
 * `Deno.stdout`/`Deno.stderr` `write`/`writeSync`, and `process.stdout`/`process.stderr`
 * `write` become `stream` events. Each write is attributed to the request whose code made it,
 * read from an `AsyncLocalStorage` that the worker enters for every request; the context
 * follows awaits, timers and promise callbacks, so output of async work that outlives its
 * request is still attributed to it.
 *
 * Events are batched in an {@linkcode Outbox}: consecutive writes of one stream and request
 * are joined; the first output of a request, or after a quiet spell (50 ms), is posted at
 * once; later output when the request finishes (with its reply), after a short delay, or
 * when the batch grows large or old — so a synchronous loop that prints still streams.
 *
 * @module
 */

import { Console } from "node:console";
import process from "node:process";
import { Writable } from "node:stream";
import type { KernelEvent } from "./types.ts";

/** Post batched events when they are this old (ms) … */
// The runtime's own timers: taken before `namespace.ts` wraps the globals for user code.
const setTimer = globalThis.setTimeout;
const clearTimer = globalThis.clearTimeout;

const MAX_AGE_MS = 50;
/** … or this large (characters of text). */
const MAX_CHARS = 64 * 1024;
/** Delay before posting output of async work. */
const FLUSH_DELAY_MS = 5;

/** Ordered, coalescing buffer of events waiting to be published (IOPub, `serve.ts`). */
export class Outbox {
  #events: KernelEvent[] = [];
  #chars = 0;
  #since = 0;
  #last = -Infinity;
  #timer: ReturnType<typeof setTimeout> | undefined;

  /**
   * An empty outbox.
   * @param post Sends a batch on; `sync` is true when user code is writing right now (the
   *   thread may stay busy after it, so the batch must leave without waiting for a turn of
   *   the event loop).
   */
  constructor(readonly post: (events: KernelEvent[], sync: boolean) => void) {}

  /**
   * Queue stream text.
   *
   * @param requestId The writing request.
   * @param name Which stream.
   * @param text The text.
   */
  stream(requestId: string | null, name: "stdout" | "stderr", text: string): void {
    if (!text) return;
    const last = this.#events[this.#events.length - 1];
    if (last?.type === "stream" && last.name === name && last.requestId === requestId) {
      last.text += text;
    } else this.#events.push({ type: "stream", requestId, name, text });
    this.#added(text.length);
  }

  /**
   * Queue any event.
   *
   * @param event The event.
   */
  push(event: KernelEvent): void {
    this.#events.push(event);
    this.#added(256);
  }

  /**
   * Queue an event the runtime makes once user code has returned (a cell's
   * `execute_result`): it leaves with the request's other output at the flush that ends the
   * request, never as a leading-edge post (which would send the rest of the request's IOPub
   * through the main thread, as for output of code that may still hold the thread).
   *
   * @param event The event.
   */
  queue(event: KernelEvent): void {
    this.#events.push(event);
  }

  #added(chars: number): void {
    const now = performance.now();
    if (this.#chars === 0) this.#since = now;
    this.#chars += chars;
    // Leading edge: the first output after a quiet spell goes at once (a synchronous
    // computation after `console.log("starting")` would otherwise hold it back); then
    // output is batched for up to MAX_AGE_MS.
    if (
      this.#chars > MAX_CHARS || now - this.#since > MAX_AGE_MS || now - this.#last > MAX_AGE_MS
    ) {
      this.flush(true);
    } else this.#timer ??= setTimer(() => this.flush(), FLUSH_DELAY_MS);
  }

  /**
   * A request starts: its first output goes at once, as after a quiet spell, even when the
   * request before it printed a moment ago (the new one may hold the thread from then on).
   */
  requestStarted(): void {
    this.#last = -Infinity;
  }

  /**
   * Take everything queued (without sending it).
   *
   * @returns The events.
   */
  take(): KernelEvent[] {
    const out = this.#events;
    this.#events = [];
    this.#chars = 0;
    if (this.#timer !== undefined) clearTimer(this.#timer);
    this.#timer = undefined;
    return out;
  }

  /**
   * Post everything queued now.
   * @param sync Whether user code is writing right now (see the constructor).
   */
  flush(sync = false): void {
    const events = this.take();
    this.#last = performance.now();
    if (events.length) this.post(events, sync);
  }
}

/**
 * Replace the worker's output channels by capturing ones.
 *
 * @param outbox Where stream events go.
 * @param current The request to attribute output to.
 */
export function installCapture(outbox: Outbox, current: () => string | null): void {
  const sink = (name: "stdout" | "stderr") =>
    new Writable({
      decodeStrings: false,
      write(chunk: unknown, _enc: string, cb: () => void) {
        outbox.stream(
          current(),
          name,
          typeof chunk === "string" ? chunk : decoder(name).decode(chunk as Uint8Array),
        );
        cb();
      },
    });
  const out = sink("stdout");
  const err = sink("stderr");
  const console = new Console({ stdout: out, stderr: err });
  Object.defineProperty(globalThis, "console", {
    value: console,
    writable: true,
    configurable: true,
    enumerable: false,
  });
  const decoders = { stdout: new TextDecoder(), stderr: new TextDecoder() };
  const decoder = (name: "stdout" | "stderr") => ({
    decode: (b: Uint8Array) => decoders[name].decode(b, { stream: true }),
  });
  for (const [name, file] of [["stdout", Deno.stdout], ["stderr", Deno.stderr]] as const) {
    const writeSync = (b: Uint8Array) => {
      outbox.stream(current(), name, decoder(name).decode(b));
      return b.byteLength;
    };
    Object.defineProperty(file, "writeSync", { value: writeSync, configurable: true });
    Object.defineProperty(file, "write", {
      value: (b: Uint8Array) => Promise.resolve(writeSync(b)),
      configurable: true,
    });
  }
  for (const [name, stream] of [["stdout", process.stdout], ["stderr", process.stderr]] as const) {
    Object.defineProperty(stream, "write", {
      value: (chunk: string | Uint8Array, ...rest: unknown[]) => {
        outbox.stream(
          current(),
          name,
          typeof chunk === "string" ? chunk : decoder(name).decode(chunk),
        );
        const cb = rest.find((x) => typeof x === "function") as (() => void) | undefined;
        if (cb) queueMicrotask(cb);
        return true;
      },
      configurable: true,
      writable: true,
    });
  }
}
