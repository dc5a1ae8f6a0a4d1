/**
 * The context structs of `BPF_PROG_TEST_RUN`: `struct __sk_buff` (192 bytes) for TC programs
 * and `struct xdp_md` (24 bytes) for XDP. The kernel refuses a context with any field set
 * that it does not accept as input (net/bpf/test_run.c, convert___skb_to_skb and
 * xdp_convert_md_to_buff), so only those fields are offered here.
 */

/** Test-run input for a TC (`BPF_PROG_TYPE_SCHED_CLS`) program. */
export interface SkbContext {
  kind: 'skb';
  /** `skb->mark`. */
  mark?: number;
  /** `skb->priority`. */
  priority?: number;
  /** `skb->skb_iif`: 0 means locally generated (what OUTPUT sees at TC egress). */
  ingressIfindex?: number;
  /**
   * `skb->dev`: must be an interface of the caller's network namespace (the kernel looks it
   * up); absent means the loopback device.
   */
  ifindex?: number;
  /** `skb->cb[0..4]`. */
  cb?: readonly number[];
  /** `wire_len`; 0 means the data length. */
  wireLen?: number;
  gsoSegs?: number;
  gsoSize?: number;
}

/** Test-run input for an XDP program. */
export interface XdpContext {
  kind: 'xdp';
  /** Receiving interface; must exist in the caller's namespace (with `rxQueueIndex` queues). */
  ingressIfindex?: number;
  rxQueueIndex?: number;
}

export type TestRunContext = SkbContext | XdpContext;

/** Sizes of the kernel context structs. */
export const CONTEXT_SIZE = { skb: 192, xdp: 24 } as const;

/** `struct __sk_buff` offsets (linux/bpf.h), checked against the C compiler in tests. */
export const SKB_OFFSET = {
  mark: 8,
  priority: 32,
  ingress_ifindex: 36,
  ifindex: 40,
  cb: 48,
  wire_len: 160,
  gso_segs: 164,
  gso_size: 176,
} as const;

/** `struct xdp_md` offsets. */
export const XDP_OFFSET = { data: 0, data_end: 4, ingress_ifindex: 12, rx_queue_index: 16 } as const;

function u32(value: number | undefined, name: string): number {
  const v = value ?? 0;
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new RangeError(`test-run context: ${name} must be a u32, got ${value}`);
  return v;
}

/**
 * Encodes a context for a run on `dataLength` bytes; throws RangeError on values that are not
 * u32. For XDP the kernel wants `data_end` equal to the data length (no metadata).
 */
export function encodeContext(ctx: TestRunContext, dataLength: number): Buffer {
  if (ctx.kind === 'xdp') {
    const b = Buffer.alloc(CONTEXT_SIZE.xdp);
    b.writeUInt32LE(u32(dataLength, 'data length'), XDP_OFFSET.data_end);
    b.writeUInt32LE(u32(ctx.ingressIfindex, 'ingressIfindex'), XDP_OFFSET.ingress_ifindex);
    b.writeUInt32LE(u32(ctx.rxQueueIndex, 'rxQueueIndex'), XDP_OFFSET.rx_queue_index);
    return b;
  }
  const b = Buffer.alloc(CONTEXT_SIZE.skb);
  b.writeUInt32LE(u32(ctx.mark, 'mark'), SKB_OFFSET.mark);
  b.writeUInt32LE(u32(ctx.priority, 'priority'), SKB_OFFSET.priority);
  b.writeUInt32LE(u32(ctx.ingressIfindex, 'ingressIfindex'), SKB_OFFSET.ingress_ifindex);
  b.writeUInt32LE(u32(ctx.ifindex, 'ifindex'), SKB_OFFSET.ifindex);
  const cb = ctx.cb ?? [];
  if (cb.length > 5) throw new RangeError('test-run context: cb has at most 5 words');
  cb.forEach((w, i) => b.writeUInt32LE(u32(w, `cb[${i}]`), SKB_OFFSET.cb + 4 * i));
  b.writeUInt32LE(u32(ctx.wireLen, 'wireLen'), SKB_OFFSET.wire_len);
  b.writeUInt32LE(u32(ctx.gsoSegs, 'gsoSegs'), SKB_OFFSET.gso_segs);
  b.writeUInt32LE(u32(ctx.gsoSize, 'gsoSize'), SKB_OFFSET.gso_size);
  return b;
}

/** Decodes the context the kernel wrote back after the run. */
export function decodeContext(kind: TestRunContext['kind'], b: Buffer): TestRunContext {
  if (kind === 'xdp') {
    return { kind, ingressIfindex: b.readUInt32LE(XDP_OFFSET.ingress_ifindex), rxQueueIndex: b.readUInt32LE(XDP_OFFSET.rx_queue_index) };
  }
  return {
    kind,
    mark: b.readUInt32LE(SKB_OFFSET.mark),
    priority: b.readUInt32LE(SKB_OFFSET.priority),
    ingressIfindex: b.readUInt32LE(SKB_OFFSET.ingress_ifindex),
    ifindex: b.readUInt32LE(SKB_OFFSET.ifindex),
    cb: [0, 1, 2, 3, 4].map((i) => b.readUInt32LE(SKB_OFFSET.cb + 4 * i)),
    wireLen: b.readUInt32LE(SKB_OFFSET.wire_len),
    gsoSegs: b.readUInt32LE(SKB_OFFSET.gso_segs),
    gsoSize: b.readUInt32LE(SKB_OFFSET.gso_size),
  };
}
