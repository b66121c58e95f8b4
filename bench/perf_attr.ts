/**
 * Where one thread's on-CPU time goes, from Linux `perf` call graphs: each sample is charged to
 * the nearest JavaScript frame on its stack (the function itself, or what it called in the Deno
 * binary, libc, OpenSSL or the kernel); samples with no JavaScript frame are the runtime's own
 * (event loop, op dispatch, syscalls, wake-ups). Deno's binary is stripped, so this is how its
 * share (V8 builtins such as `JSON.parse`, the interpreter, Rust ops) gets a name.
 *
 * Unlike `--cpu-prof`, which samples wall time and charges a syscall with the time its thread
 * waits to run again, `perf`'s `cpu-clock` counts only time on a CPU. This VM exposes no hardware
 * counters; `cpu-clock` needs none. Not a test. To use it:
 *
 * ```sh
 * # the process under study, with JIT frames named and interpreted frames on the native stack:
 * DENO_V8_FLAGS=--perf-basic-prof,--interpreted-frames-native-stack deno run -A script.ts &
 * perf record -g -e cpu-clock -F 20000 -t <thread id> -o perf.data -- sleep 2
 * perf script -i perf.data > perf.txt
 * deno run --allow-read bench/perf_attr.ts perf.txt [rows]
 * ```
 *
 * (`ps -L -p <pid>` lists a process's threads; an engine's kernel runs in the one named
 * `worker-1`.) V8 writes `/tmp/perf-<pid>.map` for `perf` to name JIT code, and with these
 * flags `isolate-*-v8.log` files in the working directory; remove both after.
 *
 * @module
 */

/** One stack frame: symbol and the object it is in. */
interface Frame {
  sym: string;
  dso: string;
}

/** Parses `perf script` output into stacks, leaf first. */
export function parseStacks(text: string): Frame[][] {
  const stacks: Frame[][] = [];
  let cur: Frame[] | null = null;
  for (const line of text.split("\n")) {
    if (line.trim() === "") {
      if (cur !== null && cur.length > 0) stacks.push(cur);
      cur = null;
    } else if (!/^\s/.test(line)) {
      cur = [];
    } else if (cur !== null) {
      const m = /^\s*[0-9a-f]+\s+(.*) \((.*)\)$/.exec(line);
      if (m) cur.push({ sym: m[1], dso: m[2] });
    }
  }
  if (cur !== null && cur.length > 0) stacks.push(cur);
  return stacks;
}

/** Where a leaf frame is: JIT code, the kernel, or a binary's base name. */
function place(f: Frame): string {
  if (f.dso.includes("perf-")) return "JIT";
  if (f.dso.includes("kallsyms")) return "kernel";
  return f.dso.slice(f.dso.lastIndexOf("/") + 1);
}

/** A JIT frame's short name: tier marker, function, file:line. */
function jsName(sym: string): string | null {
  const m = /^JS:([~^+*]?)'?(\S*) (\S+):(\d+):\d+/.exec(sym);
  if (!m) return null;
  return `${m[1]}${m[2]} ${m[3].slice(m[3].lastIndexOf("/") + 1)}:${m[4]}`;
}

/** The report's lines for `stacks`: totals, the runtime's share, then the top `rows` owners. */
export function attribute(stacks: Frame[][], rows = 40): string[] {
  const n = stacks.length;
  const pct = (x: number) => `${(100 * x / n).toFixed(1)}%`;
  const bump = <K>(m: Map<K, number>, k: K) => m.set(k, (m.get(k) ?? 0) + 1);
  const leaves = new Map<string, number>();
  const noJs = new Map<string, number>();
  const owners = new Map<string, Map<string, number>>();
  for (const stack of stacks) {
    const where = place(stack[0]);
    bump(leaves, where);
    const owner = stack.map((f) => jsName(f.sym)).find((x) => x !== null);
    if (owner === undefined) {
      bump(noJs, where);
      continue;
    }
    const split = owners.get(owner) ?? new Map<string, number>();
    owners.set(owner, split);
    bump(split, where === "JIT" ? "self" : where);
  }
  const list = (m: Map<string, number>) =>
    [...m].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${pct(v)}`).join(", ");
  const total = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
  const out = [
    `${n} samples; leaf: ${list(leaves)}`,
    `no JavaScript frame on the stack (the runtime's own): ${pct(total(noJs))} (${list(noJs)})`,
    "nearest JavaScript frame (its own code, and what it called outside JIT code):",
  ];
  const ranked = [...owners].sort((a, b) => total(b[1]) - total(a[1])).slice(0, rows);
  for (const [name, split] of ranked) {
    out.push(`${pct(total(split)).padStart(6)}  ${name}  [${list(split)}]`);
  }
  return out;
}

if (import.meta.main) {
  const [file, rows] = Deno.args;
  if (file === undefined) {
    console.error("usage: deno run --allow-read bench/perf_attr.ts perf.txt [rows]");
    Deno.exit(2);
  }
  for (const line of attribute(parseStacks(Deno.readTextFileSync(file)), Number(rows ?? 40))) {
    console.log(line);
  }
}
