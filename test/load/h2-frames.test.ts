/**
 * The HTTP/2 load client's frame codec: frames encoded here read back the same however the
 * byte stream is cut into chunks; DATA is counted, not delivered; HEADERS padding and priority
 * are stripped; oversized frames and malformed SETTINGS are errors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  ErrorCode,
  Flag,
  frame,
  FrameReader,
  FrameType,
  goawayFrame,
  H2ProtocolError,
  headersFragment,
  parseSettings,
  pingAckFrame,
  rstStreamFrame,
  Setting,
  SETTINGS_ACK,
  settingsFrame,
  windowUpdateFrame,
} from '../../src/load/h2-frames.js';

type Seen = { type: number; flags: number; streamId: number; payload?: string; length?: number };

function reader(maxFrameSize?: number): { r: FrameReader; seen: Seen[] } {
  const seen: Seen[] = [];
  const r = new FrameReader(
    {
      // Copied: the payload is valid only during the call.
      onFrame: (type, flags, streamId, payload) => seen.push({ type, flags, streamId, payload: payload.toString('hex') }),
      onData: (streamId, flags, length) => seen.push({ type: FrameType.DATA, flags, streamId, length }),
    },
    maxFrameSize,
  );
  return { r, seen };
}

const STREAM = Buffer.concat([
  settingsFrame([
    [Setting.ENABLE_PUSH, 0],
    [Setting.INITIAL_WINDOW_SIZE, 16 * 1024 * 1024],
  ]),
  SETTINGS_ACK,
  windowUpdateFrame(0, 1000),
  frame(FrameType.HEADERS, Flag.END_HEADERS, 1, Buffer.from('8286', 'hex')),
  frame(FrameType.DATA, 0, 1, Buffer.alloc(16_384, 9)),
  frame(FrameType.DATA, Flag.END_STREAM, 3, Buffer.alloc(0)),
  rstStreamFrame(5, ErrorCode.REFUSED_STREAM),
  pingAckFrame(Buffer.from('0102030405060708', 'hex')),
  goawayFrame(7, ErrorCode.NO_ERROR, 'bye'),
]);

const EXPECTED: Seen[] = [
  { type: FrameType.SETTINGS, flags: 0, streamId: 0, payload: '000200000000' + '000401000000' },
  { type: FrameType.SETTINGS, flags: Flag.ACK, streamId: 0, payload: '' },
  { type: FrameType.WINDOW_UPDATE, flags: 0, streamId: 0, payload: '000003e8' },
  { type: FrameType.HEADERS, flags: Flag.END_HEADERS, streamId: 1, payload: '8286' },
  { type: FrameType.DATA, flags: 0, streamId: 1, length: 16_384 },
  { type: FrameType.DATA, flags: Flag.END_STREAM, streamId: 3, length: 0 },
  { type: FrameType.RST_STREAM, flags: 0, streamId: 5, payload: '00000007' },
  { type: FrameType.PING, flags: Flag.ACK, streamId: 0, payload: '0102030405060708' },
  { type: FrameType.GOAWAY, flags: 0, streamId: 0, payload: '00000007' + '00000000' + Buffer.from('bye').toString('hex') },
];

test('frames read back whole: in one chunk, one byte at a time, and cut anywhere', () => {
  const whole = reader();
  whole.r.push(STREAM);
  assert.deepEqual(whole.seen, EXPECTED);

  const bytewise = reader();
  for (let i = 0; i < STREAM.length; i++) bytewise.r.push(STREAM.subarray(i, i + 1));
  assert.deepEqual(bytewise.seen, EXPECTED);

  fc.assert(
    fc.property(fc.uniqueArray(fc.integer({ min: 1, max: STREAM.length - 1 }), { maxLength: 12 }), (cuts) => {
      const { r, seen } = reader();
      const at = [0, ...cuts.sort((a, b) => a - b), STREAM.length];
      // Each chunk a fresh copy, later overwritten: nothing may be kept past push().
      for (let i = 0; i + 1 < at.length; i++) {
        const chunk = Buffer.from(STREAM.subarray(at[i], at[i + 1]));
        r.push(chunk);
        chunk.fill(0xee);
      }
      assert.deepEqual(seen, EXPECTED);
    }),
  );
});

test('a frame above the announced SETTINGS_MAX_FRAME_SIZE is a FRAME_SIZE_ERROR', () => {
  const { r } = reader();
  assert.throws(
    () => r.push(frame(FrameType.DATA, 0, 1, Buffer.alloc(16_385))),
    (e: unknown) => e instanceof H2ProtocolError && e.code === ErrorCode.FRAME_SIZE_ERROR,
  );
  const larger = reader(32_768);
  larger.r.push(frame(FrameType.DATA, 0, 1, Buffer.alloc(16_385)));
  assert.equal(larger.seen[0]!.length, 16_385);
});

test('HEADERS: padding and priority fields are stripped from the header block fragment', () => {
  const block = Buffer.from('88c1', 'hex');
  assert.deepEqual(headersFragment(0, block), block);
  const padded = Buffer.concat([Buffer.from([3]), block, Buffer.alloc(3)]);
  assert.deepEqual(headersFragment(Flag.PADDED, padded), block);
  const prioritised = Buffer.concat([Buffer.from([0, 0, 0, 1, 16]), block]);
  assert.deepEqual(headersFragment(Flag.PRIORITY, prioritised), block);
  const both = Buffer.concat([Buffer.from([2]), Buffer.from([0, 0, 0, 1, 16]), block, Buffer.alloc(2)]);
  assert.deepEqual(headersFragment(Flag.PADDED | Flag.PRIORITY, both), block);
  assert.throws(() => headersFragment(Flag.PADDED, Buffer.from([9, 1, 2])), H2ProtocolError);
});

test('SETTINGS: pairs parsed in order; a payload not a multiple of 6 is an error', () => {
  const f = settingsFrame([
    [Setting.MAX_CONCURRENT_STREAMS, 1],
    [Setting.MAX_FRAME_SIZE, 1 << 20],
  ]);
  assert.deepEqual(parseSettings(f.subarray(9)), [
    [Setting.MAX_CONCURRENT_STREAMS, 1],
    [Setting.MAX_FRAME_SIZE, 1 << 20],
  ]);
  assert.throws(() => parseSettings(Buffer.alloc(7)), H2ProtocolError);
});
