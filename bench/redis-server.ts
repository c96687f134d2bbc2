/**
 * Starts a throw-away redis-server for the benchmark, the same way the tests fall back to it
 * (test/setup/redis.global.ts): the `redis-server` binary on PATH (or $REDIS_SERVER_BIN), on a free
 * 127.0.0.1 port, no persistence (`--save '' --appendonly no`). Stopped by PID.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freeLoopbackPort } from '../test/support/free-port.js';
export { freeLoopbackPort };

export const LOOPBACK = '127.0.0.1';
const READY_LINE = 'Ready to accept connections';

export interface BenchRedis {
  readonly port: number;
  readonly pid: number;
  readonly url: string;
  readonly binary: string;
  stop(): Promise<void>;
}


function waitReady(child: ChildProcess, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let output = '';
    const timer = setTimeout(() => done(new Error(`redis-server not ready within ${timeoutMs} ms:\n${output}`)), timeoutMs);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      if (output.includes(READY_LINE)) done();
    };
    const onExit = (code: number | null): void => done(new Error(`redis-server exited (${code}):\n${output}`));
    function done(error?: Error): void {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.off('exit', onExit);
      // Keep draining so redis never blocks on a full pipe.
      child.stdout?.resume();
      child.stderr?.resume();
      if (error) reject(error);
      else resolve();
    }
    child.stdout?.on('data', onData);
    child.once('exit', onExit);
  });
}

/** Spawns redis-server on a free loopback port; retries a few ports if one is taken meanwhile. */
export async function startRedis(): Promise<BenchRedis> {
  const binary = process.env['REDIS_SERVER_BIN'] || 'redis-server';
  let lastError: unknown;
  for (let attempt = 1; attempt <= 3; attempt++) {
    const port = await freeLoopbackPort();
    const dir = mkdtempSync(join(tmpdir(), 'tur-bench-redis-'));
    const child = spawn(
      binary,
      ['--port', String(port), '--bind', LOOPBACK, '--save', '', '--appendonly', 'no', '--dir', dir, '--daemonize', 'no'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    try {
      await waitReady(child, 15_000);
    } catch (error) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
      lastError = error;
      continue;
    }
    const pid = child.pid as number;
    const killOnExit = (): void => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    };
    process.once('exit', killOnExit);
    return {
      port,
      pid,
      url: `redis://${LOOPBACK}:${port}`,
      binary,
      stop: async () => {
        process.off('exit', killOnExit);
        if (child.exitCode === null && child.signalCode === null) {
          const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
          child.kill('SIGTERM');
          const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
          await exited;
          clearTimeout(timer);
        }
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  throw new Error(`could not start ${binary}: ${String(lastError)}`);
}
