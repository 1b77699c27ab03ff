/**
 * The float32 activation loops and the plain SGD update in WebAssembly SIMD (elementwise.as.ts), run on the
 * tensor heap (heap.ts). Arrays already there (tensors made inside `tidy()`) are read and written in place;
 * others are copied into a scratch block and back, which still beats V8's checks on every element of a
 * JavaScript loop for large arrays. Large arrays are split between the calling thread and helper threads
 * (one per extra core): each element is computed alone, so the bits do not depend on the split.
 */
import { loadWasm } from './load';
import { freeBlock, heapAddress, heapFloat32, heapMemory, type Block } from './heap';
import { HelperThread, threadCount } from './threads';

/** Below this many elements the JavaScript loop wins (no copies, no call). */
export const WASM_MIN_ELEMENTS = 4096;
/** From this many elements the helper threads take a share (a share then outlasts waking a thread). */
const THREAD_MIN_ELEMENTS = 1 << 18;

/** The kernels: pointers to the inputs and the output, the element count, and a scalar parameter. */
const NAMES = ['reluForward', 'reluBackward', 'leakyForward', 'leakyBackward', 'sgdStep'] as const;
type Name = (typeof NAMES)[number];
type Kernel = (...args: number[]) => number | undefined;

interface Kernels {
  exports: Record<Name, Kernel>;
  helpers: HelperThread[];
}

let kernels: Kernels | null | undefined;

function load(): Kernels | null {
  const module = loadWasm('elementwise');
  const memory = heapMemory();
  if (module === undefined || memory === null) return null;
  const exports = new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as Record<Name, Kernel>;
  const helpers = Array.from({ length: threadCount() - 1 }, () => new HelperThread(module, memory, NAMES));
  return { exports, helpers };
}

/**
 * Runs kernel `name` over `inputs` into `out` (with `scalar` last when the kernel takes one), copying
 * through scratch blocks any array that is not on the heap. Returns the kernel's count (kink hits), or
 * undefined (having done nothing) when the kernels are unavailable, the arrays are small, or the heap has
 * no room for the scratch blocks.
 */
function run(name: Name, inputs: readonly Float32Array[], out: Float32Array, scalar?: number): number | undefined {
  const n = out.length;
  if (n < WASM_MIN_ELEMENTS) return undefined;
  if (kernels === undefined) kernels = load();
  if (kernels === null) return undefined;
  const scratch: Block[] = [];
  try {
    const place = (array: Float32Array, copy: boolean): number => {
      const at = heapAddress(array);
      if (at >= 0) return at;
      const made = heapFloat32(n, false, true);
      if (made === null) return -1;
      if (copy) made[0].set(array);
      scratch.push(made[1]);
      return made[1].at;
    };
    const at = [...inputs.map((input) => place(input, true)), place(out, false)];
    if (at.includes(-1)) return undefined;
    const tail = scalar === undefined ? [] : [scalar];
    const helpers = n < THREAD_MIN_ELEMENTS ? [] : kernels.helpers.filter((h) => h.ready);
    // whole 64-byte lines per share; the calling thread takes the first
    const share = Math.ceil(n / (helpers.length + 1) / 16) * 16;
    helpers.forEach((helper, i) => {
      const from = (i + 1) * share;
      helper.post(NAMES.indexOf(name), [...at.map((a) => a + from * 4), Math.max(0, Math.min(share, n - from)), ...tail]);
    });
    let result = kernels.exports[name](...at, Math.min(share, n), ...tail) ?? 0;
    for (const helper of helpers) result += helper.join();
    if (heapAddress(out) < 0) out.set(new Float32Array(heapMemory()!.buffer, at[at.length - 1], n));
    return result;
  } finally {
    scratch.forEach(freeBlock);
  }
}

/** How many helper threads are ready to take a share of large arrays (loading the kernels if need be). */
export function elementwiseHelpersReady(): number {
  if (kernels === undefined) kernels = load();
  return kernels === null ? 0 : kernels.helpers.filter((h) => h.ready).length;
}

/** relu into `out`; false when the JavaScript loop should do it. */
export function reluForward(xs: Float32Array, out: Float32Array): boolean {
  return run('reluForward', [xs], out) !== undefined;
}

/** g·relu'(x) into `out`, returning the kink hits, or undefined when the JavaScript loop should do it. */
export function reluBackward(g: Float32Array, xs: Float32Array, out: Float32Array, gradAtZero: number): number | undefined {
  if (Math.fround(gradAtZero) !== gradAtZero) return undefined;
  return run('reluBackward', [xs, g], out, gradAtZero);
}

export function leakyForward(xs: Float32Array, out: Float32Array, slope: number): boolean {
  return run('leakyForward', [xs], out, slope) !== undefined;
}

export function leakyBackward(g: Float32Array, xs: Float32Array, out: Float32Array, slope: number): number | undefined {
  return run('leakyBackward', [xs, g], out, slope);
}

/** p −= lr·g in place; false when the JavaScript loop should do it. */
export function sgdStep(p: Float32Array, g: Float32Array, lr: number): boolean {
  return run('sgdStep', [p, g], p, lr) !== undefined;
}
