/* SPDX-License-Identifier: GPL-2.0-only */
/* rjc_pkt.h: struct rjc_pkt, the parsed view of a packet that the classifier reads and the
 * reply path builds from. Filled by rjc_parse() (rjc_parse.h), completed by rjc_chain()
 * (rjc_chain.h). Every field says its byte order; "host" means host byte order.
 */
#ifndef RJC_PKT_H
#define RJC_PKT_H

#include <linux/types.h>
#include <bpf/bpf_helpers.h> /* __always_inline */

/* An IPv4 or IPv6 address, network byte order. IPv4 uses v4 (== v6[0]); v6[1..3] are 0. */
union rjc_addr {
	__be32 v4;
	__be32 v6[4];
	__u8 bytes[16];
};

/* 1 if two addresses are equal (all 16 bytes; IPv4 ones have v6[1..3] 0). */
static __always_inline int rjc_addr_eq(const union rjc_addr *a, const union rjc_addr *b)
{
	return a->v6[0] == b->v6[0] && a->v6[1] == b->v6[1] && a->v6[2] == b->v6[2] && a->v6[3] == b->v6[3];
}

/* rjc_pkt.frag: fragment state as the filter hook sees it (IPv4 INPUT is reassembled by the
 * kernel before the hook; a BPF hook sees fragments, see bpf/KNOWN-DIFFERENCES.md). */
#define RJC_FRAG_NONE  0 /* not a fragment */
#define RJC_FRAG_FIRST 1 /* offset 0 with more fragments (IPv4 MF), or an IPv6 fragment header with offset 0 */
#define RJC_FRAG_LATER 2 /* fragment offset != 0: no transport header */

/* rjc_pkt.l2: what the Ethernet destination says (group bit of the first byte). Deliberately
 * not skb->pkt_type: test-run derives that from the device, and XDP has none. */
#define RJC_L2_HOST      0 /* unicast MAC */
#define RJC_L2_BROADCAST 1 /* ff:ff:ff:ff:ff:ff */
#define RJC_L2_MULTICAST 2 /* any other group address */

/* rjc_pkt.flags */
#define RJC_PKT_F_L4_COMPLETE   0x0001 /* the transport header of `proto` is entirely present: TCP 20 bytes,
                                        * UDP 8, ICMP/ICMPv6 8 (what xt_tcpudp/icmp read; else they hotdrop) */
#define RJC_PKT_F_PROTO_UNKNOWN 0x0002 /* IPv6: ipv6_find_hdr() failed (truncated or odd extension headers):
                                        * ip6tables' -p cannot decide (hotdrop for a first fragment) */
#define RJC_PKT_F_ICMP_TYPE     0x0004 /* icmp_type is present (at least 1 byte of ICMP header) */
#define RJC_PKT_F_DF            0x0008 /* IPv4 don't-fragment bit */
#define RJC_PKT_F_MF            0x0010 /* IPv4 more-fragments bit / IPv6 M flag */
#define RJC_PKT_F_IPOPTS        0x0020 /* IPv4 header has options (ihl > 5) */
#define RJC_PKT_F_FORWARDED     0x0040 /* rjc_chain(): FORWARD; ttl already decremented like ip_forward() */
#define RJC_PKT_F_BCAST_DST     0x0080 /* rjc_chain(): IP destination is broadcast or multicast (route
                                        * RTCF_BROADCAST|RTCF_MULTICAST / IPv6 multicast) */
#define RJC_PKT_F_VLAN          0x0100 /* an in-frame 802.1Q tag (XDP only) sits before the IP header */
#define RJC_PKT_F_EXTHDR_LIMIT  0x0200 /* IPv6: more extension headers than rjc walks (RJC_MAX_EXTHDRS) */
#define RJC_PKT_F_RCV_DROP      0x0400 /* the receive path drops it before any hook: an IPv4 source route
                                        * (accept_source_route 0), CIPSO (no DOI) or malformed options; an
                                        * IPv6 multicast source, a multicast destination of scope 0/1, bad
                                        * hop-by-hop options. rjc_chain() hands it to the stack at ingress;
                                        * locally generated (OUTPUT) it is filtered like any packet */
#define RJC_PKT_F_IPOPTS_BAD    0x0800 /* IPv4 options malformed (ip_options_compile fails): with RCV_DROP;
                                        * at OUTPUT nothing of them is echoed (the kernel's IPCB options
                                        * of a raw socket's packet are empty) */

/* rjc_pkt.opt_flags (IPv4 options as ip_options_compile() left them; reply path only) */
#define RJC_OPT_RR_NEEDADDR 0x01 /* Record Route had room: the receiver fills a slot */
#define RJC_OPT_TS_NEEDADDR 0x02 /* Timestamp with room wants an address */
#define RJC_OPT_TS_NEEDTIME 0x04 /* Timestamp with room wants a time */
#define RJC_OPT_TS_OVERFLOW 0x08 /* Timestamp full: the receiver bumps the overflow counter */
#define RJC_OPT_CHANGED     0x10 /* receive processing rewrites the header without fixing its checksum */
#define RJC_OPT_END_FIX     0x20 /* bytes after an END option are not END: the receiver zeroes them */

struct rjc_pkt {
	/* --- addresses, network byte order --- */
	union rjc_addr saddr;
	union rjc_addr daddr;
	/* --- link layer --- */
	__u8 smac[6];     /* Ethernet source (for -m mac --mac-source) */
	__u8 dmac[6];     /* Ethernet destination */
	/* --- offsets from the start of the frame, and lengths; host byte order --- */
	__u16 l3_off;     /* IP header: 14, or 18 behind an in-frame 802.1Q tag */
	__u16 l4_off;     /* transport header: IPv4 l3_off + ihl*4; IPv6 after the extension
	                   * headers as ipv6_find_hdr() finds them; 0 if there is none (IPv6 find failed) */
	__u16 ip_len;     /* IP packet length from the header (tot_len / 40 + payload_len): the
	                   * kernel trims the frame to it, so an L2 trailer is never counted */
	__u16 sport;      /* TCP/UDP source port, host order; 0 if absent (non-first fragment, truncated, other protocol) */
	__u16 dport;      /* TCP/UDP destination port, host order; 0 if absent */
	__u16 fragoff;    /* fragment offset, host order: IPv4 in 8-byte units (frag_off & 0x1fff);
	                   * IPv6 in bytes (frag_off & ~7) as ip6tables' fragoff */
	__u16 flags;      /* RJC_PKT_F_* */
	/* --- IP --- */
	__u8 family;      /* 4 or 6 */
	__u8 proto;       /* IPv4 protocol; IPv6 upper-layer protocol as ip6tables -p sees it
	                   * (ipv6_find_hdr: the fragment header's next header for a non-first fragment) */
	__u8 ttl;         /* TTL / hop limit as the filter hook sees it (one less in FORWARD) */
	__u8 tos;         /* IPv4 TOS byte / IPv6 traffic class */
	__u8 frag;        /* RJC_FRAG_* */
	__u8 tcp_flags;   /* TCP flags byte (FIN 0x01 SYN 0x02 RST 0x04 PSH 0x08 ACK 0x10 URG 0x20 ECE 0x40 CWR 0x80); 0 if absent */
	__u8 icmp_type;   /* ICMP / ICMPv6 type when RJC_PKT_F_ICMP_TYPE */
	__u8 icmp_code;   /* ICMP / ICMPv6 code (0 when the header is shorter than 2 bytes) */
	__u8 l2;          /* RJC_L2_*; RJC_L2_HOST in OUTPUT (set by rjc_chain(): pkt_type at LOCAL_OUT) */
	/* --- filled by rjc_chain() --- */
	__u8 chain;       /* RJC_CHAIN_* */
	__u32 iif;        /* ifindex -i matches: the ingress device (INPUT, FORWARD); 0 in OUTPUT */
	__u32 oif;        /* ifindex -o matches: FIB egress device (FORWARD), hook device (OUTPUT); 0 in INPUT */
	/* --- reply path internals (not for the classifier) --- */
	__u8 ihl;         /* IPv4 header length in bytes (20..60) */
	__u8 opt_rr;      /* IPv4: offset of the Record Route option in the header, 0 if none */
	__u8 opt_ts;      /* IPv4: offset of the Timestamp option in the header, 0 if none */
	__u8 opt_flags;   /* RJC_OPT_* */
	__u16 x_off;      /* IPv6: frame offset where ipv6_skip_exthdr() stops; 0 if the walk failed */
	__u8 x_proto;     /* IPv6: next header there (44 for a non-first fragment, like the kernel) */
	__u8 x_fragoff;   /* IPv6: 1 if ipv6_skip_exthdr() saw a fragment offset != 0 */
	__u8 noreply;     /* set by rjc_reject(): RJC_NOREPLY_* reason, or RJC_NOREPLY_NONE if a reply left */
	__u8 opt_end;     /* IPv4: offset of an END option in the header, 0 if none */
	__u16 x_fragraw;  /* IPv6: frag_off field (host order) of the fragment header the walk saw, 0 if none */
};

#endif /* RJC_PKT_H */
