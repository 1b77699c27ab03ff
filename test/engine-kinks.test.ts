/**
 * The derivative at every kink, as PyTorch 1.13 computes it (upstream gradient +1), except hardswish, which follows the corrected rule (0 at −3, 1 at +3).
 */
import { afterEach, describe, expect, it } from 'vitest';
import * as r from '../src';
import { Generator, Tensor, type DType } from '../src';
import { WASM_MIN_ELEMENTS } from '../src/engine/wasm/elementwise';

type Unary = (x: Tensor, options?: object) => Tensor;
const ops = r as unknown as Record<string, Unary>;

/** The autograd derivative of op at x in the given dtype. */
function derivativeAt(op: Unary, x: number, dtype: DType, options?: object): number {
  const input = r.tensor([x], { dtype, requiresGrad: true });
  op(input, options).sum().backward();
  return input.grad!.item();
}

const f32 = (v: number) => Math.fround(v);
const SELU = r.SELU_SCALE * r.SELU_ALPHA;

// [op, options, x, derivative]
const table: [string, object | undefined, number, number][] = [
  ['relu', undefined, 0, 0],
  ['relu', { gradAtZero: 1 }, 0, 1],
  ['relu', { gradAtZero: 0.5 }, 0, 0.5],
  ['leakyRelu', undefined, 0, 0.01],
  ['leakyRelu', { negativeSlope: 0.2 }, 0, 0.2],
  ['rrelu', undefined, 0, (1 / 8 + 1 / 3) / 2],
  ['elu', undefined, 0, 1],
  ['elu', { alpha: 0.5 }, 0, 0.5],
  ['selu', undefined, 0, SELU],
  ['celu', undefined, 0, 1],
  ['celu', { alpha: 2 }, 0, 1],
  ['relu6', undefined, 0, 0],
  ['relu6', undefined, 6, 0],
  ['hardtanh', undefined, -1, 0],
  ['hardtanh', undefined, 1, 0],
  ['hardtanh', { minVal: -2, maxVal: 3 }, 3, 0],
  ['hardsigmoid', undefined, -3, 0],
  ['hardsigmoid', undefined, 3, 0],
  ['hardswish', undefined, -3, 0],
  ['hardswish', undefined, 3, 1],
  ['gelu', undefined, 0, 0.5],
  ['gelu', { approximate: 'tanh' }, 0, 0.5],
  ['silu', undefined, 0, 0.5],
  ['mish', undefined, 0, 0.6],
  ['softplus', undefined, 0, 0.5],
  ['sigmoid', undefined, 0, 0.25],
  ['tanh', undefined, 0, 1],
  ['abs', undefined, 0, 0],
  ['clamp', { min: 0, max: 6 }, 0, 1],
  ['clamp', { min: 0, max: 6 }, 6, 1],
];

describe('the derivative at each kink', () => {
  it.each(table.flatMap(([op, options, x, d]) => (['float64', 'float32'] as DType[]).map((dtype) => [op, JSON.stringify(options ?? {}), x, dtype, d, options] as const)))(
    '%s %s at %d (%s) is %d',
    (op, _o, x, dtype, d, options) => {
      const expected = dtype === 'float32' ? f32(d) : d;
      const got = derivativeAt(ops[op], x, dtype, options);
      if (op === 'mish' || op === 'gelu') expect(got).toBeCloseTo(expected, dtype === 'float32' ? 6 : 14);
      else expect(got).toBe(expected);
    },
  );

  it('prelu at 0 gives the weight, shared or per channel', () => {
    const x = r.tensor([[0, 0, 0]], { dtype: 'float64', requiresGrad: true });
    r.prelu(x, r.tensor([0.25, -0.5, 2], { dtype: 'float64' })).sum().backward();
    expect(x.grad!.toArray()).toEqual([[0.25, -0.5, 2]]);
    const y = r.tensor([0], { requiresGrad: true });
    r.prelu(y, r.tensor([0.25])).sum().backward();
    expect(y.grad!.item()).toBe(0.25);
  });

  it('rrelu in training gives each element its sampled slope, at 0 included', () => {
    const x = r.tensor([0, 0, 0, -1], { dtype: 'float64', requiresGrad: true });
    const y = r.rrelu(x, { training: true, generator: new Generator(3) });
    y.sum().backward();
    const expected = new Generator(3);
    const slopes = [0, 1, 2, 3].map(() => 1 / 8 + (1 / 3 - 1 / 8) * expected.uniform());
    expect(Array.from(x.grad!.dataSync())).toEqual(slopes);
    expect(y.dataSync()[3]).toBe(-slopes[3]);
    for (const s of slopes) expect(s >= 1 / 8 && s <= 1 / 3).toBe(true);
  });

  it('maximum and minimum split a tie evenly', () => {
    const a = r.tensor([2], { requiresGrad: true });
    const b = r.tensor([2], { requiresGrad: true });
    r.maximum(a, b).backward();
    expect([a.grad!.item(), b.grad!.item()]).toEqual([0.5, 0.5]);
  });

  it('softplus switches to the identity strictly above its threshold, as PyTorch', () => {
    expect(derivativeAt(ops.softplus, 20, 'float64')).toBeCloseTo(0.9999999979388464, 15);
    expect(derivativeAt(ops.softplus, 20.000001, 'float64')).toBe(1);
    expect(r.softplus(r.tensor([25], { dtype: 'float64' })).item()).toBe(25);
  });
});

describe('the choice at zero', () => {
  afterEach(() => r.relu.resetDefaults());

  it('relu.setDefaults changes relu′(0) for every later call until resetDefaults', () => {
    r.relu.setDefaults({ gradAtZero: 1 });
    expect(derivativeAt(ops.relu, 0, 'float32')).toBe(1);
    expect(derivativeAt(ops.relu, -1, 'float32')).toBe(0);
    r.relu.resetDefaults();
    expect(derivativeAt(ops.relu, 0, 'float32')).toBe(0);
  });
});

describe('signed zeros', () => {
  it('a zero derivative keeps the sign of a negative upstream gradient', () => {
    const x = r.tensor([-1, 0, 2], { requiresGrad: true });
    r.relu(x).backward(r.tensor([-3, -3, -3]));
    const g = x.grad!.dataSync();
    expect(Object.is(g[0], -0)).toBe(true);
    expect(Object.is(g[1], -0)).toBe(true);
    expect(g[2]).toBe(-3);
  });

  it('reproduces the gradient-at-zero Q&A printout exactly, signs included', () => {
    const x = r.tensor([-1, 0, 1, 2], { requiresGrad: true });
    r.mseLoss(r.relu(x), 1).backward();
    const xs = x.dataSync();
    const g = x.grad!.dataSync();
    const signed = (v: number, digits: number) => `${v < 0 || Object.is(v, -0) ? '-' : '+'}${Math.abs(v).toFixed(digits)}`;
    const lines = Array.from(xs, (v, i) => `x = ${signed(v, 2)}, loss = ${signed((1 - v) ** 2, 2)}, (∂ loss)/(∂ x) = ${signed(g[i], 8)}`);
    expect(lines).toEqual([
      'x = -1.00, loss = +4.00, (∂ loss)/(∂ x) = -0.00000000',
      'x = +0.00, loss = +1.00, (∂ loss)/(∂ x) = -0.00000000',
      'x = +1.00, loss = +0.00, (∂ loss)/(∂ x) = +0.00000000',
      'x = +2.00, loss = +1.00, (∂ loss)/(∂ x) = +0.50000000',
    ]);
  });
});

describe('NaN and kink counting', () => {
  it.each(['relu', 'leakyRelu', 'elu', 'gelu', 'relu6', 'hardtanh', 'sigmoid'])('%s propagates NaN', (op) => {
    expect(Number.isNaN(ops[op](r.tensor([NaN])).item())).toBe(true);
  });

  it('kinkHits counts backward evaluations exactly at a kink, per op, until reset', () => {
    r.resetKinkHits();
    const x = r.tensor([0, 0, 1, -2, 6], { requiresGrad: true });
    r.relu(x).sum().add(r.relu6(x).sum()).backward();
    expect(r.kinkHits()).toEqual({ relu: 2, relu6: 3 });
    r.relu(r.tensor([0.5], { requiresGrad: true })).sum().backward();
    expect(r.kinkHits().relu).toBe(2);
    r.resetKinkHits();
    expect(r.kinkHits()).toEqual({});
  });
});

describe('branch-free loops agree with the scalar definitions', () => {
  const specials = [-Infinity, -3, -1e-40, -0, 0, 1e-40, 2.5, Infinity, NaN];
  // gradAtZero −0 counts as +0 on every path: the scalar definition, the JavaScript and the WebAssembly loops
  const cases: [string, object][] = [['relu', {}], ['relu', { gradAtZero: -0 }], ['relu', { gradAtZero: 0.5 }], ['relu', { gradAtZero: 1 }], ['leakyRelu', {}], ['leakyRelu', { negativeSlope: 0 }], ['leakyRelu', { negativeSlope: 0.2 }]];
  const label = (options: object): string => JSON.stringify(options, (_, v) => (Object.is(v, -0) ? '-0' : v));
  for (const dtype of ['float32', 'float64'] as const) {
    for (const [name, options] of cases) {
      // short arrays run the JavaScript loops, long ones (float32) the WebAssembly kernels
      for (const copies of [1, Math.ceil(WASM_MIN_ELEMENTS / specials.length) + 1]) {
        it(`${name} ${label(options)} in ${dtype}, ${copies * specials.length} elements: values, gradients and kink hits, signed zeros and NaN included`, () => {
          const op = (r as unknown as Record<string, r.UnaryOp<Record<string, number>>>)[name];
          const round = dtype === 'float32' ? Math.fround : (v: number) => v;
          const values = Array.from({ length: copies }, () => specials).flat();
          // the last elements are left over from whole SIMD lanes: 2 of them
          values.push(-7, 0);
          for (const upstream of [1, -1, 2.5, 0.1]) {
            r.diag.kinkHits.reset();
            const x = r.tensor(values, { dtype, requiresGrad: true });
            const y = op(x, options);
            y.backward(r.full([values.length], upstream, { dtype }));
            const ys = y.dataSync();
            const gs = x.grad!.dataSync();
            values.forEach((v, i) => {
              const { y: want, dy } = op.scalar(round(v), options);
              expect(Object.is(ys[i], round(want)), `${name}(${v}) = ${ys[i]}, expected ${want}`).toBe(true);
              expect(Object.is(gs[i], round(round(upstream) * dy)), `${name}'(${v}) · ${upstream} = ${gs[i]}, expected ${upstream * dy}`).toBe(true);
            });
            expect(r.diag.kinkHits()[name]).toBe(2 * copies + 1);
          }
        });
      }
    }
  }
});
