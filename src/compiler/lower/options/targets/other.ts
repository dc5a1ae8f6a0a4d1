/**
 * A small framework for the targets rejectc parses but does not compile (nat, mangle and raw
 * targets, NFLOG, ...). Each option turns its argument into canonical iptables-save words and
 * puts them in a numbered slot; the IR `OtherTarget.options` is the slots in order, which is
 * the order of the target's iptables `save` function.
 */
import type { Family, OtherTarget } from '../../../ir.js';
import type { Parsed } from '../../../values/result.js';
import { defineTarget, type FinishCall, type OptionCall, type OptionSpec, type TargetSpec } from '../spec.js';

export interface OtherState {
  slots: Map<number, string[]>;
  /** Free-form values options share with `finish` (e.g. a mask given separately). */
  values: Map<string, number | string | boolean>;
}

export interface OtherOptionDef {
  names: string[];
  args?: 0 | 1 | 2;
  /** Save position. Options sharing a slot overwrite each other. */
  slot: number;
  conflicts?: string[];
  /** Canonical words (including the option name) for this option, or a parse problem. */
  words(call: OptionCall, state: OtherState): Parsed<string[]>;
}

export interface OtherTargetDef {
  name: string;
  family?: Family;
  options: OtherOptionDef[];
  /**
   * Final check and defaults: may add slots, report errors (returning false drops the target).
   * Runs before the slots are joined.
   */
  check?(state: OtherState, call: FinishCall): boolean;
}

/** Words of a flag option: just `--name`. */
export function flag(name: string, slot: number, conflicts?: string[]): OtherOptionDef {
  const def: OtherOptionDef = { names: [name], args: 0, slot, words: () => ({ ok: true, value: [`--${name}`] }) };
  if (conflicts) def.conflicts = conflicts;
  return def;
}

/** An option whose canonical form is `--name VALUE` with VALUE from `parse`. */
export function valued(names: string[], slot: number, parse: (text: string, call: OptionCall) => Parsed<string>, conflicts?: string[]): OtherOptionDef {
  const def: OtherOptionDef = {
    names,
    args: 1,
    slot,
    words(call) {
      const v = parse(call.arg(), call);
      return v.ok ? { ok: true, value: [`--${names[0]}`, v.value] } : v;
    },
  };
  if (conflicts) def.conflicts = conflicts;
  return def;
}

/** Builds the TargetSpec of a kept-but-not-compiled target. */
export function defineOtherTarget(def: OtherTargetDef): TargetSpec {
  const options: OptionSpec<OtherState>[] = def.options.map((o) => {
    const spec: OptionSpec<OtherState> = {
      names: o.names,
      args: o.args ?? 1,
      apply(state, call) {
        const words = call.value(o.words(call, state));
        if (words) state.slots.set(o.slot, words);
      },
    };
    if (o.conflicts) spec.conflicts = o.conflicts;
    return spec;
  });
  const spec: TargetSpec = defineTarget<OtherState>({
    name: def.name,
    options,
    init: () => ({ slots: new Map(), values: new Map() }),
    finish(state, call): OtherTarget | undefined {
      if (def.check && !def.check(state, call)) return undefined;
      const slots = [...state.slots.entries()].sort((a, b) => a[0] - b[0]).flatMap(([, w]) => w);
      return { kind: 'target', target: 'other', name: def.name, options: slots, span: call.span };
    },
  });
  if (def.family) spec.family = def.family;
  return spec;
}

/** Reports that one of `options` is required; returns false. */
export function requireOne(call: FinishCall, target: string, options: string): false {
  call.error('E207', { option: `-j ${target}`, needs: options });
  return false;
}

/** The rule's protocol, if given and not negated. */
export function ruleProtocol(call: FinishCall): number | undefined {
  const p = call.base.protocol;
  return p && !p.negated ? p.protocol : undefined;
}
