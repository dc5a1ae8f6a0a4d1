/* SPDX-License-Identifier: GPL-2.0-only */
/* rjc_ctx.h: the context layer. Everything the reply path does to a packet goes through the
 * rjc_ctx_*() functions below, implemented once per flavour. The including program selects the
 * flavour by defining exactly one of RJC_FLAVOR_TC or RJC_FLAVOR_XDP before including rjc.h.
 *
 * Modelled on cilium's bpf/include/bpf/ctx/skb.h and xdp.h. An operation a flavour lacks is
 * not emulated: it is simply not defined for that flavour, so using it fails to compile
 * (e.g. delivering a reply to the local stack from XDP).
 *
 *                 TC (clsact, struct __sk_buff)          XDP (struct xdp_md)
 *  pass           TC_ACT_OK                              XDP_PASS
 *  drop           TC_ACT_SHOT                            XDP_DROP
 *  reply leaves   rjc_ctx_send: bpf_redirect(ifindex, 0) XDP_TX (ingress only)
 *                 rjc_ctx_send_local (egress/OUTPUT):    not defined (compile error)
 *                 bpf_redirect(lo, BPF_F_INGRESS)
 *  resize tail    bpf_skb_change_tail                    bpf_xdp_adjust_tail
 *  grow at L3     bpf_skb_adjust_room(BPF_ADJ_ROOM_MAC)  bpf_xdp_adjust_head + move L2 header
 *  shrink at L3   bpf_skb_adjust_room(-, ADJ_ROOM_MAC)   bpf_xdp_adjust_head + move L2 header
 *  csum state     ip_summed via bpf_cast_to_kern_ctx     none (see rjc_ctx_csum_trusted)
 */
#ifndef RJC_CTX_H
#define RJC_CTX_H

#include <linux/types.h>
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#if defined(RJC_FLAVOR_TC) == defined(RJC_FLAVOR_XDP)
#error "define exactly one of RJC_FLAVOR_TC or RJC_FLAVOR_XDP before including rjc.h"
#endif

extern void *bpf_cast_to_kern_ctx(void *obj) __ksym;

/* LOOPBACK_IFINDEX (include/net/net_namespace.h): lo is the first device of every namespace. */
#define RJC_LOOPBACK_IFINDEX 1

/* CO-RE view of the receiving device (struct net_device, no vmlinux.h): libbpf relocates the
 * fields against the running kernel's BTF; read with BPF_CORE_READ (probe reads, so a NULL or
 * stale pointer only makes the read fail). rjc_ctx_kdev() gives the hook's device. What the
 * stack decides from the device's state (its MAC, the multicast groups it joined) is read
 * live from here rather than copied into maps, so it is never stale. */
struct in_device___rjc;
struct ifmcaddr6___rjc;
struct list_head___rjc {
	struct list_head___rjc *next;
} __attribute__((preserve_access_index));

struct inet6_dev___rjc {
	struct list_head___rjc addr_list; /* struct inet6_ifaddr, by if_list */
	struct ifmcaddr6___rjc *mc_list;
} __attribute__((preserve_access_index));

struct net_device___rjc {
	const unsigned char *dev_addr;
	unsigned char dev_addr_shadow[32]; /* a copy of dev_addr kept by dev_addr_set() (5.17+) */
	struct in_device___rjc *ip_ptr;
	struct inet6_dev___rjc *ip6_ptr;
} __attribute__((preserve_access_index));

/* Checksum state of the original packet, as netfilter's reject code would judge it
 * (skb_csum_unnecessary() in nf_reject_verify_csum's callers). */
#define RJC_CSUM_VERIFY   0  /* CHECKSUM_NONE / COMPLETE / unknown: verify in software */
#define RJC_CSUM_TRUSTED  1  /* CHECKSUM_UNNECESSARY: the kernel skips the check */
#define RJC_CSUM_PARTIAL  2  /* CHECKSUM_PARTIAL (locally generated): skipped, and the reply's
                              * TCP checksum field must hold the pseudo-header seed */

#ifdef RJC_FLAVOR_TC
/* ---------------------------------------------------------------------------------------- */
/* TC flavour: struct __sk_buff                                                             */
/* ---------------------------------------------------------------------------------------- */
typedef struct __sk_buff rjc_ctx_t;

#define RJC_PASS TC_ACT_OK
#define RJC_DROP TC_ACT_SHOT
#define RJC_FLAVOR_NAME "tc"

/* Minimal CO-RE view of struct sk_buff (no vmlinux.h): the checksum state bits and the device.
 * preserve_access_index makes libbpf relocate the fields against the running kernel. */
struct sk_buff___rjc {
	__u8 ip_summed : 2;
	struct net_device___rjc *dev;
} __attribute__((preserve_access_index));

#define RJC_PACKET_OTHERHOST 3 /* PACKET_OTHERHOST of linux/if_packet.h */

#define RJC_CHECKSUM_UNNECESSARY 1
#define RJC_CHECKSUM_PARTIAL 3

static __always_inline void *rjc_ctx_data(rjc_ctx_t *ctx) { return (void *)(long)ctx->data; }
static __always_inline void *rjc_ctx_data_end(rjc_ctx_t *ctx) { return (void *)(long)ctx->data_end; }
/* Length of the whole frame, linear part and fragments. */
static __always_inline __u32 rjc_ctx_len(rjc_ctx_t *ctx) { return ctx->len; }

/* Make the first `len` bytes directly accessible. Packets from AF_PACKET or NICs can carry
 * their headers outside the linear area; without this the bounds checks fail and the packet
 * would silently pass (bpf-notes.md "Non-linear skbs"). Invalidates data pointers. */
static __always_inline int rjc_ctx_pull(rjc_ctx_t *ctx, __u32 len)
{
#ifdef RJC_TEST_NO_PULL
	return 0; /* negative control of test/bpf-reply-live.test.ts only */
#else
	return bpf_skb_pull_data(ctx, len);
#endif
}

static __always_inline int rjc_ctx_load(rjc_ctx_t *ctx, __u32 off, void *to, __u32 len)
{
	return bpf_skb_load_bytes(ctx, off, to, len);
}

static __always_inline int rjc_ctx_store(rjc_ctx_t *ctx, __u32 off, const void *from, __u32 len)
{
	return bpf_skb_store_bytes(ctx, off, from, len, 0);
}

/* Set the frame length to `len` bytes (trim, or grow with zeroes). */
static __always_inline int rjc_ctx_set_len(rjc_ctx_t *ctx, __u32 len)
{
	return bpf_skb_change_tail(ctx, len, 0);
}

/* Insert `room` zero bytes between the L2 header (`l2_len` bytes, only ETH_HLEN supported in
 * TC: VLAN tags are out of band there) and the L3 header. */
static __always_inline int rjc_ctx_insert_l3(rjc_ctx_t *ctx, __u32 l2_len, __u32 room)
{
	if (l2_len != 14)
		return -1;
	return bpf_skb_adjust_room(ctx, room, BPF_ADJ_ROOM_MAC, 0);
}

/* Remove `room` bytes right after the L2 header (`l2_len` bytes, ETH_HLEN in TC): the start of
 * the L3 header goes, everything after it keeps its place in the buffer (so a
 * CHECKSUM_PARTIAL skb's csum_start still points at the same transport header). */
static __always_inline int rjc_ctx_remove_l3(rjc_ctx_t *ctx, __u32 l2_len, __u32 room)
{
	if (l2_len != 14)
		return -1;
	return bpf_skb_adjust_room(ctx, -(__s32)room, BPF_ADJ_ROOM_MAC, 0);
}

static __always_inline int rjc_ctx_fib(rjc_ctx_t *ctx, struct bpf_fib_lookup *p, __u32 flags)
{
	return bpf_fib_lookup(ctx, p, sizeof(*p), flags);
}

/* The device the program runs on (ingress device at ingress, egress device at egress). */
static __always_inline __u32 rjc_ctx_ifindex(rjc_ctx_t *ctx) { return ctx->ifindex; }

/* Ingress device of the packet; 0 for locally generated packets at egress (OUTPUT). */
static __always_inline __u32 rjc_ctx_ingress_ifindex(rjc_ctx_t *ctx) { return ctx->ingress_ifindex; }

static __always_inline __u32 rjc_ctx_mark(rjc_ctx_t *ctx) { return ctx->mark; }

/* The device the program runs on, as a kernel pointer for BPF_CORE_READ (NULL if unknown). */
static __always_inline struct net_device___rjc *rjc_ctx_kdev(rjc_ctx_t *ctx)
{
	struct sk_buff___rjc *skb = bpf_cast_to_kern_ctx(ctx);

	return BPF_CORE_READ(skb, dev);
}

/* Was the frame sent to another host's MAC (PACKET_OTHERHOST)? eth_type_trans() has already
 * classified it against the receiving device's address: ip_rcv_core() and ipv6_rcv() drop
 * such frames before any netfilter hook. (Test-run classifies against the context's device.) */
static __always_inline int rjc_ctx_otherhost(rjc_ctx_t *ctx, const __u8 *dmac)
{
	return ctx->pkt_type == RJC_PACKET_OTHERHOST;
}

/* Checksum state (bpf-notes.md "TCP checksum validation"): read skb->ip_summed through the
 * bpf_cast_to_kern_ctx kfunc. The kernel trusts UNNECESSARY and PARTIAL; COMPLETE is verified
 * in software here, which is the kernel's CHECKSUM_NONE behaviour (nf-reject.md §4.1.5). */
static __always_inline int rjc_ctx_csum_state(rjc_ctx_t *ctx)
{
	struct sk_buff___rjc *skb = bpf_cast_to_kern_ctx(ctx);
	__u8 s = BPF_CORE_READ_BITFIELD(skb, ip_summed);

	if (s == RJC_CHECKSUM_PARTIAL)
		return RJC_CSUM_PARTIAL;
	if (s == RJC_CHECKSUM_UNNECESSARY)
		return RJC_CSUM_TRUSTED;
	return RJC_CSUM_VERIFY;
}

/* Send the rewritten packet back out of the device it arrived on (INPUT/FORWARD replies,
 * mirrors the kernel routing the reply back toward the sender). */
static __always_inline int rjc_ctx_send(rjc_ctx_t *ctx)
{
	return bpf_redirect(ctx->ifindex, 0);
}

/* Deliver the rewritten packet to the local stack (OUTPUT replies: the orig was locally
 * generated, the reply is for a local socket). The kernel's reply to a local packet is routed
 * to a local address and comes in through lo, where INPUT sees `-i lo`: BPF_F_INGRESS into lo
 * does the same (the frame must carry lo's all-zero MAC, see rjc_swap_macs()). With
 * `via_dev` (IPv4 with strict rp_filter, where a reply from a remote address entering lo is
 * a martian: RJC_CFG_F_OUTPUT_VIA_DEV4) it enters through the hook's own device instead.
 * TC only. */
static __always_inline int rjc_ctx_send_local(rjc_ctx_t *ctx, int via_dev)
{
	return bpf_redirect(via_dev ? ctx->ifindex : RJC_LOOPBACK_IFINDEX, BPF_F_INGRESS);
}

/* Hook directions exist in TC: ingress (INPUT/FORWARD) and egress (OUTPUT). */
#define RJC_CHECK_DIR(dir) (dir)

#endif /* RJC_FLAVOR_TC */

#ifdef RJC_FLAVOR_XDP
/* ---------------------------------------------------------------------------------------- */
/* XDP flavour: struct xdp_md (ingress only)                                                */
/* ---------------------------------------------------------------------------------------- */
typedef struct xdp_md rjc_ctx_t;

#define RJC_PASS XDP_PASS
#define RJC_DROP XDP_DROP
#define RJC_FLAVOR_NAME "xdp"

static __always_inline void *rjc_ctx_data(rjc_ctx_t *ctx) { return (void *)(long)ctx->data; }
static __always_inline void *rjc_ctx_data_end(rjc_ctx_t *ctx) { return (void *)(long)ctx->data_end; }
/* Frames are linear (the program is not loaded with BPF_F_XDP_HAS_FRAGS). */
static __always_inline __u32 rjc_ctx_len(rjc_ctx_t *ctx) { return bpf_xdp_get_buff_len(ctx); }

/* XDP frames are always linear: nothing to pull. */
static __always_inline int rjc_ctx_pull(rjc_ctx_t *ctx, __u32 len) { return 0; }

static __always_inline int rjc_ctx_load(rjc_ctx_t *ctx, __u32 off, void *to, __u32 len)
{
	return bpf_xdp_load_bytes(ctx, off, to, len);
}

static __always_inline int rjc_ctx_store(rjc_ctx_t *ctx, __u32 off, const void *from, __u32 len)
{
	return bpf_xdp_store_bytes(ctx, off, (void *)from, len);
}

static __always_inline int rjc_ctx_set_len(rjc_ctx_t *ctx, __u32 len)
{
	return bpf_xdp_adjust_tail(ctx, (int)len - (int)rjc_ctx_len(ctx));
}

/* Move the head by `delta` bytes and the L2 header (`l2_len` <= 18 bytes) with it: a negative
 * delta opens room between L2 and L3, a positive one removes the first L3 bytes. */
static __always_inline int rjc_xdp_move_head(rjc_ctx_t *ctx, __u32 l2_len, int delta)
{
	__u8 l2[18];

	if (l2_len > sizeof(l2) || l2_len < 14)
		return -1;
	if (bpf_xdp_load_bytes(ctx, 0, l2, l2_len == 14 ? 14 : 18))
		return -1;
	if (bpf_xdp_adjust_head(ctx, delta))
		return -1;
	return bpf_xdp_store_bytes(ctx, 0, l2, l2_len == 14 ? 14 : 18);
}

/* Insert `room` zero bytes between the L2 header and the L3 header. */
static __always_inline int rjc_ctx_insert_l3(rjc_ctx_t *ctx, __u32 l2_len, __u32 room)
{
	return rjc_xdp_move_head(ctx, l2_len, -(int)room);
}

/* Remove the first `room` bytes of the L3 header (the L2 header moves forward). */
static __always_inline int rjc_ctx_remove_l3(rjc_ctx_t *ctx, __u32 l2_len, __u32 room)
{
	return rjc_xdp_move_head(ctx, l2_len, (int)room);
}

static __always_inline int rjc_ctx_fib(rjc_ctx_t *ctx, struct bpf_fib_lookup *p, __u32 flags)
{
	return bpf_fib_lookup(ctx, p, sizeof(*p), flags);
}

static __always_inline __u32 rjc_ctx_ifindex(rjc_ctx_t *ctx) { return ctx->ingress_ifindex; }
static __always_inline __u32 rjc_ctx_ingress_ifindex(rjc_ctx_t *ctx) { return ctx->ingress_ifindex; }
/* XDP runs before any skb exists: there is no mark yet. */
static __always_inline __u32 rjc_ctx_mark(rjc_ctx_t *ctx) { return 0; }

/* CO-RE views of struct xdp_buff (the kernel context of xdp_md) and its receive queue. */
struct xdp_rxq_info___rjc {
	struct net_device___rjc *dev;
} __attribute__((preserve_access_index));

struct xdp_buff___rjc {
	struct xdp_rxq_info___rjc *rxq;
} __attribute__((preserve_access_index));

/* Direct loads through the kernel context (BTF pointers, fault-safe PROBE_MEM loads): no
 * helper call on the per-packet path. */
static __always_inline struct net_device___rjc *rjc_ctx_kdev(rjc_ctx_t *ctx)
{
	struct xdp_buff___rjc *xdp = bpf_cast_to_kern_ctx(ctx);

	return xdp->rxq->dev;
}

/* Was the frame sent to another host's MAC? No skb yet, so compare with the receiving
 * device's current address as eth_type_trans() will (PACKET_OTHERHOST, dropped by
 * ip_rcv_core() / ipv6_rcv()). The address is read from dev_addr_shadow, dev_addr's copy,
 * where the kernel has one (5.17+: a direct load), else through dev_addr. 0 when it cannot be
 * read. */
static __always_inline int rjc_ctx_otherhost(rjc_ctx_t *ctx, const __u8 *dmac)
{
	struct net_device___rjc *dev = rjc_ctx_kdev(ctx);
	__u8 mac[6];

	if (!dev)
		return 0;
	if (bpf_core_field_exists(dev->dev_addr_shadow)) {
		const unsigned char *a = dev->dev_addr_shadow;

		mac[0] = a[0];
		mac[1] = a[1];
		mac[2] = a[2];
		mac[3] = a[3];
		mac[4] = a[4];
		mac[5] = a[5];
	} else {
		const unsigned char *addr = BPF_CORE_READ(dev, dev_addr);

		if (!addr || bpf_probe_read_kernel(mac, sizeof(mac), addr))
			return 0;
	}
	return ((mac[0] ^ dmac[0]) | (mac[1] ^ dmac[1]) | (mac[2] ^ dmac[2]) | (mac[3] ^ dmac[3]) |
		(mac[4] ^ dmac[4]) | (mac[5] ^ dmac[5])) != 0;
}

/* XDP has no checksum state: verify in software (bpf-notes.md "Replies from XDP"). The
 * reply path additionally recognises the pseudo-header seed of a CHECKSUM_PARTIAL packet
 * from a local sender on a veth peer (see rjc_l4_csum_ok). */
static __always_inline int rjc_ctx_csum_state(rjc_ctx_t *ctx) { return RJC_CSUM_VERIFY; }

/* XDP replies leave through the receiving device (XDP_TX). There is no local delivery
 * (rjc_ctx_send_local) in XDP: it is deliberately not defined, so code that needs it does
 * not compile. OUTPUT rulesets are refused for --hook xdp by the compiler. */
static __always_inline int rjc_ctx_send(rjc_ctx_t *ctx)
{
	return XDP_TX;
}

/* XDP has only an ingress hook: a constant RJC_DIR_EGRESS is a compile-time error. */
#define RJC_CHECK_DIR(dir)                                                                 \
	({                                                                                 \
		_Static_assert((dir) == RJC_DIR_INGRESS, "XDP has no egress hook: OUTPUT needs TC"); \
		(dir);                                                                     \
	})

#endif /* RJC_FLAVOR_XDP */

#endif /* RJC_CTX_H */
