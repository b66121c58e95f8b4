import assert from "node:assert/strict";
import { SerializationError, UnsupportedSerialization } from "../../src/errors.ts";
import {
  deserializeObjectPickle,
  dumps,
  loads,
  NDArray,
  packApplyPickle,
  PyObject,
  Reference,
  serializeObjectPickle,
  unpackApplyPickle,
} from "../../src/protocol/pickle.ts";
import { unpackApplyMessage } from "../../src/protocol/serialize.ts";
import { needsPython, PYTHON, pythonHas } from "../helpers/interop.ts";

const hex = (b: Uint8Array) => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
const unhex = (h: string) => Uint8Array.from(h.match(/../g) ?? [], (x) => parseInt(x, 16));

// PROTOCOL.md §9.3: exact bytes produced by serialize_object in the reference installation.
const CANNED_BYTES_XYZ =
  "8004954b000000000000008c1d697079706172616c6c656c2e73657269616c697a652e63616e6e696e67948c0b43616e6e656442797465739493942981947d948c0762756666657273945d94430378797a946173622e";
const CANNED_BYTES_NONE =
  "80049546000000000000008c1d697079706172616c6c656c2e73657269616c697a652e63616e6e696e67948c0b43616e6e656442797465739493942981947d948c0762756666657273945d944e6173622e";
const APPLY_MYFUNC = [
  "80049553000000000000008c1d697079706172616c6c656c2e73657269616c697a652e63616e6e696e67948c095265666572656e63659493942981947d94288c046e616d65948c066d7966756e63948c0762756666657273945d9475622e",
  "8004952e000000000000007d94288c056e61726773944b018c096e6172675f62756673944b018c076b775f6b657973945d948c016b9461752e",
  "80044b012e",
  "80049505000000000000008c0176942e",
];
const HANDWRITTEN_LEN = [
  "800263697079706172616c6c656c2e73657269616c697a652e63616e6e696e670a5265666572656e63650a29817d288c046e616d658c036c656e8c07627566666572735d75622e",
  "80027d288c056e617267734b018c096e6172675f627566734b018c076b775f6b6579735d752e",
  "80025d284b014b024b03652e",
];
const VECTORS: [unknown, string][] = [
  [42, "80044b2a2e"],
  [null, "80044e2e"],
  [1.5, "8004950a00000000000000473ff80000000000002e"],
  ["hi", "80049506000000000000008c026869942e"],
  [[1, "a"], "8004950b000000000000005d94284b018c016194652e"],
  [{ a: 1 }, "8004950a000000000000007d948c0161944b01732e"],
];

Deno.test("loads decodes the PROTOCOL.md §9.3 test vectors", () => {
  for (const [value, h] of VECTORS) assert.deepEqual(loads(unhex(h)), value);
  assert.deepEqual(loads(unhex("80049507000000000000004b014b0286942e")), [1, 2]); // (1, 2)
  assert.deepEqual(deserializeObjectPickle([unhex(CANNED_BYTES_XYZ)]), [
    new TextEncoder().encode("xyz"),
    [],
  ]);
  const zeros = new Uint8Array(2000).fill(0x30);
  const [big, rest] = deserializeObjectPickle([unhex(CANNED_BYTES_NONE), zeros]);
  assert.equal(big, zeros, "the raw frame is used as is");
  assert.equal(rest.length, 0);
  const call = unpackApplyPickle(APPLY_MYFUNC.map(unhex));
  assert.deepEqual(call, { f: new Reference("myfunc"), args: [1], kwargs: { k: "v" } });
  const len = unpackApplyPickle(HANDWRITTEN_LEN.map(unhex));
  assert.deepEqual(len, { f: new Reference("len"), args: [[1, 2, 3]], kwargs: {} });
});

Deno.test("dumps and packApplyPickle match the §9.3 vectors byte for byte", () => {
  for (const [value, h] of VECTORS) assert.equal(hex(dumps(value)), h, JSON.stringify(value));
  assert.deepEqual(serializeObjectPickle(new TextEncoder().encode("xyz")).map(hex), [
    CANNED_BYTES_XYZ,
  ]);
  const zeros = new Uint8Array(2000).fill(0x30);
  const frames = serializeObjectPickle(zeros);
  assert.equal(hex(frames[0]), CANNED_BYTES_NONE);
  assert.equal(frames[1], zeros, "the big buffer is its own frame, not a copy");
  assert.deepEqual(
    packApplyPickle(new Reference("myfunc"), [1], { k: "v" }).map(hex),
    APPLY_MYFUNC,
  );
  assert.equal(hex(serializeObjectPickle(3)[0]), "80044b032e"); // the len([1,2,3]) reply
});

Deno.test("dumps encodes integers like CPython (BININT1/2, BININT, LONG1) and floats as BINFLOAT", () => {
  // exact pickle.dumps(v, 4) output of CPython 3.11
  const cases: [unknown, string][] = [
    [0, "80044b002e"],
    [255, "80044bff2e"],
    [256, "80049504000000000000004d00012e"],
    [65535, "80049504000000000000004dffff2e"],
    [65536, "80049506000000000000004a000001002e"],
    [-1, "80049506000000000000004affffffff2e"],
    [2 ** 31, "80049508000000000000008a0500000080002e"],
    [-(2 ** 31) - 1, "80049508000000000000008a05ffffff7fff2e"],
    [2n ** 64n, "8004950c000000000000008a090000000000000000012e"],
    [-0, "8004950a000000000000004780000000000000002e"],
    [true, "8004882e"],
  ];
  for (const [v, h] of cases) assert.equal(hex(dumps(v)), h.replace(/ /g, ""), String(v));
  for (const v of [0, 255, 256, -1, 2 ** 31, -(2 ** 31) - 1, 2 ** 53 - 1, -(2 ** 53) + 1]) {
    assert.equal(loads(dumps(v)), v);
  }
  for (const v of [2n ** 64n, -(2n ** 70n), 2n ** 53n]) assert.equal(loads(dumps(v)), v);
  assert.ok(Object.is(loads(dumps(-0)), -0));
  assert.ok(Number.isNaN(loads(dumps(NaN))));
});

Deno.test("dumps/loads round-trip JSON-like values, Map, Set, bytes and shared references", () => {
  const shared = [1, 2];
  const v = {
    s: "é😀".repeat(100),
    list: [null, true, false, 1.25, "x", [[]], {}],
    bytes: new Uint8Array(300).fill(7),
    set: new Set([1, "two"]),
    map: new Map<unknown, unknown>([[1, "one"], ["k", "v"]]),
    a: shared,
    b: shared,
    many: Array.from({ length: 2500 }, (_, i) => i),
  };
  const back = loads(dumps(v)) as typeof v;
  assert.deepEqual(back, { ...v, map: new Map<unknown, unknown>([[1, "one"], ["k", "v"]]) });
  assert.equal(back.a, back.b, "a memoized list is one object");
  assert.deepEqual(loads(dumps(new Map([["only", "strings"]]))), { only: "strings" });
  assert.deepEqual(loads(dumps(undefined)), null);
  assert.deepEqual(
    loads(dumps(new Reference("x"))),
    new PyObject("ipyparallel.serialize.canning", "Reference", [], {
      name: "x",
      buffers: [],
    }),
  );
});

Deno.test("loads keeps a __proto__ key as data", () => {
  const p = dumps(JSON.parse('{"__proto__": {"polluted": 1}}'));
  const v = loads(p) as Record<string, unknown>;
  assert.equal(Object.getPrototypeOf(v), Object.prototype);
  assert.deepEqual(Object.keys(v), ["__proto__"]);
});

Deno.test("dumps rejects functions, symbols and class instances with SerializationError", () => {
  assert.throws(() => dumps(() => 1), /Reference\(name\)/);
  assert.throws(() => dumps(Symbol("x")), SerializationError);
  assert.throws(() => dumps(new (class X {})()), SerializationError);
  assert.throws(() => serializeObjectPickle([{ deep: new Float64Array(2) }]), SerializationError);
  assert.throws(() => packApplyPickle((() => 1) as unknown as Reference), /Reference/);
});

Deno.test("loads maps unknown classes to PyObject and refuses unsupported opcodes cleanly", () => {
  // pickle.dumps(collections.OrderedDict([('a', 1)]), 2): REDUCE then SETITEM on the result
  const od = loads(
    unhex(
      "800263636f6c6c656374696f6e730a4f726465726564446963740a71002952710158010000006171024b01732e",
    ),
  );
  assert.ok(od instanceof PyObject);
  assert.equal(od.module, "collections");
  assert.equal(od.qualname, "OrderedDict");
  assert.deepEqual(od.state, { a: 1 });
  // pickle.dumps(b'xyz', 2): _codecs.encode('xyz', 'latin1')
  assert.deepEqual(
    loads(
      unhex(
        "8002635f636f646563730a656e636f64650a7100580300000078797a710158060000006c6174696e3171028671035271042e",
      ),
    ),
    new TextEncoder().encode("xyz"),
  );
  assert.throws(() => loads(unhex("80044a01")), SerializationError); // truncated
  assert.throws(() => loads(unhex("8004ff2e")), SerializationError); // unknown opcode
  assert.throws(
    () => loads(unhex("80045100")),
    (e) => e instanceof UnsupportedSerialization && e.format === "pickle",
  ); // BINPERSID
  assert.throws(() => loads(unhex("800149012e")), UnsupportedSerialization); // protocol 1
  assert.throws(() => loads(unhex("8004 68 05 2e".replace(/ /g, ""))), SerializationError); // missing memo
  assert.throws(() => loads(unhex("80044b014b022e")), SerializationError); // two items at STOP
});

Deno.test("loads throws only SerializationError on random garbage", () => {
  let seed = 7;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const seeds = [
    ...VECTORS.map(([, h]) => unhex(h)),
    unhex(CANNED_BYTES_XYZ),
    ...APPLY_MYFUNC.map(unhex),
  ];
  for (let i = 0; i < 2000; i++) {
    const p = seeds[i % seeds.length].slice();
    for (let j = 0; j < 1 + (i % 4); j++) {
      p[Math.floor(rand() * p.length)] = Math.floor(rand() * 256);
    }
    try {
      deserializeObjectPickle([p.subarray(0, Math.max(2, Math.floor(rand() * p.length * 1.2)))]);
    } catch (e) {
      assert.ok(e instanceof SerializationError, `${(e as Error).name}: ${(e as Error).message}`);
    }
  }
});

// ---------------------------------------------------------------------------
// Against real Python
// ---------------------------------------------------------------------------

const PEER = new URL("./peers/pickle_peer.py", import.meta.url).pathname;

async function peer(request: unknown): Promise<Record<string, unknown>> {
  const child = new Deno.Command(PYTHON, {
    args: [PEER],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode(JSON.stringify(request)));
  await w.close();
  const out = await child.output();
  if (!out.success) throw new Error(`python peer failed: ${new TextDecoder().decode(out.stderr)}`);
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

const ignore = needsPython("ipyparallel");

Deno.test({
  name: "Python pickle.loads reads our pickles",
  ignore,
  async fn() {
    const values: [unknown, string][] = [
      [42, "42"],
      [-(2n ** 70n), "-1180591620717411303424"],
      [
        { a: 1, b: [1, 2.5, "x", null, true], c: { d: "é" } },
        "{'a': 1, 'b': [1, 2.5, 'x', None, True], 'c': {'d': 'é'}}",
      ],
      [new Map<unknown, unknown>([[1, "one"], [2.5, null]]), "{1: 'one', 2.5: None}"],
      [new Set([3]), "{3}"],
      [new TextEncoder().encode("raw"), "b'raw'"],
      [new Reference("len"), "<Reference: 'len'>"],
      ["x".repeat(300), repr("x".repeat(300))],
      [Array.from({ length: 1500 }, () => 0).length, "1500"],
    ];
    const { reprs } = await peer({ op: "loads", pickles: values.map(([v]) => hex(dumps(v))) });
    assert.deepEqual(reprs, values.map(([, r]) => r));
  },
});

function repr(s: string) {
  return `'${s}'`;
}

Deno.test({
  name: "Python unpack_apply_message reads our apply buffers and runs Reference('len')",
  ignore,
  async fn() {
    const out = await peer({
      op: "apply",
      frames: packApplyPickle(new Reference("len"), [[1, 2, 3]]).map(hex),
    });
    assert.deepEqual(out, {
      f: "<built-in function len>",
      args: "([1, 2, 3],)",
      kwargs: "{}",
      result: "3",
    });
    const kw = await peer({
      op: "apply",
      frames: packApplyPickle(new Reference("dict"), [], {
        small: new TextEncoder().encode("ab"),
        big: new Uint8Array(3000).fill(1),
        n: 1,
      }).map(hex),
    });
    assert.equal(kw.f, "<class 'dict'>");
    assert.match(kw.result as string, /^\{'big': b'\\x01\\x01.*, 'n': 1, 'small': b'ab'\}$/);
  },
});

Deno.test({
  name: "Python unpack_apply_message reads a Float64Array argument as a numpy array",
  ignore: ignore || !pythonHas("numpy"),
  async fn() {
    const data = new Float64Array(200).map((_, i) => i);
    const out = await peer({
      op: "apply",
      frames: packApplyPickle(new Reference("sum"), [data]).map(hex),
    });
    assert.equal(out.result, "19900.0");
    const grid = new NDArray([2, 3], "<i4", new Int32Array([1, 2, 3, 4, 5, 6]));
    const out2 = await peer({
      op: "apply",
      frames: packApplyPickle(new Reference("repr"), [grid]).map(hex),
    });
    assert.equal(out2.result, "'array([[1, 2, 3],\\n       [4, 5, 6]], dtype=int32)'");
  },
});

Deno.test({
  name: "our unpickler reads what Python's serialize_object produces",
  ignore,
  async fn() {
    const cases: [string, unknown][] = [
      ["42", 42],
      ["-7", -7],
      ["2**64", 2n ** 64n],
      ["-2**40", -(2 ** 40)],
      ["1.5", 1.5],
      ["float('inf')", Infinity],
      ["'hé😀'", "hé😀"],
      ["'y' * 5000", "y".repeat(5000)],
      ["[1, 'a', [2.5, None]]", [1, "a", [2.5, null]]],
      ["list(range(100))", Array.from({ length: 100 }, (_, i) => i)],
      ["{'b': 1, 'a': [True, False]}", { a: [true, false], b: 1 }],
      ["{2: 'x', 1: 'y'}", new Map<unknown, unknown>([[1, "y"], [2, "x"]])],
      ["[{1: 'x', (1, 2): 'y'}]", [new Map<unknown, unknown>([[1, "x"], [[1, 2], "y"]])]],
      ["(1, 'two', 3.0, None)", [1, "two", 3, null]],
      ["None", null],
      ["True", true],
      ["{1, 2}", new Set([1, 2])],
      ["frozenset([3])", new Set([3])],
      ["b'xyz'", new TextEncoder().encode("xyz")],
      ["b'0' * 2000", new Uint8Array(2000).fill(0x30)],
      ["[b'a' * 1500, b'b', {'k': b'c' * 1100}]", [
        new Uint8Array(1500).fill(97),
        new Uint8Array([98]),
        {
          k: new Uint8Array(1100).fill(99),
        },
      ]],
      ["{'z': b'1' * 1025, 'a': b'2' * 1026}", {
        a: new Uint8Array(1026).fill(0x32),
        z: new Uint8Array(1025).fill(0x31),
      }],
      ["bytearray(b'q')", new Uint8Array([0x71])],
    ];
    const { frames } = await peer({ op: "serialize", exprs: cases.map(([e]) => e) }) as {
      frames: string[][];
    };
    cases.forEach(([expr, expected], i) => {
      const [value, rest] = deserializeObjectPickle(frames[i].map(unhex));
      assert.deepEqual(value, expected, expr);
      assert.equal(rest.length, 0, expr);
    });
    // Python's own pickle.dumps (no canning) of the same kind of data
    const { pickles } = await peer({
      op: "dumps",
      exprs: ["{'a': [1, 2**100, 'x' * 70000]}", "[{'s'}, b'x' * 70000]"],
    }) as {
      pickles: string[];
    };
    assert.deepEqual(loads(unhex(pickles[0])), { a: [1, 2n ** 100n, "x".repeat(70000)] });
    assert.deepEqual(loads(unhex(pickles[1])), [new Set(["s"]), new Uint8Array(70000).fill(0x78)]);
  },
});

Deno.test({
  name: "our unpickler reads numpy arrays from serialize_object as NDArray (CannedArray)",
  ignore: ignore || !pythonHas("numpy"),
  async fn() {
    const { frames } = await peer({
      op: "serialize",
      exprs: [
        "np.arange(6.0).reshape(2, 3)",
        "np.arange(1000, dtype='int32')",
        "[np.array([True, False])]",
        "np.array([], dtype='f8')",
      ],
    }) as { frames: string[][] };
    const [a] = deserializeObjectPickle(frames[0].map(unhex));
    assert.ok(a instanceof NDArray);
    assert.deepEqual(a.shape, [2, 3]);
    assert.equal(a.dtype, "<f8");
    assert.deepEqual(a.data, new Float64Array([0, 1, 2, 3, 4, 5]));
    const [b] = deserializeObjectPickle(frames[1].map(unhex)) as [NDArray, unknown];
    assert.equal(frames[1].length, 2, "4000 bytes of data travel as a raw frame");
    assert.deepEqual(b.data, Int32Array.from({ length: 1000 }, (_, i) => i));
    const [[c]] = deserializeObjectPickle(frames[2].map(unhex)) as [NDArray[], unknown];
    assert.equal(c.dtype, "|b1");
    assert.deepEqual(Array.from(c.data as Uint8Array), [1, 0]);
    const [empty] = deserializeObjectPickle(frames[3].map(unhex));
    assert.ok(empty instanceof PyObject, "an empty array is pickled by numpy itself: opaque");
  },
});

Deno.test({
  name:
    "apply buffers from Python's pack_apply_message: Reference calls decode, Python functions are refused",
  ignore,
  async fn() {
    const { frames } = await peer({
      op: "pack",
      calls: [
        "(Reference('len'), ([1, 2, 3],), {})",
        "(Reference('f'), (b'x' * 2000, {'k': (1, 2)}), {'z': None, 'a': 1.5})",
        "(lambda x: x, (1,), {})",
        "(len, (1,), {})",
      ],
    }) as { frames: string[][] };
    const len = unpackApplyMessage(frames[0].map(unhex));
    assert.deepEqual(len, {
      format: "pickle",
      f: new Reference("len"),
      args: [[1, 2, 3]],
      kwargs: {},
    });
    const f = unpackApplyMessage(frames[1].map(unhex));
    assert.deepEqual(f.args, [new Uint8Array(2000).fill(0x78), { k: [1, 2] }]);
    assert.deepEqual(f.kwargs, { a: 1.5, z: null });
    for (const i of [2, 3]) {
      assert.throws(() => unpackApplyMessage(frames[i].map(unhex)), (e) => {
        assert.ok(e instanceof UnsupportedSerialization);
        assert.equal(e.format, "pickle");
        assert.match(e.message, /^this engine cannot unpickle pickle apply buffers/);
        return true;
      });
    }
  },
});
