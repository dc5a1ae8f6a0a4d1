/**
 * The TypeScript model of the kernel's rate-limit arithmetic (`-m limit` for both iptables
 * back-ends, `-m hashlimit` revision 3, the ICMP error limiter) and of rejectc's reply budget,
 * which the BPF helpers in bpf/rjc_limit.h implement with the same integer widths.
 */
export * from './kernel-constants.js';
export * from './xt-limit.js';
export * from './nft-limit.js';
export * from './limit-match.js';
export * from './hashlimit-config.js';
export * from './hashlimit-key.js';
export * from './hashlimit-table.js';
export * from './token-buckets.js';
export * from './reply-budget.js';
export * from './bpf-layout.js';
export * from './ruleset-limits.js';
