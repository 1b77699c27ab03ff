/** Reading and writing .ipynb files (nbformat 4): validated on read, written atomically. */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { ICell, ICodeCell, INotebookContent, IOutput, MultilineString } from '@jupyterlab/nbformat';

export type Notebook = INotebookContent;
export type Cell = ICell;
export type CodeCell = ICodeCell;
export type Output = IOutput;

export class NotebookError extends Error {
  readonly code: string;
  constructor(code: 'RELULAB_NOTEBOOK_READ' | 'RELULAB_NOTEBOOK_INVALID' | 'RELULAB_NOTEBOOK_WRITE', readonly file: string, message: string) {
    super(`${file}: ${message}`);
    this.code = code;
  }
}

export function sourceText(source: MultilineString): string {
  return Array.isArray(source) ? source.join('') : source;
}

/** Reads and checks a notebook; a malformed file gives a NotebookError naming it. */
export function readNotebook(file: string): Notebook {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new NotebookError('RELULAB_NOTEBOOK_READ', file, `cannot read: ${(e as Error).message}`);
  }
  let nb: Notebook;
  try {
    nb = JSON.parse(text);
  } catch (e) {
    throw new NotebookError('RELULAB_NOTEBOOK_INVALID', file, `not valid JSON (${(e as Error).message})`);
  }
  if (typeof nb !== 'object' || nb === null || !Array.isArray(nb.cells)) throw new NotebookError('RELULAB_NOTEBOOK_INVALID', file, 'not a notebook: no "cells" list');
  if (nb.nbformat !== 4) throw new NotebookError('RELULAB_NOTEBOOK_INVALID', file, `nbformat ${String(nb.nbformat)} is not supported (expected 4)`);
  nb.cells.forEach((cell, i) => {
    if (!['code', 'markdown', 'raw'].includes(cell.cell_type) || cell.source === undefined) {
      throw new NotebookError('RELULAB_NOTEBOOK_INVALID', file, `cell ${i + 1} is malformed (cell_type ${JSON.stringify(cell.cell_type)})`);
    }
  });
  return nb;
}

/**
 * Writes through a temporary file and a rename, so a reader never sees half a notebook. Cells without an
 * id get a stable one, as nbformat 4.5 requires.
 */
export function writeNotebook(file: string, nb: Notebook): void {
  if ((nb.nbformat_minor ?? 0) >= 5) {
    const used = new Set(nb.cells.map((c) => c.id).filter(Boolean));
    nb.cells.forEach((cell, i) => {
      if (cell.id) return;
      let id = crypto.createHash('sha1').update(`${i}\u0000${sourceText(cell.source)}`).digest('hex').slice(0, 8);
      while (used.has(id)) id = crypto.createHash('sha1').update(id).digest('hex').slice(0, 8);
      used.add(id);
      cell.id = id;
    });
  }
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  const tmp = path.join(path.dirname(path.resolve(file)), `.${path.basename(file)}.${process.pid}.tmp`);
  try {
    fs.writeFileSync(tmp, `${JSON.stringify(nb, null, 1)}\n`);
    fs.renameSync(tmp, file);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw new NotebookError('RELULAB_NOTEBOOK_WRITE', file, `cannot write: ${(e as Error).message}`);
  }
}

export function tagsOf(cell: Cell): string[] {
  const tags = (cell.metadata as { tags?: unknown }).tags;
  return Array.isArray(tags) ? tags.map(String) : [];
}

/** Finds notebooks: files as given, folders searched (not recursively) for *.ipynb, sorted. */
export function collectNotebooks(inputs: readonly string[]): string[] {
  const out: string[] = [];
  for (const input of inputs) {
    if (fs.existsSync(input) && fs.statSync(input).isDirectory()) {
      out.push(...fs.readdirSync(input).filter((f) => f.endsWith('.ipynb')).sort().map((f) => path.join(input, f)));
    } else {
      out.push(input);
    }
  }
  return out;
}
