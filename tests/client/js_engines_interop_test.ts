/**
 * The Client and views driving our JavaScript engines (`ipp engine`) through the Python
 * `ipcontroller` and through ours (each scenario once per controller, named in the test
 * name): JavaScript functions and code, typed arrays, push/pull/scatter/gather,
 * maps, imports, abort, broadcast, restart and shutdown — the ipp-js paths end to end.
 */

import assert from "node:assert/strict";
import { Client, Reference } from "../../src/client/client.ts";
import type { ExecuteReply } from "../../src/client/execute_reply.ts";
import { RemoteError, TaskAborted } from "../../src/errors.ts";
import { needsPython } from "../helpers/interop.ts";
import { CONTROLLERS, PythonCluster, waitFor, waitForFreshEngine } from "./python_cluster.ts";
import { step } from "../helpers/steps.ts";

const ignore = needsPython("ipyparallel");
const opts = { sanitizeOps: false, sanitizeResources: false };
// Functions travel as source, without their closures: name engine globals through globalThis.
// deno-lint-ignore no-explicit-any
type Any = any;

for (const { kind, label } of CONTROLLERS) {
  Deno.test({
    name: `views drive our JavaScript engines through the controller ${label}`,
    ignore,
    ...opts,
    async fn(t) {
      await using cluster = await PythonCluster.start({
        controller: kind,
        engines: 0,
        jsEngines: 2,
      });
      await using client = await Client.connect({ ...cluster.connectOptions, timeout: 20_000 });
      await cluster.waitForEngines(client, 2, 60_000);
      const dv = client.directView();

      await step(t, "apply JavaScript functions: values, typed arrays, async, errors", async () => {
        assert.deepEqual(await dv.apply((a: number, b: number) => a + b, 1, 2), [3, 3]);
        const doubled = await client.engine(0).apply(
          (xs: Float64Array) => xs.map((x) => 2 * x),
          new Float64Array([1, 2, 3]),
        );
        assert.deepEqual(doubled, new Float64Array([2, 4, 6]));
        assert.equal(
          await client.engine(1).apply(async (ms: number) => {
            await new Promise((r) => setTimeout(r, ms));
            return "slept";
          }, 10),
          "slept",
        );
        await assert.rejects(
          client.engine(0).apply(() => (globalThis as Any).nope.x).get(),
          (e: Error) => {
            assert.ok(e instanceof RemoteError);
            assert.equal(e.ename, "TypeError");
            return true;
          },
        );
      });

      await step(t, "execute JavaScript: output, execute_result, px", async () => {
        const ar = dv.execute("console.log('hi'); const k = 6 * 7; k", { silent: false });
        const replies = (await ar) as ExecuteReply[];
        assert.deepEqual(replies.map((r) => r.text), ["42", "42"]);
        assert.deepEqual(ar.stdout, ["hi\n", "hi\n"]);
        const one = (await client.engine(1).px`k + 1`) as ExecuteReply;
        assert.equal(one.text, "43");
        // activate(targets, suffix) installs px<suffix> and pxresult<suffix> as globals.
        const g = globalThis as Record<string, unknown>;
        try {
          client.activate([0], "0");
          const px0 = g.px0 as (s: TemplateStringsArray, ...v: unknown[]) => Promise<unknown>;
          const viaGlobal = (await px0`k * 2`) as ExecuteReply[];
          assert.deepEqual(viaGlobal.map((r) => r.text), ["84"]);
          assert.equal(typeof g.pxresult0, "function");
        } finally {
          delete g.px0;
          delete g.pxresult0;
        }
      });

      await step(t, "push, pull, scatter, gather, Reference arguments", async () => {
        await dv.push({ a: 5, arr: new Int32Array([1, 2, 3]) });
        assert.deepEqual(await dv.pull("a"), [5, 5]);
        assert.deepEqual(await client.engine(0).pull(["a", "arr"]), [5, new Int32Array([1, 2, 3])]);
        await dv.scatter("part", [1, 2, 3, 4, 5]);
        assert.deepEqual(await dv.pull("part"), [[1, 2, 3], [4, 5]]);
        assert.deepEqual(await dv.gather("part"), [1, 2, 3, 4, 5]);
        await dv.execute("function triple(x) { return 3 * x; }");
        assert.deepEqual(await dv.apply(new Reference("triple"), 4), [12, 12]);
        assert.deepEqual(
          await dv.apply((f: (x: number) => number, x: number) => f(x), new Reference("triple"), 2),
          [6, 6],
        );
      });

      await step(t, "map on direct and load-balanced views, imap, parallel", async () => {
        assert.deepEqual(await dv.map((x: number) => x * x, [1, 2, 3, 4, 5]), [1, 4, 9, 16, 25]);
        assert.deepEqual(
          await dv.map((x: number, y: number) => x + y, [1, 2, 3], [10, 20, 30]),
          [11, 22, 33],
        );
        assert.deepEqual(await dv.map(new Reference("triple"), [1, 2]), [3, 6]);
        const lv = client.loadBalancedView();
        assert.deepEqual(
          await lv.mapWith((x: number) => Promise.resolve(x + 1), [[1, 2, 3, 4, 5]], {
            chunksize: 2,
          }),
          [2, 3, 4, 5, 6],
        );
        const got: number[] = [];
        for await (
          const v of lv.imap<number>((x: number) => -x, [1, 2, 3, 4], {
            maxOutstanding: 1,
            ordered: false,
          })
        ) got.push(v);
        assert.deepEqual(got.sort((a, b) => a - b), [-4, -3, -2, -1]);
        const half = dv.parallel((x: number) => x / 2, { block: true });
        assert.deepEqual(await half.map([2, 4, 6]), [1, 2, 3]);
        const pid = client.engine(0).remote(() => Deno.pid);
        assert.equal(typeof (await pid.call()), "number");
      });

      await step(t, "importModules imports on every engine", async () => {
        await dv.importModules({ nodePath: "node:path" });
        assert.deepEqual(await dv.apply(() => (globalThis as Any).nodePath.join("a", "b")), [
          "a/b",
          "a/b",
        ]);
      });

      await step(t, "abort a queued request on a JavaScript engine", async () => {
        const e0 = client.engine(0);
        const slow = e0.execute("await new Promise((r) => setTimeout(r, 800))");
        const queued = e0.apply(() => 1);
        await client.abort(queued, { targets: 0, block: true });
        await assert.rejects(queued.get(10_000), TaskAborted);
        await slow;
      });

      await step(t, "broadcast apply and execute, coalescing too", async () => {
        const bv = client.broadcastView();
        assert.deepEqual(await bv.apply((x: number) => x + 1, 1), [2, 2]);
        const ex = bv.execute("console.log('b')", { silent: false });
        await ex;
        assert.deepEqual(ex.stdout, ["b\n", "b\n"]);
        const cv = client.broadcastView([0, 1], { coalescing: true });
        assert.deepEqual(await cv.apply(() => "c"), ["c", "c"]);
      });

      await step(
        t,
        "shutdown with restart: engine 1 comes back with a fresh namespace",
        async () => {
          await dv.execute("globalThis.kept = 1");
          await client.shutdown({ targets: 1, restart: true, block: true });
          const kept = (id: number) =>
            client.directView(id).apply(() => typeof (globalThis as Any).kept).get(5_000);
          await waitForFreshEngine(client, 1, "kept");
          assert.deepEqual(client.ids, [0, 1]);
          assert.equal(await kept(0), "number");
        },
      );

      await step(t, "clear, then shutdown one engine", async () => {
        await client.clear(undefined, { block: true });
        await assert.rejects(client.engine(0).pull("a").get(), RemoteError);
        await client.shutdown({ targets: 1, block: true });
        await waitFor(() => client.ids.length === 1, 15_000, "engine 1 to leave");
        assert.deepEqual(await dv.apply(() => 1), [1]);
      });
    },
  });
}
