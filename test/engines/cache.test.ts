/**
 * The engine cache: keys, hits across runs (a resumed run builds nothing twice),
 * damaged artifacts, failed builds, and concurrent builders in one process and in
 * several processes sharing the folder.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EngineCache, cacheKey, defaultEngineCacheDir, hashFile, type CacheKeyParts } from '../../src/runner/engines/cache.js';

const parts = (over: Partial<CacheKeyParts> = {}): CacheKeyParts => ({
  builder: 'trtexec',
  sourceSha256: 'a'.repeat(64),
  precision: 'FP16',
  profile: 'input:1x3x32x32/8x3x32x32/8x3x32x32',
  builderVersion: 'TensorRT 10.3.0',
  device: 'NVIDIA H100 80GB HBM3',
  ...over,
});

describe('EngineCache', () => {
  let work: string;
  before(() => {
    work = mkdtempSync(join(tmpdir(), 'tanalyze-cache-'));
  });
  after(() => rmSync(work, { recursive: true, force: true }));

  it('the key covers every part and ignores their order', () => {
    const k = cacheKey(parts());
    assert.match(k, /^[0-9a-f]{64}$/);
    const reordered = Object.fromEntries(Object.entries(parts()).reverse()) as CacheKeyParts;
    assert.equal(cacheKey(reordered), k);
    for (const [field, value] of [['sourceSha256', 'b'.repeat(64)], ['precision', 'INT8'], ['profile', 'input:1x3x32x32/16x3x32x32/16x3x32x32'], ['builderVersion', 'TensorRT 10.7.0'], ['device', 'NVIDIA L4'], ['calibSha256', 'c']] as const) {
      assert.notEqual(cacheKey(parts({ [field]: value })), k, `${field} changes the key`);
    }
  });

  it('builds once; the same run and a resumed run (a new cache object) get the artifact back', async () => {
    const dir = join(work, 'c1');
    let builds = 0;
    const build = async (out: string, log: string) => {
      builds++;
      writeFileSync(log, 'building\n');
      writeFileSync(out, 'ENGINE');
    };
    const a = new EngineCache(dir);
    const first = await a.getOrBuild(parts(), '.plan', build);
    assert.equal(first.built, true);
    assert.equal(first.entry.file, join(dir, 'artifacts', `${first.entry.key}.plan`));
    assert.equal(readFileSync(first.entry.file, 'utf8'), 'ENGINE');
    assert.equal(first.entry.sizeBytes, 6);
    const second = await a.getOrBuild(parts(), '.plan', build);
    assert.equal(second.built, false);
    const resumed = await new EngineCache(dir).getOrBuild(parts(), '.plan', build);
    assert.equal(resumed.built, false);
    assert.equal(builds, 1);
    const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { version: number; entries: Record<string, { parts: CacheKeyParts }> };
    assert.equal(index.version, 1);
    assert.deepEqual(Object.keys(index.entries), [first.entry.key]);
    assert.equal(index.entries[first.entry.key]!.parts.precision, 'FP16');
    assert.deepEqual(readdirSync(join(dir, 'tmp')), [], 'no temporary file left');
    assert.deepEqual(readdirSync(join(dir, 'locks')), [], 'no lock left');
  });

  it('a missing or truncated artifact is built again', async () => {
    const dir = join(work, 'c2');
    const cache = new EngineCache(dir);
    let builds = 0;
    const build = async (out: string) => {
      builds++;
      writeFileSync(out, 'ENGINE-BYTES');
    };
    const { entry } = await cache.getOrBuild(parts(), '.plan', build);
    writeFileSync(entry.file, 'ENG'); // truncated by a crash or a person
    assert.equal((await cache.getOrBuild(parts(), '.plan', build)).built, true);
    rmSync(entry.file);
    assert.equal((await cache.getOrBuild(parts(), '.plan', build)).built, true);
    assert.equal(builds, 3);
  });

  it('a failed build leaves no entry, no temporary file and no lock', async () => {
    const dir = join(work, 'c3');
    const cache = new EngineCache(dir);
    await assert.rejects(
      cache.getOrBuild(parts(), '.plan', async (out) => {
        writeFileSync(out, 'half');
        throw new Error('trtexec failed');
      }),
      /trtexec failed/,
    );
    assert.equal(await cache.lookup(cacheKey(parts())), null);
    assert.deepEqual(readdirSync(join(dir, 'tmp')), []);
    assert.deepEqual(readdirSync(join(dir, 'locks')), []);
    await assert.rejects(cache.getOrBuild(parts(), '.plan', async () => undefined), /the build wrote nothing/);
    const ok = await cache.getOrBuild(parts(), '.plan', async (out) => writeFileSync(out, 'x'));
    assert.equal(ok.built, true);
  });

  it('concurrent requests for one key in one process build once', async () => {
    const cache = new EngineCache(join(work, 'c4'));
    let builds = 0;
    const build = async (out: string) => {
      builds++;
      await new Promise((r) => setTimeout(r, 100));
      writeFileSync(out, 'E');
    };
    const rs = await Promise.all([1, 2, 3].map(() => cache.getOrBuild(parts(), '.plan', build)));
    assert.equal(builds, 1);
    assert.deepEqual(rs.map((r) => r.built).sort(), [false, false, true]);
  });

  it('a lock left by a dead process is taken over; a live holder is waited for', async () => {
    const dir = join(work, 'c5');
    const cache = new EngineCache(dir, { lockPollMs: 20 });
    const key = cacheKey(parts());
    mkdirSync(join(dir, 'locks'), { recursive: true });
    writeFileSync(join(dir, 'locks', `${key}.lock`), JSON.stringify({ pid: 4_000_000 }));
    assert.equal((await cache.getOrBuild(parts(), '.plan', async (out) => writeFileSync(out, 'E'))).built, true);

    const other = parts({ precision: 'INT8' });
    const otherKey = cacheKey(other);
    const holder = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)']);
    try {
      writeFileSync(join(dir, 'locks', `${otherKey}.lock`), JSON.stringify({ pid: holder.pid }));
      let done = false;
      const p = cache.getOrBuild(other, '.plan', async (out) => writeFileSync(out, 'E')).then((r) => ((done = true), r));
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(done, false, 'waits while the holder lives');
      rmSync(join(dir, 'locks', `${otherKey}.lock`)); // the holder finished
      assert.equal((await p).built, true);
    } finally {
      holder.kill();
    }
  });

  it('two processes sharing the cache folder build a key once', async () => {
    const dir = join(work, 'c6');
    const counter = join(work, 'c6-builds.txt');
    const cacheModule = fileURLToPath(new URL('../../src/runner/engines/cache.js', import.meta.url));
    const script = `
      import { EngineCache } from ${JSON.stringify(cacheModule)};
      import { appendFileSync, writeFileSync } from 'node:fs';
      const cache = new EngineCache(${JSON.stringify(dir)}, { lockPollMs: 20 });
      const r = await cache.getOrBuild(${JSON.stringify(parts({ device: 'shared' }))}, '.plan', async (out) => {
        appendFileSync(${JSON.stringify(counter)}, process.pid + '\\n');
        await new Promise((r) => setTimeout(r, 400));
        writeFileSync(out, 'E');
      });
      process.stdout.write(String(r.built));`;
    const run = () =>
      new Promise<string>((resolve, reject) => {
        const c = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
        let out = '';
        c.stdout.on('data', (d: Buffer) => (out += d));
        c.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`child exited ${code}`))));
      });
    const results = await Promise.all([run(), run()]);
    assert.deepEqual(results.sort(), ['false', 'true']);
    assert.equal(readFileSync(counter, 'utf8').trim().split('\n').length, 1);
    const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { entries: Record<string, unknown> };
    assert.equal(Object.keys(index.entries).length, 1);
  });

  it('hashFile is the sha256 of the bytes; the default folder follows XDG_CACHE_HOME', async () => {
    const f = join(work, 'bytes.bin');
    writeFileSync(f, 'abc');
    assert.equal(await hashFile(f), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    writeFileSync(f, 'abcd');
    assert.notEqual(await hashFile(f), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    assert.equal(defaultEngineCacheDir({ XDG_CACHE_HOME: '/xdg' }), '/xdg/tanalyze/engines');
    assert.ok(existsSync(work));
  });
});
