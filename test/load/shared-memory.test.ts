/**
 * The load generator's shared-memory inputs: the request that names a region, the POSIX
 * shared-memory object (real files in /dev/shm), its registration with the real embedded
 * server over loopback gRPC, and that nothing is left in /dev/shm after a measurement,
 * an error, an exit or a signal.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { createInferenceClient } from '../../src/protocol/client.js';
import { inferenceServiceDefinition } from '../../src/protocol/service.js';
import { makeInferRequest, serializeInferRequest } from '../../src/load/infer-requests.js';
import {
  SHM_DIR,
  SharedMemoryObject,
  isLoopbackAddress,
  layoutInputs,
  liveSharedMemoryFiles,
  placeInputsInSharedMemory,
  sharedMemoryRequest,
  uniqueRegionName,
} from '../../src/load/shared-memory.js';
import { LoadWorkerPool } from '../../src/load/workers.js';
import { measureConfiguration } from '../../src/measure/measure-config.js';
import { startEmbeddedServer } from '../../src/server/server.js';
import type { InferenceClient, ModelMetadataResponse } from '../../src/protocol/types.js';
import { fromPackageRoot } from '../../src/util/package-root.js';

const META: ModelMetadataResponse = {
  name: 'two',
  versions: ['1'],
  platform: 'onnxruntime_onnx',
  inputs: [
    { name: 'a', datatype: 'FP32', shape: [-1, 3] },
    { name: 'b', datatype: 'INT64', shape: [-1, 5] },
  ],
  outputs: [{ name: 'y', datatype: 'FP32', shape: [-1, 1] }],
};

/** This process's objects in /dev/shm (ours are named tanalyze_<pid>_...). */
const ownShmFiles = (pid = process.pid): string[] => readdirSync(SHM_DIR).filter((f) => f.startsWith(`tanalyze_${pid}_`));

test('layoutInputs: each input at a 64-byte boundary, the region covering them all', () => {
  assert.deepEqual(layoutInputs([12, 64, 1, 0, 5]), { offsets: [0, 64, 128, 192, 192], byteSize: 256 });
  assert.deepEqual(layoutInputs([602_112]), { offsets: [0], byteSize: 602_112 });
  assert.equal(layoutInputs([0]).byteSize, 1, 'never an empty region');
});

test('sharedMemoryRequest: no input bytes in the request, each input names region, offset and size; the wire form keeps them', () => {
  const raw = makeInferRequest(META, 2, 3);
  const { offsets } = layoutInputs(raw.raw_input_contents!.map((b) => b.byteLength));
  const shm = sharedMemoryRequest(raw, 'tanalyze_region', offsets);
  assert.equal(shm.raw_input_contents, undefined);
  assert.deepEqual(
    shm.inputs.map((i) => i.parameters),
    [
      { shared_memory_region: { string_param: 'tanalyze_region' }, shared_memory_offset: { int64_param: 0 }, shared_memory_byte_size: { int64_param: 24 } },
      { shared_memory_region: { string_param: 'tanalyze_region' }, shared_memory_offset: { int64_param: 64 }, shared_memory_byte_size: { int64_param: 80 } },
    ],
  );
  assert.deepEqual(shm.inputs.map((i) => [i.name, i.datatype, i.shape]), raw.inputs.map((i) => [i.name, i.datatype, i.shape]));
  assert.deepEqual(raw.raw_input_contents!.length, 2, 'the original request is left as it was');

  const wire = serializeInferRequest(shm);
  const decoded = inferenceServiceDefinition()['ModelInfer']!.requestDeserialize(wire) as { raw_input_contents: Buffer[]; inputs: { parameters: Record<string, Record<string, unknown>> }[] };
  assert.equal(decoded.raw_input_contents.length, 0);
  assert.equal(decoded.inputs[1]!.parameters['shared_memory_region']!['string_param'], 'tanalyze_region');
  assert.equal(decoded.inputs[1]!.parameters['shared_memory_offset']!['int64_param'], 64);
  assert.equal(decoded.inputs[1]!.parameters['shared_memory_byte_size']!['int64_param'], 80);

  // A large input: the request shrinks to its parameters.
  const big = makeInferRequest({ ...META, inputs: [{ name: 'x', datatype: 'FP32', shape: [-1, 3, 224, 224] }] }, 1, 1);
  assert.ok(serializeInferRequest(big).byteLength > 600_000);
  assert.ok(serializeInferRequest(sharedMemoryRequest(big, 'r', [0])).byteLength < 200);
  assert.throws(() => sharedMemoryRequest({ ...raw, raw_input_contents: [] }, 'r', []), /2 inputs but 0 raw input contents/);
});

test('SharedMemoryObject: a file in /dev/shm with each part at its offset, owner-only, never an existing one, removed once', () => {
  const name = uniqueRegionName();
  assert.match(name, new RegExp(`^tanalyze_${process.pid}_[0-9a-f]{12}$`));
  assert.notEqual(uniqueRegionName(), name, 'unique per call');
  const obj = SharedMemoryObject.create(name, 256, [
    { offset: 0, bytes: Buffer.from([1, 2, 3]) },
    { offset: 128, bytes: Buffer.from('abc') },
  ]);
  try {
    assert.equal(obj.key, `/${name}`);
    assert.equal(obj.file, `${SHM_DIR}/${name}`);
    const content = readFileSync(obj.file);
    assert.equal(content.byteLength, 256);
    assert.deepEqual([...content.subarray(0, 4)], [1, 2, 3, 0]);
    assert.equal(content.subarray(128, 131).toString(), 'abc');
    assert.equal(statSync(obj.file).mode & 0o777, 0o600);
    assert.deepEqual(liveSharedMemoryFiles(), [obj.file]);
    assert.throws(() => SharedMemoryObject.create(name, 16, []), /cannot create the shared-memory object .*EEXIST/);
    assert.throws(() => SharedMemoryObject.create('../etc/x', 16, []), /not a valid object name/);
  } finally {
    obj.remove();
  }
  assert.equal(existsSync(obj.file), false);
  assert.deepEqual(liveSharedMemoryFiles(), []);
  obj.remove();
});

test('isLoopbackAddress: only addresses of this host', () => {
  for (const a of ['127.0.0.1:8001', '127.1.2.3:1', 'localhost:8001', 'LOCALHOST:1', '[::1]:8001', '::1', '[::ffff:127.0.0.1]:8001', 'a.localhost:5']) assert.ok(isLoopbackAddress(a), a);
  for (const a of ['triton:8001', '10.0.0.1:8001', '[2001:db8::1]:8001', '0.0.0.0:8001', 'dns:localhost:1', 'unix:/tmp/s']) assert.equal(isLoopbackAddress(a), false, a);
});

test('placeInputsInSharedMemory on the embedded server: registered as one region, outputs equal to gRPC inputs, released without a trace', async () => {
  const server = await startEmbeddedServer({ repository: fromPackageRoot('examples', 'model_repository'), modelControl: 'explicit', loadModels: ['tiny_resnet'] });
  const client = createInferenceClient(server.address);
  try {
    const request = makeInferRequest(await client.modelMetadata('tiny_resnet'), 3, 5);
    const viaGrpc = await client.modelInfer(request);
    const placed = await placeInputsInSharedMemory(client, request);
    assert.deepEqual(await client.systemSharedMemoryStatus!(), [{ name: placed.regionName, key: placed.object.key, offset: 0, byte_size: 3 * 3 * 32 * 32 * 4 }]);
    assert.deepEqual(ownShmFiles(), [], 'the name is unlinked once the server holds the object');
    const viaShm = await client.modelInfer(placed.request);
    assert.deepEqual(viaShm.outputs, viaGrpc.outputs);
    assert.ok(viaShm.raw_output_contents[0]!.equals(viaGrpc.raw_output_contents[0]!), 'the same logits from the region as from the request');
    await placed.release();
    await placed.release();
    assert.deepEqual(await client.systemSharedMemoryStatus!(), [], 'unregistered');
    assert.deepEqual(ownShmFiles(), [], 'unlinked');
    await assert.rejects(client.modelInfer(placed.request), /NOT_FOUND: Unable to find shared memory region/);
  } finally {
    client.close();
    await server.stop();
  }
});

test('placeInputsInSharedMemory: a refused registration removes the object and says what to do', async () => {
  const refusing = {
    systemSharedMemoryRegister: async () => {
      throw new Error('SystemSharedMemoryRegister: INTERNAL: Unable to open shared memory region');
    },
    systemSharedMemoryUnregister: async () => undefined,
  } as unknown as InferenceClient;
  await assert.rejects(placeInputsInSharedMemory(refusing, makeInferRequest(META, 1, 1)), (e: Error & { hint?: string }) => {
    assert.match(e.message, /--shared-memory system: the server refused to register region 'tanalyze_\d+_[0-9a-f]+' \(\/dev\/shm\/tanalyze_.*, 128 bytes\): .*Unable to open/);
    assert.match(e.hint ?? '', /on this host/);
    return true;
  });
  assert.deepEqual(ownShmFiles(), []);
  await assert.rejects(placeInputsInSharedMemory({} as InferenceClient, makeInferRequest(META, 1, 1)), /cannot register regions/);
  assert.deepEqual(ownShmFiles(), []);
});

test('measureConfiguration with shared memory: main thread and worker threads load the embedded server from one region, released at the end', async () => {
  const server = await startEmbeddedServer({ repository: fromPackageRoot('examples', 'model_repository'), modelControl: 'explicit', loadModels: ['identity'] });
  const client = createInferenceClient(server.address);
  let pool: LoadWorkerPool | undefined;
  let registeredDuring: string[] = [];
  const settings = { windowMs: 120, minWindows: 2, maxWindows: 3, stabilityTolerance: 0.9, warmupMs: 30 };
  try {
    const base = { client, modelName: 'identity', targetP99Ms: 1000, settings, maxConcurrency: 2, maxPoints: 1, sharedMemory: 'system' as const, monitor: null };
    const onPoint = async (): Promise<void> => {
      registeredDuring = (await client.systemSharedMemoryStatus!()).map((r) => r.name);
    };
    const main = await measureConfiguration({ ...base, address: server.address, onPoint });
    assert.equal(main.points.length, 1);
    assert.equal(main.points[0]!.errors, 0, main.firstError);
    assert.ok(main.points[0]!.requests > 10);
    assert.equal(registeredDuring.length, 1, 'one region while measuring');
    assert.match(registeredDuring[0]!, /^tanalyze_\d+_[0-9a-f]{12}$/);
    assert.deepEqual(await client.systemSharedMemoryStatus!(), [], 'unregistered after');
    assert.deepEqual(ownShmFiles(), []);

    pool = await LoadWorkerPool.start({ address: server.address, workers: 2 });
    const threaded = await measureConfiguration({ ...base, workers: pool, onPoint });
    assert.equal(threaded.points[0]!.errors, 0, threaded.firstError);
    assert.ok(threaded.points[0]!.requests > 10);
    assert.deepEqual(await client.systemSharedMemoryStatus!(), []);
    assert.deepEqual(ownShmFiles(), []);

    // A failing measurement still releases the region.
    await assert.rejects(measureConfiguration({ ...base, address: server.address, onPoint: () => Promise.reject(new Error('store failed')) }), /store failed/);
    assert.deepEqual(await client.systemSharedMemoryStatus!(), []);
    assert.deepEqual(ownShmFiles(), []);
  } finally {
    await pool?.close();
    client.close();
    await server.stop();
  }
});

const CHILD = `
import { SharedMemoryObject, placeInputsInSharedMemory } from ${JSON.stringify(new URL('../../src/load/shared-memory.js', import.meta.url).href)};
import { startEmbeddedServer } from ${JSON.stringify(new URL('../../src/server/server.js', import.meta.url).href)};
import { createInferenceClient } from ${JSON.stringify(new URL('../../src/protocol/client.js', import.meta.url).href)};
import { makeInferRequest } from ${JSON.stringify(new URL('../../src/load/infer-requests.js', import.meta.url).href)};
const how = process.argv[1];
if (how === 'kill') {
  // Registered, then killed without a chance to clean up: the name is already gone.
  const server = await startEmbeddedServer({ repository: ${JSON.stringify(fromPackageRoot('examples', 'model_repository'))}, modelControl: 'explicit', loadModels: ['identity'] });
  const client = createInferenceClient(server.address);
  const placed = await placeInputsInSharedMemory(client, makeInferRequest(await client.modelMetadata('identity'), 1, 1));
  await client.modelInfer(placed.request);
  console.log(placed.object.file);
  process.kill(process.pid, 'SIGKILL');
}
const obj = SharedMemoryObject.create('tanalyze_' + process.pid + '_child', 4096, [{ offset: 0, bytes: Buffer.from('x') }]);
console.log(obj.file);
if (how === 'exit') process.exit(3);
if (how === 'throw') throw new Error('boom');
`;

test('nothing is left in /dev/shm: an object not yet registered is removed at exit or on an uncaught error; a registered one is already unlinked when the process is killed', () => {
  for (const how of ['exit', 'throw', 'kill']) {
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', CHILD, how], { encoding: 'utf8', timeout: 60_000 });
    const file = r.stdout.trim();
    assert.match(file, /^\/dev\/shm\/tanalyze_\d+_\w+$/, `${how}: ${r.stderr}`);
    assert.equal(existsSync(file), false, `${how}: ${file} was left behind`);
    if (how === 'kill') assert.equal(r.signal, 'SIGKILL');
    else assert.notEqual(r.status, 0);
  }
});
