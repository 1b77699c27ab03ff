/**
 * Convolutions in WebAssembly SIMD (conv.as.ts) on the tensor heap (heap.ts), two ways.
 *
 * Direct, at stride 1 with few window taps: the input is padded once into a scratch block, and every tap
 * reads a shifted row of it, so there are no im2col columns and no layout shuffles; the output is written in
 * NCHW straight into the result (when that is on the heap, inside tidy()). The input gradient is the same
 * kernel run on the padded output gradient with the weights flipped and their channels swapped. Large
 * passes are shared with the helper threads, which claim samples (forward pass) or output channels (weight
 * gradient) one at a time; each value is computed by one thread in a fixed order, so the bits do not depend
 * on who computes it.
 *
 * As matrix products, at any stride and for many taps (PyTorch's im2col + GEMM): the columns of the whole
 * batch are built on the heap and multiplied in place by the threaded matrix product (gemm.ts), whose bits
 * do not depend on the thread count either.
 *
 * Max pooling, and the scatter of its gradient, run here too.
 */
import { allocate } from '../dtype';
import { freeBlock, heapAddress, heapFloat32, heapFloats, heapHelpers, heapCounter, heapModule, jobIndex, COUNTER_AT, type Block, type HeapJob } from './heap';
import { sgemm, sharedByRows, type StridedMatrix } from './gemm';
import type { HelperThread } from './threads';
import { scopedFloat32 } from '../scope';

interface Exports {
  pad(x: number, xp: number, planes: number, h: number, w: number, hp: number, wp: number, top: number, left: number): void;
  forwardShared(xp: number, n: number, c: number, hp: number, wp: number, weight: number, o: number, kh: number, kw: number, dh: number, dw: number, bias: number, hasBias: number, out: number, offsets: number, counter: number): void;
  weightGrad(xp: number, n: number, c: number, hp: number, wp: number, g: number, o: number, kh: number, kw: number, dh: number, dw: number, dweight: number, dbias: number, hasBias: number, rows: number, counter: number): void;
  unfold(xp: number, n: number, c: number, hp: number, wp: number, kh: number, kw: number, dh: number, dw: number, sh: number, sw: number, ho: number, wo: number, cols: number, ones: number, counter: number): void;
  fold(cols: number, n: number, c: number, hp: number, wp: number, kh: number, kw: number, dh: number, dw: number, sh: number, sw: number, ho: number, wo: number, dxp: number, counter: number): void;
  swapLeading(src: number, dst: number, p: number, q: number, l: number, counter: number): void;
  maxPool(x: number, planes: number, h: number, w: number, kh: number, kw: number, sh: number, sw: number, top: number, left: number, ho: number, wo: number, out: number, index: number, counter: number): void;
  scatterAdd(g: number, index: number, planes: number, count: number, size: number, out: number, counter: number): void;
  unpool2x2(g: number, index: number, planes: number, h: number, w: number, ho: number, wo: number, out: number, counter: number): void;
}

/** From this many multiply-adds a correlation pass is shared with the helper threads. */
const THREAD_MIN_WORK = 1 << 19;
/** From this many floats written, building or adding back columns and moving layouts is shared too. */
const THREAD_MIN_FLOATS = 1 << 16;

/** A convolution: input [n, c, h, w], weight [o, c, kh, kw], stride, dilation, padding top/bottom/left/right. */
export interface ConvGeometry {
  n: number;
  c: number;
  h: number;
  w: number;
  o: number;
  kh: number;
  kw: number;
  stride: readonly [number, number];
  dilation: readonly [number, number];
  pad: readonly [number, number, number, number];
}

interface Kernels {
  exports: Exports;
  helpers: HelperThread[];
}

let loaded: Kernels | null | undefined;

function kernels(): Kernels | null {
  if (loaded === undefined) {
    const m = heapModule('conv');
    loaded = m === null ? null : { exports: m.exports as unknown as Exports, helpers: heapHelpers() };
  }
  return loaded;
}

/** Whether the direct kernels are built and loadable. */
export function directConvAvailable(): boolean {
  return kernels() !== null;
}

/** The heap could not grow for a call's scratch space. */
class HeapFull extends Error {}

/** The heap blocks one call works in, freed together. */
class Workspace {
  private readonly blocks: Block[] = [];

  /** The byte offset of a new scratch region of `floats` (plus 16 to spare: a row's last lanes read past it). */
  region(floats: number): number {
    const made = heapFloat32(floats + 16, false, true);
    if (made === null) throw new HeapFull('the tensor heap is full');
    this.blocks.push(made[1]);
    return made[1].at;
  }

  /** The byte offset of `array` on the heap, copied into a new region when it lives elsewhere. */
  input(array: Float32Array): number {
    const at = heapAddress(array);
    if (at >= 0) return at;
    const region = this.region(array.length);
    heapFloats(region, array.length).set(array);
    return region;
  }

  /** Where a kernel should write `out`: in place on the heap, or in a region that `copyBack` copies from. */
  output(out: Float32Array): number {
    const at = heapAddress(out);
    return at >= 0 ? at : this.region(out.length);
  }

  copyBack(out: Float32Array, at: number): Float32Array {
    if (heapAddress(out) < 0) out.set(heapFloats(at, out.length));
    return out;
  }

  free(): void {
    this.blocks.forEach(freeBlock);
  }
}

/**
 * Runs kernel `name`, whose work the calling thread and, when `shared`, the ready helper threads claim from
 * a counter (samples, channels, rows or planes, one at a time). `args(scratch)` gives the arguments before
 * the counter, with a region of `scratchFloats` for each thread when the kernel needs one.
 */
function split(k: Kernels, ws: Workspace, name: HeapJob<'conv'>, shared: boolean, args: (scratch: number) => number[], scratchFloats = 0): void {
  const helpers = shared ? k.helpers.filter((h) => h.ready) : [];
  const scratch = (): number => (scratchFloats > 0 ? ws.region(scratchFloats) : 0);
  Atomics.store(heapCounter(), 0, 0);
  for (const helper of helpers) helper.post(jobIndex('conv', name), [...args(scratch()), COUNTER_AT]);
  const kernel = k.exports[name] as (...a: number[]) => void;
  kernel(...args(scratch()), COUNTER_AT);
  for (const helper of helpers) helper.join();
}

/** [q, p, l] at dstAt from [p, q, l] at srcAt (conv.as.ts swapLeading). */
function swapLeading(k: Kernels, ws: Workspace, srcAt: number, dstAt: number, p: number, q: number, l: number): void {
  split(k, ws, 'swapLeading', p * q * l >= THREAD_MIN_FLOATS, () => [srcAt, dstAt, p, q, l]);
}

/**
 * `run` with the kernels and a workspace freed afterwards; null when the kernels are unavailable or the heap
 * cannot hold the workspace.
 */
function inWorkspace<T>(run: (k: Kernels, ws: Workspace) => T): T | null {
  const k = kernels();
  if (k === null) return null;
  const ws = new Workspace();
  try {
    return run(k, ws);
  } catch (e) {
    if (e instanceof HeapFull) return null;
    throw e;
  } finally {
    ws.free();
  }
}

/** The input's size once padded, and the output's. */
function padded(p: ConvGeometry): { hp: number; wp: number; ho: number; wo: number } {
  const hp = p.h + p.pad[0] + p.pad[1];
  const wp = p.w + p.pad[2] + p.pad[3];
  const ho = Math.floor((hp - p.dilation[0] * (p.kh - 1) - 1) / p.stride[0]) + 1;
  const wo = Math.floor((wp - p.dilation[1] * (p.kw - 1) - 1) / p.stride[1]) + 1;
  return { hp, wp, ho, wo };
}

/**
 * Whether the direct kernels take the convolution: stride 1, and few output channels or little work per
 * column. The products pay for building, packing and moving the columns (taps × N·L floats) with 2·o flops
 * per float, which pays off from 24–32 output channels. Measured fwd+bwd, product / direct time, batch 32,
 * 'same': 3×3 kernels 1→16 2.0, 1→64 1.9, 3→32 1.06, 3→64 0.94, 8→16 1.19, 8→32 0.89, 16→16 1.31, 16→24
 * 0.94, 16→32 0.87, 16→64 0.75, 32→8 2.0, 32→64 0.67, 64→16 1.19, 64→64 0.63, 128→16 1.19, 128→128 0.33;
 * 5×5 kernels 3→16 1.24, 20→16 1.21, 64→16 1.36.
 */
function direct(p: ConvGeometry): boolean {
  return p.stride[0] === 1 && p.stride[1] === 1 && (p.o <= 16 || p.c * p.kh * p.kw * p.o < 2048);
}

/**
 * out = the correlation of xp [n, c, hp, wp] (already padded, at byte `xpAt`) with weight [o, c, kh, kw]
 * (at `wAt`) plus the bias (at `bAt`, when hasBias), written at `outAt` as [n, o, ho, wo]; stride 1.
 */
function correlate(k: Kernels, ws: Workspace, xpAt: number, p: ConvGeometry, c: number, o: number, hp: number, wp: number, wAt: number, bAt: number, hasBias: boolean, outAt: number): void {
  const [dh, dw] = p.dilation;
  const ho = hp - dh * (p.kh - 1);
  const wo = wp - dw * (p.kw - 1);
  const taps = c * p.kh * p.kw;
  split(k, ws, 'forwardShared', p.n * o * ho * wo * taps >= THREAD_MIN_WORK, (scratch) => [xpAt, p.n, c, hp, wp, wAt, o, p.kh, p.kw, dh, dw, bAt, hasBias ? 1 : 0, outAt, scratch], taps + taps * o);
}

/** The padded input [n, c, hp, wp] in a new region. */
function padInput(k: Kernels, ws: Workspace, x: Float32Array, p: ConvGeometry, hp: number, wp: number): number {
  // unpadded, the input is read where it is (a row's last lanes read past it, into memory the heap keeps)
  if (hp === p.h && wp === p.w) return ws.input(x);
  const xpAt = ws.region(p.n * p.c * hp * wp);
  k.exports.pad(ws.input(x), xpAt, p.n * p.c, p.h, p.w, hp, wp, p.pad[0], p.pad[2]);
  return xpAt;
}

/** A float32 view of `count` floats of the heap at byte `at`, as a dense row-major matrix with rows `rowStride` apart (or, with colStride, any strides). */
function matrix(at: number, count: number, rowStride: number, colStride = 1): StridedMatrix {
  return { data: heapFloats(at, count), offset: 0, rowStride, colStride };
}

/**
 * im2col of the padded input over the whole batch, in a new region: [rows, N·L] (L = ho·wo), window row
 * (channel, kernel offset) by output position b·L + l of sample b, and with `ones` a last row of ones.
 */
function columns(k: Kernels, ws: Workspace, xpAt: number, p: ConvGeometry, hp: number, wp: number, ho: number, wo: number, ones: boolean): number {
  const taps = p.c * p.kh * p.kw;
  const floats = (ones ? taps + 1 : taps) * p.n * ho * wo;
  const colsAt = ws.region(floats);
  split(k, ws, 'unfold', floats >= THREAD_MIN_FLOATS, () => [xpAt, p.n, p.c, hp, wp, p.kh, p.kw, p.dilation[0], p.dilation[1], p.stride[0], p.stride[1], ho, wo, colsAt, ones ? 1 : 0]);
  return colsAt;
}

/** The output [n, o, ho, wo] of the convolution, or null when the kernels are unavailable or it does not fit. */
export function convForward(x: Float32Array, weight: Float32Array, bias: Float32Array | undefined, p: ConvGeometry): Float32Array | null {
  return inWorkspace((k, ws) => {
    const { hp, wp, ho, wo } = padded(p);
    const out = allocate('float32', p.n * p.o * ho * wo, false) as Float32Array;
    const xpAt = padInput(k, ws, x, p, hp, wp);
    const outAt = ws.output(out);
    if (direct(p)) {
      correlate(k, ws, xpAt, p, p.c, p.o, hp, wp, ws.input(weight), bias === undefined ? 0 : ws.input(bias), bias !== undefined, outAt);
    } else {
      // [o, N·L] = [W | b]·[columns; ones], then to [N, o, L]
      const taps = p.c * p.kh * p.kw;
      const rows = bias === undefined ? taps : taps + 1;
      const colsAt = columns(k, ws, xpAt, p, hp, wp, ho, wo, bias !== undefined);
      let wAt = ws.input(weight);
      if (bias !== undefined) {
        const wb = heapFloats((wAt = ws.region(p.o * rows)), p.o * rows);
        for (let o = 0; o < p.o; o++) {
          wb.set(weight.subarray(o * taps, o * taps + taps), o * rows);
          wb[o * rows + taps] = bias[o];
        }
      }
      const nl = p.n * ho * wo;
      const productAt = ws.region(p.o * nl);
      sgemm(matrix(wAt, p.o * rows, rows), matrix(colsAt, rows * nl, nl), p.o, rows, nl, heapFloats(productAt, p.o * nl), 0);
      swapLeading(k, ws, productAt, outAt, p.o, p.n, ho * wo);
    }
    return ws.copyBack(out, outAt);
  });
}

/** Float32 arrays of a convolution's gradients; null where not asked for. */
export interface ConvGrads {
  input: Float32Array | null;
  weight: Float32Array | null;
  bias: Float32Array | null;
}

/** Which gradients to compute: of the weight (and of the bias, when `bias`), and of the input. */
export interface ConvWant {
  weights: boolean;
  bias: boolean;
  input: boolean;
}

/**
 * The gradients of the convolution for the output gradient g [n, o, ho, wo]: of the weight and the bias
 * (when `weights`, the bias only when `bias`) and of the input (when `input`); null when it does not fit.
 */
export function convBackward(x: Float32Array, weight: Float32Array, g: Float32Array, p: ConvGeometry, want: ConvWant): ConvGrads | null {
  return inWorkspace((k, ws) => (direct(p) ? directBackward : productBackward)(k, ws, x, weight, g, p, want));
}

function directBackward(k: Kernels, ws: Workspace, x: Float32Array, weight: Float32Array, g: Float32Array, p: ConvGeometry, want: ConvWant): ConvGrads {
  const { hp, wp, ho, wo } = padded(p);
  const [dh, dw] = p.dilation;
  const grads: ConvGrads = { input: null, weight: null, bias: null };
  const gAt = ws.input(g);
  if (want.weights) {
    const xpAt = padInput(k, ws, x, p, hp, wp);
    grads.weight = allocate('float32', weight.length, false) as Float32Array;
    const dwAt = ws.output(grads.weight);
    const dbAt = ws.region(p.o);
    const work = g.length * (weight.length / p.o);
    split(k, ws, 'weightGrad', work >= THREAD_MIN_WORK, (rows) => [xpAt, p.n, p.c, hp, wp, gAt, p.o, p.kh, p.kw, dh, dw, dwAt, dbAt, want.bias ? 1 : 0, rows], 2 * p.n * ho);
    ws.copyBack(grads.weight, dwAt);
    if (want.bias) grads.bias = ws.copyBack(allocate('float32', p.o, false) as Float32Array, dbAt);
  }
  if (want.input) {
    // dx[b, c, y, x] = Σ w[o, c, i, j]·g[b, o, y + top − i·dh, x + left − j·dw]: a correlation of g, padded
    // by the kernel's reach less the input's padding, with the weights flipped and transposed to [c, o, kh, kw]
    const ghp = p.h + dh * (p.kh - 1);
    const gwp = p.w + dw * (p.kw - 1);
    const gpAt = ws.region(p.n * p.o * ghp * gwp);
    k.exports.pad(gAt, gpAt, p.n * p.o, ho, wo, ghp, gwp, dh * (p.kh - 1) - p.pad[0], dw * (p.kw - 1) - p.pad[2]);
    const taps = p.kh * p.kw;
    const flipAt = ws.region(weight.length);
    const flip = heapFloats(flipAt, weight.length);
    for (let o = 0; o < p.o; o++) {
      for (let c = 0; c < p.c; c++) {
        for (let t = 0; t < taps; t++) flip[(c * p.o + o) * taps + taps - 1 - t] = weight[(o * p.c + c) * taps + t];
      }
    }
    grads.input = allocate('float32', x.length, false) as Float32Array;
    const dxAt = ws.output(grads.input);
    correlate(k, ws, gpAt, p, p.o, p.c, ghp, gwp, flipAt, 0, false, dxAt);
    ws.copyBack(grads.input, dxAt);
  }
  return grads;
}

/**
 * The gradients as two products over the whole batch, g taken to [o, N·L] first: [dW | db] = g·[columns;
 * ones]ᵀ (the ones row sums the bias gradient), and the input's columns Wᵀ·g, added back to the positions
 * they were read from (col2im) and cropped to the input.
 */
function productBackward(k: Kernels, ws: Workspace, x: Float32Array, weight: Float32Array, g: Float32Array, p: ConvGeometry, want: ConvWant): ConvGrads {
  const { hp, wp, ho, wo } = padded(p);
  const taps = p.c * p.kh * p.kw;
  const l = ho * wo;
  const nl = p.n * l;
  const grads: ConvGrads = { input: null, weight: null, bias: null };
  const gpAt = ws.region(p.o * nl);
  swapLeading(k, ws, ws.input(g), gpAt, p.n, p.o, l);
  const gp = matrix(gpAt, p.o * nl, nl);
  if (want.weights) {
    const rows = want.bias ? taps + 1 : taps;
    const colsAt = columns(k, ws, padInput(k, ws, x, p, hp, wp), p, hp, wp, ho, wo, want.bias);
    const dwbAt = ws.region(rows * p.o);
    const dwb = heapFloats(dwbAt, rows * p.o);
    grads.weight = allocate('float32', weight.length, false) as Float32Array;
    if (rows < p.o || !sharedByRows(p.o, nl, rows)) {
      sgemm(gp, matrix(colsAt, rows * nl, 1, nl), p.o, nl, rows, dwb, 0);
      for (let o = 0; o < p.o; o++) grads.weight.set(dwb.subarray(o * rows, o * rows + taps), o * taps);
      if (want.bias) grads.bias = Float32Array.from({ length: p.o }, (_, o) => dwb[o * rows + taps]);
    } else {
      // shared by rows (each thread packing all of the columns once), dW's few rows would make one or two
      // claims: [dW | db]ᵀ = [columns; ones]·gᵀ instead, shared by the columns' more rows with gᵀ packed
      // once by each thread (the same sums: the products commute)
      sgemm(matrix(colsAt, rows * nl, nl), matrix(gpAt, p.o * nl, 1, nl), rows, nl, p.o, dwb, 0);
      for (let o = 0; o < p.o; o++) for (let t = 0; t < taps; t++) grads.weight[o * taps + t] = dwb[t * p.o + o];
      if (want.bias) grads.bias = dwb.slice(taps * p.o, rows * p.o);
    }
  }
  if (want.input) {
    const dcolsAt = ws.region(taps * nl);
    sgemm(matrix(ws.input(weight), weight.length, 1, taps), gp, taps, p.o, nl, heapFloats(dcolsAt, taps * nl), 0);
    grads.input = allocate('float32', x.length, false) as Float32Array;
    const dxAt = ws.output(grads.input);
    // unpadded, the columns are added back straight into the input's gradient; else cropped from a padded one
    const unpadded = hp === p.h && wp === p.w;
    const dxpAt = unpadded ? dxAt : ws.region(p.n * p.c * hp * wp);
    split(k, ws, 'fold', taps * nl >= THREAD_MIN_FLOATS, () => [dcolsAt, p.n, p.c, hp, wp, p.kh, p.kw, p.dilation[0], p.dilation[1], p.stride[0], p.stride[1], ho, wo, dxpAt]);
    if (!unpadded) k.exports.pad(dxpAt, dxAt, p.n * p.c, hp, wp, p.h, p.w, -p.pad[0], -p.pad[2]);
    ws.copyBack(grads.input, dxAt);
  }
  return grads;
}

/** A pooling window: kernel, stride, and padding top/bottom/left/right. */
export interface PoolWindow {
  kh: number;
  kw: number;
  stride: readonly [number, number];
  pad: readonly [number, number, number, number];
}

/** An Int32Array view of `count` i32s of the heap at byte `at`. */
function heapInts(at: number, count: number): Int32Array {
  return new Int32Array(heapFloats(at, count).buffer, at, count);
}

/**
 * Max pooling of float32 planes [planes, h, w] into [planes, ho, wo] (conv.as.ts maxPool), with each
 * maximum's flat input position; null when the kernels are unavailable or it does not fit. Inside tidy()
 * the positions, which the backward pass reads, stay on the heap with the output's scope.
 */
export function maxPoolForward(x: Float32Array, planes: number, h: number, w: number, win: PoolWindow, ho: number, wo: number): { out: Float32Array; index: Int32Array } | null {
  return inWorkspace((k, ws) => {
    const count = planes * ho * wo;
    const out = allocate('float32', count, false) as Float32Array;
    const scoped = scopedFloat32(count, false);
    const index = scoped === null ? new Int32Array(count) : new Int32Array(scoped.buffer, scoped.byteOffset, count);
    const xAt = ws.input(x);
    const outAt = ws.output(out);
    const indexAt = scoped === null ? ws.region(count) : index.byteOffset;
    split(k, ws, 'maxPool', x.length >= THREAD_MIN_FLOATS, () => [xAt, planes, h, w, win.kh, win.kw, win.stride[0], win.stride[1], win.pad[0], win.pad[2], ho, wo, outAt, indexAt]);
    if (scoped === null) index.set(heapInts(indexAt, count));
    return { out: ws.copyBack(out, outAt), index };
  });
}

/** Planes [h, w] pooled by 2×2 windows at stride 2 without padding into [ho, wo]: windows that do not overlap. */
export interface Windows2x2 {
  h: number;
  w: number;
  ho: number;
  wo: number;
}

/**
 * A float32 array of planes × size zeros with g[o] added at index[o], in order, where the outputs of each
 * plane (an equal share of g) index into that plane (conv.as.ts scatterAdd, max pooling's backward); null
 * when the kernels are unavailable or it does not fit. With `windows`, the positions are those of 2×2
 * windows at stride 2 (conv.as.ts unpool2x2): each input is written once, in streaming stores.
 */
export function scatterAddAt(g: Float32Array, index: Int32Array, planes: number, size: number, windows?: Windows2x2): Float32Array | null {
  return inWorkspace((k, ws) => {
    const out = allocate('float32', planes * size, false) as Float32Array;
    let indexAt = heapAddress(index);
    if (indexAt < 0) heapInts((indexAt = ws.region(index.length)), index.length).set(index);
    const gAt = ws.input(g);
    const outAt = ws.output(out);
    const shared = out.length >= THREAD_MIN_FLOATS;
    if (windows === undefined) split(k, ws, 'scatterAdd', shared, () => [gAt, indexAt, planes, index.length / planes, size, outAt]);
    else split(k, ws, 'unpool2x2', shared, () => [gAt, indexAt, planes, windows.h, windows.w, windows.ho, windows.wo, outAt]);
    return ws.copyBack(out, outAt);
  });
}
