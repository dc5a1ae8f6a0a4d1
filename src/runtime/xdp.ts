/**
 * XDP attach, atomic replace and detach (`bpf_xdp_attach`/`bpf_xdp_detach`/`bpf_xdp_query`).
 *
 * An interface carries at most one XDP program per mode. rejectc never clobbers a program it
 * did not expect: a first attach uses `XDP_FLAGS_UPDATE_IF_NOEXIST`; a replace or detach
 * names the program it expects to find (`XDP_FLAGS_REPLACE` with the old program's fd), so
 * the kernel swaps atomically or refuses with EEXIST if someone else changed it meanwhile.
 * Native XDP_TX on a veth needs an XDP program on the peer (bpf-notes.md); generic mode
 * needs nothing. All calls act in the calling thread's network namespace.
 */
import { spawnSync } from 'node:child_process';
import { LibbpfError } from './errors.js';
import { errnoOf } from './fd.js';
import { libbpf } from './native.js';
import { BpfProgram, PROG_TYPE } from './program.js';

/** `native` = driver mode (XDP_FLAGS_DRV_MODE), `generic` = skb mode (XDP_FLAGS_SKB_MODE). */
export type XdpMode = 'native' | 'generic';

const FLAGS = { updateIfNoexist: 1, skbMode: 2, drvMode: 4, replace: 16 } as const;
const MODE_FLAG: Record<XdpMode, number> = { native: FLAGS.drvMode, generic: FLAGS.skbMode };

/** Options of {@link attachXdp}. */
export interface XdpAttachOptions {
  ifindex: number;
  mode: XdpMode;
  /**
   * The id of the program expected on the interface now, to replace it atomically. Absent:
   * the interface must have no XDP program in this mode (EEXIST otherwise).
   */
  expectedProgId?: number;
}

/** What {@link attachXdp} did. */
export interface XdpAttachment {
  ifindex: number;
  mode: XdpMode;
  progId: number;
}

/** What is attached to an interface (`bpf_xdp_query`). Ids are 0 when none. */
export interface XdpState {
  /** The single attached program's id (0 when none, or when several modes are in use). */
  progId: number;
  nativeProgId: number;
  genericProgId: number;
  /** `none`, `native`, `generic`, `offload`, or `multi` (several modes at once). */
  mode: 'none' | 'native' | 'generic' | 'offload' | 'multi';
}

const ATTACH_MODES = ['none', 'native', 'generic', 'offload', 'multi'] as const;

function checkIfindex(ifindex: number, op: string): void {
  if (!Number.isInteger(ifindex) || ifindex <= 0) throw new RangeError(`${op}: invalid ifindex ${ifindex}`);
}

function checkMode(mode: XdpMode, op: string): void {
  if (!(mode in MODE_FLAG)) throw new RangeError(`${op}: mode must be native or generic, got ${String(mode)}`);
}

/** Reads which XDP programs are attached to `ifindex`. */
export function queryXdp(ifindex: number): XdpState {
  checkIfindex(ifindex, 'queryXdp');
  const opts = { sz: 32, prog_id: 0, drv_prog_id: 0, hw_prog_id: 0, skb_prog_id: 0, attach_mode: 0 };
  const ret = libbpf().bpf_xdp_query(ifindex, 0, opts) as number;
  if (ret < 0) throw new LibbpfError('bpf_xdp_query', errnoOf(ret), `querying XDP on ifindex ${ifindex}`);
  return {
    progId: opts.prog_id,
    nativeProgId: opts.drv_prog_id,
    genericProgId: opts.skb_prog_id,
    mode: ATTACH_MODES[opts.attach_mode] ?? 'multi',
  };
}

/** Runs `fn` with an fd of the program `id` (opened by id, closed afterwards). */
function withProgFd<T>(id: number, fn: (fd: number) => T): T {
  const prog = BpfProgram.openById(id);
  try {
    return fn(prog.fd);
  } finally {
    prog.close();
  }
}

/**
 * Attaches a loaded XDP program, or atomically replaces `expectedProgId` with it.
 * Arguments are checked before any native call.
 */
export function attachXdp(program: BpfProgram, options: XdpAttachOptions): XdpAttachment {
  checkIfindex(options.ifindex, 'attachXdp');
  checkMode(options.mode, 'attachXdp');
  if (program.type !== PROG_TYPE.xdp) throw new TypeError(`attachXdp: program "${program.name}" is not an XDP program (type ${program.type})`);
  const fd = program.fd;
  const what = `attaching XDP program "${program.name}" (${options.mode}) to ifindex ${options.ifindex}`;
  const attach = (oldFd: number | undefined) => {
    const flags = MODE_FLAG[options.mode] | (oldFd === undefined ? FLAGS.updateIfNoexist : FLAGS.replace);
    const ret = libbpf().bpf_xdp_attach(options.ifindex, fd, flags, { sz: 16, old_prog_fd: oldFd ?? 0 }) as number;
    if (ret >= 0) return;
    const errno = errnoOf(ret);
    // EBUSY (no program expected) / EEXIST (another one than expected): someone else's program.
    if (errno === 16 || errno === 17) {
      const current = queryXdp(options.ifindex).progId;
      throw new LibbpfError(
        'bpf_xdp_attach',
        errno,
        `${what}: another XDP program${current ? ` (id ${current})` : ''} is attached there, and rejectc replaces only its own`,
        'detach that program first (ip link set dev IF xdp off), or use --hook tc',
      );
    }
    throw new LibbpfError('bpf_xdp_attach', errno, what);
  };
  if (options.expectedProgId === undefined) attach(undefined);
  else {
    if (!Number.isInteger(options.expectedProgId) || options.expectedProgId <= 0) throw new RangeError(`attachXdp: invalid expectedProgId ${options.expectedProgId}`);
    withProgFd(options.expectedProgId, attach);
  }
  return { ifindex: options.ifindex, mode: options.mode, progId: program.id };
}

/**
 * Detaches the XDP program `progId` from `ifindex` in `mode`, only if it is still the one
 * attached. Returns false when it was not attached there (nothing is changed then).
 */
export function detachXdp(ifindex: number, mode: XdpMode, progId: number): boolean {
  checkIfindex(ifindex, 'detachXdp');
  checkMode(mode, 'detachXdp');
  const state = queryXdp(ifindex);
  if ((mode === 'native' ? state.nativeProgId : state.genericProgId) !== progId) return false;
  return withProgFd(progId, (oldFd) => {
    const ret = libbpf().bpf_xdp_detach(ifindex, MODE_FLAG[mode] | FLAGS.replace, { sz: 16, old_prog_fd: oldFd }) as number;
    if (ret === 0) return true;
    if (errnoOf(ret) === 17) return false; // EEXIST: another program replaced it meanwhile
    throw new LibbpfError('bpf_xdp_detach', errnoOf(ret), `detaching XDP program ${progId} from ifindex ${ifindex}`);
  });
}

/**
 * The XDP mode rejectc uses on `ifname` unless told otherwise: generic on veth (native
 * XDP_TX there needs an XDP program on the peer, or the reply is lost: bpf-notes.md), native
 * elsewhere. Reads the link kind with `ip -d -j link show`, in the caller's namespace.
 */
export function defaultXdpMode(ifname: string): XdpMode {
  const res = spawnSync('ip', ['-d', '-j', 'link', 'show', 'dev', ifname], { encoding: 'utf8' });
  if (res.status !== 0) return 'native';
  const [link] = JSON.parse(res.stdout) as Array<{ linkinfo?: { info_kind?: string } }>;
  return link?.linkinfo?.info_kind === 'veth' ? 'generic' : 'native';
}
