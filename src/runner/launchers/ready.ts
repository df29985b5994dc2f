import type { InferenceClient } from '../../protocol/types.js';

/** Polls ModelReady until true or the timeout; the error says how long it waited. */
export async function waitForModelReady(client: InferenceClient, model: string, timeoutMs: number, pollMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await client.modelReady(model).catch(() => false)) return;
    if (Date.now() >= deadline) throw new Error(`model '${model}' was not ready after ${Math.round(timeoutMs / 1000)} s`);
    await new Promise((r) => setTimeout(r, pollMs));
  }
}
