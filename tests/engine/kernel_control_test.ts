/**
 * The kernel's control behaviour through the production path: a real engine whose kernel
 * worker owns the shell and IOPub sockets (`src/engine/kernel/serve.ts`, `host.ts`), driven
 * on the wire (`kernel_wire.ts`): interrupt (endless loops, a pending await, a function),
 * clear after the running request, abort of a queued request, stop with work in flight, and
 * the `apply_request` cases a JavaScript client cannot produce (a Python client's pickled
 * call, malformed buffers). One fake hub and one engine serve every step.
 */

import assert from "node:assert/strict";
import {
  deserializeResult,
  detectFormat,
  packApplyMessage,
  Reference,
} from "../../src/protocol/serialize.ts";
import { packApplyPickle } from "../../src/protocol/pickle.ts";
import { FakeHub } from "./fake_hub.ts";
import { type Content, ok, opts, startWire, until } from "./kernel_wire.ts";

/** Threads of this process that are busy running (state R), by name. */
function runningThreads(): string[] {
  const out: string[] = [];
  for (const t of Deno.readDirSync("/proc/self/task")) {
    try {
      const stat = Deno.readTextFileSync(`/proc/self/task/${t.name}/stat`);
      const state = stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3);
      if (state === "R") out.push(Deno.readTextFileSync(`/proc/self/task/${t.name}/comm`).trim());
    } catch { /* thread ended meanwhile */ }
  }
  return out;
}

Deno.test({
  name: "kernel control on a real engine: interrupt, clear, abort, stop; pickled and bad applies",
  ...opts,
  async fn(t) {
    await using hub = await FakeHub.start("ok");
    const k = await startWire(hub);
    const engine = k.engine;
    try {
      await t.step(
        "interrupt stops while(true){}, resets the namespace, keeps serving",
        async () => {
          ok((await k.exec("const before = 1")).reply);
          const looping = await k.send("execute_request", {
            code: "while (true) {}",
            silent: true,
          });
          const queued = await k.send("execute_request", { code: "typeof before", silent: false });
          const ri = await k.interrupt();
          assert.equal(ri.msgType, "interrupt_reply");
          assert.deepEqual(ri.content, { status: "ok" });
          const r = (await k.replyTo(looping)).content as Content;
          assert.equal(r.status, "error");
          assert.equal(r.ename, "KernelInterrupted");
          assert.match(String(r.evalue), /namespace was reset/);
          // The queued request ran after the reset, where `before` no longer exists.
          ok((await k.replyTo(queued)).content as Content);
          await k.idle(queued);
          const result = k.io(queued).find((m) => m.msg.msgType === "execute_result");
          assert.deepEqual((result?.msg.content as Content).data, { "text/plain": '"undefined"' });
          assert.equal(await k.value("1 + 1"), "2");
        },
      );

      await t.step("interrupting an idle engine changes nothing", async () => {
        ok((await k.exec("const kept = 'still'")).reply);
        const req = await k.send("interrupt_request", {}, { control: true });
        assert.deepEqual((await k.replyTo(req, true)).content, { status: "ok" });
        assert.equal(await k.value("kept"), '"still"');
      });

      await t.step("interrupt stops a pending await and a single-statement loop body", async () => {
        const w = await k.send("execute_request", {
          code: "await new Promise(() => {})",
          silent: true,
        });
        await k.interrupt();
        assert.equal(((await k.replyTo(w)).content as Content).ename, "KernelInterrupted");
        const f = await k.send("execute_request", {
          code: "let i = 0; for (;;) i++",
          silent: true,
        });
        await k.interrupt();
        assert.equal(((await k.replyTo(f)).content as Content).ename, "KernelInterrupted");
        assert.equal(await k.value("'alive'"), '"alive"');
      });

      await t.step(
        "interrupt stops hot loops the optimizing compiler has compiled (the flag is read at every iteration, never hoisted)",
        async () => {
          // Each cell warms its function until V8 optimizes it, then runs it for ever (an
          // interrupt resets the namespace, so each defines its own).
          const shapes = [
            "const a = new Float64Array(1 << 16).fill(1);\n" +
            "function sum(a, reps) { let s = 0; for (let r = 0; r < reps; r++) " +
            "for (let i = 0; i < a.length; i++) s += a[i]; return s }\n" +
            "for (let w = 0; w < 300; w++) sum(a, 1);\nsum(a, 1e12)",
            "function nested(n) { let x = 0; for (let i = 0; i < n; i++) " +
            "for (let j = 0; j < n; j++) x = (x + i * j) | 0; return x }\n" +
            "for (let w = 0; w < 300; w++) nested(100);\nnested(1e9)",
            "function ofLoop(reps) { let s = 0; const xs = [1, 2, 3]; let r = 0; " +
            "do { for (const v of xs) s += v; r++ } while (r !== reps); return s }\n" +
            "for (let w = 0; w < 300; w++) ofLoop(100);\nofLoop(-1)",
          ];
          for (const code of shapes) {
            const req = await k.send("execute_request", { code, silent: true });
            await new Promise((r) => setTimeout(r, 400)); // running, optimized on the stack
            await k.interrupt();
            const r = (await k.replyTo(req)).content as Content;
            assert.equal(r.ename, "KernelInterrupted", code);
          }
          assert.equal(await k.value("'alive'"), '"alive"');
        },
      );

      await t.step({
        name: "an interrupted loop leaves no thread spinning",
        ignore: Deno.build.os !== "linux",
        fn: async () => {
          await until(() => !runningThreads().some((n) => n.startsWith("worker")));
          const p = await k.send("execute_request", { code: "while (true) {}", silent: true });
          await until(() => runningThreads().some((n) => n.startsWith("worker")));
          await k.interrupt();
          await k.replyTo(p);
          await until(() => !runningThreads().some((n) => n.startsWith("worker")));
        },
      });

      await t.step(
        "an apply's output is captured; an endless function is interrupted",
        async () => {
          const { req, reply } = await k.apply(
            packApplyMessage(() => console.log("from apply"), []),
          );
          assert.deepEqual(reply.content, { status: "ok" });
          assert.equal(k.stream(req), "from apply\n");
          const spin = await k.send("apply_request", {}, {
            buffers: packApplyMessage(() => {
              for (;;) { /* forever */ }
            }, []),
          });
          await k.interrupt();
          assert.equal(((await k.replyTo(spin)).content as Content).ename, "KernelInterrupted");
          const alive = await k.apply(packApplyMessage(() => "alive", []));
          assert.equal(deserializeResult(alive.reply.buffers), "alive");
        },
      );

      await t.step("clear resets the namespace after the running request", async () => {
        const before = ok((await k.exec("var gone = 1; const alsoGone = 2")).reply)
          .execution_count as number;
        const running = await k.send("execute_request", {
          code: "await new Promise((r) => setTimeout(r, 100)); gone",
          silent: false,
        });
        await until(() => engine.state === "running.busy");
        const clear = await k.send("clear_request", {}, { control: true });
        ok((await k.replyTo(running)).content as Content);
        await k.idle(running);
        const result = k.io(running).find((m) => m.msg.msgType === "execute_result");
        assert.deepEqual((result?.msg.content as Content).data, { "text/plain": "1" });
        assert.deepEqual((await k.replyTo(clear, true)).content, { status: "ok" });
        assert.equal(await k.value("typeof gone + typeof alsoGone"), '"undefinedundefined"');
        // Execution counts go on.
        const { reply } = await k.exec("1");
        assert.equal(reply.execution_count, before + 3);
      });

      await t.step("abort_request drops a queued request; the others run", async () => {
        const first = await k.send("execute_request", {
          code: "await new Promise((r) => setTimeout(r, 100)); 1",
          silent: true,
        });
        const second = await k.send("execute_request", {
          code: "globalThis.ran = 2",
          silent: true,
        });
        const third = await k.send("execute_request", { code: "3", silent: true });
        const abort = await k.send("abort_request", { msg_ids: [second.msgId] }, {
          control: true,
        });
        assert.deepEqual((await k.replyTo(abort, true)).content, { status: "ok" });
        ok((await k.replyTo(first)).content as Content);
        assert.equal(((await k.replyTo(second)).content as Content).status, "aborted");
        ok((await k.replyTo(third)).content as Content);
        assert.equal(await k.value("typeof ran"), '"undefined"');
      });

      await t.step(
        "a Python client's pickled Reference call is answered with a pickle",
        async () => {
          ok((await k.exec("const xs = [1, 2, 3]; function len(v) { return v.length }")).reply);
          const { reply } = await k.apply(
            packApplyPickle(new Reference("len"), [new Reference("xs")]),
          );
          assert.deepEqual(reply.content, { status: "ok" });
          assert.equal(detectFormat(reply.buffers[0]), "pickle");
          assert.equal(deserializeResult(reply.buffers), 3);
        },
      );

      await t.step("malformed apply buffers are an UnsupportedSerialization error", async () => {
        const { reply } = await k.apply([new Uint8Array([1, 2, 3])]);
        const c = reply.content as Content;
        assert.equal(c.status, "error");
        assert.equal(c.ename, "UnsupportedSerialization");
        assert.equal(await k.value("'alive'"), '"alive"');
      });

      await t.step(
        "stopping the engine answers the running and queued requests aborted",
        async () => {
          const slow = await k.send("execute_request", {
            code: "await new Promise((r) => setTimeout(r, 10000))",
            silent: true,
          });
          const queued = await k.send("execute_request", { code: "4", silent: true });
          await until(() => engine.state === "running.busy");
          const stopped = engine.stop();
          assert.equal(((await k.replyTo(slow)).content as Content).status, "aborted");
          assert.equal(((await k.replyTo(queued)).content as Content).status, "aborted");
          await stopped;
          assert.equal(engine.state, "stopped");
        },
      );
    } finally {
      await engine.stop();
    }
  },
});
