/**
 * `ipp cluster start` shows engines registering as a progress bar on a terminal and as plain
 * lines otherwise. The terminal is a real pseudo-terminal from util-linux's `script`, and
 * Ctrl-C is typed into it: it stops the cluster, leaving no process or file.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { skipUnlessPresent } from "../helpers/interop.ts";
import { waitUntil } from "../helpers/sshd.ts";

import {
  IPP_MAIN as MAIN,
  killProcessesMentioning,
  processesMentioning,
} from "../helpers/ipp_cli.ts";
const SCRIPT = "/usr/bin/script";

/** Why the terminal test cannot run here (no `script`, or no pseudo-terminal), or `null`. */
function noTerminal(): string | null {
  try {
    Deno.statSync(SCRIPT);
  } catch {
    return `${SCRIPT} not found: apt-get install -y bsdutils`;
  }
  // A machine (or container) without /dev/ptmx cannot give `script` a terminal.
  const probe = new Deno.Command(SCRIPT, {
    args: ["-qfec", "echo pty-ok", "/dev/null"],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).outputSync();
  const said = new TextDecoder().decode(probe.stdout) + new TextDecoder().decode(probe.stderr);
  return said.includes("pty-ok") ? null : `${SCRIPT} could not open a pseudo-terminal: ${said}`;
}

// A skip with a warning here; with IPP_INTEROP=1 (CI) a missing terminal fails the run, as a
// missing Python or sshd does.
const ignoreTerminal = skipUnlessPresent("the terminal test", noTerminal());

/** Collect a stream's text into `into.text` as it arrives. */
async function collect(stream: ReadableStream<Uint8Array>, into: { text: string }) {
  const dec = new TextDecoder();
  for await (const chunk of stream) into.text += dec.decode(chunk, { stream: true });
}

/** Kills what a test started (the child, then anything mentioning its home) and removes home. */
async function cleanUp(child: Deno.ChildProcess, reading: Promise<void>, home: string) {
  try {
    child.kill("SIGKILL");
  } catch { /* ended */ }
  await child.status;
  await reading.catch(() => {});
  killProcessesMentioning(home);
  await Deno.remove(home, { recursive: true });
}

function startArgs(profileDir: string): string[] {
  return [
    "run",
    "-A",
    "--quiet",
    MAIN,
    "cluster",
    "start",
    "-n",
    "2",
    `--profile-dir=${profileDir}`,
    "--controller-arg=--ping=250",
  ];
}

Deno.test({
  name: "On a terminal, ipp cluster start redraws a progress bar to 2/2, and Ctrl-C stops it",
  ignore: ignoreTerminal,
  async fn() {
    const home = await Deno.makeTempDir({ prefix: "ipp-progress-" });
    const profileDir = join(home, "profile");
    // `script` runs the command with `$SHELL -c`. `exec` replaces that shell by ipp: a shell
    // left in between shares the terminal's process group, and dash (/bin/sh, used where SHELL
    // is unset, as in CI) dies of the Ctrl-C, which `script` then reports as exit code 130.
    const command = ["exec", Deno.execPath(), ...startArgs(profileDir)].join(" ");
    const child = new Deno.Command(SCRIPT, {
      args: ["-qfec", command, "/dev/null"],
      env: { HOME: home, SHELL: "/bin/sh" },
      stdin: "piped",
      stdout: "piped",
      stderr: "null",
    }).spawn();
    const out = { text: "" };
    const reading = collect(child.stdout, out);
    const keys = child.stdin.getWriter();
    try {
      await waitUntil(
        () => out.text.includes("ipp cluster: ready"),
        60_000,
        "the cluster",
      ).catch((e) => {
        throw new Error(`${e.message}; the terminal showed ${JSON.stringify(out.text)}`);
      });
      await keys.write(new Uint8Array([3])); // Ctrl-C, through the terminal's line discipline
      await keys.close();
      let timer: ReturnType<typeof setTimeout> | undefined;
      const status = await Promise.race([
        child.status,
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`no exit 30 s after Ctrl-C: ${JSON.stringify(out.text)}`)),
            30_000,
          );
        }),
      ]).finally(() => clearTimeout(timer));
      await reading;
      const seen = `; the terminal showed ${JSON.stringify(out.text)}`;
      assert.equal(status.code, 0, `exit code ${status.code}${seen}`);
      // Each redraw starts with a carriage return and ends without a newline (one redraw per
      // count seen: 0/2, maybe 1/2, 2/2); the last one shows the full bar and 2/2, then the
      // bar is ended with a newline (which the terminal turns into "\r\n").
      const redraws = out.text.split("\r").filter((s) => s.startsWith("engines registered "));
      assert.ok(redraws.length >= 1, `no redraw${seen}`);
      for (const r of redraws) assert.match(r, /^engines registered [█░]{30} [012]\/2$/, seen);
      assert.equal(redraws.at(-1), `engines registered ${"█".repeat(30)} 2/2`, seen);
      assert.ok(out.text.includes(" 2/2\r\n"), `the bar ends with a newline${seen}`);
      assert.doesNotMatch(out.text, /engines registered: /, `no plain lines on a terminal${seen}`);
      assert.match(out.text, /ipp cluster: stopping/, seen);
      await waitUntil(
        () => processesMentioning(profileDir).length === 0,
        30_000,
        `no process left${seen}`,
      );
      assert.deepEqual([...Deno.readDirSync(join(profileDir, "security"))], [], seen);
    } finally {
      await cleanUp(child, reading, home);
    }
  },
});

Deno.test("Piped, ipp cluster start writes plain progress lines, no bar", async () => {
  const home = await Deno.makeTempDir({ prefix: "ipp-progress-" });
  const profileDir = join(home, "profile");
  const child = new Deno.Command(Deno.execPath(), {
    args: startArgs(profileDir),
    env: { HOME: home },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const err = { text: "" };
  const reading = collect(child.stderr, err);
  try {
    await waitUntil(() => err.text.includes("ipp cluster: ready"), 60_000, "the cluster");
    child.kill("SIGTERM");
    assert.equal((await child.status).code, 0);
    await reading;
    const lines = err.text.split("\n").filter((l) => l.startsWith("engines registered"));
    for (const l of lines) assert.match(l, /^engines registered: [012]\/2$/);
    assert.equal(lines.at(-1), "engines registered: 2/2");
    assert.doesNotMatch(err.text, /[\r█░]/, "no carriage return or bar when piped");
  } finally {
    await cleanUp(child, reading, home);
  }
});
