/* SPDX-License-Identifier: GPL-2.0-only */
/* rjc_set.h: `-m set --match-set NAME dirs` against ipset sets kept in BPF maps. The semantics
 * are src/compiler/ipset/match.ts (xt_set revision 4 / ip_set_test); the runtime fills the maps
 * from an `ipset save` file (--ipset FILE) and can rewrite them while the program runs.
 *
 *   rjc_set_prepare(&pkt);                       // once per packet, before the rule walk
 *   rjc_set_check(id, srcbits, ndirs_flags, neg) // per candidate rule's set check
 *
 * A set is known by its id: the FNV-1a hash of its name (src/compiler/ipset/encode.ts), so the
 * program does not change when sets are added, filled or emptied. Maps:
 *   rjc_set_desc   id -> type, family, list:set members
 *   rjc_set_lpm4/6 (id, address/prefix) -> nomatch      hash:ip, hash:net
 *   rjc_set_ipport (id, proto, port, address) -> 1       hash:ip,port
 *   rjc_set_port   (id, port) -> 1                       bitmap:port
 */
#ifndef RJC_SET_H
#define RJC_SET_H

#include <linux/types.h>
#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include "rjc_pkt.h"

/* rjc_set_desc.type, as src/compiler/ipset/encode.ts SET_TYPE. */
#define RJC_SET_HASH_IP     1
#define RJC_SET_HASH_NET    2
#define RJC_SET_HASH_IPPORT 3
#define RJC_SET_BITMAP_PORT 4
#define RJC_SET_LIST        5

#define RJC_SET_MEMBERS 8      /* list:set members followed (ipset's default size) */
#define RJC_CHK_SET     9      /* rjc_check.kind of a set check (src/compiler/classify/stateful.ts) */
#define RJC_SET_RETURN_NOMATCH 0x80 /* in the ndirs byte: --return-nomatch */

struct rjc_set_desc {
	__u8 type;         /* RJC_SET_* */
	__u8 family;       /* 4, 6, or 0 for either (bitmap:port, list:set) */
	__u8 nmembers;     /* list:set */
	__u8 dim;          /* directions the type needs */
	__u32 members[RJC_SET_MEMBERS]; /* list:set member ids, in order */
};

struct rjc_set_lpm4_key {
	__u32 prefixlen;   /* 32 (id) + prefix */
	__u32 id;
	__u8 addr[4];
};

struct rjc_set_lpm6_key {
	__u32 prefixlen;   /* 32 (id) + prefix */
	__u32 id;
	__u8 addr[16];
};

struct rjc_set_net_val {
	__u8 nomatch;      /* hash:net nomatch entry */
};

struct rjc_set_ipport_key {
	__u32 id;
	__u8 proto;
	__u8 pad;
	__u16 port;        /* host order; ICMP: type << 8 | code */
	__u8 addr[16];     /* IPv4 in the first 4 bytes, rest zero */
};

struct rjc_set_port_key {
	__u32 id;
	__u32 port;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, struct rjc_set_desc);
} rjc_set_desc SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 262144);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct rjc_set_lpm4_key);
	__type(value, struct rjc_set_net_val);
} rjc_set_lpm4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct rjc_set_lpm6_key);
	__type(value, struct rjc_set_net_val);
} rjc_set_lpm6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 262144);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct rjc_set_ipport_key);
	__type(value, __u8);
} rjc_set_ipport SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct rjc_set_port_key);
	__type(value, __u8);
} rjc_set_port SEC(".maps");

/* The packet fields set tests read, copied once per packet (the checks run without `pkt`). */
struct rjc_set_pkt {
	union rjc_addr saddr, daddr;
	__u16 sport, dport;      /* valid with has_ports */
	__u8 family, proto;
	__u8 has_ports;          /* the transport header is there (ip_set_get_ip_port can read it) */
	__u8 icmp_type, icmp_code;
	__u8 later_frag;
	__u8 pad[2];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct rjc_set_pkt);
} rjc_set_scratch SEC(".maps");

static __always_inline void rjc_set_prepare(const struct rjc_pkt *pkt)
{
	__u32 zero = 0;
	struct rjc_set_pkt *p = bpf_map_lookup_elem(&rjc_set_scratch, &zero);

	if (!p)
		return;
	p->saddr = pkt->saddr;
	p->daddr = pkt->daddr;
	p->sport = pkt->sport;
	p->dport = pkt->dport;
	p->family = pkt->family;
	p->proto = pkt->proto;
	p->has_ports = !!(pkt->flags & RJC_PKT_F_L4_COMPLETE);
	p->icmp_type = pkt->icmp_type;
	p->icmp_code = pkt->icmp_code;
	/* ip_set_get_ip_port: no port in a non-first fragment, nor where ipv6_find_hdr fails. */
	p->later_frag = pkt->fragoff != 0 || (pkt->flags & RJC_PKT_F_PROTO_UNKNOWN);
}

/* ip_set_get_ip_port: the port of direction `src` and its protocol; 0 when there is none. */
static __always_inline int rjc_set_port_of(const struct rjc_set_pkt *p, int src, __u16 *port)
{
	if (p->later_frag)
		return 0;
	switch (p->proto) {
	case IPPROTO_TCP:
	case IPPROTO_UDP:
	case IPPROTO_SCTP:
	case IPPROTO_UDPLITE:
		if (!p->has_ports)
			return 0;
		*port = src ? p->sport : p->dport;
		return 1;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		if ((p->family == 4) == (p->proto == IPPROTO_ICMP)) {
			if (!p->has_ports)
				return 0;
			*port = ((__u16)p->icmp_type << 8) | p->icmp_code;
			return 1;
		}
		break;
	}
	/* Protocols without ports: port 0 (get_port leaves it). */
	*port = 0;
	return 1;
}

/* ip_set_test for one (non-list) set: 1 match, 0 no match. */
static __always_inline int rjc_set_test_one(const struct rjc_set_pkt *p, __u32 id, const struct rjc_set_desc *d,
					    __u8 srcbits, __u8 ndirs, int return_nomatch)
{
	const union rjc_addr *a = (srcbits & 1) ? &p->saddr : &p->daddr;
	__u16 port = 0;

	if (ndirs < d->dim || (d->family && d->family != p->family))
		return 0;
	switch (d->type) {
	case RJC_SET_HASH_IP:
	case RJC_SET_HASH_NET: {
		const struct rjc_set_net_val *v;

		if (p->family == 4) {
			struct rjc_set_lpm4_key k = { .prefixlen = 64, .id = id };

			__builtin_memcpy(k.addr, &a->v4, 4);
			v = bpf_map_lookup_elem(&rjc_set_lpm4, &k);
		} else {
			struct rjc_set_lpm6_key k = { .prefixlen = 160, .id = id };

			__builtin_memcpy(k.addr, a->bytes, 16);
			v = bpf_map_lookup_elem(&rjc_set_lpm6, &k);
		}
		if (!v)
			return 0;
		/* --return-nomatch flips hash:net's sense (ip_set_test, IPSET_TYPE_NOMATCH). */
		if (d->type == RJC_SET_HASH_NET && return_nomatch)
			return v->nomatch;
		return !v->nomatch;
	}
	case RJC_SET_HASH_IPPORT: {
		struct rjc_set_ipport_key k;

		if (!rjc_set_port_of(p, srcbits & 2, &port))
			return 0;
		__builtin_memset(&k, 0, sizeof(k));
		k.id = id;
		k.proto = p->proto;
		k.port = port;
		if (p->family == 4)
			__builtin_memcpy(k.addr, &a->v4, 4);
		else
			__builtin_memcpy(k.addr, a->bytes, 16);
		return bpf_map_lookup_elem(&rjc_set_ipport, &k) != 0;
	}
	case RJC_SET_BITMAP_PORT: {
		struct rjc_set_port_key k = { .id = id };

		if (p->proto != IPPROTO_TCP && p->proto != IPPROTO_UDP)
			return 0;
		if (!rjc_set_port_of(p, srcbits & 1, &port))
			return 0;
		k.port = port;
		return bpf_map_lookup_elem(&rjc_set_port, &k) != 0;
	}
	}
	return 0;
}

/* A set check: 1 when it passes (`negated` applied). `ndirs_flags`: number of directions,
 * RJC_SET_RETURN_NOMATCH; `srcbits`: bit i set = direction i is src. */
static __always_inline int rjc_set_check(__u32 id, __u8 srcbits, __u8 ndirs_flags, __u8 negated)
{
	__u32 zero = 0;
	const struct rjc_set_pkt *p = bpf_map_lookup_elem(&rjc_set_scratch, &zero);
	const struct rjc_set_desc *d = bpf_map_lookup_elem(&rjc_set_desc, &id);
	__u8 ndirs = ndirs_flags & 0x7f;
	int rn = !!(ndirs_flags & RJC_SET_RETURN_NOMATCH);
	int hit = 0;

	if (!p)
		return 0;
	if (d && d->type == RJC_SET_LIST) {
		if (ndirs >= d->dim) {
			for (__u32 i = 0; i < RJC_SET_MEMBERS; i++) {
				__u32 mid;
				const struct rjc_set_desc *m;

				if (i >= d->nmembers)
					break;
				mid = d->members[i];
				m = bpf_map_lookup_elem(&rjc_set_desc, &mid);
				if (m && m->type != RJC_SET_LIST && rjc_set_test_one(p, mid, m, srcbits, ndirs, rn)) {
					hit = 1;
					break;
				}
			}
		}
	} else if (d) {
		hit = rjc_set_test_one(p, id, d, srcbits, ndirs, rn);
	}
	return hit != !!negated;
}

#endif /* RJC_SET_H */
