import { allocate, dtypeOf, type TypedArray } from '../dtype';
import { ShapeError, ValueError } from '../errors';
import { registerOp } from '../registry';
import { formatShape, sizeOf, type Shape } from '../shape';
import { fromOp, isGradEnabled, runBackward, Tensor } from '../tensor';
import { convBackward, convForward, maxPoolForward, scatterAddAt, type ConvGeometry, type ConvWant, type Windows2x2 } from '../wasm/conv';
import { wasmGemmAvailable } from '../wasm/gemm';
import { add } from './elementwise';
import { matmul } from './matmul';
import { mean } from './reduce';
import { reshape, squeeze, unsqueeze } from './views';

export type Pair = number | readonly [number, number];

/** Geometry of a sliding 2-D window over an NCHW tensor. */
export interface Window {
  kh: number;
  kw: number;
  stride: [number, number];
  dilation: [number, number];
  /** top, bottom, left, right */
  pad: [number, number, number, number];
}

/** A size given as one integer or a pair; padding may be 0, kernel sizes, strides and dilations not. */
function pair(op: string, name: string, v: Pair, min: 0 | 1 = 1): [number, number] {
  const p: [number, number] = typeof v === 'number' ? [v, v] : [v[0], v[1]];
  if (!p.every((n) => Number.isInteger(n) && n >= min)) {
    throw new ValueError(op, `${name} must be a ${min === 0 ? 'non-negative' : 'positive'} integer or a pair of them, got ${JSON.stringify(v)}`);
  }
  return p;
}

/** The output height and width of window `w` over an h×wd input, which must hold at least one window. */
function outSize(op: string, w: Window, h: number, wd: number): [number, number] {
  const ho = Math.floor((h + w.pad[0] + w.pad[1] - w.dilation[0] * (w.kh - 1) - 1) / w.stride[0]) + 1;
  const wo = Math.floor((wd + w.pad[2] + w.pad[3] - w.dilation[1] * (w.kw - 1) - 1) / w.stride[1]) + 1;
  if (ho <= 0 || wo <= 0) {
    throw new ShapeError(op, [[h, wd]], `a ${w.kh}×${w.kw} window (dilation ${w.dilation.join('×')}) does not fit the ${h}×${wd} input with padding ${w.pad.join('/')}`);
  }
  return [ho, wo];
}

/**
 * im2col: for x [N, C, H, W], the columns [N, C·kh·kw, Hout·Wout] that a convolution multiplies by its
 * weight (PyTorch's `nn.Unfold` layout). Padded positions read 0.
 */
export function unfold(x: Tensor, w: Window): Tensor {
  const op = 'unfold';
  if (x.ndim !== 4) throw new ShapeError(op, [x.shape], `expected an NCHW input of rank 4, got ${formatShape(x.shape)}`);
  const [n, c, h, wd] = x.shape;
  const [ho, wo] = outSize(op, w, h, wd);
  const rows = c * w.kh * w.kw;
  const l = ho * wo;
  const out = allocate(x.dtype, n * rows * l);
  gatherWindows(x.dataSync(), x.shape, w, ho, wo, out, (row, b) => (b * rows + row) * l);
  return fromOp(op, out, [n, rows, l], [x], (g) => [fold(g, x.shape, w)]);
}

/** col2im, the adjoint of `unfold`: adds each column entry back to the input position it was read from. */
export function fold(cols: Tensor, shape: Shape, w: Window): Tensor {
  const [n, c, h, wd] = shape;
  const [ho, wo] = outSize('fold', w, h, wd);
  const rows = c * w.kh * w.kw;
  const l = ho * wo;
  const out = allocate(cols.dtype, n * c * h * wd);
  scatterWindows(cols.dataSync(), shape, w, ho, wo, out, (row, b) => (b * rows + row) * l);
  return fromOp('fold', out, shape, [cols], (g) => [unfold(g, w)]);
}

/** Where the Hout·Wout columns of window row `row` (channel and kernel offset) of sample `b` start. */
type Layout = (row: number, b: number) => number;
type Writable = { [i: number]: number };

/** Copies every in-image window value of an NCHW array into `out` in the given layout; padding is left as is. */
function gatherWindows(src: ArrayLike<number>, shape: Shape, w: Window, ho: number, wo: number, out: Writable, start: Layout): void {
  forEachSpan(shape, w, ho, wo, start, (s, d, lo, hi, sj) => {
    for (let oj = lo; oj < hi; oj++) out[d + oj] = src[s + oj * sj];
  });
}

/** The adjoint of gatherWindows: adds each column entry back into an NCHW array. */
function scatterWindows(cols: ArrayLike<number>, shape: Shape, w: Window, ho: number, wo: number, out: Writable, start: Layout): void {
  forEachSpan(shape, w, ho, wo, start, (s, d, lo, hi, sj) => {
    for (let oj = lo; oj < hi; oj++) out[s + oj * sj] += cols[d + oj];
  });
}

const checkWindow: Window = { kh: 2, kw: 3, stride: [1, 2], dilation: [1, 1], pad: [1, 1, 0, 1] };
registerOp('unfold', [{ shapes: [[2, 2, 4, 5]], call: (x) => unfold(x, checkWindow), secondOrder: true }]);
registerOp('fold', [{ shapes: [[2, 12, 10]], call: (c) => fold(c, [2, 2, 4, 5], checkWindow) }]);

export interface Conv2dOptions {
  stride?: Pair;
  /** Zero padding on each side, or `'same'` (stride 1 only; an odd total puts the extra row/column at the bottom/right, as PyTorch). */
  padding?: Pair | 'same' | 'valid';
  dilation?: Pair;
}

/** Batches an unbatched CHW input, returning the NCHW tensor and how to undo it. */
function batched(op: string, x: Tensor): [Tensor, (y: Tensor) => Tensor] {
  if (x.ndim === 4) return [x, (y) => y];
  if (x.ndim === 3) return [unsqueeze(x, 0), (y) => squeeze(y, 0)];
  throw new ShapeError(op, [x.shape], `expected input [N, C, H, W] or [C, H, W], got ${formatShape(x.shape)}`);
}

/** 2-D cross-correlation in PyTorch layout: input [N, C, H, W], weight [out, C, kh, kw], bias [out]. */
export function conv2d(input: Tensor, weight: Tensor, bias?: Tensor, options: Conv2dOptions = {}): Tensor {
  const op = 'conv2d';
  const [x, unbatch] = batched(op, input);
  if (weight.ndim !== 4) throw new ShapeError(op, [weight.shape], `weight must be [out, in, kh, kw], got ${formatShape(weight.shape)}`);
  const [outC, inC, kh, kw] = weight.shape;
  if (x.shape[1] !== inC) {
    throw new ShapeError(op, [x.shape, weight.shape], `input ${formatShape(x.shape)} has ${x.shape[1]} channels but weight ${formatShape(weight.shape)} expects ${inC}`);
  }
  if (bias !== undefined && (bias.ndim !== 1 || bias.shape[0] !== outC)) {
    throw new ShapeError(op, [bias.shape, weight.shape], `bias ${formatShape(bias.shape)} must be [${outC}] for weight ${formatShape(weight.shape)}`);
  }
  const stride = pair(op, 'stride', options.stride ?? 1);
  const dilation = pair(op, 'dilation', options.dilation ?? 1);
  let pad: [number, number, number, number];
  const padding = options.padding ?? 0;
  if (padding === 'same') {
    if (stride[0] !== 1 || stride[1] !== 1) throw new ValueError(op, `padding 'same' needs stride 1, got stride ${JSON.stringify(options.stride)}`);
    const th = dilation[0] * (kh - 1);
    const tw = dilation[1] * (kw - 1);
    pad = [Math.floor(th / 2), th - Math.floor(th / 2), Math.floor(tw / 2), tw - Math.floor(tw / 2)];
  } else {
    const p = pair(op, 'padding', padding === 'valid' ? 0 : padding, 0);
    pad = [p[0], p[0], p[1], p[1]];
  }
  const w: Window = { kh, kw, stride, dilation, pad };
  const [n, , h, wd] = x.shape;
  const [ho, wo] = outSize(op, w, h, wd);
  const float32 = x.dtype === 'float32' && weight.dtype === 'float32' && (bias === undefined || bias.dtype === 'float32');
  return unbatch(float32 && wasmGemmAvailable() ? conv2dFused(x, weight, bias, w, ho, wo) : conv2dComposed(x, weight, bias, w, ho, wo));
}

/** conv2d from differentiable ops: unfold, a batched product and a broadcast bias (any dtype, any order of gradients). */
function conv2dComposed(x: Tensor, weight: Tensor, bias: Tensor | undefined, w: Window, ho: number, wo: number): Tensor {
  const [outC, inC, kh, kw] = weight.shape;
  const y = reshape(matmul(reshape(weight, [outC, inC * kh * kw]), unfold(x, w)), [x.shape[0], outC, ho, wo]);
  return bias === undefined ? y : add(y, reshape(bias, [outC, 1, 1]));
}

/**
 * Visits, for every window row (channel, kernel offset), sample and output row whose input row is inside the
 * image, the span [lo, hi) of output columns whose input column is inside too: input index s + oj·sj goes
 * with column d + oj. The inner loops then need no bounds tests.
 */
function forEachSpan(shape: Shape, w: Window, ho: number, wo: number, start: Layout, visit: (s: number, d: number, lo: number, hi: number, sj: number) => void): void {
  const [n, c, h, wd] = shape;
  const [si, sj] = w.stride;
  for (let ch = 0; ch < c; ch++) {
    for (let ki = 0; ki < w.kh; ki++) {
      for (let kj = 0; kj < w.kw; kj++) {
        const row = (ch * w.kh + ki) * w.kw + kj;
        const jj0 = kj * w.dilation[1] - w.pad[2];
        // jj0 + oj·sj ∈ [0, wd)
        const lo = Math.max(0, Math.ceil(-jj0 / sj));
        const hi = Math.min(wo, Math.floor((wd - 1 - jj0) / sj) + 1);
        if (lo >= hi) continue;
        for (let b = 0; b < n; b++) {
          const d0 = start(row, b);
          for (let oi = 0; oi < ho; oi++) {
            const ii = oi * si - w.pad[0] + ki * w.dilation[0];
            if (ii >= 0 && ii < h) visit(((b * c + ch) * h + ii) * wd + jj0, d0 + oi * wo, lo, hi, sj);
          }
        }
      }
    }
  }
}

/**
 * conv2d in float32 as one graph node on the WebAssembly kernels (direct at stride 1 with few taps, as
 * matrix products otherwise); conv2dComposed where they are unavailable or the heap is full. Gradients of
 * gradients go through conv2dComposed.
 */
function conv2dFused(x: Tensor, weight: Tensor, bias: Tensor | undefined, w: Window, ho: number, wo: number): Tensor {
  const [n, c, h, wd] = x.shape;
  const [outC] = weight.shape;
  const p: ConvGeometry = { n, c, h, w: wd, o: outC, kh: w.kh, kw: w.kw, stride: w.stride, dilation: w.dilation, pad: w.pad };
  const xd = x.dataSync() as Float32Array;
  const wd32 = weight.dataSync() as Float32Array;
  const out = convForward(xd, wd32, bias?.dataSync() as Float32Array | undefined, p);
  if (out === null) return conv2dComposed(x, weight, bias, w, ho, wo);
  const inputs = bias === undefined ? [x, weight] : [x, weight, bias];
  const backward = (g: Tensor): (Tensor | null)[] => {
    if (isGradEnabled()) {
      // recording the backward pass: differentiate the composed form instead
      const grads = runBackward([conv2dComposed(x, weight, bias, w, ho, wo)], [g], { createGraph: true, retainGraph: true }, inputs);
      return inputs.map((t) => grads.get(t) ?? null);
    }
    const want: ConvWant = { weights: weight.requiresGrad || bias?.requiresGrad === true, bias: bias !== undefined, input: x.requiresGrad };
    const grads = convBackward(xd, wd32, g.dataSync() as Float32Array, p, want);
    if (grads === null) throw new ValueError('conv2d', `the gradient of a ${formatShape(x.shape)} input does not fit in WebAssembly memory`);
    const wrap = (data: Float32Array | null, shape: Shape) => (data === null ? null : Tensor.fromData(data, shape));
    const dx = wrap(grads.input, x.shape);
    const dw = wrap(grads.weight, weight.shape);
    return bias === undefined ? [dx, dw] : [dx, dw, wrap(grads.bias, [outC])];
  };
  return fromOp('conv2d', out, [n, outC, ho, wo], inputs, backward, inputs);
}

registerOp('conv2d', [
  { shapes: [[2, 2, 5, 6], [3, 2, 3, 2], [3]], call: (x, w, b) => conv2d(x, w, b, { padding: 1, stride: [1, 2] }), secondOrder: true },
  { label: "dilated, 'same', no bias", shapes: [[1, 2, 6, 6], [2, 2, 3, 3]], call: (x, w) => conv2d(x, w, undefined, { padding: 'same', dilation: 2 }) },
]);

export interface Pool2dOptions {
  /** Defaults to the kernel size. */
  stride?: Pair;
  padding?: Pair;
}

/** The window of a pooling op: kernel, stride (default the kernel) and symmetric padding of at most half the kernel. */
function poolWindow(op: string, kernel: Pair, options: Pool2dOptions): Window {
  const [kh, kw] = pair(op, 'kernelSize', kernel);
  const stride = pair(op, 'stride', options.stride ?? [kh, kw]);
  const p = pair(op, 'padding', options.padding ?? 0, 0);
  if (p[0] * 2 > kh || p[1] * 2 > kw) throw new ValueError(op, `padding ${p.join('×')} must be at most half the kernel ${kh}×${kw}`);
  return { kh, kw, stride, dilation: [1, 1], pad: [p[0], p[0], p[1], p[1]] };
}

/** A pooling op's NCHW input (and how to undo the batching), window, and output height and width. */
function pooling(op: string, input: Tensor, kernel: Pair, options: Pool2dOptions): { x: Tensor; unbatch: (y: Tensor) => Tensor; w: Window; ho: number; wo: number } {
  const [x, unbatch] = batched(op, input);
  const w = poolWindow(op, kernel, options);
  const [ho, wo] = outSize(op, w, x.shape[2], x.shape[3]);
  return { x, unbatch, w, ho, wo };
}

/**
 * Max over each window, as PyTorch's max_pool2d: padding is never chosen, the first maximum in the window
 * (row by row) takes the whole gradient, and NaN wins.
 */
export function maxPool2d(input: Tensor, kernelSize: Pair, options: Pool2dOptions = {}): Tensor {
  const { x, unbatch, w, ho, wo } = pooling('maxPool2d', input, kernelSize, options);
  const [n, c, h, wd] = x.shape;
  const src = x.dataSync();
  const fast = x.dtype === 'float32' ? maxPoolForward(src as Float32Array, n * c, h, wd, w, ho, wo) : null;
  const { out, index } = fast ?? maxPoolLoop(src, n * c, h, wd, w, ho, wo);
  // 2×2 windows at stride 2 without padding do not overlap: their gradient is written, not added up
  const windows = w.kh === 2 && w.kw === 2 && w.stride[0] === 2 && w.stride[1] === 2 && w.pad.every((p) => p === 0) ? { h, w: wd, ho, wo } : undefined;
  const y = fromOp('maxPool2d', out, [n, c, ho, wo], [x], (g) => [scatterAt(g, index, x.shape, n * c, windows)]);
  return unbatch(y);
}

/** maxPool2d's loop over planes [planes, h, wd] of any dtype: the maxima and their flat input positions. */
function maxPoolLoop(src: TypedArray, planes: number, h: number, wd: number, w: Window, ho: number, wo: number): { out: TypedArray; index: Int32Array } {
  const out = allocate(dtypeOf(src), planes * ho * wo);
  // the flat input position of each output's maximum
  const index = new Int32Array(out.length);
  for (let plane = 0, o = 0; plane < planes; plane++) {
    const base = plane * h * wd;
    for (let oi = 0; oi < ho; oi++) {
      const i0 = oi * w.stride[0] - w.pad[0];
      const ilo = Math.max(i0, 0);
      const ihi = Math.min(i0 + w.kh, h);
      for (let oj = 0; oj < wo; oj++, o++) {
        const j0 = oj * w.stride[1] - w.pad[2];
        const jlo = Math.max(j0, 0);
        const jhi = Math.min(j0 + w.kw, wd);
        let best = -Infinity;
        let at = base + ilo * wd + jlo;
        for (let ii = ilo; ii < ihi; ii++) {
          for (let jj = jlo; jj < jhi; jj++) {
            const v = src[base + ii * wd + jj];
            if (v > best || v !== v) {
              best = v;
              at = base + ii * wd + jj;
            }
          }
        }
        out[o] = best;
        index[o] = at;
      }
    }
  }
  return { out, index };
}
registerOp('maxPool2d', [
  { shapes: [[2, 2, 5, 6]], call: (x) => maxPool2d(x, 2), secondOrder: true },
  { label: '3×3, stride 2, padding 1', shapes: [[1, 2, 6, 5]], call: (x) => maxPool2d(x, 3, { stride: 2, padding: 1 }) },
]);

/**
 * A zero tensor of `shape` with each g[o] added at flat position index[o]: maxPool2d's backward. With
 * `planes`, the outputs of each of that many equal planes index into their own plane (as pooling's do),
 * which lets threads share the scatter by planes; with `windows`, they index into 2×2 windows at stride 2,
 * which do not overlap, and the float32 kernel writes each input once instead of adding into zeros.
 */
function scatterAt(g: Tensor, index: Int32Array, shape: Shape, planes = 1, windows?: Windows2x2): Tensor {
  const gs = g.dataSync();
  const size = sizeOf(shape);
  let out: TypedArray | null = g.dtype === 'float32' ? scatterAddAt(gs as Float32Array, index, planes, size / planes, windows) : null;
  if (out === null) {
    const sums = allocate(g.dtype, size);
    for (let o = 0; o < index.length; o++) sums[index[o]] += gs[o];
    out = sums;
  }
  return fromOp('scatterAt', out, shape, [g], (gg) => [gatherAt(gg, index, g.shape, planes, windows)]);
}

/** out[o] = x[index[o]], the adjoint of scatterAt. */
function gatherAt(x: Tensor, index: Int32Array, shape: Shape, planes = 1, windows?: Windows2x2): Tensor {
  const xs = x.dataSync();
  const out = allocate(x.dtype, index.length);
  for (let o = 0; o < index.length; o++) out[o] = xs[index[o]];
  return fromOp('gatherAt', out, shape, [x], (g) => [scatterAt(g, index, x.shape, planes, windows)]);
}
// positions with repeats, as overlapping pooling windows give
const checkIndex = Int32Array.from([0, 5, 5, 11, 2, 2, 7, 0]);
registerOp('scatterAt', [{ shapes: [[2, 4]], call: (g) => scatterAt(g, checkIndex, [3, 4]), secondOrder: true }]);
registerOp('gatherAt', [{ shapes: [[3, 4]], call: (x) => gatherAt(x, checkIndex, [2, 4]), secondOrder: true }]);

/** Mean over each window; padded zeros count in the mean (PyTorch's count_include_pad). */
export function avgPool2d(input: Tensor, kernelSize: Pair, options: Pool2dOptions = {}): Tensor {
  const { x, unbatch, w, ho, wo } = pooling('avgPool2d', input, kernelSize, options);
  const [n, c, h, wd] = x.shape;
  const cols = reshape(unfold(reshape(x, [n * c, 1, h, wd]), w), [n, c, w.kh * w.kw, ho * wo]);
  return unbatch(reshape(mean(cols, 2), [n, c, ho, wo]));
}
