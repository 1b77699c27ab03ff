/**
 * Kernel latency: time from spawning the relulab kernel to its first kernel_info_reply (prelude loaded),
 * and the median round trip of a trivial cell. Run after `npm run build`:
 *   npx ts-node --transpile-only bench/kernel-latency.ts
 */
import path from 'node:path';
import { KernelClient } from '../src/notebook/client';

const argv = [process.execPath, path.join(__dirname, '..', 'dist', 'src', 'cli', 'main.js'), 'kernel', '--connection-file', '{connection_file}'];

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const starts: number[] = [];
  const cells: number[] = [];
  for (let run = 0; run < 5; run++) {
    const t0 = performance.now();
    const kc = await KernelClient.start({ argv });
    starts.push(performance.now() - t0);
    await kc.execute('1 + 1');
    for (let i = 0; i < 30; i++) {
      const t = performance.now();
      await kc.execute('1 + 1');
      cells.push(performance.now() - t);
    }
    await kc.close();
  }
  console.log(JSON.stringify({ startupMs: { median: median(starts), min: Math.min(...starts), max: Math.max(...starts) }, cellMs: { median: median(cells), min: Math.min(...cells), max: Math.max(...cells) } }, null, 2));
}

void main();
