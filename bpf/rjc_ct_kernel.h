/* SPDX-License-Identifier: GPL-2.0-only */
/* rjc_ct_kernel.h: the kernel's connection table as rjc_ct.h reads it — the result type
 * (struct rjc_ct), the CO-RE views of nf_conn and its tuples, the conntrack kfuncs, the
 * per-CPU scratch, the shadow table of connections the kfuncs cannot look up, and the
 * TCP/UDP lookup. Included by rjc_ct.h. */
#ifndef RJC_CT_KERNEL_H
#define RJC_CT_KERNEL_H

#include <linux/types.h>
#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "rjc_ctx.h"
#include "rjc_pkt.h"

/* rjc_ct.state: one of the first five, plus SNAT/DNAT (the xt_conntrack state bits). */
#define RJC_CT_INVALID     0x01
#define RJC_CT_ESTABLISHED 0x02
#define RJC_CT_RELATED     0x04
#define RJC_CT_NEW         0x08
#define RJC_CT_UNTRACKED   0x10
#define RJC_CT_SNAT        0x20
#define RJC_CT_DNAT        0x40

/* nf_conn.status bits (enum ip_conntrack_status, UAPI). */
#define RJC_IPS_EXPECTED   0x01
#define RJC_IPS_SEEN_REPLY 0x02
#define RJC_IPS_ASSURED    0x04
#define RJC_IPS_CONFIRMED  0x08
#define RJC_IPS_SRC_NAT    0x10
#define RJC_IPS_DST_NAT    0x20

/* enum ip_conntrack_info */
#define RJC_IP_CT_ESTABLISHED       0
#define RJC_IP_CT_RELATED           1
#define RJC_IP_CT_NEW               2
#define RJC_IP_CT_IS_REPLY          3
#define RJC_IP_CT_ESTABLISHED_REPLY 3
#define RJC_IP_CT_RELATED_REPLY     4
#define RJC_IP_CT_UNTRACKED         7
#define RJC_NFCT_INFOMASK           7UL

/* enum tcp_conntrack (the states at or after TIME_WAIT can be re-opened by a SYN). */
#define RJC_TCP_CONNTRACK_TIME_WAIT 7

/* How the state was found (rjc_ct.source), for tests and traces. */
#define RJC_CT_SRC_NONE    0 /* no connection: decided from the packet alone */
#define RJC_CT_SRC_SKB     1 /* skb->_nfct (egress) */
#define RJC_CT_SRC_KFUNC   2 /* bpf_*_ct_lookup of the packet's tuple */
#define RJC_CT_SRC_INNER   3 /* bpf_*_ct_lookup of the tuple an ICMP error quotes */
#define RJC_CT_SRC_SHADOW  4 /* rjc_ct_shadow */

/* The connection a packet belongs to, as xt_conntrack reads it. Addresses network order,
 * ports (and ICMP ids) host order. When `conn` is 0 there is no connection (INVALID or
 * UNTRACKED) and only `state` means anything. For a packet that would create a connection,
 * the tuples are the packet's own (orig) and its inversion (reply), as in the kernel's
 * unconfirmed entry. */
struct rjc_ct {
	__u16 state;       /* RJC_CT_* */
	__u8 conn;         /* 1 if a connection exists (ct != NULL in xt_conntrack) */
	__u8 dir;          /* 0 ORIGINAL, 1 REPLY */
	__u32 status;      /* RJC_IPS_* */
	__u8 l4proto;      /* the connection's protocol (--ctproto) */
	__u8 source;       /* RJC_CT_SRC_* */
	__u16 pad;
	__u16 orig_sport, orig_dport, repl_sport, repl_dport;
	union rjc_addr orig_src, orig_dst, repl_src, repl_dst;
};

/* ---------------------------------------------------------------------------------------- */
/* Kernel types, CO-RE relocated (no vmlinux.h). nf_conntrack_tuple is mirrored byte for byte
 * (40 bytes, stable since 2.6) and read whole.                                              */

struct rjc_nf_tuple {
	__be32 src[4];
	__be16 src_u;      /* port, ICMP id, or GRE key */
	__u16 l3num;
	__be32 dst[4];
	union {
		__be16 all;
		struct { __u8 type, code; } icmp;
	} dst_u;
	__u8 protonum;
	__u8 dir;
};

struct nf_conntrack_tuple___rjc {
	int unused;
} __attribute__((preserve_access_index));

struct nf_conntrack_tuple_hash___rjc {
	struct nf_conntrack_tuple___rjc tuple;
} __attribute__((preserve_access_index));

struct ip_ct_tcp_state___rjc {
	__u32 td_end;
	__u32 td_maxend;
	__u32 td_maxwin;
	__u32 td_maxack;
	__u8 td_scale;
	__u8 flags;
} __attribute__((preserve_access_index));

struct ip_ct_tcp___rjc {
	struct ip_ct_tcp_state___rjc seen[2];
	__u8 state;
	__u8 last_index;
} __attribute__((preserve_access_index));

union nf_conntrack_proto___rjc {
	struct ip_ct_tcp___rjc tcp;
} __attribute__((preserve_access_index));

struct nf_conn___rjc {
	unsigned long status;
	__u32 timeout;
	struct nf_conntrack_tuple_hash___rjc tuplehash[2];
	union nf_conntrack_proto___rjc proto;
} __attribute__((preserve_access_index));

struct sk_buff___rjc_ct {
	unsigned long _nfct;
} __attribute__((preserve_access_index));

struct bpf_ct_opts___rjc {
	__s32 netns_id;
	__s32 error;
	__u8 l4proto;
	__u8 dir;
	__u8 reserved[2];
};

/* A complete type (not a forward declaration): libbpf checks kfunc prototypes against the
 * kernel's, and a forward declaration is not compatible with a struct. */
struct nf_conn {
	unsigned long status;
} __attribute__((preserve_access_index));

#ifdef RJC_FLAVOR_TC
extern struct nf_conn *bpf_skb_ct_lookup(struct __sk_buff *, struct bpf_sock_tuple *, __u32,
					 struct bpf_ct_opts___rjc *, __u32) __ksym;
#else
extern struct nf_conn *bpf_xdp_ct_lookup(struct xdp_md *, struct bpf_sock_tuple *, __u32,
					 struct bpf_ct_opts___rjc *, __u32) __ksym;
#endif
extern void bpf_ct_release(struct nf_conn *) __ksym;

/* ---------------------------------------------------------------------------------------- */
/* The shadow table: connections of protocols the kfuncs cannot look up (ICMP queries, GRE,
 * ESP, ...), keyed by their ORIGINAL tuple. Written by the egress program from the kernel's
 * own entry (status, expiry); read at ingress. ICMP keys carry the query type of the request
 * and the identifier; other protocols have type = id = 0. */

struct rjc_ct_shadow_key {
	__u8 family;       /* 4 or 6 */
	__u8 proto;
	__u8 type;         /* ICMP/ICMPv6 request type of the original direction */
	__u8 pad;
	__u16 id;          /* ICMP identifier, host order */
	__u16 pad2;
	union rjc_addr src;
	union rjc_addr dst;
};

struct rjc_ct_shadow_val {
	__u32 status;      /* RJC_IPS_* as the kernel had it */
	__u32 timeout;     /* nf_conn.timeout: expiry in jiffies (low 32 bits) */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct rjc_ct_shadow_key);
	__type(value, struct rjc_ct_shadow_val);
} rjc_ct_shadow SEC(".maps");

/* Per-CPU scratch: the result and the big temporaries live here, not on the 512-byte stack
 * the generated program shares with the reply path. */
/* A TCP connection's window tracking (ct->proto.tcp.seen[], indexed by direction). */
struct rjc_tcp_track {
	__u32 end[2], maxend[2], maxwin[2], maxack[2];
	__u8 flags[2];
	__u8 state;
	__u8 last_index;  /* get_conntrack_index() of the last segment the state machine ignored or took */
};

struct rjc_ct_scratch {
	struct rjc_ct ct;
	struct rjc_nf_tuple t[2];
	struct bpf_sock_tuple tup;
	struct bpf_ct_opts___rjc opts;
	struct rjc_tcp_track tcp;
	__u8 ih[40];
	__u8 csum_verified; /* conntrack would have verified this packet's checksum (and found it right) */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct rjc_ct_scratch);
} rjc_ct_scratch SEC(".maps");

/* ---------------------------------------------------------------------------------------- */
/* Small helpers                                                                            */

static __always_inline void rjc_ct_copy_addr(union rjc_addr *to, const __be32 *from)
{
	to->v6[0] = from[0];
	to->v6[1] = from[1];
	to->v6[2] = from[2];
	to->v6[3] = from[3];
}

/* The tuples of a connection: orig = src:sport -> dst:dport, reply = dst:repl_sport ->
 * src:repl_dport (TCP/UDP: the ports swapped; ICMP: the id both ways, the reply's type). */
static __always_inline void rjc_ct_tuples(struct rjc_ct *ct, const union rjc_addr *src, const union rjc_addr *dst,
					  __u16 sport, __u16 dport, __u16 repl_sport, __u16 repl_dport)
{
	ct->orig_src = *src;
	ct->orig_dst = *dst;
	ct->repl_src = *dst;
	ct->repl_dst = *src;
	ct->orig_sport = sport;
	ct->orig_dport = dport;
	ct->repl_sport = repl_sport;
	ct->repl_dport = repl_dport;
}

/* The packet as a connection of its own: orig = the packet's tuple, reply = its inversion. */
static __always_inline void rjc_ct_self(struct rjc_ct *ct, const struct rjc_pkt *pkt, __u16 sport, __u16 dport)
{
	ct->l4proto = pkt->proto;
	rjc_ct_tuples(ct, &pkt->saddr, &pkt->daddr, sport, dport, dport, sport);
}

/* Fill the tuples, status and state from a kernel nf_conn and the packet's direction. */
static __always_inline void rjc_ct_from_conn(struct rjc_ct_scratch *sc, const struct nf_conn___rjc *c)
{
	struct rjc_ct *ct = &sc->ct;
	struct rjc_nf_tuple *t = sc->t;

	if (bpf_core_read(&t[0], sizeof(t[0]), &c->tuplehash[0].tuple))
		__builtin_memset(&t[0], 0, sizeof(t[0]));
	if (bpf_core_read(&t[1], sizeof(t[1]), &c->tuplehash[1].tuple))
		__builtin_memset(&t[1], 0, sizeof(t[1]));
	ct->status = (__u32)BPF_CORE_READ(c, status);
	ct->conn = 1;
	ct->l4proto = t[0].protonum;
	rjc_ct_copy_addr(&ct->orig_src, t[0].src);
	rjc_ct_copy_addr(&ct->orig_dst, t[0].dst);
	rjc_ct_copy_addr(&ct->repl_src, t[1].src);
	rjc_ct_copy_addr(&ct->repl_dst, t[1].dst);
	ct->orig_sport = bpf_ntohs(t[0].src_u);
	ct->orig_dport = bpf_ntohs(t[0].dst_u.all);
	ct->repl_sport = bpf_ntohs(t[1].src_u);
	ct->repl_dport = bpf_ntohs(t[1].dst_u.all);
	if (ct->status & RJC_IPS_SRC_NAT)
		ct->state |= RJC_CT_SNAT;
	if (ct->status & RJC_IPS_DST_NAT)
		ct->state |= RJC_CT_DNAT;
}

/* ctinfo of a packet of an existing connection in direction `dir`, as resolve_normal_ct(). */
static __always_inline __u16 rjc_ct_state_of(__u32 status, __u8 dir)
{
	if (dir)
		return RJC_CT_ESTABLISHED;
	if (status & RJC_IPS_SEEN_REPLY)
		return RJC_CT_ESTABLISHED;
	if (status & RJC_IPS_EXPECTED)
		return RJC_CT_RELATED;
	return RJC_CT_NEW;
}

/* Look up a TCP/UDP tuple in the kernel table. Returns 1 and fills sc->ct when found (and,
 * for TCP, *tcp_state and sc->tcp; *tcp_state is left alone for UDP). */
static __always_inline int rjc_ct_lookup(rjc_ctx_t *ctx, struct rjc_ct_scratch *sc, __u8 family, __u8 proto,
					 const union rjc_addr *src, const union rjc_addr *dst,
					 __u16 sport, __u16 dport, __u8 *tcp_state)
{
	struct bpf_sock_tuple *tup = &sc->tup;
	struct bpf_ct_opts___rjc *opts = &sc->opts;
	struct nf_conn *c;
	__u32 len;

	__builtin_memset(tup, 0, sizeof(*tup));
	__builtin_memset(opts, 0, sizeof(*opts));
	opts->netns_id = -1;
	opts->l4proto = proto;
	if (family == 4) {
		tup->ipv4.saddr = src->v4;
		tup->ipv4.daddr = dst->v4;
		tup->ipv4.sport = bpf_htons(sport);
		tup->ipv4.dport = bpf_htons(dport);
		len = sizeof(tup->ipv4);
	} else {
		__builtin_memcpy(tup->ipv6.saddr, src->v6, 16);
		__builtin_memcpy(tup->ipv6.daddr, dst->v6, 16);
		tup->ipv6.sport = bpf_htons(sport);
		tup->ipv6.dport = bpf_htons(dport);
		len = sizeof(tup->ipv6);
	}
#ifdef RJC_FLAVOR_TC
	c = bpf_skb_ct_lookup(ctx, tup, len, opts, sizeof(*opts));
#else
	c = bpf_xdp_ct_lookup(ctx, tup, len, opts, sizeof(*opts));
#endif
	if (!c)
		return 0;
	sc->ct.dir = opts->dir;
	rjc_ct_from_conn(sc, (const struct nf_conn___rjc *)c);
	if (proto == IPPROTO_TCP) {
		const struct nf_conn___rjc *k = (const void *)c;
		struct rjc_tcp_track *t = &sc->tcp;

		*tcp_state = BPF_CORE_READ(k, proto.tcp.state);
		t->state = *tcp_state;
		t->last_index = BPF_CORE_READ(k, proto.tcp.last_index);
		t->end[0] = BPF_CORE_READ(k, proto.tcp.seen[0].td_end);
		t->end[1] = BPF_CORE_READ(k, proto.tcp.seen[1].td_end);
		t->maxend[0] = BPF_CORE_READ(k, proto.tcp.seen[0].td_maxend);
		t->maxend[1] = BPF_CORE_READ(k, proto.tcp.seen[1].td_maxend);
		t->maxwin[0] = BPF_CORE_READ(k, proto.tcp.seen[0].td_maxwin);
		t->maxwin[1] = BPF_CORE_READ(k, proto.tcp.seen[1].td_maxwin);
		t->maxack[0] = BPF_CORE_READ(k, proto.tcp.seen[0].td_maxack);
		t->maxack[1] = BPF_CORE_READ(k, proto.tcp.seen[1].td_maxack);
		t->flags[0] = BPF_CORE_READ(k, proto.tcp.seen[0].flags);
		t->flags[1] = BPF_CORE_READ(k, proto.tcp.seen[1].flags);
	}
	bpf_ct_release(c);
	return 1;
}

#endif /* RJC_CT_KERNEL_H */
