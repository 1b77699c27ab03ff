import { JUPYTER_DISPLAY, type MimeBundle } from '../display';
import { allocate, checkDType, dtypeOf, type DType, type TypedArray } from './dtype';
import { GradError, ValueError } from './errors';
import { contiguousStrides, formatShape, sameShape, sizeOf, type Shape } from './shape';
import { formatTensor, tensorToHtml } from './format';
import { isRegistered } from './registry';
import { currentScope, enterScope, escape, exitScope, HEAP_MIN_ELEMENTS, release, type Scope } from './scope';
import { blockOf, fillFloats, nextSerial, type Block } from './wasm/heap';

/** Nested JS arrays of numbers, as accepted by `tensor()` and returned by `toArray()`. */
export type NestedArray = number | readonly NestedArray[];

/** The buffer behind a tensor and its views. `version` counts in-place writes, so autograd can detect them. */
export class Storage {
  version = 0;
  /** The tensor-heap block behind the data (made inside tidy()), or null for an ordinary array. */
  readonly block: Block | null;

  constructor(private readonly array: TypedArray) {
    this.block = array.length >= HEAP_MIN_ELEMENTS && array instanceof Float32Array ? (blockOf(array) ?? null) : null;
  }

  get data(): TypedArray {
    if (this.block !== null && this.block.released) {
      throw new ValueError('tidy', `a tensor of ${this.array.length} values was used after its memory was released (by the end of the tidy() that made it, by dispose(), or by zeroGrad() clearing a gradient made inside tidy()); return it from tidy() or keep() it`);
    }
    return this.array;
  }
}

/** A node of the autograd graph: the op that produced a tensor, its inputs, and how to send a gradient back. */
export interface GradNode {
  readonly op: string;
  readonly inputs: readonly Tensor[];
  /** Gradients for each input, in the output's shape for broadcasting ops (the engine sums them back). */
  backward: ((grad: Tensor) => readonly (Tensor | null)[]) | null;
  /** Tensors the backward reads, with the storage version they had when saved. */
  saved: readonly (readonly [Tensor, number])[];
  /** The tidy() scope the op ran in: its buffers are gone once it ends. */
  scope: Scope | null;
}

export interface TensorOptions {
  dtype?: DType;
  requiresGrad?: boolean;
}

export interface BackwardOptions {
  /** Keep the graph so that backward can run through it again. */
  retainGraph?: boolean;
  /** Record the backward pass itself, for gradients of gradients. */
  createGraph?: boolean;
}

let gradEnabled = true;

/** Whether ops record the autograd graph (false inside `noGrad`). */
export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Runs `fn` without recording the autograd graph, as PyTorch's `torch.no_grad()`. */
export function noGrad<T>(fn: () => T): T {
  return withGradMode(false, fn);
}

/** Runs `fn` with graph recording switched on or off, then restores the previous mode. */
export function withGradMode<T>(enabled: boolean, fn: () => T): T {
  const previous = gradEnabled;
  gradEnabled = enabled;
  try {
    return fn();
  } finally {
    gradEnabled = previous;
  }
}

/**
 * An n-dimensional array of float32 (default), float64 or int32 values with reverse-mode autograd.
 *
 * A tensor is a strided view on a storage buffer: reshape, permute, slicing and expand share the storage.
 * Ops are methods (`x.relu()`, `x.add(y)`) and functions (`relu(x)`, `add(x, y)`).
 */
export class Tensor {
  readonly storage: Storage;
  readonly shape: Shape;
  readonly strides: readonly number[];
  readonly offset: number;
  readonly dtype: DType;
  /** The accumulated gradient of a leaf tensor after `backward()`. */
  grad: Tensor | null = null;
  /** The op that produced this tensor, or null for a leaf. */
  node: GradNode | null = null;
  private requires: boolean;

  constructor(storage: Storage, shape: Shape, strides: readonly number[], offset: number, requiresGrad = false) {
    this.storage = storage;
    this.shape = Object.freeze([...shape]);
    this.strides = Object.freeze([...strides]);
    this.offset = offset;
    this.dtype = dtypeOf(storage.data);
    this.requires = requiresGrad;
    if (storage.block !== null) currentScope()?.tensors.push(this);
  }

  /** A new contiguous tensor over `data` (which it takes ownership of). */
  static fromData(data: TypedArray, shape: Shape, requiresGrad = false): Tensor {
    if (data.length !== sizeOf(shape)) {
      throw new ValueError('tensor', `${data.length} values do not fill shape ${formatShape(shape)} (${sizeOf(shape)} values)`);
    }
    return new Tensor(new Storage(data), shape, contiguousStrides(shape), 0, requiresGrad);
  }

  get size(): number {
    return sizeOf(this.shape);
  }

  get ndim(): number {
    return this.shape.length;
  }

  /** Whether gradients flow to this tensor: a leaf created with `requiresGrad`, or any result of such a tensor. */
  get requiresGrad(): boolean {
    return this.requires;
  }

  set requiresGrad(value: boolean) {
    if (this.node !== null && !value) {
      throw new GradError('requiresGrad', 'cannot switch off requiresGrad on a non-leaf tensor; use detach()');
    }
    if (value && this.dtype === 'int32') throw new GradError('requiresGrad', 'int32 tensors cannot require gradients');
    this.requires = value;
  }

  /** Sets requiresGrad on a leaf and returns it, for chaining. */
  requiresGrad_(value = true): this {
    this.requiresGrad = value;
    return this;
  }

  isLeaf(): boolean {
    return this.node === null;
  }

  isContiguous(): boolean {
    let expected = 1;
    for (let i = this.shape.length - 1; i >= 0; i--) {
      if (this.shape[i] !== 1 && this.strides[i] !== expected) return false;
      expected *= this.shape[i];
    }
    return true;
  }

  /**
   * The values in row-major order as a typed array. For a contiguous tensor that owns its whole storage this
   * is the storage itself: treat it as read-only.
   */
  dataSync(): TypedArray {
    const data = this.storage.data;
    if (this.isContiguous() && this.offset === 0 && data.length === this.size) return data;
    if (this.isContiguous()) return data.slice(this.offset, this.offset + this.size) as TypedArray;
    const out = allocate(this.dtype, this.size, false);
    gatherStrided(this, out);
    return out;
  }

  /** The values as nested JS arrays (a number for a 0-d tensor). */
  toArray(): NestedArray {
    const data = this.dataSync();
    if (this.ndim === 0) return data[0];
    const build = (dim: number, start: number): NestedArray[] => {
      const n = this.shape[dim];
      const out: NestedArray[] = new Array(n);
      if (dim === this.ndim - 1) {
        for (let i = 0; i < n; i++) out[i] = data[start + i];
      } else {
        const step = sizeOf(this.shape.slice(dim + 1));
        for (let i = 0; i < n; i++) out[i] = build(dim + 1, start + i * step);
      }
      return out;
    };
    return build(0, 0);
  }

  /** The single value of a one-element tensor. */
  item(): number {
    if (this.size !== 1) throw new ValueError('item', `only one-element tensors convert to a number; got shape ${formatShape(this.shape)}`);
    return this.storage.data[this.offset];
  }

  /** A tensor sharing this one's storage, cut from the graph. */
  detach(): Tensor {
    return new Tensor(this.storage, this.shape, this.strides, this.offset, false);
  }

  /** Clears the accumulated gradient (freeing it, when backward made it on the heap inside tidy()). */
  zeroGrad(): void {
    storeGrad(this, null, Infinity);
  }

  /**
   * Frees the tensor's heap memory now (that of a tensor made inside tidy()); any use of it or of a view on
   * it then throws. Ordinary tensors are left to the garbage collector.
   */
  dispose(): void {
    if (this.storage.block !== null) release(this.storage.block);
  }

  /**
   * Backpropagates from this tensor, accumulating into the `.grad` of every leaf that requires gradients.
   * A non-scalar tensor needs an explicit `gradient` of its own shape.
   */
  backward(gradient?: Tensor, options: BackwardOptions = {}): void {
    if (!this.requiresGrad) {
      throw new GradError('backward', 'the tensor does not require gradients: no input had requiresGrad set, or it was computed under noGrad');
    }
    let seed: Tensor;
    if (gradient === undefined) {
      if (this.size !== 1) {
        throw new GradError('backward', `gradient can be implicit only for a scalar output; got shape ${formatShape(this.shape)}, pass a gradient of that shape`);
      }
      seed = Tensor.fromData(onesData(this.dtype, this.size), this.shape);
    } else {
      if (!sameShape(gradient.shape, this.shape)) {
        throw new GradError('backward', `gradient shape ${formatShape(gradient.shape)} does not match the output shape ${formatShape(this.shape)}`);
      }
      seed = gradient;
    }
    runBackward([this], [seed], options, null);
  }

  toString(): string {
    return formatTensor(this);
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return formatTensor(this);
  }

  [JUPYTER_DISPLAY](): MimeBundle {
    return { 'text/plain': formatTensor(this), 'text/html': tensorToHtml(this) };
  }
}

function onesData(dtype: DType, size: number): TypedArray {
  return allocate(dtype, size, false).fill(1);
}

/** Whether every element of `t` is the same stored value (a scalar expanded to a shape, as the gradient of a sum). */
export function isBroadcastScalar(t: Tensor): boolean {
  return t.strides.every((s, d) => s === 0 || t.shape[d] === 1);
}

/** Copies a strided tensor's values into `out` in row-major order. */
export function gatherStrided(t: Tensor, out: TypedArray): void {
  const { shape, strides } = t;
  const src = t.storage.data;
  const nd = shape.length;
  const size = out.length;
  if (nd === 0) {
    if (size > 0) out[0] = src[t.offset];
    return;
  }
  if (isBroadcastScalar(t)) {
    // e.g. the gradient of a sum
    if (out instanceof Float32Array) fillFloats(out, src[t.offset]);
    else out.fill(src[t.offset]);
    return;
  }
  const last = nd - 1;
  const inner = shape[last];
  const innerStride = strides[last];
  const index = new Array<number>(nd).fill(0);
  let base = t.offset;
  for (let o = 0; o < size; o += inner) {
    // contiguous and broadcast rows are block copies and fills
    if (innerStride === 1) out.set(src.subarray(base, base + inner), o);
    else if (innerStride === 0) out.fill(src[base], o, o + inner);
    else for (let i = 0, p = base; i < inner; i++, p += innerStride) out[o + i] = src[p];
    // advance the outer index (odometer over dims 0..last-1)
    for (let d = last - 1; d >= 0; d--) {
      index[d]++;
      base += strides[d];
      if (index[d] < shape[d]) break;
      base -= strides[d] * shape[d];
      index[d] = 0;
    }
  }
}

/**
 * Creates the result of an op: a contiguous tensor over `data`, recorded in the graph when grad mode is on
 * and an input requires gradients. `save` lists the tensors `backward` reads, so that an in-place change to
 * any of them is caught instead of silently giving a wrong gradient.
 */
export function fromOp(
  op: string,
  data: TypedArray,
  shape: Shape,
  inputs: readonly Tensor[],
  backward: (grad: Tensor) => readonly (Tensor | null)[],
  save: readonly Tensor[] = [],
): Tensor {
  const out = Tensor.fromData(data, shape);
  return record(out, op, inputs, backward, save);
}

/** Attaches a graph node to a freshly made tensor (or view) when any input requires gradients. */
export function record(
  out: Tensor,
  op: string,
  inputs: readonly Tensor[],
  backward: (grad: Tensor) => readonly (Tensor | null)[],
  save: readonly Tensor[] = [],
): Tensor {
  if (gradEnabled && inputs.some((t) => t.requiresGrad)) {
    if (!isRegistered(op)) throw new GradError(op, 'the op is not in the op registry, so it has no gradient check; register it with registerOp');
    out.node = { op, inputs, backward, saved: save.map((t) => [t, t.storage.version] as const), scope: currentScope() };
    out.requiresGrad_();
  }
  return out;
}

/** The hook the reduction module installs: sums a gradient over broadcast dimensions back to `shape`. */
let sumToShapeImpl: ((grad: Tensor, shape: Shape) => Tensor) | null = null;
let addImpl: ((a: Tensor, b: Tensor) => Tensor) | null = null;
let castImpl: ((t: Tensor, dtype: DType) => Tensor) | null = null;

/** Called once by the ops modules, which depend on this one (not the other way round). */
export function installAutogradOps(ops: {
  sumToShape: (grad: Tensor, shape: Shape) => Tensor;
  add: (a: Tensor, b: Tensor) => Tensor;
  cast: (t: Tensor, dtype: DType) => Tensor;
}): void {
  sumToShapeImpl = ops.sumToShape;
  addImpl = ops.add;
  castImpl = ops.cast;
}

/**
 * The reverse pass. Sorts the graph topologically with an explicit stack (deep graphs must not overflow
 * the JS stack), then runs each node's backward once, in reverse order.
 *
 * With `wrt` null, leaf gradients accumulate into `.grad`; otherwise the gradients of the `wrt` tensors are
 * returned and `.grad` is left alone (the functional `grad` API).
 */
export function runBackward(
  roots: readonly Tensor[],
  seeds: readonly Tensor[],
  options: BackwardOptions,
  wrt: readonly Tensor[] | null,
): Map<Tensor, Tensor> {
  const order = topoSort(roots);
  const grads = new Map<Tensor, Tensor>();
  const wanted = wrt === null ? null : new Set(wrt);
  const accumulate = (t: Tensor, g: Tensor): void => {
    const prev = grads.get(t);
    grads.set(t, prev === undefined ? g : addImpl!(prev, g));
  };
  const start = nextSerial();
  roots.forEach((r, i) => {
    if (r.node !== null || wanted !== null) accumulate(r, seeds[i]);
    else storeGrad(r, r.grad === null ? seeds[i] : addImpl!(r.grad, seeds[i]), start);
  });

  withGradMode(options.createGraph === true, () => {
    for (let k = order.length - 1; k >= 0; k--) {
      const t = order[k];
      const g = grads.get(t);
      const node = t.node!;
      if (g === undefined) continue;
      if (wanted === null || !wanted.has(t)) grads.delete(t);
      if (node.backward === null) {
        throw new GradError(node.op, 'the graph was already freed by an earlier backward(); pass {retainGraph: true} to the first call to backpropagate twice');
      }
      if (node.scope !== null && node.scope.ended) {
        throw new GradError(node.op, 'the graph was recorded inside a tidy() that has ended, which freed its buffers; call backward() inside that tidy()');
      }
      for (const [saved, version] of node.saved) {
        if (saved.storage.version !== version) {
          throw new GradError(
            node.op,
            `a tensor of shape ${formatShape(saved.shape)} saved for backward was modified in place (version ${version}, now ${saved.storage.version})`,
          );
        }
      }
      const inputGrads = node.backward(g);
      if (options.retainGraph !== true) {
        node.backward = null;
        node.saved = [];
      }
      node.inputs.forEach((input, i) => {
        let gi = inputGrads[i];
        if (gi === null || gi === undefined || !input.requiresGrad) return;
        if (!sameShape(gi.shape, input.shape)) gi = sumToShapeImpl!(gi, input.shape);
        if (gi.dtype !== input.dtype) gi = castImpl!(gi, input.dtype);
        if (input.node === null && wanted === null) {
          storeGrad(input, input.grad === null ? (options.createGraph ? gi : gi.detach()) : addImpl!(input.grad, gi), start);
        } else if (input.node !== null || wanted!.has(input)) {
          accumulate(input, gi);
        }
      });
    }
  });
  return grads;
}

/** The leaf each heap gradient belongs to: made by backward inside tidy(), freed when the leaf clears or replaces it. */
const gradBlocks = new WeakMap<Block, Tensor>();

/**
 * Sets a leaf's `.grad`. A gradient on the heap leaves its tidy() scope with the leaf; if backward made it
 * (its block is from `start` on) and no other leaf shares it, the leaf owns it: clearing or replacing the
 * gradient frees it, so that a training loop inside tidy() reuses one buffer per parameter.
 */
function storeGrad(leaf: Tensor, grad: Tensor | null, start: number): void {
  const previous = leaf.grad?.storage.block;
  const next = grad?.storage.block ?? null;
  if (previous && previous !== next && gradBlocks.get(previous) === leaf) {
    gradBlocks.delete(previous);
    release(previous);
  }
  if (next !== null && next !== previous) {
    escape(next);
    if (gradBlocks.has(next)) gradBlocks.delete(next);
    else if (next.serial >= start) gradBlocks.set(next, leaf);
  }
  leaf.grad = grad;
}

/**
 * Runs `fn` in a memory scope, as TensorFlow.js's `tf.tidy`: large float32 tensors made inside live on the
 * tensor heap, where the activation kernels work on them in place, and their memory is reused as soon as the
 * scope ends instead of when the garbage collector gets to it. Kept at the end: tensors in `fn`'s result
 * (searched through arrays and objects), leaves that require gradients (parameters), gradients that
 * backward() stored on leaves (until zeroGrad() clears them), and anything passed to `keep()`. Every other
 * tensor made inside is released: using it afterwards throws, and so does backward() through a graph
 * recorded inside. Arrays read with `dataSync()` inside are views of that memory: copy what should outlive
 * the scope (`Array.from`, `toArray()`).
 */
export function tidy<T>(fn: () => T): T {
  const scope = enterScope();
  const promoted = new Set<Block>();
  try {
    const result = fn();
    if (typeof (result as { then?: unknown } | null)?.then === 'function') {
      throw new ValueError('tidy', 'the function returned a Promise: tidy() scopes synchronous code (await outside it, or tidy each step)');
    }
    collectBlocks(result, promoted, new Set());
    return result;
  } finally {
    for (const t of scope.tensors as Tensor[]) {
      if (t.storage.block !== null && t.node === null && t.requiresGrad) escape(t.storage.block);
    }
    exitScope(scope, promoted);
  }
}

/** Keeps `t` (and every view on its storage) past the end of the enclosing tidy() scopes; returns it. */
export function keep<T extends Tensor>(t: T): T {
  if (t.storage.block !== null) escape(t.storage.block);
  return t;
}

/** The heap blocks of the tensors found in `value`, through arrays, Maps, Sets and object properties. */
function collectBlocks(value: unknown, into: Set<Block>, seen: Set<object>): void {
  if (typeof value !== 'object' || value === null || seen.has(value) || ArrayBuffer.isView(value)) return;
  seen.add(value);
  if (value instanceof Tensor) {
    if (value.storage.block !== null) into.add(value.storage.block);
    collectBlocks(value.grad, into, seen);
    return;
  }
  const children = value instanceof Map || value instanceof Set ? value.values() : Object.values(value);
  for (const child of children) collectBlocks(child, into, seen);
}

/** Non-leaf tensors reachable from the roots, each after all of its inputs (iterative post-order DFS). */
function topoSort(roots: readonly Tensor[]): Tensor[] {
  const order: Tensor[] = [];
  const visited = new Set<Tensor>();
  const stack: [Tensor, number][] = [];
  for (const root of roots) {
    if (root.node === null || visited.has(root)) continue;
    visited.add(root);
    stack.push([root, 0]);
    while (stack.length > 0) {
      const top = stack[stack.length - 1];
      const [t, i] = top;
      const inputs = t.node!.inputs;
      if (i < inputs.length) {
        top[1] = i + 1;
        const input = inputs[i];
        if (input.node !== null && input.requiresGrad && !visited.has(input)) {
          visited.add(input);
          stack.push([input, 0]);
        }
      } else {
        stack.pop();
        order.push(t);
      }
    }
  }
  return order;
}

/** Creates a tensor from nested arrays, a typed array, a number or another tensor (copied). */
export function tensor(data: NestedArray | TypedArray | Tensor, options: TensorOptions & { shape?: Shape } = {}): Tensor {
  const op = 'tensor';
  if (data instanceof Tensor) {
    const dtype = options.dtype === undefined ? data.dtype : checkDType(op, options.dtype);
    const values = convert(data.dataSync(), dtype, true);
    return Tensor.fromData(values, options.shape ?? data.shape, options.requiresGrad ?? false);
  }
  if (ArrayBuffer.isView(data)) {
    const dtype = options.dtype === undefined ? dtypeOf(data) : checkDType(op, options.dtype);
    const values = convert(data, dtype, true);
    return Tensor.fromData(values, options.shape ?? [values.length], options.requiresGrad ?? false);
  }
  const shape: number[] = [];
  let probe: NestedArray = data;
  while (Array.isArray(probe)) {
    shape.push(probe.length);
    probe = (probe as readonly NestedArray[])[0];
    if (probe === undefined) break;
  }
  const dtype = options.dtype === undefined ? 'float32' : checkDType(op, options.dtype);
  const values = allocate(dtype, sizeOf(shape));
  let k = 0;
  const fill = (value: NestedArray, dim: number, path: string): void => {
    if (dim === shape.length) {
      if (typeof value !== 'number') throw new ValueError(op, `expected a number at ${path || 'the top level'}, got ${describe(value)}`);
      values[k++] = value;
      return;
    }
    if (!Array.isArray(value) || value.length !== shape[dim]) {
      throw new ValueError(op, `ragged nested array: ${path || 'the top level'} has ${Array.isArray(value) ? `length ${value.length}` : describe(value)}, expected an array of length ${shape[dim]}`);
    }
    (value as readonly NestedArray[]).forEach((v, i) => fill(v, dim + 1, `${path}[${i}]`));
  };
  fill(data, 0, '');
  const finalShape = options.shape ?? shape;
  return Tensor.fromData(values, finalShape, options.requiresGrad ?? false);
}

function describe(value: unknown): string {
  return Array.isArray(value) ? `an array of length ${value.length}` : typeof value;
}

/** Converts a typed array to `dtype`, copying when asked to or when the type differs. */
export function convert(data: TypedArray, dtype: DType, copy: boolean): TypedArray {
  if (dtypeOf(data) === dtype && !copy) return data;
  const out = allocate(dtype, data.length, false);
  if (dtype === 'int32') {
    for (let i = 0; i < data.length; i++) out[i] = Math.trunc(data[i]);
  } else {
    out.set(data);
  }
  return out;
}
