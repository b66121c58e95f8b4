import assert from "node:assert/strict";
import { SerializationError, UnsupportedSerialization } from "../../src/errors.ts";
import { dumps, packApplyPickle } from "../../src/protocol/pickle.ts";
import {
  deserializeObject,
  deserializeResult,
  detectFormat,
  FunctionSource,
  MAGIC,
  packApplyMessage,
  Reference,
  resolveReference,
  reviveFunction,
  serializeObject,
  unpackApplyMessage,
} from "../../src/protocol/serialize.ts";

const roundTrip = (v: unknown) => {
  const [out, rest] = deserializeObject(serializeObject(v));
  assert.equal(rest.length, 0);
  return out;
};
const headJson = (frame: Uint8Array) =>
  JSON.parse(new TextDecoder().decode(frame.subarray(MAGIC.length)));

Deno.test("serializeObject round-trips JSON values and the special scalars", () => {
  for (
    const v of [
      0,
      1.5,
      -7,
      "héllo ☃ 😀",
      "",
      true,
      false,
      null,
      undefined,
      NaN,
      Infinity,
      -Infinity,
      -0,
      12345678901234567890123n,
      -5n,
      0n,
      Number.MAX_VALUE,
      Number.MIN_VALUE,
    ]
  ) {
    assert.ok(Object.is(roundTrip(v), v), `round-trip of ${String(v)}`);
  }
});

Deno.test("serializeObject round-trips Date, Map, Set, RegExp and Reference", () => {
  const d = new Date(1_700_000_000_123);
  assert.deepEqual(roundTrip(d), d);
  assert.ok(Number.isNaN((roundTrip(new Date(NaN)) as Date).getTime()));
  const m = new Map<unknown, unknown>([
    [1, "a"],
    ["k", new Map([[NaN, new Set([undefined, 2n])]])],
    [{ o: 1 }, [1]],
  ]);
  assert.deepEqual(roundTrip(m), m);
  const s = new Set([1, "x", null, new Date(0)]);
  assert.deepEqual(roundTrip(s), s);
  const re = roundTrip(/a+b\/c/giu) as RegExp;
  assert.ok(re instanceof RegExp);
  assert.equal(re.source, "a+b\\/c");
  assert.equal(re.flags, "giu");
  const ref = roundTrip(new Reference("ns.f"));
  assert.ok(ref instanceof Reference);
  assert.equal(ref.name, "ns.f");
});

Deno.test("serializeObject round-trips Errors with name, message, stack, cause and extra fields", () => {
  const inner = new RangeError("inner");
  const e = new TypeError("outer", { cause: inner });
  const back = roundTrip(e) as TypeError;
  assert.ok(back instanceof TypeError);
  assert.equal(back.message, "outer");
  assert.equal(back.stack, e.stack);
  assert.ok(back.cause instanceof RangeError);
  assert.equal((back.cause as Error).message, "inner");

  class MyError extends Error {
    code = 42;
    constructor(m: string) {
      super(m);
      this.name = "MyError";
    }
  }
  const mine = roundTrip(new MyError("boom")) as Error & { code: number };
  assert.ok(mine instanceof Error);
  assert.equal(mine.name, "MyError");
  assert.equal(mine.code, 42);
  assert.equal(String(mine), "MyError: boom");

  const agg = roundTrip(new AggregateError([new Error("a"), 1], "many")) as AggregateError;
  assert.ok(agg instanceof AggregateError);
  assert.equal(agg.errors.length, 2);
  assert.equal((agg.errors[0] as Error).message, "a");
});

Deno.test("serializeObject keeps plain objects that look like tags, __proto__ keys and holes", () => {
  const tricky = { $ipp: "undef", v: 1, nested: { $ipp: { $ipp: 2 } } };
  assert.deepEqual(roundTrip(tricky), tricky);
  const proto = JSON.parse(
    '{"__proto__": {"polluted": true}, "x": undefined}'.replace("undefined", "null"),
  );
  const back = roundTrip(proto) as Record<string, unknown>;
  assert.equal(Object.getPrototypeOf(back), Object.prototype);
  assert.deepEqual(Object.keys(back), ["__proto__", "x"]);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  const withUndef = roundTrip({ a: undefined, b: [1, , 3] }) as { a: undefined; b: unknown[] };
  assert.ok("a" in withUndef);
  assert.deepEqual(withUndef.b, [1, undefined, 3]);
  const nullProto = Object.assign(Object.create(null), { a: 1 });
  assert.deepEqual({ ...(roundTrip(nullProto) as object) }, { a: 1 });
});

Deno.test("serializeObject sends class instances as their fields, toJSON and boxed primitives as values", () => {
  class Point {
    constructor(public x: number, public y: number) {}
    norm() {
      return Math.hypot(this.x, this.y);
    }
  }
  assert.deepEqual(roundTrip(new Point(1, 2)), { x: 1, y: 2 });
  class Temp {
    toJSON() {
      return { z: 1 };
    }
  }
  assert.deepEqual(roundTrip([new Temp()]), [{ z: 1 }]);
  assert.deepEqual(roundTrip([Object(1), Object("s"), Object(true), Object(3n)]), [
    1,
    "s",
    true,
    3n,
  ]);
});

Deno.test("serializeObject round-trips every typed array kind, ArrayBuffer and DataView as frames", () => {
  const kinds: ArrayBufferView[] = [
    new Uint8Array([1, 2, 255]),
    new Int8Array([-1, 2]),
    new Uint8ClampedArray([0, 255]),
    new Int16Array([-300, 300]),
    new Uint16Array([65535]),
    new Int32Array([-(2 ** 31)]),
    new Uint32Array([2 ** 32 - 1]),
    new Float32Array([1.5, -0]),
    new Float64Array([Math.PI, NaN]),
    new BigInt64Array([-(2n ** 63n)]),
    new BigUint64Array([2n ** 64n - 1n]),
  ];
  const F16 = (globalThis as Record<string, unknown>).Float16Array as
    | (new (a: number[]) => ArrayBufferView)
    | undefined;
  if (F16) kinds.push(new F16([0.5, 65504]));
  const frames = serializeObject(kinds);
  assert.equal(frames.length, 1 + kinds.length);
  const back = deserializeObject(frames)[0] as ArrayBufferView[];
  for (let i = 0; i < kinds.length; i++) {
    assert.equal(back[i].constructor, kinds[i].constructor);
    assert.deepEqual(back[i], kinds[i]);
  }
  const ab = new Uint8Array([9, 8, 7]).buffer;
  const abBack = roundTrip(ab) as ArrayBuffer;
  assert.ok(abBack instanceof ArrayBuffer);
  assert.deepEqual(new Uint8Array(abBack), new Uint8Array([9, 8, 7]));
  const dvBack = roundTrip(new DataView(new Uint8Array([1, 2, 3, 4]).buffer, 1, 2)) as DataView;
  assert.ok(dvBack instanceof DataView);
  assert.deepEqual([dvBack.getUint8(0), dvBack.getUint8(1), dvBack.byteLength], [2, 3, 2]);
});

Deno.test("a 100 MB Float64Array travels as its own frame without a copy", () => {
  const big = new Float64Array(100 * 1024 * 1024 / 8);
  big[0] = 1;
  big[big.length - 1] = 2;
  const frames = serializeObject({ data: big, label: "x" });
  assert.equal(frames.length, 2);
  assert.equal(frames[1].buffer, big.buffer);
  assert.equal(frames[1].byteLength, big.byteLength);
  assert.ok(frames[0].byteLength < 100, `head is ${frames[0].byteLength} bytes`);
  assert.deepEqual(headJson(frames[0]), {
    b: 1,
    v: { data: { $ipp: "buf", i: 0, t: "Float64Array" }, label: "x" },
  });
  // and on the way in, the typed array is a view over the received frame
  const back = deserializeObject(frames)[0] as { data: Float64Array };
  assert.equal(back.data.buffer, big.buffer);
  assert.equal(back.data[big.length - 1], 2);
});

Deno.test("a typed array view sends only its window; unaligned received frames are copied", () => {
  const base = new Float64Array([1, 2, 3, 4]);
  const view = base.subarray(1, 3);
  const frames = serializeObject(view);
  assert.equal(frames[1].buffer, base.buffer);
  assert.equal(frames[1].byteOffset, 8);
  assert.equal(frames[1].byteLength, 16);
  // simulate a frame that sits at an odd offset in a receive buffer
  const recv = new Uint8Array(17);
  recv.set(frames[1], 1);
  const back = deserializeObject([frames[0], recv.subarray(1)])[0] as Float64Array;
  assert.deepEqual(Array.from(back), [2, 3]);
});

Deno.test("serializeObject nests every supported type and numbers buffers in order", () => {
  const v = {
    list: [1, "two", [3, [4, { five: 5n }]], new Uint8Array([6])],
    map: new Map<unknown, unknown>([["f32", new Float32Array([7])], [
      8,
      new Set([new Int16Array([9])]),
    ]]),
    when: new Date(10),
    err: new Error("eleven"),
    refs: [new Reference("twelve")],
    odd: [undefined, NaN, -0, Infinity],
  };
  const frames = serializeObject(v);
  assert.equal(frames.length, 4);
  assert.deepEqual(roundTrip(v), v);
});

Deno.test("serializeObject returns the remaining frames like Python's deserialize_object", () => {
  const a = serializeObject(new Uint8Array(3));
  const b = serializeObject("next");
  const [v, rest] = deserializeObject([...a, ...b]);
  assert.deepEqual(v, new Uint8Array(3));
  assert.equal(rest.length, 1);
  assert.equal(deserializeObject(rest)[0], "next");
});

Deno.test("serializeObject rejects symbols, cycles, promises and weak collections", () => {
  const cyclic: Record<string, unknown> = {};
  cyclic.self = { again: [cyclic] };
  const deepCycle: unknown[] = [];
  let at = deepCycle;
  for (let i = 0; i < 200; i++) {
    const next: unknown[] = [];
    at.push(next);
    at = next;
  }
  at.push(deepCycle);
  for (
    const bad of [Symbol("s"), cyclic, deepCycle, Promise.resolve(1), new WeakMap(), new WeakSet()]
  ) {
    assert.throws(() => serializeObject(bad), SerializationError);
  }
  assert.throws(() => serializeObject(Math.max), /Reference\("max"\)/);
  assert.throws(() => serializeObject(((x: number) => x).bind(null)), SerializationError);
});

Deno.test("detectFormat tells ipp-js, pickle and unknown apart", () => {
  assert.equal(detectFormat(serializeObject(1)[0]), "ipp-js");
  assert.equal(detectFormat(packApplyMessage(() => 1)[0]), "ipp-js");
  assert.equal(detectFormat(dumps(42)), "pickle");
  assert.equal(detectFormat(Uint8Array.of(0x80, 2, 0x4b, 1, 0x2e)), "pickle");
  assert.equal(detectFormat(new TextEncoder().encode("IPPJS2\n{}")), "ipp-js");
  for (
    const f of [
      undefined,
      new Uint8Array(0),
      Uint8Array.of(0x80),
      Uint8Array.of(0x80, 9),
      new TextEncoder().encode("{}"),
    ]
  ) {
    assert.equal(detectFormat(f), "unknown");
  }
});

Deno.test("a pickle reaching a JavaScript reader is an UnsupportedSerialization with format 'pickle'", () => {
  const python = packApplyPickle(new Reference("len"), [[1]]);
  python[0] = Uint8Array.from([...python[0].subarray(0, 40), 0x43, 0x6f, 0x64, 0x65]); // not a Reference
  assert.throws(
    () => deserializeObject([dumps(42)]),
    (e) => e instanceof UnsupportedSerialization && e.format === "pickle",
  );
  assert.throws(() => unpackApplyMessage(python), SerializationError);
  assert.throws(
    () => deserializeObject([new TextEncoder().encode("IPPJS9\n{}")]),
    (e) =>
      e instanceof UnsupportedSerialization && e.format === "ipp-js" && /version 9/.test(e.message),
  );
  assert.throws(
    () => deserializeObject([new TextEncoder().encode("hello")]),
    (e) => e instanceof UnsupportedSerialization && e.format === "unknown",
  );
});

Deno.test("deserializeResult reads ipp-js and Python serialize_object frames", () => {
  assert.deepEqual(deserializeResult(serializeObject({ a: [1n, new Date(0)] })), {
    a: [1n, new Date(0)],
  });
  assert.equal(deserializeResult([Uint8Array.of(0x80, 4, 0x4b, 3, 0x2e)]), 3);
});

Deno.test("deserializing garbage throws SerializationError and nothing else", () => {
  const valid = [
    serializeObject({
      a: [1, new Float64Array(2), new Map([[1, new Set([2n])]]), new Date(3), /x/g],
    }),
    packApplyMessage((a: number) => a, [new Uint8Array(4)], { k: new Reference("r") }),
  ];
  const cases: Uint8Array[][] = [
    [],
    [new Uint8Array(0)],
    [new TextEncoder().encode(MAGIC)],
    [new TextEncoder().encode(MAGIC + "{")],
    [new TextEncoder().encode(MAGIC + "[]")],
    [new TextEncoder().encode(MAGIC + '{"b":2,"v":1}')],
    [new TextEncoder().encode(MAGIC + '{"v":{"$ipp":"buf","i":0,"t":"Float64Array"}}')],
    [
      new TextEncoder().encode(MAGIC + '{"b":1,"v":{"$ipp":"buf","i":0,"t":"Float64Array"}}'),
      new Uint8Array(3),
    ],
    [
      new TextEncoder().encode(MAGIC + '{"b":1,"v":{"$ipp":"buf","i":0,"t":"Window"}}'),
      new Uint8Array(8),
    ],
    [new TextEncoder().encode(MAGIC + '{"v":{"$ipp":"bigint","v":"1.5"}}')],
    [new TextEncoder().encode(MAGIC + '{"v":{"$ipp":"re","src":"(","flags":""}}')],
    [new TextEncoder().encode(MAGIC + '{"v":{"$ipp":"map","v":[1]}}')],
    [new TextEncoder().encode(MAGIC + '{"v":{"$ipp":"fn","src":"not a function ("}}')],
    [new TextEncoder().encode(MAGIC + '{"v":{"$ipp":"fn","src":"42"}}')],
    [new TextEncoder().encode(MAGIC + '{"v":{"$ipp":"num","v":"7"}}')],
    [new TextEncoder().encode(MAGIC + '{"v":{"$ipp":"nope"}}')],
    [new TextEncoder().encode(MAGIC + '{"v":{"$ipp":"obj","e":[[1,2]]}}')],
    [Uint8Array.of(0x80, 4, 0x95, 0xff)],
  ];
  let seed = 12345;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (let i = 0; i < 400; i++) {
    const src = valid[i % 2].map((f) => f.slice());
    const head = src[0];
    for (let j = 0; j < 3; j++) {
      head[MAGIC.length + Math.floor(rand() * (head.length - MAGIC.length))] = Math.floor(
        rand() * 256,
      );
    }
    if (i % 5 === 0) src.pop();
    cases.push(src);
  }
  for (const frames of cases) {
    for (
      const read of [
        () => deserializeObject(frames),
        () => unpackApplyMessage(frames),
        () => deserializeResult(frames),
      ]
    ) {
      try {
        read();
      } catch (e) {
        assert.ok(e instanceof SerializationError, `${(e as Error).name}: ${(e as Error).message}`);
      }
    }
  }
});

Deno.test("packApplyMessage / unpackApplyMessage carry f, args, kwargs and buffers", () => {
  const data = new Float32Array([1, 2, 3]);
  const frames = packApplyMessage(
    (xs: Float32Array, { scale }: { scale: number }) => xs.map((x) => x * scale),
    [data],
    {
      scale: 2,
      ref: new Reference("y"),
    },
  );
  assert.equal(frames.length, 2);
  assert.equal(frames[1].buffer, data.buffer);
  const head = headJson(frames[0]);
  assert.deepEqual(Object.keys(head).sort(), ["a", "b", "f", "k"]);
  const call = unpackApplyMessage(frames, { resolveReference: (r) => `resolved ${r.name}` });
  assert.equal(call.format, "ipp-js");
  assert.deepEqual(call.kwargs, { scale: 2, ref: "resolved y" });
  const f = call.f as (xs: Float32Array, o: { scale: number }) => Float32Array;
  assert.deepEqual(f(call.args[0] as Float32Array, { scale: 2 }), new Float32Array([2, 4, 6]));

  const byRef = unpackApplyMessage(packApplyMessage(new Reference("Math.max"), [1, 5]), {
    resolveReference: () => assert.fail("f must stay a Reference"),
  });
  assert.ok(byRef.f instanceof Reference);
  assert.equal(
    (resolveReference(byRef.f, {}) as (...a: number[]) => number)(...(byRef.args as number[])),
    5,
  );
  assert.throws(() => resolveReference(new Reference("nope.x"), {}), ReferenceError);
  assert.throws(() => packApplyMessage(42 as unknown as () => 1), SerializationError);
});

Deno.test("a pickled apply with a Reference is decoded; a Python function is UnsupportedSerialization", () => {
  const call = unpackApplyMessage(packApplyPickle(new Reference("len"), [[1, 2, 3]], { k: "v" }));
  assert.equal(call.format, "pickle");
  assert.deepEqual([call.f, call.args, call.kwargs], [new Reference("len"), [[1, 2, 3]], {
    k: "v",
  }]);
});

Deno.test("functions travel by source in every syntactic form", async () => {
  const obj = {
    plain(x: number) {
      return x + 1;
    },
    async later(x: number) {
      return await Promise.resolve(x * 2);
    },
    *gen() {
      yield 1;
      yield 2;
    },
    ["computed" + "Name"](x: number) {
      return -x;
    },
    "quoted name"() {
      return "q";
    },
  };
  function declared(a: number, b = 10) {
    return a + b;
  }
  class Klass {
    static make() {
      return 7;
    }
    method() {
      return 8;
    }
  }
  const send = <T>(f: T) => deserializeObject(serializeObject(f))[0] as T;
  assert.equal(send((x: number) => x * 3)(2), 6);
  assert.equal(
    send((x: number) => x * 3 // trailing comment
    )(2),
    6,
  );
  assert.equal(await send(async (x: number) => await x)(1), 1);
  assert.equal(
    await send(async function named(x: number) {
      return await x + 0.5;
    })(1),
    1.5,
  );
  assert.equal(send(declared)(1), 11);
  assert.equal(send(obj.plain)(1), 2);
  assert.equal(await send(obj.later)(2), 4);
  assert.deepEqual([...send(obj.gen)()], [1, 2]);
  assert.equal(send(obj.computedName)(3), -3);
  assert.equal(send(obj["quoted name"])(), "q");
  assert.equal(send(Klass.make)(), 7);
  assert.equal(send(Klass.prototype.method)(), 8);
  assert.equal(new (send(Klass))().method(), 8);
  assert.equal(
    send(function* () {
      yield 5;
    })().next().value,
    5,
  );
});

Deno.test("closures do not travel: free variables resolve in the engine scope", () => {
  const captured = 100;
  const f = (x: number) => x + captured;
  const noScope = deserializeObject(serializeObject(f))[0] as typeof f;
  assert.throws(() => noScope(1), ReferenceError);
  const withScope = deserializeObject(serializeObject(f), {
    scope: { captured: 1 },
  })[0] as typeof f;
  assert.equal(withScope(1), 2);
  const g = reviveFunction("(x) => { total += x; return total; }", { scope: { total: 10 } }) as (
    x: number,
  ) => number;
  assert.equal(g(5), 15);
  const ns = { total: 0 };
  const h = reviveFunction("(x) => { total += x; return total; }", { scope: ns }) as (
    x: number,
  ) => number;
  h(3);
  assert.equal(ns.total, 3, "assignments to namespace names land in the namespace");
});

Deno.test("functions: 'source' mode does not compile engine-sent code", () => {
  const v = deserializeObject(serializeObject({ f: (x: number) => x }), {
    functions: "source",
  })[0] as { f: FunctionSource };
  assert.ok(v.f instanceof FunctionSource);
  assert.equal(v.f.name, "f");
  assert.match(v.f.source, /=>/);
});
