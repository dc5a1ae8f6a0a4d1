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
 * nf_conntrack_checksum does (rjc_ct_csum_bad). Known differences (docs/stateful.md): SACK
 * blocks, non-first fragments, raw-table NOTRACK at ingress, NAT'ed ICMP errors.
 */
#ifndef RJC_CT_H
#define RJC_CT_H

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

static __always_inline int rjc_ct_addr_eq(const union rjc_addr *a, const union rjc_addr *b)
{
	return a->v6[0] == b->v6[0] && a->v6[1] == b->v6[1] && a->v6[2] == b->v6[2] && a->v6[3] == b->v6[3];
}

/* The packet as a connection of its own: orig = the packet's tuple, reply = its inversion. */
static __always_inline void rjc_ct_self(struct rjc_ct *ct, const struct rjc_pkt *pkt, __u16 sport, __u16 dport)
{
	ct->l4proto = pkt->proto;
	ct->orig_src = pkt->saddr;
	ct->orig_dst = pkt->daddr;
	ct->repl_src = pkt->daddr;
	ct->repl_dst = pkt->saddr;
	ct->orig_sport = sport;
	ct->orig_dport = dport;
	ct->repl_sport = dport;
	ct->repl_dport = sport;
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

/* tcp_error(): the flag combinations conntrack accepts (ECE, CWR and PSH ignored). */
static __always_inline int rjc_ct_tcp_flags_valid(__u8 flags)
{
	__u8 f = flags & 0x37; /* FIN SYN RST ACK URG */

	switch (f) {
	case 0x02: /* SYN */
	case 0x22: /* SYN URG */
	case 0x12: /* SYN ACK */
	case 0x04: /* RST */
	case 0x14: /* RST ACK */
	case 0x11: /* FIN ACK */
	case 0x31: /* FIN ACK URG */
	case 0x10: /* ACK */
	case 0x30: /* ACK URG */
		return 1;
	}
	return 0;
}

/* Look up a TCP/UDP tuple in the kernel table. Returns 1 and fills sc->ct when found. */
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
	*tcp_state = BPF_CORE_READ((const struct nf_conn___rjc *)c, proto.tcp.state);
	if (proto == IPPROTO_TCP) {
		const struct nf_conn___rjc *k = (const void *)c;
		struct rjc_tcp_track *t = &sc->tcp;

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

/* enum tcp_conntrack, and the two outcomes of the transition table. */
#define RJC_TCP_SS 1 /* SYN_SENT */
#define RJC_TCP_ES 3 /* ESTABLISHED */
#define RJC_TCP_IV 10 /* sIV: invalid transition */
#define RJC_TCP_IG 11 /* sIG: ignored */
#define RJC_TCP_CL 8 /* CLOSE */

/* ip_conntrack_tcp_state flags */
#define RJC_TCPF_SACK_PERM  0x04
#define RJC_TCPF_BE_LIBERAL 0x08
#define RJC_TCPF_MAXACK_SET 0x20

/* tcp_conntracks[dir][index][state] of nf_conntrack_proto_tcp.c (states sNO..sS2), reduced
 * to what decides a packet here: sIV (INVALID), sIG, or another state. Index: SYN, SYN+ACK,
 * FIN, ACK, RST, none (get_conntrack_index). */
static const __u8 rjc_tcp_table[2][6][10] = {
	{ /* ORIGINAL:  sNO  sSS  sSR  sES  sFW  sCW  sLA  sTW  sCL  sS2 */
	  /* syn    */ { 1,   1,  11,  11,  11,  11,  11,   1,   1,   9 },
	  /* synack */ { 10, 10,   2,  10,  10,  10,  10,  10,  10,   2 },
	  /* fin    */ { 10, 10,   4,   4,   6,   6,   6,   7,   8,  10 },
	  /* ack    */ { 3,  10,   3,   3,   5,   5,   7,   7,   8,  10 },
	  /* rst    */ { 10,  8,   8,   8,   8,   8,   8,   8,   8,   8 },
	  /* none   */ { 10, 10,  10,  10,  10,  10,  10,  10,  10,  10 } },
	{ /* REPLY:     sNO  sSS  sSR  sES  sFW  sCW  sLA  sTW  sCL  sS2 */
	  /* syn    */ { 10,  9,  10,  10,  10,  10,  10,  10,  10,   9 },
	  /* synack */ { 10,  2,  11,  11,  11,  11,  11,  11,  11,   2 },
	  /* fin    */ { 10, 10,   4,   4,   6,   6,   6,   7,   8,  10 },
	  /* ack    */ { 10, 11,   2,   3,   5,   5,   7,   7,   8,  11 },
	  /* rst    */ { 10,  8,   8,   8,   8,   8,   8,   8,   8,   8 },
	  /* none   */ { 10, 10,  10,  10,  10,  10,  10,  10,  10,  10 } },
};

static __always_inline __u32 rjc_tcp_index(__u8 f)
{
	if (f & 0x04)
		return 4;
	if (f & 0x02)
		return (f & 0x10) ? 1 : 0;
	if (f & 0x01)
		return 2;
	if (f & 0x10)
		return 3;
	return 5;
}

/* before(a, b) of include/net/tcp.h: a is earlier than b in sequence space. */
static __always_inline int rjc_seq_before(__u32 a, __u32 b)
{
	return (__s32)(a - b) < 0;
}

/* Whether nf_conntrack_tcp_packet() marks a segment of a known connection INVALID, from the
 * connection's state before the segment (read by rjc_ct_lookup): an invalid transition of
 * the state table, a RST before the peer's highest ACK, or tcp_in_window()'s two hard
 * failures — sequence beyond the receiver's window (short of the "more bytes than allowed"
 * allowance) and an ACK of data never sent. Lower-bound failures are ignored by the kernel,
 * not invalid. Undecidable here, hence valid: SACK blocks (they raise the ACK edge), the
 * window initialisation of a direction (td_maxwin 0), SYNs. */
static __always_inline int rjc_ct_tcp_invalid(rjc_ctx_t *ctx, const struct rjc_pkt *pkt, struct rjc_ct_scratch *sc, __u8 dir)
{
	struct rjc_tcp_track *t = &sc->tcp;
	__u8 *th = sc->ih;
	__u8 f = pkt->tcp_flags, s = dir & 1, r = !s;
	__u32 idx = rjc_tcp_index(f), st = t->state, seq, ack, sack, end, doff, hdr, payload, maxack_win;
	__u8 next;

	if (st >= 10)
		return 0;
	next = rjc_tcp_table[s][idx][st];
	if (next == RJC_TCP_IV)
		return 1;
	if (next == RJC_TCP_IG || (f & 0x02))
		return 0;
	if (rjc_ctx_load(ctx, pkt->l4_off, th, 20))
		return 0;
	seq = ((__u32)th[4] << 24) | ((__u32)th[5] << 16) | ((__u32)th[6] << 8) | th[7];
	ack = ((__u32)th[8] << 24) | ((__u32)th[9] << 16) | ((__u32)th[10] << 8) | th[11];
	doff = (th[12] >> 4) * 4;
	hdr = pkt->l4_off - pkt->l3_off + doff;
	payload = pkt->ip_len > hdr ? pkt->ip_len - hdr : 0;
	end = seq + payload + ((f & 0x01) ? 1 : 0);
	if (t->flags[s] & RJC_TCPF_BE_LIBERAL)
		return 0;
	/* A RST on a closing connection (tcp_can_early_drop: FIN_WAIT .. CLOSE) skips every
	 * check ("goto in_window" lands after tcp_in_window). Otherwise it must not be older than
	 * the highest ACK the peer sent — unless a SYN was let through last (td_maxack may be
	 * outdated), or it has seq 0 before the connection is established. */
	if ((f & 0x04) && st >= 4 && st <= 8)
		return 0;
	if ((f & 0x04) && (t->flags[r] & RJC_TCPF_MAXACK_SET) && t->last_index != 0) {
		if (!(seq == 0 && st != RJC_TCP_ES) && rjc_seq_before(seq, t->maxack[r]))
			return 1;
	}
	if (t->maxwin[s] == 0)
		return 0;
	/* tcp_sack(): with SACK permitted, options other than a lone timestamp may carry SACK
	 * blocks that move the ACK edge; that is not decided here. */
	if ((t->flags[r] & RJC_TCPF_SACK_PERM) && doff > 20) {
		if (doff != 32 || rjc_ctx_load(ctx, pkt->l4_off + 20, &th[20], 4) ||
		    th[20] != 1 || th[21] != 1 || th[22] != 8 || th[23] != 10)
			return 0;
	}
	sack = ack;
	if (!(f & 0x10) || ((f & 0x04) && ack == 0))
		sack = t->end[r];
	if ((f & 0x04) && seq == 0 && st == RJC_TCP_SS)
		seq = end = t->end[s];
	maxack_win = t->maxwin[s] > 66000 ? t->maxwin[s] : 66000;
	if (!rjc_seq_before(seq, t->maxend[s] + 1)) {
		/* SEQ over the upper bound, unless only by the "more bytes than allowed" margin. */
		__u32 overshot = end - t->maxend[s] + 1;
		int ack_ok = rjc_seq_before(t->end[r] - maxack_win - 1, sack);
		int in_recv_win = t->maxwin[r] && rjc_seq_before(t->end[s] - t->maxwin[r] - 1, end);

		return !(in_recv_win && ack_ok && overshot <= t->maxwin[r] && rjc_seq_before(sack, t->end[r] + 1));
	}
	/* ACK over the upper bound: data never seen acknowledged. */
	return !rjc_seq_before(sack, t->end[r] + 1);
}

/* The transport checksum conntrack verifies at PRE_ROUTING (nf_conntrack_checksum, default
 * on; nf_checksum in tcp_error / udp_error / icmp_error / icmpv6_error): 1 when it is wrong.
 * Skipped, like the kernel, for skbs already verified (CHECKSUM_UNNECESSARY) or locally
 * generated (CHECKSUM_PARTIAL), and for UDP/IPv4 without a checksum. */
static __always_inline int rjc_ct_csum_bad(rjc_ctx_t *ctx, const struct rjc_pkt *pkt)
{
	__u32 hlen = pkt->l4_off - pkt->l3_off;
	__u32 len = pkt->ip_len > hlen ? pkt->ip_len - hlen : 0;
	__u64 pseudo = 0;
	int csum_at = -1;

	if (rjc_ctx_csum_state(ctx) != RJC_CSUM_VERIFY)
		return 0;
	switch (pkt->proto) {
	case IPPROTO_TCP:
		csum_at = 16;
		break;
	case IPPROTO_UDP: {
		__u16 check = 0;

		if (rjc_ctx_load(ctx, pkt->l4_off + 6, &check, 2))
			return 0;
		if (check == 0 && pkt->family == 4)
			return 0;
		csum_at = 6;
		break;
	}
	case IPPROTO_ICMP:
		if (pkt->family != 4)
			return 0;
		return !rjc_l4_csum_ok(ctx, pkt->l4_off, len, 0, 0, -1);
	case IPPROTO_ICMPV6:
		if (pkt->family != 6)
			return 0;
		return !rjc_l4_csum_ok(ctx, pkt->l4_off, len, rjc_csum_pseudo6(pkt->saddr.v6, pkt->daddr.v6, IPPROTO_ICMPV6, len), 0, -1);
	default:
		return 0;
	}
	pseudo = pkt->family == 4 ? rjc_csum_pseudo4(pkt->saddr.v4, pkt->daddr.v4, pkt->proto, len)
				  : rjc_csum_pseudo6(pkt->saddr.v6, pkt->daddr.v6, pkt->proto, len);
	return !rjc_l4_csum_ok(ctx, pkt->l4_off, len, pseudo, 0, csum_at);
}

/* TCP/UDP at ingress. */
static __always_inline void rjc_ct_ingress_tcpudp(rjc_ctx_t *ctx, const struct rjc_pkt *pkt, struct rjc_ct_scratch *sc)
{
	struct rjc_ct *ct = &sc->ct;
	__u8 tcp_state = 0;
	int tcp = pkt->proto == IPPROTO_TCP;
	__u8 f = pkt->tcp_flags;

	if (!(pkt->flags & RJC_PKT_F_L4_COMPLETE) || (tcp && !rjc_ct_tcp_flags_valid(f))) {
		ct->state = RJC_CT_INVALID; /* tcp_error / udp_error */
		return;
	}
	{
		/* tcp_error: a data offset below 5 words or beyond the segment; udp_error: a length
		 * field shorter than the header or longer than the datagram. */
		__u32 hlen = pkt->l4_off - pkt->l3_off;
		__u32 l4len = pkt->ip_len > hlen ? pkt->ip_len - hlen : 0;
		__u8 w[2] = {};

		if (rjc_ctx_load(ctx, pkt->l4_off + (tcp ? 12 : 4), w, 2)) {
			ct->state = RJC_CT_INVALID;
			return;
		}
		if (tcp ? ((w[0] >> 4) < 5 || l4len < (__u32)(w[0] >> 4) * 4)
			: (((__u32)w[0] << 8 | w[1]) < 8 || l4len < ((__u32)w[0] << 8 | w[1]))) {
			ct->state = RJC_CT_INVALID;
			return;
		}
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

/* Is `type` an ICMP(v6) error (nf_conntrack_icmpv4_error / icmpv6_error track those)? */
static __always_inline int rjc_ct_icmp_is_error(__u8 family, __u8 type)
{
	if (family == 6)
		return type < 128;
	return type == 3 || type == 4 || type == 11 || type == 12;
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
			rjc_ct_self(ct, pkt, id, icmp ? (__u16)(pkt->icmp_type << 8) : 0);
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
			ct->l4proto = pkt->proto;
			ct->orig_src = pkt->daddr;
			ct->orig_dst = pkt->saddr;
			ct->repl_src = pkt->saddr;
			ct->repl_dst = pkt->daddr;
			ct->orig_sport = id;
			ct->repl_sport = id;
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
	rjc_ct_self(ct, pkt, id, icmp ? (__u16)(pkt->icmp_type << 8) : 0);
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
	if (!rjc_ct_addr_eq(&pkt->daddr, &isrc))
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
		__u8 req, rep;

		__builtin_memset(&k, 0, sizeof(k));
		k.family = pkt->family;
		k.proto = iproto;

		off -= 4;
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
		} else {
			k.src = idst;
			k.dst = isrc;
			k.type = req;
			if (req == 0xff || !rjc_ct_shadow_get(&k, &status))
				return;
			ct->dir = 0;
		}
		ct->source = RJC_CT_SRC_INNER;
		ct->conn = 1;
		ct->status = status;
		ct->l4proto = iproto;
		ct->orig_src = k.src;
		ct->orig_dst = k.dst;
		ct->repl_src = k.dst;
		ct->repl_dst = k.src;
		ct->orig_sport = k.id;
		ct->repl_sport = k.id;
		ct->state = RJC_CT_RELATED;
	}
}

/* ICMPv6 types icmpv6_error() marks UNTRACKED (MLD, router/neighbour discovery). */
static __always_inline int rjc_ct_icmp6_untracked(__u8 type)
{
	return (type >= 130 && type <= 136) || type == 143;
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
#ifdef RJC_FLAVOR_TC
	if (dir != RJC_DIR_INGRESS) {
		rjc_ct_from_skb(ctx, sc);
		return ct;
	}
#endif
	if (pkt->fragoff) {
		/* Conntrack sees the reassembled packet; a non-first fragment alone has no ports. */
		ct->state = RJC_CT_INVALID;
		return ct;
	}
	if ((pkt->flags & RJC_PKT_F_L4_COMPLETE) && rjc_ct_csum_bad(ctx, pkt)) {
		ct->state = RJC_CT_INVALID;
		return ct;
	}
	switch (pkt->proto) {
	case IPPROTO_TCP:
	case IPPROTO_UDP:
		rjc_ct_ingress_tcpudp(ctx, pkt, sc);
		return ct;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		if ((pkt->family == 4) != (pkt->proto == IPPROTO_ICMP))
			break;
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
