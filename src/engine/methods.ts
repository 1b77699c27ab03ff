/**
 * The chaining API: every op is also a Tensor method (`x.relu().sum()`), attached here so that the op
 * modules can import Tensor without a cycle. In-place methods (`add_`, `sub_`, `mul_`, `fill_`, `zero_`,
 * `copy_`) write into the storage, bump its version, and are refused while recording the graph.
 */
import type { DType } from './dtype';
import { GradError, ShapeError } from './errors';
import { broadcastShapes, formatShape, sameShape } from './shape';
import { isGradEnabled, Tensor } from './tensor';
import * as A from './ops/activations';
import * as E from './ops/elementwise';
import { matmul } from './ops/matmul';
import { mapBinary } from './ops/kernels';
import * as R from './ops/reduce';
import * as V from './ops/views';

type Opts<F> = F extends (x: never, options?: infer O) => Tensor ? O : never;

declare module './tensor' {
  interface Tensor {
    add(other: E.TensorLike): Tensor;
    sub(other: E.TensorLike): Tensor;
    mul(other: E.TensorLike): Tensor;
    div(other: E.TensorLike): Tensor;
    pow(other: E.TensorLike): Tensor;
    maximum(other: E.TensorLike): Tensor;
    minimum(other: E.TensorLike): Tensor;
    eq(other: E.TensorLike): Tensor;
    ne(other: E.TensorLike): Tensor;
    lt(other: E.TensorLike): Tensor;
    le(other: E.TensorLike): Tensor;
    gt(other: E.TensorLike): Tensor;
    ge(other: E.TensorLike): Tensor;
    neg(): Tensor;
    exp(): Tensor;
    log(): Tensor;
    log1p(): Tensor;
    expm1(): Tensor;
    sqrt(): Tensor;
    square(): Tensor;
    abs(): Tensor;
    sign(): Tensor;
    sin(): Tensor;
    cos(): Tensor;
    clamp(options: Opts<typeof E.clamp>): Tensor;
    cast(dtype: DType): Tensor;

    sum(axis?: R.Axis, options?: R.ReduceOptions): Tensor;
    mean(axis?: R.Axis, options?: R.ReduceOptions): Tensor;
    max(axis?: R.Axis, options?: R.ReduceOptions): Tensor;
    min(axis?: R.Axis, options?: R.ReduceOptions): Tensor;
    argmax(axis?: number, options?: R.ReduceOptions): Tensor;
    argmin(axis?: number, options?: R.ReduceOptions): Tensor;
    var(axis?: R.Axis, options?: R.VarOptions): Tensor;
    logsumexp(axis?: R.Axis, options?: R.ReduceOptions): Tensor;
    softmax(axis?: number): Tensor;
    logSoftmax(axis?: number): Tensor;
    matmul(other: Tensor): Tensor;

    reshape(shape: readonly number[]): Tensor;
    flatten(startDim?: number, endDim?: number): Tensor;
    permute(dims: readonly number[]): Tensor;
    transpose(dim0?: number, dim1?: number): Tensor;
    /** The transpose of a 2-D tensor (the last two dimensions of a batch). */
    readonly T: Tensor;
    expand(shape: readonly number[]): Tensor;
    squeeze(axis?: number): Tensor;
    unsqueeze(axis: number): Tensor;
    slice(...specs: V.SliceSpec[]): Tensor;
    contiguous(): Tensor;
    gather(axis: number, index: Tensor): Tensor;

    relu(options?: Opts<typeof A.relu>): Tensor;
    leakyRelu(options?: Opts<typeof A.leakyRelu>): Tensor;
    prelu(weight: Tensor): Tensor;
    rrelu(options?: A.RreluOptions): Tensor;
    elu(options?: Opts<typeof A.elu>): Tensor;
    selu(): Tensor;
    celu(options?: Opts<typeof A.celu>): Tensor;
    gelu(options?: Opts<typeof A.gelu>): Tensor;
    silu(): Tensor;
    mish(): Tensor;
    softplus(options?: Opts<typeof A.softplus>): Tensor;
    relu6(): Tensor;
    hardtanh(options?: Opts<typeof A.hardtanh>): Tensor;
    hardsigmoid(): Tensor;
    hardswish(): Tensor;
    crelu(options?: { dim?: number }): Tensor;
    sigmoid(): Tensor;
    tanh(): Tensor;

    add_(other: E.TensorLike): this;
    sub_(other: E.TensorLike): this;
    mul_(other: E.TensorLike): this;
    fill_(value: number): this;
    zero_(): this;
    copy_(source: Tensor): this;
  }
}

const proto = Tensor.prototype;

const binary = { add: E.add, sub: E.sub, mul: E.mul, div: E.div, pow: E.pow, maximum: E.maximum, minimum: E.minimum, eq: E.eq, ne: E.ne, lt: E.lt, le: E.le, gt: E.gt, ge: E.ge };
for (const [name, fn] of Object.entries(binary)) {
  Object.defineProperty(proto, name, { value: function (this: Tensor, other: E.TensorLike) { return fn(this, other); }, writable: true, configurable: true });
}

const unary = {
  neg: E.neg, exp: E.exp, log: E.log, log1p: E.log1p, expm1: E.expm1, sqrt: E.sqrt, square: E.square, abs: E.abs, sign: E.sign, sin: E.sin, cos: E.cos, clamp: E.clamp,
  relu: A.relu, leakyRelu: A.leakyRelu, rrelu: A.rrelu, elu: A.elu, selu: A.selu, celu: A.celu, gelu: A.gelu, silu: A.silu, mish: A.mish, softplus: A.softplus,
  relu6: A.relu6, hardtanh: A.hardtanh, hardsigmoid: A.hardsigmoid, hardswish: A.hardswish, crelu: A.crelu, sigmoid: A.sigmoid, tanh: A.tanh,
} as Record<string, (x: Tensor, options?: unknown) => Tensor>;
for (const [name, fn] of Object.entries(unary)) {
  Object.defineProperty(proto, name, { value: function (this: Tensor, options?: unknown) { return fn(this, options); }, writable: true, configurable: true });
}

// ops whose extra arguments pass straight through
const passThrough = {
  cast: E.cast, sum: R.sum, mean: R.mean, max: R.max, min: R.min, argmax: R.argmax, argmin: R.argmin, var: R.variance, logsumexp: R.logsumexp,
  softmax: R.softmax, logSoftmax: R.logSoftmax, matmul, reshape: V.reshape, flatten: V.flatten, permute: V.permute, transpose: V.transpose,
  expand: V.expand, squeeze: V.squeeze, unsqueeze: V.unsqueeze, slice: V.slice, contiguous: V.contiguous, gather: V.gather, prelu: A.prelu,
} as Record<string, (x: Tensor, ...args: unknown[]) => Tensor>;
for (const [name, fn] of Object.entries(passThrough)) {
  Object.defineProperty(proto, name, { value: function (this: Tensor, ...args: unknown[]) { return fn(this, ...args); }, writable: true, configurable: true });
}

Object.defineProperty(proto, 'T', {
  get(this: Tensor) {
    return V.transpose(this);
  },
  configurable: true,
});

/** Writes `values` (row-major over t's shape) into t's storage through its strides, and bumps the version. */
function writeInPlace(op: string, t: Tensor, compute: () => ArrayLike<number>): void {
  if (isGradEnabled() && t.requiresGrad) {
    throw new GradError(op, `in-place change of a tensor ${formatShape(t.shape)} that requires grad; do it inside noGrad(() => …)`);
  }
  const values = compute();
  const data = t.storage.data;
  if (t.isContiguous()) {
    for (let i = 0; i < values.length; i++) data[t.offset + i] = values[i];
  } else {
    const index = new Array<number>(t.ndim).fill(0);
    for (let k = 0; k < values.length; k++) {
      let p = t.offset;
      for (let d = 0; d < t.ndim; d++) p += index[d] * t.strides[d];
      data[p] = values[k];
      for (let d = t.ndim - 1; d >= 0; d--) {
        if (++index[d] < t.shape[d]) break;
        index[d] = 0;
      }
    }
  }
  t.storage.version++;
}

function inPlace(op: string, f: (a: number, b: number) => number) {
  return function (this: Tensor, other: E.TensorLike) {
    const b = E.asTensor(op, other, this.dtype);
    const shape = broadcastShapes(op, this.shape, b.shape);
    if (!sameShape(shape, this.shape)) {
      throw new ShapeError(op, [this.shape, b.shape], `cannot write a result of shape ${formatShape(shape)} into ${formatShape(this.shape)} in place`);
    }
    writeInPlace(op, this, () => mapBinary(this, b, this.shape, this.dtype, f));
    return this;
  };
}

Object.defineProperty(proto, 'add_', { value: inPlace('add_', (a, b) => a + b), writable: true, configurable: true });
Object.defineProperty(proto, 'sub_', { value: inPlace('sub_', (a, b) => a - b), writable: true, configurable: true });
Object.defineProperty(proto, 'mul_', { value: inPlace('mul_', (a, b) => a * b), writable: true, configurable: true });
Object.defineProperty(proto, 'copy_', { value: inPlace('copy_', (_a, b) => b), writable: true, configurable: true });
Object.defineProperty(proto, 'fill_', {
  value: function (this: Tensor, value: number) {
    writeInPlace('fill_', this, () => new Float64Array(this.size).fill(value));
    return this;
  },
  writable: true,
  configurable: true,
});
Object.defineProperty(proto, 'zero_', {
  value: function (this: Tensor) {
    return this.fill_(0);
  },
  writable: true,
  configurable: true,
});
