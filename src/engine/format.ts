import type { Tensor } from './tensor';
import { formatShape } from './shape';

/** Above this many elements, printing shows only the first and last EDGE entries of each dimension. */
const SUMMARY_THRESHOLD = 1000;
const EDGE = 3;

interface NumberStyle {
  format(v: number): string;
}

/**
 * Chooses one style for all values, as PyTorch does: integers print as `1.`, moderate magnitudes with four
 * decimals, and very large or small ones in scientific notation. `-0` prints with its sign.
 */
function chooseStyle(values: ArrayLike<number>, isInt: boolean): NumberStyle {
  if (isInt) return { format: (v) => String(v) };
  let allIntegers = true;
  let maxAbs = 0;
  let minAbs = Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isFinite(v)) continue;
    if (!Number.isInteger(v)) allIntegers = false;
    const a = Math.abs(v);
    if (a > maxAbs) maxAbs = a;
    if (a !== 0 && a < minAbs) minAbs = a;
  }
  const sign = (v: number, s: string): string => (Object.is(v, -0) ? `-${s}` : s);
  const special = (v: number): string | null => (Number.isNaN(v) ? 'nan' : v === Infinity ? 'inf' : v === -Infinity ? '-inf' : null);
  if (allIntegers && maxAbs < 1e8) return { format: (v) => special(v) ?? sign(v, `${v}.`) };
  if (maxAbs >= 1e4 || (minAbs < 1e-4 && minAbs !== Infinity)) {
    return { format: (v) => special(v) ?? sign(v, v.toExponential(4)) };
  }
  return { format: (v) => special(v) ?? sign(v, v.toFixed(4)) };
}

/** Indices to show along a dimension of length n: all of them, or the edges around a `null` gap. */
function shownIndices(n: number, summarize: boolean): (number | null)[] {
  if (!summarize || n <= 2 * EDGE) return Array.from({ length: n }, (_, i) => i);
  return [...Array.from({ length: EDGE }, (_, i) => i), null, ...Array.from({ length: EDGE }, (_, i) => n - EDGE + i)];
}

/** `tensor([[1., 2.], [3., 4.]], dtype=float32)`-style text, with large tensors summarised. */
export function formatTensor(t: Tensor): string {
  const data = t.dataSync();
  const summarize = t.size > SUMMARY_THRESHOLD;
  const style = chooseStyle(data, t.dtype === 'int32');
  const cells: string[] = [];
  const strides: number[] = [];
  let s = 1;
  for (let d = t.ndim - 1; d >= 0; d--) {
    strides[d] = s;
    s *= t.shape[d];
  }
  // first pass: formatted values, to pad every entry to one width
  const walk = (dim: number, base: number, visit: (v: number) => void): void => {
    if (dim === t.ndim) return visit(data[base]);
    for (const i of shownIndices(t.shape[dim], summarize)) if (i !== null) walk(dim + 1, base + i * strides[dim], visit);
  };
  walk(0, 0, (v) => cells.push(style.format(v)));
  const width = cells.reduce((w, c) => Math.max(w, c.length), 0);
  const indent = 'tensor('.length;
  const render = (dim: number, base: number): string => {
    if (dim === t.ndim) return style.format(data[base]).padStart(width);
    const parts = shownIndices(t.shape[dim], summarize).map((i) => (i === null ? '...' : render(dim + 1, base + i * strides[dim])));
    if (dim === t.ndim - 1) return `[${parts.join(', ')}]`;
    const sep = `,${'\n'.repeat(t.ndim - dim - 1)}${' '.repeat(indent + dim + 1)}`;
    return `[${parts.join(sep)}]`;
  };
  const body = t.size === 0 ? `[]` : render(0, 0);
  const extras = [`shape=${formatShape(t.shape)}`, `dtype=${t.dtype}`];
  if (t.node !== null) extras.push(`gradFn=${t.node.op}`);
  else if (t.requiresGrad) extras.push('requiresGrad=true');
  return `tensor(${body}, ${extras.join(', ')})`;
}

function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** An HTML table of a tensor: a caption with shape and dtype, then rows (2-D slices for higher ranks). */
export function tensorToHtml(t: Tensor): string {
  const data = t.dataSync();
  const style = chooseStyle(data, t.dtype === 'int32');
  const caption = `Tensor ${escapeHtml(formatShape(t.shape))} ${t.dtype}${t.node !== null ? ` · gradFn=${escapeHtml(t.node.op)}` : t.requiresGrad ? ' · requiresGrad' : ''}`;
  const cellStyle = 'style="text-align:right;font-family:monospace;padding:1px 6px"';
  const ellipsis = `<td ${cellStyle}>⋯</td>`;
  const table = (rows: number, cols: number, at: (r: number, c: number) => number, label?: string): string => {
    const rs = shownIndices(rows, rows > 2 * EDGE + 4);
    const cs = shownIndices(cols, cols > 2 * EDGE + 6);
    const body = rs
      .map((r) =>
        r === null
          ? `<tr>${cs.map(() => `<td ${cellStyle}>⋮</td>`).join('')}</tr>`
          : `<tr>${cs.map((c) => (c === null ? ellipsis : `<td ${cellStyle}>${style.format(at(r, c))}</td>`)).join('')}</tr>`,
      )
      .join('');
    const head = label === undefined ? '' : `<caption style="text-align:left;font-family:monospace">${escapeHtml(label)}</caption>`;
    return `<table style="border-collapse:collapse;margin:2px 0">${head}${body}</table>`;
  };
  const header = `<div style="font-family:monospace;color:#555">${caption}</div>`;
  if (t.size === 0) return `<div class="relulab-tensor">${header}<div>(empty)</div></div>`;
  if (t.ndim === 0) return `<div class="relulab-tensor">${header}${table(1, 1, () => data[0])}</div>`;
  if (t.ndim === 1) return `<div class="relulab-tensor">${header}${table(1, t.shape[0], (_r, c) => data[c])}</div>`;
  const rows = t.shape[t.ndim - 2];
  const cols = t.shape[t.ndim - 1];
  const lead = t.shape.slice(0, -2);
  const count = lead.reduce((a, b) => a * b, 1);
  const slices = shownIndices(count, count > 4).map((k) => {
    if (k === null) return '<div style="font-family:monospace">⋮</div>';
    const index: number[] = [];
    let rest = k;
    for (let d = lead.length - 1; d >= 0; d--) {
      index[d] = rest % lead[d];
      rest = Math.floor(rest / lead[d]);
    }
    const label = lead.length === 0 ? undefined : `[${index.join(', ')}, :, :]`;
    return table(rows, cols, (r, c) => data[k * rows * cols + r * cols + c], label);
  });
  return `<div class="relulab-tensor">${header}${slices.join('')}</div>`;
}
