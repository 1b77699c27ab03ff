/** `nn.functional`: the stateless ops that layers are built from, under PyTorch's names. */
export {
  relu, leakyRelu, prelu, rrelu, elu, selu, celu, gelu, silu, mish, softplus, relu6, hardtanh, hardsigmoid, hardswish, crelu, sigmoid, tanh,
  softmax, logSoftmax, linear, conv2d, maxPool2d, avgPool2d, unfold, fold, dropout,
  mseLoss, crossEntropy, nllLoss, binaryCrossEntropyWithLogits,
} from '../engine';
