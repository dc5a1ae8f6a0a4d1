/**
 * The entries of the ruleset maps for generation 0, encoded as the program reads them
 * (little-endian host integers, network-order addresses). The runtime writes them into
 * generation g with {@link forGeneration}.
 */
import { RECENT_CHECK_KIND, SET_CHECK_KIND } from '../classify/stateful.js';
import { RATE_CHECK_KIND } from '../classify/rate-limits.js';
import { rejectCode } from '../../layout/codes.js';
import type { StructLayout } from '../../layout/struct.js';
import { FILTER_HOOKS } from '../ir.js';
import type { Classified } from '../classify/index.js';
import { L2_BLOCK, L2_CLS, L2_HI, L2_LO } from '../classify/index-build.js';
import { BLOCK } from '../classify/slots.js';
import { fieldOrder, unreadValue } from '../classify/fields.js';
import { ACTION, POLICY, type Generation, type MapSpec } from './map-specs.js';

/** Encoded entries: `count` keys and values, each concatenated. */
export interface EncodedEntries {
  count: number;
  keys: Buffer;
  values: Buffer;
}

class Writer {
  readonly keys: Buffer;
  readonly values: Buffer;
  /** Views of {@link keys} and {@link values}: DataView's setters cost less than Buffer's write methods per call. */
  readonly kd: DataView;
  readonly vd: DataView;
  private n = 0;

  constructor(
    private readonly spec: MapSpec,
    readonly count: number,
  ) {
    this.keys = Buffer.alloc(count * spec.key.size);
    this.values = Buffer.alloc(count * spec.value.size);
    this.kd = new DataView(this.keys.buffer, this.keys.byteOffset, this.keys.byteLength);
    this.vd = new DataView(this.values.buffer, this.values.byteOffset, this.values.byteLength);
  }

  /** Offsets of the next entry's key and value; advances. */
  next(): { k: number; v: number } {
    const at = { k: this.n * this.spec.key.size, v: this.n * this.spec.value.size };
    this.n++;
    return at;
  }

  done(): EncodedEntries {
    if (this.n !== this.count) throw new Error(`${this.spec.name}: wrote ${this.n} of ${this.count} entries`);
    return { count: this.count, keys: this.keys, values: this.values };
  }
}

/** Field offsets of each layout by name, looked up once per layout (entries ask per slot). */
const offsets = new WeakMap<StructLayout, Map<string, number>>();

function off(layout: StructLayout, field: string): number {
  let byName = offsets.get(layout);
  if (!byName) offsets.set(layout, (byName = new Map(layout.fields.map((x) => [x.name, x.offset]))));
  const at = byName.get(field);
  if (at === undefined) throw new Error(`${layout.def.name} has no field ${field}`);
  return at;
}

const LIST_OF = (family: string, chain: string): number => (family === 'ipv4' ? 0 : 3) + FILTER_HOOKS.indexOf(chain as never);

/** Index of the policy counter of a list in rjc_cnt. */
export function policyCounterId(c: Classified, list: number): number {
  return c.counters.length + list;
}

/** rjc_check.kind of a post-check. */
function checkKind(ch: Classified['checks'][number]): number {
  switch (ch.kind) {
    case 'ct':
    case 'owner':
      return ch.code;
    case 'set':
      return SET_CHECK_KIND;
    case 'recent':
      return RECENT_CHECK_KIND;
    case 'rate':
      return RATE_CHECK_KIND[ch.module];
    default:
      return 1;
  }
}

/** The entries of every `ruleset` map of the shape, for generation 0. */
export function encodeEntries(c: Classified, specs: readonly MapSpec[]): Map<string, EncodedEntries> {
  const out = new Map<string, EncodedEntries>();
  const byField = new Map(c.index.fields.map((f) => [f.field.id, f]));
  for (const spec of specs) {
    if (spec.role !== 'ruleset' && spec.role !== 'control') continue;
    out.set(spec.name, encodeMap(c, spec, byField));
  }
  return out;
}

function encodeMap(c: Classified, spec: MapSpec, byField: Map<string, Classified['index']['fields'][number]>): EncodedEntries {
  const { key, value } = spec;
  const words = c.shape.words;
  if (spec.name === 'rjc_gen') {
    // Generation 0 is active at first; the key is 0 and the value all zero.
    const w = new Writer(spec, 1);
    w.next();
    return w.done();
  }
  if (spec.name === 'rjc_ruleset') {
    const w = new Writer(spec, 1);
    const { v } = w.next();
    for (const chain of c.chains) {
      const i = LIST_OF(chain.family, chain.chain);
      const list = c.lists.find((l) => l.flat === chain);
      const first = list ? list.firstSlot : 0;
      const end = list ? list.flatFirstSlot[list.flatFirstSlot.length - 1]! : 0;
      w.vd.setUint32(v + off(value, 'first') + 4 * i, first, true);
      w.vd.setUint32(v + off(value, 'end') + 4 * i, end, true);
      w.vd.setUint32(v + off(value, 'policy_counter') + 4 * i, policyCounterId(c, i), true);
      w.vd.setUint8(v + off(value, 'policy') + i, POLICY[chain.policy]);
      w.vd.setUint8(v + off(value, 'present') + i, 1);
    }
    for (let i = 0; i < 6; i++) {
      // Lists of absent chains still count their policy (ACCEPT) if the family is present.
      w.vd.setUint32(v + off(value, 'policy_counter') + 4 * i, policyCounterId(c, i), true);
    }
    w.vd.setUint8(v + off(value, 'ready'), 1);
    for (const f of c.index.fields) w.vd.setUint8(v + off(value, 'l1_shift') + fieldOrder(f.field.id), f.l1Shift);
    for (const f of c.index.fields) {
      const unread = unreadValue(f.field);
      if (unread === undefined || f.space.kind !== 'interval') continue;
      // UNREAD is the last region of the field's space.
      w.vd.setUint32(v + off(value, 'unread') + 4 * fieldOrder(f.field.id), f.regionClass[f.space.starts.length - 1]!, true);
    }
    const mac = byField.get('mac');
    if (mac && mac.space.kind === 'interval') {
      // Every value outside the rules' MACs falls in a region wider than one value; they
      // all share one class (no rule names them).
      const starts = mac.space.starts;
      const wide = starts.findIndex((s, r) => (starts[r + 1] ?? 2 ** 48) - s > 1);
      w.vd.setUint32(v + off(value, 'mac_default'), mac.regionClass[Math.max(0, wide)]!, true);
    }
    return w.done();
  }
  if (spec.name === 'rjc_act') {
    const w = new Writer(spec, c.slots.length);
    // One entry per slot: the field offsets once.
    const at = {
      kind: off(value, 'kind'),
      reject: off(value, 'reject'),
      nchecks: off(value, 'nchecks'),
      hotdrop: off(value, 'hotdrop'),
      next: off(value, 'next'),
      counter: off(value, 'counter'),
      check: off(value, 'check'),
      fail: off(value, 'fail'),
    };
    c.slots.forEach((s, i) => {
      const { k, v } = w.next();
      w.kd.setUint32(k, i, true);
      const a = s.action;
      const kind = ACTION[a.kind === 'next' ? 'next' : a.kind];
      w.vd.setUint8(v + at.kind, kind);
      if (a.kind === 'reject') w.vd.setUint8(v + at.reject, rejectCode(a.with));
      w.vd.setUint8(v + at.nchecks, s.checks.length);
      w.vd.setUint8(v + at.hotdrop, s.hotdrop);
      if (a.kind === 'next') w.vd.setUint32(v + at.next, a.to, true);
      w.vd.setUint32(v + at.counter, s.counter ?? 0xffffffff, true);
      w.vd.setUint32(v + at.check, c.checkFirst[i]!, true);
      w.vd.setUint32(v + at.fail, s.fail, true);
    });
    return w.done();
  }
  if (spec.name === 'rjc_chk') {
    const w = new Writer(spec, c.checks.length);
    c.checks.forEach((ch, i) => {
      const { k, v } = w.next();
      w.kd.setUint32(k, i, true);
      w.vd.setUint32(v + off(value, 'value'), ch.value >>> 0, true);
      w.vd.setUint32(v + off(value, 'mask'), ch.mask >>> 0, true);
      w.vd.setUint8(v + off(value, 'kind'), checkKind(ch));
      w.vd.setUint8(v + off(value, 'negated'), ch.negated ? 1 : 0);
      if (ch.kind === 'owner') {
        // pad[0]: the XT_OWNER_* bits the match tests; pad[1]: those it inverts (bpf/rjc_owner.h).
        w.vd.setUint8(v + off(value, 'pad'), ch.match);
        w.vd.setUint8(v + off(value, 'pad') + 1, ch.invert);
      }
      if (ch.kind === 'recent') {
        // pad[0]: command and flags; pad[1]: --hitcount (bpf/rjc_recent.h).
        w.vd.setUint8(v + off(value, 'pad'), ch.flags);
        w.vd.setUint8(v + off(value, 'pad') + 1, ch.hitcount);
      }
      if (ch.kind === 'set') {
        // pad[0]: the directions that are src; pad[1]: their number | 0x80 for --return-nomatch (bpf/rjc_set.h).
        w.vd.setUint8(v + off(value, 'pad'), ch.srcBits);
        w.vd.setUint8(v + off(value, 'pad') + 1, ch.dirs | (ch.returnNomatch ? 0x80 : 0));
      }
      if (ch.kind === 'rate') {
        // value: the rate index; pad[0]: the rule's hashlimit mode bits (bpf/rjc_limit.h).
        w.vd.setUint8(v + off(value, 'pad'), ch.ruleMode);
      }
      if (ch.kind === 'ct') {
        // pad[0]: the tuple field; pad[1]: the result without a connection (bpf/rjc_ct.h).
        w.vd.setUint8(v + off(value, 'pad'), ch.arg);
        w.vd.setUint8(v + off(value, 'pad') + 1, ch.noConn ? 1 : 0);
      }
    });
    return w.done();
  }
  if (spec.name === 'rjc_rl_slot') {
    // Identity: object i in state slot i (what `rejectc run` uses; apply writes its own slots).
    const w = new Writer(spec, c.rates.objects.length);
    c.rates.objects.forEach((_, i) => {
      const { k, v } = w.next();
      w.kd.setUint32(k, i, true);
      w.vd.setUint32(v, i, true);
    });
    return w.done();
  }
  if (spec.name === 'rjc_blk') {
    const blocks = c.index.blockCount;
    const w = new Writer(spec, blocks);
    for (let b = 0; b < blocks; b++) {
      const { k, v } = w.next();
      w.kd.setUint32(k, b, true);
      w.vd.setUint32(v, c.index.live[2 * b]!, true);
      w.vd.setUint32(v + 4, c.index.live[2 * b + 1]!, true);
      for (const f of c.index.fields) {
        const o = v + off(value, f.field.id);
        w.vd.setUint32(o, f.defaults[2 * b]!, true);
        w.vd.setUint32(o + 4, f.defaults[2 * b + 1]!, true);
      }
    }
    return w.done();
  }
  const shapeOf = (id: string) => c.shape.fields.find((x) => x.id === id)!;
  if (spec.name === 'rjc_l1') {
    // Value: summary, w[words], ksummary, k[words] (shape words; the index may have fewer).
    const per = (1 + words) * 8;
    const have = (1 + c.index.words) * 2;
    if (have * 4 > per) throw new Error('level-1 bitmap larger than its shape');
    // The keyless entry's plain bitmap is all ones (it only ORs its keyed bitmap in).
    const entries = c.index.fields.reduce((n, f) => n + f.l1Count, 0);
    const w = new Writer(spec, entries + 1);
    const keyedAt = off(value, 'ksummary');
    const put = (v: number, all: Uint32Array | undefined, keyed: Uint32Array, at: number): void => {
      for (let i = 0; i < have; i++) {
        w.vd.setUint32(v + 4 * i, all ? all[at + i]! : 0xffffffff, true);
        w.vd.setUint32(v + keyedAt + 4 * i, keyed[at + i]!, true);
      }
    };
    for (const f of c.index.fields) {
      const base = shapeOf(f.field.id).l1Base;
      for (let e = 0; e < f.l1Count; e++) {
        const { k, v } = w.next();
        w.kd.setUint32(k, base + e, true);
        put(v, f.level1, f.keyed, e * have);
      }
    }
    const { k, v } = w.next();
    w.kd.setUint32(k, c.shape.fields.reduce((n, f) => n + f.classes, 0), true);
    put(v, undefined, c.index.nokey, 0);
    return w.done();
  }
  if (spec.name === 'rjc_l2') {
    const w = new Writer(spec, c.index.fields.reduce((n, f) => n + f.level2Count, 0));
    for (const f of c.index.fields) {
      const code = shapeOf(f.field.id).code;
      const l2 = f.level2;
      for (let e = 0; e < f.level2Count; e++) {
        const { k, v } = w.next();
        w.kd.setUint32(k + off(key, 'field'), code, true);
        w.kd.setUint32(k + off(key, 'block'), l2[4 * e + L2_BLOCK]!, true);
        w.kd.setUint32(k + off(key, 'cls'), l2[4 * e + L2_CLS]!, true);
        w.vd.setUint32(v, l2[4 * e + L2_LO]!, true);
        w.vd.setUint32(v + 4, l2[4 * e + L2_HI]!, true);
      }
    }
    return w.done();
  }
  const fields = c.index.fields.filter((f) => shapeOf(f.field.id).s1.map === spec.name);
  if (spec.name === 'rjc_s1_a4' || spec.name === 'rjc_s1_a16') {
    const w = new Writer(spec, fields.reduce((n, f) => n + (f.space.kind === 'prefix' ? f.space.prefixes.length : 0), 0));
    for (const f of fields) {
      const space = f.space;
      if (space.kind !== 'prefix') continue;
      const bytes = space.bits / 8;
      const code = shapeOf(f.field.id).code;
      space.prefixes.forEach((p, r) => {
        const { k, v } = w.next();
        w.kd.setUint32(k, 64 + p.len, true);
        w.kd.setUint32(k + off(key, 'field'), code, true);
        if (bytes === 4) w.kd.setUint32(k + off(key, 'data'), Number(p.value)); // network order
        else Buffer.from(p.value.toString(16).padStart(bytes * 2, '0'), 'hex').copy(w.keys, k + off(key, 'data'));
        w.vd.setUint32(v, f.regionClass[r]!, true);
      });
    }
    return w.done();
  }
  if (spec.name === 'rjc_s1_mac') {
    const f = byField.get('mac')!;
    const space = f.space;
    if (space.kind !== 'interval') throw new Error('mac is an interval field');
    const singles: number[] = [];
    space.starts.forEach((s, r) => {
      if ((space.starts[r + 1] ?? space.max + 1) - s === 1) singles.push(r);
    });
    const w = new Writer(spec, singles.length);
    for (const r of singles) {
      const { k, v } = w.next();
      w.keys.writeUIntBE(space.starts[r]!, k + off(key, 'mac'), 6);
      w.vd.setUint32(v, f.regionClass[r]!, true);
    }
    return w.done();
  }
  if (spec.name === 'rjc_s1_w' || spec.name === 'rjc_s1_b') {
    const size = spec.name === 'rjc_s1_w' ? 65536 : 256;
    const w = new Writer(spec, fields.length);
    for (const f of fields) {
      const space = f.space;
      if (space.kind !== 'interval') continue;
      const s1 = shapeOf(f.field.id).s1;
      const { k, v } = w.next();
      w.kd.setUint32(k, 'index' in s1 ? s1.index : 0, true);
      space.starts.forEach((start, r) => {
        const end = Math.min(space.starts[r + 1] ?? size, size);
        const cls = f.regionClass[r]!;
        for (let x = start; x < end; x++) w.vd.setUint32(v + 4 * x, cls, true);
      });
    }
    return w.done();
  }
  throw new Error(`no entries for map ${spec.name}`);
}

/**
 * The entries for generation `gen`: array indexes offset by gen * stride, or the key's
 * generation field set. `entries` are generation 0's.
 */
export function forGeneration(entries: EncodedEntries, generation: Generation, keySize: number, gen: 0 | 1): EncodedEntries {
  if (gen === 0 || generation.kind === 'none') return entries;
  const keys = Buffer.from(entries.keys);
  for (let i = 0; i < entries.count; i++) {
    const at = i * keySize;
    if (generation.kind === 'index') keys.writeUInt32LE(keys.readUInt32LE(at) + generation.stride, at);
    else keys.writeUInt32LE(gen, at + generation.offset);
  }
  return { count: entries.count, keys, values: entries.values };
}

/** Slots per block, re-exported for readers of the manifest. */
export { BLOCK };
