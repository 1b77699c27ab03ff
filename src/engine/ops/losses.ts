import { allocate, floatResult } from '../dtype';
import { ShapeError, ValueError } from '../errors';
import { defaultGenerator, type Generator } from '../random';
import { registerOp } from '../registry';
import { broadcastShapes, formatShape, sameShape } from '../shape';
import { fromOp, Tensor } from '../tensor';
import { sigmoid } from './activations';
import { asTensor, mul, neg, square, sub, type TensorLike } from './elementwise';
import { mapBinary } from './kernels';
import { logSoftmax, mean } from './reduce';
import { reshape } from './views';

/** A target of the prediction's shape, or a number or scalar broadcast to it. */
function target(op: string, pred: Tensor, y: TensorLike): Tensor {
  const t = asTensor(op, y, pred.dtype);
  if (t.size !== 1 && !sameShape(t.shape, pred.shape)) {
    throw new ShapeError(op, [pred.shape, t.shape], `prediction ${formatShape(pred.shape)} and target ${formatShape(t.shape)} must have the same shape`);
  }
  return t;
}

/** mean((pred − target)²). */
export function mseLoss(pred: Tensor, y: TensorLike): Tensor {
  return mean(square(sub(pred, target('mseLoss', pred, y))));
}

/** Class indices as an int32 array of n, checked against the number of classes. */
function classIndices(op: string, labels: Tensor | readonly number[], n: number, classes: number): Int32Array {
  const shape = labels instanceof Tensor ? labels.shape : [labels.length];
  if (shape.length !== 1 || shape[0] !== n) throw new ShapeError(op, [shape], `labels must be a 1-D list of ${n} class indices, got shape ${formatShape(shape)}`);
  const values = labels instanceof Tensor ? labels.dataSync() : labels;
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const v = values[i];
    if (!Number.isInteger(v) || v < 0 || v >= classes) throw new ValueError(op, `label ${v} at index ${i} is not a class index in [0, ${classes})`);
    out[i] = v;
  }
  return out;
}

/**
 * Negative log-likelihood of class indices under log-probabilities [N, C], averaged over the batch: one
 * graph node, −(Σᵢ logProbs[i, labelᵢ]) / N summed in double precision, whose gradient is −g/N at each
 * label and 0 elsewhere.
 */
export function nllLoss(logProbs: Tensor, labels: Tensor | readonly number[]): Tensor {
  const op = 'nllLoss';
  if (logProbs.ndim !== 2) throw new ShapeError(op, [logProbs.shape], `expected log-probabilities [N, C], got ${formatShape(logProbs.shape)}`);
  const [n, c] = logProbs.shape;
  const picked = classIndices(op, labels, n, c);
  const dtype = floatResult(logProbs.dtype);
  const [rowStride, colStride] = logProbs.strides;
  const data = logProbs.storage.data;
  let total = 0;
  for (let i = 0; i < n; i++) total += data[logProbs.offset + i * rowStride + picked[i] * colStride];
  const out = allocate(dtype, 1);
  out[0] = -total / n;
  return fromOp(op, out, [], [logProbs], (g) => {
    // one −1/N per row, at its label
    const weights = allocate(dtype, n * c);
    for (let i = 0; i < n; i++) weights[i * c + picked[i]] = -1 / n;
    return [mul(Tensor.fromData(weights, [n, c]), g)];
  });
}
registerOp('nllLoss', [{ shapes: [[3, 4]], call: (x) => nllLoss(x, [2, 0, 3]), secondOrder: true }]);

/** Softmax cross-entropy of logits [N, C] against class indices, averaged over the batch. */
export function crossEntropy(logits: Tensor, labels: Tensor | readonly number[]): Tensor {
  if (logits.ndim !== 2) throw new ShapeError('crossEntropy', [logits.shape], `expected logits [N, C], got ${formatShape(logits.shape)}`);
  return nllLoss(logSoftmax(logits, 1), labels);
}

/** The per-element loss max(x, 0) − x·y + log(1 + e^−|x|), whose derivative in x is σ(x) − y everywhere. */
function bceWithLogitsElementwise(x: Tensor, y: Tensor): Tensor {
  const op = 'binaryCrossEntropyWithLogits';
  const shape = broadcastShapes(op, x.shape, y.shape);
  const data = mapBinary(x, y, shape, floatResult(x.dtype), (a, b) => Math.max(a, 0) - a * b + Math.log1p(Math.exp(-Math.abs(a))));
  return fromOp(op, data, shape, [x, y], (g) => [mul(g, sub(sigmoid(x), y)), mul(g, neg(x))], [x, y]);
}
registerOp('binaryCrossEntropyWithLogits', [
  { shapes: [[3, 4], [3, 4]], call: (x, y) => bceWithLogitsElementwise(x, y), secondOrder: true },
]);

/** Binary cross-entropy on logits against targets in [0, 1], averaged; stable for large |logits|. */
export function binaryCrossEntropyWithLogits(logits: Tensor, targets: TensorLike): Tensor {
  return mean(bceWithLogitsElementwise(logits, target('binaryCrossEntropyWithLogits', logits, targets)));
}

export interface DropoutOptions {
  p?: number;
  training?: boolean;
  generator?: Generator;
}

/** Zeroes each element with probability p in training and scales the rest by 1/(1 − p). */
export function dropout(x: Tensor, { p = 0.5, training = true, generator = defaultGenerator }: DropoutOptions = {}): Tensor {
  if (!(p >= 0 && p <= 1)) throw new ValueError('dropout', `p must be in [0, 1], got ${p}`);
  if (!training || p === 0) return x;
  const mask = allocate(floatResult(x.dtype), x.size);
  const scale = p === 1 ? 0 : 1 / (1 - p);
  for (let i = 0; i < mask.length; i++) mask[i] = generator.uniform() < p ? 0 : scale;
  return mul(x, reshape(Tensor.fromData(mask, [x.size]), x.shape));
}
