/**
 * TC attach and detach through libbpf's netlink cls_bpf API (libbpf 1.1 has no tcx).
 *
 * A filter is identified by interface, direction, handle and priority; rejectc always passes
 * all four explicitly, so it only ever touches its own filter. `bpf_tc_attach` with
 * {@link TcAttachOptions.replace} swaps the program of an existing filter in one netlink
 * request (cls_bpf replaces it under RCU: each packet sees the old or the new program).
 *
 * The clsact qdisc is shared with other tools. `bpf_tc_hook_create` tolerates an existing
 * one; `bpf_tc_hook_destroy` deletes the whole qdisc including OTHER tools' filters, so
 * {@link removeClsactIfUnused} only does it for a qdisc we created and that has no filters
 * left. All calls act in the calling thread's network namespace.
 */
import { spawnSync } from 'node:child_process';
import { LibbpfError, NotSupportedError } from './errors.js';
import { errnoOf } from './fd.js';
import { libbpf } from './native.js';
import { PROG_TYPE, type BpfProgram } from './program.js';

export type TcDirection = 'ingress' | 'egress';

const ATTACH_POINT: Record<TcDirection, number> = { ingress: 1, egress: 2 };
const BPF_TC_F_REPLACE = 1;
const EEXIST = 17;
const ENOENT = 2;

/** Identifies one tc filter. */
export interface TcFilterId {
  ifindex: number;
  direction: TcDirection;
  /** Filter handle, 1..0xffffffff. */
  handle: number;
  /** Filter priority (preference), 1..0xffff. */
  priority: number;
}

/** Options of {@link attachTc}. */
export interface TcAttachOptions extends TcFilterId {
  /**
   * Replace the program of the existing filter with this handle and priority (atomic swap).
   * Without it, attaching where a filter already exists fails with EEXIST.
   */
  replace?: boolean;
}

/** What {@link attachTc} did. */
export interface TcAttachment extends TcFilterId {
  /** Kernel id of the attached program. */
  progId: number;
  /** True when this call created the clsact qdisc (nobody had one on the interface). */
  createdQdisc: boolean;
}

function checkId(id: TcFilterId, op: string): void {
  if (!Number.isInteger(id.ifindex) || id.ifindex <= 0) throw new RangeError(`${op}: invalid ifindex ${id.ifindex}`);
  if (!(id.direction in ATTACH_POINT)) throw new RangeError(`${op}: direction must be ingress or egress, got ${String(id.direction)}`);
  if (!Number.isInteger(id.handle) || id.handle <= 0 || id.handle > 0xffffffff) throw new RangeError(`${op}: invalid handle ${id.handle}`);
  if (!Number.isInteger(id.priority) || id.priority <= 0 || id.priority > 0xffff) throw new RangeError(`${op}: invalid priority ${id.priority}`);
}

function hook(ifindex: number, direction: TcDirection | 'both') {
  return { sz: 24, ifindex, attach_point: direction === 'both' ? 3 : ATTACH_POINT[direction], parent: 0 };
}

function describe(id: TcFilterId): string {
  return `tc filter ${id.direction} handle 0x${id.handle.toString(16)} prio ${id.priority} on ifindex ${id.ifindex}`;
}

/**
 * Creates the clsact qdisc on `ifindex` if there is none. Returns true when this call created
 * it, false when one existed already.
 */
export function ensureClsact(ifindex: number): boolean {
  if (!Number.isInteger(ifindex) || ifindex <= 0) throw new RangeError(`ensureClsact: invalid ifindex ${ifindex}`);
  const ret = libbpf().bpf_tc_hook_create(hook(ifindex, 'ingress')) as number;
  if (ret === 0) return true;
  if (errnoOf(ret) === EEXIST) return false;
  throw new LibbpfError('bpf_tc_hook_create', errnoOf(ret), `creating the clsact qdisc on ifindex ${ifindex}`);
}

/**
 * Attaches a loaded TC program (`BPF_PROG_TYPE_SCHED_CLS`) as a direct-action cls_bpf filter,
 * creating the clsact qdisc when needed. Arguments are checked before any native call.
 */
export function attachTc(program: BpfProgram, options: TcAttachOptions): TcAttachment {
  checkId(options, 'attachTc');
  if (program.type !== PROG_TYPE.schedCls) throw new TypeError(`attachTc: program "${program.name}" is not a TC program (type ${program.type})`);
  const fd = program.fd;
  const createdQdisc = ensureClsact(options.ifindex);
  const opts = { sz: 32, prog_fd: fd, flags: options.replace ? BPF_TC_F_REPLACE : 0, prog_id: 0, handle: options.handle, priority: options.priority };
  const ret = libbpf().bpf_tc_attach(hook(options.ifindex, options.direction), opts) as number;
  if (ret < 0) {
    throw new LibbpfError('bpf_tc_attach', errnoOf(ret), `attaching program "${program.name}" as ${describe(options)}`);
  }
  return {
    ifindex: options.ifindex,
    direction: options.direction,
    handle: opts.handle,
    priority: opts.priority,
    progId: opts.prog_id,
    createdQdisc,
  };
}

/** The id of the program in filter `id`, or undefined when there is no such filter. */
export function queryTc(id: TcFilterId): number | undefined {
  checkId(id, 'queryTc');
  const opts = { sz: 32, prog_fd: 0, flags: 0, prog_id: 0, handle: id.handle, priority: id.priority };
  const ret = libbpf().bpf_tc_query(hook(id.ifindex, id.direction), opts) as number;
  if (ret === 0) return opts.prog_id;
  const errno = errnoOf(ret);
  if (errno === ENOENT || errno === 22) return undefined; // EINVAL: no clsact qdisc at all
  throw new LibbpfError('bpf_tc_query', errno, `querying ${describe(id)}`);
}

/** Removes filter `id` only. Returns false when it did not exist. */
export function detachTc(id: TcFilterId): boolean {
  checkId(id, 'detachTc');
  if (queryTc(id) === undefined) return false;
  const opts = { sz: 32, prog_fd: 0, flags: 0, prog_id: 0, handle: id.handle, priority: id.priority };
  const ret = libbpf().bpf_tc_detach(hook(id.ifindex, id.direction), opts) as number;
  if (ret === 0) return true;
  if (errnoOf(ret) === ENOENT) return false;
  throw new LibbpfError('bpf_tc_detach', errnoOf(ret), `detaching ${describe(id)}`);
}

/** A tc filter as `tc -j filter show` reports it. */
export interface TcFilterInfo {
  direction: TcDirection;
  kind: string;
  priority: number;
  handle?: number;
  /** For bpf filters: the program name and id. */
  progName?: string;
  progId?: number;
}

/**
 * Lists all filters of the clsact qdisc on `ifname` (every owner's), using iproute2's `tc`
 * because libbpf can only query a filter whose handle and priority are known.
 * Runs in the calling thread's network namespace.
 */
export function listTcFilters(ifname: string): TcFilterInfo[] {
  const out: TcFilterInfo[] = [];
  for (const direction of ['ingress', 'egress'] as const) {
    const res = spawnSync('tc', ['-j', 'filter', 'show', 'dev', ifname, direction], { encoding: 'utf8' });
    if (res.error) throw new NotSupportedError(`cannot run tc: ${res.error.message}`, 'install iproute2');
    if (res.status !== 0) {
      // No clsact qdisc: nothing attached in this direction.
      if (/Cannot find|No such|Invalid/.test(res.stderr)) continue;
      throw new NotSupportedError(`tc filter show dev ${ifname} ${direction} failed: ${res.stderr.trim()}`);
    }
    const rows = res.stdout.trim() ? (JSON.parse(res.stdout) as Record<string, unknown>[]) : [];
    for (const row of rows) {
      // iproute2 prints one row per priority (without "options") plus one per filter.
      const options = row['options'] as Record<string, unknown> | undefined;
      if (!options) continue;
      const handle = typeof options['handle'] === 'string' ? Number.parseInt(options['handle'] as string, 16) : undefined;
      const prog = options['prog'] as Record<string, unknown> | undefined;
      out.push({
        direction,
        kind: String(row['kind']),
        priority: Number(row['pref']),
        ...(handle !== undefined ? { handle } : {}),
        ...(prog && typeof prog['name'] === 'string' ? { progName: prog['name'] as string } : {}),
        ...(prog && typeof prog['id'] === 'number' ? { progId: prog['id'] as number } : {}),
      });
    }
  }
  return out;
}

/**
 * Deletes the clsact qdisc of `ifname` if `weCreatedIt` and no filter of anyone is left on
 * it. Returns true when it was deleted. Never deletes a qdisc that still carries a filter.
 */
export function removeClsactIfUnused(ifindex: number, ifname: string, weCreatedIt: boolean): boolean {
  if (!weCreatedIt) return false;
  if (listTcFilters(ifname).length > 0) return false;
  const ret = libbpf().bpf_tc_hook_destroy(hook(ifindex, 'both')) as number;
  if (ret === 0) return true;
  const errno = errnoOf(ret);
  if (errno === ENOENT || errno === 22) return false;
  throw new LibbpfError('bpf_tc_hook_destroy', errno, `removing the clsact qdisc of ${ifname}`);
}
