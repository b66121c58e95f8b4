/**
 * DirectView's methods against a real cluster of our controller and two of our JavaScript
 * engines (no Python): `run` (a local file's code), `applySync` (the value), `applyAsync`
 * (the AsyncResult), `mapAsync`/`mapSync` (one contiguous chunk per engine) and the
 * view-level `clear`.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { AsyncMapResult } from "../../src/client/async_map_result.ts";
import { AsyncResult } from "../../src/client/async_result.ts";
import type { ExecuteReply } from "../../src/client/execute_reply.ts";
import type { Metadata } from "../../src/client/metadata.ts";
import { CompositeError, RemoteError } from "../../src/errors.ts";
import { withConnectedCluster } from "../helpers/local_cluster.ts";
import { step } from "../helpers/steps.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
const T = 20_000; // limit of every remote result: a lost message fails, not hangs
// Engine globals are reached through globalThis (functions travel without closures).
// deno-lint-ignore no-explicit-any
type Any = any;

Deno.test({
  name: "DirectView on our controller and two JavaScript engines: run, apply*, map*, clear",
  ...opts,
  async fn(t) {
    await withConnectedCluster(
      { n: 2, clusterId: "dvlive", controllerArgs: ["--ping=500"], client: { timeout: T } },
      async (_cluster, client, dir) => {
        const dv = client.directView();
        const pids: number[] = await dv.apply(() => Deno.pid).get(T);
        assert.equal(pids.length, 2);

        await step(
          t,
          "run sends a file's code (TypeScript too) and waits for the replies",
          async () => {
            const file = join(dir, "job.ts");
            await Deno.writeTextFile(
              file,
              [
                "const half: number = 21;",
                "(globalThis as any).fromFile = half * 2;",
                "console.log('ran job.ts');",
                "(globalThis as any).fromFile",
              ].join("\n"),
            );
            const replies = (await dv.run(file, { silent: false })) as ExecuteReply[];
            assert.ok(Array.isArray(replies), "run gives the value, not an AsyncResult");
            assert.deepEqual(replies.map((r) => r.text), ["42", "42"]);
            assert.deepEqual(replies.map((r) => r.metadata.engineId), [0, 1]);
            assert.deepEqual(replies.map((r) => r.metadata.stdout), [
              "ran job.ts\n",
              "ran job.ts\n",
            ]);
            assert.deepEqual(await dv.pull("fromFile").get(T), [42, 42]);
            // One engine: one reply; silent by default (no execute_result).
            const one = (await client.directView(1).run(file)) as ExecuteReply;
            assert.equal(one.metadata.engineId, 1);
            assert.equal(one.text, "");

            const failing = join(dir, "fails.js");
            await Deno.writeTextFile(failing, "throw new TypeError('from the file')");
            await assert.rejects(dv.run(failing), (e: Error) => {
              assert.ok(e instanceof CompositeError);
              assert.deepEqual(e.errors.map((r) => [r.ename, r.evalue]), [
                ["TypeError", "from the file"],
                ["TypeError", "from the file"],
              ]);
              return true;
            });
            await assert.rejects(dv.run(join(dir, "missing.js")), Deno.errors.NotFound);
          },
        );

        await step(t, "applySync gives the value; applyAsync the AsyncResult", async () => {
          const value = await dv.applySync((a: number, b: number) => a + b, 1, 2);
          assert.deepEqual(value, [3, 3]);
          assert.equal(await client.directView(0).applySync(() => Deno.pid), pids[0]);
          await assert.rejects(
            dv.applySync(() => {
              throw new Error("boom");
            }),
            (e: Error) => e instanceof CompositeError && e.errors.length === 2,
          );
          await assert.rejects(
            client.directView(1).applySync(() => (globalThis as Any).nope.x),
            (e: Error) => e instanceof RemoteError && e.ename === "TypeError",
          );

          const ar = dv.applyAsync(async (ms: number) => {
            await new Promise((r) => setTimeout(r, ms));
            return Deno.pid;
          }, 300);
          assert.ok(ar instanceof AsyncResult);
          assert.equal(ar.msgIds.length, 2);
          assert.equal(ar.ready(), false, "returned before the engines answered");
          assert.deepEqual(await ar.get(T), pids);
          assert.deepEqual((ar.metadata as Metadata[]).map((m) => m.engineId), [0, 1]);
          assert.ok(dv.apply(() => 1) instanceof AsyncResult, "apply is applyAsync");
          await client.wait(undefined, T);
        });

        await step(
          t,
          "mapAsync sends one contiguous chunk per engine; mapSync the list",
          async () => {
            const ar = dv.mapAsync((x: number) => [x * x, Deno.pid], [1, 2, 3, 4, 5]);
            assert.ok(ar instanceof AsyncMapResult);
            assert.equal(ar.msgIds.length, 2, "one request per engine");
            const got = (await ar.get(T)) as [number, number][];
            assert.deepEqual(got.map(([sq]) => sq), [1, 4, 9, 16, 25]);
            assert.deepEqual(got.map(([, pid]) => pid), [
              pids[0],
              pids[0],
              pids[0],
              pids[1],
              pids[1],
            ]);
            assert.deepEqual(
              await dv.mapSync((a: number, b: string) => `${b}${a}`, [1, 2, 3], ["x", "y"]),
              ["x1", "y2"],
            );
            const short = dv.mapAsync((x: number) => x + 1, [7]);
            assert.equal(short.msgIds.length, 1, "no request for an empty chunk");
            assert.deepEqual(await short.get(T), [8]);
            assert.deepEqual(await dv.mapAsync((x: number) => x, []).get(T), []);
          },
        );

        await step(t, "view-level clear empties only the view's engines", async () => {
          const probe = () => typeof (globalThis as Any).kept;
          await dv.execute("globalThis.kept = 1").get(T);
          assert.deepEqual(await dv.apply(probe).get(T), ["number", "number"]);
          const e0 = client.directView(0);
          e0.block = true;
          await e0.clear();
          assert.deepEqual(await dv.apply(probe).get(T), ["undefined", "number"]);
          await assert.rejects(client.directView(0).pull("kept").get(T), RemoteError);
          assert.equal(await client.directView(1).pull("kept").get(T), 1);
          // `targets` overrides the view's; `block` per call.
          await dv.execute("globalThis.kept = 2").get(T);
          await e0.clear({ targets: 1, block: true });
          assert.deepEqual(await dv.apply(probe).get(T), ["number", "undefined"]);
          await dv.clear({ block: true });
          assert.deepEqual(await dv.apply(probe).get(T), ["undefined", "undefined"]);
        });
      },
    );
  },
});
