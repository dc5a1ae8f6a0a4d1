/* SPDX-License-Identifier: GPL-2.0-only */
/* rjc.h: the BPF reply path of rejectc, for the generated program to include.
 *
 * Define exactly one flavour first:  #define RJC_FLAVOR_TC   (clsact ingress/egress)
 *                                    #define RJC_FLAVOR_XDP  (ingress only)
 *
 * API (see bpf/README.md for the full contract):
 *
 *   struct rjc_pkt pkt;
 *   int rc = rjc_parse(ctx, &pkt);              // RJC_PARSE_OK / NOT_IP / STACK_DROPS
 *   if (rc != RJC_PARSE_OK) return RJC_PASS;
 *   int chain = rjc_chain(ctx, &pkt, RJC_DIR_INGRESS, RJC_CHAIN_NONE);
 *   if (chain == RJC_CHAIN_NONE) return RJC_PASS;
 *   ... classify pkt against the rules of `chain` ...
 *   return rjc_reject(ctx, &pkt, RJC_REJECT_TCP_RESET, chain);   // or RJC_DROP / RJC_PASS
 *
 * Maps (declared in rjc_layout.h, generated from src/layout/): rjc_config, rjc_dev,
 * rjc_route4, rjc_route6, rjc_addr4, rjc_addr6 (filled by the runtime from the host),
 * rjc_reply_stats (written here), rjc_scratch (internal).
 */
#ifndef RJC_H
#define RJC_H

#include "rjc_ctx.h"
#include "rjc_layout.h"
#include "rjc_pkt.h"
#include "rjc_csum.h"
#include "rjc_parse.h"
#include "rjc_chain.h"
#include "rjc_reject.h"

#endif /* RJC_H */
