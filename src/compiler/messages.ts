import type { Severity } from './diagnostics.js';

export interface MessageEntry {
  severity: Severity;
  /** Text with `{name}` placeholders; never split across literals, so it stays greppable. */
  text: string;
  /** Optional hint printed as a note. */
  help?: string;
}

/**
 * Every diagnostic the compiler can produce, keyed by a stable code. Codes are part of the
 * `--json` output and must not be renumbered; add new ones at the end of their group.
 *
 * Groups: E1xx syntax/lexing, E2xx options and values, E3xx ruleset structure (chains, tables,
 * targets), E4xx compilation (what rejectc cannot compile yet), W... warnings.
 */
export const MESSAGES = {
  // --- syntax -----------------------------------------------------------------------------
  E100: { severity: 'error', text: 'syntax error: {detail}' },
  E101: { severity: 'error', text: 'unterminated quoted string' },
  E102: { severity: 'error', text: 'shell variable "{name}" in rule options cannot be resolved', help: 'replace the variable by its value; rejectc does not run shell code' },
  E103: { severity: 'error', text: 'rule outside of a table: expected "*filter" (or another table) first' },
  E104: { severity: 'error', text: 'table "{table}" is not committed: missing COMMIT' },
  E105: { severity: 'error', text: 'unknown table "{table}"' },
  E106: { severity: 'error', text: 'option "{option}" cannot be used with command "{command}"' },
  E107: { severity: 'error', text: 'no iptables command given: expected -A, -I, -D, -R, -N, -X, -E, -P, -F or another command' },
  E108: { severity: 'error', text: 'option "{option}" cannot be used in an iptables-restore file: the "*table" line gives the table' },
  E109: { severity: 'error', text: 'only one iptables command can be given, not both "{a}" and "{b}"' },
  E110: { severity: 'error', text: 'invalid rule number "{value}": expected a number from 1' },
  // --- options and values -----------------------------------------------------------------
  E200: { severity: 'error', text: 'unknown option "{option}"' },
  E201: { severity: 'error', text: 'unsupported match module "{module}"' },
  E202: { severity: 'error', text: 'unsupported target "{target}"' },
  E203: { severity: 'error', text: 'option "{option}" requires a value' },
  E204: { severity: 'error', text: 'invalid {what} "{value}"{detail}' },
  E205: { severity: 'error', text: 'option "{option}" given more than once' },
  E206: { severity: 'error', text: 'options "{a}" and "{b}" conflict' },
  E207: { severity: 'error', text: 'option "{option}" needs "{needs}"' },
  E208: { severity: 'error', text: 'host name "{value}" cannot be resolved by rejectc', help: 'use an IP address or CIDR; rejectc does no DNS lookups' },
  E209: { severity: 'error', text: 'unknown reject type "{value}"' },
  E210: { severity: 'error', text: '"!" is not allowed before "{option}"' },
  E211: { severity: 'error', text: 'non-contiguous netmask "{value}" is not supported', help: 'write the mask as a prefix length (/24) or a contiguous netmask (255.255.255.0)' },
  E212: { severity: 'error', text: '{what} is not available for {family}' },
  E213: { severity: 'error', text: '{what} cannot be used in chain "{chain}": {reason}' },
  E214: { severity: 'error', text: 'ambiguous {what} "{value}": could be {candidates}' },
  E215: { severity: 'error', text: '{what} name "{value}" cannot be resolved by rejectc', help: 'use the numeric id; rejectc does not read the system user and group databases' },
  E216: { severity: 'error', text: 'unexpected argument "{value}"' },
  E217: { severity: 'error', text: '{what}: {reason}' },
  // reply budget and rate limits (src/compiler/reply-limit.ts, src/model/limits/)
  E260: { severity: 'error', text: 'invalid reply limit "{value}": {reason}', help: 'e.g. --reply-limit rst.rate=200/s,rst.burst=20,icmp=kernel; see docs/rate-limits.md' },
  E261: { severity: 'error', text: 'the kernel refuses {what}: {reason}' },
  E262: { severity: 'error', text: 'reply limit configuration {where}: {reason}' },
  // --- ruleset structure ------------------------------------------------------------------
  E300: { severity: 'error', text: 'chain "{chain}" does not exist' },
  E301: { severity: 'error', text: 'chain "{chain}" already exists' },
  E302: { severity: 'error', text: 'policy can only be set on a built-in chain, not on "{chain}"' },
  E303: { severity: 'error', text: 'chain loop: {path}' },
  E304: { severity: 'error', text: 'REJECT is only valid in the filter table, not in "{table}"' },
  E305: { severity: 'error', text: 'REJECT is only valid in INPUT, FORWARD and OUTPUT (and user chains reached only from them); chain "{chain}" is reached from {hook}' },
  E306: { severity: 'error', text: 'tcp-reset is only valid with "-p tcp" (not negated)' },
  E307: { severity: 'error', text: 'reject type "{value}" is not valid for {family}' },
  E308: { severity: 'error', text: 'invalid policy "{policy}": a built-in chain policy is ACCEPT or DROP' },
  E309: { severity: 'error', text: 'chain "{chain}" is built in to table "{table}" and cannot be created or deleted' },
  E310: { severity: 'error', text: 'rule number {index} is out of range for chain "{chain}" ({count} rules)' },
  E311: { severity: 'error', text: 'cannot delete chain "{chain}": {reason}' },
  E312: { severity: 'error', text: 'invalid chain name "{chain}": {reason}' },
  E313: { severity: 'error', text: 'no rule in chain "{chain}" matches this one, so iptables cannot delete it' },
  E314: { severity: 'error', text: 'chain "{chain}" is built in to table "{table}" and cannot be renamed' },
  E315: { severity: 'error', text: 'chain declaration outside of a table: expected "*filter" (or another table) first' },
  E316: { severity: 'error', text: 'cannot jump to built-in chain "{chain}": only user-defined chains can be jump targets' },
  // --- ipset files (--ipset FILE: `ipset save` output) ---------------------------------------
  E270: { severity: 'error', text: 'ipset file: {detail}' },
  E271: { severity: 'error', text: 'set "{name}" has type "{type}", which rejectc does not compile', help: 'compiled set types: hash:ip, hash:net, hash:ip,port, bitmap:port, list:set' },
  E272: { severity: 'error', text: 'invalid entry "{value}" of set "{name}": {reason}' },
  // --- compilation ------------------------------------------------------------------------
  E400: { severity: 'error', text: 'match "{module}" is parsed but not compiled yet: {reason}' },
  E401: { severity: 'error', text: 'target "{target}" cannot be compiled: {reason}' },
  E402: { severity: 'error', text: 'the ruleset has OUTPUT rules, which XDP cannot run', help: 'use --hook tc, which runs OUTPUT at TC egress' },
  E403: { severity: 'error', text: 'ruleset too large: {detail}' },
  E404: { severity: 'error', text: 'set "{name}" is not defined in the ipset file', help: 'give the sets the rules use with --ipset FILE (the output of `ipset save`)' },
  // --- warnings ---------------------------------------------------------------------------
  W100: { severity: 'warning', text: 'not an iptables command; line skipped' },
  W101: { severity: 'warning', text: 'table "{table}" is parsed but not compiled: rejectc compiles the filter table only' },
  W102: { severity: 'warning', text: 'iptables command "{command}" has no effect on the ruleset; skipped' },
  W103: { severity: 'warning', text: 'old-style negation "{option} ! {value}": iptables 1.8 refuses it; write "! {option} {value}"' },
  W104: { severity: 'warning', text: 'chain "{chain}" does not exist in table "{table}": iptables fails here and the script goes on without this command' },
  W105: { severity: 'warning', text: '{what} is ignored by iptables-restore' },
  W260: { severity: 'warning', text: 'hashlimit table "{name}" was created by the rule on line {line}: its rate, burst, mode, masks and table settings apply here too', help: 'the kernel keeps one table per --hashlimit-name; give this rule its own name to get its own settings' },
  W106: { severity: 'warning', text: 'iptables-restore refuses this line ({reason}); rejectc reads it anyway' },
  W270: { severity: 'warning', text: 'with --hook xdp, the connection state of ICMP queries (echo, timestamp, ...) and of protocols other than TCP and UDP is not known: their replies are INVALID here, ESTABLISHED in the kernel', help: 'use --hook tc: its egress program notes the kernel\'s connections the XDP lookup cannot find' },
} as const satisfies Record<string, MessageEntry>;

export type MessageCode = keyof typeof MESSAGES;
