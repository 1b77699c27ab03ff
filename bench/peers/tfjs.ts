/**
 * TensorFlow.js's side: `--backend=cpu` (pure JavaScript) or `--backend=wasm` (WebAssembly SIMD; one thread,
 * as the wasm backend runs in stock Node, or `--threads=2` through the experimental shim below). Same
 * workloads, sizes and data as relulab.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { setThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { CONV, ELEMENTWISE, ELEMENTWISE_LABEL, emit, SIZE_LABEL, guarded, MATMUL_SIZES, measure, MEMORY_STEPS, MLP, MLP_FLOPS, OVERHEAD_SIZE, parseArgs, perSize, perStep, rate, RELU_SIZES, rssOver, uniform } from '../harness';

/**
 * Bench-only, experimental: the threaded build of tfjs-backend-wasm does not start in stock Node. Its
 * multithreading flag is hard-wired off under Node; Emscripten starts its pthread workers from blob: URLs,
 * which Node's worker_threads refuses; and it caps threads at half the logical CPUs (1 on 2 cores). This
 * writes the worker and main scripts to temporary files and reports 2·threads CPUs to the module, without
 * touching the computation, so that XNNPACK runs on `threads` threads.
 */
function installWasmThreadsShim(threads: number): void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'relulab-bench-tfjs-'));
  process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  const mainPath = path.join(dir, 'main.js');
  const workerPath = path.join(dir, 'worker.js');
  const distDir = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tf-backend-wasm.node.js'));
  const prelude =
    "var require$$0=require('fs'),require$$1=require('path'),require$$3=require('perf_hooks'),require$$4=require('os'),commonjsGlobal=globalThis;" +
    `var __dirname=${JSON.stringify(distDir)};var _scriptDir=${JSON.stringify(path.join(distDir, 'tf-backend-wasm.node.js'))};\n`;
  const text = new WeakMap<Blob, { text: string; type?: string }>();
  const OriginalBlob = globalThis.Blob;
  globalThis.Blob = class extends OriginalBlob {
    constructor(...[parts, options]: ConstructorParameters<typeof Blob>) {
      super(parts, options);
      const body = (parts ?? []).map(String).join('');
      text.set(this, { text: body, type: options?.type });
      if (options?.type === 'text/javascript') fs.writeFileSync(mainPath, prelude + body);
    }
  };
  const createObjectURL = URL.createObjectURL.bind(URL);
  URL.createObjectURL = (blob: Blob) => {
    const entry = text.get(blob);
    if (entry === undefined || entry.type !== 'application/javascript') return createObjectURL(blob);
    const worker = entry.text.replace('if(typeof e.data.urlOrBlob=="string"){importScripts(e.data.urlOrBlob)}', `if(true){importScripts(${JSON.stringify(mainPath)})}`);
    fs.writeFileSync(workerPath, worker);
    return workerPath;
  };
  const cpus = os.cpus;
  os.cpus = () => {
    const real = cpus();
    return Array.from({ length: 2 * threads }, (_, i) => real[i % real.length]);
  };
}

async function main(): Promise<void> {
  const options = parseArgs(process.argv.slice(2));
  const backend = process.argv.find((a) => a.startsWith('--backend='))?.slice('--backend='.length) ?? 'cpu';
  const threads = Number(process.argv.find((a) => a.startsWith('--threads='))?.slice('--threads='.length) ?? 1);
  if (threads > 1) {
    if (backend !== 'wasm') throw new Error('--threads is for the wasm backend');
    installWasmThreadsShim(threads);
    tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
    setThreadsCount(threads);
  }
  if (!(await tf.setBackend(backend))) throw new Error(`tfjs backend ${backend} did not start`);
  await tf.ready();
  const peer = threads > 1 ? `tfjs-${backend} ${threads} threads` : `tfjs-${backend}`;

  guarded(peer, 'matmul', options, () => {
    for (const n of MATMUL_SIZES) {
      const a = tf.tensor2d(uniform(n * n, 1), [n, n]);
      const b = tf.tensor2d(uniform(n * n, 2), [n, n]);
      const t = measure(() => tf.matMul(a, b).dispose(), perSize(options.quick));
      emit({ peer, workload: 'matmul', size: `${n}`, threads, ...rate(2 * n ** 3, t, 1e6), unit: 'GFLOP/s', higherIsBetter: true });
      a.dispose();
      b.dispose();
    }
  });

  guarded(peer, 'relu', options, () => {
    const g = tf.grad((x: tf.Tensor) => tf.relu(x));
    for (const n of RELU_SIZES) {
      const x = tf.tensor1d(uniform(n, 3));
      const dy = tf.tensor1d(uniform(n, 4));
      const t = measure(() => g(x, dy).dispose(), perSize(options.quick));
      emit({ peer, workload: 'relu', size: n.toExponential(0), threads, ...rate(20 * n, t, 1e6), unit: 'GB/s', higherIsBetter: true, note: 'tf.grad(relu)(x, dy)' });
      x.dispose();
      dy.dispose();
    }
  });

  const mlpStep = (): (() => number) => {
    const [i, h1, h2, o] = MLP.dims;
    const dims = [i, h1, h2, o];
    const vars: tf.Variable[] = [];
    for (let l = 0; l < 3; l++) {
      const limit = Math.sqrt(6 / (dims[l] + dims[l + 1]));
      vars.push(tf.variable(tf.tensor2d(uniform(dims[l] * dims[l + 1], 10 + l, limit), [dims[l], dims[l + 1]])));
      vars.push(tf.variable(tf.zeros([dims[l + 1]])));
    }
    const x = tf.tensor2d(uniform(MLP.batch * i, 20), [MLP.batch, i]);
    const y = tf.oneHot(tf.tensor1d(Array.from({ length: MLP.batch }, (_, k) => k % o), 'int32'), o).toFloat();
    const opt = tf.train.sgd(0.01);
    const loss = () => {
      let h = tf.relu(tf.add(tf.matMul(x, vars[0]), vars[1]));
      h = tf.relu(tf.add(tf.matMul(h, vars[2]), vars[3]));
      return tf.losses.softmaxCrossEntropy(y, tf.add(tf.matMul(h, vars[4]), vars[5])) as tf.Scalar;
    };
    return () => {
      const value = opt.minimize(loss, true) as tf.Scalar;
      const v = value.dataSync()[0];
      value.dispose();
      return v;
    };
  };

  guarded(peer, 'mlp', options, () => {
    const t = measure(mlpStep(), perStep(options.quick));
    emit({ peer, workload: 'mlp', size: SIZE_LABEL.mlp, threads, value: t.median, low: t.min, high: t.max, unit: 'ms', higherIsBetter: false, note: `${(MLP_FLOPS / (t.median * 1e6)).toFixed(1)} GFLOP/s` });
  });

  guarded(peer, 'elementwise', options, () => {
    const { mul: n, rows, cols } = ELEMENTWISE;
    const a = tf.tensor1d(uniform(n, 7));
    const b = tf.tensor1d(uniform(n, 8));
    const x = tf.tensor2d(uniform(rows * cols, 9), [rows, cols]);
    const bias = tf.tensor1d(uniform(cols, 10));
    const product = measure(() => tf.mul(a, b).dispose(), perSize(options.quick));
    emit({ peer, workload: 'elementwise', size: ELEMENTWISE_LABEL.mul, threads, ...rate(12 * n, product, 1e6), unit: 'GB/s', higherIsBetter: true, note: '12 B/element' });
    const biased = measure(() => tf.add(x, bias).dispose(), perSize(options.quick));
    emit({ peer, workload: 'elementwise', size: ELEMENTWISE_LABEL.bias, threads, ...rate(8 * rows * cols, biased, 1e6), unit: 'GB/s', higherIsBetter: true, note: '8 B/element' });
    [a, b, x, bias].forEach((t) => t.dispose());
  });

  guarded(peer, 'conv', options, () => {
    const { batch, size, cin, cout, k } = CONV;
    const x = tf.tensor4d(uniform(batch * size * size * cin, 30), [batch, size, size, cin]);
    const w = tf.variable(tf.tensor4d(uniform(k * k * cin * cout, 31, 1 / 3), [k, k, cin, cout]));
    const b = tf.variable(tf.zeros([cout]));
    const f = () => tf.sum(tf.relu(tf.add(tf.conv2d(x, w as tf.Tensor4D, 1, 'same'), b))) as tf.Scalar;
    const t = measure(() => {
      const { value, grads } = tf.variableGrads(f, [w, b]);
      for (const g of Object.values(grads)) {
        g.dataSync();
        g.dispose();
      }
      value.dispose();
    }, perStep(options.quick));
    emit({ peer, workload: 'conv', size: SIZE_LABEL.conv, threads, value: t.median, low: t.min, high: t.max, unit: 'ms', higherIsBetter: false, note: 'NHWC' });
  });

  guarded(peer, 'overhead', options, () => {
    const a = tf.tensor1d(uniform(OVERHEAD_SIZE, 5));
    const b = tf.tensor1d(uniform(OVERHEAD_SIZE, 6));
    const t = measure(() => tf.add(a, b).dispose(), perSize(options.quick));
    emit({ peer, workload: 'overhead', size: SIZE_LABEL.overhead, threads, value: t.median * 1000, low: t.min * 1000, high: t.max * 1000, unit: 'µs', higherIsBetter: false });
  });

  guarded(peer, 'memory', options, () => {
    const step = mlpStep();
    const steps = options.quick ? MEMORY_STEPS / 5 : MEMORY_STEPS;
    const rss = rssOver(steps, steps / 20, step);
    emit({ peer, workload: 'memory', size: `${steps} MLP steps`, threads, value: rss.peak, low: rss.first, high: rss.last, unit: 'MB', higherIsBetter: false, note: `peak RSS; first ${rss.first.toFixed(0)}, last ${rss.last.toFixed(0)} MB` });
  });
}

main().then(
  () => process.exit(0),
  (e) => {
    process.stderr.write(`tfjs peer failed: ${(e as Error).stack ?? e}\n`);
    process.exit(1);
  },
);
