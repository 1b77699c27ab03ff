/** The relulab kernel under real Jupyter clients: jupyter_kernel_test, nbclient and nbconvert. */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PYTHON, skipWithout } from './jupyter-env';
import { compareNotebooks, formatMismatch } from '../src/notebook/regress';
import { readNotebook } from '../src/notebook/nbformat';

const root = path.resolve(__dirname, '..');
const skip = skipWithout('kernel-jupyter', 'jupyter_client', 'jupyter_kernel_test', 'nbclient', 'nbconvert');
let prefix: string;
let env: NodeJS.ProcessEnv;

beforeAll(() => {
  if (skip) return;
  prefix = fs.mkdtempSync(path.join(os.tmpdir(), 'relulab-jupyter-'));
  execFileSync(process.execPath, [path.join(root, 'dist', 'src', 'cli', 'main.js'), 'install', '--prefix', prefix]);
  env = { ...process.env, JUPYTER_PATH: path.join(prefix, 'share', 'jupyter'), JUPYTER_DATA_DIR: path.join(prefix, 'data'), JUPYTER_RUNTIME_DIR: path.join(prefix, 'runtime') };
});
afterAll(() => prefix && fs.rmSync(prefix, { recursive: true, force: true }));

const notebook = {
  cells: [
    { cell_type: 'code', metadata: {}, execution_count: null, outputs: [], source: 'const x = tensor([-1, 0, 1, 2], { requiresGrad: true });\nnn.functional.mseLoss(relu(x), 1).backward();\nx.grad' },
    { cell_type: 'code', metadata: {}, execution_count: null, outputs: [], source: 'console.log("loss", nn.functional.mseLoss(relu(x), 1).item())' },
    { cell_type: 'code', metadata: {}, execution_count: null, outputs: [], source: 'display({ "text/html": "<i>shown</i>" })' },
  ],
  metadata: { kernelspec: { name: 'relulab', display_name: 'TypeScript (relulab)', language: 'typescript' } },
  nbformat: 4,
  nbformat_minor: 5,
};

describe.skipIf(skip)('real Jupyter clients', () => {
  it('nbclient reproduces a tutorial notebook\'s committed outputs on the relulab kernel', () => {
    const file = path.join(root, 'notebooks', '03-is-relu-differentiable.ipynb');
    const out = path.join(prefix, 'nbclient-03.ipynb');
    const script = `import nbformat, nbclient, sys\nnb = nbformat.read(sys.argv[1], 4)\nnbclient.NotebookClient(nb, timeout=120, kernel_name="relulab", resources={"metadata": {"path": sys.argv[3]}}).execute()\nnbformat.write(nb, sys.argv[2])`;
    execFileSync(PYTHON, ['-c', script, file, out, path.dirname(file)], { env });
    expect(compareNotebooks(readNotebook(file), readNotebook(out)).map(formatMismatch)).toEqual([]);
  }, 120_000);

  it('passes jupyter_kernel_test', () => {
    const out = execFileSync(PYTHON, ['-m', 'unittest', '-v', 'test_relulab_kernel'], { cwd: path.join(root, 'test', 'fixtures', 'kernel'), env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    expect(out).toBeDefined();
  }, 120_000);

  it('runs a notebook with nbclient and with jupyter nbconvert --execute', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'relulab-nb-'));
    const file = path.join(dir, 'small.ipynb');
    fs.writeFileSync(file, JSON.stringify(notebook));
    const script = `import nbformat, nbclient, json, sys\nnb = nbformat.read(sys.argv[1], 4)\nnbclient.NotebookClient(nb, timeout=60, kernel_name="relulab").execute()\nprint(json.dumps([c.outputs for c in nb.cells]))`;
    const outputs = JSON.parse(execFileSync(PYTHON, ['-c', script, file], { env, encoding: 'utf8' }));
    expect(outputs[0][0].data['text/plain']).toBe('tensor([-0.0000, -0.0000,  0.0000,  0.5000], shape=[4], dtype=float32)');
    expect(outputs[1][0]).toMatchObject({ output_type: 'stream', name: 'stdout', text: 'loss 0.75\n' });
    expect(outputs[2][0]).toMatchObject({ output_type: 'display_data', data: { 'text/html': '<i>shown</i>' } });
    execFileSync(PYTHON, ['-m', 'jupyter', 'nbconvert', '--to', 'notebook', '--execute', '--output', 'executed.ipynb', file], { env, stdio: 'ignore' });
    const executed = JSON.parse(fs.readFileSync(path.join(dir, 'executed.ipynb'), 'utf8'));
    expect([executed.cells[1].outputs[0].text].flat().join('')).toBe('loss 0.75\n');
    fs.rmSync(dir, { recursive: true, force: true });
  }, 120_000);
});
