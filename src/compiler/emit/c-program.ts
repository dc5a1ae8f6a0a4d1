/**
 * Generates rejectc.bpf.c: the datapath program for a classified ruleset. The rules are map
 * entries; the C is specialised to the shape (the fields the rules use and the map
 * capacities), so rulesets of the same shape share one program. The reply path (parsing,
 * chain detection, REJECT) is the hand-written C in bpf/ (rjc.h).
 *
 * Per packet: parse; pick the chain; read the generation; stage 1 gives one class per field;
 * a bounded loop (bpf_loop) walks the candidate words, blocks and slots of the chain's list in
 * order, taking each candidate slot's action (post-checks, counters, continue/skip) until a
 * terminal action or the end of the list (the policy).
 */
import { structLayoutC } from './c-structs.js';
import { c, type Fragment } from './template.js';
import { ADDRTYPE, fieldDef, type FieldId } from '../classify/fields.js';
import type { Classified } from '../classify/index.js';
import { shapeId } from '../classify/shape.js';
import { ACTION, OUTCOME, tableSize, type MapSpec } from './map-specs.js';
import { ADDR6_ANY_DEVICE } from '../../layout/codes.js';
import type { ProgramSpec } from './programs.js';

/** How the program reads each field's value from `struct rjc_pkt *pkt`. */
const INTERVAL_VALUE: Partial<Record<FieldId, string>> = {
  proto: 'pkt->proto',
  hdr: 'hdr',
  sport: 'pkt->sport',
  dport: 'pkt->dport',
  msport: 'pkt->sport',
  mdport: 'pkt->dport',
  tcpflags: 'pkt->tcp_flags',
  icmp: '((__u32)pkt->icmp_type << 8) | pkt->icmp_code',
  ttl: 'pkt->ttl',
  length: 'pkt->ip_len',
  pkttype: '(chain == RJC_CHAIN_OUTPUT ? 0 : pkt->l2)',
  srctype: 'rjc_addrtype(pkt, &pkt->saddr)',
  dsttype: 'rjc_addrtype(pkt, &pkt->daddr)',
};

const LPM_SOURCE: Partial<Record<FieldId, { expr: string; bytes: number }>> = {
  src4: { expr: '&pkt->saddr.v4', bytes: 4 },
  dst4: { expr: '&pkt->daddr.v4', bytes: 4 },
  src6: { expr: 'pkt->saddr.bytes', bytes: 16 },
  dst6: { expr: 'pkt->daddr.bytes', bytes: 16 },
};

const IFACE_SOURCE: Partial<Record<FieldId, string>> = { iif: 'pkt->iif', oif: 'pkt->oif' };

export interface EmitInputs {
  classified: Classified;
  specs: readonly MapSpec[];
  programs: readonly ProgramSpec[];
  /** The rules file name for the banner. */
  source: string;
}

/** Bit per header state in which field `f` has no value (UNREAD). */
function unreadMask(f: FieldId): number {
  const d = fieldDef(f);
  return d.kind === 'interval' ? (d.unreadIn ?? []).reduce((m, st) => m | (1 << st), 0) : 0;
}

function upper(id: string): string {
  return id.toUpperCase();
}

/**
 * Per field: "rules.txt:12, ..." of the flat rules whose slots constrain it, at most `max` of
 * them, then "and N more". One walk over the slots for all fields.
 */
function usersByField(cl: Classified, max = 4): Map<FieldId, string> {
  const users = new Map<FieldId, { out: string[]; more: number; previous: number }>();
  for (const list of cl.lists) {
    for (const u of users.values()) u.previous = -1;
    for (const slot of list.slots) {
      if (!slot.live) continue;
      for (const field of slot.fields.keys()) {
        let u = users.get(field);
        if (!u) users.set(field, (u = { out: [], more: 0, previous: -1 }));
        if (slot.flat === u.previous) continue;
        u.previous = slot.flat;
        if (u.out.length >= max) {
          u.more++;
          continue;
        }
        const step = list.flat.rules[slot.flat]!.path.at(-1)!;
        const where = `${step.rule.span.file}:${step.rule.span.start.line}`;
        if (!u.out.includes(where)) u.out.push(where);
      }
    }
  }
  return new Map([...users].map(([f, u]) => [f, u.out.join(', ') + (u.more > 0 ? ` and ${u.more} more` : '')]));
}

const RULE_TABLE = '@@RJC_RULE_TABLE@@';

function commentSafe(text: string): string {
  if (!text.includes('*/') && !text.includes('\n') && !text.includes('\r')) return text;
  return text.replace(/\*\//g, '* /').replace(/[\r\n]+/g, ' ');
}

/** The rule table comment: slots → source. */
function ruleTable(cl: Classified): string[] {
  const lines: string[] = [];
  for (const list of cl.lists) {
    lines.push(` * ${list.family} ${list.chain} (policy ${list.policy}), slots ${list.firstSlot}..${list.flatFirstSlot[list.flatFirstSlot.length - 1]! - 1}:`);
    list.flat.rules.forEach((r, i) => {
      const first = list.flatFirstSlot[i]!;
      const last = list.flatFirstSlot[i + 1]! - 1;
      const step = r.path[r.path.length - 1]!;
      const where = `${step.rule.span.file}:${step.rule.span.start.line}`;
      const slots = first === last ? `${first}` : `${first}-${last}`;
      const act = r.action;
      const what =
        r.role === 'goto-end'
          ? `end of the chain entered by goto (${commentSafe(step.rule.source)}): go on at rule ${act.kind === 'skip' ? act.to : '?'}`
          : commentSafe(step.rule.source) + (step.expansion.count > 1 ? ` [copy ${step.expansion.index + 1}/${step.expansion.count}]` : '');
      lines.push(` *   ${slots.padEnd(11)} ${where}: ${what}`);
    });
  }
  return lines;
}

function mapDecl(spec: MapSpec): string {
  const key = spec.key.def.name === 'rjc_u32_key' ? '__u32' : `struct ${spec.key.def.name}`;
  return c`
    /* ${spec.name}: ${spec.doc} */
    struct {
    	__uint(type, BPF_MAP_TYPE_${spec.type});
    	__uint(max_entries, ${spec.maxEntries});
    	__type(key, ${key});
    	__type(value, struct ${spec.value.def.name});
    ${spec.noPrealloc ? '\t__uint(map_flags, BPF_F_NO_PREALLOC);' : undefined}
    } ${spec.name} SEC(".maps");
  `;
}

/** The generated C. Pure. */
export function emitProgram(inputs: EmitInputs): string {
  const cl = inputs.classified;
  const shape = cl.shape;
  const fields = shape.fields.map((f) => f.id);
  const flavor = shape.hook === 'xdp' ? 'RJC_FLAVOR_XDP' : 'RJC_FLAVOR_TC';
  const hasChecks = shape.checksPerSlot > 0;
  // Modules: decided by the shape (a test shape may include them for rulesets without).
  const usesCt = shape.conntrack === true;
  const usesSet = shape.sets === true;
  const usesOwner = shape.owner === true;
  const usesRate = shape.rates !== undefined;
  const structs = new Map<string, MapSpec['value']>();
  for (const s of inputs.specs) {
    for (const l of [s.key, s.value]) if (l.def.name !== 'rjc_u32_key') structs.set(l.def.name, l);
  }
  const traceMaps = inputs.specs.filter((s) => s.role === 'trace');
  const maps = inputs.specs.filter((s) => s.role !== 'trace');

  const users = usersByField(cl);
  const stage1 = fields.map((f) => stage1Code(f, cl, users.get(f) ?? ''));
  // One key variable per function, reused field after field: the BPF stack is small.
  // A loop over the entries rjc_stage1() chose (one per field, and the keyless one): unrolled,
  // the compiler keeps every field's pointer live and the frame outgrows the BPF stack.
  const level1Body = [
    '\t__u64 word = ~0ULL, keyed = 0;',
    '\t__u32 i;',
    '',
    '\tfor (i = 0; i < RJC_L1_KEYS; i++) {',
    '\t\t__u32 k = s->l1[i];',
    '\t\tconst struct rjc_l1 *v = bpf_map_lookup_elem(&rjc_l1, &k);',
    '',
    '\t\tif (!v)',
    '\t\t\treturn 0;',
    '\t\tif (w == RJC_SUMMARY) {',
    '\t\t\tword &= v->summary;',
    '\t\t\tkeyed |= v->ksummary;',
    '\t\t} else {',
    '\t\t\tword &= v->w[w & (RJC_WORDS - 1)];',
    '\t\t\tkeyed |= v->k[w & (RJC_WORDS - 1)];',
    '\t\t}',
    '\t}',
    '\treturn word & keyed;',
  ].join('\n');
  const level1Keys = [
    ...fields.map((f, i) => `s->l1[${i}] = gen * RJC_L1_ENTRIES + RJC_L1_BASE_${upper(f)} + (s->cls_${f} >> rs->l1_shift[RJC_FIELD_${upper(f)}]);`),
    `s->l1[${fields.length}] = gen * RJC_L1_ENTRIES + RJC_L1_NOKEY;`,
  ];
  const level2 = fields.map(
    (f) => c`
      k.field = RJC_FIELD_${upper(f)};
      k.cls = s->cls_${f};
      v = bpf_map_lookup_elem(&rjc_l2, &k);
      word &= v ? *v : blk->${f};
    `,
  );
  const usesHdr = fields.some((f) => f === 'hdr' || unreadMask(f) !== 0);
  const stage1Keys = [
    usesHdr ? '__u32 hdr = rjc_hdr_state(pkt);' : undefined,
    fields.some((f) => INTERVAL_VALUE[f]) ? '__u32 kt;\nconst void *t;' : undefined,
    fields.some((f) => LPM_SOURCE[f]?.bytes === 4) ? 'struct rjc_lpm4_key k4 = { .prefixlen = 64 + 32, .gen = gen };' : undefined,
    fields.some((f) => LPM_SOURCE[f]?.bytes === 16 || IFACE_SOURCE[f]) ? 'struct rjc_lpm16_key k16 = { .prefixlen = 64 + 128, .gen = gen };' : undefined,
    fields.includes('mac') ? 'struct rjc_mac_key km = { .gen = gen };' : undefined,
    fields.some((f) => !INTERVAL_VALUE[f]) ? 'const struct rjc_cls *v;' : undefined,
  ];

  return c`
    /* SPDX-License-Identifier: GPL-2.0-only */
    /* generated by rejectc from ${commentSafe(inputs.source)}; do not edit.
     *
     * Hook: ${shape.hook}. Shape ${shapeId(shape)}: ${fields.length > 0 ? `fields ${fields.join(', ')}` : 'no indexed fields'};
     * ${shape.slots} slots (${shape.blocks} blocks of 64, ${shape.words} level-1 word${shape.words > 1 ? 's' : ''}) per generation.
     * The rules are entries of the maps below (maps.json); a ruleset of the same shape runs on
     * this program unchanged. Build with -DRJC_TRACE for \`rejectc run\` (forced chain, last
     * decision in rjc_trace).
     */
    #define ${flavor}
    ${usesCt ? '#define RJC_USES_CT /* before rjc.h: REJECT trusts checksums conntrack verified */' : undefined}
    ${usesRate ? rateDefines(shape.rates!, shape.hashlimit === true) : undefined}
    #include "rjc.h"
    ${usesCt ? '#include "rjc_ct.h" /* -m state, -m conntrack */' : undefined}
    ${usesSet ? '#define RJC_USES_SET\n#include "rjc_set.h" /* -m set */' : undefined}
    ${shape.recent !== undefined ? `#define RJC_USES_RECENT\n#define RJC_RECENT_STAMPS ${shape.recent}\n#include "rjc_recent.h" /* -m recent */` : undefined}
    ${usesOwner ? '#define RJC_USES_OWNER\n#include "rjc_owner.h" /* -m owner */' : undefined}

    #define RJC_SLOTS    ${shape.slots}
    #define RJC_BLOCKS   ${shape.blocks}
    #define RJC_WORDS    ${shape.words} /* a power of two */
    #define RJC_SUMMARY  0xffffffffu /* rjc_level1(): the summary word */
    #define RJC_COUNTERS ${shape.counters}
    #define RJC_CHECKS   ${shape.checks}
    #define RJC_CHECKS_PER_SLOT ${shape.checksPerSlot}
    /* Per field: its code in keys, its classes, its first level-1 entry. */
    ${shape.fields.map((f) => `#define RJC_FIELD_${upper(f.id)} ${f.code}
#define RJC_CLASSES_${upper(f.id)} ${f.classes}
#define RJC_L1_BASE_${upper(f.id)} ${f.l1Base}`)}
    /* rjc_l1 entries per generation: the fields' classes, then the keyless blocks. */
    #define RJC_L1_NOKEY   ${shape.fields.reduce((n, f) => n + f.classes, 0)}
    #define RJC_L1_ENTRIES (RJC_L1_NOKEY + 1)
    #define RJC_L1_KEYS    ${fields.length + 1} /* rjc_walk.l1: the packet's entry per field, and the keyless one */
    #define RJC_NO_COUNTER 0xffffffffu
    /* Loop bound: every step consumes a word, a block or a slot, or ends the walk. */
    #define RJC_STEPS    (RJC_WORDS + RJC_BLOCKS + RJC_SLOTS + 2)

    /* Action kinds (rjc_action.kind) and walk outcomes, as in src/compiler/emit/map-specs.ts. */
    ${Object.entries(ACTION).map(([k, v]) => `#define RJC_ACT_${upper(k)} ${v}`)}
    ${Object.entries(OUTCOME).map(([k, v]) => `#define RJC_OUT_${upper(k)} ${v}`)}

    /* Transport header states (src/compiler/classify/fields.ts HDR). */
    #define RJC_HDR_FULL    0 /* the transport header is all there (or not needed) */
    #define RJC_HDR_SHORT   1 /* TCP 4..19 / UDP 4..7 bytes: ports readable, header not */
    #define RJC_HDR_NONE    2 /* < 4 bytes of a port protocol, < 8 of ICMP */
    #define RJC_HDR_FRAG    3 /* non-first fragment */
    #define RJC_HDR_FRAG1   4 /* IPv4 TCP at fragment offset 1: tcp_mt() hotdrops */
    #define RJC_HDR_NOPROTO 5 /* IPv6: ipv6_find_hdr() failed, -p hotdrops */

    ${[...structs.values()].map((l) => structLayoutC(l))}

    ${maps.map(mapDecl)}

    #ifdef RJC_TRACE
    ${traceMaps.map(mapDecl)}
    #endif

    /* Rules: slot(s), source, rule. A rule takes one slot per alternative (multiport --ports),
     * after a slot that drops packets a match of the rule could not read (the kernel's
     * hotdrop) where that cannot share the rule's own slot.
    ${RULE_TABLE}
     */

    static __always_inline __u32 rjc_ctz64(__u64 x)
    {
    	__u32 n = 0;

    	if (!(x & 0xffffffffULL)) { n += 32; x >>= 32; }
    	if (!(x & 0xffffULL)) { n += 16; x >>= 16; }
    	if (!(x & 0xffULL)) { n += 8; x >>= 8; }
    	if (!(x & 0xfULL)) { n += 4; x >>= 4; }
    	if (!(x & 0x3ULL)) { n += 2; x >>= 2; }
    	if (!(x & 0x1ULL)) n += 1;
    	return n;
    }

    /* Bits of x from bit n up. */
    static __always_inline __u64 rjc_mask_from(__u64 x, __u32 n)
    {
    	return n >= 64 ? 0 : x & ~((1ULL << n) - 1);
    }

    /* Bits of x up to bit n. */
    static __always_inline __u64 rjc_mask_upto(__u64 x, __u32 n)
    {
    	return n >= 63 ? x : x & ((2ULL << n) - 1);
    }
    ${usesHdr ? hdrState() : undefined}
    ${fields.includes('srctype') || fields.includes('dsttype') ? addrType() : undefined}

    /* Stage 1: the class of each field. Returns -1 if a ruleset map is missing an entry.
     * Subprograms (__noinline) here and below keep each stack frame small: the reply path
     * already needs much of the 512 bytes. */
    static __noinline int rjc_stage1(const struct rjc_pkt *pkt, int chain, const struct rjc_ruleset *rs, struct rjc_walk *s)
    {
    	__u32 gen = s->gen;
    	${stage1Keys}

    ${usesHdr ? '\ts->hdr = hdr;' : undefined}
    	${stage1}
    ${fields.length > 0 ? '\t/* The level-1 entries of the packet\'s classes, for rjc_level1(): classes with the same bitmaps share one (index-build.ts). */' : undefined}
    	${fields.length > 0 ? level1Keys : undefined}
    	return 0;
    }

    /* Level 1: word \`w\` of the candidate blocks, or their summary: the blocks where some slot
     * accepts the packet on its key field (or has no key), and every field has a slot that
     * accepts the packet (index-build.ts). */
    static __noinline __u64 rjc_level1(const struct rjc_walk *s, __u32 w)
    {
    ${fields.length > 0 ? level1Body : '\t/* No indexed field: every block is a candidate. */\n\treturn ~0ULL;'}
    }

    /* Level 2: the live slots of \`block\` that every field accepts. */
    static __noinline __u64 rjc_level2(const struct rjc_walk *s, __u32 block)
    {
    	__u32 b = s->gen * RJC_BLOCKS + block;
    	const struct rjc_block *blk;
    	__u64 word;
    ${fields.length > 0 ? '\tstruct rjc_l2_key k = { .gen = s->gen, .block = block };\n\tconst __u64 *v;' : undefined}

    	if (block >= RJC_BLOCKS)
    		return 0;
    	blk = bpf_map_lookup_elem(&rjc_blk, &b);
    	if (!blk)
    		return 0;
    	word = blk->live;
    	${level2}
    	return word;
    }

    static __always_inline void rjc_count(__u32 gen, __u32 id, __u32 bytes)
    {
    	__u32 k = gen * RJC_COUNTERS + id;
    	struct rjc_counter *cnt;

    	if (id >= RJC_COUNTERS)
    		return;
    	cnt = bpf_map_lookup_elem(&rjc_cnt, &k);
    	if (cnt) {
    		cnt->packets += 1;
    		cnt->bytes += bytes;
    	}
    }
    ${hasChecks ? checksCode(usesRate) : undefined}

    /* Go on at slot \`next\`: drop the candidates before it. */
    static __always_inline void rjc_skip_to(struct rjc_walk *s, __u32 next)
    {
    	__u32 block = next / 64;

    	s->start = next;
    	if (next >= s->end) {
    		s->outcome = RJC_OUT_POLICY;
    		return;
    	}
    	s->rules = next >= s->rule_base ? rjc_mask_from(s->rules, next - s->rule_base) : s->rules;
    	s->blocks = block >= s->block_base ? rjc_mask_from(s->blocks, block - s->block_base) : s->blocks;
    	s->summary = rjc_mask_from(s->summary, block / 64);
    }

    /* The first candidate slot found: take its action. Returns 1 to end the walk. */
    static __always_inline long rjc_take(struct rjc_walk *s, __u32 slot)
    {
    	__u32 k = s->gen * RJC_SLOTS + slot;
    	const struct rjc_action *a;

    	if (slot >= RJC_SLOTS)
    		goto policy;
    	a = bpf_map_lookup_elem(&rjc_act, &k);
    	if (!a)
    		goto policy;
    ${hasChecks ? takeChecks(usesRate) : undefined}
    	if (a->kind == RJC_ACT_HOTDROP${usesHdr ? ' || (a->hotdrop >> s->hdr) & 1' : ''}) {
    		/* A match could not read the packet: the kernel drops it at once, no counter. */
    		s->outcome = RJC_OUT_HOTDROP;
    		s->slot = slot;
    		return 1;
    	}
    	if (a->counter != RJC_NO_COUNTER)
    		rjc_count(s->gen, a->counter, s->bytes);
    	if (a->kind == RJC_ACT_NEXT) {
    		/* LOG, no target, a jump's own count, RETURN, end of a goto'd chain. */
    		rjc_skip_to(s, a->next);
    		return s->outcome != RJC_OUT_NONE;
    	}
    	s->outcome = RJC_OUT_RULE;
    	s->slot = slot;
    	s->kind = a->kind;
    	s->reject = a->reject;
    	return 1;
    policy:
    	s->outcome = RJC_OUT_POLICY;
    	return 1;
    }

    /* One step of the walk: a slot, else a block, else a level-1 word, else the policy. */
    static long rjc_walk_step(__u32 i, void *unused)
    {
    	__u32 zero = 0;
    	struct rjc_walk *s = bpf_map_lookup_elem(&rjc_walk, &zero);

    	if (!s)
    		return 1;

    	if (s->rules) {
    		__u32 slot = s->rule_base + rjc_ctz64(s->rules);

    		s->rules &= s->rules - 1;
    		return rjc_take(s, slot);
    	}
    	if (s->blocks) {
    		__u32 block = s->block_base + rjc_ctz64(s->blocks);

    		s->blocks &= s->blocks - 1;
    		s->rules = rjc_level2(s, block);
    		s->rule_base = block * 64;
    		if (block == s->start / 64)
    			s->rules = rjc_mask_from(s->rules, s->start % 64);
    		return 0;
    	}
    	if (s->summary) {
    		__u32 w = rjc_ctz64(s->summary);
    		__u64 blocks;

    		s->summary &= s->summary - 1;
    		blocks = rjc_level1(s, w);
    		if (w == s->start / 4096)
    			blocks = rjc_mask_from(blocks, (s->start / 64) % 64);
    		if (w == s->last_block / 64)
    			blocks = rjc_mask_upto(blocks, s->last_block % 64);
    		s->blocks = blocks;
    		s->block_base = w * 64;
    		return 0;
    	}
    	s->outcome = RJC_OUT_POLICY;
    	return 1;
    }

    /* What rjc_classify() decided. */
    struct rjc_decision {
    	__u32 slot;    /* deciding slot (RJC_OUT_RULE, RJC_OUT_HOTDROP) */
    	__u32 gen;
    	__u8 outcome;  /* RJC_OUT_* */
    	__u8 kind;     /* RJC_ACT_* (RJC_OUT_RULE) */
    	__u8 reject;   /* RJC_REJECT_* (RJC_ACT_REJECT) */
    	__u8 drop;     /* RJC_OUT_POLICY: 1 if the policy is DROP */
    };

    /* The filter table for a packet of \`chain\`: which slot or policy decides. A subprogram of
     * its own, so its stack is never on the stack together with the reply path's; the walk
     * state lives in the per-CPU rjc_walk. Counts the deciding rule, the rules passed on the
     * way, and the policy. */
    static __noinline int rjc_classify(const struct rjc_pkt *pkt, int chain, __u32 mark, struct rjc_decision *d)
    {
    	__u32 zero = 0, gen, list;
    	const struct rjc_gen *g = bpf_map_lookup_elem(&rjc_gen, &zero);
    	struct rjc_walk *s = bpf_map_lookup_elem(&rjc_walk, &zero);
    	const struct rjc_ruleset *rs;

    	d->outcome = RJC_OUT_UNFILTERED;
    	if (!g || !s)
    		return 0;
    	gen = g->gen & 1;
    	d->gen = gen;
    	rs = bpf_map_lookup_elem(&rjc_ruleset, &gen);
    	list = (pkt->family == 6 ? 3 : 0) + chain;
    	/* No ruleset loaded, or no filter table for this family: not filtered. */
    	if (!rs || !rs->ready || list >= 6 || !rs->present[list])
    		return 0;
    	__builtin_memset(s, 0, sizeof(*s));
    	s->gen = gen;
    	s->start = rs->first[list];
    	s->end = rs->end[list];
    	s->bytes = pkt->ip_len;
    	s->mark = mark;
    	if (s->start < s->end && rjc_stage1(pkt, chain, rs, s) == 0) {
    		s->last_block = (s->end - 1) / 64;
    		s->summary = rjc_level1(s, RJC_SUMMARY);
    		s->summary = rjc_mask_from(s->summary, s->start / 4096);
    		s->summary = rjc_mask_upto(s->summary, s->last_block / 64);
    		bpf_loop(RJC_STEPS, rjc_walk_step, NULL, 0);
    	}
    	d->slot = s->slot;
    	d->kind = s->kind;
    	d->reject = s->reject;
    	if (s->outcome == RJC_OUT_RULE || s->outcome == RJC_OUT_HOTDROP) {
    		d->outcome = s->outcome;
    		return 0;
    	}
    	/* End of the chain: the policy, with its own counter. */
    	rjc_count(gen, rs->policy_counter[list], pkt->ip_len);
    	d->outcome = RJC_OUT_POLICY;
    	d->drop = rs->policy[list] != 0;
    	return 0;
    }

    #ifdef RJC_TRACE
    static __always_inline void rjc_trace_set(const struct rjc_decision *d, const struct rjc_pkt *pkt, int chain)
    {
    	__u32 zero = 0;
    	struct rjc_trace *t = bpf_map_lookup_elem(&rjc_trace, &zero);

    	if (!t)
    		return;
    	t->gen = d->gen;
    	t->outcome = d->outcome;
    	t->slot = d->slot;
    	t->chain = chain;
    	t->family = pkt->family;
    	t->noreply = pkt->noreply;
    	t->iif = pkt->iif;
    	t->oif = pkt->oif;
    	t->seq += 1;
    }

    static __always_inline void rjc_trace_unfiltered(const struct rjc_pkt *pkt)
    {
    	struct rjc_decision d = { .outcome = RJC_OUT_UNFILTERED };

    	rjc_trace_set(&d, pkt, RJC_CHAIN_NONE);
    }
    #else
    static __always_inline void rjc_trace_set(const struct rjc_decision *d, const struct rjc_pkt *pkt, int chain) { }
    static __always_inline void rjc_trace_unfiltered(const struct rjc_pkt *pkt) { }
    #endif

    /* The verdict for a packet of \`chain\`: RJC_PASS, RJC_DROP, or a reply on its way. */
    static __always_inline int rjc_filter(rjc_ctx_t *ctx, struct rjc_pkt *pkt, int chain)
    {
    	struct rjc_decision d = {};
    	int verdict = RJC_PASS;

    #ifdef RJC_USES_SET
    	rjc_set_prepare(pkt); /* the packet fields set checks read */
    #endif
    #ifdef RJC_USES_RECENT
    	rjc_recent_prepare(pkt, chain); /* the address and TTL recent checks read */
    #endif
    #ifdef RJC_USES_OWNER
    	rjc_owner_prepare(ctx, chain); /* the sending socket's owner (OUTPUT) */
    #endif
    ${shape.hashlimit ? '#ifdef RJC_USES_HASHLIMIT\n\trjc_hashlimit_prepare(ctx, pkt); /* the addresses and ports hashlimit keys on */\n#endif' : undefined}
    #ifdef RJC_USES_CT
    	/* The connection state the rules' checks read (before conntrack at ingress, after it at egress). */
    	rjc_ct_classify(ctx, pkt, chain == RJC_CHAIN_OUTPUT ? RJC_DIR_EGRESS : RJC_DIR_INGRESS);
    #endif
    	rjc_classify(pkt, chain, rjc_ctx_mark(ctx), &d);
    	switch (d.outcome) {
    	case RJC_OUT_RULE:
    		if (d.kind == RJC_ACT_REJECT)
    			verdict = rjc_reject(ctx, pkt, d.reject, chain);
    		else if (d.kind != RJC_ACT_ACCEPT)
    			verdict = RJC_DROP;
    		break;
    	case RJC_OUT_HOTDROP:
    		/* A match could not read the packet: dropped, no counter, no reply. */
    		verdict = RJC_DROP;
    		break;
    	case RJC_OUT_POLICY:
    		verdict = d.drop ? RJC_DROP : RJC_PASS;
    		break;
    	}
    	rjc_trace_set(&d, pkt, chain);
    	return verdict;
    }

    static __always_inline int rjc_main(rjc_ctx_t *ctx, int dir)
    {
    	struct rjc_pkt pkt;
    	int chain, forced = RJC_CHAIN_NONE;

    	if (rjc_parse(ctx, &pkt) != RJC_PARSE_OK) {
    		/* Not IP, or the stack drops it before netfilter: not ours to filter. */
    		rjc_trace_unfiltered(&pkt);
    		return RJC_PASS;
    	}
    #if defined(RJC_USES_CT) && defined(RJC_FLAVOR_TC)
    	/* Every packet leaving: note the kernel's connections the ingress kfuncs cannot look up. */
    	if (dir == RJC_DIR_EGRESS)
    		rjc_ct_shadow_note(ctx, &pkt);
    #endif
    #ifdef RJC_TRACE
    	{
    		__u32 zero = 0;
    		const struct rjc_force *f = bpf_map_lookup_elem(&rjc_force, &zero);

    		if (f)
    			forced = f->chain;
    	}
    #endif
    	chain = ${shape.hook === 'xdp' ? 'rjc_chain(ctx, &pkt, RJC_DIR_INGRESS, forced)' : 'dir == RJC_DIR_INGRESS ? rjc_chain(ctx, &pkt, RJC_DIR_INGRESS, forced) : rjc_chain(ctx, &pkt, RJC_DIR_EGRESS, forced)'};
    	if (chain == RJC_CHAIN_NONE) {
    		/* No filter chain sees this packet at this hook. */
    		rjc_trace_unfiltered(&pkt);
    		return RJC_PASS;
    	}
    	return rjc_filter(ctx, &pkt, chain);
    }

    ${inputs.programs.map(programCode)}

    char _license[] SEC("license") = "GPL";
  `
    // The rule table can be long (one line per rule): inserted after the template's processing.
    .replace(RULE_TABLE, () => ruleTable(cl).join('\n')) + '\n';
}

function programCode(p: ProgramSpec): Fragment {
  const dir = p.attach === 'tc-egress' ? 'RJC_DIR_EGRESS' : 'RJC_DIR_INGRESS';
  const ctxType = p.section === 'xdp' ? 'struct xdp_md' : 'struct __sk_buff';
  return c`
    /* ${p.attach}: chains ${p.chains.join(', ')}. */
    SEC("${p.section}")
    int ${p.name}(${ctxType} *ctx)
    {
    	return rjc_main(ctx, ${dir});
    }
  `;
}

function hdrState(): string {
  return c`

    /* How far the matches that read the transport header can read it (RJC_HDR_*): the sizes
     * tcp_mt(), udp_mt(), icmp_match() and multiport_mt() read with skb_header_pointer(). */
    static __always_inline __u32 rjc_hdr_state(const struct rjc_pkt *pkt)
    {
    	__u32 avail;

    	if (pkt->flags & RJC_PKT_F_PROTO_UNKNOWN)
    		return RJC_HDR_NOPROTO;
    	if (pkt->fragoff)
    		return pkt->family == 4 && pkt->proto == IPPROTO_TCP && pkt->fragoff == 1 ? RJC_HDR_FRAG1 : RJC_HDR_FRAG;
    	if (pkt->flags & RJC_PKT_F_L4_COMPLETE)
    		return RJC_HDR_FULL;
    	switch (pkt->proto) {
    	case IPPROTO_TCP:
    	case IPPROTO_UDP:
    	case IPPROTO_UDPLITE:
    	case IPPROTO_SCTP:
    	case IPPROTO_DCCP:
    		avail = pkt->l4_off - pkt->l3_off < pkt->ip_len ? pkt->ip_len - (pkt->l4_off - pkt->l3_off) : 0;
    		return avail >= 4 ? RJC_HDR_SHORT : RJC_HDR_NONE;
    	case IPPROTO_ICMP:
    	case IPPROTO_ICMPV6:
    		return RJC_HDR_NONE;
    	default:
    		return RJC_HDR_FULL;
    	}
    }
  `;
}

function addrType(): string {
  const R = ADDRTYPE.rtn;
  const B = ADDRTYPE.v6;
  return c`

    /* -m addrtype: the address's type (ADDRTYPE in src/compiler/classify/fields.ts). IPv4: the
     * route type inet_addr_type() gives, from the local table the runtime copies into rjc_addr4;
     * IPv6: ${ADDRTYPE.v6Base} + what match_type6() tests (ipv6_addr_type() bits, local/anycast
     * per rjc_addr6). */
    static __always_inline __u32 rjc_addrtype(const struct rjc_pkt *pkt, const union rjc_addr *a)
    {
    	__u32 p = 0;
    	int t;

    	if (pkt->family == 4) {
    		__u32 h = bpf_ntohl(a->v4);

    		if (h == 0 || h == 0xffffffff) /* ipv4_is_zeronet(): 0.0.0.0 only since Linux 5.3 */
    			return ${R.BROADCAST};
    		if ((h >> 28) == 0xe)
    			return ${R.MULTICAST};
    		if ((h >> 24) == 127)
    			return ${R.LOCAL};
    		t = rjc_addr4_type(a->v4);
    		return t == RJC_ADDR_LOCAL ? ${R.LOCAL} : t == RJC_ADDR_BROADCAST ? ${R.BROADCAST} : ${R.UNICAST};
    	}
    	if (rjc_ip6_is_any(a))
    		p |= ${B.any};
    	else if (rjc_ip6_is_multicast(a))
    		p |= ${B.multicast};
    	else if (!rjc_ip6_is_v4mapped(a))
    		p |= ${B.unicast};
    	if (rjc_ip6_is_loopback(a))
    		p |= ${B.local};
    	/* match_lookup_rt6() without --limit-iface-*: no device, a link-local address of any
    	 * device counts (the runtime's device-less copies, ADDR6_ANY_DEVICE). */
    	t = rjc_addr6_type(a, ${ADDR6_ANY_DEVICE}u);
    	if (t == RJC_ADDR_LOCAL)
    		p |= ${B.local};
    	else if (t == RJC_ADDR_ANYCAST)
    		p |= ${B.anycast};
    	return ${ADDRTYPE.v6Base} + p;
    }
  `;
}

/** Before rjc.h: the rate-limit support of bpf/rjc_limit.h and the sizes of its state maps. */
function rateDefines(rates: number, hashlimit: boolean): string {
  return [
    '#define RJC_USES_RATE /* -m limit / -m hashlimit (bpf/rjc_limit.h) */',
    `#define RJC_RATES ${rates} /* rate-limit objects per generation (rjc_rl_slot) */`,
    '/* State maps, shared by every rejectc program of the namespace: the runtime sizes them at load. */',
    `#define RJC_LIMIT_MAX ${rates}`,
    `#define RJC_HASHLIMIT_TABLES ${rates}`,
    '#define RJC_HASHLIMIT_ENTRIES 1024',
    ...(hashlimit ? ['#define RJC_USES_HASHLIMIT'] : []),
  ].join('\n');
}

/**
 * rjc_take()'s post-checks. A failed check means the rule cannot match: the walk goes on at
 * the slot's `fail`, past the rule (and past the chain a jump rule inlines), so that no other
 * slot of it runs a check again (src/compiler/classify/slots.ts). With rate limits, a
 * hashlimit may hotdrop.
 */
function takeChecks(usesRate: boolean): string {
  return [
    '\tif (a->nchecks) {',
    '\t\tint r = rjc_checks_pass(s, a);',
    '',
    ...(usesRate
      ? [
          '\t\tif (r == RJC_CHECKS_HOTDROP) {',
          '\t\t\t/* hashlimit could not key the packet, or its table is full: dropped, no counter. */',
          '\t\t\ts->outcome = RJC_OUT_HOTDROP;',
          '\t\t\ts->slot = slot;',
          '\t\t\treturn 1;',
          '\t\t}',
        ]
      : []),
    '\t\tif (!r) {',
    '\t\t\t/* The rule cannot match: go past it, so that no check of it runs twice. */',
    '\t\t\tif (a->fail <= slot)',
    '\t\t\t\treturn 0;',
    '\t\t\trjc_skip_to(s, a->fail);',
    '\t\t\treturn s->outcome != RJC_OUT_NONE;',
    '\t\t}',
    '\t}',
  ].join('\n');
}

function rateCheckCode(): string {
  return c`

    #define RJC_CHECKS_HOTDROP 2 /* rjc_checks_pass(): the packet is dropped at once */

    /* -m limit / -m hashlimit (bpf/rjc_limit.h): the rule's object \`index\` lives in the state slot
     * rjc_rl_slot gives (shared across generations and interfaces). Spends a token. */
    static __noinline int rjc_rate_check(__u32 gen, __u32 kind, __u32 index, __u32 mode)
    {
    	__u32 k = gen * RJC_RATES + index;
    	const struct rjc_rl_slot *at;

    	if (index >= RJC_RATES)
    		return RJC_HL_NOMATCH;
    	at = bpf_map_lookup_elem(&rjc_rl_slot, &k);
    	if (!at)
    		return RJC_HL_NOMATCH;
    	if (kind == RJC_CHK_LIMIT)
    		return rjc_limit_match(at->slot) ? RJC_HL_MATCH : RJC_HL_NOMATCH;
    #ifdef RJC_USES_HASHLIMIT
    	return rjc_hashlimit_check(at->slot, mode);
    #else
    	return RJC_HL_NOMATCH;
    #endif
    }
  `;
}

function checksCode(usesRate: boolean): string {
  const rateBranch = c`
    #ifdef RJC_USES_RATE
    		if (chk->kind == RJC_CHK_LIMIT || chk->kind == RJC_CHK_HASHLIMIT) {
    			/* Spends a token (or creates a flow): runs once per packet and rule. */
    			int r = rjc_rate_check(s->gen, chk->kind, chk->value, chk->pad[0]);

    			if (r == RJC_HL_HOTDROP)
    				return RJC_CHECKS_HOTDROP;
    			if (r != RJC_HL_MATCH)
    				return 0;
    			continue;
    		}
    #endif
  `;
  return c`
    ${usesRate ? rateCheckCode() : undefined}

    /* Post-checks (conditions the index does not hold): -m mark, -m state, -m conntrack, -m set, -m recent, -m owner${usesRate ? ', -m limit, -m hashlimit' : ''}. */
    static __always_inline int rjc_checks_pass(const struct rjc_walk *s, const struct rjc_action *a)
    {
    	for (__u32 i = 0; i < RJC_CHECKS_PER_SLOT; i++) {
    		__u32 k;
    		const struct rjc_check *chk;

    		if (i >= a->nchecks)
    			break;
    		k = s->gen * RJC_CHECKS + a->check + i;
    		if (a->check + i >= RJC_CHECKS)
    			return 0;
    		chk = bpf_map_lookup_elem(&rjc_chk, &k);
    		if (!chk)
    			return 0;
    ${usesRate ? rateBranch : undefined}
    #ifdef RJC_USES_OWNER
    		if (chk->kind >= RJC_CHK_OWNER_SOCKET && chk->kind <= RJC_CHK_OWNER_GID) {
    			/* -m owner (bpf/rjc_owner.h). */
    			if (!rjc_owner_check(chk->kind, chk->value, chk->mask, chk->pad[0], chk->pad[1]))
    				return 0;
    			continue;
    		}
    #endif
    #ifdef RJC_USES_RECENT
    		if (chk->kind == RJC_CHK_RECENT) {
    			/* -m recent (bpf/rjc_recent.h): updates its table like recent_mt. */
    			if (!rjc_recent_check(chk->value, chk->mask, chk->pad[0], chk->pad[1], chk->negated))
    				return 0;
    			continue;
    		}
    #endif
    #ifdef RJC_USES_SET
    		if (chk->kind == RJC_CHK_SET) {
    			/* -m set (bpf/rjc_set.h). */
    			if (!rjc_set_check(chk->value, chk->pad[0], chk->pad[1], chk->negated))
    				return 0;
    			continue;
    		}
    #endif
    #ifdef RJC_USES_CT
    		if (chk->kind != 1) {
    			/* Connection state (bpf/rjc_ct.h, src/compiler/classify/stateful.ts). */
    			if (!rjc_ct_check(chk->kind, chk->pad[0], chk->pad[1], chk->value, chk->mask, chk->negated))
    				return 0;
    			continue;
    		}
    #endif
    		if (((s->mark & chk->mask) == chk->value) == !!chk->negated)
    			return 0;
    	}
    	return 1;
    }
  `;
}

/** `rules`: the rules constraining `f` (usersByField). */
function stage1Code(f: FieldId, cl: Classified, rules: string): string {
  const users = `/* ${f}: ${fieldDef(f).doc}; rules ${rules} */`;
  const shape = cl.shape.fields.find((x) => x.id === f)!;
  const value = INTERVAL_VALUE[f];
  if (value && 'index' in shape.s1) {
    const size = tableSize(f);
    const groupSize = cl.shape.fields.filter((x) => x.s1.map === shape.s1.map).length;
    return c`
      ${users}
      kt = gen * ${groupSize} + ${shape.s1.index};
      t = bpf_map_lookup_elem(&${shape.s1.map}, &kt);
      if (!t)
      	return -1;
      ${
        unreadMask(f)
          ? `/* No ${f} in header states 0x${unreadMask(f).toString(16)} (RJC_HDR_*): UNREAD, which every rule accepts. */\ns->cls_${f} = (0x${unreadMask(f).toString(16)} >> hdr) & 1 ? rs->unread[RJC_FIELD_${upper(f)}] : ((const struct rjc_cls${size} *)t)->cls[(${value}) & ${size - 1}];`
          : `s->cls_${f} = ((const struct rjc_cls${size} *)t)->cls[(${value}) & ${size - 1}];`
      }
    `;
  }
  const lpm = LPM_SOURCE[f];
  if (lpm) {
    return c`
      ${users}
      /* (For a packet of the other family any class will do: its rules never constrain this field.) */
      k${lpm.bytes}.field = RJC_FIELD_${upper(f)};
      __builtin_memcpy(k${lpm.bytes}.data, ${lpm.expr}, ${lpm.bytes});
      v = bpf_map_lookup_elem(&${shape.s1.map}, &k${lpm.bytes});
      if (!v)
      	return -1;
      s->cls_${f} = v->cls;
    `;
  }
  const ifindex = IFACE_SOURCE[f];
  if (ifindex) {
    return c`
      ${users}
      {
      	__u32 ifindex = ${ifindex};
      	const struct rjc_ifname *name = ifindex ? bpf_map_lookup_elem(&rjc_ifname, &ifindex) : 0;

      	/* No device here (or an unknown one): "", which only -i + / -o + match. */
      	k16.field = RJC_FIELD_${upper(f)};
      	if (name)
      		__builtin_memcpy(k16.data, name->name, 16);
      	else
      		__builtin_memset(k16.data, 0, 16);
      }
      v = bpf_map_lookup_elem(&rjc_s1_a16, &k16);
      if (!v)
      	return -1;
      s->cls_${f} = v->cls;
    `;
  }
  // mac
  return c`
    ${users}
    __builtin_memcpy(km.mac, pkt->smac, 6);
    v = bpf_map_lookup_elem(&rjc_s1_mac, &km);
    s->cls_mac = v ? v->cls : rs->mac_default;
  `;
}
