/* SPDX-License-Identifier: GPL-2.0-only */
/* rjc_ct_tcp.h: what nf_conntrack_in() decides about a TCP/UDP/ICMP segment itself before
 * any table lookup matters — tcp_error's flag table, the transport checksum — and, for a
 * segment of a known TCP connection, nf_conntrack_tcp_packet()'s state table, RST check and
 * tcp_in_window(). Included by rjc_ct.h, after rjc.h (the checksum gate rjc_l4_csum_ok of
 * rjc_reply.h). */
#ifndef RJC_CT_TCP_H
#define RJC_CT_TCP_H

#include "rjc_ct_kernel.h"

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
 * on; nf_checksum in tcp_error / udp_error / icmp_error / icmpv6_error): 1 when it is wrong,
 * 0 when it was verified and is right, -1 when conntrack does not verify it — skbs already
 * verified (CHECKSUM_UNNECESSARY) or locally generated (CHECKSUM_PARTIAL), UDP without a
 * checksum (IPv6 too), other protocols. */
static __always_inline int rjc_ct_csum_check(rjc_ctx_t *ctx, const struct rjc_pkt *pkt)
{
	__u32 hlen = pkt->l4_off - pkt->l3_off;
	__u32 len = pkt->ip_len > hlen ? pkt->ip_len - hlen : 0;
	__u64 pseudo = 0;
	int csum_at = -1;

	if (rjc_ctx_csum_state(ctx) != RJC_CSUM_VERIFY)
		return -1;
	switch (pkt->proto) {
	case IPPROTO_TCP:
		csum_at = 16;
		break;
	case IPPROTO_UDP: {
		__u16 check = 0;

		if (rjc_ctx_load(ctx, pkt->l4_off + 6, &check, 2))
			return -1;
		/* udp_error: "Packet with no checksum" — taken as it is, IPv6 included. */
		if (check == 0)
			return -1;
		csum_at = 6;
		break;
	}
	case IPPROTO_ICMP:
		if (pkt->family != 4)
			return -1;
		return !rjc_l4_csum_ok(ctx, pkt->l4_off, len, 0, 0, -1);
	case IPPROTO_ICMPV6:
		if (pkt->family != 6)
			return -1;
		return !rjc_l4_csum_ok(ctx, pkt->l4_off, len, rjc_csum_pseudo6(pkt->saddr.v6, pkt->daddr.v6, IPPROTO_ICMPV6, len), 0, -1);
	default:
		return -1;
	}
	pseudo = pkt->family == 4 ? rjc_csum_pseudo4(pkt->saddr.v4, pkt->daddr.v4, pkt->proto, len)
				  : rjc_csum_pseudo6(pkt->saddr.v6, pkt->daddr.v6, pkt->proto, len);
	return !rjc_l4_csum_ok(ctx, pkt->l4_off, len, pseudo, 0, csum_at);
}

#endif /* RJC_CT_TCP_H */
