// AssemblyScript, compiled to WebAssembly SIMD at build time (scripts/build-wasm.js).
//
// Float32 loops of the hottest activations and binary ops, four lanes at a time, each equal element for
// element to the scalar definitions in ops/ (signed zeros and NaN included), and sums in double precision.
// Arrays are byte offsets into the tensor heap (wasm/heap.ts), which the module imports; the last n % 4
// elements run one at a time.

/**
 * relu: max(x, 0), which maps −0 to +0 and keeps NaN. Four lanes as pmax(x, 0) + 0, two instructions where
 * f32x4.max takes eight: pmax (x < 0 ? 0 : x) keeps NaN and −0, and adding +0 turns −0 into +0.
 */
export function reluForward(x: usize, y: usize, n: i32): void {
  const zero = f32x4.splat(0);
  // four vectors a step, at constant offsets from two pointers: a loop's upkeep (address arithmetic, the
  // count and the branch) costs as many instructions as the work of one vector, and in this host's busy
  // minutes the instruction count sets the pace (1.5× at 10⁶ floats, in cache, one thread)
  const end = x + (<usize>(n & ~15) << 2);
  for (let xs = x, ys = y; xs < end; xs += 64, ys += 64) {
    v128.store(ys, f32x4.add(f32x4.pmax(v128.load(xs), zero), zero));
    v128.store(ys, f32x4.add(f32x4.pmax(v128.load(xs, 16), zero), zero), 16);
    v128.store(ys, f32x4.add(f32x4.pmax(v128.load(xs, 32), zero), zero), 32);
    v128.store(ys, f32x4.add(f32x4.pmax(v128.load(xs, 48), zero), zero), 48);
  }
  let i = n & ~15;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(y + o, f32x4.add(f32x4.pmax(v128.load(x + o), zero), zero));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(y + o, max<f32>(load<f32>(x + o), 0));
  }
}

/**
 * relu' lane by lane, from the lanes of x below 0 (`below`) and equal to ±0 (`isZero`): atZero at ±0, 0
 * below, 1 above and for NaN (the lanes in neither).
 */
// @ts-ignore: decorator
@inline
function reluSlope(below: v128, isZero: v128, atZero: v128): v128 {
  return v128.bitselect(atZero, v128.andnot(f32x4.splat(1), below), isZero);
}

/** relu'(v) for one float (see reluSlope). */
// @ts-ignore: decorator
@inline
function reluSlope1(v: f32, gradAtZero: f32): f32 {
  return v == 0 ? gradAtZero : v > 0 || v != v ? 1 : 0;
}

/** relu'(v) lane by lane for reluGrad: with zeroAtZero, 0 wherever v ≤ 0 in one compare. */
// @ts-ignore: decorator
@inline
function reluSlopeOf(v: v128, zero: v128, atZero: v128, zeroAtZero: bool): v128 {
  return zeroAtZero ? v128.andnot(f32x4.splat(1), f32x4.le(v, zero)) : reluSlope(f32x4.lt(v, zero), f32x4.eq(v, zero), atZero);
}

/**
 * g·relu'(x) into out, with g the floats at `g` or, when `broadcast`, the one float `gs` everywhere; returns
 * how many x were exactly 0. With `zeroAtZero` (gradAtZero +0, the default) the slope is 0 wherever x ≤ 0,
 * one compare and no select: three instructions fewer for the same bits. Inlined into the kernels below,
 * each with its flags fixed.
 */
// @ts-ignore: decorator
@inline
function reluGrad(x: usize, g: usize, out: usize, n: i32, gradAtZero: f32, broadcast: bool, gs: f32, zeroAtZero: bool): i32 {
  const zero = f32x4.splat(0);
  const atZero = f32x4.splat(gradAtZero);
  const gv = f32x4.splat(gs);
  let hits = i32x4.splat(0);
  // four vectors a step (see reluForward)
  const end = x + (<usize>(n & ~15) << 2);
  for (let xs = x, gp = g, os = out; xs < end; xs += 64, gp += 64, os += 64) {
    let v = v128.load(xs);
    v128.store(os, f32x4.mul(broadcast ? gv : v128.load(gp), reluSlopeOf(v, zero, atZero, zeroAtZero)));
    hits = i32x4.sub(hits, f32x4.eq(v, zero));
    v = v128.load(xs, 16);
    v128.store(os, f32x4.mul(broadcast ? gv : v128.load(gp, 16), reluSlopeOf(v, zero, atZero, zeroAtZero)), 16);
    hits = i32x4.sub(hits, f32x4.eq(v, zero));
    v = v128.load(xs, 32);
    v128.store(os, f32x4.mul(broadcast ? gv : v128.load(gp, 32), reluSlopeOf(v, zero, atZero, zeroAtZero)), 32);
    hits = i32x4.sub(hits, f32x4.eq(v, zero));
    v = v128.load(xs, 48);
    v128.store(os, f32x4.mul(broadcast ? gv : v128.load(gp, 48), reluSlopeOf(v, zero, atZero, zeroAtZero)), 48);
    hits = i32x4.sub(hits, f32x4.eq(v, zero));
  }
  let i = n & ~15;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    const v = v128.load(x + o);
    v128.store(out + o, f32x4.mul(broadcast ? gv : v128.load(g + o), reluSlopeOf(v, zero, atZero, zeroAtZero)));
    hits = i32x4.sub(hits, f32x4.eq(v, zero));
  }
  let tail = 0;
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const v = load<f32>(x + o);
    store<f32>(out + o, (broadcast ? gs : load<f32>(g + o)) * reluSlope1(v, gradAtZero));
    if (v == 0) tail++;
  }
  return tail + i32x4.extract_lane(hits, 0) + i32x4.extract_lane(hits, 1) + i32x4.extract_lane(hits, 2) + i32x4.extract_lane(hits, 3);
}

/**
 * g·relu'(x): 1 above 0 and for NaN, gradAtZero at ±0, 0 below. gradAtZero must be exact in f32 (the caller
 * checks), so that the f32 product equals JavaScript's. Returns how many x were exactly 0.
 */
export function reluBackward(x: usize, g: usize, out: usize, n: i32, gradAtZero: f32): i32 {
  if (reinterpret<i32>(gradAtZero) == 0) return reluGrad(x, g, out, n, gradAtZero, false, 0, true);
  return reluGrad(x, g, out, n, gradAtZero, false, 0, false);
}

/** reluBackward for a gradient that is the same float g everywhere (the gradient of a sum or a mean). */
export function reluBackwardScalar(x: usize, out: usize, n: i32, gradAtZero: f32, g: f32): i32 {
  if (reinterpret<i32>(gradAtZero) == 0) return reluGrad(x, 0, out, n, gradAtZero, true, g, true);
  return reluGrad(x, 0, out, n, gradAtZero, true, g, false);
}

/**
 * The relu mask: which elements of x are below 0, all relu's backward needs of an x without zeros, in one
 * bit per element instead of 32. Elements go in groups of 128, 16 bytes each: bit j of lane l is element
 * 4j + l of the group (so that element i's bit is at byte offset (i >> 7) << 4, lane i & 3, bit (i >> 2) & 31).
 */
export function reluForwardMasked(x: usize, mask: usize, y: usize, n: i32): i32 {
  const zero = f32x4.splat(0);
  let zeros = i32x4.splat(0);
  let tailZeros = 0;
  for (let i = 0; i < n; i += 128) {
    const vectors = min(32, (n - i) >> 2);
    let bits = i32x4.splat(0);
    // bit j of every lane, doubled from one vector to the next (cheaper than a shift by j)
    let bit = i32x4.splat(1);
    for (let j = 0; j < vectors; j++) {
      const o = <usize>(i + 4 * j) << 2;
      const v = v128.load(x + o);
      v128.store(y + o, f32x4.add(f32x4.pmax(v, zero), zero));
      bits = v128.or(bits, v128.and(f32x4.lt(v, zero), bit));
      zeros = i32x4.sub(zeros, f32x4.eq(v, zero));
      bit = i32x4.add(bit, bit);
    }
    const at = mask + (<usize>i >> 3);
    v128.store(at, bits);
    // fewer than 4 elements past the last whole vector
    for (let l = 0, e = i + 4 * vectors; vectors < 32 && e + l < n; l++) {
      const o = <usize>(e + l) << 2;
      const v = load<f32>(x + o);
      store<f32>(y + o, max<f32>(v, 0));
      if (v < 0) store<u32>(at + (<usize>l << 2), load<u32>(at + (<usize>l << 2)) | (1 << vectors));
      if (v == 0) tailZeros++;
    }
  }
  return tailZeros + i32x4.extract_lane(zeros, 0) + i32x4.extract_lane(zeros, 1) + i32x4.extract_lane(zeros, 2) + i32x4.extract_lane(zeros, 3);
}

/**
 * g·relu'(x) into out from the relu mask of an x without zeros (reluForwardMasked), g as in reluGrad: 1 for
 * the elements not below 0 (above 0 or NaN), 0 below, as reluGrad, so the same bits.
 */
// @ts-ignore: decorator
@inline
function reluGradMasked(mask: usize, g: usize, out: usize, n: i32, broadcast: bool, gs: f32): void {
  const one = f32x4.splat(1);
  const gv = f32x4.splat(gs);
  for (let i = 0; i < n; i += 128) {
    const vectors = min(32, (n - i) >> 2);
    const at = mask + (<usize>i >> 3);
    const bits = v128.load(at);
    let bit = i32x4.splat(1);
    for (let j = 0; j < vectors; j++) {
      const o = <usize>(i + 4 * j) << 2;
      const below = i32x4.eq(v128.and(bits, bit), bit);
      v128.store(out + o, f32x4.mul(broadcast ? gv : v128.load(g + o), v128.andnot(one, below)));
      bit = i32x4.add(bit, bit);
    }
    for (let l = 0, e = i + 4 * vectors; vectors < 32 && e + l < n; l++) {
      const o = <usize>(e + l) << 2;
      const below = (load<u32>(at + (<usize>l << 2)) >> vectors) & 1;
      store<f32>(out + o, (broadcast ? gs : load<f32>(g + o)) * (below ? 0 : 1));
    }
  }
}

/** reluBackward from the relu mask of an x without zeros instead of x. */
export function reluBackwardMasked(mask: usize, g: usize, out: usize, n: i32): i32 {
  reluGradMasked(mask, g, out, n, false, 0);
  return 0;
}

/** reluBackwardScalar from the relu mask of an x without zeros instead of x. */
export function reluBackwardMaskedScalar(mask: usize, out: usize, n: i32, g: f32): i32 {
  reluGradMasked(mask, 0, out, n, true, g);
  return 0;
}

/** Lanes 0 and 1 of four floats, widened to doubles. */
// @ts-ignore: decorator
@inline
function lowPair(v: v128): v128 {
  return f64x2.promote_low_f32x4(v);
}

/** Lanes 2 and 3 of four floats, widened to doubles. */
// @ts-ignore: decorator
@inline
function highPair(v: v128): v128 {
  return f64x2.promote_low_f32x4(v128.shuffle<u32>(v, v, 2, 3, 0, 1));
}

/** Four floats from two pairs of doubles, each rounded once to f32 (as JavaScript stores a number into a Float32Array). */
// @ts-ignore: decorator
@inline
function narrow(lo: v128, hi: v128): v128 {
  return v128.shuffle<u32>(f32x4.demote_f64x2_zero(lo), f32x4.demote_f64x2_zero(hi), 0, 1, 4, 5);
}

/**
 * a·s for f32 lanes a and a double s, rounded once to f32: what JavaScript computes when it multiplies a
 * Float32Array element by a number and stores the product back.
 */
// @ts-ignore: decorator
@inline
function scale(a: v128, s: v128): v128 {
  const lo = f64x2.mul(lowPair(a), s);
  const hi = f64x2.mul(highPair(a), s);
  return narrow(lo, hi);
}

/** leaky relu: x above 0, slope·x otherwise (NaN included). */
export function leakyForward(x: usize, y: usize, n: i32, slope: f64): void {
  const zero = f32x4.splat(0);
  const s = f64x2.splat(slope);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    const v = v128.load(x + o);
    v128.store(y + o, v128.bitselect(v, scale(v, s), f32x4.gt(v, zero)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const v = load<f32>(x + o);
    store<f32>(y + o, v > 0 ? v : <f32>(<f64>v * slope));
  }
}

/** g·leaky'(x): g above 0, slope·g otherwise. Returns how many x were exactly 0. */
export function leakyBackward(x: usize, g: usize, out: usize, n: i32, slope: f64): i32 {
  const zero = f32x4.splat(0);
  const s = f64x2.splat(slope);
  let hits = i32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    const v = v128.load(x + o);
    const gv = v128.load(g + o);
    v128.store(out + o, v128.bitselect(gv, scale(gv, s), f32x4.gt(v, zero)));
    hits = i32x4.sub(hits, f32x4.eq(v, zero));
  }
  let tail = 0;
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const v = load<f32>(x + o);
    const gv = load<f32>(g + o);
    store<f32>(out + o, v > 0 ? gv : <f32>(<f64>gv * slope));
    if (v == 0) tail++;
  }
  return tail + i32x4.extract_lane(hits, 0) + i32x4.extract_lane(hits, 1) + i32x4.extract_lane(hits, 2) + i32x4.extract_lane(hits, 3);
}

/** p − lr·g in double precision, rounded once to f32: JavaScript's `p[i] -= lr * g[i]` on a Float32Array. */
export function sgdStep(p: usize, g: usize, out: usize, n: i32, lr: f64): void {
  const rate = f64x2.splat(lr);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    const pv = v128.load(p + o);
    const gv = v128.load(g + o);
    const lo = f64x2.sub(lowPair(pv), f64x2.mul(rate, lowPair(gv)));
    const hi = f64x2.sub(highPair(pv), f64x2.mul(rate, highPair(gv)));
    v128.store(out + o, narrow(lo, hi));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(out + o, <f32>(<f64>load<f32>(p + o) - lr * <f64>load<f32>(g + o)));
  }
}

/**
 * Two lanes of an Adam step (see adamStep): p and g as doubles, m and v the moments; returns the new p
 * (a double, rounded to f32 by the caller) and updates the moments at mp and vp.
 */
// @ts-ignore: decorator
@inline
function adamLanes(p: v128, g: v128, mp: usize, vp: usize, b1: v128, c1: v128, b2: v128, c2: v128, stepSize: v128, sqrtC2: v128, eps: v128, weightDecay: v128, decay: v128, decoupled: bool): v128 {
  // AdamW decays p first, and JavaScript rounds it to f32 as it stores it
  if (decoupled) p = f64x2.promote_low_f32x4(f32x4.demote_f64x2_zero(f64x2.mul(p, decay)));
  const d = decoupled ? g : f64x2.add(g, f64x2.mul(weightDecay, p));
  const m = f64x2.add(f64x2.mul(b1, v128.load(mp)), f64x2.mul(c1, d));
  const v = f64x2.add(f64x2.mul(b2, v128.load(vp)), f64x2.mul(f64x2.mul(c2, d), d));
  v128.store(mp, m);
  v128.store(vp, v);
  return f64x2.sub(p, f64x2.mul(stepSize, f64x2.div(m, f64x2.add(f64x2.div(f64x2.sqrt(v), sqrtC2), eps))));
}

/** adamStep's loop, inlined once with `decoupled` true and once false. */
// @ts-ignore: decorator
@inline
function adamLoop(p: usize, g: usize, m: usize, v: usize, n: i32, b1: f64, b2: f64, stepSize: f64, sqrtC2: f64, eps: f64, weightDecay: f64, decay: f64, decoupled: bool): void {
  const B1 = f64x2.splat(b1);
  const C1 = f64x2.splat(1 - b1);
  const B2 = f64x2.splat(b2);
  const C2 = f64x2.splat(1 - b2);
  const S = f64x2.splat(stepSize);
  const Q = f64x2.splat(sqrtC2);
  const E = f64x2.splat(eps);
  const W = f64x2.splat(weightDecay);
  const D = f64x2.splat(decay);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    const q = <usize>i << 3;
    const pv = v128.load(p + o);
    const gv = v128.load(g + o);
    const lo = adamLanes(lowPair(pv), lowPair(gv), m + q, v + q, B1, C1, B2, C2, S, Q, E, W, D, decoupled);
    const hi = adamLanes(highPair(pv), highPair(gv), m + q + 16, v + q + 16, B1, C1, B2, C2, S, Q, E, W, D, decoupled);
    v128.store(p + o, narrow(lo, hi));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const q = <usize>i << 3;
    let pi = <f64>load<f32>(p + o);
    if (decoupled) pi = <f64><f32>(pi * decay);
    const gi = <f64>load<f32>(g + o);
    const d = decoupled ? gi : gi + weightDecay * pi;
    const mi = b1 * load<f64>(m + q) + (1 - b1) * d;
    const vi = b2 * load<f64>(v + q) + (1 - b2) * d * d;
    store<f64>(m + q, mi);
    store<f64>(v + q, vi);
    store<f32>(p + o, <f32>(pi - stepSize * (mi / (Math.sqrt(vi) / sqrtC2 + eps))));
  }
}

/**
 * One Adam step (AdamW when `decoupled`) over n f32 parameters p with f32 gradients g and f64 moments m
 * and v, in double precision in the order of operations of adamLoop in optim/optimizers.ts, each stored
 * value rounded as JavaScript rounds it: that loop's bits. decay = 1 − lr·weightDecay.
 */
export function adamStep(p: usize, g: usize, m: usize, v: usize, n: i32, b1: f64, b2: f64, stepSize: f64, sqrtC2: f64, eps: f64, weightDecay: f64, decay: f64, decoupled: bool): void {
  if (decoupled) adamLoop(p, g, m, v, n, b1, b2, stepSize, sqrtC2, eps, weightDecay, decay, true);
  else adamLoop(p, g, m, v, n, b1, b2, stepSize, sqrtC2, eps, weightDecay, decay, false);
}

/**
 * adamStep shared between the threads that call this: each claims `chunk` parameters at a time from the
 * counter at `counter` until all n are done. Each parameter is updated alone: the bits do not depend on who
 * runs which chunk.
 */
export function adamShared(p: usize, g: usize, m: usize, v: usize, n: i32, b1: f64, b2: f64, stepSize: f64, sqrtC2: f64, eps: f64, weightDecay: f64, decay: f64, decoupled: bool, counter: usize, chunk: i32): void {
  for (let start = atomic.add<i32>(counter, chunk); start < n; start = atomic.add<i32>(counter, chunk)) {
    const o = <usize>start << 2;
    const q = <usize>start << 3;
    adamStep(p + o, g + o, m + q, v + q, min(chunk, n - start), b1, b2, stepSize, sqrtC2, eps, weightDecay, decay, decoupled);
  }
}

/**
 * Two lanes of an SGD step with momentum (see sgdMomentumStep): p and g as doubles; updates the momentum
 * buffer at bp and returns the new p (a double, rounded to f32 by the caller).
 */
// @ts-ignore: decorator
@inline
function sgdLanes(p: v128, g: v128, bp: usize, lr: v128, momentum: v128, keep: v128, weightDecay: v128, useMomentum: bool, nesterov: bool, first: bool): v128 {
  let d = f64x2.add(g, f64x2.mul(weightDecay, p));
  if (useMomentum) {
    const buf = first ? d : f64x2.add(f64x2.mul(momentum, v128.load(bp)), f64x2.mul(keep, d));
    v128.store(bp, buf);
    d = nesterov ? f64x2.add(d, f64x2.mul(momentum, buf)) : buf;
  }
  return f64x2.sub(p, f64x2.mul(lr, d));
}

/** sgdMomentumStep's loop, inlined for each setting of its flags. */
// @ts-ignore: decorator
@inline
function sgdLoop(p: usize, g: usize, buf: usize, n: i32, lr: f64, momentum: f64, dampening: f64, weightDecay: f64, useMomentum: bool, nesterov: bool, first: bool): void {
  const LR = f64x2.splat(lr);
  const M = f64x2.splat(momentum);
  const K = f64x2.splat(1 - dampening);
  const W = f64x2.splat(weightDecay);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    const q = <usize>i << 3;
    const pv = v128.load(p + o);
    const gv = v128.load(g + o);
    const lo = sgdLanes(lowPair(pv), lowPair(gv), buf + q, LR, M, K, W, useMomentum, nesterov, first);
    const hi = sgdLanes(highPair(pv), highPair(gv), buf + q + 16, LR, M, K, W, useMomentum, nesterov, first);
    v128.store(p + o, narrow(lo, hi));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const q = <usize>i << 3;
    const pi = <f64>load<f32>(p + o);
    let d = <f64>load<f32>(g + o) + weightDecay * pi;
    if (useMomentum) {
      const b = first ? d : momentum * load<f64>(buf + q) + (1 - dampening) * d;
      store<f64>(buf + q, b);
      d = nesterov ? d + momentum * b : b;
    }
    store<f32>(p + o, <f32>(pi - lr * d));
  }
}

/**
 * One SGD step with weight decay and momentum (PyTorch's: the buffer starts at the first gradient,
 * dampening, Nesterov) over n f32 parameters p with f32 gradients g and an f64 momentum buffer, in double
 * precision in the order of operations of sgdLoop in optim/optimizers.ts: that loop's bits. Momentum 0
 * leaves the buffer alone.
 */
export function sgdMomentumStep(p: usize, g: usize, buf: usize, n: i32, lr: f64, momentum: f64, dampening: f64, weightDecay: f64, nesterov: bool, first: bool): void {
  if (momentum == 0) sgdLoop(p, g, buf, n, lr, momentum, dampening, weightDecay, false, false, false);
  else if (first) sgdLoop(p, g, buf, n, lr, momentum, dampening, weightDecay, true, nesterov, true);
  else if (nesterov) sgdLoop(p, g, buf, n, lr, momentum, dampening, weightDecay, true, true, false);
  else sgdLoop(p, g, buf, n, lr, momentum, dampening, weightDecay, true, false, false);
}

/** sgdMomentumStep shared between threads, `chunk` parameters per claim (see adamShared). */
export function sgdMomentumShared(p: usize, g: usize, buf: usize, n: i32, lr: f64, momentum: f64, dampening: f64, weightDecay: f64, nesterov: bool, first: bool, counter: usize, chunk: i32): void {
  for (let start = atomic.add<i32>(counter, chunk); start < n; start = atomic.add<i32>(counter, chunk)) {
    const o = <usize>start << 2;
    sgdMomentumStep(p + o, g + o, buf + (<usize>start << 3), min(chunk, n - start), lr, momentum, dampening, weightDecay, nesterov, first);
  }
}

/**
 * Two lanes of an RMSprop step (see rmspropStep): p and g as doubles; updates the mean square at vp (and,
 * with momentum, the buffer at bp) and returns the new p (a double, rounded to f32 by the caller).
 */
// @ts-ignore: decorator
@inline
function rmspropLanes(p: v128, g: v128, vp: usize, bp: usize, lr: v128, alpha: v128, keep: v128, eps: v128, momentum: v128, weightDecay: v128, useMomentum: bool): v128 {
  const d = f64x2.add(g, f64x2.mul(weightDecay, p));
  const v = f64x2.add(f64x2.mul(alpha, v128.load(vp)), f64x2.mul(f64x2.mul(keep, d), d));
  v128.store(vp, v);
  let step = f64x2.div(d, f64x2.add(f64x2.sqrt(v), eps));
  if (useMomentum) {
    step = f64x2.add(f64x2.mul(momentum, v128.load(bp)), step);
    v128.store(bp, step);
  }
  return f64x2.sub(p, f64x2.mul(lr, step));
}

/** rmspropStep's loop, inlined with and without momentum. */
// @ts-ignore: decorator
@inline
function rmspropLoop(p: usize, g: usize, v: usize, buf: usize, n: i32, lr: f64, alpha: f64, eps: f64, momentum: f64, weightDecay: f64, useMomentum: bool): void {
  const LR = f64x2.splat(lr);
  const A = f64x2.splat(alpha);
  const K = f64x2.splat(1 - alpha);
  const E = f64x2.splat(eps);
  const M = f64x2.splat(momentum);
  const W = f64x2.splat(weightDecay);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    const q = <usize>i << 3;
    const pv = v128.load(p + o);
    const gv = v128.load(g + o);
    const lo = rmspropLanes(lowPair(pv), lowPair(gv), v + q, buf + q, LR, A, K, E, M, W, useMomentum);
    const hi = rmspropLanes(highPair(pv), highPair(gv), v + q + 16, buf + q + 16, LR, A, K, E, M, W, useMomentum);
    v128.store(p + o, narrow(lo, hi));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const q = <usize>i << 3;
    const pi = <f64>load<f32>(p + o);
    const d = <f64>load<f32>(g + o) + weightDecay * pi;
    const vi = alpha * load<f64>(v + q) + (1 - alpha) * d * d;
    store<f64>(v + q, vi);
    let step = d / (Math.sqrt(vi) + eps);
    if (useMomentum) {
      step = momentum * load<f64>(buf + q) + step;
      store<f64>(buf + q, step);
    }
    store<f32>(p + o, <f32>(pi - lr * step));
  }
}

/**
 * One RMSprop step (PyTorch's, with weight decay and, for momentum > 0, a momentum buffer) over n f32
 * parameters p with f32 gradients g, an f64 mean square v and an f64 buffer, in double precision in the
 * order of operations of rmspropLoop in optim/optimizers.ts: that loop's bits.
 */
export function rmspropStep(p: usize, g: usize, v: usize, buf: usize, n: i32, lr: f64, alpha: f64, eps: f64, momentum: f64, weightDecay: f64): void {
  if (momentum > 0) rmspropLoop(p, g, v, buf, n, lr, alpha, eps, momentum, weightDecay, true);
  else rmspropLoop(p, g, v, buf, n, lr, alpha, eps, momentum, weightDecay, false);
}

/** rmspropStep shared between threads, `chunk` parameters per claim (see adamShared). */
export function rmspropShared(p: usize, g: usize, v: usize, buf: usize, n: i32, lr: f64, alpha: f64, eps: f64, momentum: f64, weightDecay: f64, counter: usize, chunk: i32): void {
  for (let start = atomic.add<i32>(counter, chunk); start < n; start = atomic.add<i32>(counter, chunk)) {
    const q = <usize>start << 3;
    rmspropStep(p + (<usize>start << 2), g + (<usize>start << 2), v + q, buf + q, min(chunk, n - start), lr, alpha, eps, momentum, weightDecay);
  }
}

/** Elements per block of a sum: each block is summed alone (blockSum), then the block sums in order. */
const SUM_BLOCK: i32 = 4096;

/**
 * Σ x[0 … n) of one block in double precision: eight partial sums s_l of the elements at l mod 8 (the last
 * n mod 8 go to s0), returned as ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7)). Eight chains of
 * additions instead of one, so the loop is not bound by the latency of an add.
 */
// @ts-ignore: decorator
@inline
function blockSum(x: usize, n: i32): f64 {
  let a = f64x2.splat(0);
  let b = a;
  let c = a;
  let d = a;
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const p = x + (<usize>i << 2);
    const v = v128.load(p);
    const w = v128.load(p, 16);
    a = f64x2.add(a, lowPair(v));
    b = f64x2.add(b, highPair(v));
    c = f64x2.add(c, lowPair(w));
    d = f64x2.add(d, highPair(w));
  }
  let s0 = f64x2.extract_lane(a, 0);
  for (; i < n; i++) s0 += <f64>load<f32>(x + (<usize>i << 2));
  const low = s0 + f64x2.extract_lane(a, 1) + (f64x2.extract_lane(b, 0) + f64x2.extract_lane(b, 1));
  return low + (f64x2.extract_lane(c, 0) + f64x2.extract_lane(c, 1) + (f64x2.extract_lane(d, 0) + f64x2.extract_lane(d, 1)));
}

/**
 * Σ x[0 … n) in double precision: the blocks of SUM_BLOCK elements summed alone (blockSum) and added in
 * order from 0. The JavaScript loop of sum in ops/reduce.ts, bit for bit.
 */
export function sum(x: usize, n: i32): f64 {
  let total: f64 = 0;
  for (let i = 0; i < n; i += SUM_BLOCK) total += blockSum(x + (<usize>i << 2), min(SUM_BLOCK, n - i));
  return total;
}

/** The sums of the blocks of x[0 … n) that start in [start, start + m), each at out[its block's index] (f64). */
function blockSums(x: usize, out: usize, start: i32, m: i32, n: i32): void {
  for (let i = start; i < start + m; i += SUM_BLOCK) {
    store<f64>(out + (<usize>(i / SUM_BLOCK) << 3), blockSum(x + (<usize>i << 2), min(SUM_BLOCK, n - i)));
  }
}

/**
 * data[r·width + j] += row[j] for each of `count` rows (a bias added to every row of a product): float32
 * adds, as JavaScript's `data[i] += row[j]` on Float32Arrays.
 */
export function addRows(row: usize, data: usize, count: i32, width: i32): void {
  for (let r = 0; r < count; r++) {
    const base = data + (<usize>(r * width) << 2);
    // four vectors a step (see reluForward)
    const end = base + (<usize>(width & ~15) << 2);
    for (let d = base, rp = row; d < end; d += 64, rp += 64) {
      v128.store(d, f32x4.add(v128.load(d), v128.load(rp)));
      v128.store(d, f32x4.add(v128.load(d, 16), v128.load(rp, 16)), 16);
      v128.store(d, f32x4.add(v128.load(d, 32), v128.load(rp, 32)), 32);
      v128.store(d, f32x4.add(v128.load(d, 48), v128.load(rp, 48)), 48);
    }
    let j = width & ~15;
    for (; j + 4 <= width; j += 4) {
      const o = <usize>j << 2;
      v128.store(base + o, f32x4.add(v128.load(base + o), v128.load(row + o)));
    }
    for (; j < width; j++) {
      const o = <usize>j << 2;
      store<f32>(base + o, load<f32>(base + o) + load<f32>(row + o));
    }
  }
}

/**
 * out[j] = Σ_r src[r·width + j] over `count` rows (a bias gradient): each column summed in double
 * precision from 0, row after row, and rounded once, as the JavaScript loop of sum over leading axes.
 */
export function sumRows(src: usize, out: usize, count: i32, width: i32): void {
  const row = <usize>width << 2;
  let j = 0;
  for (; j + 8 <= width; j += 8) {
    let a0 = f64x2.splat(0);
    let a1 = a0;
    let a2 = a0;
    let a3 = a0;
    let p = src + (<usize>j << 2);
    for (let r = 0; r < count; r++) {
      const v0 = v128.load(p);
      const v1 = v128.load(p, 16);
      a0 = f64x2.add(a0, lowPair(v0));
      a1 = f64x2.add(a1, highPair(v0));
      a2 = f64x2.add(a2, lowPair(v1));
      a3 = f64x2.add(a3, highPair(v1));
      p += row;
    }
    const o = out + (<usize>j << 2);
    v128.store(o, narrow(a0, a1));
    v128.store(o, narrow(a2, a3), 16);
  }
  for (; j < width; j++) {
    let s: f64 = 0;
    for (let r = 0; r < count; r++) s += <f64>load<f32>(src + (<usize>(r * width + j) << 2));
    store<f32>(out + (<usize>j << 2), <f32>s);
  }
}

/** x ∘ y lane by lane for op 0 add, 1 sub, 2 mul, 3 div: exactly rounded f32 operations, as JavaScript's. */
// @ts-ignore: decorator
@inline
function apply(op: i32, x: v128, y: v128): v128 {
  if (op == 0) return f32x4.add(x, y);
  if (op == 1) return f32x4.sub(x, y);
  if (op == 2) return f32x4.mul(x, y);
  return f32x4.div(x, y);
}

/** apply for one float. */
// @ts-ignore: decorator
@inline
function apply1(op: i32, x: f32, y: f32): f32 {
  if (op == 0) return x + y;
  if (op == 1) return x - y;
  if (op == 2) return x * y;
  return x / y;
}

/**
 * out[i] = a[i] ∘ b[i] for n floats, where an operand flagged as a scalar is the one float `s` instead
 * (never both). Inlined for every op and layout, each with its flags fixed.
 */
// @ts-ignore: decorator
@inline
function binaryRun(op: i32, a: usize, b: usize, out: usize, n: i32, aScalar: bool, bScalar: bool, s: f32): void {
  const sv = f32x4.splat(s);
  let i = 0;
  for (; i + 16 <= n; i += 16) {
    const o = <usize>i << 2;
    const pa = a + o;
    const pb = b + o;
    const po = out + o;
    v128.store(po, apply(op, aScalar ? sv : v128.load(pa), bScalar ? sv : v128.load(pb)));
    v128.store(po, apply(op, aScalar ? sv : v128.load(pa, 16), bScalar ? sv : v128.load(pb, 16)), 16);
    v128.store(po, apply(op, aScalar ? sv : v128.load(pa, 32), bScalar ? sv : v128.load(pb, 32)), 32);
    v128.store(po, apply(op, aScalar ? sv : v128.load(pa, 48), bScalar ? sv : v128.load(pb, 48)), 48);
  }
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(out + o, apply(op, aScalar ? sv : v128.load(a + o), bScalar ? sv : v128.load(b + o)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(out + o, apply1(op, aScalar ? s : load<f32>(a + o), bScalar ? s : load<f32>(b + o)));
  }
}

/**
 * A binary op over `rows` rows of `width` floats into out, with its operands laid out as `layout` says:
 * 0 both whole; 1 a whole and b one row (repeated on every row); 2 a one row, b whole; 3 a whole and b one
 * float per row; 4 a one float per row, b whole; 5 a whole and b the scalar s; 6 a the scalar s, b whole.
 */
// @ts-ignore: decorator
@inline
function binaryLayout(op: i32, layout: i32, a: usize, b: usize, out: usize, rows: i32, width: i32, s: f32): void {
  const n = rows * width;
  if (layout == 0) binaryRun(op, a, b, out, n, false, false, 0);
  else if (layout == 5) binaryRun(op, a, 0, out, n, false, true, s);
  else if (layout == 6) binaryRun(op, 0, b, out, n, true, false, s);
  else {
    const row = <usize>width << 2;
    for (let r = 0; r < rows; r++) {
      const o = <usize>r * row;
      if (layout == 1) binaryRun(op, a + o, b, out + o, width, false, false, 0);
      else if (layout == 2) binaryRun(op, a, b + o, out + o, width, false, false, 0);
      else if (layout == 3) binaryRun(op, a + o, 0, out + o, width, false, true, load<f32>(b + (<usize>r << 2)));
      else binaryRun(op, 0, b + o, out + o, width, true, false, load<f32>(a + (<usize>r << 2)));
    }
  }
}

/** binaryLayout for one op, each layout its own loop. */
// @ts-ignore: decorator
@inline
function binaryOp(op: i32, layout: i32, a: usize, b: usize, out: usize, rows: i32, width: i32, s: f32): void {
  switch (layout) {
    case 0: binaryLayout(op, 0, a, b, out, rows, width, s); break;
    case 1: binaryLayout(op, 1, a, b, out, rows, width, s); break;
    case 2: binaryLayout(op, 2, a, b, out, rows, width, s); break;
    case 3: binaryLayout(op, 3, a, b, out, rows, width, s); break;
    case 4: binaryLayout(op, 4, a, b, out, rows, width, s); break;
    case 5: binaryLayout(op, 5, a, b, out, rows, width, s); break;
    default: binaryLayout(op, 6, a, b, out, rows, width, s);
  }
}

/**
 * add, sub, mul or div (op 0–3) of float32 operands in one of binaryLayout's layouts: the bits of the
 * JavaScript loop, which computes in double precision and rounds once (exact for these four operations).
 */
export function binary(op: i32, layout: i32, a: usize, b: usize, out: usize, rows: i32, width: i32, s: f32): void {
  switch (op) {
    case 0: binaryOp(0, layout, a, b, out, rows, width, s); break;
    case 1: binaryOp(1, layout, a, b, out, rows, width, s); break;
    case 2: binaryOp(2, layout, a, b, out, rows, width, s); break;
    default: binaryOp(3, layout, a, b, out, rows, width, s);
  }
}

/** Sets n floats from x to v. */
export function fill(x: usize, n: i32, v: f32): void {
  const vv = f32x4.splat(v);
  // four vectors a step (see reluForward)
  const end = x + (<usize>(n & ~15) << 2);
  for (let p = x; p < end; p += 64) {
    v128.store(p, vv);
    v128.store(p, vv, 16);
    v128.store(p, vv, 32);
    v128.store(p, vv, 48);
  }
  let i = n & ~15;
  for (; i + 4 <= n; i += 4) v128.store(x + (<usize>i << 2), vv);
  for (; i < n; i++) store<f32>(x + (<usize>i << 2), v);
}

/**
 * Runs kernel `kind` (0 reluForward, 1 reluBackward, 2 leakyForward, 3 leakyBackward, 4 sgdStep,
 * 5 reluBackwardScalar, 6 reluForwardMasked, 7 reluBackwardMasked, 8 reluBackwardMaskedScalar: pointers a,
 * b and, for three-array kernels, c (for a relu mask, `chunk` a multiple of 128); scalars s
 * and t; 9 the block sums of a sum of a into the doubles at b, `chunk` a multiple of SUM_BLOCK) on chunks of `chunk` elements that the threads taking part
 * claim from the counter at `counter` until all n are done, so that a thread that falls behind takes fewer.
 * Returns the kink hits of the chunks this thread ran. Each element is computed alone: the bits do not
 * depend on who runs which chunk.
 */
export function shared(kind: i32, a: usize, b: usize, c: usize, n: i32, s: f64, t: f64, counter: usize, chunk: i32): i32 {
  let hits = 0;
  let start = atomic.add<i32>(counter, chunk);
  for (; start < n; start = atomic.add<i32>(counter, chunk)) {
    const m = min(chunk, n - start);
    const o = <usize>start << 2;
    switch (kind) {
      case 0: reluForward(a + o, b + o, m); break;
      case 1: hits += reluBackward(a + o, b + o, c + o, m, <f32>s); break;
      case 2: leakyForward(a + o, b + o, m, s); break;
      case 3: hits += leakyBackward(a + o, b + o, c + o, m, s); break;
      case 4: sgdStep(a + o, b + o, c + o, m, s); break;
      case 5: hits += reluBackwardScalar(a + o, b + o, m, <f32>s, <f32>t); break;
      case 6: hits += reluForwardMasked(a + o, b + (<usize>start >> 3), c + o, m); break;
      case 7: reluBackwardMasked(a + (<usize>start >> 3), b + o, c + o, m); break;
      case 8: reluBackwardMaskedScalar(a + (<usize>start >> 3), b + o, m, <f32>s); break;
      default: blockSums(a, b, start, m, n);
    }
  }
  return hits;
}

/**
 * `binary` shared between the threads that call this: each claims `chunk` rows at a time from the counter
 * at `counter` (layouts 1–4, whose second operand follows the rows), or `chunk` elements at a time of the
 * operands read as one long row (layouts 0, 5 and 6), until none are left. Each element is computed alone:
 * the bits do not depend on who runs which chunk.
 */
export function binaryShared(op: i32, layout: i32, a: usize, b: usize, out: usize, rows: i32, width: i32, s: f32, counter: usize, chunk: i32): void {
  const byRows = layout >= 1 && layout <= 4;
  const total = byRows ? rows : rows * width;
  for (let start = atomic.add<i32>(counter, chunk); start < total; start = atomic.add<i32>(counter, chunk)) {
    const m = min(chunk, total - start);
    if (!byRows) {
      const o = <usize>start << 2;
      binary(op, layout, layout == 6 ? a : a + o, layout == 5 ? b : b + o, out + o, 1, m, s);
      continue;
    }
    const o = <usize>start * (<usize>width << 2);
    const r = <usize>start << 2;
    if (layout == 1) binary(op, 1, a + o, b, out + o, m, width, s);
    else if (layout == 2) binary(op, 2, a, b + o, out + o, m, width, s);
    else if (layout == 3) binary(op, 3, a + o, b + r, out + o, m, width, s);
    else binary(op, 4, a + r, b + o, out + o, m, width, s);
  }
}
