/** `nn`: layers and models (PyTorch's nn.Module API, plus Keras's Dense), initialisers and `nn.functional`. */
export * as functional from './functional';
export * as init from './init';
export { Module, Sequential, type StateDict, type StateEntry } from './module';
export { Linear, Dense, Conv2d, MaxPool2d, AvgPool2d, Flatten, Dropout, BatchNorm1d, RNN, RNNCell, type RNNOptions, type ActivationSpec } from './layers';
export * from './activations';
