/**
 * `relulab test`: nbval-style regression checks. A fresh run must reproduce the outputs stored in the
 * notebook, up to a numeric tolerance, sanitizers (regex → replacement) and ignore rules.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import yaml from 'js-yaml';
import { readNotebook, tagsOf, writeNotebook, type CodeCell, type Notebook, type Output } from './nbformat';
import { runNotebook, type RunOptions, type RunReport } from './run';

export interface Sanitizer {
  regex: string;
  replace: string;
}

export interface RegressionConfig {
  /** Relative tolerance for numbers found in text (default 1e-6). */
  rtol?: number;
  /** Absolute tolerance (default 1e-8). */
  atol?: number;
  sanitizers?: Sanitizer[];
  /** JSON pointers into the notebook, `*` matching any one segment, e.g. `/cells/*\/outputs/*\/data/text~1html`. */
  ignore?: string[];
}

export interface Mismatch {
  cell: number;
  path: string;
  expected: string;
  actual: string;
}

export interface NotebookVerdict {
  file: string;
  run: RunReport;
  mismatches: Mismatch[];
  passed: boolean;
}

export class RegressionConfigError extends Error {
  readonly code = 'RELULAB_TEST_CONFIG';
}

export function readRegressionConfig(file: string): RegressionConfig {
  try {
    const text = fs.readFileSync(file, 'utf8');
    const config = (file.endsWith('.json') ? JSON.parse(text) : yaml.load(text)) as RegressionConfig;
    for (const s of config.sanitizers ?? []) new RegExp(s.regex, 'g');
    return config;
  } catch (e) {
    throw new RegressionConfigError(`${file}: ${(e as Error).message}`);
  }
}

const NUMBER = /[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?/g;
const BINARY = /^image\/(png|jpeg|gif)$/;

/** Compares two texts, numbers within tolerance and everything else exactly. */
export function textsMatch(expected: string, actual: string, rtol: number, atol: number): boolean {
  if (expected === actual) return true;
  const split = (s: string) => ({ words: s.split(NUMBER), numbers: (s.match(NUMBER) ?? []).map(Number) });
  const e = split(expected);
  const a = split(actual);
  if (e.numbers.length !== a.numbers.length || e.words.join('\u0000') !== a.words.join('\u0000')) return false;
  // equal tokens match even when they overflow to Infinity (e.g. 1e999)
  return e.numbers.every((x, i) => x === a.numbers[i] || Math.abs(x - a.numbers[i]) <= atol + rtol * Math.abs(x));
}

function pointerMatches(pattern: string, pointer: string): boolean {
  const p = pattern.split('/');
  const q = pointer.split('/');
  return p.length <= q.length && p.every((seg, i) => seg === '*' || seg === q[i]);
}

const escapePointer = (s: string) => s.replace(/~/g, '~0').replace(/\//g, '~1');

/** JSON with sorted keys, so that key order (which nbformat writers change) does not count. */
function canonical(v: unknown): string {
  return JSON.stringify(v, (_key, value) =>
    value !== null && typeof value === 'object' && !Array.isArray(value) ? Object.fromEntries(Object.entries(value).sort(([a], [b]) => (a < b ? -1 : 1))) : value,
  );
}

/** Consecutive stream outputs of the same name joined, as Jupyter frontends show them (and nbval compares them). */
function coalesced(outputs: readonly Output[]): Output[] {
  const out: Output[] = [];
  for (const o of outputs) {
    const last = out[out.length - 1];
    const text = (v: unknown) => (Array.isArray(v) ? v.join('') : String(v ?? ''));
    if (o.output_type === 'stream' && last?.output_type === 'stream' && last.name === o.name) out[out.length - 1] = { ...last, text: text(last.text) + text(o.text) };
    else out.push(o);
  }
  return out;
}

/** The comparable text of each part of an output, keyed by JSON pointer. */
function outputParts(o: Output, base: string): Map<string, string> {
  const parts = new Map<string, string>();
  const text = (v: unknown) => (Array.isArray(v) ? v.join('') : typeof v === 'string' ? v : canonical(v));
  parts.set(`${base}/output_type`, o.output_type);
  if (o.output_type === 'stream') parts.set(`${base}/text`, text(o.text));
  if (o.output_type === 'error') parts.set(`${base}/ename`, String(o.ename)).set(`${base}/evalue`, String(o.evalue));
  if (o.output_type === 'execute_result' || o.output_type === 'display_data') {
    for (const [mime, value] of Object.entries((o.data ?? {}) as Record<string, unknown>)) {
      if (!BINARY.test(mime)) parts.set(`${base}/data/${escapePointer(mime)}`, text(value));
    }
  }
  return parts;
}

/** Mismatches between the stored and fresh code-cell outputs. */
export function compareNotebooks(expected: Notebook, actual: Notebook, config: RegressionConfig = {}, lax = false): Mismatch[] {
  const { rtol = 1e-6, atol = 1e-8, sanitizers = [], ignore = [] } = config;
  const clean = (s: string) => sanitizers.reduce((t, z) => t.replace(new RegExp(z.regex, 'g'), z.replace), s);
  const mismatches: Mismatch[] = [];
  expected.cells.forEach((cell, i) => {
    if (cell.cell_type !== 'code') return;
    const tags = tagsOf(cell);
    if (tags.includes('nbval-skip') || tags.includes('nbval-ignore-output') || tags.includes('skip-execution')) return;
    if (lax && !tags.includes('nbval-check-output')) return;
    const fresh = actual.cells[i] as CodeCell | undefined;
    const want = new Map<string, string>();
    const got = new Map<string, string>();
    coalesced((cell as CodeCell).outputs).forEach((o, k) => outputParts(o, `/cells/${i}/outputs/${k}`).forEach((v, p) => want.set(p, v)));
    coalesced(fresh?.outputs ?? []).forEach((o, k) => outputParts(o, `/cells/${i}/outputs/${k}`).forEach((v, p) => got.set(p, v)));
    for (const p of new Set([...want.keys(), ...got.keys()])) {
      if (ignore.some((pattern) => pointerMatches(pattern, p))) continue;
      const e = want.has(p) ? clean(want.get(p)!) : '(missing)';
      const a = got.has(p) ? clean(got.get(p)!) : '(missing)';
      if (!textsMatch(e, a, rtol, atol)) mismatches.push({ cell: i + 1, path: p, expected: e, actual: a });
    }
  });
  return mismatches;
}

/** A short line diff of a mismatch, for the terminal. */
export function formatMismatch(m: Mismatch): string {
  const e = m.expected.split('\n');
  const a = m.actual.split('\n');
  const lines: string[] = [`  cell ${m.cell}, ${m.path}:`];
  // long lines (SVG, HTML) are cut to a window around their first difference
  const clip = (line: string, at: number) => (line.length <= 160 ? line : `${at > 60 ? '…' : ''}${line.slice(Math.max(0, at - 60), at + 100)}${at + 100 < line.length ? '…' : ''}`);
  for (let i = 0; i < Math.max(e.length, a.length); i++) {
    if (e[i] === a[i]) continue;
    let at = 0;
    while (e[i] !== undefined && a[i] !== undefined && at < e[i].length && e[i][at] === a[i][at]) at++;
    if (e[i] !== undefined) lines.push(`    - ${clip(e[i], at)}`);
    if (a[i] !== undefined) lines.push(`    + ${clip(a[i], at)}`);
    if (lines.length > 24) {
      lines.push('    …');
      break;
    }
  }
  return lines.join('\n');
}

export interface TestOptions extends Omit<RunOptions, 'outputPath' | 'allowErrors'> {
  config?: RegressionConfig;
  lax?: boolean;
  /** Accept the fresh outputs: write them into the notebook. */
  update?: boolean;
}

/** Runs the notebook into a temporary copy and compares it with the stored outputs. */
export async function testNotebook(file: string, options: TestOptions = {}): Promise<NotebookVerdict> {
  const expected = readNotebook(file);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'relulab-test-'));
  const fresh = path.join(dir, path.basename(file));
  try {
    // cells tagged nbval-skip are not run at all
    const runnable = { ...expected, cells: expected.cells.map((c) => (tagsOf(c).includes('nbval-skip') ? { ...c, metadata: { ...c.metadata, tags: [...tagsOf(c), 'skip-execution'] } } : c)) };
    writeNotebook(fresh, runnable);
    const run = await runNotebook(fresh, { ...options, cwd: options.cwd ?? path.dirname(path.resolve(file)), allowErrors: false });
    const actual = readNotebook(fresh);
    const mismatches = run.status === 'ok' ? compareNotebooks(expected, actual, options.config, options.lax) : [];
    if (options.update && run.status === 'ok') {
      expected.cells.forEach((c, i) => {
        if (c.cell_type === 'code' && !tagsOf(c).includes('nbval-skip')) {
          (c as CodeCell).outputs = (actual.cells[i] as CodeCell).outputs;
          (c as CodeCell).execution_count = (actual.cells[i] as CodeCell).execution_count;
        }
      });
      writeNotebook(file, expected);
    }
    return { file, run: { ...run, input: file }, mismatches, passed: run.status === 'ok' && (options.update || mismatches.length === 0) };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const xml = (s: string) => s.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!);

/** JUnit XML: one test suite, one test case per notebook. */
export function junitXml(verdicts: readonly NotebookVerdict[]): string {
  const failures = verdicts.filter((v) => !v.passed).length;
  const cases = verdicts.map((v) => {
    const name = xml(path.basename(v.file));
    if (v.passed) return `  <testcase classname="relulab.notebooks" name="${name}" time="${v.run.seconds.toFixed(3)}"/>`;
    const detail = v.run.failures.length > 0 ? v.run.failures.map((f) => `cell ${f.cell}: ${f.ename}: ${f.evalue}`).join('\n') : v.mismatches.map(formatMismatch).join('\n');
    const summary = v.run.failures.length > 0 ? 'the notebook failed to run' : `${v.mismatches.length} output(s) differ`;
    return `  <testcase classname="relulab.notebooks" name="${name}" time="${v.run.seconds.toFixed(3)}">\n    <failure message="${xml(summary)}">${xml(detail)}</failure>\n  </testcase>`;
  });
  return `<?xml version="1.0" encoding="UTF-8"?>\n<testsuite name="relulab notebooks" tests="${verdicts.length}" failures="${failures}">\n${cases.join('\n')}\n</testsuite>\n`;
}

