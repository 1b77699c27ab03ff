/**
 * Training and notebook times on this machine (medians of repeated runs). Run after `npm run build`:
 *   npx ts-node --transpile-only bench/training.ts
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { data, evaluate, fit, manualSeed, nn, optim } from '../src';
import { runNotebook } from '../src/notebook/run';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function time(runs: number, f: () => void): number {
  const ts: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    f();
    ts.push((performance.now() - t0) / 1000);
  }
  return median(ts);
}

async function main(): Promise<void> {
  const rows: [string, number, string][] = [];
  const moons = data.moons({ n: 300, noise: 0.15, seed: 1 });
  let acc = 0;
  rows.push(['MLP 2-32-32-2 on moons, 40 epochs, Adam', time(3, () => {
    manualSeed(0);
    const m = new nn.Sequential(new nn.Linear(2, 32), new nn.ReLU(), new nn.Linear(32, 32), new nn.ReLU(), new nn.Linear(32, 2));
    fit(m, moons, { epochs: 40, optimizer: new optim.Adam(m.parameters(), { lr: 0.01 }) });
    acc = evaluate(m, moons).accuracy;
  }), `train accuracy ${(acc * 100).toFixed(1)}%`]);
  const d = data.digits();
  const s = data.trainTestSplit(d.images, d.y, { testSize: 0.25, seed: 0 });
  rows.push(['CNN Conv2d(1,8,3)+ReLU+MaxPool+Linear on digits, 6 epochs', time(3, () => {
    manualSeed(0);
    const m = new nn.Sequential(new nn.Conv2d(1, 8, 3, { padding: 1 }), new nn.ReLU(), new nn.MaxPool2d(2), new nn.Flatten(), new nn.Linear(128, 10));
    fit(m, { x: s.xTrain, y: s.yTrain }, { epochs: 6, optimizer: new optim.Adam(m.parameters(), { lr: 0.01 }) });
    acc = evaluate(m, { x: s.xTest, y: s.yTest }).accuracy;
  }), `test accuracy ${(acc * 100).toFixed(1)}%`]);
  const dir = path.join(__dirname, '..', 'notebooks');
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'relulab-bench-'));
  let total = 0;
  for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.ipynb')).sort()) {
    const report = await runNotebook(path.join(dir, file), { outputPath: path.join(out, file) });
    total += report.seconds;
    rows.push([`notebook ${file} (headless, incl. kernel start)`, report.seconds, report.status]);
  }
  rows.push(['all notebooks, one after another', total, '']);
  fs.rmSync(out, { recursive: true, force: true });
  console.log('| workload | seconds (median) | note |\n|---|---|---|');
  for (const [name, seconds, note] of rows) console.log(`| ${name} | ${seconds.toFixed(2)} | ${note} |`);
}

void main();
