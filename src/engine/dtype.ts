import { DTypeError } from './errors';
import { scopedFloat32 } from './scope';

export type DType = 'float32' | 'float64' | 'int32';
export type TypedArray = Float32Array | Float64Array | Int32Array;
export type FloatArray = Float32Array | Float64Array;

export const DTYPES: readonly DType[] = ['float32', 'float64', 'int32'];

/**
 * Arrays of 65 bytes to POOLED bytes are carved out of shared SLAB-byte ArrayBuffers, as Node's Buffer pool
 * does: a new ArrayBuffer costs a microsecond or more, a view on a slab a fraction of that, and small ops
 * are dominated by it. A slab lives while any array carved from it does; slabs start zeroed and their bytes
 * are never handed out twice. Smaller arrays live on V8's heap and larger ones get their own buffer.
 */
const SLAB = 65536;
const POOLED = 4096;
let slab = new ArrayBuffer(0);
let used = 0;

function carve(bytes: number): [ArrayBuffer, number] {
  const size = (bytes + 15) & ~15;
  if (used + size > slab.byteLength) {
    slab = new ArrayBuffer(SLAB);
    used = 0;
  }
  const at = used;
  used += size;
  return [slab, at];
}

/**
 * An array of `size` elements, zero-filled unless `zero` is false (for callers that write every element).
 * Inside tidy(), large float32 arrays come from the tensor heap.
 */
export function allocate(dtype: DType, size: number, zero = true): TypedArray {
  if (dtype === 'float32') {
    const scoped = scopedFloat32(size, zero);
    if (scoped !== null) return scoped;
  }
  const bytes = size * (dtype === 'float64' ? 8 : 4);
  if (bytes > 64 && bytes <= POOLED) {
    const [buffer, at] = carve(bytes);
    switch (dtype) {
      case 'float32':
        return new Float32Array(buffer, at, size);
      case 'float64':
        return new Float64Array(buffer, at, size);
      case 'int32':
        return new Int32Array(buffer, at, size);
    }
  }
  switch (dtype) {
    case 'float32':
      return new Float32Array(size);
    case 'float64':
      return new Float64Array(size);
    case 'int32':
      return new Int32Array(size);
  }
}

export function dtypeOf(data: TypedArray): DType {
  if (data instanceof Float64Array) return 'float64';
  if (data instanceof Int32Array) return 'int32';
  return 'float32';
}

export function checkDType(op: string, dtype: unknown): DType {
  if (dtype === 'float32' || dtype === 'float64' || dtype === 'int32') return dtype;
  throw new DTypeError(op, `unknown dtype ${JSON.stringify(dtype)}; expected one of ${DTYPES.join(', ')}`);
}

/** The dtype of an arithmetic result: float64 if any input is float64, else float32 if any is float32, else int32. */
export function promote(a: DType, b: DType): DType {
  if (a === 'float64' || b === 'float64') return 'float64';
  if (a === 'float32' || b === 'float32') return 'float32';
  return 'int32';
}

/** The dtype of a result that is always real-valued (exp, log, division, means): int32 becomes float32. */
export function floatResult(dtype: DType): 'float32' | 'float64' {
  return dtype === 'float64' ? 'float64' : 'float32';
}
