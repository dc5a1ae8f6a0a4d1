/* SPDX-License-Identifier: GPL-2.0-only */
/* rjc_owner.h: `-m owner` (net/netfilter/xt_owner.c, owner_mt) at TC egress, for OUTPUT. The
 * socket that sent the packet is skb->sk (TC egress runs in the sender's context, like the
 * OUTPUT hook); its owner is the credentials of the socket's file (`file->f_cred`), read
 * through bpf_cast_to_kern_ctx and CO-RE, exactly as xt_owner reads them.
 *
 *   rjc_owner_prepare(ctx, chain);           // once per packet, before the rule walk
 *   rjc_owner_check(kind, min, max, match, invert)   // per candidate rule's owner check
 *
 * Check kinds (rjc_check.kind, src/compiler/classify/stateful.ts): RJC_CHK_OWNER_SOCKET (the
 * match tests only --socket-exists), RJC_CHK_OWNER_UID and RJC_CHK_OWNER_GID (one test each;
 * a match with both becomes two checks). Each repeats owner_mt's early returns, so their
 * conjunction is owner_mt's result. `match`/`invert`: XT_OWNER_* bits of the whole match.
 */
#ifndef RJC_OWNER_H
#define RJC_OWNER_H

#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "rjc_ctx.h"

#define RJC_CHK_OWNER_SOCKET 11
#define RJC_CHK_OWNER_UID    12
#define RJC_CHK_OWNER_GID    13

/* XT_OWNER_* (include/uapi/linux/netfilter/xt_owner.h). */
#define RJC_OWNER_UID    0x01
#define RJC_OWNER_GID    0x02
#define RJC_OWNER_SOCKET 0x04
#define RJC_OWNER_SUPPL  0x08

#define RJC_OWNER_GROUPS 32 /* supplementary groups looked at (--suppl-groups) */
#define RJC_TCP_NEW_SYN_RECV 12

struct cred___rjc {
	struct { __u32 val; } fsuid;
	struct { __u32 val; } fsgid;
	struct group_info___rjc *group_info;
} __attribute__((preserve_access_index));

struct group_info___rjc {
	int ngroups;
	struct { __u32 val; } gid[];
} __attribute__((preserve_access_index));

struct file___rjc {
	const struct cred___rjc *f_cred;
} __attribute__((preserve_access_index));

struct socket___rjc {
	struct file___rjc *file;
} __attribute__((preserve_access_index));

struct sock___rjc;

struct sock_common___rjc {
	unsigned char skc_state;
	struct sock___rjc *skc_listener; /* request sockets: rsk_listener */
} __attribute__((preserve_access_index));

struct sock___rjc {
	struct sock_common___rjc __sk_common;
	struct socket___rjc *sk_socket;
} __attribute__((preserve_access_index));

struct sk_buff___rjc_owner {
	struct sock___rjc *sk;
} __attribute__((preserve_access_index));

/* The sending socket's owner, as owner_mt finds it. */
struct rjc_owner_pkt {
	__u8 sock;       /* a full socket with a struct socket (sk_to_full_sk, sk->sk_socket) */
	__u8 file;       /* ... and a file */
	__u8 pad[2];
	__u32 fsuid, fsgid;
	__u32 ngroups;
	__u32 groups[RJC_OWNER_GROUPS];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct rjc_owner_pkt);
} rjc_owner_scratch SEC(".maps");

/* Reads the owner of an OUTPUT packet's socket (other chains: no socket, never used). */
static __noinline int rjc_owner_prepare(rjc_ctx_t *ctx, int chain)
{
	__u32 zero = 0;
	struct rjc_owner_pkt *p = bpf_map_lookup_elem(&rjc_owner_scratch, &zero);
	struct sk_buff___rjc_owner *skb;
	struct sock___rjc *sk;
	struct socket___rjc *sock;
	struct file___rjc *file;
	const struct cred___rjc *cred;
	struct group_info___rjc *gi;

	if (!p)
		return 0;
	p->sock = 0;
	p->file = 0;
	p->ngroups = 0;
	if (chain != RJC_CHAIN_OUTPUT)
		return 0;
#ifdef RJC_FLAVOR_TC
	skb = bpf_cast_to_kern_ctx(ctx);
	sk = BPF_CORE_READ(skb, sk);
	if (!sk)
		return 0;
	/* sk_to_full_sk(): a request socket stands for its listener. */
	if (BPF_CORE_READ(sk, __sk_common.skc_state) == RJC_TCP_NEW_SYN_RECV)
		sk = BPF_CORE_READ(sk, __sk_common.skc_listener);
	if (!sk)
		return 0;
	sock = BPF_CORE_READ(sk, sk_socket);
	if (!sock)
		return 0;
	p->sock = 1;
	file = BPF_CORE_READ(sock, file);
	if (!file)
		return 0;
	cred = BPF_CORE_READ(file, f_cred);
	if (!cred)
		return 0;
	p->file = 1;
	p->fsuid = BPF_CORE_READ(cred, fsuid.val);
	p->fsgid = BPF_CORE_READ(cred, fsgid.val);
	gi = BPF_CORE_READ(cred, group_info);
	if (gi) {
		int n = BPF_CORE_READ(gi, ngroups);

		for (__u32 i = 0; i < RJC_OWNER_GROUPS; i++) {
			if ((int)i >= n)
				break;
			bpf_core_read(&p->groups[i], sizeof(__u32), &gi->gid[i]);
			p->ngroups = i + 1;
		}
	}
#endif
	return 0;
}

/* One owner check: 1 when it passes. `min`/`max`: the uid or gid range. */
static __always_inline int rjc_owner_check(__u8 kind, __u32 min, __u32 max, __u8 match, __u8 invert)
{
	__u32 zero = 0;
	const struct rjc_owner_pkt *p = bpf_map_lookup_elem(&rjc_owner_scratch, &zero);
	int hit;

	if (!p)
		return 0;
	if (!p->sock)
		return (match ^ invert) == 0;
	/* The socket exists but the rule said ! --socket-exists. */
	if (match & invert & RJC_OWNER_SOCKET)
		return 0;
	if (!p->file)
		return ((match ^ invert) & (RJC_OWNER_UID | RJC_OWNER_GID)) == 0;
	if (kind == RJC_CHK_OWNER_UID)
		return (p->fsuid >= min && p->fsuid <= max) == !(invert & RJC_OWNER_UID);
	if (kind == RJC_CHK_OWNER_GID) {
		hit = p->fsgid >= min && p->fsgid <= max;
		if (!hit && (match & RJC_OWNER_SUPPL)) {
			for (__u32 i = 0; i < RJC_OWNER_GROUPS; i++) {
				if (i >= p->ngroups)
					break;
				if (p->groups[i] >= min && p->groups[i] <= max) {
					hit = 1;
					break;
				}
			}
		}
		return hit == !(invert & RJC_OWNER_GID);
	}
	return 1;
}

#endif /* RJC_OWNER_H */
