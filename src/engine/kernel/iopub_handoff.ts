/**
 * How IOPub output written by user code reaches the controller even while that code holds
 * the kernel worker's thread, without a trip through the main thread when it does not.
 *
 * The worker owns the IOPub socket, but a socket write only happens when the worker's event
 * loop turns: output followed by a long synchronous stretch (`console.log("starting")`, then
 * a loop) would wait for the loop to end. So output that user code writes (a "held"
 * message) goes into a block of shared memory first, and the main thread is told once:
 *
 * - If the worker gets control back soon (the common case: the function returns), its next
 *   message takes the held ones out and writes them, in order, on its own socket.
 * - If the same held output is still there after {@link GRACE_MS}, the main thread claims
 *   it and sends it on its own IOPub socket; from then on every IOPub message of the worker
 *   goes that way (through this block), so that nothing overtakes what the main thread sent,
 *   until the worker marks the end of a request and the main thread has sent everything
 *   before that mark.
 * - Held output that does not fit in the room left goes to the main thread at once (the
 *   same state as a claim). A message larger than the whole block is posted to it
 *   (`postMessage`) once the block is empty, and the worker waits until it is sent.
 *
 * ```text
 *   WORKER ──held message──▶ HELD ──worker's next message (drained, written by the worker)──▶ WORKER
 *                             │
 *                             └──still held after GRACE_MS (claimed by the main thread)──▶ MAIN
 *   WORKER or HELD ──held message larger than the room left──▶ MAIN
 *   MAIN ──main thread sent everything up to the request's end mark──▶ WORKER
 * ```
 *
 * The block is an `Int32` header and a byte area of records `[n][len × n][bytes…]` (little
 * endian), appended by the worker and always taken whole. The header words are changed only
 * under a lock word; neither side holds it for more than a copy.
 *
 * @module
 */

/** Milliseconds held output may wait for the worker before the main thread sends it. */
export const GRACE_MS = 10;

/** Bytes of records the block holds (a larger message is posted to the main thread). */
export const HANDOFF_BYTES = 4 << 20;

/** Header words (Int32 indexes). */
const LOCK = 0;
const STATE = 1;
const USED = 2;
/** Bumped each time output becomes held: the main thread's claim timer compares it. */
const GEN = 3;
/** 1 while the main thread's claim timer is armed (the worker then need not wake it). */
const WATCH = 4;
/** Bumped to wake the main thread (it waits on this word). */
const WAKE = 5;
/** Bumped by the main thread for each message posted to it (see `HandoffWriter`). */
const ACK = 6;
const HEADER_BYTES = 32;

/** Who sends the worker's IOPub messages. */
const WORKER = 0;
const HELD = 1;
const MAIN = 2;

/** A record with no frames: the end of a request, written while the main thread sends. */
const END = 0;

/**
 * The shared block of one kernel worker.
 * @returns A zeroed block (state: the worker sends).
 */
export function createHandoffBlock(): SharedArrayBuffer {
  return new SharedArrayBuffer(HEADER_BYTES + HANDOFF_BYTES);
}

function recordSize(frames: readonly Uint8Array[]): number {
  let n = 4 + 4 * frames.length;
  for (const f of frames) n += f.length;
  return n;
}

/** Both sides' view of a block. */
class Block {
  readonly hdr: Int32Array;
  readonly bytes: Uint8Array;
  readonly view: DataView;

  constructor(block: SharedArrayBuffer) {
    this.hdr = new Int32Array(block, 0, HEADER_BYTES / 4);
    this.bytes = new Uint8Array(block, HEADER_BYTES);
    this.view = new DataView(block, HEADER_BYTES);
  }

  tryLock(): boolean {
    return Atomics.compareExchange(this.hdr, LOCK, 0, 1) === 0;
  }

  /** @param notify Wake a waiting worker (only the worker waits: the main thread cannot). */
  unlock(notify: boolean): void {
    Atomics.store(this.hdr, LOCK, 0);
    if (notify) Atomics.notify(this.hdr, LOCK);
  }

  append(frames: readonly Uint8Array[]): void {
    let at = this.hdr[USED];
    const view = this.view;
    view.setUint32(at, frames.length, true);
    at += 4;
    for (const f of frames) {
      view.setUint32(at, f.length, true);
      at += 4;
    }
    for (const f of frames) {
      this.bytes.set(f, at);
      at += f.length;
    }
    this.hdr[USED] = at;
  }

  /** Every record, copied out (an END record as `[]`); the area is empty afterwards. */
  takeAll(): Uint8Array[][] {
    const out: Uint8Array[][] = [];
    const used = this.hdr[USED];
    const view = this.view;
    let at = 0;
    while (at < used) {
      const n = view.getUint32(at, true);
      at += 4;
      const lens: number[] = [];
      for (let i = 0; i < n; i++, at += 4) lens.push(view.getUint32(at, true));
      const frames: Uint8Array[] = [];
      for (const len of lens) {
        frames.push(this.bytes.slice(at, at + len));
        at += len;
      }
      out.push(frames);
    }
    this.hdr[USED] = 0;
    Atomics.notify(this.hdr, USED);
    return out;
  }

  wake(): void {
    Atomics.add(this.hdr, WAKE, 1);
    Atomics.notify(this.hdr, WAKE);
  }
}

/** The worker's side: every IOPub message of the worker goes through {@link HandoffWriter.send}. */
export class HandoffWriter {
  readonly #b: Block;
  readonly #write: (frames: Uint8Array[]) => void;
  readonly #post: (frames: Uint8Array[]) => void;

  /**
   * @param block The block shared with the main thread.
   * @param write Sends a message on the worker's own IOPub socket.
   * @param post Hands a message too large for the block to the main thread (`postMessage`);
   *   the main thread sends it and then calls {@link HandoffReader.acknowledgePosted}.
   */
  constructor(
    block: SharedArrayBuffer,
    write: (frames: Uint8Array[]) => void,
    post: (frames: Uint8Array[]) => void,
  ) {
    this.#b = new Block(block);
    this.#write = write;
    this.#post = post;
  }

  /**
   * Send one IOPub message.
   * @param frames The message.
   * @param held Whether user code wrote it and may hold this thread afterwards.
   */
  send(frames: Uint8Array[], held: boolean): void {
    const b = this.#b;
    const hdr = b.hdr;
    // Only this thread moves the state away from WORKER: seen here, it holds without the lock.
    if (!held && Atomics.load(hdr, STATE) === WORKER) {
      this.#write(frames);
      return;
    }
    this.#lock();
    let drained: Uint8Array[][] | undefined;
    try {
      const state = hdr[STATE];
      if (state === MAIN) {
        if (this.#appendForMain(frames)) return;
      } else if (held) {
        if (HANDOFF_BYTES - hdr[USED] >= recordSize(frames)) {
          b.append(frames);
          if (state === WORKER) {
            hdr[STATE] = HELD;
            hdr[GEN]++;
            if (hdr[WATCH] === 0) b.wake();
          }
          return;
        }
        // Too large for the room left: the main thread sends it, after what is held (it
        // waits for room, or is posted when larger than the whole block).
        hdr[STATE] = MAIN;
        if (this.#appendForMain(frames)) return;
      } else drained = this.#takeHeld(); // this thread runs: what is held goes out first
    } finally {
      b.unlock(false);
    }
    if (drained !== undefined) { for (const m of drained) this.#write(m); }
    this.#write(frames);
  }

  /**
   * A request has ended (after its `idle`): if the main thread sends this worker's IOPub, it
   * hands sending back once it has sent what came before.
   */
  endRequest(): void {
    const b = this.#b;
    this.#lock();
    try {
      if (b.hdr[STATE] === MAIN) this.#appendForMain([]);
    } finally {
      b.unlock(false);
    }
  }

  /** Write what is held now (before the worker closes its socket). */
  release(): void {
    this.#lock();
    let drained: Uint8Array[][] | undefined;
    try {
      drained = this.#takeHeld();
    } finally {
      this.#b.unlock(false);
    }
    if (drained !== undefined) { for (const m of drained) this.#write(m); }
  }

  /** Called locked: in state HELD, takes what is held and gives sending back to this thread. */
  #takeHeld(): Uint8Array[][] | undefined {
    const b = this.#b;
    if (b.hdr[STATE] !== HELD) return undefined;
    b.hdr[STATE] = WORKER;
    return b.takeAll();
  }

  /**
   * Called locked in state MAIN: queue the message for the main thread, waiting for room.
   * @returns false when sending came back to this thread meanwhile (the caller writes it).
   */
  #appendForMain(frames: Uint8Array[]): boolean {
    const b = this.#b;
    const hdr = b.hdr;
    const size = recordSize(frames);
    // Wait (this thread is not in user code here) until the main thread has taken enough;
    // a message larger than the whole block waits for it to be empty and is posted.
    const need = Math.min(size, HANDOFF_BYTES);
    while (HANDOFF_BYTES - hdr[USED] < need) {
      const used = hdr[USED];
      b.wake();
      b.unlock(false);
      Atomics.wait(hdr, USED, used, 100);
      this.#lock();
      if (hdr[STATE] !== MAIN) return false;
    }
    if (size > HANDOFF_BYTES) {
      const acked = hdr[ACK];
      b.unlock(false);
      this.#post(frames);
      // Nothing may overtake it: wait until the main thread has sent it (bounded, in case
      // the main thread is stopping).
      const deadline = performance.now() + 5000;
      while (Atomics.load(hdr, ACK) === acked && performance.now() < deadline) {
        Atomics.wait(hdr, ACK, acked, 100);
      }
      this.#lock();
      return true;
    }
    const wasEmpty = hdr[USED] === 0;
    b.append(frames);
    if (wasEmpty) b.wake();
    return true;
  }

  #lock(): void {
    const b = this.#b;
    while (!b.tryLock()) Atomics.wait(b.hdr, LOCK, 1, 1);
  }
}

/** The main thread's side: sends held output the worker does not get to send itself. */
export class HandoffReader {
  readonly #b: Block;
  readonly #publish: (frames: Uint8Array[]) => Promise<unknown> | void;
  #stopped = false;
  #seen = 0;
  #armedGen = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;

  /**
   * Starts watching the block.
   * @param block The block shared with the worker.
   * @param publish Sends a message on the main thread's IOPub socket; resolves once written.
   */
  constructor(
    block: SharedArrayBuffer,
    publish: (frames: Uint8Array[]) => Promise<unknown> | void,
  ) {
    this.#b = new Block(block);
    this.#publish = publish;
    this.#seen = Atomics.load(this.#b.hdr, WAKE);
    this.#wait();
  }

  /** A new worker starts on the block: forget the old one's state (nothing of it is sent). */
  reset(): void {
    const hdr = this.#b.hdr;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    Atomics.store(hdr, STATE, WORKER);
    Atomics.store(hdr, USED, 0);
    Atomics.store(hdr, WATCH, 0);
    Atomics.store(hdr, LOCK, 0);
  }

  /** The main thread has sent a message the worker posted to it (see {@link HandoffWriter}). */
  acknowledgePosted(): void {
    const hdr = this.#b.hdr;
    Atomics.add(hdr, ACK, 1);
    Atomics.notify(hdr, ACK);
  }

  /**
   * Send a message of the worker's running request from this thread, ahead of anything the
   * worker sends after it (the `busy` of a request that holds the worker, `busy_slot.ts`):
   * sending moves to this thread until the request's end mark, as when held output is
   * claimed, and what the block holds now goes first.
   * @param claim Called under the block's lock, once this thread sends: the message, or
   *   `undefined` when there is none to send after all (nothing changes then).
   */
  sendFirst(claim: () => Uint8Array[] | undefined): void {
    if (this.#stopped) return;
    const b = this.#b;
    const hdr = b.hdr;
    if (!b.tryLock()) {
      setTimeout(() => this.sendFirst(claim), 0);
      return;
    }
    let out: Uint8Array[][];
    let first: Uint8Array[] | undefined;
    try {
      // The state moves before the claim: once the worker sees the claim, it sends its later
      // messages through the block.
      const state = hdr[STATE];
      Atomics.store(hdr, STATE, MAIN);
      first = claim();
      if (first === undefined) {
        Atomics.store(hdr, STATE, state);
        return;
      }
      out = b.takeAll();
    } finally {
      b.unlock(true);
    }
    for (const m of out) if (m.length !== END) this.#publish(m);
    this.#publish(first);
  }

  /** Stop watching. */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#b.wake();
  }

  #wait(): void {
    if (this.#stopped) return;
    const r = Atomics.waitAsync(this.#b.hdr, WAKE, this.#seen);
    if (r.async) r.value.then(() => this.#woken());
    else queueMicrotask(() => this.#woken());
  }

  #woken(): void {
    if (this.#stopped) return;
    this.#seen = Atomics.load(this.#b.hdr, WAKE);
    this.#handle(false);
    this.#wait();
  }

  /** Arm the claim timer for held output, or send what the worker queued for this thread. */
  #handle(timerFired: boolean): void {
    if (this.#stopped) return;
    const b = this.#b;
    const hdr = b.hdr;
    if (!b.tryLock()) {
      setTimeout(() => this.#handle(timerFired), 0);
      return;
    }
    let out: Uint8Array[][] = [];
    try {
      if (timerFired) {
        hdr[WATCH] = 0;
        this.#timer = undefined;
      }
      const state = hdr[STATE];
      if (state === HELD) {
        if (timerFired && hdr[GEN] === this.#armedGen) {
          hdr[STATE] = MAIN; // the same output is still held: the worker is busy; claim it
          out = b.takeAll();
        } else if (hdr[WATCH] === 0) {
          hdr[WATCH] = 1;
          this.#armedGen = hdr[GEN];
          this.#timer = setTimeout(() => this.#handle(true), GRACE_MS);
        }
      } else if (state === MAIN) out = b.takeAll();
    } finally {
      b.unlock(true);
    }
    if (out.length === 0) return;
    let written: Promise<unknown> | void = undefined;
    for (const m of out) if (m.length !== END) written = this.#publish(m);
    if (out[out.length - 1].length === END) {
      // Everything before the request's end is sent: hand sending back once it is written,
      // unless the worker queued more meanwhile.
      Promise.resolve(written).catch(() => {}).then(() => this.#handBack());
    }
  }

  #handBack(): void {
    if (this.#stopped) return;
    const b = this.#b;
    if (!b.tryLock()) {
      setTimeout(() => this.#handBack(), 0);
      return;
    }
    try {
      if (b.hdr[STATE] === MAIN && b.hdr[USED] === 0) b.hdr[STATE] = WORKER;
    } finally {
      b.unlock(true);
    }
  }
}
