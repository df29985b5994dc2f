/**
 * The search space: validation and a deterministic enumeration. Pure.
 *
 * Order (the grid's order, and the order every strategy's candidate list has):
 * precision outermost (in PRECISIONS order: FP32, FP16, BF16, INT8), then instance count,
 * max batch size, queue delay, preferred batch sizes innermost; numbers ascending.
 * Combinations that validateConfig rejects are left out of enumerateSpace and listed,
 * with the reason, by skippedConfigs.
 */
import type { Precision, SearchSpace, ServingConfig } from '../domain/serving.js';
import { PRECISIONS } from '../domain/serving.js';

export interface SkippedConfig {
  config: ServingConfig;
  reason: string;
}

/** Dimension → the name errors use (a flag or profile key); defaults to `space.<field>`. */
export type SpaceLabels = Partial<Record<keyof SearchSpace, string>>;

const DIMENSIONS = ['precisions', 'instanceCounts', 'maxBatchSizes', 'maxQueueDelaysUs', 'preferredBatchSizes'] as const;

function label(dim: keyof SearchSpace, labels: SpaceLabels | undefined): string {
  return labels?.[dim] ?? `space.${dim}`;
}

const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v);
const show = (v: unknown): string => (typeof v === 'string' ? `'${v}'` : Array.isArray(v) ? `[${v.map(show).join(', ')}]` : String(v));

/** Why a configuration cannot be served (Triton's rules), or null when it is valid. */
export function validateConfig(c: ServingConfig): string | null {
  const reasons: string[] = [];
  if (!isInt(c.maxBatchSize) || c.maxBatchSize < 1) reasons.push(`max_batch_size ${show(c.maxBatchSize)} is not a positive integer`);
  if (c.maxQueueDelayUs !== null && (!isInt(c.maxQueueDelayUs) || c.maxQueueDelayUs < 0)) {
    reasons.push(`max_queue_delay_microseconds ${show(c.maxQueueDelayUs)} is not an integer >= 0 (or off)`);
  }
  if (!isInt(c.instanceCount) || c.instanceCount < 1) reasons.push(`instance count ${show(c.instanceCount)} is not a positive integer`);
  if (!PRECISIONS.includes(c.precision)) reasons.push(`precision ${show(c.precision)} is not one of ${PRECISIONS.join(', ')}`);
  const pbs = c.preferredBatchSizes;
  if (!Array.isArray(pbs)) {
    reasons.push(`preferred_batch_size ${show(pbs)} is not a list`);
  } else if (pbs.length > 0) {
    if (c.maxQueueDelayUs === null) reasons.push('preferred_batch_size needs the dynamic batcher, which is off (no queue delay)');
    for (const [i, b] of pbs.entries()) {
      if (!isInt(b) || b < 1) reasons.push(`preferred_batch_size ${show(b)} is not a positive integer`);
      else if (isInt(c.maxBatchSize) && b > c.maxBatchSize) reasons.push(`preferred_batch_size ${b} is above max_batch_size ${c.maxBatchSize}`);
      if (i > 0 && isInt(b) && isInt(pbs[i - 1]) && b <= pbs[i - 1]!) reasons.push(`preferred_batch_size ${show(pbs)} is not strictly increasing`);
    }
  }
  return reasons.length ? reasons.join('; ') : null;
}

function* combinations(space: SearchSpace): Generator<ServingConfig> {
  const pbsList = space.preferredBatchSizes ?? [[]];
  for (const precision of space.precisions) {
    for (const instanceCount of space.instanceCounts) {
      for (const maxBatchSize of space.maxBatchSizes) {
        for (const maxQueueDelayUs of space.maxQueueDelaysUs) {
          for (const pbs of pbsList) {
            yield { maxBatchSize, maxQueueDelayUs, instanceCount, precision, preferredBatchSizes: [...pbs] };
          }
        }
      }
    }
  }
}

/** Every valid configuration of the space, in the documented order. */
export function enumerateSpace(space: SearchSpace): ServingConfig[] {
  const out: ServingConfig[] = [];
  for (const c of combinations(space)) if (validateConfig(c) === null) out.push(c);
  return out;
}

/** The combinations enumerateSpace leaves out, with the reason, in the same order. */
export function skippedConfigs(space: SearchSpace): SkippedConfig[] {
  const out: SkippedConfig[] = [];
  for (const config of combinations(space)) {
    const reason = validateConfig(config);
    if (reason !== null) out.push({ config, reason });
  }
  return out;
}

/** Number of valid configurations (what enumerateSpace returns). */
export function spaceSize(space: SearchSpace): number {
  let n = 0;
  for (const c of combinations(space)) if (validateConfig(c) === null) n++;
  return n;
}

/** Number of combinations, valid or not. */
export function spaceCombinations(space: SearchSpace): number {
  return space.precisions.length * space.instanceCounts.length * space.maxBatchSizes.length *
    space.maxQueueDelaysUs.length * (space.preferredBatchSizes?.length ?? 1);
}

interface IntRule {
  min: number;
  accepted: string;
}

const INT_RULES: Record<'instanceCounts' | 'maxBatchSizes' | 'maxQueueDelaysUs', IntRule> = {
  instanceCounts: { min: 1, accepted: 'integers >= 1' },
  maxBatchSizes: { min: 1, accepted: 'integers >= 1' },
  maxQueueDelaysUs: { min: 0, accepted: 'integers >= 0 (microseconds)' },
};

function checkIntList(dim: keyof typeof INT_RULES, v: unknown, labels: SpaceLabels | undefined, errors: string[]): void {
  const name = label(dim, labels);
  const rule = INT_RULES[dim];
  if (!Array.isArray(v)) {
    errors.push(`${name}: ${show(v)} is not a list; accepted: a non-empty list of ${rule.accepted}`);
    return;
  }
  if (v.length === 0) errors.push(`${name}: the list is empty; accepted: a non-empty list of ${rule.accepted}`);
  const bad = v.filter((x) => !isInt(x) || x < rule.min);
  for (const x of bad) errors.push(`${name}: ${show(x)} is not accepted; accepted: ${rule.accepted}`);
  checkOrder(name, v, (a, b) => (a as number) - (b as number), errors, bad.length === 0);
}

/**
 * Values must be unique and ascending, so the enumeration order does not depend on how the
 * space was written. Order is only judged when every value is valid (cmp needs them).
 */
function checkOrder(name: string, v: unknown[], cmp: (a: unknown, b: unknown) => number, errors: string[], judgeOrder: boolean): void {
  const keys = v.map((x) => JSON.stringify(x));
  const dups = [...new Set(keys.filter((k, i) => keys.indexOf(k) !== i))];
  if (dups.length) errors.push(`${name}: ${dups.join(', ')} appears more than once; accepted: unique values`);
  else if (judgeOrder && v.some((x, i) => i > 0 && cmp(v[i - 1], x) > 0)) {
    const sorted = [...v].sort(cmp);
    errors.push(`${name}: ${show(v)} is not in ascending order; accepted: sorted values, e.g. ${show(sorted)}`);
  }
}

/**
 * All problems with a space at once (empty when valid). Each names the dimension,
 * the bad value and what is accepted. A space whose every combination is invalid is a problem too.
 */
export function validateSpace(space: SearchSpace, labels?: SpaceLabels): string[] {
  const errors: string[] = [];
  if (space === null || typeof space !== 'object') return [`space: ${show(space)} is not an object with ${DIMENSIONS.join(', ')}`];
  const prec = label('precisions', labels);
  if (!Array.isArray(space.precisions)) {
    errors.push(`${prec}: ${show(space.precisions)} is not a list; accepted: a non-empty list of ${PRECISIONS.join(', ')}`);
  } else {
    if (space.precisions.length === 0) errors.push(`${prec}: the list is empty; accepted: a non-empty list of ${PRECISIONS.join(', ')}`);
    const bad = space.precisions.filter((p) => !PRECISIONS.includes(p));
    for (const p of bad) errors.push(`${prec}: ${show(p)} is not a precision; accepted: ${PRECISIONS.join(', ')}`);
    const rank = (p: unknown) => PRECISIONS.indexOf(p as Precision);
    checkOrder(prec, space.precisions, (a, b) => rank(a) - rank(b), errors, bad.length === 0);
  }
  checkIntList('instanceCounts', space.instanceCounts, labels, errors);
  checkIntList('maxBatchSizes', space.maxBatchSizes, labels, errors);
  checkIntList('maxQueueDelaysUs', space.maxQueueDelaysUs, labels, errors);
  if (space.preferredBatchSizes !== undefined) {
    const name = label('preferredBatchSizes', labels);
    const accepted = 'a non-empty list of lists of strictly increasing integers >= 1 ([] = none)';
    const v: unknown = space.preferredBatchSizes;
    if (!Array.isArray(v)) errors.push(`${name}: ${show(v)} is not a list; accepted: ${accepted}`);
    else {
      if (v.length === 0) errors.push(`${name}: the list is empty; accepted: ${accepted}`);
      const bad = v.filter((set) => !(Array.isArray(set) && set.every((b, i) => isInt(b) && b >= 1 && (i === 0 || b > set[i - 1]))));
      for (const set of bad) errors.push(`${name}: ${show(set)} is not accepted; accepted: ${accepted}`);
      checkOrder(name, v, (a, b) => compareLists(a as number[], b as number[]), errors, bad.length === 0);
    }
  }
  if (errors.length === 0 && spaceSize(space) === 0) {
    const first = skippedConfigs(space)[0];
    errors.push(`space: no combination is a valid configuration (e.g. ${first ? first.reason : 'none'})`);
  }
  return errors;
}

function compareLists(a: number[], b: number[]): number {
  if (!Array.isArray(a) || !Array.isArray(b)) return 0;
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
}

export type ParsedSpace = { space: SearchSpace; errors: [] } | { space: null; errors: string[] };

/**
 * A space from loose input (a profile's YAML, JSON): precision names in any case, numbers
 * in any order (sorted here, so the order they were written in does not change the search).
 * Duplicates, bad values and empty dimensions are errors, all reported together.
 */
export function parseSpace(raw: unknown, labels?: SpaceLabels): ParsedSpace {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    return { space: null, errors: [`space: ${show(raw)} is not an object with ${DIMENSIONS.join(', ')}`] };
  }
  const r = raw as Record<string, unknown>;
  const errors: string[] = [];
  const known = new Set<string>(DIMENSIONS);
  for (const k of Object.keys(r)) if (!known.has(k)) errors.push(`space: '${k}' is not a dimension; accepted: ${DIMENSIONS.join(', ')}`);
  for (const dim of ['precisions', 'instanceCounts', 'maxBatchSizes', 'maxQueueDelaysUs'] as const) {
    if (r[dim] === undefined) errors.push(`${label(dim, labels)}: missing; accepted: a non-empty list`);
  }
  const sortNums = (v: unknown) => (Array.isArray(v) && v.every((x) => typeof x === 'number') ? [...v].sort((a, b) => a - b) : v);
  const precisions = Array.isArray(r.precisions)
    ? r.precisions.map((p) => (typeof p === 'string' && PRECISIONS.includes(p.toUpperCase() as Precision) ? p.toUpperCase() : p))
      .sort((a, b) => {
        const ia = PRECISIONS.indexOf(a as Precision), ib = PRECISIONS.indexOf(b as Precision);
        return ia < 0 || ib < 0 ? 0 : ia - ib;
      })
    : r.precisions;
  const space = {
    precisions,
    instanceCounts: sortNums(r.instanceCounts),
    maxBatchSizes: sortNums(r.maxBatchSizes),
    maxQueueDelaysUs: sortNums(r.maxQueueDelaysUs),
    ...(r.preferredBatchSizes !== undefined ? { preferredBatchSizes: sortLists(r.preferredBatchSizes) } : {}),
  } as SearchSpace;
  // A missing dimension is reported once, as missing, not again as "not a list".
  const missing = new Set(DIMENSIONS.filter((d) => d !== 'preferredBatchSizes' && r[d] === undefined).map((d) => `${label(d, labels)}:`));
  for (const e of validateSpace(space, labels)) if (![...missing].some((m) => e.startsWith(m))) errors.push(e);
  return errors.length ? { space: null, errors } : { space, errors: [] };
}

function sortLists(v: unknown): unknown {
  if (!Array.isArray(v) || !v.every((s) => Array.isArray(s) && s.every((x) => typeof x === 'number'))) return v;
  return [...(v as number[][])].map((s) => [...s].sort((a, b) => a - b)).sort(compareLists);
}
