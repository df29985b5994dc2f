/**
 * The HTTP/2 load client's HPACK: the decoder against RFC 7541 Appendix C (header lists and
 * the dynamic table after each block, evictions included), Huffman coding both ways, the
 * errors a broken block must raise, and the constant request block decoding to its fields.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { encodeConstantHeaderBlock, encodeInteger, HpackDecoder, HpackError, huffmanDecode, huffmanEncode } from '../../src/load/hpack.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

function decode(d: HpackDecoder, block: Buffer): [string, string][] {
  const out: [string, string][] = [];
  d.decode(block, (n, v) => out.push([n, v]));
  return out;
}

const REQUEST_1: [string, string][] = [
  [':method', 'GET'],
  [':scheme', 'http'],
  [':path', '/'],
  [':authority', 'www.example.com'],
];
const REQUEST_2: [string, string][] = [...REQUEST_1, ['cache-control', 'no-cache']];
const REQUEST_3: [string, string][] = [
  [':method', 'GET'],
  [':scheme', 'https'],
  [':path', '/index.html'],
  [':authority', 'www.example.com'],
  ['custom-key', 'custom-value'],
];
const TABLE_AFTER_REQUESTS: [string, string][][] = [
  [[':authority', 'www.example.com']],
  [
    ['cache-control', 'no-cache'],
    [':authority', 'www.example.com'],
  ],
  [
    ['custom-key', 'custom-value'],
    ['cache-control', 'no-cache'],
    [':authority', 'www.example.com'],
  ],
];

for (const [section, blocks] of [
  ['C.3 (no Huffman)', ['828684410f7777772e6578616d706c652e636f6d', '828684be58086e6f2d6361636865', '828785bf400a637573746f6d2d6b65790c637573746f6d2d76616c7565']],
  ['C.4 (Huffman)', ['828684418cf1e3c2e5f23a6ba0ab90f4ff', '828684be5886a8eb10649cbf', '828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf']],
] as const) {
  test(`RFC 7541 ${section}: three requests on one connection, the dynamic table after each`, () => {
    const d = new HpackDecoder();
    assert.deepEqual(decode(d, hex(blocks[0])), REQUEST_1);
    assert.deepEqual(d.dynamicTable(), TABLE_AFTER_REQUESTS[0]);
    assert.equal(d.tableSize(), 57);
    assert.deepEqual(decode(d, hex(blocks[1])), REQUEST_2);
    assert.deepEqual(d.dynamicTable(), TABLE_AFTER_REQUESTS[1]);
    assert.equal(d.tableSize(), 110);
    assert.deepEqual(decode(d, hex(blocks[2])), REQUEST_3);
    assert.deepEqual(d.dynamicTable(), TABLE_AFTER_REQUESTS[2]);
    assert.equal(d.tableSize(), 164);
  });
}

const DATE_1 = 'Mon, 21 Oct 2013 20:13:21 GMT';
const DATE_2 = 'Mon, 21 Oct 2013 20:13:22 GMT';
const COOKIE = 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1';
const LOCATION = 'https://www.example.com';

for (const [section, blocks] of [
  [
    'C.5 (no Huffman)',
    [
      '4803333032580770726976617465611d4d6f6e2c203231204f637420323031332032303a31333a323120474d546e1768747470733a2f2f7777772e6578616d706c652e636f6d',
      '4803333037c1c0bf',
      '88c1611d4d6f6e2c203231204f637420323031332032303a31333a323220474d54c05a04677a69707738666f6f3d4153444a4b48514b425a584f5157454f50495541585157454f49553b206d61782d6167653d333630303b2076657273696f6e3d31',
    ],
  ],
  [
    'C.6 (Huffman)',
    [
      '488264025885aec3771a4b6196d07abe941054d444a8200595040b8166e082a62d1bff6e919d29ad171863c78f0b97c8e9ae82ae43d3',
      '4883640effc1c0bf',
      '88c16196d07abe941054d444a8200595040b8166e084a62d1bffc05a839bd9ab77ad94e7821dd7f2e6c7b335dfdfcd5b3960d5af27087f3672c1ab270fb5291f9587316065c003ed4ee5b1063d5007',
    ],
  ],
] as const) {
  test(`RFC 7541 ${section}: three responses in a 256-byte table, entries evicted`, () => {
    const d = new HpackDecoder(256);
    // The examples assume SETTINGS_HEADER_TABLE_SIZE 256 and a table already that small.
    d.decode(hex('3fe101'), () => assert.fail('a size update is no field'));
    assert.deepEqual(decode(d, hex(blocks[0])), [
      [':status', '302'],
      ['cache-control', 'private'],
      ['date', DATE_1],
      ['location', LOCATION],
    ]);
    assert.deepEqual(d.dynamicTable(), [
      ['location', LOCATION],
      ['date', DATE_1],
      ['cache-control', 'private'],
      [':status', '302'],
    ]);
    assert.equal(d.tableSize(), 222);
    // ':status 307' evicts ':status 302'.
    assert.deepEqual(decode(d, hex(blocks[1])), [
      [':status', '307'],
      ['cache-control', 'private'],
      ['date', DATE_1],
      ['location', LOCATION],
    ]);
    assert.deepEqual(d.dynamicTable(), [
      [':status', '307'],
      ['location', LOCATION],
      ['date', DATE_1],
      ['cache-control', 'private'],
    ]);
    assert.equal(d.tableSize(), 222);
    assert.deepEqual(decode(d, hex(blocks[2])), [
      [':status', '200'],
      ['cache-control', 'private'],
      ['date', DATE_2],
      ['location', LOCATION],
      ['content-encoding', 'gzip'],
      ['set-cookie', COOKIE],
    ]);
    assert.deepEqual(d.dynamicTable(), [
      ['set-cookie', COOKIE],
      ['content-encoding', 'gzip'],
      ['date', DATE_2],
    ]);
    assert.equal(d.tableSize(), 215);
  });
}

test('RFC 7541 C.1 integers and C.2 literals: a long length prefix, without indexing, never indexed', () => {
  const bytes: number[] = [];
  encodeInteger(bytes, 1337, 5, 0);
  assert.deepEqual(bytes, [31, 154, 10]);
  const d = new HpackDecoder();
  assert.deepEqual(decode(d, hex('040c2f73616d706c652f70617468')), [[':path', '/sample/path']]);
  assert.deepEqual(decode(d, hex('100870617373776f726406736563726574')), [['password', 'secret']]);
  assert.deepEqual(d.dynamicTable(), []);
  // A value of 300 bytes: its length takes a continuation byte.
  const long = 'x'.repeat(300);
  const block: number[] = [0x40, 1, 0x61];
  encodeInteger(block, long.length, 7, 0);
  block.push(...Buffer.from(long));
  assert.deepEqual(decode(d, Buffer.from(block)), [['a', long]]);
  // Larger than the whole 4096-byte table: it empties the table and is not added.
  const huge = 'y'.repeat(5000);
  const big: number[] = [0x40, 1, 0x62];
  encodeInteger(big, huge.length, 7, 0);
  big.push(...Buffer.from(huge));
  assert.deepEqual(decode(d, Buffer.from(big)), [['b', huge]]);
  assert.deepEqual(d.dynamicTable(), []);
});

test('Huffman: every byte value round-trips, and the RFC examples decode', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
      const text = Buffer.from(bytes).toString('latin1');
      assert.equal(huffmanDecode(huffmanEncode(text)), text);
    }),
  );
  const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i)).toString('latin1');
  assert.equal(huffmanDecode(huffmanEncode(all)), all);
  assert.equal(huffmanDecode(hex('f1e3c2e5f23a6ba0ab90f4ff')), 'www.example.com');
  assert.deepEqual(huffmanEncode('custom-value'), hex('25a849e95bb8e8b4bf'));
});

test('broken blocks are COMPRESSION errors: index 0 or past the table, bad Huffman padding, EOS, a size update too large or late, truncation', () => {
  const bad = (block: string, why: RegExp, d = new HpackDecoder()): void => assert.throws(() => d.decode(hex(block), () => undefined), (e: unknown) => e instanceof HpackError && why.test(e.message));
  bad('80', /index 0/);
  bad('be', /beyond the table/);
  // Values of :authority (literal, name index 1), Huffman-coded: 'a' (00011) then 3 zero bits of padding.
  bad('018118', /padding/);
  // A whole byte of ones as padding: more than 7 bits.
  bad('01821fff', /padding/);
  // EOS (30 ones) inside a string.
  bad('0184ffffffff', /EOS/);
  bad('3fe21f', /above the 4096 allowed/);
  bad('823fe101', /after a header field/);
  bad('4003', /truncated|longer/);
  bad('1f8080808080', /too large|truncated/);
});

test('the constant request block: decodes to its fields and leaves the dynamic table empty', () => {
  const fields: [string, string][] = [
    [':method', 'POST'],
    [':scheme', 'http'],
    [':path', '/inference.GRPCInferenceService/ModelInfer'],
    [':authority', '127.0.0.1:8001'],
    ['content-type', 'application/grpc'],
    ['te', 'trailers'],
    ['grpc-timeout', '60000m'],
    ['user-agent', 'tanalyze-load'],
    ['x-long', 'z'.repeat(200)],
  ];
  const block = encodeConstantHeaderBlock(fields);
  const d = new HpackDecoder();
  assert.deepEqual(decode(d, block), fields);
  assert.deepEqual(decode(d, block), fields);
  assert.deepEqual(d.dynamicTable(), []);
});
