/**
 * `largeBytes`: large frames get memory advised into transparent huge pages (checked in the
 * kernel's own view of the process: the `hg` flag of the mapping in `/proc/self/smaps`) with
 * `IPP_HUGE_PAGES=1`, and by default exactly when the host keeps freed memory or a fresh 4 KiB
 * page costs at least `SLOW_FAULT_MICROS` (the reason the process gives says which); with
 * `IPP_HUGE_PAGES=0`, below `ADVISE_MIN` or without the FFI permission they are plain arrays, and
 * asking never prompts. Each case runs in a child process, since the choice is made once per
 * process. The advised cases are skipped with a message off Linux or where the kernel's huge
 * pages are not in `madvise` mode.
 */

import assert from "node:assert/strict";
import { runScriptJson } from "./helpers.ts";
import {
  ADVISE_MIN,
  freshFaultMicros,
  hostReclaimsFreePages,
  largeBytes,
  SLOW_FAULT_MICROS,
} from "../../src/zmtp/large_bytes.ts";

const THP_MODE = "/sys/kernel/mm/transparent_hugepage/enabled";
const why = (() => {
  if (Deno.build.os !== "linux") return "huge-page advice is Linux's";
  try {
    const mode = Deno.readTextFileSync(THP_MODE);
    return mode.includes("[madvise]") ? null : `${THP_MODE} is not in madvise mode: ${mode.trim()}`;
  } catch {
    return `${THP_MODE} cannot be read`;
  }
})();
if (why !== null) console.warn(`large_bytes_test: advised cases skipped (${why})`);

/**
 * Run in a child: allocates a large array plain, shared and as a plain `Uint8Array`, and prints
 * whether advice is on and whether the middle of each array lies in a mapping flagged `hg`.
 */
const PROBE = `
import { ADVISE_MIN, hugePagesAdvised, hugePagesReason, largeBytes } from "${
  new URL("../../src/zmtp/large_bytes.ts", import.meta.url).href
}";
function flagsAt(address) {
  let inside = false;
  for (const line of Deno.readTextFileSync("/proc/self/smaps").split("\\n")) {
    const range = /^([0-9a-f]+)-([0-9a-f]+) /.exec(line);
    if (range !== null) {
      inside = BigInt("0x" + range[1]) <= address && address < BigInt("0x" + range[2]);
    } else if (inside && line.startsWith("VmFlags:")) return line.slice(8).trim().split(/\\s+/);
  }
  throw new Error("no mapping holds " + address);
}
const advisedAt = (bytes) => {
  const p = Deno.UnsafePointer.value(Deno.UnsafePointer.of(bytes));
  return flagsAt(BigInt(p) + BigInt(bytes.length >> 1)).includes("hg");
};
const advised = hugePagesAdvised();
const out = { advised };
const mayRead = Deno.permissions.querySync({ name: "env", variable: "PROBE_REASON" });
if (mayRead.state === "granted" && Deno.env.get("PROBE_REASON") === "1") {
  out.reason = hugePagesReason();
}
if (Deno.permissions.querySync({ name: "ffi" }).state === "granted") {
  const big = largeBytes(4 * ADVISE_MIN).fill(7);
  const shared = largeBytes(4 * ADVISE_MIN, true).fill(7);
  const plain = new Uint8Array(4 * ADVISE_MIN).fill(7);
  Object.assign(out, {
    big: advisedAt(big),
    shared: advisedAt(shared),
    sharedIsShared: shared.buffer instanceof SharedArrayBuffer,
    plain: advisedAt(plain),
  });
}
console.log(JSON.stringify(out));
`;

/** What the probe prints in a fresh process with these flags and environment. */
function probe(
  flags: string[],
  env: Record<string, string>,
): Promise<Record<string, boolean | string>> {
  return runScriptJson(PROBE, flags, env);
}

Deno.test({
  name: "largeBytes: with IPP_HUGE_PAGES=1, a large array's whole 2 MiB pages are advised",
  ignore: why !== null,
  async fn() {
    assert.deepEqual(await probe(["-A"], { IPP_HUGE_PAGES: "1" }), {
      advised: true,
      big: true,
      shared: true,
      sharedIsShared: true,
      // A plain array of the same size is not advised: the flag comes from largeBytes.
      plain: false,
    });
  },
});

Deno.test({
  name: "largeBytes: by default advised unless the host reclaims freed memory and faults are cheap",
  ignore: why !== null,
  async fn() {
    const got = await probe(["-A"], { IPP_HUGE_PAGES: "", PROBE_REASON: "1" });
    const reason = String(got.reason);
    console.log(`  ${reason}`);
    let on: boolean;
    if (!hostReclaimsFreePages()) {
      assert.equal(reason, "advised: the host keeps freed memory");
      on = true;
    } else {
      // The child timed its own faults; its choice must follow its own figure.
      const us = /a fresh 4 KiB page costs ([0-9.]+) µs/.exec(reason);
      assert.ok(us !== null, reason);
      on = Number(us[1]) >= SLOW_FAULT_MICROS;
      assert.equal(reason.startsWith(on ? "advised: " : "not advised: "), true, reason);
    }
    assert.deepEqual(got, {
      advised: on,
      reason,
      big: on,
      shared: on,
      sharedIsShared: true,
      plain: false,
    });
  },
});

Deno.test({
  name: "freshFaultMicros: the first write to a fresh page takes a positive, finite time",
  ignore: Deno.build.os !== "linux",
  fn() {
    const us = freshFaultMicros();
    assert.ok(Number.isFinite(us) && us > 0, `${us}`);
    // Far below a millisecond per page on any machine that runs our tests.
    assert.ok(us < 1000, `${us} µs per page`);
  },
});

Deno.test({
  name: "largeBytes: off with IPP_HUGE_PAGES=0 and without FFI; never prompts",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const off = { advised: false, big: false, shared: false, sharedIsShared: true, plain: false };
    assert.deepEqual(await probe(["-A"], { IPP_HUGE_PAGES: "0" }), off);
    assert.deepEqual(await probe(["-A"], { IPP_HUGE_PAGES: "0", PROBE_REASON: "1" }), {
      ...off,
      reason: "not advised: IPP_HUGE_PAGES=0",
    });
    // Without FFI (or env, or read) permission it is off, and it never asks.
    assert.deepEqual(await probe(["--no-prompt"], { IPP_HUGE_PAGES: "1" }), { advised: false });
    assert.deepEqual(
      await probe(["--no-prompt", "--allow-env"], { IPP_HUGE_PAGES: "1", PROBE_REASON: "1" }),
      { advised: false, reason: "not advised: no FFI permission" },
    );
    assert.deepEqual(
      await probe(["--no-prompt", "--allow-read", "--allow-env"], { IPP_HUGE_PAGES: "1" }),
      { advised: false },
    );
  },
});

Deno.test({
  name: "largeBytes: arrays are zeroed, of the asked size, shared when asked",
  fn() {
    for (const size of [0, 1, ADVISE_MIN - 1, ADVISE_MIN + 5]) {
      for (const shared of [false, true]) {
        const bytes = largeBytes(size, shared);
        assert.equal(bytes.length, size);
        assert.equal(bytes.buffer instanceof SharedArrayBuffer, shared);
        assert.equal(bytes.reduce((a, b) => a | b, 0), 0);
      }
    }
  },
});

Deno.test("hostReclaimsFreePages: a virtio balloon with free page reporting, read from sysfs", () => {
  const sys = Deno.makeTempDirSync();
  try {
    const device = (name: string, id: string, features: string) => {
      Deno.mkdirSync(`${sys}/bus/virtio/devices/${name}`, { recursive: true });
      Deno.writeTextFileSync(`${sys}/bus/virtio/devices/${name}/device`, `${id}\n`);
      Deno.writeTextFileSync(`${sys}/bus/virtio/devices/${name}/features`, `${features}\n`);
    };
    const order = (n: number) => {
      Deno.mkdirSync(`${sys}/module/page_reporting/parameters`, { recursive: true });
      Deno.writeTextFileSync(
        `${sys}/module/page_reporting/parameters/page_reporting_order`,
        `${n}\n`,
      );
    };
    assert.equal(hostReclaimsFreePages(sys), false, "no virtio devices");
    // A block device whose bit 5 is set, and a balloon without reporting (this VM's bits, bit 5 off).
    device("virtio0", "0x0002", "0010011001100100");
    device("virtio1", "0x0005", "0110000100000000");
    assert.equal(hostReclaimsFreePages(sys), false, "a balloon without reporting");
    device("virtio1", "0x0005", "0110010100000000");
    assert.equal(hostReclaimsFreePages(sys), true, "a balloon that reports");
    order(9);
    assert.equal(hostReclaimsFreePages(sys), true, "reporting 2 MiB blocks");
    order(11);
    assert.equal(hostReclaimsFreePages(sys), false, "a reporting order no free block reaches");
  } finally {
    Deno.removeSync(sys, { recursive: true });
  }
});
