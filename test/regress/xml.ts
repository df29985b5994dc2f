// A tiny, strict XML reader for tests: enough of XML 1.0 to check that the JUnit files are
// well-formed (one root, balanced tags, quoted attributes, known entities only, no raw < or &)
// and to read them back. Throws on the first problem, with its offset.

export interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  text: string;
}

const NAME = /^[A-Za-z_:][A-Za-z0-9_.:-]*/;

function decode(s: string, at: number): string {
  return s.replace(/&([^;]*);?/g, (m, body: string, off: number) => {
    if (!m.endsWith(';')) throw new Error(`unterminated entity at ${at + off}`);
    if (body === 'amp') return '&';
    if (body === 'lt') return '<';
    if (body === 'gt') return '>';
    if (body === 'quot') return '"';
    if (body === 'apos') return "'";
    const n = /^#x([0-9a-fA-F]+)$/.exec(body) ? parseInt(body.slice(2), 16) : /^#(\d+)$/.test(body) ? Number(body.slice(1)) : NaN;
    if (!Number.isFinite(n)) throw new Error(`unknown entity &${body}; at ${at + off}`);
    if (n < 0x20 && n !== 0x9 && n !== 0xa && n !== 0xd) throw new Error(`character reference &${body}; is not allowed in XML 1.0`);
    return String.fromCodePoint(n);
  });
}

export function parseXml(xml: string): XmlElement {
  let i = 0;
  const fail = (msg: string): never => {
    throw new Error(`${msg} at offset ${i}: ${JSON.stringify(xml.slice(i, i + 40))}`);
  };
  if (/[\u0000-\u0008\u000B\u000C\u000E-\u001F]/.test(xml)) fail('a character XML 1.0 does not allow');
  const skipWs = () => {
    while (i < xml.length && /\s/.test(xml[i] as string)) i++;
  };
  if (xml.startsWith('<?xml')) {
    const end = xml.indexOf('?>');
    if (end < 0) fail('unterminated XML declaration');
    i = end + 2;
  }
  skipWs();
  const element = (): XmlElement => {
    if (xml[i] !== '<') fail('expected <');
    i++;
    const name = NAME.exec(xml.slice(i))?.[0] ?? fail('expected an element name');
    i += name.length;
    const attrs: Record<string, string> = {};
    for (;;) {
      const before = i;
      skipWs();
      if (xml.startsWith('/>', i)) {
        i += 2;
        return { name, attrs, children: [], text: '' };
      }
      if (xml[i] === '>') {
        i++;
        break;
      }
      if (i === before) fail('expected whitespace before an attribute');
      const an = NAME.exec(xml.slice(i))?.[0] ?? fail('expected an attribute name');
      i += an.length;
      if (xml[i] !== '=') fail('expected =');
      i++;
      const q = xml[i];
      if (q !== '"' && q !== "'") fail('attribute value not quoted');
      const end = xml.indexOf(q as string, i + 1);
      if (end < 0) fail('unterminated attribute value');
      const raw = xml.slice(i + 1, end);
      if (raw.includes('<')) fail('< in an attribute value');
      if (an in attrs) fail(`duplicate attribute ${an}`);
      attrs[an] = decode(raw, i);
      i = end + 1;
    }
    const children: XmlElement[] = [];
    let text = '';
    for (;;) {
      if (i >= xml.length) fail(`unclosed <${name}>`);
      if (xml.startsWith('</', i)) {
        i += 2;
        const close = NAME.exec(xml.slice(i))?.[0];
        if (close !== name) fail(`</${close}> closes <${name}>`);
        i += name.length;
        skipWs();
        if (xml[i] !== '>') fail('expected >');
        i++;
        return { name, attrs, children, text };
      }
      if (xml.startsWith('<!--', i)) {
        const end = xml.indexOf('-->', i);
        if (end < 0) fail('unterminated comment');
        i = end + 3;
        continue;
      }
      if (xml[i] === '<') {
        children.push(element());
        continue;
      }
      const next = xml.indexOf('<', i);
      const raw = xml.slice(i, next < 0 ? xml.length : next);
      if (raw.includes(']]>')) fail(']]> in text');
      text += decode(raw, i);
      i += raw.length;
    }
  };
  const root = element();
  skipWs();
  if (i !== xml.length) fail('content after the root element');
  return root;
}

export function findAll(e: XmlElement, name: string): XmlElement[] {
  return [...(e.name === name ? [e] : []), ...e.children.flatMap((c) => findAll(c, name))];
}
