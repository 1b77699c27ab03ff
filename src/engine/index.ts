import './methods';
import { installAutogradOps } from './tensor';
import { add, cast } from './ops/elementwise';
import { sumToShape } from './ops/reduce';

installAutogradOps({ sumToShape, add, cast });

export { Tensor, tensor, tidy, keep, noGrad, isGradEnabled, withGradMode, type NestedArray, type TensorOptions, type BackwardOptions, type GradNode } from './tensor';
export { type DType, type TypedArray } from './dtype';
export { heapStats } from './wasm/heap';
export { RelulabError, ShapeError, DTypeError, GradError, ValueError } from './errors';
export { formatShape, broadcastShapes, type Shape } from './shape';
export { Generator, manualSeed, defaultGenerator } from './random';
export { listOps, type OpInfo, type GradCheck } from './registry';
export { grad, valueAndGrad, type GradOptions } from './autograd';
export { gradcheck, formatMismatches, type GradcheckOptions, type GradcheckResult, type GradcheckMismatch } from './gradcheck';
export { zeros, ones, full, zerosLike, onesLike, arange, linspace, eye, rand, randn, randint, truncatedNormal, type RandomOptions, type TruncatedNormalOptions } from './creation';
export {
  add, sub, mul, div, pow, maximum, minimum, eq, ne, lt, le, gt, ge, where,
  neg, exp, log, log1p, expm1, sqrt, square, abs, sign, sin, cos, clamp, cast, allclose,
  kinkHits, resetKinkHits, type TensorLike, type UnaryOp,
} from './ops/elementwise';
export { sum, mean, max, min, argmax, argmin, variance as var, logsumexp, softmax, logSoftmax, type Axis, type ReduceOptions, type VarOptions } from './ops/reduce';
export { reshape, flatten, permute, transpose, expand, squeeze, unsqueeze, slice, contiguous, concat, stack, split, gather, scatterAdd, type SliceSpec } from './ops/views';
export { matmul, linear } from './ops/matmul';
export { conv2d, maxPool2d, avgPool2d, unfold, fold, type Conv2dOptions, type Pool2dOptions, type Pair } from './ops/conv';
export {
  relu, leakyRelu, prelu, rrelu, elu, selu, celu, gelu, silu, mish, softplus, relu6, hardtanh, hardsigmoid, hardswish, crelu, sigmoid, tanh,
  erfOp as erf, SELU_ALPHA, SELU_SCALE, type RreluOptions,
} from './ops/activations';
export { mseLoss, crossEntropy, nllLoss, binaryCrossEntropyWithLogits, dropout, type DropoutOptions } from './ops/losses';
