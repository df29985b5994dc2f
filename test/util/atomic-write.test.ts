import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { writeFileAtomic } from '../../src/util/atomic-write.js';

const root = mkdtempSync(join(tmpdir(), 'tanalyze-atomic-'));
after(() => rmSync(root, { recursive: true, force: true }));

test('writeFileAtomic replaces the content and leaves no temporary file', async () => {
  const file = join(root, 'a.html');
  writeFileSync(file, 'old');
  await writeFileAtomic(file, 'new content');
  assert.equal(readFileSync(file, 'utf8'), 'new content');
  assert.deepEqual(readdirSync(root).filter((f) => f.endsWith('.tmp')), []);
});

test('a failed write leaves the old file whole and removes its temporary file', async () => {
  const dir = join(root, 'fail');
  mkdirSync(join(dir, 'target', 'inside'), { recursive: true });
  // Renaming a file over a non-empty folder fails after the data was written.
  await assert.rejects(writeFileAtomic(join(dir, 'target'), 'x'.repeat(1000)));
  assert.deepEqual(readdirSync(dir), ['target']);
});

test('SIGKILL in the middle of writing leaves the old file whole (10 kills at different moments)', async () => {
  const file = join(root, 'killed.html');
  const old = 'old report\n'.repeat(1000);
  writeFileSync(file, old);
  const module = fileURLToPath(new URL('../../src/util/atomic-write.js', import.meta.url));
  const script = `import { writeFileAtomic } from ${JSON.stringify(module)};
    const big = 'n'.repeat(64 * 1024 * 1024);
    process.stdout.write('go\\n');
    for (;;) await writeFileAtomic(${JSON.stringify(file)}, big);`;
  for (let i = 0; i < 10; i++) {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    await new Promise((r) => setTimeout(r, 5 + i * 15));
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    const now = readFileSync(file, 'utf8');
    assert.ok(now === old || now.length === 64 * 1024 * 1024, `kill ${i}: the file is whole (length ${now.length})`);
    writeFileSync(file, old);
  }
  for (const f of readdirSync(root).filter((f) => f.endsWith('.tmp'))) rmSync(join(root, f));
});
