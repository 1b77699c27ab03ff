/**
 * The WebAssembly SIMD matrix product: float32 products of every layout agree with float64 ones, and the
 * result does not depend on the number of threads.
 */
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cast, contiguous, manualSeed, matmul, randn, transpose, type Tensor } from '../src';
import { wasmGemmAvailable } from '../src/engine/wasm/gemm';

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

  // edges of every tile size (4 rows, 8 columns, 256 deep, 64-row and 512-column blocks)
  const shapes: [number, number, number][] = [[17, 33, 9], [64, 64, 64], [130, 257, 70], [5, 300, 600], [1, 4096, 3], [67, 513, 521], [600, 20, 9]];
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

  it('gives bit-identical results on one thread and on two', () => {
    const root = path.join(__dirname, '..');
    const script = `const r = require(${JSON.stringify(path.join(root, 'dist', 'src'))});
      r.manualSeed(7);
      const c = r.matmul(r.randn([300, 500]), r.randn([500, 200]));
      const bytes = Buffer.from(c.dataSync().buffer);
      console.log(require('node:crypto').createHash('sha256').update(bytes).digest('hex'));`;
    const run = (threads: string) => execFileSync(process.execPath, ['-e', script], { env: { ...process.env, RELULAB_THREADS: threads }, encoding: 'utf8' }).trim();
    const one = run('1');
    expect(one).toMatch(/^[0-9a-f]{64}$/);
    expect(run('2')).toBe(one);
  });
});
