import { allocate, promote, type DType, type TypedArray } from '../dtype';
import { broadcastStrides, perDType } from './kernels';
import { sgemm, sgemmAvailable, type StridedMatrix } from '../wasm/gemm';
import * as wasm from '../wasm/elementwise';
import { ShapeError } from '../errors';
import { registerOp } from '../registry';
import { broadcastShapes, formatShape, sizeOf, type Shape } from '../shape';
import { fromOp, Tensor } from '../tensor';
import { cast } from './elementwise';
import { sum } from './reduce';
import { contiguous, expand, reshape, squeeze, transpose, unsqueeze } from './views';

/**
 * C[M×N] += A[M×K]·B[K×N] for row-major arrays at the given offsets. The loops run i-k-j so the innermost
 * loop walks contiguous rows of B and C; four rows of C are updated per pass so each load of B serves four
 * multiply-adds; and the loops are blocked over k (64) and j (256) so the 64×256 panel of B stays in L2.
 * Self-contained (constants inline) so that perDType can make one copy per dtype.
 */
function gemm(a: TypedArray, ao: number, b: TypedArray, bo: number, c: TypedArray, co: number, m: number, k: number, n: number): void {
  for (let k0 = 0; k0 < k; k0 += 64) {
    const k1 = Math.min(k0 + 64, k);
    for (let j0 = 0; j0 < n; j0 += 256) {
      const j1 = Math.min(j0 + 256, n);
      let i = 0;
      for (; i + 4 <= m; i += 4) {
        const c0 = co + i * n;
        const c1 = c0 + n;
        const c2 = c1 + n;
        const c3 = c2 + n;
        const a0 = ao + i * k;
        const a1 = a0 + k;
        const a2 = a1 + k;
        const a3 = a2 + k;
        for (let p = k0; p < k1; p++) {
          const x0 = a[a0 + p];
          const x1 = a[a1 + p];
          const x2 = a[a2 + p];
          const x3 = a[a3 + p];
          const br = bo + p * n;
          for (let j = j0; j < j1; j++) {
            const bj = b[br + j];
            c[c0 + j] += x0 * bj;
            c[c1 + j] += x1 * bj;
            c[c2 + j] += x2 * bj;
            c[c3 + j] += x3 * bj;
          }
        }
      }
      for (; i < m; i++) {
        const cr = co + i * n;
        const ar = ao + i * k;
        for (let p = k0; p < k1; p++) {
          const x = a[ar + p];
          const br = bo + p * n;
          for (let j = j0; j < j1; j++) c[cr + j] += x * b[br + j];
        }
      }
    }
  }
}

const gemmFor = perDType(gemm);

/**
 * The matrices of `x` over the broadcast batch as strided views of its storage, without copying when each
 * matrix is a dense row- or column-major block (a transpose is); otherwise of a contiguous copy.
 */
function stridedMatrices(x: Tensor, batch: Shape, rows: number, cols: number): StridedMatrix[] {
  const rs = x.strides[x.ndim - 2];
  const cs = x.strides[x.ndim - 1];
  const dense = (cs === 1 || cols === 1) && (rs === cols || rows === 1) ? [cols, 1] : (rs === 1 || rows === 1) && (cs === rows || cols === 1) ? [1, rows] : null;
  if (dense === null) return stridedMatrices(contiguous(x), batch, rows, cols);
  const data = x.storage.data as Float32Array;
  const strides = broadcastStrides(x, [...batch, rows, cols]).slice(0, batch.length);
  const out: StridedMatrix[] = [];
  const index = new Array<number>(batch.length).fill(0);
  for (let t = 0, total = sizeOf(batch); t < total; t++) {
    let offset = x.offset;
    for (let d = 0; d < batch.length; d++) offset += index[d] * strides[d];
    out.push({ data, offset, rowStride: dense[0], colStride: dense[1] });
    for (let d = batch.length - 1; d >= 0 && ++index[d] === batch[d]; d--) index[d] = 0;
  }
  return out;
}

/** A float32 product on the WebAssembly kernel (which sgemmAvailable must take), batch by batch, into all of `out`. */
function wasmProduct(a: Tensor, b: Tensor, batch: Shape, m: number, k: number, n: number, out: Float32Array): void {
  const as = stridedMatrices(a, batch, m, k);
  const bs = stridedMatrices(b, batch, k, n);
  for (let t = 0; t < as.length; t++) sgemm(as[t], bs[t], m, k, n, out, t * m * n);
}

/** Matrix product of the last two dimensions, broadcasting batch dimensions; 1-D operands as in NumPy. */
export function matmul(a: Tensor, b: Tensor): Tensor {
  const op = 'matmul';
  if (a.ndim === 0 || b.ndim === 0) {
    throw new ShapeError(op, [a.shape, b.shape], `both operands need at least one dimension, got ${formatShape(a.shape)} and ${formatShape(b.shape)}`);
  }
  if (a.ndim === 1) return squeeze(matmul(unsqueeze(a, 0), b), -2);
  if (b.ndim === 1) return squeeze(matmul(a, unsqueeze(b, 1)), -1);
  const m = a.shape[a.ndim - 2];
  const k = a.shape[a.ndim - 1];
  const k2 = b.shape[b.ndim - 2];
  const n = b.shape[b.ndim - 1];
  if (k !== k2) throw new ShapeError(op, [a.shape, b.shape], `shapes ${formatShape(a.shape)} and ${formatShape(b.shape)} are incompatible (${k} vs ${k2})`);
  const batch = broadcastShapes(op, a.shape.slice(0, -2), b.shape.slice(0, -2));
  const dtype = promote(a.dtype, b.dtype);
  const batches = sizeOf(batch);
  // the WebAssembly kernel writes every element; the JavaScript loop adds into zeros
  const onWasm = dtype === 'float32' && k > 0 && sgemmAvailable(m, k, n);
  const out = allocate(dtype, batches * m * n, !onWasm);
  if (onWasm) {
    // the kernel only reads the operands' storage: no detached views unless a cast is needed
    wasmProduct(a.dtype === dtype ? a : cast(a.detach(), dtype), b.dtype === dtype ? b : cast(b.detach(), dtype), batch, m, k, n, out as Float32Array);
  } else {
    // materialise both operands contiguously over the broadcast batch (a no-op for the common 2-D case)
    const ad = contiguous(cast(expand(a.detach(), [...batch, m, k]), dtype)).dataSync();
    const bd = contiguous(cast(expand(b.detach(), [...batch, k, n]), dtype)).dataSync();
    const kernel = gemmFor[dtype];
    for (let t = 0; t < batches; t++) kernel(ad, t * m * k, bd, t * k * n, out, t * m * n, m, k, n);
  }
  // an operand that needs no gradient (the data of a first layer) costs no product
  const backward = (g: Tensor) => [a.requiresGrad ? matmul(g, transpose(b)) : null, b.requiresGrad ? matmul(transpose(a), g) : null];
  return fromOp(op, out, [...batch, m, n], [a, b], backward, [a, b]);
}
registerOp('matmul', [
  { shapes: [[3, 4], [4, 2]], call: (a, b) => matmul(a, b), secondOrder: true },
  { label: 'batched with broadcast', shapes: [[2, 3, 4], [4, 5]], call: (a, b) => matmul(a, b) },
  { label: 'vector-matrix', shapes: [[4], [4, 3]], call: (a, b) => matmul(a, b) },
  { label: 'matrix-vector', shapes: [[3, 4], [4]], call: (a, b) => matmul(a, b) },
]);

/** Adds `row` to every `width`-long row of `data` in place. Self-contained for perDType. */
function addToRows(data: { [i: number]: number; length: number }, row: ArrayLike<number>, width: number): void {
  for (let r = 0; r < data.length; r += width) for (let j = 0; j < width; j++) data[r + j] += row[j];
}
const addToRowsFor = perDType(addToRows);

/**
 * The affine map `x·Wᵀ + b` over the last dimension, with PyTorch's weight layout `[out, in]`. One graph
 * node, as PyTorch's addmm: the product reads Wᵀ in place, the bias is added to the fresh product, and the
 * backward pass gives a contiguous weight gradient gᵀ·x directly.
 */
export function linear(x: Tensor, weight: Tensor, bias?: Tensor): Tensor {
  const op = 'linear';
  if (weight.ndim !== 2) throw new ShapeError(op, [weight.shape], `the weight must be [out, in], got ${formatShape(weight.shape)}`);
  const [outFeatures, inFeatures] = weight.shape;
  if (x.ndim === 0 || x.shape[x.ndim - 1] !== inFeatures) {
    throw new ShapeError(op, [x.shape, weight.shape], `input ${formatShape(x.shape)} has ${x.shape[x.ndim - 1] ?? 0} features but the weight ${formatShape(weight.shape)} expects ${inFeatures}`);
  }
  if (bias !== undefined && (bias.ndim !== 1 || bias.shape[0] !== outFeatures)) {
    throw new ShapeError(op, [weight.shape, bias.shape], `the bias must be [${outFeatures}] for the weight ${formatShape(weight.shape)}, got ${formatShape(bias.shape)}`);
  }
  const lead = x.shape.slice(0, -1);
  const x2 = reshape(x, [-1, inFeatures]);
  let product = matmul(x2.detach(), transpose(weight.detach()));
  if (bias !== undefined && promote(product.dtype, bias.dtype) !== product.dtype) product = cast(product, promote(product.dtype, bias.dtype));
  const data = product.storage.data;
  if (bias !== undefined) {
    const row = bias.dataSync();
    if (!(data instanceof Float32Array && row instanceof Float32Array && wasm.addRows(row, data))) addToRowsFor[product.dtype](data, row, outFeatures);
  }
  const inputs = bias === undefined ? [x2, weight] : [x2, weight, bias];
  const backward = (g: Tensor) => [
    x2.requiresGrad ? matmul(g, weight) : null,
    weight.requiresGrad ? matmul(transpose(g), x2) : null,
    bias?.requiresGrad ? sum(g, 0) : null,
  ];
  const y = fromOp(op, data, product.shape, inputs, backward, [x2, weight]);
  return reshape(y, [...lead, outFeatures]);
}
registerOp('linear', [
  { shapes: [[3, 4], [5, 4], [5]], call: (x, w, b) => linear(x, w, b), secondOrder: true },
  { label: 'no bias, 3-D input', shapes: [[2, 3, 4], [5, 4]], call: (x, w) => linear(x, w) },
]);
