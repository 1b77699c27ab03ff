/**
 * Draws the kernel's logos: a ReLU graph (flat, then rising) in white on an orange square.
 * Run with `npx ts-node --transpile-only kernel/assets/make-logos.ts`; writes logo-32x32.png,
 * logo-64x64.png and logo-svg.svg beside this script.
 */
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';

const BACKGROUND = [0xe8, 0x6a, 0x17];
const FOREGROUND = [0xff, 0xff, 0xff];

/** Distance from point p to the segment ab. */
function distance(px: number, py: number, ax: number, ay: number, bx: number, by: number): number {
  const dx = bx - ax;
  const dy = by - ay;
  const t = Math.max(0, Math.min(1, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)));
  return Math.hypot(px - (ax + t * dx), py - (ay + t * dy));
}

/** The ReLU polyline in unit coordinates (y down): flat from the left, kink at the centre, up to the top right. */
const SEGMENTS: [number, number, number, number][] = [
  [0.15, 0.7, 0.5, 0.7],
  [0.5, 0.7, 0.85, 0.25],
];

function crc32(buf: Buffer): number {
  let c = ~0;
  for (const byte of buf) {
    c ^= byte;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}

function chunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}

function png(size: number): Buffer {
  const width = 0.07 * size;
  const rows: Buffer[] = [];
  for (let y = 0; y < size; y++) {
    const row = Buffer.alloc(1 + size * 3);
    for (let x = 0; x < size; x++) {
      const d = Math.min(...SEGMENTS.map(([ax, ay, bx, by]) => distance(x + 0.5, y + 0.5, ax * size, ay * size, bx * size, by * size)));
      const a = Math.max(0, Math.min(1, width - d + 0.5));
      for (let c = 0; c < 3; c++) row[1 + x * 3 + c] = Math.round(BACKGROUND[c] * (1 - a) + FOREGROUND[c] * a);
    }
    rows.push(row);
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(size, 0);
  ihdr.writeUInt32BE(size, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', zlib.deflateSync(Buffer.concat(rows))), chunk('IEND', Buffer.alloc(0))]);
}

const svg = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64" width="64" height="64">
  <rect width="64" height="64" fill="#e86a17"/>
  <polyline points="${SEGMENTS.map(([ax, ay]) => `${ax * 64},${ay * 64}`).join(' ')} ${SEGMENTS[1][2] * 64},${SEGMENTS[1][3] * 64}" fill="none" stroke="#fff" stroke-width="${0.14 * 64}" stroke-linecap="round" stroke-linejoin="round"/>
</svg>
`;

for (const size of [32, 64]) fs.writeFileSync(path.join(__dirname, `logo-${size}x${size}.png`), png(size));
fs.writeFileSync(path.join(__dirname, 'logo-svg.svg'), svg);
