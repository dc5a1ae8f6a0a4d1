/**
 * The option level of the front end: turns the words of one rule (everything after
 * `-A CHAIN` / `-I CHAIN [n]`) into base matches, match modules and the target, exactly as
 * iptables would read them. See driver.ts for how options are bound to extensions and
 * registry.ts for the extensions known.
 */
import type { LoweredRuleOptions, RuleContext, Word } from '../words.js';
import { parseRuleOptions } from './driver.js';

/**
 * Lowers one rule's option words. Pure and total: never throws; every problem is a diagnostic
 * in the result (the IR parts are then partial). `ctx.family` selects iptables or ip6tables
 * semantics; `ctx.chain` is used for the kernel's per-chain restrictions of some extensions.
 */
export function lowerRuleOptions(words: Word[], ctx: RuleContext): LoweredRuleOptions {
  return parseRuleOptions(words, ctx);
}

export { MATCHES, TARGETS } from './registry.js';
