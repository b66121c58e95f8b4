/**
 * AsyncResult and AsyncMapResult against a real cluster of our controller and two of our
 * JavaScript engines (no Python): `abort()` of a queued task, `successful()`, `progress`,
 * `wallTime`/`serialTime`/`elapsed`, captured `stdout`/`stderr`/`outputs`, published `data`,
 * `displayOutputs()`, and a load-balanced map with `ordered: false` yielding results in the
 * order they complete.
 */

import assert from "node:assert/strict";
import type { AsyncMapResult } from "../../src/client/async_map_result.ts";
import type { Metadata } from "../../src/client/metadata.ts";
import { CompositeError, NotReadyError, TaskAborted } from "../../src/errors.ts";
import { withConnectedCluster } from "../helpers/local_cluster.ts";
import { waitFor } from "./python_cluster.ts";
import { step } from "../helpers/steps.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const T = 20_000; // limit of every remote result: a lost message fails, not hangs
// Engine globals are reached through globalThis (functions travel without closures).
// deno-lint-ignore no-explicit-any
type Any = any;

/** Resolves with `ms` after `ms` milliseconds (runs on an engine: no closure). */
const sleep = (ms: number) => new Promise<number>((r) => setTimeout(() => r(ms), ms));

/** What `fn` writes to this process's stdout and stderr (through `writeSync`). */
function captureOutput(fn: () => void): { stdout: string; stderr: string } {
  const out = { stdout: "", stderr: "" };
  const dec = new TextDecoder();
  const saved = [Deno.stdout.writeSync, Deno.stderr.writeSync];
  Deno.stdout.writeSync = (p: Uint8Array) => (out.stdout += dec.decode(p), p.length);
  Deno.stderr.writeSync = (p: Uint8Array) => (out.stderr += dec.decode(p), p.length);
  try {
    fn();
  } finally {
    [Deno.stdout.writeSync, Deno.stderr.writeSync] = saved;
  }
  return out;
}

/** Iterates an AsyncMapResult, failing if any item takes longer than `ms`. */
async function collect<U>(ar: AsyncMapResult<U>, ms: number): Promise<U[]> {
  const it = ar[Symbol.asyncIterator]();
  const out: U[] = [];
  for (;;) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no item within ${ms} ms`)), ms);
    });
    try {
      const next = await Promise.race([it.next(), timeout]);
      if (next.done) return out;
      out.push(next.value);
    } finally {
      clearTimeout(timer);
    }
  }
}

Deno.test({
  name: "AsyncResult on our controller and two JavaScript engines",
  ...opts,
  async fn(t) {
    await withConnectedCluster(
      { n: 2, clusterId: "arlive", controllerArgs: ["--ping=500"], client: { timeout: T } },
      async (_cluster, client) => {
        const dv = client.directView();

        await step(
          t,
          "abort() of a queued task: TaskAborted, it never runs; the running one finishes",
          async () => {
            const e0 = client.directView(0);
            const running = e0.apply(sleep, 1000);
            const queued = e0.apply(() => {
              (globalThis as Any).queuedRan = true;
              return "ran";
            });
            await queued.abort();
            await assert.rejects(queued.get(T), (e: Error) => {
              assert.ok(e instanceof TaskAborted);
              assert.equal(e.msgId, queued.msgIds[0]);
              return true;
            });
            assert.equal(queued.ready(), true);
            assert.equal(queued.successful(), false);
            assert.equal((queued.metadata as Metadata).status, "aborted");
            assert.equal(await running.get(T), 1000, "the running task was not aborted");
            assert.equal(running.successful(), true);
            await running.abort(); // nothing pending: does nothing
            assert.equal(await running.get(T), 1000);
            assert.equal(
              await e0.apply(() => typeof (globalThis as Any).queuedRan).get(T),
              "undefined",
            );
          },
        );

        await step(
          t,
          "successful(): throws before ready, then tells success from failure",
          async () => {
            const ok = dv.apply(sleep, 300);
            assert.throws(() => ok.successful(), NotReadyError);
            assert.deepEqual(await ok.get(T), [300, 300]);
            assert.equal(ok.successful(), true);
            const mixed = dv.mapAsync((x: number) => {
              if (x === 2) throw new Error("two");
              return x;
            }, [1, 2]);
            await assert.rejects(mixed.get(T), CompositeError);
            assert.equal(mixed.successful(), false, "one engine failed");
          },
        );

        await step(t, "progress counts requests as they settle", async () => {
          const ar = dv.mapAsync(sleep, [0, 1500]);
          assert.equal(ar.length, 2);
          assert.equal(ar.progress, 0);
          await waitFor(() => ar.progress >= 1, T, "the quick chunk");
          assert.equal(ar.progress, 1);
          assert.equal(ar.ready(), false, "the slow chunk is still running");
          assert.deepEqual(await ar.get(T), [0, 1500]);
          assert.equal(ar.progress, 2);
        });

        await step(
          t,
          "wallTime, serialTime, elapsed come from the requests' timestamps",
          async () => {
            const ar = dv.apply(sleep, 300);
            assert.throws(() => ar.wallTime, NotReadyError);
            assert.throws(() => ar.serialTime, NotReadyError);
            assert.ok(ar.elapsed >= 0 && ar.elapsed < 300, `elapsed ${ar.elapsed} while running`);
            assert.deepEqual(await ar.get(T), [300, 300]);
            const mds = ar.metadata as Metadata[];
            const serial = mds.reduce(
              (s, m) => s + (m.completed!.getTime() - m.started!.getTime()),
              0,
            );
            const wall = Math.max(...mds.map((m) => m.received!.getTime())) -
              Math.min(...mds.map((m) => m.submitted!.getTime()));
            assert.equal(ar.serialTime, serial);
            assert.equal(ar.wallTime, wall);
            assert.equal(ar.elapsed, wall, "once ready, elapsed is the wall time");
            assert.ok(ar.serialTime >= 2 * 290, `serialTime ${ar.serialTime}: two 300 ms sleeps`);
            assert.ok(ar.wallTime >= 290, `wallTime ${ar.wallTime}`);
          },
        );

        await step(t, "stdout, stderr, outputs, data, displayOutputs()", async () => {
          const ar = dv.apply(() => {
            const g = globalThis as Any;
            console.log("out", 1);
            console.error("err");
            g.display({ "text/plain": "shown", "text/html": "<b>shown</b>" }, { raw: true });
            g.publishData({ step: 1, label: "first" });
            g.publishData({ step: 2, arr: new Float64Array([1, 2]) });
            return 5;
          });
          assert.throws(() => ar.displayOutputs(), NotReadyError);
          assert.deepEqual(await ar.get(T), [5, 5]);
          assert.deepEqual(ar.stdout, ["out 1\n", "out 1\n"]);
          assert.deepEqual(ar.stderr, ["err\n", "err\n"]);
          const outputs = ar.outputs as { data: Record<string, unknown> }[][];
          assert.deepEqual(outputs.map((o) => o.map((d) => d.data)), [
            [{ "text/plain": "shown", "text/html": "<b>shown</b>" }],
            [{ "text/plain": "shown", "text/html": "<b>shown</b>" }],
          ]);
          // Published data merges, later keys winning; typed arrays come back typed.
          const data = ar.data as Record<string, unknown>[];
          for (const d of data) {
            assert.deepEqual(d, { step: 2, label: "first", arr: new Float64Array([1, 2]) });
          }

          const byType = captureOutput(() => ar.displayOutputs());
          assert.equal(
            byType.stdout,
            "[stdout:0] \nout 1\n[stdout:1] \nout 1\n[output:0] shown\n[output:1] shown\n",
          );
          assert.equal(byType.stderr, "[stderr:0] \nerr\n[stderr:1] \nerr\n");
          const byEngine = captureOutput(() => ar.displayOutputs({ groupby: "engine" }));
          assert.equal(
            byEngine.stdout,
            "[stdout:0] \nout 1\n[output:0] shown\n[stdout:1] \nout 1\n[output:1] shown\n",
          );
          assert.throws(
            () => ar.displayOutputs({ groupby: "nope" as "type" }),
            RangeError,
          );

          const single = client.directView(1).execute("console.log('single'); 6 * 7", {
            silent: false,
          });
          await single.get(T);
          assert.equal(single.stdout, "single\n");
          const shown = captureOutput(() => single.displayOutputs());
          assert.match(shown.stdout, /^single\nOut\[1:\d+\]: 42\n$/);
          assert.equal(shown.stderr, "");
        });

        await step(
          t,
          "load-balanced mapWith ordered: false yields items as they complete",
          async () => {
            const lv = client.loadBalancedView();
            const durations = [800, 0, 200, 400];
            const ar = lv.mapWith<number>(sleep, [durations], { ordered: false });
            assert.equal(ar.ordered, false);
            const got = await collect(ar, T);
            assert.deepEqual([...got].sort((a, b) => a - b), [0, 200, 400, 800]);
            const mds = ar.metadata as Metadata[];
            const byCompletion = [...durations.keys()]
              .sort((a, b) => mds[a].received!.getTime() - mds[b].received!.getTime())
              .map((i) => durations[i]);
            assert.deepEqual(got, byCompletion, "iteration follows completion");
            assert.notEqual(got[0], 800, "the slow first item does not hold up the others");
            assert.notDeepEqual(got, durations);
            assert.deepEqual(await ar.get(T), durations, "get() keeps submission order");

            const ordered = lv.mapWith<number>(sleep, [[300, 0]]);
            assert.deepEqual(
              await collect(ordered, T),
              [300, 0],
              "ordered (default): as submitted",
            );
          },
        );
      },
    );
  },
});
