/* SPDX-License-Identifier: GPL-2.0-only */
/* rjc_limit.h: rate limits with the kernel's own arithmetic.
 *
 *  - rjc_limit_match():      -m limit, as nft's `limit` (iptables-nft, nanoseconds) or xt_limit
 *                            (iptables-legacy, jiffies); net/netfilter/nft_limit.c, xt_limit.c
 *  - rjc_hashlimit():        -m hashlimit revision 3, one hash table per --hashlimit-name with
 *                            the kernel's keys, refill, expiry, garbage collection and
 *                            "table full" drop; net/netfilter/xt_hashlimit.c
 *  - rjc_hashlimit_pkt_of(): what hashlimit reads from a packet rjc_parse() parsed (defined when
 *                            this file comes after rjc_pkt.h, as in rjc_reject.h)
 *  - with RJC_USES_HASHLIMIT (the generated classifier): rjc_hashlimit_prepare(ctx, pkt) once
 *                            per packet, then rjc_hashlimit_check(table, rule_mode) per check
 *                            (RJC_CHK_LIMIT / RJC_CHK_HASHLIMIT are the checks' rjc_check.kind)
 *  - rjc_reply_budget():     the budget every reply passes before it is sent: a global token
 *                            bucket and a per-peer one, per reply kind (RST, ICMP, ICMPv6), with
 *                            the arithmetic of the kernel's ICMP limiter (icmp_global_allow,
 *                            inet_peer_xrlim_allow in net/ipv4/icmp.c, net/ipv4/inetpeer.c)
 *
 * Every constant (costs, caps, credits per jiffy, HZ) is computed by the TypeScript model in
 * src/model/limits/ and written into the config part of the maps below; this file only runs the
 * per-packet arithmetic, with the kernel's integer widths. ../shared/spec/limit-algorithms.md
 * has the algorithms step by step.
 *
 * Map sizes: defaults below, which the including program may override before including this
 * file, and which the loader may override before load (bpf_map__set_max_entries; rejectc apply
 * sizes rjc_budget_peers from --reply-limit sources=N, and the limit state maps, which every
 * program of a namespace shares, for what is in use: src/runtime/rate-slots.ts):
 *   RJC_LIMIT_MAX          number of -m limit entries (entries of rjc_limits)
 *   RJC_HASHLIMIT_TABLES   number of hashlimit tables (entries of rjc_hl_tables)
 *   RJC_HASHLIMIT_ENTRIES  flows in all tables together (entries of rjc_hl_entries; see
 *                          hashlimitEntriesSize() in src/model/limits/bpf-layout.ts)
 *   RJC_BUDGET_PEERS       per-peer buckets of the reply budget (entries of rjc_budget_peers)
 * Define RJC_LIMIT_TEST_CLOCK for tests: time and randomness then come from the rjc_test_clock map
 * instead of bpf_ktime_get_ns()/bpf_jiffies64()/bpf_get_prandom_u32(), and hashlimit garbage
 * collection runs only when the test calls rjc_hashlimit_gc().
 *
 * Layouts: every struct userspace writes is described once in src/model/limits/bpf-layout.ts;
 * the _Static_asserts below are exactly its limitStaticAsserts() (test/limits-bpf.test.ts
 * checks), so clang refuses a C layout that drifts from the TypeScript one.
 */
#ifndef RJC_LIMIT_H
#define RJC_LIMIT_H

#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#ifndef RJC_LIMIT_MAX
#define RJC_LIMIT_MAX 1
#endif
#ifndef RJC_HASHLIMIT_TABLES
#define RJC_HASHLIMIT_TABLES 1
#endif
#ifndef RJC_HASHLIMIT_ENTRIES
#define RJC_HASHLIMIT_ENTRIES 1
#endif
#ifndef RJC_BUDGET_PEERS
#define RJC_BUDGET_PEERS 65536
#endif

#ifndef RJC_READ_ONCE
#define RJC_READ_ONCE(x) (*(volatile typeof(x) *)&(x))
#endif

/* ------------------------------------------------------------------------------------------ */
/* Clock and randomness                                                                        */

#ifdef RJC_LIMIT_TEST_CLOCK
/* Test builds: the test writes the time before each BPF_PROG_TEST_RUN. */
struct rjc_test_clock {
	__u64 ns;      /* CLOCK_MONOTONIC nanoseconds (ktime_get_ns) */
	__u64 jiffies; /* jiffies_64 */
	__u32 random;  /* what bpf_get_prandom_u32() would return */
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct rjc_test_clock);
} rjc_test_clock SEC(".maps");

static __always_inline struct rjc_test_clock *rjc_clock(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&rjc_test_clock, &zero);
}

static __always_inline __u64 rjc_now_ns(void)
{
	struct rjc_test_clock *c = rjc_clock();

	return c ? c->ns : 0;
}

static __always_inline __u64 rjc_jiffies(void)
{
	struct rjc_test_clock *c = rjc_clock();

	return c ? c->jiffies : 0;
}

static __always_inline __u32 rjc_random_u32(void)
{
	struct rjc_test_clock *c = rjc_clock();

	return c ? c->random : 0;
}
#else
static __always_inline __u64 rjc_now_ns(void)
{
	return bpf_ktime_get_ns(); /* ktime_get_ns(), nft_limit's clock */
}

static __always_inline __u64 rjc_jiffies(void)
{
	return bpf_jiffies64(); /* jiffies_64, the clock of xt_limit, hashlimit, ICMP limits */
}

static __always_inline __u32 rjc_random_u32(void)
{
	return bpf_get_prandom_u32();
}
#endif

/* ------------------------------------------------------------------------------------------ */
/* -m limit                                                                                    */

#define RJC_LIMIT_NFT 1 /* nft limit, packets: ns tokens, u64 (iptables-nft) */
#define RJC_LIMIT_XT  2 /* xt_limit: jiffies credits, u32 (iptables-legacy) */

/* One -m limit match: config written by userspace, state by the program. Userspace writes
 * the state as zero; the bucket then starts full at the first packet, as the kernel's started
 * full when the rule was loaded. */
struct rjc_limit {
	__u32 algo;   /* RJC_LIMIT_NFT or RJC_LIMIT_XT; 0 (unconfigured) never matches */
	__u32 cpj;    /* xt: CREDITS_PER_JIFFY */
	__u64 cost;   /* nft: ns per packet (unit*1e9/rate); xt: credits per packet (u32) */
	__u64 cap;    /* nft: tokens_max (cost*burst); xt: credit_cap (u32) */
	struct bpf_spin_lock lock;
	__u32 started; /* state: 0 until the first packet */
	__u64 last;   /* state: nft: ns; xt: jiffies (prev) */
	__u64 tokens; /* state: nft: tokens; xt: credit (u32) */
};
_Static_assert(sizeof(struct rjc_limit) == 48, "src/model/limits/bpf-layout.ts size of rjc_limit");
_Static_assert(__builtin_offsetof(struct rjc_limit, algo) == 0, "src/model/limits/bpf-layout.ts offset of rjc_limit.algo");
_Static_assert(__builtin_offsetof(struct rjc_limit, cpj) == 4, "src/model/limits/bpf-layout.ts offset of rjc_limit.cpj");
_Static_assert(__builtin_offsetof(struct rjc_limit, cost) == 8, "src/model/limits/bpf-layout.ts offset of rjc_limit.cost");
_Static_assert(__builtin_offsetof(struct rjc_limit, cap) == 16, "src/model/limits/bpf-layout.ts offset of rjc_limit.cap");
_Static_assert(__builtin_offsetof(struct rjc_limit, lock) == 24, "src/model/limits/bpf-layout.ts offset of rjc_limit.lock");
_Static_assert(__builtin_offsetof(struct rjc_limit, started) == 28, "src/model/limits/bpf-layout.ts offset of rjc_limit.started");
_Static_assert(__builtin_offsetof(struct rjc_limit, last) == 32, "src/model/limits/bpf-layout.ts offset of rjc_limit.last");
_Static_assert(__builtin_offsetof(struct rjc_limit, tokens) == 40, "src/model/limits/bpf-layout.ts offset of rjc_limit.tokens");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, RJC_LIMIT_MAX);
	__type(key, __u32);
	__type(value, struct rjc_limit);
} rjc_limits SEC(".maps");

/* One packet through the bucket; called with l->lock held. Returns 1 under the limit. */
static __always_inline int rjc_limit_step(struct rjc_limit *l, __u64 now)
{
	if (!l->started) {
		l->started = 1;
		l->last = now;
		l->tokens = l->cap;
	}
	/* Time was read before taking the lock: a CPU that read it later may have been here
	 * first. The kernel reads it under its lock, so its clock never goes back. */
	if (now < l->last)
		now = l->last;

	if (l->algo == RJC_LIMIT_NFT) {
		/* nft_limit_eval() */
		__u64 tokens = l->tokens + (now - l->last);

		if (tokens > l->cap)
			tokens = l->cap;
		l->last = now;
		if ((__s64)(tokens - l->cost) >= 0) {
			l->tokens = tokens - l->cost;
			return 1;
		}
		l->tokens = tokens;
		return 0;
	}

	/* limit_mt(): credit_increase is a u32 accumulator, credit is u32. */
	__u32 inc = (__u32)((now - l->last) * l->cpj);
	__u32 credit = (__u32)l->tokens + inc;
	int ok = 0;

	l->last = now;
	if (credit > (__u32)l->cap)
		credit = (__u32)l->cap;
	if (credit >= (__u32)l->cost) {
		credit -= (__u32)l->cost;
		ok = 1;
	}
	l->tokens = credit;
	return ok;
}

/* -m limit number `id`: 1 if the rule goes on (under the limit), 0 if it does not match. */
static __always_inline int rjc_limit_match(__u32 id)
{
	struct rjc_limit *l = bpf_map_lookup_elem(&rjc_limits, &id);
	__u64 now;
	int ok;

	if (!l || (l->algo != RJC_LIMIT_NFT && l->algo != RJC_LIMIT_XT))
		return 0;
	now = l->algo == RJC_LIMIT_NFT ? rjc_now_ns() : rjc_jiffies();
	bpf_spin_lock(&l->lock);
	ok = rjc_limit_step(l, now);
	bpf_spin_unlock(&l->lock);
	return ok;
}

/* ------------------------------------------------------------------------------------------ */
/* -m hashlimit (revision 3)                                                                   */

/* XT_HASHLIMIT_* mode bits (include/uapi/linux/netfilter/xt_hashlimit.h). */
#define RJC_HL_HASH_DIP   (1U << 0)
#define RJC_HL_HASH_DPT   (1U << 1)
#define RJC_HL_HASH_SIP   (1U << 2)
#define RJC_HL_HASH_SPT   (1U << 3)
#define RJC_HL_INVERT     (1U << 4)
#define RJC_HL_BYTES      (1U << 5)
#define RJC_HL_RATE_MATCH (1U << 6)

/* rjc_hashlimit() results (also of the classifier's rjc_rate_check()). */
#define RJC_HL_NOMATCH 0
#define RJC_HL_MATCH   1
#define RJC_HL_HOTDROP 2 /* the kernel sets hotdrop: the packet is dropped, the rule walk ends */

/* rjc_check.kind of the classifier's rate-limit checks (RATE_CHECK_KIND in
 * src/compiler/classify/rate-limits.ts). */
#define RJC_CHK_LIMIT     20
#define RJC_CHK_HASHLIMIT 21

/* A table as the rule that created it configured it (written by userspace). */
struct rjc_hashlimit_cfg {
	__u32 mode;          /* the creating rule's XT_HASHLIMIT_* bits: keying, init, refill */
	__u32 max;           /* entries at most (htable-max after the kernel's defaults) */
	__u32 srcmask[4];    /* --hashlimit-srcmask as a network-order address mask */
	__u32 dstmask[4];    /* --hashlimit-dstmask likewise */
	__u64 expire;        /* msecs_to_jiffies(htable-expire) */
	__u64 gc_interval;   /* htable-gcinterval in nanoseconds (the GC timer period) */
	__u64 cpj;           /* packets: CREDITS_PER_JIFFY (64-bit); bytes: CREDITS_PER_JIFFY_BYTES */
	__u64 credit;        /* a new entry's credit: packets user2credits(avg*burst); bytes CPJ_B*HZ */
	__u64 credit_cap;    /* packets: same as credit; bytes: refills allowed (burst) */
	__u64 cost;          /* packets: user2credits(avg); bytes: user2credits_byte(avg) */
	__u64 full;          /* bytes: CPJ_B*HZ, the refill ceiling */
	__u64 rate;          /* rate-match: user2rate(avg) (bytes: user2rate_bytes) */
	__u64 burst;         /* rate-match: burst + rate (an s64 in the kernel) */
	__u64 interval;      /* rate-match: interval * HZ, jiffies */
};

struct rjc_hashlimit_table {
	struct rjc_hashlimit_cfg cfg;
	__u64 count;         /* state: entries of this table (zero when written) */
	__u64 gc_armed;      /* state: the GC timer was started */
	struct bpf_timer gc; /* state */
};
/* (count and gc_armed are 64-bit: 32-bit BPF atomics need -mcpu=v3, 64-bit ones do not) */
_Static_assert(sizeof(struct rjc_hashlimit_table) == 152, "src/model/limits/bpf-layout.ts size of rjc_hashlimit_table");
_Static_assert(__builtin_offsetof(struct rjc_hashlimit_table, cfg.mode) == 0, "src/model/limits/bpf-layout.ts offset of rjc_hashlimit_table.mode");
_Static_assert(__builtin_offsetof(struct rjc_hashlimit_table, cfg.max) == 4, "src/model/limits/bpf-layout.ts offset of rjc_hashlimit_table.max");
_Static_assert(__builtin_offsetof(struct rjc_hashlimit_table, cfg.srcmask) == 8, "src/model/limits/bpf-layout.ts offset of rjc_hashlimit_table.srcmask");
_Static_assert(__builtin_offsetof(struct rjc_hashlimit_table, cfg.dstmask) == 24, "src/model/limits/bpf-layout.ts offset of rjc_hashlimit_table.dstmask");
_Static_assert(__builtin_offsetof(struct rjc_hashlimit_table, cfg.expire) == 40, "src/model/limits/bpf-layout.ts offset of rjc_hashlimit_table.expire");
_Static_assert(__builtin_offsetof(struct rjc_hashlimit_table, cfg.gc_interval) == 48, "src/model/limits/bpf-layout.ts offset of rjc_hashlimit_table.gc_interval");
_Static_assert(__builtin_offsetof(struct rjc_hashlimit_table, cfg.cpj) == 56, "src/model/limits/bpf-layout.ts offset of rjc_hashlimit_table.cpj");
_Static_assert(__builtin_offsetof(struct rjc_hashlimit_table, cfg.credit) == 64, "src/model/limits/bpf-layout.ts offset of rjc_hashlimit_table.credit");
_Static_assert(__builtin_offsetof(struct rjc_hashlimit_table, cfg.credit_cap) == 72, "src/model/limits/bpf-layout.ts offset of rjc_hashlimit_table.credit_cap");
_Static_assert(__builtin_offsetof(struct rjc_hashlimit_table, cfg.cost) == 80, "src/model/limits/bpf-layout.ts offset of rjc_hashlimit_table.cost");
_Static_assert(__builtin_offsetof(struct rjc_hashlimit_table, cfg.full) == 88, "src/model/limits/bpf-layout.ts offset of rjc_hashlimit_table.full");
_Static_assert(__builtin_offsetof(struct rjc_hashlimit_table, cfg.rate) == 96, "src/model/limits/bpf-layout.ts offset of rjc_hashlimit_table.rate");
_Static_assert(__builtin_offsetof(struct rjc_hashlimit_table, cfg.burst) == 104, "src/model/limits/bpf-layout.ts offset of rjc_hashlimit_table.burst");
_Static_assert(__builtin_offsetof(struct rjc_hashlimit_table, cfg.interval) == 112, "src/model/limits/bpf-layout.ts offset of rjc_hashlimit_table.interval");
_Static_assert(__builtin_offsetof(struct rjc_hashlimit_table, count) == 120, "src/model/limits/bpf-layout.ts offset of rjc_hashlimit_table.count");
_Static_assert(__builtin_offsetof(struct rjc_hashlimit_table, gc_armed) == 128, "src/model/limits/bpf-layout.ts offset of rjc_hashlimit_table.gc_armed");
_Static_assert(__builtin_offsetof(struct rjc_hashlimit_table, gc) == 136, "src/model/limits/bpf-layout.ts offset of rjc_hashlimit_table.gc");

/* struct dsthash_dst plus the table: addresses masked, ports raw (network order). */
struct rjc_hashlimit_key {
	__u32 table;
	__u32 src[4];
	__u32 dst[4];
	__u16 sport;
	__u16 dport;
};

/* struct dsthash_ent's rateinfo (the kernel's union, unfolded) and expiry. */
struct rjc_hashlimit_entry {
	struct bpf_spin_lock lock;
	__u32 prev_window; /* rate-match */
	__u64 expires;     /* jiffies */
	__u64 prev;        /* jiffies of the last refill */
	__u64 credit;
	__u64 credit_cap;
	__u64 cost;
	__u64 current_rate; /* rate-match */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, RJC_HASHLIMIT_TABLES);
	__type(key, __u32);
	__type(value, struct rjc_hashlimit_table);
} rjc_hl_tables SEC(".maps");

/* All tables' flows. A plain hash, not an LRU: LRU maps cannot hold a bpf_spin_lock, and the
 * kernel never evicts a live flow; it drops new flows when a table is full (rjc_hashlimit()
 * keeps each table's count) and removes expired ones in its garbage collector. The map size
 * (the sum of the tables' htable-max) bounds the memory. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, RJC_HASHLIMIT_ENTRIES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct rjc_hashlimit_key);
	__type(value, struct rjc_hashlimit_entry);
} rjc_hl_entries SEC(".maps");

/* What hashlimit reads from a packet (filled by the caller's parser). */
struct rjc_hashlimit_pkt {
	__u32 src[4];   /* network order; IPv4 in src[0] */
	__u32 dst[4];
	__u32 ports;    /* the 4 bytes at the protocol's port offset (rjc_proto_ports_offset) */
	__u32 len;      /* skb->len at the hook: the IP packet length */
	__u8 ports_ok;  /* 0: the packet ends before the ports, or the IPv6 header walk failed */
	__u8 pad[3];
};

/* proto_ports_offset() (include/linux/in.h): where the two 16-bit ports are, or -1. */
static __always_inline int rjc_proto_ports_offset(__u8 proto)
{
	switch (proto) {
	case 6:   /* TCP */
	case 17:  /* UDP */
	case 33:  /* DCCP */
	case 50:  /* ESP: the SPI is read as the ports */
	case 132: /* SCTP */
	case 136: /* UDPLITE */
		return 0;
	case 51:  /* AH: the SPI is 4 bytes in */
		return 4;
	default:
		return -1;
	}
}

#ifdef RJC_PKT_H
/* What hashlimit reads, from a packet parsed by rjc_parse() (bpf/rjc_parse.h): the transport
 * offset is the IPv4 header length, or where ipv6_skip_exthdr() stops (pkt->x_off / x_proto),
 * as hashlimit_init_dst() uses them; the ports are read at proto_ports_offset() from there,
 * within the IP length. */
static __always_inline void rjc_hashlimit_pkt_of(rjc_ctx_t *ctx, const struct rjc_pkt *pkt,
						  struct rjc_hashlimit_pkt *h)
{
	__u32 thoff, end = (__u32)pkt->l3_off + pkt->ip_len;
	__u8 proto;
	int poff;

	__builtin_memset(h, 0, sizeof(*h));
	if (pkt->family == 4) {
		h->src[0] = pkt->saddr.v4;
		h->dst[0] = pkt->daddr.v4;
		thoff = (__u32)pkt->l3_off + pkt->ihl;
		proto = pkt->proto;
	} else {
		__builtin_memcpy(h->src, pkt->saddr.v6, 16);
		__builtin_memcpy(h->dst, pkt->daddr.v6, 16);
		if (!pkt->x_off)
			goto out; /* ipv6_skip_exthdr() failed: ports_ok stays 0 */
		thoff = pkt->x_off;
		proto = pkt->x_proto;
	}
	poff = rjc_proto_ports_offset(proto);
	if (poff < 0)
		h->ports_ok = 1; /* no ports: both 0 */
	else if (thoff + poff + 4 <= end && rjc_ctx_load(ctx, thoff + poff, &h->ports, 4) == 0)
		h->ports_ok = 1;
out:
	h->len = pkt->ip_len;
}

#ifdef RJC_USES_HASHLIMIT
/* The generated classifier: what hashlimit reads from the packet being classified, taken once
 * per packet (rjc_hashlimit_prepare) for the checks the rule walk runs later (per-CPU: one
 * packet at a time per CPU). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct rjc_hashlimit_pkt);
} rjc_hl_pkt SEC(".maps");

static __always_inline void rjc_hashlimit_prepare(rjc_ctx_t *ctx, const struct rjc_pkt *pkt)
{
	__u32 zero = 0;
	struct rjc_hashlimit_pkt *h = bpf_map_lookup_elem(&rjc_hl_pkt, &zero);

	if (h)
		rjc_hashlimit_pkt_of(ctx, pkt, h);
}

static __always_inline int rjc_hashlimit(__u32 table, __u32 rule_mode, const struct rjc_hashlimit_pkt *p);

/* -m hashlimit for the packet rjc_hashlimit_prepare() saw. */
static __always_inline int rjc_hashlimit_check(__u32 table, __u32 rule_mode)
{
	__u32 zero = 0;
	const struct rjc_hashlimit_pkt *h = bpf_map_lookup_elem(&rjc_hl_pkt, &zero);

	return h ? rjc_hashlimit(table, rule_mode, h) : RJC_HL_HOTDROP;
}
#endif /* RJC_USES_HASHLIMIT */
#endif /* RJC_PKT_H */

/* hashlimit_init_dst(): 0, or -1 when the kernel would hotdrop. */
static __always_inline int rjc_hashlimit_key(const struct rjc_hashlimit_cfg *c, __u32 table,
					     const struct rjc_hashlimit_pkt *p,
					     struct rjc_hashlimit_key *k)
{
	__builtin_memset(k, 0, sizeof(*k));
	k->table = table;
	if (c->mode & RJC_HL_HASH_DIP) {
		k->dst[0] = p->dst[0] & c->dstmask[0];
		k->dst[1] = p->dst[1] & c->dstmask[1];
		k->dst[2] = p->dst[2] & c->dstmask[2];
		k->dst[3] = p->dst[3] & c->dstmask[3];
	}
	if (c->mode & RJC_HL_HASH_SIP) {
		k->src[0] = p->src[0] & c->srcmask[0];
		k->src[1] = p->src[1] & c->srcmask[1];
		k->src[2] = p->src[2] & c->srcmask[2];
		k->src[3] = p->src[3] & c->srcmask[3];
	}
	if (!(c->mode & (RJC_HL_HASH_DPT | RJC_HL_HASH_SPT)))
		return 0;
	if (!p->ports_ok)
		return -1;
	/* ports are in packet byte order: the first two bytes are the source port */
	if (c->mode & RJC_HL_HASH_SPT)
		k->sport = (__u16)(p->ports & 0xffff);
	if (c->mode & RJC_HL_HASH_DPT)
		k->dport = (__u16)(p->ports >> 16);
	return 0;
}

/* rateinfo_recalc() for the table's mode; entry locked. */
static __always_inline void rjc_hl_recalc(struct rjc_hashlimit_entry *e,
					  const struct rjc_hashlimit_cfg *c, __u64 now)
{
	__u64 delta = now - e->prev;
	__u64 cap;

	if (delta == 0)
		return;
	if (c->mode & RJC_HL_RATE_MATCH) {
		if (delta < c->interval)
			return;
		e->prev = now;
		e->prev_window = e->current_rate * c->interval > delta * c->rate;
		e->current_rate = 0;
		return;
	}
	e->prev = now;
	if (c->mode & RJC_HL_BYTES) {
		__u64 old = e->credit;

		e->credit += c->cpj * delta;
		cap = c->full;
		if (old >= e->credit) { /* overflow */
			e->credit = cap;
			return;
		}
	} else {
		e->credit += delta * c->cpj;
		cap = e->credit_cap;
	}
	if (e->credit > cap)
		e->credit = cap;
}

/* The decision of hashlimit_mt_common() for a rule with mode bits `rule`; entry locked.
 * Returns 1 when under the limit. */
static __always_inline int rjc_hl_decide(struct rjc_hashlimit_entry *e,
					 const struct rjc_hashlimit_cfg *c, __u32 rule, __u32 len)
{
	__u64 cost;

	if (rule & RJC_HL_RATE_MATCH) {
		e->current_rate += (rule & RJC_HL_BYTES) ? len : 1;
		return !e->prev_window && e->current_rate <= c->burst;
	}
	if (rule & RJC_HL_BYTES) {
		/* hashlimit_byte_cost() */
		__u64 tmp = (__u64)((len >> 4) + 1) * e->cost;

		if (tmp > c->full)
			tmp = c->full;
		if (e->credit < tmp && e->credit_cap) {
			e->credit_cap--;
			e->credit = c->full;
		}
		cost = (__u32)tmp;
	} else {
		cost = e->cost;
	}
	if (e->credit >= cost) {
		e->credit -= cost;
		return 1;
	}
	return 0;
}

struct rjc_hl_gc_ctx {
	__u32 table;
	__u32 removed;
	__u64 now;
};

static long rjc_hl_gc_entry(void *map, struct rjc_hashlimit_key *key,
			    struct rjc_hashlimit_entry *e, struct rjc_hl_gc_ctx *ctx)
{
	/* select_gc(): time_after_eq(jiffies, expires) */
	if (key->table == ctx->table && (__s64)(ctx->now - e->expires) >= 0) {
		if (bpf_map_delete_elem(map, key) == 0)
			ctx->removed++;
	}
	return 0;
}

/* One garbage collection of `table` at jiffies `now` (htable_selective_cleanup with
 * select_gc). Returns how many flows it removed. */
static __always_inline __u32 rjc_hashlimit_gc(__u32 table, __u64 now)
{
	struct rjc_hl_gc_ctx ctx = { .table = table, .removed = 0, .now = now };
	struct rjc_hashlimit_table *t;

	bpf_for_each_map_elem(&rjc_hl_entries, rjc_hl_gc_entry, &ctx, 0);
	t = bpf_map_lookup_elem(&rjc_hl_tables, &table);
	if (t && ctx.removed)
		__sync_fetch_and_sub(&t->count, ctx.removed);
	return ctx.removed;
}

#ifndef RJC_LIMIT_TEST_CLOCK
/* The table's GC timer (htable_gc): collect, then run again gc_interval later. */
static int rjc_hl_gc_timer(void *map, __u32 *key, struct rjc_hashlimit_table *t)
{
	rjc_hashlimit_gc(*key, rjc_jiffies());
	bpf_timer_start(&t->gc, t->cfg.gc_interval, 0);
	return 0;
}

/* Start a table's GC timer the first time the table sees a packet (the kernel starts it when
 * the table is created; there is nothing to collect before the first flow). */
static __always_inline void rjc_hl_arm_gc(struct rjc_hashlimit_table *t)
{
	if (RJC_READ_ONCE(t->gc_armed) || __sync_val_compare_and_swap(&t->gc_armed, 0, 1) != 0)
		return;
	if (bpf_timer_init(&t->gc, &rjc_hl_tables, 1 /* CLOCK_MONOTONIC */) != 0)
		return;
	bpf_timer_set_callback(&t->gc, rjc_hl_gc_timer);
	bpf_timer_start(&t->gc, t->cfg.gc_interval, 0);
}
#endif

/* -m hashlimit: one packet `p` through table `table` for a rule with mode bits `rule_mode`
 * (its INVERT, BYTES and RATE_MATCH bits decide; the table's own bits key, fill and refill).
 * Returns RJC_HL_MATCH, RJC_HL_NOMATCH or RJC_HL_HOTDROP. */
static __always_inline int rjc_hashlimit(__u32 table, __u32 rule_mode, const struct rjc_hashlimit_pkt *p)
{
	struct rjc_hashlimit_table *t = bpf_map_lookup_elem(&rjc_hl_tables, &table);
	struct rjc_hashlimit_key key;
	struct rjc_hashlimit_entry *e;
	__u64 now = rjc_jiffies();
	int under;

	if (!t || t->cfg.max == 0)
		return RJC_HL_HOTDROP; /* unconfigured table (max is never 0 once configured) */
#ifndef RJC_LIMIT_TEST_CLOCK
	rjc_hl_arm_gc(t);
#endif
	if (rjc_hashlimit_key(&t->cfg, table, p, &key) < 0)
		return RJC_HL_HOTDROP;

	e = bpf_map_lookup_elem(&rjc_hl_entries, &key);
	if (!e) {
		struct rjc_hashlimit_entry fresh = {};

		/* dsthash_alloc_init(): a full table drops new flows */
		if (RJC_READ_ONCE(t->count) >= t->cfg.max)
			return RJC_HL_HOTDROP;
		/* rateinfo_init() */
		fresh.expires = now + t->cfg.expire;
		fresh.prev = now;
		fresh.credit = t->cfg.credit;
		fresh.credit_cap = t->cfg.credit_cap;
		fresh.cost = t->cfg.cost;
		if (bpf_map_update_elem(&rjc_hl_entries, &key, &fresh, BPF_NOEXIST) == 0) {
			__sync_fetch_and_add(&t->count, 1);
			e = bpf_map_lookup_elem(&rjc_hl_entries, &key);
			if (!e)
				return RJC_HL_HOTDROP;
			bpf_spin_lock(&e->lock);
			goto decide;
		}
		/* another CPU created it first (the kernel's `race` path), or the map is full */
		e = bpf_map_lookup_elem(&rjc_hl_entries, &key);
		if (!e)
			return RJC_HL_HOTDROP;
	}
	bpf_spin_lock(&e->lock);
	e->expires = now + t->cfg.expire;
	if (now >= e->prev) /* a CPU with an older clock reading refills nothing */
		rjc_hl_recalc(e, &t->cfg, now);
decide:
	under = rjc_hl_decide(e, &t->cfg, rule_mode, p->len);
	bpf_spin_unlock(&e->lock);
	return (under ^ !!(rule_mode & RJC_HL_INVERT)) ? RJC_HL_MATCH : RJC_HL_NOMATCH;
}

/* ------------------------------------------------------------------------------------------ */
/* Reply budget                                                                                */

/* Budget kinds (index of rjc_budget_cfg; the `kind` of rjc_reply_budget()). */
#define RJC_BUDGET_RST   0 /* TCP RSTs, both families */
#define RJC_BUDGET_ICMP  1 /* ICMP errors */
#define RJC_BUDGET_ICMP6 2 /* ICMPv6 errors */
#define RJC_BUDGET_KINDS 3

/* rjc_reply_budget() results, also the second index of rjc_budget_stats. */
#define RJC_BUDGET_SENT   0 /* within budget: send */
#define RJC_BUDGET_GLOBAL 1 /* global bucket empty: drop silently */
#define RJC_BUDGET_PEER   2 /* this peer's bucket empty: drop silently */
#define RJC_BUDGET_RESULTS 3

/* One kind's budget (written by userspace; see src/compiler/reply-limit.ts). */
struct rjc_budget_cfg {
	__u32 limited;        /* 0: never limited */
	__u32 global_slot;    /* rjc_budget_glob index; ICMP and ICMPv6 share one by default */
	__u32 msgs_per_sec;   /* icmp_msgs_per_sec */
	__u32 msgs_burst;     /* icmp_msgs_burst */
	__u32 hz;             /* CONFIG_HZ of the running kernel */
	__u32 peer_timeout;   /* icmp_ratelimit in jiffies: a peer's token cost; 0: no peer bucket */
	__u32 peer_burst;     /* XRLIM_BURST_FACTOR (6) */
	__u32 consume_random; /* 1: take 0..2 global credits like icmp_global_consume; 0: take 1 */
};
_Static_assert(sizeof(struct rjc_budget_cfg) == 32, "src/model/limits/bpf-layout.ts size of rjc_budget_cfg");
_Static_assert(__builtin_offsetof(struct rjc_budget_cfg, limited) == 0, "src/model/limits/bpf-layout.ts offset of rjc_budget_cfg.limited");
_Static_assert(__builtin_offsetof(struct rjc_budget_cfg, global_slot) == 4, "src/model/limits/bpf-layout.ts offset of rjc_budget_cfg.global_slot");
_Static_assert(__builtin_offsetof(struct rjc_budget_cfg, msgs_per_sec) == 8, "src/model/limits/bpf-layout.ts offset of rjc_budget_cfg.msgs_per_sec");
_Static_assert(__builtin_offsetof(struct rjc_budget_cfg, msgs_burst) == 12, "src/model/limits/bpf-layout.ts offset of rjc_budget_cfg.msgs_burst");
_Static_assert(__builtin_offsetof(struct rjc_budget_cfg, hz) == 16, "src/model/limits/bpf-layout.ts offset of rjc_budget_cfg.hz");
_Static_assert(__builtin_offsetof(struct rjc_budget_cfg, peer_timeout) == 20, "src/model/limits/bpf-layout.ts offset of rjc_budget_cfg.peer_timeout");
_Static_assert(__builtin_offsetof(struct rjc_budget_cfg, peer_burst) == 24, "src/model/limits/bpf-layout.ts offset of rjc_budget_cfg.peer_burst");
_Static_assert(__builtin_offsetof(struct rjc_budget_cfg, consume_random) == 28, "src/model/limits/bpf-layout.ts offset of rjc_budget_cfg.consume_random");

/* A global bucket (net->ipv4.icmp_global_credit / _stamp); starts at 0/0 like the kernel's.
 * The kernel's are an int and a u32; they are kept in 64 bits here because 32-bit BPF
 * atomics need -mcpu=v3, and used with the kernel's widths (credit stays in int range: it is
 * capped at msgs_burst and goes down by at most 2 per reply sent). */
struct rjc_budget_global {
	__s64 credit;
	__u64 stamp; /* jiffies; only the low 32 bits count, as in the kernel's u32 */
};

struct rjc_budget_peer_key {
	__u32 kind;
	__u8 addr[16]; /* the reply's destination; IPv4 in the first 4 bytes */
};

/* inet_peer's rate_tokens / rate_last */
struct rjc_budget_peer {
	__u64 last;
	__u32 tokens;
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, RJC_BUDGET_KINDS);
	__type(key, __u32);
	__type(value, struct rjc_budget_cfg);
} rjc_budget_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, RJC_BUDGET_KINDS);
	__type(key, __u32);
	__type(value, struct rjc_budget_global);
} rjc_budget_glob SEC(".maps");

/* Per-peer buckets, all kinds together. LRU: a flood of spoofed sources evicts old peers
 * (which come back with a full bucket, as an evicted inet_peer does) but never grows memory
 * and never raises the global rate. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, RJC_BUDGET_PEERS);
	__type(key, struct rjc_budget_peer_key);
	__type(value, struct rjc_budget_peer);
} rjc_budget_peers SEC(".maps");

/* Replies within budget and suppressed, per kind: index kind * RJC_BUDGET_RESULTS + result. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, RJC_BUDGET_KINDS * RJC_BUDGET_RESULTS);
	__type(key, __u32);
	__type(value, __u64);
} rjc_budget_stats SEC(".maps");

/* icmp_global_allow(): lock-free like the kernel (cmpxchg on the stamp, then on the credit). */
static __always_inline int rjc_budget_global_allow(struct rjc_budget_global *g,
						   const struct rjc_budget_cfg *c, __u64 now)
{
	__u64 old_stamp;
	__u32 delta;
	__s32 incr;
	int i;

	if (RJC_READ_ONCE(g->credit) > 0)
		return 1;
	old_stamp = RJC_READ_ONCE(g->stamp);
	delta = (__u32)now - (__u32)old_stamp;
	if (delta > c->hz)
		delta = c->hz;
	if (delta < c->hz / 50)
		return 0;
	incr = (__s32)(((__u64)c->msgs_per_sec * delta) / c->hz);
	if (!incr)
		return 0;
	if (__sync_val_compare_and_swap(&g->stamp, old_stamp, now) == old_stamp) {
		for (i = 0; i < 8; i++) {
			__s64 old = RJC_READ_ONCE(g->credit);
			__s64 new = (__s32)((__s32)old + incr);

			if (new > (__s32)c->msgs_burst)
				new = (__s32)c->msgs_burst;
			if (__sync_val_compare_and_swap(&g->credit, old, new) == old)
				break;
		}
	}
	return 1;
}

/* inet_peer_xrlim_allow(): 1 if the peer may get a reply now. */
static __always_inline int rjc_budget_peer_allow(struct rjc_budget_peer *p,
						 const struct rjc_budget_cfg *c, __u64 now)
{
	__u64 token = p->tokens;
	__u64 delta = now - p->last;
	int ok = 0;

	if (delta) {
		p->last = now;
		token += delta;
		if (token > (__u64)c->peer_burst * c->peer_timeout)
			token = (__u64)c->peer_burst * c->peer_timeout;
	}
	if (token >= c->peer_timeout) {
		token -= c->peer_timeout;
		ok = 1;
	}
	p->tokens = (__u32)token;
	return ok;
}

static __always_inline void rjc_budget_count(__u32 kind, __u32 result)
{
	__u32 idx = kind * RJC_BUDGET_RESULTS + result;
	__u64 *n = bpf_map_lookup_elem(&rjc_budget_stats, &idx);

	if (n)
		*n += 1;
}

/* The reply budget: may a reply of `kind` to `addr` (addr_len 4 or 16 bytes, network order)
 * be sent now? Returns RJC_BUDGET_SENT, or RJC_BUDGET_GLOBAL / RJC_BUDGET_PEER when the reply
 * must be suppressed (REJECT then drops silently). The order is the kernel's: global check,
 * peer check, and only a reply actually sent consumes global credit. */
static __always_inline int rjc_reply_budget(__u32 kind, const void *addr, __u32 addr_len)
{
	struct rjc_budget_cfg *c = bpf_map_lookup_elem(&rjc_budget_cfg, &kind);
	struct rjc_budget_global *g;
	__u32 slot;
	__u64 now;

	if (!c || !c->limited) {
		rjc_budget_count(kind, RJC_BUDGET_SENT);
		return RJC_BUDGET_SENT;
	}
	slot = c->global_slot;
	g = bpf_map_lookup_elem(&rjc_budget_glob, &slot);
	if (!g) {
		rjc_budget_count(kind, RJC_BUDGET_GLOBAL);
		return RJC_BUDGET_GLOBAL;
	}
	now = rjc_jiffies();
	if (!rjc_budget_global_allow(g, c, now)) {
		rjc_budget_count(kind, RJC_BUDGET_GLOBAL);
		return RJC_BUDGET_GLOBAL;
	}
	if (c->peer_timeout) {
		struct rjc_budget_peer_key key = { .kind = kind };
		struct rjc_budget_peer *p;

		if (addr_len == 16)
			__builtin_memcpy(key.addr, addr, 16);
		else
			__builtin_memcpy(key.addr, addr, 4);
		p = bpf_map_lookup_elem(&rjc_budget_peers, &key);
		if (!p) {
			/* inet_getpeer(): a new peer has no tokens but was "last seen" 60 s ago */
			struct rjc_budget_peer fresh = { .last = now - 60ULL * c->hz, .tokens = 0 };

			bpf_map_update_elem(&rjc_budget_peers, &key, &fresh, BPF_NOEXIST);
			p = bpf_map_lookup_elem(&rjc_budget_peers, &key);
		}
		/* (no entry even now: the kernel sends when it has no peer either) */
		if (p && !rjc_budget_peer_allow(p, c, now)) {
			rjc_budget_count(kind, RJC_BUDGET_PEER);
			return RJC_BUDGET_PEER;
		}
	}
	/* icmp_global_consume() */
	__sync_fetch_and_sub(&g->credit, c->consume_random ? (__s64)(rjc_random_u32() % 3) : 1);
	rjc_budget_count(kind, RJC_BUDGET_SENT);
	return RJC_BUDGET_SENT;
}

#endif /* RJC_LIMIT_H */
