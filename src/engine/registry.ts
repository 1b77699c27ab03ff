import { ValueError } from './errors';
import type { Shape } from './shape';
import type { Tensor } from './tensor';

/**
 * How the test suite gradient-checks an op: random float64 inputs of these shapes, drawn from `domain` and
 * kept away from `kinks`, passed to `call`. Every op that records an autograd node is registered with at
 * least one check, and recording a node for an unregistered op throws, so no op escapes the gradient check.
 */
export interface GradCheck {
  /** What this check exercises, e.g. `broadcast [3, 1] with [4]`. */
  label?: string;
  shapes: readonly Shape[];
  call: (...inputs: Tensor[]) => Tensor;
  /** The interval inputs are drawn from; [-2, 2] when omitted. */
  domain?: readonly [number, number];
  /** Points where the op is not differentiable; samples closer than 1e-3 are moved away. */
  kinks?: readonly number[];
  /** Also check gradients of gradients (elementwise ops and matmul). */
  secondOrder?: boolean;
  /** Overrides the default tolerance (atol 1e-5, rtol 1e-3), for ops whose output is float32. */
  tolerance?: { atol: number; rtol: number };
}

export interface OpInfo {
  readonly name: string;
  readonly checks: readonly GradCheck[];
}

const registry = new Map<string, OpInfo>();

/** Registers a differentiable op and how to gradient-check it. */
export function registerOp(name: string, checks: readonly GradCheck[]): void {
  if (registry.has(name)) throw new ValueError('registerOp', `op ${JSON.stringify(name)} is registered twice`);
  if (checks.length === 0) throw new ValueError('registerOp', `op ${JSON.stringify(name)} needs at least one gradient check`);
  registry.set(name, { name, checks });
}

export function isRegistered(name: string): boolean {
  return registry.has(name);
}

/** Every differentiable op, in registration order. */
export function listOps(): OpInfo[] {
  return [...registry.values()];
}
