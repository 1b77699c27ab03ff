/**
 * Charts checked in a real browser (Debian chromium): each must have plotly's SVG with its traces and
 * nonzero data in the DOM, (1) from a figure's HTML output, (2) in the runner's HTML report and (3) in
 * `jupyter nbconvert --to html` of an executed notebook. Screenshots go to artifacts/.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { plot } from '../src';
import { writeNotebook } from '../src/notebook/nbformat';
import { runNotebook } from '../src/notebook/run';
import { writeReport } from '../src/notebook/report';
import { launch, skipWithoutChromium } from './browser-env';
import { PYTHON, skipWithout } from './jupyter-env';
import { JUPYTER_DISPLAY } from '../src/display';
import { resetPlotlyShipping } from '../src/plot/figure';

const skip = skipWithoutChromium('plot-browser');
const artifacts = path.resolve(__dirname, '..', 'artifacts');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'relulab-browser-'));
let browser: Browser;

beforeAll(async () => {
  if (skip) return;
  fs.mkdirSync(artifacts, { recursive: true });
  browser = await launch();
}, 60_000);
afterAll(async () => {
  await browser?.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** Every plotly chart on the page: its number of traces and the length of its drawn path data. */
async function charts(page: Page): Promise<{ traces: number; pathLength: number }[]> {
  await page.waitForSelector('.main-svg', { timeout: 20_000 });
  return page.$$eval('.js-plotly-plot', (plots): { traces: number; pathLength: number }[] =>
    plots.map((p) => ({
      traces: p.querySelectorAll('.scatterlayer .trace, .barlayer .trace, .heatmaplayer .hm, .imagelayer image').length,
      pathLength: Array.from(p.querySelectorAll('.scatterlayer path.js-line, .barlayer path, .point')).reduce((n: number, el) => n + ((el as { getAttribute(name: string): string | null }).getAttribute('d') ?? '').length, 0),
    })),
  );
}

const notebookWithCharts = {
  cells: [
    { cell_type: 'code', execution_count: null, metadata: {}, outputs: [], source: 'plot.fn(relu, [-3, 3], { derivative: true })' },
    { cell_type: 'code', execution_count: null, metadata: {}, outputs: [], source: 'display(plot.bar(["a", "b", "c"], [3, 1, 2], { title: "Bars" }))' },
  ],
  metadata: { kernelspec: { name: 'relulab', display_name: 'TypeScript (relulab)', language: 'typescript' } },
  nbformat: 4,
  nbformat_minor: 5,
};

describe.skipIf(skip)('charts render in chromium', () => {
  it('from a figure HTML output: the first ships plotly.js offline, the second reuses it', async () => {
    resetPlotlyShipping();
    const html = (f: object) => String((f as Record<symbol, () => Record<string, unknown>>)[JUPYTER_DISPLAY]()['text/html']);
    const file = path.join(tmp, 'outputs.html');
    fs.writeFileSync(file, `<!DOCTYPE html><html><body>${html(plot.line([0, 1, 2], [[0, 1, 4], [4, 1, 0]], { title: 'Lines', names: ['a', 'b'] }))}${html(plot.scatter([1, 2, 3], [3, 1, 2], { title: 'Points' }))}</body></html>`);
    const page = await browser.newPage();
    const failed: string[] = [];
    page.on('requestfailed', (r) => failed.push(r.url()));
    await page.goto(`file://${file}`);
    const found = await charts(page);
    await page.screenshot({ path: path.join(artifacts, 'plot-outputs.png'), fullPage: true });
    expect(found).toHaveLength(2);
    expect(found[0].traces).toBe(2);
    for (const c of found) expect(c.pathLength).toBeGreaterThan(0);
    expect(failed).toEqual([]);
    await page.close();
  }, 60_000);

  it('in the runner HTML report', async () => {
    const nb = path.join(tmp, 'charts.ipynb');
    writeNotebook(nb, notebookWithCharts as never);
    const run = await runNotebook(nb);
    expect(run.status).toBe('ok');
    writeReport([{ file: nb }], path.join(tmp, 'report'));
    const page = await browser.newPage();
    await page.goto(`file://${path.join(tmp, 'report', 'charts.html')}`);
    const found = await charts(page);
    await page.screenshot({ path: path.join(artifacts, 'report-page.png'), fullPage: true });
    expect(found).toHaveLength(2);
    expect(found[0].traces).toBeGreaterThanOrEqual(2);
    for (const c of found) expect(c.pathLength).toBeGreaterThan(0);
    await page.goto(`file://${path.join(tmp, 'report', 'index.html')}`);
    expect((await charts(page)).length).toBe(1);
    await page.close();
  }, 90_000);

  it.skipIf(skipWithout('plot-browser nbconvert', 'nbconvert'))('in jupyter nbconvert --to html of an executed notebook', async () => {
    const nb = path.join(tmp, 'charts.ipynb');
    if (!fs.existsSync(nb)) {
      writeNotebook(nb, notebookWithCharts as never);
      await runNotebook(nb);
    }
    execFileSync(PYTHON, ['-m', 'jupyter', 'nbconvert', '--to', 'html', '--output-dir', tmp, nb], { stdio: 'ignore' });
    const page = await browser.newPage();
    await page.goto(`file://${path.join(tmp, 'charts.html')}`);
    const found = await charts(page);
    await page.screenshot({ path: path.join(artifacts, 'nbconvert.png'), fullPage: true });
    expect(found).toHaveLength(2);
    for (const c of found) expect(c.pathLength).toBeGreaterThan(0);
    await page.close();
  }, 90_000);
});
