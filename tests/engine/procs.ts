/**
 * Process launchers for the engine tests: a real Python `ipcontroller` or ours, Python `ipengine`s,
 * our engine (`src/cli/engine.ts` as a subprocess) and the Python client peer. Every process
 * is started with `setsid` in its own process group, and disposing it kills the group
 * (SIGTERM, then SIGKILL), so nothing outlives a test.
 *
 * @module
 */

import { Client } from "../../src/client/client.ts";
import { PYTHON } from "../helpers/interop.ts";

const ROOT = new URL("../../", import.meta.url).pathname;
const CLIENT_PEER = new URL("./peers/engine_client.py", import.meta.url).pathname;

/** A child process in its own process group, with stderr (and stdout) collected. */
export class Proc implements AsyncDisposable {
  readonly child: Deno.ChildProcess;
  readonly name: string;
  #stderr = "";
  #stdout = "";
  readonly #drained: Promise<void>;
  readonly status: Promise<Deno.CommandStatus>;

  constructor(name: string, cmd: string[], env: Record<string, string>, cwd = ROOT) {
    this.name = name;
    this.child = new Deno.Command("setsid", {
      args: cmd,
      cwd,
      env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const drain = async (stream: ReadableStream<Uint8Array>, into: "out" | "err") => {
      const dec = new TextDecoder();
      for await (const chunk of stream) {
        const t = dec.decode(chunk, { stream: true });
        if (into === "out") this.#stdout += t;
        else this.#stderr += t;
      }
    };
    this.#drained = Promise.all([
      drain(this.child.stdout, "out").catch(() => {}),
      drain(this.child.stderr, "err").catch(() => {}),
    ]).then(() => {});
    this.status = this.child.status;
  }

  /** stderr so far. */
  get stderr(): string {
    return this.#stderr;
  }

  /** stdout so far. */
  get stdout(): string {
    return this.#stdout;
  }

  /** Send a signal to the process group. */
  signal(sig: Deno.Signal): void {
    try {
      Deno.kill(-this.child.pid, sig);
    } catch { /* already gone */ }
  }

  /** Wait until stderr matches `re` (or the process exits, or `ms` passes). */
  async waitForStderr(re: RegExp, ms: number): Promise<boolean> {
    const deadline = Date.now() + ms;
    let exited = false;
    this.status.then(() => exited = true);
    while (Date.now() < deadline) {
      if (re.test(this.#stderr)) return true;
      if (exited) return re.test(this.#stderr);
      await new Promise((r) => setTimeout(r, 50));
    }
    return false;
  }

  /** Exit status, or `undefined` if still running after `ms`. */
  async exitWithin(ms: number): Promise<Deno.CommandStatus | undefined> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const r = await Promise.race([
      this.status,
      new Promise<undefined>((res) => timer = setTimeout(() => res(undefined), ms)),
    ]);
    clearTimeout(timer);
    if (r) await this.#drained;
    return r;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.signal("SIGTERM");
    const timer = setTimeout(() => this.signal("SIGKILL"), 3000);
    await this.status;
    clearTimeout(timer);
    this.signal("SIGKILL"); // stragglers in the group
    await this.#drained;
  }
}

/** A temporary IPython home and profile folder for one cluster. */
export class ClusterDirs implements AsyncDisposable {
  readonly root: string;
  readonly home: string;
  readonly profileDir: string;
  readonly clusterId: string;
  private constructor(root: string, clusterId: string) {
    this.root = root;
    this.home = `${root}/home`;
    this.profileDir = `${root}/profile`;
    this.clusterId = clusterId;
  }

  static async create(clusterId = "t"): Promise<ClusterDirs> {
    const root = await Deno.makeTempDir({ prefix: "ipp-engine-" });
    await Deno.mkdir(`${root}/home/.ipython`, { recursive: true });
    return new ClusterDirs(root, clusterId);
  }

  /** Environment for every child: a private HOME and IPYTHONDIR. */
  get env(): Record<string, string> {
    return {
      HOME: this.home,
      IPYTHONDIR: `${this.home}/.ipython`,
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      DENO_DIR: Deno.env.get("DENO_DIR") ?? `${Deno.env.get("HOME")}/.cache/deno`,
      NO_COLOR: "1",
    };
  }

  /** The client connection file path. */
  get clientFile(): string {
    return `${this.profileDir}/security/ipcontroller-${this.clusterId}-client.json`;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await Deno.remove(this.root, { recursive: true }).catch(() => {});
  }
}

/** Which controller a test runs against: Python's `ipcontroller` or ours (`ipp controller`). */
export type ControllerKind = "python" | "deno";

/** Every controller kind, with the label the tests put in their names. */
export const CONTROLLERS: readonly { kind: ControllerKind; label: string }[] = [
  { kind: "python", label: "[ipcontroller]" },
  { kind: "deno", label: "[ipp controller]" },
];

/**
 * Start a controller (the real Python `ipcontroller`, or ours with `kind` "deno", given the
 * same flags) and wait for its connection files.
 */
export async function startController(
  dirs: ClusterDirs,
  extra: string[] = [],
  kind: ControllerKind = "python",
): Promise<Proc> {
  const flags = [
    "--ip=127.0.0.1",
    `--profile-dir=${dirs.profileDir}`,
    `--cluster-id=${dirs.clusterId}`,
    "--ping=1000",
    "--log-level=40",
    ...extra,
  ];
  const name = kind === "python" ? "ipcontroller" : "ipp controller";
  const proc = new Proc(
    name,
    kind === "python"
      ? [PYTHON, "-m", "ipyparallel.controller", ...flags]
      : [Deno.execPath(), "run", "-A", "--quiet", `${ROOT}src/cli/main.ts`, "controller", ...flags],
    dirs.env,
    dirs.home,
  );
  const engineFile = `${dirs.profileDir}/security/ipcontroller-${dirs.clusterId}-engine.json`;
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    try {
      await Deno.stat(engineFile);
      await Deno.stat(dirs.clientFile);
      return proc;
    } catch { /* not yet */ }
    if (await proc.exitWithin(100)) {
      throw new Error(`${name} exited early: ${proc.stderr}`);
    }
  }
  await proc[Symbol.asyncDispose]();
  throw new Error(`${name} wrote no connection files in 30 s: ${proc.stderr}`);
}

/** Start our engine (`src/cli/engine.ts`) against the cluster. */
export function startDenoEngine(dirs: ClusterDirs, extra: string[] = []): Proc {
  return new Proc("deno engine", [
    Deno.execPath(),
    "run",
    "-A",
    "--quiet",
    `${ROOT}src/cli/engine.ts`,
    "--profile-dir",
    dirs.profileDir,
    `--cluster-id=${dirs.clusterId}`,
    ...extra,
  ], dirs.env);
}

/** Start a Python `ipengine` against the cluster. */
export function startPythonEngine(dirs: ClusterDirs): Proc {
  return new Proc(
    "ipengine",
    [
      PYTHON,
      "-m",
      "ipyparallel.engine",
      `--profile-dir=${dirs.profileDir}`,
      `--cluster-id=${dirs.clusterId}`,
      "--log-level=40",
    ],
    dirs.env,
    dirs.home,
  );
}

/** Run a scenario of the Python client peer; returns its JSON observations. */
export async function runClient(
  dirs: ClusterDirs,
  scenario: string,
  args: Record<string, unknown>,
  timeoutMs = 60_000,
): Promise<Record<string, unknown>> {
  await using proc = new Proc(
    "client",
    [
      PYTHON,
      CLIENT_PEER,
      dirs.profileDir,
      dirs.clusterId,
      scenario,
      JSON.stringify(args),
    ],
    dirs.env,
    dirs.home,
  );
  const status = await proc.exitWithin(timeoutMs);
  if (!status) throw new Error(`client scenario ${scenario} timed out:\n${proc.stderr}`);
  if (!status.success) {
    throw new Error(`client scenario ${scenario} failed (${status.code}):\n${proc.stderr}`);
  }
  const last = proc.stdout.trim().split("\n").pop() ?? "";
  return JSON.parse(last);
}

/**
 * Wait until the Hub lists `n` registered engines (a direct `queue_status` query). An engine
 * logs its registration at the `registration_reply`, but the Hub completes it only at its first
 * heartbeat, and the Python client subscribes to registration notifications only after its
 * `connection_request`: a registration completing in between is never seen by that client
 * (with either controller), so scenarios start once the Hub has them all.
 */
export async function hubRegistered(dirs: ClusterDirs, n: number, ms = 30_000): Promise<void> {
  await using client = await Client.connect({
    profileDir: dirs.profileDir,
    clusterId: dirs.clusterId,
    timeout: ms,
  });
  const deadline = Date.now() + ms;
  for (;;) {
    // with no engine at all, queue_status answers `IndexError: No Engines Registered`
    const status = await client.queueStatus().catch(() => ({}));
    const engines = Object.keys(status).filter((k) => k !== "unassigned").length;
    if (engines >= n) return;
    if (Date.now() > deadline) {
      throw new Error(`the Hub lists ${engines} of ${n} engines after ${ms} ms`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The engine id our engine logged at registration. */
export async function registeredId(engine: Proc, ms = 20_000): Promise<number> {
  if (!await engine.waitForStderr(/registered as engine (\d+)/, ms)) {
    throw new Error(`our engine did not register:\n${engine.stderr}`);
  }
  return Number(/registered as engine (\d+)/.exec(engine.stderr)![1]);
}
