/**
 * The kernel: runs users' JavaScript and TypeScript in a persistent namespace, one request
 * at a time, in a worker, without ever blocking the calling thread. Transport-free: a caller
 * uses {@linkcode Kernel.execute} and {@linkcode Kernel.apply} (one worker round trip each)
 * and receives {@linkcode KernelEvent}s.
 *
 * An engine does not go through this class: its kernel worker serves the shell and IOPub
 * sockets itself (`serve.ts`, `host.ts`), so requests never cross threads, and it resets the
 * namespace in place (`namespace.ts`) instead of restarting the worker, since the worker
 * owns the engine's connections. The runtime (`runtime.ts`: namespace, REPL semantics,
 * output capture, push/pull helpers) is the same in both.
 *
 * ## Design
 *
 * - **A worker.** User code runs in a module Web Worker (`worker.ts`). The worker's global
 *   object *is* the user namespace: that is what JavaScript code expects (`globalThis.x = 42`
 *   then `x` works, functions see each other's globals, npm modules see the same globals),
 *   it costs nothing per lookup, and clearing it is simply starting a fresh worker.
 * - **REPL semantics** (`rewrite.ts`): each cell becomes one function; top-level `var`,
 *   `let`, `const` (with destructuring), `function` and `class` declarations become globals
 *   (so later cells see them and may redeclare them); static `import`s become `await import()`
 *   with relative specifiers resolved against the kernel's `cwd` (dynamic `import()` too);
 *   top-level `await` makes the cell async; the value of a final expression statement is the
 *   `execute_result`. TypeScript is stripped with sucrase only when the code does not parse
 *   as JavaScript or when asked (`strip_types.ts`).
 * - **Output** (`capture.ts`): console and stdout/stderr writes become `stream` events of the
 *   request that caused them, also from timers and after awaits (AsyncLocalStorage).
 *   (`Deno.stdout.writable`, the stream form, is not captured.)
 *   `display(value)` → `display_data`; `publishData(dict)` → `data_message`. Unhandled
 *   rejections and uncaught exceptions of async user code are written to that request's
 *   stderr; the worker keeps serving.
 * - **Messages** (`protocol.ts`): one `postMessage` per request and one per reply (the reply
 *   carries the request's pending output); large frames are transferred, not copied.
 *   Serialization (`codec.ts`, the only user of `src/protocol/serialize.ts`) happens in the
 *   worker, so big arguments and results never block the main thread.
 * - **Cost**: a trivial request costs one worker round trip plus a little work; measured on a
 *   loaded 2-core machine, silent `execute("1")` ≈ 30–60 µs, `apply` of `(a, b) => a + b`
 *   ≈ 45–65 µs, non-silent `execute` ≈ 120 µs (a new cell is parsed and compiled each time so
 *   tracebacks can name it `cell-N`; silent cells are cached by their code). A bare worker
 *   ping is ≈ 32 µs on the same machine.
 * - **Queue**: requests run in arrival order, one at a time; each call returns a promise of
 *   its reply. {@linkcode Kernel.cancel} drops a queued request (reply `aborted`), for the
 *   engine's `abort_request`. `stop_on_error` (aborting queued executes after a failed one)
 *   is the engine's policy, built on `cancel`. The kernel publishes no `error` events: the
 *   engine adds `engine_info` and publishes the error reply content on IOPub.
 *
 * ## Interrupt, clear and restarts
 *
 * {@linkcode Kernel.interrupt} stops the running request even in a synchronous endless loop:
 * the running request gets an error reply with ename `"KernelInterrupted"`, the worker is
 * terminated and a fresh one started, so **the namespace is reset** (like a restarted
 * Jupyter kernel); queued requests then run on the new worker. Deno 2.9's
 * `Worker.terminate()` does not stop a thread that is busy in JavaScript (the thread spins on,
 * invisible; denoland/deno#35657 discusses it), so the kernel also sets a shared interrupt
 * flag that every loop in user code checks (the rewrite adds `if (flag[0]) throw` to each
 * loop body: a plain read of shared memory, about 2 ns per iteration, which V8 does not hoist
 * out of loops — a test checks it); the old thread then unwinds and exits. A loop inside
 * imported library code does not check the flag and keeps its thread busy until it ends.
 * Interrupting an idle kernel does nothing.
 *
 * {@linkcode Kernel.clear} (the engine's `clear_request`) waits for the running request, then,
 * before any queued one, replaces the worker by a fresh one: every user global, timer, open
 * resource and imported module instance is gone. Execution counts continue.
 *
 * ## push, pull and clear on the wire (PROTOCOL.md §6, §9)
 *
 * Only `execute_request` and `apply_request` travel on shell, so a JavaScript client encodes:
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
 * @example
 * ```ts
 * import { Kernel } from "./kernel.ts";
 * await using kernel = await Kernel.start({ onEvent: (e) => console.log(e) });
 * await kernel.execute("const x = 6 * 7");
 * const reply = await kernel.execute("x");
 * // reply.status === "ok", reply.data?.["text/plain"] === "42"
 * ```
 *
 * @module
 */

import { IppError } from "../../errors.ts";
import { type FromWorker, ownedFrames, type ToWorker } from "./protocol.ts";
import type { AbortedReply, ApplyReply, ErrorContent, ExecuteReply, KernelEvent } from "./types.ts";

/** Options of {@linkcode Kernel.start}. */
export interface KernelOptions {
  /**
   * Receives every event (output, displays, data, execute input/result, task start), in
   * order, each with its request id. Exceptions it throws are ignored.
   */
  onEvent?: (event: KernelEvent) => void;
  /** Directory that relative imports in user code resolve against. Default `Deno.cwd()`. */
  cwd?: string;
  /** Milliseconds to wait for a worker to start. Default 30 000. */
  startTimeoutMs?: number;
  /**
   * Treat all cells as TypeScript (strip types first). Default false: types are stripped only
   * when a cell does not parse as JavaScript. Set it where cells are TypeScript: a few
   * TypeScript snippets are also valid JavaScript with another meaning (`f<T>(x)` parses as
   * two comparisons).
   */
  typescript?: boolean;
}

/** Options of {@linkcode Kernel.execute}. */
export interface ExecuteOptions {
  /** Id of the request (the `msg_id`): events carry it. Default: a random UUID. */
  requestId?: string;
  /** No `execute_input`/`execute_result`, no new execution count. Default false. */
  silent?: boolean;
  /** Count this cell in history (a new execution count). Default `!silent`; never when silent. */
  storeHistory?: boolean;
  /** Expressions to evaluate after the code, by name (`user_expressions`). */
  userExpressions?: Record<string, string>;
  /** Treat the code as TypeScript (strip types first). Default: the kernel's `typescript` option. */
  typescript?: boolean;
}

/** Options of {@linkcode Kernel.apply}. */
export interface ApplyOptions {
  /** Id of the request (the `msg_id`). Default: a random UUID. */
  requestId?: string;
  /**
   * Hand the frames' memory to the worker: a frame that spans its whole `ArrayBuffer` is
   * transferred (detached here) instead of copied. Default true (the engine does not need
   * request buffers after the call); false copies every frame.
   */
  transfer?: boolean;
}

interface Task {
  kind: "exec" | "apply";
  requestId: string;
  msg: ToWorker;
  transfer: ArrayBuffer[];
  options?: ExecuteOptions;
  resolve: (reply: ExecuteReply | ApplyReply) => void;
}

interface Control {
  kind: "clear";
  resolve: () => void;
  reject: (e: unknown) => void;
}

const ABORTED: AbortedReply = { status: "aborted" };

/**
 * A persistent JavaScript/TypeScript namespace in a worker, with a request queue. See the
 * module documentation for semantics.
 */
export class Kernel {
  #options: KernelOptions;
  #worker!: Worker;
  #flag!: Int32Array;
  #ready!: Promise<void>;
  #settleReady: ((error?: unknown) => void) | undefined;
  #isReady = false;
  #queue: (Task | Control)[] = [];
  #running: Task | undefined;
  #count = 0;
  #seq = 0;
  #closed = false;

  private constructor(options: KernelOptions) {
    this.#options = options;
  }

  /**
   * Start a kernel and wait until its worker is ready.
   *
   * @param options Event callback, working directory, start timeout.
   * @returns The kernel.
   * @throws {IppError} when the worker cannot start in time.
   * @example
   * ```ts
   * import { Kernel } from "./kernel.ts";
   * const kernel = await Kernel.start();
   * await kernel.close();
   * ```
   */
  static async start(options: KernelOptions = {}): Promise<Kernel> {
    const k = new Kernel(options);
    k.#spawn();
    try {
      await k.#ready;
    } catch (e) {
      await k.close();
      throw e;
    }
    return k;
  }

  /** The execution count of the last cell stored in history (0 before any). */
  get executionCount(): number {
    return this.#count;
  }

  /** Whether a request is running. */
  get busy(): boolean {
    return this.#running !== undefined;
  }

  /** Requests waiting behind the running one. */
  get pending(): number {
    return this.#queue.filter((t) => t.kind !== "clear").length;
  }

  /**
   * Run a cell (`execute_request`). Never rejects for errors in user code: they are the
   * reply. Events (`execute_input`, output, `execute_result`) arrive through `onEvent`
   * before the promise resolves.
   *
   * @param code JavaScript or TypeScript source.
   * @param options Request id, `silent`, `storeHistory`, `userExpressions`, `typescript`.
   * @returns The reply: ok (with `data` when there is a result), error, or aborted (cancelled/closed).
   * @throws {IppError} when the kernel is closed.
   * @example
   * ```ts
   * import { Kernel } from "./kernel.ts";
   * await using k = await Kernel.start();
   * const r = await k.execute("let a = [1, 2]; a.length", { userExpressions: { twice: "a.length * 2" } });
   * ```
   */
  execute(code: string, options: ExecuteOptions = {}): Promise<ExecuteReply> {
    const requestId = options.requestId ?? crypto.randomUUID();
    return this.#enqueue({
      kind: "exec",
      requestId,
      options,
      transfer: [],
      msg: {
        t: "exec",
        rid: requestId,
        code,
        silent: options.silent ?? false,
        count: 0, // set when it starts
        name: "",
        expressions: options.userExpressions ?? {},
        ts: options.typescript ?? this.#options.typescript ?? false,
      },
    }) as Promise<ExecuteReply>;
  }

  /**
   * Call a function (`apply_request`): `frames` are the request's buffers (ipp-js, or a
   * pickle with a `Reference` from Python). Decoding, the call and encoding happen in the
   * worker. Frames that each span a whole `ArrayBuffer` are transferred to the worker (the
   * caller's copies become detached) unless `transfer: false`; others are copied.
   *
   * @param frames The `apply_request` buffers.
   * @param options Request id.
   * @returns The reply: ok with the result frames (the `apply_reply` buffers), error, or aborted.
   * @throws {IppError} when the kernel is closed.
   */
  apply(frames: Uint8Array[], options: ApplyOptions = {}): Promise<ApplyReply> {
    const requestId = options.requestId ?? crypto.randomUUID();
    const owned = ownedFrames(frames, options.transfer ?? true);
    return this.#enqueue({
      kind: "apply",
      requestId,
      transfer: owned.transfer,
      msg: { t: "apply", rid: requestId, name: `fn-${++this.#seq}`, frames: owned.frames },
    }) as Promise<ApplyReply>;
  }

  /**
   * Drop a request that has not started yet; its promise resolves `{status: "aborted"}`.
   *
   * @param requestId The request id.
   * @returns Whether it was queued (false if unknown, running or done).
   */
  cancel(requestId: string): boolean {
    const i = this.#queue.findIndex((t) => t.kind !== "clear" && t.requestId === requestId);
    if (i < 0) return false;
    const [t] = this.#queue.splice(i, 1) as Task[];
    t.resolve(ABORTED);
    return true;
  }

  /**
   * Stop the running request, even a synchronous endless loop: it gets an error reply
   * (ename `"KernelInterrupted"`) and the namespace is reset by a fresh worker (see the
   * module doc). Queued requests continue on the new worker.
   *
   * @returns Whether a request was running; resolves when the new worker is ready.
   */
  async interrupt(): Promise<boolean> {
    const task = this.#running;
    if (!task || this.#closed) return false;
    this.#running = undefined;
    this.#kill();
    const count = task.msg.t === "exec" ? task.msg.count : 0;
    const error: ErrorContent = {
      status: "error",
      ename: "KernelInterrupted",
      evalue:
        "interrupted: the request was stopped and the kernel restarted; the namespace was reset (all variables, imports and timers are gone)",
      traceback: ["KernelInterrupted: the request was stopped; the namespace was reset"],
    };
    task.resolve(
      task.kind === "exec" ? { ...error, executionCount: count, userExpressions: {} } : error,
    );
    this.#spawn();
    await this.#ready.catch(() => {});
    return true;
  }

  /**
   * Reset the namespace (`clear_request`): after the running request (if any) and before
   * queued ones, the worker is replaced by a fresh one.
   *
   * @returns Resolves when the fresh worker is ready.
   * @throws {IppError} when the kernel is closed or the new worker fails to start.
   */
  clear(): Promise<void> {
    if (this.#closed) return Promise.reject(new IppError("Kernel is closed"));
    return new Promise((resolve, reject) => {
      this.#queue.unshift({ kind: "clear", resolve, reject });
      this.#pump();
    });
  }

  /**
   * Stop the worker. The running and queued requests resolve `{status: "aborted"}`.
   * Idempotent.
   */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    this.#kill();
    const running = this.#running;
    this.#running = undefined;
    running?.resolve(ABORTED);
    for (const t of this.#queue.splice(0)) {
      if (t.kind === "clear") t.reject(new IppError("Kernel closed before clear ran"));
      else t.resolve(ABORTED);
    }
    return Promise.resolve();
  }

  /** Same as {@linkcode Kernel.close}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #enqueue(task: Omit<Task, "resolve">): Promise<ExecuteReply | ApplyReply> {
    if (this.#closed) return Promise.reject(new IppError("Kernel is closed"));
    return new Promise((resolve) => {
      this.#queue.push({ ...task, resolve });
      this.#pump();
    });
  }

  #emit(event: KernelEvent): void {
    try {
      this.#options.onEvent?.(event);
    } catch { /* a listener's failure is not the kernel's */ }
  }

  #pump(): void {
    if (this.#running || !this.#isReady || this.#closed) return;
    const next = this.#queue.shift();
    if (!next) return;
    if (next.kind === "clear") {
      this.#kill();
      this.#spawn();
      this.#ready.then(next.resolve, next.reject);
      return;
    }
    this.#running = next;
    const msg = next.msg;
    if (msg.t === "exec") {
      const o = next.options ?? {};
      const store = !msg.silent && (o.storeHistory ?? true);
      msg.count = store ? ++this.#count : this.#count;
      msg.name = store ? `cell-${msg.count}` : `exec-${++this.#seq}`;
    }
    this.#emit({ type: "started", requestId: next.requestId, started: new Date() });
    if (msg.t === "exec" && !msg.silent) {
      this.#emit({
        type: "execute_input",
        requestId: next.requestId,
        code: msg.code,
        executionCount: msg.count,
      });
    }
    this.#worker.postMessage(msg, next.transfer);
  }

  #kill(): void {
    // Whoever waits for a worker that never got ready (start, interrupt) must not hang.
    this.#settleReady?.(new IppError("Kernel worker stopped before it was ready"));
    this.#isReady = false;
    if (this.#flag) Atomics.store(this.#flag, 0, 1);
    this.#worker?.terminate();
  }

  #spawn(): void {
    const worker = new Worker(new URL("./worker.ts", import.meta.url), {
      type: "module",
      name: "ipp-kernel",
    });
    const sab = new SharedArrayBuffer(4);
    this.#worker = worker;
    this.#flag = new Int32Array(sab);
    let settle!: (e?: unknown) => void;
    this.#ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => settle(new IppError("Kernel worker did not start in time")),
        this.#options.startTimeoutMs ?? 30_000,
      );
      settle = (e?: unknown) => {
        clearTimeout(timer);
        settle = () => {};
        if (e === undefined) resolve();
        else reject(e);
      };
    });
    this.#settleReady = (e) => settle(e);
    // A replacement worker that cannot start leaves nothing to run requests: close.
    this.#ready.catch(() => {
      if (worker === this.#worker) this.close();
    });
    worker.onmessage = (e: MessageEvent<FromWorker>) => {
      if (worker !== this.#worker) return;
      const m = e.data;
      if (m.t === "ready") {
        this.#isReady = true;
        settle();
        this.#pump();
      } else if (m.t === "events") {
        for (const ev of m.events) this.#emit(ev);
      } else if (m.t === "done") {
        for (const ev of m.events) this.#emit(ev);
        const task = this.#running;
        if (task?.requestId !== m.rid) return;
        this.#running = undefined;
        task.resolve(m.reply);
        this.#pump();
      }
    };
    worker.onerror = (e: ErrorEvent) => {
      // Only failures outside user code get here (the worker handles those itself).
      e.preventDefault();
      if (worker !== this.#worker) return;
      const error = new IppError(`Kernel worker failed: ${e.message}`);
      if (!this.#isReady) {
        settle(error);
        return;
      }
      const task = this.#running;
      this.#running = undefined;
      if (task) {
        const c: ErrorContent = {
          status: "error",
          ename: "KernelDied",
          evalue: `${e.message}; the namespace was reset`,
          traceback: [`KernelDied: ${e.message}`],
        };
        task.resolve(
          task.kind === "exec"
            ? { ...c, executionCount: (task.msg as { count: number }).count, userExpressions: {} }
            : c,
        );
      }
      this.#kill();
      this.#spawn();
    };
    worker.postMessage({ t: "init", flag: sab, cwd: this.#options.cwd ?? Deno.cwd() });
  }
}
