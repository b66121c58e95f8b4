/**
 * TypeScript support for cells: erase types with `sucrase`'s `typescript` transform.
 *
 * Why sucrase: it is pure JavaScript (no native addon, no wasm), maintained, small (its
 * parser is a trimmed Babel fork), keeps line numbers, and is fast (a few hundred µs for a
 * small cell once loaded). The alternatives were weighed: `ts-blank-space` is the nicest
 * (it replaces types by spaces, so columns stay too) but needs the whole `typescript`
 * package (about 9 MB of JavaScript to load into every worker); `amaro` (Node's own stripper)
 * ships swc as wasm, heavier to load and opaque. Sucrase is loaded lazily, on the first cell
 * that needs it, so plain-JavaScript kernels never pay for it.
 *
 * Options: `disableESTransforms` (modern syntax stays as written), `keepUnusedImports`
 * (a cell's `import {a} from "./x.ts"` is kept even when `a` is unused in that cell: later
 * cells use it). `enum` and `namespace` are compiled to JavaScript, as TypeScript does.
 *
 * @module
 */

type Transform = (code: string, options: Record<string, unknown>) => { code: string };

let transform: Transform | undefined;

/**
 * Strip TypeScript types from a cell.
 *
 * @param code TypeScript source.
 * @returns JavaScript source with the same line numbers.
 * @throws {SyntaxError} when sucrase cannot parse the code.
 */
export async function stripTypes(code: string): Promise<string> {
  transform ??= (await import("sucrase")).transform as unknown as Transform;
  try {
    return transform(code, {
      transforms: ["typescript"],
      disableESTransforms: true,
      keepUnusedImports: true,
    }).code;
  } catch (e) {
    throw new SyntaxError(`TypeScript: ${(e as Error).message}`, { cause: e });
  }
}
