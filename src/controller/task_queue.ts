/**
 * Queues of the load-balancing task scheduler, ordered by queueing sequence number (`qseq`)
 * and lazily deleted: an entry is live only while `isLive(item, qseq)` says so, so removing a
 * task from a queue is O(1) (flip its state) and a million queued tasks cost O(log n) per
 * dispatch, never O(n).
 *
 * @module
 */

/** An item and the sequence number it was queued with. */
export interface QueueEntry<T> {
  /** The queued item. */
  item: T;
  /** Its sequence number when queued (older = smaller). */
  qseq: number;
}

/** A binary min-heap on `qseq` with lazy deletion. */
export class SeqHeap<T> {
  #a: QueueEntry<T>[] = [];
  /**
   * Creates an empty queue.
   * @param isLive Whether an entry still counts.
   */
  constructor(readonly isLive: (item: T, qseq: number) => boolean) {}

  /** Number of entries, dead ones included. */
  get rawSize(): number {
    return this.#a.length;
  }

  /** Inserts an item. */
  push(item: T, qseq: number): void {
    const a = this.#a;
    a.push({ item, qseq });
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (a[p].qseq <= a[i].qseq) break;
      [a[p], a[i]] = [a[i], a[p]];
      i = p;
    }
  }

  /** The live entry with the smallest `qseq`, dropping dead ones on the way. */
  peek(): QueueEntry<T> | undefined {
    while (this.#a.length && !this.isLive(this.#a[0].item, this.#a[0].qseq)) this.#pop();
    return this.#a[0];
  }

  /** Removes and returns {@link SeqHeap.peek}. */
  pop(): QueueEntry<T> | undefined {
    return this.peek() ? this.#pop() : undefined;
  }

  #pop(): QueueEntry<T> {
    const a = this.#a;
    const top = a[0];
    const last = a.pop()!;
    if (a.length) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && a[l].qseq < a[m].qseq) m = l;
        if (r < a.length && a[r].qseq < a[m].qseq) m = r;
        if (m === i) break;
        [a[m], a[i]] = [a[i], a[m]];
        i = m;
      }
    }
    return top;
  }
}

/** A list kept sorted by `qseq` with lazy deletion and periodic compaction. */
export class SeqList<T> {
  #a: QueueEntry<T>[] = [];
  /** Count of insertions ever made (lets a reader notice additions during a scan). */
  inserts = 0;
  /**
   * Creates an empty queue.
   * @param isLive Whether an entry still counts.
   */
  constructor(readonly isLive: (item: T, qseq: number) => boolean) {}

  /** Inserts in order (O(1) when `qseq` is the largest, as for newly queued items). */
  insert(item: T, qseq: number): void {
    this.inserts++;
    const a = this.#a;
    if (!a.length || a[a.length - 1].qseq <= qseq) {
      a.push({ item, qseq });
      return;
    }
    let lo = 0;
    let hi = a.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (a[mid].qseq <= qseq) lo = mid + 1;
      else hi = mid;
    }
    a.splice(lo, 0, { item, qseq });
  }

  /** Live entries in order (a snapshot; compacts the list when more than half is dead). */
  live(): QueueEntry<T>[] {
    const out = this.#a.filter((e) => this.isLive(e.item, e.qseq));
    if (out.length * 2 < this.#a.length) this.#a = out.slice();
    return out;
  }

  /** Number of entries, dead ones included. */
  get rawSize(): number {
    return this.#a.length;
  }
}
