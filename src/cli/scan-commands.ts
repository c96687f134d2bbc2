import type { Command } from 'commander';
import { EXIT, UsageArgumentError } from './exit-codes.js';
import { csvRecord, limitText, table } from './format.js';
import { scanProgress } from './progress.js';
import { positiveInteger } from './usage-commands.js';
import type { Runner } from './usage-commands.js';

interface ScanOptions {
  readonly cycle?: string;
  readonly batchSize?: string;
  readonly progress: boolean;
}

const CSV_HEADER = ['user_id', 'cycle_start_date', 'prompt_tokens', 'completion_tokens', 'total_tokens'];

/** The commands that walk a whole cycle by SCAN pages (never KEYS): top, export, verify, sweep-alerts. */
export function addScanCommands(program: Command, run: Runner): void {
  const batch = (options: ScanOptions): number | undefined =>
    options.batchSize === undefined ? undefined : positiveInteger(options.batchSize, '--batch-size');

  program
    .command('top')
    .description('the users with the most total tokens in a cycle')
    .option('-c, --cycle <date>', 'cycle start YYYY-MM-DD (default: the current cycle)')
    .option('-n, --count <n>', 'how many users (1-1000)', '10')
    .option('--by <total|limit>', 'most tokens, or nearest their limit', 'total')
    .option('--batch-size <n>', 'hashes per SCAN page (default 500)')
    .option('--no-progress', 'no progress display on stderr')
    .action(
      run(async (ctx, options: ScanOptions & { count: string; by: string }) => {
        const n = positiveInteger(options.count, '--count');
        const progress = scanProgress(ctx.io.stderr, options.progress && !ctx.json, 'top');
        const batchSize = batch(options);
        const report = await ctx
          .repo()
          .top(options.cycle, n, { by: options.by as 'total', ...(batchSize === undefined ? {} : { batchSize }), onPage: (scanned) => progress.update(scanned, '') })
          .finally(() => progress.stop());
        if (ctx.json) return ctx.printJson(report);
        ctx.line(`cycle ${report.cycleStartDate}: ${report.scanned.toLocaleString('en-US')} users scanned${report.skipped > 0 ? `, ${report.skipped} corrupt skipped` : ''}`);
        const used = (fraction: number | null): string => (fraction === null ? '-' : `${(fraction * 100).toFixed(1)}%`);
        ctx.line(
          table(
            ['#', 'user', 'prompt', 'completion', 'total', 'limit', 'used'],
            report.users.map((u, i) => [i + 1, u.userId, u.promptTokens, u.completionTokens, u.totalTokens, limitText(u.limit), used(u.usedFraction)]),
          ),
        );
      }),
    );

  program
    .command('export')
    .description("every user's counters for a cycle, streamed page by page to stdout")
    .option('-c, --cycle <date>', 'cycle start YYYY-MM-DD (default: the current cycle)')
    .option('-f, --format <csv|json>', 'csv (RFC 4180) or json (an array)', 'csv')
    .option('--batch-size <n>', 'hashes per SCAN page (default 500)')
    .option('--no-progress', 'no progress display on stderr')
    .action(
      run(async (ctx, options: ScanOptions & { format: string }) => {
        if (options.format !== 'csv' && options.format !== 'json') {
          throw new UsageArgumentError(`--format must be csv or json, got ${JSON.stringify(options.format)}`);
        }
        const batchSize = batch(options);
        const scan = ctx.repo().usagePages(options.cycle, batchSize === undefined ? {} : { batchSize });
        const progress = scanProgress(ctx.io.stderr, options.progress, 'export');
        let rows = 0;
        try {
          await ctx.write(options.format === 'csv' ? csvRecord(CSV_HEADER) : '[');
          for await (const page of scan.pages) {
            let chunk = '';
            for (const row of page) {
              chunk +=
                options.format === 'csv'
                  ? csvRecord([row.userId, row.cycleStartDate, row.promptTokens, row.completionTokens, row.totalTokens])
                  : `${rows === 0 ? '\n' : ',\n'}${JSON.stringify(row)}`;
              rows += 1;
            }
            if (chunk !== '') await ctx.write(chunk);
            progress.update(scan.scanned, `${rows} exported`);
          }
          if (options.format === 'json') await ctx.write(rows === 0 ? ']\n' : '\n]\n');
        } finally {
          progress.stop();
        }
        // The data owns stdout; the summary goes to stderr.
        const summary = { exported: rows, cycleStartDate: scan.cycleStartDate, scanned: scan.scanned, skipped: scan.skipped };
        ctx.io.stderr.write(
          ctx.json
            ? `${JSON.stringify(summary)}\n`
            : `exported ${rows} users of cycle ${scan.cycleStartDate} (${scan.scanned} scanned, ${scan.skipped} corrupt skipped)\n`,
        );
      }),
    );

  program
    .command('verify')
    .description('check stored counters for broken invariants (dry run); --repair fixes them; exit 1 when findings remain')
    .option('-c, --cycle <date>', 'cycle start YYYY-MM-DD (default: the current cycle)')
    .option('--all-cycles', 'every cycle, not one')
    .option('-u, --user <user>', 'one user only')
    .option('--repair', 'repair what can be repaired (compare-and-set)')
    .option('--batch-size <n>', 'hashes per SCAN page (default 500)')
    .option('--no-progress', 'no progress display on stderr')
    .action(
      run(async (ctx, options: ScanOptions & { allCycles?: boolean; user?: string; repair?: boolean }) => {
        if (options.allCycles === true && (options.cycle !== undefined || options.user !== undefined)) {
          throw new UsageArgumentError('--all-cycles scans every cycle of every user: drop --cycle and --user');
        }
        const batchSize = batch(options);
        const progress = scanProgress(ctx.io.stderr, options.progress && !ctx.json, options.repair === true ? 'repair' : 'verify');
        const report = await ctx
          .repo()
          .verifyConsistency({
            ...(options.user === undefined ? {} : { userId: options.user }),
            ...(options.cycle === undefined ? {} : { cycleStartDate: options.cycle }),
            ...(options.allCycles === true ? { allCycles: true } : {}),
            ...(batchSize === undefined ? {} : { batchSize }),
            repair: options.repair === true,
            onProgress: (p) => progress.update(p.scanned, `${p.findings} findings, ${p.repaired} repaired, ${p.skipped} skipped`),
          })
          .finally(() => progress.stop());
        const left = report.mode === 'repair' ? report.counts.skipped : report.counts.findings;
        if (ctx.json) ctx.printJson(report);
        else {
          ctx.line(`${report.mode}: ${report.scanned} scanned, ${report.counts.findings} findings, ${report.counts.repaired} repaired, ${report.counts.skipped} left as they are`);
          for (const finding of report.findings) ctx.line(`  ${JSON.stringify(finding)}`);
          if (report.truncated) ctx.line('  (list truncated)');
        }
        return left > 0 ? EXIT.negative : EXIT.ok;
      }),
    );

  program
    .command('sweep-alerts')
    .description("check every user's alert thresholds for a cycle and deliver the alerts crossed (log, webhook)")
    .option('-c, --cycle <date>', 'cycle start YYYY-MM-DD (default: the current cycle)')
    .option('--batch-size <n>', 'hashes per SCAN page (default 500)')
    .option('--no-progress', 'no progress display on stderr')
    .action(
      run(async (ctx, options: ScanOptions) => {
        const batchSize = batch(options);
        const progress = scanProgress(ctx.io.stderr, options.progress && !ctx.json, 'sweep');
        const repo = ctx.repo({ forceAlerts: true });
        const report = await repo
          .sweepAlerts(options.cycle, {
            ...(batchSize === undefined ? {} : { batchSize }),
            onProgress: (p) => progress.update(p.scanned, `${p.alerts} alerts`),
          })
          .finally(() => progress.stop());
        await repo.alertsIdle();
        if (ctx.json) return ctx.printJson(report);
        ctx.line(`cycle ${report.cycleStartDate}: ${report.scanned} scanned, ${report.alerts.length} alerts`);
        for (const alert of report.alerts) ctx.line(`  ${JSON.stringify(alert)}`);
      }),
    );
}
