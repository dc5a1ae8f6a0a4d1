/* SPDX-License-Identifier: GPL-2.0-only */
/* ct-probe: counts every IP packet at a hook by the conntrack state rjc_ct_classify() gives it,
 * for test/ct-kernel.test.ts, which compares the counts with iptables' own per-state counters
 * (-m conntrack --ctstate X in INPUT/OUTPUT) for the same traffic in the same namespace.
 *
 * Counter index: dir * 16 + (family == 6) * 8 + state, state 0 INVALID 1 ESTABLISHED
 * 2 RELATED 3 NEW 4 UNTRACKED (the bit index of RJC_CT_*). The egress program also keeps the
 * shadow table (rjc_ct_shadow_note), as the generated programs do.
 */
#ifdef CT_PROBE_XDP
#define RJC_FLAVOR_XDP
#else
#define RJC_FLAVOR_TC
#endif
#include "rjc.h"
#include "rjc_ct.h"

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 32);
	__type(key, __u32);
	__type(value, __u64);
} ct_counts SEC(".maps");


static __always_inline int ct_probe(rjc_ctx_t *ctx, int dir)
{
	struct rjc_pkt pkt;
	const struct rjc_ct *ct;
	__u32 k, bit = 0;
	__u64 *n;

	if (rjc_parse(ctx, &pkt) != RJC_PARSE_OK)
		return RJC_PASS;
	/* IPv6 multicast this host has not joined (MLD reports to ff02::16, ...) never reaches
	 * INPUT: count only all-nodes and solicited-node destinations, as the kernel delivers. */
	if (dir == RJC_DIR_INGRESS && pkt.family == 6 && pkt.daddr.bytes[0] == 0xff &&
	    !(pkt.daddr.v6[0] == bpf_htonl(0xff020000) && pkt.daddr.v6[1] == 0 &&
	      ((pkt.daddr.v6[2] == 0 && pkt.daddr.v6[3] == bpf_htonl(1)) ||
	       (pkt.daddr.v6[2] == bpf_htonl(1) && pkt.daddr.bytes[12] == 0xff))))
		return RJC_PASS;
	ct = rjc_ct_classify_inline(ctx, &pkt, dir);
	if (!ct)
		return RJC_PASS;
#ifndef CT_PROBE_XDP
	if (dir == RJC_DIR_EGRESS)
		rjc_ct_shadow_note(ctx, &pkt);
#endif
	for (bit = 0; bit < 5; bit++)
		if (ct->state & (1u << bit))
			break;
	k = (dir == RJC_DIR_EGRESS ? 16 : 0) + (pkt.family == 6 ? 8 : 0) + bit;
	n = bpf_map_lookup_elem(&ct_counts, &k);
	if (n)
		__sync_fetch_and_add(n, 1);
	return RJC_PASS;
}

#ifdef CT_PROBE_XDP
SEC("xdp")
int ct_probe_xdp(struct xdp_md *ctx)
{
	return ct_probe(ctx, RJC_DIR_INGRESS);
}
#else
SEC("tc")
int ct_probe_ingress(struct __sk_buff *ctx)
{
	return ct_probe(ctx, RJC_DIR_INGRESS);
}

SEC("tc")
int ct_probe_egress(struct __sk_buff *ctx)
{
	return ct_probe(ctx, RJC_DIR_EGRESS);
}
#endif

char _license[] SEC("license") = "GPL";
