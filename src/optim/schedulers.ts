/** Learning-rate schedules: call `step()` once per epoch (or per batch) after `optimizer.step()`. */
import { ValueError } from '../engine';
import type { Optimizer } from './optimizers';

export abstract class LRScheduler {
  readonly baseLr: number;
  epoch = 0;

  constructor(protected readonly optimizer: Optimizer) {
    this.baseLr = optimizer.lr;
  }

  /** Advances the schedule and sets the optimizer's learning rate. */
  step(): number {
    this.epoch++;
    this.optimizer.lr = this.lrAt(this.epoch);
    return this.optimizer.lr;
  }

  abstract lrAt(epoch: number): number;
}

/** Multiplies the rate by `gamma` every `stepSize` epochs. */
export class StepLR extends LRScheduler {
  constructor(optimizer: Optimizer, readonly stepSize: number, readonly gamma = 0.1) {
    super(optimizer);
    if (!Number.isInteger(stepSize) || stepSize <= 0) throw new ValueError('StepLR', `stepSize must be a positive integer, got ${stepSize}`);
  }
  lrAt(epoch: number): number {
    return this.baseLr * this.gamma ** Math.floor(epoch / this.stepSize);
  }
}

/** Cosine annealing from the base rate down to `etaMin` over `tMax` epochs. */
export class CosineAnnealingLR extends LRScheduler {
  constructor(optimizer: Optimizer, readonly tMax: number, readonly etaMin = 0) {
    super(optimizer);
    if (!(tMax > 0)) throw new ValueError('CosineAnnealingLR', `tMax must be positive, got ${tMax}`);
  }
  lrAt(epoch: number): number {
    return this.etaMin + ((this.baseLr - this.etaMin) * (1 + Math.cos((Math.PI * Math.min(epoch, this.tMax)) / this.tMax))) / 2;
  }
}

/** The base rate times a function of the epoch, as PyTorch's LambdaLR. */
export class LambdaLR extends LRScheduler {
  constructor(optimizer: Optimizer, readonly factor: (epoch: number) => number) {
    super(optimizer);
  }
  lrAt(epoch: number): number {
    return this.baseLr * this.factor(epoch);
  }
}
