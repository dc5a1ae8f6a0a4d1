/** `-m tos` revision 1, `-m dscp` and `-m ecn` (libxt_tos.c, libxt_dscp.c, libxt_ecn.c). */
import type { DscpMatch, EcnMatch, Neg, TosMatch } from '../../../ir.js';
import { parseUint, UINT8_MAX } from '../../../values/numbers.js';
import { invalid, ok, type Parsed } from '../../../values/result.js';
import { defineMatch } from '../spec.js';
import { requireProtocol } from './tcp-udp.js';

/** Symbolic TOS names (case-insensitive); they imply mask 0x3f. */
const TOS_NAMES: Readonly<Record<string, number>> = {
  'minimize-delay': 0x10,
  'maximize-throughput': 0x08,
  'maximize-reliability': 0x04,
  'minimize-cost': 0x02,
  'normal-service': 0x00,
};

/** `--tos value[/mask]` (mask 0xff by default) or a symbolic name (mask 0x3f). */
export function parseTos(text: string): Parsed<{ value: number; mask: number }> {
  const named = TOS_NAMES[text.toLowerCase()];
  if (named !== undefined) return ok({ value: named, mask: 0x3f });
  const slash = text.indexOf('/');
  const value = parseUint(slash < 0 ? text : text.slice(0, slash), 0, UINT8_MAX);
  const mask = slash < 0 ? UINT8_MAX : parseUint(text.slice(slash + 1), 0, UINT8_MAX);
  if (value === undefined || mask === undefined) return invalid('TOS value', text, 'expected value[/mask] 0 to 0xff or a name such as Minimize-Delay');
  return ok({ value, mask });
}

export const tosMatch = defineMatch<{ tos?: Neg<{ value: number; mask: number }> }>({
  name: 'tos',
  options: [
    {
      names: ['tos'],
      args: 1,
      invert: true,
      apply(state, call) {
        const v = call.value(parseTos(call.arg()));
        if (v) state.tos = call.neg(v);
      },
    },
  ],
  init: () => ({}),
  finish(state, call): TosMatch | undefined {
    if (!state.tos) {
      if (!call.given.includes('tos')) call.error('E207', { option: '-m tos', needs: '--tos' });
      return undefined;
    }
    return { kind: 'match', module: 'tos', span: call.span, tos: state.tos };
  },
});

/** DiffServ class names (case-insensitive) and their DSCP values. */
export const DSCP_CLASSES: Readonly<Record<string, number>> = {
  CS0: 0x00, CS1: 0x08, CS2: 0x10, CS3: 0x18, CS4: 0x20, CS5: 0x28, CS6: 0x30, CS7: 0x38, BE: 0x00,
  AF11: 0x0a, AF12: 0x0c, AF13: 0x0e, AF21: 0x12, AF22: 0x14, AF23: 0x16, AF31: 0x1a, AF32: 0x1c,
  AF33: 0x1e, AF41: 0x22, AF42: 0x24, AF43: 0x26, EF: 0x2e,
};

/** `--dscp-class` names (CS0..CS7, AF11..AF43, EF, BE) as their DSCP value. */
export function parseDscpClass(text: string): Parsed<number> {
  const v = DSCP_CLASSES[text.toUpperCase()];
  return v === undefined ? invalid('DSCP class', text, 'expected CS0-CS7, AF11-AF43, EF or BE') : ok(v);
}

/** `--dscp` values 0..63 (base 0). */
export function parseDscp(text: string): Parsed<number> {
  const v = parseUint(text, 0, 63);
  return v === undefined ? invalid('DSCP value', text, 'expected 0 to 63 (0x3f)') : ok(v);
}

export const dscpMatch = defineMatch<{ dscp?: Neg<number> }>({
  name: 'dscp',
  options: [
    {
      names: ['dscp'],
      args: 1,
      invert: true,
      conflicts: ['dscp-class'],
      apply(state, call) {
        const v = call.value(parseDscp(call.arg()));
        if (v !== undefined) state.dscp = call.neg(v);
      },
    },
    {
      names: ['dscp-class'],
      args: 1,
      invert: true,
      conflicts: ['dscp'],
      apply(state, call) {
        const v = call.value(parseDscpClass(call.arg()));
        if (v !== undefined) state.dscp = call.neg(v);
      },
    },
  ],
  init: () => ({}),
  finish(state, call): DscpMatch | undefined {
    if (!state.dscp) {
      if (call.given.length === 0) call.error('E207', { option: '-m dscp', needs: '--dscp or --dscp-class' });
      return undefined;
    }
    return { kind: 'match', module: 'dscp', span: call.span, dscp: state.dscp };
  },
});

type EcnState = Partial<Omit<EcnMatch, 'kind' | 'module' | 'span'>>;

export const ecnMatch = defineMatch<EcnState>({
  name: 'ecn',
  options: [
    { names: ['ecn-tcp-cwr'], args: 0, invert: true, apply: (s, call) => void (s.tcpCwr = call.neg(true as const) as Neg<true>) },
    { names: ['ecn-tcp-ece'], args: 0, invert: true, apply: (s, call) => void (s.tcpEce = call.neg(true as const) as Neg<true>) },
    {
      names: ['ecn-ip-ect'],
      args: 1,
      invert: true,
      apply(state, call) {
        const v = parseUint(call.arg(), 0, 3);
        if (v === undefined) call.error('E204', { what: 'ECT value', value: call.arg(), detail: ': expected 0 to 3' });
        else state.ipEct = call.neg(v);
      },
    },
  ],
  init: () => ({}),
  finish(state, call): EcnMatch | undefined {
    if (call.given.length === 0) {
      call.error('E207', { option: '-m ecn', needs: '--ecn-tcp-cwr, --ecn-tcp-ece or --ecn-ip-ect' });
      return undefined;
    }
    if ((state.tcpCwr || state.tcpEce) && !requireProtocol(call, 'ecn --ecn-tcp-*', 6, 'tcp')) return undefined;
    return { kind: 'match', module: 'ecn', span: call.span, ...state };
  },
});
