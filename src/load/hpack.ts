/**
 * HPACK (RFC 7541) for the load generator's HTTP/2 client: a full decoder (static and dynamic
 * tables, table size updates, Huffman-coded strings), because every header block a server
 * sends must be decoded to keep the dynamic table in step even when only :status,
 * grpc-status and grpc-message are wanted; and an encoder of a constant request header block
 * that never touches the dynamic table (so it can be built once and sent for every request).
 * Pure: no I/O.
 */

export class HpackError extends Error {}

/** RFC 7541 Appendix A: index 1..61. */
export const STATIC_TABLE: readonly (readonly [string, string])[] = [
  [':authority', ''],
  [':method', 'GET'],
  [':method', 'POST'],
  [':path', '/'],
  [':path', '/index.html'],
  [':scheme', 'http'],
  [':scheme', 'https'],
  [':status', '200'],
  [':status', '204'],
  [':status', '206'],
  [':status', '304'],
  [':status', '400'],
  [':status', '404'],
  [':status', '500'],
  ['accept-charset', ''],
  ['accept-encoding', 'gzip, deflate'],
  ['accept-language', ''],
  ['accept-ranges', ''],
  ['accept', ''],
  ['access-control-allow-origin', ''],
  ['age', ''],
  ['allow', ''],
  ['authorization', ''],
  ['cache-control', ''],
  ['content-disposition', ''],
  ['content-encoding', ''],
  ['content-language', ''],
  ['content-length', ''],
  ['content-location', ''],
  ['content-range', ''],
  ['content-type', ''],
  ['cookie', ''],
  ['date', ''],
  ['etag', ''],
  ['expect', ''],
  ['expires', ''],
  ['from', ''],
  ['host', ''],
  ['if-match', ''],
  ['if-modified-since', ''],
  ['if-none-match', ''],
  ['if-range', ''],
  ['if-unmodified-since', ''],
  ['last-modified', ''],
  ['link', ''],
  ['location', ''],
  ['max-forwards', ''],
  ['proxy-authenticate', ''],
  ['proxy-authorization', ''],
  ['range', ''],
  ['referer', ''],
  ['refresh', ''],
  ['retry-after', ''],
  ['server', ''],
  ['set-cookie', ''],
  ['strict-transport-security', ''],
  ['transfer-encoding', ''],
  ['user-agent', ''],
  ['vary', ''],
  ['via', ''],
  ['www-authenticate', ''],
];

/** RFC 7541 Appendix B: the code of each symbol 0..255, most significant bit first (EOS apart). */
// prettier-ignore
const HUFFMAN_CODES: readonly number[] = [
  0x1ff8, 0x7fffd8, 0xfffffe2, 0xfffffe3, 0xfffffe4, 0xfffffe5, 0xfffffe6, 0xfffffe7,
  0xfffffe8, 0xffffea, 0x3ffffffc, 0xfffffe9, 0xfffffea, 0x3ffffffd, 0xfffffeb, 0xfffffec,
  0xfffffed, 0xfffffee, 0xfffffef, 0xffffff0, 0xffffff1, 0xffffff2, 0x3ffffffe, 0xffffff3,
  0xffffff4, 0xffffff5, 0xffffff6, 0xffffff7, 0xffffff8, 0xffffff9, 0xffffffa, 0xffffffb,
  0x14, 0x3f8, 0x3f9, 0xffa, 0x1ff9, 0x15, 0xf8, 0x7fa,
  0x3fa, 0x3fb, 0xf9, 0x7fb, 0xfa, 0x16, 0x17, 0x18,
  0x0, 0x1, 0x2, 0x19, 0x1a, 0x1b, 0x1c, 0x1d,
  0x1e, 0x1f, 0x5c, 0xfb, 0x7ffc, 0x20, 0xffb, 0x3fc,
  0x1ffa, 0x21, 0x5d, 0x5e, 0x5f, 0x60, 0x61, 0x62,
  0x63, 0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6a,
  0x6b, 0x6c, 0x6d, 0x6e, 0x6f, 0x70, 0x71, 0x72,
  0xfc, 0x73, 0xfd, 0x1ffb, 0x7fff0, 0x1ffc, 0x3ffc, 0x22,
  0x7ffd, 0x3, 0x23, 0x4, 0x24, 0x5, 0x25, 0x26,
  0x27, 0x6, 0x74, 0x75, 0x28, 0x29, 0x2a, 0x7,
  0x2b, 0x76, 0x2c, 0x8, 0x9, 0x2d, 0x77, 0x78,
  0x79, 0x7a, 0x7b, 0x7ffe, 0x7fc, 0x3ffd, 0x1ffd, 0xffffffc,
  0xfffe6, 0x3fffd2, 0xfffe7, 0xfffe8, 0x3fffd3, 0x3fffd4, 0x3fffd5, 0x7fffd9,
  0x3fffd6, 0x7fffda, 0x7fffdb, 0x7fffdc, 0x7fffdd, 0x7fffde, 0xffffeb, 0x7fffdf,
  0xffffec, 0xffffed, 0x3fffd7, 0x7fffe0, 0xffffee, 0x7fffe1, 0x7fffe2, 0x7fffe3,
  0x7fffe4, 0x1fffdc, 0x3fffd8, 0x7fffe5, 0x3fffd9, 0x7fffe6, 0x7fffe7, 0xffffef,
  0x3fffda, 0x1fffdd, 0xfffe9, 0x3fffdb, 0x3fffdc, 0x7fffe8, 0x7fffe9, 0x1fffde,
  0x7fffea, 0x3fffdd, 0x3fffde, 0xfffff0, 0x1fffdf, 0x3fffdf, 0x7fffeb, 0x7fffec,
  0x1fffe0, 0x1fffe1, 0x3fffe0, 0x1fffe2, 0x7fffed, 0x3fffe1, 0x7fffee, 0x7fffef,
  0xfffea, 0x3fffe2, 0x3fffe3, 0x3fffe4, 0x7ffff0, 0x3fffe5, 0x3fffe6, 0x7ffff1,
  0x3ffffe0, 0x3ffffe1, 0xfffeb, 0x7fff1, 0x3fffe7, 0x7ffff2, 0x3fffe8, 0x1ffffec,
  0x3ffffe2, 0x3ffffe3, 0x3ffffe4, 0x7ffffde, 0x7ffffdf, 0x3ffffe5, 0xfffff1, 0x1ffffed,
  0x7fff2, 0x1fffe3, 0x3ffffe6, 0x7ffffe0, 0x7ffffe1, 0x3ffffe7, 0x7ffffe2, 0xfffff2,
  0x1fffe4, 0x1fffe5, 0x3ffffe8, 0x3ffffe9, 0xffffffd, 0x7ffffe3, 0x7ffffe4, 0x7ffffe5,
  0xfffec, 0xfffff3, 0xfffed, 0x1fffe6, 0x3fffe9, 0x1fffe7, 0x1fffe8, 0x7ffff3,
  0x3fffea, 0x3fffeb, 0x1ffffee, 0x1ffffef, 0xfffff4, 0xfffff5, 0x3ffffea, 0x7ffff4,
  0x3ffffeb, 0x7ffffe6, 0x3ffffec, 0x3ffffed, 0x7ffffe7, 0x7ffffe8, 0x7ffffe9, 0x7ffffea,
  0x7ffffeb, 0xffffffe, 0x7ffffec, 0x7ffffed, 0x7ffffee, 0x7ffffef, 0x7fffff0, 0x3ffffee,
];

/** RFC 7541 Appendix B: the length in bits of each symbol's code. */
// prettier-ignore
const HUFFMAN_LENGTHS: readonly number[] = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28,
  28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6,
  5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
  7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
  15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5,
  6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23,
  24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23,
  21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25,
  19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23,
  26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
];

/** EOS (symbol 256): 30 ones. Never valid inside a string; its prefix pads the last byte. */
const EOS = 256;
const EOS_CODE = 0x3fffffff;
const EOS_LENGTH = 30;

/**
 * The code as a binary tree in one array: node n's children are tree[2n] (bit 0) and
 * tree[2n+1] (bit 1); a child >= 0 is another node, a child < 0 is the leaf of symbol -child-1,
 * and 0 (the root, never a child) marks a missing branch.
 */
const TREE: Int32Array = (() => {
  const tree = new Int32Array(2 * 512);
  let nodes = 1;
  for (let sym = 0; sym <= EOS; sym++) {
    const code = sym === EOS ? EOS_CODE : HUFFMAN_CODES[sym]!;
    const length = sym === EOS ? EOS_LENGTH : HUFFMAN_LENGTHS[sym]!;
    let node = 0;
    for (let i = length - 1; i >= 0; i--) {
      const slot = 2 * node + ((code >>> i) & 1);
      if (i === 0) {
        if (tree[slot] !== 0) throw new Error(`HPACK Huffman table: symbol ${sym} collides`);
        tree[slot] = -sym - 1;
      } else {
        if (tree[slot]! < 0) throw new Error(`HPACK Huffman table: symbol ${sym} is below a leaf`);
        if (tree[slot] === 0) tree[slot] = nodes++;
        node = tree[slot]!;
      }
    }
  }
  return tree;
})();

/**
 * A Huffman-coded string (RFC 7541 section 5.2), as latin1 (header values are octets).
 * Rejects EOS inside the string and padding that is longer than 7 bits or not all ones.
 */
export function huffmanDecode(src: Uint8Array, start = 0, end = src.length): string {
  let out = '';
  let node = 0;
  // Bits since the last symbol, and whether all of them were ones (valid padding so far).
  let pending = 0;
  let allOnes = true;
  for (let i = start; i < end; i++) {
    const byte = src[i]!;
    for (let b = 7; b >= 0; b--) {
      const bit = (byte >>> b) & 1;
      const next = TREE[2 * node + bit]!;
      pending++;
      if (bit === 0) allOnes = false;
      if (next < 0) {
        const sym = -next - 1;
        if (sym === EOS) throw new HpackError('HPACK: EOS inside a Huffman-coded string');
        out += String.fromCharCode(sym);
        node = 0;
        pending = 0;
        allOnes = true;
      } else if (next === 0) {
        throw new HpackError('HPACK: invalid Huffman code');
      } else {
        node = next;
      }
    }
  }
  if (pending > 7 || !allOnes) throw new HpackError('HPACK: invalid Huffman padding');
  return out;
}

/** Huffman-codes latin1 text, padded with ones (RFC 7541 section 5.2). */
export function huffmanEncode(text: string): Buffer {
  const bytes: number[] = [];
  let acc = 0;
  let bits = 0;
  for (let i = 0; i < text.length; i++) {
    const sym = text.charCodeAt(i) & 0xff;
    const code = HUFFMAN_CODES[sym]!;
    // Feed the code in pieces of at most 8 bits so `acc` never exceeds 15 bits.
    for (let left = HUFFMAN_LENGTHS[sym]!; left > 0; ) {
      const take = Math.min(8, left);
      left -= take;
      acc = (acc << take) | ((code >>> left) & ((1 << take) - 1));
      bits += take;
      while (bits >= 8) {
        bits -= 8;
        bytes.push((acc >>> bits) & 0xff);
      }
      acc &= (1 << bits) - 1;
    }
  }
  if (bits > 0) bytes.push(((acc << (8 - bits)) | ((1 << (8 - bits)) - 1)) & 0xff);
  return Buffer.from(bytes);
}

/** An integer with an N-bit prefix (RFC 7541 section 5.1), into `out`. */
export function encodeInteger(out: number[], value: number, prefixBits: number, firstByteFlags: number): void {
  const max = (1 << prefixBits) - 1;
  if (value < max) {
    out.push(firstByteFlags | value);
    return;
  }
  out.push(firstByteFlags | max);
  let rest = value - max;
  while (rest >= 128) {
    out.push((rest % 128) | 128);
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
}

/** The most bytes an integer continuation may take: enough for 2^35, more than any length here. */
const MAX_INTEGER_BYTES = 5;

/** Per-entry overhead of the dynamic table (RFC 7541 section 4.1). */
const ENTRY_OVERHEAD = 32;

/**
 * An HPACK decoder for one connection's header blocks (the server's encoder state is mirrored
 * in the dynamic table). `maxTableSize` is the SETTINGS_HEADER_TABLE_SIZE this end announced
 * (4096 unless told otherwise): the server's table size updates may not exceed it.
 */
export class HpackDecoder {
  /** Newest entry last; an entry of dynamic index i (1-based) is entries[length - i]. */
  private readonly names: string[] = [];
  private readonly values: string[] = [];
  private size = 0;
  private capacity: number;
  private pos = 0;

  constructor(private readonly maxTableSize = 4096) {
    this.capacity = maxTableSize;
  }

  /** Entries of the dynamic table, newest first (for tests). */
  dynamicTable(): [string, string][] {
    const out: [string, string][] = [];
    for (let i = this.names.length - 1; i >= 0; i--) out.push([this.names[i]!, this.values[i]!]);
    return out;
  }

  /** The dynamic table's size in the RFC's sense (octets of names and values, plus 32 per entry). */
  tableSize(): number {
    return this.size;
  }

  /** Decodes one complete header block, calling `onField` for each field in order. */
  decode(block: Uint8Array, onField: (name: string, value: string) => void): void {
    this.pos = 0;
    const end = block.length;
    let fieldsSeen = false;
    while (this.pos < end) {
      const first = block[this.pos]!;
      if (first & 0x80) {
        // Indexed header field (6.1).
        const index = this.integer(block, 7);
        if (index === 0) throw new HpackError('HPACK: index 0');
        this.emitIndexed(index, onField);
        fieldsSeen = true;
      } else if (first & 0x40) {
        // Literal with incremental indexing (6.2.1).
        const index = this.integer(block, 6);
        const name = index === 0 ? this.string(block) : this.nameAt(index);
        const value = this.string(block);
        this.add(name, value);
        onField(name, value);
        fieldsSeen = true;
      } else if (first & 0x20) {
        // Dynamic table size update (6.3): only at the start of a block.
        if (fieldsSeen) throw new HpackError('HPACK: table size update after a header field');
        const size = this.integer(block, 5);
        if (size > this.maxTableSize) throw new HpackError(`HPACK: table size update to ${size}, above the ${this.maxTableSize} allowed`);
        this.capacity = size;
        this.evict(0);
      } else {
        // Literal without indexing (0000) or never indexed (0001) (6.2.2, 6.2.3).
        const index = this.integer(block, 4);
        const name = index === 0 ? this.string(block) : this.nameAt(index);
        onField(name, this.string(block));
        fieldsSeen = true;
      }
    }
  }

  private emitIndexed(index: number, onField: (name: string, value: string) => void): void {
    if (index <= STATIC_TABLE.length) {
      const entry = STATIC_TABLE[index - 1]!;
      onField(entry[0], entry[1]);
      return;
    }
    const at = this.names.length - (index - STATIC_TABLE.length);
    if (at < 0) throw new HpackError(`HPACK: index ${index} beyond the table`);
    onField(this.names[at]!, this.values[at]!);
  }

  private nameAt(index: number): string {
    if (index <= STATIC_TABLE.length) return STATIC_TABLE[index - 1]![0];
    const at = this.names.length - (index - STATIC_TABLE.length);
    if (at < 0) throw new HpackError(`HPACK: index ${index} beyond the table`);
    return this.names[at]!;
  }

  /** Adds an entry, evicting the oldest ones to make room (4.4); one larger than the table empties it. */
  private add(name: string, value: string): void {
    const entrySize = name.length + value.length + ENTRY_OVERHEAD;
    if (entrySize > this.capacity) {
      this.names.length = 0;
      this.values.length = 0;
      this.size = 0;
      return;
    }
    this.evict(entrySize);
    this.names.push(name);
    this.values.push(value);
    this.size += entrySize;
  }

  private evict(room: number): void {
    let drop = 0;
    while (this.size + room > this.capacity && drop < this.names.length) {
      this.size -= this.names[drop]!.length + this.values[drop]!.length + ENTRY_OVERHEAD;
      drop++;
    }
    if (drop > 0) {
      this.names.splice(0, drop);
      this.values.splice(0, drop);
    }
  }

  private integer(block: Uint8Array, prefixBits: number): number {
    if (this.pos >= block.length) throw new HpackError('HPACK: truncated integer');
    const max = (1 << prefixBits) - 1;
    let value = block[this.pos++]! & max;
    if (value < max) return value;
    let shift = 0;
    for (let n = 0; ; n++) {
      if (n >= MAX_INTEGER_BYTES) throw new HpackError('HPACK: integer too large');
      if (this.pos >= block.length) throw new HpackError('HPACK: truncated integer');
      const b = block[this.pos++]!;
      value += (b & 127) * 2 ** shift;
      shift += 7;
      if ((b & 128) === 0) return value;
    }
  }

  private string(block: Uint8Array): string {
    if (this.pos >= block.length) throw new HpackError('HPACK: truncated string');
    const huffman = (block[this.pos]! & 0x80) !== 0;
    const length = this.integer(block, 7);
    const start = this.pos;
    const stop = start + length;
    if (stop > block.length) throw new HpackError('HPACK: string longer than its block');
    this.pos = stop;
    if (huffman) return huffmanDecode(block, start, stop);
    return latin1(block, start, stop);
  }
}

function latin1(bytes: Uint8Array, start: number, end: number): string {
  if (end - start < 16) {
    let s = '';
    for (let i = start; i < end; i++) s += String.fromCharCode(bytes[i]!);
    return s;
  }
  return Buffer.from(bytes.buffer, bytes.byteOffset + start, end - start).toString('latin1');
}

/**
 * A header block that leaves the dynamic table alone: each field indexed when the static
 * table holds it whole, otherwise a literal without indexing (with the static table's name
 * index where it has the name), strings not Huffman-coded. Such a block means the same
 * whenever it is sent, so one built per channel serves every request.
 */
export function encodeConstantHeaderBlock(fields: readonly (readonly [string, string])[]): Buffer {
  const out: number[] = [];
  for (const [name, value] of fields) {
    const whole = STATIC_TABLE.findIndex(([n, v]) => n === name && v === value);
    if (whole >= 0) {
      encodeInteger(out, whole + 1, 7, 0x80);
      continue;
    }
    const named = STATIC_TABLE.findIndex(([n]) => n === name);
    if (named >= 0) encodeInteger(out, named + 1, 4, 0x00);
    else {
      out.push(0x00);
      pushString(out, name);
    }
    pushString(out, value);
  }
  return Buffer.from(out);
}

function pushString(out: number[], text: string): void {
  const bytes = Buffer.from(text, 'latin1');
  encodeInteger(out, bytes.length, 7, 0x00);
  for (const b of bytes) out.push(b);
}
