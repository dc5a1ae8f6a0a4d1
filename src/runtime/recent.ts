/**
 * Run-time configuration of `-m recent` programs (bpf/rjc_recent.h): the host's HZ (time stamps
 * are jiffies, windows are seconds × HZ as in xt_recent) and xt_recent's `ip_pkt_list_tot`.
 * Written into rjc_recent_cfg; skipped for programs without recent rules.
 */
import { existsSync, readFileSync } from 'node:fs';
import type { RuntimeConfig } from './load-artifact.js';
import { u32 } from './map.js';

/** xt_recent's module parameter file (present once the module is loaded or built in). */
const PKT_LIST_TOT = '/sys/module/xt_recent/parameters/ip_pkt_list_tot';

/** `ip_pkt_list_tot` of this host (20 when xt_recent says nothing). */
export function hostPktListTot(): number {
  if (!existsSync(PKT_LIST_TOT)) return 20;
  const n = Number(readFileSync(PKT_LIST_TOT, 'utf8').trim());
  return Number.isInteger(n) && n > 0 ? n : 20;
}

/** The rjc_recent_cfg entry for a host with `hz` jiffies per second. */
export function recentConfig(hz: number, pktListTot = hostPktListTot()): RuntimeConfig['entries'] {
  const value = Buffer.alloc(8);
  value.writeUInt32LE(hz, 0);
  value.writeUInt32LE(pktListTot, 4);
  return [{ name: 'rjc_recent_cfg', entries: [{ key: u32(0), value }] }];
}
