/**
 * Functions by source (see "Functions" in the doc of `./serialize.ts`): the source text
 * that travels, rebuilding a function from it on the engine, and resolving a
 * {@linkcode Reference} in the engine namespace.
 *
 * @module
 */

import { SerializationError } from "../errors.ts";
import type { Reference } from "./py_values.ts";

// A function object's source text never changes: checked once, then reused (a client applies
// the same function again and again).
const sources = new WeakMap<(...args: never[]) => unknown, string>();

/**
 * The source text of a function, checked to be rebuildable elsewhere.
 *
 * @param fn The function.
 * @returns `fn.toString()`.
 * @throws {SerializationError} for native and bound functions (no source).
 */
export function functionSource(fn: (...args: never[]) => unknown): string {
  const known = sources.get(fn);
  if (known !== undefined) return known;
  const src = Function.prototype.toString.call(fn);
  if (/\{\s*\[native code\]\s*\}\s*$/.test(src)) {
    throw new SerializationError(
      `function ${fn.name || "(anonymous)"} has no source (native or bound); ` +
        `send new Reference(${JSON.stringify(fn.name || "name")}) to use the engine's own`,
    );
  }
  sources.set(fn, src);
  return src;
}

const factories = new Map<string, (scope: object) => unknown>();
const MAX_CACHED = 512;
const EMPTY_SCOPE = Object.freeze(Object.create(null));

/**
 * Rebuild a function from its source text (as sent by {@linkcode functionSource}).
 * Compiled factories are cached by source, so a function sent with every task of a `map`
 * is compiled once. Runs as sloppy-mode code inside `with (scope)`, so free variables of
 * the function resolve in `scope` first (the engine namespace, like Python's globals),
 * then in the global scope. Write `"use strict"` in the body to opt into strict mode.
 *
 * @param source Function source: expression, declaration, arrow, class, or method shorthand.
 * @param options `scope`: the namespace object for free variables.
 * @returns The function.
 * @throws {SerializationError} when the source is not a function in any accepted form.
 * @example
 * ```ts
 * import { reviveFunction } from "./serialize.ts";
 * const f = reviveFunction("double(x) { return x * k; }", { scope: { k: 2 } }) as (x: number) => number;
 * f(21); // 42
 * ```
 */
export function reviveFunction(
  source: string,
  options: { scope?: object } = {},
): (...args: unknown[]) => unknown {
  let factory = factories.get(source);
  if (!factory) {
    factory = compile(source);
    if (factories.size >= MAX_CACHED) factories.delete(factories.keys().next().value!);
    factories.set(source, factory);
  }
  const fn = factory(options.scope ?? EMPTY_SCOPE);
  if (typeof fn !== "function") {
    throw new SerializationError("source does not evaluate to a function");
  }
  return fn as (...args: unknown[]) => unknown;
}

function compile(source: string): (scope: object) => unknown {
  const attempts = [
    // expressions, declarations (as named expressions), arrows, classes
    `with (__ipp_scope__) { return (${source}\n); }`,
    // method shorthand: `foo(x) {}`, `async foo() {}`, `*gen() {}`, `[computed]() {}`
    `with (__ipp_scope__) { const __o = {${source}\n}; return __o[Reflect.ownKeys(__o)[0]]; }`,
  ];
  let first: unknown;
  for (const body of attempts) {
    try {
      return new Function("__ipp_scope__", body) as (scope: object) => unknown;
    } catch (e) {
      first ??= e;
    }
  }
  throw new SerializationError(
    `cannot rebuild function from source: ${(first as Error).message}: ${source.slice(0, 80)}`,
    { cause: first },
  );
}

/**
 * Resolve a {@linkcode Reference} in a namespace: the first dotted segment in `namespace`
 * (then `globalThis`), the rest as properties (`"Math.max"`, `"ns.helpers.f"`).
 *
 * @param ref The reference.
 * @param namespace The engine namespace.
 * @returns The value.
 * @throws {ReferenceError} when a segment is missing (reported to the client as a remote error).
 */
export function resolveReference(ref: Reference, namespace: object = {}): unknown {
  const [head, ...rest] = ref.name.split(".");
  const ns = namespace as Record<string, unknown>;
  let v: unknown;
  if (head in ns) v = ns[head];
  else if (head in globalThis) v = (globalThis as Record<string, unknown>)[head];
  else throw new ReferenceError(`${head} is not defined`);
  for (const k of rest) {
    if (v === null || v === undefined || !(k in Object(v))) {
      throw new ReferenceError(`${ref.name} is not defined`);
    }
    v = (v as Record<string, unknown>)[k];
  }
  return v;
}

/** A function that was not compiled (`functions: "source"`). */
export class FunctionSource {
  /**
   * Keep a function's source without compiling it.
   *
   * @param source Its source text.
   * @param name Its `name`.
   */
  constructor(readonly source: string, readonly name: string) {}
}
