import assert from "node:assert/strict";
import {
  dateFromMs,
  formatDate,
  isDateString,
  normalizeDate,
  normalizeDatesDeep,
} from "../../src/controller/dates.ts";

Deno.test("isDateString accepts Python's ISO forms and rejects others", () => {
  for (
    const ok of [
      "2026-11-29T12:06:23Z",
      "2026-11-29T12:06:23.964492Z",
      "2026-11-29T12:06:23.9+01:00",
      "2026-11-29T12:06:23",
    ]
  ) {
    assert.ok(isDateString(ok), ok);
  }
  for (const bad of ["2026-11-29", "yesterday", "2026-11-29T12:06:23.1234567Z", 5, null]) {
    assert.ok(!isDateString(bad), String(bad));
  }
});

Deno.test("normalizeDate keeps microseconds, pads fractions and converts offsets to UTC", () => {
  assert.equal(normalizeDate("2026-11-29T12:06:23.964492Z"), "2026-11-29T12:06:23.964492Z");
  assert.equal(normalizeDate("2026-11-29T12:06:23Z"), "2026-11-29T12:06:23.000000Z");
  assert.equal(normalizeDate("2026-11-29T12:06:23.5"), "2026-11-29T12:06:23.500000Z");
  assert.equal(normalizeDate("2026-11-30T00:30:00.25+01:00"), "2026-11-29T23:30:00.250000Z");
  assert.equal(normalizeDate("2026-11-29T23:30:00-0130"), "2026-11-30T01:00:00.000000Z");
  assert.throws(() => normalizeDate("not a date"), TypeError);
});

Deno.test("normalized dates sort lexicographically in time order", () => {
  const a = normalizeDate("2026-11-29T12:06:23.9Z");
  const b = normalizeDate("2026-11-29T12:06:23.10Z");
  assert.ok(b < a);
});

Deno.test("formatDate and dateFromMs give the wire form with six fraction digits", () => {
  assert.equal(formatDate(new Date(0)), "1970-01-01T00:00:00.000000Z");
  assert.equal(dateFromMs(1.5), "1970-01-01T00:00:00.001500Z");
  assert.equal(dateFromMs(1234.001), "1970-01-01T00:00:01.234001Z");
});

Deno.test("normalizeDatesDeep rewrites dates inside nested queries only", () => {
  assert.deepEqual(
    normalizeDatesDeep({
      submitted: { $gte: "2026-11-29T12:00:00Z", $in: ["2026-11-29T12:00:01Z", "x"] },
      when: new Date(0),
      n: 1,
    }),
    {
      submitted: {
        $gte: "2026-11-29T12:00:00.000000Z",
        $in: ["2026-11-29T12:00:01.000000Z", "x"],
      },
      when: "1970-01-01T00:00:00.000000Z",
      n: 1,
    },
  );
});
