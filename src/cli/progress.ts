import cliProgress from 'cli-progress';
import type { Writable } from 'node:stream';

/** A progress display over SCAN pages: a count, since SCAN does not know the total in advance. */
export interface ScanProgress {
  update(scanned: number, detail: string): void;
  stop(): void;
}

/**
 * A cli-progress bar on `stream` (stderr) when it is a TTY and `enabled`; otherwise nothing at all, so
 * piped or captured output stays clean.
 */
export function scanProgress(stream: Writable & { isTTY?: boolean }, enabled: boolean, task: string): ScanProgress {
  if (!enabled || stream.isTTY !== true) return { update: () => undefined, stop: () => undefined };
  const bar = new cliProgress.SingleBar(
    { format: `${task} {value} hashes scanned | {detail}`, stream, hideCursor: true, clearOnComplete: false, fps: 10 },
    cliProgress.Presets.shades_classic,
  );
  // The total is unknown (SCAN pages); the format shows the count, never a percentage.
  bar.start(0, 0, { detail: '' });
  return {
    update: (scanned, detail) => {
      bar.setTotal(scanned);
      bar.update(scanned, { detail });
    },
    stop: () => bar.stop(),
  };
}
