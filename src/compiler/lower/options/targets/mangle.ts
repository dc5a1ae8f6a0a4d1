/**
 * mangle-table targets (libxt_TOS.c, libxt_DSCP.c, libipt_TTL.c, libip6t_HL.c, libipt_ECN.c,
 * libxt_CLASSIFY.c, libxt_TCPMSS.c, libxt_CHECKSUM.c, libxt_TPROXY.c), in canonical text.
 */
import { canonicalAddress } from '../../../values/addresses.js';
import { hex, parseUint, strtoul, UINT8_MAX } from '../../../values/numbers.js';
import { serviceToPort } from '../../../values/ports.js';
import { invalid, ok, type Parsed } from '../../../values/result.js';
import { parseMarkValue } from '../matches/simple.js';
import { parseDscp, parseDscpClass, parseTos } from '../matches/tos-dscp-ecn.js';
import type { FinishCall, TargetSpec } from '../spec.js';
import { defineOtherTarget, flag, requireOne, ruleProtocol, valued, type OtherOptionDef } from './other.js';

const hex2 = (n: number) => `0x${(n & 0xff).toString(16).padStart(2, '0')}`;

function byteOp(name: string, toWords: (v: number) => string[]): OtherOptionDef {
  return {
    names: [name],
    slot: 0,
    conflicts: ['set-tos', 'and-tos', 'or-tos', 'xor-tos'].filter((n) => n !== name),
    words(call) {
      const v = parseUint(call.arg(), 0, UINT8_MAX);
      return v === undefined ? invalid('TOS value', call.arg(), 'expected 0 to 0xff') : ok(toWords(v));
    },
  };
}

export const tosTarget: TargetSpec = defineOtherTarget({
  name: 'TOS',
  options: [
    {
      names: ['set-tos'],
      slot: 0,
      conflicts: ['and-tos', 'or-tos', 'xor-tos'],
      words(call) {
        const t = parseTos(call.arg());
        return t.ok ? ok(['--set-tos', `${hex2(t.value.value)}/${hex2(t.value.mask)}`]) : t;
      },
    },
    byteOp('and-tos', (v) => ['--set-tos', `0x00/${hex2(~v)}`]),
    byteOp('or-tos', (v) => ['--set-tos', `${hex2(v)}/${hex2(v)}`]),
    byteOp('xor-tos', (v) => ['--set-tos', `${hex2(v)}/0x00`]),
  ],
  check: (state, call) => state.slots.has(0) || (call.given.length > 0 ? false : requireOne(call, 'TOS', '--set-tos, --and-tos, --or-tos or --xor-tos')),
});

const dscpWords = (p: Parsed<number>): Parsed<string[]> => (p.ok ? ok(['--set-dscp', hex2(p.value)]) : p);

export const dscpTarget: TargetSpec = defineOtherTarget({
  name: 'DSCP',
  options: [
    { names: ['set-dscp'], slot: 0, conflicts: ['set-dscp-class'], words: (call) => dscpWords(parseDscp(call.arg())) },
    { names: ['set-dscp-class'], slot: 0, conflicts: ['set-dscp'], words: (call) => dscpWords(parseDscpClass(call.arg())) },
  ],
  check: (state, call) => state.slots.has(0) || (call.given.length > 0 ? false : requireOne(call, 'DSCP', '--set-dscp or --set-dscp-class')),
});

function hopTarget(name: 'TTL' | 'HL', prefix: 'ttl' | 'hl', family: 'ipv4' | 'ipv6'): TargetSpec {
  const ops = ['set', 'inc', 'dec'].map((o) => `${prefix}-${o}`);
  return defineOtherTarget({
    name,
    family,
    options: ops.map((op) =>
      valued([op], 0, (text) => {
        const min = op.endsWith('set') ? 0 : 1;
        const v = parseUint(text, min, UINT8_MAX);
        return v === undefined ? invalid('value', text, `expected ${min} to 255`) : ok(String(v));
      }, ops.filter((o) => o !== op)),
    ),
    check: (state, call) => state.slots.has(0) || (call.given.length > 0 ? false : requireOne(call, name, ops.map((o) => `--${o}`).join(', '))),
  });
}

export const ttlTarget = hopTarget('TTL', 'ttl', 'ipv4');
export const hlTarget = hopTarget('HL', 'hl', 'ipv6');

function requireTcp(call: FinishCall, target: string): boolean {
  if (ruleProtocol(call) === 6) return true;
  call.error('E207', { option: `-j ${target}`, needs: '-p tcp' });
  return false;
}

const bit = (name: string, slot: number, max: number): OtherOptionDef =>
  valued([name], slot, (text) => {
    const v = parseUint(text, 0, max);
    return v === undefined ? invalid('value', text, `expected 0 to ${max}`) : ok(String(v));
  });

export const ecnTarget: TargetSpec = defineOtherTarget({
  name: 'ECN',
  family: 'ipv4',
  options: [flag('ecn-tcp-remove', 0, ['ecn-tcp-cwr', 'ecn-tcp-ece']), bit('ecn-tcp-ece', 1, 1), bit('ecn-tcp-cwr', 2, 1), bit('ecn-ip-ect', 3, 3)],
  check(state, call) {
    if (state.slots.size === 0) return call.given.length > 0 ? false : requireOne(call, 'ECN', '--ecn-tcp-remove, --ecn-tcp-ece, --ecn-tcp-cwr or --ecn-ip-ect');
    const tcpOps = state.slots.has(0) || state.slots.has(1) || state.slots.has(2);
    return !tcpOps || requireTcp(call, 'ECN');
  },
});

function chainCheck(call: FinishCall, what: string, allowed: string[]): boolean {
  const chain = call.ctx.chain;
  if (['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'].includes(chain) && !allowed.includes(chain)) {
    call.error('E213', { what, chain, reason: `it is only valid in ${allowed.join(', ')}` });
    return false;
  }
  return true;
}

export const classifyTarget: TargetSpec = defineOtherTarget({
  name: 'CLASSIFY',
  options: [
    valued(['set-class'], 0, (text) => {
      const colon = text.indexOf(':');
      const major = colon > 0 ? strtoul(text, 16) : undefined;
      const minor = colon > 0 ? strtoul(text, 16, colon + 1) : undefined;
      if (!major || !minor || major.end !== colon || minor.end !== text.length || major.value > 0xffff || minor.value > 0xffff) {
        return invalid('class', text, 'expected MAJOR:MINOR in hexadecimal');
      }
      const h4 = (n: number) => n.toString(16).padStart(4, '0');
      return ok(`${h4(major.value)}:${h4(minor.value)}`);
    }),
  ],
  check: (state, call) => (state.slots.has(0) ? chainCheck(call, '-j CLASSIFY', ['FORWARD', 'OUTPUT', 'POSTROUTING']) : call.given.length > 0 ? false : requireOne(call, 'CLASSIFY', '--set-class')),
});

export const tcpmssTarget: TargetSpec = defineOtherTarget({
  name: 'TCPMSS',
  options: [
    valued(['set-mss'], 0, (text) => {
      const v = parseUint(text, 0, 0xffff);
      return v === undefined ? invalid('MSS', text, 'expected 0 to 65535') : ok(String(v));
    }, ['clamp-mss-to-pmtu']),
    flag('clamp-mss-to-pmtu', 0, ['set-mss']),
  ],
  check(state, call) {
    if (!state.slots.has(0)) return call.given.length > 0 ? false : requireOne(call, 'TCPMSS', '--set-mss or --clamp-mss-to-pmtu');
    if (!requireTcp(call, 'TCPMSS')) return false;
    if (call.ctx.backend === 'legacy' && !call.matches.some((m) => m.module === 'tcp' && m.flags && !m.flags.negated && (m.flags.value.mask & m.flags.value.comp & 0x02) !== 0)) {
      call.error('E217', { what: '-j TCPMSS', reason: 'the legacy kernel target only accepts rules that match TCP SYN packets (add --syn or --tcp-flags SYN,RST SYN)' });
      return false;
    }
    return state.slots.get(0)![0] !== '--clamp-mss-to-pmtu' || chainCheck(call, '-j TCPMSS --clamp-mss-to-pmtu', ['FORWARD', 'OUTPUT', 'POSTROUTING']);
  },
});

export const checksumTarget: TargetSpec = defineOtherTarget({
  name: 'CHECKSUM',
  options: [flag('checksum-fill', 0)],
  check: (state, call) => state.slots.has(0) || requireOne(call, 'CHECKSUM', '--checksum-fill'),
});

export const tproxyTarget: TargetSpec = defineOtherTarget({
  name: 'TPROXY',
  options: [
    valued(['on-port'], 0, (text) => {
      const n = parseUint(text, 0, 0xffff) ?? serviceToPort(text);
      return n === undefined ? invalid('port', text, 'expected a port number or service name') : ok(String(n));
    }),
    valued(['on-ip'], 1, (text, call) => {
      const a = canonicalAddress(text, call.ctx.family);
      return a === undefined ? invalid('address', text) : ok(a);
    }),
    valued(['tproxy-mark'], 2, (text) => {
      const m = parseMarkValue(text);
      return m.ok ? ok(`${hex(m.value.value)}/${hex(m.value.mask)}`) : m;
    }),
  ],
  check(state, call) {
    if (!state.slots.has(0)) return call.given.includes('on-port') ? false : requireOne(call, 'TPROXY', '--on-port');
    const p = ruleProtocol(call);
    if (p !== 6 && p !== 17) {
      call.error('E207', { option: '-j TPROXY', needs: '-p tcp or -p udp' });
      return false;
    }
    if (!state.slots.has(1)) state.slots.set(1, ['--on-ip', call.ctx.family === 'ipv4' ? '0.0.0.0' : '::']);
    if (!state.slots.has(2)) state.slots.set(2, ['--tproxy-mark', '0x0/0x0']);
    return chainCheck(call, '-j TPROXY', ['PREROUTING']);
  },
});
