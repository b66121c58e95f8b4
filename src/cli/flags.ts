/**
 * Reading `--name value` / `--name=value` flags, shared by the `ipp` commands that take them
 * that way (`ipp cluster`, `ipp console`).
 *
 * @module
 */

/** One flag: its name (with dashes) and a reader for its value. */
export interface Flag {
  /** The name as given, e.g. `--profile` or `-n`. */
  name: string;
  /**
   * The flag's value: after `=` in the same argument, or the next argument (consumed).
   * @throws {Error} `<name> needs a value` when there is none.
   */
  value(): string;
}

/**
 * Walks the arguments one flag at a time.
 *
 * @param args The arguments.
 * @returns Each flag in order; calling `value()` consumes the next argument when needed.
 * @example
 * ```ts
 * for (const flag of flags(["--n=2", "--profile", "p"])) console.log(flag.name, flag.value());
 * ```
 */
export function* flags(args: readonly string[]): Generator<Flag> {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    const eq = arg.indexOf("=");
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    yield {
      name,
      value: () => {
        if (eq > 0) return arg.slice(eq + 1);
        const next = args[++i];
        if (next === undefined) throw new Error(`${name} needs a value`);
        return next;
      },
    };
  }
}
