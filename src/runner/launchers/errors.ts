/**
 * Why a launcher could not give tanalyze a serving Triton: one typed error for every
 * mode, with the last lines of the server's log where there is one. It is an
 * InfrastructureError, so it maps to exit code 3 in the CLI's one place.
 */
import { readFileSync, statSync, openSync, readSync, closeSync } from 'node:fs';
import { InfrastructureError } from '../../domain/errors.js';

export type LaunchFailure =
  /** The tritonserver (or trtexec) binary is not there or not executable. */
  | 'missing-binary'
  /** A port tanalyze asked the server to listen on is taken. */
  | 'port-in-use'
  /** The server exited while starting. */
  | 'exited'
  /** The server did not become ready in time. */
  | 'timeout'
  /** The server died after it was ready (crash mid-run). */
  | 'crashed'
  /** A remote Triton is not in explicit model-control mode. */
  | 'not-explicit'
  /** A remote Triton cannot be reached or is not live/ready. */
  | 'unreachable'
  /** No Docker engine answers on the socket. */
  | 'docker-unreachable'
  /** The Docker engine refused a request (image, container, GPUs). */
  | 'docker-error';

export class LaunchError extends InfrastructureError {
  constructor(
    readonly failure: LaunchFailure,
    message: string,
    /** Last lines of the server's log (may be empty). */
    readonly logTail: string[] = [],
    hint?: string,
    /** Where the full log is, when there is one. */
    readonly logFile?: string,
  ) {
    super(LaunchError.compose(message, logTail, logFile), hint);
  }

  private static compose(message: string, tail: string[], logFile?: string): string {
    if (!tail.length) return logFile ? `${message} (log: ${logFile})` : message;
    const where = logFile ? ` (${logFile})` : '';
    return `${message}\nlast lines of its log${where}:\n${tail.map((l) => `  | ${l}`).join('\n')}`;
  }
}

/** The last `n` non-empty lines of a (possibly large, possibly missing) log file. */
export function tailFile(file: string, n = 20, maxBytes = 64 * 1024): string[] {
  try {
    const size = statSync(file).size;
    const start = Math.max(0, size - maxBytes);
    const fd = openSync(file, 'r');
    try {
      const buf = Buffer.alloc(size - start);
      readSync(fd, buf, 0, buf.length, start);
      return tailLines(buf.toString('utf8'), n);
    } finally {
      closeSync(fd);
    }
  } catch {
    return [];
  }
}

/** The last `n` non-empty lines of a text, trailing whitespace trimmed. */
export function tailLines(text: string, n = 20): string[] {
  const lines = text.split(/\r?\n/).map((l) => l.trimEnd()).filter((l) => l.length > 0);
  return lines.slice(-n);
}

/** Reads a whole (small) file, or '' when it cannot be read. */
export function readText(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** Triton's log lines when a socket is taken ("Socket '0.0.0.0:8001' already in use"). */
export function mentionsPortInUse(lines: readonly string[]): boolean {
  return lines.some((l) => /already in use|address in use|EADDRINUSE/i.test(l));
}
