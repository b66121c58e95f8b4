/**
 * The main thread's side of an engine's kernel worker when the worker serves the shell
 * itself (`serve.ts`): the worker owns the shell and IOPub sockets and answers requests on
 * its own; this side starts it, forwards control (abort, clear, interrupt, close), reads
 * the busy flag, and writes the worker's log records. The heart, registration and control
 * socket stay on the main thread, so heartbeats flow while user code runs.
 *
 * @module
 */

import { IppError } from "../../errors.ts";
import type { Logger } from "../log.ts";
import { BusySlot, createBusySlot } from "./busy_slot.ts";
import { createHandoffBlock, HandoffReader } from "./iopub_handoff.ts";
import { createRecordBlock, type RecordBatch, RecordBlock } from "./record_block.ts";
import { WorkerLooks } from "./looks.ts";
import { Flag, type FromServe, type ServeControl, type ServeMsg, Shared } from "./protocol.ts";

/** What {@linkcode KernelHost.serve} needs besides what the host already knows. */
export type ServeOptions = Omit<
  ServeMsg,
  "t" | "shared" | "handoff" | "busy" | "records" | "cwd" | "typescript" | "logLevel" | "seq"
>;

/** Options of {@linkcode KernelHost.spawn}. */
export interface KernelHostOptions {
  /** Where the worker's log records go. */
  log: Logger;
  /** Directory relative imports in user code resolve against. Default `Deno.cwd()`. */
  cwd?: string;
  /** Treat every cell as TypeScript. Default false. */
  typescript?: boolean;
  /**
   * Sends IOPub frames the worker hands over while user code holds its thread (output of a
   * long synchronous cell), on the main thread's IOPub socket; resolves once written.
   */
  publish?: (frames: Uint8Array[]) => Promise<unknown> | void;
  /**
   * Packs the `busy` of a request that holds the worker (its header bytes as parent), which
   * this thread then sends through `publish`; without it, such a request's `busy` waits until
   * it prints, awaits or ends.
   */
  busyFrames?: (parent: Uint8Array) => Uint8Array[] | undefined;
  /**
   * Sends direct-path records to the Hub: the ones the worker keeps (`record_block.ts`) are
   * taken here when a request has held it since the last look (`RECORDS_CHECK_MS`, `looks.ts`),
   * since it cannot send them.
   */
  records?: (batch: RecordBatch) => void;
  /** Milliseconds to wait for the worker to serve (it may be type-checked first). Default 60 000. */
  startTimeoutMs?: number;
}

/** An engine's kernel worker, serving the shell. Create it with {@linkcode KernelHost.spawn}. */
export class KernelHost {
  readonly #o: KernelHostOptions;
  readonly #shared = new SharedArrayBuffer((Shared.FLAGS + Shared.SLOTS) * 4);
  readonly #ctl = new Int32Array(this.#shared);
  readonly #handoff = createHandoffBlock();
  readonly #busyBlock = createBusySlot();
  readonly #busy = new BusySlot(this.#busyBlock);
  readonly #reader: HandoffReader;
  #worker: Worker;
  #serve: ServeMsg | undefined;
  /** The worker's direct-path records, when it serves that path. */
  #records: RecordBlock | undefined;
  #seq = 0;
  readonly #waiting = new Map<number, (m: FromServe) => void>();
  #serving: { resolve: () => void; reject: (e: unknown) => void } | undefined;
  #closed: (() => void) | undefined;
  #closing: Promise<void> | undefined;
  /** Looks for a long request and for records a held worker cannot send (`looks.ts`). */
  readonly #looks: WorkerLooks;

  private constructor(options: KernelHostOptions) {
    this.#o = options;
    this.#reader = new HandoffReader(this.#handoff, (frames) => options.publish?.(frames));
    this.#worker = this.#spawn();
    this.#looks = new WorkerLooks(this.#ctl, { onLongRequest: () => this.#announceLong() });
  }

  /**
   * A request's `busy` waits until the request prints, awaits, or holds the worker for a
   * while (`../shell.ts`): send the `busy` of one that has held it since the last look, ahead
   * of anything the worker sends after it (`busy_slot.ts`, `iopub_handoff.ts`).
   */
  #announceLong(): void {
    const pack = this.#o.busyFrames;
    if (pack === undefined || this.#closing) return;
    this.#reader.sendFirst(() => {
      const parent = this.#busy.claim();
      return parent === undefined ? undefined : pack(parent);
    });
  }

  /**
   * Sends the direct-path records of a worker held since the last look (a request running at
   * both): it can neither send them nor read the Hub asking for them. A request that awaits
   * does not hold the worker; records taken here then go beside the worker's own batches, and
   * the Hub keeps a reply that overtakes its request (`DirectHub`).
   */
  #takeHeldRecords(): void {
    if (this.#records === undefined) return;
    const records = this.#records.take(false);
    if (records !== undefined) this.#o.records?.(records);
  }

  /**
   * Start the worker (it loads its modules while the engine registers).
   * @param options Logger, cwd, TypeScript mode.
   * @returns The host; call {@linkcode KernelHost.serve} once registered.
   */
  static spawn(options: KernelHostOptions): KernelHost {
    return new KernelHost(options);
  }

  /** Whether a request's user code is running (cleared before its reply is sent). */
  get busy(): boolean {
    return Atomics.load(this.#ctl, Shared.RUNNING) !== 0;
  }

  /**
   * Connect the worker's shell and IOPub sockets and start answering requests.
   * @param options Endpoints, identity, key, engine id.
   * @returns Resolves once the sockets are connecting and requests are read.
   * @throws {IppError} when the worker fails or does not start in time.
   */
  serve(options: ServeOptions): Promise<void> {
    let records: SharedArrayBuffer | undefined;
    if (options.direct !== undefined) {
      records = createRecordBlock();
      this.#records = new RecordBlock(records);
      this.#looks.watchRecords(() => this.#takeHeldRecords());
    }
    this.#serve = {
      ...options,
      records,
      t: "serve",
      shared: this.#shared,
      handoff: this.#handoff,
      busy: this.#busyBlock,
      cwd: this.#o.cwd ?? Deno.cwd(),
      typescript: this.#o.typescript ?? false,
      logLevel: this.#o.log.level,
      seq: 0,
    };
    return this.#start();
  }

  /**
   * Mark requests aborted (PROTOCOL.md §6.5.2): queued ones, and ones not arrived yet.
   * @param msgIds The msg_ids; `[]` aborts every queued `execute_request`.
   */
  abort(msgIds: string[]): void {
    this.#post({ t: "abort", seq: this.#next(), ids: msgIds });
  }

  /**
   * Reset the namespace after the running request, before queued ones.
   * @returns Resolves once reset.
   * @throws {IppError} when the reset failed or the worker closed.
   */
  async clear(): Promise<void> {
    const seq = this.#next();
    const done = this.#reply(seq);
    this.#post({ t: "clear", seq });
    const m = await done;
    if (m.t === "cleared" && m.error !== undefined) throw new IppError(m.error);
  }

  /**
   * Stop the running request (a synchronous loop in user code, or a request waiting on a
   * promise): it is answered `KernelInterrupted` and the namespace is reset.
   * @returns Whether a request was running.
   */
  async interrupt(): Promise<boolean> {
    const ctl = this.#ctl;
    if (this.#closing || Atomics.load(ctl, Shared.RUNNING) === 0) return false;
    const gen = Atomics.load(ctl, Shared.GEN);
    Atomics.store(ctl, Shared.FLAGS + gen, Flag.INTERRUPT);
    const seq = this.#next();
    const done = this.#reply(seq);
    this.#post({ t: "interrupt", seq, gen });
    await done;
    return true;
  }

  /**
   * Answer queued requests `aborted`, stop the running one, flush and close the sockets,
   * end the worker. Idempotent.
   * @param timeoutMs How long to wait for the worker to close its sockets.
   */
  close(timeoutMs = 3000): Promise<void> {
    this.#closing ??= (async () => {
      this.#looks.close();
      const ctl = this.#ctl;
      Atomics.store(ctl, Shared.CLOSING, 1);
      Atomics.store(ctl, Shared.FLAGS + Atomics.load(ctl, Shared.GEN), Flag.INTERRUPT);
      if (this.#serve !== undefined) {
        let timer: ReturnType<typeof setTimeout> | undefined;
        await Promise.race([
          new Promise<void>((r) => {
            this.#closed = r;
            this.#post({ t: "close", seq: this.#next() });
          }),
          new Promise((r) => timer = setTimeout(r, timeoutMs)),
        ]);
        clearTimeout(timer);
      }
      this.#worker.terminate();
      this.#reader.stop();
      for (const w of this.#waiting.values()) w({ t: "closed" });
      this.#waiting.clear();
    })();
    return this.#closing;
  }

  #next(): number {
    const seq = ++this.#seq;
    Atomics.store(this.#ctl, Shared.SEQ, seq);
    return seq;
  }

  #post(m: ServeControl): void {
    if (this.#closing && m.t !== "close") return;
    this.#worker.postMessage(m);
  }

  #reply(seq: number): Promise<FromServe> {
    if (this.#closing) return Promise.resolve({ t: "closed" });
    return new Promise((resolve) => this.#waiting.set(seq, resolve));
  }

  #start(): Promise<void> {
    const serve = this.#serve!;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => settle(new IppError("Kernel worker did not start serving in time")),
        this.#o.startTimeoutMs ?? 60_000,
      );
      const settle = (e?: unknown) => {
        clearTimeout(timer);
        this.#serving = undefined;
        if (e === undefined) resolve();
        else reject(e);
      };
      this.#serving = { resolve: () => settle(), reject: settle };
      this.#reader.reset();
      this.#busy.reset();
      // Control messages posted so far were for an old worker: the new one starts at SEQ.
      this.#worker.postMessage({ ...serve, seq: Atomics.load(this.#ctl, Shared.SEQ) });
    });
  }

  #spawn(): Worker {
    const worker = new Worker(new URL("./worker.ts", import.meta.url), {
      type: "module",
      name: "ipp-kernel",
    });
    worker.onmessage = (e: MessageEvent<FromServe>) => {
      if (worker !== this.#worker) return;
      const m = e.data;
      switch (m.t) {
        case "serving":
          this.#serving?.resolve();
          break;
        case "log":
          this.#o.log.log(m.level, m.message);
          break;
        case "iopub":
          this.#o.publish?.(m.frames);
          this.#reader.acknowledgePosted();
          break;
        case "failed":
          this.#serving?.reject(new IppError(`Kernel worker failed: ${m.reason}`));
          break;
        case "cleared":
        case "interrupted": {
          const w = this.#waiting.get(m.seq);
          this.#waiting.delete(m.seq);
          w?.(m);
          break;
        }
        case "closed":
          this.#closed?.();
          break;
      }
    };
    worker.onerror = (e: ErrorEvent) => {
      // Only failures outside user code get here (the worker handles those itself).
      e.preventDefault();
      if (worker !== this.#worker || this.#closing) return;
      const error = new IppError(`Kernel worker failed: ${e.message}`);
      if (this.#serving) {
        this.#serving.reject(error);
        return;
      }
      // Requests in the dead worker are lost; a fresh one reconnects the sockets.
      this.#o.log.error(`${error.message}; starting a fresh kernel (the namespace was reset)`);
      for (const w of this.#waiting.values()) w({ t: "closed" });
      this.#waiting.clear();
      worker.terminate();
      Atomics.store(this.#ctl, Shared.RUNNING, 0);
      this.#worker = this.#spawn();
      if (this.#serve) {
        this.#start().catch((e) => this.#o.log.critical(`kernel restart failed: ${e}`));
      }
    };
    return worker;
  }
}
