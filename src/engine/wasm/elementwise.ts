/**
 * The float32 activation loops, add/sub/mul/div, sums and the SGD and Adam updates in WebAssembly SIMD
 * (elementwise.as.ts), run on the tensor heap (heap.ts). Arrays already there (tensors made inside `tidy()`) are read and written in place;
 * others are copied into a scratch block and back, which still beats V8's checks on every element of a
 * JavaScript loop for large arrays. Large arrays are shared with the helper threads (one per extra core), in
 * chunks each thread claims from a counter: each element is computed alone, so the bits do not depend on
 * who runs which chunk.
 */
import { blockOf, freeBlock, heapAddress, heapFloat32, heapFloats, heapHelpers, heapCounter, heapModule, jobIndex, COUNTER_AT, type Block, type HeapJob } from './heap';
import { loadWasm, PAGE } from './load';
import type { HelperThread } from './threads';
import { fromHeap, release, scopedFloat32 } from '../scope';

/** Below this many elements the JavaScript loop wins over copying arrays into the heap and back. */
export const WASM_MIN_ELEMENTS = 4096;
/** From this many elements the helper threads take a share (a share then outlasts waking a thread). */
const THREAD_MIN_ELEMENTS = 1 << 16;
/**
 * From this many elements (8 MB per array) relu records a mask for its backward: x, y, the gradient and its
 * result no longer fit the last-level cache, the pass streams from memory, and the mask's smaller reads win
 * (+12 % fwd+bwd at 4·10⁶ elements, +14 % at 10⁷). In cache its extra instructions lose (−19 % at 10⁶).
 */
export const RELU_MASK_MIN_ELEMENTS = 1 << 21;

/** The kernels (pointers to the inputs and the output, the element count, scalars), numbered as `shared` in elementwise.as.ts numbers them. */
const KINDS = ['reluForward', 'reluBackward', 'leakyForward', 'leakyBackward', 'sgdStep', 'reluBackwardScalar', 'reluForwardMasked', 'reluBackwardMasked', 'reluBackwardMaskedScalar'] as const;
/** `shared`'s number for the block sums of a sum (elementwise.as.ts). */
const BLOCK_SUMS = KINDS.length;
/** Elements per block of a sum (SUM_BLOCK in elementwise.as.ts); CHUNK is a multiple of it. */
const SUM_BLOCK = 4096;
type Name = (typeof KINDS)[number];
/** Elements per chunk that a thread claims at a time (64 KiB of each array). */
const CHUNK = 16384;
type Kernel = (...args: number[]) => number | undefined;

interface Kernels {
  exports: Record<Name | 'sum' | 'addRows' | 'sumRows' | 'binary' | 'binaryShared' | 'adamStep' | 'adamShared' | 'sgdMomentumStep' | 'sgdMomentumShared' | 'rmspropStep' | 'rmspropShared' | 'shared', Kernel>;
  helpers: HelperThread[];
}

let kernels: Kernels | null | undefined;

function load(): Kernels | null {
  const m = heapModule('elementwise');
  return m === null ? null : { exports: m.exports as unknown as Kernels['exports'], helpers: heapHelpers() };
}

/** The same loops on a memory of their own: plain copies, 2–3× faster than into shared memory. */
interface Local {
  exports: Kernels['exports'];
  memory: WebAssembly.Memory;
}
let local: Local | null | undefined;

function localKernels(): Local | null {
  if (local === undefined) {
    const module = loadWasm('elementwise-local');
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 65536 });
    local = module === undefined ? null : { exports: new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as Kernels['exports'], memory };
  }
  return local;
}

/**
 * `placed` for arrays none of which is on the heap, in the local instance's memory (from byte PAGE on);
 * undefined when that instance is unavailable.
 */
function placedLocally<T>(arrays: readonly Float32Array[], copyIn: readonly boolean[], copyOut: boolean, fn: (at: number[], exports: Kernels['exports']) => T): T | undefined {
  const l = localKernels();
  if (l === null) return undefined;
  const at: number[] = [];
  let end = PAGE;
  for (const array of arrays) {
    at.push(end);
    end += Math.ceil(array.length / 16) * 64;
  }
  const have = l.memory.buffer.byteLength;
  if (end > have) l.memory.grow(Math.ceil((end - have) / PAGE));
  const memory = new Float32Array(l.memory.buffer);
  arrays.forEach((array, i) => copyIn[i] && memory.set(array, at[i] / 4));
  const result = fn(at, l.exports);
  const out = arrays[arrays.length - 1];
  if (copyOut) out.set(memory.subarray(at[at.length - 1] / 4, at[at.length - 1] / 4 + out.length));
  return result;
}

/**
 * Calls `fn` with the heap byte offsets of `arrays` (copying into scratch blocks those that are not on the
 * heap, when `copyIn`), then copies a last array that is not on the heap back from its scratch block when
 * `copyOut`. Returns fn's result, or undefined (having done nothing) when the heap has no room.
 */
function placed<T>(arrays: readonly Float32Array[], copyIn: readonly boolean[], copyOut: boolean, fn: (at: number[]) => T): T | undefined {
  const scratch: Block[] = [];
  try {
    const at = arrays.map((array, i) => {
      const address = heapAddress(array);
      if (address >= 0) return address;
      const made = heapFloat32(array.length, false, true);
      if (made === null) return -1;
      if (copyIn[i]) made[0].set(array);
      scratch.push(made[1]);
      return made[1].at;
    });
    if (at.includes(-1)) return undefined;
    const result = fn(at);
    const out = arrays[arrays.length - 1];
    if (copyOut && heapAddress(out) < 0) out.set(heapFloats(at[at.length - 1], out.length));
    return result;
  } finally {
    scratch.forEach(freeBlock);
  }
}

/**
 * Whether the kernels should take `n` elements read from `inputs`: many always (copying in what is not on
 * the heap), fewer when the inputs are on the heap and the output will be (inside tidy()), where a call
 * costs less than a JavaScript loop's checks on every element (relu of 2,048 elements: 0.3 µs, against 2 µs).
 */
export function takes(n: number, inputs: readonly Float32Array[]): boolean {
  return n >= WASM_MIN_ELEMENTS || (fromHeap(n) && inputs.every((a) => heapAddress(a) >= 0));
}

function ready(n: number, inputs: readonly Float32Array[]): Kernels | null {
  if (!takes(n, inputs)) return null;
  if (kernels === undefined) kernels = load();
  return kernels;
}

/**
 * Runs kernel `name` over `inputs` into `out` (with `scalars` after the count). Returns the
 * kernel's count (kink hits), or undefined (having done nothing) when the kernels are unavailable, the
 * arrays are small, or the heap has no room for scratch copies.
 */
function run(name: Name, inputs: readonly Float32Array[], out: Float32Array, scalars: readonly number[] = []): number | undefined {
  const n = out.length;
  const k = ready(n, inputs);
  if (k === null) return undefined;
  const arrays = [...inputs, out];
  const copyIn = [...inputs.map(() => true), false];
  const helpers = n < THREAD_MIN_ELEMENTS ? [] : k.helpers.filter((h) => h.ready);
  if (helpers.length === 0) return alone(k, arrays, copyIn, true, (at, exports) => exports[name](...at, n, ...scalars) ?? 0);
  return placed(arrays, copyIn, true, (at) => share(k, helpers, [KINDS.indexOf(name), at[0], at[1], at[2] ?? 0, n, scalars[0] ?? 0, scalars[1] ?? 0]));
}

/**
 * Runs `shared` (elementwise.as.ts) with `args` (kind, pointers, count, scalars) on this thread and the
 * `helpers`, which claim chunks from the heap's counter; returns the sum of their results.
 */
function share(k: Kernels, helpers: readonly HelperThread[], args: readonly number[]): number {
  return shareJob(k, helpers, 'shared', [...args, COUNTER_AT, CHUNK]);
}

/** Runs `job` with `args` (ending with the counter and the chunk) on this thread and the `helpers`; returns the sum of their results. */
function shareJob(k: Kernels, helpers: readonly HelperThread[], job: HeapJob<'elementwise'>, args: readonly number[]): number {
  Atomics.store(heapCounter(), 0, 0);
  for (const helper of helpers) helper.post(jobIndex('elementwise', job), args);
  let result = k.exports[job](...args) ?? 0;
  for (const helper of helpers) result += helper.join();
  return result;
}

/**
 * `fn` on one thread: in place when an array is on the heap, else in the local instance's memory (or, if
 * that is unavailable, in heap scratch blocks). Undefined when nothing ran.
 */
function alone<T>(k: Kernels, arrays: readonly Float32Array[], copyIn: readonly boolean[], copyOut: boolean, fn: (at: number[], exports: Kernels['exports']) => T): T | undefined {
  const local = arrays.every((a) => heapAddress(a) < 0) ? placedLocally(arrays, copyIn, copyOut, fn) : undefined;
  return local ?? placed(arrays, copyIn, copyOut, (at) => fn(at, k.exports));
}

/**
 * out[o] = the sum of the o-th run of `count` floats of `rows`, in double precision by blocks (see sum in
 * elementwise.as.ts): the same bits as the JavaScript loop. A single large sum is shared with the helpers,
 * block by block, and the block sums added in order, so the bits do not depend on the thread count. False
 * when the JavaScript loop should run.
 */
export function sumRuns(rows: Float32Array, out: Float32Array, count: number): boolean {
  const k = ready(count, [rows]);
  if (k === null) return false;
  const helpers = out.length === 1 && count >= THREAD_MIN_ELEMENTS ? k.helpers.filter((h) => h.ready) : [];
  if (helpers.length > 0) {
    const blocks = Math.ceil(count / SUM_BLOCK);
    // room for one double per block
    const scratch = heapFloat32(2 * blocks, false, true);
    if (scratch !== null) {
      try {
        const total = placed([rows], [true], false, ([at]) => {
          share(k, helpers, [BLOCK_SUMS, at, scratch[1].at, 0, count, 0, 0]);
          const blockSums = new Float64Array(scratch[0].buffer, scratch[1].at, blocks);
          let s = 0;
          for (let b = 0; b < blocks; b++) s += blockSums[b];
          return s;
        });
        if (total !== undefined) {
          out[0] = total;
          return true;
        }
      } finally {
        freeBlock(scratch[1]);
      }
    }
  }
  const sums = ([at]: number[], exports: Kernels['exports']): boolean => {
    for (let o = 0; o < out.length; o++) out[o] = exports.sum(at + o * count * 4, count)!;
    return true;
  };
  return alone(k, [rows], [true], false, sums) ?? false;
}

/**
 * out[j] = the sum of column j of `rows` (rows of out.length floats), each in double precision row after
 * row and rounded once: the bits of the JavaScript loop. False when that loop should run.
 */
export function sumColumns(rows: Float32Array, out: Float32Array): boolean {
  const k = ready(rows.length, [rows]);
  if (k === null || out.length === 0) return false;
  return alone(k, [rows, out], [true, false], true, ([src, dst], exports) => (exports.sumRows(src, dst, rows.length / out.length, out.length), true)) ?? false;
}

/** Adds `row` to every row of `data` in place (float32 adds, the bits of the JavaScript loop); false when that loop should run. */
export function addRows(row: Float32Array, data: Float32Array): boolean {
  const k = ready(data.length, [data]);
  if (k === null || row.length === 0) return false;
  return alone(k, [row, data], [true, true], true, ([r, d], exports) => (exports.addRows(r, d, data.length / row.length, row.length), true)) ?? false;
}

/** How a binary op reads its two float32 operands (binaryLayout in elementwise.as.ts). */
export enum BinaryLayout {
  /** both have the output's shape */
  Whole = 0,
  /** the second is one row, repeated on every row of the first */
  RowRight = 1,
  RowLeft = 2,
  /** the second is one value per row of the first */
  ColumnRight = 3,
  ColumnLeft = 4,
  /** the second is a scalar */
  ScalarRight = 5,
  ScalarLeft = 6,
}

/**
 * out (rows × width floats) = a ∘ b for op 0 add, 1 sub, 2 mul, 3 div, the operands read as `layout` says;
 * for the scalar layouts the scalar is the number `s` (exact in float32) and its array is not read. False
 * when the JavaScript loop should run.
 */
export function binaryOp(op: number, layout: BinaryLayout, a: Float32Array, b: Float32Array, out: Float32Array, rows: number, width: number, s = 0): boolean {
  const n = out.length;
  const arrays = layout === BinaryLayout.ScalarRight ? [a, out] : layout === BinaryLayout.ScalarLeft ? [b, out] : [a, b, out];
  // a lone row or column is copied in whatever its size
  const k = ready(n, arrays.slice(0, -1).filter((x) => x.length === n));
  if (k === null || Math.fround(s) !== s) return false;
  const copyIn = arrays.map((_, i) => i < arrays.length - 1);
  const pointers = (at: number[]): number[] => {
    const [pa, pb] = layout === BinaryLayout.ScalarRight ? [at[0], 0] : layout === BinaryLayout.ScalarLeft ? [0, at[0]] : at;
    return [op, layout, pa, pb, at[at.length - 1], rows, width, s];
  };
  const helpers = n < THREAD_MIN_ELEMENTS ? [] : k.helpers.filter((h) => h.ready);
  if (helpers.length > 0) {
    // chunks of CHUNK elements, in whole rows when the second operand follows the rows
    const byRows = layout !== BinaryLayout.Whole && layout !== BinaryLayout.ScalarRight && layout !== BinaryLayout.ScalarLeft;
    const chunk = byRows ? Math.max(1, Math.floor(CHUNK / width)) : CHUNK;
    return (
      placed(arrays, copyIn, true, (at) => {
        shareJob(k, helpers, 'binaryShared', [...pointers(at), COUNTER_AT, chunk]);
        return true;
      }) ?? false
    );
  }
  return alone(k, arrays, copyIn, true, (at, exports) => (exports.binary(...pointers(at)), true)) ?? false;
}

/** How many helper threads are ready to take a share of large arrays (loading the kernels if need be). */
export function elementwiseHelpersReady(): number {
  if (kernels === undefined) kernels = load();
  return kernels === null ? 0 : kernels.helpers.filter((h) => h.ready).length;
}

/** relu into `out`; false when the JavaScript loop should do it. */
export function reluForward(xs: Float32Array, out: Float32Array): boolean {
  return run('reluForward', [xs], out) !== undefined;
}

/**
 * g·relu'(x) into `out` for a gradient array g, or a number g that stands for a gradient equal everywhere
 * (a broadcast scalar, as from a sum). Returns the kink hits, or undefined when the JavaScript loop should do it.
 */
export function reluBackward(g: Float32Array | number, xs: Float32Array, out: Float32Array, gradAtZero: number): number | undefined {
  if (Math.fround(gradAtZero) !== gradAtZero) return undefined;
  if (typeof g === 'number') return Math.fround(g) === g ? run('reluBackwardScalar', [xs], out, [gradAtZero, g]) : undefined;
  return run('reluBackward', [xs, g], out, [gradAtZero]);
}

/**
 * relu of xs into `out` and, beside it, the relu mask of xs (see reluForwardMasked in elementwise.as.ts):
 * all reluBackwardMasked needs of an xs without zeros, in one bit per element, so that the backward pass
 * over large arrays reads 4 bytes and a bit per element instead of 8 bytes. Only for large arrays on the
 * tensor heap, where the mask is too (freed with the tidy() scope that records the graph). Undefined,
 * having done nothing, where reluForward should run; a null mask when xs has zeros, whose slope the mask
 * does not hold (the backward then reads xs).
 */
export function reluForwardMasked(xs: Float32Array, out: Float32Array): { mask: Float32Array | null } | undefined {
  if (out.length < RELU_MASK_MIN_ELEMENTS || heapAddress(xs) < 0 || heapAddress(out) < 0) return undefined;
  const mask = scopedFloat32(Math.ceil(out.length / 128) * 4, false);
  if (mask === null) return undefined;
  const zeros = run('reluForwardMasked', [xs, mask], out);
  if (zeros === 0) return { mask };
  release(blockOf(mask)!);
  return zeros === undefined ? undefined : { mask: null };
}

/** reluBackward from the mask reluForwardMasked made instead of xs: the same bits (and no kink hits, as xs has no zeros). */
export function reluBackwardMasked(g: Float32Array | number, mask: Float32Array, out: Float32Array): number | undefined {
  if (typeof g === 'number') return Math.fround(g) === g ? run('reluBackwardMaskedScalar', [mask], out, [g]) : undefined;
  return run('reluBackwardMasked', [mask, g], out);
}

export function leakyForward(xs: Float32Array, out: Float32Array, slope: number): boolean {
  return run('leakyForward', [xs], out, [slope]) !== undefined;
}

export function leakyBackward(g: Float32Array, xs: Float32Array, out: Float32Array, slope: number): number | undefined {
  return run('leakyBackward', [xs, g], out, [slope]);
}

/** Adam's hyperparameters for one step, as adamLoop in optim/optimizers.ts takes them. */
export interface AdamStep {
  b1: number;
  b2: number;
  stepSize: number;
  sqrtC2: number;
  eps: number;
  weightDecay: number;
  /** 1 − lr·weightDecay, for AdamW */
  decay: number;
  decoupled: boolean;
}

/**
 * One Adam step on p in place, with moments m and v that live on the heap (heapFloat64): the JavaScript
 * loop's bits. False when that loop should run (small arrays, moments elsewhere, kernels unavailable).
 */
export function adamStep(p: Float32Array, g: Float32Array, m: Float64Array, v: Float64Array, a: AdamStep): boolean {
  return optimizerStep(p, g, [m, v], 'adamStep', 'adamShared', [a.b1, a.b2, a.stepSize, a.sqrtC2, a.eps, a.weightDecay, a.decay, a.decoupled ? 1 : 0]);
}

/**
 * One optimiser step on p in place: kernel `alone` (or, for large p, `shared` with the helper threads) with
 * the arguments p, g, the state arrays (which must be on the heap: heapFloat64), the count, then `scalars`.
 * False, having done nothing, when the JavaScript loop should run.
 */
function optimizerStep(p: Float32Array, g: Float32Array, state: readonly Float64Array[], alone: 'adamStep' | 'sgdMomentumStep' | 'rmspropStep', shared: HeapJob<'elementwise'>, scalars: readonly number[]): boolean {
  const k = ready(p.length, [p, g]);
  const at = state.map(heapAddress);
  if (k === null || at.some((a) => a < 0)) return false;
  const helpers = p.length < THREAD_MIN_ELEMENTS ? [] : k.helpers.filter((h) => h.ready);
  const step = ([gAt, pAt]: number[]): boolean => {
    const args = [pAt, gAt, ...at, p.length, ...scalars];
    if (helpers.length > 0) shareJob(k, helpers, shared, [...args, COUNTER_AT, CHUNK]);
    else k.exports[alone](...args);
    return true;
  };
  return placed([g, p], [true, true], true, step) ?? false;
}

/** SGD's settings for one step, as sgdLoop in optim/optimizers.ts takes them. */
export interface SgdStep {
  lr: number;
  momentum: number;
  dampening: number;
  weightDecay: number;
  nesterov: boolean;
  /** the first step, which starts the momentum buffer at the gradient */
  first: boolean;
}

/**
 * One SGD step with momentum or weight decay on p in place, with a momentum buffer on the heap
 * (heapFloat64): the JavaScript loop's bits. False when that loop should run.
 */
export function sgdMomentumStep(p: Float32Array, g: Float32Array, buf: Float64Array, a: SgdStep): boolean {
  return optimizerStep(p, g, [buf], 'sgdMomentumStep', 'sgdMomentumShared', [a.lr, a.momentum, a.dampening, a.weightDecay, a.nesterov ? 1 : 0, a.first ? 1 : 0]);
}

/** RMSprop's settings for one step, as rmspropLoop in optim/optimizers.ts takes them. */
export interface RmspropStep {
  lr: number;
  alpha: number;
  eps: number;
  /** none unless > 0 */
  momentum: number;
  weightDecay: number;
}

/**
 * One RMSprop step on p in place, with its mean square and momentum buffer on the heap (heapFloat64): the
 * JavaScript loop's bits. False when that loop should run.
 */
export function rmspropStep(p: Float32Array, g: Float32Array, v: Float64Array, buf: Float64Array, a: RmspropStep): boolean {
  return optimizerStep(p, g, [v, buf], 'rmspropStep', 'rmspropShared', [a.lr, a.alpha, a.eps, a.momentum, a.weightDecay]);
}

/** p −= lr·g in place; false when the JavaScript loop should do it. */
export function sgdStep(p: Float32Array, g: Float32Array, lr: number): boolean {
  return run('sgdStep', [p, g], p, [lr]) !== undefined;
}
