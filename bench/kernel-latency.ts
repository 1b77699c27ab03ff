/**
 * Kernel latency: time from spawning the relulab kernel to its first kernel_info_reply (prelude loaded),
 * and the median round trip of a trivial cell. Run after `npm run build`:
 *   npx ts-node --transpile-only bench/kernel-latency.ts [notebook folder]
 * The kernel starts in a fresh temporary folder unless one is given: type-checking cells includes every
 * @types package visible from the notebook's folder, and this repository's development ones are many.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { KernelClient } from '../src/notebook/client';

const kernels: Record<string, string[]> = {
  relulab: [process.execPath, path.join(__dirname, '..', 'dist', 'src', 'cli', 'main.js'), 'kernel', '--connection-file', '{connection_file}'],
  // the same tslab version, started on its own, as the peer
  tslab: [process.execPath, require.resolve('tslab/bin/tslab'), 'kernel', '--config-path', '{connection_file}'],
};

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Start-up and trivial-cell times over five fresh kernels; a kernel whose cells never finish (tslab's replies miss
 * the status our client waits for) gets no cell figure. */
async function measure(argv: string[], cwd: string, starts: number[], cells: number[]): Promise<void> {
  for (let run = 0; run < 5; run++) {
    const t0 = performance.now();
    const kc = await KernelClient.start({ argv, cwd });
    starts.push(performance.now() - t0);
    try {
      await kc.execute('1 + 1', { timeout: 5000 });
      for (let i = 0; i < 30; i++) {
        const t = performance.now();
        await kc.execute('1 + 1', { timeout: 5000 });
        cells.push(performance.now() - t);
      }
    } catch {
      // no cell figure for this kernel
    }
    await kc.close();
  }
}

const f = (xs: number[], digits: number) => (xs.length === 0 ? '—' : `${median(xs).toFixed(digits)} [${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)}]`);

async function main(): Promise<void> {
  const cwd = process.argv[2] ?? fs.mkdtempSync(path.join(os.tmpdir(), 'relulab-latency-'));
  const samples = Object.fromEntries(Object.keys(kernels).map((name) => [name, { starts: [] as number[], cells: [] as number[] }]));
  // alternate the kernels so that both see the same machine
  for (let round = 0; round < 2; round++) {
    for (const [name, argv] of Object.entries(kernels)) await measure(argv, cwd, samples[name].starts, samples[name].cells);
  }
  console.log('| kernel | start to first kernel_info_reply, ms | trivial cell round trip, ms |\n|---|---|---|');
  for (const [name, { starts, cells }] of Object.entries(samples)) console.log(`| ${name} | ${f(starts, 0)} | ${f(cells, 1)} |`);
}

void main();
