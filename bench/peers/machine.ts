/**
 * The machine's side: the multiply-add throughput this machine gives WebAssembly SIMD code on all its cores
 * in this run, the "machine limit" of the matmul rows, which the table turns into relulab's share of it.
 * Measured in the same run as the peers because the host's speed moves (a shared KVM guest): a product's
 * GFLOP/s mean most as a share of what the cores gave at the time.
 *
 * Each thread runs 12 independent chains of 128-bit multiply-adds (bench/machine.as.ts, compiled here with
 * the project's AssemblyScript), fused where relaxed SIMD is available, as relulab's product uses them;
 * the one-thread figure goes in the note.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import v8 from 'node:v8';
import { Worker } from 'node:worker_threads';
import { emit, guarded, MATMUL_SIZES, measure, parseArgs, perSize, rate } from '../harness';

const options = parseArgs(process.argv.slice(2));
const peer = 'machine limit';
const threads = os.availableParallelism();

interface Chains {
  fmaChains(steps: number, seed: number): number;
}

/** machine.as.ts compiled with relaxed SIMD (fused multiply-adds) where this Node's V8 accepts it, without otherwise. */
function compile(): { module: WebAssembly.Module; fused: boolean } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'relulab-bench-machine-'));
  const build = (relaxed: boolean): Buffer => {
    const out = path.join(dir, relaxed ? 'fused.wasm' : 'plain.wasm');
    const asc = path.join(path.dirname(require.resolve('assemblyscript/package.json')), 'bin', 'asc.js');
    const flags = ['-O3', '--runtime', 'stub', '--noAssert', '--use', 'abort=', '--enable', 'simd', ...(relaxed ? ['--enable', 'relaxed-simd'] : [])];
    const run = spawnSync(process.execPath, [asc, path.join(__dirname, '..', 'machine.as.ts'), '-o', out, ...flags], { encoding: 'utf8' });
    if (run.status !== 0) throw new Error(`AssemblyScript failed on bench/machine.as.ts: ${run.stderr}`);
    return fs.readFileSync(out);
  };
  // optimised code from the start; Node 20's V8 has relaxed SIMD behind a flag, later versions without one
  v8.setFlagsFromString('--no-liftoff');
  v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
  try {
    return { module: new WebAssembly.Module(build(true)), fused: true };
  } catch {
    return { module: new WebAssembly.Module(build(false)), fused: false };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The chains on `size` threads at once: this one and size − 1 helpers, started together by a counter. */
class Team {
  private readonly helpers: Worker[] = [];
  /** [0]: generation, bumped to start a round; [1]: helpers done; [2]: steps */
  private readonly sync = new Int32Array(new SharedArrayBuffer(12));
  private readonly chains: Chains;

  constructor(module: WebAssembly.Module, readonly size: number) {
    this.chains = new WebAssembly.Instance(module, { env: { abort() {} } }).exports as unknown as Chains;
    for (let t = 1; t < size; t++) {
      const code = `const { workerData: { module, sync, seed } } = require('node:worker_threads');
        const chains = new WebAssembly.Instance(module, { env: { abort() {} } }).exports;
        for (let seen = 0; ; ) {
          Atomics.wait(sync, 0, seen);
          seen = Atomics.load(sync, 0);
          chains.fmaChains(sync[2], seed);
          Atomics.add(sync, 1, 1);
          Atomics.notify(sync, 1);
        }`;
      this.helpers.push(new Worker(code, { eval: true, workerData: { module, sync: this.sync, seed: t } }));
    }
  }

  /** `steps` steps on every thread; returns when all are done. */
  run(steps: number): void {
    Atomics.store(this.sync, 1, 0);
    this.sync[2] = steps;
    Atomics.add(this.sync, 0, 1);
    Atomics.notify(this.sync, 0);
    this.chains.fmaChains(steps, 0);
    for (let done; (done = Atomics.load(this.sync, 1)) < this.size - 1; ) Atomics.wait(this.sync, 1, done);
  }

  close(): void {
    for (const w of this.helpers) void w.terminate();
  }
}

guarded(peer, 'matmul', options, () => {
  const { module, fused } = compile();
  process.stderr.write(`# machine limit: WebAssembly SIMD, ${fused ? 'fused' : 'separate'} multiply-adds, ${threads} thread(s)\n`);
  // a step is 12 chains × 4 lanes × 2 flop on each thread
  const steps = 1 << 22;
  const gflops = (size: number) => {
    const team = new Team(module, size);
    try {
      return rate(96 * steps * size, measure(() => team.run(steps), perSize(options.quick)), 1e6);
    } finally {
      team.close();
    }
  };
  const single = gflops(1);
  const all = gflops(threads);
  for (const n of MATMUL_SIZES) {
    emit({ peer, workload: 'matmul', size: `${n}`, threads, ...all, unit: 'GFLOP/s', higherIsBetter: true, note: `128-bit ${fused ? 'FMA' : 'multiply and add'} on ${threads} threads; ${single.value.toFixed(1)} on 1` });
  }
});
