// Compiles the message catalogs into src/paraglide (git-ignored) before any
// test file loads, with the same command as `npm run check` (`npm run i18n`).
// In a child process: Paraglide's compiler leaves timers behind it that would
// keep vitest from exiting (its CLI exits explicitly).
import { execFileSync } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Vitest's global setup. */
export default function setup() {
  const uiDir = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
  execFileSync(process.platform === 'win32' ? 'npm.cmd' : 'npm', ['run', '--silent', 'i18n'], {
    cwd: uiDir,
    stdio: 'inherit',
  });
}
