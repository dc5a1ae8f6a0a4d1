/**
 * The BPF programs of a compiled ruleset: names, ELF sections and where they attach. The
 * manifest lists them so the runtime never types these strings.
 */
import type { FilterHook } from '../ir.js';

export interface ProgramSpec {
  /** Function name in the ELF object and in libbpf. */
  name: string;
  /** ELF section (libbpf 1.1 names: "tc" = BPF_PROG_TYPE_SCHED_CLS, "xdp"). */
  section: 'tc' | 'xdp';
  attach: 'tc-ingress' | 'tc-egress' | 'xdp';
  /** The chains this program evaluates. */
  chains: FilterHook[];
  /** False when the ruleset leaves everything it would see to the policy ACCEPT (no rules). */
  needed: boolean;
}

export function programSpecs(hook: 'tc' | 'xdp', outputFiltered: boolean): ProgramSpec[] {
  if (hook === 'xdp') return [{ name: 'rjc_xdp', section: 'xdp', attach: 'xdp', chains: ['INPUT', 'FORWARD'], needed: true }];
  return [
    { name: 'rjc_tc_ingress', section: 'tc', attach: 'tc-ingress', chains: ['INPUT', 'FORWARD'], needed: true },
    { name: 'rjc_tc_egress', section: 'tc', attach: 'tc-egress', chains: ['OUTPUT'], needed: outputFiltered },
  ];
}
