/**
 * `-j LOG` (libxt_LOG.c). The level is stored only when it is not the default (4, warning) and
 * the prefix only when non-empty, because that is all iptables-save shows.
 */
import type { LogTarget } from '../../../ir.js';
import { parseUint } from '../../../values/numbers.js';
import { defineTarget, type OptionSpec } from '../spec.js';

/** libxtables' syslog level names (exact, lower-case; `err` and `warn` are not among them). */
export const SYSLOG_LEVELS: Readonly<Record<string, number>> = {
  alert: 1,
  crit: 2,
  debug: 7,
  emerg: 0,
  error: 3,
  info: 6,
  notice: 5,
  panic: 0,
  warning: 4,
};

export const LOG_DEFAULT_LEVEL = 4;
/** `sizeof(prefix) - 1`: longer prefixes are cut to this length, as iptables does. */
export const LOG_PREFIX_MAX = 29;

type LogFlag = 'tcpSequence' | 'tcpOptions' | 'ipOptions' | 'uid' | 'macDecode';
type LogState = Omit<LogTarget, 'kind' | 'target' | 'span'>;

function flag(name: string, key: LogFlag): OptionSpec<LogState> {
  return {
    names: [name],
    args: 0,
    apply(state) {
      state[key] = true;
    },
  };
}

export const logTarget = defineTarget<LogState>({
  name: 'LOG',
  options: [
    {
      names: ['log-level'],
      args: 1,
      apply(state, call) {
        const arg = call.arg();
        const level = parseUint(arg, 0, 7) ?? SYSLOG_LEVELS[arg];
        if (level === undefined) {
          call.error('E204', { what: 'log level', value: arg, detail: ': expected 0 to 7 or emerg, alert, crit, error, warning, notice, info, debug' });
          return;
        }
        if (level !== LOG_DEFAULT_LEVEL) state.level = level;
      },
    },
    {
      names: ['log-prefix'],
      args: 1,
      apply(state, call) {
        const arg = call.arg();
        if (arg.length === 0) {
          call.error('E204', { what: 'log prefix', value: arg, detail: ': it must not be empty' });
          return;
        }
        if (arg.includes('\n')) {
          call.error('E204', { what: 'log prefix', value: arg, detail: ': newlines are not allowed' });
          return;
        }
        state.prefix = arg.slice(0, LOG_PREFIX_MAX);
      },
    },
    flag('log-tcp-sequence', 'tcpSequence'),
    flag('log-tcp-options', 'tcpOptions'),
    flag('log-ip-options', 'ipOptions'),
    flag('log-uid', 'uid'),
    flag('log-macdecode', 'macDecode'),
  ],
  init: () => ({}),
  finish: (state, call): LogTarget => ({ kind: 'target', target: 'LOG', ...state, span: call.span }),
});
