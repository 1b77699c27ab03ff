/**
 * relulab's side of the benchmark: the same workloads as the peers, through the public API of the built
 * package (dist/, made by `npm run build`), as users load it: run from its sources, ts-node would compile the
 * whole engine in this process, time and memory that no peer pays.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Tensor } from '../../src';
import { CONV, ELEMENTWISE, ELEMENTWISE_LABEL, emit, SIZE_LABEL, guarded, MATMUL_SIZES, measure, MEMORY_STEPS, MLP, MLP_FLOPS, OVERHEAD_SIZE, parseArgs, perSize, perStep, rate, RELU_SIZES, rssOver, uniform } from '../harness';

const dist = path.join(__dirname, '..', '..', 'dist', 'src');
if (!fs.existsSync(path.join(dist, 'index.js'))) throw new Error(`relulab is not built (no ${path.relative(process.cwd(), dist)}): run npm run build first`);
const { add, conv2d, crossEntropy, manualSeed, matmul, mul, nn, optim, relu, sum, tensor, tidy }: typeof import('../../src') = require(dist);
const { wasmGemmKind }: typeof import('../../src/engine/wasm/gemm') = require(path.join(dist, 'engine', 'wasm', 'gemm'));

const options = parseArgs(process.argv.slice(2));
const peer = 'relulab';
const threads = Math.min(Number(process.env.RELULAB_THREADS) || os.availableParallelism(), os.availableParallelism());
process.stderr.write(`# relulab: WebAssembly matrix product ${wasmGemmKind() ? `(${wasmGemmKind()}) on ${threads} thread(s)` : 'unavailable'}\n`);

guarded(peer, 'matmul', options, () => {
  for (const n of MATMUL_SIZES) {
    // operands and product on the tensor heap, as TensorFlow.js's live in its backend
    const [a, b] = tidy(() => [tensor(uniform(n * n, 1)).reshape([n, n]), tensor(uniform(n * n, 2)).reshape([n, n])]);
    const t = measure(
      () =>
        tidy(() => {
          matmul(a, b);
        }),
      perSize(options.quick),
    );
    a.dispose();
    b.dispose();
    emit({ peer, workload: 'matmul', size: `${n}`, threads, ...rate(2 * n ** 3, t, 1e6), unit: 'GFLOP/s', higherIsBetter: true });
  }
});

guarded(peer, 'relu', options, () => {
  for (const n of RELU_SIZES) {
    // made inside tidy(), the tensors live on the tensor heap, as TensorFlow.js's live in its backend
    const [x, dy] = tidy(() => [tensor(uniform(n, 3), { requiresGrad: true }), tensor(uniform(n, 4))]);
    const t = measure(
      () =>
        tidy(() => {
          x.zeroGrad();
          relu(x).backward(dy);
        }),
      perSize(options.quick),
    );
    emit({ peer, workload: 'relu', size: n.toExponential(0), threads, ...rate(20 * n, t, 1e6), unit: 'GB/s', higherIsBetter: true, note: 'fwd+bwd in tidy(), 20 B/element' });
    x.zeroGrad();
    x.dispose();
    dy.dispose();
  }
});

guarded(peer, 'elementwise', options, () => {
  const { mul: n, rows, cols } = ELEMENTWISE;
  // inputs on the tensor heap, as the other workloads'
  const [a, b, x, bias] = tidy(() => [tensor(uniform(n, 7)), tensor(uniform(n, 8)), tensor(uniform(rows * cols, 9)).reshape([rows, cols]), tensor(uniform(cols, 10))]);
  const product = measure(() => tidy(() => void mul(a, b)), perSize(options.quick));
  emit({ peer, workload: 'elementwise', size: ELEMENTWISE_LABEL.mul, threads, ...rate(12 * n, product, 1e6), unit: 'GB/s', higherIsBetter: true, note: '12 B/element' });
  const biased = measure(() => tidy(() => void add(x, bias)), perSize(options.quick));
  emit({ peer, workload: 'elementwise', size: ELEMENTWISE_LABEL.bias, threads, ...rate(8 * rows * cols, biased, 1e6), unit: 'GB/s', higherIsBetter: true, note: '8 B/element' });
  [a, b, x, bias].forEach((t) => t.dispose());
});

function mlpStep(): () => number {
  manualSeed(0);
  const [i, h1, h2, o] = MLP.dims;
  const model = new nn.Sequential(new nn.Linear(i, h1), new nn.ReLU(), new nn.Linear(h1, h2), new nn.ReLU(), new nn.Linear(h2, o));
  const opt = new optim.SGD(model.parameters(), { lr: 0.01 });
  const x = tidy(() => tensor(uniform(MLP.batch * i, 20)).reshape([MLP.batch, i]));
  const labels = Array.from({ length: MLP.batch }, (_, k) => k % o);
  return () =>
    tidy(() => {
      opt.zeroGrad();
      const loss = crossEntropy(model.forward(x) as Tensor, labels);
      loss.backward();
      opt.step();
      return loss.item();
    });
}

guarded(peer, 'mlp', options, () => {
  const step = mlpStep();
  const t = measure(step, perStep(options.quick));
  emit({ peer, workload: 'mlp', size: SIZE_LABEL.mlp, threads, value: t.median, low: t.min, high: t.max, unit: 'ms', higherIsBetter: false, note: `${(MLP_FLOPS / (t.median * 1e6)).toFixed(1)} GFLOP/s` });
});

guarded(peer, 'conv', options, () => {
  const { batch, size, cin, cout, k } = CONV;
  const x = tidy(() => tensor(uniform(batch * cin * size * size, 30)).reshape([batch, cin, size, size]));
  const w = tensor(uniform(cout * cin * k * k, 31, 1 / 3)).reshape([cout, cin, k, k]).detach();
  w.requiresGrad = true;
  const b = tensor(new Float32Array(cout), { requiresGrad: true });
  const t = measure(
    () =>
      tidy(() => {
        w.zeroGrad();
        b.zeroGrad();
        sum(relu(conv2d(x, w, b, { padding: 'same' }))).backward();
      }),
    perStep(options.quick),
  );
  emit({ peer, workload: 'conv', size: SIZE_LABEL.conv, threads, value: t.median, low: t.min, high: t.max, unit: 'ms', higherIsBetter: false });
});

guarded(peer, 'overhead', options, () => {
  const a = tensor(uniform(OVERHEAD_SIZE, 5));
  const b = tensor(uniform(OVERHEAD_SIZE, 6));
  const t = measure(() => add(a, b), perSize(options.quick));
  emit({ peer, workload: 'overhead', size: SIZE_LABEL.overhead, threads: 1, value: t.median * 1000, low: t.min * 1000, high: t.max * 1000, unit: 'µs', higherIsBetter: false });
});

guarded(peer, 'memory', options, () => {
  const step = mlpStep();
  const steps = options.quick ? MEMORY_STEPS / 5 : MEMORY_STEPS;
  const rss = rssOver(steps, steps / 20, step);
  emit({ peer, workload: 'memory', size: `${steps} MLP steps`, threads, value: rss.peak, low: rss.first, high: rss.last, unit: 'MB', higherIsBetter: false, note: `peak RSS; first ${rss.first.toFixed(0)}, last ${rss.last.toFixed(0)} MB` });
});
