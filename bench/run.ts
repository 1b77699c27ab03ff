/**
 * `npm run bench`: relulab and its peers, side by side in one run. Each peer runs in its own child process,
 * one after another so they never share the cores, workload by workload: every peer runs a workload before
 * the next workload starts, so that a slow stretch of the shared host falls on all peers' figures for that
 * workload rather than on all of one peer's. The peers: relulab, TensorFlow.js with its WebAssembly backend (on
 * one thread, as it runs in stock Node, and on two through a bench-only shim) and its JavaScript backend,
 * and PyTorch when Debian's python3-torch is installed; then the multiply-add throughput the machine itself
 * gives WebAssembly SIMD code in the same run (peers/machine.ts). Prints a table per workload (median,
 * min–max, relulab against the best peer and, for products, as a share of the machine's limit) and writes
 * every measurement as JSON.
 *
 *   npm run bench -- [--quick] [--only=matmul,relu,elementwise,mlp,conv,overhead,memory] [--rounds=N] [--notebooks] [--json=FILE]
 *
 * With --rounds=N each workload runs N times on every peer in turn (in reverse order every other round) and
 * each measurement keeps its best round (the same rule for every peer): on a shared host a slow minute then
 * costs no single peer its figures.
 *
 * A full run also times the headless run of every tutorial (`npm run build` first: it uses the CLI).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs, WORKLOADS, type Measurement, type Workload } from './harness';

const args = process.argv.slice(2);
const root = path.join(__dirname, '..');
const jsonFile = args.find((a) => a.startsWith('--json='))?.slice('--json='.length) ?? path.join(root, 'report', 'bench.json');
const { quick, only } = parseArgs(args);
const passOn = quick ? ['--quick'] : [];
const tsNode = require.resolve('ts-node/dist/bin.js');
const python = '/usr/bin/python3';

interface Peer {
  name: string;
  command: string;
  args: string[];
  /** workloads the peer does not run */
  skips?: readonly Workload[];
}

function torchInstalled(): boolean {
  return fs.existsSync(python) && spawnSync(python, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0;
}

const peers: Peer[] = [
  { name: 'relulab', command: process.execPath, args: [tsNode, '--transpile-only', path.join(__dirname, 'peers', 'relulab.ts')] },
  { name: 'tfjs-wasm', command: process.execPath, args: [tsNode, '--transpile-only', path.join(__dirname, 'peers', 'tfjs.ts'), '--backend=wasm'] },
  // the threaded build needs a bench-only shim to start in Node (peers/tfjs.ts); it has no conv gradient
  // either, and 1,000 steps of its MLP would add minutes, so it skips those two
  { name: 'tfjs-wasm 2 threads', command: process.execPath, args: [tsNode, '--transpile-only', path.join(__dirname, 'peers', 'tfjs.ts'), '--backend=wasm', '--threads=2'], skips: ['conv', 'memory'] },
  // 1,000 steps of 0.3 s each would take minutes: tfjs-cpu skips the memory run
  { name: 'tfjs-cpu', command: process.execPath, args: [tsNode, '--transpile-only', path.join(__dirname, 'peers', 'tfjs.ts'), '--backend=cpu'], skips: ['memory'] },
];
if (torchInstalled()) {
  for (const threads of [1, 2]) peers.push({ name: `torch (${threads} thread${threads > 1 ? 's' : ''})`, command: python, args: [path.join(__dirname, 'peers', 'torch_bench.py'), `--threads=${threads}`] });
} else {
  process.stderr.write('# PyTorch is not installed (Debian python3-torch): its column is left out\n');
}
const LIMIT = 'machine limit';
// the limit of the products only
peers.push({ name: LIMIT, command: process.execPath, args: [tsNode, '--transpile-only', path.join(__dirname, 'peers', 'machine.ts')], skips: WORKLOADS.filter((w) => w !== 'matmul') });

const rounds = Math.max(1, Number(args.find((a) => a.startsWith('--rounds='))?.slice('--rounds='.length) ?? 1));
/** The better of two measurements of the same thing: the higher median, or the lower for times and sizes. */
const better = (a: Measurement, b: Measurement): Measurement => {
  if (a.error !== undefined) return b;
  if (b.error !== undefined) return a;
  return (a.higherIsBetter ? b.value > a.value : b.value < a.value) ? b : a;
};
const best = new Map<string, Measurement>();
for (const workload of only) {
  for (let round = 1; round <= rounds; round++) {
    for (const peer of round % 2 === 1 ? peers : [...peers].reverse()) {
      if (peer.skips?.includes(workload)) continue;
      process.stderr.write(`# ${workload}: ${peer.name}${rounds > 1 ? ` (round ${round} of ${rounds})` : ''}\n`);
      const run = spawnSync(peer.command, [...peer.args, `--only=${workload}`, ...passOn], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 64 * 2 ** 20 });
      for (const line of run.stdout.split('\n')) {
        if (!line.startsWith('{')) continue;
        const m = JSON.parse(line) as Measurement;
        const key = `${m.peer}\u0000${m.workload}\u0000${m.size}`;
        const seen = best.get(key);
        best.set(key, seen === undefined ? m : better(seen, m));
      }
      if (run.status !== 0) process.stderr.write(`# ${peer.name} exited with ${run.status ?? run.signal}\n`);
    }
  }
}
// rows and columns in the usual order whatever order the runs came in
const peerOrder = peers.map((p) => p.name);
const results: Measurement[] = [...best.values()].sort((a, b) => peerOrder.indexOf(a.peer) - peerOrder.indexOf(b.peer));

// a full run (no --quick, no --only) also times the tutorials; --notebooks asks for them in any run
if (args.includes('--notebooks') || (!quick && !args.some((a) => a.startsWith('--only=')))) {
  // the headless runs of the tutorials: each alone (its kernel's start-up included), then all of them in one
  // batch as `npm start` runs them (each notebook's kernel starting while the one before runs)
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'relulab-bench-'));
  const timeRun = (size: string, notebooks: string) => {
    const t0 = performance.now();
    const run = spawnSync(process.execPath, [path.join(root, 'dist', 'src', 'cli', 'main.js'), 'run', notebooks, '--output-dir', out, '--no-progress'], { cwd: root, stdio: 'ignore' });
    const seconds = (performance.now() - t0) / 1000;
    results.push({ peer: 'relulab', workload: 'notebooks', size, value: seconds, low: seconds, high: seconds, unit: 's', higherIsBetter: false, note: run.status === 0 ? 'ok' : 'failed' });
  };
  for (const file of fs.readdirSync(path.join(root, 'notebooks')).filter((f) => f.endsWith('.ipynb')).sort()) timeRun(file, path.join('notebooks', file));
  timeRun('all, one batch (npm start)', 'notebooks');
  fs.rmSync(out, { recursive: true, force: true });
}

fs.mkdirSync(path.dirname(jsonFile), { recursive: true });
fs.writeFileSync(jsonFile, `${JSON.stringify({ date: new Date().toISOString(), node: process.version, cpus: os.cpus().length, cpu: os.cpus()[0]?.model, rounds, results }, null, 1)}\n`);

const fmt = (v: number) => (!Number.isFinite(v) ? '—' : v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v >= 1 ? v.toFixed(2) : v.toPrecision(2));
const names = [...new Set(results.map((r) => r.peer))];
const groups = [...new Set(results.map((r) => `${r.workload}\u0000${r.size}`))];
let table = `| workload | size | unit | ${names.join(' | ')} | relulab vs best peer | relulab of machine limit |\n|---|---|---|${names.map(() => '---|').join('')}---|---|\n`;
for (const key of groups) {
  const [workload, size] = key.split('\u0000');
  const rows = results.filter((r) => r.workload === workload && r.size === size);
  const ours = rows.find((r) => r.peer === 'relulab');
  const cells = names.map((name) => {
    const r = rows.find((x) => x.peer === name);
    if (!r) return '';
    if (r.error) return 'fails';
    return workload === 'memory' ? `${fmt(r.value)} (${fmt(r.low)}→${fmt(r.high)})` : `${fmt(r.value)} [${fmt(r.low)}–${fmt(r.high)}]`;
  });
  const others = rows.filter((r) => r.peer !== 'relulab' && r.peer !== LIMIT && !r.error && Number.isFinite(r.value));
  let ratio = '';
  if (ours && !ours.error && others.length > 0) {
    const best = others.reduce((a, b) => ((ours.higherIsBetter ? b.value > a.value : b.value < a.value) ? b : a));
    const times = ours.higherIsBetter ? ours.value / best.value : best.value / ours.value;
    ratio = `${times.toFixed(2)}× ${best.peer}`;
  }
  const limit = rows.find((r) => r.peer === LIMIT && !r.error);
  const share = ours && !ours.error && limit ? `${((100 * ours.value) / limit.value).toFixed(0)} %` : '';
  const unit = rows[0].unit;
  table += `| ${workload} | ${size} | ${unit} | ${cells.join(' | ')} | ${ratio} | ${share} |\n`;
}
process.stdout.write(table);
process.stdout.write(
  `\nMedians [min–max]; memory shows peak RSS (first→last sample). Ratio > 1: relulab is faster (or leaner).\n` +
    `Machine limit: 128-bit WebAssembly multiply-adds on every core, measured in this run (peers/machine.ts).\n` +
    `JSON: ${path.relative(process.cwd(), jsonFile)}\n`,
);
