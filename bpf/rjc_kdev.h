/* SPDX-License-Identifier: GPL-2.0-only */
/* rjc_mcast.h: has the receiving device joined this multicast group? The stack delivers a
 * multicast packet to INPUT only then, and drops it before any netfilter hook otherwise:
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
 */
#ifndef RJC_MCAST_H
#define RJC_MCAST_H

#include <linux/in6.h>
#include "rjc_ctx.h"
#include "rjc_pkt.h"

/* Groups examined per lookup; a longer list counts as joined (filtered: the safe side). */
#define RJC_MAX_MCAST_GROUPS 256

struct ip_mc_list___rjc {
	__be32 multiaddr;
	struct ip_mc_list___rjc *next_rcu; /* in an anonymous union with `next` */
} __attribute__((preserve_access_index));

struct in_device___rjc {
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
		__be32 a[4] = {};

		if (bpf_core_read(a, sizeof(a), &mc->mca_addr) || bpf_core_read(&w->at, sizeof(w->at), &mc->next))
			return 1;
		if (a[0] == w->group.v6[0] && a[1] == w->group.v6[1] && a[2] == w->group.v6[2] && a[3] == w->group.v6[3]) {
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

#endif /* RJC_MCAST_H */
