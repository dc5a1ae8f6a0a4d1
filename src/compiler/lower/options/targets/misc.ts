/**
 * Other non-terminal or non-filter targets found in real rulesets (libxt_NFLOG.c, libxt_CT.c,
 * libxt_NOTRACK.c, libxt_AUDIT.c, libxt_SET.c, libxt_RATEEST.c, libxt_TRACE.c, libxt_TEE.c,
 * libxt_NFQUEUE.c, libxt_CONNSECMARK.c, libxt_SYNPROXY.c), in canonical text.
 */
import { canonicalAddress } from '../../../values/addresses.js';
import { parseUint, UINT16_MAX, UINT32_MAX } from '../../../values/numbers.js';
import { invalid, ok, type Parsed } from '../../../values/result.js';
import { saveString } from '../../../print/quote.js';
import type { TargetSpec } from '../spec.js';
import { defineOtherTarget, flag, requireOne, ruleProtocol, valued, type OtherOptionDef } from './other.js';

function uint(max: number, what: string, min = 0): (text: string) => Parsed<string> {
  return (text) => {
    const v = parseUint(text, min, max);
    return v === undefined ? invalid(what, text, `expected ${min} to ${max}`) : ok(String(v));
  };
}

/** XT_NFLOG prefix buffer (64) minus the terminating NUL, as the nf_tables back-end keeps it. */
const NFLOG_PREFIX_MAX = 63;

export const nflogTarget: TargetSpec = defineOtherTarget({
  name: 'NFLOG',
  options: [
    { names: ['nflog-prefix'], slot: 0, words: (call) => ok(call.arg() === '' ? [] : ['--nflog-prefix', saveString(call.arg().slice(0, NFLOG_PREFIX_MAX))]) },
    { names: ['nflog-group'], slot: 1, words: (call) => { const v = uint(UINT16_MAX, 'group')(call.arg()); return v.ok ? ok(v.value === '0' ? [] : ['--nflog-group', v.value]) : v; } },
    valued(['nflog-size'], 2, uint(UINT32_MAX, 'size'), ['nflog-range']),
    valued(['nflog-range'], 2, uint(UINT32_MAX, 'range'), ['nflog-size']),
    { names: ['nflog-threshold'], slot: 3, words: (call) => { const v = uint(UINT16_MAX, 'threshold')(call.arg()); return v.ok ? ok(v.value === '0' ? [] : ['--nflog-threshold', v.value]) : v; } },
  ],
});

export const notrackTarget: TargetSpec = defineOtherTarget({ name: 'NOTRACK', options: [] });
export const traceTarget: TargetSpec = defineOtherTarget({ name: 'TRACE', options: [] });

const CT_EVENTS = ['new', 'related', 'destroy', 'reply', 'assured', 'protoinfo', 'helper', 'mark'];

function eventList(name: string, known: string[], slot: number): OtherOptionDef {
  return valued([name], slot, (text) => {
    const set = new Set<string>();
    for (const e of text.split(',')) {
      if (!known.includes(e)) return invalid('event type', e, `expected ${known.join(', ')}`);
      set.add(e);
    }
    return ok(known.filter((k) => set.has(k)).join(','));
  });
}

function zone(name: string): OtherOptionDef {
  return {
    names: [name],
    slot: 5,
    conflicts: ['zone', 'zone-orig', 'zone-reply'].filter((z) => z !== name),
    words(call) {
      const v = parseUint(call.arg(), 0, UINT16_MAX);
      if (v === undefined) return invalid('zone', call.arg(), 'expected 0 to 65535');
      return ok(v === 0 ? [] : [`--${name}`, String(v)]);
    },
  };
}

export const ctTarget: TargetSpec = defineOtherTarget({
  name: 'CT',
  options: [
    flag('notrack', 0),
    { names: ['helper'], slot: 1, words: (call) => ok(call.arg() === '' ? [] : ['--helper', call.arg()]) },
    { names: ['timeout'], slot: 2, words: (call) => ok(call.arg() === '' ? [] : ['--timeout', call.arg()]) },
    eventList('ctevents', CT_EVENTS, 3),
    eventList('expevents', ['new'], 4),
    zone('zone'),
    zone('zone-orig'),
    zone('zone-reply'),
  ],
});

export const auditTarget: TargetSpec = defineOtherTarget({
  name: 'AUDIT',
  options: [
    valued(['type'], 0, (text) => {
      const t = text.toLowerCase();
      return ['accept', 'drop', 'reject'].includes(t) ? ok(t) : invalid('audit type', text, 'expected accept, drop or reject');
    }),
  ],
  check: (state, call) => state.slots.has(0) || (call.given.length > 0 ? false : requireOne(call, 'AUDIT', '--type')),
});

function setOp(name: string, slot: number): OtherOptionDef {
  return {
    names: [name],
    args: 2,
    slot,
    words(call) {
      const dirs = call.arg(1);
      if (!dirs.split(',').every((d) => d === 'src' || d === 'dst') || dirs.split(',').length > 6) return invalid('set direction list', dirs, 'expected src or dst separated by commas');
      if (call.arg(0).length > 31) return invalid('set name', call.arg(0), 'at most 31 characters');
      return ok([`--${name}`, call.arg(0), dirs]);
    },
  };
}

export const setTarget: TargetSpec = defineOtherTarget({
  name: 'SET',
  options: [setOp('add-set', 0), setOp('del-set', 1), valued(['timeout'], 3, uint(UINT32_MAX, 'timeout')), flag('exist', 2)],
  check: (state, call) => state.slots.has(0) || state.slots.has(1) || (call.given.length > 0 ? false : requireOne(call, 'SET', '--add-set or --del-set')),
});

/** RATEEST time values: a number with s/sec/secs, ms/msec/msecs or us/usec/usecs (default us). */
function parseRateestTime(text: string): number | undefined {
  const m = /^\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)(.*)$/.exec(text);
  if (!m) return undefined;
  const unit = m[2]!.toLowerCase();
  const scale = unit === '' ? 1 : ['s', 'sec', 'secs'].includes(unit) ? 1e6 : ['ms', 'msec', 'msecs'].includes(unit) ? 1e3 : ['us', 'usec', 'usecs'].includes(unit) ? 1 : undefined;
  return scale === undefined ? undefined : Math.trunc(Number(m[1]) * scale);
}

function formatRateestTime(us: number): string {
  if (us >= 1e6) return `${(us / 1e6).toFixed(1)}s`;
  if (us >= 1e3) return `${(us / 1e3).toFixed(1)}ms`;
  return `${us}us`;
}

export const rateestTarget: TargetSpec = defineOtherTarget({
  name: 'RATEEST',
  options: [
    valued(['rateest-name'], 0, (text) => (text === '' || text.length > 15 ? invalid('rate estimator name', text, '1 to 15 characters') : ok(text))),
    {
      names: ['rateest-interval'],
      slot: 8,
      words(call, state) {
        const t = parseRateestTime(call.arg());
        if (t === undefined) return invalid('interval', call.arg(), 'expected a time such as 250ms or 1s');
        state.values.set('interval', t);
        return ok([]);
      },
    },
    {
      names: ['rateest-ewmalog'],
      slot: 9,
      words(call, state) {
        const t = parseRateestTime(call.arg());
        if (t === undefined) return invalid('ewmalog', call.arg(), 'expected a time such as 500ms or 2s');
        state.values.set('ewmalog', t);
        return ok([]);
      },
    },
  ],
  check(state, call) {
    const interval = state.values.get('interval') as number | undefined;
    const ewma = state.values.get('ewmalog') as number | undefined;
    if (!state.slots.has(0) || interval === undefined || ewma === undefined) return requireOne(call, 'RATEEST', '--rateest-name, --rateest-interval and --rateest-ewmalog');
    let k = 0;
    while (k <= 5 && interval > 2 ** k * 250_000) k++;
    if (k > 5) {
      call.error('E217', { what: '-j RATEEST', reason: 'the interval is too large (at most 8s)' });
      return false;
    }
    let log = 1;
    for (; log < 32; log++) if (interval / -Math.log(1 - 1 / 2 ** log) > ewma) break;
    log--;
    if (log === 0 || log >= 31) {
      call.error('E217', { what: '-j RATEEST', reason: 'the ewmalog value is out of range' });
      return false;
    }
    const shown = 2 ** k * 250_000;
    state.slots.set(1, ['--rateest-interval', formatRateestTime(shown), '--rateest-ewmalog', formatRateestTime(shown * 2 ** log)]);
    return true;
  },
});

export const teeTarget: TargetSpec = defineOtherTarget({
  name: 'TEE',
  options: [
    valued(['gateway'], 0, (text, call) => {
      const a = canonicalAddress(text, call.ctx.family);
      return a === undefined ? invalid('gateway address', text) : ok(a);
    }),
    valued(['oif'], 1, (text) => (text.length > 15 ? invalid('interface name', text, 'at most 15 characters') : ok(text))),
  ],
  check: (state, call) => state.slots.has(0) || (call.given.includes('gateway') ? false : requireOne(call, 'TEE', '--gateway')),
});

export const nfqueueTarget: TargetSpec = defineOtherTarget({
  name: 'NFQUEUE',
  options: [
    valued(['queue-num'], 0, uint(UINT16_MAX, 'queue number'), ['queue-balance']),
    valued(['queue-balance'], 0, (text) => {
      const colon = text.indexOf(':');
      if (colon < 0) return invalid('queue range', text, 'expected first:last');
      const a = text.slice(0, colon);
      const b = text.slice(colon + 1);
      const lo = a === '' ? 0 : parseUint(a, 0, UINT16_MAX - 1);
      const hi = b === '' ? UINT16_MAX - 1 : parseUint(b, 0, UINT16_MAX - 1);
      if (lo === undefined || hi === undefined) return invalid('queue range', text, 'expected first:last, queues 0 to 65534');
      if (lo >= hi) return invalid('queue range', text, 'the first queue must be lower than the last');
      return ok(`${lo}:${hi}`);
    }, ['queue-num']),
    flag('queue-bypass', 1),
    flag('queue-cpu-fanout', 2),
  ],
  check(state, call) {
    if (state.slots.has(2) && state.slots.get(0)?.[0] !== '--queue-balance') return requireOne(call, 'NFQUEUE --queue-cpu-fanout', '--queue-balance');
    if (!state.slots.has(0)) state.slots.set(0, ['--queue-num', '0']);
    return true;
  },
});

export const connsecmarkTarget: TargetSpec = defineOtherTarget({
  name: 'CONNSECMARK',
  options: [flag('save', 0, ['restore']), flag('restore', 0, ['save'])],
  check: (state, call) => state.slots.has(0) || requireOne(call, 'CONNSECMARK', '--save or --restore'),
});

export const synproxyTarget: TargetSpec = defineOtherTarget({
  name: 'SYNPROXY',
  options: [flag('sack-perm', 0), flag('timestamp', 1), valued(['wscale'], 2, uint(14, 'window scale')), valued(['mss'], 3, uint(UINT16_MAX, 'MSS')), flag('ecn', 4)],
  check(_state, call) {
    if (ruleProtocol(call) === 6) return true;
    call.error('E207', { option: '-j SYNPROXY', needs: '-p tcp' });
    return false;
  },
});
