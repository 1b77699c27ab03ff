/**
 * The float32 activation loops and the plain SGD update in WebAssembly SIMD (elementwise.as.ts), run on the
 * tensor heap (heap.ts). Arrays already there (tensors made inside `tidy()`) are read and written in place;
 * others are copied into a scratch block and back, which still beats V8's checks on every element of a
 * JavaScript loop for large arrays.
 */
import { loadWasm } from './load';
import { freeBlock, heapAddress, heapFloat32, heapMemory, type Block } from './heap';

/** Below this many elements the JavaScript loop wins (no copies, no call). */
export const WASM_MIN_ELEMENTS = 4096;

interface Exports {
  reluForward(x: number, y: number, n: number): void;
  reluBackward(x: number, g: number, out: number, n: number, gradAtZero: number): number;
  leakyForward(x: number, y: number, n: number, slope: number): void;
  leakyBackward(x: number, g: number, out: number, n: number, slope: number): number;
  sgdStep(p: number, g: number, out: number, n: number, lr: number): void;
}

let kernels: Exports | null | undefined;

function load(): Exports | null {
  const module = loadWasm('elementwise');
  const memory = heapMemory();
  if (module === undefined || memory === null) return null;
  return new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as Exports;
}

/**
 * Runs `call` with the heap byte offsets of `inputs` and of `out`, copying through scratch blocks any that
 * are not on the heap. Returns call's result, or undefined (having done nothing) when the kernels are
 * unavailable, the arrays are small, or the heap has no room for the scratch blocks.
 */
function run(inputs: readonly Float32Array[], out: Float32Array, call: (k: Exports, at: number[], n: number) => number | void): number | undefined {
  const n = out.length;
  if (n < WASM_MIN_ELEMENTS) return undefined;
  if (kernels === undefined) kernels = load();
  if (kernels === null) return undefined;
  const scratch: Block[] = [];
  try {
    const place = (array: Float32Array, copy: boolean): number => {
      const at = heapAddress(array);
      if (at >= 0) return at;
      const made = heapFloat32(n, false);
      if (made === null) return -1;
      if (copy) made[0].set(array);
      scratch.push(made[1]);
      return made[1].at;
    };
    const at = [...inputs.map((input) => place(input, true)), place(out, false)];
    if (at.includes(-1)) return undefined;
    const result = call(kernels, at, n);
    if (heapAddress(out) < 0) out.set(new Float32Array(heapMemory()!.buffer, at[at.length - 1], n));
    return result ?? 0;
  } finally {
    scratch.forEach(freeBlock);
  }
}

/** relu into `out`; false when the JavaScript loop should do it. */
export function reluForward(xs: Float32Array, out: Float32Array): boolean {
  return run([xs], out, (k, [x, y], n) => k.reluForward(x, y, n)) !== undefined;
}

/** g·relu'(x) into `out`, returning the kink hits, or undefined when the JavaScript loop should do it. */
export function reluBackward(g: Float32Array, xs: Float32Array, out: Float32Array, gradAtZero: number): number | undefined {
  if (Math.fround(gradAtZero) !== gradAtZero) return undefined;
  return run([xs, g], out, (k, [x, gr, o], n) => k.reluBackward(x, gr, o, n, gradAtZero));
}

export function leakyForward(xs: Float32Array, out: Float32Array, slope: number): boolean {
  return run([xs], out, (k, [x, y], n) => k.leakyForward(x, y, n, slope)) !== undefined;
}

export function leakyBackward(g: Float32Array, xs: Float32Array, out: Float32Array, slope: number): number | undefined {
  return run([xs, g], out, (k, [x, gr, o], n) => k.leakyBackward(x, gr, o, n, slope));
}

/** p −= lr·g in place; false when the JavaScript loop should do it. */
export function sgdStep(p: Float32Array, g: Float32Array, lr: number): boolean {
  return run([p, g], p, (k, [pa, ga, o], n) => k.sgdStep(pa, ga, o, n, lr)) !== undefined;
}
