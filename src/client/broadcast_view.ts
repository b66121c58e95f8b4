/**
 * {@link BroadcastView}: one request fanned out to many engines by the controller's broadcast
 * scheduler (PROTOCOL.md §3.5.3, §7.9). The client sends once, with metadata
 * `{targets: [[uuid, id]…], is_broadcast: true, is_coalescing}`, and receives either one reply
 * per engine, keyed `<msg_id>_<engine uuid>`, or (coalescing) one reply keyed by the msg_id
 * whose buffers hold every engine's result. The Hub does not record broadcast traffic: these
 * requests are absent from `hubHistory`, `dbQuery` and `queueStatus`.
 *
 * @module
 */

import { IppError } from "../errors.ts";
import type { AsyncMapResult } from "./async_map_result.ts";
import type { AsyncResult } from "./async_result.ts";
import type { Client } from "./client.ts";
import { resolveTargets } from "./targets.ts";
import type { Targets } from "./targets.ts";
import { View } from "./view_base.ts";
import type { ArgsOf, ExecuteOptions, Remote, RemoteValue } from "./view_base.ts";

/**
 * A view that sends each request once for all its engines.
 *
 * @example
 * ```ts ignore
 * const bview = client.broadcastView();
 * console.log(await bview.apply(() => Deno.pid)); // one pid per engine
 * ```
 */
export class BroadcastView extends View {
  /** Which engines: `"all"` (looked up at each call), one id, or a list. */
  targets: Targets;
  /** One combined reply for all engines instead of one each (apply only). */
  coalescing: boolean;

  /**
   * Creates the object; see the class documentation.
   *
   * @param client The client.
   * @param targets The engines.
   * @param coalescing Combine the replies.
   */
  constructor(client: Client, targets: Targets, coalescing: boolean) {
    super(client);
    this.targets = targets;
    this.coalescing = coalescing;
  }

  /** {@inheritDoc View.flagNames} */
  protected override flagNames(): string[] {
    return [...super.flagNames(), "targets", "coalescing"];
  }

  /**
   * Calls `f(...args)` on every engine of the view with one broadcast request.
   *
   * @param f A function or a `Reference`.
   * @param args Its arguments.
   * @returns The pending list, one value per engine in target order.
   */
  applyAsync<F extends Remote>(f: F, ...args: ArgsOf<F>): AsyncResult<RemoteValue> {
    const ids = resolveTargets(this.targets, this.client.ids);
    const { trackedIds } = this.client.sendApplyRequest("broadcast", f, {
      args,
      serializer: this.serializer,
      broadcastTargets: ids,
      coalescing: this.coalescing,
    });
    const fname = typeof f === "function" ? f.name || "<anonymous>" : String(f);
    return this.client.asyncResult(this.coalescing ? trackedIds[0] : trackedIds, { fname });
  }

  /**
   * Runs code on every engine with one broadcast request (never coalescing, as ipyparallel).
   *
   * @param code The code.
   * @param options `silent` (default true), `userExpressions`.
   * @returns The pending `ExecuteReply` list.
   */
  executeAsync(code: string, options: ExecuteOptions = {}): AsyncResult<RemoteValue> {
    const ids = resolveTargets(this.targets, this.client.ids);
    const { trackedIds } = this.client.sendExecuteRequest("broadcast", code, {
      ...options,
      broadcastTargets: ids,
    });
    return this.client.asyncResult(trackedIds, { fname: "execute" });
  }

  /**
   * Not available on a broadcast view (as in ipyparallel): use a DirectView's `map`.
   *
   * @throws {IppError} Always.
   */
  mapAsync<U = RemoteValue>(_f: Remote, ..._sequences: unknown[][]): AsyncMapResult<U> {
    throw new IppError("BroadcastView has no map; use client.directView().map()");
  }
}
