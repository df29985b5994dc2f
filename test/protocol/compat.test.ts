/**
 * Our grpc_service.proto against Triton's upstream one: every method we define exists
 * upstream with the same types and streaming flags, and every message those methods
 * reach has the same fields (name, number, type, label, oneof). ModelConfig's own
 * fields are checked by the config tests; here it is only compared by name.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { existsSync } from 'node:fs';
import protobuf from 'protobufjs';
import { fromPackageRoot, packageRoot } from '../../src/util/package-root.js';

const SHARED = path.resolve(packageRoot(), '..', 'shared', 'reference', 'triton');

function loadRoot(file: string, includeDirs: string[]): protobuf.Root {
  const root = new protobuf.Root();
  root.resolvePath = (origin, target) => {
    if (path.isAbsolute(target)) return target;
    for (const dir of [path.dirname(origin), ...includeDirs]) {
      const candidate = path.join(dir, target);
      if (existsSync(candidate)) return candidate;
    }
    return target;
  };
  root.loadSync(file, { keepCase: true });
  root.resolveAll();
  return root;
}

const ours = loadRoot(fromPackageRoot('src', 'protocol', 'grpc_service.proto'), [fromPackageRoot('src', 'config')]);
const upstream = loadRoot(path.join(SHARED, 'grpc_service.proto'), [SHARED]);

const SERVICE = 'inference.GRPCInferenceService';
const OPAQUE = new Set(['.inference.ModelConfig']);

interface FieldShape {
  id: number;
  type: string;
  rule: string;
  map: string | null;
  oneof: string | null;
}

function fieldShape(f: protobuf.Field): FieldShape {
  const type = f.resolvedType ? f.resolvedType.fullName : f.type;
  const map = f instanceof protobuf.MapField ? f.keyType : null;
  return { id: f.id, type, rule: f.repeated ? 'repeated' : 'single', map, oneof: f.partOf ? f.partOf.name : null };
}

/** Every message type reachable from `start`, ModelConfig's internals excluded. */
function reachable(start: protobuf.Type, seen = new Map<string, protobuf.Type>()): Map<string, protobuf.Type> {
  if (seen.has(start.fullName) || OPAQUE.has(start.fullName)) return seen;
  seen.set(start.fullName, start);
  for (const f of start.fieldsArray) {
    f.resolve();
    if (f.resolvedType instanceof protobuf.Type) reachable(f.resolvedType, seen);
  }
  return seen;
}

test('same package and service name', () => {
  assert.ok(ours.lookupService(SERVICE), 'our service inference.GRPCInferenceService');
  assert.ok(upstream.lookupService(SERVICE), 'upstream service');
});

test('each of our methods exists upstream with the same types and streaming flags', () => {
  const mine = ours.lookupService(SERVICE);
  const theirs = upstream.lookupService(SERVICE);
  const expected = [
    'ServerLive', 'ServerReady', 'ModelReady', 'ServerMetadata', 'ModelMetadata', 'ModelInfer', 'ModelConfig',
    'ModelStatistics', 'RepositoryIndex', 'RepositoryModelLoad', 'RepositoryModelUnload',
    'SystemSharedMemoryStatus', 'SystemSharedMemoryRegister', 'SystemSharedMemoryUnregister',
  ];
  assert.deepEqual(Object.keys(mine.methods).sort(), [...expected].sort());
  for (const m of mine.methodsArray) {
    const u = theirs.methods[m.name];
    assert.ok(u, `upstream has ${m.name}`);
    m.resolve();
    u.resolve();
    assert.equal(m.resolvedRequestType!.fullName, u.resolvedRequestType!.fullName, `${m.name} request type`);
    assert.equal(m.resolvedResponseType!.fullName, u.resolvedResponseType!.fullName, `${m.name} response type`);
    assert.equal(Boolean(m.requestStream), Boolean(u.requestStream), `${m.name} request streaming`);
    assert.equal(Boolean(m.responseStream), Boolean(u.responseStream), `${m.name} response streaming`);
  }
});

test('every message our methods use has the same fields as upstream', () => {
  const used = new Map<string, protobuf.Type>();
  for (const m of ours.lookupService(SERVICE).methodsArray) {
    m.resolve();
    reachable(m.resolvedRequestType!, used);
    reachable(m.resolvedResponseType!, used);
  }
  // Sanity: the walk reached the nested and shared messages.
  for (const name of [
    '.inference.InferParameter', '.inference.InferTensorContents', '.inference.ModelRepositoryParameter',
    '.inference.StatisticDuration', '.inference.InferStatistics', '.inference.InferBatchStatistics',
    '.inference.ModelStatistics', '.inference.ModelInferRequest.InferInputTensor',
    '.inference.ModelMetadataResponse.TensorMetadata', '.inference.RepositoryIndexResponse.ModelIndex',
    '.inference.SystemSharedMemoryStatusResponse.RegionStatus', '.inference.SystemSharedMemoryRegisterRequest',
  ]) {
    assert.ok(used.has(name), `reached ${name}`);
  }
  for (const [name, type] of used) {
    const theirs = upstream.lookupType(name);
    const shape = (t: protobuf.Type) =>
      Object.fromEntries(t.fieldsArray.map((f) => [f.name, fieldShape(f)] as const).sort(([a], [b]) => a.localeCompare(b)));
    assert.deepEqual(shape(type), shape(theirs), `fields of ${name}`);
    const oneofs = (t: protobuf.Type) => t.oneofsArray.map((o) => `${o.name}:${[...o.oneof].sort().join(',')}`).sort();
    assert.deepEqual(oneofs(type), oneofs(theirs), `oneofs of ${name}`);
  }
});

test('ModelConfigResponse carries the ModelConfig of our config proto', () => {
  const t = ours.lookupType('inference.ModelConfigResponse');
  const f = t.fields['config']!;
  f.resolve();
  assert.equal(f.resolvedType?.fullName, '.inference.ModelConfig');
  assert.equal(f.id, 1);
});
