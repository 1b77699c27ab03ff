import fs from 'node:fs';
import path from 'node:path';
import v8 from 'node:v8';

/** One WebAssembly page, the unit memories grow by. */
export const PAGE = 65536;

/**
 * A compiled kernel module, dist/wasm/<name>.wasm, found from dist/src/engine/wasm or from src/engine/wasm;
 * undefined when it was not built or `RELULAB_WASM=0` turns the kernels off (leaving the JavaScript loops).
 */
export function loadWasm(name: string, { relaxedSimd = false } = {}): WebAssembly.Module | undefined {
  if (process.env.RELULAB_WASM === '0') return undefined;
  for (const file of [path.join(__dirname, '..', '..', '..', 'wasm', `${name}.wasm`), path.join(__dirname, '..', '..', '..', 'dist', 'wasm', `${name}.wasm`)]) {
    if (!fs.existsSync(file)) continue;
    const bytes = fs.readFileSync(file);
    // compile straight to optimised code: the baseline tier runs SIMD loops several times slower, and a
    // kernel's first calls would otherwise run on it
    v8.setFlagsFromString('--no-liftoff');
    try {
      return new WebAssembly.Module(bytes);
    } catch {
      // Node 20's V8 ships relaxed SIMD behind a flag; later versions have it on
      if (!relaxedSimd) return undefined;
      v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
      try {
        return new WebAssembly.Module(bytes);
      } catch {
        return undefined;
      }
    } finally {
      v8.setFlagsFromString('--liftoff');
    }
  }
  return undefined;
}

/** An instance of a kernel module that owns its memory (single-threaded), and that memory as floats. */
export class OwnMemory<Exports> {
  readonly kernels: Exports;
  private readonly memory: WebAssembly.Memory;

  constructor(module: WebAssembly.Module) {
    const exports = new WebAssembly.Instance(module).exports as unknown as Exports & { memory: WebAssembly.Memory };
    this.kernels = exports;
    this.memory = exports.memory;
  }

  /** The memory as floats, grown first to at least `bytes`; null when that is beyond what 32 bits address. */
  heap(bytes: number): Float32Array | null {
    if (bytes > 2 ** 32) return null;
    const have = this.memory.buffer.byteLength;
    if (bytes > have) this.memory.grow(Math.ceil((bytes - have) / PAGE));
    return new Float32Array(this.memory.buffer);
  }
}

/** The module `name` instantiated on its own memory, or null when it is unavailable (see loadWasm). */
export function ownMemory<Exports>(name: string): OwnMemory<Exports> | null {
  const module = loadWasm(name);
  return module === undefined ? null : new OwnMemory<Exports>(module);
}
