/**
 * The WebAssembly SIMD matrix product (gemm.as.ts, compiled at build time) and the threads that share it.
 *
 * The product runs on the tensor heap (heap.ts): operands already there (tensors made inside `tidy()`) are
 * read in place and the product is written straight into its result; others are copied in and out. Large
 * products are shared with the heap's helper threads (one per extra core), which claim rows or columns of C
 * from a counter; each element of C is computed by one thread in a fixed order, so results are
 * bit-identical whatever the thread count and whoever claims what. Products one thread runs on operands
 * that are not on the heap use a second instance of the same build on a memory of its own: copies into an
 * unshared memory are plain copies, 2–3× faster than into shared memory.
 *
 * `RELULAB_THREADS=n` caps the threads (1 disables the helpers); `RELULAB_WASM=0` turns the kernels off.
 */
import { COUNTER_AT, freeBlock, gemmBuild, heapAddress, heapCounter, heapFloat32, heapFloats, heapHelpers, heapModule, heapReserve, jobIndex, type Block } from './heap';
import { loadWasm, PAGE } from './load';

/** Where a matrix lives: element (i, j) is data[offset + i·rowStride + j·colStride]. */
export interface StridedMatrix {
  data: Float32Array;
  offset: number;
  rowStride: number;
  colStride: number;
}

interface Exports {
  /** The kernel's tile of C, MR×NR: claims of rows or columns come in whole tiles. */
  MR: WebAssembly.Global;
  NR: WebAssembly.Global;
  /** Rows of A the kernel packs per block (a block that stays in L2). */
  MC: WebAssembly.Global;
  scratchBytes(): number;
  /** (a, ars, acs, b, brs, bcs, c, m, k, n, byRows, least, parts, counter, scratch, packedB): see gemm.as.ts. */
  sgemmShared(...args: number[]): void;
}

/** Below this many multiply-adds the JavaScript loop wins (no copies, no call). */
const WASM_MIN_WORK = 4096;
/** Below this many multiply-adds (n = 64 for a square product) a product runs on the calling thread alone. */
const THREAD_MIN_WORK = 1 << 18;

/** The most floats of A that a product shared by columns of C reads in place for each claim. */
const A_IN_PLACE_MAX = 1 << 18;
/** The most floats of B that each thread of a product shared by rows of C packs whole, once (4 MB). */
const PACKED_B_MAX = 1 << 20;

/** The sgemmShared arguments that do not depend on the thread: operands, shape and how C is shared out. */
function blockArgs(kernel: Exports, aAt: number, a: StridedMatrix, bAt: number, b: StridedMatrix, cAt: number, m: number, k: number, n: number, threads: number): number[] {
  // Claims take a share of what is left, half a thread's share at first. A claim of columns of C reads all
  // of A in place and packs only its own columns of B, so columns are claimed down to two tiles' width and a
  // thread that falls behind holds the others up by little. A claim of rows packs all of B again, so rows
  // are claimed in blocks of the first size. C goes by columns unless it has more rows than columns, or A
  // is larger than 1 MB (read again by every claim of columns) while each thread can pack B whole once.
  // Where neither operand is small, columns win: a claim of rows would pack all of a B too large to keep
  // (64×7744 by 7744×289, a convolution's weight gradient: 28 → 38 GFLOP/s by columns; 16×65536 by
  // 65536×64: 15 → 31; in alternation).
  const byRows = sharedByRows(m, k, n);
  const extent = byRows ? m : n;
  const parts = 2 * threads;
  const mr = kernel.MR.value;
  const nr = kernel.NR.value;
  const least = threads === 1 ? extent : !byRows ? 2 * nr : packsB(byRows, k, n, threads) ? kernel.MC.value : Math.ceil(extent / mr / parts) * mr;
  return [aAt, a.rowStride, a.colStride, bAt, b.rowStride, b.colStride, cAt, m, k, n, byRows ? 1 : 0, least, parts];
}

/** Whether threads share an m×k by k×n product by rows of C (else by columns): see blockArgs. */
export function sharedByRows(m: number, k: number, n: number): boolean {
  return m > n || (m * k > A_IN_PLACE_MAX && k * n <= PACKED_B_MAX);
}

/**
 * Whether each thread packs all of B once (PACKED_B_MAX): then claims of rows cost no packing of B, and
 * are claimed down to the kernel's MC rows (a block of A that stays in L2), so that a thread the host slows
 * down holds the other up by little. Measured at n = 1024 in alternation with claims of a quarter of a
 * thread's share: 1–2 % slower on a quiet host, 12–17 % faster on a busy one (32 rows: +8 %, 128: +12 %).
 */
function packsB(byRows: boolean, k: number, n: number, threads: number): boolean {
  return byRows && threads > 1 && k * n <= PACKED_B_MAX;
}

/** Floats of packing space for all of B (gemm.as.ts packAllB: k × n, columns rounded up to whole panels). */
function packedBFloats(kernel: Exports, k: number, n: number): number {
  const nr = kernel.NR.value;
  return k * Math.ceil(n / nr) * nr;
}

/** Packing space on the heap for each thread (the calling thread's first), set aside once. */
const packingAt: number[] = [];
function packing(kernel: Exports, threads: number): number[] {
  while (packingAt.length < threads) {
    const at = heapReserve(kernel.scratchBytes());
    if (at === null) throw new RangeError('matmul: no memory for the packing space');
    packingAt.push(at);
  }
  return packingAt;
}

/** The product on the heap, shared with the helper threads when large. */
function heapMultiply(a: StridedMatrix, b: StridedMatrix, m: number, k: number, n: number, out: Float32Array, outOffset: number): void {
  const kernel = heapModule('gemm')!.exports as unknown as Exports;
  const helpers = m * n * k < THREAD_MIN_WORK ? [] : heapHelpers().filter((h) => h.ready);
  const blocks: Block[] = [];
  const region = (floats: number): number => {
    const made = heapFloat32(floats, false, true);
    if (made === null) throw new RangeError(`matmul: no memory for a ${m}×${k} by ${k}×${n} product`);
    blocks.push(made[1]);
    return made[1].at;
  };
  // an operand on the heap is read in place; another is copied in as the dense block it is
  const place = (x: StridedMatrix, size: number): number => {
    const at = heapAddress(x.data);
    if (at >= 0) return at + x.offset * 4;
    const copy = region(size);
    heapFloats(copy, size).set(x.data.subarray(x.offset, x.offset + size));
    return copy;
  };
  try {
    const outAt = heapAddress(out);
    const cAt = outAt >= 0 ? outAt + outOffset * 4 : region(m * n);
    const threads = helpers.length + 1;
    const args = blockArgs(kernel, place(a, m * k), a, place(b, k * n), b, cAt, m, k, n, threads);
    const scratch = packing(kernel, threads);
    const packedB = Array.from({ length: threads }, () => (packsB(args[10] === 1, k, n, threads) ? region(packedBFloats(kernel, k, n)) : 0));
    Atomics.store(heapCounter(), 0, 0);
    helpers.forEach((helper, i) => helper.post(jobIndex('gemm', 'sgemmShared'), [...args, COUNTER_AT, scratch[i + 1], packedB[i + 1]]));
    kernel.sgemmShared(...args, COUNTER_AT, scratch[0], packedB[0]);
    for (const helper of helpers) helper.join();
    if (outAt < 0) out.set(heapFloats(cAt, m * n), outOffset);
  } finally {
    blocks.forEach(freeBlock);
  }
}

/** The same build on a memory of its own, for single-threaded products of operands that are not on the heap. */
class LocalGemm {
  private readonly memory: WebAssembly.Memory;
  private readonly kernel: Exports;
  /** The packing space, then the block counter, then the operands. */
  private readonly counterAt: number;

  constructor(module: WebAssembly.Module) {
    this.memory = new WebAssembly.Memory({ initial: 1, maximum: 65536 });
    this.kernel = new WebAssembly.Instance(module, { env: { memory: this.memory } }).exports as unknown as Exports;
    this.counterAt = PAGE + align(this.kernel.scratchBytes());
  }

  /** out[outOffset ...] = A·B for an m×k A and a k×n B, C row-major. */
  multiply(a: StridedMatrix, b: StridedMatrix, m: number, k: number, n: number, out: Float32Array, outOffset: number): void {
    const aAt = this.counterAt + 64;
    const bAt = aAt + align(m * k * 4);
    const cAt = bAt + align(k * n * 4);
    // small products read their operands in place, and an edge tile up to 2 rows of A and 3 columns of B
    // past the end: keep that much room after C
    const end = cAt + m * n * 4 + (2 * k + 4) * 4;
    const have = this.memory.buffer.byteLength;
    if (end > have) this.memory.grow(Math.ceil((end - have) / PAGE));
    const heap = new Float32Array(this.memory.buffer);
    heap.set(a.data.subarray(a.offset, a.offset + m * k), aAt / 4);
    heap.set(b.data.subarray(b.offset, b.offset + k * n), bAt / 4);
    new Int32Array(this.memory.buffer, this.counterAt, 1)[0] = 0;
    this.kernel.sgemmShared(...blockArgs(this.kernel, aAt, a, bAt, b, cAt, m, k, n, 1), this.counterAt, PAGE, 0);
    out.set(new Float32Array(this.memory.buffer, cAt, m * n), outOffset);
  }
}

function align(bytes: number): number {
  return Math.ceil(bytes / 64) * 64;
}

let local: LocalGemm | null | undefined;

/** The single-threaded instance, of the build gemmBuild picked (so that its products have the same bits). */
function localGemm(): LocalGemm | null {
  if (local === undefined) {
    const build = gemmBuild();
    const module = build === null || heapModule('gemm') === null ? undefined : loadWasm(build.fused ? 'gemm-local-fma' : 'gemm-local', { relaxedSimd: build.fused });
    local = module === undefined ? null : new LocalGemm(module);
  }
  return local;
}

/** Whether the WebAssembly kernel takes an m×k by k×n product: it is available and the product big enough. */
export function sgemmAvailable(m: number, k: number, n: number): boolean {
  if (m * n * k < WASM_MIN_WORK) return false;
  // the operands and the product must fit the 4 GiB a 32-bit memory can address
  if ((m * k + k * n + m * n) * 4 > 2 ** 32 - 64 * 2 ** 20) return false;
  return localGemm() !== null;
}

/** out[outOffset ...] = A·B on the WebAssembly kernel (check sgemmAvailable first). Each operand must be a dense row- or column-major block. */
export function sgemm(a: StridedMatrix, b: StridedMatrix, m: number, k: number, n: number, out: Float32Array, outOffset: number): void {
  const alone = m * n * k < THREAD_MIN_WORK || heapHelpers().length === 0;
  const onHeap = heapAddress(a.data) >= 0 || heapAddress(b.data) >= 0 || heapAddress(out) >= 0;
  if (alone && !onHeap) localGemm()!.multiply(a, b, m, k, n, out, outOffset);
  else heapMultiply(a, b, m, k, n, out, outOffset);
}

/** Whether the WebAssembly kernel is in use. */
export function wasmGemmAvailable(): boolean {
  return localGemm() !== null;
}

/** Which build of the kernel runs, for diagnostics and the benchmarks; undefined when none does. */
export function wasmGemmKind(): 'fused multiply-add' | 'multiply and add' | undefined {
  const build = localGemm() === null ? null : gemmBuild();
  return build === null ? undefined : build.fused ? 'fused multiply-add' : 'multiply and add';
}
