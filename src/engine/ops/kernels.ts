import { allocate, type DType, type TypedArray } from '../dtype';
import { sizeOf, type Shape } from '../shape';
import type { Tensor } from '../tensor';

/**
 * A fresh copy of a self-contained function (no closure variables), with its own type feedback. A hot loop
 * shared by many ops or dtypes goes megamorphic in V8 and stops inlining; one copy per op or per dtype
 * keeps each copy monomorphic.
 */
export function monomorphicCopy<F extends (...args: never[]) => unknown>(fn: F): F {
  return new Function(`return (${fn.toString()})`)() as F;
}

/** One monomorphic copy of `fn` per dtype: `perDType(f)[x.dtype](...)` for a loop over x's storage. */
export function perDType<F extends (...args: never[]) => unknown>(fn: F): Record<DType, F> {
  return { float32: monomorphicCopy(fn), float64: monomorphicCopy(fn), int32: monomorphicCopy(fn) };
}

/**
 * `out[i] = f(src[i])`; each unary op runs its own copy (see monomorphicCopy). The loops here are unrolled
 * four times: V8 re-checks typed arrays on every iteration, and fewer iterations mean fewer checks.
 */
export function unaryLoop(src: ArrayLike<number>, out: { [i: number]: number }, f: (v: number) => number): void {
  const n = src.length;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    out[i] = f(src[i]);
    out[i + 1] = f(src[i + 1]);
    out[i + 2] = f(src[i + 2]);
    out[i + 3] = f(src[i + 3]);
  }
  for (; i < n; i++) out[i] = f(src[i]);
}

/** Applies `f` to every element of `x` (any layout) into a new contiguous array of `dtype`. */
export function mapUnary(x: Tensor, dtype: DType, f: (v: number) => number, loop = unaryLoop): TypedArray {
  const src = x.dataSync();
  const out = allocate(dtype, src.length, false);
  loop(src, out, f);
  return out;
}

/** The strides that read `t` as if it had the (broadcast) shape `shape`: 0 along broadcast dimensions. */
export function broadcastStrides(t: Tensor, shape: Shape): number[] {
  const nd = shape.length;
  const lead = nd - t.ndim;
  const out = new Array<number>(nd).fill(0);
  for (let d = 0; d < t.ndim; d++) out[lead + d] = t.shape[d] === 1 && shape[lead + d] !== 1 ? 0 : t.strides[d];
  return out;
}

type Out = { [i: number]: number };
type Binary = (x: number, y: number) => number;

/** The loops of a binary op; self-contained, so that each op can run its own copies (see binaryLoops). */
const sharedBinaryLoops = {
  same: (x: ArrayLike<number>, oa: number, y: ArrayLike<number>, ob: number, out: Out, size: number, f: Binary): void => {
    let i = 0;
    for (; i + 4 <= size; i += 4) {
      out[i] = f(x[oa + i], y[ob + i]);
      out[i + 1] = f(x[oa + i + 1], y[ob + i + 1]);
      out[i + 2] = f(x[oa + i + 2], y[ob + i + 2]);
      out[i + 3] = f(x[oa + i + 3], y[ob + i + 3]);
    }
    for (; i < size; i++) out[i] = f(x[oa + i], y[ob + i]);
  },
  scalarRight: (x: ArrayLike<number>, oa: number, s: number, out: Out, size: number, f: Binary): void => {
    let i = 0;
    for (; i + 4 <= size; i += 4) {
      out[i] = f(x[oa + i], s);
      out[i + 1] = f(x[oa + i + 1], s);
      out[i + 2] = f(x[oa + i + 2], s);
      out[i + 3] = f(x[oa + i + 3], s);
    }
    for (; i < size; i++) out[i] = f(x[oa + i], s);
  },
  scalarLeft: (s: number, y: ArrayLike<number>, ob: number, out: Out, size: number, f: Binary): void => {
    let i = 0;
    for (; i + 4 <= size; i += 4) {
      out[i] = f(s, y[ob + i]);
      out[i + 1] = f(s, y[ob + i + 1]);
      out[i + 2] = f(s, y[ob + i + 2]);
      out[i + 3] = f(s, y[ob + i + 3]);
    }
    for (; i < size; i++) out[i] = f(s, y[ob + i]);
  },
  /** Walks both operands with their broadcast strides, the last dimension innermost. */
  strided: (x: ArrayLike<number>, pa: number, sa: number[], y: ArrayLike<number>, pb: number, sb: number[], shape: readonly number[], out: Out, size: number, f: Binary): void => {
    const nd = shape.length;
    const last = nd - 1;
    const inner = shape[last];
    const ia = sa[last];
    const ib = sb[last];
    const index = new Array<number>(nd).fill(0);
    for (let o = 0; o < size; o += inner) {
      for (let i = 0, qa = pa, qb = pb; i < inner; i++, qa += ia, qb += ib) out[o + i] = f(x[qa], y[qb]);
      for (let d = last - 1; d >= 0; d--) {
        index[d]++;
        pa += sa[d];
        pb += sb[d];
        if (index[d] < shape[d]) break;
        pa -= sa[d] * shape[d];
        pb -= sb[d] * shape[d];
        index[d] = 0;
      }
    }
  },
};

export type BinaryLoops = typeof sharedBinaryLoops;

/** Fresh copies of the binary loops for one op: shared by every op, their call to `f` would go megamorphic. */
export function binaryLoops(): BinaryLoops {
  return {
    same: monomorphicCopy(sharedBinaryLoops.same),
    scalarRight: monomorphicCopy(sharedBinaryLoops.scalarRight),
    scalarLeft: monomorphicCopy(sharedBinaryLoops.scalarLeft),
    strided: monomorphicCopy(sharedBinaryLoops.strided),
  };
}

/**
 * `out[i] = f(a[i], b[i])` over the broadcast shape. Contiguous same-shape and scalar operands take straight
 * loops; anything else walks both operands with their broadcast strides (views need no copy).
 */
export function mapBinary(a: Tensor, b: Tensor, shape: Shape, dtype: DType, f: Binary, loops: BinaryLoops = sharedBinaryLoops): TypedArray {
  const size = sizeOf(shape);
  const out = allocate(dtype, size, false);
  const sameA = a.size === size && a.ndim === shape.length;
  const sameB = b.size === size && b.ndim === shape.length;
  if (sameA && sameB && a.isContiguous() && b.isContiguous()) {
    loops.same(a.storage.data, a.offset, b.storage.data, b.offset, out, size, f);
  } else if (b.size === 1 && sameA && a.isContiguous()) {
    loops.scalarRight(a.storage.data, a.offset, b.storage.data[b.offset], out, size, f);
  } else if (a.size === 1 && sameB && b.isContiguous()) {
    loops.scalarLeft(a.storage.data[a.offset], b.storage.data, b.offset, out, size, f);
  } else if (shape.length === 0) {
    out[0] = f(a.storage.data[a.offset], b.storage.data[b.offset]);
  } else {
    loops.strided(a.storage.data, a.offset, broadcastStrides(a, shape), b.storage.data, b.offset, broadcastStrides(b, shape), shape, out, size, f);
  }
  return out;
}
