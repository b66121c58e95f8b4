import assert from "node:assert/strict";
import { CHECK_EVERY, compileCell, compileFunction } from "../../src/engine/kernel/rewrite.ts";

/** Compile and run a cell in this (test) realm's global scope with inert helpers. */
async function run(code: string): Promise<unknown> {
  const c = compileCell(code, { name: "t" });
  const importer = (s: string) => import(s);
  const fn = (0, eval)(c.source)(
    new Int32Array(1),
    () => {
      throw new Error("interrupted");
    },
    importer,
    { url: "file:///" },
  );
  return c.isAsync ? await fn() : fn();
}

Deno.test("compileCell keeps every line of the user's code on its own line number", () => {
  const code = "import {\n  a\n} from 'm'\nconst {\n  b\n} = c\nfunction f() {}\nthrow x";
  const c = compileCell(code, { name: "t" });
  const body = c.source.split("\n");
  // Line 8 (throw) stays line 8 of the generated function.
  assert.match(body[7], /throw x/);
});

Deno.test("compileCell turns declarations into globals and returns the last expression", async () => {
  assert.equal(await run("const rwA = 2; let rwB = 3; rwA * rwB"), 6);
  assert.equal((globalThis as Record<string, unknown>).rwA, 2);
  delete (globalThis as Record<string, unknown>).rwA;
  delete (globalThis as Record<string, unknown>).rwB;
});

Deno.test("compileCell marks a cell async only for top-level await or imports", () => {
  assert.equal(compileCell("1", { name: "t" }).isAsync, false);
  assert.equal(compileCell("async () => { await 1 }", { name: "t" }).isAsync, false);
  assert.equal(compileCell("await 1", { name: "t" }).isAsync, true);
  assert.equal(compileCell("import 'x'", { name: "t" }).isAsync, true);
});

Deno.test("compileCell rewrites import forms into awaited dynamic imports", () => {
  const src = compileCell(
    "import d, { a as b, 'c-d' as e } from 'm'\nimport * as ns from './n.ts'\n" +
      "import j from './j.json' with { type: 'json' }",
    { name: "t" },
  ).source;
  assert.match(src, /\{default:d,a:b,"c-d":e\}=await __ippImport\('m'\)/);
  assert.match(src, /ns=await __ippImport\('\.\/n\.ts'\)/);
  assert.match(src, /__ippImport\('\.\/j\.json',\{with:\{type:'json'\}\}\)/);
});

Deno.test("compileCell rejects import declarations below top level", () => {
  assert.throws(() => compileCell("{ import x from 'm' }", { name: "t" }), SyntaxError);
});

const CHECK_RE = /if\(\(\+\+__ippC&7\)===0&&__ippI\[0\]\)__ippT\(\);/g;

Deno.test("compileCell and compileFunction put an interrupt check in every loop", () => {
  assert.equal(CHECK_EVERY, 8);
  const src = compileCell("while (a) b()\nfor (;;) {}\ndo x(); while (y)", { name: "t" }).source;
  assert.equal(src.match(CHECK_RE)?.length, 3);
  const f = compileFunction("m() { for (const x of y) { z() } }", "fn").source;
  assert.match(f, /for \(const x of y\) \{if\(\(\+\+__ippC&7\)===0&&__ippI\[0\]\)__ippT\(\);/);
});

Deno.test("each function, static block and cell with loops counts in its own local", () => {
  const f = compileFunction(
    'function f() { "use strict"; for (;;) { for (;;) break; break } }',
    "fn",
  ).source;
  // After the directive, which must stay first; one counter for both loops.
  assert.match(f, /"use strict"; let __ippC=-1;for/);
  assert.equal(f.match(/let __ippC=-1;/g)?.length, 2, "the function's and the wrapper's");
  const c = compileCell(
    "for (;;) break\nclass K { static { while (false) {} } m() { do {} while (false) } }\n" +
      "const g = () => 1, h = (x) => { for (const y of [x]) {} return x }",
    { name: "t" },
  ).source;
  assert.match(c, /static \{ let __ippC=-1;while/);
  assert.match(c, /m\(\) \{ let __ippC=-1;do/);
  assert.match(c, /\(x\) => \{ let __ippC=-1;for/);
  assert.equal(c.match(/let __ippC=-1;/g)?.length, 4, "the cell's, the block's, m's and h's");
  const arrow = compileFunction("(a) => a + 1", "fn").source;
  assert.equal(arrow.match(/__ippC/g)?.length, 1, "only the wrapper's: no loop, no counter");
});

Deno.test("a loop reads the flag on its function's first iteration, then every 8", () => {
  let reads = 0;
  const flag = new Proxy(new Int32Array(1), {
    get: (t, k) => {
      if (k === "0") reads++;
      return Reflect.get(t, k);
    },
  });
  const c = compileFunction("function count(n) { let i = 0; while (i < n) i++; return i }", "fn");
  const count = (0, eval)(c.source)(flag, () => {
    throw new Error("interrupted");
  }) as (n: number) => number;
  assert.equal(count(1), 1);
  assert.equal(reads, 1, "iteration 1");
  reads = 0;
  assert.equal(count(17), 17);
  assert.equal(reads, 3, "iterations 1, 9 and 17");
  reads = 0;
  assert.equal(count(0), 0);
  assert.equal(reads, 0);
});

Deno.test("an instrumented loop throws once the interrupt flag is set", () => {
  const flag = new Int32Array(1);
  const c = compileFunction(
    "function spin(n) { let i = 0; while (true) { if (++i === n) return i } }",
    "fn",
  );
  const spin = (0, eval)(c.source)(flag, () => {
    throw new Error("interrupted");
  }) as (n: number) => number;
  assert.equal(spin(1000), 1000);
  flag[0] = 1;
  assert.throws(() => spin(1000), /interrupted/);
});

Deno.test("compileCell leaves a top-level for-var loop variable global, a for-let one local", async () => {
  assert.equal(
    await run("for (var rwI = 0; rwI < 3; rwI++) {}\nfor (var rwK of [7]) {}\nrwI + rwK"),
    10,
  );
  assert.equal((globalThis as Record<string, unknown>).rwI, 3);
  assert.equal(await run("for (let rwJ = 0; rwJ < 3; rwJ++) {}\ntypeof rwJ"), "undefined");
  delete (globalThis as Record<string, unknown>).rwI;
  delete (globalThis as Record<string, unknown>).rwK;
});
