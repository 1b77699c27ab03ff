// AssemblyScript, compiled to WebAssembly SIMD at build time (scripts/build-wasm.js).
//
// Direct 2-D cross-correlation with stride 1 (any padding, dilation, channels and kernel size), four output
// columns per SIMD lane group. No im2col: a window tap is a shifted row of the zero-padded input. The
// input gradient is the same correlation of the padded output gradient with the flipped weights, and the
// weight gradient a dot product of the output gradient with each shifted input. Arrays are byte offsets
// into the tensor heap (wasm/heap.ts), which the module imports; all float32. Threads share the forward
// pass by samples and the weight gradient by output channels, claiming them one at a time from a counter.
// For convolutions with many taps or a stride, which run as matrix products instead, the same module
// builds the columns (unfold), adds them back (fold) and moves between [channels, samples] and [samples,
// channels] layouts (swapLeading). Max pooling (maxPool, and scatterAdd for its gradient) is here too.
//
// Shapes: xp [N, C, Hp, Wp], padded; weight [O, C, kh, kw]; output and its gradient [N, O, Ho, Wo] with
// Ho = Hp − dh·(kh − 1), Wo = Wp − dw·(kw − 1) at stride 1. A row's last lane group may read up to 15 floats
// past the end of its array (the caller leaves room); lanes past the row are never stored or summed.
//
// Every sum runs in a fixed order with a separate multiply and add in float32, so results do not depend on
// the CPU.

/** xp[p, y, x] = x[p, y − top, x − left] where that is inside x, else 0 (top and left may be negative: a crop). */
export function pad(x: usize, xp: usize, planes: i32, h: i32, w: i32, hp: i32, wp: i32, top: i32, left: i32): void {
  memory.fill(xp, 0, <usize>planes * hp * wp * 4);
  const lo = max(0, left);
  const hi = min(wp, left + w);
  if (lo >= hi) return;
  for (let p = 0; p < planes; p++) {
    for (let y = max(0, top); y < min(hp, top + h); y++) {
      memory.copy(xp + ((<usize>p * hp + y) * wp + lo) * 4, x + ((<usize>p * h + y - top) * w + lo - left) * 4, <usize>(hi - lo) * 4);
    }
  }
}

/** count floats from src to dst (runs that do not overlap), four at a time. */
// @ts-ignore: decorator
@inline
function copyFloats(dst: usize, src: usize, count: i32): void {
  const end = <usize>count << 2;
  let k: usize = 0;
  for (; k + 16 <= end; k += 16) v128.store(dst + k, v128.load(src + k));
  for (; k < end; k += 4) store<f32>(dst + k, load<f32>(src + k));
}

/**
 * im2col on the padded input xp [N, C, Hp, Wp]: cols[row, b·L + y·wo + x] = xp[b, ch, y·sh + i·dh, x·sw + j·dw]
 * for row = (ch·kh + i)·kw + j and L = ho·wo, rows N·L floats long; with `ones`, one more row of ones (the
 * bias's, in the products that use these columns). Threads claim rows from the counter.
 */
export function unfold(
  xp: usize, n: i32, c: i32, hp: i32, wp: i32, kh: i32, kw: i32, dh: i32, dw: i32, sh: i32, sw: i32, ho: i32, wo: i32,
  cols: usize, ones: bool, counter: usize,
): void {
  const taps = c * kh * kw;
  const rows = ones ? taps + 1 : taps;
  const rowBytes = <usize>n * ho * wo * 4;
  for (let row = atomic.add<i32>(counter, 1); row < rows; row = atomic.add<i32>(counter, 1)) {
    let dst = cols + <usize>row * rowBytes;
    if (row == taps) {
      const one = f32x4.splat(1);
      const end = dst + rowBytes;
      for (; dst + 16 <= end; dst += 16) v128.store(dst, one);
      for (; dst < end; dst += 4) store<f32>(dst, 1);
      continue;
    }
    const ch = row / (kh * kw);
    const i = (row / kw) % kh;
    const j = row % kw;
    for (let b = 0; b < n; b++) {
      const plane = xp + ((<usize>(b * c + ch) * hp + i * dh) * wp + j * dw) * 4;
      for (let y = 0; y < ho; y++, dst += <usize>wo * 4) {
        const src = plane + <usize>(y * sh * wp) * 4;
        if (sw == 1) copyFloats(dst, src, wo);
        else for (let x = 0; x < wo; x++) store<f32>(dst + (<usize>x << 2), load<f32>(src + (<usize>(x * sw) << 2)));
      }
    }
  }
}

/**
 * col2im, the adjoint of unfold: each plane (b, ch) of dxp [N, C, Hp, Wp] set to 0, then every entry of cols
 * read from it added back, window offsets (i, j) in order, so each position's sum runs in a fixed order.
 * Threads claim planes from the counter.
 */
export function fold(
  cols: usize, n: i32, c: i32, hp: i32, wp: i32, kh: i32, kw: i32, dh: i32, dw: i32, sh: i32, sw: i32, ho: i32, wo: i32,
  dxp: usize, counter: usize,
): void {
  const rowBytes = <usize>n * ho * wo * 4;
  const planeBytes = <usize>hp * wp * 4;
  for (let plane = atomic.add<i32>(counter, 1); plane < n * c; plane = atomic.add<i32>(counter, 1)) {
    const b = plane / c;
    const ch = plane % c;
    const base = dxp + <usize>plane * planeBytes;
    memory.fill(base, 0, planeBytes);
    for (let i = 0; i < kh; i++) {
      for (let j = 0; j < kw; j++) {
        let src = cols + <usize>((ch * kh + i) * kw + j) * rowBytes + <usize>(b * ho * wo) * 4;
        const at = base + <usize>(i * dh * wp + j * dw) * 4;
        for (let y = 0; y < ho; y++, src += <usize>wo * 4) {
          const dst = at + <usize>(y * sh * wp) * 4;
          if (sw == 1) {
            const end = <usize>wo << 2;
            let k: usize = 0;
            for (; k + 16 <= end; k += 16) v128.store(dst + k, f32x4.add(v128.load(dst + k), v128.load(src + k)));
            for (; k < end; k += 4) store<f32>(dst + k, load<f32>(dst + k) + load<f32>(src + k));
          } else {
            for (let x = 0; x < wo; x++) {
              const to = dst + (<usize>(x * sw) << 2);
              store<f32>(to, load<f32>(to) + load<f32>(src + (<usize>x << 2)));
            }
          }
        }
      }
    }
  }
}

/**
 * dst [q, p, l] = src [p, q, l]: runs of l floats, between [channels, samples, ·] and [samples, channels, ·].
 * Threads claim the q blocks of dst from the counter.
 */
export function swapLeading(src: usize, dst: usize, p: i32, q: i32, l: i32, counter: usize): void {
  for (let b = atomic.add<i32>(counter, 1); b < q; b = atomic.add<i32>(counter, 1)) {
    let out = dst + <usize>(b * p) * l * 4;
    for (let a = 0; a < p; a++, out += <usize>l * 4) copyFloats(out, src + (<usize>(a * q + b) * l) * 4, l);
  }
}

/** Stores the first `valid` (1 to 4) lanes of v at p. */
// @ts-ignore: decorator
@inline
function storeLanes(p: usize, v: v128, valid: i32): void {
  if (valid >= 4) {
    v128.store(p, v);
    return;
  }
  store<f32>(p, f32x4.extract_lane(v, 0));
  if (valid > 1) store<f32>(p, f32x4.extract_lane(v, 1), 4);
  if (valid > 2) store<f32>(p, f32x4.extract_lane(v, 2), 8);
}

/**
 * out[b, o] = bias[o] + Σ over (c, i, j) in that order of weight[o, c, i, j]·xp[b, c, y + i·dh, x + j·dw].
 * `offsets` is room for c·kh·kw i32s (each tap's offset into a sample's planes) and c·kh·kw·o floats.
 */
export function forward(
  xp: usize, n: i32, c: i32, hp: i32, wp: i32,
  weight: usize, o: i32, kh: i32, kw: i32, dh: i32, dw: i32,
  bias: usize, hasBias: bool, out: usize, offsets: usize,
): void {
  const ho = hp - dh * (kh - 1);
  const wo = wp - dw * (kw - 1);
  const taps = c * kh * kw;
  // one flat loop over the taps keeps the accumulators in registers
  let t = 0;
  for (let ch = 0; ch < c; ch++) {
    for (let i = 0; i < kh; i++) {
      for (let j = 0; j < kw; j++, t++) store<i32>(offsets + (<usize>t << 2), (((ch * hp + i * dh) * wp + j * dw) << 2));
    }
  }
  const end = offsets + (<usize>taps << 2);
  // the weights tap by tap: the four output channels of a block side by side
  const wt = end;
  for (let oc = 0; oc < o; oc++) {
    for (let q = 0; q < taps; q++) store<f32>(wt + ((<usize>q * o + oc) << 2), load<f32>(weight + ((<usize>oc * taps + q) << 2)));
  }
  const rowBytes = <usize>o * 4;
  const plane = <usize>ho * wo * 4;
  for (let b = 0; b < n; b++) {
    const sample = xp + <usize>b * c * hp * wp * 4;
    let oc = 0;
    // four output channels by eight columns at a time: each input load serves four channels
    for (; oc + 4 <= o; oc += 4) {
      const b0 = f32x4.splat(hasBias ? load<f32>(bias + (<usize>oc << 2)) : 0);
      const b1 = f32x4.splat(hasBias ? load<f32>(bias + (<usize>oc << 2), 4) : 0);
      const b2 = f32x4.splat(hasBias ? load<f32>(bias + (<usize>oc << 2), 8) : 0);
      const b3 = f32x4.splat(hasBias ? load<f32>(bias + (<usize>oc << 2), 12) : 0);
      for (let y = 0; y < ho; y++) {
        const dst = out + ((<usize>(b * o + oc) * ho + y) * wo) * 4;
        for (let x = 0; x < wo; x += 8) {
          const src = sample + ((<usize>y * wp + x) << 2);
          let a00 = b0, a01 = b0, a10 = b1, a11 = b1, a20 = b2, a21 = b2, a30 = b3, a31 = b3;
          let w = wt + (<usize>oc << 2);
          for (let ot = offsets; ot < end; ot += 4, w += rowBytes) {
            const s = src + <usize>load<i32>(ot);
            const v0 = v128.load(s);
            const v1 = v128.load(s, 16);
            let wv = v128.load32_splat(w);
            a00 = f32x4.add(a00, f32x4.mul(wv, v0));
            a01 = f32x4.add(a01, f32x4.mul(wv, v1));
            wv = v128.load32_splat(w, 4);
            a10 = f32x4.add(a10, f32x4.mul(wv, v0));
            a11 = f32x4.add(a11, f32x4.mul(wv, v1));
            wv = v128.load32_splat(w, 8);
            a20 = f32x4.add(a20, f32x4.mul(wv, v0));
            a21 = f32x4.add(a21, f32x4.mul(wv, v1));
            wv = v128.load32_splat(w, 12);
            a30 = f32x4.add(a30, f32x4.mul(wv, v0));
            a31 = f32x4.add(a31, f32x4.mul(wv, v1));
          }
          const d = dst + (<usize>x << 2);
          const left = wo - x;
          storeLanes(d, a00, left);
          storeLanes(d + plane, a10, left);
          storeLanes(d + 2 * plane, a20, left);
          storeLanes(d + 3 * plane, a30, left);
          if (left > 4) {
            storeLanes(d + 16, a01, left - 4);
            storeLanes(d + plane + 16, a11, left - 4);
            storeLanes(d + 2 * plane + 16, a21, left - 4);
            storeLanes(d + 3 * plane + 16, a31, left - 4);
          }
        }
      }
    }
    // the last channels one at a time, 16 columns at a time
    for (; oc < o; oc++) {
      const b0: f32 = hasBias ? load<f32>(bias + (<usize>oc << 2)) : 0;
      for (let y = 0; y < ho; y++) {
        const dst = out + ((<usize>(b * o + oc) * ho + y) * wo) * 4;
        for (let x = 0; x < wo; x += 16) {
          const src = sample + ((<usize>y * wp + x) << 2);
          let a0 = f32x4.splat(b0), a1 = a0, a2 = a0, a3 = a0;
          let w = wt + (<usize>oc << 2);
          for (let ot = offsets; ot < end; ot += 4, w += rowBytes) {
            const wv = v128.load32_splat(w);
            const s = src + <usize>load<i32>(ot);
            a0 = f32x4.add(a0, f32x4.mul(wv, v128.load(s)));
            a1 = f32x4.add(a1, f32x4.mul(wv, v128.load(s, 16)));
            a2 = f32x4.add(a2, f32x4.mul(wv, v128.load(s, 32)));
            a3 = f32x4.add(a3, f32x4.mul(wv, v128.load(s, 48)));
          }
          const d = dst + (<usize>x << 2);
          const left = wo - x;
          storeLanes(d, a0, left);
          if (left > 4) storeLanes(d + 16, a1, left - 4);
          if (left > 8) storeLanes(d + 32, a2, left - 8);
          if (left > 12) storeLanes(d + 48, a3, left - 12);
        }
      }
    }
  }
}

/** Lanes summed as (l0 + l1) + (l2 + l3). */
// @ts-ignore: decorator
@inline
function lanes(v: v128): f32 {
  return (f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1)) + (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3));
}

/** The product of gv and the floats at p, added to acc; lanes where m is zero add 0 (not NaN from garbage). */
// @ts-ignore: decorator
@inline
function madd(acc: v128, gv: v128, p: usize, m: v128): v128 {
  return f32x4.add(acc, v128.and(f32x4.mul(gv, v128.load(p)), m));
}

/**
 * Up to nine taps of one output channel's weight gradient at once: for every row r (byte offsets
 * rows[2r] into g, rows[2r + 1] into src) and every column x < wo, the gradient g[r, x] is loaded once and
 * multiplied with the input at each tap's shift s0 … s8 (bytes), into one four-lane sum per tap (lane l
 * takes the columns x ≡ l mod 4, in row order); the sums go to dweight[0 … taps − 1], and the sum of g
 * itself to dbias when hasBias. Unused taps repeat s0 and are not stored. The last, partial group of four
 * columns is masked: past the row's end lie unrelated values, possibly NaN.
 *
 * With `window` (a constant where this is inlined), the nine taps are a 3×3 window of one channel at
 * dilation 1 along rows: s0, s3 and s6 start its rows and each row's other two taps lie 4 and 8 bytes to the
 * right, read at constant offsets from three addresses instead of nine computed ones (the same sums;
 * −12 % on its own).
 */
// @ts-ignore: decorator
@inline
function tapSums(
  g: usize, src: usize, rows: usize, count: i32, wo: i32, taps: i32, dweight: usize, dbias: usize, hasBias: bool,
  s0: usize, s1: usize, s2: usize, s3: usize, s4: usize, s5: usize, s6: usize, s7: usize, s8: usize, window: bool,
): void {
  let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0, a4 = a0, a5 = a0, a6 = a0, a7 = a0, a8 = a0, ab = a0;
  const full = <usize>(wo & ~3) << 2;
  const m = mask(wo & 3);
  const end = rows + (<usize>count << 3);
  for (let r = rows; r < end; r += 8) {
    const gr = g + <usize>load<i32>(r);
    const xr = src + <usize>load<i32>(r, 4);
    // two passes over the row: five taps and the sum of g, then the other four. All nine sums in one pass
    // need 19 vector registers at once (V8 loads every operand of a step before its arithmetic) where V8
    // allocates 15, and the spills cost more than loading g twice (−24 to −34 %, timed in alternation)
    if (window) {
      const r0 = xr + s0, r1 = xr + s3, r2 = xr + s6;
      for (let x: usize = 0; x < full; x += 16) {
        const gv = v128.load(gr + x);
        const q0 = r0 + x, q1 = r1 + x;
        a0 = f32x4.add(a0, f32x4.mul(gv, v128.load(q0)));
        a1 = f32x4.add(a1, f32x4.mul(gv, v128.load(q0, 4)));
        a2 = f32x4.add(a2, f32x4.mul(gv, v128.load(q0, 8)));
        a3 = f32x4.add(a3, f32x4.mul(gv, v128.load(q1)));
        a4 = f32x4.add(a4, f32x4.mul(gv, v128.load(q1, 4)));
        ab = f32x4.add(ab, gv);
      }
      for (let x: usize = 0; x < full; x += 16) {
        const gv = v128.load(gr + x);
        const q1 = r1 + x, q2 = r2 + x;
        a5 = f32x4.add(a5, f32x4.mul(gv, v128.load(q1, 8)));
        a6 = f32x4.add(a6, f32x4.mul(gv, v128.load(q2)));
        a7 = f32x4.add(a7, f32x4.mul(gv, v128.load(q2, 4)));
        a8 = f32x4.add(a8, f32x4.mul(gv, v128.load(q2, 8)));
      }
    } else {
      for (let x: usize = 0; x < full; x += 16) {
        const gv = v128.load(gr + x);
        const xb = xr + x;
        a0 = f32x4.add(a0, f32x4.mul(gv, v128.load(xb + s0)));
        a1 = f32x4.add(a1, f32x4.mul(gv, v128.load(xb + s1)));
        a2 = f32x4.add(a2, f32x4.mul(gv, v128.load(xb + s2)));
        a3 = f32x4.add(a3, f32x4.mul(gv, v128.load(xb + s3)));
        a4 = f32x4.add(a4, f32x4.mul(gv, v128.load(xb + s4)));
        ab = f32x4.add(ab, gv);
      }
      if (taps > 5) {
        for (let x: usize = 0; x < full; x += 16) {
          const gv = v128.load(gr + x);
          const xb = xr + x;
          a5 = f32x4.add(a5, f32x4.mul(gv, v128.load(xb + s5)));
          a6 = f32x4.add(a6, f32x4.mul(gv, v128.load(xb + s6)));
          a7 = f32x4.add(a7, f32x4.mul(gv, v128.load(xb + s7)));
          a8 = f32x4.add(a8, f32x4.mul(gv, v128.load(xb + s8)));
        }
      }
    }
    if (full < <usize>wo << 2) {
      const gv = v128.load(gr + full);
      const xb = xr + full;
      a0 = madd(a0, gv, xb + s0, m);
      a1 = madd(a1, gv, xb + s1, m);
      a2 = madd(a2, gv, xb + s2, m);
      a3 = madd(a3, gv, xb + s3, m);
      a4 = madd(a4, gv, xb + s4, m);
      a5 = madd(a5, gv, xb + s5, m);
      a6 = madd(a6, gv, xb + s6, m);
      a7 = madd(a7, gv, xb + s7, m);
      a8 = madd(a8, gv, xb + s8, m);
      ab = f32x4.add(ab, v128.and(gv, m));
    }
  }
  store<f32>(dweight, lanes(a0));
  if (taps > 1) store<f32>(dweight, lanes(a1), 4);
  if (taps > 2) store<f32>(dweight, lanes(a2), 8);
  if (taps > 3) store<f32>(dweight, lanes(a3), 12);
  if (taps > 4) store<f32>(dweight, lanes(a4), 16);
  if (taps > 5) store<f32>(dweight, lanes(a5), 20);
  if (taps > 6) store<f32>(dweight, lanes(a6), 24);
  if (taps > 7) store<f32>(dweight, lanes(a7), 28);
  if (taps > 8) store<f32>(dweight, lanes(a8), 32);
  if (hasBias) store<f32>(dbias, lanes(ab));
}

/** tapSums at any shifts. */
function tapGroup(
  g: usize, src: usize, rows: usize, count: i32, wo: i32, taps: i32, dweight: usize, dbias: usize, hasBias: bool,
  s0: usize, s1: usize, s2: usize, s3: usize, s4: usize, s5: usize, s6: usize, s7: usize, s8: usize,
): void {
  tapSums(g, src, rows, count, wo, taps, dweight, dbias, hasBias, s0, s1, s2, s3, s4, s5, s6, s7, s8, false);
}

/** tapSums for a 3×3 window at dilation 1 along rows (window). */
function tapWindow(
  g: usize, src: usize, rows: usize, count: i32, wo: i32, dweight: usize, dbias: usize, hasBias: bool,
  s0: usize, s1: usize, s2: usize, s3: usize, s4: usize, s5: usize, s6: usize, s7: usize, s8: usize,
): void {
  tapSums(g, src, rows, count, wo, 9, dweight, dbias, hasBias, s0, s1, s2, s3, s4, s5, s6, s7, s8, true);
}

/** All-ones lanes for the first `valid` (clamped to 0–4) lanes, zeros after. */
function mask(valid: i32): v128 {
  return i32x4.lt_s(i32x4(0, 1, 2, 3), i32x4.splat(valid));
}

/**
 * forward for the samples this thread claims from the counter at `counter`, one at a time; `offsets` is
 * this thread's own room (see forward).
 */
export function forwardShared(
  xp: usize, n: i32, c: i32, hp: i32, wp: i32,
  weight: usize, o: i32, kh: i32, kw: i32, dh: i32, dw: i32,
  bias: usize, hasBias: bool, out: usize, offsets: usize, counter: usize,
): void {
  const sample = <usize>c * hp * wp * 4;
  const result = <usize>o * (hp - dh * (kh - 1)) * (wp - dw * (kw - 1)) * 4;
  for (let b = atomic.add<i32>(counter, 1); b < n; b = atomic.add<i32>(counter, 1)) {
    forward(xp + <usize>b * sample, 1, c, hp, wp, weight, o, kh, kw, dh, dw, bias, hasBias, out + <usize>b * result, offsets);
  }
}

/**
 * dweight[oc, ch, i, j] = Σ g[b, oc, y, x]·xp[b, ch, y + i·dh, x + j·dw] and, when hasBias,
 * dbias[oc] = Σ g[b, oc, y, x], for the output channels this thread claims from the counter at `counter`,
 * one at a time, nine taps at a time (tapGroup); `rows` is this thread's room for 2·N·Ho i32s.
 */
export function weightGrad(
  xp: usize, n: i32, c: i32, hp: i32, wp: i32,
  g: usize, o: i32, kh: i32, kw: i32, dh: i32, dw: i32,
  dweight: usize, dbias: usize, hasBias: bool, rows: usize, counter: usize,
): void {
  const ho = hp - dh * (kh - 1);
  const wo = wp - dw * (kw - 1);
  // byte offsets of every (b, y) row: in g (plane oc = 0) and in xp (plane ch = 0)
  const count = n * ho;
  for (let b = 0; b < n; b++) {
    for (let y = 0; y < ho; y++) {
      const r = <usize>(b * ho + y) << 3;
      store<i32>(rows + r, ((b * o * ho + y) * wo) << 2);
      store<i32>(rows + r, ((b * c * hp + y) * wp) << 2, 4);
    }
  }
  const gPlane = <usize>ho * wo * 4;
  const taps = c * kh * kw;
  for (let oc = atomic.add<i32>(counter, 1); oc < o; oc = atomic.add<i32>(counter, 1)) {
    for (let t0 = 0; t0 < taps; t0 += 9) {
      const group = min(9, taps - t0);
      const gOc = g + <usize>oc * gPlane;
      const dw0 = dweight + (<usize>(oc * taps + t0) << 2);
      const db = dbias + (<usize>oc << 2);
      const s0 = shift(t0, t0, group, kh, kw, hp, wp, dh, dw);
      const s1 = shift(t0 + 1, t0, group, kh, kw, hp, wp, dh, dw);
      const s2 = shift(t0 + 2, t0, group, kh, kw, hp, wp, dh, dw);
      const s3 = shift(t0 + 3, t0, group, kh, kw, hp, wp, dh, dw);
      const s4 = shift(t0 + 4, t0, group, kh, kw, hp, wp, dh, dw);
      const s5 = shift(t0 + 5, t0, group, kh, kw, hp, wp, dh, dw);
      const s6 = shift(t0 + 6, t0, group, kh, kw, hp, wp, dh, dw);
      const s7 = shift(t0 + 7, t0, group, kh, kw, hp, wp, dh, dw);
      const s8 = shift(t0 + 8, t0, group, kh, kw, hp, wp, dh, dw);
      // a group of nine taps of a 3×3 kernel is one channel's whole window (t0 is a multiple of 9)
      if (kh == 3 && kw == 3 && dw == 1) tapWindow(gOc, xp, rows, count, wo, dw0, db, hasBias && t0 == 0, s0, s1, s2, s3, s4, s5, s6, s7, s8);
      else tapGroup(gOc, xp, rows, count, wo, group, dw0, db, hasBias && t0 == 0, s0, s1, s2, s3, s4, s5, s6, s7, s8);
    }
  }
}

/** The byte shift in xp of tap t (channel, row, column of the window), or of tap t0 when t is past the group. */
function shift(t: i32, t0: i32, group: i32, kh: i32, kw: i32, hp: i32, wp: i32, dh: i32, dw: i32): usize {
  if (t >= t0 + group) t = t0;
  const ch = t / (kh * kw);
  const i = (t / kw) % kh;
  const j = t % kw;
  return <usize>((ch * hp + i * dh) * wp + j * dw) << 2;
}

/**
 * Max pooling of planes x [P, H, W] into out [P, Ho, Wo], as PyTorch's max_pool2d: window (y, x) covers rows
 * y·sh − top … + kh and columns x·sw − left … + kw, padding is never chosen, the first maximum in row-major
 * window order wins, and so does NaN (the last one). index[p, y, x] gets the maximum's flat position in x
 * (i32). Four outputs at a time where their windows lie inside the row (selects, not branches: which
 * element wins is as unpredictable as the data), one at a time at the edges. Threads claim planes from the
 * counter.
 */
export function maxPool(
  x: usize, planes: i32, h: i32, w: i32, kh: i32, kw: i32, sh: i32, sw: i32, top: i32, left: i32, ho: i32, wo: i32,
  out: usize, index: usize, counter: usize,
): void {
  if (kh == 2 && kw == 2 && sh == 2 && sw == 2 && top == 0 && left == 0) {
    maxPool2x2(x, planes, h, w, ho, wo, out, index, counter);
    return;
  }
  // outputs oxLo … oxHi − 1 have their whole window inside the row
  const oxLo = min(wo, (left + sw - 1) / sw);
  const oxHi = max(oxLo, min(wo, (w - kw + left) / sw + 1));
  const steps = i32x4(0, sw, 2 * sw, 3 * sw);
  for (let p = atomic.add<i32>(counter, 1); p < planes; p = atomic.add<i32>(counter, 1)) {
    const base = p * h * w;
    for (let oy = 0; oy < ho; oy++) {
      const y0 = oy * sh - top;
      const ylo = max(y0, 0);
      const yhi = min(y0 + kh, h);
      const o = <usize>((p * ho + oy) * wo);
      let ox = 0;
      for (; ox < oxLo; ox++) maxWindow(x, base, w, ylo, yhi, ox * sw - left, kw, out, index, o + ox);
      for (; ox < oxHi && oxHi - oxLo >= 4; ox += 4) {
        // a last part group is done as the four outputs ending at oxHi: some again, with the same result
        if (ox + 4 > oxHi) ox = oxHi - 4;
        const x0 = ox * sw - left;
        let best = f32x4.splat(-Infinity);
        let at = i32x4.add(i32x4.splat(base + ylo * w + x0), steps);
        for (let yy = ylo; yy < yhi; yy++) {
          const row = base + yy * w + x0;
          for (let xx = 0; xx < kw; xx++) {
            const src = x + (<usize>(row + xx) << 2);
            let v: v128;
            if (sw == 1) v = v128.load(src);
            else if (sw == 2) v = v128.shuffle<f32>(v128.load(src), v128.load(src, 16), 0, 2, 4, 6);
            else v = f32x4(load<f32>(src), load<f32>(src + (<usize>sw << 2)), load<f32>(src + (<usize>(2 * sw) << 2)), load<f32>(src + (<usize>(3 * sw) << 2)));
            const take = v128.or(f32x4.gt(v, best), f32x4.ne(v, v));
            best = v128.bitselect(v, best, take);
            at = v128.bitselect(i32x4.add(i32x4.splat(row + xx), steps), at, take);
          }
        }
        v128.store(out + ((o + <usize>ox) << 2), best);
        v128.store(index + ((o + <usize>ox) << 2), at);
      }
      for (; ox < wo; ox++) maxWindow(x, base, w, ylo, yhi, ox * sw - left, kw, out, index, o + ox);
    }
  }
}

/**
 * maxPool for 2×2 windows at stride 2 without padding (the common case): each window's four elements come
 * from two loads of each of its two rows, split into even and odd columns, and are taken in maxPool's order
 * (row by row, left to right) with its rules: the same maxima and positions.
 */
function maxPool2x2(x: usize, planes: i32, h: i32, w: i32, ho: i32, wo: i32, out: usize, index: usize, counter: usize): void {
  const evens = i32x4(0, 2, 4, 6);
  for (let p = atomic.add<i32>(counter, 1); p < planes; p = atomic.add<i32>(counter, 1)) {
    const base = p * h * w;
    for (let oy = 0; oy < ho; oy++) {
      const row0 = base + 2 * oy * w;
      const o = <usize>((p * ho + oy) * wo);
      if (wo < 4) {
        for (let ox = 0; ox < wo; ox++) maxWindow(x, base, w, 2 * oy, 2 * oy + 2, 2 * ox, 2, out, index, o + ox);
        continue;
      }
      for (let ox = 0; ox < wo; ox += 4) {
        // a last part group is done as the four outputs ending at wo: some again, with the same result
        if (ox + 4 > wo) ox = wo - 4;
        const first = row0 + 2 * ox;
        const src0 = x + (<usize>first << 2);
        const src1 = src0 + (<usize>w << 2);
        const a0 = v128.load(src0);
        const a1 = v128.load(src0, 16);
        const b0 = v128.load(src1);
        const b1 = v128.load(src1, 16);
        const at0 = i32x4.add(i32x4.splat(first), evens);
        let best = v128.shuffle<f32>(a0, a1, 0, 2, 4, 6);
        let at = at0;
        let v = v128.shuffle<f32>(a0, a1, 1, 3, 5, 7);
        let take = v128.or(f32x4.gt(v, best), f32x4.ne(v, v));
        best = v128.bitselect(v, best, take);
        at = v128.bitselect(i32x4.add(at0, i32x4.splat(1)), at, take);
        v = v128.shuffle<f32>(b0, b1, 0, 2, 4, 6);
        take = v128.or(f32x4.gt(v, best), f32x4.ne(v, v));
        best = v128.bitselect(v, best, take);
        at = v128.bitselect(i32x4.add(at0, i32x4.splat(w)), at, take);
        v = v128.shuffle<f32>(b0, b1, 1, 3, 5, 7);
        take = v128.or(f32x4.gt(v, best), f32x4.ne(v, v));
        best = v128.bitselect(v, best, take);
        at = v128.bitselect(i32x4.add(at0, i32x4.splat(w + 1)), at, take);
        v128.store(out + ((o + <usize>ox) << 2), best);
        v128.store(index + ((o + <usize>ox) << 2), at);
      }
    }
  }
}

/** One output of maxPool: the window of rows ylo … yhi − 1 and columns x0 … x0 + kw − 1 (clipped to the row) at output position o. */
function maxWindow(x: usize, base: i32, w: i32, ylo: i32, yhi: i32, x0: i32, kw: i32, out: usize, index: usize, o: usize): void {
  const xlo = max(x0, 0);
  const xhi = min(x0 + kw, w);
  let best: f32 = -Infinity;
  let at = base + ylo * w + xlo;
  for (let yy = ylo; yy < yhi; yy++) {
    const row = base + yy * w;
    for (let xx = xlo; xx < xhi; xx++) {
      const v = load<f32>(x + (<usize>(row + xx) << 2));
      const take = (v > best) | (v != v);
      best = select<f32>(v, best, take);
      at = select<i32>(row + xx, at, take);
    }
  }
  store<f32>(out + (o << 2), best);
  store<i32>(index + (o << 2), at);
}

/**
 * scatterAdd for the positions maxPool2x2 chose: the windows do not overlap, so every input position of a
 * plane [h, w] is written once, 0 + g[o] at the window's maximum and 0 at its other three and at the row and
 * column no window covers (odd h or w): scatterAdd's bits, in streaming stores. Threads claim planes.
 */
export function unpool2x2(g: usize, index: usize, planes: i32, h: i32, w: i32, ho: i32, wo: i32, out: usize, counter: usize): void {
  const evens = i32x4(0, 2, 4, 6);
  const zero = f32x4.splat(0);
  for (let p = atomic.add<i32>(counter, 1); p < planes; p = atomic.add<i32>(counter, 1)) {
    const base = p * h * w;
    for (let oy = 0; oy < ho; oy++) {
      const row0 = base + 2 * oy * w;
      const o = <usize>((p * ho + oy) * wo);
      if (wo < 4) {
        for (let ox = 0; ox < wo; ox++) {
          const at = load<i32>(index + ((o + <usize>ox) << 2));
          const v = <f32>0 + load<f32>(g + ((o + <usize>ox) << 2));
          for (let dy = 0; dy < 2; dy++) {
            for (let dx = 0; dx < 2; dx++) {
              const pos = row0 + dy * w + 2 * ox + dx;
              store<f32>(out + (<usize>pos << 2), pos == at ? v : 0);
            }
          }
        }
      } else {
        for (let ox = 0; ox < wo; ox += 4) {
          // a last part group is written as the four outputs ending at wo: some again, with the same values
          if (ox + 4 > wo) ox = wo - 4;
          const first = row0 + 2 * ox;
          const at = v128.load(index + ((o + <usize>ox) << 2));
          const v = f32x4.add(zero, v128.load(g + ((o + <usize>ox) << 2)));
          const at0 = i32x4.add(i32x4.splat(first), evens);
          const v00 = v128.and(v, i32x4.eq(at, at0));
          const v01 = v128.and(v, i32x4.eq(at, i32x4.add(at0, i32x4.splat(1))));
          const v10 = v128.and(v, i32x4.eq(at, i32x4.add(at0, i32x4.splat(w))));
          const v11 = v128.and(v, i32x4.eq(at, i32x4.add(at0, i32x4.splat(w + 1))));
          const dst0 = out + (<usize>first << 2);
          const dst1 = dst0 + (<usize>w << 2);
          v128.store(dst0, v128.shuffle<f32>(v00, v01, 0, 4, 1, 5));
          v128.store(dst0, v128.shuffle<f32>(v00, v01, 2, 6, 3, 7), 16);
          v128.store(dst1, v128.shuffle<f32>(v10, v11, 0, 4, 1, 5));
          v128.store(dst1, v128.shuffle<f32>(v10, v11, 2, 6, 3, 7), 16);
        }
      }
      // the column past the last window
      for (let x = 2 * wo; x < w; x++) {
        store<f32>(out + (<usize>(row0 + x) << 2), 0);
        store<f32>(out + (<usize>(row0 + w + x) << 2), 0);
      }
    }
    // the rows past the last window
    if (2 * ho < h) memory.fill(out + (<usize>(base + 2 * ho * w) << 2), 0, <usize>((h - 2 * ho) * w) << 2);
  }
}

/**
 * out [planes, size] = 0, then out[index[o]] += g[o] for every o in order, where the `count` outputs of
 * each plane index into that plane's `size` inputs (max pooling's backward). Threads claim planes from
 * the counter.
 */
export function scatterAdd(g: usize, index: usize, planes: i32, count: i32, size: i32, out: usize, counter: usize): void {
  for (let p = atomic.add<i32>(counter, 1); p < planes; p = atomic.add<i32>(counter, 1)) {
    memory.fill(out + (<usize>(p * size) << 2), 0, <usize>size << 2);
    for (let o = p * count, end = o + count; o < end; o++) {
      const at = out + (<usize>load<i32>(index + (<usize>o << 2)) << 2);
      store<f32>(at, load<f32>(at) + load<f32>(g + (<usize>o << 2)));
    }
  }
}
