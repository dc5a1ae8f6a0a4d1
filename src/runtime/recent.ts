/**
 * Run-time configuration of `-m recent` programs (bpf/rjc_recent.h): the host's HZ (time
 * stamps are jiffies, windows are seconds × HZ as in xt_recent), written into rjc_recent_cfg;
 * skipped for programs without recent rules.
 */
import type { RuntimeConfig } from './load-artifact.js';
import { u32 } from './map.js';

/** The rjc_recent_cfg entry for a host with `hz` jiffies per second. */
export function recentConfig(hz: number): RuntimeConfig['entries'] {
  const value = Buffer.alloc(8);
  value.writeUInt32LE(hz, 0);
  return [{ name: 'rjc_recent_cfg', entries: [{ key: u32(0), value }] }];
}
