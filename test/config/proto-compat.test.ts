/**
 * Our src/config/model_config.proto against Triton's upstream definition: every
 * message and enum reachable from inference.ModelConfig must match field for field,
 * so binary, text and JSON forms are interchangeable with Triton's.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import protobuf from 'protobufjs';
import { fromPackageRoot, packageRoot } from '../../src/util/package-root.js';
import { modelConfigType } from '../../src/config/pbtxt.js';

function sharedDir(): string | null {
  for (const d of [resolve(packageRoot(), '..', 'shared'), process.env.TANALYZE_SHARED]) {
    if (d && existsSync(join(d, 'reference', 'triton'))) return d;
  }
  return null;
}

const shared = sharedDir();
const upstreamFile = shared ? join(shared, 'reference', 'triton', 'model_config.proto') : '';
const ours = fromPackageRoot('src/config/model_config.proto');

function load(file: string): protobuf.Type {
  const root = new protobuf.Root();
  root.loadSync(file, { keepCase: true });
  root.resolveAll();
  return root.lookupType('inference.ModelConfig');
}

/** Every reachable message/enum by full name → a description of its shape. */
function shapes(top: protobuf.Type): Map<string, unknown> {
  const out = new Map<string, unknown>();
  const visit = (t: protobuf.ReflectionObject): void => {
    if (out.has(t.fullName)) return;
    if (t instanceof protobuf.Enum) {
      out.set(t.fullName, { enum: Object.entries(t.values).sort(([a], [b]) => a.localeCompare(b)) });
      return;
    }
    const type = t as protobuf.Type;
    const fields: Record<string, unknown> = {};
    out.set(type.fullName, { fields, oneofs: Object.keys(type.oneofs ?? {}).sort() });
    for (const f of type.fieldsArray) {
      f.resolve();
      fields[f.name] = {
        id: f.id,
        type: f.resolvedType ? f.resolvedType.fullName : f.type,
        repeated: f.repeated,
        map: f.map ? (f as unknown as protobuf.MapField).keyType : null,
        oneof: f.partOf ? f.partOf.name : null,
      };
      if (f.resolvedType) visit(f.resolvedType);
    }
  };
  visit(top);
  return out;
}

describe('model_config.proto matches upstream', () => {
  test('the shared reference folder is present (../shared or TANALYZE_SHARED)', () => assert.ok(shared, 'shared/reference/triton not found'));
  test('every reachable message and enum has the same fields, numbers, types, oneofs and values', () => {
    const up = shapes(load(upstreamFile));
    const mine = shapes(load(ours));
    assert.ok(up.size > 50, `upstream has ${up.size} types`);
    assert.deepStrictEqual([...mine.keys()].sort(), [...up.keys()].sort());
    for (const [name, shape] of up) assert.deepStrictEqual(mine.get(name), shape, name);
  });

  test('the type the parser uses is the one from our file', () => {
    const a = shapes(modelConfigType());
    const b = shapes(load(ours));
    assert.deepStrictEqual([...a.entries()], [...b.entries()]);
  });

  test('written in our own words: no upstream comment or licence text', () => {
    const text = readFileSync(ours, 'utf8');
    assert.doesNotMatch(text, /copyright|redistribution|licen[cs]e/i);
    const upstreamComments = readFileSync(upstreamFile, 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l.startsWith('//') && l.replace(/^\/+\s*/, '').length > 25)
      .map((l) => l.replace(/^\/+\s*/, ''));
    const copied = upstreamComments.filter((c) => text.includes(c));
    assert.deepStrictEqual(copied, []);
  });
});
