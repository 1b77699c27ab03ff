import { describe, expect, it } from 'vitest';
import * as r from '../src';
import { Tensor } from '../src';
import { allocate } from '../src/engine/dtype';

describe('autograd', () => {
  it('backpropagates through a chain of 100,000 ops without overflowing the stack', () => {
    const x = r.tensor([1], { dtype: 'float64', requiresGrad: true });
    let y = x;
    for (let i = 0; i < 100_000; i++) y = y.mul(1.00001);
    y.backward();
    expect(x.grad!.item()).toBeCloseTo(1.00001 ** 100_000, 6);
  });

  it('accumulates .grad across backward calls until zeroGrad', () => {
    const x = r.tensor([1, 2], { requiresGrad: true });
    x.square().sum().backward();
    x.square().sum().backward();
    expect(x.grad!.toArray()).toEqual([4, 8]);
    x.zeroGrad();
    expect(x.grad).toBeNull();
  });

  it('retainGraph allows a second backward through the same graph', () => {
    const x = r.tensor([3], { requiresGrad: true });
    const y = x.square().sum();
    y.backward(undefined, { retainGraph: true });
    y.backward();
    expect(x.grad!.item()).toBe(12);
  });

  it('detach and noGrad cut the graph', () => {
    const x = r.tensor([2], { requiresGrad: true });
    expect(x.mul(3).detach().requiresGrad).toBe(false);
    const y = r.noGrad(() => x.mul(3));
    expect(y.requiresGrad).toBe(false);
    expect(y.node).toBeNull();
    expect(r.isGradEnabled()).toBe(true);
  });

  it('grad and valueAndGrad differentiate with respect to chosen arguments', () => {
    const f = (a: Tensor, b: Tensor) => a.mul(b).sum();
    const a = r.tensor([1, 2]);
    const b = r.tensor([3, 4]);
    expect(r.grad(f)(a, b).toArray()).toEqual([3, 4]);
    expect(r.grad(f, { argnums: 1 })(a, b).toArray()).toEqual([1, 2]);
    const [ga, gb] = r.grad(f, { argnums: [0, 1] })(a, b);
    expect([ga.toArray(), gb.toArray()]).toEqual([[3, 4], [1, 2]]);
    const { value, grad } = r.valueAndGrad(f)(a, b);
    expect(value.item()).toBe(11);
    expect(grad.toArray()).toEqual([3, 4]);
    expect(a.grad).toBeNull();
  });

  it.each([
    ['x³', (x: Tensor) => x.pow(3).sum(), (v: number) => 6 * v],
    ['sigmoid', (x: Tensor) => x.sigmoid().sum(), (v: number) => { const s = 1 / (1 + Math.exp(-v)); return s * (1 - s) * (1 - 2 * s); }],
    ['tanh', (x: Tensor) => x.tanh().sum(), (v: number) => -2 * Math.tanh(v) * (1 - Math.tanh(v) ** 2)],
    ['gelu', (x: Tensor) => x.gelu().sum(), (v: number) => (Math.exp(-v * v / 2) / Math.sqrt(2 * Math.PI)) * (2 - v * v)],
  ])('grad(grad(f)) is the second derivative of %s', (_name, f, d2) => {
    const xs = [-1.5, -0.3, 0.7, 2];
    const x = r.tensor(xs, { dtype: 'float64' });
    const second = r.grad((t: Tensor) => r.grad(f)(t).sum())(x);
    xs.forEach((v, i) => expect(second.dataSync()[i]).toBeCloseTo(d2(v), 10));
  });

  it('sums gradients of broadcast inputs back to their shapes', () => {
    const a = r.tensor([[1], [2], [3]], { requiresGrad: true });
    const b = r.tensor([10, 20], { requiresGrad: true });
    a.add(b).mul(a).sum().backward();
    expect(a.shape).toEqual(a.grad!.shape);
    // d/da_i = Σ_j (2a_i + b_j) = 4a_i + 30
    expect(a.grad!.toArray()).toEqual([[34], [38], [42]]);
    expect(b.grad!.toArray()).toEqual([6, 6]);
  });

  it('sends gradients through views: slice, permute and expand', () => {
    const x = r.tensor([[1, 2, 3], [4, 5, 6]], { requiresGrad: true });
    x.slice(null, [1, 3]).permute([1, 0]).expand([2, 2, 2]).sum().backward();
    expect(x.grad!.toArray()).toEqual([[0, 2, 2], [0, 2, 2]]);
  });

  it('where picks by a broadcast condition from operands in any layout, NaN counting as true', () => {
    // reference: every output index mapped to each operand's broadcast index by hand
    const pick = (shape: number[], c: Tensor, x: Tensor, y: Tensor): number[] => {
      const at = (t: Tensor, idx: number[]): number => {
        const lead = idx.length - t.ndim;
        let v: unknown = t.toArray();
        for (let d = 0; d < t.ndim; d++) v = (v as unknown[])[t.shape[d] === 1 ? 0 : idx[lead + d]];
        return v as number;
      };
      const out: number[] = [];
      const size = shape.reduce((p, q) => p * q, 1);
      for (let i = 0; i < size; i++) {
        const idx = new Array<number>(shape.length);
        for (let d = shape.length - 1, rest = i; d >= 0; rest = Math.floor(rest / shape[d]), d--) idx[d] = rest % shape[d];
        out.push(at(c, idx) !== 0 ? at(x, idx) : at(y, idx));
      }
      return out;
    };
    const cond = r.tensor([1, 0, NaN, -0, 2, 0, 0, 1, NaN, 1, 0, -1], { dtype: 'float64' });
    const cases: [string, Tensor, Tensor, Tensor][] = [
      ['all whole', cond.reshape([3, 4]), r.arange(12).reshape([3, 4]), r.arange(12).neg().reshape([3, 4])],
      ['scalar operands', cond.reshape([3, 4]), r.tensor(7), r.tensor(-7)],
      ['a transposed view', cond.reshape([4, 3]), r.arange(12).reshape([3, 4]).transpose(), r.tensor(-1)],
      ['broadcast rows and columns', cond.slice([0, 3]).reshape([3, 1]), r.arange(4), r.arange(24).reshape([2, 3, 4]).neg()],
      ['a sliced condition', cond.reshape([3, 4]).slice(null, [1, 3]), r.arange(6).reshape([3, 2]), r.tensor([-1, -2])],
      ['a 3-D permuted view', cond.reshape([4, 1, 3]), r.arange(24).reshape([2, 3, 4]).permute([2, 0, 1]), r.arange(3).neg()],
      ['a scalar condition, false', r.tensor(0), r.arange(12).reshape([3, 4]), r.arange(12).neg().reshape([3, 4])],
      ['a scalar condition, NaN', r.tensor(NaN), r.arange(12).reshape([3, 4]), r.tensor(-1)],
    ];
    for (const [label, c, x, y] of cases) {
      const out = r.where(c, x, y);
      const shape = out.shape as number[];
      expect(Array.from(out.dataSync()), label).toEqual(pick(shape, c, x, y));
    }
  });

  it('where saves its condition: changing it in place before backward() throws', () => {
    const x = r.tensor([1, -2, 3], { requiresGrad: true });
    const c = x.detach().gt(0);
    const y = r.where(c, x, 0);
    c.mul_(0);
    expect(() => y.sum().backward()).toThrow('where: a tensor of shape [3] saved for backward was modified in place');
  });

  it('prelu per channel: the backward loops give the bits of its graph-building backward, zeros and NaN included', () => {
    const values = Array.from({ length: 2 * 3 * 4 * 5 }, (_, i) => ((i * 7) % 13) / 4 - 1.5);
    values[5] = 0;
    values[17] = -0;
    values[40] = NaN;
    const weight = r.tensor([0.25, -0.5, 2], { dtype: 'float64', requiresGrad: true });
    const upstream = r.tensor(values.map((_, i) => ((i * 5) % 11) / 8 - 0.5), { dtype: 'float64' }).reshape([2, 3, 4, 5]);
    const grads = (createGraph: boolean): number[][] => {
      const leaf = r.tensor(values, { dtype: 'float64', requiresGrad: true });
      weight.zeroGrad();
      r.prelu(leaf.reshape([2, 3, 4, 5]), weight).backward(upstream, { createGraph });
      return [Array.from(leaf.grad!.dataSync()), Array.from(weight.grad!.dataSync())];
    };
    const [loops, graph] = [grads(false), grads(true)];
    expect(loops[0]).toEqual(graph[0]);
    expect(loops[1]).toEqual(graph[1]);
    expect(loops[1].every(Number.isNaN)).toBe(false);
  });

  it('keeps float32 and float64 apart and promotes mixed operations to float64', () => {
    const a = r.tensor([1], { dtype: 'float64', requiresGrad: true });
    const b = r.tensor([1], { requiresGrad: true });
    const y = a.add(b);
    expect(y.dtype).toBe('float64');
    y.sum().backward();
    expect(a.grad!.dtype).toBe('float64');
    expect(b.grad!.dtype).toBe('float32');
    expect(r.tensor([0.1]).dataSync()[0]).toBe(Math.fround(0.1));
  });
});

describe('views share storage', () => {
  it('reshape, permute and slice do not copy a contiguous tensor', () => {
    const x = r.arange(6).reshape([2, 3]);
    expect(x.permute([1, 0]).storage).toBe(x.storage);
    expect(x.slice(1).storage).toBe(x.storage);
    expect(x.slice(1).toArray()).toEqual([3, 4, 5]);
    expect(x.T.toArray()).toEqual([[0, 3], [1, 4], [2, 5]]);
    expect(x.slice(null, [0, 3, 2]).toArray()).toEqual([[0, 2], [3, 5]]);
    expect(x.slice(-1, [-2]).toArray()).toEqual([4, 5]);
  });
});

describe('storage', () => {
  it('hands out zero-filled arrays that never overlap, whether pooled in a slab or not', () => {
    // sizes around the pooled range (65 B to 4 KiB) and across slab boundaries, in every dtype
    const arrays = [];
    for (let round = 0; round < 40; round++) {
      for (const dtype of ['float32', 'float64', 'int32'] as const) {
        for (const size of [1, 16, 17, 100, 511, 1000, 1024, 1025, 5000]) arrays.push(allocate(dtype, size));
      }
    }
    for (const a of arrays) expect(a.every((v) => v === 0)).toBe(true);
    arrays.forEach((a, i) => a.fill(i + 1));
    arrays.forEach((a, i) => expect(a.every((v) => v === i + 1), `array ${i}`).toBe(true));
  });
});

describe('printing', () => {
  it('shows values, shape and dtype, with signs of zero', () => {
    expect(r.tensor([[1, 2], [3, 4]]).toString()).toBe('tensor([[1., 2.],\n        [3., 4.]], shape=[2, 2], dtype=float32)');
    expect(r.tensor([-0, 0.5]).toString()).toBe('tensor([-0.0000,  0.5000], shape=[2], dtype=float32)');
    expect(r.tensor([1], { requiresGrad: true }).mul(2).toString()).toContain('gradFn=mul');
  });

  it('elides large tensors', () => {
    const s = r.arange(5000).toString();
    expect(s).toContain('...');
    expect(s.length).toBeLessThan(200);
    expect(s).toContain('4999.');
  });

  it('renders a MIME bundle with text and an HTML table', () => {
    const bundle = r.tensor([[1, 2], [3, 4]])[r.JUPYTER_DISPLAY]();
    expect(Object.keys(bundle).sort()).toEqual(['text/html', 'text/plain']);
    expect(bundle['text/html']).toContain('<table');
    expect(bundle['text/html']).toContain('[2, 2]');
    expect(r.isDisplayable(r.tensor([1]))).toBe(true);
  });
});

describe('determinism', () => {
  const draw = (seed: number) => {
    r.manualSeed(seed);
    return [
      r.randn([50]),
      r.rand([50]),
      r.randint(0, 10, [50]),
      r.dropout(r.ones([50])),
      r.rrelu(r.full([50], -1), { training: true }),
      r.truncatedNormal([50]),
    ].map((t) => Array.from(t.dataSync()));
  };

  it('the same seed gives bit-identical draws; another seed does not', () => {
    expect(draw(7)).toEqual(draw(7));
    expect(draw(7)).not.toEqual(draw(8));
  });

  it('random draws have the right distribution', () => {
    r.manualSeed(1);
    const n = r.randn([20000], { dtype: 'float64' });
    expect(r.mean(n).item()).toBeCloseTo(0, 1);
    expect(r.var(n).item()).toBeCloseTo(1, 1);
    const u = r.rand([20000]).dataSync();
    expect(Math.min(...u)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...u)).toBeLessThan(1);
    const t = r.truncatedNormal([5000]).dataSync();
    expect(Math.max(...t.map(Math.abs))).toBeLessThanOrEqual(2);
  });
});
