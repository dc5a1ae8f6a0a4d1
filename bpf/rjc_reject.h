/* SPDX-License-Identifier: GPL-2.0-only */
/* rjc_reject.h: rjc_reject(), the REJECT target. The packet is always dropped; a reply is
 * built in place and sent when the kernel's reject_tg would send one and the reply budget
 * allows it. Every outcome is counted in rjc_reply_stats (replies by kind, silence by reason).
 */
#ifndef RJC_REJECT_H
#define RJC_REJECT_H

#ifdef RJC_USES_CT
/* bpf/rjc_ct.h (included after rjc.h when the rules track connections). */
static __always_inline int rjc_ct_csum_verified(void);
#endif

#include "rjc_reply.h"
#include "rjc_reply4.h"
#include "rjc_reply6.h"
#include "rjc_limit.h"

static __always_inline void rjc_stats_inc(__u32 index)
{
	__u64 *v = bpf_map_lookup_elem(&rjc_reply_stats, &index);

	if (v)
		*v += 1; /* per-CPU: no atomics needed */
}

/**
 * rjc_reply_budget_ok() - THE place where the reply budget is checked, once per reply, after
 * every kernel no-reply condition passed and before the packet is rewritten.
 * The budget (rjc_limit.h: a global and a per-source token bucket per reply kind, with the
 * kernel's ICMP limiter arithmetic) is keyed by the reply's destination, the orig source.
 * Returning 0 makes the REJECT drop silently (counted as RJC_NOREPLY_BUDGET), as the kernel
 * does when icmp_send() is limited. An unconfigured budget (rjc_budget_cfg all zero) allows all.
 */
static __always_inline int rjc_reply_budget_ok(rjc_ctx_t *ctx, const struct rjc_pkt *pkt, const struct rjc_reply *r)
{
	__u32 kind = r->kind == RJC_REPLY_ICMP4 ? RJC_BUDGET_ICMP : r->kind == RJC_REPLY_ICMP6 ? RJC_BUDGET_ICMP6 : RJC_BUDGET_RST;

	return rjc_reply_budget(kind, pkt->saddr.bytes, pkt->family == 6 ? 16 : 4) == RJC_BUDGET_SENT;
}

/**
 * rjc_reject() - REJECT @pkt (parsed by rjc_parse(), chain set by rjc_chain()) with reject
 * type @with (RJC_REJECT_*). Returns the flavour's verdict: the reply's redirect / XDP_TX
 * when a reply was built, RJC_DROP otherwise. pkt->noreply tells why nothing was sent
 * (RJC_NOREPLY_NONE when a reply left). After a reply, @pkt no longer describes the packet.
 */
static __always_inline int rjc_reject(rjc_ctx_t *ctx, struct rjc_pkt *pkt, __u8 with, __u8 chain)
{
	struct rjc_reply r = {};
	int family = rjc_reject_family(with), reason;

	pkt->chain = chain;
	r.csum_state = rjc_ctx_csum_state(ctx);
#ifdef RJC_USES_CT
	/* Tracked connections: nf_conntrack_in verified the checksum at PREROUTING and marked the
	 * skb, so REJECT trusts it (even where IP options were filled in after) — bpf/rjc_ct.h. */
	if (r.csum_state == RJC_CSUM_VERIFY && chain != RJC_CHAIN_OUTPUT && rjc_ct_csum_verified())
		r.csum_state = RJC_CSUM_TRUSTED;
#endif
	if (family && family != pkt->family) {
		reason = RJC_NOREPLY_FAMILY;
	} else if (with != RJC_REJECT_TCP_RESET && !rjc_reject_icmp(with, &r.icmp_type, &r.icmp_code)) {
		reason = RJC_NOREPLY_FAMILY; /* unknown code */
	} else if (pkt->family == 4) {
		reason = with == RJC_REJECT_TCP_RESET ? rjc_rst4_check(ctx, pkt, &r) : rjc_icmp4_check(ctx, pkt, &r);
	} else {
		reason = with == RJC_REJECT_TCP_RESET ? rjc_rst6_check(ctx, pkt, &r) : rjc_icmp6_check(ctx, pkt, &r);
	}
#ifdef RJC_FLAVOR_XDP
	if (reason == RJC_NOREPLY_NONE && chain == RJC_CHAIN_OUTPUT)
		reason = RJC_NOREPLY_FAILED; /* unreachable: rjc_chain() has no OUTPUT in XDP */
#endif
	if (reason == RJC_NOREPLY_NONE && !rjc_reply_budget_ok(ctx, pkt, &r))
		reason = RJC_NOREPLY_BUDGET;
	if (reason == RJC_NOREPLY_NONE) {
		switch (r.kind) {
		case RJC_REPLY_RST4:
			reason = rjc_rst4_build(ctx, pkt, &r);
			break;
		case RJC_REPLY_ICMP4:
			reason = rjc_icmp4_build(ctx, pkt, &r);
			break;
		case RJC_REPLY_RST6:
			reason = rjc_rst6_build(ctx, pkt, &r);
			break;
		default:
			reason = rjc_icmp6_build(ctx, pkt, &r);
		}
	}
	pkt->noreply = reason;
	if (reason != RJC_NOREPLY_NONE) {
		rjc_stats_inc(RJC_REPLY_KINDS + reason);
		return RJC_DROP;
	}
	rjc_stats_inc(r.kind);
#ifdef RJC_FLAVOR_TC
	/* The kernel's reply is a fresh skb: mark 0 unless net.ipv{4,6}.fwmark_reflect
	 * (IP4_REPLY_MARK / IP6_REPLY_MARK). Ours is the orig's skb, still carrying its mark. */
	{
		struct rjc_config *cfg = rjc_config_get();
		__u8 reflect = pkt->family == 4 ? RJC_CFG_F_FWMARK_REFLECT4 : RJC_CFG_F_FWMARK_REFLECT6;

		if (!cfg || !(cfg->flags & reflect))
			ctx->mark = 0;
		if (r.route == RJC_ROUTE_LOCAL)
			return rjc_ctx_send_local(ctx, rjc_output_via_dev(cfg, pkt));
	}
#endif
	return rjc_ctx_send(ctx);
}

#endif /* RJC_REJECT_H */
