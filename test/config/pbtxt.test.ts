import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import fc from 'fast-check';
import textformat from 'protobufjs/ext/textformat.js';
import { packageRoot } from '../../src/util/package-root.js';
import {
  ConfigParseError,
  ConfigValueError,
  decodeModelConfig,
  encodeModelConfig,
  modelConfigFromJson,
  modelConfigToJson,
  modelConfigType,
  parseModelConfig,
  printModelConfig,
  type ModelConfig,
} from '../../src/config/pbtxt.js';

/** The shared reference folder beside the repository, or $TANALYZE_SHARED. */
function sharedDir(): string | null {
  for (const d of [resolve(packageRoot(), '..', 'shared'), process.env.TANALYZE_SHARED]) {
    if (d && existsSync(join(d, 'reference', 'triton'))) return d;
  }
  return null;
}

const shared = sharedDir();
const configsDir = shared ? join(shared, 'reference', 'triton', 'configs') : null;
const configFiles = configsDir ? readdirSync(configsDir).filter((f) => f.endsWith('.pbtxt')).sort() : [];

/** Scalars plus map keys: one per `name: value` line in protoc's output. */
function leafCount(v: unknown): number {
  if (Array.isArray(v)) return v.reduce((n: number, x) => n + leafCount(x), 0);
  if (v !== null && typeof v === 'object') return Object.values(v).reduce((n: number, x) => n + leafCount(x), 0);
  return 1;
}
function leafCountWithMapKeys(cfg: unknown, type = modelConfigType()): number {
  let n = 0;
  for (const f of type.fieldsArray) {
    f.resolve();
    const v = (cfg as Record<string, unknown>)[f.name];
    if (v === undefined) continue;
    const sub = f.resolvedType && 'fieldsArray' in f.resolvedType ? (f.resolvedType as typeof type) : null;
    const one = (x: unknown) => (sub ? leafCountWithMapKeys(x, sub) : leafCount(x));
    if (f.map) for (const x of Object.values(v as object)) n += 1 + one(x);
    else if (f.repeated) for (const x of v as unknown[]) n += one(x);
    else n += one(v);
  }
  return n;
}

describe('real Triton configs against the protoc oracle', () => {
  test('the shared reference folder is present (../shared or TANALYZE_SHARED)', () => assert.ok(configsDir, 'shared/reference/triton/configs not found'));
  test('there are real configs to check', () => assert.ok(configFiles.length >= 15, `found ${configFiles.length}`));

  for (const file of configFiles) {
    const name = basename(file, '.pbtxt');
    const source = () => readFileSync(join(configsDir!, file), 'utf8');
    const oracle = () => readFileSync(join(configsDir!, 'expected-protoc', `${name}.txt`), 'utf8');

    test(`${name}: same message as protoc`, () => {
      const cfg = parseModelConfig(source(), file);
      const expected = oracle();
      // Same message as our parse of protoc's own output...
      assert.deepStrictEqual(cfg, parseModelConfig(expected, `${name}.txt`));
      // ...and as protobufjs' independent text parser reads protoc's output (so a
      // mistake our parser makes on both texts alike is still caught).
      const type = modelConfigType();
      const other = decodeModelConfig(type.encode(textformat.fromText(type, expected)).finish());
      assert.deepStrictEqual(cfg, other);
      // Every value line of protoc's output is accounted for (nothing dropped).
      const valueLines = expected.split('\n').filter((l) => /^\s*\w+: /.test(l)).length;
      assert.equal(leafCountWithMapKeys(cfg), valueLines);
    });

    test(`${name}: printed text is protoc's text`, () => {
      assert.equal(printModelConfig(parseModelConfig(source(), file)), oracle());
    });

    test(`${name}: print, JSON and binary round trips`, () => {
      const cfg = parseModelConfig(source(), file);
      assert.deepStrictEqual(parseModelConfig(printModelConfig(cfg)), cfg);
      const json = modelConfigToJson(cfg);
      assert.deepStrictEqual(modelConfigFromJson(json, file), cfg);
      assert.deepStrictEqual(decodeModelConfig(encodeModelConfig(cfg)), cfg);
      // Proto field names, as the RepositoryModelLoad examples use.
      assert.doesNotMatch(json, /"[a-z]+[A-Z]\w*":/);
    });
  }
});

describe('text format features', () => {
  test('plain data shape: snake_case, enum names, int64 numbers, arrays, maps', () => {
    const cfg = parseModelConfig(`
      name: "m"  # comment
      max_batch_size: 8
      input [ { name: "x", data_type: TYPE_FP32, dims: [ -1, 3 ] } ]
      dynamic_batching { max_queue_delay_microseconds: 100 }
      parameters { key: "k" value { string_value: "v" } }`);
    assert.deepStrictEqual(cfg, {
      name: 'm',
      max_batch_size: 8,
      input: [{ name: 'x', data_type: 'TYPE_FP32', dims: [-1, 3] }],
      dynamic_batching: { max_queue_delay_microseconds: 100 },
      parameters: { k: { string_value: 'v' } },
    });
  });

  test('separators, brackets, quoting, number forms, booleans', () => {
    const cfg = parseModelConfig(
      `name: 'a' "b" 'c\\'\\n\\x41\\101\\u00e9'; platform: "p",
       max_batch_size: 0x10 version_policy: < specific: { versions: [ 010, - 3 ] } >
       input{name:"i"dims:1 dims:2 allow_ragged_batch: True optional: t is_shape_tensor: 1}
       output[{name:"o"},{name:"p"}]
       model_transaction_policy { decoupled: False }
       sequence_batching { control_input { control { fp32_false_true: [ -inf, 1.5e1f, nan ] } } }`,
    );
    assert.equal(cfg.name, "abc'\nAAé");
    assert.equal(cfg.max_batch_size, 16);
    assert.deepStrictEqual(cfg.version_policy, { specific: { versions: [8, -3] } });
    assert.deepStrictEqual(cfg.input, [{ name: 'i', dims: [1, 2], is_shape_tensor: true, allow_ragged_batch: true, optional: true }]);
    assert.deepStrictEqual(cfg.output, [{ name: 'o' }, { name: 'p' }]);
    assert.deepStrictEqual(cfg.model_transaction_policy, {}); // present, default value dropped
    const ctl = (cfg.sequence_batching as any).control_input[0].control[0].fp32_false_true as number[];
    assert.equal(ctl[0], -Infinity);
    assert.equal(ctl[1], 15);
    assert.ok(Number.isNaN(ctl[2]));
  });

  test('proto3 defaults are dropped, oneof members and empty messages kept', () => {
    const cfg = parseModelConfig(`max_batch_size: 0 instance_group { kind: KIND_AUTO count: 0 }
      model_warmup { inputs { key: "a" value { zero_data: false } } }
      dynamic_batching { }`);
    assert.deepStrictEqual(cfg, {
      instance_group: [{}],
      dynamic_batching: {},
      model_warmup: [{ inputs: { a: { zero_data: false } } }],
    });
  });

  test('enums by number, open enum values, map entries in list form and with parts missing', () => {
    const cfg = parseModelConfig(`input { data_type: 11 } output { data_type: 99 }
      parameters [ { key: "a" value: { string_value: "x" } }, { key: "b" } ]
      dynamic_batching { priority_queue_policy { key: 02 value { max_queue_size: 3 } } }
      cc_model_filenames { value: "f" }`);
    assert.equal(cfg.input![0]!.data_type, 'TYPE_FP32');
    assert.equal(cfg.output![0]!.data_type, 99);
    assert.deepStrictEqual(cfg.parameters, { a: { string_value: 'x' }, b: {} });
    assert.deepStrictEqual((cfg.dynamic_batching as any).priority_queue_policy, { '2': { max_queue_size: 3 } });
    assert.deepStrictEqual(cfg.cc_model_filenames, { '': 'f' });
  });

  test('64-bit values past 2^53 stay exact (as decimal strings)', () => {
    const cfg = parseModelConfig('dynamic_batching { max_queue_delay_microseconds: 18446744073709551615 } input { dims: -9223372036854775808 }');
    assert.equal((cfg.dynamic_batching as any).max_queue_delay_microseconds, '18446744073709551615');
    assert.deepStrictEqual(cfg.input![0]!.dims, ['-9223372036854775808']);
    assert.deepStrictEqual(decodeModelConfig(encodeModelConfig(cfg)), cfg);
    assert.deepStrictEqual(modelConfigFromJson(modelConfigToJson(cfg)), cfg);
    assert.deepStrictEqual(parseModelConfig(printModelConfig(cfg)), cfg);
  });

  test('BOM, CRLF, no trailing newline, empty input', () => {
    assert.deepStrictEqual(parseModelConfig('\ufeffname: "a"\r\nbackend: "b"'), { name: 'a', backend: 'b' });
    assert.deepStrictEqual(parseModelConfig(''), {});
    assert.deepStrictEqual(parseModelConfig('  # only a comment'), {});
    assert.equal(printModelConfig({}), '');
  });
});

describe('malformed text', () => {
  const cases: { text: string; line: number; column: number; expected: RegExp; message: RegExp }[] = [
    { text: 'name: "x"\ninput {\n  name = "a"\n}', line: 3, column: 8, expected: /':' after 'name'/, message: /^config\.pbtxt:3:8: expected ':' after 'name', found '='$/ },
    { text: 'input {\n  name: "a"\n  = 3\n}', line: 3, column: 3, expected: /a field name or '}'/, message: /expected a field name or '}', found '='/ },
    { text: 'name: "x"\n# c\n   bogus: 1', line: 3, column: 4, expected: /a field of inference\.ModelConfig/, message: /unknown field 'bogus' in message inference\.ModelConfig/ },
    { text: 'input { name: "a" colour: 1 }', line: 1, column: 19, expected: /inference\.ModelInput/, message: /unknown field 'colour' in message inference\.ModelInput/ },
    { text: 'input {\n  name: "a"\n', line: 3, column: 1, expected: /a field name or '}'/, message: /found end of input/ },
    { text: 'input { dims: [1, 2 }', line: 1, column: 21, expected: /',' or '\]'/, message: /found '}'/ },
    { text: 'max_batch_size: "8"', line: 1, column: 17, expected: /an integer/, message: /found "8"/ },
    { text: 'max_batch_size: 2147483648', line: 1, column: 17, expected: /an integer in/, message: /out of range for int32/ },
    { text: 'instance_group { count: 1.5 }', line: 1, column: 25, expected: /an integer/, message: /found '1\.5'/ },
    { text: 'dynamic_batching { max_queue_delay_microseconds: -1 }', line: 1, column: 51, expected: /an integer in 0\.\./, message: /out of range for uint64/ },
    { text: 'input { data_type: TYPE_FLOAT32 }', line: 1, column: 20, expected: /enum inference\.DataType/, message: /unknown value 'TYPE_FLOAT32'/ },
    { text: 'name: "abc\nbackend: "x"', line: 1, column: 7, expected: /closing "/, message: /unterminated string/ },
    { text: 'name: abc', line: 1, column: 7, expected: /a quoted string/, message: /found 'abc'/ },
    { text: 'dims: 1', line: 1, column: 1, expected: /inference\.ModelConfig/, message: /unknown field 'dims'/ },
    { text: 'max_batch_size 8', line: 1, column: 16, expected: /':' after 'max_batch_size'/, message: /found '8'/ },
    { text: 'name: "a"\nname: "b"', line: 2, column: 1, expected: /other than 'name'/, message: /given more than once \(first at line 1\)/ },
    { text: 'dynamic_batching {}\nsequence_batching {}', line: 2, column: 1, expected: /oneof 'scheduling_choice'/, message: /only one field of oneof 'scheduling_choice'/ },
    { text: 'output [{ name: "a" } { name: "b" }]', line: 1, column: 23, expected: /',' or '\]'/, message: /found '{'/ },
    { text: 'parameters { key: "a" value: "b" }', line: 1, column: 30, expected: /'\{'/, message: /found "b"/ },
    { text: 'parameters { name: "a" }', line: 1, column: 14, expected: /'key', 'value'/, message: /found 'name'/ },
    { text: 'max_batch_size: 12abc', line: 1, column: 17, expected: /a number/, message: /invalid number/ },
    { text: 'name: "a\\q"', line: 1, column: 9, expected: /an escape sequence/, message: /invalid escape '\\q'/ },
    { text: 'model_transaction_policy { decoupled: yes }', line: 1, column: 39, expected: /true or false/, message: /found 'yes'/ },
    { text: '}', line: 1, column: 1, expected: /end of input/, message: /found '}'/ },
  ];
  for (const c of cases) {
    test(JSON.stringify(c.text), () => {
      const err = (() => {
        try {
          parseModelConfig(c.text);
        } catch (e) {
          return e;
        }
        assert.fail('no error');
      })();
      assert.ok(err instanceof ConfigParseError, String(err));
      assert.ok(err instanceof Error);
      assert.equal(err.file, 'config.pbtxt');
      assert.deepStrictEqual([err.line, err.column], [c.line, c.column], err.message);
      assert.match(err.expected, c.expected);
      assert.match(err.message, c.message);
      assert.ok(err.message.startsWith(`config.pbtxt:${c.line}:${c.column}: `), err.message);
    });
  }

  test('errors name the file given', () => {
    assert.throws(() => parseModelConfig('input {', 'repo/m/config.pbtxt'), (e: unknown) =>
      e instanceof ConfigParseError && e.file === 'repo/m/config.pbtxt' && e.message.startsWith('repo/m/config.pbtxt:1:8: '));
  });
});

describe('configs built in code', () => {
  test('printing rejects what does not fit the message, naming the field', () => {
    assert.throws(() => printModelConfig({ name: 'm', colour: 'red' }), (e: unknown) =>
      e instanceof ConfigValueError && /ModelConfig\.colour/.test(e.message) && /unknown field/.test(e.message));
    assert.throws(() => printModelConfig({ instance_group: [{ kind: 'KIND_TPU' as never }] }), /instance_group\[0\]\.kind: unknown value 'KIND_TPU'/);
    assert.throws(() => encodeModelConfig({ max_batch_size: 1.5 }), /max_batch_size: expected an integer/);
    assert.throws(() => modelConfigToJson({ input: { name: 'x' } as never }), /input: expected an array/);
    assert.throws(() => printModelConfig({ dynamic_batching: {}, sequence_batching: {} }), /oneof 'scheduling_choice'/);
  });

  test('JSON input: either name style, int64 strings; errors name source and field', () => {
    assert.deepStrictEqual(
      modelConfigFromJson('{"maxBatchSize": 4, "input": [{"name": "x", "data_type": "TYPE_FP32", "dims": ["-1", 3]}], "dynamicBatching": {}}'),
      { max_batch_size: 4, input: [{ name: 'x', data_type: 'TYPE_FP32', dims: [-1, 3] }], dynamic_batching: {} },
    );
    assert.throws(() => modelConfigFromJson('{"input": [{"data_tpe": 1}]}', 'load.json'), (e: unknown) =>
      e instanceof ConfigValueError && /^load\.json: /.test(e.message) && /data_tpe/.test(e.message) && /ModelInput/.test(e.message));
    assert.throws(() => modelConfigFromJson('{"max_batch_size": "x"}', 'load.json'), /: load\.json: .*max_batch_size/);
    assert.throws(() => modelConfigFromJson('{"input": [{"data_type": "TYPE_X"}]}', 'load.json'), /: load\.json: .*data_type.*TYPE_X/);
    assert.throws(() => modelConfigFromJson('{oops', 'load.json'), /: load\.json: .*not valid JSON/);
  });

  test('property: any strings and numbers survive text, JSON and binary', () => {
    const str = fc.string({ unit: 'binary', maxLength: 12 });
    const arb = fc.record({
      name: str,
      max_batch_size: fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
      input: fc.array(fc.record({ name: str, dims: fc.array(fc.maxSafeInteger().map((n) => n - 2 ** 52), { maxLength: 4 }) }), { maxLength: 3 }),
      parameters: fc.dictionary(str, fc.record({ string_value: str }), { maxKeys: 3 }),
      sequence_batching: fc.record({ control_input: fc.array(fc.record({ control: fc.array(fc.record({ fp32_false_true: fc.array(fc.float(), { maxLength: 2 }) }), { maxLength: 2 }) }), { maxLength: 2 }) }),
    });
    fc.assert(
      fc.property(arb, (raw) => {
        const cfg = decodeModelConfig(encodeModelConfig(raw as ModelConfig)); // canonical form
        assert.deepStrictEqual(parseModelConfig(printModelConfig(cfg)), cfg);
        assert.deepStrictEqual(modelConfigFromJson(modelConfigToJson(cfg)), cfg);
        assert.deepStrictEqual(decodeModelConfig(encodeModelConfig(cfg)), cfg);
      }),
      { numRuns: 150 },
    );
  });
});
