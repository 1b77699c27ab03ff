import { formatShape, type Shape } from './shape';

/** Base class of every error the engine throws: each has a stable `code` and names the op at fault. */
export class RelulabError extends Error {
  readonly code: string = 'RELULAB_ERROR';
  constructor(
    readonly op: string,
    message: string,
  ) {
    super(`${op}: ${message}`);
    this.name = new.target.name;
  }
}

/** Shapes that cannot work together, e.g. `matmul: shapes [2, 3] and [4, 5] are incompatible (3 vs 4)`. */
export class ShapeError extends RelulabError {
  override readonly code = 'RELULAB_SHAPE';
  constructor(
    op: string,
    readonly shapes: readonly Shape[],
    message: string,
  ) {
    super(op, message);
  }

  /** `op: cannot broadcast [2, 3] with [4, 3] (dim 0: 2 vs 4)` */
  static broadcast(op: string, a: Shape, b: Shape, dim: number, da: number, db: number): ShapeError {
    return new ShapeError(op, [a, b], `cannot broadcast ${formatShape(a)} with ${formatShape(b)} (dim ${dim}: ${da} vs ${db})`);
  }
}

/** A dtype that the op does not accept, or two dtypes that do not mix. */
export class DTypeError extends RelulabError {
  override readonly code = 'RELULAB_DTYPE';
}

/** Misuse of autograd: backward on a non-scalar without a gradient, a freed graph, a saved tensor changed in place. */
export class GradError extends RelulabError {
  override readonly code = 'RELULAB_GRAD';
}

/** An argument with a value the op cannot use (an axis out of range, a negative size, NaN where a count is needed). */
export class ValueError extends RelulabError {
  override readonly code = 'RELULAB_VALUE';
}
