import { describe, expect, it } from 'vitest';
import * as r from '../src';
import { DTypeError, GradError, RelulabError, ShapeError, ValueError } from '../src';

describe('bad input fails at once with a typed error naming the op and the values at fault', () => {
  it.each([
    ['matmul shapes', () => r.matmul(r.zeros([2, 3]), r.zeros([4, 5])), ShapeError, 'matmul: shapes [2, 3] and [4, 5] are incompatible (3 vs 4)'],
    ['broadcasting', () => r.add(r.zeros([2, 3]), r.zeros([4, 3])), ShapeError, 'add: cannot broadcast [2, 3] with [4, 3] (dim 0: 2 vs 4)'],
    ['broadcasting a scalar-shaped operand names [] ', () => r.mul(r.zeros([2]), r.zeros([3])), ShapeError, 'mul: cannot broadcast [2] with [3] (dim 0: 2 vs 3)'],
    ['an unknown dtype', () => r.zeros([2], { dtype: 'float16' as never }), DTypeError, 'zeros: unknown dtype "float16"; expected one of float32, float64, int32'],
    ['a non-tensor operand', () => r.add(r.zeros([2]), 'x' as never), DTypeError, 'add: expected a Tensor or a number, got string'],
    ['backward on a non-scalar', () => r.zeros([2, 2], { requiresGrad: true }).mul(2).backward(), GradError, 'backward: gradient can be implicit only for a scalar output; got shape [2, 2], pass a gradient of that shape'],
    ['backward without requiresGrad', () => r.zeros([1]).backward(), GradError, 'backward: the tensor does not require gradients: no input had requiresGrad set, or it was computed under noGrad'],
    ['reshape size', () => r.zeros([2, 3]).reshape([4, 2]), ShapeError, 'reshape: cannot reshape [2, 3] (6 elements) into [4, 2] (8 elements)'],
    ['a ragged nested array', () => r.tensor([[1, 2], [3]]), ValueError, 'tensor: ragged nested array: [1] has length 1, expected an array of length 2'],
    ['conv2d channels', () => r.conv2d(r.zeros([1, 3, 5, 5]), r.zeros([4, 2, 3, 3])), ShapeError, 'conv2d: input [1, 3, 5, 5] has 3 channels but weight [4, 2, 3, 3] expects 2'],
    ['conv2d rank', () => r.conv2d(r.zeros([5, 5]), r.zeros([4, 1, 3, 3])), ShapeError, 'conv2d: expected input [N, C, H, W] or [C, H, W], got [5, 5]'],
    ['conv2d kernel larger than the input', () => r.conv2d(r.zeros([1, 1, 3, 3]), r.zeros([2, 1, 5, 5])), ShapeError, 'conv2d: a 5×5 window (dilation 1×1) does not fit the 3×3 input with padding 0/0/0/0'],
    ['conv2d kernel larger than the input, float64', () => r.conv2d(r.zeros([1, 1, 3, 3], { dtype: 'float64' }), r.zeros([2, 1, 5, 5], { dtype: 'float64' })), ShapeError, 'conv2d: a 5×5 window (dilation 1×1) does not fit the 3×3 input with padding 0/0/0/0'],
    ['conv2d stride 0', () => r.conv2d(r.zeros([1, 1, 5, 5]), r.zeros([1, 1, 3, 3]), undefined, { stride: 0 }), ValueError, 'conv2d: stride must be a positive integer or a pair of them, got 0'],
    ['conv2d negative padding', () => r.conv2d(r.zeros([1, 1, 5, 5]), r.zeros([1, 1, 3, 3]), undefined, { padding: -1 }), ValueError, 'conv2d: padding must be a non-negative integer or a pair of them, got -1'],
    ['maxPool2d window larger than the input', () => r.maxPool2d(r.zeros([1, 1, 3, 3]), 5), ShapeError, 'maxPool2d: a 5×5 window (dilation 1×1) does not fit the 3×3 input with padding 0/0/0/0'],
    ['avgPool2d window larger than the input', () => r.avgPool2d(r.zeros([1, 1, 3, 3]), 5), ShapeError, 'avgPool2d: a 5×5 window (dilation 1×1) does not fit the 3×3 input with padding 0/0/0/0'],
    ['maxPool2d stride 0', () => r.maxPool2d(r.zeros([1, 1, 4, 4]), 2, { stride: [1, 0] }), ValueError, 'maxPool2d: stride must be a positive integer or a pair of them, got [1,0]'],
    ["conv2d 'same' with a stride", () => r.conv2d(r.zeros([1, 1, 5, 5]), r.zeros([1, 1, 3, 3]), undefined, { padding: 'same', stride: 2 }), ValueError, "conv2d: padding 'same' needs stride 1, got stride 2"],
    ['a label out of range', () => r.crossEntropy(r.zeros([2, 3]), [0, 3]), ValueError, 'nllLoss: label 3 at index 1 is not a class index in [0, 3)'],
    ['an unknown activation option', () => r.leakyRelu(r.zeros([1]), { slope: 0.2 } as never), ValueError, 'leakyRelu: unknown option "slope"; expected one of negativeSlope'],
    ['an option of the wrong type', () => r.elu(r.zeros([1]), { alpha: '1' } as never), ValueError, 'elu: option alpha must be a number, got "1"'],
    ['an axis out of range', () => r.sum(r.zeros([2, 3]), 2), ValueError, 'sum: axis 2 is out of range for a tensor of rank 2'],
    ['item of many elements', () => r.zeros([2]).item(), ValueError, 'item: only one-element tensors convert to a number; got shape [2]'],
    ['mseLoss shapes', () => r.mseLoss(r.zeros([3]), r.zeros([2])), ShapeError, 'mseLoss: prediction [3] and target [2] must have the same shape'],
  ])('%s', (_label, fn, type, message) => {
    expect(fn).toThrow(type);
    expect(fn).toThrow(message);
    try {
      fn();
    } catch (e) {
      expect(e).toBeInstanceOf(RelulabError);
      expect((e as Error).message).toBe(message);
    }
  });

  it('a second backward through a freed graph says how to keep it', () => {
    const x = r.tensor([1, 2], { requiresGrad: true });
    const y = x.exp().sum();
    y.backward();
    expect(() => y.backward()).toThrow('sum: the graph was already freed by an earlier backward(); pass {retainGraph: true} to the first call to backpropagate twice');
  });

  it('an in-place change to a tensor saved for backward is caught', () => {
    const x = r.tensor([1, 2], { requiresGrad: true });
    const w = r.tensor([3, 4]);
    const y = x.mul(w).sum();
    w.add_(1);
    expect(() => y.backward()).toThrow('mul: a tensor of shape [2] saved for backward was modified in place (version 0, now 1)');
  });

  it('in-place changes of tensors that require grad must happen under noGrad', () => {
    const p = r.tensor([1, 2], { requiresGrad: true });
    expect(() => p.sub_(1)).toThrow(GradError);
    r.noGrad(() => p.sub_(1));
    expect(p.toArray()).toEqual([0, 1]);
  });

  it('every error class carries a stable code', () => {
    const codes = [new ShapeError('op', [], 'm'), new DTypeError('op', 'm'), new GradError('op', 'm'), new ValueError('op', 'm')].map((e) => [e.name, e.code]);
    expect(codes).toEqual([
      ['ShapeError', 'RELULAB_SHAPE'],
      ['DTypeError', 'RELULAB_DTYPE'],
      ['GradError', 'RELULAB_GRAD'],
      ['ValueError', 'RELULAB_VALUE'],
    ]);
  });
});
