/**
 * Weight initialisers, with PyTorch's and Keras's conventions (torch.nn.init and keras.initializers).
 * Each fills a tensor in place (under noGrad) and returns it. Fans follow PyTorch's layout: a Linear weight
 * is [out, in] and a Conv2d weight [out, in, kh, kw], so fanIn = in·kh·kw and fanOut = out·kh·kw.
 */
import { ValueError } from '../engine';
import { defaultGenerator, type Generator } from '../engine';
import { noGrad, Tensor } from '../engine';

export type Nonlinearity = 'linear' | 'conv' | 'sigmoid' | 'tanh' | 'relu' | 'leakyRelu' | 'selu';

/** PyTorch's `calculate_gain`: the factor that keeps the variance of activations through a nonlinearity. */
export function calculateGain(nonlinearity: Nonlinearity, param?: number): number {
  switch (nonlinearity) {
    case 'linear':
    case 'conv':
    case 'sigmoid':
      return 1;
    case 'tanh':
      return 5 / 3;
    case 'relu':
      return Math.SQRT2;
    case 'leakyRelu': {
      const slope = param ?? 0.01;
      return Math.sqrt(2 / (1 + slope * slope));
    }
    case 'selu':
      return 3 / 4;
    default:
      throw new ValueError('calculateGain', `unknown nonlinearity ${JSON.stringify(nonlinearity)}`);
  }
}

export function fans(t: Tensor): { fanIn: number; fanOut: number } {
  if (t.ndim < 2) throw new ValueError('init', `fans need a tensor of rank ≥ 2, got shape [${t.shape.join(', ')}]`);
  const receptive = t.shape.slice(2).reduce((a, b) => a * b, 1);
  return { fanIn: t.shape[1] * receptive, fanOut: t.shape[0] * receptive };
}

function fill(t: Tensor, sample: () => number): Tensor {
  const values = new Float64Array(t.size);
  for (let i = 0; i < values.length; i++) values[i] = sample();
  return write(t, values);
}

/** Writes row-major values into t in place (bumping its version, so stale graphs notice). */
function write(t: Tensor, values: Float64Array): Tensor {
  noGrad(() => t.copy_(Tensor.fromData(values, t.shape)));
  return t;
}

export interface InitOptions {
  generator?: Generator;
}

export function uniform(t: Tensor, low: number, high: number, { generator = defaultGenerator }: InitOptions = {}): Tensor {
  return fill(t, () => low + (high - low) * generator.uniform());
}

export function normal(t: Tensor, mean = 0, std = 1, { generator = defaultGenerator }: InitOptions = {}): Tensor {
  return fill(t, () => mean + std * generator.normal());
}

/** Normal samples redrawn until within two standard deviations, as Keras's truncated initialisers. */
export function truncatedNormal(t: Tensor, mean = 0, std = 1, { generator = defaultGenerator }: InitOptions = {}): Tensor {
  return fill(t, () => {
    let v: number;
    do v = generator.normal();
    while (Math.abs(v) > 2);
    return mean + std * v;
  });
}

export function zeros(t: Tensor): Tensor {
  return constant(t, 0);
}

export function constant(t: Tensor, value: number): Tensor {
  return write(t, new Float64Array(t.size).fill(value));
}

/** Glorot/Xavier uniform: U(±gain·√(6/(fanIn+fanOut))); Keras's default `glorot_uniform` with gain 1. */
export function xavierUniform(t: Tensor, { gain = 1, ...options }: InitOptions & { gain?: number } = {}): Tensor {
  const { fanIn, fanOut } = fans(t);
  const bound = gain * Math.sqrt(6 / (fanIn + fanOut));
  return uniform(t, -bound, bound, options);
}

/** Glorot/Xavier normal: N(0, gain·√(2/(fanIn+fanOut))). */
export function xavierNormal(t: Tensor, { gain = 1, ...options }: InitOptions & { gain?: number } = {}): Tensor {
  const { fanIn, fanOut } = fans(t);
  return normal(t, 0, gain * Math.sqrt(2 / (fanIn + fanOut)), options);
}

export interface KaimingOptions extends InitOptions {
  /** The negative slope for leakyRelu (PyTorch's `a`). */
  a?: number;
  mode?: 'fanIn' | 'fanOut';
  nonlinearity?: Nonlinearity;
}

/** He/Kaiming uniform, as PyTorch: U(±gain·√(3/fan)); with relu that is U(±√(6/fanIn)). */
export function kaimingUniform(t: Tensor, { a = 0, mode = 'fanIn', nonlinearity = 'leakyRelu', ...options }: KaimingOptions = {}): Tensor {
  const fan = fans(t)[mode];
  const bound = calculateGain(nonlinearity, a) * Math.sqrt(3 / fan);
  return uniform(t, -bound, bound, options);
}

/** He/Kaiming normal, as PyTorch: N(0, gain/√fan), not truncated. */
export function kaimingNormal(t: Tensor, { a = 0, mode = 'fanIn', nonlinearity = 'leakyRelu', ...options }: KaimingOptions = {}): Tensor {
  const fan = fans(t)[mode];
  return normal(t, 0, calculateGain(nonlinearity, a) / Math.sqrt(fan), options);
}

/** Keras's `HeNormal`: a truncated normal with stddev √(2/fanIn)/0.87962566103423978 before truncation. */
export function heNormalKeras(t: Tensor, options: InitOptions = {}): Tensor {
  return truncatedNormal(t, 0, Math.sqrt(2 / fans(t).fanIn) / 0.87962566103423978, options);
}

/** Keras's `HeUniform`: U(±√(6/fanIn)). */
export function heUniformKeras(t: Tensor, options: InitOptions = {}): Tensor {
  const bound = Math.sqrt(6 / fans(t).fanIn);
  return uniform(t, -bound, bound, options);
}

// short aliases under the other common names
export { xavierUniform as glorotUniform, xavierNormal as glorotNormal, kaimingUniform as heUniform, kaimingNormal as heNormal };
