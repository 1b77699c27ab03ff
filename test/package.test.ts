import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

const root = path.resolve(__dirname, '..');

describe('the relulab package', () => {
  it('loads with require() from the repo root', () => {
    const out = execFileSync('node', ['-e', 'console.log(require("relulab").version)'], { cwd: root }).toString();
    expect(out.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('loads with import() from the repo root', () => {
    const out = execFileSync('node', ['--input-type=module', '-e', 'const m = await import("relulab"); console.log(m.version)'], { cwd: root }).toString();
    expect(out.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });
});
