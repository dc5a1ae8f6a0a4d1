/**
 * BPF maps: element access, per-CPU values, batch updates, pins.
 *
 * A {@link BpfMap} is either a map of an open {@link BpfObject} (before load it can still be
 * resized or told to reuse another map's fd; its fd is the object's) or a map opened from a
 * pin with {@link BpfMap.openPinned} (it owns its fd: `close()` it). Keys and values are
 * bytes in the map's own layout; marshalling belongs to src/layout/. Every call checks sizes
 * before the native call: per-CPU maps take and return one value per possible CPU, each
 * padded to 8 bytes as the kernel requires.
 */
import { LibbpfError } from './errors.js';
import { assertFd, check, closeFd, errnoOf, fdById, infoName, objInfo, openPinnedFd, pinFd } from './fd.js';
import { type Pointer, libbpf } from './native.js';
import { unlinkSync } from 'node:fs';

/** `enum bpf_map_type` values the runtime treats specially. */
export const MAP_TYPE = {
  hash: 1,
  array: 2,
  progArray: 3,
  percpuHash: 5,
  percpuArray: 6,
  lruHash: 9,
  lruPercpuHash: 10,
  lpmTrie: 11,
  arrayOfMaps: 12,
  hashOfMaps: 13,
} as const;

const PER_CPU_TYPES: ReadonlySet<number> = new Set([MAP_TYPE.percpuHash, MAP_TYPE.percpuArray, MAP_TYPE.lruPercpuHash, 21]);
const ARRAY_TYPES: ReadonlySet<number> = new Set([MAP_TYPE.array, MAP_TYPE.percpuArray, MAP_TYPE.progArray, MAP_TYPE.arrayOfMaps]);

/** How an update treats an existing key (`BPF_ANY`, `BPF_NOEXIST`, `BPF_EXIST`). */
export type UpdateMode = 'any' | 'noexist' | 'exist';
const UPDATE_FLAGS: Record<UpdateMode, number> = { any: 0, noexist: 1, exist: 2 };

/** What the kernel says about a map. */
export interface MapInfo {
  name: string;
  /** `enum bpf_map_type`. */
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags: number;
}

let possibleCpus: number | undefined;

/** The number of possible CPUs (`libbpf_num_possible_cpus`): the length of per-CPU values. */
export function numPossibleCpus(): number {
  if (possibleCpus === undefined) {
    const n = libbpf().libbpf_num_possible_cpus() as number;
    if (n <= 0) throw new LibbpfError('libbpf_num_possible_cpus', errnoOf(n));
    possibleCpus = n;
  }
  return possibleCpus;
}

type Handle =
  | { kind: 'object'; ptr: Pointer; alive: () => boolean; loaded: () => boolean }
  | { kind: 'fd'; fd: number; id: number };

/** A BPF map. See the module comment for the two kinds and their lifetimes. */
export class BpfMap {
  #handle: Handle;
  #info: MapInfo;

  private constructor(handle: Handle, info: MapInfo) {
    this.#handle = handle;
    this.#info = info;
  }

  /** @internal Wraps a libbpf `struct bpf_map *` of an open object. */
  static fromObject(ptr: Pointer, alive: () => boolean, loaded: () => boolean): BpfMap {
    const lib = libbpf();
    return new BpfMap(
      { kind: 'object', ptr, alive, loaded },
      {
        name: lib.bpf_map__name(ptr) as string,
        type: lib.bpf_map__type(ptr) as number,
        keySize: lib.bpf_map__key_size(ptr) as number,
        valueSize: lib.bpf_map__value_size(ptr) as number,
        maxEntries: lib.bpf_map__max_entries(ptr) as number,
        flags: lib.bpf_map__map_flags(ptr) as number,
      },
    );
  }

  /** Opens a pinned map (`bpf_obj_get`). The result owns an fd: call `close()`. */
  static openPinned(path: string): BpfMap {
    return BpfMap.fromFd(openPinnedFd(path));
  }

  /** Opens the map with kernel id `id` (`bpf_map_get_fd_by_id`). Call `close()`. */
  static openById(id: number): BpfMap {
    return BpfMap.fromFd(fdById('map', id));
  }

  /** Takes ownership of a map fd and reads its info from the kernel (closes it on failure). */
  static fromFd(fd: number): BpfMap {
    try {
      const raw = objInfo(fd, 88, 'map');
      const info: MapInfo = {
        type: raw.readUInt32LE(0),
        keySize: raw.readUInt32LE(8),
        valueSize: raw.readUInt32LE(12),
        maxEntries: raw.readUInt32LE(16),
        flags: raw.readUInt32LE(20),
        name: infoName(raw, 24),
      };
      return new BpfMap({ kind: 'fd', fd, id: raw.readUInt32LE(4) }, info);
    } catch (err) {
      closeFd(fd);
      throw err;
    }
  }

  get name(): string {
    return this.#info.name;
  }
  get type(): number {
    return this.#info.type;
  }
  get keySize(): number {
    return this.#info.keySize;
  }
  /** Size of one value as declared (per CPU for per-CPU maps, before padding). */
  get valueSize(): number {
    return this.#info.valueSize;
  }
  get maxEntries(): number {
    return this.#info.maxEntries;
  }
  get info(): MapInfo {
    return { ...this.#info };
  }
  /** True for per-CPU maps: values are read and written once per possible CPU. */
  get perCpu(): boolean {
    return PER_CPU_TYPES.has(this.#info.type);
  }
  /** True for array-like maps, whose elements cannot be deleted. */
  get isArray(): boolean {
    return ARRAY_TYPES.has(this.#info.type);
  }
  /** Bytes of one per-CPU slot: the value size rounded up to 8. */
  get perCpuStride(): number {
    return (this.#info.valueSize + 7) & ~7;
  }

  /** The map's file descriptor. Throws before load or after close. */
  get fd(): number {
    const h = this.#handle;
    if (h.kind === 'fd') {
      assertFd(h.fd, `map "${this.name}"`);
      return h.fd;
    }
    this.#assertAlive();
    const fd = libbpf().bpf_map__fd(h.ptr) as number;
    assertFd(fd, `map "${this.name}"`);
    return fd;
  }

  /** The kernel's id of this map (after load). */
  get id(): number {
    const h = this.#handle;
    return h.kind === 'fd' ? h.id : objInfo(this.fd, 8, `map "${this.name}"`).readUInt32LE(4);
  }

  // --- before load (object maps only) --------------------------------------------------------

  /** Sets `max_entries` before load (the classifier sizes maps to the ruleset). */
  setMaxEntries(n: number): void {
    const ptr = this.#unloadedPtr('setMaxEntries');
    if (!Number.isInteger(n) || n <= 0 || n > 0xffffffff) throw new RangeError(`invalid max_entries ${n} for map "${this.name}"`);
    check('bpf_map__set_max_entries', libbpf().bpf_map__set_max_entries(ptr, n) as number, `sizing map "${this.name}"`);
    this.#info.maxEntries = n;
  }

  /** Sets the value size before load (e.g. bitmap words sized to the rule count). */
  setValueSize(n: number): void {
    const ptr = this.#unloadedPtr('setValueSize');
    if (!Number.isInteger(n) || n <= 0) throw new RangeError(`invalid value size ${n} for map "${this.name}"`);
    check('bpf_map__set_value_size', libbpf().bpf_map__set_value_size(ptr, n) as number, `sizing map "${this.name}"`);
    this.#info.valueSize = n;
  }

  /**
   * Makes the object use an existing map instead of creating this one (`bpf_map__reuse_fd`),
   * e.g. counters pinned by a previous program so they survive its replacement. libbpf dups
   * the fd; `other` stays owned by the caller. Its layout must equal this map's.
   */
  reuse(other: BpfMap): void {
    const ptr = this.#unloadedPtr('reuse');
    const a = this.#info;
    const b = other.info;
    if (!this.sameLayout(other)) {
      throw new TypeError(
        `map "${this.name}" cannot reuse map "${b.name}": type/key/value/max_entries ${a.type}/${a.keySize}/${a.valueSize}/${a.maxEntries} differ from ${b.type}/${b.keySize}/${b.valueSize}/${b.maxEntries}`,
      );
    }
    check('bpf_map__reuse_fd', libbpf().bpf_map__reuse_fd(ptr, other.fd) as number, `reusing map "${b.name}" for "${this.name}"`);
  }

  /** True when `other` has this map's type, key size, value size and max_entries. */
  sameLayout(other: BpfMap): boolean {
    const a = this.#info;
    const b = other.info;
    return a.type === b.type && a.keySize === b.keySize && a.valueSize === b.valueSize && a.maxEntries === b.maxEntries;
  }

  // --- elements -----------------------------------------------------------------------------

  /** Looks up `key`; undefined when absent. For per-CPU maps use {@link lookupPerCpu}. */
  lookup(key: Uint8Array): Buffer | undefined {
    this.#assertNotPerCpu('lookup');
    return this.#lookupRaw(key, this.#info.valueSize);
  }

  /** Looks up `key` in a per-CPU map: one value per possible CPU (each `valueSize` bytes). */
  lookupPerCpu(key: Uint8Array): Buffer[] | undefined {
    this.#assertPerCpu('lookupPerCpu');
    const stride = this.perCpuStride;
    const raw = this.#lookupRaw(key, stride * numPossibleCpus());
    if (!raw) return undefined;
    const out: Buffer[] = [];
    for (let cpu = 0; cpu < numPossibleCpus(); cpu++) out.push(raw.subarray(cpu * stride, cpu * stride + this.#info.valueSize));
    return out;
  }

  /** Writes `value` at `key`. For per-CPU maps use {@link updatePerCpu}. */
  update(key: Uint8Array, value: Uint8Array, mode: UpdateMode = 'any'): void {
    this.#assertNotPerCpu('update');
    this.#checkSize('value', value, this.#info.valueSize);
    this.#updateRaw(key, value, mode);
  }

  /**
   * Writes a per-CPU value: `values` has one entry per possible CPU, or is a single value
   * written to every CPU (e.g. zeros to reset counters).
   */
  updatePerCpu(key: Uint8Array, values: Uint8Array | readonly Uint8Array[], mode: UpdateMode = 'any'): void {
    this.#assertPerCpu('updatePerCpu');
    this.#updateRaw(key, this.#packPerCpu(values), mode);
  }

  /** Deletes `key`; false when it was absent. Array maps cannot delete (TypeError). */
  delete(key: Uint8Array): boolean {
    if (this.isArray) throw new TypeError(`map "${this.name}" is an array: elements cannot be deleted`);
    this.#checkSize('key', key, this.#info.keySize);
    const h = this.#handle;
    const ret = (h.kind === 'object'
      ? libbpf().bpf_map__delete_elem(this.#loadedPtr(), key, key.length, 0)
      : libbpf().bpf_map_delete_elem(this.fd, key)) as number;
    if (ret === 0) return true;
    if (errnoOf(ret) === 2) return false;
    throw new LibbpfError('bpf_map_delete_elem', errnoOf(ret), `deleting from map "${this.name}"`);
  }

  /** Iterates the keys (`bpf_map_get_next_key`). Concurrent deletions may skip keys. */
  *keys(): Generator<Buffer> {
    const size = this.#info.keySize;
    let prev: Buffer | null = null;
    for (;;) {
      const next = Buffer.alloc(size);
      const ret = libbpf().bpf_map_get_next_key(this.fd, prev, next) as number;
      if (ret < 0) {
        if (errnoOf(ret) === 2) return;
        throw new LibbpfError('bpf_map_get_next_key', errnoOf(ret), `iterating map "${this.name}"`);
      }
      yield next;
      prev = next;
    }
  }

  /**
   * Writes many entries in one syscall (`bpf_map_update_batch`); falls back to one update per
   * entry where the kernel has no batch support for this map type. `values` are per-CPU
   * arrays (or single values for all CPUs) when the map is per-CPU.
   */
  updateBatch(keys: readonly Uint8Array[], values: readonly (Uint8Array | readonly Uint8Array[])[]): void {
    if (keys.length !== values.length) throw new RangeError(`updateBatch: ${keys.length} keys but ${values.length} values`);
    if (keys.length === 0) return;
    const ks = this.#info.keySize;
    const packed = values.map((v) => (this.perCpu ? this.#packPerCpu(v) : this.#checkSize('value', v as Uint8Array, this.#info.valueSize)));
    const vs = packed[0]!.length;
    const keyBuf = Buffer.alloc(ks * keys.length);
    const valBuf = Buffer.alloc(vs * keys.length);
    keys.forEach((k, i) => keyBuf.set(this.#checkSize('key', k, ks), i * ks));
    packed.forEach((v, i) => valBuf.set(v, i * vs));
    const count = [keys.length];
    const ret = libbpf().bpf_map_update_batch(this.fd, keyBuf, valBuf, count, { sz: 24, elem_flags: 0, flags: 0 }) as number;
    if (ret === 0) return;
    const errno = errnoOf(ret);
    if (errno !== 22 && errno !== 95 && errno !== 524) {
      throw new LibbpfError('bpf_map_update_batch', errno, `filling map "${this.name}"`);
    }
    keys.forEach((k, i) => this.#updateRaw(k, packed[i]!, 'any'));
  }

  // --- pins and lifetime --------------------------------------------------------------------

  /** Pins the map at `path` on bpffs (the directory must exist). */
  pin(path: string): void {
    pinFd(this.fd, path, `map "${this.name}"`);
  }

  /** Removes a pin (the map lives on while anything else holds it). */
  static unpin(path: string): void {
    unlinkSync(path);
  }

  /** Closes the fd of a map opened from a pin or id; a no-op for object maps. Idempotent. */
  close(): void {
    const h = this.#handle;
    if (h.kind === 'fd' && h.fd >= 0) {
      closeFd(h.fd);
      h.fd = -1;
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }

  // --- private ------------------------------------------------------------------------------

  #assertAlive(): void {
    const h = this.#handle;
    if (h.kind === 'object' && !h.alive()) throw new TypeError(`map "${this.name}" belongs to a closed BPF object`);
  }

  #unloadedPtr(op: string): Pointer {
    const h = this.#handle;
    if (h.kind !== 'object') throw new TypeError(`${op}: map "${this.name}" is not part of an unloaded BPF object`);
    this.#assertAlive();
    if (h.loaded()) throw new TypeError(`${op}: map "${this.name}" is already loaded`);
    return h.ptr;
  }

  #loadedPtr(): Pointer {
    const h = this.#handle;
    if (h.kind !== 'object') throw new TypeError('internal: not an object map');
    this.#assertAlive();
    if (!h.loaded()) throw new TypeError(`map "${this.name}" is not loaded yet`);
    return h.ptr;
  }

  #checkSize(what: string, bytes: Uint8Array, expected: number): Uint8Array {
    if (!(bytes instanceof Uint8Array)) throw new TypeError(`map "${this.name}": ${what} must be bytes`);
    if (bytes.length !== expected) throw new RangeError(`map "${this.name}": ${what} is ${bytes.length} bytes, expected ${expected}`);
    return bytes;
  }

  #assertPerCpu(op: string): void {
    if (!this.perCpu) throw new TypeError(`${op}: map "${this.name}" is not per-CPU`);
  }

  #assertNotPerCpu(op: string): void {
    if (this.perCpu) throw new TypeError(`${op}: map "${this.name}" is per-CPU; use ${op}PerCpu`);
  }

  #packPerCpu(values: Uint8Array | readonly Uint8Array[]): Buffer {
    const n = numPossibleCpus();
    const stride = this.perCpuStride;
    const list = values instanceof Uint8Array ? Array.from({ length: n }, () => values) : values;
    if (list.length !== n) throw new RangeError(`map "${this.name}": ${list.length} per-CPU values, expected ${n}`);
    const out = Buffer.alloc(stride * n);
    list.forEach((v, cpu) => out.set(this.#checkSize('value', v, this.#info.valueSize), cpu * stride));
    return out;
  }

  #lookupRaw(key: Uint8Array, valueBytes: number): Buffer | undefined {
    this.#checkSize('key', key, this.#info.keySize);
    const value = Buffer.alloc(valueBytes);
    const h = this.#handle;
    const ret = (h.kind === 'object'
      ? libbpf().bpf_map__lookup_elem(this.#loadedPtr(), key, key.length, value, value.length, 0)
      : libbpf().bpf_map_lookup_elem_flags(this.fd, key, value, 0)) as number;
    if (ret === 0) return value;
    if (errnoOf(ret) === 2) return undefined;
    throw new LibbpfError('bpf_map_lookup_elem', errnoOf(ret), `reading map "${this.name}"`);
  }

  #updateRaw(key: Uint8Array, value: Uint8Array, mode: UpdateMode): void {
    this.#checkSize('key', key, this.#info.keySize);
    const h = this.#handle;
    const ret = (h.kind === 'object'
      ? libbpf().bpf_map__update_elem(this.#loadedPtr(), key, key.length, value, value.length, UPDATE_FLAGS[mode])
      : libbpf().bpf_map_update_elem(this.fd, key, value, UPDATE_FLAGS[mode])) as number;
    check('bpf_map_update_elem', ret, `writing map "${this.name}"`);
  }
}

/** A little-endian u32 key or value (the usual array-map key). */
export function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
}

/** Sums a little-endian u64 at `offset` over per-CPU values (counters). */
export function sumPerCpuU64(values: readonly Uint8Array[], offset = 0): bigint {
  let sum = 0n;
  for (const v of values) sum += Buffer.from(v.buffer, v.byteOffset, v.byteLength).readBigUInt64LE(offset);
  return sum;
}
