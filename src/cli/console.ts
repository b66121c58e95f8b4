/**
 * `ipp console`: a line-oriented console connected to a cluster, with IPython's parallel
 * magics — Deno's own REPL has no hook to send input elsewhere, so `%autopx` lives here.
 *
 * Each line read from standard input is one of:
 *
 * - `%autopx` — toggles autopx mode: from then on every line runs on the engines, until the
 *   next `%autopx` (as ipyparallel's `%autopx`);
 * - `%px <code>` — runs one line on the engines;
 * - `%pxresult` — prints the last remote output again;
 * - `exit`, `quit`, `%exit` — leaves (so does the end of input);
 * - anything else — JavaScript evaluated here, with `rc` (the Client), `view` (the DirectView
 *   the magics use) and the `px`/`pxresult` globals of `rc.activate()` in scope. `await`
 *   works; `const`/`let`/`var x = …`, `function f` and `class C` lines define globals, so
 *   later lines see them. Type annotations are not understood here (the engines do run
 *   TypeScript).
 *
 * Remote output is printed as ipyparallel prints it: `[stdout:0]` blocks, then `Out[0:3]: …`
 * per engine; a remote error prints the engine's traceback and the console goes on.
 *
 * @module
 */

import { Client } from "../client/client.ts";
import type { ClientOptions } from "../client/client_core.ts";
import type { DirectView } from "../client/direct_view.ts";
import type { Targets } from "../client/targets.ts";
import { CompositeError, RemoteError } from "../errors.ts";
import { flags as readFlags } from "./flags.ts";

export type { ClientOptions, Targets };

/** `ipp console --help`. */
export const CONSOLE_HELP = `ipp console — a console connected to a cluster, with %px and %autopx

Usage:
  ipp console [options]

Lines:
  %autopx            toggle sending every line to the engines (and back)
  %px <code>         run one line on the engines
  %pxresult          print the last remote output again
  exit, quit         leave (as does the end of input)
  <JavaScript>       run here, with rc (the Client), view, px and pxresult defined

Options:
  --profile <name>       IPython profile (default: default)
  --profile-dir <dir>    profile folder
  --ipython-dir <dir>    IPython folder (default: $IPYTHONDIR or ~/.ipython)
  --cluster-id <id>      cluster id (connection file ipcontroller-<id>-client.json)
  --url-file <path>      the client connection file itself
  --sshserver <server>   tunnel through ssh to [user@]host[:port]
  --sshkey <file>        private key for the tunnel
  --targets <ids>        engines for %px and %autopx: all (default) or ids, e.g. 0,2
  --autopx               start in autopx mode
  --timeout <s>          seconds to wait for the connection (default: 10)
  -h, --help             show this help

Examples:
  ipp cluster start -n 2 --daemonize && ipp console
  printf '%%px globalThis.x = 6 * 7\\n%%px x\\n' | ipp console --cluster-id=demo
`;

/** Options of {@link runConsole}. */
export interface ConsoleOptions {
  /** How to reach the controller (`Client.connect` options). */
  connect?: ClientOptions;
  /** Engines `%px` and `%autopx` run on (default `"all"`, following new engines). */
  targets?: Targets;
  /** Start in autopx mode (default false). */
  autopx?: boolean;
  /** Where lines come from (default: standard input). */
  input?: ReadableStream<Uint8Array>;
  /** Show prompts (default: when standard input is a terminal). */
  prompt?: boolean;
}

const encoder = new TextEncoder();
const write = (text: string) => Deno.stdout.writeSync(encoder.encode(text));
const writeErr = (text: string) => Deno.stderr.writeSync(encoder.encode(text));

/**
 * Connects a client and runs the console until the input ends or `exit` (see the module doc).
 * The client is closed on the way out.
 *
 * @param options Connection, targets, start mode, input.
 * @returns The exit code: 0, or 1 when the client could not connect.
 */
export async function runConsole(options: ConsoleOptions = {}): Promise<number> {
  let client: Client;
  try {
    client = await Client.connect(options.connect);
  } catch (error) {
    writeErr(`ipp console: ${(error as Error).message}\n`);
    return 1;
  }
  const g = globalThis as Record<string, unknown>;
  try {
    const view = client.activate(options.targets ?? "all");
    g.rc = client;
    g.view = view;
    const prompt = options.prompt ?? Deno.stdin.isTerminal();
    let autopx = options.autopx ?? false;
    let n = 1;
    const ask = () => {
      if (prompt) write(autopx ? `[px] In [${n}]: ` : `In [${n}]: `);
    };
    ask();
    for await (const raw of readLines(options.input ?? Deno.stdin.readable)) {
      const line = raw.trim();
      if (line === "exit" || line === "quit" || line === "%exit") break;
      if (line !== "") {
        n++;
        if (line === "%autopx") {
          autopx = !autopx;
          write(`%autopx ${autopx ? "enabled" : "disabled"}\n`);
        } else if (line === "%pxresult") {
          report(() => view.pxResult());
        } else if (line === "%px" || line.startsWith("%px ")) {
          const code = line.slice(3).trim();
          if (code === "") writeErr("%px needs code: %px <code>\n");
          else await remote(view, code);
        } else if (autopx) {
          await remote(view, raw);
        } else {
          await local(line);
        }
      }
      ask();
    }
    if (prompt) write("\n");
    return 0;
  } finally {
    for (const name of ["rc", "view", "px", "pxresult"]) delete g[name];
    await client.close();
  }
}

/**
 * `ipp console [options]` (see {@link CONSOLE_HELP}).
 *
 * @param args Arguments after `console`.
 * @returns The exit code (2 for bad arguments).
 */
export async function consoleCommand(args: string[]): Promise<number> {
  if (args.includes("-h") || args.includes("--help")) {
    write(CONSOLE_HELP);
    return 0;
  }
  let options: ConsoleOptions;
  try {
    options = parseConsoleArgs(args);
  } catch (error) {
    writeErr(`ipp console: ${(error as Error).message}\n\n${CONSOLE_HELP}`);
    return 2;
  }
  return await runConsole(options);
}

/**
 * Parses `ipp console` flags (see {@link CONSOLE_HELP}).
 *
 * @param args The flags, `--name value` or `--name=value`.
 * @returns The console options.
 * @throws {Error} An unknown flag, a missing value or a bad number or target list.
 */
export function parseConsoleArgs(args: string[]): ConsoleOptions {
  const connect: ClientOptions = {};
  const options: ConsoleOptions = { connect };
  for (const { name, value } of readFlags(args)) {
    switch (name) {
      case "--profile":
        connect.profile = value();
        break;
      case "--profile-dir":
        connect.profileDir = value();
        break;
      case "--ipython-dir":
        connect.ipythonDir = value();
        break;
      case "--cluster-id":
        connect.clusterId = value();
        break;
      case "--url-file":
        connect.urlFile = value();
        break;
      case "--sshserver":
        connect.sshserver = value();
        break;
      case "--sshkey":
        connect.sshkey = value();
        break;
      case "--timeout": {
        const s = Number(value());
        if (!(s >= 0)) throw new Error(`--timeout must be a number of seconds >= 0`);
        connect.timeout = s * 1000;
        break;
      }
      case "--targets": {
        const text = value();
        if (text === "all") break;
        const ids = text.split(",").map((t) => Number(t.trim()));
        if (ids.length === 0 || ids.some((id) => !Number.isInteger(id) || id < 0)) {
          throw new Error(`--targets must be "all" or engine ids like 0,2; got ${text}`);
        }
        options.targets = ids.length === 1 ? ids[0] : ids;
        break;
      }
      case "--autopx":
        options.autopx = true;
        break;
      default:
        throw new Error(`unknown option ${JSON.stringify(name)}`);
    }
  }
  return options;
}

/** Runs code on the view's engines and prints their output (a remote error is printed too). */
async function remote(view: DirectView, code: string): Promise<void> {
  try {
    await view.px`${code}`;
  } catch (error) {
    // px printed the engines' tracebacks; other failures (no engine…) are printed here.
    if (!(error instanceof RemoteError || error instanceof CompositeError)) {
      writeErr(`${(error as Error).name}: ${(error as Error).message}\n`);
    }
  }
}

/** Evaluates a line here and prints its value, or its error. */
async function local(line: string): Promise<void> {
  await report(async () => {
    const value = await evaluate(line);
    if (value !== undefined) {
      write(`${Deno.inspect(value, { colors: Deno.stdout.isTerminal() })}\n`);
    }
  });
}

async function report(f: () => unknown): Promise<void> {
  try {
    await f();
  } catch (error) {
    const e = error as Error;
    writeErr(`${e?.name ?? "Error"}: ${e?.message ?? String(error)}\n`);
  }
}

// deno-lint-ignore no-explicit-any
const AsyncFunction = (async () => {}).constructor as new (body: string) => () => Promise<any>;
const DECLARATION = /^(?:const|let|var)\s+([A-Za-z_$][\w$]*)\s*=\s*([\s\S]+?);?$/;
const DEFINITION = /^(?:(?:async\s+)?function\s*\*?\s*|class\s+)([A-Za-z_$][\w$]*)/;

/**
 * Evaluates one line of JavaScript in the global scope, `await` allowed: an expression gives
 * its value; `const|let|var x = …`, `function f` and `class C` define globals.
 */
async function evaluate(line: string): Promise<unknown> {
  const g = globalThis as Record<string, unknown>;
  const declaration = DECLARATION.exec(line);
  if (declaration) {
    g[declaration[1]] = await new AsyncFunction(`return (${declaration[2]}\n);`)();
    return undefined;
  }
  const definition = DEFINITION.exec(line);
  if (definition) {
    g[definition[1]] = (0, eval)(`(${line.replace(/;$/, "")}\n)`);
    return undefined;
  }
  let body: () => Promise<unknown>;
  try {
    body = new AsyncFunction(`return (${line.replace(/;$/, "")}\n);`);
  } catch (error) {
    if (!(error instanceof SyntaxError)) throw error;
    body = new AsyncFunction(line); // statements: no value
  }
  return await body();
}

/** The lines of a byte stream, decoded as UTF-8, without their line endings. */
async function* readLines(input: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  let buffered = "";
  for await (const text of input.pipeThrough(new TextDecoderStream())) {
    buffered += text;
    let nl: number;
    while ((nl = buffered.indexOf("\n")) >= 0) {
      yield buffered.slice(0, nl).replace(/\r$/, "");
      buffered = buffered.slice(nl + 1);
    }
  }
  if (buffered !== "") yield buffered;
}

if (import.meta.main) {
  Deno.exit(await consoleCommand(Deno.args));
}
