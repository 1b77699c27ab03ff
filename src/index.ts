/**
 * relulab: tensors with reverse-mode autograd, the ReLU family, neural-network building blocks and plots.
 * Everything exported here is in scope in every relulab kernel session.
 */
export * from './engine';
export * as nn from './nn';
export { JUPYTER_DISPLAY, isDisplayable, type MimeBundle, type Displayable } from './display';

export const version: string = require('../../package.json').version;
