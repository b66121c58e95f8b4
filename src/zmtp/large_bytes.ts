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
 * It is a gamble on a virtual machine whose host takes freed memory back in 2 MiB blocks
 * (`virtio_balloon` free page reporting, as on the machine our benchmarks run on): there a
 * fresh huge page is often one the host must fault in again, 4 KiB at a time, and the fill then
 * took 135–230 ms. So by default the advice is given unless such a balloon is found
 * ({@link hostReclaimsFreePages}); `IPP_HUGE_PAGES=1` gives it anyway, `IPP_HUGE_PAGES=0`
 * never. BENCHMARKS.md (seventeenth round) has the figures.
 *
 * The advice needs Linux, the FFI permission (`-A` or `--allow-ffi`; libc's `madvise`) and read
 * permission for `/sys`; the switch is seen with the env permission. The memory stays an
 * ordinary V8 allocation (only advised), so its lifetime and transfer are as for any array.
 * Otherwise arrays are plain `new Uint8Array(size)`. Nothing here ever prompts.
 *
 * @module
 */

import { granted } from "../permissions.ts";

/** Arrays at least this big are advised (smaller ones gain little over their few faults). */
export const ADVISE_MIN = 8 << 20;
/** `MADV_HUGEPAGE` from Linux's `mman-common.h`. */
const MADV_HUGEPAGE = 14;
/** The huge page size on x86-64 and arm64 (4 KiB base pages). */
const HUGE_PAGE = 2n << 20n;
/** virtio's device id of a memory balloon, as a virtio device's `device` file in sysfs shows it. */
const BALLOON_DEVICE = "0x0005";
/** The balloon's feature bit for free page reporting (`VIRTIO_BALLOON_F_REPORTING`). */
const REPORTING_FEATURE = 5;
/** The largest buddy order Linux keeps (x86-64, arm64 defaults); reporting above it never runs. */
const MAX_PAGE_ORDER = 10;

type Madvise = (address: Deno.PointerValue, length: bigint, advice: number) => number;
/** `undefined` until first needed; `null` when advice is not given here. */
let madvise: Madvise | null | undefined;

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

/** libc's `madvise` when huge-page advice is to be given here, else `null`. */
function lookUpMadvise(): Madvise | null {
  try {
    if (Deno.build.os !== "linux" || typeof Deno.dlopen !== "function") return null;
    const wish = granted({ name: "env", variable: "IPP_HUGE_PAGES" })
      ? Deno.env.get("IPP_HUGE_PAGES")
      : undefined;
    if (wish === "0") return null;
    if (!granted({ name: "ffi" }) || !granted({ name: "read", path: "/sys" })) return null;
    if (!readOr("/sys/kernel/mm/transparent_hugepage/enabled", "").includes("[madvise]")) {
      return null;
    }
    if (wish !== "1" && hostReclaimsFreePages()) return null;
    const libc = Deno.dlopen("libc.so.6", {
      madvise: { parameters: ["pointer", "usize", "i32"], result: "i32" },
    });
    return libc.symbols.madvise;
  } catch {
    return null;
  }
}

/** Whether arrays from {@link largeBytes} are advised into huge pages in this process. */
export function hugePagesAdvised(): boolean {
  madvise ??= lookUpMadvise();
  return madvise !== null;
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
