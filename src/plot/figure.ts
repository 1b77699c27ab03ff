/**
 * Plot figures: plain plotly objects (`{data, layout}`) that display themselves.
 *
 * ## One bundle for every frontend
 * A figure renders as one MIME bundle:
 * - `application/vnd.plotly.v1+json`: `{data, layout}`, drawn by VS Code and by JupyterLab with the plotly
 *   extension;
 * - `text/html`: a static SVG of the chart, replaced by an interactive plotly chart where scripts run
 *   (JupyterLab without the extension, classic Notebook 6, nbconvert HTML). plotly.js is not pasted into
 *   every output: the first figure shown in a kernel session carries the whole library, inline, and
 *   defines `window.Plotly`; every later figure draws itself with it, or queues itself until it is there.
 *   Reopened notebooks render outputs in order, so the first chart brings the library back with it, with
 *   no network. Where scripts do not run (untrusted notebooks, GitHub's viewer), the static SVG stays.
 * - `image/svg+xml`: the same static SVG (with `xmlns`), drawn by relulab itself without a browser;
 * - `text/plain`: a one-line description.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import { JUPYTER_DISPLAY, type MimeBundle } from '../display';
import { renderSvg } from './svg';

/** A plotly trace: the fields relulab's builders emit, open to any other plotly attribute. */
export interface Trace {
  type: 'scatter' | 'bar' | 'heatmap' | 'contour' | string;
  x?: (number | string | null)[];
  y?: (number | string | null)[];
  z?: (number | null)[][];
  name?: string;
  mode?: string;
  xaxis?: string;
  yaxis?: string;
  [key: string]: unknown;
}

export interface Axis {
  title?: { text: string };
  domain?: [number, number];
  anchor?: string;
  type?: 'linear' | 'log';
  range?: [number, number];
  [key: string]: unknown;
}

export interface Layout {
  title?: { text: string };
  width?: number;
  height?: number;
  showlegend?: boolean;
  [key: string]: unknown;
}

export interface Figure {
  data: Trace[];
  layout: Layout;
}

/** Makes a figure that displays itself (the display method is not enumerable, so JSON stays {data, layout}). */
export function figure(data: Trace[], layout: Layout): Figure {
  const fig = { data, layout };
  Object.defineProperty(fig, JUPYTER_DISPLAY, { value: () => figureBundle(fig), enumerable: false });
  Object.defineProperty(fig, Symbol.for('nodejs.util.inspect.custom'), { value: () => describe(fig), enumerable: false });
  return fig;
}

/** A one-line description, e.g. `Figure "ReLU" (2 traces: scatter, scatter)`. */
export function describe(fig: Figure): string {
  const title = fig.layout.title?.text;
  return `Figure${title ? ` "${title}"` : ''} (${fig.data.length} trace${fig.data.length === 1 ? '' : 's'}: ${fig.data.map((t) => t.type).join(', ')})`;
}

let plotlyShipped = false;
let counter = 0;

/** Forgets that plotly.js was shipped, so the next figure carries it again (a new kernel session). */
export function resetPlotlyShipping(): void {
  plotlyShipped = false;
}

function plotlySource(): string {
  return fs.readFileSync(require.resolve('plotly.js-dist-min'), 'utf8').replace(/<\/script/gi, '<\\/script');
}

/** The HTML output: static SVG first, then the interactive chart where scripts run. */
export function figureHtml(fig: Figure, svg: string): string {
  const json = JSON.stringify({ data: fig.data, layout: fig.layout }).replace(/</g, '\\u003c');
  // deterministic, so that seeded notebooks reproduce their outputs exactly
  const id = `relulab-plot-${crypto.createHash('sha1').update(json).digest('hex').slice(0, 10)}-${++counter}`;
  const draw = `(function(){var el=document.getElementById(${JSON.stringify(id)});if(!el)return;var f=${json};function draw(){el.innerHTML="";window.Plotly.newPlot(el,f.data,f.layout,{responsive:true});}if(window.Plotly)draw();else(window.__relulabPlotlyQueue=window.__relulabPlotlyQueue||[]).push(draw);})();`;
  let library = '';
  if (!plotlyShipped) {
    plotlyShipped = true;
    // hide a requirejs `define` (classic Notebook) while the library runs, then draw any queued charts
    library = `<script>(function(){var d=window.define;window.define=undefined;try{${plotlySource()}\n}finally{window.define=d;}var q=window.__relulabPlotlyQueue||[];window.__relulabPlotlyQueue=[];q.forEach(function(g){g();});})();</script>`;
  }
  return `<div id="${id}" class="relulab-plot" style="min-height:${fig.layout.height ?? 420}px">${svg}</div>${library}<script>${draw}</script>`;
}

/** The MIME bundle of a figure (see the file comment). */
export function figureBundle(fig: Figure): MimeBundle {
  const svg = renderSvg(fig);
  return {
    'application/vnd.plotly.v1+json': { data: fig.data, layout: fig.layout },
    'text/html': figureHtml(fig, svg),
    'image/svg+xml': svg,
    'text/plain': describe(fig),
  };
}
