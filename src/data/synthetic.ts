/** Seeded synthetic data sets: the same seed gives the same points on every machine. */
import { Generator, tensor, ValueError, type Tensor } from '../engine';

export interface Dataset {
  /** Inputs [N, features]. */
  x: Tensor;
  /** Targets: class indices [N] (int32) for classification, values [N, 1] for regression. */
  y: Tensor;
}

export interface SyntheticOptions {
  n?: number;
  noise?: number;
  seed?: number;
}

function build(n: number, seed: number, point: (rng: Generator, i: number) => [number[], number]): Dataset {
  if (!Number.isInteger(n) || n <= 0) throw new ValueError('data', `n must be a positive integer, got ${n}`);
  const rng = new Generator(seed);
  const xs: number[][] = [];
  const ys: number[] = [];
  for (let i = 0; i < n; i++) {
    const [p, label] = point(rng, i);
    xs.push(p);
    ys.push(label);
  }
  return { x: tensor(xs), y: tensor(ys, { dtype: 'int32' }) };
}

/** Two interleaving half circles (scikit-learn's make_moons), classes 0 and 1. */
export function moons({ n = 200, noise = 0.1, seed = 0 }: SyntheticOptions = {}): Dataset {
  const half = Math.ceil(n / 2);
  return build(n, seed, (rng, i) => {
    const upper = i < half;
    const t = (Math.PI * (upper ? i : i - half)) / Math.max((upper ? half : n - half) - 1, 1);
    const [x, y] = upper ? [Math.cos(t), Math.sin(t)] : [1 - Math.cos(t), 0.5 - Math.sin(t)];
    return [[x + noise * rng.normal(), y + noise * rng.normal()], upper ? 0 : 1];
  });
}

/** A small circle inside a large one (make_circles); `factor` is the inner radius. */
export function circles({ n = 200, noise = 0.05, seed = 0, factor = 0.5 }: SyntheticOptions & { factor?: number } = {}): Dataset {
  const half = Math.ceil(n / 2);
  return build(n, seed, (rng, i) => {
    const outer = i < half;
    const t = (2 * Math.PI * (outer ? i : i - half)) / (outer ? half : n - half);
    const r = outer ? 1 : factor;
    return [[r * Math.cos(t) + noise * rng.normal(), r * Math.sin(t) + noise * rng.normal()], outer ? 0 : 1];
  });
}

/** Interleaved spiral arms, one class per arm. */
export function spirals({ n = 300, noise = 0.2, seed = 0, classes = 3 }: SyntheticOptions & { classes?: number } = {}): Dataset {
  return build(n, seed, (rng, i) => {
    const c = i % classes;
    const r = (Math.floor(i / classes) + 1) / Math.ceil(n / classes);
    const t = (c * 2 * Math.PI) / classes + 4 * r + noise * rng.normal() * 0.5;
    return [[r * Math.sin(t), r * Math.cos(t)], c];
  });
}

/** Gaussian blobs around `centers` (default three corners of a square), spread `std`. */
export function blobs({ n = 300, seed = 0, centers = [[-2, -2], [2, -2], [0, 2]], std = 0.7 }: SyntheticOptions & { centers?: number[][]; std?: number } = {}): Dataset {
  return build(n, seed, (rng, i) => {
    const c = i % centers.length;
    return [centers[c].map((m) => m + std * rng.normal()), c];
  });
}

/** The XOR problem: points in [-1, 1]², class 1 where the coordinates' signs differ. */
export function xor({ n = 200, noise = 0, seed = 0 }: SyntheticOptions = {}): Dataset {
  return build(n, seed, (rng) => {
    const x = 2 * rng.uniform() - 1;
    const y = 2 * rng.uniform() - 1;
    return [[x + noise * rng.normal(), y + noise * rng.normal()], x * y < 0 ? 1 : 0];
  });
}

/** A 1-D regression: y = sin(3x) + x/2 + noise for x uniform in [-2, 2]; targets are [N, 1] floats. */
export function regression1d({ n = 200, noise = 0.1, seed = 0, fn = (x: number) => Math.sin(3 * x) + x / 2 }: SyntheticOptions & { fn?: (x: number) => number } = {}): Dataset {
  const rng = new Generator(seed);
  const xs: number[][] = [];
  const ys: number[][] = [];
  for (let i = 0; i < n; i++) {
    const x = 4 * rng.uniform() - 2;
    xs.push([x]);
    ys.push([fn(x) + noise * rng.normal()]);
  }
  return { x: tensor(xs), y: tensor(ys) };
}
