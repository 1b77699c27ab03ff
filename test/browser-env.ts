/** Debian's Chromium through playwright-core; suites that need it skip visibly outside CI when it is missing. */
import fs from 'node:fs';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';

export function skipWithoutChromium(suite: string): boolean {
  if (fs.existsSync(CHROMIUM)) return false;
  if (process.env.CI === 'true') throw new Error(`${suite}: CI must have ${CHROMIUM} (installed by .ci/run)`);
  console.warn(`SKIPPED ${suite}: ${CHROMIUM} is missing (Debian package chromium)`);
  return true;
}

export function launch(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}
