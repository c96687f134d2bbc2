/** Facts about the machine and the software under test, for the report. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, loadavg, release, totalmem } from 'node:os';
import type { Redis } from 'ioredis';

export interface MachineFacts {
  readonly date: string;
  readonly cpuModel: string;
  readonly cores: number;
  readonly ramGiB: number;
  readonly kernel: string;
  readonly loadAverage: string;
  readonly node: string;
  readonly redis: string;
  readonly ioredis: string;
  readonly rateLimiterFlexible: string;
  readonly gitCommit: string;
}

function packageVersion(name: string): string {
  try {
    const url = new URL(`../node_modules/${name}/package.json`, import.meta.url);
    return (JSON.parse(readFileSync(url, 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

function cpuModel(): string {
  try {
    const line = readFileSync('/proc/cpuinfo', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('model name'));
    if (line !== undefined) return line.split(':')[1]?.trim() ?? 'unknown';
  } catch {
    // not Linux
  }
  return cpus()[0]?.model ?? 'unknown';
}

function gitCommit(): string {
  try {
    const root = new URL('..', import.meta.url).pathname;
    const head = execFileSync('git', ['-C', root, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['-C', root, 'status', '--porcelain', '--', 'src'], { encoding: 'utf8' }).trim();
    return dirty === '' ? head : `${head} + uncommitted changes in src/`;
  } catch {
    return 'unknown';
  }
}

export async function machineFacts(admin: Redis): Promise<MachineFacts> {
  const info = (await admin.info('server')) as string;
  const redisVersion = /redis_version:(\S+)/.exec(info)?.[1] ?? 'unknown';
  return {
    date: new Date().toISOString(),
    cpuModel: cpuModel(),
    cores: cpus().length,
    ramGiB: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    kernel: release(),
    loadAverage: loadavg()
      .map((l) => l.toFixed(2))
      .join(' '),
    node: process.version,
    redis: redisVersion,
    ioredis: packageVersion('ioredis'),
    rateLimiterFlexible: packageVersion('rate-limiter-flexible'),
    gitCommit: gitCommit(),
  };
}
