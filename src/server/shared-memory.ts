/**
 * The embedded server's system shared-memory regions (Triton's extension): a client
 * registers a region of a POSIX shared-memory object by its key, and a ModelInfer input may
 * then name the region instead of carrying bytes. Node cannot mmap, so the object's file
 * (/dev/shm/<key>) stays open from register to unregister and each request reads its bytes
 * with one pread: like Triton's mapping, a request sees the region's contents as they are
 * when it arrives, not as they were at registration. The buffers it reads into are reused
 * once the request is answered (`recycle`): a fresh 600 KB buffer per request costs about
 * ten times the read itself, in page faults.
 *
 * Answers follow Triton 2.51's, codes and messages, as test/triton/shared-memory.slow.test.ts
 * checks against the real server; where Triton's message is only mmap's errno text, ours
 * also says which rule was broken.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { ServerError } from './registry.js';

/** mmap's offsets are multiples of the page size; Triton maps the region at its offset. */
const PAGE_BYTES = 4096;

export interface RegionRequest {
  name: string;
  key: string;
  offset: number;
  byte_size: number;
}

interface Region extends RegionRequest {
  fd: number;
}

/** At most this many bytes of input buffers wait for reuse. */
const POOL_BYTES = 64 * 2 ** 20;

export class SystemSharedMemory {
  private readonly regions = new Map<string, Region>();
  /** Free input buffers by size, and their total. */
  private readonly pool = new Map<number, Buffer[]>();
  private pooledBytes = 0;

  /** `dir`: where shm objects live as files (Linux: /dev/shm). */
  constructor(private readonly dir = '/dev/shm') {}

  register(r: RegionRequest): void {
    const name = r.name;
    const offset = Number(r.offset);
    const byteSize = Number(r.byte_size);
    if (this.regions.has(name)) throw new ServerError('ALREADY_EXISTS', `shared memory region '${name}' already in manager`);
    // Triton keeps one mapping per object: a second region of the same key is refused.
    if ([...this.regions.values()].some((x) => x.key === r.key)) throw new ServerError('INTERNAL', `Invalid shared memory region: '${r.key}'`);
    const objectName = r.key.replace(/^\/+/, '');
    const unopenable = new ServerError('INTERNAL', `Unable to open shared memory region: '${r.key}'`);
    // A key names an object in the shm folder, nothing outside it.
    if (objectName === '' || objectName === '.' || objectName === '..' || objectName.includes('/')) throw unopenable;
    let fd: number;
    try {
      fd = openSync(join(this.dir, objectName), 'r');
    } catch {
      throw unopenable;
    }
    try {
      const object = fstatSync(fd);
      if (!object.isFile()) throw unopenable;
      if (!(byteSize > 0) || offset % PAGE_BYTES !== 0) {
        throw new ServerError(
          'INVALID_ARGUMENT',
          `failed to register shared memory region '${name}': unable to process address space: Invalid argument (the offset must be a multiple of ${PAGE_BYTES} and byte_size above 0; got offset ${offset}, byte_size ${byteSize})`,
        );
      }
      const objectBytes = object.size;
      if (offset + byteSize > objectBytes) {
        throw new ServerError('INVALID_ARGUMENT', `failed to register shared memory region '${name}': invalid args (offset ${offset} + byte_size ${byteSize} is beyond the object's ${objectBytes} bytes)`);
      }
    } catch (e) {
      closeSync(fd);
      throw e;
    }
    this.regions.set(name, { name, key: r.key, offset, byte_size: byteSize, fd });
  }

  /** One region's status, or (empty name) every region's. */
  status(name: string): RegionRequest[] {
    if (name !== '') {
      const r = this.regions.get(name);
      if (!r) throw new ServerError('NOT_FOUND', `Unable to find system shared memory region: '${name}'`);
      return [describe(r)];
    }
    return [...this.regions.values()].map(describe);
  }

  /** Unregisters one region or (empty name) all; an unknown name is not an error (as Triton). */
  unregister(name: string): void {
    const names = name === '' ? [...this.regions.keys()] : [name];
    for (const n of names) {
      const r = this.regions.get(n);
      if (!r) continue;
      this.regions.delete(n);
      closeSync(r.fd);
    }
  }

  /**
   * The bytes of an input: `byteSize` bytes at `offset` into the region, read now. The caller
   * owns the buffer until its request is answered, then gives it back with `recycle`.
   */
  read(name: string, offset: number, byteSize: number): Buffer {
    const r = this.regions.get(name);
    if (!r) throw new ServerError('NOT_FOUND', `Unable to find shared memory region: '${name}'`);
    if (offset < 0) throw new ServerError('INVALID_ARGUMENT', `Invalid offset for shared memory region: '${name}'`);
    if (byteSize < 0 || offset + byteSize > r.byte_size) throw new ServerError('INVALID_ARGUMENT', `Invalid offset + byte size for shared memory region: '${name}'`);
    // Never a slice of Node's shared pool: an executor may hand the memory to another thread.
    const out = this.take(byteSize);
    let done = 0;
    while (done < byteSize) {
      const n = readSync(r.fd, out, done, byteSize - done, r.offset + offset + done);
      if (n === 0) {
        this.recycle([out]);
        throw new ServerError('INTERNAL', `shared memory region '${name}': its object '${r.key}' is shorter than the region (was it truncated?)`);
      }
      done += n;
    }
    return out;
  }

  /** Buffers of answered requests, for reuse by later reads of the same size. */
  recycle(buffers: readonly Buffer[]): void {
    for (const b of buffers) {
      if (this.pooledBytes + b.byteLength > POOL_BYTES) return;
      const list = this.pool.get(b.byteLength);
      if (list) list.push(b);
      else this.pool.set(b.byteLength, [b]);
      this.pooledBytes += b.byteLength;
    }
  }

  private take(byteSize: number): Buffer {
    const b = this.pool.get(byteSize)?.pop();
    if (!b) return Buffer.allocUnsafeSlow(byteSize);
    this.pooledBytes -= byteSize;
    return b;
  }

  /** Closes every region and drops the pooled buffers (server stop). */
  close(): void {
    this.unregister('');
    this.pool.clear();
    this.pooledBytes = 0;
  }
}

function describe(r: Region): RegionRequest {
  return { name: r.name, key: r.key, offset: r.offset, byte_size: r.byte_size };
}
