/**
 * The single TypeScript definition of everything shared between rejectc's TypeScript and its
 * BPF C: reject-type codes, chain ids, reply kinds and no-reply reasons, config and stats map
 * layouts with marshalling. `bpf/rjc_layout.h` is generated from it (./c-header.ts).
 */
export * from './codes.js';
export * from './maps.js';
export * from './struct.js';
export * from './reply-stats.js';
export { generateLayoutHeader, LAYOUT_HEADER_PATH } from './c-header.js';
