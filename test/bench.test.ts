/**
 * The benchmark suite runs end to end: every peer and the machine's limit report, and the table and JSON come
 * out. A test of the harness, not a timing: the figures themselves are not asserted, only how the table is
 * made from them.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

describe('npm run bench', () => {
  it('runs relulab, the TensorFlow.js peers and the machine limit side by side, in rounds, and writes a table and JSON', () => {
    const root = path.join(__dirname, '..');
    const json = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'relulab-bench-test-')), 'bench.json');
    const run = spawnSync(process.execPath, [require.resolve('ts-node/dist/bin.js'), '--transpile-only', path.join(root, 'bench', 'run.ts'), '--quick', '--only=overhead,matmul', '--rounds=2', `--json=${json}`], { cwd: root, encoding: 'utf8', timeout: 400_000 });
    expect(run.status, run.stderr).toBe(0);
    const table = run.stdout;
    // workload by workload, every peer in turn, in reverse order in the second round; the limit only for products
    const order = [...run.stderr.matchAll(/^# (\w+): (.+) \(round (\d) of 2\)$/gm)].map((m) => [m[1], m[2], Number(m[3])] as const);
    const peersOf = (workload: string, round: number) => order.filter(([w, , r]) => w === workload && r === round).map(([, p]) => p);
    expect(order.map(([w]) => w)).toEqual([...order.filter(([w]) => w === 'overhead'), ...order.filter(([w]) => w === 'matmul')].map(([w]) => w));
    expect(peersOf('overhead', 1).slice(0, 4)).toEqual(['relulab', 'tfjs-wasm', 'tfjs-wasm 2 threads', 'tfjs-cpu']);
    expect(peersOf('overhead', 2)).toEqual([...peersOf('overhead', 1)].reverse());
    expect(peersOf('overhead', 1)).not.toContain('machine limit');
    expect(peersOf('matmul', 1)).toEqual([...peersOf('overhead', 1), 'machine limit']);
    expect(peersOf('matmul', 2)).toEqual([...peersOf('matmul', 1)].reverse());
    expect(table).toMatch(/^\| workload \| size \| unit \| relulab \| tfjs-wasm \| tfjs-wasm 2 threads \| tfjs-cpu/m);
    expect(table).toMatch(/\| machine limit \| relulab vs best peer \| relulab of machine limit \|$/m);
    for (const size of ['64', '256', '512', '1024']) expect(table).toMatch(new RegExp(`^\\| matmul \\| ${size} \\| GFLOP/s \\| [0-9.]+ \\[`, 'm'));
    // no machine limit for the per-op overhead: its last cell is empty
    expect(table).toMatch(/^\| overhead \| add of 1000 \| µs \| [0-9.]+ \[.*\| \d+\.\d+× [^|]+\|  \|$/m);
    const { results, rounds } = JSON.parse(fs.readFileSync(json, 'utf8')) as { rounds: number; results: { peer: string; workload: string; size: string; value: number; note?: string }[] };
    // two rounds, one figure per peer, workload and size: the better round's
    expect(rounds).toBe(2);
    const keys = results.map((r) => `${r.peer}/${r.workload}/${r.size}`);
    expect(new Set(keys).size).toBe(keys.length);
    const peers = new Set(results.map((r) => r.peer));
    for (const peer of ['relulab', 'tfjs-wasm', 'tfjs-wasm 2 threads', 'tfjs-cpu', 'machine limit']) expect(peers).toContain(peer);
    for (const r of results.filter((x) => x.peer === 'relulab' || x.peer === 'machine limit')) expect(r.value).toBeGreaterThan(0);
    // the limit is a column, never the best peer; the last cell is relulab's share of it
    const row = (peer: string, size: string) => results.find((r) => r.peer === peer && r.workload === 'matmul' && r.size === size)!;
    expect(row('machine limit', '1024').note).toMatch(/^128-bit (FMA|multiply and add) on \d+ threads; [0-9.]+ on 1$/);
    for (const size of ['64', '256', '512', '1024']) {
      const line = table.split('\n').find((l) => l.startsWith(`| matmul | ${size} |`))!;
      expect(line).not.toMatch(/× machine limit/);
      const share = ((100 * row('relulab', size).value) / row('machine limit', size).value).toFixed(0);
      expect(line.endsWith(`| ${share} % |`)).toBe(true);
    }
  }, 450_000);
});
