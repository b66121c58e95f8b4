/**
 * Where the kernel worker keeps its direct-path records until they are sent to the Hub
 * (`../direct.ts`): a block of shared memory, so that the engine's main thread can take and
 * send them when user code holds the worker (a long loop, or one native call that no loop
 * check interrupts) and the worker cannot.
 *
 * The block is an `Int32` header (a lock word, the bytes used, the records held) and a byte area
 * of records `[kind u8][streamed u8][parts u16][len u32 × parts][bytes…]` (little endian),
 * appended by the worker and taken whole by whichever thread sends them. Both sides take the
 * lock word only for a copy; the main thread never waits for it (it tries again at its next
 * look).
 *
 * @module
 */

/** Bytes of records the block holds (a record that does not fit is sent on its own). */
export const RECORD_BLOCK_BYTES = 1 << 20;

const LOCK = 0;
const USED = 1;
const COUNT = 2;
const HEADER_BYTES = 16;

/** One record: a request as read or a reply as sent, its parts (header … buffers). */
export interface DirectRecord {
  /** `"request"` or `"reply"`. */
  kind: "request" | "reply";
  /** Whether its buffers were left out. */
  streamed: boolean;
  /** Header, parent header, metadata, content, then buffers. */
  parts: Uint8Array[];
}

/**
 * A new, empty block.
 * @returns The shared memory both threads wrap in a {@linkcode RecordBlock}.
 */
export function createRecordBlock(): SharedArrayBuffer {
  return new SharedArrayBuffer(HEADER_BYTES + RECORD_BLOCK_BYTES);
}

/** One thread's view of a record block. */
export class RecordBlock {
  readonly #hdr: Int32Array;
  readonly #bytes: Uint8Array;
  readonly #view: DataView;

  /** @param block From {@linkcode createRecordBlock}. */
  constructor(block: SharedArrayBuffer) {
    this.#hdr = new Int32Array(block, 0, HEADER_BYTES / 4);
    this.#bytes = new Uint8Array(block, HEADER_BYTES);
    this.#view = new DataView(block, HEADER_BYTES);
  }

  /** Records held (read without the lock: a hint). */
  get count(): number {
    return Atomics.load(this.#hdr, COUNT);
  }

  /**
   * Append a record (the worker; it spins while the main thread copies).
   * @param record The record.
   * @returns `false` when it does not fit in the room left.
   */
  append(record: DirectRecord): boolean {
    const { parts } = record;
    let size = 4 + 4 * parts.length;
    for (const p of parts) size += p.byteLength;
    while (Atomics.compareExchange(this.#hdr, LOCK, 0, 1) !== 0) { /* the main thread copies */ }
    try {
      let at = this.#hdr[USED];
      if (at + size > this.#bytes.byteLength || parts.length > 0xffff) return false;
      const view = this.#view;
      view.setUint8(at, record.kind === "request" ? 0 : 1);
      view.setUint8(at + 1, record.streamed ? 1 : 0);
      view.setUint16(at + 2, parts.length, true);
      at += 4;
      for (const p of parts) {
        view.setUint32(at, p.byteLength, true);
        at += 4;
      }
      for (const p of parts) {
        this.#bytes.set(p, at);
        at += p.byteLength;
      }
      this.#hdr[USED] = at;
      Atomics.add(this.#hdr, COUNT, 1);
      return true;
    } finally {
      Atomics.store(this.#hdr, LOCK, 0);
    }
  }

  /**
   * Take every record, copied out; the block is empty afterwards.
   * @param wait Spin for the lock (the worker) instead of giving up at once (the main thread).
   * @returns The records in order, or `undefined` when there are none or the lock was busy.
   */
  take(wait: boolean): DirectRecord[] | undefined {
    if (Atomics.load(this.#hdr, COUNT) === 0) return undefined;
    while (Atomics.compareExchange(this.#hdr, LOCK, 0, 1) !== 0) {
      if (!wait) return undefined;
    }
    try {
      const out: DirectRecord[] = [];
      const used = this.#hdr[USED];
      const view = this.#view;
      let at = 0;
      while (at < used) {
        const kind = view.getUint8(at) === 0 ? "request" : "reply";
        const streamed = view.getUint8(at + 1) === 1;
        const n = view.getUint16(at + 2, true);
        at += 4;
        const lens: number[] = [];
        for (let i = 0; i < n; i++, at += 4) lens.push(view.getUint32(at, true));
        const parts: Uint8Array[] = [];
        for (const len of lens) {
          parts.push(this.#bytes.slice(at, at + len));
          at += len;
        }
        out.push({ kind, streamed, parts });
      }
      this.#hdr[USED] = 0;
      Atomics.store(this.#hdr, COUNT, 0);
      return out;
    } finally {
      Atomics.store(this.#hdr, LOCK, 0);
    }
  }
}
