/**
 * {@link SshTunnel}: the client's channels through an SSH server, with the system `ssh`
 * (PROTOCOL.md §2.4; ipyparallel's `sshserver`/`sshkey`). One `ssh -N` process forwards a
 * local loopback port to each controller port as the SSH server sees it
 * (`-L 127.0.0.1:<local>:<ip>:<port>`); the client then connects to the local ports.
 * Tunnelling is invisible on the wire.
 *
 * Without `password`, authentication is non-interactive (`BatchMode=yes`): an SSH agent, a
 * default key, or `sshkey`; ssh fails rather than prompt. With `password`, ssh's prompts go to
 * an askpass helper (`ssh_askpass.ts`) that answers password prompts (the server's password)
 * and passphrase prompts (an encrypted `sshkey`) alike, one attempt each
 * (`NumberOfPasswordPrompts=1`), so a wrong password fails at once with ssh's message.
 *
 * @module
 */

import { InvalidOptionError, IppError } from "../errors.ts";
import type { ClientUrls } from "../protocol/connection.ts";
import { isEncryptedKey, SshAskpass } from "./ssh_askpass.ts";

/** Options of {@link SshTunnel.open}. */
export interface SshTunnelOptions {
  /** `[user@]host[:port]`. */
  server: string;
  /** Private key file (`ssh -i`). */
  keyfile?: string;
  /**
   * Answer for ssh's password and key-passphrase prompts (through `SSH_ASKPASS`, never a
   * command line; OpenSSH 8.4 or later). Without it ssh runs in `BatchMode` and never prompts.
   */
  password?: string;
  /** The ssh program (default `"ssh"`). */
  sshCommand?: string;
  /** Milliseconds to wait for every forward to accept connections (default 15 000). */
  timeoutMs?: number;
}

/** Whether an address is this machine's loopback. */
export function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\./.test(host);
}

/** A running `ssh -N -L …` process and the local URLs it forwards. */
export class SshTunnel {
  /** The client URLs, rewritten to the local ends of the tunnels. */
  readonly urls: ClientUrls;
  /** The ssh command line (without the program), for messages and tests. */
  readonly args: string[];
  readonly #process: Deno.ChildProcess;
  #closed = false;

  private constructor(urls: ClientUrls, args: string[], process: Deno.ChildProcess) {
    this.urls = urls;
    this.args = args;
    this.#process = process;
  }

  /**
   * Starts `ssh` with one forward per controller port and waits until every local end
   * accepts connections.
   *
   * @param urls The client URLs from the connection file (`tcp://ip:port`).
   * @param options Server, key, password, ssh program, time limit.
   * @returns The tunnel; close it with {@link SshTunnel.close}.
   * @throws {InvalidOptionError} A URL is not TCP, or the server is malformed.
   * @throws {IppError} ssh exited (a refused key or password) or the forwards did not come up
   * in time (with ssh's stderr); or `password` with an OpenSSH older than 8.4.
   */
  static async open(urls: ClientUrls, options: SshTunnelOptions): Promise<SshTunnel> {
    const m = /^(?:([^@]+)@)?([^:@]+)(?::(\d+))?$/.exec(options.server);
    if (m === null) {
      throw new InvalidOptionError(
        "sshserver",
        `sshserver must be [user@]host[:port], got ${JSON.stringify(options.server)}`,
      );
    }
    const [, user, host, port] = m;
    const target = user ? `${user}@${host}` : host;
    const deadline = Date.now() + (options.timeoutMs ?? 15_000);
    const sshCommand = options.sshCommand ?? "ssh";
    const askpass = options.password === undefined
      ? undefined
      : await SshAskpass.create(options.password, sshCommand);
    try {
      return await SshTunnel.#start(urls, options, sshCommand, target, port, deadline, askpass);
    } finally {
      // ssh authenticates before it opens the forwards: once they accept, or once ssh has
      // failed, the helper is no longer needed.
      await askpass?.remove();
    }
  }

  /** {@link SshTunnel.open} once the askpass helper (if any) is ready. */
  static async #start(
    urls: ClientUrls,
    options: SshTunnelOptions,
    sshCommand: string,
    target: string,
    port: string | undefined,
    deadline: number,
    askpass: SshAskpass | undefined,
  ): Promise<SshTunnel> {
    // Without a password ssh must never prompt; with one, one try at each prompt.
    const auth = askpass === undefined
      ? ["-o", "BatchMode=yes"]
      : ["-o", "BatchMode=no", "-o", "NumberOfPasswordPrompts=1"];
    // A local port picked free can be taken by another process before ssh binds it; ssh then
    // exits ("Address already in use") and we try again with other ports.
    for (let attempt = 1;; attempt++) {
      const { local, forwards } = pickLocalPorts(urls);
      const args = [
        "-N",
        ...auth,
        "-o",
        "ExitOnForwardFailure=yes",
        "-o",
        "ServerAliveInterval=15",
        ...(options.keyfile ? ["-i", options.keyfile] : []),
        ...(port ? ["-p", port] : []),
        ...[...forwards].flatMap(([remote, lport]) => ["-L", `127.0.0.1:${lport}:${remote}`]),
        target,
      ];
      const process = new Deno.Command(sshCommand, {
        args,
        env: askpass?.env(),
        stdin: "null",
        stdout: "null",
        stderr: "piped",
      }).spawn();
      const tunnel = new SshTunnel(local, args, process);
      const stderr = new Response(process.stderr).text();
      const failure = await waitForForwards(process, [...forwards.values()], deadline);
      if (failure === null) {
        stderr.catch(() => {});
        return tunnel;
      }
      await tunnel.close();
      const said = (await stderr.catch(() => "")).trim();
      if (attempt < 4 && failure !== "timed out" && /already in use|cannot listen/.test(said)) {
        continue;
      }
      throw new IppError(
        `SSH tunnel to ${options.server} failed (${failure}): ${said || "no output"}` +
          ` (${await authHint(target, options)})`,
      );
    }
  }

  /** Stops the ssh process. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#process.kill("SIGTERM");
    } catch {
      // already gone
    }
    await this.#process.status;
  }
}

/** What to check when ssh failed, worded for the authentication that was tried. */
async function authHint(target: string, options: SshTunnelOptions): Promise<string> {
  const key = options.keyfile;
  const encrypted = key !== undefined && await isEncryptedKey(key);
  if (options.password !== undefined) {
    return encrypted
      ? `check password: it unlocks sshkey ${key} (and answers a server password prompt)`
      : `check password: it answers the password prompt of \`ssh ${target}\``;
  }
  if (encrypted) {
    return `sshkey ${key} is encrypted: give its passphrase as password, or load it into an ` +
      "SSH agent";
  }
  return `check that \`ssh ${target}\` works without a password prompt: use an agent or ` +
    "sshkey, or give password";
}

/** One free local port per distinct controller address, and the rewritten URLs. */
function pickLocalPorts(urls: ClientUrls): { local: ClientUrls; forwards: Map<string, number> } {
  const forwards = new Map<string, number>();
  const local: Record<string, string> = {};
  for (const [channel, url] of Object.entries(urls)) {
    const u = /^tcp:\/\/(.+):(\d+)$/.exec(url);
    if (u === null) {
      throw new InvalidOptionError("sshserver", `Cannot tunnel ${url}: only tcp:// is supported`);
    }
    const remote = `${u[1]}:${u[2]}`;
    let lport = forwards.get(remote);
    if (lport === undefined) forwards.set(remote, lport = freeLoopbackPort());
    local[channel] = `tcp://127.0.0.1:${lport}`;
  }
  return { local: local as unknown as ClientUrls, forwards };
}

/**
 * Waits until every forwarded port accepts connections.
 *
 * @returns `null` when they all do, otherwise why not (ssh's exit or a time-out).
 */
async function waitForForwards(
  process: Deno.ChildProcess,
  ports: number[],
  deadline: number,
): Promise<string | null> {
  const exited = process.status;
  for (const lport of ports) {
    while (!(await accepts(lport))) {
      const done = await Promise.race([exited, delay(50).then(() => null)]);
      if (done !== null) return `ssh exited with code ${done.code}`;
      if (Date.now() > deadline) return "timed out";
    }
  }
  return null;
}

/** Next candidate of {@link freeLoopbackPort}: a random start, then one port further each time. */
let nextPort = Math.floor(Math.random() * 12_000);

/**
 * A TCP port on 127.0.0.1 that was free a moment ago, preferably below Linux's ephemeral
 * range (32768–60999) so that the kernel does not hand it to another socket before the
 * caller's peer binds it. Successive calls return different ports (a cursor walks
 * 20000–31999 from a random start), so a caller may take several before binding any.
 *
 * @returns The port number.
 */
export function freeLoopbackPort(): number {
  for (let i = 0; i < 50; i++) {
    const port = 20_000 + (nextPort++ % 12_000);
    try {
      Deno.listen({ hostname: "127.0.0.1", port }).close();
      return port;
    } catch {
      // taken: try the next one
    }
  }
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/**
 * Whether a TCP connection to 127.0.0.1:`port` is accepted now.
 *
 * @param port The port.
 * @returns true when something listens there.
 */
export async function accepts(port: number): Promise<boolean> {
  try {
    (await Deno.connect({ hostname: "127.0.0.1", port })).close();
    return true;
  } catch {
    return false;
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
