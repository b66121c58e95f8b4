/**
 * Header dates (PROTOCOL.md §1.8): the microsecond UTC form every header carries, the forms a
 * Python peer accepts, and a sub-millisecond wall clock.
 *
 * @module
 */

import { MessageFormatError } from "../errors.ts";

// Python's accepted form, with the parts captured.
const DATE_RE =
  /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?(Z|[+-]\d{2}:?\d{2})?$/;

let cachedSecond = NaN;
let cachedPrefix = "";

/**
 * Formats a time as the header date form `YYYY-MM-DDTHH:MM:SS.ffffffZ` (UTC, always six
 * fraction digits; PROTOCOL.md §1.8).
 *
 * @param time A `Date`, or epoch milliseconds; a fractional part supplies the microseconds.
 * @returns The ISO-8601 string.
 * @throws {MessageFormatError} `reason: "bad-date"` when the time is not finite or its year is
 * outside 1..9999 (Python's `datetime` range).
 * @example
 * ```ts
 * import { formatDate } from "./dates.ts";
 * formatDate(Date.UTC(2024, 0, 2, 3, 4, 5) + 123.456); // "2024-01-02T03:04:05.123456Z"
 * ```
 */
export function formatDate(time: Date | number): string {
  const ms = typeof time === "number" ? time : time instanceof Date ? time.getTime() : NaN;
  if (!Number.isFinite(ms)) {
    throw new MessageFormatError("bad-date", `Cannot format ${String(time)} as a date`);
  }
  // Split before scaling: ms * 1000 would lose microseconds for far-future dates.
  let whole = Math.floor(ms);
  let micros = Math.round((ms - whole) * 1000);
  if (micros === 1000) {
    whole += 1;
    micros = 0;
  }
  const second = Math.floor(whole / 1000);
  const fraction = (whole - second * 1000) * 1000 + micros;
  if (second !== cachedSecond) {
    const d = new Date(second * 1000);
    const year = d.getUTCFullYear();
    if (!(year >= 1 && year <= 9999)) {
      throw new MessageFormatError("bad-date", `Year ${year} is outside 1..9999`);
    }
    cachedPrefix = d.toISOString().slice(0, 19) + ".";
    cachedSecond = second;
  }
  return cachedPrefix + String(fraction).padStart(6, "0") + "Z";
}

/**
 * Parses a date in any form a Python peer accepts (PROTOCOL.md §1.8): with or without 1–6
 * fraction digits, with `Z`, a `±HH:MM`/`±HHMM` offset, or no zone. Like Python, a date without
 * a zone is taken as local time.
 *
 * @param text The date string.
 * @returns Epoch milliseconds, with the microseconds as the fractional part (a double holds
 * them exactly until about the year 2100, milliseconds far beyond).
 * @throws {MessageFormatError} `reason: "bad-date"` when the string is not such a date.
 * @example
 * ```ts
 * import { parseDateMs } from "./dates.ts";
 * parseDateMs("2024-01-02T03:04:05.123456Z") - Date.UTC(2024, 0, 2, 3, 4, 5); // ≈ 123.456
 * ```
 */
export function parseDateMs(text: string): number {
  const m = typeof text === "string" ? DATE_RE.exec(text) : null;
  if (m === null) {
    throw new MessageFormatError("bad-date", `Not an ISO-8601 date: ${JSON.stringify(text)}`);
  }
  const year = +m[1], month = +m[2], day = +m[3];
  const hour = +m[4], minute = +m[5], second = +m[6];
  const micros = m[7] === undefined ? 0 : +m[7].padEnd(6, "0");
  const zone = m[8];
  if (
    year < 1 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month) ||
    hour > 23 || minute > 59 || second > 59
  ) {
    throw new MessageFormatError("bad-date", `Date out of range: ${JSON.stringify(text)}`);
  }
  const d = new Date(0);
  let offsetMinutes = 0;
  if (zone === undefined) {
    d.setFullYear(year, month - 1, day);
    d.setHours(hour, minute, second, 0);
  } else {
    if (zone !== "Z") {
      const digits = zone.replace(":", "");
      const oh = +digits.slice(1, 3), om = +digits.slice(3, 5);
      if (oh > 23 || om > 59) {
        throw new MessageFormatError("bad-date", `Bad UTC offset: ${JSON.stringify(text)}`);
      }
      offsetMinutes = (zone[0] === "-" ? -1 : 1) * (oh * 60 + om);
    }
    d.setUTCFullYear(year, month - 1, day);
    d.setUTCHours(hour, minute, second, 0);
  }
  return d.getTime() - offsetMinutes * 60_000 + micros / 1000;
}

/**
 * Parses a date like {@link parseDateMs}, into a `Date` (millisecond precision).
 *
 * @param text The date string.
 * @returns The date.
 * @throws {MessageFormatError} `reason: "bad-date"` when the string is not such a date.
 * @example
 * ```ts
 * import { parseDate } from "./dates.ts";
 * parseDate("2026-11-29T12:06:23Z").toISOString(); // "2026-11-29T12:06:23.000Z"
 * ```
 */
export function parseDate(text: string): Date {
  return new Date(Math.floor(parseDateMs(text)));
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function daysInMonth(year: number, month: number): number {
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  return month === 2 && leap ? 29 : DAYS_IN_MONTH[month - 1];
}

// A wall clock with sub-millisecond digits: the monotonic clock, re-anchored to Date.now()
// whenever the two drift apart (NTP steps, suspend), so dates stay on wall time.
let clockOffset = Date.now() - (performance.timeOrigin + performance.now());

/**
 * The current time in epoch milliseconds with microsecond digits (`performance.now()` anchored
 * to the wall clock).
 *
 * @returns Epoch milliseconds, fractional.
 * @example
 * ```ts
 * import { formatDate, nowMs } from "./dates.ts";
 * formatDate(nowMs()); // e.g. "2026-11-29T12:06:23.964492Z"
 * ```
 */
export function nowMs(): number {
  const wall = Date.now();
  let t = performance.timeOrigin + performance.now() + clockOffset;
  if (t < wall - 2 || t > wall + 3) {
    clockOffset = wall - (performance.timeOrigin + performance.now());
    t = wall;
  }
  return t;
}
