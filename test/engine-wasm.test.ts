/**
 * The WebAssembly SIMD kernels: float32 products of every layout agree with float64 ones, and the result
 * does not depend on the number of threads; convolutions, SGD and the binary ops give the JavaScript loops' bits.
 */
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import * as r from '../src';
import { cast, contiguous, manualSeed, matmul, randn, tidy, transpose, type Tensor } from '../src';
import { directConvAvailable } from '../src/engine/wasm/conv';
import { BinaryLayout, binaryOp, elementwiseHelpersReady, RELU_MASK_MIN_ELEMENTS, takes } from '../src/engine/wasm/elementwise';
import { heapAddress } from '../src/engine/wasm/heap';
import { wasmGemmAvailable } from '../src/engine/wasm/gemm';

/**
 * Runs `step` (the source of a function of `r`, the package, returning tensors) in fresh processes on one
 * thread and on two, once outside tidy() and once inside, after the helper threads have started (so that
 * the work is really shared), and expects the same bits from both.
 */
function expectSameOnOneAndTwoThreads(step: string): void {
  const root = path.join(__dirname, '..');
  const script = `const r = require(${JSON.stringify(path.join(root, 'dist', 'src'))});
    const { elementwiseHelpersReady } = require(${JSON.stringify(path.join(root, 'dist', 'src', 'engine', 'wasm', 'elementwise.js'))});
    const step = ${step};
    const values = () => step().map((t) => Float32Array.from(t.dataSync()));
    const wait = (tries) => (elementwiseHelpersReady() >= Number(process.env.RELULAB_THREADS) - 1 || tries === 0 ? Promise.resolve() : new Promise((ok) => setTimeout(ok, 50)).then(() => wait(tries - 1)));
    wait(100).then(() => {
      const hash = require('node:crypto').createHash('sha256');
      for (const v of [...values(), ...r.tidy(values)]) hash.update(Buffer.from(v.buffer));
      console.log(elementwiseHelpersReady() + ' ' + hash.digest('hex'));
    });`;
  const run = (threads: string) => execFileSync(process.execPath, ['-e', script], { env: { ...process.env, RELULAB_THREADS: threads }, encoding: 'utf8' }).trim().split(' ');
  const [none, one] = run('1');
  expect(none).toBe('0');
  expect(one).toMatch(/^[0-9a-f]{64}$/);
  const [helpers, two] = run('2');
  expect(helpers).toBe('1');
  expect(two).toBe(one);
}

/** Largest |x − y| relative to the scale of the product (sum over k of |a||b|). */
function relativeError(a: Tensor, b: Tensor, product: Tensor): number {
  const exact = matmul(cast(a, 'float64'), cast(b, 'float64')).dataSync();
  const scale = matmul(cast(a, 'float64').abs(), cast(b, 'float64').abs()).dataSync();
  const got = product.dataSync();
  expect(got.length).toBe(exact.length);
  let worst = 0;
  for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i] - exact[i]) / scale[i]);
  return worst;
}

describe('WebAssembly matrix product', () => {
  it('is built and in use', () => {
    expect(wasmGemmAvailable()).toBe(true);
  });

  // edges of every tile size (3 rows; 12 columns, with edge tiles of one, two and three vectors; 256 deep;
  // 66-row and 516-column blocks), and a skinny product whose operands are both too large to pack per
  // claim (by columns, A read in place)
  const shapes: [number, number, number][] = [[17, 33, 9], [64, 64, 64], [130, 257, 70], [5, 300, 600], [1, 4096, 3], [67, 513, 521], [134, 260, 530], [600, 20, 9], [40, 7000, 163]];
  for (const [m, k, n] of shapes) {
    it(`${m}×${k} by ${k}×${n}, plain and with transposed operands`, () => {
      manualSeed(m * 1000 + n);
      const a = randn([m, k]);
      const b = randn([k, n]);
      expect(relativeError(a, b, matmul(a, b))).toBeLessThan(1e-6);
      const at = transpose(contiguous(transpose(a)));
      const bt = transpose(contiguous(transpose(b)));
      if (m > 1 && k > 1) expect(at.isContiguous()).toBe(false);
      expect(relativeError(at, bt, matmul(at, bt))).toBeLessThan(1e-6);
      expect(matmul(at, bt).toArray()).toEqual(matmul(a, b).toArray());
    });
  }

  it('batched products broadcast a shared matrix without copying it per batch', () => {
    manualSeed(3);
    const w = randn([16, 27]);
    const cols = randn([5, 27, 100]);
    const out = matmul(w, cols);
    expect(out.shape).toEqual([5, 16, 100]);
    expect(relativeError(w, cols, out)).toBeLessThan(1e-6);
  });

  it('slices that are not dense blocks are copied first', () => {
    manualSeed(4);
    const big = randn([40, 90]);
    const a = big.slice(null, [10, 70]);
    expect(a.shape).toEqual([40, 60]);
    const b = randn([60, 50]);
    expect(relativeError(a, b, matmul(a, b))).toBeLessThan(1e-6);
  });

  it('uses fused multiply-adds only where the CPU fuses them, and RELULAB_FMA=0 declines them', () => {
    const root = path.join(__dirname, '..');
    const script = `const g = require(${JSON.stringify(path.join(root, 'dist', 'src', 'engine', 'wasm', 'gemm.js'))}); console.log(g.wasmGemmKind());`;
    const kind = (env: Record<string, string>) => execFileSync(process.execPath, ['-e', script], { env: { ...process.env, ...env }, encoding: 'utf8' }).trim();
    expect(['fused multiply-add', 'multiply and add']).toContain(kind({}));
    expect(kind({ RELULAB_FMA: '0' })).toBe('multiply and add');
    expect(kind({ RELULAB_WASM: '0' })).toBe('undefined');
  });

  it('gives bit-identical results on one thread and on two, operands on the heap or not', () => {
    expectSameOnOneAndTwoThreads(`() => {
      r.manualSeed(7);
      // by rows of C (more rows than columns), B packed whole by each thread: transposed, and row-major in
      // two blocks of columns, three passes over k and a last panel of 1 column; by columns, A read in place
      // row- and column-major, with a last panel of 3 rows and a last tile of 4 columns (claims shrink
      // toward the end); by columns with both operands too large to pack per claim, 28 passes over k
      const a = r.randn([131, 500]);
      const b = r.randn([500, 700]);
      return [
        r.matmul(r.randn([300, 500]), r.randn([500, 200]).transpose(0, 1).contiguous().transpose(0, 1)),
        r.matmul(r.randn([1030, 520]), r.randn([520, 601])),
        r.matmul(a, b),
        r.matmul(a.transpose(0, 1).contiguous().transpose(0, 1), b),
        r.matmul(r.randn([40, 7000]), r.randn([7000, 163])),
      ];
    }`);
  });
});

describe('conv2d in float32 (direct kernels at stride 1 with few output channels, im2col products otherwise)', () => {
  it('has its direct kernels built and in use', () => {
    expect(directConvAvailable()).toBe(true);
  });

  const configs: [string, number[], number[], r.Conv2dOptions, boolean][] = [
    ['3×3 same with bias', [4, 3, 9, 11], [5, 3, 3, 3], { padding: 'same' }, true],
    // a 3×3 window whose rows lie two apart and whose columns are adjacent (the weight gradient's window path)
    ['3×3 same, dilation [2, 1]', [2, 2, 11, 9], [3, 2, 3, 3], { padding: 'same', dilation: [2, 1] }, true],
    // rows of 37 outputs: two groups of 16 columns, one of 4, and a scalar tail of 1
    ['wide rows, 1 → 4 channels', [2, 1, 6, 37], [4, 1, 3, 3], { padding: 'same' }, true],
    ["even kernel 'same' (padding heavier at the bottom right), dilation 2", [2, 3, 11, 18], [2, 3, 2, 4], { padding: 'same', dilation: 2 }, false],
    ['1×1 kernel, 8 channels, no padding', [3, 8, 5, 16], [6, 8, 1, 1], {}, true],
    ['stride 2, padding 1, no bias', [2, 2, 10, 7], [3, 2, 3, 3], { stride: 2, padding: 1 }, false],
    ['dilation 2, stride [1, 3], 2×4 kernel', [3, 1, 12, 13], [4, 1, 2, 4], { dilation: 2, stride: [1, 3] }, true],
    ['kernel wider than the padded input rows reach', [1, 2, 5, 5], [2, 2, 5, 1], { padding: [0, 2] }, true],
    // 3·10⁶ multiply-adds a pass: shared with the helper thread, by samples and by output channels
    ['large enough to split between threads, 27 taps (three groups of nine)', [9, 3, 30, 29], [7, 3, 3, 3], { padding: 'same' }, true],
    // as products at stride 1 (many output channels): columns with a ones row, rows of 7 and 9 outputs
    ["products at stride 1: 33 output channels, 'same' and dilation 2", [2, 8, 9, 7], [33, 8, 3, 3], { padding: 'same', dilation: 2 }, true],
    ['products at stride 1: 64 output channels, 2×5 kernel, uneven padding, no bias', [3, 5, 6, 13], [64, 5, 2, 5], { padding: [1, 2] }, false],
    ['products at stride [2, 1]: 40 output channels, padding 2', [2, 6, 11, 10], [40, 6, 3, 3], { stride: [2, 1], padding: 2 }, true],
    // unpadded: the input read in place and the input gradient added back straight into its array
    ['products, no padding: 40 output channels', [3, 5, 9, 10], [40, 5, 3, 3], {}, true],
    ['products at stride 2, no padding, no bias', [2, 4, 11, 12], [24, 4, 3, 3], { stride: 2 }, false],
    // an output gradient too large to be read in place by claims of columns: dW computed transposed
    ['products, the weight gradient as its transpose: 40 output channels over 7,200 positions', [18, 8, 20, 20], [40, 8, 3, 3], { padding: 'same' }, true],
  ];
  for (const [label, xs, ws, options, withBias] of configs) {
    it(`${label}: values and every gradient agree with float64`, () => {
      manualSeed(xs.reduce((a, b) => a * 7 + b, 1));
      const x = randn(xs);
      const w = randn(ws);
      const b = randn([ws[0]]);
      const run = (dtype: 'float32' | 'float64') => {
        const [xi, wi, bi] = [x, w, b].map((t) => cast(t, dtype).detach());
        for (const t of [xi, wi, bi]) t.requiresGrad = true;
        const y = r.conv2d(xi, wi, withBias ? bi : undefined, options);
        const upstream = cast(r.sin(r.arange(y.size).reshape(y.shape)), dtype);
        y.backward(upstream);
        return { y: y.dataSync(), dx: xi.grad!.dataSync(), dw: wi.grad!.dataSync(), db: withBias ? bi.grad!.dataSync() : new Float64Array(0) };
      };
      const single = run('float32');
      const double = run('float64');
      for (const key of ['y', 'dx', 'dw', 'db'] as const) {
        expect(single[key].length, key).toBe(double[key].length);
        let scale = 1;
        for (const v of double[key]) scale = Math.max(scale, Math.abs(v));
        // the worst element (NaN counts as worst), checked once: some arrays have 10⁵ elements
        let [worst, at] = [0, -1];
        for (let i = 0; i < double[key].length; i++) {
          const error = Math.abs(single[key][i] - double[key][i]) / scale;
          if (!(error <= worst)) [worst, at] = [error, i];
        }
        expect(worst, `${key}[${at}]`).toBeLessThan(1e-5);
      }
    });
  }

  it('gives bit-identical values and gradients on one thread and on two, inside tidy() and outside', () => {
    expectSameOnOneAndTwoThreads(`() => {
      r.manualSeed(3);
      const x = r.randn([16, 2, 28, 27]).requiresGrad_();
      const w = r.randn([12, 2, 3, 3]).requiresGrad_();
      const b = r.randn([12]).requiresGrad_();
      const y = r.relu(r.conv2d(x, w, b, { padding: 'same' }));
      y.sum().backward();
      // as products: 32 output channels, large enough for the product to be shared
      const x2 = r.randn([8, 16, 14, 13]).requiresGrad_();
      const w2 = r.randn([32, 16, 3, 3]).requiresGrad_();
      const b2 = r.randn([32]).requiresGrad_();
      const y2 = r.relu(r.conv2d(x2, w2, b2, { padding: 'same' }));
      y2.sum().backward();
      // and with the weight gradient computed as its transpose
      const x3 = r.randn([18, 8, 20, 20]).requiresGrad_();
      const w3 = r.randn([40, 8, 3, 3]).requiresGrad_();
      const b3 = r.randn([40]).requiresGrad_();
      r.conv2d(x3, w3, b3, { padding: 'same' }).square().sum().backward();
      return [y, x.grad, w.grad, b.grad, y2, x2.grad, w2.grad, b2.grad, x3.grad, w3.grad, b3.grad];
    }`);
  });

  it('gradients of gradients go through the composed form', () => {
    manualSeed(11);
    const x = randn([2, 2, 6, 6]);
    const w = randn([3, 2, 3, 3]);
    const second = (dtype: 'float32' | 'float64') => {
      const xi = cast(x, dtype).detach();
      const wi = cast(w, dtype).detach();
      xi.requiresGrad = true;
      wi.requiresGrad = true;
      const gx = r.grad((a: r.Tensor) => r.conv2d(a, wi, undefined, { padding: 1 }).square().sum())(xi);
      gx.square().sum().backward();
      return wi.grad!.dataSync();
    };
    const single = second('float32');
    const double = second('float64');
    const scale = Math.max(...Array.from(double, Math.abs));
    expect(scale).toBeGreaterThan(0);
    for (let i = 0; i < double.length; i++) expect(Math.abs(single[i] - double[i]) / scale).toBeLessThan(1e-4);
  });
});

describe('maxPool2d in float32 on the WebAssembly kernel', () => {
  // quarter steps give ties; ±Infinity, NaN and ±0 are sprinkled in; upstream gradients are small integers,
  // so that the float32 sums of overlapping windows are exact and must equal the float64 loop's
  const special = [NaN, Infinity, -Infinity, 0, -0, 1, 1, NaN, -2];
  const configs: [string, number[], r.Pair, r.Pool2dOptions][] = [
    ['2×2, stride 2, odd width: the last output from an overlapping group of four', [3, 5, 20, 27], 2, {}],
    ['2×2, stride 2, odd height, whole groups of four: the last row left out', [2, 3, 9, 16], 2, {}],
    ['3×3, stride 1, padding 1: overlapping windows, clipped at every edge', [2, 4, 9, 30], 3, { stride: 1, padding: 1 }],
    ['2×3, stride [2, 3], padding 1: lanes gathered one by one', [2, 3, 11, 40], [2, 3], { stride: [2, 3], padding: 1 }],
    ['rows of fewer than four outputs', [4, 2, 7, 5], 2, {}],
    ['large enough to be shared between threads', [16, 16, 32, 33], 2, {}],
  ];
  for (const [label, xs, kernel, options] of configs) {
    it(`${label}: the float64 loop's maxima and gradients, inside tidy() and outside`, () => {
      manualSeed(xs.reduce((a, b) => a * 5 + b, 2));
      const data = Float32Array.from(randn(xs).dataSync(), (v, i) => (i % 23 === 0 ? special[(i / 23) % special.length] : Math.round(v * 4) / 4));
      const run = (dtype: 'float32' | 'float64') => {
        const x = r.tensor(data, { dtype }).reshape(xs).detach();
        x.requiresGrad = true;
        const y = r.maxPool2d(x, kernel, options);
        y.backward(r.tensor(Array.from({ length: y.size }, (_, i) => (i % 11 === 5 ? -0 : (i % 7) - 3)), { dtype }).reshape(y.shape));
        return [Array.from(y.dataSync()), Array.from(x.grad!.dataSync())];
      };
      const want = run('float64');
      expect(want[0].some(Number.isNaN)).toBe(true);
      for (const got of [run('float32'), tidy(() => run('float32'))]) {
        for (const k of [0, 1]) {
          expect(got[k].length).toBe(want[k].length);
          const differs = got[k].findIndex((v, i) => !Object.is(v, want[k][i]));
          expect(differs, `${k === 0 ? 'y' : 'dx'}[${differs}]: ${got[k][differs]} vs ${want[k][differs]}`).toBe(-1);
        }
      }
    });
  }

  it('gives the same bits on one thread and on two', () => {
    expectSameOnOneAndTwoThreads(`() => {
      r.manualSeed(5);
      const x = r.randn([16, 16, 30, 31]).requiresGrad_();
      const y = r.maxPool2d(x, 3, { stride: 2, padding: 1 });
      y.mul(r.randn(y.shape)).sum().backward();
      // and 2×2 windows at stride 2, which have kernels of their own
      const x2 = r.randn([16, 16, 30, 31]).requiresGrad_();
      const y2 = r.maxPool2d(x2, 2);
      y2.mul(r.randn(y2.shape)).sum().backward();
      return [y, x.grad, y2, x2.grad];
    }`);
  });
});

describe('relu over arrays past the cache: a backward from a one-bit mask', () => {
  // a length that ends in a part group of 128 (19 whole vectors and 2 elements) inside a part chunk
  const n = RELU_MASK_MIN_ELEMENTS + 16384 + 78;
  const nonzero = [-Infinity, -3, -1e-40, 1e-40, 2.5, Infinity, NaN, -7, 0.25];
  const upstream = [1, -1, 2.5, 0.1, -0, Infinity, NaN];
  const fill = (values: readonly number[], at: (i: number) => number = (i) => i): Float32Array => Float32Array.from({ length: n }, (_, i) => values[at(i) % values.length]);

  it('keeps the mask (n/8 bytes) where x has no zeros, and none where it has', () => {
    const grow = (values: Float32Array, requiresGrad: boolean): number =>
      tidy(() => {
        const x = r.tensor(values, { requiresGrad });
        const before = r.heapStats().inUse;
        r.relu(x);
        return r.heapStats().inUse - before - 4 * n;
      });
    const mask = Math.ceil(n / 128) * 16;
    expect(grow(fill(nonzero), true)).toBeGreaterThanOrEqual(mask);
    expect(grow(fill(nonzero), true)).toBeLessThan(mask + 64);
    expect(grow(fill(nonzero), false)).toBeLessThan(64);
    expect(grow(fill([...nonzero, 0]), true)).toBeLessThan(64);
  });

  for (const zeros of [false, true]) {
    for (const gradAtZero of [0, 0.5]) {
      for (const via of ['a gradient array', 'the gradient of a sum']) {
        it(`${zeros ? 'x with ±0' : 'x without zeros'}, gradAtZero ${gradAtZero}, ${via}: values, gradients and kink hits as the scalar definition`, () => {
          const xs = fill(zeros ? [...nonzero, 0, -0] : nonzero, (i) => i * 7);
          const scale = via === 'the gradient of a sum' ? 3 : 0;
          const gs = fill(upstream, (i) => i * 3);
          const [ys, grads, hits] = tidy(() => {
            r.diag.kinkHits.reset();
            const x = r.tensor(xs, { requiresGrad: true });
            const y = r.relu(x, { gradAtZero });
            if (scale !== 0) y.sum().mul(scale).backward();
            else y.backward(r.tensor(gs));
            return [Float32Array.from(y.dataSync()), Float32Array.from(x.grad!.dataSync()), r.diag.kinkHits().relu ?? 0];
          });
          let wrong = -1;
          let kinks = 0;
          for (let i = 0; i < n && wrong < 0; i++) {
            const { y, dy } = r.relu.scalar(xs[i], { gradAtZero });
            if (xs[i] === 0) kinks++;
            const g = scale !== 0 ? scale : gs[i];
            if (!Object.is(ys[i], Math.fround(y)) || !Object.is(grads[i], Math.fround(g * dy))) wrong = i;
          }
          expect(wrong, wrong < 0 ? '' : `element ${wrong}: relu(${xs[wrong]}) = ${ys[wrong]}, gradient ${grads[wrong]}`).toBe(-1);
          expect(hits).toBe(kinks);
          expect(kinks > 0).toBe(zeros);
        });
      }
    }
  }

  it('gives bit-identical values and gradients on one thread and on two', () => {
    expectSameOnOneAndTwoThreads(`() => {
      r.manualSeed(5);
      const x = r.randn([${n}]).requiresGrad_();
      const y = r.relu(x);
      y.backward(r.randn([${n}]));
      return [y, x.grad];
    }`);
  });
});

describe('plain SGD update in WebAssembly', () => {
  // 2051: fewer than the kernels copy in for, taken in place when the step runs inside tidy()
  for (const [size, scoped] of [[100, false], [10_001, false], [2051, true]] as const) {
    it(`equals p − lr·g in double precision rounded to float32, ${size} parameters${scoped ? ', in place inside tidy()' : ''}`, () => {
      manualSeed(size);
      const p = scoped ? tidy(() => randn([size])) : randn([size]);
      p.requiresGrad = true;
      const before = Float32Array.from(p.dataSync());
      const lr = 0.013;
      const opt = new r.optim.SGD([p], { lr });
      const g = Float32Array.from(
        (scoped ? tidy : (f: () => Float32Array) => f())(() => {
          p.mul(randn([size])).sum().backward();
          expect(takes(size, [p.dataSync() as Float32Array, p.grad!.dataSync() as Float32Array])).toBe(size > 4096 || scoped);
          const copy = Float32Array.from(p.grad!.dataSync());
          opt.step();
          return copy;
        }),
      );
      const after = p.dataSync();
      for (let i = 0; i < size; i++) expect(Object.is(after[i], Math.fround(before[i] - lr * g[i])), `parameter ${i}`).toBe(true);
    });
  }
});

describe('add, sub, mul and div of float32 tensors in WebAssembly', () => {
  // values at the edges of float32 (signed zeros, infinities, NaN, subnormals, the largest finite) among
  // ordinary ones, so that every IEEE case of the four operations comes up
  const special = [0, -0, 1, -1, NaN, Infinity, -Infinity, 1e-45, -3e-39, 3.4e38, -3.4e38, 1 / 3];
  const values = (shape: number[], seed: number): Tensor => {
    manualSeed(seed);
    const t = randn(shape);
    const data = t.dataSync() as Float32Array;
    for (let i = seed % 5; i < data.length; i += 5) data[i] = special[(i + seed) % special.length];
    return t;
  };
  const ops = { add: r.add, sub: r.sub, mul: r.mul, div: r.div };
  /** float64 of the same inputs, rounded once to float32: exact for these four operations. */
  const expected = (op: keyof typeof ops, a: Tensor, b: Tensor): Float32Array => Float32Array.from(ops[op](cast(a, 'float64'), cast(b, 'float64')).dataSync());

  // every layout the kernels take, with rows and widths that leave a tail of 1–3 floats; the last two are
  // large enough to be shared with the helper thread
  const layouts: [string, number[], number[]][] = [
    ['same shape', [67, 129], [67, 129]],
    ['a scalar on the right', [5001], []],
    ['a scalar on the left', [1], [70, 75]],
    ['a row on the right (a bias)', [70, 97], [97]],
    ['a row on the left', [1, 97], [70, 97]],
    ['one value per row on the right', [3, 70, 99], [3, 70, 1]],
    ['one value per row on the left', [70, 1], [70, 99]],
    ['same shape, shared between threads', [300, 301], [300, 301]],
    ['a scalar, shared between threads', [90_001], [1]],
    // fewer elements than the kernels copy in for: on the heap only, off it the JavaScript loop
    ['same shape, in place only', [31, 67], [31, 67]],
    ['a row on the right, in place only', [33, 63], [63]],
    ['a scalar on the left, in place only', [], [1027]],
  ];

  beforeAll(async () => {
    for (let wait = 0; wait < 100 && elementwiseHelpersReady() < os.availableParallelism() - 1; wait++) await new Promise((ok) => setTimeout(ok, 50));
  });

  for (const [label, aShape, bShape] of layouts) {
    it(`${label}: the bits of the JavaScript loop, on the tensor heap and off it`, () => {
      const a = values(aShape, aShape.length + 1);
      const b = values(bShape, bShape.length + 7);
      for (const op of Object.keys(ops) as (keyof typeof ops)[]) {
        const want = expected(op, a, b);
        const check = (got: Tensor, where: string): void => {
          const data = got.dataSync();
          expect(data.length).toBe(want.length);
          for (let i = 0; i < want.length; i++) if (!Object.is(data[i], want[i])) expect.fail(`${op} ${where}, element ${i}: ${data[i]} instead of ${want[i]}`);
        };
        check(ops[op](a, b), 'off the heap');
        r.tidy(() => {
          const [ha, hb] = [a, b].map((t) => r.tensor(Float32Array.from(t.dataSync()), { shape: t.shape }));
          expect(heapAddress((ha.size >= hb.size ? ha : hb).storage.data as Float32Array)).toBeGreaterThanOrEqual(0);
          check(ops[op](ha, hb), 'on the heap');
        });
      }
    });
  }

  it('the kernels take these layouts themselves (they do not decline to the JavaScript loop)', () => {
    const a = new Float32Array(8000).fill(1.5);
    const b = new Float32Array(80).fill(0.25);
    const out = new Float32Array(8000);
    expect(binaryOp(1, BinaryLayout.RowRight, a, b, out, 100, 80)).toBe(true);
    expect(out.every((v) => v === 1.25)).toBe(true);
    expect(binaryOp(3, BinaryLayout.ScalarLeft, b, a, out, 1, 8000, 3)).toBe(true);
    expect(out.every((v) => v === 2)).toBe(true);
    // a scalar that float32 cannot hold exactly is left to the JavaScript loop
    expect(binaryOp(0, BinaryLayout.ScalarRight, a, b, out, 1, 8000, 0.1)).toBe(false);
  });
});

/**
 * Three steps of the optimiser `make` gives over `size` parameters (made inside tidy() and stepped inside
 * it when `scoped`, where the kernels take fewer elements), with zeros and a huge value among the
 * gradients. Returns the parameters before and after, the gradients, and the optimiser's state arrays,
 * which must be on the tensor heap.
 */
function threeSteps(size: number, scoped: boolean, seed: number, make: (params: Tensor[]) => r.optim.Optimizer): { start: Float32Array; grads: Float32Array[]; got: ArrayLike<number>; state: Float64Array[] } {
  manualSeed(seed);
  const p = scoped ? tidy(() => randn([size])) : randn([size]);
  p.requiresGrad = true;
  const start = Float32Array.from(p.dataSync());
  const opt = make([p]);
  const grads: Float32Array[] = [];
  for (let step = 0; step < 3; step++) {
    const run = (): void => {
      opt.zeroGrad();
      const g = randn([size]);
      const gd = g.dataSync() as Float32Array;
      for (let i = step; i < size; i += 97) gd[i] = i % 2 === 0 ? 0 : 3e38;
      p.mul(g).sum().backward();
      expect(takes(size, [p.dataSync() as Float32Array, p.grad!.dataSync() as Float32Array])).toBe(size > 4096 || scoped);
      grads.push(Float32Array.from(p.grad!.dataSync()));
      opt.step();
    };
    if (scoped) tidy(run);
    else run();
  }
  const state = (opt as unknown as { state: Map<unknown, Float64Array[]> }).state.get(p)!;
  for (const slot of state) expect(heapAddress(slot)).toBeGreaterThanOrEqual(0);
  return { start, grads, got: p.dataSync(), state };
}

/** Fails at the first element whose bits differ. */
function expectBits(label: string, got: ArrayLike<number>, want: ArrayLike<number>): void {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++) if (!Object.is(got[i], want[i])) expect.fail(`${label} ${i}: ${got[i]} instead of ${want[i]}`);
}

describe('Adam and AdamW in WebAssembly', () => {
  /**
   * adamLoop of optim/optimizers.ts written out again: doubles, each stored value rounded as JavaScript
   * does. Returns the parameters and both moments (whose doubles show what a float32 parameter may hide).
   */
  function reference(p: Float32Array, grads: Float32Array[], o: { lr: number; betas: [number, number]; eps: number; weightDecay: number }, decoupled: boolean): [Float32Array, Float64Array, Float64Array] {
    const out = Float32Array.from(p);
    const m = new Float64Array(p.length);
    const v = new Float64Array(p.length);
    const [b1, b2] = o.betas;
    grads.forEach((g, step) => {
      const t = step + 1;
      const stepSize = o.lr / (1 - b1 ** t);
      const sqrtC2 = Math.sqrt(1 - b2 ** t);
      for (let i = 0; i < out.length; i++) {
        if (decoupled) out[i] *= 1 - o.lr * o.weightDecay;
        const d = decoupled ? g[i] : g[i] + o.weightDecay * out[i];
        m[i] = b1 * m[i] + (1 - b1) * d;
        v[i] = b2 * v[i] + (1 - b2) * d * d;
        out[i] -= stepSize * (m[i] / (Math.sqrt(v[i]) / sqrtC2 + o.eps));
      }
    });
    return [out, m, v];
  }

  beforeAll(async () => {
    for (let wait = 0; wait < 100 && elementwiseHelpersReady() < os.availableParallelism() - 1; wait++) await new Promise((ok) => setTimeout(ok, 50));
  });

  // the larger size is shared with the helper thread; the smallest is taken in place only, inside tidy()
  const cases = [['Adam', false, 10_001, false], ['AdamW', true, 10_001, false], ['Adam', false, 70_001, false], ['AdamW', true, 70_001, false], ['AdamW', true, 2051, true]] as const;
  for (const [name, decoupled, size, scoped] of cases) {
    it(`${name}, ${size} parameters: the JavaScript loop's bits over three steps, moments on the tensor heap${scoped ? ', in place inside tidy()' : ''}`, () => {
      const options = { lr: 0.01, betas: [0.9, 0.999] as [number, number], eps: 1e-8, weightDecay: 0.05 };
      const { start, grads, got, state } = threeSteps(size, scoped, size + (decoupled ? 1 : 0), (ps) => (decoupled ? new r.optim.AdamW(ps, options) : new r.optim.Adam(ps, options)));
      const [want, m, v] = reference(start, grads, options, decoupled);
      expectBits(`${name}, parameter`, got, want);
      expectBits(`${name}, first moment`, state[0], m);
      expectBits(`${name}, second moment`, state[1], v);
    });
  }
});

describe('RMSprop in WebAssembly', () => {
  type Options = { lr: number; alpha: number; eps: number; momentum: number; weightDecay: number };
  /** rmspropLoop of optim/optimizers.ts written out again: doubles, the parameters rounded to float32 as stored. */
  function reference(p: Float32Array, grads: Float32Array[], o: Options): [Float32Array, Float64Array, Float64Array] {
    const out = Float32Array.from(p);
    const v = new Float64Array(p.length);
    const buf = new Float64Array(p.length);
    for (const g of grads) {
      for (let i = 0; i < out.length; i++) {
        const d = g[i] + o.weightDecay * out[i];
        v[i] = o.alpha * v[i] + (1 - o.alpha) * d * d;
        const step = d / (Math.sqrt(v[i]) + o.eps);
        if (o.momentum > 0) buf[i] = o.momentum * buf[i] + step;
        out[i] -= o.lr * (o.momentum > 0 ? buf[i] : step);
      }
    }
    return [out, v, buf];
  }

  beforeAll(async () => {
    for (let wait = 0; wait < 100 && elementwiseHelpersReady() < os.availableParallelism() - 1; wait++) await new Promise((ok) => setTimeout(ok, 50));
  });

  // the larger size is shared with the helper thread; the smallest is taken in place only, inside tidy()
  const cases: [string, Options, number, boolean][] = [
    ['plain', { lr: 0.01, alpha: 0.99, eps: 1e-8, momentum: 0, weightDecay: 0 }, 10_001, false],
    ['momentum and weight decay', { lr: 0.005, alpha: 0.9, eps: 1e-6, momentum: 0.9, weightDecay: 0.01 }, 10_003, false],
    ['momentum, shared between threads', { lr: 0.01, alpha: 0.99, eps: 1e-8, momentum: 0.5, weightDecay: 0.05 }, 70_001, false],
    ['momentum, in place inside tidy()', { lr: 0.01, alpha: 0.95, eps: 1e-8, momentum: 0.9, weightDecay: 0 }, 2051, true],
  ];
  for (const [label, options, size, scoped] of cases) {
    it(`${label}, ${size} parameters: the JavaScript loop's bits over three steps, state on the tensor heap`, () => {
      const { start, grads, got, state } = threeSteps(size, scoped, size, (ps) => new r.optim.RMSprop(ps, options));
      const [want, v, buf] = reference(start, grads, options);
      expectBits('parameter', got, want);
      expectBits('mean square', state[0], v);
      expectBits('momentum buffer', state[1], buf);
    });
  }
});

describe('SGD with momentum and weight decay in WebAssembly', () => {
  type Options = { lr: number; momentum: number; dampening: number; nesterov: boolean; weightDecay: number };
  /** sgdLoop of optim/optimizers.ts written out again: doubles, the parameters rounded to float32 as stored. */
  function reference(p: Float32Array, grads: Float32Array[], o: Options): [Float32Array, Float64Array] {
    const out = Float32Array.from(p);
    const buf = new Float64Array(p.length);
    grads.forEach((g, step) => {
      for (let i = 0; i < out.length; i++) {
        let d = g[i] + o.weightDecay * out[i];
        if (o.momentum !== 0) {
          buf[i] = step === 0 ? d : o.momentum * buf[i] + (1 - o.dampening) * d;
          d = o.nesterov ? d + o.momentum * buf[i] : buf[i];
        }
        out[i] -= o.lr * d;
      }
    });
    return [out, buf];
  }

  beforeAll(async () => {
    for (let wait = 0; wait < 100 && elementwiseHelpersReady() < os.availableParallelism() - 1; wait++) await new Promise((ok) => setTimeout(ok, 50));
  });

  const cases: [string, Options, number][] = [
    ['momentum and weight decay', { lr: 0.01, momentum: 0.9, dampening: 0, nesterov: false, weightDecay: 0.01 }, 10_001],
    ['Nesterov', { lr: 0.05, momentum: 0.9, dampening: 0, nesterov: true, weightDecay: 0 }, 10_003],
    ['dampening', { lr: 0.02, momentum: 0.8, dampening: 0.1, nesterov: false, weightDecay: 0 }, 10_002],
    ['weight decay alone', { lr: 0.1, momentum: 0, dampening: 0, nesterov: false, weightDecay: 0.05 }, 10_001],
    ['momentum, shared between threads', { lr: 0.01, momentum: 0.9, dampening: 0, nesterov: true, weightDecay: 0.01 }, 70_001],
  ];
  for (const [label, options, size] of cases) {
    it(`${label}, ${size} parameters: the JavaScript loop's bits over three steps`, () => {
      manualSeed(size);
      const p = randn([size]);
      p.requiresGrad = true;
      const start = Float32Array.from(p.dataSync());
      const opt = new r.optim.SGD([p], options);
      const grads: Float32Array[] = [];
      for (let step = 0; step < 3; step++) {
        opt.zeroGrad();
        p.mul(randn([size])).sum().backward();
        grads.push(Float32Array.from(p.grad!.dataSync()));
        opt.step();
      }
      const [buffer] = (opt as unknown as { state: Map<unknown, Float64Array[]> }).state.get(p)!;
      expect(heapAddress(buffer)).toBeGreaterThanOrEqual(0);
      const [want, wantBuffer] = reference(start, grads, options);
      const got = p.dataSync();
      for (let i = 0; i < size; i++) if (!Object.is(got[i], want[i])) expect.fail(`parameter ${i}: ${got[i]} instead of ${want[i]}`);
      for (let i = 0; i < size; i++) if (!Object.is(buffer[i], wantBuffer[i])) expect.fail(`momentum ${i}: ${buffer[i]} instead of ${wantBuffer[i]}`);
    });
  }
});
