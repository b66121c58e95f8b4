/**
 * An engine's shell served from the kernel worker: the worker owns the shell ROUTER and the
 * IOPub PUB, so a request is read, verified, run and answered in this one thread, with no
 * message to the main thread per request (which keeps registration, the heart and control).
 *
 * - **Control** arrives from the main thread as messages (`protocol.ts` {@linkcode ServeControl}),
 *   numbered: the main thread bumps {@linkcode Shared.SEQ} before posting, and the shell
 *   waits between requests until every message posted so far has arrived, so an
 *   `abort_request` or `clear_request` the engine received while a request ran applies to
 *   the requests queued behind it.
 * - **Interrupt**: the main thread sets the current interrupt flag (loops in user code
 *   throw) and posts `interrupt`, which also ends a request waiting on a promise. The
 *   request is answered `KernelInterrupted` and the namespace reset in place
 *   (`namespace.ts`); compiled code of the old namespace keeps seeing its flag set.
 * - **Clear** resets the namespace in place after the running request, before queued ones.
 * - **Close** answers queued requests `aborted`, stops the running one, and closes the
 *   sockets after flushing (linger).
 *
 * @module
 */

/// <reference lib="deno.worker" />

import type { Message } from "../../protocol/messages.ts";
import { Session } from "../../protocol/session.ts";
import { createSocket, type Socket } from "../../zmtp/mod.ts";
import { IOPub } from "../iopub.ts";
import { HandoffWriter } from "./iopub_handoff.ts";
import { Logger, type LogLevel } from "../log.ts";
import { Shell, type ShellKernel } from "../shell.ts";
import { DirectServer } from "../direct.ts";
import { BusySlot } from "./busy_slot.ts";
import { wakeLooks } from "./looks.ts";
import { RecordBlock } from "./record_block.ts";
import {
  Flag,
  type FromServe,
  INTERRUPTED_ERROR,
  type ServeControl,
  type ServeMsg,
  Shared,
} from "./protocol.ts";
import { apply, configure, execute, outbox, resetNamespace, runRequest } from "./runtime.ts";
import type {
  AbortedReply,
  ApplyReply,
  ExecuteOptions,
  ExecuteReply,
  KernelEvent,
} from "./types.ts";

const post = (m: FromServe) => self.postMessage(m);

/** A logger whose records go to the main thread (this thread's stderr is user output). */
class PostingLogger extends Logger {
  override log(level: LogLevel, message: string): void {
    if (this.enabled(level)) post({ t: "log", level, message });
  }
}

/** Result frames of at least this many bytes are sent without a copy. */
const ZERO_COPY_MIN = 64 * 1024;

type Outcome<T> = { value: T } | { abandoned: "interrupted" | "aborted" };

/** The runtime of this thread behind the interface the shell queue uses. */
class LocalKernel implements ShellKernel {
  readonly #ctl: Int32Array;
  readonly #shared: SharedArrayBuffer;
  readonly #typescript: boolean;
  readonly #emit: (e: KernelEvent) => void;
  #count = 0;
  #seq = 0;
  #abandon: ((why: "interrupted" | "aborted") => void) | undefined;
  /** Whether a reply was sent from memory user code can change (see {@link LocalKernel.settle}). */
  #zeroCopy = false;

  /**
   * @param shared The block shared with the main thread.
   * @param typescript Whether cells are TypeScript.
   * @param emit Receives the kernel's events.
   * @param sockets The shell sockets replies go out on (the MUX one first).
   */
  constructor(
    shared: SharedArrayBuffer,
    typescript: boolean,
    emit: (e: KernelEvent) => void,
    readonly sockets: Socket[],
  ) {
    this.#shared = shared;
    this.#ctl = new Int32Array(shared);
    this.#typescript = typescript;
    this.#emit = emit;
    configure({ flag: this.#flagView() });
  }

  get executionCount(): number {
    return this.#count;
  }

  async execute(code: string, options: ExecuteOptions = {}): Promise<ExecuteReply> {
    const rid = options.requestId ?? crypto.randomUUID();
    const silent = options.silent ?? false;
    const store = !silent && (options.storeHistory ?? true);
    const count = store ? ++this.#count : this.#count;
    const name = store ? `cell-${count}` : `exec-${++this.#seq}`;
    if (!silent) this.#emit({ type: "execute_input", requestId: rid, code, executionCount: count });
    const out = await this.#run(rid, () =>
      execute({
        rid,
        code,
        silent,
        count,
        name,
        expressions: options.userExpressions ?? {},
        ts: this.#typescript,
      }));
    if ("value" in out) return out.value;
    if (out.abandoned === "aborted") return { status: "aborted" };
    return {
      ...INTERRUPTED_ERROR,
      traceback: [...INTERRUPTED_ERROR.traceback],
      executionCount: count,
      userExpressions: {},
    };
  }

  async apply(frames: Uint8Array[], options: { requestId?: string } = {}): Promise<ApplyReply> {
    const rid = options.requestId ?? crypto.randomUUID();
    const out = await this.#run(rid, () => apply({ frames, name: `fn-${++this.#seq}` }));
    if (!("value" in out)) {
      return out.abandoned === "aborted"
        ? { status: "aborted" } satisfies AbortedReply
        : { ...INTERRUPTED_ERROR, traceback: [...INTERRUPTED_ERROR.traceback] };
    }
    const reply = out.value;
    if (reply.status !== "ok") return reply;
    // Small frames may alias the encoder's pool, reused by the next call: copy them. Large
    // ones (a pulled array) are sent from the user's memory when the socket can tell when
    // they are written; the next request waits for that ({@link LocalKernel.settle}).
    const zeroCopy = this.sockets.every((s) => s.sendTrackable === true && s.whenSent);
    const buffers = reply.buffers.map((f) => {
      if (zeroCopy && f.byteLength >= ZERO_COPY_MIN) {
        this.#zeroCopy = true;
        return f;
      }
      return f.slice();
    });
    return { ...reply, buffers };
  }

  /**
   * Before the next request: wait until a reply sent from user memory has been written.
   * @returns A promise when there is something to wait for.
   */
  settle(): Promise<void> | undefined {
    if (!this.#zeroCopy) return undefined;
    this.#zeroCopy = false;
    return Promise.all(this.sockets.map((s) => s.whenSent?.())).then(() => {});
  }

  /**
   * Stop the running request, if any: it is answered `why`.
   * @param gen The flag slot the main thread set (ignored when a reset moved past it).
   * @returns Whether a request was running.
   */
  abandon(why: "interrupted" | "aborted", gen?: number): boolean {
    if (gen !== undefined && gen !== Atomics.load(this.#ctl, Shared.GEN)) return false;
    const abandon = this.#abandon;
    abandon?.(why);
    return abandon !== undefined;
  }

  /** Reset the namespace in place and move to a fresh interrupt flag. */
  reset(): void {
    resetNamespace();
    const ctl = this.#ctl;
    const gen = (Atomics.load(ctl, Shared.GEN) + 1) % Shared.SLOTS;
    Atomics.store(ctl, Shared.FLAGS + gen, 0);
    Atomics.store(ctl, Shared.GEN, gen);
    configure({ flag: this.#flagView() });
  }

  #flagView(): Int32Array {
    const gen = Atomics.load(this.#ctl, Shared.GEN);
    return new Int32Array(this.#shared, (Shared.FLAGS + gen) * 4, 1);
  }

  async #run<T>(rid: string, work: () => Promise<T>): Promise<Outcome<T>> {
    const ctl = this.#ctl;
    const slot = Shared.FLAGS + Atomics.load(ctl, Shared.GEN);
    Atomics.store(ctl, slot, Flag.CLEAR); // an interrupt that came while nothing ran is void
    Atomics.add(ctl, Shared.REQUESTS, 1);
    Atomics.store(ctl, Shared.RUNNING, 1);
    wakeLooks(ctl);
    // Let the sockets write what is queued (a cell's `execute_input`, after its `busy`) before
    // user code may hold this thread in a synchronous loop.
    await undefined;
    const abandoned = new Promise<"interrupted" | "aborted">((r) => this.#abandon = r);
    let out: Outcome<T>;
    try {
      out = await Promise.race([
        runRequest(rid, work).then((value) => ({ value })),
        abandoned.then((why) => ({ abandoned: why })),
      ]);
    } finally {
      this.#abandon = undefined;
      Atomics.store(ctl, Shared.RUNNING, 0);
    }
    outbox.flush();
    // Stopped: by the flag (a loop threw, or the code finished as it was set) or by the main
    // thread's message (a request waiting on a promise). While the engine stops, that is
    // an abort; else an interrupt, after which the namespace is reset.
    if ("abandoned" in out || Atomics.load(ctl, slot) === Flag.INTERRUPT) {
      if (Atomics.load(ctl, Shared.CLOSING) !== 0) return { abandoned: "aborted" };
      if (!("abandoned" in out) || out.abandoned === "interrupted") {
        this.reset();
        return { abandoned: "interrupted" };
      }
    }
    return out;
  }
}

/**
 * Serve the engine's shell and IOPub from this worker until told to close.
 * @param cfg Endpoints, identity, key and settings from the main thread.
 */
export async function serve(cfg: ServeMsg): Promise<void> {
  const ctl = new Int32Array(cfg.shared);
  const log = new PostingLogger({ level: cfg.logLevel, name: `IPEngine.${cfg.id}` });
  const session = new Session({
    key: cfg.key,
    signatureScheme: cfg.signatureScheme,
    session: cfg.uuid,
    pid: cfg.msgIdPid,
  });
  const protocolError = (what: string) => (reason: string, peer: string) =>
    log.warn(`${what} connection to ${peer} dropped: ${reason}`);
  const shellSocket = createSocket("ROUTER", {
    identity: cfg.uuid,
    sendHwm: 0,
    receiveHwm: 0,
    onProtocolError: protocolError("shell"),
  });
  for (const url of cfg.shell) shellSocket.connect(url);
  const iopubSocket = createSocket("PUB", {
    identity: cfg.uuid,
    sendHwm: 0,
    onProtocolError: protocolError("IOPub"),
  });
  iopubSocket.connect(cfg.iopub);
  const iopub = new IOPub(session, iopubSocket, log);
  iopub.busySlot = new BusySlot(cfg.busy);
  iopub.id = cfg.id;

  // The same-host direct path, when the Hub offered it (src/protocol/messages/direct.ts).
  let direct: DirectServer | undefined;
  if (cfg.direct !== undefined && cfg.records !== undefined) {
    try {
      const block = new RecordBlock(cfg.records);
      direct = await DirectServer.start({ session, log, block, ...cfg.direct });
    } catch (e) {
      log.warn(`not serving the direct path: ${e}`);
    }
  }

  const kernel = new LocalKernel(
    cfg.shared,
    cfg.typescript,
    (e) => shell.onKernelEvent(e),
    direct === undefined ? [shellSocket] : [shellSocket, direct.socket],
  );
  let received = cfg.seq;
  let clears: number[] = [];
  const doClears = () => {
    for (const seq of clears) {
      let error: string | undefined;
      try {
        kernel.reset();
      } catch (e) {
        error = String(e);
      }
      post({ t: "cleared", seq, error });
    }
    clears = [];
  };
  // The kernel emits events only once requests run, after `shell` is set.
  const shell: Shell = new Shell({
    session,
    engine: { uuid: cfg.uuid, id: cfg.id },
    log,
    kernel,
    iopub,
    typescript: cfg.typescript,
    sent: direct === undefined
      ? undefined
      : (socket, frames) => socket === direct.socket && direct.recordReply(frames),
    afterRun: () => {
      handoff.endRequest();
      // A clear that arrived while the request ran applies now, before queued requests (and
      // is answered even when none follows).
      if (clears.length > 0) doClears();
    },
    // Between requests: let a zero-copy reply be written, let control messages already
    // posted arrive, then apply clears.
    beforeRun: () => {
      const writing = kernel.settle();
      if (writing === undefined && Atomics.load(ctl, Shared.SEQ) === received) {
        if (clears.length > 0) doClears();
        return;
      }
      return (async () => {
        await writing;
        while (Atomics.load(ctl, Shared.SEQ) !== received) {
          await new Promise((r) => setTimeout(r, 0));
        }
        doClears();
      })();
    },
  });
  // Output written while user code runs may be followed by a long synchronous stretch, in
  // which this thread cannot write to its sockets: such output waits in the block shared
  // with the main thread, which sends it if this thread does not soon (iopub_handoff.ts).
  const handoff = new HandoffWriter(cfg.handoff, (frames) => iopub.write(frames), (frames) => {
    const copies = frames.map((f) => f.slice());
    self.postMessage({ t: "iopub", frames: copies } satisfies FromServe, {
      transfer: copies.map((c) => c.buffer),
    });
  });
  iopub.handoff = handoff;
  configure({
    cwd: cfg.cwd,
    // The running request's `busy`, once it is news (its code returned a promise). One that
    // holds this thread is sent by the main thread (`busy_slot.ts`).
    announce: () => iopub.flushBusy(),
    events: (events, sync) => {
      iopub.held = sync && Atomics.load(ctl, Shared.RUNNING) !== 0;
      try {
        for (const e of events) shell.onKernelEvent(e);
      } finally {
        iopub.held = false;
      }
    },
  });

  let closing: Promise<void> | undefined;
  self.addEventListener("message", (e: MessageEvent<ServeControl>) => {
    const m = e.data;
    received = m.seq;
    switch (m.t) {
      case "abort":
        shell.abort(m.ids);
        break;
      case "clear":
        clears.push(m.seq);
        if (shell.runningId === undefined) doClears();
        break;
      case "interrupt":
        post({ t: "interrupted", seq: m.seq, was: kernel.abandon("interrupted", m.gen) });
        break;
      case "close":
        closing ??= (async () => {
          const closed = shell.close();
          kernel.abandon("aborted");
          await closed;
          // Requests this thread had no turn to read while user code held it are read now
          // and answered `aborted` too.
          await new Promise((r) => setTimeout(r, 20));
          await shell.close();
          handoff.release();
          await Promise.all([
            shellSocket.close({ linger: cfg.lingerMs }),
            iopubSocket.close({ linger: cfg.lingerMs }),
            direct?.close(cfg.lingerMs),
          ]);
          post({ t: "closed" });
        })();
        break;
    }
  });
  post({ t: "serving" });
  await Promise.all([
    readShell(shellSocket, session, shell, log),
    direct && readShell(direct.socket, session, shell, log, direct),
  ]);
}

async function readShell(
  socket: Socket,
  session: Session,
  shell: Shell,
  log: Logger,
  direct?: DirectServer,
) {
  try {
    for await (const frames of socket) {
      let msg: Message;
      try {
        // raw: the request's header frame is reused verbatim as the parent of its replies.
        msg = session.unpack(frames, { raw: true });
      } catch (e) {
        log.warn(`dropped a bad message on shell: ${e}`);
        continue;
      }
      if (log.enabled("debug")) log.debug(`shell: ${msg.msgType} ${msg.msgId}`);
      direct?.recordRequest(frames);
      shell.enqueue(socket, msg);
    }
  } catch (e) {
    if (!socket.closed) log.error(`shell socket failed: ${e}`);
  }
}
