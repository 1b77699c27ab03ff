/**
 * tidy(): large float32 tensors made inside live on the tensor heap, the activation kernels work on them in
 * place, and their memory is reused when the scope ends. Results are the same bits as outside a scope.
 */
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { HEAP_MIN_ELEMENTS } from '../src/engine/scope';
import { elementwiseHelpersReady, takes } from '../src/engine/wasm/elementwise';
import { blockOf, heapAddress } from '../src/engine/wasm/heap';
import {
  GradError, Tensor, ValueError, heapStats, keep, kinkHits, leakyRelu, linear, manualSeed, nn, optim, randn, relu, resetKinkHits, slice, sum, tensor, tidy, crossEntropy,
} from '../src';

const BIG = 5003; // above the threshold for copying into the kernels (4096), and not a multiple of 4: the kernels' scalar tails run
/** Sizes the kernels take only in place, on the heap inside tidy(); off it the JavaScript loop runs. */
const IN_PLACE = [HEAP_MIN_ELEMENTS, 2051];
const inUse = (): number => heapStats().inUse;

/** A heap tensor (made inside a scope, returned from it) with values that include exact zeros. */
function heapTensor(size: number, seed: number, requiresGrad = false): Tensor {
  return tidy(() => {
    manualSeed(seed);
    const values = randn([size]).dataSync() as Float32Array;
    for (let i = 0; i < size; i += 7) values[i] = 0;
    values[1] = -0;
    values[2] = NaN;
    return tensor(values, { requiresGrad });
  });
}

/** The float32 bit patterns (signed zeros apart), with every NaN as one pattern: NaN payloads carry no meaning. */
const bits = (t: Tensor): number[] => Array.from(new Uint32Array(Float32Array.from(t.dataSync()).buffer), (b) => ((b & 0x7fffffff) > 0x7f800000 ? 0x7fc00000 : b));

describe('tidy', () => {
  it('puts large float32 tensors on the heap and frees them at the end', () => {
    const before = inUse();
    const total = tidy(() => {
      const a = randn([BIG]).mul(2);
      expect(inUse()).toBeGreaterThanOrEqual(before + 2 * BIG * 4);
      expect(a.storage.block).not.toBeNull();
      return sum(a).item();
    });
    expect(Number.isFinite(total)).toBe(true);
    expect(inUse()).toBe(before);
  });

  it('reuses the memory of one scope in the next: the heap stops growing', () => {
    const step = (): number => tidy(() => sum(relu(randn([BIG, 3]).mul(3))).item());
    step();
    const { reserved, peak } = heapStats();
    for (let i = 0; i < 20; i++) step();
    expect(heapStats().reserved).toBe(reserved);
    expect(heapStats().peak).toBe(peak);
  });

  it('keeps what the function returns, through arrays and objects, and releases the rest', () => {
    let inner: Tensor | undefined;
    const out = tidy(() => {
      inner = randn([BIG]);
      const doubled = inner.mul(2);
      return { list: [doubled], other: 1 };
    });
    const kept = out.list[0];
    tidy(() => randn([BIG]).mul(-1)); // reuses the released block
    expect(kept.dataSync().length).toBe(BIG);
    expect(() => inner!.dataSync()).toThrow(ValueError);
    expect(() => inner!.add(1)).toThrow(/released.*tidy\(\)/);
    expect(() => kept.add(1)).not.toThrow();
  });

  it('hands what a nested scope returns to the enclosing one, which frees it at its end', () => {
    const before = inUse();
    let escaped: Tensor | undefined;
    tidy(() => {
      escaped = tidy(() => randn([BIG]).mul(3));
      expect(inUse()).toBe(before + Math.ceil((BIG * 4) / 64) * 64);
      expect(escaped.sum().item()).not.toBeNaN();
      return 0;
    });
    expect(inUse()).toBe(before);
    expect(() => escaped!.sum()).toThrow(ValueError);
  });

  it('keeps parameters made inside, keep()-ed tensors, and gradients stored on leaves', () => {
    const before = inUse();
    let w: Tensor | undefined;
    let kept: Tensor | undefined;
    tidy(() => {
      w = randn([BIG]).requiresGrad_();
      kept = keep(randn([BIG]).mul(2));
      sum(relu(w)).backward();
      return null;
    });
    expect(w!.grad).not.toBeNull();
    const grad = w!.grad!.dataSync();
    for (let i = 0; i < BIG; i++) expect(grad[i]).toBe(w!.dataSync()[i] > 0 ? 1 : 0);
    expect(kept!.size).toBe(BIG);
    // zeroGrad frees a gradient backward made inside tidy()
    const withGrad = inUse();
    const g = w!.grad!;
    w!.zeroGrad();
    expect(inUse()).toBe(withGrad - Math.ceil((BIG * 4) / 64) * 64);
    expect(() => g.dataSync()).toThrow(ValueError);
    expect(inUse()).toBeGreaterThan(before);
  });

  it('does not free a gradient that is the caller’s own tensor', () => {
    const x = heapTensor(BIG, 1, true);
    const seed = heapTensor(BIG, 2);
    const seedBits = bits(seed);
    tidy(() => x.mul(1).backward(seed));
    expect(x.grad!.storage).not.toBe(seed.storage);
    const y = heapTensor(BIG, 3, true);
    tidy(() => y.backward(seed)); // a leaf's gradient is the seed itself
    y.zeroGrad();
    expect(bits(seed)).toEqual(seedBits);
  });

  it('frees everything when the function throws, and rejects async functions', () => {
    const before = inUse();
    expect(() =>
      tidy(() => {
        randn([BIG]).mul(2);
        throw new Error('boom');
      }),
    ).toThrow('boom');
    expect(inUse()).toBe(before);
    expect(() => tidy(() => Promise.resolve(1))).toThrow(/Promise/);
  });

  it('refuses backward through a graph recorded inside a tidy() that has ended', () => {
    const x = heapTensor(BIG, 4, true);
    const loss = tidy(() => sum(relu(x)));
    expect(() => loss.backward()).toThrow(GradError);
    expect(() => loss.backward()).toThrow(/tidy\(\) that has ended/);
  });

  it('dispose() frees a heap tensor at once and leaves ordinary ones alone', () => {
    const t = heapTensor(BIG, 5);
    const view = t.reshape([BIG, 1]);
    const before = inUse();
    t.dispose();
    expect(inUse()).toBe(before - Math.ceil((BIG * 4) / 64) * 64);
    expect(() => view.sum()).toThrow(ValueError);
    const plain = randn([BIG]);
    plain.dispose();
    expect(plain.sum().item()).not.toBeNaN();
  });
});

describe('activation kernels on the heap', () => {
  for (const size of [...IN_PLACE, BIG, 4096, 8191]) {
    it(`relu and leakyRelu give the same bits in place as through copies or the JavaScript loop (${size} elements)`, () => {
      const onHeap = heapTensor(size, size, true);
      const plain = tensor(Float32Array.from(onHeap.dataSync()), { requiresGrad: true });
      expect(plain.storage.block).toBeNull();
      const seed = heapTensor(size, size + 1);
      for (const f of [(t: Tensor) => relu(t), (t: Tensor) => relu(t, { gradAtZero: 0.5 }), (t: Tensor) => leakyRelu(t, { negativeSlope: 0.1 })]) {
        resetKinkHits();
        const expected = f(plain);
        expected.backward(tensor(seed.dataSync()));
        const plainHits = kinkHits();
        resetKinkHits();
        const [y, g] = tidy(() => {
          expect(takes(size, [onHeap.dataSync() as Float32Array])).toBe(true);
          const out = f(onHeap);
          expect(out.storage.block).not.toBeNull();
          out.backward(seed);
          return [out, onHeap.grad!];
        });
        expect(bits(y)).toEqual(bits(expected));
        expect(bits(g)).toEqual(bits(plain.grad!));
        expect(kinkHits()).toEqual(plainHits);
        onHeap.zeroGrad();
        plain.zeroGrad();
      }
    });
  }
});

describe('float32 sums in WebAssembly', () => {
  /** The documented sum: blocks of 4,096, each as eight partial sums in double precision, added in order. */
  function blockedSum(values: ArrayLike<number>): number {
    let total = 0;
    for (let start = 0; start < values.length; start += 4096) {
      const stop = Math.min(start + 4096, values.length);
      const s = new Float64Array(8);
      let i = start;
      for (; i + 8 <= stop; i += 8) for (let l = 0; l < 8; l++) s[l] += values[i + l];
      for (; i < stop; i++) s[0] += values[i];
      total += s[0] + s[1] + (s[2] + s[3]) + (s[4] + s[5] + (s[6] + s[7]));
    }
    return total;
  }

  it('give the JavaScript loop’s bits (blocks of eight partial sums in double precision), on the heap and off it, on one thread and two', async () => {
    for (let wait = 0; wait < 100 && elementwiseHelpersReady() < os.availableParallelism() - 1; wait++) await sleep(50);
    // one block, a tail of each length past the eight lanes, several blocks, and a sum large enough to share
    // (sizes below WASM_MIN_ELEMENTS reach the kernels only on the heap, in tidy())
    for (const size of [...IN_PLACE, 4096, 4099, 4103, 10007, 300001]) {
      manualSeed(size);
      const x = randn([size]).mul(1000);
      const expected = Math.fround(blockedSum(x.dataSync()));
      expect(sum(x).item()).toBe(expected);
      expect(tidy(() => sum(tensor(x)).item())).toBe(expected);
      // rows of a 2-D sum over its last axis
      expect(tidy(() => sum(tensor(x.reshape([1, size])), 1).item())).toBe(expected);
      expect(tidy(() => sum(tensor(x.reshape([size, 1]))).item())).toBe(expected);
    }
    // float64 sums run the same JavaScript loop
    const y = randn([9001], { dtype: 'float64' });
    expect(sum(y).item()).toBe(blockedSum(y.dataSync()));
  });
});

describe('the gradient of a sum through relu', () => {
  it('runs on the one broadcast value, with the bits and kink hits of the materialised gradient', () => {
    for (const size of [BIG, (1 << 18) + 5]) {
      const x = heapTensor(size, 31, true);
      for (const f of [(t: Tensor) => relu(t, { gradAtZero: 0.5 }), (t: Tensor) => leakyRelu(t, { negativeSlope: 0.2 })]) {
        resetKinkHits();
        tidy(() => sum(f(x)).mul(0.75).backward()); // the upstream gradient: 0.75 expanded to every element
        const viaScalar = bits(x.grad!);
        const scalarHits = kinkHits();
        x.zeroGrad();
        resetKinkHits();
        tidy(() => f(x).backward(tensor(new Float32Array(size).fill(0.75))));
        expect(viaScalar).toEqual(bits(x.grad!));
        expect(scalarHits).toEqual(kinkHits());
        x.zeroGrad();
      }
    }
  });
});

describe('activation kernels on two threads', () => {
  it('split large arrays between the threads and give each element’s exact value', async () => {
    for (let wait = 0; wait < 100 && elementwiseHelpersReady() < os.availableParallelism() - 1; wait++) await sleep(50);
    expect(elementwiseHelpersReady()).toBe(os.availableParallelism() - 1);
    const n = (1 << 18) + 13;
    const x = heapTensor(n, 21, true);
    const g = heapTensor(n, 22);
    resetKinkHits();
    const y = tidy(() => {
      const out = relu(x, { gradAtZero: 0.25 });
      out.backward(g);
      return out;
    });
    const xs = x.dataSync();
    const gs = g.dataSync();
    const expectedY = new Float32Array(n);
    const expectedG = new Float32Array(n);
    let zeros = 0;
    for (let i = 0; i < n; i++) {
      expectedY[i] = Math.max(xs[i], 0);
      expectedG[i] = gs[i] * (xs[i] === 0 ? 0.25 : xs[i] > 0 || Number.isNaN(xs[i]) ? 1 : 0);
      if (xs[i] === 0) zeros++;
    }
    expect(bits(y)).toEqual(bits(tensor(expectedY)));
    expect(bits(x.grad!)).toEqual(bits(tensor(expectedG)));
    expect(kinkHits().relu).toBe(zeros);
  });
});

describe('matrix products on the heap', () => {
  // small products read their operands in place (edge tiles read past the end), larger ones are packed
  for (const [m, k, n] of [[17, 33, 9], [64, 64, 64], [130, 257, 70], [5, 300, 600], [67, 513, 521]]) {
    it(`${m}×${k} by ${k}×${n}: the same bits with operands and product on the heap as off it`, () => {
      manualSeed(m + k + n);
      const a = randn([m, k]);
      const b = randn([k, n]);
      const plain = [a.matmul(b), a.matmul(b.transpose(0, 1).contiguous().transpose(0, 1))];
      const [onHeap, transposed] = tidy(() => {
        const [ha, hb] = [tensor(a), tensor(b)];
        expect(ha.size < 4096 || ha.storage.block !== null).toBe(true);
        return [ha.matmul(hb), ha.matmul(hb.transpose(0, 1).contiguous().transpose(0, 1))];
      });
      expect(bits(onHeap)).toEqual(bits(plain[0]));
      expect(bits(transposed)).toEqual(bits(plain[1]));
    });
  }
});

describe('training inside tidy', () => {
  function train(scoped: boolean): { weights: number[]; heap: number[] } {
    manualSeed(11);
    const model = new nn.Sequential(new nn.Linear(64, 96), new nn.ReLU(), new nn.Linear(96, 10));
    const opt = new optim.SGD(model.parameters(), { lr: 0.05, momentum: 0.9 });
    const x = randn([128, 64]);
    const labels = Array.from({ length: 128 }, (_, i) => i % 10);
    const heap: number[] = [];
    for (let step = 0; step < 6; step++) {
      const run = (): number => {
        opt.zeroGrad();
        const loss = crossEntropy(model.forward(x) as Tensor, labels);
        loss.backward();
        opt.step();
        return loss.item();
      };
      if (scoped) tidy(run);
      else run();
      heap.push(inUse());
    }
    return { weights: model.parameters().flatMap((p) => bits(p)), heap };
  }

  it('gives the same weights, bit for bit, with the heap flat from step to step', () => {
    const plain = train(false);
    const scoped = train(true);
    expect(scoped.weights).toEqual(plain.weights);
    // after the first step, each step frees the last one's gradients and makes the same amount again
    expect(new Set(scoped.heap.slice(1)).size).toBe(1);
    expect(scoped.heap[1]).toBeGreaterThan(plain.heap[1]);
  });
});

describe('bias rows in WebAssembly', () => {
  // widths below a vector, with a tail after the 8-column strips, and a layer's; rows × width ≥ 4096 reach the
  // kernels, and from HEAP_MIN_ELEMENTS on the heap (the last two)
  for (const [rows, width] of [[1366, 3], [205, 20], [64, 256], [3, 1500], [32, 64], [37, 50]]) {
    it(`${rows}×${width}: the bias add and the bias gradient give the JavaScript loop's bits, on the heap and off it`, () => {
      manualSeed(rows + width);
      const x = randn([rows, width]).mul(100);
      const b = randn([width]).mul(1000);
      const xs = x.dataSync();
      // linear(x, I, b) with an identity weight: the product is x itself, then the bias is added in float32
      const eye = tensor(Float32Array.from({ length: width * width }, (_, i) => (i % (width + 1) === 0 ? 1 : 0))).reshape([width, width]);
      const bs = b.dataSync();
      const expectedAdd = Float32Array.from(xs, (v, i) => v + bs[i % width]);
      // each column summed in double precision, row after row, rounded once
      const acc = new Float64Array(width);
      for (let i = 0; i < xs.length; i++) acc[i % width] += xs[i];
      const expectedSum = Float32Array.from(acc);
      const check = (): void => {
        expect(bits(linear(x, eye, b))).toEqual(bits(tensor(expectedAdd)));
        expect(bits(sum(x, 0))).toEqual(bits(tensor(expectedSum)));
      };
      check();
      tidy(() => {
        const [hx, hb] = [tensor(x), tensor(b)];
        expect(hx.storage.block).not.toBeNull();
        expect(bits(linear(hx, eye, hb))).toEqual(bits(tensor(expectedAdd)));
        expect(bits(sum(hx, 0))).toEqual(bits(tensor(expectedSum)));
        // a sum over the leading axis of a view that starts inside a heap array
        const tail = slice(hx.reshape([-1]), [width]).reshape([rows - 1, width]);
        expect(tail.offset).toBe(width);
        const tailAcc = new Float64Array(width);
        for (let i = width; i < xs.length; i++) tailAcc[i % width] += xs[i];
        expect(bits(sum(tail, 0))).toEqual(bits(tensor(Float32Array.from(tailAcc))));
      });
    });
  }
});

describe('views on heap arrays', () => {
  it('are found on the heap and updated in place by the SGD kernel, with the JavaScript bits', () => {
    const p = heapTensor(3 * BIG, 41, true);
    const data = p.storage.data as Float32Array;
    const view = data.subarray(BIG, 2 * BIG);
    expect(heapAddress(view)).toBe(heapAddress(data) + BIG * 4);
    expect(heapAddress(new Float32Array(BIG))).toBe(-1);
    // only the whole array is the block's: a shorter view from its start is not (a tensor over it must not free it)
    expect(blockOf(data)).toBe(p.storage.block);
    expect(blockOf(data.subarray(0, BIG))).toBeUndefined();
    const g = heapTensor(3 * BIG, 42);
    const before = Float32Array.from(data);
    const gs = g.dataSync();
    p.grad = g;
    new optim.SGD([p], { lr: 0.125 }).step();
    const expected = Float32Array.from(before, (v, i) => v - 0.125 * gs[i]);
    expect(bits(p)).toEqual(bits(tensor(expected)));
  });
});
