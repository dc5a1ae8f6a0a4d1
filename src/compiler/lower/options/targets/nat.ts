/**
 * nat-table targets (libxt_NAT.c, libxt_MASQUERADE.c, libxt_REDIRECT.c): DNAT, SNAT,
 * MASQUERADE, REDIRECT. Kept in canonical iptables-save text; rejectc does not compile nat.
 */
import type { Family } from '../../../ir.js';
import { formatIpv4, formatIpv6, parseDottedStrict, parseIpv6 } from '../../../values/addresses.js';
import { strtoul, UINT16_MAX } from '../../../values/numbers.js';
import { serviceToPort } from '../../../values/ports.js';
import { invalid, ok, type Parsed } from '../../../values/result.js';
import type { FinishCall, TargetSpec } from '../spec.js';
import { defineOtherTarget, flag, requireOne, ruleProtocol } from './other.js';

/** Protocols with ports that NAT can map (tcp, udp, sctp, dccp). */
const PORT_PROTOS = new Set([6, 17, 132, 33]);

function portsAllowed(call: FinishCall, state: { values: Map<string, unknown> }, target: string): boolean {
  if (!state.values.get('ports')) return true;
  const p = ruleProtocol(call);
  if (p !== undefined && PORT_PROTOS.has(p)) return true;
  call.error('E207', { option: `-j ${target} with a port`, needs: '-p tcp, -p udp, -p sctp or -p dccp' });
  return false;
}

/** A leading number (base 0) of `text` from `from`: value and end, or undefined. */
function leadingNumber(text: string, from = 0): { value: number; end: number } | undefined {
  const r = strtoul(text, 0, from);
  if (r.end === from || r.value > UINT16_MAX) return undefined;
  return r;
}

/** One port: a number (possibly followed by more text) or a whole service name. */
function portAt(text: string): { value: number; rest: string } | undefined {
  const n = leadingNumber(text);
  if (n) return { value: n.value, rest: text.slice(n.end) };
  const s = serviceToPort(text);
  return s === undefined ? undefined : { value: s, rest: '' };
}

/** NAT's port part `p[-p][/base]` (libxt_NAT `parse_ports`), canonical text. */
export function parseNatPorts(text: string): Parsed<string> {
  const bad = (detail: string) => invalid('port specification', text, detail);
  const first = portAt(text);
  if (!first) return bad('expected a port number or service name');
  if (first.rest === '') return ok(String(first.value));
  if (!first.rest.startsWith('-')) return bad('unexpected text after the port');
  const second = portAt(first.rest.slice(1));
  if (!second) return bad('expected a port number or service name after "-"');
  if (second.value < first.value) return bad('the first port is greater than the second');
  const range = second.value === first.value ? String(first.value) : `${first.value}-${second.value}`;
  if (second.rest === '') return ok(range);
  if (!second.rest.startsWith('/')) return bad('unexpected text after the port range');
  const baseText = second.rest.slice(1);
  const n = leadingNumber(baseText);
  const base = n && n.end === baseText.length && n.value >= 1 ? n.value : serviceToPort(baseText);
  if (base === undefined) return bad('expected a base port 1 to 65535 after "/"');
  return ok(`${range}/${base}`);
}

function natAddress(text: string, family: Family): string | undefined {
  if (family === 'ipv4') {
    const v = parseDottedStrict(text);
    return v === undefined ? undefined : formatIpv4(v);
  }
  const w = parseIpv6(text);
  return w === undefined ? undefined : formatIpv6(w);
}

/** `--to-destination`/`--to-source`: `[addr[-addr]][:ports]` (IPv6: `[addr[-addr]]:ports`). */
export function parseNatRange(text: string, family: Family): Parsed<{ text: string; ports: boolean }> {
  let addrPart = text;
  let portPart: string | undefined;
  if (family === 'ipv4') {
    const colon = text.indexOf(':');
    if (colon >= 0) {
      addrPart = text.slice(0, colon);
      portPart = text.slice(colon + 1);
    }
  } else if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close < 0) return invalid('address range', text, 'missing "]"');
    addrPart = text.slice(1, close);
    const rest = text.slice(close + 1);
    if (rest !== '') {
      if (!rest.startsWith(':')) return invalid('address range', text, 'expected ":" and ports after "]"');
      portPart = rest.slice(1);
    }
  }
  let addrs = '';
  if (addrPart !== '') {
    const dash = addrPart.indexOf('-');
    const parts = dash < 0 ? [addrPart] : [addrPart.slice(0, dash), addrPart.slice(dash + 1)];
    const canon: string[] = [];
    for (const p of parts) {
      const a = natAddress(p, family);
      if (a === undefined) return invalid('address', p, `expected an ${family === 'ipv4' ? 'IPv4' : 'IPv6'} address`);
      canon.push(a);
    }
    addrs = canon.length === 2 && canon[0] !== canon[1] ? `${canon[0]}-${canon[1]}` : canon[0]!;
  }
  if (portPart === undefined) return ok({ text: addrs, ports: false });
  const ports = parseNatPorts(portPart);
  if (!ports.ok) return ports;
  const shown = family === 'ipv6' && addrs !== '' ? `[${addrs}]` : addrs;
  return ok({ text: `${shown}:${ports.value}`, ports: true });
}

function natTarget(name: 'DNAT' | 'SNAT', option: string): TargetSpec {
  return defineOtherTarget({
    name,
    options: [
      {
        names: [option, 'to'],
        slot: 0,
        words(call, state) {
          const r = parseNatRange(call.arg(), call.ctx.family);
          if (!r.ok) return r;
          state.values.set('ports', r.value.ports);
          return ok([`--${option}`, r.value.text]);
        },
      },
      flag('random', 1),
      flag('random-fully', 2),
      flag('persistent', 3),
    ],
    check(state, call) {
      if (!state.slots.has(0)) return call.given.includes(option) ? false : requireOne(call, name, `--${option}`);
      return portsAllowed(call, state, name);
    },
  });
}

export const dnatTarget = natTarget('DNAT', 'to-destination');
export const snatTarget = natTarget('SNAT', 'to-source');

/** REDIRECT/MASQUERADE `--to-ports p[-p]`: a number or service name, then `-number`. */
export function parseToPorts(text: string): Parsed<string> {
  const bad = (detail: string) => invalid('port range', text, detail);
  const first = portAt(text);
  if (!first) return bad('expected a port number or service name');
  if (first.rest === '') return ok(String(first.value));
  if (!first.rest.startsWith('-')) return bad('unexpected text after the port');
  const n = leadingNumber(first.rest, 1);
  if (!n || n.end !== first.rest.length) return bad('expected a port number after "-"');
  if (n.value < first.value) return bad('the first port is greater than the second');
  return ok(n.value === first.value ? String(first.value) : `${first.value}-${n.value}`);
}

function portTarget(name: 'MASQUERADE' | 'REDIRECT', extra: string[]): TargetSpec {
  return defineOtherTarget({
    name,
    options: [
      {
        names: ['to-ports'],
        slot: 0,
        words(call, state) {
          const r = parseToPorts(call.arg());
          if (!r.ok) return r;
          state.values.set('ports', true);
          return ok(['--to-ports', r.value]);
        },
      },
      ...extra.map((f, i) => flag(f, i + 1)),
    ],
    check: (state, call) => portsAllowed(call, state, name),
  });
}

export const masqueradeTarget = portTarget('MASQUERADE', ['random', 'random-fully']);
export const redirectTarget = portTarget('REDIRECT', ['random']);
