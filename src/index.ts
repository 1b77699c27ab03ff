/**
 * relulab: tensors with reverse-mode autograd, the ReLU family, neural-network building blocks and plots.
 * Everything exported here is in scope in every relulab kernel session.
 */
export * from './engine';
export * as nn from './nn';
export * as optim from './optim';
export * as data from './data';
export * as diag from './diag';
export * as plot from './plot';
export { fit, evaluate, accuracy, type FitOptions, type History, type EpochLogs } from './train';
export { JUPYTER_DISPLAY, isDisplayable, type MimeBundle, type Displayable, type DisplayOptions } from './display';

// resolved through the package's own exports, so it works from src/ (tests) and dist/ alike
export const version: string = require('relulab/package.json').version;
