/** Runs the compiled tanalyze CLI as a user would: a real process, its output and exit. */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const MAIN = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

/**
 * Flow tests check what a run stores, reports and exits with, not its figures: they measure
 * with short windows and few load levels so that a configuration takes about a second.
 */
export const SHORT_LOAD = ['--max-concurrency', '8', '--window', '150ms', '--max-windows', '4'];

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function tanalyze(args: string[], cwd: string, opts: { env?: Record<string, string>; killAfterMs?: number; timeoutMs?: number } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [MAIN, ...args], { cwd, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const killer = opts.killAfterMs === undefined ? null : setTimeout(() => child.kill('SIGKILL'), opts.killAfterMs);
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`tanalyze ${args.join(' ')} did not finish in ${opts.timeoutMs ?? 240_000} ms\n${stderr}`));
    }, opts.timeoutMs ?? 240_000);
    child.on('close', (code, signal) => {
      if (killer) clearTimeout(killer);
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}
