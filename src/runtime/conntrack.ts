/**
 * Connection tracking must be running in the namespace for `-m state` / `-m conntrack` rules:
 * rejectc's programs read the kernel's own table (bpf/rjc_ct.h), and the kernel only tracks
 * connections while something asks for it (iptables' state/conntrack matches did, before
 * rejectc replaced them). {@link ensureConntrack} asks for it with a one-rule nftables table
 * that references the connection state and decides nothing (policy accept, a counter):
 * `nf_ct_netns_get` registers the conntrack hooks for IPv4 and IPv6 while it exists. Like
 * iptables, which releases conntrack (and defragmentation) with the last rule that used it,
 * rejectc removes the table when no program of the namespace reads conntrack any more
 * ({@link conntrackInUse}, after every apply and detach). Acts in the calling process's
 * network namespace.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { EnvironmentError } from '../errors.js';
import { physicalPinPath, pinDirOf } from './bpffs.js';
import { readState, stateDirOf } from './state.js';

/** The nftables table that keeps conntrack on (family inet). */
export const CONNTRACK_TABLE = 'rejectc_conntrack';

const RULESET = `table inet ${CONNTRACK_TABLE} {
	chain keep {
		type filter hook prerouting priority -300; policy accept;
		ct state invalid counter
	}
}
`;

function nft(args: readonly string[], input?: string): { status: number; stderr: string } {
  const r = spawnSync('nft', args, { encoding: 'utf8', ...(input !== undefined ? { input } : {}) });
  if (r.error) throw new EnvironmentError(`cannot run nft: ${r.error.message}`, 'apt-get install nftables (rejectc keeps connection tracking on with an nftables table)');
  return { status: r.status ?? -1, stderr: r.stderr ?? '' };
}

/** True when this namespace has rejectc's conntrack table. */
export function conntrackTablePresent(): boolean {
  return nft(['list', 'table', 'inet', CONNTRACK_TABLE]).status === 0;
}

/** Creates the table unless it exists. Throws {@link EnvironmentError} when nft refuses. */
export function ensureConntrack(): void {
  if (conntrackTablePresent()) return;
  const r = nft(['-f', '-'], RULESET);
  if (r.status !== 0) throw new EnvironmentError(`nft could not create table inet ${CONNTRACK_TABLE}: ${r.stderr.trim()}`, 'rejectc needs nftables (CAP_NET_ADMIN) to keep connection tracking on for -m state/-m conntrack');
}

/** Removes the table (after the last rejectc program that reads conntrack is gone). */
export function releaseConntrack(): void {
  if (conntrackTablePresent()) nft(['delete', 'table', 'inet', CONNTRACK_TABLE]);
}

/**
 * True when a rejectc program of this namespace reads conntrack: an interface whose live
 * program instance has the rjc_ct_scratch map pinned. `ifname` is any interface name of the
 * namespace (its directories are found from it).
 */
export function conntrackInUse(ifname: string): boolean {
  const root = dirname(stateDirOf(ifname));
  if (!existsSync(root)) return false;
  return readdirSync(root).some((name) => {
    let state;
    try {
      state = readState(name);
    } catch {
      return false; // not an interface directory (another namespace's, in the root namespace)
    }
    return state !== undefined && existsSync(`${physicalPinPath(pinDirOf(name))}/p${state.instance}/rjc_ct_scratch`);
  });
}

/** Removes the table when no program of the namespace reads conntrack. True if it did. */
export function releaseConntrackIfUnused(ifname: string): boolean {
  if (!conntrackTablePresent() || conntrackInUse(ifname)) return false;
  releaseConntrack();
  return true;
}
