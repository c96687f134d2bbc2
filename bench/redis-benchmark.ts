/**
 * The server's ceiling on this machine: `redis-benchmark` (50 clients, 200,000 requests, keys over
 * 10,000 users via -r) for HINCRBY and for EVALSHA of our record script, unpipelined (-P 1) and
 * with 16 commands per round trip (-P 16).
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Redis } from 'ioredis';
import { LOOPBACK } from './redis-server.js';

const run = promisify(execFile);

export interface CeilingResult {
  readonly command: string;
  readonly pipeline: number;
  readonly requestsPerSec: number;
  readonly p50Ms: number;
  readonly commandLine: string;
}

export async function redisBenchmarkCeiling(
  admin: Redis,
  port: number,
  options: { requests: number; cycleDate: string; recordScriptLua: string; recordCall: { keys: string[]; args: string[]; userPlaceholder: string } },
): Promise<CeilingResult[]> {
  const sha = (await admin.script('LOAD', options.recordScriptLua)) as string;
  const key = `token_usage:u__rand_int__:${options.cycleDate}`;
  const { recordCall } = options;
  const commands: Array<{ name: string; args: string[] }> = [
    { name: 'HINCRBY', args: ['HINCRBY', key, 'total_tokens', '150'] },
    {
      name: 'EVALSHA record script',
      // Exactly the keys and arguments the facade sends for incrementDetailedUsage(user, 100, 50)
      // (captured from it), the user replaced by redis-benchmark's random 0..9999.
      args: [
        'EVALSHA',
        sha,
        String(recordCall.keys.length),
        ...recordCall.keys.map((k) => k.split(recordCall.userPlaceholder).join('u__rand_int__')),
        ...recordCall.args,
      ],
    },
  ];
  const results: CeilingResult[] = [];
  for (const command of commands) {
    for (const pipeline of [1, 16]) {
      await admin.flushall();
      const args = [
        '-h', LOOPBACK, '-p', String(port), '-n', String(options.requests), '-c', '50',
        '-P', String(pipeline), '-r', '10000', '--csv', ...command.args,
      ];
      const { stdout } = await run('redis-benchmark', args, { timeout: 300_000 });
      // --csv: a header line, then "test","rps","avg_latency_ms","min_latency_ms","p50_latency_ms",...
      const line = stdout.trim().split('\n').filter((l) => l.trim() !== '').at(-1) ?? '';
      const cells = line.split('","').map((c) => c.replace(/"/g, ''));
      results.push({
        command: command.name,
        pipeline,
        requestsPerSec: Number(cells[1]),
        p50Ms: Number(cells[4]),
        commandLine: `redis-benchmark ${args.map((a) => (a === '' ? "''" : a)).join(' ')}`.replace(sha, '<sha1 of record script>'),
      });
    }
  }
  await admin.flushall();
  return results;
}
