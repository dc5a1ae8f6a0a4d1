/**
 * Reading, carrying over and zeroing the per-rule counters of a loaded or pinned ruleset.
 * A counter map is a per-CPU array of `{ __u64 packets; __u64 bytes; }` (./artifact.ts).
 */
import { COUNTER_VALUE_SIZE, type CounterSlot, slotIdentities } from './artifact.js';
import type { BpfMap } from './map.js';
import { u32 } from './map.js';
import type { PacketCount } from './state.js';

/** Packets and bytes of each slot, summed over CPUs (in `slots` order). */
export function readCounterSlots(map: BpfMap, slots: readonly CounterSlot[]): PacketCount[] {
  if (map.valueSize !== COUNTER_VALUE_SIZE || !map.perCpu) {
    throw new TypeError(`counter map "${map.name}" must be per-CPU with ${COUNTER_VALUE_SIZE}-byte values`);
  }
  return slots.map((slot) => {
    const perCpu = map.lookupPerCpu(u32(slot.index)) ?? [];
    let packets = 0n;
    let bytes = 0n;
    for (const v of perCpu) {
      const b = Buffer.from(v.buffer, v.byteOffset, v.byteLength);
      packets += b.readBigUInt64LE(0);
      bytes += b.readBigUInt64LE(8);
    }
    return { packets: Number(packets), bytes: Number(bytes) };
  });
}

/** Adds counts into a record keyed by slot identity (several slots may share one). */
export function countsByIdentity(slots: readonly CounterSlot[], counts: readonly PacketCount[], into: Record<string, PacketCount> = {}): Record<string, PacketCount> {
  slotIdentities(slots).forEach((id, i) => {
    const c = counts[i]!;
    const acc = (into[id] ??= { packets: 0, bytes: 0 });
    acc.packets += c.packets;
    acc.bytes += c.bytes;
  });
  return into;
}

/**
 * What a replaced ruleset hands over to its successor: its carried counts plus its live
 * counts, for the identities the new ruleset still has (counters of removed rules go away,
 * as they do in iptables when a rule is deleted).
 */
export function carryOver(
  oldCarried: Readonly<Record<string, PacketCount>>,
  oldSlots: readonly CounterSlot[],
  oldLive: readonly PacketCount[],
  newSlots: readonly CounterSlot[],
): Record<string, PacketCount> {
  const total = countsByIdentity(oldSlots, oldLive, structuredClone({ ...oldCarried }));
  const keep = new Set(slotIdentities(newSlots));
  return Object.fromEntries(Object.entries(total).filter(([id]) => keep.has(id)));
}

/** Zeroes every slot of a counter map (on every CPU). */
export function zeroCounterMap(map: BpfMap, slots: readonly CounterSlot[]): void {
  const zero = Buffer.alloc(map.valueSize);
  const done = new Set<number>();
  for (const s of slots) {
    if (done.has(s.index)) continue;
    done.add(s.index);
    map.updatePerCpu(u32(s.index), zero);
  }
}
