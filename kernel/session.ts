/**
 * The one module that touches tslab's internals (pinned: tslab 1.0.22). It builds tslab's TypeScript
 * converter and executor, makes the `relulab` package resolvable from any notebook folder (types and
 * runtime), runs the prelude, and turns tslab's console callbacks into structured results.
 */
import Module from 'node:module';
import path from 'node:path';
import util from 'node:util';
import { PACKAGE_ROOT } from './paths';

/* eslint-disable @typescript-eslint/no-require-imports */
const ts: typeof import('@tslab/typescript-for-tslab') = require('@tslab/typescript-for-tslab');
const { createConverter, isCompleteCode }: typeof import('tslab/dist/converter') = require('tslab/dist/converter');
const { createExecutor }: typeof import('tslab/dist/executor') = require('tslab/dist/executor');


/** A cell's failure, shaped as the protocol's `error` content. */
export interface CellError {
  ename: string;
  evalue: string;
  traceback: string[];
}

export type RunResult = { status: 'ok'; value?: unknown; hasValue: boolean } | ({ status: 'error' } & CellError);

/**
 * Makes `import … from "relulab"` work from any folder: the TypeScript host sees
 * `<cwd>/node_modules/relulab/…` as the package root, and Node's resolver maps `relulab` there too.
 */
function linkPackage(cwd: string): void {
  const virtual = path.join(cwd, 'node_modules', 'relulab');
  const forward = (p: string): string => {
    const normal = path.normalize(p);
    return normal === virtual || normal.startsWith(virtual + path.sep) ? path.join(PACKAGE_ROOT, normal.slice(virtual.length)) : p;
  };
  const sys = ts.sys;
  const { fileExists, readFile, directoryExists, realpath } = sys;
  sys.fileExists = (p) => fileExists.call(sys, forward(p));
  sys.readFile = (p, encoding) => readFile.call(sys, forward(p), encoding);
  sys.directoryExists = (p) => directoryExists.call(sys, forward(p)) || path.normalize(p) === path.join(cwd, 'node_modules');
  if (realpath) sys.realpath = (p) => (forward(p) !== p ? p : realpath.call(sys, p));

  const resolver = Module as unknown as { _resolveFilename: (request: string, ...rest: unknown[]) => string };
  const original = resolver._resolveFilename;
  resolver._resolveFilename = function (request: string, ...rest: unknown[]) {
    if (request === 'relulab' || request.startsWith('relulab/')) {
      return original.call(this, path.join(PACKAGE_ROOT, request === 'relulab' ? '' : request.slice('relulab/'.length)), ...rest);
    }
    return original.call(this, request, ...rest);
  };
}

/** Names exported by the relulab package that can be bound by an import (not reserved words). */
function preludeNames(): string[] {
  const pkg = require(PACKAGE_ROOT) as Record<string, unknown>;
  return Object.keys(pkg).filter((name) => /^[A-Za-z_$][\w$]*$/.test(name) && !name.startsWith('__') && !RESERVED.has(name));
}
const RESERVED = new Set(['var', 'let', 'const', 'function', 'class', 'default', 'delete', 'new', 'in', 'typeof', 'void', 'with', 'yield', 'await', 'enum']);

export interface SessionHooks {
  /** The value of a cell's last expression. */
  onValue(value: unknown): void;
}

/** A tslab executor with the relulab prelude loaded. */
export class Session {
  private readonly executor: import('tslab/dist/executor').Executor;
  private readonly errors: { diagnostics: string[]; thrown: unknown[] } = { diagnostics: [], thrown: [] };
  private lastValue: { value: unknown } | null = null;
  /** The JavaScript tslab made of the last cell. */
  private readonly converted = { output: '' };

  constructor(readonly cwd: string = process.cwd()) {
    linkPackage(cwd);
    const converted = this.converted;
    let node: import('tslab/dist/converter').Converter | undefined;
    let browser: import('tslab/dist/converter').Converter | undefined;
    const convs = {
      get node() {
        if (node === undefined) {
          node = createConverter({ isJS: false, isBrowser: false });
          // keep the JavaScript of the cell being run, to map stack frames back to cell lines
          const convert = node.convert.bind(node);
          node.convert = (prevDecl: string, src: string) => {
            const result = convert(prevDecl, src);
            converted.output = result.output ?? '';
            return result;
          };
        }
        return node;
      },
      get browser() {
        return (browser ??= createConverter({ isJS: false, isBrowser: true }));
      },
      close() {
        node?.close();
        browser?.close();
      },
    };
    this.executor = createExecutor(cwd, convs, {
      // tslab calls log only with the last expression's value
      log: (value: unknown) => {
        this.lastValue = { value };
      },
      // and error with diagnostics ("%s%d:%d - %s", file, line, column, message) or a thrown value
      error: (first: unknown, ...rest: unknown[]) => {
        if (typeof first === 'string' && first.startsWith('%s%d:%d')) {
          const [file, line, column, message] = rest as [string, number, number, string];
          this.errors.diagnostics.push(`${file ? `${file} ` : ''}${line}:${column} - ${message}`);
        } else {
          this.errors.thrown.push(first);
        }
      },
    });
  }

  /** Imports every export of the relulab package, plus the kernel's own helpers, into the session's scope. */
  async loadPrelude(helpersModule: string, helperNames: readonly string[]): Promise<void> {
    const src = [
      `import { ${preludeNames().join(', ')} } from "relulab";`,
      `import { ${helperNames.join(', ')} } from ${JSON.stringify(helpersModule)};`,
    ].join('\n');
    const result = await this.run(src);
    if (result.status === 'error') throw new Error(`the relulab prelude failed: ${result.evalue}\n${result.traceback.join('\n')}`);
  }

  /** Runs one cell. */
  async run(code: string): Promise<RunResult> {
    this.errors.diagnostics = [];
    this.errors.thrown = [];
    this.lastValue = null;
    const ok = await this.executor.execute(expandShorthand(code));
    if (ok) {
      const last = this.lastValue as { value: unknown } | null;
      return last === null ? { status: 'ok', hasValue: false } : { status: 'ok', value: last.value, hasValue: true };
    }
    if (this.errors.diagnostics.length > 0) {
      return { status: 'error', ename: 'TypeScriptError', evalue: this.errors.diagnostics.join('\n'), traceback: this.errors.diagnostics.map((d) => `TypeScript error at cell line ${d}`) };
    }
    return { status: 'error', ...describeThrown(this.errors.thrown[0], code, this.converted.output) };
  }

  complete(code: string, cursor: number): { start: number; end: number; matches: string[] } {
    const info = this.executor.complete(code, cursor);
    return { start: info.start, end: info.end, matches: info.candidates };
  }

  /** QuickInfo text (signature and docs) at the cursor, or null. */
  inspect(code: string, cursor: number): string | null {
    const info = this.executor.inspect(code, cursor);
    if (!info) return null;
    const signature = ts.displayPartsToString(info.displayParts);
    const docs = ts.displayPartsToString(info.documentation);
    const tags = (info.tags ?? []).map((t) => `@${t.name} ${ts.displayPartsToString(t.text)}`).join('\n');
    return [signature, docs, tags].filter(Boolean).join('\n\n');
  }

  isComplete(code: string): { status: 'complete' | 'incomplete'; indent?: string } {
    const r = isCompleteCode(code);
    return r.completed ? { status: 'complete' } : { status: 'incomplete', indent: r.indent ?? '' };
  }

  interrupt(): void {
    this.executor.interrupt();
  }

  close(): void {
    this.executor.close();
  }
}

/**
 * Rewrites shorthand properties `{ a }` as `{ a: a }`. tslab renames references to earlier cells'
 * variables (`a` becomes `exports.a`) but misses shorthand properties, which then throw a ReferenceError;
 * the long form is equivalent and is renamed correctly. Lines stay where they were.
 */
export function expandShorthand(code: string): string {
  const source = ts.createSourceFile('cell.ts', code, ts.ScriptTarget.Latest, true);
  const ends: { at: number; name: string }[] = [];
  const visit = (node: import('@tslab/typescript-for-tslab').Node): void => {
    if (ts.isShorthandPropertyAssignment(node) && node.objectAssignmentInitializer === undefined) ends.push({ at: node.name.getEnd(), name: node.name.text });
    ts.forEachChild(node, visit);
  };
  visit(source);
  let out = code;
  for (const { at, name } of ends.sort((a, b) => b.at - a.at)) out = `${out.slice(0, at)}: ${name}${out.slice(at)}`;
  return out;
}

/** Normalises a line for matching JavaScript against its TypeScript source. */
function normal(line: string): string {
  return line.replace(/exports\.tsLastExpr\s*=\s*/, '').replace(/\bexports\./g, '').replace(/\s+/g, '').replace(/;$/, '');
}

/**
 * The cell line of a line of the JavaScript tslab ran (1-based, as in the stack), found by matching its
 * text against the cell's lines; tslab keeps no source map.
 */
export function cellLine(jsLine: number, js: string, code: string): number | null {
  const target = normal(js.split('\n')[jsLine - 1] ?? '');
  if (target === '') return null;
  const lines = code.split('\n').map(normal);
  const exact = lines.findIndex((l) => l === target);
  if (exact >= 0) return exact + 1;
  const partial = lines.findIndex((l) => l !== '' && (l.includes(target) || target.includes(l)));
  return partial >= 0 ? partial + 1 : null;
}

/** ename/evalue/traceback for a thrown value, with frames of the kernel, tslab and Node stripped. */
export function describeThrown(thrown: unknown, code: string, js: string): CellError {
  if (!(thrown instanceof Error)) {
    return { ename: 'Error', evalue: `Uncaught ${util.inspect(thrown)}`, traceback: [`Uncaught ${util.inspect(thrown)}`] };
  }
  const ename = thrown.name || 'Error';
  const evalue = thrown.message;
  const lines = code.split('\n');
  const frames = (thrown.stack ?? '')
    .split('\n')
    .slice(1)
    .filter((l) => /^\s+at /.test(l))
    .filter((l) => !/\(node:|at node:|tslab[/\\]dist|[/\\]kernel[/\\]|node_modules[/\\]/.test(l))
    .map((l) => {
      // frames of the cell itself run as "evalmachine.<anonymous>:LINE:COL"
      const m = /evalmachine\.<anonymous>:(\d+):(\d+)/.exec(l);
      if (m === null) return l.trimEnd();
      const line = cellLine(Number(m[1]), js, code);
      // a frame that matches no line is tslab's wrapper around the cell
      if (line === null) return null;
      return `${l.replace(/\(?evalmachine\.<anonymous>:\d+:\d+\)?/, `(cell line ${line})`).trimEnd()}\n        ${lines[line - 1].trim()}`;
    })
    .filter((l): l is string => l !== null);
  return { ename, evalue, traceback: [`${ename}: ${evalue}`, ...frames] };
}
