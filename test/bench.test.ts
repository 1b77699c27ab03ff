/**
 * The benchmark suite runs end to end: every peer reports, and the table and JSON come out. A smoke test of
 * the harness, not a timing: the figures themselves are not asserted.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

describe('npm run bench', () => {
  it('runs relulab and the TensorFlow.js peers side by side, in rounds, and writes a table and JSON', () => {
    const root = path.join(__dirname, '..');
    const json = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'relulab-bench-test-')), 'bench.json');
    const table = execFileSync(process.execPath, [require.resolve('ts-node/dist/bin.js'), '--transpile-only', path.join(root, 'bench', 'run.ts'), '--quick', '--only=overhead,matmul', '--rounds=2', `--json=${json}`], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 400_000 });
    expect(table).toMatch(/^\| workload \| size \| unit \| relulab \| tfjs-wasm \| tfjs-wasm 2 threads \| tfjs-cpu/m);
    for (const size of ['64', '256', '512', '1024']) expect(table).toMatch(new RegExp(`^\\| matmul \\| ${size} \\| GFLOP/s \\| [0-9.]+ \\[`, 'm'));
    expect(table).toMatch(/^\| overhead \| add of 1000 \| µs \| [0-9.]+ \[.*\| \d+\.\d+× /m);
    const { results, rounds } = JSON.parse(fs.readFileSync(json, 'utf8')) as { rounds: number; results: { peer: string; workload: string; size: string; value: number }[] };
    // two rounds, one figure per peer, workload and size: the better round's
    expect(rounds).toBe(2);
    const keys = results.map((r) => `${r.peer}/${r.workload}/${r.size}`);
    expect(new Set(keys).size).toBe(keys.length);
    const peers = new Set(results.map((r) => r.peer));
    for (const peer of ['relulab', 'tfjs-wasm', 'tfjs-wasm 2 threads', 'tfjs-cpu']) expect(peers).toContain(peer);
    for (const r of results.filter((x) => x.peer === 'relulab')) expect(r.value).toBeGreaterThan(0);
  }, 450_000);
});
