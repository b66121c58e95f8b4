/**
 * The reusable chunks that streamed (cut-through) frame bodies are read into: a large frame
 * passing through a relay costs no allocation of its size and no page faults on fresh memory.
 *
 * @module
 */

/** Size of the reusable chunks large frame bodies are read into. */
export const CHUNK_SIZE = 1 << 20;
/** Free chunks kept for reuse (per process, shared by every connection). */
const POOL_MAX = 8;
const pool: Uint8Array[] = [];

/** A chunk from the pool (or a new one when the pool is empty). */
export function takeChunk(): Uint8Array {
  return pool.pop() ?? new Uint8Array(CHUNK_SIZE);
}

/** Return a chunk none of whose bytes are referenced any more. */
export function releaseChunk(chunk: Uint8Array): void {
  if (pool.length < POOL_MAX && chunk.length === CHUNK_SIZE) pool.push(chunk);
}
