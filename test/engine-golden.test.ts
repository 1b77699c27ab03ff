/**
 * The engine against PyTorch 1.13: golden values written by test/fixtures/golden/generate_golden.py.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import * as r from '../src';
import { Tensor, type DType } from '../src';

const dir = path.join(__dirname, 'fixtures', 'golden');
const load = (name: string) => JSON.parse(fs.readFileSync(path.join(dir, name), 'utf8'));

/** |a − e| ≤ atol + rtol·|e| elementwise, with a message naming the first element that differs. */
function expectClose(actual: ArrayLike<number>, expected: readonly number[], { rtol = 1e-10, atol = 1e-12 } = {}, label = ''): void {
  expect(actual.length, `${label}: length`).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const ok = Math.abs(actual[i] - expected[i]) <= atol + rtol * Math.abs(expected[i]);
    if (!ok) expect.fail(`${label}: element ${i} is ${actual[i]}, PyTorch gives ${expected[i]}`);
  }
}

const f64 = (shape: number[], values: number[], requiresGrad = false) => Tensor.fromData(Float64Array.from(values), shape, requiresGrad);

type Unary = (x: Tensor, options?: object) => Tensor;
const unary = r as unknown as Record<string, Unary>;

describe('activations match PyTorch', () => {
  interface ActivationCase { op: string; options: object; dtype: DType; x: number[]; y: number[]; dy: number[] }
  interface PreluCase { x: number[]; weight: number[]; upstream: number[][] | null; y: number[]; dx: number[]; dweight: number[] }
  const { cases, prelu } = load('activations.json') as { cases: ActivationCase[]; prelu: PreluCase[] };
  const named = cases.map((c) => ({ ...c, name: `${c.op} ${JSON.stringify(c.options)} ${c.dtype}` }));
  it.each(named)('$name', ({ op, options, dtype, x, y, dy }) => {
    const input = r.tensor(x, { dtype, requiresGrad: true });
    const out = unary[op](input, options);
    out.sum().backward();
    // float32: the engine evaluates in double and rounds once, PyTorch evaluates in float32, so its
    // erf/tanh-based values (gelu) differ from ours in the last few bits; ours are the closer to exact.
    const tol = dtype === 'float64' ? { rtol: 1e-12, atol: 1e-14 } : { rtol: 1e-4, atol: 1e-6 };
    expectClose(out.dataSync(), y, tol, `${op} forward`);
    // PyTorch's hardsigmoid backward uses the float constant 1/6 even for float64 (0.1666666716…)
    const dtol = op === 'hardsigmoid' && dtype === 'float64' ? { rtol: 1e-7, atol: 0 } : tol;
    expectClose(input.grad!.dataSync(), dy, dtol, `${op} derivative`);
  });

  it.each(prelu.map((c, i) => ({ ...c, name: `weights [${c.weight.join(', ')}] #${i}` })))('prelu with $name', ({ x, weight, upstream, y, dx, dweight }) => {
    const input = r.tensor(x, { dtype: 'float64', requiresGrad: true });
    const w = r.tensor(weight, { dtype: 'float64', requiresGrad: true });
    const out = r.prelu(input, w);
    out.backward(upstream === null ? r.onesLike(out) : r.tensor(upstream, { dtype: 'float64' }));
    expectClose(out.dataSync(), y, {}, 'prelu forward');
    expectClose(input.grad!.dataSync(), dx, {}, 'prelu dx');
    expectClose(w.grad!.dataSync(), dweight, {}, 'prelu dweight');
  });
});

describe('an MLP matches PyTorch', () => {
  it('gives the same logits, cross-entropy loss and parameter gradients', () => {
    const m = load('mlp.json');
    const p = Object.fromEntries(Object.entries(m.params as Record<string, { shape: number[]; values: number[] }>).map(([k, v]) => [k, f64(v.shape, v.values, true)]));
    const x = r.tensor(m.x, { dtype: 'float64' });
    const logits = r.linear(r.relu(r.linear(x, p.w1, p.b1)), p.w2, p.b2);
    const loss = r.crossEntropy(logits, m.labels);
    loss.backward();
    expectClose(logits.dataSync(), m.logits, {}, 'logits');
    expectClose([loss.item()], [m.loss], {}, 'loss');
    for (const k of Object.keys(p)) expectClose(p[k].grad!.dataSync(), m.grads[k], {}, `grad ${k}`);
  });

  it('in float32 too, within float32 rounding', () => {
    const m = load('mlp.json');
    const p = Object.fromEntries(Object.entries(m.params as Record<string, { shape: number[]; values: number[] }>).map(([k, v]) => {
      const t = r.tensor(v.values).reshape(v.shape).detach();
      t.requiresGrad = true;
      return [k, t];
    }));
    const logits = r.linear(r.relu(r.linear(r.tensor(m.x), p.w1, p.b1)), p.w2, p.b2);
    const loss = r.crossEntropy(logits, m.labels);
    loss.backward();
    const tol = { rtol: 1e-5, atol: 1e-6 };
    expect(logits.dtype).toBe('float32');
    expectClose(logits.dataSync(), m.logits, tol, 'logits');
    expectClose([loss.item()], [m.loss], tol, 'loss');
    for (const k of Object.keys(p)) expectClose(p[k].grad!.dataSync(), m.grads[k], tol, `grad ${k}`);
  });
});

describe('conv2d and pooling match PyTorch', () => {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  type Case = Record<string, any>;
  const { conv2d, pool } = load('conv.json') as { conv2d: Case[]; pool: Case[] };
  it.each(conv2d)('conv2d $label', (k) => {
    const x = f64(k.x.shape, k.x.values, true);
    const w = f64(k.weight.shape, k.weight.values, true);
    const b = f64([k.bias.length], k.bias, true);
    const y = r.conv2d(x, w, b, k.options);
    expect(y.shape).toEqual(k.y.shape);
    y.backward(f64(k.y.shape, k.upstream));
    expectClose(y.dataSync(), k.y.values, {}, 'y');
    expectClose(x.grad!.dataSync(), k.dx, {}, 'dx');
    expectClose(w.grad!.dataSync(), k.dweight, {}, 'dweight');
    expectClose(b.grad!.dataSync(), k.dbias, {}, 'dbias');
  });

  // float32 takes the fused path: im2col over the batch and the WebAssembly matrix product
  it.each(conv2d)('conv2d $label in float32', (k) => {
    const f32 = (shape: number[], values: number[]) => r.tensor(values, { requiresGrad: true }).reshape(shape).detach();
    const x = f32(k.x.shape, k.x.values);
    const w = f32(k.weight.shape, k.weight.values);
    const b = r.tensor(k.bias as number[]);
    for (const t of [x, w, b]) t.requiresGrad = true;
    const y = r.conv2d(x, w, b, k.options);
    expect(y.dtype).toBe('float32');
    y.backward(r.tensor(k.upstream as number[]).reshape(k.y.shape));
    const tol = { rtol: 1e-4, atol: 1e-5 };
    expectClose(y.dataSync(), k.y.values, tol, 'y');
    expectClose(x.grad!.dataSync(), k.dx, tol, 'dx');
    expectClose(w.grad!.dataSync(), k.dweight, tol, 'dweight');
    expectClose(b.grad!.dataSync(), k.dbias, tol, 'dbias');
  });

  it.each(pool)('$op $label', (k) => {
    const x = f64(k.x.shape, k.x.values, true);
    const fn = k.op === 'maxPool2d' ? r.maxPool2d : r.avgPool2d;
    const y = fn(x, k.kernelSize, { stride: k.stride ?? undefined, padding: k.padding });
    expect(y.shape).toEqual(k.y.shape);
    y.backward(f64(k.y.shape, k.upstream));
    expectClose(y.dataSync(), k.y.values, {}, 'y');
    expectClose(x.grad!.dataSync(), k.dx, {}, 'dx');
  });
});

describe('losses, reductions and matmul match PyTorch', () => {
  const g = load('losses.json');
  it('crossEntropy and nllLoss', () => {
    const logits = r.tensor(g.crossEntropy.logits, { dtype: 'float64', requiresGrad: true });
    const loss = r.crossEntropy(logits, g.crossEntropy.labels);
    loss.backward();
    expectClose([loss.item()], [g.crossEntropy.loss], {}, 'loss');
    expectClose(logits.grad!.dataSync(), g.crossEntropy.dlogits, {}, 'dlogits');
    expectClose([r.nllLoss(r.logSoftmax(logits, 1), g.crossEntropy.labels).item()], [g.nllLoss.loss], {}, 'nll');
  });

  it('binaryCrossEntropyWithLogits', () => {
    const z = r.tensor(g.bceWithLogits.logits, { dtype: 'float64', requiresGrad: true });
    const loss = r.binaryCrossEntropyWithLogits(z, r.tensor(g.bceWithLogits.targets, { dtype: 'float64' }));
    loss.backward();
    expectClose([loss.item()], [g.bceWithLogits.loss], {}, 'loss');
    expectClose(z.grad!.dataSync(), g.bceWithLogits.dlogits, {}, 'dlogits');
  });

  it('mseLoss', () => {
    const p = r.tensor(g.mse.pred, { dtype: 'float64', requiresGrad: true });
    const loss = r.mseLoss(p, r.tensor(g.mse.target, { dtype: 'float64' }));
    loss.backward();
    expectClose([loss.item()], [g.mse.loss], {}, 'loss');
    expectClose(p.grad!.dataSync(), g.mse.dpred, {}, 'dpred');
  });

  it('softmax, logSoftmax, logsumexp and var', () => {
    const x = r.tensor(g.reductions.x, { dtype: 'float64' });
    expectClose(r.softmax(x, 2).dataSync(), g.reductions.softmax2, {}, 'softmax');
    expectClose(r.logSoftmax(x, 1).dataSync(), g.reductions.logSoftmax1, {}, 'logSoftmax');
    expectClose(r.logsumexp(x, [0, 2]).dataSync(), g.reductions.logsumexp02, {}, 'logsumexp');
    expectClose(r.var(x, 1).dataSync(), g.reductions.var1, {}, 'var');
    expectClose([r.var(x).item()], [g.reductions.varAll], {}, 'var of all');
  });

  it('softmax and logSoftmax at −∞ and NaN entries, as PyTorch', () => {
    const x = r.tensor([[0, -Infinity, 1], [NaN, 0, 1], [-Infinity, -Infinity, -Infinity]], { dtype: 'float64' });
    const lse = Math.log(1 + Math.E);
    // an −∞ entry gets probability 0 (log −∞); a NaN, or a row of −∞ only, makes the whole row NaN
    expect(Array.from(r.logSoftmax(x, 1).dataSync())).toEqual([-lse, -Infinity, 1 - lse, NaN, NaN, NaN, NaN, NaN, NaN]);
    expect(Array.from(r.softmax(x, 1).dataSync())).toEqual([1 / (1 + Math.E), 0, Math.E / (1 + Math.E), NaN, NaN, NaN, NaN, NaN, NaN]);
  });

  it('batched matmul with broadcasting', () => {
    const k = g.matmul;
    const a = f64(k.a.shape, k.a.values, true);
    const b = f64(k.b.shape, k.b.values, true);
    const y = r.matmul(a, b);
    expect(y.shape).toEqual(k.y.shape);
    y.backward(f64(k.y.shape, k.upstream));
    expectClose(y.dataSync(), k.y.values, {}, 'y');
    expectClose(a.grad!.dataSync(), k.da, {}, 'da');
    expectClose(b.grad!.dataSync(), k.db, {}, 'db');
  });
});
