/** Whether Debian's Jupyter is here; suites that need it skip with a visible message, except in CI. */
import { execFileSync } from 'node:child_process';

export const PYTHON = '/usr/bin/python3';

export function hasPythonModules(...modules: string[]): boolean {
  try {
    execFileSync(PYTHON, ['-c', modules.map((m) => `import ${m}`).join('; ')], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** True when the suite must skip: the modules are missing and this is not CI (in CI they must be there). */
export function skipWithout(suite: string, ...modules: string[]): boolean {
  if (hasPythonModules(...modules)) return false;
  if (process.env.CI === 'true') throw new Error(`${suite}: CI must have the Python modules ${modules.join(', ')} (installed by .ci/run)`);
  console.warn(`SKIPPED ${suite}: ${PYTHON} lacks ${modules.join(', ')} (Debian: jupyter-client, jupyter-nbconvert, python3-nbclient, python3-jupyter-kernel-test)`);
  return true;
}
