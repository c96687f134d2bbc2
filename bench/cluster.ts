/**
 * `npx tsx bench/cluster.ts`: the facade's record on a 3-master Redis Cluster (3 redis-server processes
 * on 127.0.0.1, slots split in thirds, no persistence) against the same facade on one plain node, hash
 * tags on for both, closed loop at 64 and 1,024 in flight, rounds interleaved; stored == acknowledged
 * is checked after every cell. The library is imported from src/ through tsx for both rows alike.
 * Prints a markdown table (informational: the issue asks only to report the ratio).
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { Cluster, Redis } from 'ioredis';
import { RedisUsageStore } from '../src/adapters/redis/redis-usage-store.js';
import { createTokenUsageRepository } from '../src/index.js';
import { runClosedLoop } from './load.js';
import { freeLoopbackPort } from './redis-server.js';
import { median } from './stats.js';

const USERS = 10_000;
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? 3);
const CELL_MS = Number(process.env['BENCH_CELL_MS'] ?? 1_500);

async function startNode(cluster: boolean): Promise<{ port: number; child: ChildProcess }> {
  let port = await freeLoopbackPort();
  while (cluster && port > 55_000) port = await freeLoopbackPort(); // the cluster bus listens on port + 10000
  const dir = `/tmp/tur-bench-cluster-${port}`;
  const child = spawn('redis-server', [
    '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', '/tmp',
    ...(cluster ? ['--cluster-enabled', 'yes', '--cluster-config-file', `${dir}.conf`, '--cluster-announce-ip', '127.0.0.1'] : []),
  ], { stdio: ['ignore', 'pipe', 'ignore'] });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('Ready to accept connections')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`redis-server exited ${code}: ${out}`)));
  });
  child.stdout?.resume();
  return { port, child };
}

async function formCluster(ports: number[]): Promise<void> {
  const clients = ports.map((port) => new Redis({ host: '127.0.0.1', port }));
  const thirds = [[0, 5460], [5461, 10922], [10923, 16383]];
  await Promise.all(clients.map((c, i) => c.call('CLUSTER', 'ADDSLOTSRANGE', String(thirds[i]![0]), String(thirds[i]![1]))));
  for (const port of ports.slice(1)) await clients[0]!.call('CLUSTER', 'MEET', '127.0.0.1', String(port));
  for (let attempt = 0; attempt < 200; attempt += 1) {
    const states = await Promise.all(clients.map(async (c) => String(await c.call('CLUSTER', 'INFO'))));
    if (states.every((s) => s.includes('cluster_state:ok') && s.includes('cluster_known_nodes:3'))) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  for (const c of clients) c.disconnect();
}

type Target = { name: string; store: () => RedisUsageStore; stored: () => Promise<number> };

async function main(): Promise<void> {
  const nodes = await Promise.all([true, true, true].map((c) => startNode(c)));
  const single = await startNode(false);
  try {
    await formCluster(nodes.map((n) => n.port));
    const seeds = nodes.map((n) => ({ host: '127.0.0.1', port: n.port }));
    const cycle = `${new Date().toISOString().slice(0, 7)}-01`;
    const sum = async (get: (key: string) => Promise<string | null>): Promise<number> => {
      let total = 0;
      for (let from = 0; from < USERS; from += 500) {
        const values = await Promise.all(Array.from({ length: Math.min(500, USERS - from) }, (_, i) => get(`token_usage:{u${from + i}}:${cycle}`)));
        for (const v of values) total += Number(v ?? 0);
      }
      return total / 150;
    };
    const admin = new Cluster(seeds);
    const plainAdmin = new Redis({ host: '127.0.0.1', port: single.port });
    const targets: Target[] = [
      {
        name: '3-master Cluster',
        store: () => new RedisUsageStore({ clients: [new Cluster(seeds, { redisOptions: { commandTimeout: 3_000 } })], ownsClients: true, prefix: 'token_usage', hashTags: true }),
        stored: () => sum((key) => admin.hget(key, 'total_tokens')),
      },
      {
        name: 'one node',
        store: () => new RedisUsageStore({ clients: [new Redis({ host: '127.0.0.1', port: single.port, commandTimeout: 3_000 })], ownsClients: true, prefix: 'token_usage', hashTags: true }),
        stored: () => sum((key) => plainAdmin.hget(key, 'total_tokens')),
      },
    ];
    const results = new Map<string, number[]>();
    for (let round = 1; round <= ROUNDS; round += 1) {
      for (const concurrency of [64, 1024]) {
        for (const target of round % 2 === 1 ? targets : [...targets].reverse()) {
          await Promise.all(nodes.map(async (n) => { const c = new Redis({ host: '127.0.0.1', port: n.port }); await c.flushall(); c.disconnect(); }));
          await plainAdmin.flushall();
          const repo = createTokenUsageRepository({ config: { logLevel: 'silent' }, store: target.store() });
          const op = (i: number): Promise<unknown> => repo.incrementDetailedUsage(`u${i % USERS}`, 100, 50);
          const warm = await runClosedLoop(op, { concurrency, durationMs: 300 });
          const run = await runClosedLoop(op, { concurrency, durationMs: CELL_MS, firstOp: warm.ops });
          await repo.close();
          const acknowledged = warm.ops - warm.errors + run.ops - run.errors;
          const lost = acknowledged - (await target.stored());
          const opsPerSec = (run.ops / run.elapsedMs) * 1000;
          const key = `${target.name}@${concurrency}`;
          results.set(key, [...(results.get(key) ?? []), opsPerSec]);
          process.stdout.write(`r${round} ${target.name.padEnd(17)} ${String(concurrency).padStart(5)} ${Math.round(opsPerSec).toLocaleString('en-US').padStart(8)} ops/s errors ${run.errors + warm.errors} lost ${lost}\n`);
        }
      }
    }
    process.stdout.write('\n| in flight | 3-master Cluster ops/s | one node ops/s | Cluster / one node (median of per-round ratios) |\n| ---: | ---: | ---: | ---: |\n');
    for (const concurrency of [64, 1024]) {
      const c = results.get(`3-master Cluster@${concurrency}`) ?? [];
      const s = results.get(`one node@${concurrency}`) ?? [];
      const ratios = c.map((v, i) => v / (s[i] ?? Number.NaN));
      process.stdout.write(`| ${concurrency.toLocaleString('en-US')} | ${Math.round(median(c)).toLocaleString('en-US')} | ${Math.round(median(s)).toLocaleString('en-US')} | ${median(ratios).toFixed(2)}x (${ratios.map((r) => r.toFixed(2)).join(', ')}) |\n`);
    }
    admin.disconnect();
    plainAdmin.disconnect();
  } finally {
    for (const n of [...nodes, single]) n.child.kill('SIGTERM');
    for (const n of nodes) rmSync(`/tmp/tur-bench-cluster-${n.port}.conf`, { force: true });
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${String(error instanceof Error ? error.stack : error)}\n`);
    process.exit(1);
  },
);
