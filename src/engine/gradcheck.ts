import { valueAndGrad } from './autograd';
import { ValueError } from './errors';
import { Generator } from './random';
import { formatShape } from './shape';
import { noGrad, Tensor } from './tensor';
import { mul } from './ops/elementwise';
import { sum } from './ops/reduce';

export interface GradcheckOptions {
  /** Central-difference step (PyTorch's default 1e-6). */
  eps?: number;
  atol?: number;
  rtol?: number;
  /** Seed of the random weights that project a non-scalar output to a scalar. */
  seed?: number;
}

export interface GradcheckMismatch {
  input: number;
  /** Flat index of the element within that input. */
  index: number;
  analytic: number;
  numeric: number;
}

export interface GradcheckResult {
  ok: boolean;
  /** The largest |analytic − numeric| over all elements. */
  maxError: number;
  mismatches: GradcheckMismatch[];
}

/**
 * Compares autograd's gradients of `f` with central differences, as `torch.autograd.gradcheck`: each
 * input element is moved by ±eps and an element passes when |analytic − numeric| ≤ atol + rtol·|numeric|.
 * Inputs should be float64 and away from kinks. A non-scalar output is reduced with fixed random weights.
 */
export function gradcheck(f: (...inputs: Tensor[]) => Tensor, inputs: readonly Tensor[], options: GradcheckOptions = {}): GradcheckResult {
  const { eps = 1e-6, atol = 1e-5, rtol = 1e-3, seed = 1234 } = options;
  if (inputs.length === 0) throw new ValueError('gradcheck', 'needs at least one input');
  const rng = new Generator(seed);
  let weights: Tensor | null = null;
  const scalar = (...xs: Tensor[]): Tensor => {
    const y = f(...xs);
    if (weights === null) {
      const w = new Float64Array(y.size);
      for (let i = 0; i < w.length; i++) w[i] = rng.uniform() + 0.5;
      weights = Tensor.fromData(w, y.shape);
    }
    return sum(mul(y, weights));
  };
  const copies = inputs.map((x) => Tensor.fromData(Float64Array.from(x.dataSync()), x.shape));
  const analytic = valueAndGrad(scalar, { argnums: copies.map((_, i) => i) })(...copies).grad.map((g) => g.dataSync());
  const mismatches: GradcheckMismatch[] = [];
  let maxError = 0;
  noGrad(() => {
    copies.forEach((x, input) => {
      const data = x.storage.data;
      for (let index = 0; index < data.length; index++) {
        const original = data[index];
        data[index] = original + eps;
        const up = scalar(...copies).item();
        data[index] = original - eps;
        const down = scalar(...copies).item();
        data[index] = original;
        const numeric = (up - down) / (2 * eps);
        const a = analytic[input][index];
        const err = Math.abs(a - numeric);
        if (!(err <= maxError)) maxError = err;
        if (!(err <= atol + rtol * Math.abs(numeric))) mismatches.push({ input, index, analytic: a, numeric });
      }
    });
  });
  return { ok: mismatches.length === 0, maxError, mismatches };
}

/** Describes a failed check: which input, element, and the two values. */
export function formatMismatches(result: GradcheckResult, inputs: readonly Tensor[]): string {
  return result.mismatches
    .slice(0, 5)
    .map((m) => `input ${m.input} ${formatShape(inputs[m.input].shape)} element ${m.index}: analytic ${m.analytic}, numeric ${m.numeric}`)
    .join('\n');
}
