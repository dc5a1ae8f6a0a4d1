/**
 * The classifier's BPF maps for a shape: one definition per map (name, type, key and value
 * layouts, capacity, who writes it, where the generation lives), from which the C declarations
 * (./c-program.ts), the encoded entries (./map-entries.ts) and the manifest (maps.json) are all
 * produced, so they cannot disagree.
 *
 * Generations: every map holding ruleset data has room for two generations, 0 and 1. The
 * program reads `rjc_gen` once per packet and uses only that generation's entries, so the
 * runtime can write a new ruleset of the same shape into the other generation and flip
 * `rjc_gen`: every packet sees entirely the old or entirely the new ruleset. The generation
 * is either an index offset (array maps: index = gen * stride + i) or a u32 field of the key
 * (hash and LPM maps).
 */
import { layoutStruct, type StructDef, type StructLayout } from '../../layout/struct.js';
import { FIELDS, type FieldId } from '../classify/fields.js';
import { tableMap, type FieldShape, type Shape } from '../classify/shape.js';

export type MapType = 'ARRAY' | 'PERCPU_ARRAY' | 'HASH' | 'LPM_TRIE';

/**
 * Who writes the map:
 * - `ruleset`: the compiler's entries (maps.json), per generation;
 * - `control`: the generation selector, written by the runtime when it flips;
 * - `counters`: written by the program (per-CPU), read by stats;
 * - `host`: filled by the runtime from the host (interface names);
 * - `trace`: only in programs built with RJC_TRACE (rejectc run): the forced chain, and the
 *   last decision, read after a test run;
 * - `scratch`: the program's per-CPU working memory (nobody else reads or writes it).
 */
export type MapRole = 'ruleset' | 'control' | 'counters' | 'host' | 'trace' | 'scratch';

export type Generation = { kind: 'index'; stride: number } | { kind: 'key'; offset: number } | { kind: 'none' };

export interface MapSpec {
  name: string;
  type: MapType;
  key: StructLayout;
  value: StructLayout;
  maxEntries: number;
  noPrealloc: boolean;
  role: MapRole;
  generation: Generation;
  doc: string;
}

/** Action kinds (rjc_action.kind). */
export const ACTION = { none: 0, accept: 1, drop: 2, reject: 3, next: 4, hotdrop: 5 } as const;
/** Policies (rjc_ruleset.policy[]). */
export const POLICY = { ACCEPT: 0, DROP: 1 } as const;
/** rjc_trace.outcome values. */
export const OUTCOME = { none: 0, rule: 1, policy: 2, hotdrop: 3, unfiltered: 4 } as const;
/** Lists per generation: family (ipv4, ipv6) × chain (INPUT, FORWARD, OUTPUT). */
export const LISTS = 6;

const u32Key: StructDef = { name: 'rjc_u32_key', doc: 'u32 index', fields: [{ name: 'index', type: 'u32', doc: 'array index' }] };

export const RULESET_STRUCT: StructDef = {
  name: 'rjc_ruleset',
  doc: 'Per generation: where each list (family * 3 + chain; family 0 = IPv4, 1 = IPv6) lives, and its policy.',
  fields: [
    { name: 'first', type: 'u32', count: LISTS, doc: 'first slot of the list' },
    { name: 'end', type: 'u32', count: LISTS, doc: 'one past the last slot (first == end: no rules)' },
    { name: 'policy_counter', type: 'u32', count: LISTS, doc: 'rjc_cnt index of the policy counter' },
    { name: 'policy', type: 'u8', count: LISTS, doc: 'POLICY: 0 ACCEPT, 1 DROP' },
    { name: 'present', type: 'u8', count: LISTS, doc: '1 if the family has a filter table (else its packets are not filtered)' },
    { name: 'ready', type: 'u8', doc: '1 once the generation is filled' },
    { name: 'pad', type: 'u8', count: 3, doc: 'zero' },
    { name: 'mac_default', type: 'u32', doc: 'class of a source MAC not in rjc_s1_mac' },
    { name: 'unread', type: 'u32', count: FIELDS.length, doc: 'per field code: the class of UNREAD (the packet has no value for the field)' },
    { name: 'l1_shift', type: 'u8', count: FIELDS.length, doc: "per field code: a class's rjc_l1 entry is the field's l1Base + (class >> l1_shift)" },
  ],
};

export const ACTION_STRUCT: StructDef = {
  name: 'rjc_action',
  doc: 'What a slot does when it is the first match (rjc_act[gen * RJC_SLOTS + slot]).',
  fields: [
    { name: 'kind', type: 'u8', doc: 'ACTION: 0 none, 1 accept, 2 drop, 3 reject, 4 next, 5 hotdrop' },
    { name: 'reject', type: 'u8', doc: 'RJC_REJECT_* code for kind 3' },
    { name: 'nchecks', type: 'u8', doc: 'post-checks to pass first (rjc_chk[check ..])' },
    { name: 'hotdrop', type: 'u8', doc: 'header states (bit per HDR value) in which the slot hotdrops instead' },
    { name: 'next', type: 'u32', doc: 'kind 4: go on searching at this slot' },
    { name: 'counter', type: 'u32', doc: 'rjc_cnt index to count in, or 0xffffffff for none' },
    { name: 'check', type: 'u32', doc: 'first post-check' },
    { name: 'fail', type: 'u32', doc: 'with post-checks: the slot to go on at when one fails (past the rule, or past the chain a jump rule inlines)' },
  ],
};

export const CHECK_STRUCT: StructDef = {
  name: 'rjc_check',
  doc: 'A condition the index does not hold, evaluated for candidate slots: (skb mark & mask) == value, negated if `negated`.',
  fields: [
    { name: 'value', type: 'u32', doc: 'mark value' },
    { name: 'mask', type: 'u32', doc: 'mark mask' },
    { name: 'kind', type: 'u8', doc: '1 mark' },
    { name: 'negated', type: 'u8', doc: '1 for !' },
    { name: 'pad', type: 'u8', count: 2, doc: 'zero' },
  ],
};

export const COUNTER_STRUCT: StructDef = {
  name: 'rjc_counter',
  doc: 'Per-CPU packets and bytes (IP length) of a rule, or of a chain policy.',
  fields: [
    { name: 'packets', type: 'u64', doc: 'packets' },
    { name: 'bytes', type: 'u64', doc: 'bytes, IP length (what iptables counts)' },
  ],
};

export const GEN_STRUCT: StructDef = {
  name: 'rjc_gen',
  doc: 'The generation every packet uses (0 or 1).',
  fields: [
    { name: 'gen', type: 'u32', doc: 'active generation' },
    { name: 'pad', type: 'u32', doc: 'zero' },
  ],
};

export const FORCE_STRUCT: StructDef = {
  name: 'rjc_force',
  doc: 'rejectc run: the chain to evaluate instead of detecting it (RJC_TRACE builds only).',
  fields: [
    { name: 'chain', type: 'u32', doc: 'RJC_CHAIN_*; RJC_CHAIN_NONE (255) to detect' },
    { name: 'pad', type: 'u32', doc: 'zero' },
  ],
};

export const IFNAME_STRUCT: StructDef = {
  name: 'rjc_ifname',
  doc: 'An interface name, NUL padded (IFNAMSIZ).',
  fields: [{ name: 'name', type: 'u8', count: 16, doc: 'name bytes' }],
};

export const TRACE_STRUCT: StructDef = {
  name: 'rjc_trace',
  doc: 'What decided the last packet on this CPU (RJC_TRACE builds only).',
  fields: [
    { name: 'slot', type: 'u32', doc: 'deciding slot (outcome 1, 3)' },
    { name: 'gen', type: 'u32', doc: 'generation used' },
    { name: 'outcome', type: 'u8', doc: 'OUTCOME: 1 rule, 2 policy, 3 hotdrop, 4 not filtered' },
    { name: 'chain', type: 'u8', doc: 'RJC_CHAIN_*' },
    { name: 'family', type: 'u8', doc: '4 or 6' },
    { name: 'noreply', type: 'u8', doc: 'RJC_NOREPLY_* after a reject, 255 if a reply left' },
    { name: 'seq', type: 'u32', doc: 'incremented per traced packet' },
    { name: 'iif', type: 'u32', doc: 'ifindex -i matched against (0: none at this hook)' },
    { name: 'oif', type: 'u32', doc: 'ifindex -o matched against (0: none, or no route in FORWARD)' },
  ],
};

/**
 * The classifier's walk state, in a per-CPU scratch map rather than on the 512-byte BPF stack
 * (the reply path needs most of it). One packet at a time per CPU: TC and XDP programs run
 * with bottom halves disabled, so nothing else on the CPU interleaves.
 */
export function walkStruct(fields: readonly FieldShape[]): StructDef {
  return {
    name: 'rjc_walk',
    doc: 'Walk state of rjc_classify() and its bpf_loop steps (per-CPU scratch).',
    fields: [
      { name: 'summary', type: 'u64', doc: 'level-1 words still to look at' },
      { name: 'blocks', type: 'u64', doc: 'candidate blocks of the current word' },
      { name: 'rules', type: 'u64', doc: 'candidate slots of the current block' },
      { name: 'gen', type: 'u32', doc: 'generation' },
      { name: 'start', type: 'u32', doc: 'first slot still to consider' },
      { name: 'end', type: 'u32', doc: "one past the list's last slot" },
      { name: 'last_block', type: 'u32', doc: "the list's last block" },
      { name: 'block_base', type: 'u32', doc: 'block of bit 0 of blocks' },
      { name: 'rule_base', type: 'u32', doc: 'slot of bit 0 of rules' },
      { name: 'bytes', type: 'u32', doc: 'IP length, for the counters' },
      { name: 'mark', type: 'u32', doc: 'skb mark, for post-checks' },
      { name: 'slot', type: 'u32', doc: 'the deciding slot' },
      ...fields.map((f) => ({ name: `cls_${f.id}`, type: 'u32' as const, doc: `the packet's class in field ${f.id}` })),
      ...(fields.length > 0 ? [{ name: 'l1', type: 'u32' as const, count: fields.length + 1, doc: "rjc_l1 entries of the packet's classes, then the keyless entry" }] : []),
      { name: 'outcome', type: 'u8', doc: 'RJC_OUT_*' },
      { name: 'kind', type: 'u8', doc: 'RJC_ACT_* of the deciding slot' },
      { name: 'reject', type: 'u8', doc: 'its RJC_REJECT_* code' },
      { name: 'hdr', type: 'u8', doc: "the packet's header state (HDR)" },
    ],
  };
}

function blockStruct(fields: readonly FieldShape[]): StructDef {
  return {
    name: 'rjc_block',
    doc: 'Per block of 64 slots: the live slots, and per field the default level-2 word.',
    fields: [
      { name: 'live', type: 'u64', doc: 'slots that can match' },
      ...fields.map((f) => ({ name: f.id, type: 'u64' as const, doc: `default word of field ${f.id}` })),
    ],
  };
}

function level1Struct(words: number): StructDef {
  return {
    name: 'rjc_l1',
    doc: 'Level 1 of a class: bitmaps over blocks, each after its summary (bit i: word i is not zero).',
    fields: [
      { name: 'summary', type: 'u64', doc: 'bit i set when w[i] is not zero' },
      { name: 'w', type: 'u64', count: words, doc: 'bit b of w[i]: some live slot of block 64 * i + b accepts the class' },
      { name: 'ksummary', type: 'u64', doc: 'bit i set when k[i] is not zero' },
      {
        name: 'k',
        type: 'u64',
        count: words,
        doc: 'bit b of k[i]: some live slot of block 64 * i + b keyed on this field accepts the class (in the keyless entry, whose w[] are all ones: has a live slot without a key)',
      },
    ],
  };
}

const L2_KEY: StructDef = {
  name: 'rjc_l2_key',
  doc: 'Level-2 key: the words that differ from the block default.',
  fields: [
    { name: 'gen', type: 'u32', doc: 'generation' },
    { name: 'field', type: 'u32', doc: 'field code (shape.fields[].code)' },
    { name: 'block', type: 'u32', doc: 'block (slot / 64)' },
    { name: 'cls', type: 'u32', doc: 'class' },
  ],
};

/** rjc_rl_slot's value: where a rate-limit object's state lives. */
export const RATE_SLOT_STRUCT: StructDef = {
  name: 'rjc_rl_slot',
  doc: 'The state slot of a rate-limit object: rjc_limits index (-m limit) or rjc_hl_tables index (hashlimit table).',
  fields: [{ name: 'slot', type: 'u32', doc: 'slot in the namespace-wide state map' }],
};

const LEVEL2_VALUE: StructDef = { name: 'rjc_l2_val', doc: 'Level-2 word', fields: [{ name: 'word', type: 'u64', doc: 'slots of the block accepting the class' }] };
const CLASS_VALUE: StructDef = { name: 'rjc_cls', doc: 'A class id', fields: [{ name: 'cls', type: 'u32', doc: 'class' }] };

function lpmKey(bytes: number): StructDef {
  return {
    name: `rjc_lpm${bytes}_key`,
    doc: `Stage-1 LPM key over ${bytes} bytes: prefixlen counts the 64 generation and field bits plus the prefix bits.`,
    fields: [
      { name: 'prefixlen', type: 'u32', doc: '64 + prefix length (host order)' },
      { name: 'gen', type: 'u32', doc: 'generation (always fully matched)' },
      { name: 'field', type: 'u32', doc: 'field code (always fully matched)' },
      { name: 'data', type: 'u8', count: bytes, doc: 'address or interface name, network order' },
    ],
  };
}

const MAC_KEY: StructDef = {
  name: 'rjc_mac_key',
  doc: 'Stage-1 key of the source MAC table.',
  fields: [
    { name: 'gen', type: 'u32', doc: 'generation' },
    { name: 'mac', type: 'u8', count: 6, doc: 'Ethernet source address' },
    { name: 'pad', type: 'u8', count: 2, doc: 'zero' },
  ],
};

function tableStruct(size: number): StructDef {
  return { name: `rjc_cls${size}`, doc: `Stage-1 class table over ${size} values.`, fields: [{ name: 'cls', type: 'u32', count: size, doc: 'class of each value' }] };
}

/** The stage-1 class table size of an interval field (65536 or 256 entries), or 0 for LPM/hash fields. */
export function tableSize(id: FieldId): number {
  const map = tableMap(id);
  return map === 'rjc_s1_w' ? 65536 : map === 'rjc_s1_b' ? 256 : 0;
}

/** All maps of a shape, in declaration order. */
export function mapSpecs(shape: Shape): MapSpec[] {
  const L = layoutStruct;
  const array = (name: string, value: StructDef, stride: number, role: MapRole, doc: string): MapSpec => ({
    name,
    type: 'ARRAY',
    key: L(u32Key),
    value: L(value),
    maxEntries: 2 * stride,
    noPrealloc: false,
    role,
    generation: { kind: 'index', stride },
    doc,
  });
  const specs: MapSpec[] = [
    {
      name: 'rjc_gen',
      type: 'ARRAY',
      key: L(u32Key),
      value: L(GEN_STRUCT),
      maxEntries: 1,
      noPrealloc: false,
      role: 'control',
      generation: { kind: 'none' },
      doc: 'The active generation; the runtime flips it after filling the other one.',
    },
    array('rjc_ruleset', RULESET_STRUCT, 1, 'ruleset', 'Lists and policies per generation.'),
    array('rjc_act', ACTION_STRUCT, shape.slots, 'ruleset', 'Action of each slot.'),
    array('rjc_chk', CHECK_STRUCT, shape.checks, 'ruleset', 'Post-checks of candidate slots.'),
    array('rjc_blk', blockStruct(shape.fields), shape.blocks, 'ruleset', 'Live slots and default level-2 words per block.'),
  ];
  const byMap = (m: string) => shape.fields.filter((f) => f.s1.map === m);
  for (const [map, size] of [
    ['rjc_s1_w', 65536],
    ['rjc_s1_b', 256],
  ] as const) {
    const fields = byMap(map);
    if (fields.length > 0) {
      specs.push(array(map, tableStruct(size), fields.length, 'ruleset', `Stage 1 of ${fields.map((f) => f.id).join(', ')}: value -> class; entry gen * ${fields.length} + the field's index.`));
    }
  }
  for (const [map, bytes] of [
    ['rjc_s1_a4', 4],
    ['rjc_s1_a16', 16],
  ] as const) {
    const fields = byMap(map);
    if (fields.length === 0) continue;
    specs.push({
      name: map,
      type: 'LPM_TRIE',
      key: L(lpmKey(bytes)),
      value: L(CLASS_VALUE),
      maxEntries: 2 * fields.reduce((n, f) => n + f.stage1, 0),
      noPrealloc: true,
      role: 'ruleset',
      generation: { kind: 'key', offset: 4 },
      doc: `Stage 1 of ${fields.map((f) => f.id).join(', ')}: longest matching prefix -> class.`,
    });
  }
  const mac = shape.fields.find((f) => f.id === 'mac');
  if (mac) {
    specs.push({
      name: 'rjc_s1_mac',
      type: 'HASH',
      key: L(MAC_KEY),
      value: L(CLASS_VALUE),
      maxEntries: 2 * mac.stage1,
      noPrealloc: false,
      role: 'ruleset',
      generation: { kind: 'key', offset: 0 },
      doc: 'Stage 1 of mac: source MAC -> class (absent: rjc_ruleset.mac_default).',
    });
  }
  if (shape.fields.length > 0) {
    const classes = shape.fields.reduce((n, f) => n + f.classes, 0);
    specs.push(
      array(
        'rjc_l1',
        level1Struct(shape.words),
        classes + 1,
        'ruleset',
        "Level 1: class -> blocks; entry gen * stride + the field's l1Base + (class >> rjc_ruleset.l1_shift[field]) (classes with the same bitmaps share an entry), and after the fields' entries the keyless blocks.",
      ),
    );
    specs.push({
      name: 'rjc_l2',
      type: 'HASH',
      key: L(L2_KEY),
      value: L(LEVEL2_VALUE),
      maxEntries: 2 * shape.fields.reduce((n, f) => n + f.level2, 0),
      // Elements allocated as written: the kernel holds the entries of the generations filled,
      // not the capacity of both (the buckets are sized by max_entries either way).
      noPrealloc: true,
      role: 'ruleset',
      generation: { kind: 'key', offset: 0 },
      doc: 'Level 2: (field, block, class) -> slots of the block accepting the class, where not the block default.',
    });
  }
  if (shape.rates) {
    specs.push(
      array(
        'rjc_rl_slot',
        RATE_SLOT_STRUCT,
        shape.rates,
        'ruleset',
        'Rate index (rjc_check.value of -m limit / -m hashlimit checks) -> state slot; maps.json: identity, the runtime writes the slots it allocates.',
      ),
    );
  }
  specs.push(
    {
      name: 'rjc_cnt',
      type: 'PERCPU_ARRAY',
      key: L(u32Key),
      value: L(COUNTER_STRUCT),
      maxEntries: 2 * shape.counters,
      noPrealloc: false,
      role: 'counters',
      generation: { kind: 'index', stride: shape.counters },
      doc: 'Per-CPU rule counters, then the 6 policy counters (see maps.json counters).',
    },
    {
      name: 'rjc_walk',
      type: 'PERCPU_ARRAY',
      key: L(u32Key),
      value: L(walkStruct(shape.fields)),
      maxEntries: 1,
      noPrealloc: false,
      role: 'scratch',
      generation: { kind: 'none' },
      doc: "The classifier's per-CPU walk state.",
    },
    {
      name: 'rjc_ifname',
      type: 'HASH',
      key: L(u32Key),
      value: L(IFNAME_STRUCT),
      maxEntries: 4096,
      noPrealloc: false,
      role: 'host',
      generation: { kind: 'none' },
      doc: 'ifindex -> interface name, for -i/-o. Filled by the runtime from the host.',
    },
    {
      name: 'rjc_trace',
      type: 'PERCPU_ARRAY',
      key: L(u32Key),
      value: L(TRACE_STRUCT),
      maxEntries: 1,
      noPrealloc: false,
      role: 'trace',
      generation: { kind: 'none' },
      doc: 'The last decision on this CPU, written only by RJC_TRACE builds.',
    },
    {
      name: 'rjc_force',
      type: 'ARRAY',
      key: L(u32Key),
      value: L(FORCE_STRUCT),
      maxEntries: 1,
      noPrealloc: false,
      role: 'trace',
      generation: { kind: 'none' },
      doc: 'The chain rejectc run forces (RJC_TRACE builds only).',
    },
  );
  return specs;
}

/** Uses of -i / -o need the interface name map filled; other shapes leave it empty. */
export function needsInterfaceNames(shape: Shape): boolean {
  return shape.fields.some((f) => f.id === 'iif' || f.id === 'oif');
}
