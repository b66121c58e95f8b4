/**
 * The kernel's `execute` semantics through the production path: real engines whose kernel
 * worker owns the shell and IOPub sockets (`src/engine/kernel/serve.ts`), driven on the wire
 * (`kernel_wire.ts`): REPL persistence, results, silent/store_history/user_expressions,
 * TypeScript, imports, output capture and attribution, display and data, errors, and the
 * engine staying responsive. One fake hub and two engines (JavaScript with a working
 * directory of its own; TypeScript mode) serve every step.
 */

import assert from "node:assert/strict";
import { deserializeResult, packApplyMessage } from "../../src/protocol/serialize.ts";
import { FakeHub } from "./fake_hub.ts";
import { type Content, ok, opts, startWire, until } from "./kernel_wire.ts";

const te = new TextEncoder();

Deno.test({
  name: "kernel execute on a real engine: REPL semantics, results, output, errors",
  ...opts,
  async fn(t) {
    const dir = await Deno.makeTempDir({ prefix: "ipp-kernel-" });
    await Deno.writeTextFile(
      `${dir}/helper.ts`,
      "export const base: number = 40;\nexport default function add(n: number) { return base + n; }\n",
    );
    await using hub = await FakeHub.start("ok");
    const js = await startWire(hub, { cwd: dir });
    const ts = await startWire(hub, { typescript: true });
    const jsEngine = js.engine;
    try {
      await t.step(
        "top-level var, let, const, function and class persist across cells",
        async () => {
          ok((await js.exec("var v = 1; let l = 2; const c = 3")).reply);
          ok((await js.exec("function f(n) { return n + v + l + c }")).reply);
          ok((await js.exec("class Point { constructor(x) { this.x = x } }")).reply);
          assert.equal(await js.value("f(10)"), "16");
          assert.equal(await js.value("new Point(4).x"), "4");
          // Redeclaring is allowed, as in a REPL.
          ok((await js.exec("const c = 30; let l = 20")).reply);
          assert.equal(await js.value("c + l"), "50");
          // `var x` without a value keeps the old one; `let x` resets it.
          ok((await js.exec("var v; let l")).reply);
          assert.equal(await js.value("[v, l]"), "[ 1, undefined ]");
        },
      );

      await t.step(
        "destructuring declarations, hoisting and globalThis names persist",
        async () => {
          ok(
            (await js.exec(
              "const { a, b: [b0, ...bs], c: c2 = 7, ...others } = { a: 1, b: [2, 3, 4], d: 5 }",
            )).reply,
          );
          assert.equal(
            await js.value("[a, b0, bs, c2, others]"),
            "[ 1, 2, [ 3, 4 ], 7, { d: 5 } ]",
          );
          assert.equal(await js.value("g()\nfunction g() { return 'hoisted' }"), '"hoisted"');
          assert.equal(await js.value("h()\nfunction h() { return g() }"), '"hoisted"');
          assert.equal(await js.value("g()"), '"hoisted"');
          ok((await js.exec("globalThis.x = 6 * 7")).reply);
          assert.equal(await js.value("x"), "42");
        },
      );

      await t.step("top-level await, and awaited declarations persist", async () => {
        ok((await js.exec("const w = await new Promise((r) => setTimeout(() => r(5), 10))")).reply);
        assert.equal(await js.value("w * 2"), "10");
        assert.equal(
          await js.value("for await (const y of [Promise.resolve(1)]) {}; await 3"),
          "3",
        );
      });

      await t.step(
        "the last expression is the execute_result, as Deno's REPL shows it",
        async () => {
          assert.equal(await js.value("'a' + 'b'"), '"ab"');
          assert.equal(
            await js.value("({ a: [1, 2], m: new Map([[1, 2]]) })"),
            "{ a: [ 1, 2 ], m: Map(1) { 1 => 2 } }",
          );
          assert.equal(await js.value("{a: 1}"), "{ a: 1 }");
          // Declarations, statements and undefined have no result.
          assert.equal(await js.value("const q = 1"), undefined);
          assert.equal(await js.value("if (q) { 5 }"), undefined);
          assert.equal(await js.value("undefined"), undefined);
          const { req, reply } = await js.exec("1 + 1");
          const result = js.io(req).find((m) => m.msg.msgType === "execute_result");
          assert.deepEqual(result?.msg.content, {
            data: { "text/plain": "2" },
            metadata: {},
            execution_count: reply.execution_count,
          });
          // A value's Jupyter.display bundle is its rich result.
          const rich = await js.exec(
            "({ [Symbol.for('Jupyter.display')]() { return { 'text/html': '<b>hi</b>' } } })",
          );
          const data = (js.io(rich.req).find((m) => m.msg.msgType === "execute_result")?.msg
            .content as { data: Record<string, unknown> }).data;
          assert.equal(data["text/html"], "<b>hi</b>");
          assert.equal(typeof data["text/plain"], "string");
        },
      );

      await t.step(
        "silent cells publish no input or result and do not advance the count",
        async () => {
          const a = await js.exec("1");
          const n = ok(a.reply).execution_count as number;
          const s = await js.exec("2", { silent: true });
          assert.equal(ok(s.reply).execution_count, n);
          const b = await js.exec("3");
          assert.equal(ok(b.reply).execution_count, n + 1);
          const h = await js.exec("4", { store_history: false });
          assert.equal(ok(h.reply).execution_count, n + 1);
          const types = (r: typeof a) => js.io(r.req).map((m) => m.msg.msgType);
          assert.deepEqual(types(a), ["status", "execute_input", "execute_result", "status"]);
          // A silent cell that ends within its turn: its `busy` was no news (shell.ts).
          assert.deepEqual(types(s), ["status"]);
          const input = js.io(b.req).find((m) => m.msg.msgType === "execute_input");
          assert.deepEqual(input?.msg.content, { code: "3", execution_count: n + 1 });
        },
      );

      await t.step("user_expressions are evaluated after the code, each ok or error", async () => {
        const { reply } = await js.exec("const ue = 40", {
          user_expressions: { twice: "ue * 2", bad: "nope + 1" },
        });
        const ue = ok(reply).user_expressions as Record<string, Content>;
        assert.deepEqual(ue.twice, { status: "ok", data: { "text/plain": "80" }, metadata: {} });
        assert.equal(ue.bad.status, "error");
        assert.equal(ue.bad.ename, "ReferenceError");
        assert.equal(ue.bad.evalue, "nope is not defined");
      });

      await t.step("TypeScript: types are stripped when a cell is not JavaScript", async () => {
        ok(
          (await js.exec(
            "interface P { x: number }\nenum Color { Red, Green }\n" +
              "function id<T>(v: T): T { return v }\nconst p: P = { x: 2 }",
          )).reply,
        );
        assert.equal(await js.value("(p.x as number) + Color.Green"), "3");
        // `id<number>(x)` is valid JavaScript (two comparisons): run as such, `number` is unknown.
        const cmp = (await js.exec("id<number>(p.x)")).reply;
        assert.equal(`${cmp.ename}: ${cmp.evalue}`, "ReferenceError: number is not defined");
      });

      await t.step("an engine in TypeScript mode strips types from every cell", async () => {
        ok(
          (await ts.exec("const id = <T,>(v: T): T => v; const p: { x: number } = { x: 2 }")).reply,
        );
        assert.equal(await ts.value("id<number>(p.x)"), "2");
        assert.equal(await ts.value("id<number>(3)"), "3");
      });

      await t.step("file modules import statically and dynamically, relative to cwd", async () => {
        ok((await js.exec('import add, { base } from "./helper.ts"')).reply);
        assert.equal(await js.value("add(2) + base"), "82");
        assert.equal(await js.value('const m = await import("./helper.ts"); m.base'), "40");
        assert.equal(await js.value('import * as ns from "./helper.ts"\nns.default(1)'), "41");
      });

      await t.step("npm packages import", async () => {
        assert.match(
          (await js.value('import { version } from "npm:acorn@8"; version'))!,
          /^"8\./,
        );
      });

      await t.step(
        "output belongs to its request, also after an await and from a timer",
        async () => {
          const a = await js.exec(
            "console.log('one'); console.error('err'); await new Promise((r) => setTimeout(r, 5));\n" +
              "console.info('two'); setTimeout(() => console.log('late'), 100)",
            { silent: true },
          );
          const b = await js.exec(
            "console.log('b'); Deno.stdout.writeSync(new TextEncoder().encode('raw\\n'))",
            { silent: true },
          );
          assert.equal(js.stream(b.req), "b\nraw\n");
          await hub.until(() => js.stream(a.req).includes("late"), 5000, "late output");
          assert.equal(js.stream(a.req), "one\ntwo\nlate\n");
          assert.equal(js.stream(a.req, "stderr"), "err\n");
          const topics = js.io(a.req).map((m) => m.topic);
          assert.ok(topics.includes(`engine.${jsEngine.id}.stderr`), topics.join());
          // Output precedes the reply: B's output arrived before the late timer of A.
          const late = js.indexOf(a.req, (m) => (m.msg.content as Content).text === "late\n");
          assert.ok(js.indexOf(b.req, (m) => m.msg.msgType === "stream") < late);
        },
      );

      await t.step("console.table, dir and group are formatted as by Deno", async () => {
        const { req } = await js.exec(
          "console.table([{ a: 1 }]); console.group('G'); console.log('in'); console.groupEnd()",
        );
        assert.match(js.stream(req), /│ a │/);
        assert.match(js.stream(req), /G\n {2}in\n/);
      });

      await t.step("process.stdout.write, Deno.stdout.write and process.stderr.write", async () => {
        const { req } = await js.exec(
          "import process from 'node:process'; process.stdout.write('p\\n');\n" +
            "await Deno.stdout.write(new TextEncoder().encode('w\\n')); process.stderr.write('e\\n')",
        );
        assert.equal(js.stream(req), "p\nw\n");
        assert.equal(js.stream(req, "stderr"), "e\n");
      });

      await t.step("display() and publishData() become display_data and data_message", async () => {
        const { req } = await js.exec(
          "display({ k: 1 }); display({ 'text/html': '<i>x</i>' }, { raw: true }); " +
            "publishData({ n: 3 })",
        );
        await hub.until(() => js.io(req).some((m) => m.topic === "datapub"), 5000, "datapub");
        const displays = js.io(req).filter((m) => m.msg.msgType === "display_data");
        assert.deepEqual(displays.map((m) => (m.msg.content as Content).data), [
          { "text/plain": "{ k: 1 }" },
          { "text/html": "<i>x</i>" },
        ]);
        const data = js.io(req).find((m) => m.topic === "datapub")!.msg;
        assert.equal(data.msgType, "data_message");
        assert.deepEqual(data.content, { keys: ["n"] });
        assert.deepEqual(deserializeResult(data.buffers), { n: 3 });
      });

      await t.step("a thrown error: name, message and readable user frames", async () => {
        const { req, reply } = await js.exec(
          "function inner() {\n  throw new RangeError('too far');\n}\ninner()",
        );
        assert.equal(reply.status, "error");
        assert.equal(reply.ename, "RangeError");
        assert.equal(reply.evalue, "too far");
        const n = reply.execution_count as number;
        const tb = reply.traceback as string[];
        assert.equal(tb[0], "RangeError: too far");
        assert.match(tb[1], new RegExp(`at inner \\(cell-${n}:2:9\\)`));
        assert.match(tb[2], new RegExp(`at cell-${n}:4:1`));
        assert.ok(!tb.some((l) => /kernel\/\w+\.ts/.test(l)), tb.join("\n"));
        const published = js.io(req).find((m) => m.msg.msgType === "error");
        assert.equal((published?.msg.content as Content).ename, "RangeError");
        // Custom classes report their class name; non-errors are "Uncaught".
        const c = (await js.exec("class MyError extends Error {}\nthrow new MyError('m')")).reply;
        assert.equal(c.ename, "MyError");
        const u = (await js.exec("throw 42")).reply;
        assert.equal(`${u.ename}: ${u.evalue}`, "Uncaught: 42");
        assert.equal((await js.exec("let = = 1")).reply.ename, "SyntaxError");
      });

      await t.step("the same cell run again is named by its own run in tracebacks", async () => {
        // The rewritten cell is cached by its code; each stored run still gets its own name.
        const code = "[1].map(() => {\n  throw new Error('again');\n})";
        const first = (await js.exec(code)).reply;
        const second = (await js.exec(code)).reply;
        const n = first.execution_count as number;
        assert.equal(second.execution_count, n + 1);
        assert.match((first.traceback as string[])[1], new RegExp(`at cell-${n}:2:9$`));
        assert.match((second.traceback as string[])[1], new RegExp(`at cell-${n + 1}:2:9$`));
        // A cell that failed to parse is not cached: the next run reports the same error.
        assert.equal((await js.exec("let = = 1")).reply.ename, "SyntaxError");
      });

      await t.step(
        "unhandled rejections and async exceptions go to stderr; serving goes on",
        async () => {
          const r = await js.exec("const keep = 1; Promise.reject(new Error('nobody awaits'))", {
            silent: true,
          });
          ok(r.reply);
          const tm = await js.exec("setTimeout(() => { throw new TypeError('in a timer') }, 5)", {
            silent: true,
          });
          ok(tm.reply);
          // (An uncaught exception in a timer is not always attributed to the request that
          // started the timer: look for it on any request's stderr.)
          const stderr = () =>
            hub.iopubMessages.filter((m) => m.topic === `engine.${jsEngine.id}.stderr`)
              .map((m) => (m.msg.content as Content).text).join("");
          await hub.until(() => stderr().includes("in a timer"), 5000, "timer");
          await hub.until(() => js.stream(r.req, "stderr") !== "", 5000, "rejection");
          assert.match(js.stream(r.req, "stderr"), /Uncaught \(in promise\) Error: nobody awaits/);
          assert.match(stderr(), /Uncaught TypeError: in a timer/);
          assert.equal(await js.value("keep"), "1");
        },
      );

      await t.step(
        "exit attempts are errors; after those and an unsendable result serving goes on",
        async () => {
          assert.equal(await js.value("close = 1; onmessage = null; 'still here'"), '"still here"');
          for (const exit of ["Deno.exit(3)", "(await import('node:process')).default.exit(3)"]) {
            const e = (await js.exec(exit)).reply;
            assert.equal(e.status, "error");
            assert.match(String(e.evalue), /would stop the kernel/);
          }
          const bad = await js.exec(
            "({ [Symbol.for('Jupyter.display')]() { return { 'text/plain': 'x', n: 1n } } })",
          );
          // IOPub cannot encode a BigInt: the result is not published, and the request's
          // stderr says so (the engine logs it too).
          assert.ok(!js.io(bad.req).some((m) => m.msg.msgType === "execute_result"));
          assert.match(
            js.stream(bad.req, "stderr"),
            /the execute_result of this request could not be sent: .*BigInt/,
          );
          assert.equal(await js.value("'alive'"), '"alive"');
        },
      );

      await t.step(
        "a synchronous loop holds only the kernel worker: heartbeats go on",
        async () => {
          let ticks = 0;
          const timer = setInterval(() => {
            ticks++;
            hub.hbPing.send([te.encode(`beat-${ticks}`)]);
          }, 20);
          const pongsBefore = hub.pongs.length;
          try {
            const { req } = await js.exec(
              "const t0 = Date.now(); while (Date.now() - t0 < 1000) {}; 'done'",
            );
            assert.deepEqual(
              (js.io(req).find((m) => m.msg.msgType === "execute_result")?.msg.content as Content)
                .data,
              { "text/plain": '"done"' },
            );
          } finally {
            clearInterval(timer);
          }
          // 50 periods elapsed; a blocked main thread would have ticked at most once.
          assert.ok(ticks >= 20, `main-thread interval ticked only ${ticks} times`);
          assert.ok(hub.pongs.length - pongsBefore >= 10, "the engine answered pings meanwhile");
        },
      );

      await t.step(
        "busy goes out only while it is news: not for a request that ends in its turn, before the reply of one that awaits or holds the worker; a quiet request that publishes nothing gets no status",
        async () => {
          const states = (req: Parameters<typeof js.io>[0]) =>
            js.io(req).filter((m) => m.msg.msgType === "status").map((m) =>
              (m.msg.content as Content).execution_state
            );
          /** `req`'s reply, once its `busy` is seen first (within `ms`); then its idle. */
          const busyBeforeReply = async (req: Parameters<typeof js.io>[0], ms: number) => {
            let replied = false;
            const reply = js.replyTo(req).then((r) => (replied = true, r));
            await until(() => states(req).includes("busy"), ms);
            assert.equal(replied, false, "busy came before the reply");
            const r = await reply;
            await js.idle(req);
            assert.deepEqual(states(req), ["busy", "idle"]);
            return r;
          };
          const quick = await js.exec("[1, 2].map((x) => x * 2)", { silent: true });
          ok(quick.reply);
          assert.deepEqual(states(quick.req), ["idle"]);

          // Awaits a timer: busy as soon as the cell's code returns its promise.
          const awaiting = await js.send("execute_request", {
            code: "await new Promise((r) => setTimeout(r, 400)); 1",
            silent: true,
          });
          ok((await busyBeforeReply(awaiting, 5000)).content as Content);
          // The same for an applied function that returns a promise.
          const asyncApply = await js.send("apply_request", {}, {
            buffers: packApplyMessage(async () => {
              await new Promise((r) => setTimeout(r, 400));
              return 1;
            }),
          });
          assert.equal(deserializeResult((await busyBeforeReply(asyncApply, 5000)).buffers), 1);

          // Holds the worker in a loop without output: the main thread asks its loop to
          // announce it after one to two looks (ANNOUNCE_CHECK_MS), long before it ends.
          const holding = await js.send("execute_request", {
            code: "const t4 = Date.now(); while (Date.now() - t4 < 5000) {}",
            silent: true,
          });
          ok((await busyBeforeReply(holding, 4800)).content as Content);
          // The flag that asked for it is not mistaken for an interrupt.
          assert.equal(await js.value("'still here'"), '"still here"');

          // A client that completes results from `iopub_count` asks for no status: a request
          // that publishes nothing gets none; one that prints gets busy before its output.
          const quiet = { metadata: { quiet_status: true } };
          const silentQuiet = await js.send("execute_request", { code: "2", silent: true }, quiet);
          const rq = await js.replyTo(silentQuiet);
          ok(rq.content as Content);
          assert.equal((rq.metadata as Content).iopub_count, 0);
          const printing = await js.send("execute_request", {
            code: "console.log('q')",
            silent: true,
          }, quiet);
          const rp = await js.replyTo(printing);
          assert.equal((rp.metadata as Content).iopub_count, 1);
          await js.idle(printing);
          assert.deepEqual(states(printing), ["busy", "idle"]);
          assert.equal(js.stream(printing), "q\n");
          // IOPub is in order: the printing request's idle came after anything of the first.
          assert.deepEqual(js.io(silentQuiet), []);
        },
      );

      await t.step(
        "after an idle spell (the main thread's looks park), a request that holds the worker wakes them and is announced",
        async () => {
          await new Promise((r) => setTimeout(r, 2600)); // two looks without a request: parked
          const req = await js.send("execute_request", {
            code: "const t5 = Date.now(); while (Date.now() - t5 < 4000) {}",
            silent: true,
          });
          let replied = false;
          const reply = js.replyTo(req).then((r) => (replied = true, r));
          await until(() =>
            js.io(req).some((m) =>
              m.msg.msgType === "status" &&
              (m.msg.content as Content).execution_state === "busy"
            ), 3800);
          assert.equal(replied, false, "busy came before the reply");
          ok((await reply).content as Content);
        },
      );

      await t.step(
        "the main thread's busy for a held request comes before the request's later output and idle, once",
        async () => {
          const req = await js.send("execute_request", {
            code: "const t7 = Date.now(); while (Date.now() - t7 < 2500) {}\nconsole.log('after')",
            silent: true,
          });
          ok((await js.replyTo(req)).content as Content);
          await js.idle(req);
          const kinds = js.io(req).map((m) =>
            m.msg.msgType === "status" ? (m.msg.content as Content).execution_state : m.msg.msgType
          );
          assert.deepEqual(kinds, ["busy", "stream", "idle"]);
          // The next request is served as usual: the worker sends its IOPub again.
          const next = await js.exec("console.log('next')");
          ok(next.reply);
          await js.idle(next.req);
          assert.equal(js.stream(next.req), "next\n");
        },
      );

      await t.step("output of a long synchronous cell streams before the cell ends", async () => {
        let busyWhenSeen: boolean | undefined;
        // The first output after a quiet spell (50 ms) goes at once; later output is batched.
        await new Promise((r) => setTimeout(r, 100));
        const req = await js.send("execute_request", {
          code: "console.log('early'); const t1 = Date.now(); while (Date.now() - t1 < 300) {}\n" +
            "for (let i = 0; i < 3; i++) console.log('tick')",
          silent: true,
        });
        await until(() => {
          if (js.stream(req).includes("early")) busyWhenSeen ??= jsEngine.state === "running.busy";
          return busyWhenSeen !== undefined;
        });
        ok((await js.replyTo(req)).content as Content);
        await js.idle(req);
        assert.equal(busyWhenSeen, true);
        assert.equal(js.stream(req), "early\ntick\ntick\ntick\n");
      });

      await t.step(
        "the first output of a cell queued right behind a printing cell streams at once too",
        async () => {
          const a = await js.send("execute_request", { code: "console.log('a')", silent: true });
          const b = await js.send("execute_request", {
            code:
              "console.log('b starts'); const t2 = Date.now(); while (Date.now() - t2 < 600) {}",
            silent: true,
          });
          let seenAt: number | undefined;
          const sent = Date.now();
          await until(() => {
            if (js.stream(b).includes("b starts")) seenAt ??= Date.now();
            return seenAt !== undefined;
          });
          ok((await js.replyTo(a)).content as Content);
          ok((await js.replyTo(b)).content as Content);
          const repliedAt = Date.now();
          await js.idle(b);
          assert.equal(js.stream(a), "a\n");
          assert.ok(
            repliedAt - seenAt! >= 300,
            `b's first line came ${repliedAt - seenAt!} ms before its reply (${
              seenAt! - sent
            } ms after sending): it was held back until the loop ended`,
          );
        },
      );
    } finally {
      await jsEngine.stop();
      await ts.engine.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
