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

program.parseAsync(process.argv).catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
