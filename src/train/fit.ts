import { argmax, binaryCrossEntropyWithLogits, crossEntropy, mseLoss, noGrad, tidy, ValueError, type Tensor } from '../engine';
import { DataLoader } from '../data/loader';
import type { Module } from '../nn/module';
import { Adam, type Optimizer } from '../optim/optimizers';

export type LossFn = (pred: Tensor, target: Tensor) => Tensor;
export type MetricFn = (pred: Tensor, target: Tensor) => number;

const LOSSES: Record<string, LossFn> = {
  crossEntropy: (p, y) => crossEntropy(p, y),
  mse: (p, y) => mseLoss(p, y),
  binaryCrossEntropyWithLogits: (p, y) => binaryCrossEntropyWithLogits(p, y),
};

/** Fraction of rows whose largest logit is the label (or, for one output, whose sign matches a 0/1 label). */
export function accuracy(pred: Tensor, target: Tensor): number {
  const labels = target.dataSync();
  const guesses = pred.shape[pred.ndim - 1] === 1 && pred.ndim === 2 ? pred.reshape([-1]).gt(0).dataSync() : argmax(pred, -1).dataSync();
  let right = 0;
  for (let i = 0; i < labels.length; i++) if (guesses[i] === labels[i]) right++;
  return right / labels.length;
}

const METRICS: Record<string, MetricFn> = { accuracy };

export interface FitOptions {
  epochs?: number;
  batchSize?: number;
  /** 'crossEntropy' (default), 'mse', 'binaryCrossEntropyWithLogits' or a function. */
  loss?: keyof typeof LOSSES | LossFn;
  /** Defaults to Adam with lr 1e-3 over the model's parameters. */
  optimizer?: Optimizer;
  /** Names ('accuracy') or functions keyed by name. */
  metrics?: (keyof typeof METRICS)[] | Record<string, MetricFn>;
  /** Called after each epoch with its logs; return `false` to stop training. */
  onEpochEnd?: (epoch: number, logs: EpochLogs) => void | boolean;
  shuffle?: boolean;
  seed?: number;
  validationData?: { x: Tensor; y: Tensor };
}

export interface EpochLogs {
  loss: number;
  metrics: Record<string, number>;
  valLoss?: number;
  valMetrics?: Record<string, number>;
  /** Seconds the epoch took. */
  seconds: number;
}

export interface History {
  epoch: number[];
  loss: number[];
  metrics: Record<string, number[]>;
  valLoss: number[];
  valMetrics: Record<string, number[]>;
  seconds: number[];
}

/**
 * Trains `model` on `{x, y}` with mini-batches, Keras style, and returns the history of loss and metrics per
 * epoch (averaged over the epoch's samples). Batches are shuffled with a seeded generator.
 */
export function fit(model: Module, data: { x: Tensor; y: Tensor }, options: FitOptions = {}): History {
  const { epochs = 10, batchSize = 32, shuffle = true, seed = 0, validationData, onEpochEnd } = options;
  const lossFn = typeof options.loss === 'function' ? options.loss : LOSSES[options.loss ?? 'crossEntropy'];
  if (lossFn === undefined) throw new ValueError('fit', `unknown loss ${JSON.stringify(options.loss)}; expected one of ${Object.keys(LOSSES).join(', ')}`);
  const metrics: Record<string, MetricFn> = Array.isArray(options.metrics)
    ? Object.fromEntries(options.metrics.map((m) => {
        if (!(m in METRICS)) throw new ValueError('fit', `unknown metric ${JSON.stringify(m)}; expected one of ${Object.keys(METRICS).join(', ')}`);
        return [m, METRICS[m]];
      }))
    : (options.metrics ?? {});
  const optimizer = options.optimizer ?? new Adam(model.parameters());
  const loader = new DataLoader(data, { batchSize, shuffle, seed });
  const history: History = { epoch: [], loss: [], metrics: {}, valLoss: [], valMetrics: {}, seconds: [] };
  for (const name of Object.keys(metrics)) {
    history.metrics[name] = [];
    history.valMetrics[name] = [];
  }
  for (let epoch = 1; epoch <= epochs; epoch++) {
    const start = performance.now();
    model.train();
    let total = 0;
    let seen = 0;
    const sums: Record<string, number> = Object.fromEntries(Object.keys(metrics).map((k) => [k, 0]));
    const batches = loader[Symbol.iterator]();
    // each step in its own memory scope, the batch included: its tensors reuse the last step's memory
    for (let more = true; more; ) {
      more = tidy(() => {
        const next = batches.next();
        if (next.done === true) return false;
        const batch = next.value;
        optimizer.zeroGrad();
        const pred = model.forward(batch.x);
        const loss = lossFn(pred, batch.y);
        loss.backward();
        optimizer.step();
        const n = batch.x.shape[0];
        total += loss.item() * n;
        seen += n;
        for (const [k, fn] of Object.entries(metrics)) sums[k] += fn(pred.detach(), batch.y) * n;
        return true;
      });
    }
    const logs: EpochLogs = { loss: total / seen, metrics: Object.fromEntries(Object.entries(sums).map(([k, s]) => [k, s / seen])), seconds: 0 };
    if (validationData !== undefined) {
      model.eval();
      noGrad(() => {
        const pred = model.forward(validationData.x);
        logs.valLoss = lossFn(pred, validationData.y).item();
        logs.valMetrics = Object.fromEntries(Object.entries(metrics).map(([k, fn]) => [k, fn(pred, validationData.y)]));
      });
      model.train();
    }
    logs.seconds = (performance.now() - start) / 1000;
    history.epoch.push(epoch);
    history.loss.push(logs.loss);
    history.seconds.push(logs.seconds);
    for (const k of Object.keys(metrics)) {
      history.metrics[k].push(logs.metrics[k]);
      if (logs.valMetrics) history.valMetrics[k].push(logs.valMetrics[k]);
    }
    if (logs.valLoss !== undefined) history.valLoss.push(logs.valLoss);
    if (onEpochEnd?.(epoch, logs) === false) break;
  }
  return history;
}

/** Evaluates without gradients: the loss and metrics on `{x, y}` in eval mode. */
export function evaluate(model: Module, data: { x: Tensor; y: Tensor }, { loss = 'crossEntropy', metrics = ['accuracy'] }: Pick<FitOptions, 'loss'> & { metrics?: (keyof typeof METRICS)[] } = {}): Record<string, number> {
  const lossFn = typeof loss === 'function' ? loss : LOSSES[loss];
  const wasTraining = model.training;
  model.eval();
  try {
    return noGrad(() => {
      const pred = model.forward(data.x);
      return { loss: lossFn(pred, data.y).item(), ...Object.fromEntries(metrics.map((m) => [m, METRICS[m](pred, data.y)])) };
    });
  } finally {
    model.train(wasTraining);
  }
}

