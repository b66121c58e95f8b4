/**
 * A real OpenSSH server for tests: {@link Sshd.start} runs `/usr/sbin/sshd -D -e` on
 * `127.0.0.1` and a free port, self-contained in a temporary folder (generated host key, user
 * key, `authorized_keys`, `sshd_config`), and `await using` stops it (its whole process tree)
 * and removes the folder. Needs Debian's `openssh-server` and `openssh-client`; tests skip
 * with a message when they are missing, unless `IPP_INTEROP=1` (see {@link needsSshd}).
 *
 * ```ts ignore
 * await using sshd = await Sshd.start();
 * await new Deno.Command("ssh", { args: [...sshd.sshArgs, sshd.host, "true"] }).output();
 * ```
 *
 * @module
 */

import { userInfo } from "node:os";
import { exists, skipUnlessPresent } from "./interop.ts";
import { accepts, freePort } from "./net.ts";

/** The sshd program (it must be started by absolute path). */
export const SSHD = "/usr/sbin/sshd";
/** The ssh client. */
export const SSH = "/usr/bin/ssh";
/** The key generator. */
export const SSH_KEYGEN = "/usr/bin/ssh-keygen";

/** sshd's privilege separation folder; it refuses to start without it. */
const PRIVSEP_DIR = "/run/sshd";

/**
 * `ignore` value for `Deno.test` of a test that needs a real sshd: skips with a clear message
 * when OpenSSH is missing, unless `IPP_INTEROP=1`, where the missing peer fails the run.
 */
export function needsSshd(): boolean {
  const missing = [SSHD, SSH, SSH_KEYGEN].filter((p) => !exists(p));
  return skipUnlessPresent(
    "sshd tests",
    missing.length === 0
      ? null
      : `${missing.join(", ")} not found: apt-get install -y openssh-server openssh-client`,
  );
}

/** A process of this machine, from `/proc`. */
export interface ProcInfo {
  /** Process id. */
  pid: number;
  /** Parent process id. */
  ppid: number;
  /** Command line, arguments joined by spaces. */
  cmdline: string;
}

/** Every live process (zombies excluded), from `/proc`. */
export function processes(): ProcInfo[] {
  const out: ProcInfo[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${e.name}/stat`);
      // "pid (comm) S ppid …": comm may hold spaces and parentheses, so cut after the last ")".
      const [state, ppid] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (state === "Z") continue;
      const cmdline = Deno.readTextFileSync(`/proc/${e.name}/cmdline`)
        .split("\0").join(" ").trim();
      out.push({ pid: Number(e.name), ppid: Number(ppid), cmdline });
    } catch {
      // Gone while we looked.
    }
  }
  return out;
}

/** The live descendants of `pid` (children, their children, …), not `pid` itself. */
export function descendants(pid: number): ProcInfo[] {
  const all = processes();
  const found: ProcInfo[] = [];
  let parents = new Set([pid]);
  while (parents.size > 0) {
    const next = all.filter((p) => parents.has(p.ppid));
    found.push(...next);
    parents = new Set(next.map((p) => p.pid));
  }
  return found;
}

/**
 * Poll `check` every 20 ms until it returns true.
 *
 * @throws {Error} `what` did not happen within `timeoutMs`.
 */
export async function waitUntil(
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) {
      throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function run(program: string, args: string[]): Promise<void> {
  const out = await new Deno.Command(program, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  if (!out.success) {
    throw new Error(
      `${program} ${args.join(" ")} failed (${out.code}): ${new TextDecoder().decode(out.stderr)}`,
    );
  }
}

/** Options of {@link Sshd.start}. */
export interface SshdOptions {
  /** Milliseconds to wait for sshd to accept connections, per port tried (default 10 000). */
  timeoutMs?: number;
  /** Ports to try before giving up (another process may take a free port first; default 5). */
  attempts?: number;
}

/** A running sshd on 127.0.0.1, its keys and the ssh options to reach it. */
export class Sshd implements AsyncDisposable {
  /** The temporary folder holding keys, config and pid file. */
  readonly dir: string;
  /** The port it listens on (127.0.0.1 only). */
  readonly port: number;
  /** The user to log in as (the user running the test). */
  readonly user: string;
  /** Private key authorised for {@link Sshd.user} (`ssh -i`). */
  readonly keyFile: string;
  readonly #process: Deno.ChildProcess;
  readonly #stderr: Promise<string>;
  #stopped: Promise<void> | undefined;

  private constructor(
    dir: string,
    port: number,
    user: string,
    process: Deno.ChildProcess,
    stderr: Promise<string>,
  ) {
    this.dir = dir;
    this.port = port;
    this.user = user;
    this.keyFile = `${dir}/id_ed25519`;
    this.#process = process;
    this.#stderr = stderr;
  }

  /** Process id of the listening sshd. */
  get pid(): number {
    return this.#process.pid;
  }

  /** `user@127.0.0.1` — the destination for `ssh` (with `-p`, see {@link Sshd.sshArgs}). */
  get host(): string {
    return `${this.user}@127.0.0.1`;
  }

  /** `user@127.0.0.1:port` — the `[user@]host[:port]` form of `sshserver`. */
  get server(): string {
    return `${this.host}:${this.port}`;
  }

  /**
   * ssh options to reach this server non-interactively: the key, no host key checking (the
   * host key is fresh each run), the port.
   */
  get sshArgs(): string[] {
    return [...this.sshOptions, "-p", String(this.port)];
  }

  /** {@link Sshd.sshArgs} without `-p` (for tools that take the port elsewhere). */
  get sshOptions(): string[] {
    return [
      "-i",
      this.keyFile,
      "-o",
      "StrictHostKeyChecking=no",
      "-o",
      "UserKnownHostsFile=/dev/null",
      "-o",
      "BatchMode=yes",
      "-o",
      "LogLevel=ERROR",
    ];
  }

  /**
   * Write an executable `ssh` wrapper in {@link Sshd.dir} that `exec`s the real ssh with the
   * host-key options of {@link Sshd.sshOptions} (not the key or port) before the caller's
   * arguments, for programs that take an ssh command but no ssh options (`sshCommand`).
   *
   * @param options `askHostKey`: leave ssh's host-key question on
   *   (`StrictHostKeyChecking=ask`, an empty known-hosts file) instead of trusting the host key.
   * @returns The wrapper's path.
   */
  async sshWrapper(options: { askHostKey?: boolean } = {}): Promise<string> {
    const path = `${this.dir}/${options.askHostKey ? "ssh-ask" : "ssh"}`;
    const checking = options.askHostKey ? "ask" : "no";
    await Deno.writeTextFile(
      path,
      "#!/bin/sh\n" +
        `exec ${SSH} -o StrictHostKeyChecking=${checking} -o UserKnownHostsFile=/dev/null ` +
        `-o LogLevel=ERROR "$@"\n`,
      { mode: 0o755 },
    );
    await Deno.chmod(path, 0o755);
    return path;
  }

  /**
   * Generate another ed25519 key pair in {@link Sshd.dir}.
   *
   * @param name The private key's file name (the public key gets `.pub`).
   * @param options `passphrase` encrypts the private key (`ssh-keygen -N`; default none);
   *   `authorize` adds the public key to `authorized_keys` (default true).
   * @returns The private key's path.
   */
  async newKey(
    name: string,
    options: { passphrase?: string; authorize?: boolean } = {},
  ): Promise<string> {
    const path = `${this.dir}/${name}`;
    await run(SSH_KEYGEN, ["-q", "-t", "ed25519", "-N", options.passphrase ?? "", "-f", path]);
    if (options.authorize ?? true) {
      await Deno.writeTextFile(
        `${this.dir}/authorized_keys`,
        await Deno.readTextFile(`${path}.pub`),
        { append: true },
      );
    }
    return path;
  }

  /**
   * Generate keys and config in a temporary folder, start sshd on a free loopback port and
   * wait until it accepts connections.
   *
   * @throws {Error} sshd could not start (with its stderr).
   */
  static async start(options: SshdOptions = {}): Promise<Sshd> {
    Deno.mkdirSync(PRIVSEP_DIR, { recursive: true, mode: 0o755 });
    const dir = await Deno.makeTempDir({ prefix: "ipp-sshd-" });
    try {
      await run(SSH_KEYGEN, ["-q", "-t", "ed25519", "-N", "", "-f", `${dir}/host_ed25519`]);
      await run(SSH_KEYGEN, ["-q", "-t", "ed25519", "-N", "", "-f", `${dir}/id_ed25519`]);
      await Deno.copyFile(`${dir}/id_ed25519.pub`, `${dir}/authorized_keys`);
      const user = userInfo().username;
      let last = "";
      for (let attempt = 0; attempt < (options.attempts ?? 5); attempt++) {
        const port = freePort();
        const config = `${dir}/sshd_config`;
        await Deno.writeTextFile(
          config,
          [
            "ListenAddress 127.0.0.1",
            `Port ${port}`,
            `HostKey ${dir}/host_ed25519`,
            `AuthorizedKeysFile ${dir}/authorized_keys`,
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PermitRootLogin prohibit-password",
            "StrictModes no",
            `PidFile ${dir}/sshd.pid`,
            "AllowTcpForwarding yes",
            "UsePAM no",
            "LogLevel ERROR",
            "",
          ].join("\n"),
        );
        const process = new Deno.Command(SSHD, {
          args: ["-D", "-e", "-f", config],
          stdin: "null",
          stdout: "null",
          stderr: "piped",
        }).spawn();
        const stderr = new Response(process.stderr).text();
        const sshd = new Sshd(dir, port, user, process, stderr);
        let exited = false;
        process.status.then(() => exited = true);
        const deadline = Date.now() + (options.timeoutMs ?? 10_000);
        while (!exited && Date.now() < deadline && !(await accepts(port))) {
          await new Promise((r) => setTimeout(r, 20));
        }
        if (!exited && (await accepts(port))) return sshd;
        try {
          process.kill("SIGKILL");
        } catch {
          // Already exited.
        }
        await process.status;
        last = (await stderr).trim() || (exited ? "exited" : "did not accept connections");
      }
      throw new Error(`sshd did not start: ${last}`);
    } catch (error) {
      await Deno.remove(dir, { recursive: true });
      throw error;
    }
  }

  /**
   * Stop sshd and every session it still serves (its process tree), then remove the folder.
   * Idempotent.
   */
  stop(): Promise<void> {
    return this.#stopped ??= (async () => {
      const tree = descendants(this.pid);
      try {
        this.#process.kill("SIGTERM");
      } catch {
        // Already exited.
      }
      for (const p of tree) {
        try {
          Deno.kill(p.pid, "SIGKILL");
        } catch {
          // Already exited.
        }
      }
      await this.#process.status;
      await this.#stderr.catch(() => "");
      await Deno.remove(this.dir, { recursive: true });
    })();
  }

  /** Same as {@link Sshd.stop}, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }
}
