import {
  avgPool2d, conv2d, dropout, flatten, linear, maxPool2d, noGrad, relu, ShapeError, stack, tanh, Tensor, tidy, ValueError, zeros,
  formatShape, type Conv2dOptions, type Pair, type Pool2dOptions, type UnaryOp,
} from '../engine';
import { Module } from './module';
import * as init from './init';

/**
 * A zero leaf that requires gradients. Made in a memory scope, a large one lives on the tensor heap (left to
 * the garbage collector), where the matrix product and the update read and write it in place.
 */
function parameter(shape: number[]): Tensor {
  return tidy(() => zeros(shape)).requiresGrad_();
}

/**
 * y = x·Wᵀ + b with weight [out, in]. PyTorch's default init: W ~ U(±1/√in) (kaiming uniform with a = √5)
 * and b ~ U(±1/√in).
 */
export class Linear extends Module {
  weight: Tensor;
  bias?: Tensor;

  constructor(readonly inFeatures: number, readonly outFeatures: number, { bias = true } = {}) {
    super();
    this.weight = init.kaimingUniform(parameter([outFeatures, inFeatures]), { a: Math.sqrt(5) });
    if (bias) {
      const bound = 1 / Math.sqrt(inFeatures);
      this.bias = init.uniform(parameter([outFeatures]), -bound, bound);
    }
  }

  forward(x: Tensor): Tensor {
    return linear(x, this.weight, this.bias);
  }

  protected override describe(): string {
    return `Linear(inFeatures=${this.inFeatures}, outFeatures=${this.outFeatures}, bias=${this.bias !== undefined})`;
  }
}

/** An activation given by name, as Keras's `activation: 'relu'`, or any unary op such as `leakyRelu`. */
export type ActivationSpec = string | UnaryOp<Record<string, unknown>> | ((x: Tensor) => Tensor);

/**
 * A Keras-style fully connected layer: `Dense(units, {activation, inputDim})`, with Keras's defaults:
 * glorot-uniform weights and zero bias. Without `inputDim` the input size is taken from the first call.
 */
export class Dense extends Module {
  weight?: Tensor;
  bias: Tensor;
  private readonly activationFn: ((x: Tensor) => Tensor) | null;
  readonly activationName: string;

  constructor(readonly units: number, { activation, inputDim, useBias = true }: { activation?: ActivationSpec; inputDim?: number; useBias?: boolean } = {}) {
    super();
    if (!Number.isInteger(units) || units <= 0) throw new ValueError('Dense', `units must be a positive integer, got ${units}`);
    this.bias = useBias ? parameter([units]) : zeros([units]);
    [this.activationFn, this.activationName] = resolveActivation(activation);
    if (inputDim !== undefined) this.build(inputDim);
  }

  private build(inputDim: number): Tensor {
    this.weight = init.xavierUniform(parameter([this.units, inputDim]));
    return this.weight;
  }

  forward(x: Tensor): Tensor {
    const weight = this.weight ?? this.build(x.shape[x.ndim - 1]);
    const y = linear(x, weight, this.bias);
    return this.activationFn === null ? y : this.activationFn(y);
  }

  protected override describe(): string {
    return `Dense(units=${this.units}${this.weight ? `, inputDim=${this.weight.shape[1]}` : ''}, activation=${this.activationName})`;
  }
}

// filled by activations.ts, which imports this module: name -> op
export const activationRegistry = new Map<string, (x: Tensor) => Tensor>();

function resolveActivation(spec: ActivationSpec | undefined): [((x: Tensor) => Tensor) | null, string] {
  if (spec === undefined || spec === 'linear') return [null, 'linear'];
  if (typeof spec === 'string') {
    const fn = activationRegistry.get(spec);
    if (fn === undefined) throw new ValueError('Dense', `unknown activation ${JSON.stringify(spec)}; expected one of ${[...activationRegistry.keys()].join(', ')}`);
    return [fn, spec];
  }
  const name = (spec as Partial<UnaryOp<Record<string, unknown>>>).opName ?? spec.name ?? 'custom';
  return [(x) => spec(x), name];
}

/** 2-D convolution, weight [out, in, kh, kw], PyTorch's default init (kaiming uniform with a = √5). */
export class Conv2d extends Module {
  weight: Tensor;
  bias?: Tensor;
  private readonly options: Conv2dOptions;

  constructor(readonly inChannels: number, readonly outChannels: number, kernelSize: Pair, { bias = true, ...options }: Conv2dOptions & { bias?: boolean } = {}) {
    super();
    const [kh, kw] = typeof kernelSize === 'number' ? [kernelSize, kernelSize] : kernelSize;
    this.weight = init.kaimingUniform(parameter([outChannels, inChannels, kh, kw]), { a: Math.sqrt(5) });
    if (bias) {
      const bound = 1 / Math.sqrt(inChannels * kh * kw);
      this.bias = init.uniform(parameter([outChannels]), -bound, bound);
    }
    this.options = options;
  }

  forward(x: Tensor): Tensor {
    return conv2d(x, this.weight, this.bias, this.options);
  }

  protected override describe(): string {
    const [, , kh, kw] = this.weight.shape;
    const extras = Object.entries(this.options).map(([k, v]) => `, ${k}=${JSON.stringify(v)}`).join('');
    return `Conv2d(${this.inChannels}, ${this.outChannels}, kernelSize=[${kh}, ${kw}]${extras})`;
  }
}

export class MaxPool2d extends Module {
  constructor(readonly kernelSize: Pair, readonly options: Pool2dOptions = {}) {
    super();
  }
  forward(x: Tensor): Tensor {
    return maxPool2d(x, this.kernelSize, this.options);
  }
  protected override describe(): string {
    return `MaxPool2d(kernelSize=${JSON.stringify(this.kernelSize)})`;
  }
}

export class AvgPool2d extends Module {
  constructor(readonly kernelSize: Pair, readonly options: Pool2dOptions = {}) {
    super();
  }
  forward(x: Tensor): Tensor {
    return avgPool2d(x, this.kernelSize, this.options);
  }
  protected override describe(): string {
    return `AvgPool2d(kernelSize=${JSON.stringify(this.kernelSize)})`;
  }
}

/** Flattens all dimensions after the batch dimension. */
export class Flatten extends Module {
  forward(x: Tensor): Tensor {
    return flatten(x, 1);
  }
}

export class Dropout extends Module {
  constructor(readonly p = 0.5) {
    super();
    if (!(p >= 0 && p <= 1)) throw new ValueError('Dropout', `p must be in [0, 1], got ${p}`);
  }
  forward(x: Tensor): Tensor {
    return dropout(x, { p: this.p, training: this.training });
  }
  protected override describe(): string {
    return `Dropout(p=${this.p})`;
  }
}

/**
 * Batch normalisation over [N, C] (or [N, C, L]) inputs, as PyTorch: batch statistics in training (biased
 * variance to normalise, unbiased for the running estimate), running statistics in eval.
 */
export class BatchNorm1d extends Module {
  weight: Tensor;
  bias: Tensor;
  runningMean: Tensor;
  runningVar: Tensor;

  constructor(readonly numFeatures: number, readonly options: { eps?: number; momentum?: number } = {}) {
    super();
    this.weight = init.constant(parameter([numFeatures]), 1);
    this.bias = parameter([numFeatures]);
    this.runningMean = zeros([numFeatures]);
    this.runningVar = init.constant(zeros([numFeatures]), 1);
  }

  forward(x: Tensor): Tensor {
    const { eps = 1e-5, momentum = 0.1 } = this.options;
    if (x.ndim < 2 || x.shape[1] !== this.numFeatures) {
      throw new ShapeError('BatchNorm1d', [x.shape], `expected input [N, ${this.numFeatures}] or [N, ${this.numFeatures}, L], got ${formatShape(x.shape)}`);
    }
    const axes = x.ndim === 2 ? [0] : [0, 2];
    const shape = x.ndim === 2 ? [1, this.numFeatures] : [1, this.numFeatures, 1];
    let mean: Tensor;
    let variance: Tensor;
    if (this.training) {
      mean = x.mean(axes, { keepDims: true });
      variance = x.var(axes, { keepDims: true, correction: 0 });
      const n = axes.reduce((s, a) => s * x.shape[a], 1);
      noGrad(() => {
        this.runningMean.mul_(1 - momentum).add_(mean.detach().reshape([this.numFeatures]).mul(momentum));
        this.runningVar.mul_(1 - momentum).add_(variance.detach().reshape([this.numFeatures]).mul((momentum * n) / Math.max(n - 1, 1)));
      });
    } else {
      mean = this.runningMean.reshape(shape);
      variance = this.runningVar.reshape(shape);
    }
    const normed = x.sub(mean).div(variance.add(eps).sqrt());
    return normed.mul(this.weight.reshape(shape)).add(this.bias.reshape(shape));
  }

  protected override describe(): string {
    return `BatchNorm1d(${this.numFeatures})`;
  }
}

export interface RNNOptions {
  numLayers?: number;
  nonlinearity?: 'tanh' | 'relu';
  bias?: boolean;
  /** Input [N, L, H_in] instead of [L, N, H_in]. */
  batchFirst?: boolean;
  /** Dropout between layers (not after the last). */
  dropout?: number;
}

/**
 * An Elman RNN with PyTorch's equations: h_t = act(x_t·W_ihᵀ + b_ih + h_{t−1}·W_hhᵀ + b_hh), every weight
 * and bias ~ U(±1/√hidden). `forward(x, h0?)` returns the output [L, N, H] (or [N, L, H] batch-first);
 * `forwardWithState` also returns h_n [numLayers, N, H].
 */
export class RNN extends Module {
  readonly cells: RNNCell[];
  readonly numLayers: number;
  readonly nonlinearity: 'tanh' | 'relu';
  readonly batchFirst: boolean;
  readonly dropoutP: number;

  constructor(readonly inputSize: number, readonly hiddenSize: number, { numLayers = 1, nonlinearity = 'tanh', bias = true, batchFirst = false, dropout: p = 0 }: RNNOptions = {}) {
    super();
    if (nonlinearity !== 'tanh' && nonlinearity !== 'relu') throw new ValueError('RNN', `nonlinearity must be 'tanh' or 'relu', got ${JSON.stringify(nonlinearity)}`);
    this.numLayers = numLayers;
    this.nonlinearity = nonlinearity;
    this.batchFirst = batchFirst;
    this.dropoutP = p;
    this.cells = Array.from({ length: numLayers }, (_, l) => new RNNCell(l === 0 ? inputSize : hiddenSize, hiddenSize, bias));
  }

  forward(x: Tensor, h0?: Tensor): Tensor {
    return this.forwardWithState(x, h0).output;
  }

  forwardWithState(input: Tensor, h0?: Tensor): { output: Tensor; hN: Tensor } {
    const unbatched = input.ndim === 2;
    let x = unbatched ? input.unsqueeze(1) : this.batchFirst ? input.transpose(0, 1) : input;
    if (x.ndim !== 3 || x.shape[2] !== this.inputSize) {
      throw new ShapeError('RNN', [input.shape], `expected input [L, N, ${this.inputSize}]${this.batchFirst ? ' (batch first: [N, L, …])' : ''}, got ${formatShape(input.shape)}`);
    }
    const [steps, batch] = x.shape;
    const act = this.nonlinearity === 'relu' ? (t: Tensor) => relu(t) : (t: Tensor) => tanh(t);
    const finals: Tensor[] = [];
    this.cells.forEach((cell, l) => {
      let h = h0 !== undefined ? (unbatched ? h0.slice(l).unsqueeze(0) : h0.slice(l)) : zeros([batch, this.hiddenSize], { dtype: x.dtype });
      const outputs: Tensor[] = [];
      for (let t = 0; t < steps; t++) {
        h = act(cell.step(x.slice(t), h));
        outputs.push(h);
      }
      finals.push(h);
      x = stack(outputs, 0);
      if (this.dropoutP > 0 && l < this.numLayers - 1) x = dropout(x, { p: this.dropoutP, training: this.training });
    });
    let output = this.batchFirst && !unbatched ? x.transpose(0, 1) : x;
    let hN = stack(finals, 0);
    if (unbatched) {
      output = output.squeeze(1);
      hN = hN.squeeze(1);
    }
    return { output, hN };
  }

  override namedChildren(): [string, Module][] {
    return this.cells.map((c, l) => [`l${l}`, c]);
  }

  protected override describe(): string {
    return `RNN(${this.inputSize}, ${this.hiddenSize}, numLayers=${this.numLayers}, nonlinearity='${this.nonlinearity}')`;
  }
}

/** One layer of an RNN: the affine part of a step (the nonlinearity is applied by RNN). */
export class RNNCell extends Module {
  weightIh: Tensor;
  weightHh: Tensor;
  biasIh?: Tensor;
  biasHh?: Tensor;

  constructor(inputSize: number, hiddenSize: number, bias = true) {
    super();
    const k = 1 / Math.sqrt(hiddenSize);
    this.weightIh = init.uniform(parameter([hiddenSize, inputSize]), -k, k);
    this.weightHh = init.uniform(parameter([hiddenSize, hiddenSize]), -k, k);
    if (bias) {
      this.biasIh = init.uniform(parameter([hiddenSize]), -k, k);
      this.biasHh = init.uniform(parameter([hiddenSize]), -k, k);
    }
  }

  step(x: Tensor, h: Tensor): Tensor {
    return linear(x, this.weightIh, this.biasIh).add(linear(h, this.weightHh, this.biasHh));
  }

  forward(x: Tensor, h: Tensor): Tensor {
    return this.step(x, h);
  }
}

