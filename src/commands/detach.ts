/**
 * `rejectc detach --dev IF[,IF…]`: removes what rejectc attached to each interface (its tc
 * filters or XDP program, the clsact qdisc if rejectc created it and nothing else uses it),
 * its pins and its state. Filters and programs of other tools stay; so does anything of
 * rejectc's that another tool replaced meanwhile (reported). Exit 0 also when rejectc had
 * nothing there; 2 when an interface does not exist and rejectc has nothing recorded for it.
 */
import { EXIT } from '../errors.js';
import { detachInterface } from '../runtime/apply.js';
import { requireBpfPrivileges } from '../runtime/environment.js';
import { ifindexOf } from '../runtime/netns.js';
import { readState } from '../runtime/state.js';
import { parseDevices } from './apply.js';

export interface DetachCommandOptions {
  dev: string;
}

/** `rejectc detach`: see the module comment. */
export default async function detachCommand(options: DetachCommandOptions): Promise<number> {
  const ifnames = parseDevices(options.dev);
  requireBpfPrivileges('rejectc detach');
  // An interface that is gone is fine if rejectc recorded something there (clean it up).
  for (const ifname of ifnames) if (!readState(ifname)) ifindexOf(ifname);
  for (const ifname of ifnames) {
    const out = await detachInterface(ifname);
    if (out.removed.length === 0) process.stdout.write(`rejectc: ${ifname}: nothing of rejectc's to remove\n`);
    else process.stdout.write(`rejectc: ${ifname}: removed ${out.removed.join(', ')}\n`);
    for (const l of out.left) process.stderr.write(`rejectc: warning: ${ifname}: left ${l}\n`);
  }
  return EXIT.ok;
}
