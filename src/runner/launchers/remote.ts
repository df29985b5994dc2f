/**
 * Remote launcher: a Triton that is already running somewhere (`--url host:8001`).
 * tanalyze never starts, restarts or stops it; it only loads the model under test.
 *
 * Explicit model-control mode is required, since only then does RepositoryModelLoad
 * work. A client cannot ask Triton for its mode, so start() probes it: it unloads a
 * model name that cannot exist (`__tanalyze_probe_<random>`). Triton's core answers
 * that request, in NONE and POLL mode, with the error "explicit model load / unload
 * is not allowed if polling is enabled" (model_repository_manager.cc,
 * `!model_control_enabled_`); in EXPLICIT mode the request is accepted (or refused
 * for the unknown name with a different message), and nothing changes on the server.
 * The embedded server answers the same way ("... not allowed if model control mode
 * is NONE").
 *
 * Each trial loads the model under its own name (the remote repository holds the
 * original model folder, not tanalyze's variants) with the `config` parameter: the
 * JSON of the variant's full ModelConfig with `name` set to that model name (Triton
 * requires the name in the config to match the model being loaded). The override is
 * used instead of the config.pbtxt on the server, not merged into it, which is why
 * the full config goes. With `uploadFiles`, the variant's version folders go along as
 * `file:<version>/<name>` parameters too (for engines built on this machine).
 *
 * release() does nothing: the next apply() reloads the same model with the next
 * config. stop() puts back what it found: a model that was READY before tanalyze
 * came is loaded again from the server's own config.pbtxt; one that was not is
 * unloaded.
 */
import { randomBytes } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { modelConfigToJson, parseModelConfig } from '../../config/pbtxt.js';
import { createInferenceClient, ProtocolError } from '../../protocol/client.js';
import type { InferenceClient } from '../../protocol/types.js';
import type { Launcher, ModelVariant } from '../../domain/launcher.js';
import { LaunchError } from './errors.js';
import { verifyLoadedConfig } from './config-readback.js';
import { waitForModelReady } from './ready.js';
import { grpcTarget } from './server-control.js';

export interface RemoteTritonOptions {
  /** gRPC endpoint of the running Triton: host:port (grpc:// is accepted). */
  url: string;
  /** Its Prometheus endpoint (default http://<host>:8002/metrics). */
  metricsUrl?: string;
  /** How long a model load may take until ModelReady (default 600 s). */
  readyTimeoutMs?: number;
  /** Send the variant's model files with each load (file: overrides), not only the config. */
  uploadFiles?: boolean;
  /** Deadline of each control call (default 10 s). */
  deadlineMs?: number;
  log?: (line: string) => void;
}

/** The messages Triton (and the embedded server) answer load/unload with outside EXPLICIT mode. */
const NOT_EXPLICIT = /not allowed if (polling is enabled|model control mode)|model control mode is not explicit/i;

export interface ModelControlProbe {
  explicit: boolean;
  /** What the server answered to the probe, for messages and the run's record. */
  evidence: string;
}

/** Unloads a model name that cannot exist and reads the mode from the answer (see the file comment). */
export async function probeModelControl(client: InferenceClient): Promise<ModelControlProbe> {
  const probe = `__tanalyze_probe_${randomBytes(6).toString('hex')}`;
  try {
    await client.repositoryModelUnload(probe);
    return { explicit: true, evidence: `RepositoryModelUnload('${probe}') succeeded` };
  } catch (e) {
    const details = e instanceof ProtocolError ? `${e.code}: ${e.details}` : (e as Error).message;
    if (NOT_EXPLICIT.test(details)) return { explicit: false, evidence: details };
    if (e instanceof ProtocolError && (e.code === 'UNAVAILABLE' || e.code === 'DEADLINE_EXCEEDED') && !/model/i.test(e.details)) throw e;
    return { explicit: true, evidence: `RepositoryModelUnload('${probe}') answered ${details}` };
  }
}

/** Files of the variant's numeric version folders as `<version>/<name>` → content (links followed). */
export async function variantFiles(dir: string): Promise<Record<string, Buffer>> {
  const out: Record<string, Buffer> = {};
  for (const v of await readdir(dir)) {
    if (!/^[0-9]+$/.test(v)) continue;
    const vdir = join(dir, v);
    if (!(await stat(vdir)).isDirectory()) continue;
    const walk = async (sub: string): Promise<void> => {
      for (const f of await readdir(join(vdir, sub))) {
        const rel = sub ? `${sub}/${f}` : f;
        const st = await stat(join(vdir, rel));
        if (st.isDirectory()) await walk(rel);
        else out[`${v}/${rel}`] = await readFile(join(vdir, rel));
      }
    };
    await walk('');
  }
  return out;
}

/** The `config` override for a variant (pure): its full config, named as the model being loaded. */
export function overrideConfigJson(variant: ModelVariant): string {
  const cfg = parseModelConfig(variant.pbtxt, `${variant.modelName} (variant config)`);
  return modelConfigToJson({ ...cfg, name: variant.modelName });
}

export class RemoteTritonLauncher implements Launcher {
  readonly kind = 'remote';
  private client: InferenceClient | undefined;
  private readonly target: string;
  /** Models that were READY before tanalyze touched the server. */
  private readyBefore = new Set<string>();
  /** Models this launcher loaded (and must put back at stop). */
  private readonly loaded = new Set<string>();
  probe: ModelControlProbe | undefined;

  constructor(private readonly opts: RemoteTritonOptions) {
    this.target = grpcTarget(opts.url);
  }

  metricsUrl(): string | null {
    if (this.opts.metricsUrl) return this.opts.metricsUrl;
    const host = this.target.replace(/:\d+$/, '');
    return `http://${host}:8002/metrics`;
  }

  async start(): Promise<{ grpcAddress: string; serverVersion: string }> {
    const client = createInferenceClient(this.target, { deadlineMs: this.opts.deadlineMs ?? 10_000, loadDeadlineMs: this.opts.readyTimeoutMs ?? 600_000 });
    this.client = client;
    const fail = (message: string, hint?: string): never => {
      client.close();
      this.client = undefined;
      throw new LaunchError('unreachable', message, [], hint);
    };
    const live = await client.serverLive().catch((e: Error) => fail(`no Triton answers at ${this.target}: ${e instanceof ProtocolError ? e.details : e.message}`, 'Check --url: the host and Triton\'s gRPC port (8001 by default), and that nothing blocks it.'));
    if (!live) fail(`the Triton at ${this.target} is not live`);
    const ready = await client.serverReady().catch(() => false);
    if (!ready) fail(`the Triton at ${this.target} is live but not ready`, 'Triton reports not ready while a model failed to load with --strict-readiness; see its log.');
    const meta = await client.serverMetadata();
    if (!meta.extensions.some((x) => x.startsWith('model_repository'))) {
      throw new LaunchError('not-explicit', `the server at ${this.target} (${meta.name} ${meta.version}) does not offer the model_repository extension, so tanalyze cannot load configurations into it`);
    }
    this.probe = await probeModelControl(client);
    if (!this.probe.explicit) {
      client.close();
      this.client = undefined;
      throw new LaunchError(
        'not-explicit',
        `the Triton at ${this.target} is not in explicit model-control mode (it answered: ${this.probe.evidence})`,
        [],
        'Start it with --model-control-mode=explicit (and no --repository-poll-secs), or let tanalyze start its own: --launch local or --launch docker.',
      );
    }
    const index = await client.repositoryIndex(true).catch(() => []);
    this.readyBefore = new Set(index.filter((m) => m.state === 'READY').map((m) => m.name));
    return { grpcAddress: this.target, serverVersion: `${meta.name} ${meta.version}` };
  }

  async apply(variant: ModelVariant): Promise<void> {
    const client = this.requireClient();
    const configJson = overrideConfigJson(variant);
    const files = this.opts.uploadFiles && variant.dir ? await variantFiles(variant.dir) : undefined;
    this.loaded.add(variant.modelName);
    try {
      await client.repositoryModelLoad(variant.modelName, configJson, files);
    } catch (e) {
      if (e instanceof ProtocolError) throw new Error(`the Triton at ${this.target} refused the configuration of '${variant.modelName}': ${e.details}`);
      throw e;
    }
    await waitForModelReady(client, variant.modelName, this.opts.readyTimeoutMs ?? 600_000);
    await verifyLoadedConfig(client, variant);
  }

  /** Nothing per trial: the next apply() reloads the model with the next configuration. */
  async release(_variant: ModelVariant): Promise<void> {}

  async stop(): Promise<void> {
    const client = this.client;
    if (!client) return;
    for (const name of this.loaded) {
      try {
        if (this.readyBefore.has(name)) {
          // It was serving before: load it again from the server's own config.pbtxt. A real
          // Triton (2.51) answers a load without a config of a model whose files did not
          // change by keeping the last override, so it is unloaded first.
          await client.repositoryModelUnload(name);
          await client.repositoryModelLoad(name);
          this.opts.log?.(`  restored '${name}' on ${this.target} to its own configuration`);
        } else {
          await client.repositoryModelUnload(name);
        }
      } catch (e) {
        this.opts.log?.(`  could not put back '${name}' on ${this.target}: ${(e as Error).message}`);
      }
    }
    this.loaded.clear();
    client.close();
    this.client = undefined;
  }

  private requireClient(): InferenceClient {
    if (!this.client) throw new Error('remote launcher: start() was not called');
    return this.client;
  }
}
