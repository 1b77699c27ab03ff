import { allocate, promote } from '../dtype';
import { ShapeError, ValueError } from '../errors';
import { registerOp } from '../registry';
import { checkShape, contiguousStrides, formatShape, normalizeAxis, sameShape, sizeOf, type Shape } from '../shape';
import { fromOp, gatherStrided, record, Tensor } from '../tensor';

/** A view of `x` with new geometry over the same storage; gradients flow through `backward`. */
function view(op: string, x: Tensor, shape: Shape, strides: readonly number[], offset: number, backward: (g: Tensor) => Tensor): Tensor {
  return record(new Tensor(x.storage, shape, strides, offset), op, [x], (g) => [backward(g)]);
}

/** A contiguous copy of `x`, or `x` itself when it is already contiguous. */
export function contiguous(x: Tensor): Tensor {
  if (x.isContiguous()) return x;
  const out = allocate(x.dtype, x.size, false);
  gatherStrided(x, out);
  return fromOp('contiguous', out, x.shape, [x], (g) => [g]);
}
registerOp('contiguous', [{ shapes: [[3, 4]], call: (x) => contiguous(transpose(x, 0, 1)) }]);

/** Same values in a new shape; one dimension may be -1. A view when `x` is contiguous, otherwise a copy. */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const op = 'reshape';
  const inferred = shape.indexOf(-1);
  if (inferred !== shape.lastIndexOf(-1)) throw new ValueError(op, `only one dimension can be -1, got ${formatShape(shape)}`);
  let target = [...shape];
  if (inferred >= 0) {
    const known = sizeOf(shape.filter((_, i) => i !== inferred));
    if (known === 0 || x.size % known !== 0) {
      throw new ShapeError(op, [x.shape, shape], `cannot reshape ${formatShape(x.shape)} (${x.size} elements) into ${formatShape(shape)}`);
    }
    target[inferred] = x.size / known;
  }
  target = checkShape(op, target);
  if (sizeOf(target) !== x.size) {
    throw new ShapeError(op, [x.shape, target], `cannot reshape ${formatShape(x.shape)} (${x.size} elements) into ${formatShape(target)} (${sizeOf(target)} elements)`);
  }
  if (sameShape(target, x.shape)) return x;
  const source = contiguous(x);
  return view(op, source, target, contiguousStrides(target), source.offset, (g) => reshape(g, x.shape));
}
registerOp('reshape', [{ shapes: [[3, 4]], call: (x) => reshape(x, [2, -1, 3]), secondOrder: true }]);

export function flatten(x: Tensor, startDim = 0, endDim = -1): Tensor {
  if (x.ndim === 0) return reshape(x, [1]);
  const s = normalizeAxis('flatten', startDim, x.ndim);
  const e = normalizeAxis('flatten', endDim, x.ndim);
  if (s > e) throw new ValueError('flatten', `startDim ${startDim} comes after endDim ${endDim}`);
  return reshape(x, [...x.shape.slice(0, s), sizeOf(x.shape.slice(s, e + 1)), ...x.shape.slice(e + 1)]);
}

/** Reorders the dimensions (a view). */
export function permute(x: Tensor, dims: readonly number[]): Tensor {
  const op = 'permute';
  if (dims.length !== x.ndim) throw new ValueError(op, `got ${dims.length} dims [${dims.join(', ')}] for a tensor of shape ${formatShape(x.shape)}`);
  const axes = dims.map((d) => normalizeAxis(op, d, x.ndim));
  if (new Set(axes).size !== axes.length) throw new ValueError(op, `repeated dimension in [${dims.join(', ')}]`);
  const inverse = new Array<number>(axes.length);
  axes.forEach((a, i) => (inverse[a] = i));
  return view(
    op,
    x,
    axes.map((a) => x.shape[a]),
    axes.map((a) => x.strides[a]),
    x.offset,
    (g) => permute(g, inverse),
  );
}
registerOp('permute', [
  { shapes: [[2, 3, 4]], call: (x) => permute(x, [2, 0, 1]), secondOrder: true },
  { label: 'transpose of the outer dimensions', shapes: [[2, 3, 4]], call: (x) => transpose(x, -1, 0), secondOrder: true },
]);

/** Swaps two dimensions (a view): permute with those two exchanged, made directly (it is on every linear layer's path). */
export function transpose(x: Tensor, dim0 = -2, dim1 = -1): Tensor {
  if (x.ndim < 2) return x;
  const a = normalizeAxis('transpose', dim0, x.ndim);
  const b = normalizeAxis('transpose', dim1, x.ndim);
  const shape = [...x.shape];
  const strides = [...x.strides];
  shape[a] = x.shape[b];
  shape[b] = x.shape[a];
  strides[a] = x.strides[b];
  strides[b] = x.strides[a];
  return view('permute', x, shape, strides, x.offset, (g) => transpose(g, a, b));
}

/** Broadcasts to a larger shape without copying (stride 0); -1 keeps a dimension. */
export function expand(x: Tensor, shape: readonly number[]): Tensor {
  const op = 'expand';
  if (shape.length < x.ndim) throw new ShapeError(op, [x.shape, shape], `cannot expand ${formatShape(x.shape)} to fewer dimensions ${formatShape(shape)}`);
  const lead = shape.length - x.ndim;
  const strides: number[] = [];
  const target: number[] = [];
  for (let d = 0; d < shape.length; d++) {
    const size = shape[d] === -1 && d >= lead ? x.shape[d - lead] : shape[d];
    if (d < lead) {
      strides.push(0);
    } else {
      const own = x.shape[d - lead];
      if (own !== size && own !== 1) {
        throw new ShapeError(op, [x.shape, shape], `cannot expand ${formatShape(x.shape)} to ${formatShape(shape)} (dim ${d}: ${own} vs ${size})`);
      }
      strides.push(own === size ? x.strides[d - lead] : 0);
    }
    target.push(size);
  }
  if (sameShape(target, x.shape)) return x;
  // the engine sums the gradient back over the expanded dimensions
  return view(op, x, checkShape(op, target), strides, x.offset, (g) => g);
}
registerOp('expand', [{ shapes: [[3, 1]], call: (x) => expand(x, [2, 3, 4]), secondOrder: true }]);

/** Removes size-1 dimensions (all of them, or the given one). */
export function squeeze(x: Tensor, axis?: number): Tensor {
  if (axis === undefined) return reshape(x, x.shape.filter((d) => d !== 1));
  const a = normalizeAxis('squeeze', axis, x.ndim);
  if (x.shape[a] !== 1) return x;
  return reshape(x, x.shape.filter((_, i) => i !== a));
}

/** Inserts a size-1 dimension at `axis` (negative counts from the end of the result). */
export function unsqueeze(x: Tensor, axis: number): Tensor {
  const a = normalizeAxis('unsqueeze', axis, x.ndim + 1);
  return reshape(x, [...x.shape.slice(0, a), 1, ...x.shape.slice(a)]);
}

/**
 * One entry of `slice`: a number picks one index and drops the dimension; `[start, end, step]` (each
 * optional, negatives count from the end) keeps a range; `null` keeps the whole dimension.
 */
export type SliceSpec = number | null | readonly [number?, number?, number?];

interface Geometry {
  shape: number[];
  strides: number[];
  offset: number;
}

function sliceGeometry(x: Tensor, specs: readonly SliceSpec[]): Geometry {
  const op = 'slice';
  if (specs.length > x.ndim) throw new ValueError(op, `${specs.length} indices for a tensor of shape ${formatShape(x.shape)}`);
  const shape: number[] = [];
  const strides: number[] = [];
  let offset = x.offset;
  x.shape.forEach((n, d) => {
    const spec = d < specs.length ? specs[d] : null;
    if (spec === null) {
      shape.push(n);
      strides.push(x.strides[d]);
    } else if (typeof spec === 'number') {
      if (!Number.isInteger(spec) || spec < -n || spec >= n) throw new ValueError(op, `index ${spec} is out of range for dim ${d} of size ${n}`);
      offset += (spec < 0 ? spec + n : spec) * x.strides[d];
    } else {
      const step = spec[2] ?? 1;
      if (!Number.isInteger(step) || step <= 0) throw new ValueError(op, `step must be a positive integer, got ${step} for dim ${d}`);
      const clampIndex = (v: number | undefined, fallback: number): number => {
        if (v === undefined) return fallback;
        const i = v < 0 ? v + n : v;
        return Math.min(Math.max(i, 0), n);
      };
      const start = clampIndex(spec[0], 0);
      const end = clampIndex(spec[1], n);
      const size = end > start ? Math.ceil((end - start) / step) : 0;
      shape.push(size);
      strides.push(x.strides[d] * step);
      offset += start * x.strides[d];
    }
  });
  return { shape, strides, offset };
}

/** Slicing and indexing as a view: `x.slice(0, [1, 3], null)` is NumPy's `x[0, 1:3, :]`. */
export function slice(x: Tensor, ...specs: SliceSpec[]): Tensor {
  const g = sliceGeometry(x, specs);
  return view('slice', x, g.shape, g.strides, g.offset, (grad) => unslice(grad, x.shape, specs));
}
registerOp('slice', [{ shapes: [[4, 5]], call: (x) => slice(x, [1, 4], [0, 5, 2]), secondOrder: true }]);

/** The gradient of `slice`: `g` written into zeros of `shape` at the sliced positions. */
function unslice(g: Tensor, shape: Shape, specs: readonly SliceSpec[]): Tensor {
  const out = allocate(g.dtype, sizeOf(shape));
  const target = Tensor.fromData(out, shape);
  const geometry = sliceGeometry(target, specs);
  scatterInto(out, geometry, g.dataSync());
  return fromOp('unslice', out, shape, [g], (gg) => [slice(gg, ...specs)]);
}
registerOp('unslice', [{ shapes: [[3, 2]], call: (x) => unslice(x, [4, 5], [[1, 4], [0, 5, 3]]) }]);

/** Adds `values` (row-major over geometry.shape) into `out` at the strided positions. */
function scatterInto(out: { [i: number]: number }, geometry: Geometry, values: ArrayLike<number>): void {
  const { shape, strides } = geometry;
  const index = new Array<number>(shape.length).fill(0);
  for (let k = 0; k < values.length; k++) {
    let p = geometry.offset;
    for (let d = 0; d < shape.length; d++) p += index[d] * strides[d];
    out[p] += values[k];
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++index[d] < shape[d]) break;
      index[d] = 0;
    }
  }
}

/** Joins tensors along an existing axis. */
export function concat(tensors: readonly Tensor[], axis = 0): Tensor {
  const op = 'concat';
  if (tensors.length === 0) throw new ValueError(op, 'needs at least one tensor');
  const first = tensors[0];
  const a = normalizeAxis(op, axis, first.ndim);
  for (const t of tensors) {
    if (t.ndim !== first.ndim || t.shape.some((n, d) => d !== a && n !== first.shape[d])) {
      throw new ShapeError(op, tensors.map((x) => x.shape), `shapes ${tensors.map((x) => formatShape(x.shape)).join(', ')} differ outside axis ${a}`);
    }
  }
  const shape = [...first.shape];
  shape[a] = tensors.reduce((s, t) => s + t.shape[a], 0);
  const dtype = tensors.reduce((d, t) => promote(d, t.dtype), first.dtype);
  const out = allocate(dtype, sizeOf(shape));
  const outer = sizeOf(shape.slice(0, a));
  const innerOut = sizeOf(shape.slice(a));
  let start = 0;
  for (const t of tensors) {
    const src = t.dataSync();
    const block = sizeOf(t.shape.slice(a));
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < block; i++) out[o * innerOut + start + i] = src[o * block + i];
    }
    start += block;
  }
  return fromOp(op, out, shape, tensors, (g) => {
    let at = 0;
    return tensors.map((t) => {
      const spec: SliceSpec[] = g.shape.map(() => null);
      spec[a] = [at, at + t.shape[a]];
      at += t.shape[a];
      return slice(g, ...spec);
    });
  });
}
registerOp('concat', [{ shapes: [[2, 3], [2, 1]], call: (a, b) => concat([a, b], 1), secondOrder: true }]);

/** Joins tensors of one shape along a new axis. */
export function stack(tensors: readonly Tensor[], axis = 0): Tensor {
  if (tensors.length === 0) throw new ValueError('stack', 'needs at least one tensor');
  const shapes = tensors.map((t) => t.shape);
  if (shapes.some((s) => !sameShape(s, shapes[0]))) {
    throw new ShapeError('stack', shapes, `all tensors must have one shape, got ${shapes.map(formatShape).join(', ')}`);
  }
  const a = normalizeAxis('stack', axis, tensors[0].ndim + 1);
  return concat(tensors.map((t) => unsqueeze(t, a)), a);
}

/** Splits along `axis` into pieces of the given sizes, or into `sections` equal pieces. */
export function split(x: Tensor, sizes: number | readonly number[], axis = 0): Tensor[] {
  const op = 'split';
  const a = normalizeAxis(op, axis, x.ndim);
  const n = x.shape[a];
  let parts: number[];
  if (typeof sizes === 'number') {
    if (!Number.isInteger(sizes) || sizes <= 0 || n % sizes !== 0) throw new ValueError(op, `cannot split dim ${a} of size ${n} into ${sizes} equal parts`);
    parts = new Array<number>(sizes).fill(n / sizes);
  } else {
    parts = [...sizes];
    if (parts.reduce((s, p) => s + p, 0) !== n) throw new ValueError(op, `sizes [${parts.join(', ')}] do not add up to ${n}, the size of dim ${a}`);
  }
  let at = 0;
  return parts.map((p) => {
    const spec: SliceSpec[] = x.shape.map(() => null);
    spec[a] = [at, at + p];
    at += p;
    return slice(x, ...spec);
  });
}

/** Integer indices from a tensor or array, checked against `bound`. */
function indexValues(op: string, index: Tensor, bound: number): Int32Array {
  const data = index.dataSync();
  const out = new Int32Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (!Number.isInteger(v) || v < -bound || v >= bound) throw new ValueError(op, `index ${v} is out of range for a dimension of size ${bound}`);
    out[i] = v < 0 ? v + bound : v;
  }
  return out;
}

/** Positions of `index`'s elements in x and out for gather/scatter along `axis`. */
function gatherPositions(op: string, shape: Shape, axis: number, index: Tensor): { source: Int32Array } {
  if (index.ndim !== shape.length) throw new ShapeError(op, [shape, index.shape], `index ${formatShape(index.shape)} must have the rank of ${formatShape(shape)}`);
  index.shape.forEach((n, d) => {
    if (d !== axis && n > shape[d]) throw new ShapeError(op, [shape, index.shape], `index ${formatShape(index.shape)} is larger than ${formatShape(shape)} at dim ${d}`);
  });
  const idx = indexValues(op, index, shape[axis]);
  const strides = contiguousStrides(shape);
  const pos = new Array<number>(index.ndim).fill(0);
  const source = new Int32Array(idx.length);
  for (let k = 0; k < idx.length; k++) {
    let p = 0;
    for (let d = 0; d < index.ndim; d++) p += (d === axis ? idx[k] : pos[d]) * strides[d];
    source[k] = p;
    for (let d = index.ndim - 1; d >= 0; d--) {
      if (++pos[d] < index.shape[d]) break;
      pos[d] = 0;
    }
  }
  return { source };
}

/** `out[i][j] = x[i][index[i][j]]` for axis 1, as `torch.gather`. */
export function gather(x: Tensor, axis: number, index: Tensor): Tensor {
  const op = 'gather';
  const a = normalizeAxis(op, axis, x.ndim);
  const { source } = gatherPositions(op, x.shape, a, index);
  const src = x.dataSync();
  const out = allocate(x.dtype, source.length);
  for (let k = 0; k < source.length; k++) out[k] = src[source[k]];
  return fromOp(op, out, index.shape, [x], (g) => [scatterAdd(g, x.shape, a, index)]);
}
registerOp('gather', [{ shapes: [[3, 4]], call: (x) => gather(x, 1, Tensor.fromData(new Int32Array([0, 3, 1, 1, 2, 0]), [3, 2])), secondOrder: true }]);

/** Zeros of `shape` with `values` added at the positions `index` names along `axis` (gather's adjoint). */
export function scatterAdd(values: Tensor, shape: Shape, axis: number, index: Tensor): Tensor {
  const op = 'scatterAdd';
  const a = normalizeAxis(op, axis, shape.length);
  const { source } = gatherPositions(op, shape, a, index);
  if (!sameShape(values.shape, index.shape)) throw new ShapeError(op, [values.shape, index.shape], `values ${formatShape(values.shape)} and index ${formatShape(index.shape)} differ`);
  const v = values.dataSync();
  const out = allocate(values.dtype, sizeOf(shape));
  for (let k = 0; k < source.length; k++) out[source[k]] += v[k];
  return fromOp(op, out, shape, [values], (g) => [gather(g, a, index)]);
}
registerOp('scatterAdd', [{ shapes: [[3, 2]], call: (v) => scatterAdd(v, [3, 4], 1, Tensor.fromData(new Int32Array([0, 3, 1, 1, 2, 0]), [3, 2])) }]);
