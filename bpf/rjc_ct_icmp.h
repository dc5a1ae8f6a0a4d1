/* SPDX-License-Identifier: GPL-2.0-only */
/* rjc_ct_icmp.h: ICMP and ICMPv6 at ingress — errors RELATED to the connection they quote
 * (nf_conntrack_inet_error), queries and other protocols through the shadow table,
 * neighbour discovery UNTRACKED. Included by rjc_ct.h, after rjc_ct_kernel.h. */
#ifndef RJC_CT_ICMP_H
#define RJC_CT_ICMP_H

#include "rjc_ct_kernel.h"

/* Is `type` an ICMP(v6) error (nf_conntrack_icmpv4_error: icmp_is_err(), redirects and source
 * quench included; icmpv6_error: below 128)? */
static __always_inline int rjc_ct_icmp_is_error(__u8 family, __u8 type)
{
	if (family == 6)
		return type < 128;
	return type == 3 || type == 4 || type == 5 || type == 11 || type == 12;
}

/* ICMP query types: request -> reply (invert_tuple), 0 when not a query. */
static __always_inline __u8 rjc_ct_icmp_reply_of(__u8 family, __u8 type)
{
	if (family == 4) {
		switch (type) {
		case 8: return 0;   /* echo */
		case 13: return 14; /* timestamp */
		case 15: return 16; /* info */
		case 17: return 18; /* address mask */
		}
		return 0xff;
	}
	if (type == 128)
		return 129;
	if (type == 139)
		return 140;
	return 0xff;
}

static __always_inline __u8 rjc_ct_icmp_request_of(__u8 family, __u8 type)
{
	if (family == 4) {
		switch (type) {
		case 0: return 8;
		case 14: return 13;
		case 16: return 15;
		case 18: return 17;
		}
		return 0xff;
	}
	if (type == 129)
		return 128;
	if (type == 140)
		return 139;
	return 0xff;
}

/* Look up the shadow table for `key` (orig direction). Returns 1 if a live entry exists. */
static __always_inline int rjc_ct_shadow_get(struct rjc_ct_shadow_key *k, __u32 *status)
{
	struct rjc_ct_shadow_val *v = bpf_map_lookup_elem(&rjc_ct_shadow, k);

	if (!v)
		return 0;
	if ((__s32)(v->timeout - (__u32)bpf_jiffies64()) <= 0) {
		bpf_map_delete_elem(&rjc_ct_shadow, k);
		return 0;
	}
	*status = v->status;
	return 1;
}

/* The packet as the original direction of its own connection, with the "ports" xt_conntrack
 * reads for protocols without ports: ICMP id and type<<8|code (the reply's with the reply
 * type, nf_conntrack_invert_icmp_tuple), GRE keys (version 1 carrying PPP: the call id as the
 * destination key, gre_pkt_to_tuple; no keymap, so source key 0), else zeros (generic). */
static __always_inline void rjc_ct_self_ports(rjc_ctx_t *ctx, struct rjc_ct *ct, const struct rjc_pkt *pkt, int icmp, __u16 id, __u8 rep)
{
	__u16 key = 0;

	if (icmp) {
		ct->l4proto = pkt->proto;
		rjc_ct_tuples(ct, &pkt->saddr, &pkt->daddr, id, (__u16)pkt->icmp_type << 8 | pkt->icmp_code,
			      id, (__u16)rep << 8 | pkt->icmp_code);
		return;
	}
	if (pkt->proto == IPPROTO_GRE && pkt->ip_len >= pkt->l4_off - pkt->l3_off + 8) {
		__u8 g[8] = {};

		if (!rjc_ctx_load(ctx, pkt->l4_off, g, 8) && (g[1] & 7) == 1)
			key = (__u16)g[6] << 8 | g[7];
	}
	rjc_ct_self(ct, pkt, 0, key);
}

/* ICMP queries and other protocols: the shadow table (kfuncs look up TCP and UDP only). */
static __always_inline void rjc_ct_ingress_shadow(rjc_ctx_t *ctx, const struct rjc_pkt *pkt, struct rjc_ct *ct)
{
	struct rjc_ct_shadow_key k;
	int icmp = pkt->proto == IPPROTO_ICMP || pkt->proto == IPPROTO_ICMPV6;
	__u8 req = 0xff, rep = 0xff;
	__u16 id = 0;
	__u32 status = 0;

	__builtin_memset(&k, 0, sizeof(k));
	k.family = pkt->family;
	k.proto = pkt->proto;
	if (icmp) {
		__u8 h[2] = {};

		if (!(pkt->flags & RJC_PKT_F_L4_COMPLETE) || rjc_ctx_load(ctx, pkt->l4_off + 4, h, 2)) {
			ct->state = RJC_CT_INVALID;
			return;
		}
		id = ((__u16)h[0] << 8) | h[1];
		rep = rjc_ct_icmp_reply_of(pkt->family, pkt->icmp_type);
		req = rjc_ct_icmp_request_of(pkt->family, pkt->icmp_type);
	}
	k.id = id;
	ct->l4proto = pkt->proto;
	/* As an original-direction packet. */
	if (!icmp || rep != 0xff) {
		k.type = icmp ? pkt->icmp_type : 0;
		k.src = pkt->saddr;
		k.dst = pkt->daddr;
		if (rjc_ct_shadow_get(&k, &status)) {
			ct->source = RJC_CT_SRC_SHADOW;
			ct->conn = 1;
			ct->status = status;
			ct->dir = 0;
			rjc_ct_self_ports(ctx, ct, pkt, icmp, id, rep);
			ct->state = rjc_ct_state_of(status, 0);
			return;
		}
	}
	/* As a reply. */
	if (!icmp || req != 0xff) {
		k.type = icmp ? req : 0;
		k.src = pkt->daddr;
		k.dst = pkt->saddr;
		if (rjc_ct_shadow_get(&k, &status)) {
			ct->source = RJC_CT_SRC_SHADOW;
			ct->conn = 1;
			ct->status = status;
			ct->dir = 1;
			ct->state = RJC_CT_ESTABLISHED;
			rjc_ct_tuples(ct, &pkt->daddr, &pkt->saddr, id, icmp ? (__u16)req << 8 | pkt->icmp_code : 0,
				      id, icmp ? (__u16)pkt->icmp_type << 8 | pkt->icmp_code : 0);
			return;
		}
	}
	ct->source = RJC_CT_SRC_NONE;
	/* A new connection: any protocol (generic), or an ICMP request (valid_new). */
	if (icmp && rep == 0xff) {
		ct->state = RJC_CT_INVALID;
		return;
	}
	ct->state = RJC_CT_NEW;
	ct->conn = 1;
	rjc_ct_self_ports(ctx, ct, pkt, icmp, id, rep);
}

/* An ICMP(v6) error: RELATED when the connection of the quoted packet exists and the error is
 * addressed to that packet's source (nf_conntrack_inet_error), else INVALID. The quoted packet
 * must be IPv4 without options... any IHL is followed; IPv6 without extension headers. */
static __always_inline void rjc_ct_ingress_error(rjc_ctx_t *ctx, const struct rjc_pkt *pkt, struct rjc_ct_scratch *sc)
{
	struct rjc_ct *ct = &sc->ct;
	__u32 off = pkt->l4_off + 8;
	union rjc_addr isrc, idst;
	__u8 iproto, tcp_state = 0;
	__u16 isport, idport;
	__u8 l4[4];

	ct->state = RJC_CT_INVALID;
	__builtin_memset(&isrc, 0, sizeof(isrc));
	__builtin_memset(&idst, 0, sizeof(idst));
	if (pkt->family == 4) {
		__u8 *ih = sc->ih;

		if (rjc_ctx_load(ctx, off, ih, 20))
			return;
		if ((ih[0] >> 4) != 4)
			return;
		iproto = ih[9];
		__builtin_memcpy(&isrc.v4, &ih[12], 4);
		__builtin_memcpy(&idst.v4, &ih[16], 4);
		off += (ih[0] & 0xf) * 4;
	} else {
		__u8 *ih = sc->ih;

		if (rjc_ctx_load(ctx, off, ih, 40))
			return;
		iproto = ih[6];
		__builtin_memcpy(isrc.bytes, &ih[8], 16);
		__builtin_memcpy(idst.bytes, &ih[24], 16);
		off += 40;
	}
	if (rjc_ctx_load(ctx, off, l4, 4))
		return;
	isport = ((__u16)l4[0] << 8) | l4[1];
	idport = ((__u16)l4[2] << 8) | l4[3];
	/* The error must go to the source of the packet it quotes. */
	if (!rjc_addr_eq(&pkt->daddr, &isrc))
		return;
	if (iproto == IPPROTO_TCP || iproto == IPPROTO_UDP) {
		/* Look up the inverted inner tuple: the direction of the error. */
		if (!rjc_ct_lookup(ctx, sc, pkt->family, iproto, &idst, &isrc, idport, isport, &tcp_state))
			return;
		ct->source = RJC_CT_SRC_INNER;
		ct->state = (ct->state & (RJC_CT_SNAT | RJC_CT_DNAT)) | RJC_CT_RELATED;
		return;
	}
	if (iproto == IPPROTO_ICMP || iproto == IPPROTO_ICMPV6) {
		struct rjc_ct_shadow_key k;
		__u8 h[6] = {};
		__u32 status = 0;
		__u8 req, rep, rtype;

		__builtin_memset(&k, 0, sizeof(k));
		k.family = pkt->family;
		k.proto = iproto;

		/* The quoted ICMP header: type, code, checksum, identifier. */
		if (rjc_ctx_load(ctx, off, h, 6))
			return;
		k.id = ((__u16)h[4] << 8) | h[5];
		rep = rjc_ct_icmp_reply_of(pkt->family, h[0]);
		req = rjc_ct_icmp_request_of(pkt->family, h[0]);
		k.src = isrc;
		k.dst = idst;
		k.type = h[0];
		if (rep != 0xff && rjc_ct_shadow_get(&k, &status)) {
			ct->dir = 1;
			rtype = rep;
		} else {
			k.src = idst;
			k.dst = isrc;
			k.type = req;
			if (req == 0xff || !rjc_ct_shadow_get(&k, &status))
				return;
			ct->dir = 0;
			rtype = h[0]; /* the quoted reply's: the request's reply type */
		}
		ct->source = RJC_CT_SRC_INNER;
		ct->conn = 1;
		ct->status = status;
		ct->l4proto = iproto;
		rjc_ct_tuples(ct, &k.src, &k.dst, k.id, (__u16)k.type << 8 | h[1], k.id, (__u16)rtype << 8 | h[1]);
		ct->state = RJC_CT_RELATED;
	}
}

/* ICMPv6 types icmpv6_error() marks UNTRACKED (MLD, router/neighbour discovery). */
static __always_inline int rjc_ct_icmp6_untracked(__u8 type)
{
	return (type >= 130 && type <= 136) || type == 143;
}

#endif /* RJC_CT_ICMP_H */
