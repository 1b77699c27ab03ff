// AssemblyScript, compiled to WebAssembly SIMD at build time (scripts/build-wasm.js).
//
// Single-precision GEMM, shared between threads that take blocks of C from a counter (sgemmShared); each
// block in the GotoBLAS/BLIS layout: B is packed into KC×NR panels and
// A into MC×KC blocks of MR-row panels, so the micro-kernel streams both from L1/L2 while an MR×NR tile of C
// stays in registers (9 v128 accumulators; three A broadcasts and three B vectors per k step).
//
// Why 3×12: V8 loads all of a step's operands before its multiply-adds, so a tile needs its accumulators
// plus every operand of a step in the 15 vector registers it allocates: 3×12 (9 + 6) and 4×8 (8 + 6) fit,
// larger tiles spill. 3×12 issues 18 instructions per 9 multiply-adds, where 4×8 with a step counter
// issued 18 per 8 (loads and loop upkeep included). On an idle core both reach the multiply-add limit; in
// this host's busy minutes the issue rate sets the pace (most likely the core's other hardware thread
// taking its share of the issue slots): 3×12 then ran at 87 % of the limit loop measured alongside, 4×8
// at 78 % (one core, median of 60 alternations).
//
// Operands are strided: element (i, p) of A is at a + 4·(i·ars + p·acs), element (p, j) of B at
// b + 4·(p·brs + j·bcs), so transposed views need no copy (packing transposes blocks with shuffles).
// C is row-major with leading dimension ldc.
// Each element of C is summed in the same order whatever block a thread computes, so results do not
// depend on the number of threads.
//
// Built twice: gemm.wasm with a multiply and an add per step, and gemm-fma.wasm (--enable relaxed-simd)
// with fused multiply-adds, which the loader uses only where the CPU really fuses them.

// MR, NR and MC are exported (immutable globals): gemm.ts claims rows and columns of C in whole tiles, and
// rows in whole blocks of A, from them.
export const MR: i32 = 3;
export const NR: i32 = 12;
const KC: i32 = 256;
export const MC: i32 = 66;
const NC: i32 = 516;

/** Bytes of packing space one thread needs: an MC×KC block of A, a KC×NC panel of B and an edge tile. */
export function scratchBytes(): i32 {
  return (MC * KC + KC * NC + MR * NR) * 4;
}

/**
 * Four vectors v0..v3 (rows) written as their transpose: the four columns, one after another at out.
 * Packing reads rows of a row-major A (or columns of a transposed B) four at a time this way.
 */
// @ts-ignore: decorator
@inline
function storeTransposed(v0: v128, v1: v128, v2: v128, v3: v128, out: usize, stride: usize): void {
  const t0 = v128.shuffle<u32>(v0, v1, 0, 4, 1, 5);
  const t1 = v128.shuffle<u32>(v2, v3, 0, 4, 1, 5);
  const t2 = v128.shuffle<u32>(v0, v1, 2, 6, 3, 7);
  const t3 = v128.shuffle<u32>(v2, v3, 2, 6, 3, 7);
  v128.store(out, v128.shuffle<u32>(t0, t1, 0, 1, 4, 5));
  v128.store(out + stride, v128.shuffle<u32>(t0, t1, 2, 3, 6, 7));
  v128.store(out + 2 * stride, v128.shuffle<u32>(t2, t3, 0, 1, 4, 5));
  v128.store(out + 3 * stride, v128.shuffle<u32>(t2, t3, 2, 3, 6, 7));
}

function packA(a: usize, ars: i32, acs: i32, i0: i32, mc: i32, p0: i32, kc: i32, dst: usize): void {
  for (let ip = 0; ip < mc; ip += MR) {
    const rows = min(MR, mc - ip);
    const panel = dst + <usize>(ip * kc) * 4;
    let p = 0;
    if (rows == MR && acs == 1) {
      // row-major A: four values of each of the three rows, interleaved into four steps of the panel
      const row = <usize>ars * 4;
      for (; p + 4 <= kc; p += 4) {
        const src = a + <usize>((i0 + ip) * ars + p0 + p) * 4;
        const v0 = v128.load(src);
        const v1 = v128.load(src + row);
        const v2 = v128.load(src + 2 * row);
        const t = v128.shuffle<u32>(v0, v1, 0, 4, 1, 5); // v0.0 v1.0 v0.1 v1.1
        const u = v128.shuffle<u32>(v0, v1, 2, 6, 3, 7); // v0.2 v1.2 v0.3 v1.3
        const out = panel + <usize>(p * MR) * 4;
        v128.store(out, v128.shuffle<u32>(t, v2, 0, 1, 4, 2)); // v0.0 v1.0 v2.0 v0.1
        v128.store(out, v128.shuffle<u32>(v128.shuffle<u32>(t, v2, 3, 5, 3, 5), u, 0, 1, 4, 5), 16); // v1.1 v2.1 v0.2 v1.2
        v128.store(out, v128.shuffle<u32>(v2, u, 2, 6, 7, 3), 32); // v2.2 v0.3 v1.3 v2.3
      }
    }
    for (; p < kc; p++) {
      const out = panel + <usize>(p * MR) * 4;
      const src = a + <usize>((i0 + ip) * ars + (p0 + p) * acs) * 4;
      for (let r = 0; r < MR; r++) {
        store<f32>(out + <usize>r * 4, r < rows ? load<f32>(src + <usize>(r * ars) * 4) : 0);
      }
    }
  }
}

function packB(b: usize, brs: i32, bcs: i32, p0: i32, kc: i32, j0: i32, nc: i32, dst: usize): void {
  for (let jp = 0; jp < nc; jp += NR) {
    const cols = min(NR, nc - jp);
    const panel = dst + <usize>(jp * kc) * 4;
    let p = 0;
    if (cols == NR && brs == 1) {
      // transposed B: four values down each of the twelve columns, transposed into four steps of the panel
      const col = <usize>bcs * 4;
      for (; p + 4 <= kc; p += 4) {
        const out = panel + <usize>(p * NR) * 4;
        for (let q = 0; q < NR; q += 4) {
          const src = b + <usize>(p0 + p + (j0 + jp + q) * bcs) * 4;
          storeTransposed(v128.load(src), v128.load(src + col), v128.load(src + 2 * col), v128.load(src + 3 * col), out + <usize>q * 4, NR * 4);
        }
      }
    }
    for (; p < kc; p++) {
      const out = panel + <usize>(p * NR) * 4;
      const src = b + <usize>((p0 + p) * brs + (j0 + jp) * bcs) * 4;
      if (cols == NR && bcs == 1) {
        v128.store(out, v128.load(src));
        v128.store(out, v128.load(src, 16), 16);
        v128.store(out, v128.load(src, 32), 32);
      } else {
        for (let c = 0; c < NR; c++) {
          store<f32>(out + <usize>c * 4, c < cols ? load<f32>(src + <usize>(c * bcs) * 4) : 0);
        }
      }
    }
  }
}

/** c + a·b: fused in the relaxed-SIMD build, a multiply and an add otherwise. */
// @ts-ignore: decorator
@inline
function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(c, f32x4.mul(a, b));
}

/** a·b + c on one lane: nonzero for (1 + 2⁻²³)·(1 − 2⁻²³) − 1 only when the multiply-add is fused. */
export function fusedProbe(a: f32, b: f32, c: f32): f32 {
  return f32x4.extract_lane(madd(f32x4.splat(a), f32x4.splat(b), f32x4.splat(c)), 0);
}

/** Stores a row of a tile (its first nv vectors) at c: x, or x plus what c holds unless first. */
// @ts-ignore: decorator
@inline
function storeRow(c: usize, x0: v128, x1: v128, x2: v128, first: bool, nv: i32): void {
  if (!first) x0 = f32x4.add(x0, v128.load(c));
  v128.store(c, x0);
  if (nv > 1) {
    if (!first) x1 = f32x4.add(x1, v128.load(c, 16));
    v128.store(c, x1, 16);
  }
  if (nv > 2) {
    if (!first) x2 = f32x4.add(x2, v128.load(c, 32));
    v128.store(c, x2, 32);
  }
}

/**
 * The MR×(4·nv) tile at c (leading dimension ldc, in floats): tile = (first ? 0 : tile) + Apanel·Bpanel,
 * where element (r, p) of the A panel is at pa + r·aRow + p·aStep and the values of step p of the B panel
 * at pb + p·bStep (bytes): packed panels, or the operands themselves when they are small. `nv` (1 to 3,
 * the B vectors per step) and `packed` (A packed: aRow 4, aStep MR·4, read at constant offsets) are
 * constants where it is inlined, so each use compiles to its own loop.
 */
// @ts-ignore: decorator
@inline
function micro(kc: i32, pa: usize, aRow: usize, aStep: usize, pb: usize, bStep: usize, c: usize, ldc: i32, first: bool, nv: i32, packed: bool): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c02 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0), c12 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0), c22 = f32x4.splat(0);
  // one comparison per step, against the end of the B panel (no step counter)
  const end = pb + <usize>kc * bStep;
  while (pb < end) {
    const b0 = v128.load(pb);
    const b1 = nv > 1 ? v128.load(pb, 16) : b0;
    const b2 = nv > 2 ? v128.load(pb, 32) : b0;
    const a0 = v128.load32_splat(pa);
    const a1 = packed ? v128.load32_splat(pa, 4) : v128.load32_splat(pa + aRow);
    const a2 = packed ? v128.load32_splat(pa, 8) : v128.load32_splat(pa + 2 * aRow);
    c00 = madd(a0, b0, c00);
    if (nv > 1) c01 = madd(a0, b1, c01);
    if (nv > 2) c02 = madd(a0, b2, c02);
    c10 = madd(a1, b0, c10);
    if (nv > 1) c11 = madd(a1, b1, c11);
    if (nv > 2) c12 = madd(a1, b2, c12);
    c20 = madd(a2, b0, c20);
    if (nv > 1) c21 = madd(a2, b1, c21);
    if (nv > 2) c22 = madd(a2, b2, c22);
    pa += packed ? <usize>(MR * 4) : aStep;
    pb += bStep;
  }
  const row = <usize>ldc * 4;
  storeRow(c, c00, c01, c02, first, nv);
  storeRow(c + row, c10, c11, c12, first, nv);
  storeRow(c + 2 * row, c20, c21, c22, first, nv);
}

/**
 * An edge tile (fewer than MR rows or NR columns): the product of the panels for the first `cols` columns,
 * in as many B vectors as they need, into the NR-wide scratch tile, then added (or, when first, copied)
 * to C at dst. Panels as for micro, A read at variable offsets.
 */
function edgeTile(kc: i32, pa: usize, aRow: usize, aStep: usize, pb: usize, bStep: usize, tile: usize, dst: usize, ldc: i32, rows: i32, cols: i32, first: bool): void {
  if (cols > 8) micro(kc, pa, aRow, aStep, pb, bStep, tile, NR, true, 3, false);
  else if (cols > 4) micro(kc, pa, aRow, aStep, pb, bStep, tile, NR, true, 2, false);
  else micro(kc, pa, aRow, aStep, pb, bStep, tile, NR, true, 1, false);
  flushEdge(tile, dst, ldc, rows, cols, first);
}

/** Adds (or, when first, copies) the rows×cols corner of the NR-wide scratch tile to C at dst. */
function flushEdge(tile: usize, dst: usize, ldc: i32, rows: i32, cols: i32, first: bool): void {
  for (let r = 0; r < rows; r++) {
    for (let q = 0; q < cols; q++) {
      const out = dst + <usize>(r * ldc + q) * 4;
      const v = load<f32>(tile + <usize>(r * NR + q) * 4);
      store<f32>(out, first ? v : load<f32>(out) + v);
    }
  }
}

/**
 * Products of at most SMALL multiply-adds with k ≤ KC and a row-major B run on the operands in place: the
 * tiles fit in L1, so packing would cost more than it saves. Each element is summed in the same order as
 * by the packed path (one pass over k), so results are the same.
 */
const SMALL: i32 = 1 << 18;

/**
 * The depth of each pass over k: k in equal passes of at most KC (a multiple of 4), not KC, KC, … and a
 * short remainder, so that each pass reads and writes the tiles of C once.
 */
function passDepth(k: i32): i32 {
  const passes = (k + KC - 1) / KC;
  return ((k + passes - 1) / passes + 3) & ~3;
}

/**
 * All of B packed at `dst` (k × n rounded up to whole panels): the panels of columns jc… (a block of at most
 * NC) and rows pc… (a pass) at dst + 4·(jc·k + pc·ncPadded), as sgemm reads them when given `packedB`.
 */
function packAllB(b: usize, brs: i32, bcs: i32, k: i32, n: i32, dst: usize): void {
  const kcBlock = passDepth(k);
  for (let jc = 0; jc < n; jc += NC) {
    const nc = min(NC, n - jc);
    for (let pc = 0; pc < k; pc += kcBlock) {
      packB(b, brs, bcs, pc, min(kcBlock, k - pc), jc, nc, dst + <usize>(jc * k + pc * ((nc + NR - 1) / NR) * NR) * 4);
    }
  }
}

/**
 * C[i0:i1, j0:j1] = A[i0:i1, :]·B[:, j0:j1], using `scratch` (scratchBytes() bytes) for packing, and B as
 * packAllB left it at `packedB` unless that is 0.
 */
function sgemm(
  a: usize, ars: i32, acs: i32,
  b: usize, brs: i32, bcs: i32,
  c: usize, ldc: i32,
  k: i32, i0: i32, i1: i32, j0: i32, j1: i32, inPlaceA: bool, scratch: usize, packedB: usize,
): void {
  const pa = scratch;
  const pb = pa + <usize>(MC * KC) * 4;
  const tile = pb + <usize>(KC * NC) * 4;
  if (bcs == 1 && k <= KC && (i1 - i0) * (j1 - j0) * k <= SMALL) {
    // in place: edge tiles read past the operands' last rows and columns (into memory the caller
    // reserved), and only the valid corner is kept
    for (let j = j0; j < j1; j += NR) {
      const cols = min(NR, j1 - j);
      for (let i = i0; i < i1; i += MR) {
        const rows = min(MR, i1 - i);
        const panelA = a + <usize>(i * ars) * 4;
        const panelB = b + <usize>j * 4;
        const dst = c + <usize>(i * ldc + j) * 4;
        if (rows == MR && cols == NR) micro(k, panelA, <usize>ars * 4, <usize>acs * 4, panelB, <usize>brs * 4, dst, ldc, true, 3, false);
        else edgeTile(k, panelA, <usize>ars * 4, <usize>acs * 4, panelB, <usize>brs * 4, tile, dst, ldc, rows, cols, true);
      }
    }
    return;
  }
  const kcBlock = passDepth(k);
  for (let jc = j0; jc < j1; jc += NC) {
    const nc = min(NC, j1 - jc);
    for (let pc = 0; pc < k; pc += kcBlock) {
      const kc = min(kcBlock, k - pc);
      const first = pc == 0;
      let panels = pb;
      if (packedB != 0) panels = packedB + <usize>(jc * k + pc * ((nc + NR - 1) / NR) * NR) * 4;
      else packB(b, brs, bcs, pc, kc, jc, nc, pb);
      for (let ic = i0; ic < i1; ic += MC) {
        const mc = min(MC, i1 - ic);
        // A in place: only a last panel of fewer than MR rows is packed (padded with zeros), at pa
        const whole = inPlaceA ? mc - mc % MR : 0;
        packA(a, ars, acs, ic + whole, mc - whole, pc, kc, pa);
        for (let jr = 0; jr < nc; jr += NR) {
          const cols = min(NR, nc - jr);
          const panelB = panels + <usize>(jr * kc) * 4;
          let ir = 0;
          for (; ir < whole; ir += MR) {
            const panelA = a + <usize>((ic + ir) * ars + pc * acs) * 4;
            const dst = c + <usize>((ic + ir) * ldc + jc + jr) * 4;
            if (cols == NR) micro(kc, panelA, <usize>ars * 4, <usize>acs * 4, panelB, NR * 4, dst, ldc, first, 3, false);
            else edgeTile(kc, panelA, <usize>ars * 4, <usize>acs * 4, panelB, NR * 4, tile, dst, ldc, MR, cols, first);
          }
          for (; ir < mc; ir += MR) {
            const rows = min(MR, mc - ir);
            const dst = c + <usize>((ic + ir) * ldc + jc + jr) * 4;
            const panelA = pa + <usize>((ir - whole) * kc) * 4;
            if (rows == MR && cols == NR) micro(kc, panelA, 4, MR * 4, panelB, NR * 4, dst, ldc, first, 3, true);
            else edgeTile(kc, panelA, 4, MR * 4, panelB, NR * 4, tile, dst, ldc, rows, cols, first);
          }
        }
      }
    }
  }
}

/**
 * The whole product C = A·B (m×n), shared between threads: each thread that calls this claims the next
 * rows (byRows) or columns of C from the counter at `counter` (the first not yet claimed) until none are
 * left. A claim is a share of what is left (1/parts of it, in whole tiles), never less than `least`
 * rows or columns: large first, small toward the end, so that no thread is left waiting long on another's
 * last claim. Each claim is computed by sgemm, and an element of C is summed in the same order whoever
 * computes it, so the result depends neither on the thread count nor on who claimed what.
 *
 * When C is split by columns, every claim reads all of A: a dense A is then read in place, not packed again
 * for each claim. When it is split by rows, every claim reads all of B: given `packedB` (room for packAllB),
 * a thread packs all of B there once, before its first claim, so that claims can be small.
 */
export function sgemmShared(
  a: usize, ars: i32, acs: i32,
  b: usize, brs: i32, bcs: i32,
  c: usize, m: i32, k: i32, n: i32,
  byRows: bool, least: i32, parts: i32, counter: usize, scratch: usize, packedB: usize,
): void {
  const extent = byRows ? m : n;
  const unit = byRows ? MR : NR;
  const inPlaceA = !byRows && (acs == 1 || ars == 1);
  let packed = false;
  for (;;) {
    const lo = atomic.load<i32>(counter);
    if (lo >= extent) break;
    const share = ((extent - lo + parts * unit - 1) / (parts * unit)) * unit;
    const hi = min(extent, lo + max(least, share));
    if (atomic.cmpxchg<i32>(counter, lo, hi) != lo) continue;
    if (packedB != 0 && !packed) {
      packAllB(b, brs, bcs, k, n, packedB);
      packed = true;
    }
    if (byRows) sgemm(a, ars, acs, b, brs, bcs, c, n, k, lo, hi, 0, n, false, scratch, packedB);
    else sgemm(a, ars, acs, b, brs, bcs, c, n, k, 0, m, lo, hi, inPlaceA, scratch, 0);
  }
}
