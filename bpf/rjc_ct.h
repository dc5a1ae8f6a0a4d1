/* SPDX-License-Identifier: GPL-2.0-only */
/* rjc_ct.h: the connection tracking state a netfilter filter chain would see for a packet
 * (`-m state`, `-m conntrack`), computed at a TC or XDP hook from the KERNEL's own conntrack
 * table. Design and measurements: docs/stateful.md.
 *
 *   rjc_ct_classify(ctx, &pkt, dir);   // after rjc_parse(): the result in this CPU's scratch
 *   if (rjc_ct_check(RJC_CHK_STATE, 0, 0, 0, RJC_CT_ESTABLISHED, 0)) ...   // a rule's check
 *   const struct rjc_ct *ct = rjc_ct_classify_inline(ctx, &pkt, dir);   // or read it inline
 *
 * Where the hook sits relative to conntrack decides how the state is found:
 *
 * - TC egress (OUTPUT, and forwarded packets leaving) runs AFTER nf_conntrack_in() at
 *   LOCAL_OUT/PREROUTING and after confirmation at POSTROUTING: the skb carries the kernel's
 *   verdict in skb->_nfct (conntrack pointer | ctinfo), read through bpf_cast_to_kern_ctx.
 *   That is exactly what the OUTPUT filter chain saw.
 * - TC ingress and XDP (INPUT, FORWARD) run BEFORE conntrack has seen the packet. The state is
 *   what nf_conntrack_in() is about to decide, derived from the table as it is now:
 *   TCP/UDP through the bpf_skb_ct_lookup / bpf_xdp_ct_lookup kfuncs plus the checks
 *   nf_conntrack_in() makes on the packet itself (tcp_error's flag table, tcp_new's loose
 *   pickup, the re-open of a closed connection by a SYN); ICMP/ICMPv6 errors are RELATED when
 *   the connection of the packet they quote exists (nf_conntrack_inet_error); ICMPv6
 *   neighbour discovery and MLD are UNTRACKED (icmpv6_error); ICMP queries and other
 *   protocols, which the kfuncs cannot look up, come from a shadow table (rjc_ct_shadow)
 *   that the egress program fills from the kernel's entries it sees on outgoing packets.
 *
 * For TCP segments of a known connection, the state table, the RST sequence check and
 * tcp_in_window()'s hard failures are applied to the connection's window state as the lookup
 * finds it (rjc_ct_tcp_invalid); bad transport checksums make a packet INVALID as
 * nf_conntrack_checksum does (rjc_ct_csum_check), and right ones are trusted by REJECT after
 * (rjc_ct_csum_verified). Known differences (docs/stateful.md): SACK
 * blocks, non-first fragments, raw-table NOTRACK at ingress, NAT'ed ICMP errors.
 */
#ifndef RJC_CT_H
#define RJC_CT_H

#include "rjc_ct_kernel.h"
#include "rjc_ct_tcp.h"
#include "rjc_ct_icmp.h"

/* ---------------------------------------------------------------------------------------- */
/* Egress: the kernel's verdict on this very skb.                                           */

#ifdef RJC_FLAVOR_TC
static __always_inline void rjc_ct_from_skb(rjc_ctx_t *ctx, struct rjc_ct_scratch *sc)
{
	struct rjc_ct *ct = &sc->ct;
	struct sk_buff___rjc_ct *skb = bpf_cast_to_kern_ctx(ctx);
	unsigned long nfct = BPF_CORE_READ(skb, _nfct);
	unsigned long info = nfct & RJC_NFCT_INFOMASK;
	const struct nf_conn___rjc *c = (const void *)(nfct & ~RJC_NFCT_INFOMASK);

	ct->source = RJC_CT_SRC_SKB;
	if (!c) {
		ct->state = info == RJC_IP_CT_UNTRACKED ? RJC_CT_UNTRACKED : RJC_CT_INVALID;
		return;
	}
	ct->dir = info >= RJC_IP_CT_IS_REPLY;
	switch (info) {
	case RJC_IP_CT_ESTABLISHED:
	case RJC_IP_CT_ESTABLISHED_REPLY:
		ct->state = RJC_CT_ESTABLISHED;
		break;
	case RJC_IP_CT_RELATED:
	case RJC_IP_CT_RELATED_REPLY:
		ct->state = RJC_CT_RELATED;
		break;
	default:
		ct->state = RJC_CT_NEW;
		break;
	}
	rjc_ct_from_conn(sc, c);
}

/* Egress: remember a connection the kfuncs cannot look up, so that ingress finds it. A
 * subprogram, for the same stack reason as rjc_ct_classify(). */
static __noinline void rjc_ct_shadow_note(rjc_ctx_t *ctx, const struct rjc_pkt *pkt)
{
	struct sk_buff___rjc_ct *skb;
	const struct nf_conn___rjc *c;
	struct rjc_nf_tuple t;
	struct rjc_ct_shadow_key k;
	struct rjc_ct_shadow_val v;
	unsigned long nfct;

	/* Unions and padding: `= {}` zeroes only first members; keys must be zero throughout. */
	__builtin_memset(&k, 0, sizeof(k));
	__builtin_memset(&v, 0, sizeof(v));

	if (pkt->proto == IPPROTO_TCP || pkt->proto == IPPROTO_UDP)
		return;
	skb = bpf_cast_to_kern_ctx(ctx);
	nfct = BPF_CORE_READ(skb, _nfct);
	c = (const void *)(nfct & ~RJC_NFCT_INFOMASK);
	if (!c)
		return;
	__builtin_memset(&t, 0, sizeof(t));
	bpf_core_read(&t, sizeof(t), &c->tuplehash[0].tuple);
	k.family = pkt->family;
	k.proto = t.protonum;
	if (t.protonum == IPPROTO_ICMP || t.protonum == IPPROTO_ICMPV6) {
		k.type = t.dst_u.icmp.type;
		k.id = bpf_ntohs(t.src_u);
	}
	rjc_ct_copy_addr(&k.src, t.src);
	rjc_ct_copy_addr(&k.dst, t.dst);
	v.status = (__u32)BPF_CORE_READ(c, status);
	v.timeout = BPF_CORE_READ(c, timeout);
	bpf_map_update_elem(&rjc_ct_shadow, &k, &v, BPF_ANY);
}
#endif

/* ---------------------------------------------------------------------------------------- */
/* Ingress: what nf_conntrack_in() is about to decide.                                      */

/* What nf_conntrack_in() refuses from the headers alone, BEFORE any checksum is verified:
 * the packet gets no nf_conn (INVALID) and its skb is not marked verified, so REJECT checks
 * the checksum itself afterwards. 1 when refused. In the kernel's order:
 * - get_l4proto(): a non-first fragment; IPv6 extension headers ipv6_skip_exthdr() cannot
 *   walk, "no next header" (59) among them (pkt->x_off 0);
 * - nf_ct_get_tuple(): TCP, UDP, SCTP without their port bytes, ICMP/ICMPv6 without their
 *   8-byte header, GRE version 1 (PPTP) whose protocol is not PPP (gre_pkt_to_tuple);
 * - the protocol's error handler up to its checksum step: tcp_error's 20-byte header and
 *   data offset (below 5 words or beyond the segment), udp_error's length field (shorter
 *   than the header or longer than the datagram), icmp(v6)_error's 8 bytes, sctp_error's
 *   12-byte common header. */
static __always_inline int rjc_ct_header_invalid(rjc_ctx_t *ctx, const struct rjc_pkt *pkt)
{
	__u32 hlen = pkt->l4_off - pkt->l3_off;
	__u32 l4len = pkt->ip_len > hlen ? pkt->ip_len - hlen : 0;
	__u8 w[4] = {};

	if (pkt->fragoff)
		return 1;
	if (pkt->family == 6 && (!pkt->x_off || pkt->x_fragoff))
		return 1;
	switch (pkt->proto) {
	case IPPROTO_TCP:
		if (!(pkt->flags & RJC_PKT_F_L4_COMPLETE) || rjc_ctx_load(ctx, pkt->l4_off + 12, w, 1))
			return 1;
		return (w[0] >> 4) < 5 || l4len < (__u32)(w[0] >> 4) * 4;
	case IPPROTO_UDP: {
		__u32 ulen;

		if (!(pkt->flags & RJC_PKT_F_L4_COMPLETE) || rjc_ctx_load(ctx, pkt->l4_off + 4, w, 2))
			return 1;
		ulen = (__u32)w[0] << 8 | w[1];
		return ulen < 8 || ulen > l4len;
	}
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		return !(pkt->flags & RJC_PKT_F_L4_COMPLETE);
	case IPPROTO_SCTP:
		return l4len < 12;
	case IPPROTO_GRE:
		/* gre_pkt_to_tuple(): version 1 with its 8 bytes must carry PPP (0x880b); shorter,
		 * or another version, is tracked like a generic protocol. */
		if (l4len < 8 || rjc_ctx_load(ctx, pkt->l4_off, w, 4))
			return 0;
		return (w[1] & 7) == 1 && !(w[2] == 0x88 && w[3] == 0x0b);
	}
	return 0;
}

/* TCP/UDP at ingress. */
static __always_inline void rjc_ct_ingress_tcpudp(rjc_ctx_t *ctx, const struct rjc_pkt *pkt, struct rjc_ct_scratch *sc)
{
	struct rjc_ct *ct = &sc->ct;
	__u8 tcp_state = 0;
	int tcp = pkt->proto == IPPROTO_TCP;
	__u8 f = pkt->tcp_flags;

	/* tcp_error's flag table comes after its checksum step (the header checks before it are
	 * rjc_ct_header_invalid's). */
	if (tcp && !rjc_ct_tcp_flags_valid(f)) {
		ct->state = RJC_CT_INVALID;
		return;
	}
	if (rjc_ct_lookup(ctx, sc, pkt->family, pkt->proto, &pkt->saddr, &pkt->daddr, pkt->sport, pkt->dport, &tcp_state)) {
		ct->source = RJC_CT_SRC_KFUNC;
		/* nf_conntrack_tcp_packet(): a SYN re-opening a closed connection kills it and
		 * nf_conntrack_in() starts over with a new one. */
		if (tcp && (f & 0x17) == 0x02 && !ct->dir && tcp_state >= RJC_TCP_CONNTRACK_TIME_WAIT) {
			ct->state = RJC_CT_NEW;
			ct->status = 0;
			rjc_ct_self(ct, pkt, pkt->sport, pkt->dport);
			return;
		}
		if (tcp && rjc_ct_tcp_invalid(ctx, pkt, sc, ct->dir)) {
			/* nf_conntrack_tcp_packet() returns -NF_ACCEPT: no conntrack for the packet. */
			ct->state = RJC_CT_INVALID;
			ct->conn = 0;
			return;
		}
		ct->state |= rjc_ct_state_of(ct->status, ct->dir);
		return;
	}
	ct->source = RJC_CT_SRC_NONE;
	if (tcp) {
		/* tcp_new(): only a SYN, or (nf_conntrack_tcp_loose, default 1) a segment with
		 * ACK and neither RST nor SYN+ACK nor FIN, starts a connection. */
		if (f & 0x04) {
			ct->state = RJC_CT_INVALID;
			return;
		}
		if (f & 0x02) {
			if (f & 0x10) {
				ct->state = RJC_CT_INVALID;
				return;
			}
		} else if ((f & 0x01) || !(f & 0x10)) {
			ct->state = RJC_CT_INVALID;
			return;
		}
	}
	ct->state = RJC_CT_NEW;
	ct->conn = 1;
	rjc_ct_self(ct, pkt, pkt->sport, pkt->dport);
}

/* The state of a packet at `dir` (RJC_DIR_INGRESS / RJC_DIR_EGRESS), in this CPU's scratch
 * slot; NULL only if the scratch map is missing. Precondition: `pkt` was filled by
 * rjc_parse(). The result stays valid until the next call on this CPU. */
static __always_inline const struct rjc_ct *rjc_ct_classify_inline(rjc_ctx_t *ctx, const struct rjc_pkt *pkt, int dir)
{
	__u32 zero = 0;
	struct rjc_ct_scratch *sc = bpf_map_lookup_elem(&rjc_ct_scratch, &zero);
	struct rjc_ct *ct;

	if (!sc)
		return 0;
	ct = &sc->ct;
	__builtin_memset(ct, 0, sizeof(*ct));
	sc->csum_verified = 0;
#ifdef RJC_FLAVOR_TC
	if (dir != RJC_DIR_INGRESS) {
		rjc_ct_from_skb(ctx, sc);
		return ct;
	}
#endif
	/* Refused before the checksum step (a non-first fragment too: conntrack sees the
	 * reassembled packet, a fragment alone has no ports): INVALID, checksum not verified. */
	if (rjc_ct_header_invalid(ctx, pkt)) {
		ct->state = RJC_CT_INVALID;
		return ct;
	}
	{
		int csum = rjc_ct_csum_check(ctx, pkt);

		if (csum > 0) {
			ct->state = RJC_CT_INVALID;
			return ct;
		}
		sc->csum_verified = csum == 0;
	}
	switch (pkt->proto) {
	case IPPROTO_TCP:
	case IPPROTO_UDP:
		rjc_ct_ingress_tcpudp(ctx, pkt, sc);
		return ct;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		/* nf_conntrack_icmp(v6)_packet(): ICMP in IPv6, ICMPv6 in IPv4 get no conntrack. */
		if ((pkt->family == 4) != (pkt->proto == IPPROTO_ICMP)) {
			ct->state = RJC_CT_INVALID;
			return ct;
		}
		if (!(pkt->flags & RJC_PKT_F_ICMP_TYPE)) {
			ct->state = RJC_CT_INVALID;
			return ct;
		}
		if (pkt->family == 6 && rjc_ct_icmp6_untracked(pkt->icmp_type)) {
			ct->state = RJC_CT_UNTRACKED;
			return ct;
		}
		if (rjc_ct_icmp_is_error(pkt->family, pkt->icmp_type)) {
			rjc_ct_ingress_error(ctx, pkt, sc);
			return ct;
		}
		break;
	}
	rjc_ct_ingress_shadow(ctx, pkt, ct);
	return ct;
}

/* The same as a subprogram of its own (returns 0, or -1 without the scratch map): its stack
 * frame is never live together with the reply path's, which needs most of the 512 bytes. */
static __noinline int rjc_ct_classify(rjc_ctx_t *ctx, const struct rjc_pkt *pkt, int dir)
{
	return rjc_ct_classify_inline(ctx, pkt, dir) ? 0 : -1;
}

/* 1 when conntrack verified the current packet's transport checksum at PREROUTING and found
 * it right: the kernel then marks the skb verified, and REJECT skips its own check
 * (rjc_reject() asks this, under RJC_USES_CT). */
static __always_inline int rjc_ct_csum_verified(void)
{
	__u32 zero = 0;
	const struct rjc_ct_scratch *sc = bpf_map_lookup_elem(&rjc_ct_scratch, &zero);

	return sc && sc->csum_verified;
}

/* ---------------------------------------------------------------------------------------- */
/* Rule checks (rjc_check.kind codes of src/compiler/classify/stateful.ts CT_CHECK), against
 * the result of the last rjc_ct_classify() on this CPU.                                    */

#define RJC_CHK_CTSTATE 2 /* (state incl. SNAT/DNAT & mask) != 0 */
#define RJC_CHK_STATE   3 /* (state & mask) != 0, xt_state: no NAT bits */
#define RJC_CHK_PROTO   4 /* l4proto == value */
#define RJC_CHK_PORT    5 /* value <= port[arg] <= mask */
#define RJC_CHK_ADDR4   6 /* (IPv4 address[arg] & mask) == value */
#define RJC_CHK_STATUS  7 /* (status & mask) != 0 */
#define RJC_CHK_DIR     8 /* dir == value */

/* 1 if a conntrack check passes (conntrack_mt / state_mt). `noconn` is the result for a
 * packet without a connection when the check is not a state test: conntrack_mt returns
 * whether the match tested the state (which then passed). */
static __always_inline int rjc_ct_check(__u8 kind, __u8 arg, __u8 noconn, __u32 value, __u32 mask, __u8 negated)
{
	__u32 zero = 0;
	const struct rjc_ct_scratch *sc = bpf_map_lookup_elem(&rjc_ct_scratch, &zero);
	const struct rjc_ct *ct;
	__u32 v;
	int hit;

	if (!sc)
		return 0;
	ct = &sc->ct;
	if (kind == RJC_CHK_STATE)
		return !!(ct->state & 0x1f & mask) != !!negated;
	if (kind == RJC_CHK_CTSTATE)
		return !!(ct->state & mask) != !!negated;
	if (!ct->conn)
		return noconn;
	switch (kind) {
	case RJC_CHK_DIR:
		return ct->dir == value;
	case RJC_CHK_PROTO:
		hit = ct->l4proto == value;
		break;
	case RJC_CHK_PORT:
		v = arg == 0 ? ct->orig_sport : arg == 1 ? ct->orig_dport : arg == 2 ? ct->repl_sport : ct->repl_dport;
		hit = v >= value && v <= mask;
		break;
	case RJC_CHK_ADDR4:
		v = arg == 0 ? ct->orig_src.v4 : arg == 1 ? ct->orig_dst.v4 : arg == 2 ? ct->repl_src.v4 : ct->repl_dst.v4;
		hit = (v & mask) == value;
		break;
	default:
		hit = (ct->status & mask) != 0;
		break;
	}
	return hit != !!negated;
}

#endif /* RJC_CT_H */
