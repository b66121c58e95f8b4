/**
 * Gathered parts received straight into the joined array (`gather_placement.ts`): the placement
 * rules on frames as they arrive, then `gather` against a real local cluster (our controller and
 * two of our engines, on the direct path), whose parts share the joined array's memory when
 * placed and are joined by copying when they cannot be: a part of another kind, an engine busy
 * for longer than the wait, an error.
 */

import assert from "node:assert/strict";
import { GATHER_WAIT_MS, GatherPlacement, PLACE_MIN } from "../../src/client/gather_placement.ts";
import { withConnectedCluster } from "../helpers/local_cluster.ts";
import { step } from "../helpers/steps.ts";
import { waitFor } from "./python_cluster.ts";

const te = new TextEncoder();
const T = 20_000;

/** A reply's frames up to its parent header, as the ROUTER has them when a large frame starts. */
function replyHead(parentId: string): Uint8Array[] {
  return [
    te.encode("engine-uuid"),
    te.encode("<IDS|MSG>"),
    te.encode("0123abcd"),
    te.encode('{"msg_id":"r","msg_type":"apply_reply"}'),
    te.encode(JSON.stringify({ msg_id: parentId, msg_type: "apply_request" })),
    te.encode("{}"),
    te.encode('{"status":"ok"}'),
  ];
}

Deno.test("GatherPlacement: parts side by side once every size is known, in request order", async () => {
  const p = new GatherPlacement();
  p.add(["m0", "m1", "m2"]);
  const second = p.place(replyHead("m1"), PLACE_MIN + 8);
  const third = p.place(replyHead("m2"), PLACE_MIN);
  assert.ok(second instanceof Promise && third instanceof Promise, "the first parts wait");
  const first = p.place(replyHead("m0"), 2 * PLACE_MIN);
  assert.ok(first instanceof Uint8Array);
  const [a, b, c] = [first, await second, await third] as Uint8Array[];
  assert.equal(a.byteOffset, 0);
  assert.equal(b.byteOffset, 2 * PLACE_MIN);
  assert.equal(c.byteOffset, 3 * PLACE_MIN + 8);
  assert.deepEqual([a.length, b.length, c.length], [2 * PLACE_MIN, PLACE_MIN + 8, PLACE_MIN]);
  assert.ok(a.buffer === b.buffer && b.buffer === c.buffer);
  assert.equal(a.buffer.byteLength, 4 * PLACE_MIN + 8);
  for (const id of ["m0", "m1", "m2"]) p.replied(id);
  assert.equal(p.size, 0);
});

Deno.test("GatherPlacement: anything off the plan gives the parts arrays of their own", async () => {
  const p = new GatherPlacement();
  // Not one of ours, too small, a single request: not placed.
  assert.equal(p.place(replyHead("other"), PLACE_MIN), undefined);
  p.add(["solo"]);
  assert.equal(p.size, 0);
  p.add(["s0", "s1"]);
  assert.equal(p.place(replyHead("s0"), PLACE_MIN - 1), undefined);
  // A reply without a large frame: the waiting part is let go.
  const waits = p.place(replyHead("s1"), PLACE_MIN);
  p.replied("s0");
  assert.equal(await waits, undefined);
  p.replied("s1");

  p.add(["t0", "t1"]);
  const first = p.place(replyHead("t0"), PLACE_MIN);
  // A second large frame in one reply, as for a pulled object holding two arrays.
  assert.equal(p.place(replyHead("t0"), PLACE_MIN), undefined);
  assert.equal(await first, undefined);
  assert.equal(p.place(replyHead("t1"), PLACE_MIN), undefined);
  p.drop(["t0", "t1"]);

  // A part that does not start in time.
  p.add(["u0", "u1"]);
  const t0 = Date.now();
  assert.equal(await p.place(replyHead("u0"), PLACE_MIN), undefined);
  assert.ok(Date.now() - t0 >= GATHER_WAIT_MS - 5);
  p.dropAll();
  assert.equal(p.size, 0);
});

Deno.test({
  name: "gather: large parts land in the joined array; off the plan they are joined by copying",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    await withConnectedCluster(
      { n: 2, clusterId: "gatherp", client: { timeout: T } },
      async (_, client) => {
        const view = client.directView();
        await waitFor(
          async () => {
            await view.apply(() => 0);
            return client.directIds.length === 2;
          },
          T,
          "both engines reached straight",
        );
        const n = 600_000; // 2.4 MB per part
        const data = new Float64Array(n).map((_, i) => i * 0.5);

        await step(t, "typed parts share one array with the result", async () => {
          await view.scatter("part", data).get(T);
          const ar = view.gather("part");
          const joined = await ar.get(T) as unknown as Float64Array;
          assert.ok(joined instanceof Float64Array);
          assert.deepEqual(joined, data);
          const parts: unknown[] = [];
          for await (const part of ar) parts.push(part);
          assert.equal(parts.length, 2);
          for (const part of parts) {
            assert.ok(part instanceof Float64Array);
            assert.equal(part.buffer, joined.buffer, "the part was received in place");
          }
        });

        await step(t, "a part that is a list: joined by copying", async () => {
          await client.directView(1).execute("globalThis.part = [1, 2, 3]").get(T);
          const joined = await view.gather("part").get(T) as unknown as Float64Array;
          assert.ok(joined instanceof Float64Array);
          assert.equal(joined.length, n / 2 + 3);
          assert.deepEqual(joined.subarray(0, n / 2), data.subarray(0, n / 2));
          assert.deepEqual([...joined.subarray(n / 2)], [1, 2, 3]);
        });

        await step(t, "an engine busy for longer than the wait: joined by copying", async () => {
          await view.scatter("part", data).get(T);
          const busy = client.directView(1).apply(() => {
            const end = Date.now() + 3 * 100;
            while (Date.now() < end) { /* hold the engine */ }
            return 1;
          });
          const ar = view.gather("part");
          const joined = await ar.get(T) as unknown as Float64Array;
          assert.deepEqual(joined, data);
          for await (const part of ar) {
            assert.notEqual((part as unknown as Float64Array).buffer, joined.buffer);
          }
          assert.equal(await busy.get(T), 1);
        });

        await step(
          t,
          "an error on one engine fails the gather, and the other engine goes on",
          async () => {
            await client.directView(1).execute("delete globalThis.part").get(T);
            await assert.rejects(view.gather("part").get(T));
            assert.equal(await client.directView(0).apply(() => 5).get(T), 5);
            const ar = client.directView(0).pull("part");
            assert.equal((await ar.get(T) as Float64Array).length, n / 2);
          },
        );
      },
    );
  },
});
