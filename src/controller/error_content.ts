/**
 * Error contents the controller sends (PROTOCOL.md §6.4), shaped like Python's
 * `ipyparallel.error.wrap_exception()` so Python clients rebuild the same `RemoteError`s.
 *
 * @module
 */

import { HubError } from "../errors.ts";

/** The standard error dict of every error reply. */
export interface ErrorContent {
  /** Always `"error"`. */
  status: "error";
  /** Python exception class name. */
  ename: string;
  /** Python `str(exception)`. */
  evalue: string;
  /** `traceback.format_exception` lines, each ending in `\n`. */
  traceback: string[];
  /** Always `{}` for controller-generated errors (a non-empty one breaks Python clients). */
  engine_info: Record<string, never>;
}

/** Exception names that live in `ipyparallel.error` (qualified in the traceback's last line). */
const IPP_ERRORS = new Set([
  "EngineError",
  "TaskAborted",
  "TaskTimeout",
  "UnmetDependency",
  "ImpossibleDependency",
  "DependencyTimeout",
  "InvalidDependency",
  "NoEnginesRegistered",
  "RemoteError",
  "CompositeError",
  "KernelError",
  "TaskRejectError",
]);

/**
 * Python's `repr()` of a string, list, number, boolean or null, enough for error messages:
 * single quotes unless the string holds a single quote and no double quote.
 *
 * @param v The value.
 * @returns The Python repr.
 * @example
 * ```ts
 * pyRepr(["a", 1]); // "['a', 1]"
 * ```
 */
export function pyRepr(v: unknown): string {
  if (typeof v === "string") {
    const q = v.includes("'") && !v.includes('"') ? '"' : "'";
    let out = "";
    for (const ch of v) {
      if (ch === "\\") out += "\\\\";
      else if (ch === q) out += "\\" + q;
      else if (ch === "\n") out += "\\n";
      else if (ch === "\r") out += "\\r";
      else if (ch === "\t") out += "\\t";
      else out += ch;
    }
    return q + out + q;
  }
  if (Array.isArray(v)) return `[${v.map(pyRepr).join(", ")}]`;
  if (v === null || v === undefined) return "None";
  if (v === true) return "True";
  if (v === false) return "False";
  return String(v);
}

/**
 * Builds an error content dict with a short synthetic traceback in Python's format.
 *
 * @param ename Python exception class name (`KeyError`, `ImpossibleDependency`…).
 * @param evalue Python `str(exception)`; may be empty.
 * @param where Function name shown in the traceback's frame line.
 * @returns The content dict, `engine_info: {}`.
 * @example
 * ```ts
 * errorContent("IndexError", "No Engines Registered", "queue_status").ename; // "IndexError"
 * ```
 */
export function errorContent(ename: string, evalue: string, where = "hub"): ErrorContent {
  const qualified = IPP_ERRORS.has(ename) ? `ipyparallel.error.${ename}` : ename;
  const last = evalue ? `${qualified}: ${evalue}\n` : `${qualified}\n`;
  return {
    status: "error",
    ename,
    evalue,
    traceback: [
      "Traceback (most recent call last):\n",
      `  File "ipp/controller", line 1, in ${where}\n    raise ${ename}()\n`,
      last,
    ],
    engine_info: {},
  };
}

/**
 * Error content for any thrown value: a {@link HubError} keeps its Python name and value;
 * anything else is reported as a Python `RuntimeError` with its message.
 *
 * @param err The thrown value.
 * @param where Function name for the traceback.
 * @returns The content dict.
 * @example
 * ```ts
 * errorContentFrom(new TypeError("x")).ename; // "RuntimeError"
 * ```
 */
export function errorContentFrom(err: unknown, where = "hub"): ErrorContent {
  if (err instanceof HubError) return errorContent(err.ename, err.evalue, where);
  const message = err instanceof Error ? err.message : String(err);
  return errorContent("RuntimeError", message, where);
}
