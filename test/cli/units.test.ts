import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDurationMs, parseIntList, parseIntStrict, parseLatencyMs } from '../../src/cli/units.js';

test('--p99 accepts ms, s and us forms', () => {
  for (const [text, ms] of [['50ms', 50], ['0.05s', 50], ['50000us', 50], ['50000µs', 50], ['2.5ms', 2.5], [' 50ms ', 50]] as const) {
    assert.equal(parseLatencyMs(text), ms, text);
  }
});

test('--p99 rejects bare numbers, other units, zero and junk', () => {
  for (const text of ['50', '50 ms', 'ms', '-5ms', '0ms', '1m', '50msx', 'fifty', '', '1e3ms', 'NaNms']) {
    assert.equal(parseLatencyMs(text), null, text);
  }
});

test('durations accept minutes too', () => {
  assert.equal(parseDurationMs('30m'), 1_800_000);
  assert.equal(parseDurationMs('500ms'), 500);
  assert.equal(parseDurationMs('2s'), 2000);
  assert.equal(parseDurationMs('2h'), null);
});

test('integers and integer lists are strict', () => {
  assert.equal(parseIntStrict('8'), 8);
  assert.equal(parseIntStrict('0'), null);
  assert.equal(parseIntStrict('0', 0), 0);
  assert.equal(parseIntStrict('8.5'), null);
  assert.equal(parseIntStrict('8x'), null);
  assert.deepEqual(parseIntList('1, 2,4'), [1, 2, 4]);
  assert.equal(parseIntList('1,x'), null);
  assert.equal(parseIntList(''), null);
});
