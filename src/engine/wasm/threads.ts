/**
 * Helper threads for the WebAssembly kernels: each instantiates kernel modules on a shared memory and runs
 * the exported functions the calling thread posts to it, one job at a time, until the process ends. All
 * the kernels on one memory share one set of helpers, so that idle helpers spinning for the next job never
 * outnumber the cores.
 *
 * `RELULAB_THREADS=n` caps the threads (1 starts none).
 */
import os from 'node:os';
import { Worker } from 'node:worker_threads';

/** Control block: state (0 idle, 1 job posted), ready flag, the function's index and its i32 result. */
const STATE = 0;
const READY = 1;
const FN = 2;
const RESULT = 3;
/** Room for the arguments, as doubles after the control words. */
const MAX_ARGS = 20;
/** Polls of a control word before a thread sleeps on it (a few milliseconds). */
const SPIN = 2_000_000;

const workerSource = `
const { workerData } = require('node:worker_threads');
const { modules, memory, control } = workerData;
const ctrl = new Int32Array(control, 0, 4);
const args = new Float64Array(control, 16, ${MAX_ARGS});
const fns = modules.flatMap(({ module, names }) => {
  const exports = new WebAssembly.Instance(module, { env: { memory } }).exports;
  return names.map((name) => exports[name]);
});
Atomics.store(ctrl, ${READY}, 1);
for (;;) {
  // spin a little before sleeping: in training the next job follows within a millisecond, and waking a
  // sleeping thread costs tens to hundreds of microseconds
  for (let spin = 0; spin < ${SPIN} && Atomics.load(ctrl, ${STATE}) === 0; spin++);
  Atomics.wait(ctrl, ${STATE}, 0);
  const fn = fns[ctrl[${FN}]];
  // every argument slot passed as is (a function ignores those past its own): no array made per job
  ctrl[${RESULT}] = fn(${Array.from({ length: MAX_ARGS }, (_, i) => `args[${i}]`).join(', ')}) | 0;
  Atomics.store(ctrl, ${STATE}, 0);
  Atomics.notify(ctrl, ${STATE});
}
`;

/** How many threads the kernels may use: one per core, capped by RELULAB_THREADS. */
export function threadCount(): number {
  const cores = os.availableParallelism();
  const cap = Number(process.env.RELULAB_THREADS);
  return Number.isInteger(cap) && cap >= 1 ? Math.min(cap, cores) : cores;
}

/** Exported functions of a kernel module that helper threads may run. */
export interface Jobs {
  module: WebAssembly.Module;
  names: readonly string[];
}

/** One helper thread running the functions of `modules` on `memory`, numbered in that order. */
export class HelperThread {
  private readonly ctrl: Int32Array;
  private readonly args: Float64Array;

  constructor(memory: WebAssembly.Memory, modules: readonly Jobs[]) {
    const control = new SharedArrayBuffer(16 + MAX_ARGS * 8);
    this.ctrl = new Int32Array(control, 0, 4);
    this.args = new Float64Array(control, 16, MAX_ARGS);
    const worker = new Worker(workerSource, { eval: true, workerData: { modules, memory, control } });
    worker.unref();
    // a helper that fails to start simply never becomes ready, and its share is done on the calling thread
    worker.on('error', () => undefined);
  }

  get ready(): boolean {
    return Atomics.load(this.ctrl, READY) === 1;
  }

  /** Starts function number `fn` on the thread with `args`. */
  post(fn: number, args: readonly number[]): void {
    this.ctrl[FN] = fn;
    this.args.set(args);
    Atomics.store(this.ctrl, STATE, 1);
    Atomics.notify(this.ctrl, STATE);
  }

  /** Waits for the posted job to finish and returns its result. */
  join(): number {
    for (let spin = 0; spin < SPIN && Atomics.load(this.ctrl, STATE) !== 0; spin++);
    while (Atomics.load(this.ctrl, STATE) !== 0) Atomics.wait(this.ctrl, STATE, 1);
    return this.ctrl[RESULT];
  }
}
