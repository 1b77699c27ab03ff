import fs from 'node:fs';
import path from 'node:path';

/** The relulab package root (the folder with package.json), found from kernel/ or dist/kernel/. */
export const PACKAGE_ROOT = (() => {
  let dir = __dirname;
  while (!fs.existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir);
  return dir;
})();
