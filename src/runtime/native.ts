/**
 * The raw libbpf (Debian's `libbpf1`, 1.1) and libc prototypes, bound through koffi 3.
 *
 * This is the only file that names native symbols. Everything here is unchecked: koffi 3 passes
 * pointers as BigInt and does not check their types, so a wrong pointer crashes the process.
 * The classes in this directory (object.ts, map.ts, program.ts, tc.ts, xdp.ts) wrap every call
 * and check their arguments before it; nothing else should call these functions directly.
 *
 * Struct layouts are those of libbpf 1.1 and the UAPI headers on this machine
 * (../shared/spec/bpf-notes.md); test/runtime-layout.test.ts compares them with the C
 * compiler's `offsetof` so a header change cannot go unnoticed.
 *
 * koffi keeps one type registry per process and names anonymous types by a counter, which
 * collides when this module is evaluated twice in one process (vitest isolation); so every
 * type gets an explicit name with a per-evaluation suffix.
 */
import koffi, { type LibraryHandle, type TypeObject } from 'koffi';
import { EnvironmentError } from '../errors.js';

/** A native pointer as koffi 3 returns it: a BigInt, or null for NULL. */
export type Pointer = bigint;

/** libbpf's print levels (`enum libbpf_print_level`). */
export const PRINT_LEVEL = { warn: 0, info: 1, debug: 2 } as const;

const size_t = 'size_t';
const u32 = 'uint32_t';

const generation = ((globalThis as { __rejectcKoffiGeneration?: number }).__rejectcKoffiGeneration ?? 0) + 1;
(globalThis as { __rejectcKoffiGeneration?: number }).__rejectcKoffiGeneration = generation;
/** A process-unique koffi type name for `name`. */
const typeName = (name: string) => `rejectc_${name}_${generation}`;

/** `struct bpf_test_run_opts` (80 bytes). */
export const TestRunOpts = koffi.struct(typeName('TestRunOpts'), {
  sz: size_t,
  data_in: 'void *',
  data_out: 'void *',
  data_size_in: u32,
  data_size_out: u32,
  ctx_in: 'void *',
  ctx_out: 'void *',
  ctx_size_in: u32,
  ctx_size_out: u32,
  retval: u32,
  repeat: 'int',
  duration: u32,
  flags: u32,
  cpu: u32,
  batch_size: u32,
});

/** `struct bpf_tc_hook` (24 bytes). */
export const TcHook = koffi.struct(typeName('TcHook'), { sz: size_t, ifindex: 'int', attach_point: u32, parent: u32 });

/** `struct bpf_tc_opts` (32 bytes). */
export const TcOpts = koffi.struct(typeName('TcOpts'), {
  sz: size_t,
  prog_fd: 'int',
  flags: u32,
  prog_id: u32,
  handle: u32,
  priority: u32,
});

/** `struct bpf_xdp_attach_opts` (16 bytes). */
export const XdpAttachOpts = koffi.struct(typeName('XdpAttachOpts'), { sz: size_t, old_prog_fd: 'int' });

/** `struct bpf_xdp_query_opts` (32 bytes). */
export const XdpQueryOpts = koffi.struct(typeName('XdpQueryOpts'), {
  sz: size_t,
  prog_id: u32,
  drv_prog_id: u32,
  hw_prog_id: u32,
  skb_prog_id: u32,
  attach_mode: 'uint8_t',
});

/** `struct bpf_map_batch_opts` (24 bytes). */
export const MapBatchOpts = koffi.struct(typeName('MapBatchOpts'), { sz: size_t, elem_flags: 'uint64_t', flags: 'uint64_t' });

/**
 * `struct bpf_object_open_opts` (80 bytes). `kernel_log_*` are left zero: the verifier log is
 * taken from libbpf's print callback, which libbpf feeds with the whole log on failure.
 */
export const ObjectOpenOpts = koffi.struct(typeName('ObjectOpenOpts'), {
  sz: size_t,
  object_name: 'const char *',
  relaxed_maps: 'bool',
  pin_root_path: 'const char *',
  _removed_attach_prog_fd: u32,
  kconfig: 'const char *',
  btf_custom_path: 'const char *',
  kernel_log_buf: 'void *',
  kernel_log_size: size_t,
  kernel_log_level: u32,
});

/** `libbpf_print_fn_t`: `int (*)(enum libbpf_print_level, const char *fmt, va_list ap)`. */
export const PrintFn = koffi.proto(typeName('PrintFn'), 'int', ['int', 'const char *', 'void *']);

const inout = (t: TypeObject) => koffi.inout(koffi.pointer(t));

/** One koffi type spec: a type name, a type object or a direction marker. */
type Spec = string | TypeObject | ReturnType<typeof koffi.inout>;

function bind(lib: LibraryHandle) {
  const f = (name: string, result: string, args: Spec[]) => lib.func(name, result, args as never);
  return {
    libbpf_set_print: f('libbpf_set_print', 'void *', [koffi.pointer(PrintFn)]),
    libbpf_num_possible_cpus: f('libbpf_num_possible_cpus', 'int', []),

    bpf_object__open_file: f('bpf_object__open_file', 'void *', ['const char *', koffi.pointer(ObjectOpenOpts)]),
    bpf_object__load: f('bpf_object__load', 'int', ['void *']),
    bpf_object__close: f('bpf_object__close', 'void', ['void *']),
    bpf_object__next_map: f('bpf_object__next_map', 'void *', ['void *', 'void *']),
    bpf_object__next_program: f('bpf_object__next_program', 'void *', ['void *', 'void *']),

    bpf_map__name: f('bpf_map__name', 'const char *', ['void *']),
    bpf_map__fd: f('bpf_map__fd', 'int', ['void *']),
    bpf_map__type: f('bpf_map__type', 'int', ['void *']),
    bpf_map__key_size: f('bpf_map__key_size', u32, ['void *']),
    bpf_map__value_size: f('bpf_map__value_size', u32, ['void *']),
    bpf_map__max_entries: f('bpf_map__max_entries', u32, ['void *']),
    bpf_map__map_flags: f('bpf_map__map_flags', u32, ['void *']),
    bpf_map__set_max_entries: f('bpf_map__set_max_entries', 'int', ['void *', u32]),
    bpf_map__set_value_size: f('bpf_map__set_value_size', 'int', ['void *', u32]),
    bpf_map__reuse_fd: f('bpf_map__reuse_fd', 'int', ['void *', 'int']),
    bpf_map__set_pin_path: f('bpf_map__set_pin_path', 'int', ['void *', 'const char *']),
    bpf_map__lookup_elem: f('bpf_map__lookup_elem', 'int', ['void *', 'void *', size_t, 'void *', size_t, 'uint64_t']),
    bpf_map__update_elem: f('bpf_map__update_elem', 'int', ['void *', 'void *', size_t, 'void *', size_t, 'uint64_t']),
    bpf_map__delete_elem: f('bpf_map__delete_elem', 'int', ['void *', 'void *', size_t, 'uint64_t']),

    bpf_program__name: f('bpf_program__name', 'const char *', ['void *']),
    bpf_program__section_name: f('bpf_program__section_name', 'const char *', ['void *']),
    bpf_program__fd: f('bpf_program__fd', 'int', ['void *']),
    bpf_program__type: f('bpf_program__type', 'int', ['void *']),
    bpf_program__set_type: f('bpf_program__set_type', 'int', ['void *', 'int']),
    bpf_program__autoload: f('bpf_program__autoload', 'bool', ['void *']),
    bpf_program__set_autoload: f('bpf_program__set_autoload', 'int', ['void *', 'bool']),

    bpf_map_lookup_elem_flags: f('bpf_map_lookup_elem_flags', 'int', ['int', 'void *', 'void *', 'uint64_t']),
    bpf_map_update_elem: f('bpf_map_update_elem', 'int', ['int', 'void *', 'void *', 'uint64_t']),
    bpf_map_delete_elem: f('bpf_map_delete_elem', 'int', ['int', 'void *']),
    bpf_map_get_next_key: f('bpf_map_get_next_key', 'int', ['int', 'void *', 'void *']),
    bpf_map_update_batch: f('bpf_map_update_batch', 'int', ['int', 'void *', 'void *', koffi.inout(koffi.pointer(u32)), koffi.pointer(MapBatchOpts)]),
    bpf_obj_pin: f('bpf_obj_pin', 'int', ['int', 'const char *']),
    bpf_obj_get: f('bpf_obj_get', 'int', ['const char *']),
    bpf_obj_get_info_by_fd: f('bpf_obj_get_info_by_fd', 'int', ['int', 'void *', koffi.inout(koffi.pointer(u32))]),
    bpf_prog_get_fd_by_id: f('bpf_prog_get_fd_by_id', 'int', [u32]),
    bpf_map_get_fd_by_id: f('bpf_map_get_fd_by_id', 'int', [u32]),
    bpf_prog_test_run_opts: f('bpf_prog_test_run_opts', 'int', ['int', inout(TestRunOpts)]),

    bpf_tc_hook_create: f('bpf_tc_hook_create', 'int', [koffi.pointer(TcHook)]),
    bpf_tc_hook_destroy: f('bpf_tc_hook_destroy', 'int', [koffi.pointer(TcHook)]),
    bpf_tc_attach: f('bpf_tc_attach', 'int', [koffi.pointer(TcHook), inout(TcOpts)]),
    bpf_tc_detach: f('bpf_tc_detach', 'int', [koffi.pointer(TcHook), koffi.pointer(TcOpts)]),
    bpf_tc_query: f('bpf_tc_query', 'int', [koffi.pointer(TcHook), inout(TcOpts)]),

    bpf_xdp_attach: f('bpf_xdp_attach', 'int', ['int', 'int', u32, koffi.pointer(XdpAttachOpts)]),
    bpf_xdp_detach: f('bpf_xdp_detach', 'int', ['int', u32, koffi.pointer(XdpAttachOpts)]),
    bpf_xdp_query: f('bpf_xdp_query', 'int', ['int', 'int', inout(XdpQueryOpts)]),
  };
}

function bindLibc(lib: LibraryHandle) {
  return {
    vsnprintf: lib.func('vsnprintf', 'int', ['void *', size_t, 'const char *', 'void *']),
    if_nametoindex: lib.func('if_nametoindex', 'uint32_t', ['const char *']),
    close: lib.func('close', 'int', ['int']),
    flock: lib.func('flock', 'int', ['int', 'int']),
    setns: lib.func('setns', 'int', ['int', 'int']),
    mount: lib.func('mount', 'int', ['const char *', 'const char *', 'const char *', 'unsigned long', 'void *']),
  };
}

export type Libbpf = ReturnType<typeof bind>;
export type Libc = ReturnType<typeof bindLibc>;

let libbpfCache: Libbpf | undefined;
let libcCache: Libc | undefined;

/**
 * The bound libbpf functions. Loads `libbpf.so.1` on first use.
 * Throws {@link EnvironmentError} (exit 2) when the library is missing.
 */
export function libbpf(): Libbpf {
  if (!libbpfCache) {
    let lib: LibraryHandle;
    try {
      lib = koffi.load('libbpf.so.1');
    } catch (err) {
      throw new EnvironmentError(
        `cannot load libbpf.so.1: ${err instanceof Error ? err.message : String(err)}`,
        'install Debian\'s libbpf1 (apt-get install libbpf1), or run "npm run setup"',
      );
    }
    libbpfCache = bind(lib);
  }
  return libbpfCache;
}

/** The bound libc functions used by the runtime (glibc's `libc.so.6`). */
export function libc(): Libc {
  libcCache ??= bindLibc(koffi.load('libc.so.6'));
  return libcCache;
}

/** errno of the last native call (read it immediately after the call). */
export function lastErrno(): number {
  return koffi.errno();
}

/** A native pointer returned by libbpf as a JS value: null for NULL. */
export function asPointer(value: unknown): Pointer | null {
  if (value === null || value === undefined || value === 0n || value === 0) return null;
  if (typeof value !== 'bigint') throw new TypeError(`expected a native pointer, got ${typeof value}`);
  return value;
}

/** Registers a JS function as a long-lived native callback of type `type`. */
export function registerCallback(fn: (...args: never[]) => unknown, type: TypeObject): bigint {
  return koffi.register(fn, koffi.pointer(type));
}
