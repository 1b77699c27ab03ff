/**
 * The direct stride-1 convolution in WebAssembly SIMD (conv.as.ts), on the tensor heap (heap.ts): the input
 * is padded once into a scratch block, and every window tap reads a shifted row of it, so there are no
 * im2col columns and no layout shuffles; the output is written in NCHW straight into the result (when that
 * is on the heap, inside tidy()). The input gradient is the same kernel run on the padded output gradient
 * with the weights flipped and their channels swapped. Large passes are shared with the helper threads,
 * which claim samples (forward pass) or output channels (weight gradient) one at a time; each value is
 * computed by one thread in a fixed order, so the bits do not depend on who computes it.
 */
import { allocate } from '../dtype';
import { freeBlock, heapAddress, heapFloat32, heapFloats, heapHelpers, heapCounter, heapModule, jobIndex, COUNTER_AT, type Block, type HeapJob } from './heap';
import type { HelperThread } from './threads';

interface Exports {
  pad(x: number, xp: number, planes: number, h: number, w: number, hp: number, wp: number, top: number, left: number): void;
  forwardShared(xp: number, n: number, c: number, hp: number, wp: number, weight: number, o: number, kh: number, kw: number, dh: number, dw: number, bias: number, hasBias: number, out: number, offsets: number, counter: number): void;
  weightGrad(xp: number, n: number, c: number, hp: number, wp: number, g: number, o: number, kh: number, kw: number, dh: number, dw: number, dweight: number, dbias: number, hasBias: number, rows: number, counter: number): void;
}

/** From this many multiply-adds a pass is shared with the helper threads. */
const THREAD_MIN_WORK = 1 << 19;

/** A stride-1 convolution: input [n, c, h, w], weight [o, c, kh, kw], dilation, padding top/bottom/left/right. */
export interface DirectConv {
  n: number;
  c: number;
  h: number;
  w: number;
  o: number;
  kh: number;
  kw: number;
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
 * Runs kernel `name` over its samples or output channels, which the calling thread and, when the pass has
 * `work` multiply-adds or more, the ready helper threads claim one at a time from a counter. `args(scratch)`
 * gives the arguments before the counter, with a region of `scratchFloats` for each thread.
 */
function split(k: Kernels, ws: Workspace, name: HeapJob<'conv'>, work: number, scratchFloats: number, args: (scratch: number) => number[]): void {
  const helpers = work < THREAD_MIN_WORK ? [] : k.helpers.filter((h) => h.ready);
  Atomics.store(heapCounter(), 0, 0);
  for (const helper of helpers) helper.post(jobIndex('conv', name), [...args(ws.region(scratchFloats)), COUNTER_AT]);
  const kernel = k.exports[name] as (...a: number[]) => void;
  kernel(...args(ws.region(scratchFloats)), COUNTER_AT);
  for (const helper of helpers) helper.join();
}

function padded(p: DirectConv): { hp: number; wp: number; ho: number; wo: number } {
  const hp = p.h + p.pad[0] + p.pad[1];
  const wp = p.w + p.pad[2] + p.pad[3];
  return { hp, wp, ho: hp - p.dilation[0] * (p.kh - 1), wo: wp - p.dilation[1] * (p.kw - 1) };
}

/**
 * out = the correlation of xp [n, c, hp, wp] (already padded, at byte `xpAt`) with weight [o, c, kh, kw]
 * (at `wAt`) plus the bias (at `bAt`, when hasBias), written at `outAt` as [n, o, ho, wo].
 */
function correlate(k: Kernels, ws: Workspace, xpAt: number, p: DirectConv, c: number, o: number, hp: number, wp: number, wAt: number, bAt: number, hasBias: boolean, outAt: number): void {
  const [dh, dw] = p.dilation;
  const ho = hp - dh * (p.kh - 1);
  const wo = wp - dw * (p.kw - 1);
  const taps = c * p.kh * p.kw;
  split(k, ws, 'forwardShared', p.n * o * ho * wo * taps, taps + taps * o, (scratch) => [xpAt, p.n, c, hp, wp, wAt, o, p.kh, p.kw, dh, dw, bAt, hasBias ? 1 : 0, outAt, scratch]);
}

/** The output [n, o, ho, wo] of the convolution, or null when the kernels are unavailable or it does not fit. */
export function directConvForward(x: Float32Array, weight: Float32Array, bias: Float32Array | undefined, p: DirectConv): Float32Array | null {
  const k = kernels();
  if (k === null) return null;
  const { hp, wp, ho, wo } = padded(p);
  const out = allocate('float32', p.n * p.o * ho * wo, false) as Float32Array;
  const ws = new Workspace();
  try {
    const xpAt = ws.region(p.n * p.c * hp * wp);
    k.exports.pad(ws.input(x), xpAt, p.n * p.c, p.h, p.w, hp, wp, p.pad[0], p.pad[2]);
    const outAt = ws.output(out);
    correlate(k, ws, xpAt, p, p.c, p.o, hp, wp, ws.input(weight), bias === undefined ? 0 : ws.input(bias), bias !== undefined, outAt);
    return ws.copyBack(out, outAt);
  } catch (e) {
    if (e instanceof HeapFull) return null;
    throw e;
  } finally {
    ws.free();
  }
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
export function directConvBackward(x: Float32Array, weight: Float32Array, g: Float32Array, p: DirectConv, want: ConvWant): ConvGrads | null {
  const k = kernels();
  if (k === null) return null;
  const { hp, wp, ho, wo } = padded(p);
  const [dh, dw] = p.dilation;
  const grads: ConvGrads = { input: null, weight: null, bias: null };
  const ws = new Workspace();
  try {
    const gAt = ws.input(g);
    if (want.weights) {
      const xpAt = ws.region(p.n * p.c * hp * wp);
      k.exports.pad(ws.input(x), xpAt, p.n * p.c, p.h, p.w, hp, wp, p.pad[0], p.pad[2]);
      grads.weight = allocate('float32', weight.length, false) as Float32Array;
      const dwAt = ws.output(grads.weight);
      const dbAt = ws.region(p.o);
      const work = g.length * (weight.length / p.o);
      split(k, ws, 'weightGrad', work, 2 * p.n * ho, (rows) => [xpAt, p.n, p.c, hp, wp, gAt, p.o, p.kh, p.kw, dh, dw, dwAt, dbAt, want.bias ? 1 : 0, rows]);
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
  } catch (e) {
    if (e instanceof HeapFull) return null;
    throw e;
  } finally {
    ws.free();
  }
}
