/**
 * A tiny description language for C structs shared between TypeScript and BPF C, with the
 * C layout rules (natural alignment, tail padding) computed here once. From one
 * `StructDef` we get the C declaration (./c-header.ts) and byte-exact marshalling
 * (`encodeStruct` / `decodeStruct`), so the two sides cannot drift apart: the generated
 * header also carries `_Static_assert`s on every offset, checked by clang.
 */

/**
 * Field types. `u*` are host byte order (little-endian on every BPF target rejectc runs on:
 * x86_64/arm64); `be*` are network byte order; `ipv4` is a be32 address written as text
 * ("192.0.2.1"); `ipv6` is 16 bytes written as text ("2001:db8::1"); `bytes` is raw.
 */
export type FieldType = 'u8' | 'u16' | 'u32' | 'u64' | 'be16' | 'be32' | 'ipv4' | 'ipv6';

export interface FieldDef {
  name: string;
  type: FieldType;
  /** Array length (C `type name[count]`); only for u8/u16/u32/u64. */
  count?: number;
  /** What the field means, its unit and byte order; copied into the C header. */
  doc: string;
}

export interface StructDef {
  /** C struct tag, without `struct`. */
  name: string;
  doc: string;
  fields: readonly FieldDef[];
}

export interface FieldLayout extends FieldDef {
  offset: number;
  /** Size of one element. */
  size: number;
}

export interface StructLayout {
  def: StructDef;
  fields: FieldLayout[];
  size: number;
  align: number;
}

const SIZES: Record<FieldType, { size: number; align: number; c: string }> = {
  u8: { size: 1, align: 1, c: '__u8' },
  u16: { size: 2, align: 2, c: '__u16' },
  u32: { size: 4, align: 4, c: '__u32' },
  u64: { size: 8, align: 8, c: '__u64' },
  be16: { size: 2, align: 2, c: '__be16' },
  be32: { size: 4, align: 4, c: '__be32' },
  ipv4: { size: 4, align: 4, c: '__be32' },
  ipv6: { size: 16, align: 4, c: '__u8' },
};

/** The C element type of a field (`ipv6` is declared `__u8 name[16]`). */
export function cTypeOf(type: FieldType): string {
  return SIZES[type].c;
}

/** Lay out a struct with C's rules. Result offsets and size equal clang's for BPF. */
export function layoutStruct(def: StructDef): StructLayout {
  let offset = 0;
  let align = 1;
  const fields: FieldLayout[] = [];
  for (const f of def.fields) {
    const { size, align: a } = SIZES[f.type];
    if (f.count !== undefined && !['u8', 'u16', 'u32', 'u64'].includes(f.type)) {
      throw new Error(`${def.name}.${f.name}: arrays only of u8/u16/u32/u64`);
    }
    offset = Math.ceil(offset / a) * a;
    fields.push({ ...f, offset, size });
    offset += size * (f.count ?? 1);
    align = Math.max(align, a);
  }
  return { def, fields, size: Math.ceil(offset / align) * align, align };
}

/** A JS value for a field: numbers (bigint for u64), address text, or number arrays. */
export type FieldValue = number | bigint | string | number[];

/**
 * Encode `values` into a new buffer laid out as `layout`. Missing fields are zero.
 * Throws on unknown field names and out-of-range numbers (a programming error).
 */
export function encodeStruct(layout: StructLayout, values: Readonly<Record<string, FieldValue>>): Buffer {
  const buf = Buffer.alloc(layout.size);
  for (const key of Object.keys(values)) {
    if (!layout.fields.some((f) => f.name === key)) throw new Error(`${layout.def.name} has no field "${key}"`);
  }
  for (const f of layout.fields) {
    const v = values[f.name];
    if (v === undefined) continue;
    if (f.count !== undefined) {
      if (!Array.isArray(v) || v.length > f.count) throw new Error(`${layout.def.name}.${f.name}: expected up to ${f.count} numbers`);
      v.forEach((x, i) => writeScalar(buf, f.type, f.offset + i * f.size, x, `${layout.def.name}.${f.name}`));
    } else {
      writeScalar(buf, f.type, f.offset, v, `${layout.def.name}.${f.name}`);
    }
  }
  return buf;
}

/** Decode a buffer laid out as `layout` (the inverse of `encodeStruct`). */
export function decodeStruct(layout: StructLayout, buf: Uint8Array): Record<string, FieldValue> {
  if (buf.length < layout.size) throw new Error(`${layout.def.name}: need ${layout.size} bytes, got ${buf.length}`);
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.length);
  const out: Record<string, FieldValue> = {};
  for (const f of layout.fields) {
    if (f.count !== undefined) {
      out[f.name] = Array.from({ length: f.count }, (_, i) => Number(readScalar(b, f.type, f.offset + i * f.size)));
    } else {
      out[f.name] = readScalar(b, f.type, f.offset);
    }
  }
  return out;
}

function writeScalar(buf: Buffer, type: FieldType, off: number, v: FieldValue, what: string): void {
  switch (type) {
    case 'ipv4':
      if (typeof v !== 'string') throw new Error(`${what}: expected an IPv4 address string`);
      parseIpv4(v).copy(buf, off);
      return;
    case 'ipv6':
      if (typeof v !== 'string') throw new Error(`${what}: expected an IPv6 address string`);
      parseIpv6(v).copy(buf, off);
      return;
    case 'u64':
      buf.writeBigUInt64LE(BigInt(v as number | bigint), off);
      return;
    default: {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new Error(`${what}: expected a non-negative integer`);
      const size = SIZES[type].size;
      if (v >= 2 ** (8 * size)) throw new Error(`${what}: ${v} does not fit in ${size} bytes`);
      if (type === 'be16' || type === 'be32') buf.writeUIntBE(v, off, size);
      else buf.writeUIntLE(v, off, size);
    }
  }
}

function readScalar(buf: Buffer, type: FieldType, off: number): number | bigint | string {
  switch (type) {
    case 'ipv4':
      return Array.from(buf.subarray(off, off + 4)).join('.');
    case 'ipv6':
      return formatIpv6(buf.subarray(off, off + 16));
    case 'u64':
      return buf.readBigUInt64LE(off);
    case 'be16':
    case 'be32':
      return buf.readUIntBE(off, SIZES[type].size);
    default:
      return buf.readUIntLE(off, SIZES[type].size);
  }
}

/** "192.0.2.1" → 4 bytes (network order). Throws on malformed text. */
export function parseIpv4(text: string): Buffer {
  const parts = text.split('.');
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) throw new Error(`bad IPv4 address "${text}"`);
  return Buffer.from(parts.map(Number));
}

/** "2001:db8::1" (also with an embedded IPv4 tail) → 16 bytes. Throws on malformed text. */
export function parseIpv6(text: string): Buffer {
  let t = text;
  const lastColon = t.lastIndexOf(':');
  if (t.includes('.') && lastColon >= 0) {
    const b = parseIpv4(t.slice(lastColon + 1));
    t = `${t.slice(0, lastColon + 1)}${((b[0]! << 8) | b[1]!).toString(16)}:${((b[2]! << 8) | b[3]!).toString(16)}`;
  }
  const halves = t.split('::');
  if (halves.length > 2) throw new Error(`bad IPv6 address "${text}"`);
  const parse = (s: string): number[] =>
    s === ''
      ? []
      : s.split(':').map((g) => {
          if (!/^[0-9a-fA-F]{1,4}$/.test(g)) throw new Error(`bad IPv6 address "${text}"`);
          return parseInt(g, 16);
        });
  const head = parse(halves[0]!);
  const rest = halves.length === 2 ? parse(halves[1]!) : [];
  const given = head.length + rest.length;
  if (halves.length === 1 ? given !== 8 : given > 7) throw new Error(`bad IPv6 address "${text}"`);
  const groups = [...head, ...Array<number>(8 - given).fill(0), ...rest];
  const buf = Buffer.alloc(16);
  groups.forEach((g, i) => buf.writeUInt16BE(g, i * 2));
  return buf;
}

/** 16 bytes → RFC 5952 text (longest run of zero groups, length ≥ 2, becomes "::"). */
export function formatIpv6(bytes: Uint8Array): string {
  const groups = Array.from({ length: 8 }, (_, i) => (bytes[2 * i]! << 8) | bytes[2 * i + 1]!);
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}
