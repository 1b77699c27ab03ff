/**
 * The float32 activation loops and the plain SGD update in WebAssembly SIMD (elementwise.as.ts). V8 re-checks a typed array on
 * every element of a JavaScript loop, so large arrays go faster copied into the module's own memory,
 * run four lanes at a time, and copied back.
 */
import { ownMemory, PAGE, type OwnMemory } from './load';

/** Below this many elements the JavaScript loop wins (no copies, no call). */
export const WASM_MIN_ELEMENTS = 4096;

interface Exports {
  reluForward(x: number, y: number, n: number): void;
  reluBackward(x: number, g: number, out: number, n: number, gradAtZero: number): number;
  leakyForward(x: number, y: number, n: number, slope: number): void;
  leakyBackward(x: number, g: number, out: number, n: number, slope: number): number;
  sgdStep(p: number, g: number, out: number, n: number, lr: number): void;
}

let loaded: OwnMemory<Exports> | null | undefined;

/**
 * Copies `inputs` into the module's memory (each padded to whole lanes, from byte PAGE on), runs `call`
 * with their byte offsets and that of the output, and copies the output into `out`. Returns call's result,
 * or undefined (having done nothing) when the kernels are unavailable or the arrays are small.
 */
function run(inputs: readonly Float32Array[], out: Float32Array, call: (k: Exports, at: number[], n: number) => number | void): number | undefined {
  const n = out.length;
  if (n < WASM_MIN_ELEMENTS) return undefined;
  if (loaded === undefined) loaded = ownMemory<Exports>('elementwise');
  if (loaded === null) return undefined;
  const stride = Math.ceil(n / 16) * 64;
  const at = Array.from({ length: inputs.length + 1 }, (_, i) => PAGE + i * stride);
  const heap = loaded.heap(PAGE + (inputs.length + 1) * stride);
  if (heap === null) return undefined;
  inputs.forEach((input, i) => heap.set(input, at[i] / 4));
  // padding lanes read 1: no kink hits, no NaN
  for (const a of at) heap.fill(1, a / 4 + n, a / 4 + Math.ceil(n / 4) * 4);
  const result = call(loaded.kernels, at, Math.ceil(n / 4) * 4);
  out.set(heap.subarray(at[inputs.length] / 4, at[inputs.length] / 4 + n));
  return result ?? 0;
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
