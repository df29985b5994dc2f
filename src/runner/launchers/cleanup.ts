/**
 * Everything tanalyze starts outside its own process (tritonserver processes, Docker
 * containers, trtexec builds) is registered here while it runs, so that nothing is
 * left behind when tanalyze exits or is interrupted:
 *
 * - `process.on('exit')`: every registered process group gets SIGKILL (synchronous:
 *   nothing asynchronous can run at exit). Containers cannot be removed synchronously;
 *   they carry a label and the next run removes them (docker.ts, removeStaleContainers).
 * - SIGINT / SIGTERM / SIGHUP: when tanalyze has its own handler for the signal (the
 *   CLI's interrupt handler), this module does nothing and the CLI calls
 *   `killAllChildren()` (or the launcher's stop()) when it is done saving. When nobody
 *   else listens, the default would kill tanalyze at once, so this module first stops
 *   everything (SIGTERM, SIGKILL after the grace period) and then re-raises the signal.
 */

export interface Resource {
  /** For messages: "tritonserver (pid 1234)". */
  readonly description: string;
  /** Synchronous, last-resort kill (at process exit). */
  killNow(): void;
  /** Graceful stop within `graceMs`, forced after it. */
  stop(graceMs: number): Promise<void>;
}

const live = new Set<Resource>();
let hooksInstalled = false;
const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

export function register(r: Resource): () => void {
  installCleanupHooks();
  live.add(r);
  return () => {
    live.delete(r);
  };
}

export function liveResources(): readonly Resource[] {
  return [...live];
}

/**
 * Stops everything tanalyze started that is still running: SIGTERM (or `docker stop`)
 * and, after `graceMs`, SIGKILL. For the CLI's signal handler; safe to call twice.
 */
export async function killAllChildren(graceMs = 5000): Promise<void> {
  const all = [...live];
  await Promise.all(
    all.map((r) =>
      r.stop(graceMs).catch(() => {
        try {
          r.killNow();
        } catch {
          /* already gone */
        }
      }),
    ),
  );
  for (const r of all) live.delete(r);
}

/** Synchronous SIGKILL of every registered process (what the exit hook does). */
export function killAllChildrenSync(): void {
  for (const r of live) {
    try {
      r.killNow();
    } catch {
      /* already gone */
    }
  }
  live.clear();
}

export function installCleanupHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', killAllChildrenSync);
  for (const sig of SIGNALS) {
    const handler = (): void => {
      // Someone else (the CLI) handles this signal: they decide when to stop things.
      if (process.listenerCount(sig) > 1) return;
      process.removeListener(sig, handler);
      void killAllChildren(3000).finally(() => process.kill(process.pid, sig));
    };
    process.on(sig, handler);
  }
}
