/**
 * Launchers for the controller interop tests: our controller as a subprocess (or in-process),
 * Python `ipengine`s and Python client scripts, each in its own process group (`setsid`) so
 * a test can always kill everything it started (`Cluster[Symbol.asyncDispose]`).
 *
 * Not a test file.
 *
 * @module
 */

import { PYTHON } from "../../helpers/interop.ts";

const ROOT = new URL("../../../", import.meta.url).pathname;
/** This folder (Python client scripts live here). */
export const PEERS = new URL("./", import.meta.url).pathname;
/** The controller's command line entry point. */
export const CONTROLLER_CLI = `${ROOT}src/cli/controller.ts`;

/** The Deno cache of the user running the tests (HOME is redirected for the peers). */
const DENO_DIR = Deno.env.get("DENO_DIR") ??
  `${Deno.env.get("HOME") ?? "/root"}/.cache/deno`;

/** A started process in its own group. */
export interface Proc {
  /** The child (a process-group leader). */
  child: Deno.ChildProcess;
  /** Its pid (= its process group id). */
  pid: number;
  /** Collected stdout+stderr file (stderr only when `out` is set). */
  log: string;
  /** Separate stdout file, when asked for. */
  out?: string;
}

/** Kill a whole process group, ignoring errors (already gone). */
export function killGroup(pid: number, signal: Deno.Signal = "SIGKILL"): void {
  try {
    Deno.kill(-pid, signal);
  } catch {
    // gone already
  }
}

/** A temporary cluster home: profile folder, HOME and IPYTHONDIR, and every process started. */
export class Cluster implements AsyncDisposable {
  /** Temporary root. */
  readonly dir: string;
  /** Profile folder passed as --profile-dir. */
  readonly profileDir: string;
  /** Cluster id. */
  readonly clusterId: string;
  /** Processes started, killed on dispose. */
  readonly procs: Proc[] = [];

  private constructor(dir: string, clusterId: string) {
    this.dir = dir;
    this.profileDir = `${dir}/profile`;
    this.clusterId = clusterId;
  }

  /** A fresh temporary cluster home. */
  static async create(clusterId = "x"): Promise<Cluster> {
    const dir = await Deno.makeTempDir({ prefix: "ipp-ctl-" });
    await Deno.mkdir(`${dir}/home`);
    await Deno.mkdir(`${dir}/ipython`);
    return new Cluster(dir, clusterId);
  }

  /** Environment for every child: HOME and IPYTHONDIR inside the temp folder. */
  get env(): Record<string, string> {
    return {
      HOME: `${this.dir}/home`,
      IPYTHONDIR: `${this.dir}/ipython`,
      DENO_DIR,
      PYTHONUNBUFFERED: "1",
      DENO_NO_UPDATE_CHECK: "1",
    };
  }

  /** Client connection file path. */
  get clientFile(): string {
    return `${this.profileDir}/security/ipcontroller-${this.clusterId}-client.json`;
  }

  /** Engine connection file path. */
  get engineFile(): string {
    return `${this.profileDir}/security/ipcontroller-${this.clusterId}-engine.json`;
  }

  /**
   * Start a process with `setsid` (its own process group), output to a log file; with
   * `separateStdout`, stdout goes to a file of its own (`out`), so a background thread's stderr
   * can never land inside a line the caller parses.
   */
  spawn(name: string, cmd: string, args: string[], separateStdout = false): Proc {
    const log = `${this.dir}/${name}-${this.procs.length}.log`;
    const out = separateStdout ? `${log}.out` : log;
    const child = new Deno.Command("sh", {
      args: [
        "-c",
        separateStdout
          ? 'exec setsid "$0" "$@" >"$IPP_TEST_OUT" 2>"$IPP_TEST_LOG"'
          : 'exec setsid "$0" "$@" >"$IPP_TEST_LOG" 2>&1',
        cmd,
        ...args,
      ],
      env: { ...this.env, IPP_TEST_LOG: log, IPP_TEST_OUT: out },
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    const p = { child, pid: child.pid, log, out: separateStdout ? out : undefined };
    this.procs.push(p);
    return p;
  }

  /** Our controller as a subprocess: `deno run -A src/cli/controller.ts …`. */
  startController(extra: string[] = []): Proc {
    return this.spawn("controller", Deno.execPath(), [
      "run",
      "-A",
      CONTROLLER_CLI,
      `--profile-dir=${this.profileDir}`,
      `--cluster-id=${this.clusterId}`,
      "--ping=250",
      "--log-level=10",
      ...extra,
    ]);
  }

  /** A Python `ipengine --file=<engine.json>`. */
  startEngine(extra: string[] = []): Proc {
    return this.spawn("engine", PYTHON, [
      "-m",
      "ipyparallel.engine",
      `--file=${this.engineFile}`,
      "--log-level=20",
      ...extra,
    ]);
  }

  /** Wait until a path exists. */
  async waitForFile(path: string, timeoutMs = 20_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      try {
        await Deno.stat(path);
        return;
      } catch {
        if (Date.now() > end) throw new Error(`timed out waiting for ${path}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  }

  /**
   * Run a Python client script from this folder with `--file <client.json>` and extra args;
   * its last stdout line starting with `{` must be JSON, which is returned.
   */
  async runClient(script: string, args: string[] = [], timeoutMs = 90_000): Promise<
    Record<string, unknown>
  > {
    const p = this.spawn(
      script.replace(/\.py$/, ""),
      PYTHON,
      [`${PEERS}${script}`, this.clientFile, ...args],
      true,
    );
    const timer = setTimeout(() => killGroup(p.pid), timeoutMs);
    const status = await p.child.status;
    clearTimeout(timer);
    const text = await Deno.readTextFile(p.out!);
    const err = await Deno.readTextFile(p.log);
    if (!status.success) {
      throw new Error(
        `${script} exited with ${status.code}:\n${text.slice(-3000)}\n${err.slice(-3000)}`,
      );
    }
    const lines = text.trim().split("\n").filter((l) => l.startsWith("{"));
    if (!lines.length) {
      throw new Error(`${script} printed no JSON:\n${text.slice(-2000)}\n${err.slice(-2000)}`);
    }
    return JSON.parse(lines.at(-1)!);
  }

  /** Last lines of every log, for failure messages. */
  async logs(): Promise<string> {
    const parts: string[] = [];
    for (const p of this.procs) {
      const t = await Deno.readTextFile(p.log).catch(() => "");
      parts.push(`--- ${p.log}\n${t.split("\n").slice(-40).join("\n")}`);
    }
    return parts.join("\n");
  }

  /** Kill every process group started and remove the temp folder. */
  async [Symbol.asyncDispose](): Promise<void> {
    for (const p of this.procs) killGroup(p.pid);
    await Promise.allSettled(this.procs.map((p) => p.child.status));
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}
