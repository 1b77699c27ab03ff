/**
 * The kernel's CLI commands. tslab loads only inside `relulab kernel`, so the rest of the CLI starts fast
 * and src/ never depends on tslab.
 */
import type { Command } from 'commander';
import { install, kernelSpec, uninstall, type InstallOptions } from './install';

function location(cmd: Command): Command {
  return cmd
    .option('--user', "install for the current user (the default): Jupyter's user data folder")
    .option('--sys-prefix', "install into the Python environment Jupyter runs in (asks $PYTHON or python3 for sys.prefix)")
    .option('--prefix <path>', 'install under <path>/share/jupyter/kernels')
    .option('--name <name>', 'kernel name', 'relulab');
}

export function registerKernelCommands(program: Command): void {
  location(program.command('install').description('install the relulab Jupyter kernel (no Python needed)'))
    .option('--display-name <name>', 'name shown in the kernel picker', 'TypeScript (relulab)')
    .option('--force', 'replace an installed kernel of the same name')
    .action((opts: InstallOptions) => {
      console.log(`Installed the relulab kernel in ${install(opts)}`);
    });

  location(program.command('uninstall').description('remove the relulab Jupyter kernel')).action((opts: InstallOptions) => {
    console.log(`Removed ${uninstall(opts)}`);
  });

  program
    .command('kernelspec')
    .description('print the kernelspec (kernel.json) that install writes')
    .option('--display-name <name>', 'name shown in the kernel picker', 'TypeScript (relulab)')
    .action((opts: { displayName: string }) => {
      console.log(JSON.stringify(kernelSpec(opts.displayName), null, 2));
    });

  program
    .command('kernel')
    .description('start the kernel (Jupyter runs this from the kernelspec)')
    .requiredOption('--connection-file <path>', 'the connection file Jupyter wrote')
    .action(async (opts: { connectionFile: string }) => {
      const { startKernel } = require('./main') as typeof import('./main');
      await startKernel(opts.connectionFile);
    });
}
