import { describe, expect, it } from 'vitest';
import { formatMismatches, Generator, grad, gradcheck, listOps, mul, sum, Tensor, type GradCheck } from '../src';

/** Seeded float64 inputs drawn from the check's domain, moved off its kinks by at least 1e-3. */
function sampleInputs(check: GradCheck, seed: number): Tensor[] {
  const rng = new Generator(seed);
  const [lo, hi] = check.domain ?? [-2, 2];
  const kinks = check.kinks ?? [];
  return check.shapes.map((shape) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      let v: number;
      do v = lo + (hi - lo) * rng.uniform();
      while (kinks.some((k) => Math.abs(v - k) < 1e-3));
      data[i] = v;
    }
    return Tensor.fromData(data, shape);
  });
}

const cases = listOps().flatMap((op) => op.checks.map((check, i) => ({ name: `${op.name}${check.label ? ` (${check.label})` : ''}`, check, seed: 100 + i })));

describe('every registered op passes a float64 gradient check', () => {
  it('the registry holds the ops the engine promises', () => {
    const names = listOps().map((o) => o.name);
    for (const op of ['add', 'mul', 'div', 'matmul', 'sum', 'max', 'relu', 'leakyRelu', 'prelu', 'rrelu', 'elu', 'selu', 'celu', 'gelu', 'silu', 'mish', 'softplus', 'relu6', 'hardtanh', 'hardsigmoid', 'hardswish', 'sigmoid', 'tanh', 'unfold', 'gather']) {
      expect(names).toContain(op);
    }
  });

  it.each(cases)('$name', ({ check, seed }) => {
    const inputs = sampleInputs(check, seed);
    const result = gradcheck(check.call, inputs, check.tolerance);
    expect(result.ok, formatMismatches(result, inputs)).toBe(true);
  });

  const second = cases.filter((c) => c.check.secondOrder);
  it.each(second)('$name: gradients of gradients', ({ check, seed }) => {
    const inputs = sampleInputs(check, seed);
    const rng = new Generator(seed + 1);
    const directions = inputs.map((x) => Tensor.fromData(Float64Array.from({ length: x.size }, () => rng.uniform() - 0.5), x.shape));
    const argnums = inputs.map((_, i) => i);
    // h(x) = <∇f(x), v>, whose gradient is the Hessian-vector product; checking it checks the recorded backward
    const h = (...xs: Tensor[]): Tensor => {
      const gs = grad((...ys: Tensor[]) => sum(check.call(...ys)), { argnums })(...xs);
      return gs.map((g, i) => sum(mul(g, directions[i]))).reduce((a, b) => a.add(b));
    };
    const result = gradcheck(h, inputs, check.tolerance);
    expect(result.ok, formatMismatches(result, inputs)).toBe(true);
  });
});
