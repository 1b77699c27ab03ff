import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = path.resolve(__dirname, '..');
// a folder inside the repository, as a notebook folder would be
const nested = fs.mkdtempSync(path.join(root, '.tmp-notebook-'));
afterAll(() => fs.rmSync(nested, { recursive: true, force: true }));

const cjs = 'const r = require("relulab"); console.log(r.version, JSON.stringify(r.relu(r.tensor([-1, 2])).toArray()))';
const esm = 'import { version, relu, tensor } from "relulab"; console.log(version, JSON.stringify(relu(tensor([-1, 2])).toArray()))';

describe('the relulab package', () => {
  it.each([
    ['require()', 'the repo root', root, ['-e', cjs]],
    ['require()', 'a notebook folder', nested, ['-e', cjs]],
    ['import with named exports', 'the repo root', root, ['--input-type=module', '-e', esm]],
    ['import with named exports', 'a notebook folder', nested, ['--input-type=module', '-e', esm]],
  ])('loads with %s from %s', (_how, _where, cwd, args) => {
    const out = execFileSync('node', args as string[], { cwd: cwd as string }).toString().trim();
    expect(out).toMatch(/^\d+\.\d+\.\d+ \[0,2\]$/);
  });

  it('declares a top-level types entry for Node10-style resolvers such as tslab', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
    expect(fs.existsSync(path.join(root, pkg.types))).toBe(true);
    expect(pkg.bin.relulab).toBe('dist/src/cli/main.js');
  });
});
