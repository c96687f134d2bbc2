import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { csvRecord, table } from '../../src/cli/format.js';
import { scanProgress } from '../../src/cli/progress.js';

class Capture extends Writable {
  text = '';
  constructor(readonly isTTY: boolean) {
    super();
  }
  override _write(chunk: Buffer, _encoding: string, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
  // cli-progress asks a TTY for its size and moves the cursor.
  columns = 120;
  cursorTo(): boolean {
    return true;
  }
  clearLine(): boolean {
    return true;
  }
  moveCursor(): boolean {
    return true;
  }
}

describe('CLI output', () => {
  it('quotes CSV fields per RFC 4180 and ends records with CRLF', () => {
    expect(csvRecord(['plain', 'with,comma', 'with "quote"', 'line\nbreak', 42])).toBe(
      'plain,"with,comma","with ""quote""","line\nbreak",42\r\n',
    );
  });

  it('right-aligns numeric columns', () => {
    expect(table(['user', 'total'], [['a', 5], ['bb', 1_234]])).toBe('user  total\na         5\nbb    1,234');
  });

  it('draws scan progress on a TTY only, and nothing when disabled or piped', () => {
    const tty = new Capture(true);
    const progress = scanProgress(tty, true, 'verify');
    progress.update(1_500, '2 findings');
    progress.stop();
    expect(tty.text).toContain('verify 1500 hashes scanned | 2 findings');
    for (const [stream, enabled] of [[new Capture(false), true], [new Capture(true), false]] as const) {
      const silent = scanProgress(stream, enabled, 'verify');
      silent.update(10, 'x');
      silent.stop();
      expect(stream.text).toBe('');
    }
  });
});
