/**
 * Optimisers with PyTorch's update rules (torch/optim/*.py). Each keeps its state per parameter and updates
 * the parameters in place (which bumps their storage version, so a stale graph cannot be backpropagated).
 */
import { ValueError, type Tensor } from '../engine';
import { dtypeOf, type TypedArray } from '../engine/dtype';
import { perDType } from '../engine/ops/kernels';
import { adamStep, rmspropStep, sgdMomentumStep, sgdStep } from '../engine/wasm/elementwise';
import { HEAP_MIN_ELEMENTS } from '../engine/scope';
import { heapFloat64 } from '../engine/wasm/heap';

/*
 * The update loops are self-contained functions of plain numbers, one monomorphic copy per parameter dtype
 * (perDType): a loop that reads options from `this`, or runs for every dtype, goes slow in V8.
 */

/** SGD with momentum, dampening, Nesterov and L2 decay over n elements of p from o. */
function sgdLoop(p: { [i: number]: number }, o: number, g: ArrayLike<number>, buf: Float64Array, n: number, lr: number, momentum: number, dampening: number, nesterov: boolean, weightDecay: number, first: boolean): void {
  for (let i = 0; i < n; i++) {
    let d = g[i] + weightDecay * p[o + i];
    if (momentum !== 0) {
      buf[i] = first ? d : momentum * buf[i] + (1 - dampening) * d;
      d = nesterov ? d + momentum * buf[i] : buf[i];
    }
    p[o + i] -= lr * d;
  }
}
const sgdLoopFor = perDType(sgdLoop);

/**
 * Adam (decoupled: AdamW) over n elements of p from o, in PyTorch's order of operations: with the bias
 * corrections folded into stepSize = lr / (1 − β₁ᵗ) and sqrtC2 = √(1 − β₂ᵗ), p −= stepSize · m / (√v / sqrtC2 + ε).
 */
function adamLoop(p: { [i: number]: number }, o: number, g: ArrayLike<number>, m: Float64Array, v: Float64Array, n: number, lr: number, b1: number, b2: number, stepSize: number, sqrtC2: number, eps: number, weightDecay: number, decoupled: boolean): void {
  for (let i = 0; i < n; i++) {
    if (decoupled) p[o + i] *= 1 - lr * weightDecay;
    const d = decoupled ? g[i] : g[i] + weightDecay * p[o + i];
    m[i] = b1 * m[i] + (1 - b1) * d;
    v[i] = b2 * v[i] + (1 - b2) * d * d;
    p[o + i] -= stepSize * (m[i] / (Math.sqrt(v[i]) / sqrtC2 + eps));
  }
}
const adamLoopFor = perDType(adamLoop);

/** RMSprop with optional momentum over n elements of p from o. */
function rmspropLoop(p: { [i: number]: number }, o: number, g: ArrayLike<number>, v: Float64Array, buf: Float64Array, n: number, lr: number, alpha: number, eps: number, momentum: number, weightDecay: number): void {
  for (let i = 0; i < n; i++) {
    const d = g[i] + weightDecay * p[o + i];
    v[i] = alpha * v[i] + (1 - alpha) * d * d;
    const step = d / (Math.sqrt(v[i]) + eps);
    if (momentum > 0) {
      buf[i] = momentum * buf[i] + step;
      p[o + i] -= lr * buf[i];
    } else {
      p[o + i] -= lr * step;
    }
  }
}
const rmspropLoopFor = perDType(rmspropLoop);

export abstract class Optimizer {
  /** The learning rate; schedulers change it between steps. */
  lr: number;
  protected readonly params: Tensor[];
  protected readonly state = new Map<Tensor, Float64Array[]>();
  /** Number of updates applied so far. */
  steps = 0;

  constructor(params: Iterable<Tensor>, lr: number) {
    this.params = [...params];
    if (this.params.length === 0) throw new ValueError(this.constructor.name, 'got an empty parameter list');
    if (!(lr >= 0)) throw new ValueError(this.constructor.name, `learning rate must be non-negative, got ${lr}`);
    for (const p of this.params) {
      if (!p.requiresGrad || !p.isLeaf()) throw new ValueError(this.constructor.name, `parameters must be leaf tensors with requiresGrad; got shape [${p.shape.join(', ')}]`);
      if (!p.isContiguous()) throw new ValueError(this.constructor.name, 'parameters must be contiguous tensors');
    }
    this.lr = lr;
  }

  zeroGrad(): void {
    for (const p of this.params) p.zeroGrad();
  }

  /** Applies one update to every parameter that has a gradient. */
  step(): void {
    for (const p of this.params) {
      if (p.grad === null) continue;
      const data = p.storage.data;
      const grad = p.grad.dataSync();
      let slots = this.state.get(p);
      if (slots === undefined) {
        // the state of large float32 parameters on the tensor heap, where the WebAssembly updates read it
        const onHeap = p.dtype === 'float32' && p.size >= HEAP_MIN_ELEMENTS;
        slots = Array.from({ length: this.slots }, () => (onHeap ? heapFloat64(p.size) : null) ?? new Float64Array(p.size));
        this.state.set(p, slots);
      }
      this.update(data, p.offset, grad, slots, p.size);
      p.storage.version++;
    }
    this.steps++;
  }

  /** Per-parameter state arrays the update needs (momentum, moments …). */
  protected abstract readonly slots: number;
  protected abstract update(p: TypedArray, offset: number, g: ArrayLike<number>, state: Float64Array[], n: number): void;
}

export interface SGDOptions {
  lr?: number;
  momentum?: number;
  dampening?: number;
  nesterov?: boolean;
  weightDecay?: number;
}

/** Stochastic gradient descent with optional momentum (PyTorch's form: buf = μ·buf + (1 − dampening)·g), Nesterov and L2 weight decay. */
export class SGD extends Optimizer {
  protected readonly slots = 1;
  readonly options: Required<Omit<SGDOptions, 'lr'>>;

  constructor(params: Iterable<Tensor>, { lr = 0.01, momentum = 0, dampening = 0, nesterov = false, weightDecay = 0 }: SGDOptions = {}) {
    super(params, lr);
    if (nesterov && (momentum <= 0 || dampening !== 0)) throw new ValueError('SGD', 'nesterov needs momentum > 0 and dampening 0');
    this.options = { momentum, dampening, nesterov, weightDecay };
  }

  protected update(p: TypedArray, o: number, g: ArrayLike<number>, [buf]: Float64Array[], n: number): void {
    const { momentum, dampening, nesterov, weightDecay } = this.options;
    if (momentum === 0 && weightDecay === 0) {
      // plain SGD, as PyTorch: the gradient as it is (no decay term added)
      const lr = this.lr;
      if (p instanceof Float32Array && g instanceof Float32Array && sgdStep(p.subarray(o, o + n), g, lr)) return;
      for (let i = 0; i < n; i++) p[o + i] -= lr * g[i];
      return;
    }
    // PyTorch starts the momentum buffer at the first gradient, not at zero
    const first = !this.started.has(buf);
    this.started.add(buf);
    if (p instanceof Float32Array && g instanceof Float32Array && sgdMomentumStep(p.subarray(o, o + n), g, buf, { lr: this.lr, momentum, dampening, weightDecay, nesterov, first })) return;
    sgdLoopFor[dtypeOf(p)](p, o, g, buf, n, this.lr, momentum, dampening, nesterov, weightDecay, first);
  }

  private readonly started = new WeakSet<Float64Array>();
}

export interface AdamOptions {
  lr?: number;
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
}

/** Adam (Kingma & Ba) with bias correction; weightDecay adds an L2 term to the gradient, as PyTorch's Adam. */
export class Adam extends Optimizer {
  protected readonly slots = 2;
  readonly options: Required<Omit<AdamOptions, 'lr'>>;
  private readonly counts = new WeakMap<Float64Array, number>();

  constructor(params: Iterable<Tensor>, { lr = 0.001, betas = [0.9, 0.999], eps = 1e-8, weightDecay = 0 }: AdamOptions = {}) {
    super(params, lr);
    this.options = { betas, eps, weightDecay };
  }

  /** Decoupled decay for AdamW; L2 in the gradient for Adam. */
  protected decoupled = false;

  protected update(p: TypedArray, o: number, g: ArrayLike<number>, [m, v]: Float64Array[], n: number): void {
    const { betas: [b1, b2], eps, weightDecay } = this.options;
    const t = (this.counts.get(m) ?? 0) + 1;
    this.counts.set(m, t);
    const stepSize = this.lr / (1 - b1 ** t);
    const sqrtC2 = Math.sqrt(1 - b2 ** t);
    if (p instanceof Float32Array && g instanceof Float32Array) {
      const step = { b1, b2, stepSize, sqrtC2, eps, weightDecay, decay: 1 - this.lr * weightDecay, decoupled: this.decoupled };
      if (adamStep(p.subarray(o, o + n), g, m, v, step)) return;
    }
    adamLoopFor[dtypeOf(p)](p, o, g, m, v, n, this.lr, b1, b2, stepSize, sqrtC2, eps, weightDecay, this.decoupled);
  }
}

/** Adam with decoupled weight decay (Loshchilov & Hutter): p ← p·(1 − lr·λ) before the Adam step; PyTorch's default λ = 0.01. */
export class AdamW extends Adam {
  protected override decoupled = true;

  constructor(params: Iterable<Tensor>, { weightDecay = 0.01, ...options }: AdamOptions = {}) {
    super(params, { weightDecay, ...options });
  }
}

export interface RMSpropOptions {
  lr?: number;
  alpha?: number;
  eps?: number;
  momentum?: number;
  weightDecay?: number;
}

/** RMSprop as PyTorch: v = α·v + (1 − α)·g², step g/(√v + ε), optional momentum. */
export class RMSprop extends Optimizer {
  protected readonly slots = 2;
  readonly options: Required<Omit<RMSpropOptions, 'lr'>>;

  constructor(params: Iterable<Tensor>, { lr = 0.01, alpha = 0.99, eps = 1e-8, momentum = 0, weightDecay = 0 }: RMSpropOptions = {}) {
    super(params, lr);
    this.options = { alpha, eps, momentum, weightDecay };
  }

  protected update(p: TypedArray, o: number, g: ArrayLike<number>, [v, buf]: Float64Array[], n: number): void {
    const { alpha, eps, momentum, weightDecay } = this.options;
    if (p instanceof Float32Array && g instanceof Float32Array && rmspropStep(p.subarray(o, o + n), g, v, buf, { lr: this.lr, alpha, eps, momentum, weightDecay })) return;
    rmspropLoopFor[dtypeOf(p)](p, o, g, v, buf, n, this.lr, alpha, eps, momentum, weightDecay);
  }
}
