/**
 * The engine's control channel (PROTOCOL.md §3.5.4, §6.5): requests on the control ROUTER
 * are handled as soon as they arrive, never behind queued shell work, and each is answered
 * on the control socket with `status: busy` / `idle` on IOPub around it.
 *
 * | request | effect | reply content |
 * | --- | --- | --- |
 * | `clear_request` | namespace reset after the running request, before queued ones | `{status: "ok"}` |
 * | `abort_request` | queued ids (or, for `[]`, queued execute requests) answered `aborted` | `{status: "ok"}` |
 * | `shutdown_request` | reply, IOPub `shutdown_reply` copy (topic `engine.<id>.shutdown`), exit | `{status: "ok", restart}` |
 * | `kernel_info_request` | — | JavaScript/TypeScript, implementation `ipp-deno` |
 * | `signal_request` | SIGINT interrupts the running request; SIGTERM/SIGQUIT/SIGHUP/SIGKILL stop the engine | `{status: "ok"}` |
 * | `interrupt_request` | the running request fails with `KernelInterrupted`, namespace reset | `{status: "ok"}` |
 *
 * @module
 */

import type { Message } from "../protocol/messages.ts";
import type { Socket } from "../zmtp/mod.ts";
import type { IOPub } from "./iopub.ts";
import { errorContent, kernelInfoContent, type ReplyContext, sendReply } from "./replies.ts";

/** What control does to the kernel (the kernel worker's host, `kernel/host.ts`). */
export interface ControlKernel {
  /** Reset the namespace after the running request, before queued ones. */
  clear(): Promise<void>;
  /** Stop the running request; resolves with whether one was running. */
  interrupt(): Promise<boolean>;
  /** Mark queued and not yet arrived requests aborted (`[]`: queued executes). */
  abort(msgIds: string[]): void;
}

/** What the control handler needs. */
export interface ControlOptions extends ReplyContext {
  /** The kernel. */
  kernel: ControlKernel;
  /** IOPub publisher. */
  iopub: IOPub;
  /** Whether cells are TypeScript (for `kernel_info_reply`). */
  typescript: boolean;
  /**
   * Stop the engine (after a shutdown request or a terminating signal); `restart` when a
   * client asked for a fresh engine in its place ({@link EngineExit.restart}).
   */
  stop: (reason: string, exitCode: number, restart?: boolean) => void;
}

const SIGNALS: Record<string, number> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGKILL: 9,
  SIGTERM: 15,
};

/**
 * A signal as `signal_request` carries it (PROTOCOL.md §6.5.4): a number, or a name with or
 * without `SIG`.
 *
 * @param sig The `sig` field.
 * @returns The signal number, or `undefined` when not understood.
 */
export function signalNumber(sig: unknown): number | undefined {
  if (typeof sig === "number" && Number.isInteger(sig) && sig > 0) return sig;
  if (typeof sig !== "string") return undefined;
  const s = sig.trim().toUpperCase();
  if (/^\d+$/.test(s)) return Number(s);
  return SIGNALS[s.startsWith("SIG") ? s : `SIG${s}`];
}

/** Handles control requests. */
export class Control {
  readonly #o: ControlOptions;

  /**
   * A control handler.
   * @param options Session, identity, kernel, shell, IOPub and the stop hook.
   */
  constructor(options: ControlOptions) {
    this.#o = options;
  }

  /**
   * Handle one control request; resolves once it has been answered.
   * @param socket The control socket (the reply goes back there).
   * @param msg The unpacked request.
   */
  async handle(socket: Socket, msg: Message): Promise<void> {
    const o = this.#o;
    o.iopub.status("busy", msg.header);
    try {
      await this.#dispatch(socket, msg);
    } catch (e) {
      o.log.error(`control request ${msg.msgType} ${msg.msgId} failed: ${e}`);
      sendReply(o, socket, msg, { content: errorContent("EngineError", String(e)) });
    } finally {
      o.iopub.status("idle", msg.header);
    }
  }

  async #dispatch(socket: Socket, msg: Message): Promise<void> {
    const o = this.#o;
    const c = msg.content as Record<string, unknown>;
    switch (msg.msgType) {
      case "clear_request":
        o.log.info("clearing the namespace");
        await o.kernel.clear();
        sendReply(o, socket, msg, { content: { status: "ok" } });
        return;
      case "abort_request": {
        const ids = Array.isArray(c.msg_ids) ? c.msg_ids.filter((x) => typeof x === "string") : [];
        o.kernel.abort(ids);
        o.log.info(`abort_request: ${ids.length || "all queued execute"} request(s) to abort`);
        sendReply(o, socket, msg, { content: { status: "ok" } });
        return;
      }
      case "shutdown_request": {
        const restart = c.restart === true;
        const content = { status: "ok", restart };
        const why = restart ? "restart requested by a client" : "shutdown requested by a client";
        o.log.info(why);
        sendReply(o, socket, msg, { content });
        // PROTOCOL.md §6.5.3: the IOPub copy is what makes the Hub unregister us at once.
        o.iopub.publish("shutdown_reply", {
          kind: "shutdown",
          content,
          parent: msg.header,
          metadata: {},
        });
        o.stop(why, 0, restart);
        return;
      }
      case "kernel_info_request":
        sendReply(o, socket, msg, { content: kernelInfoContent(o.typescript) });
        return;
      case "signal_request": {
        const n = signalNumber(c.sig);
        if (n === undefined) {
          sendReply(o, socket, msg, {
            msgType: "signal_reply",
            content: errorContent("ValueError", `unknown signal ${JSON.stringify(c.sig)}`),
          });
          return;
        }
        sendReply(o, socket, msg, { msgType: "signal_reply", content: { status: "ok" } });
        if (n === 2) {
          const was = await o.kernel.interrupt();
          o.log.info(was ? "SIGINT: interrupted the running request" : "SIGINT: nothing running");
        } else if (n === 1 || n === 3 || n === 9 || n === 15) {
          o.stop(`stopped by signal ${n} from a client`, 0);
        } else {
          o.log.warn(`signal_request ${n} ignored (only SIGINT and terminating signals act)`);
        }
        return;
      }
      case "interrupt_request": {
        const was = await o.kernel.interrupt();
        o.log.info(was ? "interrupted the running request" : "interrupt: nothing running");
        sendReply(o, socket, msg, { content: { status: "ok" } });
        return;
      }
      default:
        o.log.warn(`unsupported control message ${msg.msgType} ${msg.msgId}`);
        sendReply(o, socket, msg, {
          content: errorContent(
            "NotImplementedError",
            `${msg.msgType} is not supported on the control channel of this engine`,
          ),
        });
    }
  }
}
