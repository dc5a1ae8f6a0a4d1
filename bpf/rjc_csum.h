/* SPDX-License-Identifier: GPL-2.0-only */
/* rjc_csum.h: Internet checksum arithmetic (RFC 1071) for the reply path.
 *
 * Convention: sums are accumulated over 16-bit words *as they lie in memory* (like the
 * kernel's csum_partial), in a 64-bit accumulator that is folded only at the end. Values that
 * are already in network byte order (__be16/__be32 fields, addresses) are added as they are;
 * host values must be converted with bpf_htons/bpf_htonl first. The folded, complemented
 * result can then be stored into a packet as is.
 */
#ifndef RJC_CSUM_H
#define RJC_CSUM_H

#include <bpf/bpf_endian.h>
#include "rjc_ctx.h"
#include "rjc_layout.h"

/* Hide a value from the optimiser so that a following mask or bound check is kept: clang
 * drops `i & 63` when it can prove i < 60, but the verifier tracked a different copy of i. */
#define rjc_barrier_var(v) asm volatile("" : "+r"(v))

/* `i & 63` that survives optimisation: an index into a 64-byte window of a map value. */
static __always_inline __u32 rjc_idx64(__u32 i)
{
	rjc_barrier_var(i);
	return i & 63;
}

/* Fold a 64-bit accumulator to 16 bits with end-around carry. 0 only if every word was 0. */
static __always_inline __u16 rjc_csum_fold(__u64 sum)
{
	sum = (sum & 0xffffffffULL) + (sum >> 32);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (__u16)sum;
}

/* A checksum over data that includes its checksum field is valid iff it folds to 0xffff
 * (csum_fold() == 0 in the kernel's terms). */
static __always_inline int rjc_csum_ok(__u64 sum)
{
	return rjc_csum_fold(sum) == 0xffff;
}

/* The value to store in a checksum field. */
static __always_inline __u16 rjc_csum_final(__u64 sum)
{
	return (__u16)~rjc_csum_fold(sum);
}

static __always_inline __u64 rjc_csum_be32(__be32 v)
{
	return (__u64)(v & 0xffff) + (v >> 16);
}

/* IPv4 pseudo-header (csum_tcpudp_nofold): addresses, protocol, upper-layer length. */
static __always_inline __u64 rjc_csum_pseudo4(__be32 saddr, __be32 daddr, __u8 proto, __u32 len)
{
	return rjc_csum_be32(saddr) + rjc_csum_be32(daddr) + bpf_htons((__u16)proto) + bpf_htons((__u16)len);
}

/* IPv6 pseudo-header (csum_ipv6_magic): addresses, 32-bit length, next header. */
static __always_inline __u64 rjc_csum_pseudo6(const __be32 *saddr, const __be32 *daddr, __u8 proto, __u32 len)
{
	__u64 s = 0;
	int i;

#pragma unroll
	for (i = 0; i < 4; i++)
		s += rjc_csum_be32(saddr[i]) + rjc_csum_be32(daddr[i]);
	return s + rjc_csum_be32(bpf_htonl(len)) + rjc_csum_be32(bpf_htonl(proto));
}

/* Sum of a small buffer (stack or map memory) whose length is a constant multiple of 4. */
static __always_inline __u64 rjc_csum_buf(const void *buf, __u32 len)
{
	return (__u32)bpf_csum_diff(0, 0, (__be32 *)buf, len, 0);
}

/* Largest packet the checksum loop covers: 64 KiB (a GRO/GSO skb). */
#define RJC_CSUM_CHUNK 512
#define RJC_CSUM_MAX_CHUNKS 128

struct rjc_csum_walk {
	rjc_ctx_t *ctx;
	struct rjc_scratch *sc;
	__u32 off;  /* first byte */
	__u32 len;  /* bytes to sum */
	__u32 done; /* bytes summed so far */
	int err;
	__u64 sum;
};

static long rjc_csum_step(__u32 index, void *data)
{
	struct rjc_csum_walk *w = data;
	__u64 n;

	if (w->done >= w->len)
		return 1;
	/* 64-bit: the bound checks must apply to the very register passed as the size. */
	n = w->len - w->done;
	if (n >= 4) {
		if (n > RJC_CSUM_CHUNK)
			n = RJC_CSUM_CHUNK;
		n &= ~3ULL;
		rjc_barrier_var(n);
		if (n < 4 || n > RJC_CSUM_CHUNK)
			goto err;
		if (rjc_ctx_load(w->ctx, w->off + w->done, w->sc->chunk, n))
			goto err;
		w->sum += (__u32)bpf_csum_diff(0, 0, (__be32 *)w->sc->chunk, n, 0);
	} else {
		__u32 tail = 0;

		rjc_barrier_var(n);
		if (n < 1 || n > 3)
			goto err;
		if (rjc_ctx_load(w->ctx, w->off + w->done, &tail, n))
			goto err;
		w->sum += rjc_csum_be32(tail);
	}
	w->done += n;
	return 0;
err:
	w->err = 1;
	return 1;
}

/* Sum of the packet bytes [off, off + len): 32-bit partial sums of 512-byte chunks copied into
 * per-CPU scratch memory (bpf_csum_diff takes at most 512 bytes and needs a multiple of 4; an
 * odd tail is zero-padded, RFC 1071), one bpf_loop() step per chunk. `off` must be even
 * relative to the start of the checksummed region. Returns the sum, or -1 if the bytes are not
 * there or the packet is longer than RJC_CSUM_MAX_CHUNKS chunks. A global function, like the
 * other big steps of the reply path: the verifier checks it once, whatever the call site. */
__noinline __s64 rjc_csum_packet(rjc_ctx_t *ctx, __u32 off, __u32 len)
{
	__u32 zero = 0;
	struct rjc_csum_walk w = { .ctx = ctx, .off = off, .len = len };

	if (!ctx)
		return -1;
	w.sc = bpf_map_lookup_elem(&rjc_scratch, &zero);
	if (!w.sc)
		return -1;
	bpf_loop(RJC_CSUM_MAX_CHUNKS + 1, rjc_csum_step, &w, 0);
	if (w.err || w.done < len)
		return -1;
	return w.sum;
}

#endif /* RJC_CSUM_H */
