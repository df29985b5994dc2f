/**
 * The engine cache: built artifacts (TensorRT plans, optimized ONNX models) keyed by
 * everything that makes them what they are, so a repeated or resumed run builds
 * nothing it has already built.
 *
 * Key = sha256 of the canonical JSON of its parts: the source model file's sha256,
 * the precision, the shape profile, the builder and its version (TensorRT's, or ONNX
 * Runtime's), the device (GPU name), and any other input (calibration cache hash,
 * extra flags). Layout of the cache folder:
 *
 *   artifacts/<key><ext>   the built file (renamed into place: never half-written)
 *   entries/<key>.json     what it was built from, when, how long it took
 *   logs/<key>.log         the build log (failed builds too)
 *   locks/<key>.lock       held while building (pid inside; a dead holder's lock is taken over)
 *   index.json             every entry in one file, for people and tools (rewritten
 *                          from entries/ after each build, via a temporary file + rename)
 *
 * Several tanalyze processes may share a cache: each entry is its own file written by
 * rename, a build of one key happens once (the lock), and index.json is rebuilt from
 * the entries rather than edited in place, so concurrent writers cannot lose entries.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

export interface CacheKeyParts {
  /** What built it: 'trtexec', 'onnxruntime'. */
  builder: string;
  /** sha256 of the source model file. */
  sourceSha256: string;
  precision: string;
  /** Canonical shape profile text (profileKey), or 'as-exported'. */
  profile: string;
  /** TensorRT version (trtexec), or the ONNX Runtime version. */
  builderVersion: string;
  /** GPU name (nvidia-smi), or the CPU for ONNX Runtime builds. */
  device: string;
  /** Anything else that changes the artifact (calibration cache hash, extra flags). */
  [more: string]: string;
}

export interface CacheEntry {
  key: string;
  /** Absolute path of the artifact. */
  file: string;
  sizeBytes: number;
  createdAt: string;
  buildSeconds: number;
  parts: CacheKeyParts;
  logFile: string;
}

/** The cache key (pure): sha256 of the parts as JSON with sorted keys. */
export function cacheKey(parts: CacheKeyParts): string {
  const sorted = Object.fromEntries(Object.entries(parts).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  return createHash('sha256').update(JSON.stringify(sorted)).digest('hex');
}

const hashMemo = new Map<string, { size: number; mtimeMs: number; sha: string }>();

/** sha256 of a file's bytes (streamed; remembered while its size and mtime stay the same). */
export async function hashFile(file: string): Promise<string> {
  const p = resolve(file);
  const st = await stat(p);
  const memo = hashMemo.get(p);
  if (memo && memo.size === st.size && memo.mtimeMs === st.mtimeMs) return memo.sha;
  const sha = await new Promise<string>((res, rej) => {
    const h = createHash('sha256');
    createReadStream(p)
      .on('data', (d) => h.update(d))
      .on('error', rej)
      .on('end', () => res(h.digest('hex')));
  });
  hashMemo.set(p, { size: st.size, mtimeMs: st.mtimeMs, sha });
  return sha;
}

/** $XDG_CACHE_HOME/tanalyze/engines, or ~/.cache/tanalyze/engines. */
export function defaultEngineCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env['XDG_CACHE_HOME'] || join(homedir(), '.cache'), 'tanalyze', 'engines');
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function writeAtomic(file: string, text: string): Promise<void> {
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, text);
  await rename(tmp, file);
}

export interface GetOrBuildResult {
  entry: CacheEntry;
  /** False when it came from the cache. */
  built: boolean;
}

export class EngineCache {
  readonly dir: string;
  private readonly inFlight = new Map<string, Promise<GetOrBuildResult>>();

  constructor(dir: string, private readonly opts: { lockPollMs?: number; lockStaleMs?: number } = {}) {
    this.dir = resolve(dir);
  }

  artifactPath(key: string, ext: string): string {
    return join(this.dir, 'artifacts', `${key}${ext}`);
  }

  logPath(key: string): string {
    return join(this.dir, 'logs', `${key}.log`);
  }

  private entryPath(key: string): string {
    return join(this.dir, 'entries', `${key}.json`);
  }

  private async ensureDirs(): Promise<void> {
    for (const d of ['artifacts', 'entries', 'logs', 'locks', 'tmp']) await mkdir(join(this.dir, d), { recursive: true });
  }

  /** The entry for `key` if its artifact is there, whole; null otherwise. */
  async lookup(key: string): Promise<CacheEntry | null> {
    let entry: CacheEntry;
    try {
      entry = JSON.parse(await readFile(this.entryPath(key), 'utf8')) as CacheEntry;
    } catch {
      return null;
    }
    const st = await stat(entry.file).catch(() => null);
    return st && st.size === entry.sizeBytes ? entry : null;
  }

  /** Every entry (from entries/, the source of truth). */
  async entries(): Promise<CacheEntry[]> {
    const names = await readdir(join(this.dir, 'entries')).catch(() => [] as string[]);
    const out: CacheEntry[] = [];
    for (const n of names.filter((x) => x.endsWith('.json')).sort()) {
      try {
        out.push(JSON.parse(await readFile(join(this.dir, 'entries', n), 'utf8')) as CacheEntry);
      } catch {
        /* being written or damaged: skip */
      }
    }
    return out;
  }

  /**
   * The cached artifact for `parts`, or `build(outFile, logFile)` to make it. The build
   * writes `outFile` (a temporary path inside the cache); it is renamed into place when
   * the build returns. One build per key at a time, across processes.
   */
  async getOrBuild(parts: CacheKeyParts, ext: string, build: (outFile: string, logFile: string) => Promise<void>): Promise<GetOrBuildResult> {
    const key = cacheKey(parts);
    const running = this.inFlight.get(key);
    if (running) return running.then((r) => ({ entry: r.entry, built: false }));
    const p = this.getOrBuildLocked(key, parts, ext, build).finally(() => this.inFlight.delete(key));
    this.inFlight.set(key, p);
    return p;
  }

  private async getOrBuildLocked(key: string, parts: CacheKeyParts, ext: string, build: (outFile: string, logFile: string) => Promise<void>): Promise<GetOrBuildResult> {
    const hit = await this.lookup(key);
    if (hit) return { entry: hit, built: false };
    await this.ensureDirs();
    const release = await this.lock(key);
    try {
      const again = await this.lookup(key); // built by another process while we waited
      if (again) return { entry: again, built: false };
      const tmp = join(this.dir, 'tmp', `${key}.${process.pid}.${randomBytes(4).toString('hex')}${ext}`);
      const logFile = this.logPath(key);
      const started = Date.now();
      try {
        await build(tmp, logFile);
        const st = await stat(tmp).catch(() => null);
        if (!st || st.size === 0) throw new Error(`the build wrote nothing at ${tmp}`);
        const file = this.artifactPath(key, ext);
        await rename(tmp, file);
        const entry: CacheEntry = {
          key,
          file,
          sizeBytes: st.size,
          createdAt: new Date().toISOString(),
          buildSeconds: (Date.now() - started) / 1000,
          parts,
          logFile,
        };
        await writeAtomic(this.entryPath(key), JSON.stringify(entry, null, 2) + '\n');
        await this.writeIndex();
        return { entry, built: true };
      } finally {
        await rm(tmp, { force: true });
      }
    } finally {
      await release();
    }
  }

  /** Rewrites index.json from entries/ (temporary file + rename). */
  async writeIndex(): Promise<void> {
    const entries = await this.entries();
    const index = { version: 1, entries: Object.fromEntries(entries.map((e) => [e.key, e])) };
    await writeAtomic(join(this.dir, 'index.json'), JSON.stringify(index, null, 2) + '\n');
  }

  /** Takes the key's lock file (O_EXCL); waits while a live process holds it; takes over a dead one's. */
  private async lock(key: string): Promise<() => Promise<void>> {
    const file = join(this.dir, 'locks', `${key}.lock`);
    const pollMs = this.opts.lockPollMs ?? 200;
    const staleMs = this.opts.lockStaleMs ?? 6 * 3600_000;
    for (;;) {
      try {
        const fh = await open(file, 'wx');
        await fh.writeFile(JSON.stringify({ pid: process.pid, since: new Date().toISOString() }));
        await fh.close();
        return async () => {
          await rm(file, { force: true });
        };
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      let holder: { pid?: number } = {};
      try {
        holder = JSON.parse(await readFile(file, 'utf8')) as { pid?: number };
      } catch {
        /* being written: wait */
      }
      const st = await stat(file).catch(() => null);
      const stale = !st || Date.now() - st.mtimeMs > staleMs || (holder.pid !== undefined && holder.pid !== process.pid && !pidAlive(holder.pid));
      if (stale && st) await rm(file, { force: true });
      else await new Promise((r) => setTimeout(r, pollMs));
    }
  }
}
