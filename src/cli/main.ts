#!/usr/bin/env node
/** The relulab CLI: argv only; the work is in src/notebook and kernel/. Sets process.exitCode on failure. */
// first: caches V8's compiled code of every module loaded after it (TypeScript and tslab for the kernel)
import 'v8-compile-cache';
import fs from 'node:fs';
import path from 'node:path';
import { Command, Option } from 'commander';
import cliProgress from 'cli-progress';
import { version } from '../index';
import { collectNotebooks, readNotebook, sourceText, writeNotebook } from '../notebook/nbformat';
import { injectParameters, parseValue, readParameterFile, type Parameters } from '../notebook/params';
import { formatMismatch, junitXml, readRegressionConfig, testNotebook } from '../notebook/regress';
import { writeReport } from '../notebook/report';
import { describeFailure, KernelsAhead, pool, runNotebook, shard, type RunReport } from '../notebook/run';

const program = new Command('relulab').version(version).description('Deep learning in TypeScript notebooks: kernel, headless runner, regression tests and reports');

interface CommonOptions {
  timeout: number;
  startupTimeout: number;
  jobs: number;
  shard?: string;
  cwd?: string;
  kernelCmd?: string;
  logOutput?: boolean;
  progress: boolean;
}

const collect = (value: string, previous: string[]) => [...previous, value];

function common(cmd: Command): Command {
  return cmd
    .option('--timeout <seconds>', 'per-cell timeout; the kernel is interrupted when it passes', Number, 600)
    .option('--startup-timeout <seconds>', 'how long to wait for the kernel to start', Number, 60)
    .option('-j, --jobs <n>', 'notebooks run in parallel', Number, 1)
    .option('--shard <i/n>', 'run only the i-th of n interleaved parts of the list (for CI matrices)')
    .option('--cwd <dir>', "the kernel's working folder (default: each notebook's folder)")
    .option('--kernel-cmd <json>', 'the kernel command as a JSON array, with {connection_file} (default: the relulab kernel)')
    .option('--log-output', 'stream cell outputs to the terminal as they arrive')
    .option('--no-progress', 'no progress bars');
}

function kernelArgv(opts: CommonOptions): string[] | undefined {
  if (opts.kernelCmd === undefined) return undefined;
  const argv = JSON.parse(opts.kernelCmd);
  if (!Array.isArray(argv) || argv.length === 0) throw new Error('--kernel-cmd must be a JSON array of strings');
  return argv.map(String);
}

/** Each notebook's kernel, started while the notebooks before it run (as many ahead as run at once). */
function kernelsAhead(files: string[], opts: CommonOptions): KernelsAhead {
  return new KernelsAhead(files, { cwd: opts.cwd, startupTimeout: opts.startupTimeout, kernelArgv: kernelArgv(opts) }, opts.jobs);
}

function notebooksFrom(inputs: string[], opts: CommonOptions): string[] {
  const all = collectNotebooks(inputs);
  return opts.shard ? shard(all, opts.shard) : all;
}

/** A progress bar per notebook: cell i/n, elapsed time, and the current cell's first line. */
function progressBars(enabled: boolean) {
  if (!enabled || !process.stderr.isTTY) return null;
  return new cliProgress.MultiBar(
    { format: ' {name} |{bar}| cell {value}/{total} | {duration_formatted} | {line}', hideCursor: true, clearOnComplete: false, stream: process.stderr },
    cliProgress.Presets.shades_classic,
  );
}

function parameters(opts: { parameters: string[][]; parameterFile?: string }): Parameters {
  const fromFile = opts.parameterFile ? readParameterFile(opts.parameterFile) : {};
  return { ...fromFile, ...Object.fromEntries(opts.parameters.map(([k, v]) => [k, parseValue(v)])) };
}

common(program.command('run').description('execute notebooks on fresh relulab kernels').argument('<notebooks...>', 'notebooks, or folders of notebooks'))
  .option('-o, --output-dir <dir>', 'write executed notebooks here')
  .option('--inplace', 'overwrite the notebooks with their executed versions')
  .option('--allow-errors', 'keep running after a failing cell (the run still fails)')
  .option('-p, --parameters <name value...>', 'set a parameter (repeatable), papermill style', (v: string, prev: string[][] = []) => {
    const last = prev[prev.length - 1];
    if (last && last.length === 1) last.push(v);
    else prev.push([v]);
    return prev;
  }, [] as string[][])
  .option('-f, --parameter-file <file>', 'parameters from a JSON or YAML file')
  .option('--prepare-only', 'inject the parameters and write the notebooks without running them')
  .option('--report <dir>', 'also write an HTML report of the executed notebooks')
  .action(async (inputs: string[], opts: CommonOptions & { outputDir?: string; inplace?: boolean; allowErrors?: boolean; parameters: string[][]; parameterFile?: string; prepareOnly?: boolean; report?: string }) => {
    if (!opts.outputDir && !opts.inplace) throw new Error('choose where executed notebooks go: --output-dir <dir> or --inplace');
    const files = notebooksFrom(inputs, opts);
    const params = parameters(opts);
    const outputOf = (file: string) => (opts.inplace ? file : path.join(opts.outputDir!, path.basename(file)));
    if (opts.prepareOnly) {
      for (const file of files) writeNotebook(outputOf(file), injectParameters(readNotebook(file), params));
      console.log(`Prepared ${files.length} notebook(s).`);
      return;
    }
    const bars = progressBars(opts.progress);
    const kernels = kernelsAhead(files, opts);
    const reports = await pool(files, opts.jobs, async (file, index) => {
      const bar = bars?.create(1, 0, { name: path.basename(file).padEnd(28).slice(0, 28), line: '' });
      try {
        return await runNotebook(file, {
          outputPath: outputOf(file),
          kernel: kernels.take(index),
          timeout: opts.timeout,
          allowErrors: opts.allowErrors,
          parameters: params,
          onCell: (i, total, cell) => {
            bar?.setTotal(total);
            bar?.update(i, { line: sourceText(cell.source).split('\n')[0].slice(0, 50) });
          },
          onOutput: opts.logOutput ? (o) => process.stdout.write(`[${path.basename(file)}] ${String(o.text ?? (o.data as Record<string, unknown> | undefined)?.['text/plain'] ?? o.evalue ?? '')}${o.output_type === 'stream' ? '' : '\n'}`) : undefined,
        });
      } catch (e) {
        const report: RunReport = { input: file, output: outputOf(file), status: 'failed', seconds: 0, failures: [{ cell: 0, source: '', ename: (e as Error).name, evalue: (e as Error).message, traceback: [] }], expectedErrors: 0 };
        return report;
      } finally {
        bar?.update(bar.getTotal(), { line: 'done' });
        bar?.stop();
      }
    }).finally(() => kernels.close());
    bars?.stop();
    summarise(reports);
    if (opts.report) {
      const index = writeReport(reports.filter((r) => fs.existsSync(r.output)).map((r) => ({ file: r.output, status: r.status, seconds: r.seconds })), opts.report);
      console.log(`Report: ${path.resolve(index)}`);
    }
  });

function summarise(reports: RunReport[]): void {
  for (const r of reports) {
    if (r.status === 'ok') console.log(`ok      ${r.input} (${r.seconds.toFixed(1)} s) -> ${r.output}`);
    else for (const f of r.failures) console.error(f.cell > 0 ? describeFailure(r.input, f) : `${r.input}: ${f.evalue}`);
  }
  const failed = reports.filter((r) => r.status !== 'ok').length;
  console.log(`${reports.length - failed} notebook(s) ran, ${failed} failed`);
  if (failed > 0) process.exitCode = 1;
}

common(program.command('test').description('check that fresh runs reproduce the outputs stored in notebooks (nbval style)').argument('<notebooks...>'))
  .option('--config <file>', 'tolerances, sanitizers and ignore rules (JSON or YAML)')
  .option('--lax', 'only compare cells tagged nbval-check-output (errors still fail)')
  .option('--update', 'accept the fresh outputs and write them into the notebooks')
  .option('--junit <file>', 'write JUnit XML')
  .action(async (inputs: string[], opts: CommonOptions & { config?: string; lax?: boolean; update?: boolean; junit?: string }) => {
    const config = opts.config ? readRegressionConfig(opts.config) : {};
    const files = notebooksFrom(inputs, opts);
    const kernels = kernelsAhead(files, opts);
    const verdicts = await pool(files, opts.jobs, (file, index) =>
      testNotebook(file, { config, lax: opts.lax, update: opts.update, timeout: opts.timeout, kernel: kernels.take(index) }),
    ).finally(() => kernels.close());
    for (const v of verdicts) {
      if (v.passed) console.log(`ok      ${v.file}${opts.update ? ' (updated)' : ''}`);
      else if (v.run.failures.length > 0) v.run.failures.forEach((f) => console.error(describeFailure(v.file, f)));
      else console.error(`differs ${v.file}\n${v.mismatches.map(formatMismatch).join('\n')}`);
    }
    if (opts.junit) fs.writeFileSync(opts.junit, junitXml(verdicts));
    const failed = verdicts.filter((v) => !v.passed).length;
    console.log(`${verdicts.length - failed} passed, ${failed} failed`);
    if (failed > 0) process.exitCode = 1;
  });

program
  .command('report')
  .description('write a static HTML site of executed notebooks')
  .argument('<notebooks...>')
  .requiredOption('-o, --output <dir>', 'the site folder')
  .action((inputs: string[], opts: { output: string }) => {
    const index = writeReport(collectNotebooks(inputs).map((file) => ({ file })), opts.output);
    console.log(`Report: ${path.resolve(index)}`);
  });

program.addOption(new Option('--debug', 'print stack traces').hideHelp());

// the kernel's commands live in kernel/ (the only code that touches tslab, loaded lazily)
(require('../../kernel/commands') as typeof import('../../kernel/commands')).registerKernelCommands(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  console.error(`relulab: ${err instanceof Error ? err.message : String(err)}`);
  if (program.opts().debug && err instanceof Error) console.error(err.stack);
  process.exitCode = 1;
});
