/**
 * The kernel's `apply`, push and pull through the production path and the client API: our
 * controller and one of our JavaScript engines started by `Cluster` (no Python needed), its
 * kernel worker serving the shell itself (`src/engine/kernel/serve.ts`): arguments and
 * keyword arguments, async functions, `Reference`s, closures over engine globals, typed
 * arrays both ways, remote errors with their frames, push/pull of names and expressions,
 * and the output, displays and data a request produces. One cluster serves every step.
 */

import assert from "node:assert/strict";
import { type Client, Reference } from "../../src/client/client.ts";
import { RemoteError } from "../../src/errors.ts";
import { withLocalCluster } from "../helpers/local_cluster.ts";

const opts = { sanitizeOps: false, sanitizeResources: false };
// Functions travel as source, without their closures: their free names are engine globals.
declare const base: number;

/** The RemoteError `p` rejects with. */
async function remoteError(p: PromiseLike<unknown>): Promise<RemoteError> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof RemoteError, String(e));
    return e;
  }
  return assert.fail("expected a RemoteError");
}

Deno.test({
  name: "kernel apply on a real engine through the client: calls, values, errors, push/pull",
  ...opts,
  async fn(t) {
    await withLocalCluster({ n: 1, clusterId: "kernel" }, async (cluster) => {
      await cluster.start();
      const client: Client = await cluster.connect({ timeout: 20_000 });
      await cluster.waitForEngines(client, 1);
      const e0 = client.engine(0);

      await t.step("positional arguments, then keyword arguments as one object", async () => {
        const f = (a: number, b: number, kw?: { scale: number }) => (a + b) * (kw?.scale ?? 1);
        assert.equal(await e0.apply(f, 1, 2), 3);
        assert.equal(await e0.applyKw(f, [1, 2], { scale: 10 }), 30);
        const twice = async function twice(x: number) {
          await new Promise((r) => setTimeout(r, 1));
          return x * 2;
        };
        assert.equal(await e0.apply(twice, 21), 42);
      });

      await t.step("References name namespace values, as function and as argument", async () => {
        await e0.execute("function inc(x) { return x + 1 }\nconst base = 41");
        assert.equal(await e0.apply(new Reference("inc"), new Reference("base")), 42);
        assert.equal(await e0.apply(new Reference("Math.max"), 3, 9, 4), 9);
        // A function's free variables are the namespace's globals.
        assert.equal(await e0.apply(() => base + 1), 42);
      });

      await t.step("typed arrays travel in and out as binary frames", async () => {
        const double = (a: Float64Array) => a.map((x) => x * 2);
        const data = new Float64Array([1.5, 2.5, 3]);
        assert.deepEqual(await e0.apply(double, data), new Float64Array([3, 5, 6]));
        assert.deepEqual(data, new Float64Array([1.5, 2.5, 3]), "the caller's array is intact");
        const big = new Float64Array(1 << 15).fill(1);
        const back = await e0.apply(double, big) as Float64Array;
        assert.ok(back instanceof Float64Array);
        assert.deepEqual([back.length, back[0], back[back.length - 1]], [1 << 15, 2, 2]);
        const bytes = await e0.apply((n: number) => new Uint8Array(n).fill(7), 300_000);
        assert.ok(bytes instanceof Uint8Array && bytes.length === 300_000 && bytes[299_999] === 7);
      });

      await t.step("a thrown error arrives with its name, message and frames", async () => {
        const e = await remoteError(e0.apply(function boom() {
          throw new TypeError("no good");
        }));
        assert.equal(e.ename, "TypeError");
        assert.equal(e.evalue, "no good");
        assert.equal(e.traceback[0], "TypeError: no good");
        assert.match(e.traceback[1], /at boom \(fn-\d+:/);
        const missing = await remoteError(e0.apply(new Reference("nothere")));
        assert.equal(missing.ename, "ReferenceError");
        const failed = await remoteError(e0.execute("null.x"));
        assert.equal(failed.ename, "TypeError");
        assert.equal(await e0.apply(() => "alive"), "alive");
      });

      await t.step("push and pull names, lists of names and expressions", async () => {
        assert.equal(await e0.push({ a: 5, arr: new Int32Array([7, 8]) }), undefined);
        assert.equal(await e0.apply(() => (globalThis as unknown as { a: number }).a), 5);
        assert.equal(await e0.pull("a"), 5);
        assert.deepEqual(await e0.pull(["a", "arr", "a * 2 + arr[1]"]), [
          5,
          new Int32Array([7, 8]),
          18,
        ]);
        await assert.rejects(e0.pull("notDefined").get(), /notDefined is not defined/);
        // The push/pull helpers are not user names.
        assert.deepEqual(
          await e0.apply(() => Object.keys(globalThis).filter((n) => n.startsWith("__ipp"))),
          [],
        );
      });

      await t.step(
        "output, displays, data and the result of a request reach the client",
        async () => {
          const ap = e0.apply(() => {
            console.log("from apply");
            console.error("on stderr");
            return 1;
          });
          assert.equal(await ap, 1);
          assert.equal(ap.stdout, "from apply\n");
          assert.equal(ap.stderr, "on stderr\n");
          const ex = e0.execute(
            "display({ k: 1 }); display({ 'text/html': '<i>x</i>' }, { raw: true });\n" +
              "publishData({ n: 3 }); console.log('printed'); 6 * 7",
            { silent: false },
          );
          await ex;
          assert.equal(ex.stdout, "printed\n");
          assert.deepEqual((ex.outputs as { data: unknown }[]).map((o) => o.data), [
            { "text/plain": "{ k: 1 }" },
            { "text/html": "<i>x</i>" },
          ]);
          assert.deepEqual(ex.data, { n: 3 });
          assert.deepEqual((ex.executeResult as { data: unknown }).data, { "text/plain": "42" });
        },
      );

      await t.step("clear empties the namespace; the engine keeps serving", async () => {
        await e0.push({ doomed: 1 });
        await client.clear(undefined, { block: true });
        assert.equal(
          await e0.apply(() => typeof (globalThis as Record<string, unknown>).doomed),
          "undefined",
        );
        await assert.rejects(e0.pull("a").get(), /a is not defined/);
        assert.equal(await e0.apply((x: number) => x + 1, 1), 2);
      });
    });
  },
});
