/**
 * Cut-through forwarding in the MUX relay with real processes: our controller and our engine
 * as subprocesses, our client in this process. A large buffer is streamed through the
 * controller in both directions while small messages interleave, and a client that dies in the
 * middle of a large frame leaves the controller alive and serving the other clients.
 */

import assert from "node:assert/strict";
import { Client } from "../../src/client/client.ts";
import { Cluster, PEERS } from "./peers/cluster.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const MiB = 1 << 20;

async function within<T>(p: PromiseLike<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      Promise.resolve(p),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Our controller and one of our engines; the client file once the engine is registered. */
async function ourCluster(controllerArgs: string[] = []): Promise<Cluster> {
  const c = await Cluster.create("ct");
  c.startController(controllerArgs);
  await c.waitForFile(c.engineFile);
  c.spawn("engine", Deno.execPath(), [
    "run",
    "-A",
    `${ROOT}src/cli/main.ts`,
    "engine",
    `--file=${c.engineFile}`,
  ]);
  return c;
}

async function connect(c: Cluster): Promise<Client> {
  await c.waitForFile(c.clientFile);
  const client = await Client.connect({ urlFile: c.clientFile, timeout: 20_000 });
  const end = Date.now() + 60_000;
  while (client.ids.length < 1) {
    if (Date.now() > end) throw new Error(`no engine registered\n${await c.logs()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return client;
}

/** A Float64Array whose values depend on the index (misplaced chunks show). */
function values(n: number, seed: number): Float64Array {
  const a = new Float64Array(n);
  for (let i = 0; i < n; i++) a[i] = i * 3 + seed;
  return a;
}

function sameBytes(a: ArrayBufferView, b: ArrayBufferView): boolean {
  if (a.byteLength !== b.byteLength) return false;
  const x = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const y = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

Deno.test({
  name: "a 24 MB buffer goes through the controller both ways, in order with small requests",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using c = await ourCluster();
    const client = await connect(c);
    const other = await Client.connect({ urlFile: c.clientFile, timeout: 20_000 });
    try {
      const e0 = client.engine(0);
      const big = values(3 * MiB, 1);
      // The small execute is sent right behind the big push on the same connection; it must
      // run after the push (it sees the array), and another client is served meanwhile.
      const pushing = e0.push({ big });
      const after = e0.execute("globalThis.seen = globalThis.big.length");
      const meanwhile = other.engine(0).pull("Math.PI");
      await within(pushing, 60_000, "push");
      await within(after, 60_000, "execute after the push");
      assert.equal(await within(e0.pull("seen"), 30_000, "pull seen"), big.length);
      assert.equal(await within(meanwhile, 30_000, "other client's pull"), Math.PI);
      // And back: the reply's buffer is streamed from the engine to the client.
      const back = await within(e0.pull("big"), 60_000, "pull big") as Float64Array;
      assert.ok(back instanceof Float64Array, `pulled a ${Object.prototype.toString.call(back)}`);
      assert.ok(sameBytes(back, big), "the pulled array equals the pushed one");
      // A large frame among the signed parts (a 2 MiB code string in the content): the relay
      // collects the whole message before verifying and forwarding it.
      const code = `globalThis.long = "${"x".repeat(2 * MiB)}".length`;
      await within(e0.execute(code), 60_000, "execute of a 2 MiB cell");
      assert.equal(await within(e0.pull("long"), 30_000, "pull long"), 2 * MiB);
    } catch (e) {
      throw new Error(`${(e as Error).message}\n${await c.logs()}`, { cause: e });
    } finally {
      await other.close();
      await client.close();
    }
  },
});

Deno.test({
  name: "a client killed mid-frame leaves the controller alive and other clients served",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await using c = await ourCluster();
    const client = await connect(c);
    try {
      const e0 = client.engine(0);
      assert.equal(await within(e0.pull("1 + 1"), 30_000, "first pull"), 2);
      // The dying client announces a 200 MiB buffer, sends 8 MiB of it, and is killed: the
      // controller has already relayed the start to the engine, so it closes that connection
      // (the engine reconnects) instead of handing the engine a truncated frame. Requests
      // sent to the engine meanwhile wait for it (RouterSocket, "Returning peers").
      const dying = c.spawn("dying", Deno.execPath(), [
        "run",
        "-A",
        `${PEERS}dying_sender.ts`,
        c.clientFile,
        "200",
        "8",
      ]);
      const end = Date.now() + 30_000;
      while (!(await Deno.readTextFile(dying.log).catch(() => "")).includes("sent")) {
        if (Date.now() > end) throw new Error("the dying client did not send");
        await new Promise((r) => setTimeout(r, 20));
      }
      await new Promise((r) => setTimeout(r, 300));
      // Sent while the forward is still in flight, so it queues behind the doomed message.
      const behind = e0.pull("2 * 2");
      Deno.kill(-dying.pid, "SIGKILL");
      await dying.child.status;
      // Sent at once, while the engine's connection is being closed and before it reconnects.
      const during = e0.pull("3 * 2");
      assert.equal(await within(behind, 30_000, "the request queued behind the cut message"), 4);
      assert.equal(await within(during, 30_000, "the request sent during the reconnect"), 6);
      // A new client is served too, and the controller process is still running.
      const fresh = await Client.connect({ urlFile: c.clientFile, timeout: 20_000 });
      try {
        assert.equal(await within(fresh.engine(0).pull("3 * 3"), 30_000, "fresh client"), 9);
      } finally {
        await fresh.close();
      }
      const ctl = c.procs[0];
      const exited = await Promise.race([
        ctl.child.status.then(() => true),
        new Promise<boolean>((r) => setTimeout(() => r(false), 100)),
      ]);
      assert.equal(exited, false, "the controller is still running");
      assert.match(await Deno.readTextFile(ctl.log), /forwarded message cut short/);
    } catch (e) {
      throw new Error(`${(e as Error).message}\n${await c.logs()}`, { cause: e });
    } finally {
      await client.close();
    }
  },
});

/** Waits until the Hub has recorded task `msgId` as completed (as seen by `client`). */
async function recorded(client: Client, msgId: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const status = await client.resultStatus([msgId]).catch(() => undefined);
    if (status?.completed.includes(msgId)) return;
    if (Date.now() > deadline) throw new Error(`the Hub did not record ${msgId} in 10 s`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

for (const cutThrough of [true, false]) {
  Deno.test({
    name: cutThrough
      ? "the Hub says a streamed result's buffers were not kept (get_result, db_query)"
      : "with --cut-through=0 the Hub keeps a large result for another client",
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      await using c = await ourCluster(cutThrough ? [] : ["--cut-through=0"]);
      const client = await connect(c);
      const other = await Client.connect({ urlFile: c.clientFile, timeout: 20_000 });
      try {
        const e0 = client.engine(0);
        await within(
          e0.execute("globalThis.big = new Float64Array(512 * 1024).fill(2.5)"),
          60_000,
          "make",
        );
        const ar = e0.pull("big");
        const local = await within(ar, 60_000, "pull big") as Float64Array;
        assert.equal(local.length, 512 * 1024, "the owner gets the streamed result in full");
        const [msgId] = ar.msgIds;
        // Another client: a task that went the same-host direct path reaches the Hub's records
        // up to 100 ms after its result reached the client that sent it (the 4 MiB reply, too
        // large for the engine's record block, goes on its own, its buffer beside the batch).
        await recorded(other, msgId);
        const fromHub = within(other.getResult([msgId]), 30_000, "getResult from another client");
        if (cutThrough) {
          await assert.rejects(fromHub, /BuffersNotKept[\s\S]*streamed through the controller/);
          await assert.rejects(
            within(other.dbQuery({ msg_id: msgId }, ["msg_id", "result_buffers"]), 30_000, "db"),
            /BuffersNotKept/,
          );
          // The rest of the record is still there.
          const [rec] = await within(
            other.dbQuery({ msg_id: msgId }, ["msg_id", "completed"]),
            30_000,
            "db",
          );
          assert.equal(rec.msg_id, msgId);
        } else {
          const [value] = await fromHub as Float64Array[]; // a list in, a list out
          assert.ok(sameBytes(value, local), "the Hub kept the whole buffer");
        }
      } catch (e) {
        throw new Error(`${(e as Error).message}\n${await c.logs()}`, { cause: e });
      } finally {
        await other.close();
        await client.close();
      }
    },
  });
}
