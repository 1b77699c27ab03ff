/** One module per activation, wrapping the functional ops with their options. */
import * as F from '../engine';
import type { Tensor } from '../engine';
import { Module } from './module';
import { activationRegistry } from './layers';
import * as init from './init';

type Options<Op> = Op extends (x: never, options?: infer O) => Tensor ? O : never;

/** A module applying a functional activation with fixed options. */
export class Activation<O = unknown> extends Module {
  constructor(
    readonly activationName: string,
    private readonly op: (x: Tensor, options?: O) => Tensor,
    readonly options?: O,
  ) {
    super();
  }

  forward(x: Tensor): Tensor {
    return this.op(x, this.options);
  }

  protected override describe(): string {
    const opts = this.options === undefined ? '' : Object.entries(this.options as object).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(', ');
    return `${this.activationName}(${opts})`;
  }
}

/** A named Activation subclass for a functional op, e.g. `new ReLU()` or `new LeakyReLU({negativeSlope: 0.2})`. */
function activation<Op extends (x: Tensor, options?: never) => Tensor>(name: string, op: Op): new (options?: Options<Op>) => Activation<Options<Op>> {
  const cls = class extends Activation<Options<Op>> {
    constructor(options?: Options<Op>) {
      super(name, op as (x: Tensor, options?: Options<Op>) => Tensor, options);
    }
  };
  Object.defineProperty(cls, 'name', { value: name });
  return cls;
}

export const ReLU = activation('ReLU', F.relu);
export const LeakyReLU = activation('LeakyReLU', F.leakyRelu);
export const ELU = activation('ELU', F.elu);
export const SELU = activation('SELU', F.selu);
export const CELU = activation('CELU', F.celu);
export const GELU = activation('GELU', F.gelu);
export const SiLU = activation('SiLU', F.silu);
export const Mish = activation('Mish', F.mish);
export const Softplus = activation('Softplus', F.softplus);
export const ReLU6 = activation('ReLU6', F.relu6);
export const Hardtanh = activation('Hardtanh', F.hardtanh);
export const Hardsigmoid = activation('Hardsigmoid', F.hardsigmoid);
export const Hardswish = activation('Hardswish', F.hardswish);
export const Sigmoid = activation('Sigmoid', F.sigmoid);
export const Tanh = activation('Tanh', F.tanh);
export const CReLU = activation('CReLU', F.crelu);

/** Randomised leaky ReLU: samples slopes in training mode, uses their mean in eval (PyTorch's defaults). */
export class RReLU extends Module {
  constructor(readonly options: { lower?: number; upper?: number } = {}) {
    super();
  }
  forward(x: Tensor): Tensor {
    return F.rrelu(x, { ...this.options, training: this.training });
  }
}

/** A learnable leaky ReLU: one shared weight, or one per channel (dim 1); PyTorch's init 0.25. */
export class PReLU extends Module {
  weight: Tensor;

  constructor({ numParameters = 1, init: value = 0.25 }: { numParameters?: number; init?: number } = {}) {
    super();
    this.weight = init.constant(F.zeros([numParameters]).requiresGrad_(), value);
  }

  forward(x: Tensor): Tensor {
    return F.prelu(x, this.weight);
  }

  protected override describe(): string {
    return `PReLU(numParameters=${this.weight.size})`;
  }
}

// names accepted by Dense's `activation` option (Keras style, plus our camelCase op names)
const byName: Record<string, (x: Tensor) => Tensor> = {
  relu: (x) => F.relu(x), leakyRelu: (x) => F.leakyRelu(x), elu: (x) => F.elu(x), selu: (x) => F.selu(x), celu: (x) => F.celu(x),
  gelu: (x) => F.gelu(x), silu: (x) => F.silu(x), swish: (x) => F.silu(x), mish: (x) => F.mish(x), softplus: (x) => F.softplus(x),
  relu6: (x) => F.relu6(x), hardtanh: (x) => F.hardtanh(x), hardsigmoid: (x) => F.hardsigmoid(x), hardswish: (x) => F.hardswish(x),
  sigmoid: (x) => F.sigmoid(x), tanh: (x) => F.tanh(x), softmax: (x) => F.softmax(x, -1),
};
for (const [name, fn] of Object.entries(byName)) activationRegistry.set(name, fn);
