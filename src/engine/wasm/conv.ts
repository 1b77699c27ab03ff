/**
 * The direct stride-1 convolution in WebAssembly SIMD (conv.as.ts): the input is copied into the module's
 * own memory once and padded there, and every window tap reads a shifted row of it, so there are no
 * im2col columns and no layout shuffles; the output comes back in NCHW. The input gradient is the same
 * kernel run on the padded output gradient with the weights flipped and their channels swapped.
 */
import { ownMemory, PAGE, type OwnMemory } from './load';

interface Exports {
  pad(x: number, xp: number, planes: number, h: number, w: number, hp: number, wp: number, top: number, left: number): void;
  forward(xp: number, n: number, c: number, hp: number, wp: number, weight: number, o: number, kh: number, kw: number, dh: number, dw: number, bias: number, hasBias: number, out: number, offsets: number): void;
  weightGrad(xp: number, n: number, c: number, hp: number, wp: number, g: number, o: number, kh: number, kw: number, dh: number, dw: number, dweight: number, dbias: number, hasBias: number, ones: number, rows: number): void;
}

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

let loaded: OwnMemory<Exports> | null | undefined;

function kernels(): OwnMemory<Exports> | null {
  if (loaded === undefined) loaded = ownMemory<Exports>('conv');
  return loaded;
}

/** Whether the direct kernels are built and loadable. */
export function directConvAvailable(): boolean {
  return kernels() !== null;
}

/**
 * Byte offsets of consecutive regions of the given float counts, from PAGE on, 64-byte aligned with 16
 * floats to spare after each (a row's last lane group reads past its end); the last entry is the end.
 */
function regions(...floats: number[]): number[] {
  const at = [PAGE];
  for (const f of floats) at.push(at[at.length - 1] + Math.ceil(f / 16) * 64 + 64);
  return at;
}

function padded(p: DirectConv): { hp: number; wp: number; ho: number; wo: number } {
  const hp = p.h + p.pad[0] + p.pad[1];
  const wp = p.w + p.pad[2] + p.pad[3];
  return { hp, wp, ho: hp - p.dilation[0] * (p.kh - 1), wo: wp - p.dilation[1] * (p.kw - 1) };
}

/** Copies x in (at `xAt`) and pads it at `xpAt`. */
function padInput(k: Exports, heap: Float32Array, x: Float32Array, p: DirectConv, xAt: number, xpAt: number): void {
  const { hp, wp } = padded(p);
  heap.set(x, xAt / 4);
  k.pad(xAt, xpAt, p.n * p.c, p.h, p.w, hp, wp, p.pad[0], p.pad[2]);
}

/** The output [n, o, ho, wo] of the convolution, or null when the kernels are unavailable or it does not fit. */
export function directConvForward(x: Float32Array, weight: Float32Array, bias: Float32Array | undefined, p: DirectConv): Float32Array | null {
  const m = kernels();
  if (m === null) return null;
  const { hp, wp, ho, wo } = padded(p);
  const outSize = p.n * p.o * ho * wo;
  const [xAt, xpAt, wAt, bAt, outAt, offsetsAt, end] = regions(x.length, p.n * p.c * hp * wp, weight.length, p.o, outSize, weight.length / p.o + weight.length);
  const heap = m.heap(end);
  if (heap === null) return null;
  const k = m.kernels;
  padInput(k, heap, x, p, xAt, xpAt);
  heap.set(weight, wAt / 4);
  if (bias !== undefined) heap.set(bias, bAt / 4);
  k.forward(xpAt, p.n, p.c, hp, wp, wAt, p.o, p.kh, p.kw, p.dilation[0], p.dilation[1], bAt, bias === undefined ? 0 : 1, outAt, offsetsAt);
  return heap.slice(outAt / 4, outAt / 4 + outSize);
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
export function directConvBackward(
  x: Float32Array, weight: Float32Array, g: Float32Array, p: DirectConv, want: ConvWant,
): ConvGrads | null {
  const m = kernels();
  if (m === null) return null;
  const { hp, wp, ho, wo } = padded(p);
  const [dh, dw] = p.dilation;
  // dx[b, c, y, x] = Σ w[o, c, i, j]·g[b, o, y + top − i·dh, x + left − j·dw]: a correlation of g, padded by
  // the kernel's reach less the input's padding, with the weights flipped and transposed to [c, o, kh, kw]
  const gTop = dh * (p.kh - 1) - p.pad[0];
  const gLeft = dw * (p.kw - 1) - p.pad[2];
  const ghp = p.h + dh * (p.kh - 1);
  const gwp = p.w + dw * (p.kw - 1);
  const [xAt, xpAt, gAt, dwAt, dbAt, onesAt, rowsAt, gpAt, flipAt, dxAt, end] = regions(
    x.length, want.weights ? p.n * p.c * hp * wp : 0, g.length, weight.length, p.o, ho * wo, Math.max(4 * p.n * ho, p.o * p.kh * p.kw + weight.length),
    want.input ? p.n * p.o * ghp * gwp : 0, want.input ? weight.length : 0, want.input ? x.length : 0,
  );
  const heap = m.heap(end);
  if (heap === null) return null;
  const k = m.kernels;
  heap.set(g, gAt / 4);
  const grads: ConvGrads = { input: null, weight: null, bias: null };
  if (want.weights) {
    padInput(k, heap, x, p, xAt, xpAt);
    heap.fill(1, onesAt / 4, onesAt / 4 + ho * wo);
    k.weightGrad(xpAt, p.n, p.c, hp, wp, gAt, p.o, p.kh, p.kw, dh, dw, dwAt, dbAt, want.bias ? 1 : 0, onesAt, rowsAt);
    grads.weight = heap.slice(dwAt / 4, dwAt / 4 + weight.length);
    if (want.bias) grads.bias = heap.slice(dbAt / 4, dbAt / 4 + p.o);
  }
  if (want.input) {
    k.pad(gAt, gpAt, p.n * p.o, ho, wo, ghp, gwp, gTop, gLeft);
    const taps = p.kh * p.kw;
    const flip = flipAt / 4;
    for (let o = 0; o < p.o; o++) {
      for (let c = 0; c < p.c; c++) {
        for (let t = 0; t < taps; t++) heap[flip + (c * p.o + o) * taps + taps - 1 - t] = weight[(o * p.c + c) * taps + t];
      }
    }
    k.forward(gpAt, p.n, p.o, ghp, gwp, flipAt, p.c, p.kh, p.kw, dh, dw, 0, 0, dxAt, rowsAt);
    grads.input = heap.slice(dxAt / 4, dxAt / 4 + x.length);
  }
  return grads;
}
