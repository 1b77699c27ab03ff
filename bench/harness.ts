/**
 * What every peer script shares: the workloads' sizes, seeded input data, timing with medians, and one JSON
 * line per measurement on stdout. Each peer runs in its own process, started by bench/run.ts.
 */
export interface Options {
  quick: boolean;
  only: Set<Workload>;
}

export type Workload = 'matmul' | 'relu' | 'elementwise' | 'mlp' | 'conv' | 'overhead' | 'memory' | 'notebooks';
export const WORKLOADS: readonly Workload[] = ['matmul', 'relu', 'elementwise', 'mlp', 'conv', 'overhead', 'memory'];

export const MATMUL_SIZES = [64, 256, 512, 1024] as const;
export const RELU_SIZES = [1e6, 1e7] as const;
/** Binary ops with a new output: a product of two vectors, and a bias row added to every row of a matrix. */
export const ELEMENTWISE = { mul: 1e6, rows: 1000, cols: 1000 } as const;
/** Their size labels, and bytes moved per output element (two reads and a write; a read and a write). */
export const ELEMENTWISE_LABEL = { mul: 'mul of 1e+6', bias: 'bias add 1000×1000' } as const;
/** MLP 784-256-128-10 with ReLU, softmax cross-entropy, batch 128, SGD lr 0.01. */
export const MLP = { batch: 128, dims: [784, 256, 128, 10] } as const;
/** conv2d 3×3, 1→16 channels, 28×28, batch 32, padding same, bias, ReLU, loss = sum; gradients for W and b. */
export const CONV = { batch: 32, size: 28, cin: 1, cout: 16, k: 3 } as const;
/** Elements of the small add that measures per-op overhead. */
export const OVERHEAD_SIZE = 1000;
export const MEMORY_STEPS = 1000;

/** Flops of one MLP step: the forward products, and both products of every layer's backward but the first's dX. */
export const MLP_FLOPS = (() => {
  const [i, h1, h2, o] = MLP.dims;
  return 2 * MLP.batch * (i * h1 + h1 * h2 + h2 * o) * 2 + 2 * MLP.batch * (h1 * h2 + h2 * o);
})();

export function parseArgs(argv: readonly string[]): Options {
  const quick = argv.includes('--quick');
  const only = argv.find((a) => a.startsWith('--only='));
  return { quick, only: new Set(only ? (only.slice('--only='.length).split(',') as Workload[]) : WORKLOADS) };
}

/** Uniform values in [-scale, scale) from a linear congruential generator, the same for every peer. */
export function uniform(n: number, seed: number, scale = 1): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 4294967296 * 2 - 1) * scale;
  }
  return out;
}

export interface Timing {
  /** milliseconds per call */
  median: number;
  min: number;
  max: number;
  samples: number;
  /** calls per sample */
  inner: number;
}

const now = () => performance.now();

/**
 * Per-call milliseconds: warm up, then take samples that each repeat `fn` enough times to last ≥ 20 ms
 * (or exactly `inner` times), until `samples` samples or about `budgetMs`.
 */
export function measure(fn: () => void, { samples = 15, budgetMs = 4000, inner = 0, warmupMs = 300 } = {}): Timing {
  const t0 = now();
  let last = 0;
  let calls = 0;
  while (calls < 2 || now() - t0 < warmupMs) {
    const a = now();
    fn();
    last = now() - a;
    calls++;
    if (calls >= 2 && last > warmupMs) break;
  }
  const k = inner || Math.max(1, Math.ceil(20 / Math.max(last, 1e-3)));
  const n = Math.max(5, Math.min(samples, Math.floor(budgetMs / (k * Math.max(last, 1e-3)))));
  const xs: number[] = [];
  for (let s = 0; s < n; s++) {
    const a = now();
    for (let i = 0; i < k; i++) fn();
    xs.push((now() - a) / k);
  }
  xs.sort((x, y) => x - y);
  const mid = xs.length >> 1;
  return { median: xs.length % 2 ? xs[mid] : (xs[mid - 1] + xs[mid]) / 2, min: xs[0], max: xs[xs.length - 1], samples: xs.length, inner: k };
}

/** Options for a workload timed one step per sample (training steps). */
export const perStep = (quick: boolean) => ({ samples: quick ? 15 : 50, inner: 1, budgetMs: 1e9, warmupMs: 500 });
export const perSize = (quick: boolean) => ({ samples: quick ? 5 : 15, budgetMs: quick ? 1500 : 4000 });

export interface Measurement {
  peer: string;
  workload: Workload;
  size: string;
  threads?: number;
  /** the figure the table shows, in `unit` */
  value: number;
  low: number;
  high: number;
  unit: 'GFLOP/s' | 'GB/s' | 'ms' | 'µs' | 'MB' | 's';
  /** whether larger values are better */
  higherIsBetter: boolean;
  note?: string;
  error?: string;
}

export function emit(record: Measurement): void {
  process.stdout.write(`${JSON.stringify(record)}\n`);
}

/** The size label of the single-size workloads, shared so that a failure lands in the right row. */
export const SIZE_LABEL = {
  mlp: 'batch 128, 784-256-128-10',
  conv: 'batch 32, 1→16, 3×3, 28×28',
  overhead: `add of ${OVERHEAD_SIZE}`,
} as const;

/** A workload that a peer cannot run is recorded with its error, and the others go on. */
export function guarded(peer: string, workload: Workload, options: Options, fn: () => void): void {
  if (!options.only.has(workload)) return;
  try {
    fn();
  } catch (e) {
    const error = String((e as Error)?.message ?? e).split('\n')[0];
    process.stderr.write(`# ${peer} ${workload} failed: ${error}\n`);
    const size = workload in SIZE_LABEL ? SIZE_LABEL[workload as keyof typeof SIZE_LABEL] : '';
    emit({ peer, workload, size, value: NaN, low: NaN, high: NaN, unit: 'ms', higherIsBetter: false, error });
  }
}

/** GFLOP/s from per-call ms, with the range inverted (the slowest sample is the lowest rate). */
export function rate(amount: number, t: Timing, per: number): { value: number; low: number; high: number } {
  return { value: amount / (t.median * per), low: amount / (t.max * per), high: amount / (t.min * per) };
}

/** Resident set size in MB, sampled every `every` steps of `step` over `steps` steps. */
export function rssOver(steps: number, every: number, step: () => void): { first: number; peak: number; last: number } {
  const mb = () => process.memoryUsage().rss / 2 ** 20;
  let peak = 0;
  let first = 0;
  let last = 0;
  for (let i = 1; i <= steps; i++) {
    step();
    if (i % every === 0) {
      last = mb();
      if (first === 0) first = last;
      peak = Math.max(peak, last);
    }
  }
  return { first, peak, last };
}
