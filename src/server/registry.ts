/**
 * The models the embedded server knows: their state (READY / UNAVAILABLE / LOADING /
 * UNLOADING) and reason, loads and unloads serialized per model, reloads swapped in
 * without loss of availability. No gRPC here; errors carry the status to answer with.
 */
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type { ExecutorFactory } from './executor.js';
import { LoadedModel } from './model.js';
import { ModelLoadError, listModelNames, resolveModelSource, type LoadOverride, type ModelSource } from './model-repository.js';
import { TanalyzeError } from '../domain/errors.js';

export type GrpcStatusName = 'NOT_FOUND' | 'ALREADY_EXISTS' | 'UNAVAILABLE' | 'INVALID_ARGUMENT' | 'UNIMPLEMENTED' | 'INTERNAL';

/** An error with the gRPC status it should be answered with. */
export class ServerError extends TanalyzeError {
  constructor(
    readonly status: GrpcStatusName,
    message: string,
  ) {
    super('configuration', message);
  }
}

export type ModelState = 'READY' | 'UNAVAILABLE' | 'LOADING' | 'UNLOADING';

interface Slot {
  state: ModelState;
  reason: string;
  model?: LoadedModel;
  /**
   * The model's files in the repository when it was last loaded (with or without a config
   * override), to skip reloading a model whose files did not change. As real Triton
   * (2.51) does, a load without a config of such a model keeps what is loaded, an earlier
   * override included; only an unload first brings config.pbtxt back.
   */
  fingerprint?: string;
  /** Tail of this model's load/unload chain. */
  busy: Promise<void>;
}

export interface IndexEntry {
  name: string;
  version: string;
  state: string;
  reason: string;
}

async function fingerprint(source: ModelSource): Promise<string> {
  const st = await stat(source.modelPath);
  return JSON.stringify([source.config, source.modelPath, st.size, st.mtimeMs]);
}

export class ModelRegistry {
  private readonly slots = new Map<string, Slot>();

  constructor(
    private readonly repository: string,
    private readonly factory: ExecutorFactory,
    /** For pytorch_libtorch models (GPU workers); default: workers with their default options. */
    private readonly gpuFactory?: ExecutorFactory,
  ) {}

  /** The ready model, or the error to answer with. */
  get(name: string, version = ''): LoadedModel {
    const slot = this.slots.get(name);
    if (!slot) throw new ServerError('NOT_FOUND', `Request for unknown model: '${name}' is not found`);
    const { state, reason } = this.status(slot);
    if (state !== 'READY' || !slot.model) {
      const why = reason ? `: ${reason}` : '';
      throw new ServerError('UNAVAILABLE', `model '${name}' is not ready (${state.toLowerCase()})${why}`);
    }
    if (version && version !== slot.model.version) {
      throw new ServerError('NOT_FOUND', `Request for unknown model: '${name}' version ${version} is not found`);
    }
    return slot.model;
  }

  isReady(name: string, version = ''): boolean {
    const slot = this.slots.get(name);
    return !!slot?.model && this.status(slot).state === 'READY' && (!version || version === slot.model.version);
  }

  ready(): LoadedModel[] {
    return [...this.slots.values()].filter((s) => this.status(s).state === 'READY' && s.model).map((s) => s.model!);
  }

  /** The slot's state, UNAVAILABLE when a loaded model lost an instance. */
  private status(slot: Slot): { state: ModelState; reason: string } {
    const failure = slot.state === 'READY' ? slot.model?.failure : undefined;
    return failure ? { state: 'UNAVAILABLE', reason: failure } : { state: slot.state, reason: slot.reason };
  }

  /** Every model folder, plus models known from loads; never-loaded ones by name only (as Triton). */
  async index(readyOnly: boolean): Promise<IndexEntry[]> {
    const names = new Set([...(await listModelNames(this.repository)), ...this.slots.keys()]);
    const out: IndexEntry[] = [];
    for (const name of [...names].sort()) {
      const slot = this.slots.get(name);
      if (readyOnly && (!slot || this.status(slot).state !== 'READY')) continue;
      out.push(slot ? { name, version: slot.model?.version ?? '', ...this.status(slot) } : { name, version: '', state: '', reason: '' });
    }
    return out;
  }

  /**
   * Loads (or reloads) a model. A reload builds the new model first and swaps it in, then
   * drains the old one. On failure the model is left UNAVAILABLE with the reason, and the
   * error says why.
   */
  async load(name: string, override: LoadOverride = {}): Promise<void> {
    if (!name || /[/\\]/.test(name) || name === '.' || name === '..') {
      throw new ServerError('INVALID_ARGUMENT', `invalid model name '${name}'`);
    }
    const hasFiles = !!override.files && Object.keys(override.files).length > 0;
    if (!hasFiles && !this.slots.has(name) && !(await stat(path.join(this.repository, name)).then((s) => s.isDirectory(), () => false))) {
      throw new ServerError('NOT_FOUND', `failed to load '${name}': no model folder '${name}' in the repository ${this.repository}`);
    }
    const slot = this.slotFor(name);
    const run = slot.busy.then(async () => {
      const forced = override.configJson !== undefined || hasFiles;
      let source: ModelSource;
      let model: LoadedModel;
      let print: string;
      try {
        source = await resolveModelSource(this.repository, name, override);
        print = forced ? await this.repositoryFingerprint(name) : await fingerprint(source);
        if (!forced && slot.state === 'READY' && !slot.model?.failure && slot.fingerprint === print) return; // unchanged
        if (slot.state !== 'READY') slot.state = 'LOADING';
        model = await LoadedModel.load(source, this.factory, undefined, this.gpuFactory);
      } catch (e) {
        const known = e instanceof ModelLoadError;
        const reason = known ? e.message : `failed to load '${name}': ${(e as Error).message}`;
        await this.retire(slot, 'UNAVAILABLE', reason);
        throw new ServerError(known ? 'INVALID_ARGUMENT' : 'INTERNAL', reason);
      }
      const old = slot.model;
      Object.assign(slot, { model, state: 'READY', reason: '', fingerprint: print });
      await old?.unload();
    });
    slot.busy = run.catch(() => undefined);
    await run;
  }

  /** The fingerprint of the model as its repository folder holds it ('' when it cannot be read, e.g. uploaded files only). */
  private async repositoryFingerprint(name: string): Promise<string> {
    try {
      return await fingerprint(await resolveModelSource(this.repository, name, {}));
    } catch {
      return '';
    }
  }

  /** Stops serving the model once in-flight requests finish, and releases its instances. */
  unload(name: string): Promise<void> {
    const slot = this.slots.get(name);
    if (!slot) {
      return Promise.reject(new ServerError('NOT_FOUND', `failed to unload '${name}': no model of that name is known`));
    }
    const run = slot.busy.then(() => this.retire(slot, 'UNAVAILABLE', 'unloaded'));
    slot.busy = run.catch(() => undefined);
    return run;
  }

  async unloadAll(): Promise<void> {
    await Promise.all([...this.slots.keys()].map((n) => this.unload(n).catch(() => undefined)));
  }

  private async retire(slot: Slot, state: ModelState, reason: string): Promise<void> {
    const old = slot.model;
    Object.assign(slot, { model: undefined, fingerprint: undefined, state: old ? 'UNLOADING' : state, reason });
    if (old) {
      await old.unload();
      slot.state = state;
    }
  }

  private slotFor(name: string): Slot {
    let slot = this.slots.get(name);
    if (!slot) {
      slot = { state: 'UNAVAILABLE', reason: '', busy: Promise.resolve() };
      this.slots.set(name, slot);
    }
    return slot;
  }
}
