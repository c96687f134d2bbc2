import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Redis } from 'ioredis';
import { createTokenUsageRepository } from '../../src/index.js';
import type { TokenUsageRepository } from '../../src/index.js';
import { freeLoopbackPort } from '../support/free-port.js';
import { RecordingLogger } from '../support/recording-logger.js';
import { describeRedis, redisUrl, uniquePrefix } from '../support/redis.js';
import { rawRedis } from '../support/redis-store.js';

const root = resolve(import.meta.dirname, '../..');
const tsx = resolve(root, 'node_modules/tsx/dist/cli.mjs');
const CYCLE = '2024-05-01';
// Each case spawns tsx processes (about 1-3 s each on a busy 2-core machine), several at once.
const SPAWN_TIMEOUT_MS = 180_000;

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `token-usage <args>` as its own process (tsx on the source, as `npm run cli`). */
function cli(args: readonly string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [tsx, 'src/cli/main.ts', ...args], {
      cwd: root,
      env: { PATH: process.env['PATH'] ?? '', REDIS_URL: redisUrl, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let [stdout, stderr] = ['', ''];
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', fail);
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}

describeRedis('the token-usage CLI as a process against real Redis', () => {
  const prefix = uniquePrefix();
  const env = { TOKEN_STATS_KEY_PREFIX: prefix };
  const run = (...args: string[]): Promise<Run> => cli(args, env);
  let repo: TokenUsageRepository;
  let raw: Redis;
  const keyCount = async (): Promise<number> => {
    let [cursor, count] = ['0', 0];
    do {
      const [next, keys] = await raw.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      [cursor, count] = [next, count + keys.length];
    } while (cursor !== '0');
    return count;
  };

  beforeAll(async () => {
    raw = rawRedis();
    repo = createTokenUsageRepository({ config: { redis: { url: redisUrl }, keyPrefix: prefix }, logger: new RecordingLogger() });
  });

  afterAll(async () => {
    await repo.close();
    raw.disconnect();
  });

  it('refuses bad arguments with exit 2 and writes nothing', async () => {
    const cases = [
      ['limit', 'set', 'u1', '-5'],
      ['limit', 'set', 'u1', '12.5'],
      ['limit', 'set', 'u1', '0'],
      ['stats', 'u1', '--cycle', '2024-13-01'],
      ['reset', 'u1'],
      ['check', 'u1', '--tokens', 'lots'],
      ['export', '--format', 'xml'],
      ['top', '--count', '0'],
      ['top', '--by', 'mood'],
      ['history', 'u1', '--granularity', 'hour'],
      ['verify', '--all-cycles', '--user', 'u1'],
      ['frobnicate'],
      ['limit', 'set', 'u1'],
    ];
    const results = await Promise.all(cases.map((args) => run(...args)));
    results.forEach((result, i) => {
      expect(result.code, cases[i]?.join(' ')).toBe(2);
      expect(result.stdout, cases[i]?.join(' ')).toBe('');
      expect(result.stderr.length, cases[i]?.join(' ')).toBeGreaterThan(0);
    });
    expect(await keyCount()).toBe(0);
    const json = await run('--json', 'stats', 'u1', '--cycle', '2024-02-30');
    expect(json.code).toBe(2);
    expect(JSON.parse(json.stderr)).toEqual({
      error: { code: 'USAGE.INVALID_CYCLE_DATE', message: 'cycleStartDate is not a calendar date: 2024-02-30', field: 'cycleStartDate' },
    });
  }, SPAWN_TIMEOUT_MS);

  it('sets, reads and clears limits; check exits 1 when over the limit or when the tokens would not fit', async () => {
    await repo.incrementDetailedUsage('lim', 600, 300, CYCLE);
    expect((await run('limit', 'set', 'lim', '1000')).code).toBe(0);
    const got = await run('--json', 'limit', 'get', 'lim', '--cycle', CYCLE);
    expect(JSON.parse(got.stdout)).toEqual({ userId: 'lim', currentUsage: 900, limit: 1000, remaining: 100, unlimited: false });
    const [within, fits, tooMuch] = await Promise.all([
      run('check', 'lim', '--cycle', CYCLE),
      run('check', 'lim', '--cycle', CYCLE, '--tokens', '100'),
      run('--json', 'check', 'lim', '--cycle', CYCLE, '--tokens', '101'),
    ]);
    expect([within.code, fits.code, tooMuch.code]).toEqual([0, 0, 1]);
    expect(within.stdout).toContain('within limit');
    expect(JSON.parse(tooMuch.stdout)).toMatchObject({ allowed: false, reason: 'limit-exceeded', requestedTokens: 101 });
    expect((await run('limit', 'set', 'lim', '800', '--cycle', CYCLE)).code).toBe(0);
    const over = await run('--json', 'check', 'lim', '--cycle', CYCLE);
    expect(over.code).toBe(1);
    expect(JSON.parse(over.stdout)).toEqual({ userId: 'lim', exceeded: true, currentUsage: 900, limit: 800, remaining: 0, unlimited: false });
    expect((await run('limit', 'clear', 'lim', '--cycle', CYCLE)).code).toBe(0);
    expect((await run('limit', 'clear', 'lim')).code).toBe(0);
    const none = await run('--json', 'stats', 'lim', '--cycle', CYCLE);
    expect(JSON.parse(none.stdout)).toEqual({
      userId: 'lim', promptTokens: 600, completionTokens: 300, totalTokens: 900, limit: null, remaining: null, unlimited: true,
    });
  }, SPAWN_TIMEOUT_MS);

  it('prints history as rows, JSON and a chart, and resets (counters and history) only with --yes', async () => {
    await repo.incrementDetailedUsage('hist', 10, 5, CYCLE);
    const expected = await repo.usageHistory('hist', { from: '2024-05-01', to: '2024-05-31' });
    const [json, table, chart] = await Promise.all([
      run('--json', 'history', 'hist', '--from', '2024-05-01', '--to', '2024-05-31'),
      run('history', 'hist', '--from', '2024-05-01', '--to', '2024-05-31'),
      run('history', 'hist', '--from', '2024-05-01', '--to', '2024-05-31', '--chart'),
    ]);
    expect(JSON.parse(json.stdout)).toEqual(expected);
    expect(table.stdout.trim().split('\n')).toHaveLength(32);
    expect(chart.code).toBe(0);
    expect(chart.stdout).toMatch(/15 ┼/);
    expect((await run('reset', 'hist', '--cycle', CYCLE, '--yes')).code).toBe(0);
    expect(await repo.getUsageStats('hist', CYCLE)).toEqual({ promptTokens: 0, completionTokens: 0, totalTokens: 0 });
    const after = await run('--json', 'history', 'hist', '--from', '2024-05-01', '--to', '2024-05-31', '--granularity', 'cycle');
    expect(JSON.parse(after.stdout)).toMatchObject([{ totalTokens: 0 }]);
  }, SPAWN_TIMEOUT_MS);

  it('ranks and exports a cycle over several SCAN pages, CSV quoted per RFC 4180, without progress output when piped', async () => {
    const cycle = '2024-06-01';
    const users = Array.from({ length: 12 }, (_, i) => (i === 0 ? 'quote "and", comma' : `exp-${String(i).padStart(2, '0')}`));
    await Promise.all(users.map((user, i) => repo.incrementDetailedUsage(user, 100 + i, i, cycle)));
    const [top, csv, json] = await Promise.all([
      run('--json', 'top', '--cycle', cycle, '--count', '3', '--batch-size', '5'),
      run('export', '--cycle', cycle, '--format', 'csv', '--batch-size', '5'),
      run('export', '--cycle', cycle, '--format', 'json', '--batch-size', '5'),
    ]);
    expect(JSON.parse(top.stdout).users.map((u: { userId: string }) => u.userId)).toEqual(['exp-11', 'exp-10', 'exp-09']);
    await repo.setUsageLimit('exp-01', 102, cycle);
    const nearest = await run('top', '--cycle', cycle, '--by', 'limit');
    expect(nearest.stdout).toMatch(/1\s+exp-01\s+101\s+1\s+102\s+102\s+100\.0%/);
    const lines = csv.stdout.split('\r\n').filter((line) => line !== '');
    expect(lines[0]).toBe('user_id,cycle_start_date,prompt_tokens,completion_tokens,total_tokens');
    expect(lines.slice(1).sort()).toEqual(
      users.map((user, i) => `${user.includes(',') ? '"quote ""and"", comma"' : user},${cycle},${100 + i},${i},${100 + 2 * i}`).sort(),
    );
    const exported = JSON.parse(json.stdout) as { userId: string; totalTokens: number }[];
    expect(exported.map((row) => row.userId).sort()).toEqual([...users].sort());
    expect(csv.stderr).toBe(`exported 12 users of cycle ${cycle} (12 scanned, 0 corrupt skipped)\n`);
    expect(top.stderr).toBe('');
  }, SPAWN_TIMEOUT_MS);

  it('verify finds a broken hash (exit 1), --repair fixes it, and then verify is clean (exit 0)', async () => {
    const cycle = '2024-07-01';
    await repo.incrementDetailedUsage('broken', 10, 5, cycle);
    await raw.hset(`${prefix}:broken:${cycle}`, 'total_tokens', '999');
    const dry = await run('--json', 'verify', '--cycle', cycle);
    expect(dry.code).toBe(1);
    expect(JSON.parse(dry.stdout)).toMatchObject({ mode: 'dry-run', counts: { findings: 1 } });
    expect(await raw.hget(`${prefix}:broken:${cycle}`, 'total_tokens')).toBe('999');
    const repair = await run('verify', '--cycle', cycle, '--repair');
    expect(repair.code).toBe(0);
    expect(repair.stdout).toContain('1 repaired');
    expect((await run('verify', '--cycle', cycle)).code).toBe(0);
  }, SPAWN_TIMEOUT_MS);

  it('sweep-alerts reports the thresholds a cycle crossed', async () => {
    const cycle = '2024-08-01';
    await repo.setUsageLimit('alerted', 100, cycle);
    await repo.incrementDetailedUsage('alerted', 90, 0, cycle);
    const sweep = await run('--json', 'sweep-alerts', '--cycle', cycle);
    expect(sweep.code).toBe(0);
    const report = JSON.parse(sweep.stdout) as { scanned: number; alerts: { userId: string; threshold: number }[] };
    expect(report.scanned).toBe(1);
    expect(report.alerts.map((alert) => alert.userId)).toEqual(['alerted']);
  }, SPAWN_TIMEOUT_MS);

  it('exits 3 when Redis is unreachable', async () => {
    const port = await freeLoopbackPort();
    const result = await cli(['stats', 'u1'], { REDIS_URL: `redis://127.0.0.1:${port}`, REDIS_CONNECT_TIMEOUT_MS: '300', REDIS_COMMAND_TIMEOUT_MS: '300' });
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/^token-usage: /);
  }, SPAWN_TIMEOUT_MS);
});
