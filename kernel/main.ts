import { readConnectionFile } from '../src/notebook/wire';
import { Kernel } from './server';

/** Starts the relulab kernel for a Jupyter connection file (blocks until shutdown). */
export async function startKernel(connectionFile: string): Promise<Kernel> {
  const kernel = new Kernel({ connection: readConnectionFile(connectionFile) });
  await kernel.start();
  return kernel;
}
