/**
 * SHA-256 from the system's OpenSSL (libcrypto 3, or 1.1 on Linux) through Deno's FFI, for the
 * HMACs of the default signature scheme (PROTOCOL.md §1.3). Optional: it is loaded on first
 * use, only where FFI is already permitted (never prompting), and checked against a known
 * digest before it is trusted; anywhere else (Deno Deploy, `deno run` without `--allow-ffi`, no
 * libcrypto, or `IPP_NATIVE_HMAC=0`) the signer keeps node:crypto's hashes.
 *
 * Why: every message is signed once and verified once or twice on its way, and in the running
 * stack node-compat's `hash()` (a hash object made and digested per call, twice per HMAC) cost
 * 5–7 µs per HMAC of a 700-byte message in a hot loop and 9–26 µs in place. With signatures
 * turned off, each process spent ~25–40 µs less CPU per load-balanced task and throughput rose
 * by a third (BENCHMARKS.md, twentieth round). OpenSSL hashes with the CPU's SHA extensions
 * where it has them, and a call through Deno's FFI costs ~50 ns when its 64-bit length is a
 * `BigInt` (a number there takes V8's slow path: ~300 ns).
 *
 * @module
 */

/** Bytes reserved for an OpenSSL `SHA256_CTX` (112 on every platform; rounded up). */
export const SHA256_CTX_BYTES = 128;

/** The three calls used (deprecated in OpenSSL 3 but exported, and stable since 0.9.8). */
export interface Sha256Calls {
  /** `SHA256_Init(ctx)`: 1 on success. */
  SHA256_Init(ctx: Uint8Array): number;
  /** `SHA256_Update(ctx, data, len)`: 1 on success. */
  SHA256_Update(ctx: Uint8Array, data: Uint8Array, len: bigint): number;
  /** `SHA256_Final(md, ctx)`: writes the 32-byte digest; 1 on success. */
  SHA256_Final(md: Uint8Array, ctx: Uint8Array): number;
}

/**
 * Where libcrypto is looked for, by OS: OpenSSL 3, or 1.1 on Linux (the same calls and context
 * layout), through the system loader's own paths; on macOS, Homebrew's by full path, never the
 * unversioned system stub, which aborts the process that loads it. Not on Windows, where a DLL
 * named without a path may be found in the current directory.
 */
const LIBRARIES: Record<string, string[]> = {
  linux: ["libcrypto.so.3", "libcrypto.so.1.1"],
  darwin: [
    "/opt/homebrew/opt/openssl@3/lib/libcrypto.3.dylib",
    "/usr/local/opt/openssl@3/lib/libcrypto.3.dylib",
  ],
};

const SYMBOLS = {
  SHA256_Init: { parameters: ["buffer"], result: "i32" },
  SHA256_Update: { parameters: ["buffer", "buffer", "usize"], result: "i32" },
  SHA256_Final: { parameters: ["buffer", "buffer"], result: "i32" },
} as const;

let loaded: Sha256Calls | null | undefined;

/**
 * The native SHA-256 calls, loaded once per thread, or `undefined` where they cannot or must
 * not be used (see the module's notes). Never throws and never prompts for a permission.
 * @returns The calls, or `undefined`.
 */
export function nativeSha256(): Sha256Calls | undefined {
  if (loaded === undefined) loaded = load() ?? null;
  return loaded ?? undefined;
}

function granted(descriptor: Deno.PermissionDescriptor): boolean {
  try {
    return Deno.permissions.querySync(descriptor).state === "granted";
  } catch {
    return false;
  }
}

function load(): Sha256Calls | undefined {
  const deno = (globalThis as { Deno?: typeof Deno }).Deno;
  if (typeof deno?.dlopen !== "function" || !granted({ name: "ffi" })) return undefined;
  if (
    granted({ name: "env", variable: "IPP_NATIVE_HMAC" }) &&
    deno.env.get("IPP_NATIVE_HMAC") === "0"
  ) return undefined;
  for (const name of LIBRARIES[deno.build.os] ?? []) {
    let lib: Deno.DynamicLibrary<typeof SYMBOLS> | undefined;
    try {
      lib = deno.dlopen(name, SYMBOLS);
      const calls = lib.symbols as unknown as Sha256Calls;
      if (selfCheck(calls)) return calls;
      lib.close();
    } catch {
      try {
        lib?.close();
      } catch { /* already closed */ }
    }
  }
  return undefined;
}

/**
 * SHA-256 of `bytes` through the native calls (for keys longer than a block, as RFC 2104 asks).
 * @param calls From {@linkcode nativeSha256}.
 * @param bytes The message.
 * @returns The 32-byte digest.
 */
export function sha256With(calls: Sha256Calls, bytes: Uint8Array): Uint8Array {
  const ctx = new Uint8Array(SHA256_CTX_BYTES);
  const md = new Uint8Array(32);
  calls.SHA256_Init(ctx);
  calls.SHA256_Update(ctx, bytes, BigInt(bytes.length));
  calls.SHA256_Final(md, ctx);
  return md;
}

/** SHA-256 of "abc" (FIPS 180-2, appendix B.1) through the loaded calls. */
function selfCheck(calls: Sha256Calls): boolean {
  const ctx = new Uint8Array(SHA256_CTX_BYTES);
  const md = new Uint8Array(32);
  const abc = new Uint8Array([0x61, 0x62, 0x63]);
  // One byte, then the rest from an offset view: checks that views are passed with their offset.
  if (calls.SHA256_Init(ctx) !== 1) return false;
  if (calls.SHA256_Update(ctx, abc.subarray(0, 1), 1n) !== 1) return false;
  if (calls.SHA256_Update(ctx, abc.subarray(1), 2n) !== 1) return false;
  if (calls.SHA256_Final(md, ctx) !== 1) return false;
  let hex = "";
  for (const b of md) hex += b.toString(16).padStart(2, "0");
  return hex === "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
}
