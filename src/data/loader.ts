import { Generator, ShapeError, Tensor, ValueError, formatShape } from '../engine';
import { allocate } from '../engine/dtype';
import { perDType } from '../engine/ops/kernels';

/** Rows of a tensor picked by index (a copy), for splitting and batching. */
export function takeRows(t: Tensor, indices: ArrayLike<number>): Tensor {
  const row = t.size / t.shape[0];
  const src = t.dataSync();
  const out = allocate(t.dtype, indices.length * row);
  copyRowsFor[t.dtype](src, out, indices, row);
  return Tensor.fromData(out, [indices.length, ...t.shape.slice(1)]);
}

/** out's k-th row = src's row indices[k]; rows of `row` values. Self-contained for perDType. */
function copyRows(src: ArrayLike<number>, out: { [i: number]: number }, indices: ArrayLike<number>, row: number): void {
  for (let k = 0, d = 0; k < indices.length; k++) {
    const s = indices[k] * row;
    for (let j = 0; j < row; j++, d++) out[d] = src[s + j];
  }
}
const copyRowsFor = perDType(copyRows);

/** A seeded Fisher–Yates permutation of 0..n-1. */
export function permutation(n: number, rng: Generator): Int32Array {
  const p = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(0, i + 1);
    [p[i], p[j]] = [p[j], p[i]];
  }
  return p;
}

function checkPair(op: string, x: Tensor, y: Tensor): void {
  if (x.ndim === 0 || y.ndim === 0 || x.shape[0] !== y.shape[0]) {
    throw new ShapeError(op, [x.shape, y.shape], `x ${formatShape(x.shape)} and y ${formatShape(y.shape)} need the same number of rows`);
  }
}

export interface SplitOptions {
  /** Fraction (0–1) or count of rows for the test set; default 0.25. */
  testSize?: number;
  seed?: number;
  /** Keep each class's share in both parts (y must hold class indices). */
  stratify?: boolean;
}

/** Shuffles (seeded) and splits into train and test parts. */
export function trainTestSplit(x: Tensor, y: Tensor, { testSize = 0.25, seed = 0, stratify = false }: SplitOptions = {}): { xTrain: Tensor; yTrain: Tensor; xTest: Tensor; yTest: Tensor } {
  checkPair('trainTestSplit', x, y);
  const n = x.shape[0];
  const nTest = testSize < 1 ? Math.round(n * testSize) : testSize;
  if (!(nTest > 0 && nTest < n)) throw new ValueError('trainTestSplit', `testSize ${testSize} leaves no rows for train or test out of ${n}`);
  const order = permutation(n, new Generator(seed));
  let test: number[];
  if (stratify) {
    const labels = y.dataSync();
    const byClass = new Map<number, number[]>();
    for (const i of order) byClass.set(labels[i], [...(byClass.get(labels[i]) ?? []), i]);
    test = [...byClass.values()].flatMap((rows) => rows.slice(0, Math.round((rows.length * nTest) / n)));
  } else {
    test = Array.from(order.subarray(0, nTest));
  }
  const inTest = new Set(test);
  const train = Array.from(order).filter((i) => !inTest.has(i));
  return { xTrain: takeRows(x, train), yTrain: takeRows(y, train), xTest: takeRows(x, test), yTest: takeRows(y, test) };
}

export interface LoaderOptions {
  batchSize?: number;
  shuffle?: boolean;
  seed?: number;
  dropLast?: boolean;
}

/** Iterates over `{x, y}` batches; with `shuffle`, each pass draws a new seeded order. */
export class DataLoader implements Iterable<{ x: Tensor; y: Tensor }> {
  private readonly rng: Generator;
  readonly batchSize: number;

  constructor(readonly dataset: { x: Tensor; y: Tensor }, private readonly options: LoaderOptions = {}) {
    checkPair('DataLoader', dataset.x, dataset.y);
    this.batchSize = options.batchSize ?? 32;
    if (!Number.isInteger(this.batchSize) || this.batchSize <= 0) throw new ValueError('DataLoader', `batchSize must be a positive integer, got ${this.batchSize}`);
    this.rng = new Generator(options.seed ?? 0);
  }

  get length(): number {
    const n = this.dataset.x.shape[0];
    return this.options.dropLast ? Math.floor(n / this.batchSize) : Math.ceil(n / this.batchSize);
  }

  *[Symbol.iterator](): Iterator<{ x: Tensor; y: Tensor }> {
    const n = this.dataset.x.shape[0];
    const order = this.options.shuffle ? permutation(n, this.rng) : Int32Array.from({ length: n }, (_, i) => i);
    for (let b = 0; b < this.length; b++) {
      const rows = order.subarray(b * this.batchSize, Math.min((b + 1) * this.batchSize, n));
      yield { x: takeRows(this.dataset.x, rows), y: takeRows(this.dataset.y, rows) };
    }
  }
}

