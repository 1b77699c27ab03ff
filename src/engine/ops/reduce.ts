import { allocate, floatResult } from '../dtype';
import { perDType } from './kernels';
import { ValueError } from '../errors';
import { registerOp } from '../registry';
import { formatShape, normalizeAxes, normalizeAxis, sizeOf, type Shape } from '../shape';
import { fromOp, isGradEnabled, record, Tensor } from '../tensor';
import { add, cast, div, eq, exp, log, mul, sub, square, where } from './elementwise';
import { contiguous, expand, permute, reshape, transpose } from './views';
import * as wasm from '../wasm/elementwise';

export type Axis = number | readonly number[];

export interface ReduceOptions {
  keepDims?: boolean;
}

interface Plan {
  axes: number[];
  /** The result's shape with reduced dimensions kept as 1. */
  keptShape: number[];
  outShape: number[];
  /** Number of elements reduced into each output. */
  count: number;
  /** x with the reduced axes moved last, contiguous: each output reads one run of `count` values. */
  rows: ArrayLike<number>;
}

function plan(op: string, x: Tensor, axis: Axis | undefined, keepDims: boolean): Plan {
  const axes = normalizeAxes(op, axis, x.ndim);
  const keptShape = x.shape.map((n, d) => (axes.includes(d) ? 1 : n));
  const outShape = keepDims ? keptShape : x.shape.filter((_, d) => !axes.includes(d));
  const count = sizeOf(axes.map((d) => x.shape[d]));
  const kept = x.shape.map((_, d) => d).filter((d) => !axes.includes(d));
  const moved = axes.every((d, i) => d === x.ndim - axes.length + i) ? x : permute(x, [...kept, ...axes]);
  return { axes, keptShape, outShape, count, rows: contiguous(moved.detach()).dataSync() };
}

/** Sum over `axis` (all axes when omitted). */
export function sum(x: Tensor, axis?: Axis, { keepDims = false }: ReduceOptions = {}): Tensor {
  const axes = normalizeAxes('sum', axis, x.ndim);
  if (axes.length > 0 && axes.length < x.ndim && axes.every((d, i) => d === i) && x.isContiguous()) return sumLeading(x, axes, keepDims);
  const p = plan('sum', x, axis, keepDims);
  const outSize = sizeOf(p.outShape);
  const out = allocate(x.dtype, outSize);
  if (!(out instanceof Float32Array && wasm.sumRuns(p.rows as Float32Array, out, p.count))) sumRunsFor[x.dtype](p.rows, out, outSize, p.count);
  return fromOp('sum', out, p.outShape, [x], (g) => [expand(reshape(g, p.keptShape), x.shape)]);
}

/**
 * out[o] = the sum of the o-th run of `count` values, in double precision: blocks of 4,096 values, each
 * summed as eight partial sums (of its elements at 0 … 7 mod 8, a last few past a multiple of eight going
 * to the first) added as ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7)), and the block sums added in order. Eight
 * independent additions a step instead of one chain; the blocks let threads share a large sum with the same
 * bits (sum in wasm/elementwise.as.ts). Self-contained for perDType.
 */
function sumRuns(rows: ArrayLike<number>, out: { [i: number]: number }, outSize: number, count: number): void {
  for (let o = 0, base = 0; o < outSize; o++, base += count) {
    let total = 0;
    for (let start = base, end = base + count; start < end; start += 4096) {
      const stop = Math.min(start + 4096, end);
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
      let i = start;
      for (; i + 8 <= stop; i += 8) {
        s0 += rows[i];
        s1 += rows[i + 1];
        s2 += rows[i + 2];
        s3 += rows[i + 3];
        s4 += rows[i + 4];
        s5 += rows[i + 5];
        s6 += rows[i + 6];
        s7 += rows[i + 7];
      }
      for (; i < stop; i++) s0 += rows[i];
      total += s0 + s1 + (s2 + s3) + (s4 + s5 + (s6 + s7));
    }
    out[o] = total;
  }
}

const sumRunsFor = perDType(sumRuns);

/**
 * A sum over leading axes of a contiguous tensor (a bias gradient over the batch): whole rows are added,
 * in the same order and precision as the general loop, with no transposed copy.
 */
function sumLeading(x: Tensor, axes: number[], keepDims: boolean): Tensor {
  const keptShape = x.shape.map((n, d) => (axes.includes(d) ? 1 : n));
  const outShape = keepDims ? keptShape : x.shape.slice(axes.length);
  const width = sizeOf(x.shape.slice(axes.length));
  const count = x.size / width;
  const out = allocate(x.dtype, width, false);
  const rows = x.storage.data.subarray(x.offset, x.offset + x.size);
  if (!(rows instanceof Float32Array && out instanceof Float32Array && wasm.sumColumns(rows, out))) {
    // accumulate in double precision, as the general loop does, and round once
    const acc = new Float64Array(width);
    addRowsFor[x.dtype](rows, 0, count, width, acc);
    out.set(acc);
  }
  return fromOp('sum', out, outShape, [x], (g) => [expand(reshape(g, keptShape), x.shape)]);
}
/** acc[j] += the j-th value of each of `count` rows of `width` values from `offset` on. Self-contained for perDType. */
function addRows(src: ArrayLike<number>, offset: number, count: number, width: number, acc: Float64Array): void {
  for (let i = 0, base = offset; i < count; i++, base += width) for (let j = 0; j < width; j++) acc[j] += src[base + j];
}
const addRowsFor = perDType(addRows);

registerOp('sum', [
  { shapes: [[3, 4]], call: (x) => sum(x), secondOrder: true },
  { label: 'axis 0 keepDims', shapes: [[3, 4, 2]], call: (x) => sum(x, [0, 2], { keepDims: true }) },
  { label: 'leading axes', shapes: [[3, 4, 2]], call: (x) => sum(x, [0, 1]) },
]);

export function mean(x: Tensor, axis?: Axis, options: ReduceOptions = {}): Tensor {
  const axes = normalizeAxes('mean', axis, x.ndim);
  const count = sizeOf(axes.map((d) => x.shape[d]));
  const s = sum(cast(x, floatResult(x.dtype)), axes, options);
  return div(s, count);
}

function extreme(op: 'max' | 'min', x: Tensor, axis: Axis | undefined, keepDims: boolean): Tensor {
  if (x.size === 0) throw new ValueError(op, `cannot reduce an empty tensor of shape ${formatShape(x.shape)}`);
  const p = plan(op, x, axis, keepDims);
  const outSize = sizeOf(p.outShape);
  const out = allocate(x.dtype, outSize);
  const { rows, count } = p;
  const better = op === 'max' ? (a: number, b: number) => a > b : (a: number, b: number) => a < b;
  for (let o = 0; o < outSize; o++) {
    const base = o * count;
    let m = rows[base];
    for (let i = 1; i < count; i++) {
      const v = rows[base + i];
      if (Number.isNaN(v)) {
        m = NaN;
        break;
      }
      if (better(v, m)) m = v;
    }
    out[o] = m;
  }
  const y: Tensor = fromOp(op, out, p.outShape, [x], (g) => {
    // the gradient is shared evenly by the elements that attain the extreme (as torch.amax)
    const ties = eq(x, expand(reshape(y.detach(), p.keptShape), x.shape));
    const share = div(ties, sum(ties, p.axes, { keepDims: true }));
    return [mul(expand(reshape(g, p.keptShape), x.shape), share)];
  });
  return y;
}

export function max(x: Tensor, axis?: Axis, { keepDims = false }: ReduceOptions = {}): Tensor {
  return extreme('max', x, axis, keepDims);
}
export function min(x: Tensor, axis?: Axis, { keepDims = false }: ReduceOptions = {}): Tensor {
  return extreme('min', x, axis, keepDims);
}
registerOp('max', [{ shapes: [[3, 4]], call: (x) => max(x, 1) }]);
registerOp('min', [{ shapes: [[3, 4]], call: (x) => min(x, 0, { keepDims: true }) }]);

function argExtreme(op: string, x: Tensor, axis: number | undefined, keepDims: boolean, better: (a: number, b: number) => boolean): Tensor {
  const flat = axis === undefined;
  const source = flat ? reshape(x.detach(), [x.size]) : x.detach();
  const a = flat ? 0 : normalizeAxis(op, axis, x.ndim);
  if (source.shape[a] === 0) throw new ValueError(op, `cannot reduce an empty dimension of shape ${formatShape(x.shape)}`);
  const p = plan(op, source, a, keepDims && !flat);
  const outSize = sizeOf(p.outShape);
  const out = new Int32Array(outSize);
  for (let o = 0; o < outSize; o++) {
    const base = o * p.count;
    let best = 0;
    for (let i = 1; i < p.count; i++) {
      const v = p.rows[base + i];
      if (Number.isNaN(p.rows[base + best])) break;
      if (Number.isNaN(v) || better(v, p.rows[base + best])) best = i;
    }
    out[o] = best;
  }
  return Tensor.fromData(out, flat && keepDims ? x.shape.map(() => 1) : p.outShape);
}

/** Index of the first maximum along `axis` (of the flattened tensor when omitted), as int32. */
export function argmax(x: Tensor, axis?: number, { keepDims = false }: ReduceOptions = {}): Tensor {
  return argExtreme('argmax', x, axis, keepDims, (a, b) => a > b);
}
export function argmin(x: Tensor, axis?: number, { keepDims = false }: ReduceOptions = {}): Tensor {
  return argExtreme('argmin', x, axis, keepDims, (a, b) => a < b);
}

export interface VarOptions extends ReduceOptions {
  /** Subtracted from the count in the denominator: 1 (default) is the unbiased estimate, 0 the population variance. */
  correction?: number;
}

/** Variance over `axis`, with Bessel's correction by default as in PyTorch. */
export function variance(x: Tensor, axis?: Axis, { keepDims = false, correction = 1 }: VarOptions = {}): Tensor {
  const axes = normalizeAxes('var', axis, x.ndim);
  const count = sizeOf(axes.map((d) => x.shape[d]));
  const centred = sub(x, mean(x, axes, { keepDims: true }));
  return div(sum(square(centred), axes, { keepDims }), Math.max(count - correction, 0));
}

/** log(sum(exp(x))) over `axis`, computed stably by shifting by the maximum. */
export function logsumexp(x: Tensor, axis?: Axis, { keepDims = false }: ReduceOptions = {}): Tensor {
  const axes = normalizeAxes('logsumexp', axis, x.ndim);
  const shiftRaw = max(x.detach(), axes, { keepDims: true });
  const shift = where(eq(shiftRaw, Infinity), 0, where(eq(shiftRaw, -Infinity), 0, shiftRaw));
  const out = add(log(sum(exp(sub(x, shift)), axes, { keepDims: true })), shift);
  return keepDims ? out : reshape(out, x.shape.filter((_, d) => !axes.includes(d)));
}

/**
 * Each run of `count` values of xs (a row along the softmax axis) into out: softmax e^(x−m) / Σ e^(x−m),
 * or its log x − m − log Σ e^(x−m), with m the row's maximum (0 when infinite, NaN when the row has one)
 * and everything in double precision, each output rounded once. Self-contained for perDType.
 */
function softmaxRows(xs: ArrayLike<number>, out: { [i: number]: number }, count: number, log: boolean): void {
  for (let base = 0; base < xs.length; base += count) {
    const end = base + count;
    let m = -Infinity;
    for (let i = base; i < end; i++) {
      const v = xs[i];
      if (v > m || v !== v) m = v;
      if (v !== v) break;
    }
    const shift = m === Infinity || m === -Infinity ? 0 : m;
    let s = 0;
    for (let i = base; i < end; i++) s += Math.exp(xs[i] - shift);
    if (log) {
      const lse = shift + Math.log(s);
      for (let i = base; i < end; i++) out[i] = xs[i] - lse;
    } else {
      for (let i = base; i < end; i++) out[i] = Math.exp(xs[i] - shift) / s;
    }
  }
}
const softmaxRowsFor = perDType(softmaxRows);

/**
 * The input gradient of softmaxRows from the output y and its gradient g, row by row in double precision:
 * g − e^y·Σg for log-softmax, y·(g − Σ g·y) for softmax (PyTorch's formulas). Self-contained for perDType.
 */
function softmaxRowsBackward(g: ArrayLike<number>, y: ArrayLike<number>, out: { [i: number]: number }, count: number, log: boolean): void {
  for (let base = 0; base < y.length; base += count) {
    const end = base + count;
    let s = 0;
    if (log) {
      for (let i = base; i < end; i++) s += g[i];
      for (let i = base; i < end; i++) out[i] = g[i] - Math.exp(y[i]) * s;
    } else {
      for (let i = base; i < end; i++) s += g[i] * y[i];
      for (let i = base; i < end; i++) out[i] = y[i] * (g[i] - s);
    }
  }
}
const softmaxRowsBackwardFor = perDType(softmaxRowsBackward);

/** softmax or logSoftmax over `axis` as one graph node (the axis moved last by a view when it is not). */
function softmaxOp(op: 'softmax' | 'logSoftmax', x: Tensor, axis: number): Tensor {
  const a = normalizeAxis(op, axis, x.ndim);
  const last = x.ndim - 1;
  const rows = a === last ? x : transpose(x, a, last);
  const dtype = floatResult(x.dtype);
  const xs = contiguous(cast(rows.detach(), dtype)).dataSync();
  const count = rows.shape[last] ?? 1;
  const log = op === 'logSoftmax';
  const out = allocate(dtype, xs.length, false);
  softmaxRowsFor[dtype](xs, out, count, log);
  const y = Tensor.fromData(out, rows.shape);
  record(y, op, [rows], (g) => {
    if (isGradEnabled()) {
      // recording the backward pass: the same formulas from differentiable ops, through y
      const gy = log ? exp(y) : mul(g, y);
      return [log ? sub(g, mul(gy, sum(g, -1, { keepDims: true }))) : mul(y, sub(g, sum(gy, -1, { keepDims: true })))];
    }
    const dx = allocate(dtype, out.length, false);
    softmaxRowsBackwardFor[dtype](cast(g, dtype).dataSync(), out, dx, count, log);
    return [Tensor.fromData(dx, rows.shape)];
  }, [y]);
  return a === last ? y : transpose(y, a, last);
}

/** e^x / Σ e^x over `axis`, shifted by the maximum for stability. */
export function softmax(x: Tensor, axis = -1): Tensor {
  return softmaxOp('softmax', x, axis);
}

/** log(softmax(x)) over `axis`: x − logsumexp(x), computed as one op. */
export function logSoftmax(x: Tensor, axis = -1): Tensor {
  return softmaxOp('logSoftmax', x, axis);
}
registerOp('softmax', [
  { shapes: [[3, 4]], call: (x) => softmax(x), secondOrder: true },
  { label: 'axis 0 of 3-D', shapes: [[3, 2, 4]], call: (x) => softmax(x, 0), secondOrder: true },
]);
registerOp('logSoftmax', [
  { shapes: [[3, 4]], call: (x) => logSoftmax(x), secondOrder: true },
  { label: 'axis 1 of 3-D', shapes: [[2, 3, 4]], call: (x) => logSoftmax(x, 1), secondOrder: true },
]);

/** Sums a broadcast gradient back to `shape` (the inverse of broadcasting). */
export function sumToShape(g: Tensor, shape: Shape): Tensor {
  const lead = g.ndim - shape.length;
  if (lead < 0) throw new ValueError('sumToShape', `cannot sum ${formatShape(g.shape)} to the larger rank of ${formatShape(shape)}`);
  const axes: number[] = [];
  for (let d = 0; d < g.ndim; d++) if (d < lead || (shape[d - lead] === 1 && g.shape[d] !== 1)) axes.push(d);
  const summed = axes.length > 0 ? sum(g, axes, { keepDims: true }) : g;
  return reshape(summed, shape);
}
