/**
 * `relulab run`: executes notebooks on a fresh relulab kernel each, papermill-style, and writes the executed
 * notebooks (atomically, also when a cell fails: with a banner at the top and an anchor at the failing cell).
 */
import fs from 'node:fs';
import path from 'node:path';
import { KernelClient, KernelError, type Output as KernelOutput } from './client';
import { readNotebook, sourceText, tagsOf, writeNotebook, type Cell, type CodeCell, type Notebook } from './nbformat';
import { injectParameters, type Parameters } from './params';

/** The command that starts the relulab kernel of this installation (its built CLI, from src/ or dist/src/). */
export function defaultKernelArgv(): string[] {
  let root = __dirname;
  while (!fs.existsSync(path.join(root, 'package.json'))) root = path.dirname(root);
  return [process.execPath, path.join(root, 'dist', 'src', 'cli', 'main.js'), 'kernel', '--connection-file', '{connection_file}'];
}

export interface RunOptions {
  /** Where to write the executed notebook (default: in place). */
  outputPath?: string;
  /** The kernel's working folder (default: the notebook's folder). */
  cwd?: string;
  /** Seconds per cell before the kernel is interrupted (default 600). */
  timeout?: number;
  /** Seconds to wait for the kernel to start (default 60). */
  startupTimeout?: number;
  /** Keep going after a failing cell; the run still reports the errors. */
  allowErrors?: boolean;
  parameters?: Parameters;
  kernelArgv?: readonly string[];
  /** A kernel already starting for this notebook, used instead of starting one: closed after the run, and by its KernelsAhead's close() if the run never gets to it. */
  kernel?: Promise<KernelClient>;
  /** Called before each code cell runs: index among code cells, their count, the cell. */
  onCell?: (index: number, total: number, cell: CodeCell) => void;
  /** Called with each output as it arrives (for --log-output). */
  onOutput?: (output: KernelOutput, cell: CodeCell) => void;
}

export interface CellFailure {
  /** 1-based position of the cell in the notebook. */
  cell: number;
  source: string;
  ename: string;
  evalue: string;
  traceback: string[];
}

export interface RunReport {
  input: string;
  output: string;
  status: 'ok' | 'failed';
  seconds: number;
  /** Failures: the one that stopped the run, or every error with allowErrors. */
  failures: CellFailure[];
  /** Errors from cells tagged raises-exception, as expected. */
  expectedErrors: number;
}

export class RunError extends Error {
  readonly code = 'RELULAB_RUN';
}

const ERROR_ANCHOR = 'relulab-error-cell';
const ANSI = /\u001b\[[0-9;]*m/g;

/** A readable account of a failure: notebook, cell, a source excerpt, the error and its traceback. */
export function describeFailure(file: string, f: CellFailure): string {
  const excerpt = f.source.split('\n').slice(0, 6).map((l) => `    | ${l}`).join('\n');
  return [`${file}: cell ${f.cell} failed with ${f.ename}: ${f.evalue}`, excerpt, ...f.traceback.map((l) => `    ${l.replace(ANSI, '')}`)].join('\n');
}

function isoNow(): string {
  return new Date().toISOString();
}

function banner(file: string, f: CellFailure): Cell {
  return {
    cell_type: 'markdown',
    metadata: { tags: ['relulab-error-banner'] },
    source: `<span style="color:#b00020;font-size:1.3em">**relulab run stopped at cell ${f.cell}** with \`${f.ename}: ${f.evalue.split('\n')[0]}\`. [Go to the failing cell](#${ERROR_ANCHOR}).</span>\n\nNotebook: \`${path.basename(file)}\``,
  };
}

function anchor(): Cell {
  return { cell_type: 'markdown', metadata: { tags: ['relulab-error-anchor'] }, source: `<span id="${ERROR_ANCHOR}" style="color:#b00020">relulab run stopped at the next cell:</span>` };
}

/** Removes the banner and anchor an earlier failed run left, so runs do not pile them up. */
function withoutMarkers(cells: Cell[]): Cell[] {
  return cells.filter((c) => !tagsOf(c).some((t) => t === 'relulab-error-banner' || t === 'relulab-error-anchor'));
}

/** Executes one notebook; always writes the (possibly partial) result to `outputPath`. */
export async function runNotebook(file: string, options: RunOptions = {}): Promise<RunReport> {
  const started = Date.now();
  const output = options.outputPath ?? file;
  let nb: Notebook = readNotebook(file);
  if (options.parameters && Object.keys(options.parameters).length > 0) nb = injectParameters(nb, options.parameters);
  nb.cells = withoutMarkers(nb.cells);
  const codeCells = nb.cells.filter((c): c is CodeCell => c.cell_type === 'code');
  for (const cell of codeCells) {
    cell.outputs = [];
    cell.execution_count = null;
    cell.metadata.papermill = { status: 'pending' };
  }
  const failures: CellFailure[] = [];
  let expectedErrors = 0;
  let stoppedAt: Cell | null = null;
  let kc: KernelClient | null = null;
  try {
    try {
      kc = await (options.kernel ?? startKernel(file, options));
    } catch (e) {
      throw new RunError(`${file}: ${(e as Error).message}`);
    }
    for (const [k, cell] of codeCells.entries()) {
      const position = nb.cells.indexOf(cell) + 1;
      const source = sourceText(cell.source);
      const meta = cell.metadata.papermill as Record<string, unknown>;
      if (tagsOf(cell).includes('skip-execution') || source.trim() === '') {
        meta.status = 'skipped';
        continue;
      }
      options.onCell?.(k, codeCells.length, cell);
      meta.start_time = isoNow();
      meta.status = 'running';
      const t0 = Date.now();
      let failure: Omit<CellFailure, 'cell' | 'source'> | null = null;
      const timeoutMs = (options.timeout ?? 600) * 1000;
      const client = kc;
      const execution = client.execute(source, { onOutput: (o) => options.onOutput?.(o, cell), stopOnError: false });
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)));
      try {
        let result = await Promise.race([execution, timedOut]);
        if (result === 'timeout') {
          // interrupt the kernel so the cell ends with a traceback, then record the timeout
          await client.interrupt().catch(() => undefined);
          result = await Promise.race([execution, new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), 10_000))]);
          const note = `the cell did not finish within ${options.timeout ?? 600} s and was interrupted`;
          if (result !== 'timeout') cell.outputs = result.outputs as CodeCell['outputs'];
          failure = { ename: 'CellTimeoutError', evalue: note, traceback: result === 'timeout' ? [note] : [note, ...((result.reply.content as { traceback?: string[] }).traceback ?? [])] };
        } else {
          cell.outputs = result.outputs as CodeCell['outputs'];
          const reply = result.reply.content as { status: string; execution_count?: number; ename?: string; evalue?: string; traceback?: string[] };
          cell.execution_count = reply.execution_count ?? null;
          if (reply.status === 'error') failure = { ename: reply.ename ?? 'Error', evalue: reply.evalue ?? '', traceback: reply.traceback ?? [] };
        }
      } catch (e) {
        if (!(e instanceof KernelError)) throw e;
        failure = { ename: 'DeadKernelError', evalue: `the kernel died while running this cell (${e.message})`, traceback: [] };
      } finally {
        clearTimeout(timer);
      }
      meta.end_time = isoNow();
      meta.duration = (Date.now() - t0) / 1000;
      meta.exception = failure !== null;
      meta.status = failure === null ? 'completed' : 'failed';
      if (failure === null) continue;
      if (tagsOf(cell).includes('raises-exception') && failure.ename !== 'DeadKernelError') {
        expectedErrors++;
        meta.status = 'completed';
        continue;
      }
      failures.push({ cell: position, source, ...failure });
      if (!options.allowErrors || failure.ename === 'DeadKernelError') {
        stoppedAt = cell;
        break;
      }
    }
  } finally {
    await kc?.close();
    if (stoppedAt !== null) {
      const at = nb.cells.indexOf(stoppedAt);
      nb.cells.splice(at, 0, anchor());
      nb.cells.unshift(banner(file, failures[failures.length - 1]));
    }
    const seconds = (Date.now() - started) / 1000;
    nb.metadata.papermill = {
      ...((nb.metadata.papermill as Record<string, unknown>) ?? {}),
      input_path: file,
      output_path: output,
      end_time: isoNow(),
      duration: seconds,
      exception: failures.length > 0,
    };
    writeNotebook(output, nb);
  }
  return { input: file, output, status: failures.length === 0 ? 'ok' : 'failed', seconds: (Date.now() - started) / 1000, failures, expectedErrors };
}

/** Starts the kernel a notebook runs on: in its folder unless options.cwd says otherwise. */
function startKernel(file: string, options: Pick<RunOptions, 'cwd' | 'kernelArgv' | 'startupTimeout'>): Promise<KernelClient> {
  return KernelClient.start({
    argv: options.kernelArgv ?? defaultKernelArgv(),
    cwd: options.cwd ?? path.dirname(path.resolve(file)),
    startupTimeout: (options.startupTimeout ?? 60) * 1000,
  });
}

/**
 * Kernels started ahead of their notebooks in a batch run: taking the kernel of notebook i also starts the
 * kernel of notebook i + ahead (ahead: the number of notebooks running at once), so that its start-up
 * (~2 s of tslab's compiler and the prelude, mostly on one core) overlaps the runs before it instead of
 * adding to them. Every notebook still runs on a fresh kernel of its own.
 */
export class KernelsAhead {
  private readonly starting = new Map<number, Promise<KernelClient>>();
  /** Every kernel started, taken or not, for close(). */
  private readonly started: Promise<KernelClient>[] = [];

  constructor(
    private readonly files: readonly string[],
    private readonly options: Pick<RunOptions, 'cwd' | 'kernelArgv' | 'startupTimeout'>,
    private readonly ahead: number,
  ) {}

  /** The kernel for files[index] (started now unless it already is); starts the kernel `ahead` further on. */
  take(index: number): Promise<KernelClient> {
    const kernel = this.starting.get(index) ?? this.start(index);
    this.starting.delete(index);
    const next = index + Math.max(1, this.ahead);
    if (next < this.files.length && !this.starting.has(next)) this.starting.set(next, this.start(next));
    return kernel;
  }

  /**
   * Stops every kernel started: those never taken (a batch cut short) and any a notebook's run did not
   * get to close (a run normally closes its own; closing twice is harmless).
   */
  async close(): Promise<void> {
    this.starting.clear();
    await Promise.all(this.started.splice(0).map((k) => k.then((c) => c.close(), () => undefined)));
  }

  private start(index: number): Promise<KernelClient> {
    const kernel = startKernel(this.files[index], this.options);
    // a kernel that fails to start is reported by the notebook that takes it
    kernel.catch(() => undefined);
    this.started.push(kernel);
    return kernel;
  }
}

/** Runs tasks with at most `limit` at a time, keeping the results in order. */
export async function pool<T, R>(items: readonly T[], limit: number, task: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await task(items[i], i);
    }
  });
  await Promise.all(workers);
  return results;
}

/** `--shard i/n`: the i-th of n interleaved parts (1-based), so each CI job gets a fair share. */
export function shard<T>(items: readonly T[], spec: string): T[] {
  const m = /^(\d+)\/(\d+)$/.exec(spec);
  if (m === null) throw new RunError(`--shard takes i/n (e.g. 2/4), got ${JSON.stringify(spec)}`);
  const [i, n] = [Number(m[1]), Number(m[2])];
  if (n < 1 || i < 1 || i > n) throw new RunError(`--shard ${spec}: i must be between 1 and n`);
  return items.filter((_, k) => k % n === i - 1);
}
