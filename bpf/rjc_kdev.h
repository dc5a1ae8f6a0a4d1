/* SPDX-License-Identifier: GPL-2.0-only */
/* rjc_kdev.h: what the stack decides from the receiving device's live state, read from the
 * kernel (CO-RE probe reads through rjc_ctx_kdev()) rather than copied by the runtime: state
 * that changes at any time, where a stale copy would let packets through unfiltered.
 *
 * 1. Has the device joined this multicast group? The stack delivers a multicast packet to
 *    INPUT only then, and drops it before any netfilter hook otherwise:
 *
 *   IPv4: ip_route_input_rcu() -> ip_check_mc_rcu(): the group must be on the device's
 *         in_device->mc_list (IGMP included; source filters: see below);
 *   IPv6: ip6_mc_input() -> ipv6_chk_mcast_addr(dev, group, NULL): on inet6_dev->mc_list.
 *
 * The lists are read live from the kernel (CO-RE probe reads through rjc_ctx_kdev()), not
 * copied by the runtime: sockets join and leave groups at any time, and a stale copy would let
 * packets to a newly joined group reach the host unfiltered. Only multicast destinations pay
 * for the walk (one probe read per group of the device).
 *
 * Not followed (documented in bpf/KNOWN-DIFFERENCES.md): IPv4 source-specific filters of a
 * joined group (the group counts as joined for every source), and multicast routing
 * (mc_forwarding), where unjoined groups are forwarded by a routing daemon.
 *
 * 2. The device's IPv6 addresses (struct inet6_ifaddr on inet6_dev->addr_list, by if_list),
 *    without the tentative ones (the kernel counts an address as local only after duplicate
 *    address detection): is a link-local destination ours (ipv6_chk_addr on the device), and
 *    which link-local address does an ICMPv6 error to a link-local destination come from.
 *
 * 3. The device's IPv4 addresses (struct in_ifaddr on in_device->ifa_list): which one is the
 *    preferred source of a subnet's broadcast route.
 */
#ifndef RJC_KDEV_H
#define RJC_KDEV_H

#include <linux/in6.h>
#include "rjc_ctx.h"
#include "rjc_pkt.h"

/* Groups examined per lookup; a longer list counts as joined (filtered: the safe side). */
#define RJC_MAX_MCAST_GROUPS 256

struct ip_mc_list___rjc {
	__be32 multiaddr;
	struct ip_mc_list___rjc *next_rcu; /* in an anonymous union with `next` */
} __attribute__((preserve_access_index));

struct in_ifaddr___rjc {
	struct in_ifaddr___rjc *ifa_next;
	__be32 ifa_local;
	__be32 ifa_mask;
	__be32 ifa_broadcast;
} __attribute__((preserve_access_index));

struct in_device___rjc {
	struct in_ifaddr___rjc *ifa_list;
	struct ip_mc_list___rjc *mc_list;
} __attribute__((preserve_access_index));

struct ifmcaddr6___rjc {
	struct in6_addr mca_addr;
	struct ifmcaddr6___rjc *next;
} __attribute__((preserve_access_index));

struct rjc_mc_walk {
	__u64 at;              /* kernel pointer to the current list entry, 0 at the end */
	union rjc_addr group;  /* the destination, network order */
	int family;
	int found;
};

static long rjc_mc_step(__u32 index, void *data)
{
	struct rjc_mc_walk *w = data;

	if (!w->at) {
		w->found = 0;
		return 1;
	}
	if (w->family == 4) {
		struct ip_mc_list___rjc *im = (void *)w->at;
		__be32 a = 0;

		if (bpf_core_read(&a, sizeof(a), &im->multiaddr) || bpf_core_read(&w->at, sizeof(w->at), &im->next_rcu))
			return 1; /* unreadable: found stays -1 */
		if (a == w->group.v4) {
			w->found = 1;
			return 1;
		}
	} else {
		struct ifmcaddr6___rjc *mc = (void *)w->at;
		union rjc_addr a = {};

		if (bpf_core_read(&a, sizeof(a), &mc->mca_addr) || bpf_core_read(&w->at, sizeof(w->at), &mc->next))
			return 1;
		if (rjc_addr_eq(&a, &w->group)) {
			w->found = 1;
			return 1;
		}
	}
	return 0;
}

/**
 * rjc_mcast_joined() - 1 if the device the program runs on has joined @pkt's (multicast)
 * destination, 0 if it has not (the stack drops the packet before INPUT). Anything that
 * cannot be read (no device, no IP configuration, a list longer than RJC_MAX_MCAST_GROUPS)
 * answers 1, so that the packet is filtered rather than let through.
 */
static __always_inline int rjc_mcast_joined(rjc_ctx_t *ctx, const struct rjc_pkt *pkt)
{
	struct net_device___rjc *dev = rjc_ctx_kdev(ctx);
	struct rjc_mc_walk w = { .group = pkt->daddr, .family = pkt->family, .found = -1 };

	if (!dev)
		return 1;
	if (pkt->family == 4) {
		struct in_device___rjc *in = NULL;

		if (bpf_core_read(&in, sizeof(in), &dev->ip_ptr))
			return 1;
		if (!in)
			return 0; /* no IPv4 on the device: ip_route_input_rcu() refuses (-EINVAL) */
		if (bpf_core_read(&w.at, sizeof(w.at), &in->mc_list))
			return 1;
	} else {
		struct inet6_dev___rjc *in6 = NULL;

		if (bpf_core_read(&in6, sizeof(in6), &dev->ip6_ptr))
			return 1;
		if (!in6)
			return 0; /* no IPv6 on the device: ipv6_rcv() drops everything */
		if (bpf_core_read(&w.at, sizeof(w.at), &in6->mc_list))
			return 1;
	}
	bpf_loop(RJC_MAX_MCAST_GROUPS, rjc_mc_step, &w, 0);
	return w.found != 0;
}

struct inet6_ifaddr___rjc {
	struct in6_addr addr;
	__u32 flags;
	struct list_head___rjc if_list;
} __attribute__((preserve_access_index));

#define RJC_IFA_F_TENTATIVE 0x40 /* IFA_F_TENTATIVE */
/* Addresses examined per device; beyond them nothing more is found. */
#define RJC_MAX_DEV_ADDRS 32

struct rjc_addr_walk {
	__u64 head;              /* &inet6_dev->addr_list */
	__u64 at;                /* current list node */
	const union rjc_addr *want; /* the address to find, or NULL for the first link-local one */
	union rjc_addr found;
	int ok;
};

static long rjc_addr_step(__u32 index, void *data)
{
	struct rjc_addr_walk *w = data;
	struct inet6_ifaddr___rjc *ifa;
	union rjc_addr a = {};
	__u32 flags = 0;

	if (!w->at || w->at == w->head)
		return 1;
	ifa = (void *)(w->at - bpf_core_field_offset(struct inet6_ifaddr___rjc, if_list));
	if (bpf_core_read(&a, sizeof(a), &ifa->addr) || bpf_core_read(&flags, sizeof(flags), &ifa->flags) ||
	    bpf_core_read(&w->at, sizeof(w->at), &ifa->if_list.next))
		return 1;
	if (flags & RJC_IFA_F_TENTATIVE)
		return 0;
	if (w->want ? rjc_addr_eq(&a, w->want) : (a.bytes[0] == 0xfe && (a.bytes[1] & 0xc0) == 0x80)) {
		w->found = a;
		w->ok = 1;
		return 1;
	}
	return 0;
}

/* Walks the device's IPv6 addresses for @want (or the first link-local one when NULL);
 * returns 0 and the address in @out when found, -1 otherwise. */
static __always_inline int rjc_dev_addr6(rjc_ctx_t *ctx, const union rjc_addr *want, union rjc_addr *out)
{
	struct net_device___rjc *dev = rjc_ctx_kdev(ctx);
	struct inet6_dev___rjc *in6 = NULL;
	struct rjc_addr_walk w = { .want = want };

	if (!dev || bpf_core_read(&in6, sizeof(in6), &dev->ip6_ptr) || !in6)
		return -1;
	w.head = (__u64)&in6->addr_list;
	if (bpf_core_read(&w.at, sizeof(w.at), &in6->addr_list.next))
		return -1;
	bpf_loop(RJC_MAX_DEV_ADDRS, rjc_addr_step, &w, 0);
	if (!w.ok)
		return -1;
	*out = w.found;
	return 0;
}

/**
 * rjc_dev_linklocal6() - the link-local address of the device the program runs on, for an
 * ICMPv6 error to a link-local destination sent on the orig's behalf (FORWARD): source
 * address selection prefers the outgoing device's address of the same scope (RFC 6724
 * rule 2). Returns 0 and fills @out, or -1 when the device has none.
 */
static __always_inline int rjc_dev_linklocal6(rjc_ctx_t *ctx, union rjc_addr *out)
{
	return rjc_dev_addr6(ctx, NULL, out);
}

/**
 * rjc_dev_has_addr6() - 1 if @a is one of the device's (non-tentative) IPv6 addresses: a
 * link-local destination is local only on its own device (ipv6_chk_addr with the device).
 */
static __always_inline int rjc_dev_has_addr6(rjc_ctx_t *ctx, const union rjc_addr *a)
{
	union rjc_addr found;

	return rjc_dev_addr6(ctx, a, &found) == 0;
}

struct rjc_ifa_walk {
	__u64 at;       /* current struct in_ifaddr */
	__be32 bcast;   /* the broadcast address to find */
	__be32 local;   /* its address, when found */
};

static long rjc_ifa_step(__u32 index, void *data)
{
	struct rjc_ifa_walk *w = data;
	struct in_ifaddr___rjc *ifa = (void *)w->at;
	__be32 b = 0, local = 0, mask = 0;

	if (!ifa)
		return 1;
	if (bpf_core_read(&b, sizeof(b), &ifa->ifa_broadcast) || bpf_core_read(&local, sizeof(local), &ifa->ifa_local) ||
	    bpf_core_read(&mask, sizeof(mask), &ifa->ifa_mask))
		return 1;
	/* fib_add_ifaddr() adds the broadcast route of prefix | ~mask (prefixes shorter than /31)
	 * and of an explicit `brd`, with the subnet's primary address (first in the list) as
	 * preferred source. */
	if (b == w->bcast || ((local | ~mask) == w->bcast && bpf_ntohl(mask) < 0xfffffffe)) {
		w->local = local;
		return 1;
	}
	if (bpf_core_read(&w->at, sizeof(w->at), &ifa->ifa_next))
		return 1;
	return 0;
}

/**
 * rjc_dev_bcast_src4() - the preferred source of the broadcast route of @bcast (a subnet's
 * broadcast address on the device the program runs on): the device's address in that subnet.
 * Network order; 0 if none. Not inlined: its walk state would otherwise sit in the frame of
 * every reply check that inlines rjc_back_route(), IPv6 ones included, and the XDP program's
 * deepest call chain would pass the verifier's 512-byte combined stack limit.
 */
static __noinline __be32 rjc_dev_bcast_src4(rjc_ctx_t *ctx, __be32 bcast)
{
	struct net_device___rjc *dev = rjc_ctx_kdev(ctx);
	struct in_device___rjc *in = NULL;
	struct rjc_ifa_walk w = { .bcast = bcast };

	if (!dev || bpf_core_read(&in, sizeof(in), &dev->ip_ptr) || !in || bpf_core_read(&w.at, sizeof(w.at), &in->ifa_list))
		return 0;
	bpf_loop(RJC_MAX_DEV_ADDRS, rjc_ifa_step, &w, 0);
	return w.local;
}

#endif /* RJC_KDEV_H */
