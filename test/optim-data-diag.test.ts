import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { data, diag, nn, optim, relu, tensor, Tensor } from '../src';

/** One parameter [2] with a fixed gradient, stepped n times. */
function run(make: (p: Tensor) => optim.Optimizer, grads: number[][]): number[] {
  const p = tensor([1, -2], { dtype: 'float64', requiresGrad: true });
  const opt = make(p);
  for (const g of grads) {
    p.grad = tensor(g, { dtype: 'float64' });
    opt.step();
  }
  return Array.from(p.dataSync());
}

describe('optimisers follow PyTorch update rules', () => {
  // five steps of every optimiser and option mix, from test/fixtures/golden/generate_golden.py
  const golden = JSON.parse(fs.readFileSync(path.join(__dirname, 'fixtures', 'golden', 'optimizers.json'), 'utf8')) as {
    start: number[];
    grads: number[][];
    cases: { optimizer: 'SGD' | 'Adam' | 'AdamW' | 'RMSprop'; options: Record<string, unknown>; steps: number[][] }[];
  };
  it.each(golden.cases.map((c) => [`${c.optimizer} ${JSON.stringify(c.options)}`, c] as const))('%s: the trajectory equals PyTorch in float64', (_label, c) => {
    const p = tensor(golden.start, { dtype: 'float64', requiresGrad: true });
    const opt = new optim[c.optimizer]([p], c.options);
    golden.grads.forEach((g, t) => {
      p.grad = tensor(g, { dtype: 'float64' });
      opt.step();
      const got = p.dataSync();
      c.steps[t].forEach((want, i) => expect(Math.abs(got[i] - want), `step ${t + 1}, element ${i}`).toBeLessThanOrEqual(1e-15 * Math.max(1, Math.abs(want))));
    });
  });

  it('SGD with momentum and weight decay', () => {
    const got = run((p) => new optim.SGD([p], { lr: 0.1, momentum: 0.9, weightDecay: 0.01 }), [[1, 1], [0.5, -1]]);
    // step 1: d = g + 0.01p = [1.01, 0.98], buf = d, p = [0.899, -2.098]
    // step 2: d = [0.5 + 0.00899, -1 - 0.02098], buf = 0.9·buf + d, p -= 0.1·buf
    const p1 = [1 - 0.1 * 1.01, -2 - 0.1 * 0.98];
    const buf = [0.9 * 1.01 + 0.5 + 0.01 * p1[0], 0.9 * 0.98 - 1 + 0.01 * p1[1]];
    expect(got[0]).toBeCloseTo(p1[0] - 0.1 * buf[0], 14);
    expect(got[1]).toBeCloseTo(p1[1] - 0.1 * buf[1], 14);
  });

  it('Nesterov momentum', () => {
    const got = run((p) => new optim.SGD([p], { lr: 0.1, momentum: 0.5, nesterov: true }), [[1, 0], [1, 0]]);
    // buf1 = 1, step 1.5; buf2 = 1.5, step 1 + 0.75
    expect(got[0]).toBeCloseTo(1 - 0.15 - 0.175, 14);
  });

  it('Adam with bias correction: the first step moves each weight by lr', () => {
    const got = run((p) => new optim.Adam([p], { lr: 0.01 }), [[3, -0.2]]);
    expect(got[0]).toBeCloseTo(1 - 0.01, 6);
    expect(got[1]).toBeCloseTo(-2 + 0.01, 6);
  });

  it('AdamW decays weights before the step', () => {
    const got = run((p) => new optim.AdamW([p], { lr: 0.1, weightDecay: 0.5 }), [[1, -1]]);
    expect(got[0]).toBeCloseTo(1 * (1 - 0.05) - 0.1, 6);
    expect(got[1]).toBeCloseTo(-2 * (1 - 0.05) + 0.1, 6);
  });

  it('RMSprop', () => {
    const got = run((p) => new optim.RMSprop([p], { lr: 0.01 }), [[2, 0]]);
    expect(got[0]).toBeCloseTo(1 - (0.01 * 2) / (Math.sqrt(0.01 * 4) + 1e-8), 12);
    expect(got[1]).toBe(-2);
  });

  it('schedules set the learning rate', () => {
    const p = tensor([1], { requiresGrad: true });
    const opt = new optim.SGD([p], { lr: 1 });
    const step = new optim.StepLR(opt, 2, 0.5);
    expect([step.step(), step.step(), step.step(), step.step()]).toEqual([1, 0.5, 0.5, 0.25]);
    const cos = new optim.CosineAnnealingLR(new optim.SGD([p], { lr: 1 }), 4);
    expect([1, 2, 3, 4].map(() => cos.step())).toEqual([1, 2, 3, 4].map((e) => (1 + Math.cos((Math.PI * e) / 4)) / 2));
    const custom = new optim.LambdaLR(new optim.SGD([p], { lr: 0.1 }), (e) => 1 / (e + 1));
    expect(custom.step()).toBeCloseTo(0.05);
  });
});

describe('data', () => {
  it.each([
    ['moons', () => data.moons({ n: 100 }), 2],
    ['circles', () => data.circles({ n: 100 }), 2],
    ['spirals', () => data.spirals({ n: 99 }), 3],
    ['blobs', () => data.blobs({ n: 90 }), 3],
    ['xor', () => data.xor({ n: 100 }), 2],
  ])('%s is seeded and balanced', (_name, make, classes) => {
    const a = make();
    const b = make();
    expect(Array.from(a.x.dataSync())).toEqual(Array.from(b.x.dataSync()));
    expect(a.x.shape[1]).toBe(2);
    const counts = new Array(classes).fill(0);
    for (const c of a.y.dataSync()) counts[c]++;
    for (const c of counts) expect(c).toBeGreaterThan(a.x.shape[0] / classes / 2);
  });

  it('digits: 1,797 images of 8×8 in [0, 1] with labels 0–9', () => {
    const d = data.digits();
    expect(d.x.shape).toEqual([1797, 64]);
    expect(d.images.shape).toEqual([1797, 1, 8, 8]);
    const px = d.x.dataSync();
    expect(Math.min(...px)).toBe(0);
    expect(Math.max(...px)).toBe(1);
    expect(new Set(d.y.dataSync()).size).toBe(10);
    expect(d.attribution).toContain('CC BY 4.0');
  });

  it('trainTestSplit and DataLoader cover every row once, seeded', () => {
    const x = tensor(Array.from({ length: 10 }, (_, i) => [i]));
    const y = tensor(Array.from({ length: 10 }, (_, i) => i % 2), { dtype: 'int32' });
    const s = data.trainTestSplit(x, y, { testSize: 0.3, seed: 4 });
    expect(s.xTest.shape).toEqual([3, 1]);
    expect([...s.xTrain.dataSync(), ...s.xTest.dataSync()].sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const loader = new data.DataLoader({ x, y }, { batchSize: 4, shuffle: true, seed: 1 });
    const first = [...loader].map((b) => Array.from(b.x.dataSync()));
    expect(first.map((b) => b.length)).toEqual([4, 4, 2]);
    expect(first.flat().sort((a, b) => a - b)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const second = [...loader].map((b) => Array.from(b.x.dataSync()));
    expect(second).not.toEqual(first);
    expect([...new data.DataLoader({ x, y }, { batchSize: 4, shuffle: true, seed: 1 })].map((b) => Array.from(b.x.dataSync()))).toEqual(first);
  });
});

describe('diag', () => {
  it('gradStats mirrors the "Layer i Gradient max/min" printout', () => {
    const model = new nn.Sequential(new nn.Linear(2, 3), new nn.ReLU(), new nn.Linear(3, 1));
    model.forward(tensor([[1, -1]])).square().sum().backward();
    const rows = diag.gradStats(model);
    expect(rows.map((r) => r.name)).toEqual(['0.weight', '0.bias', '2.weight', '2.bias']);
    const g = model.parameters()[0].grad!.dataSync();
    expect(rows[0].max).toBe(Math.max(...g));
    expect(rows[0].min).toBe(Math.min(...g));
    expect(diag.formatGradStats(rows).split('\n')[0]).toBe(`Layer 1 Gradient max/min: ${Math.max(...g).toFixed(4)} / ${Math.min(...g).toFixed(4)}`);
    expect(rows.every((r) => r.finite)).toBe(true);
  });

  it('activationStats finds dead units and sparsity', () => {
    const lin = new nn.Linear(2, 3);
    lin.loadStateDict({ weight: { shape: [3, 2], dtype: 'float32', values: [1, 0, -1, 0, 0, 0] }, bias: { shape: [3], dtype: 'float32', values: [0, -5, 0] } });
    const model = new nn.Sequential(lin, new nn.ReLU());
    const [s] = diag.activationStats(model, tensor([[1, 2], [3, 4]]));
    // unit 0 = x0 > 0 alive; unit 1 = -x0 - 5 dead; unit 2 = 0 dead
    expect(s.deadFraction).toBeCloseTo(2 / 3);
    expect(s.sparsity).toBeCloseTo(4 / 6);
    expect(s.meanActivation).toBeCloseTo(4 / 6);
  });

  it('oneSidedDerivative of relu at 0 tends to 0 from the left and 1 from the right', () => {
    const rows = diag.oneSidedDerivative((x) => relu(tensor([x], { dtype: 'float64' })).item(), 0);
    expect(rows.every((r) => r.left === 0 && r.right === 1)).toBe(true);
    const sq = diag.oneSidedDerivative((x) => x * x, 1, [1e-1, 1e-4]);
    expect(sq[1].left).toBeCloseTo(2, 3);
    expect(sq[1].right).toBeCloseTo(2, 3);
  });

  it('kinkHits counts and resets', () => {
    diag.kinkHits.reset();
    relu(tensor([0, 1], { requiresGrad: true })).sum().backward();
    expect(diag.kinkHits()).toEqual({ relu: 1 });
    diag.kinkHits.reset();
    expect(diag.kinkHits()).toEqual({});
  });
});
