/**
 * The struct layouts src/runtime passes to libbpf and the kernel must equal what the C
 * compiler sees in this machine's headers (libbpf 1.1's bpf/libbpf.h and bpf/bpf.h, UAPI
 * linux/bpf.h). A wrong offset would make koffi write the wrong field — silently, or with a
 * crash — so this test compiles a probe with clang and compares every offset and size.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import koffi from 'koffi';
import { describe, expect, it } from 'vitest';
import { MapBatchOpts, ObjectOpenOpts, TcHook, TcOpts, TestRunOpts, XdpAttachOpts, XdpQueryOpts } from '../src/runtime/native.js';
import { CONTEXT_SIZE, SKB_OFFSET, XDP_OFFSET } from '../src/runtime/test-run-context.js';

type Layout = Record<string, number>;

/** Offsets and sizes from the C compiler: `{ "struct.field": offset, "struct": size }`. */
function cLayout(structs: Record<string, string[]>): Layout {
  const lines = ['#include <stdio.h>', '#include <stddef.h>', '#include <linux/bpf.h>', '#include <bpf/libbpf.h>', '#include <bpf/bpf.h>', 'int main(void) {'];
  for (const [s, fields] of Object.entries(structs)) {
    lines.push(`printf("%s %zu\\n", "${s}", sizeof(struct ${s}));`);
    for (const f of fields) lines.push(`printf("%s %zu\\n", "${s}.${f}", offsetof(struct ${s}, ${f}));`);
  }
  lines.push('return 0; }');
  const dir = mkdtempSync(join(tmpdir(), 'rjc-layout-'));
  try {
    writeFileSync(join(dir, 'probe.c'), lines.join('\n'));
    execFileSync('clang', ['-o', join(dir, 'probe'), join(dir, 'probe.c')], { stdio: 'pipe' });
    const out = execFileSync(join(dir, 'probe'), { encoding: 'utf8' });
    return Object.fromEntries(out.trim().split('\n').map((l) => [l.split(' ')[0]!, Number(l.split(' ')[1])]));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The same from a koffi struct type, keyed like {@link cLayout}. */
function koffiLayout(name: string, type: koffi.TypeObject, fields: Record<string, string>): Layout {
  const out: Layout = { [name]: koffi.sizeof(type) };
  for (const [js, c] of Object.entries(fields)) out[`${name}.${c}`] = koffi.offsetof(type, js);
  return out;
}

const same = (fields: string[]) => Object.fromEntries(fields.map((f) => [f, f]));

describe('runtime: struct layouts match the C headers', () => {
  const structs = {
    bpf_test_run_opts: ['sz', 'data_in', 'data_out', 'data_size_in', 'data_size_out', 'ctx_in', 'ctx_out', 'ctx_size_in', 'ctx_size_out', 'retval', 'repeat', 'duration', 'flags', 'cpu', 'batch_size'],
    bpf_tc_hook: ['sz', 'ifindex', 'attach_point', 'parent'],
    bpf_tc_opts: ['sz', 'prog_fd', 'flags', 'prog_id', 'handle', 'priority'],
    bpf_xdp_attach_opts: ['sz', 'old_prog_fd'],
    bpf_xdp_query_opts: ['sz', 'prog_id', 'drv_prog_id', 'hw_prog_id', 'skb_prog_id', 'attach_mode'],
    bpf_map_batch_opts: ['sz', 'elem_flags', 'flags'],
    bpf_object_open_opts: ['sz', 'object_name', 'relaxed_maps', 'pin_root_path', 'kconfig', 'btf_custom_path', 'kernel_log_buf', 'kernel_log_size', 'kernel_log_level'],
    __sk_buff: ['mark', 'priority', 'ingress_ifindex', 'ifindex', 'cb', 'wire_len', 'gso_segs', 'gso_size'],
    xdp_md: ['data', 'data_end', 'ingress_ifindex', 'rx_queue_index'],
    bpf_map_info: ['type', 'id', 'key_size', 'value_size', 'max_entries', 'map_flags', 'name'],
    bpf_prog_info: ['type', 'id', 'name'],
  };
  const c = cLayout(structs);

  it('option structs passed to libbpf', () => {
    const ours: Layout = {
      ...koffiLayout('bpf_test_run_opts', TestRunOpts, same(structs.bpf_test_run_opts)),
      ...koffiLayout('bpf_tc_hook', TcHook, same(structs.bpf_tc_hook)),
      ...koffiLayout('bpf_tc_opts', TcOpts, same(structs.bpf_tc_opts)),
      ...koffiLayout('bpf_xdp_attach_opts', XdpAttachOpts, same(structs.bpf_xdp_attach_opts)),
      ...koffiLayout('bpf_xdp_query_opts', XdpQueryOpts, same(structs.bpf_xdp_query_opts)),
      ...koffiLayout('bpf_map_batch_opts', MapBatchOpts, same(structs.bpf_map_batch_opts)),
      ...koffiLayout('bpf_object_open_opts', ObjectOpenOpts, same(structs.bpf_object_open_opts)),
    };
    for (const [key, value] of Object.entries(ours)) expect([key, value]).toEqual([key, c[key]]);
  });

  it('test-run contexts and the info structs read by offset', () => {
    expect(CONTEXT_SIZE.skb).toBe(c['__sk_buff']);
    expect(CONTEXT_SIZE.xdp).toBe(c['xdp_md']);
    for (const [f, off] of Object.entries(SKB_OFFSET)) expect([f, off]).toEqual([f, c[`__sk_buff.${f}`]]);
    for (const [f, off] of Object.entries(XDP_OFFSET)) expect([f, off]).toEqual([f, c[`xdp_md.${f}`]]);
    // map.ts reads bpf_map_info at these offsets (88 bytes); program.ts bpf_prog_info (80).
    expect([c['bpf_map_info.type'], c['bpf_map_info.id'], c['bpf_map_info.key_size'], c['bpf_map_info.value_size'], c['bpf_map_info.max_entries'], c['bpf_map_info.map_flags'], c['bpf_map_info.name']]).toEqual([0, 4, 8, 12, 16, 20, 24]);
    expect(c['bpf_map_info']).toBeGreaterThanOrEqual(88);
    expect([c['bpf_prog_info.type'], c['bpf_prog_info.id'], c['bpf_prog_info.name']]).toEqual([0, 4, 64]);
  });
});
