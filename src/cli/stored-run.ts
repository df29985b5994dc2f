/** One rule for naming a stored run on the command line ('latest', an id or a unique prefix). */
import { UsageError } from '../domain/errors.js';
import { StoreError, type Store } from '../store/store.js';

/**
 * The run `ref` names in `store`, or a usage error led by `what` (the command or flag) with
 * the store's own reason: not found (with recent ids), ambiguous prefix, or another model's run.
 */
export function resolveStoredRun(store: Store, ref: string, what: string, model?: string): ReturnType<Store['resolveRun']> {
  try {
    return store.resolveRun(ref, model);
  } catch (e) {
    if (e instanceof StoreError && e.code === 'not-found') throw new UsageError([`${what}: ${e.message}`]);
    throw e;
  }
}
