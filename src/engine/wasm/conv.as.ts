// AssemblyScript, compiled to WebAssembly SIMD at build time (scripts/build-wasm.js).
//
// Direct 2-D cross-correlation with stride 1 (any padding, dilation, channels and kernel size), four output
// columns per SIMD lane group. No im2col: a window tap is a shifted row of the zero-padded input. The
// input gradient is the same correlation of the padded output gradient with the flipped weights, and the
// weight gradient a dot product of the output gradient with each shifted input. Arrays are byte offsets
// into this module's own memory; all float32.
//
// Shapes: xp [N, C, Hp, Wp], padded; weight [O, C, kh, kw]; output and its gradient [N, O, Ho, Wo] with
// Ho = Hp − dh·(kh − 1), Wo = Wp − dw·(kw − 1). A row's last lane group may read up to 15 floats past
// the end of its array (the caller leaves room); lanes past the row are never stored or summed.
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

/**
 * Σ over rows r and columns x < wo of the products of the floats at g + gPlane + rows[2r] + 4x and at
 * src + shift + rows[2r + 1] + 4x (all byte offsets): four-lane partial sums, one per group of 4 columns,
 * combined in a fixed order. Columns run in groups of 16, each over every row in one flat loop that keeps
 * the sums in registers; the lanes of the last group past the row's end hold products of unrelated values,
 * and are zeroed before they are added.
 */
function dot(g: usize, gPlane: usize, src: usize, shift: usize, rows: usize, count: i32, wo: i32): f32 {
  let a0 = f32x4.splat(0), a1 = a0, a2 = a0, a3 = a0;
  const end = rows + (<usize>count << 3);
  for (let x = 0; x < wo; x += 16) {
    const gx = g + gPlane + (<usize>x << 2);
    const sx = src + shift + (<usize>x << 2);
    const left = wo - x;
    if (left >= 16) {
      for (let r = rows; r < end; r += 8) {
        const gr = gx + <usize>load<i32>(r);
        const xr = sx + <usize>load<i32>(r, 4);
        a0 = f32x4.add(a0, f32x4.mul(v128.load(gr), v128.load(xr)));
        a1 = f32x4.add(a1, f32x4.mul(v128.load(gr, 16), v128.load(xr, 16)));
        a2 = f32x4.add(a2, f32x4.mul(v128.load(gr, 32), v128.load(xr, 32)));
        a3 = f32x4.add(a3, f32x4.mul(v128.load(gr, 48), v128.load(xr, 48)));
      }
    } else {
      const m0 = mask(left), m1 = mask(left - 4), m2 = mask(left - 8), m3 = mask(left - 12);
      for (let r = rows; r < end; r += 8) {
        const gr = gx + <usize>load<i32>(r);
        const xr = sx + <usize>load<i32>(r, 4);
        a0 = f32x4.add(a0, v128.and(f32x4.mul(v128.load(gr), v128.load(xr)), m0));
        a1 = f32x4.add(a1, v128.and(f32x4.mul(v128.load(gr, 16), v128.load(xr, 16)), m1));
        a2 = f32x4.add(a2, v128.and(f32x4.mul(v128.load(gr, 32), v128.load(xr, 32)), m2));
        a3 = f32x4.add(a3, v128.and(f32x4.mul(v128.load(gr, 48), v128.load(xr, 48)), m3));
      }
    }
  }
  return lanes(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)));
}

/** All-ones lanes for the first `valid` (clamped to 0–4) lanes, zeros after. */
function mask(valid: i32): v128 {
  return i32x4.lt_s(i32x4(0, 1, 2, 3), i32x4.splat(valid));
}

/**
 * dweight[oc, ch, i, j] = Σ g[b, oc, y, x]·xp[b, ch, y + i·dh, x + j·dw] and, when hasBias,
 * dbias[oc] = Σ g[b, oc, y, x]; `ones` is an Ho×Wo plane of ones (the bias goes through the same sum),
 * `rows` room for 4·N·Ho i32s.
 */
export function weightGrad(
  xp: usize, n: i32, c: i32, hp: i32, wp: i32,
  g: usize, o: i32, kh: i32, kw: i32, dh: i32, dw: i32,
  dweight: usize, dbias: usize, hasBias: bool, ones: usize, rows: usize,
): void {
  const ho = hp - dh * (kh - 1);
  const wo = wp - dw * (kw - 1);
  // byte offsets of every (b, y) row: in g (plane oc = 0) and in xp (plane ch = 0); then in g and in ones
  const count = n * ho;
  const onesRows = rows + (<usize>count << 3);
  for (let b = 0; b < n; b++) {
    for (let y = 0; y < ho; y++) {
      const r = <usize>(b * ho + y) << 3;
      const gRow = ((b * o * ho + y) * wo) << 2;
      store<i32>(rows + r, gRow);
      store<i32>(rows + r, ((b * c * hp + y) * wp) << 2, 4);
      store<i32>(onesRows + r, gRow);
      store<i32>(onesRows + r, (y * wo) << 2, 4);
    }
  }
  const gPlane = <usize>ho * wo * 4;
  let t = 0;
  for (let oc = 0; oc < o; oc++) {
    for (let ch = 0; ch < c; ch++) {
      for (let i = 0; i < kh; i++) {
        for (let j = 0; j < kw; j++, t++) {
          const shift = <usize>((ch * hp + i * dh) * wp + j * dw) << 2;
          store<f32>(dweight + (<usize>t << 2), dot(g, <usize>oc * gPlane, xp, shift, rows, count, wo));
        }
      }
    }
    if (hasBias) store<f32>(dbias + (<usize>oc << 2), dot(g, <usize>oc * gPlane, ones, 0, onesRows, count, wo));
  }
}
