/**
 * The same-host direct path (`src/protocol/messages/direct.ts`) against a real local cluster:
 * our controller and two of our engines, started by `Cluster`. A client of ours on this host
 * sends direct-view requests straight to the engines; the controller is not on their way (a
 * stopped controller does not hold them up), and the Hub still records every task, exactly for
 * the client that sent it.
 */

import assert from "node:assert/strict";
import { EngineError } from "../../src/errors.ts";
import { withConnectedCluster } from "../helpers/local_cluster.ts";
import { step } from "../helpers/steps.ts";
import { within } from "../helpers/timing.ts";
import type { AsyncResult, Client, DirectView } from "../../mod.ts";
import { waitFor } from "./python_cluster.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const T = 20_000;

declare global {
  var x: number;
}

/** Runs `fn` with the process `pid` stopped (SIGSTOP), and continues it after. */
async function whileStopped<T>(pid: number, fn: () => Promise<T>): Promise<T> {
  Deno.kill(pid, "SIGSTOP");
  try {
    return await fn();
  } finally {
    Deno.kill(pid, "SIGCONT");
  }
}

/**
 * Asserts that a call through `view` waits for the stopped controller `pid`, and completes with
 * `value` once it runs again.
 */
async function heldUpByController(
  pid: number,
  view: DirectView,
  value: unknown,
  why?: string,
): Promise<void> {
  let pending: Promise<unknown> | undefined;
  const early = await whileStopped(pid, () => {
    pending = view.apply((v: unknown) => v, value).get(T);
    return within(pending, 500);
  });
  assert.equal(early, "timeout", why);
  assert.equal(await pending, value);
}

/**
 * Asserts that the Hub tells the client, while `held` still holds its engine, that `done` is
 * completed and `held` pending, after `meanwhile` (if given) ran.
 */
async function statusWhileHeld(
  client: Client,
  done: AsyncResult,
  held: AsyncResult,
  meanwhile?: () => Promise<void>,
): Promise<void> {
  const t0 = Date.now();
  const asked = client.resultStatus([...done.msgIds, ...held.msgIds]);
  await meanwhile?.();
  const status = await asked;
  const took = Date.now() - t0;
  assert.deepEqual(status.completed, done.msgIds);
  assert.deepEqual(status.pending, held.msgIds);
  // The engine's main thread sends the records it finds waiting behind a held worker at its
  // second look (100–200 ms in; it was one to two seconds before RECORDS_CHECK_MS).
  assert.ok(took < 1_200, `answered while the engine is held (after ${took} ms)`);
}

Deno.test({
  name: "the same-host direct path: our client straight to our engines, the Hub kept whole",
  ...opts,
  async fn(t) {
    await withConnectedCluster(
      { n: 2, clusterId: "direct", client: { timeout: T } },
      async (cluster, client) => {
        const controller = cluster.pids.controller!;
        const [e0, e1] = [client.directView(0), client.directView(1)];

        await step(t, "once connected, requests to each engine go straight", async () => {
          await waitFor(
            async () => {
              await Promise.all([e0.apply(() => 0), e1.apply(() => 0)]);
              return client.directIds.length === 2;
            },
            T,
            "both engines reached straight",
          );
          assert.deepEqual(client.directIds, [0, 1]);
        });

        await step(t, "calls complete while the controller is stopped", async () => {
          const before = (await client.queueStatus(0)) as { completed: number };
          const [value, pushed] = await whileStopped(controller, async () => {
            const value = await e0.apply((a: number) => a + 1, 41).get(5_000);
            await e0.push({ x: 7 }).get(5_000);
            return [value, await e0.pull("x").get(5_000)];
          });
          assert.equal(value, 42);
          assert.equal(pushed, 7);
          // Once it runs again, the Hub has the three tasks (records sent by the engine).
          const after = (await client.queueStatus(0)) as { completed: number; queue: number };
          assert.equal(after.completed - before.completed, 3);
          assert.equal(after.queue, 0);
        });

        await step(
          t,
          "the Hub's records are exact for the client that sent the tasks",
          async () => {
            for (let i = 0; i < 20; i++) {
              const before = (await client.queueStatus(1)) as { completed: number };
              const ar = e1.apply((n: number) => n * 2, i);
              assert.equal(await ar.get(T), i * 2);
              // Asked right after the result: recorded, with its result.
              const status = await client.resultStatus(ar.msgIds, { statusOnly: false });
              assert.deepEqual(status.completed, ar.msgIds);
              assert.equal(status.results[ar.msgIds[0]].value, i * 2);
              const [rec] = await client.dbQuery({ msg_id: ar.msgIds[0] }, [
                "engine_uuid",
                "queue",
              ]);
              assert.equal(rec.engine_uuid, client.uuidOf(1));
              assert.equal(rec.queue, "mux");
              const after = (await client.queueStatus(1)) as { completed: number };
              assert.equal(after.completed - before.completed, 1);
            }
            // A task still running is known to the Hub as pending, right after it was sent.
            const slow = e1.apply((ms: number) => new Promise((r) => setTimeout(r, ms)), 1_000);
            const status = await client.resultStatus(slow.msgIds);
            assert.deepEqual(status.pending, slow.msgIds);
            await slow.get(T);
          },
        );

        await step(
          t,
          "records of a request that holds the engine's thread still reach the Hub",
          async () => {
            const quick = e0.apply(() => "quick");
            assert.equal(await quick.get(T), "quick");
            // Sent before its records left the engine: they wait behind a 4 s loop, and the
            // engine's main thread sends them when it finds the request still running.
            const hold = e0.apply(() => {
              const end = Date.now() + 4_000;
              while (Date.now() < end) { /* holds the worker */ }
              return "held";
            });
            await statusWhileHeld(client, quick, hold);
            assert.equal(await hold.get(T), "held");
          },
        );

        await step(
          t,
          "a native call holding the engine: its records still come, and hold up no other client",
          async () => {
            await using other = await cluster.connect({ timeout: T });
            await cluster.waitForEngines(other, 2);
            const quick = e0.apply(() => "quick");
            await quick.get(T);
            // One native call: no loop check in user code will run until it ends; the engine's
            // main thread sends the records it finds waiting 100–200 ms in.
            const stuck = e0.apply(() => {
              Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 4_000);
              return "stuck";
            });
            await statusWhileHeld(client, quick, stuck, async () => {
              await new Promise((r) => setTimeout(r, 100));
              const t1 = Date.now();
              await other.queueStatus();
              const theirs = Date.now() - t1;
              assert.ok(theirs < 1_000, `another client's query answered in ${theirs} ms`);
            });
            assert.equal(await stuck.get(T), "stuck");
          },
        );

        await step(
          t,
          "order holds while a new client moves from the MUX to the direct path",
          async () => {
            await using fresh = await cluster.connect({ timeout: T });
            await cluster.waitForEngines(fresh, 2);
            const view = fresh.directView(0);
            // Sent at once, without waiting: the first go through the controller (the direct
            // connection is not up yet), the rest straight once the first are answered.
            const reads = [];
            for (let i = 0; i < 300; i++) {
              view.push({ x: i });
              reads.push(view.apply(() => globalThis.x));
            }
            const values = await Promise.all(reads.map((r) => r.get(T)));
            assert.deepEqual(values, Array.from({ length: 300 }, (_, i) => i));
            await view.apply(() => 0).get(T);
            assert.ok(fresh.directIds.includes(0), "the later requests went straight");
          },
        );

        await step(t, "with direct: false every call goes through the controller", async () => {
          await using muxOnly = await cluster.connect({ timeout: T, direct: false });
          await cluster.waitForEngines(muxOnly, 2);
          const view = muxOnly.directView(0);
          assert.equal(await view.apply(() => 5).get(T), 5);
          assert.deepEqual(muxOnly.directIds, []);
          await heldUpByController(controller, view, 6, "held up by the stopped controller");
        });

        await step(t, "a task sent straight fails when its engine dies", async () => {
          const pid = await e1.apply(() => Deno.pid).get(T) as number;
          const doomed = e1.apply(() => new Promise((r) => setTimeout(r, 60_000)));
          await new Promise((r) => setTimeout(r, 200));
          Deno.kill(pid, "SIGKILL");
          await assert.rejects(doomed.get(T), EngineError);
          await waitFor(() => !client.directIds.includes(1), T, "engine 1 dropped");
        });
      },
    );
  },
});

Deno.test({
  name: "an engine started with --no-direct is reached through the controller only",
  ...opts,
  async fn() {
    await withConnectedCluster(
      { n: 1, clusterId: "nodirect", engineArgs: ["--no-direct"], client: { timeout: T } },
      async (cluster, client) => {
        const view = client.directView(0);
        for (let i = 0; i < 20; i++) assert.equal(await view.apply((n: number) => n, i).get(T), i);
        assert.deepEqual(client.directIds, []);
        await heldUpByController(cluster.pids.controller!, view, "late");
      },
    );
  },
});
