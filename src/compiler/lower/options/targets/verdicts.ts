/**
 * The standard targets: ACCEPT, DROP, RETURN (and QUEUE, kept as a target rejectc does not
 * compile). They take no options.
 */
import type { OtherTarget, VerdictTarget } from '../../../ir.js';
import { defineTarget, type TargetSpec } from '../spec.js';

function verdict(name: VerdictTarget['target']): TargetSpec {
  return defineTarget<object>({
    name,
    options: [],
    init: () => ({}),
    finish: (_state, call): VerdictTarget => ({ kind: 'target', target: name, span: call.span }),
  });
}

export const acceptTarget = verdict('ACCEPT');
export const dropTarget = verdict('DROP');
export const returnTarget = verdict('RETURN');

export const queueTarget = defineTarget<object>({
  name: 'QUEUE',
  options: [],
  init: () => ({}),
  finish: (_state, call): OtherTarget => ({ kind: 'target', target: 'other', name: 'QUEUE', options: [], span: call.span }),
});
