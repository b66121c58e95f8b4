/**
 * {@link Client}: the connection to a controller (ours or Python's `ipcontroller`), wired to
 * sockets (PROTOCOL.md §11.3). A thin face over the client core: the sockets' readers decode
 * each message once and the {@link MessageRouter} turns it into an event for one actor (a
 * task, an engine, or the Hub link). Views (`directView`, `loadBalancedView`,
 * `broadcastView`) build requests; `AsyncResult`s read outcomes.
 *
 * ipyparallel names and ours (time in milliseconds here, seconds there):
 *
 * | ipyparallel 7.1 | here |
 * | --- | --- |
 * | `Client(url_file, profile, profile_dir, ipython_dir, cluster_id, timeout, debug, sshserver, sshkey)` | `await Client.connect({ urlFile, profile, profileDir, ipythonDir, clusterId, timeout, debug, sshserver… })` |
 * | `rc.ids`, `rc.history`, `rc.outstanding`, `rc.results`, `rc.metadata`, `rc.block` | same names (`results.get(id)`, `metadata.get(id)`) |
 * | `rc[0]`, `rc[0:2]`, `rc[:]` | `rc.engine(0)`, `rc.engines(0, 2)`, `rc.directView()` |
 * | `direct_view`, `load_balanced_view`, `broadcast_view` | `directView`, `loadBalancedView`, `broadcastView` |
 * | `abort`, `clear`, `shutdown`, `wait`, `spin` | same names |
 * | `spin_thread(interval)`, `stop_spin_thread()` | `spinThread(ms)`, `stopSpinThread()`: no-ops, see below |
 * | `queue_status`, `result_status`, `db_query`, `hub_history` | `queueStatus`, `resultStatus`, `dbQuery`, `hubHistory` |
 * | `get_result(ids, block, owner)`, `resubmit(ids, metadata, block)` | `getResult(ids, { block, owner })` (an `AsyncHubResult` for tasks not tracked here; `block` gives the value), `getResult(await resubmit(ids))` (non-empty `metadata` throws: the Hub cannot carry it); the old AsyncResult follows the new task |
 * | `purge_local_results`, `purge_hub_results`, `purge_results`, `purge_everything` | `purgeLocalResults`, `purgeHubResults`, `purgeResults`, `purgeEverything` |
 * | `send_apply_request`, `send_execute_request` | `sendApplyRequest`, `sendExecuteRequest` |
 * | `close(linger)` | `close({ linger })` (ms), `await using rc = await Client.connect()` |
 *
 * **Spinning.** ipyparallel's client once had to be "spun" to process input; in 7.1 its IO
 * thread does that and `spin()`, `spin_thread()`, `stop_spin_thread()` are deprecated and do
 * nothing. Here the sockets' readers run on Deno's event loop, so state (`ids`,
 * `outstanding`, results) is always current between `await`s; the three methods do nothing
 * either.
 *
 * **SSH.** With `sshserver` (`[user@]host[:port]`), `sshkey`, or a connection file whose
 * `ssh` names a server for a controller on another machine, every channel goes through one
 * `ssh -N -L …` process (`ssh_tunnel.ts`). Without `password` it must not prompt (an agent or
 * `sshkey`); `password` answers ssh's password or key-passphrase prompt (`ssh_askpass.ts`).
 *
 * **Controller loss.** While anything is outstanding the client checks every
 * `livenessIntervalMs` (default 1000) that the controller's registration port still accepts
 * TCP connections; when it refuses twice in a row the controller is gone and every waiter
 * fails with `ControllerLostError` instead of hanging.
 *
 * @example
 * ```ts ignore
 * import { Client } from "./client.ts";
 * await using rc = await Client.connect({ clusterId: "abc" });
 * const view = rc.loadBalancedView();
 * console.log(await view.apply((a: number, b: number) => a + b, 1, 2)); // 3
 * ```
 *
 * @module
 */

import { ControllerLostError, InvalidOptionError, IppError } from "../errors.ts";
import { connectionUrls, disambiguateIp, findConnectionFile } from "../protocol/connection.ts";
import type { ClientConnectionInfo } from "../protocol/connection.ts";
import { isLoopback, SshTunnel } from "./ssh_tunnel.ts";
import { Reference } from "../protocol/pickle.ts";
import { AsyncResult } from "./async_result.ts";
import { ClientCore } from "./client_core.ts";
import type { ClientOptions, Job } from "./client_core.ts";
import { checkReplies } from "./control_channel.ts";
import { HubQueries } from "./hub_queries.ts";
import type { DbRecord, EngineQueue, QueueStatus, ResultStatus } from "./hub_queries.ts";
import { resolveTargets, sliceIds } from "./targets.ts";
import type { Targets } from "./targets.ts";
import type { RemoteValue } from "./view_base.ts";
import { DirectView } from "./direct_view.ts";
import { LoadBalancedView } from "./load_balanced_view.ts";
import { BroadcastView } from "./broadcast_view.ts";

export { Reference };
export type { ClientOptions, Job, Targets };
export type {
  ApplyRequestOptions,
  ExecuteRequestOptions,
  Serializer,
  Submitted,
} from "./submit.ts";

/**
 * A connection to a controller. Create with {@link Client.connect}; close with
 * {@link Client.close} or `await using`.
 */
export class Client extends ClientCore {
  /** Hub queries (`queueStatus`, `dbQuery`, …), also reachable as Client methods. */
  readonly hubQueries: HubQueries = new HubQueries({
    ...this.parts,
    session: this.session,
    resolveTargets: (t) => resolveTargets(t, this.ids),
  });

  /**
   * Finds the connection file, connects every socket and waits for `connection_reply`.
   *
   * @param options Where the connection file is, time-outs, logging.
   * @returns A connected client.
   * @throws {ConnectionFileError} No connection file (the message names every path tried).
   * @throws {ControllerLostError} No `connection_reply` within `timeout`.
   * @throws {IppError} The SSH tunnel failed (with ssh's message), or the controller uses
   *   CurveZMQ (not supported).
   * @throws {InvalidOptionError} A bad option, such as `password` without an SSH tunnel.
   */
  static async connect(options: ClientOptions = {}): Promise<Client> {
    if (
      options.password !== undefined &&
      (typeof options.password !== "string" || options.password === "")
    ) {
      throw new InvalidOptionError(
        "password",
        "password must be a non-empty string: the SSH password, or the passphrase of sshkey",
      );
    }
    for (const name of ["maxHistory", "maxCachedResults"] as const) {
      const value = options[name];
      if (value !== undefined && !(value >= 0 && (Number.isInteger(value) || value === Infinity))) {
        throw new InvalidOptionError(
          name,
          `${name} must be an integer >= 0 or Infinity, got ${value}`,
        );
      }
    }
    const timeout = options.timeout ?? 10_000;
    const { path, info } = await findConnectionFile({
      kind: "client",
      file: options.urlFile,
      profile: options.profile,
      profileDir: options.profileDir,
      ipythonDir: options.ipythonDir,
      clusterId: options.clusterId,
      timeoutMs: timeout,
    });
    if (info.curve_serverkey) {
      throw new IppError(
        `The controller uses CurveZMQ (curve_serverkey in ${path}), which is not supported yet`,
      );
    }
    let urls = await connectionUrls(info);
    const server = await sshServerFor(urls.registration, info, options);
    let tunnel: SshTunnel | undefined;
    if (server !== undefined) {
      tunnel = await SshTunnel.open(urls, {
        server,
        keyfile: options.sshkey,
        password: options.password,
        sshCommand: options.sshCommand,
        timeoutMs: timeout,
      });
      urls = tunnel.urls;
    } else if (options.password !== undefined) {
      throw new InvalidOptionError(
        "password",
        `password is for an SSH tunnel, but the controller in ${path} is reached directly: ` +
          "give sshserver (or sshkey) to tunnel, or leave password out",
      );
    }
    const client = new Client(info, path, urls, options);
    if (tunnel) client.closers.push(() => tunnel.close());
    await client.handshake(timeout);
    return client;
  }

  // -- views ----------------------------------------------------------------------------------

  /**
   * Deno's equivalent of ipyparallel's `activate(targets, suffix)`: installs global
   * `px<suffix>` (a tagged template that runs code on `targets` and prints the outputs, like
   * `%px`) and `pxresult<suffix>()` (prints the last outputs again, like `%pxresult`). Use it in
   * the Deno REPL or a Deno Jupyter notebook: `` await px`x = 1` ``. Neither Deno's REPL nor
   * its Jupyter kernel (`Deno.jupyter` has display helpers but no pre-execute hook) can send
   * every line elsewhere, so `%autopx` is in `ipp console` (`src/cli/console.ts`); in a
   * notebook, prefix cells with `px`.
   *
   * @param targets Engines the globals run on (default `"all"`, following new engines).
   * @param suffix Appended to the global names, so several sets can coexist.
   * @returns The view the globals use.
   */
  activate(targets: Targets = "all", suffix = ""): DirectView {
    const view = this.directView(targets);
    const g = globalThis as Record<string, unknown>;
    g[`px${suffix}`] = view.px;
    g[`pxresult${suffix}`] = () => view.pxResult();
    return view;
  }

  /**
   * A view on engines by id. `"all"` (the default) follows engines that join later; a list
   * stays that list.
   *
   * @param targets `"all"`, an id, or a list of ids.
   * @returns The view.
   */
  directView(targets: Targets = "all"): DirectView {
    if (targets !== "all") resolveTargets(targets, this.ids);
    return new DirectView(this, targets);
  }

  /**
   * A view on one engine, by position in `ids` (negative counts from the end), like `rc[0]`.
   *
   * @param index Position in `ids`.
   * @returns A DirectView on that engine.
   * @throws {InvalidOptionError} No engine at that position.
   */
  engine(index: number): DirectView {
    const id = this.ids.at(index);
    if (id === undefined) {
      throw new InvalidOptionError("index", `No engine at index ${index} (ids: [${this.ids}])`);
    }
    return new DirectView(this, id);
  }

  /**
   * A view on a slice of the engines by position, like `rc[start:stop:step]`.
   *
   * @param start First position (default 0; negative counts from the end).
   * @param stop End position, exclusive (default: the end).
   * @param step Step (default 1).
   * @returns A DirectView on those engines (a fixed list).
   */
  engines(start?: number, stop?: number, step?: number): DirectView {
    return new DirectView(this, sliceIds(this.ids, { start, stop, step }));
  }

  /**
   * A load-balanced view: tasks go to the task scheduler, which picks engines (§7).
   *
   * @param targets Restrict to these engines (default: any).
   * @returns The view.
   */
  loadBalancedView(targets?: Targets): LoadBalancedView {
    return new LoadBalancedView(this, targets);
  }

  /**
   * A broadcast view: one request fans out to many engines through the broadcast scheduler.
   *
   * @param targets Engines (default `"all"`).
   * @param options `coalescing`: one combined reply instead of one per engine.
   * @returns The view.
   */
  broadcastView(targets: Targets = "all", options: { coalescing?: boolean } = {}): BroadcastView {
    return new BroadcastView(this, targets, options.coalescing ?? false);
  }

  /**
   * Clears the engines' namespaces (`clear_request`, §6.5.1).
   *
   * @param targets Engines (default all).
   * @param options `block`: wait for the replies (default: `this.block`).
   */
  async clear(targets?: Targets, options: { block?: boolean } = {}): Promise<void> {
    const replies = this.parts.control.request(
      "clear_request",
      {},
      resolveTargets(targets, this.ids),
    );
    if (options.block ?? this.block) checkReplies(await replies);
    else replies.catch(() => {});
  }

  /**
   * Stops engines (`shutdown_request` on control, §6.5.3) and, with `hub`, the controller
   * (§5.8); the client then closes.
   *
   * With `restart`, each of our engines (`ipp engine`) unregisters like a shut-down engine and
   * a new one, with a fresh kernel and namespace, registers from the same process asking for
   * the same id (granted when free); its direct tasks still outstanding fail with an
   * `EngineError`. ipyparallel 7.1 refuses `restart`; Python's `ipengine` has no restart and
   * simply stops.
   *
   * @param options `targets` (default all), `restart`, `hub`, `block`.
   * @throws {InvalidOptionError} `restart` together with `hub` (nothing would be left to
   * register with).
   */
  async shutdown(
    options: { targets?: Targets; restart?: boolean; hub?: boolean; block?: boolean } = {},
  ): Promise<void> {
    const restart = options.restart ?? false;
    if (restart && options.hub) {
      throw new InvalidOptionError(
        "restart",
        "restart and hub together: restarted engines would have no controller to register with",
      );
    }
    const hub = options.hub ?? false;
    const targets = hub ? this.ids : resolveTargets(options.targets, this.ids);
    for (const id of targets) this.parts.engines.shutdownRequested(id);
    const replies = this.parts.control.request("shutdown_request", { restart }, targets);
    if (hub || (options.block ?? this.block)) checkReplies(await replies);
    else replies.catch(() => {});
    if (hub) {
      try {
        await this.parts.hub.query("shutdown_request", {}, { timeoutMs: 10_000 });
      } catch (error) {
        // The shutdown_notification can overtake the reply (different sockets): that is the
        // answer we wanted, and it already closed this client.
        if (!(error instanceof ControllerLostError && this.closed)) throw error;
      }
      await this.close();
    }
  }

  // -- waiting --------------------------------------------------------------------------------

  /**
   * Waits until jobs settle.
   *
   * @param jobs msg_ids, history indices or AsyncResults (default: everything outstanding).
   * @param timeoutMs Limit (default: none).
   * @returns Whether they all settled in time.
   */
  wait(jobs?: Job | readonly Job[], timeoutMs?: number): Promise<boolean> {
    const ids = jobs === undefined ? [...this.outstanding] : this.msgIdsOf(jobs);
    const waiting = ids.filter((id) => this.outstanding.has(id));
    if (waiting.length === 0) return Promise.resolve(true);
    return new AsyncResult(this.parts.tasks, waiting).wait(timeoutMs);
  }

  /**
   * Does nothing, as in ipyparallel 7.1, where `spin()` is deprecated and does nothing because
   * its IO thread processes input. Here the sockets' readers run on Deno's event loop: `ids`,
   * `outstanding`, `results` and `metadata` are current whenever your code runs (between
   * `await`s), with no call needed (see the module doc).
   */
  spin(): void {}

  /**
   * Does nothing, as in ipyparallel 7.1 (`spin_thread` is deprecated there and does nothing):
   * input is handled by the event loop, see {@link Client.spin}.
   *
   * @param _intervalMs Ignored (ipyparallel's `interval`, in ms here).
   */
  spinThread(_intervalMs = 1000): void {}

  /**
   * Does nothing, as in ipyparallel 7.1 (`stop_spin_thread` is deprecated there and does
   * nothing): there is no spin thread, see {@link Client.spin}.
   */
  stopSpinThread(): void {}

  // -- Hub queries (delegated) ----------------------------------------------------------------

  /** {@inheritDoc HubQueries.queueStatus} */
  queueStatus(
    targets?: Targets,
    options: { verbose?: boolean } = {},
  ): Promise<QueueStatus | EngineQueue> {
    return this.hubQueries.queueStatus(targets, options);
  }
  /** {@inheritDoc HubQueries.resultStatus} */
  resultStatus(
    msgIds: Job | readonly Job[],
    options: { statusOnly?: boolean } = {},
  ): Promise<ResultStatus> {
    return this.hubQueries.resultStatus(this.msgIdsOf(msgIds), options);
  }
  /** {@inheritDoc HubQueries.dbQuery} */
  dbQuery(query: Record<string, unknown>, keys?: string[]): Promise<DbRecord[]> {
    return this.hubQueries.dbQuery(query, keys);
  }
  /** {@inheritDoc HubQueries.hubHistory} */
  hubHistory(): Promise<string[]> {
    return this.hubQueries.hubHistory();
  }
  /**
   * Results by msg_id or history index (default: the latest), from here or from the Hub (an
   * `AsyncHubResult` for other clients' tasks): ipyparallel's `get_result`.
   *
   * **`block`.** Without it, the pending AsyncResult: `await` it (or `get(timeoutMs)`) to wait.
   * With `block: true`, a promise of the value once every result settled, rejecting with the
   * failure as `get()` does. ipyparallel's `get_result(block=True)` waits and returns the
   * AsyncResult; an AsyncResult is `PromiseLike` here, so no promise can resolve to one
   * (awaiting it gives its value), and `block` gives the value, as a view's `block` does.
   * `block` defaults to `false`, not to `client.block` as in ipyparallel, so that the return
   * type follows from the call.
   *
   * **`owner`.** With `owner: true` the AsyncResult owns its results, as in ipyparallel: once
   * they are read (`get`, `await`, or `block`), they leave `client.results` and
   * `client.metadata` (the AsyncResult keeps its own copy; the Hub keeps its record). The
   * default is `false`, where ipyparallel's `Client.get_result` defaults to `True`: here any
   * number of AsyncResults may read one msg_id, and the cache is bounded anyway
   * (`maxCachedResults`). ipyparallel drops them when they arrive; here, when read.
   *
   * @example
   * ```ts ignore
   * const ar = client.loadBalancedView().apply(() => 42);
   * console.log(await client.getResult(ar.msgIds[0], { block: true })); // 42
   * await client.getResult(ar, { owner: true }).get();
   * console.log(client.results.has(ar.msgIds[0])); // false
   * ```
   *
   * @param jobs msg_ids, history indices or AsyncResults; one job gives a single result.
   * @param options `block`: return a promise of the value; `owner`: reading the result drops
   *   it from the client's caches (default false).
   * @returns The pending result, or with `block` a promise of its value.
   * @throws {RemoteError} With `block`, a single request failed (`CompositeError` for a list).
   */
  getResult(
    jobs: Job | readonly Job[] | undefined,
    options: { block: true; owner?: boolean },
  ): Promise<RemoteValue>;
  /** Without `block`: the pending AsyncResult (see the first signature). */
  getResult(
    jobs?: Job | readonly Job[],
    options?: { block?: false; owner?: boolean },
  ): AsyncResult<RemoteValue>;
  /** `block` known only at run time: either form (see the first signature). */
  getResult(
    jobs?: Job | readonly Job[],
    options?: { block?: boolean; owner?: boolean },
  ): AsyncResult<RemoteValue> | Promise<RemoteValue>;
  getResult(
    jobs?: Job | readonly Job[],
    options: { block?: boolean; owner?: boolean } = {},
  ): AsyncResult<RemoteValue> | Promise<RemoteValue> {
    const ids = jobs === undefined ? this.parts.history.slice(-1) : this.msgIdsOf(jobs);
    const ar = this.hubQueries.getResult(ids, !Array.isArray(jobs), { owner: options.owner });
    return options.block ? ar.get() : ar;
  }
  /**
   * Runs jobs again under new msg_ids (Hub `resubmit_request`). The new tasks are tracked
   * here (their outcomes are polled from the Hub, where their replies go): read them with
   * `getResult(newIds)`, or through the old AsyncResult, which follows its successor — its
   * `get()` gives the new task's result once it is in.
   *
   * ipyparallel 7.1 also takes `metadata` and drops it without a word. Here a non-empty
   * `metadata` is refused: the Hub's `resubmit_request` carries only msg_ids (PROTOCOL.md
   * §5.7), and the Hub resends each stored request with empty metadata, so nothing given here
   * could reach the engines or schedulers. To run a task with other flags (`after`, `follow`,
   * `targets`, `retries`), submit it again through a view.
   *
   * @param jobs msg_ids, history indices or AsyncResults (default: the latest).
   * @param options `block`: also wait until the new tasks settled (default: `this.block`);
   *   `metadata`: only `undefined`, `null` or `{}` (see above).
   * @returns The new msg_ids, in the order of `jobs`.
   * @throws {TypeError} `metadata` has keys (the promise rejects; nothing is resubmitted).
   * @throws {RemoteError} A msg_id is unknown to the Hub.
   */
  async resubmit(
    jobs: Job | readonly Job[] = -1,
    options: { block?: boolean; metadata?: Record<string, unknown> | null } = {},
  ): Promise<string[]> {
    const metadata = options.metadata;
    if (metadata !== undefined && metadata !== null && Object.keys(metadata).length > 0) {
      throw new TypeError(
        `resubmit() cannot send metadata (${Object.keys(metadata).join(", ")}): the Hub's ` +
          "resubmit_request carries only msg_ids (PROTOCOL.md §5.7) and the Hub resends each " +
          "request with empty metadata (ipyparallel 7.1 drops this argument silently); to run " +
          "a task with new flags (after, follow, targets, retries), submit it again from a view",
      );
    }
    const newIds = await this.hubQueries.resubmit(this.msgIdsOf(jobs));
    if (options.block ?? this.block) await this.wait(newIds);
    return newIds;
  }
  /** {@inheritDoc HubQueries.purgeHubResults} */
  purgeHubResults(
    jobs: Job | readonly Job[] | "all" = [],
    targets: Targets | [] = [],
  ): Promise<void> {
    return this.hubQueries.purgeHubResults(jobs === "all" ? "all" : this.msgIdsOf(jobs), targets);
  }
  /** {@inheritDoc HubQueries.purgeLocalResults} */
  purgeLocalResults(jobs: Job | readonly Job[] | "all" = [], targets: Targets | [] = []): void {
    this.hubQueries.purgeLocalResults(jobs === "all" ? "all" : this.msgIdsOf(jobs), targets);
  }
  /**
   * Purges results here and at the Hub.
   *
   * @param jobs msg_ids, indices or AsyncResults, or `"all"`.
   * @param targets Also every result from these engines.
   */
  async purgeResults(
    jobs: Job | readonly Job[] | "all" = [],
    targets: Targets | [] = [],
  ): Promise<void> {
    this.purgeLocalResults(jobs, targets);
    await this.purgeHubResults(jobs, targets);
  }
  /** Purges every result here and at the Hub, and forgets this client's history. */
  async purgeEverything(): Promise<void> {
    await this.purgeResults("all");
    this.parts.history.length = 0;
  }
}

/**
 * The SSH server to tunnel through, as ipyparallel decides (PROTOCOL.md §2.4): the caller's
 * `sshserver` (or, with only `sshkey`, the controller's address); else the file's `ssh` when
 * the controller is not on this machine.
 */
async function sshServerFor(
  registrationUrl: string,
  info: ClientConnectionInfo,
  options: ClientOptions,
): Promise<string | undefined> {
  const host = /^tcp:\/\/(.+):\d+$/.exec(registrationUrl)?.[1] ?? "";
  if (options.sshserver) return options.sshserver;
  if (options.sshkey) return host;
  if (!info.ssh) return undefined;
  if (!isLoopback(host)) return info.ssh;
  const remote = info.location !== null &&
    (await disambiguateIp("0.0.0.0", info.location)) !== "127.0.0.1";
  return remote ? info.ssh : undefined;
}
