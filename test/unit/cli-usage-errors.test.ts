import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { runCli } from '../../src/cli/program.js';

class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer, _encoding: string, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

/** Runs the CLI in-process; these arguments fail to parse, so nothing connects (the URL is never dialled). */
async function cli(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const [stdout, stderr] = [new Capture(), new Capture()];
  const code = await runCli(argv, { stdout, stderr, env: { REDIS_URL: 'redis://127.0.0.1:1' } });
  return { code, stdout: stdout.text, stderr: stderr.text };
}

describe('CLI parse errors', () => {
  it.each([
    [['--json', 'stats', 'u1', '--bogus'], 'commander.unknownOption', "unknown option '--bogus'"],
    [['--json', 'frobnicate'], 'commander.unknownCommand', "unknown command 'frobnicate'"],
    [['--json', 'limit', 'set', 'u1'], 'commander.missingArgument', "missing required argument 'tokens'"],
  ])('are one JSON object on stderr under --json (%j), exit 2', async (argv, code, message) => {
    const result = await cli(...argv);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(JSON.parse(result.stderr)).toEqual({ error: { code, message } });
  });

  it('stay commander text with a pointer to --help without --json', async () => {
    const result = await cli('stats', 'u1', '--bogus');
    expect(result.code).toBe(2);
    expect(result.stderr).toBe("error: unknown option '--bogus'\n(run with --help for usage)\n");
  });
});
