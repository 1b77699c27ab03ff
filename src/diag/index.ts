/**
 * `diag`: what the ReLU experiments measure and no framework ships — gradient statistics per parameter,
 * dead units and sparsity per activation layer, exact-kink counts, one-sided difference quotients.
 */
import { kinkHits as engineKinkHits, noGrad, resetKinkHits, ValueError, type Tensor } from '../engine';
import { Activation, PReLU, RReLU } from '../nn/activations';
import type { Module } from '../nn/module';

export { gradcheck, formatMismatches, type GradcheckOptions, type GradcheckResult } from '../engine';

export interface GradStat {
  /** 1-based position among the parameters, as the source's "Layer i" printout. */
  index: number;
  name: string;
  shape: number[];
  max: number;
  min: number;
  mean: number;
  /** L2 norm. */
  norm: number;
  /** Fraction of entries exactly zero. */
  zeroFraction: number;
  /** Whether every entry is finite. */
  finite: boolean;
}

/** Statistics of each parameter's gradient after `backward()`; parameters without a gradient are skipped. */
export function gradStats(model: Module): GradStat[] {
  const rows: GradStat[] = [];
  model.namedParameters().forEach(([name, p], i) => {
    if (p.grad === null) return;
    const g = p.grad.dataSync();
    let max = -Infinity;
    let min = Infinity;
    let sum = 0;
    let sq = 0;
    let zeros = 0;
    let finite = true;
    for (let k = 0; k < g.length; k++) {
      const v = g[k];
      if (v > max) max = v;
      if (v < min) min = v;
      sum += v;
      sq += v * v;
      if (v === 0) zeros++;
      if (!Number.isFinite(v)) finite = false;
    }
    rows.push({ index: i + 1, name, shape: [...p.shape], max, min, mean: sum / g.length, norm: Math.sqrt(sq), zeroFraction: zeros / g.length, finite });
  });
  return rows;
}

/** The source's printout: `Layer 1 Gradient max/min: 0.1234 / -0.5678`, one line per parameter. */
export function formatGradStats(rows: readonly GradStat[]): string {
  return rows.map((r) => `Layer ${r.index} Gradient max/min: ${r.max.toFixed(4)} / ${r.min.toFixed(4)}`).join('\n');
}

export interface ActivationStat {
  name: string;
  layer: string;
  /** Fraction of units that are zero for every sample in the batch. */
  deadFraction: number;
  /** Fraction of all activations that are exactly zero. */
  sparsity: number;
  meanActivation: number;
  units: number;
}

/** Whether a module is an activation layer (the ReLU family, sigmoid, tanh …). */
function isActivation(m: Module): boolean {
  return m instanceof Activation || m instanceof PReLU || m instanceof RReLU;
}

/**
 * Runs `model` on `input` (without recording gradients) and measures each activation layer's output:
 * dead units (zero for every sample of the batch), sparsity and mean. A unit is one feature of the output
 * (one channel position for convolutional outputs).
 */
export function activationStats(model: Module, input: Tensor): ActivationStat[] {
  const layers = model.namedModules().filter(([, m]) => isActivation(m));
  if (layers.length === 0) throw new ValueError('activationStats', 'the model has no activation layers');
  const outputs = new Map<Module, Tensor>();
  const originals = layers.map(([, m]) => {
    const forward = m.forward;
    m.forward = (x: Tensor) => {
      const y = forward.call(m, x);
      outputs.set(m, y);
      return y;
    };
    return [m, forward] as const;
  });
  try {
    noGrad(() => model.forward(input));
  } finally {
    for (const [m, forward] of originals) m.forward = forward;
  }
  return layers.flatMap(([layer, m]) => {
    const y = outputs.get(m);
    if (y === undefined) return [];
    const data = y.dataSync();
    const batch = y.shape[0];
    const units = y.size / batch;
    let zeros = 0;
    let sum = 0;
    let dead = 0;
    for (let u = 0; u < units; u++) {
      let alive = false;
      for (let b = 0; b < batch; b++) {
        const v = data[b * units + u];
        if (v === 0) zeros++;
        else alive = true;
        sum += v;
      }
      if (!alive) dead++;
    }
    return [{ name: m.toString(), layer, deadFraction: dead / units, sparsity: zeros / y.size, meanActivation: sum / y.size, units }];
  });
}

/** How often each op's backward met an input exactly at one of its kinks; `kinkHits.reset()` starts again. */
export const kinkHits: (() => Record<string, number>) & { reset: () => void } = Object.assign(() => engineKinkHits(), { reset: resetKinkHits });

export interface OneSided {
  h: number;
  /** (f(x) − f(x − h)) / h */
  left: number;
  /** (f(x + h) − f(x)) / h */
  right: number;
}

/** Left and right difference quotients of a scalar function at x, for each step h (→ 0). */
export function oneSidedDerivative(f: (x: number) => number, x: number, hs: readonly number[] = [1, 0.1, 0.01, 1e-3, 1e-4, 1e-5, 1e-6]): OneSided[] {
  const fx = f(x);
  return hs.map((h) => {
    if (!(h > 0)) throw new ValueError('oneSidedDerivative', `steps must be positive, got ${h}`);
    return { h, left: (fx - f(x - h)) / h, right: (f(x + h) - fx) / h };
  });
}
