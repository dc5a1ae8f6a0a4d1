/* SPDX-License-Identifier: GPL-2.0-only */
/* Test harness: rejects every IP packet with the reject type in rjc_harness (or accepts
 * everything when it is 0), through the same API the generated program uses. Built twice by
 * the tests: -DRJC_FLAVOR_TC (programs harness_ingress / harness_egress) and -DRJC_FLAVOR_XDP
 * (harness_xdp). rjc_harness_out records what the last packet was seen as. */
#define RJC_TEST_HARNESS
#include "rjc.h"

static __always_inline int harness(rjc_ctx_t *ctx, int dir)
{
	__u32 zero = 0;
	struct rjc_harness_config *cfg = bpf_map_lookup_elem(&rjc_harness, &zero);
	struct rjc_harness_result *out = bpf_map_lookup_elem(&rjc_harness_out, &zero);
	struct rjc_pkt pkt;
	int rc, chain, verdict;

	if (!cfg || !out)
		return RJC_PASS;
	rc = rjc_parse(ctx, &pkt);
	out->parse = rc;
	out->chain = RJC_CHAIN_NONE;
	out->reply = 0;
	out->reason = RJC_NOREPLY_NONE;
	if (rc != RJC_PARSE_OK)
		return RJC_PASS;
	chain = dir == RJC_DIR_INGRESS ? rjc_chain(ctx, &pkt, RJC_DIR_INGRESS, cfg->chain)
#ifdef RJC_FLAVOR_TC
				       : rjc_chain(ctx, &pkt, RJC_DIR_EGRESS, cfg->chain);
#else
				       : RJC_CHAIN_NONE;
#endif
	out->chain = chain;
	if (chain == RJC_CHAIN_NONE || !cfg->reject_with)
		return RJC_PASS;
	verdict = rjc_reject(ctx, &pkt, cfg->reject_with, chain);
	out->reason = pkt.noreply;
	out->reply = pkt.noreply == RJC_NOREPLY_NONE;
	return verdict;
}

#ifdef RJC_FLAVOR_TC
SEC("tc")
int harness_ingress(struct __sk_buff *ctx)
{
	return harness(ctx, RJC_DIR_INGRESS);
}

SEC("tc")
int harness_egress(struct __sk_buff *ctx)
{
	return harness(ctx, RJC_DIR_EGRESS);
}
#else
SEC("xdp")
int harness_xdp(struct xdp_md *ctx)
{
	return harness(ctx, RJC_DIR_INGRESS);
}
#endif

char _license[] SEC("license") = "GPL";
