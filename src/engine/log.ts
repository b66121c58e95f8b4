/**
 * The engine's logger: one line per record on stderr, with a level filter, in the shape
 * ipengine users know (`2026-11-29 12:06:17.902 [IPEngine.0] INFO | Registered as engine 0`).
 *
 * @example
 * ```ts
 * import { Logger } from "./log.ts";
 * const log = new Logger({ level: "warn" });
 * log.info("not shown");
 * log.warn("shown on stderr");
 * ```
 *
 * @module
 */

import { InvalidOptionError } from "../errors.ts";

/** Log levels, least to most severe. */
export type LogLevel = "debug" | "info" | "warn" | "error" | "critical";

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, critical: 50 };
const NAMES: Record<string, LogLevel> = {
  debug: "debug",
  info: "info",
  warn: "warn",
  warning: "warn",
  error: "error",
  critical: "critical",
  fatal: "critical",
};

/**
 * Read a log level the way ipengine accepts it: a name (`DEBUG`, `info`, `WARN`, `WARNING`,
 * `ERROR`, `CRITICAL`) or Python's number (10, 20, 30, 40, 50; any number rounds down to
 * the nearest level, below 10 = debug).
 *
 * @param text The level as given on the command line.
 * @returns The level.
 * @throws {InvalidOptionError} for anything else.
 * @example
 * ```ts
 * import { parseLogLevel } from "./log.ts";
 * parseLogLevel("20"); // "info"
 * parseLogLevel("WARNING"); // "warn"
 * ```
 */
export function parseLogLevel(text: string): LogLevel {
  const t = String(text).trim();
  if (/^\d+$/.test(t)) {
    const n = Number(t);
    if (n >= 50) return "critical";
    if (n >= 40) return "error";
    if (n >= 30) return "warn";
    if (n >= 20) return "info";
    return "debug";
  }
  const level = NAMES[t.toLowerCase()];
  if (level === undefined) {
    throw new InvalidOptionError(
      "log-level",
      `Unknown log level ${JSON.stringify(text)}: use DEBUG, INFO, WARN, ERROR, CRITICAL ` +
        "or 10, 20, 30, 40, 50",
    );
  }
  return level;
}

/** Options of {@link Logger}. */
export interface LoggerOptions {
  /** Least severe level written. Default `"info"`. */
  level?: LogLevel;
  /** Name in brackets. Default `"IPEngine"`. */
  name?: string;
  /** Where lines go. Default: stderr. */
  write?: (line: string) => void;
}

const encoder = new TextEncoder();

function stderrWrite(line: string): void {
  try {
    Deno.stderr.writeSync(encoder.encode(line));
  } catch { /* stderr closed: nothing to do */ }
}

/** A leveled logger writing to stderr. */
export class Logger {
  /** Least severe level written. */
  level: LogLevel;
  /** Name in brackets, e.g. `IPEngine.3` once registered. */
  name: string;
  readonly #write: (line: string) => void;

  /**
   * A logger.
   * @param options Level, name and sink.
   */
  constructor(options: LoggerOptions = {}) {
    this.level = options.level ?? "info";
    this.name = options.name ?? "IPEngine";
    this.#write = options.write ?? stderrWrite;
  }

  /**
   * Whether records at `level` are written.
   * @param level The level.
   * @returns true if shown.
   */
  enabled(level: LogLevel): boolean {
    return RANK[level] >= RANK[this.level];
  }

  /**
   * Write one record.
   * @param level Its level.
   * @param message The text.
   */
  log(level: LogLevel, message: string): void {
    if (!this.enabled(level)) return;
    const d = new Date();
    const stamp = d.toISOString().replace("T", " ").slice(0, 23);
    this.#write(`${stamp} [${this.name}] ${level.toUpperCase()} | ${message}\n`);
  }

  /**
   * Log at debug level.
   * @param message The text.
   */
  debug(message: string): void {
    this.log("debug", message);
  }
  /**
   * Log at info level.
   * @param message The text.
   */
  info(message: string): void {
    this.log("info", message);
  }
  /**
   * Log at warn level.
   * @param message The text.
   */
  warn(message: string): void {
    this.log("warn", message);
  }
  /**
   * Log at error level.
   * @param message The text.
   */
  error(message: string): void {
    this.log("error", message);
  }
  /**
   * Log at critical level.
   * @param message The text.
   */
  critical(message: string): void {
    this.log("critical", message);
  }
}
