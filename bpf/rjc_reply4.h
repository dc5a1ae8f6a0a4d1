/* SPDX-License-Identifier: GPL-2.0-only */
/* rjc_reply4.h: IPv4 replies, mirroring nf_send_reset() (net/ipv4/netfilter/nf_reject_ipv4.c)
 * and nf_send_unreach() -> __icmp_send() (net/ipv4/icmp.c, ip_options_echo() in
 * net/ipv4/ip_options.c). Field-by-field rules: ../shared/spec/nf-reject.md §3-§5.
 *
 * Each reply kind has a check step (every condition under which the kernel sends nothing;
 * returns a RJC_NOREPLY_* reason or RJC_NOREPLY_NONE) and a build step that rewrites the
 * packet in place. rjc_reject() (rjc_reject.h) consults the reply budget between the two.
 */
#ifndef RJC_REPLY4_H
#define RJC_REPLY4_H

#include <stddef.h>
#include <linux/ip.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <linux/icmp.h>
#include "rjc_reply.h"

#define RJC_TCP_FIN 0x01
#define RJC_TCP_SYN 0x02
#define RJC_TCP_RST 0x04
#define RJC_TCP_ACK 0x10

/* Offsets in TCP / UDP headers. Data offset and flags are bitfields of struct tcphdr: the
 * bytes after ack_seq. */
#define RJC_TCP_OFF_SEQ offsetof(struct tcphdr, seq)
#define RJC_TCP_OFF_ACK offsetof(struct tcphdr, ack_seq)
#define RJC_TCP_OFF_DOFF (offsetof(struct tcphdr, ack_seq) + 4)
#define RJC_TCP_OFF_FLAGS (RJC_TCP_OFF_DOFF + 1)
#define RJC_TCP_OFF_CHECK offsetof(struct tcphdr, check)
#define RJC_UDP_OFF_CHECK offsetof(struct udphdr, check)

/* ICMP types that are errors (icmp_pointers[].error in net/ipv4/icmp.c): 1-7, 9-12. An ICMP
 * error is never answered with an ICMP error, nor is a type above NR_ICMP_TYPES (18). */
#define RJC_ICMP_ERROR_TYPES 0x1efeU
#define RJC_NR_ICMP_TYPES 18

/* Current time for an IPv4 Timestamp option: ms since midnight UT (inet_current_timestamp).
 * BPF has no wall clock; CLOCK_TAI equals CLOCK_REALTIME unless a TAI offset was set. */
static __always_inline __be32 rjc_ip4_timestamp(void)
{
#ifdef RJC_TEST_TIMESTAMP_MS /* a fixed clock for the model-vs-BPF property test */
	return bpf_htonl(RJC_TEST_TIMESTAMP_MS);
#endif
	__u64 ms = bpf_ktime_get_tai_ns() / 1000000ULL;

	return bpf_htonl((__u32)(ms % 86400000ULL));
}

/* Store 4 bytes at buf[at] (a 64-byte window), ignoring out-of-window offsets. */
static __always_inline void rjc_put4(__u8 *buf, __u32 at, __be32 v)
{
	rjc_barrier_var(at);
	if (at <= 60)
		__builtin_memcpy(&buf[at], &v, 4);
}

/* Apply to sc->hdr (the orig header, ihl bytes) what the receive path writes into it before the
 * filter hook: ip_options_compile() on a routed skb fills Record Route / Timestamp slots with
 * `spec_dst` (fib_compute_spec_dst) and the time, bumps a full Timestamp's overflow counter and
 * blanks bytes after END, all without fixing the header checksum (nf-reject.md §3.5). */
__noinline int rjc_ip4_options_rcv(const struct rjc_pkt *pkt, struct rjc_scratch *sc, __be32 spec_dst)
{
	__u32 rr, ts;
	__u8 *hdr;
	int it;

	if (!pkt || !sc)
		return -1;
	hdr = sc->hdr;
	rr = pkt->opt_rr & 63;
	ts = pkt->opt_ts & 63;

	if (pkt->opt_flags & RJC_OPT_RR_NEEDADDR) {
		__u8 ptr = hdr[rjc_idx64(rr + 2)];

		rjc_put4(hdr, (rr + ptr - 1) & 63, spec_dst);
		hdr[rjc_idx64(rr + 2)] = ptr + 4;
	}
	if (pkt->opt_flags & (RJC_OPT_TS_NEEDTIME | RJC_OPT_TS_NEEDADDR)) {
		__u8 ptr = hdr[rjc_idx64(ts + 2)];
		__u8 fl = hdr[rjc_idx64(ts + 3)] & 0xf;

		if (fl == RJC_IPOPT_TS_TSONLY) {
			rjc_put4(hdr, (ts + ptr - 1) & 63, rjc_ip4_timestamp());
			hdr[rjc_idx64(ts + 2)] = ptr + 4;
		} else {
			if (fl == RJC_IPOPT_TS_TSANDADDR)
				rjc_put4(hdr, (ts + ptr - 1) & 63, spec_dst);
			rjc_put4(hdr, (ts + ptr + 3) & 63, rjc_ip4_timestamp());
			hdr[rjc_idx64(ts + 2)] = ptr + 8;
		}
	}
	if (pkt->opt_flags & RJC_OPT_TS_OVERFLOW) {
		__u8 o = hdr[rjc_idx64(ts + 3)];

		hdr[rjc_idx64(ts + 3)] = (o & 0xf) | (((o >> 4) + 1) << 4);
	}
	if (pkt->opt_flags & RJC_OPT_END_FIX) {
		for (it = 1; it < 40; it++) {
			__u32 j = pkt->opt_end + it;

			if (j >= pkt->ihl || j >= 60)
				break;
			hdr[rjc_idx64(j)] = RJC_IPOPT_END;
		}
	}
	return 0;
}

/**
 * rjc_ip4_hook_view() - the orig IPv4 header as the filter hook sees it.
 * FORWARD: ip_decrease_ttl() (TTL - 1, checksum patched incrementally). INPUT/FORWARD with
 * options: the receive-side option processing above. The result is left in sc->hdr when the
 * orig has options or was changed, and written back into the packet if @write_back (the ICMP
 * quote must show it). Returns the one's complement sum of that header, which the kernel's
 * checksum gate includes (it sums from the IP header: a stale header checksum fails it), or
 * -1 on error.
 */
static __always_inline __s64 rjc_ip4_hook_view(rjc_ctx_t *ctx, const struct rjc_pkt *pkt, struct rjc_scratch *sc,
					       __be32 spec_dst, int write_back)
{
	__u32 ihl = pkt->ihl;
	int changed = (pkt->flags & RJC_PKT_F_FORWARDED) ||
		      ((pkt->opt_flags & RJC_OPT_CHANGED) && pkt->chain != RJC_CHAIN_OUTPUT);

	if (!changed && !(pkt->flags & RJC_PKT_F_IPOPTS))
		return 0xffff; /* a valid header sums to 0xffff */
	if (ihl < 20 || ihl > 60 || rjc_ctx_load(ctx, pkt->l3_off, sc->hdr, ihl))
		return -1;
	if (!changed)
		return 0xffff;
	if ((pkt->opt_flags & RJC_OPT_CHANGED) && pkt->chain != RJC_CHAIN_OUTPUT)
		rjc_ip4_options_rcv(pkt, sc, spec_dst);
	if (pkt->flags & RJC_PKT_F_FORWARDED) {
		/* ip_decrease_ttl(), byte-exact including its carry handling. */
		__u32 check = *(__u16 *)&sc->hdr[10];

		check += bpf_htons(0x0100);
		*(__u16 *)&sc->hdr[10] = (__u16)(check + (check >= 0xffff));
		sc->hdr[8] -= 1;
	}
	if (write_back && rjc_ctx_store(ctx, pkt->l3_off, sc->hdr, ihl))
		return -1;
	return (__u32)bpf_csum_diff(0, 0, (__be32 *)sc->hdr, ihl & 0x3c, 0);
}

/* ---------------------------------------------------------------------------------------- */
/* tcp-reset: nf_send_reset()                                                               */
/* ---------------------------------------------------------------------------------------- */

/* nf_reject_ip_tcphdr_get() + nf_send_reset()'s own checks (nf-reject.md §4.1). */
__noinline int rjc_rst4_check(rjc_ctx_t *ctx, struct rjc_pkt *pkt, struct rjc_reply *r)
{
	struct rjc_scratch *sc = rjc_scratch_get();
	__s64 hdr_sum;
	__u32 l4;
	int rc;

	if (!ctx || !pkt || !r)
		return RJC_NOREPLY_FAILED;
	l4 = pkt->l3_off + pkt->ihl;

	if (pkt->frag == RJC_FRAG_LATER)
		return RJC_NOREPLY_FRAGMENT;
	if (pkt->proto != IPPROTO_TCP)
		return RJC_NOREPLY_PROTO;
	r->tcplen = pkt->ip_len - pkt->ihl;
	if (r->tcplen < 20 || rjc_ctx_load(ctx, l4, r->tcp, 20))
		return RJC_NOREPLY_TRUNCATED;
	if (r->tcp[RJC_TCP_OFF_FLAGS] & RJC_TCP_RST)
		return RJC_NOREPLY_RST;
	rc = rjc_back_route(ctx, pkt, r, pkt->chain == RJC_CHAIN_FORWARD && (pkt->opt_flags & RJC_OPT_CHANGED));
	if (r->csum_state == RJC_CSUM_VERIFY) {
		__be32 spec_dst = pkt->chain == RJC_CHAIN_FORWARD ? r->src.v4 : pkt->daddr.v4;

		if (!sc)
			return RJC_NOREPLY_FAILED;
		hdr_sum = rjc_ip4_hook_view(ctx, pkt, sc, spec_dst, 0);
		if (hdr_sum < 0)
			return RJC_NOREPLY_FAILED;
		if (!rjc_l4_csum_ok(ctx, l4, r->tcplen, rjc_csum_pseudo4(pkt->saddr.v4, pkt->daddr.v4, IPPROTO_TCP, r->tcplen),
				    hdr_sum, RJC_TCP_OFF_CHECK))
			return RJC_NOREPLY_CHECKSUM;
	}
	if (pkt->flags & RJC_PKT_F_BCAST_DST)
		return RJC_NOREPLY_BCAST_DST;
	if (rc)
		return rc;
	/* TTL: ip4_dst_hoplimit() of the orig's route: the local route in INPUT (no metric), the
	 * route toward the orig destination in FORWARD and OUTPUT; never the route back
	 * (v4-tcp-reset-route-hoplimit-ignored). */
	r->ttl = pkt->chain != RJC_CHAIN_INPUT ? rjc_route4_hoplimit(pkt->daddr.v4) : 0;
	if (!r->ttl)
		r->ttl = rjc_default_ttl();
	r->kind = RJC_REPLY_RST4;
	return RJC_NOREPLY_NONE;
}

/* Fill a 20-byte RST TCP header from the orig's (nf_reject_ip_tcphdr_put /
 * nf_reject_ip6_tcphdr_put); the checksum is left 0. */
static __always_inline void rjc_rst_tcp_fill(__u8 *th, const struct rjc_reply *r)
{
	const __u8 *o = r->tcp;
	__u8 fl = o[RJC_TCP_OFF_FLAGS];

	__builtin_memset(th, 0, 20);
	/* Ports swapped. Read both first: clang 14 turns a conditional field pick into a
	 * variable-offset load the verifier refuses (bpf-notes.md). */
	th[0] = o[2];
	th[1] = o[3];
	th[2] = o[0];
	th[3] = o[1];
	if (fl & RJC_TCP_ACK) {
		/* seq = orig ack_seq, ack_seq = 0, RST only. */
		__builtin_memcpy(&th[RJC_TCP_OFF_SEQ], &o[RJC_TCP_OFF_ACK], 4);
		th[RJC_TCP_OFF_FLAGS] = RJC_TCP_RST;
	} else {
		/* ack = seq + SYN + FIN + payload, payload from the IP length and the orig's doff
		 * taken unvalidated (it may wrap: v4-tcp-reset-doff15-underflow). */
		__u32 seq = ((__u32)o[4] << 24) | ((__u32)o[5] << 16) | ((__u32)o[6] << 8) | o[7];
		__u32 ack = seq + !!(fl & RJC_TCP_SYN) + !!(fl & RJC_TCP_FIN) + r->tcplen - ((o[RJC_TCP_OFF_DOFF] >> 4) << 2);

		th[8] = ack >> 24;
		th[9] = ack >> 16;
		th[10] = ack >> 8;
		th[11] = ack;
		th[RJC_TCP_OFF_FLAGS] = RJC_TCP_RST | RJC_TCP_ACK;
	}
	th[RJC_TCP_OFF_DOFF] = 5 << 4;
}

/* The RST's TCP checksum. For a CHECKSUM_PARTIAL orig (locally generated, veth) the skb stays
 * PARTIAL: the field must hold the pseudo-header seed, as the kernel's own RST does
 * (nf_reject_ip_tcphdr_put: ~tcp_v4_check(...)), or whoever completes the checksum corrupts it
 * and the sender's connect() times out instead of failing (bpf-notes.md). */
static __always_inline __u16 rjc_rst_csum(const __u8 *th, __u64 pseudo, int csum_state)
{
#ifndef RJC_TEST_NO_PARTIAL_SEED /* negative control of test/bpf-reply-live.test.ts only */
	if (csum_state == RJC_CSUM_PARTIAL)
		return rjc_csum_fold(pseudo);
#endif
	return rjc_csum_final(pseudo + rjc_csum_buf(th, 20));
}

/* Rewrite the packet into the 40-byte RST of nf-reject.md §4.2. */
__noinline int rjc_rst4_build(rjc_ctx_t *ctx, struct rjc_pkt *pkt, struct rjc_reply *r)
{
	__u8 out[40];
	struct iphdr *iph = (struct iphdr *)out;
	__u64 pseudo;

	if (!ctx || !pkt || !r)
		return RJC_NOREPLY_FAILED;

	__builtin_memset(out, 0, 20);
	iph->version = 4;
	iph->ihl = 5;
	iph->tot_len = bpf_htons(40);
	iph->frag_off = bpf_htons(0x4000); /* DF, id 0 */
	iph->ttl = r->ttl;
	iph->protocol = IPPROTO_TCP;
	iph->saddr = pkt->daddr.v4;
	iph->daddr = pkt->saddr.v4;
	iph->check = rjc_csum_final(rjc_csum_buf(out, 20));

	rjc_rst_tcp_fill(&out[20], r);
	pseudo = rjc_csum_pseudo4(iph->saddr, iph->daddr, IPPROTO_TCP, 20);
	*(__u16 *)&out[20 + RJC_TCP_OFF_CHECK] = rjc_rst_csum(&out[20], pseudo, r->csum_state);

	if (rjc_rst_align_partial(ctx, pkt, r, pkt->ihl - 20) || rjc_ctx_store(ctx, pkt->l3_off, out, 40) ||
	    rjc_ctx_set_len(ctx, pkt->l3_off + 40) || rjc_swap_macs(ctx, pkt, r))
		return RJC_NOREPLY_FAILED;
	return RJC_NOREPLY_NONE;
}

/* ---------------------------------------------------------------------------------------- */
/* ICMP: nf_send_unreach() -> icmp_send()                                                   */
/* ---------------------------------------------------------------------------------------- */

/* __ip_options_echo(): the options of the ICMP reply, built from the hook view of the orig's
 * header (sc->hdr) into sc->out + 20. Record Route and Timestamp are copied (claiming a slot
 * when the orig had room), everything else (NOP, END, RA, ...) is dropped; padded with END.
 * Source routes and CIPSO never get this far (rjc_ip4_options). Returns the length, or -1
 * where the kernel's echo fails (then no ICMP is sent). */
__noinline int rjc_ip4_options_echo(const struct rjc_pkt *pkt, struct rjc_scratch *sc, struct rjc_reply *r)
{
	__u32 d = 20, i;
	int it;

	if (!pkt || !sc || !r)
		return -1;
	if (pkt->opt_rr) {
		__u32 rr = pkt->opt_rr & 63;
		__u8 optlen = sc->hdr[rjc_idx64(rr + 1)], soff = sc->hdr[rjc_idx64(rr + 2)];

		for (it = 0; it < 40; it++) {
			if (it >= optlen)
				break;
			sc->out[rjc_idx64(d + it)] = sc->hdr[rjc_idx64(rr + it)];
		}
		if ((pkt->opt_flags & RJC_OPT_RR_NEEDADDR) && soff <= optlen) {
			if (soff + 3 > optlen)
				return -1;
			sc->out[rjc_idx64(d + 2)] = soff + 4;
			r->rr_at = d;
		}
		d += optlen;
	}
	if (pkt->opt_ts) {
		__u32 ts = pkt->opt_ts & 63;
		__u8 optlen = sc->hdr[rjc_idx64(ts + 1)], soff = sc->hdr[rjc_idx64(ts + 2)];

		for (it = 0; it < 40; it++) {
			if (it >= optlen)
				break;
			sc->out[rjc_idx64(d + it)] = sc->hdr[rjc_idx64(ts + it)];
		}
		if (soff <= optlen) {
			if (pkt->opt_flags & RJC_OPT_TS_NEEDADDR) {
				if (soff + 3 > optlen)
					return -1;
				r->ts_need |= RJC_OPT_TS_NEEDADDR;
				soff += 4;
			}
			if (pkt->opt_flags & RJC_OPT_TS_NEEDTIME) {
				if (soff + 3 > optlen)
					return -1;
				if ((sc->out[rjc_idx64(d + 3)] & 0xf) != RJC_IPOPT_TS_PRESPEC) {
					r->ts_need |= RJC_OPT_TS_NEEDTIME;
					soff += 4;
				} else if (soff + 7 <= optlen) {
					__be32 addr;

					__builtin_memcpy(&addr, &sc->out[rjc_idx64(d + soff - 1)], 4);
					if (rjc_addr4_not_unicast(addr)) {
						r->ts_need |= RJC_OPT_TS_NEEDTIME;
						soff += 8;
					}
				}
			}
			sc->out[rjc_idx64(d + 2)] = soff;
			if (r->ts_need)
				r->ts_at = d;
		}
		d += optlen;
	}
	for (i = 0; i < 3; i++)
		if (d & 3)
			sc->out[rjc_idx64(d++)] = RJC_IPOPT_END;
	if (d > 60)
		return -1;
	r->optlen = d - 20;
	return r->optlen;
}

/* nf_send_unreach() and the generic rules of __icmp_send() (nf-reject.md §5.1). */
__noinline int rjc_icmp4_check(rjc_ctx_t *ctx, struct rjc_pkt *pkt, struct rjc_reply *r)
{
	struct rjc_scratch *sc = rjc_scratch_get();
	__u32 l4, l4len;
	__be32 spec_dst;
	__s64 hdr_sum;
	int rc;

	if (!ctx || !pkt || !r)
		return RJC_NOREPLY_FAILED;
	l4 = pkt->l3_off + pkt->ihl;
	l4len = pkt->ip_len - pkt->ihl;

	if (!sc)
		return RJC_NOREPLY_FAILED;
	if (pkt->frag == RJC_FRAG_LATER)
		return RJC_NOREPLY_FRAGMENT;

	/* Reply source (icmp_send): the orig destination when it was for us (RTCF_LOCAL);
	 * otherwise the source the route back selects. OUTPUT: the orig source (rjc_back_route). */
	rc = rjc_back_route(ctx, pkt, r, pkt->chain != RJC_CHAIN_INPUT);
	if (pkt->chain == RJC_CHAIN_INPUT)
		r->src = pkt->daddr;
	spec_dst = pkt->chain == RJC_CHAIN_FORWARD ? r->src.v4 : pkt->daddr.v4;
	/* The hook view is also the quote: write it back into the packet. */
	hdr_sum = rjc_ip4_hook_view(ctx, pkt, sc, spec_dst, 1);
	if (hdr_sum < 0)
		return RJC_NOREPLY_FAILED;

	if (r->csum_state == RJC_CSUM_VERIFY &&
	    !rjc_proto_unverified(pkt->proto, pkt->proto == IPPROTO_UDP ? rjc_udp_check_field(ctx, l4, l4len) : -1)) {
		int tcpudp = pkt->proto == IPPROTO_TCP || pkt->proto == IPPROTO_UDP;
		__u64 pseudo = tcpudp ? rjc_csum_pseudo4(pkt->saddr.v4, pkt->daddr.v4, pkt->proto, l4len) : 0;

		if (!rjc_l4_csum_ok(ctx, l4, l4len, pseudo, hdr_sum,
				    pkt->proto == IPPROTO_TCP ? RJC_TCP_OFF_CHECK : tcpudp ? RJC_UDP_OFF_CHECK : -1))
			return RJC_NOREPLY_CHECKSUM;
	}
	if (pkt->l2 != RJC_L2_HOST)
		return RJC_NOREPLY_L2_BCAST;
	if (pkt->flags & RJC_PKT_F_BCAST_DST)
		return RJC_NOREPLY_BCAST_DST;
	if (pkt->proto == IPPROTO_ICMP) {
		if (!(pkt->flags & RJC_PKT_F_ICMP_TYPE))
			return RJC_NOREPLY_TRUNCATED;
		if (pkt->icmp_type > RJC_NR_ICMP_TYPES || ((1U << pkt->icmp_type) & RJC_ICMP_ERROR_TYPES))
			return RJC_NOREPLY_ICMP_ERROR;
	}
	/* Malformed options only reach here at OUTPUT (a raw socket's header): the kernel echoes
	 * from the skb's compiled options, empty for such a packet. */
	if ((pkt->flags & (RJC_PKT_F_IPOPTS | RJC_PKT_F_IPOPTS_BAD)) == RJC_PKT_F_IPOPTS && rjc_ip4_options_echo(pkt, sc, r) < 0)
		return RJC_NOREPLY_IPOPTS;
	if (rc)
		return rc;

	/* TTL: the hoplimit metric of the route back (v4-icmp-route-hoplimit), else
	 * ip_default_ttl. OUTPUT: the route back is the local route, without metric; to a subnet
	 * broadcast it is the local table's broadcast route, without metric too. */
	r->ttl = r->route != RJC_ROUTE_DEV ? 0 : rjc_route4_hoplimit(pkt->saddr.v4);
	if (!r->ttl)
		r->ttl = rjc_default_ttl();
	/* Quote: room = min(route MTU, 576) - IP header - options - ICMP header (icmp_send).
	 * Routes with an MTU below 576 are not considered (bpf_fib_lookup does not report it). */
	{
		__u32 room = 576 - 20 - r->optlen - 8;

		r->quote_len = pkt->ip_len < room ? pkt->ip_len : room;
	}
	r->kind = RJC_REPLY_ICMP4;
	return RJC_NOREPLY_NONE;
}

/* Rewrite the packet into the ICMP error of nf-reject.md §5.3: trim the orig to the quote,
 * open room for IP header + options + ICMP header between L2 and L3, write them. */
__noinline int rjc_icmp4_build(rjc_ctx_t *ctx, struct rjc_pkt *pkt, struct rjc_reply *r)
{
	struct rjc_scratch *sc = rjc_scratch_get();
	__u32 hlen, room, l3;
	__u16 id;
	__s64 quote_sum;
	__u64 sum;
	struct iphdr *iph;

	if (!ctx || !pkt || !r)
		return RJC_NOREPLY_FAILED;
	hlen = 20 + r->optlen;
	room = hlen + 8;
	l3 = pkt->l3_off;

	if (!sc || hlen > 60)
		return RJC_NOREPLY_FAILED;
	if (rjc_ctx_load(ctx, l3 + 4, &id, 2))
		return RJC_NOREPLY_FAILED;
	quote_sum = rjc_csum_packet(ctx, l3, r->quote_len);
	if (quote_sum < 0)
		return RJC_NOREPLY_FAILED;

	/* IP header (+ echoed options already in sc->out[20..]). */
	iph = (struct iphdr *)sc->out;
	iph->version = 4;
	iph->ihl = hlen >> 2;
	iph->tos = (pkt->tos & 0x1e) | 0xc0; /* RT_TOS(tos) | IPTOS_PREC_INTERNETCONTROL */
	iph->tot_len = bpf_htons(room + r->quote_len);
	/* The kernel's id comes from its hashed per-destination generator (not reproducible);
	 * rejectc reuses the orig's id: cheap, deterministic, and harmless as the reply never
	 * needs fragmenting (bpf/README.md). */
	iph->id = id;
	iph->frag_off = 0; /* DF clear (the ICMP socket does not do PMTU discovery) */
	iph->ttl = r->ttl;
	iph->protocol = IPPROTO_ICMP;
	iph->check = 0;
	iph->saddr = r->src.v4;
	iph->daddr = pkt->saddr.v4;
	/* ip_options_build(): our address into a claimed RR slot, address/time into TS. */
	if (r->rr_at) {
		__u32 at = r->rr_at & 63;

		rjc_put4(sc->out, (at + sc->out[rjc_idx64(at + 2)] - 5) & 63, r->src.v4);
	}
	if (r->ts_at) {
		__u32 at = r->ts_at & 63;
		__u8 ptr = sc->out[rjc_idx64(at + 2)];

		if (r->ts_need & RJC_OPT_TS_NEEDADDR)
			rjc_put4(sc->out, (at + ptr - 9) & 63, r->src.v4);
		if (r->ts_need & RJC_OPT_TS_NEEDTIME)
			rjc_put4(sc->out, (at + ptr - 5) & 63, rjc_ip4_timestamp());
	}
	iph->check = rjc_csum_final((__u32)bpf_csum_diff(0, 0, (__be32 *)sc->out, hlen & 0x3c, 0));

	/* ICMP header: type 3, code, checksum over header + quote, unused 0. */
	{
		__u8 *ic = &sc->out[rjc_idx64(hlen)];

		if (hlen + 8 > sizeof(sc->out))
			return RJC_NOREPLY_FAILED;
		ic[0] = r->icmp_type;
		ic[1] = r->icmp_code;
		*(__u16 *)&ic[2] = 0;
		*(__u32 *)&ic[4] = 0;
		sum = (__u32)bpf_csum_diff(0, 0, (__be32 *)ic, 8, 0) + (__u64)quote_sum;
		*(__u16 *)&ic[2] = rjc_csum_final(sum);
	}

	if (rjc_ctx_len(ctx) > l3 + r->quote_len && rjc_ctx_set_len(ctx, l3 + r->quote_len))
		return RJC_NOREPLY_FAILED;
	if (rjc_ctx_insert_l3(ctx, l3, room))
		return RJC_NOREPLY_FAILED;
	if (room < 28 || room > 68 || rjc_ctx_store(ctx, l3, sc->out, room) || rjc_swap_macs(ctx, pkt, r))
		return RJC_NOREPLY_FAILED;
	return RJC_NOREPLY_NONE;
}

#endif /* RJC_REPLY4_H */
