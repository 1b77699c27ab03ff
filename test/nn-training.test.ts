/** Acceptance: seeded, deterministic trainings that must reach their targets. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { data, evaluate, fit, Generator, manualSeed, nn, optim, tensor, Tensor } from '../src';

describe('training', () => {
  it('an MLP reaches ≥ 97% accuracy on moons', () => {
    manualSeed(0);
    const train = data.moons({ n: 300, noise: 0.15, seed: 1 });
    const test = data.moons({ n: 200, noise: 0.15, seed: 2 });
    const model = new nn.Sequential(new nn.Linear(2, 32), new nn.ReLU(), new nn.Linear(32, 32), new nn.ReLU(), new nn.Linear(32, 2));
    const history = fit(model, train, { epochs: 40, batchSize: 32, optimizer: new optim.Adam(model.parameters(), { lr: 0.01 }), metrics: ['accuracy'] });
    expect(history.loss.at(-1)!).toBeLessThan(history.loss[0]);
    expect(evaluate(model, test).accuracy).toBeGreaterThanOrEqual(0.97);
  });

  it('a small CNN reaches ≥ 95% test accuracy on digits', () => {
    manualSeed(0);
    const d = data.digits();
    const s = data.trainTestSplit(d.images, d.y, { testSize: 0.25, seed: 0 });
    const model = new nn.Sequential(new nn.Conv2d(1, 8, 3, { padding: 1 }), new nn.ReLU(), new nn.MaxPool2d(2), new nn.Flatten(), new nn.Linear(128, 10));
    fit(model, { x: s.xTrain, y: s.yTrain }, { epochs: 6, batchSize: 32, optimizer: new optim.Adam(model.parameters(), { lr: 0.01 }) });
    expect(evaluate(model, { x: s.xTest, y: s.yTest }).accuracy).toBeGreaterThanOrEqual(0.95);
  });

  it('an RNN with relu learns to sum a sequence', () => {
    manualSeed(3);
    const make = (n: number, seed: number) => {
      const g = new Generator(seed);
      const xs: number[][][] = [];
      const ys: number[][] = [];
      for (let i = 0; i < n; i++) {
        const seq = Array.from({ length: 5 }, () => [g.uniform()]);
        xs.push(seq);
        ys.push([seq.reduce((s, [v]) => s + v, 0)]);
      }
      return { x: tensor(xs), y: tensor(ys) };
    };
    class Summer extends nn.Module {
      rnn = new nn.RNN(1, 8, { nonlinearity: 'relu', batchFirst: true });
      head = new nn.Linear(8, 1);
      forward(x: Tensor): Tensor {
        const { hN } = this.rnn.forwardWithState(x);
        return this.head.forward(hN.slice(0));
      }
    }
    const model = new Summer();
    const train = make(256, 1);
    const test = make(64, 2);
    const baseline = evaluate(model, test, { loss: 'mse', metrics: [] }).loss;
    fit(model, train, { epochs: 60, batchSize: 32, loss: 'mse', optimizer: new optim.Adam(model.parameters(), { lr: 0.01 }) });
    const after = evaluate(model, test, { loss: 'mse', metrics: [] }).loss;
    expect(after).toBeLessThan(0.01);
    expect(after).toBeLessThan(baseline / 20);
  });

  it("PReLU's weight receives gradients and moves", () => {
    manualSeed(0);
    const act = new nn.PReLU();
    const model = new nn.Sequential(new nn.Linear(2, 8), act, new nn.Linear(8, 2));
    expect(act.weight.item()).toBe(0.25);
    const opt = new optim.SGD(model.parameters(), { lr: 0.1 });
    const d = data.moons({ n: 64, seed: 0 });
    nn.functional.crossEntropy(model.forward(d.x), d.y).backward();
    expect(act.weight.grad).not.toBeNull();
    expect(act.weight.grad!.item()).not.toBe(0);
    opt.step();
    expect(act.weight.item()).not.toBe(0.25);
  });

  it('save, load and predict round-trip exactly', () => {
    manualSeed(0);
    const make = () => new nn.Sequential(new nn.Linear(4, 6), new nn.ReLU(), new nn.BatchNorm1d(6), new nn.Linear(6, 3));
    const a = make();
    a.forward(tensor([[1, 2, 3, 4], [0, 1, 0, 1], [2, 2, 2, 2]]));
    a.eval();
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'relulab-')), 'model.json');
    a.save(file);
    manualSeed(99);
    const b = make().load(file).eval();
    const x = tensor([[0.5, -1, 2, 0], [1, 1, 1, 1]]);
    expect(Array.from(b.forward(x).dataSync())).toEqual(Array.from(a.forward(x).dataSync()));
    expect(Object.keys(a.stateDict())).toEqual(['0.weight', '0.bias', '2.weight', '2.bias', '3.weight', '3.bias', '2.runningMean', '2.runningVar']);
  });

  it('the same seed trains to bit-identical weights', () => {
    const run = () => {
      manualSeed(5);
      const model = new nn.Sequential(new nn.Linear(2, 8), new nn.ReLU(), new nn.Linear(8, 2));
      fit(model, data.xor({ n: 64, seed: 1 }), { epochs: 3, batchSize: 16 });
      return model.parameters().map((p) => Array.from(p.dataSync()));
    };
    expect(run()).toEqual(run());
  });
});
