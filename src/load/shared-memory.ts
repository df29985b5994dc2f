/**
 * Inputs through system shared memory (Triton's shared-memory extension, perf_analyzer's
 * `--shared-memory system`): the load generator writes a configuration's input tensors once
 * into a POSIX shared-memory object, registers it with the server as one region, and every
 * ModelInfer then names the region in each input's parameters instead of carrying the bytes.
 * Outputs still come back in the gRPC answer.
 *
 * Node has no shm_open or mmap, but on Linux a POSIX shared-memory object named "/x" is the
 * file /dev/shm/x: creating and writing that file makes the object the server's shm_open("/x")
 * maps.
 *
 * The object's name is removed (unlink) as soon as the server has registered the region:
 * Triton maps the object at registration and the embedded server keeps it open, so the
 * region stays readable until it is unregistered, while nothing is left in /dev/shm whatever
 * ends the process afterwards (an interrupt, a crash, SIGKILL). Before registration, an exit
 * hook removes the file. Since the inputs are written once, nobody needs the name again.
 */
import { closeSync, ftruncateSync, openSync, unlinkSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { isIP } from 'node:net';
import { join } from 'node:path';
import type { InferenceClient, InferParameter, ModelInferRequest, SharedMemoryInputParam } from '../protocol/types.js';
import { TanalyzeError } from '../domain/errors.js';

/** Where Linux keeps POSIX shared-memory objects. */
export const SHM_DIR = '/dev/shm';

/** Each input starts at a multiple of this (a cache line), so a server's reads of a tensor start aligned. */
const INPUT_ALIGN = 64;

/** Where each input lies in the region, and the region's whole size. Pure. */
export function layoutInputs(sizes: readonly number[]): { offsets: number[]; byteSize: number } {
  const offsets: number[] = [];
  let at = 0;
  for (const size of sizes) {
    offsets.push(at);
    at += Math.ceil(size / INPUT_ALIGN) * INPUT_ALIGN;
  }
  // A region of 0 bytes cannot be mapped; an input-less request never gets here, but an empty tensor might.
  return { offsets, byteSize: Math.max(at, 1) };
}

/**
 * The request as it is sent with its inputs in the region `regionName`: no raw_input_contents,
 * and each input's parameters name the region, the offset and the byte size. Pure.
 */
export function sharedMemoryRequest(request: ModelInferRequest, regionName: string, offsets: readonly number[]): ModelInferRequest {
  const raw = request.raw_input_contents ?? [];
  if (raw.length !== request.inputs.length) throw new Error(`shared memory: the request has ${request.inputs.length} inputs but ${raw.length} raw input contents`);
  const { raw_input_contents: _raw, ...rest } = request;
  return {
    ...rest,
    inputs: request.inputs.map((input, i) => ({
      ...input,
      parameters: {
        ...input.parameters,
        ...({
          shared_memory_region: { string_param: regionName },
          shared_memory_offset: { int64_param: offsets[i]! },
          shared_memory_byte_size: { int64_param: raw[i]!.byteLength },
        } satisfies Record<SharedMemoryInputParam, InferParameter>),
      },
    })),
  };
}

/** A region name and shm key unique to this process and call, so parallel runs never share one. */
export function uniqueRegionName(): string {
  return `tanalyze_${process.pid}_${randomBytes(6).toString('hex')}`;
}

/** Region files this process created and has not removed yet: removed at exit. */
const liveFiles = new Set<string>();
let exitHookInstalled = false;

function removeLiveFilesSync(): void {
  for (const file of liveFiles) unlinkQuietly(file);
  liveFiles.clear();
}

/** The shm files this process still holds (tests check that none are left). */
export function liveSharedMemoryFiles(): readonly string[] {
  return [...liveFiles];
}

function unlinkQuietly(file: string): void {
  try {
    unlinkSync(file);
  } catch {
    /* already gone */
  }
}

/** One POSIX shared-memory object written by this process: created, filled once, removed. */
export class SharedMemoryObject {
  private removed = false;

  private constructor(
    /** shm_open's name: "/" and the name. */
    readonly key: string,
    /** The object as a file: /dev/shm/<name>. */
    readonly file: string,
    readonly byteSize: number,
  ) {}

  /**
   * Creates /dev/shm/<name> (never an existing one: O_EXCL), `byteSize` bytes long, with
   * `parts` written at their offsets. Readable by the owner only, as Triton runs as the same
   * user when client and server share a host.
   */
  static create(name: string, byteSize: number, parts: readonly { offset: number; bytes: Uint8Array }[], dir = SHM_DIR): SharedMemoryObject {
    if (!/^[A-Za-z0-9_.-]+$/.test(name)) throw new Error(`shared memory: '${name}' is not a valid object name`);
    const file = join(dir, name);
    let fd: number;
    try {
      fd = openSync(file, 'wx', 0o600);
    } catch (e) {
      throw new SharedMemoryError(`cannot create the shared-memory object ${file}: ${(e as Error).message}`);
    }
    if (!exitHookInstalled) {
      exitHookInstalled = true;
      process.on('exit', removeLiveFilesSync);
    }
    liveFiles.add(file);
    const obj = new SharedMemoryObject(`/${name}`, file, byteSize);
    try {
      ftruncateSync(fd, byteSize);
      for (const { offset, bytes } of parts) {
        let done = 0;
        while (done < bytes.byteLength) done += writeSync(fd, bytes, done, bytes.byteLength - done, offset + done);
      }
    } catch (e) {
      obj.remove();
      throw new SharedMemoryError(`cannot write the shared-memory object ${file}: ${(e as Error).message}`);
    } finally {
      closeSync(fd);
    }
    return obj;
  }

  /** Unlinks the object (the server's mapping, if any, stays valid until it unmaps). Safe to call twice. */
  remove(): void {
    if (this.removed) return;
    this.removed = true;
    liveFiles.delete(this.file);
    unlinkQuietly(this.file);
  }
}

/** Shared memory could not be set up (the object, or the server's registration). */
export class SharedMemoryError extends TanalyzeError {
  constructor(message: string, hint?: string) {
    super('infrastructure', message, hint);
  }
}

/** A configuration's inputs in a registered region: the request to send, and how to release it. */
export interface SharedMemoryInputs {
  /** The request naming the region (no input bytes). */
  request: ModelInferRequest;
  regionName: string;
  /** The object behind the region; its name is already unlinked (the server holds it). */
  object: SharedMemoryObject;
  /** Unregisters the region (best effort: the server may be gone). */
  release(): Promise<void>;
}

/**
 * Writes the request's inputs into a new shared-memory object, registers it with the server
 * as one region, unlinks the object's name (the server holds the object) and returns the
 * request that names the region. Nothing is left in /dev/shm, on success or failure.
 */
export async function placeInputsInSharedMemory(client: InferenceClient, request: ModelInferRequest, opts: { dir?: string; name?: string } = {}): Promise<SharedMemoryInputs> {
  if (!client.systemSharedMemoryRegister || !client.systemSharedMemoryUnregister) {
    throw new SharedMemoryError('shared memory: this client cannot register regions');
  }
  const raw = request.raw_input_contents ?? [];
  const { offsets, byteSize } = layoutInputs(raw.map((b) => b.byteLength));
  const name = opts.name ?? uniqueRegionName();
  const object = SharedMemoryObject.create(
    name,
    byteSize,
    raw.map((bytes, i) => ({ offset: offsets[i]!, bytes })),
    opts.dir,
  );
  try {
    await client.systemSharedMemoryRegister({ name, key: object.key, offset: 0, byte_size: byteSize });
  } catch (e) {
    throw new SharedMemoryError(
      `--shared-memory system: the server refused to register region '${name}' (${object.file}, ${byteSize} bytes): ${(e as Error).message}`,
      'the server must run on this host and support the system shared-memory extension; use --shared-memory none otherwise',
    );
  } finally {
    // Registered or refused, nobody needs the name any more (a registered server holds the object).
    object.remove();
  }
  const unregister = client.systemSharedMemoryUnregister.bind(client);
  let released = false;
  return {
    request: sharedMemoryRequest(request, name, offsets),
    regionName: name,
    object,
    async release() {
      if (released) return;
      released = true;
      try {
        await unregister(name);
      } catch {
        // The server may have stopped or restarted: its registration went with it.
      }
    },
  };
}

/**
 * Whether a server at `address` (host:port) can map this host's shared memory: only a
 * server on this machine, reached over loopback, can. Pure.
 */
export function isLoopbackAddress(address: string): boolean {
  let host = address.trim();
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(host);
  if (bracketed) host = bracketed[1]!;
  else if (isIP(host) !== 6) host = host.replace(/:\d+$/, '');
  host = host.toLowerCase();
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  if (isIP(host) === 6) return host === '::1' || /^::ffff:127\./.test(host);
  return false;
}

