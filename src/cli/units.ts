/** Pure parsers for values given on the command line or in a profile. */

const DURATION = /^(\d+(?:\.\d+)?|\.\d+)(us|µs|ms|s|m)$/;
const TO_MS: Record<string, number> = { us: 1e-3, 'µs': 1e-3, ms: 1, s: 1000, m: 60_000 };

/** A latency target such as `50ms`, `0.05s` or `50000us`, in milliseconds; null when not of that form. */
export function parseLatencyMs(text: string): number | null {
  const m = DURATION.exec(text.trim());
  if (!m || m[2] === 'm') return null;
  const ms = Number(m[1]) * TO_MS[m[2]!]!;
  return ms > 0 && Number.isFinite(ms) ? ms : null;
}
export const LATENCY_FORMS = 'a number with a unit: 50ms, 0.05s or 50000us';

/** A wall-clock duration such as `30m`, `90s` or `1500ms`, in milliseconds. */
export function parseDurationMs(text: string): number | null {
  const m = DURATION.exec(text.trim());
  if (!m) return null;
  const ms = Number(m[1]) * TO_MS[m[2]!]!;
  return ms > 0 && Number.isFinite(ms) ? ms : null;
}
export const DURATION_FORMS = 'a number with a unit: 500ms, 2s or 30m';

/** A positive integer (or ≥ min); null otherwise. */
export function parseIntStrict(text: string, min = 1): number | null {
  if (!/^\d+$/.test(text.trim())) return null;
  const n = Number(text);
  return Number.isSafeInteger(n) && n >= min ? n : null;
}

/** A comma-separated list of integers, e.g. `1,2,4`. */
export function parseIntList(text: string, min = 0): number[] | null {
  const parts = text.split(',').map((p) => p.trim()).filter((p) => p.length > 0);
  if (parts.length === 0) return null;
  const out: number[] = [];
  for (const p of parts) {
    const n = parseIntStrict(p, min);
    if (n === null) return null;
    out.push(n);
  }
  return out;
}
