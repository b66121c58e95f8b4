/**
 * JavaScript stand-ins for Python values that have no JavaScript equivalent: a name in the
 * engine namespace ({@linkcode Reference}), an inert Python object ({@linkcode PyObject}), a
 * numpy array ({@linkcode NDArray}) and, for the pickler, a tuple. Shared by the pickle codec
 * (PROTOCOL.md §9.3, §9.4) and the ipp-js format.
 *
 * @module
 */

/** The Python module of ipyparallel's canned types (`canning.Reference`, `CannedArray`, …). */
export const CANNING = "ipyparallel.serialize.canning";

/** A value that stands for "the value of this name in the engine namespace". */
export class Reference {
  /** The name (Python engines evaluate it as an expression in the user namespace). */
  readonly name: string;
  /**
   * Name a value in the engine namespace.
   *
   * @param name A name or dotted path resolvable in the engine namespace.
   * @throws {TypeError} when `name` is not a string.
   */
  constructor(name: string) {
    if (typeof name !== "string") throw new TypeError(`illegal name: ${String(name)}`);
    this.name = name;
  }
  /**
   * Readable form.
   *
   * @returns `Reference("name")`.
   */
  toString(): string {
    return `Reference(${JSON.stringify(this.name)})`;
  }
}

/**
 * An inert stand-in for a Python object the codec cannot map to a JavaScript value: a class
 * instance (`NEWOBJ` + `BUILD`), a reduce call (`REDUCE`) or a bare class (`GLOBAL`).
 */
export class PyObject {
  /** Module of the class or callable, e.g. `"numpy.core.multiarray"`. */
  readonly module: string;
  /** Qualified name of the class or callable. */
  readonly qualname: string;
  /** Constructor / reduce arguments; `undefined` for a bare class reference. */
  args: unknown[] | undefined;
  /** State given by `BUILD` (usually the instance `__dict__`), if any. */
  state: unknown;
  /**
   * Describe a Python object by its class and state.
   *
   * @param module Module name.
   * @param qualname Qualified class name.
   * @param args Constructor arguments.
   * @param state Instance state.
   */
  constructor(module: string, qualname: string, args?: unknown[], state?: unknown) {
    this.module = module;
    this.qualname = qualname;
    this.args = args;
    this.state = state;
  }
}

/** A numpy array decoded from an ipyparallel `CannedArray`. */
export class NDArray {
  /** Array shape, e.g. `[2, 3]`. */
  readonly shape: number[];
  /** numpy dtype string, e.g. `"<f8"`. */
  readonly dtype: string;
  /** The elements in C order: a typed array matching `dtype`, else the raw bytes. */
  readonly data: ArrayBufferView;
  /**
   * Wrap decoded array data.
   *
   * @param shape Array shape.
   * @param dtype numpy dtype string (`"<f8"`, `"<i4"`, `"|u1"`, …).
   * @param data The elements.
   */
  constructor(shape: number[], dtype: string, data: ArrayBufferView) {
    this.shape = shape;
    this.dtype = dtype;
    this.data = data;
  }
}

/** A Python tuple for the pickler (JS arrays pickle as lists). */
export class PyTuple {
  constructor(readonly items: unknown[]) {}
}
