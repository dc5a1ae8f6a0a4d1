/**
 * A BPF ELF object through libbpf: open → (size maps, reuse maps) → load → use → close.
 * Model: libbpf/libbpf `docs/libbpf_overview.rst`.
 *
 *     const obj = BpfObject.open('out/rejectc.bpf.o');
 *     try {
 *       obj.map('rjc_rules').setMaxEntries(1024);
 *       obj.load();                       // VerifierError with the whole log on refusal
 *       obj.program('rjc_tc_ingress').testRun({ data });
 *     } finally {
 *       obj.close();                      // never left to the GC
 *     }
 */
import { existsSync } from 'node:fs';
import { UserError } from '../errors.js';
import { LibbpfError, VerifierError } from './errors.js';
import { errnoOf } from './fd.js';
import { captureLibbpfLog, failedProgramOf, installLibbpfLog, verifierLogOf } from './log.js';
import { BpfMap } from './map.js';
import { type Pointer, asPointer, lastErrno, libbpf } from './native.js';
import { BpfProgram, PROG_TYPE } from './program.js';

/** Options of {@link BpfObject.open}. */
export interface OpenOptions {
  /**
   * Directory for maps declared with `pinning = LIBBPF_PIN_BY_NAME`: libbpf reuses a pinned
   * map of the same name and layout there, or pins the new one on load. Default /sys/fs/bpf.
   */
  pinRoot?: string;
  /** Overrides the object name (default: the file's base name). */
  objectName?: string;
}

/** An open (and later loaded) BPF object. Close it explicitly. */
export class BpfObject {
  #ptr: Pointer | null;
  #loaded = false;
  readonly path: string;
  readonly #maps = new Map<string, BpfMap>();
  readonly #programs = new Map<string, BpfProgram>();

  private constructor(ptr: Pointer, path: string) {
    this.#ptr = ptr;
    this.path = path;
    const lib = libbpf();
    const alive = () => this.#ptr !== null;
    const loaded = () => this.#loaded;
    for (let m = asPointer(lib.bpf_object__next_map(ptr, null)); m !== null; m = asPointer(lib.bpf_object__next_map(ptr, m))) {
      const map = BpfMap.fromObject(m, alive, loaded);
      this.#maps.set(map.name, map);
    }
    for (let p = asPointer(lib.bpf_object__next_program(ptr, null)); p !== null; p = asPointer(lib.bpf_object__next_program(ptr, p))) {
      const prog = BpfProgram.fromObject(p, alive, loaded);
      // libbpf 1.1 predates the tcx/ingress and tcx/egress sections (libbpf 1.3); they hold
      // ordinary TC programs, which rejectc attaches through netlink cls_bpf.
      if (prog.type === 0 && /^tcx\/(ingress|egress)$/.test(prog.sectionName)) prog.setType(PROG_TYPE.schedCls);
      this.#programs.set(prog.name, prog);
    }
  }

  /**
   * Opens (parses, does not load) the ELF object at `path`.
   * Throws {@link UserError} if the file is missing, {@link LibbpfError} if libbpf refuses it.
   */
  static open(path: string, options: OpenOptions = {}): BpfObject {
    if (typeof path !== 'string' || path.length === 0) throw new TypeError('BpfObject.open: a path is required');
    if (!existsSync(path)) throw new UserError(`cannot open BPF object ${path}: no such file`);
    installLibbpfLog();
    const opts = {
      sz: 80,
      object_name: options.objectName ?? null,
      relaxed_maps: false,
      pin_root_path: options.pinRoot ?? null,
      _removed_attach_prog_fd: 0,
      kconfig: null,
      btf_custom_path: null,
      kernel_log_buf: null,
      kernel_log_size: 0,
      kernel_log_level: 0,
    };
    const { result, messages } = captureLibbpfLog(() => {
      const ptr = asPointer(libbpf().bpf_object__open_file(path, opts));
      return { ptr, errno: lastErrno() };
    });
    if (result.ptr === null) {
      const detail = messages.filter((m) => m.level === 0).map((m) => m.text.trim()).pop();
      throw new LibbpfError('bpf_object__open_file', result.errno || 22, `opening BPF object ${path}${detail ? ` (${detail})` : ''}`);
    }
    return new BpfObject(result.ptr, path);
  }

  /** True after a successful {@link load}. */
  get loaded(): boolean {
    return this.#loaded;
  }

  /** All maps by name (libbpf's internal `.bss`/`.data`/`.rodata` maps included). */
  get maps(): ReadonlyMap<string, BpfMap> {
    this.#assertOpen();
    return this.#maps;
  }

  /** All programs by name. */
  get programs(): ReadonlyMap<string, BpfProgram> {
    this.#assertOpen();
    return this.#programs;
  }

  /** The map called `name`; throws if the object has none. */
  map(name: string): BpfMap {
    const m = this.maps.get(name);
    if (!m) throw new TypeError(`BPF object ${this.path} has no map "${name}" (it has: ${[...this.#maps.keys()].join(', ')})`);
    return m;
  }

  /** The program called `name`; throws if the object has none. */
  program(name: string): BpfProgram {
    const p = this.programs.get(name);
    if (!p) throw new TypeError(`BPF object ${this.path} has no program "${name}" (it has: ${[...this.#programs.keys()].join(', ')})`);
    return p;
  }

  /**
   * Creates the maps and loads the programs into the kernel.
   * Throws {@link VerifierError} (with the whole verifier log) when the kernel refuses a
   * program, {@link LibbpfError} for other failures. A failed object cannot be loaded again.
   */
  load(): void {
    const ptr = this.#assertOpen();
    if (this.#loaded) throw new TypeError(`BPF object ${this.path} is already loaded`);
    const { result: ret, messages } = captureLibbpfLog(() => libbpf().bpf_object__load(ptr) as number);
    if (ret === 0) {
      this.#loaded = true;
      return;
    }
    const errno = errnoOf(ret);
    const program = failedProgramOf(messages);
    const log = program === undefined ? '' : verifierLogOf(messages, program);
    if (program !== undefined && log !== '') throw new VerifierError(program, errno, log);
    const detail = messages.filter((m) => m.level === 0).map((m) => m.text.trim());
    throw new LibbpfError('bpf_object__load', errno, `loading BPF object ${this.path}${detail.length ? ` (${detail.slice(-2).join('; ')})` : ''}`);
  }

  /** Frees the object; its programs and maps stay in the kernel only where attached or pinned. */
  close(): void {
    if (this.#ptr === null) return;
    libbpf().bpf_object__close(this.#ptr);
    this.#ptr = null;
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #assertOpen(): Pointer {
    if (this.#ptr === null) throw new TypeError(`BPF object ${this.path} is closed`);
    return this.#ptr;
  }
}
