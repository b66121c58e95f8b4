/**
 * Where the kernel worker keeps its direct-path records until they are sent to the Hub
 * (`../direct.ts`): a block of shared memory, so that the engine's main thread can take and
 * send them when user code holds the worker (a long loop, or one native call that no loop
 * check interrupts) and the worker cannot.
 *
 * The block is an `Int32` header (a lock word, the bytes used, the records held) and a byte area
 * of records in the layout of a `direct_records` batch (`protocol/messages/direct_records.ts`),
 * appended by the worker and taken whole, as one batch, by whichever thread sends them. Both
 * sides take the lock word only for a copy; the main thread never waits for it (it tries again
 * at its next look).
 *
 * @module
 */

import {
  type DirectRecord,
  MAX_RECORD_PARTS,
  recordSize,
  writeRecord,
} from "../../protocol/messages/direct_records.ts";

/** Bytes of records the block holds (a record that does not fit is sent on its own). */
export const RECORD_BLOCK_BYTES = 1 << 20;

const LOCK = 0;
const USED = 1;
const COUNT = 2;
const HEADER_BYTES = 16;

/** Records taken from a block: their bytes in the `direct_records` layout, and how many. */
export interface RecordBatch {
  /** The records, back to back (a copy: the block is reused). */
  bytes: Uint8Array;
  /** How many records `bytes` holds. */
  count: number;
  /** Parts carried as buffers of their own after `bytes` (a record sent on its own). */
  external?: Uint8Array[];
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
    const size = recordSize(record.parts);
    while (Atomics.compareExchange(this.#hdr, LOCK, 0, 1) !== 0) { /* the main thread copies */ }
    try {
      const at = this.#hdr[USED];
      if (at + size > this.#bytes.byteLength || record.parts.length > MAX_RECORD_PARTS) {
        return false;
      }
      this.#hdr[USED] = writeRecord(this.#bytes, this.#view, at, record);
      Atomics.add(this.#hdr, COUNT, 1);
      return true;
    } finally {
      Atomics.store(this.#hdr, LOCK, 0);
    }
  }

  /**
   * Take every record, copied out in one piece; the block is empty afterwards.
   * @param wait Spin for the lock (the worker) instead of giving up at once (the main thread).
   * @returns The batch, or `undefined` when there are no records or the lock was busy.
   */
  take(wait: boolean): RecordBatch | undefined {
    if (Atomics.load(this.#hdr, COUNT) === 0) return undefined;
    while (Atomics.compareExchange(this.#hdr, LOCK, 0, 1) !== 0) {
      if (!wait) return undefined;
    }
    try {
      const used = this.#hdr[USED];
      const bytes = new Uint8Array(used);
      bytes.set(this.#bytes.subarray(0, used));
      const count = this.#hdr[COUNT];
      this.#hdr[USED] = 0;
      Atomics.store(this.#hdr, COUNT, 0);
      return { bytes, count };
    } finally {
      Atomics.store(this.#hdr, LOCK, 0);
    }
  }
}
