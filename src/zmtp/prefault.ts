/**
 * Fresh memory for a large frame, faulted in on a second thread while the frame is read.
 *
 * Reading 100 MB from a socket into a new array spends most of its time in the kernel, faulting
 * in and clearing the array's pages as the bytes land (BENCHMARKS.md, twenty-fourth and
 * twenty-fifth rounds: a fresh 100 MB array cost 200–270 ms to fill, a warm one under 20, on a VM
 * whose host shadows its page tables). Those faults are work one thread does in order.
 * {@link prefault} hands the array's far end to another thread, which has the kernel populate it
 * (`madvise(MADV_POPULATE_WRITE)`, Linux 5.14+, through Deno's `nonblocking` FFI, so on a thread
 * of Deno's blocking pool) 1–4 MiB at a time, from the back towards the reader, stopping where
 * it meets the reader. The reader then finds those pages present. On two or more cores the two
 * share the faults; measured on that VM, a scratch fill of a fresh 100 MB array went from 200–270
 * ms to 116–160 ms. A view into a larger array (a part `gather` places into its joined array) is
 * handled the same, within the view's own bytes.
 *
 * Populating a page that is already present leaves it as it is, so the reader and the helper can
 * never spoil each other's bytes; the worst a race costs is a page faulted by both. The helper
 * needs Linux 5.14 or later and the FFI permission, and is off with `IPP_PREFAULT=0` (seen with
 * the env permission); {@link prefaultReason} says which applied. Nothing here ever prompts.
 *
 * @module
 */

import { linuxFfiBlocker } from "../permissions.ts";
import { HUGE_PAGE_BYTES } from "./large_bytes.ts";

/**
 * Frames at least this big get a helper: the smallest array that can hold a whole huge page. A
 * smaller one leaves the helper no room past the reader's first step.
 */
export const PREFAULT_MIN = HUGE_PAGE_BYTES;
/**
 * How much the helper populates per call, and the room it leaves the reader: a quarter of the
 * array, from 1 to 4 MiB. Small enough to stop soon after meeting the reader, and to leave a frame
 * of a few MB some of its bytes to populate.
 */
const MIN_STEP = 1n << 20n;
const MAX_STEP = 4n << 20n;
/** `MADV_POPULATE_WRITE` from Linux's `mman-common.h`. */
const MADV_POPULATE_WRITE = 23;
const PAGE = 4096n;
const HUGE_PAGE = BigInt(HUGE_PAGE_BYTES);

type Populate = (address: Deno.PointerValue, length: bigint, advice: number) => Promise<number>;

/** `undefined` until first needed; `null` when there is no helper here. */
let populate: Populate | null | undefined;
/** Why there is or is not a helper here, once decided. */
let reason = "";

function lookUpPopulate(): Populate | null {
  const no = (why: string) => {
    reason = `off: ${why}`;
    return null;
  };
  try {
    const blocker = linuxFfiBlocker("IPP_PREFAULT");
    if (blocker !== null) return no(blocker);
    const lib = Deno.dlopen("libc.so.6", {
      madvise: { parameters: ["pointer", "usize", "i32"], result: "i32" },
      madviseElsewhere: {
        name: "madvise",
        parameters: ["pointer", "usize", "i32"],
        result: "i32",
        nonblocking: true,
      },
    });
    // An empty range at an aligned address: 0 where the kernel knows the advice, else EINVAL.
    if (lib.symbols.madvise(Deno.UnsafePointer.create(PAGE), 0n, MADV_POPULATE_WRITE) !== 0) {
      lib.close();
      return no("the kernel lacks MADV_POPULATE_WRITE (Linux 5.14+)");
    }
    reason = "on: a second thread faults in the far end of each large frame";
    return lib.symbols.madviseElsewhere;
  } catch (err) {
    return no(`the C library failed (${err instanceof Error ? err.message : String(err)})`);
  }
}

/**
 * Whether large frames get a helper thread in this process, and why, in a line.
 *
 * @returns For example `on: a second thread faults in the far end of each large frame`.
 *
 * @example
 * ```ts
 * import { prefaultReason } from "./prefault.ts";
 * console.log(prefaultReason()); // "off: no FFI permission" without --allow-ffi
 * ```
 */
export function prefaultReason(): string {
  populate ??= lookUpPopulate();
  return reason;
}

/**
 * Have another thread fault in `bytes` from its end towards the reader, while the caller fills it
 * from the front. Returns at once; the helper stops when it reaches `filled()` (the reader's
 * position, or `bytes.length` once the reader is done or gone).
 *
 * @param bytes A large array about to be filled in order (ignored below {@link PREFAULT_MIN}).
 * @param filled How many bytes from the front the reader has written so far.
 * @returns Settles when the helper stops (never rejects); tests wait on it.
 *
 * @example
 * ```ts
 * import { prefault } from "./prefault.ts";
 * const frame = new Uint8Array(64 << 20);
 * let at = 0;
 * const done = prefault(frame, () => at);
 * for (; at < frame.length; at += 1 << 20) frame.fill(1, at, at + (1 << 20));
 * await done;
 * ```
 */
export function prefault(bytes: Uint8Array, filled: () => number): Promise<void> {
  if (bytes.length < PREFAULT_MIN) return Promise.resolve();
  populate ??= lookUpPopulate();
  if (populate === null) return Promise.resolve();
  const call = populate;
  const base = BigInt(
    Deno.UnsafePointer.value(Deno.UnsafePointer.of(bytes as Uint8Array<ArrayBuffer>)),
  );
  // Whole pages only: the advice takes page-aligned ranges.
  let end = (base + BigInt(bytes.length)) & ~(PAGE - 1n);
  const quarter = (BigInt(bytes.length) >> 2n) & ~(PAGE - 1n);
  const step = quarter < MIN_STEP ? MIN_STEP : quarter > MAX_STEP ? MAX_STEP : quarter;
  const run = async () => {
    while (true) {
      // Leave the reader one step of room, so the two do not fault the same pages; from a huge
      // page's edge, since faulting a page of a huge one faults all of it.
      const reader = (base + BigInt(filled()) + step + HUGE_PAGE - 1n) & ~(HUGE_PAGE - 1n);
      const next = (end - step) & ~(HUGE_PAGE - 1n); // on a huge page's edge, where there is one
      const from = next > reader ? next : reader;
      if (from >= end) return;
      // `bytes` stays referenced by this closure until the call returns, so the memory is live.
      // Refused (memory that cannot be written, say): the reader faults the rest as usual.
      if (await call(Deno.UnsafePointer.create(from), end - from, MADV_POPULATE_WRITE) !== 0) {
        return;
      }
      end = from;
    }
  };
  return run().catch(() => {});
}
