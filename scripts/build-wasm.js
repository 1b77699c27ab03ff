// Compiles the AssemblyScript kernels in src/engine/wasm to dist/wasm (run by `npm run build`).
'use strict';
const { spawnSync } = require('node:child_process');
const path = require('node:path');

const root = path.join(__dirname, '..');
const asc = path.join(root, 'node_modules', 'assemblyscript', 'bin', 'asc.js');
const common = ['-O3', '--runtime', 'stub', '--noAssert', '--use', 'abort=', '--enable', 'simd', '--initialMemory', '1'];
// the matrix product shares one memory between threads; the activation loops and the convolution run on
// the tensor heap (a shared memory too, so that growing it keeps the views on it)
const shared = ['--enable', 'threads', '--importMemory', '--sharedMemory', '--maximumMemory', '65536'];
// the same product and activation loops on a memory of their own, for work one thread runs on arrays that
// are not on the heap (plain copies in and out)
const local = ['--enable', 'threads', '--importMemory', '--maximumMemory', '65536'];
const builds = [
  ['gemm.as.ts', 'gemm.wasm', shared],
  ['gemm.as.ts', 'gemm-fma.wasm', [...shared, '--enable', 'relaxed-simd']],
  ['gemm.as.ts', 'gemm-local.wasm', local],
  ['gemm.as.ts', 'gemm-local-fma.wasm', [...local, '--enable', 'relaxed-simd']],
  ['elementwise.as.ts', 'elementwise.wasm', shared],
  ['elementwise.as.ts', 'elementwise-local.wasm', local],
  ['conv.as.ts', 'conv.wasm', shared],
];
for (const [source, output, flags] of builds) {
  const args = [asc, path.join('src', 'engine', 'wasm', source), '-o', path.join('dist', 'wasm', output), ...common, ...flags];
  const run = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
  if (run.status !== 0) process.exit(run.status ?? 1);
}
