/** One-line chart builders. Each accepts Tensors, typed arrays or plain arrays and returns a Figure. */
import { linspace, noGrad, Tensor, ValueError, formatShape, type UnaryOp } from '../engine';
import { figure, type Axis, type Figure, type Layout, type Trace } from './figure';

export type Series = Tensor | ArrayLike<number>;

export interface ChartOptions {
  title?: string;
  xLabel?: string;
  yLabel?: string;
  /** Names of the series, for the legend. */
  names?: string[];
  width?: number;
  height?: number;
  logY?: boolean;
  logX?: boolean;
}

/** Numbers from a Tensor (flattened), a typed array or an array. */
export function values(op: string, v: Series, name = 'data'): number[] {
  if (v instanceof Tensor) return Array.from(v.dataSync());
  if (v === null || typeof v !== 'object' || typeof (v as ArrayLike<number>).length !== 'number') {
    throw new ValueError(op, `${name} must be a Tensor, a typed array or an array of numbers, got ${v === null ? 'null' : typeof v}`);
  }
  return Array.from(v as ArrayLike<number>, Number);
}

function baseLayout(o: ChartOptions): Layout {
  const layout: Layout = { xaxis: { ...axis(o.xLabel), ...(o.logX ? { type: 'log' } : {}) }, yaxis: { ...axis(o.yLabel), ...(o.logY ? { type: 'log' } : {}) } };
  if (o.title) layout.title = { text: o.title };
  if (o.width) layout.width = o.width;
  if (o.height) layout.height = o.height;
  return layout;
}

const axis = (label?: string): Axis => (label ? { title: { text: label } } : {});

/** Lines of one or more series over shared x values. */
export function line(x: Series, ys: Series | Series[], o: ChartOptions = {}): Figure {
  const xs = values('plot.line', x, 'x');
  const list = Array.isArray(ys) && ys.length > 0 && typeof ys[0] !== 'number' ? (ys as Series[]) : [ys as Series];
  const data = list.map((y, i): Trace => {
    const yv = values('plot.line', y, 'y');
    if (yv.length !== xs.length) throw new ValueError('plot.line', `series ${i} has ${yv.length} values but x has ${xs.length}`);
    return { type: 'scatter', mode: 'lines', x: xs, y: yv, name: o.names?.[i] ?? `series ${i + 1}` };
  });
  return figure(data, { ...baseLayout(o), showlegend: data.length > 1 });
}

/** Points; with `labels` (class indices) each class gets its own colour and legend entry. */
export function scatter(x: Series, y: Series, o: ChartOptions & { labels?: Series } = {}): Figure {
  const xs = values('plot.scatter', x, 'x');
  const yv = values('plot.scatter', y, 'y');
  if (xs.length !== yv.length) throw new ValueError('plot.scatter', `x has ${xs.length} values but y has ${yv.length}`);
  if (o.labels === undefined) return figure([{ type: 'scatter', mode: 'markers', x: xs, y: yv, name: o.names?.[0] ?? 'points' }], baseLayout(o));
  const labels = values('plot.scatter', o.labels, 'labels');
  const classes = [...new Set(labels)].sort((a, b) => a - b);
  const data = classes.map((c, i): Trace => ({
    type: 'scatter',
    mode: 'markers',
    x: xs.filter((_, k) => labels[k] === c),
    y: yv.filter((_, k) => labels[k] === c),
    name: o.names?.[i] ?? `class ${c}`,
  }));
  return figure(data, { ...baseLayout(o), showlegend: true });
}

/** Bars for labelled values. */
export function bar(labels: readonly (string | number)[], v: Series, o: ChartOptions = {}): Figure {
  const yv = values('plot.bar', v);
  if (labels.length !== yv.length) throw new ValueError('plot.bar', `${labels.length} labels for ${yv.length} values`);
  return figure([{ type: 'bar', x: labels.map(String), y: yv, name: o.names?.[0] ?? 'values' }], baseLayout(o));
}

/** A histogram, binned by relulab (so every renderer shows the same bins). */
export function histogram(v: Series, o: ChartOptions & { bins?: number } = {}): Figure {
  const xs = values('plot.histogram', v).filter(Number.isFinite);
  const bins = o.bins ?? 30;
  if (!Number.isInteger(bins) || bins < 1) throw new ValueError('plot.histogram', `bins must be a positive integer, got ${bins}`);
  if (xs.length === 0) throw new ValueError('plot.histogram', 'no finite values to bin');
  let lo = Math.min(...xs);
  let hi = Math.max(...xs);
  if (lo === hi) {
    lo -= 0.5;
    hi += 0.5;
  }
  const width = (hi - lo) / bins;
  const counts = new Array<number>(bins).fill(0);
  for (const x of xs) counts[Math.min(bins - 1, Math.floor((x - lo) / width))]++;
  const centres = counts.map((_, i) => lo + (i + 0.5) * width);
  return figure([{ type: 'bar', x: centres, y: counts, name: o.names?.[0] ?? 'count', width: width * 0.95 }], { ...baseLayout({ yLabel: 'count', ...o }), bargap: 0.05 });
}

/** A 2-D tensor (or nested array) as a heatmap; row 0 at the top. */
export function heatmap(m: Tensor | number[][], o: ChartOptions & { colorscale?: string } = {}): Figure {
  const rows = m instanceof Tensor ? (m.ndim === 2 ? (m.toArray() as number[][]) : null) : m;
  if (rows === null) throw new ValueError('plot.heatmap', `expected a 2-D tensor, got shape ${formatShape((m as Tensor).shape)}`);
  const layout = baseLayout(o);
  (layout.yaxis as Axis).autorange = 'reversed';
  return figure([{ type: 'heatmap', z: rows, colorscale: o.colorscale ?? 'Viridis' }], layout);
}

/**
 * Images as a grid: a tensor [H, W], [N, H, W] or [N, 1, H, W] (e.g. digits), drawn in grey with gaps,
 * `cols` per row; `titles` label them (shown as the hover text).
 */
export function image(t: Tensor, o: ChartOptions & { cols?: number; titles?: string[] } = {}): Figure {
  const shape = t.ndim === 2 ? [1, ...t.shape] : t.ndim === 3 ? t.shape : t.ndim === 4 && t.shape[1] === 1 ? [t.shape[0], t.shape[2], t.shape[3]] : null;
  if (shape === null) throw new ValueError('plot.image', `expected [H, W], [N, H, W] or [N, 1, H, W], got ${formatShape(t.shape)}`);
  const [n, h, w] = shape;
  const cols = Math.min(o.cols ?? Math.min(n, 10), n);
  const gridRows = Math.ceil(n / cols);
  const data = t.dataSync();
  const z: (number | null)[][] = Array.from({ length: gridRows * (h + 1) - 1 }, () => new Array<number | null>(cols * (w + 1) - 1).fill(null));
  const text: string[][] = z.map((row) => row.map(() => ''));
  for (let k = 0; k < n; k++) {
    const r0 = Math.floor(k / cols) * (h + 1);
    const c0 = (k % cols) * (w + 1);
    for (let i = 0; i < h; i++) for (let j = 0; j < w; j++) {
      z[r0 + i][c0 + j] = data[k * h * w + i * w + j];
      text[r0 + i][c0 + j] = o.titles?.[k] ?? `#${k}`;
    }
  }
  const layout = { ...baseLayout(o), xaxis: { visible: false, showgrid: false }, yaxis: { visible: false, autorange: 'reversed', scaleanchor: 'x', showgrid: false } } as Layout;
  layout.height = o.height ?? Math.min(640, 60 + gridRows * 70);
  return figure([{ type: 'heatmap', z, text, hoverinfo: 'text+z', colorscale: 'Greys', showscale: false }], layout);
}

/** Combines figures into one with subplots, `cols` per row; each keeps its title as an annotation. */
export function grid(figures: readonly Figure[], { cols = 2, title, width, height }: { cols?: number; title?: string; width?: number; height?: number } = {}): Figure {
  if (figures.length === 0) throw new ValueError('plot.grid', 'needs at least one figure');
  const rows = Math.ceil(figures.length / cols);
  const data: Trace[] = [];
  const layout: Layout = { width: width ?? 360 * Math.min(cols, figures.length), height: height ?? 300 * rows, annotations: [] as unknown[], showlegend: false };
  if (title) layout.title = { text: title };
  const gap = 0.08;
  figures.forEach((f, i) => {
    const k = i + 1;
    const r = Math.floor(i / cols);
    const c = i % cols;
    const xd: [number, number] = [c / cols + (c > 0 ? gap / 2 : 0), (c + 1) / cols - (c < cols - 1 ? gap / 2 : 0)];
    const yd: [number, number] = [1 - (r + 1) / rows + (r < rows - 1 ? gap : 0), 1 - r / rows - (r > 0 ? gap / 2 : 0)];
    const xName = k === 1 ? 'xaxis' : `xaxis${k}`;
    const yName = k === 1 ? 'yaxis' : `yaxis${k}`;
    layout[xName] = { ...((f.layout.xaxis as Axis) ?? {}), domain: xd, anchor: k === 1 ? 'y' : `y${k}` };
    layout[yName] = { ...((f.layout.yaxis as Axis) ?? {}), domain: yd, anchor: k === 1 ? 'x' : `x${k}` };
    for (const t of f.data) data.push({ ...t, xaxis: k === 1 ? 'x' : `x${k}`, yaxis: k === 1 ? 'y' : `y${k}` });
    if (f.layout.title) (layout.annotations as unknown[]).push({ text: f.layout.title.text, x: (xd[0] + xd[1]) / 2, y: yd[1], xref: 'paper', yref: 'paper', showarrow: false, yanchor: 'bottom', font: { size: 13 } });
  });
  return figure(data, layout);
}

type Fn = UnaryOp<Record<string, unknown>> | ((x: Tensor) => Tensor);

export interface FnOptions extends ChartOptions {
  derivative?: boolean;
  points?: number;
  /** Options passed to the activation, e.g. `{negativeSlope: 0.2}`. */
  options?: Record<string, unknown>;
  /** Kinks to mark; taken from the op when it is one of relulab's activations. */
  kinks?: number[];
}

/**
 * A function and (with `derivative`) its autograd derivative on [a, b], in float64. Kinks are marked,
 * with the value the engine's backward returns exactly at each kink.
 */
export function fn(f: Fn, [a, b]: [number, number], o: FnOptions = {}): Figure {
  if (!(b > a)) throw new ValueError('plot.fn', `the interval [${a}, ${b}] is empty`);
  const op = f as Partial<UnaryOp<Record<string, unknown>>>;
  const call = (t: Tensor) => (op.opName ? (f as UnaryOp<Record<string, unknown>>)(t, o.options) : (f as (x: Tensor) => Tensor)(t));
  const kinks = (o.kinks ?? (op.kinks ? [...op.kinks(o.options)] : [])).filter((k) => k >= a && k <= b);
  const grid = Array.from(new Set([...values('plot.fn', linspace(a, b, o.points ?? 401, { dtype: 'float64' })), ...kinks])).sort((p, q) => p - q);
  const x = Tensor.fromData(Float64Array.from(grid), [grid.length]).requiresGrad_();
  const y = call(x);
  const name = o.names?.[0] ?? op.opName ?? (f.name || 'f');
  const data: Trace[] = [{ type: 'scatter', mode: 'lines', x: grid, y: Array.from(y.dataSync()), name }];
  if (o.derivative) {
    y.sum().backward();
    const dy = Array.from(x.grad!.dataSync());
    // the derivative jumps at a kink: break the line there and show the engine's choice as a point
    const dx: (number | null)[] = [];
    const dvals: (number | null)[] = [];
    grid.forEach((g, i) => {
      if (kinks.includes(g)) {
        dx.push(g);
        dvals.push(null);
      } else {
        dx.push(g);
        dvals.push(dy[i]);
      }
    });
    data.push({ type: 'scatter', mode: 'lines', x: dx, y: dvals, name: `${name}′`, line: { dash: 'dash' } });
    if (kinks.length > 0) {
      const at = kinks.map((k) => dy[grid.indexOf(k)]);
      data.push({ type: 'scatter', mode: 'markers', x: kinks, y: at, name: `${name}′ at kinks (engine)`, marker: { size: 9, symbol: 'circle-open' }, text: kinks.map((k, i) => `${name}′(${k}) = ${at[i]}`) });
    }
  }
  return figure(data, { ...baseLayout({ xLabel: 'x', yLabel: o.derivative ? `${name}(x), ${name}′(x)` : `${name}(x)`, title: o.title ?? name, ...o }), showlegend: data.length > 1 });
}

/** A gallery of activations, each with its derivative and marked kinks. */
export function activations(ops: readonly Fn[], { range = [-4, 4] as [number, number], cols = 3, title = 'Activations and their derivatives' } = {}): Figure {
  return grid(ops.map((f) => fn(f, range, { derivative: true })), { cols, title });
}

export interface HistoryLike {
  epoch?: number[];
  loss: number[];
  metrics?: Record<string, number[]>;
  valLoss?: number[];
  valMetrics?: Record<string, number[]>;
}

/** Loss (and metric) curves per epoch from `fit`'s history. */
export function training(history: HistoryLike, o: ChartOptions = {}): Figure {
  const epochs = history.epoch ?? history.loss.map((_, i) => i + 1);
  const loss = line(epochs, [history.loss, ...(history.valLoss?.length ? [history.valLoss] : [])], { names: ['loss', 'validation loss'].slice(0, history.valLoss?.length ? 2 : 1), xLabel: 'epoch', yLabel: 'loss', title: 'Loss' });
  const metricNames = Object.keys(history.metrics ?? {}).filter((k) => history.metrics![k].length > 0);
  if (metricNames.length === 0) return figure(loss.data, { ...loss.layout, title: { text: o.title ?? 'Training' } });
  const metrics = line(epochs, metricNames.flatMap((k) => [history.metrics![k], ...(history.valMetrics?.[k]?.length ? [history.valMetrics[k]] : [])]), {
    names: metricNames.flatMap((k) => [k, ...(history.valMetrics?.[k]?.length ? [`validation ${k}`] : [])]),
    xLabel: 'epoch',
    yLabel: metricNames.join(', '),
    title: 'Metrics',
  });
  return grid([loss, metrics], { cols: 2, title: o.title ?? 'Training' });
}

/** A model that maps [N, 2] inputs to [N, classes] logits (a Module, or a function). */
export type Classifier = { forward(x: Tensor): Tensor } | ((x: Tensor) => Tensor);

/** The predicted class over the plane of a 2-D classifier, with the data points on top. */
export function decisionBoundary(model: Classifier, data: { x: Tensor; y: Tensor }, { resolution = 80, title = 'Decision boundary', ...o }: ChartOptions & { resolution?: number } = {}): Figure {
  if (data.x.ndim !== 2 || data.x.shape[1] !== 2) throw new ValueError('plot.decisionBoundary', `needs inputs [N, 2], got ${formatShape(data.x.shape)}`);
  const pts = data.x.dataSync();
  const xs = Array.from(pts.filter((_, i) => i % 2 === 0));
  const ys = Array.from(pts.filter((_, i) => i % 2 === 1));
  const pad = (lo: number, hi: number) => [lo - 0.1 * (hi - lo), hi + 0.1 * (hi - lo)];
  const [x0, x1] = pad(Math.min(...xs), Math.max(...xs));
  const [y0, y1] = pad(Math.min(...ys), Math.max(...ys));
  const gx = Array.from({ length: resolution }, (_, i) => x0 + ((x1 - x0) * i) / (resolution - 1));
  const gy = Array.from({ length: resolution }, (_, i) => y0 + ((y1 - y0) * i) / (resolution - 1));
  const inputs = new Float32Array(resolution * resolution * 2);
  gy.forEach((yv, i) => gx.forEach((xv, j) => inputs.set([xv, yv], (i * resolution + j) * 2)));
  const forward = typeof model === 'function' ? model : (x: Tensor) => model.forward(x);
  const logits = noGrad(() => forward(Tensor.fromData(inputs, [resolution * resolution, 2])));
  const classes = logits.shape[1] === 1 ? logits.reshape([-1]).gt(0).dataSync() : logits.argmax(1).dataSync();
  const z = gy.map((_, i) => gx.map((_, j) => classes[i * resolution + j]));
  const points = scatter(xs, ys, { labels: data.y });
  return figure([{ type: 'heatmap', x: gx, y: gy, z, colorscale: 'Viridis', opacity: 0.35, showscale: false, showlegend: false, name: 'prediction' }, ...points.data], {
    ...baseLayout({ xLabel: 'x₁', yLabel: 'x₂', title, ...o }),
    showlegend: true,
  });
}

export interface GradStatLike {
  name: string;
  norm: number;
  max: number;
  min: number;
}

/** Per-parameter gradient magnitudes (L2 norm and max |g|), log scale, from `diag.gradStats`. */
export function gradFlow(stats: readonly GradStatLike[], o: ChartOptions = {}): Figure {
  if (stats.length === 0) throw new ValueError('plot.gradFlow', 'no gradient statistics: call backward() before diag.gradStats(model)');
  const names = stats.map((s) => s.name);
  return figure(
    [
      { type: 'bar', x: names, y: stats.map((s) => s.norm), name: 'L2 norm' },
      { type: 'scatter', mode: 'markers', x: names, y: stats.map((s) => Math.max(Math.abs(s.max), Math.abs(s.min))), name: 'max |g|' },
    ],
    { ...baseLayout({ xLabel: 'parameter', yLabel: 'gradient magnitude', title: 'Gradient flow', logY: true, ...o }), showlegend: true },
  );
}
