import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');
const work = mkdtempSync(join(tmpdir(), 'tur-pack-'));
function run(command: string, args: string[], cwd: string): string {
  try {
    return execFileSync(command, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string };
    throw new Error(`${command} ${args.join(' ')} failed:\n${stdout ?? ''}\n${stderr ?? ''}`, { cause: error });
  }
}

describe('the published package', () => {
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('builds typed ESM that an installed tarball can import and typecheck', () => {
    run('npm', ['run', 'build'], root);
    run('npm', ['pack', '--pack-destination', work], root);
    const tarball = readdirSync(work).find((name) => name.endsWith('.tgz'));
    expect(tarball).toBeDefined();

    const consumer = join(work, 'consumer');
    execFileSync('mkdir', ['-p', consumer]);
    writeFileSync(join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', type: 'module', private: true }));
    run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', join(work, tarball as string)], consumer);

    writeFileSync(
      join(consumer, 'main.ts'),
      `import { TokenUsageRepository, tokenUsageRepo, ValidationError, createTokenUsageRepository } from 'token-usage-repository';
import { tokenUsageModule, TOKENS } from 'token-usage-repository/inversify';
// The SDK adapters import no SDK: they load in a consumer that has none installed.
import { meterOpenAI } from 'token-usage-repository/openai';
import { meterAnthropic } from 'token-usage-repository/anthropic';
import { tokenUsageMiddleware } from 'token-usage-repository/ai-sdk';
import { tokenUsageCallbacks } from 'token-usage-repository/langchain';
import { meterGoogleGenAI } from 'token-usage-repository/google-genai';
const adapters = [meterOpenAI, meterAnthropic, tokenUsageMiddleware, tokenUsageCallbacks, meterGoogleGenAI].map((f) => typeof f);
const repo: TokenUsageRepository = createTokenUsageRepository({ config: { store: 'memory', logLevel: 'silent' } });
const middleware = tokenUsageMiddleware({ repo, userId: 'u' });
await repo.incrementDetailedUsage('u', 2, 3, '2024-01-01');
const stats: { totalTokens: number } = await repo.getUsageStats('u', '2024-01-01');
let rejected = '';
try { await repo.incrementPromptTokens('u', -1); } catch (error) { if (error instanceof ValidationError) rejected = error.code; }
console.log(JSON.stringify({ total: stats.totalTokens, rejected, lazy: tokenUsageRepo instanceof TokenUsageRepository, di: typeof tokenUsageModule, token: typeof TOKENS.UsageStore, adapters, middleware: typeof middleware.wrapStream }));
`,
    );
    writeFileSync(
      join(consumer, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          skipLibCheck: true,
          types: [],
          outDir: 'out',
        },
        files: ['main.ts'],
      }),
    );
    run(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], consumer);
    const output = run(process.execPath, ['out/main.js'], consumer);
    expect(JSON.parse(output.trim())).toEqual({
      total: 5,
      rejected: 'USAGE.INVALID_TOKEN_COUNT',
      lazy: true,
      di: 'function',
      token: 'symbol',
      adapters: ['function', 'function', 'function', 'function', 'function'],
      middleware: 'function',
    });
    // A CommonJS host (Node >= 22.12 loads ESM without top-level await through require) gets every entry point.
    writeFileSync(
      join(consumer, 'host.cjs'),
      `const subpaths = ['', '/inversify', '/openai', '/anthropic', '/ai-sdk', '/langchain', '/google-genai'];
const { createTokenUsageRepository } = require('token-usage-repository');
const repo = createTokenUsageRepository({ config: { store: 'memory', logLevel: 'silent' } });
repo.incrementTotalUsage('u', 7, '2024-01-01').then(async (result) => {
  await repo.close();
  console.log(JSON.stringify({ total: result.counters.totalTokens, exports: subpaths.map((p) => Object.keys(require('token-usage-repository' + p)).length > 0) }));
});
`,
    );
    expect(JSON.parse(run(process.execPath, ['host.cjs'], consumer).trim())).toEqual({ total: 7, exports: Array(7).fill(true) });
    // The bin is installed and runs from the tarball (no Redis needed for --version and a usage error).
    const bin = join(consumer, 'node_modules/.bin/token-usage');
    expect(run(bin, ['--version'], consumer).trim()).toBe(JSON.parse(run('npm', ['pkg', 'get', 'version'], root)));
    expect(() => run(bin, ['limit', 'set', 'u', '-1'], consumer)).toThrow(/must be a non-negative integer/);
  }, 180_000);
});
