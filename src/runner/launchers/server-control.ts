/**
 * What the local and docker launchers share once a Triton process runs: waiting for
 * it to be ready over gRPC while watching that it has not died, and loading a
 * variant in explicit model-control mode (a reload, never a restart).
 */
import type { InferenceClient } from '../../protocol/types.js';
import { ProtocolError } from '../../protocol/client.js';
import { waitForModelReady } from './ready.js';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Polls ServerReady until true. `deadReason()` is asked between polls; when it returns
 * a reason (the process exited), waiting stops with { dead: reason }. Otherwise the
 * result says whether it became ready before the timeout.
 */
export async function waitForServerReady(
  client: InferenceClient,
  opts: { timeoutMs: number; pollMs?: number; deadReason: () => string | null | Promise<string | null> },
): Promise<{ ready: true } | { ready: false; dead?: string }> {
  const deadline = Date.now() + opts.timeoutMs;
  const pollMs = opts.pollMs ?? 200;
  for (;;) {
    const dead = await opts.deadReason();
    if (dead) return { ready: false, dead };
    const ready = await client.serverReady().catch(() => false);
    if (ready) return { ready: true };
    if (Date.now() >= deadline) return { ready: false };
    await sleep(pollMs);
  }
}

/** RepositoryModelLoad of a model folder of the served repository, then ModelReady. */
export async function loadAndWait(client: InferenceClient, model: string, readyTimeoutMs: number, configJson?: string): Promise<void> {
  try {
    await client.repositoryModelLoad(model, configJson);
  } catch (e) {
    // Triton's reason for refusing the model is the useful part.
    if (e instanceof ProtocolError) throw new Error(`loading '${model}' failed: ${e.details}`);
    throw e;
  }
  await waitForModelReady(client, model, readyTimeoutMs);
}

/** Strips a scheme (grpc://, http://) and a trailing slash: what grpc-js wants is host:port. */
export function grpcTarget(url: string): string {
  return url.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '').replace(/\/+$/, '');
}
