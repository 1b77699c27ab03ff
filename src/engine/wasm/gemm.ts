/**
 * The WebAssembly SIMD matrix product (gemm.as.ts, compiled at build time) and the threads that share it.
 *
 * Operands are copied into WebAssembly memory, multiplied there, and the product copied back: O(n²) copies
 * for O(n³) work. Large products are shared between the calling thread and worker threads (one per extra
 * core) that run the same module on one shared memory, taking blocks of C from a shared counter; each
 * element of C is computed by one thread in a fixed order, so results are bit-identical whatever the thread
 * count and whoever takes which block. Smaller products run on the calling thread, on a second instance
 * with a memory of its own (copies into shared memory are several times slower).
 *
 * `RELULAB_THREADS=n` caps the threads (1 disables the workers); `RELULAB_WASM=0` turns the kernels off.
 */
import { loadWasm, PAGE } from './load';
import { HelperThread, threadCount } from './threads';

/** Where a matrix lives: element (i, j) is data[offset + i·rowStride + j·colStride]. */
export interface StridedMatrix {
  data: Float32Array;
  offset: number;
  rowStride: number;
  colStride: number;
}

interface Exports {
  scratchBytes(): number;
  sgemmShared(a: number, ars: number, acs: number, b: number, brs: number, bcs: number, c: number, m: number, k: number, n: number, byRows: number, block: number, counter: number, scratch: number): void;
}

/** Below this many multiply-adds the JavaScript loop wins (no copies, no call). */
const WASM_MIN_WORK = 4096;
/** Below this many multiply-adds (n ≈ 80 for a square product) a product runs on the calling thread alone. */
const THREAD_MIN_WORK = 1 << 19;
interface Helper {
  thread: HelperThread;
  scratch: number;
}

class WasmGemm {
  private readonly memory: WebAssembly.Memory;
  private readonly kernel: Exports;
  private readonly scratchBytes: number;
  private readonly helpers: Helper[] = [];
  /** The block counter the threads share, after the scratch space of every thread; operands follow it. */
  private readonly counterAt: number;
  private readonly operandBase: number;

  constructor(module: WebAssembly.Module, threads: number, shared: boolean) {
    this.memory = new WebAssembly.Memory({ initial: 1, maximum: 65536, shared });
    this.kernel = new WebAssembly.Instance(module, { env: { memory: this.memory } }).exports as unknown as Exports;
    this.scratchBytes = align(this.kernel.scratchBytes());
    // the first page holds the module's own stack and data; thread t packs into scratch slot t
    this.counterAt = PAGE + threads * this.scratchBytes;
    this.operandBase = this.counterAt + 64;
    for (let t = 1; t < threads; t++) this.helpers.push({ thread: new HelperThread(this.memory, [{ module, names: ['sgemmShared'] }]), scratch: PAGE + t * this.scratchBytes });
  }

  /** out[outOffset ...] = A·B for an m×k A and a k×n B, C row-major. */
  multiply(a: StridedMatrix, b: StridedMatrix, m: number, k: number, n: number, out: Float32Array, outOffset: number): void {
    const aAt = this.operandBase;
    const bAt = aAt + align(m * k * 4);
    const cAt = bAt + align(k * n * 4);
    // small products read their operands in place, and an edge tile up to 3 rows of A and 7 columns of B
    // past the end: keep that much room after C
    this.reserve(cAt + m * n * 4 + (3 * k + 8) * 4);
    const heap = new Float32Array(this.memory.buffer);
    heap.set(a.data.subarray(a.offset, a.offset + m * k), aAt / 4);
    heap.set(b.data.subarray(b.offset, b.offset + k * n), bAt / 4);
    const ready = this.helpers.filter((h) => h.thread.ready);
    // blocks of rows of C when there are more rows than columns, else of columns: whole tiles, two
    // blocks per thread, so that a thread that falls behind takes fewer
    const byRows = m >= n;
    const extent = byRows ? m : n;
    const unit = byRows ? 4 : 8;
    const block = ready.length === 0 ? extent : Math.ceil(extent / unit / (2 * (ready.length + 1))) * unit;
    Atomics.store(new Int32Array(this.memory.buffer, this.counterAt, 1), 0, 0);
    const args = (scratch: number): Parameters<Exports['sgemmShared']> => [aAt, a.rowStride, a.colStride, bAt, b.rowStride, b.colStride, cAt, m, k, n, byRows ? 1 : 0, block, this.counterAt, scratch];
    for (const helper of ready) helper.thread.post(0, args(helper.scratch));
    this.kernel.sgemmShared(...args(PAGE));
    for (const helper of ready) helper.thread.join();
    out.set(new Float32Array(this.memory.buffer, cAt, m * n), outOffset);
  }

  /** Grows the shared memory to at least `bytes`. */
  private reserve(bytes: number): void {
    const have = this.memory.buffer.byteLength;
    if (bytes > have) this.memory.grow(Math.ceil((bytes - have) / PAGE));
  }
}

function align(bytes: number): number {
  return Math.ceil(bytes / 64) * 64;
}


/** Whether the module's multiply-add is fused on this CPU: (1 + 2⁻²³)·(1 − 2⁻²³) − 1 is −2⁻⁴⁶, not 0. */
function fuses(module: WebAssembly.Module): boolean {
  const memory = new WebAssembly.Memory({ initial: 1, maximum: 65536, shared: true });
  const { fusedProbe } = new WebAssembly.Instance(module, { env: { memory } }).exports as { fusedProbe(a: number, b: number, c: number): number };
  return fusedProbe(1 + 2 ** -23, 1 - 2 ** -23, -1) !== 0;
}

/** The kernel on a memory shared with the helper threads, and the same kernel on a memory of its own. */
interface Kernels {
  shared: WasmGemm;
  /** For products one thread runs: copies into an unshared memory are plain copies, 2–3× faster. */
  local: WasmGemm;
  threads: number;
}

let instance: Kernels | null | undefined;
let kind: 'fused multiply-add' | 'multiply and add' | undefined;

/**
 * The WebAssembly kernels, or null where they are turned off, not built, or WebAssembly SIMD is missing.
 * The fused builds are used where relaxed SIMD is available and the CPU fuses (`RELULAB_FMA=0` declines
 * them: a fused multiply-add rounds once, so products differ in the last bits from CPUs without one).
 * Both instances run the same build, so a product's bits do not depend on which one runs it.
 */
function wasmGemm(): Kernels | null {
  if (instance === undefined) {
    instance = null;
    try {
      const fma = process.env.RELULAB_FMA === '0' ? undefined : loadWasm('gemm-fma', { relaxedSimd: true });
      const fused = fma !== undefined && fuses(fma);
      const shared = fused ? fma : loadWasm('gemm');
      const local = loadWasm(fused ? 'gemm-local-fma' : 'gemm-local', { relaxedSimd: fused });
      if (shared !== undefined && local !== undefined) {
        const threads = threadCount();
        instance = { shared: new WasmGemm(shared, threads, true), local: new WasmGemm(local, 1, false), threads };
        kind = fused ? 'fused multiply-add' : 'multiply and add';
      }
    } catch {
      instance = null;
    }
  }
  return instance;
}

/** Whether the WebAssembly kernel takes an m×k by k×n product: it is available and the product big enough. */
export function sgemmAvailable(m: number, k: number, n: number): boolean {
  if (m * n * k < WASM_MIN_WORK) return false;
  // the operands and the product must fit the 4 GiB a 32-bit memory can address
  if ((m * k + k * n + m * n) * 4 > 2 ** 32 - 64 * 2 ** 20) return false;
  return wasmGemm() !== null;
}

/** out[outOffset ...] = A·B on the WebAssembly kernel (check sgemmAvailable first). Each operand must be a dense row- or column-major block. */
export function sgemm(a: StridedMatrix, b: StridedMatrix, m: number, k: number, n: number, out: Float32Array, outOffset: number): void {
  const kernels = wasmGemm() as Kernels;
  const alone = m * n * k < THREAD_MIN_WORK || kernels.threads === 1;
  (alone ? kernels.local : kernels.shared).multiply(a, b, m, k, n, out, outOffset);
}

/** Whether the WebAssembly kernel is in use. */
export function wasmGemmAvailable(): boolean {
  return wasmGemm() !== null;
}

/** Which build of the kernel runs, for diagnostics and the benchmarks; undefined when none does. */
export function wasmGemmKind(): typeof kind {
  wasmGemm();
  return kind;
}
