import { defineConfig } from 'vitest/config';

const jsonOutput = process.env['VITEST_JSON_OUTPUT'];

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/setup/redis.global.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    reporters: jsonOutput ? ['default', ['json', { outputFile: jsonOutput }]] : ['default'],
  },
});
