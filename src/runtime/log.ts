/**
 * libbpf's log output, captured through its print callback (`libbpf_set_print`).
 *
 * The callback receives a printf format and a `va_list`; it is formatted with libc's
 * `vsnprintf` into one large reusable buffer (a verifier log can be megabytes long: libbpf
 * retries a failed load with its own 16 MiB log buffer and prints it in one message).
 * Messages go to the innermost active {@link captureLibbpfLog} sink; with no sink, warnings go
 * to stderr when `REJECTC_LIBBPF_LOG` is set (`debug` shows debug messages too).
 */
import { PRINT_LEVEL, PrintFn, libbpf, libc, registerCallback } from './native.js';

export interface LibbpfMessage {
  /** 0 warn, 1 info, 2 debug (`enum libbpf_print_level`). */
  level: number;
  text: string;
}

const FORMAT_BUFFER_BYTES = 17 << 20;
let formatBuffer: Buffer | undefined;
const sinks: LibbpfMessage[][] = [];
let installed = false;

function onPrint(level: number, fmt: string, ap: bigint): number {
  formatBuffer ??= Buffer.alloc(FORMAT_BUFFER_BYTES);
  const n = libc().vsnprintf(formatBuffer, formatBuffer.length, fmt, ap) as number;
  if (n < 0) return 0;
  const text = formatBuffer.toString('utf8', 0, Math.min(n, formatBuffer.length - 1));
  const sink = sinks[sinks.length - 1];
  if (sink) {
    if (level <= PRINT_LEVEL.info) sink.push({ level, text });
  } else {
    const env = process.env['REJECTC_LIBBPF_LOG'];
    if (env && (level <= PRINT_LEVEL.warn || env === 'debug')) process.stderr.write(text);
  }
  return 0;
}

/** Installs the print callback once per process (idempotent). */
export function installLibbpfLog(): void {
  if (installed) return;
  const cb = registerCallback(onPrint as never, PrintFn);
  libbpf().libbpf_set_print(cb);
  installed = true;
}

/**
 * Runs `fn` and collects the warning and info messages libbpf prints meanwhile.
 * Returns the function's result and the messages; rethrows what `fn` throws.
 */
export function captureLibbpfLog<T>(fn: () => T): { result: T; messages: LibbpfMessage[] } {
  installLibbpfLog();
  const messages: LibbpfMessage[] = [];
  sinks.push(messages);
  try {
    return { result: fn(), messages };
  } finally {
    sinks.pop();
  }
}

/**
 * The verifier log of program `program` in libbpf's messages (between its
 * `-- BEGIN PROG LOAD LOG --` and `-- END PROG LOAD LOG --` markers), or '' if none.
 */
export function verifierLogOf(messages: LibbpfMessage[], program: string): string {
  const begin = `prog '${program}': -- BEGIN PROG LOAD LOG --\n`;
  for (const m of messages) {
    const at = m.text.indexOf(begin);
    if (at < 0) continue;
    const body = m.text.slice(at + begin.length);
    const end = body.lastIndexOf('-- END PROG LOAD LOG --');
    return end < 0 ? body : body.slice(0, end);
  }
  return '';
}

/** The name of the program libbpf says failed to load (`prog 'x': failed to load`), if any. */
export function failedProgramOf(messages: LibbpfMessage[]): string | undefined {
  for (const m of messages) {
    const match = /prog '([^']+)': (?:failed to load|BPF program load failed)/.exec(m.text);
    if (match) return match[1];
  }
  return undefined;
}
