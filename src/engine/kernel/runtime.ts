/**
 * The kernel worker's user-code runtime: the persistent namespace (the worker's global
 * object), cell and function compilation with interrupt checks, `execute` and `apply`, the
 * user globals (`display`, `publishData`, `__ipp_push__`, `__ipp_pull__`), output capture and
 * the in-place namespace reset. Transport-free: `serve.ts` drives it from the engine's shell
 * and IOPub sockets.
 *
 * - **The namespace** is the worker's global object: `globalThis.x = 42` then `x` works,
 *   functions see each other's globals, npm modules see the same globals, and a lookup costs
 *   nothing. Clear and interrupt reset it in place (`namespace.ts`).
 * - **REPL semantics** (`rewrite.ts`): each cell becomes one function; top-level `var`,
 *   `let`, `const` (with destructuring), `function` and `class` declarations become globals
 *   (later cells see them and may redeclare them); static `import`s become `await import()`
 *   with relative specifiers resolved against the configured `cwd` (dynamic `import()` too);
 *   top-level `await` makes the cell async; the value of a final expression statement is the
 *   `execute_result`. TypeScript is stripped with sucrase when the code does not parse as
 *   JavaScript, or always in TypeScript mode (`strip_types.ts`).
 * - **Output** (`capture.ts`): console and stdout/stderr writes become `stream` events of the
 *   request that caused them, also from timers and after awaits (AsyncLocalStorage).
 *   `display(value)` → `display_data`; `publishData(dict)` → `data_message`. Unhandled
 *   rejections and uncaught exceptions of async user code are written to that request's
 *   stderr; the worker keeps serving.
 * - **Interrupts**: compiled cells and functions check a shared interrupt flag in their loop
 *   bodies (a plain read of shared memory at every iteration, see `rewrite.ts`), so a
 *   synchronous endless loop can be stopped; a loop inside imported library code does not
 *   check it.
 *
 * **push, pull and clear on the wire** (PROTOCOL.md §6, §9). Only `execute_request` and
 * `apply_request` travel on shell, so a JavaScript client encodes:
 * - **push(ns)**: `apply_request` with `f = Reference("__ipp_push__")`, no positional
 *   arguments and the names as keyword arguments (as Python's `DirectView.push` does with
 *   `_push(**ns)`); the function receives them as one object (the kwargs convention of
 *   `codec.ts`) and assigns each to the namespace. Returns `undefined`.
 * - **pull(names)**: `apply_request` with `f = Reference("__ipp_pull__")` and one argument,
 *   a name or an array of names; the reply is the value or the array of values. As in
 *   Python, a name may be an expression (`"a.b"`, `"x * 2"`), evaluated in the namespace.
 * - **clear()**: `clear_request` on control (§6.5.1).
 *
 * A Python client can call these too, with `Reference`s and JSON-like pickled arguments
 * (the reply is then a pickle).
 *
 * @module
 */

/// <reference lib="deno.worker" />

import { AsyncLocalStorage } from "node:async_hooks";
import process from "node:process";
import { decodeApply, encodeValue } from "./codec.ts";
import { installCapture, Outbox } from "./capture.ts";
import {
  errorContent,
  type MimeBundle,
  mimeBundle,
  reprText,
  type StackContext,
} from "./format.ts";
import { Namespace } from "./namespace.ts";
import type * as Rewrite from "./rewrite.ts";
import { stripTypes } from "./strip_types.ts";
import type { ApplyReply, ExecuteReply, KernelEvent, UserExpressionResult } from "./types.ts";

const als = new AsyncLocalStorage<string>();
let running: string | null = null;
let last: string | null = null;
let flag: Int32Array<ArrayBufferLike> = new Int32Array(1);
let cwdUrl = "file:///";

type Sink = (events: KernelEvent[], sync: boolean) => void;
let sink: Sink = () => {};
/**
 * Publishes the running request's deferred `busy` when its code returns a promise (this thread
 * is about to be free). One that holds the thread is announced by the main thread (`looks.ts`).
 */
let announce: () => void = () => {};
/** Output of user code, batched (see `capture.ts`); flushed to the sink set by {@linkcode configure}. */
export const outbox: Outbox = new Outbox((events, sync) => sink(events, sync));

/** A cell to run (from an `execute_request`). */
export interface ExecRequest {
  /** Request id (for events). */
  rid: string;
  /** The code. */
  code: string;
  /** No `execute_result` when true. */
  silent: boolean;
  /** Execution count of this cell (for `execute_result`). */
  count: number;
  /** Source name for stack traces. */
  name: string;
  /** `user_expressions`. */
  expressions: Record<string, string>;
  /** Strip TypeScript types first (else only when the code does not parse as JavaScript). */
  ts: boolean;
}

/** A function call (from an `apply_request`). */
export interface ApplyRequest {
  /** The request's buffers. */
  frames: Uint8Array[];
  /** Source name for the function in stack traces. */
  name: string;
}
const current = () => als.getStore() ?? running ?? last;
installCapture(outbox, current);

/**
 * Set where the runtime's output goes, the interrupt flag its compiled code checks, and the
 * directory relative imports resolve against.
 * @param options `events` receives flushed output (`sync`: written by user code that may
 *   still hold the thread); `flag` is a one-`Int32` view of shared memory (`Flag` of
 *   `protocol.ts`); `announce` publishes the running request's deferred `busy` (its user code
 *   returned a promise); `cwd` is a directory path.
 */
export function configure(options: {
  events?: Sink;
  flag?: Int32Array<ArrayBufferLike>;
  announce?: () => void;
  cwd?: string;
}): void {
  if (options.events) sink = options.events;
  if (options.announce) announce = options.announce;
  if (options.flag) setFlag(options.flag);
  if (options.cwd !== undefined) {
    const cwd = options.cwd;
    cwdUrl = new URL(cwd.endsWith("/") ? cwd : cwd + "/", "file:///").href;
  }
}

/**
 * Point compiled code at a new interrupt flag: caches of compiled cells and functions (which
 * hold the old flag) are dropped.
 * @param view A one-`Int32` view of shared memory.
 */
function setFlag(view: Int32Array<ArrayBufferLike>): void {
  flag = view;
  functions.clear();
  forgetCells();
}

const stackContext: StackContext = {
  internal: [new URL("./", import.meta.url).href, "AsyncLocalStorage.run"],
  prefixes: new Map(),
};
const MAX_PREFIXES = 1000;
function remember(name: string, prefixLength: number): void {
  if (stackContext.prefixes.size >= MAX_PREFIXES) {
    stackContext.prefixes.delete(stackContext.prefixes.keys().next().value!);
  }
  stackContext.prefixes.set(name, prefixLength);
}

/** Thrown inside user loops once the main thread has set the interrupt flag. */
class KernelInterrupted extends Error {
  constructor() {
    super("interrupted");
    this.name = "KernelInterrupted";
  }
}
/** The error a loop check that found the flag set throws (`rewrite.ts`). */
const interrupted = () => new KernelInterrupted();

function importer(spec: string, options?: ImportCallOptions): Promise<unknown> {
  if (/^\.{0,2}\//.test(spec)) spec = new URL(spec, cwdUrl).href;
  return import(spec, options);
}
const meta = {
  get url() {
    return cwdUrl;
  },
  main: false,
  resolve: (s: string) => /^\.{0,2}\//.test(s) ? new URL(s, cwdUrl).href : import.meta.resolve(s),
};
const helpers = () => [flag, interrupted, importer, meta] as const;

function define(name: string, value: unknown): void {
  Object.defineProperty(globalThis, name, {
    value,
    writable: true,
    configurable: true,
    enumerable: false,
  });
}

function emitDisplay(data: MimeBundle, options: DisplayOptions): void {
  outbox.push({
    type: "display_data",
    requestId: current(),
    data,
    metadata: options.metadata ?? {},
    transient: options.transient ?? {},
  });
}

interface DisplayOptions {
  raw?: boolean;
  metadata?: Record<string, unknown>;
  transient?: Record<string, unknown>;
}

define("display", (value: unknown, options: DisplayOptions = {}): Promise<void> | void => {
  if (options.raw) return emitDisplay(value as MimeBundle, options);
  const b = mimeBundle(value);
  if (b instanceof Promise) return b.then((d) => emitDisplay(d, options));
  emitDisplay(b, options);
});
define("publishData", (data: Record<string, unknown>): void => {
  // Frames may alias the data's memory or the encoder's pool: publish a snapshot.
  const buffers = encodeValue(data).map((f) => f.slice());
  outbox.push({ type: "data_message", requestId: current(), keys: Object.keys(data), buffers });
});
define("__ipp_push__", (ns: Record<string, unknown>): void => {
  for (const [k, v] of Object.entries(ns ?? {})) (globalThis as Record<string, unknown>)[k] = v;
});
define("__ipp_pull__", (names: string | string[]): unknown => {
  return Array.isArray(names) ? names.map(lookup) : lookup(names);
});

/** A name (or expression, as Python engines allow) in the user namespace. */
function lookup(name: string): unknown {
  if (/^[\p{L}_$][\p{L}\p{N}_$]*$/u.test(name)) {
    if (!(name in globalThis)) throw new ReferenceError(`${name} is not defined`);
    return (globalThis as Record<string, unknown>)[name];
  }
  return (0, eval)(name);
}

/**
 * Write an error with its traceback on a request's stderr.
 * @param prefix Text before the traceback.
 * @param error The error.
 * @param requestId The request, or `null`.
 */
function report(prefix: string, error: unknown, requestId: string | null): void {
  const c = errorContent(error, stackContext);
  outbox.stream(requestId, "stderr", `${prefix}${c.traceback.join("\n")}\n`);
}

// Errors nobody handles must not end the worker: report them on stderr, keep serving.
self.addEventListener("error", (e) => {
  e.preventDefault();
  report("Uncaught ", e.error ?? e.message, current());
});
self.addEventListener("unhandledrejection", (e) => {
  e.preventDefault();
  report("Uncaught (in promise) ", e.reason, current());
});

// The cell compiler (and its parser, acorn) loads on first use, not at worker start: a
// worker is ready sooner (engine start, 64-engine registration), and pull/push/Reference
// calls never need it.
let rewrite: typeof Rewrite | undefined;
async function loadRewrite(): Promise<typeof Rewrite> {
  return rewrite ??= await import("./rewrite.ts");
}

async function compile(code: string, name: string, ts: boolean) {
  const { compileCell } = await loadRewrite();
  if (ts) code = await stripTypes(code);
  try {
    return compileCell(code, { name });
  } catch (e) {
    if (ts || !(e instanceof SyntaxError)) throw e;
    let stripped: string;
    try {
      stripped = await stripTypes(code);
    } catch {
      throw e; // not TypeScript either: report the JavaScript error
    }
    return compileCell(stripped, { name });
  }
}

type Factory = (...h: ReturnType<typeof helpers>) => () => unknown;
/**
 * A cell rewritten once, its `//# sourceURL=` left without a name (append the run's name);
 * silent runs reuse one factory (and the name of the first run) instead of `eval` anew.
 */
type CachedCell = Rewrite.CompiledCell & { silent?: Factory };
/**
 * Rewritten cells by language and code: a repeated `execute` (loops of `view.execute`) skips
 * type stripping, parsing and rewriting. A stored-history cell is still evaluated under its
 * own name (`cell-<n>`), so its tracebacks name the run that raised; a silent one reuses the
 * factory of its first run.
 */
const cells = new Map<string, CachedCell>();
const MAX_CELLS = 256;
/** Characters of code and rewritten source the cache holds at most (a larger cell is not kept). */
const MAX_CELL_CHARS = 4_000_000;
let cellChars = 0;

function cacheCell(key: string, cell: CachedCell): void {
  const size = key.length + cell.source.length;
  if (size > MAX_CELL_CHARS) return;
  for (const [oldKey, old] of cells) {
    if (cells.size < MAX_CELLS && cellChars + size <= MAX_CELL_CHARS) break;
    cells.delete(oldKey);
    cellChars -= oldKey.length + old.source.length;
  }
  cells.set(key, cell);
  cellChars += size;
}

function forgetCells(): void {
  cells.clear();
  cellChars = 0;
}

async function cellFunction(msg: ExecRequest) {
  const key = `${msg.ts ? "ts" : "js"}:${msg.code}`;
  let cell = cells.get(key);
  if (cell === undefined) {
    cell = await compile(msg.code, "", msg.ts);
    cacheCell(key, cell);
  }
  let factory = msg.silent ? cell.silent : undefined;
  if (factory === undefined) {
    remember(msg.name, cell.prefixLength);
    factory = (0, eval)(cell.source + msg.name) as Factory;
    if (msg.silent) cell.silent = factory;
  }
  return { fn: factory(...helpers()), isAsync: cell.isAsync, hasValue: cell.hasValue };
}

/**
 * Run a cell.
 * @param msg The cell and its options.
 * @returns The reply.
 */
export async function execute(msg: ExecRequest): Promise<ExecuteReply> {
  try {
    const cell = await cellFunction(msg);
    const fn = cell.fn;
    let value = fn();
    if (cell.isAsync) {
      announce(); // it awaits: the request is running, and busy is news
      value = await value;
    }
    let data: MimeBundle | undefined;
    if (cell.hasValue && value !== undefined && !msg.silent) {
      data = await mimeBundle(value);
      outbox.queue({
        type: "execute_result",
        requestId: msg.rid,
        data,
        metadata: {},
        executionCount: msg.count,
      });
    }
    const userExpressions: Record<string, UserExpressionResult> = {};
    for (const [key, expr] of Object.entries(msg.expressions)) {
      try {
        userExpressions[key] = {
          status: "ok",
          data: await mimeBundle((0, eval)(expr)),
          metadata: {},
        };
      } catch (e) {
        userExpressions[key] = errorContent(e, stackContext);
      }
    }
    const reply: ExecuteReply = { status: "ok", executionCount: msg.count, userExpressions };
    if (data) reply.data = data;
    return reply;
  } catch (e) {
    return { ...errorContent(e, stackContext), executionCount: msg.count, userExpressions: {} };
  }
}

const functions = new Map<string, (...a: unknown[]) => unknown>();
const MAX_FUNCTIONS = 256;

async function compiledFunction(
  source: string,
  name: string,
): Promise<(...a: unknown[]) => unknown> {
  let fn = functions.get(source);
  if (!fn) {
    const c = (rewrite ?? await loadRewrite()).compileFunction(source, name);
    remember(name, c.prefixLength);
    fn = (0, eval)(c.source)(...helpers()) as (...a: unknown[]) => unknown;
    if (typeof fn !== "function") throw new TypeError("apply: source is not a function");
    if (functions.size >= MAX_FUNCTIONS) functions.delete(functions.keys().next().value!);
    functions.set(source, fn);
  }
  return fn;
}

/**
 * Call a function from `apply_request` buffers.
 * @param msg The request's buffers and the source name for traces.
 * @returns The reply; an ok reply's buffers are the encoder's frames, which may alias the
 *   result's memory (a user's array) or a pool shared with later calls.
 */
export async function apply(msg: ApplyRequest): Promise<ApplyReply> {
  try {
    const call = decodeApply(msg.frames, lookup);
    const t = call.target;
    const fn = t.kind === "source"
      ? (functions.get(t.source) ?? await compiledFunction(t.source, msg.name))
      : t.value;
    if (typeof fn !== "function") {
      throw new TypeError(`${t.name || "apply target"} is not a function: ${reprText(fn)}`);
    }
    const args = Object.keys(call.kwargs).length ? [...call.args, call.kwargs] : call.args;
    let result = fn(...args);
    if (result instanceof Promise) {
      announce(); // it awaits: the request is running, and busy is news
      result = await result;
    }
    return { status: "ok", buffers: encodeValue(result, call.format), format: call.format };
  } catch (e) {
    return errorContent(e, stackContext);
  }
}

/**
 * Run one request's code with its id as the owner of the output it writes (also from its
 * timers and continuations).
 * @param rid The request id.
 * @param fn The work.
 * @returns Its result.
 */
export async function runRequest<T>(rid: string, fn: () => Promise<T>): Promise<T> {
  running = last = rid;
  outbox.requestStarted();
  try {
    return await als.run(rid, fn);
  } finally {
    if (running === rid) running = null;
  }
}

// `close()` and `Deno.exit()` would end the worker silently, leaving the request without a
// reply; like IPython with `sys.exit()`, report an error instead.
const noExit = (what: string) => () => {
  throw new Error(`${what} would stop the kernel; to reset the namespace, clear the engine`);
};
define("close", noExit("close()"));
Object.defineProperty(Deno, "exit", { value: noExit("Deno.exit()"), configurable: true });
Object.defineProperty(process, "exit", { value: noExit("process.exit()"), configurable: true });
Object.defineProperty(process, "reallyExit", {
  value: noExit("process.exit()"),
  configurable: true,
});

/** The namespace's pristine state, taken once every runtime global is defined. */
const namespace = new Namespace(() => als.getStore() !== undefined);

/**
 * Reset the namespace in place: user globals removed, overwritten built-in globals restored,
 * timers that user code started cancelled, compiled code forgotten (see `namespace.ts`).
 */
export function resetNamespace(): void {
  namespace.reset();
  functions.clear();
  forgetCells();
  outbox.take();
}
