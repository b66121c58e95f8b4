/**
 * The views against the real Python `ipcontroller` and against ours (each scenario once per
 * controller, named in the test name), with two Python `ipengine`s: direct
 * (execute, apply, push/pull, scatter/gather, map, imports), load-balanced (flags, retries,
 * dependencies, time-outs, map, imap) and broadcast (execute, apply, coalescing).
 */

import assert from "node:assert/strict";
import { Client, Reference } from "../../src/client/client.ts";
import type { ExecuteReply } from "../../src/client/execute_reply.ts";
import {
  CompositeError,
  InvalidOptionError,
  IppError,
  RemoteError,
  TaskTimeout,
} from "../../src/errors.ts";
import { needsPython } from "../helpers/interop.ts";
import { CONTROLLERS, PythonCluster } from "./python_cluster.ts";
import { step } from "../helpers/steps.ts";

const ignore = needsPython("ipyparallel");
const opts = { sanitizeOps: false, sanitizeResources: false };

function remoteName(e: unknown): string {
  if (e instanceof RemoteError) return e.ename;
  if (e instanceof Error && e.cause instanceof RemoteError) return e.cause.ename;
  return String(e);
}

for (const { kind, label } of CONTROLLERS) {
  Deno.test({
    name: `views drive Python engines through the controller ${label}`,
    ignore,
    ...opts,
    async fn(t) {
      await using cluster = await PythonCluster.start({ controller: kind, engines: 2 });
      await using client = await Client.connect({ ...cluster.connectOptions, timeout: 20_000 });
      await cluster.waitForEngines(client, 2, 30_000);
      const dv = client.directView();
      dv.serializer = "pickle";
      await dv.execute(
        "import time, os\n" +
          "def fail():\n    raise ValueError('always')\n" +
          "def slow(t):\n    time.sleep(t)\n    return os.getpid()\n",
      );

      await step(t, "DirectView: push, pull, scatter, gather, map with pickles", async () => {
        await dv.push({ a: 5, b: [1, 2] });
        assert.deepEqual(await dv.pull("a"), [5, 5]);
        assert.deepEqual(await dv.pull(["a", "b"]), [[5, [1, 2]], [5, [1, 2]]]);
        const e1 = client.engine(1);
        assert.equal(await e1.tempFlags({ serializer: "pickle" }, () => e1.pull("a * 2")), 10);
        assert.equal(e1.serializer, "js");
        await dv.scatter("part", [1, 2, 3, 4, 5]);
        assert.deepEqual(await dv.pull("part"), [[1, 2, 3], [4, 5]]);
        assert.deepEqual(await dv.gather("part"), [1, 2, 3, 4, 5]);
        assert.deepEqual(await dv.map(new Reference("lambda x: x * 10"), [1, 2, 3]), [10, 20, 30]);
        assert.deepEqual(
          await dv.mapSync(new Reference("lambda x, y: x + y"), [1, 2, 3], [10, 20, 30]),
          [11, 22, 33],
        );
        await dv.importModules({ m: "math" });
        assert.deepEqual(await dv.apply(new Reference("lambda: m.sqrt(16)")), [4, 4]);
      });

      await step(t, "DirectView: execute output, px, remote and parallel functions", async () => {
        const ar = dv.execute("print('out', 1)\n'val'", { silent: false });
        const replies = (await ar) as ExecuteReply[];
        assert.deepEqual(ar.stdout, ["out 1\n", "out 1\n"]);
        assert.deepEqual(replies.map((r) => r.text), ["'val'", "'val'"]);
        const px = (await client.engine(0).px`21 * 2`) as ExecuteReply;
        assert.equal(px.text, "42");
        await assert.rejects(client.engine(0).px`undefined_name`, RemoteError);
        const e0 = client.engine(0);
        e0.serializer = "pickle";
        const len = e0.remote(new Reference("len"), { block: true });
        assert.equal(await len.call("abc"), 3);
        const double = dv.parallel(new Reference("lambda x: 2 * x"));
        assert.deepEqual(await double.map([1, 2, 3]), [2, 4, 6]);
        assert.throws(() => dv.setFlags({ colour: "red" }), InvalidOptionError);
        assert.throws(() => dv.setFlags({ serializer: "xml" as "js" }), InvalidOptionError);
        const e9 = dv.tempFlags({ targets: 1 }, () => dv.engineIds);
        assert.deepEqual(await e9, [1]);
        assert.equal(dv.targets, "all");
      });

      await step(t, "DirectView: errors from several engines make a CompositeError", async () => {
        await assert.rejects(dv.apply(new Reference("fail")).get(), (e: Error) => {
          assert.ok(e instanceof CompositeError);
          assert.equal(e.errors.length, 2);
          assert.equal(e.errors[0].ename, "ValueError");
          return true;
        });
      });

      const lv = client.loadBalancedView();
      lv.serializer = "pickle";

      await step(t, "LoadBalancedView: apply, targets, map with chunksize, imap", async () => {
        assert.equal(await lv.apply(new Reference("len"), [1, 2]), 2);
        const on1 = lv.applyWith(new Reference("len"), [[1]], { targets: 1 });
        await on1;
        assert.equal((on1.metadata as { engineId: number }).engineId, 1);
        const squares = lv.mapWith(new Reference("lambda x: x * x"), [[1, 2, 3, 4, 5]], {
          chunksize: 2,
        });
        assert.equal(squares.length, 3);
        assert.deepEqual(await squares, [1, 4, 9, 16, 25]);
        const seen: number[] = [];
        for await (
          const v of lv.imap<number>(new Reference("lambda x: x + 1"), [1, 2, 3, 4, 5, 6, 7], {
            maxOutstanding: 2,
            chunksize: 2,
          })
        ) seen.push(v);
        assert.deepEqual(seen, [2, 3, 4, 5, 6, 7, 8]);
        const unordered: number[] = [];
        for await (
          const v of lv.imap<number>(new Reference("lambda x: x"), [3, 1, 2], { ordered: false })
        ) unordered.push(v);
        assert.deepEqual(unordered.sort(), [1, 2, 3]);
      });

      await step(t, "LoadBalancedView: retries re-run a failing task elsewhere", async () => {
        const ar = lv.applyWith(new Reference("fail"), [], { retries: 1 });
        await assert.rejects(ar.get(), (e: Error) => remoteName(e) === "ValueError");
      });

      await step(t, "LoadBalancedView: after and follow dependencies", async () => {
        const slow = lv.apply(new Reference("slow"), 0.3);
        const after = lv.applyWith(new Reference("time.time"), [], { after: slow });
        const follow = lv.applyWith(new Reference("os.getpid"), [], { follow: slow });
        const pid = await slow;
        assert.equal(await follow, pid);
        const md = slow.metadata as { completed: Date };
        assert.ok((await after) * 1000 >= md.completed.getTime() - 50);
        // A dependency the scheduler never saw is invalid.
        await assert.rejects(
          lv.applyWith(new Reference("len"), [[]], { after: "no-such-msg-id" }).get(),
          (e: Error) => remoteName(e) === "InvalidDependency",
        );
        // Depending on the success of a task that failed can never be met.
        const failed = lv.apply(new Reference("fail"));
        await assert.rejects(failed.get());
        await assert.rejects(
          lv.applyWith(new Reference("len"), [[]], { after: failed }).get(),
          (e: Error) => remoteName(e) === "ImpossibleDependency",
        );
      });

      await step(t, "LoadBalancedView: timeout fails a task waiting in the queue", async () => {
        const slow = lv.apply(new Reference("slow"), 1.5);
        const waiting = lv.applyWith(new Reference("len"), [[]], { after: slow, timeout: 200 });
        await assert.rejects(waiting.get(), TaskTimeout);
        await slow;
        assert.throws(
          () => lv.applyWith(new Reference("len"), [[]], { timeout: -1 }),
          InvalidOptionError,
        );
      });

      await step(t, "BroadcastView: execute and apply, with and without coalescing", async () => {
        const bv = client.broadcastView();
        bv.serializer = "pickle";
        const ex = bv.execute("print('bcast')\n7", { silent: false });
        const replies = (await ex) as ExecuteReply[];
        assert.equal(replies.length, 2);
        assert.deepEqual(ex.stdout, ["bcast\n", "bcast\n"]);
        assert.deepEqual(await bv.apply(new Reference("len"), [1, 2, 3]), [3, 3]);
        const md = bv.apply(new Reference("len"), [1]);
        await md;
        assert.ok((md.metadata as { isBroadcast: boolean }[]).every((m) => m.isBroadcast));
        const cv = client.broadcastView("all", { coalescing: true });
        cv.serializer = "pickle";
        const co = cv.apply(new Reference("len"), [1, 2]);
        assert.deepEqual(await co, [2, 2]);
        const cmd = co.metadata as { isCoalescing: boolean; engineId: number[] };
        assert.equal(cmd.isCoalescing, true);
        assert.deepEqual(cmd.engineId, [0, 1]);
        assert.throws(() => bv.map(new Reference("len"), [[1]]), IppError);
      });

      await step(t, "queueStatus through views; abort through a view", async () => {
        const q = await client.engine(0).queueStatus();
        assert.equal(typeof (q as { completed: number }).completed, "number");
        const e0 = client.engine(0);
        e0.serializer = "pickle";
        const slow = e0.apply(new Reference("slow"), 0.5);
        const queued = e0.apply(new Reference("len"), [1]);
        await e0.abort(queued, { block: true });
        await assert.rejects(queued.get(), /aborted/);
        await slow;
      });
    },
  });
}
