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
