/**
 * Test launcher for a real Python ipyparallel 7.1 cluster: `ipcontroller` (or our controller,
 * `ipp controller`, with the same flags) and `ipengine`s in their own process groups (setsid),
 * in a temporary HOME/IPYTHONDIR, always torn down by killing each process group (STYLE.md
 * item 12). Each process's stderr is kept in `<dir>/logs/` (shown live with `IPP_TEST_LOGS=1`)
 * so that {@link PythonCluster.waitForEngines} can say why engines did not come.
 *
 * @module
 */

import type { Client } from "../../src/client/client.ts";
import { PYTHON } from "../helpers/interop.ts";
import type { ControllerKind } from "../engine/procs.ts";

export { type ControllerKind, CONTROLLERS } from "../engine/procs.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const LIVE_LOGS = Deno.env.get("IPP_TEST_LOGS") !== undefined;

/** Options of {@link PythonCluster.start}. */
export interface PythonClusterOptions {
  /** The controller to run (default "python": `ipcontroller`). */
  controller?: ControllerKind;
  /** Number of Python engines to start (default 2). */
  engines?: number;
  /** Number of our JavaScript engines to start (default 0). */
  jsEngines?: number;
  /** Extra controller arguments. */
  controllerArgs?: string[];
}

/** A running controller with engines. */
export class PythonCluster implements AsyncDisposable {
  readonly dir: string;
  readonly profileDir: string;
  readonly clusterId: string;
  readonly env: Record<string, string>;
  #controller: Deno.ChildProcess | undefined;
  readonly #engines: Deno.ChildProcess[] = [];
  #stopped = false;

  private constructor(dir: string) {
    this.dir = dir;
    this.profileDir = `${dir}/profile`;
    this.clusterId = `t${crypto.randomUUID().slice(0, 8)}`;
    this.env = { HOME: dir, IPYTHONDIR: `${dir}/ipython`, PYTHONUNBUFFERED: "1" };
  }

  /** The client connection file. */
  get clientFile(): string {
    return `${this.profileDir}/security/ipcontroller-${this.clusterId}-client.json`;
  }

  /** The engine connection file. */
  get engineFile(): string {
    return `${this.profileDir}/security/ipcontroller-${this.clusterId}-engine.json`;
  }

  /** Options for `Client.connect`. */
  get connectOptions(): { profileDir: string; clusterId: string } {
    return { profileDir: this.profileDir, clusterId: this.clusterId };
  }

  /**
   * Starts a controller, waits for its connection files, then starts engines (without
   * waiting for them to register: use {@link waitFor} with the client's `ids`).
   */
  static async start(options: PythonClusterOptions = {}): Promise<PythonCluster> {
    const dir = await Deno.makeTempDir({ prefix: "ipp-client-test-" });
    const c = new PythonCluster(dir);
    try {
      const flags = [
        "--ip=127.0.0.1",
        `--profile-dir=${c.profileDir}`,
        `--cluster-id=${c.clusterId}`,
        "--ping=500",
        "--log-level=40",
        ...(options.controllerArgs ?? []),
      ];
      c.#controller = options.controller === "deno"
        ? c.#spawnDeno(["controller", ...flags], "controller")
        : c.#spawn(["-m", "ipyparallel.controller", ...flags], "controller");
      await waitFor(
        async () => {
          try {
            JSON.parse(await Deno.readTextFile(c.engineFile));
            JSON.parse(await Deno.readTextFile(c.clientFile));
            return true;
          } catch {
            return false;
          }
        },
        20_000,
        "the controller's connection files",
      );
      for (let i = 0; i < (options.engines ?? 2); i++) c.startEngine();
      for (let i = 0; i < (options.jsEngines ?? 0); i++) c.startJsEngine();
      return c;
    } catch (e) {
      await c.stop();
      throw e;
    }
  }

  /** Starts one more engine. */
  startEngine(): void {
    this.#engines.push(
      this.#spawn([
        "-m",
        "ipyparallel.engine",
        `--file=${this.engineFile}`,
        "--log-level=40",
      ], `engine${this.#engines.length}`),
    );
  }

  /** Starts one of our JavaScript engines (`ipp engine --file=…`) against this controller. */
  startJsEngine(): void {
    this.#engines.push(
      this.#spawnDeno(["engine", `--file=${this.engineFile}`], `jsengine${this.#engines.length}`),
    );
  }

  /** The controller's exit status, or `undefined` if it still runs after `ms`. */
  async controllerExit(ms: number): Promise<Deno.CommandStatus | undefined> {
    const p = this.#controller;
    if (!p) return undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const status = await Promise.race([
      p.status,
      new Promise<undefined>((r) => timer = setTimeout(() => r(undefined), ms)),
    ]);
    clearTimeout(timer);
    return status;
  }

  /** Kills the controller's process group (the engines stay). */
  async killController(): Promise<void> {
    const p = this.#controller;
    this.#controller = undefined;
    if (p) await killGroup(p);
  }

  /**
   * Runs a Python script with the cluster's environment.
   *
   * @param code The script.
   * @param timeoutMs Limit, after which it is killed and this throws (default 60 s).
   * @returns Its stdout, trimmed.
   * @throws {Error} The script failed or was killed (with its stderr).
   */
  async python(code: string, timeoutMs = 60_000): Promise<string> {
    const out = await new Deno.Command(PYTHON, {
      args: ["-c", code],
      env: this.env,
      stdout: "piped",
      stderr: "piped",
      // ipyparallel's Hub queries wait without a limit: a lost reply must fail, not hang.
      signal: AbortSignal.timeout(timeoutMs),
    }).output();
    const text = new TextDecoder();
    if (!out.success) {
      const why = out.signal !== null ? `killed after ${timeoutMs} ms` : `exit ${out.code}`;
      throw new Error(`python failed (${why}): ${text.decode(out.stderr)}`);
    }
    return text.decode(out.stdout).trim();
  }

  /** Kills every process group. Idempotent. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    const all = [...this.#engines, ...(this.#controller ? [this.#controller] : [])];
    await Promise.all(all.map(killGroup));
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }

  /** Same as {@link PythonCluster.stop}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  #spawn(args: string[], name: string): Deno.ChildProcess {
    // setsid (not a group leader here) execs in place: pid = process group id.
    const p = this.#logged(
      name,
      new Deno.Command("setsid", {
        args: [PYTHON, ...args],
        env: this.env,
        stdin: "null",
        stdout: "null",
        stderr: LIVE_LOGS ? "inherit" : "piped",
      }).spawn(),
    );
    (p as unknown as { name: string }).name = name;
    return p;
  }

  /** `ipp <args>` (src/cli/main.ts) in its own process group. */
  #spawnDeno(args: string[], name: string): Deno.ChildProcess {
    return this.#logged(
      name,
      new Deno.Command("setsid", {
        args: [Deno.execPath(), "run", "-A", `${ROOT}src/cli/main.ts`, ...args],
        cwd: ROOT,
        env: this.env,
        stdin: "null",
        stdout: "null",
        stderr: LIVE_LOGS ? "inherit" : "piped",
      }).spawn(),
    );
  }

  /** Copies a process's piped stderr into `<dir>/logs/<name>.log`. */
  #logged(name: string, p: Deno.ChildProcess): Deno.ChildProcess {
    if (LIVE_LOGS) return p;
    Deno.mkdirSync(`${this.dir}/logs`, { recursive: true });
    const file = Deno.openSync(`${this.dir}/logs/${name}.log`, { write: true, create: true });
    p.stderr.pipeTo(file.writable).catch(() => {});
    return p;
  }

  /** The last lines of every process's stderr, by process. */
  logTails(lines = 15): string {
    let out = "";
    try {
      for (
        const e of [...Deno.readDirSync(`${this.dir}/logs`)].sort((a, b) =>
          a.name < b.name ? -1 : 1
        )
      ) {
        const text = Deno.readTextFileSync(`${this.dir}/logs/${e.name}`).trimEnd();
        out += `\n--- ${e.name}\n${text.split("\n").slice(-lines).join("\n") || "(empty)"}`;
      }
    } catch {
      // no logs (IPP_TEST_LOGS shows them live)
    }
    return out;
  }

  /**
   * Waits until `client` sees at least `n` engines.
   *
   * @throws {Error} Not within `timeoutMs`: with what the client and the Hub see, and the
   *   tails of the processes' stderr.
   */
  async waitForEngines(client: Client, n: number, timeoutMs: number): Promise<void> {
    try {
      await waitFor(() => client.ids.length >= n, timeoutMs, `${n} engines`);
    } catch (e) {
      const hub = await client.queueStatus().then((q) => JSON.stringify(q), (err) => `${err}`);
      throw new Error(
        `${(e as Error).message}; the client sees ${JSON.stringify(client.ids)}, the Hub's ` +
          `queue status is ${hub}${this.logTails()}`,
      );
    }
  }
}

async function killGroup(p: Deno.ChildProcess): Promise<void> {
  try {
    Deno.kill(-p.pid, "SIGKILL");
  } catch {
    // already gone
  }
  await p.status;
}

/**
 * Waits for a restarted engine: until `id` is registered again and `globalName` is undefined
 * in its namespace (the old engine, on its way out, may still answer or fail meanwhile).
 *
 * @throws {Error} That did not happen within 30 s.
 */
export async function waitForFreshEngine(
  client: Client,
  id: number,
  globalName: string,
): Promise<void> {
  const probe = (name: string) => typeof (globalThis as Record<string, unknown>)[name];
  await waitFor(
    async () => {
      if (!client.ids.includes(id)) return false;
      try {
        return await client.directView(id).apply(probe, globalName).get(5_000) === "undefined";
      } catch {
        return false;
      }
    },
    30_000,
    `engine ${id} to come back with a fresh namespace`,
  );
}

/**
 * Polls `cond` every 50 ms until it holds.
 *
 * @throws {Error} It did not hold within `timeoutMs`.
 */
export async function waitFor(
  cond: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
