/**
 * Bad shared-memory requests and how Triton 2.51 answers them (code, and the message as a
 * pattern), as recorded from the real server. The embedded server's test and the real-Triton
 * test run the same cases, so both servers are held to one table.
 */
import type { InferenceClient, ModelInferRequest, InferParameter } from '../../src/protocol/types.js';
import { ProtocolError } from '../../src/protocol/client.js';
import { SharedMemoryObject, sharedMemoryRequest, uniqueRegionName } from '../../src/load/shared-memory.js';
import { makeInferRequest } from '../../src/load/infer-requests.js';

export interface ShmCase {
  name: string;
  /** The gRPC status name, or 'OK'. */
  code: string;
  message: RegExp;
}

export interface ShmCaseResult {
  name: string;
  code: string;
  message: string;
}

/** The answers both servers give (Triton's wording; the embedded server may add a clause after it). */
export const SHM_CASES: readonly ShmCase[] = [
  { name: 'register a name again', code: 'ALREADY_EXISTS', message: /^shared memory region 'r1' already in manager$/ },
  { name: 'register a key that does not exist', code: 'INTERNAL', message: /^Unable to open shared memory region: '\/tanalyze_no_such_object'$/ },
  { name: 'register a second region of the same key', code: 'INTERNAL', message: /^Invalid shared memory region: '\/tanalyze_\w+'$/ },
  { name: 'register beyond the object', code: 'INVALID_ARGUMENT', message: /^failed to register shared memory region 'big': invalid args/ },
  { name: 'register at an offset that is not page-aligned', code: 'INVALID_ARGUMENT', message: /^failed to register shared memory region 'odd': unable to process address space:? ?Invalid argument/ },
  { name: 'status of an unknown region', code: 'NOT_FOUND', message: /^Unable to find system shared memory region: 'nope'$/ },
  { name: 'infer from an unknown region', code: 'NOT_FOUND', message: /^Unable to find shared memory region: 'nope'$/ },
  { name: 'infer beyond the region', code: 'INVALID_ARGUMENT', message: /^Invalid offset \+ byte size for shared memory region: 'r1'$/ },
  { name: 'infer at a negative offset', code: 'INVALID_ARGUMENT', message: /^Invalid offset for shared memory region: 'r1'$/ },
  { name: 'infer with a byte size that does not fit the shape', code: 'INVALID_ARGUMENT', message: /input byte size mismatch for input 'input' for model 'identity'\. Expected 128, got 124$/ },
  { name: 'infer naming a region without a byte size', code: 'INVALID_ARGUMENT', message: /^'shared_memory_byte_size' must be specified along with 'shared_memory_region' parameter for tensor 'input'$/ },
  { name: 'infer with a byte size without a region', code: 'INVALID_ARGUMENT', message: /^'shared_memory_byte_size' can not be specified without 'shared_memory_region' parameter for tensor 'input'$/ },
  { name: 'infer with a region name that is not a string', code: 'INVALID_ARGUMENT', message: /^invalid value type for 'shared_memory_region' parameter for tensor 'input', expected string_param\.$/ },
  { name: 'infer with typed contents and a region', code: 'INVALID_ARGUMENT', message: /^unexpected 'content' provided when using shared memory for input tensor 'input' for model 'identity'$/ },
  { name: 'unregister an unknown region', code: 'OK', message: /^$/ },
  { name: 'infer from an unregistered region', code: 'NOT_FOUND', message: /^Unable to find shared memory region: 'r1'$/ },
];

async function answer(name: string, call: () => Promise<unknown>): Promise<ShmCaseResult> {
  try {
    await call();
    return { name, code: 'OK', message: '' };
  } catch (e) {
    if (e instanceof ProtocolError) return { name, code: e.code, message: e.details };
    throw e;
  }
}

/**
 * Runs every case of SHM_CASES against a server that serves `identity` (FP32 [-1,16]), with
 * region 'r1' over a fresh 4096-byte object holding a batch of 2. Leaves no region and no object.
 */
export async function runShmCases(client: InferenceClient): Promise<ShmCaseResult[]> {
  const request = makeInferRequest(await client.modelMetadata('identity'), 2, 1);
  const name = uniqueRegionName();
  const obj = SharedMemoryObject.create(name, 4096, [{ offset: 0, bytes: request.raw_input_contents![0]! }]);
  const register = client.systemSharedMemoryRegister!.bind(client);
  const good = sharedMemoryRequest(request, 'r1', [0]);
  const withParams = (params: Record<string, InferParameter>, extra: Partial<ModelInferRequest['inputs'][number]> = {}): ModelInferRequest => ({
    ...good,
    inputs: [{ ...good.inputs[0]!, parameters: params, ...extra }],
  });
  const shm = good.inputs[0]!.parameters!;
  const out: ShmCaseResult[] = [];
  try {
    await register({ name: 'r1', key: obj.key, offset: 0, byte_size: 256 });
    const cases: Record<string, () => Promise<unknown>> = {
      'register a name again': () => register({ name: 'r1', key: obj.key, offset: 0, byte_size: 256 }),
      'register a key that does not exist': () => register({ name: 'r2', key: '/tanalyze_no_such_object', offset: 0, byte_size: 64 }),
      'register a second region of the same key': () => register({ name: 'r3', key: obj.key, offset: 0, byte_size: 64 }),
      'register beyond the object': async () => {
        const other = SharedMemoryObject.create(`${name}_b`, 4096, []);
        try {
          await register({ name: 'big', key: other.key, offset: 0, byte_size: 8192 });
        } finally {
          other.remove();
        }
      },
      'register at an offset that is not page-aligned': async () => {
        const other = SharedMemoryObject.create(`${name}_o`, 4096, []);
        try {
          await register({ name: 'odd', key: other.key, offset: 64, byte_size: 128 });
        } finally {
          other.remove();
        }
      },
      'status of an unknown region': () => client.systemSharedMemoryStatus!('nope'),
      'infer from an unknown region': () => client.modelInfer(withParams({ ...shm, shared_memory_region: { string_param: 'nope' } })),
      'infer beyond the region': () => client.modelInfer(withParams({ ...shm, shared_memory_offset: { int64_param: 200 } })),
      'infer at a negative offset': () => client.modelInfer(withParams({ ...shm, shared_memory_offset: { int64_param: -8 } })),
      'infer with a byte size that does not fit the shape': () => client.modelInfer(withParams({ ...shm, shared_memory_byte_size: { int64_param: 124 } })),
      'infer naming a region without a byte size': () => client.modelInfer(withParams({ shared_memory_region: { string_param: 'r1' } })),
      'infer with a byte size without a region': () => client.modelInfer(withParams({ shared_memory_byte_size: { int64_param: 128 } })),
      'infer with a region name that is not a string': () => client.modelInfer(withParams({ ...shm, shared_memory_region: { int64_param: 3 } })),
      'infer with typed contents and a region': () => client.modelInfer(withParams(shm, { contents: { fp32_contents: [1] } })),
      'unregister an unknown region': () => client.systemSharedMemoryUnregister!('nope'),
      'infer from an unregistered region': async () => {
        await client.systemSharedMemoryUnregister!('r1');
        return client.modelInfer(good);
      },
    };
    for (const c of SHM_CASES) out.push(await answer(c.name, cases[c.name]!));
  } finally {
    await client.systemSharedMemoryUnregister!('').catch(() => undefined);
    obj.remove();
  }
  return out;
}
