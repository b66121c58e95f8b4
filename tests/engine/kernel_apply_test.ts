import assert from "node:assert/strict";
import { Kernel } from "../../src/engine/kernel/mod.ts";
import type { ApplyReply, KernelEvent } from "../../src/engine/kernel/mod.ts";
import {
  deserializeResult,
  detectFormat,
  packApplyMessage,
  Reference,
} from "../../src/protocol/serialize.ts";
import { packApplyPickle } from "../../src/protocol/pickle.ts";

async function withKernel(fn: (k: Kernel, events: KernelEvent[]) => Promise<void>): Promise<void> {
  const events: KernelEvent[] = [];
  const k = await Kernel.start({ onEvent: (e) => events.push(e) });
  try {
    await fn(k, events);
  } finally {
    await k.close();
  }
}

function result(reply: ApplyReply): unknown {
  if (reply.status !== "ok") assert.fail(`expected ok, got ${JSON.stringify(reply)}`);
  return deserializeResult(reply.buffers);
}

Deno.test("Kernel.apply calls a function with positional args, then kwargs as one object", async () => {
  await withKernel(async (k) => {
    const f = (a: number, b: number, kw?: { scale: number }) => (a + b) * (kw?.scale ?? 1);
    assert.equal(result(await k.apply(packApplyMessage(f, [1, 2]))), 3);
    assert.equal(result(await k.apply(packApplyMessage(f, [1, 2], { scale: 10 }))), 30);
    const g = async function twice(x: number) {
      await new Promise((r) => setTimeout(r, 1));
      return x * 2;
    };
    assert.equal(result(await k.apply(packApplyMessage(g, [21]))), 42);
  });
});

Deno.test("Kernel.apply resolves References to namespace names, as function and as argument", async () => {
  await withKernel(async (k) => {
    await k.execute("function inc(x) { return x + 1 }\nconst base = 41");
    assert.equal(
      result(await k.apply(packApplyMessage(new Reference("inc"), [new Reference("base")]))),
      42,
    );
    assert.equal(result(await k.apply(packApplyMessage(new Reference("Math.max"), [3, 9, 4]))), 9);
    // A function's free variables are the namespace's globals.
    assert.equal(result(await k.apply(packApplyMessage(() => base + 1, []))), 42);
  });
});
declare const base: number;

Deno.test("Kernel.apply passes typed arrays in and out as binary frames", async () => {
  await withKernel(async (k) => {
    const double = (a: Float64Array) => a.map((x) => x * 2);
    const data = new Float64Array([1.5, 2.5, 3]);
    const reply = await k.apply(packApplyMessage(double, [data]), { transfer: false });
    assert.equal(reply.status, "ok");
    assert.ok(reply.status === "ok" && reply.buffers.length === 2);
    assert.deepEqual(result(reply), new Float64Array([3, 5, 6]));
    assert.deepEqual(data, new Float64Array([1.5, 2.5, 3])); // copied, not transferred
    // By default large whole-buffer frames are moved to the worker, not copied.
    const moved = new Float64Array(1 << 15).fill(1);
    const back = result(await k.apply(packApplyMessage(double, [moved]))) as Float64Array;
    assert.deepEqual([back.length, back[0], back[back.length - 1]], [1 << 15, 2, 2]);
    assert.equal(moved.length, 0); // detached
  });
});

Deno.test("Kernel.apply reports a thrown error with its name, message and frames", async () => {
  await withKernel(async (k) => {
    const reply = await k.apply(packApplyMessage(function boom() {
      throw new TypeError("no good");
    }, []));
    assert.equal(reply.status, "error");
    assert.ok(reply.status === "error");
    assert.equal(reply.ename, "TypeError");
    assert.equal(reply.evalue, "no good");
    assert.match(reply.traceback[1], /at boom \(fn-\d+:/);
    const missing = await k.apply(packApplyMessage(new Reference("nothere"), []));
    assert.equal(missing.status === "error" && missing.ename, "ReferenceError");
    const garbage = await k.apply([new Uint8Array([1, 2, 3])]);
    assert.equal(garbage.status === "error" && garbage.ename, "UnsupportedSerialization");
  });
});

Deno.test("Kernel push and pull are applies of __ipp_push__ and __ipp_pull__", async () => {
  await withKernel(async (k) => {
    const push = await k.apply(
      packApplyMessage(new Reference("__ipp_push__"), [], { a: 5, arr: new Int32Array([7, 8]) }),
    );
    assert.equal(result(push), undefined);
    const r = await k.execute("a + arr[1]");
    assert.equal(r.status === "ok" && r.data?.["text/plain"], "13");
    assert.equal(result(await k.apply(packApplyMessage(new Reference("__ipp_pull__"), ["a"]))), 5);
    assert.deepEqual(
      result(
        await k.apply(packApplyMessage(new Reference("__ipp_pull__"), [["a", "arr", "a * 2"]])),
      ),
      [5, new Int32Array([7, 8]), 10],
    );
    // The helpers are not user names.
    const keys = await k.execute("Object.keys(globalThis).filter((n) => n.startsWith('__ipp'))");
    assert.equal(keys.status === "ok" && keys.data?.["text/plain"], "[]");
  });
});

Deno.test("Kernel.apply answers a Python client's pickled Reference call with a pickle", async () => {
  await withKernel(async (k) => {
    await k.execute("const xs = [1, 2, 3]; function len(v) { return v.length }");
    const reply = await k.apply(packApplyPickle(new Reference("len"), [new Reference("xs")]));
    assert.equal(reply.status, "ok");
    assert.ok(reply.status === "ok");
    assert.equal(reply.format, "pickle");
    assert.equal(detectFormat(reply.buffers[0]), "pickle");
    assert.equal(deserializeResult(reply.buffers), 3);
  });
});

Deno.test("Kernel.apply output and interrupt work like execute's", async () => {
  await withKernel(async (k, events) => {
    const r = await k.apply(packApplyMessage(() => console.log("from apply"), []), {
      requestId: "ap",
    });
    assert.equal(r.status, "ok");
    assert.ok(
      events.some((e) => e.type === "stream" && e.requestId === "ap" && e.text === "from apply\n"),
    );
    const spin = k.apply(
      packApplyMessage(() => {
        for (;;) { /* forever */ }
      }, []),
      { requestId: "spin" },
    );
    while (!events.some((e) => e.type === "started" && e.requestId === "spin")) {
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.equal(await k.interrupt(), true);
    const s = await spin;
    assert.equal(s.status === "error" && s.ename, "KernelInterrupted");
    assert.equal(result(await k.apply(packApplyMessage(() => "alive", []))), "alive");
  });
});
