/**
 * `-m tcp` and `-m udp` (libxt_tcp.c, libxt_udp.c; kernel xt_tcpudp.c). Both need the rule's
 * protocol to be exactly theirs and not negated (the kernel's checkentry).
 */
import type { Neg, Range, TcpFlags, TcpMatch, UdpMatch } from '../../../ir.js';
import { parseUint, UINT8_MAX } from '../../../values/numbers.js';
import { parsePortRange } from '../../../values/ports.js';
import { parseTcpFlagList } from '../../../values/tcp-flags.js';
import { defineMatch, type FinishCall, type OptionSpec } from '../spec.js';

interface PortState {
  sport?: Neg<Range>;
  dport?: Neg<Range>;
}

/**
 * `--sport`/`--dport`. Service names are looked up for `proto` (libxt_tcp passes "tcp");
 * libxt_udp's port parser passes no protocol, so `-p udp --dport ssh` is 22 as in iptables.
 */
export function portOptions<S extends PortState>(proto: string | undefined): OptionSpec<S>[] {
  const make = (key: 'sport' | 'dport', names: string[]): OptionSpec<S> => ({
    names,
    args: 1,
    invert: true,
    apply(state, call) {
      const r = call.value(parsePortRange(call.arg(), proto, proto === 'tcp' ? 'xtables' : 'xtopt'));
      if (r) state[key] = call.neg(r);
    },
  });
  return [make('sport', ['source-port', 'sport']), make('dport', ['destination-port', 'dport'])];
}

/** A range that iptables does not store: all ports, not negated (`--sport :`). */
function keepRange(r: Neg<Range> | undefined): Neg<Range> | undefined {
  return r && (r.negated || r.value.from !== 0 || r.value.to !== 0xffff) ? r : undefined;
}

/** The kernel's checkentry for protocol matches: `-p PROTO`, not negated. */
export function requireProtocol(call: FinishCall, module: string, proto: number, protoName: string): boolean {
  const p = call.base.protocol;
  if (p && p.protocol === proto && !p.negated) return true;
  call.error('E207', { option: `-m ${module}`, needs: `-p ${protoName}` }, call.span, p?.negated ? ['the protocol must not be negated'] : undefined);
  return false;
}

/** `--syn`: FIN,SYN,RST,ACK / SYN, exactly as iptables stores it. */
export const SYN_FLAGS: TcpFlags = { mask: 0x17, comp: 0x02 };

interface TcpState extends PortState {
  flags?: Neg<TcpFlags>;
  option?: Neg<number>;
}

export const tcpMatch = defineMatch<TcpState>({
  name: 'tcp',
  options: [
    ...portOptions<TcpState>('tcp'),
    {
      names: ['syn'],
      args: 0,
      invert: true,
      conflicts: ['tcp-flags'],
      apply(state, call) {
        state.flags = call.neg(SYN_FLAGS);
      },
    },
    {
      names: ['tcp-flags'],
      args: 2,
      invert: true,
      conflicts: ['syn'],
      apply(state, call) {
        const comp = call.arg(1);
        if (comp.startsWith('-') || comp.startsWith('!')) {
          call.error('E203', { option: call.written }, 0, ['--tcp-flags takes two values: the flags to examine and the flags that must be set']);
          return;
        }
        const mask = call.value(parseTcpFlagList(call.arg(0)), 0);
        const set = call.value(parseTcpFlagList(comp), 1);
        if (mask !== undefined && set !== undefined) state.flags = call.neg({ mask, comp: set });
      },
    },
    {
      names: ['tcp-option'],
      args: 1,
      invert: true,
      apply(state, call) {
        const n = parseUint(call.arg(), 1, UINT8_MAX);
        if (n === undefined) call.error('E204', { what: 'TCP option', value: call.arg(), detail: ': expected a number 1 to 255' });
        else state.option = call.neg(n);
      },
    },
  ],
  init: () => ({}),
  finish(state, call): TcpMatch | undefined {
    if (!requireProtocol(call, 'tcp', 6, 'tcp')) return undefined;
    const m: TcpMatch = { kind: 'match', module: 'tcp', span: call.span };
    const sport = keepRange(state.sport);
    const dport = keepRange(state.dport);
    if (sport) m.sport = sport;
    if (dport) m.dport = dport;
    if (state.flags && (state.flags.negated || state.flags.value.mask !== 0)) m.flags = state.flags;
    if (state.option) m.option = state.option;
    return m;
  },
});

export const udpMatch = defineMatch<PortState>({
  name: 'udp',
  options: portOptions<PortState>(undefined),
  init: () => ({}),
  finish(state, call): UdpMatch | undefined {
    if (!requireProtocol(call, 'udp', 17, 'udp')) return undefined;
    const m: UdpMatch = { kind: 'match', module: 'udp', span: call.span };
    const sport = keepRange(state.sport);
    const dport = keepRange(state.dport);
    if (sport) m.sport = sport;
    if (dport) m.dport = dport;
    return m;
  },
});
