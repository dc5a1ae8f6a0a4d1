/**
 * Typed errors of the runtime. They all extend {@link EnvironmentError}, so the CLI ends with
 * exit code 2, a one-line cause and a one-line fix. Model: cilium/ebpf `internal/errors.go`.
 *
 * - {@link LibbpfError}: a libbpf call failed; names the call and the errno.
 * - {@link VerifierError}: the kernel refused a program; keeps the whole verifier log and a
 *   short summary (its last meaningful lines).
 * - {@link NotSupportedError}: the kernel or libbpf lacks a feature (tests skip on it).
 */
import { getSystemErrorMap } from 'node:util';
import { EnvironmentError } from '../errors.js';

/** The symbolic name of an errno value, e.g. 13 → `EACCES` (`E<n>` if unknown). */
export function errnoName(errno: number): string {
  const entry = getSystemErrorMap().get(-Math.abs(errno));
  if (entry) return entry[0];
  return ERRNO_EXTRA[Math.abs(errno)]?.[0] ?? `E${Math.abs(errno)}`;
}

/** The text of an errno value, e.g. 13 → `permission denied`. */
export function errnoText(errno: number): string {
  const entry = getSystemErrorMap().get(-Math.abs(errno));
  if (entry) return entry[1];
  return ERRNO_EXTRA[Math.abs(errno)]?.[1] ?? `error ${Math.abs(errno)}`;
}

/** Kernel-internal errno values libbpf passes through and libuv does not know. */
const ERRNO_EXTRA: Record<number, [string, string]> = {
  524: ['ENOTSUPP', 'operation not supported by the kernel'],
  4000: ['LIBBPF_ERRNO__LIBELF', 'something wrong in libelf'],
  4001: ['LIBBPF_ERRNO__FORMAT', 'BPF object format invalid'],
  4002: ['LIBBPF_ERRNO__KVERSION', 'kernel version mismatch'],
  4003: ['LIBBPF_ERRNO__ENDIAN', 'endian mismatch'],
  4004: ['LIBBPF_ERRNO__INTERNAL', 'internal libbpf error'],
  4005: ['LIBBPF_ERRNO__RELOC', 'relocation failed'],
  4007: ['LIBBPF_ERRNO__VERIFY', 'kernel verifier blocks program loading'],
  4008: ['LIBBPF_ERRNO__PROG2BIG', 'program too big'],
  4009: ['LIBBPF_ERRNO__KVER', 'incorrect kernel version'],
  4010: ['LIBBPF_ERRNO__PROGTYPE', 'kernel does not support this program type'],
  4011: ['LIBBPF_ERRNO__WRNGPID', 'wrong pid in netlink message'],
  4012: ['LIBBPF_ERRNO__INVSEQ', 'invalid netlink sequence'],
  4013: ['LIBBPF_ERRNO__NLPARSE', 'netlink message parse error'],
};

function fixFor(errno: number): string | undefined {
  switch (errnoName(errno)) {
    case 'EPERM':
    case 'EACCES':
      return 'run as root (or with CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON)';
    case 'ENODEV':
      return 'check the interface name with "ip link"';
    default:
      return undefined;
  }
}

/** A libbpf call failed. `errno` is positive (libbpf returns `-errno`). */
export class LibbpfError extends EnvironmentError {
  override readonly name: string = 'LibbpfError';
  readonly code: string;

  constructor(
    /** The libbpf function, e.g. `bpf_tc_attach`. */
    readonly call: string,
    /** The positive errno value. */
    readonly errno: number,
    /** What was being done, e.g. `attaching program "rjc_ingress" to veth0 ingress`. */
    readonly what?: string,
    fix?: string,
    /** Appended after the errno, e.g. the verifier's complaint. */
    detail?: string,
  ) {
    const code = errnoName(errno);
    super(`${what ? `${what}: ` : ''}${call}() failed: ${code} (${errnoText(errno)})${detail ? `: ${detail}` : ''}`, fix ?? fixFor(errno));
    this.code = code;
  }
}

/**
 * The kernel verifier refused a program. `log` is the whole verifier log; `summary` its last
 * meaningful lines (what the verifier complained about), for one-line reporting.
 */
export class VerifierError extends LibbpfError {
  override readonly name: string = 'VerifierError';
  readonly summary: string;

  constructor(
    /** The program the kernel refused. */
    readonly program: string,
    errno: number,
    /** The whole verifier log, possibly empty when the kernel gave none. */
    readonly log: string,
    /** Where the whole log was saved, when it was. */
    readonly logFile?: string,
  ) {
    const summary = summariseVerifierLog(log);
    super(
      'bpf_object__load',
      errno,
      `the kernel verifier refused BPF program "${program}"`,
      `${logFile ? `the whole verifier log is in ${logFile}; ` : ''}this is a bug in rejectc or in a hand-written BPF helper, please report it with the log`,
      summary || undefined,
    );
    this.summary = summary;
  }
}

/** The kernel or libbpf lacks something this operation needs. */
export class NotSupportedError extends EnvironmentError {
  override readonly name: string = 'NotSupportedError';
}

/**
 * The lines of a verifier log that say what went wrong: the last lines that are neither
 * statistics (`processed N insns`, `verification time`, `stack depth`) nor instruction
 * dumps/source annotations. At most `max` lines joined with ` | `.
 */
export function summariseVerifierLog(log: string, max = 2): string {
  const lines = log.split('\n').map((l) => l.trim()).filter((l) => l.length > 0);
  const meaningful = lines.filter(
    (l) =>
      !/^processed \d+ insns/.test(l) &&
      !/^verification time/.test(l) &&
      !/^stack depth/.test(l) &&
      !/^-- (BEGIN|END) PROG LOAD LOG --/.test(l) &&
      !/^\d+: (\(|R\d|frame)/.test(l) && // "12: (71) r0 = ..." instruction, "12: R1=..." state
      !/^frame\d+:/.test(l) && // register state of a subprogram frame
      ((l.match(/\bR\d+=/g) ?? []).length < 2) && // other register state dumps
      !/^;/.test(l) && // source line annotation
      !/^from \d+ to \d+:/.test(l),
  );
  return meaningful.slice(-max).join(' | ');
}
