/** `optim`: optimisers and learning-rate schedules. */
export { Optimizer, SGD, Adam, AdamW, RMSprop, type SGDOptions, type AdamOptions, type RMSpropOptions } from './optimizers';
export { LRScheduler, StepLR, CosineAnnealingLR, LambdaLR } from './schedulers';
