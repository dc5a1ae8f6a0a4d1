/**
 * BPF programs: identity (name, type, fd, id), pins, and `BPF_PROG_TEST_RUN`.
 *
 * A {@link BpfProgram} is either a program of an open {@link BpfObject} (its fd is the
 * object's) or one opened from a pin or kernel id (it owns its fd: `close()` it).
 */
import { LibbpfError } from './errors.js';
import { assertFd, closeFd, errnoOf, fdById, infoName, objInfo, openPinnedFd, pinFd } from './fd.js';
import { type Pointer, libbpf } from './native.js';
import { CONTEXT_SIZE, type TestRunContext, decodeContext, encodeContext } from './test-run-context.js';

/** `enum bpf_prog_type` values rejectc uses. */
export const PROG_TYPE = { schedCls: 3, xdp: 6 } as const;

/** Options of {@link BpfProgram.testRun}. */
export interface TestRunOptions {
  /** The packet: an Ethernet frame for TC and XDP programs. At least 14 bytes. */
  data: Uint8Array;
  /** Context input; its kind must match the program type (`skb` for TC, `xdp` for XDP). */
  ctx?: TestRunContext;
  /** Runs (default 1). With repeat > 1 the program runs again on its own output. */
  repeat?: number;
  /** Room for the output packet (default: input length + 4096, replies can grow). */
  dataSizeOut?: number;
}

/** Result of {@link BpfProgram.testRun}. */
export interface TestRunResult {
  /** The program's return code (e.g. TC_ACT_SHOT = 2, TC_ACT_REDIRECT = 7, XDP_TX = 3). */
  retval: number;
  /** The packet after the program (rewritten in place, possibly resized). */
  data: Buffer;
  /** Average ns per run as measured by the kernel. */
  duration: number;
  /** The context after the run, when one was given. */
  ctx?: TestRunContext;
}

type Handle =
  | { kind: 'object'; ptr: Pointer; alive: () => boolean; loaded: () => boolean }
  | { kind: 'fd'; fd: number };

/** A BPF program. See the module comment for the two kinds and their lifetimes. */
export class BpfProgram {
  #handle: Handle;
  readonly name: string;
  /** ELF section (e.g. `tc`, `xdp`), or '' for programs opened from the kernel. */
  readonly sectionName: string;
  #type: number;

  private constructor(handle: Handle, name: string, sectionName: string, type: number) {
    this.#handle = handle;
    this.name = name;
    this.sectionName = sectionName;
    this.#type = type;
  }

  /** @internal Wraps a libbpf `struct bpf_program *` of an open object. */
  static fromObject(ptr: Pointer, alive: () => boolean, loaded: () => boolean): BpfProgram {
    const lib = libbpf();
    return new BpfProgram(
      { kind: 'object', ptr, alive, loaded },
      lib.bpf_program__name(ptr) as string,
      (lib.bpf_program__section_name(ptr) as string | null) ?? '',
      lib.bpf_program__type(ptr) as number,
    );
  }

  /** Opens a pinned program (`bpf_obj_get`). Call `close()`. */
  static openPinned(path: string): BpfProgram {
    return BpfProgram.#fromFd(openPinnedFd(path));
  }

  /** Opens the program with kernel id `id` (`bpf_prog_get_fd_by_id`). Call `close()`. */
  static openById(id: number): BpfProgram {
    return BpfProgram.#fromFd(fdById('prog', id));
  }

  static #fromFd(fd: number): BpfProgram {
    try {
      const info = objInfo(fd, 80, 'program');
      return new BpfProgram({ kind: 'fd', fd }, infoName(info, 64), '', info.readUInt32LE(0));
    } catch (err) {
      closeFd(fd);
      throw err;
    }
  }

  /** `enum bpf_prog_type` (see {@link PROG_TYPE}). */
  get type(): number {
    return this.#type;
  }

  /** The program's fd. Throws before load or after close. */
  get fd(): number {
    const h = this.#handle;
    if (h.kind === 'fd') {
      assertFd(h.fd, `program "${this.name}"`);
      return h.fd;
    }
    if (!h.alive()) throw new TypeError(`program "${this.name}" belongs to a closed BPF object`);
    const fd = libbpf().bpf_program__fd(h.ptr) as number;
    assertFd(fd, `program "${this.name}"`);
    return fd;
  }

  /** The kernel's id of the loaded program (what tc and XDP queries report). */
  get id(): number {
    return objInfo(this.fd, 8, `program "${this.name}"`).readUInt32LE(4);
  }

  /** Sets the program type before load (for sections libbpf cannot infer). */
  setType(type: number): void {
    const ptr = this.#unloadedPtr('setType');
    const ret = libbpf().bpf_program__set_type(ptr, type) as number;
    if (ret < 0) throw new LibbpfError('bpf_program__set_type', errnoOf(ret), `setting the type of "${this.name}"`);
    this.#type = type;
  }

  /** Whether the program is loaded with its object (default true). Before load only. */
  setAutoload(autoload: boolean): void {
    const ptr = this.#unloadedPtr('setAutoload');
    const ret = libbpf().bpf_program__set_autoload(ptr, autoload) as number;
    if (ret < 0) throw new LibbpfError('bpf_program__set_autoload', errnoOf(ret), `autoload of "${this.name}"`);
  }

  /** Pins the loaded program at `path` on bpffs. */
  pin(path: string): void {
    pinFd(this.fd, path, `program "${this.name}"`);
  }

  /**
   * Runs the program once (or `repeat` times) on `data` with `BPF_PROG_TEST_RUN`.
   * Preconditions, checked before the native call: the program is loaded; `data` is at least
   * 14 bytes; `ctx.kind` matches the program type; sizes fit in u32.
   */
  testRun(options: TestRunOptions): TestRunResult {
    const { data, ctx } = options;
    const repeat = options.repeat ?? 1;
    if (!(data instanceof Uint8Array) || data.length < 14) throw new RangeError('testRun: data must be an Ethernet frame of at least 14 bytes');
    if (!Number.isInteger(repeat) || repeat < 1 || repeat > 0x7fffffff) throw new RangeError(`testRun: invalid repeat ${repeat}`);
    const outSize = options.dataSizeOut ?? data.length + 4096;
    if (!Number.isInteger(outSize) || outSize < 1 || outSize > 0xffffffff) throw new RangeError(`testRun: invalid dataSizeOut ${outSize}`);
    if (ctx) {
      const expected = this.#type === PROG_TYPE.xdp ? 'xdp' : this.#type === PROG_TYPE.schedCls ? 'skb' : undefined;
      if (ctx.kind !== expected) throw new TypeError(`testRun: a "${ctx.kind}" context does not fit program "${this.name}" (type ${this.#type})`);
    }
    const fd = this.fd;
    const dataIn = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    const dataOut = Buffer.alloc(outSize);
    const ctxIn = ctx ? encodeContext(ctx, data.length) : null;
    const ctxOut = ctx ? Buffer.alloc(CONTEXT_SIZE[ctx.kind]) : null;
    const opts = {
      sz: 80,
      data_in: dataIn,
      data_out: dataOut,
      data_size_in: data.length,
      data_size_out: outSize,
      ctx_in: ctxIn,
      ctx_out: ctxOut,
      ctx_size_in: ctxIn?.length ?? 0,
      ctx_size_out: ctxOut?.length ?? 0,
      retval: 0,
      repeat,
      duration: 0,
      flags: 0,
      cpu: 0,
      batch_size: 0,
    };
    const ret = libbpf().bpf_prog_test_run_opts(fd, opts) as number;
    if (ret < 0) throw new LibbpfError('bpf_prog_test_run_opts', errnoOf(ret), `test-running program "${this.name}"`);
    return {
      retval: opts.retval,
      data: dataOut.subarray(0, Math.min(opts.data_size_out, outSize)),
      duration: opts.duration,
      ...(ctx && ctxOut ? { ctx: decodeContext(ctx.kind, ctxOut) } : {}),
    };
  }

  /** Closes the fd of a program opened from a pin or id; a no-op for object programs. */
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

  #unloadedPtr(op: string): Pointer {
    const h = this.#handle;
    if (h.kind !== 'object') throw new TypeError(`${op}: program "${this.name}" is not part of an unloaded BPF object`);
    if (!h.alive()) throw new TypeError(`${op}: program "${this.name}" belongs to a closed BPF object`);
    if (h.loaded()) throw new TypeError(`${op}: program "${this.name}" is already loaded`);
    return h.ptr;
  }
}
