/** Targets as iptables-save writes them: ` -j NAME options` or ` -g CHAIN`. */
import type { Target } from '../ir.js';
import { saveString } from './quote.js';

export function saveTarget(t: Target): string[] {
  switch (t.target) {
    case 'ACCEPT':
    case 'DROP':
    case 'RETURN':
      return ['-j', t.target];
    case 'REJECT':
      return ['-j', 'REJECT', '--reject-with', t.with];
    case 'jump':
      return [t.goto ? '-g' : '-j', t.chain];
    case 'LOG': {
      const out = ['-j', 'LOG'];
      if (t.prefix !== undefined) out.push('--log-prefix', saveString(t.prefix));
      if (t.level !== undefined && t.level !== 4) out.push('--log-level', String(t.level));
      if (t.tcpSequence) out.push('--log-tcp-sequence');
      if (t.tcpOptions) out.push('--log-tcp-options');
      if (t.ipOptions) out.push('--log-ip-options');
      if (t.uid) out.push('--log-uid');
      if (t.macDecode) out.push('--log-macdecode');
      return out;
    }
    case 'other':
      return ['-j', t.name, ...t.options];
  }
}
