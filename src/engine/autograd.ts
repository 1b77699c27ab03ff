import { GradError, ValueError } from './errors';
import { formatShape } from './shape';
import { isGradEnabled, runBackward, Tensor, withGradMode } from './tensor';

export interface GradOptions {
  /** Which arguments to differentiate with respect to: an index (default 0) or a list of indices. */
  argnums?: number | readonly number[];
}

type TensorFn = (...args: Tensor[]) => Tensor;

/** The value of `f` and its gradient with respect to the chosen arguments. */
export function valueAndGrad(f: TensorFn, options: { argnums: readonly number[] }): (...args: Tensor[]) => { value: Tensor; grad: Tensor[] };
export function valueAndGrad(f: TensorFn, options?: { argnums?: number }): (...args: Tensor[]) => { value: Tensor; grad: Tensor };
export function valueAndGrad(f: TensorFn, { argnums = 0 }: GradOptions = {}) {
  return (...args: Tensor[]) => {
    const indices = typeof argnums === 'number' ? [argnums] : [...argnums];
    for (const i of indices) {
      if (!(args[i] instanceof Tensor)) throw new ValueError('grad', `argument ${i} must be a Tensor to differentiate with respect to it`);
    }
    // differentiate with respect to fresh leaves, unless an argument is already in a graph (nested grad)
    const inputs = args.map((a, i) => (indices.includes(i) && !a.requiresGrad ? a.detach().requiresGrad_() : a));
    const nested = indices.some((i) => args[i].requiresGrad) && isGradEnabled();
    const value = withGradMode(true, () => f(...inputs));
    if (!(value instanceof Tensor)) throw new GradError('grad', 'the function must return a Tensor');
    if (value.size !== 1) throw new GradError('grad', `the function must return a scalar, got shape ${formatShape(value.shape)}`);
    const wrt = indices.map((i) => inputs[i]);
    const grads = value.requiresGrad
      ? runBackward([value], [Tensor.fromData(new (value.storage.data.constructor as Float64ArrayConstructor)(1).fill(1), value.shape)], { createGraph: nested, retainGraph: nested }, wrt)
      : new Map<Tensor, Tensor>();
    const result = wrt.map((t) => grads.get(t) ?? zerosLike(t));
    return { value: nested ? value : value.detach(), grad: typeof argnums === 'number' ? result[0] : result };
  };
}

function zerosLike(t: Tensor): Tensor {
  return Tensor.fromData(new (t.storage.data.constructor as Float64ArrayConstructor)(t.size), t.shape);
}

/**
 * The gradient function of a scalar function: `grad(f)(x)` is df/dx. Nest it for higher derivatives:
 * `grad(grad(f))(x)`.
 */
export function grad(f: TensorFn, options: { argnums: readonly number[] }): (...args: Tensor[]) => Tensor[];
export function grad(f: TensorFn, options?: { argnums?: number }): (...args: Tensor[]) => Tensor;
export function grad(f: TensorFn, options: GradOptions = {}): (...args: Tensor[]) => unknown {
  const vg = valueAndGrad(f, options as { argnums: readonly number[] });
  return (...args: Tensor[]) => vg(...args).grad;
}
