/* SPDX-License-Identifier: GPL-2.0-only */
/* rjc_reply.h: what the IPv4 and IPv6 reply builders share: the reply state, the configured
 * TTL / hop-limit defaults, the route back to the sender, statistics and the reply budget.
 */
#ifndef RJC_REPLY_H
#define RJC_REPLY_H

#include "rjc_ctx.h"
#include "rjc_layout.h"
#include "rjc_pkt.h"
#include "rjc_csum.h"
#include "rjc_chain.h"

#define RJC_DEFAULT_TTL 64

/* rjc_reply.route: where the reply goes (rjc_back_route()). */
#define RJC_ROUTE_DEV   0 /* back out the device the orig came in on, to the sender's MAC */
#define RJC_ROUTE_LOCAL 1 /* to one of our own addresses: into the local stack through lo (TC) */
#define RJC_ROUTE_BCAST 2 /* to a subnet-directed broadcast address: out the device to ff:ff:ff:ff:ff:ff */

/* State handed from a builder's checks to its build step (see rjc_reject()). */
struct rjc_reply {
	union rjc_addr src;  /* reply source address, network order */
	__u32 egress;        /* device the reply route leaves by (IPv6 hop_limit lookup) */
	__u8 route;          /* RJC_ROUTE_* */
	__u16 tcplen;        /* RST: orig TCP segment length (IP length - TCP offset) */
	__u16 quote_len;     /* ICMP: bytes of the orig packet quoted */
	__u8 ttl;            /* reply TTL / hop limit */
	__u8 kind;           /* RJC_REPLY_* */
	__u8 csum_state;     /* RJC_CSUM_* of the orig */
	__u8 icmp_type;
	__u8 icmp_code;
	__u8 optlen;         /* IPv4 ICMP: length of the echoed options (multiple of 4) */
	__u8 rr_at;          /* IPv4 ICMP: reply header offset of an echoed RR option needing our address, 0 if none */
	__u8 ts_at;          /* IPv4 ICMP: reply header offset of an echoed TS option needing filling, 0 if none */
	__u8 ts_need;        /* RJC_OPT_TS_NEEDADDR / RJC_OPT_TS_NEEDTIME of the echoed TS option */
	__u8 tcp[20];        /* RST: the orig TCP header */
};

static __always_inline struct rjc_scratch *rjc_scratch_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&rjc_scratch, &zero);
}

static __always_inline struct rjc_config *rjc_config_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&rjc_config, &zero);
}

/* net.ipv4.ip_default_ttl as the runtime configured it (64 when unset). */
static __always_inline __u8 rjc_default_ttl(void)
{
	struct rjc_config *cfg = rjc_config_get();

	return cfg && cfg->ip_default_ttl ? cfg->ip_default_ttl : RJC_DEFAULT_TTL;
}

/* The RTAX_HOPLIMIT metric of the main-table route covering `addr`, 0 if none. */
static __always_inline __u8 rjc_route4_hoplimit(__be32 addr)
{
	struct rjc_route4_key key = { .prefixlen = 32, .addr = addr };
	struct rjc_route_info *r = bpf_map_lookup_elem(&rjc_route4, &key);

	return r ? r->hoplimit : 0;
}

static __always_inline __u8 rjc_route6_hoplimit(const union rjc_addr *addr)
{
	struct rjc_route6_key key = { .prefixlen = 128 };
	struct rjc_route_info *r;

	__builtin_memcpy(key.addr, addr->bytes, 16);
	r = bpf_map_lookup_elem(&rjc_route6, &key);
	return r ? r->hoplimit : 0;
}

/* ip6_dst_hoplimit() of the reply's route toward `dst`: the route's hoplimit metric, else the
 * egress device's conf.<dev>.hop_limit, else conf.all.hop_limit. When `dst` is one of our own
 * addresses (OUTPUT, or a spoofed own source) its route is the local one (no metric, via lo),
 * not a main-table route. */
static __always_inline __u8 rjc_ip6_hoplimit(const union rjc_addr *dst, __u32 egress)
{
	struct rjc_dev_config *dev;
	struct rjc_config *cfg;
	__u8 hl = egress == RJC_LOOPBACK_IFINDEX ? 0 : rjc_route6_hoplimit(dst);

	if (hl)
		return hl;
	dev = bpf_map_lookup_elem(&rjc_dev, &egress);
	if (dev && dev->ipv6_hop_limit)
		return dev->ipv6_hop_limit;
	cfg = rjc_config_get();
	return cfg && cfg->ipv6_all_hop_limit ? cfg->ipv6_all_hop_limit : RJC_DEFAULT_TTL;
}

/* A route back that is not a unicast route, for a source the stack lets in (the FIB helper
 * answers NOT_FWDED for it; with forwarding off it answers nothing at all), answered as the
 * kernel does:
 * - IPv6, one of our own addresses (ip6_rcv_core has no martian check): the reply is
 *   delivered to ourselves through lo, from that address when a source is selected. XDP
 *   cannot deliver locally: no reply.
 * - IPv4, a subnet-directed broadcast of the ingress device (fib_validate_source only refuses
 *   our own addresses): the reply goes out to the link's broadcast MAC, from the device's
 *   address in that subnet when a source is selected.
 * Returns 0 or RJC_NOREPLY_NO_ROUTE when the source is one of these, -1 when it is not. */
static __always_inline int rjc_odd_route(rjc_ctx_t *ctx, const struct rjc_pkt *pkt, struct rjc_reply *r, int want_src)
{
	if (pkt->family == 6) {
		if (rjc_addr6_type(&pkt->saddr, r->egress) != RJC_ADDR_LOCAL)
			return -1;
#ifdef RJC_FLAVOR_XDP
		return RJC_NOREPLY_NO_ROUTE;
#else
		/* Source address selection toward one of our own addresses: that same address
		 * (RFC 6724 rule 1). */
		if (want_src)
			r->src = pkt->saddr;
		r->egress = RJC_LOOPBACK_IFINDEX;
		r->route = RJC_ROUTE_LOCAL;
		return 0;
#endif
	} else {
		struct rjc_addr4_key key = { .addr = pkt->saddr.v4 };
		struct rjc_addr_info *info = bpf_map_lookup_elem(&rjc_addr4, &key);

		if (!info || info->type != RJC_ADDR_BROADCAST)
			return -1;
		if (info->ifindex != r->egress)
			return RJC_NOREPLY_NO_ROUTE; /* replies leave by the ingress device only */
		if (want_src) {
			/* The broadcast route's preferred source: the device's address in that subnet
			 * (the FIB helper does not report a broadcast route's). */
			r->src.v4 = rjc_dev_bcast_src4(ctx, pkt->saddr.v4);
			if (!r->src.v4)
				return RJC_NOREPLY_NO_ROUTE;
		}
		r->route = RJC_ROUTE_BCAST;
		return 0;
	}
}

/* The route the reply takes back to the orig's source (ip_route_me_harder / icmp_route_lookup
 * / ip6_route_output). With `want_src` also the source address that route selects
 * (BPF_FIB_LOOKUP_SRC: the route's preferred source or the egress device's address).
 * Returns 0 or RJC_NOREPLY_NO_ROUTE.
 *
 * The reply always leaves through the device the orig arrived on, so the lookup is an output
 * lookup restricted to that device. A device with forwarding off makes bpf_fib_lookup() answer
 * FWD_DISABLED to every query (bpf-notes.md): the route is then assumed to exist, as it does
 * for a host answering its neighbours. In OUTPUT the orig's source is a local address: the
 * reply goes to the local stack, its route is the local route (source = that address). */
static __always_inline int rjc_back_route(rjc_ctx_t *ctx, const struct rjc_pkt *pkt, struct rjc_reply *r, int want_src)
{
	struct bpf_fib_lookup p = {};
	__u32 flags = BPF_FIB_LOOKUP_OUTPUT | BPF_FIB_LOOKUP_SKIP_NEIGH;
	int rc;

	r->egress = rjc_ctx_ifindex(ctx);
	r->route = RJC_ROUTE_DEV;
	if (pkt->chain == RJC_CHAIN_OUTPUT) {
		r->egress = RJC_LOOPBACK_IFINDEX;
		r->route = RJC_ROUTE_LOCAL;
		if (want_src) {
			/* The kernel's source is the route's toward the orig source, a local address
			 * (the orig destination if that is local). Its reply reaches the socket over
			 * lo, with the output route attached. Ours is redirected into the device's
			 * ingress without a route: ip_route_input() drops an IPv4 packet from one of our
			 * own addresses as a martian (fib_validate_source, accept_local 0). So IPv4 uses
			 * the orig destination, the peer the packet was for (bpf/KNOWN-DIFFERENCES.md).
			 * IPv6 input has no such check: the kernel's choice. */
			if (pkt->family == 4)
				r->src = pkt->daddr;
			else
				r->src = rjc_addr6_type(&pkt->daddr, rjc_ctx_ifindex(ctx)) == RJC_ADDR_LOCAL ? pkt->daddr : pkt->saddr;
		}
		return 0;
	}
	/* bpf_fib_lookup() refuses link-local addresses (NOT_FWDED, "never forwarded"); the
	 * kernel answers a link-local source on the ingress device (icmp6_iif, the link-local
	 * route of that device), from that device's link-local address when it selects one. */
	if (pkt->family == 6 && rjc_ip6_is_linklocal(&pkt->saddr)) {
		if (want_src && rjc_dev_linklocal6(ctx, &r->src))
			return RJC_NOREPLY_NO_ROUTE;
		return 0;
	}
	if (want_src)
		flags |= BPF_FIB_LOOKUP_SRC;
	p.ifindex = r->egress;
	p.l4_protocol = pkt->proto;
	if (pkt->family == 4) {
		p.family = AF_INET;
		p.ipv4_dst = pkt->saddr.v4;
		if (!want_src)
			p.ipv4_src = pkt->daddr.v4;
	} else {
		p.family = AF_INET6;
		__builtin_memcpy(p.ipv6_dst, pkt->saddr.v6, 16);
		/* The reply's source matters only to source-specific routes; a link-local one (an
		 * orig sent to our link-local address) would make the helper refuse the lookup. */
		if (!want_src && !rjc_ip6_is_linklocal(&pkt->daddr))
			__builtin_memcpy(p.ipv6_src, pkt->daddr.v6, 16);
	}
	rc = rjc_ctx_fib(ctx, &p, flags);
	if (rc != BPF_FIB_LKUP_RET_SUCCESS && rc != BPF_FIB_LKUP_RET_NO_NEIGH) {
		int odd = rjc_odd_route(ctx, pkt, r, want_src);

		if (odd >= 0)
			return odd;
	}
	if (rc == BPF_FIB_LKUP_RET_FWD_DISABLED || (rc == BPF_FIB_LKUP_RET_NO_SRC_ADDR && want_src)) {
		if (!want_src)
			return 0;
		/* No source from the FIB (a FORWARD chain forced on a host without forwarding,
		 * or no usable address): IPv4 falls back to INADDR_DUMMY 192.0.0.8 as
		 * __icmp_send() does; IPv6 source selection fails, so there is no reply. */
		if (pkt->family == 4) {
			r->src.v4 = bpf_htonl(0xc0000008);
			return 0;
		}
		return RJC_NOREPLY_NO_ROUTE;
	}
	if (rc != BPF_FIB_LKUP_RET_SUCCESS && rc != BPF_FIB_LKUP_RET_NO_NEIGH)
		return RJC_NOREPLY_NO_ROUTE;
	r->egress = p.ifindex;
	if (want_src) {
		if (pkt->family == 4)
			r->src.v4 = p.ipv4_src;
		else
			__builtin_memcpy(r->src.v6, p.ipv6_src, 16);
	}
	return 0;
}

/* IPv4 OUTPUT replies enter the local stack through the hook's device rather than lo
 * (rjc_ctx_send_local()) when the runtime says lo's rp_filter is strict. */
static __always_inline int rjc_output_via_dev(const struct rjc_config *cfg, const struct rjc_pkt *pkt)
{
	return pkt->family == 4 && cfg && (cfg->flags & RJC_CFG_F_OUTPUT_VIA_DEV4);
}

/* Ethernet addresses of the reply: to the sender's MAC (the link's broadcast MAC for
 * RJC_ROUTE_BCAST), from the MAC the orig was sent to. When that was a broadcast/multicast MAC
 * (a RST still answers it, nf-reject.md §4.1.6) the source is the device's own MAC from
 * rjc_dev; if the runtime did not provide it, the orig's destination MAC is kept. A reply
 * delivered through lo carries lo's all-zero addresses, as the kernel's looped-back frames do
 * (eth_type_trans() then says PACKET_HOST); an OUTPUT one delivered through the device goes to
 * the device's own MAC (the orig's source). */
static __always_inline int rjc_swap_macs(rjc_ctx_t *ctx, const struct rjc_pkt *pkt, const struct rjc_reply *r)
{
	__u8 macs[12];

	if (r->route == RJC_ROUTE_LOCAL && !rjc_output_via_dev(rjc_config_get(), pkt)) {
		__builtin_memset(macs, 0, sizeof(macs));
		return rjc_ctx_store(ctx, 0, macs, 12);
	}
	__builtin_memcpy(macs, pkt->smac, 6);
	if (r->route == RJC_ROUTE_BCAST)
		__builtin_memset(macs, 0xff, 6);
	__builtin_memcpy(macs + 6, pkt->dmac, 6);
	if (pkt->l2 != RJC_L2_HOST) {
		__u32 ifindex = rjc_ctx_ifindex(ctx);
		struct rjc_dev_config *dev = bpf_map_lookup_elem(&rjc_dev, &ifindex);

		if (dev && (dev->mac[0] | dev->mac[1] | dev->mac[2] | dev->mac[3] | dev->mac[4] | dev->mac[5]))
			__builtin_memcpy(macs + 6, dev->mac, 6);
	}
	return rjc_ctx_store(ctx, 0, macs, 12);
}

/* A RST built over a CHECKSUM_PARTIAL orig: the skb stays PARTIAL, its csum_start pointing at
 * the orig's TCP header. Where IPv4 options or IPv6 extension headers (`extra` bytes) sat in
 * front of it, remove them first, so that the RST's TCP header lands where the skb points:
 * the trim to the RST's length then keeps that checksum field (pskb_trim_rcsum refuses to cut
 * it off) and whoever completes the checksum completes the RST's. */
static __always_inline int rjc_rst_align_partial(rjc_ctx_t *ctx, const struct rjc_pkt *pkt, const struct rjc_reply *r, __u32 extra)
{
	if (r->csum_state != RJC_CSUM_PARTIAL || !extra)
		return 0;
	return rjc_ctx_remove_l3(ctx, pkt->l3_off, extra);
}

/* Checksum gate of one orig transport segment at frame offset `off`, `len` bytes, with
 * `pseudo` (0 for protocols without a pseudo-header) and `extra` (the IPv4 header sum the
 * kernel includes, see rjc_ip4_hook_view). Mirrors nf_ip_checksum()/nf_ip6_checksum() for a
 * CHECKSUM_NONE skb: the segment plus pseudo-header must sum to 0xffff.
 * XDP sees no checksum state; a TCP/UDP packet whose checksum field holds exactly the
 * pseudo-header seed is a CHECKSUM_PARTIAL packet from a local sender on a veth peer, which
 * the kernel would have trusted: accept it (`csum_at` is the checksum field's offset). */
static __always_inline int rjc_l4_csum_ok(rjc_ctx_t *ctx, __u32 off, __u32 len, __u64 pseudo, __u64 extra, int csum_at)
{
	__s64 s = rjc_csum_packet(ctx, off, len);

	if (s < 0)
		return 0;
	if (rjc_csum_ok((__u64)s + pseudo + extra))
		return 1;
#ifdef RJC_FLAVOR_XDP
	if (csum_at >= 0 && pseudo) {
		__u16 field;

		if (!rjc_ctx_load(ctx, off + csum_at, &field, 2) && field == rjc_csum_fold(pseudo))
			return 1;
	}
#endif
	return 0;
}

/* nf_reject_verify_csum(): protocols whose checksum REJECT does not verify. `udp_check` is
 * the UDP checksum field, or -1 if the UDP header is incomplete (then it is verified). */
static __always_inline int rjc_proto_unverified(__u8 proto, int udp_check)
{
	switch (proto) {
	case IPPROTO_UDP:
		return udp_check == 0;
	case IPPROTO_GRE:
	case IPPROTO_AH:
	case IPPROTO_ESP:
	case IPPROTO_SCTP:
	case IPPROTO_UDPLITE:
	case IPPROTO_DCCP:
		return 1;
	}
	return 0;
}

/* The UDP checksum field at `off` if `avail` bytes hold a whole UDP header, else -1. */
static __always_inline int rjc_udp_check_field(rjc_ctx_t *ctx, __u32 off, __u32 avail)
{
	__u16 c;

	if (avail < 8 || rjc_ctx_load(ctx, off + 6, &c, 2))
		return -1;
	return c;
}

#endif /* RJC_REPLY_H */
