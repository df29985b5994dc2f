/**
 * Triton model configuration in its three encodings: protobuf text format
 * (config.pbtxt), protobuf JSON (the RepositoryModelLoad `config` parameter) and
 * binary protobuf, all over the plain-data ModelConfig of ./types.ts.
 *
 * The plain data is canonical: snake_case field names, enums as names, 64-bit
 * integers as numbers (decimal strings past 2^53), float fields rounded to float32,
 * and proto3 defaults left out (a scalar equal to its default is absent, as in
 * the message Triton sees; message fields keep presence, so `dynamic_batching { }`
 * stays). Hence parse, decode and fromJson of the same message give deep-equal data.
 *
 * Text parsing is our own tokenizer + reflection-driven parser rather than
 * protobufjs/ext/textformat: that one parses every real config we have, but its
 * errors carry only a line number and no column or "what was expected", which
 * a user editing config.pbtxt needs. Printing does use textformat.toText (already
 * canonical: field-number order, 2-space indent).
 */
import protobuf from 'protobufjs';
import textformat from 'protobufjs/ext/textformat.js';
import protojson from 'protobufjs/ext/protojson.js';
import { fromPackageRoot } from '../util/package-root.js';
import type { ModelConfig } from './types.js';
import { TanalyzeError } from '../domain/errors.js';

export type { ModelConfig } from './types.js';

type Plain = Record<string, unknown>;

/** Malformed config.pbtxt text; position is 1-based. */
export class ConfigParseError extends TanalyzeError {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly column: number,
    /** What the parser expected at that point, e.g. "a field name or '}'". */
    readonly expected: string,
    detail: string,
  ) {
    super('usage', `${file}:${line}:${column}: ${detail}`);
  }
}

/** A plain ModelConfig (or JSON) that does not fit the message: wrong field, type or value. */
export class ConfigValueError extends TanalyzeError {
  constructor(readonly source: string, readonly field: string, detail: string) {
    super('usage', `${source}: ${field}: ${detail}`);
  }
}

// ----------------------------------------------------------------- schema

let cachedType: protobuf.Type | undefined;

/** The protobufjs type of inference.ModelConfig from our own .proto (snake_case names kept). */
export function modelConfigType(): protobuf.Type {
  if (cachedType) return cachedType;
  const root = new protobuf.Root();
  root.loadSync(fromPackageRoot('src/config/model_config.proto'), { keepCase: true });
  root.resolveAll();
  return (cachedType = root.lookupType('inference.ModelConfig'));
}

const INT_RANGES: Record<string, { min: bigint; max: bigint; long: boolean }> = {
  int32: { min: -(2n ** 31n), max: 2n ** 31n - 1n, long: false },
  sint32: { min: -(2n ** 31n), max: 2n ** 31n - 1n, long: false },
  sfixed32: { min: -(2n ** 31n), max: 2n ** 31n - 1n, long: false },
  uint32: { min: 0n, max: 2n ** 32n - 1n, long: false },
  fixed32: { min: 0n, max: 2n ** 32n - 1n, long: false },
  int64: { min: -(2n ** 63n), max: 2n ** 63n - 1n, long: true },
  sint64: { min: -(2n ** 63n), max: 2n ** 63n - 1n, long: true },
  sfixed64: { min: -(2n ** 63n), max: 2n ** 63n - 1n, long: true },
  uint64: { min: 0n, max: 2n ** 64n - 1n, long: true },
  fixed64: { min: 0n, max: 2n ** 64n - 1n, long: true },
};

function intValue(v: bigint): number | string {
  const n = Number(v);
  return Number.isSafeInteger(n) ? n : v.toString();
}

function fieldsByNumber(type: protobuf.Type): protobuf.Field[] {
  return [...type.fieldsArray].sort((a, b) => a.id - b.id).map((f) => f.resolve());
}

/** Enum, message or scalar kind of a field (or of a map's value). */
function valueKind(field: protobuf.Field): 'enum' | 'message' | 'scalar' {
  if (field.resolvedType instanceof protobuf.Enum) return 'enum';
  if (field.resolvedType instanceof protobuf.Type) return 'message';
  return 'scalar';
}

// ------------------------------------------------------------- tokenizer

type TokKind = 'ident' | 'number' | 'string' | 'symbol' | 'eof';
interface Token { kind: TokKind; text: string; line: number; col: number; value?: string }

const SYMBOLS = new Set(['{', '}', '<', '>', '[', ']', ':', ',', ';', '-']);
const NUMBER_RE = /0[xX][0-9A-Fa-f]+|(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?[fF]?/y;

function describeToken(t: Token): string {
  if (t.kind === 'eof') return 'end of input';
  if (t.kind === 'string') return t.text.length > 40 ? `${t.text.slice(0, 37)}...` : t.text;
  return `'${t.text}'`;
}

class Tokenizer {
  private pos = 0;
  private line = 1;
  private lineStart = 0;
  private peeked: Token | undefined;

  constructor(private readonly src: string, private readonly file: string) {}

  fail(at: { line: number; col: number }, expected: string, detail: string): never {
    throw new ConfigParseError(this.file, at.line, at.col, expected, detail);
  }

  peek(): Token {
    return (this.peeked ??= this.read());
  }

  next(): Token {
    const t = this.peek();
    this.peeked = undefined;
    return t;
  }

  private skipSpaceAndComments(): void {
    const s = this.src;
    while (this.pos < s.length) {
      const c = s[this.pos]!;
      if (c === '\n') {
        this.pos++;
        this.line++;
        this.lineStart = this.pos;
      } else if (c === ' ' || c === '\t' || c === '\r' || c === '\f' || c === '\v') {
        this.pos++;
      } else if (c === '#') {
        while (this.pos < s.length && s[this.pos] !== '\n') this.pos++;
      } else break;
    }
  }

  private read(): Token {
    this.skipSpaceAndComments();
    const s = this.src;
    const at = { line: this.line, col: this.pos - this.lineStart + 1 };
    if (this.pos >= s.length) return { kind: 'eof', text: '', ...at };
    const c = s[this.pos]!;
    if (/[A-Za-z_]/.test(c)) {
      const m = /[A-Za-z_][A-Za-z0-9_]*/y;
      m.lastIndex = this.pos;
      const text = m.exec(s)![0];
      this.pos += text.length;
      return { kind: 'ident', text, ...at };
    }
    if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(s[this.pos + 1] ?? ''))) {
      NUMBER_RE.lastIndex = this.pos;
      const text = NUMBER_RE.exec(s)![0];
      this.pos += text.length;
      // protoc rejects "12abc" rather than reading it as two tokens.
      if (/[A-Za-z0-9_.]/.test(s[this.pos] ?? '')) {
        this.fail(at, 'a number', `invalid number '${text}${s[this.pos]}'`);
      }
      return { kind: 'number', text, ...at };
    }
    if (c === '"' || c === "'") return this.readString(c, at);
    if (SYMBOLS.has(c)) {
      this.pos++;
      return { kind: 'symbol', text: c, ...at };
    }
    // Any other character becomes a one-character token that matches nothing, so
    // the parser reports it with what it expected there (e.g. '=' for ':').
    const ch = String.fromCodePoint(c.codePointAt(0)!);
    this.pos += ch.length;
    const shown = ch.charCodeAt(0) < 32 ? `\\x${ch.charCodeAt(0).toString(16).padStart(2, '0')}` : ch;
    return { kind: 'symbol', text: shown, ...at };
  }

  private readString(quote: string, at: { line: number; col: number }): Token {
    const s = this.src;
    const start = this.pos;
    const bytes: number[] = [];
    const pushText = (t: string) => bytes.push(...Buffer.from(t, 'utf8'));
    this.pos++;
    for (;;) {
      if (this.pos >= s.length || s[this.pos] === '\n') {
        this.fail(at, `a closing ${quote}`, 'unterminated string');
      }
      const c = s[this.pos]!;
      if (c === quote) {
        this.pos++;
        break;
      }
      if (c !== '\\') {
        const cp = s.codePointAt(this.pos)!;
        const ch = String.fromCodePoint(cp);
        pushText(ch);
        this.pos += ch.length;
        continue;
      }
      const escAt = { line: this.line, col: this.pos - this.lineStart + 1 };
      const e = s[this.pos + 1] ?? '';
      this.pos += 2;
      const simple: Record<string, number> = { n: 10, t: 9, r: 13, a: 7, b: 8, f: 12, v: 11, '\\': 92, "'": 39, '"': 34, '?': 63 };
      if (e in simple) bytes.push(simple[e]!);
      else if (/[0-7]/.test(e)) {
        let oct = e;
        while (oct.length < 3 && /[0-7]/.test(s[this.pos] ?? '')) oct += s[this.pos++];
        bytes.push(parseInt(oct, 8) & 0xff);
      } else if (e === 'x' || e === 'X') {
        let hex = '';
        while (hex.length < 2 && /[0-9A-Fa-f]/.test(s[this.pos] ?? '')) hex += s[this.pos++];
        if (!hex) this.fail(escAt, 'hex digits after \\x', 'invalid escape \\x');
        bytes.push(parseInt(hex, 16));
      } else if (e === 'u' || e === 'U') {
        const n = e === 'u' ? 4 : 8;
        const hex = s.slice(this.pos, this.pos + n);
        if (!new RegExp(`^[0-9A-Fa-f]{${n}}$`).test(hex) || parseInt(hex, 16) > 0x10ffff) {
          this.fail(escAt, `${n} hex digits after \\${e}`, `invalid escape \\${e}${hex}`);
        }
        this.pos += n;
        pushText(String.fromCodePoint(parseInt(hex, 16)));
      } else {
        this.fail(escAt, 'an escape sequence', `invalid escape '\\${e}'`);
      }
    }
    const value = Buffer.from(bytes).toString('utf8');
    return { kind: 'string', text: s.slice(start, this.pos), value, ...at };
  }
}

// ----------------------------------------------------------------- parser

class TextParser {
  constructor(private readonly tn: Tokenizer) {}

  private fail(t: Token, expected: string, detail?: string): never {
    this.tn.fail(t, expected, detail ?? `expected ${expected}, found ${describeToken(t)}`);
  }

  private isSymbol(t: Token, s: string): boolean {
    return t.kind === 'symbol' && t.text === s;
  }

  private trySymbol(s: string): boolean {
    if (!this.isSymbol(this.tn.peek(), s)) return false;
    this.tn.next();
    return true;
  }

  private expectSymbol(s: string, expected = `'${s}'`): Token {
    const t = this.tn.next();
    if (!this.isSymbol(t, s)) this.fail(t, expected);
    return t;
  }

  /** Fields up to `end` ('}' / '>') or end of input (end === null). */
  parseMessage(type: protobuf.Type, end: string | null): Plain {
    const out: Plain = {};
    const seen = new Map<string, Token>();
    const oneofSeen = new Map<string, string>();
    for (;;) {
      const t = this.tn.peek();
      if (end === null ? t.kind === 'eof' : this.isSymbol(t, end)) {
        this.tn.next();
        return out;
      }
        const expected = end === null ? 'a field name or end of input' : `a field name or '${end}'`;
      if (t.kind !== 'ident') this.fail(t, expected);
      this.tn.next();
      const field = type.fields[t.text];
      if (!field) {
        this.fail(t, `a field of ${type.fullName.slice(1)}`, `unknown field '${t.text}' in message ${type.fullName.slice(1)}`);
      }
      field.resolve();
      if (!field.repeated && !field.map) {
        if (seen.has(field.name)) {
          const first = seen.get(field.name)!;
          this.fail(t, `a field other than '${field.name}'`, `field '${field.name}' is given more than once (first at line ${first.line})`);
        }
        seen.set(field.name, t);
        if (field.partOf) {
          const other = oneofSeen.get(field.partOf.name);
          if (other !== undefined) {
            this.fail(t, `no second field of oneof '${field.partOf.name}'`, `field '${field.name}' and field '${other}' are both set, but only one field of oneof '${field.partOf.name}' may be`);
          }
          oneofSeen.set(field.partOf.name, field.name);
        }
      }
      this.parseFieldValue(field, out);
      if (!this.trySymbol(',')) this.trySymbol(';');
    }
  }

  private parseFieldValue(field: protobuf.Field, out: Plain): void {
    const isMessage = field.map || valueKind(field) === 'message';
    const colon = this.trySymbol(':');
    const t = this.tn.peek();
    if (!isMessage && !colon) this.fail(t, `':' after '${field.name}'`);
    if (this.isSymbol(t, '[') && (field.repeated || field.map)) {
      this.tn.next();
      if (this.trySymbol(']')) return;
      for (;;) {
        this.parseOneValue(field, out);
        const sep = this.tn.next();
        if (this.isSymbol(sep, ']')) return;
        if (!this.isSymbol(sep, ',')) this.fail(sep, "',' or ']'");
      }
    }
    this.parseOneValue(field, out);
  }

  private parseOneValue(field: protobuf.Field, out: Plain): void {
    if (field.map) {
      const [k, v] = this.parseMapEntry(field);
      const map = (out[field.name] ??= {}) as Plain;
      map[k] = v;
      return;
    }
    const v = valueKind(field) === 'message'
      ? this.parseSubMessage(field.resolvedType as protobuf.Type)
      : this.parseScalar(field, field.type);
    if (field.repeated) ((out[field.name] ??= []) as unknown[]).push(v);
    else out[field.name] = v;
  }

  private parseSubMessage(type: protobuf.Type): Plain {
    const t = this.tn.next();
    if (this.isSymbol(t, '{')) return this.parseMessage(type, '}');
    if (this.isSymbol(t, '<')) return this.parseMessage(type, '>');
    this.fail(t, `'{' to open a ${type.fullName.slice(1)} message`);
  }

  /** A map entry is a message { key: K value: V }; either part may be left out (default). */
  private parseMapEntry(field: protobuf.Field): [string, unknown] {
    const open = this.tn.next();
    const end = this.isSymbol(open, '{') ? '}' : this.isSymbol(open, '<') ? '>' : null;
    if (end === null) this.fail(open, `'{' to open a '${field.name}' entry`);
    const valueIsMessage = valueKind(field) === 'message';
    let key: unknown;
    let value: unknown;
    for (;;) {
      const t = this.tn.next();
      if (this.isSymbol(t, end)) break;
      if (t.kind !== 'ident' || (t.text !== 'key' && t.text !== 'value')) {
        this.fail(t, `'key', 'value' or '${end}'`);
      }
      if ((t.text === 'key' ? key : value) !== undefined) {
        this.fail(t, `'key', 'value' or '${end}'`, `'${t.text}' is given more than once in this '${field.name}' entry`);
      }
      if (t.text === 'key') {
        this.expectSymbol(':', "':' after 'key'");
        key = this.parseScalar(field, keyTypeOf(field));
      } else if (valueIsMessage) {
        this.trySymbol(':');
        value = this.parseSubMessage(field.resolvedType as protobuf.Type);
      } else {
        this.expectSymbol(':', "':' after 'value'");
        value = this.parseScalar(field, field.type);
      }
      if (!this.trySymbol(',')) this.trySymbol(';');
    }
    key ??= defaultScalar(keyTypeOf(field));
    value ??= valueIsMessage ? {} : valueKind(field) === 'enum' ? enumNameOf(field, 0) : defaultScalar(field.type);
    return [String(key), value];
  }

  /** One scalar of `scalarType` (for maps: the key type) or, for enum fields, an enum value. */
  private parseScalar(field: protobuf.Field, scalarType: string): unknown {
    const isKey = scalarType !== field.type;
    const enumType = !isKey && field.resolvedType instanceof protobuf.Enum ? field.resolvedType : null;
    const first = this.tn.peek();
    if (scalarType === 'string' || scalarType === 'bytes') {
      if (first.kind !== 'string') this.fail(first, `a quoted string for '${field.name}'`);
      let v = '';
      while (this.tn.peek().kind === 'string') v += this.tn.next().value!; // "a" "b" concatenates
      return v;
    }
    const negative = this.trySymbol('-');
    const t = this.tn.next();
    if (enumType) {
      if (t.kind === 'ident' && !negative) {
        if (!(t.text in enumType.values)) {
          this.fail(t, `a value of enum ${enumType.fullName.slice(1)}`,
            `unknown value '${t.text}' for enum ${enumType.fullName.slice(1)} (field '${field.name}'); known: ${Object.keys(enumType.values).join(', ')}`);
        }
        return t.text;
      }
      // proto3 enums are open: a number is fine, and is shown by name when known.
      if (t.kind === 'number') {
        const n = this.integer(t, negative, 'int32', field);
        return enumType.valuesById[n as number] ?? n;
      }
      this.fail(t, `a value of enum ${enumType.fullName.slice(1)} for '${field.name}'`);
    }
    if (scalarType === 'bool') {
      if (!negative && t.kind === 'ident') {
        if (['true', 'True', 't'].includes(t.text)) return true;
        if (['false', 'False', 'f'].includes(t.text)) return false;
      }
      if (!negative && t.kind === 'number' && (t.text === '0' || t.text === '1')) return t.text === '1';
      this.fail(t, `true or false for '${field.name}'`);
    }
    if (scalarType === 'float' || scalarType === 'double') {
      let v: number;
      if (t.kind === 'ident' && /^(inf|infinity|nan)$/i.test(t.text)) {
        v = /^nan$/i.test(t.text) ? NaN : Infinity;
      } else if (t.kind === 'number') {
        v = /^0[xX]/.test(t.text) || /^0[0-7]+$/.test(t.text) ? Number(this.integer(t, false, 'uint64', field)) : parseFloat(t.text.replace(/[fF]$/, ''));
      } else this.fail(t, `a number for '${field.name}'`);
      if (negative) v = -v;
      return scalarType === 'float' ? Math.fround(v) : v;
    }
    if (t.kind !== 'number') this.fail(t, `an integer for '${field.name}'`);
    return this.integer(t, negative, scalarType, field);
  }

  private integer(t: Token, negative: boolean, scalarType: string, field: protobuf.Field): number | string {
    const range = INT_RANGES[scalarType];
    if (!range) this.fail(t, 'a supported field type', `field '${field.name}' has unsupported type ${scalarType}`);
    const txt = t.text;
    let v: bigint;
    if (/^0[xX][0-9A-Fa-f]+$/.test(txt)) v = BigInt(txt);
    else if (/^0[0-7]+$/.test(txt)) v = BigInt('0o' + txt.slice(1));
    else if (/^[0-9]+$/.test(txt)) v = BigInt(txt);
    else this.fail(t, `an integer for '${field.name}'`);
    if (negative) v = -v;
    if (v < range.min || v > range.max) {
      this.fail(t, `an integer in ${range.min}..${range.max}`, `value ${v} is out of range for ${scalarType} field '${field.name}'`);
    }
    return intValue(v);
  }
}

function keyTypeOf(field: protobuf.Field): string {
  return (field as unknown as protobuf.MapField).keyType;
}

function defaultScalar(type: string): unknown {
  if (type === 'string' || type === 'bytes') return '';
  if (type === 'bool') return false;
  return 0;
}

function enumNameOf(field: protobuf.Field, n: number): string | number {
  return (field.resolvedType as protobuf.Enum).valuesById[n] ?? n;
}

/** Parses config.pbtxt text; `file` names the source in errors (default "config.pbtxt"). */
export function parseModelConfig(text: string, file = 'config.pbtxt'): ModelConfig {
  const type = modelConfigType();
  const src = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text; // editors' BOM
  const plain = new TextParser(new Tokenizer(src, file)).parseMessage(type, null);
  return canonical(type, plain, file) as ModelConfig;
}

// -------------------------------------------------- canonical plain data

/**
 * Checks a plain object against the message type and returns its canonical form
 * (see the header). Throws ConfigValueError naming the field path.
 */
function canonical(type: protobuf.Type, obj: unknown, source: string, path = type.name): Plain {
  const bad = (where: string, detail: string): never => {
    throw new ConfigValueError(source, where, detail);
  };
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) bad(path, `expected an object (message ${type.name})`);
  const src = obj as Plain;
  for (const k of Object.keys(src)) {
    if (!type.fields[k] && src[k] !== undefined) bad(`${path}.${k}`, `unknown field of message ${type.fullName.slice(1)}`);
  }
  const out: Plain = {};
  const oneofs = new Map<string, string>();
  for (const field of fieldsByNumber(type)) {
    const v = src[field.name];
    if (v === undefined || v === null) continue;
    const where = `${path}.${field.name}`;
    if (field.partOf) {
      const other = oneofs.get(field.partOf.name);
      if (other) bad(where, `only one field of oneof '${field.partOf.name}' may be set, but '${other}' is too`);
      oneofs.set(field.partOf.name, field.name);
    }
    if (field.map) {
      if (typeof v !== 'object' || Array.isArray(v)) bad(where, 'expected an object (map)');
      const m: Plain = {};
      for (const [k, x] of Object.entries(v as Plain)) {
        const key = canonicalKey(keyTypeOf(field), k, `${where}[${JSON.stringify(k)}]`, bad);
        m[key] = canonicalValue(field, x, source, `${where}[${JSON.stringify(k)}]`, bad);
      }
      if (Object.keys(m).length) out[field.name] = m;
    } else if (field.repeated) {
      if (!Array.isArray(v)) bad(where, 'expected an array (repeated field)');
      const arr = (v as unknown[]).map((x, i) => canonicalValue(field, x, source, `${where}[${i}]`, bad));
      if (arr.length) out[field.name] = arr;
    } else {
      const x = canonicalValue(field, v, source, where, bad);
      // proto3: a singular scalar equal to its default is "not set" (oneof members keep presence).
      if (!field.partOf && isDefaultScalar(field, x)) continue;
      out[field.name] = x;
    }
  }
  return out;
}

function isDefaultScalar(field: protobuf.Field, v: unknown): boolean {
  const kind = valueKind(field);
  if (kind === 'message') return false;
  if (kind === 'enum') return v === 0 || v === enumNameOf(field, 0);
  return v === 0 || v === '' || v === false;
}

function canonicalKey(keyType: string, k: string, where: string, bad: (w: string, d: string) => never): string {
  if (keyType === 'string') return k;
  if (keyType === 'bool') {
    if (k !== 'true' && k !== 'false') bad(where, 'map key must be true or false');
    return k;
  }
  const range = INT_RANGES[keyType]!;
  if (!/^-?[0-9]+$/.test(k)) bad(where, `map key must be an integer (${keyType})`);
  const v = BigInt(k);
  if (v < range.min || v > range.max) bad(where, `map key out of range for ${keyType}`);
  return v.toString();
}

function canonicalValue(field: protobuf.Field, v: unknown, source: string, where: string, bad: (w: string, d: string) => never): unknown {
  const kind = valueKind(field);
  if (kind === 'message') return canonical(field.resolvedType as protobuf.Type, v, source, where);
  if (kind === 'enum') {
    const e = field.resolvedType as protobuf.Enum;
    if (typeof v === 'string') {
      if (!(v in e.values)) bad(where, `unknown value '${v}' of enum ${e.fullName.slice(1)}`);
      return v;
    }
    if (typeof v === 'number' && Number.isInteger(v) && v >= -(2 ** 31) && v < 2 ** 31) return e.valuesById[v] ?? v;
    return bad(where, `expected a value of enum ${e.fullName.slice(1)}`);
  }
  switch (field.type) {
    case 'string':
      if (typeof v !== 'string') bad(where, 'expected a string');
      return v;
    case 'bytes':
      return bad(where, 'bytes fields are not supported');
    case 'bool':
      if (typeof v !== 'boolean') bad(where, 'expected true or false');
      return v;
    case 'float':
    case 'double':
      if (typeof v !== 'number') bad(where, 'expected a number');
      // -0 becomes 0: JSON cannot carry the sign, and Triton makes no use of it.
      if (v === 0) return 0;
      return field.type === 'float' ? Math.fround(v as number) : v;
    default: {
      const range = INT_RANGES[field.type];
      if (!range) return bad(where, `unsupported field type ${field.type}`);
      let b: bigint;
      if (typeof v === 'number' && Number.isInteger(v)) b = BigInt(v);
      else if (typeof v === 'bigint') b = v;
      else if (range.long && typeof v === 'string' && /^-?[0-9]+$/.test(v)) b = BigInt(v);
      else if (range.long && typeof v === 'object' && v !== null && 'low' in v && 'high' in v) b = BigInt(String(v));
      else return bad(where, `expected an integer (${field.type})`);
      if (b < range.min || b > range.max) bad(where, `value ${b} is out of range for ${field.type}`);
      return intValue(b);
    }
  }
}

/** Canonical plain data for a config built or edited in code; throws ConfigValueError if it does not fit. */
export function normalizeModelConfig(cfg: ModelConfig, source = 'model config'): ModelConfig {
  return canonical(modelConfigType(), cfg, source) as ModelConfig;
}

function toMessage(cfg: ModelConfig, source: string): protobuf.Message {
  const type = modelConfigType();
  return type.fromObject(canonical(type, cfg, source));
}

function fromMessage(msg: protobuf.Message, source: string): ModelConfig {
  const type = modelConfigType();
  const obj = type.toObject(msg, { enums: String, longs: String, defaults: false, arrays: false, objects: false, oneofs: false });
  return canonical(type, obj, source) as ModelConfig;
}

// ------------------------------------------------------------- encodings

/** Canonical text format: fields in number order, 2-space indent, trailing newline. */
export function printModelConfig(cfg: ModelConfig): string {
  const text = textformat.toText(modelConfigType(), toMessage(cfg, 'printModelConfig'));
  return text.endsWith('\n') || text === '' ? text : text + '\n';
}

/**
 * Protobuf JSON for Triton's RepositoryModelLoad `config` parameter. Keys are the
 * proto field names (JsonStringToMessage accepts them as well as lowerCamel);
 * 64-bit integers are JSON numbers while exact (also accepted), strings beyond.
 */
export function modelConfigToJson(cfg: ModelConfig): string {
  const type = modelConfigType();
  return JSON.stringify(jsonOf(type, canonical(type, cfg, 'modelConfigToJson')));
}

function jsonOf(type: protobuf.Type, obj: Plain): Plain {
  const out: Plain = {};
  for (const field of fieldsByNumber(type)) {
    const v = obj[field.name];
    if (v === undefined) continue;
    const one = (x: unknown): unknown => {
      if (valueKind(field) === 'message') return jsonOf(field.resolvedType as protobuf.Type, x as Plain);
      if (typeof x === 'number' && !Number.isFinite(x)) return Number.isNaN(x) ? 'NaN' : x > 0 ? 'Infinity' : '-Infinity';
      return x;
    };
    if (field.map) out[field.name] = Object.fromEntries(Object.entries(v as Plain).map(([k, x]) => [k, one(x)]));
    else if (field.repeated) out[field.name] = (v as unknown[]).map(one);
    else out[field.name] = one(v);
  }
  return out;
}

/** Inverse of modelConfigToJson; accepts any valid protobuf JSON of ModelConfig (either field-name style). */
export function modelConfigFromJson(json: string, source = 'model config JSON'): ModelConfig {
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (e) {
    throw new ConfigValueError(source, 'ModelConfig', `not valid JSON: ${(e as Error).message}`);
  }
  let msg: protobuf.Message;
  try {
    msg = protojson.fromJson(modelConfigType(), value);
  } catch (e) {
    // protojson says e.g. ".inference.ModelInput: unknown field: \"data_tpe\"".
    const m = /^\.?([\w.]+?)(?:: | )(.*)$/s.exec((e as Error).message);
    throw new ConfigValueError(source, m ? m[1]!.replace(/^inference\./, '') : 'ModelConfig', m ? m[2]! : (e as Error).message);
  }
  return fromMessage(msg, source);
}

export function encodeModelConfig(cfg: ModelConfig): Uint8Array {
  return modelConfigType().encode(toMessage(cfg, 'encodeModelConfig')).finish();
}

export function decodeModelConfig(bytes: Uint8Array): ModelConfig {
  return fromMessage(modelConfigType().decode(bytes), 'binary ModelConfig');
}
