import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { Tensor, ValueError } from '../engine';

export interface Digits {
  /** Pixels scaled to [0, 1] (raw values 0–16 divided by 16), flat: [1797, 64]. */
  x: Tensor;
  /** The same pixels as images [1797, 1, 8, 8] (NCHW), for convolutions. */
  images: Tensor;
  /** Labels 0–9, int32 [1797]. */
  y: Tensor;
  /** Source and licence. */
  attribution: string;
}

const ATTRIBUTION =
  'Optical Recognition of Handwritten Digits, E. Alpaydin and C. Kaynak (1998), UCI Machine Learning Repository, https://archive.ics.uci.edu/dataset/80, CC BY 4.0';

let cache: { pixels: Float32Array; labels: Int32Array } | null = null;

/** The package's data folder: `data/digits` at the package root (two levels above src/ or dist/src/). */
function dataFile(): string {
  let dir = __dirname;
  for (let i = 0; i < 4; i++) {
    const candidate = path.join(dir, 'data', 'digits', 'digits.csv.gz');
    if (fs.existsSync(candidate)) return candidate;
    dir = path.dirname(dir);
  }
  throw new ValueError('digits', 'data/digits/digits.csv.gz is missing from the relulab package');
}

/**
 * The real 8×8 handwritten-digits set shipped with relulab (1,797 images, CC BY 4.0; see data/digits).
 * Pixels are scaled to [0, 1] by dividing by 16, the largest raw value.
 */
export function digits(): Digits {
  if (cache === null) {
    const rows = zlib.gunzipSync(fs.readFileSync(dataFile())).toString('utf8').trim().split('\n');
    const pixels = new Float32Array(rows.length * 64);
    const labels = new Int32Array(rows.length);
    rows.forEach((row, i) => {
      const values = row.split(',').map(Number);
      if (values.length !== 65 || values.some(Number.isNaN)) throw new ValueError('digits', `row ${i + 1} of digits.csv.gz is malformed`);
      for (let j = 0; j < 64; j++) pixels[i * 64 + j] = values[j] / 16;
      labels[i] = values[64];
    });
    cache = { pixels, labels };
  }
  const n = cache.labels.length;
  return {
    x: Tensor.fromData(cache.pixels.slice(), [n, 64]),
    images: Tensor.fromData(cache.pixels.slice(), [n, 1, 8, 8]),
    y: Tensor.fromData(cache.labels.slice(), [n]),
    attribution: ATTRIBUTION,
  };
}
