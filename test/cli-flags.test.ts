/**
 * The rejectc command's `#!` line: its node flags are read back as the benchmark reads them,
 * this Node accepts them, and the command starts with them (a flag a later Node drops would
 * stop every `rejectc` run before it began).
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cliNodeFlags } from '../src/cli-flags.js';

const CLI = join(import.meta.dirname, '..', 'dist', 'src', 'cli.js');

describe('the rejectc command line', () => {
  it('starts node with the flags of its #! line, and node accepts them', () => {
    const flags = cliNodeFlags(CLI);
    expect(flags).toContain('--initial-old-space-size=256');
    const probe = spawnSync(process.execPath, [...flags, '-e', 'process.stdout.write(String(require("v8").getHeapStatistics().total_available_size > 0))'], { encoding: 'utf8' });
    expect(probe.stderr).toBe('');
    expect(probe.stdout).toBe('true');
    // Run as a program, through env -S, as an installed `rejectc` runs.
    const run = spawnSync('/usr/bin/env', ['-S', `${process.execPath} ${flags.join(' ')}`, CLI, '--version'], { encoding: 'utf8' });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('reads the flags of a #! line', () => {
    expect(() => cliNodeFlags(join(import.meta.dirname, '..', 'package.json'))).toThrow(/unexpected first line/);
  });
});
