import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { freeLoopbackPort } from './free-port.js';

/** A `token-usage-server` child process on a free loopback port. */
export interface ServerProcess {
  readonly child: ChildProcess;
  readonly url: string;
  /** Every stdout line so far (pino JSON). */
  readonly lines: string[];
  /** Resolves with the exit code (or the signal name). */
  readonly exited: Promise<number | string>;
}

const MAIN = resolve(import.meta.dirname, '../../src/service/main.ts');

/** Spawns the server from source (through tsx) and waits for its "listening" line. */
export async function spawnServer(env: Record<string, string>): Promise<ServerProcess> {
  const port = await freeLoopbackPort();
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN], {
    env: { PATH: process.env['PATH'] ?? '', TOKEN_USAGE_HOST: '127.0.0.1', TOKEN_USAGE_PORT: String(port), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let stderr = '';
  const exited = new Promise<number | string>((done) => child.once('exit', (code, signal) => done(code ?? signal ?? 'unknown')));
  const listening = new Promise<void>((ready, fail) => {
    let buffered = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('utf8');
      const parts = buffered.split('\n');
      buffered = parts.pop() ?? '';
      for (const line of parts) {
        lines.push(line);
        if (line.includes('Server listening at')) ready();
      }
    });
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    void exited.then((code) => fail(new Error(`server exited (${code}) before listening: ${stderr}${lines.join('\n')}`)));
  });
  await listening;
  return { child, url: `http://127.0.0.1:${port}`, lines, exited };
}
