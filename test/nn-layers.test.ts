import { describe, expect, it } from 'vitest';
import { manualSeed, nn, randn, relu, tensor, Tensor, ValueError, ShapeError } from '../src';

const maxAbs = (t: Tensor) => Math.max(...Array.from(t.dataSync(), Math.abs));

describe('layers', () => {
  it('Linear uses PyTorch layout and init bounds', () => {
    manualSeed(0);
    const l = new nn.Linear(400, 300);
    expect(l.weight.shape).toEqual([300, 400]);
    expect(maxAbs(l.weight)).toBeLessThanOrEqual(1 / Math.sqrt(400));
    expect(maxAbs(l.weight)).toBeGreaterThan(0.9 / Math.sqrt(400));
    expect(maxAbs(l.bias!)).toBeLessThanOrEqual(1 / Math.sqrt(400));
    expect(l.forward(randn([7, 400])).shape).toEqual([7, 300]);
  });

  it('Dense follows Keras: glorot-uniform weights, zero bias, input size from the first call', () => {
    manualSeed(0);
    const d = new nn.Dense(300, { activation: 'relu' });
    expect(d.weight).toBeUndefined();
    const y = d.forward(randn([5, 400]));
    expect(y.shape).toEqual([5, 300]);
    expect(Math.min(...y.dataSync())).toBe(0);
    expect(maxAbs(d.weight!)).toBeLessThanOrEqual(Math.sqrt(6 / 700));
    expect(maxAbs(d.weight!)).toBeGreaterThan(0.9 * Math.sqrt(6 / 700));
    expect(Array.from(d.bias.dataSync()).every((v) => v === 0)).toBe(true);
    expect(() => new nn.Dense(4, { activation: 'relu7' })).toThrow(ValueError);
  });

  it('init follows the documented bounds and gains', () => {
    manualSeed(1);
    const w = randn([300, 400]).requiresGrad_();
    nn.init.kaimingUniform(w, { nonlinearity: 'relu' });
    expect(maxAbs(w)).toBeLessThanOrEqual(Math.sqrt(6 / 400));
    nn.init.heNormalKeras(w);
    expect(maxAbs(w)).toBeLessThanOrEqual((2 * Math.sqrt(2 / 400)) / 0.87962566103423978 + 1e-7);
    expect(nn.init.calculateGain('tanh')).toBeCloseTo(5 / 3);
    expect(nn.init.calculateGain('leakyRelu')).toBeCloseTo(1.4141428569978354, 12);
  });

  it('Conv2d, pooling and Flatten compose with the expected shapes', () => {
    manualSeed(0);
    const model = new nn.Sequential(new nn.Conv2d(1, 20, 5), new nn.ReLU(), new nn.Conv2d(20, 64, 5), new nn.ReLU());
    expect(model.forward(randn([2, 1, 28, 28])).shape).toEqual([2, 64, 20, 20]);
    const same = new nn.Conv2d(3, 32, 5, { padding: 'same' });
    expect(same.forward(randn([1, 3, 9, 9])).shape).toEqual([1, 32, 9, 9]);
    expect(new nn.Flatten().forward(new nn.MaxPool2d(2).forward(randn([2, 4, 6, 6]))).shape).toEqual([2, 36]);
  });

  it('RNN follows PyTorch equations and shapes, with two biases per layer', () => {
    manualSeed(0);
    const rnn = new nn.RNN(10, 20, { numLayers: 2, nonlinearity: 'relu' });
    expect(rnn.namedParameters().map(([n, p]) => `${n} ${p.shape.join('x')}`)).toEqual([
      'l0.weightIh 20x10', 'l0.weightHh 20x20', 'l0.biasIh 20', 'l0.biasHh 20',
      'l1.weightIh 20x20', 'l1.weightHh 20x20', 'l1.biasIh 20', 'l1.biasHh 20',
    ]);
    const x = randn([5, 3, 10]);
    const { output, hN } = rnn.forwardWithState(x);
    expect(output.shape).toEqual([5, 3, 20]);
    expect(hN.shape).toEqual([2, 3, 20]);
    // the first layer by hand: h_t = relu(x_t W_ihᵀ + b_ih + h_{t-1} W_hhᵀ + b_hh)
    const [c0] = rnn.cells;
    let h = tensor(new Array(3).fill(new Array(20).fill(0)));
    const hs: Tensor[] = [];
    for (let t = 0; t < 5; t++) {
      h = relu(x.slice(t).matmul(c0.weightIh.T).add(c0.biasIh!).add(h.matmul(c0.weightHh.T)).add(c0.biasHh!));
      hs.push(h);
    }
    const layer1 = new nn.RNN(10, 20, { nonlinearity: 'relu' });
    layer1.loadStateDict(Object.fromEntries(Object.entries(rnn.stateDict()).filter(([k]) => k.startsWith('l0.'))));
    const out1 = layer1.forward(x).dataSync();
    hs.forEach((ht, t) => Array.from(ht.dataSync()).forEach((v, i) => expect(out1[t * 60 + i]).toBeCloseTo(v, 5)));
    expect(rnn.forward(randn([3, 5, 10]).transpose(0, 1)).shape).toEqual([5, 3, 20]);
    expect(() => rnn.forward(randn([5, 3, 7]))).toThrow(ShapeError);
  });

  it('BatchNorm1d normalises in training and uses running statistics in eval', () => {
    const bn = new nn.BatchNorm1d(2);
    const x = tensor([[1, 10], [3, 20], [5, 30]]);
    const y = bn.forward(x);
    expect(Math.abs(y.mean(0).dataSync()[0])).toBeLessThan(1e-6);
    expect(y.var(0, { correction: 0 }).dataSync()[1]).toBeCloseTo(1, 3);
    expect(bn.runningMean.toArray()).toEqual([Math.fround(0.3), 2]);
    bn.eval();
    expect(bn.forward(x).shape).toEqual([3, 2]);
  });

  it('modules print like PyTorch and toggle training mode recursively', () => {
    const m = new nn.Sequential(new nn.Linear(2, 3), new nn.LeakyReLU({ negativeSlope: 0.2 }), new nn.Dropout(0.5));
    expect(m.toString()).toBe('Sequential(\n  (0): Linear(inFeatures=2, outFeatures=3, bias=true)\n  (1): LeakyReLU(negativeSlope=0.2)\n  (2): Dropout(p=0.5)\n)');
    m.eval();
    expect(m.namedModules().every(([, c]) => !c.training)).toBe(true);
    const x = randn([4, 2]);
    expect(Array.from(m.forward(x).dataSync())).toEqual(Array.from(m.forward(x).dataSync()));
  });

  it('loadStateDict rejects a state that does not fit', () => {
    const a = new nn.Linear(2, 3);
    expect(() => a.loadStateDict({})).toThrow('loadStateDict: state does not fit the module: missing [weight, bias], unexpected []');
    const state = new nn.Linear(3, 3).stateDict();
    expect(() => a.loadStateDict(state)).toThrow('loadStateDict: weight: saved shape [3, 3] does not match [3, 2]');
  });
});
