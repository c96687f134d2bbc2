import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');
const tsx = resolve(root, 'node_modules/tsx/dist/cli.mjs');

/** Runs a script as `npm run` would, on the in-memory store (no REDIS_URL). */
function runScript(path: string): string {
  const env = { ...process.env };
  delete env['REDIS_URL'];
  delete env['TOKEN_STATS_STORE'];
  return execFileSync(process.execPath, [tsx, path], { cwd: root, env, encoding: 'utf8' });
}

describe('the README commands and examples keep working', () => {
  it('npm run demo records and checks usage on the in-memory store', () => {
    const output = runScript('scripts/demo.ts');
    expect(output).toContain('store: memory');
    expect(output).toMatch(/demo-alice\s+\d+\s+\d+\s+\d+\s+1000/);
    expect(output).toContain('bad input is refused and writes nothing: USAGE.INVALID_TOKEN_COUNT');
  }, 60_000);

  it('npm run example:quota admits calls until the quota is spent, then refuses', () => {
    const output = runScript('scripts/quota-example.ts');
    expect(output).toContain('call 4: ok');
    expect(output).toContain('call 5: refused, 200 of 1000 tokens left (800 used)');
    expect(output).toContain("check: { exceeded: false, currentUsage: 890, limit: 1000, remaining: 110 }");
  }, 60_000);
});
