/**
 * The BPF filesystem and where rejectc pins things.
 *
 * Pins live under `/sys/fs/bpf/rejectc/<ifname>/` for interfaces of the initial network
 * namespace, and under `/sys/fs/bpf/rejectc/netns:<name>/<ifname>/` for interfaces of another
 * one (interface names are only unique per namespace; `:` cannot occur in an interface name).
 *
 * `/sys/fs/bpf` is not always mounted. And `ip netns exec` runs its command in a private mount
 * namespace with a fresh sysfs, where a new bpffs mount would be a new, empty and private
 * instance — pins made there would vanish with the command. So inside such a namespace
 * rejectc reaches the bpffs of the mount namespace it was started from through
 * `/proc/<pid>/root` (see {@link ensureBpffs}), and every invocation sees the same pins.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { EnvironmentError } from '../errors.js';
import { errnoName } from './errors.js';
import { lastErrno, libc } from './native.js';
import { checkIfname, netnsScope } from './netns.js';

export const BPFFS = '/sys/fs/bpf';
/** rejectc's directory on bpffs. */
export const PIN_ROOT = `${BPFFS}/rejectc`;
const BPF_FS_MAGIC_TYPE = 'bpf';

/** True when `mountPoint` is a bpffs mount in the mount table `mountinfo` (/proc/X/mountinfo). */
function isBpffsMount(mountinfo: string, mountPoint: string): boolean {
  for (const line of mountinfo.split('\n')) {
    // "36 25 0:32 / /sys/fs/bpf rw,nosuid shared:17 - bpf bpf rw,mode=700"
    const fields = line.split(' ');
    const dash = fields.indexOf('-');
    if (dash > 4 && fields[4] === mountPoint && fields[dash + 1] === BPF_FS_MAGIC_TYPE) return true;
  }
  return false;
}

function mountBpffs(): void {
  if ((libc().mount('bpf', BPFFS, 'bpf', 0, null) as number) !== 0) {
    throw new EnvironmentError(`cannot mount the BPF filesystem on ${BPFFS}: ${errnoName(lastErrno())}`, `mount it yourself: mount -t bpf bpf ${BPFFS}`);
  }
}

function parentOf(pid: number): number | undefined {
  try {
    // "pid (comm) state ppid ...": comm may contain spaces and parentheses.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    return Number.isInteger(ppid) && ppid > 0 ? ppid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The nearest ancestor process in another mount namespace that we can inspect (for
 * `ip netns exec`, the process that ran it), or undefined when there is none.
 */
function outerMountNamespaceProcess(): number | undefined {
  const own = statSync('/proc/self/ns/mnt').ino;
  for (let pid = parentOf(process.pid); pid !== undefined && pid > 1; pid = parentOf(pid)) {
    try {
      if (statSync(`/proc/${pid}/ns/mnt`).ino !== own) return pid;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

let resolvedRoot: string | undefined;

/**
 * Makes sure the host's bpffs is reachable and returns the path to reach `/sys/fs/bpf`
 * through: `/sys/fs/bpf` itself (mounted there first if needed), or, inside a private mount
 * namespace such as `ip netns exec` makes, `/proc/<pid>/root/sys/fs/bpf` of the process we
 * were started from (whose namespace gets a bpffs mount first if it has none). The kernel
 * refuses bind mounts across mount namespaces, but pin paths may go through /proc/<pid>/root.
 * Throws {@link EnvironmentError} when no bpffs can be mounted.
 */
export function ensureBpffs(): string {
  if (resolvedRoot !== undefined) return resolvedRoot;
  if (isBpffsMount(readFileSync('/proc/self/mountinfo', 'utf8'), BPFFS)) return (resolvedRoot = BPFFS);
  const outer = outerMountNamespaceProcess();
  if (outer === undefined) {
    mountBpffs();
    return (resolvedRoot = BPFFS);
  }
  if (!isBpffsMount(readFileSync(`/proc/${outer}/mountinfo`, 'utf8'), BPFFS)) {
    const res = spawnSync('nsenter', [`--mount=/proc/${outer}/ns/mnt`, 'mount', '-t', 'bpf', 'bpf', BPFFS], { encoding: 'utf8' });
    if (res.status !== 0) {
      throw new EnvironmentError(`cannot mount the BPF filesystem on ${BPFFS}: ${(res.stderr || res.error?.message || '').trim()}`, `mount it on the host: mount -t bpf bpf ${BPFFS}`);
    }
  }
  return (resolvedRoot = `/proc/${outer}/root${BPFFS}`);
}

/** The path through which a `/sys/fs/bpf/...` path is reached from this process (see {@link ensureBpffs}). */
export function physicalPinPath(logical: string): string {
  if (!logical.startsWith(`${BPFFS}/`) && logical !== BPFFS) throw new RangeError(`${logical} is not under ${BPFFS}`);
  return ensureBpffs() + logical.slice(BPFFS.length);
}

/**
 * The pin directory of interface `ifname` in the calling thread's network namespace
 * (not created; see {@link ensurePinDir}). bpffs refuses names with a dot (bpf_lookup keeps
 * them for its own files), which interface names may have (`eth0.10`): a dot is written as a
 * colon, which an interface name cannot contain, so names stay apart.
 */
export function pinDirOf(ifname: string): string {
  checkIfname(ifname);
  const scope = netnsScope();
  const name = ifname.replaceAll('.', ':');
  return scope ? `${PIN_ROOT}/${scope}/${name}` : `${PIN_ROOT}/${name}`;
}

/**
 * Mounts bpffs if needed and creates the pin directory of `ifname`. Returns the path to use
 * for pin operations (see {@link physicalPinPath}); {@link pinDirOf} gives the one to show.
 */
export function ensurePinDir(ifname: string): string {
  const dir = physicalPinPath(pinDirOf(ifname));
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return dir;
}
