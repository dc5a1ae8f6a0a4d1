/* SPDX-License-Identifier: GPL-2.0-only */
/* rjc_recent.h: `-m recent` (net/netfilter/xt_recent.c, recent_mt revision 1) in BPF maps.
 * Semantics and the model: src/model/state/recent.ts; differences: docs/stateful.md.
 *
 *   rjc_recent_prepare(&pkt, chain);   // once per packet, before the rule walk
 *   rjc_recent_check(table, seconds_prefix, flags, hitcount, negated)   // per candidate rule
 *
 * The check changes the table (--set, --remove, --update when it matches), so the classifier
 * runs it exactly once per packet and rule, when the kernel would reach the match
 * (src/compiler/classify/side-effects.ts).
 *
 * Entries are keyed by (table id = FNV-1a of the name, family, masked address) in an LRU hash
 * map shared by all tables of the program; each keeps RJC_RECENT_STAMPS time stamps in
 * jiffies (a ring, as the kernel's ip_pkt_list_tot). HZ comes from rjc_recent_cfg, written by
 * the runtime.
 */
#ifndef RJC_RECENT_H
#define RJC_RECENT_H

#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "rjc_pkt.h"
#include "rjc_limit.h" /* rjc_jiffies(): jiffies_64, or the test clock under RJC_LIMIT_TEST_CLOCK */

#define RJC_CHK_RECENT     10 /* rjc_check.kind (src/compiler/classify/stateful.ts) */
/* Time stamps kept per address. xt_recent keeps ip_pkt_list_tot (default 20, at most 255) and
 * refuses a --hitcount above it. Whether "--hitcount h of the stamps are inside the window"
 * holds does not depend on the ring's size once it is at least h (the newest stamps are the
 * ones inside), so the generated program defines it as max(20, the rules' largest hitcount). */
#ifndef RJC_RECENT_STAMPS
#define RJC_RECENT_STAMPS  20
#endif
/* Entries of the table map: about 10 MB of stamps whatever the ring size. */
#define RJC_RECENT_ENTRIES (1310720 / RJC_RECENT_STAMPS)

/* Flag byte (rjc_check.pad[0]). */
#define RJC_RECENT_CMD_MASK 0x03
#define RJC_RECENT_SET      0
#define RJC_RECENT_RCHECK   1
#define RJC_RECENT_UPDATE   2
#define RJC_RECENT_REMOVE   3
#define RJC_RECENT_TTL      0x04 /* --rttl */
#define RJC_RECENT_DEST     0x10 /* --rdest */

struct rjc_recent_key {
	__u32 table;
	__u8 family;
	__u8 pad[3];
	__u8 addr[16];
};

struct rjc_recent_entry {
	__u64 stamps[RJC_RECENT_STAMPS]; /* jiffies */
	__u8 nstamps;
	__u8 index;
	__u8 ttl;
	__u8 pad[5];
};

struct rjc_recent_cfg {
	__u32 hz;            /* CONFIG_HZ: --seconds are seconds * HZ jiffies */
	__u32 reserved;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, RJC_RECENT_ENTRIES);
	__type(key, struct rjc_recent_key);
	__type(value, struct rjc_recent_entry);
} rjc_recent SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct rjc_recent_cfg);
} rjc_recent_cfg SEC(".maps");

/* The packet fields recent_mt reads, copied once per packet. */
struct rjc_recent_pkt {
	union rjc_addr saddr, daddr;
	__u8 family;
	__u8 ttl;      /* as seen before forwarding */
	__u8 pad[2];
	struct rjc_recent_key key; /* scratch for the lookup */
	struct rjc_recent_entry fresh;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct rjc_recent_pkt);
} rjc_recent_scratch SEC(".maps");

static __always_inline void rjc_recent_prepare(const struct rjc_pkt *pkt, int chain)
{
	__u32 zero = 0;
	struct rjc_recent_pkt *p = bpf_map_lookup_elem(&rjc_recent_scratch, &zero);

	if (!p)
		return;
	p->saddr = pkt->saddr;
	p->daddr = pkt->daddr;
	p->family = pkt->family;
	/* "use TTL as seen before forwarding": rjc_chain() already decremented it for FORWARD. */
	p->ttl = chain == RJC_CHAIN_FORWARD ? pkt->ttl + 1 : pkt->ttl;
}

/* A recent check: 1 when it passes (`negated` applied). `seconds_prefix`: --seconds in the
 * low 24 bits, the --mask prefix length in the high 8. Updates the table like recent_mt.
 * A global function: the verifier checks it once, not at every candidate rule of the walk. */
__noinline int rjc_recent_check(__u32 table, __u32 seconds_prefix, __u8 flags, __u8 hitcount, __u8 negated)
{
	__u32 zero = 0;
	struct rjc_recent_pkt *p = bpf_map_lookup_elem(&rjc_recent_scratch, &zero);
	const struct rjc_recent_cfg *cfg = bpf_map_lookup_elem(&rjc_recent_cfg, &zero);
	__u32 seconds = seconds_prefix & 0xffffff, prefix = seconds_prefix >> 24;
	__u8 cmd = flags & RJC_RECENT_CMD_MASK;
	const union rjc_addr *a;
	struct rjc_recent_entry *e;
	__u64 now = rjc_jiffies(), time;
	__u32 hz, hits = 0;
	int ret = !!negated;

	if (!p || !cfg)
		return 0;
	hz = cfg->hz ? cfg->hz : 250;
	a = (flags & RJC_RECENT_DEST) ? &p->daddr : &p->saddr;
	__builtin_memset(&p->key, 0, sizeof(p->key));
	p->key.table = table;
	p->key.family = p->family;
	/* The address under --mask (a prefix), a 32-bit word at a time (network order). */
	for (__u32 w = 0; w < 4; w++) {
		__u32 bits = prefix > w * 32 ? prefix - w * 32 : 0;
		__u32 m = bits >= 32 ? 0xffffffff : bits == 0 ? 0 : ~(0xffffffffU >> bits);

		if (p->family == 4 && w >= 1)
			break;
		((__u32 *)p->key.addr)[w] = a->v6[w] & bpf_htonl(m);
	}
	e = bpf_map_lookup_elem(&rjc_recent, &p->key);
	/* recent_entry_lookup with --rttl: the TTLs agree, or either is 0. */
	if (e && (flags & RJC_RECENT_TTL) && p->ttl && e->ttl && e->ttl != p->ttl)
		e = 0;
	if (!e) {
		if (cmd != RJC_RECENT_SET)
			return ret;
		__builtin_memset(&p->fresh, 0, sizeof(p->fresh));
		p->fresh.stamps[0] = now;
		p->fresh.nstamps = 1;
		p->fresh.index = 1;
		p->fresh.ttl = p->ttl;
		bpf_map_update_elem(&rjc_recent, &p->key, &p->fresh, BPF_ANY);
		return !ret;
	}
	if (cmd == RJC_RECENT_SET) {
		ret = !ret;
	} else if (cmd == RJC_RECENT_REMOVE) {
		bpf_map_delete_elem(&rjc_recent, &p->key);
		return !ret;
	} else {
		/* recent_mt counts the stamps inside the window until the count reaches --hitcount
		 * (any stamp when there is none): the same as comparing the full count. Counted
		 * without branches so that the verifier sees one path per stamp. */
		time = now - (__u64)seconds * hz;
		for (__u32 i = 0; i < RJC_RECENT_STAMPS; i++) {
			if (i >= e->nstamps)
				break;
			/* !time_after(time, stamp): the stamp is inside the window. */
			hits += seconds ? 1 - (__u32)((e->stamps[i] - time) >> 63) : 1;
		}
		if (hitcount ? hits >= hitcount : hits > 0)
			ret = !ret;
	}
	if (cmd == RJC_RECENT_SET || (cmd == RJC_RECENT_UPDATE && ret)) {
		__u32 idx = e->index % RJC_RECENT_STAMPS;

		/* The verifier needs the bound on the index itself; clang would fold a plain check
		 * away (it knows idx < RJC_RECENT_STAMPS), so hide idx from it first. */
		asm volatile("" : "+r"(idx));
		if (idx < RJC_RECENT_STAMPS)
			e->stamps[idx] = now;
		e->index = idx + 1;
		if (e->index > e->nstamps)
			e->nstamps = e->index;
		e->ttl = p->ttl;
	}
	return ret;
}

#endif /* RJC_RECENT_H */
