/** relulab run / test / report against the real relulab kernel. */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { compareNotebooks, junitXml, testNotebook, textsMatch } from '../src/notebook/regress';
import { readNotebook, writeNotebook, type CodeCell, type Notebook } from '../src/notebook/nbformat';
import { injectParameters, parameterSource, parseValue } from '../src/notebook/params';
import { KernelsAhead, runNotebook, shard } from '../src/notebook/run';
import { writeReport } from '../src/notebook/report';

const root = path.resolve(__dirname, '..');
const fixtures = path.join(__dirname, 'fixtures', 'notebooks');
const cli = path.join(root, 'dist', 'src', 'cli', 'main.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'relulab-run-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));
const run = promisify(execFile);

function notebook(cells: [string, string[]?][]): Notebook {
  return { cells: cells.map(([source, tags]) => ({ cell_type: 'code', execution_count: null, metadata: tags ? { tags } : {}, outputs: [], source })), metadata: {}, nbformat: 4, nbformat_minor: 5 };
}
function write(name: string, nb: Notebook): string {
  const file = path.join(tmp, name);
  writeNotebook(file, nb);
  return file;
}
const outputsOf = (nb: Notebook, i: number) => (nb.cells[i] as CodeCell).outputs;

describe('relulab run', () => {
  it('executes a notebook: outputs, tags, parameters and papermill metadata', async () => {
    const out = path.join(tmp, 'passes-out.ipynb');
    const report = await runNotebook(path.join(fixtures, 'passes.ipynb'), { outputPath: out, parameters: { steps: 7 } });
    expect(report.status).toBe('ok');
    expect(report.expectedErrors).toBe(1);
    const nb = readNotebook(out);
    expect((nb.cells[2].metadata as any).tags).toEqual(['injected-parameters']);
    expect(nb.cells[2].source).toBe('// Parameters\nconst steps = 7;');
    const main = outputsOf(nb, 3);
    expect(main[0]).toMatchObject({ output_type: 'stream', text: 'steps = 7\n' });
    expect((main[1] as any).data['text/plain']).toBe('tensor([-0.0000, -0.0000,  0.0000,  0.5000], shape=[4], dtype=float32)');
    expect(outputsOf(nb, 5)).toEqual([]);
    expect((nb.cells[5].metadata as any).papermill.status).toBe('skipped');
    expect((nb.cells[3].metadata as any).papermill).toMatchObject({ status: 'completed', exception: false });
    expect((nb.metadata as any).papermill).toMatchObject({ parameters: { steps: 7 }, exception: false });
    // the input is untouched
    expect(outputsOf(readNotebook(path.join(fixtures, 'passes.ipynb')), 2)).toEqual([]);
  }, 60_000);

  it('stops at a failing cell, names it, and still writes the notebook with a banner and an anchor', async () => {
    const out = path.join(tmp, 'fails-out.ipynb');
    const report = await runNotebook(path.join(fixtures, 'fails-with-shape-error.ipynb'), { outputPath: out });
    expect(report.status).toBe('failed');
    expect(report.failures).toHaveLength(1);
    expect(report.failures[0]).toMatchObject({ cell: 3, ename: 'ShapeError', evalue: 'matmul: shapes [1, 3] and [1, 2] are incompatible (3 vs 1)' });
    expect(report.failures[0].traceback.join('\n')).toContain('(cell line 2)');
    const nb = readNotebook(out);
    expect(String(nb.cells[0].source)).toContain('relulab run stopped at cell 3');
    expect(String(nb.cells[3].source)).toContain('id="relulab-error-cell"');
    expect(outputsOf(nb, 2)[0]).toMatchObject({ output_type: 'stream', text: 'before\n' });
    expect(outputsOf(nb, 5)).toEqual([]);
  }, 60_000);

  it('reports type errors as failures and keeps going with allowErrors', async () => {
    const file = write('type-error.ipynb', notebook([['const s: string = 1;'], ['console.log("after")']]));
    const report = await runNotebook(file, { allowErrors: true });
    expect(report.failures[0]).toMatchObject({ cell: 1, ename: 'TypeScriptError' });
    expect(outputsOf(readNotebook(file), 1)[0]).toMatchObject({ text: 'after\n' });
  }, 60_000);

  it('interrupts a cell that exceeds the timeout', async () => {
    const file = write('slow.ipynb', notebook([['const kept = 1;'], ['while (true) {}'], ['kept']]));
    const t0 = Date.now();
    const report = await runNotebook(file, { timeout: 1 });
    expect(Date.now() - t0).toBeLessThan(15_000);
    expect(report.failures[0]).toMatchObject({ cell: 2, ename: 'CellTimeoutError' });
  }, 60_000);

  it('names the cell a kernel died in', async () => {
    const file = write('dies.ipynb', notebook([['console.log("ok")'], ['process.exit(3)'], ['1']]));
    const report = await runNotebook(file);
    expect(report.failures[0]).toMatchObject({ cell: 2, ename: 'DeadKernelError' });
    expect(report.failures[0].evalue).toContain('exit code 3');
  }, 60_000);

  it('gives clear errors for a malformed notebook and a missing kernel', async () => {
    const bad = path.join(tmp, 'bad.ipynb');
    fs.writeFileSync(bad, '{"cells": [');
    await expect(runNotebook(bad)).rejects.toThrow(`${bad}: not valid JSON`);
    // the CLI says so and exits, the kernel started for the notebook stopped (a kernel left running would
    // keep it alive until the timeout kills it)
    const cliFailure = await run(process.execPath, [cli, 'test', bad, '--no-progress'], { timeout: 60_000 }).then(() => null, (e) => e);
    expect(cliFailure.killed).toBe(false);
    expect(cliFailure.code).toBe(1);
    expect(cliFailure.stderr).toContain('not valid JSON');
    const file = write('nokernel.ipynb', notebook([['1']]));
    await expect(runNotebook(file, { kernelArgv: ['/nonexistent/kernel', '{connection_file}'] })).rejects.toThrow(/nokernel\.ipynb: .*cannot start the kernel/);
  }, 60_000);

  it("starts each notebook's kernel while the one before it runs, gives every notebook a fresh kernel, and stops those not taken", async () => {
    // a kernel command that records its process id, then runs the relulab kernel
    const stamps = path.join(tmp, 'kernel-pids.txt');
    const wrapper = path.join(tmp, 'stamp-kernel.js');
    fs.writeFileSync(wrapper, `require('fs').appendFileSync(${JSON.stringify(stamps)}, process.pid + '\\n');\nrequire(${JSON.stringify(cli)});\n`);
    const pids = () => (fs.existsSync(stamps) ? fs.readFileSync(stamps, 'utf8').trim().split('\n').map(Number) : []);
    const files = ['a', 'b', 'c'].map((name) => write(`ahead-${name}.ipynb`, notebook([['console.log(process.pid)']])));
    const ahead = new KernelsAhead(files, { kernelArgv: [process.execPath, wrapper, 'kernel', '--connection-file', '{connection_file}'] }, 1);
    const pidPrinted = (file: string) => Number((outputsOf(readNotebook(file), 0)[0] as any).text);
    try {
      expect((await runNotebook(files[0], { kernel: ahead.take(0) })).status).toBe('ok');
      // the second notebook's kernel started with the first one's (the two in either order)
      expect(pids()).toHaveLength(2);
      expect((await runNotebook(files[1], { kernel: ahead.take(1) })).status).toBe('ok');
      // each ran on its own kernel, one of the first two started
      expect([pidPrinted(files[0]), pidPrinted(files[1])].sort()).toEqual(pids().slice(0, 2).sort());
    } finally {
      await ahead.close();
    }
    // taking the second kernel started the third, which no notebook took: close() stopped it
    expect(pids()).toHaveLength(3);
    expect(() => process.kill(pids()[2], 0)).toThrow();
    // a notebook that cannot be read never gets to its kernel: close() stops that one too
    const bad = path.join(tmp, 'ahead-bad.ipynb');
    fs.writeFileSync(bad, '{"cells": [');
    const again = new KernelsAhead([bad], { kernelArgv: [process.execPath, wrapper, 'kernel', '--connection-file', '{connection_file}'] }, 1);
    await expect(runNotebook(bad, { kernel: again.take(0) })).rejects.toThrow('not valid JSON');
    await again.close();
    expect(pids()).toHaveLength(4);
    expect(() => process.kill(pids()[3], 0)).toThrow();
  }, 120_000);

  it('the CLI runs in parallel, shards, exits non-zero on failure and writes a report', async () => {
    const outDir = path.join(tmp, 'cli-out');
    const site = path.join(tmp, 'site');
    const failing = await run(process.execPath, [cli, 'run', fixtures, '-o', outDir, '-j', '2', '--report', site, '--no-progress']).then(() => null, (e) => e);
    expect(failing.code).toBe(1);
    expect(failing.stderr).toContain('fails-with-shape-error.ipynb: cell 3 failed with ShapeError');
    expect(failing.stdout).toContain('1 notebook(s) ran, 1 failed');
    expect(fs.existsSync(path.join(site, 'index.html'))).toBe(true);
    expect(fs.existsSync(path.join(site, 'plotly.min.js'))).toBe(true);
    const index = fs.readFileSync(path.join(site, 'index.html'), 'utf8');
    expect(index).toContain('passes.html');
    expect(index).toContain('class="failed"');
    const ok = await run(process.execPath, [cli, 'run', fixtures, '-o', outDir, '--shard', '2/2', '--no-progress']);
    expect(ok.stdout).toContain('1 notebook(s) ran, 0 failed');
    expect(shard(['a', 'b', 'c', 'd', 'e'], '1/2')).toEqual(['a', 'c', 'e']);
  }, 120_000);
});

describe('parameters', () => {
  it('parses values as papermill does and writes const bindings', () => {
    expect([parseValue('3'), parseValue('0.5'), parseValue('true'), parseValue('None'), parseValue('relu')]).toEqual([3, 0.5, true, null, 'relu']);
    expect(parameterSource({ lr: 0.1, name: 'x', layers: [1, 2] })).toBe('// Parameters\nconst lr = 0.1;\nconst name = "x";\nconst layers = [1,2];');
    expect(() => parameterSource({ 'bad-name': 1 })).toThrow('parameter name "bad-name" is not a valid identifier');
    const nb = injectParameters(notebook([['const a = 1;', ['parameters']], ['a']]), { a: 2 });
    expect(nb.cells.map((c) => c.source)).toEqual(['const a = 1;', '// Parameters\nconst a = 2;', 'a']);
    expect(injectParameters(nb, { a: 3 }).cells).toHaveLength(3);
  });
});

describe('relulab test', () => {
  it('compares numbers within tolerance and text exactly', () => {
    expect(textsMatch('loss 0.7500000', 'loss 0.75000001', 1e-6, 1e-8)).toBe(true);
    expect(textsMatch('loss 0.75', 'loss 0.76', 1e-6, 1e-8)).toBe(false);
    expect(textsMatch('loss 0.75', 'lost 0.75', 1e-6, 1e-8)).toBe(false);
    expect(textsMatch('big 1e999 x', 'big 1e999 y', 1e-6, 1e-8)).toBe(false);
    expect(textsMatch('big 1e999 and 1.0', 'big 1e999 and 1.00000001', 1e-6, 1e-8)).toBe(true);
  });

  it('passes a notebook whose stored outputs reproduce, and fails one that differs, with a diff and JUnit', async () => {
    const file = write('regress.ipynb', notebook([['console.log("value", (1 / 3).toFixed(6))'], ['console.log(`run at ${Date.now()}`)', ['nbval-ignore-output']]]));
    await runNotebook(file);
    const pass = await testNotebook(file);
    expect(pass.passed).toBe(true);
    const nb = readNotebook(file);
    (outputsOf(nb, 0)[0] as any).text = 'value 0.5\n';
    writeNotebook(file, nb);
    const fail = await testNotebook(file);
    expect(fail.passed).toBe(false);
    expect(fail.mismatches).toEqual([{ cell: 1, path: '/cells/0/outputs/0/text', expected: 'value 0.5\n', actual: 'value 0.333333\n' }]);
    expect(junitXml([pass, fail])).toContain('<testsuite name="relulab notebooks" tests="2" failures="1">');
    const updated = await testNotebook(file, { update: true });
    expect(updated.passed).toBe(true);
    expect((outputsOf(readNotebook(file), 0)[0] as any).text).toBe('value 0.333333\n');
  }, 60_000);

  it('applies sanitizers, ignore paths and lax mode', () => {
    const a = notebook([['x'], ['y', ['nbval-check-output']]]);
    const b = notebook([['x'], ['y', ['nbval-check-output']]]);
    (a.cells[0] as CodeCell).outputs = [{ output_type: 'stream', name: 'stdout', text: 'id=abc123 t=1\n' }];
    (b.cells[0] as CodeCell).outputs = [{ output_type: 'stream', name: 'stdout', text: 'id=zzz999 t=1\n' }];
    expect(compareNotebooks(a, b)).toHaveLength(1);
    expect(compareNotebooks(a, b, { sanitizers: [{ regex: 'id=\\w+', replace: 'id=ID' }] })).toEqual([]);
    expect(compareNotebooks(a, b, { ignore: ['/cells/0/outputs/*/text'] })).toEqual([]);
    expect(compareNotebooks(a, b, {}, true)).toEqual([]);
  });
});

describe('relulab report', () => {
  it('draws plotly outputs with the bundled plotly.js and lists notebooks with thumbnails', () => {
    const nb = notebook([['chart']]);
    (nb.cells[0] as CodeCell).outputs = [{ output_type: 'display_data', metadata: {}, data: { 'application/vnd.plotly.v1+json': { data: [{ type: 'scatter', x: [1, 2], y: [3, 4] }], layout: { title: { text: 'T' } } }, 'text/plain': 'Figure' } }];
    const file = write('chart.ipynb', nb);
    const site = path.join(tmp, 'chart-site');
    writeReport([{ file }], site);
    const page = fs.readFileSync(path.join(site, 'chart.html'), 'utf8');
    expect(page).toContain('<script src="plotly.min.js"></script>');
    expect(page).toContain('Plotly.newPlot("plot-');
    expect(fs.readFileSync(path.join(site, 'index.html'), 'utf8')).toContain('staticPlot');
  });
});
