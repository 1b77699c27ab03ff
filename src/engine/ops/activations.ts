/**
 * The ReLU family. Each activation states its derivative at every kink, following PyTorch 1.13,
 * except hardswish, which uses the corrected rule.
 *
 * Backward passes multiply the upstream gradient by the local derivative, so a zero derivative keeps the
 * sign of a negative upstream gradient (−0), as TensorFlow and TF.js do; PyTorch selects a literal +0.
 */
import * as wasm from '../wasm/elementwise';
import erf from '@stdlib/math-base-special-erf';
import { allocate, floatResult, promote } from '../dtype';
import { ShapeError, ValueError } from '../errors';
import { defaultGenerator, Generator } from '../random';
import { registerOp } from '../registry';
import { formatShape, sizeOf } from '../shape';
import { fromOp, isGradEnabled, Tensor } from '../tensor';
import { add, asTensor, defineUnary, div, exp, gt, mul, neg, recordKinkHits, resolveParams, square, sub, type TensorLike, where } from './elementwise';
import { perDType } from './kernels';
import { concat, reshape } from './views';

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);
const INV_SQRT_2PI = 1 / Math.sqrt(2 * Math.PI);
const GELU_TANH_COEF = 0.044715;

/** PyTorch's SELU constants (native/Activation.cpp). */
export const SELU_ALPHA = 1.6732632423543772848170429916717;
export const SELU_SCALE = 1.0507009873554804934193349852946;

function sigmoidScalar(x: number): number {
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
}

function softplusScalar(x: number): number {
  // log(1 + e^x) without overflow: for large x it is x + log1p(e^-x)
  return x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x));
}

export const sigmoid = defineUnary({
  name: 'sigmoid',
  params: {},
  forward: (x) => sigmoidScalar(x),
  derivative: (_x, y) => y * (1 - y),
  derivativeTensor: (_x, y) => mul(y, sub(1, y)),
});

export const tanh = defineUnary({
  name: 'tanh',
  params: {},
  forward: (x) => Math.tanh(x),
  derivative: (_x, y) => 1 - y * y,
  derivativeTensor: (_x, y) => sub(1, square(y)),
});

/**
 * max(0, x). The derivative at 0 is `gradAtZero` (0 by default, as PyTorch, TensorFlow and JAX); any value in
 * [0, 1] is a valid subgradient (−0 counts as 0). Change it per call, `relu(x, {gradAtZero: 1})`, or for
 * every call with `relu.setDefaults({gradAtZero: 1})`.
 */
export const relu = defineUnary({
  name: 'relu',
  params: { gradAtZero: 0 },
  // NaN falls through both comparisons and propagates, as in PyTorch
  forward: (x) => (x > 0 ? x : x <= 0 ? 0 : x),
  // a gradAtZero of −0 counts as +0, as in the branch-free loops below
  derivative: (x, _y, { gradAtZero }) => (x > 0 ? 1 : x < 0 ? 0 : x === 0 ? gradAtZero + 0 : 1),
  kinks: () => [0],
  checks: [{ label: 'gradAtZero 0.5', shapes: [[3, 4]], call: (x): Tensor => relu(x, { gradAtZero: 0.5 }), kinks: [0] }],
  // Random signs make branches mispredict; comparisons used as 0/1 do not. `+ 0` turns −0 into +0, and
  // the (predictable) test for −∞ avoids 0·−∞ = NaN.
  loops: {
    simd: {
      forward: (xs, out) => wasm.reluForward(xs, out),
      backward: (g, xs, out, { gradAtZero }) => wasm.reluBackward(g, xs, out, gradAtZero + 0),
      // without zeros in x, the backward needs only which elements are below 0: 1 bit, not 32
      masked: { forward: (xs, out) => wasm.reluForwardMasked(xs, out), backward: (g, mask, out) => wasm.reluBackwardMasked(g, mask, out) },
    },
    forward: (xs, out) => {
      for (let i = 0; i < xs.length; i++) {
        const v = xs[i];
        out[i] = v === -Infinity ? 0 : +(v > 0) * v + 0;
      }
    },
    backward: (g, xs, out, { gradAtZero }) => {
      let hits = 0;
      for (let i = 0; i < xs.length; i++) {
        const v = xs[i];
        const zero = +(v === 0);
        hits += zero;
        // 1 above 0 (and for NaN), gradAtZero at 0, 0 below
        out[i] = g[i] * (+(v > 0) + zero * gradAtZero + +(v !== v));
      }
      return hits;
    },
  },
});

/** x for x > 0, negativeSlope·x otherwise; the derivative at 0 is negativeSlope (PyTorch). */
export const leakyRelu = defineUnary({
  name: 'leakyRelu',
  params: { negativeSlope: 0.01 },
  forward: (x, { negativeSlope }) => (x > 0 ? x : negativeSlope * x),
  derivative: (x, _y, { negativeSlope }) => (x > 0 ? 1 : negativeSlope),
  kinks: () => [0],
  checks: [{ label: 'negativeSlope 0.2', shapes: [[3, 4]], call: (x): Tensor => leakyRelu(x, { negativeSlope: 0.2 }), kinks: [0] }],
  loops: {
    simd: {
      forward: (xs, out, { negativeSlope }) => wasm.leakyForward(xs, out, negativeSlope),
      backward: (g, xs, out, { negativeSlope }) => (typeof g === 'number' ? undefined : wasm.leakyBackward(g, xs, out, negativeSlope)),
    },
    forward: (xs, out, { negativeSlope }) => {
      for (let i = 0; i < xs.length; i++) {
        const v = xs[i];
        const up = +(v > 0);
        out[i] = v * (up + (1 - up) * negativeSlope);
      }
    },
    backward: (g, xs, out, { negativeSlope }) => {
      let hits = 0;
      for (let i = 0; i < xs.length; i++) {
        const v = xs[i];
        hits += +(v === 0);
        const up = +(v > 0);
        out[i] = g[i] * (up + (1 - up) * negativeSlope);
      }
      return hits;
    },
  },
});

/** x for x > 0, alpha·(eˣ − 1) otherwise; the derivative at 0 is alpha (PyTorch's `x <= 0` branch). */
export const elu = defineUnary({
  name: 'elu',
  params: { alpha: 1 },
  forward: (x, { alpha }) => (x > 0 ? x : alpha * Math.expm1(x)),
  // on the negative side d/dx α(eˣ−1) = αeˣ = y + α, from the saved output
  derivative: (x, y, { alpha }) => (x > 0 ? 1 : y + alpha),
  derivativeTensor: (x, y, { alpha }) => where(gt(x, 0), 1, add(y, alpha)),
  kinks: () => [0],
  checks: [{ label: 'alpha 0.5', shapes: [[3, 4]], call: (x): Tensor => elu(x, { alpha: 0.5 }), kinks: [0] }],
});

/** scale·elu(x, alpha) with the self-normalising constants; the derivative at 0 is scale·alpha (PyTorch). */
export const selu = defineUnary({
  name: 'selu',
  params: {},
  forward: (x) => (x > 0 ? SELU_SCALE * x : SELU_SCALE * SELU_ALPHA * Math.expm1(x)),
  derivative: (x, y) => (x > 0 ? SELU_SCALE : y + SELU_SCALE * SELU_ALPHA),
  derivativeTensor: (x, y) => where(gt(x, 0), SELU_SCALE, add(y, SELU_SCALE * SELU_ALPHA)),
  kinks: () => [0],
});

/** max(0, x) + min(0, alpha·(e^(x/alpha) − 1)); continuously differentiable, derivative 1 at 0. */
export const celu = defineUnary({
  name: 'celu',
  params: { alpha: 1 },
  forward: (x, { alpha }) => (x > 0 ? x : alpha * Math.expm1(x / alpha)),
  derivative: (x, y, { alpha }) => (x > 0 ? 1 : y / alpha + 1),
  derivativeTensor: (x, y, { alpha }) => where(gt(x, 0), 1, add(div(y, alpha), 1)),
  kinks: () => [0],
  validate: ({ alpha }) => {
    if (alpha === 0) throw new ValueError('celu', 'alpha must be nonzero');
  },
  checks: [{ label: 'alpha 2', shapes: [[3, 4]], call: (x): Tensor => celu(x, { alpha: 2 }), kinks: [0] }],
});

/** The Gauss error function, elementwise (used by the exact GELU). */
export const erfOp = defineUnary({
  name: 'erf',
  params: {},
  forward: (x) => erf(x),
  derivative: (x) => (2 / Math.sqrt(Math.PI)) * Math.exp(-x * x),
  derivativeTensor: (x) => mul(exp(neg(square(x))), 2 / Math.sqrt(Math.PI)),
});

function geluTanhParts(x: number): { t: number; inner: number } {
  const inner = SQRT_2_OVER_PI * (x + GELU_TANH_COEF * x * x * x);
  return { t: Math.tanh(inner), inner };
}

/** x·Φ(x) (`approximate: 'none'`) or its tanh approximation (`approximate: 'tanh'`), as PyTorch. */
export const gelu = defineUnary({
  name: 'gelu',
  params: { approximate: 'none' as 'none' | 'tanh' },
  forward: (x, { approximate }) => (approximate === 'tanh' ? 0.5 * x * (1 + geluTanhParts(x).t) : 0.5 * x * (1 + erf(x / Math.SQRT2))),
  derivative: (x, _y, { approximate }) => {
    if (approximate === 'tanh') {
      const { t } = geluTanhParts(x);
      return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * SQRT_2_OVER_PI * (1 + 3 * GELU_TANH_COEF * x * x);
    }
    return 0.5 * (1 + erf(x / Math.SQRT2)) + x * INV_SQRT_2PI * Math.exp(-0.5 * x * x);
  },
  derivativeTensor: (x, _y, { approximate }) => {
    if (approximate === 'tanh') {
      const t = tanh(mul(add(x, mul(mul(square(x), x), GELU_TANH_COEF)), SQRT_2_OVER_PI));
      const dInner = mul(add(mul(square(x), 3 * GELU_TANH_COEF), 1), SQRT_2_OVER_PI);
      return add(mul(add(t, 1), 0.5), mul(mul(mul(x, sub(1, square(t))), dInner), 0.5));
    }
    return add(mul(add(erfOp(mul(x, Math.SQRT1_2)), 1), 0.5), mul(mul(x, exp(mul(square(x), -0.5))), INV_SQRT_2PI));
  },
  validate: ({ approximate }) => {
    if (approximate !== 'none' && approximate !== 'tanh') throw new ValueError('gelu', `approximate must be 'none' or 'tanh', got ${JSON.stringify(approximate)}`);
  },
  checks: [{ label: 'tanh approximation', shapes: [[3, 4]], call: (x): Tensor => gelu(x, { approximate: 'tanh' }), secondOrder: true }],
});

/** x·σ(x), also called swish. */
export const silu = defineUnary({
  name: 'silu',
  params: {},
  forward: (x) => x * sigmoidScalar(x),
  derivative: (x) => {
    const s = sigmoidScalar(x);
    return s * (1 + x * (1 - s));
  },
  derivativeTensor: (x) => {
    const s = sigmoid(x);
    return mul(s, add(mul(x, sub(1, s)), 1));
  },
});

/** x·tanh(softplus(x)). */
export const mish = defineUnary({
  name: 'mish',
  params: {},
  forward: (x) => x * Math.tanh(softplusScalar(x)),
  derivative: (x) => {
    const t = Math.tanh(softplusScalar(x));
    return t + x * (1 - t * t) * sigmoidScalar(x);
  },
  derivativeTensor: (x) => {
    const t = tanh(softplus(x));
    return add(t, mul(mul(x, sub(1, square(t))), sigmoid(x)));
  },
});

/** log(1 + e^(βx))/β, linear where βx > threshold (strictly), as PyTorch. */
export const softplus = defineUnary({
  name: 'softplus',
  params: { beta: 1, threshold: 20 },
  forward: (x, { beta, threshold }) => (x * beta > threshold ? x : softplusScalar(beta * x) / beta),
  derivative: (x, _y, { beta, threshold }) => (x * beta > threshold ? 1 : sigmoidScalar(beta * x)),
  derivativeTensor: (x, _y, { beta, threshold }) => where(gt(mul(x, beta), threshold), 1, sigmoid(mul(x, beta))),
  // the switch to the linear branch leaves a jump of σ(threshold) − 1 in the derivative
  kinks: ({ beta, threshold }) => [threshold / beta],
  validate: ({ beta }) => {
    if (beta === 0) throw new ValueError('softplus', 'beta must be nonzero');
  },
  checks: [{ label: 'beta 2', shapes: [[3, 4]], call: (x): Tensor => softplus(x, { beta: 2 }), secondOrder: true }],
});

/** clamp(x, minVal, maxVal); the derivative is 0 at both bounds (PyTorch's hardtanh_backward). */
export const hardtanh = defineUnary({
  name: 'hardtanh',
  params: { minVal: -1, maxVal: 1 },
  forward: (x, { minVal, maxVal }) => (x < minVal ? minVal : x > maxVal ? maxVal : x),
  derivative: (x, _y, { minVal, maxVal }) => (x <= minVal || x >= maxVal ? 0 : 1),
  kinks: ({ minVal, maxVal }) => [minVal, maxVal],
  validate: ({ minVal, maxVal }) => {
    if (!(minVal < maxVal)) throw new ValueError('hardtanh', `minVal ${minVal} must be less than maxVal ${maxVal}`);
  },
  checks: [{ label: 'minVal -0.5, maxVal 1.5', shapes: [[3, 4]], call: (x): Tensor => hardtanh(x, { minVal: -0.5, maxVal: 1.5 }), kinks: [-0.5, 1.5] }],
});

/** min(max(0, x), 6) = hardtanh(x, 0, 6); the derivative is 0 at 0 and at 6 (PyTorch and TensorFlow). */
export const relu6 = defineUnary({
  name: 'relu6',
  params: {},
  forward: (x) => (x < 0 ? 0 : x > 6 ? 6 : x),
  derivative: (x) => (x <= 0 || x >= 6 ? 0 : 1),
  kinks: () => [0, 6],
  domain: [-2, 8],
});

/** 0 for x ≤ −3, 1 for x ≥ 3, x/6 + 1/2 between; the derivative is 0 at ±3 (PyTorch). */
export const hardsigmoid = defineUnary({
  name: 'hardsigmoid',
  params: {},
  forward: (x) => (x <= -3 ? 0 : x >= 3 ? 1 : x / 6 + 0.5),
  derivative: (x) => (x > -3 && x < 3 ? 1 / 6 : 0),
  kinks: () => [-3, 3],
  domain: [-5, 5],
});

/**
 * x·relu6(x + 3)/6. The derivative uses the corrected rule: 0 at −3 and 1 at +3 (PyTorch 1.13 gives −0.5
 * at −3 and 1.5 or 1.0 at +3 depending on its code path; newer PyTorch fixed it to 0 and 1).
 */
export const hardswish = defineUnary({
  name: 'hardswish',
  params: {},
  forward: (x) => (x <= -3 ? 0 : x >= 3 ? x : (x * (x + 3)) / 6),
  derivative: (x) => (x <= -3 ? 0 : x < 3 ? x / 3 + 0.5 : 1),
  derivativeTensor: (x) => where(gt(x, -3), where(gt(x, 3), 1, add(div(x, 3), 0.5)), 0),
  kinks: () => [-3, 3],
  domain: [-5, 5],
});

// ---------------------------------------------------------------------------------------------------------

/** prelu's forward: channel ch (of `channels`, cycling every `inner` elements) scales by ws[ch] where x ≤ 0. Self-contained for perDType. */
function preluForward(xs: ArrayLike<number>, ws: ArrayLike<number>, out: { [i: number]: number }, channels: number, inner: number): void {
  for (let o = 0, ch = 0; o < xs.length; o += inner, ch = ch + 1 === channels ? 0 : ch + 1) {
    const w = ws[ch];
    for (let i = o, end = o + inner; i < end; i++) {
      const v = xs[i];
      out[i] = v > 0 ? v : w * v;
    }
  }
}

/**
 * prelu's backward: dx = g where x > 0, else g·w, and dw[ch] = the sum of g·x where x ≤ 0 over the channel's
 * elements (in double precision, in order). Returns how many x are exactly 0. Self-contained for perDType.
 */
function preluBackward(g: ArrayLike<number>, xs: ArrayLike<number>, ws: ArrayLike<number>, dx: { [i: number]: number }, dw: Float64Array, channels: number, inner: number): number {
  let zeros = 0;
  for (let o = 0, ch = 0; o < xs.length; o += inner, ch = ch + 1 === channels ? 0 : ch + 1) {
    const w = ws[ch];
    let sum = 0;
    for (let i = o, end = o + inner; i < end; i++) {
      const v = xs[i];
      if (v > 0) {
        dx[i] = g[i];
      } else {
        dx[i] = g[i] * w;
        sum += g[i] * v;
        if (v === 0) zeros++;
      }
    }
    dw[ch] += sum;
  }
  return zeros;
}
const preluForwardFor = perDType(preluForward);
const preluBackwardFor = perDType(preluBackward);

/**
 * x for x > 0, weight·x otherwise, with a learnable weight: one shared value (shape [1]) or one per channel
 * (shape [C], channel = dim 1, as PyTorch). The derivative with respect to x at 0 is the weight.
 */
export function prelu(input: TensorLike, weight: Tensor): Tensor {
  const op = 'prelu';
  const x = asTensor(op, input);
  const channels = weight.size;
  if (weight.ndim > 1) throw new ShapeError(op, [x.shape, weight.shape], `weight must be 1-D ([1] or [C]), got ${formatShape(weight.shape)}`);
  if (channels !== 1 && (x.ndim < 2 || x.shape[1] !== channels)) {
    throw new ShapeError(op, [x.shape, weight.shape], `weight ${formatShape(weight.shape)} needs the input's dim 1 to have ${channels} channels, got input ${formatShape(x.shape)}`);
  }
  // line the weight up with dim 1 so that it broadcasts: [C] -> [C, 1, ..., 1]
  const w = channels === 1 ? reshape(weight, []) : reshape(weight, [channels, ...new Array<number>(x.ndim - 2).fill(1)]);
  const dtype = promote(x.dtype, weight.dtype);
  const xs = x.dataSync();
  // elements per run of one channel
  const inner = channels === 1 ? Math.max(xs.length, 1) : sizeOf(x.shape.slice(2));
  const ys = allocate(dtype, xs.length, false);
  preluForwardFor[dtype](xs, weight.dataSync(), ys, channels, inner);
  return fromOp(op, ys, x.shape, [x, w], (g) => {
    if (isGradEnabled()) {
      // a graph of the backward pass itself (createGraph): dy/dx = 1 where x > 0, else w (so w at 0);
      // dy/dw = x where x <= 0 (the engine sums it to w's shape)
      const positive = gt(x, 0);
      return [mul(g, where(positive, 1, w)), mul(g, where(positive, 0, x))];
    }
    const gradType = promote(dtype, g.dtype);
    const dx = allocate(gradType, xs.length, false);
    const sums = new Float64Array(channels);
    recordKinkHits(op, preluBackwardFor[gradType](g.dataSync(), xs, weight.dataSync(), dx, sums, channels, inner));
    const dw = allocate(gradType, channels, false);
    dw.set(sums);
    return [Tensor.fromData(dx, x.shape), Tensor.fromData(dw, w.shape)];
  }, [x, weight]);
}
registerOp('prelu', [
  { label: 'shared weight', shapes: [[3, 4], [1]], call: (x, w) => prelu(x, w), kinks: [0], secondOrder: true },
  { label: 'per channel', shapes: [[2, 3, 4], [3]], call: (x, w) => prelu(x, w), kinks: [0] },
]);


export interface RreluOptions {
  lower?: number;
  upper?: number;
  /** In training, each element's negative slope is drawn from U(lower, upper); in eval it is their mean. */
  training?: boolean;
  generator?: Generator;
}

/**
 * Randomised leaky ReLU (PyTorch defaults lower 1/8, upper 1/3, training false). In training the slope is
 * sampled per element from the seeded generator, and the derivative at 0 is the sampled slope.
 */
export function rrelu(input: TensorLike, options: RreluOptions = {}): Tensor {
  const op = 'rrelu';
  const x = asTensor(op, input);
  const { lower, upper, training, generator } = resolveParams(op, { lower: 1 / 8, upper: 1 / 3, training: false, generator: defaultGenerator }, options);
  if (!(lower <= upper)) throw new ValueError(op, `lower ${lower} must not exceed upper ${upper}`);
  const dtype = floatResult(x.dtype);
  const xs = x.dataSync();
  const slope = allocate(dtype, xs.length);
  for (let i = 0; i < xs.length; i++) {
    slope[i] = xs[i] > 0 ? 1 : training ? lower + (upper - lower) * generator.uniform() : (lower + upper) / 2;
  }
  const y = allocate(dtype, xs.length);
  for (let i = 0; i < xs.length; i++) y[i] = xs[i] * slope[i];
  const slopes = Tensor.fromData(slope, x.shape);
  return fromOp(op, y, x.shape, [x], (g) => {
    let hits = 0;
    for (let i = 0; i < xs.length; i++) if (xs[i] === 0) hits++;
    recordKinkHits(op, hits);
    return [mul(g, slopes)];
  }, [x]);
}
registerOp('rrelu', [
  { label: 'eval', shapes: [[3, 4]], call: (x) => rrelu(x), kinks: [0], secondOrder: true },
  // a fresh generator per call, so that every evaluation of the check draws the same slopes
  { label: 'training', shapes: [[3, 4]], call: (x) => rrelu(x, { training: true, generator: new Generator(7) }), kinks: [0] },
]);

/** Concatenated ReLU: relu(concat([x, −x], dim)); the output is twice as large along `dim` (default 1, the channel axis; 0 for 1-D input). */
export function crelu(input: TensorLike, options: { dim?: number } = {}): Tensor {
  const x = asTensor('crelu', input);
  const { dim } = resolveParams('crelu', { dim: x.ndim < 2 ? 0 : 1 }, options);
  return relu(concat([x, neg(x)], dim));
}
