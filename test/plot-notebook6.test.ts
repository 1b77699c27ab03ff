/**
 * A live classic Jupyter Notebook 6 server (Debian jupyter-notebook, loopback only) runs a notebook on the
 * relulab kernel; the page in chromium must draw the chart with its traces and data.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeNotebook } from '../src/notebook/nbformat';
import { launch, skipWithoutChromium } from './browser-env';
import { PYTHON, skipWithout } from './jupyter-env';

const root = path.resolve(__dirname, '..');
const skip = skipWithoutChromium('plot-notebook6') || skipWithout('plot-notebook6', 'notebook');
const artifacts = path.join(root, 'artifacts');
let server: ChildProcess | undefined;
let browser: Browser | undefined;
let port = 0;
let tmp = '';
const token = 'relulab-test-token';

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });
}

async function waitForServer(url: string, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    try {
      if ((await fetch(url)).ok) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`the notebook server did not answer at ${url} within ${ms} ms`);
}

beforeAll(async () => {
  if (skip) return;
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'relulab-nb6-'));
  execFileSync(process.execPath, [path.join(root, 'dist', 'src', 'cli', 'main.js'), 'install', '--prefix', tmp]);
  const dir = path.join(tmp, 'work');
  fs.mkdirSync(dir);
  writeNotebook(path.join(dir, 'chart.ipynb'), {
    cells: [{ cell_type: 'code', execution_count: null, metadata: {}, outputs: [], source: 'plot.line([0, 1, 2, 3], [[0, 1, 4, 9], [9, 4, 1, 0]], { title: "In Notebook 6", names: ["up", "down"] })' }],
    metadata: { kernelspec: { name: 'relulab', display_name: 'TypeScript (relulab)', language: 'typescript' } },
    nbformat: 4,
    nbformat_minor: 5,
  });
  port = await freePort();
  const env = { ...process.env, JUPYTER_PATH: path.join(tmp, 'share', 'jupyter'), JUPYTER_DATA_DIR: path.join(tmp, 'data'), JUPYTER_CONFIG_DIR: path.join(tmp, 'config'), JUPYTER_RUNTIME_DIR: path.join(tmp, 'runtime') };
  server = spawn(PYTHON, ['-m', 'notebook', '--no-browser', '--ip=127.0.0.1', `--port=${port}`, '--port-retries=0', `--NotebookApp.token=${token}`, `--notebook-dir=${dir}`, '--allow-root'], { env, stdio: 'ignore' });
  await waitForServer(`http://127.0.0.1:${port}/api?token=${token}`, 30_000);
  browser = await launch();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  server?.kill('SIGTERM');
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

describe.skipIf(skip)('classic Notebook 6', () => {
  it('runs a notebook on the relulab kernel and draws the chart in the page', async () => {
    const page = await browser!.newPage();
    await page.goto(`http://127.0.0.1:${port}/notebooks/chart.ipynb?token=${token}`);
    // wait until the kernel is connected, then run every cell through the notebook's own API
    await page.waitForFunction(() => {
      const j = (globalThis as { Jupyter?: { notebook?: { kernel?: { is_connected(): boolean } } } }).Jupyter;
      return j?.notebook?.kernel?.is_connected() === true;
    }, undefined, { timeout: 30_000 });
    await page.evaluate(() => (globalThis as unknown as { Jupyter: { notebook: { execute_all_cells(): void } } }).Jupyter.notebook.execute_all_cells());
    await page.waitForSelector('.output_area .js-plotly-plot .main-svg', { timeout: 30_000 });
    const drawn = await page.$$eval('.output_area .js-plotly-plot', (plots) =>
      plots.map((p) => ({
        traces: p.querySelectorAll('.scatterlayer .trace').length,
        pathLength: Array.from(p.querySelectorAll('.scatterlayer path.js-line')).reduce((n: number, el) => n + ((el as { getAttribute(name: string): string | null }).getAttribute('d') ?? '').length, 0),
      })),
    );
    fs.mkdirSync(artifacts, { recursive: true });
    await page.screenshot({ path: path.join(artifacts, 'notebook6.png'), fullPage: true });
    expect(drawn).toHaveLength(1);
    expect(drawn[0].traces).toBe(2);
    expect(drawn[0].pathLength).toBeGreaterThan(0);
    await page.close();
  }, 90_000);
});
