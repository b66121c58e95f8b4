import assert from "node:assert/strict";
import { compileCell, compileFunction } from "../../src/engine/kernel/rewrite.ts";

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

const CHECK_RE = /if\(__ippI\[0\]\)throw __ippT\(\);/g;

Deno.test("compileCell and compileFunction put an interrupt check in every loop, and nothing else", () => {
  const src = compileCell("while (a) b()\nfor (;;) {}\ndo x(); while (y)", { name: "t" }).source;
  assert.equal(src.match(CHECK_RE)?.length, 3);
  const f = compileFunction("m() { for (const x of y) { z() } }", "fn").source;
  assert.match(f, /for \(const x of y\) \{if\(__ippI\[0\]\)throw __ippT\(\);/);
  // A directive stays first; a function without loops is left as it was.
  const strict = compileFunction(
    'function f() { "use strict"; for (;;) { for (;;) break; break } }',
    "fn",
  ).source;
  assert.match(strict, /\{ "use strict"; for/);
  assert.equal(strict.match(CHECK_RE)?.length, 2);
  const c = compileCell(
    "for (;;) break\nclass K { static { while (false) {} } m() { do {} while (false) } }\n" +
      "const g = () => 1, h = (x) => { for (const y of [x]) {} return x }",
    { name: "t" },
  ).source;
  assert.equal(c.match(CHECK_RE)?.length, 4);
  const arrow = compileFunction("(a) => a + 1", "fn").source;
  assert.equal(arrow.match(/\b__ipp[IT]\b/g)?.length, 2, "only the wrapper's parameters");
});

Deno.test("a loop reads the flag at every iteration", () => {
  let reads = 0;
  const flag = new Proxy(new Int32Array(1), {
    get: (t, k) => {
      if (k === "0") reads++;
      return Reflect.get(t, k);
    },
  });
  const c = compileFunction("function count(n) { let i = 0; while (i < n) i++; return i }", "fn");
  const count = (0, eval)(c.source)(flag, () => new Error("interrupted")) as (n: number) => number;
  assert.equal(count(1), 1);
  assert.equal(reads, 1);
  reads = 0;
  assert.equal(count(17), 17);
  assert.equal(reads, 17);
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
  const spin = (0, eval)(c.source)(flag, () => new Error("interrupted")) as (n: number) => number;
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
