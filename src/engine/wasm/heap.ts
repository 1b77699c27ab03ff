/**
 * The tensor heap: one shared WebAssembly memory that holds the float32 storage of large tensors made inside
 * `tidy()`, so that the activation kernels (elementwise.as.ts) read and write it in place, with no copies in
 * and out, and a released buffer is handed to the next tensor of its size already paged in.
 *
 * The memory is shared so that growing it never detaches the views on it. Blocks are 64-byte aligned and
 * recycled by exact size (a loop asks for the same sizes again and again); the bump pointer only moves when
 * no free block fits. A block is freed by tidy() when its scope ends, by dispose(), or, once it has left
 * every scope, by the garbage collector through a finalizer on its array.
 */
import { loadWasm, PAGE } from './load';
import { HelperThread, threadCount } from './threads';
import type { Scope } from '../scope';

/** At most this many bytes of blocks are in use at once; past it, tensors get ordinary arrays. */
export const HEAP_CAP = 2 ** 30;
/** Byte 0 up to here is the kernels' own (their static data); tensors and scratch blocks follow. */
const BASE = PAGE;
/** A word in the kernels' page for the counter from which threads claim chunks of a job (one job runs at a time). */
export const COUNTER_AT = BASE - 64;
const ALIGN = 64;
/** The most any kernel reads past the end of an array: the matrix product's edge tiles, 2 rows of k ≤ 256 and 4 floats. */
const SLACK = 4096;

/** A run of heap bytes holding one array of `size` floats. */
export class Block {
  released = false;
  /** The tidy() scope that owns the block (scope.ts), or null once it has left every scope. */
  scope: Scope | null = null;
  /** Blocks are numbered in the order they are handed out (see nextSerial). */
  readonly serial = serials++;
  constructor(
    readonly at: number,
    readonly bytes: number,
    readonly size: number,
  ) {}
}

let serials = 0;

/** The serial number the next block will get. */
export function nextSerial(): number {
  return serials;
}

let memory: WebAssembly.Memory | null | undefined;
/** The memory's buffer, fetched again only after growing (the getter is not free). */
let buffer: SharedArrayBuffer;
let top = BASE;
let inUse = 0;
let peak = 0;
const free = new Map<number, number[]>();
/**
 * The blocks handed out and not yet freed, by byte offset. A plain map, not a WeakMap keyed by array: weak
 * tables made every young-generation collection walk all their entries (scavenges of 5–18 ms, most garbage
 * promoted), and a block's offset identifies it while it is live.
 */
const live = new Map<number, Block>();
/** Every buffer object the memory has had (a new one after each growth): views on any of them are on the heap. */
const buffers = new WeakSet<ArrayBufferLike>();
const finalizer = new FinalizationRegistry<Block>((block) => freeBlock(block));

/** The kernel modules that work on the heap, and the functions of each that helper threads run. */
const JOBS = {
  elementwise: ['shared', 'binaryShared', 'adamShared', 'sgdMomentumShared', 'rmspropShared'],
  conv: ['forwardShared', 'weightGrad', 'unfold', 'fold', 'swapLeading', 'maxPool', 'scatterAdd', 'unpool2x2'],
  gemm: ['sgemmShared'],
} as const;
export type HeapModuleName = keyof typeof JOBS;
/** The functions of module M that helper threads run. */
export type HeapJob<M extends HeapModuleName> = (typeof JOBS)[M][number];

/** A kernel module instantiated on the heap's memory. */
export interface HeapModule {
  module: WebAssembly.Module;
  exports: Record<string, (...args: number[]) => number>;
}
const instances = new Map<HeapModuleName, HeapModule | null>();

/** Module `name` (dist/wasm/<name>.wasm; for the matrix product, the build gemmBuild picks) on the heap's memory; null when unavailable. */
export function heapModule(name: HeapModuleName): HeapModule | null {
  let instance = instances.get(name);
  if (instance === undefined) {
    const mem = heapMemory();
    const module = name === 'gemm' ? gemmBuild()?.module : loadWasm(name);
    instance = module === undefined || mem === null ? null : { module, exports: instantiate(module, mem) };
    instances.set(name, instance);
  }
  return instance;
}

function instantiate(module: WebAssembly.Module, mem: WebAssembly.Memory): HeapModule['exports'] {
  return new WebAssembly.Instance(module, { env: { memory: mem } }).exports as HeapModule['exports'];
}

let gemm: { module: WebAssembly.Module; fused: boolean } | null | undefined;

/**
 * The matrix product's build: gemm-fma.wasm (fused multiply-adds, relaxed SIMD) where the CPU really fuses
 * them, else gemm.wasm; `RELULAB_FMA=0` declines the fused one (a fused multiply-add rounds once, so
 * products differ in the last bits from CPUs without one). Null when neither loads.
 */
export function gemmBuild(): { module: WebAssembly.Module; fused: boolean } | null {
  if (gemm === undefined) {
    const mem = heapMemory();
    const fma = process.env.RELULAB_FMA === '0' || mem === null ? undefined : loadWasm('gemm-fma', { relaxedSimd: true });
    // (1 + 2⁻²³)·(1 − 2⁻²³) − 1 is −2⁻⁴⁶ when fused, 0 when rounded between the multiply and the add
    const fused = fma !== undefined && instantiate(fma, mem!).fusedProbe(1 + 2 ** -23, 1 - 2 ** -23, -1) !== 0;
    const module = fused ? fma : loadWasm('gemm');
    gemm = module === undefined ? null : { module, fused };
  }
  return gemm;
}

let helpers: HelperThread[] | undefined;

/** The helper threads (one per extra core) that every kernel on the heap shares; none when a module is missing. */
export function heapHelpers(): HelperThread[] {
  if (helpers === undefined) {
    const names = Object.keys(JOBS) as HeapModuleName[];
    const modules = names.map((name) => heapModule(name));
    helpers = modules.some((m) => m === null)
      ? []
      : Array.from({ length: threadCount() - 1 }, () => new HelperThread(memory!, names.map((name, i) => ({ module: modules[i]!.module, names: JOBS[name] }))));
  }
  return helpers;
}

/** The numbers HelperThread.post takes, by "module.function": the jobs of JOBS in order. */
const JOB_NUMBERS = new Map(Object.entries(JOBS).flatMap(([module, fns]) => fns.map((fn) => `${module}.${fn}`)).map((key, i) => [key, i]));

/** The number HelperThread.post takes for function `fn` of module `name`. */
export function jobIndex<M extends HeapModuleName>(name: M, fn: HeapJob<M>): number {
  return JOB_NUMBERS.get(`${name}.${fn}`) ?? -1;
}

/** Sets every element of `array` to `value`: in WebAssembly for a heap array (a typed array's fill is several times slower on shared memory). */
export function fillFloats(array: Float32Array, value: number): void {
  const at = heapAddress(array);
  const m = at < 0 ? null : heapModule('elementwise');
  if (m === null) array.fill(value);
  else m.exports.fill(at, array.length, value);
}

/** The heap's memory, made on first use; null where shared WebAssembly memory is unavailable. */
export function heapMemory(): WebAssembly.Memory | null {
  if (memory === undefined) {
    try {
      memory = new WebAssembly.Memory({ initial: BASE / PAGE, maximum: 65536, shared: true });
      buffer = memory.buffer as unknown as SharedArrayBuffer;
      buffers.add(buffer);
    } catch {
      memory = null;
    }
  }
  return memory;
}

/**
 * A float32 array of `size` on the heap (zero-filled if `zero`), with its block; null when the heap is
 * unavailable or full. Tensors stop at HEAP_CAP; a kernel's scratch copies (freed at once) may go past it.
 */
export function heapFloat32(size: number, zero: boolean, scratch = false): [Float32Array, Block] | null {
  const mem = heapMemory();
  const bytes = Math.ceil((size * 4) / ALIGN) * ALIGN;
  if (mem === null || bytes === 0 || (!scratch && inUse + bytes > HEAP_CAP)) return null;
  let at = free.get(bytes)?.pop();
  if (at === undefined) {
    at = top;
    // keep SLACK bytes past the last block: kernels may read past an array's end (values they discard)
    const have = buffer.byteLength;
    if (at + bytes + SLACK > have) {
      try {
        mem.grow(Math.ceil((at + bytes + SLACK - have) / PAGE));
      } catch {
        return null; // past the 4 GiB a memory can address, or out of memory
      }
      buffer = mem.buffer as unknown as SharedArrayBuffer;
      buffers.add(buffer);
    }
    top += bytes;
  }
  inUse += bytes;
  peak = Math.max(peak, inUse);
  const array = new Float32Array(buffer, at, size);
  const block = new Block(at, bytes, size);
  live.set(at, block);
  if (zero) fillFloats(array, 0);
  return [array, block];
}

/** The heap block behind `array`, if it is one the heap handed out. */
export function blockOf(array: Float32Array): Block | undefined {
  const block = buffers.has(array.buffer) ? live.get(array.byteOffset) : undefined;
  return block !== undefined && block.size === array.length ? block : undefined;
}

/**
 * The byte offset of `array` in the heap memory, or −1 when it lives elsewhere. A view on part of a heap
 * array (a parameter's `subarray`) is on the heap too. (Tensors check that their block is still live when
 * their data is read, before any kernel sees it.)
 */
export function heapAddress(array: Float32Array | Float64Array | Int32Array): number {
  return buffers.has(array.buffer) ? array.byteOffset : -1;
}

/**
 * `bytes` of the heap set aside for good (a kernel's per-thread packing space): not a block, never freed,
 * not counted in use. Null when the heap cannot grow.
 */
export function heapReserve(bytes: number): number | null {
  const made = heapFloat32(Math.ceil(bytes / 4), false, true);
  if (made === null) return null;
  live.delete(made[1].at);
  inUse -= made[1].bytes;
  return made[1].at;
}

/** The counter at COUNTER_AT, as threads see it. */
export function heapCounter(): Int32Array {
  counter ??= new Int32Array(buffer, COUNTER_AT, 1);
  return counter;
}
let counter: Int32Array | undefined;

/** A view of `count` floats from heap byte `at` (for reading a kernel's scratch output). */
export function heapFloats(at: number, count: number): Float32Array {
  return new Float32Array(buffer, at, count);
}

/** Returns a block to the heap; later tensors of the same size reuse it. Idempotent. */
export function freeBlock(block: Block): void {
  if (block.released) return;
  block.released = true;
  live.delete(block.at);
  inUse -= block.bytes;
  const list = free.get(block.bytes);
  if (list === undefined) free.set(block.bytes, [block.at]);
  else list.push(block.at);
}

/**
 * A zeroed float64 array of `size` on the heap that lives as long as it is referenced, as an optimiser's
 * moments do (kernels then update them in place); null when the heap is unavailable or full.
 */
export function heapFloat64(size: number): Float64Array | null {
  const made = heapFloat32(2 * size, true);
  if (made === null) return null;
  const array = new Float64Array(made[0].buffer, made[1].at, size);
  collectWith(array, made[1]);
  return array;
}

/** Leaves `array`'s block to the garbage collector: freed once nothing references the array. */
export function collectWith(array: Float32Array | Float64Array, block: Block): void {
  finalizer.register(array, block, block);
}

/** Takes a block back from the garbage collector (it is being freed by hand). */
export function uncollect(block: Block): void {
  finalizer.unregister(block);
}

/** The heap's bytes: in use now, the most ever in use, and reserved (its memory's size). */
export function heapStats(): { inUse: number; peak: number; reserved: number } {
  return { inUse, peak, reserved: memory ? buffer.byteLength : 0 };
}
