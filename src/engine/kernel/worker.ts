/**
 * The kernel worker: runs user code in its own global scope, which is the persistent user
 * namespace (`runtime.ts`). Started by `kernel.ts` ({@linkcode Kernel}, one `postMessage` per
 * request and per reply, the messages of `protocol.ts`) or by `host.ts` for an engine, where
 * the first message is `serve` and the worker then owns the engine's shell and IOPub sockets
 * (`serve.ts`): requests are read, run and answered in this thread.
 *
 * Globals it gives user code (non-enumerable, so they do not look like user names):
 * `display(value, {raw?, metadata?, transient?})`, `publishData(dict)`, and the helpers
 * `__ipp_push__(dict)` and `__ipp_pull__(names)` used by push and pull (see `kernel.ts`).
 *
 * @module
 */

/// <reference lib="deno.worker" />

import {
  type FromServe,
  type FromWorker,
  ownedFrames,
  type ServeMsg,
  type ToWorker,
} from "./protocol.ts";
import { apply, configure, errorOf, execute, outbox, report, runRequest } from "./runtime.ts";
import { serve } from "./serve.ts";

const post = (msg: FromWorker | FromServe, transfer: ArrayBuffer[] = []) =>
  self.postMessage(msg, transfer);

async function handle(msg: ToWorker): Promise<void> {
  if (msg.t === "init") {
    configure({
      flag: new Int32Array(msg.flag),
      cwd: msg.cwd,
      events: (events, transfer) => post({ t: "events", events }, transfer),
    });
    post({ t: "ready" });
    return;
  }
  let reply;
  let transfer: ArrayBuffer[] = [];
  if (msg.t === "exec") {
    reply = await runRequest(msg.rid, () => execute(msg));
  } else {
    reply = await runRequest(msg.rid, () => apply(msg));
    if (reply.status === "ok") {
      // A result's frames may alias the user's memory: copy what is transferred.
      const owned = ownedFrames(reply.buffers, false);
      reply = { ...reply, buffers: owned.frames };
      transfer = owned.transfer;
    }
  }
  const out = outbox.take();
  try {
    post({ t: "done", rid: msg.rid, reply, events: out.events }, [...out.transfer, ...transfer]);
  } catch (e) {
    // A display bundle that cannot be cloned must not leave the request without a reply.
    const error = errorOf(e);
    const fallback = msg.t === "exec"
      ? { ...error, executionCount: msg.count, userExpressions: {} }
      : error;
    post({ t: "done", rid: msg.rid, reply: fallback, events: [] });
  }
}

let serving = false;
function onMessage(e: MessageEvent<ToWorker | ServeMsg>): void {
  const msg = e.data;
  if (msg.t === "serve") {
    // From now on this worker is an engine's shell: serve.ts takes the messages.
    serving = true;
    self.removeEventListener("message", onMessage);
    serve(msg).catch((err) => {
      post({ t: "log", level: "critical", message: `kernel worker cannot serve: ${err}` });
      post({ t: "failed", reason: String(err) });
    });
    return;
  }
  if (serving) return;
  handle(msg).catch((err) => report("kernel worker: ", err, null));
}
// A listener, not `onmessage`, so user code assigning `onmessage` cannot cut the kernel off.
self.addEventListener("message", onMessage);
