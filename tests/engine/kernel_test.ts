import assert from "node:assert/strict";
import { Kernel } from "../../src/engine/kernel/mod.ts";
import type {
  ExecuteOk,
  ExecuteReply,
  KernelEvent,
  KernelOptions,
  StreamEvent,
} from "../../src/engine/kernel/mod.ts";
import { IppError } from "../../src/errors.ts";
import { deserializeResult } from "../../src/protocol/serialize.ts";

/** Start a kernel that records its events, run `fn`, always close the kernel. */
async function withKernel(
  fn: (k: Kernel, events: KernelEvent[]) => Promise<void>,
  options: KernelOptions = {},
): Promise<void> {
  const events: KernelEvent[] = [];
  const k = await Kernel.start({ ...options, onEvent: (e) => events.push(e) });
  try {
    await fn(k, events);
  } finally {
    await k.close();
  }
}

function ok(reply: ExecuteReply): ExecuteOk {
  if (reply.status !== "ok") {
    assert.fail(`expected ok, got ${JSON.stringify(reply)}`);
  }
  return reply;
}

/** The text/plain result of a cell that must succeed. */
async function value(k: Kernel, code: string): Promise<string | undefined> {
  return ok(await k.execute(code)).data?.["text/plain"] as string | undefined;
}

function streamText(events: KernelEvent[], requestId: string, name = "stdout"): string {
  return events
    .filter((e): e is StreamEvent =>
      e.type === "stream" && e.requestId === requestId && e.name === name
    )
    .map((e) => e.text)
    .join("");
}

/** Wait until `cond()` holds, checking every 5 ms, failing after `ms`. */
async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.fail("condition not reached in time");
    await new Promise((r) => setTimeout(r, 5));
  }
}

Deno.test("Kernel.execute keeps top-level var, let, const, function and class across cells", async () => {
  await withKernel(async (k) => {
    ok(await k.execute("var v = 1; let l = 2; const c = 3"));
    ok(await k.execute("function f(n) { return n + v + l + c }"));
    ok(await k.execute("class Point { constructor(x) { this.x = x } }"));
    assert.equal(await value(k, "f(10)"), "16");
    assert.equal(await value(k, "new Point(4).x"), "4");
    // Redeclaring is allowed, as in a REPL.
    ok(await k.execute("const c = 30; let l = 20"));
    assert.equal(await value(k, "c + l"), "50");
    // `var x` without a value keeps the old one; `let x` resets it.
    ok(await k.execute("var v; let l"));
    assert.equal(await value(k, "[v, l]"), "[ 1, undefined ]");
  });
});

Deno.test("Kernel.execute persists names bound by destructuring declarations", async () => {
  await withKernel(async (k) => {
    ok(
      await k.execute(
        "const { a, b: [b0, ...bs], c = 7, ...others } = { a: 1, b: [2, 3, 4], d: 5 }",
      ),
    );
    assert.equal(await value(k, "[a, b0, bs, c, others]"), "[ 1, 2, [ 3, 4 ], 7, { d: 5 } ]");
  });
});

Deno.test("Kernel.execute: a function calls another declared later in the same cell (hoisting)", async () => {
  await withKernel(async (k) => {
    assert.equal(await value(k, "g()\nfunction g() { return 'hoisted' }"), '"hoisted"');
    assert.equal(await value(k, "h()\nfunction h() { return g() }"), '"hoisted"');
    assert.equal(await value(k, "g()"), '"hoisted"');
  });
});

Deno.test("Kernel.execute: globalThis.x set in one cell is x in the next", async () => {
  await withKernel(async (k) => {
    ok(await k.execute("globalThis.x = 6 * 7"));
    assert.equal(await value(k, "x"), "42");
  });
});

Deno.test("Kernel.execute supports top-level await and keeps awaited declarations", async () => {
  await withKernel(async (k) => {
    ok(await k.execute("const v = await new Promise((r) => setTimeout(() => r(5), 10))"));
    assert.equal(await value(k, "v * 2"), "10");
    assert.equal(await value(k, "for await (const x of [Promise.resolve(1)]) {}; await 3"), "3");
  });
});

Deno.test("Kernel.execute returns the last expression as Deno's REPL shows it", async () => {
  await withKernel(async (k, events) => {
    assert.equal(await value(k, "'a' + 'b'"), '"ab"');
    assert.equal(
      await value(k, "({ a: [1, 2], m: new Map([[1, 2]]) })"),
      "{ a: [ 1, 2 ], m: Map(1) { 1 => 2 } }",
    );
    assert.equal(await value(k, "{a: 1}"), "{ a: 1 }");
    // Declarations, statements and undefined have no result.
    assert.equal(await value(k, "const q = 1"), undefined);
    assert.equal(await value(k, "if (q) { 5 }"), undefined);
    assert.equal(await value(k, "undefined"), undefined);
    const r = ok(await k.execute("1 + 1", { requestId: "r1" }));
    const ev = events.find((e) => e.type === "execute_result" && e.requestId === "r1");
    assert.deepEqual(ev, {
      type: "execute_result",
      requestId: "r1",
      data: { "text/plain": "2" },
      metadata: {},
      executionCount: r.executionCount,
    });
  });
});

Deno.test("Kernel.execute uses a value's Jupyter.display bundle as its rich result", async () => {
  await withKernel(async (k) => {
    const r = ok(
      await k.execute(
        "({ [Symbol.for('Jupyter.display')]() { return { 'text/html': '<b>hi</b>' } } })",
      ),
    );
    assert.equal(r.data?.["text/html"], "<b>hi</b>");
    assert.equal(typeof r.data?.["text/plain"], "string");
  });
});

Deno.test("Kernel.execute: silent cells publish no input/result and do not advance the count", async () => {
  await withKernel(async (k, events) => {
    assert.equal(ok(await k.execute("1", { requestId: "a" })).executionCount, 1);
    const s = ok(await k.execute("2", { requestId: "s", silent: true }));
    assert.equal(s.executionCount, 1);
    assert.equal(s.data, undefined);
    assert.equal(ok(await k.execute("3", { requestId: "b" })).executionCount, 2);
    assert.equal(ok(await k.execute("4", { storeHistory: false })).executionCount, 2);
    assert.equal(k.executionCount, 2);
    const kinds = (id: string) => events.filter((e) => e.requestId === id).map((e) => e.type);
    assert.deepEqual(kinds("a"), ["started", "execute_input", "execute_result"]);
    assert.deepEqual(kinds("s"), ["started"]);
    const input = events.find((e) => e.type === "execute_input" && e.requestId === "b");
    assert.deepEqual(input, {
      type: "execute_input",
      requestId: "b",
      code: "3",
      executionCount: 2,
    });
  });
});

Deno.test("Kernel.execute evaluates user_expressions after the code, each ok or error", async () => {
  await withKernel(async (k) => {
    const r = ok(
      await k.execute("const a = 40", { userExpressions: { twice: "a * 2", bad: "nope + 1" } }),
    );
    assert.deepEqual(r.userExpressions.twice, {
      status: "ok",
      data: { "text/plain": "80" },
      metadata: {},
    });
    const bad = r.userExpressions.bad;
    assert.equal(bad.status, "error");
    assert.equal(bad.status === "error" && bad.ename, "ReferenceError");
    assert.equal(bad.status === "error" && bad.evalue, "nope is not defined");
  });
});

Deno.test("Kernel.execute runs TypeScript (types stripped when the code is not JavaScript)", async () => {
  await withKernel(async (k) => {
    ok(
      await k.execute(
        "interface P { x: number }\nenum Color { Red, Green }\n" +
          "function id<T>(v: T): T { return v }\nconst p: P = { x: 2 }",
      ),
    );
    assert.equal(await value(k, "(p.x as number) + Color.Green"), "3");
    // `id<number>(x)` is valid JavaScript (two comparisons): ask for TypeScript explicitly.
    const r = await k.execute("id<number>(p.x)", { typescript: true });
    assert.equal(ok(r).data?.["text/plain"], "2");
  });
});

Deno.test("Kernel.execute imports file modules statically and dynamically, relative to cwd", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/helper.ts`,
      "export const base: number = 40;\nexport default function add(n: number) { return base + n; }\n",
    );
    await withKernel(async (k) => {
      ok(await k.execute('import add, { base } from "./helper.ts"'));
      assert.equal(await value(k, "add(2) + base"), "82");
      assert.equal(await value(k, 'const m = await import("./helper.ts"); m.base'), "40");
      assert.equal(await value(k, 'import * as ns from "./helper.ts"\nns.default(1)'), "41");
    }, { cwd: dir });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Kernel.execute imports npm packages", async () => {
  await withKernel(async (k) => {
    assert.match((await value(k, 'import { version } from "npm:acorn@8"; version'))!, /^"8\./);
  });
});

Deno.test("Kernel output is attributed to its request, also after an await and from a timer", async () => {
  await withKernel(async (k, events) => {
    ok(
      await k.execute(
        "console.log('one'); console.error('err'); await new Promise((r) => setTimeout(r, 5));\n" +
          "console.info('two'); setTimeout(() => console.log('late'), 30)",
        { requestId: "A" },
      ),
    );
    ok(
      await k.execute(
        "console.log('b'); Deno.stdout.writeSync(new TextEncoder().encode('raw\\n'))",
        { requestId: "B" },
      ),
    );
    await until(() => streamText(events, "A").includes("late"));
    assert.equal(streamText(events, "A"), "one\ntwo\nlate\n");
    assert.equal(streamText(events, "A", "stderr"), "err\n");
    assert.equal(streamText(events, "B"), "b\nraw\n");
    // Output precedes the reply: B's stream arrived before the late timer of A.
    const iB = events.findIndex((e) => e.type === "stream" && e.requestId === "B");
    const iLate = events.findIndex((e) => e.type === "stream" && e.text === "late\n");
    assert.ok(iB < iLate);
  });
});

Deno.test("Kernel output: console.table, dir and group are formatted as by Deno", async () => {
  await withKernel(async (k, events) => {
    ok(
      await k.execute(
        "console.table([{ a: 1 }]); console.group('G'); console.log('in'); console.groupEnd()",
        {
          requestId: "t",
        },
      ),
    );
    const text = streamText(events, "t");
    assert.match(text, /│ a │/);
    assert.match(text, /G\n {2}in\n/);
  });
});

Deno.test("Kernel: display() and publishData() in user code become display_data and data_message", async () => {
  await withKernel(async (k, events) => {
    ok(
      await k.execute(
        "display({ k: 1 }); display({ 'text/html': '<i>x</i>' }, { raw: true }); publishData({ n: 3 })",
        {
          requestId: "d",
        },
      ),
    );
    const displays = events.filter((e) => e.type === "display_data" && e.requestId === "d");
    assert.equal(displays.length, 2);
    assert.deepEqual(displays[0].type === "display_data" && displays[0].data, {
      "text/plain": "{ k: 1 }",
    });
    assert.deepEqual(displays[1].type === "display_data" && displays[1].data, {
      "text/html": "<i>x</i>",
    });
    const data = events.find((e) => e.type === "data_message");
    assert.ok(data && data.type === "data_message");
    assert.deepEqual(data.keys, ["n"]);
    assert.deepEqual(deserializeResult(data.buffers), { n: 3 });
    assert.ok(data.buffers.length >= 1 && data.buffers[0] instanceof Uint8Array);
  });
});

Deno.test("Kernel.execute reports a thrown error with name, message and readable user frames", async () => {
  await withKernel(async (k) => {
    const r = await k.execute("function inner() {\n  throw new RangeError('too far');\n}\ninner()");
    assert.equal(r.status, "error");
    assert.ok(r.status === "error");
    assert.equal(r.ename, "RangeError");
    assert.equal(r.evalue, "too far");
    assert.equal(r.executionCount, 1);
    assert.equal(r.traceback[0], "RangeError: too far");
    assert.match(r.traceback[1], /at inner \(cell-1:2:9\)/);
    assert.match(r.traceback[2], /at cell-1:4:1/);
    assert.ok(!r.traceback.some((l) => l.includes("worker.ts")), r.traceback.join("\n"));
    // Custom classes report their class name; non-errors are "Uncaught".
    const c = await k.execute("class MyError extends Error {}\nthrow new MyError('m')");
    assert.equal(c.status === "error" && c.ename, "MyError");
    const u = await k.execute("throw 42");
    assert.equal(u.status === "error" && `${u.ename}: ${u.evalue}`, "Uncaught: 42");
    const s = await k.execute("let = = 1");
    assert.equal(s.status === "error" && s.ename, "SyntaxError");
  });
});

Deno.test("Kernel survives unhandled rejections and uncaught async exceptions, reporting them on stderr", async () => {
  await withKernel(async (k, events) => {
    ok(
      await k.execute("const keep = 1; Promise.reject(new Error('nobody awaits'))", {
        requestId: "r",
      }),
    );
    ok(
      await k.execute("setTimeout(() => { throw new TypeError('in a timer') }, 5)", {
        requestId: "t",
      }),
    );
    await until(() => events.some((e) => e.type === "stream" && e.text.includes("in a timer")));
    assert.match(streamText(events, "r", "stderr"), /Uncaught \(in promise\) Error: nobody awaits/);
    assert.match(
      events.filter((e) => e.type === "stream" && e.name === "stderr").map((e) =>
        (e as StreamEvent).text
      ).join(""),
      /TypeError: in a timer/,
    );
    assert.equal(await value(k, "keep"), "1");
  });
});

Deno.test("Kernel: a 2-second synchronous loop does not block the main thread", async () => {
  await withKernel(async (k) => {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 20);
    try {
      const r = await k.execute("const t0 = Date.now(); while (Date.now() - t0 < 2000) {}; 'done'");
      assert.equal(ok(r).data?.["text/plain"], '"done"');
    } finally {
      clearInterval(timer);
    }
    // 100 periods elapsed; a blocked main thread would have ticked at most once.
    assert.ok(ticks >= 20, `main-thread interval ticked only ${ticks} times`);
  });
});

Deno.test("Kernel.interrupt stops while(true){}, resets the namespace and keeps serving", async () => {
  await withKernel(async (k, events) => {
    ok(await k.execute("const before = 1"));
    const looping = k.execute("while (true) {}", { requestId: "loop" });
    const queued = k.execute("typeof before", { requestId: "queued" });
    await until(() => events.some((e) => e.type === "started" && e.requestId === "loop"));
    assert.equal(await k.interrupt(), true);
    const r = await looping;
    assert.equal(r.status, "error");
    assert.ok(r.status === "error");
    assert.equal(r.ename, "KernelInterrupted");
    assert.match(r.evalue, /namespace was reset/);
    // The queued request ran on the fresh worker, where `before` no longer exists.
    assert.equal(ok(await queued).data?.["text/plain"], '"undefined"');
    assert.equal(await value(k, "1 + 1"), "2");
    assert.equal(await k.interrupt(), false); // nothing running
  });
});

Deno.test("Kernel.interrupt stops a pending await and a single-statement loop body", async () => {
  await withKernel(async (k, events) => {
    const p = k.execute("await new Promise(() => {})", { requestId: "w" });
    await until(() => events.some((e) => e.type === "started" && e.requestId === "w"));
    await k.interrupt();
    assert.equal((await p).status, "error");
    const q = k.execute("let i = 0; for (;;) i++", { requestId: "f" });
    await until(() => events.some((e) => e.type === "started" && e.requestId === "f"));
    await k.interrupt();
    const r = await q;
    assert.equal(r.status === "error" && r.ename, "KernelInterrupted");
    assert.equal(await value(k, "'alive'"), '"alive"');
  });
});

Deno.test("Kernel.clear resets the namespace after the running request", async () => {
  await withKernel(async (k) => {
    ok(await k.execute("var gone = 1; const alsoGone = 2"));
    const running = k.execute("await new Promise((r) => setTimeout(r, 50)); gone");
    const cleared = k.clear();
    assert.equal(ok(await running).data?.["text/plain"], "1");
    await cleared;
    assert.equal(await value(k, "typeof gone + typeof alsoGone"), '"undefinedundefined"');
    assert.equal(k.executionCount, 3);
  });
});

Deno.test("Kernel.cancel aborts a queued request; close aborts the rest and rejects new ones", async () => {
  const k = await Kernel.start();
  try {
    const first = k.execute("await new Promise((r) => setTimeout(r, 50)); 1");
    const second = k.execute("2", { requestId: "second" });
    const third = k.execute("3");
    assert.equal(k.pending, 2);
    assert.equal(k.cancel("second"), true);
    assert.equal(k.cancel("unknown"), false);
    assert.deepEqual(await second, { status: "aborted" });
    assert.equal(ok(await first).data?.["text/plain"], "1");
    assert.equal(ok(await third).data?.["text/plain"], "3");
    const slow = k.execute("await new Promise((r) => setTimeout(r, 10000))");
    const queued = k.execute("4");
    await k.close();
    assert.deepEqual(await slow, { status: "aborted" });
    assert.deepEqual(await queued, { status: "aborted" });
    await assert.rejects(k.execute("5"), IppError);
    await k.close(); // idempotent
  } finally {
    await k.close();
  }
});

Deno.test("Kernel option typescript strips types from every cell", async () => {
  await withKernel(async (k) => {
    ok(await k.execute("const id = <T,>(v: T): T => v"));
    assert.equal(await value(k, "id<number>(3)"), "3");
  }, { typescript: true });
});

Deno.test("Kernel supports await using", async () => {
  let kernel: Kernel;
  {
    await using k = await Kernel.start();
    kernel = k;
    assert.equal(ok(await k.execute("1")).executionCount, 1);
  }
  await assert.rejects(kernel.execute("1"), IppError);
});

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
  name: "Kernel.interrupt leaves no thread spinning in the interrupted loop",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    await withKernel(async (k, events) => {
      const p = k.execute("while (true) {}", { requestId: "spin" });
      await until(() => events.some((e) => e.type === "started" && e.requestId === "spin"));
      await until(() => runningThreads().some((n) => n.startsWith("worker")));
      await k.interrupt();
      await p;
      // Deno's terminate() alone would leave the old worker thread spinning forever.
      await until(() => !runningThreads().some((n) => n.startsWith("worker")));
    });
  },
});

Deno.test("Kernel replies with an error when a result cannot be sent or code tries to exit, and keeps serving", async () => {
  await withKernel(async (k) => {
    const r = await k.execute(
      "({ [Symbol.for('Jupyter.display')]() { return { 'text/plain': 'x', f: () => 1 } } })",
    );
    assert.equal(r.status, "error");
    assert.equal(r.status === "error" && r.ename, "DataCloneError");
    assert.equal(await value(k, "close = 1; onmessage = null; 'still here'"), '"still here"');
    for (const exit of ["Deno.exit(3)", "(await import('node:process')).default.exit(3)"]) {
      const e = await k.execute(exit);
      assert.equal(e.status === "error" && e.evalue.includes("would stop the kernel"), true);
    }
    assert.equal(await value(k, "'alive'"), '"alive"');
  });
});

Deno.test("Kernel.close during an interrupt's restart does not leave interrupt() waiting", async () => {
  await withKernel(async (k, events) => {
    const p = k.execute("while (true) {}", { requestId: "x" });
    await until(() => events.some((e) => e.type === "started" && e.requestId === "x"));
    const interrupted = k.interrupt();
    await k.close();
    assert.equal(await interrupted, true);
    assert.equal((await p).status, "error");
  });
});

Deno.test("Kernel output of a long synchronous cell streams before the cell ends", async () => {
  await withKernel(async (k, events) => {
    let busyWhenSeen: boolean | undefined;
    const p = k.execute(
      "console.log('early'); const t = Date.now(); while (Date.now() - t < 300) {}\n" +
        "for (let i = 0; i < 3; i++) console.log('tick')",
      { requestId: "long" },
    );
    await until(() => {
      if (streamText(events, "long").includes("early")) busyWhenSeen ??= k.busy;
      return busyWhenSeen !== undefined;
    });
    ok(await p);
    assert.equal(busyWhenSeen, true);
    assert.equal(streamText(events, "long"), "early\ntick\ntick\ntick\n");
  });
});

Deno.test("Kernel captures process.stdout.write and Deno.stdout.write", async () => {
  await withKernel(async (k, events) => {
    ok(
      await k.execute(
        "import process from 'node:process'; process.stdout.write('p\\n');\n" +
          "await Deno.stdout.write(new TextEncoder().encode('w\\n')); process.stderr.write('e\\n')",
        { requestId: "io" },
      ),
    );
    assert.equal(streamText(events, "io"), "p\nw\n");
    assert.equal(streamText(events, "io", "stderr"), "e\n");
  });
});
