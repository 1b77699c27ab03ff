/**
 * The tutorial notebooks: a fresh run must reproduce the committed outputs (relulab test), and the key
 * results they claim are asserted here.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatMismatch, testNotebook } from '../src/notebook/regress';
import { readNotebook, type CodeCell } from '../src/notebook/nbformat';

const dir = path.resolve(__dirname, '..', 'notebooks');
const notebooks = fs.readdirSync(dir).filter((f) => f.endsWith('.ipynb')).sort();

/** All text a notebook's code cells printed or returned. */
function printed(file: string): string {
  return readNotebook(path.join(dir, file))
    .cells.filter((c): c is CodeCell => c.cell_type === 'code')
    .flatMap((c) => c.outputs)
    .map((o) => {
      const v = (o as { text?: unknown }).text ?? (o as { data?: Record<string, unknown> }).data?.['text/plain'] ?? '';
      return Array.isArray(v) ? v.join('') : String(v);
    })
    .join('\n');
}

describe('tutorial notebooks', () => {
  it('exist, one per source document', () => {
    expect(notebooks.length).toBeGreaterThanOrEqual(1);
  });

  it.each(notebooks)('%s: a fresh run reproduces the committed outputs', async (file) => {
    const verdict = await testNotebook(path.join(dir, file), { timeout: 120 });
    expect(verdict.run.failures, JSON.stringify(verdict.run.failures)).toEqual([]);
    expect(verdict.mismatches.map(formatMismatch).join('\n')).toBe('');
  }, 180_000);

  it('notebook 1 prints the Q&A four lines exactly and finds exact zeros only with zero biases', () => {
    const out = printed('01-relu-gradient-at-zero.ipynb');
    expect(out).toContain(
      [
        'x = -1.00, loss = +4.00, (∂ loss)/(∂ x) = -0.00000000',
        'x = +0.00, loss = +1.00, (∂ loss)/(∂ x) = -0.00000000',
        'x = +1.00, loss = +0.00, (∂ loss)/(∂ x) = +0.00000000',
        'x = +2.00, loss = +1.00, (∂ loss)/(∂ x) = +0.50000000',
      ].join('\n'),
    );
    const keras = /Keras defaults \(zero bias\) : exact zeros per epoch \[(\d+),/.exec(out);
    expect(Number(keras?.[1])).toBeGreaterThan(0);
    expect(out).toMatch(/PyTorch defaults \(random bias\): exact zeros per epoch \[0,0,0,0\]/);
    expect(out).toMatch(/Keras defaults, no zero pixels: exact zeros per epoch \[0,0,0,0\]/);
  });

  it('notebook 2 prints the per-layer gradient table and shows gradients vanishing and exploding with depth', () => {
    const out = printed('02-finite-gradients-in-deep-relu-networks.ipynb');
    expect(out).toMatch(/^Layer 1 Gradient max\/min: -?\d+\.\d{4} \/ -?\d+\.\d{4}$/m);
    expect(out).toContain('Input Shape: [3, 10]');
    expect(out).toContain('every gradient finite: true');
    const last = (name: string) => Number(new RegExp(`^${name}\\s+(.*)$`, 'm').exec(out)![1].trim().split(/\s+/).at(-1));
    expect(last('relu, Glorot')).toBeLessThan(last('relu, He') / 1e3);
    expect(last('sigmoid, Glorot')).toBeLessThan(1e-20);
    const first = (scale: string) => Number(new RegExp(`He × ${scale}: first layer (\\S+),`).exec(out)![1]);
    expect(first('0.5')).toBeLessThan(1e-10);
    expect(first('1.5')).toBeGreaterThan(1e10);
  });

  it('notebook 3 finds one-sided limits 0 and 1 for ReLU at 0, and the engine value at every kink', () => {
    const out = printed('03-is-relu-differentiable.ipynb');
    const rows = out.split('\n').filter((l) => /^\s+1e[-+]\d+\s+\|/.test(l));
    expect(rows.length).toBe(8);
    for (const row of rows) expect(row).toMatch(/\|\s+0\.0000 1\.0000 \|/);
    expect(out).toContain('autograd: relu′(0) = 0');
    expect(out).toMatch(/relu6\s+6 \|\s+1\.0000\s+0\.0000 \| 0/);
    expect(out).toMatch(/leakyRelu\s+0 \|\s+0\.0100\s+1\.0000 \| 0\.01/);
  });

  it('notebook 4 trains a ReLU CNN to ≥ 95% on digits, and ReLU units stay dead while PReLU and ELU revive theirs', () => {
    const out = printed('04-relu-family.ipynb');
    const accuracies = [...out.matchAll(/^test accuracy (\d+\.\d)%$/gm)].map((m) => Number(m[1]));
    expect(accuracies.at(-1)).toBeGreaterThanOrEqual(95);
    const end = (act: string) => Number(new RegExp(`^${act}\\s+stuck units: start \\d+%, end (\\d+)%`, 'm').exec(out)![1]);
    expect(end('ReLU')).toBeGreaterThan(90);
    expect(end('ReLU')).toBeGreaterThan(end('ELU'));
    expect(end('ELU')).toBeGreaterThan(end('PReLU'));
    expect(out).toContain("after Conv2d(20, 64, kernelSize=[5, 5])        [2,64,20,20]");
    expect(out).toMatch(/ReLU6 max 6\.00/);
  });
});
