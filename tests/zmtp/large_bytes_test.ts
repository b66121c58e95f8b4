/**
 * `largeBytes`: large frames get memory advised into transparent huge pages (checked in the
 * kernel's own view of the process, the `hg` flag of the mapping in `/proc/self/smaps`), small
 * ones and processes without the FFI permission or with `IPP_HUGE_PAGES=0` get plain arrays,
 * and asking never prompts. Skipped with a message off Linux or where the kernel's huge pages
 * are not in `madvise` mode.
 */

import assert from "node:assert/strict";
import { ADVISE_MIN, hugePagesAdvised, largeBytes } from "../../src/zmtp/large_bytes.ts";

const THP_MODE = "/sys/kernel/mm/transparent_hugepage/enabled";
const why = (() => {
  if (Deno.build.os !== "linux") return "huge-page advice is Linux's";
  if (Deno.env.get("IPP_HUGE_PAGES") === "0") return "IPP_HUGE_PAGES=0 is set";
  try {
    const mode = Deno.readTextFileSync(THP_MODE);
    return mode.includes("[madvise]") ? null : `${THP_MODE} is not in madvise mode: ${mode.trim()}`;
  } catch {
    return `${THP_MODE} cannot be read`;
  }
})();
if (why !== null) console.warn(`large_bytes_test: skipped (${why})`);

/** The `VmFlags` of the mapping that holds `address`, from `/proc/self/smaps`. */
function flagsAt(address: bigint): string[] {
  let inside = false;
  for (const line of Deno.readTextFileSync("/proc/self/smaps").split("\n")) {
    const range = /^([0-9a-f]+)-([0-9a-f]+) /.exec(line);
    if (range !== null) {
      inside = BigInt(`0x${range[1]}`) <= address && address < BigInt(`0x${range[2]}`);
    } else if (inside && line.startsWith("VmFlags:")) {
      return line.slice("VmFlags:".length).trim().split(/\s+/);
    }
  }
  throw new Error(`no mapping holds 0x${address.toString(16)}`);
}

/** The address `offset` bytes into `bytes`. */
function addressIn(bytes: Uint8Array, offset: number): bigint {
  const p = Deno.UnsafePointer.of(bytes as Uint8Array<ArrayBuffer>);
  return BigInt(Deno.UnsafePointer.value(p)) + BigInt(offset);
}

/** What `hugePagesAdvised()` says in a fresh process with these flags and environment. */
async function advisedIn(flags: string[], env: Record<string, string> = {}): Promise<string> {
  const url = new URL("../../src/zmtp/large_bytes.ts", import.meta.url).href;
  const script = await Deno.makeTempFile({ suffix: ".ts" });
  try {
    await Deno.writeTextFile(
      script,
      `import { hugePagesAdvised } from "${url}"; console.log(hugePagesAdvised());`,
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", ...flags, script],
      env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    return new TextDecoder().decode(out.stdout).trim();
  } finally {
    await Deno.remove(script);
  }
}

Deno.test({
  name: "largeBytes: a large array's whole 2 MiB pages are advised into huge pages",
  ignore: why !== null,
  fn() {
    assert.equal(hugePagesAdvised(), true);
    for (const shared of [false, true]) {
      const big = largeBytes(4 * ADVISE_MIN, shared);
      assert.equal(big.length, 4 * ADVISE_MIN);
      assert.equal(big.buffer instanceof SharedArrayBuffer, shared);
      assert.equal(big[0] | big[big.length - 1] | big[big.length >> 1], 0);
      big.fill(7);
      // The middle of the array lies in a whole huge page; the kernel marks it advised.
      assert.ok(flagsAt(addressIn(big, big.length >> 1)).includes("hg"), `shared=${shared}`);
    }
    // A plain array of the same size is not advised: the flag comes from largeBytes.
    const plain = new Uint8Array(4 * ADVISE_MIN).fill(7);
    assert.ok(!flagsAt(addressIn(plain, plain.length >> 1)).includes("hg"));
  },
});

Deno.test({
  name: "largeBytes: an array below ADVISE_MIN is a plain zeroed array",
  fn() {
    const small = largeBytes(ADVISE_MIN - 1);
    assert.equal(small.length, ADVISE_MIN - 1);
    assert.ok(small.buffer instanceof ArrayBuffer);
    assert.equal(small.reduce((a, b) => a | b, 0), 0);
  },
});

Deno.test({
  name: "largeBytes: IPP_HUGE_PAGES=0 or no FFI permission turns the advice off, without a prompt",
  ignore: why !== null,
  async fn() {
    assert.equal(await advisedIn(["-A"], { IPP_HUGE_PAGES: "1" }), "true");
    assert.equal(await advisedIn(["-A"], { IPP_HUGE_PAGES: "0" }), "false");
    // Without FFI (and without read or env permission) it is off, and it never asks.
    assert.equal(await advisedIn(["--no-prompt"]), "false");
    assert.equal(await advisedIn(["--no-prompt", "--allow-read", "--allow-env"]), "false");
  },
});
