// AssemblyScript, compiled by bench/peers/machine.ts when the bench runs: the loop that measures the
// multiply-add throughput this machine gives WebAssembly SIMD code, the "machine limit" of the bench table.

/** The four lanes of v summed: the result depends on every chain, so none is optimised away. */
// @ts-ignore: decorator
@inline
function lanes(v: v128): f32 {
  return f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) + f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3);
}

/** c + a·b: fused in the relaxed-SIMD build, a multiply and an add otherwise (as the matrix product's kernel). */
// @ts-ignore: decorator
@inline
function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(c, f32x4.mul(a, b));
}

/**
 * `steps` steps of 12 independent multiply-add chains on 4 lanes (96 flop per step): enough chains to cover
 * the latency of two FMA pipes, few enough to stay in the 15 vector registers V8 allocates on x64, so the
 * loop runs at the core's 128-bit multiply-add throughput.
 */
export function fmaChains(steps: i32, seed: f32): f32 {
  const m = f32x4.splat(0.9999999);
  const k = f32x4.splat(1e-7);
  let c0 = f32x4.splat(seed), c1 = f32x4.splat(seed + 1), c2 = f32x4.splat(seed + 2), c3 = f32x4.splat(seed + 3);
  let c4 = f32x4.splat(seed + 4), c5 = f32x4.splat(seed + 5), c6 = f32x4.splat(seed + 6), c7 = f32x4.splat(seed + 7);
  let c8 = f32x4.splat(seed + 8), c9 = f32x4.splat(seed + 9), c10 = f32x4.splat(seed + 10), c11 = f32x4.splat(seed + 11);
  for (let i = 0; i < steps; i++) {
    c0 = madd(c0, m, k); c1 = madd(c1, m, k); c2 = madd(c2, m, k); c3 = madd(c3, m, k);
    c4 = madd(c4, m, k); c5 = madd(c5, m, k); c6 = madd(c6, m, k); c7 = madd(c7, m, k);
    c8 = madd(c8, m, k); c9 = madd(c9, m, k); c10 = madd(c10, m, k); c11 = madd(c11, m, k);
  }
  return lanes(c0) + lanes(c1) + lanes(c2) + lanes(c3) + lanes(c4) + lanes(c5) + lanes(c6) + lanes(c7) + lanes(c8) + lanes(c9) + lanes(c10) + lanes(c11);
}
