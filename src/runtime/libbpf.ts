/**
 * The runtime's public API: libbpf (Debian's `libbpf1` 1.1) through koffi.
 *
 * Lifecycle (STYLE.md, libbpf's overview): open → configure → load → use/attach → close.
 *
 *     import { BpfObject, attachTc, ifindexOf } from './runtime/libbpf.js';
 *     const obj = BpfObject.open('out/rejectc.bpf.o');
 *     try {
 *       obj.map('rules').setMaxEntries(n);      // before load
 *       obj.load();                             // VerifierError: .log, .summary
 *       obj.map('rules').update(key, value);    // bytes in the map's layout
 *       const r = obj.program('rjc_tc').testRun({ data, ctx: { kind: 'skb', ifindex } });
 *       attachTc(obj.program('rjc_tc'), { ifindex: ifindexOf('eth0'), direction: 'ingress', handle: 1, priority: 1 });
 *     } finally {
 *       obj.close();                            // attached programs stay attached
 *     }
 *
 * Errors: {@link LibbpfError} (call + errno), {@link VerifierError} (whole log + summary),
 * {@link NotSupportedError}; all are EnvironmentErrors (CLI exit 2).
 */
export { BpfObject, type OpenOptions } from './object.js';
export { BpfMap, MAP_TYPE, numPossibleCpus, sumPerCpuU64, u32, type MapInfo, type UpdateMode } from './map.js';
export { BpfProgram, PROG_TYPE, type TestRunOptions, type TestRunResult } from './program.js';
export type { SkbContext, TestRunContext, XdpContext } from './test-run-context.js';
export { LibbpfError, NotSupportedError, VerifierError, errnoName, summariseVerifierLog } from './errors.js';
export {
  attachTc,
  detachTc,
  ensureClsact,
  listTcFilters,
  queryTc,
  removeClsactIfUnused,
  type TcAttachOptions,
  type TcAttachment,
  type TcDirection,
  type TcFilterId,
  type TcFilterInfo,
} from './tc.js';
export { attachXdp, detachXdp, queryXdp, type XdpAttachOptions, type XdpAttachment, type XdpMode, type XdpState } from './xdp.js';
export { BPFFS, PIN_ROOT, ensureBpffs, ensurePinDir, physicalPinPath, pinDirOf } from './bpffs.js';
export { currentNetns, findIfindex, ifindexOf, withNetns, withNetnsAsync, type NetnsId } from './netns.js';
export { requireBpfPrivileges, requireTool } from './environment.js';

/** Return codes of TC programs (linux/pkt_cls.h). */
export const TC_ACT = { UNSPEC: -1, OK: 0, RECLASSIFY: 1, SHOT: 2, PIPE: 3, STOLEN: 4, QUEUED: 5, REPEAT: 6, REDIRECT: 7 } as const;
/** Return codes of XDP programs (linux/bpf.h). */
export const XDP_ACTION = { ABORTED: 0, DROP: 1, PASS: 2, TX: 3, REDIRECT: 4 } as const;
