/**
 * A direct connection that drops while the client and the engine both live (`DirectRecovery`):
 * the replies the engine sent into the dropped connection are fetched from the Hub, which the
 * engine sends its records to, and the connection is made again.
 *
 * The connection is cut for real: the client's ends of the engine's Unix sockets (found with
 * `ss`; two with split IPC, `split_ipc.ts`) are shut down through the C library's `shutdown`, in
 * this process; or bytes that are no ZMTP frame are written into the one the engine reads, and
 * the engine drops it. Linux only, and it needs `ss`
 * (iproute2): skipped, saying so, without them (unless `IPP_INTEROP=1`).
 */

import assert from "node:assert/strict";
import { type Client, RemoteError } from "../../mod.ts";
import { skipUnlessPresent } from "../helpers/interop.ts";
import { withConnectedCluster } from "../helpers/local_cluster.ts";
import { step } from "../helpers/steps.ts";
import { waitFor } from "./python_cluster.ts";
import { splitIpcAvailable } from "../../src/zmtp/split_ipc.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
/** Sockets of one direct connection: a split pair where split IPC is usable. */
const SOCKETS = splitIpcAvailable() ? 2 : 1;
const T = 20_000;

function hasSs(): boolean {
  try {
    return new Deno.Command("ss", { args: ["-V"], stdout: "null", stderr: "null" }).outputSync()
      .success;
  } catch {
    return false;
  }
}
const skip = skipUnlessPresent(
  "dropped direct connection tests",
  Deno.build.os !== "linux"
    ? "they cut a Unix socket found with Linux's ss"
    : hasSs()
    ? null
    : "no `ss`: apt-get install -y iproute2",
);

/** Calls `call` until the client's requests to its one engine go straight. */
async function reachStraight(
  client: Client,
  call: () => PromiseLike<unknown>,
  what: string,
): Promise<void> {
  await waitFor(
    async () => {
      await call();
      return client.directIds.length === 1;
    },
    T,
    what,
  );
}

/**
 * This process's file descriptors of its connections to engine `uuid`'s Unix sockets: its plain
 * one (`-<uuid>.sock`) and its split pair (`.s.sock`, which the engine reads, and `.s.w.sock`,
 * which it writes; `split_ipc.ts`).
 * @param engineReads Only those the engine reads (what this process writes into them reaches it).
 */
function directFds(uuid: string, engineReads = false): number[] {
  const out = new Deno.Command("ss", { args: ["-xpnH", "state", "connected"] }).outputSync();
  const rows = new TextDecoder().decode(out.stdout).split("\n").map((l) => l.trim().split(/\s+/));
  // Columns: netid, state, recv-q, send-q, local path (or *), local inode, peer path, peer
  // inode, users.
  const ends = engineReads ? [`-${uuid}.sock`, `-${uuid}.s.sock`] : [
    `-${uuid}.sock`,
    `-${uuid}.s.sock`,
    `-${uuid}.s.w.sock`,
  ];
  const engineEnds = rows.filter((r) => ends.some((e) => r[4]?.endsWith(e)));
  const peers = new Set(engineEnds.map((r) => r[7]));
  const fds = rows
    .filter((r) => peers.has(r[5]))
    .map((r) => new RegExp(`pid=${Deno.pid},fd=(\\d+)`).exec(r.slice(8).join(" "))?.[1])
    .filter((fd): fd is string => fd !== undefined)
    .map(Number);
  return fds;
}

/** The C library's `shutdown` and `write`. */
function withLibc<T>(
  fn: (
    c: {
      shutdown(fd: number, how: number): number;
      write(fd: number, b: Uint8Array): number | bigint;
    },
  ) => T,
): T {
  const libc = Deno.dlopen("libc.so.6", {
    shutdown: { parameters: ["i32", "i32"], result: "i32" },
    write: { parameters: ["i32", "buffer", "usize"], result: "isize" },
  });
  try {
    return fn({
      shutdown: (fd, how) => libc.symbols.shutdown(fd, how),
      write: (fd, b) => libc.symbols.write(fd, b, BigInt(b.length)),
    });
  } finally {
    libc.close();
  }
}

/**
 * Shuts down this process's ends of its connections to engine `uuid`'s Unix socket.
 * @returns How many were shut down.
 */
function cutDirect(uuid: string): number {
  const fds = directFds(uuid);
  withLibc((c) => {
    for (const fd of fds) assert.equal(c.shutdown(fd, 2 /* SHUT_RDWR */), 0);
  });
  return fds.length;
}

/**
 * Writes bytes that are no ZMTP frame into this process's connections to engine `uuid`: the
 * engine drops the connection when it reads them, and what came after them with it.
 * @returns How many connections were written to.
 */
function garbleDirect(uuid: string): number {
  const fds = directFds(uuid, true);
  // A long frame whose length is far above any limit.
  const junk = new Uint8Array([0x02, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
  withLibc((c) => {
    for (const fd of fds) assert.equal(Number(c.write(fd, junk)), junk.length);
  });
  return fds.length;
}

Deno.test({
  name: "a dropped direct connection: the lost replies come from the Hub, and it reconnects",
  ignore: skip,
  ...opts,
  async fn(t) {
    await withConnectedCluster(
      { n: 1, clusterId: "direct-drop", client: { timeout: T } },
      async (_cluster, client) => {
        const e0 = client.directView(0);
        await reachStraight(client, () => e0.apply(() => 0), "the engine reached straight");

        await step(t, "replies sent into the cut connection still settle their tasks", async () => {
          // Read by the engine at once; answered after the cut.
          const slow = e0.apply(() =>
            new Promise((r) =>
              setTimeout(() => {
                console.log("printed by slow");
                r("slow");
              }, 1_000)
            )
          );
          const quick = [1, 2, 3].map((i) => e0.apply((v: number) => v * 10, i));
          await new Promise((r) => setTimeout(r, 300));
          assert.equal(slow.ready(), false);
          assert.equal(cutDirect(client.uuidOf(0)!), SOCKETS, "one connection cut");
          assert.equal(await slow.get(10_000), "slow");
          assert.equal(slow.stdout, "printed by slow\n", "its output, as with a live reply");
          assert.deepEqual(await Promise.all(quick.map((q) => q.get(10_000))), [10, 20, 30]);
          assert.equal((slow.metadata as { engineId: unknown }).engineId, 0);
        });

        await step(t, "a lost reply the Hub kept no buffers of fails, saying so", async () => {
          // 2.4 MB: above the 1 MiB from which records carry no buffers.
          await e0.push({ big: new Float64Array(300_000).fill(1) }).get(T);
          const slow = e0.apply(() => new Promise((r) => setTimeout(() => r("slow"), 800)));
          const pulled = e0.pull("big");
          await new Promise((r) => setTimeout(r, 300));
          assert.equal(cutDirect(client.uuidOf(0)!), SOCKETS, "one connection cut");
          assert.equal(await slow.get(10_000), "slow");
          await assert.rejects(pulled.get(10_000), (e: Error) => {
            assert.match(e.message, /lost with its direct connection, and the Hub cannot give/);
            assert.ok(e.cause instanceof RemoteError && e.cause.ename === "BuffersNotKept");
            return true;
          });
        });

        await step(t, "an error raised there is raised here, as a live reply's", async () => {
          const failing = e0.apply(() =>
            new Promise((_, reject) => setTimeout(() => reject(new TypeError("boom")), 500))
          );
          await new Promise((r) => setTimeout(r, 200));
          assert.equal(cutDirect(client.uuidOf(0)!), SOCKETS, "one connection cut");
          await assert.rejects(failing.get(10_000), (e: Error) => {
            assert.ok(e instanceof RemoteError, String(e));
            assert.equal(e.ename, "TypeError");
            assert.match(e.evalue, /boom/);
            return true;
          });
        });

        await step(t, "the connection is made again, and the Hub's records are whole", async () => {
          await reachStraight(
            client,
            async () => assert.equal(await e0.apply(() => 4).get(T), 4),
            "straight again",
          );
          const status = (await client.queueStatus(0)) as { queue: number };
          assert.equal(status.queue, 0);
        });
      },
    );
  },
});

Deno.test({
  name: "a request lost on the wire fails with RequestLostError once the engine is idle",
  ignore: skip,
  ...opts,
  async fn() {
    await withConnectedCluster(
      { n: 1, clusterId: "direct-lost", client: { timeout: T } },
      async (_cluster, client) => {
        const e0 = client.directView(0);
        await reachStraight(client, () => e0.apply(() => 0), "the engine reached straight");
        // The engine's thread is held, so it reads nothing meanwhile: the junk, then a request,
        // wait in the connection. Reading the junk, the engine drops the connection and the
        // request unread.
        const hold = e0.apply(() => {
          const end = Date.now() + 1_000;
          while (Date.now() < end) { /* holds the engine's thread */ }
          return "held";
        });
        await new Promise((r) => setTimeout(r, 200));
        assert.equal(garbleDirect(client.uuidOf(0)!), 1, "one connection garbled");
        const lost = e0.apply(() => "ran");
        assert.equal(await hold.get(T), "held");
        await assert.rejects(lost.get(30_000), (e: Error) => {
          assert.equal(e.name, "RequestLostError", String(e));
          assert.match(e.message, /before the engine read it: it did not run/);
          return true;
        });
        // The engine lives on, reached straight again.
        await reachStraight(
          client,
          async () => assert.equal(await e0.apply(() => 5).get(T), 5),
          "straight again",
        );
      },
    );
  },
});
