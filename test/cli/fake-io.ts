/** A CliIO that records what a command prints, for in-process command tests. */
import type { CliIO } from '../../src/cli/io.js';

export interface RecordingIO extends CliIO {
  out: string[];
  err: string[];
}

export function recordingIO(cwd: string, env: Record<string, string | undefined> = {}): RecordingIO {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, cwd, env, stdout: (s) => void out.push(s), stderr: (s) => void err.push(s) };
}
