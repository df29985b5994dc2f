/**
 * The embedded server's system shared memory: the regions themselves (files in a temporary
 * folder), inputs read from a region inside a request (pure), and the three RPCs plus
 * ModelInfer over real gRPC on loopback with real /dev/shm objects, answering bad requests
 * as Triton 2.51 does (the table in test/helpers/shm-cases.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SystemSharedMemory } from '../../src/server/shared-memory.js';
import { ServerError } from '../../src/server/registry.js';
import { prepareInferRequest, sharedMemoryParams, type InferRequestIn } from '../../src/server/infer-request.js';
import { startEmbeddedServer, SERVER_EXTENSIONS } from '../../src/server/server.js';
import { createInferenceClient } from '../../src/protocol/client.js';
import { makeInferRequest } from '../../src/load/infer-requests.js';
import { SharedMemoryObject, sharedMemoryRequest, uniqueRegionName } from '../../src/load/shared-memory.js';
import { fromPackageRoot } from '../../src/util/package-root.js';
import { SHM_CASES, runShmCases } from '../helpers/shm-cases.js';
import type { ModelConfig } from '../../src/config/types.js';

const status = (fn: () => unknown): string => {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof ServerError, String(e));
    return `${e.status}: ${e.message}`;
  }
  return 'OK';
};

test('SystemSharedMemory: register, status, reads of the current contents, unregister one or all', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tanalyze-shm-'));
  try {
    const file = join(dir, 'obj');
    writeFileSync(file, Buffer.alloc(8192, 7));
    const shm = new SystemSharedMemory(dir);
    shm.register({ name: 'a', key: '/obj', offset: 4096, byte_size: 100 });
    assert.deepEqual(shm.status(''), [{ name: 'a', key: '/obj', offset: 4096, byte_size: 100 }]);
    assert.deepEqual([...shm.read('a', 10, 3)], [7, 7, 7]);
    // A request reads the region as it is now, not as it was at registration.
    const now = Buffer.alloc(8192, 7);
    now.write('xyz', 4096 + 10);
    writeFileSync(file, now);
    assert.equal(Buffer.from(shm.read('a', 10, 3)).toString(), 'xyz');
    assert.equal(shm.read('a', 0, 100).byteLength, 100);
    // A recycled buffer is reused by the next read of its size, filled with what the region holds then.
    const first = shm.read('a', 0, 100);
    shm.recycle([first]);
    const second = shm.read('a', 8, 92);
    assert.notEqual(second, first, 'another size: another buffer');
    const third = shm.read('a', 0, 100);
    assert.equal(third, first, 'the same size: the recycled buffer');
    assert.equal(third.subarray(10, 13).toString(), 'xyz');
    assert.notEqual(shm.read('a', 0, 100), first, 'taken once, not handed out twice');

    assert.equal(status(() => shm.read('a', 1, 100)), "INVALID_ARGUMENT: Invalid offset + byte size for shared memory region: 'a'");
    assert.equal(status(() => shm.read('a', -1, 1)), "INVALID_ARGUMENT: Invalid offset for shared memory region: 'a'");
    assert.equal(status(() => shm.read('b', 0, 1)), "NOT_FOUND: Unable to find shared memory region: 'b'");
    assert.equal(status(() => shm.register({ name: 'a', key: '/other', offset: 0, byte_size: 1 })), "ALREADY_EXISTS: shared memory region 'a' already in manager");
    assert.equal(status(() => shm.register({ name: 'b', key: '/obj', offset: 0, byte_size: 1 })), "INTERNAL: Invalid shared memory region: '/obj'");
    assert.equal(status(() => shm.register({ name: 'b', key: '/missing', offset: 0, byte_size: 1 })), "INTERNAL: Unable to open shared memory region: '/missing'");
    assert.equal(status(() => shm.register({ name: 'b', key: '/../etc/passwd', offset: 0, byte_size: 1 })), "INTERNAL: Unable to open shared memory region: '/../etc/passwd'");
    assert.equal(status(() => shm.register({ name: 'b', key: '/..', offset: 0, byte_size: 1 })), "INTERNAL: Unable to open shared memory region: '/..'");
    writeFileSync(join(dir, 'two'), Buffer.alloc(4096));
    assert.match(status(() => shm.register({ name: 'b', key: '/two', offset: 0, byte_size: 4097 })), /^INVALID_ARGUMENT: failed to register shared memory region 'b': invalid args/);
    assert.match(status(() => shm.register({ name: 'b', key: '/two', offset: 8, byte_size: 8 })), /^INVALID_ARGUMENT: failed to register shared memory region 'b': unable to process address space/);
    assert.match(status(() => shm.register({ name: 'b', key: '/two', offset: 0, byte_size: 0 })), /^INVALID_ARGUMENT: .*byte_size above 0/);
    assert.equal(status(() => shm.status('b')), "NOT_FOUND: Unable to find system shared memory region: 'b'");
    shm.register({ name: 'b', key: '/two', offset: 0, byte_size: 4096 });
    assert.deepEqual(shm.status('').map((r) => r.name), ['a', 'b']);
    shm.unregister('nope');
    shm.unregister('a');
    assert.deepEqual(shm.status('').map((r) => r.name), ['b']);
    shm.unregister('');
    assert.deepEqual(shm.status(''), []);
    // A truncated object is an error of the server's, not a short tensor.
    shm.register({ name: 'c', key: '/two', offset: 0, byte_size: 4096 });
    writeFileSync(join(dir, 'two'), Buffer.alloc(10));
    assert.match(status(() => shm.read('c', 0, 100)), /^INTERNAL: shared memory region 'c': .* shorter than the region/);
    shm.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const TWO_INPUTS: ModelConfig = {
  name: 'two',
  max_batch_size: 4,
  input: [
    { name: 'a', data_type: 'TYPE_FP32', dims: [2] },
    { name: 'b', data_type: 'TYPE_INT32', dims: [1] },
  ],
  output: [{ name: 'y', data_type: 'TYPE_FP32', dims: [1] }],
};

test('prepareInferRequest: inputs in a region are read from it; raw_input_contents hold only the others, in order', () => {
  const reads: string[] = [];
  const source = {
    read(region: string, offset: number, size: number): Uint8Array {
      reads.push(`${region}@${offset}+${size}`);
      return new Uint8Array(size).fill(9);
    },
  };
  const shmParams = { shared_memory_region: { parameter_choice: 'string_param', string_param: 'r' }, shared_memory_byte_size: { parameter_choice: 'int64_param', int64_param: 8 }, shared_memory_offset: { parameter_choice: 'int64_param', int64_param: 64 } };
  const req: InferRequestIn = {
    model_name: 'two',
    inputs: [
      { name: 'a', datatype: 'FP32', shape: [1, 2], parameters: shmParams },
      { name: 'b', datatype: 'INT32', shape: [1, 1] },
    ],
    raw_input_contents: [new Uint8Array([1, 0, 0, 0])],
  };
  const p = prepareInferRequest(TWO_INPUTS, req, source);
  assert.deepEqual(reads, ['r@64+8']);
  assert.deepEqual([...p.exec.inputs[0]!.data], [9, 9, 9, 9, 9, 9, 9, 9]);
  assert.deepEqual([...p.exec.inputs[1]!.data], [1, 0, 0, 0]);
  assert.throws(() => prepareInferRequest(TWO_INPUTS, { ...req, raw_input_contents: [new Uint8Array(4), new Uint8Array(8)] }, source), /expected 1 raw_input_contents \(one per input not in shared memory\) for 'two', got 2/);
  assert.throws(() => prepareInferRequest(TWO_INPUTS, req), /names a shared-memory region, but this server has no shared memory/);
  // Parameters as a plain object gives them (one field set) read as proto-loader's (parameter_choice).
  assert.deepEqual(sharedMemoryParams({ name: 'a', parameters: { shared_memory_region: { string_param: 'r' }, shared_memory_byte_size: { int64_param: 4 } } }), { region: 'r', offset: 0, byteSize: 4 });
  assert.equal(sharedMemoryParams({ name: 'a', parameters: { other: { bool_param: true } } }), null);
  assert.throws(() => sharedMemoryParams({ name: 'a', parameters: { shared_memory_offset: { int64_param: 4 } } }), /'shared_memory_offset' can not be specified without 'shared_memory_region' parameter for tensor 'a'/);
  assert.throws(() => sharedMemoryParams({ name: 'a', parameters: { shared_memory_region: { string_param: 'r' }, shared_memory_byte_size: { int64_param: 4 }, shared_memory_offset: { string_param: '4' } } }), /invalid value type for 'shared_memory_offset' parameter for tensor 'a', expected int64_param\./);
});

test('the embedded server over gRPC: serves inputs from /dev/shm with the outputs of gRPC inputs, re-reads the region per request, answers bad requests as Triton does', async () => {
  assert.ok(SERVER_EXTENSIONS.includes('system_shared_memory'));
  const server = await startEmbeddedServer({ repository: fromPackageRoot('examples', 'model_repository'), modelControl: 'explicit', loadModels: ['identity'] });
  const client = createInferenceClient(server.address);
  const name = uniqueRegionName();
  let obj: SharedMemoryObject | undefined;
  try {
    assert.ok((await client.serverMetadata()).extensions.includes('system_shared_memory'));
    const request = makeInferRequest(await client.modelMetadata('identity'), 4, 3);
    const input = request.raw_input_contents![0]!;
    obj = SharedMemoryObject.create(name, 4096, [{ offset: 0, bytes: input }]);
    await client.systemSharedMemoryRegister!({ name, key: obj.key, offset: 0, byte_size: 4096 });
    assert.deepEqual(await client.systemSharedMemoryStatus!(name), [{ name, key: obj.key, offset: 0, byte_size: 4096 }]);
    const viaGrpc = await client.modelInfer(request);
    const viaShm = await client.modelInfer(sharedMemoryRequest(request, name, [0]));
    assert.deepEqual(viaShm.outputs, viaGrpc.outputs);
    assert.ok(viaShm.raw_output_contents[0]!.equals(input), 'identity: the output is the bytes in the region');

    // The client rewrites the region between requests: the next request sees the new bytes.
    const next = Buffer.from(input).reverse();
    writeFileSync(obj.file, next, { flag: 'r+' });
    const again = await client.modelInfer(sharedMemoryRequest(request, name, [0]));
    assert.ok(again.raw_output_contents[0]!.equals(next));
    await client.systemSharedMemoryUnregister!(name);
    assert.deepEqual(await client.systemSharedMemoryStatus!(), []);

    const answers = await runShmCases(client);
    for (const [i, c] of SHM_CASES.entries()) {
      const got = answers[i]!;
      assert.equal(got.name, c.name);
      assert.equal(got.code, c.code, `${c.name}: ${got.message}`);
      assert.match(got.message, c.message, c.name);
    }
    assert.deepEqual(await client.systemSharedMemoryStatus!(), []);
  } finally {
    obj?.remove();
    client.close();
    await server.stop();
  }
});
