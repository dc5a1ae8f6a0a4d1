/* SPDX-License-Identifier: GPL-2.0-only */
/* rjc_reply6.h: IPv6 replies, mirroring nf_send_reset6() and nf_send_unreach6() ->
 * icmp6_send() (net/ipv6/netfilter/nf_reject_ipv6.c, net/ipv6/icmp.c).
 * Field-by-field rules: ../shared/spec/nf-reject.md §6-§7. Same check/build split as IPv4.
 */
#ifndef RJC_REPLY6_H
#define RJC_REPLY6_H

#include <linux/ipv6.h>
#include <linux/icmpv6.h>
#include "rjc_reply.h"
#include "rjc_reply4.h"

#define RJC_IP6_HLEN 40
/* icmp6_send(): quote at most IPV6_MIN_MTU - IPv6 header - ICMPv6 header bytes. */
#define RJC_ICMP6_QUOTE_MAX (1280 - 40 - 8)

/* The IPv6 header at the filter hook: FORWARD sees the hop limit already decremented
 * (ip6_forward). The ICMPv6 quote shows it, so write it back. IPv6 has no header checksum. */
static __always_inline int rjc_ip6_hook_view(rjc_ctx_t *ctx, const struct rjc_pkt *pkt)
{
	if (!(pkt->flags & RJC_PKT_F_FORWARDED))
		return 0;
	return rjc_ctx_store(ctx, pkt->l3_off + offsetof(struct ipv6hdr, hop_limit), &pkt->ttl, 1);
}

/* ipv6_addr_type() & IPV6_ADDR_UNICAST: everything but ::, multicast and v4-mapped. */
static __always_inline int rjc_ip6_is_unicast(const union rjc_addr *a)
{
	return !rjc_ip6_is_any(a) && !rjc_ip6_is_multicast(a) && !rjc_ip6_is_v4mapped(a);
}

/* Fill the fixed IPv6 header of a reply: traffic class 0, flow label 0 (see bpf/README.md:
 * the kernel's ICMPv6 auto flow label is a keyed hash), no extension headers. */
static __always_inline void rjc_ip6_fill(struct ipv6hdr *h, __u16 payload_len, __u8 nexthdr, __u8 hop_limit,
					 const union rjc_addr *src, const union rjc_addr *dst)
{
	*(__be32 *)h = bpf_htonl(0x60000000);
	h->payload_len = bpf_htons(payload_len);
	h->nexthdr = nexthdr;
	h->hop_limit = hop_limit;
	__builtin_memcpy(&h->saddr, src->bytes, 16);
	__builtin_memcpy(&h->daddr, dst->bytes, 16);
}

/* ---------------------------------------------------------------------------------------- */
/* tcp-reset: nf_send_reset6()                                                              */
/* ---------------------------------------------------------------------------------------- */

/* nf_send_reset6() + nf_reject_ip6_tcphdr_get() (nf-reject.md §6.1). */
__noinline int rjc_rst6_check(rjc_ctx_t *ctx, struct rjc_pkt *pkt, struct rjc_reply *r)
{
	__u32 ip_end;
	int rc;

	if (!ctx || !pkt || !r)
		return RJC_NOREPLY_FAILED;
	ip_end = pkt->l3_off + pkt->ip_len;

	if (!rjc_ip6_is_unicast(&pkt->saddr) || !rjc_ip6_is_unicast(&pkt->daddr))
		return RJC_NOREPLY_BAD_SRC;
	if (!pkt->x_off || pkt->x_off > ip_end)
		return RJC_NOREPLY_EXTHDR;
	if (pkt->x_proto != IPPROTO_TCP)
		return pkt->x_fragoff ? RJC_NOREPLY_FRAGMENT : RJC_NOREPLY_PROTO;
	r->tcplen = ip_end - pkt->x_off;
	if (r->tcplen < 20 || rjc_ctx_load(ctx, pkt->x_off, r->tcp, 20))
		return RJC_NOREPLY_TRUNCATED;
	if (r->tcp[RJC_TCP_OFF_FLAGS] & RJC_TCP_RST)
		return RJC_NOREPLY_RST;
	if (r->csum_state == RJC_CSUM_VERIFY &&
	    !rjc_l4_csum_ok(ctx, pkt->x_off, r->tcplen, rjc_csum_pseudo6(pkt->saddr.v6, pkt->daddr.v6, IPPROTO_TCP, r->tcplen),
			    0, RJC_TCP_OFF_CHECK))
		return RJC_NOREPLY_CHECKSUM;
	rc = rjc_back_route(ctx, pkt, r, 0);
	if (rc)
		return rc;
	r->ttl = rjc_ip6_hoplimit(&pkt->saddr, r->egress);
	r->kind = RJC_REPLY_RST6;
	return RJC_NOREPLY_NONE;
}

/* Rewrite the packet into the 60-byte RST of nf-reject.md §6.2. */
__noinline int rjc_rst6_build(rjc_ctx_t *ctx, struct rjc_pkt *pkt, struct rjc_reply *r)
{
	__u8 out[60];
	__u64 pseudo;

	if (!ctx || !pkt || !r)
		return RJC_NOREPLY_FAILED;

	rjc_ip6_fill((struct ipv6hdr *)out, 20, IPPROTO_TCP, r->ttl, &pkt->daddr, &pkt->saddr);
	rjc_rst_tcp_fill(&out[40], r);
	pseudo = rjc_csum_pseudo6(pkt->daddr.v6, pkt->saddr.v6, IPPROTO_TCP, 20);
	*(__u16 *)&out[40 + RJC_TCP_OFF_CHECK] = rjc_rst_csum(&out[40], pseudo, r->csum_state);

	if (rjc_rst_align_partial(ctx, pkt, r, pkt->x_off - pkt->l3_off - RJC_IP6_HLEN) ||
	    rjc_ctx_store(ctx, pkt->l3_off, out, 60) || rjc_ctx_set_len(ctx, pkt->l3_off + 60) || rjc_swap_macs(ctx, pkt, r))
		return RJC_NOREPLY_FAILED;
	return RJC_NOREPLY_NONE;
}

/* ---------------------------------------------------------------------------------------- */
/* ICMPv6: nf_send_unreach6() -> icmp6_send()                                               */
/* ---------------------------------------------------------------------------------------- */

/* reject6_csum_ok(): unless the skb is already checksum-verified, the extension-header walk
 * must succeed, stop inside the packet and not at a non-first fragment, and the transport
 * checksum (pseudo-header included) must be right for the protocols REJECT verifies. */
static __always_inline int rjc_icmp6_csum_gate(rjc_ctx_t *ctx, struct rjc_pkt *pkt, struct rjc_reply *r)
{
	__u32 ip_end = pkt->l3_off + pkt->ip_len, len;
	int udp_check = -1;

	if (r->csum_state != RJC_CSUM_VERIFY)
		return RJC_NOREPLY_NONE;
	if (!pkt->x_off || pkt->x_off >= ip_end)
		return RJC_NOREPLY_EXTHDR;
	if (pkt->x_fragoff)
		return RJC_NOREPLY_FRAGMENT;
	len = ip_end - pkt->x_off;
	if (pkt->x_proto == IPPROTO_UDP)
		udp_check = rjc_udp_check_field(ctx, pkt->x_off, len);
	if (rjc_proto_unverified(pkt->x_proto, udp_check))
		return RJC_NOREPLY_NONE;
	if (!rjc_l4_csum_ok(ctx, pkt->x_off, len, rjc_csum_pseudo6(pkt->saddr.v6, pkt->daddr.v6, pkt->x_proto, len), 0,
			    pkt->x_proto == IPPROTO_TCP ? RJC_TCP_OFF_CHECK
			    : pkt->x_proto == IPPROTO_UDP ? RJC_UDP_OFF_CHECK : -1))
		return RJC_NOREPLY_CHECKSUM;
	return RJC_NOREPLY_NONE;
}

/* is_ineligible() in net/ipv6/icmp.c: never answer an ICMPv6 error (type < 128) or an ICMPv6
 * packet whose type is missing, unless it is a fragment without its ICMPv6 header. */
static __always_inline int rjc_icmp6_ineligible(rjc_ctx_t *ctx, const struct rjc_pkt *pkt)
{
	__u8 type;

	if (!pkt->x_off || pkt->x_proto != IPPROTO_ICMPV6)
		return 0;
	if (pkt->x_off >= pkt->l3_off + pkt->ip_len || rjc_ctx_load(ctx, pkt->x_off, &type, 1))
		return pkt->x_fragraw == 0;
	return !(type & 0x80);
}

/* nf_send_unreach6() + icmp6_send() (nf-reject.md §7.1). */
__noinline int rjc_icmp6_check(rjc_ctx_t *ctx, struct rjc_pkt *pkt, struct rjc_reply *r)
{
	int rc;

	if (!ctx || !pkt || !r)
		return RJC_NOREPLY_FAILED;
	rc = rjc_icmp6_csum_gate(ctx, pkt, r);
	if (rc != RJC_NOREPLY_NONE)
		return rc;
	if (rjc_ip6_is_multicast(&pkt->daddr))
		return RJC_NOREPLY_BCAST_DST;
	if (pkt->l2 != RJC_L2_HOST)
		return RJC_NOREPLY_L2_BCAST;
	if (rjc_ip6_is_any(&pkt->saddr) || rjc_ip6_is_multicast(&pkt->saddr))
		return RJC_NOREPLY_BAD_SRC;
	if (rjc_icmp6_ineligible(ctx, pkt))
		return RJC_NOREPLY_ICMP_ERROR;
	/* Source: the orig destination when it is ours (INPUT); otherwise the route's preferred
	 * source or source-address selection on the egress device (FORWARD); OUTPUT: the orig
	 * source (rjc_back_route). */
	rc = rjc_back_route(ctx, pkt, r, pkt->chain != RJC_CHAIN_INPUT);
	if (rc)
		return rc;
	if (pkt->chain == RJC_CHAIN_INPUT)
		r->src = pkt->daddr;
	r->ttl = rjc_ip6_hoplimit(&pkt->saddr, r->egress);
	r->quote_len = pkt->ip_len < RJC_ICMP6_QUOTE_MAX ? pkt->ip_len : RJC_ICMP6_QUOTE_MAX;
	r->kind = RJC_REPLY_ICMP6;
	return RJC_NOREPLY_NONE;
}

/* Rewrite the packet into the ICMPv6 error of nf-reject.md §7.2. */
__noinline int rjc_icmp6_build(rjc_ctx_t *ctx, struct rjc_pkt *pkt, struct rjc_reply *r)
{
	__u8 out[48];
	__u32 l3, plen;
	__s64 quote_sum;
	__u64 sum;

	if (!ctx || !pkt || !r)
		return RJC_NOREPLY_FAILED;
	l3 = pkt->l3_off;
	plen = 8 + r->quote_len;

	if (rjc_ip6_hook_view(ctx, pkt))
		return RJC_NOREPLY_FAILED;
	quote_sum = rjc_csum_packet(ctx, l3, r->quote_len);
	if (quote_sum < 0)
		return RJC_NOREPLY_FAILED;

	rjc_ip6_fill((struct ipv6hdr *)out, plen, IPPROTO_ICMPV6, r->ttl, &r->src, &pkt->saddr);
	out[40] = r->icmp_type;
	out[41] = r->icmp_code;
	*(__u16 *)&out[42] = 0;
	*(__u32 *)&out[44] = 0;
	sum = rjc_csum_pseudo6(r->src.v6, pkt->saddr.v6, IPPROTO_ICMPV6, plen) + rjc_csum_buf(&out[40], 8) + (__u64)quote_sum;
	*(__u16 *)&out[42] = rjc_csum_final(sum);

	if (rjc_ctx_len(ctx) > l3 + r->quote_len && rjc_ctx_set_len(ctx, l3 + r->quote_len))
		return RJC_NOREPLY_FAILED;
	if (rjc_ctx_insert_l3(ctx, l3, sizeof(out)) || rjc_ctx_store(ctx, l3, out, sizeof(out)) || rjc_swap_macs(ctx, pkt, r))
		return RJC_NOREPLY_FAILED;
	return RJC_NOREPLY_NONE;
}

#endif /* RJC_REPLY6_H */
