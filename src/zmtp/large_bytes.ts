/**
 * Fresh memory for large frames, backed by transparent huge pages where that pays.
 *
 * A frame of 100 MB is read into memory that was never touched, and on Linux the first write
 * to each 4 KiB page costs a page fault and a clearing of the page: measured here, filling a
 * fresh 100 MB array took 75–120 ms, five times what the same copy costs in memory already
 * faulted in. When the kernel's transparent huge pages are in `madvise` mode (the common
 * default), advising the array's memory with `MADV_HUGEPAGE` before the first write makes those
 * faults 2 MiB ones: the same fill took 16–26 ms, and a 100 MB push or pull half the time.
 * numpy advises its large arrays the same way.
 *
 * It is a gamble on a virtual machine whose host takes freed memory back (`virtio_balloon` free
 * page reporting, as on Firecracker): there a fresh huge page is often one the host must fault in
 * again, which has cost 5.5–9.4 µs per 4 KiB of it (a 100 MB fill of 135–230 ms). Whether that
 * loses depends on what a fresh 4 KiB page costs on the same host, and hosts differ: one took
 * 2.3–3.6 µs per page (huge pages lost), another 12–26 µs (huge pages halved a 100 MB push). So
 * where such a balloon is found ({@link hostReclaimsFreePages}), the process times the first
 * writes to a few hundred fresh 4 KiB pages once, before its first large array
 * ({@link freshFaultMicros}, a few ms), and gives the advice when a page costs at least
 * {@link SLOW_FAULT_MICROS}. `IPP_HUGE_PAGES=1` gives it anyway, `IPP_HUGE_PAGES=0` never;
 * {@link hugePagesReason} says which applied. BENCHMARKS.md (seventeenth and twenty-fourth rounds)
 * has the figures.
 *
 * The advice needs Linux, the FFI permission (`-A` or `--allow-ffi`; libc's `madvise`, and `mmap`
 * for the timing) and read permission for `/sys`; the switch is seen with the env permission. The
 * memory stays an ordinary V8 allocation (only advised), so its lifetime and transfer are as for
 * any array. Otherwise arrays are plain `new Uint8Array(size)`. Nothing here ever prompts.
 *
 * @module
 */

import { envValue, granted, linuxFfiBlocker } from "../permissions.ts";

/** The huge page size on x86-64 and arm64 (4 KiB base pages), in bytes. */
export const HUGE_PAGE_BYTES = 2 << 20;
/**
 * Arrays at least this big are advised: the smallest that can hold a whole huge page. Advised and
 * with the prefault helper, an 8 MB array (a million doubles) pushed and pulled in half the time
 * (BENCHMARKS.md, twenty-sixth round).
 */
export const ADVISE_MIN = HUGE_PAGE_BYTES;
/** `MADV_HUGEPAGE` from Linux's `mman-common.h`. */
const MADV_HUGEPAGE = 14;
const HUGE_PAGE = BigInt(HUGE_PAGE_BYTES);
/** virtio's device id of a memory balloon, as a virtio device's `device` file in sysfs shows it. */
const BALLOON_DEVICE = "0x0005";
/** The balloon's feature bit for free page reporting (`VIRTIO_BALLOON_F_REPORTING`). */
const REPORTING_FEATURE = 5;
/** The largest buddy order Linux keeps (x86-64, arm64 defaults); reporting above it never runs. */
const MAX_PAGE_ORDER = 10;
/**
 * On a host that reclaims freed memory, huge pages are advised when the first write to a fresh
 * 4 KiB page costs at least this many µs: about what a fresh huge page has cost there per 4 KiB
 * (5.5–9.4 µs), past which huge pages win (and a huge page freed and taken again before the host
 * reclaims it costs nearly nothing).
 */
export const SLOW_FAULT_MICROS = 8;
/** Pages per timed mapping of {@link freshFaultMicros}, and how many mappings it times. */
const PROBE_PAGES = 128;
const PROBE_ROUNDS = 3;

type Madvise = (address: Deno.PointerValue, length: bigint, advice: number) => number;
type Libc = {
  madvise: Madvise;
  mmap: (
    address: Deno.PointerValue,
    length: bigint,
    prot: number,
    flags: number,
    fd: number,
    offset: bigint,
  ) => Deno.PointerValue;
  munmap: (address: Deno.PointerValue, length: bigint) => number;
  clock_gettime: (clock: number, timespec: BufferSource) => number;
};
/** `undefined` until first needed; `null` when advice is not given here. */
let madvise: Madvise | null | undefined;
/** Why advice is or is not given here, once decided. */
let reason = "not decided yet (no large array so far)";

function readOr(path: string, otherwise: string): string {
  try {
    return Deno.readTextFileSync(path).trim();
  } catch {
    return otherwise;
  }
}

/**
 * Whether a memory balloon reports freed memory to the host here (virtio free page reporting
 * with a reporting order the kernel can reach), so that fresh huge pages are often ones the host
 * must fault in again.
 *
 * @param sys Where sysfs is mounted.
 * @returns `true` when such a balloon is found.
 *
 * @example
 * ```ts
 * import { hostReclaimsFreePages } from "./large_bytes.ts";
 * console.log(hostReclaimsFreePages()); // true on a Firecracker VM with page reporting
 * ```
 */
export function hostReclaimsFreePages(sys = "/sys"): boolean {
  const order = Number(readOr(`${sys}/module/page_reporting/parameters/page_reporting_order`, "0"));
  if (order > MAX_PAGE_ORDER) return false;
  let devices: Deno.DirEntry[];
  try {
    devices = [...Deno.readDirSync(`${sys}/bus/virtio/devices`)];
  } catch {
    return false;
  }
  return devices.some(({ name }) => {
    const dir = `${sys}/bus/virtio/devices/${name}`;
    return readOr(`${dir}/device`, "") === BALLOON_DEVICE &&
      readOr(`${dir}/features`, "")[REPORTING_FEATURE] === "1";
  });
}

/**
 * The first write to a fresh 4 KiB page, in µs of the thread's CPU time (a fault the host serves
 * counts; other processes' turns on the CPU do not): the least of a few timings, each over a new
 * private anonymous mapping of a few hundred KiB whose pages are written once and then unmapped.
 * Never advised into huge pages, whatever the kernel's mode.
 *
 * Needs Linux and the FFI permission.
 *
 * @returns µs per page (the least of the rounds: a busy machine only makes a round slower).
 *
 * @example
 * ```ts
 * import { freshFaultMicros } from "./large_bytes.ts";
 * console.log(freshFaultMicros()); // 10–14 on the VM of BENCHMARKS.md's twenty-fourth round
 * ```
 */
export function freshFaultMicros(): number {
  const lib = openLibc();
  try {
    return timeFreshFaults(lib.symbols);
  } finally {
    lib.close();
  }
}

/** `CLOCK_THREAD_CPUTIME_ID`: the calling thread's CPU time, so other processes' turns don't count. */
const THREAD_CPU_CLOCK = 3;

function timeFreshFaults(libc: Libc): number {
  const length = PROBE_PAGES * 4096;
  const ts = new BigInt64Array(2); // struct timespec { tv_sec; tv_nsec } on 64-bit Linux
  const now = () => {
    if (libc.clock_gettime(THREAD_CPU_CLOCK, ts) !== 0) throw new Error("clock_gettime failed");
    return Number(ts[0]) * 1e6 + Number(ts[1]) / 1e3; // µs
  };
  let best = Infinity;
  for (let round = 0; round < PROBE_ROUNDS; round++) {
    // PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS
    const p = libc.mmap(null, BigInt(length), 3, 0x22, -1, 0n);
    if (p === null || Deno.UnsafePointer.value(p) === 0xffffffffffffffffn) {
      throw new Error("large_bytes: mmap failed");
    }
    try {
      const view = new Uint8Array(Deno.UnsafePointerView.getArrayBuffer(p, length));
      const t = now();
      for (let i = 0; i < length; i += 4096) view[i] = 1;
      best = Math.min(best, (now() - t) / PROBE_PAGES);
    } finally {
      libc.munmap(p, BigInt(length));
    }
  }
  return best;
}

/** The C library's calls that advise and map memory. */
function openLibc(): { symbols: Libc; close(): void } {
  return Deno.dlopen("libc.so.6", {
    madvise: { parameters: ["pointer", "usize", "i32"], result: "i32" },
    mmap: { parameters: ["pointer", "usize", "i32", "i32", "i32", "i64"], result: "pointer" },
    munmap: { parameters: ["pointer", "usize"], result: "i32" },
    clock_gettime: { parameters: ["i32", "buffer"], result: "i32" },
  });
}

/** libc's `madvise` when huge-page advice is to be given here, else `null`; sets `reason`. */
function lookUpMadvise(): Madvise | null {
  const no = (why: string) => {
    reason = `not advised: ${why}`;
    return null;
  };
  try {
    const blocker = linuxFfiBlocker("IPP_HUGE_PAGES");
    if (blocker !== null) return no(blocker);
    const wish = envValue("IPP_HUGE_PAGES");
    if (!granted({ name: "read", path: "/sys" })) return no("no read permission for /sys");
    const mode = readOr("/sys/kernel/mm/transparent_hugepage/enabled", "");
    if (!mode.includes("[madvise]")) return no(`huge pages not in madvise mode (${mode || "?"})`);
    const lib = openLibc(); // kept open when advising: the advice is given for the process's life
    if (wish === "1") reason = "advised: IPP_HUGE_PAGES=1";
    else if (!hostReclaimsFreePages()) reason = "advised: the host keeps freed memory";
    else {
      const us = timeFreshFaults(lib.symbols);
      const cost = `the host reclaims freed memory and a fresh 4 KiB page costs ${
        us.toFixed(1)
      } µs`;
      if (us < SLOW_FAULT_MICROS) {
        lib.close();
        return no(`${cost} (< ${SLOW_FAULT_MICROS})`);
      }
      reason = `advised: ${cost} (≥ ${SLOW_FAULT_MICROS})`;
    }
    return lib.symbols.madvise;
  } catch (err) {
    return no(`the C library failed (${err instanceof Error ? err.message : String(err)})`);
  }
}

/** Whether arrays from {@link largeBytes} are advised into huge pages in this process. */
export function hugePagesAdvised(): boolean {
  madvise ??= lookUpMadvise();
  return madvise !== null;
}

/**
 * Why this process does or does not advise large arrays into huge pages, in a line (decided at
 * the first large array, or here).
 *
 * @returns For example `advised: the host keeps freed memory`.
 *
 * @example
 * ```ts
 * import { hugePagesReason } from "./large_bytes.ts";
 * console.log(hugePagesReason()); // "not advised: no FFI permission" without --allow-ffi
 * ```
 */
export function hugePagesReason(): string {
  madvise ??= lookUpMadvise();
  return reason;
}

/**
 * A zero-filled array of `size` bytes for a large frame, its whole 2 MiB pages advised into
 * huge pages when that pays here (see the module doc); otherwise `new Uint8Array(size)`.
 *
 * @param size Length in bytes.
 * @param shared Back it with a `SharedArrayBuffer` (for a frame handed to a worker).
 * @returns The new array, untouched.
 *
 * @example
 * ```ts
 * import { largeBytes } from "./large_bytes.ts";
 * const frame = largeBytes(64 << 20);
 * console.log(frame.length); // 67108864
 * ```
 */
export function largeBytes(size: number, shared = false): Uint8Array {
  const out = shared ? new Uint8Array(new SharedArrayBuffer(size)) : new Uint8Array(size);
  if (size < ADVISE_MIN) return out;
  madvise ??= lookUpMadvise();
  if (madvise === null) return out;
  const at = BigInt(
    Deno.UnsafePointer.value(Deno.UnsafePointer.of(out as Uint8Array<ArrayBuffer>)),
  );
  const start = (at + HUGE_PAGE - 1n) & ~(HUGE_PAGE - 1n);
  const end = (at + BigInt(size)) & ~(HUGE_PAGE - 1n);
  // Advice is only a hint: if the kernel declines it, the array works the same.
  if (end > start) madvise(Deno.UnsafePointer.create(start), end - start, MADV_HUGEPAGE);
  return out;
}

/**
 * A zero-filled typed array of `length` elements over {@link largeBytes} memory.
 *
 * @param Kind The typed array constructor (for example `Float64Array`).
 * @param length Number of elements.
 * @returns The new array.
 *
 * @example
 * ```ts
 * import { largeTyped } from "./large_bytes.ts";
 * console.log(largeTyped(Float64Array, 4)); // Float64Array(4) [0, 0, 0, 0]
 * ```
 */
export function largeTyped<T>(
  Kind: { new (buffer: ArrayBuffer): T; readonly BYTES_PER_ELEMENT: number },
  length: number,
): T {
  return new Kind(largeBytes(length * Kind.BYTES_PER_ELEMENT).buffer as ArrayBuffer);
}
