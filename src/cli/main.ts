#!/usr/bin/env node
import { Command } from 'commander';
import { version } from '../index';

const program = new Command('relulab').version(version).description('Deep learning in TypeScript notebooks');

program
  .command('demo')
  .description('print a short demo of the engine')
  .action(() => {
    console.log(`relulab ${version}`);
  });

// the kernel's commands live in kernel/ (the only code that touches tslab, loaded lazily)
(require('../../kernel/commands') as typeof import('../../kernel/commands')).registerKernelCommands(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
