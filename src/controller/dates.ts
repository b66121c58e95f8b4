/**
 * Dates as the controller stores and sends them (PROTOCOL.md §1.8).
 *
 * Decision: every date the controller keeps (TaskRecord `submitted`, `started`, `completed`,
 * `received`) is a **normalized ISO string** `YYYY-MM-DDTHH:MM:SS.ffffffZ` — always UTC, always
 * six fraction digits. Reasons: a JS `Date` has millisecond precision and would lose the
 * microseconds engines send; the wire form is a string anyway; and fixed-width UTC strings sort
 * lexicographically in time order, so the memory and SQLite backends compare dates with plain
 * string comparison (and SQLite can use its indexes).
 *
 * @module
 */

const ISO_RE =
  /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?(Z|[+-]\d{2}:?\d{2})?$/;

/**
 * Whether `s` looks like a date by Python's rule (the regex of PROTOCOL.md §1.8).
 *
 * @param s Any value.
 * @returns True for strings such as `2026-11-29T12:06:23.964492Z`.
 * @example
 * ```ts
 * isDateString("2026-11-29T12:06:23Z"); // true
 * ```
 */
export function isDateString(s: unknown): s is string {
  return typeof s === "string" && ISO_RE.test(s);
}

const NORMAL_RE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/;

function pad(n: number, width: number): string {
  return String(n).padStart(width, "0");
}

/**
 * Normalizes a date to `YYYY-MM-DDTHH:MM:SS.ffffffZ`, keeping microseconds.
 *
 * A string without a zone is taken as UTC (Python would take local time and warn; every
 * sender we know adds `Z`). Offsets are converted to UTC.
 *
 * @param d A `Date` or a date-looking string.
 * @returns The normalized string.
 * @throws {TypeError} When `d` is a string that does not look like a date.
 * @example
 * ```ts
 * normalizeDate("2026-11-29T13:06:23.5+01:00"); // "2026-11-29T12:06:23.500000Z"
 * ```
 */
export function normalizeDate(d: Date | string): string {
  if (d instanceof Date) return formatDate(d);
  if (NORMAL_RE.test(d)) return d; // already normalized: the common case, kept cheap
  const m = ISO_RE.exec(d);
  if (!m) throw new TypeError(`Not an ISO date: ${JSON.stringify(d)}`);
  const [, y, mo, da, h, mi, s, frac, zone] = m;
  let ms = Date.UTC(+y, +mo - 1, +da, +h, +mi, +s);
  if (zone && zone !== "Z") {
    const sign = zone[0] === "-" ? -1 : 1;
    const digits = zone.slice(1).replace(":", "");
    ms -= sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2))) * 60_000;
  }
  const base = new Date(ms).toISOString().slice(0, 19);
  return `${base}.${(frac ?? "").padEnd(6, "0")}Z`;
}

/** The last time {@link formatMs} formatted (epoch ms) and its text. */
let lastMs = NaN;
let lastFormatted = "";
/** The second of the last time formatted, and its text up to the decimal point. */
let lastSecond = NaN;
let lastPrefix = "";

/**
 * Formats whole epoch milliseconds in the wire form (`YYYY-MM-DDTHH:MM:SS.mmm000Z`). The Hub
 * stamps several dates per task: the text is reused within a millisecond and its date part
 * within a second, so most calls build one short string.
 *
 * @param ms Milliseconds since the epoch (the fraction is dropped).
 * @returns The normalized string.
 * @throws {RangeError} For a time `Date` cannot represent.
 * @example
 * ```ts
 * formatMs(1500); // "1970-01-01T00:00:01.500000Z"
 * ```
 */
export function formatMs(ms: number): string {
  ms = Math.floor(ms);
  if (ms === lastMs) return lastFormatted; // many records are stamped within one millisecond
  const second = Math.floor(ms / 1000);
  if (second !== lastSecond) {
    // YYYY-MM-DDTHH:MM:SS. (throws on a time out of range)
    lastPrefix = new Date(second * 1000).toISOString().slice(0, 20);
    lastSecond = second;
  }
  const frac = ms - second * 1000;
  lastFormatted = lastPrefix + (frac < 10 ? "00" : frac < 100 ? "0" : "") + frac + "000Z";
  lastMs = ms;
  return lastFormatted;
}

/**
 * A date-looking value normalized, or null: the Hub's reading of dates in received messages.
 *
 * @param v Any value.
 * @returns The normalized string when `v` is a date string (PROTOCOL.md §1.8), else null.
 * @example
 * ```ts
 * dateOrNull("2026-11-29T12:06:23Z"); // "2026-11-29T12:06:23.000000Z"
 * dateOrNull(5); // null
 * ```
 */
export function dateOrNull(v: unknown): string | null {
  if (typeof v !== "string") return null;
  if (NORMAL_RE.test(v)) return v; // what every peer sends: one regex, no copy
  return ISO_RE.test(v) ? normalizeDate(v) : null;
}

/**
 * Formats a `Date` in the wire form with microseconds (always six digits).
 *
 * @param d The date.
 * @returns e.g. `2026-11-29T12:06:23.964000Z`.
 * @example
 * ```ts
 * formatDate(new Date(0)); // "1970-01-01T00:00:00.000000Z"
 * ```
 */
export function formatDate(d: Date): string {
  const ms = d.getTime();
  if (Number.isNaN(ms)) d.toISOString(); // throws the RangeError of an invalid date
  return formatMs(ms);
}

/**
 * Formats epoch milliseconds (possibly fractional) in the wire form, keeping microseconds.
 *
 * @param ms Milliseconds since the epoch.
 * @returns The normalized string.
 * @example
 * ```ts
 * dateFromMs(1.5); // "1970-01-01T00:00:00.001500Z"
 * ```
 */
export function dateFromMs(ms: number): string {
  const whole = Math.floor(ms);
  const micros = Math.floor((ms - whole) * 1000 + 1e-6);
  const iso = new Date(whole).toISOString();
  return `${iso.slice(0, 23)}${pad(micros, 3)}Z`;
}

/**
 * Replaces every date-looking string (and `Date`) inside a JSON value by its normalized form, as Python's
 * Hub does with `extract_dates` on `db_request` queries (PROTOCOL.md §5.5, §8.2).
 *
 * @param value A JSON value.
 * @returns A copy with dates normalized.
 * @example
 * ```ts
 * normalizeDatesDeep({ submitted: { $gte: "2026-11-29T12:00:00Z" } });
 * ```
 */
export function normalizeDatesDeep(value: unknown): unknown {
  if (value instanceof Date) return formatDate(value);
  if (typeof value === "string") return isDateString(value) ? normalizeDate(value) : value;
  if (Array.isArray(value)) return value.map(normalizeDatesDeep);
  if (value !== null && typeof value === "object" && !(value instanceof Uint8Array)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = normalizeDatesDeep(v);
    return out;
  }
  return value;
}
