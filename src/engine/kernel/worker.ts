/**
 * The kernel worker's entry point: started by `host.ts` for an engine. Its global scope is
 * the persistent user namespace (`runtime.ts`). The first message is `serve`; the worker
 * then owns the engine's shell and IOPub sockets (`serve.ts`): requests are read, run and
 * answered in this thread.
 *
 * Globals it gives user code (non-enumerable, so they do not look like user names):
 * `display(value, {raw?, metadata?, transient?})`, `publishData(dict)`, and the helpers
 * `__ipp_push__(dict)` and `__ipp_pull__(names)` used by push and pull (see `runtime.ts`).
 *
 * @module
 */

/// <reference lib="deno.worker" />

import type { FromServe, ServeMsg } from "./protocol.ts";
import { serve } from "./serve.ts";

const post = (msg: FromServe) => self.postMessage(msg);

function onMessage(e: MessageEvent<ServeMsg>): void {
  const msg = e.data;
  if (msg.t !== "serve") return;
  // From now on serve.ts takes the messages (control: abort, clear, interrupt, close).
  self.removeEventListener("message", onMessage);
  serve(msg).catch((err) => {
    post({ t: "log", level: "critical", message: `kernel worker cannot serve: ${err}` });
    post({ t: "failed", reason: String(err) });
  });
}
// A listener, not `onmessage`, so user code assigning `onmessage` cannot cut the kernel off.
self.addEventListener("message", onMessage);
