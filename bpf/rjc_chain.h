/* SPDX-License-Identifier: GPL-2.0-only */
/* rjc_chain.h: which iptables filter chain would see this packet (../shared/DESIGN.md "Where
 * rules run"), and the changes the kernel makes before that chain's hook.
 *
 *   TC egress, locally generated (no ingress device)        -> OUTPUT
 *   ingress, a frame to another host's MAC (OTHERHOST)      -> RJC_CHAIN_NONE
 *   ingress, destination is an address of this host, a
 *     (subnet) broadcast, or a multicast group the device
 *     joined                                                -> INPUT
 *   ingress, the FIB forwards it (ip_forward() would run)   -> FORWARD, TTL/hop limit - 1
 *   anything else (martians, source routes, no route,
 *     forwarding off, TTL expiring, too big with DF,
 *     unjoined groups, forwarded at egress)                 -> RJC_CHAIN_NONE: the stack
 *                                                              drops it or no filter hook runs
 *
 * Measured on this kernel (bpf-notes.md): bpf_fib_lookup() answers FWD_DISABLED for every
 * lookup on a device with forwarding off, and NOT_FWDED both for local destinations and for
 * "no route". So "addressed to this host" comes from the local routing table, which the
 * runtime copies into rjc_addr4 / rjc_addr6 (src/layout/maps.ts), and the FIB only decides
 * FORWARD.
 */
#ifndef RJC_CHAIN_H
#define RJC_CHAIN_H

#include <linux/socket.h>
#include "rjc_ctx.h"
#include "rjc_layout.h"
#include "rjc_pkt.h"
#include "rjc_parse.h"
#include "rjc_kdev.h"

#ifndef AF_INET
#define AF_INET 2
#endif
#ifndef AF_INET6
#define AF_INET6 10
#endif

/* IPv6 address class tests on network-order words (ipv6_addr_type() in addrconf_core.c). */
static __always_inline int rjc_ip6_is_any(const union rjc_addr *a)
{
	return (a->v6[0] | a->v6[1] | a->v6[2] | a->v6[3]) == 0;
}

static __always_inline int rjc_ip6_is_loopback(const union rjc_addr *a)
{
	return (a->v6[0] | a->v6[1] | a->v6[2]) == 0 && a->v6[3] == bpf_htonl(1);
}

static __always_inline int rjc_ip6_is_multicast(const union rjc_addr *a) { return a->bytes[0] == 0xff; }

static __always_inline int rjc_ip6_is_linklocal(const union rjc_addr *a)
{
	return a->bytes[0] == 0xfe && (a->bytes[1] & 0xc0) == 0x80;
}

static __always_inline int rjc_ip6_is_v4mapped(const union rjc_addr *a)
{
	return (a->v6[0] | a->v6[1]) == 0 && a->v6[2] == bpf_htonl(0xffff);
}

/* Is `a` a local (or anycast) address of this host for a packet that arrived on `ifindex`?
 * Link-local addresses only count on their own device (ipv6_chk_addr with strict 0). */
static __always_inline int rjc_addr6_type(const union rjc_addr *a, __u32 ifindex)
{
	struct rjc_addr6_key key = { .ifindex = rjc_ip6_is_linklocal(a) ? ifindex : 0 };
	struct rjc_addr_info *info;

	__builtin_memcpy(key.addr, a->bytes, 16);
	info = bpf_map_lookup_elem(&rjc_addr6, &key);
	return info ? info->type : 0;
}

/* FIB query for a packet arriving on the hook device: does ip_route_input() forward it?
 * Returns the BPF_FIB_LKUP_RET_* code; *oif gets the egress device on success.
 * bpf_fib_lookup() refuses IPv6 link-local (and multicast, loopback) addresses outright
 * ("never forwarded"); ip6_route_input() routes by destination, the source only matters for
 * source-specific routes: such a source is asked as ::. */
static __always_inline int rjc_fib_forward(rjc_ctx_t *ctx, struct rjc_pkt *pkt, __u32 *oif)
{
	struct bpf_fib_lookup p = {};
	int rc;

	p.l4_protocol = pkt->proto;
	p.sport = bpf_htons(pkt->sport);
	p.dport = bpf_htons(pkt->dport);
	p.ifindex = rjc_ctx_ifindex(ctx);
	/* A non-zero tot_len makes the helper compare it with the route MTU (0 would compare
	 * the whole frame whatever DF says). ip_forward() only refuses DF packets, and IPv6
	 * routers never fragment. */
	if (pkt->family == 4) {
		p.family = AF_INET;
		p.tos = pkt->tos;
		p.ipv4_src = pkt->saddr.v4;
		p.ipv4_dst = pkt->daddr.v4;
		p.tot_len = (pkt->flags & RJC_PKT_F_DF) ? pkt->ip_len : 1;
	} else {
		p.family = AF_INET6;
		p.flowinfo = bpf_htonl((__u32)pkt->tos << 20);
		if (!rjc_ip6_is_linklocal(&pkt->saddr))
			__builtin_memcpy(p.ipv6_src, pkt->saddr.v6, 16);
		__builtin_memcpy(p.ipv6_dst, pkt->daddr.v6, 16);
		p.tot_len = pkt->ip_len;
	}
	rc = rjc_ctx_fib(ctx, &p, BPF_FIB_LOOKUP_SKIP_NEIGH);
	if (rc == BPF_FIB_LKUP_RET_SUCCESS || rc == BPF_FIB_LKUP_RET_NO_NEIGH)
		*oif = p.ifindex;
	return rc;
}

/* Does the hook device forward IPv6 (bpf_fib_lookup() answers FWD_DISABLED for any lookup on
 * a device with forwarding off; :: is an address it does not refuse outright)? */
static __always_inline int rjc_fib_forwarding6(rjc_ctx_t *ctx)
{
	struct bpf_fib_lookup p = {};

	p.family = AF_INET6;
	p.ifindex = rjc_ctx_ifindex(ctx);
	return rjc_ctx_fib(ctx, &p, BPF_FIB_LOOKUP_SKIP_NEIGH) != BPF_FIB_LKUP_RET_FWD_DISABLED;
}

/* fib_validate_source() of a packet that leaves by the device it came in on (with the default
 * send_redirects 1, rp_filter 0): the full check, a route lookup toward the source, which must
 * find a unicast route or none. A source behind a blackhole, unreachable or prohibit route, or
 * a subnet broadcast (the helper answers NOT_FWDED both for those and for "no route"), is a
 * martian; our own addresses were refused before. Only hairpinned packets pay for it. */
static __always_inline int rjc_hairpin_source_ok4(rjc_ctx_t *ctx, const struct rjc_pkt *pkt)
{
	struct bpf_fib_lookup p = {};
	int rc;

	p.family = AF_INET;
	p.ifindex = rjc_ctx_ifindex(ctx);
	p.tos = pkt->tos;
	p.ipv4_src = pkt->daddr.v4;
	p.ipv4_dst = pkt->saddr.v4;
	rc = rjc_ctx_fib(ctx, &p, BPF_FIB_LOOKUP_SKIP_NEIGH);
	if (rc == BPF_FIB_LKUP_RET_BLACKHOLE || rc == BPF_FIB_LKUP_RET_UNREACHABLE || rc == BPF_FIB_LKUP_RET_PROHIBIT)
		return 0;
	return rjc_addr4_type(pkt->saddr.v4) != RJC_ADDR_BROADCAST;
}

/* Ingress, IPv4: ip_route_input_rcu()/ip_route_input_slow()'s verdict, reduced to the chains.
 * Martians (the stack drops them before any hook) with the kernel defaults rp_filter 0,
 * accept_local 0, route_localnet 0: multicast or limited-broadcast sources; to a multicast
 * group (ip_mc_validate_source) a loopback source, or 0.0.0.0 unless to 224.0.0.0/24 or
 * IGMP; source 0.0.0.0 except to 255.255.255.255 (and 0 -> 0); destination 0.0.0.0 and 127/8
 * destinations, 127/8 sources; a source that is one of our own addresses
 * (fib_validate_source); and, going back out the device it came in on, a source whose route
 * is not unicast. Since Linux 5.3 ipv4_is_zeronet() is 0.0.0.0 only: the rest of 0.0.0.0/8
 * routes like any address. A multicast group counts only if the device joined it. */
static __always_inline int rjc_chain_ingress4(rjc_ctx_t *ctx, struct rjc_pkt *pkt)
{
	__u32 s = bpf_ntohl(pkt->saddr.v4), d = bpf_ntohl(pkt->daddr.v4), oif = 0;
	int zero_src = s == 0, own_src, rc;

	if ((s >> 28) == 0xe || s == 0xffffffff)
		return RJC_CHAIN_NONE;
	own_src = !zero_src && (s >> 24) != 127 && rjc_addr4_type(pkt->saddr.v4) == RJC_ADDR_LOCAL;
	if ((d >> 28) == 0xe) {
		/* ip_check_mc_rcu() first (not joined: -EINVAL), then ip_mc_validate_source(). */
		if (!rjc_mcast_joined(ctx, pkt))
			return RJC_CHAIN_NONE;
		if ((s >> 24) == 127 || own_src)
			return RJC_CHAIN_NONE;
		if (zero_src && (d >> 8) != 0xe00000 && pkt->proto != IPPROTO_IGMP)
			return RJC_CHAIN_NONE;
		return RJC_CHAIN_INPUT;
	}
	if (d == 0xffffffff || (s == 0 && d == 0))
		return own_src ? RJC_CHAIN_NONE : RJC_CHAIN_INPUT;
	if (zero_src || d == 0 || (d >> 24) == 127 || (s >> 24) == 127 || own_src)
		return RJC_CHAIN_NONE;
	if (rjc_addr4_type(pkt->daddr.v4))
		return RJC_CHAIN_INPUT;

	rc = rjc_fib_forward(ctx, pkt, &oif);
	if (rc == BPF_FIB_LKUP_RET_FRAG_NEEDED && !(pkt->flags & RJC_PKT_F_DF))
		rc = BPF_FIB_LKUP_RET_SUCCESS;
	if (rc != BPF_FIB_LKUP_RET_SUCCESS && rc != BPF_FIB_LKUP_RET_NO_NEIGH)
		return RJC_CHAIN_NONE;
	if (oif == rjc_ctx_ifindex(ctx) && !rjc_hairpin_source_ok4(ctx, pkt))
		return RJC_CHAIN_NONE;
	/* ip_forward(): only frames addressed to us at L2, and TTL must survive the hop. */
	if (pkt->l2 != RJC_L2_HOST || pkt->ttl <= 1)
		return RJC_CHAIN_NONE;
	pkt->oif = oif;
	return RJC_CHAIN_FORWARD;
}

/* Ingress, IPv6: ip6_rcv_core()/ip6_route_input()/ip6_forward() reduced to the chains. */
static __always_inline int rjc_chain_ingress6(rjc_ctx_t *ctx, struct rjc_pkt *pkt)
{
	__u32 oif = 0, iif = rjc_ctx_ifindex(ctx);
	int rc;

	if (rjc_ip6_is_loopback(&pkt->saddr) || rjc_ip6_is_loopback(&pkt->daddr))
		return RJC_CHAIN_NONE;
	/* ip6_mc_input(): a group the device has not joined never reaches INPUT. */
	if (rjc_ip6_is_multicast(&pkt->daddr))
		return rjc_mcast_joined(ctx, pkt) ? RJC_CHAIN_INPUT : RJC_CHAIN_NONE;
	if (rjc_addr6_type(&pkt->daddr, iif))
		return RJC_CHAIN_INPUT;

	if (rjc_ip6_is_linklocal(&pkt->daddr)) {
		/* One of the device's addresses the local table copy does not have yet (duplicate
		 * address detection ended after it was read): ours all the same. */
		if (rjc_dev_has_addr6(ctx, &pkt->daddr))
			return RJC_CHAIN_INPUT;
		/* Not ours: ip6_route_input() looks a link-local destination up on the ingress
		 * device only and finds its fe80::/64 route, so the packet goes back out where it
		 * came from (ip6_forward's redirect case) when forwarding is on. The FIB helper
		 * refuses link-local addresses: ask it only whether forwarding is on. */
		if (!rjc_fib_forwarding6(ctx))
			return RJC_CHAIN_NONE;
		oif = iif;
	} else {
		rc = rjc_fib_forward(ctx, pkt, &oif);
		if (rc != BPF_FIB_LKUP_RET_SUCCESS && rc != BPF_FIB_LKUP_RET_NO_NEIGH)
			return RJC_CHAIN_NONE;
	}
	/* ip6_forward(): L2 unicast only, hop limit > 1; and, only when the packet leaves by
	 * another device ("security critical"), no unspecified or link-local source. Back out the
	 * device it came in on, it takes the redirect branch and is forwarded whatever its source
	 * (multicast and loopback sources never get here: ip6_rcv_core). */
	if (pkt->l2 != RJC_L2_HOST || pkt->ttl <= 1)
		return RJC_CHAIN_NONE;
	if (oif != iif && (rjc_ip6_is_any(&pkt->saddr) || rjc_ip6_is_linklocal(&pkt->saddr)))
		return RJC_CHAIN_NONE;
	pkt->oif = oif;
	return RJC_CHAIN_FORWARD;
}

/* Is the destination a broadcast or multicast address, i.e. would the orig's route carry
 * RTCF_BROADCAST|RTCF_MULTICAST (IPv4) / is it IPv6 multicast? Both REJECT builders stay
 * silent then. IPv4 subnet-directed broadcasts come from the local table (rjc_addr4). */
static __always_inline int rjc_dst_is_bcast(const struct rjc_pkt *pkt)
{
	if (pkt->family == 6)
		return rjc_ip6_is_multicast(&pkt->daddr);
	{
		__u32 d = bpf_ntohl(pkt->daddr.v4);

		return d == 0xffffffff || (d >> 28) == 0xe || rjc_addr4_type(pkt->daddr.v4) == RJC_ADDR_BROADCAST;
	}
}

/**
 * rjc_chain() - decide the filter chain for a parsed packet and record it in @pkt.
 * @dir:    RJC_DIR_INGRESS or RJC_DIR_EGRESS, a compile-time constant (XDP: ingress only).
 * @forced: a RJC_CHAIN_* to skip detection (`rejectc run --chain`), or RJC_CHAIN_NONE.
 *
 * Fills pkt->chain, pkt->iif, pkt->oif. For FORWARD it also applies what ip_forward() does
 * before the FORWARD hook: pkt->ttl is decremented (the reply path quotes the header with the
 * decremented TTL and its updated checksum). Returns the chain, or RJC_CHAIN_NONE when no
 * filter chain runs here (the caller returns RJC_PASS).
 */
#define rjc_chain(ctx, pkt, dir, forced) rjc_chain_impl(ctx, pkt, RJC_CHECK_DIR(dir), forced)

__noinline int rjc_chain_impl(rjc_ctx_t *ctx, struct rjc_pkt *pkt, int dir, int forced)
{
	int chain;

	if (!ctx || !pkt)
		return RJC_CHAIN_NONE;
	if (forced != RJC_CHAIN_NONE) {
		chain = forced;
#ifdef RJC_FLAVOR_XDP
		if (chain == RJC_CHAIN_OUTPUT)
			chain = RJC_CHAIN_NONE; /* no OUTPUT at an XDP hook */
#endif
		if (chain == RJC_CHAIN_FORWARD) {
			__u32 oif = 0;

			rjc_fib_forward(ctx, pkt, &oif); /* best effort, for -o */
			pkt->oif = oif;
		}
	} else if (dir == RJC_DIR_EGRESS) {
		/* Locally generated packets have no ingress device; forwarded ones were filtered
		 * (FORWARD) at their ingress device. */
		chain = rjc_ctx_ingress_ifindex(ctx) == 0 ? RJC_CHAIN_OUTPUT : RJC_CHAIN_NONE;
	} else if (pkt->flags & RJC_PKT_F_RCV_DROP) {
		chain = RJC_CHAIN_NONE; /* ip_rcv()/ipv6_rcv() drop it */
	} else if (pkt->l2 == RJC_L2_HOST && rjc_ctx_otherhost(ctx, pkt->dmac)) {
		chain = RJC_CHAIN_NONE; /* PACKET_OTHERHOST: ip_rcv_core()/ipv6_rcv() drop it */
	} else if (pkt->family == 4) {
		chain = rjc_chain_ingress4(ctx, pkt);
	} else {
		chain = rjc_chain_ingress6(ctx, pkt);
	}

	switch (chain) {
	case RJC_CHAIN_INPUT:
		pkt->iif = rjc_ctx_ifindex(ctx);
		pkt->oif = 0;
		break;
	case RJC_CHAIN_FORWARD:
		pkt->iif = rjc_ctx_ifindex(ctx);
		pkt->ttl -= 1;
		pkt->flags |= RJC_PKT_F_FORWARDED;
		break;
	case RJC_CHAIN_OUTPUT:
		pkt->iif = 0;
		pkt->oif = rjc_ctx_ifindex(ctx);
		/* A locally generated skb is PACKET_HOST at LOCAL_OUT whatever MAC it will get. */
		pkt->l2 = RJC_L2_HOST;
		break;
	default:
		chain = RJC_CHAIN_NONE;
	}
	if (chain != RJC_CHAIN_NONE && rjc_dst_is_bcast(pkt))
		pkt->flags |= RJC_PKT_F_BCAST_DST;
	pkt->chain = chain;
	return chain;
}

#endif /* RJC_CHAIN_H */
