/**
 * `rejectc stats --dev IF [--json] [--zero]`: the counters of the ruleset rejectc applied to
 * IF, in the layout of `iptables -L -v -n` — per family and chain the policy with its
 * counters, then each rule's packets, bytes, target, text and file:line — followed by the
 * replies sent by kind, the reply budget's outcomes and the REJECTs answered by nothing, by
 * reason. Counters include what earlier rulesets carried over through atomic replaces.
 * `--json` prints one document ({@link InterfaceStats}) with exact numbers; `--zero` zeroes
 * every counter after reading it.
 */
import { EXIT } from '../errors.js';
import { requireBpfPrivileges } from '../runtime/environment.js';
import { checkIfname } from '../runtime/netns.js';
import { formatStats, readInterfaceStats, zeroInterfaceStats } from '../runtime/stats.js';
import { UserError } from '../errors.js';

export interface StatsCommandOptions {
  dev: string;
  json?: boolean;
  zero?: boolean;
}

/** `rejectc stats`: see the module comment. */
export default async function statsCommand(options: StatsCommandOptions): Promise<number> {
  try {
    checkIfname(options.dev);
  } catch {
    throw new UserError(`--dev: "${options.dev}" is not an interface name`);
  }
  requireBpfPrivileges('rejectc stats');
  const stats = readInterfaceStats(options.dev);
  process.stdout.write(options.json ? `${JSON.stringify(stats)}\n` : formatStats(stats));
  if (options.zero) await zeroInterfaceStats(options.dev);
  return EXIT.ok;
}
