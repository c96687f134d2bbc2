/// <reference path="../support/provided-context.d.ts" />
/**
 * vitest globalSetup: provides a real Redis to the `*.redis.test.ts` suites.
 *
 * Order of preference:
 *   1. testcontainers — if a container runtime is reachable, run
 *      `$REDIS_TEST_IMAGE` (default `redis:7-alpine`) with host networking on a
 *      free 127.0.0.1 port.
 *   2. a `redis-server` binary on PATH, spawned on a free 127.0.0.1 port.
 *   3. nothing — print a loud warning that the real-Redis suites are SKIPPED,
 *      or throw (failing the run) when REQUIRE_REDIS=1.
 *
 * Tests read the result with `inject('redisUrl')` etc. (see test/support/redis.ts). It also starts
 * one 6-node Redis Cluster (test/support/redis-cluster.ts), `inject('redisClusterNodes')`.
 *
 * Servers only ever listen on 127.0.0.1; no Docker bridge network is used.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { freeLoopbackPort } from '../support/free-port.js';
import { RedisClusterKit } from '../support/redis-cluster.js';

type RedisSource = 'testcontainers' | 'redis-server-binary' | 'none';

interface StartedRedis {
  source: Exclude<RedisSource, 'none'>;
  url: string;
  containerId: string;
  description: string;
  stop: () => Promise<void>;
}

const READY_LINE = 'Ready to accept connections';
const LOOPBACK = '127.0.0.1';
const STARTUP_TIMEOUT_MS = 30_000;
const PORT_ATTEMPTS = 3;

function log(message: string): void {
  process.stderr.write(`[redis] ${message}\n`);
}

function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message.split('\n')[0] ?? error.message;
  return String(error);
}


function redisArgs(port: number): string[] {
  return ['--port', String(port), '--bind', LOOPBACK, '--save', '', '--appendonly', 'no'];
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string, onLate: (value: T) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(() => {
      settled = true;
      reject(new Error(`${what} timed out after ${ms} ms`));
    }, ms);
    promise.then(
      (value) => {
        clearTimeout(timer);
        if (settled) onLate(value);
        else resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        if (!settled) reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}

// ---------------------------------------------------------------------------
// 1. testcontainers
// ---------------------------------------------------------------------------

async function startWithTestcontainers(): Promise<StartedRedis> {
  // Host networking on loopback only, and no Ryuk sidecar (it would need a
  // pullable image and a bridge network). Must be set before testcontainers
  // creates its runtime client.
  process.env['TESTCONTAINERS_HOST_OVERRIDE'] ??= LOOPBACK;
  process.env['TESTCONTAINERS_RYUK_DISABLED'] ??= 'true';

  const { GenericContainer, Wait, getContainerRuntimeClient } = await import('testcontainers');

  let runtime: string;
  try {
    const client = await getContainerRuntimeClient();
    const info = client.info.containerRuntime;
    runtime = `${info.remoteSocketPath || info.host}, engine ${info.serverVersion}`;
  } catch (error) {
    throw new Error(`no container runtime reachable: ${errorMessage(error)}`);
  }

  const image = process.env['REDIS_TEST_IMAGE'] || 'redis:7-alpine';
  const overallTimeoutMs = Number(process.env['REDIS_TESTCONTAINERS_TIMEOUT_MS'] ?? 120_000);
  let lastError: unknown;

  for (let attempt = 1; attempt <= PORT_ATTEMPTS; attempt++) {
    const port = await freeLoopbackPort();
    const starting = new GenericContainer(image)
      .withNetworkMode('host')
      .withCommand(['redis-server', ...redisArgs(port)])
      .withWaitStrategy(Wait.forLogMessage(READY_LINE))
      .withStartupTimeout(STARTUP_TIMEOUT_MS)
      .withLabels({ 'token-usage.test': 'redis-global-setup' })
      .start();
    try {
      // Pulling (when the image is missing) is not covered by the startup
      // timeout, so cap the whole thing; a container that comes up late is stopped.
      const container = await withTimeout(starting, overallTimeoutMs, `starting ${image}`, (late) => {
        void late.stop().catch(() => undefined);
      });
      const url = `redis://${LOOPBACK}:${port}`;
      return {
        source: 'testcontainers',
        url,
        containerId: container.getId(),
        description: `testcontainers image ${image} on ${url} (container ${container.getId().slice(0, 12)}, runtime ${runtime})`,
        stop: async () => {
          await container.stop();
        },
      };
    } catch (error) {
      lastError = error;
      // Port grabbed by someone else between probe and bind -> retry; anything
      // else (image missing and not pullable, etc.) -> give up on containers.
      if (!/address already in use|bind/i.test(String(error))) break;
    }
  }
  throw new Error(`testcontainers could not start ${image}: ${errorMessage(lastError)}`);
}

// ---------------------------------------------------------------------------
// 2. redis-server binary on PATH
// ---------------------------------------------------------------------------

function spawnRedisServer(port: number, dataDir: string): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const binary = process.env['REDIS_SERVER_BIN'] || 'redis-server';
    const child = spawn(binary, [...redisArgs(port), '--dir', dataDir, '--daemonize', 'no'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    let done = false;
    const finish = (error?: Error): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.stderr?.off('data', onData);
      if (error) {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
        reject(error);
      } else {
        // Keep draining the pipes so redis never blocks on a full pipe.
        child.stdout?.resume();
        child.stderr?.resume();
        resolve(child);
      }
    };
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      if (output.includes(READY_LINE)) finish();
    };
    const timer = setTimeout(
      () => finish(new Error(`${binary} did not log "${READY_LINE}" within ${STARTUP_TIMEOUT_MS} ms`)),
      STARTUP_TIMEOUT_MS,
    );
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('error', (error) => finish(new Error(`cannot run ${binary}: ${error.message}`)));
    child.once('exit', (code, signal) => {
      const tail = output.trim().split('\n').slice(-3).join(' | ');
      finish(new Error(`${binary} exited early (code ${code}, signal ${signal}): ${tail}`));
    });
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolve();
      return;
    }
    const killTimer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    child.once('exit', () => {
      clearTimeout(killTimer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

async function startRedisServerBinary(): Promise<StartedRedis> {
  let lastError: unknown;
  for (let attempt = 1; attempt <= PORT_ATTEMPTS; attempt++) {
    const port = await freeLoopbackPort();
    const dataDir = mkdtempSync(join(tmpdir(), 'token-usage-redis-'));
    try {
      const child = await spawnRedisServer(port, dataDir);
      // If vitest dies without running teardown, do not leave redis behind.
      const onExit = (): void => {
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      };
      process.once('exit', onExit);
      const url = `redis://${LOOPBACK}:${port}`;
      return {
        source: 'redis-server-binary',
        url,
        containerId: '',
        description: `redis-server binary (PID ${child.pid}) on ${url}`,
        stop: async () => {
          process.off('exit', onExit);
          await stopChild(child);
          rmSync(dataDir, { recursive: true, force: true });
        },
      };
    } catch (error) {
      rmSync(dataDir, { recursive: true, force: true });
      lastError = error;
      if (!/address already in use/i.test(String(error))) break;
    }
  }
  throw new Error(`redis-server binary fallback failed: ${errorMessage(lastError)}`);
}

// ---------------------------------------------------------------------------
// globalSetup entry point
// ---------------------------------------------------------------------------

/**
 * The shared 3-master + 3-replica Redis Cluster of the `*.redis.test.ts` cluster suites (from the
 * redis-server binary); provides its seed nodes as `host:port` strings, or [] when it cannot start
 * (which fails the run under REQUIRE_REDIS=1). Returns its teardown.
 */
async function setupCluster(project: TestProject): Promise<() => Promise<void>> {
  try {
    const kit = await RedisClusterKit.start();
    const seeds = kit.seeds.map(({ host, port }) => `${host}:${port}`);
    log(`using a Redis Cluster of 3 masters + 3 replicas (redis-server binary) on ${seeds.join(', ')}`);
    project.provide('redisClusterNodes', seeds);
    return async () => {
      await kit.stop();
      log('stopped the Redis Cluster');
    };
  } catch (error) {
    if (process.env['REQUIRE_REDIS'] === '1') {
      throw new Error(`REQUIRE_REDIS=1 but the Redis Cluster could not be started: ${errorMessage(error)}`);
    }
    process.stderr.write(`[redis] NO REDIS CLUSTER -- the cluster suites will be SKIPPED: ${errorMessage(error)}\n`);
    project.provide('redisClusterNodes', []);
    return async () => {};
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  // The cluster starts while the single Redis does; both are up before any test runs.
  const clusterStarting = setupCluster(project);
  clusterStarting.catch(() => undefined);
  const reasons: string[] = [];
  let started: StartedRedis | undefined;

  for (const attempt of [startWithTestcontainers, startRedisServerBinary]) {
    try {
      started = await attempt();
      break;
    } catch (error) {
      reasons.push(errorMessage(error));
    }
  }

  let stopCluster: () => Promise<void>;
  try {
    stopCluster = await clusterStarting;
  } catch (error) {
    await started?.stop();
    throw error;
  }

  if (started === undefined) {
    const required = process.env['REQUIRE_REDIS'] === '1';
    const banner = '!'.repeat(78);
    const lines = [
      '',
      banner,
      required
        ? '!!  NO REAL REDIS AVAILABLE and REQUIRE_REDIS=1 -- failing the test run.'
        : '!!  NO REAL REDIS AVAILABLE -- the real-Redis suites (*.redis.test.ts) will be SKIPPED.',
      '!!  Reasons:',
      ...reasons.map((reason) => `!!    - ${reason}`),
      '!!  Fix: start Docker (scripts/start-docker.sh) and build/pull the image',
      '!!       (scripts/redis-image.sh, REDIS_TEST_IMAGE=token-usage-redis:local),',
      '!!       or install redis-server (apt-get install redis-server).',
      '!!  Set REQUIRE_REDIS=1 to make this a hard failure (CI does).',
      banner,
      '',
    ];
    process.stderr.write(`${lines.join('\n')}\n`);
    if (required) {
      await stopCluster();
      throw new Error(`REQUIRE_REDIS=1 but no real Redis could be started:\n  - ${reasons.join('\n  - ')}`);
    }
    project.provide('redisUrl', '');
    project.provide('redisSource', 'none' satisfies RedisSource);
    project.provide('redisContainerId', '');
    return stopCluster;
  }

  if (reasons.length > 0) log(`not using testcontainers: ${reasons.join('; ')}`);
  log(`using ${started.description}`);
  project.provide('redisUrl', started.url);
  project.provide('redisSource', started.source);
  project.provide('redisContainerId', started.containerId);

  const running = started;
  return async () => {
    await stopCluster();
    try {
      await running.stop();
      log(`stopped ${running.source} Redis on ${running.url}`);
    } catch (error) {
      log(`failed to stop ${running.source} Redis on ${running.url}: ${errorMessage(error)}`);
    }
  };
}
