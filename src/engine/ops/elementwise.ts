import { allocate, floatResult, promote, type DType, type TypedArray } from '../dtype';
import { DTypeError, ValueError } from '../errors';
import { registerOp, type GradCheck } from '../registry';
import { broadcastShapes, sameShape, sizeOf, type Shape } from '../shape';
import { HEAP_MIN_ELEMENTS } from '../scope';
import { fromOp, isBroadcastScalar, isGradEnabled, record, Tensor } from '../tensor';
import * as wasm from '../wasm/elementwise';
import { binaryLoops, broadcastStrides, mapBinary, mapUnary, monomorphicCopy, unaryLoop } from './kernels';

/** A tensor or a plain number, which acts as a 0-d tensor of the other operand's dtype. */
export type TensorLike = Tensor | number;

export function asTensor(op: string, value: TensorLike, like: DType = 'float32'): Tensor {
  if (value instanceof Tensor) return value;
  if (typeof value !== 'number') throw new DTypeError(op, `expected a Tensor or a number, got ${value === null ? 'null' : typeof value}`);
  const dtype = like === 'int32' && !Number.isInteger(value) ? 'float32' : like;
  const data = allocate(dtype, 1);
  data[0] = value;
  return Tensor.fromData(data, []);
}

/** Converts both operands of a binary op, giving numbers the dtype of the tensor operand. */
function operands(op: string, a: TensorLike, b: TensorLike): [Tensor, Tensor] {
  if (a instanceof Tensor) return [a, asTensor(op, b, a.dtype)];
  if (b instanceof Tensor) return [asTensor(op, a, b.dtype), b];
  return [asTensor(op, a), asTensor(op, b)];
}

// ---------------------------------------------------------------------------------------------------------
// Unary ops

type Params = Record<string, unknown>;

export interface UnaryDef<P extends Params> {
  name: string;
  /** Parameter defaults; the option names users pass, e.g. `{negativeSlope: 0.01}`. */
  params: P;
  forward: (x: number, p: P) => number;
  /** The local derivative dy/dx at x (y is the output), including the value chosen at each kink. */
  derivative: (x: number, y: number, p: P) => number;
  /**
   * The derivative as differentiable tensor ops, used when the backward pass is itself recorded
   * (gradients of gradients). Omitted for piecewise-linear ops, whose derivative is piecewise constant.
   */
  derivativeTensor?: (x: Tensor, y: Tensor, p: P) => Tensor;
  /** Where the op is not differentiable, for the gradient check and `kinkHits`. */
  kinks?: (p: P) => readonly number[];
  /** Input interval for the gradient check, e.g. (0, 2] for log. */
  domain?: readonly [number, number];
  /** Checks parameter values, throwing a ValueError that names the op. */
  validate?: (p: P) => void;
  /** int32 input gives an int32 result (neg, abs, sign); otherwise the result is floating point. */
  keepsInt?: boolean;
  /** Whether the op is smooth enough to gradient-check twice. */
  secondOrder?: boolean;
  /** Extra gradient checks, e.g. with non-default parameters. */
  checks?: readonly GradCheck[];
  /**
   * Branch-free loops for the hottest ops, equal to `forward` and `derivative` element for element (signed
   * zeros and NaN included; test/engine-kinks.test.ts checks it). `backward` returns the kink hits it met.
   */
  loops?: UnaryLoops<P>;
}

export interface UnaryLoops<P extends Params> {
  forward(xs: FloatArray, out: FloatArray, p: P): void;
  backward(g: FloatArray, xs: FloatArray, out: FloatArray, p: P): number;
  /**
   * WebAssembly versions for float32, equal element for element; they decline (false, undefined) where the
   * JavaScript loops should run instead (small arrays, kernels not built).
   */
  simd?: {
    forward(xs: Float32Array, out: Float32Array, p: P): boolean;
    /** g is a number for a gradient equal everywhere (a broadcast scalar), which a kernel may decline. */
    backward(g: Float32Array | number, xs: Float32Array, out: Float32Array, p: P): number | undefined;
    /**
     * For ops whose backward needs less of x than x itself: a forward that also returns what the backward
     * needs (a mask), or null having done nothing, and a backward that reads that instead of x. Used when the
     * graph is recorded; the backward may still decline, and then the loops above run on x.
     */
    masked?: {
      /** Undefined having done nothing; else done, with a null mask where the backward must read x. */
      forward(xs: Float32Array, out: Float32Array, p: P): { mask: Float32Array | null } | undefined;
      backward(g: Float32Array | number, mask: Float32Array, out: Float32Array, p: P): number | undefined;
    };
  };
}

type FloatArray = Float32Array | Float64Array;

/** A unary elementwise op: callable as `op(x, options)`, with its definition attached for plots and docs. */
export interface UnaryOp<P extends Params> {
  (x: TensorLike, options?: Partial<P>): Tensor;
  readonly opName: string;
  /** The parameter values used when an option is not passed. */
  readonly defaults: Readonly<P>;
  /**
   * Changes the defaults for every later call, e.g. `relu.setDefaults({gradAtZero: 1})` or
   * `leakyRelu.setDefaults({negativeSlope: 0.2})` to follow TensorFlow. `resetDefaults()` restores them.
   */
  setDefaults(options: Partial<P>): void;
  resetDefaults(): void;
  /** The kinks for the given options. */
  kinks(options?: Partial<P>): readonly number[];
  /** The scalar function and derivative, for plotting and tables. */
  scalar(x: number, options?: Partial<P>): { y: number; dy: number };
}

const kinkCounts = new Map<string, number>();

/**
 * How many times each op's backward met an input exactly at one of its kinks since the last reset
 * (for `diag.kinkHits`). Only ops that have kinks appear.
 */
export function kinkHits(): Record<string, number> {
  return Object.fromEntries(kinkCounts);
}

export function resetKinkHits(): void {
  kinkCounts.clear();
}

/** Adds to an op's kink count (for ops written without defineUnary). */
export function recordKinkHits(op: string, hits: number): void {
  if (hits > 0) kinkCounts.set(op, (kinkCounts.get(op) ?? 0) + hits);
}

/** Merges options into defaults, rejecting unknown option names and non-matching types. */
export function resolveParams<P extends Params>(op: string, defaults: P, options: Partial<P> | undefined): P {
  if (options === undefined) return defaults;
  if (typeof options !== 'object' || options === null) throw new ValueError(op, `options must be an object, got ${String(options)}`);
  for (const key of Object.keys(options)) {
    if (!(key in defaults)) {
      const known = Object.keys(defaults);
      throw new ValueError(op, `unknown option ${JSON.stringify(key)}${known.length ? `; expected one of ${known.join(', ')}` : '; it takes no options'}`);
    }
    const value = (options as Params)[key];
    if (value !== undefined && typeof value !== typeof defaults[key]) {
      throw new ValueError(op, `option ${key} must be a ${typeof defaults[key]}, got ${JSON.stringify(value)}`);
    }
  }
  const merged = { ...defaults } as Params;
  for (const [key, value] of Object.entries(options)) if (value !== undefined) merged[key] = value;
  return merged as P;
}

/** grad times the local derivative: a 0 derivative keeps the sign of a negative upstream gradient (−0), as TF does. */
function derivativeLoop(g: ArrayLike<number>, xs: ArrayLike<number>, ys: ArrayLike<number>, out: { [i: number]: number }, d: (x: number, y: number) => number): void {
  const n = g.length;
  let i = 0;
  // unrolled as unaryLoop
  for (; i + 4 <= n; i += 4) {
    out[i] = g[i] * d(xs[i], ys[i]);
    out[i + 1] = g[i + 1] * d(xs[i + 1], ys[i + 1]);
    out[i + 2] = g[i + 2] * d(xs[i + 2], ys[i + 2]);
    out[i + 3] = g[i + 3] * d(xs[i + 3], ys[i + 3]);
  }
  for (; i < n; i++) out[i] = g[i] * d(xs[i], ys[i]);
}

export function defineUnary<P extends Params>(def: UnaryDef<P>): UnaryOp<P> {
  const { name } = def;
  const forwardLoop = monomorphicCopy(unaryLoop);
  const backwardLoop = monomorphicCopy(derivativeLoop);
  let defaults = def.params;
  const resolve = (options: Partial<P> | undefined): P => {
    const p = resolveParams(name, defaults, options);
    def.validate?.(p);
    return p;
  };
  const op = (input: TensorLike, options?: Partial<P>): Tensor => {
    const x = asTensor(name, input);
    const p = resolve(options);
    const dtype = def.keepsInt && x.dtype === 'int32' ? 'int32' : floatResult(x.dtype);
    const xs = x.dataSync();
    const loops = dtype === 'int32' ? undefined : def.loops;
    let ys: TypedArray;
    // what a masked backward reads instead of x, when the graph is recorded
    let mask: Float32Array | null = null;
    if (loops) {
      ys = allocate(dtype, xs.length, false);
      const simd = ys instanceof Float32Array ? loops.simd : undefined;
      const masked = simd?.masked && x.requiresGrad && isGradEnabled() ? simd.masked.forward(xs as Float32Array, ys as Float32Array, p) : undefined;
      if (masked !== undefined) mask = masked.mask;
      else if (!simd?.forward(xs as Float32Array, ys as Float32Array, p)) loops.forward(xs as FloatArray, ys as FloatArray, p);
    } else {
      ys = mapUnary(x, dtype, (v) => def.forward(v, p), forwardLoop);
    }
    const kinks = def.kinks?.(p) ?? [];
    const y = Tensor.fromData(ys, x.shape);
    const backward = (g: Tensor): Tensor[] => {
      if (loops && !isGradEnabled()) {
        const out = allocate(dtype, xs.length, false);
        const simd = out instanceof Float32Array && g.dtype === 'float32' ? loops.simd : undefined;
        const simdBackward = (gs: Float32Array | number): number | undefined =>
          (mask !== null ? simd!.masked!.backward(gs, mask, out as Float32Array, p) : undefined) ?? simd!.backward(gs, xs as Float32Array, out as Float32Array, p);
        if (simd && isBroadcastScalar(g)) {
          // the gradient of a sum or a mean: one value, not materialised
          const hits = simdBackward(g.storage.data[g.offset]);
          if (hits !== undefined) {
            recordKinkHits(name, hits);
            return [Tensor.fromData(out, x.shape)];
          }
        }
        const gs = g.dataSync() as FloatArray;
        const simdHits = simd && gs instanceof Float32Array ? simdBackward(gs) : undefined;
        recordKinkHits(name, simdHits ?? loops.backward(gs, xs as FloatArray, out as FloatArray, p));
        return [Tensor.fromData(out, x.shape)];
      }
      if (kinks.length > 0) {
        let hits = 0;
        for (let i = 0; i < xs.length; i++) for (const k of kinks) if (xs[i] === k) hits++;
        recordKinkHits(name, hits);
      }
      if (isGradEnabled()) {
        // recording the backward pass: build the derivative from differentiable ops when it is not constant
        const d = def.derivativeTensor
          ? def.derivativeTensor(x, y, p)
          : Tensor.fromData(mapUnary(x, dtype, (v) => def.derivative(v, 0, p)), x.shape);
        return [mul(g, d)];
      }
      const out = allocate(dtype, xs.length, false);
      backwardLoop(g.dataSync(), xs, ys, out, (xi, yi) => def.derivative(xi, yi, p));
      return [Tensor.fromData(out, x.shape)];
    };
    return record(y, name, [x], backward, [x, y]);
  };
  const defaultKinks = def.kinks?.(def.params) ?? [];
  registerOp(name, [
    { shapes: [[3, 4]], call: (x) => op(x), domain: def.domain, kinks: defaultKinks, secondOrder: def.secondOrder ?? true },
    { label: 'scalar', shapes: [[]], call: (x) => op(x), domain: def.domain, kinks: defaultKinks },
    ...(def.checks ?? []),
  ]);
  return Object.defineProperties(Object.assign(op, {
    setDefaults: (options: Partial<P>) => {
      defaults = resolve(options);
    },
    resetDefaults: () => {
      defaults = def.params;
    },
    kinks: (options?: Partial<P>) => def.kinks?.(resolve(options)) ?? [],
    scalar: (x: number, options?: Partial<P>) => {
      const p = resolve(options);
      const y = def.forward(x, p);
      return { y, dy: def.derivative(x, y, p) };
    },
  }), {
    opName: { value: name },
    defaults: { get: () => Object.freeze({ ...defaults }) },
  }) as UnaryOp<P>;
}

// ---------------------------------------------------------------------------------------------------------
// Binary ops

interface BinaryDef {
  name: string;
  forward: (a: number, b: number) => number;
  /** Gradients for a and b in the output's shape, from differentiable ops (the engine unbroadcasts). */
  backward: (a: Tensor, b: Tensor, y: Tensor, g: Tensor) => [Tensor | null, Tensor | null];
  /** Division-like ops always give floating point. */
  floatOut?: boolean;
  /** The op's number for the WebAssembly loops of float32 operands (binaryOp in wasm/elementwise.ts). */
  simd?: number;
  /** Input interval for the gradient checks. */
  domain?: readonly [number, number];
  checks?: readonly GradCheck[];
}

export type BinaryOp = (a: TensorLike, b: TensorLike) => Tensor;

/** The float32 elements of a contiguous tensor, as a view of its storage. */
function elements(t: Tensor): Float32Array {
  const data = t.storage.data as Float32Array;
  return t.offset === 0 && data.length === t.size ? data : data.subarray(t.offset, t.offset + t.size);
}

/**
 * A binary op of float32 tensors in WebAssembly when their layouts are ones its loops take (same shape,
 * a scalar, a row or one value per row against a whole operand, all contiguous): the JavaScript loop's
 * bits. Null when that loop should run.
 */
function simdBinary(op: number, a: Tensor, b: Tensor, shape: Shape): Float32Array | null {
  const size = sizeOf(shape);
  if (size < HEAP_MIN_ELEMENTS || a.dtype !== 'float32' || b.dtype !== 'float32' || !a.isContiguous() || !b.isContiguous()) return null;
  const width = shape[shape.length - 1];
  const rows = size / width;
  const whole = (t: Tensor): boolean => t.size === size && t.ndim === shape.length;
  const row = (t: Tensor): boolean => t.size === width && t.shape[t.ndim - 1] === width;
  const column = (t: Tensor): boolean => t.size === rows && t.ndim === shape.length && t.shape[t.ndim - 1] === 1;
  // the layouts with the lone operand on the left are those with it on the right, plus one
  const lone = (t: Tensor, left: boolean): wasm.BinaryLayout | null => {
    const right = t.size === 1 ? wasm.BinaryLayout.ScalarRight : row(t) ? wasm.BinaryLayout.RowRight : column(t) ? wasm.BinaryLayout.ColumnRight : null;
    return right === null ? null : right + (left ? 1 : 0);
  };
  const layout = whole(a) && whole(b) ? wasm.BinaryLayout.Whole : whole(a) ? lone(b, false) : whole(b) ? lone(a, true) : null;
  if (layout === null || !wasm.takes(size, [a, b].filter(whole).map(elements))) return null;
  const out = allocate('float32', size, false) as Float32Array;
  const s = layout === wasm.BinaryLayout.ScalarRight ? b.storage.data[b.offset] : layout === wasm.BinaryLayout.ScalarLeft ? a.storage.data[a.offset] : 0;
  return wasm.binaryOp(op, layout, elements(a), elements(b), out, rows, width, s) ? out : null;
}

function defineBinary(def: BinaryDef): BinaryOp {
  const { name } = def;
  const loops = binaryLoops();
  const op = (left: TensorLike, right: TensorLike): Tensor => {
    const [a, b] = operands(name, left, right);
    const shape = broadcastShapes(name, a.shape, b.shape);
    const dtype = def.floatOut ? floatResult(promote(a.dtype, b.dtype)) : promote(a.dtype, b.dtype);
    const data = (def.simd !== undefined && dtype === 'float32' && simdBinary(def.simd, a, b, shape)) || mapBinary(a, b, shape, dtype, def.forward, loops);
    const y: Tensor = fromOp(name, data, shape, [a, b], (g) => def.backward(a, b, y, g), [a, b]);
    return y;
  };
  registerOp(name, [
    { shapes: [[3, 4], [3, 4]], call: (a, b) => op(a, b), domain: def.domain, secondOrder: true },
    { label: 'broadcast [3, 1] with [4]', shapes: [[3, 1], [4]], call: (a, b) => op(a, b), domain: def.domain },
    ...(def.checks ?? []),
  ]);
  return op;
}

export const add = defineBinary({
  name: 'add',
  simd: 0,
  forward: (a, b) => a + b,
  backward: (_a, _b, _y, g) => [g, g],
});

export const sub = defineBinary({
  name: 'sub',
  simd: 1,
  forward: (a, b) => a - b,
  backward: (_a, _b, _y, g) => [g, neg(g)],
});

export const mul = defineBinary({
  name: 'mul',
  simd: 2,
  forward: (a, b) => a * b,
  backward: (a, b, _y, g) => [mul(g, b), mul(g, a)],
});

export const div = defineBinary({
  name: 'div',
  simd: 3,
  forward: (a, b) => a / b,
  floatOut: true,
  // d(a/b)/db = -a/b² = -y/b
  backward: (a, b, _y, g) => [div(g, b), neg(div(mul(g, div(a, b)), b))],
  checks: [{ label: 'divisor away from 0', shapes: [[3, 4], [3, 4]], call: (a, b) => div(a, add(b, 3)) }],
});

export const pow = defineBinary({
  name: 'pow',
  forward: (a, b) => a ** b,
  floatOut: true,
  // d/da a^b = b·a^(b-1); d/db a^b = a^b·log(a), taken as 0 where a = 0 (as PyTorch masks it)
  backward: (a, b, y, g) => [
    mul(g, mul(b, pow(a, sub(b, 1)))),
    b.requiresGrad ? mul(g, where(eq(a, 0), 0, mul(y, log(a)))) : null,
  ],
  domain: [0.5, 2],
});

// maximum/minimum: at a tie each side gets half the gradient, as in PyTorch (derivatives.yaml)
export const maximum = defineBinary({
  name: 'maximum',
  forward: (a, b) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : a > b ? a : b),
  backward: (a, b, _y, g) => {
    const share = where(gt(a, b), 1, where(eq(a, b), 0.5, 0));
    return [mul(g, share), mul(g, sub(1, share))];
  },
});

export const minimum = defineBinary({
  name: 'minimum',
  forward: (a, b) => (Number.isNaN(a) || Number.isNaN(b) ? NaN : a < b ? a : b),
  backward: (a, b, _y, g) => {
    const share = where(lt(a, b), 1, where(eq(a, b), 0.5, 0));
    return [mul(g, share), mul(g, sub(1, share))];
  },
});

// ---------------------------------------------------------------------------------------------------------
// Comparisons: not differentiable; 1 where true, 0 where false, in the operands' float dtype

function defineComparison(name: string, test: (a: number, b: number) => boolean): BinaryOp {
  // each comparison runs its own copies of the loops, as the arithmetic ops do (see binaryLoops)
  const loops = binaryLoops();
  const f = (x: number, y: number): number => (test(x, y) ? 1 : 0);
  return (left: TensorLike, right: TensorLike): Tensor => {
    const [a, b] = operands(name, left, right);
    const shape = broadcastShapes(name, a.shape, b.shape);
    const dtype = floatResult(promote(a.dtype, b.dtype));
    return Tensor.fromData(mapBinary(a, b, shape, dtype, f, loops), shape);
  };
}

export const eq = defineComparison('eq', (a, b) => a === b);
export const ne = defineComparison('ne', (a, b) => a !== b);
export const lt = defineComparison('lt', (a, b) => a < b);
export const le = defineComparison('le', (a, b) => a <= b);
export const gt = defineComparison('gt', (a, b) => a > b);
export const ge = defineComparison('ge', (a, b) => a >= b);

/**
 * out = c ≠ 0 ? x : y over the broadcast `shape`, each operand read in place: one flat pass when each is
 * a single value or contiguous with the whole shape, else a walk with their broadcast strides.
 */
function select(c: Tensor, x: Tensor, y: Tensor, shape: Shape, out: TypedArray): void {
  const size = out.length;
  const cd = c.storage.data;
  const xd = x.storage.data;
  const yd = y.storage.data;
  const step = (t: Tensor): number => (t.size === 1 ? 0 : t.size === size && t.isContiguous() ? 1 : -1);
  const [sc, sx, sy] = [step(c), step(x), step(y)];
  if (sc >= 0 && sx >= 0 && sy >= 0) {
    for (let i = 0, pc = c.offset, px = x.offset, py = y.offset; i < size; i++, pc += sc, px += sx, py += sy) out[i] = cd[pc] !== 0 ? xd[px] : yd[py];
    return;
  }
  const nd = shape.length;
  const last = nd - 1;
  const inner = shape[last];
  const [ac, ax, ay] = [broadcastStrides(c, shape), broadcastStrides(x, shape), broadcastStrides(y, shape)];
  const [ic, ix, iy] = [ac[last], ax[last], ay[last]];
  const index = new Array<number>(nd).fill(0);
  let [pc, px, py] = [c.offset, x.offset, y.offset];
  for (let o = 0; o < size; o += inner) {
    for (let i = 0, qc = pc, qx = px, qy = py; i < inner; i++, qc += ic, qx += ix, qy += iy) out[o + i] = cd[qc] !== 0 ? xd[qx] : yd[qy];
    for (let d = last - 1; d >= 0; d--) {
      index[d]++;
      pc += ac[d];
      px += ax[d];
      py += ay[d];
      if (index[d] < shape[d]) break;
      pc -= ac[d] * shape[d];
      px -= ax[d] * shape[d];
      py -= ay[d] * shape[d];
      index[d] = 0;
    }
  }
}

/** Picks `a` where `condition` is nonzero (NaN included) and `b` elsewhere, broadcasting all three. */
export function where(condition: TensorLike, a: TensorLike, b: TensorLike): Tensor {
  const op = 'where';
  const c = asTensor(op, condition);
  const [x, y] = operands(op, a, b);
  const shape = broadcastShapes(op, broadcastShapes(op, c.shape, x.shape), y.shape);
  const out = allocate(promote(x.dtype, y.dtype), sizeOf(shape), false);
  select(c, x, y, shape, out);
  // the condition is saved: changing it in place before backward() would route the gradient wrongly
  return fromOp(op, out, shape, [x, y], (g) => [where(c, g, 0), where(c, 0, g)], [c]);
}
registerOp('where', [
  { shapes: [[3, 4], [3, 4]], call: (a, b) => where(gt(a, 0), a, b), kinks: [0], secondOrder: true },
  { label: 'broadcast', shapes: [[3, 1], [4]], call: (a, b) => where(gt(a, b), a, b) },
]);

// ---------------------------------------------------------------------------------------------------------
// Elementwise math

export const neg = defineUnary({
  name: 'neg',
  params: {},
  forward: (x) => -x,
  derivative: () => -1,
  keepsInt: true,
});

export const exp = defineUnary({
  name: 'exp',
  params: {},
  forward: (x) => Math.exp(x),
  derivative: (_x, y) => y,
  derivativeTensor: (_x, y) => y,
});

export const log = defineUnary({
  name: 'log',
  params: {},
  forward: (x) => Math.log(x),
  derivative: (x) => 1 / x,
  derivativeTensor: (x) => div(1, x),
  domain: [0.2, 3],
});

export const log1p = defineUnary({
  name: 'log1p',
  params: {},
  forward: (x) => Math.log1p(x),
  derivative: (x) => 1 / (1 + x),
  derivativeTensor: (x) => div(1, add(x, 1)),
  domain: [-0.8, 3],
});

export const expm1 = defineUnary({
  name: 'expm1',
  params: {},
  forward: (x) => Math.expm1(x),
  derivative: (_x, y) => y + 1,
  derivativeTensor: (_x, y) => add(y, 1),
});

export const sqrt = defineUnary({
  name: 'sqrt',
  params: {},
  forward: (x) => Math.sqrt(x),
  derivative: (_x, y) => 0.5 / y,
  derivativeTensor: (_x, y) => div(0.5, y),
  domain: [0.2, 3],
});

export const square = defineUnary({
  name: 'square',
  params: {},
  forward: (x) => x * x,
  derivative: (x) => 2 * x,
  derivativeTensor: (x) => mul(x, 2),
  keepsInt: true,
});

// abs'(0) = 0, as PyTorch (grad · sgn(x)); TF.js gives -1
export const abs = defineUnary({
  name: 'abs',
  params: {},
  forward: (x) => Math.abs(x),
  derivative: (x) => (x > 0 ? 1 : x < 0 ? -1 : 0),
  kinks: () => [0],
  keepsInt: true,
});

export const sign = defineUnary({
  name: 'sign',
  params: {},
  forward: (x) => (x > 0 ? 1 : x < 0 ? -1 : x),
  derivative: () => 0,
  kinks: () => [0],
  keepsInt: true,
});

export const sin = defineUnary({
  name: 'sin',
  params: {},
  forward: (x) => Math.sin(x),
  derivative: (x) => Math.cos(x),
  derivativeTensor: (x): Tensor => cos(x),
});

export const cos = defineUnary({
  name: 'cos',
  params: {},
  forward: (x) => Math.cos(x),
  derivative: (x) => -Math.sin(x),
  derivativeTensor: (x): Tensor => neg(sin(x)),
});

// clamp: at either bound the gradient passes (subgradient 1), as PyTorch's clamp_backward
export const clamp = defineUnary({
  name: 'clamp',
  params: { min: -Infinity, max: Infinity },
  forward: (x, { min, max }) => (x < min ? min : x > max ? max : x),
  derivative: (x, _y, { min, max }) => (x >= min && x <= max ? 1 : 0),
  kinks: ({ min, max }) => [min, max].filter(Number.isFinite),
  validate: ({ min, max }) => {
    if (min > max) throw new ValueError('clamp', `min ${min} is greater than max ${max}`);
  },
  checks: [{ label: 'min -0.5, max 0.5', shapes: [[3, 4]], call: (x): Tensor => clamp(x, { min: -0.5, max: 0.5 }), kinks: [-0.5, 0.5] }],
});

/** Casts to another dtype; the gradient is cast back. */
export function cast(x: Tensor, dtype: DType): Tensor {
  if (x.dtype === dtype) return x;
  return fromOp('cast', mapUnary(x, dtype, dtype === 'int32' ? Math.trunc : (v) => v), x.shape, [x], (g) => [cast(g, x.dtype)]);
}
// through float32 the finite differences carry float32 rounding, hence the loose tolerance
registerOp('cast', [{ shapes: [[3, 4]], call: (x) => cast(x, 'float32'), tolerance: { atol: 1e-2, rtol: 1e-2 } }]);

/** Whether two tensors have the same shape and values within tolerance, as `torch.allclose`. */
export function allclose(a: Tensor, b: Tensor, { rtol = 1e-5, atol = 1e-8 } = {}): boolean {
  if (!sameShape(a.shape, b.shape)) return false;
  const x = a.dataSync();
  const y = b.dataSync();
  for (let i = 0; i < x.length; i++) {
    if (Number.isNaN(x[i]) || Number.isNaN(y[i]) || Math.abs(x[i] - y[i]) > atol + rtol * Math.abs(y[i])) return false;
  }
  return true;
}
