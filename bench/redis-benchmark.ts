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
  /** Records one request applies (16 for the coalesced batch script, else 1). */
  readonly recordsPerRequest: number;
}

/** Records per request in the coalesced-script ceiling. */
export const BATCH_RECORDS = 16;

export async function redisBenchmarkCeiling(
  admin: Redis,
  port: number,
  options: {
    requests: number;
    cycleDate: string;
    recordScriptLua: string;
    batchScriptLua: string;
    /** The batch script's shape of one call (kind, key count, argument count). */
    callShape: (kind: string, keyCount: number, argCount: number) => string;
    recordCall: { keys: string[]; args: string[]; userPlaceholder: string };
  },
): Promise<CeilingResult[]> {
  const sha = (await admin.script('LOAD', options.recordScriptLua)) as string;
  const batchSha = (await admin.script('LOAD', options.batchScriptLua)) as string;
  const key = `token_usage:u__rand_int__:${options.cycleDate}`;
  const { recordCall } = options;
  const randomUser = (k: string): string => k.split(recordCall.userPlaceholder).join('u__rand_int__');
  const batchKeys = Array.from({ length: BATCH_RECORDS }, () => recordCall.keys.map(randomUser)).flat();
  const batchArgv = [
    String(BATCH_RECORDS),
    ...Array.from({ length: BATCH_RECORDS }, () => [options.callShape('r', recordCall.keys.length, recordCall.args.length), ...recordCall.args]).flat(),
  ];
  const commands: Array<{ name: string; args: string[]; records?: number }> = [
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
    {
      name: `EVALSHA coalesced batch of ${BATCH_RECORDS} records`,
      // The coalesced script as the store sends it for 16 records issued in one turn.
      args: ['EVALSHA', batchSha, String(batchKeys.length), ...batchKeys, ...batchArgv],
      records: BATCH_RECORDS,
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
        commandLine: `redis-benchmark ${args.map((a) => (a === '' ? "''" : a)).join(' ')}`
          .replace(sha, '<sha1 of record script>')
          .replace(batchSha, '<sha1 of turApplyBatchV3>'),
        recordsPerRequest: command.records ?? 1,
      });
    }
  }
  await admin.flushall();
  return results;
}
