/** Writes the relulab kernelspec directly (no Python needed), as Jupyter's kernelspec manager would. */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PACKAGE_ROOT } from './paths';

export interface KernelSpec {
  argv: string[];
  display_name: string;
  language: string;
  interrupt_mode: 'signal' | 'message';
  env?: Record<string, string>;
  metadata: Record<string, unknown>;
}

export class KernelInstallError extends Error {
  readonly code = 'RELULAB_KERNEL_INSTALL';
}

export const DEFAULT_NAME = 'relulab';
export const DEFAULT_DISPLAY_NAME = 'TypeScript (relulab)';

/** The spec: the absolute node binary and CLI, so the kernel starts whatever PATH the frontend has. */
export function kernelSpec(displayName = DEFAULT_DISPLAY_NAME): KernelSpec {
  return {
    argv: [process.execPath, path.join(PACKAGE_ROOT, 'dist', 'src', 'cli', 'main.js'), 'kernel', '--connection-file', '{connection_file}'],
    display_name: displayName,
    language: 'typescript',
    // control-channel interrupts; SIGINT works as well
    interrupt_mode: 'message',
    metadata: { debugger: false, relulab: { packageRoot: PACKAGE_ROOT } },
  };
}

export interface InstallLocation {
  user?: boolean;
  sysPrefix?: boolean;
  prefix?: string;
}

/** The kernels folder Jupyter reads for the chosen location (user data dir by default). */
export function kernelsDir({ user, sysPrefix, prefix }: InstallLocation = {}): string {
  if ([user, sysPrefix, prefix !== undefined].filter(Boolean).length > 1) throw new KernelInstallError('choose only one of --user, --sys-prefix and --prefix');
  if (prefix !== undefined) return path.join(path.resolve(prefix), 'share', 'jupyter', 'kernels');
  if (sysPrefix) {
    let python: string;
    try {
      python = execFileSync(process.env.PYTHON ?? 'python3', ['-c', 'import sys; print(sys.prefix)']).toString().trim();
    } catch {
      throw new KernelInstallError('--sys-prefix needs the Python environment Jupyter runs in (set PYTHON to its interpreter), or use --prefix');
    }
    return path.join(python, 'share', 'jupyter', 'kernels');
  }
  const data = process.env.JUPYTER_DATA_DIR ?? (process.platform === 'darwin' ? path.join(os.homedir(), 'Library', 'Jupyter') : path.join(process.env.XDG_DATA_HOME ?? path.join(os.homedir(), '.local', 'share'), 'jupyter'));
  return path.join(data, 'kernels');
}

export interface InstallOptions extends InstallLocation {
  name?: string;
  displayName?: string;
  force?: boolean;
}

/** Installs the kernelspec and logos; returns the kernel's folder. */
export function install({ name = DEFAULT_NAME, displayName, force = false, ...location }: InstallOptions = {}): string {
  if (!/^[a-z0-9._-]+$/i.test(name)) throw new KernelInstallError(`invalid kernel name ${JSON.stringify(name)}: use letters, digits, '.', '_' and '-'`);
  const dir = path.join(kernelsDir(location), name);
  if (fs.existsSync(dir) && !force) throw new KernelInstallError(`a kernel named ${name} is already installed at ${dir}; pass --force to replace it`);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'kernel.json'), `${JSON.stringify(kernelSpec(displayName), null, 2)}\n`);
  for (const logo of ['logo-32x32.png', 'logo-64x64.png', 'logo-svg.svg']) fs.copyFileSync(path.join(PACKAGE_ROOT, 'kernel', 'assets', logo), path.join(dir, logo));
  return dir;
}

export function uninstall({ name = DEFAULT_NAME, ...location }: InstallOptions = {}): string {
  const dir = path.join(kernelsDir(location), name);
  if (!fs.existsSync(path.join(dir, 'kernel.json'))) throw new KernelInstallError(`no kernel named ${name} is installed at ${dir}`);
  fs.rmSync(dir, { recursive: true });
  return dir;
}
