/**
 * How values and errors look to clients: Jupyter mime bundles for `execute_result` and
 * `display_data`, and `{ename, evalue, traceback}` for errors. Runs in the kernel worker.
 *
 * @module
 */

/** A Jupyter mime bundle: mime type → data (`"text/plain"` is always present). */
export type MimeBundle = Record<string, unknown>;

/** The symbol Deno's Jupyter kernel uses for rich display: `[$display]()` returns a bundle. */
export const $display: unique symbol = Symbol.for("Jupyter.display") as never;

/** `Deno.inspect` options for `text/plain`, as the Deno REPL prints values, without colours. */
const INSPECT: Deno.InspectOptions = { colors: false, depth: 4, iterableLimit: 100 };

/**
 * Plain-text representation of a value, as Deno's REPL shows it.
 *
 * @param value Any value.
 * @returns `Deno.inspect(value)`, strings quoted.
 */
export function reprText(value: unknown): string {
  return Deno.inspect(value, INSPECT);
}

function base64(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(s);
}

function imageType(b: Uint8Array): string | undefined {
  if (b.length > 8 && b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47) {
    return "image/png";
  }
  if (b.length > 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return "image/jpeg";
  return undefined;
}

/**
 * The mime bundle of a value, in order of preference:
 * 1. `value[Symbol.for("Jupyter.display")]()` (may be async), as with Deno's Jupyter kernel;
 *    `text/plain` is added when the bundle lacks it;
 * 2. PNG or JPEG bytes (`Uint8Array`) as `image/png`/`image/jpeg` (base64);
 * 3. `text/plain` only.
 *
 * @param value The value to show.
 * @returns The bundle; a promise only when the value's display method returns one.
 */
export function mimeBundle(value: unknown): MimeBundle | Promise<MimeBundle> {
  if (value !== null && (typeof value === "object" || typeof value === "function")) {
    const f = (value as Record<symbol, unknown>)[$display];
    if (typeof f === "function") {
      const complete = (b: unknown): MimeBundle => {
        if (!b || typeof b !== "object") return { "text/plain": reprText(value) };
        const bundle = { ...(b as MimeBundle) };
        bundle["text/plain"] ??= reprText(value);
        return bundle;
      };
      const b = f.call(value);
      return b instanceof Promise ? b.then(complete) : complete(b);
    }
    if (value instanceof Uint8Array) {
      const t = imageType(value);
      if (t) return { [t]: base64(value), "text/plain": `<${t}, ${value.length} bytes>` };
    }
  }
  return { "text/plain": reprText(value) };
}

/** An error as Jupyter reports it (PROTOCOL.md §6.4, without `engine_info`). */
export interface ErrorContent {
  /** Always `"error"`. */
  status: "error";
  /** The exception's class name. */
  ename: string;
  /** Its message. */
  evalue: string;
  /** Lines: `"<ename>: <evalue>"`, then the stack frames of user code. */
  traceback: string[];
}

/** How to clean a stack: cut at frames of these URL prefixes, and fix cell columns. */
export interface StackContext {
  /** Frames whose location starts with one of these are kernel internals: cut from there. */
  internal: string[];
  /** Per source name (cell-3, fn-1…): characters added by the wrapper on line 1. */
  prefixes: Map<string, number>;
}

const FRAME = /^\s+at /;

function cleanFrame(line: string, ctx: StackContext): string {
  // Deno prints eval frames as `(cell-3, <anonymous>:2:5)`; show `cell-3:2:5`.
  return line.replace(
    /(?:\(|at )([^\s(),]+), <anonymous>:(\d+):(\d+)\)?$/,
    (m, name: string, l: string, c: string) => {
      const prefix = ctx.prefixes.get(name);
      if (prefix === undefined) return m;
      const col = l === "1" ? Math.max(1, Number(c) - prefix) : Number(c);
      return (m.startsWith("(") ? "(" : "at ") + `${name}:${l}:${col}` +
        (m.startsWith("(") ? ")" : "");
    },
  ).replace(/^(\s+at )(?:async )?eval \(([^\s():]+:\d+:\d+)\)$/, "$1$2");
}

/**
 * Turn a thrown value into error content: `ename` is the error's `name` (its class name when
 * `name` is the inherited `"Error"`), `evalue` its message; a thrown non-error gets ename
 * `"Uncaught"` and its inspected value. The traceback keeps the user's frames and drops the
 * kernel's own.
 *
 * @param error What was thrown.
 * @param ctx Which frames are internal, and cell column offsets.
 * @param depth Nesting of `cause`s already shown (at most 5 are).
 * @returns The error content.
 */
export function errorContent(error: unknown, ctx: StackContext, depth = 0): ErrorContent {
  if (!(error instanceof Error)) {
    const text = reprText(error);
    return { status: "error", ename: "Uncaught", evalue: text, traceback: [`Uncaught ${text}`] };
  }
  let ename = String(error.name || "Error");
  if (ename === "Error" && error.constructor?.name && error.constructor.name !== "Error") {
    ename = error.constructor.name;
  }
  const evalue = String(error.message ?? "");
  const traceback = [evalue ? `${ename}: ${evalue}` : ename];
  const stack = typeof error.stack === "string" ? error.stack.split("\n") : [];
  for (const line of stack) {
    if (!FRAME.test(line)) continue;
    if (ctx.internal.some((p) => line.includes(p))) break;
    traceback.push(cleanFrame(line, ctx));
  }
  if (error.cause !== undefined && depth < 5) {
    const c = errorContent(error.cause, ctx, depth + 1);
    traceback.push(`Caused by: ${c.traceback[0]}`, ...c.traceback.slice(1));
  }
  return { status: "error", ename, evalue, traceback };
}
