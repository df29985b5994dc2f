import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { enumerateSpace, parseSpace, skippedConfigs, spaceCombinations, spaceSize, validateConfig, validateSpace } from '../../src/search/space.js';
import type { SearchSpace, ServingConfig } from '../../src/domain/serving.js';
import { configKey } from '../../src/domain/serving.js';

const cfg = (over: Partial<ServingConfig> = {}): ServingConfig => ({
  maxBatchSize: 8, maxQueueDelayUs: 100, instanceCount: 1, precision: 'FP32', preferredBatchSizes: [], ...over,
});

describe('enumerateSpace', () => {
  it('orders precision, instance count, max batch size, queue delay (outermost first)', () => {
    const space: SearchSpace = { precisions: ['FP32', 'FP16'], instanceCounts: [1, 2], maxBatchSizes: [4, 8], maxQueueDelaysUs: [0, 500] };
    const keys = enumerateSpace(space).map(configKey);
    assert.equal(keys.length, 16);
    assert.deepEqual(keys.slice(0, 5), [
      'mbs=4;delay=0;inst=1;prec=FP32;pbs=-',
      'mbs=4;delay=500;inst=1;prec=FP32;pbs=-',
      'mbs=8;delay=0;inst=1;prec=FP32;pbs=-',
      'mbs=8;delay=500;inst=1;prec=FP32;pbs=-',
      'mbs=4;delay=0;inst=2;prec=FP32;pbs=-',
    ]);
    assert.equal(keys[8], 'mbs=4;delay=0;inst=1;prec=FP16;pbs=-');
    assert.deepEqual(enumerateSpace(space), enumerateSpace(space));
    assert.equal(spaceSize(space), 16);
    assert.equal(spaceCombinations(space), 16);
  });

  it('leaves out invalid combinations and lists them with the reason', () => {
    const space: SearchSpace = { precisions: ['FP32'], instanceCounts: [1], maxBatchSizes: [2, 8], maxQueueDelaysUs: [0], preferredBatchSizes: [[], [4], [2, 8]] };
    assert.deepEqual(enumerateSpace(space).map(configKey), [
      'mbs=2;delay=0;inst=1;prec=FP32;pbs=-',
      'mbs=8;delay=0;inst=1;prec=FP32;pbs=-',
      'mbs=8;delay=0;inst=1;prec=FP32;pbs=4',
      'mbs=8;delay=0;inst=1;prec=FP32;pbs=2+8',
    ]);
    assert.equal(spaceSize(space), 4);
    assert.equal(spaceCombinations(space), 6);
    assert.deepEqual(skippedConfigs(space).map((s) => s.reason), [
      'preferred_batch_size 4 is above max_batch_size 2',
      'preferred_batch_size 8 is above max_batch_size 2',
    ]);
  });

  it('returns fresh objects (callers may not alias the space)', () => {
    const space: SearchSpace = { precisions: ['FP32'], instanceCounts: [1], maxBatchSizes: [8], maxQueueDelaysUs: [0], preferredBatchSizes: [[4]] };
    const [c] = enumerateSpace(space);
    c!.preferredBatchSizes.push(99);
    assert.deepEqual(space.preferredBatchSizes, [[4]]);
  });
});

describe('validateConfig', () => {
  it('accepts valid configurations, including the dynamic batcher off', () => {
    assert.equal(validateConfig(cfg()), null);
    assert.equal(validateConfig(cfg({ maxQueueDelayUs: null })), null);
    assert.equal(validateConfig(cfg({ preferredBatchSizes: [4, 8] })), null);
  });

  it('says why a configuration is invalid', () => {
    assert.equal(validateConfig(cfg({ preferredBatchSizes: [16] })), 'preferred_batch_size 16 is above max_batch_size 8');
    assert.equal(validateConfig(cfg({ maxBatchSize: 0 })), 'max_batch_size 0 is not a positive integer');
    assert.match(validateConfig(cfg({ maxQueueDelayUs: -1 }))!, /max_queue_delay_microseconds -1/);
    assert.match(validateConfig(cfg({ instanceCount: 1.5 }))!, /instance count 1.5/);
    assert.match(validateConfig(cfg({ precision: 'FP8' as never }))!, /precision 'FP8' is not one of FP32, FP16, BF16, INT8/);
    assert.match(validateConfig(cfg({ maxQueueDelayUs: null, preferredBatchSizes: [4] }))!, /needs the dynamic batcher/);
    assert.match(validateConfig(cfg({ preferredBatchSizes: [4, 4] }))!, /not strictly increasing/);
    // several problems at once
    assert.match(validateConfig(cfg({ maxBatchSize: -1, instanceCount: 0 }))!, /max_batch_size -1.*; instance count 0/);
  });
});

describe('validateSpace', () => {
  const good: SearchSpace = { precisions: ['FP32', 'FP16'], instanceCounts: [1, 2], maxBatchSizes: [4, 8], maxQueueDelaysUs: [0, 100] };

  it('accepts a valid space', () => {
    assert.deepEqual(validateSpace(good), []);
  });

  it('reports every problem at once, naming the dimension, the value and what is accepted', () => {
    const errors = validateSpace({ precisions: [], instanceCounts: [0, 2], maxBatchSizes: [8, 4], maxQueueDelaysUs: [-5, 1.5, 7, 7] });
    assert.deepEqual(errors, [
      'space.precisions: the list is empty; accepted: a non-empty list of FP32, FP16, BF16, INT8',
      'space.instanceCounts: 0 is not accepted; accepted: integers >= 1',
      'space.maxBatchSizes: [8, 4] is not in ascending order; accepted: sorted values, e.g. [4, 8]',
      'space.maxQueueDelaysUs: -5 is not accepted; accepted: integers >= 0 (microseconds)',
      'space.maxQueueDelaysUs: 1.5 is not accepted; accepted: integers >= 0 (microseconds)',
      'space.maxQueueDelaysUs: 7 appears more than once; accepted: unique values',
    ]);
  });

  it('uses the caller\'s names for dimensions', () => {
    const errors = validateSpace({ ...good, maxBatchSizes: [0] }, { maxBatchSizes: '--max-batch-size' });
    assert.deepEqual(errors, ['--max-batch-size: 0 is not accepted; accepted: integers >= 1']);
  });

  it('checks precisions and preferred batch size sets', () => {
    assert.deepEqual(validateSpace({ ...good, precisions: ['FP16', 'FP32', 'fp8' as never], preferredBatchSizes: [[4, 2], []] }), [
      "space.precisions: 'fp8' is not a precision; accepted: FP32, FP16, BF16, INT8",
      'space.preferredBatchSizes: [4, 2] is not accepted; accepted: a non-empty list of lists of strictly increasing integers >= 1 ([] = none)',
    ]);
    assert.deepEqual(validateSpace({ ...good, precisions: ['FP16', 'FP32'], preferredBatchSizes: [[4], [], [4]] }), [
      "space.precisions: ['FP16', 'FP32'] is not in ascending order; accepted: sorted values, e.g. ['FP32', 'FP16']",
      'space.preferredBatchSizes: [4] appears more than once; accepted: unique values',
    ]);
    assert.deepEqual(validateSpace({ ...good, preferredBatchSizes: [[8], [4, 8]] }), [
      'space.preferredBatchSizes: [[8], [4, 8]] is not in ascending order; accepted: sorted values, e.g. [[4, 8], [8]]',
    ]);
  });

  it('rejects a space with no valid combination', () => {
    const errors = validateSpace({ ...good, maxBatchSizes: [2], preferredBatchSizes: [[4]] });
    assert.deepEqual(errors, ['space: no combination is a valid configuration (e.g. preferred_batch_size 4 is above max_batch_size 2)']);
  });
});

describe('parseSpace', () => {
  it('normalizes order and precision case', () => {
    const r = parseSpace({ precisions: ['int8', 'FP32'], instanceCounts: [2, 1], maxBatchSizes: [16, 4], maxQueueDelaysUs: [100, 0], preferredBatchSizes: [[8, 4], []] });
    assert.deepEqual(r, {
      space: { precisions: ['FP32', 'INT8'], instanceCounts: [1, 2], maxBatchSizes: [4, 16], maxQueueDelaysUs: [0, 100], preferredBatchSizes: [[], [4, 8]] },
      errors: [],
    });
  });

  it('reports missing and unknown dimensions and bad values together', () => {
    const r = parseSpace({ precisions: 'FP32', maxBatchSizes: [4, 4], maxQueueDelaysUs: [0], batch: [1] });
    assert.equal(r.space, null);
    assert.deepEqual(r.errors, [
      "space: 'batch' is not a dimension; accepted: precisions, instanceCounts, maxBatchSizes, maxQueueDelaysUs, preferredBatchSizes",
      'space.instanceCounts: missing; accepted: a non-empty list',
      "space.precisions: 'FP32' is not a list; accepted: a non-empty list of FP32, FP16, BF16, INT8",
      'space.maxBatchSizes: 4 appears more than once; accepted: unique values',
    ]);
  });

  it('rejects what is not an object', () => {
    assert.deepEqual(parseSpace([1, 2]).errors, ['space: [1, 2] is not an object with precisions, instanceCounts, maxBatchSizes, maxQueueDelaysUs, preferredBatchSizes']);
  });
});
