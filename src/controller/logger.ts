/**
 * The controller's log: Python `logging` levels (10 DEBUG … 50 CRITICAL), one line per event
 * on stderr, prefixed like ipcontroller's (`[IPController] …`), so `--log-level=10` means the
 * same thing to users of both.
 *
 * @module
 */

/** A leveled logger. */
export interface Logger {
  /** Minimum level written (Python numbers: 10, 20, 30, 40, 50). */
  readonly level: number;
  /** Level 10. */
  debug(message: string): void;
  /** Level 20. */
  info(message: string): void;
  /** Level 30. */
  warn(message: string): void;
  /** Level 40. */
  error(message: string): void;
}

/** Python level names and numbers. */
export const LOG_LEVELS: Readonly<Record<string, number>> = {
  DEBUG: 10,
  INFO: 20,
  WARN: 30,
  WARNING: 30,
  ERROR: 40,
  CRITICAL: 50,
  FATAL: 50,
};

/**
 * Parses `--log-level`: a number (`10`) or a name (`DEBUG`, case-insensitive).
 *
 * @param text The flag value.
 * @returns The numeric level.
 * @throws {RangeError} For anything else.
 * @example
 * ```ts
 * parseLogLevel("info"); // 20
 * ```
 */
export function parseLogLevel(text: string): number {
  const n = Number(text);
  if (text.trim() !== "" && Number.isInteger(n) && n >= 0) return n;
  const named = LOG_LEVELS[text.toUpperCase()];
  if (named === undefined) {
    throw new RangeError(
      `Invalid log level ${
        JSON.stringify(text)
      } (use 10/20/30/40/50 or DEBUG/INFO/WARN/ERROR/CRITICAL)`,
    );
  }
  return named;
}

/**
 * A logger writing to stderr (or `sink`) at or above `level`.
 *
 * @param level Minimum level (default 20, INFO).
 * @param sink Where lines go (default `console.error`).
 * @returns The logger.
 * @example
 * ```ts
 * const log = createLogger(30);
 * log.info("not shown");
 * log.warn("shown");
 * ```
 */
export function createLogger(
  level = 20,
  sink: (line: string) => void = (line) => console.error(line),
): Logger {
  const write = (at: number, tag: string, message: string) => {
    if (at < level) return;
    const time = new Date().toISOString().replace("T", " ").slice(0, 23);
    sink(`${time} [IPController] ${tag} | ${message}`);
  };
  return {
    level,
    debug: (m) => write(10, "DEBUG", m),
    info: (m) => write(20, "INFO", m),
    warn: (m) => write(30, "WARNING", m),
    error: (m) => write(40, "ERROR", m),
  };
}
