import { allocate, checkDType, type DType } from './dtype';
import { ValueError } from './errors';
import { defaultGenerator, type Generator } from './random';
import { checkShape, sizeOf } from './shape';
import { Tensor, type TensorOptions } from './tensor';

export interface RandomOptions extends TensorOptions {
  /** Draw from this generator instead of the global one seeded by `manualSeed`. */
  generator?: Generator;
}

function make(op: string, shape: readonly number[], options: TensorOptions, fill: (data: ReturnType<typeof allocate>) => void): Tensor {
  const s = checkShape(op, shape);
  const dtype: DType = options.dtype === undefined ? 'float32' : checkDType(op, options.dtype);
  const data = allocate(dtype, sizeOf(s));
  fill(data);
  return Tensor.fromData(data, s, options.requiresGrad ?? false);
}

export function zeros(shape: readonly number[], options: TensorOptions = {}): Tensor {
  return make('zeros', shape, options, () => undefined);
}

export function ones(shape: readonly number[], options: TensorOptions = {}): Tensor {
  return make('ones', shape, options, (d) => d.fill(1));
}

export function full(shape: readonly number[], value: number, options: TensorOptions = {}): Tensor {
  return make('full', shape, options, (d) => d.fill(value));
}

/** Zeros or ones shaped like another tensor, with its dtype unless overridden. */
export function zerosLike(t: Tensor, options: TensorOptions = {}): Tensor {
  return zeros(t.shape, { dtype: t.dtype, ...options });
}
export function onesLike(t: Tensor, options: TensorOptions = {}): Tensor {
  return ones(t.shape, { dtype: t.dtype, ...options });
}

/** Values from start (inclusive) to end (exclusive) in steps; `arange(n)` counts from 0. */
export function arange(start: number, end?: number, step = 1, options: TensorOptions = {}): Tensor {
  const [from, to] = end === undefined ? [0, start] : [start, end];
  if (step === 0 || !Number.isFinite(step)) throw new ValueError('arange', `step must be a nonzero finite number, got ${step}`);
  const n = Math.max(0, Math.ceil((to - from) / step));
  return make('arange', [n], options, (d) => {
    for (let i = 0; i < n; i++) d[i] = from + i * step;
  });
}

/** `steps` evenly spaced values from start to end, both included. */
export function linspace(start: number, end: number, steps: number, options: TensorOptions = {}): Tensor {
  if (!Number.isInteger(steps) || steps < 0) throw new ValueError('linspace', `steps must be a non-negative integer, got ${steps}`);
  return make('linspace', [steps], options, (d) => {
    const delta = steps > 1 ? (end - start) / (steps - 1) : 0;
    for (let i = 0; i < steps; i++) d[i] = i === steps - 1 && steps > 1 ? end : start + i * delta;
  });
}

/** The n×m identity matrix (m defaults to n). */
export function eye(n: number, m = n, options: TensorOptions = {}): Tensor {
  return make('eye', [n, m], options, (d) => {
    for (let i = 0; i < Math.min(n, m); i++) d[i * m + i] = 1;
  });
}

/** Uniform samples in [0, 1). */
export function rand(shape: readonly number[], { generator = defaultGenerator, ...options }: RandomOptions = {}): Tensor {
  return make('rand', shape, options, (d) => {
    for (let i = 0; i < d.length; i++) d[i] = generator.uniform();
  });
}

/** Standard normal samples. */
export function randn(shape: readonly number[], { generator = defaultGenerator, ...options }: RandomOptions = {}): Tensor {
  return make('randn', shape, options, (d) => {
    for (let i = 0; i < d.length; i++) d[i] = generator.normal();
  });
}

/** Uniform integers in [low, high), int32 unless another dtype is asked for. */
export function randint(low: number, high: number, shape: readonly number[], { generator = defaultGenerator, ...options }: RandomOptions = {}): Tensor {
  if (!Number.isInteger(low) || !Number.isInteger(high) || high <= low) throw new ValueError('randint', `needs integers low < high, got low ${low}, high ${high}`);
  return make('randint', shape, { dtype: 'int32', ...options }, (d) => {
    for (let i = 0; i < d.length; i++) d[i] = generator.int(low, high);
  });
}

export interface TruncatedNormalOptions extends RandomOptions {
  mean?: number;
  std?: number;
  /** Samples outside [a, b] are redrawn; the default is two standard deviations either side of the mean. */
  a?: number;
  b?: number;
}

/** Normal samples redrawn until they fall within [a, b] (as `torch.nn.init.trunc_normal_`). */
export function truncatedNormal(shape: readonly number[], { mean = 0, std = 1, a, b, generator = defaultGenerator, ...options }: TruncatedNormalOptions = {}): Tensor {
  const lo = a ?? mean - 2 * std;
  const hi = b ?? mean + 2 * std;
  if (!(std > 0) || !(lo < hi) || hi < mean - 10 * std || lo > mean + 10 * std) {
    throw new ValueError('truncatedNormal', `needs std > 0 and an interval [a, b] near the mean; got mean ${mean}, std ${std}, [${lo}, ${hi}]`);
  }
  return make('truncatedNormal', shape, options, (d) => {
    for (let i = 0; i < d.length; i++) {
      let v: number;
      do v = mean + std * generator.normal();
      while (v < lo || v > hi);
      d[i] = v;
    }
  });
}
