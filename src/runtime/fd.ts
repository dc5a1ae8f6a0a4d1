/**
 * Kernel object file descriptors and `bpf_obj_get_info_by_fd`: the few operations shared by
 * maps and programs that come from pins or ids rather than from a libbpf object.
 */
import { LibbpfError } from './errors.js';
import { lastErrno, libbpf, libc } from './native.js';

/** A positive errno from a libbpf return value (`-errno`), falling back to `errno`. */
export function errnoOf(ret: number): number {
  return ret < 0 ? -ret : lastErrno() || 1;
}

/** Throws {@link LibbpfError} when a libbpf call returned a negative value. */
export function check(call: string, ret: number, what?: string): number {
  if (ret < 0) throw new LibbpfError(call, errnoOf(ret), what);
  return ret;
}

/** Closes a file descriptor we own (no-op for negative values). */
export function closeFd(fd: number): void {
  if (Number.isInteger(fd) && fd >= 0) libc().close(fd);
}

/** Opens a pinned BPF object (`bpf_obj_get`). Returns its fd, which the caller must close. */
export function openPinnedFd(path: string): number {
  if (typeof path !== 'string' || path.length === 0) throw new TypeError('a pin path is required');
  const fd = libbpf().bpf_obj_get(path) as number;
  if (fd < 0) throw new LibbpfError('bpf_obj_get', errnoOf(fd), `opening pinned object ${path}`);
  return fd;
}

/** Opens a map or program by kernel id (`bpf_map_get_fd_by_id` / `bpf_prog_get_fd_by_id`). */
export function fdById(kind: 'map' | 'prog', id: number): number {
  if (!Number.isInteger(id) || id <= 0 || id > 0xffffffff) throw new TypeError(`invalid ${kind} id ${id}`);
  const call = kind === 'map' ? 'bpf_map_get_fd_by_id' : 'bpf_prog_get_fd_by_id';
  const fd = libbpf()[call](id) as number;
  if (fd < 0) throw new LibbpfError(call, errnoOf(fd), `opening ${kind} id ${id}`);
  return fd;
}

/** Pins the object behind `fd` at `path` (`bpf_obj_pin`); the directory must exist on bpffs. */
export function pinFd(fd: number, path: string, what: string): void {
  assertFd(fd, what);
  check('bpf_obj_pin', libbpf().bpf_obj_pin(fd, path) as number, `pinning ${what} at ${path}`);
}

/** Throws a TypeError unless `fd` is a plausible open descriptor. */
export function assertFd(fd: number, what: string): void {
  if (!Number.isInteger(fd) || fd < 0) throw new TypeError(`${what} has no file descriptor (not loaded, or closed)`);
}

/**
 * Reads `bpf_obj_get_info_by_fd` into a buffer of `size` bytes (the leading part of
 * `struct bpf_map_info` / `struct bpf_prog_info`; the kernel fills what fits).
 */
export function objInfo(fd: number, size: number, what: string): Buffer {
  assertFd(fd, what);
  const info = Buffer.alloc(size);
  const len = [size];
  check('bpf_obj_get_info_by_fd', libbpf().bpf_obj_get_info_by_fd(fd, info, len) as number, `reading info of ${what}`);
  return info;
}

/** A NUL-terminated name field of an info struct. */
export function infoName(info: Buffer, offset: number, size = 16): string {
  const raw = info.subarray(offset, offset + size);
  const end = raw.indexOf(0);
  return raw.toString('utf8', 0, end < 0 ? size : end);
}
