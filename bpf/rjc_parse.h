/* SPDX-License-Identifier: GPL-2.0-only */
/* rjc_parse.h: bounds-checked parsing of Ethernet (+ one 802.1Q tag in XDP), IPv4 (with
 * options), IPv6 (extension headers, bounded walk), TCP, UDP, ICMP, ICMPv6 into struct rjc_pkt.
 *
 * A TC/XDP hook runs before ip_rcv()/ipv6_rcv(): what those functions drop never reaches
 * netfilter, so rjc_parse() reports it (RJC_PARSE_STACK_DROPS) and the caller hands the packet
 * to the stack untouched instead of filtering or answering it.
 */
#ifndef RJC_PARSE_H
#define RJC_PARSE_H

#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/in.h>
#include <bpf/bpf_endian.h>
#include "rjc_ctx.h"
#include "rjc_layout.h"
#include "rjc_pkt.h"
#include "rjc_csum.h"

/* Bytes made linear by bpf_skb_pull_data before direct access: Ethernet + VLAN + IPv4 with
 * options. Everything beyond is read with rjc_ctx_load(). */
#define RJC_PULL_LEN 78
/* Extension headers walked before giving up (ipv6_skip_exthdr has no limit but the packet). */
#define RJC_MAX_EXTHDRS 16
/* Hop-by-hop TLVs examined (net.ipv6.max_hbh_opts_number defaults to 8 non-padding options). */
#define RJC_MAX_HBH_TLVS 32

#define RJC_IPOPT_END 0
#define RJC_IPOPT_NOOP 1
#define RJC_IPOPT_RR 7
#define RJC_IPOPT_TS 68
#define RJC_IPOPT_LSRR 131
#define RJC_IPOPT_CIPSO 134
#define RJC_IPOPT_SSRR 137
#define RJC_IPOPT_RA 148
#define RJC_IPOPT_TS_TSONLY 0
#define RJC_IPOPT_TS_TSANDADDR 1
#define RJC_IPOPT_TS_PRESPEC 3

#define RJC_NEXTHDR_HOP 0
#define RJC_NEXTHDR_ROUTING 43
#define RJC_NEXTHDR_FRAGMENT 44
#define RJC_NEXTHDR_AUTH 51
#define RJC_NEXTHDR_NONE 59
#define RJC_NEXTHDR_DEST 60

/* ipv6_ext_hdr() of include/net/ipv6.h */
static __always_inline int rjc_ipv6_ext_hdr(__u8 nh)
{
	return nh == RJC_NEXTHDR_HOP || nh == RJC_NEXTHDR_ROUTING || nh == RJC_NEXTHDR_FRAGMENT ||
	       nh == RJC_NEXTHDR_AUTH || nh == RJC_NEXTHDR_NONE || nh == RJC_NEXTHDR_DEST;
}

/* Is `addr` (network order) an address of this host or a broadcast address per the local
 * table the runtime copied into rjc_addr4? Returns the RJC_ADDR_* type or 0. */
static __always_inline int rjc_addr4_type(__be32 addr)
{
	struct rjc_addr4_key key = { .addr = addr };
	struct rjc_addr_info *info = bpf_map_lookup_elem(&rjc_addr4, &key);

	return info ? info->type : 0;
}

/* inet_addr_type(addr) != RTN_UNICAST, as the Timestamp "prespecified" option asks it:
 * local, broadcast, multicast, 0.0.0.0 and 255.255.255.255 all count as "ours". */
static __always_inline int rjc_addr4_not_unicast(__be32 addr)
{
	__u32 a = bpf_ntohl(addr);

	if (a == 0 || a == 0xffffffff || (a >> 28) == 0xe)
		return 1;
	return rjc_addr4_type(addr) != 0;
}

/* Validate the IPv4 options in sc->hdr[20..pkt->ihl) like ip_options_compile() does on receive
 * (with a route attached), recording what its receive-side processing will change. The stack
 * drops the packet (ip_rcv_options) for a malformed option (-1 here), and on receive also for a
 * source route while accept_source_route is 0 (the kernel default) and for CIPSO without a
 * configured DOI (RJC_PKT_F_RCV_DROP). One bpf_loop() step per option. */
struct rjc_opt_walk {
	struct rjc_pkt *pkt;
	__u8 *hdr;    /* sc->hdr: the header, 64-byte window */
	__u32 i;      /* current option offset in the header */
	__u32 end_at; /* offset of an END option, 0 if none */
	int srr;      /* a source route option was seen */
	int bad;
};

static long rjc_opt_step(__u32 index, void *data)
{
	struct rjc_opt_walk *w = data;
	struct rjc_pkt *pkt = w->pkt;
	__u8 *hdr = w->hdr;
	__u32 i = w->i, ihl = pkt->ihl, l;
	__u8 t, optlen, ptr;

	if (i >= ihl)
		return 1;
	t = hdr[rjc_idx64(i)];
	if (t == RJC_IPOPT_END) {
		w->end_at = i;
		return 1;
	}
	if (t == RJC_IPOPT_NOOP) {
		w->i = i + 1;
		return 0;
	}
	l = ihl - i;
	if (l < 2)
		goto bad;
	optlen = hdr[rjc_idx64(i + 1)];
	if (optlen < 2 || optlen > l)
		goto bad;
	ptr = optlen >= 3 ? hdr[rjc_idx64(i + 2)] : 0;
	switch (t) {
	case RJC_IPOPT_SSRR:
	case RJC_IPOPT_LSRR:
		/* accept_source_route defaults to 0: ip_rcv_options() drops source-routed packets
		 * (rjc_chain() at ingress). Validated like ip_options_compile() first. */
		if (optlen < 3 || ptr < 4 || w->srr)
			goto bad;
		w->srr = 1;
		pkt->flags |= RJC_PKT_F_RCV_DROP;
		break;
	case RJC_IPOPT_CIPSO:
		/* cipso_v4_validate() fails without a configured CIPSO DOI (rjc_chain() at ingress). */
		pkt->flags |= RJC_PKT_F_RCV_DROP;
		break;
	case RJC_IPOPT_RR:
		if (pkt->opt_rr || optlen < 3 || ptr < 4)
			goto bad;
		if (ptr <= optlen) {
			if (ptr + 3 > optlen)
				goto bad;
			pkt->opt_flags |= RJC_OPT_RR_NEEDADDR | RJC_OPT_CHANGED;
		}
		pkt->opt_rr = i;
		break;
	case RJC_IPOPT_TS:
		if (pkt->opt_ts || optlen < 4 || ptr < 5)
			goto bad;
		if (ptr <= optlen) {
			__u8 fl = hdr[rjc_idx64(i + 3)] & 0xf;

			if (ptr + 3 > optlen)
				goto bad;
			if (fl == RJC_IPOPT_TS_TSONLY) {
				pkt->opt_flags |= RJC_OPT_TS_NEEDTIME | RJC_OPT_CHANGED;
			} else if (fl == RJC_IPOPT_TS_TSANDADDR) {
				if (ptr + 7 > optlen)
					goto bad;
				pkt->opt_flags |= RJC_OPT_TS_NEEDADDR | RJC_OPT_TS_NEEDTIME | RJC_OPT_CHANGED;
			} else if (fl == RJC_IPOPT_TS_PRESPEC) {
				__be32 addr;
				__u32 a = i + ptr - 1;

				rjc_barrier_var(a);
				if (ptr + 7 > optlen || a > 60)
					goto bad;
				__builtin_memcpy(&addr, &hdr[a], 4);
				if (rjc_addr4_not_unicast(addr))
					pkt->opt_flags |= RJC_OPT_TS_NEEDTIME | RJC_OPT_CHANGED;
			}
		} else {
			if ((hdr[rjc_idx64(i + 3)] >> 4) == 15)
				goto bad;
			pkt->opt_flags |= RJC_OPT_TS_OVERFLOW | RJC_OPT_CHANGED;
		}
		pkt->opt_ts = i;
		break;
	case RJC_IPOPT_RA:
		if (optlen < 4)
			goto bad;
		break;
	default:
		break;
	}
	w->i = i + optlen;
	return 0;
bad:
	w->bad = 1;
	return 1;
}

/* IPOPT_END: the kernel rewrites every following byte to END (0); note whether it must. */
static long rjc_opt_end_step(__u32 index, void *data)
{
	struct rjc_opt_walk *w = data;
	__u32 j = w->end_at + 1 + index;

	if (j >= w->pkt->ihl)
		return 1;
	if (w->hdr[rjc_idx64(j)] != RJC_IPOPT_END) {
		w->pkt->opt_flags |= RJC_OPT_END_FIX | RJC_OPT_CHANGED;
		return 1;
	}
	return 0;
}

static __always_inline int rjc_ip4_options(struct rjc_pkt *pkt, struct rjc_scratch *sc)
{
	struct rjc_opt_walk w = { .pkt = pkt, .hdr = sc->hdr, .i = 20 };

	bpf_loop(40, rjc_opt_step, &w, 0);
	if (w.bad)
		return -1;
	pkt->opt_end = w.end_at;
	if (w.end_at)
		bpf_loop(40, rjc_opt_end_step, &w, 0);
	return 0;
}

/* Read what the classifier needs from the transport header at `off`, `avail` bytes present
 * (per the IP length, trailer excluded). */
static __always_inline void rjc_parse_l4(rjc_ctx_t *ctx, struct rjc_pkt *pkt, __u32 off, __u32 avail)
{
	__u8 h[20] = {};
	__u32 n = avail < sizeof(h) ? avail : sizeof(h);
	void *data = rjc_ctx_data(ctx), *end = rjc_ctx_data_end(ctx);
	__u8 *p;

	pkt->l4_off = off;
	if (n == 0 || n > sizeof(h))
		return;
	/* Direct access when the whole 20-byte window is linear (the usual case after the
	 * pull), else a helper copy of the n bytes present. */
	rjc_barrier_var(off);
	p = data + (off & 0xff);
	if (off < 0x100 && (void *)(p + sizeof(h)) <= end)
		__builtin_memcpy(h, p, sizeof(h));
	else if (rjc_ctx_load(ctx, off, h, n))
		return;
	/* Only the first n bytes count (beyond them may be an L2 trailer): every use below is
	 * guarded by n. */
	switch (pkt->proto) {
	case IPPROTO_TCP:
	case IPPROTO_UDP:
	case IPPROTO_UDPLITE:
	case IPPROTO_SCTP:
	case IPPROTO_DCCP:
		if (n >= 4) {
			pkt->sport = ((__u16)h[0] << 8) | h[1];
			pkt->dport = ((__u16)h[2] << 8) | h[3];
		}
		if (pkt->proto == IPPROTO_TCP && n >= 20) {
			pkt->tcp_flags = h[13];
			pkt->flags |= RJC_PKT_F_L4_COMPLETE;
		} else if (pkt->proto != IPPROTO_TCP && n >= 8) {
			pkt->flags |= RJC_PKT_F_L4_COMPLETE;
		}
		break;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		pkt->icmp_type = h[0];
		pkt->flags |= RJC_PKT_F_ICMP_TYPE;
		if (n >= 2)
			pkt->icmp_code = h[1];
		if (n >= 8)
			pkt->flags |= RJC_PKT_F_L4_COMPLETE;
		break;
	}
}

/* IPv4: the checks of ip_rcv_core() and ip_rcv_options(), then the fields. */
static __always_inline int rjc_parse_ip4(rjc_ctx_t *ctx, struct rjc_pkt *pkt, __u32 l3, __u32 len)
{
	void *data = rjc_ctx_data(ctx), *end = rjc_ctx_data_end(ctx);
	struct iphdr *iph = data + l3;
	__u32 ihl, tot, frag;
	__u64 sum;

	if ((void *)(iph + 1) > end)
		return RJC_PARSE_STACK_DROPS;
	if (iph->version != 4 || iph->ihl < 5)
		return RJC_PARSE_STACK_DROPS;
	ihl = iph->ihl * 4;
	tot = bpf_ntohs(iph->tot_len);
	if (ihl > len - l3 || tot > len - l3 || tot < ihl)
		return RJC_PARSE_STACK_DROPS;

	pkt->family = 4;
	pkt->ihl = ihl;
	pkt->ip_len = tot;
	pkt->proto = iph->protocol;
	pkt->ttl = iph->ttl;
	pkt->tos = iph->tos;
	pkt->saddr.v4 = iph->saddr;
	pkt->daddr.v4 = iph->daddr;
	frag = bpf_ntohs(iph->frag_off);

	if (ihl == 20) {
		/* The common header: ten 16-bit words, summed inline (cheaper than a helper). */
		__u16 *w = (__u16 *)iph;

		sum = (__u64)w[0] + w[1] + w[2] + w[3] + w[4] + w[5] + w[6] + w[7] + w[8] + w[9];
	} else {
		__u32 zero = 0;
		struct rjc_scratch *scratch = bpf_map_lookup_elem(&rjc_scratch, &zero);

		if (!scratch || ihl > 60 || rjc_ctx_load(ctx, l3, scratch->hdr, ihl))
			return RJC_PARSE_STACK_DROPS;
		sum = (__u32)bpf_csum_diff(0, 0, (__be32 *)scratch->hdr, ihl & 0x3c, 0);
		pkt->flags |= RJC_PKT_F_IPOPTS;
		/* Malformed options: ip_rcv_options() drops a received packet; a locally generated
		 * one (a raw socket's header: the kernel never compiles it) reaches OUTPUT. */
		if (rjc_csum_ok(sum) && rjc_ip4_options(pkt, scratch))
			pkt->flags |= RJC_PKT_F_RCV_DROP | RJC_PKT_F_IPOPTS_BAD;
	}
	/* ip_rcv_core(): ip_fast_csum() over the header. */
	if (!rjc_csum_ok(sum))
		return RJC_PARSE_STACK_DROPS;

	if (frag & 0x4000)
		pkt->flags |= RJC_PKT_F_DF;
	if (frag & 0x2000)
		pkt->flags |= RJC_PKT_F_MF;
	pkt->fragoff = frag & 0x1fff;
	if (pkt->fragoff)
		pkt->frag = RJC_FRAG_LATER;
	else if (frag & 0x2000)
		pkt->frag = RJC_FRAG_FIRST;

	if (pkt->frag != RJC_FRAG_LATER)
		rjc_parse_l4(ctx, pkt, l3 + ihl, tot - ihl);
	return RJC_PARSE_OK;
}

/* Hop-by-hop options as ipv6_parse_hopopts() / ip6_parse_tlv() judge them on receive: a
 * malformed header, an unknown option whose type says "discard", too much or non-zero
 * padding, too many options, a misaligned IOAM option, CALIPSO, or a jumbo option in a
 * non-jumbo packet make the stack drop the packet.
 * One bpf_loop() step per option: the verifier checks the step once (a plain loop with this
 * many branches exceeds its budget). */
struct rjc_hbh_walk {
	rjc_ctx_t *ctx;
	__u32 off;    /* frame offset of the header */
	__u32 hdrlen; /* its length */
	__u32 i;      /* current option offset within the header */
	__u32 pad;    /* consecutive padding bytes */
	__u32 count;  /* non-padding options */
	int bad;
};

static long rjc_hbh_step(__u32 index, void *data)
{
	struct rjc_hbh_walk *w = data;
	__u8 tl[2];

	if (w->i >= w->hdrlen)
		return 1;
	if (rjc_ctx_load(w->ctx, w->off + w->i, tl, 1))
		goto bad;
	if (tl[0] == 0) { /* Pad1 */
		w->i++;
		if (++w->pad > 7)
			goto bad;
		return 0;
	}
	if (w->i + 2 > w->hdrlen || rjc_ctx_load(w->ctx, w->off + w->i + 1, &tl[1], 1))
		goto bad;
	if (w->i + 2 + tl[1] > w->hdrlen)
		goto bad;
	if (tl[0] == 1) { /* PadN: at most 7 bytes of padding in a row, all zero */
		__u8 z[5] = {};
		__u64 n = tl[1]; /* 64-bit: the bound checks must apply to the size register */

		w->pad += n + 2;
		if (w->pad > 7)
			goto bad;
		if (n) {
			rjc_barrier_var(n);
			if (n < 1 || n > 5 || rjc_ctx_load(w->ctx, w->off + w->i + 2, z, n))
				goto bad;
			if (z[0] | z[1] | z[2] | z[3] | z[4])
				goto bad;
		}
	} else {
		w->pad = 0;
		if (++w->count > 8)
			goto bad;
		switch (tl[0]) {
		case 5: /* router alert */
			if (tl[1] != 2)
				goto bad;
			break;
		case 0xc2: /* jumbo payload: only valid with payload_len 0 */
		case 0x07: /* CALIPSO: no DOI configured */
			goto bad;
		case 0x31: /* IOAM: 4n-aligned from the IPv6 header (the HBH header starts at 40), then ignored */
			if (w->i & 3)
				goto bad;
			break;
		default:
			/* Unknown: the two high bits say what to do (RFC 8200 4.2). */
			if (tl[0] & 0xc0)
				goto bad;
		}
	}
	w->i += 2 + tl[1];
	return 0;
bad:
	w->bad = 1;
	return 1;
}

static __always_inline int rjc_ip6_hopopts_ok(rjc_ctx_t *ctx, __u32 off, __u32 hdrlen)
{
	struct rjc_hbh_walk w = { .ctx = ctx, .off = off, .hdrlen = hdrlen, .i = 2 };

	bpf_loop(RJC_MAX_HBH_TLVS, rjc_hbh_step, &w, 0);
	return w.bad || w.i < hdrlen ? -1 : 0;
}

/* Walk the extension headers once, computing both of the kernel's views:
 * - ipv6_find_hdr(target -1), what ip6tables' -p and matches see (pkt->proto, l4_off, fragoff);
 * - ipv6_skip_exthdr(), what the reject code sees (pkt->x_off, x_proto, x_fragoff).
 * They differ for a non-first fragment (find: the fragment's next header; skip: stops at
 * 44) and for next header 59 (find: protocol 59; skip: failure). One bpf_loop() step per
 * header. */
struct rjc_xh_walk {
	rjc_ctx_t *ctx;
	struct rjc_pkt *pkt;
	__u32 first;   /* offset of the first extension header (l3 + 40) */
	__u32 start;   /* offset of the current header */
	__u32 ip_end;  /* end of the IP packet */
	__u8 nexthdr;  /* type of the current header */
	__u8 done;     /* 1: walk finished */
	__u8 bad;      /* 1: the receive path drops the packet (hop-by-hop options) */
};

static long rjc_xh_step(__u32 index, void *data)
{
	struct rjc_xh_walk *w = data;
	struct rjc_pkt *pkt = w->pkt;
	__u8 hp[4], nh = w->nexthdr;
	__u32 hdrlen;

	if (!rjc_ipv6_ext_hdr(nh) || nh == RJC_NEXTHDR_NONE) {
		/* find: the upper-layer header (59 included) */
		pkt->proto = nh;
		pkt->l4_off = w->start;
		if (nh != RJC_NEXTHDR_NONE) { /* skip: fails on 59 (x_off stays 0) */
			pkt->x_off = w->start;
			pkt->x_proto = nh;
		}
		goto done;
	}
	/* ipv6_parse_hopopts(): a hop-by-hop header first must have its 8 bytes and its whole
	 * length inside the IP packet (pskb_may_pull after the trim to payload_len), or the
	 * receive path drops the packet. */
	if (nh == RJC_NEXTHDR_HOP && w->start == w->first && w->start + 8 > w->ip_end)
		w->bad = 1;
	if (w->start + 2 > w->ip_end || rjc_ctx_load(w->ctx, w->start, hp, 2))
		goto unknown; /* find: -EBADMSG; skip: -1 */
	if (nh == RJC_NEXTHDR_FRAGMENT) {
		__u16 fo;

		if (w->start + 4 > w->ip_end || rjc_ctx_load(w->ctx, w->start + 2, &hp[2], 2))
			goto unknown;
		fo = ((__u16)hp[2] << 8) | hp[3];
		pkt->x_fragraw = fo;
		if (fo & 1)
			pkt->flags |= RJC_PKT_F_MF;
		pkt->frag = (fo & ~7) ? RJC_FRAG_LATER : RJC_FRAG_FIRST;
		if (fo & ~7) {
			if (!rjc_ipv6_ext_hdr(hp[0]) || hp[0] == RJC_NEXTHDR_NONE) {
				pkt->proto = hp[0];
				pkt->fragoff = fo & ~7;
			} else {
				pkt->flags |= RJC_PKT_F_PROTO_UNKNOWN; /* find: -ENOENT */
			}
			/* skip breaks here: nexthdr stays 44, offset at this header. */
			pkt->x_off = w->start;
			pkt->x_proto = RJC_NEXTHDR_FRAGMENT;
			pkt->x_fragoff = 1;
			goto done;
		}
		hdrlen = 8;
	} else if (nh == RJC_NEXTHDR_AUTH) {
		hdrlen = ((__u32)hp[1] + 2) << 2;
	} else {
		hdrlen = ((__u32)hp[1] + 1) << 3;
		/* The receive path drops a bad hop-by-hop header (noted; the walk goes on, the
		 * packet may be locally generated). */
		if (nh == RJC_NEXTHDR_HOP && w->start == w->first &&
		    (w->start + hdrlen > w->ip_end || rjc_ip6_hopopts_ok(w->ctx, w->start, hdrlen)))
			w->bad = 1;
	}
	w->nexthdr = hp[0];
	w->start += hdrlen;
	return 0;
unknown:
	pkt->flags |= RJC_PKT_F_PROTO_UNKNOWN;
done:
	w->done = 1;
	return 1;
}

static __always_inline int rjc_parse_ip6_exthdrs(rjc_ctx_t *ctx, struct rjc_pkt *pkt, __u32 l3, __u8 nexthdr)
{
	struct rjc_xh_walk w = {
		.ctx = ctx, .pkt = pkt, .first = l3 + 40, .start = l3 + 40,
		.ip_end = l3 + pkt->ip_len, .nexthdr = nexthdr,
	};

	bpf_loop(RJC_MAX_EXTHDRS, rjc_xh_step, &w, 0);
	if (w.bad)
		return -1;
	if (!w.done)
		pkt->flags |= RJC_PKT_F_EXTHDR_LIMIT | RJC_PKT_F_PROTO_UNKNOWN;
	return 0;
}

/* IPv6: the checks of ip6_rcv_core() (and ipv6_parse_hopopts()), then the fields. */
static __always_inline int rjc_parse_ip6(rjc_ctx_t *ctx, struct rjc_pkt *pkt, __u32 l3, __u32 len)
{
	void *data = rjc_ctx_data(ctx), *end = rjc_ctx_data_end(ctx);
	struct ipv6hdr *ip6h = data + l3;
	__u32 plen, w0;

	if ((void *)(ip6h + 1) > end)
		return RJC_PARSE_STACK_DROPS;
	if (ip6h->version != 6)
		return RJC_PARSE_STACK_DROPS;
	plen = bpf_ntohs(ip6h->payload_len);
	/* payload_len 0 with a hop-by-hop header is a jumbogram: not on Ethernet MTUs. */
	if ((plen == 0 && ip6h->nexthdr == RJC_NEXTHDR_HOP) || 40 + plen > len - l3)
		return RJC_PARSE_STACK_DROPS;

	pkt->family = 6;
	pkt->ip_len = 40 + plen;
	pkt->ttl = ip6h->hop_limit;
	w0 = bpf_ntohl(*(__be32 *)ip6h);
	pkt->tos = (w0 >> 20) & 0xff;
	__builtin_memcpy(pkt->saddr.bytes, &ip6h->saddr, 16);
	__builtin_memcpy(pkt->daddr.bytes, &ip6h->daddr, 16);

	/* ip6_rcv_core(): multicast source; multicast destination with scope 0, or
	 * interface-local scope arriving from a device. Receive only: rjc_chain() acts on it at
	 * ingress. (A v4-mapped source is no longer dropped there: the check moved to
	 * tcp_v6_conn_request(), so INPUT and FORWARD filter such packets.) */
	if (pkt->saddr.bytes[0] == 0xff || (pkt->daddr.bytes[0] == 0xff && ((pkt->daddr.bytes[1] & 0xf) <= 1)))
		pkt->flags |= RJC_PKT_F_RCV_DROP;

	if (rjc_parse_ip6_exthdrs(ctx, pkt, l3, ip6h->nexthdr))
		pkt->flags |= RJC_PKT_F_RCV_DROP; /* bad hop-by-hop options (ipv6_parse_hopopts) */
	if (pkt->frag != RJC_FRAG_LATER && !(pkt->flags & RJC_PKT_F_PROTO_UNKNOWN) && pkt->l4_off)
		rjc_parse_l4(ctx, pkt, pkt->l4_off, pkt->l4_off < l3 + pkt->ip_len ? l3 + pkt->ip_len - pkt->l4_off : 0);
	return RJC_PARSE_OK;
}

/**
 * rjc_parse() - parse the frame into @pkt.
 * Returns RJC_PARSE_OK when @pkt describes an IPv4/IPv6 packet netfilter would see,
 * RJC_PARSE_NOT_IP for other frames, RJC_PARSE_STACK_DROPS when ip_rcv()/ipv6_rcv() would drop
 * it before the filter table (the caller should return RJC_PASS and let the stack do so).
 * Invalidates earlier packet pointers (pulls the headers into the linear area in TC).
 * rjc_parse_frame() is a global function (verified once); rjc_parse() is its inline name.
 */
__noinline int rjc_parse_frame(rjc_ctx_t *ctx, struct rjc_pkt *pkt)
{
	__u32 len, l3 = ETH_HLEN;
	struct ethhdr *eth;
	void *data, *end;
	__be16 h_proto;

	if (!ctx || !pkt)
		return RJC_PARSE_NOT_IP;
	len = rjc_ctx_len(ctx);
	__builtin_memset(pkt, 0, sizeof(*pkt));
	pkt->chain = RJC_CHAIN_NONE;
	pkt->noreply = RJC_NOREPLY_NONE;

	/* Pull only when the headers are not already in the linear area (saves a helper call
	 * on the common path). */
	{
		__u32 want = len < RJC_PULL_LEN ? len : RJC_PULL_LEN;

		data = rjc_ctx_data(ctx);
		end = rjc_ctx_data_end(ctx);
		if (data + want > end)
			rjc_ctx_pull(ctx, want);
	}
	data = rjc_ctx_data(ctx);
	end = rjc_ctx_data_end(ctx);
	eth = data;
	if ((void *)(eth + 1) > end)
		return RJC_PARSE_NOT_IP;
	__builtin_memcpy(pkt->dmac, eth->h_dest, 6);
	__builtin_memcpy(pkt->smac, eth->h_source, 6);
	h_proto = eth->h_proto;
	if (h_proto == bpf_htons(ETH_P_8021Q) || h_proto == bpf_htons(ETH_P_8021AD)) {
#ifdef RJC_FLAVOR_XDP
		__be16 *inner = data + ETH_HLEN + 2;

		if ((void *)(inner + 1) > end)
			return RJC_PARSE_NOT_IP;
		h_proto = *inner;
		l3 += 4;
		pkt->flags |= RJC_PKT_F_VLAN;
#else
		/* TC sees VLAN tags out of band (skb_vlan_untag runs before tc ingress); an
		 * in-frame tag here would be QinQ or test input: not handled. */
		return RJC_PARSE_NOT_IP;
#endif
	}
	if (pkt->dmac[0] & 1)
		pkt->l2 = (pkt->dmac[0] & pkt->dmac[1] & pkt->dmac[2] & pkt->dmac[3] & pkt->dmac[4] &
			   pkt->dmac[5]) == 0xff ? RJC_L2_BROADCAST : RJC_L2_MULTICAST;
	pkt->l3_off = l3;
	if (h_proto == bpf_htons(ETH_P_IP))
		return rjc_parse_ip4(ctx, pkt, l3, len);
	if (h_proto == bpf_htons(ETH_P_IPV6))
		return rjc_parse_ip6(ctx, pkt, l3, len);
	return RJC_PARSE_NOT_IP;
}

static __always_inline int rjc_parse(rjc_ctx_t *ctx, struct rjc_pkt *pkt)
{
	return rjc_parse_frame(ctx, pkt);
}

#endif /* RJC_PARSE_H */
