/**
 * What the runtime needs from a compiled ruleset to put it on an interface, count it and
 * show it: the object file, which programs to attach where, how to size and fill its maps,
 * and what each counter slot counts. The compiler's `maps.json` manifest is turned into this
 * shape by ./manifest.ts; tests build it by hand for small fixture programs.
 *
 * Counter maps hold, per slot and per CPU, `{ __u64 packets; __u64 bytes; }` (16 bytes).
 */
import type { MapsJson } from '../compiler/emit/manifest.js';
import type { MapEntry } from './host-maps.js';

export type Hook = 'tc' | 'xdp';
export type IpFamily = 'ipv4' | 'ipv6';

/** The source rule behind a counter slot. */
export interface RuleRef {
  file: string;
  /** 1-based line of the rule in `file`. */
  line: number;
  /** The rule as written (one logical line), e.g. `-A INPUT -p tcp --dport 23 -j REJECT`. */
  text: string;
}

/**
 * One slot of the counter map. Several slots may count the same source rule (a user chain
 * inlined at several call sites, `-s a,b` expanded): stats sum them.
 */
export interface CounterSlot {
  /** Index in the counter map. */
  index: number;
  family: IpFamily;
  /** The chain the source rule is written in (a user chain for inlined rules). */
  chain: string;
  /** `rule`: a rule's matches counted; `policy`: a built-in chain's policy applied. */
  kind: 'rule' | 'policy';
  /** For `rule` slots. */
  rule?: RuleRef;
  /** The rule's target as iptables -L shows it (ACCEPT, DROP, REJECT, LOG, a chain name, ''). */
  target?: string;
  /** For `policy` slots. */
  policy?: 'ACCEPT' | 'DROP';
  /** Which copy (0-based) of a multi-address rule (`-s a,b`), when it has several. */
  expansion?: number;
  /** How many copies the rule has. */
  expansions?: number;
}

/** Sizes set on a map before load. */
export interface MapSizing {
  name: string;
  maxEntries?: number;
  valueSize?: number;
}

/** A compiled ruleset, ready to load and attach. */
export interface RulesetArtifact {
  /** The rules file it was compiled from (for messages and stats). */
  source: string;
  /** The BPF ELF object (rejectc.bpf.o). */
  objectPath: string;
  hook: Hook;
  /**
   * Program names in the object. TC: `ingress` (INPUT and FORWARD) and, when the ruleset has
   * OUTPUT rules, `egress`. XDP: `ingress` only.
   */
  programs: { ingress: string; egress?: string };
  /** Map sizes to set before load. */
  mapSizes: readonly MapSizing[];
  /** Entries to write after load, by map name (rules, actions, policies, ...). */
  mapEntries: ReadonlyArray<{ name: string; entries: readonly MapEntry[] }>;
  /** The counter map and what each slot counts; absent if the program counts nothing. */
  counters?: { map: string; slots: readonly CounterSlot[] };
  /**
   * Identity of the program's shape (maps and their sizes, program features). Two artifacts
   * with the same shape can replace each other by map updates alone.
   */
  shape: string;
  /**
   * The compiler's manifest, when the artifact comes from `rejectc compile`: then a ruleset of
   * the same shape replaces it by writing the other generation and flipping `rjc_gen`.
   */
  manifest?: MapsJson;
  /** The generation `mapEntries` and `counters` address (0 when absent). */
  gen?: 0 | 1;
}

/** Bytes of one counter value per CPU: packets and bytes, u64 each. */
export const COUNTER_VALUE_SIZE = 16;

/**
 * A stable identity for a counter slot across rulesets, so counters follow their rule through
 * an atomic replace: family, chain, the rule text (and which copy of a multi-address rule)
 * with its occurrence number in that chain (a rule repeated verbatim gets #2, #3, ...), or
 * the chain's policy.
 */
export function slotIdentities(slots: readonly CounterSlot[]): string[] {
  const seen = new Map<string, number>();
  const firstIndexOfRule = new Map<string, string>();
  return slots.map((s) => {
    if (s.kind === 'policy') return `${s.family}|${s.chain}|:policy`;
    const copy = s.expansions && s.expansions > 1 ? `|copy${s.expansion ?? 0}/${s.expansions}` : '';
    const base = `${s.family}|${s.chain}|${s.rule?.text ?? ''}${copy}`;
    // Slots of one source rule (same file:line) share its identity.
    const where = `${base}|${s.rule?.file}:${s.rule?.line}`;
    const known = firstIndexOfRule.get(where);
    if (known) return known;
    const n = (seen.get(base) ?? 0) + 1;
    seen.set(base, n);
    const id = `${base}|#${n}`;
    firstIndexOfRule.set(where, id);
    return id;
  });
}
