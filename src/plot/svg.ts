/**
 * A static SVG renderer for the figures relulab builds (scatter lines and markers, bars, heatmaps and
 * contours, subplots), so every chart has an image that needs no browser and no network.
 */
import type { Axis, Figure, Trace } from './figure';

export const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const fmt = (v: number) => (Math.abs(v) >= 1e4 || (Math.abs(v) < 1e-3 && v !== 0) ? v.toExponential(1) : String(Number(v.toPrecision(4))));

/** About five round tick values covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const ticks: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) ticks.push(Math.abs(t) < step * 1e-9 ? 0 : t);
  return ticks;
}

interface Panel {
  xKey: string;
  yKey: string;
  x: Axis;
  y: Axis;
  traces: Trace[];
}

const axisKey = (ref: string | undefined, letter: 'x' | 'y') => (ref === undefined || ref === letter ? `${letter}axis` : `${letter}axis${ref.slice(1)}`);

function numbers(values: readonly unknown[] | undefined): number[] {
  return (values ?? []).filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
}

function extent(values: number[], log: boolean): [number, number] {
  const vs = log ? values.filter((v) => v > 0).map(Math.log10) : values;
  if (vs.length === 0) return [0, 1];
  let lo = Math.min(...vs);
  let hi = Math.max(...vs);
  if (lo === hi) {
    lo -= 0.5;
    hi += 0.5;
  }
  const pad = (hi - lo) * 0.04;
  return [lo - pad, hi + pad];
}

function colorAt(scale: string, t: number): string {
  const u = Math.max(0, Math.min(1, Number.isFinite(t) ? t : 0));
  if (scale === 'Greys' || scale === 'gray') {
    const g = Math.round(255 * (1 - u));
    return `rgb(${g},${g},${g})`;
  }
  // a viridis-like ramp: dark blue → teal → yellow
  const stops = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
  const p = u * (stops.length - 1);
  const i = Math.min(Math.floor(p), stops.length - 2);
  const f = p - i;
  const c = stops[i].map((v, k) => Math.round(v + (stops[i + 1][k] - v) * f));
  return `rgb(${c.join(',')})`;
}

/** Renders a figure as a standalone SVG document. */
export function renderSvg(fig: Figure): string {
  const width = fig.layout.width ?? 720;
  const height = fig.layout.height ?? 420;
  const top = fig.layout.title ? 40 : 16;
  const names = fig.data.filter((t) => t.name && t.showlegend !== false);
  const legend = fig.layout.showlegend !== false && names.length > 1;
  const right = legend ? 150 : 16;
  const plotW = width - 60 - right;
  const plotH = height - top - 50;
  const panels = new Map<string, Panel>();
  for (const t of fig.data) {
    const xKey = axisKey(t.xaxis, 'x');
    const yKey = axisKey(t.yaxis, 'y');
    const key = `${xKey}/${yKey}`;
    if (!panels.has(key)) panels.set(key, { xKey, yKey, x: (fig.layout[xKey] as Axis) ?? {}, y: (fig.layout[yKey] as Axis) ?? {}, traces: [] });
    panels.get(key)!.traces.push(t);
  }
  const parts: string[] = [];
  parts.push(`<rect width="${width}" height="${height}" fill="#fff"/>`);
  if (fig.layout.title) parts.push(`<text x="${width / 2}" y="24" text-anchor="middle" font-size="16" font-weight="600">${esc(fig.layout.title.text)}</text>`);
  let colorIndex = 0;
  const colors = new Map<Trace, string>();
  for (const t of fig.data) {
    const explicit = (t.line as { color?: string } | undefined)?.color ?? (t.marker as { color?: unknown } | undefined)?.color;
    colors.set(t, typeof explicit === 'string' ? explicit : PALETTE[colorIndex++ % PALETTE.length]);
  }
  for (const panel of panels.values()) {
    const [dx0, dx1] = panel.x.domain ?? [0, 1];
    const [dy0, dy1] = panel.y.domain ?? [0, 1];
    const left = 60 + dx0 * plotW;
    const w = (dx1 - dx0) * plotW - (dx1 < 1 ? 40 : 0);
    const bottom = top + (1 - dy0) * plotH;
    const h = (dy1 - dy0) * plotH - (dy1 < 1 ? 40 : 0);
    const yTop = bottom - h;
    const logX = panel.x.type === 'log';
    const logY = panel.y.type === 'log';
    const xs = panel.traces.flatMap((t) => numbers(t.x));
    const ys = panel.traces.flatMap((t) => (t.type === 'bar' ? [0, ...numbers(t.y)] : numbers(t.y)));
    const heat = panel.traces.find((t) => t.type === 'heatmap' || t.type === 'contour');
    if (heat?.z) {
      const zx = heat.x ? numbers(heat.x) : [0, heat.z[0].length - 1];
      const zy = heat.y ? numbers(heat.y) : [0, heat.z.length - 1];
      xs.push(Math.min(...zx), Math.max(...zx));
      ys.push(Math.min(...zy), Math.max(...zy));
    }
    const categorical = panel.traces.some((t) => t.type === 'bar' && (t.x ?? []).some((v) => typeof v === 'string'));
    const cats = categorical ? [...new Set(panel.traces.flatMap((t) => (t.x ?? []).map(String)))] : [];
    const [x0, x1] = panel.x.range ?? (categorical ? [-0.5, cats.length - 0.5] : extent(xs, logX));
    let [y0, y1] = panel.y.range ?? extent(ys, logY);
    if (heat && panel.y.autorange === 'reversed') [y0, y1] = [y1, y0];
    const sx = (v: number) => left + ((logX ? Math.log10(v) : v) - x0) / (x1 - x0) * w;
    const sy = (v: number) => bottom - ((logY ? Math.log10(v) : v) - y0) / (y1 - y0) * h;
    parts.push(`<rect x="${left}" y="${yTop}" width="${w}" height="${h}" fill="#fafafa" stroke="#ccc"/>`);
    // ticks and grid (not for hidden axes, e.g. image grids)
    const xTicks = categorical ? cats.map((_, i) => i) : niceTicks(x0, x1);
    for (const t of panel.x.visible === false ? [] : xTicks) {
      const px = categorical ? left + ((t - x0) / (x1 - x0)) * w : left + ((t - x0) / (x1 - x0)) * w;
      const label = categorical ? cats[t] : logX ? fmt(10 ** t) : fmt(t);
      parts.push(`<line x1="${px}" y1="${yTop}" x2="${px}" y2="${bottom}" stroke="#eee"/><text x="${px}" y="${bottom + 14}" text-anchor="middle" font-size="10">${esc(label)}</text>`);
    }
    for (const t of panel.y.visible === false ? [] : niceTicks(Math.min(y0, y1), Math.max(y0, y1))) {
      const py = bottom - ((t - y0) / (y1 - y0)) * h;
      parts.push(`<line x1="${left}" y1="${py}" x2="${left + w}" y2="${py}" stroke="#eee"/><text x="${left - 4}" y="${py + 3}" text-anchor="end" font-size="10">${esc(logY ? fmt(10 ** t) : fmt(t))}</text>`);
    }
    if (panel.x.title) parts.push(`<text x="${left + w / 2}" y="${bottom + 32}" text-anchor="middle" font-size="12">${esc(panel.x.title.text)}</text>`);
    if (panel.y.title) parts.push(`<text transform="translate(${left - 40},${yTop + h / 2}) rotate(-90)" text-anchor="middle" font-size="12">${esc(panel.y.title.text)}</text>`);
    const clip = `clip-${panel.xKey}-${panel.yKey}`;
    parts.push(`<clipPath id="${clip}"><rect x="${left}" y="${yTop}" width="${w}" height="${h}"/></clipPath><g clip-path="url(#${clip})">`);
    for (const t of panel.traces) {
      const color = colors.get(t)!;
      if ((t.type === 'heatmap' || t.type === 'contour') && t.z) {
        const z = t.z;
        const flat = z.flat().filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
        const zmin = (t.zmin as number | undefined) ?? Math.min(...flat);
        const zmax = (t.zmax as number | undefined) ?? Math.max(...flat);
        const scale = typeof t.colorscale === 'string' ? t.colorscale : 'Viridis';
        const xv = t.x ? numbers(t.x) : z[0].map((_, j) => j);
        const yv = t.y ? numbers(t.y) : z.map((_, i) => i);
        const cw = Math.abs(sx(xv[Math.min(1, xv.length - 1)]) - sx(xv[0])) || w / z[0].length;
        const ch = Math.abs(sy(yv[Math.min(1, yv.length - 1)]) - sy(yv[0])) || h / z.length;
        z.forEach((row, i) =>
          row.forEach((v, j) => {
            if (v === null || !Number.isFinite(v)) return;
            parts.push(`<rect x="${(sx(xv[j]) - cw / 2).toFixed(2)}" y="${(sy(yv[i]) - ch / 2).toFixed(2)}" width="${(cw + 0.5).toFixed(2)}" height="${(ch + 0.5).toFixed(2)}" fill="${colorAt(scale, (v - zmin) / (zmax - zmin || 1))}"/>`);
          }),
        );
      } else if (t.type === 'bar') {
        const n = (t.y ?? []).length;
        const bw = (w / Math.max(n, 1)) * 0.8;
        (t.y ?? []).forEach((v, i) => {
          if (typeof v !== 'number') return;
          const xv = t.x?.[i];
          const cx = categorical ? sx(cats.indexOf(String(xv))) : sx(typeof xv === 'number' ? xv : i);
          const base = logY ? sy(10 ** y0) : sy(0);
          parts.push(`<rect x="${(cx - bw / 2).toFixed(2)}" y="${Math.min(sy(v), base).toFixed(2)}" width="${bw.toFixed(2)}" height="${Math.abs(base - sy(v)).toFixed(2)}" fill="${color}" opacity="0.85"/>`);
        });
      } else {
        const mode = t.mode ?? 'lines';
        // on a categorical axis (bars with labels) points sit at their category's index
        const pts = (t.x ?? []).map((xv, i) => [categorical && typeof xv === 'string' ? cats.indexOf(xv) : xv, t.y?.[i]] as const);
        if (mode.includes('lines')) {
          const segments: string[][] = [[]];
          for (const [xv, yv] of pts) {
            if (typeof xv === 'number' && typeof yv === 'number' && Number.isFinite(yv) && (!logY || yv > 0)) segments[segments.length - 1].push(`${sx(xv).toFixed(2)},${sy(yv).toFixed(2)}`);
            else segments.push([]);
          }
          const style = (t.line ?? {}) as { dash?: string; width?: number };
          const dash = style.dash === 'dash' ? ' stroke-dasharray="6 4"' : style.dash === 'dot' ? ' stroke-dasharray="2 3"' : '';
          for (const seg of segments) if (seg.length > 1) parts.push(`<polyline points="${seg.join(' ')}" fill="none" stroke="${color}" stroke-width="${style.width ?? 2}"${dash}/>`);
        }
        if (mode.includes('markers')) {
          const markerColors = (t.marker as { color?: unknown } | undefined)?.color;
          pts.forEach(([xv, yv], i) => {
            if (typeof xv !== 'number' || typeof yv !== 'number' || !Number.isFinite(yv)) return;
            const c = Array.isArray(markerColors) ? PALETTE[Number(markerColors[i]) % PALETTE.length] : color;
            parts.push(`<circle cx="${sx(xv).toFixed(2)}" cy="${sy(yv).toFixed(2)}" r="3.5" fill="${c}" stroke="#fff" stroke-width="0.5"/>`);
          });
        }
      }
    }
    parts.push('</g>');
  }
  // subplot titles and other paper-positioned annotations
  for (const a of (fig.layout.annotations as { text?: string; x?: number; y?: number; xref?: string }[] | undefined) ?? []) {
    if (a.xref !== 'paper' || a.text === undefined) continue;
    parts.push(`<text x="${(60 + (a.x ?? 0.5) * plotW).toFixed(1)}" y="${(top + (1 - (a.y ?? 1)) * plotH - 6).toFixed(1)}" text-anchor="middle" font-size="13">${esc(a.text)}</text>`);
  }
  if (legend) {
    names.forEach((t, i) => {
      const y = top + 12 + i * 18;
      parts.push(`<rect x="${width - right + 12}" y="${y - 8}" width="14" height="4" fill="${colors.get(t)}"/><text x="${width - right + 32}" y="${y - 2}" font-size="11">${esc(String(t.name))}</text>`);
    });
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif">${parts.join('')}</svg>`;
}
