/**
 * {@link SshAskpass}: answers the system `ssh`'s password and key-passphrase prompts without a
 * terminal, for `Client.connect({ password })`. ipyparallel types the password into a
 * pseudo-terminal with pexpect (`zmq.ssh.tunnel`); here ssh itself asks a helper program:
 * `SSH_ASKPASS=<helper>` with `SSH_ASKPASS_REQUIRE=force` (OpenSSH 8.4 or later) makes ssh run
 * the helper for every prompt, with the prompt as its argument, whether or not `DISPLAY` is set
 * and whether or not a terminal is around, so no `DISPLAY` is set and ssh never reads a tty.
 *
 * Where the secret lives: only in the environment of the ssh process
 * ({@link SECRET_ENV}), which the helper inherits. The helper is a small `/bin/sh` script in a
 * private (0700) temporary folder that holds no secret; it prints the variable with the shell's
 * built-in `printf`, so the secret is never an argument of any process (`/proc/<pid>/cmdline`
 * is world-readable) and never touches a disk. A process's environment
 * (`/proc/<pid>/environ`) is readable only by its own user and root, who could read the
 * client's memory anyway. A 0600 file removed "right after" was the alternative; it would put
 * the secret on disk and leave it there if the client died before removing it. ssh forwards
 * environment variables only with a session (`SendEnv`), and the tunnel's `ssh -N` opens none.
 *
 * Only prompts that name a password or a passphrase get the secret; any other question (an
 * unknown host key's "yes/no", a one-time code) gets a refusal, which ssh takes as "no", so a
 * prompt never loops or hangs.
 *
 * @module
 */

import { IppError } from "../errors.ts";

/** The environment variable, set for the ssh process only, that carries the secret. */
export const SECRET_ENV = "IPP_SSH_ASKPASS_SECRET";

/** The helper: ssh runs it with the prompt as `$1` and reads the answer from its stdout. */
const HELPER = `#!/bin/sh
# ssh askpass helper of IPython parallel for Deno: prints the secret for password and
# passphrase prompts only (printf is a shell built-in: the secret is no process's argument).
case "$1" in
  *[Pp]assword*|*[Pp]assphrase*) printf '%s\\n' "$${SECRET_ENV}" ;;
  *) exit 1 ;;
esac
`;

/** The OpenSSH version `SSH_ASKPASS_REQUIRE` needs. */
const MIN_VERSION: readonly [number, number] = [8, 4];

/** `ssh -V` checks done, by ssh program. */
const versionChecks = new Map<string, Promise<void>>();

/**
 * An askpass helper on disk for one ssh process, and the environment that makes ssh use it.
 * Remove it ({@link SshAskpass.remove}) once ssh has authenticated.
 */
export class SshAskpass {
  /** The helper's path (the value of `SSH_ASKPASS`). */
  readonly path: string;
  readonly #dir: string;
  readonly #secret: string;
  #removed = false;

  private constructor(dir: string, secret: string) {
    this.#dir = dir;
    this.path = `${dir}/askpass`;
    this.#secret = secret;
  }

  /**
   * Checks that `sshCommand` is OpenSSH 8.4 or later, then writes the helper into a new
   * private temporary folder.
   *
   * @param secret The password or passphrase to answer with.
   * @param sshCommand The ssh program that will run the helper.
   * @returns The helper; give {@link SshAskpass.env} to ssh's environment.
   * @throws {IppError} ssh is older than 8.4 (it would ignore `SSH_ASKPASS_REQUIRE`).
   */
  static async create(secret: string, sshCommand: string): Promise<SshAskpass> {
    await checkAskpassSupport(sshCommand);
    const dir = await Deno.makeTempDir({ prefix: "ipp-askpass-" });
    await Deno.chmod(dir, 0o700);
    const askpass = new SshAskpass(dir, secret);
    await Deno.writeTextFile(askpass.path, HELPER, { mode: 0o700 });
    await Deno.chmod(askpass.path, 0o700);
    return askpass;
  }

  /** Environment variables for the ssh process: the helper, `force`, and the secret. */
  env(): Record<string, string> {
    return {
      SSH_ASKPASS: this.path,
      SSH_ASKPASS_REQUIRE: "force",
      [SECRET_ENV]: this.#secret,
    };
  }

  /** Removes the helper and its folder. Idempotent. */
  async remove(): Promise<void> {
    if (this.#removed) return;
    this.#removed = true;
    await Deno.remove(this.#dir, { recursive: true }).catch(() => {});
  }
}

/**
 * Throws when `sshCommand -V` names an OpenSSH older than 8.4, whose ssh would ignore
 * `SSH_ASKPASS_REQUIRE` and look for a terminal or an X display instead. Output that names no
 * OpenSSH version (a wrapper, another ssh) passes: the tunnel's time limit still applies.
 * Each program is checked once.
 */
function checkAskpassSupport(sshCommand: string): Promise<void> {
  let check = versionChecks.get(sshCommand);
  if (check === undefined) {
    check = (async () => {
      let said: string;
      try {
        const out = await new Deno.Command(sshCommand, {
          args: ["-V"],
          stdin: "null",
          stdout: "piped",
          stderr: "piped",
        }).output();
        said = new TextDecoder().decode(out.stderr) + new TextDecoder().decode(out.stdout);
      } catch {
        return; // Not runnable: starting the tunnel will say so.
      }
      const m = /OpenSSH_(\d+)\.(\d+)/.exec(said);
      if (m === null) return;
      const [major, minor] = [Number(m[1]), Number(m[2])];
      if (major < MIN_VERSION[0] || (major === MIN_VERSION[0] && minor < MIN_VERSION[1])) {
        throw new IppError(
          `SSH password authentication needs OpenSSH ${MIN_VERSION.join(".")} or later ` +
            `(SSH_ASKPASS_REQUIRE), but ${sshCommand} is ${m[0]}: upgrade it, or use an SSH ` +
            "agent or an unencrypted sshkey instead of password",
        );
      }
    })();
    versionChecks.set(sshCommand, check);
    check.catch(() => versionChecks.delete(sshCommand));
  }
  return check;
}

/**
 * Whether a private key file is protected by a passphrase (OpenSSH's own format, or PEM).
 * Used to word errors; an unreadable or unknown file counts as not encrypted.
 *
 * @param path The key file.
 * @returns true when ssh would need a passphrase to load it.
 */
export async function isEncryptedKey(path: string): Promise<boolean> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch {
    return false;
  }
  // PEM: "Proc-Type: 4,ENCRYPTED" (PKCS#1) or "BEGIN ENCRYPTED PRIVATE KEY" (PKCS#8).
  if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text) && text.includes("ENCRYPTED")) return true;
  // OpenSSH (PROTOCOL.key): "openssh-key-v1\0", then string ciphername ("none" when clear).
  const body = /-----BEGIN OPENSSH PRIVATE KEY-----([\s\S]*?)-----END OPENSSH PRIVATE KEY-----/
    .exec(text)?.[1].replace(/\s+/g, "");
  if (body === undefined) return false;
  let bytes: Uint8Array;
  try {
    bytes = Uint8Array.from(atob(body), (c) => c.charCodeAt(0));
  } catch {
    return false;
  }
  const magic = "openssh-key-v1\0";
  if (bytes.length < magic.length + 4) return false;
  if (new TextDecoder().decode(bytes.subarray(0, magic.length)) !== magic) return false;
  const view = new DataView(bytes.buffer, bytes.byteOffset);
  const length = view.getUint32(magic.length);
  const start = magic.length + 4;
  const cipher = new TextDecoder().decode(bytes.subarray(start, start + length));
  return cipher !== "none";
}
