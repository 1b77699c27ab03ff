/**
 * `relulab report`: a static site of executed notebooks. An index lists each notebook with its status, run
 * time and a thumbnail of its first chart; each notebook gets a page with code, outputs and errors. Charts
 * stay interactive offline: plotly.js is copied once into the site and every
 * `application/vnd.plotly.v1+json` output is drawn with it.
 */
import fs from 'node:fs';
import path from 'node:path';
import { readNotebook, sourceText, type CodeCell, type Notebook, type Output } from './nbformat';

export interface ReportEntry {
  /** The executed notebook. */
  file: string;
  status?: 'ok' | 'failed';
  seconds?: number;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const ANSI = /\u001b\[[0-9;]*m/g;
const text = (v: unknown) => (Array.isArray(v) ? v.join('') : typeof v === 'string' ? v : JSON.stringify(v, null, 2));

const STYLE = `
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto; max-width: 1000px; padding: 24px; color: #222; }
a { color: #c2410c; }
h1 { font-size: 1.6em; }
.cell { margin: 14px 0; }
.code { background: #f6f6f6; border-left: 3px solid #e86a17; padding: 8px 12px; white-space: pre-wrap; font-family: ui-monospace, Menlo, monospace; font-size: 0.9em; }
.count { color: #999; font-family: ui-monospace, monospace; font-size: 0.8em; }
.out pre { margin: 4px 0; white-space: pre-wrap; font-size: 0.88em; }
.out .stderr { background: #fff3f0; }
.out .error { background: #fde8e8; color: #7f1d1d; padding: 6px; }
.markdown { line-height: 1.5; }
.plot { width: 100%; height: 440px; }
table.index { border-collapse: collapse; width: 100%; }
table.index td, table.index th { border-bottom: 1px solid #eee; padding: 8px; text-align: left; vertical-align: middle; }
.ok { color: #15803d; font-weight: 600; } .failed { color: #b91c1c; font-weight: 600; }
.thumb { width: 240px; height: 150px; }
`;

/** A tiny Markdown renderer for the report: headings, emphasis, code, links, lists and paragraphs. */
export function markdownToHtml(md: string): string {
  const inline = (s: string) =>
    esc(s)
      .replace(/`([^`]+)`/g, '<code>$1</code>')
      .replace(/\*\*([^*]+)\*\*/g, '<strong>$1</strong>')
      .replace(/\*([^*]+)\*/g, '<em>$1</em>')
      .replace(/\[([^\]]+)\]\(([^)\s]+)\)/g, '<a href="$2">$1</a>')
      .replace(/&lt;(\/?(?:span|b|i|sup|sub|br)[^&]*)&gt;/g, '<$1>');
  const blocks = md.replace(/\r\n/g, '\n').split(/\n{2,}/);
  return blocks
    .map((block) => {
      if (block.startsWith('```')) return `<pre class="code">${esc(block.replace(/^```\w*\n?/, '').replace(/```$/, ''))}</pre>`;
      const heading = /^(#{1,6})\s+(.*)$/.exec(block);
      if (heading && !block.includes('\n')) return `<h${heading[1].length}>${inline(heading[2])}</h${heading[1].length}>`;
      const lines = block.split('\n');
      if (lines.every((l) => /^\s*([-*]|\d+\.)\s+/.test(l))) {
        const tag = /^\s*\d+\./.test(lines[0]) ? 'ol' : 'ul';
        return `<${tag}>${lines.map((l) => `<li>${inline(l.replace(/^\s*([-*]|\d+\.)\s+/, ''))}</li>`).join('')}</${tag}>`;
      }
      if (lines.every((l) => l.trim().startsWith('|'))) {
        const rows = lines.filter((l) => !/^\s*\|[\s:|-]+\|\s*$/.test(l)).map((l) => l.trim().replace(/^\||\|$/g, '').split('|').map((c) => inline(c.trim())));
        return `<table class="index">${rows.map((r, i) => `<tr>${r.map((c) => (i === 0 ? `<th>${c}</th>` : `<td>${c}</td>`)).join('')}</tr>`).join('')}</table>`;
      }
      return `<p>${lines.map(inline).join('<br>')}</p>`;
    })
    .join('\n');
}

let plotCounter = 0;

/** HTML for one output; plotly JSON becomes a chart drawn by the page's plotly.js. */
export function outputToHtml(o: Output): string {
  if (o.output_type === 'stream') return `<pre class="${esc(String(o.name))}">${esc(text(o.text))}</pre>`;
  if (o.output_type === 'error') return `<pre class="error">${esc(((o.traceback as string[]) ?? [`${o.ename}: ${o.evalue}`]).join('\n').replace(ANSI, ''))}</pre>`;
  const data = (o.data ?? {}) as Record<string, unknown>;
  const plotly = data['application/vnd.plotly.v1+json'] as { data?: unknown; layout?: unknown } | undefined;
  if (plotly) {
    const id = `plot-${++plotCounter}`;
    const figure = JSON.stringify({ data: plotly.data ?? [], layout: plotly.layout ?? {} }).replace(/</g, '\\u003c');
    return `<div class="plot" id="${id}"></div><script>(function(){var f=${figure};Plotly.newPlot(${JSON.stringify(id)},f.data,f.layout,{responsive:true});})();</script>`;
  }
  if (data['text/html'] !== undefined) return `<div>${text(data['text/html'])}</div>`;
  if (data['image/svg+xml'] !== undefined) return `<div>${text(data['image/svg+xml'])}</div>`;
  if (data['image/png'] !== undefined) return `<img alt="output" src="data:image/png;base64,${text(data['image/png']).trim()}">`;
  if (data['text/markdown'] !== undefined) return `<div class="markdown">${markdownToHtml(text(data['text/markdown']))}</div>`;
  if (data['text/plain'] !== undefined) return `<pre>${esc(text(data['text/plain']))}</pre>`;
  return '';
}

function page(title: string, body: string, scriptPath: string): string {
  return `<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title><meta name="viewport" content="width=device-width, initial-scale=1"><style>${STYLE}</style><script src="${scriptPath}"></script></head><body>${body}</body></html>\n`;
}

function notebookPage(nb: Notebook, title: string): string {
  const cells = nb.cells.map((cell) => {
    if (cell.cell_type === 'markdown') return `<div class="cell markdown">${markdownToHtml(sourceText(cell.source))}</div>`;
    if (cell.cell_type !== 'code') return '';
    const code = cell as CodeCell;
    const count = code.execution_count === null ? ' ' : String(code.execution_count);
    return `<div class="cell"><div class="count">[${count}]</div><div class="code">${esc(sourceText(code.source))}</div><div class="out">${code.outputs.map(outputToHtml).join('')}</div></div>`;
  });
  return page(title, `<p><a href="index.html">← all notebooks</a></p><h1>${esc(title)}</h1>${cells.join('\n')}`, 'plotly.min.js');
}

function firstChart(nb: Notebook): unknown {
  for (const cell of nb.cells) {
    if (cell.cell_type !== 'code') continue;
    for (const o of (cell as CodeCell).outputs) {
      const fig = ((o as { data?: Record<string, unknown> }).data ?? {})['application/vnd.plotly.v1+json'];
      if (fig) return fig;
    }
  }
  return null;
}

/** A chart's layout shrunk to a thumbnail: no titles, legend, annotations or tick labels. */
function thumbnailLayout(layout: Record<string, unknown>): Record<string, unknown> {
  const small: Record<string, unknown> = { ...layout, width: 240, height: 150, margin: { l: 8, r: 8, t: 8, b: 8 }, showlegend: false, title: undefined, annotations: [] };
  for (const key of Object.keys(layout)) {
    if (/^[xy]axis\d*$/.test(key)) small[key] = { ...(layout[key] as object), title: undefined, showticklabels: false };
  }
  return small;
}

/** Writes the site into `outDir`; returns the index page's path. */
export function writeReport(entries: readonly ReportEntry[], outDir: string): string {
  fs.mkdirSync(outDir, { recursive: true });
  fs.copyFileSync(require.resolve('plotly.js-dist-min'), path.join(outDir, 'plotly.min.js'));
  const rows = entries.map((entry, i) => {
    const nb = readNotebook(entry.file);
    const name = path.basename(entry.file, '.ipynb');
    const failed = entry.status === 'failed' || Boolean((nb.metadata.papermill as { exception?: boolean } | undefined)?.exception);
    const seconds = entry.seconds ?? (nb.metadata.papermill as { duration?: number } | undefined)?.duration;
    fs.writeFileSync(path.join(outDir, `${name}.html`), notebookPage(nb, name));
    const chart = firstChart(nb) as { data?: unknown; layout?: Record<string, unknown> } | null;
    const thumb = chart ? `<div class="thumb" id="thumb-${i}"></div><script>(function(){var f=${JSON.stringify({ data: chart.data ?? [], layout: thumbnailLayout(chart.layout ?? {}) }).replace(/</g, '\\u003c')};Plotly.newPlot("thumb-${i}",f.data,f.layout,{staticPlot:true});})();</script>` : '';
    return `<tr><td><a href="${esc(name)}.html">${esc(name)}</a></td><td class="${failed ? 'failed' : 'ok'}">${failed ? 'failed' : 'ok'}</td><td>${seconds === undefined ? '' : `${seconds.toFixed(1)} s`}</td><td>${thumb}</td></tr>`;
  });
  const body = entries.length === 0 ? '<p>No notebooks were found.</p>' : `<table class="index"><tr><th>notebook</th><th>status</th><th>time</th><th>first chart</th></tr>${rows.join('')}</table>`;
  const index = path.join(outDir, 'index.html');
  fs.writeFileSync(index, page('relulab notebooks', `<h1>relulab notebooks</h1>${body}`, 'plotly.min.js'));
  return index;
}
