import { defineConfig } from 'vitest/config';

// Kernel tests (namespaces, BPF test-run) share the host's network stack and BPF
// filesystem; they run in one process at a time so that their namespaces and pins
// never collide. Pure tests are fast enough that serial files cost little.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    fileParallelism: false,
    reporters: ['default'],
  },
});
