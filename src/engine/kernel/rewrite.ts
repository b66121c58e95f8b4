/**
 * REPL rewriting of user code for the kernel worker: turns a cell (a script with top-level
 * `await`, `import` declarations and `let`/`const`/`class` declarations) into one function
 * whose declarations land on the worker's global object, whose last expression statement is
 * returned, and whose loops check the interrupt flag.
 *
 * Declarations nested in blocks stay local to the cell, except `var` in the head of a
 * top-level `for` loop. A top-level function declaration is also a local binding of its cell
 * (it stays hoisted), so assigning to its name later in the same cell does not update the
 * global.
 *
 * Parsing is done with `acorn` (pure JavaScript, about 5 µs for a one-line cell). Edits are
 * positional, and every replaced range keeps its newlines, so line numbers in stack traces are
 * the user's own; only the columns of line 1 shift, by the length of the wrapper prefix, which
 * {@linkcode CompiledCell.prefixLength} records so tracebacks can undo it.
 *
 * TypeScript: when the code does not parse as JavaScript (or when asked), types are stripped
 * with `sucrase`'s `typescript` transform first (see `strip_types.ts`).
 *
 * @module
 */

import { type Node, parse, type Program } from "acorn";

/** Names the generated code uses for its helpers (parameters of the wrapper, never globals). */
export const HELPERS = {
  /** `Int32Array` over the interrupt flag; element 0 is non-zero once interrupted. */
  flag: "__ippI",
  /** Returns the interrupt error, which the check throws. */
  interrupted: "__ippT",
  /** `import()` that resolves relative specifiers against the kernel's working directory. */
  importer: "__ippImport",
  /** The `import.meta` object of cells. */
  meta: "__ippMeta",
} as const;

/**
 * The check at the top of every loop body: read the interrupt flag and, when it is set,
 * throw. Nothing on the check's path returns into the loop, so the optimizing compiler keeps
 * the loop as tight as without it (`bench/loop_check.ts`): trial division took 1.05–1.19× the
 * time of the plain function, an array sum 0.98–1.00× and a matrix product 1.00–1.06×, against
 * 1.49–1.52×, 3.00–3.13× and 1.79–1.82× for the counted check used before
 * (`if((++c&7)===0&&flag[0])call()`, whose call could return into the loop, so what the loop
 * kept in registers was reloaded after it). A request that holds the worker is therefore
 * announced by the main thread, not by its loops (`busy_slot.ts`). An interrupt lands at
 * the next iteration of the loop that runs (a loop that only calls code that is not
 * instrumented, such as a library, waits for the call to return).
 */
const CHECK = `if(${HELPERS.flag}[0])throw ${HELPERS.interrupted}();`;
const PARAMS = `${HELPERS.flag},${HELPERS.interrupted},${HELPERS.importer},${HELPERS.meta}`;

/** A cell rewritten into the source of a factory function. */
export interface CompiledCell {
  /**
   * Source of `(function (helpers…) { return (async) function () { …cell… }; })` plus a
   * `//# sourceURL=` comment; evaluate it with indirect `eval`.
   */
  source: string;
  /** Whether the cell function is `async` (top-level `await` or `import` declarations). */
  isAsync: boolean;
  /** Whether the cell ends in an expression statement whose value the function returns. */
  hasValue: boolean;
  /** Characters the wrapper adds before the user's code on line 1. */
  prefixLength: number;
}

type AnyNode = Node & Record<string, unknown>;

const PARSE_OPTIONS = {
  ecmaVersion: "latest",
  sourceType: "script",
  allowAwaitOutsideFunction: true,
  allowImportExportEverywhere: true,
  allowHashBang: true,
} as const;

/**
 * Parse code as a cell script.
 *
 * @param code JavaScript source.
 * @returns The acorn AST.
 * @throws {SyntaxError} acorn's error, with `pos` and `loc`.
 */
export function parseCell(code: string): Program {
  return parse(code, PARSE_OPTIONS);
}

interface Edit {
  at: number;
  end: number;
  text: string;
  order: number;
}

class Editor {
  edits: Edit[] = [];
  #n = 0;
  constructor(readonly code: string) {}
  insert(at: number, text: string): void {
    this.edits.push({ at, end: at, text, order: this.#n++ });
  }
  /** Replace a range, keeping its line breaks so later lines keep their numbers. */
  replace(start: number, end: number, text: string): void {
    const nl = this.code.slice(start, end).split("\n").length - 1;
    this.edits.push({ at: start, end, text: text + "\n".repeat(nl), order: this.#n++ });
  }
  apply(): string {
    // At one position, insertions go before a replacement that starts there.
    const edits = this.edits.sort((a, b) =>
      a.at - b.at || (a.end - a.at === 0 ? 0 : 1) - (b.end - b.at === 0 ? 0 : 1) ||
      a.order - b.order
    );
    let out = "";
    let pos = 0;
    for (const e of edits) {
      out += this.code.slice(pos, e.at) + e.text;
      pos = Math.max(pos, e.end);
    }
    return out + this.code.slice(pos);
  }
}

function isFunction(n: AnyNode): boolean {
  return n.type === "FunctionDeclaration" || n.type === "FunctionExpression" ||
    n.type === "ArrowFunctionExpression";
}

const LOOPS = new Set([
  "ForStatement",
  "ForInStatement",
  "ForOfStatement",
  "WhileStatement",
  "DoWhileStatement",
]);

interface WalkState {
  ed: Editor;
  /** Set when a top-level (outside any function) `await` is seen. */
  topAwait: boolean;
  /** Nodes replaced whole: do not descend (their text is rebuilt). */
  skip: Set<Node>;
}

/** Instrument loops, redirect `import()` and `import.meta`, and detect top-level await. */
function walk(node: AnyNode, st: WalkState, inFunction: boolean): void {
  if (st.skip.has(node)) return;
  const t = node.type;
  if (!inFunction && (t === "AwaitExpression" || (t === "ForOfStatement" && node.await))) {
    st.topAwait = true;
  }
  if (LOOPS.has(t)) {
    const body = node.body as AnyNode;
    if (body.type === "BlockStatement") st.ed.insert(body.start + 1, CHECK);
    else {
      st.ed.insert(body.start, "{" + CHECK);
      st.ed.insert(body.end, "}");
    }
  } else if (t === "ImportExpression") {
    st.ed.replace(node.start, node.start + "import".length, HELPERS.importer);
  } else if (t === "MetaProperty" && (node.meta as AnyNode).name === "import") {
    st.ed.replace(node.start, node.end, HELPERS.meta);
    return;
  }
  const inner = inFunction || isFunction(node);
  for (const key in node) {
    if (key === "type" || key === "start" || key === "end") continue;
    const v = node[key];
    if (v === null || typeof v !== "object") continue;
    if (Array.isArray(v)) {
      for (const c of v) {
        if (c !== null && typeof c === "object" && typeof c.type === "string") {
          walk(c as AnyNode, st, inner);
        }
      }
    } else if (typeof (v as AnyNode).type === "string") walk(v as AnyNode, st, inner);
  }
}

function importCall(node: AnyNode, code: string): string {
  const spec = code.slice((node.source as AnyNode).start, (node.source as AnyNode).end);
  const attrs = node.attributes as AnyNode[] | undefined;
  let opts = "";
  if (attrs?.length) {
    opts = ",{with:{" +
      attrs.map((a) =>
        code.slice((a.key as AnyNode).start, (a.key as AnyNode).end) + ":" +
        code.slice((a.value as AnyNode).start, (a.value as AnyNode).end)
      ).join(",") + "}}";
  }
  return `await ${HELPERS.importer}(${spec}${opts})`;
}

/** `import d, {a as b} from "m"` → `void ({default: d, a: b} = await __ippImport("m"));` */
function rewriteImport(node: AnyNode, code: string): string {
  const call = importCall(node, code);
  const specs = node.specifiers as AnyNode[];
  if (specs.length === 0) return `${call};`;
  const ns = specs.find((s) => s.type === "ImportNamespaceSpecifier");
  const local = (s: AnyNode) => (s.local as AnyNode).name as string;
  const parts: string[] = [];
  for (const s of specs) {
    if (s.type === "ImportDefaultSpecifier") parts.push(`default:${local(s)}`);
    else if (s.type === "ImportSpecifier") {
      const imported = s.imported as AnyNode;
      const key = imported.type === "Literal"
        ? JSON.stringify(imported.value)
        : imported.name as string;
      parts.push(`${key}:${local(s)}`);
    }
  }
  if (ns) {
    const name = local(ns);
    return parts.length
      ? `void (${name}=${call},{${parts.join(",")}}=${name});`
      : `void (${name}=${call});`;
  }
  return `void ({${parts.join(",")}}=${call});`;
}

/**
 * Rewrite a top-level declaration into assignments to globals. Returns false when the node is
 * not a declaration.
 */
function rewriteDeclaration(
  node: AnyNode,
  ed: Editor,
  prologue: string[],
): boolean {
  switch (node.type) {
    case "VariableDeclaration": {
      const decls = node.declarations as AnyNode[];
      ed.replace(node.start, decls[0].start, "void (");
      for (const d of decls) {
        const id = d.id as AnyNode;
        if (d.init === null) {
          // `let x` resets x (REPL redeclaration); `var x` keeps an existing value.
          ed.insert(
            id.end,
            node.kind === "var" ? `=globalThis[${JSON.stringify(id.name)}]` : "=undefined",
          );
        }
      }
      const last = decls[decls.length - 1];
      ed.insert(last.end, ");");
      return true;
    }
    case "FunctionDeclaration": {
      // Left in place so it stays hoisted; published as a global at the start of the cell.
      const name = (node.id as AnyNode).name as string;
      prologue.push(`globalThis[${JSON.stringify(name)}]=${name};`);
      return true;
    }
    case "ClassDeclaration": {
      const name = (node.id as AnyNode).name as string;
      ed.insert(node.start, `${name}=`);
      ed.insert(node.end, ";");
      return true;
    }
  }
  return false;
}

/**
 * `for (var i = 0; …)` and `for (var k in/of …)` at top level: drop `var` so the loop
 * variable is a global afterwards, as in a script.
 */
function globalLoopVar(node: AnyNode, ed: Editor): void {
  const head = (node.type === "ForStatement" ? node.init : node.left) as AnyNode | undefined;
  if (
    (node.type === "ForStatement" || node.type === "ForInStatement" ||
      node.type === "ForOfStatement") &&
    head?.type === "VariableDeclaration" &&
    head.kind === "var" &&
    (head.declarations as AnyNode[]).every((d) => d.init !== null || node.type !== "ForStatement")
  ) {
    ed.replace(head.start, (head.declarations as AnyNode[])[0].start, "");
  }
}

/** Options of {@linkcode compileCell}. */
export interface CompileCellOptions {
  /** Name shown in stack traces (`//# sourceURL`). */
  name: string;
}

/**
 * Rewrite a cell for REPL semantics (see the module doc).
 *
 * @param code JavaScript (already type-stripped) source of the cell.
 * @param options The cell name for stack traces.
 * @returns The factory source and facts about it.
 * @throws {SyntaxError} when the code does not parse, or uses `import`/`export` below top level.
 */
export function compileCell(code: string, options: CompileCellOptions): CompiledCell {
  let ast: Program;
  // `{a: 1}` alone is an object literal in a REPL, not a block.
  if (/^\s*\{/.test(code) && /\}\s*$/.test(code)) {
    try {
      const wrapped = `(${code.trim()})`;
      const p = parseCell(wrapped);
      if (p.body.length === 1 && p.body[0].type === "ExpressionStatement") {
        code = wrapped;
        ast = p;
      }
    } catch { /* a block after all */ }
  }
  ast ??= parseCell(code);
  const ed = new Editor(code);
  const prologue: string[] = [];
  const st: WalkState = { ed, topAwait: false, skip: new Set() };
  let hasImport = false;
  const body = ast.body as AnyNode[];
  for (const stmt of body) {
    let node = stmt;
    if (node.type === "ImportDeclaration") {
      hasImport = true;
      ed.replace(node.start, node.end, rewriteImport(node, code));
      continue;
    }
    if (node.type === "ExportNamedDeclaration" || node.type === "ExportDefaultDeclaration") {
      const decl = node.declaration as AnyNode | null;
      if (decl && node.type === "ExportNamedDeclaration") {
        ed.replace(node.start, decl.start, "");
        node = decl;
      } else if (decl) {
        ed.replace(node.start, decl.start, "");
        walk(decl, st, false);
        continue;
      } else {
        ed.replace(node.start, node.end, ";");
        continue;
      }
    } else if (node.type === "ExportAllDeclaration") {
      ed.replace(node.start, node.end, ";");
      continue;
    }
    if (!rewriteDeclaration(node, ed, prologue)) globalLoopVar(node, ed);
    walk(node, st, false);
  }
  if (/\b(import|export)\b/.test(code)) checkNestedModuleSyntax(ast);
  // The value is that of the last expression statement, ignoring function declarations
  // after it (they stay hoisted). `return (` goes right after the previous statement, so the
  // expression's own line keeps its columns.
  let li = body.length - 1;
  while (
    li >= 0 && (body[li].type === "FunctionDeclaration" || body[li].type === "EmptyStatement")
  ) {
    li--;
  }
  const last = body[li];
  const hasValue = last?.type === "ExpressionStatement";
  let extra = 0;
  if (hasValue) {
    const prev = body[li - 1];
    if (prev) ed.insert(prev.end, ";return (");
    else {
      ed.insert(0, "return (");
      if (!code.slice(0, last.start).includes("\n")) extra = "return (".length;
    }
    ed.insert(code[last.end - 1] === ";" ? last.end - 1 : last.end, ");");
  }
  const isAsync = st.topAwait || hasImport;
  const prefix = `(function(${PARAMS}){return ${isAsync ? "async " : ""}function(){` +
    prologue.join("");
  const source = `${prefix}${ed.apply()}\n}})\n//# sourceURL=${options.name}`;
  return { source, isAsync, hasValue, prefixLength: prefix.length + extra };
}

function checkNestedModuleSyntax(ast: Program): void {
  const visit = (n: AnyNode, depth: number): void => {
    if (
      depth > 0 && (n.type === "ImportDeclaration" || n.type.startsWith("Export"))
    ) {
      throw new SyntaxError("'import' and 'export' may only appear at the top level");
    }
    for (const key in n) {
      const v = n[key];
      if (v === null || typeof v !== "object") continue;
      if (Array.isArray(v)) {
        for (const c of v) if (c && typeof c.type === "string") visit(c, depth + 1);
      } else if (typeof (v as AnyNode).type === "string") visit(v as AnyNode, depth + 1);
    }
  };
  for (const s of ast.body) visit(s as AnyNode, 0);
}

/**
 * Instrument a function's source text (as sent by `apply`) with interrupt checks and wrap it
 * in a factory like {@linkcode compileCell}'s. Accepts function expressions and declarations,
 * arrows, classes and method shorthand (`f(x) { … }`).
 *
 * @param source The function's source.
 * @param name Name for stack traces.
 * @returns Factory source (returns the function) and the line-1 prefix length.
 * @throws {SyntaxError} when the source is not a function in any accepted form.
 */
export function compileFunction(
  source: string,
  name: string,
): { source: string; prefixLength: number } {
  let expr = `(${source}\n)`;
  let method = false;
  let ast: Program;
  try {
    ast = parseCell(expr);
  } catch (first) {
    expr = `({${source}\n})`;
    method = true;
    try {
      ast = parseCell(expr);
    } catch {
      throw first;
    }
  }
  const ed = new Editor(expr);
  const st: WalkState = { ed, topAwait: false, skip: new Set() };
  walk(ast as unknown as AnyNode, st, true);
  const get = method ? "const __o=" : "return ";
  const tail = method ? ";return __o[Reflect.ownKeys(__o)[0]];" : ";";
  const prefix = `(function(${PARAMS}){${get}`;
  return {
    source: `${prefix}${ed.apply()}${tail}})\n//# sourceURL=${name}`,
    prefixLength: prefix.length + 1 + (method ? 1 : 0),
  };
}
