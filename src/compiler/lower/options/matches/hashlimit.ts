/**
 * `-m hashlimit` revision 3 (libxt_hashlimit.c; ../shared/spec/limit-algorithms.md §3).
 * Everything is stored as iptables stores it after its final check, so that printing gives
 * iptables-save's text: avg in 1/1,000,000 s (or a byte cost), burst (packets, or a bucket
 * refill count in byte mode), expire in ms (default: the rate unit, 15 s / 60 s in byte mode),
 * and with `--hashlimit-rate-match` avg divided by the unit and the interval filled in.
 */
import type { HashlimitMatch, HashlimitMode } from '../../../ir.js';
import { parseUint, UINT32_MAX } from '../../../values/numbers.js';
import { atoi, costToBytes, HASHLIMIT_SCALE, parseByteRate, parseHashlimitBurst, parsePacketRate, rateToAvg } from '../../../values/rates.js';
import { invalid, ok, type Parsed } from '../../../values/result.js';
import { defineMatch, type OptionSpec } from '../spec.js';

const MODES: readonly HashlimitMode[] = ['srcip', 'srcport', 'dstip', 'dstport'];

interface HashlimitState {
  invert: boolean;
  rateGiven: boolean;
  avg: number;
  bytes: boolean;
  /** Seconds of the rate unit; 15 for byte rates (XT_HASHLIMIT_BYTE_EXPIRE). */
  mult: number;
  burstValue?: number;
  mode: HashlimitMode[];
  srcmask?: number;
  dstmask?: number;
  name?: string;
  size: number;
  max: number;
  gc: number;
  expire?: number;
  rateMatch: boolean;
  interval: number;
}

function parseMode(text: string): Parsed<HashlimitMode[]> {
  const set = new Set<HashlimitMode>();
  for (const tok of text.split(/[,|]/)) {
    if (tok === '') continue;
    if (!(MODES as readonly string[]).includes(tok)) return invalid('hashlimit mode', text, 'expected a list of srcip, srcport, dstip, dstport');
    set.add(tok as HashlimitMode);
  }
  return ok(MODES.filter((m) => set.has(m)));
}

function rateOption(names: string[], above: boolean, conflicts: string[]): OptionSpec<HashlimitState> {
  return {
    names,
    args: 1,
    invert: true,
    conflicts,
    apply(state, call) {
      const text = call.arg();
      state.invert = above !== call.negated;
      const bytes = parseByteRate(text);
      if (bytes) {
        const cost = call.value(bytes);
        if (cost === undefined) return;
        state.avg = cost;
        state.bytes = true;
        state.mult = 15;
        state.rateGiven = true;
        return;
      }
      const rate = parsePacketRate(text);
      if (!rate) return call.error('E204', { what: 'rate', value: text, detail: ': expected N[/second|/minute|/hour|/day] or N[k|m]b/s' });
      const avg = rateToAvg(rate, HASHLIMIT_SCALE, 64);
      if (avg === 0) return call.error('E204', { what: 'rate', value: text, detail: ': rate too fast (at most 1000000/second)' });
      state.avg = avg;
      state.bytes = false;
      state.mult = rate.mult;
      state.rateGiven = true;
    },
  };
}

function u32(names: string[], set: (s: HashlimitState, v: number) => void, min = 0): OptionSpec<HashlimitState> {
  return {
    names,
    args: 1,
    apply(state, call) {
      const v = parseUint(call.arg(), min, UINT32_MAX);
      if (v === undefined) call.error('E204', { what: `value for --${call.name}`, value: call.arg(), detail: `: expected ${min} to 4294967295` });
      else set(state, v);
    },
  };
}

function maskOption(name: string, key: 'srcmask' | 'dstmask'): OptionSpec<HashlimitState> {
  return {
    names: [name],
    args: 1,
    apply(state, call) {
      const max = call.ctx.family === 'ipv4' ? 32 : 128;
      const v = parseUint(call.arg(), 0, max);
      if (v === undefined) call.error('E204', { what: 'prefix length', value: call.arg(), detail: `: expected 0 to ${max}` });
      else state[key] = v;
    },
  };
}

/** The kernel's overflow check (`user2credits(avg * burst) < user2credits(avg)`, HZ=250). */
function overflows(avg: number, burst: number): boolean {
  const factor = 137438953n;
  const mod = 2n ** 64n;
  const a = BigInt(avg);
  const credits = (u: bigint) => (u * factor) % mod;
  return credits((a * BigInt(burst)) % mod) < credits(a);
}

export const hashlimitMatch = defineMatch<HashlimitState>({
  name: 'hashlimit',
  options: [
    rateOption(['hashlimit-upto'], false, ['hashlimit-above', 'hashlimit']),
    rateOption(['hashlimit-above'], true, ['hashlimit-upto', 'hashlimit']),
    rateOption(['hashlimit'], false, ['hashlimit-upto', 'hashlimit-above']),
    maskOption('hashlimit-srcmask', 'srcmask'),
    maskOption('hashlimit-dstmask', 'dstmask'),
    {
      names: ['hashlimit-burst'],
      args: 1,
      apply(state, call) {
        const b = call.value(parseHashlimitBurst(call.arg()));
        if (b !== undefined) state.burstValue = b;
      },
    },
    u32(['hashlimit-htable-size'], (s, v) => (s.size = v)),
    u32(['hashlimit-htable-max'], (s, v) => (s.max = v)),
    u32(['hashlimit-htable-gcinterval'], (s, v) => (s.gc = v)),
    u32(['hashlimit-htable-expire'], (s, v) => (s.expire = v)),
    {
      names: ['hashlimit-mode'],
      args: 1,
      apply(state, call) {
        const m = call.value(parseMode(call.arg()));
        if (m) state.mode = m;
      },
    },
    {
      names: ['hashlimit-name'],
      args: 1,
      apply(state, call) {
        if (call.arg() === '') call.error('E204', { what: 'hashlimit name', value: '', detail: ': it must not be empty' });
        else state.name = call.arg();
      },
    },
    {
      names: ['hashlimit-rate-match'],
      args: 0,
      apply(state) {
        state.rateMatch = true;
      },
    },
    {
      names: ['hashlimit-rate-interval'],
      args: 1,
      apply(state, call) {
        const v = atoi(call.arg());
        if (v <= 0) call.error('E204', { what: 'rate interval', value: call.arg(), detail: ': expected a number of seconds above 0' });
        else state.interval = v;
      },
    },
  ],
  init: () => ({ invert: false, rateGiven: false, avg: 0, bytes: false, mult: 1, mode: [], size: 0, max: 0, gc: 1000, rateMatch: false, interval: 0 }),
  finish(state, call): HashlimitMatch | undefined {
    if (!state.rateGiven) {
      if (!call.given.some((g) => g === 'hashlimit-upto' || g === 'hashlimit-above' || g === 'hashlimit')) call.error('E207', { option: '-m hashlimit', needs: '--hashlimit-upto or --hashlimit-above' });
      return undefined;
    }
    if (state.name === undefined) {
      if (!call.given.includes('hashlimit-name')) call.error('E207', { option: '-m hashlimit', needs: '--hashlimit-name' });
      return undefined;
    }
    let expire = state.expire ?? state.mult * 1000;
    let burst: number;
    if (state.bytes) {
      burst = 0;
      if (state.burstValue !== undefined) {
        const unit = costToBytes(state.avg);
        if (state.burstValue < unit) {
          call.error('E217', { what: '--hashlimit-burst', reason: `the burst cannot be smaller than ${unit}b at this rate` });
          return undefined;
        }
        burst = Math.ceil(state.burstValue / unit);
        if (state.expire === undefined) expire = 60_000;
      }
    } else {
      burst = state.burstValue ?? 5;
      if (burst > 1_000_000) {
        call.error('E217', { what: '--hashlimit-burst', reason: 'at most 1000000 packets' });
        return undefined;
      }
    }
    let avg = state.avg;
    let interval = 0;
    if (state.rateMatch) {
      if (!state.bytes) avg = Math.floor(avg / state.mult);
      interval = state.interval !== 0 ? state.interval : state.bytes ? 1 : state.mult;
    } else if (state.interval !== 0) {
      interval = state.interval;
    }
    if (!state.bytes && overflows(avg, burst)) {
      call.error('E217', { what: '-m hashlimit', reason: 'rate times burst overflows the kernel bucket; lower --hashlimit-burst or raise the rate' });
      return undefined;
    }
    if (state.gc === 0 || expire === 0) {
      call.error('E217', { what: '-m hashlimit', reason: 'the kernel refuses a zero --hashlimit-htable-gcinterval or --hashlimit-htable-expire' });
      return undefined;
    }
    const full = call.ctx.family === 'ipv4' ? 32 : 128;
    const m: HashlimitMatch = {
      kind: 'match',
      module: 'hashlimit',
      span: call.span,
      direction: state.invert ? 'above' : 'upto',
      avg,
      burst,
      mode: state.mode,
      srcmask: state.srcmask ?? full,
      dstmask: state.dstmask ?? full,
      name: state.name,
      htableSize: state.size,
      htableMax: state.max,
      htableExpire: expire,
      htableGcinterval: state.gc,
      rateMatch: state.rateMatch,
      rateInterval: interval,
    };
    if (state.bytes) m.bytes = { perSecond: costToBytes(state.avg) };
    return m;
  },
});
