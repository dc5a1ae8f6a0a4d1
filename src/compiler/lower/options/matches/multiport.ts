/**
 * `-m multiport` revision 1 (libxt_multiport.c): one of `--sports`/`--dports`/`--ports` (also
 * spelled `--source-ports`, `--destination-ports`), up to 15 ports with a range counting as
 * two. The rule's protocol must be tcp, udp, udplite, sctp or dccp and not negated, and its
 * name picks the service table for port names.
 */
import type { MultiportMatch, Range } from '../../../ir.js';
import type { Span } from '../../../span.js';
import { parseMultiport } from '../../../values/ports.js';
import { protocolName } from '../../../values/protocols.js';
import { defineMatch, type OptionSpec } from '../spec.js';

interface MultiportState {
  negated?: boolean;
  direction?: MultiportMatch['direction'];
  text?: string;
  argSpan?: Span;
}

const PROTOS = new Set([6, 17, 136, 132, 33]);

function dir(direction: MultiportMatch['direction'], names: string[], conflicts: string[]): OptionSpec<MultiportState> {
  return {
    names,
    args: 1,
    invert: true,
    conflicts,
    apply(state, call) {
      state.direction = direction;
      state.negated = call.negated;
      state.text = call.arg();
      state.argSpan = call.args[0]!.span;
    },
  };
}

export const multiportMatch = defineMatch<MultiportState>({
  name: 'multiport',
  options: [
    dir('sports', ['source-ports', 'sports'], ['destination-ports', 'ports']),
    dir('dports', ['destination-ports', 'dports'], ['source-ports', 'ports']),
    dir('ports', ['ports'], ['source-ports', 'destination-ports']),
  ],
  init: () => ({}),
  finish(state, call): MultiportMatch | undefined {
    const p = call.base.protocol;
    if (!p || p.negated || !PROTOS.has(p.protocol)) {
      call.error('E207', { option: '-m multiport', needs: '-p tcp, -p udp, -p udplite, -p sctp or -p dccp' }, call.span, p?.negated ? ['the protocol must not be negated'] : undefined);
      return undefined;
    }
    if (!state.direction || state.text === undefined) {
      call.error('E207', { option: '-m multiport', needs: '--sports, --dports or --ports' });
      return undefined;
    }
    const parsed = parseMultiport(state.text, protocolName(p.protocol));
    if (!parsed.ok) {
      call.error(parsed.problem.code, parsed.problem.params, state.argSpan, parsed.problem.notes);
      return undefined;
    }
    const ports: Range[] = parsed.value;
    return { kind: 'match', module: 'multiport', span: call.span, negated: state.negated ?? false, direction: state.direction, ports };
  },
});
